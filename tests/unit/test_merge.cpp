// History, checkout, merge and revert (engine/merge.h) over a real engine:
// branches committed with `SnapshotOptions.branch`, merged three-way over
// paths, checked against maps computed by hand from the scenario.
#include <map>

#include "aifs/engine/engine.h"
#include "test_util.h"

namespace aifs::test {
namespace {

using Paths = std::map<std::string, AssetId>;

class MergeTest : public EngineFixture {
 protected:
  void SetUp() override { InitStore(); }

  AssetId Put(const std::string& content, const std::string& path) {
    PutOptions o;
    o.path = path;
    auto r = PutBytes(engine(), ToBytes(content), o);
    EXPECT_TRUE(r.ok()) << r.status().ToString();
    return r.ok() ? r->asset.id : AssetId();
  }
  SnapshotInfo Commit(const std::string& branch, const std::string& message) {
    auto s = engine().CreateSnapshot("default", {.message = message, .branch = branch});
    EXPECT_TRUE(s.ok()) << s.status().ToString();
    return s.ok() ? *s : SnapshotInfo{};
  }
  Paths At(const std::string& ref) {
    Paths out;
    auto page = engine().ListPaths({.as_of = ref, .limit = 100000});
    EXPECT_TRUE(page.ok()) << page.status().ToString();
    if (page.ok())
      for (const PathEntry& e : page->entries) out.emplace(e.path, e.id);
    return out;
  }
  Paths Live() { return At(""); }
  MergeReport MustMerge(const std::string& source, const std::string& into,
                        MergeStrategy strategy = MergeStrategy::kFail) {
    auto r = engine().Merge({.source = source, .into = into, .strategy = strategy});
    EXPECT_TRUE(r.ok()) << r.status().ToString();
    return r.ok() ? *r : MergeReport{};
  }
};

TEST_F(MergeTest, DivergedBranchesMergeThreeWayOverPaths) {
  const AssetId a = Put("a1", "a"), b = Put("b1", "b");
  const SnapshotInfo s1 = Commit("main", "base");
  AIFS_ASSERT_OK(engine().CreateBranch("default", "dev", "main", "test").status());
  // dev: replace a, add c.
  const AssetId a2 = Put("a2", "a"), c = Put("c1", "c");
  const SnapshotInfo s2 = Commit("dev", "dev work");
  ASSERT_EQ(s2.parents, std::vector<SnapshotId>{s1.id});
  // main: back to its tree, then change b and add d.
  auto co = engine().Checkout("default", "main");
  ASSERT_TRUE(co.ok()) << co.status().ToString();
  EXPECT_EQ(Live(), (Paths{{"a", a}, {"b", b}}));
  const AssetId b2 = Put("b2", "b"), d = Put("d1", "d");
  const SnapshotInfo s3 = Commit("main", "main work");
  ASSERT_EQ(s3.parents, std::vector<SnapshotId>{s1.id});

  const MergeReport r = MustMerge("dev", "main");
  ASSERT_TRUE(r.snapshot);
  EXPECT_FALSE(r.fast_forward);
  EXPECT_TRUE(r.conflicts.empty());
  EXPECT_EQ(r.base, s1.id);
  EXPECT_EQ(r.paths_changed, 2u);
  EXPECT_EQ(r.snapshot->parents, (std::vector<SnapshotId>{s3.id, s2.id}));
  EXPECT_EQ(At("main"), (Paths{{"a", a2}, {"b", b2}, {"c", c}, {"d", d}}));
  EXPECT_EQ(engine().GetSnapshot("default", "main")->id, r.snapshot->id);
  AIFS_EXPECT_OK(engine().VerifySnapshot("default", "main"));
  // Every asset a merged path names is in the merged asset set.
  for (const auto& [path, id] : At("main")) {
    auto proof = engine().ProveAsset("default", "main", id);
    EXPECT_TRUE(proof.ok()) << path;
  }
  // History: the merge, then both lines by time, then the base.
  auto log = engine().SnapshotLog("default", "main", 10);
  ASSERT_TRUE(log.ok());
  ASSERT_EQ(log->size(), 4u);
  EXPECT_EQ((*log)[0].id, r.snapshot->id);
  EXPECT_EQ((*log)[1].id, s3.id);
  EXPECT_EQ((*log)[2].id, s2.id);
  EXPECT_EQ((*log)[3].id, s1.id);
  EXPECT_EQ(engine().SnapshotLog("default", "main", 2)->size(), 2u);

  // Merging again changes nothing; merging main into dev is a fast-forward.
  EXPECT_TRUE(MustMerge("dev", "main").up_to_date);
  const MergeReport ff = MustMerge("main", "dev");
  EXPECT_TRUE(ff.fast_forward);
  EXPECT_EQ(engine().GetSnapshot("default", "dev")->id, r.snapshot->id);
}

TEST_F(MergeTest, ConflictsStopTheMergeUnlessAStrategyPicksASide) {
  Put("x1", "x");
  Put("y1", "y");
  const SnapshotInfo s1 = Commit("main", "base");
  AIFS_ASSERT_OK(engine().CreateBranch("default", "dev", "main", "test").status());
  const AssetId theirs = Put("x-dev", "x");
  AIFS_ASSERT_OK(engine().RemovePath("default", "y"));
  Commit("dev", "dev");
  ASSERT_TRUE(engine().Checkout("default", "main").ok());
  const AssetId ours = Put("x-main", "x");
  const SnapshotInfo s3 = Commit("main", "main");

  const MergeReport stop = MustMerge("dev", "main");
  EXPECT_FALSE(stop.snapshot);
  ASSERT_EQ(stop.conflicts.size(), 1u);
  EXPECT_EQ(stop.conflicts[0].path, "x");
  EXPECT_EQ(stop.conflicts[0].ours, ours);
  EXPECT_EQ(stop.conflicts[0].theirs, theirs);
  EXPECT_EQ(engine().GetSnapshot("default", "main")->id, s3.id);  // nothing moved

  AIFS_ASSERT_OK(engine().CreateBranch("default", "m2", s3.id.ToHex(), "test").status());
  const MergeReport mine = MustMerge("dev", "main", MergeStrategy::kOurs);
  ASSERT_TRUE(mine.snapshot);
  EXPECT_EQ(At("main"), (Paths{{"x", ours}}));  // y's removal (no conflict) still merged
  const MergeReport other = MustMerge("dev", "m2", MergeStrategy::kTheirs);
  ASSERT_TRUE(other.snapshot);
  EXPECT_EQ(At("m2"), (Paths{{"x", theirs}}));
  (void)s1;
}

TEST_F(MergeTest, RevertUndoesOneSnapshotAndKeepsLaterWork) {
  const AssetId a = Put("a1", "a");
  Commit("main", "one");
  Put("a2", "a");
  const AssetId b = Put("b1", "b");
  const SnapshotInfo two = Commit("main", "two");
  const AssetId c = Put("c1", "c");
  Commit("main", "three");
  auto r = engine().Revert({.source = two.id.ToHex(), .into = "main"});
  ASSERT_TRUE(r.ok()) << r.status().ToString();
  ASSERT_TRUE(r->snapshot);
  EXPECT_EQ(At("main"), (Paths{{"a", a}, {"c", c}}));
  EXPECT_EQ(r->snapshot->message, "revert " + two.id.ToHex());
  (void)b;
  auto first = engine().SnapshotLog("default", "main", 100)->back();
  EXPECT_EQ(engine().Revert({.source = first.id.ToHex(), .into = "main"}).status().reason(),
            "NO_PARENT");
}

TEST_F(MergeTest, CheckoutReportsPathsWhoseAssetsAreGone) {
  const AssetId a = Put("a1", "a");
  Put("b1", "b");
  Commit("main", "one");
  AIFS_ASSERT_OK(engine().DeleteAsset("default", a));
  Put("z", "z");
  auto co = engine().Checkout("default", "main");
  ASSERT_TRUE(co.ok()) << co.status().ToString();
  EXPECT_EQ(co->missing, std::vector<std::string>{"a"});
  EXPECT_EQ(co->unbound, 1u);    // z
  EXPECT_EQ(Live().size(), 1u);  // b
}

TEST_F(MergeTest, ErrorsHaveStableReasons) {
  Put("a", "a");
  Commit("main", "one");
  EXPECT_EQ(engine().Merge({.source = "main", .into = "nope"}).status().reason(),
            "BRANCH_NOT_FOUND");
  EXPECT_EQ(engine().Merge({.source = "nope", .into = "main"}).status().reason(), "REF_NOT_FOUND");
  const std::vector<AssetId> none;
  EXPECT_EQ(engine().CreateSnapshot("default", {.ids = &none, .branch = "main"}).status().reason(),
            "BRANCH_WITH_EXPLICIT_SET");
}

}  // namespace
}  // namespace aifs::test
