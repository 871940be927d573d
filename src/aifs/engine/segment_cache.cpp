#include "aifs/engine/segment_cache.h"

#include <algorithm>
#include <cstring>
#include <optional>
#include <vector>

#include "aifs/core/huge_pages.h"

namespace aifs {

// Fixed slots in one anonymous mapping, handed out from a free list (last
// freed first, so reuse stays in pages already resident).
class SegmentCache::Slab {
 public:
  // On huge pages where the kernel has them: a hot set spread over a GiB of
  // slots is read at random, and 4 KiB pages would miss the TLB on most
  // reads. Null when the mapping fails (the cache then uses the heap).
  static std::shared_ptr<Slab> Map(uint64_t slot_bytes, uint32_t slots) {
    const size_t mapped = RoundUpToHugePage(slot_bytes * slots);
    void* base = MapHugePages(mapped);
    if (base == nullptr) return nullptr;
    return std::shared_ptr<Slab>(new Slab(static_cast<uint8_t*>(base), mapped, slot_bytes, slots));
  }
  ~Slab() { FreeHugePages(base_, mapped_); }

  std::optional<uint32_t> Take() {
    std::lock_guard lock(mu_);
    if (free_.empty()) return std::nullopt;
    const uint32_t slot = free_.back();
    free_.pop_back();
    return slot;
  }
  void Give(uint32_t slot) {
    std::lock_guard lock(mu_);
    free_.push_back(slot);
  }
  uint8_t* At(uint32_t slot) const { return base_ + uint64_t{slot} * slot_bytes_; }
  uint64_t slot_bytes() const { return slot_bytes_; }
  uint64_t bytes() const { return slot_bytes_ * slots_; }

 private:
  Slab(uint8_t* base, size_t mapped, uint64_t slot_bytes, uint32_t slots)
      : base_(base), mapped_(mapped), slot_bytes_(slot_bytes), slots_(slots) {
    free_.reserve(slots);
    for (uint32_t i = slots; i > 0; --i) free_.push_back(i - 1);
  }

