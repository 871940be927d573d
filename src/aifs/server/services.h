// The gRPC services: thin translations between aifs.v1 messages and the
// calls of the caller's Api (api/caller.h). They decide nothing; every rule
// lives in the engine.
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
#include "aifs/server/waiting_streams.h"
#include "aifs/v1/aifs.grpc.pb.h"

namespace aifs::server {

// What the services share.
struct ServiceContext {
  Gate& gate;
  Metrics& metrics;
  TransactionRegistry& transactions;
  bool tls = false;
  // Set when shutdown begins: long-lived streams end at once (UNAVAILABLE
  // SERVER_SHUTTING_DOWN) instead of holding the shutdown for its grace.
  std::atomic<bool> stopping{false};
  // The HTTP plane's base URL ("http://host:port"), "" when there is none.
  std::string http_url;
  // VectorSearch calls per token (docs/vector-search.md, "Rate limits").
  RateLimiter* search_limiter = nullptr;
  // Calls running at once per token (every guarded call and every put).
  CallLimiter* calls = nullptr;
  // Puts running at once, in total and per token (TOO_MANY_PUTS).
  CallLimiter* puts = nullptr;
  // Cancels puts that stop sending (PUT_STALLED).
  PutWatchdog* put_watchdog = nullptr;
  // ReadRangesStream streams waiting for their next request.
  WaitingStreams* read_streams = nullptr;
};

// A caller admitted to a call: its Api, and one of its token's call slots,
// held while this lives (none when the server sets no call limit).
struct AdmittedCall {
  std::unique_ptr<CallerApi> api;
  std::optional<CallLimiter::Slot> slot;
};

// AdmitCall() for `method` and `request` (rpc_auth.h), then a call slot of the
// caller's token (RESOURCE_EXHAUSTED TOO_MANY_CALLS). The slot is taken only
// once the call is authorized: strangers cannot use up the slots.
inline Result<AdmittedCall> AdmitWithSlot(ServiceContext& ctx, const grpc::ServerContext& sctx,
                                          std::string_view method,
                                          const google::protobuf::Message& request) {
  AdmittedCall call;
  AIFS_ASSIGN_OR_RETURN(call.api, AdmitCall(ctx.gate, ctx.transactions, sctx, method, request));
  if (ctx.calls) {
    AIFS_ASSIGN_OR_RETURN(CallLimiter::Slot slot, ctx.calls->Acquire(call.api->caller_key()));
    call.slot.emplace(std::move(slot));
  }
  return call;
}

// Runs an RPC body after the caller's token passed the rule of `method`
// (full name, e.g. "/aifs.v1.Aifs/GetAsset") for `request` (rpc_auth.h), with
// the caller's Api, through which the body makes every call. Every handler
// starts with this (or, for client streams, AdmitWithSlot() on the first
// message): nothing runs for a caller who may not make the call.
template <typename Body>
grpc::Status Guard(ServiceContext& ctx, const grpc::ServerContext* sctx, std::string_view method,
                   const google::protobuf::Message& request, Body&& body) {
  Result<AdmittedCall> call = AdmitWithSlot(ctx, *sctx, method, request);
  if (!call.ok()) return rpc::ToGrpc(call.status());
  return rpc::RunRpc([&] { return body(*call->api); });
}

std::unique_ptr<v1::Aifs::Service> NewAifsService(ServiceContext& ctx);
std::unique_ptr<v1::Admin::Service> NewAdminService(ServiceContext& ctx);
std::unique_ptr<v1::Introspect::Service> NewIntrospectService(ServiceContext& ctx);
std::unique_ptr<v1::Metrics::Service> NewMetricsService(ServiceContext& ctx);

}  // namespace aifs::server
