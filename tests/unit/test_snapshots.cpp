// Signed Merkle snapshots, branches and tags (issue 4), end to end over a
// real engine. Oracles: a cold BuildMst over the sorted IDs in an in-memory
// store, the signed message and snapshot ID rebuilt byte by byte from
// docs/snapshots.md, the set model of the namespace, and direct surgery on
// the stored records (MetaStore opened with the engine closed).
#include <algorithm>
#include <atomic>
#include <barrier>
#include <functional>
#include <map>
#include <mutex>
#include <random>
#include <set>
#include <thread>

#include "aifs/client/proof_json.h"
#include "aifs/core/clock.h"
#include "aifs/engine/engine.h"
#include "aifs/meta/keys.h"
#include "aifs/meta/meta_store.h"
#include "aifs/meta/records.h"
#include "aifs/snapshot/mst.h"
#include "aifs/snapshot/snapshot_format.h"
#include "aifs/storage/signing.h"
#include "test_util.h"

namespace aifs::test {
namespace {

using IdSet = std::set<AssetId>;

MstRoot ColdRoot(const IdSet& ids) {
  InMemoryMstNodeStore store;
  std::vector<Digest> sorted;
  for (const AssetId& id : ids) sorted.push_back(id.bytes());
  auto r = BuildMst(sorted, store);
  EXPECT_TRUE(r.ok()) << r.status().ToString();
  return r.ok() ? *r : MstRoot{};
}

void AppendLe(Bytes& out, uint64_t v) {
  for (int i = 0; i < 8; ++i) out.push_back(static_cast<uint8_t>(v >> (8 * i)));
}

void AppendU32(Bytes& out, uint64_t v) {
  for (int i = 0; i < 4; ++i) out.push_back(static_cast<uint8_t>(v >> (8 * i)));
}

// docs/snapshots.md, written out again: the signed message (version 1 ends
// with the explicit-set flag; version 2 adds the path tree, parents, message
// and author) and the ID.
Bytes SignedMessage(const SnapshotInfo& s) {
  Bytes m = ToBytes(s.version == 1 ? "aifs/snapshot/v1" : "aifs/snapshot/v2");
  m.push_back(0);
  m.insert(m.end(), s.ns.begin(), s.ns.end());
  m.push_back(0);
  m.insert(m.end(), s.id.bytes().begin(), s.id.bytes().end());
  m.insert(m.end(), s.root.begin(), s.root.end());
  m.push_back(s.height);
  AppendLe(m, s.count);
  AppendLe(m, static_cast<uint64_t>(s.created_unix_ns));
  m.push_back(s.explicit_set ? 1 : 0);
  if (s.version == 1) return m;
  m.insert(m.end(), s.path_root.begin(), s.path_root.end());
  m.push_back(s.path_height);
  AppendLe(m, s.path_count);
  AppendU32(m, s.parents.size());
  for (const SnapshotId& p : s.parents) m.insert(m.end(), p.bytes().begin(), p.bytes().end());
  AppendU32(m, s.message.size());
  m.insert(m.end(), s.message.begin(), s.message.end());
  AppendU32(m, s.author.size());
  m.insert(m.end(), s.author.begin(), s.author.end());
  return m;
}
SnapshotId ExpectedId(const SnapshotInfo& s) {
  Bytes m(s.root.begin(), s.root.end());
  AppendLe(m, static_cast<uint64_t>(s.created_unix_ns));
  if (s.version >= 2) m.insert(m.end(), s.path_root.begin(), s.path_root.end());
  const Digest d = Blake3::Hash(m);
  std::array<uint8_t, SnapshotId::kSize> id;
  std::copy_n(d.begin(), id.size(), id.begin());
  return SnapshotId(id);
}

IdSet ToSet(const std::vector<AssetId>& v) { return IdSet(v.begin(), v.end()); }
std::vector<AssetId> Minus(const IdSet& a, const IdSet& b) {
  std::vector<AssetId> out;
  std::set_difference(a.begin(), a.end(), b.begin(), b.end(), std::back_inserter(out));
  return out;
}

class SnapshotTest : public EngineFixture {
 protected:
  // Distinct small assets; the tag keeps sets of different calls apart.
  std::vector<AssetId> PutMany(size_t n, const std::string& tag, const std::string& ns = "default") {
    std::vector<AssetId> ids;
    for (size_t i = 0; i < n; ++i) ids.push_back(PutOne(tag + "-" + std::to_string(i), ns));
    return ids;
  }
  AssetId PutOne(const std::string& label, const std::string& ns = "default") {
    return MustPut(ToBytes("asset " + label + "\n"), ns).asset.id;
  }
  IdSet LiveIds(const std::string& ns = "default") {
    IdSet out;
    ListOptions lo;
    lo.ns = ns;
    do {
      auto page = engine().ListAssets(lo);
      EXPECT_TRUE(page.ok()) << page.status().ToString();
      if (!page.ok()) break;
      for (const AssetInfo& a : page->assets) out.insert(a.id);
      lo.page_token = page->next_page_token;
    } while (!lo.page_token.empty());
    return out;
  }
  SnapshotInfo MustSnapshot(const std::string& ns = "default",
                            const std::vector<AssetId>* ids = nullptr) {
    auto s = engine().CreateSnapshot(ns, ids);
    EXPECT_TRUE(s.ok()) << s.status().ToString();
    return s.ok() ? *s : SnapshotInfo{};
  }
  SnapshotInfo MustGet(const std::string& ref, const std::string& ns = "default") {
    auto s = engine().GetSnapshot(ns, ref);
    EXPECT_TRUE(s.ok()) << ref << ": " << s.status().ToString();
    return s.ok() ? *s : SnapshotInfo{};
  }
  Ed25519PublicKey NsKey(const std::string& ns = "default") { return MustNs(ns).signing_public_key; }

  void ExpectRoot(const SnapshotInfo& s, const MstRoot& want) {
    EXPECT_EQ(HexEncode(s.root), HexEncode(want.hash));
    EXPECT_EQ(s.height, want.height);
    EXPECT_EQ(s.count, want.count);
  }
  // ID derivation and signature, checked without the engine's helpers.
  void ExpectSigned(const SnapshotInfo& s, const std::string& ns = "default") {
    EXPECT_EQ(s.ns, ns);
    EXPECT_EQ(s.version, 2);
    EXPECT_EQ(s.id, ExpectedId(s));
    EXPECT_EQ(s.id, ComputeSnapshotId(s));
    const Ed25519PublicKey key = NsKey(ns);
    EXPECT_EQ(s.public_key, key);
    EXPECT_EQ(SignedMessage(s), SnapshotSigningMessage(s));
    EXPECT_TRUE(VerifyEd25519(key, SignedMessage(s), s.signature)) << "signature does not verify";
    AIFS_EXPECT_OK(VerifySnapshotSignature(s, key));
  }
  void ExpectSame(const SnapshotInfo& a, const SnapshotInfo& b) {
    EXPECT_EQ(a.ns, b.ns);
    EXPECT_EQ(a.id, b.id);
    EXPECT_EQ(a.root, b.root);
    EXPECT_EQ(a.height, b.height);
    EXPECT_EQ(a.count, b.count);
    EXPECT_EQ(a.created_unix_ns, b.created_unix_ns);
    EXPECT_EQ(a.signature, b.signature);
    EXPECT_EQ(a.public_key, b.public_key);
    EXPECT_EQ(a.explicit_set, b.explicit_set);
  }
  void ExpectDiff(const std::string& a, const std::string& b, const IdSet& sa, const IdSet& sb) {
    auto d = engine().DiffSnapshots("default", a, b);
    ASSERT_TRUE(d.ok()) << d.status().ToString();
    EXPECT_EQ(d->added, Minus(sb, sa));
    EXPECT_EQ(d->removed, Minus(sa, sb));
  }

