#include "aifs/engine/asset_record_cache.h"

#include <cstring>

namespace aifs {

Result<AssetRecordCache::Record> AssetRecordCache::Get(MetaStore& meta, const std::string& ns,
                                                       const AssetId& id, const Loader& load) {
  // The stamp is read before the record: a write between the two leaves the
  // entry with an older stamp, which the next lookup finds stale.
  const std::optional<uint64_t> stamp = meta.ChangeStamp();
  if (!stamp) {
    AIFS_ASSIGN_OR_RETURN(store::v1::AssetRecord rec, load());
    return std::make_shared<const store::v1::AssetRecord>(std::move(rec));
  }
  uint64_t prefix;
  std::memcpy(&prefix, id.bytes().data(), sizeof prefix);  // BLAKE3 bytes: uniform
  Shard& s = shards_[prefix % kShards];
  std::string key(AsChars(id.bytes()));
  key += ns;
  {
    std::lock_guard lock(s.mu);
    auto it = s.map.find(key);
    if (it != s.map.end() && it->second.stamp == *stamp) return it->second.record;
  }
  AIFS_ASSIGN_OR_RETURN(store::v1::AssetRecord rec, load());
  auto record = std::make_shared<const store::v1::AssetRecord>(std::move(rec));
  std::lock_guard lock(s.mu);
  if (s.map.size() >= shard_capacity_ && !s.map.contains(key)) {
    // Full: drop the stale entries, or any one when all are current.
    std::erase_if(s.map, [&](const auto& kv) { return kv.second.stamp != *stamp; });
    if (s.map.size() >= shard_capacity_) s.map.erase(s.map.begin());
  }
  s.map.insert_or_assign(std::move(key), Entry{*stamp, record});
  return record;
}

void AssetRecordCache::Clear() {
  for (Shard& s : shards_) {
    std::lock_guard lock(s.mu);
    s.map.clear();
  }
}

}  // namespace aifs
