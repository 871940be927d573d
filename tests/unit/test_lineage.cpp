// Lineage with strong causality (issue 4), end to end over a real engine:
// parents recorded by puts, PARENT_NOT_COMMITTED, lineage queries against an
// independent breadth-first reference, HAS_CHILDREN and forced deletes with
// tombstones, multi-asset transactions (commit, abort, a parent deleted
// before the commit), causality under concurrent puts/deletes/reads, and a
// process killed in the middle of a multi-asset transaction.
#include <fcntl.h>
#include <poll.h>
#include <signal.h>
#include <sys/wait.h>
#include <unistd.h>

#include <algorithm>
#include <atomic>
#include <chrono>
#include <cstdlib>
#include <map>
#include <mutex>
#include <random>
#include <set>
#include <thread>

#include "aifs/engine/engine.h"
#include "test_util.h"

namespace aifs::test {
namespace {

ParentRef Parent(const AssetId& id, std::string transform = "", std::string digest = "") {
  return ParentRef{id, std::move(transform), std::move(digest)};
}

class LineageTest : public EngineFixture {
 protected:
  Result<PutResult> TryPut(const Bytes& data, std::vector<ParentRef> parents,
                           Metadata md = {}, const std::string& ns = "default") {
    PutOptions o;
    o.ns = ns;
    o.parents = std::move(parents);
    o.metadata = std::move(md);
    return PutBytes(engine(), data, o);
  }
  AssetId MustPutWith(const Bytes& data, std::vector<ParentRef> parents,
                      const std::string& ns = "default") {
    auto r = TryPut(data, std::move(parents), {}, ns);
    EXPECT_TRUE(r.ok()) << r.status().ToString();
    return r.ok() ? r->asset.id : AssetId{};
  }
  bool Visible(const AssetId& id, const std::string& ns = "default") {
    auto r = engine().StatAsset(ns, id, false);
    if (r.ok()) return true;
    EXPECT_TRUE(IsStatus(r.status(), Code::kNotFound, "ASSET_NOT_FOUND")) << r.status().ToString();
    return false;
  }
  std::vector<AssetInfo> ListAll(const std::string& ns = "default") {
    std::vector<AssetInfo> out;
    ListOptions lo;
    lo.ns = ns;
    lo.limit = 1000;
    do {
      auto page = engine().ListAssets(lo);
      EXPECT_TRUE(page.ok()) << page.status().ToString();
      if (!page.ok()) break;
      out.insert(out.end(), page->assets.begin(), page->assets.end());
      lo.page_token = page->next_page_token;
    } while (!lo.page_token.empty());
    return out;
  }
  LineageGraph MustLineage(const AssetId& id, LineageDirection dir, int depth) {
    auto g = engine().GetLineage("default", id, dir, depth);
    EXPECT_TRUE(g.ok()) << g.status().ToString();
    return g.ok() ? *g : LineageGraph{};
  }
  // Every regular file in the chunk store: objects and leftovers.
  size_t ChunkFiles() { return TallyFiles(ChunkDir()).files; }
  // Chunk objects of every namespace share the chunk directory.
  void ExpectBooksMatchDisk() {
    auto all = engine().ListNamespaces();
    ASSERT_TRUE(all.ok()) << all.status().ToString();
    uint64_t chunks = 0, bytes = 0;
    for (const NamespaceInfo& info : *all) {
      chunks += info.chunk_count;
      bytes += info.stored_bytes;
      EXPECT_EQ(info.asset_count, ListAll(info.name).size()) << info.name;
    }
    const FileTally disk = TallyFiles(ChunkDir());
    EXPECT_EQ(chunks, disk.files);
    EXPECT_EQ(bytes, disk.bytes);
  }
};

// Unique small payloads: the label makes every asset distinct.
Bytes Payload(const std::string& label, size_t n = 3000) {
  Bytes b = RandomBytes(n, std::hash<std::string>{}(label));
  Bytes head = ToBytes(label + "\n");
  return Concat({head, b});
}

std::set<AssetId> Ids(const std::vector<AssetInfo>& v) {
  std::set<AssetId> s;
  for (const auto& a : v) s.insert(a.id);
  return s;
}

// --------------------------------------------------------------------- puts

TEST_F(LineageTest, ParentsAreRecordedWithTransforms) {
  InitStore();
  const AssetId raw = MustPut(Payload("raw")).asset.id;
  const AssetId vocab = MustPut(Payload("vocab")).asset.id;
  auto r = TryPut(Payload("tokens"), {Parent(raw, "tokenize", "sha256:aa11"), Parent(vocab, "lookup")});
  ASSERT_TRUE(r.ok()) << r.status().ToString();
  const std::vector<ParentRef> want = {Parent(raw, "tokenize", "sha256:aa11"), Parent(vocab, "lookup")};
  EXPECT_EQ(r->asset.parents, want);
  EXPECT_TRUE(r->created);
  auto st = engine().StatAsset("default", r->asset.id, false);
  ASSERT_TRUE(st.ok());
  EXPECT_EQ(st->parents, want);
  EXPECT_FALSE(st->deleted);
  EXPECT_TRUE(engine().StatAsset("default", raw, false)->parents.empty());
  // Listed assets carry their parents too.
  for (const AssetInfo& a : ListAll())
    if (a.id == r->asset.id) { EXPECT_EQ(a.parents, want); }

  // Lineage edges carry the transform.
  LineageGraph up = MustLineage(r->asset.id, LineageDirection::kUp, 1);
  ASSERT_EQ(up.edges.size(), 2u);
  EXPECT_EQ(up.edges[0].parent, raw);
  EXPECT_EQ(up.edges[0].child, r->asset.id);
  EXPECT_EQ(up.edges[0].transform, "tokenize");
  EXPECT_EQ(up.edges[0].transform_digest, "sha256:aa11");
  EXPECT_EQ(up.edges[1].parent, vocab);
  EXPECT_EQ(up.edges[1].transform, "lookup");
}

TEST_F(LineageTest, MissingParentFailsAndLeavesNothing) {
  InitStore();
  const Bytes child = RandomBytes(200000, 11);  // several chunks
  const AssetId ghost = IdOf(ToBytes("never stored"));
  AIFS_EXPECT_STATUS(TryPut(child, {Parent(ghost)}).status(), kFailedPrecondition,
                     "PARENT_NOT_COMMITTED");
  EXPECT_FALSE(Visible(IdOf(child)));
  EXPECT_TRUE(ListAll().empty());
  EXPECT_EQ(MustNs().asset_count, 0u);
  EXPECT_EQ(ChunkFiles(), 0u) << "the failed put left chunk objects";

  // One good parent and one missing one: still nothing.
  const AssetId real = MustPut(Payload("real")).asset.id;
  AIFS_EXPECT_STATUS(TryPut(child, {Parent(real), Parent(ghost)}).status(), kFailedPrecondition,
                     "PARENT_NOT_COMMITTED");
  EXPECT_FALSE(Visible(IdOf(child)));
  // A parent committed in another namespace does not count.
  ASSERT_TRUE(engine().CreateNamespace("other", {}).ok());
  const AssetId elsewhere = MustPut(Payload("elsewhere"), "other").asset.id;
  AIFS_EXPECT_STATUS(TryPut(child, {Parent(elsewhere)}).status(), kFailedPrecondition,
                     "PARENT_NOT_COMMITTED");
  EXPECT_FALSE(Visible(IdOf(child)));

  // A parent that was deleted does not count either.
  const AssetId gone = MustPut(Payload("gone")).asset.id;
  AIFS_ASSERT_OK(engine().DeleteAsset("default", gone));
  AIFS_EXPECT_STATUS(TryPut(child, {Parent(gone)}).status(), kFailedPrecondition,
                     "PARENT_NOT_COMMITTED");
  EXPECT_FALSE(Visible(IdOf(child)));
  EXPECT_EQ(Ids(ListAll()), (std::set<AssetId>{real}));
  ExpectBooksMatchDisk();

  // The good parent did not gain a child from the failed puts.
  EXPECT_TRUE(MustLineage(real, LineageDirection::kDown, 1).edges.empty());
  AIFS_EXPECT_OK(engine().DeleteAsset("default", real));
}

// ------------------------------------------------------------------ queries

// An independent breadth-first reference over a DAG model: edges from the
// frontier are listed (also those reaching already-seen nodes), each node is
// expanded once, and edges carry the level at which they were found.
struct DagModel {
  std::map<AssetId, std::vector<AssetId>> parents;  // in put order

