// Segment-sealed chunks (issue 16): each segment authenticated on its own and
// bound to its chunk, index and count; range reads open only the segments
// they touch; damage is DATA_LOSS for exactly the reads that touch it; the
// segment cache is bounded, scan-resistant and never serves wrong bytes.
#include <gtest/gtest.h>

#include <cstring>
#include <fstream>
#include <thread>

#include "aifs/engine/chunk_index.h"
#include "aifs/engine/segment_cache.h"
#include "aifs/meta/keys.h"
#include "aifs/meta/records.h"
#include "aifs/storage/chunk_sealer.h"
#include "segment_damage.h"
#include "test_util.h"

namespace aifs::test {
namespace {

class SealerTest : public ::testing::Test {
 protected:
  void SetUp() override {
    auto k = OpenKms("local://" + dir_.Sub("master.keys"), true);
    ASSERT_TRUE(k.ok()) << k.status().ToString();
    kms_ = std::move(*k);
  }
  // Seals `plain` with 4 KiB segments.
  void Seal(ByteSpan plain, Bytes& object, store::v1::ChunkRecord& rec, bool compress = false) {
    SealPolicy policy(CompressionPolicy{.level = compress ? 1 : 0});
    policy.segment_size = 4096;
    AIFS_ASSERT_OK(SealChunk(*kms_, "ns", Blake3::Hash(plain), plain, policy, object, rec));
  }
  Status Open(ByteSpan plain, const store::v1::ChunkRecord& rec, ByteSpan object, Bytes& out) {
    return OpenChunk(*kms_, "ns", Blake3::Hash(plain), rec, object, out);
  }
  TempDir dir_;
  std::unique_ptr<Kms> kms_;
};

TEST_F(SealerTest, RoundTripsEverySizeAndSegment) {
  for (size_t n : {size_t{0}, size_t{1}, size_t{4095}, size_t{4096}, size_t{4097}, size_t{40000}}) {
    for (bool compress : {false, true}) {
      SCOPED_TRACE(std::to_string(n) + (compress ? " text" : " random"));
      const Bytes plain = compress ? TextBytes(n, 3) : RandomBytes(n, 3);
      Bytes object, out;
      store::v1::ChunkRecord rec;
      Seal(plain, object, rec, compress);
      EXPECT_EQ(rec.segment_size(), 4096u);
      AIFS_EXPECT_OK(Open(plain, rec, object, out));
      EXPECT_EQ(out, plain);
      auto opener = ChunkOpener::Open(*kms_, "ns", Blake3::Hash(plain), rec);
      ASSERT_TRUE(opener.ok());
      EXPECT_EQ(opener->segment_count(), std::max<size_t>(1, (n + 4095) / 4096));
      for (size_t i = 0; i < opener->segment_count(); ++i) {
        const auto at = opener->Location(i);
        Bytes seg;
        AIFS_ASSERT_OK(opener->OpenSegment(i, ByteSpan(object).subspan(at.offset, at.length), seg));
        EXPECT_EQ(seg, Slice(plain, i * 4096, std::min<size_t>(4096, n - i * 4096)));
      }
      if (compress && n >= 40000) {
        EXPECT_LT(object.size(), n / 2);
      }
    }
  }
}

TEST_F(SealerTest, SegmentsCannotBeSwappedReorderedDroppedOrMoved) {
  const Bytes plain = RandomBytes(5 * 4096, 7);  // five equal segments
  Bytes object, out;
  store::v1::ChunkRecord rec;
  Seal(plain, object, rec);
  auto opener = ChunkOpener::Open(*kms_, "ns", Blake3::Hash(plain), rec);
  ASSERT_TRUE(opener.ok());
  const auto s1 = opener->Location(1), s2 = opener->Location(2);
  // Segment 2's bytes offered as segment 1.
  Bytes seg;
  AIFS_EXPECT_STATUS(opener->OpenSegment(1, ByteSpan(object).subspan(s2.offset, s2.length), seg),
                     kDataLoss, "CHUNK_CORRUPT");
  EXPECT_TRUE(seg.empty());
  // Two segments swapped in the object.
  Bytes swapped = object;
  std::copy(object.begin() + s2.offset, object.begin() + s2.offset + s2.length,
            swapped.begin() + s1.offset);
  std::copy(object.begin() + s1.offset, object.begin() + s1.offset + s1.length,
            swapped.begin() + s2.offset);
  AIFS_EXPECT_STATUS(Open(plain, rec, swapped, out), kDataLoss, "CHUNK_CORRUPT");
  // The last segment dropped, with a record that agrees (fewer segments,
  // smaller size): the count and size are in every AAD and the key wrap.
  store::v1::ChunkRecord shorter = rec;
  shorter.set_plain_size(4 * 4096);
  shorter.set_stored_size(opener->Location(4).offset);
  shorter.set_segment_table(rec.segment_table().substr(0, 16));
  AIFS_EXPECT_STATUS(OpenChunk(*kms_, "ns", Blake3::Hash(plain), shorter,
                               ByteSpan(object).first(shorter.stored_size()), out),
                     kDataLoss, "CHUNK_CORRUPT");
  // A table that does not fit the size, an object cut short.
  store::v1::ChunkRecord bad = rec;
  bad.set_segment_table(rec.segment_table().substr(4));
  AIFS_EXPECT_STATUS(Open(plain, bad, object, out), kDataLoss, "METADATA_CORRUPT");
  AIFS_EXPECT_STATUS(Open(plain, rec, ByteSpan(object).first(object.size() - 1), out), kDataLoss,
                     "CHUNK_CORRUPT");
  // The compression flag flipped, another namespace, another hash.
  store::v1::ChunkRecord flagged = rec;
  std::string table = rec.segment_table();
  table[4 * 2 + 3] = static_cast<char>(table[4 * 2 + 3] ^ 0x80);
  flagged.set_segment_table(table);
  AIFS_EXPECT_STATUS(Open(plain, flagged, object, out), kDataLoss, "CHUNK_CORRUPT");
  AIFS_EXPECT_STATUS(OpenChunk(*kms_, "other", Blake3::Hash(plain), rec, object, out), kDataLoss,
                     "CHUNK_CORRUPT");
  // Good data, good record: still fine.
  AIFS_EXPECT_OK(Open(plain, rec, object, out));
  EXPECT_EQ(out, plain);
}

TEST_F(SealerTest, ChunksSealedWholeStillOpen) {
  const Bytes plain = TextBytes(30000, 9);
  SealPolicy policy;
  policy.segment_size = 0;  // format 2
  Bytes object, out;
  store::v1::ChunkRecord rec;
  AIFS_ASSERT_OK(SealChunk(*kms_, "ns", Blake3::Hash(plain), plain, policy, object, rec));
  EXPECT_EQ(rec.segment_size(), 0u);
  EXPECT_EQ(rec.compression(), store::v1::COMPRESSION_ZSTD);
  AIFS_EXPECT_OK(Open(plain, rec, object, out));
  EXPECT_EQ(out, plain);
  auto opener = ChunkOpener::Open(*kms_, "ns", Blake3::Hash(plain), rec);
  ASSERT_TRUE(opener.ok());
  EXPECT_EQ(opener->segment_count(), 1u);
}

TEST(ChunkIndexTest, FindsByOffsetAndRejectsBadTables) {
  std::vector<std::pair<Digest, uint64_t>> chunks;
  uint64_t total = 0;
  for (int i = 0; i < 100; ++i) {
    chunks.emplace_back(Blake3::Hash(ToBytes(std::to_string(i))), 1000 + 37 * i);
    total += 1000 + 37 * i;
  }
  auto idx = ChunkIndex::Decode(ChunkIndex::Encode(chunks), chunks.size(), total);
  ASSERT_TRUE(idx.ok()) << idx.status().ToString();
  uint64_t start = 0;
  for (size_t i = 0; i < chunks.size(); ++i) {
    const auto c = idx->at(i);
    EXPECT_EQ(c.hash, chunks[i].first);
    EXPECT_EQ(c.offset, start);
    EXPECT_EQ(c.length, chunks[i].second);
    EXPECT_EQ(idx->Find(start), i);
    EXPECT_EQ(idx->Find(start + c.length - 1), i);
    start += c.length;
  }
  const std::string packed = ChunkIndex::Encode(chunks);
  AIFS_EXPECT_STATUS(ChunkIndex::Decode(packed, 99, total).status(), kDataLoss, "METADATA_CORRUPT");
  AIFS_EXPECT_STATUS(ChunkIndex::Decode(packed, 100, total + 1).status(), kDataLoss,
                     "METADATA_CORRUPT");
  AIFS_EXPECT_STATUS(ChunkIndex::Decode(packed.substr(1), 100, total).status(), kDataLoss,
                     "METADATA_CORRUPT");
}

// A cache buffer of `size` bytes, each `byte`.
SegmentCache::Value Filled(SegmentCache& cache, size_t size, uint8_t byte) {
  std::shared_ptr<SegmentCache::Buffer> b = cache.NewBuffer(size);
  std::memset(b->writable().data(), byte, size);
  return b;
}

TEST(SegmentCacheTest, BoundedAndScanResistant) {
  constexpr uint64_t kSeg = 4096;
  SegmentCache cache(16 * 64 * kSeg, kSeg);  // 64 segments per shard
  auto key = [](int i) {
    return SegmentCache::Key{"ns", Blake3::Hash(ToBytes("k" + std::to_string(i))), kSeg, 0};
  };
  auto value = [&](int i) { return Filled(cache, kSeg, static_cast<uint8_t>(i)); };
  // A hot set (read twice: protected), then a scan ten times the cache.
  for (int i = 0; i < 200; ++i) cache.Put(key(i), value(i));
  for (int i = 0; i < 200; ++i) ASSERT_NE(cache.Get(key(i)), nullptr) << i;
  for (int i = 1000; i < 1000 + 10 * 1024; ++i) {
    cache.Put(key(i), value(i));
    EXPECT_LE(cache.stats().bytes, cache.capacity());
  }
  int hot_left = 0;
  for (int i = 0; i < 200; ++i) {
    auto v = cache.Get(key(i));
    if (v) {
      ++hot_left;
      EXPECT_EQ(v->data()[0], static_cast<uint8_t>(i));
    }
  }
  EXPECT_GE(hot_left, 190) << "the scan flushed the hot set";
  // Forget drops a chunk's segments.
  cache.Forget("ns", key(5).hash);
  EXPECT_EQ(cache.Get(key(5)), nullptr);
  // A disabled cache keeps nothing.
  SegmentCache off(0, kSeg);
  off.Put(key(1), Filled(off, kSeg, 1));
  EXPECT_EQ(off.Get(key(1)), nullptr);
}

TEST(SegmentCacheTest, ConcurrentUseKeepsValuesRight) {
  SegmentCache cache(1 << 20, 4096);
  std::vector<std::thread> threads;
  std::atomic<int> wrong{0};
  for (int t = 0; t < 4; ++t) {
    threads.emplace_back([&, t] {
      for (int i = 0; i < 20000; ++i) {
        const int k = (i * 7 + t) % 500;
        SegmentCache::Key key{"ns", Blake3::Hash(ToBytes(std::to_string(k))), 4096,
                              static_cast<uint64_t>(k % 3)};
        if (auto v = cache.Get(key)) {
          if (v->data()[0] != static_cast<uint8_t>(k) || v->data()[4095] != static_cast<uint8_t>(k))
            ++wrong;
        } else {
          cache.Put(key, Filled(cache, 4096, static_cast<uint8_t>(k)));
        }
      }
    });
  }
  for (auto& th : threads) th.join();
  EXPECT_EQ(wrong.load(), 0);
  EXPECT_LE(cache.stats().bytes, cache.capacity());
  EXPECT_EQ(cache.stats().heap_buffers, 0u);
}

// The cache's memory is its slab: a bounded mapping whose slots are reused,
// whatever is put and evicted; buffers held past the slab's headroom come
// from the heap and stay right; held buffers outlive the cache.
TEST(SegmentCacheTest, SlabBoundsItsMemoryAndOutlivesTheCache) {
  constexpr uint64_t kSeg = 4096, kCapacity = 16 * 64 * kSeg;
  auto key = [](int i) {
    return SegmentCache::Key{"ns", Blake3::Hash(ToBytes(std::to_string(i))), kSeg, 0};
  };
  std::vector<SegmentCache::Value> held;
  {
    SegmentCache cache(kCapacity, kSeg);
    const SegmentCache::Stats empty = cache.stats();
    // Capacity plus at least 256 slots of headroom, no more than capacity x 1.25.
    EXPECT_GE(empty.slab_bytes, kCapacity + 256 * kSeg);
    EXPECT_LE(empty.slab_bytes, kCapacity + kCapacity / 4 + 256 * kSeg);
    // Ten times the capacity through the cache: every buffer got a slot
    // (evicted ones were reused), and a slot costs its full size.
    for (int i = 0; i < 10 * 1024; ++i) cache.Put(key(i), Filled(cache, kSeg - i % 100, i % 251));
    EXPECT_EQ(cache.stats().heap_buffers, 0u);
    EXPECT_LE(cache.stats().bytes, kCapacity);
    EXPECT_EQ(cache.stats().bytes % kSeg, 0u);
    // Hold every slot (cached and not): the next buffers are heap buffers.
    const uint64_t slots = empty.slab_bytes / kSeg;
    for (int i = 0; i < 10 * 1024; ++i)
      if (auto v = cache.Get(key(i))) held.push_back(v);
    for (uint64_t i = 0; i < slots + 10; ++i) held.push_back(Filled(cache, kSeg, 7));
    EXPECT_GE(cache.stats().heap_buffers, 10u);
    auto big = cache.NewBuffer(kSeg + 1);  // larger than a slot: heap
    EXPECT_EQ(big->cost(), kSeg + 1 + 128);
  }
  // The cache is gone; every held buffer still reads as it was written.
  size_t wrong = 0;
  for (const SegmentCache::Value& v : held)
    for (size_t k = 0; k < v->size(); k += 511) wrong += v->data()[k] != v->data()[0];
  EXPECT_EQ(wrong, 0u);
}

// Engine reads over segmented chunks: 4 KiB segments, default chunking.
class SegmentReadTest : public EngineFixture {
 protected:
  void SetUp() override {
    InitOptions o;
    o.segment_size = 4096;
    InitStore(o);
  }
};

TEST_F(SegmentReadTest, RangesMatchTheBytesEverywhere) {
  const Bytes data = RandomBytes(3 << 20, 11);
  const AssetId id = MustPut(data).asset.id;
  for (uint64_t off : {uint64_t{0}, uint64_t{1}, uint64_t{4095}, uint64_t{4096}, uint64_t{1 << 20},
                       uint64_t{(3 << 20) - 4096}, uint64_t{(3 << 20) - 1}}) {
    for (uint64_t len : {uint64_t{1}, uint64_t{4096}, uint64_t{70000}, uint64_t{1 << 20}}) {
      const uint64_t n = std::min<uint64_t>(len, data.size() - off);
      EXPECT_EQ(MustRead(id, "default", {off, len}), Slice(data, off, n)) << off << "+" << len;
      // Again, from the cache.
      EXPECT_EQ(MustRead(id, "default", {off, len}), Slice(data, off, n)) << off << "+" << len;
    }
  }
  EXPECT_EQ(MustRead(id), data);
}

TEST_F(SegmentReadTest, FlippedByteFailsOnlyTheReadsThatTouchIt) {
  const Bytes data = RandomBytes(2 << 20, 12);
  const AssetId id = MustPut(data).asset.id;
  const uint64_t target = 300000;
  const SegmentLocation w = LocateSegment(engine(), dir_, id, target);
  const uint64_t chunk_start = w.chunk_start;
  engine_.reset();  // nothing cached
  FlipByte(w.object_path, w.object_offset);
  Reopen();
  const uint64_t seg_start = target - (target - chunk_start) % 4096;
  auto bad = ReadBytes(engine(), "default", id, {seg_start + 10, 100});
  AIFS_EXPECT_STATUS(bad.status(), kDataLoss, "CHUNK_CORRUPT");
  // The neighbouring segments of the same chunk still read.
  EXPECT_EQ(MustRead(id, "default", {seg_start + 4096, 4096}), Slice(data, seg_start + 4096, 4096));
  if (seg_start >= chunk_start + 4096) {
    EXPECT_EQ(MustRead(id, "default", {seg_start - 4096, 4096}),
              Slice(data, seg_start - 4096, 4096));
  }
  // A read across it, the whole asset and verify fail; nothing is delivered
  // from the damaged segment.
  Bytes got;
  Status st = engine().ReadAsset("default", id, {seg_start - 100, 8192}, [&](ByteSpan b) {
    got.insert(got.end(), b.begin(), b.end());
    return Status::Ok();
  });
  AIFS_EXPECT_STATUS(st, kDataLoss, "CHUNK_CORRUPT");
  EXPECT_LE(got.size(), 100u);
  AIFS_EXPECT_STATUS(ReadBytes(engine(), "default", id).status(), kDataLoss, "CHUNK_CORRUPT");
  auto v = engine().VerifyAsset("default", id);
  ASSERT_TRUE(v.ok());
  AIFS_EXPECT_STATUS(v->result, kDataLoss, "CHUNK_CORRUPT");
}

TEST_F(SegmentReadTest, CacheNeverServesWrongBytesAfterRmGcOrRewrap) {
  engine_.reset();
  EngineOptions eo;
  eo.data_dir = dir_.path();
  eo.cache_bytes = 256 << 10;  // small: constant pressure
  engine_ = std::move(Engine::Open(eo)).value();
  const Bytes a = RandomBytes(1 << 20, 21), b = TextBytes(1 << 20, 22);
  const AssetId ida = MustPut(a).asset.id, idb = MustPut(b).asset.id;
  auto check = [&](const AssetId& id, const Bytes& bytes, int rounds) {
    uint64_t x = 7;
    for (int i = 0; i < rounds; ++i) {
      x = x * 6364136223846793005ULL + 1442695040888963407ULL;
      const uint64_t off = (x >> 20) % bytes.size(), len = 1 + (x >> 44) % 20000;
      const uint64_t n = std::min<uint64_t>(len, bytes.size() - off);
      ASSERT_EQ(MustRead(id, "default", {off, len}), Slice(bytes, off, n));
    }
  };
  check(ida, a, 300);
  check(idb, b, 300);
  AIFS_ASSERT_OK(engine().DeleteAsset("default", ida));
  AIFS_EXPECT_STATUS(ReadBytes(engine(), "default", ida, {0, 4096}).status(), kNotFound,
                     "ASSET_NOT_FOUND");
  auto gc = engine().CollectGarbage(false);
  ASSERT_TRUE(gc.ok()) << gc.status().ToString();
  check(idb, b, 200);
  // The same bytes again: new objects, right bytes.
  EXPECT_EQ(MustPut(a).asset.id, ida);
  check(ida, a, 200);
  // Rotation and rewrap change the wrapped keys, never the bytes.
  ASSERT_TRUE(engine().RotateKey().ok());
  auto rw = engine().RewrapKeys(RewrapOptions{}, nullptr);
  ASSERT_TRUE(rw.ok()) << rw.status().ToString();
  check(ida, a, 200);
  check(idb, b, 200);
  EXPECT_EQ(MustRead(ida), a);
}

}  // namespace
}  // namespace aifs::test
