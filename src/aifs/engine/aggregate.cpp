#include "aifs/engine/aggregate.h"

#include <algorithm>
#include <cmath>
#include <cstdlib>
#include <numeric>
#include <set>

#include "aifs/privacy/epsilon.h"
#include "aifs/privacy/zcdp.h"

namespace aifs {

namespace {

using privacy::FormatEpsilon;
using privacy::FormatSigma2;
using privacy::kMicrosPerEpsilon;
using privacy::kPicosPerDelta;

// Sensitivity * 10^6 must stay below 2^64 (privacy::CheckLaplaceScale).
constexpr uint64_t kMaxSensitivity = 10000000000000;  // 1e13 grid units

Status BadPolicy(const std::string& message) { return err::InvalidArgument("BAD_POLICY", message); }

double Pow10(uint32_t decimals) {
  double s = 1;
  for (uint32_t i = 0; i < decimals; ++i) s *= 10;
  return s;
}

uint64_t Magnitude(const PrivacyField& f) {
  return std::max(static_cast<uint64_t>(std::llabs(f.lower)),
                  static_cast<uint64_t>(std::llabs(f.upper)));
}

std::string FilterText(const MetaFilter& f) {
  switch (f.op) {
    case MetaFilter::Op::kEquals:
      return f.key + "=" + f.value;
    case MetaFilter::Op::kPrefix:
      return f.key + "^=" + f.value;
    case MetaFilter::Op::kExists:
      return f.key;
    case MetaFilter::Op::kIn: {
      std::string out = f.key + "@=";
      for (size_t i = 0; i < f.values.size(); ++i) out += (i ? "," : "") + f.values[i];
      return out;
    }
    case MetaFilter::Op::kRange: {
      std::string out;
      if (f.min) out += f.key + ">=" + std::to_string(*f.min);
      if (f.max) out += (out.empty() ? "" : " ") + f.key + "<=" + std::to_string(*f.max);
      return out.empty() ? f.key : out;
    }
  }
  return f.key;
}

std::string ScaleText(uint64_t delta, uint64_t micros) {
  // delta / (micros / 10^6), in lowest terms.
  const uint64_t num = delta * kMicrosPerEpsilon;
  const uint64_t g = std::gcd(num, micros);
  return std::to_string(num / g) + "/" + std::to_string(micros / g);
}

bool Finite(std::optional<double> x) { return !x || std::isfinite(*x); }

}  // namespace

Status ValidatePrivacyPolicy(const PrivacyPolicy& p) {
  if (p.total_epsilon_micros > privacy::kMaxEpsilonMicros)
    return BadPolicy("the total epsilon may be at most " +
                     FormatEpsilon(privacy::kMaxEpsilonMicros));
  if (p.max_query_epsilon_micros > p.total_epsilon_micros)
    return BadPolicy("the per-query epsilon may not exceed the total");
  if (p.total_delta_picos >= kPicosPerDelta) return BadPolicy("the total delta must be below 1");
  if (p.max_query_delta_picos > p.total_delta_picos)
    return BadPolicy("the per-query delta may not exceed the total");
  if (p.total_delta_picos > 0 && p.total_epsilon_micros == 0)
    return BadPolicy("a delta needs an epsilon budget beside it");
  if (p.max_contributions > kMaxPrivacyContributions)
    return BadPolicy("at most " + std::to_string(kMaxPrivacyContributions) +
                     " contributions per individual");
  if (p.fields.size() > kMaxPrivacyFields)
    return BadPolicy("at most " + std::to_string(kMaxPrivacyFields) + " fields");
  std::set<std::string> seen;
  const uint64_t k = std::max<uint32_t>(1, p.max_contributions);
  for (const PrivacyField& f : p.fields) {
    if (f.field.empty() || !seen.insert(f.field).second)
      return BadPolicy("every field needs a name, once ('" + err::Echo(f.field) + "')");
    if (f.lower >= f.upper || std::llabs(f.lower) > kMaxPrivacyBound ||
        std::llabs(f.upper) > kMaxPrivacyBound)
      return BadPolicy("field '" + err::Echo(f.field) +
                       "' needs bounds lower < upper, each at most 10^12 grid units");
    if (f.decimals > kMaxPrivacyDecimals)
      return BadPolicy("field '" + err::Echo(f.field) + "' may have at most 6 decimals");
    if (Magnitude(f) * k > kMaxSensitivity)
      return BadPolicy("field '" + err::Echo(f.field) +
                       "': max_contributions times the largest bound exceeds 10^13 grid units");
  }
  return Status::Ok();
}

Result<Aggregation> Aggregation::Plan(const AggregateQuery& q, const PrivacyPolicy& policy) {
  const AggregateKind kind = q.kind;
  const bool count = kind == AggregateKind::kCount;
  const bool binned = kind == AggregateKind::kHistogram || kind == AggregateKind::kQuantiles;
  const std::string name(AggregateKindName(kind));
  if (count && !q.field.empty())
    return err::InvalidArgument("BAD_AGGREGATE", "count takes no field");
  if (!count && q.field.empty())
    return err::InvalidArgument("BAD_AGGREGATE", name + " needs a field");
  if (binned && q.bins == 0)
    return err::InvalidArgument("BAD_AGGREGATE", "bins must be at least 1");
  if (binned && q.bins > kMaxHistogramBins)
    return err::InvalidArgument("TOO_MANY_BINS", "at most " + std::to_string(kMaxHistogramBins) +
                                                     " bins (each is noised and answered)");
  if (kind == AggregateKind::kQuantiles) {
    if (q.quantiles.empty() || q.quantiles.size() > kMaxQuantiles)
      return err::InvalidArgument("BAD_QUANTILE", "ask for 1 to 99 quantiles");
    for (double x : q.quantiles)
      if (!(x >= 0 && x <= 1))  // NaN fails too
        return err::InvalidArgument("BAD_QUANTILE", "quantiles must lie in [0, 1]");
  }
  if (!Finite(q.lower) || !Finite(q.upper) || (q.lower && q.upper && !(*q.lower < *q.upper)))
    return err::InvalidArgument("BAD_BOUNDS", "bounds must be finite numbers, lower < upper");

  Aggregation a(q, policy);
  const PrivacyField* declared = nullptr;
  for (const PrivacyField& f : policy.fields)
    if (f.field == q.field) declared = &f;
  if (policy.enabled()) {
    if (q.epsilon_micros == 0 || q.epsilon_micros > privacy::kMaxEpsilonMicros)
      return err::InvalidArgument("BAD_EPSILON",
                                  "a query under a privacy policy must spend epsilon in (0, " +
                                      FormatEpsilon(privacy::kMaxEpsilonMicros) + "]");
    const bool gaussian = q.mechanism == NoiseMechanism::kGaussian;
    if (kind == AggregateKind::kMean && !gaussian && q.epsilon_micros < 2)
      return err::InvalidArgument("BAD_EPSILON", "a mean splits its epsilon: at least 0.000002");
    if (gaussian && policy.total_delta_picos == 0)
      return err::InvalidArgument("GAUSSIAN_NOT_ALLOWED",
                                  "the namespace's privacy policy has no delta budget, so only "
                                  "the laplace mechanism is offered");
    if (gaussian && q.delta_picos == 0)
      return err::InvalidArgument("DELTA_REQUIRED", "the gaussian mechanism spends a delta > 0");
    if (!gaussian && q.delta_picos != 0)
      return err::InvalidArgument("BAD_DELTA", "the laplace mechanism spends no delta");
    if (q.delta_picos >= kPicosPerDelta)
      return err::InvalidArgument("BAD_DELTA", "delta must be below 1");
    if (!count && !declared)
      return err::InvalidArgument(
          "FIELD_NOT_IN_POLICY",
          "field '" + err::Echo(q.field) + "' has no bounds in the namespace's privacy policy");
  }
  if (declared) a.bounds_ = *declared;
  if (binned) {
    const double scale = Pow10(a.bounds_.decimals);
    const std::optional<double> lo = q.lower    ? q.lower
                                     : declared ? std::optional<double>(declared->lower / scale)
                                                : std::nullopt;
    const std::optional<double> hi = q.upper    ? q.upper
                                     : declared ? std::optional<double>(declared->upper / scale)
                                                : std::nullopt;
    if (!lo || !hi)
      return err::InvalidArgument(
          "BOUNDS_MISSING",
          name + " of '" + err::Echo(q.field) + "' needs --lower and --upper (no policy bounds)");
    if (!(*lo < *hi)) return err::InvalidArgument("BAD_BOUNDS", "lower must be below upper");
    a.lower_ = *lo;
    a.upper_ = *hi;
    a.bins_.assign(q.bins, 0);
  }
  if (a.gaussian()) AIFS_RETURN_IF_ERROR(a.PlanGaussian());
  return a;
}

Status Aggregation::PlanGaussian() {
  // L2 sensitivities, squared: one individual moves a count by up to k
  // (k^2) and a sum by up to k * max(|L|, |U|) grid units; a histogram by 1
  // in each of up to k distinct bins (k). A mean is a count and a sum, each
  // given half of rho (zCDP composes by adding rho).
  const privacy::u128 k = Contributions();
  const privacy::u128 sum_d1 = k * Magnitude(bounds_);
  const long double rho = privacy::ZcdpRho(query_.epsilon_micros, query_.delta_picos);
  const bool count = query_.kind == AggregateKind::kCount;
  const bool mean = query_.kind == AggregateKind::kMean;
  if (count || mean) {
    AIFS_ASSIGN_OR_RETURN(count_sigma2_, privacy::GaussianSigma2(k * k, mean ? rho / 2 : rho));
  }
  if (query_.kind == AggregateKind::kSum || mean) {
    AIFS_ASSIGN_OR_RETURN(sum_sigma2_,
                          privacy::GaussianSigma2(sum_d1 * sum_d1, mean ? rho / 2 : rho));
  }
  if (!bins_.empty()) {
    AIFS_ASSIGN_OR_RETURN(count_sigma2_, privacy::GaussianSigma2(k, rho));
  }
  return Status::Ok();
}

uint64_t Aggregation::Contributions() const {
  return policy_.unit_key.empty() ? 1 : std::max<uint32_t>(1, policy_.max_contributions);
}

Result<std::optional<double>> Aggregation::Value(const AssetInfo& asset) const {
  if (query_.field == "@size") return std::optional<double>(static_cast<double>(asset.size));
  const auto it = asset.metadata.find(query_.field);
  if (it == asset.metadata.end()) return std::optional<double>();
  const std::string& text = it->second;
  char* end = nullptr;
  const double x = std::strtod(text.c_str(), &end);
  if (text.empty() || end != text.c_str() + text.size() || !std::isfinite(x)) {
    if (noisy()) return std::optional<double>();  // an error would tell about the data
    return err::InvalidArgument("NOT_NUMERIC", "asset " + asset.id.ToHex() + ": field '" +
                                                   err::Echo(query_.field) +
                                                   "' is not a finite number");
  }
  return std::optional<double>(x);
}

bool Aggregation::TakeContribution(const AssetInfo& asset, std::optional<size_t> distinct_bin) {
  if (!noisy() || policy_.unit_key.empty()) return true;
  const auto it = asset.metadata.find(policy_.unit_key);
  if (it == asset.metadata.end()) return false;
  uint32_t& used = per_unit_[it->second];
  if (used >= Contributions()) return false;
  if (distinct_bin && !unit_bins_.insert(std::to_string(*distinct_bin) + '\0' + it->second).second)
    return false;
  ++used;
  return true;
}

size_t Aggregation::BinOf(double v) const {
  const double pos = (v - lower_) / (upper_ - lower_) * static_cast<double>(bins_.size());
  if (!(pos > 0)) return 0;
  return std::min(bins_.size() - 1, static_cast<size_t>(pos));
}

Status Aggregation::Add(const AssetInfo& asset) {
  ++matched_;
  if (query_.kind == AggregateKind::kCount) {
    if (TakeContribution(asset, std::nullopt)) ++count_;
    return Status::Ok();
  }
  AIFS_ASSIGN_OR_RETURN(std::optional<double> v, Value(asset));
  if (!v) return Status::Ok();
  ++with_field_;
  const bool binned =
      query_.kind == AggregateKind::kHistogram || query_.kind == AggregateKind::kQuantiles;
  if (!TakeContribution(asset, gaussian() && binned ? std::optional(BinOf(*v)) : std::nullopt))
    return Status::Ok();
  ++count_;
  switch (query_.kind) {
    case AggregateKind::kSum:
    case AggregateKind::kMean:
      if (noisy()) {
        const double x = *v * Pow10(bounds_.decimals);
        const int64_t u = x <= static_cast<double>(bounds_.lower)   ? bounds_.lower
                          : x >= static_cast<double>(bounds_.upper) ? bounds_.upper
                                                                    : std::llround(x);
        units_ += std::clamp(u, bounds_.lower, bounds_.upper);
      } else {
        exact_sum_ += *v;
      }
      break;
    case AggregateKind::kQuantiles:
      if (!noisy()) {
        values_.push_back(*v);
        break;
      }
      [[fallthrough]];
    case AggregateKind::kHistogram:
      ++bins_[BinOf(*v)];
      break;
    case AggregateKind::kCount:
      break;
  }
  return Status::Ok();
}

namespace {

// Laplace noise for L1 sensitivity `d1` (grid units) spending `micros`.
int64_t LaplaceNoise(uint64_t d1, uint64_t micros, privacy::RandomBits& rng) {
  return privacy::DiscreteLaplace(privacy::Rational{privacy::u128{d1} * kMicrosPerEpsilon, micros},
                                  rng);
}

}  // namespace

int64_t Aggregation::CountNoise(uint64_t micros, privacy::RandomBits& rng) const {
  if (gaussian()) return privacy::DiscreteGaussian(count_sigma2_, rng);
  return LaplaceNoise(Contributions(), micros, rng);
}

int64_t Aggregation::SumNoise(uint64_t micros, privacy::RandomBits& rng) const {
  if (gaussian()) return privacy::DiscreteGaussian(sum_sigma2_, rng);
  return LaplaceNoise(Contributions() * Magnitude(bounds_), micros, rng);
}

Result<AggregateAnswer> Aggregation::Finish(privacy::RandomBits& rng) {
  AggregateAnswer ans;
  ans.kind = query_.kind;
  ans.noisy = noisy();
  ans.mechanism = Mechanism();
  ans.epsilon_micros = epsilon_micros();
  const AggregateKind kind = query_.kind;
  if (!noisy() && kind != AggregateKind::kCount && matched_ > 0 && with_field_ == 0)
    return err::NotFound("FIELD_NOT_FOUND",
                         "no matching asset has field '" + err::Echo(query_.field) + "'");
  const uint64_t eps = query_.epsilon_micros;
  const double scale = Pow10(bounds_.decimals);
  auto noisy_count = [&](uint64_t micros) {
    return static_cast<int64_t>(count_) + (noisy() ? CountNoise(micros, rng) : 0);
  };
  auto noisy_sum = [&](uint64_t micros) -> double {
    if (!noisy()) return static_cast<double>(exact_sum_);
    return static_cast<double>(units_ + SumNoise(micros, rng)) / scale;
  };
  switch (kind) {
    case AggregateKind::kCount:
    case AggregateKind::kSum:
      ans.count = kind == AggregateKind::kCount ? noisy_count(eps) : static_cast<int64_t>(count_);
      if (kind == AggregateKind::kSum) ans.value = noisy_sum(eps);
      break;
    case AggregateKind::kMean: {
      // Laplace: half the epsilon to the count, the rest to the sum; Gaussian:
      // half the rho to each, planned (docs/privacy.md).
      ans.count = noisy_count(eps / 2);
      const double sum = noisy_sum(eps - eps / 2);
      ans.value = ans.count > 0 ? sum / static_cast<double>(ans.count) : 0;
      if (noisy()) ans.value = std::clamp(ans.value, bounds_.lower / scale, bounds_.upper / scale);
      break;
    }
    case AggregateKind::kHistogram:
    case AggregateKind::kQuantiles: {
      const double width = (upper_ - lower_) / static_cast<double>(bins_.size());
      for (size_t i = 0; i < bins_.size(); ++i) {
        const int64_t c = bins_[i] + (noisy() ? CountNoise(eps, rng) : 0);
        ans.bins.push_back(
            {lower_ + width * static_cast<double>(i),
             i + 1 == bins_.size() ? upper_ : lower_ + width * static_cast<double>(i + 1), c});
      }
      ans.count = static_cast<int64_t>(count_);
      if (kind == AggregateKind::kHistogram) break;
      if (!noisy()) {
        // Exact: nearest rank.
        std::sort(values_.begin(), values_.end());
        for (double q : query_.quantiles) {
          const double rank = std::ceil(q * static_cast<double>(values_.size()));
          const size_t i = rank < 1 ? 0 : static_cast<size_t>(rank) - 1;
          ans.quantiles.emplace_back(
              q, values_.empty() ? 0 : values_[std::min(i, values_.size() - 1)]);
        }
        ans.bins.clear();
        break;
      }
      // Read off the noisy histogram (post-processing: no further cost):
      // negative counts as 0, linear within the bin where the rank falls.
      int64_t total = 0;
      for (const HistogramBin& b : ans.bins) total += std::max<int64_t>(0, b.count);
      for (double q : query_.quantiles) {
        const double target = q * static_cast<double>(total);
        double cum = 0, value = lower_;
        for (const HistogramBin& b : ans.bins) {
          const double c = static_cast<double>(std::max<int64_t>(0, b.count));
          if (c > 0 && cum + c >= target) {
            value = b.lower + (b.upper - b.lower) * std::clamp((target - cum) / c, 0.0, 1.0);
            break;
          }
          cum += c;
          value = b.upper;
        }
        ans.quantiles.emplace_back(q, total == 0 ? lower_ : value);
      }
      ans.count = total;
      ans.bins.clear();
      break;
    }
  }
  if (noisy() && kind != AggregateKind::kCount && kind != AggregateKind::kMean) ans.count = 0;
  return ans;
}

std::string Aggregation::Describe() const {
  std::string out(AggregateKindName(query_.kind));
  if (!query_.field.empty()) out += "(" + query_.field + ")";
  std::string where;
  for (const MetaFilter& f : query_.filters) where += (where.empty() ? "" : " ") + FilterText(f);
  if (query_.asset_kind)
    where += (where.empty() ? "kind=" : " kind=") + std::string(KindName(*query_.asset_kind));
  if (!where.empty()) out += " where " + where;
  if (!query_.as_of.empty()) out += " as_of " + query_.as_of;
  if (!bins_.empty())
    out += " bins=" + std::to_string(bins_.size()) + " range=[" + std::to_string(lower_) + "," +
           std::to_string(upper_) + "]";
  if (query_.kind == AggregateKind::kQuantiles)
    for (size_t i = 0; i < query_.quantiles.size(); ++i)
      out += (i ? "," : " q=") + std::to_string(query_.quantiles[i]);
  return err::Echo(out, 512);
}

std::string Aggregation::Mechanism() const {
  if (!noisy()) return "exact";
  const uint64_t k = Contributions();
  const uint64_t eps = query_.epsilon_micros;
  const uint64_t sum_delta = k * Magnitude(bounds_);
  if (gaussian()) {
    const std::string count = FormatSigma2(count_sigma2_), sum = FormatSigma2(sum_sigma2_);
    const std::string units = " units of 10^-" + std::to_string(bounds_.decimals);
    switch (query_.kind) {
      case AggregateKind::kCount:
        return "discrete_gaussian(sigma2=" + count + ")";
      case AggregateKind::kSum:
        return "discrete_gaussian(sigma2=" + sum + units + ")";
      case AggregateKind::kMean:
        return "discrete_gaussian(count sigma2=" + count + ", sum sigma2=" + sum + units + ")";
      case AggregateKind::kHistogram:
      case AggregateKind::kQuantiles:
        return "discrete_gaussian(per bin sigma2=" + count + ")";
    }
  }
  switch (query_.kind) {
    case AggregateKind::kCount:
      return "discrete_laplace(scale=" + ScaleText(k, eps) + ")";
    case AggregateKind::kSum:
      return "discrete_laplace(scale=" + ScaleText(sum_delta, eps) + " units of 10^-" +
             std::to_string(bounds_.decimals) + ")";
    case AggregateKind::kMean:
      return "discrete_laplace(count scale=" + ScaleText(k, eps / 2) +
             ", sum scale=" + ScaleText(sum_delta, eps - eps / 2) + ")";
    case AggregateKind::kHistogram:
    case AggregateKind::kQuantiles:
      return "discrete_laplace(per bin scale=" + ScaleText(k, eps) + ")";
  }
  return "?";
}

}  // namespace aifs
