// Engine: the one home of AIFS semantics, running in-process over a data
// directory (embedded mode). It implements aifs::Api; every other face (gRPC
// server, HTTP plane, CLI, FUSE) translates to and from it and decides
// nothing itself. As the Gate (api/caller.h) it verifies remote callers'
// tokens and pre-signed URLs and hands each face a CheckedApi bound to the
// caller: the rules of who may do what live here too.
//
// Data directory layout (written by Init):
//   aifs.json         StoreConfig: backend URLs, chunking, compression
//   meta/             RocksDB metadata store
//   chunks/           sealed chunk objects
//   kms/master.keys   local KMS key versions (mode 0600)
//   meta.hwm          the metadata's high-water mark (docs/durability.md)
// Relative paths in the backend URLs are resolved against the data directory.
#pragma once

#include <memory>
#include <string>

#include "aifs/api/api.h"
#include "aifs/api/caller.h"
#include "aifs/auth/root_keys.h"
#include "aifs/auth/token_revocations.h"
#include "aifs/auth/token_verifier.h"
#include "aifs/engine/operator_runner.h"
#include "aifs/engine/paths.h"
#include "aifs/engine/snapshots.h"
#include "aifs/engine/space.h"
#include "aifs/engine/store_context.h"
#include "aifs/engine/upgrade.h"
#include "aifs/engine/vectors.h"
#include "aifs/storage/chunk_sealer.h"

namespace aifs {

struct InitOptions {
  ChunkerParams chunking;
  int zstd_level = 1;
  // KMS wrapping the data keys (docs/kms.md): "" is the keyfile KMS in the
  // data directory; `pkcs11:token=...` a key on an HSM. Kept in aifs.json.
  std::string kms_url;
  // Metadata store: "" is RocksDB in the data directory; postgresql://...
  // a PostgreSQL database (docs/scale-out.md). Kept in aifs.json.
  std::string meta_url;
  // Chunk store: "" is a directory in the data directory; rados://pool?...
  // or s3://bucket?... shared by several servers (docs/scale-out.md). When
  // the metadata store already holds a store (another server's), init joins
  // it: identity, chunk store and chunking come from there (a different
  // --chunks is refused), and this server's KMS must open its keys.
  std::string chunk_url;
  // Plaintext bytes per sealed segment of a chunk (4 KiB - 16 MiB): the unit a
  // range read fetches and decrypts (docs/storage-format.md).
  uint32_t segment_size = kDefaultSegmentSize;
};

struct EngineOptions {
  std::string data_dir;
  bool read_only = false;  // reads only; works beside a running writer
  bool follow_writer = false;  // with read_only: see its later commits (MetaOpenOptions)
  size_t threads = 0;      // worker threads; 0 = one per core
  // Opened segments kept in memory for repeated reads (engine/segment_cache.h).
  uint64_t cache_bytes = uint64_t{256} << 20;
  // How long the chunk objects this process writes stay protected from
  // garbage collection on any server after it dies (engine/writer_lease.h).
  std::chrono::milliseconds lease_ttl = WriterLease::kDefaultTtl;
  // New chunks of tensors (2- and 4-byte dtypes) and blobs may be sealed
  // byte-grouped where that compresses better (storage/chunk_sealer.h); false
  // seals them as format 3 did (for comparisons). Reads are not affected.
  bool byte_grouping = true;
  // Run the store's ingest operators in this process (engine/operator_runner.h):
  // what a server does; short-lived CLI processes leave it to a server or
  // to `aifs operator drain`.
  bool run_operators = false;
};

class Engine : public Api, public Gate {
 public:
  // Creates a new store (ALREADY_EXISTS STORE_ALREADY_INITIALIZED if there is
  // one) with a fresh KMS key and the namespace "default".
  static Status Init(const std::string& data_dir, const InitOptions& options);
  // FAILED_PRECONDITION STORE_NOT_INITIALIZED when there is no store.
  static Result<std::unique_ptr<Engine>> Open(const EngineOptions& options);
  ~Engine() override;

  Result<NamespaceInfo> CreateNamespace(const std::string& name, const Metadata& labels) override;
  Result<std::vector<NamespaceInfo>> ListNamespaces() override;
  Result<NamespaceInfo> GetNamespace(const std::string& name) override;
  Status DeleteNamespace(const std::string& name) override;
  Result<NamespaceInfo> SetNamespacePolicy(const std::string& name,
                                           const NamespacePolicy& policy) override;

  Result<std::unique_ptr<AssetWriter>> BeginPut(const PutOptions& options) override;
  using Api::ReadAsset;
  using Api::StatAsset;
  Result<AssetInfo> StatAssetAt(const std::string& ns, const AssetId& id, const AsOf& as_of,
                                bool with_chunks) override;
  Status ReadAssetAt(const std::string& ns, const AssetId& id, const AsOf& as_of,
                     const ReadRange& range, const ByteSink& sink) override;
  Status ReadAssetStoredAt(const std::string& ns, const AssetId& id, const AsOf& as_of,
                           const ReadRange& range, const StoredPieceSink& sink) override;
  Status ReadRangesAt(const std::string& ns, const AsOf& as_of, std::span<const RangeRead> ranges,
                      const RangeSink& sink) override;
  Result<AssetPage> ListAssets(const ListOptions& options) override;
  using Api::DeleteAsset;
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

  using Api::CreateSnapshot;
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
  Result<TagInfo> CreateTag(const std::string& ns, const std::string& name,
                            const std::string& ref, const std::string& who) override;
  Status DeleteTag(const std::string& ns, const std::string& name,
                   const std::string& who) override;
  Result<std::vector<TagInfo>> ListTags(const std::string& ns) override;

