// MetaStore: the ordered key-value store with transactions that holds every
// record of the engine (namespaces, assets, chunks ...).
//
// Promise: keys are ordered bytewise and Scan() visits them in that order.
// A MetaTxn commits all of its writes atomically and durably, or none. Keys
// read through a transaction are checked at commit: if any other commit wrote
// one of them after it was read, Commit() fails with ABORTED/TXN_CONFLICT and
// the caller retries (see RunTransaction).
//
// The store also keeps an ordered log (the engine's event log): a transaction
// appends entries, which get increasing sequence numbers when it commits and
// exist exactly when its writes do. Numbering is the backend's business, so
// that every process sharing one store sees one log: sequence numbers (a
// reader's cursor) stay valid across processes, servers and restarts.
// Backends: rocksdb:// (embedded, one process), postgresql:// (shared by any
// number of servers).
#pragma once

#include <atomic>
#include <chrono>
#include <condition_variable>
#include <functional>
#include <memory>
#include <mutex>
#include <optional>
#include <set>
#include <string>
#include <string_view>
#include <vector>

#include "aifs/core/disk_space.h"
#include "aifs/core/status.h"

namespace aifs {

class MetaTxn {
 public:
  virtual ~MetaTxn() = default;
  // Sees the transaction's own writes; the key joins the conflict check.
  virtual Result<std::optional<std::string>> Get(std::string_view key) = 0;
  virtual Status Put(std::string_view key, std::string_view value) = 0;
  virtual Status Delete(std::string_view key) = 0;
  // Adds an entry to the store's log; its sequence number is given at commit.
  void AppendLog(std::string entry) { log_entries_.push_back(std::move(entry)); }
  // Applies the writes and the appended log entries atomically, or nothing:
  // ABORTED TXN_CONFLICT when a key read was written by another commit since.
  virtual Status Commit() = 0;

 protected:
  // The entries appended so far, in order; the backend numbers them at commit.
  const std::vector<std::string>& log_entries() const { return log_entries_; }

 private:
  std::vector<std::string> log_entries_;
};

// A lock that one process at a time holds among all processes sharing the
// store (MetaStore::Lock). Destroying it releases the lock.
class MetaLock {
 public:
  virtual ~MetaLock() = default;
};

using ScanFn = std::function<bool(std::string_view key, std::string_view value)>;

// What MetaStore::CheckIntegrity found on a store whose history is whole.
struct MetaIntegrity {
  uint64_t sequence = 0;    // the backend's number of its last committed write
  uint64_t high_water = 0;  // the highest such number ever recorded as committed
  uint64_t files_checked = 0;
  uint64_t bytes_checked = 0;
};

// Writes outside any transaction, for content-addressed records (whoever
// writes a key writes the same value, so there is nothing to conflict on):
// Write() applies the puts buffered so far at once, without syncing; they
// become durable with the next transaction that commits (a crash before may
// drop them). Write them before the transaction that refers to them, so a
// crash leaves unreferenced records, never dangling references.
class MetaBatch {
 public:
  virtual ~MetaBatch() = default;
  virtual Status Put(std::string_view key, std::string_view value) = 0;
  // Bytes of keys and values buffered since the last Write().
  virtual size_t buffered_bytes() const = 0;
  virtual Status Write() = 0;
};

class MetaStore {
 public:
  virtual ~MetaStore() = default;

  virtual std::string Url() const = 0;
  virtual bool read_only() const = 0;
  // Whether other processes may write to the store while this one does
  // (PostgreSQL); false when a writer excludes every other (RocksDB's lock).
  virtual bool shared_writers() const { return false; }
  // Transactions RunTransaction ran again after a TXN_CONFLICT, since open:
  // contention, for measurements and tests.
  uint64_t conflicts_retried() const { return conflicts_retried_.load(); }
  void CountConflictRetried() { conflicts_retried_.fetch_add(1); }
  // A number that changes whenever a write becomes visible to this
  // process's reads (every committed transaction, batch or range delete), so
  // that what was read under one stamp is known unchanged while the stamp
  // stays; nullopt when the store cannot tell cheaply (then nothing may be
  // cached on it). Cheap: an atomic load.
  virtual std::optional<uint64_t> ChangeStamp() const { return std::nullopt; }
  virtual Result<std::optional<std::string>> Get(std::string_view key) = 0;
  // Visits keys in [begin, end) in order until fn returns false.
  virtual Status Scan(std::string_view begin, std::string_view end, const ScanFn& fn) = 0;
  // Scan for one pass over a large range that is read once (a log being
  // consumed): the backend may read ahead in large pieces and keep nothing of
  // it in its cache.
  virtual Status ScanBulk(std::string_view begin, std::string_view end, const ScanFn& fn) {
    return Scan(begin, end, fn);
  }
  virtual std::unique_ptr<MetaTxn> Begin() = 0;
  // A batch of unsynced, unchecked writes (see MetaBatch). The default
  // applies them with a transaction.
  virtual std::unique_ptr<MetaBatch> NewBatch();
  // Deletes every key in [begin, end) at once, outside any transaction: only
  // for ranges no reader depends on any more (consumed logs, dead data). Not
  // durable on return: a crash may bring the keys back (callers must not care,
  // as nobody reads them); it is as durable as the next committed transaction.
  virtual Status DeleteRange(std::string_view begin, std::string_view end) = 0;
  // The greatest key in [begin, end), if any.
  virtual Result<std::optional<std::string>> LastKey(std::string_view begin,
                                                     std::string_view end) = 0;

