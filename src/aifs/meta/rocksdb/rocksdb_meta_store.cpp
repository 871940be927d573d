#include "aifs/meta/rocksdb/rocksdb_meta_store.h"

#include <fcntl.h>
#include <rocksdb/db.h>
#include <rocksdb/env.h>
#include <rocksdb/filter_policy.h>
#include <rocksdb/options.h>
#include <rocksdb/perf_level.h>
#include <rocksdb/table.h>
#include <rocksdb/transaction_log.h>
#include <rocksdb/utilities/checkpoint.h>
#include <rocksdb/utilities/optimistic_transaction_db.h>
#include <rocksdb/utilities/transaction.h>
#include <rocksdb/write_batch.h>
#include <sys/stat.h>
#include <unistd.h>

#include <cstdarg>
#include <cstdio>
#include <cstring>
#include <deque>
#include <filesystem>
#include <sstream>

#include "aifs/core/file_util.h"

namespace aifs {

namespace {

using ReadLock = std::shared_lock<std::shared_timed_mutex>;

Status FromRocks(const rocksdb::Status& s, std::string_view what) {
  if (s.ok()) return Status::Ok();
  std::string msg = std::string(what) + ": " + s.ToString();
  if (s.IsBusy() || s.IsTryAgain())
    return err::Aborted("TXN_CONFLICT", "concurrent update, retry: " + msg);
  if (s.IsNoSpace()) return err::ResourceExhausted("STORAGE_FULL", msg);
  if (s.IsCorruption()) return err::DataLoss("METADATA_CORRUPT", msg);
  if (s.IsIOError()) {
    if (s.ToString().find("Read-only file system") != std::string::npos)
      return err::FailedPrecondition("STORAGE_READ_ONLY", msg);
    if (s.ToString().find("lock") != std::string::npos)
      return err::Unavailable("DATA_DIR_LOCKED",
                              msg + " (another aifs process holds this data directory)");
    if (s.ToString().find("No space") != std::string::npos)
      return err::ResourceExhausted("STORAGE_FULL", msg);
    if (s.ToString().find("ermission denied") != std::string::npos)
      return err::PermissionDenied("STORAGE_ACCESS_DENIED", msg);
    return err::Unavailable("METADATA_IO_ERROR", msg);
  }
  if (s.IsNotSupported()) return err::FailedPrecondition("METADATA_READ_ONLY", msg);
  return err::Internal("METADATA_ERROR", msg);
}

rocksdb::Slice ToSlice(std::string_view s) { return {s.data(), s.size()}; }

rocksdb::WriteOptions SyncedWrites() {
  rocksdb::WriteOptions w;
  w.sync = true;
  return w;
}

Status ReadOnlyMode() {
  return err::FailedPrecondition("READ_ONLY_MODE", "the data directory is open read-only");
}

// RocksDB's info log, kept in memory (the last lines, for salvage notes),
// fatal ones echoed to stderr (errors reach callers as failed operations).
// Its file logger must not be used: after one failed write to a full disk,
// its next write trips an assertion that aborts the process (seen with
// Debian's librocksdb 7.8).
class MemoryLogger : public rocksdb::Logger {
 public:
  MemoryLogger() : rocksdb::Logger(rocksdb::InfoLogLevel::WARN_LEVEL) {}
  using rocksdb::Logger::Logv;
  void Logv(const rocksdb::InfoLogLevel level, const char* format, va_list ap) override {
    if (level < GetInfoLogLevel()) return;
    char line[1024];
    std::vsnprintf(line, sizeof line, format, ap);
    std::lock_guard lock(mu_);
    lines_.emplace_back(line);
    if (lines_.size() > 256) lines_.pop_front();
    if (level >= rocksdb::InfoLogLevel::FATAL_LEVEL)
      std::fprintf(stderr, "aifs: rocksdb: %s\n", line);
  }
  void Logv(const char* format, va_list ap) override {
    Logv(rocksdb::InfoLogLevel::INFO_LEVEL, format, ap);
  }
  std::vector<std::string> Lines() const {
    std::lock_guard lock(mu_);
    return {lines_.begin(), lines_.end()};
  }

