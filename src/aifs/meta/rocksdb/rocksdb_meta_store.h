// RocksDbMetaStore: the embedded MetaStore, an OptimisticTransactionDB whose
// commits are written with a synced WAL.
#pragma once

#include <memory>

#include "aifs/meta/meta_store.h"

namespace rocksdb {
class DB;
class OptimisticTransactionDB;
}  // namespace rocksdb

namespace aifs {

class RocksDbMetaStore : public MetaStore {
 public:
  static Result<std::unique_ptr<MetaStore>> Open(const std::string& path,
                                                 const MetaOpenOptions& options);
  ~RocksDbMetaStore() override;

  std::string Url() const override { return "rocksdb://" + path_; }
  bool read_only() const override { return txn_db_ == nullptr; }
  Result<std::optional<std::string>> Get(std::string_view key) override;
  Status Scan(std::string_view begin, std::string_view end, const ScanFn& fn) override;
  Status ScanBulk(std::string_view begin, std::string_view end, const ScanFn& fn) override;
  std::unique_ptr<MetaTxn> Begin() override;
  std::unique_ptr<MetaBatch> NewBatch() override;
  Status DeleteRange(std::string_view begin, std::string_view end) override;
  Result<std::optional<std::string>> LastKey(std::string_view begin,
                                             std::string_view end) override;

 private:
  RocksDbMetaStore(std::string path, rocksdb::DB* db, rocksdb::OptimisticTransactionDB* txn_db)
      : path_(std::move(path)), db_(db), txn_db_(txn_db) {}

  std::string path_;
  rocksdb::DB* db_;                           // owned unless txn_db_ is set
  rocksdb::OptimisticTransactionDB* txn_db_;  // null when read-only
};

}  // namespace aifs
