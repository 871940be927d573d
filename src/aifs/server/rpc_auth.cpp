#include "aifs/server/rpc_auth.h"

#include <google/protobuf/descriptor.h>
#include <google/protobuf/message.h>

#include <algorithm>
#include <functional>

namespace aifs::server {

namespace {

using O = Operation;

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

}  // namespace

const std::vector<RpcRule>& RpcRules() {
  // Which Operation each RPC is and where its request names things; what an
  // Operation needs is auth::RuleFor's to say.
  static const std::vector<RpcRule> rules = {
      // aifs.v1.Aifs
      {"/aifs.v1.Aifs/GetNamespace", O::kGetNamespace, "name", "", ""},
      {"/aifs.v1.Aifs/ListNamespaces", O::kListNamespaces, "", "", ""},
      {"/aifs.v1.Aifs/PutAsset", O::kPutAsset, "header.ns", "", "header.expected_id"},
      {"/aifs.v1.Aifs/GetAsset", O::kStatAsset, "ns", "", "id"},
      {"/aifs.v1.Aifs/ReadAsset", O::kReadAsset, "ns", "", "id"},
      {"/aifs.v1.Aifs/ReadRanges", O::kReadRanges, "ns", "", "ranges.id"},
      {"/aifs.v1.Aifs/ReadRangesStream", O::kReadRanges, "ns", "", "ranges.id"},
      {"/aifs.v1.Aifs/ListAssets", O::kListAssets, "ns", "", ""},
      {"/aifs.v1.Aifs/DeleteAsset", O::kDeleteAsset, "ns", "", "id"},
      {"/aifs.v1.Aifs/VerifyAsset", O::kVerifyAsset, "ns", "", "id"},
      {"/aifs.v1.Aifs/BeginTransaction", O::kBeginTransaction, "ns", "", ""},
      {"/aifs.v1.Aifs/CommitTransaction", O::kCommitTransaction, "transaction_id", "", "", true},
      {"/aifs.v1.Aifs/AbortTransaction", O::kCommitTransaction, "transaction_id", "", "", true},
      {"/aifs.v1.Aifs/GetLineage", O::kGetLineage, "ns", "", "id"},
      {"/aifs.v1.Aifs/CreateSnapshot", O::kCreateSnapshot, "ns", "branch", ""},
      {"/aifs.v1.Aifs/GetSnapshot", O::kGetSnapshot, "ns", "", ""},
      {"/aifs.v1.Aifs/ListSnapshots", O::kListSnapshots, "ns", "", ""},
      {"/aifs.v1.Aifs/VerifySnapshot", O::kVerifySnapshot, "ns", "", ""},
      {"/aifs.v1.Aifs/ProveAsset", O::kProveAsset, "ns", "", "id"},
      {"/aifs.v1.Aifs/DiffSnapshots", O::kDiffSnapshots, "ns", "", ""},
      {"/aifs.v1.Aifs/SnapshotLog", O::kSnapshotLog, "ns", "", ""},
      {"/aifs.v1.Aifs/Merge", O::kMerge, "ns", "into", ""},
      {"/aifs.v1.Aifs/Revert", O::kRevert, "ns", "into", ""},
      {"/aifs.v1.Aifs/ResolvePath", O::kResolvePath, "ns", "", ""},
      {"/aifs.v1.Aifs/ListPaths", O::kListPaths, "ns", "", ""},
      {"/aifs.v1.Aifs/BindPath", O::kBindPath, "ns", "", "id"},
      {"/aifs.v1.Aifs/MovePath", O::kMovePath, "ns", "", ""},
      {"/aifs.v1.Aifs/RemovePath", O::kRemovePath, "ns", "", ""},
      {"/aifs.v1.Aifs/Checkout", O::kCheckout, "ns", "", ""},
      {"/aifs.v1.Aifs/CreateBranch", O::kCreateBranch, "ns", "name", ""},
      {"/aifs.v1.Aifs/MoveBranch", O::kMoveBranch, "ns", "name", ""},
      {"/aifs.v1.Aifs/DeleteBranch", O::kDeleteBranch, "ns", "name", ""},
      {"/aifs.v1.Aifs/ListBranches", O::kListBranches, "ns", "", ""},
      {"/aifs.v1.Aifs/BranchLog", O::kBranchLog, "ns", "name", ""},
      {"/aifs.v1.Aifs/CreateTag", O::kCreateTag, "ns", "", ""},
      {"/aifs.v1.Aifs/DeleteTag", O::kDeleteTag, "ns", "", ""},
      {"/aifs.v1.Aifs/ListTags", O::kListTags, "ns", "", ""},
      // An empty ns follows every namespace: store-wide.
      {"/aifs.v1.Aifs/SubscribeEvents", O::kSubscribeEvents, "ns", "", ""},
      {"/aifs.v1.Aifs/CreateSpace", O::kCreateSpace, "ns", "", ""},
      // list or search: a search-only token picks its namespace's space by name.
      {"/aifs.v1.Aifs/ListSpaces", O::kListSpaces, "ns", "", ""},
      {"/aifs.v1.Aifs/VectorSearch", O::kVectorSearch, "ns", "", "like"},
      {"/aifs.v1.Aifs/SignUrl", O::kSignUrl, "ns", "", "id"},
      {"/aifs.v1.Aifs/Aggregate", O::kAggregate, "ns", "", ""},
      {"/aifs.v1.Aifs/GetPrivacyLedger", O::kGetPrivacyLedger, "ns", "", ""},
      // aifs.v1.Admin
      {"/aifs.v1.Admin/CreateNamespace", O::kCreateNamespace, "name", "", ""},
      {"/aifs.v1.Admin/DeleteNamespace", O::kDeleteNamespace, "name", "", ""},
      {"/aifs.v1.Admin/SetNamespacePolicy", O::kSetNamespacePolicy, "name", "", ""},
      {"/aifs.v1.Admin/PruneSnapshots", O::kPruneSnapshots, "ns", "", ""},
      {"/aifs.v1.Admin/ListPendingEmbeddings", O::kListPendingEmbeddings, "ns", "", ""},
      {"/aifs.v1.Admin/ReviewEmbeddings", O::kReviewEmbeddings, "ns", "", ""},
      {"/aifs.v1.Admin/AddOperator", O::kAddOperator, "ns", "", ""},
      {"/aifs.v1.Admin/ListOperators", O::kListOperators, "ns", "", ""},
      {"/aifs.v1.Admin/RemoveOperator", O::kRemoveOperator, "ns", "", ""},
      {"/aifs.v1.Admin/PauseOperator", O::kPauseOperator, "ns", "", ""},
      {"/aifs.v1.Admin/ListOperatorFailures", O::kListOperatorFailures, "ns", "", ""},
      {"/aifs.v1.Admin/ResolveOperatorFailures", O::kResolveOperatorFailures, "ns", "", ""},
      {"/aifs.v1.Admin/DrainOperator", O::kDrainOperator, "ns", "", ""},
      {"/aifs.v1.Admin/CollectGarbage", O::kCollectGarbage, "", "", ""},
      {"/aifs.v1.Admin/RotateKey", O::kRotateKey, "", "", ""},
      {"/aifs.v1.Admin/CheckMetadata", O::kCheckMetadata, "", "", ""},
      {"/aifs.v1.Admin/Backup", O::kBackup, "", "", ""},
      {"/aifs.v1.Admin/RewrapKeys", O::kRewrapKeys, "", "", ""},
      {"/aifs.v1.Admin/Format", O::kFormat, "", "", ""},
      {"/aifs.v1.Admin/FormatHistory", O::kFormatHistory, "", "", ""},
      {"/aifs.v1.Admin/MintToken", O::kMintToken, "", "", ""},
      {"/aifs.v1.Admin/RevokeToken", O::kRevokeToken, "", "", ""},
      {"/aifs.v1.Admin/ListTokenKeys", O::kListTokenKeys, "", "", ""},
      {"/aifs.v1.Admin/RotateTokenRoot", O::kRotateTokenRoot, "", "", ""},
      {"/aifs.v1.Admin/RevokeTokenRoot", O::kRevokeTokenRoot, "", "", ""},
      {"/aifs.v1.Admin/ListUrlKeys", O::kListUrlKeys, "", "", ""},
      {"/aifs.v1.Admin/RotateUrlKey", O::kRotateUrlKey, "", "", ""},
      {"/aifs.v1.Admin/RevokeUrlKey", O::kRevokeUrlKey, "", "", ""},
      // aifs.v1.Introspect, aifs.v1.Metrics
      {"/aifs.v1.Introspect/GetInfo", O::kGetInfo, "", "", ""},
      {"/aifs.v1.Metrics/GetMetrics", O::kReadMetrics, "", "", ""},
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
  if (begin == end) return std::string();  // the Gate answers TOKEN_MISSING
  if (std::next(begin) != end)
    return Status(Code::kUnauthenticated, "TOKEN_MALFORMED", "more than one authorization header");
  const std::string_view value(begin->second.data(), begin->second.size());
  constexpr std::string_view kBearer = "Bearer ";
  if (!value.starts_with(kBearer) || value.size() == kBearer.size())
    return Status(Code::kUnauthenticated, "TOKEN_MALFORMED",
                  "the authorization header is not 'Bearer <token>'");
  return std::string(value.substr(kBearer.size()));
}

Result<std::unique_ptr<CallerApi>> AdmitCall(Gate& gate, TransactionRegistry& transactions,
                                             const grpc::ServerContext& sctx,
                                             std::string_view method,
                                             const google::protobuf::Message& request) {
  const RpcRule* rule = FindRpcRule(method);
  if (!rule)
    return err::Internal("NO_AUTH_RULE", "no authorization rule for " + std::string(method));
  AIFS_ASSIGN_OR_RETURN(std::string token, BearerToken(sctx));
  AIFS_ASSIGN_OR_RETURN(std::unique_ptr<CallerApi> caller, gate.Admit(token));
  CallTarget target;
  if (!rule->ns_field.empty()) {
    target.ns = FieldText(request, rule->ns_field).value_or("");
    if (rule->ns_from_transaction) target.ns = transactions.NamespaceOf(target.ns).value_or("");
  }
  if (!rule->branch_field.empty()) {
    // A snapshot names a branch only when it commits to one.
    auto branch = FieldText(request, rule->branch_field);
    if (branch && (!branch->empty() || rule->operation != O::kCreateSnapshot))
      target.branch = std::move(branch);
  }
  // A malformed ID names no asset here; the call's own parsing refuses it.
  if (!rule->asset_field.empty())
    VisitFieldTexts(request, rule->asset_field, [&](const std::string& raw) {
      if (auto id = AssetId::FromBytes(AsBytes(raw))) target.assets.push_back(*id);
    });
  AIFS_RETURN_IF_ERROR(caller->Allow(rule->operation, target));
  return caller;
}

}  // namespace aifs::server
