// aifs::Api: everything a client can ask of AIFS, written once for both the
// in-process engine (embedded mode) and the gRPC client (remote mode). The
// CLI and other faces are written against this interface only.
//
// Every call is thread-safe and reports failure as a Status with a stable
// reason; nothing partial ever becomes visible.
#pragma once

#include <chrono>
#include <functional>
#include <memory>

#include "aifs/api/aggregate_query.h"
#include "aifs/api/operator_spec.h"
#include "aifs/api/types.h"

namespace aifs {

// A put in progress. Write() and WriteFrom() stream the bytes (any split,
// either or both); Commit() makes the asset visible atomically and returns
// its ID. Destroying an uncommitted writer aborts it: nothing becomes
// visible. After an error from any call, only destruction is meaningful.
// Not thread-safe: one thread at a time.
class AssetWriter {
 public:
  virtual ~AssetWriter() = default;
  // Appends `data`; the caller may reuse it once this returns.
  virtual Status Write(ByteSpan data) = 0;
  // Appends what `fill` produces until it returns 0 (the source's end) or an
  // error (returned as is). `fill` writes at most room.size() bytes to the
  // front of `room` and returns how many (more: INTERNAL FILL_OVERRUN);
  // `room` is the writer's own memory (the engine's writer lends its block,
  // the gRPC client its next data frame: no copy between the source and the
  // chunks or the wire).
  using FillFn = std::function<Result<size_t>(MutableByteSpan room)>;
  virtual Status WriteFrom(const FillFn& fill) = 0;
  virtual Result<PutResult> Commit() = 0;
};

// Puts that become visible together, or not at all: Commit() publishes every
// asset written through the transaction in one atomic step; destroying an
// uncommitted transaction (or a crash) aborts it. Assets in it may name each
// other as parents (a parent must be put before its child).
class Transaction {
 public:
  virtual ~Transaction() = default;
  // options.ns must be the transaction's namespace. The writer's Commit()
  // returns the ID with `staged` set; nothing is visible yet.
  virtual Result<std::unique_ptr<AssetWriter>> BeginPut(const PutOptions& options) = 0;
  virtual Result<std::vector<PutResult>> Commit() = 0;
};

class Api {
 public:
  virtual ~Api() = default;

  // Namespaces
  virtual Result<NamespaceInfo> CreateNamespace(const std::string& name,
                                                const Metadata& labels) = 0;
  virtual Result<std::vector<NamespaceInfo>> ListNamespaces() = 0;
  virtual Result<NamespaceInfo> GetNamespace(const std::string& name) = 0;
  // Only an empty namespace can be deleted (FAILED_PRECONDITION NAMESPACE_NOT_EMPTY).
  virtual Status DeleteNamespace(const std::string& name) = 0;
  // Replaces the namespace's policy; quotas apply to later commits.
  virtual Result<NamespaceInfo> SetNamespacePolicy(const std::string& name,
                                                   const NamespacePolicy& policy) = 0;

