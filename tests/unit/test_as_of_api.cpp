// Reading a namespace as of a snapshot, branch or tag through the Api, the
// same against the embedded engine and through a real server: ListAssets
// lists what the snapshot holds (removed assets included, filters applied,
// pages in ID order), ReadRangesAt reads its assets and refuses others.
// And head_version: it moves with every change of the live head and not
// with reads (it may also move on writes that change nothing visible).
#include <algorithm>

#include "server_fixture.h"
#include "test_util.h"

namespace aifs::test {
namespace {

class AsOfApiTest : public ServerTest {
 protected:
  void SetUp() override {
    ServerTest::SetUp();
    StartServer();
  }
  // Both faces, named for failure messages.
  std::vector<std::pair<const char*, Api*>> Faces() {
    return {{"engine", &engine()}, {"remote", remote_.get()}};
  }
  AssetId PutWith(const Bytes& data, Metadata metadata) {
    PutOptions o;
    o.metadata = std::move(metadata);
    auto r = PutBytes(engine(), data, o, {});
    EXPECT_TRUE(r.ok()) << r.status().ToString();
    return r.ok() ? r->asset.id : AssetId();
  }
  uint64_t HeadVersion() {
    auto ns = engine().GetNamespace("default");
    EXPECT_TRUE(ns.ok()) << ns.status().ToString();
    return ns.ok() ? ns->head_version : 0;
  }
  std::vector<AssetId> ListAll(Api& api, ListOptions options) {
    std::vector<AssetId> out;
    for (;;) {
      auto page = api.ListAssets(options);
      EXPECT_TRUE(page.ok()) << page.status().ToString();
      if (!page.ok()) break;
      for (const AssetInfo& a : page->assets) out.push_back(a.id);
      if (page->next_page_token.empty()) break;
      options.page_token = page->next_page_token;
    }
    return out;
  }
};

TEST_F(AsOfApiTest, ListAssetsAsOfASnapshotListsWhatItHolds) {
  std::vector<AssetId> kept, later;
  for (int i = 0; i < 7; ++i) {
    kept.push_back(PutWith(RandomBytes(1000 + i, 100 + i), {{"split", i % 2 ? "train" : "test"}}));
  }
  auto snap = engine().CreateSnapshot("default", nullptr);
  ASSERT_TRUE(snap.ok()) << snap.status().ToString();
  AIFS_ASSERT_OK(engine().DeleteAsset("default", kept[0], false));
  AIFS_ASSERT_OK(engine().DeleteAsset("default", kept[3], false));
  for (int i = 0; i < 3; ++i) later.push_back(MustPut(RandomBytes(500, 900 + i)).asset.id);

  std::vector<AssetId> want = kept;
  std::sort(want.begin(), want.end(),
            [](const AssetId& a, const AssetId& b) { return a.bytes() < b.bytes(); });
  for (auto [face, api] : Faces()) {
    SCOPED_TRACE(face);
    // Small pages: tokens carry the listing on in ID order.
    EXPECT_EQ(ListAll(*api, {.limit = 2, .as_of = snap->id.ToHex()}), want);
    // The head does not have the removed ones and has the later ones.
    const auto head = ListAll(*api, {.limit = 2});
    EXPECT_EQ(head.size(), kept.size() - 2 + later.size());
    EXPECT_EQ(std::count(head.begin(), head.end(), kept[0]), 0);
    // Filters apply to the snapshot's records.
    ListOptions train{.as_of = snap->id.ToHex()};
    train.filters = {MetaFilter{.key = "split", .op = MetaFilter::Op::kEquals, .value = "train"}};
    const auto trains = ListAll(*api, train);
    EXPECT_EQ(trains.size(), 3u);
    for (const AssetId& id : trains) EXPECT_NE(std::find(kept.begin(), kept.end(), id), kept.end());
    // Unknown refs are refused.
    auto missing = api->ListAssets({.as_of = "no-such-branch"});
    EXPECT_EQ(missing.status().code(), Code::kNotFound) << missing.status().ToString();
  }
}

TEST_F(AsOfApiTest, ReadRangesAsOfASnapshotReadsItsAssetsEvenRemoved) {
  const Bytes a = RandomBytes(300000, 1), b = RandomBytes(5000, 2), c = RandomBytes(4000, 3);
  const AssetId ida = MustPut(a).asset.id, idb = MustPut(b).asset.id;
  auto snap = engine().CreateSnapshot("default", nullptr);
  ASSERT_TRUE(snap.ok()) << snap.status().ToString();
  AIFS_ASSERT_OK(engine().DeleteAsset("default", ida, false));
  const AssetId idc = MustPut(c).asset.id;
  const std::vector<RangeRead> ranges = {{ida, 70000, 100}, {idb, 0, 5000}, {ida, 299990, 50}};
  for (auto [face, api] : Faces()) {
    SCOPED_TRACE(face);
    std::map<size_t, Bytes> got;
    AIFS_ASSERT_OK(
        api->ReadRangesAt("default", snap->id.ToHex(), ranges, [&](size_t i, ByteSpan bytes) {
          got[i].insert(got[i].end(), bytes.begin(), bytes.end());
          return Status::Ok();
        }));
    EXPECT_EQ(got[0], Slice(a, 70000, 100));
    EXPECT_EQ(got[1], b);
    EXPECT_EQ(got[2], Slice(a, 299990, 10));  // clipped at the end
    auto ignore = [](size_t, ByteSpan) { return Status::Ok(); };
    // At the head the removed asset is gone; as of the snapshot the later one is not there.
    AIFS_EXPECT_STATUS(api->ReadRanges("default", ranges, ignore), kNotFound, "ASSET_NOT_FOUND");
    const std::vector<RangeRead> later = {{idb, 0, 1}, {idc, 0, 1}};
    Status st = api->ReadRangesAt("default", snap->id.ToHex(), later, ignore);
    AIFS_EXPECT_STATUS(st, kNotFound, "ASSET_NOT_IN_SNAPSHOT");
    EXPECT_NE(st.message().find("range 1"), std::string::npos) << st.message();
  }
}

TEST_F(AsOfApiTest, HeadVersionMovesWithEveryChangeOfTheHead) {
  uint64_t v = HeadVersion();
  auto moved = [&](const char* what) {
    const uint64_t now = HeadVersion();
    EXPECT_GT(now, v) << what;
    v = now;
  };
  auto same = [&](const char* what) { EXPECT_EQ(HeadVersion(), v) << what; };

  const AssetId id = PutWith(RandomBytes(2000, 5), {{"k", "v"}});
  moved("put");
  AIFS_ASSERT_OK(engine().BindPath("default", "a/b.bin", id));
  moved("bind");
  AIFS_ASSERT_OK(engine().MovePath("default", "a/b.bin", "c.bin"));
  moved("rename");
  AIFS_ASSERT_OK(engine().RemovePath("default", "c.bin"));
  moved("unbind");
  ASSERT_TRUE(engine().StatAsset("default", id, true).ok());
  ASSERT_TRUE(ListAll(engine(), {}).size() == 1);
  same("reads");
  AIFS_ASSERT_OK(engine().DeleteAsset("default", id, false));
  moved("rm");
  // Over the wire it is the same number.
  auto remote = remote_->GetNamespace("default");
  ASSERT_TRUE(remote.ok()) << remote.status().ToString();
  EXPECT_EQ(remote->head_version, v);
}

}  // namespace
}  // namespace aifs::test
