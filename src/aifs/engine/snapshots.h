// Snapshots, branches and tags of the embedded engine.
//
// A namespace snapshot is two Merkle search trees (snapshot/mst.h): the set
// of its assets and the map of its paths, each the tree of the previous
// snapshot ("head") updated with the change logs that every commit appends
// to, so the cost follows the number of changes. Tree nodes are content-addressed and shared
// between snapshots. Every root is signed with the namespace's Ed25519 key; branches and tags only
// ever point at snapshots whose signature verified.
#pragma once

#include <list>
#include <memory>
#include <mutex>
#include <unordered_set>

#include "aifs/api/types.h"
#include "aifs/engine/mst_store.h"
#include "aifs/engine/store_context.h"
#include "aifs/snapshot/mst.h"

namespace aifs {

// AssetIDs (as raw digests), e.g. the members of a snapshot.
using AssetSet = std::unordered_set<Digest, DigestHash>;

class SnapshotManager {
 public:
  explicit SnapshotManager(StoreContext& ctx) : ctx_(ctx) {}

  Result<SnapshotInfo> Create(const std::string& ns, const SnapshotOptions& options);
  // Signs and records a snapshot of trees already stored (durably, or
  // written by the caller's node batch before this commits): a merge result.
  Result<SnapshotInfo> Record(const std::string& ns, const MstRoot& assets, const MstRoot& paths,
                              const SnapshotOptions& options, std::vector<SnapshotId> parents);
  // A snapshot named by ID, branch or tag, with its signature checked.
  Result<SnapshotInfo> Get(const std::string& ns, const std::string& ref);
  Result<std::vector<SnapshotInfo>> List(const std::string& ns);
  Status Verify(const std::string& ns, const std::string& ref);
  Result<SnapshotProof> Prove(const std::string& ns, const std::string& ref, const AssetId& id);
  Result<SnapshotProof> ProvePath(const std::string& ns, const std::string& ref,
                                  const std::string& path);
  // The asset snapshot `ref` binds `path` to (none if unbound).
  Result<std::optional<AssetId>> PathAt(const std::string& ns, const std::string& ref,
                                        const std::string& path);
  // Every path of snapshot `ref` starting with `prefix`, in byte order. Reads
  // the whole path tree and the name of each key.
  Result<std::vector<PathEntry>> PathsAt(const std::string& ns, const std::string& ref,
                                         const std::string& prefix);
  // The path a path tree key stands for (DATA_LOSS PATH_NAME_MISSING).
  Result<std::string> PathNameOf(const std::string& ns, const Digest& key);
  // Tree nodes recently read (64 MiB), for tree work outside this class.
  MstNodeCache& node_cache() { return node_cache_; }
  Result<PruneReport> Prune(const std::string& ns, const PruneOptions& options);
  Result<SnapshotDiff> Diff(const std::string& ns, const std::string& a, const std::string& b);
  // Every asset of the snapshot `ref` names (signature checked). Snapshots
  // never change, so the last few sets are kept, by tree root.
  Result<std::shared_ptr<const AssetSet>> Members(const std::string& ns, const std::string& ref);
  // Those of `candidates` that a retained snapshot of `ns` (any snapshot
  // record not pruned: every tag's and branch's, and the history retention
  // keeps) holds. Walks each tree node shared by several snapshots once; a
  // snapshot pruned during the walk is skipped. Takes no lock: snapshots
  // and puts go on meanwhile (engine/reclaim.h says why that is safe).
  Result<AssetSet> RetainedAmong(const std::string& ns, const AssetSet& candidates);
  // Up to this many candidates are looked up in each tree instead.
  static constexpr size_t kLookupCandidates = 16;

  Result<BranchInfo> CreateBranch(const std::string& ns, const std::string& name,
                                  const std::string& ref, const std::string& who);
  Result<BranchInfo> MoveBranch(const std::string& ns, const std::string& name,
                                const SnapshotId& expected, const std::string& ref,
                                const std::string& who);
  Status DeleteBranch(const std::string& ns, const std::string& name, const std::string& who);
  Result<std::vector<BranchInfo>> ListBranches(const std::string& ns);
  Result<std::vector<BranchMoveInfo>> BranchLog(const std::string& ns, const std::string& name);

  Result<TagInfo> CreateTag(const std::string& ns, const std::string& name,
                            const std::string& ref, const std::string& who);
  Status DeleteTag(const std::string& ns, const std::string& name, const std::string& who);
  Result<std::vector<TagInfo>> ListTags(const std::string& ns);

 private:
  // A snapshot named by ID, branch or tag, with its signature checked.
  Result<SnapshotInfo> Resolve(const std::string& ns, const std::string& ref);
  Result<SnapshotInfo> LoadSnapshot(const std::string& ns, const SnapshotId& id);
  // Signs a snapshot of the trees `assets` and `paths`.
  Result<SnapshotInfo> Sign(const std::string& ns, const MstRoot& assets, const MstRoot& paths,
                            bool explicit_set, const SnapshotOptions& options,
                            std::vector<SnapshotId> parents);
  Result<BranchInfo> WriteBranch(const std::string& ns, const std::string& name,
                                 const std::optional<SnapshotId>& expected, bool create,
                                 const std::string& ref, const std::string& who);

  StoreContext& ctx_;
  // Snapshot creators and pruning of one namespace take turns, on every
  // server sharing the store (pruning must not drop a node a snapshot being
  // built reuses): a MetaStore lock; the optimistic retry is left for races
  // with commits. ABORTED LOCK_TIMEOUT after kTurnWait.
  Result<std::unique_ptr<MetaLock>> TakeTurn(const std::string& ns);
  static constexpr std::chrono::seconds kTurnWait{120};
  MstNodeCache node_cache_{size_t{64} << 20};
  std::mutex members_mu_;
  std::list<std::pair<Digest, std::shared_ptr<const AssetSet>>> members_;  // newest first
};

// A snapshot's asset tree (a set of AssetIDs) and path tree (a map tree).
MstRoot AssetTreeOf(const SnapshotInfo& s);
MstRoot PathTreeOf(const SnapshotInfo& s);
// A path tree value (or its absence) as an AssetID.
std::optional<AssetId> AssetIdOf(const std::optional<Digest>& value);

// Branch and tag names: 1-128 of [A-Za-z0-9._-], not starting with '.' or
// '-', and not 32 hex characters (that spells a snapshot ID).
Status ValidateRefName(std::string_view name);

}  // namespace aifs