  // Assets
  virtual Result<std::unique_ptr<AssetWriter>> BeginPut(const PutOptions& options) = 0;
  // `as_of` "": the live head; else a snapshot ID, branch or tag, which must
  // hold the asset (NOT_FOUND ASSET_NOT_IN_SNAPSHOT): an asset removed from
  // the head since stays readable through every snapshot that holds it.
  virtual Result<AssetInfo> StatAssetAt(const std::string& ns, const AssetId& id, const AsOf& as_of,
                                        bool with_chunks) = 0;
  Result<AssetInfo> StatAsset(const std::string& ns, const AssetId& id, bool with_chunks) {
    return StatAssetAt(ns, id, "", with_chunks);
  }
  // Streams bytes [offset, offset+length) clipped to the asset; offset beyond
  // the end is OUT_OF_RANGE. Every chunk is verified; a full read also
  // verifies the asset ID.
  virtual Status ReadAssetAt(const std::string& ns, const AssetId& id, const AsOf& as_of,
                             const ReadRange& range, const ByteSink& sink) = 0;
  Status ReadAsset(const std::string& ns, const AssetId& id, const ReadRange& range,
                   const ByteSink& sink) {
    return ReadAssetAt(ns, id, "", range, sink);
  }
  // ReadAssetAt for a face that forwards the bytes to a client who decodes
  // them (the gRPC server): the same bytes, but segments the store keeps
  // zstd-compressed that lie wholly inside a large range (the whole asset, or
  // kStoredReadMinBytes and more) come as stored, authenticated and decrypted
  // but not decompressed. Every segment is still authenticated, so nothing
  // unauthenticated is delivered; the BLAKE3 checks that need the plaintext
  // are the receiver's: whoever decodes a whole-asset read must hash it and
  // compare it with `id` (DATA_LOSS ASSET_CORRUPT). Errors as ReadAssetAt.
  // This default delivers ReadAssetAt's (checked) plaintext as plain pieces.
  virtual Status ReadAssetStoredAt(const std::string& ns, const AssetId& id, const AsOf& as_of,
                                   const ReadRange& range, const StoredPieceSink& sink) {
    return ReadAssetAt(ns, id, as_of, range, [&](ByteSpan data) {
      return sink(StoredPiece{data, false, data.size()});
    });
  }
  // Reads many ranges of assets of `ns` in one call (data loaders, FUSE, HTTP
  // multi-range). Every range is checked before any byte is delivered: an
  // unknown asset is NOT_FOUND ASSET_NOT_FOUND, an offset beyond an asset's
  // end OUT_OF_RANGE RANGE_OUT_OF_BOUNDS, more than kMaxBatchRanges ranges or
  // kMaxBatchBytes bytes INVALID_ARGUMENT BATCH_TOO_LARGE; each message names
  // the range's index. Stored data that fails authentication stops the read
  // with DATA_LOSS CHUNK_CORRUPT; nothing unauthenticated is delivered.
  // As of a snapshot, branch or tag (`as_of`; "": the live head): every
  // asset read must be one it holds (NOT_FOUND ASSET_NOT_IN_SNAPSHOT).
  virtual Status ReadRangesAt(const std::string& ns, const AsOf& as_of,
                              std::span<const RangeRead> ranges, const RangeSink& sink) = 0;
  Status ReadRanges(const std::string& ns, std::span<const RangeRead> ranges,
                    const RangeSink& sink) {
    return ReadRangesAt(ns, "", ranges, sink);
  }
  virtual Result<AssetPage> ListAssets(const ListOptions& options) = 0;
  // Removes the asset from the live head; snapshots that hold it keep its
  // data until gc finds none does (docs/snapshots.md), and one no snapshot
  // holds is released at once. An asset with live children is kept
  // (FAILED_PRECONDITION HAS_CHILDREN) unless `force`; a forced delete keeps
  // a tombstone so lineage still answers for it.
  virtual Status DeleteAsset(const std::string& ns, const AssetId& id, bool force) = 0;
  Status DeleteAsset(const std::string& ns, const AssetId& id) { return DeleteAsset(ns, id, false); }
  // Re-reads and re-hashes every chunk and the whole asset.
  virtual Result<VerifyReport> VerifyAsset(const std::string& ns, const AssetId& id) = 0;

  virtual Result<std::unique_ptr<Transaction>> BeginTransaction(const std::string& ns) = 0;
  // Ancestors (kUp) or descendants (kDown) of an asset up to `depth` edges away.
  virtual Result<LineageGraph> GetLineage(const std::string& ns, const AssetId& id,
                                          LineageDirection direction, int depth) = 0;

  // Paths (docs/paths.md): names of assets in a namespace. `as_of` "" is the
  // live head, else a snapshot ID, branch or tag. Bad paths are
  // INVALID_ARGUMENT INVALID_PATH; unbound ones NOT_FOUND PATH_NOT_FOUND.
  virtual Result<AssetId> ResolvePath(const std::string& ns, const std::string& path,
                                      const AsOf& as_of) = 0;
  virtual Result<PathPage> ListPaths(const PathListOptions& options) = 0;
  // Binds `path` to the live asset `id`, replacing what it named.
  virtual Status BindPath(const std::string& ns, const std::string& path, const AssetId& id) = 0;
  // Renames a path (replacing `to`), without touching any bytes.
  virtual Status MovePath(const std::string& ns, const std::string& from,
                          const std::string& to) = 0;
  virtual Status RemovePath(const std::string& ns, const std::string& path) = 0;
  // Makes the live head's paths exactly those of snapshot `ref` (the working
  // tree of a branch), in one transaction; live assets are not touched.
  virtual Result<CheckoutReport> Checkout(const std::string& ns, const std::string& ref) = 0;

