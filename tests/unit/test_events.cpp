// The event log: sequencing under out-of-order commits, durability across
// restarts, filters, and pushing new events to followers.
#include <atomic>
#include <set>
#include <thread>

#include "aifs/meta/rocksdb/log_sequencer.h"
#include "test_util.h"

namespace aifs::test {
namespace {

TEST(LogSequencer, WatermarkWaitsForTheOldestUnsettledCommit) {
  LogSequencer log;
  log.Start(10);
  EXPECT_EQ(log.Watermark(), 10u);
  const uint64_t a = log.Reserve(1);  // 11
  const uint64_t b = log.Reserve(3);  // 12..14
  EXPECT_EQ(a, 11u);
  EXPECT_EQ(b, 12u);
  EXPECT_EQ(log.Watermark(), 10u);
  log.Settle(b);  // the later commit finishes first: 11 may still appear
  EXPECT_EQ(log.Watermark(), 10u);
  EXPECT_FALSE(log.WaitPast(10, std::chrono::milliseconds(20)));
  log.Settle(a);
  EXPECT_EQ(log.Watermark(), 14u);
  EXPECT_TRUE(log.WaitPast(13, std::chrono::milliseconds(0)));
}

TEST(LogSequencer, WaiterWakesAtOnce) {
  LogSequencer log;
  log.Start(0);
  const uint64_t seq = log.Reserve(1);
  std::thread settler([&] {
    std::this_thread::sleep_for(std::chrono::milliseconds(30));
    log.Settle(seq);
  });
  const auto start = std::chrono::steady_clock::now();
  EXPECT_TRUE(log.WaitPast(0, std::chrono::seconds(5)));
  EXPECT_LT(std::chrono::steady_clock::now() - start, std::chrono::seconds(1));
  settler.join();
}

class EventsTest : public EngineFixture {
 protected:
  std::vector<Event> All(EventQuery q = {}) {
    std::vector<Event> out;
    AIFS_EXPECT_OK(engine().SubscribeEvents(q, [&](const Event& e) {
      out.push_back(e);
      return Status::Ok();
    }));
    return out;
  }
  static std::vector<EventType> Types(const std::vector<Event>& events) {
    std::vector<EventType> t;
    for (const Event& e : events) t.push_back(e.type);
    return t;
  }
};

TEST_F(EventsTest, EveryCommitLeavesItsEventsInOrderAndTheySurviveRestart) {
  InitStore();
  auto a = MustPut(RandomBytes(5000, 1));
  PutOptions child;
  child.parents = {{a.asset.id, "tokenize", "sha256:ab"}};
  auto b = PutBytes(engine(), RandomBytes(6000, 2), child);
  ASSERT_TRUE(b.ok());
  MustPut(RandomBytes(5000, 1));  // a re-put changes nothing: no event
  auto snap = engine().CreateSnapshot("default", nullptr);
  ASSERT_TRUE(snap.ok());
  AIFS_ASSERT_OK(engine().CreateBranch("default", "main", snap->id.ToHex(), "me").status());
  AIFS_ASSERT_OK(engine().CreateTag("default", "v1", "main", "me").status());
  AIFS_ASSERT_OK(engine().DeleteAsset("default", b->asset.id));
  AIFS_ASSERT_OK(engine().CreateNamespace("other", {}).status());
  AIFS_EXPECT_STATUS(engine().CreateNamespace("other", {}).status(), kAlreadyExists,
                     "NAMESPACE_EXISTS");  // a failed commit leaves nothing

  const std::vector<EventType> expected = {
      EventType::kNamespaceCreated, EventType::kAssetCommitted,  EventType::kAssetCommitted,
      EventType::kLineageEdgeAdded, EventType::kSnapshotCreated, EventType::kBranchMoved,
      EventType::kTagCreated,       EventType::kAssetDeleted,    EventType::kNamespaceCreated};
  auto events = All();
  ASSERT_EQ(Types(events), expected);
  for (size_t i = 1; i < events.size(); ++i) EXPECT_GT(events[i].seq, events[i - 1].seq);
  EXPECT_EQ(events[1].asset, a.asset.id);
  EXPECT_EQ(events[2].asset, b->asset.id);
  EXPECT_EQ(events[3].asset, b->asset.id);
  EXPECT_EQ(events[3].parent, a.asset.id);
  EXPECT_EQ(events[3].name, "tokenize");
  EXPECT_EQ(events[4].snapshot, snap->id);
  EXPECT_EQ(events[5].name, "main");
  EXPECT_FALSE(events[5].old_snapshot.has_value());
  EXPECT_EQ(events[5].who, "me");
  EXPECT_EQ(events[8].ns, "other");

  // Resuming after any event yields exactly the rest.
  EventQuery resume;
  resume.after = events[3].seq;
  auto rest = All(resume);
  ASSERT_EQ(rest.size(), events.size() - 4);
  EXPECT_EQ(rest.front().seq, events[4].seq);

  // Filters.
  EventQuery only;
  only.ns = "other";
  EXPECT_EQ(All(only).size(), 1u);
  only = {};
  only.types = {EventType::kAssetCommitted, EventType::kAssetDeleted};
  EXPECT_EQ(Types(All(only)), (std::vector<EventType>{EventType::kAssetCommitted,
                                                      EventType::kAssetCommitted,
                                                      EventType::kAssetDeleted}));

  // The log and its numbering survive a restart.
  Reopen();
  auto again = All();
  ASSERT_EQ(again.size(), events.size());
  EXPECT_EQ(again.back().seq, events.back().seq);
  MustPut(RandomBytes(100, 3));
  auto after = All();
  ASSERT_EQ(after.size(), events.size() + 1);
  EXPECT_GT(after.back().seq, events.back().seq);
}

TEST_F(EventsTest, AbortedTransactionLeavesNoEvents) {
  InitStore();
  {
    auto txn = engine().BeginTransaction("default");
    ASSERT_TRUE(txn.ok());
    auto w = (*txn)->BeginPut({});
    ASSERT_TRUE(w.ok());
    AIFS_ASSERT_OK((*w)->Write(RandomBytes(1000, 9)));
    ASSERT_TRUE((*w)->Commit().ok());
  }  // aborted
  EventQuery q;
  q.types = {EventType::kAssetCommitted};
  EXPECT_TRUE(All(q).empty());
}

// Followers get concurrent writers' events pushed, in sequence order, each
// once, and nothing is lost or repeated across a resume.
TEST_F(EventsTest, FollowersSeeConcurrentCommitsPromptlyWithoutLossOrRepeats) {
  InitStore();
  constexpr int kWriters = 4, kPerWriter = 25;
  std::atomic<bool> stop{false};
  std::vector<Event> seen;
  std::mutex mu;
  auto follow = [&](uint64_t after) {
    EventQuery q;
    q.after = after;
    q.follow = true;
    q.types = {EventType::kAssetCommitted};
    q.keep_going = [&] { return !stop.load(); };
    return std::thread([&, q] {
      Status st = engine().SubscribeEvents(q, [&](const Event& e) {
        std::lock_guard lock(mu);
        seen.push_back(e);
        return Status::Ok();
      });
      EXPECT_EQ(st.reason(), "SUBSCRIPTION_ENDED");
    });
  };
  std::thread follower = follow(0);
  std::vector<std::thread> writers;
  std::set<AssetId> put;
  for (int w = 0; w < kWriters; ++w)
    writers.emplace_back([&, w] {
      for (int i = 0; i < kPerWriter; ++i) {
        auto r = PutBytes(engine(), "default", RandomBytes(300, 1000 * w + i));
        ASSERT_TRUE(r.ok());
        std::lock_guard lock(mu);
        put.insert(r->asset.id);
      }
    });
  for (auto& t : writers) t.join();

  // A new commit reaches the idle follower quickly.
  const size_t before = kWriters * kPerWriter;
  const auto t0 = std::chrono::steady_clock::now();
  auto last = PutBytes(engine(), "default", RandomBytes(300, 77));
  ASSERT_TRUE(last.ok());
  put.insert(last->asset.id);
  while (true) {
    {
      std::lock_guard lock(mu);
      if (seen.size() > before) break;
    }
    ASSERT_LT(std::chrono::steady_clock::now() - t0, std::chrono::seconds(2));
    std::this_thread::sleep_for(std::chrono::microseconds(200));
  }
  const auto latency = std::chrono::steady_clock::now() - t0;
  EXPECT_LT(latency, std::chrono::milliseconds(100));
  stop = true;
  follower.join();

  std::set<AssetId> delivered;
  for (size_t i = 0; i < seen.size(); ++i) {
    if (i) {
      EXPECT_GT(seen[i].seq, seen[i - 1].seq);
    }
    EXPECT_TRUE(delivered.insert(*seen[i].asset).second) << "delivered twice";
  }
  EXPECT_EQ(delivered, put);

  // Resume from the middle: exactly the tail again.
  const uint64_t mid = seen[seen.size() / 2].seq;
  std::vector<Event> tail;
  EventQuery q;
  q.after = mid;
  q.types = {EventType::kAssetCommitted};
  AIFS_ASSERT_OK(engine().SubscribeEvents(q, [&](const Event& e) {
    tail.push_back(e);
    return Status::Ok();
  }));
  ASSERT_EQ(tail.size(), seen.size() - seen.size() / 2 - 1);
  EXPECT_EQ(tail.front().seq, seen[seen.size() / 2 + 1].seq);
}

}  // namespace
}  // namespace aifs::test
