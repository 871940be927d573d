#include "aifs/server/rpc_auth.h"

#include <google/protobuf/descriptor.h>
#include <google/protobuf/message.h>

#include <algorithm>
#include <functional>

#include "aifs/auth/macaroon.h"
#include "aifs/core/hex.h"

namespace aifs::server {

namespace {

using Scope = auth::Access::Scope;
using namespace aifs::auth;  // NOLINT: the op names read better bare in the table

// Calls `fn` with every string or bytes value the dotted `path` reaches: a
// repeated message field on the way ("ranges.id") fans out to each element;
// an unset sub-message reaches nothing.
void VisitFieldTexts(const google::protobuf::Message& msg, std::string_view path,
                     const std::function<void(const std::string&)>& fn) {
  const size_t dot = path.find('.');
  const auto* field = msg.GetDescriptor()->FindFieldByName(std::string(path.substr(0, dot)));
  if (!field) return;
  const auto* refl = msg.GetReflection();
  using FD = google::protobuf::FieldDescriptor;
  if (dot == std::string_view::npos) {
    if (field->cpp_type() != FD::CPPTYPE_STRING) return;
    if (!field->is_repeated()) return fn(refl->GetString(msg, field));
    for (int i = 0; i < refl->FieldSize(msg, field); ++i)
      fn(refl->GetRepeatedString(msg, field, i));
    return;
  }
  if (field->cpp_type() != FD::CPPTYPE_MESSAGE) return;
  const std::string_view rest = path.substr(dot + 1);
  if (!field->is_repeated()) {
    if (refl->HasField(msg, field)) VisitFieldTexts(refl->GetMessage(msg, field), rest, fn);
    return;
  }
  for (int i = 0; i < refl->FieldSize(msg, field); ++i)
    VisitFieldTexts(refl->GetRepeatedMessage(msg, field, i), rest, fn);
}

// The one value of a single-valued path; nullopt when it reaches none.
std::optional<std::string> FieldText(const google::protobuf::Message& msg, std::string_view path) {
  std::optional<std::string> out;
  VisitFieldTexts(msg, path, [&](const std::string& v) {
    if (!out) out = v;
  });
  return out;
}

// The distinct asset IDs (lowercase hex) named at `path`; empty IDs name none.
std::vector<std::string> AssetsNamed(const google::protobuf::Message& msg, std::string_view path) {
  std::vector<std::string> raw;
  VisitFieldTexts(msg, path, [&](const std::string& v) {
    // A batch usually reads few assets many times: skip the easy repeats.
    if (!v.empty() && (raw.empty() || raw.back() != v)) raw.push_back(v);
  });
  std::sort(raw.begin(), raw.end());
  raw.erase(std::unique(raw.begin(), raw.end()), raw.end());
  std::vector<std::string> out;
  out.reserve(raw.size());
  for (const std::string& r : raw) out.push_back(HexEncode(AsBytes(r)));
  return out;
}

}  // namespace

const std::vector<RpcRule>& RpcRules() {
  // Reads need get (list for listings), changes need the op named after what
  // they change. A rule naming several ops admits a token holding any of them. Namespace-less calls
  // are store-wide: a token limited to namespaces may not make them, except ListNamespaces
  // (filtered to the token's namespaces) and GetInfo (any valid token: clients call it to connect;
  // it reveals versions and features, no data).
  static const std::vector<RpcRule> rules = {
      // aifs.v1.Aifs
      {"/aifs.v1.Aifs/GetNamespace", kOpGet, Scope::kNamespace, "name", "", ""},
      {"/aifs.v1.Aifs/ListNamespaces", kOpList, Scope::kListing, "", "", ""},
      {"/aifs.v1.Aifs/PutAsset", kOpPut, Scope::kNamespace, "header.ns", "", "header.expected_id"},
      {"/aifs.v1.Aifs/GetAsset", kOpGet, Scope::kNamespace, "ns", "", "id"},
      {"/aifs.v1.Aifs/ReadAsset", kOpGet, Scope::kNamespace, "ns", "", "id"},
      {"/aifs.v1.Aifs/ReadRanges", kOpGet, Scope::kNamespace, "ns", "", "ranges.id"},
      {"/aifs.v1.Aifs/ListAssets", kOpList, Scope::kNamespace, "ns", "", ""},
      {"/aifs.v1.Aifs/DeleteAsset", kOpDelete, Scope::kNamespace, "ns", "", "id"},
      {"/aifs.v1.Aifs/VerifyAsset", kOpGet, Scope::kNamespace, "ns", "", "id"},
      {"/aifs.v1.Aifs/BeginTransaction", kOpPut, Scope::kNamespace, "ns", "", ""},
      {"/aifs.v1.Aifs/CommitTransaction", kOpPut, Scope::kNamespace, "transaction_id", "", "",
       true},
      {"/aifs.v1.Aifs/AbortTransaction", kOpPut, Scope::kNamespace, "transaction_id", "", "", true},
      {"/aifs.v1.Aifs/GetLineage", kOpGet, Scope::kNamespace, "ns", "", "id"},
      {"/aifs.v1.Aifs/CreateSnapshot", kOpSnapshot, Scope::kNamespace, "ns", "", ""},
      {"/aifs.v1.Aifs/GetSnapshot", kOpGet, Scope::kNamespace, "ns", "", ""},
      {"/aifs.v1.Aifs/ListSnapshots", kOpList, Scope::kNamespace, "ns", "", ""},
      {"/aifs.v1.Aifs/VerifySnapshot", kOpGet, Scope::kNamespace, "ns", "", ""},
      {"/aifs.v1.Aifs/ProveAsset", kOpGet, Scope::kNamespace, "ns", "", "id"},
      {"/aifs.v1.Aifs/DiffSnapshots", kOpGet, Scope::kNamespace, "ns", "", ""},
      {"/aifs.v1.Aifs/SnapshotLog", kOpGet, Scope::kNamespace, "ns", "", ""},
      {"/aifs.v1.Aifs/Merge", kOpBranch, Scope::kNamespace, "ns", "into", ""},
      {"/aifs.v1.Aifs/Revert", kOpBranch, Scope::kNamespace, "ns", "into", ""},
      {"/aifs.v1.Aifs/ResolvePath", kOpGet, Scope::kNamespace, "ns", "", ""},
      {"/aifs.v1.Aifs/ListPaths", kOpList, Scope::kNamespace, "ns", "", ""},
      {"/aifs.v1.Aifs/BindPath", kOpPut, Scope::kNamespace, "ns", "", "id"},
      {"/aifs.v1.Aifs/MovePath", kOpPut, Scope::kNamespace, "ns", "", ""},
      {"/aifs.v1.Aifs/RemovePath", kOpDelete, Scope::kNamespace, "ns", "", ""},
      {"/aifs.v1.Aifs/Checkout", kOpPut | kOpDelete, Scope::kNamespace, "ns", "", ""},
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
      // list or search: a search-only token picks its namespace's space by name.
      {"/aifs.v1.Aifs/ListSpaces", kOpList | kOpSearch, Scope::kNamespace, "ns", "", ""},
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
  if (!rule->asset_field.empty()) access.assets = AssetsNamed(request, rule->asset_field);
  return tokens_.Verify(token, access);
}

}  // namespace aifs::server
