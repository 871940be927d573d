// Vector search: recall against exact search, filter semantics, deletes and
// re-puts, persistence across restarts, kills and damaged checkpoints, and
// the rejection cases.
#include <signal.h>
#include <sys/wait.h>
#include <unistd.h>

#include <atomic>
#include <map>
#include <random>
#include <thread>
#include <set>

#include "aifs/core/file_util.h"
#include "aifs/core/thread_pool.h"
#include "aifs/kinds/embed.h"
#include "aifs/server/rate_limiter.h"
#include "aifs/storage/sealed_file.h"
#include "aifs/vector/vector_index.h"
#include "test_util.h"

namespace aifs::test {
namespace {

// Clustered data: points scattered around a few random centres.
std::vector<std::vector<float>> Clustered(size_t n, uint32_t dim, uint64_t seed,
                                          size_t clusters = 20) {
  std::mt19937_64 rng(seed);
  std::normal_distribution<float> g(0, 1);
  std::vector<std::vector<float>> centres(clusters, std::vector<float>(dim));
  for (auto& c : centres)
    for (float& x : c) x = 4 * g(rng);
  std::vector<std::vector<float>> out(n, std::vector<float>(dim));
  for (size_t i = 0; i < n; ++i)
    for (uint32_t d = 0; d < dim; ++d) out[i][d] = centres[i % clusters][d] + g(rng);
  return out;
}

class VectorTest : public EngineFixture {
 protected:
  void SetUp() override { InitStore(); }

  // Puts n small assets, each with one vector and metadata i, bucket, tag.
  std::vector<AssetId> Fill(const std::vector<std::vector<float>>& vectors,
                            const std::string& space = "s") {
    std::vector<AssetId> ids;
    for (size_t i = 0; i < vectors.size(); ++i) {
      PutOptions o;
      o.metadata = {{"i", std::to_string(i)},
                    {"bucket", std::to_string(i % 100)},
                    {"tag", i % 2 ? "odd" : "even"}};
      o.embeddings = {{space, vectors[i]}};
      auto r = PutBytes(engine(), ToBytes("asset " + std::to_string(i)), o);
      EXPECT_TRUE(r.ok()) << r.status().ToString();
      ids.push_back(r.ok() ? r->asset.id : AssetId());
    }
    return ids;
  }

  // Exact top-k by brute force over `vectors` (those `keep` allows).
  static std::vector<size_t> Exact(const std::vector<std::vector<float>>& vectors,
                                   const std::vector<float>& q, size_t k, VectorMetric metric,
                                   const std::function<bool(size_t)>& keep = nullptr) {
    std::vector<std::pair<float, size_t>> scored;
    for (size_t i = 0; i < vectors.size(); ++i)
      if (!keep || keep(i)) scored.emplace_back(Similarity(metric, q, vectors[i]), i);
    std::partial_sort(scored.begin(), scored.begin() + std::min(k, scored.size()), scored.end(),
                      [](auto& a, auto& b) { return a.first > b.first; });
    std::vector<size_t> out;
    for (size_t i = 0; i < std::min(k, scored.size()); ++i) out.push_back(scored[i].second);
    return out;
  }

  // An Embed asset of `model` holding `vectors`.
  Result<PutResult> PutEmbed(const std::string& model, std::vector<std::vector<float>> vectors,
                             std::optional<AssetId> source, const std::string& ns = "default") {
    EmbedRecord rec;
    rec.model = model;
    rec.dim = static_cast<uint32_t>(vectors[0].size());
    rec.vectors = std::move(vectors);
    if (source) rec.source = source->bytes();
    Bytes buf;
    EXPECT_TRUE(EncodeEmbed(rec, buf).ok());
    PutOptions o;
    o.ns = ns;
    o.kind = AssetKind::kEmbed;
    return PutBytes(engine(), buf, o);
  }

