// Byte views and buffers used across the code base.
#pragma once

#include <array>
#include <cstdint>
#include <span>
#include <string>
#include <string_view>
#include <vector>

namespace aifs {

using ByteSpan = std::span<const uint8_t>;
using MutableByteSpan = std::span<uint8_t>;
using Bytes = std::vector<uint8_t>;

inline ByteSpan AsBytes(std::string_view s) {
  return {reinterpret_cast<const uint8_t*>(s.data()), s.size()};
}
inline std::string_view AsChars(ByteSpan b) {
  return {reinterpret_cast<const char*>(b.data()), b.size()};
}

// A fixed-size array from a record's bytes field: copies up to N bytes and
// zero-fills the rest (records are validated where a wrong length matters).
template <size_t N>
std::array<uint8_t, N> FixedBytes(std::string_view b) {
  std::array<uint8_t, N> out{};
  for (size_t i = 0; i < N && i < b.size(); ++i) out[i] = static_cast<uint8_t>(b[i]);
  return out;
}

// Overwrites memory the optimiser may not elide; for keys and secrets.
void SecureWipe(void* p, size_t n);

}  // namespace aifs