  // Checks that no committed history is missing and, with `read_all`,
  // re-reads every stored byte that carries a checksum. DATA_LOSS
  // METADATA_CORRUPT (saying where) when something is damaged or missing.
  // Default: UNIMPLEMENTED.
  virtual Result<MetaIntegrity> CheckIntegrity(bool read_all);
  // Writes a consistent copy of the whole store, as of one moment, into the
  // new directory `dir` while the store stays in use; returns the copy's
  // sequence (see MetaIntegrity). ALREADY_EXISTS when `dir` exists.
  // Default: UNIMPLEMENTED.
  virtual Result<uint64_t> Checkpoint(const std::string& dir);
  // Rewrites the store's files so that no value overwritten or deleted
  // before the call is left in any of them (for plaintext that was
  // resealed): the RocksDB backend flushes its memtable, rewrites every SST
  // file and deletes the write-ahead logs and SST files that held the old
  // values. The store stays in use; a reader still iterating over old files
  // keeps them until it finishes. Takes up to the store's size again in free
  // space while it runs. FAILED_PRECONDITION READ_ONLY_MODE on a read-only
  // store; RESOURCE_EXHAUSTED STORAGE_FULL when the disk fills (the old
  // files stay, reads go on, writes wait as after any failed write; rerun
  // once there is room); UNAVAILABLE METADATA_IO_ERROR on other I/O errors.
  // Default: UNIMPLEMENTED.
  virtual Status Compact();
  // OK when writes can go on now (after a failed write, once its cause is
  // gone); otherwise the error the next write would get.
  virtual Status CheckWritable() { return Status::Ok(); }
  // Gives up space the backend holds back for a full disk (a ballast file),
  // so deletes can go on; true when it freed some.
  virtual bool ReleaseSpareSpace() { return false; }
  // Room left for the store's own files, when the backend can tell.
  virtual std::optional<DiskSpace> Space() const { return std::nullopt; }
  // What the backend dropped or skipped while opening in salvage mode
  // (MetaOpenOptions::salvage), one line each; empty otherwise.
  virtual std::vector<std::string> SalvageNotes() const { return {}; }

  // The log: visits entries with sequence numbers in (after, watermark], in
  // order, until fn returns false, and returns the number it has read up to.
  // No entry ever appears below that number later (the log may have gaps),
  // so a reader resumes from it.
  // Numbers are given in commit order across every process sharing the
  // store, so a cursor from one server is valid on another.
  using LogFn = std::function<bool(uint64_t seq, std::string_view entry)>;
  virtual Result<uint64_t> ScanLog(uint64_t after, const LogFn& fn) = 0;
  // The number below which the log is settled (ScanLog reads up to it). A
  // backend that cannot reach its database answers the last one it knew,
  // which is still safe to read up to.
  virtual uint64_t LogWatermark() const = 0;
  // Waits up to `timeout` for the watermark to pass `seq`; returns whether
  // it did.
  virtual bool WaitForLog(uint64_t seq, std::chrono::milliseconds timeout) const = 0;
  // Ends every WaitForLog waiting now (each returns whether the log passed
  // its number): for a follower being stopped, which then need not wait out
  // its poll. Waits that begin later are not affected.
  virtual void InterruptLogWaits() = 0;

  // Takes the store-wide lock `name`, waiting up to `timeout` while another
  // holder has it: ABORTED LOCK_TIMEOUT then. For work that must not run
  // twice at once anywhere (snapshot creation against pruning). A holder
  // that dies releases it (PostgreSQL: a session advisory lock, gone with
  // its connection). The default serves one process (a backend only one
  // writing process can open, as RocksDB).
  virtual Result<std::unique_ptr<MetaLock>> Lock(std::string_view name,
                                                 std::chrono::milliseconds timeout);

 private:
  // The default Lock's state: the names held in this process.
  std::mutex local_locks_mu_;
  std::condition_variable local_locks_cv_;
  std::set<std::string, std::less<>> local_locks_;
  std::atomic<uint64_t> conflicts_retried_{0};
};

struct MetaOpenOptions {
  bool create = false;
  bool read_only = false;  // shares the store with a running writer
  // With read_only: follow that writer. A plain read-only open sees the store
  // as it was when opened; a following one also sees the writer's later
  // commits, within about half a second (RocksDB: a secondary instance that
  // catches up in the background). For long-lived readers such as a mount.
  // Its log (ScanLog, LogWatermark) stays as of the opening: the writer's
  // numbers still in flight are not visible to it, so a later watermark
  // could skip an entry that commits after a higher one.
  bool follow_writer = false;
  // For `aifs recover` only: open a store whose history is damaged, keeping
  // every intact committed write (skipping damaged ones) instead of refusing.
  // The result may break the engine's invariants until the engine repairs it.
  bool salvage = false;
};

// rocksdb:///abs/path, or postgresql://user@host:port/db?pool=8&schema=aifs
// (see postgres/postgres_meta_store.h).
Result<std::unique_ptr<MetaStore>> OpenMetaStore(const std::string& url,
                                                 const MetaOpenOptions& options);

// Runs `body` in a fresh transaction and commits it, retrying on TXN_CONFLICT
// for up to `retry_for`, with randomized, growing pauses (so racing writers
// spread out). `body` must be safe to run more than once.
Status RunTransaction(MetaStore& store, const std::function<Status(MetaTxn&)>& body,
                      std::chrono::milliseconds retry_for = std::chrono::seconds(30));

// The smallest key greater than every key that starts with `prefix`.
std::string PrefixEnd(std::string_view prefix);

}  // namespace aifs
