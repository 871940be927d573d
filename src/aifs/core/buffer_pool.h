// BufferPool: a few large byte buffers kept for reuse.
//
// Code that fills a multi-MiB buffer, writes it out and starts again (packs
// of small chunks) would otherwise get fresh memory from the allocator each
// time and pay a page fault (and the kernel's zeroing) for every 4 KiB of it:
// on these VMs that was ~10% of the CPU of `put -r` of small files. A buffer
// given back keeps its capacity and its resident pages.
//
// Thread-safe. Holds at most `max_kept` buffers of at most `max_capacity`
// bytes each; larger ones and the surplus are freed.
#pragma once

#include <cstddef>
#include <mutex>
#include <vector>

#include "aifs/core/bytes.h"

namespace aifs {

class BufferPool {
 public:
  BufferPool(size_t max_kept, size_t max_capacity)
      : max_kept_(max_kept), max_capacity_(max_capacity) {}

  // An empty buffer: one given back earlier (with its capacity), or a new one.
  Bytes Take() {
    std::lock_guard lock(mu_);
    if (kept_.empty()) return {};
    Bytes b = std::move(kept_.back());
    kept_.pop_back();
    return b;
  }

  // Frees every kept buffer.
  void Clear() {
    std::vector<Bytes> kept;
    std::lock_guard lock(mu_);
    kept.swap(kept_);
  }

  // Keeps `b` (cleared) for a later Take, unless the pool is full or `b` is
  // larger than the pool keeps.
  void Give(Bytes b) {
    if (b.capacity() == 0 || b.capacity() > max_capacity_) return;
    b.clear();
    std::lock_guard lock(mu_);
    if (kept_.size() < max_kept_) kept_.push_back(std::move(b));
  }

 private:
  const size_t max_kept_;
  const size_t max_capacity_;
  std::mutex mu_;
  std::vector<Bytes> kept_;
};

}  // namespace aifs
