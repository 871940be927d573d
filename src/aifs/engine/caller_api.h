// CheckedApi: the engine's CallerApi (api/caller.h). It wraps the engine's
// Api for one verified caller and checks every call against that caller's
// caveats with the rule of its Operation (auth/access_rules.h) before the
// engine sees it.
//
// Beyond the yes/no of the rules it keeps three promises of its own:
// listings show only the namespaces the caller may see; tokens it mints (or
// hands out on a root rotation) carry the caller's caveats too, and URLs it
// signs never outlive its token; audit fields (branch/tag `who`, snapshot
// and merge authors, format runs) name the verified caller, with whatever
// the caller claimed kept only as a remark.
//
// Thread-safe: immutable after construction; calls go to the (thread-safe)
// engine. Transactions it begins re-verify the caller's whole token at
// commit, so a token revoked meanwhile commits nothing.
#pragma once

#include <memory>
#include <optional>
#include <set>
#include <string>
#include <vector>

#include "aifs/api/caller.h"

namespace aifs::auth {
class TokenVerifier;
}

namespace aifs {

struct CallerIdentity {
  std::vector<std::string> caveats;  // authenticated: the signature was checked
  std::string key;                   // CallerApi::caller_key()
  std::string name;                  // CallerApi::caller_name()
  // The whole token, re-verified at transaction commit; "" for URL callers.
  std::string token;
  // Only these operations, when set (pre-signed URLs: stat and reads).
  std::optional<std::set<Operation>> only;
  // Reads must name exactly this ref (a URL's as_of), when set.
  std::optional<std::string> pinned_as_of;
};

class CheckedApi final : public CallerApi {
 public:
  // `inner` and `tokens` must outlive this object and every transaction it
  // begins.
  CheckedApi(Api& inner, const auth::TokenVerifier& tokens, CallerIdentity caller)
      : inner_(inner),
        tokens_(tokens),
        caller_(std::make_shared<const CallerIdentity>(std::move(caller))) {}

  Status Allow(Operation op, const CallTarget& target) override;
  const std::string& caller_key() const override { return caller_->key; }
  const std::string& caller_name() const override { return caller_->name; }

