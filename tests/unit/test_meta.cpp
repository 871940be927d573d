// MetaStore (RocksDB backend): transactions, scans, conflicts, read-only mode.
#include <gtest/gtest.h>

#include <atomic>
#include <map>
#include <thread>

#include "aifs/meta/meta_store.h"
#include "test_util.h"

namespace aifs::test {
namespace {

class MetaTest : public ::testing::Test {
 protected:
  std::string Url() const { return "rocksdb://" + dir_.Sub("meta"); }
  std::unique_ptr<MetaStore> Open(MetaOpenOptions o = {.create = true}) {
    auto m = OpenMetaStore(Url(), o);
    EXPECT_TRUE(m.ok()) << m.status().ToString();
    return m.ok() ? std::move(m).value() : nullptr;
  }
  static std::optional<std::string> Get(MetaStore& m, std::string_view key) {
    auto r = m.Get(key);
    EXPECT_TRUE(r.ok()) << r.status().ToString();
    return r.ok() ? *r : std::nullopt;
  }
  static Status PutOne(MetaStore& m, std::string_view k, std::string_view v) {
    auto txn = m.Begin();
    AIFS_RETURN_IF_ERROR(txn->Put(k, v));
    return txn->Commit();
  }
  static std::vector<std::pair<std::string, std::string>> ScanAll(MetaStore& m,
                                                                  std::string_view begin,
                                                                  std::string_view end) {
    std::vector<std::pair<std::string, std::string>> out;
    Status st = m.Scan(begin, end, [&](std::string_view k, std::string_view v) {
      out.emplace_back(std::string(k), std::string(v));
      return true;
    });
    EXPECT_TRUE(st.ok()) << st.ToString();
    return out;
  }
  TempDir dir_;
};

TEST_F(MetaTest, PutGetDeleteInTransactions) {
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

TEST_F(MetaTest, UncommittedTransactionLeavesNothing) {
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

TEST_F(MetaTest, CommittedDataSurvivesReopen) {
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

TEST_F(MetaTest, ScanOrderAndBounds) {
  auto m = Open();
  ASSERT_TRUE(m);
  // Bytewise order: uppercase < lowercase, "a" < "a\0" < "a/" < "aa", 0xff last.
  const std::vector<std::string> keys = {"b",  "a",   std::string("a\0", 2), "a/", "aa", "B",
                                         "ab", "abc", "\xff", "\xff\xff", "c/1", "c/2", "c0"};
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

TEST_F(MetaTest, ReadWriteConflictAborts) {
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

TEST_F(MetaTest, ReadOfMissingKeyConflictsWithItsCreation) {
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

TEST_F(MetaTest, WriteToUnreadKeysDoesNotConflict) {
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

TEST_F(MetaTest, RunTransactionRetriesConcurrentIncrements) {
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

TEST_F(MetaTest, RunTransactionDoesNotRetryOtherErrorsAndIsBounded) {
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
  st = RunTransaction(*m, [&](MetaTxn&) -> Status {
    ++calls;
    return err::Aborted("TXN_CONFLICT", "always");
  });
  AIFS_EXPECT_STATUS(st, kAborted, "TXN_CONFLICT");
  EXPECT_GT(calls, 1);
  EXPECT_LE(calls, 1000);
}

TEST_F(MetaTest, ReadOnlyOpenSeesCommittedDataAndRefusesWrites) {
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
TEST_F(MetaTest, FollowingReadOnlyOpenSeesLaterCommits) {
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
TEST_F(MetaTest, CompactLeavesNoOldValueInAnyFile) {
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

TEST_F(MetaTest, SecondWriterIsRefusedAndMissingStoreIsAnError) {
  auto m = Open();
  ASSERT_TRUE(m);
  auto second = OpenMetaStore(Url(), {.create = true});
  ASSERT_FALSE(second.ok());
  AIFS_EXPECT_STATUS(second.status(), kUnavailable, "DATA_DIR_LOCKED");

  auto missing = OpenMetaStore("rocksdb://" + dir_.Sub("nothing"), {});
  EXPECT_FALSE(missing.ok());
  EXPECT_FALSE(std::filesystem::exists(dir_.Sub("nothing/CURRENT")));
  AIFS_EXPECT_STATUS(OpenMetaStore("postgres://x", {}).status(), kInvalidArgument,
                     "UNSUPPORTED_META_STORE");
}

}  // namespace
}  // namespace aifs::test
