// Snapshots keep their data (issue 17): `rm` retires an asset from the head,
// gc releases it once no retained snapshot holds it, retention like restic's
// forget. Oracles: the bytes put (and BLAKE3 = the ID) read back through
// the snapshot-side lookup, a reference store holding only what should
// remain (its stored bytes and chunk objects), chunk object files counted
// on disk, `aifs recover --dry-run`'s recount, brute-force k-NN, and an
// independent Python implementation of restic's bucket rules
// (datetime.isocalendar).
#include <stdio.h>

#include <algorithm>
#include <atomic>
#include <cmath>
#include <map>
#include <nlohmann/json.hpp>
#include <random>
#include <set>
#include <thread>

#include "aifs/engine/asset_reader.h"
#include "aifs/engine/recovery.h"
#include "aifs/engine/retention.h"
#include "aifs/meta/keys.h"
#include "aifs/meta/records.h"
#include "test_util.h"

namespace aifs::test {
namespace {

std::unique_ptr<Engine> OpenStore(const std::string& dir) {
  auto e = Engine::Open(EngineOptions{.data_dir = dir, .threads = 2});
  EXPECT_TRUE(e.ok()) << e.status().ToString();
  return e.ok() ? std::move(*e) : nullptr;
}

std::unique_ptr<Engine> NewStore(const std::string& dir) {
  EXPECT_TRUE(IsOk(Engine::Init(dir, SmallInit())));
  return OpenStore(dir);
}

size_t ChunkObjects(const std::string& dir) { return TallyFiles(dir + "/chunks").files; }

// The bytes a read through a snapshot gets (live or retired record).
Result<Bytes> ReadForSnapshot(Engine& e, const AssetId& id) {
  AIFS_ASSIGN_OR_RETURN(auto rec, e.LoadAssetForSnapshot("default", id, false));
  Bytes out;
  AIFS_RETURN_IF_ERROR(ReadAssetRange(e.store(), rec, ReadRange{}, [&](ByteSpan b) {
    out.insert(out.end(), b.begin(), b.end());
    return Status::Ok();
  }));
  return out;
}

bool InAnySnapshot(Engine& e, const AssetId& id) {
  auto snaps = e.ListSnapshots("default");
  EXPECT_TRUE(snaps.ok());
  for (const SnapshotInfo& s : *snaps)
    if (e.ProveAsset("default", s.id.ToHex(), id).ok()) return true;
  return false;
}

// Everything the head or a retained snapshot names reads back exactly.
void ExpectNothingLost(Engine& e, const std::map<AssetId, Bytes>& data, const std::string& when) {
  for (const auto& [id, bytes] : data) {
    const bool live = e.StatAsset("default", id, false).ok();
    if (!live && !InAnySnapshot(e, id)) continue;
    auto back = ReadForSnapshot(e, id);
    ASSERT_TRUE(back.ok()) << when << ": " << id.ToHex() << ": " << back.status().ToString();
    EXPECT_TRUE(*back == bytes) << when << ": " << id.ToHex();
    EXPECT_EQ(AssetId(Blake3::Hash(*back)), id) << when;
  }
}

// `aifs recover --dry-run` on the closed store: every count recomputed from
// the records agrees with the stored one.
void ExpectConsistent(const std::string& dir) {
  auto r = RecoverStore(RecoverOptions{.data_dir = dir, .dry_run = true});
  ASSERT_TRUE(r.ok()) << r.status().ToString();
  EXPECT_EQ(r->refcounts_fixed, 0u);
  EXPECT_EQ(r->namespaces_fixed, 0u);
  EXPECT_EQ(r->child_counts_fixed, 0u);
  EXPECT_TRUE(r->lost_assets.empty()) << r->lost_assets.front();
  EXPECT_EQ(r->assets_rebuilt, 0u);
  EXPECT_EQ(r->orphan_objects, 0u);
}

TEST(Retention, RemovedAssetStaysForTheSnapshotThatHoldsIt) {
  TempDir dir;
  auto e = NewStore(dir.path());
  const Bytes kept = RandomBytes(200000, 1), gone = RandomBytes(150000, 2);
  auto k = PutBytes(*e, kept);
  auto g = PutBytes(*e, gone);
  ASSERT_TRUE(k.ok() && g.ok());
  auto s = e->CreateSnapshot("default", nullptr);
  ASSERT_TRUE(s.ok());
  AIFS_ASSERT_OK(e->CreateTag("default", "keep1", s->id.ToHex(), "test").status());
  auto before = e->GetNamespace("default");
  const size_t objects = ChunkObjects(dir.path());

  AIFS_ASSERT_OK(e->DeleteAsset("default", g->asset.id, false));
  // Gone from the head ...
  AIFS_EXPECT_STATUS(e->StatAsset("default", g->asset.id, false).status(), kNotFound,
                     "ASSET_NOT_FOUND");
  AIFS_EXPECT_STATUS(
      e->ReadAsset("default", g->asset.id, {}, [](ByteSpan) { return Status::Ok(); }), kNotFound,
      "ASSET_NOT_FOUND");
  auto page = e->ListAssets(ListOptions{});
  ASSERT_TRUE(page.ok());
  ASSERT_EQ(page->assets.size(), 1u);
  AIFS_EXPECT_STATUS(e->DeleteAsset("default", g->asset.id, false), kNotFound, "ASSET_NOT_FOUND");
  // ... kept for the tag: same bytes, same objects, same stored totals.
  auto back = ReadForSnapshot(*e, g->asset.id);
  ASSERT_TRUE(back.ok()) << back.status().ToString();
  EXPECT_TRUE(*back == gone);
  AIFS_EXPECT_OK(e->VerifySnapshot("default", "keep1"));
  auto after = e->GetNamespace("default");
  EXPECT_EQ(after->asset_count, 1u);
  EXPECT_EQ(after->logical_bytes, kept.size());
  EXPECT_EQ(after->retired_count, 1u);
  EXPECT_EQ(after->retired_bytes, gone.size());
  EXPECT_EQ(after->stored_bytes, before->stored_bytes);
  EXPECT_EQ(ChunkObjects(dir.path()), objects);
  auto gc = e->CollectGarbage(false);
  ASSERT_TRUE(gc.ok());
  EXPECT_EQ(gc->assets_released, 0u);
  EXPECT_EQ(gc->assets_retained, 1u);
  EXPECT_EQ(gc->orphan_objects, 0u);
  EXPECT_TRUE(ReadForSnapshot(*e, g->asset.id).ok());
  // The next snapshot drops it; the tagged one still has it.
  auto s2 = e->CreateSnapshot("default", nullptr);
  ASSERT_TRUE(s2.ok());
  EXPECT_EQ(s2->count, 1u);
  AIFS_EXPECT_STATUS(e->ProveAsset("default", s2->id.ToHex(), g->asset.id).status(), kNotFound,
                     "ASSET_NOT_IN_SNAPSHOT");
  AIFS_EXPECT_OK(e->ProveAsset("default", "keep1", g->asset.id).status());
  e.reset();
  ExpectConsistent(dir.path());
}

TEST(Retention, RemovingWhatNoSnapshotHoldsFreesAtOnce) {
  TempDir dir;
  auto e = NewStore(dir.path());
  auto a = PutBytes(*e, RandomBytes(300000, 3));
  ASSERT_TRUE(a.ok());
  ASSERT_GT(ChunkObjects(dir.path()), 0u);
  AIFS_ASSERT_OK(e->DeleteAsset("default", a->asset.id, false));
  EXPECT_EQ(ChunkObjects(dir.path()), 0u);
  auto ns = e->GetNamespace("default");
  EXPECT_EQ(ns->chunk_count, 0u);
  EXPECT_EQ(ns->stored_bytes, 0u);
  EXPECT_EQ(ns->retired_count, 0u);
  AIFS_EXPECT_STATUS(e->LoadAssetForSnapshot("default", a->asset.id).status(), kNotFound,
                     "ASSET_NOT_FOUND");
}

TEST(Retention, PutOfRetiredBytesTakesThemBackWithoutCountingTwice) {
  TempDir dir;
  auto e = NewStore(dir.path());
  const Bytes data = RandomBytes(250000, 4);
  auto a = PutBytes(*e, data);
  ASSERT_TRUE(a.ok());
  ASSERT_TRUE(e->CreateSnapshot("default", nullptr).ok());
  const auto before = *e->GetNamespace("default");
  const size_t objects = ChunkObjects(dir.path());
  AIFS_ASSERT_OK(e->DeleteAsset("default", a->asset.id, false));
  PutOptions meta;
  meta.metadata["life"] = "second";
  auto again = PutBytes(*e, data, meta);
  ASSERT_TRUE(again.ok()) << again.status().ToString();
  EXPECT_TRUE(again->created);
  EXPECT_EQ(again->chunks_new, 0u);  // its chunks were kept
  EXPECT_EQ(again->bytes_stored, 0u);
  EXPECT_EQ(ChunkObjects(dir.path()), objects);
  auto info = e->StatAsset("default", a->asset.id, true);
  ASSERT_TRUE(info.ok());
  EXPECT_EQ(info->metadata.at("life"), "second");
  const auto now = *e->GetNamespace("default");
  EXPECT_EQ(now.asset_count, before.asset_count);
  EXPECT_EQ(now.chunk_count, before.chunk_count);
  EXPECT_EQ(now.stored_bytes, before.stored_bytes);
  EXPECT_EQ(now.retired_count, 0u);
  // Every chunk record holds exactly one reference.
  for (const ChunkInfo& c : info->chunks) {
    auto rec = LoadRecord<store::v1::ChunkRecord>(*e->store().meta, keys::Chunk("default", c.hash),
                                                  "CHUNK_NOT_FOUND", "chunk");
    ASSERT_TRUE(rec.ok());
    EXPECT_EQ(rec->refcount(), 1u);
  }
  // Removed again, and the snapshot pruned: everything goes.
  AIFS_ASSERT_OK(e->DeleteAsset("default", a->asset.id, false));
  ASSERT_TRUE(e->CreateSnapshot("default", nullptr).ok());
  ASSERT_TRUE(e->PruneSnapshots("default", PruneOptions{.keep_snapshots = 1}).ok());
  auto gc = e->CollectGarbage(false);
  ASSERT_TRUE(gc.ok());
  EXPECT_EQ(gc->assets_released, 1u);
  EXPECT_EQ(gc->bytes_released, before.stored_bytes);
  EXPECT_EQ(ChunkObjects(dir.path()), 0u);
  EXPECT_EQ(e->GetNamespace("default")->chunk_count, 0u);
  e.reset();
  ExpectConsistent(dir.path());
}

// rm, prune, tag delete and gc in every order: nothing referenced is lost
// after any step, and once nothing holds the removed asset, the store holds
// exactly what a store that only ever had the live assets holds.
TEST(Retention, EveryOrderOfRemovePruneUntagAndGc) {
  const Bytes x = RandomBytes(400000, 10);
  Bytes y = Slice(x, 0, 300000);  // shares its first chunks with x
  const Bytes tail = RandomBytes(60000, 11);
  y.insert(y.end(), tail.begin(), tail.end());
  const Bytes a = TextBytes(120000, 12);
  // The reference: only what stays live.
  TempDir ref_dir;
  uint64_t ref_stored = 0;
  size_t ref_objects = 0;
  {
    auto ref = NewStore(ref_dir.path());
    ASSERT_TRUE(PutBytes(*ref, y).ok() && PutBytes(*ref, a).ok());
    ref_stored = ref->GetNamespace("default")->stored_bytes;
    ref_objects = ChunkObjects(ref_dir.path());
  }
  std::vector<std::string> ops = {"gc", "prune", "rm", "untag"};
  int orders = 0;
  do {
    SCOPED_TRACE(ops[0] + "," + ops[1] + "," + ops[2] + "," + ops[3]);
    TempDir dir;
    auto e = NewStore(dir.path());
    std::map<AssetId, Bytes> data;
    AssetId xid;
    for (const Bytes* b : std::initializer_list<const Bytes*>{&x, &y, &a}) {
      auto r = PutBytes(*e, *b);
      ASSERT_TRUE(r.ok());
      data[r->asset.id] = *b;
      if (b == &x) xid = r->asset.id;
    }
    auto s1 = e->CreateSnapshot("default", nullptr);
    ASSERT_TRUE(s1.ok());
    AIFS_ASSERT_OK(e->CreateTag("default", "t1", s1->id.ToHex(), "test").status());
    for (const std::string& op : ops) {
      if (op == "rm") {
        AIFS_ASSERT_OK(e->DeleteAsset("default", xid, false));
      } else if (op == "untag") {
        AIFS_ASSERT_OK(e->DeleteTag("default", "t1", "test"));
      } else if (op == "prune") {
        ASSERT_TRUE(e->CreateSnapshot("default", nullptr).ok());
        auto p = e->PruneSnapshots("default", PruneOptions{.keep_snapshots = 1});
        ASSERT_TRUE(p.ok()) << p.status().ToString();
      } else {
        ASSERT_TRUE(e->CollectGarbage(false).ok());
      }
      ExpectNothingLost(*e, data, "after " + op);
    }
    // Eventually: a snapshot of the head, the rest pruned, gc.
    ASSERT_TRUE(e->CreateSnapshot("default", nullptr).ok());
    ASSERT_TRUE(e->PruneSnapshots("default", PruneOptions{.keep_snapshots = 1}).ok());
    auto gc = e->CollectGarbage(false);
    ASSERT_TRUE(gc.ok());
    ExpectNothingLost(*e, data, "at the end");
    AIFS_EXPECT_STATUS(e->LoadAssetForSnapshot("default", xid).status(), kNotFound,
                       "ASSET_NOT_FOUND");
    auto ns = e->GetNamespace("default");
    EXPECT_EQ(ns->stored_bytes, ref_stored);
    EXPECT_EQ(ns->retired_count, 0u);
    EXPECT_EQ(ChunkObjects(dir.path()), ref_objects);
    e.reset();
    ExpectConsistent(dir.path());
    ++orders;
  } while (std::next_permutation(ops.begin(), ops.end()));
  EXPECT_EQ(orders, 24);
}

TEST(Retention, LineageRulesStillHoldForRetiredParents) {
  TempDir dir;
  auto e = NewStore(dir.path());
  auto p = PutBytes(*e, RandomBytes(5000, 20));
  ASSERT_TRUE(p.ok());
  PutOptions child;
  child.parents.push_back({p->asset.id, "derive", "sha256:1"});
  auto c = PutBytes(*e, RandomBytes(5000, 21), child);
  ASSERT_TRUE(c.ok());
  ASSERT_TRUE(e->CreateSnapshot("default", nullptr).ok());
  AIFS_EXPECT_STATUS(e->DeleteAsset("default", p->asset.id, false), kFailedPrecondition,
                     "HAS_CHILDREN");
  AIFS_ASSERT_OK(e->DeleteAsset("default", p->asset.id, true));  // tombstone
  auto up = e->GetLineage("default", c->asset.id, LineageDirection::kUp, 2);
  ASSERT_TRUE(up.ok());
  ASSERT_EQ(up->assets.size(), 2u);
  EXPECT_TRUE(up->assets[1].deleted);
  // A retired parent is not a committed one for new children.
  PutOptions orphan;
  orphan.parents.push_back({p->asset.id, "derive", "sha256:1"});
  AIFS_EXPECT_STATUS(PutBytes(*e, RandomBytes(100, 22), orphan).status(), kFailedPrecondition,
                     "PARENT_NOT_COMMITTED");
  EXPECT_TRUE(ReadForSnapshot(*e, p->asset.id).ok());
  e.reset();
  ExpectConsistent(dir.path());
}

TEST(Retention, DeletingANamespaceTakesItsRetiredAssets) {
  TempDir dir;
  auto e = NewStore(dir.path());
  ASSERT_TRUE(e->CreateNamespace("scratch", {}).ok());
  auto a = PutBytes(*e, "scratch", RandomBytes(100000, 30));
  ASSERT_TRUE(a.ok());
  ASSERT_TRUE(e->CreateSnapshot("scratch", nullptr).ok());
  AIFS_ASSERT_OK(e->DeleteAsset("scratch", a->asset.id, false));
  EXPECT_GT(ChunkObjects(dir.path()), 0u);
  AIFS_ASSERT_OK(e->DeleteNamespace("scratch"));
  EXPECT_EQ(ChunkObjects(dir.path()), 0u);
  ASSERT_TRUE(e->CreateNamespace("scratch", {}).ok());
  EXPECT_EQ(e->GetNamespace("scratch")->chunk_count, 0u);
  e.reset();
  ExpectConsistent(dir.path());
}

// Puts, removes and gc at once: every count stays exact, nothing live lost.
TEST(Retention, GcRacingPutsAndRemovesKeepsCountsExact) {
  TempDir dir;
  auto e = NewStore(dir.path());
  std::vector<Bytes> blobs;
  for (int i = 0; i < 60; ++i) blobs.push_back(RandomBytes(20000 + 997 * i, 100 + i));
  std::atomic<bool> stop{false};
  std::thread gc([&] {
    while (!stop) EXPECT_TRUE(e->CollectGarbage(false).ok());
  });
  std::mt19937 rng(7);
  std::map<AssetId, Bytes> all;
  for (int round = 0; round < 4; ++round) {
    for (const Bytes& b : blobs) {
      auto r = PutBytes(*e, b);
      if (!r.ok()) {
        // Racing a release of the same chunks: the documented retry.
        ASSERT_EQ(r.status().reason(), "CHUNK_RECLAIMED") << r.status().ToString();
        r = PutBytes(*e, b);
      }
      ASSERT_TRUE(r.ok()) << r.status().ToString();
      all[r->asset.id] = b;
    }
    ASSERT_TRUE(e->CreateSnapshot("default", nullptr).ok());
    for (const auto& [id, b] : all)
      if (rng() % 2) (void)e->DeleteAsset("default", id, false);
    ASSERT_TRUE(e->PruneSnapshots("default", PruneOptions{.keep_snapshots = 1}).ok());
  }
  stop = true;
  gc.join();
  ExpectNothingLost(*e, all, "after the race");
  e.reset();
  ExpectConsistent(dir.path());
}

// ---- Search as of a snapshot ---------------------------------------------

std::vector<float> RandomVector(std::mt19937& rng, uint32_t dim) {
  std::normal_distribution<float> n;
  std::vector<float> v(dim);
  for (float& x : v) x = n(rng);
  return v;
}

float L2(const std::vector<float>& a, const std::vector<float>& b) {
  float d = 0;
  for (size_t i = 0; i < a.size(); ++i) d += (a[i] - b[i]) * (a[i] - b[i]);
  return d;
}

// recall@k of the engine's answers against brute force over `truth`.
double Recall(Engine& e, const std::map<AssetId, std::vector<float>>& truth,
              const std::vector<std::vector<float>>& queries, const std::string& as_of,
              const std::set<AssetId>& never) {
  constexpr size_t k = 10;
  double found = 0;
  for (const auto& q : queries) {
    std::vector<std::pair<float, AssetId>> all;
    for (const auto& [id, v] : truth) all.emplace_back(L2(q, v), id);
    std::partial_sort(all.begin(), all.begin() + k, all.end());
    std::set<AssetId> best;
    for (size_t i = 0; i < k; ++i) best.insert(all[i].second);
    VectorQuery vq;
    vq.space = "s";
    vq.vector = q;
    vq.k = k;
    vq.as_of = as_of;
    auto r = e.VectorSearch(vq);
    EXPECT_TRUE(r.ok()) << r.status().ToString();
    if (!r.ok()) return 0;
    for (const VectorHit& h : r->hits) {
      found += best.count(h.id);
      EXPECT_FALSE(never.count(h.id)) << "a removed asset found at head";
    }
  }
  return found / (k * queries.size());
}

TEST(Retention, SearchAsOfASnapshotFindsItsRemovedAssetsAtHeadRecall) {
  TempDir dir;
  auto e = NewStore(dir.path());
  constexpr uint32_t kDim = 16;
  ASSERT_TRUE(e->CreateSpace("default", {"s", kDim, VectorMetric::kL2}).ok());
  std::mt19937 rng(42);
  std::map<AssetId, std::vector<float>> at_snapshot, live;
  std::set<AssetId> removed;
  for (int i = 0; i < 3000; ++i) {
    PutOptions o;
    o.embeddings.push_back({"s", RandomVector(rng, kDim)});
    auto r = PutBytes(*e, ToBytes("asset " + std::to_string(i)), o);
    ASSERT_TRUE(r.ok());
    at_snapshot[r->asset.id] = o.embeddings[0].values;
  }
  std::vector<std::vector<float>> queries;
  for (int i = 0; i < 50; ++i) queries.push_back(RandomVector(rng, kDim));
  auto s = e->CreateSnapshot("default", nullptr);
  ASSERT_TRUE(s.ok());
  AIFS_ASSERT_OK(e->CreateTag("default", "v1", s->id.ToHex(), "test").status());
  const double head_before = Recall(*e, at_snapshot, queries, "", {});
  int n = 0;
  for (const auto& [id, v] : at_snapshot) {
    if (n++ % 3 == 0) {
      AIFS_ASSERT_OK(e->DeleteAsset("default", id, false));
      removed.insert(id);
    } else {
      live[id] = v;
    }
  }
  const double head_after = Recall(*e, live, queries, "", removed);
  const double as_of = Recall(*e, at_snapshot, queries, "v1", {});
  EXPECT_GE(head_before, 0.98);
  EXPECT_GE(head_after, 0.98);
  EXPECT_GE(as_of, head_before - 1e-9);  // as good as head search was on the same set
  auto spaces = e->ListSpaces("default");
  ASSERT_TRUE(spaces.ok());
  EXPECT_EQ(spaces->at(0).vectors, live.size());
  // The same after a reopen (checkpoint loaded, retired vectors marked again).
  e.reset();
  e = OpenStore(dir.path());
  EXPECT_GE(Recall(*e, live, queries, "", removed), 0.98);
  EXPECT_GE(Recall(*e, at_snapshot, queries, "v1", {}), head_before - 1e-9);
  // Released with the tag's snapshot: gone from the index and the store.
  AIFS_ASSERT_OK(e->DeleteTag("default", "v1", "test"));
  ASSERT_TRUE(e->CreateSnapshot("default", nullptr).ok());
  ASSERT_TRUE(e->PruneSnapshots("default", PruneOptions{.keep_snapshots = 1}).ok());
  auto gc = e->CollectGarbage(false);
  ASSERT_TRUE(gc.ok());
  EXPECT_EQ(gc->assets_released, removed.size());
  EXPECT_EQ(e->ListSpaces("default")->at(0).vectors, live.size());
  EXPECT_GE(Recall(*e, live, queries, "", removed), 0.98);
  size_t vc = 0;
  AIFS_ASSERT_OK(e->store().meta->Scan("vc/", PrefixEnd("vc/"), [&](auto, auto) {
    ++vc;
    return true;
  }));
  EXPECT_EQ(vc, live.size());
}

// ---- Retention like restic forget ----------------------------------------

constexpr int64_t kSec = 1'000'000'000;

int64_t At(int y, unsigned m, unsigned d, int hour) {
  using namespace std::chrono;
  const sys_days date = sys_days(year(y) / month(m) / day(d));
  return (date.time_since_epoch().count() * 86400LL + hour * 3600LL) * kSec;
}

SnapshotId IdOf(int i) {
  std::array<uint8_t, 16> b{};
  b[0] = static_cast<uint8_t>(i);
  b[1] = static_cast<uint8_t>(i >> 8);
  return SnapshotId(b);
}

TEST(Retention, CalendarBucketsAreUtcIsoWeeks) {
  EXPECT_EQ(UtcDay(At(2026, 12, 6, 23)), "2026-12-06");
  EXPECT_EQ(UtcMonth(At(2026, 12, 6, 23)), "2026-12");
  // ISO 8601 edge cases (checked against `date +%G-W%V`).
  EXPECT_EQ(IsoWeek(At(2021, 1, 3, 12)), "2020-W53");
  EXPECT_EQ(IsoWeek(At(2021, 1, 4, 0)), "2021-W01");
  EXPECT_EQ(IsoWeek(At(2024, 12, 30, 0)), "2025-W01");
  EXPECT_EQ(IsoWeek(At(2026, 12, 6, 0)), "2026-W49");  // a Sunday
  EXPECT_EQ(IsoWeek(At(2026, 12, 7, 0)), "2026-W50");  // the Monday after
}

// A hand-checked table: 10 snapshots over five weeks.
TEST(Retention, PlanMatchesAHandCheckedTable) {
  const std::vector<int64_t> times = {At(2026, 12, 6, 20), At(2026, 12, 6, 8),  At(2026, 12, 5, 10),
                                      At(2026, 12, 3, 9),  At(2026, 11, 30, 9), At(2026, 11, 29, 9),
                                      At(2026, 11, 20, 9), At(2026, 11, 2, 9),  At(2026, 10, 31, 9),
                                      At(2026, 10, 1, 9)};
  std::vector<RetentionCandidate> in;
  for (size_t i = 0; i < times.size(); ++i) in.push_back({IdOf(static_cast<int>(i)), times[i], {}});
  in[9].pins = {"tag v1"};
  // keep-last 2, keep-daily 3, keep-weekly 3, keep-monthly 2:
  //  0 12-06 20h  last, daily 12-06, weekly W49, monthly 2026-12
  //  1 12-06 08h  last
  //  2 12-05      daily 12-05
  //  3 12-03      daily 12-03
  //  4 11-30 Mon  monthly 2026-11 (the Monday of W49: no new week)
  //  5 11-29 Sun  weekly W48
  //  6 11-20      weekly W47
  //  7 11-02      (weekly and monthly used up)
  //  8 10-31      -
  //  9 10-01      tag v1
  const std::vector<std::vector<std::string>> want = {
      {"last #1", "daily 2026-12-06", "weekly 2026-W49", "monthly 2026-12"},
      {"last #2"},
      {"daily 2026-12-05"},
      {"daily 2026-12-03"},
      {"monthly 2026-11"},
      {"weekly 2026-W48"},
      {"weekly 2026-W47"},
      {},
      {},
      {"tag v1"}};
  auto plan =
      PlanRetention(in, {.keep_last = 2, .keep_daily = 3, .keep_weekly = 3, .keep_monthly = 2},
                    At(2026, 12, 6, 21));
  ASSERT_EQ(plan.size(), want.size());
  for (size_t i = 0; i < plan.size(); ++i) {
    EXPECT_EQ(plan[i].snapshot, IdOf(static_cast<int>(i))) << i;
    EXPECT_EQ(plan[i].reasons, want[i]) << i;
    EXPECT_EQ(plan[i].keep, !want[i].empty()) << i;
  }
  // No rule: everything stays; keep-within: by age.
  for (const auto& d : PlanRetention(in, {}, At(2026, 12, 7, 0))) EXPECT_TRUE(d.keep);
  auto within = PlanRetention(in, {.keep_within_seconds = 86400 * 3}, At(2026, 12, 6, 21));
  std::vector<bool> kept;
  for (const auto& d : within) kept.push_back(d.keep);
  EXPECT_EQ(kept,
            (std::vector<bool>{true, true, true, false, false, false, false, false, false, true}));
}

// restic's rules written again in Python (datetime's own ISO calendar), on
// random histories and policies.
TEST(Retention, PlanMatchesAnIndependentPythonImplementation) {
  if (::access("/usr/bin/python3", X_OK) != 0) GTEST_SKIP() << "no /usr/bin/python3";
  TempDir dir;
  std::mt19937_64 rng(2026);
  nlohmann::json cases = nlohmann::json::array();
  std::vector<std::vector<bool>> ours;
  for (int c = 0; c < 60; ++c) {
    const int64_t now = At(2026, 12, 6, 12);
    std::vector<RetentionCandidate> in;
    nlohmann::json times = nlohmann::json::array();
    const int count = 1 + static_cast<int>(rng() % 120);
    for (int i = 0; i < count; ++i) {
      const int64_t t = now - static_cast<int64_t>(rng() % (900ULL * 86400)) * kSec;
      in.push_back({IdOf(i), t, {}});
      times.push_back(t / kSec);
    }
    RetentionPolicy p{static_cast<uint32_t>(rng() % 4), static_cast<uint32_t>(rng() % 8),
                      static_cast<uint32_t>(rng() % 6), static_cast<uint32_t>(rng() % 14), 0};
    auto plan = PlanRetention(in, p, now);
    std::map<SnapshotId, bool> keep;
    for (const auto& d : plan) keep[d.snapshot] = d.keep;
    std::vector<bool> row;
    for (int i = 0; i < count; ++i) row.push_back(keep[IdOf(i)]);
    ours.push_back(row);
    cases.push_back({{"times", times},
                     {"last", p.keep_last},
                     {"daily", p.keep_daily},
                     {"weekly", p.keep_weekly},
                     {"monthly", p.keep_monthly}});
  }
  WriteFileBytes(dir.Sub("cases.json"), ToBytes(cases.dump()));
  const std::string script = R"PY(
import json, sys, datetime
out = []
for c in json.load(open(sys.argv[1])):
    order = sorted(range(len(c["times"])), key=lambda i: (-c["times"][i], i))
    keep = [False] * len(c["times"])
    def day(t): return t.strftime("%Y-%m-%d")
    def week(t): y, w, _ = t.isocalendar(); return (y, w)
    def month(t): return (t.year, t.month)
    rules = [[c["last"], None, None], [c["daily"], day, None], [c["weekly"], week, None], [c["monthly"], month, None]]
    empty = not any(r[0] for r in rules)
    for n, i in enumerate(order):
        t = datetime.datetime.fromtimestamp(c["times"][i], datetime.timezone.utc)
        if empty: keep[i] = True
        for r in rules:
            if r[0] == 0: continue
            b = n if r[1] is None else r[1](t)
            if b != r[2]:
                r[2] = b; r[0] -= 1; keep[i] = True
    out.append(keep)
print(json.dumps(out))
)PY";
  WriteFileBytes(dir.Sub("forget.py"), ToBytes(script));
  FILE* p = ::popen(
      ("/usr/bin/python3 " + dir.Sub("forget.py") + " " + dir.Sub("cases.json")).c_str(), "r");
  ASSERT_NE(p, nullptr);
  std::string text;
  char buf[4096];
  size_t got;
  while ((got = fread(buf, 1, sizeof buf, p)) > 0) text.append(buf, got);
  ASSERT_EQ(::pclose(p), 0);
  auto theirs = nlohmann::json::parse(text);
  ASSERT_EQ(theirs.size(), ours.size());
  for (size_t c = 0; c < ours.size(); ++c)
    EXPECT_EQ(theirs[c].get<std::vector<bool>>(), ours[c])
        << "case " << c << ": " << cases[c].dump();
}

TEST(Retention, PruneAppliesThePolicyAndExplainsItsChoices) {
  TempDir dir;
  auto e = NewStore(dir.path());
  std::vector<SnapshotId> ids;  // oldest first
  for (int i = 0; i < 5; ++i) {
    ASSERT_TRUE(PutBytes(*e, RandomBytes(1000, 500 + i)).ok());
    auto s = e->CreateSnapshot("default", nullptr);
    ASSERT_TRUE(s.ok());
    ids.push_back(s->id);
  }
  AIFS_ASSERT_OK(e->CreateTag("default", "first", ids[0].ToHex(), "test").status());
  AIFS_ASSERT_OK(e->CreateBranch("default", "dev", ids[1].ToHex(), "test").status());
  NamespacePolicy policy = e->GetNamespace("default")->policy;
  policy.keep_snapshots = 1;
  policy.keep_daily = 1;  // all on one day: the newest again
  ASSERT_TRUE(e->SetNamespacePolicy("default", policy).ok());
  EXPECT_EQ(e->GetNamespace("default")->policy.keep_daily, 1u);
  auto dry = e->PruneSnapshots("default", PruneOptions{.dry_run = true});
  ASSERT_TRUE(dry.ok());
  ASSERT_EQ(dry->decisions.size(), 5u);
  EXPECT_EQ(dry->decisions[0].snapshot, ids[4]);
  EXPECT_EQ(
      dry->decisions[0].reasons,
      (std::vector<std::string>{"last #1", "daily " + UtcDay(dry->decisions[0].created_unix_ns)}));
  EXPECT_EQ(dry->decisions[3].reasons, std::vector<std::string>{"branch dev"});
  EXPECT_EQ(dry->decisions[4].reasons, std::vector<std::string>{"tag first"});
  EXPECT_EQ(dry->removed, (std::vector<SnapshotId>{ids[3], ids[2]}));
  EXPECT_EQ(e->ListSnapshots("default")->size(), 5u);  // a dry run changes nothing
  // Flags override the policy: --keep-last 3.
  auto real = e->PruneSnapshots("default", PruneOptions{.keep_snapshots = 3});
  ASSERT_TRUE(real.ok());
  EXPECT_TRUE(real->removed.empty());
  real = e->PruneSnapshots("default", PruneOptions{});
  ASSERT_TRUE(real.ok());
  EXPECT_EQ(real->removed.size(), 2u);
  EXPECT_EQ(e->ListSnapshots("default")->size(), 3u);
}

}  // namespace
}  // namespace aifs::test
