#include "aifs/core/huge_pages.h"

#include <sys/mman.h>

namespace aifs {

namespace {
constexpr int kMadvCollapse = 25;  // Linux 6.1; Debian 12's glibc lacks the name
}  // namespace

void AdviseHugePages(void* p, size_t bytes) {
  const auto start = reinterpret_cast<uintptr_t>(p);
  const uintptr_t begin = RoundUpToHugePage(start);
  const uintptr_t end = (start + bytes) & ~(kHugePageSize - 1);
  if (end <= begin) return;
  void* whole = reinterpret_cast<void*>(begin);
  madvise(whole, end - begin, MADV_HUGEPAGE);
  madvise(whole, end - begin, kMadvCollapse);
}

void* MapHugePages(size_t bytes) {
  // Map one huge page more than asked, to cut an aligned block out of it.
  const size_t mapped = bytes + kHugePageSize;
  void* m = mmap(nullptr, mapped, PROT_READ | PROT_WRITE, MAP_PRIVATE | MAP_ANONYMOUS, -1, 0);
  if (m == MAP_FAILED) return nullptr;
  const auto start = reinterpret_cast<uintptr_t>(m);
  const uintptr_t aligned = RoundUpToHugePage(start);
  if (aligned > start) munmap(m, aligned - start);
  const uintptr_t tail = aligned + bytes;
  if (start + mapped > tail) munmap(reinterpret_cast<void*>(tail), start + mapped - tail);
  void* p = reinterpret_cast<void*>(aligned);
  madvise(p, bytes, MADV_HUGEPAGE);
  return p;
}

void FreeHugePages(void* p, size_t bytes) { munmap(p, bytes); }

}  // namespace aifs
