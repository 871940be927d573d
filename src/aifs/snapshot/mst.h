// The Merkle tree behind signed snapshots: a Merkle Search Tree (MST) over the
// sorted set of AssetIDs of a namespace, with content-defined node boundaries.
// docs/snapshot-merkle.md is the normative description (construction, node
// encoding, proof format, verification); this header states what the code
// promises.
//
// Construction, in short:
//   - Level-0 entries are the sorted IDs. Key k is a *boundary at level l* iff
//     l < 32 and (k[31 - l] & 0x3F) == 0 (byte l counted from the END of the
//     key: the leading bytes decide the sort order, so testing them would
//     cluster boundaries; see docs/snapshot-merkle.md, "Why the last bytes").
//   - A level's entry list is cut into nodes right after every boundary entry;
//     the last node ends at the end of the list.
//   - Node hash: level 0: BLAKE3(0x00 || id_1 || ... || id_n);
//     level l >= 1: BLAKE3(0x01 || byte(l) || key_1 || hash_1 || ... || key_n || hash_n).
//   - Entries of level l+1 = (last key, hash) of each level-l node, in order.
//   - The root is the hash of the first level that has exactly one node; its
//     level is the height. The empty set's root is BLAKE3(0x00), height 0.
//
// Map trees: the same construction over (key, value) pairs, both 32 bytes
// (a snapshot's paths: key = BLAKE3 of the path, value = the AssetID). Only
// the leaves differ: a valued leaf hashes as
//   BLAKE3(0x02 || key_1 || value_1 || ... || key_n || value_n),
// so a map leaf never hashes like a set leaf, and a changed value changes
// the root while the node boundaries (which depend on keys only) stay put.
// The empty map is the empty set's tree.
//
// Promises:
//   - History independence: the root (hash, height, count) depends only on the
//     set. UpdateMst(BuildMst(A), changes) == BuildMst(A after changes).
//   - Nodes are content-addressed (key = node hash) and never modified; a new
//     snapshot shares every unchanged node with the previous one. An update of
//     k IDs loads and writes O(k log n) nodes.
//   - Every node read through a store is checked against its hash (the store
//     contract below); VerifyMst re-checks a whole tree, VerifyInclusion checks
//     a proof offline with nothing but the root hash.
//   - Failures never produce a root, a proof or a diff: tree data that does
//     not decode, hash or fit the construction is DATA_LOSS (MST_NODE_CORRUPT,
//     MST_NODE_MISSING, MST_INVALID).
//
// Thread safety: the functions keep no global state; concurrent calls are
// safe when the store is (InMemoryMstNodeStore is).
#pragma once

#include <cstddef>
#include <cstdint>
#include <cstring>
#include <functional>
#include <mutex>
#include <optional>
#include <span>
#include <string>
#include <string_view>
#include <unordered_map>
#include <utility>
#include <vector>

#include "aifs/core/blake3.h"
#include "aifs/core/status.h"

namespace aifs {

// The highest level a node can have: boundaries exist on levels 0..31 only, so
// level 32, if ever reached, is a single node. Heights are <= 32.
inline constexpr uint8_t kMstMaxLevel = 32;
// Entries per node accepted by Decode and produced by Build/Update (a node's
// encoding stays <= 64 MiB). With IDs that are BLAKE3 outputs nodes hold ~64
// entries; more than 4096 has probability ~1e-28 unless IDs are ground on
// purpose (see "Limits" in docs/snapshot-merkle.md). Build/Update fail with
// RESOURCE_EXHAUSTED MST_NODE_TOO_LARGE rather than produce a bigger node.
inline constexpr size_t kMstMaxNodeEntries = size_t{1} << 20;

// True iff `key` is a boundary at `level`: level < 32 and (key[31 - level] & 0x3F) == 0.
bool MstIsBoundary(const Digest& key, unsigned level);

// Hash of an empty level-0 node, BLAKE3(0x00): the root of the empty set.
Digest MstEmptyRootHash();

// One entry of a node. Level 0: key = an AssetID, hash unused (all zero) in a
// set tree; in a map tree (see "Map trees" below) key = the map key and hash =
// its value. Level >= 1: key = last key of a child node, hash = that child's
// hash.
struct MstEntry {
  Digest key{};
  Digest hash{};
  bool operator==(const MstEntry&) const = default;
};

struct MstNode {
  uint8_t level = 0;
  std::vector<MstEntry> entries;
  bool valued = false;  // a map tree's leaf (level 0 only): entries carry values

  // The node hash of the construction (see top of file). Level-0 nodes hash
  // keys only.
  Digest Hash() const;

