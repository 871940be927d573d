// Aggregation: one aggregate query (Api::Aggregate), planned against the
// namespace's privacy policy before any asset is read, then fed the matching
// assets and finished, exactly or with exact discrete Laplace or discrete
// Gaussian noise (privacy/noise.h, calibrated by privacy/zcdp.h for the
// Gaussian). The mechanisms and their costs: docs/privacy.md.
//
// Under a policy: values are clamped to the field's bounds on its
// fixed-point grid; one individual (an asset, or the assets sharing a
// `unit_key` value) contributes at most `max_contributions` assets, the
// first in the order they are added (asset ID order); values that are
// missing or not finite numbers are left out silently, since an error would
// tell something about the data. Without a policy the answer is exact and a
// value that is not a number is INVALID_ARGUMENT NOT_NUMERIC. A Gaussian
// histogram (or quantiles) also counts at most one asset per individual in
// each bin, so its L2 sensitivity is sqrt(max_contributions).
//
// Not thread-safe: one per query.
#pragma once

#include <string>
#include <unordered_map>
#include <unordered_set>
#include <vector>

#include "aifs/api/aggregate_query.h"
#include "aifs/privacy/noise.h"

namespace aifs {

// Checks a namespace's privacy policy (SetNamespacePolicy): INVALID_ARGUMENT
// BAD_POLICY saying which limit (api/privacy_policy.h) it breaks.
Status ValidatePrivacyPolicy(const PrivacyPolicy& policy);

class Aggregation {
 public:
  // INVALID_ARGUMENT: BAD_AGGREGATE (a field missing, or given to count),
  // FIELD_NOT_IN_POLICY, BOUNDS_MISSING, BAD_BOUNDS (NaN, infinite, lower >=
  // upper), TOO_MANY_BINS, BAD_QUANTILE, BAD_EPSILON (under a policy: 0, or
  // below 2 micro-epsilon for a Laplace mean, which splits it); for the
  // Gaussian under a policy GAUSSIAN_NOT_ALLOWED (the policy has no delta),
  // DELTA_REQUIRED (delta 0), BAD_DELTA (1 or more; or any delta for the
  // Laplace), NOISE_TOO_LARGE (sigma^2 beyond the sampler's limits).
  static Result<Aggregation> Plan(const AggregateQuery& query, const PrivacyPolicy& policy);

  // Adds one asset that matched the query's filters.
  Status Add(const AssetInfo& asset);
  // The answer. Exact mode: NOT_FOUND FIELD_NOT_FOUND when assets matched
  // but none has the field. `rng` is drawn from only under a policy.
  Result<AggregateAnswer> Finish(privacy::RandomBits& rng);

  bool noisy() const { return policy_.enabled(); }
  bool gaussian() const { return noisy() && query_.mechanism == NoiseMechanism::kGaussian; }
  uint64_t epsilon_micros() const { return noisy() ? query_.epsilon_micros : 0; }
  uint64_t delta_picos() const { return gaussian() ? query_.delta_picos : 0; }
  // The query as the ledger records it ("mean(age) where country=fr ...").
  std::string Describe() const;
  // The mechanism and its parameters ("discrete_laplace(scale=2/1)",
  // "discrete_gaussian(sigma2=112.5152)", "exact").
  std::string Mechanism() const;

 private:
  Aggregation(AggregateQuery query, PrivacyPolicy policy)
      : query_(std::move(query)), policy_(std::move(policy)) {}
  // The field's value of `asset`: nullopt when missing; NOT_NUMERIC in exact
  // mode for text that is not a finite number (left out under a policy).
  Result<std::optional<double>> Value(const AssetInfo& asset) const;
  // Whether `asset`'s individual may still contribute (and counts it); with
  // `distinct_bin`, only once in that bin.
  bool TakeContribution(const AssetInfo& asset, std::optional<size_t> distinct_bin);
  size_t BinOf(double v) const;
  // L1 sensitivity of a count or of each histogram: assets per individual.
  uint64_t Contributions() const;
  // The Gaussian's sigma^2 for the count (and bins) and the sum, from the
  // L2 sensitivities and the query's (epsilon, delta).
  Status PlanGaussian();
  // Noise for a count (or bin) and for a sum (grid units), spending
  // `micros` under the Laplace (the Gaussian's sigma^2 are planned).
  int64_t CountNoise(uint64_t micros, privacy::RandomBits& rng) const;
  int64_t SumNoise(uint64_t micros, privacy::RandomBits& rng) const;

  AggregateQuery query_;
  PrivacyPolicy policy_;
  PrivacyField bounds_;           // of the field under the policy (or from the query)
  double lower_ = 0, upper_ = 0;  // histogram range
  std::unordered_map<std::string, uint32_t> per_unit_;  // contributions per individual
  std::unordered_set<std::string> unit_bins_;           // "bin NUL unit" taken (Gaussian)
  privacy::Rational count_sigma2_, sum_sigma2_;         // the Gaussian's
  uint64_t matched_ = 0;                                // assets added
  uint64_t with_field_ = 0;                             // ... that had the field
  // Grid units under a policy (__int128: no overflow); plain sums exactly.
  __int128 units_ = 0;
  long double exact_sum_ = 0;
  uint64_t count_ = 0;  // contributions counted
  std::vector<int64_t> bins_;
  std::vector<double> values_;  // exact quantiles only
};

}  // namespace aifs