  Status SubscribeEvents(const EventQuery& query, const EventSink& sink) override;

  Result<FormatReport> Format(const FormatOptions& options,
                              const FormatProgress& progress) override;
  Result<std::vector<FormatReport>> FormatHistory() override;
  Status CheckHealth() override;
  Result<EmbeddingSpace> CreateSpace(const std::string& ns, const EmbeddingSpace& space) override;
  Result<std::vector<EmbeddingSpace>> ListSpaces(const std::string& ns) override;
  Result<VectorResult> VectorSearch(const VectorQuery& query) override;
  Result<std::vector<PendingEmbedding>> ListPendingEmbeddings(const std::string& ns,
                                                              const std::string& space,
                                                              size_t limit) override;
  Result<uint64_t> ReviewEmbeddings(const EmbeddingReview& review) override;
  // engine_aggregate.cpp
  Result<AggregateAnswer> Aggregate(const AggregateQuery& query) override;
  Result<PrivacyLedgerView> GetPrivacyLedger(const std::string& ns, size_t limit) override;
  // engine_operators.cpp
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
  Result<StoreDescription> DescribeStore() override;
  Result<GcReport> CollectGarbage(bool dry_run) override;
  Result<MetadataCheck> CheckMetadata() override;
  Result<BackupReport> Backup(const std::string& dir) override;
  Result<std::string> RotateKey() override;

  // Rewrites data of older formats in the current one (engine/upgrade.h).
  // Embedded only (not part of Api): `aifs upgrade`.
  Result<UpgradeReport> Upgrade(const UpgradeOptions& options, const UpgradeProgress& progress);
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

  // Gate (api/caller.h): the Api of a verified remote caller.
  Result<std::unique_ptr<CallerApi>> Admit(std::string_view token) override;
  Result<std::unique_ptr<CallerApi>> AdmitUrl(const UrlClaim& claim) override;
  // Frees the kept put blocks and pack buffers and trims the heap.
  void ReleaseIdleMemory() override;

  // The record of an asset that a snapshot may name: live, or removed from
  // the head and kept for the snapshots that hold it (engine/reclaim.h).
  // Reads as of a snapshot check membership first, then load with this;
  // LoadAsset (head reads) finds live records only.
  Result<store::v1::AssetRecord> LoadAssetForSnapshot(const std::string& ns, const AssetId& id,
                                                      bool open_sealed = true);

  // The store's backends, for tests and tools that reach below the Api.
  StoreContext& store() { return *ctx_; }
  // The verifier Admit() uses; sees every revocation made through this
  // engine at once. For tests and `aifs token` offline.
  auth::TokenVerifier& tokens() { return tokens_; }

 private:
  explicit Engine(std::unique_ptr<StoreContext> ctx)
      : ctx_(std::move(ctx)),
        root_keys_(*ctx_->meta, *ctx_->kms),
        revocations_(*ctx_->meta),
        tokens_(root_keys_, revocations_),
        url_keys_(*ctx_->meta, *ctx_->kms, auth::kUrlKeys),
        snapshots_(*ctx_),
        vectors_(*ctx_),
        operators_(*ctx_, *this,
                   [this](const std::string& ns) { return BeginEngineTransaction(ns); }) {}
  Result<std::unique_ptr<EngineTransaction>> BeginEngineTransaction(const std::string& ns);
  // ListAssets as of a snapshot (`options.as_of` set); `limit` > 0.
  Result<AssetPage> ListAssetsAsOf(const ListOptions& options, size_t limit);
  // The record an as-of read names: live (as_of "") or held by that snapshot.
  Result<store::v1::AssetRecord> LoadAssetAt(const std::string& ns, const AssetId& id,
                                             const AsOf& as_of, bool open_sealed);
  // The record a read of bytes needs (sealed fields not opened), shared: for
  // the live head through the store's AssetRecordCache. Errors as LoadAssetAt.
  Result<std::shared_ptr<const store::v1::AssetRecord>> LoadAssetForRead(const std::string& ns,
                                                                         const AssetId& id,
                                                                         const AsOf& as_of);
  // NOT_FOUND ASSET_NOT_FOUND or NAMESPACE_NOT_FOUND. Sealed fields are
  // opened unless `open_sealed` is false (reads need only sizes and chunks).
  Result<store::v1::AssetRecord> LoadAsset(const std::string& ns, const AssetId& id,
                                           bool open_sealed = true);
  // READ_ONLY_MODE on a read-only store; STORAGE_FULL when `use` would eat
  // into the free-space reserve (engine/space.h).
  Status RequireWritable(SpaceUse use = SpaceUse::kGrows) const;
  // CheckHealth's write half: metadata writable, space above the reserve,
  // a chunk object written, read back and removed.
  Status ProbeWrites();
  // Checks a put's options; returns the compression its namespace asks for.
  Result<SealPolicy> ValidatePut(const PutOptions& options);
  // The live record, or the tombstone of a force-deleted asset.
  Result<AssetInfo> LoadLineageNode(const std::string& ns, const AssetId& id);

  std::unique_ptr<StoreContext> ctx_;
  auth::RootKeyStore root_keys_;
  auth::TokenRevocations revocations_;
  auth::TokenVerifier tokens_;
  auth::RootKeyStore url_keys_;  // signs pre-signed URLs
  SnapshotManager snapshots_;
  PathIndex paths_{*ctx_, snapshots_};
  VectorManager vectors_;  // after ctx_: stops its indexer before the store closes
  OperatorRunner operators_;  // last: its threads use everything above
};

}  // namespace aifs
