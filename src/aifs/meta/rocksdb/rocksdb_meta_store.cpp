#include "aifs/meta/rocksdb/rocksdb_meta_store.h"

#include <rocksdb/db.h>
#include <rocksdb/options.h>
#include <rocksdb/perf_level.h>
#include <rocksdb/write_batch.h>
#include <rocksdb/utilities/optimistic_transaction_db.h>
#include <rocksdb/utilities/transaction.h>

namespace aifs {

namespace {

Status FromRocks(const rocksdb::Status& s, std::string_view what) {
  if (s.ok()) return Status::Ok();
  std::string msg = std::string(what) + ": " + s.ToString();
  if (s.IsBusy() || s.IsTryAgain())
    return err::Aborted("TXN_CONFLICT", "concurrent update, retry: " + msg);
  if (s.IsNoSpace()) return err::ResourceExhausted("STORAGE_FULL", msg);
  if (s.IsCorruption()) return err::DataLoss("METADATA_CORRUPT", msg);
  if (s.IsIOError()) {
    if (s.ToString().find("lock") != std::string::npos)
      return err::Unavailable("DATA_DIR_LOCKED",
                              msg + " (another aifs process holds this data directory)");
    if (s.ToString().find("Read-only file system") != std::string::npos)
      return err::FailedPrecondition("STORAGE_READ_ONLY", msg);
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

class RocksTxn : public MetaTxn {
 public:
  RocksTxn(rocksdb::OptimisticTransactionDB* db, LogSequencer& log)
      : MetaTxn(log), txn_(db ? db->BeginTransaction(SyncedWrites()) : nullptr) {}

  Result<std::optional<std::string>> Get(std::string_view key) override {
    if (!txn_) return ReadOnly();
    std::string value;
    rocksdb::Status s = txn_->GetForUpdate(rocksdb::ReadOptions(), ToSlice(key), &value);
    if (s.IsNotFound()) return std::optional<std::string>();
    AIFS_RETURN_IF_ERROR(FromRocks(s, "metadata read"));
    return std::optional<std::string>(std::move(value));
  }
  Status Put(std::string_view key, std::string_view value) override {
    if (!txn_) return ReadOnly();
    return FromRocks(txn_->Put(ToSlice(key), ToSlice(value)), "metadata write");
  }
  Status Delete(std::string_view key) override {
    if (!txn_) return ReadOnly();
    return FromRocks(txn_->Delete(ToSlice(key)), "metadata delete");
  }
  Status CommitWrites() override {
    if (!txn_) return ReadOnly();
    return FromRocks(txn_->Commit(), "metadata commit");
  }

 private:
  static Status ReadOnly() {
    return err::FailedPrecondition("READ_ONLY_MODE", "the data directory is open read-only");
  }
  std::unique_ptr<rocksdb::Transaction> txn_;
};

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

// A plain WriteBatch: no index and no conflict tracking (a transaction's
// batch has both), written without sync. Its buffer is reused across Write()s.
class RocksBatch : public MetaBatch {
 public:
  explicit RocksBatch(rocksdb::DB* db) : db_(db) {}
  Status Put(std::string_view key, std::string_view value) override {
    return FromRocks(batch_.Put(ToSlice(key), ToSlice(value)), "metadata write");
  }
  size_t buffered_bytes() const override { return batch_.GetDataSize() - kHeader; }
  Status Write() override {
    if (batch_.Count() == 0) return Status::Ok();
    if (!db_)
      return err::FailedPrecondition("READ_ONLY_MODE", "the data directory is open read-only");
    NoPerfCounters no_counters;
    Status st = FromRocks(db_->Write(rocksdb::WriteOptions(), &batch_), "metadata write");
    batch_.Clear();
    return st;
  }

 private:
  static constexpr size_t kHeader = 12;  // sequence number + count
  rocksdb::DB* db_;
  rocksdb::WriteBatch batch_;
};

}  // namespace

Result<std::unique_ptr<MetaStore>> RocksDbMetaStore::Open(const std::string& path,
                                                          const MetaOpenOptions& options) {
  rocksdb::Options opts;
  opts.create_if_missing = options.create;
  opts.paranoid_checks = true;
  opts.max_background_jobs = 2;
  opts.keep_log_file_num = 4;
  opts.info_log_level = rocksdb::InfoLogLevel::WARN_LEVEL;
  if (options.read_only) {
    rocksdb::DB* db = nullptr;
    AIFS_RETURN_IF_ERROR(FromRocks(rocksdb::DB::OpenForReadOnly(opts, path, &db),
                                   "open metadata store " + path));
    std::unique_ptr<RocksDbMetaStore> store(new RocksDbMetaStore(path, db, nullptr));
    AIFS_RETURN_IF_ERROR(store->StartLog());
    return std::unique_ptr<MetaStore>(std::move(store));
  }
  rocksdb::OptimisticTransactionDB* txn_db = nullptr;
  AIFS_RETURN_IF_ERROR(FromRocks(rocksdb::OptimisticTransactionDB::Open(opts, path, &txn_db),
                                 "open metadata store " + path));
  std::unique_ptr<RocksDbMetaStore> store(
      new RocksDbMetaStore(path, txn_db->GetBaseDB(), txn_db));
  AIFS_RETURN_IF_ERROR(store->StartLog());
  return std::unique_ptr<MetaStore>(std::move(store));
}

RocksDbMetaStore::~RocksDbMetaStore() {
  if (txn_db_)
    delete txn_db_;
  else
    delete db_;
}

Result<std::optional<std::string>> RocksDbMetaStore::Get(std::string_view key) {
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
  return ScanWith(db_, rocksdb::ReadOptions(), begin, end, fn);
}

Status RocksDbMetaStore::ScanBulk(std::string_view begin, std::string_view end,
                                  const ScanFn& fn) {
  // Measured on a 100k-key change log (~2,500 4 KiB blocks): without these,
  // every block is one pread and a block-cache insert (evicting useful
  // blocks); 256 KiB reads ahead cut that scan by about a third, while
  // larger buffers cost more in first-touch page faults than they save.
  NoPerfCounters no_counters;
  rocksdb::ReadOptions ro;
  ro.fill_cache = false;
  ro.readahead_size = 256 << 10;
  return ScanWith(db_, ro, begin, end, fn);
}

Status RocksDbMetaStore::DeleteRange(std::string_view begin, std::string_view end) {
  if (!txn_db_)
    return err::FailedPrecondition("READ_ONLY_MODE", "the data directory is open read-only");
  // Not synced (see the interface): the range tombstone reaches the disk with
  // the next synced write, and a crash before that only leaves dead keys.
  return FromRocks(db_->DeleteRange(rocksdb::WriteOptions(), db_->DefaultColumnFamily(),
                                    ToSlice(begin), ToSlice(end)),
                   "metadata range delete");
}

std::unique_ptr<MetaBatch> RocksDbMetaStore::NewBatch() {
  return std::make_unique<RocksBatch>(txn_db_ ? db_ : nullptr);
}

std::unique_ptr<MetaTxn> RocksDbMetaStore::Begin() {
  return std::make_unique<RocksTxn>(txn_db_, log_);
}

Result<std::optional<std::string>> RocksDbMetaStore::LastKey(std::string_view begin,
                                                             std::string_view end) {
  rocksdb::ReadOptions ro;
  rocksdb::Slice lower = ToSlice(begin), upper = ToSlice(end);
  ro.iterate_lower_bound = &lower;
  if (!end.empty()) ro.iterate_upper_bound = &upper;
  std::unique_ptr<rocksdb::Iterator> it(db_->NewIterator(ro));
  it->SeekToLast();
  AIFS_RETURN_IF_ERROR(FromRocks(it->status(), "metadata scan"));
  if (!it->Valid()) return std::optional<std::string>();
  return std::optional<std::string>(it->key().ToString());
}

}  // namespace aifs
