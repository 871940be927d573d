// splitmix64 (Steele, Lea, Flood 2014): a tiny, fast, fixed sequence of
// well-mixed 64-bit values from a seed. Not for secrets (core/random.h).
#pragma once

#include <cstdint>

namespace aifs {

// Advances `state` and returns the next value of its sequence.
constexpr uint64_t SplitMix64(uint64_t& state) {
  state += 0x9e3779b97f4a7c15ULL;
  uint64_t z = state;
  z = (z ^ (z >> 30)) * 0xbf58476d1ce4e5b9ULL;
  z = (z ^ (z >> 27)) * 0x94d049bb133111ebULL;
  return z ^ (z >> 31);
}

}  // namespace aifs