  // Snapshots: signed Merkle roots over a namespace's assets and paths (all
  // visible ones, or the assets `ids` when given). `ref` arguments name a
  // snapshot by ID, or a branch or tag by name.
  virtual Result<SnapshotInfo> CreateSnapshot(const std::string& ns,
                                              const SnapshotOptions& options) = 0;
  Result<SnapshotInfo> CreateSnapshot(const std::string& ns, const std::vector<AssetId>* ids) {
    return CreateSnapshot(ns, SnapshotOptions{.ids = ids});
  }
  virtual Result<SnapshotInfo> GetSnapshot(const std::string& ns, const std::string& ref) = 0;
  virtual Result<std::vector<SnapshotInfo>> ListSnapshots(const std::string& ns) = 0;
  // Recomputes the root from the stored tree and checks the signature.
  virtual Status VerifySnapshot(const std::string& ns, const std::string& ref) = 0;
  virtual Result<SnapshotProof> ProveAsset(const std::string& ns, const std::string& ref,
                                           const AssetId& id) = 0;
  // A proof that snapshot `ref` binds `path` to its asset.
  virtual Result<SnapshotProof> ProvePath(const std::string& ns, const std::string& ref,
                                          const std::string& path) = 0;
  // Removes the snapshots the retention does not keep (restic-style rules,
  // tags and branch heads always kept) and the tree nodes only they used;
  // the next CollectGarbage frees the data only they held.
  virtual Result<PruneReport> PruneSnapshots(const std::string& ns,
                                             const PruneOptions& options) = 0;
  virtual Result<SnapshotDiff> DiffSnapshots(const std::string& ns, const std::string& a,
                                             const std::string& b) = 0;

  // The history of `ref`: it and its ancestors (by parents), newest first,
  // at most `limit`.
  virtual Result<std::vector<SnapshotInfo>> SnapshotLog(const std::string& ns,
                                                        const std::string& ref, size_t limit) = 0;
  // Merges `source` into the branch `into` (MergeOptions, MergeReport). The
  // branch moves by compare-and-swap from the target the merge started from
  // (ABORTED BRANCH_MOVED if it moved meanwhile); the live head is untouched.
  virtual Result<MergeReport> Merge(const MergeOptions& options) = 0;
  // Undoes the changes snapshot `options.source` made to its (first) parent,
  // on the branch `into`: a three-way merge with the snapshot as the base and
  // its parent as "theirs". FAILED_PRECONDITION NO_PARENT for a snapshot
  // without one.
  virtual Result<MergeReport> Revert(const MergeOptions& options) = 0;

  // Branches move by compare-and-swap: `expected` must be the current target
  // (ABORTED BRANCH_MOVED otherwise). Every change is in the branch log.
  virtual Result<BranchInfo> CreateBranch(const std::string& ns, const std::string& name,
                                          const std::string& ref, const std::string& who) = 0;
  virtual Result<BranchInfo> MoveBranch(const std::string& ns, const std::string& name,
                                        const SnapshotId& expected, const std::string& ref,
                                        const std::string& who) = 0;
  virtual Status DeleteBranch(const std::string& ns, const std::string& name,
                              const std::string& who) = 0;
  virtual Result<std::vector<BranchInfo>> ListBranches(const std::string& ns) = 0;
  virtual Result<std::vector<BranchMoveInfo>> BranchLog(const std::string& ns,
                                                        const std::string& name) = 0;
  // Tags never move; deleting one is an admin action kept in an audit log.
  virtual Result<TagInfo> CreateTag(const std::string& ns, const std::string& name,
                                    const std::string& ref, const std::string& who) = 0;
  virtual Status DeleteTag(const std::string& ns, const std::string& name,
                           const std::string& who) = 0;
  virtual Result<std::vector<TagInfo>> ListTags(const std::string& ns) = 0;

  // Events after query.after, in order; with query.follow, also those that
  // commit later, each pushed as soon as it is durable.
  virtual Status SubscribeEvents(const EventQuery& query, const EventSink& sink) = 0;

