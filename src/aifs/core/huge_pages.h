// Memory that hot paths read at random, backed by 2 MiB transparent huge
// pages.
//
// Why: on the virtual machines AIFS runs on, a read that misses the TLB on a
// rarely touched 4 KiB page can cost microseconds (the hypervisor walks or
// shadows the guest's page tables). A vector search reads ~10 such records
// per query out of ~100 MB of per-label arrays, which measured as +100-300
// µs at P99 on a 1M-vector index; the same reads from huge pages cost
// nothing measurable (bench/README.md). Huge pages are a request, not a
// promise: when the kernel has none to give, the memory is ordinary.
#pragma once

#include <cstddef>
#include <cstdint>
#include <memory>
#include <new>
#include <vector>

namespace aifs {

inline constexpr size_t kHugePageSize = size_t{2} << 20;

// `n` (a size or an address) rounded up to a whole number of huge pages.
constexpr uintptr_t RoundUpToHugePage(uintptr_t n) { return (n + kHugePageSize - 1) & ~(kHugePageSize - 1); }

// Asks the kernel to back the whole huge pages inside [p, p + bytes) with
// huge pages, now (MADV_COLLAPSE) and on later faults (MADV_HUGEPAGE).
void AdviseHugePages(void* p, size_t bytes);

// `bytes` (a multiple of kHugePageSize) of zeroed, huge-page-aligned memory
// advised for huge pages; nullptr when the mapping fails. Free with
// FreeHugePages(p, bytes).
void* MapHugePages(size_t bytes);
void FreeHugePages(void* p, size_t bytes);

// A std allocator that maps blocks of a huge page and more with
// MapHugePages, and leaves smaller ones to the heap.
template <typename T>
struct HugePageAllocator {
  using value_type = T;
  HugePageAllocator() = default;
  template <typename U>
  HugePageAllocator(const HugePageAllocator<U>&) noexcept {}

  T* allocate(size_t n) {
    const size_t bytes = n * sizeof(T);
    if (bytes < kHugePageSize) return std::allocator<T>().allocate(n);
    void* p = MapHugePages(RoundUpToHugePage(bytes));
    if (p == nullptr) throw std::bad_alloc();
    return static_cast<T*>(p);
  }
  void deallocate(T* p, size_t n) noexcept {
    const size_t bytes = n * sizeof(T);
    if (bytes < kHugePageSize)
      std::allocator<T>().deallocate(p, n);
    else
      FreeHugePages(p, RoundUpToHugePage(bytes));
  }
  friend bool operator==(const HugePageAllocator&, const HugePageAllocator&) { return true; }
};

template <typename T>
using HugePageVector = std::vector<T, HugePageAllocator<T>>;

}  // namespace aifs