  std::vector<AssetId> ChildrenOf(const AssetId& p) const {
    std::vector<AssetId> out;
    for (const auto& [child, ps] : parents)
      if (std::find(ps.begin(), ps.end(), p) != ps.end()) out.push_back(child);
    return out;
  }
  // Per level: the multiset of (parent, child) edges; and the node set.
  void Bfs(const AssetId& root, bool up, int depth,
           std::vector<std::multiset<std::pair<AssetId, AssetId>>>& levels,
           std::set<AssetId>& nodes) const {
    levels.clear();
    nodes = {root};
    std::vector<AssetId> frontier{root};
    for (int level = 1; level <= depth && !frontier.empty(); ++level) {
      std::multiset<std::pair<AssetId, AssetId>> edges;
      std::vector<AssetId> next;
      for (const AssetId& n : frontier) {
        std::vector<AssetId> far = up ? parents.at(n) : ChildrenOf(n);
        for (const AssetId& f : far) {
          edges.insert(up ? std::make_pair(f, n) : std::make_pair(n, f));
          if (nodes.insert(f).second) next.push_back(f);
        }
      }
      if (!edges.empty()) levels.push_back(std::move(edges));
      frontier = std::move(next);
    }
  }
};

void ExpectGraphMatches(const LineageGraph& g, const AssetId& root, bool up, int depth,
                        const DagModel& model) {
  std::vector<std::multiset<std::pair<AssetId, AssetId>>> want_levels;
  std::set<AssetId> want_nodes;
  model.Bfs(root, up, depth, want_levels, want_nodes);
  EXPECT_EQ(g.root, root);
  ASSERT_FALSE(g.assets.empty());
  EXPECT_EQ(g.assets.front().id, root) << "root first";
  // No duplicate nodes, exactly the reachable ones.
  std::set<AssetId> got_nodes;
  for (const AssetInfo& a : g.assets) EXPECT_TRUE(got_nodes.insert(a.id).second) << "duplicate node";
  EXPECT_EQ(got_nodes, want_nodes);
  // Breadth-first: depths never decrease, start at 1, and each level holds
  // exactly the reference edges.
  std::vector<std::multiset<std::pair<AssetId, AssetId>>> got_levels;
  int last = 0;
  for (const LineageEdge& e : g.edges) {
    ASSERT_GE(e.depth, last) << "edges not in breadth-first order";
    ASSERT_LE(e.depth, last + 1) << "a level was skipped";
    if (e.depth != last) got_levels.emplace_back();
    last = e.depth;
    got_levels.back().insert({e.parent, e.child});
    EXPECT_TRUE(got_nodes.count(e.parent) && got_nodes.count(e.child))
        << "edge names an asset missing from the graph";
  }
  EXPECT_EQ(got_levels, want_levels);
}

TEST_F(LineageTest, ChainWithDepthLimits) {
  InitStore();
  DagModel model;
  std::vector<AssetId> chain;
  for (int i = 0; i < 7; ++i) {
    std::vector<ParentRef> ps;
    if (i > 0) ps.push_back(Parent(chain.back(), "step" + std::to_string(i)));
    chain.push_back(MustPutWith(Payload("chain" + std::to_string(i)), ps));
    model.parents[chain.back()] = i > 0 ? std::vector<AssetId>{chain[i - 1]} : std::vector<AssetId>{};
  }
  LineageGraph g = MustLineage(chain[6], LineageDirection::kUp, 2);
  ASSERT_EQ(g.edges.size(), 2u);
  EXPECT_EQ(g.edges[0].parent, chain[5]);
  EXPECT_EQ(g.edges[0].child, chain[6]);
  EXPECT_EQ(g.edges[0].depth, 1);
  EXPECT_EQ(g.edges[0].transform, "step6");
  EXPECT_EQ(g.edges[1].parent, chain[4]);
  EXPECT_EQ(g.edges[1].child, chain[5]);
  EXPECT_EQ(g.edges[1].depth, 2);
  ASSERT_EQ(g.assets.size(), 3u);
  EXPECT_EQ(g.assets[0].id, chain[6]);
  EXPECT_EQ(g.assets[1].id, chain[5]);
  EXPECT_EQ(g.assets[2].id, chain[4]);
  for (int depth : {1, 3, 6, 7, 100}) {
    SCOPED_TRACE("depth " + std::to_string(depth));
    ExpectGraphMatches(MustLineage(chain[6], LineageDirection::kUp, depth), chain[6], true, depth,
                       model);
    ExpectGraphMatches(MustLineage(chain[0], LineageDirection::kDown, depth), chain[0], false,
                       depth, model);
    ExpectGraphMatches(MustLineage(chain[3], LineageDirection::kDown, depth), chain[3], false,
                       depth, model);
  }
  EXPECT_EQ(MustLineage(chain[6], LineageDirection::kUp, 100).edges.size(), 6u);
  // The ends of the chain have nothing beyond them.
  EXPECT_TRUE(MustLineage(chain[0], LineageDirection::kUp, 5).edges.empty());
  EXPECT_EQ(MustLineage(chain[0], LineageDirection::kUp, 5).assets.size(), 1u);
  EXPECT_TRUE(MustLineage(chain[6], LineageDirection::kDown, 5).edges.empty());

  AIFS_EXPECT_STATUS(engine().GetLineage("default", chain[0], LineageDirection::kUp, 0).status(),
                     kInvalidArgument, "BAD_DEPTH");
  AIFS_EXPECT_STATUS(engine().GetLineage("default", chain[0], LineageDirection::kUp, -1).status(),
                     kInvalidArgument, "BAD_DEPTH");
  AIFS_EXPECT_STATUS(
      engine().GetLineage("default", IdOf(ToBytes("nope")), LineageDirection::kUp, 1).status(),
      kNotFound, "ASSET_NOT_FOUND");
}

TEST_F(LineageTest, DiamondHasNoDuplicateNodes) {
  InitStore();
  // a -> b, a -> c, (b, c) -> d, d -> e
  DagModel m;
  const AssetId a = MustPutWith(Payload("a"), {});
  const AssetId b = MustPutWith(Payload("b"), {Parent(a, "left")});
  const AssetId c = MustPutWith(Payload("c"), {Parent(a, "right")});
  const AssetId d = MustPutWith(Payload("d"), {Parent(b, "join"), Parent(c, "join")});
  const AssetId e = MustPutWith(Payload("e"), {Parent(d, "final")});
  m.parents = {{a, {}}, {b, {a}}, {c, {a}}, {d, {b, c}}, {e, {d}}};

  LineageGraph up = MustLineage(e, LineageDirection::kUp, 10);
  ExpectGraphMatches(up, e, true, 10, m);
  EXPECT_EQ(up.assets.size(), 5u);
  EXPECT_EQ(up.edges.size(), 5u);  // d<-e, b<-d, c<-d, a<-b, a<-c
  // Up edges of one node follow the order of its parents.
  ASSERT_GE(up.edges.size(), 3u);
  EXPECT_EQ(up.edges[1].parent, b);
  EXPECT_EQ(up.edges[2].parent, c);

  LineageGraph down = MustLineage(a, LineageDirection::kDown, 10);
  ExpectGraphMatches(down, a, false, 10, m);
  EXPECT_EQ(down.assets.size(), 5u);
  EXPECT_EQ(down.edges.size(), 5u);

  for (int depth = 1; depth <= 4; ++depth) {
    SCOPED_TRACE("depth " + std::to_string(depth));
    ExpectGraphMatches(MustLineage(a, LineageDirection::kDown, depth), a, false, depth, m);
    ExpectGraphMatches(MustLineage(e, LineageDirection::kUp, depth), e, true, depth, m);
    ExpectGraphMatches(MustLineage(d, LineageDirection::kUp, depth), d, true, depth, m);
  }
}

TEST_F(LineageTest, RandomDagMatchesReference) {
  InitStore();
  std::mt19937_64 rng(4242);
  DagModel m;
  std::vector<AssetId> ids;
  for (int i = 0; i < 28; ++i) {
    std::vector<ParentRef> ps;
    std::vector<AssetId> pids;
    if (!ids.empty()) {
      const size_t k = rng() % 4;
      std::set<AssetId> chosen;
      for (size_t j = 0; j < k; ++j) chosen.insert(ids[rng() % ids.size()]);
      for (const AssetId& p : chosen) {
        ps.push_back(Parent(p, "t" + std::to_string(i)));
        pids.push_back(p);
      }
    }
    ids.push_back(MustPutWith(Payload("dag" + std::to_string(i), 500), ps));
    m.parents[ids.back()] = pids;
  }
  for (int probe = 0; probe < 12; ++probe) {
    const AssetId& root = ids[rng() % ids.size()];
    const int depth = 1 + static_cast<int>(rng() % 6);
    const bool up = rng() % 2;
    SCOPED_TRACE("probe " + std::to_string(probe));
    ExpectGraphMatches(MustLineage(root, up ? LineageDirection::kUp : LineageDirection::kDown, depth),
                       root, up, depth, m);
  }
}

// ------------------------------------------------------------------ deletes

TEST_F(LineageTest, ParentWithLiveChildrenIsKept) {
  InitStore();
  const Bytes pdata = Payload("parent", 100000);
  const AssetId p = MustPut(pdata).asset.id;
  const AssetId c1 = MustPutWith(Payload("c1"), {Parent(p)});
  const AssetId c2 = MustPutWith(Payload("c2"), {Parent(p)});
  AIFS_EXPECT_STATUS(engine().DeleteAsset("default", p), kFailedPrecondition, "HAS_CHILDREN");
  EXPECT_EQ(MustRead(p), pdata);
  AIFS_ASSERT_OK(engine().DeleteAsset("default", c1));
  AIFS_EXPECT_STATUS(engine().DeleteAsset("default", p), kFailedPrecondition, "HAS_CHILDREN");
  AIFS_ASSERT_OK(engine().DeleteAsset("default", c2));
  AIFS_EXPECT_OK(engine().DeleteAsset("default", p));
  EXPECT_FALSE(Visible(p));
  // Deleted without force and without children: no tombstone.
  AIFS_EXPECT_STATUS(engine().GetLineage("default", p, LineageDirection::kDown, 1).status(),
                     kNotFound, "ASSET_NOT_FOUND");
  ExpectBooksMatchDisk();
}

TEST_F(LineageTest, ForcedDeleteKeepsTombstoneAndReleasesParent) {
  InitStore();
  // g -> p -> c, and g -> q
  const AssetId g = MustPutWith(Payload("g"), {});
  const Bytes pdata = Payload("p", 150000);
  const AssetId p = MustPutWith(pdata, {Parent(g, "derive", "sha256:01")});
  const AssetId c = MustPutWith(Payload("c"), {Parent(p, "refine")});
  const AssetId q = MustPutWith(Payload("q"), {Parent(g, "other")});
  const size_t files_with_p = ChunkFiles();

  AIFS_EXPECT_STATUS(engine().DeleteAsset("default", p), kFailedPrecondition, "HAS_CHILDREN");
  AIFS_ASSERT_OK(engine().DeleteAsset("default", p, /*force=*/true));
  EXPECT_FALSE(Visible(p));
  AIFS_EXPECT_STATUS(ReadBytes(engine(), "default", p).status(), kNotFound, "ASSET_NOT_FOUND");
  EXPECT_EQ(Ids(ListAll()), (std::set<AssetId>{g, c, q}));
  EXPECT_LT(ChunkFiles(), files_with_p) << "the tombstone kept the chunks";
  ExpectBooksMatchDisk();

  // The child's lineage still answers, with p marked deleted.
  LineageGraph up = MustLineage(c, LineageDirection::kUp, 2);
  ASSERT_EQ(up.assets.size(), 3u);
  EXPECT_EQ(up.assets[0].id, c);
  EXPECT_FALSE(up.assets[0].deleted);
  EXPECT_EQ(up.assets[1].id, p);
  EXPECT_TRUE(up.assets[1].deleted);
  EXPECT_EQ(up.assets[1].size, pdata.size());
  EXPECT_EQ(up.assets[1].parents, (std::vector<ParentRef>{Parent(g, "derive", "sha256:01")}));
  EXPECT_EQ(up.assets[2].id, g);
  EXPECT_FALSE(up.assets[2].deleted);
  ASSERT_EQ(up.edges.size(), 2u);
  EXPECT_EQ(up.edges[0].parent, p);
  EXPECT_EQ(up.edges[0].transform, "refine");
  EXPECT_EQ(up.edges[1].parent, g);
  EXPECT_EQ(up.edges[1].child, p);
  // Downward from g the tombstone is still there, leading on to c.
  LineageGraph down = MustLineage(g, LineageDirection::kDown, 2);
  std::map<AssetId, bool> deleted;
  for (const AssetInfo& a : down.assets) deleted[a.id] = a.deleted;
  EXPECT_EQ(deleted, (std::map<AssetId, bool>{{g, false}, {p, true}, {q, false}, {c, false}}));
  // The tombstone itself answers lineage queries.
  LineageGraph self = MustLineage(p, LineageDirection::kUp, 1);
  ASSERT_FALSE(self.assets.empty());
  EXPECT_TRUE(self.assets[0].deleted);

  // p no longer counts as g's live child, but q still does.
  AIFS_EXPECT_STATUS(engine().DeleteAsset("default", g), kFailedPrecondition, "HAS_CHILDREN");
  AIFS_ASSERT_OK(engine().DeleteAsset("default", q));
  AIFS_EXPECT_OK(engine().DeleteAsset("default", g));
  EXPECT_FALSE(Visible(g));
  // c is a leaf: deletes without force (its tombstoned parent does not hold it).
  AIFS_EXPECT_OK(engine().DeleteAsset("default", c));
  EXPECT_TRUE(ListAll().empty());
  ExpectBooksMatchDisk();
  auto gc = engine().CollectGarbage(true);
  ASSERT_TRUE(gc.ok());
  EXPECT_EQ(gc->orphan_objects, 0u);
}

// After a forced delete the grandparent can go (it has no other live child);
// the child's lineage must still answer through the tombstone. Deleting the
// grandparent without force removes its record and keeps no tombstone, yet
// the tombstone of p still names it as a parent.
TEST_F(LineageTest, LineageThroughTombstoneSurvivesGrandparentDelete) {
  InitStore();
  const AssetId g = MustPutWith(Payload("g2"), {});
  const AssetId p = MustPutWith(Payload("p2"), {Parent(g, "derive")});
  const AssetId c = MustPutWith(Payload("c2"), {Parent(p, "refine")});
  AIFS_ASSERT_OK(engine().DeleteAsset("default", p, /*force=*/true));
  AIFS_ASSERT_OK(engine().DeleteAsset("default", g));  // no live children left
  EXPECT_FALSE(Visible(g));
  // Depth 1 only touches the tombstone.
  auto near = engine().GetLineage("default", c, LineageDirection::kUp, 1);
  ASSERT_TRUE(near.ok()) << near.status().ToString();
  // Depth 2 walks from the tombstone to its (now deleted) parent: the query
  // about the live asset c must still answer rather than fail.
  auto far = engine().GetLineage("default", c, LineageDirection::kUp, 2);
  ASSERT_TRUE(far.ok()) << "lineage of a live asset fails once an ancestor beyond a tombstone is "
                           "deleted: "
                        << far.status().ToString();
  // Every edge is still reported, and both gone ancestors say so.
  ASSERT_EQ(far->edges.size(), 2u);
  EXPECT_EQ(far->edges[0].parent, p);
  EXPECT_EQ(far->edges[1].parent, g);
  EXPECT_EQ(far->edges[1].child, p);
  std::map<AssetId, bool> deleted;
  for (const AssetInfo& a : far->assets) deleted[a.id] = a.deleted;
  EXPECT_EQ(deleted, (std::map<AssetId, bool>{{c, false}, {p, true}, {g, true}}));
  // From the tombstone downwards nothing is lost either.
  LineageGraph down = MustLineage(p, LineageDirection::kDown, 3);
  EXPECT_EQ(down.edges.size(), 1u);
}

TEST_F(LineageTest, RePutOfTombstonedAssetRevivesIt) {
  InitStore();
  const AssetId g = MustPutWith(Payload("g3"), {});
  const Bytes pdata = Payload("p3", 50000);
  const AssetId p = MustPutWith(pdata, {Parent(g, "derive")});
  const AssetId c = MustPutWith(Payload("c3"), {Parent(p)});
  AIFS_ASSERT_OK(engine().DeleteAsset("default", p, true));
  ASSERT_TRUE(MustLineage(c, LineageDirection::kUp, 1).assets.back().deleted);
  // Put back: live again, no longer a tombstone, and a live child of g again.
  auto again = TryPut(pdata, {Parent(g, "derive")});
  ASSERT_TRUE(again.ok()) << again.status().ToString();
  EXPECT_TRUE(again->created);
  EXPECT_EQ(MustRead(p), pdata);
  LineageGraph up = MustLineage(c, LineageDirection::kUp, 2);
  ASSERT_EQ(up.assets.size(), 3u);
  EXPECT_FALSE(up.assets[1].deleted);
  AIFS_EXPECT_STATUS(engine().DeleteAsset("default", g), kFailedPrecondition, "HAS_CHILDREN");
  AIFS_EXPECT_STATUS(engine().DeleteAsset("default", p), kFailedPrecondition, "HAS_CHILDREN");
  AIFS_ASSERT_OK(engine().DeleteAsset("default", c));
  AIFS_ASSERT_OK(engine().DeleteAsset("default", p));
  AIFS_ASSERT_OK(engine().DeleteAsset("default", g));
  ExpectBooksMatchDisk();
}

// A force-deleted asset put back with no parents this time: the lineage
// graph must agree with itself in both directions.
TEST_F(LineageTest, RePutWithoutParentsLeavesNoStaleEdge) {
  InitStore();
  const AssetId g = MustPutWith(Payload("g5"), {});
  const Bytes pdata = Payload("p5");
  const AssetId p = MustPutWith(pdata, {Parent(g, "derive")});
  MustPutWith(Payload("c5"), {Parent(p)});
  AIFS_ASSERT_OK(engine().DeleteAsset("default", p, true));
  ASSERT_EQ(MustPutWith(pdata, {}), p);
  EXPECT_TRUE(MustLineage(p, LineageDirection::kUp, 1).edges.empty());
  LineageGraph down = MustLineage(g, LineageDirection::kDown, 1);
  for (const LineageEdge& e : down.edges)
    EXPECT_NE(e.child, p) << "g lists p as a child, but p (live again) does not name g as a parent";
}

TEST_F(LineageTest, ForcedDeleteOfALeafKeepsNoTombstone) {
  InitStore();
  const AssetId p = MustPutWith(Payload("p4"), {});
  const AssetId c = MustPutWith(Payload("c4"), {Parent(p)});
  AIFS_ASSERT_OK(engine().DeleteAsset("default", c, true));
  AIFS_EXPECT_STATUS(engine().GetLineage("default", c, LineageDirection::kUp, 1).status(),
                     kNotFound, "ASSET_NOT_FOUND");
  EXPECT_TRUE(MustLineage(p, LineageDirection::kDown, 3).edges.empty());
  AIFS_EXPECT_OK(engine().DeleteAsset("default", p));
}

// ------------------------------------------------------------- transactions

// Writes `data` through a transaction's writer in pieces; returns the staged result.
Result<PutResult> StageInto(Transaction& txn, const Bytes& data, std::vector<ParentRef> parents,
                            const std::string& ns = "default") {
  PutOptions o;
  o.ns = ns;
  o.parents = std::move(parents);
  AIFS_ASSIGN_OR_RETURN(auto w, txn.BeginPut(o));
  for (size_t off = 0; off < data.size(); off += 70000)
    AIFS_RETURN_IF_ERROR(w->Write(ByteSpan(data).subspan(off, std::min<size_t>(70000, data.size() - off))));
  return w->Commit();
}

TEST_F(LineageTest, TransactionCommitsAllAtOnce) {
  InitStore();
  const Bytes a = RandomBytes(300000, 31), b = RandomBytes(200000, 32), c = RandomBytes(5000, 33);
  auto txn = engine().BeginTransaction("default");
  ASSERT_TRUE(txn.ok()) << txn.status().ToString();
  auto ra = StageInto(**txn, a, {});
  ASSERT_TRUE(ra.ok()) << ra.status().ToString();
  EXPECT_TRUE(ra->staged);
  EXPECT_EQ(ra->asset.id, IdOf(a));
  auto rb = StageInto(**txn, b, {Parent(IdOf(a), "split")});
  ASSERT_TRUE(rb.ok()) << rb.status().ToString();
  auto rc = StageInto(**txn, c, {Parent(IdOf(a)), Parent(IdOf(b), "merge")});
  ASSERT_TRUE(rc.ok()) << rc.status().ToString();
  // Nothing is visible before the commit.
  for (const Bytes* d : {&a, &b, &c}) EXPECT_FALSE(Visible(IdOf(*d)));
  EXPECT_TRUE(ListAll().empty());
  EXPECT_EQ(MustNs().asset_count, 0u);

  auto done = (*txn)->Commit();
  ASSERT_TRUE(done.ok()) << done.status().ToString();
  ASSERT_EQ(done->size(), 3u);
  EXPECT_EQ((*done)[0].asset.id, IdOf(a));
  EXPECT_EQ((*done)[1].asset.id, IdOf(b));
  EXPECT_EQ((*done)[2].asset.id, IdOf(c));
  for (const PutResult& r : *done) EXPECT_TRUE(r.created);
  EXPECT_EQ(MustRead(IdOf(a)), a);
  EXPECT_EQ(MustRead(IdOf(b)), b);
  EXPECT_EQ(MustRead(IdOf(c)), c);
  EXPECT_EQ(Ids(ListAll()), (std::set<AssetId>{IdOf(a), IdOf(b), IdOf(c)}));
  DagModel m;
  m.parents = {{IdOf(a), {}}, {IdOf(b), {IdOf(a)}}, {IdOf(c), {IdOf(a), IdOf(b)}}};
  ExpectGraphMatches(MustLineage(IdOf(c), LineageDirection::kUp, 5), IdOf(c), true, 5, m);
  ExpectGraphMatches(MustLineage(IdOf(a), LineageDirection::kDown, 5), IdOf(a), false, 5, m);
  // Child counts were taken inside the transaction.
  AIFS_EXPECT_STATUS(engine().DeleteAsset("default", IdOf(a)), kFailedPrecondition, "HAS_CHILDREN");
  AIFS_EXPECT_STATUS(engine().DeleteAsset("default", IdOf(b)), kFailedPrecondition, "HAS_CHILDREN");
  ExpectBooksMatchDisk();

  AIFS_EXPECT_STATUS((*txn)->Commit().status(), kFailedPrecondition, "TXN_FINISHED");
  AIFS_EXPECT_STATUS((*txn)->BeginPut(PutOptions{}).status(), kFailedPrecondition, "TXN_FINISHED");
}

TEST_F(LineageTest, DestroyedTransactionLeavesNothing) {
  InitStore();
  const Bytes a = RandomBytes(400000, 41), b = RandomBytes(250000, 42), c = RandomBytes(300000, 43);
  {
    auto txn = engine().BeginTransaction("default");
    ASSERT_TRUE(txn.ok());
    ASSERT_TRUE(StageInto(**txn, a, {}).ok());
    ASSERT_TRUE(StageInto(**txn, b, {Parent(IdOf(a))}).ok());
    // A third put still streaming when the transaction goes away.
    PutOptions o;
    o.parents = {Parent(IdOf(b))};
    auto w = (*txn)->BeginPut(o);
    ASSERT_TRUE(w.ok());
    AIFS_ASSERT_OK((*w)->Write(ByteSpan(c).subspan(0, 200000)));
    ASSERT_GT(ChunkFiles(), 0u);
    w->reset();
    txn->reset();
  }
  for (const Bytes* d : {&a, &b, &c}) EXPECT_FALSE(Visible(IdOf(*d)));
  EXPECT_TRUE(ListAll().empty());
  const NamespaceInfo ns = MustNs();
  EXPECT_EQ(ns.asset_count, 0u);
  EXPECT_EQ(ns.chunk_count, 0u);
  auto gc = engine().CollectGarbage(false);
  ASSERT_TRUE(gc.ok()) << gc.status().ToString();
  EXPECT_EQ(ChunkFiles(), 0u) << "chunk objects of the aborted transaction are left";
  // The same bytes can be put normally afterwards.
  EXPECT_EQ(MustPut(a).asset.id, IdOf(a));
  EXPECT_EQ(MustRead(IdOf(a)), a);
}

TEST_F(LineageTest, ParentDeletedBeforeTransactionCommit) {
  InitStore();
  const AssetId p = MustPut(Payload("outside-parent")).asset.id;
  const size_t base_files = ChunkFiles();
  const Bytes c = RandomBytes(300000, 51), d = RandomBytes(100000, 52);
  auto txn = engine().BeginTransaction("default");
  ASSERT_TRUE(txn.ok());
  ASSERT_TRUE(StageInto(**txn, c, {Parent(p, "use")}).ok());
  ASSERT_TRUE(StageInto(**txn, d, {Parent(IdOf(c))}).ok());
  // The staged child is not a live child yet: the parent deletes without force.
  AIFS_ASSERT_OK(engine().DeleteAsset("default", p));
  AIFS_EXPECT_STATUS((*txn)->Commit().status(), kFailedPrecondition, "PARENT_NOT_COMMITTED");
  EXPECT_FALSE(Visible(IdOf(c)));
  EXPECT_FALSE(Visible(IdOf(d)));
  EXPECT_TRUE(ListAll().empty());
  auto gc = engine().CollectGarbage(false);
  ASSERT_TRUE(gc.ok());
  EXPECT_EQ(ChunkFiles(), 0u);
  EXPECT_LE(ChunkFiles(), base_files);
  ExpectBooksMatchDisk();
}

TEST_F(LineageTest, TransactionChildBeforeParentFails) {
  InitStore();
  const Bytes a = Payload("late-parent", 20000), b = Payload("early-child", 20000);
  auto txn = engine().BeginTransaction("default");
  ASSERT_TRUE(txn.ok());
  ASSERT_TRUE(StageInto(**txn, b, {Parent(IdOf(a))}).ok());
  ASSERT_TRUE(StageInto(**txn, a, {}).ok());
  AIFS_EXPECT_STATUS((*txn)->Commit().status(), kFailedPrecondition, "PARENT_NOT_COMMITTED");
  EXPECT_FALSE(Visible(IdOf(a)));
  EXPECT_FALSE(Visible(IdOf(b)));
  // The namespace must match.
  ASSERT_TRUE(engine().CreateNamespace("other", {}).ok());
  auto t2 = engine().BeginTransaction("default");
  ASSERT_TRUE(t2.ok());
  PutOptions o;
  o.ns = "other";
  AIFS_EXPECT_STATUS((*t2)->BeginPut(o).status(), kInvalidArgument, "NAMESPACE_MISMATCH");
  AIFS_EXPECT_STATUS(engine().BeginTransaction("nope").status(), kNotFound, "NAMESPACE_NOT_FOUND");
  auto gc = engine().CollectGarbage(false);
  ASSERT_TRUE(gc.ok());
  EXPECT_EQ(ChunkFiles(), 0u);
}

// Runs one (disabled) test of this binary in a fresh process, with extra
// environment, stdout discarded. Returns the wait status.
int RunSelfTest(const std::string& test, const std::vector<std::string>& extra_env) {
  const pid_t pid = SpawnSelfTest(test, extra_env);
  int wstatus = -1;
  if (pid > 0) ::waitpid(pid, &wstatus, 0);
  return wstatus;
}

constexpr const char* kOutliveDirEnv = "AIFS_TEST_OUTLIVE_DIR";

// The child side: exit 0 if the late commit failed, 2 if it claimed success;
// a crash shows in the wait status.
TEST(LineageTxnChild, DISABLED_WriterOutlivesItsTransaction) {
  const char* dir = std::getenv(kOutliveDirEnv);
  if (dir == nullptr) GTEST_SKIP() << "only run by LineageTest.WriterOutlivingItsTransactionFailsCleanly";
  EngineOptions eo;
  eo.data_dir = dir;
  eo.threads = 2;
  auto engine = Engine::Open(eo);
  if (!engine.ok()) _exit(3);
  const Bytes data = RandomBytes(200000, 61);
  std::unique_ptr<AssetWriter> writer;
  {
    auto txn = (*engine)->BeginTransaction("default");
    if (!txn.ok()) _exit(4);
    auto w = (*txn)->BeginPut(PutOptions{});
    if (!w.ok()) _exit(5);
    writer = std::move(*w);
    if (!writer->Write(ByteSpan(data).subspan(0, 100000)).ok()) _exit(6);
  }  // the transaction is destroyed: aborted
  Status st = writer->Write(ByteSpan(data).subspan(100000));
  const bool committed = st.ok() && writer->Commit().ok();
  writer.reset();
  engine->reset();
  _exit(committed ? 2 : 0);
}

// A writer handed out by a transaction may outlive it (a client bug, but an
// easy one to make). Its commit must then fail cleanly -- the transaction is
// over -- and nothing may become visible or stay behind. Run in a child
// process because the writer reaching back into the freed transaction
// crashes (use after free).
TEST_F(LineageTest, WriterOutlivingItsTransactionFailsCleanly) {
  InitStore();
  engine_.reset();
  const int wstatus = RunSelfTest("LineageTxnChild.DISABLED_WriterOutlivesItsTransaction",
                                  {std::string(kOutliveDirEnv) + "=" + dir_.path()});
  EXPECT_FALSE(WIFSIGNALED(wstatus))
      << "committing a writer after its transaction was destroyed crashed with signal "
      << WTERMSIG(wstatus);
  if (WIFEXITED(wstatus)) {
    EXPECT_NE(WEXITSTATUS(wstatus), 2) << "the late commit reported success";
    EXPECT_EQ(WEXITSTATUS(wstatus), 0) << "child setup failed";
  }
  Reopen();
  EXPECT_FALSE(Visible(IdOf(RandomBytes(200000, 61))));
  EXPECT_TRUE(ListAll().empty());
  auto gc = engine().CollectGarbage(false);
  ASSERT_TRUE(gc.ok()) << gc.status().ToString();
  EXPECT_EQ(ChunkFiles(), 0u);
}

// ------------------------------------------------------ causality, threads

// A writer puts parent A_i then child B_i (naming A_i) as separate puts. A
// leaf deleter deletes committed children with odd i; the even children are
// never deleted. A parent deleter keeps trying to delete parents, mostly the
// newest one, whose child put may be racing it. Readers list and stat.
//
// What must hold, and why each check cannot be fooled:
//  - An even child, once visible, is never deleted, so its parent can never
//    be deleted after that: a reader that sees an even B and then finds its
//    A absent has caught a violation.
//  - For odd children, A can be deleted only after B was: a reader that finds
//    A absent must then find B absent too (B is never put again).
//  - A parent delete that succeeded is a violation if the child's put
//    committed and the child was never deleted before that delete ended.
//  - A child put that failed with PARENT_NOT_COMMITTED must be explained by a
//    successful delete of its parent.
TEST_F(LineageTest, CausalityUnderConcurrency) {
  InitStore();
  constexpr int kN = 120;
  struct Slot {
    AssetId a, b;
    std::atomic<bool> a_put{false}, a_deleted{false}, b_committed{false}, b_failed_parent{false},
        b_deleted{false}, held{false};
    std::atomic<int64_t> a_del_end{-1}, b_put_start{-1}, b_del_start{-1}, b_del_end{-1};
  };
  std::vector<Slot> slots(kN);
  for (int i = 0; i < kN; ++i) {
    slots[i].a = IdOf(Payload("A" + std::to_string(i), 600));
    slots[i].b = IdOf(Payload("B" + std::to_string(i), 600));
  }
  std::atomic<int64_t> clock{0};
  auto tick = [&] { return clock.fetch_add(1) ; };
  std::atomic<bool> stop{false};
  std::atomic<int> newest{-1};
  std::mutex mu;
  std::vector<std::string> violations;
  auto violation = [&](const std::string& s) {
    std::lock_guard lock(mu);
    if (violations.size() < 20) violations.push_back(s);
  };
  std::atomic<int> has_children{0}, parent_deletes{0}, child_rejects{0}, reader_checks{0},
      leaf_deletes{0};

  std::thread writer([&] {
    for (int i = 0; i < kN; ++i) {
      Slot& s = slots[i];
      auto ra = TryPut(Payload("A" + std::to_string(i), 600), {});
      if (!ra.ok()) {
        violation("put A" + std::to_string(i) + ": " + ra.status().ToString());
        continue;
      }
      s.a_put = true;
      newest = i;
      s.b_put_start = tick();
      auto rb = TryPut(Payload("B" + std::to_string(i), 600), {Parent(s.a, "derive")},
                       {{"i", std::to_string(i)}});
      if (rb.ok()) {
        s.b_committed = true;
      } else if (IsStatus(rb.status(), Code::kFailedPrecondition, "PARENT_NOT_COMMITTED")) {
        s.b_failed_parent = true;
        ++child_rejects;
      } else {
        violation("put B" + std::to_string(i) + ": " + rb.status().ToString());
      }
    }
    stop = true;
  });

  std::thread leaf_deleter([&] {
    std::mt19937_64 rng(7);
    while (!stop) {
      const int n = newest.load();
      if (n < 1) { std::this_thread::sleep_for(std::chrono::microseconds(100)); continue; }
      const int i = static_cast<int>(rng() % static_cast<uint64_t>(n + 1)) | 1;
      if (i > n) continue;
      Slot& s = slots[i];
      if (!s.b_committed || s.b_deleted) {
        std::this_thread::sleep_for(std::chrono::microseconds(200));
        continue;
      }
      s.b_del_start = tick();
      Status st = engine().DeleteAsset("default", s.b);
      if (st.ok()) {
        s.b_del_end = tick();
        s.b_deleted = true;
        ++leaf_deletes;
      } else {
        violation("delete B" + std::to_string(i) + ": " + st.ToString());
      }
      std::this_thread::sleep_for(std::chrono::microseconds(rng() % 3000));
    }
  });

  std::thread parent_deleter([&] {
    std::mt19937_64 rng(11);
    while (!stop) {
      const int n = newest.load();
      if (n < 0) { std::this_thread::sleep_for(std::chrono::microseconds(100)); continue; }
      // A third of the attempts aim at the newest parent after a random
      // pause, so they land before, during or after its child's put.
      const bool newest_one = rng() % 3 == 0;
      if (newest_one) std::this_thread::sleep_for(std::chrono::microseconds(rng() % 8000));
      const int i = newest_one ? newest.load()
                               : static_cast<int>(rng() % static_cast<uint64_t>(n + 1));
      Slot& s = slots[i];
      if (s.a_deleted) {
        std::this_thread::sleep_for(std::chrono::microseconds(200));
        continue;
      }
      const int64_t start = tick();
      Status st = engine().DeleteAsset("default", s.a);
      const int64_t end = tick();
      if (st.ok()) {
        s.a_del_end = end;
        s.a_deleted = true;
        ++parent_deletes;
      } else if (IsStatus(st, Code::kFailedPrecondition, "HAS_CHILDREN")) {
        ++has_children;
        s.held = true;
        // A child count with no live child behind it: the child must have
        // been committed, and must not have been deleted before we started.
        if (!s.b_committed.load() && s.b_put_start.load() < 0)
          violation("HAS_CHILDREN for A" + std::to_string(i) + " whose child was never put");
        const int64_t bde = s.b_del_end.load();
        if (bde >= 0 && bde < start)
          violation("HAS_CHILDREN for A" + std::to_string(i) + " after its only child was deleted");
      } else {
        violation("delete A" + std::to_string(i) + ": " + st.ToString());
      }
      std::this_thread::sleep_for(std::chrono::microseconds(rng() % 800));
    }
  });

  std::vector<std::thread> readers;
  for (int r = 0; r < 2; ++r) {
    readers.emplace_back([&, r] {
      std::mt19937_64 rng(100 + r);
      while (!stop) {
        ListOptions lo;
        lo.limit = 64;
        do {
          auto page = engine().ListAssets(lo);
          if (!page.ok()) {
            violation("list: " + page.status().ToString());
            break;
          }
          for (const AssetInfo& child : page->assets) {
            if (child.parents.empty()) continue;
            const int i = std::atoi(child.metadata.at("i").c_str());
            if (child.parents[0].parent != slots[i].a) violation("B's parent is not A");
            auto parent = engine().StatAsset("default", slots[i].a, false);
            ++reader_checks;
            if (parent.ok()) continue;
            if (!IsStatus(parent.status(), Code::kNotFound, "ASSET_NOT_FOUND")) {
              violation("stat A: " + parent.status().ToString());
              continue;
            }
            if (i % 2 == 0) {
              violation("saw B" + std::to_string(i) + " (never deleted) while its parent is gone");
              continue;
            }
            auto again = engine().StatAsset("default", slots[i].b, false);
            if (again.ok())
              violation("B" + std::to_string(i) + " is visible while its parent is gone");
          }
          lo.page_token = page->next_page_token;
        } while (!lo.page_token.empty() && !stop);
        // Direct stats of random even children.
        const int n = newest.load();
        if (n >= 0) {
          const int i = static_cast<int>(rng() % static_cast<uint64_t>(n + 1)) & ~1;
          if (engine().StatAsset("default", slots[i].b, false).ok()) {
            auto parent = engine().StatAsset("default", slots[i].a, false);
            ++reader_checks;
            if (!parent.ok())
              violation("stat: B" + std::to_string(i) + " visible, A gone: " +
                        parent.status().ToString());
          }
        }
        std::this_thread::sleep_for(std::chrono::milliseconds(1));
      }
    });
  }
  writer.join();
  leaf_deleter.join();
  parent_deleter.join();
  for (auto& t : readers) t.join();

  // Post-hoc checks on the recorded outcomes.
  for (int i = 0; i < kN; ++i) {
    Slot& s = slots[i];
    const std::string tag = std::to_string(i);
    if (s.held && !s.b_committed)
      violation("A" + tag + " was held by a child that never committed");
    if (s.b_failed_parent && !s.a_deleted)
      violation("B" + tag + " was refused PARENT_NOT_COMMITTED but A" + tag + " was never deleted");
    if (s.a_deleted && s.b_committed) {
      if (i % 2 == 0) violation("A" + tag + " deleted although its even child B" + tag + " is live");
      else if (!s.b_deleted || s.a_del_end < s.b_del_start)
        violation("A" + tag + " deleted before its child B" + tag + " was");
    }
  }
  {
    std::lock_guard lock(mu);
    std::string all;
    for (const auto& v : violations) all += "\n  " + v;
    EXPECT_TRUE(violations.empty()) << violations.size() << " causality violations:" << all;
  }
  std::cout << "REPORT causality: " << kN << " parent/child pairs, " << child_rejects.load()
            << " children refused (parent deleted first), " << parent_deletes.load()
            << " parent deletes, " << has_children.load() << " HAS_CHILDREN, "
            << leaf_deletes.load() << " leaf deletes, " << reader_checks.load()
            << " reader checks\n";
  EXPECT_GT(has_children.load(), 0);
  EXPECT_GT(reader_checks.load(), 0);

  // Final state: the recorded outcomes are exactly what is visible, every
  // live child's parent is live, every parent with a live child is held.
  const std::set<AssetId> live = Ids(ListAll());
  for (int i = 0; i < kN; ++i) {
    Slot& s = slots[i];
    EXPECT_EQ(live.count(s.a) == 1, s.a_put && !s.a_deleted) << "A" << i;
    EXPECT_EQ(live.count(s.b) == 1, s.b_committed && !s.b_deleted) << "B" << i;
    if (live.count(s.b)) { EXPECT_TRUE(live.count(s.a)) << "B" << i << " outlived its parent"; }
  }
  for (int i = 0; i < kN; ++i) {
    Slot& s = slots[i];
    if (!live.count(s.a)) continue;
    LineageGraph down = MustLineage(s.a, LineageDirection::kDown, 1);
    EXPECT_EQ(down.edges.size(), live.count(s.b)) << "A" << i;
    Status st = engine().DeleteAsset("default", s.a);
    if (live.count(s.b)) {
      EXPECT_TRUE(IsStatus(st, Code::kFailedPrecondition, "HAS_CHILDREN")) << "A" << i << ": " << st.ToString();
    } else {
      EXPECT_TRUE(st.ok()) << "A" << i << " without a live child: " << st.ToString();
    }
  }
  for (const AssetInfo& a : ListAll()) {
    auto v = engine().VerifyAsset("default", a.id);
    ASSERT_TRUE(v.ok());
    EXPECT_TRUE(v->result.ok()) << v->result.ToString();
  }
  ExpectBooksMatchDisk();
  auto gc = engine().CollectGarbage(true);
  ASSERT_TRUE(gc.ok());
  EXPECT_EQ(gc->orphan_objects, 0u);
}

// ------------------------------------------------- crash mid-transaction

// The crashing side runs in a fresh process image (fork + exec of this test
// binary), so it never inherits the parent's RocksDB or pool threads. It is
// selected with --gtest_filter and only does anything with the environment
// the parent sets.
constexpr const char* kCrashDirEnv = "AIFS_TEST_TXN_CRASH_DIR";
constexpr const char* kCrashFdEnv = "AIFS_TEST_TXN_CRASH_FD";
constexpr const char* kCrashPointEnv = "AIFS_TEST_TXN_CRASH_POINT";
constexpr size_t kCrashAssetSize = 640u << 10;

enum CrashPoint {
  kDuringFirstPut = 0,  // first put half written: chunk tasks running
  kDuringThirdPut = 2,  // two puts staged, the third half written
  kBeforeCommit = 3,    // all three staged; the process waits to be killed
  kRacingCommit = 4,    // killed while Commit() runs (or just after)
};
constexpr int kCrashPoints[] = {kDuringFirstPut, kDuringThirdPut, kBeforeCommit, kRacingCommit};

Bytes CrashAsset(int point, int k) {
  return RandomBytes(kCrashAssetSize, 7000 + static_cast<uint64_t>(point) * 10 + k);
}

void Mark(int fd, char c) {
  while (::write(fd, &c, 1) < 0 && errno == EINTR) {
  }
}

TEST(LineageCrashChild, DISABLED_RunTransactionUntilKilled) {
  const char* dir = std::getenv(kCrashDirEnv);
  if (dir == nullptr) GTEST_SKIP() << "only run by LineageTest.CrashInTheMiddleOfATransaction";
  const int fd = std::atoi(std::getenv(kCrashFdEnv));
  const int point = std::atoi(std::getenv(kCrashPointEnv));
  EngineOptions eo;
  eo.data_dir = dir;
  eo.threads = 2;
  auto engine = Engine::Open(eo);
  if (!engine.ok()) {
    Mark(fd, 'E');
    _exit(3);
  }
  auto txn = (*engine)->BeginTransaction("default");
  if (!txn.ok()) _exit(4);
  AssetId prev;
  for (int k = 0; k < 3; ++k) {
    const Bytes data = CrashAsset(point, k);
    PutOptions o;
    if (k > 0) o.parents = {Parent(prev, "stage" + std::to_string(k))};
    auto w = (*txn)->BeginPut(o);
    if (!w.ok()) _exit(5);
    const size_t half = data.size() / 2;
    for (size_t off = 0; off < data.size(); off += 65536) {
      if (off == half && point == k) Mark(fd, 'k');  // keep going: killed mid-stream
      if (!(*w)->Write(ByteSpan(data).subspan(off, std::min<size_t>(65536, data.size() - off))).ok())
        _exit(6);
    }
    auto r = (*w)->Commit();
    if (!r.ok()) _exit(7);
    prev = r->asset.id;
  }
  if (point == kBeforeCommit) {
    Mark(fd, 'k');
    for (;;) ::pause();
  }
  Mark(fd, 'k');  // kRacingCommit
  auto done = (*txn)->Commit();
  Mark(fd, done.ok() ? 'c' : 'f');
  for (;;) ::pause();
}

TEST_F(LineageTest, CrashInTheMiddleOfATransaction) {
  InitStore();
  // Assets that must survive every crash untouched.
  std::vector<Bytes> others;
  for (int i = 0; i < 4; ++i) others.push_back(RandomBytes(120000 + 5000 * i, 900 + i));
  AssetId prev;
  for (size_t i = 0; i < others.size(); ++i) {
    prev = i == 0 ? MustPut(others[i]).asset.id
                  : MustPutWith(others[i], {Parent(prev, "x")});
  }
  std::vector<AssetId> survivors;
  for (const Bytes& o : others) survivors.push_back(IdOf(o));

  for (int point : kCrashPoints) {
    SCOPED_TRACE("crash point " + std::to_string(point));
    engine_.reset();  // the child opens the store alone
    int pipefd[2];
    ASSERT_EQ(::pipe(pipefd), 0);
    const pid_t pid = SpawnSelfTest("LineageCrashChild.DISABLED_RunTransactionUntilKilled",
                                    {std::string(kCrashDirEnv) + "=" + dir_.path(),
                                     std::string(kCrashFdEnv) + "=" + std::to_string(pipefd[1]),
                                     std::string(kCrashPointEnv) + "=" + std::to_string(point)},
                                    pipefd[0]);
    ASSERT_GE(pid, 0);
    ::close(pipefd[1]);
    struct pollfd pfd = {pipefd[0], POLLIN, 0};
    char mark = 0;
    const int ready = ::poll(&pfd, 1, 120000);
    const bool got = ready == 1 && ::read(pipefd[0], &mark, 1) == 1;
    if (point == kRacingCommit) std::this_thread::sleep_for(std::chrono::microseconds(300));
    ::kill(pid, SIGKILL);
    int wstatus = 0;
    ::waitpid(pid, &wstatus, 0);
    ::close(pipefd[0]);
    ASSERT_TRUE(got) << "the child never reached the crash point (exit status " << wstatus << ")";
    ASSERT_EQ(mark, 'k') << "the child failed before the crash point";
    ASSERT_TRUE(WIFSIGNALED(wstatus) && WTERMSIG(wstatus) == SIGKILL) << "status " << wstatus;

    Reopen();
    std::vector<AssetId> txn_ids;
    for (int k = 0; k < 3; ++k) txn_ids.push_back(IdOf(CrashAsset(point, k)));
    int visible = 0;
    for (const AssetId& id : txn_ids) visible += Visible(id) ? 1 : 0;
    if (point == kRacingCommit) {
      EXPECT_TRUE(visible == 0 || visible == 3) << visible << " of 3 assets of one transaction visible";
      std::cout << "REPORT crash racing commit: " << (visible ? "committed" : "not committed") << "\n";
      if (visible == 3) {
        for (int k = 0; k < 3; ++k) EXPECT_EQ(MustRead(txn_ids[k]), CrashAsset(point, k));
        EXPECT_EQ(MustLineage(txn_ids[2], LineageDirection::kUp, 5).edges.size(), 2u);
        survivors.insert(survivors.end(), txn_ids.begin(), txn_ids.end());
      }
    } else {
      EXPECT_EQ(visible, 0) << "assets of an uncommitted transaction became visible";
      for (const AssetId& id : txn_ids) {
        AIFS_EXPECT_STATUS(engine().GetLineage("default", id, LineageDirection::kUp, 1).status(),
                           kNotFound, "ASSET_NOT_FOUND");
      }
    }
    for (size_t i = 0; i < others.size(); ++i) EXPECT_EQ(MustRead(survivors[i]), others[i]);
    for (const AssetId& id : survivors) {
      auto v = engine().VerifyAsset("default", id);
      ASSERT_TRUE(v.ok()) << v.status().ToString();
      EXPECT_TRUE(v->result.ok()) << v->result.ToString();
    }
    EXPECT_EQ(Ids(ListAll()), std::set<AssetId>(survivors.begin(), survivors.end()));
    // The killed transaction's objects are orphans that gc reclaims.
    auto dry = engine().CollectGarbage(true);
    ASSERT_TRUE(dry.ok()) << dry.status().ToString();
    if (point == kBeforeCommit) {
      EXPECT_GE(dry->orphan_objects, 3 * kCrashAssetSize / 65536)
          << "all three staged assets' chunks should be orphans";
    }
    if (point != kRacingCommit) { EXPECT_GT(dry->orphan_objects, 0u); }
    auto gc = engine().CollectGarbage(false);
    ASSERT_TRUE(gc.ok()) << gc.status().ToString();
    EXPECT_EQ(gc->orphan_objects, dry->orphan_objects);
    EXPECT_EQ(gc->reclaimed_objects, gc->orphan_objects);
    ExpectBooksMatchDisk();
    auto again = engine().CollectGarbage(true);
    ASSERT_TRUE(again.ok());
    EXPECT_EQ(again->orphan_objects, 0u);
    // The lineage of the survivors is intact and the parents are still held.
    EXPECT_EQ(MustLineage(survivors[3], LineageDirection::kUp, 10).edges.size(), 3u);
    AIFS_EXPECT_STATUS(engine().DeleteAsset("default", survivors[0]), kFailedPrecondition,
                       "HAS_CHILDREN");
  }
}

}  // namespace
}  // namespace aifs::test
