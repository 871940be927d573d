#include "aifs/server/rpc_auth.h"

#include <google/protobuf/descriptor.h>
#include <google/protobuf/message.h>

#include "aifs/auth/macaroon.h"
#include "aifs/core/hex.h"

namespace aifs::server {

namespace {

using Scope = auth::Access::Scope;
using namespace aifs::auth;  // NOLINT: the op names read better bare in the table

// Reads a string or bytes field by dotted path; nullopt when a step is
// missing or unset (an unset sub-message names nothing).
std::optional<std::string> FieldText(const google::protobuf::Message& msg, std::string_view path) {
  const google::protobuf::Message* m = &msg;
  while (true) {
    const size_t dot = path.find('.');
    const std::string name(path.substr(0, dot));
    const auto* field = m->GetDescriptor()->FindFieldByName(name);
    if (!field || field->is_repeated()) return std::nullopt;
    const auto* refl = m->GetReflection();
    if (dot == std::string_view::npos) {
      if (field->cpp_type() != google::protobuf::FieldDescriptor::CPPTYPE_STRING)
        return std::nullopt;
      return refl->GetString(*m, field);
    }
    if (field->cpp_type() != google::protobuf::FieldDescriptor::CPPTYPE_MESSAGE ||
        !refl->HasField(*m, field))
      return std::nullopt;
    m = &refl->GetMessage(*m, field);
    path = path.substr(dot + 1);
  }
}

}  // namespace

const std::vector<RpcRule>& RpcRules() {
  // Reads need get (list for listings), changes need the op named after what
  // they change. Namespace-less calls are store-wide: a token limited to
  // namespaces may not make them, except ListNamespaces (filtered to the
  // token's namespaces) and GetInfo (any valid token: clients call it to
  // connect; it reveals versions and features, no data).
  static const std::vector<RpcRule> rules = {
      // aifs.v1.Aifs
      {"/aifs.v1.Aifs/GetNamespace", kOpGet, Scope::kNamespace, "name", "", ""},
      {"/aifs.v1.Aifs/ListNamespaces", kOpList, Scope::kListing, "", "", ""},
      {"/aifs.v1.Aifs/PutAsset", kOpPut, Scope::kNamespace, "header.ns", "", "header.expected_id"},
      {"/aifs.v1.Aifs/GetAsset", kOpGet, Scope::kNamespace, "ns", "", "id"},
      {"/aifs.v1.Aifs/ReadAsset", kOpGet, Scope::kNamespace, "ns", "", "id"},
      {"/aifs.v1.Aifs/ListAssets", kOpList, Scope::kNamespace, "ns", "", ""},
      {"/aifs.v1.Aifs/DeleteAsset", kOpDelete, Scope::kNamespace, "ns", "", "id"},
      {"/aifs.v1.Aifs/VerifyAsset", kOpGet, Scope::kNamespace, "ns", "", "id"},
      {"/aifs.v1.Aifs/BeginTransaction", kOpPut, Scope::kNamespace, "ns", "", ""},
      {"/aifs.v1.Aifs/CommitTransaction", kOpPut, Scope::kNamespace, "transaction_id", "", "",
       true},
      {"/aifs.v1.Aifs/AbortTransaction", kOpPut, Scope::kNamespace, "transaction_id", "", "",
       true},
      {"/aifs.v1.Aifs/GetLineage", kOpGet, Scope::kNamespace, "ns", "", "id"},
      {"/aifs.v1.Aifs/CreateSnapshot", kOpSnapshot, Scope::kNamespace, "ns", "", ""},
      {"/aifs.v1.Aifs/GetSnapshot", kOpGet, Scope::kNamespace, "ns", "", ""},
      {"/aifs.v1.Aifs/ListSnapshots", kOpList, Scope::kNamespace, "ns", "", ""},
      {"/aifs.v1.Aifs/VerifySnapshot", kOpGet, Scope::kNamespace, "ns", "", ""},
      {"/aifs.v1.Aifs/ProveAsset", kOpGet, Scope::kNamespace, "ns", "", "id"},
      {"/aifs.v1.Aifs/DiffSnapshots", kOpGet, Scope::kNamespace, "ns", "", ""},
      {"/aifs.v1.Aifs/CreateBranch", kOpBranch, Scope::kNamespace, "ns", "name", ""},
      {"/aifs.v1.Aifs/MoveBranch", kOpBranch, Scope::kNamespace, "ns", "name", ""},
      {"/aifs.v1.Aifs/DeleteBranch", kOpBranch, Scope::kNamespace, "ns", "name", ""},
      {"/aifs.v1.Aifs/ListBranches", kOpList, Scope::kNamespace, "ns", "", ""},
      {"/aifs.v1.Aifs/BranchLog", kOpGet, Scope::kNamespace, "ns", "name", ""},
      {"/aifs.v1.Aifs/CreateTag", kOpTag, Scope::kNamespace, "ns", "", ""},
      {"/aifs.v1.Aifs/DeleteTag", kOpTag, Scope::kNamespace, "ns", "", ""},
      {"/aifs.v1.Aifs/ListTags", kOpList, Scope::kNamespace, "ns", "", ""},
      // An empty ns follows every namespace: store-wide.
      {"/aifs.v1.Aifs/SubscribeEvents", kOpSubscribe, Scope::kNamespace, "ns", "", ""},
      {"/aifs.v1.Aifs/CreateSpace", kOpPut, Scope::kNamespace, "ns", "", ""},
      {"/aifs.v1.Aifs/ListSpaces", kOpList, Scope::kNamespace, "ns", "", ""},
      {"/aifs.v1.Aifs/VectorSearch", kOpSearch, Scope::kNamespace, "ns", "", "like"},
      // aifs.v1.Admin
      {"/aifs.v1.Admin/CreateNamespace", kOpAdmin, Scope::kNamespace, "name", "", ""},
      {"/aifs.v1.Admin/DeleteNamespace", kOpAdmin, Scope::kNamespace, "name", "", ""},
      {"/aifs.v1.Admin/SetNamespacePolicy", kOpAdmin, Scope::kNamespace, "name", "", ""},
      {"/aifs.v1.Admin/PruneSnapshots", kOpAdmin, Scope::kNamespace, "ns", "", ""},
      {"/aifs.v1.Admin/ListPendingEmbeddings", kOpAdmin, Scope::kNamespace, "ns", "", ""},
      {"/aifs.v1.Admin/ReviewEmbeddings", kOpAdmin, Scope::kNamespace, "ns", "", ""},
      {"/aifs.v1.Admin/CollectGarbage", kOpAdmin, Scope::kStore, "", "", ""},
      {"/aifs.v1.Admin/RotateKey", kOpAdmin, Scope::kStore, "", "", ""},
      {"/aifs.v1.Admin/CheckMetadata", kOpAdmin, Scope::kStore, "", "", ""},
      {"/aifs.v1.Admin/Backup", kOpAdmin, Scope::kStore, "", "", ""},
      {"/aifs.v1.Admin/RewrapKeys", kOpAdmin, Scope::kStore, "", "", ""},
      {"/aifs.v1.Admin/Format", kOpAdmin, Scope::kStore, "", "", ""},
      {"/aifs.v1.Admin/FormatHistory", kOpAdmin, Scope::kStore, "", "", ""},
      {"/aifs.v1.Admin/MintToken", kOpAdmin, Scope::kStore, "", "", ""},
      {"/aifs.v1.Admin/RevokeToken", kOpAdmin, Scope::kStore, "", "", ""},
      {"/aifs.v1.Admin/ListTokenKeys", kOpAdmin, Scope::kStore, "", "", ""},
      {"/aifs.v1.Admin/RotateTokenRoot", kOpAdmin, Scope::kStore, "", "", ""},
      {"/aifs.v1.Admin/RevokeTokenRoot", kOpAdmin, Scope::kStore, "", "", ""},
      // aifs.v1.Introspect, aifs.v1.Metrics
      {"/aifs.v1.Introspect/GetInfo", kOpNone, Scope::kAny, "", "", ""},
      {"/aifs.v1.Metrics/GetMetrics", kOpGet, Scope::kStore, "", "", ""},
  };
  return rules;
}

const RpcRule* FindRpcRule(std::string_view method) {
  for (const RpcRule& r : RpcRules())
    if (r.method == method) return &r;
  return nullptr;
}

Result<std::string> BearerToken(const grpc::ServerContext& sctx) {
  const auto& md = sctx.client_metadata();
  auto [begin, end] = md.equal_range("authorization");
  if (begin == end)
    return Status(Code::kUnauthenticated, "TOKEN_MISSING",
                  "this call needs a token: authorization: Bearer <token> (aifs --token / "
                  "AIFS_TOKEN)");
  if (std::next(begin) != end)
    return Status(Code::kUnauthenticated, "TOKEN_MALFORMED", "more than one authorization header");
  const std::string_view value(begin->second.data(), begin->second.size());
  constexpr std::string_view kBearer = "Bearer ";
  if (!value.starts_with(kBearer) || value.size() == kBearer.size())
    return Status(Code::kUnauthenticated, "TOKEN_MALFORMED",
                  "the authorization header is not 'Bearer <token>'");
  return std::string(value.substr(kBearer.size()));
}

std::string CallerId(const grpc::ServerContext& sctx) {
  auto token = BearerToken(sctx);
  if (!token.ok()) return "";
  auto m = auth::Macaroon::Parse(*token);
  if (!m.ok()) return "";
  auto id = auth::ParseTokenIdentifier(m->identifier());
  return id.ok() ? id->token_id : "";
}

Result<auth::VerifiedToken> RpcAuthorizer::Authorize(
    const grpc::ServerContext& sctx, std::string_view method,
    const google::protobuf::Message& request) const {
  const RpcRule* rule = FindRpcRule(method);
  if (!rule)
    return err::Internal("NO_AUTH_RULE", "no authorization rule for " + std::string(method));
  AIFS_ASSIGN_OR_RETURN(std::string token, BearerToken(sctx));
  auth::Access access;
  access.op = rule->op;
  access.scope = rule->scope;
  access.now_unix_s = static_cast<int64_t>(std::time(nullptr));
  if (!rule->ns_field.empty()) {
    std::string ns = FieldText(request, rule->ns_field).value_or("");
    if (rule->ns_from_transaction) ns = transactions_.NamespaceOf(ns).value_or("");
    // A call that may name no namespace (events of all of them) is store-wide.
    if (ns.empty() && rule->method == "/aifs.v1.Aifs/SubscribeEvents")
      access.scope = Scope::kStore;
    access.ns = std::move(ns);
  }
  if (!rule->branch_field.empty()) access.branch = FieldText(request, rule->branch_field);
  if (!rule->asset_field.empty()) {
    auto raw = FieldText(request, rule->asset_field);
    if (raw && !raw->empty()) access.asset = HexEncode(AsBytes(*raw));
  }
  return tokens_.Verify(token, access);
}

}  // namespace aifs::server
