// ChunkIndex: the chunks of one asset in order, found by offset.
//
// Stored as a packed table under `ci/<ns>/<asset id>` (format 3): per chunk
// its 32-byte hash and the little-endian u64 offset where it ends, so a
// lookup by offset is a binary search over the stored bytes and the asset
// record stays small whatever the asset's size (stat never pays for the
// chunk list). Records written before format 3 list their chunks inline;
// FromRecord builds the same index from them.
//
// Immutable once built; safe to share between threads.
#pragma once

#include <list>
#include <memory>
#include <mutex>
#include <span>
#include <string>
#include <unordered_map>

#include "aifs/core/ids.h"
#include "aifs/core/status.h"
#include "aifs/meta/meta_store.h"
#include "aifs/store/v1/records.pb.h"

namespace aifs {

class ChunkIndex {
 public:
  struct Chunk {
    Digest hash;
    uint64_t offset;  // where the chunk starts in the asset
    uint64_t length;
  };
  static constexpr size_t kEntrySize = 40;

  // The packed table of `chunks` (hash, length) in asset order.
  static std::string Encode(std::span<const std::pair<Digest, uint64_t>> chunks);

  // From a stored table; DATA_LOSS METADATA_CORRUPT unless it is well formed,
  // has `count` entries and ends at `asset_size`.
  static Result<ChunkIndex> Decode(std::string packed, uint64_t count, uint64_t asset_size);

  // From a record that lists its chunks inline (before format 3).
  static Result<ChunkIndex> FromRecord(const store::v1::AssetRecord& rec);

  size_t size() const { return packed_.size() / kEntrySize; }
  Chunk at(size_t i) const;
  // The chunk holding byte `offset` (offset < the asset's size).
  size_t Find(uint64_t offset) const;
  // The stored form (what Encode makes); its size is what the index holds.
  const std::string& packed() const { return packed_; }

 private:
  uint64_t End(size_t i) const;
  std::string packed_;
};

// Whether the record keeps its chunk list in `ci/` (format 3).
inline bool ChunksStoredApart(const store::v1::AssetRecord& rec) {
  return rec.chunks_size() == 0 && rec.chunk_count() > 0;
}
inline uint64_t ChunkCount(const store::v1::AssetRecord& rec) {
  return ChunksStoredApart(rec) ? rec.chunk_count() : static_cast<uint64_t>(rec.chunks_size());
}

// The record's chunk index, read through `get` (a MetaStore's or a
// transaction's Get) when it is stored apart. A missing table is DATA_LOSS
// METADATA_CORRUPT.
using MetaGetter = std::function<Result<std::optional<std::string>>(const std::string&)>;
Result<ChunkIndex> LoadChunkIndex(const MetaGetter& get, const store::v1::AssetRecord& rec);
inline MetaGetter GetterOf(MetaStore& meta) {
  return [&meta](const std::string& key) { return meta.Get(key); };
}

// Recently used chunk indexes, so a hot asset's small reads do not fetch and
// check its table (40 bytes per chunk) every time. An entry is the index of
// one asset record: it is found under (namespace, asset ID) and used only
// with a record of the same creation time, so a record removed and written
// again never meets the older index. Bounded by bytes, least recently used
// out. Thread-safe.
class ChunkIndexCache {
 public:
  explicit ChunkIndexCache(size_t capacity_bytes) : capacity_(capacity_bytes) {}
  // The record's index: from the cache, else loaded (LoadChunkIndex) and kept.
  Result<std::shared_ptr<const ChunkIndex>> Get(MetaStore& meta, const store::v1::AssetRecord& rec);
  void Clear();

 private:
  struct Entry {
    std::string key;
    int64_t created;
    std::shared_ptr<const ChunkIndex> index;
  };
  std::mutex mu_;
  const size_t capacity_;
  size_t bytes_ = 0;
  std::list<Entry> lru_;
  std::unordered_map<std::string, std::list<Entry>::iterator> map_;
};

}  // namespace aifs
