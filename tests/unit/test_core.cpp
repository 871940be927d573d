// Core: Status, hex, identifiers, URIs and BLAKE3 (against the b3sum tool).
#include <gtest/gtest.h>

#include <cctype>
#include <cerrno>
#include <cstdio>
#include <fstream>
#include <sstream>
#include <string>

#include "aifs/core/blake3.h"
#include "aifs/core/hex.h"
#include "aifs/core/huge_pages.h"
#include "aifs/core/ids.h"
#include "aifs/core/status.h"
#include "test_util.h"

namespace aifs::test {
namespace {

// ---------------------------------------------------------------- Status

TEST(Status, CodeValuesAreTheGrpcCodes) {
  // grpc/status.h (grpc_status_code) numbering.
  EXPECT_EQ(static_cast<int>(Code::kOk), 0);
  EXPECT_EQ(static_cast<int>(Code::kCancelled), 1);
  EXPECT_EQ(static_cast<int>(Code::kUnknown), 2);
  EXPECT_EQ(static_cast<int>(Code::kInvalidArgument), 3);
  EXPECT_EQ(static_cast<int>(Code::kDeadlineExceeded), 4);
  EXPECT_EQ(static_cast<int>(Code::kNotFound), 5);
  EXPECT_EQ(static_cast<int>(Code::kAlreadyExists), 6);
  EXPECT_EQ(static_cast<int>(Code::kPermissionDenied), 7);
  EXPECT_EQ(static_cast<int>(Code::kResourceExhausted), 8);
  EXPECT_EQ(static_cast<int>(Code::kFailedPrecondition), 9);
  EXPECT_EQ(static_cast<int>(Code::kAborted), 10);
  EXPECT_EQ(static_cast<int>(Code::kOutOfRange), 11);
  EXPECT_EQ(static_cast<int>(Code::kUnimplemented), 12);
  EXPECT_EQ(static_cast<int>(Code::kInternal), 13);
  EXPECT_EQ(static_cast<int>(Code::kUnavailable), 14);
  EXPECT_EQ(static_cast<int>(Code::kDataLoss), 15);
  EXPECT_EQ(static_cast<int>(Code::kUnauthenticated), 16);
}

TEST(Status, CodeNames) {
  const std::pair<Code, const char*> kNames[] = {
      {Code::kOk, "OK"},
      {Code::kCancelled, "CANCELLED"},
      {Code::kUnknown, "UNKNOWN"},
      {Code::kInvalidArgument, "INVALID_ARGUMENT"},
      {Code::kDeadlineExceeded, "DEADLINE_EXCEEDED"},
      {Code::kNotFound, "NOT_FOUND"},
      {Code::kAlreadyExists, "ALREADY_EXISTS"},
      {Code::kPermissionDenied, "PERMISSION_DENIED"},
      {Code::kResourceExhausted, "RESOURCE_EXHAUSTED"},
      {Code::kFailedPrecondition, "FAILED_PRECONDITION"},
      {Code::kAborted, "ABORTED"},
      {Code::kOutOfRange, "OUT_OF_RANGE"},
      {Code::kUnimplemented, "UNIMPLEMENTED"},
      {Code::kInternal, "INTERNAL"},
      {Code::kUnavailable, "UNAVAILABLE"},
      {Code::kDataLoss, "DATA_LOSS"},
      {Code::kUnauthenticated, "UNAUTHENTICATED"},
  };
  for (const auto& [code, name] : kNames) EXPECT_EQ(CodeName(code), name);
}

TEST(Status, DefaultIsOkAndToString) {
  Status ok;
  EXPECT_TRUE(ok.ok());
  EXPECT_EQ(ok.code(), Code::kOk);
  EXPECT_EQ(ok.ToString(), "OK");
  EXPECT_TRUE(Status::Ok().ok());

  Status nf = err::NotFound("ASSET_NOT_FOUND", "asset 12ab is not in namespace x");
  EXPECT_FALSE(nf.ok());
  EXPECT_EQ(nf.code(), Code::kNotFound);
  EXPECT_EQ(nf.reason(), "ASSET_NOT_FOUND");
  EXPECT_EQ(nf.message(), "asset 12ab is not in namespace x");
  EXPECT_EQ(nf.ToString(), "NOT_FOUND ASSET_NOT_FOUND: asset 12ab is not in namespace x");

  EXPECT_EQ(err::DataLoss("CHUNK_CORRUPT", "m").ToString(), "DATA_LOSS CHUNK_CORRUPT: m");
  EXPECT_EQ(err::FailedPrecondition("R", "x").ToString(), "FAILED_PRECONDITION R: x");
}

TEST(Status, ErrConstructorsSetTheirCode) {
  EXPECT_EQ(err::InvalidArgument("R", "m").code(), Code::kInvalidArgument);
  EXPECT_EQ(err::NotFound("R", "m").code(), Code::kNotFound);
  EXPECT_EQ(err::AlreadyExists("R", "m").code(), Code::kAlreadyExists);
  EXPECT_EQ(err::PermissionDenied("R", "m").code(), Code::kPermissionDenied);
  EXPECT_EQ(err::ResourceExhausted("R", "m").code(), Code::kResourceExhausted);
  EXPECT_EQ(err::FailedPrecondition("R", "m").code(), Code::kFailedPrecondition);
  EXPECT_EQ(err::Aborted("R", "m").code(), Code::kAborted);
  EXPECT_EQ(err::OutOfRange("R", "m").code(), Code::kOutOfRange);
  EXPECT_EQ(err::Unimplemented("R", "m").code(), Code::kUnimplemented);
  EXPECT_EQ(err::Internal("R", "m").code(), Code::kInternal);
  EXPECT_EQ(err::Unavailable("R", "m").code(), Code::kUnavailable);
  EXPECT_EQ(err::DataLoss("R", "m").code(), Code::kDataLoss);
}

TEST(Status, WithContextKeepsCodeAndReason) {
  Status st = err::DataLoss("CHUNK_CORRUPT", "tag mismatch").WithContext("reading chunk 3");
  EXPECT_EQ(st.code(), Code::kDataLoss);
  EXPECT_EQ(st.reason(), "CHUNK_CORRUPT");
  EXPECT_EQ(st.message(), "reading chunk 3: tag mismatch");
  EXPECT_TRUE(Status::Ok().WithContext("ctx").ok());
  EXPECT_EQ(Status::Ok().WithContext("ctx").ToString(), "OK");
}

TEST(Status, FromErrno) {
  AIFS_EXPECT_STATUS(err::FromErrno(ENOSPC, "w"), kResourceExhausted, "STORAGE_FULL");
  AIFS_EXPECT_STATUS(err::FromErrno(EDQUOT, "w"), kResourceExhausted, "STORAGE_FULL");
  AIFS_EXPECT_STATUS(err::FromErrno(EROFS, "w"), kFailedPrecondition, "STORAGE_READ_ONLY");
  AIFS_EXPECT_STATUS(err::FromErrno(EACCES, "w"), kPermissionDenied, "STORAGE_ACCESS_DENIED");
  AIFS_EXPECT_STATUS(err::FromErrno(ENOENT, "w"), kNotFound, "FILE_NOT_FOUND");
  AIFS_EXPECT_STATUS(err::FromErrno(EIO, "w"), kDataLoss, "STORAGE_IO_ERROR");
  Status st = err::FromErrno(ENOSPC, "write chunk");
  EXPECT_NE(st.message().find("write chunk"), std::string::npos) << st.message();
}

TEST(Status, EchoCutsLongInputAtACharacterBoundary) {
  EXPECT_EQ(err::Echo("default"), "default");
  EXPECT_EQ(err::Echo("a\nb\x7f"), "a?b?");
  const std::string big(5000, 'a');
  EXPECT_EQ(err::Echo(big), std::string(64, 'a') + "\u2026(5000 bytes)");
  // 63 ASCII bytes then a 2-byte character straddling the cut: it goes whole.
  const std::string straddle = std::string(63, 'x') + "\u00e9" + "tail";
  EXPECT_EQ(err::Echo(straddle), std::string(63, 'x') + "\u2026(69 bytes)");
  // Validators quote through it: a 5,000-character name makes a short error.
  Status st = ValidateNamespaceName(big);
  EXPECT_EQ(st.reason(), "INVALID_NAMESPACE_NAME");
  EXPECT_LT(st.message().size(), 200u) << st.message();
  EXPECT_NE(st.message().find("(5000 bytes)"), std::string::npos) << st.message();
}

TEST(Status, ResultHoldsValueOrStatus) {
  Result<int> v(42);
  ASSERT_TRUE(v.ok());
  EXPECT_EQ(*v, 42);
  EXPECT_TRUE(v.status().ok());
  Result<int> e(err::NotFound("X", "y"));
  EXPECT_FALSE(e.ok());
  AIFS_EXPECT_STATUS(e.status(), kNotFound, "X");

  auto f = [](bool fail) -> Result<std::string> {
    if (fail) return err::Aborted("TXN_CONFLICT", "retry");
    return std::string("fine");
  };
  auto g = [&](bool fail) -> Status {
    AIFS_ASSIGN_OR_RETURN(std::string s, f(fail));
    return s == "fine" ? Status::Ok() : err::Internal("BAD", s);
  };
  AIFS_EXPECT_OK(g(false));
  AIFS_EXPECT_STATUS(g(true), kAborted, "TXN_CONFLICT");
}

// ---------------------------------------------------------------- Hex

TEST(Hex, EncodeIsLowercase) {
  const Bytes b = {0x00, 0x01, 0x7f, 0x80, 0xab, 0xcd, 0xef, 0xff};
  EXPECT_EQ(HexEncode(b), "00017f80abcdefff");
  EXPECT_EQ(HexEncode(Bytes{}), "");
}

TEST(Hex, DecodeRoundTripsAllBytes) {
  Bytes all(256);
  for (int i = 0; i < 256; ++i) all[i] = static_cast<uint8_t>(i);
  auto d = HexDecode(HexEncode(all));
  ASSERT_TRUE(d.has_value());
  EXPECT_EQ(*d, all);
  auto empty = HexDecode("");
  ASSERT_TRUE(empty.has_value());
  EXPECT_TRUE(empty->empty());
}

TEST(Hex, DecodeIsStrict) {
  for (const char* bad : {"A0", "0A", "ABCDEF", "abcdeF", "abc", "0", "zz", "0g", "g0", " 00",
                          "00 ", "00\n", "0x00", "-1", "+1", "ab:cd"}) {
    EXPECT_FALSE(HexDecode(bad).has_value()) << "accepted '" << bad << "'";
  }
  EXPECT_FALSE(HexDecode(std::string("00\0", 3)).has_value());
  EXPECT_FALSE(HexDecode(std::string("0\0", 2)).has_value());
  EXPECT_TRUE(IsLowerHex("0123456789abcdef"));
  EXPECT_FALSE(IsLowerHex("0123456789ABCDEF"));
  EXPECT_FALSE(IsLowerHex("xyz"));
}

// ---------------------------------------------------------------- IDs

const std::string kHex64 = "af1349b9f5f9a1a6a0404dea36dcc9499bcb25c9adc112b7cc9a93cae41f3262";
const std::string kHex32 = "0123456789abcdef0011223344556677";

TEST(AssetIdTest, ParseValid) {
  auto id = AssetId::Parse(kHex64);
  ASSERT_TRUE(id.ok()) << id.status().ToString();
  EXPECT_EQ(id->ToHex(), kHex64);
  EXPECT_EQ(id->bytes()[0], 0xaf);
  EXPECT_EQ(id->bytes()[31], 0x62);
  EXPECT_EQ(*id, AssetId(Blake3::Hash(ByteSpan())));
}

TEST(AssetIdTest, ParseRejectsMalformed) {
  std::string upper = kHex64;
  for (auto& c : upper) c = static_cast<char>(std::toupper(c));
  std::string one_upper = kHex64;
  one_upper[10] = 'A';
  std::string non_hex = kHex64;
  non_hex[63] = 'g';
  std::string with_space = kHex64;
  with_space[0] = ' ';
  for (const std::string& bad :
       {kHex64.substr(0, 63), kHex64 + "0", kHex64 + "00", std::string(), upper, one_upper,
        non_hex, with_space, kHex64.substr(0, 62), "0x" + kHex64.substr(0, 62),
        std::string(64, 'z'), kHex64.substr(0, 63) + std::string(1, '\0')}) {
    auto r = AssetId::Parse(bad);
    EXPECT_FALSE(r.ok()) << "accepted '" << bad << "'";
    AIFS_EXPECT_STATUS(r.status(), kInvalidArgument, "MALFORMED_ID") << bad;
  }
}

TEST(AssetIdTest, FromBytesAndOrdering) {
  Bytes b31(31), b32(32), b33(33);
  EXPECT_FALSE(AssetId::FromBytes(b31).has_value());
  EXPECT_FALSE(AssetId::FromBytes(b33).has_value());
  b32[0] = 1;
  auto id = AssetId::FromBytes(b32);
  ASSERT_TRUE(id.has_value());
  EXPECT_EQ(id->ToHex(), "01" + std::string(62, '0'));
  // Order is bytewise, the same as the order of the hex spelling.
  auto a = *AssetId::Parse("00" + std::string(62, 'f'));
  auto c = *AssetId::Parse("01" + std::string(62, '0'));
  EXPECT_LT(a, c);
  EXPECT_LT(a.ToHex(), c.ToHex());
}

TEST(SnapshotIdTest, ParseIs32LowerHex) {
  auto id = SnapshotId::Parse(kHex32);
  ASSERT_TRUE(id.ok()) << id.status().ToString();
  EXPECT_EQ(id->ToHex(), kHex32);
  EXPECT_EQ(id->bytes()[0], 0x01);
  std::string upper = kHex32;
  upper[5] = 'B';
  for (const std::string& bad : {kHex32.substr(0, 31), kHex32 + "0", kHex32 + "00",
                                 kHex64, std::string(), upper, std::string(32, 'x')}) {
    auto r = SnapshotId::Parse(bad);
    EXPECT_FALSE(r.ok()) << bad;
    AIFS_EXPECT_STATUS(r.status(), kInvalidArgument, "MALFORMED_ID") << bad;
  }
}

TEST(NamespaceName, Validate) {
  for (const std::string& good :
       {std::string("default"), std::string("a"), std::string("0"), std::string("a.b_c-d"),
        std::string("models-2024.v1"), std::string(63, 'x'), std::string("9lives")}) {
    AIFS_EXPECT_OK(ValidateNamespaceName(good)) << good;
  }
  for (const std::string& bad :
       {std::string(), std::string(64, 'x'), std::string("A"), std::string("Default"),
        std::string("-a"), std::string(".a"), std::string("_a"), std::string("a/b"),
        std::string("a b"), std::string("ns:"), std::string("caf\xc3\xa9"),
        std::string("a\0b", 3), std::string(".."), std::string("a\n")}) {
    AIFS_EXPECT_STATUS(ValidateNamespaceName(bad), kInvalidArgument, "INVALID_NAMESPACE_NAME")
        << "'" << bad << "'";
  }
}

// ---------------------------------------------------------------- URIs

TEST(Uri, ParseAssetUriAccepts) {
  auto with_ns = ParseAssetUri("aifs://models/" + kHex64);
  ASSERT_TRUE(with_ns.ok()) << with_ns.status().ToString();
  ASSERT_TRUE(with_ns->ns.has_value());
  EXPECT_EQ(*with_ns->ns, "models");
  EXPECT_EQ(with_ns->id.ToHex(), kHex64);
  EXPECT_EQ(with_ns->ToString(), "aifs://models/" + kHex64);

  auto bare = ParseAssetUri("aifs://" + kHex64);
  ASSERT_TRUE(bare.ok()) << bare.status().ToString();
  EXPECT_FALSE(bare->ns.has_value());
  EXPECT_EQ(bare->id.ToHex(), kHex64);
  EXPECT_EQ(bare->ToString(), "aifs://" + kHex64);

  auto dotted = ParseAssetUri("aifs://a.b-c_d/" + kHex64);
  ASSERT_TRUE(dotted.ok());
  EXPECT_EQ(*dotted->ns, "a.b-c_d");
}

TEST(Uri, ParseAssetUriRejects) {
  std::string upper = kHex64;
  for (auto& c : upper) c = static_cast<char>(std::toupper(c));
  const std::string bad_uris[] = {
      "aifs://ns/" + upper,
      "aifs://NS/" + kHex64,
      "AIFS://ns/" + kHex64,
      "Aifs://" + kHex64,
      "aifs://ns/" + kHex64.substr(0, 63),
      "aifs://ns/" + kHex64 + "0",
      "aifs://" + kHex64.substr(0, 63),
      "aifs://" + kHex64 + "a",
      "aifs://ns/",
      "aifs://ns",
      "aifs://",
      "aifs:///" + kHex64,
      "aifs:/ns/" + kHex64,
      "aifs:ns/" + kHex64,
      "//ns/" + kHex64,
      "ns/" + kHex64,
      kHex64,
      "http://ns/" + kHex64,
      "aifs-snap://ns/" + kHex32,
      "aifs-snap://ns/" + kHex64,
      "aifs://ns/" + kHex64 + "/",
      "aifs://ns/" + kHex64 + "?v=1",
      "aifs://ns/" + kHex64 + "#frag",
      "aifs://ns/" + kHex64 + " ",
      " aifs://ns/" + kHex64,
      "aifs://ns/ " + kHex64,
      "aifs://a/b/" + kHex64,
      "aifs://ns//" + kHex64,
      "aifs://-ns/" + kHex64,
      "aifs://" + std::string(64, 'n') + "/" + kHex64,
      "aifs://ns/" + kHex32,
      "",
  };
  for (const std::string& bad : bad_uris) {
    auto r = ParseAssetUri(bad);
    EXPECT_FALSE(r.ok()) << "accepted '" << bad << "'";
    AIFS_EXPECT_STATUS(r.status(), kInvalidArgument, "MALFORMED_URI") << "'" << bad << "'";
  }
}

TEST(Uri, ParseSnapshotUri) {
  auto s = ParseSnapshotUri("aifs-snap://ns/" + kHex32);
  ASSERT_TRUE(s.ok()) << s.status().ToString();
  EXPECT_EQ(s->ns, "ns");
  EXPECT_EQ(s->id.ToHex(), kHex32);
  EXPECT_EQ(s->ToString(), "aifs-snap://ns/" + kHex32);

  std::string upper = kHex32;
  upper[0] = 'F';
  upper[1] = 'A';
  const std::string bad_uris[] = {
      "aifs-snap://" + kHex32,             // namespace is required
      "aifs-snap://ns/",                   //
      "aifs-snap://ns",                    //
      "aifs-snap://",                      //
      "aifs-snap:///" + kHex32,            // empty namespace
      "aifs-snap://ns/" + upper,           //
      "aifs-snap://NS/" + kHex32,          //
      "AIFS-SNAP://ns/" + kHex32,          //
      "aifs-snap://ns/" + kHex32.substr(0, 31),
      "aifs-snap://ns/" + kHex32 + "0",
      "aifs-snap://ns/" + kHex64,          // an asset id is not a snapshot id
      "aifs://ns/" + kHex32,               // wrong scheme
      "aifs://ns/" + kHex64,               // wrong scheme
      "aifs-snap://ns/" + kHex32 + "/",    // trailing junk
      "aifs-snap://ns/" + kHex32 + "?x",   //
      "aifs-snap://a/b/" + kHex32,         //
      "aifs-snapshot://ns/" + kHex32,      //
      "",
  };
  for (const std::string& bad : bad_uris) {
    auto r = ParseSnapshotUri(bad);
    EXPECT_FALSE(r.ok()) << "accepted '" << bad << "'";
    AIFS_EXPECT_STATUS(r.status(), kInvalidArgument, "MALFORMED_URI") << "'" << bad << "'";
  }
}

TEST(Uri, ParseAssetRef) {
  auto bare = ParseAssetRef(kHex64);
  ASSERT_TRUE(bare.ok()) << bare.status().ToString();
  EXPECT_FALSE(bare->ns.has_value());
  EXPECT_EQ(bare->id.ToHex(), kHex64);

  auto uri = ParseAssetRef("aifs://team-a/" + kHex64);
  ASSERT_TRUE(uri.ok()) << uri.status().ToString();
  ASSERT_TRUE(uri->ns.has_value());
  EXPECT_EQ(*uri->ns, "team-a");
  EXPECT_EQ(uri->id.ToHex(), kHex64);

  auto bare_uri = ParseAssetRef("aifs://" + kHex64);
  ASSERT_TRUE(bare_uri.ok());
  EXPECT_FALSE(bare_uri->ns.has_value());

  // URI-shaped references fail as URIs.
  for (const std::string& bad : {std::string("aifs://ns/"), "aifs://ns/" + kHex64.substr(1),
                                 "aifs://NS/" + kHex64, "aifs://ns/" + kHex64 + "x"}) {
    auto r = ParseAssetRef(bad);
    EXPECT_FALSE(r.ok()) << bad;
    AIFS_EXPECT_STATUS(r.status(), kInvalidArgument, "MALFORMED_URI") << bad;
  }
  // Other references are neither a valid ID nor a URI.
  std::string upper = kHex64;
  upper[3] = 'C';
  for (const std::string& bad :
       {upper, kHex64.substr(1), kHex64 + "0", std::string(), "ns/" + kHex64,
        "aifs-snap://ns/" + kHex32, "AIFS://ns/" + kHex64}) {
    auto r = ParseAssetRef(bad);
    EXPECT_FALSE(r.ok()) << "accepted '" << bad << "'";
    EXPECT_EQ(r.status().code(), Code::kInvalidArgument) << bad;
    EXPECT_TRUE(r.status().reason() == "MALFORMED_ID" || r.status().reason() == "MALFORMED_URI")
        << r.status().ToString();
  }
}

// ---------------------------------------------------------------- BLAKE3

// BLAKE3 of `data` according to the b3sum tool (an independent implementation).
std::string B3sum(ByteSpan data, const Bytes* key = nullptr) {
  TempDir dir;
  const std::string file = dir.Sub("input.bin");
  WriteFileBytes(file, data);
  std::string cmd = "b3sum --no-names";
  if (key) {
    const std::string keyfile = dir.Sub("key.bin");
    WriteFileBytes(keyfile, *key);
    cmd += " --keyed '" + file + "' < '" + keyfile + "'";
  } else {
    cmd += " '" + file + "'";
  }
  FILE* p = ::popen(cmd.c_str(), "r");
  if (!p) return "popen failed";
  std::string out;
  char buf[256];
  while (size_t n = std::fread(buf, 1, sizeof buf, p)) out.append(buf, n);
  int rc = ::pclose(p);
  if (rc != 0) return "b3sum failed: " + std::to_string(rc);
  while (!out.empty() && (out.back() == '\n' || out.back() == '\r')) out.pop_back();
  return out;
}

TEST(Blake3Test, EmptyInputKnownAnswer) {
  EXPECT_EQ(HexEncode(Blake3::Hash(ByteSpan())),
            "af1349b9f5f9a1a6a0404dea36dcc9499bcb25c9adc112b7cc9a93cae41f3262");
  Blake3 h;
  EXPECT_EQ(HexEncode(h.Finalize()),
            "af1349b9f5f9a1a6a0404dea36dcc9499bcb25c9adc112b7cc9a93cae41f3262");
}

TEST(Blake3Test, AbcKnownAnswer) {
  // Published value, also what b3sum prints for "abc".
  EXPECT_EQ(HexEncode(Blake3::Hash(AsBytes("abc"))),
            "6437b3ac38465133ffb63b75273a8db548c558465d79db03fd359c6cd5bd9d85");
}

TEST(Blake3Test, MatchesB3sumOneShotAndIncremental) {
  ASSERT_EQ(B3sum(ByteSpan()), "af1349b9f5f9a1a6a0404dea36dcc9499bcb25c9adc112b7cc9a93cae41f3262")
      << "the b3sum oracle itself is broken";
  const size_t sizes[] = {1, 63, 64, 65, 1023, 1024, 1025, 2048, 2049, 4097,
                          (1u << 20) + 7};
  uint64_t seed = 100;
  for (size_t n : sizes) {
    const Bytes data = RandomBytes(n, seed++);
    const std::string want = B3sum(data);
    ASSERT_EQ(want.size(), 64u) << want;
    EXPECT_EQ(HexEncode(Blake3::Hash(data)), want) << "size " << n;

    // Incremental, odd-sized pieces (including empty updates).
    for (size_t piece : {size_t{1}, size_t{3}, size_t{7}, size_t{13}, size_t{1021}, size_t{65537}}) {
      if (piece == 1 && n > 5000) continue;  // keep it fast
      Blake3 h;
      h.Update(ByteSpan());
      for (size_t off = 0; off < n; off += piece)
        h.Update(ByteSpan(data).subspan(off, std::min(piece, n - off)));
      h.Update(ByteSpan());
      EXPECT_EQ(HexEncode(h.Finalize()), want) << "size " << n << " piece " << piece;
    }
    // Irregular pieces.
    Blake3 h;
    auto pieces = RandomPieces(64, 4099, seed);
    size_t off = 0, k = 0;
    while (off < n) {
      size_t len = std::min(pieces[k++ % pieces.size()], n - off);
      h.Update(ByteSpan(data).subspan(off, len));
      off += len;
    }
    EXPECT_EQ(HexEncode(h.Finalize()), want) << "size " << n << " random pieces";
  }
}

TEST(Blake3Test, FinalizeDoesNotConsumeState) {
  const Bytes a = RandomBytes(3000, 1), b = RandomBytes(5000, 2);
  Blake3 h;
  h.Update(a);
  EXPECT_EQ(h.Finalize(), Blake3::Hash(a));
  EXPECT_EQ(h.Finalize(), Blake3::Hash(a));  // idempotent
  h.Update(b);
  EXPECT_EQ(HexEncode(h.Finalize()), B3sum(Concat({a, b})));
}

TEST(Blake3Test, KeyedModeMatchesB3sum) {
  const Bytes key_bytes = RandomBytes(32, 77);
  Digest key;
  std::copy(key_bytes.begin(), key_bytes.end(), key.begin());
  for (size_t n : {size_t{0}, size_t{1}, size_t{1025}, size_t{100000}}) {
    const Bytes data = RandomBytes(n, 500 + n);
    Blake3 h(key);
    h.Update(data);
    const std::string want = B3sum(data, &key_bytes);
    ASSERT_EQ(want.size(), 64u) << want;
    EXPECT_EQ(HexEncode(h.Finalize()), want) << "size " << n;
    EXPECT_NE(h.Finalize(), Blake3::Hash(data));
  }
}

// The kernel's own account (/proc/self/smaps) of how much of the mappings
// overlapping [p, p + size) is backed by huge pages, in KiB.
size_t AnonHugeKiB(const void* p, size_t size) {
  std::ifstream smaps("/proc/self/smaps");
  const auto begin = reinterpret_cast<uintptr_t>(p);
  bool overlaps = false;
  size_t kib = 0;
  for (std::string line; std::getline(smaps, line);) {
    uintptr_t lo = 0, hi = 0;
    char dash = 0;
    std::istringstream head(line);
    if (head >> std::hex >> lo >> dash >> hi && dash == '-') {
      overlaps = lo < begin + size && begin < hi;
    } else if (overlaps && line.rfind("AnonHugePages:", 0) == 0) {
      kib += std::stoull(line.substr(14));
    }
  }
  return kib;
}

TEST(HugePages, VectorKeepsItsValuesAcrossTheHeapToHugePageSwitch) {
  HugePageVector<uint64_t> v;
  const size_t n = 3 * kHugePageSize / sizeof(uint64_t);  // crosses 2 MiB twice over
  for (size_t i = 0; i < n; ++i) {
    v.push_back(i * 0x9e3779b97f4a7c15ULL);
    if (v.capacity() * sizeof(uint64_t) >= kHugePageSize) {
      ASSERT_EQ(reinterpret_cast<uintptr_t>(v.data()) % kHugePageSize, 0u) << "at " << i;
    }
  }
  for (size_t i = 0; i < n; ++i) ASSERT_EQ(v[i], i * 0x9e3779b97f4a7c15ULL) << i;
  HugePageVector<uint64_t> copy = v;
  EXPECT_EQ(copy, v);
  v.clear();
  v.shrink_to_fit();
  EXPECT_EQ(copy.back(), (n - 1) * 0x9e3779b97f4a7c15ULL);
}

TEST(HugePages, LargeBlocksAreBackedByHugePagesWhenTheKernelOffersThem) {
  std::ifstream mode("/sys/kernel/mm/transparent_hugepage/enabled");
  std::string modes((std::istreambuf_iterator<char>(mode)), {});
  if (modes.find("[never]") != std::string::npos || modes.empty())
    GTEST_SKIP() << "transparent huge pages are off here: " << modes;
  HugePageVector<uint8_t> v(2 * kHugePageSize, 1);
  EXPECT_GE(AnonHugeKiB(v.data(), v.size()), kHugePageSize / 1024) << "THP: " << modes;
  // The graph's own memory comes from hnswlib's malloc: advised in place.
  std::vector<uint8_t> heap(3 * kHugePageSize, 1);
  AdviseHugePages(heap.data(), heap.size());
  EXPECT_GE(AnonHugeKiB(heap.data(), heap.size()), kHugePageSize / 1024) << "THP: " << modes;
}

}  // namespace
}  // namespace aifs::test
