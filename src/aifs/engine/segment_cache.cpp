#include "aifs/engine/segment_cache.h"

#include <cstring>

namespace aifs {

namespace {

uint64_t HashPrefix(const Digest& hash) {
  uint64_t h;
  std::memcpy(&h, hash.data(), sizeof h);  // BLAKE3 bytes: already uniform
  return h;
}

uint64_t Cost(const SegmentCache::Value& v) { return v->size() + 128; }  // + bookkeeping

}  // namespace

size_t SegmentCache::KeyHash::operator()(const Key& k) const {
  return static_cast<size_t>(HashPrefix(k.hash) ^ (k.index * 0x9e3779b97f4a7c15ULL) ^
                             (k.segment_size << 17) ^ std::hash<std::string>()(k.ns));
}

SegmentCache::SegmentCache(uint64_t capacity_bytes)
    : capacity_(capacity_bytes), shard_capacity_(capacity_bytes / kShards) {}

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
  for (const Shard& s : shards_) {
    std::lock_guard lock(s.mu);
    st.bytes += s.probation_bytes + s.protected_bytes;
    st.entries += s.map.size();
  }
  return st;
}

}  // namespace aifs
