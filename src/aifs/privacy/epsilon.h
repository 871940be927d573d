// Epsilon and delta as exact decimal text: "0.25" <-> 250000 micro-epsilon,
// "1e-6" <-> 1000000 pico-delta (units of 10^-12). The ledger, the policy,
// token caveats and the CLI all count in these integers so every sum and
// comparison is exact (docs/privacy.md).
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

// Delta, the (epsilon, delta)-DP failure probability of the Gaussian
// mechanism, in pico-delta: small enough for realistic deltas (1e-12 is one
// unit), and every delta below 1 fits.
inline constexpr uint64_t kPicosPerDelta = 1000000000000;

// A decimal below 1 with at most 12 decimals ("0.000001"), or the same in
// scientific form ("1e-6", "2.5e-7"), down to 1e-12. Negative numbers, 1 and
// more, finer than 1e-12, "nan", spaces and other text are INVALID_ARGUMENT
// BAD_DELTA. "0" is 0 (a policy without delta; a Laplace query).
Result<uint64_t> ParseDelta(std::string_view text);
// Text ParseDelta reads back as `picos`: decimal from 0.001 up ("0.25"),
// scientific below ("1e-6", "2.5e-7"), "0" for 0.
std::string FormatDelta(uint64_t picos);

}  // namespace aifs::privacy
