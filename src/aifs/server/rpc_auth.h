// The gRPC face's half of authorization: which Operation each RPC is, and
// which request fields name the namespace, branch and assets it touches.
// What an Operation needs is not decided here but in the engine's one table
// (auth/access_rules.h), applied by the CallerApi the Gate hands out
// (api/caller.h); AdmitCall() only translates a call into that question, so
// it can be refused before its body is read. A method missing from the table
// is refused (fail closed), and a test walks the service descriptors so no
// RPC is forgotten. Health (grpc.health.v1) is the one open service.
//
// Promise: AdmitCall() returns the caller's Api only when the call carries
// `authorization: Bearer <token>`, the Gate admits the token and the token
// covers the rule's operation for this request; UNAUTHENTICATED /
// PERMISSION_DENIED with a stable reason otherwise. TLS plays no part.
#pragma once

#include <grpcpp/server_context.h>

#include <string>
#include <string_view>
#include <vector>

#include "aifs/api/caller.h"
#include "aifs/auth/access_rules.h"
#include "aifs/server/transaction_registry.h"

namespace google::protobuf {
class Message;
}

namespace aifs::server {

struct RpcRule {
  std::string_view method;  // "/aifs.v1.Aifs/GetAsset"
  Operation operation;
  // Request fields ("header.ns" reaches into a sub-message); empty: none.
  std::string_view ns_field;
  std::string_view branch_field;
  // bytes: the asset ID; through a repeated message ("ranges.id"), every
  // element's (a batch names many assets)
  std::string_view asset_field;
  bool ns_from_transaction = false;  // ns_field holds a transaction ID
  // The engine's rule for `operation` (auth::RuleFor), for tests and docs.
  uint32_t op = auth::RuleFor(operation).ops;
  auth::Access::Scope scope = auth::RuleFor(operation).scope;
};

const std::vector<RpcRule>& RpcRules();
const RpcRule* FindRpcRule(std::string_view method);

// The Api of the caller of `method`, admitted by `gate` and allowed the
// method's operation on what `request` names. INTERNAL NO_AUTH_RULE for a
// method without a rule.
Result<std::unique_ptr<CallerApi>> AdmitCall(Gate& gate, TransactionRegistry& transactions,
                                             const grpc::ServerContext& sctx,
                                             std::string_view method,
                                             const google::protobuf::Message& request);

// The bearer token of a call, "" when it carries none (the Gate then answers
// TOKEN_MISSING); UNAUTHENTICATED TOKEN_MALFORMED for another header shape.
Result<std::string> BearerToken(const grpc::ServerContext& sctx);

}  // namespace aifs::server
