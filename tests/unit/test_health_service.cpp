// HealthService (server/health_service.h) served alone on a loopback port and
// called through gRPC's generated client, as a load balancer or a Kubernetes
// probe would.
#include "aifs/server/health_service.h"

#include <grpcpp/grpcpp.h>
#include <gtest/gtest.h>

#include <memory>
#include <string>

namespace aifs::server {
namespace {

using grpc::health::v1::Health;
using grpc::health::v1::HealthCheckRequest;
using grpc::health::v1::HealthCheckResponse;

class HealthServiceTest : public ::testing::Test {
 protected:
  void SetUp() override {
    grpc::ServerBuilder builder;
    int port = 0;
    builder.AddListeningPort("127.0.0.1:0", grpc::InsecureServerCredentials(), &port);
    builder.RegisterService(&health_);
    server_ = builder.BuildAndStart();
    ASSERT_TRUE(server_ && port > 0);
    stub_ = Health::NewStub(grpc::CreateChannel("127.0.0.1:" + std::to_string(port),
                                                grpc::InsecureChannelCredentials()));
  }
  void TearDown() override {
    if (server_) server_->Shutdown();  // waits for every call, Watch streams included
  }

  grpc::Status Check(const std::string& service, HealthCheckResponse::ServingStatus* status) {
    grpc::ClientContext ctx;
    HealthCheckRequest request;
    request.set_service(service);
    HealthCheckResponse response;
    grpc::Status st = stub_->Check(&ctx, request, &response);
    *status = response.status();
    return st;
  }

  struct Watcher {
    grpc::ClientContext ctx;
    std::unique_ptr<grpc::ClientReader<HealthCheckResponse>> reader;
    HealthCheckResponse::ServingStatus Next() {
      HealthCheckResponse response;
      return reader->Read(&response) ? response.status() : HealthCheckResponse::UNKNOWN;
    }
  };
  std::unique_ptr<Watcher> Watch(const std::string& service) {
    auto w = std::make_unique<Watcher>();
    HealthCheckRequest request;
    request.set_service(service);
    w->reader = stub_->Watch(&w->ctx, request);
    return w;
  }

  HealthService health_;
  std::unique_ptr<grpc::Server> server_;
  std::unique_ptr<Health::Stub> stub_;
};

TEST_F(HealthServiceTest, CheckAnswersWhatWasSetAndNotFoundForOtherServices) {
  health_.Set("", true);
  health_.Set("writes", false);
  HealthCheckResponse::ServingStatus status{};
  ASSERT_TRUE(Check("", &status).ok());
  EXPECT_EQ(status, HealthCheckResponse::SERVING);
  ASSERT_TRUE(Check("writes", &status).ok());
  EXPECT_EQ(status, HealthCheckResponse::NOT_SERVING);
  EXPECT_EQ(Check("no-such-service", &status).error_code(), grpc::StatusCode::NOT_FOUND);

  health_.Set("writes", true);
  ASSERT_TRUE(Check("writes", &status).ok());
  EXPECT_EQ(status, HealthCheckResponse::SERVING);
}

TEST_F(HealthServiceTest, WatchSendsTheStatusThenEveryChangeUntilShutdown) {
  health_.Set("readiness", true);
  auto ready = Watch("readiness");
  auto later = Watch("later");  // not set yet
  EXPECT_EQ(ready->Next(), HealthCheckResponse::SERVING);
  EXPECT_EQ(later->Next(), HealthCheckResponse::SERVICE_UNKNOWN);

  health_.Set("readiness", true);  // no change: nothing is sent
  health_.Set("readiness", false);
  EXPECT_EQ(ready->Next(), HealthCheckResponse::NOT_SERVING);
  health_.Set("later", true);
  EXPECT_EQ(later->Next(), HealthCheckResponse::SERVING);

  // Shutdown: NOT_SERVING to every watcher, the streams end cleanly, and the
  // statuses stay NOT_SERVING whatever is set afterwards.
  health_.Shutdown();
  EXPECT_EQ(later->Next(), HealthCheckResponse::NOT_SERVING);
  EXPECT_EQ(later->Next(), HealthCheckResponse::UNKNOWN);  // end of stream
  EXPECT_TRUE(later->reader->Finish().ok());
  EXPECT_EQ(ready->Next(), HealthCheckResponse::UNKNOWN);  // already NOT_SERVING: just the end
  EXPECT_TRUE(ready->reader->Finish().ok());
  health_.Set("readiness", true);
  HealthCheckResponse::ServingStatus status{};
  ASSERT_TRUE(Check("readiness", &status).ok());
  EXPECT_EQ(status, HealthCheckResponse::NOT_SERVING);
}

TEST_F(HealthServiceTest, AWatcherThatLeavesFreesItsCall) {
  health_.Set("", true);
  auto w = Watch("");
  EXPECT_EQ(w->Next(), HealthCheckResponse::SERVING);
  w->ctx.TryCancel();
  EXPECT_EQ(w->reader->Finish().error_code(), grpc::StatusCode::CANCELLED);
  // TearDown's Shutdown() has no deadline: it returns only once the Watch
  // handler has noticed the cancellation and ended.
}

}  // namespace
}  // namespace aifs::server