 private:
  mutable std::mutex mu_;
  std::deque<std::string> lines_;
};

rocksdb::Options BaseOptions(const MetaOpenOptions& o, std::shared_ptr<rocksdb::Logger> log) {
  rocksdb::Options opts;
  opts.create_if_missing = o.create;
  opts.paranoid_checks = true;
  opts.max_background_jobs = 2;
  opts.info_log = std::move(log);
  // Every commit is synced, so damage to a committed record is the disk's and
  // refusing to open is the only answer that loses nothing (docs/durability.md
  // has the measurement against the other modes). OpenDb lets only a torn
  // last record through, one the high-water file shows was never committed.
  opts.wal_recovery_mode = o.salvage ? rocksdb::WALRecoveryMode::kSkipAnyCorruptedRecords
                                     : rocksdb::WALRecoveryMode::kAbsoluteConsistency;
  opts.track_and_verify_wals_in_manifest = !o.salvage;
  // Most lookups of a put are for keys that do not exist yet (the new
  // asset's record, tombstone and retired record, its chunks, its path):
  // bloom filters answer them without searching the memtable's skip list or
  // every table's index (tables written before this option get filters when
  // compacted).
  rocksdb::BlockBasedTableOptions table;
  table.filter_policy.reset(rocksdb::NewBloomFilterPolicy(10));
  opts.table_factory.reset(rocksdb::NewBlockBasedTableFactory(table));
  opts.memtable_prefix_bloom_size_ratio = 0.05;
  opts.memtable_whole_key_filtering = true;
  // A writable open flushes the logs it replayed into a table file (3 syncs
  // and a table build per CLI call), on purpose: kept for replay instead,
  // logs pile up, and a lost log in the middle of them went unnoticed (the
  // high-water check sees only the last sequence; RocksDB replays the rest
  // without a gap check), silently dropping committed writes.
  return opts;
}

// The high-water file: "aifs-meta-high-water 1\nidentity <db id>\nsequence <n>\n".
struct HighWater {
  std::string identity;
  uint64_t sequence = 0;
};

Result<std::optional<HighWater>> ReadHighWater(const std::string& file) {
  struct stat st;
  if (::stat(file.c_str(), &st) != 0) return std::optional<HighWater>();
  AIFS_ASSIGN_OR_RETURN(std::string text, ReadFileToString(file));
  std::istringstream in(text);
  std::string magic, version, id_word, seq_word;
  HighWater hw;
  if (!(in >> magic >> version >> id_word >> hw.identity >> seq_word >> hw.sequence) ||
      magic != "aifs-meta-high-water" || version != "1" || id_word != "identity" ||
      seq_word != "sequence")
    return err::DataLoss("METADATA_CORRUPT", file + " is not a high-water file");
  return std::optional<HighWater>(hw);
}

Status WriteHighWater(const std::string& file, const HighWater& hw) {
  return WriteFileAtomic(file,
                         "aifs-meta-high-water 1\nidentity " + hw.identity + "\nsequence " +
                             std::to_string(hw.sequence) + "\n",
                         0600);
}

// What is wrong with an open database (identity `id`, last sequence `seq`)
// against the high-water file `file` says; empty when nothing is.
std::string HistoryProblem(const HighWater& hw, const std::string& id, uint64_t seq,
                           const std::string& file) {
  if (hw.identity != id)
    return "it is database " + id + ", but " + file + " says database " + hw.identity +
           " was last written here";
  if (seq < hw.sequence)
    return "its history ends at sequence " + std::to_string(seq) + ", but sequence " +
           std::to_string(hw.sequence) + " was committed (" + file +
           "): committed writes are missing";
  return "";
}

std::string WalFiles(const std::string& dir) {
  std::string out;
  std::error_code ec;
  for (const auto& e : std::filesystem::directory_iterator(dir, ec)) {
    if (e.path().extension() != ".log") continue;
    out += (out.empty() ? "" : ", ") + e.path().filename().string();
  }
  return out.empty() ? "none" : out;
}

// Where a store that failed to open has its history intact up to: replays
// what it can, read-only, stopping at the first damage.
std::string DescribeDamage(const std::string& path, const std::optional<HighWater>& hw) {
  rocksdb::Options opts;
  opts.info_log = std::make_shared<MemoryLogger>();
  opts.wal_recovery_mode = rocksdb::WALRecoveryMode::kPointInTimeRecovery;
  rocksdb::DB* db = nullptr;
  std::string where;
  rocksdb::Status s = rocksdb::DB::OpenForReadOnly(opts, path, &db);
  if (s.ok()) {
    where = "history is intact up to sequence " + std::to_string(db->GetLatestSequenceNumber());
    delete db;
  } else {
    where = "even a read-only replay fails (" + s.ToString() + ")";
  }
  if (hw) where += ", and sequence " + std::to_string(hw->sequence) + " was committed";
  return where + " (write-ahead logs: " + WalFiles(path) + ")";
}

// Whether replaying `path` with `opts` (which tolerate a torn tail) read-only
// finds the database `hw` names with every write it vouches for: then the
// damage is only a tail the writer never finished. Changes nothing.
bool TailOnlyDamage(rocksdb::Options opts, const std::string& path, const HighWater& hw) {
  opts.info_log = std::make_shared<MemoryLogger>();
  rocksdb::DB* db = nullptr;
  if (!rocksdb::DB::OpenForReadOnly(opts, path, &db).ok()) return false;
  std::string id;
  (void)db->GetDbIdentity(id);
  const bool whole = HistoryProblem(hw, id, db->GetLatestSequenceNumber(), "").empty();
  delete db;
  return whole;
}

}  // namespace

std::string RocksDbMetaStore::HighWaterPath(const std::string& path) {
  std::string p = path;
  while (p.size() > 1 && p.back() == '/') p.pop_back();
  return p + ".hwm";
}

class RocksDbMetaStore::Txn : public MetaTxn {
 public:
  Txn(RocksDbMetaStore& store, Status ready) : store_(store), ready_(std::move(ready)) {
    if (!ready_.ok()) return;
    lock_ = ReadLock(store.mu_);
    if (!store.txn_db_) {
      ready_ = store.WritesBlocked();
      lock_.unlock();  // a transaction that cannot write holds nothing open
      return;
    }
    txn_.reset(store.txn_db_->BeginTransaction(SyncedWrites()));
  }