  // Storage encoding: level (1 byte; 0x80 for a valued leaf) || count (u32
  // little-endian) || entries, each a 32-byte key (set leaf) or 64 bytes
  // key || hash (valued leaf, level >= 1). Note: this is not the hash preimage.
  std::string Encode() const;
  // Encode() into `out` (replacing its contents, reusing its capacity).
  void EncodeTo(std::string& out) const;

  // Strict inverse of Encode(). DATA_LOSS MST_NODE_CORRUPT unless: size is
  // exactly 5 + count * (32 or 64), level <= 32, count <= kMstMaxNodeEntries,
  // count >= 1 (count 0 only at level 0: the empty root), keys strictly
  // increasing. Boundary placement is checked by VerifyMst/VerifyInclusion,
  // not here.
  static Result<MstNode> Decode(std::string_view bytes);

  bool operator==(const MstNode&) const = default;
};

// A snapshot's tree: root hash, height (level of the root node) and the exact
// number of IDs. {MstEmptyRootHash(), 0, 0} is the empty tree.
struct MstRoot {
  Digest hash{};
  uint8_t height = 0;
  uint64_t count = 0;
  bool operator==(const MstRoot&) const = default;
};

MstRoot MstEmptyRoot();

// Where nodes live. Content-addressed: `hash` is always node.Hash().
class MstNodeStore {
 public:
  virtual ~MstNodeStore() = default;
  // Returns the node stored under `hash`, after checking that it decodes and
  // hashes to `hash` (DATA_LOSS MST_NODE_CORRUPT otherwise; DecodeMstNode
  // below does both). NOT_FOUND MST_NODE_NOT_FOUND when absent.
  virtual Result<MstNode> Load(const Digest& hash) = 0;
  // Stores `node` under `hash` (== node.Hash(), guaranteed by the caller).
  // Idempotent; after OK, Load(hash) returns the node. Callers store children
  // before parents (a crash leaves unreachable nodes, never dangling ones).
  virtual Status Store(const Digest& hash, const MstNode& node) = 0;
};

// Decode + check that the node hashes to `expected`: what a store's Load does
// with the bytes it found. DATA_LOSS MST_NODE_CORRUPT on any mismatch.
Result<MstNode> DecodeMstNode(const Digest& expected, std::string_view bytes);

// Nodes as encoded bytes in a hash map (thread-safe). For tests, tools and
// benchmarks; raw access lets tests corrupt nodes.
class InMemoryMstNodeStore : public MstNodeStore {
 public:
  Result<MstNode> Load(const Digest& hash) override;
  Status Store(const Digest& hash, const MstNode& node) override;

  size_t size() const;      // distinct nodes
  uint64_t bytes() const;   // sum of encodings
  uint64_t writes() const;  // Store() calls that added a new node
  std::optional<std::string> GetRaw(const Digest& hash) const;
  void PutRaw(const Digest& hash, std::string bytes);  // overwrite, unchecked
  bool Erase(const Digest& hash);

 private:
  mutable std::mutex mu_;
  std::unordered_map<Digest, std::string, DigestHash> nodes_;
  uint64_t bytes_ = 0;
  uint64_t writes_ = 0;
};

// Cold build from strictly increasing IDs (INVALID_ARGUMENT MST_IDS_UNSORTED
// otherwise, duplicates included). Stores every node of the tree (the empty
// level-0 node for the empty set), children before parents.
Result<MstRoot> BuildMst(std::span<const Digest> sorted_ids, MstNodeStore& store);

// BuildMst fed one ID at a time, for callers that read the IDs in order from
// somewhere (a scan) and need not hold them all: level-0 nodes are stored as
// soon as they are complete, the levels above at Finish(). The same tree and
// nodes as BuildMst over the same sequence (BuildMst is this builder), but an
// error can come after some nodes were stored (they are unreachable).
class MstBuilder {
 public:
  // `valued`: build a map tree (AddEntry), else a set tree (Add).
  explicit MstBuilder(MstNodeStore& store, bool valued = false) : store_(store) {
    leaf_.valued = valued;
    leaf_.entries.reserve(128);
  }

  // INVALID_ARGUMENT MST_IDS_UNSORTED unless `id` is greater than the previous
  // one; errors of the store's Store() pass through. After an error the
  // builder is unusable.
  Status Add(const Digest& id) { return AddEntry(id, Digest{}); }
  // A map tree's (key, value); the same contract as Add.
  Status AddEntry(const Digest& key, const Digest& value);
  // The root of every ID added (the empty tree, stored, if none). Call once.
  Result<MstRoot> Finish();

  uint64_t count() const { return count_; }

 private:
  Status CloseLeaf();