  Result<NamespaceInfo> CreateNamespace(const std::string& name, const Metadata& labels) override;
  Result<std::vector<NamespaceInfo>> ListNamespaces() override;
  Result<NamespaceInfo> GetNamespace(const std::string& name) override;
  Status DeleteNamespace(const std::string& name) override;
  Result<NamespaceInfo> SetNamespacePolicy(const std::string& name,
                                           const NamespacePolicy& policy) override;
  Result<std::unique_ptr<AssetWriter>> BeginPut(const PutOptions& options) override;
  Result<AssetInfo> StatAssetAt(const std::string& ns, const AssetId& id, const AsOf& as_of,
                                bool with_chunks) override;
  Status ReadAssetAt(const std::string& ns, const AssetId& id, const AsOf& as_of,
                     const ReadRange& range, const ByteSink& sink) override;
  Status ReadAssetStoredAt(const std::string& ns, const AssetId& id, const AsOf& as_of,
                           const ReadRange& range, const StoredPieceSink& sink) override;
  Status ReadRangesAt(const std::string& ns, const AsOf& as_of, std::span<const RangeRead> ranges,
                      const RangeSink& sink) override;
  Result<AssetPage> ListAssets(const ListOptions& options) override;
  Status DeleteAsset(const std::string& ns, const AssetId& id, bool force) override;
  Result<VerifyReport> VerifyAsset(const std::string& ns, const AssetId& id) override;
  Result<std::unique_ptr<Transaction>> BeginTransaction(const std::string& ns) override;
  Result<LineageGraph> GetLineage(const std::string& ns, const AssetId& id,
                                  LineageDirection direction, int depth) override;
  Result<AssetId> ResolvePath(const std::string& ns, const std::string& path,
                              const AsOf& as_of) override;
  Result<PathPage> ListPaths(const PathListOptions& options) override;
  Status BindPath(const std::string& ns, const std::string& path, const AssetId& id) override;
  Status MovePath(const std::string& ns, const std::string& from, const std::string& to) override;
  Status RemovePath(const std::string& ns, const std::string& path) override;
  Result<CheckoutReport> Checkout(const std::string& ns, const std::string& ref) override;
  Result<SnapshotInfo> CreateSnapshot(const std::string& ns,
                                      const SnapshotOptions& options) override;
  Result<SnapshotInfo> GetSnapshot(const std::string& ns, const std::string& ref) override;
  Result<std::vector<SnapshotInfo>> ListSnapshots(const std::string& ns) override;
  Status VerifySnapshot(const std::string& ns, const std::string& ref) override;
  Result<SnapshotProof> ProveAsset(const std::string& ns, const std::string& ref,
                                   const AssetId& id) override;
  Result<SnapshotProof> ProvePath(const std::string& ns, const std::string& ref,
                                  const std::string& path) override;
  Result<PruneReport> PruneSnapshots(const std::string& ns, const PruneOptions& options) override;
  Result<SnapshotDiff> DiffSnapshots(const std::string& ns, const std::string& a,
                                     const std::string& b) override;
  Result<std::vector<SnapshotInfo>> SnapshotLog(const std::string& ns, const std::string& ref,
                                                size_t limit) override;
  Result<MergeReport> Merge(const MergeOptions& options) override;
  Result<MergeReport> Revert(const MergeOptions& options) override;
  Result<BranchInfo> CreateBranch(const std::string& ns, const std::string& name,
                                  const std::string& ref, const std::string& who) override;
  Result<BranchInfo> MoveBranch(const std::string& ns, const std::string& name,
                                const SnapshotId& expected, const std::string& ref,
                                const std::string& who) override;
  Status DeleteBranch(const std::string& ns, const std::string& name,
                      const std::string& who) override;
  Result<std::vector<BranchInfo>> ListBranches(const std::string& ns) override;
  Result<std::vector<BranchMoveInfo>> BranchLog(const std::string& ns,
                                                const std::string& name) override;
  Result<TagInfo> CreateTag(const std::string& ns, const std::string& name, const std::string& ref,
                            const std::string& who) override;
  Status DeleteTag(const std::string& ns, const std::string& name, const std::string& who) override;
  Result<std::vector<TagInfo>> ListTags(const std::string& ns) override;
  Status SubscribeEvents(const EventQuery& query, const EventSink& sink) override;
  Result<EmbeddingSpace> CreateSpace(const std::string& ns, const EmbeddingSpace& space) override;
  Result<std::vector<EmbeddingSpace>> ListSpaces(const std::string& ns) override;
  Result<VectorResult> VectorSearch(const VectorQuery& query) override;
  Result<std::vector<PendingEmbedding>> ListPendingEmbeddings(const std::string& ns,
                                                              const std::string& space,
                                                              size_t limit) override;
  Result<uint64_t> ReviewEmbeddings(const EmbeddingReview& review) override;
  Result<AggregateAnswer> Aggregate(const AggregateQuery& query) override;
  Result<PrivacyLedgerView> GetPrivacyLedger(const std::string& ns, size_t limit) override;
  Result<OperatorInfo> AddOperator(const OperatorSpec& spec) override;
  Result<std::vector<OperatorInfo>> ListOperators(const std::string& ns) override;
  Status RemoveOperator(const std::string& ns, const std::string& name) override;
  Result<OperatorInfo> PauseOperator(const std::string& ns, const std::string& name,
                                     bool paused) override;
  Result<std::vector<OperatorFailure>> ListOperatorFailures(const std::string& ns,
                                                            const std::string& name,
                                                            size_t limit) override;
  Result<uint64_t> ResolveOperatorFailures(const std::string& ns, const std::string& name,
                                           const std::vector<AssetId>& assets, bool retry) override;
  Result<OperatorInfo> DrainOperator(const std::string& ns, const std::string& name,
                                     std::chrono::milliseconds timeout) override;
  Result<FormatReport> Format(const FormatOptions& options,
                              const FormatProgress& progress) override;
  Result<std::vector<FormatReport>> FormatHistory() override;
  Status CheckHealth() override;
  Result<StoreDescription> DescribeStore() override;
  Result<GcReport> CollectGarbage(bool dry_run) override;
  Result<MetadataCheck> CheckMetadata() override;
  Result<BackupReport> Backup(const std::string& dir) override;
  Result<std::string> RotateKey() override;
  Result<RewrapReport> RewrapKeys(const RewrapOptions& options,
                                  const RewrapProgress& progress) override;
  Result<std::string> MintToken(const std::vector<std::string>& caveats) override;
  Status RevokeToken(const std::string& token_or_id) override;
  Result<TokenKeyring> ListTokenKeys() override;
  Result<RotatedTokenRoot> RotateTokenRoot(const std::vector<std::string>& caveats) override;
  Status RevokeTokenRoot(const std::string& key_id) override;
  Result<SignedUrl> SignUrl(const UrlRequest& request) override;
  Result<std::vector<TokenRootKey>> ListUrlKeys() override;
  Result<std::string> RotateUrlKey() override;
  Status RevokeUrlKey(const std::string& key_id) override;

 private:
  // Allow() for calls that read as of a ref: a URL reads only its own.
  Status AllowRead(Operation op, const std::string& ns, const AsOf& as_of,
                   std::vector<AssetId> assets);
  // The audit name of the caller, with a claimed name kept as a remark.
  std::string Audit(const std::string& claimed) const;
  // `asked` plus the caller's own caveats: what it hands out never reaches
  // further than its own token.
  std::vector<std::string> Inherit(const std::vector<std::string>& asked) const;

  Api& inner_;
  const auth::TokenVerifier& tokens_;
  std::shared_ptr<const CallerIdentity> caller_;
};

}  // namespace aifs