  VectorResult MustSearch(VectorQuery q) {
    auto r = engine().VectorSearch(q);
    EXPECT_TRUE(r.ok()) << r.status().ToString();
    return r.ok() ? *r : VectorResult{};
  }
};

TEST_F(VectorTest, RecallAgainstExactSearchForEveryMetric) {
  for (VectorMetric metric : {VectorMetric::kCosine, VectorMetric::kL2, VectorMetric::kInnerProduct}) {
    const std::string name = std::string(MetricName(metric));
    ASSERT_TRUE(engine().CreateSpace("default", {name, 32, metric}).ok());
    const auto vectors = Clustered(3000, 32, static_cast<uint64_t>(metric) + 1);
    std::vector<AssetId> ids;
    for (size_t i = 0; i < vectors.size(); ++i) {
      PutOptions o;
      o.embeddings = {{name, vectors[i]}};
      auto r = PutBytes(engine(), ToBytes(name + std::to_string(i)), o);
      ASSERT_TRUE(r.ok()) << r.status().ToString();
      ids.push_back(r->asset.id);
    }
    const auto queries = Clustered(50, 32, 99);
    size_t found = 0;
    for (const auto& q : queries) {
      auto r = MustSearch({.space = name, .vector = q, .k = 10});
      ASSERT_EQ(r.hits.size(), 10u);
      for (size_t i = 1; i < r.hits.size(); ++i) EXPECT_GE(r.hits[i - 1].score, r.hits[i].score);
      std::set<AssetId> got;
      for (const auto& h : r.hits) got.insert(h.id);
      for (size_t i : Exact(vectors, q, 10, metric)) found += got.count(ids[i]);
      // The score is the documented similarity of the stored vector.
      const size_t top = std::find(ids.begin(), ids.end(), r.hits[0].id) - ids.begin();
      EXPECT_NEAR(r.hits[0].score, Similarity(metric, q, vectors[top]),
                  1e-3f * std::max(1.0f, std::abs(r.hits[0].score)));
    }
    const double recall = double(found) / (10.0 * queries.size());
    EXPECT_GE(recall, 0.95) << name;
  }
}

TEST_F(VectorTest, FiltersAreExactEvenWhenSelective) {
  ASSERT_TRUE(engine().CreateSpace("default", {"s", 16, VectorMetric::kL2}).ok());
  const auto vectors = Clustered(4000, 16, 5);
  auto ids = Fill(vectors);
  const auto queries = Clustered(20, 16, 6);
  struct Case {
    MetaFilter filter;
    std::function<bool(size_t)> oracle;
  };
  const std::vector<Case> cases = {
      {{"bucket", MetaFilter::Op::kEquals, "7"}, [](size_t i) { return i % 100 == 7; }},  // 1%
      {{"bucket", MetaFilter::Op::kIn, "", {"3", "50"}},
       [](size_t i) { return i % 100 == 3 || i % 100 == 50; }},
      {{"i", MetaFilter::Op::kRange, "", {}, 100, 139}, [](size_t i) { return i >= 100 && i <= 139; }},
      {{"tag", MetaFilter::Op::kPrefix, "od"}, [](size_t i) { return i % 2 == 1; }},
      {{"i", MetaFilter::Op::kRange, "", {}, std::nullopt, 5}, [](size_t i) { return i <= 5; }},
  };
  for (const auto& c : cases) {
    size_t found = 0, wanted = 0;
    for (const auto& q : queries) {
      auto r = MustSearch({.space = "s", .vector = q, .k = 10, .filters = {c.filter}});
      const auto exact = Exact(vectors, q, 10, VectorMetric::kL2, c.oracle);
      ASSERT_EQ(r.hits.size(), exact.size()) << r.plan;
      std::set<AssetId> got;
      for (const auto& h : r.hits) {
        const size_t i = std::find(ids.begin(), ids.end(), h.id) - ids.begin();
        ASSERT_LT(i, ids.size());
        EXPECT_TRUE(c.oracle(i)) << "a hit that fails the filter, plan " << r.plan;
        got.insert(h.id);
      }
      for (size_t i : exact) found += got.count(ids[i]);
      wanted += exact.size();
    }
    EXPECT_GE(double(found) / wanted, 0.95) << c.filter.key;
  }
  // A filter nothing passes: no results, not an error.
  auto none = MustSearch({.space = "s", .vector = queries[0], .k = 5,
                          .filters = {{"bucket", MetaFilter::Op::kEquals, "none"}}});
  EXPECT_TRUE(none.hits.empty());
  // Deleted and put again with other metadata: the old value's postings
  // must not bring it back, the new value's find it.
  AIFS_ASSERT_OK(engine().DeleteAsset("default", ids[7]));
  PutOptions moved;
  moved.metadata = {{"bucket", "8"}};
  moved.embeddings = {{"s", vectors[7]}};
  ASSERT_TRUE(PutBytes(engine(), ToBytes("asset 7"), moved).ok());
  auto old_bucket = MustSearch({.space = "s", .vector = vectors[7], .k = 40,
                                .filters = {{"bucket", MetaFilter::Op::kEquals, "7"}}});
  EXPECT_EQ(old_bucket.hits.size(), 39u) << old_bucket.plan;
  for (const auto& h : old_bucket.hits) EXPECT_NE(h.id, ids[7]);
  auto new_bucket = MustSearch({.space = "s", .vector = vectors[7], .k = 1,
                                .filters = {{"bucket", MetaFilter::Op::kIn, "", {"8", "8"}}}});
  ASSERT_EQ(new_bucket.hits.size(), 1u);
  EXPECT_EQ(new_bucket.hits[0].id, ids[7]);
  EXPECT_NE(new_bucket.plan.find("exact over"), std::string::npos) << new_bucket.plan;
}

// Assets that leave a metadata value and come back leave stale and repeated
// entries in its postings (until compaction): the exact plan must still
// return each current member once, no former one, and count them right.
TEST_F(VectorTest, FilteredPlanStaysExactThroughMetadataChurn) {
  ASSERT_TRUE(engine().CreateSpace("default", {"s", 8, VectorMetric::kL2}).ok());
  const auto vectors = Clustered(1000, 8, 11);
  const auto ids = Fill(vectors);
  std::vector<std::string> bucket(vectors.size());
  for (size_t i = 0; i < vectors.size(); ++i) bucket[i] = std::to_string(i % 100);
  std::mt19937_64 rng(3);
  for (int round = 0; round < 12; ++round) {
    // A few of buckets 5 and 6 swap sides (some back and forth).
    for (size_t i = 5; i < vectors.size(); i += 100) {
      if (rng() % 2) continue;
      for (size_t j : {i, i + 1}) {
        bucket[j] = bucket[j] == "5" ? "6" : "5";
        // Assets are immutable: new metadata means delete and put again.
        AIFS_ASSERT_OK(engine().DeleteAsset("default", ids[j]));
        PutOptions o;
        o.metadata = {{"i", std::to_string(j)}, {"bucket", bucket[j]}, {"tag", j % 2 ? "odd" : "even"}};
        o.embeddings = {{"s", vectors[j]}};
        ASSERT_TRUE(PutBytes(engine(), ToBytes("asset " + std::to_string(j)), o).ok());
      }
    }
    for (const bool odd_only : {false, true}) {
      std::vector<MetaFilter> filters = {{"bucket", MetaFilter::Op::kIn, "", {"5", "5"}}};
      if (odd_only) filters.push_back({"tag", MetaFilter::Op::kEquals, "odd"});
      std::set<AssetId> want;
      for (size_t i = 0; i < vectors.size(); ++i)
        if (bucket[i] == "5" && (!odd_only || i % 2)) want.insert(ids[i]);
      auto r = MustSearch({.space = "s", .vector = vectors[5], .k = 100, .filters = filters});
      std::multiset<AssetId> got;
      for (const auto& h : r.hits) got.insert(h.id);
      EXPECT_EQ(std::set<AssetId>(got.begin(), got.end()), want) << "round " << round << ", " << r.plan;
      EXPECT_EQ(got.size(), want.size()) << "a hit twice, round " << round;
      if (!odd_only) {
        EXPECT_EQ(r.plan, "exact over " + std::to_string(want.size()) + " vectors with bucket");
      }
    }
  }
}

TEST_F(VectorTest, DeletesAndReputsLeaveNoGhostsOrDuplicates) {
  ASSERT_TRUE(engine().CreateSpace("default", {"s", 8, VectorMetric::kCosine}).ok());
  const auto vectors = Clustered(200, 8, 7);
  auto ids = Fill(vectors);
  const auto& q = vectors[10];
  auto before = MustSearch({.space = "s", .vector = q, .k = 5});
  ASSERT_EQ(before.hits[0].id, ids[10]);
  AIFS_ASSERT_OK(engine().DeleteAsset("default", ids[10]));
  auto after = MustSearch({.space = "s", .vector = q, .k = 200});
  EXPECT_EQ(after.hits.size(), 199u);
  for (const auto& h : after.hits) EXPECT_NE(h.id, ids[10]);
  // Back again, with a different vector: found by the new one, once.
  PutOptions o;
  o.embeddings = {{"s", vectors[20]}};
  ASSERT_TRUE(PutBytes(engine(), ToBytes("asset 10"), o).ok());
  auto back = MustSearch({.space = "s", .vector = vectors[20], .k = 200});
  std::set<AssetId> seen;
  for (const auto& h : back.hits) EXPECT_TRUE(seen.insert(h.id).second) << "duplicate hit";
  EXPECT_EQ(back.hits.size(), 200u);
  EXPECT_TRUE(seen.count(ids[10]));
  // "like" excludes the asset itself.
  auto like = MustSearch({.space = "s", .like = ids[20], .k = 3});
  for (const auto& h : like.hits) EXPECT_NE(h.id, ids[20]);
  EXPECT_EQ(like.hits[0].id, ids[10]);  // same vector
  EXPECT_NEAR(like.hits[0].score, 1.0f, 1e-5f);
}

TEST_F(VectorTest, RestartRestoresExactlyTheCommittedVectors) {
  ASSERT_TRUE(engine().CreateSpace("default", {"s", 16, VectorMetric::kL2}).ok());
  const auto vectors = Clustered(500, 16, 8);
  auto ids = Fill(vectors);
  AIFS_ASSERT_OK(engine().DeleteAsset("default", ids[0]));
  auto want = MustSearch({.space = "s", .vector = vectors[1], .k = 20});
  Reopen();  // clean close: checkpoint written
  auto spaces = engine().ListSpaces("default");
  ASSERT_TRUE(spaces.ok());
  ASSERT_EQ(spaces->size(), 1u);
  EXPECT_EQ((*spaces)[0].vectors, 499u);
  auto got = MustSearch({.space = "s", .vector = vectors[1], .k = 20});
  ASSERT_EQ(got.hits.size(), want.hits.size());
  for (size_t i = 0; i < got.hits.size(); ++i) EXPECT_EQ(got.hits[i].id, want.hits[i].id);

  // Format re-formats the index on request: rebuilt from the stored vectors.
  std::vector<std::string> steps;
  auto f = engine().Format({.rebuild_index = true},
                           [&](const FormatStep& s) { steps.push_back(s.name + ":" + s.state); });
  ASSERT_TRUE(f.ok()) << f.status().ToString();
  EXPECT_TRUE(std::count(steps.begin(), steps.end(), "vector index:rebuilt")) << steps.size();
  auto reformatted = MustSearch({.space = "s", .vector = vectors[1], .k = 20});
  ASSERT_EQ(reformatted.hits.size(), want.hits.size());
  EXPECT_EQ(reformatted.hits[0].id, want.hits[0].id);
  EXPECT_EQ((*engine().ListSpaces("default"))[0].vectors, 499u);

  // A damaged checkpoint is rebuilt from the committed records.
  WriteFileBytes(dir_.Sub("index/default/s/graph.hnsw"), ToBytes("garbage"));
  Reopen();
  EXPECT_EQ((*engine().ListSpaces("default"))[0].vectors, 499u);
  auto rebuilt = MustSearch({.space = "s", .vector = vectors[1], .k = 20});
  EXPECT_EQ(rebuilt.hits[0].id, want.hits[0].id);
}

// A process killed without any chance to checkpoint: the restart loads the
// older checkpoint and replays the log, so every committed vector is there
// and nothing else.
TEST_F(VectorTest, SigkillLosesNoCommittedVector) {
  ASSERT_TRUE(engine().CreateSpace("default", {"s", 8, VectorMetric::kCosine}).ok());
  const auto vectors = Clustered(300, 8, 9);
  auto first = Fill(std::vector<std::vector<float>>(vectors.begin(), vectors.begin() + 100));
  Reopen();  // checkpoint with 100
  engine_.reset();
  const pid_t child = ::fork();
  ASSERT_GE(child, 0);
  if (child == 0) {
    auto e = Engine::Open({.data_dir = dir_.path()});
    if (!e.ok()) ::_exit(2);
    for (size_t i = 100; i < 300; ++i) {
      PutOptions o;
      o.metadata = {{"i", std::to_string(i)}};
      o.embeddings = {{"s", vectors[i]}};
      if (!PutBytes(**e, ToBytes("asset " + std::to_string(i)), o).ok()) ::_exit(3);
    }
    if (!(*e)->DeleteAsset("default", first[5]).ok()) ::_exit(4);
    ::raise(SIGKILL);
  }
  int status = 0;
  ::waitpid(child, &status, 0);
  ASSERT_TRUE(WIFSIGNALED(status) && WTERMSIG(status) == SIGKILL) << status;
  Reopen();
  EXPECT_EQ((*engine().ListSpaces("default"))[0].vectors, 299u);
  auto r = MustSearch({.space = "s", .vector = vectors[250], .k = 1});
  ASSERT_EQ(r.hits.size(), 1u);
  EXPECT_EQ(r.hits[0].id, IdOf(ToBytes("asset 250")));
  auto all = MustSearch({.space = "s", .vector = vectors[5], .k = 300});
  EXPECT_EQ(all.hits.size(), 299u);
  for (const auto& h : all.hits) EXPECT_NE(h.id, first[5]);
}

TEST_F(VectorTest, BadSpacesVectorsAndQueriesAreRefused) {
  AIFS_EXPECT_STATUS(engine().CreateSpace("default", {"s", 0, VectorMetric::kL2}).status(),
                     kInvalidArgument, "BAD_DIMENSION");
  AIFS_EXPECT_STATUS(engine().CreateSpace("default", {"a/b", 4, VectorMetric::kL2}).status(),
                     kInvalidArgument, "BAD_SPACE_NAME");
  AIFS_EXPECT_STATUS(engine().CreateSpace("nope", {"s", 4, VectorMetric::kL2}).status(),
                     kNotFound, "NAMESPACE_NOT_FOUND");
  ASSERT_TRUE(engine().CreateSpace("default", {"s", 4, VectorMetric::kCosine}).ok());
  AIFS_EXPECT_STATUS(engine().CreateSpace("default", {"s", 4, VectorMetric::kL2}).status(),
                     kAlreadyExists, "SPACE_EXISTS");
  auto put = [&](std::vector<Embedding> e) {
    PutOptions o;
    o.embeddings = std::move(e);
    return PutBytes(engine(), ToBytes("x"), o).status();
  };
  const float nan = std::numeric_limits<float>::quiet_NaN();
  const float inf = std::numeric_limits<float>::infinity();
  AIFS_EXPECT_STATUS(put({{"s", {1, 2, 3}}}), kInvalidArgument, "DIMENSION_MISMATCH");
  AIFS_EXPECT_STATUS(put({{"s", {1, nan, 0, 0}}}), kInvalidArgument, "BAD_VECTOR");
  AIFS_EXPECT_STATUS(put({{"s", {1, inf, 0, 0}}}), kInvalidArgument, "BAD_VECTOR");
  AIFS_EXPECT_STATUS(put({{"s", {1e30f, 0, 0, 0}}}), kInvalidArgument, "BAD_VECTOR");
  AIFS_EXPECT_STATUS(put({{"s", {0, 0, 0, 0}}}), kInvalidArgument, "BAD_VECTOR");
  AIFS_EXPECT_STATUS(put({{"t", {1, 0, 0, 0}}}), kNotFound, "SPACE_NOT_FOUND");
  AIFS_EXPECT_STATUS(put({{"s", {1, 0, 0, 0}}, {"s", {0, 1, 0, 0}}}), kInvalidArgument,
                     "DUPLICATE_SPACE");
  EXPECT_EQ(MustNs().asset_count, 0u);  // nothing refused became visible

  AIFS_ASSERT_OK(put({{"s", {1, 0, 0, 0}}}));
  AIFS_EXPECT_STATUS(engine().VectorSearch({.space = "s", .vector = {1, 0, 0}}).status(),
                     kInvalidArgument, "DIMENSION_MISMATCH");
  AIFS_EXPECT_STATUS(engine().VectorSearch({.space = "s", .vector = {1, 0, 0, 0}, .k = 0}).status(),
                     kInvalidArgument, "BAD_K");
  AIFS_EXPECT_STATUS(engine().VectorSearch({.space = "t", .vector = {1, 0, 0, 0}}).status(),
                     kNotFound, "SPACE_NOT_FOUND");
  AIFS_EXPECT_STATUS(engine().VectorSearch({.space = "s"}).status(), kInvalidArgument,
                     "BAD_QUERY");
  AIFS_EXPECT_STATUS(engine().VectorSearch({.ns = "nope", .space = "s", .vector = {1, 0, 0, 0}})
                         .status(),
                     kNotFound, "NAMESPACE_NOT_FOUND");
  AIFS_EXPECT_STATUS(engine().ListSpaces("nope").status(), kNotFound, "NAMESPACE_NOT_FOUND");
  AIFS_EXPECT_STATUS(
      engine().VectorSearch({.space = "s", .like = IdOf(ToBytes("nothing"))}).status(), kNotFound,
      "VECTOR_NOT_FOUND");
}

// Search trusts the spaces it holds in memory instead of reading the
// namespace record: a deleted namespace must take its spaces with it.
TEST_F(VectorTest, DeletedNamespaceTakesItsSpacesAlong) {
  ASSERT_TRUE(engine().CreateNamespace("scratch", {}).ok());
  ASSERT_TRUE(engine().CreateSpace("scratch", {"s", 2, VectorMetric::kL2}).ok());
  const VectorQuery q{.ns = "scratch", .space = "s", .vector = {1, 0}};
  ASSERT_TRUE(engine().VectorSearch(q).ok());
  AIFS_ASSERT_OK(engine().DeleteNamespace("scratch"));
  AIFS_EXPECT_STATUS(engine().VectorSearch(q).status(), kNotFound, "NAMESPACE_NOT_FOUND");
  ASSERT_TRUE(engine().CreateNamespace("scratch", {}).ok());
  AIFS_EXPECT_STATUS(engine().VectorSearch(q).status(), kNotFound, "SPACE_NOT_FOUND");
}

TEST_F(VectorTest, InnerProductOverGrowingNormsRebuildsAndStaysExact) {
  // Vectors whose norms grow 5x over the inserts: each larger norm makes the
  // index rebuild its MIPS-to-L2 reduction (about 7 times here). Scores must
  // stay exact and recall hold across a restart (the bound is checkpointed).
  // A wide norm spread puts the answers among a few sparse vectors, which the
  // reduced graph walks less well: measured 0.79 at ef 64, 0.955 at 200,
  // 0.97 at 400 (docs/vector-search.md).
  ASSERT_TRUE(engine().CreateSpace("default", {"ip", 24, VectorMetric::kInnerProduct}).ok());
  auto vectors = Clustered(2000, 24, 31);
  for (size_t i = 0; i < vectors.size(); ++i)
    for (float& x : vectors[i]) x *= 0.04f * float(5 + i / 100);  // norms grow ~5x
  auto ids = Fill(vectors, "ip");
  const auto queries = Clustered(40, 24, 32);
  auto recall = [&] {
    size_t found = 0;
    for (const auto& q : queries) {
      auto r = MustSearch({.space = "ip", .vector = q, .k = 10, .ef = 400});
      std::set<AssetId> got;
      for (const auto& h : r.hits) got.insert(h.id);
      for (size_t i : Exact(vectors, q, 10, VectorMetric::kInnerProduct)) found += got.count(ids[i]);
      const size_t top = std::find(ids.begin(), ids.end(), r.hits[0].id) - ids.begin();
      EXPECT_NEAR(r.hits[0].score, Similarity(VectorMetric::kInnerProduct, q, vectors[top]),
                  1e-3f * std::max(1.0f, std::abs(r.hits[0].score)));
    }
    return double(found) / (10.0 * queries.size());
  };
  EXPECT_GE(recall(), 0.95);
  Reopen();
  EXPECT_GE(recall(), 0.95);
}

TEST_F(VectorTest, AsOfSearchSeesOnlyTheSnapshotsAssets) {
  ASSERT_TRUE(engine().CreateSpace("default", {"s", 8, VectorMetric::kL2}).ok());
  const auto vectors = Clustered(300, 8, 41);
  std::vector<std::vector<float>> first(vectors.begin(), vectors.begin() + 200);
  auto ids = Fill(first);
  auto snap = engine().CreateSnapshot("default", nullptr);
  ASSERT_TRUE(snap.ok()) << snap.status().ToString();
  ASSERT_TRUE(engine().CreateBranch("default", "train", snap->id.ToHex(), "test").ok());
  // Later: 100 more assets (the nearest to every query among them), and 20
  // of the snapshot's assets deleted.
  for (size_t i = 200; i < 300; ++i) {
    PutOptions o;
    o.embeddings = {{"s", vectors[i]}};
    auto r = PutBytes(engine(), ToBytes("later " + std::to_string(i)), o);
    ASSERT_TRUE(r.ok());
    ids.push_back(r->asset.id);
  }
  std::set<AssetId> deleted;
  for (size_t i = 0; i < 200; i += 10) {
    AIFS_ASSERT_OK(engine().DeleteAsset("default", ids[i]));
    deleted.insert(ids[i]);
  }
  // The snapshot keeps its removed assets searchable (issue 17).
  auto eligible = [&](size_t i) { return i < 200; };
  for (const std::string& ref : {snap->id.ToHex(), std::string("train")}) {
    for (size_t qi = 200; qi < 300; qi += 25) {
      auto r = MustSearch({.space = "s", .vector = vectors[qi], .k = 10, .as_of = ref});
      const auto exact = Exact(vectors, vectors[qi], 10, VectorMetric::kL2, eligible);
      ASSERT_EQ(r.hits.size(), exact.size()) << r.plan;
      size_t found = 0;
      for (const auto& h : r.hits) {
        const size_t i = std::find(ids.begin(), ids.end(), h.id) - ids.begin();
        ASSERT_LT(i, ids.size());
        EXPECT_TRUE(eligible(i)) << "hit " << i << " is not in the snapshot";
        found += std::count(exact.begin(), exact.end(), i);
      }
      EXPECT_GE(found, 9u) << ref;
    }
  }
  // Without as_of the later assets win.
  auto now = MustSearch({.space = "s", .vector = vectors[250], .k = 1});
  EXPECT_EQ(now.hits[0].id, ids[250]);
  AIFS_EXPECT_STATUS(
      engine().VectorSearch({.space = "s", .vector = vectors[0], .as_of = "no-such-branch"}).status(),
      kNotFound, "REF_NOT_FOUND");
}

TEST_F(VectorTest, QuarantineHoldsNewVectorsUntilReviewed) {
  ASSERT_TRUE(engine().CreateSpace("default", {"s", 4, VectorMetric::kCosine}).ok());
  NamespacePolicy p;
  p.quarantine_embeddings = true;
  ASSERT_TRUE(engine().SetNamespacePolicy("default", p).ok());
  auto put = [&](const std::string& content, std::vector<float> v) {
    PutOptions o;
    o.embeddings = {{"s", std::move(v)}};
    auto r = PutBytes(engine(), ToBytes(content), o);
    EXPECT_TRUE(r.ok()) << r.status().ToString();
    return r.ok() ? r->asset.id : AssetId();
  };
  const AssetId a = put("a", {1, 0, 0, 0}), b = put("b", {0, 1, 0, 0}), c = put("c", {0, 0, 1, 0});
  auto hits = [&](std::vector<float> q) { return MustSearch({.space = "s", .vector = q, .k = 5}).hits; };
  EXPECT_TRUE(hits({1, 0, 0, 0}).empty()) << "quarantined vectors are searchable";
  auto spaces = engine().ListSpaces("default");
  ASSERT_TRUE(spaces.ok());
  EXPECT_EQ((*spaces)[0].pending, 3u);
  EXPECT_EQ((*spaces)[0].vectors, 0u);
  auto pending = engine().ListPendingEmbeddings("default", "", 0);
  ASSERT_TRUE(pending.ok());
  EXPECT_EQ(pending->size(), 3u);

  auto approved = engine().ReviewEmbeddings({.ns = "default", .ids = {a}, .approve = true});
  ASSERT_TRUE(approved.ok());
  EXPECT_EQ(*approved, 1u);
  auto found = hits({1, 0, 0, 0});
  ASSERT_EQ(found.size(), 1u);
  EXPECT_EQ(found[0].id, a);
  AIFS_ASSERT_OK(engine().ReviewEmbeddings({.ns = "default", .ids = {b}, .approve = false}).status());
  AIFS_EXPECT_STATUS(engine().ReviewEmbeddings({.ns = "default", .ids = {b}}).status(), kNotFound,
                     "NOT_PENDING");
  // Deleting an asset drops its held vector too.
  AIFS_ASSERT_OK(engine().DeleteAsset("default", c));
  pending = engine().ListPendingEmbeddings("default", "s", 0);
  ASSERT_TRUE(pending.ok());
  EXPECT_TRUE(pending->empty());
  // Rejected stays out; a re-put under the policy is held again.
  EXPECT_EQ(hits({0, 1, 0, 0}).size(), 1u);  // only a
  put("b", {0, 1, 0, 0});
  EXPECT_EQ(engine().ListPendingEmbeddings("default", "", 0)->size(), 1u);
  auto all = engine().ReviewEmbeddings({.ns = "default"});
  ASSERT_TRUE(all.ok());
  EXPECT_EQ(*all, 1u);
  EXPECT_EQ(hits({0, 1, 0, 0})[0].id, b);
  // Policy off: new vectors are searchable at once.
  p.quarantine_embeddings = false;
  ASSERT_TRUE(engine().SetNamespacePolicy("default", p).ok());
  const AssetId d = put("d", {0, 0, 0, 1});
  EXPECT_EQ(hits({0, 0, 0, 1})[0].id, d);
}

TEST_F(VectorTest, EmbedAssetsAreIndexedPointingAtTheirSource) {
  ASSERT_TRUE(engine().CreateSpace("default", {"clip", 4, VectorMetric::kCosine}).ok());
  auto source = PutBytes(engine(), ToBytes("a picture"));
  ASSERT_TRUE(source.ok());
  auto embed = PutEmbed("clip", {{1, 2, 3, 4}}, source->asset.id);
  ASSERT_TRUE(embed.ok()) << embed.status().ToString();
  auto r = MustSearch({.space = "clip", .vector = {1, 2, 3, 4}, .k = 3});
  ASSERT_EQ(r.hits.size(), 1u);
  EXPECT_EQ(r.hits[0].id, embed->asset.id);
  ASSERT_TRUE(r.hits[0].source.has_value());
  EXPECT_EQ(*r.hits[0].source, source->asset.id);
  EXPECT_NEAR(r.hits[0].score, 1.0f, 1e-5f);
  // A model without a space is stored, not indexed; a space of another
  // dimension refuses the asset (nothing becomes visible).
  ASSERT_TRUE(PutEmbed("other-model", {{1, 0}}, std::nullopt).ok());
  const uint64_t assets = MustNs().asset_count;
  AIFS_EXPECT_STATUS(PutEmbed("clip", {{1, 0, 0}}, std::nullopt).status(), kInvalidArgument,
                     "DIMENSION_MISMATCH");
  EXPECT_EQ(MustNs().asset_count, assets);
  // The source survives a restart (the index checkpoint keeps it).
  Reopen();
  r = MustSearch({.space = "clip", .vector = {1, 2, 3, 4}, .k = 3});
  ASSERT_EQ(r.hits.size(), 1u);
  EXPECT_EQ(r.hits[0].source, source->asset.id);
  // Deleting the Embed asset removes its vector.
  AIFS_ASSERT_OK(engine().DeleteAsset("default", embed->asset.id));
  EXPECT_TRUE(MustSearch({.space = "clip", .vector = {1, 2, 3, 4}}).hits.empty());
}

// A space created after its model's Embed assets were put picks them up: the
// single-vector ones of its dimension, not batches, other models, other
// dimensions or deleted assets; a quarantining namespace holds them.
TEST_F(VectorTest, EmbedAssetsPutBeforeTheirSpaceAreIndexedWhenItIsCreated) {
  auto source = PutBytes(engine(), ToBytes("a picture"));
  ASSERT_TRUE(source.ok());
  auto early = PutEmbed("clip", {{1, 2, 3, 4}}, source->asset.id);
  ASSERT_TRUE(early.ok()) << early.status().ToString();
  ASSERT_TRUE(PutEmbed("clip", {{1, 2, 3, 4}, {4, 3, 2, 1}}, std::nullopt).ok());  // a batch
  ASSERT_TRUE(PutEmbed("other-model", {{1, 2, 3, 4}}, std::nullopt).ok());
  ASSERT_TRUE(PutEmbed("clip", {{1, 2, 3}}, std::nullopt).ok());  // another dimension
  auto gone = PutEmbed("clip", {{1, 2, 3, 5}}, std::nullopt);
  ASSERT_TRUE(gone.ok());
  AIFS_ASSERT_OK(engine().DeleteAsset("default", gone->asset.id));

  auto created = engine().CreateSpace("default", {"clip", 4, VectorMetric::kCosine});
  ASSERT_TRUE(created.ok()) << created.status().ToString();
  EXPECT_EQ(created->vectors, 1u);
  EXPECT_EQ(created->pending, 0u);
  auto found = [&] { return MustSearch({.space = "clip", .vector = {1, 2, 3, 4}, .k = 10}).hits; };
  auto hits = found();
  ASSERT_EQ(hits.size(), 1u);
  EXPECT_EQ(hits[0].id, early->asset.id);
  EXPECT_EQ(hits[0].source, source->asset.id);
  // Put again now, the same asset is not indexed twice.
  ASSERT_TRUE(PutEmbed("clip", {{1, 2, 3, 4}}, source->asset.id).ok());
  EXPECT_EQ(found().size(), 1u);
  Reopen();
  hits = found();
  ASSERT_EQ(hits.size(), 1u);
  EXPECT_EQ(hits[0].id, early->asset.id);

  // Under quarantine the adopted vector waits for review like a put's.
  ASSERT_TRUE(engine().CreateNamespace("held", {}).ok());
  NamespacePolicy p;
  p.quarantine_embeddings = true;
  ASSERT_TRUE(engine().SetNamespacePolicy("held", p).ok());
  auto held = PutEmbed("clip", {{4, 3, 2, 1}}, std::nullopt, "held");
  ASSERT_TRUE(held.ok()) << held.status().ToString();
  created = engine().CreateSpace("held", {"clip", 4, VectorMetric::kCosine});
  ASSERT_TRUE(created.ok()) << created.status().ToString();
  EXPECT_EQ(created->vectors, 0u);
  EXPECT_EQ(created->pending, 1u);
  auto approved = engine().ReviewEmbeddings({.ns = "held", .space = "clip", .ids = {held->asset.id}, .approve = true});
  ASSERT_TRUE(approved.ok()) << approved.status().ToString();
  hits = MustSearch({.ns = "held", .space = "clip", .vector = {4, 3, 2, 1}, .k = 10}).hits;
  ASSERT_EQ(hits.size(), 1u);
  EXPECT_EQ(hits[0].id, held->asset.id);
}

// A checkpoint whose labels say live where the graph says deleted, or the
// reverse, is refused (the engine then rebuilds from the stored vectors):
// loaded, it would bring back a removed vector or throw on the next removal.
TEST(VectorIndexTest, LoadRefusesLabelsThatDisagreeWithTheGraph) {
  TempDir dir;
  auto index = VectorIndex::Create(4, VectorMetric::kL2);
  std::vector<AssetId> ids;
  for (uint8_t i = 0; i < 3; ++i) {
    std::array<uint8_t, AssetId::kSize> b{};
    b[0] = i + 1;
    ids.push_back(*AssetId::FromBytes(b));
    AIFS_ASSERT_OK(index->Upsert(ids.back(), std::vector<float>{float(i), 0, 0, 0}, {}));
  }
  index->Remove(ids[1]);
  const std::string saved = dir.Sub("index");
  RecordKey key;
  key.tag.fill(7);
  key.key.fill(9);
  const Bytes context = {'t', 0, 'x'};
  AIFS_ASSERT_OK(index->Save(saved, key, context));
  auto loaded = VectorIndex::Load(saved, 4, VectorMetric::kL2, key, context);
  ASSERT_TRUE(loaded.ok()) << loaded.status().ToString();
  EXPECT_EQ((*loaded)->size(), 2u);
  auto found = (*loaded)->Exact(std::vector<float>{0.9f, 0, 0, 0}, 3, nullptr);
  ASSERT_EQ(found.size(), 2u);
  EXPECT_EQ(found[0].id, ids[0]);  // 1 is gone: 0 is the nearest left
  // Labels file (sealed; the plaintext): 8-byte magic, 4-byte norm bound,
  // then per label (no source, no metadata) 32 ID bytes, the state, the
  // source flag, a 4-byte count. A label state that disagrees with the graph
  // is refused even when the file authenticates (re-sealed with the key).
  const std::string labels = saved + "/labels";
  Bytes labels_context = context;
  labels_context.push_back(0);
  for (char c : std::string("labels")) labels_context.push_back(static_cast<uint8_t>(c));
  const auto original = ReadSealedFile(key, labels_context, labels, "INDEX_CORRUPT");
  ASSERT_TRUE(original.ok()) << original.status().ToString();
  for (const auto& [label, state] : std::vector<std::pair<size_t, char>>{{1, 'l'}, {0, 'd'}}) {
    std::string tampered = *original;
    const size_t at = 12 + label * 38 + 32;
    ASSERT_LT(at, tampered.size());
    ASSERT_NE(tampered[at], state);
    tampered[at] = state;
    AIFS_ASSERT_OK(WriteSealedFile(key, labels_context, AsBytes(tampered), labels));
    AIFS_EXPECT_STATUS(VectorIndex::Load(saved, 4, VectorMetric::kL2, key, context).status(),
                       kDataLoss, "INDEX_CORRUPT");
  }
  // Another key or another index's context does not open it.
  AIFS_ASSERT_OK(WriteSealedFile(key, labels_context, AsBytes(*original), labels));
  AIFS_ASSERT_OK(VectorIndex::Load(saved, 4, VectorMetric::kL2, key, context).status());
  RecordKey other = key;
  other.key[0] ^= 1;
  AIFS_EXPECT_STATUS(VectorIndex::Load(saved, 4, VectorMetric::kL2, other, context).status(),
                     kDataLoss, "INDEX_CORRUPT");
  AIFS_EXPECT_STATUS(
      VectorIndex::Load(saved, 4, VectorMetric::kL2, key, Bytes{'t', 0, 'y'}).status(), kDataLoss,
      "INDEX_CORRUPT");
}

// UpsertMany ends where the same upserts one by one end (an ID twice in a
// batch: its last vector; an existing ID: moved; a removed one: back), with
// the graph insertions on 4 pool threads (once the graph holds 10,000) while
// other threads search; a batch with one vector of the wrong length changes
// nothing.
TEST(VectorIndexTest, UpsertManyMatchesOneByOneWhileSearchesRun) {
  constexpr uint32_t kDim = 16;
  std::mt19937_64 rng(42);
  std::normal_distribution<float> normal;
  auto vec = [&] {
    std::vector<float> v(kDim);
    for (float& x : v) x = normal(rng);
    return v;
  };
  auto id_of = [](uint32_t i) {
    std::array<uint8_t, AssetId::kSize> b{};
    std::memcpy(b.data(), &i, sizeof(i));
    b[31] = 1;
    return *AssetId::FromBytes(b);
  };
  struct Op {
    AssetId id;
    std::vector<float> v;
  };
  std::vector<std::vector<Op>> batches;
  constexpr uint32_t kBatches = 14, kPerBatch = 1000;  // parallel from the 11th batch on
  for (uint32_t b = 0; b < kBatches; ++b) {
    std::vector<Op> ops;
    for (uint32_t i = 0; i < kPerBatch; ++i) ops.push_back({id_of(b * kPerBatch + i), vec()});
    for (uint32_t i = 0; i < 50; ++i) ops.push_back({id_of(b * kPerBatch + i), vec()});  // again, same batch
    if (b > 0)
      for (uint32_t i = 0; i < 50; ++i) ops.push_back({id_of(i * 7), vec()});  // an earlier batch's
    batches.push_back(std::move(ops));
  }
  auto one_by_one = VectorIndex::Create(kDim, VectorMetric::kL2);
  auto many = VectorIndex::Create(kDim, VectorMetric::kL2);
  ThreadPool pool(4);
  std::atomic<bool> stop{false};
  std::vector<std::thread> searchers;
  for (int t = 0; t < 2; ++t)
    searchers.emplace_back([&, t] {
      std::mt19937_64 r(t);
      std::normal_distribution<float> n;
      while (!stop) {
        std::vector<float> q(kDim);
        for (float& x : q) x = n(r);
        auto out = many->Search(q, 10, 32, nullptr, 1 << 20);
        std::set<AssetId> seen;
        for (const ScoredId& h : out.hits) EXPECT_TRUE(seen.insert(h.id).second);
      }
    });
  for (size_t b = 0; b < batches.size(); ++b) {
    if (b == kBatches - 2) {  // a removal, then the (parallel) batch brings it back
      one_by_one->Remove(id_of(5));
      many->Remove(id_of(5));
      batches[b].push_back({id_of(5), vec()});
    }
    std::vector<VectorIndex::Upsertion> items;
    for (const Op& op : batches[b]) {
      AIFS_ASSERT_OK(one_by_one->Upsert(op.id, op.v, {}));
      items.push_back({op.id, op.v, {}});
    }
    AIFS_ASSERT_OK(many->UpsertMany(std::move(items), &pool));
  }
  stop = true;
  for (auto& t : searchers) t.join();
  ASSERT_EQ(many->size(), one_by_one->size());
  ASSERT_EQ(many->size(), kBatches * kPerBatch);
  // Every ID holds its last vector: the exact nearest of that vector is it.
  std::map<AssetId, std::vector<float>> last;
  for (const auto& ops : batches)
    for (const Op& op : ops) last[op.id] = op.v;
  for (const auto& [id, v] : last) {
    ASSERT_TRUE(many->Contains(id));
    const auto exact = many->Exact(v, 1, nullptr);
    ASSERT_EQ(exact.size(), 1u);
    EXPECT_EQ(exact[0].id, id);
  }
  // The graph built in parallel finds neighbours as well as the serial one.
  size_t found_many = 0, found_serial = 0;
  for (int q = 0; q < 100; ++q) {
    const std::vector<float> query = vec();
    std::set<AssetId> truth;
    for (const ScoredId& h : many->Exact(query, 10, nullptr)) truth.insert(h.id);
    for (const ScoredId& h : many->Search(query, 10, 64, nullptr, 1 << 20).hits) found_many += truth.count(h.id);
    for (const ScoredId& h : one_by_one->Search(query, 10, 64, nullptr, 1 << 20).hits)
      found_serial += truth.count(h.id);
  }
  EXPECT_GE(found_many, 950u);
  EXPECT_GE(found_many + 20, found_serial);
  // One bad vector: the batch is refused whole.
  std::vector<float> short_vector(kDim - 1, 0.f);
  std::vector<float> fine = vec();
  std::vector<VectorIndex::Upsertion> bad;
  bad.push_back({id_of(100000), fine, {}});
  bad.push_back({id_of(100001), short_vector, {}});
  AIFS_EXPECT_STATUS(many->UpsertMany(std::move(bad), &pool), kInvalidArgument,
                     "DIMENSION_MISMATCH");
  EXPECT_FALSE(many->Contains(id_of(100000)));
  EXPECT_EQ(many->size(), kBatches * kPerBatch);
}

TEST(RateLimiterTest, TokenBucketPerCaller) {
  using namespace std::chrono_literals;
  server::RateLimiter limiter({.per_second = 10, .burst = 3});
  const auto t0 = server::RateLimiter::Clock::now();
  std::chrono::milliseconds wait{0};
  for (int i = 0; i < 3; ++i) AIFS_EXPECT_OK(limiter.Admit("alice", &wait, t0));
  AIFS_EXPECT_STATUS(limiter.Admit("alice", &wait, t0), kResourceExhausted, "RATE_LIMITED");
  EXPECT_EQ(wait, 100ms);  // one token every 100 ms
  AIFS_EXPECT_OK(limiter.Admit("bob", &wait, t0));  // buckets are per caller
  AIFS_EXPECT_STATUS(limiter.Admit("alice", &wait, t0 + 50ms), kResourceExhausted, "RATE_LIMITED");
  EXPECT_EQ(wait, 50ms);
  AIFS_EXPECT_OK(limiter.Admit("alice", &wait, t0 + 100ms));
  // A long pause refills to the burst, never beyond.
  for (int i = 0; i < 3; ++i) AIFS_EXPECT_OK(limiter.Admit("alice", &wait, t0 + 10s));
  AIFS_EXPECT_STATUS(limiter.Admit("alice", &wait, t0 + 10s), kResourceExhausted, "RATE_LIMITED");
  server::RateLimiter unlimited({});
  for (int i = 0; i < 1000; ++i) AIFS_EXPECT_OK(unlimited.Admit("x", &wait, t0));
}

}  // namespace
}  // namespace aifs::test
