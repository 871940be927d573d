// MetaStore, over every backend: transactions, scans, conflicts, batches,
// read-only mode; RocksDB's files and lock.
#include <gtest/gtest.h>

#include <atomic>
#include <map>
#include <thread>

#include "meta_backends.h"

namespace aifs::test {
namespace {

using MetaTest = MetaBackendTest;
INSTANTIATE_TEST_SUITE_P(Backends, MetaTest, AIFS_META_BACKENDS, BackendName);
// What only the embedded backend has: files, compaction, a directory lock.
using RocksMetaTest = MetaBackendTest;
INSTANTIATE_TEST_SUITE_P(Rocks, RocksMetaTest, ::testing::Values(std::string("rocksdb")),
                         BackendName);

TEST_P(MetaTest, PutGetDeleteInTransactions) {
  auto m = Open();
  ASSERT_TRUE(m);
  EXPECT_FALSE(m->read_only());
  EXPECT_EQ(Get(*m, "k1"), std::nullopt);

  {
    auto txn = m->Begin();
    AIFS_ASSERT_OK(txn->Put("k1", "v1"));
    AIFS_ASSERT_OK(txn->Put("k2", std::string("bin\0ary", 7)));
    // The transaction sees its own writes; nobody else does yet.
    auto own = txn->Get("k1");
    ASSERT_TRUE(own.ok());
    EXPECT_EQ(*own, std::optional<std::string>("v1"));
    EXPECT_EQ(Get(*m, "k1"), std::nullopt);
    AIFS_ASSERT_OK(txn->Commit());
  }
  EXPECT_EQ(Get(*m, "k1"), std::optional<std::string>("v1"));
  EXPECT_EQ(Get(*m, "k2"), std::optional<std::string>(std::string("bin\0ary", 7)));

  {
    auto txn = m->Begin();
    AIFS_ASSERT_OK(txn->Put("k1", "v1b"));
    AIFS_ASSERT_OK(txn->Delete("k2"));
    auto gone = txn->Get("k2");
    ASSERT_TRUE(gone.ok());
    EXPECT_EQ(*gone, std::nullopt);
    AIFS_ASSERT_OK(txn->Commit());
  }
  EXPECT_EQ(Get(*m, "k1"), std::optional<std::string>("v1b"));
  EXPECT_EQ(Get(*m, "k2"), std::nullopt);

  // Empty value is a value, not absence.
  AIFS_ASSERT_OK(PutOne(*m, "empty", ""));
  EXPECT_EQ(Get(*m, "empty"), std::optional<std::string>(""));

  // Deleting a missing key is fine.
  {
    auto txn = m->Begin();
    AIFS_ASSERT_OK(txn->Delete("never-was"));
    AIFS_ASSERT_OK(txn->Commit());
  }
}

TEST_P(MetaTest, UncommittedTransactionLeavesNothing) {
  auto m = Open();
  ASSERT_TRUE(m);
  {
    auto txn = m->Begin();
    AIFS_ASSERT_OK(txn->Put("a", "1"));
    AIFS_ASSERT_OK(txn->Put("b", "2"));
  }  // destroyed without Commit
  EXPECT_EQ(Get(*m, "a"), std::nullopt);
  EXPECT_EQ(Get(*m, "b"), std::nullopt);
  EXPECT_TRUE(ScanAll(*m, "", "").empty());
}

TEST_P(MetaTest, CommittedDataSurvivesReopen) {
  {
    auto m = Open();
    ASSERT_TRUE(m);
    for (int i = 0; i < 100; ++i)
      AIFS_ASSERT_OK(PutOne(*m, "key/" + std::to_string(i), "value" + std::to_string(i)));
  }
  auto m = Open({.create = false});
  ASSERT_TRUE(m);
  for (int i = 0; i < 100; ++i)
    EXPECT_EQ(Get(*m, "key/" + std::to_string(i)),
              std::optional<std::string>("value" + std::to_string(i)));
}

TEST_P(MetaTest, ScanOrderAndBounds) {
  auto m = Open();
  ASSERT_TRUE(m);
  // Bytewise order: uppercase < lowercase, "a" < "a\0" < "a/" < "aa", 0xff last.
  // Bytes >= 0x80 sort above ASCII (unsigned), a shorter key before its
  // extensions, embedded zeros like any byte.
  const std::vector<std::string> keys = {"b",
                                         "a",
                                         std::string("a\0", 2),
                                         "a/",
                                         "aa",
                                         "B",
                                         "ab",
                                         "abc",
                                         "\xff",
                                         "\xff\xff",
                                         "c/1",
                                         "c/2",
                                         "c0",
                                         "\x80",
                                         "\x7f",
                                         std::string("\0", 1),
                                         std::string("\0\0", 2),
                                         std::string("a\0b", 3),
                                         std::string("a\0\xff", 3),
                                         "a\x80",
                                         "a\xfe\x01"};
  {
    auto txn = m->Begin();
    for (const auto& k : keys) AIFS_ASSERT_OK(txn->Put(k, "v:" + k));
    AIFS_ASSERT_OK(txn->Commit());
  }
  std::map<std::string, std::string> oracle;  // std::string compares bytewise as unsigned char
  for (const auto& k : keys) oracle[k] = "v:" + k;

  auto all = ScanAll(*m, "", "");
  ASSERT_EQ(all.size(), keys.size());
  size_t i = 0;
  for (const auto& [k, v] : oracle) {
    EXPECT_EQ(all[i].first, k) << i;
    EXPECT_EQ(all[i].second, v) << i;
    ++i;
  }

  auto range = [&](std::string_view b, std::string_view e) {
    std::vector<std::string> want;
    for (const auto& [k, v] : oracle)
      if (k >= b && (e.empty() || k < e)) want.push_back(k);
    std::vector<std::string> got;
    for (const auto& [k, v] : ScanAll(*m, b, e)) got.push_back(k);
    EXPECT_EQ(got, want) << "[" << b << ", " << e << ")";
  };
  range("a", "b");    // end exclusive
  range("a", "ab");
  range("ab", "ab");  // empty
  range("c/", PrefixEnd("c/"));
  range("a", PrefixEnd("a"));
  range("\xff", "");
  range("zzz", "");
  range("", "a");

  // Early stop.
  int visited = 0;
  AIFS_ASSERT_OK(m->Scan("", "", [&](std::string_view, std::string_view) { return ++visited < 4; }));
  EXPECT_EQ(visited, 4);
}

TEST(PrefixEndTest, Values) {
  EXPECT_EQ(PrefixEnd("ab"), "ac");
  EXPECT_EQ(PrefixEnd("ns/"), "ns0");
  EXPECT_EQ(PrefixEnd("a\xff"), "b");
  EXPECT_EQ(PrefixEnd("a\xff\xff"), "b");
  EXPECT_EQ(PrefixEnd("\xff"), "");
  EXPECT_EQ(PrefixEnd("\xff\xff"), "");
  EXPECT_EQ(PrefixEnd(""), "");
  EXPECT_EQ(PrefixEnd(std::string("a\x7f", 2)), std::string("a\x80", 2));
  // Every key with the prefix sorts below PrefixEnd, nothing else in between.
  for (std::string p : {std::string("as/ns/"), std::string("x\xfe"), std::string("q")}) {
    const std::string e = PrefixEnd(p);
    for (std::string suffix : {std::string(""), std::string("\xff\xff\xff"), std::string("zz")})
      EXPECT_LT(p + suffix, e) << p;
  }
}

TEST_P(MetaTest, ReadWriteConflictAborts) {
  auto m = Open();
  ASSERT_TRUE(m);
  AIFS_ASSERT_OK(PutOne(*m, "k", "0"));

  auto a = m->Begin();
  auto read = a->Get("k");
  ASSERT_TRUE(read.ok());
  EXPECT_EQ(*read, std::optional<std::string>("0"));
  AIFS_ASSERT_OK(a->Put("k", "from-a"));
  AIFS_ASSERT_OK(a->Put("other", "from-a"));

  auto b = m->Begin();
  AIFS_ASSERT_OK(b->Put("k", "from-b"));
  AIFS_ASSERT_OK(b->Commit());

  AIFS_EXPECT_STATUS(a->Commit(), kAborted, "TXN_CONFLICT");
  // None of A's writes happened.
  EXPECT_EQ(Get(*m, "k"), std::optional<std::string>("from-b"));
  EXPECT_EQ(Get(*m, "other"), std::nullopt);
}

TEST_P(MetaTest, ReadOfMissingKeyConflictsWithItsCreation) {
  auto m = Open();
  ASSERT_TRUE(m);
  auto a = m->Begin();
  auto read = a->Get("slot");
  ASSERT_TRUE(read.ok());
  EXPECT_EQ(*read, std::nullopt);
  AIFS_ASSERT_OK(a->Put("slot", "a"));
  AIFS_ASSERT_OK(PutOne(*m, "slot", "b"));
  AIFS_EXPECT_STATUS(a->Commit(), kAborted, "TXN_CONFLICT");
  EXPECT_EQ(Get(*m, "slot"), std::optional<std::string>("b"));
}

TEST_P(MetaTest, WriteToUnreadKeysDoesNotConflict) {
  auto m = Open();
  ASSERT_TRUE(m);
  AIFS_ASSERT_OK(PutOne(*m, "x", "0"));
  auto a = m->Begin();
  auto read = a->Get("y");
  ASSERT_TRUE(read.ok());
  AIFS_ASSERT_OK(a->Put("z", "a"));
  AIFS_ASSERT_OK(PutOne(*m, "x", "b"));  // not read by A
  AIFS_EXPECT_OK(a->Commit());
  EXPECT_EQ(Get(*m, "z"), std::optional<std::string>("a"));
  EXPECT_EQ(Get(*m, "x"), std::optional<std::string>("b"));
}

TEST_P(MetaTest, RunTransactionRetriesConcurrentIncrements) {
  auto m = Open();
  ASSERT_TRUE(m);
  AIFS_ASSERT_OK(PutOne(*m, "counter", "0"));
  std::atomic<int> attempts{0};
  auto worker = [&] {
    for (int i = 0; i < 200; ++i) {
      Status st = RunTransaction(*m, [&](MetaTxn& txn) -> Status {
        attempts.fetch_add(1);
        AIFS_ASSIGN_OR_RETURN(auto v, txn.Get("counter"));
        if (!v) return err::Internal("MISSING", "counter missing");
        return txn.Put("counter", std::to_string(std::stoi(*v) + 1));
      });
      EXPECT_TRUE(st.ok()) << st.ToString();
    }
  };
  std::thread t1(worker), t2(worker);
  t1.join();
  t2.join();
  EXPECT_EQ(Get(*m, "counter"), std::optional<std::string>("400"));
  EXPECT_GE(attempts.load(), 400);
  std::cout << "REPORT meta-increment-retries: " << attempts.load() - 400
            << " retried attempts for 400 increments\n";
}

TEST_P(MetaTest, RunTransactionDoesNotRetryOtherErrorsAndIsBounded) {
  auto m = Open();
  ASSERT_TRUE(m);
  int calls = 0;
  Status st = RunTransaction(*m, [&](MetaTxn& txn) -> Status {
    ++calls;
    AIFS_RETURN_IF_ERROR(txn.Put("never", "x"));
    return err::NotFound("NOPE", "body failed");
  });
  AIFS_EXPECT_STATUS(st, kNotFound, "NOPE");
  EXPECT_EQ(calls, 1);
  EXPECT_EQ(Get(*m, "never"), std::nullopt) << "a failed body must not commit";

  calls = 0;
  st = RunTransaction(
      *m,
      [&](MetaTxn&) -> Status {
        ++calls;
        return err::Aborted("TXN_CONFLICT", "always");
      },
      std::chrono::milliseconds(300));
  AIFS_EXPECT_STATUS(st, kAborted, "TXN_CONFLICT");
  EXPECT_GT(calls, 1);
  EXPECT_LE(calls, 1000);
}

TEST_P(MetaTest, ReadOnlyOpenSeesCommittedDataAndRefusesWrites) {
  auto writer = Open();
  ASSERT_TRUE(writer);
  AIFS_ASSERT_OK(PutOne(*writer, "a", "1"));
  AIFS_ASSERT_OK(PutOne(*writer, "b", "2"));

  // Beside the running writer.
  auto ro = Open({.read_only = true});
  ASSERT_TRUE(ro);
  EXPECT_TRUE(ro->read_only());
  EXPECT_EQ(Get(*ro, "a"), std::optional<std::string>("1"));
  EXPECT_EQ(Get(*ro, "b"), std::optional<std::string>("2"));
  EXPECT_EQ(ScanAll(*ro, "", "").size(), 2u);

  auto txn = ro->Begin();
  ASSERT_TRUE(txn);
  AIFS_EXPECT_STATUS(txn->Put("c", "3"), kFailedPrecondition, "READ_ONLY_MODE");
  AIFS_EXPECT_STATUS(txn->Delete("a"), kFailedPrecondition, "READ_ONLY_MODE");
  AIFS_EXPECT_STATUS(txn->Commit(), kFailedPrecondition, "READ_ONLY_MODE");
  AIFS_EXPECT_STATUS(RunTransaction(*ro, [](MetaTxn& t) { return t.Put("c", "3"); }),
                     kFailedPrecondition, "READ_ONLY_MODE");
  EXPECT_EQ(Get(*writer, "c"), std::nullopt);
  EXPECT_EQ(Get(*writer, "a"), std::optional<std::string>("1"));

  // Also after the writer closed.
  ro.reset();
  writer.reset();
  auto ro2 = Open({.read_only = true});
  ASSERT_TRUE(ro2);
  EXPECT_EQ(Get(*ro2, "b"), std::optional<std::string>("2"));
}

// A following read-only open sees what the writer commits after it opened,
// also across a flush and a compaction (files the writer deletes).
TEST_P(RocksMetaTest, FollowingReadOnlyOpenSeesLaterCommits) {
  auto writer = Open();
  ASSERT_TRUE(writer);
  AIFS_ASSERT_OK(PutOne(*writer, "a", "1"));
  auto still = Open({.read_only = true});
  auto follower = Open({.read_only = true, .follow_writer = true});
  ASSERT_TRUE(still && follower);
  EXPECT_TRUE(follower->read_only());
  AIFS_ASSERT_OK(PutOne(*writer, "b", "2"));
  AIFS_ASSERT_OK(writer->Compact());  // flushes, rewrites every file, drops the old ones
  AIFS_ASSERT_OK(PutOne(*writer, "a", "3"));
  auto caught_up = [&] {
    return Get(*follower, "a") == std::optional<std::string>("3") &&
           Get(*follower, "b") == std::optional<std::string>("2");
  };
  for (int i = 0; i < 100 && !caught_up(); ++i)
    std::this_thread::sleep_for(std::chrono::milliseconds(50));
  EXPECT_TRUE(caught_up());
  EXPECT_EQ(ScanAll(*follower, "", "").size(), 2u);
  // A plain read-only open stays as of its opening.
  EXPECT_EQ(Get(*still, "a"), std::optional<std::string>("1"));
  EXPECT_EQ(Get(*still, "b"), std::nullopt);
  AIFS_EXPECT_STATUS(RunTransaction(*follower, [](MetaTxn& t) { return t.Put("c", "3"); }),
                     kFailedPrecondition, "READ_ONLY_MODE");
  EXPECT_EQ(Get(*writer, "c"), std::nullopt);
}

// Compact leaves no overwritten or deleted value in any file of the store.
// The values are random bytes, which RocksDB's block compression stores as
// they are, so a byte search of every file finds each one still there.
// Ranges larger than a backend's read-ahead page: every key once, in order.
TEST_P(MetaTest, LargeRangesScanDeleteAndLastKey) {
  auto m = Open();
  ASSERT_TRUE(m);
  std::map<std::string, std::string> oracle;
  auto key = [](int i) {
    std::string k = "big/" + std::to_string(i * 7919 % 100000);
    k.push_back(static_cast<char>(0x80 + i % 100));  // high bytes in every key
    return k;
  };
  {
    auto batch = m->NewBatch();
    for (int i = 0; i < 2500; ++i) {
      AIFS_ASSERT_OK(batch->Put(key(i), "v" + std::to_string(i)));
      oracle[key(i)] = "v" + std::to_string(i);
    }
    EXPECT_GT(batch->buffered_bytes(), 2500u * 6);
    AIFS_ASSERT_OK(batch->Write());
    EXPECT_EQ(batch->buffered_bytes(), 0u);
  }
  AIFS_ASSERT_OK(PutOne(*m, "after", "x"));
  auto all = ScanAll(*m, "big/", PrefixEnd("big/"));
  ASSERT_EQ(all.size(), oracle.size());
  EXPECT_TRUE(std::equal(all.begin(), all.end(), oracle.begin(), [](const auto& a, const auto& b) {
    return a.first == b.first && a.second == b.second;
  }));
  // Stops early at a page boundary and beyond.
  for (int stop : {1, 512, 513, 1700}) {
    int seen = 0;
    AIFS_ASSERT_OK(
        m->Scan("big/", "", [&](std::string_view, std::string_view) { return ++seen < stop; }));
    EXPECT_EQ(seen, stop);
  }
  auto last = m->LastKey("big/", PrefixEnd("big/"));
  ASSERT_TRUE(last.ok());
  EXPECT_EQ(*last, std::optional<std::string>(oracle.rbegin()->first));
  auto last_all = m->LastKey("", "");
  ASSERT_TRUE(last_all.ok());
  EXPECT_EQ(*last_all, std::optional<std::string>(oracle.rbegin()->first));
  auto none = m->LastKey("c", "d");
  ASSERT_TRUE(none.ok());
  EXPECT_EQ(*none, std::nullopt);

  // Half of the range goes; the rest and the neighbours stay.
  const std::string mid = std::next(oracle.begin(), 1250)->first;
  AIFS_ASSERT_OK(m->DeleteRange("big/", mid));
  oracle.erase(oracle.begin(), oracle.find(mid));
  all = ScanAll(*m, "", "");
  ASSERT_EQ(all.size(), oracle.size() + 1);
  EXPECT_EQ(all[0].first, "after");  // sorts before "big/"
  EXPECT_EQ(all[1].first, mid);
  EXPECT_EQ(all.back().first, oracle.rbegin()->first);
  EXPECT_EQ(Get(*m, "after"), std::optional<std::string>("x"));
}

TEST_P(MetaTest, BatchWritesLastValueOfEachKey) {
  auto m = Open();
  ASSERT_TRUE(m);
  auto batch = m->NewBatch();
  AIFS_ASSERT_OK(batch->Put("k", "1"));
  AIFS_ASSERT_OK(batch->Put("k", "2"));
  AIFS_ASSERT_OK(batch->Put(std::string("z\0\xff", 3), std::string("\0v\x80", 3)));
  EXPECT_EQ(Get(*m, "k"), std::nullopt) << "nothing before Write";
  AIFS_ASSERT_OK(batch->Write());
  EXPECT_EQ(Get(*m, "k"), std::optional<std::string>("2"));
  EXPECT_EQ(Get(*m, std::string("z\0\xff", 3)),
            std::optional<std::string>(std::string("\0v\x80", 3)));
  AIFS_ASSERT_OK(batch->Put("k", "3"));  // the batch is reused
  AIFS_ASSERT_OK(batch->Write());
  EXPECT_EQ(Get(*m, "k"), std::optional<std::string>("3"));
  AIFS_ASSERT_OK(batch->Write());  // empty: nothing to do
}

// ScanBulk reads large ranges in pages (PostgreSQL: 8,192 keys, the next
// fetched while the current one is visited): every key once, in order, only
// inside the range, and nothing after the visitor stops.
TEST_P(MetaTest, ScanBulkVisitsEveryKeyOfTheRangeOnceInOrder) {
  auto m = Open();
  ASSERT_TRUE(m);
  constexpr int kKeys = 20000;  // more than two pages
  auto key = [](int i) {
    char buf[16];
    std::snprintf(buf, sizeof buf, "b/%06d", i);
    return std::string(buf);
  };
  for (int from = 0; from < kKeys; from += 5000)
    AIFS_ASSERT_OK(RunTransaction(*m, [&](MetaTxn& txn) -> Status {
      for (int i = from; i < from + 5000; ++i) AIFS_RETURN_IF_ERROR(txn.Put(key(i), "v" + key(i)));
      return Status::Ok();
    }));
  AIFS_ASSERT_OK(PutOne(*m, "a", "before"));
  AIFS_ASSERT_OK(PutOne(*m, "c", "after"));
  auto scan = [&](std::string_view begin, std::string_view end, size_t stop_after) {
    std::vector<std::string> seen;
    AIFS_EXPECT_OK(m->ScanBulk(begin, end, [&](std::string_view k, std::string_view v) {
      EXPECT_EQ(v, "v" + std::string(k));
      seen.emplace_back(k);
      return seen.size() < stop_after;
    }));
    return seen;
  };
  std::vector<std::string> all;
  for (int i = 0; i < kKeys; ++i) all.push_back(key(i));
  EXPECT_EQ(scan("b/", "b0", SIZE_MAX), all);
  const std::vector<std::string> middle(all.begin() + 8000, all.begin() + 17000);
  EXPECT_EQ(scan(key(8000), key(17000), SIZE_MAX), middle);
  const std::vector<std::string> first(all.begin(), all.begin() + 9000);
  EXPECT_EQ(scan("b/", "b0", 9000), first);
  EXPECT_TRUE(scan("b0", "b1", SIZE_MAX).empty());
}

// Store-wide locks: one holder at a time, a bounded wait, release on
// destruction. On PostgreSQL two stores opened on the same schema stand for
// two servers.
TEST_P(MetaTest, LockIsHeldByOneAtATimeAndReleasedWhenDropped) {
  auto m = Open();
  ASSERT_TRUE(m);
  std::unique_ptr<MetaStore> other_server;
  MetaStore* other = m.get();
  if (postgres()) {
    other_server = Open({});
    ASSERT_TRUE(other_server);
    other = other_server.get();
  }
  auto held = m->Lock("snapshots/default", std::chrono::milliseconds(100));
  ASSERT_TRUE(held.ok()) << held.status().ToString();
  AIFS_EXPECT_STATUS(other->Lock("snapshots/default", std::chrono::milliseconds(50)).status(),
                     kAborted, "LOCK_TIMEOUT");
  auto unrelated = other->Lock("snapshots/other", std::chrono::milliseconds(50));
  AIFS_EXPECT_OK(unrelated.status());
  // A waiter gets the lock as soon as it is released.
  std::thread releaser([&] {
    std::this_thread::sleep_for(std::chrono::milliseconds(100));
    held->reset();
  });
  auto next = other->Lock("snapshots/default", std::chrono::seconds(20));
  releaser.join();
  AIFS_EXPECT_OK(next.status());
}

TEST_P(MetaTest, MissingStoreIsNotCreatedWithoutCreate) {
  auto missing = OpenMetaStore(Url(), {.create = false});
  EXPECT_FALSE(missing.ok());
  auto m = Open();
  ASSERT_TRUE(m);
  AIFS_ASSERT_OK(PutOne(*m, "a", "1"));
  m.reset();
  m = Open({.create = false});
  ASSERT_TRUE(m);
  EXPECT_EQ(Get(*m, "a"), std::optional<std::string>("1"));
}

TEST_P(RocksMetaTest, CompactLeavesNoOldValueInAnyFile) {
  auto m = Open();
  ASSERT_TRUE(m);
  auto value = [](uint64_t seed) {
    const Bytes b = RandomBytes(3000, seed);
    return std::string(AsChars(b));
  };
  const std::string old = value(1), gone = value(2), kept = value(3), fresh = value(4);
  AIFS_ASSERT_OK(PutOne(*m, "a", old));
  AIFS_ASSERT_OK(PutOne(*m, "b", gone));
  AIFS_ASSERT_OK(m->Compact());  // both now in an SST file
  AIFS_ASSERT_OK(PutOne(*m, "a", kept));
  AIFS_ASSERT_OK(RunTransaction(*m, [](MetaTxn& t) { return t.Delete("b"); }));
  AIFS_ASSERT_OK(PutOne(*m, "c", fresh));
  EXPECT_FALSE(FilesContaining(dir_.path(), old).empty()) << "the control: the old value is there";
  EXPECT_FALSE(FilesContaining(dir_.path(), gone).empty());

  AIFS_ASSERT_OK(m->Compact());
  EXPECT_EQ(FilesContaining(dir_.path(), old), std::vector<std::string>{});
  EXPECT_EQ(FilesContaining(dir_.path(), gone), std::vector<std::string>{});
  EXPECT_FALSE(FilesContaining(dir_.path(), kept).empty());
  EXPECT_FALSE(FilesContaining(dir_.path(), fresh).empty());
  EXPECT_EQ(Get(*m, "a"), std::optional<std::string>(kept));
  EXPECT_EQ(Get(*m, "b"), std::nullopt);
  // Writes go on after it, and it is what reopening finds.
  AIFS_ASSERT_OK(PutOne(*m, "d", "after"));
  m.reset();
  auto ro = Open({.read_only = true});
  ASSERT_TRUE(ro);
  EXPECT_EQ(Get(*ro, "c"), std::optional<std::string>(fresh));
  EXPECT_EQ(Get(*ro, "d"), std::optional<std::string>("after"));
  AIFS_EXPECT_STATUS(ro->Compact(), kFailedPrecondition, "READ_ONLY_MODE");
}

TEST_P(RocksMetaTest, SecondWriterIsRefusedAndMissingStoreIsAnError) {
  auto m = Open();
  ASSERT_TRUE(m);
  auto second = OpenMetaStore(Url(), {.create = true});
  ASSERT_FALSE(second.ok());
  AIFS_EXPECT_STATUS(second.status(), kUnavailable, "DATA_DIR_LOCKED");

  auto missing = OpenMetaStore("rocksdb://" + dir_.Sub("nothing"), {});
  EXPECT_FALSE(missing.ok());
  EXPECT_FALSE(std::filesystem::exists(dir_.Sub("nothing/CURRENT")));
  AIFS_EXPECT_STATUS(OpenMetaStore("etcd://x", {}).status(), kInvalidArgument,
                     "UNSUPPORTED_META_STORE");
}

}  // namespace
}  // namespace aifs::test
