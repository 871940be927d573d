// KeyedLog: a MetaStore's log kept in the store's own key space (entry n
// under keys::LogEntry(n)), numbered by an in-process LogSequencer. Right only
// for a store that one process writes: the RocksDB backend, whose directory
// lock makes sure of that. Backends shared between processes number their log
// in the database instead.
//
// Promise: entries get increasing numbers when their transaction commits and
// exist exactly when its writes do; Scan stops at the watermark, below which
// no entry can still appear. Thread safety: every method may be called from
// any thread.
#pragma once

#include <chrono>
#include <functional>
#include <string>
#include <string_view>
#include <vector>

#include "aifs/meta/meta_store.h"
#include "aifs/meta/rocksdb/log_sequencer.h"

namespace aifs {

class KeyedLog {
 public:
  using PutFn = std::function<Status(std::string_view key, std::string_view value)>;

  // Continues numbering after the last entry in `store` (called once open).
  // DATA_LOSS METADATA_CORRUPT on a malformed log key.
  Status Start(MetaStore& store);
  // Numbers `entries`, writes them with `put` and then runs `commit`; the
  // numbers are settled whatever the outcome. Returns the first error.
  Status Commit(const std::vector<std::string>& entries, const PutFn& put,
                const std::function<Status()>& commit);
  // MetaStore::ScanLog over `store`'s keys.
  Result<uint64_t> Scan(MetaStore& store, uint64_t after, const MetaStore::LogFn& fn) const;
  uint64_t Watermark() const { return sequencer_.Watermark(); }
  bool WaitPast(uint64_t seq, std::chrono::milliseconds timeout) const {
    return sequencer_.WaitPast(seq, timeout);
  }
  void InterruptWaits() { sequencer_.InterruptWaits(); }

 private:
  LogSequencer sequencer_;
};

}  // namespace aifs
