#include "aifs/storage/byte_grouping.h"

#include <algorithm>
#include <array>
#include <cmath>
#include <cstring>
#include <vector>

namespace aifs {

namespace {

// Plain loops over one plane at a time; this file is built with -O3
// (src/CMakeLists.txt) so that GCC vectorizes them: several GB/s per core,
// far above zstd's speed, so grouping adds little to a segment's cost.
template <size_t W>
void Group(const uint8_t* in, size_t size, uint8_t* out) {
  const size_t n = size / W;
  for (size_t j = 0; j < W; ++j) {
    uint8_t* plane = out + j * n;
    const uint8_t* from = in + j;
    for (size_t i = 0; i < n; ++i) plane[i] = from[i * W];
  }
  std::memcpy(out + n * W, in + n * W, size - n * W);
}

template <size_t W>
void Ungroup(const uint8_t* in, size_t size, uint8_t* out) {
  const size_t n = size / W;
  for (size_t i = 0; i < n; ++i)
    for (size_t j = 0; j < W; ++j) out[i * W + j] = in[j * n + i];
  std::memcpy(out + n * W, in + n * W, size - n * W);
}

using Histogram = std::array<uint32_t, 256>;

// c * log2(c) for every count a histogram of a sample can hold, computed
// once: entropies then cost additions only.
constexpr size_t kMaxCount = 64 * 1024;
const std::vector<float>& CLogC() {
  static const std::vector<float> table = [] {
    std::vector<float> t(kMaxCount + 1, 0.0f);
    for (size_t c = 2; c <= kMaxCount; ++c)
      t[c] = static_cast<float>(static_cast<double>(c) * std::log2(static_cast<double>(c)));
    return t;
  }();
  return table;
}

// Order-0 entropy, bits per byte, of the bytes counted in the histograms
// whose indexes are in `planes`, taken together:
// log2(total) - sum(c * log2(c)) / total.
double Entropy(const std::array<Histogram, 4>& h, std::initializer_list<size_t> planes) {
  const std::vector<float>& clogc = CLogC();
  uint64_t total = 0;
  double sum = 0;
  for (size_t b = 0; b < 256; ++b) {
    uint32_t c = 0;
    for (size_t p : planes) c += h[p][b];
    total += c;
    sum += clogc[c];
  }
  if (total == 0) return 8.0;
  return std::log2(static_cast<double>(total)) - sum / static_cast<double>(total);
}

}  // namespace

void GroupBytes(ByteSpan in, uint32_t width, Bytes& out) {
  out.resize(in.size());
  if (width == 4) return Group<4>(in.data(), in.size(), out.data());
  if (width == 2) return Group<2>(in.data(), in.size(), out.data());
  std::memcpy(out.data(), in.data(), in.size());
}

void UngroupBytes(ByteSpan in, uint32_t width, Bytes& out) {
  out.resize(in.size());
  if (width == 4) return Ungroup<4>(in.data(), in.size(), out.data());
  if (width == 2) return Ungroup<2>(in.data(), in.size(), out.data());
  std::memcpy(out.data(), in.data(), in.size());
}

uint32_t LikelyGroupingWidth(ByteSpan sample) {
  // Below 4 KiB the estimate of a plane's entropy is too biased (fewer than
  // 1024 bytes for 256 symbols) to tell random bytes from a pattern.
  if (sample.size() < 4096) return 0;
  // Counts stay within the table: a larger input is judged on its start.
  sample = sample.first(std::min(sample.size(), kMaxCount));
  std::array<Histogram, 4> h{};
  const size_t whole = sample.size() / 4 * 4;
  for (size_t i = 0; i < whole; i += 4)
    for (size_t j = 0; j < 4; ++j) ++h[j][sample[i + j]];
  const double bytes = Entropy(h, {0, 1, 2, 3});
  const double two = (Entropy(h, {0, 2}) + Entropy(h, {1, 3})) / 2;
  const double four = (Entropy(h, {0}) + Entropy(h, {1}) + Entropy(h, {2}) + Entropy(h, {3})) / 4;
  // Width 2 is preferred when it does as well: it is right for 2-byte values,
  // and 4-byte values gain visibly more from 4.
  const uint32_t width = four < two - kGroupingGainBits / 2 ? 4 : 2;
  return std::min(two, four) <= bytes - kGroupingGainBits ? width : 0;
}

}  // namespace aifs
