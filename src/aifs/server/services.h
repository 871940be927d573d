// The gRPC services: thin translations between aifs.v1 messages and
// aifs::Api calls. They decide nothing; every rule lives in the engine.
#pragma once

#include <atomic>
#include <memory>

#include "aifs/api/api.h"
#include "aifs/server/metrics.h"
#include "aifs/server/transaction_registry.h"
#include "aifs/v1/aifs.grpc.pb.h"

namespace aifs::server {

// What the services share.
struct ServiceContext {
  Api& api;
  Metrics& metrics;
  TransactionRegistry& transactions;
  bool tls = false;
  // Set when shutdown begins: long-lived streams end at once (UNAVAILABLE
  // SERVER_SHUTTING_DOWN) instead of holding the shutdown for its grace.
  std::atomic<bool> stopping{false};
};

std::unique_ptr<v1::Aifs::Service> NewAifsService(ServiceContext& ctx);
std::unique_ptr<v1::Admin::Service> NewAdminService(ServiceContext& ctx);
std::unique_ptr<v1::Introspect::Service> NewIntrospectService(ServiceContext& ctx);
std::unique_ptr<v1::Metrics::Service> NewMetricsService(ServiceContext& ctx);

}  // namespace aifs::server
