// Several servers on one store: two engines, each with its own data
// directory, sharing a PostgreSQL MetaStore and a chunk directory (what
// `aifs init --meta URL --chunks URL` on two machines gives). Checks joining
// (identity, chunk store and KMS agreement), writer leases against a
// neighbour's gc, store-wide locks, and the two-step snapshot against gc.
// Skipped when PostgreSQL is not installed.
#include <gtest/gtest.h>

#include <atomic>
#include <thread>

#include "aifs/engine/writer_lease.h"
#include "aifs/meta/keys.h"
#include "aifs/meta/records.h"
#include "pg_test_server.h"
#include "test_util.h"

namespace aifs::test {
namespace {

class SharedStoreTest : public ::testing::Test {
 protected:
  void SetUp() override {
    meta_url_ = PgTestServer::Shared().NewStoreUrl();
    if (meta_url_.empty())
      GTEST_SKIP() << "no PostgreSQL server (scripts/pg-up.sh could not start one)";
    chunks_url_ = "file://" + dir_.Sub("shared-chunks");
  }
  // The first server's init; later ones join with JoinOptions().
  InitOptions FirstOptions() const {
    InitOptions o = SmallInit();
    o.meta_url = meta_url_;
    o.chunk_url = chunks_url_;
    return o;
  }
  InitOptions JoinOptions() const {
    InitOptions o;
    o.meta_url = meta_url_;
    o.kms_url = "local://" + dir_.Sub("a") + "/kms/master.keys";  // the same KMS key
    return o;
  }
  std::unique_ptr<Engine> Open(const std::string& name,
                               std::chrono::milliseconds ttl = WriterLease::kDefaultTtl) {
    auto e = Engine::Open({.data_dir = dir_.Sub(name), .threads = 2, .lease_ttl = ttl});
    EXPECT_TRUE(e.ok()) << e.status().ToString();
    return e.ok() ? std::move(e).value() : nullptr;
  }
  void InitTwo() {
    AIFS_ASSERT_OK(Engine::Init(dir_.Sub("a"), FirstOptions()));
    AIFS_ASSERT_OK(Engine::Init(dir_.Sub("b"), JoinOptions()));
  }
  // Objects in the shared chunk directory.
  size_t CountObjects() const { return TallyFiles(dir_.Sub("shared-chunks")).files; }

