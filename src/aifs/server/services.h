// The gRPC services: thin translations between aifs.v1 messages and
// aifs::Api calls. They decide nothing; every rule lives in the engine.
#pragma once

#include <atomic>
#include <functional>
#include <memory>
#include <optional>
#include <string>
#include <type_traits>

#include "aifs/api/api.h"
#include "aifs/rpc/status_codec.h"
#include "aifs/server/call_limiter.h"
#include "aifs/server/metrics.h"
#include "aifs/server/put_watchdog.h"
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
  // Calls running at once per token (every guarded call and every put).
  CallLimiter* calls = nullptr;
  // Puts running at once, in total and per token (TOO_MANY_PUTS).
  CallLimiter* puts = nullptr;
  // Cancels puts that stop sending (PUT_STALLED).
  PutWatchdog* put_watchdog = nullptr;
};

// The caller's address for logs and records, as gRPC reports it (it asks the
// socket, also for connections the server's accept loop handed over).
inline std::string PeerOf(const ServiceContext&, const grpc::ServerContext& sctx) {
  return sctx.peer();
}

// The key calls are counted and limited under: one per token (attenuated
// copies share it).
inline std::string TokenKey(const auth::VerifiedToken& who) {
  return who.id.key_id + ":" + who.id.token_id;
}

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
  std::optional<CallLimiter::Slot> slot;
  if (ctx.calls) {
    auto acquired = ctx.calls->Acquire(TokenKey(*who));
    if (!acquired.ok()) return rpc::ToGrpc(acquired.status());
    slot.emplace(std::move(*acquired));
  }
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
