// RpcAuthorizer: the token check every RPC makes before it does anything.
//
// One table (RpcRules) says, for each full method name, the operation the
// call needs and which request fields name the namespace, branch and asset it
// touches. A method missing from the table is refused (fail closed), and a
// test walks the service descriptors so no RPC is forgotten. Health
// (grpc.health.v1) is the one open service; it is not ours to guard.
//
// Promise: Authorize() returns the verified token only when the call carries
// `authorization: Bearer <token>` and the token (auth::TokenVerifier) covers
// the rule's access for this request; UNAUTHENTICATED / PERMISSION_DENIED with
// a stable reason otherwise. TLS plays no part in the decision.
#pragma once

#include <grpcpp/server_context.h>

#include <string>
#include <string_view>
#include <vector>

#include "aifs/auth/token_verifier.h"
#include "aifs/server/transaction_registry.h"

namespace google::protobuf {
class Message;
}

namespace aifs::server {

struct RpcRule {
  std::string_view method;  // "/aifs.v1.Aifs/GetAsset"
  uint32_t op;              // auth::Op bits; several: any one of them suffices
  auth::Access::Scope scope;
  // Request fields ("header.ns" reaches into a sub-message); empty: none.
  std::string_view ns_field;
  std::string_view branch_field;
  // bytes: the asset ID; through a repeated message ("ranges.id"), every
  // element's (a batch names many assets)
  std::string_view asset_field;
  bool ns_from_transaction = false;  // ns_field holds a transaction ID
};

const std::vector<RpcRule>& RpcRules();
const RpcRule* FindRpcRule(std::string_view method);

class RpcAuthorizer {
 public:
  RpcAuthorizer(auth::TokenVerifier& tokens, TransactionRegistry& transactions)
      : tokens_(tokens), transactions_(transactions) {}

  // INTERNAL NO_AUTH_RULE for a method without a rule.
  Result<auth::VerifiedToken> Authorize(const grpc::ServerContext& sctx, std::string_view method,
                                        const google::protobuf::Message& request) const;

 private:
  auth::TokenVerifier& tokens_;
  TransactionRegistry& transactions_;
};

// The bearer token of a call: UNAUTHENTICATED TOKEN_MISSING / TOKEN_MALFORMED.
Result<std::string> BearerToken(const grpc::ServerContext& sctx);

// Who is calling: the token ID of the call's (already authorized) token, e.g.
// for per-caller rate limits; "" when the call carries none.
std::string CallerId(const grpc::ServerContext& sctx);

}  // namespace aifs::server
