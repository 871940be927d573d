#include "aifs/meta/cache_generation.h"

#include <charconv>

#include "aifs/meta/meta_store.h"

namespace aifs {

CacheGeneration::CacheGeneration(MetaStore& meta, std::string_view name,
                                 std::chrono::milliseconds recheck)
    : meta_(meta), key_("cg/" + std::string(name)), recheck_(recheck) {}

Status CacheGeneration::Bump(MetaTxn& txn) {
  AIFS_ASSIGN_OR_RETURN(auto raw, txn.Get(key_));
  uint64_t n = 0;
  if (raw) {
    const auto [end, ec] = std::from_chars(raw->data(), raw->data() + raw->size(), n);
    if (ec != std::errc() || end != raw->data() + raw->size())
      return err::DataLoss("BAD_CACHE_GENERATION", "record " + key_ + " is not a number");
  }
  return txn.Put(key_, std::to_string(n + 1));
}

Result<bool> CacheGeneration::Stale() {
  if (!meta_.shared_writers()) return false;
  const auto now = std::chrono::steady_clock::now();
  if (seen_ && now - read_at_ < recheck_) return false;
  // Read before the caller reloads: a bump after this read is seen next time.
  AIFS_ASSIGN_OR_RETURN(auto raw, meta_.Get(key_));
  const std::string value = raw.value_or("0");
  const bool stale = !seen_ || *seen_ != value;
  seen_ = value;
  read_at_ = now;
  return stale;
}

}  // namespace aifs
