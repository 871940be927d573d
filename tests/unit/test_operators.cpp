// The engine side of ingest operators (engine/operator_registry.h,
// engine/operator_runner.h) with the built-in kinds that need no outside
// program: the records and their errors, matching, the inline drain of an
// embedded store, record assets with lineage, idempotent re-runs, the
// dead-letter list, backfill beside new puts, and a running runner under
// concurrent puts (every input exactly once). The http-embed and exec kinds
// end to end: tests/cli/test_operators.sh and python/tests/test_operators.py.
#include <gtest/gtest.h>

#include <set>
#include <thread>

#include "aifs/engine/operator_registry.h"
#include "test_util.h"

namespace aifs::test {
namespace {

using namespace std::chrono_literals;

// An .npy of float32 values (shape (n,)), the way numpy.save writes it.
Bytes Npy(const std::vector<float>& v) {
  std::string header =
      "{'descr': '<f4', 'fortran_order': False, 'shape': (" + std::to_string(v.size()) + ",), }";
  while ((10 + header.size() + 1) % 64 != 0) header += ' ';
  header += '\n';
  Bytes out = {0x93,
               'N',
               'U',
               'M',
               'P',
               'Y',
               1,
               0,
               static_cast<uint8_t>(header.size() & 0xff),
               static_cast<uint8_t>(header.size() >> 8)};
  out.insert(out.end(), header.begin(), header.end());
  const auto* p = reinterpret_cast<const uint8_t*>(v.data());
  out.insert(out.end(), p, p + v.size() * 4);
  return out;
}

class OperatorTest : public EngineFixture {
 protected:
  void SetUp() override { InitStore(); }

