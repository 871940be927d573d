// Operation: every thing a caller can ask of AIFS, by name: each Api method,
// and the few things network faces serve themselves (their metrics, their
// introspection). Authorization rules are keyed by it (auth/access_rules.h),
// so every face (gRPC, HTTP, FUSE, CLI) is judged by the same table.
#pragma once

#include <string_view>

namespace aifs {

// X(enumerator, "name"). The name is what logs, docs and error messages say.
#define AIFS_OPERATIONS(X)                               \
  X(kCreateNamespace, "CreateNamespace")                 \
  X(kListNamespaces, "ListNamespaces")                   \
  X(kGetNamespace, "GetNamespace")                       \
  X(kDeleteNamespace, "DeleteNamespace")                 \
  X(kSetNamespacePolicy, "SetNamespacePolicy")           \
  X(kPutAsset, "PutAsset")                               \
  X(kStatAsset, "StatAsset")                             \
  X(kReadAsset, "ReadAsset")                             \
  X(kReadRanges, "ReadRanges")                           \
  X(kListAssets, "ListAssets")                           \
  X(kDeleteAsset, "DeleteAsset")                         \
  X(kVerifyAsset, "VerifyAsset")                         \
  X(kBeginTransaction, "BeginTransaction")               \
  X(kCommitTransaction, "CommitTransaction")             \
  X(kGetLineage, "GetLineage")                           \
  X(kResolvePath, "ResolvePath")                         \
  X(kListPaths, "ListPaths")                             \
  X(kBindPath, "BindPath")                               \
  X(kMovePath, "MovePath")                               \
  X(kRemovePath, "RemovePath")                           \
  X(kCheckout, "Checkout")                               \
  X(kCreateSnapshot, "CreateSnapshot")                   \
  X(kGetSnapshot, "GetSnapshot")                         \
  X(kListSnapshots, "ListSnapshots")                     \
  X(kVerifySnapshot, "VerifySnapshot")                   \
  X(kProveAsset, "ProveAsset")                           \
  X(kPruneSnapshots, "PruneSnapshots")                   \
  X(kDiffSnapshots, "DiffSnapshots")                     \
  X(kSnapshotLog, "SnapshotLog")                         \
  X(kMerge, "Merge")                                     \
  X(kRevert, "Revert")                                   \
  X(kCreateBranch, "CreateBranch")                       \
  X(kMoveBranch, "MoveBranch")                           \
  X(kDeleteBranch, "DeleteBranch")                       \
  X(kListBranches, "ListBranches")                       \
  X(kBranchLog, "BranchLog")                             \
  X(kCreateTag, "CreateTag")                             \
  X(kDeleteTag, "DeleteTag")                             \
  X(kListTags, "ListTags")                               \
  X(kSubscribeEvents, "SubscribeEvents")                 \
  X(kCreateSpace, "CreateSpace")                         \
  X(kListSpaces, "ListSpaces")                           \
  X(kVectorSearch, "VectorSearch")                       \
  X(kListPendingEmbeddings, "ListPendingEmbeddings")     \
  X(kReviewEmbeddings, "ReviewEmbeddings")               \
  X(kAggregate, "Aggregate")                             \
  X(kGetPrivacyLedger, "GetPrivacyLedger")               \
  X(kAddOperator, "AddOperator")                         \
  X(kListOperators, "ListOperators")                     \
  X(kRemoveOperator, "RemoveOperator")                   \
  X(kPauseOperator, "PauseOperator")                     \
  X(kListOperatorFailures, "ListOperatorFailures")       \
  X(kResolveOperatorFailures, "ResolveOperatorFailures") \
  X(kDrainOperator, "DrainOperator")                     \
  X(kFormat, "Format")                                   \
  X(kFormatHistory, "FormatHistory")                     \
  X(kCheckHealth, "CheckHealth")                         \
  X(kDescribeStore, "DescribeStore")                     \
  X(kCollectGarbage, "CollectGarbage")                   \
  X(kCheckMetadata, "CheckMetadata")                     \
  X(kBackup, "Backup")                                   \
  X(kRotateKey, "RotateKey")                             \
  X(kRewrapKeys, "RewrapKeys")                           \
  X(kMintToken, "MintToken")                             \
  X(kRevokeToken, "RevokeToken")                         \
  X(kListTokenKeys, "ListTokenKeys")                     \
  X(kRotateTokenRoot, "RotateTokenRoot")                 \
  X(kRevokeTokenRoot, "RevokeTokenRoot")                 \
  X(kSignUrl, "SignUrl")                                 \
  X(kListUrlKeys, "ListUrlKeys")                         \
  X(kRotateUrlKey, "RotateUrlKey")                       \
  X(kRevokeUrlKey, "RevokeUrlKey")                       \
  /* served by the faces themselves */                   \
  X(kReadMetrics, "ReadMetrics")                         \
  X(kGetInfo, "GetInfo")

enum class Operation {
#define AIFS_OPERATION_ENUM(e, name) e,
  AIFS_OPERATIONS(AIFS_OPERATION_ENUM)
#undef AIFS_OPERATION_ENUM
};

inline constexpr std::string_view OperationName(Operation op) {
  switch (op) {
#define AIFS_OPERATION_NAME(e, name) \
  case Operation::e:                 \
    return name;
    AIFS_OPERATIONS(AIFS_OPERATION_NAME)
#undef AIFS_OPERATION_NAME
  }
  return "?";
}

}  // namespace aifs
