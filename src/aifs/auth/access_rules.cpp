#include "aifs/auth/access_rules.h"

namespace aifs::auth {

AccessRule RuleFor(Operation op) {
  using O = Operation;
  using S = Access::Scope;
  // Reads need get (list for listings), changes need the op named after what
  // they change. Namespace-less calls are store-wide: a token limited to
  // namespaces may not make them, except ListNamespaces (filtered to the
  // token's namespaces) and GetInfo/CheckHealth (any valid token: clients
  // call them to connect; they reveal versions and features, no data).
  // One row per operation reads as the table it is:
  // clang-format off
  switch (op) {
    case O::kGetNamespace: return {kOpGet, S::kNamespace};
    case O::kListNamespaces: return {kOpList, S::kListing};
    case O::kPutAsset: return {kOpPut, S::kNamespace};
    case O::kStatAsset: return {kOpGet, S::kNamespace};
    case O::kReadAsset: return {kOpGet, S::kNamespace};
    case O::kReadRanges: return {kOpGet, S::kNamespace};
    case O::kListAssets: return {kOpList, S::kNamespace};
    case O::kDeleteAsset: return {kOpDelete, S::kNamespace};
    case O::kVerifyAsset: return {kOpGet, S::kNamespace};
    case O::kBeginTransaction: return {kOpPut, S::kNamespace};
    case O::kCommitTransaction: return {kOpPut, S::kNamespace};
    case O::kGetLineage: return {kOpGet, S::kNamespace};
    case O::kResolvePath: return {kOpGet, S::kNamespace};
    case O::kListPaths: return {kOpList, S::kNamespace};
    case O::kBindPath: return {kOpPut, S::kNamespace};
    case O::kMovePath: return {kOpPut, S::kNamespace};
    case O::kRemovePath: return {kOpDelete, S::kNamespace};
    case O::kCheckout: return {kOpPut | kOpDelete, S::kNamespace};
    case O::kCreateSnapshot: return {kOpSnapshot, S::kNamespace};
    case O::kGetSnapshot: return {kOpGet, S::kNamespace};
    case O::kListSnapshots: return {kOpList, S::kNamespace};
    case O::kVerifySnapshot: return {kOpGet, S::kNamespace};
    case O::kProveAsset: return {kOpGet, S::kNamespace};
    case O::kDiffSnapshots: return {kOpGet, S::kNamespace};
    case O::kSnapshotLog: return {kOpGet, S::kNamespace};
    case O::kMerge: return {kOpBranch, S::kNamespace};
    case O::kRevert: return {kOpBranch, S::kNamespace};
    case O::kCreateBranch: return {kOpBranch, S::kNamespace};
    case O::kMoveBranch: return {kOpBranch, S::kNamespace};
    case O::kDeleteBranch: return {kOpBranch, S::kNamespace};
    case O::kListBranches: return {kOpList, S::kNamespace};
    case O::kBranchLog: return {kOpGet, S::kNamespace};
    case O::kCreateTag: return {kOpTag, S::kNamespace};
    case O::kDeleteTag: return {kOpTag, S::kNamespace};
    case O::kListTags: return {kOpList, S::kNamespace};
    // An empty namespace follows every namespace: store-wide (CallerApi).
    case O::kSubscribeEvents: return {kOpSubscribe, S::kNamespace};
    case O::kCreateSpace: return {kOpPut, S::kNamespace};
    // list or search: a search-only token picks its namespace's space by name.
    case O::kListSpaces: return {kOpList | kOpSearch, S::kNamespace};
    case O::kVectorSearch: return {kOpSearch, S::kNamespace};
    case O::kSignUrl: return {kOpGet, S::kNamespace};
    // Answers about many assets: its own op, so analysts need no get or list.
    case O::kAggregate: return {kOpQuery, S::kNamespace};
    case O::kGetPrivacyLedger: return {kOpQuery | kOpAdmin, S::kNamespace};
    case O::kCreateNamespace: return {kOpAdmin, S::kNamespace};
    case O::kDeleteNamespace: return {kOpAdmin, S::kNamespace};
    case O::kSetNamespacePolicy: return {kOpAdmin, S::kNamespace};
    case O::kPruneSnapshots: return {kOpAdmin, S::kNamespace};
    case O::kListPendingEmbeddings: return {kOpAdmin, S::kNamespace};
    case O::kReviewEmbeddings: return {kOpAdmin, S::kNamespace};
    // An operator calls servers and runs programs as the server's user:
    // adding one is the store's administrators' business.
    case O::kAddOperator: return {kOpAdmin, S::kStore};
    case O::kListOperators: return {kOpList | kOpAdmin, S::kNamespace};
    case O::kRemoveOperator: return {kOpAdmin, S::kNamespace};
    case O::kPauseOperator: return {kOpAdmin, S::kNamespace};
    case O::kListOperatorFailures: return {kOpList | kOpAdmin, S::kNamespace};
    case O::kResolveOperatorFailures: return {kOpAdmin, S::kNamespace};
    case O::kDrainOperator: return {kOpList | kOpAdmin, S::kNamespace};
    case O::kFormat: return {kOpAdmin, S::kStore};
    case O::kFormatHistory: return {kOpAdmin, S::kStore};
    case O::kCollectGarbage: return {kOpAdmin, S::kStore};
    case O::kCheckMetadata: return {kOpAdmin, S::kStore};
    case O::kBackup: return {kOpAdmin, S::kStore};
    case O::kRotateKey: return {kOpAdmin, S::kStore};
    case O::kRewrapKeys: return {kOpAdmin, S::kStore};
    case O::kMintToken: return {kOpAdmin, S::kStore};
    case O::kRevokeToken: return {kOpAdmin, S::kStore};
    case O::kListTokenKeys: return {kOpAdmin, S::kStore};
    case O::kRotateTokenRoot: return {kOpAdmin, S::kStore};
    case O::kRevokeTokenRoot: return {kOpAdmin, S::kStore};
    case O::kListUrlKeys: return {kOpAdmin, S::kStore};
    case O::kRotateUrlKey: return {kOpAdmin, S::kStore};
    case O::kRevokeUrlKey: return {kOpAdmin, S::kStore};
    case O::kReadMetrics: return {kOpGet, S::kStore};
    case O::kCheckHealth: return {kOpNone, S::kAny};
    case O::kGetInfo: return {kOpNone, S::kAny};
    case O::kDescribeStore: return {kOpNone, S::kAny};  // what GetInfo shows
  }
  // clang-format on
  return {kAllOps + 1, S::kStore};  // unreachable (-Wswitch): an op no token holds
}

Status CheckCaveats(const std::vector<std::string>& caveats, const Access& access) {
  for (const std::string& c : caveats) AIFS_RETURN_IF_ERROR(CheckCaveat(c, access));
  return Status::Ok();
}

}  // namespace aifs::auth