  AssetId PutWith(ByteSpan data, Metadata metadata, const std::string& ns = "default") {
    PutOptions o;
    o.ns = ns;
    o.metadata = std::move(metadata);
    auto r = PutBytes(engine(), data, o);
    EXPECT_TRUE(r.ok()) << r.status().ToString();
    return r.ok() ? r->asset.id : AssetId();
  }
  AssetId PutTensor(const std::vector<float>& v) {
    return PutWith(Npy(v), {{"content_type", "application/x-npy"}});
  }
  OperatorInfo Add(const std::string& name, const std::string& kind, const std::string& match,
                   bool backfill = false, std::map<std::string, std::string> params = {}) {
    OperatorSpec spec{.name = name,
                      .kind = kind,
                      .match = match,
                      .params = std::move(params),
                      .backfill = backfill};
    auto r = engine().AddOperator(spec);
    EXPECT_TRUE(r.ok()) << r.status().ToString();
    return r.ok() ? *r : OperatorInfo{};
  }
  OperatorInfo Drain(const std::string& name) {
    auto r = engine().DrainOperator("default", name, 60s);
    EXPECT_TRUE(r.ok()) << r.status().ToString();
    return r.ok() ? *r : OperatorInfo{};
  }
  std::vector<Event> Events(EventType type) {
    std::vector<Event> out;
    AIFS_EXPECT_OK(engine().SubscribeEvents({.types = {type}}, [&](const Event& e) {
      out.push_back(e);
      return Status::Ok();
    }));
    return out;
  }
  // The record assets operator `name` made, by source.
  std::map<AssetId, std::vector<AssetInfo>> Made(const std::string& name) {
    std::map<AssetId, std::vector<AssetInfo>> out;
    ListOptions o;
    o.filters.push_back({.key = "aifs.operator", .op = MetaFilter::Op::kEquals, .value = name});
    o.limit = 10000;
    auto page = engine().ListAssets(o);
    EXPECT_TRUE(page.ok()) << page.status().ToString();
    if (!page.ok()) return out;
    for (const AssetInfo& a : page->assets) {
      auto src = AssetId::Parse(a.metadata.at("aifs.source"));
      EXPECT_TRUE(src.ok());
      if (src.ok()) out[*src].push_back(a);
    }
    return out;
  }
};

TEST(OperatorMatchTest, ParsesTermsAndRefusesBadOnes) {
  auto m = ParseOperatorMatch("kind=blob, content_type^=text/ ,lang=en,reviewed");
  ASSERT_TRUE(m.ok()) << m.status().ToString();
  ASSERT_TRUE(m->kind.has_value());
  EXPECT_EQ(*m->kind, AssetKind::kBlob);
  ASSERT_EQ(m->filters.size(), 3u);
  EXPECT_EQ(m->filters[0].op, MetaFilter::Op::kPrefix);
  EXPECT_EQ(m->filters[0].value, "text/");
  EXPECT_EQ(m->filters[1].op, MetaFilter::Op::kEquals);
  EXPECT_EQ(m->filters[2].op, MetaFilter::Op::kExists);

  AssetInfo a{.kind = AssetKind::kBlob,
              .metadata = {{"content_type", "text/plain"}, {"lang", "en"}, {"reviewed", ""}}};
  EXPECT_TRUE(m->Matches(a));
  a.metadata["lang"] = "de";
  EXPECT_FALSE(m->Matches(a));
  a.metadata["lang"] = "en";
  a.kind = AssetKind::kTensor;
  EXPECT_FALSE(m->Matches(a));
  a.kind = AssetKind::kBlob;
  a.metadata["aifs.operator"] = "other";  // operators' output is never an input
  EXPECT_FALSE(m->Matches(a));
  EXPECT_TRUE(ParseOperatorMatch("")->Matches({}));

  for (const char* bad : {"kind=nope", "kind^=b", ",", "a=1,,b", "=x", "kind=blob,kind=tensor"})
    AIFS_EXPECT_STATUS(ParseOperatorMatch(bad).status(), kInvalidArgument, "BAD_OPERATOR_MATCH")
        << bad;
}

TEST_F(OperatorTest, RecordsAndTheirErrors) {
  OperatorSpec spec{.name = "stats", .kind = "tensor-stats"};
  auto added = engine().AddOperator(spec);
  ASSERT_TRUE(added.ok()) << added.status().ToString();
  EXPECT_EQ(added->who, "local");
  EXPECT_EQ(added->state, "not-running");  // an embedded store runs no operators
  AIFS_EXPECT_STATUS(engine().AddOperator(spec).status(), kAlreadyExists, "OPERATOR_EXISTS");
  AIFS_EXPECT_STATUS(engine().AddOperator({.name = "Bad Name", .kind = "sniff"}).status(),
                     kInvalidArgument, "BAD_OPERATOR_NAME");
  AIFS_EXPECT_STATUS(engine().AddOperator({.name = "x", .kind = "nope"}).status(), kInvalidArgument,
                     "UNKNOWN_OPERATOR_KIND");
  AIFS_EXPECT_STATUS(
      engine().AddOperator({.name = "x", .kind = "sniff", .params = {{"bogus", "1"}}}).status(),
      kInvalidArgument, "BAD_OPERATOR_PARAM");
  AIFS_EXPECT_STATUS(engine().AddOperator({.ns = "nons", .name = "x", .kind = "sniff"}).status(),
                     kNotFound, "NAMESPACE_NOT_FOUND");
  AIFS_EXPECT_STATUS(engine().RemoveOperator("default", "nope"), kNotFound, "OPERATOR_NOT_FOUND");
  AIFS_EXPECT_STATUS(engine().DrainOperator("default", "nope", 1s).status(), kNotFound,
                     "OPERATOR_NOT_FOUND");

  auto paused = engine().PauseOperator("default", "stats", true);
  ASSERT_TRUE(paused.ok());
  EXPECT_TRUE(paused->paused);
  AIFS_EXPECT_STATUS(engine().DrainOperator("default", "stats", 1s).status(), kFailedPrecondition,
                     "OPERATOR_PAUSED");
  ASSERT_TRUE(engine().PauseOperator("default", "stats", false).ok());
  auto list = engine().ListOperators("default");
  ASSERT_TRUE(list.ok());
  ASSERT_EQ(list->size(), 1u);
  EXPECT_FALSE(list->front().paused);
  AIFS_EXPECT_OK(engine().RemoveOperator("default", "stats"));
  EXPECT_TRUE(engine().ListOperators("default")->empty());

  // A deleted namespace takes its operators with it.
  ASSERT_TRUE(engine().CreateNamespace("scratch", {}).ok());
  ASSERT_TRUE(engine().AddOperator({.ns = "scratch", .name = "s", .kind = "sniff"}).ok());
  AIFS_ASSERT_OK(engine().DeleteNamespace("scratch"));
  ASSERT_TRUE(engine().CreateNamespace("scratch", {}).ok());
  EXPECT_TRUE(engine().ListOperators("scratch")->empty());
  EXPECT_TRUE(engine().AddOperator({.ns = "scratch", .name = "s", .kind = "sniff"}).ok());
}

TEST_F(OperatorTest, DrainMakesRecordAssetsWithLineageOnlyForNewMatchingAssets) {
  const AssetId before = PutTensor({1, 2, 3});
  Add("stats", "tensor-stats", "content_type=application/x-npy");
  const AssetId t = PutTensor({1.5f, -2.0f, 4.0f, 6.5f});
  PutWith(AsBytes(std::string("not a tensor")), {{"content_type", "text/plain"}});
  const OperatorInfo info = Drain("stats");
  EXPECT_EQ(info.processed, 1u);
  EXPECT_EQ(info.produced, 1u);
  EXPECT_EQ(info.failed, 0u);
  // Past every commit before the drain (its own events come after).
  EXPECT_GT(info.cursor, 0u);
  EXPECT_LE(info.cursor, info.log_head);

  auto made = Made("stats");
  ASSERT_EQ(made.size(), 1u);
  ASSERT_TRUE(made.count(t));
  EXPECT_FALSE(made.count(before));  // committed before the add, no backfill
  const AssetInfo& rec = made[t].front();
  EXPECT_EQ(std::stod(rec.metadata.at("tensor.mean")), 2.5);
  EXPECT_EQ(std::stod(rec.metadata.at("tensor.max")), 6.5);
  EXPECT_EQ(rec.metadata.at("content_type"), "application/json");
  ASSERT_EQ(rec.parents.size(), 1u);
  EXPECT_EQ(rec.parents[0].parent, t);
  EXPECT_EQ(rec.parents[0].transform, "operator:stats");
  EXPECT_FALSE(rec.parents[0].transform_digest.empty());

  // The log has one operator_completed event for the source.
  const std::vector<Event> events = Events(EventType::kOperatorCompleted);
  ASSERT_EQ(events.size(), 1u);
  EXPECT_EQ(*events[0].asset, t);
  EXPECT_EQ(events[0].name, "stats");
  EXPECT_EQ(events[0].detail, "1 assets");

  // Drained again: nothing new. Removed and added again with backfill (a new
  // generation): both tensors, and t's record is the same asset as before.
  EXPECT_EQ(Drain("stats").processed, 1u);
  const uint64_t assets = MustNs().asset_count;
  AIFS_ASSERT_OK(engine().RemoveOperator("default", "stats"));
  Add("stats", "tensor-stats", "content_type=application/x-npy", /*backfill=*/true);
  EXPECT_EQ(Drain("stats").processed, 2u);
  made = Made("stats");
  EXPECT_EQ(made.size(), 2u);
  EXPECT_EQ(made[t].size(), 1u);
  EXPECT_EQ(MustNs().asset_count, assets + 1);  // only `before`'s record is new
}

TEST_F(OperatorTest, InputErrorsGoToTheDeadLetterListAndBackOnRetry) {
  Add("stats", "tensor-stats", "content_type=application/x-npy", false,
      {{"max_input_bytes", "200"}});
  const AssetId big = PutTensor(std::vector<float>(100, 1.0f));  // > 200 bytes
  const AssetId junk =
      PutWith(AsBytes(std::string("\x93NUMPY garbage")), {{"content_type", "application/x-npy"}});
  const AssetId fine = PutTensor({1, 2});
  const OperatorInfo info = Drain("stats");
  EXPECT_EQ(info.processed, 1u);
  EXPECT_EQ(info.failed, 2u);
  EXPECT_FALSE(info.last_error.empty());
  auto failures = engine().ListOperatorFailures("default", "stats", 100);
  ASSERT_TRUE(failures.ok());
  std::map<AssetId, OperatorFailure> by_id;
  for (const auto& f : *failures) by_id[f.asset] = f;
  ASSERT_EQ(by_id.size(), 2u);
  EXPECT_EQ(by_id[big].reason, "INPUT_TOO_LARGE");
  EXPECT_EQ(by_id[big].attempts, 1u);  // not retried: it will not shrink
  EXPECT_EQ(by_id[junk].attempts, 3u);
  EXPECT_FALSE(by_id[junk].reason.empty());
  EXPECT_TRUE(Made("stats").count(fine));

  EXPECT_EQ(Events(EventType::kOperatorFailed).size(), 2u);

  // Skip one, retry the other (which fails again, with a fresh record).
  auto skipped = engine().ResolveOperatorFailures("default", "stats", {big}, false);
  ASSERT_TRUE(skipped.ok());
  EXPECT_EQ(*skipped, 1u);
  AIFS_EXPECT_STATUS(engine().ResolveOperatorFailures("default", "stats", {big}, true).status(),
                     kNotFound, "OPERATOR_FAILURE_NOT_FOUND");
  ASSERT_TRUE(engine().ResolveOperatorFailures("default", "stats", {}, true).ok());
  EXPECT_EQ(engine().ListOperatorFailures("default", "stats", 100)->size(), 0u);
  const OperatorInfo again = Drain("stats");
  EXPECT_EQ(again.failed, 1u);
  failures = engine().ListOperatorFailures("default", "stats", 100);
  ASSERT_EQ(failures->size(), 1u);
  EXPECT_EQ(failures->front().asset, junk);
}

TEST_F(OperatorTest, RunningRunnerTakesEveryInputExactlyOnceUnderConcurrentPuts) {
  // A server's engine: the runner runs by itself.
  engine_.reset();
  auto e = Engine::Open({.data_dir = dir_.path(), .run_operators = true});
  ASSERT_TRUE(e.ok()) << e.status().ToString();
  engine_ = std::move(*e);
  std::vector<AssetId> early;
  for (int i = 0; i < 50; ++i) early.push_back(PutTensor({float(i), 1.0f}));
  Add("stats", "tensor-stats", "content_type=application/x-npy", /*backfill=*/true);
  std::vector<std::thread> threads;
  std::mutex mu;
  std::set<AssetId> all(early.begin(), early.end());
  for (int t = 0; t < 4; ++t)
    threads.emplace_back([&, t] {
      for (int i = 0; i < 50; ++i) {
        const AssetId id = PutTensor({float(1000 * t + i), 2.0f, 3.0f});
        std::lock_guard lock(mu);
        all.insert(id);
      }
    });
  for (auto& th : threads) th.join();
  const OperatorInfo info = Drain("stats");
  EXPECT_EQ(info.processed, all.size());
  EXPECT_EQ(info.failed, 0u);
  auto made = Made("stats");
  EXPECT_EQ(made.size(), all.size());
  for (const AssetId& id : all) EXPECT_EQ(made[id].size(), 1u) << id.ToHex();
  auto list = engine().ListOperators("default");
  ASSERT_TRUE(list.ok());
  EXPECT_TRUE(list->front().state == "idle" || list->front().state == "running")
      << list->front().state;

  // Removing it stops it; a put after that is nobody's input.
  AIFS_ASSERT_OK(engine().RemoveOperator("default", "stats"));
  const AssetId late = PutTensor({9, 9});
  std::this_thread::sleep_for(300ms);
  EXPECT_FALSE(Made("stats").count(late));
}

TEST_F(OperatorTest, StoppingTheRunnerAbortsACallInFlight) {
  engine_.reset();
  auto e = Engine::Open({.data_dir = dir_.path(), .run_operators = true});
  ASSERT_TRUE(e.ok()) << e.status().ToString();
  engine_ = std::move(*e);
  // A program that hangs (its own timeout far away).
  Add("hang", "exec", "", false,
      {{"argv", R"(["/bin/sleep", "31.25"])"}, {"output", "npy"}, {"timeout_ms", "120000"}});
  PutWith(AsBytes(std::string("some text")), {});
  auto running = [] {
    FILE* p = ::popen("pgrep -f 'slee[p] 31[.]25' | wc -l", "r");
    int n = 0;
    if (p && std::fscanf(p, "%d", &n) != 1) n = -1;
    if (p) ::pclose(p);
    return n;
  };
  for (int i = 0; i < 100 && running() == 0; ++i) std::this_thread::sleep_for(50ms);
  ASSERT_EQ(running(), 1) << "the operator never started its program";
  const auto t0 = std::chrono::steady_clock::now();
  engine_.reset();  // stops the runner: the program is killed, not waited for
  const auto took = std::chrono::steady_clock::now() - t0;
  EXPECT_LT(took, 20s) << "the close waited for the hung program";
  EXPECT_EQ(running(), 0) << "the program outlived the runner";
  // Nothing was dead-lettered for it: the input is still to do.
  Reopen();
  EXPECT_EQ(engine().ListOperatorFailures("default", "hang", 10)->size(), 0u);
  EXPECT_EQ(engine().ListOperators("default")->front().processed, 0u);
}

}  // namespace
}  // namespace aifs::test
