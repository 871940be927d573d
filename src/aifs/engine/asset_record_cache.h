// AssetRecordCache: recently read asset records of the live head, for reads
// of hot assets that would otherwise fetch and parse the record every time.
//
// An entry is good only while the MetaStore's change stamp
// (MetaStore::ChangeStamp) is what it was before the record was read: any
// committed write to the store, by anyone, makes every entry stale. So a
// deleted, replaced or changed record is never served from memory, and a
// store that cannot give a stamp (PostgreSQL, shared by other processes)
// caches nothing. Bounded by entries. Thread-safe.
#pragma once

#include <array>
#include <functional>
#include <memory>
#include <mutex>
#include <string>
#include <unordered_map>

#include "aifs/core/ids.h"
#include "aifs/core/status.h"
#include "aifs/meta/meta_store.h"
#include "aifs/store/v1/records.pb.h"

namespace aifs {

class AssetRecordCache {
 public:
  using Record = std::shared_ptr<const store::v1::AssetRecord>;
  using Loader = std::function<Result<store::v1::AssetRecord>()>;

  explicit AssetRecordCache(size_t capacity) : shard_capacity_(capacity / kShards + 1) {}

  // The record of asset `id` of namespace `ns`: from memory when nothing was
  // written since it was read, else from `load` (which reads it from `meta`;
  // its errors are returned as they are and nothing is kept).
  Result<Record> Get(MetaStore& meta, const std::string& ns, const AssetId& id, const Loader& load);
  void Clear();

 private:
  static constexpr size_t kShards = 8;
  struct Entry {
    uint64_t stamp;
    Record record;
  };
  struct Shard {
    std::mutex mu;
    std::unordered_map<std::string, Entry> map;
  };
  const size_t shard_capacity_;
  std::array<Shard, kShards> shards_;
};

}  // namespace aifs
