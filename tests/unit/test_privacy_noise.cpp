// The exact DP samplers (privacy/noise.h) against their stated distributions:
// moments and a chi-square goodness-of-fit over 100k samples with fixed
// seeds. The expected pmf is computed here independently, in long double
// from the closed forms, never from the samplers' integer arithmetic; each
// fit test also checks that a slightly wrong distribution is rejected by the
// same samples, so the test has the power to fail.
#include <gtest/gtest.h>

#include <cmath>

#include "aifs/privacy/epsilon.h"
#include "aifs/privacy/noise.h"
#include "noise_fit.h"

namespace aifs::privacy {
namespace {

using namespace noise_fit;

TEST(PrivacyNoise, UniformIsUniform) {
  SeededRandomBits rng(1);
  std::map<int64_t, int> counts = Draw([&] { return static_cast<int64_t>(rng.Uniform(7)); });
  ASSERT_EQ(counts.size(), 7u);
  EXPECT_EQ(counts.begin()->first, 0);
  EXPECT_EQ(counts.rbegin()->first, 6);
  double stat = 0;
  for (auto [x, n] : counts) stat += (n - kSamples / 7.0) * (n - kSamples / 7.0) / (kSamples / 7.0);
  EXPECT_LT(stat, ChiSquareCritical(6));
  // Beyond 64 bits: the top half is used too.
  const u128 big = (u128{1} << 100) + 12345;
  u128 max_seen = 0;
  for (int i = 0; i < 1000; ++i) {
    const u128 x = rng.Uniform(big);
    ASSERT_LT(x, big);
    max_seen = std::max(max_seen, x);
  }
  EXPECT_GT(max_seen, u128{1} << 98);
}

TEST(PrivacyNoise, BernoulliExpMatchesExp) {
  SeededRandomBits rng(2);
  for (Rational g : {Rational{0, 1}, Rational{1, 3}, Rational{1, 1}, Rational{5, 2},
                     Rational{7, 1000}, Rational{9, 2}}) {
    int hits = 0;
    for (int i = 0; i < kSamples; ++i) hits += BernoulliExp(g, rng);
    const double p = std::exp(-static_cast<double>(g.num) / static_cast<double>(g.den));
    const double se = std::sqrt(p * (1 - p) / kSamples);
    EXPECT_NEAR(hits / double(kSamples), p, 5 * se + 1e-12)
        << static_cast<uint64_t>(g.num) << "/" << static_cast<uint64_t>(g.den);
  }
}

void ExpectLaplaceFits(Rational scale, uint64_t seed) {
  SeededRandomBits rng(seed);
  const long double t = static_cast<long double>(scale.num) / static_cast<long double>(scale.den);
  const auto counts = Draw([&] { return DiscreteLaplace(scale, rng); });
  const long double q = std::exp(-1 / t);
  const double var = static_cast<double>(2 * q / ((1 - q) * (1 - q)));
  const Moments m = Summarize(counts);
  EXPECT_NEAR(m.mean, 0, 5 * std::sqrt(var / kSamples)) << "unbiased, scale " << (double)t;
  EXPECT_NEAR(m.var / var, 1, 0.03) << "variance, scale " << (double)t;
  const int64_t span = static_cast<int64_t>(40 * t) + 5;
  const Fit fit = ChiSquare(
      counts, [&](int64_t x) { return LaplacePmf(t, x); }, span);
  EXPECT_LT(fit.stat, ChiSquareCritical(fit.df)) << "scale " << (double)t;
  // Power: the same samples reject a scale 10% off.
  const Fit wrong = ChiSquare(
      counts, [&](int64_t x) { return LaplacePmf(t * 1.1L, x); }, span);
  EXPECT_GT(wrong.stat, ChiSquareCritical(wrong.df)) << "scale " << (double)t;
}

TEST(PrivacyNoise, DiscreteLaplaceFitsItsPmf) {
  ExpectLaplaceFits(Rational{3, 2}, 3);
  ExpectLaplaceFits(Rational{10, 1}, 4);
  ExpectLaplaceFits(Rational{2000000, 333333}, 5);  // a sum: D * 10^6 / eps_micros
  ExpectLaplaceFits(Rational{1, 4}, 6);             // mostly zero
}

void ExpectGaussianFits(Rational sigma2, uint64_t seed) {
  SeededRandomBits rng(seed);
  const long double s2 =
      static_cast<long double>(sigma2.num) / static_cast<long double>(sigma2.den);
  const auto counts = Draw([&] { return DiscreteGaussian(sigma2, rng); });
  const GaussianPmf pmf(s2), wrong_pmf(s2 * 1.1L);
  double var = 0;  // the discrete Gaussian's variance is slightly below sigma^2
  for (int64_t k = -2000; k <= 2000; ++k) var += static_cast<double>(k * k * pmf(k));
  const Moments m = Summarize(counts);
  EXPECT_NEAR(m.mean, 0, 5 * std::sqrt(var / kSamples)) << "unbiased, sigma2 " << (double)s2;
  EXPECT_NEAR(m.var / var, 1, 0.03) << "variance, sigma2 " << (double)s2;
  const int64_t span = static_cast<int64_t>(10 * std::sqrt(s2)) + 5;
  const Fit fit = ChiSquare(counts, pmf, span);
  EXPECT_LT(fit.stat, ChiSquareCritical(fit.df)) << "sigma2 " << (double)s2;
  const Fit wrong = ChiSquare(counts, wrong_pmf, span);
  EXPECT_GT(wrong.stat, ChiSquareCritical(wrong.df)) << "sigma2 " << (double)s2;
}

TEST(PrivacyNoise, DiscreteGaussianFitsItsPmf) {
  ExpectGaussianFits(Rational{4, 1}, 7);
  ExpectGaussianFits(Rational{50, 3}, 8);
  ExpectGaussianFits(Rational{1, 2}, 9);
  ExpectGaussianFits(Rational{400, 1}, 10);
}

TEST(PrivacyNoise, RejectsBadScales) {
  EXPECT_EQ(CheckLaplaceScale(Rational{0, 1}).reason(), "BAD_NOISE_SCALE");
  EXPECT_EQ(CheckLaplaceScale(Rational{1, 0}).reason(), "BAD_NOISE_SCALE");
  EXPECT_EQ(CheckLaplaceScale(Rational{kMaxScalePart, 1}).reason(), "BAD_NOISE_SCALE");
  EXPECT_TRUE(CheckLaplaceScale(Rational{kMaxScalePart - 1, 3}).ok());
  EXPECT_EQ(CheckGaussianSigma2(Rational{kMaxSigma2Num, 1}).reason(), "BAD_NOISE_SCALE");
  EXPECT_EQ(CheckGaussianSigma2(Rational{1, kMaxSigma2Den}).reason(), "BAD_NOISE_SCALE");
  EXPECT_TRUE(CheckGaussianSigma2(Rational{kMaxSigma2Num - 1, kMaxSigma2Den - 1}).ok());
}

TEST(PrivacyNoise, SecureBitsAreNotConstant) {
  SecureRandomBits rng;
  const uint64_t a = rng.Next64();
  bool differs = false;
  for (int i = 0; i < 200; ++i) differs |= rng.Next64() != a;  // crosses a refill
  EXPECT_TRUE(differs);
}

TEST(PrivacyEpsilon, ParsesDecimalsExactly) {
  EXPECT_EQ(*ParseEpsilon("0.25"), 250000u);
  EXPECT_EQ(*ParseEpsilon("1"), 1000000u);
  EXPECT_EQ(*ParseEpsilon("0.000001"), 1u);
  EXPECT_EQ(*ParseEpsilon("1000"), kMaxEpsilonMicros);
  EXPECT_EQ(*ParseEpsilon("0.1") * 3, *ParseEpsilon("0.3"));  // exact, unlike doubles
  for (const char* bad : {"-0.1", "1e-3", "nan", "inf", "0.0000001", "", ".5", "5.", "1000.000001",
                          " 1", "1 ", "0x1", "+1"})
    EXPECT_EQ(ParseEpsilon(bad).status().reason(), "BAD_EPSILON") << bad;
  for (uint64_t m : {uint64_t{1}, uint64_t{10}, uint64_t{250000}, uint64_t{1000000},
                     uint64_t{3141593}, kMaxEpsilonMicros}) {
    EXPECT_EQ(*ParseEpsilon(FormatEpsilon(m)), m);
  }
  EXPECT_EQ(FormatEpsilon(250000), "0.25");
  EXPECT_EQ(FormatEpsilon(3000000), "3");
  EXPECT_EQ(FormatEpsilon(1), "0.000001");
}

}  // namespace
}  // namespace aifs::privacy
