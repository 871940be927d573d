// PrivacyPolicy: a namespace's differential-privacy rules for aggregate
// queries (Api::Aggregate; docs/privacy.md). A plain value type, part of
// NamespacePolicy.
//
// Epsilon is counted in micro-epsilon (millionths, "0.25" = 250000) and
// delta in pico-delta (units of 10^-12, "1e-6" = 1000000) so that every sum
// the ledger keeps is exact.
#pragma once

#include <cstdint>
#include <string>
#include <vector>

namespace aifs {

// A numeric field aggregate queries may read under the policy, with the
// bounds every value is clamped to. Values live on a fixed-point grid of
// 10^-decimals: bounds are in grid units (lower 0, upper 12000, decimals 2
// clamps to [0, 120.00]).
struct PrivacyField {
  std::string field;  // a metadata key, or "@size" (asset bytes)
  int64_t lower = 0;
  int64_t upper = 0;
  uint32_t decimals = 0;
  bool operator==(const PrivacyField&) const = default;
};

struct PrivacyPolicy {
  // The namespace's whole budget; 0: no privacy policy, aggregate answers are
  // exact (still only for tokens allowed the `query` operation).
  uint64_t total_epsilon_micros = 0;
  // The most one query may spend; 0: up to what is left of the total.
  uint64_t max_query_epsilon_micros = 0;
  // The namespace's whole delta, spent only by queries with the Gaussian
  // mechanism; 0: Gaussian queries are refused (GAUSSIAN_NOT_ALLOWED).
  // Below 1 (10^12 pico-delta).
  uint64_t total_delta_picos = 0;
  // The most delta one query may spend; 0: up to what is left of the total.
  uint64_t max_query_delta_picos = 0;
  // What one individual is: "" an asset; else the metadata key naming its
  // owner (e.g. "user_id"). Assets without that key are left out.
  std::string unit_key;
  // The most assets of one individual a query counts (the first ones in
  // asset ID order); bounds the sensitivity. 0 is taken as 1.
  uint32_t max_contributions = 0;
  std::vector<PrivacyField> fields;
  bool enabled() const { return total_epsilon_micros > 0; }
  bool operator==(const PrivacyPolicy&) const = default;
};

// Limits SetNamespacePolicy enforces (INVALID_ARGUMENT BAD_POLICY).
inline constexpr uint32_t kMaxPrivacyContributions = 1000;
inline constexpr int64_t kMaxPrivacyBound = 1000000000000;  // |bound| in grid units
inline constexpr uint32_t kMaxPrivacyDecimals = 6;
inline constexpr size_t kMaxPrivacyFields = 64;

}  // namespace aifs
