// Retention: which snapshots `aifs snapshot prune` keeps, with the semantics
// of restic's `forget` (https://restic.readthedocs.io, "Removing snapshots
// according to a policy"), in UTC.
//
// Promise: PlanRetention is a pure function of its inputs. Snapshots are
// taken newest first; each rule keeps a snapshot when it opens a bucket the
// rule has not seen yet while the rule still has buckets left:
//   keep_last N     the N newest snapshots;
//   keep_daily N    the newest snapshot of each of the last N UTC calendar
//                   days that have a snapshot (weekly: ISO 8601 weeks,
//                   monthly: calendar months);
//   keep_within S   every snapshot younger than S seconds.
// A snapshot that a tag or a branch names is always kept. A snapshot is kept
// when any rule keeps it, and its reasons list every rule that did (rules
// count their buckets independently, as restic's do). With no rule at all,
// everything is kept ("no retention policy"). Thread-safe (no state).
#pragma once

#include <cstdint>
#include <string>
#include <vector>

#include "aifs/api/types.h"

namespace aifs {

struct RetentionPolicy {
  uint32_t keep_last = 0;
  uint32_t keep_daily = 0;
  uint32_t keep_weekly = 0;
  uint32_t keep_monthly = 0;
  int64_t keep_within_seconds = 0;

  bool Empty() const {
    return keep_last == 0 && keep_daily == 0 && keep_weekly == 0 && keep_monthly == 0 &&
           keep_within_seconds == 0;
  }
};

// The namespace's policy with the fields `options` gives replacing its own.
// INVALID_ARGUMENT BAD_POLICY for a negative age.
Result<RetentionPolicy> EffectiveRetention(const NamespacePolicy& policy,
                                           const PruneOptions& options);

struct RetentionCandidate {
  SnapshotId id;
  int64_t created_unix_ns = 0;
  std::vector<std::string> pins;  // "tag v1", "branch main": always kept
};

// One decision per snapshot, newest first (ties by ID).
std::vector<RetentionDecision> PlanRetention(std::vector<RetentionCandidate> snapshots,
                                             const RetentionPolicy& policy, int64_t now_unix_ns);

// The UTC calendar buckets of a time: "2026-12-06", "2026-W49", "2026-12".
std::string UtcDay(int64_t unix_ns);
std::string IsoWeek(int64_t unix_ns);
std::string UtcMonth(int64_t unix_ns);

}  // namespace aifs
