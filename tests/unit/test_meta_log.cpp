// The MetaStore's log over every backend: numbering in commit order, cursors
// across reopen, waiting for entries, two store instances ("two servers") on
// one database; PostgreSQL's outage and schema checks; commit rates.
#include <atomic>
#include <map>
#include <set>
#include <thread>

#include "aifs/meta/postgres/pg_connection.h"
#include "aifs/meta/postgres/postgres_meta_store.h"
#include "meta_backends.h"

namespace aifs::test {
namespace {

using MetaLogTest = MetaBackendTest;
INSTANTIATE_TEST_SUITE_P(Backends, MetaLogTest, AIFS_META_BACKENDS, BackendName);

using Entries = std::vector<std::pair<uint64_t, std::string>>;

Entries ReadLog(MetaStore& m, uint64_t after, uint64_t* upto = nullptr) {
  Entries out;
  auto r = m.ScanLog(after, [&](uint64_t seq, std::string_view e) {
    out.emplace_back(seq, std::string(e));
    return true;
  });
  EXPECT_TRUE(r.ok()) << r.status().ToString();
  if (upto) *upto = r.ok() ? *r : 0;
  return out;
}

Status Append(MetaStore& m, const std::vector<std::string>& entries, std::string_view key = "") {
  auto txn = m.Begin();
  if (!key.empty()) AIFS_RETURN_IF_ERROR(txn->Put(key, "x"));
  for (const auto& e : entries) txn->AppendLog(e);
  return txn->Commit();
}

TEST_P(MetaLogTest, EntriesAreNumberedInCommitOrderAndCursorsSurviveReopen) {
  uint64_t cursor = 0;
  {
    auto m = Open();
    ASSERT_TRUE(m);
    EXPECT_EQ(m->LogWatermark(), 0u);
    EXPECT_TRUE(ReadLog(*m, 0).empty());
    AIFS_ASSERT_OK(Append(*m, {"a"}, "k1"));
    AIFS_ASSERT_OK(Append(*m, {"b", std::string("c\0\xff", 3), "d"}));
    // A commit that fails leaves no entry (and no number in use).
    auto loser = m->Begin();
    ASSERT_TRUE(loser->Get("k1").ok());
    loser->AppendLog("never");
    AIFS_ASSERT_OK(PutOne(*m, "k1", "changed"));
    AIFS_EXPECT_STATUS(loser->Commit(), kAborted, "TXN_CONFLICT");
    AIFS_ASSERT_OK(Append(*m, {"e"}));
    const Entries all = ReadLog(*m, 0, &cursor);
    ASSERT_EQ(all.size(), 5u);
    const std::vector<std::string> want = {"a", "b", std::string("c\0\xff", 3), "d", "e"};
    for (size_t i = 0; i < all.size(); ++i) {
      EXPECT_EQ(all[i].second, want[i]);
      if (i > 0) {
        EXPECT_GT(all[i].first, all[i - 1].first);
      }
    }
    EXPECT_EQ(all[2].first, all[1].first + 1) << "one commit's entries are consecutive";
    EXPECT_EQ(cursor, m->LogWatermark());
    EXPECT_GE(cursor, all.back().first);
    // A reader that stops early resumes where it stopped.
    auto r = m->ScanLog(0, [](uint64_t, std::string_view) { return false; });
    ASSERT_TRUE(r.ok());
    EXPECT_EQ(*r, all[0].first);
    EXPECT_EQ(ReadLog(*m, all[1].first).size(), 3u);
    uint64_t same = 0;
    EXPECT_TRUE(ReadLog(*m, cursor, &same).empty());
    EXPECT_EQ(same, cursor);
  }
  auto m = Open({.create = false});
  ASSERT_TRUE(m);
  EXPECT_EQ(m->LogWatermark(), cursor);
  AIFS_ASSERT_OK(Append(*m, {"after reopen"}));
  const Entries next = ReadLog(*m, cursor);
  ASSERT_EQ(next.size(), 1u);
  EXPECT_GT(next[0].first, cursor);
  EXPECT_EQ(next[0].second, "after reopen");
}

TEST_P(MetaLogTest, WaitForLogWakesOnACommit) {
  auto m = Open();
  ASSERT_TRUE(m);
  EXPECT_FALSE(m->WaitForLog(0, std::chrono::milliseconds(30)));
  std::thread writer([&] {
    std::this_thread::sleep_for(std::chrono::milliseconds(50));
    AIFS_EXPECT_OK(Append(*m, {"x"}));
  });
  EXPECT_TRUE(m->WaitForLog(0, std::chrono::seconds(30)));
  writer.join();
  EXPECT_TRUE(m->WaitForLog(0, std::chrono::milliseconds(0)));
  EXPECT_EQ(ReadLog(*m, 0).size(), 1u);
}

// A follower being stopped interrupts its own wait instead of waiting out
// its poll (an engine closes without the vector follower's 50 ms).
TEST_P(MetaLogTest, InterruptEndsAWaitInProgressAndNoLaterOne) {
  auto m = Open();
  ASSERT_TRUE(m);
  std::atomic<bool> returned{false};
  bool passed = true;
  std::thread waiter([&] {
    passed = m->WaitForLog(1000, std::chrono::seconds(60));
    returned = true;
  });
  std::this_thread::sleep_for(std::chrono::milliseconds(100));
  EXPECT_FALSE(returned.load());
  const auto t0 = std::chrono::steady_clock::now();
  m->InterruptLogWaits();
  waiter.join();  // far before its 60 s (the test's own timeout catches a hang)
  EXPECT_FALSE(passed);
  EXPECT_LT(std::chrono::steady_clock::now() - t0, std::chrono::seconds(30));
  // A wait after the interrupt still waits for the log.
  std::thread writer([&] {
    std::this_thread::sleep_for(std::chrono::milliseconds(50));
    AIFS_EXPECT_OK(Append(*m, {"x"}));
  });
  EXPECT_TRUE(m->WaitForLog(0, std::chrono::seconds(30)));
  writer.join();
}

// Two instances of the store ("two servers"; RocksDB allows one writer, so
// there both are the same instance) append from several threads while a
// follower on each reads the log as it grows: each follower sees every entry
// exactly once, in increasing order, with nothing appearing later below its
// cursor (the final scan is what it saw).
TEST_P(MetaLogTest, TwoInstancesAppendConcurrentlyAndFollowersSeeEveryEntryOnce) {
  auto a = Open();
  ASSERT_TRUE(a);
  std::unique_ptr<MetaStore> b_owned = postgres() ? Open({.create = false}) : nullptr;
  MetaStore& b = b_owned ? *b_owned : *a;
  constexpr int kWriters = 4, kCommits = 60;
  std::atomic<int> writers_done{0};
  auto write = [&](MetaStore& m, int w) {
    for (int i = 0; i < kCommits; ++i) {
      std::vector<std::string> entries = {"w" + std::to_string(w) + "/" + std::to_string(i) + "/0"};
      if (i % 3 == 0) entries.push_back("w" + std::to_string(w) + "/" + std::to_string(i) + "/1");
      AIFS_EXPECT_OK(RunTransaction(m, [&](MetaTxn& txn) -> Status {
        // A read-modify-write per writer, so commits also carry data.
        AIFS_ASSIGN_OR_RETURN(auto v, txn.Get("count/" + std::to_string(w)));
        AIFS_RETURN_IF_ERROR(txn.Put("count/" + std::to_string(w), std::to_string(i + 1)));
        for (const auto& e : entries) txn.AppendLog(e);
        (void)v;
        return Status::Ok();
      }));
    }
    writers_done.fetch_add(1);
  };
  auto follow = [&](MetaStore& m, Entries& seen) {
    uint64_t cursor = 0;
    for (;;) {
      const bool last_round = writers_done.load() == kWriters;
      auto r = m.ScanLog(cursor, [&](uint64_t seq, std::string_view e) {
        seen.emplace_back(seq, std::string(e));
        return true;
      });
      ASSERT_TRUE(r.ok()) << r.status().ToString();
      cursor = *r;
      if (last_round) return;
      m.WaitForLog(cursor, std::chrono::milliseconds(200));
    }
  };
  Entries seen_a, seen_b;
  std::vector<std::thread> threads;
  threads.emplace_back(follow, std::ref(*a), std::ref(seen_a));
  threads.emplace_back(follow, std::ref(b), std::ref(seen_b));
  for (int w = 0; w < kWriters; ++w) threads.emplace_back(write, std::ref(w % 2 ? b : *a), w);
  for (auto& t : threads) t.join();

  const Entries all = ReadLog(*a, 0);
  size_t expected = 0;
  for (int i = 0; i < kCommits; ++i) expected += i % 3 == 0 ? 2 : 1;
  expected *= kWriters;
  ASSERT_EQ(all.size(), expected);
  EXPECT_EQ(seen_a, all);
  EXPECT_EQ(seen_b, all);
  std::map<int, int> next_commit;  // per writer, its commits appear in order
  std::set<std::string> unique;
  for (size_t i = 0; i < all.size(); ++i) {
    if (i > 0) {
      EXPECT_GT(all[i].first, all[i - 1].first);
    }
    unique.insert(all[i].second);
    const std::string& e = all[i].second;
    const int w = std::stoi(e.substr(1, e.find('/') - 1));
    const int commit = std::stoi(e.substr(e.find('/') + 1));
    if (e.ends_with("/0")) {
      EXPECT_EQ(commit, next_commit[w]) << e;
      next_commit[w] = commit + 1;
    } else {
      ASSERT_GT(i, 0u);
      EXPECT_EQ(all[i - 1].second, e.substr(0, e.size() - 1) + "0")
          << "a commit's entries stay together";
      EXPECT_EQ(all[i].first, all[i - 1].first + 1);
    }
  }
  EXPECT_EQ(unique.size(), all.size());
  EXPECT_EQ(a->LogWatermark(), b.LogWatermark());
}

TEST_P(MetaLogTest, IncrementsFromTwoInstancesStayExact) {
  auto a = Open();
  ASSERT_TRUE(a);
  std::unique_ptr<MetaStore> b_owned = postgres() ? Open({.create = false}) : nullptr;
  MetaStore& b = b_owned ? *b_owned : *a;
  AIFS_ASSERT_OK(PutOne(*a, "counter", "0"));
  std::atomic<int> attempts{0};
  auto worker = [&](MetaStore& m) {
    for (int i = 0; i < 100; ++i) {
      AIFS_EXPECT_OK(RunTransaction(m, [&](MetaTxn& txn) -> Status {
        attempts.fetch_add(1);
        AIFS_ASSIGN_OR_RETURN(auto v, txn.Get("counter"));
        if (!v) return err::Internal("MISSING", "counter missing");
        txn.AppendLog("+1");
        return txn.Put("counter", std::to_string(std::stoi(*v) + 1));
      }));
    }
  };
  std::vector<std::thread> threads;
  for (int t = 0; t < 4; ++t) threads.emplace_back(worker, std::ref(t % 2 ? b : *a));
  for (auto& t : threads) t.join();
  EXPECT_EQ(Get(*a, "counter"), std::optional<std::string>("400"));
  EXPECT_EQ(Get(b, "counter"), std::optional<std::string>("400"));
  EXPECT_EQ(ReadLog(b, 0).size(), 400u);
  std::cout << "REPORT meta-two-instance-increments " << GetParam() << ": " << attempts.load() - 400
            << " retried attempts for 400 increments\n";
}

// Commit rates and, for PostgreSQL, round trips per commit. Numbers only: no
// limits (the machine is shared).
TEST_P(MetaLogTest, CommitRatesAndRoundTrips) {
  auto m = Open();
  ASSERT_TRUE(m);
  auto rate = [&](int threads, bool with_log) {
    constexpr int kPerThread = 200;
    const auto start = std::chrono::steady_clock::now();
    std::vector<std::thread> ts;
    for (int t = 0; t < threads; ++t)
      ts.emplace_back([&, t] {
        for (int i = 0; i < kPerThread; ++i) {
          const std::string key = "bench/" + std::to_string(t) + "/" + std::to_string(i);
          AIFS_EXPECT_OK(RunTransaction(*m, [&](MetaTxn& txn) -> Status {
            if (with_log) txn.AppendLog("put " + key);
            return txn.Put(key, std::string(100, 'v'));
          }));
        }
      });
    for (auto& t : ts) t.join();
    const double s =
        std::chrono::duration<double>(std::chrono::steady_clock::now() - start).count();
    return threads * kPerThread / s;
  };
  for (bool with_log : {false, true})
    for (int threads : {1, 8})
      std::cout << "REPORT meta-commits-per-s " << GetParam() << " threads=" << threads
                << (with_log ? " with-log" : " plain") << ": "
                << static_cast<int>(rate(threads, with_log)) << "\n";
  auto* pg = dynamic_cast<PostgresMetaStore*>(m.get());
  if (!pg) return;
  auto trips = [&](const std::function<void()>& fn) {
    const uint64_t before = pg->round_trips();
    fn();
    return pg->round_trips() - before;
  };
  std::cout << "REPORT pg-round-trips put-txn: "
            << trips([&] { AIFS_EXPECT_OK(PutOne(*m, "rt", "1")); })
            << "\nREPORT pg-round-trips get+put+2-log-entries txn: " << trips([&] {
                 AIFS_EXPECT_OK(RunTransaction(*m, [](MetaTxn& txn) -> Status {
                   AIFS_RETURN_IF_ERROR(txn.Get("rt").status());
                   txn.AppendLog("one");
                   txn.AppendLog("two");
                   return txn.Put("rt", "2");
                 }));
               })
            << "\nREPORT pg-round-trips ScanLog of " << m->LogWatermark()
            << " entries: " << trips([&] { ReadLog(*m, 0); }) << "\n";
}

// PostgreSQL stopped: clear UNAVAILABLE errors, no crash or hang; once it is
// back the same store instance works again.
TEST(PostgresMetaStoreTest, ServerOutageIsUnavailableAndRecoveryNeedsNoReopen) {
  TempDir dir;
  PgTestServer server(dir.path(), 5432);
  std::string why;
  if (!server.Start(&why)) GTEST_SKIP() << why;
  auto opened = OpenMetaStore(server.NewStoreUrl(2), {.create = true});
  ASSERT_TRUE(opened.ok()) << opened.status().ToString();
  auto& m = **opened;
  auto put = [&](std::string k, std::string entry) {
    auto txn = m.Begin();
    AIFS_RETURN_IF_ERROR(txn->Put(k, "v"));
    txn->AppendLog(std::move(entry));
    return txn->Commit();
  };
  AIFS_ASSERT_OK(put("before", "e1"));
  const uint64_t mark = m.LogWatermark();
  EXPECT_EQ(mark, 1u);

  server.Stop();
  AIFS_EXPECT_STATUS(m.Get("before").status(), kUnavailable, "METADATA_UNAVAILABLE");
  AIFS_EXPECT_STATUS(put("during", "e2"), kUnavailable, "METADATA_UNAVAILABLE");
  AIFS_EXPECT_STATUS(m.Scan("", "", [](auto, auto) { return true; }), kUnavailable,
                     "METADATA_UNAVAILABLE");
  AIFS_EXPECT_STATUS(m.ScanLog(0, [](auto, auto) { return true; }).status(), kUnavailable,
                     "METADATA_UNAVAILABLE");
  EXPECT_EQ(m.LogWatermark(), mark) << "the last known watermark is still safe";
  EXPECT_FALSE(m.WaitForLog(mark, std::chrono::milliseconds(300)));
  AIFS_EXPECT_STATUS(OpenMetaStore(server.NewStoreUrl(), {.create = true}).status(), kUnavailable,
                     "METADATA_UNAVAILABLE");

  ASSERT_TRUE(server.Start(&why)) << why;
  auto got = m.Get("before");
  ASSERT_TRUE(got.ok()) << got.status().ToString();
  EXPECT_EQ(*got, std::optional<std::string>("v"));
  EXPECT_EQ(m.Get("during").value(), std::nullopt);
  // A follower waiting across the restart wakes for the next commit.
  std::thread writer([&] {
    std::this_thread::sleep_for(std::chrono::milliseconds(100));
    AIFS_EXPECT_OK(put("after", "e3"));
  });
  EXPECT_TRUE(m.WaitForLog(mark, std::chrono::seconds(30)));
  writer.join();
  Entries log = ReadLog(m, 0);
  ASSERT_EQ(log.size(), 2u);
  EXPECT_EQ(log[0].second, "e1");
  EXPECT_EQ(log[1].second, "e3");
}

TEST(PostgresMetaStoreTest, UrlSchemaVersionAndReadOnlyChecks) {
  const std::string url = PgTestServer::Shared().NewStoreUrl();
  if (url.empty()) GTEST_SKIP() << "no PostgreSQL server";
  AIFS_EXPECT_STATUS(OpenMetaStore(url + "&pool=0", {.create = true}).status(), kInvalidArgument,
                     "BAD_META_URL");
  AIFS_EXPECT_STATUS(OpenMetaStore(url + "&schema=Bad-Name", {.create = true}).status(),
                     kInvalidArgument, "BAD_META_URL");
  AIFS_EXPECT_STATUS(OpenMetaStore(url, {.create = false}).status(), kNotFound,
                     "META_STORE_MISSING");
  AIFS_EXPECT_STATUS(OpenMetaStore(url, {.read_only = true}).status(), kNotFound,
                     "META_STORE_MISSING");
  auto m = OpenMetaStore(url, {.create = true});
  ASSERT_TRUE(m.ok()) << m.status().ToString();
  EXPECT_EQ((*m)->Url().find("password"), std::string::npos);

  // A newer build's store is refused, with or without create.
  const std::string schema = url.substr(url.rfind("schema=") + 7);
  auto conn = PgConnection::Connect(PgTestServer::Shared().Url(), "", {});
  ASSERT_TRUE(conn.ok()) << conn.status().ToString();
  AIFS_ASSERT_OK((*conn)->ExecSql("UPDATE \"" + schema + "\".version SET version = 99").status());
  AIFS_EXPECT_STATUS(OpenMetaStore(url, {.create = true}).status(), kFailedPrecondition,
                     "META_SCHEMA_TOO_NEW");
  AIFS_EXPECT_STATUS(OpenMetaStore(url, {}).status(), kFailedPrecondition, "META_SCHEMA_TOO_NEW");

  // Writes through a read-only open are refused; a batch and DeleteRange too.
  AIFS_ASSERT_OK((*conn)->ExecSql("UPDATE \"" + schema + "\".version SET version = 1").status());
  auto ro = OpenMetaStore(url, {.read_only = true});
  ASSERT_TRUE(ro.ok()) << ro.status().ToString();
  auto batch = (*ro)->NewBatch();
  AIFS_EXPECT_STATUS(batch->Put("a", "b"), kFailedPrecondition, "READ_ONLY_MODE");
  AIFS_EXPECT_STATUS((*ro)->DeleteRange("", ""), kFailedPrecondition, "READ_ONLY_MODE");
}

}  // namespace
}  // namespace aifs::test
