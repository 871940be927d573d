// Aggregate queries and the privacy ledger (docs/privacy.md): exact answers
// without a policy, noisy unbiased ones under it, the budget arithmetic,
// racing clients (RocksDB and PostgreSQL), token caveats, restarts and bad
// input.
#include <atomic>
#include <cmath>
#include <thread>

#include "aifs/auth/macaroon.h"
#include "aifs/engine/aggregate.h"
#include "aifs/privacy/epsilon.h"
#include "aifs/privacy/zcdp.h"
#include "meta_backends.h"
#include "pg_test_server.h"
#include "test_util.h"

namespace aifs::test {
namespace {

uint64_t Eps(const char* text) { return *privacy::ParseEpsilon(text); }
uint64_t Delta(const char* text) { return *privacy::ParseDelta(text); }

PrivacyPolicy AgePolicy(const char* total) {
  PrivacyPolicy p;
  p.total_epsilon_micros = Eps(total);
  p.fields = {{.field = "age", .lower = 0, .upper = 100, .decimals = 0},
              {.field = "score", .lower = -500, .upper = 500, .decimals = 2}};
  return p;
}

AggregateQuery Query(AggregateKind kind, const std::string& field = "", const char* eps = "0") {
  AggregateQuery q;
  q.kind = kind;
  q.field = field;
  q.epsilon_micros = Eps(eps);
  return q;
}

// A query with the discrete Gaussian, spending (eps, delta).
AggregateQuery Gaussian(AggregateKind kind, const std::string& field, const char* eps,
                        const char* delta) {
  AggregateQuery q = Query(kind, field, eps);
  q.mechanism = NoiseMechanism::kGaussian;
  q.delta_picos = Delta(delta);
  return q;
}

class PrivacyTest : public EngineFixture {
 protected:
  void SetUp() override { InitStore(Options()); }
  virtual InitOptions Options() { return SmallInit(); }
  // Asset i: age i (0..n-1), country fr for even i, else de.
  void PutPeople(int n) {
    for (int i = 0; i < n; ++i) {
      PutOptions o;
      o.metadata = {{"age", std::to_string(i)},
                    {"country", i % 2 ? "de" : "fr"},
                    {"user", "u" + std::to_string(i / 5)}};
      ASSERT_TRUE(PutBytes(engine(), RandomBytes(10 + i, 1000 + i), o).ok());
    }
  }
  void SetPrivacy(const PrivacyPolicy& p) {
    NamespacePolicy np;
    np.privacy = p;
    auto r = engine().SetNamespacePolicy("default", np);
    ASSERT_TRUE(r.ok()) << r.status().ToString();
  }
  uint64_t Spent() {
    auto v = engine().GetPrivacyLedger("default", 0);
    EXPECT_TRUE(v.ok()) << v.status().ToString();
    return v.ok() ? v->spent_micros : ~uint64_t{0};
  }
};

TEST_F(PrivacyTest, WithoutAPolicyAnswersAreExact) {
  PutPeople(40);
  auto count = engine().Aggregate(Query(AggregateKind::kCount));
  ASSERT_TRUE(count.ok()) << count.status().ToString();
  EXPECT_FALSE(count->noisy);
  EXPECT_EQ(count->count, 40);
  EXPECT_EQ(count->mechanism, "exact");
  AggregateQuery fr = Query(AggregateKind::kCount);
  fr.filters = {{.key = "country", .op = MetaFilter::Op::kEquals, .value = "fr"}};
  EXPECT_EQ(engine().Aggregate(fr)->count, 20);
  auto sum = engine().Aggregate(Query(AggregateKind::kSum, "age"));
  ASSERT_TRUE(sum.ok());
  EXPECT_EQ(sum->value, 780);  // 0 + ... + 39
  auto mean = engine().Aggregate(Query(AggregateKind::kMean, "age"));
  EXPECT_DOUBLE_EQ(mean->value, 19.5);
  AggregateQuery hist = Query(AggregateKind::kHistogram, "age");
  hist.bins = 4;
  hist.lower = 0;
  hist.upper = 40;
  auto h = engine().Aggregate(hist);
  ASSERT_TRUE(h.ok()) << h.status().ToString();
  ASSERT_EQ(h->bins.size(), 4u);
  for (const HistogramBin& b : h->bins) EXPECT_EQ(b.count, 10);
  EXPECT_EQ(h->bins[3].upper, 40);
  AggregateQuery qs = Query(AggregateKind::kQuantiles, "age");
  qs.lower = 0;
  qs.upper = 40;
  qs.quantiles = {0, 0.5, 1};
  auto q = engine().Aggregate(qs);
  ASSERT_TRUE(q.ok()) << q.status().ToString();
  EXPECT_EQ(q->quantiles, (std::vector<std::pair<double, double>>{{0, 0}, {0.5, 19}, {1, 39}}));
  // Asset sizes are a field too: 10 + i bytes.
  EXPECT_EQ(engine().Aggregate(Query(AggregateKind::kSum, "@size"))->value, 400 + 780);
  // As of a snapshot: later assets are not counted.
  auto snap = engine().CreateSnapshot("default", nullptr);
  ASSERT_TRUE(snap.ok());
  PutPeople(41);  // one more (the first 40 are re-puts)
  AggregateQuery old = Query(AggregateKind::kCount);
  old.as_of = snap->id.ToHex();
  EXPECT_EQ(engine().Aggregate(old)->count, 40);
  EXPECT_EQ(engine().Aggregate(Query(AggregateKind::kCount))->count, 41);
  // Nothing was charged.
  EXPECT_EQ(Spent(), 0u);
}

TEST_F(PrivacyTest, BadInputWithoutAPolicy) {
  PutPeople(3);
  PutOptions o;
  o.metadata = {{"age", "NaN"}};
  ASSERT_TRUE(PutBytes(engine(), RandomBytes(5, 1), o).ok());
  AIFS_EXPECT_STATUS(engine().Aggregate(Query(AggregateKind::kSum, "age")).status(),
                     kInvalidArgument, "NOT_NUMERIC");
  AIFS_EXPECT_STATUS(engine().Aggregate(Query(AggregateKind::kSum, "height")).status(), kNotFound,
                     "FIELD_NOT_FOUND");
  AIFS_EXPECT_STATUS(engine().Aggregate(Query(AggregateKind::kHistogram, "age")).status(),
                     kInvalidArgument, "BOUNDS_MISSING");
  AIFS_EXPECT_STATUS(engine().Aggregate(Query(AggregateKind::kCount, "age")).status(),
                     kInvalidArgument, "BAD_AGGREGATE");
  AIFS_EXPECT_STATUS(engine().Aggregate(Query(AggregateKind::kMean)).status(), kInvalidArgument,
                     "BAD_AGGREGATE");
  AggregateQuery huge = Query(AggregateKind::kHistogram, "age");
  huge.lower = 0;
  huge.upper = 1;
  huge.bins = kMaxHistogramBins + 1;
  AIFS_EXPECT_STATUS(engine().Aggregate(huge).status(), kInvalidArgument, "TOO_MANY_BINS");
  huge.bins = 10;
  huge.upper = std::nan("");
  AIFS_EXPECT_STATUS(engine().Aggregate(huge).status(), kInvalidArgument, "BAD_BOUNDS");
  AggregateQuery qs = Query(AggregateKind::kQuantiles, "age");
  qs.lower = 0;
  qs.upper = 1;
  qs.quantiles = {std::nan("")};
  AIFS_EXPECT_STATUS(engine().Aggregate(qs).status(), kInvalidArgument, "BAD_QUANTILE");
  AggregateQuery nowhere = Query(AggregateKind::kCount);
  nowhere.ns = "nope";
  AIFS_EXPECT_STATUS(engine().Aggregate(nowhere).status(), kNotFound, "NAMESPACE_NOT_FOUND");
}

TEST_F(PrivacyTest, PolicyIsValidatedAndStored) {
  PrivacyPolicy p = AgePolicy("1");
  p.max_query_epsilon_micros = Eps("0.5");
  p.unit_key = "user";
  p.max_contributions = 3;
  SetPrivacy(p);
  EXPECT_EQ(MustNs().policy.privacy, p);
  Reopen();
  EXPECT_EQ(MustNs().policy.privacy, p);
  auto bad = [&](auto change) {
    NamespacePolicy np;
    np.privacy = p;
    change(np.privacy);
    return engine().SetNamespacePolicy("default", np).status();
  };
  AIFS_EXPECT_STATUS(bad([](PrivacyPolicy& x) { x.max_query_epsilon_micros = Eps("2"); }),
                     kInvalidArgument, "BAD_POLICY");
  AIFS_EXPECT_STATUS(bad([](PrivacyPolicy& x) { x.total_epsilon_micros = Eps("1000") + 1; }),
                     kInvalidArgument, "BAD_POLICY");
  AIFS_EXPECT_STATUS(bad([](PrivacyPolicy& x) { x.fields[0].lower = 100; }), kInvalidArgument,
                     "BAD_POLICY");
  AIFS_EXPECT_STATUS(bad([](PrivacyPolicy& x) { x.fields[1].field = "age"; }), kInvalidArgument,
                     "BAD_POLICY");
  AIFS_EXPECT_STATUS(bad([](PrivacyPolicy& x) { x.fields[0].decimals = 7; }), kInvalidArgument,
                     "BAD_POLICY");
  AIFS_EXPECT_STATUS(bad([](PrivacyPolicy& x) { x.max_contributions = 5000; }), kInvalidArgument,
                     "BAD_POLICY");
  AIFS_EXPECT_STATUS(bad([](PrivacyPolicy& x) {
                       x.max_contributions = 1000;
                       x.fields[0].upper = kMaxPrivacyBound;
                     }),
                     kInvalidArgument, "BAD_POLICY");
  EXPECT_EQ(MustNs().policy.privacy, p);  // unchanged by the refusals
}

TEST_F(PrivacyTest, RefusalsUnderAPolicyCostNothing) {
  PutPeople(10);
  PrivacyPolicy p = AgePolicy("1");
  p.max_query_epsilon_micros = Eps("0.5");
  SetPrivacy(p);
  AIFS_EXPECT_STATUS(engine().Aggregate(Query(AggregateKind::kCount)).status(), kInvalidArgument,
                     "BAD_EPSILON");
  AIFS_EXPECT_STATUS(engine().Aggregate(Query(AggregateKind::kSum, "height", "0.1")).status(),
                     kInvalidArgument, "FIELD_NOT_IN_POLICY");
  AIFS_EXPECT_STATUS(engine().Aggregate(Query(AggregateKind::kCount, "", "0.6")).status(),
                     kInvalidArgument, "EPSILON_TOO_LARGE");
  AggregateQuery huge = Query(AggregateKind::kHistogram, "age", "0.1");
  huge.bins = kMaxHistogramBins + 1;
  AIFS_EXPECT_STATUS(engine().Aggregate(huge).status(), kInvalidArgument, "TOO_MANY_BINS");
  AIFS_EXPECT_STATUS(engine().Aggregate(Query(AggregateKind::kMean, "age", "0.000001")).status(),
                     kInvalidArgument, "BAD_EPSILON");
  EXPECT_EQ(Spent(), 0u);
  // A value that is not a number is left out, not reported: an error would
  // tell about the data.
  PutOptions o;
  o.metadata = {{"age", "nan"}};
  ASSERT_TRUE(PutBytes(engine(), RandomBytes(5, 1), o).ok());
  auto sum = engine().Aggregate(Query(AggregateKind::kSum, "age", "0.1"));
  ASSERT_TRUE(sum.ok()) << sum.status().ToString();
  EXPECT_TRUE(sum->noisy);
  EXPECT_EQ(sum->mechanism, "discrete_laplace(scale=1000/1 units of 10^-0)");
  EXPECT_EQ(Spent(), Eps("0.1"));
}

TEST_F(PrivacyTest, ScriptedQueriesLeaveExactlyTheExpectedBudget) {
  PutPeople(20);
  SetPrivacy(AgePolicy("1"));
  const char* costs[] = {"0.1", "0.25", "0.3", "0.2"};
  const AggregateKind kinds[] = {AggregateKind::kCount, AggregateKind::kMean,
                                 AggregateKind::kHistogram, AggregateKind::kQuantiles};
  for (int i = 0; i < 4; ++i) {
    AggregateQuery q = Query(kinds[i], i == 0 ? "" : "age", costs[i]);
    q.who = "analyst";
    q.quantiles = {0.5};
    auto a = engine().Aggregate(q);
    ASSERT_TRUE(a.ok()) << a.status().ToString();
    EXPECT_TRUE(a->noisy);
    EXPECT_EQ(a->epsilon_micros, Eps(costs[i]));
    EXPECT_EQ(a->charge_seq, static_cast<uint64_t>(i + 1));
  }
  EXPECT_EQ(Spent(), Eps("0.85"));
  // 0.15 left: a query for 0.2 is refused and says so, and costs nothing.
  const Status refused = engine().Aggregate(Query(AggregateKind::kCount, "", "0.2")).status();
  AIFS_EXPECT_STATUS(refused, kResourceExhausted, "PRIVACY_BUDGET_EXHAUSTED");
  EXPECT_NE(refused.message().find("epsilon 0.15 left"), std::string::npos) << refused.message();
  auto last = engine().Aggregate(Query(AggregateKind::kCount, "", "0.15"));
  ASSERT_TRUE(last.ok()) << last.status().ToString();
  EXPECT_EQ(last->remaining_micros, 0u);
  AIFS_EXPECT_STATUS(engine().Aggregate(Query(AggregateKind::kCount, "", "0.000001")).status(),
                     kResourceExhausted, "PRIVACY_BUDGET_EXHAUSTED");

  // The ledger survives a restart, newest charge first.
  Reopen();
  auto view = engine().GetPrivacyLedger("default", 10);
  ASSERT_TRUE(view.ok()) << view.status().ToString();
  EXPECT_EQ(view->spent_micros, Eps("1"));
  EXPECT_EQ(view->remaining_micros, 0u);
  EXPECT_EQ(view->queries, 5u);
  ASSERT_EQ(view->charges.size(), 5u);
  EXPECT_EQ(view->charges[0].seq, 5u);
  EXPECT_EQ(view->charges[0].query, "count");
  EXPECT_EQ(view->charges[4].who, "analyst");
  EXPECT_EQ(view->charges[4].epsilon_micros, Eps("0.1"));
  EXPECT_EQ(view->charges[3].query.substr(0, 9), "mean(age)");
  EXPECT_EQ(engine().GetPrivacyLedger("default", 2)->charges.size(), 2u);
  // And in the event log.
  std::vector<Event> spent;
  AIFS_ASSERT_OK(
      engine().SubscribeEvents({.types = {EventType::kPrivacyBudgetSpent}}, [&](const Event& e) {
        spent.push_back(e);
        return Status::Ok();
      }));
  ASSERT_EQ(spent.size(), 5u);
  EXPECT_EQ(spent[0].who, "analyst");
  EXPECT_EQ(spent[0].ns, "default");
  EXPECT_EQ(spent[0].name, "count epsilon=0.1");
  // Raising the total is the admin's call; the spending so far stays.
  SetPrivacy(AgePolicy("1.5"));
  EXPECT_EQ(engine().Aggregate(Query(AggregateKind::kCount, "", "0.5"))->remaining_micros, 0u);
}

// Gaussian queries, refused where the policy has no delta or the delta is
// bad, and a mixed script of Laplace and Gaussian queries spending both
// budgets to exactly zero (basic composition of (epsilon, delta)); the
// ledger and the events say which mechanism and delta, across a restart.
TEST_F(PrivacyTest, GaussianQueriesNeedADeltaBudget) {
  PutPeople(10);
  SetPrivacy(AgePolicy("1"));
  AIFS_EXPECT_STATUS(
      engine().Aggregate(Gaussian(AggregateKind::kCount, "", "0.1", "1e-6")).status(),
      kInvalidArgument, "GAUSSIAN_NOT_ALLOWED");
  PrivacyPolicy p = AgePolicy("1");
  p.total_delta_picos = Delta("1e-5");
  p.max_query_delta_picos = Delta("5e-6");
  SetPrivacy(p);
  AggregateQuery q = Gaussian(AggregateKind::kCount, "", "0.1", "1e-6");
  q.delta_picos = 0;
  AIFS_EXPECT_STATUS(engine().Aggregate(q).status(), kInvalidArgument, "DELTA_REQUIRED");
  q.delta_picos = privacy::kPicosPerDelta;
  AIFS_EXPECT_STATUS(engine().Aggregate(q).status(), kInvalidArgument, "BAD_DELTA");
  AIFS_EXPECT_STATUS(
      engine().Aggregate(Gaussian(AggregateKind::kCount, "", "0.1", "6e-6")).status(),
      kInvalidArgument, "DELTA_TOO_LARGE");
  AggregateQuery laplace = Query(AggregateKind::kCount, "", "0.1");
  laplace.delta_picos = 1;
  AIFS_EXPECT_STATUS(engine().Aggregate(laplace).status(), kInvalidArgument, "BAD_DELTA");
  EXPECT_EQ(Spent(), 0u);
  EXPECT_EQ(engine().GetPrivacyLedger("default", 0)->spent_delta_picos, 0u);
  // The policy's delta limits.
  auto bad = [&](auto change) {
    NamespacePolicy np;
    np.privacy = p;
    change(np.privacy);
    return engine().SetNamespacePolicy("default", np).status();
  };
  AIFS_EXPECT_STATUS(bad([](PrivacyPolicy& x) { x.total_delta_picos = privacy::kPicosPerDelta; }),
                     kInvalidArgument, "BAD_POLICY");
  AIFS_EXPECT_STATUS(bad([](PrivacyPolicy& x) { x.max_query_delta_picos = Delta("2e-5"); }),
                     kInvalidArgument, "BAD_POLICY");
  AIFS_EXPECT_STATUS(bad([](PrivacyPolicy& x) { x.total_epsilon_micros = 0; }), kInvalidArgument,
                     "BAD_POLICY");
  EXPECT_EQ(MustNs().policy.privacy, p);
  Reopen();
  EXPECT_EQ(MustNs().policy.privacy, p);
}

TEST_F(PrivacyTest, ScriptedLaplaceAndGaussianQueriesLeaveExactlyTheExpectedBudget) {
  PutPeople(20);
  PrivacyPolicy p = AgePolicy("1");
  p.total_delta_picos = Delta("1e-5");
  SetPrivacy(p);
  struct Step {
    AggregateKind kind;
    const char* field;
    const char* eps;
    const char* delta;  // nullptr: Laplace
  };
  const Step script[] = {{AggregateKind::kCount, "", "0.1", nullptr},
                         {AggregateKind::kCount, "", "0.2", "2e-6"},
                         {AggregateKind::kMean, "age", "0.15", "3e-6"},
                         {AggregateKind::kHistogram, "age", "0.25", nullptr},
                         {AggregateKind::kHistogram, "age", "0.1", "1e-6"},
                         {AggregateKind::kQuantiles, "age", "0.1", "4e-6"}};
  uint64_t seq = 0;
  for (const Step& step : script) {
    AggregateQuery q = step.delta ? Gaussian(step.kind, step.field, step.eps, step.delta)
                                  : Query(step.kind, step.field, step.eps);
    q.quantiles = {0.5};
    auto a = engine().Aggregate(q);
    ASSERT_TRUE(a.ok()) << a.status().ToString();
    EXPECT_EQ(a->charge_seq, ++seq);
    EXPECT_EQ(a->epsilon_micros, Eps(step.eps));
    EXPECT_EQ(a->delta_picos, step.delta ? Delta(step.delta) : 0);
    EXPECT_TRUE(a->mechanism.starts_with(step.delta ? "discrete_gaussian(" : "discrete_laplace("))
        << a->mechanism;
  }
  auto view = engine().GetPrivacyLedger("default", 10);
  ASSERT_TRUE(view.ok());
  EXPECT_EQ(view->spent_micros, Eps("0.9"));
  EXPECT_EQ(view->spent_delta_picos, Delta("1e-5"));
  EXPECT_EQ(view->remaining_delta_picos, 0u);
  // No delta left: a Gaussian query, however small, is refused and says
  // what is left of both; a Laplace query still fits.
  const Status refused =
      engine().Aggregate(Gaussian(AggregateKind::kCount, "", "0.01", "1e-12")).status();
  AIFS_EXPECT_STATUS(refused, kResourceExhausted, "PRIVACY_BUDGET_EXHAUSTED");
  EXPECT_NE(refused.message().find("has epsilon 0.1, delta 0 left; the query asks epsilon 0.01, "
                                   "delta 1e-12"),
            std::string::npos)
      << refused.message();
  auto last = engine().Aggregate(Query(AggregateKind::kCount, "", "0.1"));
  ASSERT_TRUE(last.ok()) << last.status().ToString();
  EXPECT_EQ(last->remaining_micros, 0u);
  EXPECT_EQ(last->remaining_delta_picos, 0u);

  // Restart: the delta spent stays, and each charge keeps its delta and
  // mechanism.
  Reopen();
  view = engine().GetPrivacyLedger("default", 10);
  ASSERT_TRUE(view.ok());
  EXPECT_EQ(view->spent_micros, Eps("1"));
  EXPECT_EQ(view->spent_delta_picos, Delta("1e-5"));
  EXPECT_EQ(view->queries, 7u);
  ASSERT_EQ(view->charges.size(), 7u);
  EXPECT_EQ(view->charges[0].delta_picos, 0u);  // the last Laplace count
  EXPECT_EQ(view->charges[1].delta_picos, Delta("4e-6"));
  EXPECT_EQ(view->charges[1].mechanism.substr(0, 32), "discrete_gaussian(per bin sigma2");
  EXPECT_EQ(view->charges[5].delta_picos, Delta("2e-6"));
  EXPECT_EQ(view->charges[5].mechanism, "discrete_gaussian(sigma2=" +
                                            privacy::FormatSigma2(*privacy::GaussianSigma2(
                                                1, privacy::ZcdpRho(Eps("0.2"), Delta("2e-6")))) +
                                            ")");
  std::vector<Event> spent;
  AIFS_ASSERT_OK(
      engine().SubscribeEvents({.types = {EventType::kPrivacyBudgetSpent}}, [&](const Event& e) {
        spent.push_back(e);
        return Status::Ok();
      }));
  ASSERT_EQ(spent.size(), 7u);
  EXPECT_EQ(spent[0].name, "count epsilon=0.1");
  EXPECT_EQ(spent[1].name, "count epsilon=0.2 delta=2e-6");
}

// Answers under the policy are unbiased: the mean of many noisy answers is
// the exact one. The aggregation runs on a seeded source here.
TEST(PrivacyAggregation, NoisyAnswersAreUnbiasedAndBounded) {
  PrivacyPolicy p = AgePolicy("1000");
  p.unit_key = "user";
  p.max_contributions = 2;
  auto plan = [&](AggregateKind kind, const char* field) {
    AggregateQuery q = Query(kind, field, "0.5");
    q.bins = 5;
    auto a = Aggregation::Plan(q, p);
    EXPECT_TRUE(a.ok()) << a.status().ToString();
    return std::move(a).value();
  };
  Aggregation count = plan(AggregateKind::kCount, ""), sum = plan(AggregateKind::kSum, "score");
  Aggregation hist = plan(AggregateKind::kHistogram, "age");
  // 30 users with 4 assets each (only 2 count), score 1.25 each, plus one
  // far out of bounds (clamped to 5.00), plus assets without a user (left out).
  for (int u = 0; u < 30; ++u)
    for (int j = 0; j < 4; ++j) {
      AssetInfo a;
      a.metadata = {{"user", "u" + std::to_string(u)},
                    {"age", std::to_string(u)},
                    {"score", u == 0 && j == 0 ? "900" : "1.25"}};
      for (Aggregation* agg : {&count, &sum, &hist}) AIFS_ASSERT_OK(agg->Add(a));
    }
  AssetInfo nobody;
  nobody.metadata = {{"age", "1"}, {"score", "1"}};
  for (Aggregation* agg : {&count, &sum, &hist}) AIFS_ASSERT_OK(agg->Add(nobody));
  privacy::SeededRandomBits rng(42);
  constexpr int kRuns = 4000;
  double count_sum = 0, sum_sum = 0, sq = 0;
  std::vector<double> bins(5, 0);
  for (int i = 0; i < kRuns; ++i) {
    auto c = count.Finish(rng);
    ASSERT_TRUE(c.ok());
    count_sum += static_cast<double>(c->count);
    sq += (c->count - 60.0) * (c->count - 60.0);
    sum_sum += sum.Finish(rng)->value;
    auto h = hist.Finish(rng);
    for (int b = 0; b < 5; ++b) bins[b] += static_cast<double>(h->bins[b].count);
  }
  // count: 60, noise scale 2/0.5 = 4 (sensitivity 2): sd = sqrt(2q)/(1-q), q = e^-1/4.
  const double q = std::exp(-0.25), sd = std::sqrt(2 * q) / (1 - q);
  EXPECT_NEAR(count_sum / kRuns, 60, 5 * sd / std::sqrt(kRuns));
  EXPECT_NEAR(std::sqrt(sq / kRuns) / sd, 1, 0.05);
  EXPECT_EQ(count.Mechanism(), "discrete_laplace(scale=4/1)");
  // sum: 59 * 1.25 + 5.00 (clamped) = 78.75; scale 2 * 500 units / 0.5.
  const double qs = std::exp(-1.0 / 2000), sds = std::sqrt(2 * qs) / (1 - qs) / 100;
  EXPECT_NEAR(sum_sum / kRuns, 78.75, 5 * sds / std::sqrt(kRuns));
  // histogram of age over the policy's [0, 100] in 5 bins: users 0..19 in
  // the first (2 each), 20..29 in the second.
  EXPECT_NEAR(bins[0] / kRuns, 40, 5 * sd / std::sqrt(kRuns));
  EXPECT_NEAR(bins[1] / kRuns, 20, 5 * sd / std::sqrt(kRuns));
  EXPECT_NEAR(bins[4] / kRuns, 0, 5 * sd / std::sqrt(kRuns));
}

// Racing clients never overspend: every debit rewrites the namespace's
// account, so concurrent ones conflict and retry.
class PrivacyRaceTest : public PrivacyTest, public ::testing::WithParamInterface<std::string> {
 protected:
  InitOptions Options() override {
    InitOptions o = SmallInit();
    if (GetParam() == "postgresql") {
      o.meta_url = PgTestServer::Shared().NewStoreUrl();
      if (o.meta_url.empty()) skip_ = true;
    }
    return o;
  }
  void SetUp() override {
    InitOptions o = Options();
    if (skip_) GTEST_SKIP() << "no PostgreSQL server (scripts/pg-up.sh could not start one)";
    AIFS_ASSERT_OK(Engine::Init(dir_.path(), o));
    Reopen();
  }
  // 16 clients asking `q` 3 times each, at once.
  struct Outcomes {
    int answered = 0, refused = 0, other = 0;
  };
  Outcomes Race(const AggregateQuery& q) {
    std::atomic<int> answered{0}, refused{0}, other{0};
    std::vector<std::thread> clients;
    for (int c = 0; c < 16; ++c)
      clients.emplace_back([&] {
        for (int i = 0; i < 3; ++i) {
          auto a = engine().Aggregate(q);
          if (a.ok())
            ++answered;
          else if (a.status().reason() == "PRIVACY_BUDGET_EXHAUSTED")
            ++refused;
          else
            ++other;
        }
      });
    for (auto& t : clients) t.join();
    return {answered.load(), refused.load(), other.load()};
  }
  bool skip_ = false;
};

TEST_P(PrivacyRaceTest, SixteenClientsRacingForTheLastEpsilonNeverOverspend) {
  PutPeople(30);
  SetPrivacy(AgePolicy("1"));
  const Outcomes o = Race(Query(AggregateKind::kCount, "", "0.07"));
  EXPECT_EQ(o.other, 0);
  EXPECT_EQ(o.answered, 14);  // floor(1 / 0.07)
  EXPECT_EQ(o.refused, 48 - 14);
  auto view = engine().GetPrivacyLedger("default", 100);
  ASSERT_TRUE(view.ok());
  EXPECT_EQ(view->spent_micros, 14 * Eps("0.07"));
  EXPECT_EQ(view->queries, 14u);
  EXPECT_EQ(view->charges.size(), 14u);
}

TEST_P(PrivacyRaceTest, SixteenClientsRacingForTheLastDeltaNeverOverspend) {
  PutPeople(30);
  PrivacyPolicy p = AgePolicy("100");
  p.total_delta_picos = Delta("1e-5");
  SetPrivacy(p);
  const Outcomes o = Race(Gaussian(AggregateKind::kCount, "", "0.01", "7e-7"));
  EXPECT_EQ(o.other, 0);
  EXPECT_EQ(o.answered, 14);  // floor(1e-5 / 7e-7)
  EXPECT_EQ(o.refused, 48 - 14);
  auto view = engine().GetPrivacyLedger("default", 100);
  ASSERT_TRUE(view.ok());
  EXPECT_EQ(view->spent_delta_picos, 14 * Delta("7e-7"));
  EXPECT_EQ(view->remaining_delta_picos, Delta("2e-7"));
  EXPECT_EQ(view->spent_micros, 14 * Eps("0.01"));
  EXPECT_EQ(view->charges.size(), 14u);
}

INSTANTIATE_TEST_SUITE_P(Backends, PrivacyRaceTest, AIFS_META_BACKENDS, BackendName);

// A token's `dp_epsilon` caveat caps what it, and every token attenuated
// from it, may spend; the `query` operation is needed at all.
TEST_F(PrivacyTest, AttenuatedTokensCannotSpendBeyondTheirCaveat) {
  PutPeople(10);
  SetPrivacy(AgePolicy("2"));
  AIFS_ASSERT_OK(engine().RotateTokenRoot({}).status());
  auto admit = [&](const std::string& token) {
    auto api = engine().Admit(token);
    EXPECT_TRUE(api.ok()) << api.status().ToString();
    return std::move(api).value();
  };
  auto attenuate = [](const std::string& token, const std::string& caveat) {
    auto m = auth::Macaroon::Parse(token);
    EXPECT_TRUE(m.ok());
    return m->AddCaveat(caveat)->Serialize();
  };
  auto analyst = engine().MintToken({"ns = default", "ops = query"});
  ASSERT_TRUE(analyst.ok());
  const std::string capped = attenuate(*analyst, auth::DpEpsilonCaveat(Eps("0.3")));
  // Asking for more further down does not widen it.
  const std::string wider = attenuate(capped, "dp_epsilon <= 0.5");
  auto count = [](const char* eps) { return Query(AggregateKind::kCount, "", eps); };

  AIFS_ASSERT_OK(admit(capped)->Aggregate(count("0.2")).status());
  const Status over = admit(wider)->Aggregate(count("0.2")).status();
  AIFS_EXPECT_STATUS(over, kResourceExhausted, "PRIVACY_BUDGET_EXHAUSTED");
  EXPECT_NE(over.message().find("this token (dp_epsilon <= 0.3) has epsilon 0.1 left"),
            std::string::npos)
      << over.message();
  AIFS_ASSERT_OK(admit(wider)->Aggregate(count("0.1")).status());
  AIFS_EXPECT_STATUS(admit(capped)->Aggregate(count("0.000001")).status(), kResourceExhausted,
                     "PRIVACY_BUDGET_EXHAUSTED");
  // The uncapped token it came from still spends the namespace's budget.
  AIFS_ASSERT_OK(admit(*analyst)->Aggregate(count("0.5")).status());
  // A sibling with its own cap has its own account.
  const std::string sibling = attenuate(*analyst, "dp_epsilon <= 0.25");
  AIFS_ASSERT_OK(admit(sibling)->Aggregate(count("0.25")).status());
  EXPECT_EQ(Spent(), Eps("1.05"));
  // The ledger names the verified caller, not a claimed name.
  AggregateQuery claimed = count("0.01");
  claimed.who = "mallory";
  AIFS_ASSERT_OK(admit(*analyst)->Aggregate(claimed).status());
  auto view = engine().GetPrivacyLedger("default", 1);
  ASSERT_TRUE(view.ok());
  EXPECT_NE(view->charges[0].who.find("(claims mallory)"), std::string::npos)
      << view->charges[0].who;
  EXPECT_EQ(view->charges[0].who.find("mallory"), view->charges[0].who.find("(claims") + 8);

  // No query operation, no answer; the ledger needs query or admin.
  auto reader = engine().MintToken({"ops = get,list"});
  AIFS_EXPECT_STATUS(admit(*reader)->Aggregate(count("0.1")).status(), kPermissionDenied,
                     "OPERATION_NOT_ALLOWED");
  AIFS_EXPECT_STATUS(admit(*reader)->GetPrivacyLedger("default", 1).status(), kPermissionDenied,
                     "OPERATION_NOT_ALLOWED");
  AIFS_EXPECT_STATUS(admit(*analyst)
                         ->Aggregate([&] {
                           AggregateQuery q = count("0.1");
                           q.ns = "other";
                           return q;
                         }())
                         .status(),
                     kPermissionDenied, "WRONG_NAMESPACE");
  // A malformed budget caveat fails closed.
  for (const char* bad :
       {"dp_epsilon <= -1", "dp_epsilon <= 0.50", "dp_epsilon <= 1e-3", "dp_epsilon < 1"}) {
    auto api = engine().Admit(attenuate(*analyst, bad));
    if (api.ok()) {
      AIFS_EXPECT_STATUS((*api)->Aggregate(count("0.1")).status(), kPermissionDenied,
                         "UNKNOWN_CAVEAT");
    } else {
      AIFS_EXPECT_STATUS(api.status(), kPermissionDenied, "UNKNOWN_CAVEAT");
    }
  }
}

}  // namespace
}  // namespace aifs::test
