// Encryption at rest of what metadata records and derived files used to hold
// in clear: asset metadata, embedding vectors (vc/, vq/) and the vector index
// checkpoints (docs/storage-format.md, "Sealed fields" and "Sealed files").
//
// The oracle is the bytes on disk: every file of the data directory (RocksDB
// WAL and SST files, index checkpoints, chunks) is searched for a distinctive
// metadata value and a distinctive vector byte pattern. RocksDB's own
// compression could hide plaintext from such a search, so the SST files are
// rewritten uncompressed first, and each search also looks for a plaintext
// record key (which must be found) to prove it sees what is there.
#include <gtest/gtest.h>
#include <rocksdb/db.h>
#include <sys/wait.h>

#include <algorithm>
#include <chrono>
#include <cstring>
#include <filesystem>
#include <fstream>
#include <random>
#include <sstream>

#include "aifs/core/clock.h"
#include "aifs/core/hex.h"
#include "aifs/core/random.h"
#include "aifs/engine/store_config.h"
#include "aifs/meta/keys.h"
#include "aifs/meta/meta_store.h"
#include "aifs/meta/records.h"
#include "aifs/storage/sealed_file.h"
#include "aifs/storage/sealed_value.h"
#include "test_util.h"

namespace aifs::test {
namespace {

namespace fs = std::filesystem;

constexpr uint32_t kDim = 16;

RecordKey TestKey(uint8_t seed) {
  RecordKey k;
  k.tag.fill(seed);
  for (size_t i = 0; i < k.key.size(); ++i) k.key[i] = static_cast<uint8_t>(seed * 31 + i);
  return k;
}

bool AnyEndsWith(const std::vector<std::string>& files, std::string_view suffix) {
  return std::any_of(files.begin(), files.end(),
                     [&](const std::string& f) { return std::string_view(f).ends_with(suffix); });
}

// Flushes the memtable and rewrites every SST file without compression, so
// plaintext in any value would show up as it is.
void CompactUncompressed(const std::string& meta_dir) {
  rocksdb::Options opts;
  opts.compression = rocksdb::kNoCompression;
  opts.bottommost_compression = rocksdb::kNoCompression;
  rocksdb::DB* db = nullptr;
  ASSERT_TRUE(rocksdb::DB::Open(opts, meta_dir, &db).ok());
  ASSERT_TRUE(db->Flush(rocksdb::FlushOptions()).ok());
  rocksdb::CompactRangeOptions cro;
  cro.bottommost_level_compaction = rocksdb::BottommostLevelCompaction::kForce;
  ASSERT_TRUE(db->CompactRange(cro, nullptr, nullptr).ok());
  delete db;
}

// A vector whose float32 bytes are unlike anything else in a store.
std::vector<float> MarkedVector() {
  std::vector<float> v(kDim);
  for (uint32_t i = 0; i < kDim; ++i) v[i] = 1234.5678f + 0.25f * static_cast<float>(i * i);
  return v;
}
std::string_view PatternOf(const std::vector<float>& v) {
  return {reinterpret_cast<const char*>(v.data()), 32};  // 8 floats
}

TEST(SealedValue, RoundTripAndEveryWayToFail) {
  const RecordKey key = TestKey(1);
  const Bytes ctx = ToBytes(std::string_view("asset\0ns", 8));
  std::string sealed;
  AIFS_ASSERT_OK(SealValue(key, ctx, ToBytes("hello metadata"), sealed));
  EXPECT_EQ(sealed.size(), 14 + kSealedValueOverhead);
  EXPECT_EQ(sealed.find("hello"), std::string::npos);
  ASSERT_TRUE(SealedValueTag(sealed));
  EXPECT_EQ(*SealedValueTag(sealed), key.tag);
  std::string out;
  AIFS_ASSERT_OK(OpenValue(key, ctx, sealed, out));
  EXPECT_EQ(out, "hello metadata");
  // Two seals of one value differ (random nonce).
  std::string again;
  AIFS_ASSERT_OK(SealValue(key, ctx, ToBytes("hello metadata"), again));
  EXPECT_NE(again, sealed);

  RecordKey wrong = key;
  wrong.key[5] ^= 1;
  AIFS_EXPECT_STATUS(OpenValue(wrong, ctx, sealed, out), kDataLoss, "METADATA_CORRUPT");
  EXPECT_TRUE(out.empty());
  AIFS_EXPECT_STATUS(OpenValue(TestKey(2), ctx, sealed, out), kDataLoss, "METADATA_CORRUPT");
  AIFS_EXPECT_STATUS(OpenValue(key, ToBytes(std::string_view("asset\0nt", 8)), sealed, out),
                     kDataLoss, "METADATA_CORRUPT");
  for (size_t at : {size_t{0}, size_t{3}, size_t{12}, size_t{25}, sealed.size() - 1}) {
    std::string bad = sealed;
    bad[at] ^= 0x10;
    AIFS_EXPECT_STATUS(OpenValue(key, ctx, bad, out, "VECTOR_CORRUPT"), kDataLoss, "VECTOR_CORRUPT")
        << "flipped byte " << at;
  }
  AIFS_EXPECT_STATUS(OpenValue(key, ctx, sealed.substr(0, 20), out), kDataLoss, "METADATA_CORRUPT");
}

TEST(SealedFile, SegmentsRoundTripAndRefuseCutsAndSwaps) {
  TempDir t;
  const RecordKey key = TestKey(3);
  const Bytes ctx = ToBytes("index");
  constexpr size_t kSeg = size_t{1} << 20;
  for (size_t n : {size_t{0}, size_t{1}, kSeg - 1, kSeg, kSeg + 5, 3 * kSeg}) {
    SCOPED_TRACE(n);
    const Bytes data = RandomBytes(n, n + 1);
    const std::string path = t.Sub("f" + std::to_string(n));
    AIFS_ASSERT_OK(WriteSealedFile(key, ctx, data, path));
    EXPECT_EQ(FileMode(path), 0600u);
    auto back = ReadSealedFile(key, ctx, path, "INDEX_CORRUPT");
    ASSERT_TRUE(back.ok()) << back.status().ToString();
    const ByteSpan got = AsBytes(*back);
    EXPECT_TRUE(std::equal(got.begin(), got.end(), data.begin(), data.end()));
    ASSERT_TRUE(SealedFileTag(path));
    EXPECT_EQ(*SealedFileTag(path), key.tag);
    AIFS_EXPECT_STATUS(ReadSealedFile(key, ToBytes("other"), path, "INDEX_CORRUPT").status(),
                       kDataLoss, "INDEX_CORRUPT");
  }
  // Cut at a segment boundary: the last segment left is not marked last.
  const std::string three = t.Sub("f" + std::to_string(3 * kSeg));
  Bytes sealed = ReadFileBytes(three);
  const size_t seg = kSeg + kGcmTagSize, head = 28;
  WriteFileBytes(t.Sub("cut"), ByteSpan(sealed).first(head + 2 * seg));
  AIFS_EXPECT_STATUS(ReadSealedFile(key, ctx, t.Sub("cut"), "INDEX_CORRUPT").status(), kDataLoss,
                     "INDEX_CORRUPT");
  // Two segments swapped.
  Bytes swapped = sealed;
  std::copy(sealed.begin() + head, sealed.begin() + head + seg, swapped.begin() + head + seg);
  std::copy(sealed.begin() + head + seg, sealed.begin() + head + 2 * seg, swapped.begin() + head);
  WriteFileBytes(t.Sub("swapped"), swapped);
  AIFS_EXPECT_STATUS(ReadSealedFile(key, ctx, t.Sub("swapped"), "INDEX_CORRUPT").status(),
                     kDataLoss, "INDEX_CORRUPT");
  // A plaintext file is not a sealed one.
  WriteFileBytes(t.Sub("plain"), RandomBytes(100, 9));
  EXPECT_FALSE(SealedFileTag(t.Sub("plain")));
}

class EncryptionAtRestTest : public EngineFixture {
 protected:
  void SetUp() override {
    InitStore();
    AIFS_ASSERT_OK(engine().CreateSpace("default", {"s", kDim, VectorMetric::kL2}).status());
    // Letters outside the hex digits: RocksDB's block compression (snappy)
    // finds no earlier match for any 4 bytes of it in a block (keys and IDs
    // are hex), so where it is stored in clear it stays searchable even in a
    // compressed SST file.
    std::mt19937_64 rng(static_cast<uint64_t>(::getpid()) ^ NowUnixNanos());
    marker_ = "md-marker-";
    for (int i = 0; i < 24; ++i) marker_ += static_cast<char>('g' + rng() % 20);
  }
  // Puts an asset with the marker as a metadata value and the marked vector.
  AssetId PutMarked(const std::string& body, const std::string& ns = "default",
                    const std::string& suffix = "") {
    PutOptions o;
    o.ns = ns;
    o.metadata = {{"secret", marker_ + suffix}, {"team", "blue"}};
    if (ns == "default" && suffix.empty()) o.embeddings.push_back({"s", vector_});
    auto r = PutBytes(engine(), ToBytes(body), o);
    EXPECT_TRUE(r.ok()) << r.status().ToString();
    return r.ok() ? r->asset.id : AssetId{};
  }
  // What a user sees: metadata, the where-filter, search by vector and filter.
  void ExpectReadable(const AssetId& id) {
    auto info = engine().StatAsset("default", id, false);
    ASSERT_TRUE(info.ok()) << info.status().ToString();
    EXPECT_EQ(info->metadata.at("secret"), marker_);
    ListOptions lo;
    lo.filters = {MetaFilter{.key = "secret", .value = marker_}};
    auto page = engine().ListAssets(lo);
    ASSERT_TRUE(page.ok()) << page.status().ToString();
    ASSERT_EQ(page->assets.size(), 1u);
    EXPECT_EQ(page->assets[0].id, id);
    VectorQuery q;
    q.space = "s";
    q.vector = vector_;
    q.k = 1;
    q.filters = {MetaFilter{.key = "team", .value = "blue"}};
    auto hits = engine().VectorSearch(q);
    ASSERT_TRUE(hits.ok()) << hits.status().ToString();
    ASSERT_EQ(hits->hits.size(), 1u);
    EXPECT_EQ(hits->hits[0].id, id);
    q.filters = {};
    q.like = id;
    q.vector.clear();
    hits = engine().VectorSearch(q);  // reads the stored vector back
    ASSERT_TRUE(hits.ok()) << hits.status().ToString();
  }
  void ExpectNoPlaintext(const char* when) {
    SCOPED_TRACE(when);
    EXPECT_EQ(FilesContaining(dir_.path(), marker_), std::vector<std::string>{});
    EXPECT_EQ(FilesContaining(dir_.path(), PatternOf(vector_)), std::vector<std::string>{});
  }
  std::unique_ptr<MetaStore> OpenMeta() {
    auto m = OpenMetaStore("rocksdb://" + dir_.Sub("meta"), MetaOpenOptions{});
    EXPECT_TRUE(m.ok()) << m.status().ToString();
    return m.ok() ? std::move(*m) : nullptr;
  }
  // What a store of format 1 held for an asset of namespace "default": its
  // metadata in clear in its record (or tombstone), its vector in space "s"
  // as bare floats in vc/ (or vq/).
  struct Format1Asset {
    AssetId id;
    Metadata metadata;
    std::vector<float> vector;  // empty: none
    bool pending = false;       // the vector is in quarantine
    bool tombstone = false;     // deleted by force: the record is a tombstone
  };
  // Closes the engine and turns the store into what format 1 wrote: the
  // assets as above, the namespace without a record key, no index
  // checkpoint, aifs.json at format_version 1. Other assets must have
  // neither metadata nor vectors (their sealed fields would not open).
  void DowngradeToFormat1(const std::vector<Format1Asset>& assets) {
    engine_.reset();
    {
      auto meta = OpenMeta();
      ASSERT_TRUE(meta);
      auto ns =
          LoadRecord<store::v1::NamespaceRecord>(*meta, keys::Namespace("default"), "X", "ns");
      ASSERT_TRUE(ns.ok());
      ns->clear_record_key_tag();
      ns->clear_record_key_wrapped();
      ns->clear_record_kms_key_id();
      AIFS_ASSERT_OK(RunTransaction(*meta, [&](MetaTxn& txn) -> Status {
        AIFS_RETURN_IF_ERROR(PutRecord(txn, keys::Namespace("default"), *ns));
        for (const Format1Asset& a : assets) {
          const std::string key = a.tombstone ? keys::Tombstone("default", a.id.bytes())
                                              : keys::Asset("default", a.id.bytes());
          AIFS_ASSIGN_OR_RETURN(auto bytes, txn.Get(key));
          if (!bytes) return err::NotFound("X", key);
          store::v1::Tombstone tomb;
          store::v1::AssetRecord asset;
          AIFS_RETURN_IF_ERROR(a.tombstone ? ParseRecord(*bytes, tomb, "tombstone")
                                           : ParseRecord(*bytes, asset, "asset"));
          store::v1::AssetRecord& rec = a.tombstone ? *tomb.mutable_asset() : asset;
          rec.clear_sealed();
          for (const auto& [k, v] : a.metadata) (*rec.mutable_metadata())[k] = v;
          AIFS_RETURN_IF_ERROR(a.tombstone ? PutRecord(txn, key, tomb)
                                           : PutRecord(txn, key, asset));
          if (a.vector.empty()) continue;
          AIFS_RETURN_IF_ERROR(txn.Put(
              a.pending ? keys::PendingVector("default", "s", a.id.bytes())
                        : keys::Vector("default", "s", a.id.bytes()),
              std::string(reinterpret_cast<const char*>(a.vector.data()), a.vector.size() * 4)));
        }
        return Status::Ok();
      }));
    }
    std::filesystem::remove_all(dir_.Sub("index"));
    SetFormatVersion(1);
  }
  void SetFormatVersion(int version) {
    const std::string config = dir_.Sub("aifs.json");
    std::string js(AsChars(ReadFileBytes(config)));
    const size_t fv = js.find("\"format_version\": ");
    ASSERT_NE(fv, std::string::npos) << js;
    js.replace(fv + 18, 1, std::to_string(version));
    WriteFileBytes(config, ToBytes(js));
  }
  std::string marker_;
  std::vector<float> vector_ = MarkedVector();
};

TEST_F(EncryptionAtRestTest, NoMetadataValueOrVectorInAnyFileOfTheStore) {
  const AssetId id = PutMarked("first asset");
  const std::string asset_key = keys::Asset("default", id.bytes());
  ExpectReadable(id);
  // Before any flush: the records are in the WAL only.
  EXPECT_TRUE(AnyEndsWith(FilesContaining(dir_.Sub("meta"), asset_key), ".log"))
      << "the control: the WAL holds the asset's key in clear";
  ExpectNoPlaintext("WAL, before a flush");

  engine_.reset();  // writes the index checkpoint
  ASSERT_TRUE(fs::exists(dir_.Sub("index/default/s/graph.hnsw")));
  ASSERT_TRUE(fs::exists(dir_.Sub("index/default/s/labels")));
  ExpectNoPlaintext("index checkpoint written");

  CompactUncompressed(dir_.Sub("meta"));
  EXPECT_TRUE(AnyEndsWith(FilesContaining(dir_.Sub("meta"), asset_key), ".sst"))
      << "the control: an uncompressed SST holds the asset's key in clear";
  ExpectNoPlaintext("SST files, uncompressed");

  Reopen();  // loads the sealed checkpoint
  ExpectReadable(id);
  // A quarantined vector and a force-deleted asset's tombstone are sealed too.
  AIFS_ASSERT_OK(engine().SetNamespacePolicy("default", {.quarantine_embeddings = true}).status());
  PutOptions child;
  child.parents = {{id, "derive", ""}};
  ASSERT_TRUE(PutBytes(engine(), ToBytes("child"), child).ok());
  const AssetId held = PutMarked("held asset");
  AIFS_ASSERT_OK(engine().DeleteAsset("default", id, /*force=*/true));
  auto lineage = engine().GetLineage("default", id, LineageDirection::kDown, 1);
  ASSERT_TRUE(lineage.ok()) << lineage.status().ToString();
  EXPECT_EQ(lineage->assets[0].metadata.at("secret"), marker_) << "the tombstone opens";
  engine_.reset();
  CompactUncompressed(dir_.Sub("meta"));
  ExpectNoPlaintext("quarantine and tombstone");
  Reopen();
  auto info = engine().StatAsset("default", held, false);
  ASSERT_TRUE(info.ok());
  EXPECT_EQ(info->metadata.at("secret"), marker_);
}

TEST_F(EncryptionAtRestTest, SealedFieldsAreBoundToTheirRecord) {
  // Metadata in a namespace without spaces (an index rebuild reads the
  // metadata of indexed assets, and a store whose index cannot be rebuilt
  // does not open: that is loud too, but hides the per-asset errors).
  AIFS_ASSERT_OK(engine().CreateNamespace("plain", {}).status());
  const AssetId a = PutMarked("asset a", "plain");
  const AssetId b = PutMarked("asset b", "plain");
  const AssetId va = PutMarked("vector a");
  const AssetId vb = PutMarked("vector b");
  engine_.reset();
  {
    auto meta = OpenMeta();
    ASSERT_TRUE(meta);
    auto ra = LoadRecord<store::v1::AssetRecord>(*meta, keys::Asset("plain", a.bytes()), "X", "a");
    auto rb = LoadRecord<store::v1::AssetRecord>(*meta, keys::Asset("plain", b.bytes()), "X", "b");
    ASSERT_TRUE(ra.ok() && rb.ok());
    ASSERT_FALSE(ra->sealed().empty());
    EXPECT_TRUE(ra->metadata().empty()) << "no metadata in clear";
    // a's sealed fields moved into b's record; a's with one bit flipped.
    rb->set_sealed(ra->sealed());
    std::string flipped = ra->sealed();
    flipped[flipped.size() / 2] ^= 4;
    ra->set_sealed(flipped);
    // vb's vector moved to va.
    auto vec = meta->Get(keys::Vector("default", "s", vb.bytes()));
    ASSERT_TRUE(vec.ok() && vec->has_value());
    EXPECT_EQ(vec->value().size(), kDim * 4 + kSealedValueOverhead);
    AIFS_ASSERT_OK(RunTransaction(*meta, [&](MetaTxn& txn) -> Status {
      AIFS_RETURN_IF_ERROR(PutRecord(txn, keys::Asset("plain", a.bytes()), *ra));
      AIFS_RETURN_IF_ERROR(PutRecord(txn, keys::Asset("plain", b.bytes()), *rb));
      return txn.Put(keys::Vector("default", "s", va.bytes()), **vec);
    }));
  }
  std::filesystem::remove_all(dir_.Sub("index"));
  EngineOptions eo;
  eo.data_dir = dir_.path();
  auto e = Engine::Open(eo);
  ASSERT_TRUE(e.ok()) << e.status().ToString();  // corrupt vectors are VerifyAsset's business
  AIFS_EXPECT_STATUS((*e)->StatAsset("plain", a, false).status(), kDataLoss, "METADATA_CORRUPT");
  AIFS_EXPECT_STATUS((*e)->StatAsset("plain", b, false).status(), kDataLoss, "METADATA_CORRUPT");
  ListOptions lo;
  lo.ns = "plain";
  AIFS_EXPECT_STATUS((*e)->ListAssets(lo).status(), kDataLoss, "METADATA_CORRUPT");
  VectorQuery q;
  q.space = "s";
  q.like = va;
  AIFS_EXPECT_STATUS((*e)->VectorSearch(q).status(), kDataLoss, "VECTOR_CORRUPT");
}

TEST_F(EncryptionAtRestTest, RotateRewrapAndRetireTheOldKeyVersion) {
  const AssetId id = PutMarked("rotated asset");
  auto v2 = engine().RotateKey();
  ASSERT_TRUE(v2.ok()) << v2.status().ToString();
  EXPECT_EQ(*v2, "local:v2");
  const AssetId later = PutMarked("after the rotation", "default", "-later");
  auto report = engine().RewrapKeys(RewrapOptions{}, nullptr);
  ASSERT_TRUE(report.ok()) << report.status().ToString();
  EXPECT_TRUE(report->complete);
  EXPECT_EQ(report->namespaces_rewrapped, 1u) << "the namespace's signing and record keys";
  engine_.reset();
  {
    auto meta = OpenMeta();
    ASSERT_TRUE(meta);
    auto ns = LoadRecord<store::v1::NamespaceRecord>(*meta, keys::Namespace("default"), "X", "ns");
    ASSERT_TRUE(ns.ok());
    EXPECT_EQ(ns->record_kms_key_id(), "local:v2");
  }
  // Retire v1: drop its line from the keyfile (what destroying it on an HSM
  // is for the PKCS#11 backend).
  const std::string keyfile = dir_.Sub("kms/master.keys");
  const Bytes text = ReadFileBytes(keyfile);
  std::istringstream in(std::string(text.begin(), text.end()));
  std::string line, kept;
  while (std::getline(in, line))
    if (!line.starts_with("key 1 ")) kept += line + "\n";
  ASSERT_NE(kept.size(), text.size());
  WriteFileBytes(keyfile, ToBytes(kept));
  ASSERT_EQ(::chmod(keyfile.c_str(), 0600), 0);
  Reopen();
  ExpectReadable(id);
  auto info = engine().StatAsset("default", later, false);
  ASSERT_TRUE(info.ok()) << info.status().ToString();
  EXPECT_EQ(info->metadata.at("secret"), marker_ + "-later");
  // And after rebuilding the index from the records (no checkpoint).
  engine_.reset();
  std::filesystem::remove_all(dir_.Sub("index"));
  Reopen();
  ExpectReadable(id);
}

TEST_F(EncryptionAtRestTest, WrongOrDamagedKeysAreClearErrorsNeverData) {
  const AssetId id = PutMarked("keyed asset");
  engine_.reset();
  const std::string keyfile = dir_.Sub("kms/master.keys");
  const Bytes good = ReadFileBytes(keyfile);
  EngineOptions eo;
  eo.data_dir = dir_.path();

  // One changed hex digit of the key: refused at open, as a key error.
  std::string text(good.begin(), good.end());
  const size_t at = text.find("\nkey 1 ");
  ASSERT_NE(at, std::string::npos);
  size_t digit = at + 1;
  for (int field = 0; field < 3; ++field) digit = text.find(' ', digit) + 1;  // the key's hex
  text[digit] = text[digit] == '0' ? '1' : '0';
  WriteFileBytes(keyfile, ToBytes(text));
  ASSERT_EQ(::chmod(keyfile.c_str(), 0600), 0);
  auto opened = Engine::Open(eo);
  AIFS_EXPECT_STATUS(opened.status(), kDataLoss, "KMS_KEY_CORRUPT");
  EXPECT_NE(opened.status().message().find("local:v1"), std::string::npos)
      << opened.status().ToString();

  // Another store's keyfile (same key ID, other key): the store does not open
  // (its vector index needs the namespace's record key), and says why.
  TempDir other;
  AIFS_ASSERT_OK(Engine::Init(other.path(), SmallInit()));
  std::filesystem::copy_file(other.Sub("kms/master.keys"), keyfile,
                             std::filesystem::copy_options::overwrite_existing);
  opened = Engine::Open(eo);
  ASSERT_FALSE(opened.ok());
  EXPECT_EQ(opened.status().reason(), "KEY_UNWRAP_FAILED") << opened.status().ToString();
  EXPECT_NE(opened.status().message().find("record key of namespace 'default'"), std::string::npos)
      << opened.status().ToString();

  // Without a space to index, it opens, and reading the metadata fails the same way.
  WriteFileBytes(keyfile, good);
  ASSERT_EQ(::chmod(keyfile.c_str(), 0600), 0);
  Reopen();
  AIFS_ASSERT_OK(engine().CreateNamespace("plain", {}).status());
  PutOptions o;
  o.ns = "plain";
  o.metadata = {{"secret", marker_}};
  auto put = PutBytes(engine(), ToBytes("plain asset"), o);
  ASSERT_TRUE(put.ok());
  AIFS_ASSERT_OK(engine().DeleteAsset("default", id, false));
  engine_.reset();
  std::filesystem::copy_file(other.Sub("kms/master.keys"), keyfile,
                             std::filesystem::copy_options::overwrite_existing);
  std::filesystem::remove_all(dir_.Sub("index"));
  opened = Engine::Open(eo);
  ASSERT_TRUE(opened.ok()) << opened.status().ToString();
  auto stat = (*opened)->StatAsset("plain", put->asset.id, false);
  AIFS_EXPECT_STATUS(stat.status(), kDataLoss, "KEY_UNWRAP_FAILED");
  ListOptions lo;
  lo.ns = "plain";
  AIFS_EXPECT_STATUS((*opened)->ListAssets(lo).status(), kDataLoss, "KEY_UNWRAP_FAILED");
}

// A store of format 1 (before sealing): plaintext metadata and vectors, no
// record keys, a plaintext index checkpoint. It still opens and reads; the
// next writes are sealed and aifs.json says this build's format.
TEST_F(EncryptionAtRestTest, StoresOfFormat1StillOpenAndNewWritesAreSealed) {
  const AssetId id = PutMarked("legacy asset");
  ASSERT_NO_FATAL_FAILURE(DowngradeToFormat1(
      {{.id = id, .metadata = {{"secret", marker_}, {"team", "blue"}}, .vector = vector_}}));
  const std::string config = dir_.Sub("aifs.json");

  Reopen(/*read_only=*/true);  // reads, and leaves the format alone
  ExpectReadable(id);
  EXPECT_NE(std::string(AsChars(ReadFileBytes(config))).find("\"format_version\": 1"),
            std::string::npos);
  Reopen();
  EXPECT_NE(std::string(AsChars(ReadFileBytes(config)))
                .find("\"format_version\": " + std::to_string(kStoreFormatVersion)),
            std::string::npos)
      << "a writable open marks the store with this build's format";
  ExpectReadable(id);  // plaintext records read as before
  const AssetId fresh = PutMarked("new asset");
  engine_.reset();  // the checkpoint needs the namespace's new record key
  Reopen();
  auto info = engine().StatAsset("default", fresh, false);
  ASSERT_TRUE(info.ok());
  EXPECT_EQ(info->metadata.at("secret"), marker_);
  engine_.reset();
  auto meta = OpenMeta();
  ASSERT_TRUE(meta);
  auto rec =
      LoadRecord<store::v1::AssetRecord>(*meta, keys::Asset("default", fresh.bytes()), "X", "a");
  ASSERT_TRUE(rec.ok());
  EXPECT_TRUE(rec->metadata().empty());
  EXPECT_FALSE(rec->sealed().empty());
  auto ns = LoadRecord<store::v1::NamespaceRecord>(*meta, keys::Namespace("default"), "X", "ns");
  ASSERT_TRUE(ns.ok());
  EXPECT_EQ(ns->record_key_tag().size(), 8u) << "the namespace got its record key";
  EXPECT_TRUE(SealedFileTag(dir_.Sub("index/default/s/labels"))) << "the checkpoint is sealed";

  // A store of a format newer than this build is refused.
  meta.reset();
  SetFormatVersion(9);
  EngineOptions eo;
  eo.data_dir = dir_.path();
  AIFS_EXPECT_STATUS(Engine::Open(eo).status(), kFailedPrecondition, "UNSUPPORTED_FORMAT");
}

// ------------------------------------ what format 1 left in clear, resealed

// Floats with random mantissas: no four bytes of them repeat in a block, so
// RocksDB's compression leaves them searchable wherever they are in clear.
std::vector<float> RandomVector(uint64_t seed) {
  std::mt19937_64 rng(seed);
  std::vector<float> v(kDim);
  for (float& x : v) x = 1.0f + static_cast<float>(rng() % (1 << 23)) / float(1 << 23);
  return v;
}

class ResealTest : public EncryptionAtRestTest {
 protected:
  void SetUp() override {
    EncryptionAtRestTest::SetUp();
    vector_ = RandomVector(static_cast<uint64_t>(::getpid()));
  }
  // Whether any file of the data directory holds the marker or the vector's
  // bytes in clear (the store's own files, as they are: no rewriting).
  bool PlaintextOnDisk() {
    return !FilesContaining(dir_.path(), marker_).empty() ||
           !FilesContaining(dir_.path(), PatternOf(vector_)).empty();
  }
  // Stored values of namespace "default" that are sealed and in clear.
  struct Tally {
    int sealed = 0, plain = 0;
  };
  Tally CountValues() {
    engine_.reset();
    Tally t;
    auto meta = OpenMeta();
    EXPECT_TRUE(meta);
    if (!meta) return t;
    for (const std::string prefix : {"as/default/", "tb/default/"}) {
      AIFS_EXPECT_OK(
          meta->Scan(prefix, PrefixEnd(prefix), [&](std::string_view k, std::string_view v) {
            store::v1::AssetRecord rec;
            store::v1::Tombstone tomb;
            EXPECT_TRUE(k.starts_with("tb/") ? tomb.ParseFromArray(v.data(), int(v.size()))
                                             : rec.ParseFromArray(v.data(), int(v.size())))
                << k;
            if (k.starts_with("tb/")) rec = tomb.asset();
            t.sealed += !rec.sealed().empty();
            t.plain += !rec.metadata().empty();
            return true;
          }));
    }
    for (const std::string prefix : {"vc/default/s/", "vq/default/s/"}) {
      AIFS_EXPECT_OK(
          meta->Scan(prefix, PrefixEnd(prefix), [&](std::string_view, std::string_view v) {
            EXPECT_TRUE(v.size() == kDim * 4 || v.size() == kDim * 4 + kSealedValueOverhead);
            (v.size() == kDim * 4 ? t.plain : t.sealed) += 1;
            return true;
          }));
    }
    return t;
  }
  Metadata Md() const { return {{"secret", marker_}, {"team", "blue"}}; }
  // The where-filter on the metadata and a search by the vector (filtered
  // by metadata) find exactly `ids`.
  void ExpectFound(std::vector<AssetId> ids) {
    std::sort(ids.begin(), ids.end());
    auto ids_of = [](const auto& items) {
      std::vector<AssetId> out;
      for (const auto& item : items) out.push_back(item.id);
      std::sort(out.begin(), out.end());
      return out;
    };
    ListOptions lo;
    lo.filters = {MetaFilter{.key = "secret", .value = marker_}};
    auto page = engine().ListAssets(lo);
    ASSERT_TRUE(page.ok()) << page.status().ToString();
    EXPECT_EQ(ids_of(page->assets), ids);
    VectorQuery q;
    q.space = "s";
    q.vector = vector_;
    q.k = static_cast<uint32_t>(ids.size() + 5);
    q.filters = {MetaFilter{.key = "team", .value = "blue"}};
    auto hits = engine().VectorSearch(q);
    ASSERT_TRUE(hits.ok()) << hits.status().ToString();
    EXPECT_EQ(ids_of(hits->hits), ids);
  }
};

// `aifs key rewrap` on a store of format 1 seals every asset record, tombstone
// and vector (vc/ and vq/) that format 1 wrote in clear, and compacts the
// metadata: no file of the data directory holds the plaintext afterwards,
// while everything still reads, filters and searches.
TEST_F(ResealTest, RewrapSealsWhatFormat1LeftInClearAndCompactsItAway) {
  std::vector<AssetId> plain;
  for (int i = 0; i < 4; ++i) plain.push_back(PutMarked("asset " + std::to_string(i)));
  // A parent deleted by force leaves a tombstone with its metadata.
  const AssetId parent = PutMarked("parent", "default", "-parent");
  PutOptions child;
  child.parents = {{parent, "derive", ""}};
  ASSERT_TRUE(PutBytes(engine(), ToBytes("child"), child).ok());
  AIFS_ASSERT_OK(engine().DeleteAsset("default", parent, /*force=*/true));
  // A vector held in quarantine (vq/).
  AIFS_ASSERT_OK(engine().SetNamespacePolicy("default", {.quarantine_embeddings = true}).status());
  const AssetId held = PutMarked("held");
  const AssetId bare = MustPut(ToBytes("no metadata, no vector")).asset.id;
  std::vector<Format1Asset> f1;
  for (const AssetId& id : plain) f1.push_back({.id = id, .metadata = Md(), .vector = vector_});
  f1.push_back({.id = parent, .metadata = Md(), .tombstone = true});
  f1.push_back({.id = held, .metadata = Md(), .vector = vector_, .pending = true});
  ASSERT_NO_FATAL_FAILURE(DowngradeToFormat1(f1));
  EXPECT_EQ(CountValues().plain, 11);
  Reopen();
  ASSERT_TRUE(PlaintextOnDisk()) << "the control: format 1's plaintext is on disk before";

  auto r = engine().RewrapKeys({.batch_size = 2}, nullptr);
  ASSERT_TRUE(r.ok()) << r.status().ToString();
  EXPECT_TRUE(r->complete);
  EXPECT_EQ(r->records_resealed, 6u) << "4 assets, a tombstone, the held asset";
  EXPECT_EQ(r->vectors_resealed, 5u) << "4 in vc/, 1 in vq/";
  EXPECT_TRUE(r->compacted);
  EXPECT_EQ(FilesContaining(dir_.path(), marker_), std::vector<std::string>{});
  EXPECT_EQ(FilesContaining(dir_.path(), PatternOf(vector_)), std::vector<std::string>{});
  EXPECT_FALSE(FilesContaining(dir_.Sub("meta"), keys::Asset("default", bare.bytes())).empty())
      << "the control: the scan sees the (compressed) SST files";

  const Tally after = CountValues();
  EXPECT_EQ(after.plain, 0);
  EXPECT_EQ(after.sealed, 11);
  Reopen();
  for (const AssetId& id : plain) {
    auto info = engine().StatAsset("default", id, false);
    ASSERT_TRUE(info.ok()) << info.status().ToString();
    EXPECT_EQ(info->metadata, Md());
  }
  auto lineage = engine().GetLineage("default", parent, LineageDirection::kDown, 1);
  ASSERT_TRUE(lineage.ok()) << lineage.status().ToString();
  EXPECT_EQ(lineage->assets[0].metadata, Md()) << "the tombstone opens";
  // The vector that was in quarantine, resealed, approved: searchable.
  auto approved = engine().ReviewEmbeddings({.ns = "default", .space = "s", .approve = true});
  ASSERT_TRUE(approved.ok()) << approved.status().ToString();
  EXPECT_EQ(*approved, 1u);
  std::vector<AssetId> all = plain;
  all.push_back(held);
  ExpectFound(all);

  // Nothing left to do: a rerun reseals and compacts nothing.
  auto again = engine().RewrapKeys({}, nullptr);
  ASSERT_TRUE(again.ok()) << again.status().ToString();
  EXPECT_TRUE(again->complete);
  EXPECT_EQ(again->records_resealed + again->vectors_resealed, 0u);
  EXPECT_FALSE(again->compacted);
}

// Stopped by --max-resealed, then killed midway (SIGKILL of a process in the
// middle of its batches), a rewrap leaves every value either in clear or
// sealed, never half of either, and the plaintext of what it resealed stays
// in the old files until a run completes and compacts; the next run resumes
// and finishes the job.
TEST_F(ResealTest, ResealStoppedOrKilledMidwayResumes) {
  std::vector<Format1Asset> f1;
  for (int i = 0; i < 8; ++i)
    f1.push_back(
        {.id = PutMarked("asset " + std::to_string(i)), .metadata = Md(), .vector = vector_});
  ASSERT_NO_FATAL_FAILURE(DowngradeToFormat1(f1));
  Reopen();

  auto first = engine().RewrapKeys({.batch_size = 1, .max_resealed = 3}, nullptr);
  ASSERT_TRUE(first.ok()) << first.status().ToString();
  EXPECT_FALSE(first->complete);
  EXPECT_EQ(first->records_resealed + first->vectors_resealed, 3u);
  EXPECT_FALSE(first->compacted);
  EXPECT_TRUE(PlaintextOnDisk()) << "the resealed values' plaintext waits for the compaction";
  Tally mid = CountValues();
  EXPECT_EQ(mid.sealed, 3);
  EXPECT_EQ(mid.plain, 13);

  const KilledRewrap killed = KillRewrapMidway(dir_.path(), 4);
  ASSERT_EQ(killed.batches_seen, 4) << "the victim stopped early, status " << killed.wait_status;
  ASSERT_TRUE(WIFSIGNALED(killed.wait_status)) << "the victim finished before it was killed";
  mid = CountValues();
  EXPECT_GE(mid.sealed, 7);
  EXPECT_GE(mid.plain, 1);
  EXPECT_EQ(mid.sealed + mid.plain, 16) << "every value whole, in clear or sealed";
  std::cout << "REPORT reseal killed with " << mid.sealed << " of 16 values sealed\n";
  Reopen();
  for (const Format1Asset& a : f1) {
    auto info = engine().StatAsset("default", a.id, false);
    ASSERT_TRUE(info.ok()) << info.status().ToString();
    EXPECT_EQ(info->metadata, Md());
  }

  auto rest = engine().RewrapKeys({.batch_size = 4}, nullptr);
  ASSERT_TRUE(rest.ok()) << rest.status().ToString();
  EXPECT_TRUE(rest->resumed);
  EXPECT_TRUE(rest->complete);
  EXPECT_EQ(rest->records_resealed, 8u);  // totals carry over from the stopped runs
  EXPECT_EQ(rest->vectors_resealed, 8u);
  EXPECT_TRUE(rest->compacted);
  EXPECT_FALSE(PlaintextOnDisk());
  EXPECT_EQ(CountValues().plain, 0);
  Reopen();
  std::vector<AssetId> ids;
  for (const Format1Asset& a : f1) ids.push_back(a.id);
  ExpectFound(ids);
}

// What the reseal cannot judge is damage: a plaintext record of a namespace
// that does not exist, or naming another namespace than its key, stops the
// rewrap with DATA_LOSS METADATA_CORRUPT naming it (never sealed under a
// guessed key, never skipped silently); a vector of the wrong size is left
// to `aifs verify` and the rewrap completes.
TEST_F(ResealTest, DamageItCannotSealStopsTheRewrapAsSuch) {
  const AssetId id = PutMarked("an asset");
  ASSERT_NO_FATAL_FAILURE(DowngradeToFormat1({{.id = id, .metadata = Md(), .vector = vector_}}));
  auto raw_put = [&](const std::string& key, const std::string& value) {
    engine_.reset();
    auto meta = OpenMeta();
    ASSERT_TRUE(meta);
    AIFS_ASSERT_OK(RunTransaction(*meta, [&](MetaTxn& txn) { return txn.Put(key, value); }));
  };
  auto raw_delete = [&](const std::string& key) {
    engine_.reset();
    auto meta = OpenMeta();
    ASSERT_TRUE(meta);
    AIFS_ASSERT_OK(RunTransaction(*meta, [&](MetaTxn& txn) { return txn.Delete(key); }));
  };
  store::v1::AssetRecord ghost;
  ghost.set_ns("ghost");
  ghost.set_id(std::string(32, 'g'));
  (*ghost.mutable_metadata())["secret"] = marker_;
  const std::string ghost_key = keys::Asset("ghost", Digest{});
  ASSERT_NO_FATAL_FAILURE(raw_put(ghost_key, SerializeDeterministic(ghost)));
  Reopen();
  auto r = engine().RewrapKeys({}, nullptr);
  AIFS_EXPECT_STATUS(r.status(), kDataLoss, "METADATA_CORRUPT");
  EXPECT_NE(r.status().message().find("'ghost' does not exist"), std::string::npos)
      << r.status().ToString();
  ASSERT_NO_FATAL_FAILURE(raw_delete(ghost_key));

  // A plaintext record under default/ that says it belongs to "other".
  Reopen();
  const AssetId stray = MustPut(ToBytes("stray")).asset.id;
  ghost.set_ns("other");
  ghost.set_id(std::string(AsChars(ByteSpan(stray.bytes()))));
  ASSERT_NO_FATAL_FAILURE(
      raw_put(keys::Asset("default", stray.bytes()), SerializeDeterministic(ghost)));
  Reopen();
  r = engine().RewrapKeys({}, nullptr);
  AIFS_EXPECT_STATUS(r.status(), kDataLoss, "METADATA_CORRUPT");
  EXPECT_NE(r.status().message().find("names namespace 'other'"), std::string::npos)
      << r.status().ToString();
  ASSERT_NO_FATAL_FAILURE(raw_delete(keys::Asset("default", stray.bytes())));

  // A vector cut short: not resealed, not fatal; the rest completes.
  ASSERT_NO_FATAL_FAILURE(raw_put(keys::Vector("default", "s", stray.bytes()), "short"));
  Reopen();
  r = engine().RewrapKeys({}, nullptr);
  ASSERT_TRUE(r.ok()) << r.status().ToString();
  EXPECT_TRUE(r->complete);
  EXPECT_EQ(r->records_resealed, 1u);
  EXPECT_EQ(r->vectors_resealed, 1u) << "the good vector only";
  EXPECT_TRUE(r->compacted);
}

// Not a check but a measurement (bench/README.md, "Reseal at scale"): how
// long a rewrap takes to seal RESEAL_N (default 20,000) format-1 assets with
// metadata and a vector each, and to compact, and a rerun with nothing left.
TEST_F(ResealTest, DISABLED_ReportAtScale) {
  const char* env = std::getenv("RESEAL_N");
  const int n = env ? std::atoi(env) : 20000;
  std::vector<Format1Asset> f1;
  for (int i = 0; i < n; ++i) {
    PutOptions o;
    o.metadata = {{"secret", marker_}, {"team", "blue"}, {"i", std::to_string(i)}};
    o.embeddings.push_back({"s", RandomVector(i + 1)});
    auto put = PutBytes(engine(), ToBytes("asset " + std::to_string(i)), o);
    ASSERT_TRUE(put.ok()) << put.status().ToString();
    f1.push_back({.id = put->asset.id, .metadata = o.metadata, .vector = o.embeddings[0].values});
  }
  ASSERT_NO_FATAL_FAILURE(DowngradeToFormat1(f1));
  Reopen();
  using Clock = std::chrono::steady_clock;
  const auto ms = [](Clock::time_point a, Clock::time_point b) {
    return std::chrono::duration<double, std::milli>(b - a).count();
  };
  const auto t0 = Clock::now();
  auto r = engine().RewrapKeys({}, nullptr);
  const auto t1 = Clock::now();
  ASSERT_TRUE(r.ok()) << r.status().ToString();
  auto again = engine().RewrapKeys({}, nullptr);
  const auto t2 = Clock::now();
  ASSERT_TRUE(again.ok()) << again.status().ToString();
  EXPECT_EQ(r->records_resealed + r->vectors_resealed, 2u * n);
  EXPECT_FALSE(PlaintextOnDisk());
  std::cout << "REPORT reseal " << n << " assets: sealing " << r->records_resealed
            << " records and " << r->vectors_resealed << " vectors and compacting " << ms(t0, t1)
            << " ms; a rerun with nothing to seal " << ms(t1, t2) << " ms\n";
}

}  // namespace
}  // namespace aifs::test
