// AssetRecordCache (engine/asset_record_cache.h): records served from memory
// only while the MetaStore's change stamp holds, so reads never see a record
// that was deleted or replaced; and the engine's reads through it.
#include <atomic>
#include <thread>

#include "aifs/engine/asset_record_cache.h"
#include "aifs/engine/store_context.h"
#include "test_util.h"

namespace aifs::test {
namespace {

class AssetRecordCacheTest : public EngineFixture {
 protected:
  void SetUp() override { InitStore(); }
  MetaStore& meta() { return *engine().store().meta; }
  // A loader that counts its calls and returns a record of `size` bytes.
  AssetRecordCache::Loader Counting(int& calls, uint64_t size) {
    return [&calls, size]() -> Result<store::v1::AssetRecord> {
      ++calls;
      store::v1::AssetRecord rec;
      rec.set_size(size);
      return rec;
    };
  }
  void WriteSomething(const std::string& key) {
    auto txn = meta().Begin();
    AIFS_ASSERT_OK(txn->Put(key, "x"));
    AIFS_ASSERT_OK(txn->Commit());
  }
};

TEST_F(AssetRecordCacheTest, ServesFromMemoryOnlyWhileNothingIsWritten) {
  ASSERT_TRUE(meta().ChangeStamp().has_value());  // RocksDB can tell
  AssetRecordCache cache(16);
  const AssetId id = IdOf(ToBytes("a"));
  int calls = 0;
  auto first = cache.Get(meta(), "default", id, Counting(calls, 1));
  ASSERT_TRUE(first.ok());
  auto second = cache.Get(meta(), "default", id, Counting(calls, 2));
  ASSERT_TRUE(second.ok());
  EXPECT_EQ(calls, 1);
  EXPECT_EQ((*second)->size(), 1u);
  // Another namespace is another record.
  ASSERT_TRUE(cache.Get(meta(), "other", id, Counting(calls, 3)).ok());
  EXPECT_EQ(calls, 2);
  // Any write, even of an unrelated key, makes every entry stale.
  WriteSomething("zz/unrelated");
  auto third = cache.Get(meta(), "default", id, Counting(calls, 4));
  ASSERT_TRUE(third.ok());
  EXPECT_EQ(calls, 3);
  EXPECT_EQ((*third)->size(), 4u);
  // An error is returned as it is, and nothing is kept.
  WriteSomething("zz/unrelated2");
  auto failed = cache.Get(meta(), "default", id, [&]() -> Result<store::v1::AssetRecord> {
    ++calls;
    return err::NotFound("ASSET_NOT_FOUND", "gone");
  });
  AIFS_EXPECT_STATUS(failed.status(), kNotFound, "ASSET_NOT_FOUND");
  ASSERT_TRUE(cache.Get(meta(), "default", id, Counting(calls, 5)).ok());
  EXPECT_EQ(calls, 5);
  // Bounded: many records later, the answers are still right.
  for (int i = 0; i < 200; ++i) {
    const AssetId other = IdOf(ToBytes("k" + std::to_string(i)));
    auto r = cache.Get(meta(), "default", other, Counting(calls, 100 + i));
    ASSERT_TRUE(r.ok());
    EXPECT_EQ((*r)->size(), 100u + i);
  }
  cache.Clear();
  const int before = calls;
  ASSERT_TRUE(cache.Get(meta(), "default", id, Counting(calls, 6)).ok());
  EXPECT_EQ(calls, before + 1);
}

TEST_F(AssetRecordCacheTest, ReadsNeverSeeADeletedOrReplacedRecord) {
  const Bytes data = RandomBytes(300000, 1);
  AssetId id = MustPut(data).asset.id;
  EXPECT_EQ(MustRead(id, "default", {10, 100}), Slice(data, 10, 100));
  AIFS_ASSERT_OK(engine().DeleteAsset("default", id));
  AIFS_EXPECT_STATUS(ReadBytes(engine(), "default", id, {10, 100}).status(), kNotFound,
                     "ASSET_NOT_FOUND");
  const RangeRead r{id, 0, 10};
  AIFS_EXPECT_STATUS(
      engine().ReadRanges("default", {&r, 1}, [](size_t, ByteSpan) { return Status::Ok(); }),
      kNotFound, "ASSET_NOT_FOUND");
  // Put again: readable again.
  id = MustPut(data).asset.id;
  EXPECT_EQ(MustRead(id, "default", {10, 100}), Slice(data, 10, 100));
}

// Readers of a hot asset while a writer deletes and puts it again and again:
// every read returns the right bytes or ASSET_NOT_FOUND, nothing else.
TEST_F(AssetRecordCacheTest, ReadersRacingDeletesSeeBytesOrNotFound) {
  const Bytes data = TextBytes(200000, 2);
  const AssetId id = MustPut(data).asset.id;
  std::atomic<bool> stop{false};
  std::atomic<int> wrong{0}, found{0}, gone{0};
  std::vector<std::thread> readers;
  for (int t = 0; t < 3; ++t) {
    readers.emplace_back([&, t] {
      uint64_t off = static_cast<uint64_t>(t) * 4096;
      // Readers 0 and 1 read a range at a time, reader 2 batches of two.
      auto read = [&](uint64_t at) -> Result<Bytes> {
        if (t < 2) return ReadBytes(engine(), "default", id, {at, 4096});
        const RangeRead rs[2] = {{id, at, 2048}, {id, at + 2048, 2048}};
        Bytes out;
        AIFS_RETURN_IF_ERROR(engine().ReadRanges("default", rs, [&](size_t, ByteSpan b) {
          out.insert(out.end(), b.begin(), b.end());
          return Status::Ok();
        }));
        return out;
      };
      while (!stop) {
        auto got = read(off);
        if (got.ok()) {
          if (*got != Slice(data, off, 4096)) ++wrong;
          ++found;
        } else if (got.status().reason() == "ASSET_NOT_FOUND") {
          ++gone;
        } else {
          ADD_FAILURE() << got.status().ToString();
          ++wrong;
        }
        off = (off + 65536 * 3 + 4096) % (data.size() - 4096);
      }
    });
  }
  for (int i = 0; i < 40; ++i) {
    AIFS_EXPECT_OK(engine().DeleteAsset("default", id));
    // Deleted: a read after the delete returned may not succeed.
    AIFS_EXPECT_STATUS(ReadBytes(engine(), "default", id, {0, 10}).status(), kNotFound,
                       "ASSET_NOT_FOUND");
    MustPut(data);
  }
  stop = true;
  for (auto& th : readers) th.join();
  EXPECT_EQ(wrong.load(), 0);
  EXPECT_GT(found.load(), 0);
}

}  // namespace
}  // namespace aifs::test
