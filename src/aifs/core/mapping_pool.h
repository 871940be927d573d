// MappingPool: a few large huge-page mappings kept for reuse.
//
// A large put fills multi-MiB blocks (engine/asset_writer.cpp) one after
// another. Mapped fresh, every block costs page faults and the kernel's
// zeroing of each page the stream then overwrites: on these VMs ~25 ms per
// 8 MiB block, up to 20% of a large put's CPU, on the thread that reads and
// chunks the stream. A mapping given back keeps its resident pages for the
// next block. The pool holds whole mappings (MapHugePages), never heap
// memory (heap blocks stayed in the process after a free: glibc raises its
// mmap threshold), and at most `max_kept` of them.
//
// Thread-safe.
#pragma once

#include <cstddef>
#include <mutex>
#include <vector>

namespace aifs {

class MappingPool {
 public:
  explicit MappingPool(size_t max_kept) : max_kept_(max_kept) {}
  ~MappingPool();
  MappingPool(const MappingPool&) = delete;
  MappingPool& operator=(const MappingPool&) = delete;

  // `bytes` (a multiple of kHugePageSize) of huge-page-aligned memory: a kept
  // mapping of that size (holding old bytes) or a fresh, zeroed one; nullptr
  // when the mapping fails. Hand it back with Give(p, bytes).
  void* Take(size_t bytes);
  // Keeps the mapping for a later Take of the same size, or unmaps it when
  // the pool is full.
  void Give(void* p, size_t bytes);
  // Unmaps every kept mapping (memory handed back once the work that used it
  // has ended).
  void Clear();

 private:
  struct Kept {
    void* p;
    size_t bytes;
  };
  const size_t max_kept_;
  std::mutex mu_;
  std::vector<Kept> kept_;
};

}  // namespace aifs
