// Plain value types exchanged through aifs::Api. They carry no behaviour, so
// the engine, the gRPC adapters and the CLI can share them freely.
#pragma once

#include <array>
#include <cstdint>
#include <functional>
#include <limits>
#include <map>
#include <optional>
#include <string>
#include <vector>

#include "aifs/api/privacy_policy.h"
#include "aifs/core/ids.h"

namespace aifs {

enum class AssetKind { kBlob = 1, kTensor = 2, kEmbed = 3, kArtifact = 4 };
std::string_view KindName(AssetKind kind);  // "blob", "tensor", ...
Result<AssetKind> ParseKind(std::string_view name);

using Metadata = std::map<std::string, std::string>;

// Limits and settings per namespace (0 / unset: none, the store's default).
struct NamespacePolicy {
  uint64_t max_logical_bytes = 0;  // a commit beyond it fails RESOURCE_EXHAUSTED QUOTA_EXCEEDED
  uint64_t max_assets = 0;
  std::optional<int> zstd_level;  // chunk compression for new puts; 0 turns it off
  // Plaintext bytes per sealed segment of new chunks (4 KiB - 16 MiB): what
  // an uncached range read fetches and decrypts at least; 0: the store's
  // (64 KiB by default). Smaller suits small random reads, larger whole reads
  // and compression (docs/storage-format.md, "Segment size").
  uint32_t segment_size = 0;
  // Snapshot retention for pruning: keep the newest `keep_snapshots` and any
  // younger than `keep_snapshot_seconds`; with neither set, pruning keeps all.
  uint32_t keep_snapshots = 0;
  int64_t keep_snapshot_seconds = 0;
  // Like restic's forget (engine/retention.h; keep_snapshots is keep-last):
  // the newest snapshot of each of the last N UTC days, ISO weeks, months.
  uint32_t keep_daily = 0;
  uint32_t keep_weekly = 0;
  uint32_t keep_monthly = 0;
  std::string kms_key_id;  // new chunks' data keys are wrapped by this key; "": the current one
  // New vectors wait in quarantine, out of search, until an admin approves
  // them (ReviewEmbeddings).
  bool quarantine_embeddings = false;
  // Differential privacy of aggregate queries (docs/privacy.md).
  PrivacyPolicy privacy;
  bool operator==(const NamespacePolicy&) const = default;
};

struct NamespaceInfo {
  std::string name;
  int64_t created_unix_ns = 0;
  Metadata labels;
  uint64_t asset_count = 0;
  uint64_t logical_bytes = 0;  // sum of asset sizes
  uint64_t chunk_count = 0;    // distinct stored chunks
  uint64_t stored_bytes = 0;   // bytes of sealed chunk objects
  uint64_t unique_bytes = 0;   // plaintext bytes of the distinct chunks
  // Removed from the head, kept for the snapshots that hold them until gc
  // finds none does (their chunks are still counted above).
  uint64_t retired_count = 0;
  uint64_t retired_bytes = 0;
  // Changes whenever the live head (assets, metadata, paths) changes; may
  // also change on other writes (a policy): compare to skip re-listing.
  uint64_t head_version = 0;
  std::array<uint8_t, 32> signing_public_key{};  // Ed25519, signs snapshots
  NamespacePolicy policy;
};

struct ChunkInfo {
  Digest hash{};
  uint64_t offset = 0;
  uint64_t length = 0;
  uint64_t stored_size = 0;
  bool compressed = false;
  std::string kms_key_id;
  // Where its sealed bytes are: the chunk store object and the offset in it
  // (0 for an object of its own; a pack holds many small chunks).
  std::string object;
  uint64_t object_offset = 0;
};

// A lineage edge: the asset was made from `parent` by a transform.
struct ParentRef {
  AssetId parent;
  std::string transform;         // e.g. "tokenize"
  std::string transform_digest;  // e.g. "sha256:…" of the container image
  bool operator==(const ParentRef&) const = default;
};

struct AssetInfo {
  std::string ns;
  AssetId id;
  AssetKind kind = AssetKind::kBlob;
  uint64_t size = 0;
  Metadata metadata;
  int64_t created_unix_ns = 0;
  size_t chunk_count = 0;
  std::vector<ParentRef> parents;
  bool deleted = false;           // a tombstone kept for lineage
  std::vector<ChunkInfo> chunks;  // filled only when asked for
  AssetUri Uri() const { return {ns, id}; }
};

// Vector search. A namespace has embedding spaces (usually one per model);
// an index never mixes spaces.
// The values are those of aifs.fbs.Metric (Embed assets) and stored records.
enum class VectorMetric : uint8_t { kCosine = 0, kL2 = 1, kInnerProduct = 2 };
std::string_view MetricName(VectorMetric metric);  // "cosine", "l2", "inner_product"
// Accepts the names above (also "ip", "dot"); INVALID_ARGUMENT UNKNOWN_METRIC otherwise.
Result<VectorMetric> ParseMetric(std::string_view name);

struct EmbeddingSpace {
  std::string name;
  uint32_t dim = 0;
  VectorMetric metric = VectorMetric::kCosine;
  uint64_t vectors = 0;  // indexed now (filled by ListSpaces)
  uint64_t pending = 0;  // held in quarantine (filled by ListSpaces)
};

// A vector held in quarantine.
struct PendingEmbedding {
  AssetId id;
  std::string space;
};

// Approve (make searchable) or reject (delete) quarantined vectors: those of
// `ids` (all pending ones when empty), in `space` (every space when empty).
struct EmbeddingReview {
  std::string ns = "default";
  std::string space;
  std::vector<AssetId> ids;
  bool approve = true;
};

// A vector attached to an asset at put time.
struct Embedding {
  std::string space;
  std::vector<float> values;
};

struct PutOptions {
  std::string ns = "default";
  AssetKind kind = AssetKind::kBlob;
  Metadata metadata;
  std::optional<uint64_t> expected_size;  // a mismatch aborts the put
  std::optional<AssetId> expected_id;     // a mismatch aborts the put
  // Every parent must be committed in the namespace (or be put earlier in the
  // same transaction) when this asset commits: FAILED_PRECONDITION
  // PARENT_NOT_COMMITTED otherwise.
  std::vector<ParentRef> parents;
  // One per space at most; each must match its space's dimension and be
  // finite with a sane norm (INVALID_ARGUMENT BAD_VECTOR otherwise).
  std::vector<Embedding> embeddings;
  // Binds this path of the namespace to the asset when it commits (replacing
  // what the path named before; docs/paths.md has the rules).
  std::optional<std::string> path;
};

struct PutResult {
  AssetInfo asset;
  bool created = false;  // false: these bytes were already an asset here
  bool staged = false;   // written inside a transaction, visible at its commit
  uint64_t chunks_total = 0;
  uint64_t chunks_new = 0;    // chunks stored by this put
  uint64_t bytes_stored = 0;  // sealed bytes this put added
};

struct MetaFilter {
  // kIn: the value is one of `values`; kRange: the value parses as a number
  // within [min, max] (either bound optional).
  enum class Op { kEquals, kPrefix, kExists, kIn, kRange };
  std::string key;
  Op op = Op::kEquals;
  std::string value;
  std::vector<std::string> values;
  std::optional<double> min, max;
};

struct ReadRange {
  static constexpr uint64_t kToEnd = std::numeric_limits<uint64_t>::max();
  uint64_t offset = 0;
  uint64_t length = kToEnd;
};

// Scores are similarities, higher is better: cosine similarity, inner
// product, or the negated squared Euclidean distance (docs/vector-search.md).
struct VectorQuery {
  std::string ns = "default";
  std::string space;
  std::vector<float> vector;     // the query, or
  std::optional<AssetId> like;   // an asset whose vector in `space` is the query, or
  // a text, embedded by the namespace's ingest operator `embed_with` as it
  // embeds its inputs (same model, same call); `space` defaults to the
  // operator's. Its errors are the operator kind's (EMBEDDER_UNAVAILABLE ...).
  std::string text;
  std::string embed_with;
  size_t k = 10;
  size_t ef = 0;                 // HNSW candidate list; 0: the planner picks
  std::vector<MetaFilter> filters;  // all must match
  // A snapshot ID, branch or tag: only assets in that snapshot are eligible,
  // including those removed from the head since (a retained snapshot keeps
  // their vectors searchable).
  std::string as_of;
};

// Metadata of an Embed asset that describes a passage of its source (an
// ingest operator's, docs/operators.md): the passage's byte range, decimal.
inline constexpr std::string_view kSourceOffsetKey = "aifs.source.offset";
inline constexpr std::string_view kSourceLengthKey = "aifs.source.length";

struct VectorHit {
  AssetId id;
  float score = 0;
  std::optional<AssetId> source;  // an Embed asset's hit: the asset its vector describes
  // A passage's hit (an operator's Embed asset of part of a text): the
  // byte range of `source` its vector describes.
  std::optional<ReadRange> source_range;
};

struct VectorResult {
  std::vector<VectorHit> hits;  // best first
  std::string plan;             // how the planner searched, for people and tests
  std::string space;            // the space searched
};

struct ListOptions {
  std::string ns = "default";
  size_t limit = 1000;
  std::string page_token;  // from the previous page; empty for the first
  std::vector<MetaFilter> filters;  // all must match
  std::optional<AssetKind> kind;
  std::string as_of;  // a snapshot ID, branch or tag: its assets; "": the live head
};

struct AssetPage {
  std::vector<AssetInfo> assets;
  std::string next_page_token;  // empty when this is the last page
};

// Receives read data in order; a non-OK return stops the read with it.
using ByteSink = std::function<Status(ByteSpan)>;

// A piece of a read as the store keeps it (Api::ReadAssetStoredAt): plaintext,
// or with `zstd` one or more whole zstd frames (RFC 8878) one after another
// that together expand to exactly `raw_size` bytes. Valid during the call.
struct StoredPiece {
  ByteSpan data;
  bool zstd = false;
  uint64_t raw_size = 0;  // data.size() when not zstd
};
// Ranges from this size up (and whole assets) are read as stored by
// Api::ReadAssetStoredAt; smaller ones go through the segment cache.
inline constexpr uint64_t kStoredReadMinBytes = uint64_t{1} << 20;
// Receives a read's pieces in order (each piece's raw bytes follow the
// previous one's); a non-OK return stops the read with it.
using StoredPieceSink = std::function<Status(const StoredPiece&)>;

// One range of a batched read (Api::ReadRanges): bytes [offset, offset+length)
// of asset `id`, clipped to its end. Zero length reads nothing; ranges may
// overlap and come in any order.
struct RangeRead {
  AssetId id;
  uint64_t offset = 0;
  uint64_t length = 0;
};

// Limits of one batched read: more ranges, or more bytes once clipped, is
// INVALID_ARGUMENT BATCH_TOO_LARGE.
inline constexpr size_t kMaxBatchRanges = 65536;
inline constexpr uint64_t kMaxBatchBytes = uint64_t{256} << 20;

// Receives the bytes of range `index` of a batch: ranges strictly in request
// order, each range's bytes in order, possibly in several pieces (a range
// with no bytes gets no call). A non-OK return stops the read with it.
using RangeSink = std::function<Status(size_t index, ByteSpan data)>;

enum class LineageDirection { kUp, kDown };  // up: ancestors, down: descendants

struct LineageEdge {
  AssetId parent;
  AssetId child;
  std::string transform;
  std::string transform_digest;
  int depth = 1;  // distance of the far end from the queried asset
};

struct LineageGraph {
  AssetId root;
  std::vector<LineageEdge> edges;  // breadth-first order
  std::vector<AssetInfo> assets;   // every asset named by an edge, root first
};

struct SnapshotInfo {
  // 1: assets only (before paths); 2: also paths, message, author, parents.
  // docs/snapshots.md gives each version's signed bytes.
  uint8_t version = 2;
  std::string ns;
  SnapshotId id;
  Digest root{};
  uint8_t height = 0;
  uint64_t count = 0;  // assets in the snapshot
  int64_t created_unix_ns = 0;
  std::array<uint8_t, 64> signature{};
  std::array<uint8_t, 32> public_key{};
  bool explicit_set = false;  // built from a given set, not the namespace
  // The path tree (a map tree: BLAKE3 of the path -> AssetID).
  Digest path_root{};
  uint8_t path_height = 0;
  uint64_t path_count = 0;
  std::string message;              // what the snapshot is for (<= 64 KiB)
  std::string author;               // who made it: the verified caller
  std::vector<SnapshotId> parents;  // the snapshots it follows
};

// CreateSnapshot: of every visible asset and path (ids null), or of the
// given assets only (no paths); with a message and who makes it.
struct SnapshotOptions {
  const std::vector<AssetId>* ids = nullptr;
  std::string message;
  std::string author;
  // A namespace snapshot committed to this branch: its parent is the
  // branch's target (else the namespace's previous snapshot), and the branch
  // then moves to it by compare-and-swap from that target (is created if
  // new). ABORTED BRANCH_MOVED if it moved meanwhile (the snapshot stays).
  std::string branch;
};

// Checkout: the live head's paths made those of a snapshot.
struct CheckoutReport {
  SnapshotId snapshot;
  uint64_t bound = 0;    // paths bound or rebound
  uint64_t unbound = 0;  // live paths the snapshot does not have
  // Paths whose asset is no longer live (deleted since): left unbound.
  std::vector<std::string> missing;
};

// Which snapshot (or the live head) a read looks at: "" is the live head;
// otherwise a snapshot ID, branch or tag.
using AsOf = std::string;

struct PathEntry {
  std::string path;
  AssetId id;
};

struct PathListOptions {
  std::string ns = "default";
  std::string prefix;  // byte prefix of the path ("train/" lists a directory)
  AsOf as_of;
  size_t limit = 1000;
  std::string page_token;  // from the previous page; empty for the first
};

struct PathPage {
  std::vector<PathEntry> entries;  // in byte order of the path
  std::string next_page_token;     // empty when this is the last page
};

// One path that differs between two snapshots: added (no before), removed
// (no after) or pointing at another asset.
struct PathChange {
  std::string path;
  std::optional<AssetId> before, after;
};

// Everything needed to check offline that an asset is in a signed snapshot:
// the snapshot header and the tree nodes from its root down to the asset.
struct SnapshotProof {
  SnapshotInfo snapshot;
  AssetId asset;
  std::vector<std::string> nodes;  // encoded MST nodes, root first
  // Set: a proof that the snapshot binds this path to `asset` (nodes are of
  // the path tree); unset: that the asset is in the snapshot.
  std::optional<std::string> path;
  // The issuing store's identity (StoreDescription::store_id), set by whoever
  // exports the proof; it is not signed: it only says which pinned key to
  // check the signature with. Empty in proofs from before it existed.
  std::string store_id;
};

// Which snapshots pruning removes: those beyond the retention (the
// namespace's policy unless overridden here) that no branch or tag names.
// Each field given overrides the namespace policy's (keep_snapshots is
// restic's --keep-last).
struct PruneOptions {
  std::optional<uint32_t> keep_snapshots;
  std::optional<int64_t> keep_snapshot_seconds;
  bool dry_run = false;
  std::optional<uint32_t> keep_daily;
  std::optional<uint32_t> keep_weekly;
  std::optional<uint32_t> keep_monthly;
};

// Why a snapshot stays or goes (engine/retention.h).
struct RetentionDecision {
  SnapshotId snapshot;
  int64_t created_unix_ns = 0;
  bool keep = false;
  std::vector<std::string> reasons;  // the rules that keep it
};

struct PruneReport {
  bool dry_run = false;
  std::vector<SnapshotId> removed;  // snapshots (to be) removed
  uint64_t kept = 0;
  uint64_t nodes_removed = 0;       // tree nodes no remaining snapshot uses
  uint64_t node_bytes_removed = 0;
  std::vector<RetentionDecision> decisions;  // every snapshot, newest first
};

struct SnapshotDiff {
  std::vector<AssetId> added;    // in b, not in a
  std::vector<AssetId> removed;  // in a, not in b
  std::vector<PathChange> paths;  // by path
};

// Merge (and revert): three-way over paths. A path both sides changed since
// the merge base, to different assets, is a conflict; `strategy` picks a side
// for every conflict, or (kFail) the merge makes nothing and lists them.
enum class MergeStrategy { kFail = 0, kOurs = 1, kTheirs = 2 };

struct MergeOptions {
  std::string ns = "default";
  std::string source;  // snapshot ID, branch or tag merged in
  std::string into;    // the branch that moves (compare-and-swap)
  MergeStrategy strategy = MergeStrategy::kFail;
  std::string message;  // default: "merge SOURCE into INTO"
  std::string author;
};

struct PathConflict {
  std::string path;
  std::optional<AssetId> base, ours, theirs;  // none: absent on that side
};

struct MergeReport {
  // The branch's new target: a merge snapshot (parents: the branch's old
  // target, then the source), the source itself (fast-forward), or the old
  // target (already up to date). Unset when conflicts stopped the merge.
  std::optional<SnapshotInfo> snapshot;
  std::optional<SnapshotId> base;  // the merge base; none: no common history
  bool fast_forward = false;
  bool up_to_date = false;
  uint64_t paths_changed = 0;           // paths of `into` the merge changed
  std::vector<PathConflict> conflicts;  // resolved by the strategy, or stopping it
};

struct BranchInfo {
  std::string name;
  SnapshotId snapshot;
  int64_t updated_unix_ns = 0;
  std::string updated_by;
  uint64_t moves = 0;
};

struct BranchMoveInfo {
  std::optional<SnapshotId> old_snapshot;  // none: the branch was created
  std::optional<SnapshotId> new_snapshot;  // none: the branch was deleted
  int64_t unix_ns = 0;
  std::string who;
};

struct TagInfo {
  std::string name;
  SnapshotId snapshot;
  int64_t created_unix_ns = 0;
  std::string created_by;
};

struct VerifyReport {
  AssetId id;
  uint64_t chunks_checked = 0;
  uint64_t bytes_checked = 0;
  Status result;  // OK or the first failure
};

struct GcReport {
  bool dry_run = true;
  uint64_t objects_scanned = 0;
  uint64_t orphan_objects = 0;
  uint64_t orphan_bytes = 0;
  uint64_t reclaimed_objects = 0;
  // Removed assets no retained snapshot holds: released (their chunks,
  // objects and vectors freed) or, in a dry run, releasable.
  uint64_t assets_released = 0;
  uint64_t chunks_released = 0;
  uint64_t bytes_released = 0;   // stored bytes of those chunks
  uint64_t assets_retained = 0;  // removed assets a retained snapshot still holds
  // Unreferenced objects left alone because another server's writer lease
  // is live (its put in flight), and expired leases revoked.
  uint64_t objects_leased = 0;
  uint64_t leases_revoked = 0;
  // Packs of small chunks that were mostly dead bytes, rewritten (dry run:
  // to rewrite), and the bytes that frees.
  uint64_t packs_rewritten = 0;
  uint64_t pack_bytes_freed = 0;
};

// CheckMetadata: the metadata store re-read and its history found whole.
struct MetadataCheck {
  std::string meta_url;
  uint64_t sequence = 0;    // the store's last committed write
  uint64_t high_water = 0;  // the highest ever recorded as committed (0: unknown)
  uint64_t files_checked = 0;
  uint64_t bytes_checked = 0;
  // Non-empty when the backend has no check of its own (PostgreSQL: its own
  // tools, pg_amcheck, check its pages): why nothing above was checked.
  std::string not_checked;
};

// Backup: a consistent copy of the metadata and keys, taken online.
struct BackupReport {
  std::string dir;          // where it was written (on the serving machine)
  uint64_t sequence = 0;    // metadata sequence the copy holds
  uint64_t files = 0;
  uint64_t bytes = 0;
  bool keys_included = false;  // false: the KMS keeps its keys (an HSM)
};

// RewrapKeys: moves every wrapped data key onto its target KMS key version
// (the current one, or the key a namespace's policy pins) without touching
// the chunk data, and seals the metadata values and vectors a store of
// format 1 wrote in clear (then compacts the metadata, so no file keeps
// them). Resumable: progress is kept in the MetaStore.
struct RewrapOptions {
  uint32_t batch_size = 256;  // records per metadata transaction
  uint64_t max_chunks = 0;    // stop (resumably) after rewrapping this many; 0: no limit
  uint64_t max_resealed = 0;  // stop (resumably) once this many are resealed; 0: no limit
};
struct RewrapReport {
  std::string target_key;    // the KMS's current key
  bool resumed = false;      // continued an earlier run that stopped midway
  bool complete = false;     // every record was visited
  uint64_t chunks_scanned = 0;
  uint64_t chunks_rewrapped = 0;
  uint64_t namespaces_rewrapped = 0;  // namespaces' snapshot-signing keys moved
  uint64_t root_keys_rewrapped = 0;   // token root keys moved
  uint64_t records_resealed = 0;      // asset records and tombstones whose metadata was in clear
  uint64_t vectors_resealed = 0;      // vectors (vc/, vq/) that were in clear
  bool compacted = false;             // this run compacted the metadata after resealing
};
// Called after each committed batch with the totals so far.
using RewrapProgress = std::function<void(const RewrapReport&)>;

// Capability tokens (docs/security.md): the root keys that sign them and the
// token IDs revoked one by one.
struct TokenRootKey {
  std::string id;  // "r1", "r2", ...
  int64_t created_unix_ns = 0;
  bool revoked = false;
  bool current = false;    // new tokens are minted under it
  std::string kms_key_id;  // the KMS key that wraps it
};
struct RevokedTokenId {
  std::string token_id;
  int64_t revoked_unix_ns = 0;
};
struct TokenKeyring {
  std::vector<TokenRootKey> keys;  // oldest first
  std::vector<RevokedTokenId> revoked_tokens;
};
struct RotatedTokenRoot {
  std::string key_id;  // the new current root key
  std::string token;   // a token under it (see Api::RotateTokenRoot)
};

// Api::SignUrl
struct UrlRequest {
  std::string ns = "default";
  AssetId id;
  AsOf as_of;               // "": the live head; else a snapshot ID, branch or tag
  int64_t expires_s = 900;  // lifetime in seconds (1 s .. 7 days)
  std::string file_name;    // Content-Disposition file name (a path's last part); may be ""
};
struct SignedUrl {
  std::string path_and_query;  // "/v1/assets/NS/ID?...&sig=..."; the face adds scheme and host
  int64_t expires_unix_s = 0;
  std::string key_id;
  std::string base;  // "http://host:port" when the server knows its HTTP face; else ""
};

enum class EventType {
  kAssetCommitted = 1,
  kAssetDeleted = 2,
  kLineageEdgeAdded = 3,
  kSnapshotCreated = 4,
  kBranchMoved = 5,  // creation has no old snapshot, deletion no new one
  kTagCreated = 6,
  kTagDeleted = 7,
  kNamespaceCreated = 8,
  kNamespaceDeleted = 9,
  kIndexUpdated = 10,
  kDriftDetected = 11,
  kAssetReleased = 12,  // a removed asset's data reclaimed (no snapshot holds it)
  kSpaceCreated = 13,   // an embedding space (name: the space); every server indexes it
  // An aggregate query answered under a privacy policy (name: the query and
  // its cost; who: the caller); its ledger record has the details.
  kPrivacyBudgetSpent = 14,
  // An ingest operator committed its results for an asset (name: the
  // operator; detail: how many assets it made), or gave up on one (detail:
  // the reason; the dead-letter list has the rest).
  kOperatorCompleted = 15,
  kOperatorFailed = 16,
};
std::string_view EventTypeName(EventType type);  // "asset_committed", ...
Result<EventType> ParseEventType(std::string_view name);

// Something that was committed. Sequence numbers increase in commit order;
// a subscriber resumes after the last one it saw without loss or duplicates.
struct Event {
  uint64_t seq = 0;
  EventType type = EventType::kAssetCommitted;
  int64_t unix_ns = 0;
  std::string ns;
  std::optional<AssetId> asset;      // the asset; the child of a lineage edge
  std::optional<AssetId> parent;     // lineage edges
  std::optional<SnapshotId> snapshot;      // created, or a branch/tag target
  std::optional<SnapshotId> old_snapshot;  // a branch's previous target
  std::string name;  // branch or tag; the transform of a lineage edge
  std::string who;
  std::string detail;  // operator events (see EventType)
};

struct EventQuery {
  std::string ns;                // empty: every namespace
  std::vector<EventType> types;  // empty: every type
  uint64_t after = 0;            // resume after this sequence number
  // Keep waiting for new events (pushed as they commit) until the sink fails
  // or `keep_going` (polled while idle, every few ms) returns false.
  bool follow = false;
  std::function<bool()> keep_going;
};

// Receives events in order; a non-OK return ends the subscription with it.
using EventSink = std::function<Status(const Event&)>;

// Format brings a store's base structures into place: it checks the
// backends, creates the root namespace, and the root snapshot (tag "root" in
// it) when missing. Idempotent: a second run finds every step in place.
struct FormatOptions {
  bool dry_run = false;
  std::string who;
  // Re-format the derived vector indexes: rebuilt from the stored vectors
  // and checkpointed (nothing stored is touched).
  bool rebuild_index = false;
};
struct FormatStep {
  std::string name;    // "backends", "root namespace", "vector index", "root snapshot"
  std::string state;   // "ok" (already in place), "created", "would create", "skipped"
  std::string detail;
};
struct FormatReport {
  int64_t unix_ns = 0;
  std::string who;
  bool dry_run = false;
  std::vector<FormatStep> steps;
  std::optional<SnapshotId> root_snapshot;
};
// Called as each step finishes.
using FormatProgress = std::function<void(const FormatStep&)>;

struct StoreDescription {
  std::string store_id;  // stable identity (32 lowercase hex); see StoreConfig.store_id
  std::string http_url;  // remote: the server's HTTP plane ("" when none)
  std::string data_dir;
  std::string meta_url;
  std::string chunk_url;
  std::string kms_kind;
  std::string kms_current_key;
  uint32_t chunk_min = 0, chunk_avg = 0, chunk_max = 0;
  int zstd_level = 0;
  bool read_only = false;
  // Metadata transactions this process ran again after a conflict since it
  // opened the store (contention; a server's metrics). Not sent over the
  // wire: 0 from a remote store.
  uint64_t txn_conflicts_retried = 0;
};

}  // namespace aifs
