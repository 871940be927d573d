#include "aifs/meta/rocksdb/rocksdb_meta_store.h"

#include <rocksdb/db.h>
#include <rocksdb/options.h>
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

Status RocksDbMetaStore::Scan(std::string_view begin, std::string_view end, const ScanFn& fn) {
  rocksdb::ReadOptions ro;
  rocksdb::Slice upper = ToSlice(end);
  if (!end.empty()) ro.iterate_upper_bound = &upper;
  std::unique_ptr<rocksdb::Iterator> it(db_->NewIterator(ro));
  for (it->Seek(ToSlice(begin)); it->Valid(); it->Next()) {
    if (!fn(it->key().ToStringView(), it->value().ToStringView())) break;
  }
  return FromRocks(it->status(), "metadata scan");
}

Status RocksDbMetaStore::DeleteRange(std::string_view begin, std::string_view end) {
  if (!txn_db_)
    return err::FailedPrecondition("READ_ONLY_MODE", "the data directory is open read-only");
  return FromRocks(db_->DeleteRange(SyncedWrites(), db_->DefaultColumnFamily(), ToSlice(begin),
                                    ToSlice(end)),
                   "metadata range delete");
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
