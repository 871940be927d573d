// RandomBits: where the privacy noise gets its randomness, and exact uniform
// integers drawn from it.
//
// Promise: Uniform(n) is exactly uniform on {0, ..., n-1} (rejection
// sampling, no modulo bias), for any n up to 2^128 - 1. The product's source
// is the operating system's CSPRNG (OpenSSL RAND_bytes, SecureRandomBits);
// SeededRandomBits is a fixed sequence for tests only, so statistical tests
// are repeatable. Not thread-safe: one instance per query.
#pragma once

#include <cstdint>

namespace aifs::privacy {

using u128 = unsigned __int128;

class RandomBits {
 public:
  virtual ~RandomBits() = default;
  // 64 uniformly random bits.
  virtual uint64_t Next64() = 0;
  // Uniform on {0, ..., n-1}; n must be > 0.
  u128 Uniform(u128 n);
  // true with probability num/den (0 <= num <= den, den > 0), exactly.
  bool Bernoulli(u128 num, u128 den) { return Uniform(den) < num; }
};

// OpenSSL's DRBG, read 512 bytes at a time. A failing generator aborts the
// process: noise must never silently fall back to something predictable.
class SecureRandomBits final : public RandomBits {
 public:
  uint64_t Next64() override;

 private:
  uint64_t buffer_[64];
  unsigned used_ = 64;
};

// splitmix64 from a seed: for tests only (predictable by design).
class SeededRandomBits final : public RandomBits {
 public:
  explicit SeededRandomBits(uint64_t seed) : state_(seed) {}
  uint64_t Next64() override;

 private:
  uint64_t state_;
};

}  // namespace aifs::privacy
