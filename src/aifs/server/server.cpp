#include "aifs/server/server.h"

#include <grpcpp/grpcpp.h>
#include <grpcpp/health_check_service_interface.h>

#include <condition_variable>
#include <thread>

#include "aifs/core/file_util.h"
#include "aifs/rpc/frames.h"
#include "aifs/server/services.h"

namespace aifs::server {

namespace {

Result<std::string> ReadPem(const std::string& path) {
  auto bytes = ReadFileToString(path);
  if (!bytes.ok())
    return err::InvalidArgument("BAD_TLS_FILES", "cannot read " + path + ": " +
                                                     bytes.status().message());
  return *bytes;
}

Result<std::shared_ptr<grpc::ServerCredentials>> Credentials(const ServerOptions& o) {
  if (o.tls_cert_file.empty() != o.tls_key_file.empty())
    return err::InvalidArgument("BAD_TLS_FILES", "--tls-cert and --tls-key go together");
  if (o.tls_cert_file.empty()) {
    if (!o.tls_client_ca_file.empty())
      return err::InvalidArgument("BAD_TLS_FILES", "a client CA needs --tls-cert and --tls-key");
    return grpc::InsecureServerCredentials();
  }
  grpc::SslServerCredentialsOptions ssl;
  AIFS_ASSIGN_OR_RETURN(std::string cert, ReadPem(o.tls_cert_file));
  AIFS_ASSIGN_OR_RETURN(std::string key, ReadPem(o.tls_key_file));
  ssl.pem_key_cert_pairs.push_back({key, cert});
  if (!o.tls_client_ca_file.empty()) {
    AIFS_ASSIGN_OR_RETURN(ssl.pem_root_certs, ReadPem(o.tls_client_ca_file));
    ssl.client_certificate_request = GRPC_SSL_REQUEST_AND_REQUIRE_CLIENT_CERTIFICATE_AND_VERIFY;
  }
  return grpc::SslServerCredentials(ssl);
}

class GrpcServer final : public Server {
 public:
  GrpcServer(Api& api, const ServerOptions& options)
      : options_(options),
        transactions_(options.transaction_lease),
        ctx_{api, metrics_, transactions_, !options.tls_cert_file.empty()},
        search_limiter_(options.search_limit),
        authz_(options.tokens ? std::make_unique<RpcAuthorizer>(*options.tokens, transactions_)
                              : nullptr),
        aifs_(NewAifsService(ctx_)),
        admin_(NewAdminService(ctx_)),
        introspect_(NewIntrospectService(ctx_)),
        metrics_service_(NewMetricsService(ctx_)) {}

  ~GrpcServer() override { Shutdown(std::chrono::milliseconds(0)); }

  Status Start() {
    if (!authz_)
      return err::FailedPrecondition("NO_TOKEN_VERIFIER",
                                     "the server needs a token verifier: every call is checked");
    ctx_.authz = authz_.get();
    ctx_.search_limiter = &search_limiter_;
    AIFS_ASSIGN_OR_RETURN(auto creds, Credentials(options_));
    grpc::EnableDefaultHealthCheckService(true);
    grpc::ServerBuilder builder;
    builder.AddListeningPort(options_.listen, creds, &port_);
    // Frames are at most 1 MiB; headers and lists stay well below this.
    builder.SetMaxReceiveMessageSize(8 << 20);
    builder.RegisterService(aifs_.get());
    builder.RegisterService(admin_.get());
    builder.RegisterService(introspect_.get());
    builder.RegisterService(metrics_service_.get());
    std::vector<std::unique_ptr<grpc::experimental::ServerInterceptorFactoryInterface>> timers;
    timers.push_back(metrics_.InterceptorFactory());
    builder.experimental().SetInterceptorCreators(std::move(timers));
    server_ = builder.BuildAndStart();
    if (!server_ || port_ == 0)
      return err::Unavailable("LISTEN_FAILED", "cannot listen on " + options_.listen);
    ProbeOnce();
    prober_ = std::thread([this] { ProbeLoop(); });
    return Status::Ok();
  }

  int port() const override { return port_; }

  void Shutdown(std::chrono::milliseconds grace) override {
    {
      std::lock_guard lock(mu_);
      if (stopping_) return;
      stopping_ = true;
    }
    ctx_.stopping = true;
    wake_.notify_all();
    if (prober_.joinable()) prober_.join();
    if (server_) {
      server_->GetHealthCheckService()->SetServingStatus(false);
      server_->Shutdown(std::chrono::system_clock::now() + grace);
      server_->Wait();
    }
  }

 private:
  void ProbeOnce() {
    const Status st = ctx_.api.CheckHealth();
    const bool reads = st.ok() || st.reason() == "DEGRADED";
    auto* health = server_->GetHealthCheckService();
    health->SetServingStatus("", st.ok());
    health->SetServingStatus("readiness", reads);
    health->SetServingStatus("writes", st.ok());
    health->SetServingStatus("liveness", true);
  }

  void ProbeLoop() {
    std::unique_lock lock(mu_);
    while (!wake_.wait_for(lock, options_.health_interval, [&] { return stopping_; })) {
      lock.unlock();
      ProbeOnce();
      lock.lock();
    }
  }

  const ServerOptions options_;
  Metrics metrics_;
  TransactionRegistry transactions_;
  ServiceContext ctx_;
  RateLimiter search_limiter_;
  std::unique_ptr<RpcAuthorizer> authz_;
  std::unique_ptr<v1::Aifs::Service> aifs_;
  std::unique_ptr<v1::Admin::Service> admin_;
  std::unique_ptr<v1::Introspect::Service> introspect_;
  std::unique_ptr<v1::Metrics::Service> metrics_service_;
  std::unique_ptr<grpc::Server> server_;
  int port_ = 0;
  std::mutex mu_;
  std::condition_variable wake_;
  bool stopping_ = false;
  std::thread prober_;
};

}  // namespace

Result<std::unique_ptr<Server>> Server::Start(Api& api, const ServerOptions& options) {
  auto server = std::make_unique<GrpcServer>(api, options);
  AIFS_RETURN_IF_ERROR(server->Start());
  return std::unique_ptr<Server>(std::move(server));
}

}  // namespace aifs::server
