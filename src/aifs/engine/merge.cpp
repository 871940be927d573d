#include "aifs/engine/merge.h"

#include <algorithm>
#include <deque>
#include <functional>
#include <map>
#include <set>

#include "aifs/engine/mst_store.h"

namespace aifs {

namespace {

// How far history walks go: a bound on the work one call can cause.
constexpr size_t kMaxWalk = 100000;

// Visits `start` and its ancestors breadth-first, each once, at most
// kMaxWalk of them, until `visit` returns false.
Status WalkAncestors(SnapshotManager& sm, const std::string& ns, const SnapshotInfo& start,
                     const std::function<bool(const SnapshotInfo&)>& visit) {
  std::set<SnapshotId> seen;
  std::deque<SnapshotInfo> queue{start};
  while (!queue.empty() && seen.size() < kMaxWalk) {
    SnapshotInfo s = std::move(queue.front());
    queue.pop_front();
    if (!seen.insert(s.id).second) continue;
    if (!visit(s)) return Status::Ok();
    for (const SnapshotId& p : s.parents) {
      AIFS_ASSIGN_OR_RETURN(SnapshotInfo parent, sm.Get(ns, p.ToHex()));
      queue.push_back(std::move(parent));
    }
  }
  return Status::Ok();
}

// The nearest snapshot that is `ours` or one of its ancestors and also
// `theirs` or one of its ancestors (breadth-first from `theirs`).
Result<std::optional<SnapshotInfo>> MergeBase(SnapshotManager& sm, const std::string& ns,
                                              const SnapshotInfo& ours,
                                              const SnapshotInfo& theirs) {
  std::set<SnapshotId> mine;
  AIFS_RETURN_IF_ERROR(WalkAncestors(sm, ns, ours, [&](const SnapshotInfo& s) {
    mine.insert(s.id);
    return true;
  }));
  std::optional<SnapshotInfo> base;
  AIFS_RETURN_IF_ERROR(WalkAncestors(sm, ns, theirs, [&](const SnapshotInfo& s) {
    if (mine.count(s.id)) base = s;
    return !base;
  }));
  return base;
}

}  // namespace

Result<std::vector<SnapshotInfo>> SnapshotHistory(SnapshotManager& sm, const std::string& ns,
                                                  const std::string& ref, size_t limit) {
  limit = std::clamp<size_t>(limit, 1, kMaxWalk);
  AIFS_ASSIGN_OR_RETURN(SnapshotInfo head, sm.Get(ns, ref));
  // Newest first over the whole graph: a merge's two lines interleave by time.
  auto newer = [](const SnapshotInfo& a, const SnapshotInfo& b) {
    return a.created_unix_ns != b.created_unix_ns ? a.created_unix_ns > b.created_unix_ns
                                                  : a.id > b.id;
  };
  std::set<SnapshotInfo, decltype(newer)> frontier(newer);
  std::set<SnapshotId> queued{head.id};
  frontier.insert(std::move(head));
  std::vector<SnapshotInfo> out;
  while (!frontier.empty() && out.size() < limit) {
    SnapshotInfo s = *frontier.begin();
    frontier.erase(frontier.begin());
    for (const SnapshotId& p : s.parents) {
      if (!queued.insert(p).second) continue;
      AIFS_ASSIGN_OR_RETURN(SnapshotInfo parent, sm.Get(ns, p.ToHex()));
      frontier.insert(std::move(parent));
    }
    out.push_back(std::move(s));
  }
  return out;
}

Result<MergeReport> MergeSnapshots(StoreContext& ctx, SnapshotManager& sm,
                                   const MergeOptions& options, bool revert) {
  const std::string& ns = options.ns;
  AIFS_RETURN_IF_ERROR(ValidateRefName(options.into));
  AIFS_ASSIGN_OR_RETURN(auto branches, sm.ListBranches(ns));
  auto branch = std::find_if(branches.begin(), branches.end(),
                             [&](const BranchInfo& b) { return b.name == options.into; });
  if (branch == branches.end())
    return err::NotFound("BRANCH_NOT_FOUND",
                         "no branch '" + options.into + "' in namespace '" + ns + "'");
  AIFS_ASSIGN_OR_RETURN(SnapshotInfo ours, sm.Get(ns, branch->snapshot.ToHex()));
  AIFS_ASSIGN_OR_RETURN(SnapshotInfo source, sm.Get(ns, options.source));

  MergeReport report;
  std::optional<SnapshotInfo> base;
  SnapshotInfo theirs;
  if (revert) {
    // Undo source's change: from source (the base) back to its parent.
    if (source.parents.empty())
      return err::FailedPrecondition(
          "NO_PARENT", "snapshot " + source.id.ToHex() + " has no parent to revert to");
    AIFS_ASSIGN_OR_RETURN(theirs, sm.Get(ns, source.parents.front().ToHex()));
    base = source;
    report.base = source.id;
  } else {
    theirs = source;
    AIFS_ASSIGN_OR_RETURN(base, MergeBase(sm, ns, ours, theirs));
    if (base) report.base = base->id;
    if (theirs.id == ours.id || (base && base->id == theirs.id)) {
      report.up_to_date = true;
      report.snapshot = ours;
      return report;
    }
    if (base && base->id == ours.id) {  // nothing of ours to keep: fast-forward
      AIFS_RETURN_IF_ERROR(
          sm.MoveBranch(ns, options.into, ours.id, theirs.id.ToHex(), options.author).status());
      AIFS_ASSIGN_OR_RETURN(auto paths, sm.Diff(ns, ours.id.ToHex(), theirs.id.ToHex()));
      report.fast_forward = true;
      report.paths_changed = paths.paths.size();
      report.snapshot = theirs;
      return report;
    }
  }
  SnapshotInfo empty;  // no common history: every path counts as added
  empty.root = empty.path_root = MstEmptyRootHash();
  const SnapshotInfo& b = base ? *base : empty;

  MetaMstStore store(*ctx.meta, ns, nullptr, MetaMstStore::Mode::kBefore, &sm.node_cache());
  std::vector<MstMapDiff> mine, theirs_diff;
  AIFS_RETURN_IF_ERROR(DiffMstMap(PathTreeOf(b), PathTreeOf(ours), store, mine));
  AIFS_RETURN_IF_ERROR(DiffMstMap(PathTreeOf(b), PathTreeOf(theirs), store, theirs_diff));
  std::map<Digest, const MstMapDiff*> by_key;
  for (const MstMapDiff& d : mine) by_key[d.key] = &d;
  std::vector<MstMapChange> changes;
  for (const MstMapDiff& t : theirs_diff) {
    auto o = by_key.find(t.key);
    if (o != by_key.end()) {
      if (o->second->after == t.after) continue;  // the same change on both sides
      AIFS_ASSIGN_OR_RETURN(std::string path, sm.PathNameOf(ns, t.key));
      report.conflicts.push_back(
          {std::move(path), AssetIdOf(t.before), AssetIdOf(o->second->after), AssetIdOf(t.after)});
      if (options.strategy != MergeStrategy::kTheirs) continue;
    }
    changes.push_back({t.key, t.after});
  }
  if (!report.conflicts.empty() && options.strategy == MergeStrategy::kFail) return report;
  report.paths_changed = changes.size();
  AIFS_ASSIGN_OR_RETURN(MstRoot paths, UpdateMstMap(PathTreeOf(ours), changes, store));
  // Assets: what theirs added since the base joins ours. What theirs dropped
  // stays (a merged path may still name it; retention reclaims it later).
  // Every asset a merged path names is in the set too (ours may have dropped
  // one that theirs points a path at): what a snapshot names, it keeps.
  std::vector<Digest> added, removed;
  AIFS_RETURN_IF_ERROR(DiffMst(AssetTreeOf(b), AssetTreeOf(theirs), store, added, removed));
  for (const MstMapChange& c : changes)
    if (c.value) added.push_back(*c.value);
  std::sort(added.begin(), added.end());
  added.erase(std::unique(added.begin(), added.end()), added.end());
  std::vector<MstChange> asset_changes;
  for (const Digest& d : added) asset_changes.emplace_back(d, true);
  AIFS_ASSIGN_OR_RETURN(MstRoot assets, UpdateMst(AssetTreeOf(ours), asset_changes, store));
  AIFS_RETURN_IF_ERROR(store.Finish());

  SnapshotOptions meta{.message = options.message, .author = options.author};
  if (meta.message.empty())
    meta.message = revert ? "revert " + source.id.ToHex()
                          : "merge " + options.source + " into " + options.into;
  std::vector<SnapshotId> parents{ours.id};
  if (!revert) parents.push_back(theirs.id);
  AIFS_ASSIGN_OR_RETURN(SnapshotInfo merged, sm.Record(ns, assets, paths, meta, parents));
  AIFS_RETURN_IF_ERROR(
      sm.MoveBranch(ns, options.into, ours.id, merged.id.ToHex(), options.author).status());
  report.snapshot = std::move(merged);
  return report;
}

}  // namespace aifs
