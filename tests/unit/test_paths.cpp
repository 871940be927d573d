// Paths (engine/paths.h, docs/paths.md) over a real engine: the live index
// against a std::map model through random binds, moves, removals, re-puts and
// deletes; snapshots' path trees against a cold build of the model; diffs,
// as-of lookups and listings; offline path proofs; validation.
#include <map>
#include <random>

#include "aifs/client/proof_json.h"
#include "aifs/engine/engine.h"
#include "aifs/snapshot/mst.h"
#include "aifs/snapshot/snapshot_format.h"
#include "test_util.h"

namespace aifs::test {
namespace {

using Model = std::map<std::string, AssetId>;

class PathTest : public EngineFixture {
 protected:
  void SetUp() override { InitStore(); }

  AssetId PutAt(const std::string& content, const std::optional<std::string>& path) {
    PutOptions o;
    o.path = path;
    auto r = PutBytes(engine(), ToBytes(content), o);
    EXPECT_TRUE(r.ok()) << r.status().ToString();
    return r.ok() ? r->asset.id : AssetId();
  }

  Model Live(const std::string& prefix = "", size_t page = 7) {
    Model out;
    PathListOptions o{.prefix = prefix, .limit = page};
    do {
      auto p = engine().ListPaths(o);
      EXPECT_TRUE(p.ok()) << p.status().ToString();
      if (!p.ok()) break;
      EXPECT_LE(p->entries.size(), page);
      for (const PathEntry& e : p->entries) EXPECT_TRUE(out.emplace(e.path, e.id).second);
      o.page_token = p->next_page_token;
    } while (!o.page_token.empty());
    return out;
  }

