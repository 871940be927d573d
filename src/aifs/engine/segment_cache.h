// SegmentCache: a bounded cache of opened (authenticated, decrypted,
// decompressed) chunk segments, so repeated small reads of hot data cost a
// lookup and a copy instead of a read, a decryption and a decompression.
//
// Keyed by (namespace, chunk hash, segment size, segment index). A chunk's
// plaintext is fixed by its hash, so an entry can never go stale: deleting,
// collecting or rewrapping a chunk changes no bytes it holds (callers find
// chunks through records they have already checked, so a deleted asset is not
// read from here). Forget() drops a chunk's entries anyway when its object is
// deleted, so plaintext does not outlive the data longer than it must.
//
// Scan-resistant: each shard is a segmented LRU. New entries go to a
// probation list; a second hit promotes them to the protected list (80% of
// the shard). A scan touches each segment once, so it only cycles probation
// and leaves the hot set alone.
//
// Thread-safe: 16 shards, each behind its own mutex. Values are shared
// immutable buffers, valid for as long as a caller holds them.
#pragma once

#include <array>
#include <atomic>
#include <cstdint>
#include <list>
#include <memory>
#include <mutex>
#include <string>
#include <unordered_map>

#include "aifs/core/bytes.h"
#include "aifs/core/ids.h"

namespace aifs {

class SegmentCache {
 public:
  struct Key {
    std::string ns;
    Digest hash;
    uint64_t segment_size;
    uint64_t index;
    bool operator==(const Key&) const = default;
  };
  using Value = std::shared_ptr<const Bytes>;

  struct Stats {
    uint64_t hits = 0;
    uint64_t misses = 0;
    uint64_t bytes = 0;  // plaintext bytes held
    uint64_t entries = 0;
    uint64_t capacity = 0;
  };

  // `capacity_bytes` 0 caches nothing.
  explicit SegmentCache(uint64_t capacity_bytes);

  // The segment, or null (counted as a miss).
  Value Get(const Key& key);
  // Inserts (or replaces) a segment; larger than a shard's share: not kept.
  void Put(const Key& key, Value value);
  // Drops every segment of chunk (ns, hash).
  void Forget(const std::string& ns, const Digest& hash);
  // Drops every segment.
  void Clear();
  Stats stats() const;
  uint64_t capacity() const { return capacity_; }

 private:
  struct KeyHash {
    size_t operator()(const Key& k) const;
  };
  struct Entry {
    Key key;
    Value value;
    bool protected_ = false;
  };
  using List = std::list<Entry>;
  struct Shard {
    mutable std::mutex mu;
    List probation, protected_;
    std::unordered_map<Key, List::iterator, KeyHash> map;
    uint64_t probation_bytes = 0, protected_bytes = 0;
  };
  static constexpr size_t kShards = 16;

  Shard& ShardFor(const std::string& ns, const Digest& hash);
  void Evict(Shard& s);

  const uint64_t capacity_;
  const uint64_t shard_capacity_;
  std::array<Shard, kShards> shards_;
  std::atomic<uint64_t> hits_{0}, misses_{0};
};

}  // namespace aifs
