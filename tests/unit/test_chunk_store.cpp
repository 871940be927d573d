// The ChunkStore contract (chunk_store.h), one suite over every backend.
// Backend-specific cases: test_storage.cpp (file://), test_rados_chunk_store.cpp.
#include <gtest/gtest.h>

#include <array>
#include <functional>
#include <map>
#include <mutex>
#include <string>
#include <thread>
#include <vector>

#include "aifs/core/hex.h"
#include "aifs/core/random.h"
#include "aifs/storage/chunk_store.h"
#include "ceph_test_cluster.h"
#include "test_util.h"

namespace aifs::test {
namespace {

// The suite's backends: a name and the URL of a fresh, empty store (empty
// when the backend cannot run here: the test is skipped with `why`).
// Adding a backend is one line.
struct ChunkBackend {
  std::string name;
  std::function<std::string(const TempDir& dir, std::string& why)> url;
};

const std::vector<ChunkBackend>& ChunkBackends() {
  static const std::vector<ChunkBackend> backends = {
      {"file", [](const TempDir& dir, std::string&) { return "file://" + dir.Sub("chunks"); }},
      {"rados",
       [](const TempDir&, std::string& why) {
         why = "no Ceph cluster (scripts/ceph-up.sh could not start one)";
         return CephTestCluster::Shared().NewRadosUrl();
       }},
      {"s3",
       [](const TempDir&, std::string& why) -> std::string {
         why = "no radosgw (scripts/ceph-up.sh --rgw could not start one)";
         const CephTestCluster& c = CephTestCluster::Shared();
         if (c.S3Endpoint().empty()) return "";
         // A fresh bucket per test: no test sees another's objects.
         std::array<uint8_t, 6> r;
         if (!SecureRandom(r).ok()) return "";
         return "s3://aifs-t" + HexEncode(r) + "?endpoint=" + c.S3Endpoint() +
                "&credentials=" + c.S3CredentialsFile();
       }},
  };
  return backends;
}

std::vector<std::string> BackendNames() {
  std::vector<std::string> names;
  for (const auto& b : ChunkBackends()) names.push_back(b.name);
  return names;
}

std::string ObjectName(uint64_t seed, size_t hex_chars = 32) {
  return HexEncode(RandomBytes(hex_chars / 2, seed));
}

class ChunkStoreTest : public ::testing::TestWithParam<std::string> {
 protected:
  void SetUp() override {
    for (const auto& b : ChunkBackends()) {
      if (b.name != GetParam()) continue;
      std::string why;
      url_ = b.url(dir_, why);
      if (url_.empty()) GTEST_SKIP() << why;
    }
    ASSERT_FALSE(url_.empty()) << "unknown backend " << GetParam();
    store_ = Open(true);
    ASSERT_NE(store_, nullptr);
  }
  std::unique_ptr<ChunkStore> Open(bool create) {
    auto cs = OpenChunkStore(url_, create);
    EXPECT_TRUE(cs.ok()) << url_ << ": " << cs.status().ToString();
    return cs.ok() ? std::move(cs).value() : nullptr;
  }
  std::map<std::string, uint64_t> ListAll() {
    std::map<std::string, uint64_t> listed;
    Status st = store_->List([&](const std::string& name, uint64_t size) {
      EXPECT_TRUE(listed.emplace(name, size).second) << "listed twice: " << name;
      return true;
    });
    EXPECT_TRUE(st.ok()) << st.ToString();
    return listed;
  }
  // Runs fn(thread index) on `n` threads at once.
  static void OnThreads(int n, const std::function<void(int)>& fn) {
    std::vector<std::thread> threads;
    for (int t = 0; t < n; ++t) threads.emplace_back(fn, t);
    for (auto& t : threads) t.join();
  }

