// CacheGeneration: tells a process that keeps records of the MetaStore in
// memory that another process sharing the store changed them.
//
// Whoever changes the cached records bumps the generation (a counter record
// "cg/<name>") in the same transaction; the cache asks Stale() before it
// answers from memory and, when told so, drops what it holds and reads the
// records again.
//
// Promise: a change committed by another process is seen as Stale() within
// `recheck` of its commit (Stale() reads the counter at most once per
// `recheck`). On stores where one process excludes every other writer
// (MetaStore::shared_writers() false) that process makes every change itself,
// so Stale() is false without reading anything.
//
// Not thread-safe: the owner's mutex guards it.
#pragma once

#include <chrono>
#include <optional>
#include <string>

#include "aifs/core/status.h"

namespace aifs {

class MetaStore;
class MetaTxn;

class CacheGeneration {
 public:
  static constexpr std::chrono::milliseconds kDefaultRecheck{1000};

  CacheGeneration(MetaStore& meta, std::string_view name,
                  std::chrono::milliseconds recheck = kDefaultRecheck);

  // Adds one to the counter inside `txn` (which thereby conflicts with any
  // other bump). DATA_LOSS BAD_CACHE_GENERATION when the record is damaged.
  Status Bump(MetaTxn& txn);

  // True when the cache must be dropped before it answers: at the first call
  // on a shared store, and whenever the counter moved since the last read.
  // Errors are the MetaStore's (e.g. UNAVAILABLE when PostgreSQL is away).
  Result<bool> Stale();

 private:
  MetaStore& meta_;
  const std::string key_;
  const std::chrono::milliseconds recheck_;
  std::optional<std::string> seen_;  // the counter at the last read
  std::chrono::steady_clock::time_point read_at_{};
};

}  // namespace aifs
