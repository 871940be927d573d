// Packs of small chunks (engine/chunk_objects.h, engine/repack.h): the small
// assets of a transaction share a few pack objects; every byte reads back;
// the store's disk bytes equal the namespace's stored bytes; deleting and
// gc free whole packs and rewrite mostly-dead ones exactly; a reader holding
// a chunk's old place follows it after a repack; puts, deletes and gc racing
// never lose a committed asset.
#include <atomic>
#include <thread>

#include "aifs/engine/chunk_objects.h"
#include "aifs/storage/chunk_sealer.h"
#include "test_util.h"

namespace aifs::test {
namespace {

// The default chunking (256 KiB minimum): assets under it are one packed chunk.
InitOptions DefaultChunking() { return InitOptions{}; }

class PackTest : public EngineFixture {
 protected:
  void SetUp() override { InitStore(DefaultChunking()); }

  // Puts `files` in one transaction; returns their IDs in order.
  std::vector<AssetId> PutInOneTransaction(const std::vector<Bytes>& files,
                                           const std::string& ns = "default") {
    auto txn = engine().BeginTransaction(ns);
    EXPECT_TRUE(txn.ok()) << txn.status().ToString();
    if (!txn.ok()) return {};
    for (const Bytes& f : files) {
      auto w = (*txn)->BeginPut(PutOptions{.ns = ns});
      EXPECT_TRUE(w.ok());
      AIFS_EXPECT_OK((*w)->Write(f));
      AIFS_EXPECT_OK((*w)->Commit().status());
    }
    auto results = (*txn)->Commit();
    EXPECT_TRUE(results.ok()) << results.status().ToString();
    std::vector<AssetId> ids;
    if (results.ok())
      for (const PutResult& r : *results) ids.push_back(r.asset.id);
    return ids;
  }
  // Files of 1-64 KiB, seeded.
  static std::vector<Bytes> SmallFiles(size_t n, uint64_t seed) {
    std::vector<Bytes> out;
    for (size_t i = 0; i < n; ++i)
      out.push_back(RandomBytes(1024 + (seed * 7919 + i * 104729) % (63 * 1024), seed * 1000 + i));
    return out;
  }
  void ExpectAllRead(const std::vector<AssetId>& ids, const std::vector<Bytes>& files) {
    ASSERT_EQ(ids.size(), files.size());
    for (size_t i = 0; i < ids.size(); ++i) {
      ASSERT_EQ(ids[i], IdOf(files[i])) << i;
      ASSERT_EQ(MustRead(ids[i]), files[i]) << i;
    }
  }
  GcReport MustGc() {
    auto gc = engine().CollectGarbage(false);
    EXPECT_TRUE(gc.ok()) << gc.status().ToString();
    return gc.ok() ? *gc : GcReport{};
  }
};

TEST_F(PackTest, SmallAssetsOfATransactionShareAFewPacksAndReadBack) {
  const std::vector<Bytes> files = SmallFiles(300, 1);
  uint64_t total = 0;
  for (const Bytes& f : files) total += f.size();
  const std::vector<AssetId> ids = PutInOneTransaction(files);
  ExpectAllRead(ids, files);
  // A pack is written when it reaches 4 MiB: random bytes do not compress.
  const FileTally disk = TallyFiles(ChunkDir());
  EXPECT_LE(disk.files, total / PackWriter::kTargetBytes + 1);
  EXPECT_GE(disk.files, total / (PackWriter::kTargetBytes + 64 * 1024));
  const NamespaceInfo ns = MustNs();
  EXPECT_EQ(ns.chunk_count, files.size());
  EXPECT_EQ(ns.stored_bytes, disk.bytes) << "packs hold exactly the sealed chunks";
  // Ranges inside packed chunks, and after a reopen (durable at commit).
  Reopen();
  for (size_t i = 0; i < ids.size(); i += 37) {
    const Bytes& f = files[i];
    EXPECT_EQ(MustRead(ids[i], "default", {.offset = f.size() / 3, .length = 1000}),
              Slice(f, f.size() / 3, 1000));
  }
  auto verified = engine().VerifyAsset("default", ids[5]);
  AIFS_EXPECT_OK(verified.status());
  // A single put outside a transaction keeps its own object.
  const size_t before = TallyFiles(ChunkDir()).files;
  MustPut(RandomBytes(5000, 77));
  EXPECT_EQ(TallyFiles(ChunkDir()).files, before + 1);
}

TEST_F(PackTest, AnAbandonedTransactionLeavesNoPack) {
  {
    auto txn = engine().BeginTransaction("default");
    ASSERT_TRUE(txn.ok());
    for (const Bytes& f : SmallFiles(200, 2)) {  // more than one pack
      auto w = (*txn)->BeginPut(PutOptions{});
      ASSERT_TRUE(w.ok());
      AIFS_ASSERT_OK((*w)->Write(f));
      AIFS_ASSERT_OK((*w)->Commit().status());
    }
    ASSERT_GT(TallyFiles(ChunkDir()).files, 0u) << "full packs are written before the commit";
  }  // destroyed without Commit
  EXPECT_EQ(TallyFiles(ChunkDir()).files, 0u);
  EXPECT_EQ(MustNs().asset_count, 0u);
}

TEST_F(PackTest, DeletingEverythingFreesThePacksAtGc) {
  const std::vector<Bytes> files = SmallFiles(150, 3);
  const std::vector<AssetId> ids = PutInOneTransaction(files);
  for (const AssetId& id : ids) AIFS_ASSERT_OK(engine().DeleteAsset("default", id, false));
  EXPECT_EQ(MustNs().stored_bytes, 0u);
  EXPECT_GT(TallyFiles(ChunkDir()).files, 0u) << "packs wait for gc";
  const GcReport gc = MustGc();
  EXPECT_GT(gc.reclaimed_objects, 0u);
  EXPECT_EQ(gc.packs_rewritten, 0u);
  EXPECT_EQ(TallyFiles(ChunkDir()).bytes, 0u);
}

TEST_F(PackTest, GcRewritesMostlyDeadPacksExactly) {
  const std::vector<Bytes> files = SmallFiles(400, 4);
  const std::vector<AssetId> ids = PutInOneTransaction(files);
  std::vector<AssetId> kept_ids;
  std::vector<Bytes> kept;
  for (size_t i = 0; i < ids.size(); ++i) {
    if (i % 4 == 0) {
      kept_ids.push_back(ids[i]);
      kept.push_back(files[i]);
    } else {
      AIFS_ASSERT_OK(engine().DeleteAsset("default", ids[i], false));
    }
  }
  const FileTally before = TallyFiles(ChunkDir());
  auto dry = engine().CollectGarbage(true);
  ASSERT_TRUE(dry.ok());
  EXPECT_GT(dry->packs_rewritten, 0u);
  EXPECT_EQ(TallyFiles(ChunkDir()).bytes, before.bytes) << "a dry run changes nothing";
  const GcReport gc = MustGc();
  EXPECT_EQ(gc.packs_rewritten, dry->packs_rewritten);
  EXPECT_EQ(gc.pack_bytes_freed, before.bytes - MustNs().stored_bytes);
  // Only live sealed bytes are left, and all of them read back.
  EXPECT_EQ(TallyFiles(ChunkDir()).bytes, MustNs().stored_bytes);
  ExpectAllRead(kept_ids, kept);
  Reopen();
  ExpectAllRead(kept_ids, kept);
  auto verify = engine().VerifyAsset("default", kept_ids.back());
  AIFS_EXPECT_OK(verify.status());
  const GcReport again = MustGc();
  EXPECT_EQ(again.packs_rewritten, 0u);
  EXPECT_EQ(again.orphan_objects, 0u);
}

TEST_F(PackTest, AReaderHoldingAnOldPlaceFollowsTheChunkAfterARepack) {
  const std::vector<Bytes> files = SmallFiles(100, 5);
  const std::vector<AssetId> ids = PutInOneTransaction(files);
  StoreContext& ctx = engine().store();
  const Digest hash = Blake3::Hash(files[0]);  // one chunk: its hash is the asset's
  auto old_rec = LoadChunkRecord(ctx, "default", hash);
  ASSERT_TRUE(old_rec.ok()) << old_rec.status().ToString();
  ASSERT_TRUE(InPack(*old_rec));
  for (size_t i = 1; i < ids.size(); ++i)
    AIFS_ASSERT_OK(engine().DeleteAsset("default", ids[i], false));
  ASSERT_EQ(MustGc().packs_rewritten, 1u);

  store::v1::ChunkRecord rec = *old_rec;
  Bytes sealed, plain;
  AIFS_ASSERT_OK(ReadSealedChunk(ctx, "default", hash, rec, sealed));
  EXPECT_NE(rec.object(), old_rec->object()) << "the record was read again";
  AIFS_ASSERT_OK(OpenChunk(*ctx.kms, "default", hash, rec, sealed, plain));
  EXPECT_EQ(plain, files[0]);
  Bytes part;
  store::v1::ChunkRecord stale = *old_rec;
  AIFS_ASSERT_OK(ReadSealedRange(ctx, "default", hash, stale, 10, 100, part));
  EXPECT_EQ(part, Slice(sealed, 10, 100));
  // A chunk whose pack is really gone is data loss, not a retry loop.
  AIFS_ASSERT_OK(ctx.chunks->Delete(rec.object()));
  EXPECT_TRUE(IsStatus(ReadSealedChunk(ctx, "default", hash, rec, sealed), Code::kDataLoss,
                       "CHUNK_MISSING"));
  EXPECT_TRUE(
      IsStatus(ReadBytes(engine(), "default", ids[0]).status(), Code::kDataLoss, "CHUNK_MISSING"));
}

TEST_F(PackTest, ADuplicateInOneTransactionIsDeadBytesUntilGc) {
  std::vector<Bytes> files = SmallFiles(20, 6);
  files.push_back(files[3]);  // the same bytes twice: one chunk record, two packed copies
  const std::vector<AssetId> ids = PutInOneTransaction(files);
  EXPECT_EQ(ids[3], ids.back());
  EXPECT_EQ(MustNs().chunk_count, 20u);
  auto dup = LoadChunkRecord(engine().store(), "default", Blake3::Hash(files[3]));
  ASSERT_TRUE(dup.ok());
  EXPECT_EQ(TallyFiles(ChunkDir()).bytes, MustNs().stored_bytes + dup->stored_size())
      << "the second copy is dead bytes in its pack";
  for (size_t i = 0; i < 20; ++i) {
    if (i == 3) continue;
    AIFS_ASSERT_OK(engine().DeleteAsset("default", ids[i], false));
  }
  MustGc();
  EXPECT_EQ(TallyFiles(ChunkDir()).bytes, MustNs().stored_bytes);
  EXPECT_EQ(MustRead(ids[3]), files[3]);
}

TEST_F(PackTest, PutsDeletesAndGcRacingNeverLoseACommittedAsset) {
  std::atomic<bool> stop{false};
  std::atomic<int> gcs{0};
  std::thread collector([&] {
    while (!stop) {
      auto gc = engine().CollectGarbage(false);
      EXPECT_TRUE(gc.ok()) << gc.status().ToString();
      ++gcs;
    }
  });
  std::vector<AssetId> kept_ids;
  std::vector<Bytes> kept;
  for (int round = 0; round < 12; ++round) {
    const std::vector<Bytes> files = SmallFiles(60, 100 + round);
    const std::vector<AssetId> ids = PutInOneTransaction(files);
    ASSERT_EQ(ids.size(), files.size());
    for (size_t i = 0; i < ids.size(); ++i) {
      if (i % 3 == 0) {
        kept_ids.push_back(ids[i]);
        kept.push_back(files[i]);
      } else {
        AIFS_ASSERT_OK(engine().DeleteAsset("default", ids[i], false));
      }
    }
    ExpectAllRead(kept_ids, kept);
  }
  stop = true;
  collector.join();
  EXPECT_GT(gcs.load(), 0);
  MustGc();
  MustGc();
  ExpectAllRead(kept_ids, kept);
  // Packs rewritten while their chunks were still being deleted hold some
  // dead bytes again: at most 5% of the pack bytes stay dead.
  const FileTally disk = TallyFiles(ChunkDir());
  EXPECT_GE(disk.bytes, MustNs().stored_bytes);
  EXPECT_LE(disk.bytes - MustNs().stored_bytes, disk.bytes / 20);
}

}  // namespace
}  // namespace aifs::test
