// Engine: the embedded implementation of aifs::Api, end to end over a real
// data directory. Oracles: BLAKE3 of the source bytes, the source bytes
// themselves, a standalone Chunker, and the files on disk.
#include <gtest/gtest.h>

#include <algorithm>
#include <atomic>
#include <chrono>
#include <cstring>
#include <map>
#include <mutex>
#include <random>
#include <sys/stat.h>
#include <set>
#include <thread>

#include "aifs/core/hex.h"
#include "aifs/engine/engine.h"
#include "aifs/storage/chunk_store.h"
#include "aifs/storage/chunker.h"
#include "test_util.h"

namespace aifs::test {
namespace {

constexpr size_t kMin = 4096, kAvg = 16384, kMax = 65536;

class EngineTest : public EngineFixture {
 protected:
  AssetInfo MustStat(const AssetId& id, const std::string& ns = "default", bool chunks = true) {
    auto r = engine().StatAsset(ns, id, chunks);
    EXPECT_TRUE(r.ok()) << r.status().ToString();
    return r.ok() ? *r : AssetInfo{};
  }
  // Distinct chunk hashes of the given assets.
  std::set<std::string> ChunkSet(const std::vector<AssetId>& ids, const std::string& ns = "default") {
    std::set<std::string> out;
    for (const auto& id : ids)
      for (const auto& c : MustStat(id, ns).chunks) out.insert(HexEncode(c.hash));
    return out;
  }
  // Sum of stored_size over the distinct chunks of the given assets.
  uint64_t StoredBytesOf(const std::vector<AssetId>& ids, const std::string& ns = "default") {
    std::map<std::string, uint64_t> sizes;
    for (const auto& id : ids)
      for (const auto& c : MustStat(id, ns).chunks) sizes[HexEncode(c.hash)] = c.stored_size;
    uint64_t total = 0;
    for (const auto& [h, s] : sizes) total += s;
    return total;
  }
  // Checks that chunk records describe `data` exactly: lengths, offsets and
  // BLAKE3 of each slice.
  void ExpectChunksDescribe(const AssetInfo& info, const Bytes& data) {
    ASSERT_EQ(info.chunks.size(), info.chunk_count);
    uint64_t off = 0;
    for (size_t i = 0; i < info.chunks.size(); ++i) {
      const ChunkInfo& c = info.chunks[i];
      ASSERT_EQ(c.offset, off) << "chunk " << i;
      ASSERT_LE(off + c.length, data.size()) << "chunk " << i;
      EXPECT_EQ(c.hash, Blake3::Hash(ByteSpan(data).subspan(off, c.length))) << "chunk " << i;
      off += c.length;
    }
    EXPECT_EQ(off, data.size());
  }
  void ExpectNamespaceMatchesDisk(const std::string& ns = "default") {
    NamespaceInfo info = MustNs(ns);
    FileTally disk = TallyFiles(ChunkDir());
    EXPECT_EQ(info.chunk_count, disk.files) << ns;
    EXPECT_EQ(info.stored_bytes, disk.bytes) << ns;
  }
};

// ------------------------------------------------------------ round trips

TEST_F(EngineTest, RoundTripBoundarySizes) {
  InitStore();
  const Chunker chunker(SmallChunks());
  const size_t sizes[] = {0,    1,        kMin - 1, kMin,     kMin + 1,        kAvg,
                          kMax - 1, kMax, kMax + 1, 3 * kMax + 5};
  uint64_t seed = 1;
  for (size_t n : sizes) {
    SCOPED_TRACE("size " + std::to_string(n));
    const Bytes data = RandomBytes(n, seed++);
    const PutResult r = MustPut(data, "default", RandomPieces(32, 9000, seed));
    EXPECT_TRUE(r.created);
    EXPECT_EQ(r.asset.id, IdOf(data));
    EXPECT_EQ(r.asset.size, n);
    EXPECT_EQ(r.asset.ns, "default");
    EXPECT_EQ(MustRead(r.asset.id), data);

    const AssetInfo info = MustStat(r.asset.id);
    EXPECT_EQ(info.size, n);
    ExpectChunksDescribe(info, data);
    // Cut exactly where a standalone chunker cuts.
    std::vector<size_t> lengths;
    for (const auto& c : info.chunks) lengths.push_back(c.length);
    EXPECT_EQ(lengths, CutLikeEngine(chunker, data, {}));
    for (size_t i = 0; i < lengths.size(); ++i) {
      EXPECT_LE(lengths[i], kMax);
      if (i + 1 < lengths.size()) { EXPECT_GE(lengths[i], kMin); }
    }
    EXPECT_EQ(r.chunks_total, info.chunk_count);
    EXPECT_EQ(r.chunks_new, info.chunk_count);  // random data: all distinct, all new

    auto v = engine().VerifyAsset("default", r.asset.id);
    ASSERT_TRUE(v.ok()) << v.status().ToString();
    AIFS_EXPECT_OK(v->result);
    EXPECT_EQ(v->id, r.asset.id);
    EXPECT_EQ(v->bytes_checked, n);
    EXPECT_EQ(v->chunks_checked, info.chunk_count);
  }
  // Spot-check the expected chunk counts at the edges.
  EXPECT_EQ(MustStat(IdOf(RandomBytes(0, 1))).chunk_count, 0u);
  EXPECT_EQ(MustStat(IdOf(RandomBytes(1, 2))).chunk_count, 1u);
  EXPECT_EQ(MustStat(IdOf(RandomBytes(kMin, 4))).chunk_count, 1u);
  ExpectNamespaceMatchesDisk();
}

TEST_F(EngineTest, RoundTrip100MiBDefaultChunking) {
  InitStore(InitOptions{});
  const size_t n = 100u << 20;
  const Bytes data = RandomBytes(n, 424242);
  const AssetId want = IdOf(data);

  auto t0 = std::chrono::steady_clock::now();
  const PutResult r = MustPut(data, "default", RandomPieces(16, 4u << 20, 7));
  auto t1 = std::chrono::steady_clock::now();
  EXPECT_EQ(r.asset.id, want);
  EXPECT_EQ(r.asset.size, n);

  uint64_t pos = 0;
  bool same = true;
  Blake3 h;
  Status st = engine().ReadAsset("default", want, ReadRange{}, [&](ByteSpan b) {
    if (pos + b.size() > n || std::memcmp(b.data(), data.data() + pos, b.size()) != 0) same = false;
    h.Update(b);
    pos += b.size();
    return Status::Ok();
  });
  auto t2 = std::chrono::steady_clock::now();
  AIFS_ASSERT_OK(st);
  EXPECT_EQ(pos, n);
  EXPECT_TRUE(same) << "read-back bytes differ from the source";
  EXPECT_EQ(AssetId(h.Finalize()), want);

  const AssetInfo info = MustStat(want);
  ExpectChunksDescribe(info, data);
  std::vector<size_t> lengths;
  for (const auto& c : info.chunks) lengths.push_back(c.length);
  EXPECT_EQ(lengths, CutLikeEngine(Chunker(ChunkerParams{}), data, {}));
  EXPECT_EQ(r.chunks_total, info.chunk_count);
  ExpectNamespaceMatchesDisk();

  auto ms = [](auto d) { return std::chrono::duration<double, std::milli>(d).count(); };
  std::cout << "REPORT roundtrip-100MiB: put " << ms(t1 - t0) << " ms, read " << ms(t2 - t1)
            << " ms, " << info.chunk_count << " chunks\n";
}

TEST_F(EngineTest, SplitWritesGiveSameIdAndChunks) {
  InitStore();
  const Bytes data = RandomBytes(700000, 31);
  for (const char* ns : {"a", "b", "c", "d"})
    ASSERT_TRUE(engine().CreateNamespace(ns, {}).ok());
  const std::vector<std::vector<size_t>> splits = {
      {}, RandomPieces(300, 777, 1), {kMax, kMax + 1, 1}, {1, kMax - 1, 3 * kMax}};
  std::vector<AssetInfo> infos;
  const char* names[] = {"a", "b", "c", "d"};
  for (size_t i = 0; i < splits.size(); ++i) {
    const PutResult r = MustPut(data, names[i], splits[i]);
    EXPECT_TRUE(r.created) << names[i];
    EXPECT_EQ(r.asset.id, IdOf(data)) << names[i];
    infos.push_back(MustStat(r.asset.id, names[i]));
    EXPECT_EQ(MustRead(r.asset.id, names[i]), data) << names[i];
  }
  for (size_t i = 1; i < infos.size(); ++i) {
    ASSERT_EQ(infos[i].chunks.size(), infos[0].chunks.size()) << names[i];
    for (size_t k = 0; k < infos[0].chunks.size(); ++k) {
      EXPECT_EQ(infos[i].chunks[k].hash, infos[0].chunks[k].hash) << names[i] << " chunk " << k;
      EXPECT_EQ(infos[i].chunks[k].length, infos[0].chunks[k].length) << names[i] << " chunk " << k;
    }
  }
  ExpectChunksDescribe(infos[0], data);
}

// ------------------------------------------------------------ ranges

TEST_F(EngineTest, RangeReadsAtEveryChunkBoundary) {
  InitStore();
  const Bytes data = RandomBytes(300000, 41);
  const AssetId id = MustPut(data).asset.id;
  const AssetInfo info = MustStat(id);
  ASSERT_GE(info.chunk_count, 8u);

  std::set<uint64_t> points;
  for (const auto& c : info.chunks)
    for (int64_t d : {-1, 0, 1}) {
      int64_t p = static_cast<int64_t>(c.offset) + d;
      if (p >= 0 && p <= static_cast<int64_t>(data.size())) points.insert(static_cast<uint64_t>(p));
    }
  for (uint64_t p : {data.size() - 1, data.size()}) points.insert(p);
  const std::vector<uint64_t> pts(points.begin(), points.end());

  size_t reads = 0;
  for (size_t i = 0; i < pts.size(); ++i) {
    for (size_t j = i; j < pts.size(); ++j) {
      const uint64_t a = pts[i], b = pts[j];
      auto got = ReadBytes(engine(), "default", id, ReadRange{a, b - a});
      ASSERT_TRUE(got.ok()) << "[" << a << "," << b << "): " << got.status().ToString();
      ASSERT_EQ(got->size(), b - a) << "[" << a << "," << b << ")";
      ASSERT_TRUE(std::equal(got->begin(), got->end(), data.begin() + static_cast<ptrdiff_t>(a)))
          << "[" << a << "," << b << ")";
      ++reads;
    }
    // To the end, and with a length that runs past the end (clipped).
    for (uint64_t len : {ReadRange::kToEnd, uint64_t{data.size()} + 10,
                         ReadRange::kToEnd - 1}) {
      auto got = ReadBytes(engine(), "default", id, ReadRange{pts[i], len});
      ASSERT_TRUE(got.ok()) << got.status().ToString();
      ASSERT_EQ(*got, Slice(data, pts[i], data.size() - pts[i])) << pts[i];
    }
  }
  std::cout << "REPORT range-reads: " << reads << " boundary ranges over " << info.chunk_count
            << " chunks checked\n";
}

TEST_F(EngineTest, RangeEdgeCases) {
  InitStore();
  const Bytes data = RandomBytes(100000, 42);
  const AssetId id = MustPut(data).asset.id;
  // offset == size: empty, OK.
  auto end = ReadBytes(engine(), "default", id, ReadRange{data.size(), 10});
  ASSERT_TRUE(end.ok()) << end.status().ToString();
  EXPECT_TRUE(end->empty());
  auto end2 = ReadBytes(engine(), "default", id, ReadRange{data.size(), ReadRange::kToEnd});
  ASSERT_TRUE(end2.ok());
  EXPECT_TRUE(end2->empty());
  // Beyond: OUT_OF_RANGE.
  for (uint64_t off : {uint64_t{data.size()} + 1, uint64_t{data.size()} + 100000,
                       std::numeric_limits<uint64_t>::max()}) {
    bool called = false;
    Status st = engine().ReadAsset("default", id, ReadRange{off, 1}, [&](ByteSpan) {
      called = true;
      return Status::Ok();
    });
    AIFS_EXPECT_STATUS(st, kOutOfRange, "RANGE_OUT_OF_BOUNDS") << off;
    EXPECT_FALSE(called);
  }
  // Zero length anywhere: empty.
  for (uint64_t off : {uint64_t{0}, uint64_t{1}, uint64_t{50000}}) {
    auto z = ReadBytes(engine(), "default", id, ReadRange{off, 0});
    ASSERT_TRUE(z.ok()) << z.status().ToString();
    EXPECT_TRUE(z->empty());
  }
  // The empty asset.
  const AssetId empty = MustPut(Bytes{}).asset.id;
  EXPECT_EQ(empty, IdOf(Bytes{}));
  auto e = ReadBytes(engine(), "default", empty);
  ASSERT_TRUE(e.ok()) << e.status().ToString();
  EXPECT_TRUE(e->empty());
  AIFS_EXPECT_STATUS(ReadBytes(engine(), "default", empty, ReadRange{1, 1}).status(), kOutOfRange,
                     "RANGE_OUT_OF_BOUNDS");
}

TEST_F(EngineTest, SinkErrorStopsTheRead) {
  InitStore();
  const Bytes data = RandomBytes(400000, 43);
  const AssetId id = MustPut(data).asset.id;
  ASSERT_GE(MustStat(id).chunk_count, 3u);
  int calls = 0;
  Status st = engine().ReadAsset("default", id, ReadRange{}, [&](ByteSpan) {
    ++calls;
    return calls == 2 ? err::Aborted("CLIENT_GONE", "stop") : Status::Ok();
  });
  AIFS_EXPECT_STATUS(st, kAborted, "CLIENT_GONE");
  EXPECT_EQ(calls, 2);
  // The engine is still fine afterwards.
  EXPECT_EQ(MustRead(id), data);
}

// ------------------------------------------------------------ dedup

TEST_F(EngineTest, SameBytesTwiceStoresNothingNew) {
  InitStore();
  const Bytes data = RandomBytes(600000, 51);
  const PutResult first = MustPut(data);
  ASSERT_TRUE(first.created);
  EXPECT_GT(first.chunks_new, 5u);
  EXPECT_GT(first.bytes_stored, data.size());
  const FileTally before = TallyFiles(ChunkDir());
  const NamespaceInfo ns_before = MustNs();
  EXPECT_EQ(before.files, first.chunks_new);
  EXPECT_EQ(before.bytes, first.bytes_stored);

  for (const auto& pieces : {std::vector<size_t>{}, RandomPieces(40, 30000, 9)}) {
    const PutResult again = MustPut(data, "default", pieces);
    EXPECT_FALSE(again.created);
    EXPECT_EQ(again.asset.id, first.asset.id);
    EXPECT_EQ(again.chunks_new, 0u);
    EXPECT_EQ(again.bytes_stored, 0u);
    EXPECT_EQ(again.chunks_total, first.chunks_total);
    EXPECT_EQ(again.asset.created_unix_ns, first.asset.created_unix_ns) << "first record stays";
    const FileTally after = TallyFiles(ChunkDir());
    EXPECT_EQ(after.files, before.files);
    EXPECT_EQ(after.bytes, before.bytes);
    const NamespaceInfo ns_after = MustNs();
    EXPECT_EQ(ns_after.asset_count, 1u);
    EXPECT_EQ(ns_after.logical_bytes, ns_before.logical_bytes);
    EXPECT_EQ(ns_after.stored_bytes, ns_before.stored_bytes);
    EXPECT_EQ(ns_after.chunk_count, ns_before.chunk_count);
  }

  // A partial overlap stores only the new chunks.
  const Bytes tail = RandomBytes(200000, 52);
  const Bytes extended = Concat({data, tail});
  const PutResult ext = MustPut(extended);
  EXPECT_TRUE(ext.created);
  EXPECT_LT(ext.chunks_new, ext.chunks_total);
  EXPECT_GE(ext.chunks_total - ext.chunks_new, first.chunks_total - 1);
  EXPECT_EQ(TallyFiles(ChunkDir()).files, before.files + ext.chunks_new);
  EXPECT_EQ(MustRead(ext.asset.id), extended);
  ExpectNamespaceMatchesDisk();

  // Namespaces do not share chunks: the same bytes elsewhere are stored again.
  ASSERT_TRUE(engine().CreateNamespace("other", {}).ok());
  const PutResult elsewhere = MustPut(data, "other");
  EXPECT_TRUE(elsewhere.created);
  EXPECT_EQ(elsewhere.chunks_new, elsewhere.chunks_total);
  EXPECT_EQ(MustRead(elsewhere.asset.id, "other"), data);
}

TEST_F(EngineTest, InsertInTheMiddleReusesChunks) {
  InitStore(InitOptions{});
  const size_t n = 64u << 20;
  const Bytes original = RandomBytes(n, 61);
  const Bytes insert = RandomBytes(1024, 62);
  Bytes edited;
  edited.reserve(n + insert.size());
  edited.insert(edited.end(), original.begin(), original.begin() + n / 2);
  edited.insert(edited.end(), insert.begin(), insert.end());
  edited.insert(edited.end(), original.begin() + n / 2, original.end());

  const PutResult a = MustPut(original, "default", {8u << 20});
  const PutResult b = MustPut(edited, "default", {3u << 20});
  ASSERT_TRUE(a.created);
  ASSERT_TRUE(b.created);
  EXPECT_EQ(b.asset.id, IdOf(edited));
  ASSERT_GT(b.chunks_total, 0u);
  const double reused =
      1.0 - static_cast<double>(b.chunks_new) / static_cast<double>(b.chunks_total);
  std::cout << "REPORT insert-reuse: " << 100.0 * reused << "% (" << b.chunks_total - b.chunks_new
            << "/" << b.chunks_total << " chunks reused after a 1 KiB insert into 64 MiB)\n";
  EXPECT_GE(reused, 0.90);
  // Stored bytes grew by about the changed chunks only.
  EXPECT_LT(b.bytes_stored, n / 4);
  auto v = engine().VerifyAsset("default", b.asset.id);
  ASSERT_TRUE(v.ok());
  AIFS_EXPECT_OK(v->result);
  EXPECT_EQ(v->bytes_checked, edited.size());
  ExpectNamespaceMatchesDisk();
}

// ------------------------------------------------------------ stats

TEST_F(EngineTest, NamespaceStatsAreExact) {
  InitStore();
  ASSERT_TRUE(engine().CreateNamespace("stats", {{"team", "x"}}).ok());
  const std::string ns = "stats";
  const Bytes a = RandomBytes(300000, 71);
  const Bytes b = Concat({Slice(a, 0, 150000), RandomBytes(100000, 72)});
  const Bytes c = TextBytes(200000, 73);  // compressible
  const Bytes r = RandomBytes(50000, 74);
  Bytes d;  // internal repetition: the same chunks several times in one asset
  for (int i = 0; i < 8; ++i) d.insert(d.end(), r.begin(), r.end());

  std::vector<AssetId> live;
  uint64_t logical = 0;
  auto check = [&](const char* when) {
    SCOPED_TRACE(when);
    const NamespaceInfo info = MustNs(ns);
    EXPECT_EQ(info.name, ns);
    EXPECT_EQ(info.labels, (Metadata{{"team", "x"}}));
    EXPECT_EQ(info.asset_count, live.size());
    EXPECT_EQ(info.logical_bytes, logical);
    EXPECT_EQ(info.chunk_count, ChunkSet(live, ns).size());
    EXPECT_EQ(info.stored_bytes, StoredBytesOf(live, ns));
    const FileTally disk = TallyFiles(ChunkDir());  // only this namespace holds data
    EXPECT_EQ(info.chunk_count, disk.files);
    EXPECT_EQ(info.stored_bytes, disk.bytes);
    const NamespaceInfo def = MustNs("default");
    EXPECT_EQ(def.asset_count, 0u);
    EXPECT_EQ(def.logical_bytes, 0u);
    EXPECT_EQ(def.chunk_count, 0u);
    EXPECT_EQ(def.stored_bytes, 0u);
  };
  check("empty");
  for (const Bytes* x : std::initializer_list<const Bytes*>{&a, &b, &c, &d}) {
    const PutResult p = MustPut(*x, ns);
    ASSERT_TRUE(p.created);
    live.push_back(p.asset.id);
    logical += x->size();
  }
  check("after puts");
  MustPut(a, ns);  // duplicate: no change
  check("after duplicate put");

  AIFS_ASSERT_OK(engine().DeleteAsset(ns, IdOf(b)));
  live.erase(std::find(live.begin(), live.end(), IdOf(b)));
  logical -= b.size();
  check("after deleting b");
  EXPECT_EQ(MustRead(IdOf(a), ns), a);

  AIFS_ASSERT_OK(engine().DeleteAsset(ns, IdOf(d)));
  live.erase(std::find(live.begin(), live.end(), IdOf(d)));
  logical -= d.size();
  check("after deleting d");

  for (const Bytes* x : {&a, &c}) AIFS_ASSERT_OK(engine().DeleteAsset(ns, IdOf(*x)));
  live.clear();
  logical = 0;
  check("after deleting everything");
  EXPECT_EQ(TallyFiles(ChunkDir()).files, 0u);
  // Now it is empty, the namespace can go.
  AIFS_EXPECT_OK(engine().DeleteNamespace(ns));
}

TEST_F(EngineTest, StatsAcrossNamespacesAddUpToDisk) {
  InitStore();
  ASSERT_TRUE(engine().CreateNamespace("n2", {}).ok());
  const Bytes x = RandomBytes(200000, 81), y = TextBytes(150000, 82);
  MustPut(x, "default");
  MustPut(y, "default");
  MustPut(x, "n2");
  const NamespaceInfo d = MustNs("default"), n2 = MustNs("n2");
  EXPECT_EQ(d.asset_count, 2u);
  EXPECT_EQ(d.logical_bytes, x.size() + y.size());
  EXPECT_EQ(n2.asset_count, 1u);
  EXPECT_EQ(n2.logical_bytes, x.size());
  const FileTally disk = TallyFiles(ChunkDir());
  EXPECT_EQ(d.chunk_count + n2.chunk_count, disk.files);
  EXPECT_EQ(d.stored_bytes + n2.stored_bytes, disk.bytes);
  auto list = engine().ListNamespaces();
  ASSERT_TRUE(list.ok());
  std::map<std::string, NamespaceInfo> by_name;
  for (const auto& n : *list) by_name[n.name] = n;
  ASSERT_EQ(by_name.size(), 2u);
  EXPECT_EQ(by_name["default"].stored_bytes, d.stored_bytes);
  EXPECT_EQ(by_name["n2"].asset_count, 1u);
}

// ------------------------------------------------------------ at rest

bool Contains(const Bytes& hay, const std::string& needle) {
  return std::search(hay.begin(), hay.end(), needle.begin(), needle.end()) != hay.end();
}

TEST_F(EngineTest, NothingIsStoredInTheClear) {
  InitStore();
  const std::string marker = "AIFS-PLAINTEXT-MARKER-5f0c2e91";
  // Compressible: the marker over and over, between some words.
  std::string text;
  for (int i = 0; i < 20000; ++i) text += marker + " line " + std::to_string(i % 7) + "\n";
  const Bytes compressible = ToBytes(text);
  // Incompressible: random bytes with the marker planted in them.
  Bytes random = RandomBytes(500000, 91);
  for (size_t off = 1000; off + marker.size() < random.size(); off += 40000)
    std::memcpy(random.data() + off, marker.data(), marker.size());
  // Small (single short chunk), stored raw.
  const Bytes small = ToBytes(marker);

  const PutResult pc = MustPut(compressible);
  const PutResult pr = MustPut(random);
  const PutResult ps = MustPut(small);
  // Both storage paths are exercised.
  bool any_compressed = false, any_raw = false;
  for (const auto& c : MustStat(pc.asset.id).chunks) any_compressed |= c.compressed;
  for (const auto& c : MustStat(pr.asset.id).chunks) any_raw |= !c.compressed;
  EXPECT_TRUE(any_compressed);
  EXPECT_TRUE(any_raw);
  EXPECT_EQ(MustRead(pc.asset.id), compressible);
  EXPECT_EQ(MustRead(pr.asset.id), random);
  EXPECT_EQ(MustRead(ps.asset.id), small);

  engine_.reset();  // flush and close everything (RocksDB too)
  const auto files = ListFiles(dir_.path());
  size_t scanned = 0, chunk_files = 0;
  for (const auto& f : files) {
    const Bytes content = ReadFileBytes(f);
    EXPECT_FALSE(Contains(content, marker)) << "plaintext marker found in " << f;
    // Also the marker's first half (a compressor could split a literal).
    EXPECT_FALSE(Contains(content, marker.substr(0, 16))) << "marker prefix found in " << f;
    ++scanned;
    if (f.find("/chunks/") != std::string::npos) ++chunk_files;
  }
  EXPECT_GT(chunk_files, 10u);
  EXPECT_GT(scanned, chunk_files);  // meta/ and kms/ were scanned too
  std::cout << "REPORT at-rest-scan: " << scanned << " files scanned (" << chunk_files
            << " chunk objects), marker absent\n";
  Reopen();
  EXPECT_EQ(MustRead(pc.asset.id), compressible);
}

TEST_F(EngineTest, StoreFilesHavePrivateModes) {
  InitStore();
  EXPECT_EQ(FileMode(dir_.Sub("kms/master.keys")), 0600u);
  EXPECT_EQ(FileMode(dir_.Sub("aifs.json")), 0600u);
  MustPut(RandomBytes(100000, 92));
  for (const auto& f : ListFiles(ChunkDir())) EXPECT_EQ(FileMode(f) & 077, 0u) << f;
}

// ------------------------------------------------------------ tamper

TEST_F(EngineTest, TamperedChunkIsDetected) {
  InitStore();
  const Bytes data = RandomBytes(400000, 101);
  const AssetId id = MustPut(data).asset.id;
  const AssetInfo info = MustStat(id);
  ASSERT_GE(info.chunk_count, 6u);
  const auto files = ListFiles(ChunkDir());
  ASSERT_EQ(files.size(), info.chunk_count);

  auto expect_read_fails = [&](const char* reason, const std::string& what) {
    // Segments opened before the damage would still be served, correctly,
    // from the segment cache: start without it.
    Reopen();
    Bytes got;
    Status st = engine().ReadAsset("default", id, ReadRange{}, [&](ByteSpan b) {
      got.insert(got.end(), b.begin(), b.end());
      return Status::Ok();
    });
    EXPECT_TRUE(IsStatus(st, Code::kDataLoss, reason)) << what;
    // Whatever was delivered before the failure is correct and short.
    EXPECT_LT(got.size(), data.size()) << what;
    EXPECT_TRUE(std::equal(got.begin(), got.end(), data.begin())) << what;
    auto v = engine().VerifyAsset("default", id);
    ASSERT_TRUE(v.ok()) << v.status().ToString();
    EXPECT_TRUE(IsStatus(v->result, Code::kDataLoss, reason)) << what;
    // Exactly the chunk that lives in the damaged object fails a range read.
    size_t failing = 0;
    for (const auto& c : info.chunks) {
      auto r = ReadBytes(engine(), "default", id, ReadRange{c.offset, c.length});
      if (!r.ok()) {
        ++failing;
        EXPECT_TRUE(IsStatus(r.status(), Code::kDataLoss, reason)) << what;
      } else {
        EXPECT_EQ(*r, Slice(data, c.offset, c.length)) << what;
      }
    }
    EXPECT_EQ(failing, 1u) << what;
  };

  for (size_t fi : {size_t{0}, files.size() / 2, files.size() - 1}) {
    const std::string& f = files[fi];
    const Bytes orig = ReadFileBytes(f);
    for (size_t pos : {size_t{0}, orig.size() / 2, orig.size() - 1}) {
      Bytes bad = orig;
      bad[pos] ^= 0x40;
      WriteFileBytes(f, bad);
      expect_read_fails("CHUNK_CORRUPT", "file " + std::to_string(fi) + " byte " +
                                             std::to_string(pos));
    }
    WriteFileBytes(f, Slice(orig, 0, orig.size() - 1));
    expect_read_fails("CHUNK_CORRUPT", "truncated file " + std::to_string(fi));
    WriteFileBytes(f, orig);
    EXPECT_EQ(MustRead(id), data) << "restored file " << fi;
  }

  // Another chunk's (valid) object in its place.
  {
    const Bytes a = ReadFileBytes(files[0]);
    WriteFileBytes(files[0], ReadFileBytes(files[1]));
    // Now two chunks share files[1]'s object; only chunk files[0] belonged to fails.
    expect_read_fails("CHUNK_CORRUPT", "swapped object");
    WriteFileBytes(files[0], a);
  }
  // A missing object.
  {
    const Bytes a = ReadFileBytes(files[2]);
    std::filesystem::remove(files[2]);
    Bytes got;
    Status st = engine().ReadAsset("default", id, ReadRange{}, [&](ByteSpan b) {
      got.insert(got.end(), b.begin(), b.end());
      return Status::Ok();
    });
    EXPECT_FALSE(st.ok());
    EXPECT_EQ(st.code(), Code::kDataLoss) << st.ToString();
    EXPECT_EQ(st.reason(), "CHUNK_MISSING") << st.ToString();
    EXPECT_LT(got.size(), data.size());
    auto v = engine().VerifyAsset("default", id);
    ASSERT_TRUE(v.ok());
    EXPECT_FALSE(v->result.ok());
    WriteFileBytes(files[2], a);
  }
  auto v = engine().VerifyAsset("default", id);
  ASSERT_TRUE(v.ok());
  AIFS_EXPECT_OK(v->result);
}

// ------------------------------------------------------------ restart, keys

TEST_F(EngineTest, RestartKeepsEverything) {
  InitStore();
  ASSERT_TRUE(engine().CreateNamespace("models", {{"owner", "ml"}}).ok());
  std::vector<std::pair<std::string, Bytes>> assets;
  for (int i = 0; i < 6; ++i) {
    const std::string ns = i % 2 ? "models" : "default";
    Bytes b = i % 3 ? RandomBytes(50000 * static_cast<size_t>(i + 1), 110 + i)
                    : TextBytes(70000, 120 + i);
    PutOptions o;
    o.ns = ns;
    o.kind = AssetKind::kBlob;
    o.metadata = {{"i", std::to_string(i)}};
    auto r = PutBytes(engine(), b, o);
    ASSERT_TRUE(r.ok()) << r.status().ToString();
    assets.emplace_back(ns, std::move(b));
  }
  const NamespaceInfo d0 = MustNs("default"), m0 = MustNs("models");
  auto desc0 = engine().DescribeStore();
  ASSERT_TRUE(desc0.ok());

  Reopen();
  for (size_t i = 0; i < assets.size(); ++i) {
    const auto& [ns, b] = assets[i];
    EXPECT_EQ(MustRead(IdOf(b), ns), b) << i;
    const AssetInfo info = MustStat(IdOf(b), ns, false);
    EXPECT_EQ(info.metadata, (Metadata{{"i", std::to_string(i)}}));
    EXPECT_EQ(info.kind, AssetKind::kBlob);
  }
  const NamespaceInfo d1 = MustNs("default"), m1 = MustNs("models");
  EXPECT_EQ(d1.asset_count, d0.asset_count);
  EXPECT_EQ(d1.stored_bytes, d0.stored_bytes);
  EXPECT_EQ(m1.logical_bytes, m0.logical_bytes);
  EXPECT_EQ(m1.labels, (Metadata{{"owner", "ml"}}));
  auto desc1 = engine().DescribeStore();
  ASSERT_TRUE(desc1.ok());
  EXPECT_EQ(desc1->kms_current_key, desc0->kms_current_key);
  EXPECT_EQ(desc1->chunk_min, kMin);
  EXPECT_EQ(desc1->chunk_avg, kAvg);
  EXPECT_EQ(desc1->chunk_max, kMax);
  EXPECT_EQ(desc1->kms_kind, "local");
  EXPECT_FALSE(desc1->read_only);
  EXPECT_EQ(desc1->data_dir, dir_.path());
}

TEST_F(EngineTest, KeyRotation) {
  InitStore();
  auto d0 = engine().DescribeStore();
  ASSERT_TRUE(d0.ok());
  const std::string old_key = d0->kms_current_key;
  const Bytes before = RandomBytes(200000, 131);
  MustPut(before);
  for (const auto& c : MustStat(IdOf(before)).chunks) EXPECT_EQ(c.kms_key_id, old_key);

  auto rotated = engine().RotateKey();
  ASSERT_TRUE(rotated.ok()) << rotated.status().ToString();
  const std::string new_key = *rotated;
  EXPECT_NE(new_key, old_key);
  EXPECT_EQ(engine().DescribeStore()->kms_current_key, new_key);

  const Bytes after = RandomBytes(200000, 132);
  MustPut(after);
  // Shares chunks with `before`: those keep their old key, the new ones get the new.
  const Bytes mixed = Concat({before, RandomBytes(100000, 133)});
  MustPut(mixed);

  Reopen();
  EXPECT_EQ(engine().DescribeStore()->kms_current_key, new_key);
  EXPECT_EQ(MustRead(IdOf(before)), before);
  EXPECT_EQ(MustRead(IdOf(after)), after);
  EXPECT_EQ(MustRead(IdOf(mixed)), mixed);
  for (const auto& c : MustStat(IdOf(before)).chunks) EXPECT_EQ(c.kms_key_id, old_key);
  for (const auto& c : MustStat(IdOf(after)).chunks) EXPECT_EQ(c.kms_key_id, new_key);
  std::set<std::string> mixed_keys;
  for (const auto& c : MustStat(IdOf(mixed)).chunks) mixed_keys.insert(c.kms_key_id);
  EXPECT_EQ(mixed_keys, (std::set<std::string>{old_key, new_key}));
  // New puts after reopen use the new key too.
  const Bytes later = RandomBytes(50000, 134);
  MustPut(later);
  for (const auto& c : MustStat(IdOf(later)).chunks) EXPECT_EQ(c.kms_key_id, new_key);
}

// ------------------------------------------------------------ delete

TEST_F(EngineTest, DeleteFreesOnlyUnsharedChunks) {
  InitStore();
  const Bytes a = RandomBytes(400000, 141);
  const Bytes b = Concat({Slice(a, 0, 200000), RandomBytes(200000, 142)});
  const AssetId ida = MustPut(a).asset.id, idb = MustPut(b).asset.id;
  const auto ca = ChunkSet({ida}), cb = ChunkSet({idb});
  std::set<std::string> shared;
  std::set_intersection(ca.begin(), ca.end(), cb.begin(), cb.end(),
                        std::inserter(shared, shared.begin()));
  ASSERT_GE(shared.size(), 5u);
  ASSERT_LT(shared.size(), ca.size());
  EXPECT_EQ(TallyFiles(ChunkDir()).files, ChunkSet({ida, idb}).size());

  AIFS_ASSERT_OK(engine().DeleteAsset("default", ida));
  EXPECT_EQ(TallyFiles(ChunkDir()).files, cb.size());
  AIFS_EXPECT_STATUS(engine().StatAsset("default", ida, false).status(), kNotFound,
                     "ASSET_NOT_FOUND");
  AIFS_EXPECT_STATUS(ReadBytes(engine(), "default", ida).status(), kNotFound, "ASSET_NOT_FOUND");
  AIFS_EXPECT_STATUS(engine().DeleteAsset("default", ida), kNotFound, "ASSET_NOT_FOUND");
  EXPECT_EQ(MustRead(idb), b);
  auto v = engine().VerifyAsset("default", idb);
  ASSERT_TRUE(v.ok());
  AIFS_EXPECT_OK(v->result);
  ExpectNamespaceMatchesDisk();

  // Put `a` again: its chunks shared with b dedup, the rest is stored anew.
  const PutResult again = MustPut(a);
  EXPECT_TRUE(again.created);
  EXPECT_EQ(again.chunks_new, ca.size() - shared.size());
  EXPECT_EQ(MustRead(ida), a);

  AIFS_ASSERT_OK(engine().DeleteAsset("default", idb));
  AIFS_ASSERT_OK(engine().DeleteAsset("default", ida));
  EXPECT_EQ(TallyFiles(ChunkDir()).files, 0u);
  const NamespaceInfo ns = MustNs();
  EXPECT_EQ(ns.asset_count, 0u);
  EXPECT_EQ(ns.chunk_count, 0u);
  EXPECT_EQ(ns.stored_bytes, 0u);
  EXPECT_EQ(ns.logical_bytes, 0u);
}

TEST_F(EngineTest, DeleteWithRepeatedChunksInOneAsset) {
  InitStore();
  const Bytes r = RandomBytes(70000, 151);
  Bytes x;
  for (int i = 0; i < 10; ++i) x.insert(x.end(), r.begin(), r.end());
  const PutResult px = MustPut(x);
  const AssetInfo ix = MustStat(px.asset.id);
  const auto distinct = ChunkSet({px.asset.id});
  ASSERT_LT(distinct.size(), ix.chunk_count) << "expected repeated chunks";
  EXPECT_EQ(px.chunks_new, distinct.size());
  EXPECT_EQ(TallyFiles(ChunkDir()).files, distinct.size());

  const Bytes y = Concat({x, RandomBytes(30000, 152)});
  const PutResult py = MustPut(y);
  AIFS_ASSERT_OK(engine().DeleteAsset("default", px.asset.id));
  EXPECT_EQ(MustRead(py.asset.id), y);
  EXPECT_EQ(TallyFiles(ChunkDir()).files, ChunkSet({py.asset.id}).size());
  ExpectNamespaceMatchesDisk();
  AIFS_ASSERT_OK(engine().DeleteAsset("default", py.asset.id));
  EXPECT_EQ(TallyFiles(ChunkDir()).files, 0u);
  ExpectNamespaceMatchesDisk();
}

// ------------------------------------------------------------ listing

TEST_F(EngineTest, ListAssetsPaging) {
  InitStore();
  std::set<std::string> want;
  for (int i = 0; i < 10; ++i) want.insert(MustPut(RandomBytes(1000 + i, 160 + i)).asset.id.ToHex());
  for (size_t limit : {size_t{3}, size_t{5}, size_t{1}, size_t{10}, size_t{11}, size_t{0}}) {
    SCOPED_TRACE("limit " + std::to_string(limit));
    std::vector<std::string> seen;
    std::vector<size_t> page_sizes;
    std::string token;
    for (int guard = 0; guard < 50; ++guard) {
      ListOptions lo;
      lo.limit = limit;
      lo.page_token = token;
      auto page = engine().ListAssets(lo);
      ASSERT_TRUE(page.ok()) << page.status().ToString();
      if (limit) { EXPECT_LE(page->assets.size(), limit); }
      page_sizes.push_back(page->assets.size());
      for (const auto& a : page->assets) seen.push_back(a.id.ToHex());
      token = page->next_page_token;
      if (token.empty()) break;
    }
    EXPECT_TRUE(token.empty()) << "paging did not end";
    EXPECT_EQ(seen.size(), want.size());
    EXPECT_EQ(std::set<std::string>(seen.begin(), seen.end()), want);
    EXPECT_TRUE(std::is_sorted(seen.begin(), seen.end()));
    EXPECT_EQ(std::adjacent_find(seen.begin(), seen.end()), seen.end()) << "duplicates";
    if (limit == 3) {
      EXPECT_EQ(page_sizes, (std::vector<size_t>{3, 3, 3, 1}));
    } else if (limit == 5) {
      EXPECT_EQ(page_sizes, (std::vector<size_t>{5, 5}));
    } else if (limit == 10 || limit == 11 || limit == 0) {
      EXPECT_EQ(page_sizes, (std::vector<size_t>{10}));
    }
  }
  ListOptions bad;
  bad.page_token = "not-a-token";
  AIFS_EXPECT_STATUS(engine().ListAssets(bad).status(), kInvalidArgument, "BAD_PAGE_TOKEN");
  // Listed infos carry the asset fields.
  auto page = engine().ListAssets(ListOptions{});
  ASSERT_TRUE(page.ok());
  for (const auto& a : page->assets) {
    EXPECT_EQ(a.ns, "default");
    EXPECT_GE(a.size, 1000u);
    EXPECT_LT(a.size, 1010u);
    EXPECT_EQ(a.kind, AssetKind::kBlob);
    EXPECT_GT(a.created_unix_ns, 0);
  }
}

TEST_F(EngineTest, ListAssetsFilters) {
  InitStore();
  struct Item {
    AssetKind kind;
    Metadata md;
    AssetId id;
  };
  std::vector<Item> items;
  const char* teams[] = {"vision", "nlp", "speech"};
  const char* stages[] = {"train-1", "train-2", "eval", "train-10"};
  for (int i = 0; i < 24; ++i) {
    Item it;
    // Typed kinds must hold valid encodings of their kind; these are blobs.
    it.kind = AssetKind::kBlob;
    it.md["team"] = teams[i % 3];
    it.md["stage"] = stages[(i / 3) % 4];
    if (i % 5 == 0) it.md["owner"] = "o" + std::to_string(i);
    PutOptions o;
    o.kind = it.kind;
    o.metadata = it.md;
    auto r = PutBytes(engine(), RandomBytes(500, 200 + i), o);
    ASSERT_TRUE(r.ok()) << r.status().ToString();
    it.id = r->asset.id;
    EXPECT_EQ(r->asset.metadata, it.md);
    EXPECT_EQ(r->asset.kind, it.kind);
    items.push_back(it);
  }
  auto run = [&](ListOptions lo, const std::function<bool(const Item&)>& pred, const char* what) {
    std::set<std::string> want;
    for (const auto& it : items)
      if (pred(it)) want.insert(it.id.ToHex());
    for (size_t limit : {size_t{1000}, size_t{2}}) {
      std::vector<std::string> got;
      lo.limit = limit;
      lo.page_token.clear();
      for (int guard = 0; guard < 100; ++guard) {
        auto page = engine().ListAssets(lo);
        ASSERT_TRUE(page.ok()) << page.status().ToString();
        for (const auto& a : page->assets) {
          got.push_back(a.id.ToHex());
          EXPECT_EQ(a.size, 500u);
        }
        lo.page_token = page->next_page_token;
        if (lo.page_token.empty()) break;
      }
      EXPECT_EQ(got.size(), want.size()) << what << " limit " << limit;
      EXPECT_EQ(std::set<std::string>(got.begin(), got.end()), want) << what << " limit " << limit;
    }
    EXPECT_FALSE(want.empty()) << what;
  };
  auto md = [](const Item& it, const std::string& k) -> const std::string* {
    auto f = it.md.find(k);
    return f == it.md.end() ? nullptr : &f->second;
  };
  ListOptions lo;
  lo.filters = {{"team", MetaFilter::Op::kEquals, "nlp"}};
  run(lo, [&](const Item& it) { return *md(it, "team") == "nlp"; }, "team == nlp");
  lo.filters = {{"stage", MetaFilter::Op::kPrefix, "train-1"}};
  run(lo, [&](const Item& it) { return md(it, "stage")->starts_with("train-1"); }, "prefix");
  lo.filters = {{"owner", MetaFilter::Op::kExists, ""}};
  run(lo, [&](const Item& it) { return md(it, "owner") != nullptr; }, "exists");
  lo.filters = {};
  lo.kind = AssetKind::kBlob;
  run(lo, [&](const Item& it) { return it.kind == AssetKind::kBlob; }, "kind blob");
  for (AssetKind k : {AssetKind::kTensor, AssetKind::kEmbed, AssetKind::kArtifact}) {
    ListOptions typed;
    typed.kind = k;
    auto p = engine().ListAssets(typed);
    ASSERT_TRUE(p.ok()) << p.status().ToString();
    EXPECT_TRUE(p->assets.empty()) << KindName(k);
  }
  lo.filters = {{"team", MetaFilter::Op::kEquals, "vision"},
                {"stage", MetaFilter::Op::kPrefix, "train"}};
  lo.kind = std::nullopt;
  run(lo,
      [&](const Item& it) {
        return *md(it, "team") == "vision" && md(it, "stage")->starts_with("train");
      },
      "and");
  // No match at all.
  ListOptions none;
  none.filters = {{"team", MetaFilter::Op::kEquals, "nobody"}};
  auto page = engine().ListAssets(none);
  ASSERT_TRUE(page.ok());
  EXPECT_TRUE(page->assets.empty());
  none.filters = {{"missing-key", MetaFilter::Op::kExists, ""}};
  page = engine().ListAssets(none);
  ASSERT_TRUE(page.ok());
  EXPECT_TRUE(page->assets.empty());
  // Equality is exact, not a prefix.
  none.filters = {{"team", MetaFilter::Op::kEquals, "nl"}};
  page = engine().ListAssets(none);
  ASSERT_TRUE(page.ok());
  EXPECT_TRUE(page->assets.empty());
}

// ------------------------------------------------------------ errors

TEST_F(EngineTest, NotFoundErrors) {
  InitStore();
  const AssetId ghost = IdOf(ToBytes("never stored"));
  AIFS_EXPECT_STATUS(engine().StatAsset("default", ghost, true).status(), kNotFound,
                     "ASSET_NOT_FOUND");
  AIFS_EXPECT_STATUS(ReadBytes(engine(), "default", ghost).status(), kNotFound, "ASSET_NOT_FOUND");
  AIFS_EXPECT_STATUS(engine().VerifyAsset("default", ghost).status(), kNotFound, "ASSET_NOT_FOUND");
  AIFS_EXPECT_STATUS(engine().DeleteAsset("default", ghost), kNotFound, "ASSET_NOT_FOUND");

  AIFS_EXPECT_STATUS(engine().StatAsset("nope", ghost, false).status(), kNotFound,
                     "NAMESPACE_NOT_FOUND");
  AIFS_EXPECT_STATUS(ReadBytes(engine(), "nope", ghost).status(), kNotFound, "NAMESPACE_NOT_FOUND");
  AIFS_EXPECT_STATUS(engine().VerifyAsset("nope", ghost).status(), kNotFound,
                     "NAMESPACE_NOT_FOUND");
  AIFS_EXPECT_STATUS(engine().DeleteAsset("nope", ghost), kNotFound, "NAMESPACE_NOT_FOUND");
  AIFS_EXPECT_STATUS(engine().GetNamespace("nope").status(), kNotFound, "NAMESPACE_NOT_FOUND");
  AIFS_EXPECT_STATUS(engine().DeleteNamespace("nope"), kNotFound, "NAMESPACE_NOT_FOUND");
  PutOptions po;
  po.ns = "nope";
  AIFS_EXPECT_STATUS(engine().BeginPut(po).status(), kNotFound, "NAMESPACE_NOT_FOUND");
  ListOptions lo;
  lo.ns = "nope";
  AIFS_EXPECT_STATUS(engine().ListAssets(lo).status(), kNotFound, "NAMESPACE_NOT_FOUND");

  // An asset in one namespace is not found in another.
  ASSERT_TRUE(engine().CreateNamespace("other", {}).ok());
  const Bytes d = RandomBytes(1000, 1);
  MustPut(d);
  AIFS_EXPECT_STATUS(engine().StatAsset("other", IdOf(d), false).status(), kNotFound,
                     "ASSET_NOT_FOUND");

  // Invalid names are INVALID_ARGUMENT everywhere.
  for (const std::string& bad : {std::string("Bad"), std::string(""), std::string("a/b")}) {
    AIFS_EXPECT_STATUS(engine().GetNamespace(bad).status(), kInvalidArgument,
                       "INVALID_NAMESPACE_NAME");
    AIFS_EXPECT_STATUS(engine().CreateNamespace(bad, {}).status(), kInvalidArgument,
                       "INVALID_NAMESPACE_NAME");
    AIFS_EXPECT_STATUS(engine().StatAsset(bad, ghost, false).status(), kInvalidArgument,
                       "INVALID_NAMESPACE_NAME");
    PutOptions p;
    p.ns = bad;
    AIFS_EXPECT_STATUS(engine().BeginPut(p).status(), kInvalidArgument, "INVALID_NAMESPACE_NAME");
  }
  // Bad metadata.
  PutOptions pm;
  pm.metadata = {{"", "v"}};
  AIFS_EXPECT_STATUS(engine().BeginPut(pm).status(), kInvalidArgument, "BAD_METADATA");
  pm.metadata = {{std::string(257, 'k'), "v"}};
  AIFS_EXPECT_STATUS(engine().BeginPut(pm).status(), kInvalidArgument, "BAD_METADATA");
  pm.metadata = {{"k", std::string(65537, 'v')}};
  AIFS_EXPECT_STATUS(engine().BeginPut(pm).status(), kInvalidArgument, "BAD_METADATA");
}

TEST_F(EngineTest, NamespaceLifecycle) {
  InitStore();
  auto created = engine().CreateNamespace("proj", {{"env", "test"}});
  ASSERT_TRUE(created.ok()) << created.status().ToString();
  EXPECT_EQ(created->name, "proj");
  EXPECT_EQ(created->labels, (Metadata{{"env", "test"}}));
  EXPECT_GT(created->created_unix_ns, 0);
  AIFS_EXPECT_STATUS(engine().CreateNamespace("proj", {}).status(), kAlreadyExists,
                     "NAMESPACE_EXISTS");
  AIFS_EXPECT_STATUS(engine().CreateNamespace("default", {}).status(), kAlreadyExists,
                     "NAMESPACE_EXISTS");
  EXPECT_EQ(MustNs("proj").labels, (Metadata{{"env", "test"}})) << "labels kept";

  const Bytes d = RandomBytes(100000, 171);
  MustPut(d, "proj");
  AIFS_EXPECT_STATUS(engine().DeleteNamespace("proj"), kFailedPrecondition, "NAMESPACE_NOT_EMPTY");
  EXPECT_EQ(MustRead(IdOf(d), "proj"), d);
  AIFS_ASSERT_OK(engine().DeleteAsset("proj", IdOf(d)));
  AIFS_EXPECT_OK(engine().DeleteNamespace("proj"));
  AIFS_EXPECT_STATUS(engine().GetNamespace("proj").status(), kNotFound, "NAMESPACE_NOT_FOUND");
  AIFS_EXPECT_STATUS(engine().DeleteNamespace("proj"), kNotFound, "NAMESPACE_NOT_FOUND");
  auto list = engine().ListNamespaces();
  ASSERT_TRUE(list.ok());
  ASSERT_EQ(list->size(), 1u);
  EXPECT_EQ((*list)[0].name, "default");

  // The name can be reused, starting empty.
  ASSERT_TRUE(engine().CreateNamespace("proj", {}).ok());
  const NamespaceInfo fresh = MustNs("proj");
  EXPECT_EQ(fresh.asset_count, 0u);
  EXPECT_TRUE(fresh.labels.empty());
  AIFS_EXPECT_STATUS(engine().StatAsset("proj", IdOf(d), false).status(), kNotFound,
                     "ASSET_NOT_FOUND");
  // An empty default namespace can be deleted too.
  AIFS_EXPECT_OK(engine().DeleteNamespace("default"));
}

TEST(EngineInit, InitAndOpenErrors) {
  TempDir dir;
  EngineOptions eo;
  eo.data_dir = dir.path();
  AIFS_EXPECT_STATUS(Engine::Open(eo).status(), kFailedPrecondition, "STORE_NOT_INITIALIZED");
  EngineOptions missing;
  missing.data_dir = dir.Sub("does-not-exist");
  AIFS_EXPECT_STATUS(Engine::Open(missing).status(), kFailedPrecondition, "STORE_NOT_INITIALIZED");

  InitOptions bad = SmallInit();
  bad.chunking.min_size = bad.chunking.avg_size;
  AIFS_EXPECT_STATUS(Engine::Init(dir.path(), bad), kInvalidArgument, "BAD_CHUNK_PARAMS");
  InitOptions badz = SmallInit();
  badz.zstd_level = 20;
  AIFS_EXPECT_STATUS(Engine::Init(dir.path(), badz), kInvalidArgument, "BAD_ZSTD_LEVEL");
  badz.zstd_level = -1;
  AIFS_EXPECT_STATUS(Engine::Init(dir.path(), badz), kInvalidArgument, "BAD_ZSTD_LEVEL");
  AIFS_EXPECT_STATUS(Engine::Open(eo).status(), kFailedPrecondition, "STORE_NOT_INITIALIZED");

  AIFS_ASSERT_OK(Engine::Init(dir.path(), SmallInit()));
  AIFS_EXPECT_STATUS(Engine::Init(dir.path(), SmallInit()), kAlreadyExists,
                     "STORE_ALREADY_INITIALIZED");
  AIFS_EXPECT_STATUS(Engine::Init(dir.path(), InitOptions{}), kAlreadyExists,
                     "STORE_ALREADY_INITIALIZED");
  auto e = Engine::Open(eo);
  ASSERT_TRUE(e.ok()) << e.status().ToString();
  auto ns = (*e)->ListNamespaces();
  ASSERT_TRUE(ns.ok());
  ASSERT_EQ(ns->size(), 1u);
  EXPECT_EQ((*ns)[0].name, "default");
  // The second Init did not change the configuration.
  EXPECT_EQ((*e)->DescribeStore()->chunk_avg, kAvg);
}

// ------------------------------------------------------------ writer lifecycle

TEST_F(EngineTest, AbortedWriterLeavesNothing) {
  InitStore();
  const Bytes data = RandomBytes(20 * kMax, 181);
  {
    auto w = engine().BeginPut(PutOptions{});
    ASSERT_TRUE(w.ok());
    AIFS_ASSERT_OK((*w)->Write(data));
    // Destroyed without Commit.
  }
  EXPECT_EQ(TallyFiles(ChunkDir()).files, 0u);
  AIFS_EXPECT_STATUS(engine().StatAsset("default", IdOf(data), false).status(), kNotFound,
                     "ASSET_NOT_FOUND");
  auto page = engine().ListAssets(ListOptions{});
  ASSERT_TRUE(page.ok());
  EXPECT_TRUE(page->assets.empty());
  const NamespaceInfo ns = MustNs();
  EXPECT_EQ(ns.asset_count, 0u);
  EXPECT_EQ(ns.chunk_count, 0u);
  EXPECT_EQ(ns.stored_bytes, 0u);

  // An aborted put that overlaps an existing asset leaves that asset intact.
  const Bytes base = RandomBytes(300000, 182);
  MustPut(base);
  const FileTally before = TallyFiles(ChunkDir());
  {
    auto w = engine().BeginPut(PutOptions{});
    ASSERT_TRUE(w.ok());
    AIFS_ASSERT_OK((*w)->Write(base));
    AIFS_ASSERT_OK((*w)->Write(RandomBytes(10 * kMax, 183)));
  }
  const FileTally after = TallyFiles(ChunkDir());
  EXPECT_EQ(after.files, before.files);
  EXPECT_EQ(after.bytes, before.bytes);
  EXPECT_EQ(MustRead(IdOf(base)), base);
  EXPECT_EQ(MustNs().asset_count, 1u);
  auto gc = engine().CollectGarbage(true);
  ASSERT_TRUE(gc.ok());
  EXPECT_EQ(gc->orphan_objects, 0u);
}

TEST_F(EngineTest, WriterCannotBeReused) {
  InitStore();
  auto w = engine().BeginPut(PutOptions{});
  ASSERT_TRUE(w.ok());
  AIFS_ASSERT_OK((*w)->Write(ToBytes("hello")));
  auto r = (*w)->Commit();
  ASSERT_TRUE(r.ok());
  EXPECT_EQ(r->asset.id, IdOf(ToBytes("hello")));
  AIFS_EXPECT_STATUS((*w)->Write(ToBytes("more")), kFailedPrecondition, "PUT_FINISHED");
  AIFS_EXPECT_STATUS((*w)->Commit().status(), kFailedPrecondition, "PUT_FINISHED");
  EXPECT_EQ(MustRead(IdOf(ToBytes("hello"))), ToBytes("hello"));
}

TEST_F(EngineTest, ExpectedSizeAndIdMismatchesLeaveNothing) {
  InitStore();
  const Bytes data = RandomBytes(8 * kMax + 123, 191);
  auto expect_nothing = [&](const char* what) {
    EXPECT_EQ(TallyFiles(ChunkDir()).files, 0u) << what;
    AIFS_EXPECT_STATUS(engine().StatAsset("default", IdOf(data), false).status(), kNotFound,
                       "ASSET_NOT_FOUND")
        << what;
    const NamespaceInfo ns = MustNs();
    EXPECT_EQ(ns.asset_count, 0u) << what;
    EXPECT_EQ(ns.stored_bytes, 0u) << what;
  };
  {
    PutOptions o;
    o.expected_size = data.size() + 1;
    auto r = PutBytes(engine(), data, o, {10000});
    AIFS_EXPECT_STATUS(r.status(), kInvalidArgument, "SIZE_MISMATCH");
    expect_nothing("short stream");
  }
  {
    PutOptions o;
    o.expected_size = data.size() - 1;
    auto r = PutBytes(engine(), data, o, {10000});
    AIFS_EXPECT_STATUS(r.status(), kInvalidArgument, "SIZE_MISMATCH");
    expect_nothing("long stream");
  }
  {
    PutOptions o;
    o.expected_size = 0;
    auto r = PutBytes(engine(), data, o);
    AIFS_EXPECT_STATUS(r.status(), kInvalidArgument, "SIZE_MISMATCH");
    expect_nothing("expected empty");
  }
  {
    PutOptions o;
    o.expected_id = IdOf(ToBytes("something else"));
    auto r = PutBytes(engine(), data, o, {30000});
    AIFS_EXPECT_STATUS(r.status(), kInvalidArgument, "ID_MISMATCH");
    expect_nothing("wrong id");
  }
  {
    PutOptions o;
    o.expected_id = IdOf(data);
    o.expected_size = data.size() + 5;
    auto r = PutBytes(engine(), data, o);
    EXPECT_FALSE(r.ok());
    expect_nothing("right id, wrong size");
  }
  {
    PutOptions o;
    o.expected_id = IdOf(data);
    o.expected_size = data.size();
    auto r = PutBytes(engine(), data, o, {7777});
    ASSERT_TRUE(r.ok()) << r.status().ToString();
    EXPECT_EQ(r->asset.id, IdOf(data));
    EXPECT_EQ(MustRead(IdOf(data)), data);
  }
}

// A typed put whose bytes are not a valid encoding of its kind is refused
// (kind_validator.h) and, like every failed put, leaves nothing behind.
TEST_F(EngineTest, TypedPutOfInvalidBytesLeavesNothing) {
  InitStore();
  const Bytes junk = RandomBytes(10 * kMax + 17, 271);
  for (AssetKind k : {AssetKind::kTensor, AssetKind::kEmbed, AssetKind::kArtifact}) {
    SCOPED_TRACE(std::string(KindName(k)));
    PutOptions o;
    o.kind = k;
    auto r = PutBytes(engine(), junk, o, {20000});
    ASSERT_FALSE(r.ok()) << "random bytes accepted as " << KindName(k);
    // Junk may also declare absurd sizes, refused as RESOURCE_EXHAUSTED.
    EXPECT_TRUE(r.status().code() == Code::kInvalidArgument ||
                r.status().code() == Code::kResourceExhausted)
        << r.status().ToString();
    EXPECT_EQ(TallyFiles(ChunkDir()).files, 0u);
    AIFS_EXPECT_STATUS(engine().StatAsset("default", IdOf(junk), false).status(), kNotFound,
                       "ASSET_NOT_FOUND");
    EXPECT_EQ(MustNs().asset_count, 0u);
  }
  // The same bytes as a blob are fine.
  EXPECT_EQ(MustRead(MustPut(junk).asset.id), junk);
}

// ------------------------------------------------------------ garbage collection

TEST_F(EngineTest, CollectGarbageReclaimsPlantedOrphans) {
  InitStore();
  const Bytes data = RandomBytes(300000, 201);
  const AssetId id = MustPut(data).asset.id;
  const FileTally live = TallyFiles(ChunkDir());

  // Plant an orphan object and a crash leftover through the chunk store itself.
  auto cs = OpenChunkStore("file://" + ChunkDir(), false);
  ASSERT_TRUE(cs.ok()) << cs.status().ToString();
  const std::string orphan = "0123456789abcdef0123456789abcdef";
  const Bytes orphan_bytes = RandomBytes(5000, 202);
  AIFS_ASSERT_OK((*cs)->Put(orphan, orphan_bytes));
  const std::string leftover_dir = ChunkDir() + "/fe";
  std::filesystem::create_directories(leftover_dir);
  const std::string leftover = "fedcba9876543210fedcba9876543210.tmp.99999.0";
  WriteFileBytes(leftover_dir + "/" + leftover, RandomBytes(777, 203));
  ASSERT_EQ(TallyFiles(ChunkDir()).files, live.files + 2);

  auto dry = engine().CollectGarbage(true);
  ASSERT_TRUE(dry.ok()) << dry.status().ToString();
  EXPECT_TRUE(dry->dry_run);
  EXPECT_EQ(dry->objects_scanned, live.files + 2);
  EXPECT_EQ(dry->orphan_objects, 2u);
  EXPECT_EQ(dry->orphan_bytes, 5000u + 777u);
  EXPECT_EQ(dry->reclaimed_objects, 0u);
  EXPECT_EQ(TallyFiles(ChunkDir()).files, live.files + 2) << "dry run deleted something";

  auto real = engine().CollectGarbage(false);
  ASSERT_TRUE(real.ok()) << real.status().ToString();
  EXPECT_FALSE(real->dry_run);
  EXPECT_EQ(real->orphan_objects, 2u);
  EXPECT_EQ(real->reclaimed_objects, 2u);
  const FileTally after = TallyFiles(ChunkDir());
  EXPECT_EQ(after.files, live.files);
  EXPECT_EQ(after.bytes, live.bytes);
  Bytes out;
  EXPECT_FALSE((*cs)->Get(orphan, out).ok());
  EXPECT_EQ(MustRead(id), data);

  auto again = engine().CollectGarbage(false);
  ASSERT_TRUE(again.ok());
  EXPECT_EQ(again->orphan_objects, 0u);
  EXPECT_EQ(again->objects_scanned, live.files);
}

TEST_F(EngineTest, CollectGarbageSparesObjectsOfAPutInProgress) {
  InitStore();
  const Bytes data = RandomBytes(30 * kMax, 211);
  auto w = engine().BeginPut(PutOptions{});
  ASSERT_TRUE(w.ok());
  AIFS_ASSERT_OK((*w)->Write(data));
  // Wait until the pipeline has stored some objects.
  for (int i = 0; i < 500 && TallyFiles(ChunkDir()).files == 0; ++i)
    std::this_thread::sleep_for(std::chrono::milliseconds(10));
  ASSERT_GT(TallyFiles(ChunkDir()).files, 0u);
  auto gc = engine().CollectGarbage(false);
  ASSERT_TRUE(gc.ok()) << gc.status().ToString();
  EXPECT_EQ(gc->reclaimed_objects, 0u);
  EXPECT_EQ(gc->orphan_objects, 0u);
  auto r = (*w)->Commit();
  ASSERT_TRUE(r.ok()) << r.status().ToString();
  EXPECT_EQ(MustRead(r->asset.id), data);
  auto v = engine().VerifyAsset("default", r->asset.id);
  ASSERT_TRUE(v.ok());
  AIFS_EXPECT_OK(v->result);
  ExpectNamespaceMatchesDisk();
}

// GcReport.reclaimed_objects must count objects that were really removed. A
// stray file outside its fan-out directory (e.g. copied there by hand) is
// listed by name, then "deleted" at the canonical path where it is not.
TEST_F(EngineTest, CollectGarbageReportsOnlyRealReclaims) {
  InitStore();
  const Bytes data = RandomBytes(100000, 205);
  MustPut(data);
  const size_t live = TallyFiles(ChunkDir()).files;
  WriteFileBytes(ChunkDir() + "/0badc0de0badc0de0badc0de0badc0de", RandomBytes(300, 206));
  ASSERT_EQ(TallyFiles(ChunkDir()).files, live + 1);
  auto gc = engine().CollectGarbage(false);
  ASSERT_TRUE(gc.ok()) << gc.status().ToString();
  // A file outside the fan-out layout is not a chunk object: GC leaves it
  // alone instead of claiming to reclaim it.
  EXPECT_EQ(gc->orphan_objects, 0u);
  const size_t removed = live + 1 - TallyFiles(ChunkDir()).files;
  EXPECT_EQ(gc->reclaimed_objects, removed)
      << "GC reported " << gc->reclaimed_objects << " reclaimed but removed " << removed;
  auto again = engine().CollectGarbage(false);
  ASSERT_TRUE(again.ok());
  EXPECT_TRUE(again->orphan_objects == 0 || again->reclaimed_objects == 0)
      << "the same orphan is 'reclaimed' on every run";
  EXPECT_EQ(MustRead(IdOf(data)), data);
}

TEST_F(EngineTest, OpenRefusesUnsafeOrMissingKeys) {
  InitStore();
  const Bytes data = RandomBytes(100000, 241);
  MustPut(data);
  engine_.reset();
  const std::string keyfile = dir_.Sub("kms/master.keys");
  EngineOptions eo;
  eo.data_dir = dir_.path();

  ASSERT_EQ(::chmod(keyfile.c_str(), 0644), 0);
  AIFS_EXPECT_STATUS(Engine::Open(eo).status(), kFailedPrecondition, "KMS_KEYFILE_INSECURE");
  ASSERT_EQ(::chmod(keyfile.c_str(), 0600), 0);

  const Bytes keys = ReadFileBytes(keyfile);
  std::filesystem::rename(keyfile, keyfile + ".away");
  AIFS_EXPECT_STATUS(Engine::Open(eo).status(), kFailedPrecondition, "KMS_KEY_UNAVAILABLE");

  // Another store's keyfile (same key ID "local:v1", other key): reads fail,
  // never return data.
  TempDir other;
  AIFS_ASSERT_OK(Engine::Init(other.path(), SmallInit()));
  std::filesystem::copy_file(other.Sub("kms/master.keys"), keyfile);
  ASSERT_EQ(::chmod(keyfile.c_str(), 0600), 0);
  auto e = Engine::Open(eo);
  ASSERT_TRUE(e.ok()) << e.status().ToString();
  size_t delivered = 0;
  Status st = (*e)->ReadAsset("default", IdOf(data), ReadRange{}, [&](ByteSpan b) {
    delivered += b.size();
    return Status::Ok();
  });
  EXPECT_FALSE(st.ok());
  EXPECT_TRUE(st.code() == Code::kDataLoss || st.code() == Code::kFailedPrecondition)
      << st.ToString();
  EXPECT_EQ(delivered, 0u);
  e->reset();

  // The right keyfile back: everything reads again.
  std::filesystem::remove(keyfile);
  std::filesystem::rename(keyfile + ".away", keyfile);
  Reopen();
  EXPECT_EQ(MustRead(IdOf(data)), data);
}

// A read that races a delete of its asset: the honest answer is that the
// asset is gone (NOT_FOUND ASSET_NOT_FOUND), not DATA_LOSS CHUNK_MISSING or
// NOT_FOUND METADATA_CORRUPT, which tell clients and operators that stored
// data or metadata was corrupted or lost.
TEST_F(EngineTest, ReadRacingDeleteReportsAssetNotFound) {
  InitStore();
  const Bytes data = RandomBytes(40 * kAvg, 251);
  const AssetId id = MustPut(data).asset.id;
  ASSERT_GE(MustStat(id).chunk_count, 20u);
  bool deleted = false;
  size_t delivered = 0;
  Status st = engine().ReadAsset("default", id, ReadRange{}, [&](ByteSpan b) {
    delivered += b.size();
    if (!deleted) {  // another client deletes the asset while we stream it
      deleted = true;
      EXPECT_TRUE(engine().DeleteAsset("default", id).ok());
    }
    return Status::Ok();
  });
  ASSERT_TRUE(deleted);
  if (!st.ok()) {
    EXPECT_TRUE(IsStatus(st, Code::kNotFound, "ASSET_NOT_FOUND"))
        << "read of a concurrently deleted asset failed with " << st.ToString();
    EXPECT_LT(delivered, data.size());
  }
  AIFS_EXPECT_STATUS(engine().StatAsset("default", id, false).status(), kNotFound,
                     "ASSET_NOT_FOUND");
}

// Puts, deletes and garbage collection all at once: afterwards every asset
// verifies, the books match the disk, and nothing is orphaned.
TEST_F(EngineTest, PutDeleteAndGcConcurrently) {
  InitStore();
  std::vector<Bytes> blocks;
  for (int i = 0; i < 5; ++i) blocks.push_back(RandomBytes(90000, 260 + i));
  std::vector<Bytes> assets;
  for (int i = 0; i < 5; ++i)
    assets.push_back(Concat({blocks[i], blocks[(i + 1) % 5], blocks[(i + 3) % 5]}));
  std::atomic<bool> stop{false};
  std::atomic<int> unexpected{0}, reclaimed_races{0}, puts_ok{0};
  std::mutex log_mu;
  std::string first_unexpected;
  auto note = [&](const Status& st) {
    ++unexpected;
    std::lock_guard lock(log_mu);
    if (first_unexpected.empty()) first_unexpected = st.ToString();
  };
  std::vector<std::thread> threads;
  for (int t = 0; t < 4; ++t) {
    threads.emplace_back([&, t] {
      std::mt19937_64 rng(900 + t);
      for (int op = 0; op < 25; ++op) {
        const Bytes& a = assets[rng() % assets.size()];
        if (rng() % 3) {
          auto r = PutBytes(engine(), a, PutOptions{}, {30000});
          if (r.ok()) {
            ++puts_ok;
          } else if (IsStatus(r.status(), Code::kAborted, "CHUNK_RECLAIMED")) {
            ++reclaimed_races;  // documented: the caller retries
          } else {
            note(r.status());
          }
        } else {
          Status st = engine().DeleteAsset("default", IdOf(a));
          if (!st.ok() && !IsStatus(st, Code::kNotFound, "ASSET_NOT_FOUND")) note(st);
        }
      }
    });
  }
  std::thread gc([&] {
    while (!stop.load()) {
      auto r = engine().CollectGarbage(false);
      if (!r.ok()) note(r.status());
    }
  });
  for (auto& th : threads) th.join();
  stop = true;
  gc.join();
  EXPECT_EQ(unexpected.load(), 0) << first_unexpected;
  EXPECT_GT(puts_ok.load(), 0);
  std::cout << "REPORT put-delete-gc-stress: " << puts_ok.load() << " puts ok, "
            << reclaimed_races.load() << " ABORTED CHUNK_RECLAIMED\n";

  auto page = engine().ListAssets(ListOptions{});
  ASSERT_TRUE(page.ok());
  std::vector<AssetId> live;
  uint64_t logical = 0;
  for (const auto& info : page->assets) {
    live.push_back(info.id);
    logical += info.size;
    auto v = engine().VerifyAsset("default", info.id);
    ASSERT_TRUE(v.ok());
    EXPECT_TRUE(v->result.ok()) << info.id.ToHex() << ": " << v->result.ToString();
  }
  const NamespaceInfo ns = MustNs();
  EXPECT_EQ(ns.asset_count, live.size());
  EXPECT_EQ(ns.logical_bytes, logical);
  EXPECT_EQ(ns.chunk_count, ChunkSet(live).size());
  ExpectNamespaceMatchesDisk();
  auto dry = engine().CollectGarbage(true);
  ASSERT_TRUE(dry.ok());
  EXPECT_EQ(dry->orphan_objects, 0u);
}

// ------------------------------------------------------------ read-only, compression

TEST_F(EngineTest, ReadOnlyEngineBesideTheWriter) {
  InitStore();
  const Bytes data = RandomBytes(200000, 221);
  const AssetId id = MustPut(data).asset.id;

  EngineOptions eo;
  eo.data_dir = dir_.path();
  eo.read_only = true;
  auto ro = Engine::Open(eo);
  ASSERT_TRUE(ro.ok()) << ro.status().ToString();
  Engine& r = **ro;
  auto got = ReadBytes(r, "default", id);
  ASSERT_TRUE(got.ok()) << got.status().ToString();
  EXPECT_EQ(*got, data);
  EXPECT_TRUE(r.DescribeStore()->read_only);
  auto v = r.VerifyAsset("default", id);
  ASSERT_TRUE(v.ok());
  AIFS_EXPECT_OK(v->result);
  auto dry = r.CollectGarbage(true);
  ASSERT_TRUE(dry.ok()) << dry.status().ToString();
  EXPECT_EQ(dry->orphan_objects, 0u);

  AIFS_EXPECT_STATUS(r.BeginPut(PutOptions{}).status(), kFailedPrecondition, "READ_ONLY_MODE");
  AIFS_EXPECT_STATUS(r.CreateNamespace("x", {}).status(), kFailedPrecondition, "READ_ONLY_MODE");
  AIFS_EXPECT_STATUS(r.DeleteNamespace("default"), kFailedPrecondition, "READ_ONLY_MODE");
  AIFS_EXPECT_STATUS(r.DeleteAsset("default", id), kFailedPrecondition, "READ_ONLY_MODE");
  AIFS_EXPECT_STATUS(r.RotateKey().status(), kFailedPrecondition, "READ_ONLY_MODE");
  AIFS_EXPECT_STATUS(r.CollectGarbage(false).status(), kFailedPrecondition, "READ_ONLY_MODE");
  // Nothing changed for the writer.
  EXPECT_EQ(MustRead(id), data);
  EXPECT_EQ(MustNs().asset_count, 1u);
}

TEST_F(EngineTest, CompressionFollowsTheStoreSetting) {
  for (int level : {0, 1}) {
    SCOPED_TRACE("zstd level " + std::to_string(level));
    TempDir dir;
    InitOptions io = SmallInit();
    io.zstd_level = level;
    AIFS_ASSERT_OK(Engine::Init(dir.path(), io));
    EngineOptions eo;
    eo.data_dir = dir.path();
    auto e = Engine::Open(eo);
    ASSERT_TRUE(e.ok());
    const Bytes text = TextBytes(300000, 231);
    const Bytes rnd = RandomBytes(100000, 232);
    auto pt = PutBytes(**e, text);
    auto pr = PutBytes(**e, rnd);
    ASSERT_TRUE(pt.ok() && pr.ok());
    auto st = (*e)->StatAsset("default", pt->asset.id, true);
    ASSERT_TRUE(st.ok());
    for (const auto& c : st->chunks) {
      if (c.length < 64) continue;  // too short to be worth compressing
      EXPECT_EQ(c.compressed, level > 0);
      if (level > 0) {
        EXPECT_LT(c.stored_size, c.length);
      } else {
        EXPECT_EQ(c.stored_size, c.length + 16);
      }
    }
    auto sr = (*e)->StatAsset("default", pr->asset.id, true);
    ASSERT_TRUE(sr.ok());
    for (const auto& c : sr->chunks) {
      EXPECT_FALSE(c.compressed);
      EXPECT_EQ(c.stored_size, c.length + 16);
    }
    auto rt = ReadBytes(**e, "default", pt->asset.id);
    ASSERT_TRUE(rt.ok()) << rt.status().ToString();
    EXPECT_EQ(*rt, text);
    auto rr = ReadBytes(**e, "default", pr->asset.id);
    ASSERT_TRUE(rr.ok()) << rr.status().ToString();
    EXPECT_EQ(*rr, rnd);
    EXPECT_EQ((*e)->DescribeStore()->zstd_level, level);
  }
}

// ------------------------------------------------------------ concurrency

TEST_F(EngineTest, ConcurrentOverlappingPuts) {
  InitStore();
  constexpr int kThreads = 8;
  std::vector<Bytes> shared;
  for (int i = 0; i < 4; ++i) shared.push_back(RandomBytes(150000, 300 + i));
  std::vector<Bytes> unique;
  for (int t = 0; t < kThreads; ++t) unique.push_back(RandomBytes(100000, 400 + t));

  // Per thread: one asset all threads put, one shared by half of them, and
  // two of its own that share chunks with the others.
  std::vector<std::vector<Bytes>> work(kThreads);
  for (int t = 0; t < kThreads; ++t) {
    work[t].push_back(Concat({shared[0], shared[1]}));
    work[t].push_back(Concat({shared[2], shared[3], shared[t % 2]}));
    work[t].push_back(Concat({shared[t % 4], unique[t]}));
    work[t].push_back(Concat({unique[t], shared[2]}));
  }
  std::map<std::string, const Bytes*> distinct;
  for (const auto& w : work)
    for (const auto& b : w) distinct[IdOf(b).ToHex()] = &b;
  ASSERT_EQ(distinct.size(), 1u + 2u + 2u * kThreads);

  std::vector<std::vector<Result<PutResult>>> results(kThreads);
  std::atomic<bool> go{false};
  std::vector<std::thread> threads;
  for (int t = 0; t < kThreads; ++t) {
    threads.emplace_back([&, t] {
      while (!go.load()) std::this_thread::yield();
      for (size_t i = 0; i < work[t].size(); ++i) {
        const size_t k = (i + static_cast<size_t>(t)) % work[t].size();  // vary the order
        results[t].push_back(PutBytes(engine(), work[t][k], PutOptions{},
                                      RandomPieces(16, 50000, 1000 + t * 10 + i)));
      }
    });
  }
  go = true;
  for (auto& th : threads) th.join();

  std::map<std::string, int> created;
  for (int t = 0; t < kThreads; ++t)
    for (const auto& r : results[t]) {
      ASSERT_TRUE(r.ok()) << "thread " << t << ": " << r.status().ToString();
      created[r->asset.id.ToHex()] += r->created ? 1 : 0;
    }
  ASSERT_EQ(created.size(), distinct.size());
  for (const auto& [id, n] : created) EXPECT_EQ(n, 1) << "asset " << id << " created " << n << "x";

  uint64_t logical = 0;
  std::vector<AssetId> ids;
  for (const auto& [hex, bytes] : distinct) {
    const AssetId id = *AssetId::Parse(hex);
    ids.push_back(id);
    logical += bytes->size();
    EXPECT_EQ(MustRead(id), *bytes) << hex;
  }
  const NamespaceInfo ns = MustNs();
  EXPECT_EQ(ns.asset_count, distinct.size());
  EXPECT_EQ(ns.logical_bytes, logical);
  EXPECT_EQ(ns.chunk_count, ChunkSet(ids).size());
  EXPECT_EQ(ns.stored_bytes, StoredBytesOf(ids));
  ExpectNamespaceMatchesDisk();
  auto gc = engine().CollectGarbage(true);
  ASSERT_TRUE(gc.ok());
  EXPECT_EQ(gc->orphan_objects, 0u) << "racing puts leaked objects";

  // Concurrent readers and deleters do not disturb each other's assets.
  std::vector<std::thread> readers;
  std::atomic<int> bad{0};
  for (int t = 0; t < kThreads; ++t) {
    readers.emplace_back([&, t] {
      const Bytes& mine = work[t][3];  // unique per thread
      if (t % 2 == 0) {
        if (!engine().DeleteAsset("default", IdOf(mine)).ok()) ++bad;
      } else {
        auto r = ReadBytes(engine(), "default", IdOf(work[t][0]));
        if (!r.ok() || *r != work[t][0]) ++bad;
      }
    });
  }
  for (auto& th : readers) th.join();
  EXPECT_EQ(bad.load(), 0);
  EXPECT_EQ(MustNs().asset_count, distinct.size() - kThreads / 2);
  ExpectNamespaceMatchesDisk();
}

}  // namespace
}  // namespace aifs::test
