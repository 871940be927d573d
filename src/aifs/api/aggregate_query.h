// Aggregate queries over a namespace's assets (Api::Aggregate) and the
// privacy ledger that pays for them (Api::GetPrivacyLedger). Plain value
// types; the rules are in docs/privacy.md and engine/aggregate.h.
#pragma once

#include <cstdint>
#include <optional>
#include <string>
#include <vector>

#include "aifs/api/types.h"

namespace aifs {

enum class AggregateKind { kCount = 1, kSum = 2, kMean = 3, kHistogram = 4, kQuantiles = 5 };
std::string_view AggregateKindName(AggregateKind kind);  // "count", "sum", ...
// INVALID_ARGUMENT BAD_AGGREGATE for another name.
Result<AggregateKind> ParseAggregateKind(std::string_view name);

// The noise of an answer under a privacy policy (docs/privacy.md): the
// discrete Laplace spends epsilon (pure DP); the discrete Gaussian spends
// epsilon and delta ((epsilon, delta)-DP through zCDP).
enum class NoiseMechanism { kLaplace = 0, kGaussian = 1 };
std::string_view NoiseMechanismName(NoiseMechanism m);  // "laplace", "gaussian"
// INVALID_ARGUMENT BAD_MECHANISM for another name.
Result<NoiseMechanism> ParseNoiseMechanism(std::string_view name);

// Histograms (and the quantiles read off them) have at most this many bins
// (INVALID_ARGUMENT TOO_MANY_BINS): every bin is noised and answered.
inline constexpr uint32_t kMaxHistogramBins = 1000;
inline constexpr size_t kMaxQuantiles = 99;

// Who pays for a query, and the most each of its token's budget caveats
// (`dp_epsilon <= X`) lets it spend. Set by the CallerApi from the verified
// token (never read from the wire); an embedded caller may leave it empty
// (key "local").
struct PrivacySpender {
  std::string key;  // CallerApi::caller_key()
  struct Cap {
    std::string account;  // one per caveat of one token lineage (docs/privacy.md)
    uint64_t epsilon_micros = 0;
  };
  std::vector<Cap> caps;
};

struct AggregateQuery {
  std::string ns = "default";
  AggregateKind kind = AggregateKind::kCount;
  // The numeric field (not for count): a metadata key, or "@size".
  std::string field;
  std::vector<MetaFilter> filters;  // all must match (as ListAssets)
  std::optional<AssetKind> asset_kind;
  std::string as_of;  // a snapshot ID, branch or tag; "": the live head
  // What the query may spend, in micro-epsilon. Required (> 0) under a
  // privacy policy; ignored without one.
  uint64_t epsilon_micros = 0;
  // The noise under a privacy policy, and for the Gaussian the delta it
  // spends in pico-delta (required, > 0; a Laplace query spends none).
  NoiseMechanism mechanism = NoiseMechanism::kLaplace;
  uint64_t delta_picos = 0;
  // Histogram and quantiles: `bins` equal bins over [lower, upper] (values
  // outside go to the end bins). The bounds default to the policy's; with
  // no policy they are required.
  uint32_t bins = 10;
  std::optional<double> lower, upper;
  std::vector<double> quantiles;  // each in [0, 1]
  std::string who;                // a claimed audit name (a server's caller replaces it)
  PrivacySpender spender;         // see PrivacySpender
};

struct HistogramBin {
  double lower = 0, upper = 0;  // [lower, upper); the last bin includes upper
  int64_t count = 0;
};

struct AggregateAnswer {
  AggregateKind kind = AggregateKind::kCount;
  bool noisy = false;  // false: exact (no privacy policy)
  // count: the count; mean: the count it divided by (noisy too).
  int64_t count = 0;
  double value = 0;  // sum or mean
  std::vector<HistogramBin> bins;
  std::vector<std::pair<double, double>> quantiles;  // (q, value)
  uint64_t epsilon_micros = 0;                       // spent by this query
  uint64_t remaining_micros = 0;                     // the namespace's budget left after it
  uint64_t delta_picos = 0;                          // spent by this query (Gaussian)
  uint64_t remaining_delta_picos = 0;                // the namespace's delta left after it
  // "exact", "discrete_laplace(scale=...)", "discrete_gaussian(sigma2=...)" ...
  std::string mechanism;
  uint64_t charge_seq = 0;                           // its ledger record (0: none)
};

// One answered query as the ledger records it.
struct PrivacyChargeInfo {
  uint64_t seq = 0;
  int64_t unix_ns = 0;
  std::string who;
  std::string caller;  // a hash of the caller key (stable per credential)
  std::string query;
  uint64_t epsilon_micros = 0;
  uint64_t delta_picos = 0;  // 0 for Laplace charges (and those before delta existed)
  std::string mechanism;
};

struct PrivacyLedgerView {
  PrivacyPolicy policy;
  uint64_t spent_micros = 0;
  uint64_t remaining_micros = 0;
  uint64_t spent_delta_picos = 0;
  uint64_t remaining_delta_picos = 0;
  uint64_t queries = 0;
  std::vector<PrivacyChargeInfo> charges;  // newest first, at most the limit asked
};

}  // namespace aifs