  // Runs `fn` on the metadata store with the engine closed, then reopens.
  void WithMeta(const std::function<void(MetaStore&)>& fn) {
    engine_.reset();
    {
      auto meta = OpenMetaStore("rocksdb://" + dir_.Sub("meta"), MetaOpenOptions{});
      ASSERT_TRUE(meta.ok()) << meta.status().ToString();
      fn(**meta);
    }
    Reopen();
  }
  static std::string GetRaw(MetaStore& m, const std::string& key) {
    auto v = m.Get(key);
    EXPECT_TRUE(v.ok() && v->has_value()) << "no key " << key;
    return v.ok() && v->has_value() ? **v : std::string();
  }
  static void PutRaw(MetaStore& m, const std::string& key, const std::string& value) {
    auto t = m.Begin();
    AIFS_ASSERT_OK(t->Put(key, value));
    AIFS_ASSERT_OK(t->Commit());
  }
  static void DeleteRaw(MetaStore& m, const std::string& key) {
    auto t = m.Begin();
    AIFS_ASSERT_OK(t->Delete(key));
    AIFS_ASSERT_OK(t->Commit());
  }
  static std::vector<std::pair<std::string, std::string>> ScanRaw(MetaStore& m,
                                                                  const std::string& prefix) {
    std::vector<std::pair<std::string, std::string>> out;
    EXPECT_TRUE(m.Scan(prefix, PrefixEnd(prefix), [&](std::string_view k, std::string_view v) {
                   out.emplace_back(std::string(k), std::string(v));
                   return true;
                 }).ok());
    return out;
  }
  // Rewrites the stored snapshot record through `edit`.
  void EditSnapshotRecord(const SnapshotId& id,
                          const std::function<void(store::v1::SnapshotRecord&)>& edit) {
    WithMeta([&](MetaStore& m) {
      const std::string key = "sn/default/" + id.ToHex();
      store::v1::SnapshotRecord rec;
      ASSERT_TRUE(rec.ParseFromString(GetRaw(m, key)));
      edit(rec);
      PutRaw(m, key, SerializeDeterministic(rec));
    });
  }
  std::string RawSnapshotRecord(const SnapshotId& id) {
    std::string out;
    WithMeta([&](MetaStore& m) { out = GetRaw(m, "sn/default/" + id.ToHex()); });
    return out;
  }
  void RestoreSnapshotRecord(const SnapshotId& id, const std::string& raw) {
    WithMeta([&](MetaStore& m) { PutRaw(m, "sn/default/" + id.ToHex(), raw); });
  }
};

// --------------------------------------------------------- roots and signing

TEST_F(SnapshotTest, NamespaceSnapshotEqualsColdBuild) {
  InitStore();
  const SnapshotInfo empty = MustSnapshot();
  ExpectRoot(empty, ColdRoot({}));
  EXPECT_EQ(empty.root, MstEmptyRootHash());
  EXPECT_EQ(empty.count, 0u);
  EXPECT_FALSE(empty.explicit_set);
  ExpectSigned(empty);

  const std::vector<AssetId> ids = PutMany(90, "ns");
  const MstRoot cold = ColdRoot(ToSet(ids));
  EXPECT_GE(cold.height, 1) << "test set too small to have inner nodes";
  const SnapshotInfo s = MustSnapshot();
  ExpectRoot(s, cold);
  EXPECT_FALSE(s.explicit_set);
  ExpectSigned(s);
  EXPECT_NE(s.id, empty.id);
  ExpectSame(MustGet(s.id.ToHex()), s);
  AIFS_EXPECT_OK(engine().VerifySnapshot("default", s.id.ToHex()));
  AIFS_EXPECT_OK(engine().VerifySnapshot("default", empty.id.ToHex()));

  // Nothing changed: the same root again, under a new ID.
  const SnapshotInfo again = MustSnapshot();
  ExpectRoot(again, cold);
  EXPECT_NE(again.id, s.id);
  ExpectSigned(again);

  auto list = engine().ListSnapshots("default");
  ASSERT_TRUE(list.ok());
  ASSERT_EQ(list->size(), 3u);
  EXPECT_EQ((*list)[0].id, empty.id);
  EXPECT_EQ((*list)[1].id, s.id);
  EXPECT_EQ((*list)[2].id, again.id);
  ExpectDiff(empty.id.ToHex(), s.id.ToHex(), {}, ToSet(ids));
  ExpectDiff(s.id.ToHex(), again.id.ToHex(), ToSet(ids), ToSet(ids));

  AIFS_EXPECT_STATUS(engine().GetSnapshot("default", "00000000000000000000000000000000").status(),
                     kNotFound, "SNAPSHOT_NOT_FOUND");
  AIFS_EXPECT_STATUS(engine().GetSnapshot("default", "nothing-here").status(), kNotFound,
                     "REF_NOT_FOUND");
  AIFS_EXPECT_STATUS(engine().CreateSnapshot("nope", nullptr).status(), kNotFound,
                     "NAMESPACE_NOT_FOUND");
}

TEST_F(SnapshotTest, IncrementalSnapshotsMatchColdBuilds) {
  InitStore();
  ASSERT_TRUE(engine().CreateNamespace("other", {}).ok());
  std::mt19937_64 rng(2024);
  IdSet model, other_model;
  std::map<AssetId, std::string> label_of;  // for re-puts
  int next = 0;
  auto put_new = [&]() {
    const std::string label = "inc-" + std::to_string(next++);
    const AssetId id = PutOne(label);
    label_of[id] = label;
    model.insert(id);
    return id;
  };
  for (int i = 0; i < 60; ++i) put_new();
  std::vector<std::pair<SnapshotInfo, IdSet>> history;
  history.push_back({MustSnapshot(), model});
  ExpectRoot(history.back().first, ColdRoot(model));

  for (int round = 0; round < 8; ++round) {
    SCOPED_TRACE("round " + std::to_string(round));
    const int puts = static_cast<int>(rng() % 25), dels = static_cast<int>(rng() % 25);
    for (int i = 0; i < puts; ++i) put_new();
    for (int i = 0; i < dels && !model.empty(); ++i) {
      auto it = model.begin();
      std::advance(it, static_cast<long>(rng() % model.size()));
      const AssetId id = *it;
      AIFS_ASSERT_OK(engine().DeleteAsset("default", id));
      model.erase(id);
    }
    // A new asset put and deleted before the snapshot: no trace.
    const AssetId transient = put_new();
    AIFS_ASSERT_OK(engine().DeleteAsset("default", transient));
    model.erase(transient);
    // An asset deleted and put back: still there.
    if (!model.empty()) {
      const AssetId back = *model.begin();
      AIFS_ASSERT_OK(engine().DeleteAsset("default", back));
      EXPECT_EQ(PutOne(label_of[back]), back);
    }
    // Re-put an asset deleted in an earlier round.
    for (const auto& [id, label] : label_of) {
      if (!model.count(id) && id != transient && rng() % 4 == 0) {
        EXPECT_EQ(PutOne(label), id);
        model.insert(id);
        break;
      }
    }
    // Another namespace changes too; it must not leak into this one.
    other_model.insert(PutOne("other-" + std::to_string(round), "other"));

    ASSERT_EQ(LiveIds(), model);
    const SnapshotInfo s = MustSnapshot();
    ExpectRoot(s, ColdRoot(model));
    ExpectSigned(s);
    AIFS_EXPECT_OK(engine().VerifySnapshot("default", s.id.ToHex()));
    ExpectDiff(history.back().first.id.ToHex(), s.id.ToHex(), history.back().second, model);
    history.push_back({s, model});
  }
  const SnapshotInfo o = MustSnapshot("other");
  ExpectRoot(o, ColdRoot(other_model));
  ExpectSigned(o, "other");
  EXPECT_NE(o.public_key, NsKey("default")) << "namespaces share a signing key";

  // Delete everything: the empty root.
  for (const AssetId& id : IdSet(model)) AIFS_ASSERT_OK(engine().DeleteAsset("default", id));
  model.clear();
  const SnapshotInfo empty = MustSnapshot();
  ExpectRoot(empty, ColdRoot({}));
  EXPECT_EQ(empty.root, MstEmptyRootHash());
  ExpectDiff(history.back().first.id.ToHex(), empty.id.ToHex(), history.back().second, {});
  history.push_back({empty, model});
  // And grow again from nothing.
  for (int i = 0; i < 5; ++i) put_new();
  const SnapshotInfo regrown = MustSnapshot();
  ExpectRoot(regrown, ColdRoot(model));
  history.push_back({regrown, model});

  // Every earlier snapshot still verifies (nodes are shared, never changed),
  // and any two of them diff to their set difference.
  for (const auto& [snap, set] : history)
    AIFS_EXPECT_OK(engine().VerifySnapshot("default", snap.id.ToHex()));
  ExpectDiff(history.front().first.id.ToHex(), history.back().first.id.ToHex(),
             history.front().second, history.back().second);
  ExpectDiff(history[3].first.id.ToHex(), history[1].first.id.ToHex(), history[3].second,
             history[1].second);
}

TEST_F(SnapshotTest, ExplicitSetSnapshots) {
  InitStore();
  const std::vector<AssetId> ids = PutMany(90, "ex");
  std::mt19937_64 rng(5);
  std::vector<AssetId> pick(ids.begin(), ids.begin() + 40);
  std::vector<AssetId> input = pick;
  input.push_back(pick[3]);  // duplicates and any order are fine
  input.push_back(pick[17]);
  std::shuffle(input.begin(), input.end(), rng);
  const SnapshotInfo sub = MustSnapshot("default", &input);
  ExpectRoot(sub, ColdRoot(ToSet(pick)));
  EXPECT_TRUE(sub.explicit_set);
  ExpectSigned(sub);
  AIFS_EXPECT_OK(engine().VerifySnapshot("default", sub.id.ToHex()));
  EXPECT_TRUE(MustGet(sub.id.ToHex()).explicit_set);

  // An explicit snapshot does not consume the namespace's change log.
  const SnapshotInfo whole = MustSnapshot();
  ExpectRoot(whole, ColdRoot(ToSet(ids)));
  EXPECT_FALSE(whole.explicit_set);
  const SnapshotInfo all = MustSnapshot("default", &ids);
  EXPECT_EQ(all.root, whole.root);
  ExpectDiff(sub.id.ToHex(), whole.id.ToHex(), ToSet(pick), ToSet(ids));

  const std::vector<AssetId> none;
  ExpectRoot(MustSnapshot("default", &none), ColdRoot({}));
  std::vector<AssetId> bad = pick;
  bad.push_back(IdOf(ToBytes("not stored")));
  AIFS_EXPECT_STATUS(engine().CreateSnapshot("default", &bad).status(), kNotFound,
                     "ASSET_NOT_FOUND");
  AIFS_ASSERT_OK(engine().DeleteAsset("default", ids[0]));
  std::vector<AssetId> deleted = {ids[0], ids[1]};
  AIFS_EXPECT_STATUS(engine().CreateSnapshot("default", &deleted).status(), kNotFound,
                     "ASSET_NOT_FOUND");
  // The namespace snapshot after the delete still follows the namespace.
  IdSet now = ToSet(ids);
  now.erase(ids[0]);
  ExpectRoot(MustSnapshot(), ColdRoot(now));
}

// --------------------------------------------------------------- proofs

TEST_F(SnapshotTest, ProofsVerifyOfflineAndRejectTampering) {
  InitStore();
  ASSERT_TRUE(engine().CreateNamespace("other", {}).ok());
  const std::vector<AssetId> ids = PutMany(100, "pf");
  const SnapshotInfo s = MustSnapshot();
  ASSERT_GE(s.height, 1);
  const Ed25519PublicKey key = NsKey();
  IdSet sorted = ToSet(ids);
  const std::vector<AssetId> probes = {*sorted.begin(), *std::next(sorted.begin(), 50),
                                       *sorted.rbegin(), ids[7]};
  for (const AssetId& id : probes) {
    auto p = engine().ProveAsset("default", s.id.ToHex(), id);
    ASSERT_TRUE(p.ok()) << p.status().ToString();
    EXPECT_EQ(p->asset, id);
    ExpectSame(p->snapshot, s);
    ASSERT_EQ(p->nodes.size(), static_cast<size_t>(s.height) + 1);
    auto top = MstNode::Decode(p->nodes[0]);
    ASSERT_TRUE(top.ok());
    EXPECT_EQ(top->Hash(), s.root);
    AIFS_EXPECT_OK(VerifySnapshotProof(*p, key));
    // The portable JSON form round-trips.
    auto back = ProofFromJson(ProofToJson(*p));
    ASSERT_TRUE(back.ok()) << back.status().ToString();
    AIFS_EXPECT_OK(VerifySnapshotProof(*back, key));
  }

  auto proof = engine().ProveAsset("default", s.id.ToHex(), ids[42]);
  ASSERT_TRUE(proof.ok());
  const SnapshotProof good = *proof;

  // The wrong pinned key: another namespace's.
  AIFS_EXPECT_STATUS(VerifySnapshotProof(good, NsKey("other")), kPermissionDenied, "KEY_MISMATCH");
  // A snapshot re-signed by a forger's key is refused under the real key.
  {
    auto forger = SigningKey::Generate();
    ASSERT_TRUE(forger.ok());
    SnapshotProof forged = good;
    forged.snapshot.public_key = forger->public_key();
    forged.snapshot.signature = forger->Sign(SignedMessage(forged.snapshot));
    AIFS_EXPECT_STATUS(VerifySnapshotProof(forged, key), kPermissionDenied, "KEY_MISMATCH");
    AIFS_EXPECT_OK(VerifySnapshotProof(forged, forger->public_key()));  // only with its key
  }
  // Flipped bytes in every node: level, count, first key, middle, last byte.
  for (size_t n = 0; n < good.nodes.size(); ++n) {
    const std::string& node = good.nodes[n];
    for (size_t pos : {size_t{0}, size_t{1}, size_t{5}, node.size() / 2, node.size() - 1}) {
      SCOPED_TRACE("node " + std::to_string(n) + " byte " + std::to_string(pos));
      SnapshotProof bad = good;
      bad.nodes[n][pos] ^= 0x01;
      AIFS_EXPECT_STATUS(VerifySnapshotProof(bad, key), kInvalidArgument, "MST_PROOF_INVALID");
    }
  }
  // Flipped signature, root, and signed fields.
  {
    SnapshotProof bad = good;
    bad.snapshot.signature[10] ^= 0x20;
    AIFS_EXPECT_STATUS(VerifySnapshotProof(bad, key), kDataLoss, "SIGNATURE_INVALID");
    bad = good;
    bad.snapshot.root[0] ^= 0x01;
    AIFS_EXPECT_STATUS(VerifySnapshotProof(bad, key), kDataLoss, "SNAPSHOT_ID_MISMATCH");
    bad = good;
    bad.snapshot.count += 1;
    AIFS_EXPECT_STATUS(VerifySnapshotProof(bad, key), kDataLoss, "SIGNATURE_INVALID");
    bad = good;
    bad.snapshot.ns = "other";
    AIFS_EXPECT_STATUS(VerifySnapshotProof(bad, key), kDataLoss, "SIGNATURE_INVALID");
    bad = good;
    bad.snapshot.created_unix_ns += 1;
    EXPECT_FALSE(VerifySnapshotProof(bad, key).ok());
  }
  // Structural damage to the path.
  {
    SnapshotProof bad = good;
    bad.nodes.pop_back();  // no leaf
    EXPECT_FALSE(VerifySnapshotProof(bad, key).ok());
    bad = good;
    bad.nodes.erase(bad.nodes.begin());  // no root
    EXPECT_FALSE(VerifySnapshotProof(bad, key).ok());
    bad = good;
    bad.nodes.clear();
    EXPECT_FALSE(VerifySnapshotProof(bad, key).ok());
    bad = good;
    bad.nodes.push_back(bad.nodes.back());
    EXPECT_FALSE(VerifySnapshotProof(bad, key).ok());
  }
  // The proof is about one asset: another ID fails, unless it shares the
  // leaf (then the same nodes do prove it).
  {
    auto leaf = MstNode::Decode(good.nodes.back());
    ASSERT_TRUE(leaf.ok());
    std::set<Digest> in_leaf;
    for (const MstEntry& e : leaf->entries) in_leaf.insert(e.key);
    for (const AssetId& other : ids) {
      SnapshotProof swapped = good;
      swapped.asset = other;
      if (in_leaf.count(other.bytes())) {
        AIFS_EXPECT_OK(VerifySnapshotProof(swapped, key));
      } else {
        AIFS_EXPECT_STATUS(VerifySnapshotProof(swapped, key), kInvalidArgument, "MST_PROOF_INVALID");
      }
    }
    SnapshotProof absent = good;
    absent.asset = IdOf(ToBytes("never stored"));
    AIFS_EXPECT_STATUS(VerifySnapshotProof(absent, key), kInvalidArgument, "MST_PROOF_INVALID");
  }
  // No proof for an asset outside the snapshot.
  const AssetId later = PutOne("after the snapshot");
  AIFS_EXPECT_STATUS(engine().ProveAsset("default", s.id.ToHex(), later).status(), kNotFound,
                     "ASSET_NOT_IN_SNAPSHOT");
  AIFS_EXPECT_STATUS(
      engine().ProveAsset("default", s.id.ToHex(), IdOf(ToBytes("never stored"))).status(),
      kNotFound, "ASSET_NOT_IN_SNAPSHOT");
  // Proofs through a branch and a tag name.
  ASSERT_TRUE(engine().CreateBranch("default", "main", s.id.ToHex(), "alice").ok());
  ASSERT_TRUE(engine().CreateTag("default", "v1", s.id.ToHex(), "alice").ok());
  for (const char* ref : {"main", "v1"}) {
    auto p = engine().ProveAsset("default", ref, ids[0]);
    ASSERT_TRUE(p.ok()) << ref << ": " << p.status().ToString();
    EXPECT_EQ(p->snapshot.id, s.id);
    AIFS_EXPECT_OK(VerifySnapshotProof(*p, key));
  }
  // Proof of an asset in an explicit snapshot.
  const std::vector<AssetId> few = {ids[1], ids[2], later};
  const SnapshotInfo ex = MustSnapshot("default", &few);
  auto pe = engine().ProveAsset("default", ex.id.ToHex(), later);
  ASSERT_TRUE(pe.ok()) << pe.status().ToString();
  EXPECT_TRUE(pe->snapshot.explicit_set);
  AIFS_EXPECT_OK(VerifySnapshotProof(*pe, key));
  // ... also through its portable JSON form, which must carry the flag.
  auto pe_json = ProofFromJson(ProofToJson(*pe));
  ASSERT_TRUE(pe_json.ok()) << pe_json.status().ToString();
  EXPECT_TRUE(pe_json->snapshot.explicit_set) << "the proof file lost the explicit-set flag";
  AIFS_EXPECT_OK(VerifySnapshotProof(*pe_json, key));
  AIFS_EXPECT_STATUS(engine().ProveAsset("default", ex.id.ToHex(), ids[3]).status(), kNotFound,
                     "ASSET_NOT_IN_SNAPSHOT");
}

// ---------------------------------------------------------------- tampering

TEST_F(SnapshotTest, TamperedTreeNodeIsDataLoss) {
  InitStore();
  const std::vector<AssetId> ids = PutMany(90, "tn");
  const SnapshotInfo s = MustSnapshot();
  ASSERT_GE(s.height, 1);
  AIFS_ASSERT_OK(engine().VerifySnapshot("default", s.id.ToHex()));
  const SnapshotInfo empty_explicit = [&] {
    const std::vector<AssetId> none;
    return MustSnapshot("default", &none);
  }();

  std::vector<std::pair<std::string, std::string>> nodes;
  WithMeta([&](MetaStore& m) { nodes = ScanRaw(m, "mn/default/"); });
  const std::string root_key = "mn/default/" + HexEncode(s.root);
  std::string leaf_key;
  for (const auto& [k, v] : nodes)
    if (!v.empty() && v[0] == 0 && v.size() > 5 && k != root_key) leaf_key = k;
  ASSERT_TRUE(std::any_of(nodes.begin(), nodes.end(), [&](auto& kv) { return kv.first == root_key; }))
      << "the root node is not stored under mn/<ns>/<root hex>";
  ASSERT_FALSE(leaf_key.empty());

  for (const std::string& key : {root_key, leaf_key}) {
    SCOPED_TRACE(key);
    std::string original;
    WithMeta([&](MetaStore& m) {
      original = GetRaw(m, key);
      std::string bad = original;
      bad[bad.size() / 2] ^= 0x04;
      PutRaw(m, key, bad);
    });
    // The signature is intact; the tree is not.
    ExpectSame(MustGet(s.id.ToHex()), s);
    Status st = engine().VerifySnapshot("default", s.id.ToHex());
    EXPECT_EQ(st.code(), Code::kDataLoss) << st.ToString();
    EXPECT_EQ(st.reason(), "MST_NODE_CORRUPT") << st.ToString();
    // Nothing built on the corrupt tree answers.
    bool some_proof_failed = false;
    for (const AssetId& id : ids) {
      auto p = engine().ProveAsset("default", s.id.ToHex(), id);
      if (!p.ok()) {
        EXPECT_EQ(p.status().code(), Code::kDataLoss) << p.status().ToString();
        some_proof_failed = true;
      } else {
        AIFS_EXPECT_OK(VerifySnapshotProof(*p, NsKey()));
      }
    }
    EXPECT_TRUE(some_proof_failed);
    auto diff = engine().DiffSnapshots("default", empty_explicit.id.ToHex(), s.id.ToHex());
    EXPECT_FALSE(diff.ok());
    if (key == root_key) {
      // The next namespace snapshot builds on this tree: it must fail rather
      // than sign a root computed from corrupt nodes.
      const AssetId extra = PutOne("after-corruption");
      auto next = engine().CreateSnapshot("default", nullptr);
      EXPECT_FALSE(next.ok()) << "signed a snapshot on top of a corrupt tree";
      if (!next.ok()) {
        EXPECT_EQ(next.status().code(), Code::kDataLoss) << next.status().ToString();
      }
      AIFS_ASSERT_OK(engine().DeleteAsset("default", extra));
    }
    WithMeta([&](MetaStore& m) { PutRaw(m, key, original); });
    AIFS_EXPECT_OK(engine().VerifySnapshot("default", s.id.ToHex()));
  }
  // A missing node.
  std::string original;
  WithMeta([&](MetaStore& m) {
    original = GetRaw(m, leaf_key);
    DeleteRaw(m, leaf_key);
  });
  AIFS_EXPECT_STATUS(engine().VerifySnapshot("default", s.id.ToHex()), kDataLoss, "MST_NODE_MISSING");
  WithMeta([&](MetaStore& m) { PutRaw(m, leaf_key, original); });
  AIFS_EXPECT_OK(engine().VerifySnapshot("default", s.id.ToHex()));
  ExpectRoot(MustSnapshot(), ColdRoot(ToSet(ids)));
}

TEST_F(SnapshotTest, TamperedSnapshotRecordIsRefused) {
  InitStore();
  const std::vector<AssetId> ids = PutMany(40, "tr");
  const SnapshotInfo s = MustSnapshot();
  const SnapshotInfo other = MustSnapshot("default", &ids);  // same set, explicit
  ASSERT_TRUE(engine().CreateBranch("default", "main", s.id.ToHex(), "alice").ok());
  ASSERT_TRUE(engine().CreateBranch("default", "dev", other.id.ToHex(), "alice").ok());
  ASSERT_TRUE(engine().CreateTag("default", "v1", s.id.ToHex(), "alice").ok());
  const std::string raw = RawSnapshotRecord(s.id);

  // Flipped signature byte.
  EditSnapshotRecord(s.id, [](store::v1::SnapshotRecord& r) {
    std::string sig = r.signature();
    sig[20] ^= 0x01;
    r.set_signature(sig);
  });
  const std::string id = s.id.ToHex();
  AIFS_EXPECT_STATUS(engine().GetSnapshot("default", id).status(), kDataLoss, "SIGNATURE_INVALID");
  AIFS_EXPECT_STATUS(engine().VerifySnapshot("default", id), kDataLoss, "SIGNATURE_INVALID");
  AIFS_EXPECT_STATUS(engine().ProveAsset("default", id, ids[0]).status(), kDataLoss,
                     "SIGNATURE_INVALID");
  AIFS_EXPECT_STATUS(engine().DiffSnapshots("default", id, other.id.ToHex()).status(), kDataLoss,
                     "SIGNATURE_INVALID");
  // Refs resolve through the signature check: the branch and the tag that
  // point at it no longer expose it.
  AIFS_EXPECT_STATUS(engine().GetSnapshot("default", "main").status(), kDataLoss,
                     "SIGNATURE_INVALID");
  AIFS_EXPECT_STATUS(engine().GetSnapshot("default", "v1").status(), kDataLoss,
                     "SIGNATURE_INVALID");
  // No branch or tag can be pointed at it.
  AIFS_EXPECT_STATUS(engine().CreateBranch("default", "b2", id, "mallory").status(), kDataLoss,
                     "SIGNATURE_INVALID");
  AIFS_EXPECT_STATUS(engine().MoveBranch("default", "dev", other.id, id, "mallory").status(),
                     kDataLoss, "SIGNATURE_INVALID");
  AIFS_EXPECT_STATUS(engine().CreateTag("default", "v2", id, "mallory").status(), kDataLoss,
                     "SIGNATURE_INVALID");
  EXPECT_EQ(MustGet("dev").id, other.id) << "the refused move changed the branch";
  AIFS_EXPECT_STATUS(engine().GetSnapshot("default", "b2").status(), kNotFound, "REF_NOT_FOUND");
  AIFS_EXPECT_STATUS(engine().GetSnapshot("default", "v2").status(), kNotFound, "REF_NOT_FOUND");
  auto log = engine().BranchLog("default", "dev");
  ASSERT_TRUE(log.ok());
  EXPECT_EQ(log->size(), 1u) << "a refused move was logged";

  // Other signed fields.
  struct Case {
    const char* what;
    std::function<void(store::v1::SnapshotRecord&)> edit;
    const char* reason;
  };
  const std::vector<Case> cases = {
      {"count", [](auto& r) { r.set_count(r.count() - 1); }, "SIGNATURE_INVALID"},
      {"height", [](auto& r) { r.set_height(r.height() + 1); }, "SIGNATURE_INVALID"},
      {"namespace", [](auto& r) { r.set_ns("defaulx"); }, "SIGNATURE_INVALID"},
      {"root", [](auto& r) {
         std::string root = r.root();
         root[31] ^= 0x80;
         r.set_root(root);
       }, "SNAPSHOT_ID_MISMATCH"},
      {"time", [](auto& r) { r.set_created_unix_ns(r.created_unix_ns() + 1000); },
       "SNAPSHOT_ID_MISMATCH"},
  };
  for (const Case& c : cases) {
    SCOPED_TRACE(c.what);
    RestoreSnapshotRecord(s.id, raw);
    EditSnapshotRecord(s.id, c.edit);
    AIFS_EXPECT_STATUS(engine().GetSnapshot("default", id).status(), kDataLoss, c.reason);
    AIFS_EXPECT_STATUS(engine().VerifySnapshot("default", id), kDataLoss, c.reason);
    AIFS_EXPECT_STATUS(engine().CreateBranch("default", "b3", id, "mallory").status(), kDataLoss,
                       c.reason);
  }
  RestoreSnapshotRecord(s.id, raw);
  ExpectSame(MustGet("main"), s);
  AIFS_EXPECT_OK(engine().VerifySnapshot("default", "v1"));
}

// The "explicit set" flag says whether a snapshot is the whole namespace or a
// chosen subset; flipping it in the stored record must not go unnoticed.
TEST_F(SnapshotTest, ExplicitSetFlagIsCoveredBySignature) {
  InitStore();
  const std::vector<AssetId> ids = PutMany(10, "fl");
  const std::vector<AssetId> some(ids.begin(), ids.begin() + 3);
  const SnapshotInfo sub = MustSnapshot("default", &some);
  ASSERT_TRUE(sub.explicit_set);
  // A proof carries the flag under the signature as well.
  auto proof = engine().ProveAsset("default", sub.id.ToHex(), some[0]);
  ASSERT_TRUE(proof.ok()) << proof.status().ToString();
  AIFS_EXPECT_OK(VerifySnapshotProof(*proof, NsKey()));
  SnapshotProof relabelled = *proof;
  relabelled.snapshot.explicit_set = false;
  AIFS_EXPECT_STATUS(VerifySnapshotProof(relabelled, NsKey()), kDataLoss, "SIGNATURE_INVALID");
  EditSnapshotRecord(sub.id, [](store::v1::SnapshotRecord& r) { r.set_explicit_set(false); });
  auto got = engine().GetSnapshot("default", sub.id.ToHex());
  EXPECT_FALSE(got.ok() && !got->explicit_set)
      << "a 3-asset subset now passes for a signed snapshot of the whole namespace";
  AIFS_EXPECT_STATUS(got.status(), kDataLoss, "SIGNATURE_INVALID");
  // And the other way round: the namespace snapshot relabelled as a subset.
  const SnapshotInfo whole = MustSnapshot();
  ASSERT_FALSE(whole.explicit_set);
  EditSnapshotRecord(whole.id, [](store::v1::SnapshotRecord& r) { r.set_explicit_set(true); });
  AIFS_EXPECT_STATUS(engine().GetSnapshot("default", whole.id.ToHex()).status(), kDataLoss,
                     "SIGNATURE_INVALID");
}

TEST_F(SnapshotTest, SwappedNamespaceKeyIsKeyMismatch) {
  InitStore();
  ASSERT_TRUE(engine().CreateNamespace("other", {}).ok());
  PutMany(20, "sk");
  const SnapshotInfo s = MustSnapshot();
  const Ed25519PublicKey other_key = NsKey("other");
  std::string original;
  WithMeta([&](MetaStore& m) {
    original = GetRaw(m, "ns/default");
    store::v1::NamespaceRecord rec;
    ASSERT_TRUE(rec.ParseFromString(original));
    rec.set_signing_public_key(std::string(other_key.begin(), other_key.end()));
    PutRaw(m, "ns/default", SerializeDeterministic(rec));
  });
  const std::string id = s.id.ToHex();
  AIFS_EXPECT_STATUS(engine().GetSnapshot("default", id).status(), kPermissionDenied, "KEY_MISMATCH");
  AIFS_EXPECT_STATUS(engine().VerifySnapshot("default", id), kPermissionDenied, "KEY_MISMATCH");
  AIFS_EXPECT_STATUS(engine().ProveAsset("default", id, IdOf(ToBytes("asset sk-0\n"))).status(),
                     kPermissionDenied, "KEY_MISMATCH");
  AIFS_EXPECT_STATUS(engine().CreateBranch("default", "main", id, "x").status(), kPermissionDenied,
                     "KEY_MISMATCH");
  AIFS_EXPECT_STATUS(engine().CreateTag("default", "t", id, "x").status(), kPermissionDenied,
                     "KEY_MISMATCH");
  WithMeta([&](MetaStore& m) { PutRaw(m, "ns/default", original); });
  ExpectSame(MustGet(id), s);
  AIFS_EXPECT_OK(engine().VerifySnapshot("default", id));
}

// ------------------------------------------------------------------ branches

TEST_F(SnapshotTest, BranchLifecycleAndLog) {
  InitStore();
  const std::vector<AssetId> ids = PutMany(6, "br");
  std::vector<SnapshotInfo> snaps;
  for (int i = 0; i < 3; ++i) {
    const std::vector<AssetId> set(ids.begin(), ids.begin() + 2 * (i + 1));
    snaps.push_back(MustSnapshot("default", &set));
  }
  const int64_t t0 = NowUnixNanos();
  auto created = engine().CreateBranch("default", "main", snaps[0].id.ToHex(), "alice");
  ASSERT_TRUE(created.ok()) << created.status().ToString();
  EXPECT_EQ(created->name, "main");
  EXPECT_EQ(created->snapshot, snaps[0].id);
  EXPECT_EQ(created->updated_by, "alice");
  EXPECT_EQ(created->moves, 0u);
  EXPECT_GE(created->updated_unix_ns, t0);
  ExpectSame(MustGet("main"), snaps[0]);
  AIFS_EXPECT_STATUS(engine().CreateBranch("default", "main", snaps[1].id.ToHex(), "bob").status(),
                     kAlreadyExists, "BRANCH_EXISTS");

  // Compare-and-swap: a wrong expectation changes nothing.
  AIFS_EXPECT_STATUS(
      engine().MoveBranch("default", "main", snaps[1].id, snaps[2].id.ToHex(), "bob").status(),
      kAborted, "BRANCH_MOVED");
  EXPECT_EQ(MustGet("main").id, snaps[0].id);
  auto moved = engine().MoveBranch("default", "main", snaps[0].id, snaps[1].id.ToHex(), "bob");
  ASSERT_TRUE(moved.ok()) << moved.status().ToString();
  EXPECT_EQ(moved->snapshot, snaps[1].id);
  EXPECT_EQ(moved->moves, 1u);
  EXPECT_EQ(moved->updated_by, "bob");
  // Refs: a branch can be moved to what a tag or another branch names.
  ASSERT_TRUE(engine().CreateTag("default", "rel", snaps[2].id.ToHex(), "carol").ok());
  auto via_tag = engine().MoveBranch("default", "main", snaps[1].id, "rel", "carol");
  ASSERT_TRUE(via_tag.ok()) << via_tag.status().ToString();
  EXPECT_EQ(via_tag->snapshot, snaps[2].id);
  auto side = engine().CreateBranch("default", "side", "main", "dave");
  ASSERT_TRUE(side.ok()) << side.status().ToString();
  EXPECT_EQ(side->snapshot, snaps[2].id);

  auto list = engine().ListBranches("default");
  ASSERT_TRUE(list.ok());
  ASSERT_EQ(list->size(), 2u);
  EXPECT_EQ((*list)[0].name, "main");
  EXPECT_EQ((*list)[0].moves, 2u);
  EXPECT_EQ((*list)[1].name, "side");

  AIFS_ASSERT_OK(engine().DeleteBranch("default", "main", "erin"));
  AIFS_EXPECT_STATUS(engine().GetSnapshot("default", "main").status(), kNotFound, "REF_NOT_FOUND");
  AIFS_EXPECT_STATUS(
      engine().MoveBranch("default", "main", snaps[2].id, snaps[0].id.ToHex(), "x").status(),
      kNotFound, "BRANCH_NOT_FOUND");
  AIFS_EXPECT_STATUS(engine().DeleteBranch("default", "main", "x"), kNotFound, "BRANCH_NOT_FOUND");
  const int64_t t1 = NowUnixNanos();

  auto log = engine().BranchLog("default", "main");
  ASSERT_TRUE(log.ok()) << log.status().ToString();
  ASSERT_EQ(log->size(), 4u);
  const std::vector<std::pair<std::optional<SnapshotId>, std::optional<SnapshotId>>> want = {
      {std::nullopt, snaps[0].id},
      {snaps[0].id, snaps[1].id},
      {snaps[1].id, snaps[2].id},
      {snaps[2].id, std::nullopt}};
  const std::vector<std::string> who = {"alice", "bob", "carol", "erin"};
  int64_t last = t0;
  for (size_t i = 0; i < log->size(); ++i) {
    SCOPED_TRACE("log entry " + std::to_string(i));
    EXPECT_EQ((*log)[i].old_snapshot, want[i].first);
    EXPECT_EQ((*log)[i].new_snapshot, want[i].second);
    EXPECT_EQ((*log)[i].who, who[i]);
    EXPECT_GE((*log)[i].unix_ns, last);
    EXPECT_LE((*log)[i].unix_ns, t1);
    last = (*log)[i].unix_ns;
  }
  // The side branch has its own log.
  auto side_log = engine().BranchLog("default", "side");
  ASSERT_TRUE(side_log.ok());
  ASSERT_EQ(side_log->size(), 1u);
  EXPECT_EQ((*side_log)[0].who, "dave");

  // Names.
  for (const std::string& bad : {std::string(), std::string(".hidden"), std::string("-x"),
                                 std::string("a/b"), std::string("sp ace"), std::string(129, 'a'),
                                 std::string("0123456789abcdef0123456789abcdef")}) {
    AIFS_EXPECT_STATUS(engine().CreateBranch("default", bad, snaps[0].id.ToHex(), "x").status(),
                       kInvalidArgument, "INVALID_REF_NAME");
    AIFS_EXPECT_STATUS(engine().CreateTag("default", bad, snaps[0].id.ToHex(), "x").status(),
                       kInvalidArgument, "INVALID_REF_NAME");
  }
  AIFS_EXPECT_OK(engine().CreateBranch("default", std::string(128, 'b'), snaps[0].id.ToHex(), "x").status());
  AIFS_EXPECT_STATUS(
      engine().CreateBranch("default", "ghost", "ffffffffffffffffffffffffffffffff", "x").status(),
      kNotFound, "SNAPSHOT_NOT_FOUND");
  AIFS_EXPECT_STATUS(engine().CreateBranch("default", "ghost", "no-such-ref", "x").status(),
                     kNotFound, "REF_NOT_FOUND");
}

TEST_F(SnapshotTest, ConcurrentBranchMoversExactlyOneWins) {
  InitStore();
  constexpr int kThreads = 8, kRounds = 50;
  const std::vector<AssetId> ids = PutMany(kThreads + 1, "cm");
  std::vector<SnapshotInfo> snaps;  // [0] is the base every round starts from
  for (int i = 0; i <= kThreads; ++i) {
    const std::vector<AssetId> one = {ids[i]};
    snaps.push_back(MustSnapshot("default", &one));
  }
  ASSERT_TRUE(engine().CreateBranch("default", "main", snaps[0].id.ToHex(), "setup").ok());

  std::barrier sync(kThreads + 1);
  std::atomic<int> wins{0}, moved{0};
  std::atomic<int> winner{-1};
  std::mutex mu;
  std::vector<std::string> unexpected;
  std::vector<std::thread> threads;
  for (int t = 0; t < kThreads; ++t) {
    threads.emplace_back([&, t] {
      for (int round = 0; round < kRounds; ++round) {
        sync.arrive_and_wait();  // start together
        auto r = engine().MoveBranch("default", "main", snaps[0].id,
                                     snaps[t + 1].id.ToHex(), "mover-" + std::to_string(t));
        if (r.ok()) {
          ++wins;
          winner = t;
        } else if (IsStatus(r.status(), Code::kAborted, "BRANCH_MOVED")) {
          ++moved;
        } else {
          std::lock_guard lock(mu);
          unexpected.push_back(r.status().ToString());
        }
        sync.arrive_and_wait();  // round over
      }
    });
  }
  std::vector<int> winners;
  bool once_each = true;
  for (int round = 0; round < kRounds; ++round) {
    wins = 0;
    winner = -1;
    sync.arrive_and_wait();
    sync.arrive_and_wait();
    once_each = once_each && wins == 1;
    EXPECT_EQ(wins.load(), 1) << "round " << round;
    const int w = winner.load();
    winners.push_back(w);
    if (w >= 0) {
      EXPECT_EQ(MustGet("main").id, snaps[w + 1].id) << "round " << round;
      auto back = engine().MoveBranch("default", "main", snaps[w + 1].id, snaps[0].id.ToHex(), "reset");
      ASSERT_TRUE(back.ok()) << back.status().ToString();
    }
  }
  for (auto& th : threads) th.join();
  EXPECT_TRUE(unexpected.empty()) << unexpected.size() << " unexpected results, first: "
                                  << (unexpected.empty() ? "" : unexpected.front());
  EXPECT_EQ(moved.load(), kRounds * (kThreads - 1));
  std::set<int> distinct(winners.begin(), winners.end());
  std::cout << "REPORT branch movers: " << kRounds << " rounds, " << distinct.size()
            << " distinct winners\n";

  // The log has every change, chained: each entry starts where the last ended.
  auto log = engine().BranchLog("default", "main");
  ASSERT_TRUE(log.ok());
  ASSERT_EQ(log->size(), static_cast<size_t>(1 + 2 * kRounds));
  EXPECT_FALSE((*log)[0].old_snapshot.has_value());
  for (size_t i = 1; i < log->size(); ++i) {
    EXPECT_EQ((*log)[i].old_snapshot, (*log)[i - 1].new_snapshot) << "entry " << i;
    EXPECT_GE((*log)[i].unix_ns, (*log)[i - 1].unix_ns);
  }
  for (int round = 0; round < kRounds && once_each; ++round) {
    const BranchMoveInfo& win = (*log)[1 + 2 * round];
    EXPECT_EQ(win.who, "mover-" + std::to_string(winners[round]));
    EXPECT_EQ(win.new_snapshot, snaps[winners[round] + 1].id);
    EXPECT_EQ((*log)[2 + 2 * round].who, "reset");
  }
  auto branches = engine().ListBranches("default");
  ASSERT_TRUE(branches.ok());
  ASSERT_EQ(branches->size(), 1u);
  EXPECT_EQ((*branches)[0].moves, static_cast<uint64_t>(2 * kRounds));
}

// ---------------------------------------------------------------------- tags

TEST_F(SnapshotTest, TagsAreCreatedOnceAndDeletionsAudited) {
  InitStore();
  const std::vector<AssetId> ids = PutMany(12, "tg");
  const SnapshotInfo s1 = MustSnapshot();
  const std::vector<AssetId> half(ids.begin(), ids.begin() + 6);
  const SnapshotInfo s2 = MustSnapshot("default", &half);

  const int64_t t0 = NowUnixNanos();
  auto tag = engine().CreateTag("default", "v1.0", s1.id.ToHex(), "alice");
  ASSERT_TRUE(tag.ok()) << tag.status().ToString();
  EXPECT_EQ(tag->name, "v1.0");
  EXPECT_EQ(tag->snapshot, s1.id);
  EXPECT_EQ(tag->created_by, "alice");
  EXPECT_GE(tag->created_unix_ns, t0);
  AIFS_EXPECT_STATUS(engine().CreateTag("default", "v1.0", s2.id.ToHex(), "bob").status(),
                     kAlreadyExists, "TAG_EXISTS");
  AIFS_EXPECT_STATUS(engine().CreateTag("default", "v1.0", s1.id.ToHex(), "bob").status(),
                     kAlreadyExists, "TAG_EXISTS");
  EXPECT_EQ(MustGet("v1.0").id, s1.id);

  // Tags resolve as refs everywhere.
  ASSERT_TRUE(engine().CreateTag("default", "half", s2.id.ToHex(), "alice").ok());
  ExpectSame(MustGet("v1.0"), s1);
  AIFS_EXPECT_OK(engine().VerifySnapshot("default", "half"));
  ExpectDiff("half", "v1.0", ToSet(half), ToSet(ids));
  auto p = engine().ProveAsset("default", "half", ids[0]);
  ASSERT_TRUE(p.ok()) << p.status().ToString();
  auto b = engine().CreateBranch("default", "from-tag", "v1.0", "alice");
  ASSERT_TRUE(b.ok()) << b.status().ToString();
  EXPECT_EQ(b->snapshot, s1.id);
  auto t2 = engine().CreateTag("default", "again", "half", "alice");  // a tag of a tag
  ASSERT_TRUE(t2.ok());
  EXPECT_EQ(t2->snapshot, s2.id);

  auto tags = engine().ListTags("default");
  ASSERT_TRUE(tags.ok());
  std::map<std::string, SnapshotId> by_name;
  for (const TagInfo& t : *tags) by_name[t.name] = t.snapshot;
  EXPECT_EQ(by_name, (std::map<std::string, SnapshotId>{
                         {"again", s2.id}, {"half", s2.id}, {"v1.0", s1.id}}));

  // Deleting is an admin action, kept in the audit log.
  AIFS_ASSERT_OK(engine().DeleteTag("default", "v1.0", "admin"));
  AIFS_EXPECT_STATUS(engine().GetSnapshot("default", "v1.0").status(), kNotFound, "REF_NOT_FOUND");
  AIFS_EXPECT_STATUS(engine().DeleteTag("default", "v1.0", "admin"), kNotFound, "TAG_NOT_FOUND");
  AIFS_ASSERT_OK(engine().DeleteTag("default", "again", "root"));
  const int64_t t1 = NowUnixNanos();
  // The snapshot itself survives its tag.
  ExpectSame(MustGet(s1.id.ToHex()), s1);
  EXPECT_EQ(engine().ListTags("default")->size(), 1u);

  std::vector<std::pair<std::string, std::string>> audit;
  WithMeta([&](MetaStore& m) { audit = ScanRaw(m, "ta/default/"); });
  ASSERT_EQ(audit.size(), 2u);
  std::vector<store::v1::TagDeletion> entries(2);
  for (size_t i = 0; i < 2; ++i) ASSERT_TRUE(entries[i].ParseFromString(audit[i].second));
  EXPECT_EQ(entries[0].tag().name(), "v1.0");
  EXPECT_EQ(entries[0].tag().snapshot(),
            std::string(s1.id.bytes().begin(), s1.id.bytes().end()));
  EXPECT_EQ(entries[0].tag().created_by(), "alice");
  EXPECT_EQ(entries[0].deleted_by(), "admin");
  EXPECT_GE(entries[0].deleted_unix_ns(), t0);
  EXPECT_LE(entries[0].deleted_unix_ns(), t1);
  EXPECT_EQ(entries[1].tag().name(), "again");
  EXPECT_EQ(entries[1].deleted_by(), "root");
  EXPECT_GE(entries[1].deleted_unix_ns(), entries[0].deleted_unix_ns());
}

// A tag is an immutable name for a snapshot. A branch of the same name must
// not take over what that name resolves to (refs resolve branches first).
TEST_F(SnapshotTest, BranchCannotShadowATag) {
  InitStore();
  const std::vector<AssetId> ids = PutMany(4, "sh");
  const std::vector<AssetId> a = {ids[0]}, b = {ids[1]};
  const SnapshotInfo sa = MustSnapshot("default", &a);
  const SnapshotInfo sb = MustSnapshot("default", &b);
  ASSERT_TRUE(engine().CreateTag("default", "v1.0", sa.id.ToHex(), "release").ok());
  auto branch = engine().CreateBranch("default", "v1.0", sb.id.ToHex(), "mallory");
  auto now = engine().GetSnapshot("default", "v1.0");
  ASSERT_TRUE(now.ok()) << now.status().ToString();
  EXPECT_EQ(now->id, sa.id) << "tag v1.0 now resolves to " << now->id.ToHex()
                            << " through a branch of the same name (created: "
                            << (branch.ok() ? "yes" : branch.status().ToString()) << ")";
  // docs/snapshots.md: branch and tag names share one space.
  AIFS_EXPECT_STATUS(branch.status(), kAlreadyExists, "REF_NAME_TAKEN");
  ASSERT_TRUE(engine().CreateBranch("default", "dev", sb.id.ToHex(), "alice").ok());
  AIFS_EXPECT_STATUS(engine().CreateTag("default", "dev", sa.id.ToHex(), "mallory").status(),
                     kAlreadyExists, "REF_NAME_TAKEN");
  EXPECT_EQ(MustGet("dev").id, sb.id);
  // Once the branch is gone, its name is free for a tag (and the reverse).
  AIFS_ASSERT_OK(engine().DeleteBranch("default", "dev", "alice"));
  AIFS_EXPECT_OK(engine().CreateTag("default", "dev", sa.id.ToHex(), "release").status());
  EXPECT_EQ(MustGet("dev").id, sa.id);
}

// A namespace can be deleted once it holds no assets, and created again. The
// new namespace (with a new signing key) must not inherit the old one's
// snapshots, branches and tags, which no longer verify under its key.
TEST_F(SnapshotTest, RecreatedNamespaceStartsWithoutRefs) {
  InitStore();
  ASSERT_TRUE(engine().CreateNamespace("proj", {}).ok());
  const std::vector<AssetId> ids = PutMany(3, "rn", "proj");
  const SnapshotInfo s = MustSnapshot("proj");
  ASSERT_TRUE(engine().CreateBranch("proj", "main", s.id.ToHex(), "alice").ok());
  ASSERT_TRUE(engine().CreateTag("proj", "v1", s.id.ToHex(), "alice").ok());
  for (const AssetId& id : ids) AIFS_ASSERT_OK(engine().DeleteAsset("proj", id));
  Status del = engine().DeleteNamespace("proj");
  if (!del.ok()) {
    // Refusing is fine too, as long as it says why.
    EXPECT_EQ(del.code(), Code::kFailedPrecondition) << del.ToString();
    return;
  }
  ASSERT_TRUE(engine().CreateNamespace("proj", {}).ok());
  EXPECT_NE(NsKey("proj"), s.public_key);
  EXPECT_TRUE(engine().ListSnapshots("proj")->empty()) << "old snapshots leaked into the new namespace";
  EXPECT_TRUE(engine().ListBranches("proj")->empty()) << "old branches leaked into the new namespace";
  EXPECT_TRUE(engine().ListTags("proj")->empty()) << "old tags leaked into the new namespace";
  const SnapshotInfo fresh = MustSnapshot("proj");
  ExpectRoot(fresh, ColdRoot({}));
  auto main = engine().CreateBranch("proj", "main", fresh.id.ToHex(), "bob");
  EXPECT_TRUE(main.ok()) << "a fresh namespace cannot create branch 'main': "
                         << main.status().ToString();
}

// ------------------------------------------------------------- persistence

TEST_F(SnapshotTest, EverythingSurvivesARestart) {
  InitStore();
  ASSERT_TRUE(engine().CreateNamespace("other", {}).ok());
  const std::vector<AssetId> ids = PutMany(60, "rs");
  PutMany(5, "rs-other", "other");
  const SnapshotInfo s1 = MustSnapshot();
  const std::vector<AssetId> some(ids.begin(), ids.begin() + 30);
  const SnapshotInfo s2 = MustSnapshot("default", &some);
  const SnapshotInfo so = MustSnapshot("other");
  ASSERT_TRUE(engine().CreateBranch("default", "main", s1.id.ToHex(), "alice").ok());
  ASSERT_TRUE(engine().MoveBranch("default", "main", s1.id, s2.id.ToHex(), "bob").ok());
  ASSERT_TRUE(engine().CreateTag("default", "v1", s1.id.ToHex(), "alice").ok());
  const Ed25519PublicKey key = NsKey(), other_key = NsKey("other");
  auto log_before = engine().BranchLog("default", "main");
  ASSERT_TRUE(log_before.ok());

  Reopen();
  EXPECT_EQ(NsKey(), key) << "the signing key changed across a restart";
  EXPECT_EQ(NsKey("other"), other_key);
  ExpectSame(MustGet(s1.id.ToHex()), s1);
  ExpectSame(MustGet(s2.id.ToHex()), s2);
  ExpectSame(MustGet("main"), s2);
  ExpectSame(MustGet("v1"), s1);
  ExpectSame(MustGet(so.id.ToHex(), "other"), so);
  for (const std::string& ref : {s1.id.ToHex(), s2.id.ToHex(), std::string("main"), std::string("v1")})
    AIFS_EXPECT_OK(engine().VerifySnapshot("default", ref));
  AIFS_EXPECT_OK(engine().VerifySnapshot("other", so.id.ToHex()));
  auto log_after = engine().BranchLog("default", "main");
  ASSERT_TRUE(log_after.ok());
  ASSERT_EQ(log_after->size(), log_before->size());
  for (size_t i = 0; i < log_after->size(); ++i) {
    EXPECT_EQ((*log_after)[i].old_snapshot, (*log_before)[i].old_snapshot);
    EXPECT_EQ((*log_after)[i].new_snapshot, (*log_before)[i].new_snapshot);
    EXPECT_EQ((*log_after)[i].unix_ns, (*log_before)[i].unix_ns);
    EXPECT_EQ((*log_after)[i].who, (*log_before)[i].who);
  }
  auto p = engine().ProveAsset("default", "v1", ids[37]);
  ASSERT_TRUE(p.ok());
  AIFS_EXPECT_OK(VerifySnapshotProof(*p, key));
  // New snapshots continue from the persisted head and the same key.
  IdSet model = ToSet(ids);
  for (int i = 0; i < 10; ++i) {
    AIFS_ASSERT_OK(engine().DeleteAsset("default", ids[i]));
    model.erase(ids[i]);
  }
  for (const AssetId& id : PutMany(7, "rs-after")) model.insert(id);
  const SnapshotInfo s3 = MustSnapshot();
  ExpectRoot(s3, ColdRoot(model));
  ExpectSigned(s3);
  ExpectDiff("v1", s3.id.ToHex(), ToSet(ids), model);

  // A read-only engine beside nothing: reads and verifies, creates nothing.
  Reopen(/*read_only=*/true);
  ExpectSame(MustGet("main"), s2);
  AIFS_EXPECT_OK(engine().VerifySnapshot("default", s3.id.ToHex()));
  AIFS_EXPECT_STATUS(engine().CreateSnapshot("default", nullptr).status(), kFailedPrecondition,
                     "READ_ONLY_MODE");
}

// ------------------------------------------------------------- concurrency

// A writer walks the namespace through a known sequence of states (put i,
// and once i >= 8 delete i-8) while two threads keep creating snapshots.
// Every snapshot must be exactly one of those states: a consistent cut.
TEST_F(SnapshotTest, SnapshotsDuringWritesAreConsistentCuts) {
  InitStore();
  constexpr int kN = 70, kWindow = 8;
  std::vector<Bytes> data;
  std::vector<AssetId> ids;
  for (int i = 0; i < kN; ++i) {
    data.push_back(ToBytes("cut-" + std::to_string(i)));
    ids.push_back(IdOf(data.back()));
  }
  std::vector<IdSet> states = {{}};
  {
    IdSet cur;
    for (int i = 0; i < kN; ++i) {
      cur.insert(ids[i]);
      states.push_back(cur);
      if (i >= kWindow) {
        cur.erase(ids[i - kWindow]);
        states.push_back(cur);
      }
    }
  }
  const std::vector<AssetId> none;
  const SnapshotInfo empty = MustSnapshot("default", &none);
  std::atomic<bool> done{false};
  std::mutex mu;
  std::vector<SnapshotInfo> taken;
  std::vector<std::string> errors;
  int conflicts = 0;
  std::thread writer([&] {
    for (int i = 0; i < kN; ++i) {
      auto r = PutBytes(engine(), "default", data[i]);
      if (!r.ok()) {
        std::lock_guard lock(mu);
        errors.push_back("put: " + r.status().ToString());
      }
      if (i >= kWindow) {
        Status st = engine().DeleteAsset("default", ids[i - kWindow]);
        if (!st.ok()) {
          std::lock_guard lock(mu);
          errors.push_back("delete: " + st.ToString());
        }
      }
    }
    done = true;
  });
  std::vector<std::thread> snappers;
  for (int t = 0; t < 2; ++t) {
    snappers.emplace_back([&] {
      while (!done) {
        auto s = engine().CreateSnapshot("default", nullptr);
        std::lock_guard lock(mu);
        if (s.ok()) {
          taken.push_back(*s);
        } else if (IsStatus(s.status(), Code::kAborted, "TXN_CONFLICT")) {
          ++conflicts;  // see ConcurrentSnapshotCreatorsAllSucceed
        } else {
          errors.push_back("snapshot: " + s.status().ToString());
        }
      }
    });
  }
  writer.join();
  for (auto& t : snappers) t.join();
  EXPECT_TRUE(errors.empty()) << errors.size() << " errors, first: "
                              << (errors.empty() ? "" : errors.front());
  taken.push_back(MustSnapshot());
  std::cout << "REPORT snapshots during writes: " << taken.size() << " snapshots, " << conflicts
            << " gave up with TXN_CONFLICT\n";
  for (const SnapshotInfo& s : taken) {
    SCOPED_TRACE("snapshot " + s.id.ToHex());
    AIFS_EXPECT_OK(engine().VerifySnapshot("default", s.id.ToHex()));
    auto d = engine().DiffSnapshots("default", empty.id.ToHex(), s.id.ToHex());
    ASSERT_TRUE(d.ok()) << d.status().ToString();
    EXPECT_TRUE(d->removed.empty());
    const IdSet got = ToSet(d->added);
    EXPECT_EQ(got.size(), s.count);
    EXPECT_NE(std::find(states.begin(), states.end(), got), states.end())
        << "a snapshot of " << got.size() << " assets that the namespace never was";
    ExpectRoot(s, ColdRoot(got));
  }
  ExpectRoot(taken.back(), ColdRoot(states.back()));
}

// Several clients snapshotting one namespace at once: each call must produce
// a snapshot. Every creator rewrites the namespace's head, so concurrent ones
// invalidate each other's optimistic transaction; a caller that keeps losing
// that race must not be turned away with ABORTED after a fixed number of
// attempts (the engine gives up after 16).
TEST_F(SnapshotTest, ConcurrentSnapshotCreatorsAllSucceed) {
  InitStore();
  const IdSet ids = ToSet(PutMany(30, "cc"));
  constexpr int kThreads = 8, kEach = 30;
  std::mutex mu;
  std::map<std::string, int> failures;
  std::vector<SnapshotInfo> made;
  std::vector<std::thread> threads;
  // Commits of another namespace run meanwhile (they must not disturb it).
  ASSERT_TRUE(engine().CreateNamespace("busy", {}).ok());
  std::atomic<bool> done{false};
  std::thread writer([&] {
    for (int i = 0; !done; ++i)
      EXPECT_TRUE(PutBytes(engine(), "busy", ToBytes("busy-" + std::to_string(i))).ok());
  });
  for (int t = 0; t < kThreads; ++t) {
    threads.emplace_back([&] {
      for (int i = 0; i < kEach; ++i) {
        auto s = engine().CreateSnapshot("default", nullptr);
        std::lock_guard lock(mu);
        if (s.ok()) made.push_back(*s);
        else ++failures[s.status().ToString().substr(0, 48)];
      }
    });
  }
  for (auto& th : threads) th.join();
  done = true;
  writer.join();
  std::string summary;
  int failed = 0;
  for (const auto& [what, n] : failures) {
    summary += "\n  " + std::to_string(n) + " x " + what;
    failed += n;
  }
  EXPECT_EQ(failed, 0) << failed << " of " << kThreads * kEach << " CreateSnapshot calls failed:"
                       << summary;
  const MstRoot want = ColdRoot(ids);
  for (const SnapshotInfo& s : made) ExpectRoot(s, want);
}

}  // namespace
}  // namespace aifs::test
