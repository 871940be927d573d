// The discrete Gaussian mechanism of aggregate queries (docs/privacy.md):
// its calibration to (epsilon, delta) through zCDP, checked against the
// formulas computed here independently; counts that are unbiased, have the
// calibrated variance and follow the discrete Gaussian pmf (100k seeded
// answers through Aggregation::Finish, the engine's own code path); the L2
// sensitivities of the other aggregates; delta's exact text.
#include <gtest/gtest.h>

#include <cmath>

#include "aifs/engine/aggregate.h"
#include "aifs/privacy/epsilon.h"
#include "aifs/privacy/zcdp.h"
#include "noise_fit.h"
#include "test_util.h"

namespace aifs::privacy {
namespace {

using namespace noise_fit;

long double Value(const Rational& r) {
  return static_cast<long double>(r.num) / static_cast<long double>(r.den);
}

// (sqrt(L + eps) - sqrt(L))^2 as the formula reads, L = ln(1 / delta).
long double RhoByTheFormula(long double eps, long double delta) {
  const long double l = std::log(1 / delta);
  const long double d = std::sqrt(l + eps) - std::sqrt(l);
  return d * d;
}

TEST(PrivacyGaussianCalibration, RhoAndSigma2FollowTheFormulas) {
  struct Case {
    const char* eps;
    const char* delta;
    u128 d2_squared;
  };
  for (const Case& c :
       {Case{"0.5", "1e-6", 1}, Case{"0.1", "1e-9", 4}, Case{"1", "0.00001", 3},
        Case{"0.01", "1e-12", 1}, Case{"2", "0.1", 14400}, Case{"1000", "0.5", 1}}) {
    SCOPED_TRACE(std::string(c.eps) + " " + c.delta);
    const uint64_t micros = *ParseEpsilon(c.eps), picos = *ParseDelta(c.delta);
    const long double eps = micros / 1e6L, delta = picos / 1e12L, l = std::log(1 / delta);
    const long double rho = ZcdpRho(micros, picos);
    EXPECT_NEAR(static_cast<double>(rho / RhoByTheFormula(eps, delta)), 1, 1e-9);
    // The largest rho whose zCDP gives (eps, delta)-DP (Bun-Steinke Prop. 1.3).
    EXPECT_NEAR(static_cast<double>(rho + 2 * std::sqrt(rho * l)), static_cast<double>(eps),
                1e-12 * static_cast<double>(eps));
    auto sigma2 = GaussianSigma2(c.d2_squared, rho);
    ASSERT_TRUE(sigma2.ok()) << sigma2.status().ToString();
    EXPECT_TRUE(CheckGaussianSigma2(*sigma2).ok());
    // D2^2 / (2 rho) rounded up, by at most one unit of its last decimal.
    const long double exact = static_cast<long double>(c.d2_squared) / (2 * rho);
    EXPECT_GE(Value(*sigma2), exact);
    EXPECT_LE(Value(*sigma2), exact * (1 + 1e-11L) + 1 / static_cast<long double>(sigma2->den));
    // What the rounded sigma^2 really guarantees stays within the budget.
    const long double rho_used = static_cast<long double>(c.d2_squared) / (2 * Value(*sigma2));
    EXPECT_LE(rho_used + 2 * std::sqrt(rho_used * l), eps);
  }
  // 1/(2 rho) for (0.5, 1e-6) is 112.5151967...: four decimals, rounded up.
  EXPECT_EQ(FormatSigma2(*GaussianSigma2(1, ZcdpRho(500000, 1000000))), "112.5152");
  EXPECT_EQ(FormatSigma2(Rational{6, 10000}), "0.0006");
  EXPECT_EQ(FormatSigma2(Rational{1200, 100}), "12");
  // Beyond the sampler: a sum with bounds of 10^13 units at epsilon 0.1.
  const u128 huge = u128{10000000000000} * 10000000000000;
  EXPECT_EQ(GaussianSigma2(huge, ZcdpRho(100000, 1000000)).status().reason(), "NOISE_TOO_LARGE");
}

PrivacyPolicy Policy() {
  PrivacyPolicy p;
  p.total_epsilon_micros = kMaxEpsilonMicros;
  p.total_delta_picos = *ParseDelta("0.5");
  p.fields = {{.field = "age", .lower = 0, .upper = 100, .decimals = 0}};
  return p;
}

Aggregation Plan(AggregateKind kind, const std::string& field, const char* eps, const char* delta,
                 const PrivacyPolicy& policy) {
  AggregateQuery q;
  q.kind = kind;
  q.field = field;
  q.epsilon_micros = *ParseEpsilon(eps);
  q.mechanism = NoiseMechanism::kGaussian;
  q.delta_picos = *ParseDelta(delta);
  auto a = Aggregation::Plan(q, policy);
  EXPECT_TRUE(a.ok()) << a.status().ToString();
  return std::move(a).value();
}

// The answers of a count over N assets: unbiased, with the calibrated
// variance, distributed as N + N_Z(0, sigma^2).
TEST(PrivacyGaussianAggregation, CountsAreUnbiasedWithTheCalibratedVariance) {
  Aggregation count = Plan(AggregateKind::kCount, "", "0.5", "1e-6", Policy());
  constexpr int64_t kAssets = 1000;
  for (int64_t i = 0; i < kAssets; ++i) AIFS_ASSERT_OK(count.Add(AssetInfo{}));
  const Rational sigma2 = *GaussianSigma2(1, ZcdpRho(500000, 1000000));
  EXPECT_EQ(count.Mechanism(), "discrete_gaussian(sigma2=112.5152)");
  EXPECT_EQ(count.delta_picos(), 1000000u);
  SeededRandomBits rng(24);
  const auto counts = Draw([&] {
    auto a = count.Finish(rng);
    EXPECT_TRUE(a.ok() && a->noisy);
    return a->count - kAssets;
  });
  const long double s2 = Value(sigma2);
  // The discrete Gaussian's variance equals sigma^2 up to e^(-2 pi^2
  // sigma^2) (far below double precision at sigma^2 = 112).
  const Moments m = Summarize(counts);
  const double var = static_cast<double>(s2);
  EXPECT_NEAR(m.mean, 0, 5 * std::sqrt(var / kSamples)) << "unbiased";
  // The sample variance's standard error is sigma^2 sqrt(2 / n) (0.45%).
  EXPECT_NEAR(m.var / var, 1, 5 * std::sqrt(2.0 / kSamples)) << "variance";
  const int64_t span = static_cast<int64_t>(10 * std::sqrt(var)) + 5;
  const Fit fit = ChiSquare(counts, GaussianPmf(s2), span);
  EXPECT_LT(fit.stat, ChiSquareCritical(fit.df));
  const Fit wrong = ChiSquare(counts, GaussianPmf(s2 * 1.1L), span);
  EXPECT_GT(wrong.stat, ChiSquareCritical(wrong.df)) << "the test can fail";
}

// The L2 sensitivities: k^2 for a count, (k max|bound|)^2 for a sum, each
// half of rho for a mean, and k for a histogram, which counts one
// individual at most once per bin. At epsilon 1000 a count's noise is zero
// with overwhelming probability (sigma^2 < 0.005), so the bounded counts show.
TEST(PrivacyGaussianAggregation, SensitivitiesFollowTheContributionBounds) {
  PrivacyPolicy p = Policy();
  p.unit_key = "user";
  p.max_contributions = 3;
  const long double rho = ZcdpRho(kMaxEpsilonMicros, *ParseDelta("0.5"));
  auto sigma2 = [&](u128 d2_squared, long double r) {
    return FormatSigma2(*GaussianSigma2(d2_squared, r));
  };
  Aggregation count = Plan(AggregateKind::kCount, "", "1000", "0.5", p);
  Aggregation sum = Plan(AggregateKind::kSum, "age", "1000", "0.5", p);
  Aggregation mean = Plan(AggregateKind::kMean, "age", "1000", "0.5", p);
  Aggregation hist = Plan(AggregateKind::kHistogram, "age", "1000", "0.5", p);
  EXPECT_EQ(count.Mechanism(), "discrete_gaussian(sigma2=" + sigma2(9, rho) + ")");
  EXPECT_EQ(sum.Mechanism(), "discrete_gaussian(sigma2=" + sigma2(90000, rho) + " units of 10^-0)");
  EXPECT_EQ(mean.Mechanism(), "discrete_gaussian(count sigma2=" + sigma2(9, rho / 2) +
                                  ", sum sigma2=" + sigma2(90000, rho / 2) + " units of 10^-0)");
  EXPECT_EQ(hist.Mechanism(), "discrete_gaussian(per bin sigma2=" + sigma2(3, rho) + ")");
  // u0: four assets at age 5 and one at 55; u1: one at 200 (in the last bin).
  auto person = [](const char* user, const char* age) {
    AssetInfo a;
    a.metadata = {{"user", user}, {"age", age}};
    return a;
  };
  for (const AssetInfo& a : {person("u0", "5"), person("u0", "5"), person("u0", "5"),
                             person("u0", "5"), person("u0", "55"), person("u1", "200")})
    for (Aggregation* agg : {&count, &hist}) AIFS_ASSERT_OK(agg->Add(a));
  SeededRandomBits rng(3);
  EXPECT_EQ(count.Finish(rng)->count, 4);  // 3 of u0, 1 of u1
  auto h = hist.Finish(rng);
  ASSERT_TRUE(h.ok());
  ASSERT_EQ(h->bins.size(), 10u);
  // u0 once in [0, 10) and once in [50, 60); u1 in the last bin.
  EXPECT_EQ(h->bins[0].count, 1);
  EXPECT_EQ(h->bins[5].count, 1);
  EXPECT_EQ(h->bins[9].count, 1);
}

TEST(PrivacyGaussianAggregation, PlanRefusesBadGaussianQueries) {
  AggregateQuery q;
  q.epsilon_micros = 100000;
  q.mechanism = NoiseMechanism::kGaussian;
  q.delta_picos = 1000000;
  PrivacyPolicy no_delta = Policy();
  no_delta.total_delta_picos = 0;
  EXPECT_EQ(Aggregation::Plan(q, no_delta).status().reason(), "GAUSSIAN_NOT_ALLOWED");
  q.delta_picos = 0;
  EXPECT_EQ(Aggregation::Plan(q, Policy()).status().reason(), "DELTA_REQUIRED");
  q.delta_picos = kPicosPerDelta;
  EXPECT_EQ(Aggregation::Plan(q, Policy()).status().reason(), "BAD_DELTA");
  q.mechanism = NoiseMechanism::kLaplace;
  q.delta_picos = 1;
  EXPECT_EQ(Aggregation::Plan(q, Policy()).status().reason(), "BAD_DELTA");
  // A sum over bounds of 10^12 units needs sigma^2 far beyond 2^40.
  PrivacyPolicy wide = Policy();
  wide.fields[0].upper = kMaxPrivacyBound;
  q.kind = AggregateKind::kSum;
  q.field = "age";
  q.mechanism = NoiseMechanism::kGaussian;
  q.delta_picos = 1000000;
  EXPECT_EQ(Aggregation::Plan(q, wide).status().reason(), "NOISE_TOO_LARGE");
  // Without a policy the mechanism is moot: exact.
  auto exact = Aggregation::Plan(q, PrivacyPolicy{});
  ASSERT_TRUE(exact.ok());
  EXPECT_EQ(exact->Mechanism(), "exact");
  EXPECT_EQ(exact->delta_picos(), 0u);
}

TEST(PrivacyDelta, ParsesAndFormatsExactly) {
  EXPECT_EQ(*ParseDelta("1e-6"), 1000000u);
  EXPECT_EQ(*ParseDelta("0.000001"), 1000000u);
  EXPECT_EQ(*ParseDelta("2.5e-7"), 250000u);
  EXPECT_EQ(*ParseDelta("10e-13"), 1u);
  EXPECT_EQ(*ParseDelta("1E-12"), 1u);
  EXPECT_EQ(*ParseDelta("0"), 0u);
  EXPECT_EQ(*ParseDelta("0.999999999999"), kPicosPerDelta - 1);
  EXPECT_EQ(*ParseDelta("1e-7") * 3, *ParseDelta("3e-7"));  // exact, unlike doubles
  for (const char* bad :
       {"-1e-6", "-0",    "1",   "1.0",   "1e0",    "2",       "1e-13",  "0.0000000000001",
        "nan",   "inf",   "",    ".5",    "5.",     "1e",      "1e-",    "1e+6",
        " 1e-6", "1e-6 ", "0x1", "+1e-6", "1e-123", "1e-6e-6", "garbage"})
    EXPECT_EQ(ParseDelta(bad).status().reason(), "BAD_DELTA") << bad;
  for (uint64_t p :
       {uint64_t{1}, uint64_t{10}, uint64_t{1000000}, uint64_t{1500000}, uint64_t{999999999},
        uint64_t{1000000000}, uint64_t{250000000000}, kPicosPerDelta - 1})
    EXPECT_EQ(*ParseDelta(FormatDelta(p)), p) << FormatDelta(p);
  EXPECT_EQ(FormatDelta(0), "0");
  EXPECT_EQ(FormatDelta(1), "1e-12");
  EXPECT_EQ(FormatDelta(1000000), "1e-6");
  EXPECT_EQ(FormatDelta(2500000), "2.5e-6");
  EXPECT_EQ(FormatDelta(1000000000), "0.001");
  EXPECT_EQ(FormatDelta(250000000000), "0.25");
}

}  // namespace
}  // namespace aifs::privacy
