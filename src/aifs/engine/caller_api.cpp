#include "aifs/engine/caller_api.h"

#include <algorithm>
#include <ctime>

#include "aifs/auth/access_rules.h"
#include "aifs/auth/token_verifier.h"
#include "aifs/engine/privacy_ledger.h"

namespace aifs {

namespace {

using O = Operation;

CallTarget Ns(const std::string& ns) { return CallTarget{.ns = ns}; }
CallTarget NsAsset(const std::string& ns, const AssetId& id) {
  return CallTarget{.ns = ns, .assets = {id}};
}
CallTarget NsBranch(const std::string& ns, const std::string& branch) {
  return CallTarget{.ns = ns, .branch = branch};
}
// A put names its namespace, and the asset it expects to make when it says.
CallTarget PutTarget(const PutOptions& options) {
  CallTarget t = Ns(options.ns);
  if (options.expected_id) t.assets.push_back(*options.expected_id);
  return t;
}

// The earliest `expires <` among the caveats; nullopt when none limits time.
std::optional<int64_t> EarliestExpiry(const std::vector<std::string>& caveats) {
  constexpr std::string_view kExpires = "expires < ";
  std::optional<int64_t> out;
  for (const std::string& c : caveats) {
    if (!c.starts_with(kExpires)) continue;
    auto t = auth::ParseUtc(std::string_view(c).substr(kExpires.size()));
    if (t.ok() && (!out || *t < *out)) out = *t;
  }
  return out;
}

// A transaction of a checked caller: each put is checked like a single put,
// and the commit re-verifies the caller's whole token (revocations count).
class CheckedTransaction final : public Transaction {
 public:
  CheckedTransaction(std::unique_ptr<Transaction> inner, CheckedApi& owner_checks,
                     const auth::TokenVerifier& tokens, std::string ns, std::string token)
      : inner_(std::move(inner)),
        checks_(owner_checks),
        tokens_(tokens),
        ns_(std::move(ns)),
        token_(std::move(token)) {}

  Result<std::unique_ptr<AssetWriter>> BeginPut(const PutOptions& options) override {
    AIFS_RETURN_IF_ERROR(checks_.Allow(O::kPutAsset, PutTarget(options)));
    return inner_->BeginPut(options);
  }

  Result<std::vector<PutResult>> Commit() override {
    AIFS_RETURN_IF_ERROR(tokens_.Authenticate(token_).status());
    AIFS_RETURN_IF_ERROR(checks_.Allow(O::kCommitTransaction, Ns(ns_)));
    return inner_->Commit();
  }

