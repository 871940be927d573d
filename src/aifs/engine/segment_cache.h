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
// Its own memory: segment buffers come from a slab of fixed slots (the
// store's segment size) mapped once, sized to the capacity plus headroom for
// buffers readers still hold, and reused. So the process's resident memory
// for opened segments stays within the slab, whichever threads fill and
// evict them (heap buffers freed on other threads than the ones that filled
// them made glibc's per-thread arenas grow several hundred MiB past the
// cache). A buffer that does not fit a slot, or one asked for when every slot
// is taken, comes from the heap.
//
// Thread-safe: 16 shards, each behind its own mutex; the slab's free list
// behind one more. Values are shared immutable buffers, valid for as long as
// a caller holds them (a slot is reused only once its last holder drops it,
// even after the cache is destroyed).
#pragma once

#include <array>
#include <atomic>
#include <cstdint>
#include <list>
#include <memory>
#include <mutex>
#include <span>
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
  class Slab;
  // A segment's bytes: in a slab slot or on the heap. Written once by the
  // code that fills it (writable()), before it is shared.
  class Buffer {
   public:
    Buffer(std::shared_ptr<Slab> slab, uint32_t slot, uint8_t* data, size_t size);
    explicit Buffer(size_t size);  // on the heap
    ~Buffer();
    Buffer(const Buffer&) = delete;
    Buffer& operator=(const Buffer&) = delete;

    const uint8_t* data() const { return data_; }
    size_t size() const { return size_; }
    std::span<uint8_t> writable() { return {data_, size_}; }
    // Memory it takes: a whole slot, or its size on the heap (+ bookkeeping).
    uint64_t cost() const;

   private:
    std::shared_ptr<Slab> slab_;  // null on the heap
    uint32_t slot_ = 0;
    uint8_t* data_;
    size_t size_;
    std::unique_ptr<uint8_t[]> heap_;
  };
  using Value = std::shared_ptr<const Buffer>;

  struct Stats {
    uint64_t hits = 0;
    uint64_t misses = 0;
    uint64_t bytes = 0;  // memory held by cached segments (Buffer::cost)
    uint64_t entries = 0;
    uint64_t capacity = 0;
    uint64_t slab_bytes = 0;    // the slab's size (mapped; resident once used)
    uint64_t heap_buffers = 0;  // buffers that did not get a slot, so far
  };

  // `capacity_bytes` 0 caches nothing (and maps no slab); `slot_bytes` is
  // the size of most buffers (the store's segment size).
  SegmentCache(uint64_t capacity_bytes, uint64_t slot_bytes);
  ~SegmentCache();

  // A writable buffer of `size` bytes for a segment to be Put: a free slab
  // slot when size <= slot_bytes and one is free, else the heap. Never null;
  // its contents are unspecified until written.
  std::shared_ptr<Buffer> NewBuffer(size_t size);

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
  std::shared_ptr<Slab> slab_;  // null when the cache is off
  std::array<Shard, kShards> shards_;
  std::atomic<uint64_t> hits_{0}, misses_{0}, heap_buffers_{0};
};

}  // namespace aifs
