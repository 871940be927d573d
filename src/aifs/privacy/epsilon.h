// Epsilon as exact decimal text: "0.25" <-> 250000 micro-epsilon. The ledger,
// the policy, token caveats and the CLI all count in micro-epsilon so every
// sum and comparison is exact (docs/privacy.md).
#pragma once

#include <cstdint>
#include <string>
#include <string_view>

#include "aifs/core/status.h"

namespace aifs::privacy {

inline constexpr uint64_t kMicrosPerEpsilon = 1000000;
// The largest epsilon anything may name: beyond it privacy means nothing.
inline constexpr uint64_t kMaxEpsilonMicros = 1000 * kMicrosPerEpsilon;

// Digits, optionally a point and at most 6 more digits ("1", "0.5",
// "0.000001"); at most kMaxEpsilonMicros. Negative numbers, exponents,
// "nan", spaces and more decimals are INVALID_ARGUMENT BAD_EPSILON.
Result<uint64_t> ParseEpsilon(std::string_view text);
// The shortest text ParseEpsilon reads back as `micros` ("0.25", "3").
std::string FormatEpsilon(uint64_t micros);

}  // namespace aifs::privacy
