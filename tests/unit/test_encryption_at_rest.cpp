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

#include <algorithm>
#include <cstring>
#include <filesystem>
#include <fstream>
#include <sstream>

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

// Files under `dir` (recursively) whose bytes contain `needle`.
std::vector<std::string> FilesContaining(const std::string& dir, std::string_view needle) {
  std::vector<std::string> out;
  for (const auto& e : fs::recursive_directory_iterator(dir)) {
    if (!e.is_regular_file()) continue;
    const Bytes b = ReadFileBytes(e.path().string());
    const std::string_view s(reinterpret_cast<const char*>(b.data()), b.size());
    if (s.find(needle) != std::string_view::npos) out.push_back(e.path().string());
  }
  return out;
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
    Bytes r = RandomBytes(8, static_cast<uint64_t>(::getpid()));
    marker_ = "md-marker-" + HexEncode(r);
  }
  // Puts an asset with the marker as a metadata value and the marked vector.
  AssetId PutMarked(const std::string& body, const std::string& ns = "default",
                    const std::string& suffix = "") {
    PutOptions o;
    o.ns = ns;
    o.metadata = {{"secret", marker_ + suffix}, {"team", "blue"}};
    if (ns == "default" && suffix.empty()) o.embeddings.push_back({"s", MarkedVector()});
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
    q.vector = MarkedVector();
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
    const auto v = MarkedVector();
    EXPECT_EQ(FilesContaining(dir_.path(), PatternOf(v)), std::vector<std::string>{});
  }
  std::unique_ptr<MetaStore> OpenMeta() {
    auto m = OpenMetaStore("rocksdb://" + dir_.Sub("meta"), MetaOpenOptions{});
    EXPECT_TRUE(m.ok()) << m.status().ToString();
    return m.ok() ? std::move(*m) : nullptr;
  }
  std::string marker_;
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
// next writes are sealed and aifs.json says format 2.
TEST_F(EncryptionAtRestTest, StoresOfFormat1StillOpenAndNewWritesAreSealed) {
  const AssetId id = PutMarked("legacy asset");
  engine_.reset();
  {
    // Turn it into what format 1 wrote.
    auto meta = OpenMeta();
    ASSERT_TRUE(meta);
    auto rec =
        LoadRecord<store::v1::AssetRecord>(*meta, keys::Asset("default", id.bytes()), "X", "a");
    auto ns = LoadRecord<store::v1::NamespaceRecord>(*meta, keys::Namespace("default"), "X", "ns");
    ASSERT_TRUE(rec.ok() && ns.ok());
    rec->clear_sealed();
    (*rec->mutable_metadata())["secret"] = marker_;
    (*rec->mutable_metadata())["team"] = "blue";
    ns->clear_record_key_tag();
    ns->clear_record_key_wrapped();
    ns->clear_record_kms_key_id();
    const auto v = MarkedVector();
    AIFS_ASSERT_OK(RunTransaction(*meta, [&](MetaTxn& txn) -> Status {
      AIFS_RETURN_IF_ERROR(PutRecord(txn, keys::Asset("default", id.bytes()), *rec));
      AIFS_RETURN_IF_ERROR(PutRecord(txn, keys::Namespace("default"), *ns));
      return txn.Put(keys::Vector("default", "s", id.bytes()),
                     std::string(reinterpret_cast<const char*>(v.data()), kDim * 4));
    }));
  }
  std::filesystem::remove_all(dir_.Sub("index"));
  const std::string config = dir_.Sub("aifs.json");
  Bytes json = ReadFileBytes(config);
  std::string js(json.begin(), json.end());
  const std::string current = "\"format_version\": " + std::to_string(kStoreFormatVersion);
  const size_t fv = js.find(current);
  ASSERT_NE(fv, std::string::npos) << js;
  js.replace(fv, current.size(), "\"format_version\": 1");
  WriteFileBytes(config, ToBytes(js));

  Reopen(/*read_only=*/true);  // reads, and leaves the format alone
  ExpectReadable(id);
  EXPECT_NE(std::string(AsChars(ReadFileBytes(config))).find("\"format_version\": 1"),
            std::string::npos);
  Reopen();
  EXPECT_NE(std::string(AsChars(ReadFileBytes(config))).find(current), std::string::npos)
      << "a writable open marks the store as the current format";
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
  js.replace(fv, 19, "\"format_version\": 9");
  WriteFileBytes(config, ToBytes(js));
  EngineOptions eo;
  eo.data_dir = dir_.path();
  AIFS_EXPECT_STATUS(Engine::Open(eo).status(), kFailedPrecondition, "UNSUPPORTED_FORMAT");
}

}  // namespace
}  // namespace aifs::test
