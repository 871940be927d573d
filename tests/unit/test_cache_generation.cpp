// CacheGeneration over every backend: on a store one process owns nothing is
// ever stale; on a shared one (PostgreSQL, two stores on one schema standing
// for two servers) a bump by either is seen by the other once its recheck
// time has passed, and not before.
#include <gtest/gtest.h>

#include <thread>

#include "aifs/meta/cache_generation.h"
#include "meta_backends.h"

namespace aifs::test {
namespace {

using CacheGenerationTest = MetaBackendTest;
INSTANTIATE_TEST_SUITE_P(Backends, CacheGenerationTest, AIFS_META_BACKENDS, BackendName);

Status BumpIn(MetaStore& m, CacheGeneration& g) {
  return RunTransaction(m, [&](MetaTxn& txn) { return g.Bump(txn); });
}

bool IsStale(CacheGeneration& g) {
  auto s = g.Stale();
  EXPECT_TRUE(s.ok()) << s.status().ToString();
  return s.ok() && *s;
}

TEST_P(CacheGenerationTest, ABumpElsewhereIsSeenAfterTheRecheckTime) {
  auto m = Open();
  ASSERT_TRUE(m);
  if (!postgres()) {
    // One writer process: it made every change itself.
    CacheGeneration g(*m, "t/", std::chrono::milliseconds(0));
    EXPECT_FALSE(IsStale(g));
    AIFS_ASSERT_OK(BumpIn(*m, g));
    EXPECT_FALSE(IsStale(g));
    return;
  }
  auto other_server = Open({});
  ASSERT_TRUE(other_server);
  CacheGeneration mine(*m, "t/", std::chrono::milliseconds(0));
  CacheGeneration theirs(*other_server, "t/", std::chrono::milliseconds(0));
  EXPECT_TRUE(IsStale(mine));  // nothing read yet: whatever is cached is unproven
  EXPECT_FALSE(IsStale(mine));
  AIFS_ASSERT_OK(BumpIn(*other_server, theirs));
  EXPECT_TRUE(IsStale(mine));
  EXPECT_FALSE(IsStale(mine));
  AIFS_ASSERT_OK(BumpIn(*other_server, theirs));
  AIFS_ASSERT_OK(BumpIn(*other_server, theirs));
  EXPECT_TRUE(IsStale(mine));  // two bumps between reads: stale once
  EXPECT_FALSE(IsStale(mine));

  // Another name is another counter.
  CacheGeneration other_name(*m, "u/", std::chrono::milliseconds(0));
  EXPECT_TRUE(IsStale(other_name));
  AIFS_ASSERT_OK(BumpIn(*other_server, theirs));
  EXPECT_FALSE(IsStale(other_name));

  // Within the recheck time nothing is read: the bump waits for the next read.
  CacheGeneration slow(*m, "t/", std::chrono::hours(1));
  EXPECT_TRUE(IsStale(slow));
  AIFS_ASSERT_OK(BumpIn(*other_server, theirs));
  EXPECT_FALSE(IsStale(slow));
}

TEST_P(CacheGenerationTest, DamagedCounterIsDataLoss) {
  auto m = Open();
  ASSERT_TRUE(m);
  AIFS_ASSERT_OK(RunTransaction(*m, [](MetaTxn& txn) { return txn.Put("cg/t/", "12x"); }));
  CacheGeneration g(*m, "t/");
  AIFS_EXPECT_STATUS(BumpIn(*m, g), kDataLoss, "BAD_CACHE_GENERATION");
}

}  // namespace
}  // namespace aifs::test