  // Vector search
  virtual Result<EmbeddingSpace> CreateSpace(const std::string& ns,
                                             const EmbeddingSpace& space) = 0;
  virtual Result<std::vector<EmbeddingSpace>> ListSpaces(const std::string& ns) = 0;
  virtual Result<VectorResult> VectorSearch(const VectorQuery& query) = 0;
  // Quarantine (NamespacePolicy.quarantine_embeddings): list the held
  // vectors (`space` empty: of every space), approve or reject them; returns
  // how many were reviewed.
  virtual Result<std::vector<PendingEmbedding>> ListPendingEmbeddings(const std::string& ns,
                                                                      const std::string& space,
                                                                      size_t limit) = 0;
  virtual Result<uint64_t> ReviewEmbeddings(const EmbeddingReview& review) = 0;

  // Aggregate queries (docs/privacy.md): count, sum, mean, histogram or
  // quantiles of the assets of `query.ns` matching its filters (as of
  // `as_of`). Under the namespace's privacy policy the answer carries exact
  // discrete Laplace noise (or discrete Gaussian, `query.mechanism`) and its
  // epsilon (and delta) is debited from the ledger in the transaction that
  // records the query; a query the per-query maxima, the namespace's
  // remaining budget, the caller's token caveats or the policy's fields do
  // not allow is refused before it runs: RESOURCE_EXHAUSTED
  // PRIVACY_BUDGET_EXHAUSTED (naming what is left), INVALID_ARGUMENT
  // EPSILON_TOO_LARGE, DELTA_TOO_LARGE, BAD_EPSILON, BAD_DELTA,
  // GAUSSIAN_NOT_ALLOWED, DELTA_REQUIRED, FIELD_NOT_IN_POLICY, TOO_MANY_BINS ...
  // Errors never carry values of the data. Without a policy the answer is
  // exact.
  virtual Result<AggregateAnswer> Aggregate(const AggregateQuery& query) = 0;
  // The namespace's policy, budget spent and left, and its newest `limit`
  // answered queries (who spent what on which query).
  virtual Result<PrivacyLedgerView> GetPrivacyLedger(const std::string& ns, size_t limit) = 0;

  // Ingest operators (docs/operators.md): run after commit on the matching
  // new assets of a namespace, by whichever server runs operators (one at a
  // time per operator), from a cursor kept in the store. Bad specs are
  // INVALID_ARGUMENT (BAD_OPERATOR_NAME, BAD_OPERATOR_MATCH,
  // UNKNOWN_OPERATOR_KIND, BAD_OPERATOR_PARAM), a taken name ALREADY_EXISTS
  // OPERATOR_EXISTS, a missing one NOT_FOUND OPERATOR_NOT_FOUND.
  virtual Result<OperatorInfo> AddOperator(const OperatorSpec& spec) = 0;
  virtual Result<std::vector<OperatorInfo>> ListOperators(const std::string& ns) = 0;
  // Stops it (work in progress is committed or dropped whole) and forgets
  // its cursor and dead-letter list; what it made stays.
  virtual Status RemoveOperator(const std::string& ns, const std::string& name) = 0;
  virtual Result<OperatorInfo> PauseOperator(const std::string& ns, const std::string& name,
                                             bool paused) = 0;
  // The dead-letter list, oldest first, at most `limit`.
  virtual Result<std::vector<OperatorFailure>> ListOperatorFailures(const std::string& ns,
                                                                    const std::string& name,
                                                                    size_t limit) = 0;
  // Takes inputs off the dead-letter list (`assets` empty: all of them):
  // with `retry` they are run again, else dropped. Returns how many.
  virtual Result<uint64_t> ResolveOperatorFailures(const std::string& ns, const std::string& name,
                                                   const std::vector<AssetId>& assets,
                                                   bool retry) = 0;
  // Returns once the operator has dealt with every asset committed before
  // the call (results committed or on the dead-letter list), running it
  // here when no runner in this process does (embedded use). DEADLINE_EXCEEDED
  // OPERATOR_BEHIND after `timeout`, FAILED_PRECONDITION OPERATOR_PAUSED.
  virtual Result<OperatorInfo> DrainOperator(const std::string& ns, const std::string& name,
                                             std::chrono::milliseconds timeout) = 0;