  Result<std::optional<std::string>> Get(std::string_view key) override {
    AIFS_RETURN_IF_ERROR(ready_);
    std::string value;
    rocksdb::Status s = txn_->GetForUpdate(rocksdb::ReadOptions(), ToSlice(key), &value);
    if (s.IsNotFound()) return std::optional<std::string>();
    AIFS_RETURN_IF_ERROR(FromRocks(s, "metadata read"));
    return std::optional<std::string>(std::move(value));
  }
  Status Put(std::string_view key, std::string_view value) override {
    AIFS_RETURN_IF_ERROR(ready_);
    return FromRocks(txn_->Put(ToSlice(key), ToSlice(value)), "metadata write");
  }
  Status Delete(std::string_view key) override {
    AIFS_RETURN_IF_ERROR(ready_);
    return FromRocks(txn_->Delete(ToSlice(key)), "metadata delete");
  }
  Status Commit() override {
    return store_.log_.Commit(
        log_entries(), [&](std::string_view k, std::string_view v) { return Put(k, v); },
        [&] { return CommitWrites(); });
  }

 private:
  Status CommitWrites() {
    AIFS_RETURN_IF_ERROR(ready_);
    Status st = FromRocks(txn_->Commit(), "metadata commit");
    if (!st.ok() && st.reason() != "TXN_CONFLICT") store_.NoteWriteFailure(st);
    return st;
  }

  RocksDbMetaStore& store_;
  ReadLock lock_;  // the database stays open while a usable transaction lives
  Status ready_;
  std::unique_ptr<rocksdb::Transaction> txn_;
};

namespace {

// RocksDB counts per-operation statistics in thread-locals by default (perf
// level kEnableCount), a few percent of the CPU of a bulk scan or write here;
// nothing reads them.
class NoPerfCounters {
 public:
  NoPerfCounters() : saved_(rocksdb::GetPerfLevel()) {
    rocksdb::SetPerfLevel(rocksdb::PerfLevel::kDisable);
  }
  ~NoPerfCounters() { rocksdb::SetPerfLevel(saved_); }

