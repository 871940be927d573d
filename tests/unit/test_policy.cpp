// Namespace policies (quotas, compression level, segment size) and snapshot
// pruning with reclamation of the tree nodes only pruned snapshots used.
#include <set>

#include "aifs/meta/keys.h"
#include "aifs/meta/records.h"
#include "test_util.h"

namespace aifs::test {
namespace {

class PolicyTest : public EngineFixture {
 protected:
  void SetUp() override { InitStore(); }
};

TEST_F(PolicyTest, QuotasRefuseCommitsBeyondThemAndNothingElse) {
  NamespacePolicy p;
  p.max_logical_bytes = 100000;
  p.max_assets = 3;
  auto set = engine().SetNamespacePolicy("default", p);
  ASSERT_TRUE(set.ok()) << set.status().ToString();
  EXPECT_EQ(set->policy, p);
  EXPECT_EQ(MustNs().policy, p);  // stored

  MustPut(RandomBytes(60000, 1));
  AIFS_EXPECT_STATUS(PutBytes(engine(), RandomBytes(50000, 2)).status(), kResourceExhausted,
                     "QUOTA_EXCEEDED");
  // Declared sizes are refused before any byte is sent.
  PutOptions declared;
  declared.expected_size = 50000;
  AIFS_EXPECT_STATUS(engine().BeginPut(declared).status(), kResourceExhausted, "QUOTA_EXCEEDED");
  // A re-put of stored bytes adds nothing, so it is fine at the limit.
  MustPut(RandomBytes(60000, 1));
  MustPut(RandomBytes(100, 3));
  MustPut(RandomBytes(100, 4));
  AIFS_EXPECT_STATUS(PutBytes(engine(), RandomBytes(100, 5)).status(), kResourceExhausted,
                     "QUOTA_EXCEEDED");
  EXPECT_EQ(MustNs().asset_count, 3u);
  // A transaction over quota commits none of its assets.
  p.max_assets = 4;
  ASSERT_TRUE(engine().SetNamespacePolicy("default", p).ok());
  {
    auto txn = engine().BeginTransaction("default");
    ASSERT_TRUE(txn.ok());
    for (uint64_t seed : {6, 7}) {
      auto w = (*txn)->BeginPut({});
      ASSERT_TRUE(w.ok());
      AIFS_ASSERT_OK((*w)->Write(RandomBytes(100, seed)));
      ASSERT_TRUE((*w)->Commit().ok());
    }
    AIFS_EXPECT_STATUS((*txn)->Commit().status(), kResourceExhausted, "QUOTA_EXCEEDED");
  }
  EXPECT_EQ(MustNs().asset_count, 3u);
  // Lifting the quota lets the same put through; other namespaces never cared.
  ASSERT_TRUE(engine().SetNamespacePolicy("default", {}).ok());
  MustPut(RandomBytes(50000, 2));
  ASSERT_TRUE(engine().CreateNamespace("free", {}).ok());
  MustPut(RandomBytes(200000, 8), "free");

  AIFS_EXPECT_STATUS(engine().SetNamespacePolicy("nope", p).status(), kNotFound,
                     "NAMESPACE_NOT_FOUND");
  p.zstd_level = 42;
  AIFS_EXPECT_STATUS(engine().SetNamespacePolicy("default", p).status(), kInvalidArgument,
                     "BAD_POLICY");
}

TEST_F(PolicyTest, CompressionLevelPerNamespace) {
  ASSERT_TRUE(engine().CreateNamespace("raw", {}).ok());
  NamespacePolicy off;
  off.zstd_level = 0;
  ASSERT_TRUE(engine().SetNamespacePolicy("raw", off).ok());
  const Bytes text = TextBytes(300000, 1);
  auto packed = MustPut(text);
  auto raw = MustPut(text, "raw");
  EXPECT_LT(MustNs().stored_bytes, text.size() / 2);
  EXPECT_GE(MustNs("raw").stored_bytes, text.size());  // sealed raw: plus AEAD tags
  EXPECT_EQ(MustRead(raw.asset.id, "raw"), text);
  auto stat = engine().StatAsset("raw", raw.asset.id, true);
  ASSERT_TRUE(stat.ok());
  for (const ChunkInfo& c : stat->chunks) EXPECT_FALSE(c.compressed);
}

TEST_F(PolicyTest, NamespacePinnedToAKmsKeyKeepsUsingItAfterRotation) {
  ASSERT_TRUE(engine().CreateNamespace("pinned", {}).ok());
  const std::string v1 = engine().DescribeStore()->kms_current_key;
  NamespacePolicy p;
  p.kms_key_id = "local:v99";
  AIFS_EXPECT_STATUS(engine().SetNamespacePolicy("pinned", p).status(), kNotFound,
                     "KMS_KEY_NOT_FOUND");
  p.kms_key_id = v1;
  ASSERT_TRUE(engine().SetNamespacePolicy("pinned", p).ok());
  auto v2 = engine().RotateKey();
  ASSERT_TRUE(v2.ok());
  ASSERT_NE(*v2, v1);
  auto keys_of = [&](const std::string& ns, const Bytes& data) {
    auto put = MustPut(data, ns);
    auto stat = engine().StatAsset(ns, put.asset.id, true);
    EXPECT_TRUE(stat.ok());
    std::set<std::string> keys;
    for (const ChunkInfo& c : stat->chunks) keys.insert(c.kms_key_id);
    EXPECT_EQ(MustRead(put.asset.id, ns), data);
    return keys;
  };
  EXPECT_EQ(keys_of("pinned", RandomBytes(100000, 1)), std::set<std::string>{v1});
  EXPECT_EQ(keys_of("default", RandomBytes(100000, 2)), std::set<std::string>{*v2});
  p.kms_key_id.clear();  // back to the current key
  ASSERT_TRUE(engine().SetNamespacePolicy("pinned", p).ok());
  EXPECT_EQ(keys_of("pinned", RandomBytes(100000, 3)), std::set<std::string>{*v2});
}

// The segment size of a namespace's new chunks; oracle: the chunk records'
// segment tables, and the bytes read back whole and in ranges.
TEST_F(PolicyTest, SegmentSizePerNamespace) {
  ASSERT_TRUE(engine().CreateNamespace("small", {}).ok());
  NamespacePolicy p;
  for (uint32_t bad : {0u + 4095, (16u << 20) + 1, ~0u}) {
    p.segment_size = bad;
    AIFS_EXPECT_STATUS(engine().SetNamespacePolicy("small", p).status(), kInvalidArgument,
                       "BAD_SEGMENT_SIZE");
  }
  p.segment_size = 4096;
  auto set = engine().SetNamespacePolicy("small", p);
  ASSERT_TRUE(set.ok()) << set.status().ToString();
  EXPECT_EQ(MustNs("small").policy.segment_size, 4096u);
  EXPECT_EQ(MustNs().policy.segment_size, 0u);
  // Segment sizes of the chunk records behind `id` in `ns`.
  auto sizes_of = [&](const std::string& ns, const AssetId& id) {
    auto stat = engine().StatAsset(ns, id, true);
    EXPECT_TRUE(stat.ok());
    std::set<uint32_t> sizes;
    for (const ChunkInfo& c : stat->chunks) {
      auto rec = LoadRecord<store::v1::ChunkRecord>(*engine().store().meta, keys::Chunk(ns, c.hash),
                                                    "CHUNK_NOT_FOUND", "chunk");
      EXPECT_TRUE(rec.ok());
      if (!rec.ok()) continue;
      sizes.insert(rec->segment_size());
      const uint64_t count = (c.length + rec->segment_size() - 1) / rec->segment_size();
      EXPECT_EQ(rec->segment_table().size(), 4 * count);
    }
    return sizes;
  };
  for (const Bytes& data : {RandomBytes(3 << 20, 1), TextBytes(3 << 20, 2)}) {
    auto small = MustPut(data, "small");
    auto dflt = MustPut(data);
    EXPECT_EQ(sizes_of("small", small.asset.id), std::set<uint32_t>{4096});
    EXPECT_EQ(sizes_of("default", dflt.asset.id), std::set<uint32_t>{64 << 10});
    EXPECT_EQ(MustRead(small.asset.id, "small"), data);
    for (uint64_t off :
         {uint64_t{0}, uint64_t{4095}, uint64_t{1} << 20, uint64_t{3 << 20} - 5000}) {
      EXPECT_EQ(MustRead(small.asset.id, "small", ReadRange{off, 5000}), Slice(data, off, 5000))
          << off;
    }
  }
  // Back to the store's: new chunks get 64 KiB segments again.
  p.segment_size = 0;
  ASSERT_TRUE(engine().SetNamespacePolicy("small", p).ok());
  auto later = MustPut(RandomBytes(1 << 20, 3), "small");
  EXPECT_EQ(sizes_of("small", later.asset.id), std::set<uint32_t>{64 << 10});
}

class PruneTest : public EngineFixture {
 protected:
  void SetUp() override { InitStore(); }
  // Takes a snapshot after adding `n` fresh assets.
  SnapshotInfo Grow(int n, uint64_t seed) {
    for (int i = 0; i < n; ++i) MustPut(RandomBytes(64, seed * 1000 + i));
    auto s = engine().CreateSnapshot("default", nullptr);
    EXPECT_TRUE(s.ok()) << s.status().ToString();
    return s.ok() ? *s : SnapshotInfo{};
  }
  size_t Nodes() {
    size_t n = 0;
    auto meta = OpenMetaStore("rocksdb://" + dir_.Sub("meta"), {.read_only = true});
    EXPECT_TRUE(meta.ok());
    const std::string prefix = keys::MstNodePrefix("default");
    (void)(*meta)->Scan(prefix, PrefixEnd(prefix), [&](std::string_view, std::string_view) {
      ++n;
      return true;
    });
    return n;
  }
};

TEST_F(PruneTest, KeepsRetainedAndPinnedSnapshotsAndReclaimsOnlyUnusedNodes) {
  std::vector<SnapshotInfo> snaps;
  for (int i = 0; i < 6; ++i) snaps.push_back(Grow(400, i + 1));
  ASSERT_TRUE(engine().CreateTag("default", "first", snaps[0].id.ToHex(), "t").ok());
  ASSERT_TRUE(engine().CreateBranch("default", "b", snaps[2].id.ToHex(), "t").ok());

  // No retention configured: pruning keeps everything.
  auto none = engine().PruneSnapshots("default", {});
  ASSERT_TRUE(none.ok());
  EXPECT_TRUE(none->removed.empty());
  EXPECT_EQ(none->nodes_removed, 0u);

  const size_t nodes_before = Nodes();
  PruneOptions keep2;
  keep2.keep_snapshots = 2;
  keep2.dry_run = true;
  auto dry = engine().PruneSnapshots("default", keep2);
  ASSERT_TRUE(dry.ok());
  // Newest two (5, 4) kept, the tagged 0 and the branch's 2 too.
  EXPECT_EQ(std::set<SnapshotId>(dry->removed.begin(), dry->removed.end()),
            (std::set<SnapshotId>{snaps[1].id, snaps[3].id}));
  EXPECT_EQ(dry->kept, 4u);
  EXPECT_GT(dry->nodes_removed, 0u);
  Reopen();
  EXPECT_EQ(Nodes(), nodes_before);  // a dry run changes nothing
  EXPECT_EQ(engine().ListSnapshots("default")->size(), 6u);

  keep2.dry_run = false;
  auto done = engine().PruneSnapshots("default", keep2);
  ASSERT_TRUE(done.ok());
  EXPECT_EQ(done->removed, dry->removed);
  EXPECT_EQ(done->nodes_removed, dry->nodes_removed);
  Reopen();
  EXPECT_EQ(Nodes(), nodes_before - done->nodes_removed);
  EXPECT_EQ(engine().ListSnapshots("default")->size(), 4u);
  AIFS_EXPECT_STATUS(engine().GetSnapshot("default", snaps[1].id.ToHex()).status(), kNotFound,
                     "SNAPSHOT_NOT_FOUND");
  // Every remaining snapshot is whole: its tree verifies and proves members.
  for (int i : {0, 2, 4, 5}) {
    AIFS_EXPECT_OK(engine().VerifySnapshot("default", snaps[i].id.ToHex()));
    auto members = engine().DiffSnapshots("default", snaps[0].id.ToHex(), snaps[i].id.ToHex());
    ASSERT_TRUE(members.ok()) << members.status().ToString();
    EXPECT_EQ(members->added.size(), size_t(400 * i));
  }
  // The next snapshot builds on the head after pruning, and is whole too.
  auto next = Grow(50, 99);
  AIFS_EXPECT_OK(engine().VerifySnapshot("default", next.id.ToHex()));
  auto diff = engine().DiffSnapshots("default", snaps[0].id.ToHex(), next.id.ToHex());
  ASSERT_TRUE(diff.ok());
  EXPECT_EQ(diff->added.size(), 5u * 400 + 50);

  // Pruning again with the same limits finds nothing more to take but the
  // snapshot that fell out of the newest two.
  auto again = engine().PruneSnapshots("default", keep2);
  ASSERT_TRUE(again.ok());
  EXPECT_EQ(again->removed, std::vector<SnapshotId>{snaps[4].id});
}

TEST_F(PruneTest, PolicyAgeRetention) {
  auto old = Grow(10, 1);
  NamespacePolicy p;
  p.keep_snapshot_seconds = 3600;
  ASSERT_TRUE(engine().SetNamespacePolicy("default", p).ok());
  auto r = engine().PruneSnapshots("default", {});
  ASSERT_TRUE(r.ok());
  EXPECT_TRUE(r->removed.empty());  // younger than an hour
  PruneOptions now;
  now.keep_snapshot_seconds = 0;  // override: no age limit, and no count limit either
  r = engine().PruneSnapshots("default", now);
  ASSERT_TRUE(r.ok());
  EXPECT_TRUE(r->removed.empty());  // nothing configured means keep all
  p.keep_snapshot_seconds = 0;
  p.keep_snapshots = 1;
  ASSERT_TRUE(engine().SetNamespacePolicy("default", p).ok());
  auto newer = Grow(10, 2);
  r = engine().PruneSnapshots("default", {});
  ASSERT_TRUE(r.ok());
  EXPECT_EQ(r->removed, std::vector<SnapshotId>{old.id});
  AIFS_EXPECT_OK(engine().VerifySnapshot("default", newer.id.ToHex()));
}

}  // namespace
}  // namespace aifs::test