  // Maintenance
  // Every run (dry runs too) is kept in an audit log, oldest first.
  virtual Result<FormatReport> Format(const FormatOptions& options,
                                      const FormatProgress& progress) = 0;
  virtual Result<std::vector<FormatReport>> FormatHistory() = 0;
  // Probes every backend now (metadata read, chunk object write/read/delete
  // unless read-only, KMS wrap/unwrap). OK means puts and gets can be served;
  // UNAVAILABLE DEGRADED that reads work but writes fail (full disk: the
  // message says why); any other error that reads fail too.
  virtual Status CheckHealth() = 0;
  virtual Result<StoreDescription> DescribeStore() = 0;
  // Releases (unless dry_run) the removed assets no retained snapshot holds,
  // each in its own transaction, then finds (and unless dry_run deletes)
  // chunk objects nothing references, such as those left by a put that was
  // killed. Holds no lock: puts go on meanwhile.
  // FAILED_PRECONDITION METADATA_CORRUPT (refusing to delete anything) when
  // the metadata's history is not whole: an object that looks orphaned may
  // belong to a lost record.
  virtual Result<GcReport> CollectGarbage(bool dry_run) = 0;
  // Re-reads the whole metadata store (every checksummed block) and checks
  // its history against the high-water mark. DATA_LOSS METADATA_CORRUPT
  // saying where, when damaged.
  virtual Result<MetadataCheck> CheckMetadata() = 0;
  // Writes a consistent backup of the metadata, the store's configuration
  // and (for the keyfile KMS) its keys into the new directory `dir` on the
  // machine that holds the store, while the store stays in use. Chunk
  // objects are not copied: restore with them (aifs restore --chunks).
  // ALREADY_EXISTS BACKUP_EXISTS when `dir` exists.
  virtual Result<BackupReport> Backup(const std::string& dir) = 0;
  // New KMS key version for new chunks; returns its key ID.
  virtual Result<std::string> RotateKey() = 0;
  // Re-wraps existing data keys with the current key version (see
  // RewrapOptions). Each batch commits atomically with its progress, so a
  // run that crashed or stopped is continued by the next; a finished run
  // leaves no data key on another version unless a namespace pins one.
  virtual Result<RewrapReport> RewrapKeys(const RewrapOptions& options,
                                          const RewrapProgress& progress) = 0;

  // Capability tokens (docs/security.md). A token minted here carries
  // exactly `caveats`; through the server it also carries the caller's own,
  // so that it never reaches further than the caller's token does.
  virtual Result<std::string> MintToken(const std::vector<std::string>& caveats) = 0;
  // Refuses a token and its attenuated copies from now on (UNAUTHENTICATED
  // TOKEN_REVOKED), other tokens of its root key unaffected. Takes the token
  // or its 32-hex-digit ID.
  virtual Status RevokeToken(const std::string& token_or_id) = 0;
  virtual Result<TokenKeyring> ListTokenKeys() = 0;
  // A new current root key (older ones keep verifying their tokens until
  // revoked) and a token under it carrying `caveats` (the caller's own too,
  // through the server).
  virtual Result<RotatedTokenRoot> RotateTokenRoot(const std::vector<std::string>& caveats) = 0;
  // Refuses every token of a root key (UNAUTHENTICATED KEY_REVOKED).
  // FAILED_PRECONDITION LAST_ROOT_KEY for the only live key: rotate first.
  virtual Status RevokeTokenRoot(const std::string& key_id) = 0;

  // Pre-signed URLs (docs/http.md): the path and query of a URL that reads
  // asset `request.id` of `request.ns` (as of `request.as_of`) over HTTP
  // until it expires, signed with the current URL key. Needs the right to
  // read that asset; the URL grants nothing more. INVALID_ARGUMENT
  // BAD_EXPIRY outside 1 s .. 7 days; NOT_FOUND as StatAssetAt.
  virtual Result<SignedUrl> SignUrl(const UrlRequest& request) = 0;
  // URL keys ("u1", "u2", ...): KMS-wrapped, rotated and revoked like token
  // root keys. Revoking one voids every URL signed with it.
  virtual Result<std::vector<TokenRootKey>> ListUrlKeys() = 0;
  virtual Result<std::string> RotateUrlKey() = 0;
  virtual Status RevokeUrlKey(const std::string& key_id) = 0;
};

}  // namespace aifs