  TempDir dir_;
  std::string meta_url_;
  std::string chunks_url_;
};

TEST_F(SharedStoreTest, JoiningServerSharesIdentityAndSeesTheSameData) {
  InitTwo();
  auto a = Open("a");
  auto b = Open("b");
  ASSERT_TRUE(a && b);
  auto da = a->DescribeStore(), db = b->DescribeStore();
  ASSERT_TRUE(da.ok() && db.ok());
  EXPECT_EQ(da->store_id, db->store_id);
  EXPECT_EQ(da->chunk_url, db->chunk_url);
  EXPECT_EQ(da->chunk_avg, db->chunk_avg);  // chunking comes from the store
  EXPECT_NE(da->data_dir, db->data_dir);

  const Bytes data = RandomBytes(300'000, 1);
  auto put = PutBytes(*a, data);
  ASSERT_TRUE(put.ok()) << put.status().ToString();
  auto back = ReadBytes(*b, "default", put->asset.id);
  ASSERT_TRUE(back.ok()) << back.status().ToString();
  EXPECT_EQ(*back, data);
}

TEST_F(SharedStoreTest, JoinRefusesAnotherChunkStoreAndAnotherKms) {
  AIFS_ASSERT_OK(Engine::Init(dir_.Sub("a"), FirstOptions()));
  InitOptions other_chunks = JoinOptions();
  other_chunks.chunk_url = "file://" + dir_.Sub("elsewhere");
  AIFS_EXPECT_STATUS(Engine::Init(dir_.Sub("b"), other_chunks), kFailedPrecondition,
                     "CHUNK_STORE_MISMATCH");
  InitOptions own_kms = JoinOptions();
  own_kms.kms_url.clear();  // a fresh keyfile of its own
  AIFS_EXPECT_STATUS(Engine::Init(dir_.Sub("c"), own_kms), kFailedPrecondition,
                     "KMS_CANNOT_OPEN_STORE");
}

TEST_F(SharedStoreTest, DataDirectoryOfAnotherStoreIsRefused) {
  InitTwo();
  // Point b's aifs.json at a different store's metadata.
  const std::string other = PgTestServer::Shared().NewStoreUrl();
  InitOptions o = SmallInit();
  o.meta_url = other;
  AIFS_ASSERT_OK(Engine::Init(dir_.Sub("x"), o));
  const Bytes raw = ReadFileBytes(dir_.Sub("b") + "/aifs.json");
  std::string json(raw.begin(), raw.end());
  const size_t at = json.find(meta_url_);
  ASSERT_NE(at, std::string::npos);
  json.replace(at, meta_url_.size(), other);
  WriteFileBytes(dir_.Sub("b") + "/aifs.json", AsBytes(json));
  AIFS_EXPECT_STATUS(Engine::Open({.data_dir = dir_.Sub("b")}).status(), kFailedPrecondition,
                     "STORE_MISMATCH");
}

TEST_F(SharedStoreTest, GcOnOneServerKeepsAnotherServersPutInFlight) {
  InitTwo();
  auto a = Open("a");
  auto b = Open("b");
  ASSERT_TRUE(a && b);
  const Bytes data = RandomBytes(400'000, 2);
  auto w = a->BeginPut(PutOptions{});
  ASSERT_TRUE(w.ok());
  AIFS_ASSERT_OK((*w)->Write(data));
  // a's chunks are being stored, not yet committed: b must not take them
  // for orphans.
  const size_t objects = CountObjects();
  ASSERT_GT(objects, 0u);
  auto gc = b->CollectGarbage(/*dry_run=*/false);
  ASSERT_TRUE(gc.ok()) << gc.status().ToString();
  EXPECT_EQ(gc->reclaimed_objects, 0u);
  EXPECT_GE(gc->objects_leased, objects);
  auto put = (*w)->Commit();
  ASSERT_TRUE(put.ok()) << put.status().ToString();
  auto back = ReadBytes(*b, "default", put->asset.id);
  ASSERT_TRUE(back.ok()) << back.status().ToString();
  EXPECT_EQ(*back, data);
}

TEST_F(SharedStoreTest, DeadServersLeftoversAreCollectedOnceItsLeaseLapses) {
  InitTwo();
  auto b = Open("b");
  ASSERT_TRUE(b);
  {
    // A server that wrote chunks and died: its lease is never renewed again.
    auto a = Open("a", std::chrono::milliseconds(400));
    auto w = a->BeginPut(PutOptions{});
    ASSERT_TRUE(w.ok());
    AIFS_ASSERT_OK((*w)->Write(RandomBytes(300'000, 3)));
    // Simulate the kill: forget the writer without aborting (objects stay)
    // and keep the lease record as the dead process would leave it.
    (void)w->release();
    auto meta = OpenMetaStore(meta_url_, {});
    ASSERT_TRUE(meta.ok());
    // The lease record is written with the put's first object, which the
    // engine's I/O threads write after Write() has returned.
    std::vector<std::pair<std::string, std::string>> leases;
    for (int i = 0; i < 400 && leases.empty(); ++i) {
      if (i > 0) std::this_thread::sleep_for(std::chrono::milliseconds(25));
      AIFS_ASSERT_OK(
          (*meta)->Scan("wl/", PrefixEnd("wl/"), [&](std::string_view k, std::string_view v) {
            leases.emplace_back(k, v);
            return true;
          }));
    }
    ASSERT_EQ(leases.size(), 1u);
    a.reset();  // closing deletes the lease record: put it back, as after a SIGKILL
    auto txn = (*meta)->Begin();
    AIFS_ASSERT_OK(txn->Put(leases[0].first, leases[0].second));
    AIFS_ASSERT_OK(txn->Commit());
  }
  ASSERT_GT(CountObjects(), 0u);
  auto early = b->CollectGarbage(false);
  ASSERT_TRUE(early.ok());
  if (early->leases_revoked == 0) {
    EXPECT_EQ(early->reclaimed_objects, 0u);  // still within its lease
    std::this_thread::sleep_for(std::chrono::milliseconds(500));
  }
  auto gc = b->CollectGarbage(false);
  ASSERT_TRUE(gc.ok()) << gc.status().ToString();
  EXPECT_EQ(CountObjects(), 0u);
  EXPECT_EQ(early->leases_revoked + gc->leases_revoked, 1u);
}

TEST_F(SharedStoreTest, CommitAfterItsLeaseWasRevokedFails) {
  InitTwo();
  auto a = Open("a");
  ASSERT_TRUE(a);
  auto w = a->BeginPut(PutOptions{});
  ASSERT_TRUE(w.ok());
  AIFS_ASSERT_OK((*w)->Write(RandomBytes(200'000, 4)));
  // What gc does to a server that stalled past its lease: revoke it.
  auto meta = OpenMetaStore(meta_url_, {});
  ASSERT_TRUE(meta.ok());
  AIFS_ASSERT_OK((*meta)->DeleteRange("wl/", PrefixEnd("wl/")));
  AIFS_EXPECT_STATUS((*w)->Commit().status(), kAborted, "LEASE_LOST");
  // The server goes on with a new lease.
  auto put = PutBytes(*a, RandomBytes(200'000, 5));
  AIFS_EXPECT_OK(put.status());
}

TEST_F(SharedStoreTest, SnapshotBeingBuiltHoldsWhatIsRetiredMeanwhile) {
  InitTwo();
  auto a = Open("a");
  auto b = Open("b");
  ASSERT_TRUE(a && b);
  auto put = PutBytes(*a, RandomBytes(100'000, 6));
  ASSERT_TRUE(put.ok());
  // A snapshot on another server that has closed its generation and not yet
  // committed (or died there): gc must not release what it may hold.
  auto meta = OpenMetaStore(meta_url_, {});
  ASSERT_TRUE(meta.ok());
  store::v1::SnapshotCursor building;
  building.set_building(true);
  auto txn = (*meta)->Begin();
  AIFS_ASSERT_OK(PutRecord(*txn, keys::SnapshotCursor("default"), building));
  AIFS_ASSERT_OK(txn->Commit());
  AIFS_ASSERT_OK(b->DeleteAsset("default", put->asset.id));
  auto gc = b->CollectGarbage(false);
  ASSERT_TRUE(gc.ok()) << gc.status().ToString();
  EXPECT_EQ(gc->assets_released, 0u);
  // The next snapshot finishes the interrupted one; afterwards the asset
  // (not in any snapshot: it was removed) goes.
  auto snap = a->CreateSnapshot("default", {});
  ASSERT_TRUE(snap.ok()) << snap.status().ToString();
  EXPECT_EQ(snap->count, 0u);
  auto later = b->CollectGarbage(false);
  ASSERT_TRUE(later.ok());
  EXPECT_EQ(later->assets_released, 1u);
}

TEST_F(SharedStoreTest, SnapshotsOnTwoServersTakeTurns) {
  InitTwo();
  auto a = Open("a");
  auto b = Open("b");
  ASSERT_TRUE(a && b);
  std::atomic<bool> stop{false};
  std::thread putter([&] {
    for (uint64_t i = 0; !stop; ++i) (void)PutBytes(*a, RandomBytes(5'000, 100 + i));
  });
  std::vector<SnapshotId> made;
  std::mutex mu;
  auto snapper = [&](Engine& e) {
    for (int i = 0; i < 5; ++i) {
      auto s = e.CreateSnapshot("default", {});
      ASSERT_TRUE(s.ok()) << s.status().ToString();
      std::lock_guard lock(mu);
      made.push_back(s->id);
    }
  };
  std::thread ta(snapper, std::ref(*a)), tb(snapper, std::ref(*b));
  ta.join();
  tb.join();
  stop = true;
  putter.join();
  EXPECT_EQ(made.size(), 10u);
  // Every asset committed is in the last snapshot after one more.
  auto last = b->CreateSnapshot("default", {});
  ASSERT_TRUE(last.ok());
  auto ns = a->GetNamespace("default");
  ASSERT_TRUE(ns.ok());
  EXPECT_EQ(last->count, ns->asset_count);
}

// Every put rewrites its namespace's record, so concurrent puts conflict.
// Within one server they take turns (NamespaceTurns) instead of retrying;
// puts of two servers at once still conflict and retry, and all succeed.
TEST_F(SharedStoreTest, PutsOfOneServerTakeTurnsWhileTwoServersRetry) {
  InitTwo();
  auto a = Open("a");
  auto b = Open("b");
  ASSERT_TRUE(a && b);
  auto burst = [](Engine& e, int threads, int puts, uint64_t seed) {
    std::vector<std::thread> workers;
    std::atomic<int> failed{0};
    for (int t = 0; t < threads; ++t)
      workers.emplace_back([&, t] {
        for (int i = 0; i < puts; ++i)
          if (!PutBytes(e, RandomBytes(2000, seed + 1000 * t + i)).ok()) ++failed;
      });
    for (auto& w : workers) w.join();
    return failed.load();
  };
  const uint64_t before = a->store().meta->conflicts_retried();
  EXPECT_EQ(burst(*a, 8, 15, 1), 0);
  EXPECT_EQ(a->store().meta->conflicts_retried(), before) << "puts of one server conflicted";

  int failed_b = 0;
  std::thread on_b([&] { failed_b = burst(*b, 4, 15, 500000); });
  EXPECT_EQ(burst(*a, 4, 15, 900000), 0);
  on_b.join();
  EXPECT_EQ(failed_b, 0);
  auto ns = b->GetNamespace("default");
  ASSERT_TRUE(ns.ok());
  EXPECT_EQ(ns->asset_count, 8u * 15 + 2 * 4 * 15);
  RecordProperty(
      "conflicts_retried_two_servers",
      std::to_string(a->store().meta->conflicts_retried() + b->store().meta->conflicts_retried()));
}

// Polls `admit` until it fails with `reason` (at most 10 s); returns the
// seconds it took, or -1 if it never did.
template <typename Admit>
double SecondsUntilRefused(Admit admit, const std::string& reason) {
  const auto t0 = std::chrono::steady_clock::now();
  while (std::chrono::steady_clock::now() - t0 < std::chrono::seconds(10)) {
    auto got = admit();
    if (!got.ok() && got.status().reason() == reason)
      return std::chrono::duration<double>(std::chrono::steady_clock::now() - t0).count();
    std::this_thread::sleep_for(std::chrono::milliseconds(20));
  }
  return -1;
}

// Each server keeps root keys and the revoked token IDs in memory; a
// revocation through one reaches the other (CacheGeneration, within 1 s),
// though the other had just used the token and its key.
TEST_F(SharedStoreTest, RevocationsThroughOneServerReachTheOther) {
  InitTwo();
  auto a = Open("a");
  auto b = Open("b");
  ASSERT_TRUE(a && b);
  auto first = a->RotateTokenRoot({});
  ASSERT_TRUE(first.ok());
  auto leaked = a->MintToken({});
  auto kept = a->MintToken({"ops = get"});
  ASSERT_TRUE(leaked.ok() && kept.ok());
  AIFS_ASSERT_OK(b->Admit(*leaked).status());
  AIFS_ASSERT_OK(b->Admit(*kept).status());

  AIFS_ASSERT_OK(a->RevokeToken(*leaked));
  const double token_s = SecondsUntilRefused([&] { return b->Admit(*leaked); }, "TOKEN_REVOKED");
  EXPECT_GE(token_s, 0) << "server b still admits a token revoked through a";
  AIFS_EXPECT_OK(b->Admit(*kept).status());  // only that token

  auto r2 = a->RotateTokenRoot({});
  ASSERT_TRUE(r2.ok());
  AIFS_ASSERT_OK(a->RevokeTokenRoot(first->key_id));
  const double key_s = SecondsUntilRefused([&] { return b->Admit(*kept); }, "KEY_REVOKED");
  EXPECT_GE(key_s, 0) << "server b still admits a token of a root key revoked through a";
  AIFS_EXPECT_OK(b->Admit(r2->token).status());
  RecordProperty("token_revocation_seen_after_s", std::to_string(token_s));
  RecordProperty("key_revocation_seen_after_s", std::to_string(key_s));
}

// The last live root key stays live even when two servers each revoke one of
// the last two at the same moment: the check and the write are one
// transaction over every key record.
TEST_F(SharedStoreTest, TwoServersCannotRevokeTheLastTwoRootKeysBetweenThem) {
  InitTwo();
  auto a = Open("a");
  auto b = Open("b");
  ASSERT_TRUE(a && b);
  for (int round = 0; round < 5; ++round) {
    std::vector<std::string> live;  // rotated until two keys are live
    for (;;) {
      auto ring = a->ListTokenKeys();
      ASSERT_TRUE(ring.ok());
      live.clear();
      for (const auto& k : ring->keys)
        if (!k.revoked) live.push_back(k.id);
      if (live.size() >= 2) break;
      AIFS_ASSERT_OK(a->RotateTokenRoot({}).status());
    }
    ASSERT_EQ(live.size(), 2u);
    Status by_a, by_b;
    std::thread ta([&] { by_a = a->RevokeTokenRoot(live[0]); });
    std::thread tb([&] { by_b = b->RevokeTokenRoot(live[1]); });
    ta.join();
    tb.join();
    EXPECT_NE(by_a.ok(), by_b.ok()) << by_a.ToString() << " / " << by_b.ToString();
    const Status& refused = by_a.ok() ? by_b : by_a;
    EXPECT_EQ(refused.reason(), "LAST_ROOT_KEY") << refused.ToString();
  }
}

}  // namespace
}  // namespace aifs::test
