// HealthService: the standard grpc.health.v1.Health service (Check and
// Watch), served on the server's synchronous threads.
//
// Why not gRPC's own (grpc::EnableDefaultHealthCheckService): in gRPC 1.51
// that one is a callback service, and a server with any callback service
// starts "nexting" threads that poll the same epoll set as the synchronous
// threads. A call's bytes are then often read by one of them and the call
// handed to a synchronous thread: one more wake-up per call, ~10% of a small
// call's latency (bench/README.md, "Issue 16: small reads from a separate
// server").
//
// Promise: Check answers the status last Set for a service, NOT_FOUND for a
// service never set. Watch sends the current status (SERVICE_UNKNOWN for a
// service never set) and then every change, until the caller cancels or
// Shutdown. Shutdown sets every service NOT_SERVING for good (later Sets are
// ignored), sends that to the watchers and ends their streams. Thread-safe.
#pragma once

#include <condition_variable>
#include <cstdint>
#include <map>
#include <mutex>
#include <string>

#include "grpc/health/v1/health.grpc.pb.h"

namespace aifs::server {

class HealthService final : public grpc::health::v1::Health::Service {
 public:
  void Set(const std::string& service, bool serving);
  void Shutdown();

  grpc::Status Check(grpc::ServerContext* ctx, const grpc::health::v1::HealthCheckRequest* request,
                     grpc::health::v1::HealthCheckResponse* response) override;
  grpc::Status Watch(grpc::ServerContext* ctx, const grpc::health::v1::HealthCheckRequest* request,
                     grpc::ServerWriter<grpc::health::v1::HealthCheckResponse>* writer) override;

 private:
  using Serving = grpc::health::v1::HealthCheckResponse::ServingStatus;
  Serving StatusLocked(const std::string& service) const;

  mutable std::mutex mu_;
  std::condition_variable changed_;
  std::map<std::string, Serving> status_;
  uint64_t version_ = 0;  // bumped on every change
  bool shutdown_ = false;
};

}  // namespace aifs::server
