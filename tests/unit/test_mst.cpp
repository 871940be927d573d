// Tests of the snapshot Merkle tree (src/aifs/snapshot/mst.h): the
// construction against a from-the-text reference, known answers shared with
// tests/interop/mst_vectors.py, incremental updates against cold builds,
// proofs, verification, diff.
#include <gtest/gtest.h>

#include <algorithm>
#include <functional>
#include <random>
#include <set>
#include <string>
#include <vector>

#include "aifs/core/blake3.h"
#include "aifs/core/hex.h"
#include "aifs/snapshot/mst.h"
#include "test_util.h"

namespace aifs {
namespace {

std::string Hex(const Digest& d) { return HexEncode(ByteSpan(d.data(), d.size())); }

Digest HashOf(const std::string& s) { return Blake3::Hash(AsBytes(s)); }

// IDs = BLAKE3 of the ASCII strings "0" .. "n-1", sorted (the interop sets).
std::vector<Digest> CounterIds(size_t n) {
  std::vector<Digest> ids;
  for (size_t i = 0; i < n; ++i) ids.push_back(HashOf(std::to_string(i)));
  std::sort(ids.begin(), ids.end());
  return ids;
}

using test::RandomDigest;

std::vector<Digest> RandomIds(size_t n, uint64_t seed) {
  std::mt19937_64 rng(seed);
  std::set<Digest> s;
  while (s.size() < n) s.insert(RandomDigest(rng));
  return {s.begin(), s.end()};
}

// The construction, written again straight from its description (no store,
// no shared helpers), as the reference for BuildMst.
MstRoot SpecRoot(const std::vector<Digest>& ids) {
  if (ids.empty()) {
    const uint8_t zero = 0;
    return {Blake3::Hash(ByteSpan(&zero, 1)), 0, 0};
  }
  std::vector<std::pair<Digest, Digest>> entries;
  for (const Digest& id : ids) entries.push_back({id, Digest{}});
  for (unsigned level = 0;; ++level) {
    std::vector<std::pair<Digest, Digest>> next;
    std::vector<uint8_t> pre;
    auto begin_node = [&] {
      pre.clear();
      if (level == 0) {
        pre.push_back(0);
      } else {
        pre.push_back(1);
        pre.push_back(static_cast<uint8_t>(level));
      }
    };
    begin_node();
    for (size_t i = 0; i < entries.size(); ++i) {
      const Digest& k = entries[i].first;
      pre.insert(pre.end(), k.begin(), k.end());
      if (level > 0) pre.insert(pre.end(), entries[i].second.begin(), entries[i].second.end());
      const bool boundary = level < 32 && (k[31 - level] & 0x3F) == 0;
      if (boundary || i + 1 == entries.size()) {
        next.push_back({k, Blake3::Hash(ByteSpan(pre.data(), pre.size()))});
        begin_node();
      }
    }
    if (next.size() == 1) return {next[0].second, static_cast<uint8_t>(level), ids.size()};
    entries = std::move(next);
  }
}

// Counts loads and stores, to check the O(k log n) promises.
class CountingStore : public MstNodeStore {
 public:
  Result<MstNode> Load(const Digest& hash) override {
    ++loads;
    return inner.Load(hash);
  }
  Status Store(const Digest& hash, const MstNode& node) override {
    ++stores;
    return inner.Store(hash, node);
  }
  InMemoryMstNodeStore inner;
  uint64_t loads = 0;
  uint64_t stores = 0;
};

std::vector<Digest> Collect(const MstRoot& root, MstNodeStore& store) {
  std::vector<Digest> out;
  Status st = ForEachId(root, store, [&](const Digest& d) {
    out.push_back(d);
    return true;
  });
  EXPECT_TRUE(st.ok()) << st.ToString();
  return out;
}

MstRoot MustBuild(const std::vector<Digest>& ids, MstNodeStore& store) {
  auto r = BuildMst(ids, store);
  EXPECT_TRUE(r.ok()) << r.status().ToString();
  return r.ok() ? *r : MstRoot{};
}

// A key with chosen leading bytes (its place in the order) and chosen last
// bytes (tail[0] = byte 31, which decides level 0; tail[1] = byte 30, ...);
// the rest pseudo-random from `seed`.
Digest Crafted(std::initializer_list<uint8_t> front, std::initializer_list<uint8_t> tail,
               uint64_t seed) {
  std::mt19937_64 rng(seed);
  Digest d = RandomDigest(rng);
  size_t i = 0;
  for (uint8_t b : front) d[i++] = b;
  i = 31;
  for (uint8_t b : tail) d[i--] = b;
  return d;
}

// 64 keys byte0 = 0x40 * (i % 4) + i / 4, then zeros: bytes 31..1 are zero,
// so every key is a boundary on levels 0..30 (64 single-entry nodes each);
// level 31 (byte 0) cuts after 00, 40, 80, C0 (5 nodes); level 32 is the root:
// a tree of the maximum height.
std::vector<Digest> EdgeIds() {
  std::vector<Digest> ids;
  for (int i = 0; i < 64; ++i) {
    Digest d{};
    d[0] = static_cast<uint8_t>(0x40 * (i % 4) + i / 4);
    ids.push_back(d);
  }
  std::sort(ids.begin(), ids.end());
  return ids;
}

// ---------------------------------------------------------------------------

TEST(MstNode, BoundaryRule) {
  // Level l looks at byte 31 - l.
  Digest k{};
  k.fill(0x01);
  EXPECT_FALSE(MstIsBoundary(k, 0));
  k[31] = 0x40;  // low six bits zero
  EXPECT_TRUE(MstIsBoundary(k, 0));
  k[31] = 0xC0;
  EXPECT_TRUE(MstIsBoundary(k, 0));
  k[31] = 0x20;
  EXPECT_FALSE(MstIsBoundary(k, 0));
  k[0] = 0x00;
  EXPECT_FALSE(MstIsBoundary(k, 0));
  EXPECT_TRUE(MstIsBoundary(k, 31));
  k[26] = 0x80;
  EXPECT_TRUE(MstIsBoundary(k, 5));
  EXPECT_FALSE(MstIsBoundary(k, 4));
  Digest zero{};
  EXPECT_TRUE(MstIsBoundary(zero, 31));
  EXPECT_FALSE(MstIsBoundary(zero, 32));  // no boundaries at level 32
}

TEST(MstNode, HashesFollowTheConstruction) {
  const uint8_t zero = 0;
  EXPECT_EQ(MstEmptyRootHash(), Blake3::Hash(ByteSpan(&zero, 1)));
  EXPECT_EQ(MstNode{}.Hash(), MstEmptyRootHash());
  const Digest a = HashOf("a"), b = HashOf("b"), h = HashOf("h");
  MstNode leaf{0, {{a, {}}, {b, {}}}};
  std::string pre(1, '\0');
  pre.append(reinterpret_cast<const char*>(a.data()), 32);
  pre.append(reinterpret_cast<const char*>(b.data()), 32);
  EXPECT_EQ(leaf.Hash(), Blake3::Hash(AsBytes(pre)));
  MstNode inner{3, {{a, h}}};
  std::string pre2 = "\x01\x03";
  pre2.append(reinterpret_cast<const char*>(a.data()), 32);
  pre2.append(reinterpret_cast<const char*>(h.data()), 32);
  EXPECT_EQ(inner.Hash(), Blake3::Hash(AsBytes(pre2)));
}

TEST(MstNode, EncodeDecodeRoundTrip) {
  auto ids = RandomIds(10, 1);
  MstNode leaf{0, {}};
  MstNode inner{2, {}};
  for (const Digest& id : ids) {
    leaf.entries.push_back({id, {}});
    inner.entries.push_back({id, HashOf(Hex(id))});
  }
  for (const MstNode& n : {leaf, inner, MstNode{}}) {
    const std::string enc = n.Encode();
    EXPECT_EQ(enc.size(), 5 + n.entries.size() * (n.level == 0 ? 32 : 64));
    EXPECT_EQ(static_cast<uint8_t>(enc[0]), n.level);
    EXPECT_EQ(static_cast<uint8_t>(enc[1]), n.entries.size());
    auto d = MstNode::Decode(enc);
    ASSERT_TRUE(d.ok()) << d.status().ToString();
    EXPECT_EQ(*d, n);
    auto v = DecodeMstNode(n.Hash(), enc);
    ASSERT_TRUE(v.ok());
    EXPECT_FALSE(DecodeMstNode(HashOf("x"), enc).ok());
  }
}

TEST(MstNode, DecodeIsStrict) {
  auto ids = RandomIds(3, 2);
  MstNode leaf{0, {{ids[0], {}}, {ids[1], {}}, {ids[2], {}}}};
  const std::string good = leaf.Encode();
  auto expect_corrupt = [](const std::string& bytes, const char* what) {
    auto r = MstNode::Decode(bytes);
    ASSERT_FALSE(r.ok()) << what;
    EXPECT_EQ(r.status().code(), Code::kDataLoss) << what;
    EXPECT_EQ(r.status().reason(), "MST_NODE_CORRUPT") << what;
  };
  expect_corrupt("", "empty");
  expect_corrupt(good.substr(0, 4), "short header");
  expect_corrupt(good.substr(0, good.size() - 1), "truncated");
  expect_corrupt(good + "x", "trailing byte");
  std::string bad = good;
  bad[1] = 4;  // count says 4
  expect_corrupt(bad, "count mismatch");
  bad = good;
  bad[0] = 33;
  expect_corrupt(bad, "level 33");
  bad = good;
  std::swap_ranges(bad.begin() + 5, bad.begin() + 37, bad.begin() + 37);  // swap keys 0, 1
  expect_corrupt(bad, "unsorted");
  MstNode dup{0, {{ids[0], {}}, {ids[0], {}}}};
  expect_corrupt(dup.Encode(), "duplicate");
  expect_corrupt(std::string("\x01\x00\x00\x00\x00", 5), "empty inner node");
  expect_corrupt(std::string("\x00\xff\xff\xff\xff", 5), "count over the limit");
  auto empty = MstNode::Decode(std::string("\x00\x00\x00\x00\x00", 5));
  EXPECT_TRUE(empty.ok());
}

// ---------------------------------------------------------------------------
// Cold builds

TEST(MstBuild, SizesMatchTheReference) {
  for (size_t n : {0, 1, 2, 63, 64, 65, 10000}) {
    auto ids = RandomIds(n, 100 + n);
    InMemoryMstNodeStore store;
    MstRoot root = MustBuild(ids, store);
    EXPECT_EQ(root, SpecRoot(ids)) << n;
    EXPECT_EQ(root.count, n);
    EXPECT_TRUE(VerifyMst(root, store).ok()) << n;
    EXPECT_EQ(Collect(root, store), ids) << n;
    if (n == 0) {
      EXPECT_EQ(root, MstEmptyRoot());
    }
    if (n == 10000) {
      EXPECT_GE(root.height, 1);
      EXPECT_GT(store.size(), 100u);  // ~64 IDs per leaf
      EXPECT_LT(store.size(), 400u);
    }
  }
}

TEST(MstBuild, NodeEdges) {
  // 64 non-boundary IDs: one leaf; the same with a boundary last ID: one leaf;
  // a boundary in the middle: two leaves and a level-1 root.
  std::vector<Digest> ids;
  for (int i = 0; i < 64; ++i) ids.push_back(Crafted({uint8_t(i)}, {0x11}, i));  // not a boundary
  {
    InMemoryMstNodeStore store;
    MstRoot r = MustBuild(ids, store);
    EXPECT_EQ(r.height, 0);
    EXPECT_EQ(r, SpecRoot(ids));
  }
  ids.push_back(Crafted({0xC0}, {0x40}, 99));  // boundary, last
  {
    InMemoryMstNodeStore store;
    MstRoot r = MustBuild(ids, store);
    EXPECT_EQ(r.height, 0);
    EXPECT_EQ(r, SpecRoot(ids));
  }
  ids.push_back(Crafted({0xC1}, {0x11}, 100));  // one more after the boundary
  {
    InMemoryMstNodeStore store;
    MstRoot r = MustBuild(ids, store);
    EXPECT_EQ(r.height, 1);
    EXPECT_EQ(r, SpecRoot(ids));
    EXPECT_EQ(store.size(), 3u);
    EXPECT_TRUE(VerifyMst(r, store).ok());
  }
  // Every ID a boundary at levels 0..2 (not 3): 20 single-entry nodes on
  // levels 0, 1 and 2 under a level-3 root.
  std::vector<Digest> deep;
  for (int i = 0; i < 20; ++i)
    deep.push_back(Crafted({uint8_t(i)}, {0x00, 0x40, 0x80, uint8_t(0xC1 | (i << 1))}, i));
  std::sort(deep.begin(), deep.end());
  InMemoryMstNodeStore store;
  MstRoot r = MustBuild(deep, store);
  EXPECT_EQ(r, SpecRoot(deep));
  EXPECT_EQ(r.height, 3);
  EXPECT_EQ(store.size(), 61u);
  EXPECT_TRUE(VerifyMst(r, store).ok());
}

TEST(MstBuild, NodesHoldAbout64Entries) {
  // Boundaries must not cluster in key order (they would if the leading bytes
  // decided them): node sizes are geometric with mean ~64 at every level and
  // proofs stay small.
  auto ids = RandomIds(100000, 5);
  InMemoryMstNodeStore store;
  MstRoot root = MustBuild(ids, store);
  std::vector<size_t> nodes(root.height + 1), entries(root.height + 1), largest(root.height + 1);
  std::function<void(const Digest&)> walk = [&](const Digest& h) {
    auto n = store.Load(h);
    ASSERT_TRUE(n.ok());
    ++nodes[n->level];
    entries[n->level] += n->entries.size();
    largest[n->level] = std::max(largest[n->level], n->entries.size());
    if (n->level > 0)
      for (const MstEntry& e : n->entries) walk(e.hash);
  };
  walk(root.hash);
  for (unsigned l = 0; l + 1 < nodes.size(); ++l) {
    const double mean = double(entries[l]) / double(nodes[l]);
    if (nodes[l] >= 100) {
      EXPECT_GT(mean, 48) << "level " << l;
      EXPECT_LT(mean, 84) << "level " << l;
    }
    EXPECT_LT(largest[l], 1024u) << "level " << l;
  }
  size_t worst = 0;
  for (size_t i = 0; i < ids.size(); i += 997) {
    auto path = ProveInclusion(root, ids[i], store);
    ASSERT_TRUE(path.ok());
    size_t bytes = 0;
    for (const MstNode& n : *path) bytes += n.Encode().size();
    worst = std::max(worst, bytes);
  }
  EXPECT_LT(worst, 80u * 1024);
}

TEST(MstBuild, RejectsUnsortedAndDuplicates) {
  auto ids = RandomIds(5, 3);
  InMemoryMstNodeStore store;
  std::vector<Digest> bad = ids;
  std::swap(bad[1], bad[2]);
  auto r = BuildMst(bad, store);
  ASSERT_FALSE(r.ok());
  EXPECT_EQ(r.status().reason(), "MST_IDS_UNSORTED");
  bad = ids;
  bad[2] = bad[1];
  r = BuildMst(bad, store);
  ASSERT_FALSE(r.ok());
  EXPECT_EQ(r.status().code(), Code::kInvalidArgument);
}

// Known answers, computed independently by tests/interop/mst_vectors.py.
void ExpectRoot(const std::vector<Digest>& ids, const char* root, uint8_t height,
                const char* name) {
  InMemoryMstNodeStore store;
  std::vector<Digest> sorted = ids;
  std::sort(sorted.begin(), sorted.end());
  MstRoot r = MustBuild(sorted, store);
  EXPECT_EQ(Hex(r.hash), root) << name;
  EXPECT_EQ(r.height, height) << name;
  EXPECT_EQ(r.count, ids.size()) << name;
  EXPECT_TRUE(VerifyMst(r, store).ok()) << name;
}

TEST(MstBuild, KnownAnswers) {
  ExpectRoot(CounterIds(0), "2d3adedff11b61f14c886e35afa036736dcd87a74d27b5c1510225d0f592e213", 0,
             "0");
  ExpectRoot(CounterIds(1), "56e773c6f9c7fc6b3d6c2d4bff7417f284ec16528e6e01bc5f4be09b3a182df9", 0,
             "1");
  ExpectRoot(CounterIds(2), "3b28e6d7cabcf6b985aa8ffa01d25fbeb69c0760e12fcde9c1bd0d695743ff9d", 0,
             "2");
  ExpectRoot(CounterIds(100), "521b7aeaf83f02ac1bc94dfc87c983845dd6311dd741c3b43ea2d27b8763f52a", 0,
             "100");
  ExpectRoot(CounterIds(1000), "00025926f112e21e06b4b1f5d247ce34ed8596025b4bef6fb80de224726593aa",
             1, "1000");
  // Boundaries forced on levels 0..2 for every 3rd/9th/27th ID, plus extremes.
  std::vector<Digest> crafted;
  for (int i = 0; i < 300; ++i) {
    Digest d = HashOf("c" + std::to_string(i));
    if (i % 3 == 0) d[31] &= 0xC0;
    if (i % 9 == 0) d[30] &= 0xC0;
    if (i % 27 == 0) d[29] &= 0xC0;
    crafted.push_back(d);
  }
  Digest low;
  low.fill(0xaa);
  low[0] = 0x00;
  low[1] = 0x01;
  Digest high;
  high.fill(0xff);
  crafted.push_back(low);
  crafted.push_back(high);
  ExpectRoot(crafted, "101e9a5654ae4016397b5dd9f2620e099d4097e0e8971698b04eacd006afc799", 3,
             "crafted-302");
  ExpectRoot(EdgeIds(), "b88065bb03db120dabae9862bba898bad8b9e65016b28a5187f058a29c0dac99", 32,
             "edges-64");
}

// ---------------------------------------------------------------------------
// Incremental updates

std::vector<Digest> ApplyToSet(const std::vector<Digest>& set, const std::vector<MstChange>& ch) {
  std::set<Digest> s(set.begin(), set.end());
  for (const auto& [id, add] : ch) {
    if (add)
      s.insert(id);
    else
      s.erase(id);
  }
  return {s.begin(), s.end()};
}

std::vector<MstChange> Sorted(std::vector<MstChange> ch) {
  std::sort(ch.begin(), ch.end(),
            [](const MstChange& a, const MstChange& b) { return a.first < b.first; });
  ch.erase(std::unique(ch.begin(), ch.end(),
                       [](const MstChange& a, const MstChange& b) { return a.first == b.first; }),
           ch.end());
  return ch;
}

TEST(MstUpdate, RandomizedAgainstColdBuild) {
  std::mt19937_64 rng(20240604);
  CountingStore store;
  std::vector<Digest> set;
  MstRoot root = MustBuild(set, store);
  int clears = 0, shrinks = 0, grows = 0, taller = 0, shorter = 0;
  for (int round = 0; round < 200; ++round) {
    if (round == 40 || round == 120) {
      // Jump to a large set (cold build), then keep updating it.
      set = RandomIds(20000 + rng() % 30001, rng());
      root = MustBuild(set, store);
    }
    std::vector<MstChange> ch;
    const int kind = static_cast<int>(rng() % 10);
    const size_t batch = 1 + rng() % 500;
    if (round == 80 || round == 199 || (kind == 0 && set.size() <= 2000)) {
      for (const Digest& d : set) ch.push_back({d, false});  // clear entirely
      ++clears;
    } else {
      for (size_t i = 0; i < batch; ++i) {
        const int what = static_cast<int>(rng() % 8);
        if (what <= 1 || set.empty()) {
          ch.push_back({RandomDigest(rng), true});  // add new
        } else if (what == 2) {
          ch.push_back({set[rng() % set.size()], false});  // remove present
        } else if (what == 3) {
          // Remove a boundary key (level 0 or 1) when one is near.
          size_t j = rng() % set.size();
          size_t k = j;
          while (k < set.size() && !MstIsBoundary(set[k], 0)) ++k;
          if (k < set.size()) {
            size_t m = k;
            while (m < set.size() && !(MstIsBoundary(set[m], 0) && MstIsBoundary(set[m], 1)) &&
                   m - k < 5000)
              ++m;
            ch.push_back({set[(m < set.size() && rng() % 2) ? m : k], false});
          } else {
            ch.push_back({set[j], false});
          }
        } else if (what == 4) {
          ch.push_back({set[rng() % set.size()], true});  // add present: no-op
        } else if (what == 5) {
          ch.push_back({RandomDigest(rng), false});  // remove absent: no-op
        } else if (what == 6) {
          // At both ends: below the smallest / above the largest ID.
          Digest d = RandomDigest(rng);
          if (rng() % 2) {
            d[0] = 0;
            d[1] = static_cast<uint8_t>(rng() % 2);
          } else {
            d[0] = 0xff;
            d[1] = static_cast<uint8_t>(0xfe + rng() % 2);
          }
          ch.push_back({d, true});
        } else {
          // Add a new boundary key (level 0, sometimes level 1 too).
          Digest d = RandomDigest(rng);
          d[31] &= 0xC0;
          if (rng() % 3 == 0) d[30] &= 0xC0;
          ch.push_back({d, true});
        }
      }
      if (kind == 1 && set.size() > 1000) {
        // Shrink hard: remove a contiguous stretch.
        size_t from = rng() % set.size();
        for (size_t i = from; i < std::min(set.size(), from + 400); ++i)
          ch.push_back({set[i], false});
        ++shrinks;
      }
      if (kind == 2) ++grows;
      if (kind == 3 && round % 3 == 0 && !set.empty()) {
        // Decimate: keep 1..100 IDs, so the tree loses levels.
        const size_t keep = 1 + rng() % 100;
        for (size_t i = 0; i < set.size(); ++i)
          if (rng() % set.size() >= keep) ch.push_back({set[i], false});
      }
    }
    ch = Sorted(ch);
    const size_t before = set.size();
    set = ApplyToSet(set, ch);
    const uint64_t stores_before = store.stores;
    auto upd = UpdateMst(root, ch, store);
    ASSERT_TRUE(upd.ok()) << "round " << round << ": " << upd.status().ToString();
    InMemoryMstNodeStore fresh;
    MstRoot cold = MustBuild(set, fresh);
    ASSERT_EQ(Hex(upd->hash), Hex(cold.hash)) << "round " << round << " from " << before << " to "
                                              << set.size() << " with " << ch.size() << " changes";
    ASSERT_EQ(upd->height, cold.height) << round;
    ASSERT_EQ(upd->count, set.size()) << round;
    // The update stored every node of the new tree it needed.
    Status vs = VerifyMst(*upd, store);
    ASSERT_TRUE(vs.ok()) << round << ": " << vs.ToString();
    // O(k log n) node writes.
    EXPECT_LE(store.stores - stores_before, 3 * (ch.size() + 1) * (upd->height + 2u)) << round;
    if (upd->height > root.height) ++taller;
    if (upd->height < root.height) ++shorter;
    root = *upd;
  }
  std::printf("clears %d shrinks %d grows %d taller %d shorter %d\n", clears, shrinks, grows,
              taller, shorter);
  EXPECT_GE(taller, 5);
  EXPECT_GE(shorter, 5);
  EXPECT_GE(clears, 2);
  EXPECT_GE(shrinks, 1);
  EXPECT_GE(grows, 1);
}

TEST(MstUpdate, SingleChangesTouchLogNodes) {
  auto ids = RandomIds(50000, 7);
  CountingStore store;
  MstRoot root = MustBuild(ids, store);
  ASSERT_GE(root.height, 2);
  std::mt19937_64 rng(8);
  for (int i = 0; i < 50; ++i) {
    const uint64_t loads = store.loads, stores = store.stores;
    MstChange ch =
        (i % 2) ? MstChange{RandomDigest(rng), true} : MstChange{ids[rng() % ids.size()], false};
    auto r = UpdateMst(root, std::span<const MstChange>(&ch, 1), store);
    ASSERT_TRUE(r.ok()) << r.status().ToString();
    // A path (plus a neighbour when a boundary key goes) per level.
    EXPECT_LE(store.loads - loads, 2u * (root.height + 1u) + 2u);
    EXPECT_LE(store.stores - stores, 2u * (r->height + 1u) + 2u);
    EXPECT_GE(store.stores - stores, 1u);
    ids = ApplyToSet(ids, {ch});
    root = *r;
  }
  InMemoryMstNodeStore fresh;
  EXPECT_EQ(root, MustBuild(ids, fresh));
}

TEST(MstUpdate, NoOpsAndEdgeCases) {
  auto ids = RandomIds(3000, 9);
  CountingStore store;
  MstRoot root = MustBuild(ids, store);
  const uint64_t stores = store.stores;
  // Adding present IDs and removing absent ones changes nothing.
  std::vector<MstChange> ch = Sorted({{ids[5], true}, {ids[100], true}, {HashOf("absent"), false}});
  auto r = UpdateMst(root, ch, store);
  ASSERT_TRUE(r.ok());
  EXPECT_EQ(*r, root);
  EXPECT_EQ(store.stores, stores);
  // No changes at all.
  r = UpdateMst(root, {}, store);
  ASSERT_TRUE(r.ok());
  EXPECT_EQ(*r, root);
  // Unsorted / duplicate changes are rejected.
  std::vector<MstChange> bad = {{ids[9], true}, {ids[3], false}};
  r = UpdateMst(root, bad, store);
  ASSERT_FALSE(r.ok());
  EXPECT_EQ(r.status().reason(), "MST_CHANGES_UNSORTED");
  bad = {{ids[3], true}, {ids[3], false}};
  EXPECT_FALSE(UpdateMst(root, bad, store).ok());
  // An impossible root.
  r = UpdateMst(MstRoot{root.hash, root.height, 0}, ch, store);
  ASSERT_FALSE(r.ok());
  EXPECT_EQ(r.status().reason(), "MST_ROOT_INVALID");
  // Grow from empty, shrink to one, to empty.
  MstRoot empty = MustBuild({}, store);
  std::vector<MstChange> add_all;
  for (const Digest& d : ids) add_all.push_back({d, true});
  r = UpdateMst(empty, add_all, store);
  ASSERT_TRUE(r.ok());
  EXPECT_EQ(*r, root);
  std::vector<MstChange> keep_one;
  for (size_t i = 0; i < ids.size(); ++i)
    if (i != 1234) keep_one.push_back({ids[i], false});
  r = UpdateMst(root, keep_one, store);
  ASSERT_TRUE(r.ok());
  InMemoryMstNodeStore fresh;
  EXPECT_EQ(*r, MustBuild({ids[1234]}, fresh));
  std::vector<MstChange> last = {{ids[1234], false}};
  r = UpdateMst(*r, last, store);
  ASSERT_TRUE(r.ok());
  EXPECT_EQ(*r, MstEmptyRoot());
}

TEST(MstUpdate, MaximumHeight) {
  // Updates on and off a tree of height 32 (every level but the top has one
  // node per key), growing it, shrinking it back, mixing with random IDs.
  std::vector<Digest> ids = EdgeIds();
  CountingStore store;
  MstRoot root = MustBuild(ids, store);
  ASSERT_EQ(root.height, 32);
  std::mt19937_64 rng(71);
  for (int round = 0; round < 30; ++round) {
    std::vector<MstChange> ch;
    for (int i = 0; i < 1 + round % 7; ++i) {
      Digest d{};
      d[0] = static_cast<uint8_t>(rng());
      if (rng() % 3 == 0) d = RandomDigest(rng);
      if (rng() % 4 == 0) d[31] &= 0xC0;
      ch.push_back({d, rng() % 3 != 0});
    }
    if (round % 10 == 9)
      for (const Digest& d : ids) ch.push_back({d, false});
    ch = Sorted(ch);
    ids = ApplyToSet(ids, ch);
    auto r = UpdateMst(root, ch, store);
    ASSERT_TRUE(r.ok()) << r.status().ToString();
    InMemoryMstNodeStore fresh;
    ASSERT_EQ(*r, MustBuild(ids, fresh)) << round;
    ASSERT_TRUE(VerifyMst(*r, store).ok()) << round;
    root = *r;
  }
}

TEST(MstUpdate, HistoryIndependence) {
  // The same final set reached along different paths has one root.
  auto base = RandomIds(5000, 11);
  auto extra = RandomIds(700, 12);
  InMemoryMstNodeStore store;
  MstRoot a = MustBuild(base, store);
  std::vector<MstChange> ch;
  for (const Digest& d : extra) ch.push_back({d, true});
  for (size_t i = 0; i < base.size(); i += 7) ch.push_back({base[i], false});
  ch = Sorted(ch);
  auto one_step = UpdateMst(a, ch, store);
  ASSERT_TRUE(one_step.ok());
  MstRoot r = a;
  std::vector<MstChange> reversed(ch.rbegin(), ch.rend());
  for (size_t i = 0; i < reversed.size(); i += 50) {
    std::vector<MstChange> part(reversed.begin() + i,
                                reversed.begin() + std::min(reversed.size(), i + 50));
    auto step = UpdateMst(r, Sorted(part), store);
    ASSERT_TRUE(step.ok());
    r = *step;
  }
  EXPECT_EQ(r, *one_step);
  InMemoryMstNodeStore fresh;
  EXPECT_EQ(r, MustBuild(ApplyToSet(base, ch), fresh));
}

// ---------------------------------------------------------------------------
// Proofs

TEST(MstProof, PresentIdsVerify) {
  for (size_t n : {1, 2, 65, 20000}) {
    auto ids = RandomIds(n, 20 + n);
    InMemoryMstNodeStore store;
    MstRoot root = MustBuild(ids, store);
    for (size_t i = 0; i < ids.size(); i += std::max<size_t>(1, n / 50)) {
      auto path = ProveInclusion(root, ids[i], store);
      ASSERT_TRUE(path.ok()) << path.status().ToString();
      EXPECT_EQ(path->size(), root.height + 1u);
      Status st = VerifyInclusion(root.hash, ids[i], *path);
      EXPECT_TRUE(st.ok()) << st.ToString();
    }
    auto absent = ProveInclusion(root, HashOf("not there"), store);
    ASSERT_FALSE(absent.ok());
    EXPECT_EQ(absent.status().code(), Code::kNotFound);
    EXPECT_EQ(absent.status().reason(), "ASSET_NOT_IN_SNAPSHOT");
  }
  InMemoryMstNodeStore store;
  auto none = ProveInclusion(MustBuild({}, store), HashOf("x"), store);
  EXPECT_EQ(none.status().reason(), "ASSET_NOT_IN_SNAPSHOT");
}

TEST(MstProof, ForgeriesFail) {
  auto ids = RandomIds(30000, 21);
  InMemoryMstNodeStore store;
  MstRoot root = MustBuild(ids, store);
  ASSERT_GE(root.height, 2);
  const Digest id = ids[12345];
  auto proof = ProveInclusion(root, id, store);
  ASSERT_TRUE(proof.ok());
  const std::vector<MstNode> path = *proof;
  ASSERT_TRUE(VerifyInclusion(root.hash, id, path).ok());
  auto expect_rejected = [&](const Digest& r, const Digest& x, const std::vector<MstNode>& p,
                             const char* what) {
    Status st = VerifyInclusion(r, x, p);
    EXPECT_FALSE(st.ok()) << what;
    EXPECT_EQ(st.reason(), "MST_PROOF_INVALID") << what;
  };
  // Wrong root.
  expect_rejected(HashOf("other root"), id, path, "wrong root");
  // Another ID with this path (its neighbour in the leaf is fine; an absent one is not).
  expect_rejected(root.hash, HashOf("absent"), path, "absent id");
  // Tampered leaf: a key changed (the root no longer matches).
  {
    auto p = path;
    p.back().entries.front().key[31] ^= 1;
    expect_rejected(root.hash, id, p, "tampered leaf");
  }
  // Tampered leaf with the ID inserted.
  {
    auto p = path;
    Digest fake = id;
    fake[31] ^= 0x80;
    auto& e = p.back().entries;
    e.insert(std::lower_bound(e.begin(), e.end(), MstEntry{fake, {}},
                              [](const MstEntry& a, const MstEntry& b) { return a.key < b.key; }),
             MstEntry{fake, {}});
    expect_rejected(root.hash, fake, p, "inserted id");
  }
  // Swapped sibling: the leaf replaced by another child of the same parent.
  {
    const MstNode& parent = path[path.size() - 2];
    ASSERT_GE(parent.entries.size(), 2u);
    auto it = std::lower_bound(parent.entries.begin(), parent.entries.end(), MstEntry{id, {}},
                               [](const MstEntry& a, const MstEntry& b) { return a.key < b.key; });
    const size_t idx = static_cast<size_t>(it - parent.entries.begin());
    const size_t other = idx == 0 ? 1 : idx - 1;
    auto sib = store.Load(parent.entries[other].hash);
    ASSERT_TRUE(sib.ok());
    auto p = path;
    p.back() = *sib;
    expect_rejected(root.hash, id, p, "sibling leaf");
    // (That path is the genuine proof of the sibling's own IDs.)
    EXPECT_TRUE(VerifyInclusion(root.hash, sib->entries[0].key, p).ok());
  }
  // Dropped / extra / reordered nodes.
  {
    auto p = path;
    p.erase(p.begin() + 1);
    expect_rejected(root.hash, id, p, "dropped node");
    p = path;
    p.push_back(path.back());
    expect_rejected(root.hash, id, p, "extra node");
    p = path;
    std::swap(p[1], p[2]);
    expect_rejected(root.hash, id, p, "reordered");
    expect_rejected(root.hash, id, {}, "empty path");
  }
}

// ---------------------------------------------------------------------------
// Verification

TEST(MstVerify, DetectsCorruptedAndMissingNodes) {
  auto ids = RandomIds(20000, 31);
  InMemoryMstNodeStore store;
  MstRoot root = MustBuild(ids, store);
  ASSERT_TRUE(VerifyMst(root, store).ok());
  // Pick a leaf in the middle through a proof.
  auto path = ProveInclusion(root, ids[7777], store);
  ASSERT_TRUE(path.ok());
  const Digest leaf = path->back().Hash();
  const std::string good = *store.GetRaw(leaf);

  std::string bad = good;
  bad[40] ^= 0x01;  // inside a key: still decodes, no longer hashes
  store.PutRaw(leaf, bad);
  Status st = VerifyMst(root, store);
  EXPECT_EQ(st.code(), Code::kDataLoss);
  EXPECT_EQ(st.reason(), "MST_NODE_CORRUPT") << st.ToString();
  EXPECT_EQ(ProveInclusion(root, ids[7777], store).status().reason(), "MST_NODE_CORRUPT");

  store.PutRaw(leaf, good.substr(0, good.size() - 3));  // truncated
  EXPECT_EQ(VerifyMst(root, store).reason(), "MST_NODE_CORRUPT");

  // A valid node of the tree stored under the wrong name.
  store.PutRaw(leaf, *store.GetRaw(path->front().Hash()));
  EXPECT_EQ(VerifyMst(root, store).reason(), "MST_NODE_CORRUPT");

  store.Erase(leaf);
  st = VerifyMst(root, store);
  EXPECT_EQ(st.reason(), "MST_NODE_MISSING") << st.ToString();
  std::vector<Digest> a, r;
  EXPECT_FALSE(ForEachId(root, store, [](const Digest&) { return true; }).ok());

  store.PutRaw(leaf, good);
  EXPECT_TRUE(VerifyMst(root, store).ok());
  // Wrong count / height in the root.
  EXPECT_EQ(VerifyMst(MstRoot{root.hash, root.height, root.count + 1}, store).reason(),
            "MST_INVALID");
  EXPECT_FALSE(VerifyMst(MstRoot{root.hash, uint8_t(root.height + 1), root.count}, store).ok());
  EXPECT_FALSE(VerifyMst(MstRoot{MstEmptyRootHash(), 0, 5}, store).ok());
  EXPECT_TRUE(VerifyMst(MstEmptyRoot(), store).ok());
}

TEST(MstVerify, DetectsWrongStructureWithGoodHashes) {
  // Hash-consistent trees that break the construction.
  auto ids = RandomIds(300, 41);
  InMemoryMstNodeStore store;
  auto store_tree = [&](const std::vector<std::vector<Digest>>& leaves) {
    MstNode top{1, {}};
    for (const auto& l : leaves) {
      MstNode n{0, {}};
      for (const Digest& d : l) n.entries.push_back({d, {}});
      const Digest h = n.Hash();
      EXPECT_TRUE(store.Store(h, n).ok());
      top.entries.push_back({l.back(), h});
    }
    const Digest h = top.Hash();
    EXPECT_TRUE(store.Store(h, top).ok());
    return MstRoot{h, 1, ids.size()};
  };
  // Split in the middle of a leaf instead of after a boundary.
  std::vector<Digest> first(ids.begin(), ids.begin() + 150), second(ids.begin() + 150, ids.end());
  Status st = VerifyMst(store_tree({first, second}), store);
  EXPECT_EQ(st.reason(), "MST_INVALID") << st.ToString();
  // All IDs in one leaf under a level-1 root (boundaries inside, single entry).
  EXPECT_EQ(VerifyMst(store_tree({ids}), store).reason(), "MST_INVALID");
  // The canonical tree passes.
  InMemoryMstNodeStore good;
  EXPECT_TRUE(VerifyMst(MustBuild(ids, good), good).ok());
}

// ---------------------------------------------------------------------------
// Diff

TEST(MstDiff, EqualsSetDifference) {
  std::mt19937_64 rng(51);
  auto base = RandomIds(20000, 52);
  for (int round = 0; round < 20; ++round) {
    std::vector<Digest> a, b;
    const size_t changes = round < 5 ? 1 + round : 1 + rng() % 3000;
    for (const Digest& d : base) {
      const uint64_t x = rng() % 20000;
      if (x >= changes) {
        a.push_back(d);
        b.push_back(d);
      } else if (x % 2) {
        a.push_back(d);
      } else {
        b.push_back(d);
      }
    }
    for (size_t i = 0; i < changes / 4; ++i) b.push_back(RandomDigest(rng));
    std::sort(b.begin(), b.end());
    if (round == 7) a.clear();
    if (round == 8) b.clear();
    CountingStore store;
    MstRoot ra = MustBuild(a, store), rb = MustBuild(b, store);
    std::vector<Digest> added, removed, want_added, want_removed;
    std::set_difference(b.begin(), b.end(), a.begin(), a.end(), std::back_inserter(want_added));
    std::set_difference(a.begin(), a.end(), b.begin(), b.end(), std::back_inserter(want_removed));
    store.loads = 0;
    Status st = DiffMst(ra, rb, store, added, removed);
    ASSERT_TRUE(st.ok()) << st.ToString();
    EXPECT_EQ(added, want_added) << round;
    EXPECT_EQ(removed, want_removed) << round;
    if (round < 5) {
      // A few changes: a few paths, not the ~600 nodes of the two trees.
      EXPECT_LE(store.loads, 6u * (changes + 1) * (std::max(ra.height, rb.height) + 1u)) << round;
    }
  }
}

TEST(MstDiff, SkipsSharedSubtrees) {
  auto ids = RandomIds(50000, 61);
  CountingStore store;
  MstRoot a = MustBuild(ids, store);
  std::vector<MstChange> ch = {{HashOf("new one"), true}};
  auto b = UpdateMst(a, ch, store);
  ASSERT_TRUE(b.ok());
  std::vector<Digest> added, removed;
  store.loads = 0;
  ASSERT_TRUE(DiffMst(a, *b, store, added, removed).ok());
  EXPECT_EQ(added, std::vector<Digest>{HashOf("new one")});
  EXPECT_TRUE(removed.empty());
  EXPECT_LE(store.loads, 2u * (a.height + 1u) + 4u);
  store.loads = 0;
  ASSERT_TRUE(DiffMst(a, a, store, added, removed).ok());
  EXPECT_EQ(store.loads, 0u);
  EXPECT_TRUE(added.empty() && removed.empty());
}

}  // namespace
}  // namespace aifs
