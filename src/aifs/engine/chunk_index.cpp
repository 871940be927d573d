#include "aifs/engine/chunk_index.h"

#include <cstring>

#include "aifs/meta/keys.h"

namespace aifs {

namespace {

Status Corrupt(const std::string& what) {
  return err::DataLoss("METADATA_CORRUPT", "chunk index " + what);
}

}  // namespace

std::string ChunkIndex::Encode(std::span<const std::pair<Digest, uint64_t>> chunks) {
  std::string out;
  out.reserve(chunks.size() * kEntrySize);
  uint64_t end = 0;
  for (const auto& [hash, length] : chunks) {
    out.append(reinterpret_cast<const char*>(hash.data()), hash.size());
    end += length;
    for (int b = 0; b < 8; ++b) out.push_back(static_cast<char>(end >> (8 * b)));
  }
  return out;
}

uint64_t ChunkIndex::End(size_t i) const {
  uint64_t v = 0;
  const char* p = packed_.data() + i * kEntrySize + 32;
  for (int b = 0; b < 8; ++b) v |= static_cast<uint64_t>(static_cast<uint8_t>(p[b])) << (8 * b);
  return v;
}

Result<ChunkIndex> ChunkIndex::Decode(std::string packed, uint64_t count, uint64_t asset_size) {
  if (packed.size() != count * kEntrySize)
    return Corrupt("has " + std::to_string(packed.size()) + " bytes for " + std::to_string(count) +
                   " chunks");
  ChunkIndex idx;
  idx.packed_ = std::move(packed);
  uint64_t prev = 0;
  for (size_t i = 0; i < count; ++i) {
    const uint64_t end = idx.End(i);
    if (end <= prev) return Corrupt("has an empty or backwards chunk");
    prev = end;
  }
  if (prev != asset_size) return Corrupt("does not add up to the asset size");
  return idx;
}

Result<ChunkIndex> ChunkIndex::FromRecord(const store::v1::AssetRecord& rec) {
  std::vector<std::pair<Digest, uint64_t>> chunks;
  chunks.reserve(static_cast<size_t>(rec.chunks_size()));
  for (const auto& c : rec.chunks()) {
    if (c.hash().size() != 32) return Corrupt("has a bad chunk hash");
    chunks.emplace_back(FixedBytes<32>(c.hash()), c.length());
  }
  return Decode(Encode(chunks), chunks.size(), rec.size());
}

ChunkIndex::Chunk ChunkIndex::at(size_t i) const {
  Chunk c;
  std::memcpy(c.hash.data(), packed_.data() + i * kEntrySize, 32);
  c.offset = i == 0 ? 0 : End(i - 1);
  c.length = End(i) - c.offset;
  return c;
}

size_t ChunkIndex::Find(uint64_t offset) const {
  size_t lo = 0, hi = size();  // the first chunk whose end is beyond `offset`
  while (lo < hi) {
    const size_t mid = lo + (hi - lo) / 2;
    if (End(mid) <= offset)
      lo = mid + 1;
    else
      hi = mid;
  }
  return lo;
}

Result<ChunkIndex> LoadChunkIndex(const MetaGetter& get, const store::v1::AssetRecord& rec) {
  if (!ChunksStoredApart(rec)) return ChunkIndex::FromRecord(rec);
  if (rec.id().size() != 32) return Corrupt("belongs to a record without an ID");
  AIFS_ASSIGN_OR_RETURN(auto packed, get(keys::ChunkIndex(rec.ns(), FixedBytes<32>(rec.id()))));
  if (!packed) return Corrupt("of asset " + HexEncode(AsBytes(rec.id())) + " is missing");
  return ChunkIndex::Decode(std::move(*packed), rec.chunk_count(), rec.size());
}

Result<std::shared_ptr<const ChunkIndex>> ChunkIndexCache::Get(MetaStore& meta,
                                                               const store::v1::AssetRecord& rec) {
  std::string key = rec.ns();
  key.push_back('/');
  key += rec.id();
  {
    std::lock_guard lock(mu_);
    auto it = map_.find(key);
    if (it != map_.end() && it->second->created == rec.created_unix_ns()) {
      lru_.splice(lru_.begin(), lru_, it->second);
      return it->second->index;
    }
  }
  AIFS_ASSIGN_OR_RETURN(ChunkIndex loaded, LoadChunkIndex(GetterOf(meta), rec));
  auto index = std::make_shared<const ChunkIndex>(std::move(loaded));
  auto cost_of = [](const std::string& k, const ChunkIndex& i) {
    return i.packed().size() + k.size() + 64;  // + the entry's bookkeeping
  };
  const size_t cost = cost_of(key, *index);
  if (cost > capacity_ / 4) return index;  // too large to keep
  std::lock_guard lock(mu_);
  if (auto it = map_.find(key); it != map_.end()) {
    bytes_ -= cost_of(key, *it->second->index);
    lru_.erase(it->second);
    map_.erase(it);
  }
  lru_.push_front(Entry{key, rec.created_unix_ns(), index});
  map_.emplace(std::move(key), lru_.begin());
  bytes_ += cost;
  while (bytes_ > capacity_ && !lru_.empty()) {
    const Entry& last = lru_.back();
    bytes_ -= cost_of(last.key, *last.index);
    map_.erase(last.key);
    lru_.pop_back();
  }
  return index;
}

void ChunkIndexCache::Clear() {
  std::lock_guard lock(mu_);
  map_.clear();
  lru_.clear();
  bytes_ = 0;
}

}  // namespace aifs
