// A test fixture with a real server on 127.0.0.1 (ephemeral port) over the
// fixture's engine, an admin token, and a remote Api connected to it.
#pragma once

#include <grpcpp/grpcpp.h>

#include <regex>

#include "aifs/auth/macaroon.h"
#include "aifs/auth/token_verifier.h"
#include "aifs/client/bearer_token.h"
#include "aifs/client/remote_api.h"
#include "aifs/server/server.h"
#include "aifs/v1/aifs.grpc.pb.h"
#include "test_util.h"

namespace aifs::test {

class ServerTest : public EngineFixture {
 protected:
  void SetUp() override { InitStore(); }
  void TearDown() override {
    remote_.reset();
    if (server_) server_->Shutdown(std::chrono::milliseconds(100));
  }

  void StartServer(server::ServerOptions options = {}) {
    options.listen = "127.0.0.1:0";
    // Every call carries a token: the fixture holds the engine's verifier
    // (as `aifs serve` does) and an admin token (no caveats), as `aifs init`
    // makes them.
    tokens_ = &engine().tokens();
    keys_ = &tokens_->keys();
    if (keys_->List()->empty()) {
      AIFS_ASSERT_OK(keys_->Rotate().status());
    }
    auto admin = tokens_->Mint({});
    ASSERT_TRUE(admin.ok()) << admin.status().ToString();
    token_ = *admin;
    auto s = server::Server::Start(engine(), options);
    ASSERT_TRUE(s.ok()) << s.status().ToString();
    server_ = std::move(*s);
    target_ = "127.0.0.1:" + std::to_string(server_->port());
    remote_ = Connect();
  }
  // "r1:<token ID>" of the admin token: how audit records name its holder.
  std::string TokenName() const {
    auto id = auth::ParseTokenIdentifier(auth::Macaroon::Parse(token_)->identifier());
    return id->key_id + ":" + id->token_id;
  }
  std::unique_ptr<Api> Connect(bool zstd = true) {
    auto r = ConnectRemote({.target = target_,
                            .zstd = zstd ? RemoteOptions::Zstd::kOn : RemoteOptions::Zstd::kOff,
                            .token = token_});
    EXPECT_TRUE(r.ok()) << r.status().ToString();
    return r.ok() ? std::move(*r) : nullptr;
  }
  // A plaintext channel whose calls carry `token` (the admin token by default).
  std::shared_ptr<grpc::Channel> Channel(std::optional<std::string> token = std::nullopt) {
    std::vector<std::unique_ptr<grpc::experimental::ClientInterceptorFactoryInterface>> bearer;
    const std::string t = token.value_or(token_);
    if (!t.empty()) bearer.push_back(NewBearerTokenInterceptor(t));
    return grpc::experimental::CreateCustomChannelWithInterceptors(
        target_, grpc::InsecureChannelCredentials(), grpc::ChannelArguments(), std::move(bearer));
  }
  std::unique_ptr<v1::Aifs::Stub> RawStub() { return v1::Aifs::NewStub(Channel()); }
  std::string MetricsText() {
    auto stub = v1::Metrics::NewStub(Channel());
    grpc::ClientContext ctx;
    v1::MetricsResponse resp;
    EXPECT_TRUE(stub->GetMetrics(&ctx, v1::Empty(), &resp).ok());
    return resp.text();
  }
  // Sum of a Prometheus counter/gauge line (exact series name + labels).
  static double Metric(const std::string& text, const std::string& series) {
    std::regex line("^" + std::regex_replace(series, std::regex(R"([{}\\".+])"), R"(\$&)") +
                        R"( ([0-9.e+-]+)$)",
                    std::regex::multiline);
    std::smatch m;
    return std::regex_search(text, m, line) ? std::stod(m[1]) : -1;
  }

  auth::RootKeyStore* keys_ = nullptr;
  auth::TokenVerifier* tokens_ = nullptr;
  std::string token_;
  std::unique_ptr<server::Server> server_;
  std::string target_;
  std::unique_ptr<Api> remote_;
};

}  // namespace aifs::test
