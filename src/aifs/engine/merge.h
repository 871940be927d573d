// History, merge and revert of snapshots (docs/snapshots.md, "History and
// merge"). Snapshots name their parents, so history is a graph walk; a merge
// is three-way over the path trees, against the nearest common ancestor.
//
// Thread-safe (everything it changes goes through transactions; the branch
// moves by compare-and-swap).
#pragma once

#include <vector>

#include "aifs/api/types.h"
#include "aifs/engine/snapshots.h"
#include "aifs/engine/store_context.h"

namespace aifs {

// `ref` and its ancestors, newest first, at most `limit` (1..100000).
Result<std::vector<SnapshotInfo>> SnapshotHistory(SnapshotManager& snapshots, const std::string& ns,
                                                  const std::string& ref, size_t limit);

// Api::Merge, or Api::Revert when `revert`.
Result<MergeReport> MergeSnapshots(StoreContext& ctx, SnapshotManager& snapshots,
                                   const MergeOptions& options, bool revert);

}  // namespace aifs
