#include "aifs/storage/chunker.h"

#include <algorithm>
#include <array>
#include <bit>

#include "aifs/core/splitmix64.h"

namespace aifs {

namespace {

// 256 pseudo-random 64-bit values from splitmix64 with a fixed seed, so that
// every build of AIFS cuts the same bytes at the same places.
constexpr std::array<uint64_t, 256> MakeGearTable() {
  std::array<uint64_t, 256> t{};
  uint64_t x = 0x61696673'67656172ULL;  // "aifsgear"
  for (auto& v : t) v = SplitMix64(x);
  return t;
}
constexpr std::array<uint64_t, 256> kGear = MakeGearTable();

// The `bits` most significant bits set: the gear hash shifts left, so its top
// bits mix the most recent 64 bytes.
constexpr uint64_t TopBits(unsigned bits) { return bits == 0 ? 0 : ~0ULL << (64 - bits); }

}  // namespace

Status ChunkerParams::Validate() const {
  if (avg_size < 256 || max_size > (64u << 20) || !(min_size < avg_size && avg_size < max_size))
    return err::InvalidArgument("BAD_CHUNK_PARAMS",
                                "chunk sizes need min < avg < max, avg >= 256, max <= 64 MiB");
  return Status::Ok();
}

Chunker::Chunker(const ChunkerParams& params) : params_(params) {
  unsigned bits = std::bit_width(params.avg_size) - 1;  // log2, rounded down
  mask_small_ = TopBits(bits + 2);
  mask_large_ = TopBits(bits > 2 ? bits - 2 : 1);
}

size_t Chunker::NextCut(ByteSpan data) const {
  const size_t n = std::min<size_t>(data.size(), params_.max_size);
  if (n <= params_.min_size) return n;
  const size_t normal = std::min<size_t>(n, std::bit_floor(params_.avg_size));
  const uint8_t* p = data.data();
  uint64_t fp = 0;
  size_t i = params_.min_size;
  for (; i < normal; ++i) {
    fp = (fp << 1) + kGear[p[i]];
    if ((fp & mask_small_) == 0) return i + 1;
  }
  for (; i < n; ++i) {
    fp = (fp << 1) + kGear[p[i]];
    if ((fp & mask_large_) == 0) return i + 1;
  }
  return n;
}

}  // namespace aifs
