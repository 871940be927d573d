// The gRPC services: thin translations between aifs.v1 messages and
// aifs::Api calls. They decide nothing; every rule lives in the engine.
#pragma once

#include <atomic>
#include <memory>
#include <type_traits>

#include "aifs/api/api.h"
#include "aifs/rpc/status_codec.h"
#include "aifs/server/metrics.h"
#include "aifs/server/rate_limiter.h"
#include "aifs/server/rpc_auth.h"
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
  // Checks every call's token (see rpc_auth.h); set before serving.
  const RpcAuthorizer* authz = nullptr;
  // VectorSearch calls per token (docs/vector-search.md, "Rate limits").
  RateLimiter* search_limiter = nullptr;
};

// Runs an RPC body after the caller's token passed the rule of `method`
// (full name, e.g. "/aifs.v1.Aifs/GetAsset") for `request`. Every handler
// starts with this (or, for client streams, Authorize() on the first
// message): nothing runs for a caller who may not make the call. A body
// may take the verified token (to know who calls).
template <typename Body>
grpc::Status Guard(const ServiceContext& ctx, const grpc::ServerContext* sctx,
                   std::string_view method, const google::protobuf::Message& request,
                   Body&& body) {
  Result<auth::VerifiedToken> who =
      ctx.authz ? ctx.authz->Authorize(*sctx, method, request)
                : Result<auth::VerifiedToken>(
                      err::Internal("NO_AUTHORIZER", "the server has no token verifier"));
  if (!who.ok()) return rpc::ToGrpc(who.status());
  if constexpr (std::is_invocable_v<Body, const auth::VerifiedToken&>)
    return rpc::RunRpc([&] { return body(*who); });
  else
    return rpc::RunRpc(std::forward<Body>(body));
}

std::unique_ptr<v1::Aifs::Service> NewAifsService(ServiceContext& ctx);
std::unique_ptr<v1::Admin::Service> NewAdminService(ServiceContext& ctx);
std::unique_ptr<v1::Introspect::Service> NewIntrospectService(ServiceContext& ctx);
std::unique_ptr<v1::Metrics::Service> NewMetricsService(ServiceContext& ctx);

}  // namespace aifs::server