  Model At(const std::string& ref, const std::string& prefix = "") {
    Model out;
    PathListOptions o{.prefix = prefix, .as_of = ref, .limit = 5};
    do {
      auto p = engine().ListPaths(o);
      EXPECT_TRUE(p.ok()) << p.status().ToString();
      if (!p.ok()) break;
      for (const PathEntry& e : p->entries) out.emplace(e.path, e.id);
      o.page_token = p->next_page_token;
    } while (!o.page_token.empty());
    return out;
  }
};

// The path tree a snapshot of `m` must have, built cold from the model.
MstRoot ModelTree(const Model& m) {
  std::map<Digest, Digest> keyed;
  for (const auto& [path, id] : m) keyed[PathTreeKey(path)] = id.bytes();
  InMemoryMstNodeStore store;
  MstBuilder b(store, true);
  for (const auto& [k, v] : keyed) EXPECT_TRUE(b.AddEntry(k, v).ok());
  return *b.Finish();
}

Model Prefixed(const Model& m, const std::string& prefix) {
  Model out;
  for (const auto& [p, id] : m)
    if (p.starts_with(prefix)) out.emplace(p, id);
  return out;
}

TEST_F(PathTest, RandomOperationsMatchAModelAndEverySnapshotKeepsItsPaths) {
  std::mt19937_64 rng(42);
  Model model;
  std::vector<AssetId> assets;
  std::vector<std::pair<std::string, Model>> snapshots;
  auto random_path = [&] {
    static const char* dirs[] = {"train/", "val/", "train/cats/", "test/", ""};
    return std::string(dirs[rng() % 5]) + "f" + std::to_string(rng() % 60) + ".bin";
  };
  for (int step = 0; step < 400; ++step) {
    const int op = static_cast<int>(rng() % 10);
    if (op < 4 || assets.empty()) {  // put at a path (often replacing)
      const std::string path = random_path();
      const AssetId id = PutAt("content " + std::to_string(rng() % 80), path);
      model[path] = id;
      assets.push_back(id);
    } else if (op == 4 && !model.empty()) {  // move
      auto it = std::next(model.begin(), static_cast<long>(rng() % model.size()));
      const std::string from = it->first, to = random_path();
      AIFS_ASSERT_OK(engine().MovePath("default", from, to));
      const AssetId id = it->second;
      model.erase(from);
      model[to] = id;
    } else if (op == 5 && !model.empty()) {  // remove a path
      auto it = std::next(model.begin(), static_cast<long>(rng() % model.size()));
      AIFS_ASSERT_OK(engine().RemovePath("default", it->first));
      model.erase(it);
    } else if (op == 6) {  // bind an existing asset to another path
      const AssetId id = assets[rng() % assets.size()];
      const std::string path = random_path();
      const Status st = engine().BindPath("default", path, id);
      if (st.ok()) {
        model[path] = id;
      } else {
        EXPECT_EQ(st.reason(), "ASSET_NOT_FOUND");  // deleted earlier
      }
    } else if (op == 7) {  // delete an asset: its paths go
      const AssetId id = assets[rng() % assets.size()];
      const Status st = engine().DeleteAsset("default", id);
      if (st.ok()) {
        std::erase_if(model, [&](const auto& kv) { return kv.second == id; });
      } else {
        EXPECT_EQ(st.reason(), "ASSET_NOT_FOUND");
      }
    } else {  // snapshot
      auto s = engine().CreateSnapshot("default", {.message = "step " + std::to_string(step)});
      ASSERT_TRUE(s.ok()) << s.status().ToString();
      EXPECT_EQ(s->path_count, model.size());
      EXPECT_EQ(s->path_root, ModelTree(model).hash) << "step " << step;
      snapshots.emplace_back(s->id.ToHex(), model);
    }
    if (step % 50 == 0) {
      ASSERT_EQ(Live(), model) << "step " << step;
    }
  }
  EXPECT_EQ(Live(), model);
  EXPECT_EQ(Live("train/"), Prefixed(model, "train/"));
  ASSERT_GE(snapshots.size(), 5u);
  for (const auto& [ref, m] : snapshots) {
    EXPECT_EQ(At(ref), m);
    EXPECT_EQ(At(ref, "train/cats/"), Prefixed(m, "train/cats/"));
    AIFS_EXPECT_OK(engine().VerifySnapshot("default", ref));
    for (const auto& [path, id] : m) {
      auto got = engine().ResolvePath("default", path, ref);
      ASSERT_TRUE(got.ok()) << got.status().ToString();
      EXPECT_EQ(*got, id);
    }
  }
  // Diffs between consecutive snapshots are the model's differences.
  for (size_t i = 1; i < snapshots.size(); ++i) {
    const Model& a = snapshots[i - 1].second;
    const Model& b = snapshots[i].second;
    auto d = engine().DiffSnapshots("default", snapshots[i - 1].first, snapshots[i].first);
    ASSERT_TRUE(d.ok());
    std::vector<PathChange> expected;
    for (const auto& [p, id] : a) {
      if (!b.count(p))
        expected.push_back({p, id, std::nullopt});
      else if (b.at(p) != id)
        expected.push_back({p, id, b.at(p)});
    }
    for (const auto& [p, id] : b)
      if (!a.count(p)) expected.push_back({p, std::nullopt, id});
    std::sort(expected.begin(), expected.end(),
              [](const PathChange& x, const PathChange& y) { return x.path < y.path; });
    ASSERT_EQ(d->paths.size(), expected.size()) << i;
    for (size_t k = 0; k < expected.size(); ++k) {
      EXPECT_EQ(d->paths[k].path, expected[k].path);
      EXPECT_EQ(d->paths[k].before, expected[k].before);
      EXPECT_EQ(d->paths[k].after, expected[k].after);
    }
  }
}

TEST_F(PathTest, SnapshotsChainParentsAndSignMessageAndAuthor) {
  PutAt("a", "x/a");
  auto s1 = engine().CreateSnapshot("default", {.message = "first", .author = "ann"});
  ASSERT_TRUE(s1.ok());
  EXPECT_TRUE(s1->parents.empty());
  PutAt("b", "x/b");
  auto s2 = engine().CreateSnapshot("default", {.message = "second", .author = "bob"});
  ASSERT_TRUE(s2.ok());
  ASSERT_EQ(s2->parents.size(), 1u);
  EXPECT_EQ(s2->parents[0], s1->id);
  auto back = engine().GetSnapshot("default", s2->id.ToHex());
  ASSERT_TRUE(back.ok());
  EXPECT_EQ(back->message, "second");
  EXPECT_EQ(back->author, "bob");
  EXPECT_EQ(back->path_count, 2u);
  // The message is signed: changing it breaks the signature.
  SnapshotInfo forged = *back;
  forged.message = "third";
  EXPECT_EQ(VerifySnapshotSignature(forged, forged.public_key).reason(), "SIGNATURE_INVALID");
  EXPECT_EQ(
      engine().CreateSnapshot("default", {.message = std::string(70000, 'm')}).status().reason(),
      "MESSAGE_TOO_LONG");
}

TEST_F(PathTest, PathProofsVerifyOfflineAndRefuseAnotherAsset) {
  const AssetId a = PutAt("alpha", "data/a.bin");
  const AssetId b = PutAt("beta", "data/b.bin");
  auto s = engine().CreateSnapshot("default", SnapshotOptions{});
  ASSERT_TRUE(s.ok());
  auto proof = engine().ProvePath("default", s->id.ToHex(), "data/a.bin");
  ASSERT_TRUE(proof.ok()) << proof.status().ToString();
  EXPECT_EQ(proof->asset, a);
  // Through the portable JSON form and back, as `aifs verify-proof` reads it.
  auto parsed = ProofFromJson(ProofToJson(*proof));
  ASSERT_TRUE(parsed.ok()) << parsed.status().ToString();
  AIFS_EXPECT_OK(VerifySnapshotProof(*parsed, s->public_key));
  SnapshotProof lie = *parsed;
  lie.asset = b;
  EXPECT_EQ(VerifySnapshotProof(lie, s->public_key).reason(), "MST_PROOF_INVALID");
  lie = *parsed;
  lie.path = "data/b.bin";
  EXPECT_FALSE(VerifySnapshotProof(lie, s->public_key).ok());
  EXPECT_EQ(engine().ProvePath("default", s->id.ToHex(), "nope").status().reason(),
            "PATH_NOT_IN_SNAPSHOT");
}

TEST_F(PathTest, ReplacingAPathKeepsTheOldAssetAndItsOldSnapshot) {
  const AssetId v1 = PutAt("version one", "model.bin");
  auto s1 = engine().CreateSnapshot("default", SnapshotOptions{});
  ASSERT_TRUE(s1.ok());
  const AssetId v2 = PutAt("version two", "model.bin");
  EXPECT_EQ(*engine().ResolvePath("default", "model.bin", ""), v2);
  EXPECT_EQ(*engine().ResolvePath("default", "model.bin", s1->id.ToHex()), v1);
  EXPECT_EQ(MustRead(v1), ToBytes("version one"));  // still readable by ID
  EXPECT_EQ(engine().GetNamespace("default")->asset_count, 2u);
}

TEST_F(PathTest, BadPathsAndMissingThingsGetStableReasons) {
  const AssetId id = PutAt("x", std::nullopt);
  for (const std::string& bad :
       {std::string(""), std::string("/abs"), std::string("a//b"), std::string("a/./b"),
        std::string("../up"), std::string("dir/"), std::string("nul\0x", 5),
        std::string("bad\xff utf8"), std::string("\xc0\xaf"), std::string("ctl\x01"),
        std::string(4097, 'a'), std::string(256, 'c') + "/x"}) {
    EXPECT_EQ(engine().BindPath("default", bad, id).reason(), "INVALID_PATH") << bad.size();
    PutOptions o;
    o.path = bad;
    EXPECT_EQ(engine().BeginPut(o).status().reason(), "INVALID_PATH");
  }
  AIFS_EXPECT_OK(engine().BindPath("default", "ünïcødé/数据/ok.bin", id));
  AIFS_EXPECT_OK(engine().BindPath("default", std::string(255, 'c') + "/x", id));
  EXPECT_EQ(engine().ResolvePath("default", "missing", "").status().reason(), "PATH_NOT_FOUND");
  EXPECT_EQ(engine().RemovePath("default", "missing").reason(), "PATH_NOT_FOUND");
  EXPECT_EQ(engine().MovePath("default", "missing", "x").reason(), "PATH_NOT_FOUND");
  EXPECT_EQ(engine().ResolvePath("nope", "a", "").status().reason(), "NAMESPACE_NOT_FOUND");
  EXPECT_EQ(engine().BindPath("default", "a", AssetId(Blake3::Hash(ToBytes("zz")))).reason(),
            "ASSET_NOT_FOUND");
  EXPECT_EQ(engine().ResolvePath("default", "a", "no-such-ref").status().reason(), "REF_NOT_FOUND");
}

TEST_F(PathTest, PathsSurviveAReopenAndTheCountStaysExact) {
  for (int i = 0; i < 30; ++i) PutAt("file " + std::to_string(i), "d/" + std::to_string(i));
  AIFS_ASSERT_OK(engine().RemovePath("default", "d/3"));
  AIFS_ASSERT_OK(engine().MovePath("default", "d/4", "e/4"));
  Reopen();
  const Model live = Live();
  EXPECT_EQ(live.size(), 29u);
  EXPECT_EQ(live.count("e/4"), 1u);
  auto s = engine().CreateSnapshot("default", SnapshotOptions{});
  ASSERT_TRUE(s.ok());
  EXPECT_EQ(s->path_count, 29u);
}

}  // namespace
}  // namespace aifs::test