 private:
  rocksdb::PerfLevel saved_;
};

}  // namespace

// A plain WriteBatch: no index and no conflict tracking (a transaction's
// batch has both), written without sync. Its buffer is reused across Write()s.
class RocksDbMetaStore::Batch : public MetaBatch {
 public:
  explicit Batch(RocksDbMetaStore& store) : store_(store) {}
  Status Put(std::string_view key, std::string_view value) override {
    return FromRocks(batch_.Put(ToSlice(key), ToSlice(value)), "metadata write");
  }
  size_t buffered_bytes() const override { return batch_.GetDataSize() - kHeader; }
  Status Write() override {
    if (batch_.Count() == 0) return Status::Ok();
    AIFS_RETURN_IF_ERROR(store_.ReadyForWrites());
    ReadLock lock(store_.mu_);
    if (!store_.txn_db_) return store_.WritesBlocked();
    NoPerfCounters no_counters;
    Status st = FromRocks(store_.db_->Write(rocksdb::WriteOptions(), &batch_), "metadata write");
    if (!st.ok()) store_.NoteWriteFailure(st);
    batch_.Clear();
    return st;
  }

 private:
  static constexpr size_t kHeader = 12;  // sequence number + count
  RocksDbMetaStore& store_;
  rocksdb::WriteBatch batch_;
};

Result<std::unique_ptr<MetaStore>> RocksDbMetaStore::Open(const std::string& path,
                                                          const MetaOpenOptions& options) {
  if (options.salvage && options.read_only)
    return err::InvalidArgument("BAD_OPEN_OPTIONS", "salvage needs a writable store");
  std::unique_ptr<RocksDbMetaStore> store(new RocksDbMetaStore(path, options));
  AIFS_RETURN_IF_ERROR(store->OpenDb());
  AIFS_RETURN_IF_ERROR(store->log_.Start(*store));
  if (!options.read_only) store->UpdateHighWater();
  if (!options.read_only || options.follow_writer)
    store->hw_thread_ = std::thread([s = store.get()] { s->UpkeepLoop(); });
  return std::unique_ptr<MetaStore>(std::move(store));
}

Status RocksDbMetaStore::OpenDb() {
  const std::string hw_file = HighWaterPath(path_);
  // Read before opening: a writer beside a read-only open may raise it after.
  auto hw = ReadHighWater(hw_file);
  if (!hw.ok() && !options_.salvage) return hw.status();
  auto logger = std::make_shared<MemoryLogger>();
  rocksdb::Options opts = BaseOptions(options_, logger);
  auto open = [&] {
    if (options_.read_only && options_.follow_writer) {
      // A secondary instance: it replays the writer's manifest and logs on
      // each catch-up. It needs a directory of its own (nothing of the store
      // is written) and every file kept open, so files the writer deletes
      // after a compaction stay readable until the next catch-up.
      if (secondary_dir_.empty()) {
        std::string tmpl = (std::filesystem::temp_directory_path() / "aifs-follow-XXXXXX").string();
        if (!::mkdtemp(tmpl.data()))
          return rocksdb::Status::IOError("mkdtemp for a following open", std::strerror(errno));
        secondary_dir_ = tmpl;
      }
      opts.max_open_files = -1;
      return rocksdb::DB::OpenAsSecondary(opts, path_, secondary_dir_, &db_);
    }
    if (options_.read_only) return rocksdb::DB::OpenForReadOnly(opts, path_, &db_);
    rocksdb::Status st = OpenTransactionDb(opts);
    if (st.IsNoSpace() && !options_.salvage) {
      // The disk is full: the ballast makes room to open and delete, and the
      // replayed log stays a log instead of needing room for a flush.
      ReleaseBallast();
      opts.avoid_flush_during_recovery = true;
      st = OpenTransactionDb(opts);
    }
    if (st.ok()) db_ = txn_db_->GetBaseDB();
    return st;
  };
  rocksdb::Status s = open();
  const bool have_mark = hw.ok() && *hw;
  if (s.IsCorruption() && have_mark && !options_.salvage &&
      s.ToString().find("truncated") != std::string::npos) {
    // A record cut short at the end of the log: a write a crash interrupted
    // (RocksDB may hand a record spanning log blocks to the kernel in pieces).
    // It was never acknowledged, so it is dropped -- but only if every commit
    // the high-water file vouches for replays; the check below refuses
    // otherwise (a log cut by the disk, not by a crash).
    opts.wal_recovery_mode = rocksdb::WALRecoveryMode::kTolerateCorruptedTailRecords;
    if (TailOnlyDamage(opts, path_, **hw)) {
      salvage_notes_.push_back("dropped a torn last log record (" + s.ToString() + ")");
      s = open();
    }
  }
  if (!s.ok()) {
    db_ = nullptr;
    txn_db_ = nullptr;
    Status st = FromRocks(s, "open metadata store " + path_);
    const bool missing_file =
        s.IsIOError() && s.ToString().find("No such file") != std::string::npos;
    if (st.reason() != "METADATA_CORRUPT" && !missing_file) return st;
    return err::DataLoss("METADATA_CORRUPT",
                         "the metadata store " + path_ + " is damaged (" + s.ToString() +
                             "): " + DescribeDamage(path_, hw.ok() ? *hw : std::nullopt) +
                             "; nothing was changed");
  }
  if (options_.salvage) {
    for (const std::string& line : logger->Lines()) salvage_notes_.push_back(line);
  }
  (void)db_->GetDbIdentity(db_id_);
  if (db_id_.empty()) {
    // A secondary instance knows no identity of its own: the writer's file has it.
    auto id = ReadFileToString(path_ + "/IDENTITY");
    if (id.ok()) db_id_ = id->substr(0, id->find_last_not_of("\n") + 1);
  }
  const uint64_t seq = db_->GetLatestSequenceNumber();
  if (have_mark) {
    const std::string problem = HistoryProblem(**hw, db_id_, seq, hw_file);
    if (!problem.empty()) {
      if (options_.salvage) {
        salvage_notes_.push_back(problem);
      } else {
        CloseDb();
        return err::DataLoss("METADATA_CORRUPT", "the metadata store " + path_ + " is damaged: " +
                                                     problem + "; nothing was changed");
      }
    }
    // The file already vouches for everything there is: no need to write it
    // again until a commit moves the sequence on.
    if (!options_.salvage && (*hw)->identity == db_id_ && (*hw)->sequence == seq) hw_written_ = seq;
  }
  if (options_.salvage) {
    // hw_written_ is still 0, so the salvaged history becomes the new mark.
    AIFS_RETURN_IF_ERROR(FromRocks(db_->Flush(rocksdb::FlushOptions()), "salvage flush"));
  }
  if (txn_db_ && !options_.salvage) {
    KeepBallast();
  }
  return Status::Ok();
}

rocksdb::Status RocksDbMetaStore::OpenTransactionDb(const rocksdb::Options& opts) {
  // Commit validation locks one of these buckets per written key. RocksDB's
  // default, 2^20 mutexes, costs ~70 ms of allocation and page faults at
  // every open and close (half of a small CLI put, measured); 2^14 keep
  // concurrent commits on different keys apart just as well.
  rocksdb::OptimisticTransactionDBOptions occ;
  occ.occ_lock_buckets = 1 << 14;
  std::vector<rocksdb::ColumnFamilyHandle*> handles;
  rocksdb::Status st = rocksdb::OptimisticTransactionDB::Open(
      opts, occ, path_, {{rocksdb::kDefaultColumnFamilyName, opts}}, &handles, &txn_db_);
  // The default family's handle: the database keeps its own.
  for (auto* h : handles) delete h;
  return st;
}

void RocksDbMetaStore::FlushLargeLog() {
  // Read-only opens (`ls`, `info`, mounts) cannot flush: they replay what the
  // last writer left, and replaying the 30 MB log of a `put -r` of 100k
  // files took 2.4 s.
  constexpr uint64_t kMaxLogBytes = 256 << 10;
  rocksdb::VectorLogPtr logs;
  if (!db_->GetSortedWalFiles(logs).ok()) return;
  uint64_t bytes = 0;
  for (const auto& log : logs) bytes += log->SizeFileBytes();
  if (bytes <= kMaxLogBytes) return;
  // A failed flush (full disk) leaves the logs to be replayed: nothing lost.
  (void)db_->Flush(rocksdb::FlushOptions());
}

void RocksDbMetaStore::CloseDb() {
  if (txn_db_)
    delete txn_db_;
  else
    delete db_;
  txn_db_ = nullptr;
  db_ = nullptr;
}

RocksDbMetaStore::~RocksDbMetaStore() {
  if (hw_thread_.joinable()) {
    {
      std::lock_guard lock(hw_mu_);
      hw_stop_ = true;
    }
    hw_wake_.notify_all();
    hw_thread_.join();
    if (txn_db_ && !writes_failed_ && !options_.salvage) FlushLargeLog();
    UpdateHighWater();
  }
  std::unique_lock lock(mu_);
  CloseDb();
  if (!secondary_dir_.empty()) {
    std::error_code ignored;
    std::filesystem::remove_all(secondary_dir_, ignored);
  }
}

void RocksDbMetaStore::UpdateHighWater() {
  ReadLock lock(mu_);
  if (!txn_db_ || writes_failed_) return;
  const uint64_t seq = db_->GetLatestSequenceNumber();
  if (seq <= hw_written_ && hw_written_ != 0) return;
  // Everything up to `seq` must be durable before the file says so.
  if (!db_->SyncWAL().ok()) return;
  if (WriteHighWater(HighWaterPath(path_), {db_id_, seq}).ok()) hw_written_ = seq;
  // A failure (full disk) keeps the older mark: weaker, never wrong.
}

void RocksDbMetaStore::UpkeepLoop() {
  const auto period = options_.read_only ? std::chrono::milliseconds(500) : std::chrono::seconds(1);
  std::unique_lock lock(hw_mu_);
  while (!hw_wake_.wait_for(lock, period, [&] { return hw_stop_; })) {
    lock.unlock();
    if (options_.read_only) {
      CatchUp();
    } else {
      UpdateHighWater();
      if (!options_.salvage) KeepBallast();  // back once the disk has room again
    }
    lock.lock();
  }
}

void RocksDbMetaStore::CatchUp() {
  ReadLock lock(mu_);
  // A failed catch-up (the writer removed a log while it was read) leaves the
  // last view in place; the next round tries again.
  if (db_) (void)db_->TryCatchUpWithPrimary();
}

Status RocksDbMetaStore::WritesBlocked() const {
  if (options_.read_only) return ReadOnlyMode();
  std::lock_guard lock(failure_mu_);
  return write_failure_.ok() ? err::Unavailable("METADATA_UNAVAILABLE", "metadata store is closed")
                             : write_failure_;
}

void RocksDbMetaStore::NoteWriteFailure(const Status& st) {
  std::lock_guard lock(failure_mu_);
  if (writes_failed_) return;
  if (st.reason() == "STORAGE_FULL") ReleaseBallast();  // room for the reopen and deletes
  write_failure_ =
      Status(st.code(), st.reason(), st.message() + " (writes resume once the cause is gone)");
  writes_failed_ = true;
}

Status RocksDbMetaStore::ReadyForWrites() {
  if (options_.read_only) return ReadOnlyMode();
  if (!writes_failed_) return Status::Ok();
  std::lock_guard reopen(reopen_mu_);
  if (!writes_failed_) return Status::Ok();
  constexpr uint64_t kMinFree = 4 << 20;
  auto space = Space();
  if (space && space->available < kMinFree) return WritesBlocked();
  // RocksDB keeps a WAL writer that failed once failed: only a new instance
  // writes again.
  std::unique_lock lock(mu_, std::defer_lock);
  if (!lock.try_lock_for(std::chrono::seconds(5)))
    return err::Unavailable("METADATA_BUSY",
                            "the metadata store waits for open transactions to reopen; retry");
  CloseDb();
  Status st = OpenDb();
  if (!st.ok()) {
    // Keep serving reads while writes wait.
    MetaOpenOptions ro = options_;
    ro.read_only = true;
    rocksdb::Options opts = BaseOptions(ro, std::make_shared<MemoryLogger>());
    if (!rocksdb::DB::OpenForReadOnly(opts, path_, &db_).ok()) db_ = nullptr;
    return st;
  }
  std::lock_guard failure(failure_mu_);
  write_failure_ = Status::Ok();
  writes_failed_ = false;
  return Status::Ok();
}

std::string RocksDbMetaStore::BallastPath() const { return HighWaterPath(path_) + ".ballast"; }

bool RocksDbMetaStore::ReleaseBallast() { return ::unlink(BallastPath().c_str()) == 0; }

void RocksDbMetaStore::KeepBallast() {
  const std::string file = BallastPath();
  struct stat st;
  if (::stat(file.c_str(), &st) == 0) return;
  auto space = Space();
  if (!space) return;
  const uint64_t size = std::min<uint64_t>(kBallastBytes, space->total / 64);
  if (space->available < 8 * size) return;  // not now: it would make the disk full sooner
  int fd = ::open(file.c_str(), O_WRONLY | O_CREAT | O_EXCL | O_CLOEXEC, 0600);
  if (fd < 0) return;
  const bool ok = ::posix_fallocate(fd, 0, static_cast<off_t>(size)) == 0 && ::fsync(fd) == 0;
  ::close(fd);
  if (!ok) ::unlink(file.c_str());
}

std::optional<uint64_t> RocksDbMetaStore::ChangeStamp() const {
  // Every write takes a new sequence number. A secondary instance (following
  // a writer) moves at its catch-ups, which are not promised here: none.
  ReadLock lock(mu_);
  if (!db_ || !secondary_dir_.empty()) return std::nullopt;
  return db_->GetLatestSequenceNumber();
}

Result<std::optional<std::string>> RocksDbMetaStore::Get(std::string_view key) {
  ReadLock lock(mu_);
  if (!db_) return WritesBlocked();
  std::string value;
  rocksdb::Status s = db_->Get(rocksdb::ReadOptions(), ToSlice(key), &value);
  if (s.IsNotFound()) return std::optional<std::string>();
  AIFS_RETURN_IF_ERROR(FromRocks(s, "metadata read"));
  return std::optional<std::string>(std::move(value));
}

namespace {

Status ScanWith(rocksdb::DB* db, rocksdb::ReadOptions ro, std::string_view begin,
                std::string_view end, const ScanFn& fn) {
  rocksdb::Slice upper = ToSlice(end);
  if (!end.empty()) ro.iterate_upper_bound = &upper;
  std::unique_ptr<rocksdb::Iterator> it(db->NewIterator(ro));
  for (it->Seek(ToSlice(begin)); it->Valid(); it->Next()) {
    if (!fn(it->key().ToStringView(), it->value().ToStringView())) break;
  }
  return FromRocks(it->status(), "metadata scan");
}

}  // namespace

Status RocksDbMetaStore::Scan(std::string_view begin, std::string_view end, const ScanFn& fn) {
  ReadLock lock(mu_);
  if (!db_) return WritesBlocked();
  return ScanWith(db_, rocksdb::ReadOptions(), begin, end, fn);
}

Status RocksDbMetaStore::ScanBulk(std::string_view begin, std::string_view end, const ScanFn& fn) {
  // Measured on a 100k-key change log (~2,500 4 KiB blocks): without these,
  // every block is one pread and a block-cache insert (evicting useful
  // blocks); 256 KiB reads ahead cut that scan by about a third, while
  // larger buffers cost more in first-touch page faults than they save.
  NoPerfCounters no_counters;
  rocksdb::ReadOptions ro;
  ro.fill_cache = false;
  ro.readahead_size = 256 << 10;
  ReadLock lock(mu_);
  if (!db_) return WritesBlocked();
  return ScanWith(db_, ro, begin, end, fn);
}

Status RocksDbMetaStore::DeleteRange(std::string_view begin, std::string_view end) {
  AIFS_RETURN_IF_ERROR(ReadyForWrites());
  ReadLock lock(mu_);
  if (!txn_db_) return WritesBlocked();
  // Not synced (see the interface): the range tombstone reaches the disk with
  // the next synced write, and a crash before that only leaves dead keys.
  Status st = FromRocks(db_->DeleteRange(rocksdb::WriteOptions(), db_->DefaultColumnFamily(),
                                         ToSlice(begin), ToSlice(end)),
                        "metadata range delete");
  if (!st.ok()) NoteWriteFailure(st);
  return st;
}

std::unique_ptr<MetaBatch> RocksDbMetaStore::NewBatch() { return std::make_unique<Batch>(*this); }

std::unique_ptr<MetaTxn> RocksDbMetaStore::Begin() {
  Status ready = ReadyForWrites();
  return std::make_unique<Txn>(*this, std::move(ready));
}

Result<std::optional<std::string>> RocksDbMetaStore::LastKey(std::string_view begin,
                                                             std::string_view end) {
  rocksdb::ReadOptions ro;
  rocksdb::Slice lower = ToSlice(begin), upper = ToSlice(end);
  ro.iterate_lower_bound = &lower;
  if (!end.empty()) ro.iterate_upper_bound = &upper;
  ReadLock lock(mu_);
  if (!db_) return WritesBlocked();
  std::unique_ptr<rocksdb::Iterator> it(db_->NewIterator(ro));
  it->SeekToLast();
  AIFS_RETURN_IF_ERROR(FromRocks(it->status(), "metadata scan"));
  if (!it->Valid()) return std::optional<std::string>();
  return std::optional<std::string>(it->key().ToString());
}

Result<MetaIntegrity> RocksDbMetaStore::CheckIntegrity(bool read_all) {
  ReadLock lock(mu_);
  if (!db_) return WritesBlocked();
  MetaIntegrity report;
  Status st = read_all ? FromRocks(db_->VerifyChecksum(), "metadata checksums") : Status::Ok();
  if (!st.ok()) {
    if (st.reason() == "METADATA_CORRUPT")
      return err::DataLoss("METADATA_CORRUPT",
                           "the metadata store " + path_ + " is damaged: " + st.message());
    return st;
  }
  if (read_all) {
    std::vector<rocksdb::LiveFileMetaData> files;
    db_->GetLiveFilesMetaData(&files);
    for (const auto& f : files) {
      ++report.files_checked;
      report.bytes_checked += f.size;
    }
  }
  report.sequence = db_->GetLatestSequenceNumber();
  const std::string hw_file = HighWaterPath(path_);
  AIFS_ASSIGN_OR_RETURN(auto hw, ReadHighWater(hw_file));
  if (hw) {
    report.high_water = hw->sequence;
    const std::string problem = HistoryProblem(*hw, db_id_, report.sequence, hw_file);
    if (!problem.empty())
      return err::DataLoss("METADATA_CORRUPT",
                           "the metadata store " + path_ + " is damaged: " + problem);
  }
  return report;
}

Result<uint64_t> RocksDbMetaStore::Checkpoint(const std::string& dir) {
  if (options_.read_only) return ReadOnlyMode();
  std::error_code ec;
  if (std::filesystem::exists(dir, ec))
    return err::AlreadyExists("BACKUP_EXISTS", dir + " already exists");
  ReadLock lock(mu_);
  if (!txn_db_) return WritesBlocked();
  rocksdb::Checkpoint* raw = nullptr;
  AIFS_RETURN_IF_ERROR(FromRocks(rocksdb::Checkpoint::Create(db_, &raw), "checkpoint"));
  std::unique_ptr<rocksdb::Checkpoint> cp(raw);
  uint64_t seq = 0;
  // 0: flush the memtables first, so the copy needs no write-ahead log.
  AIFS_RETURN_IF_ERROR(FromRocks(cp->CreateCheckpoint(dir, 0, &seq), "checkpoint into " + dir));
  return seq;
}

Status RocksDbMetaStore::Compact() {
  AIFS_RETURN_IF_ERROR(ReadyForWrites());
  ReadLock lock(mu_);
  if (!txn_db_) return WritesBlocked();
  // The flush moves the memtable into an SST file, so no write-ahead log is
  // needed any more; the compaction rewrites every file down to the last
  // level, keeping only the newest version of each key (nothing holds a
  // snapshot), and forces the last level to be rewritten too.
  Status st = FromRocks(db_->Flush(rocksdb::FlushOptions()), "metadata flush");
  rocksdb::CompactRangeOptions cro;
  cro.bottommost_level_compaction = rocksdb::BottommostLevelCompaction::kForce;
  if (st.ok()) st = FromRocks(db_->CompactRange(cro, nullptr, nullptr), "metadata compaction");
  if (!st.ok()) {
    NoteWriteFailure(st);
    return st;
  }
  // RocksDB deletes the files it no longer needs after the job that freed
  // them returns; re-enabling deletions purges them now, in this thread
  // (unless a backup holds deletions off: then its own re-enable does).
  st = FromRocks(db_->DisableFileDeletions(), "metadata file deletions");
  if (st.ok()) st = FromRocks(db_->EnableFileDeletions(/*force=*/false), "metadata file deletions");
  return st;
}

}  // namespace aifs