  uint8_t* const base_;
  const size_t mapped_;
  const uint64_t slot_bytes_;
  const uint32_t slots_;
  std::mutex mu_;
  std::vector<uint32_t> free_;
};

SegmentCache::Buffer::Buffer(std::shared_ptr<Slab> slab, uint32_t slot, uint8_t* data, size_t size)
    : slab_(std::move(slab)), slot_(slot), data_(data), size_(size) {}

SegmentCache::Buffer::Buffer(size_t size) : heap_(new uint8_t[std::max<size_t>(size, 1)]) {
  data_ = heap_.get();
  size_ = size;
}

SegmentCache::Buffer::~Buffer() {
  if (slab_) slab_->Give(slot_);
}

uint64_t SegmentCache::Buffer::cost() const {
  return slab_ ? slab_->slot_bytes() : size_ + 128;  // + bookkeeping
}

namespace {

uint64_t HashPrefix(const Digest& hash) {
  uint64_t h;
  std::memcpy(&h, hash.data(), sizeof h);  // BLAKE3 bytes: already uniform
  return h;
}

uint64_t Cost(const SegmentCache::Value& v) { return v->cost(); }

// Slots beyond the capacity, for buffers readers hold while they copy them
// out (a few chunks' worth per reading thread).
uint64_t SlabSlots(uint64_t capacity_bytes, uint64_t slot_bytes) {
  const uint64_t cached = capacity_bytes / slot_bytes;
  return std::min<uint64_t>(cached + std::max<uint64_t>(256, cached / 16), UINT32_MAX);
}

}  // namespace

size_t SegmentCache::KeyHash::operator()(const Key& k) const {
  return static_cast<size_t>(HashPrefix(k.hash) ^ (k.index * 0x9e3779b97f4a7c15ULL) ^
                             (k.segment_size << 17) ^ std::hash<std::string>()(k.ns));
}

SegmentCache::SegmentCache(uint64_t capacity_bytes, uint64_t slot_bytes)
    : capacity_(capacity_bytes), shard_capacity_(capacity_bytes / kShards) {
  if (capacity_bytes >= slot_bytes && slot_bytes > 0)
    slab_ = Slab::Map(slot_bytes, static_cast<uint32_t>(SlabSlots(capacity_bytes, slot_bytes)));
}

SegmentCache::~SegmentCache() = default;

std::shared_ptr<SegmentCache::Buffer> SegmentCache::NewBuffer(size_t size) {
  if (slab_ && size <= slab_->slot_bytes()) {
    if (std::optional<uint32_t> slot = slab_->Take())
      return std::make_shared<Buffer>(slab_, *slot, slab_->At(*slot), size);
  }
  if (slab_) heap_buffers_.fetch_add(1, std::memory_order_relaxed);
  return std::make_shared<Buffer>(size);
}

SegmentCache::Shard& SegmentCache::ShardFor(const std::string& ns, const Digest& hash) {
  return shards_[(HashPrefix(hash) ^ std::hash<std::string>()(ns)) % kShards];
}

SegmentCache::Value SegmentCache::Get(const Key& key) {
  if (capacity_ == 0) return nullptr;
  Shard& s = ShardFor(key.ns, key.hash);
  std::lock_guard lock(s.mu);
  auto it = s.map.find(key);
  if (it == s.map.end()) {
    misses_.fetch_add(1, std::memory_order_relaxed);
    return nullptr;
  }
  hits_.fetch_add(1, std::memory_order_relaxed);
  List::iterator e = it->second;
  if (e->protected_) {
    s.protected_.splice(s.protected_.begin(), s.protected_, e);
  } else {
    // A second hit: promoted out of probation.
    e->protected_ = true;
    const uint64_t cost = Cost(e->value);
    s.probation_bytes -= cost;
    s.protected_bytes += cost;
    s.protected_.splice(s.protected_.begin(), s.probation, e);
    Evict(s);
  }
  return e->value;
}

void SegmentCache::Put(const Key& key, Value value) {
  if (capacity_ == 0 || !value || Cost(value) > shard_capacity_ / 2) return;
  Shard& s = ShardFor(key.ns, key.hash);
  std::lock_guard lock(s.mu);
  if (auto it = s.map.find(key); it != s.map.end()) return;  // same bytes already there
  s.probation.push_front(Entry{key, std::move(value), false});
  s.probation_bytes += Cost(s.probation.front().value);
  s.map.emplace(key, s.probation.begin());
  Evict(s);
}

// Keeps protected within 80% of the shard (its least recent go back to
// probation) and the whole shard within its capacity (probation's least
// recent leave first).
void SegmentCache::Evict(Shard& s) {
  const uint64_t protected_max = shard_capacity_ / 5 * 4;
  while (s.protected_bytes > protected_max && !s.protected_.empty()) {
    List::iterator last = std::prev(s.protected_.end());
    last->protected_ = false;
    const uint64_t cost = Cost(last->value);
    s.protected_bytes -= cost;
    s.probation_bytes += cost;
    s.probation.splice(s.probation.begin(), s.protected_, last);
  }
  while (s.probation_bytes + s.protected_bytes > shard_capacity_) {
    List& from = s.probation.empty() ? s.protected_ : s.probation;
    Entry& victim = from.back();
    (victim.protected_ ? s.protected_bytes : s.probation_bytes) -= Cost(victim.value);
    s.map.erase(victim.key);
    from.pop_back();
  }
}

void SegmentCache::Forget(const std::string& ns, const Digest& hash) {
  if (capacity_ == 0) return;
  Shard& s = ShardFor(ns, hash);
  std::lock_guard lock(s.mu);
  for (List* list : {&s.probation, &s.protected_}) {
    for (auto e = list->begin(); e != list->end();) {
      if (e->key.hash != hash || e->key.ns != ns) {
        ++e;
        continue;
      }
      (e->protected_ ? s.protected_bytes : s.probation_bytes) -= Cost(e->value);
      s.map.erase(e->key);
      e = list->erase(e);
    }
  }
}

void SegmentCache::Clear() {
  for (Shard& s : shards_) {
    std::lock_guard lock(s.mu);
    s.map.clear();
    s.probation.clear();
    s.protected_.clear();
    s.probation_bytes = s.protected_bytes = 0;
  }
}

SegmentCache::Stats SegmentCache::stats() const {
  Stats st;
  st.hits = hits_.load(std::memory_order_relaxed);
  st.misses = misses_.load(std::memory_order_relaxed);
  st.capacity = capacity_;
  st.slab_bytes = slab_ ? slab_->bytes() : 0;
  st.heap_buffers = heap_buffers_.load(std::memory_order_relaxed);
  for (const Shard& s : shards_) {
    std::lock_guard lock(s.mu);
    st.bytes += s.probation_bytes + s.protected_bytes;
    st.entries += s.map.size();
  }
  return st;
}

}  // namespace aifs
