#include "aifs/server/health_service.h"

#include <chrono>

namespace aifs::server {

using grpc::health::v1::HealthCheckRequest;
using grpc::health::v1::HealthCheckResponse;

void HealthService::Set(const std::string& service, bool serving) {
  std::lock_guard lock(mu_);
  if (shutdown_) return;
  const Serving want = serving ? HealthCheckResponse::SERVING : HealthCheckResponse::NOT_SERVING;
  auto [it, added] = status_.try_emplace(service, want);
  if (!added && it->second == want) return;
  it->second = want;
  ++version_;
  changed_.notify_all();
}

void HealthService::Shutdown() {
  std::lock_guard lock(mu_);
  if (shutdown_) return;
  shutdown_ = true;
  for (auto& [service, status] : status_) status = HealthCheckResponse::NOT_SERVING;
  ++version_;
  changed_.notify_all();
}

HealthService::Serving HealthService::StatusLocked(const std::string& service) const {
  auto it = status_.find(service);
  return it == status_.end() ? HealthCheckResponse::SERVICE_UNKNOWN : it->second;
}

grpc::Status HealthService::Check(grpc::ServerContext*, const HealthCheckRequest* request,
                                  HealthCheckResponse* response) {
  std::lock_guard lock(mu_);
  const Serving status = StatusLocked(request->service());
  if (status == HealthCheckResponse::SERVICE_UNKNOWN)
    return grpc::Status(grpc::StatusCode::NOT_FOUND, "unknown service");
  response->set_status(status);
  return grpc::Status::OK;
}

grpc::Status HealthService::Watch(grpc::ServerContext* ctx, const HealthCheckRequest* request,
                                  grpc::ServerWriter<HealthCheckResponse>* writer) {
  std::unique_lock lock(mu_);
  bool sent = false;
  Serving last = HealthCheckResponse::UNKNOWN;
  for (;;) {
    const Serving now = StatusLocked(request->service());
    const bool ending = shutdown_;
    const uint64_t seen = version_;
    if (!sent || now != last) {
      lock.unlock();
      HealthCheckResponse response;
      response.set_status(now);
      if (!writer->Write(response)) return grpc::Status::CANCELLED;  // the caller left
      lock.lock();
      sent = true;
      last = now;
    }
    if (ending) return grpc::Status::OK;
    // A caller that cancels does not wake us: look at it now and then.
    while (version_ == seen && !shutdown_) {
      if (ctx->IsCancelled()) return grpc::Status::CANCELLED;
      changed_.wait_for(lock, std::chrono::milliseconds(200));
    }
  }
}

}  // namespace aifs::server
