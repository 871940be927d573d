#include "aifs/core/mapping_pool.h"

#include "aifs/core/huge_pages.h"

namespace aifs {

MappingPool::~MappingPool() {
  for (const Kept& k : kept_) FreeHugePages(k.p, k.bytes);
}

void* MappingPool::Take(size_t bytes) {
  {
    std::lock_guard lock(mu_);
    for (size_t i = 0; i < kept_.size(); ++i) {
      if (kept_[i].bytes != bytes) continue;
      void* p = kept_[i].p;
      kept_[i] = kept_.back();
      kept_.pop_back();
      return p;
    }
  }
  return MapHugePages(bytes);
}

void MappingPool::Clear() {
  std::vector<Kept> kept;
  {
    std::lock_guard lock(mu_);
    kept.swap(kept_);
  }
  for (const Kept& k : kept) FreeHugePages(k.p, k.bytes);
}

void MappingPool::Give(void* p, size_t bytes) {
  if (p == nullptr) return;
  {
    std::lock_guard lock(mu_);
    if (kept_.size() < max_kept_) {
      kept_.push_back({p, bytes});
      return;
    }
  }
  FreeHugePages(p, bytes);
}

}  // namespace aifs
