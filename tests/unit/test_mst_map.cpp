// Tests of map trees (src/aifs/snapshot/mst.h, "Map trees"): the tree behind
// a snapshot's paths. The construction is checked against a reference
// written from the description, updates against cold builds, and lookups,
// proofs, verification and diffs against std::map.
#include <gtest/gtest.h>

#include <map>
#include <random>
#include <vector>

#include "aifs/core/blake3.h"
#include "aifs/snapshot/mst.h"
#include "test_util.h"

namespace aifs {
namespace {

using test::RandomDigest;

using Map = std::map<Digest, Digest>;

Map RandomMap(size_t n, std::mt19937_64& rng) {
  Map m;
  while (m.size() < n) m[RandomDigest(rng)] = RandomDigest(rng);
  return m;
}

// The construction from its description: leaves hash 0x02 || (key || value)*,
// the levels above as in a set tree.
Digest SpecMapRoot(const Map& m) {
  std::vector<std::pair<Digest, Digest>> entries(m.begin(), m.end());
  for (unsigned level = 0;; ++level) {
    std::vector<std::pair<Digest, Digest>> next;
    std::vector<uint8_t> pre;
    auto begin_node = [&] {
      pre.clear();
      pre.push_back(level == 0 ? 2 : 1);
      if (level > 0) pre.push_back(static_cast<uint8_t>(level));
    };
    begin_node();
    for (size_t i = 0; i < entries.size(); ++i) {
      const auto& [k, v] = entries[i];
      pre.insert(pre.end(), k.begin(), k.end());
      pre.insert(pre.end(), v.begin(), v.end());
      if ((level < 32 && (k[31 - level] & 0x3F) == 0) || i + 1 == entries.size()) {
        next.push_back({k, Blake3::Hash(ByteSpan(pre.data(), pre.size()))});
        begin_node();
      }
    }
    if (next.size() == 1) return next[0].second;
    entries = std::move(next);
  }
}

MstRoot Build(const Map& m, MstNodeStore& store) {
  MstBuilder b(store, /*valued=*/true);
  for (const auto& [k, v] : m) EXPECT_TRUE(b.AddEntry(k, v).ok());
  auto root = b.Finish();
  EXPECT_TRUE(root.ok()) << root.status().ToString();
  return *root;
}

TEST(MstMap, BuildMatchesTheDescription) {
  std::mt19937_64 rng(7);
  for (size_t n : {1, 2, 63, 64, 65, 500, 5000}) {
    InMemoryMstNodeStore store;
    const Map m = RandomMap(n, rng);
    const MstRoot root = Build(m, store);
    EXPECT_EQ(root.hash, SpecMapRoot(m)) << n;
    EXPECT_EQ(root.count, n);
    EXPECT_TRUE(VerifyMst(root, store, /*valued=*/true).ok());
    // A map tree is not a set tree, and its leaves do not hash like one.
    EXPECT_EQ(VerifyMst(root, store, false).reason(), "MST_INVALID");
    std::vector<Digest> keys;
    for (const auto& kv : m) keys.push_back(kv.first);
    InMemoryMstNodeStore set_store;
    EXPECT_NE(BuildMst(keys, set_store)->hash, root.hash);
  }
}

TEST(MstMap, EncodeDecodeRoundTripOfAValuedLeaf) {
  MstNode leaf;
  leaf.valued = true;
  std::mt19937_64 rng(3);
  for (int i = 0; i < 3; ++i) leaf.entries.push_back({RandomDigest(rng), RandomDigest(rng)});
  std::sort(leaf.entries.begin(), leaf.entries.end(),
            [](const MstEntry& a, const MstEntry& b) { return a.key < b.key; });
  const std::string bytes = leaf.Encode();
  EXPECT_EQ(bytes.size(), 5u + 3 * 64);
  EXPECT_EQ(static_cast<uint8_t>(bytes[0]), 0x80);
  auto back = MstNode::Decode(bytes);
  ASSERT_TRUE(back.ok());
  EXPECT_EQ(*back, leaf);
  EXPECT_EQ(back->Hash(), leaf.Hash());
  EXPECT_FALSE(MstNode::Decode(std::string("\x80\0\0\0\0", 5)).ok());  // no empty map leaf
}

TEST(MstMap, UpdatesEqualColdBuilds) {
  std::mt19937_64 rng(11);
  for (int round = 0; round < 30; ++round) {
    InMemoryMstNodeStore store;
    Map m = RandomMap(rng() % 3000, rng);
    MstRoot root = Build(m, store);
    // Mixed changes: new keys, new values of present keys, removals (of
    // present and absent keys), and setting a key to the value it has.
    std::map<Digest, std::optional<Digest>> changes;
    const size_t k = 1 + rng() % 200;
    std::vector<Digest> present;
    for (const auto& kv : m) present.push_back(kv.first);
    for (size_t i = 0; i < k; ++i) {
      switch (rng() % 5) {
        case 0:
          changes[RandomDigest(rng)] = RandomDigest(rng);
          break;
        case 1:
          changes[RandomDigest(rng)] = std::nullopt;
          break;
        default:
          if (present.empty()) break;
          const Digest key = present[rng() % present.size()];
          const int what = static_cast<int>(rng() % 3);
          changes[key] = what == 0   ? std::optional<Digest>()
                         : what == 1 ? std::optional<Digest>(m[key])
                                     : std::optional<Digest>(RandomDigest(rng));
      }
    }
    std::vector<MstMapChange> sorted;
    for (const auto& [key, value] : changes) {
      sorted.push_back({key, value});
      if (value)
        m[key] = *value;
      else
        m.erase(key);
    }
    auto updated = UpdateMstMap(root, sorted, store);
    ASSERT_TRUE(updated.ok()) << updated.status().ToString();
    InMemoryMstNodeStore fresh;
    const MstRoot cold = Build(m, fresh);
    EXPECT_EQ(*updated, cold) << "round " << round;
    EXPECT_TRUE(VerifyMst(*updated, store, true).ok());
  }
}

TEST(MstMap, ChangingOnlyAValueChangesTheRoot) {
  std::mt19937_64 rng(5);
  InMemoryMstNodeStore store;
  Map m = RandomMap(1000, rng);
  const MstRoot root = Build(m, store);
  const Digest key = std::next(m.begin(), 500)->first;
  const Digest value = RandomDigest(rng);
  const MstMapChange change{key, value};
  auto updated = UpdateMstMap(root, std::span(&change, 1), store);
  ASSERT_TRUE(updated.ok());
  EXPECT_NE(updated->hash, root.hash);
  EXPECT_EQ(updated->count, root.count);
  EXPECT_EQ(*MstLookup(*updated, key, store), value);
  EXPECT_EQ(*MstLookup(root, key, store), m[key]);
}

TEST(MstMap, LookupProofsAndForgeries) {
  std::mt19937_64 rng(9);
  InMemoryMstNodeStore store;
  const Map m = RandomMap(4000, rng);
  const MstRoot root = Build(m, store);
  int checked = 0;
  for (const auto& [k, v] : m) {
    if (++checked > 200) break;
    EXPECT_EQ(*MstLookup(root, k, store), v);
    auto path = ProveInclusion(root, k, store);
    ASSERT_TRUE(path.ok());
    EXPECT_TRUE(VerifyInclusion(root.hash, k, *path, &v).ok());
    Digest other = v;
    other[0] ^= 1;
    EXPECT_EQ(VerifyInclusion(root.hash, k, *path, &other).reason(), "MST_PROOF_INVALID");
    EXPECT_EQ(VerifyInclusion(root.hash, k, *path).reason(), "MST_PROOF_INVALID");  // no value
    auto forged = *path;
    forged.back().entries[0].hash[5] ^= 0x10;  // any leaf value tampered
    EXPECT_FALSE(VerifyInclusion(root.hash, k, forged, &v).ok());
  }
  EXPECT_EQ(MstLookup(root, RandomDigest(rng), store).status().reason(), "MST_KEY_NOT_FOUND");
}

TEST(MstMap, DiffListsAddedRemovedAndChanged) {
  std::mt19937_64 rng(13);
  InMemoryMstNodeStore store;
  Map a = RandomMap(20000, rng);
  const MstRoot ra = Build(a, store);
  Map b = a;
  std::vector<MstMapChange> changes;
  std::map<Digest, MstMapDiff> expected;
  auto it = a.begin();
  for (int i = 0; i < 300; ++i, std::advance(it, 50)) {
    if (i % 3 == 0) {
      expected[it->first] = {it->first, it->second, std::nullopt};
      b.erase(it->first);
    } else if (i % 3 == 1) {
      const Digest v = RandomDigest(rng);
      expected[it->first] = {it->first, it->second, v};
      b[it->first] = v;
    }
  }
  for (int i = 0; i < 100; ++i) {
    const Digest k = RandomDigest(rng), v = RandomDigest(rng);
    expected[k] = {k, std::nullopt, v};
    b[k] = v;
  }
  for (const auto& [k, d] : expected) changes.push_back({k, d.after});
  auto rb = UpdateMstMap(ra, changes, store);
  ASSERT_TRUE(rb.ok());
  std::vector<MstMapDiff> diff;
  ASSERT_TRUE(DiffMstMap(ra, *rb, store, diff).ok());
  ASSERT_EQ(diff.size(), expected.size());
  size_t i = 0;
  for (const auto& [k, d] : expected) {
    EXPECT_EQ(diff[i].key, k);
    EXPECT_EQ(diff[i].before, d.before);
    EXPECT_EQ(diff[i].after, d.after);
    ++i;
  }
  std::vector<MstEntry> walked;
  ASSERT_TRUE(ForEachEntry(*rb, store, [&](const MstEntry& e) {
                walked.push_back(e);
                return true;
              }).ok());
  ASSERT_EQ(walked.size(), b.size());
  auto bi = b.begin();
  for (const MstEntry& e : walked) {
    EXPECT_EQ(e.key, bi->first);
    EXPECT_EQ(e.hash, bi->second);
    ++bi;
  }
}

TEST(MstMap, ASetTreeIsNotUpdatedAsAMap) {
  std::mt19937_64 rng(17);
  InMemoryMstNodeStore store;
  std::vector<Digest> ids;
  for (int i = 0; i < 10; ++i) ids.push_back(RandomDigest(rng));
  std::sort(ids.begin(), ids.end());
  auto root = BuildMst(ids, store);
  ASSERT_TRUE(root.ok());
  const MstMapChange change{RandomDigest(rng), RandomDigest(rng)};
  EXPECT_EQ(UpdateMstMap(*root, std::span(&change, 1), store).status().reason(), "MST_INVALID");
}

}  // namespace
}  // namespace aifs