  MstNodeStore& store_;
  MstNode leaf_;                    // the level-0 node being filled
  std::vector<MstEntry> parents_;   // level-1 entries of the closed leaves
  Digest last_hash_{};              // hash of the last closed leaf
  Digest last_id_{};                // the last ID added
  uint64_t count_ = 0;
};

// One change: (id, true) adds id, (id, false) removes it.
using MstChange = std::pair<Digest, bool>;

// Incremental update: the tree of (old set + adds - removes), equal to what
// BuildMst of that set returns (hash, height, count). Changes must be strictly
// increasing by id (INVALID_ARGUMENT MST_CHANGES_UNSORTED). Adding a present
// ID or removing an absent one is a no-op; count stays exact. Loads and stores
// O(k log n) nodes for k changes: it stores only the nodes it had to rebuild
// (children before parents, once the whole new tree is known: an update that
// fails earlier stores nothing), never touching the old ones. `old` must be a root
// whose nodes are in `store` (INVALID_ARGUMENT MST_ROOT_INVALID for an
// impossible root, DATA_LOSS when its nodes do not match it).
Result<MstRoot> UpdateMst(const MstRoot& old, std::span<const MstChange> sorted_changes,
                          MstNodeStore& store);

// One change of a map tree: set `key` to `value`, or remove it (no value).
struct MstMapChange {
  Digest key{};
  std::optional<Digest> value;
};

// UpdateMst for map trees: setting a present key replaces its value; the
// same contract otherwise (changes strictly increasing by key). A leaf of
// the old tree that is not valued is DATA_LOSS MST_INVALID.
Result<MstRoot> UpdateMstMap(const MstRoot& old, std::span<const MstMapChange> sorted_changes,
                             MstNodeStore& store);

// The value of `key` in a map tree; NOT_FOUND MST_KEY_NOT_FOUND if absent.
Result<Digest> MstLookup(const MstRoot& root, const Digest& key, MstNodeStore& store);

// Inclusion proof: the nodes on the path root -> leaf whose leaf holds `id`
// (path[0] is the root node, level = height; path.back() is level 0).
// NOT_FOUND ASSET_NOT_IN_SNAPSHOT if `id` is not in the tree.
Result<std::vector<MstNode>> ProveInclusion(const MstRoot& root, const Digest& id,
                                            MstNodeStore& store);

// Pure, offline check of a proof against a trusted root hash: path non-empty;
// levels path[0].level, ..., 0 decreasing by one; every node non-empty with
// strictly increasing keys and boundaries where the construction puts them
// (every entry but the last is a non-boundary; the last one is a boundary
// unless the node is the last of its level, i.e. reached through last entries
// only); a root of height > 0 has >= 2 entries; path[0] hashes to `root`;
// for i >= 1, the entry of path[i-1] covering `id` (the first with key >= id)
// has hash == path[i].Hash() and key == path[i]'s last key; the leaf contains
// `id`. INVALID_ARGUMENT MST_PROOF_INVALID otherwise (message says which step).
// With `value`, the proof is of a map tree: the leaf must be valued and hold
// `id` with exactly that value; without, the leaf must be a set leaf.
Status VerifyInclusion(const Digest& root, const Digest& id, std::span<const MstNode> path,
                       const Digest* value = nullptr);

// Visits every ID in increasing order until fn returns false. On a failure
// (DATA_LOSS ...) fn may already have seen the IDs before the bad node.
Status ForEachId(const MstRoot& root, MstNodeStore& store,
                 const std::function<bool(const Digest&)>& fn);
// Every level-0 entry (a map tree's key and value), the same contract.
Status ForEachEntry(const MstRoot& root, MstNodeStore& store,
                    const std::function<bool(const MstEntry&)>& fn);

// Re-walks every node, re-hashes it and checks the construction: levels,
// non-empty nodes, keys strictly increasing across each level, parent keys ==
// child last keys, boundaries exactly where the rule puts them, the root node
// being the first level with one node (>= 2 entries unless height 0), and the
// number of IDs == root.count, every leaf valued iff `valued` (a map tree).
// DATA_LOSS MST_NODE_CORRUPT / MST_NODE_MISSING / MST_INVALID otherwise.
Status VerifyMst(const MstRoot& root, MstNodeStore& store, bool valued = false);

// Set difference: added = IDs in b but not in a, removed = in a but not in b,
// both increasing (the vectors are cleared first; after a failure their
// contents are unspecified). Subtrees with equal hashes on both sides are
// skipped without loading them.
Status DiffMst(const MstRoot& a, const MstRoot& b, MstNodeStore& store, std::vector<Digest>& added,
               std::vector<Digest>& removed);

// Map difference, increasing by key: `before` absent = added in b, `after`
// absent = removed, both = the value changed. The same walk as DiffMst.
struct MstMapDiff {
  Digest key{};
  std::optional<Digest> before, after;
};
Status DiffMstMap(const MstRoot& a, const MstRoot& b, MstNodeStore& store,
                  std::vector<MstMapDiff>& out);

}  // namespace aifs
