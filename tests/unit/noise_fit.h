// Statistics for the privacy noise tests (test_privacy_noise.cpp,
// test_privacy_gaussian.cpp): 100k-sample draws, moments, and a chi-square
// goodness-of-fit against a pmf computed independently in long double.
#pragma once

#include <cmath>
#include <cstdint>
#include <functional>
#include <map>

namespace aifs::privacy::noise_fit {

inline constexpr int kSamples = 100000;

// The chi-square quantile at p = 0.001 (z = 3.09), Wilson-Hilferty.
inline double ChiSquareCritical(int df) {
  const double z = 3.0902, k = df;
  const double c = 1 - 2 / (9 * k) + z * std::sqrt(2 / (9 * k));
  return k * c * c * c;
}

// Chi-square statistic of `counts` against `pmf`, with bins holding fewer
// than 5 expected samples merged into the two tails.
struct Fit {
  double stat = 0;
  int df = 0;
};
inline Fit ChiSquare(const std::map<int64_t, int>& counts,
                     const std::function<long double(int64_t)>& pmf, int64_t span) {
  Fit fit;
  long double tail_expected = 1;
  int tail_observed = kSamples;
  for (int64_t x = -span; x <= span; ++x) {
    const long double e = pmf(x) * kSamples;
    if (e < 5) continue;
    const auto it = counts.find(x);
    const int o = it == counts.end() ? 0 : it->second;
    fit.stat += static_cast<double>((o - e) * (o - e) / e);
    tail_expected -= pmf(x);
    tail_observed -= o;
    ++fit.df;
  }
  const long double te = tail_expected * kSamples;
  if (te > 0) fit.stat += static_cast<double>((tail_observed - te) * (tail_observed - te) / te);
  return fit;  // df: (bins + tail) - 1
}

inline long double LaplacePmf(long double t, int64_t x) {
  const long double q = std::exp(-1 / t);
  return (1 - q) / (1 + q) * std::pow(q, std::fabs(static_cast<long double>(x)));
}

// The discrete Gaussian's pmf, normalized over [-2000, 2000] (the mass
// beyond is below 1e-1000 for the sigmas tested).
struct GaussianPmf {
  explicit GaussianPmf(long double s2) : sigma2(s2) {
    for (int64_t k = -2000; k <= 2000; ++k) norm += std::exp(-(k * k) / (2 * sigma2));
  }
  long double operator()(int64_t x) const {
    return std::exp(-(static_cast<long double>(x) * x) / (2 * sigma2)) / norm;
  }
  long double sigma2;
  long double norm = 0;
};

struct Moments {
  double mean = 0, var = 0;
};
inline Moments Summarize(const std::map<int64_t, int>& counts) {
  Moments m;
  for (auto [x, n] : counts) m.mean += static_cast<double>(x) * n;
  m.mean /= kSamples;
  for (auto [x, n] : counts) m.var += (x - m.mean) * (x - m.mean) * n;
  m.var /= kSamples - 1;
  return m;
}

inline std::map<int64_t, int> Draw(const std::function<int64_t()>& sample) {
  std::map<int64_t, int> counts;
  for (int i = 0; i < kSamples; ++i) ++counts[sample()];
  return counts;
}

}  // namespace aifs::privacy::noise_fit