 private:
  std::unique_ptr<Transaction> inner_;
  CheckedApi checks_;  // a copy: the transaction outlives the call that began it
  const auth::TokenVerifier& tokens_;
  std::string ns_;
  std::string token_;
};

}  // namespace

Status CheckedApi::Allow(Operation op, const CallTarget& target) {
  if (caller_->only && !caller_->only->contains(op))
    return Status(Code::kPermissionDenied, "OPERATION_NOT_ALLOWED",
                  std::string(OperationName(op)) + " is not allowed with this credential");
  const auth::AccessRule rule = auth::RuleFor(op);
  auth::Access access;
  access.op = rule.ops;
  access.scope = rule.scope;
  access.ns = target.ns;
  // Events of every namespace are a store-wide read.
  if (op == O::kSubscribeEvents && target.ns.empty()) access.scope = auth::Access::Scope::kStore;
  access.branch = target.branch;
  for (const AssetId& id : target.assets) access.assets.push_back(id.ToHex());
  std::sort(access.assets.begin(), access.assets.end());
  access.assets.erase(std::unique(access.assets.begin(), access.assets.end()), access.assets.end());
  access.now_unix_s = static_cast<int64_t>(std::time(nullptr));
  return auth::CheckCaveats(caller_->caveats, access);
}

Status CheckedApi::AllowRead(Operation op, const std::string& ns, const AsOf& as_of,
                             std::vector<AssetId> assets) {
  if (caller_->pinned_as_of && *caller_->pinned_as_of != as_of)
    return Status(Code::kPermissionDenied, "WRONG_REF",
                  "this credential reads only as of '" + *caller_->pinned_as_of + "'");
  return Allow(op, CallTarget{.ns = ns, .assets = std::move(assets)});
}

std::string CheckedApi::Audit(const std::string& claimed) const {
  if (claimed.empty() || claimed == caller_->name) return caller_->name;
  return caller_->name + " (claims " + claimed + ")";
}

std::vector<std::string> CheckedApi::Inherit(const std::vector<std::string>& asked) const {
  std::vector<std::string> out = asked;
  out.insert(out.end(), caller_->caveats.begin(), caller_->caveats.end());
  return out;
}

// ---- namespaces ----------------------------------------------------------

Result<NamespaceInfo> CheckedApi::CreateNamespace(const std::string& name, const Metadata& labels) {
  AIFS_RETURN_IF_ERROR(Allow(O::kCreateNamespace, Ns(name)));
  return inner_.CreateNamespace(name, labels);
}

Result<std::vector<NamespaceInfo>> CheckedApi::ListNamespaces() {
  AIFS_RETURN_IF_ERROR(Allow(O::kListNamespaces, {}));
  AIFS_ASSIGN_OR_RETURN(auto all, inner_.ListNamespaces());
  std::erase_if(all, [&](const NamespaceInfo& ns) {
    return !auth::NamespaceAllowed(caller_->caveats, ns.name);
  });
  return all;
}

Result<NamespaceInfo> CheckedApi::GetNamespace(const std::string& name) {
  AIFS_RETURN_IF_ERROR(Allow(O::kGetNamespace, Ns(name)));
  return inner_.GetNamespace(name);
}

Status CheckedApi::DeleteNamespace(const std::string& name) {
  AIFS_RETURN_IF_ERROR(Allow(O::kDeleteNamespace, Ns(name)));
  return inner_.DeleteNamespace(name);
}

Result<NamespaceInfo> CheckedApi::SetNamespacePolicy(const std::string& name,
                                                     const NamespacePolicy& policy) {
  AIFS_RETURN_IF_ERROR(Allow(O::kSetNamespacePolicy, Ns(name)));
  return inner_.SetNamespacePolicy(name, policy);
}

// ---- assets --------------------------------------------------------------

Result<std::unique_ptr<AssetWriter>> CheckedApi::BeginPut(const PutOptions& options) {
  AIFS_RETURN_IF_ERROR(Allow(O::kPutAsset, PutTarget(options)));
  return inner_.BeginPut(options);
}

Result<AssetInfo> CheckedApi::StatAssetAt(const std::string& ns, const AssetId& id,
                                          const AsOf& as_of, bool with_chunks) {
  AIFS_RETURN_IF_ERROR(AllowRead(O::kStatAsset, ns, as_of, {id}));
  return inner_.StatAssetAt(ns, id, as_of, with_chunks);
}

Status CheckedApi::ReadAssetAt(const std::string& ns, const AssetId& id, const AsOf& as_of,
                               const ReadRange& range, const ByteSink& sink) {
  AIFS_RETURN_IF_ERROR(AllowRead(O::kReadAsset, ns, as_of, {id}));
  return inner_.ReadAssetAt(ns, id, as_of, range, sink);
}

Status CheckedApi::ReadAssetStoredAt(const std::string& ns, const AssetId& id, const AsOf& as_of,
                                     const ReadRange& range, const StoredPieceSink& sink) {
  AIFS_RETURN_IF_ERROR(AllowRead(O::kReadAsset, ns, as_of, {id}));
  return inner_.ReadAssetStoredAt(ns, id, as_of, range, sink);
}

Status CheckedApi::ReadRangesAt(const std::string& ns, const AsOf& as_of,
                                std::span<const RangeRead> ranges, const RangeSink& sink) {
  std::vector<AssetId> ids;
  ids.reserve(ranges.size());
  for (const RangeRead& r : ranges)
    if (ids.empty() || ids.back() != r.id) ids.push_back(r.id);
  AIFS_RETURN_IF_ERROR(AllowRead(O::kReadRanges, ns, as_of, std::move(ids)));
  return inner_.ReadRangesAt(ns, as_of, ranges, sink);
}

Result<AssetPage> CheckedApi::ListAssets(const ListOptions& options) {
  AIFS_RETURN_IF_ERROR(Allow(O::kListAssets, Ns(options.ns)));
  return inner_.ListAssets(options);
}

Status CheckedApi::DeleteAsset(const std::string& ns, const AssetId& id, bool force) {
  AIFS_RETURN_IF_ERROR(Allow(O::kDeleteAsset, NsAsset(ns, id)));
  return inner_.DeleteAsset(ns, id, force);
}

Result<VerifyReport> CheckedApi::VerifyAsset(const std::string& ns, const AssetId& id) {
  AIFS_RETURN_IF_ERROR(Allow(O::kVerifyAsset, NsAsset(ns, id)));
  return inner_.VerifyAsset(ns, id);
}

Result<std::unique_ptr<Transaction>> CheckedApi::BeginTransaction(const std::string& ns) {
  AIFS_RETURN_IF_ERROR(Allow(O::kBeginTransaction, Ns(ns)));
  AIFS_ASSIGN_OR_RETURN(auto txn, inner_.BeginTransaction(ns));
  return std::unique_ptr<Transaction>(
      std::make_unique<CheckedTransaction>(std::move(txn), *this, tokens_, ns, caller_->token));
}

Result<LineageGraph> CheckedApi::GetLineage(const std::string& ns, const AssetId& id,
                                            LineageDirection direction, int depth) {
  AIFS_RETURN_IF_ERROR(Allow(O::kGetLineage, NsAsset(ns, id)));
  return inner_.GetLineage(ns, id, direction, depth);
}

// ---- paths ---------------------------------------------------------------

Result<AssetId> CheckedApi::ResolvePath(const std::string& ns, const std::string& path,
                                        const AsOf& as_of) {
  AIFS_RETURN_IF_ERROR(Allow(O::kResolvePath, Ns(ns)));
  return inner_.ResolvePath(ns, path, as_of);
}

Result<PathPage> CheckedApi::ListPaths(const PathListOptions& options) {
  AIFS_RETURN_IF_ERROR(Allow(O::kListPaths, Ns(options.ns)));
  return inner_.ListPaths(options);
}

Status CheckedApi::BindPath(const std::string& ns, const std::string& path, const AssetId& id) {
  AIFS_RETURN_IF_ERROR(Allow(O::kBindPath, NsAsset(ns, id)));
  return inner_.BindPath(ns, path, id);
}

Status CheckedApi::MovePath(const std::string& ns, const std::string& from, const std::string& to) {
  AIFS_RETURN_IF_ERROR(Allow(O::kMovePath, Ns(ns)));
  return inner_.MovePath(ns, from, to);
}

Status CheckedApi::RemovePath(const std::string& ns, const std::string& path) {
  AIFS_RETURN_IF_ERROR(Allow(O::kRemovePath, Ns(ns)));
  return inner_.RemovePath(ns, path);
}

Result<CheckoutReport> CheckedApi::Checkout(const std::string& ns, const std::string& ref) {
  AIFS_RETURN_IF_ERROR(Allow(O::kCheckout, Ns(ns)));
  return inner_.Checkout(ns, ref);
}

// ---- snapshots and history -----------------------------------------------

Result<SnapshotInfo> CheckedApi::CreateSnapshot(const std::string& ns,
                                                const SnapshotOptions& options) {
  CallTarget t = Ns(ns);
  if (!options.branch.empty()) t.branch = options.branch;
  AIFS_RETURN_IF_ERROR(Allow(O::kCreateSnapshot, t));
  SnapshotOptions o = options;
  o.author = Audit(options.author);
  return inner_.CreateSnapshot(ns, o);
}

Result<SnapshotInfo> CheckedApi::GetSnapshot(const std::string& ns, const std::string& ref) {
  AIFS_RETURN_IF_ERROR(Allow(O::kGetSnapshot, Ns(ns)));
  return inner_.GetSnapshot(ns, ref);
}

Result<std::vector<SnapshotInfo>> CheckedApi::ListSnapshots(const std::string& ns) {
  AIFS_RETURN_IF_ERROR(Allow(O::kListSnapshots, Ns(ns)));
  return inner_.ListSnapshots(ns);
}

Status CheckedApi::VerifySnapshot(const std::string& ns, const std::string& ref) {
  AIFS_RETURN_IF_ERROR(Allow(O::kVerifySnapshot, Ns(ns)));
  return inner_.VerifySnapshot(ns, ref);
}

Result<SnapshotProof> CheckedApi::ProveAsset(const std::string& ns, const std::string& ref,
                                             const AssetId& id) {
  AIFS_RETURN_IF_ERROR(Allow(O::kProveAsset, NsAsset(ns, id)));
  return inner_.ProveAsset(ns, ref, id);
}

Result<SnapshotProof> CheckedApi::ProvePath(const std::string& ns, const std::string& ref,
                                            const std::string& path) {
  AIFS_RETURN_IF_ERROR(Allow(O::kProveAsset, Ns(ns)));
  return inner_.ProvePath(ns, ref, path);
}

Result<PruneReport> CheckedApi::PruneSnapshots(const std::string& ns, const PruneOptions& options) {
  AIFS_RETURN_IF_ERROR(Allow(O::kPruneSnapshots, Ns(ns)));
  return inner_.PruneSnapshots(ns, options);
}

Result<SnapshotDiff> CheckedApi::DiffSnapshots(const std::string& ns, const std::string& a,
                                               const std::string& b) {
  AIFS_RETURN_IF_ERROR(Allow(O::kDiffSnapshots, Ns(ns)));
  return inner_.DiffSnapshots(ns, a, b);
}

Result<std::vector<SnapshotInfo>> CheckedApi::SnapshotLog(const std::string& ns,
                                                          const std::string& ref, size_t limit) {
  AIFS_RETURN_IF_ERROR(Allow(O::kSnapshotLog, Ns(ns)));
  return inner_.SnapshotLog(ns, ref, limit);
}

Result<MergeReport> CheckedApi::Merge(const MergeOptions& options) {
  AIFS_RETURN_IF_ERROR(Allow(O::kMerge, NsBranch(options.ns, options.into)));
  MergeOptions o = options;
  o.author = Audit(options.author);
  return inner_.Merge(o);
}

Result<MergeReport> CheckedApi::Revert(const MergeOptions& options) {
  AIFS_RETURN_IF_ERROR(Allow(O::kRevert, NsBranch(options.ns, options.into)));
  MergeOptions o = options;
  o.author = Audit(options.author);
  return inner_.Revert(o);
}

Result<BranchInfo> CheckedApi::CreateBranch(const std::string& ns, const std::string& name,
                                            const std::string& ref, const std::string& who) {
  AIFS_RETURN_IF_ERROR(Allow(O::kCreateBranch, NsBranch(ns, name)));
  return inner_.CreateBranch(ns, name, ref, Audit(who));
}

Result<BranchInfo> CheckedApi::MoveBranch(const std::string& ns, const std::string& name,
                                          const SnapshotId& expected, const std::string& ref,
                                          const std::string& who) {
  AIFS_RETURN_IF_ERROR(Allow(O::kMoveBranch, NsBranch(ns, name)));
  return inner_.MoveBranch(ns, name, expected, ref, Audit(who));
}

Status CheckedApi::DeleteBranch(const std::string& ns, const std::string& name,
                                const std::string& who) {
  AIFS_RETURN_IF_ERROR(Allow(O::kDeleteBranch, NsBranch(ns, name)));
  return inner_.DeleteBranch(ns, name, Audit(who));
}

Result<std::vector<BranchInfo>> CheckedApi::ListBranches(const std::string& ns) {
  AIFS_RETURN_IF_ERROR(Allow(O::kListBranches, Ns(ns)));
  return inner_.ListBranches(ns);
}

Result<std::vector<BranchMoveInfo>> CheckedApi::BranchLog(const std::string& ns,
                                                          const std::string& name) {
  AIFS_RETURN_IF_ERROR(Allow(O::kBranchLog, NsBranch(ns, name)));
  return inner_.BranchLog(ns, name);
}

Result<TagInfo> CheckedApi::CreateTag(const std::string& ns, const std::string& name,
                                      const std::string& ref, const std::string& who) {
  AIFS_RETURN_IF_ERROR(Allow(O::kCreateTag, Ns(ns)));
  return inner_.CreateTag(ns, name, ref, Audit(who));
}

Status CheckedApi::DeleteTag(const std::string& ns, const std::string& name,
                             const std::string& who) {
  AIFS_RETURN_IF_ERROR(Allow(O::kDeleteTag, Ns(ns)));
  return inner_.DeleteTag(ns, name, Audit(who));
}

Result<std::vector<TagInfo>> CheckedApi::ListTags(const std::string& ns) {
  AIFS_RETURN_IF_ERROR(Allow(O::kListTags, Ns(ns)));
  return inner_.ListTags(ns);
}

// ---- events and vectors --------------------------------------------------

Status CheckedApi::SubscribeEvents(const EventQuery& query, const EventSink& sink) {
  AIFS_RETURN_IF_ERROR(Allow(O::kSubscribeEvents, Ns(query.ns)));
  return inner_.SubscribeEvents(query, sink);
}

Result<EmbeddingSpace> CheckedApi::CreateSpace(const std::string& ns, const EmbeddingSpace& space) {
  AIFS_RETURN_IF_ERROR(Allow(O::kCreateSpace, Ns(ns)));
  return inner_.CreateSpace(ns, space);
}

Result<std::vector<EmbeddingSpace>> CheckedApi::ListSpaces(const std::string& ns) {
  AIFS_RETURN_IF_ERROR(Allow(O::kListSpaces, Ns(ns)));
  return inner_.ListSpaces(ns);
}

Result<VectorResult> CheckedApi::VectorSearch(const VectorQuery& query) {
  CallTarget t = Ns(query.ns);
  if (query.like) t.assets.push_back(*query.like);
  AIFS_RETURN_IF_ERROR(Allow(O::kVectorSearch, t));
  return inner_.VectorSearch(query);
}

Result<std::vector<PendingEmbedding>> CheckedApi::ListPendingEmbeddings(const std::string& ns,
                                                                        const std::string& space,
                                                                        size_t limit) {
  AIFS_RETURN_IF_ERROR(Allow(O::kListPendingEmbeddings, Ns(ns)));
  return inner_.ListPendingEmbeddings(ns, space, limit);
}

Result<uint64_t> CheckedApi::ReviewEmbeddings(const EmbeddingReview& review) {
  AIFS_RETURN_IF_ERROR(Allow(O::kReviewEmbeddings, Ns(review.ns)));
  return inner_.ReviewEmbeddings(review);
}

// ---- aggregate queries ---------------------------------------------------

Result<AggregateAnswer> CheckedApi::Aggregate(const AggregateQuery& query) {
  AIFS_RETURN_IF_ERROR(Allow(O::kAggregate, Ns(query.ns)));
  AggregateQuery q = query;
  q.who = Audit(query.who);
  // The payer is the verified credential; each `dp_epsilon` caveat has its
  // own account, named by the caller key and the caveats up to and including
  // it: every token attenuated from one that carries the caveat shares the
  // account (docs/privacy.md).
  q.spender = PrivacySpender{.key = caller_->key};
  std::string chain = caller_->key;
  for (const std::string& caveat : caller_->caveats) {
    chain.push_back('\0');
    chain += caveat;
    if (auto limit = auth::DpEpsilonLimit(caveat))
      q.spender.caps.push_back({PrivacyLedger::CallerHash(chain), *limit});
  }
  return inner_.Aggregate(q);
}

Result<PrivacyLedgerView> CheckedApi::GetPrivacyLedger(const std::string& ns, size_t limit) {
  AIFS_RETURN_IF_ERROR(Allow(O::kGetPrivacyLedger, Ns(ns)));
  return inner_.GetPrivacyLedger(ns, limit);
}

// ---- ingest operators ----------------------------------------------------

Result<OperatorInfo> CheckedApi::AddOperator(const OperatorSpec& spec) {
  AIFS_RETURN_IF_ERROR(Allow(O::kAddOperator, Ns(spec.ns)));
  OperatorSpec s = spec;
  s.who = Audit(spec.who);
  return inner_.AddOperator(s);
}

Result<std::vector<OperatorInfo>> CheckedApi::ListOperators(const std::string& ns) {
  AIFS_RETURN_IF_ERROR(Allow(O::kListOperators, Ns(ns)));
  return inner_.ListOperators(ns);
}

Status CheckedApi::RemoveOperator(const std::string& ns, const std::string& name) {
  AIFS_RETURN_IF_ERROR(Allow(O::kRemoveOperator, Ns(ns)));
  return inner_.RemoveOperator(ns, name);
}

Result<OperatorInfo> CheckedApi::PauseOperator(const std::string& ns, const std::string& name,
                                               bool paused) {
  AIFS_RETURN_IF_ERROR(Allow(O::kPauseOperator, Ns(ns)));
  return inner_.PauseOperator(ns, name, paused);
}

Result<std::vector<OperatorFailure>> CheckedApi::ListOperatorFailures(const std::string& ns,
                                                                      const std::string& name,
                                                                      size_t limit) {
  AIFS_RETURN_IF_ERROR(Allow(O::kListOperatorFailures, Ns(ns)));
  return inner_.ListOperatorFailures(ns, name, limit);
}

Result<uint64_t> CheckedApi::ResolveOperatorFailures(const std::string& ns, const std::string& name,
                                                     const std::vector<AssetId>& assets,
                                                     bool retry) {
  AIFS_RETURN_IF_ERROR(Allow(O::kResolveOperatorFailures, Ns(ns)));
  return inner_.ResolveOperatorFailures(ns, name, assets, retry);
}

Result<OperatorInfo> CheckedApi::DrainOperator(const std::string& ns, const std::string& name,
                                               std::chrono::milliseconds timeout) {
  AIFS_RETURN_IF_ERROR(Allow(O::kDrainOperator, Ns(ns)));
  return inner_.DrainOperator(ns, name, timeout);
}

// ---- maintenance ---------------------------------------------------------

Result<FormatReport> CheckedApi::Format(const FormatOptions& options,
                                        const FormatProgress& progress) {
  AIFS_RETURN_IF_ERROR(Allow(O::kFormat, {}));
  FormatOptions o = options;
  o.who = Audit(options.who);
  return inner_.Format(o, progress);
}

Result<std::vector<FormatReport>> CheckedApi::FormatHistory() {
  AIFS_RETURN_IF_ERROR(Allow(O::kFormatHistory, {}));
  return inner_.FormatHistory();
}

Status CheckedApi::CheckHealth() {
  AIFS_RETURN_IF_ERROR(Allow(O::kCheckHealth, {}));
  return inner_.CheckHealth();
}

Result<StoreDescription> CheckedApi::DescribeStore() {
  AIFS_RETURN_IF_ERROR(Allow(O::kDescribeStore, {}));
  return inner_.DescribeStore();
}

Result<GcReport> CheckedApi::CollectGarbage(bool dry_run) {
  AIFS_RETURN_IF_ERROR(Allow(O::kCollectGarbage, {}));
  return inner_.CollectGarbage(dry_run);
}

Result<MetadataCheck> CheckedApi::CheckMetadata() {
  AIFS_RETURN_IF_ERROR(Allow(O::kCheckMetadata, {}));
  return inner_.CheckMetadata();
}

Result<BackupReport> CheckedApi::Backup(const std::string& dir) {
  AIFS_RETURN_IF_ERROR(Allow(O::kBackup, {}));
  return inner_.Backup(dir);
}

Result<std::string> CheckedApi::RotateKey() {
  AIFS_RETURN_IF_ERROR(Allow(O::kRotateKey, {}));
  return inner_.RotateKey();
}

Result<RewrapReport> CheckedApi::RewrapKeys(const RewrapOptions& options,
                                            const RewrapProgress& progress) {
  AIFS_RETURN_IF_ERROR(Allow(O::kRewrapKeys, {}));
  return inner_.RewrapKeys(options, progress);
}

// ---- tokens and URLs -----------------------------------------------------

Result<std::string> CheckedApi::MintToken(const std::vector<std::string>& caveats) {
  AIFS_RETURN_IF_ERROR(Allow(O::kMintToken, {}));
  return inner_.MintToken(Inherit(caveats));
}

Status CheckedApi::RevokeToken(const std::string& token_or_id) {
  AIFS_RETURN_IF_ERROR(Allow(O::kRevokeToken, {}));
  return inner_.RevokeToken(token_or_id);
}

Result<TokenKeyring> CheckedApi::ListTokenKeys() {
  AIFS_RETURN_IF_ERROR(Allow(O::kListTokenKeys, {}));
  return inner_.ListTokenKeys();
}

Result<RotatedTokenRoot> CheckedApi::RotateTokenRoot(const std::vector<std::string>& caveats) {
  AIFS_RETURN_IF_ERROR(Allow(O::kRotateTokenRoot, {}));
  return inner_.RotateTokenRoot(Inherit(caveats));
}

Status CheckedApi::RevokeTokenRoot(const std::string& key_id) {
  AIFS_RETURN_IF_ERROR(Allow(O::kRevokeTokenRoot, {}));
  return inner_.RevokeTokenRoot(key_id);
}

Result<SignedUrl> CheckedApi::SignUrl(const UrlRequest& request) {
  AIFS_RETURN_IF_ERROR(AllowRead(O::kSignUrl, request.ns, request.as_of, {request.id}));
  // A URL is a bearer credential too: it may not outlive the token behind it.
  if (auto until = EarliestExpiry(caller_->caveats);
      until && static_cast<int64_t>(std::time(nullptr)) + request.expires_s > *until)
    return Status(Code::kPermissionDenied, "URL_OUTLIVES_TOKEN",
                  "the URL would expire after the token that signs it (" + auth::FormatUtc(*until) +
                      "); ask for a shorter --expires");
  return inner_.SignUrl(request);
}

Result<std::vector<TokenRootKey>> CheckedApi::ListUrlKeys() {
  AIFS_RETURN_IF_ERROR(Allow(O::kListUrlKeys, {}));
  return inner_.ListUrlKeys();
}

Result<std::string> CheckedApi::RotateUrlKey() {
  AIFS_RETURN_IF_ERROR(Allow(O::kRotateUrlKey, {}));
  return inner_.RotateUrlKey();
}

Status CheckedApi::RevokeUrlKey(const std::string& key_id) {
  AIFS_RETURN_IF_ERROR(Allow(O::kRevokeUrlKey, {}));
  return inner_.RevokeUrlKey(key_id);
}

}  // namespace aifs
