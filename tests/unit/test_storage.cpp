// Storage layer: AES-256-GCM, compression, chunking, local KMS, the file
// chunk store and chunk sealing.
#include <gtest/gtest.h>
#include <sys/stat.h>
#include <zstd.h>

#include <array>
#include <map>
#include <set>
#include <sstream>
#include <string>
#include <thread>

#include "aifs/core/blake3.h"
#include "aifs/core/hex.h"
#include "aifs/storage/aead.h"
#include "aifs/storage/chunk_sealer.h"
#include "aifs/storage/chunk_store.h"
#include "aifs/storage/chunker.h"
#include "aifs/storage/compression.h"
#include "aifs/storage/kms.h"
#include "test_util.h"

namespace aifs::test {
namespace {

Bytes Unhex(const std::string& hex) {
  auto b = HexDecode(hex);
  EXPECT_TRUE(b.has_value()) << hex;
  return b ? *b : Bytes{};
}
AesKey KeyFrom(const std::string& hex) {
  AesKey k{};
  Bytes b = Unhex(hex);
  EXPECT_EQ(b.size(), k.size());
  std::copy_n(b.begin(), std::min(b.size(), k.size()), k.begin());
  return k;
}
GcmNonce NonceFrom(const std::string& hex) {
  GcmNonce n{};
  Bytes b = Unhex(hex);
  EXPECT_EQ(b.size(), n.size());
  std::copy_n(b.begin(), std::min(b.size(), n.size()), n.begin());
  return n;
}

// ---------------------------------------------------------------- AES-256-GCM

struct GcmVector {
  const char* name;
  const char* key;
  const char* iv;
  const char* plaintext;
  const char* aad;
  const char* ciphertext;
  const char* tag;
};

// McGrew & Viega, "The Galois/Counter Mode of Operation (GCM)", test cases
// 13-16 (256-bit keys). Also checked against python3 `cryptography`.
const GcmVector kGcmVectors[] = {
    {"TC13", "0000000000000000000000000000000000000000000000000000000000000000",
     "000000000000000000000000", "", "", "", "530f8afbc74536b9a963b4f1c4cb738b"},
    {"TC14", "0000000000000000000000000000000000000000000000000000000000000000",
     "000000000000000000000000", "00000000000000000000000000000000", "",
     "cea7403d4d606b6e074ec5d3baf39d18", "d0d1c8a799996bf0265b98b5d48ab919"},
    {"TC15", "feffe9928665731c6d6a8f9467308308feffe9928665731c6d6a8f9467308308",
     "cafebabefacedbaddecaf888",
     "d9313225f88406e5a55909c5aff5269a86a7a9531534f7da2e4c303d8a318a72"
     "1c3c0c95956809532fcf0e2449a6b525b16aedf5aa0de657ba637b391aafd255",
     "",
     "522dc1f099567d07f47f37a32a84427d643a8cdcbfe5c0c97598a2bd2555d1aa"
     "8cb08e48590dbb3da7b08b1056828838c5f61e6393ba7a0abcc9f662898015ad",
     "b094dac5d93471bdec1a502270e3cc6c"},
    {"TC16", "feffe9928665731c6d6a8f9467308308feffe9928665731c6d6a8f9467308308",
     "cafebabefacedbaddecaf888",
     "d9313225f88406e5a55909c5aff5269a86a7a9531534f7da2e4c303d8a318a72"
     "1c3c0c95956809532fcf0e2449a6b525b16aedf5aa0de657ba637b39",
     "feedfacedeadbeeffeedfacedeadbeefabaddad2",
     "522dc1f099567d07f47f37a32a84427d643a8cdcbfe5c0c97598a2bd2555d1aa"
     "8cb08e48590dbb3da7b08b1056828838c5f61e6393ba7a0abcc9f662",
     "76fc6ece0f4e1768cddf8853bb2d551b"},
};

TEST(AesGcm, SpecificationVectors) {
  for (const GcmVector& v : kGcmVectors) {
    SCOPED_TRACE(v.name);
    const AesKey key = KeyFrom(v.key);
    const GcmNonce nonce = NonceFrom(v.iv);
    const Bytes pt = Unhex(v.plaintext), aad = Unhex(v.aad);
    Bytes sealed;
    AIFS_ASSERT_OK(AesGcmSeal(key, nonce, aad, pt, sealed));
    EXPECT_EQ(HexEncode(sealed), std::string(v.ciphertext) + v.tag);

    Bytes opened = {1, 2, 3};  // stale content must not survive
    AIFS_ASSERT_OK(AesGcmOpen(key, nonce, aad, sealed, opened));
    EXPECT_EQ(opened, pt);
  }
}

TEST(AesGcm, SealAppendsToOutput) {
  const AesKey key = KeyFrom(kGcmVectors[1].key);
  const GcmNonce nonce = NonceFrom(kGcmVectors[1].iv);
  Bytes out = {0xde, 0xad};
  AIFS_ASSERT_OK(AesGcmSeal(key, nonce, {}, Bytes(16, 0), out));
  EXPECT_EQ(HexEncode(out), std::string("dead") + kGcmVectors[1].ciphertext + kGcmVectors[1].tag);
}

TEST(AesGcm, EveryFlippedBitIsDataLoss) {
  const AesKey key = KeyFrom("000102030405060708090a0b0c0d0e0f101112131415161718191a1b1c1d1e1f");
  const GcmNonce nonce = NonceFrom("0f0e0d0c0b0a090807060504");
  const Bytes pt = RandomBytes(37, 1);
  const Bytes aad = ToBytes("aad: namespace/chunk");
  Bytes sealed;
  AIFS_ASSERT_OK(AesGcmSeal(key, nonce, aad, pt, sealed));
  ASSERT_EQ(sealed.size(), pt.size() + kGcmTagSize);
  Bytes out;
  AIFS_ASSERT_OK(AesGcmOpen(key, nonce, aad, sealed, out));
  ASSERT_EQ(out, pt);

  // Ciphertext and tag.
  for (size_t bit = 0; bit < sealed.size() * 8; ++bit) {
    Bytes bad = sealed;
    bad[bit / 8] ^= static_cast<uint8_t>(1u << (bit % 8));
    Bytes o = {9};
    Status st = AesGcmOpen(key, nonce, aad, bad, o);
    ASSERT_TRUE(IsStatus(st, Code::kDataLoss, "DECRYPT_FAILED")) << "bit " << bit;
    ASSERT_TRUE(o.empty()) << "output not cleared, bit " << bit;
  }
  // AAD.
  for (size_t bit = 0; bit < aad.size() * 8; ++bit) {
    Bytes bad = aad;
    bad[bit / 8] ^= static_cast<uint8_t>(1u << (bit % 8));
    Bytes o;
    ASSERT_TRUE(IsStatus(AesGcmOpen(key, nonce, bad, sealed, o), Code::kDataLoss, "DECRYPT_FAILED"))
        << "aad bit " << bit;
  }
  // Nonce.
  for (size_t bit = 0; bit < nonce.size() * 8; ++bit) {
    GcmNonce bad = nonce;
    bad[bit / 8] ^= static_cast<uint8_t>(1u << (bit % 8));
    Bytes o;
    ASSERT_TRUE(IsStatus(AesGcmOpen(key, bad, aad, sealed, o), Code::kDataLoss, "DECRYPT_FAILED"))
        << "nonce bit " << bit;
  }
  // Key.
  for (size_t bit = 0; bit < key.size() * 8; bit += 7) {
    AesKey bad = key;
    bad[bit / 8] ^= static_cast<uint8_t>(1u << (bit % 8));
    Bytes o;
    ASSERT_TRUE(IsStatus(AesGcmOpen(bad, nonce, aad, sealed, o), Code::kDataLoss, "DECRYPT_FAILED"))
        << "key bit " << bit;
  }
  // Missing / extra AAD, truncation, extension, custom reason.
  Bytes o;
  AIFS_EXPECT_STATUS(AesGcmOpen(key, nonce, {}, sealed, o), kDataLoss, "DECRYPT_FAILED");
  Bytes longer = sealed;
  longer.push_back(0);
  AIFS_EXPECT_STATUS(AesGcmOpen(key, nonce, aad, longer, o), kDataLoss, "DECRYPT_FAILED");
  for (size_t cut : {size_t{0}, size_t{1}, size_t{15}, size_t{16}, sealed.size() - 1}) {
    Bytes shorter(sealed.begin(), sealed.begin() + static_cast<ptrdiff_t>(cut));
    AIFS_EXPECT_STATUS(AesGcmOpen(key, nonce, aad, shorter, o), kDataLoss, "DECRYPT_FAILED")
        << "truncated to " << cut;
  }
  Bytes bad = sealed;
  bad[0] ^= 1;
  AIFS_EXPECT_STATUS(AesGcmOpen(key, nonce, aad, bad, o, "MY_REASON"), kDataLoss, "MY_REASON");
}

TEST(AesGcm, EmptyAadEqualsNoAad) {
  // GCM with an empty AAD is the same as without: TC13/14 have none.
  const AesKey key = KeyFrom(kGcmVectors[0].key);
  const GcmNonce nonce = NonceFrom(kGcmVectors[0].iv);
  Bytes a, b;
  AIFS_ASSERT_OK(AesGcmSeal(key, nonce, ByteSpan(), Bytes(16, 0), a));
  AIFS_ASSERT_OK(AesGcmSeal(key, nonce, Bytes{}, Bytes(16, 0), b));
  EXPECT_EQ(a, b);
}

TEST(AesGcm, LargeRoundTrip) {
  const AesKey key = KeyFrom("8899aabbccddeeff00112233445566778899aabbccddeeff0011223344556677");
  const GcmNonce nonce = NonceFrom("a1a2a3a4a5a6a7a8a9aaabac");
  const Bytes pt = RandomBytes(3 * 1024 * 1024 + 11, 5);
  Bytes sealed, out;
  AIFS_ASSERT_OK(AesGcmSeal(key, nonce, AsBytes("x"), pt, sealed));
  EXPECT_NE(Slice(sealed, 0, 4096), Slice(pt, 0, 4096));
  AIFS_ASSERT_OK(AesGcmOpen(key, nonce, AsBytes("x"), sealed, out));
  EXPECT_EQ(out, pt);
}

// ---------------------------------------------------------------- Compression

Bytes ZstdDecompressIndependently(const Bytes& frame) {
  unsigned long long size = ZSTD_getFrameContentSize(frame.data(), frame.size());
  if (size == ZSTD_CONTENTSIZE_ERROR || size == ZSTD_CONTENTSIZE_UNKNOWN) return {};
  Bytes out(size);
  size_t n = ZSTD_decompress(out.data(), out.size(), frame.data(), frame.size());
  if (ZSTD_isError(n)) return {};
  out.resize(n);
  return out;
}

TEST(Compression, RandomDataIsStoredRaw) {
  CompressionPolicy policy;
  for (size_t n : {size_t{100}, size_t{4096}, size_t{65536}, size_t{70000}, size_t{1 << 20}}) {
    Bytes out;
    EXPECT_FALSE(MaybeCompress(RandomBytes(n, n), policy, out)) << n;
  }
}

TEST(Compression, TextCompressesAndRoundTrips) {
  CompressionPolicy policy;
  for (size_t n : {size_t{256}, size_t{1000}, size_t{65536}, size_t{300000}, size_t{4 << 20}}) {
    const Bytes text = TextBytes(n, n);
    Bytes packed;
    ASSERT_TRUE(MaybeCompress(text, policy, packed)) << n;
    EXPECT_LE(static_cast<double>(packed.size()), 0.9 * static_cast<double>(n)) << n;
    // A valid zstd frame: the library decodes it on its own.
    EXPECT_EQ(ZstdDecompressIndependently(packed), text) << n;
    Bytes back;
    AIFS_ASSERT_OK(Decompress(packed, text.size(), back));
    EXPECT_EQ(back, text);
  }
}

TEST(Compression, PolicyIsHonoured) {
  const Bytes text = TextBytes(100000, 3);
  Bytes out;
  EXPECT_FALSE(MaybeCompress(text, CompressionPolicy{0, 0.10}, out)) << "level 0 is off";
  EXPECT_FALSE(MaybeCompress(TextBytes(63, 1), CompressionPolicy{}, out)) << "tiny input";
  // Half text, half random: saves ~half, so a 90% saving requirement refuses it.
  Bytes mixed = Concat({TextBytes(50000, 1), RandomBytes(50000, 2)});
  EXPECT_TRUE(MaybeCompress(mixed, CompressionPolicy{1, 0.10}, out));
  EXPECT_FALSE(MaybeCompress(mixed, CompressionPolicy{1, 0.90}, out));
  // Compressible at the sampled places but random elsewhere must not be
  // stored compressed unless it really saves: whatever MaybeCompress says,
  // a true answer means a real saving.
  Bytes tricky = RandomBytes(1 << 20, 9);
  for (size_t s = 0; s < 4; ++s) {
    size_t stride = (tricky.size() - 4096) / 3;
    Bytes t = TextBytes(4096, s);
    std::copy(t.begin(), t.end(), tricky.begin() + static_cast<ptrdiff_t>(s * stride));
  }
  Bytes packed;
  if (MaybeCompress(tricky, CompressionPolicy{}, packed)) {
    EXPECT_LE(static_cast<double>(packed.size()), 0.9 * static_cast<double>(tricky.size()));
  }
}

// A chunk of at most 64 KiB is not sampled: one longer than 16 KiB is tried
// on its first 16 KiB (incompressible: no zstd attempt at all), a shorter one
// is left to its segment's own attempt.
TEST(Compression, SmallChunksAreTriedOnTheirStart) {
  const CompressionPolicy policy;
  for (size_t n : {size_t{16385}, size_t{40000}, size_t{65536}}) {
    EXPECT_FALSE(PlanCompression(RandomBytes(n, n), policy, kNoGrouping).zstd) << n;
    EXPECT_TRUE(PlanCompression(TextBytes(n, n), policy, kNoGrouping).zstd) << n;
    // Text after a random start: judged on the start, stored raw.
    const Bytes mixed = Concat({RandomBytes(16384, n), TextBytes(n - 16384, n)});
    EXPECT_FALSE(PlanCompression(mixed, policy, kNoGrouping).zstd) << n;
  }
  for (size_t n : {size_t{100}, size_t{16384}})  // its segment tries (and fails) itself
    EXPECT_TRUE(PlanCompression(RandomBytes(n, n), policy, kNoGrouping).zstd) << n;
  // Float data that zstd alone hardly shrinks is still grouped.
  const Bytes floats = FloatField(40000 / 4, 5);
  EXPECT_EQ(PlanCompression(floats, policy, kGroupingTrial).group_width, 4u);
}

TEST(Compression, DecompressRejectsGarbageAndWrongSizes) {
  const Bytes text = TextBytes(20000, 7);
  Bytes packed;
  ASSERT_TRUE(MaybeCompress(text, CompressionPolicy{}, packed));
  Bytes out;
  AIFS_EXPECT_STATUS(Decompress(RandomBytes(1000, 1), 20000, out), kDataLoss, "CHUNK_CORRUPT");
  AIFS_EXPECT_STATUS(Decompress(Bytes{}, 20000, out), kDataLoss, "CHUNK_CORRUPT");
  AIFS_EXPECT_STATUS(Decompress(packed, text.size() - 1, out), kDataLoss, "CHUNK_CORRUPT");
  AIFS_EXPECT_STATUS(Decompress(packed, text.size() + 1, out), kDataLoss, "CHUNK_CORRUPT");
  AIFS_EXPECT_STATUS(Decompress(packed, 0, out), kDataLoss, "CHUNK_CORRUPT");
  Bytes truncated(packed.begin(), packed.end() - 5);
  AIFS_EXPECT_STATUS(Decompress(truncated, text.size(), out), kDataLoss, "CHUNK_CORRUPT");
  Bytes trailing = packed;
  trailing.insert(trailing.end(), {1, 2, 3, 4, 5, 6, 7, 8});
  AIFS_EXPECT_STATUS(Decompress(trailing, text.size(), out), kDataLoss, "CHUNK_CORRUPT");
  AIFS_EXPECT_OK(Decompress(packed, text.size(), out));
  EXPECT_EQ(out, text);
}

// ---------------------------------------------------------------- Chunker

TEST(ChunkerTest, ValidateParams) {
  AIFS_EXPECT_OK(ChunkerParams{}.Validate());
  AIFS_EXPECT_OK(SmallChunks().Validate());
  for (ChunkerParams bad : {ChunkerParams{4096, 4096, 65536}, ChunkerParams{4096, 65536, 65536},
                            ChunkerParams{8192, 4096, 65536}, ChunkerParams{0, 255, 1024},
                            ChunkerParams{1024, 4096, (64u << 20) + 1}}) {
    AIFS_EXPECT_STATUS(bad.Validate(), kInvalidArgument, "BAD_CHUNK_PARAMS")
        << bad.min_size << "/" << bad.avg_size << "/" << bad.max_size;
  }
  AIFS_EXPECT_OK((ChunkerParams{1024, 4096, 64u << 20}.Validate()));
}

TEST(ChunkerTest, SmallInputsAndLimits) {
  Chunker c(SmallChunks());
  EXPECT_EQ(c.NextCut(ByteSpan()), 0u);
  const Bytes data = RandomBytes(200000, 4);
  for (size_t n : {size_t{1}, size_t{100}, size_t{4095}, size_t{4096}})
    EXPECT_EQ(c.NextCut(ByteSpan(data).subspan(0, n)), n) << n;
  for (size_t n : {size_t{4097}, size_t{20000}, size_t{65535}, size_t{65536}, size_t{65537},
                   size_t{200000}}) {
    size_t cut = c.NextCut(ByteSpan(data).subspan(0, n));
    EXPECT_LE(cut, std::min<size_t>(n, 65536)) << n;
    EXPECT_GE(cut, 4096u) << n;
  }
  // Zeros: no content to cut on; every chunk is max-sized (or cut) but never longer.
  const Bytes zeros(300000, 0);
  auto cuts = CutLikeEngine(c, zeros, {});
  size_t total = 0;
  for (size_t i = 0; i < cuts.size(); ++i) {
    EXPECT_LE(cuts[i], 65536u);
    if (i + 1 < cuts.size()) { EXPECT_GE(cuts[i], 4096u); }
    total += cuts[i];
  }
  EXPECT_EQ(total, zeros.size());
}

TEST(ChunkerTest, DeterministicAndBounded) {
  const Bytes data = RandomBytes(4 << 20, 11);
  for (ChunkerParams p : {SmallChunks(), ChunkerParams{1024, 4096, 16384}, ChunkerParams{}}) {
    Chunker a(p), b(p);
    auto ca = CutLikeEngine(a, data, {});
    auto cb = CutLikeEngine(b, data, {});
    EXPECT_EQ(ca, cb);
    size_t total = 0;
    for (size_t i = 0; i < ca.size(); ++i) {
      EXPECT_LE(ca[i], p.max_size) << "chunk " << i;
      if (i + 1 < ca.size()) { EXPECT_GE(ca[i], p.min_size) << "chunk " << i; }
      EXPECT_GT(ca[i], 0u);
      total += ca[i];
    }
    EXPECT_EQ(total, data.size());
  }
}

TEST(ChunkerTest, CutsDoNotDependOnHowTheStreamIsSplit) {
  Chunker c(SmallChunks());
  const Bytes data = RandomBytes(1 << 20, 12);
  const auto reference = CutLikeEngine(c, data, {});
  ASSERT_GT(reference.size(), 20u);
  const std::vector<std::vector<size_t>> splits = {
      {1},         {7, 1, 13},   {4095, 4097}, {65535},           {65536},
      {65537, 3},  {100000},     RandomPieces(200, 3000, 1),      RandomPieces(50, 200000, 2)};
  for (const auto& pieces : splits)
    EXPECT_EQ(CutLikeEngine(c, data, pieces), reference) << "pieces[0]=" << pieces[0];
}

std::map<std::string, int> ChunkHashes(const Bytes& data, const std::vector<size_t>& cuts) {
  std::map<std::string, int> out;
  size_t off = 0;
  for (size_t len : cuts) {
    ++out[HexEncode(Blake3::Hash(ByteSpan(data).subspan(off, len)))];
    off += len;
  }
  return out;
}

TEST(ChunkerTest, ShiftResistance) {
  Chunker c(SmallChunks());
  const Bytes original = RandomBytes(8 << 20, 13);
  const Bytes insert = RandomBytes(100, 14);
  Bytes edited(original.begin(), original.begin() + (4 << 20));
  edited.insert(edited.end(), insert.begin(), insert.end());
  edited.insert(edited.end(), original.begin() + (4 << 20), original.end());

  const auto cuts_a = CutLikeEngine(c, original, {});
  const auto cuts_b = CutLikeEngine(c, edited, {});
  const auto ha = ChunkHashes(original, cuts_a);
  const auto hb = ChunkHashes(edited, cuts_b);
  size_t shared = 0;
  for (const auto& [h, n] : hb)
    if (ha.count(h)) shared += static_cast<size_t>(n);
  const double frac = static_cast<double>(shared) / static_cast<double>(cuts_b.size());
  std::cout << "REPORT chunker-shift-resistance: " << shared << "/" << cuts_b.size()
            << " chunks shared after a 100-byte insert (" << 100.0 * frac << "%)\n";
  EXPECT_GE(frac, 0.80);
  // Only the chunks around the edit may differ.
  EXPECT_LE(cuts_b.size() - shared, 4u);
}

TEST(ChunkerTest, AverageSizeNearTarget) {
  const Bytes data = RandomBytes(16 << 20, 15);
  for (ChunkerParams p : {SmallChunks(), ChunkerParams{1024, 4096, 16384},
                          ChunkerParams{16384, 65536, 262144}}) {
    Chunker c(p);
    auto cuts = CutLikeEngine(c, data, {});
    const double avg = static_cast<double>(data.size()) / static_cast<double>(cuts.size());
    EXPECT_GE(avg, p.avg_size / 2.0) << "avg " << p.avg_size << " got " << avg;
    EXPECT_LE(avg, p.avg_size * 2.0) << "avg " << p.avg_size << " got " << avg;
    size_t at_max = 0;
    for (size_t len : cuts) at_max += len == p.max_size;
    EXPECT_LT(at_max * 20, cuts.size()) << "too many chunks hit max_size";
  }
}

// ---------------------------------------------------------------- Local KMS

class KmsTest : public ::testing::Test {
 protected:
  std::string KeyPath() const { return dir_.Sub("kms/master.keys"); }
  std::unique_ptr<Kms> MustOpen(bool create) {
    std::filesystem::create_directories(dir_.Sub("kms"));
    auto k = OpenKms("local://" + KeyPath(), create);
    EXPECT_TRUE(k.ok()) << k.status().ToString();
    return k.ok() ? std::move(k).value() : nullptr;
  }
  TempDir dir_;
};

AesKey RandomKey(uint64_t seed) {
  Bytes b = RandomBytes(32, seed);
  AesKey k;
  std::copy(b.begin(), b.end(), k.begin());
  return k;
}

TEST_F(KmsTest, CreateWrapUnwrap) {
  auto kms = MustOpen(true);
  ASSERT_TRUE(kms);
  EXPECT_EQ(FileMode(KeyPath()), 0600u);
  EXPECT_EQ(kms->Kind(), "local");
  const std::string v1 = kms->CurrentKeyId();
  EXPECT_FALSE(v1.empty());
  auto keys = kms->ListKeys();
  ASSERT_EQ(keys.size(), 1u);
  EXPECT_EQ(keys[0].key_id, v1);
  EXPECT_TRUE(keys[0].current);

  const AesKey dk = RandomKey(1);
  const Bytes ctx = RandomBytes(50, 2);
  auto w = kms->Wrap(dk, ctx);
  ASSERT_TRUE(w.ok()) << w.status().ToString();
  EXPECT_EQ(w->key_id, v1);
  // The wrapped blob does not contain the data key in the clear.
  const std::string blob_hex = HexEncode(w->blob);
  EXPECT_EQ(blob_hex.find(HexEncode(dk)), std::string::npos);
  EXPECT_EQ(blob_hex.find(HexEncode(ByteSpan(dk).subspan(0, 8))), std::string::npos);
  auto u = kms->Unwrap(w->key_id, w->blob, ctx);
  ASSERT_TRUE(u.ok()) << u.status().ToString();
  EXPECT_EQ(*u, dk);

  // Two wraps of the same key differ (fresh nonce) and both unwrap.
  auto w2 = kms->Wrap(dk, ctx);
  ASSERT_TRUE(w2.ok());
  EXPECT_NE(w2->blob, w->blob);
  auto u2 = kms->Unwrap(w2->key_id, w2->blob, ctx);
  ASSERT_TRUE(u2.ok());
  EXPECT_EQ(*u2, dk);
}

TEST_F(KmsTest, UnwrapFailures) {
  auto kms = MustOpen(true);
  ASSERT_TRUE(kms);
  const AesKey dk = RandomKey(3);
  const Bytes ctx = ToBytes(std::string_view("ns\0hash", 7));
  auto w = kms->Wrap(dk, ctx);
  ASSERT_TRUE(w.ok());

  // Wrong context.
  Bytes other_ctx = ctx;
  other_ctx.back() ^= 1;
  for (const Bytes& bad_ctx : {other_ctx, Bytes{}, Concat({ctx, AsBytes("x")})}) {
    auto r = kms->Unwrap(w->key_id, w->blob, bad_ctx);
    ASSERT_FALSE(r.ok());
    EXPECT_EQ(r.status().code(), Code::kDataLoss) << r.status().ToString();
  }
  // Tampered blob, any byte.
  for (size_t i = 0; i < w->blob.size(); ++i) {
    Bytes bad = w->blob;
    bad[i] ^= 0x20;
    auto r = kms->Unwrap(w->key_id, bad, ctx);
    ASSERT_FALSE(r.ok()) << "byte " << i;
    EXPECT_EQ(r.status().code(), Code::kDataLoss) << r.status().ToString();
  }
  // Wrong lengths.
  for (size_t len : {size_t{0}, size_t{12}, w->blob.size() - 1}) {
    auto r = kms->Unwrap(w->key_id, ByteSpan(w->blob).subspan(0, len), ctx);
    ASSERT_FALSE(r.ok());
    EXPECT_EQ(r.status().code(), Code::kDataLoss) << r.status().ToString();
  }
  // Unknown or foreign key IDs.
  for (const char* id : {"local:v2", "local:v0", "local:", "other:v1", "", "v1"}) {
    auto r = kms->Unwrap(id, w->blob, ctx);
    ASSERT_FALSE(r.ok()) << id;
    AIFS_EXPECT_STATUS(r.status(), kFailedPrecondition, "KMS_KEY_UNAVAILABLE") << id;
  }
  // A different keyfile (same key ID "local:v1") never yields a key.
  TempDir other;
  auto kms2 = OpenKms("local://" + other.Sub("k.keys"), true);
  ASSERT_TRUE(kms2.ok());
  ASSERT_EQ((*kms2)->CurrentKeyId(), w->key_id);
  auto r = (*kms2)->Unwrap(w->key_id, w->blob, ctx);
  ASSERT_FALSE(r.ok());
  EXPECT_EQ(r.status().code(), Code::kDataLoss);
}

TEST_F(KmsTest, RotateKeepsOldKeysAcrossReopen) {
  const AesKey dk1 = RandomKey(10), dk2 = RandomKey(11);
  const Bytes ctx = ToBytes("context");
  WrappedKey w1, w2;
  std::string v1, v2;
  {
    auto kms = MustOpen(true);
    ASSERT_TRUE(kms);
    v1 = kms->CurrentKeyId();
    auto a = kms->Wrap(dk1, ctx);
    ASSERT_TRUE(a.ok());
    w1 = *a;
    auto rot = kms->Rotate();
    ASSERT_TRUE(rot.ok()) << rot.status().ToString();
    v2 = *rot;
    EXPECT_NE(v2, v1);
    EXPECT_EQ(kms->CurrentKeyId(), v2);
    EXPECT_EQ(FileMode(KeyPath()), 0600u);
    auto b = kms->Wrap(dk2, ctx);
    ASSERT_TRUE(b.ok());
    w2 = *b;
    EXPECT_EQ(w2.key_id, v2);
    EXPECT_EQ(w1.key_id, v1);
    auto keys = kms->ListKeys();
    ASSERT_EQ(keys.size(), 2u);
    std::set<std::string> ids = {keys[0].key_id, keys[1].key_id};
    EXPECT_EQ(ids, (std::set<std::string>{v1, v2}));
    for (const auto& k : keys) EXPECT_EQ(k.current, k.key_id == v2);
  }
  auto kms = MustOpen(false);
  ASSERT_TRUE(kms);
  EXPECT_EQ(kms->CurrentKeyId(), v2);
  auto u1 = kms->Unwrap(w1.key_id, w1.blob, ctx);
  ASSERT_TRUE(u1.ok()) << u1.status().ToString();
  EXPECT_EQ(*u1, dk1);
  auto u2 = kms->Unwrap(w2.key_id, w2.blob, ctx);
  ASSERT_TRUE(u2.ok()) << u2.status().ToString();
  EXPECT_EQ(*u2, dk2);
  // A blob wrapped under v1 does not unwrap when presented as v2.
  auto cross = kms->Unwrap(v2, w1.blob, ctx);
  EXPECT_FALSE(cross.ok());
  // Rotate again after reopening: versions keep growing.
  auto v3 = kms->Rotate();
  ASSERT_TRUE(v3.ok());
  EXPECT_NE(*v3, v1);
  EXPECT_NE(*v3, v2);
}

// Two servers of one store on one keyfile (two KMS instances standing for
// two processes): a rotation through either reaches the other, and neither
// drops the other's key versions.
TEST_F(KmsTest, ProcessesSharingAKeyfileSeeEachOthersRotations) {
  auto a = MustOpen(true);
  auto b = MustOpen(false);
  ASSERT_TRUE(a && b);
  const Bytes ctx = ToBytes("context");
  auto v2 = a->Rotate();
  ASSERT_TRUE(v2.ok()) << v2.status().ToString();
  auto w = a->Wrap(RandomKey(20), ctx);
  ASSERT_TRUE(w.ok());
  EXPECT_EQ(w->key_id, *v2);
  auto u = b->Unwrap(w->key_id, w->blob, ctx);  // b had never heard of v2
  ASSERT_TRUE(u.ok()) << u.status().ToString();
  EXPECT_EQ(*u, RandomKey(20));
  auto wb = b->WrapWith(*v2, RandomKey(21), ctx);
  ASSERT_TRUE(wb.ok()) << wb.status().ToString();
  // b wraps new keys under v2 within a second (it re-reads a changed file at
  // most once a second).
  const auto t0 = std::chrono::steady_clock::now();
  while (b->CurrentKeyId() != *v2 &&
         std::chrono::steady_clock::now() - t0 < std::chrono::seconds(5))
    std::this_thread::sleep_for(std::chrono::milliseconds(50));
  EXPECT_EQ(b->CurrentKeyId(), *v2);

  // b rotates on the file as it is now: v3, with v2 kept.
  auto v3 = b->Rotate();
  ASSERT_TRUE(v3.ok()) << v3.status().ToString();
  EXPECT_EQ(*v3, "local:v3");
  auto fresh = MustOpen(false);
  ASSERT_TRUE(fresh);
  EXPECT_EQ(fresh->ListKeys().size(), 3u);
  AIFS_EXPECT_OK(fresh->Unwrap(w->key_id, w->blob, ctx).status());
  AIFS_EXPECT_OK(a->Unwrap(wb->key_id, wb->blob, ctx).status());
}

TEST_F(KmsTest, ConcurrentRotationsThroughTwoProcessesKeepEveryVersion) {
  auto a = MustOpen(true);
  auto b = MustOpen(false);
  ASSERT_TRUE(a && b);
  const Bytes ctx = ToBytes("context");
  std::vector<WrappedKey> wrapped[2];
  auto rotate_and_wrap = [&](Kms& kms, int who) {
    for (int i = 0; i < 10; ++i) {
      auto v = kms.Rotate();
      ASSERT_TRUE(v.ok()) << v.status().ToString();
      auto w = kms.WrapWith(*v, RandomKey(100 * who + i), ctx);
      ASSERT_TRUE(w.ok()) << w.status().ToString();
      wrapped[who].push_back(*w);
    }
  };
  std::thread ta([&] { rotate_and_wrap(*a, 0); });
  std::thread tb([&] { rotate_and_wrap(*b, 1); });
  ta.join();
  tb.join();
  auto fresh = MustOpen(false);
  ASSERT_TRUE(fresh);
  EXPECT_EQ(fresh->ListKeys().size(), 21u);
  EXPECT_EQ(fresh->CurrentKeyId(), "local:v21");
  for (int who = 0; who < 2; ++who)
    for (size_t i = 0; i < wrapped[who].size(); ++i) {
      auto u = fresh->Unwrap(wrapped[who][i].key_id, wrapped[who][i].blob, ctx);
      ASSERT_TRUE(u.ok()) << u.status().ToString();
      EXPECT_EQ(*u, RandomKey(100 * who + i));
    }
}

// A keyfile replaced by one that lacks or changed a key this process uses
// (an old backup restored under a running server) is refused, not taken.
TEST_F(KmsTest, KeyfileThatLostAKeyInUseIsRefused) {
  auto a = MustOpen(true);
  ASSERT_TRUE(a);
  const std::string old_file = dir_.Sub("old.keys");
  std::filesystem::copy_file(KeyPath(), old_file);
  auto v2 = a->Rotate();
  ASSERT_TRUE(v2.ok());
  // The old file comes back, and another process rotates on it: its v2 is
  // another key than a's v2.
  std::filesystem::copy_file(old_file, KeyPath(),
                             std::filesystem::copy_options::overwrite_existing);
  {
    auto other = MustOpen(false);
    ASSERT_TRUE(other);
    ASSERT_TRUE(other->Rotate().ok());
    ASSERT_TRUE(other->Rotate().ok());  // and v3
  }
  AIFS_EXPECT_STATUS(a->Rotate().status(), kDataLoss, "KMS_KEY_CHANGED");
  AIFS_EXPECT_STATUS(a->Unwrap("local:v3", Bytes(60), ToBytes("c")).status(), kDataLoss,
                     "KMS_KEY_CHANGED");
  // What a holds keeps working.
  auto w = a->WrapWith(*v2, RandomKey(30), ToBytes("c"));
  ASSERT_TRUE(w.ok());
  AIFS_EXPECT_OK(a->Unwrap(w->key_id, w->blob, ToBytes("c")).status());
}

TEST_F(KmsTest, InsecureKeyfileIsRefused) {
  ASSERT_TRUE(MustOpen(true));
  for (mode_t mode : {0644, 0640, 0604, 0660, 0601}) {
    ASSERT_EQ(::chmod(KeyPath().c_str(), mode), 0);
    auto k = OpenKms("local://" + KeyPath(), false);
    ASSERT_FALSE(k.ok()) << std::oct << mode;
    AIFS_EXPECT_STATUS(k.status(), kFailedPrecondition, "KMS_KEYFILE_INSECURE") << std::oct << mode;
    // create=true must not "repair" an existing insecure keyfile either.
    auto k2 = OpenKms("local://" + KeyPath(), true);
    ASSERT_FALSE(k2.ok());
    AIFS_EXPECT_STATUS(k2.status(), kFailedPrecondition, "KMS_KEYFILE_INSECURE");
  }
  ASSERT_EQ(::chmod(KeyPath().c_str(), 0600), 0);
  EXPECT_TRUE(OpenKms("local://" + KeyPath(), false).ok());
  ASSERT_EQ(::chmod(KeyPath().c_str(), 0400), 0);
  EXPECT_TRUE(OpenKms("local://" + KeyPath(), false).ok());
}

TEST_F(KmsTest, MissingOrCorruptKeyfile) {
  auto k = OpenKms("local://" + KeyPath(), false);
  ASSERT_FALSE(k.ok());
  AIFS_EXPECT_STATUS(k.status(), kFailedPrecondition, "KMS_KEY_UNAVAILABLE");
  EXPECT_FALSE(std::filesystem::exists(KeyPath())) << "create=false must not create a keyfile";

  std::filesystem::create_directories(dir_.Sub("kms"));
  for (const std::string& text :
       {std::string("garbage\n"), std::string("aifs-local-kms 1\n"),
        std::string("aifs-local-kms 1\nkey 1 0 abcd\n"),
        std::string("aifs-local-kms 1\nkey 0 0 ") + std::string(64, 'a') + "\n",
        std::string("aifs-local-kms 1\nkey 1 0 ") + std::string(64, 'A') + "\n"}) {
    WriteFileBytes(KeyPath(), AsBytes(text));
    ASSERT_EQ(::chmod(KeyPath().c_str(), 0600), 0);
    auto r = OpenKms("local://" + KeyPath(), false);
    ASSERT_FALSE(r.ok()) << text;
    AIFS_EXPECT_STATUS(r.status(), kDataLoss, "KMS_KEYFILE_CORRUPT") << text;
  }
  AIFS_EXPECT_STATUS(OpenKms("vault://x", true).status(), kInvalidArgument, "UNSUPPORTED_KMS");
}

// ---------------------------------------------------------------- File chunk store
// (the contract of every backend: test_chunk_store.cpp)

// One file per object, nothing else: no leftover temporary files.
TEST(FileChunkStoreTest, FilesOnDiskAreExactlyTheObjects) {
  TempDir dir;
  auto cs = OpenChunkStore("file://" + dir.Sub("chunks"), true);
  ASSERT_TRUE(cs.ok()) << cs.status().ToString();
  std::vector<std::string> names;
  for (int i = 0; i < 20; ++i) {
    names.push_back(HexEncode(RandomBytes(16, 1000 + i)));
    AIFS_ASSERT_OK((*cs)->Put(names.back(), RandomBytes(static_cast<size_t>(i) * 997, 2000 + i)));
  }
  AIFS_ASSERT_OK((*cs)->Sync());
  EXPECT_EQ(TallyFiles(dir.Sub("chunks")).files, names.size());
  AIFS_ASSERT_OK((*cs)->Delete(names[0]));
  EXPECT_EQ(TallyFiles(dir.Sub("chunks")).files, names.size() - 1);
}

TEST(FileChunkStoreTest, RejectsMissingRootAndUnknownSchemes) {
  TempDir dir;
  EXPECT_FALSE(OpenChunkStore("file://" + dir.Sub("nope"), false).ok());
  EXPECT_EQ(TallyFiles(dir.path()).files, 0u);
  AIFS_EXPECT_STATUS(OpenChunkStore("nosuch://bucket", true).status(), kInvalidArgument,
                     "UNSUPPORTED_CHUNK_STORE");
}

// ---------------------------------------------------------------- Chunk sealing

class SealTest : public ::testing::Test {
 protected:
  void SetUp() override {
    auto k = OpenKms("local://" + dir_.Sub("master.keys"), true);
    ASSERT_TRUE(k.ok()) << k.status().ToString();
    kms_ = std::move(k).value();
  }
  TempDir dir_;
  std::unique_ptr<Kms> kms_;
};

TEST_F(SealTest, RoundTripRawAndCompressed) {
  for (bool text : {false, true}) {
    SCOPED_TRACE(text ? "text" : "random");
    const Bytes plain = text ? TextBytes(50000, 1) : RandomBytes(50000, 2);
    const Digest hash = Blake3::Hash(plain);
    Bytes object;
    store::v1::ChunkRecord rec;
    AIFS_ASSERT_OK(SealChunk(*kms_, "ns1", hash, plain, CompressionPolicy{}, object, rec));
    EXPECT_EQ(rec.plain_size(), plain.size());
    EXPECT_EQ(rec.stored_size(), object.size());
    EXPECT_EQ(rec.kms_key_id(), kms_->CurrentKeyId());
    EXPECT_EQ(rec.nonce().size(), 12u);
    if (text) {
      EXPECT_EQ(rec.compression(), store::v1::COMPRESSION_ZSTD);
      EXPECT_LT(object.size(), plain.size() / 2);
    } else {
      EXPECT_EQ(rec.compression(), store::v1::COMPRESSION_NONE);
      EXPECT_EQ(object.size(), plain.size() + kGcmTagSize);
    }
    // The object does not leak the plaintext.
    const std::string obj(object.begin(), object.end());
    EXPECT_EQ(obj.find(std::string(plain.begin(), plain.begin() + 32)), std::string::npos);
    Bytes back;
    AIFS_ASSERT_OK(OpenChunk(*kms_, "ns1", hash, rec, object, back));
    EXPECT_EQ(back, plain);

    // Sealing the same chunk twice gives different objects (fresh key, nonce).
    Bytes object2;
    store::v1::ChunkRecord rec2;
    AIFS_ASSERT_OK(SealChunk(*kms_, "ns1", hash, plain, CompressionPolicy{}, object2, rec2));
    EXPECT_NE(object2, object);
  }
}

TEST_F(SealTest, AnyAlteredByteIsChunkCorrupt) {
  const Bytes plain = RandomBytes(3000, 3);
  const Digest hash = Blake3::Hash(plain);
  Bytes object;
  store::v1::ChunkRecord rec;
  AIFS_ASSERT_OK(SealChunk(*kms_, "ns1", hash, plain, CompressionPolicy{}, object, rec));
  for (size_t i = 0; i < object.size(); i += 37) {
    Bytes bad = object;
    bad[i] ^= 0x01;
    Bytes out;
    ASSERT_TRUE(IsStatus(OpenChunk(*kms_, "ns1", hash, rec, bad, out), Code::kDataLoss,
                         "CHUNK_CORRUPT"))
        << "byte " << i;
  }
  Bytes bad = object;
  bad.back() ^= 0x80;
  Bytes out;
  AIFS_EXPECT_STATUS(OpenChunk(*kms_, "ns1", hash, rec, bad, out), kDataLoss, "CHUNK_CORRUPT");
  Bytes truncated(object.begin(), object.end() - 1);
  AIFS_EXPECT_STATUS(OpenChunk(*kms_, "ns1", hash, rec, truncated, out), kDataLoss,
                     "CHUNK_CORRUPT");
  AIFS_EXPECT_STATUS(OpenChunk(*kms_, "ns1", hash, rec, Bytes{}, out), kDataLoss, "CHUNK_CORRUPT");

  // Also for a compressed chunk.
  const Bytes text = TextBytes(40000, 4);
  const Digest th = Blake3::Hash(text);
  Bytes tobj;
  store::v1::ChunkRecord trec;
  AIFS_ASSERT_OK(SealChunk(*kms_, "ns1", th, text, CompressionPolicy{}, tobj, trec));
  ASSERT_EQ(trec.compression(), store::v1::COMPRESSION_ZSTD);
  for (size_t i = 0; i < tobj.size(); i += 101) {
    Bytes b = tobj;
    b[i] ^= 0x10;
    ASSERT_TRUE(
        IsStatus(OpenChunk(*kms_, "ns1", th, trec, b, out), Code::kDataLoss, "CHUNK_CORRUPT"))
        << "byte " << i;
  }
}

TEST_F(SealTest, ObjectIsBoundToNamespaceHashAndRecord) {
  const Bytes plain = TextBytes(20000, 5);
  const Digest hash = Blake3::Hash(plain);
  Bytes object;
  store::v1::ChunkRecord rec;
  AIFS_ASSERT_OK(SealChunk(*kms_, "ns1", hash, plain, CompressionPolicy{}, object, rec));
  Bytes out;
  auto expect_fail = [&](Status st, const char* what) {
    EXPECT_FALSE(st.ok()) << what;
    EXPECT_EQ(st.code(), Code::kDataLoss) << what << ": " << st.ToString();
  };
  expect_fail(OpenChunk(*kms_, "ns2", hash, rec, object, out), "other namespace");
  expect_fail(OpenChunk(*kms_, "ns", hash, rec, object, out), "prefix namespace");
  Digest other_hash = hash;
  other_hash[0] ^= 1;
  expect_fail(OpenChunk(*kms_, "ns1", other_hash, rec, object, out), "other hash");
  {
    auto r = rec;
    r.set_plain_size(rec.plain_size() + 1);
    expect_fail(OpenChunk(*kms_, "ns1", hash, r, object, out), "plain size");
  }
  {
    // Segments carry their own compression flags (bit 31 of each table entry).
    auto r = rec;
    std::string table = r.segment_table();
    ASSERT_FALSE(table.empty());
    table[3] = static_cast<char>(table[3] ^ 0x80);
    r.set_segment_table(table);
    expect_fail(OpenChunk(*kms_, "ns1", hash, r, object, out), "compression flag");
  }
  {
    auto r = rec;
    std::string wk = r.wrapped_key();
    wk[wk.size() / 2] ^= 4;
    r.set_wrapped_key(wk);
    expect_fail(OpenChunk(*kms_, "ns1", hash, r, object, out), "wrapped key");
  }
  {
    auto r = rec;
    std::string n = r.nonce();
    n[0] ^= 1;
    r.set_nonce(n);
    AIFS_EXPECT_STATUS(OpenChunk(*kms_, "ns1", hash, r, object, out), kDataLoss, "CHUNK_CORRUPT");
  }
  {
    auto r = rec;
    r.set_nonce("short");
    expect_fail(OpenChunk(*kms_, "ns1", hash, r, object, out), "bad nonce length");
  }
  {
    // Another chunk's object under this chunk's record.
    const Bytes other = TextBytes(20000, 6);
    Bytes oobj;
    store::v1::ChunkRecord orec;
    AIFS_ASSERT_OK(
        SealChunk(*kms_, "ns1", Blake3::Hash(other), other, CompressionPolicy{}, oobj, orec));
    AIFS_EXPECT_STATUS(OpenChunk(*kms_, "ns1", hash, rec, oobj, out), kDataLoss, "CHUNK_CORRUPT");
  }
  {
    auto r = rec;
    r.set_kms_key_id("local:v99");
    AIFS_EXPECT_STATUS(OpenChunk(*kms_, "ns1", hash, r, object, out), kFailedPrecondition,
                       "KMS_KEY_UNAVAILABLE");
  }
  // Sealed with a hash that is not the content's: opening detects it.
  Bytes liar;
  store::v1::ChunkRecord lrec;
  AIFS_ASSERT_OK(SealChunk(*kms_, "ns1", other_hash, plain, CompressionPolicy{}, liar, lrec));
  AIFS_EXPECT_STATUS(OpenChunk(*kms_, "ns1", other_hash, lrec, liar, out), kDataLoss,
                     "CHUNK_CORRUPT");
  // And the untouched original still opens.
  AIFS_ASSERT_OK(OpenChunk(*kms_, "ns1", hash, rec, object, out));
  EXPECT_EQ(out, plain);
}

TEST_F(SealTest, OldKeyVersionStillOpensAfterRotate) {
  const Bytes plain = RandomBytes(10000, 7);
  const Digest hash = Blake3::Hash(plain);
  Bytes object;
  store::v1::ChunkRecord rec;
  AIFS_ASSERT_OK(SealChunk(*kms_, "ns1", hash, plain, CompressionPolicy{}, object, rec));
  const std::string old_id = rec.kms_key_id();
  auto v2 = kms_->Rotate();
  ASSERT_TRUE(v2.ok());
  Bytes obj2;
  store::v1::ChunkRecord rec2;
  AIFS_ASSERT_OK(SealChunk(*kms_, "ns1", hash, plain, CompressionPolicy{}, obj2, rec2));
  EXPECT_EQ(rec2.kms_key_id(), *v2);
  EXPECT_NE(rec2.kms_key_id(), old_id);
  Bytes out;
  AIFS_ASSERT_OK(OpenChunk(*kms_, "ns1", hash, rec, object, out));
  EXPECT_EQ(out, plain);
  AIFS_ASSERT_OK(OpenChunk(*kms_, "ns1", hash, rec2, obj2, out));
  EXPECT_EQ(out, plain);
}

// ---------------------------------------------------------------- documented format

// docs/storage-format.md, "Chunking", re-implemented from the text alone.
std::vector<size_t> ReferenceCuts(ByteSpan data, const ChunkerParams& p) {
  std::array<uint64_t, 256> gear{};
  uint64_t state = 0x6169667367656172ULL;  // "aifsgear"
  for (auto& g : gear) {                   // splitmix64
    state += 0x9e3779b97f4a7c15ULL;
    uint64_t z = state;
    z = (z ^ (z >> 30)) * 0xbf58476d1ce4e5b9ULL;
    z = (z ^ (z >> 27)) * 0x94d049bb133111ebULL;
    g = z ^ (z >> 31);
  }
  unsigned log2avg = 0;
  while ((2ULL << log2avg) <= p.avg_size) ++log2avg;
  const uint64_t strict = ~0ULL << (64 - (log2avg + 2));
  const uint64_t loose = ~0ULL << (64 - (log2avg - 2));
  std::vector<size_t> cuts;
  size_t start = 0;
  while (start < data.size()) {
    const size_t remaining = data.size() - start;
    size_t len = std::min<size_t>(remaining, p.max_size);
    if (len > p.min_size) {
      uint64_t fp = 0;
      for (size_t i = p.min_size; i < len; ++i) {
        fp = (fp << 1) + gear[data[start + i]];
        const uint64_t mask = i < (size_t{1} << log2avg) ? strict : loose;
        if ((fp & mask) == 0) {
          len = i + 1;
          break;
        }
      }
    }
    cuts.push_back(len);
    start += len;
  }
  return cuts;
}

TEST(DocumentedFormat, ChunkerMatchesTheSpecification) {
  const Bytes random = RandomBytes(6 << 20, 301);
  const Bytes text = TextBytes(2 << 20, 302);
  for (ChunkerParams p : {SmallChunks(), ChunkerParams{}, ChunkerParams{1024, 4096, 16384}}) {
    Chunker c(p);
    EXPECT_EQ(CutLikeEngine(c, random, {}), ReferenceCuts(random, p)) << p.avg_size;
    EXPECT_EQ(CutLikeEngine(c, text, {}), ReferenceCuts(text, p)) << p.avg_size;
  }
}

// docs/storage-format.md, "Sealing a chunk": open a sealed object with nothing
// but the keyfile and the documented layout.
TEST(DocumentedFormat, SealedChunkCanBeOpenedFromTheSpecification) {
  TempDir dir;
  const std::string keyfile = dir.Sub("master.keys");
  auto kms = OpenKms("local://" + keyfile, true);
  ASSERT_TRUE(kms.ok());
  // Master key v1 from the keyfile text: "key <version> <created> <hex> <check>".
  const Bytes text = ReadFileBytes(keyfile);
  const std::string s(text.begin(), text.end());
  const size_t at = s.find("\nkey 1 ");
  ASSERT_NE(at, std::string::npos) << s;
  std::istringstream line(s.substr(at + 1, s.find('\n', at + 1) - at - 1));
  std::string word, version, created, master_hex, check;
  line >> word >> version >> created >> master_hex >> check;
  ASSERT_EQ(check.size(), 16u) << "format 2 keyfiles carry a check value";
  const AesKey master = KeyFrom(master_hex);

  auto le = [](Bytes& out, uint64_t v, int n) {
    for (int i = 0; i < n; ++i) out.push_back(static_cast<uint8_t>(v >> (8 * i)));
  };
  // The data key from the wrapped blob: nonce(12) || GCM(master, aad = "aifs/kms-wrap/v1"
  // 0 <key id> 0 <context>).
  auto unwrap = [&](const store::v1::ChunkRecord& rec, const Bytes& context) {
    Bytes wrap_aad = ToBytes("aifs/kms-wrap/v1");
    wrap_aad.push_back(0);
    const std::string kid = "local:v1";
    wrap_aad.insert(wrap_aad.end(), kid.begin(), kid.end());
    wrap_aad.push_back(0);
    wrap_aad.insert(wrap_aad.end(), context.begin(), context.end());
    const Bytes blob(rec.wrapped_key().begin(), rec.wrapped_key().end());
    GcmNonce wn;
    std::copy_n(blob.begin(), 12, wn.begin());
    Bytes data_key_bytes;
    EXPECT_TRUE(IsOk(AesGcmOpen(master, wn, wrap_aad, ByteSpan(blob).subspan(12), data_key_bytes)));
    AesKey data_key{};
    if (data_key_bytes.size() == 32) std::copy_n(data_key_bytes.begin(), 32, data_key.begin());
    return data_key;
  };
  const std::string ns = "team-a";

  // Format 3: segments.
  for (bool compressible : {false, true}) {
    SCOPED_TRACE(compressible ? "segments, zstd" : "segments, raw");
    const Bytes plain = compressible ? TextBytes(150000, 301) : RandomBytes(150000, 302);
    const Digest hash = Blake3::Hash(plain);
    Bytes object;
    store::v1::ChunkRecord rec;
    AIFS_ASSERT_OK(SealChunk(**kms, ns, hash, plain, CompressionPolicy{}, object, rec));
    ASSERT_EQ(rec.segment_size(), 65536u);
    const uint64_t count = (plain.size() + 65535) / 65536;
    ASSERT_EQ(rec.segment_table().size(), 4 * count);
    Bytes prefix = ToBytes("aifs/chunk/v2");
    prefix.push_back(0);
    prefix.insert(prefix.end(), ns.begin(), ns.end());
    prefix.push_back(0);
    prefix.insert(prefix.end(), hash.begin(), hash.end());
    le(prefix, plain.size(), 8);
    le(prefix, 65536, 4);
    le(prefix, count, 4);
    const AesKey data_key = unwrap(rec, prefix);
    Bytes rebuilt;
    uint64_t at = 0;
    for (uint64_t i = 0; i < count; ++i) {
      const uint32_t entry = SegmentTableEntry(rec, i);
      const bool zstd = entry >> 31;
      const uint32_t len = entry & 0x7fffffff;
      Bytes aad = prefix;
      le(aad, i, 4);
      aad.push_back(zstd ? 1 : 0);
      GcmNonce nonce;
      std::copy_n(rec.nonce().begin(), 12, nonce.begin());
      for (int b = 0; b < 4; ++b) nonce[11 - b] ^= static_cast<uint8_t>(i >> (8 * b));
      Bytes payload;
      AIFS_ASSERT_OK(AesGcmOpen(data_key, nonce, aad, ByteSpan(object).subspan(at, len), payload));
      const Bytes seg = zstd ? ZstdDecompressIndependently(payload) : payload;
      EXPECT_EQ(zstd, compressible) << "segment " << i;
      rebuilt.insert(rebuilt.end(), seg.begin(), seg.end());
      at += len;
    }
    EXPECT_EQ(at, object.size());
    EXPECT_EQ(rebuilt, plain);
  }

  // Formats 1-2: sealed whole.
  for (bool compressible : {false, true}) {
    SCOPED_TRACE(compressible ? "whole, zstd" : "whole, raw");
    const Bytes plain = compressible ? TextBytes(30000, 303) : RandomBytes(30000, 304);
    const Digest hash = Blake3::Hash(plain);
    Bytes object;
    store::v1::ChunkRecord rec;
    SealPolicy whole{CompressionPolicy{}};
    whole.segment_size = 0;
    AIFS_ASSERT_OK(SealChunk(**kms, ns, hash, plain, whole, object, rec));
    ASSERT_EQ(rec.kms_key_id(), "local:v1");
    ASSERT_EQ(rec.wrapped_key().size(), 60u);

    Bytes aad = ToBytes("aifs/chunk/v1");
    aad.push_back(0);
    aad.insert(aad.end(), ns.begin(), ns.end());
    aad.push_back(0);
    aad.insert(aad.end(), hash.begin(), hash.end());
    aad.push_back(compressible ? 1 : 0);
    le(aad, plain.size(), 8);
    const AesKey data_key = unwrap(rec, aad);
    GcmNonce nonce;
    std::copy_n(rec.nonce().begin(), 12, nonce.begin());
    Bytes payload;
    AIFS_ASSERT_OK(AesGcmOpen(data_key, nonce, aad, object, payload));
    if (compressible) {
      EXPECT_EQ(ZstdDecompressIndependently(payload), plain);
    } else {
      EXPECT_EQ(payload, plain);
    }
  }
}

// docs/storage-format.md: "Opening ... any failure is DATA_LOSS CHUNK_CORRUPT
// (or KMS_KEY_UNAVAILABLE), never data"; chunk_sealer.h likewise. An object
// opened under another namespace or chunk hash, or with an altered wrapped
// key, is such a failure.
TEST_F(SealTest, WrongContextIsChunkCorruptAsDocumented) {
  const Bytes plain = RandomBytes(5000, 8);
  const Digest hash = Blake3::Hash(plain);
  Bytes object;
  store::v1::ChunkRecord rec;
  AIFS_ASSERT_OK(SealChunk(*kms_, "ns1", hash, plain, CompressionPolicy{}, object, rec));
  Bytes out;
  AIFS_EXPECT_STATUS(OpenChunk(*kms_, "ns2", hash, rec, object, out), kDataLoss, "CHUNK_CORRUPT");
  Digest other = hash;
  other[5] ^= 1;
  AIFS_EXPECT_STATUS(OpenChunk(*kms_, "ns1", other, rec, object, out), kDataLoss, "CHUNK_CORRUPT");
  auto r = rec;
  std::string wk = r.wrapped_key();
  wk[20] ^= 1;
  r.set_wrapped_key(wk);
  AIFS_EXPECT_STATUS(OpenChunk(*kms_, "ns1", hash, r, object, out), kDataLoss, "CHUNK_CORRUPT");
  EXPECT_TRUE(out.empty() || out != plain);
}

}  // namespace
}  // namespace aifs::test
