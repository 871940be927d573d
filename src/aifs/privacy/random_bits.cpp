#include "aifs/privacy/random_bits.h"

#include <cstdio>
#include <cstdlib>

#include "aifs/core/random.h"
#include "aifs/core/splitmix64.h"

namespace aifs::privacy {

u128 RandomBits::Uniform(u128 n) {
  // Draw as many bits as n - 1 needs and retry values >= n: each try
  // succeeds with probability > 1/2.
  const u128 max = n - 1;
  if (max == 0) return 0;
  int bits = 0;
  for (u128 m = max; m != 0; m >>= 1) ++bits;
  const u128 mask = bits == 128 ? ~u128{0} : (u128{1} << bits) - 1;
  while (true) {
    u128 x = Next64();
    if (bits > 64) x |= u128{Next64()} << 64;
    x &= mask;
    if (x <= max) return x;
  }
}

uint64_t SecureRandomBits::Next64() {
  if (used_ == 64) {
    MutableByteSpan out(reinterpret_cast<uint8_t*>(buffer_), sizeof buffer_);
    if (!SecureRandom(out).ok()) {
      std::fputs("aifs: the system random generator failed; stopping\n", stderr);
      std::abort();
    }
    used_ = 0;
  }
  return buffer_[used_++];
}

uint64_t SeededRandomBits::Next64() { return SplitMix64(state_); }

}  // namespace aifs::privacy