  TempDir dir_;
  std::string url_;
  std::unique_ptr<ChunkStore> store_;
};

TEST_P(ChunkStoreTest, PutGetDeleteList) {
  ChunkStore& store = *store_;
  EXPECT_EQ(store.Url(), url_);
  std::map<std::string, Bytes> objects;
  for (int i = 0; i < 20; ++i) {
    std::string name = ObjectName(1000 + i);
    objects[name] = RandomBytes(static_cast<size_t>(i) * 997, 2000 + i);  // includes empty
    AIFS_ASSERT_OK(store.Put(name, objects[name]));
  }
  AIFS_ASSERT_OK(store.Sync());
  for (const auto& [name, data] : objects) {
    Bytes out = {1, 2, 3};
    AIFS_ASSERT_OK(store.Get(name, out));
    EXPECT_EQ(out, data) << name;
  }
  auto listed = ListAll();
  ASSERT_EQ(listed.size(), objects.size());
  for (const auto& [name, data] : objects) EXPECT_EQ(listed[name], data.size()) << name;

  // List stops early.
  size_t visited = 0;
  AIFS_ASSERT_OK(store.List([&](const std::string&, uint64_t) { return ++visited < 3; }));
  EXPECT_EQ(visited, 3u);

  // Delete: gone, deleting again is fine, others stay.
  const std::string victim = objects.begin()->first;
  AIFS_ASSERT_OK(store.Delete(victim));
  AIFS_ASSERT_OK(store.Delete(victim));
  Bytes out;
  AIFS_EXPECT_STATUS(store.Get(victim, out), kNotFound, "CHUNK_MISSING");
  EXPECT_EQ(ListAll().size(), objects.size() - 1);
  for (auto it = std::next(objects.begin()); it != objects.end(); ++it) {
    AIFS_ASSERT_OK(store.Get(it->first, out));
    EXPECT_EQ(out, it->second);
  }

  // Reopen without create sees the same objects.
  store_.reset();
  auto again = Open(false);
  ASSERT_NE(again, nullptr);
  AIFS_ASSERT_OK(again->Get(std::next(objects.begin())->first, out));
  EXPECT_EQ(out, std::next(objects.begin())->second);
}

// Objects of very different sizes, read in an order where each is larger or
// smaller than the one before (a backend may size its first read by the last).
TEST_P(ChunkStoreTest, GetsObjectsOfEverySize) {
  const std::vector<size_t> sizes = {1, 3 << 20, 0, 65535, 300 << 10, 7, (1 << 20) + 1, 64 << 10};
  std::vector<std::pair<std::string, Bytes>> objects;
  for (size_t i = 0; i < sizes.size(); ++i) {
    objects.emplace_back(ObjectName(3000 + i), RandomBytes(sizes[i], 4000 + i));
    AIFS_ASSERT_OK(store_->Put(objects.back().first, objects.back().second));
  }
  for (int round = 0; round < 2; ++round) {
    for (const auto& [name, data] : objects) {
      Bytes out(5, 9);
      AIFS_ASSERT_OK(store_->Get(name, out));
      EXPECT_EQ(out.size(), data.size());
      EXPECT_TRUE(out == data) << name << " of " << data.size() << " bytes";
    }
  }
}

TEST_P(ChunkStoreTest, MissingObjectIsChunkMissing) {
  Bytes out;
  const std::string name = "0123456789abcdef0123456789abcdef";
  AIFS_EXPECT_STATUS(store_->Get(name, out), kNotFound, "CHUNK_MISSING");
  AIFS_EXPECT_STATUS(store_->GetRange(name, 0, 10, out), kNotFound, "CHUNK_MISSING");
  AIFS_EXPECT_STATUS(store_->GetRange(name, 0, 0, out), kNotFound, "CHUNK_MISSING");
  AIFS_EXPECT_OK(store_->Delete(name));
}

TEST_P(ChunkStoreTest, RejectsBadNames) {
  for (const std::string& bad :
       {std::string("short"), std::string("../../etc/passwd"), std::string("abcdefgh/ij"),
        std::string(".hiddenname"), std::string()}) {
    AIFS_EXPECT_STATUS(store_->Put(bad, AsBytes("x")), kInvalidArgument, "BAD_OBJECT_NAME") << bad;
    Bytes out;
    AIFS_EXPECT_STATUS(store_->Get(bad, out), kInvalidArgument, "BAD_OBJECT_NAME") << bad;
  }
  EXPECT_TRUE(ListAll().empty());
}

// The engine's names are 32 hex digits today; longer ones must work too.
TEST_P(ChunkStoreTest, NamesOf32To64HexDigits) {
  std::map<std::string, Bytes> objects;
  for (size_t len : {32, 48, 64}) {
    const std::string name = ObjectName(5000 + len, len);
    ASSERT_EQ(name.size(), len);
    objects[name] = RandomBytes(len * 10, len);
    AIFS_ASSERT_OK(store_->Put(name, objects[name]));
  }
  auto listed = ListAll();
  ASSERT_EQ(listed.size(), objects.size());
  for (const auto& [name, data] : objects) {
    EXPECT_EQ(listed[name], data.size()) << name;
    Bytes out;
    AIFS_ASSERT_OK(store_->Get(name, out));
    EXPECT_EQ(out, data);
    AIFS_ASSERT_OK(store_->Delete(name));
  }
  EXPECT_TRUE(ListAll().empty());
}

// A retried put (same name, same bytes) succeeds and leaves one object.
TEST_P(ChunkStoreTest, PutAgainWithTheSameBytesIsOk) {
  const std::string name = ObjectName(6000);
  const Bytes data = RandomBytes(70000, 6001);
  AIFS_ASSERT_OK(store_->Put(name, data));
  AIFS_ASSERT_OK(store_->Put(name, data));
  const std::string empty_name = ObjectName(6002);
  AIFS_ASSERT_OK(store_->Put(empty_name, {}));
  AIFS_ASSERT_OK(store_->Put(empty_name, {}));
  Bytes out;
  AIFS_ASSERT_OK(store_->Get(name, out));
  EXPECT_EQ(out, data);
  EXPECT_EQ(ListAll(), (std::map<std::string, uint64_t>{{name, data.size()}, {empty_name, 0}}));
}

// GetRange and GetRandomRange (the same answers, read-ahead aside).
TEST_P(ChunkStoreTest, GetRangeEdges) {
  const std::string name = ObjectName(7000);
  const Bytes data = RandomBytes(1000, 7001);
  AIFS_ASSERT_OK(store_->Put(name, data));
  const std::string empty = ObjectName(7002);
  AIFS_ASSERT_OK(store_->Put(empty, {}));
  const std::string big = ObjectName(7003);
  const Bytes big_data = RandomBytes(3 << 20, 7004);
  AIFS_ASSERT_OK(store_->Put(big, big_data));
  auto slice = [&](size_t off, size_t len) {
    return Bytes(data.begin() + static_cast<ptrdiff_t>(off),
                 data.begin() + static_cast<ptrdiff_t>(off + len));
  };
  struct Case {
    uint64_t offset, length;
  };
  for (bool random : {false, true}) {
    SCOPED_TRACE(random ? "GetRandomRange" : "GetRange");
    auto get = [&](const std::string& n, uint64_t offset, uint64_t length, Bytes& out) {
      return random ? store_->GetRandomRange(n, offset, length, out)
                    : store_->GetRange(n, offset, length, out);
    };
    for (Case c : {Case{0, 0}, Case{0, 1}, Case{0, 1000}, Case{999, 1}, Case{1000, 0},
                   Case{500, 500}, Case{123, 456}}) {
      Bytes out(3, 7);
      AIFS_ASSERT_OK(get(name, c.offset, c.length, out)) << c.offset << "+" << c.length;
      EXPECT_EQ(out, slice(c.offset, c.length)) << c.offset << "+" << c.length;
    }
    for (Case c : {Case{1000, 1}, Case{1001, 0}, Case{999, 2}, Case{500, 501}, Case{0, 1001},
                   Case{5000, 10}}) {
      Bytes out;
      AIFS_EXPECT_STATUS(get(name, c.offset, c.length, out), kDataLoss, "CHUNK_TRUNCATED")
          << c.offset << "+" << c.length;
    }
    Bytes out(3, 7);
    AIFS_ASSERT_OK(get(empty, 0, 0, out));
    EXPECT_TRUE(out.empty());
    AIFS_EXPECT_STATUS(get(empty, 0, 1, out), kDataLoss, "CHUNK_TRUNCATED");
    // A range in the middle of a larger object.
    AIFS_ASSERT_OK(get(big, (1 << 20) + 17, 65536, out));
    EXPECT_TRUE(
        out == Bytes(big_data.begin() + (1 << 20) + 17, big_data.begin() + (1 << 20) + 17 + 65536));
    AIFS_EXPECT_STATUS(get(ObjectName(7005), 0, 10, out), kNotFound, "CHUNK_MISSING");
  }
}

// Puts and gets from 8 threads at once (the engine's pool threads do this).
TEST_P(ChunkStoreTest, ConcurrentPutsAndGetsFromEightThreads) {
  constexpr int kThreads = 8, kPerThread = 30;
  auto name_of = [](int t, int i) { return ObjectName(10000 + t * 1000 + i); };
  auto data_of = [](int t, int i) {
    return RandomBytes(static_cast<size_t>((t * 7919 + i * 104729) % (200 << 10)),
                       20000 + t * 1000 + i);
  };
  std::mutex mu;
  std::vector<std::string> failures;
  auto fail = [&](const std::string& what) {
    std::lock_guard lock(mu);
    failures.push_back(what);
  };
  OnThreads(kThreads, [&](int t) {
    for (int i = 0; i < kPerThread; ++i) {
      Status st = store_->Put(name_of(t, i), data_of(t, i));
      if (!st.ok()) fail("put: " + st.ToString());
      // Read back one of this thread's and one another thread may be writing.
      Bytes out;
      st = store_->Get(name_of(t, i / 2), out);
      if (!st.ok() || out != data_of(t, i / 2)) fail("get own: " + st.ToString());
      const int other = (t + 1) % kThreads;
      st = store_->Get(name_of(other, i), out);
      if (st.ok() && out != data_of(other, i)) fail("get other: different bytes");
      if (!st.ok() && st.reason() != "CHUNK_MISSING") fail("get other: " + st.ToString());
    }
  });
  ASSERT_TRUE(failures.empty()) << failures.size() << " failures, e.g. " << failures[0];
  OnThreads(kThreads, [&](int t) {
    for (int i = 0; i < kPerThread; ++i) {
      const int other = (t + 3) % kThreads;
      Bytes out;
      Status st = store_->Get(name_of(other, i), out);
      if (!st.ok() || out != data_of(other, i)) fail("get after: " + st.ToString());
    }
  });
  ASSERT_TRUE(failures.empty()) << failures.size() << " failures, e.g. " << failures[0];
  auto listed = ListAll();
  ASSERT_EQ(listed.size(), static_cast<size_t>(kThreads * kPerThread));
  for (int t = 0; t < kThreads; ++t)
    for (int i = 0; i < kPerThread; ++i) EXPECT_EQ(listed[name_of(t, i)], data_of(t, i).size());
}

// Thousands of objects, each listed once with its size.
TEST_P(ChunkStoreTest, ListsThousandsOfObjectsWithSizes) {
  constexpr int kObjects = 2100, kThreads = 8;
  std::vector<std::string> names(kObjects);
  for (int i = 0; i < kObjects; ++i) names[i] = ObjectName(100000 + i);
  std::atomic<int> failures{0};
  OnThreads(kThreads, [&](int t) {
    for (int i = t; i < kObjects; i += kThreads)
      if (!store_->Put(names[i], RandomBytes(static_cast<size_t>(i % 600), i)).ok()) ++failures;
  });
  ASSERT_EQ(failures.load(), 0);
  AIFS_ASSERT_OK(store_->Sync());
  auto listed = ListAll();
  ASSERT_EQ(listed.size(), static_cast<size_t>(kObjects));
  size_t wrong = 0;
  for (int i = 0; i < kObjects; ++i) wrong += listed[names[i]] != static_cast<uint64_t>(i % 600);
  EXPECT_EQ(wrong, 0u);
  OnThreads(kThreads, [&](int t) {
    for (int i = t; i < kObjects; i += kThreads)
      if (!store_->Delete(names[i]).ok()) ++failures;
  });
  EXPECT_EQ(failures.load(), 0);
  EXPECT_TRUE(ListAll().empty());
}

// ChunkStore::List promises fn(name, size) for every object. An object deleted
// while the listing runs may be skipped, but must not be reported with a size
// it never had (GC adds these sizes to orphan_bytes).
TEST_P(ChunkStoreTest, ListDuringDeleteReportsOnlyRealSizes) {
  std::vector<std::string> names;
  for (int i = 0; i < 300; ++i) {
    // Many in one file:// fan-out directory (same first four characters).
    std::string name = (i < 12 ? "abcd" : "") + HexEncode(RandomBytes(i < 12 ? 14 : 16, 500 + i));
    names.push_back(name);
    AIFS_ASSERT_OK(store_->Put(name, RandomBytes(1000, 600 + i)));
  }
  std::vector<std::pair<std::string, uint64_t>> seen;
  bool deleted = false;
  AIFS_ASSERT_OK(store_->List([&](const std::string& name, uint64_t size) {
    seen.emplace_back(name, size);
    if (!deleted) {  // another process deletes the others meanwhile
      deleted = true;
      for (const auto& n : names) {
        if (n != name) {
          EXPECT_TRUE(store_->Delete(n).ok());
        }
      }
    }
    return true;
  }));
  ASSERT_FALSE(seen.empty());
  size_t bogus = 0;
  std::string example;
  for (const auto& [name, size] : seen) {
    if (size != 1000u) {
      ++bogus;
      example = name + " reported with size " + std::to_string(size);
    }
  }
  EXPECT_EQ(bogus, 0u) << bogus << " of " << seen.size()
                       << " listed objects had sizes they never had, e.g. " << example;
  EXPECT_EQ(ListAll().size(), 1u);
}

// Space() is optional (nullopt: the backend cannot tell), but when known sane.
TEST_P(ChunkStoreTest, SpaceIsSaneWhenKnown) {
  const auto space = store_->Space();
  if (!space) return;
  EXPECT_GT(space->total, 0u);
  EXPECT_LE(space->available, space->total);
}

std::string BackendName(const ::testing::TestParamInfo<std::string>& info) { return info.param; }

INSTANTIATE_TEST_SUITE_P(Backends, ChunkStoreTest, ::testing::ValuesIn(BackendNames()),
                         BackendName);

}  // namespace
}  // namespace aifs::test
