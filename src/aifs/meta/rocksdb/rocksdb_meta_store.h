// RocksDbMetaStore: the embedded MetaStore, an OptimisticTransactionDB whose
// commits are written with a synced WAL.
//
// Promise (docs/storage-format.md, "Metadata durability"):
// - No committed write is lost silently. The WAL is replayed with absolute
//   consistency (a damaged or incomplete record refuses the open; a killed
//   process never leaves one, as each record reaches the kernel whole) and
//   synced WALs are tracked in the MANIFEST. Beside the store, "<dir>.hwm"
//   records the database's identity and the highest sequence known durable
//   (updated about once a second while writes happen, and at close); a store
//   that opens below it, or as another database, is refused. Refusals are
//   DATA_LOSS METADATA_CORRUPT naming the sequence history is intact up to.
// - A failed write (full disk, I/O error) leaves the store readable. RocksDB
//   keeps a WAL writer that failed once failed, so later writes fail with
//   RESOURCE_EXHAUSTED STORAGE_FULL (or UNAVAILABLE METADATA_IO_ERROR) until
//   space is back; the next write then reopens the database, without a
//   restart. "<dir>.hwm.ballast", a few MiB allocated while space is
//   plenty (checked at open and every second), is given up when the disk
//   fills, so the store can still open and delete. RocksDB's own log goes to memory and stderr,
//   never to a file on the data disk (its file logger aborts the process after a failed write).
// Thread safety: every method may be called from any thread; transactions
// hold the open database for their lifetime (a reopen waits for them).
#pragma once

#include <atomic>
#include <condition_variable>
#include <memory>
#include <mutex>
#include <shared_mutex>
#include <thread>

#include "aifs/meta/meta_store.h"
#include "aifs/meta/rocksdb/keyed_log.h"

namespace rocksdb {
class DB;
class OptimisticTransactionDB;
struct Options;
class Status;
}  // namespace rocksdb

namespace aifs {

class RocksDbMetaStore : public MetaStore {
 public:
  static Result<std::unique_ptr<MetaStore>> Open(const std::string& path,
                                                 const MetaOpenOptions& options);
  ~RocksDbMetaStore() override;

  std::string Url() const override { return "rocksdb://" + path_; }
  bool read_only() const override { return options_.read_only; }
  std::optional<uint64_t> ChangeStamp() const override;
  Result<std::optional<std::string>> Get(std::string_view key) override;
  Status Scan(std::string_view begin, std::string_view end, const ScanFn& fn) override;
  Status ScanBulk(std::string_view begin, std::string_view end, const ScanFn& fn) override;
  std::unique_ptr<MetaTxn> Begin() override;
  std::unique_ptr<MetaBatch> NewBatch() override;
  Status DeleteRange(std::string_view begin, std::string_view end) override;
  Result<std::optional<std::string>> LastKey(std::string_view begin, std::string_view end) override;
  Status CheckWritable() override { return ReadyForWrites(); }
  bool ReleaseSpareSpace() override { return ReleaseBallast(); }
  Result<MetaIntegrity> CheckIntegrity(bool read_all) override;
  Result<uint64_t> Checkpoint(const std::string& dir) override;
  Status Compact() override;
  std::optional<DiskSpace> Space() const override { return DiskSpaceOf(path_); }
  std::vector<std::string> SalvageNotes() const override { return salvage_notes_; }
  Result<uint64_t> ScanLog(uint64_t after, const LogFn& fn) override {
    return log_.Scan(*this, after, fn);
  }
  uint64_t LogWatermark() const override { return log_.Watermark(); }
  bool WaitForLog(uint64_t seq, std::chrono::milliseconds timeout) const override {
    return log_.WaitPast(seq, timeout);
  }
  void InterruptLogWaits() override { log_.InterruptWaits(); }

  // The high-water file of the store at `path`.
  static std::string HighWaterPath(const std::string& path);

 private:
  class Txn;
  class Batch;
  friend class Txn;
  friend class Batch;

  RocksDbMetaStore(std::string path, const MetaOpenOptions& options)
      : path_(std::move(path)), options_(options) {}
  // Opens db_ (and txn_db_ unless read-only); checks the history.
  Status OpenDb();
  // Opens txn_db_ (not db_) for writes.
  rocksdb::Status OpenTransactionDb(const rocksdb::Options& opts);
  // At a writer's close: flushes the memtable when the log left for the next
  // open to replay is over 256 KiB.
  void FlushLargeLog();
  void CloseDb();
  // Writes may go on: reopens the database after a failed write when space
  // is back. Called without mu_ held.
  Status ReadyForWrites();
  // Records a failed write: later writes wait for ReadyForWrites.
  void NoteWriteFailure(const Status& st);
  // Why writes cannot go on now (READ_ONLY_MODE, or the failure they wait out).
  Status WritesBlocked() const;
  // Syncs the WAL and records the current sequence in the high-water file.
  void UpdateHighWater();
  // The ballast file: allocated while space is plenty, released when full.
  static constexpr uint64_t kBallastBytes = 4 << 20;
  std::string BallastPath() const;
  void KeepBallast();
  bool ReleaseBallast();  // whether there was one
  // The background thread: a writer keeps its high-water file and ballast; a
  // following reader catches up with the writer.
  void UpkeepLoop();
  void CatchUp();

  const std::string path_;
  const MetaOpenOptions options_;
  std::vector<std::string> salvage_notes_;
  KeyedLog log_;  // numbered in this process: the directory lock keeps others out

  mutable std::shared_timed_mutex mu_;                  // guards the handles below
  rocksdb::DB* db_ = nullptr;                           // owned unless txn_db_ is set
  rocksdb::OptimisticTransactionDB* txn_db_ = nullptr;  // null when read-only
  std::string db_id_;
  std::string secondary_dir_;  // a following open's own directory (removed on close)

  std::mutex reopen_mu_;  // one reopen at a time
  mutable std::mutex failure_mu_;
  Status write_failure_;  // the failure writes wait out; ok when none
  std::atomic<bool> writes_failed_{false};

  std::mutex hw_mu_;
  std::condition_variable hw_wake_;
  bool hw_stop_ = false;
  uint64_t hw_written_ = 0;
  std::thread hw_thread_;
};

}  // namespace aifs
