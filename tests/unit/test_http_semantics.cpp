// The HTTP plane's pure functions (aifs/server/http_semantics.h) on their
// own, without a server: Range parsing against RFC 9110's examples, entity
// tag lists, Content-Disposition (RFC 6266 / RFC 8187), Content-Type,
// URL path segments and the HTTP status of every Code. test_http_plane.cpp
// checks the same rules end to end through a socket.
#include "aifs/server/http_semantics.h"

#include <gtest/gtest.h>

#include <cstdint>
#include <limits>
#include <nlohmann/json.hpp>
#include <optional>
#include <string>
#include <string_view>
#include <vector>

namespace aifs::test {
namespace {

using server::http::ByteRange;
using server::http::ContentDisposition;
using server::http::ContentTypeOf;
using server::http::EqualsNoCase;
using server::http::ErrorJson;
using server::http::EtagListMatches;
using server::http::HexValue;
using server::http::HttpStatusOf;
using server::http::ParsePosition;
using server::http::ParseRange;
using server::http::RangeVerdict;
using server::http::Segments;
using server::http::Trim;

constexpr uint64_t kMax = std::numeric_limits<uint64_t>::max();

const char* VerdictName(RangeVerdict v) {
  switch (v) {
    case RangeVerdict::kIgnore:
      return "kIgnore";
    case RangeVerdict::kSatisfiable:
      return "kSatisfiable";
    case RangeVerdict::kUnsatisfiable:
      return "kUnsatisfiable";
  }
  return "?";
}

// ---------------------------------------------------------------------------
// Range

struct RangeCase {
  std::string header;
  uint64_t size;
  RangeVerdict verdict;
  uint64_t first = 0;  // when kSatisfiable
  uint64_t last = 0;
};

void ExpectRanges(const std::vector<RangeCase>& cases) {
  for (const RangeCase& c : cases) {
    SCOPED_TRACE("Range: \"" + c.header + "\" of " + std::to_string(c.size) + " bytes");
    // A sentinel: only a satisfiable range may write *out.
    ByteRange out{777, 888};
    const RangeVerdict verdict = ParseRange(c.header, c.size, &out);
    EXPECT_EQ(VerdictName(verdict), std::string(VerdictName(c.verdict)));
    if (c.verdict == RangeVerdict::kSatisfiable) {
      EXPECT_EQ(out.first, c.first);
      EXPECT_EQ(out.last, c.last);
    } else {
      EXPECT_EQ(out.first, 777u);
      EXPECT_EQ(out.last, 888u);
    }
  }
}

// RFC 9110 §14.1.2, for a representation of length 10000.
TEST(HttpRangeTest, Rfc9110Examples) {
  ExpectRanges({
      {"bytes=0-499", 10000, RangeVerdict::kSatisfiable, 0, 499},      // the first 500 bytes
      {"bytes=500-999", 10000, RangeVerdict::kSatisfiable, 500, 999},  // the second 500
      {"bytes=-500", 10000, RangeVerdict::kSatisfiable, 9500, 9999},   // the final 500
      {"bytes=9500-", 10000, RangeVerdict::kSatisfiable, 9500, 9999},  // the final 500
      // The first and last bytes only, and two non-canonical spellings of the
      // second 500 bytes: several ranges, which the plane answers whole.
      {"bytes=0-0,-1", 10000, RangeVerdict::kIgnore},
      {"bytes=0-999,4500-5499,-1000", 10000, RangeVerdict::kIgnore},
      {"bytes=500-600,601-999", 10000, RangeVerdict::kIgnore},
      {"bytes=500-700,601-999", 10000, RangeVerdict::kIgnore},
  });
}

TEST(HttpRangeTest, OneRange) {
  ExpectRanges({
      // a-b
      {"bytes=0-0", 10000, RangeVerdict::kSatisfiable, 0, 0},
      {"bytes=0-9999", 10000, RangeVerdict::kSatisfiable, 0, 9999},
      {"bytes=9999-9999", 10000, RangeVerdict::kSatisfiable, 9999, 9999},
      // b past the end is clipped to the last byte
      {"bytes=9000-10000", 10000, RangeVerdict::kSatisfiable, 9000, 9999},
      {"bytes=9000-20000", 10000, RangeVerdict::kSatisfiable, 9000, 9999},
      // a-
      {"bytes=0-", 10000, RangeVerdict::kSatisfiable, 0, 9999},
      {"bytes=9999-", 10000, RangeVerdict::kSatisfiable, 9999, 9999},
      // -n; longer than the representation: all of it
      {"bytes=-1", 10000, RangeVerdict::kSatisfiable, 9999, 9999},
      {"bytes=-9999", 10000, RangeVerdict::kSatisfiable, 1, 9999},
      {"bytes=-10000", 10000, RangeVerdict::kSatisfiable, 0, 9999},
      {"bytes=-10001", 10000, RangeVerdict::kSatisfiable, 0, 9999},
      {"bytes=-20000", 10000, RangeVerdict::kSatisfiable, 0, 9999},
      // leading zeros are digits
      {"bytes=0010-0019", 10000, RangeVerdict::kSatisfiable, 10, 19},
      // one byte
      {"bytes=0-", 1, RangeVerdict::kSatisfiable, 0, 0},
      {"bytes=-1", 1, RangeVerdict::kSatisfiable, 0, 0},
      {"bytes=-5", 1, RangeVerdict::kSatisfiable, 0, 0},
      {"bytes=0-5", 1, RangeVerdict::kSatisfiable, 0, 0},
  });
}

// The range unit is case-insensitive (RFC 9110 §14.1); spaces and tabs
// around the parts are tolerated.
TEST(HttpRangeTest, CaseAndWhitespace) {
  ExpectRanges({
      {"BYTES=0-1", 10000, RangeVerdict::kSatisfiable, 0, 1},
      {"Bytes=0-1", 10000, RangeVerdict::kSatisfiable, 0, 1},
      {"  bytes=0-1  ", 10000, RangeVerdict::kSatisfiable, 0, 1},
      {"bytes = 0 - 1", 10000, RangeVerdict::kSatisfiable, 0, 1},
      {"\tbytes=\t-5\t", 10000, RangeVerdict::kSatisfiable, 9995, 9999},
      {"bytes= 7 -", 10000, RangeVerdict::kSatisfiable, 7, 9999},
      // spaces inside a number are not digits
      {"bytes=1 0-20", 10000, RangeVerdict::kIgnore},
      {"bytes=0-2 0", 10000, RangeVerdict::kIgnore},
      // only space and tab count as whitespace
      {"bytes=\n0-1", 10000, RangeVerdict::kIgnore},
  });
}

// RFC 9110 §14.1.1: an int-range is satisfiable when first-pos < length, a
// suffix-range when its length is not zero.
TEST(HttpRangeTest, Unsatisfiable) {
  ExpectRanges({
      {"bytes=10000-", 10000, RangeVerdict::kUnsatisfiable},
      {"bytes=10000-10000", 10000, RangeVerdict::kUnsatisfiable},
      {"bytes=10000-20000", 10000, RangeVerdict::kUnsatisfiable},
      {"bytes=20000-", 10000, RangeVerdict::kUnsatisfiable},
      {"bytes=-0", 10000, RangeVerdict::kUnsatisfiable},
      {"bytes=-000", 10000, RangeVerdict::kUnsatisfiable},
      {"bytes=1-", 1, RangeVerdict::kUnsatisfiable},
      // An empty representation has no byte to select.
      {"bytes=0-", 0, RangeVerdict::kUnsatisfiable},
      {"bytes=0-0", 0, RangeVerdict::kUnsatisfiable},
      {"bytes=0-100", 0, RangeVerdict::kUnsatisfiable},
      {"bytes=-1", 0, RangeVerdict::kUnsatisfiable},
      {"bytes=-0", 0, RangeVerdict::kUnsatisfiable},
  });
}

// Bad syntax, another unit, several ranges: the header is ignored (the whole
// asset is sent), never an error.
TEST(HttpRangeTest, Ignored) {
  ExpectRanges({
      {"", 10000, RangeVerdict::kIgnore},
      {"bytes", 10000, RangeVerdict::kIgnore},
      {"bytes=", 10000, RangeVerdict::kIgnore},
      {"bytes=-", 10000, RangeVerdict::kIgnore},
      {"bytes=5", 10000, RangeVerdict::kIgnore},
      {"bytes=5-3", 10000, RangeVerdict::kIgnore},       // last < first
      {"bytes=20000-10", 10000, RangeVerdict::kIgnore},  // invalid before unsatisfiable
      {"bytes=1--2", 10000, RangeVerdict::kIgnore},
      {"bytes=--2", 10000, RangeVerdict::kIgnore},
      {"bytes=a-b", 10000, RangeVerdict::kIgnore},
      {"bytes=1-x", 10000, RangeVerdict::kIgnore},
      {"bytes=+1-2", 10000, RangeVerdict::kIgnore},
      {"bytes=-+5", 10000, RangeVerdict::kIgnore},
      {"bytes=0x10-", 10000, RangeVerdict::kIgnore},
      {"bytes=1.5-2", 10000, RangeVerdict::kIgnore},
      {"items=0-1", 10000, RangeVerdict::kIgnore},
      {"bytesx=0-1", 10000, RangeVerdict::kIgnore},
      {"=0-1", 10000, RangeVerdict::kIgnore},
      {"bytes 0-1", 10000, RangeVerdict::kIgnore},
      {"0-1", 10000, RangeVerdict::kIgnore},
      {"bytes=0-1,", 10000, RangeVerdict::kIgnore},  // a list, even with one range
      {",bytes=0-1", 10000, RangeVerdict::kIgnore},
      {"bytes=0-1, 5-6", 10000, RangeVerdict::kIgnore},
      {"items=0-1", 0, RangeVerdict::kIgnore},
      // several ranges even when none is satisfiable
      {"bytes=20000-,30000-", 10000, RangeVerdict::kIgnore},
  });
}

// Positions past UINT64_MAX saturate: as good as infinity.
TEST(HttpRangeTest, HugeNumbersSaturate) {
  ExpectRanges({
      {"bytes=0-18446744073709551615", 10000, RangeVerdict::kSatisfiable, 0, 9999},
      {"bytes=0-18446744073709551616", 10000, RangeVerdict::kSatisfiable, 0, 9999},
      {"bytes=0-99999999999999999999999999999", 10000, RangeVerdict::kSatisfiable, 0, 9999},
      {"bytes=-99999999999999999999999999999", 10000, RangeVerdict::kSatisfiable, 0, 9999},
      {"bytes=18446744073709551615-", 10000, RangeVerdict::kUnsatisfiable},
      {"bytes=99999999999999999999999999999-", 10000, RangeVerdict::kUnsatisfiable},
      // Both saturate to the same value, so last < first goes unseen.
      {"bytes=18446744073709551617-18446744073709551616", 10000, RangeVerdict::kUnsatisfiable},
      // The largest representation there can be.
      {"bytes=-1", kMax, RangeVerdict::kSatisfiable, kMax - 1, kMax - 1},
      {"bytes=0-", kMax, RangeVerdict::kSatisfiable, 0, kMax - 1},
      {"bytes=0-99999999999999999999999", kMax, RangeVerdict::kSatisfiable, 0, kMax - 1},
      {"bytes=18446744073709551614-", kMax, RangeVerdict::kSatisfiable, kMax - 1, kMax - 1},
  });
}

TEST(HttpPositionTest, DigitsOnlyAndSaturating) {
  EXPECT_EQ(ParsePosition("0"), 0u);
  EXPECT_EQ(ParsePosition("7"), 7u);
  EXPECT_EQ(ParsePosition("00012"), 12u);
  EXPECT_EQ(ParsePosition("65535"), 65535u);
  EXPECT_EQ(ParsePosition("18446744073709551614"), kMax - 1);
  EXPECT_EQ(ParsePosition("18446744073709551615"), kMax);
  EXPECT_EQ(ParsePosition("18446744073709551616"), kMax);
  EXPECT_EQ(ParsePosition("18446744073709551620"), kMax);
  EXPECT_EQ(ParsePosition(std::string(400, '9')), kMax);
  for (std::string_view bad : {"", " ", "-1", "+1", " 1", "1 ", "1a", "0x1", "1.0", "1e3", "١"})
    EXPECT_EQ(ParsePosition(bad), std::nullopt) << '"' << bad << '"';
}

// ---------------------------------------------------------------------------
// Entity tags

TEST(HttpEtagTest, ListMatching) {
  const std::string_view etag = "\"abc\"";
  struct Case {
    std::string_view list;
    bool weak_match;    // If-None-Match: weak comparison
    bool strong_match;  // If-Match: strong comparison
  };
  const Case cases[] = {
      {"*", true, true},
      {" * ", true, true},
      {"\"abc\"", true, true},
      {"  \"abc\"\t", true, true},
      {"W/\"abc\"", true, false},  // a weak tag matches weakly only
      {"\"x\",\"abc\"", true, true},
      {"\"x\", \"abc\"", true, true},
      {" \"x\" ,\t\"abc\" ", true, true},
      {"\"abc\", \"x\"", true, true},
      {"\"x\", W/\"abc\"", true, false},
      {"W/\"x\", \"abc\"", true, true},
      {"W/\"abc\", \"abc\"", true, true},
      {"\"x\", ,\"abc\"", true, true},  // empty list elements are skipped
      {"", false, false},
      {" ", false, false},
      {",", false, false},
      {"\"x\"", false, false},
      {"\"x\", \"y\"", false, false},
      {"W/\"x\"", false, false},
      {"abc", false, false},        // not quoted
      {"\"ABC\"", false, false},    // tags are case-sensitive
      {"w/\"abc\"", false, false},  // so is the W/ prefix (RFC 9110 §8.8.3)
      {"W/ \"abc\"", false, false},
      {"\"abc\"x", false, false},
      {"\"abc", false, false},
      {"*, \"x\"", false, false},  // "*" only stands alone
      {"**", false, false},
  };
  for (const Case& c : cases) {
    EXPECT_EQ(EtagListMatches(c.list, etag, true), c.weak_match) << "weak: " << c.list;
    EXPECT_EQ(EtagListMatches(c.list, etag, false), c.strong_match) << "strong: " << c.list;
  }
}

// RFC 9110 §8.8.3.2's comparison table, from the side of our strong tag "1".
TEST(HttpEtagTest, Rfc9110ComparisonTable) {
  EXPECT_FALSE(EtagListMatches("W/\"1\"", "\"1\"", false));  // W/"1" vs "1": strong no
  EXPECT_TRUE(EtagListMatches("W/\"1\"", "\"1\"", true));    //                weak yes
  EXPECT_FALSE(EtagListMatches("\"2\"", "\"1\"", false));    // "1" vs "2": no match
  EXPECT_FALSE(EtagListMatches("\"2\"", "\"1\"", true));
  EXPECT_TRUE(EtagListMatches("\"1\"", "\"1\"", false));  // "1" vs "1": both
  EXPECT_TRUE(EtagListMatches("\"1\"", "\"1\"", true));
}

TEST(HttpTokenTest, TrimAndEqualsNoCase) {
  EXPECT_EQ(Trim(""), "");
  EXPECT_EQ(Trim(" \t \t"), "");
  EXPECT_EQ(Trim("  a b\t"), "a b");
  EXPECT_EQ(Trim("a"), "a");
  EXPECT_EQ(Trim("\na\r"), "\na\r");  // OWS is space and tab only
  const std::string_view s = "  xy ";
  EXPECT_EQ(Trim(s).data(), s.data() + 2);  // a view into the argument

  EXPECT_TRUE(EqualsNoCase("", ""));
  EXPECT_TRUE(EqualsNoCase("Bearer", "bEARER"));
  EXPECT_TRUE(EqualsNoCase("bytes", "BYTES"));
  EXPECT_FALSE(EqualsNoCase("Bearer", "Bearer "));
  EXPECT_FALSE(EqualsNoCase("Bearer", "Bearex"));
  EXPECT_FALSE(EqualsNoCase("a", ""));
}

TEST(HttpTokenTest, HexValue) {
  for (int i = 0; i < 256; ++i) {
    const char c = static_cast<char>(i);
    int want = -1;
    if (c >= '0' && c <= '9') want = c - '0';
    if (c >= 'a' && c <= 'f') want = c - 'a' + 10;
    if (c >= 'A' && c <= 'F') want = c - 'A' + 10;
    EXPECT_EQ(HexValue(c), want) << "byte " << i;
  }
}

// ---------------------------------------------------------------------------
// Content-Disposition

TEST(HttpContentDispositionTest, PlainAscii) {
  EXPECT_EQ(ContentDisposition("model.bin"), "attachment; filename=\"model.bin\"");
  EXPECT_EQ(ContentDisposition(""), "attachment; filename=\"\"");
  // Printable ASCII is plain: no filename*, whatever the punctuation.
  EXPECT_EQ(ContentDisposition("a b;c=d%20'e'.txt"), "attachment; filename=\"a b;c=d%20'e'.txt\"");
}

TEST(HttpContentDispositionTest, QuotesAndBackslashesEscaped) {
  EXPECT_EQ(ContentDisposition("a\"b"), "attachment; filename=\"a\\\"b\"");
  EXPECT_EQ(ContentDisposition("a\\b"), "attachment; filename=\"a\\\\b\"");
  EXPECT_EQ(ContentDisposition("\"\\\""), "attachment; filename=\"\\\"\\\\\\\"\"");
}

TEST(HttpContentDispositionTest, Utf8GetsFilenameStar) {
  // "résumé.pdf": each byte of é is '_' in the fallback.
  EXPECT_EQ(ContentDisposition("r\xC3\xA9sum\xC3\xA9.pdf"),
            "attachment; filename=\"r__sum__.pdf\"; filename*=UTF-8''r%C3%A9sum%C3%A9.pdf");
  // RFC 8187 §3.2.3's example value, "£ and € rates" (upper-case hex here).
  EXPECT_EQ(ContentDisposition("\xC2\xA3 and \xE2\x82\xAC rates"),
            "attachment; filename=\"__ and ___ rates\"; "
            "filename*=UTF-8''%C2%A3%20and%20%E2%82%AC%20rates");
  // Quotes are escaped in the fallback and percent-encoded in filename*.
  EXPECT_EQ(ContentDisposition("\"\xC3\xA9\\\""),
            "attachment; filename=\"\\\"__\\\\\\\"\"; filename*=UTF-8''%22%C3%A9%5C%22");
  // Invalid UTF-8 is encoded byte for byte too.
  EXPECT_EQ(ContentDisposition("\xFF"), "attachment; filename=\"_\"; filename*=UTF-8''%FF");
}

TEST(HttpContentDispositionTest, AttrCharsKeptOthersEncoded) {
  // RFC 8187 attr-char: ALPHA DIGIT ! # $ & + - . ^ _ ` | ~
  EXPECT_EQ(ContentDisposition("aZ09!#$&+-.^_`|~\xC3\xA9"),
            "attachment; filename=\"aZ09!#$&+-.^_`|~__\"; filename*=UTF-8''aZ09!#$&+-.^_`|~%C3%A9");
  EXPECT_EQ(
      ContentDisposition(" %'()*,/:;<=>?@[]{}\"\\\xC3\xA9"),
      "attachment; filename=\" %'()*,/:;<=>?@[]{}\\\"\\\\__\"; "
      "filename*=UTF-8''%20%25%27%28%29%2A%2C%2F%3A%3B%3C%3D%3E%3F%40%5B%5D%7B%7D%22%5C%C3%A9");
}

TEST(HttpContentDispositionTest, ControlCharacters) {
  EXPECT_EQ(ContentDisposition("a\tb\x01Z\x7f"),
            "attachment; filename=\"a_b_Z_\"; filename*=UTF-8''a%09b%01Z%7F");
  // CR LF cannot split the header.
  EXPECT_EQ(ContentDisposition("x\r\nSet-Cookie: y"),
            "attachment; filename=\"x__Set-Cookie: y\"; filename*=UTF-8''x%0D%0ASet-Cookie%3A%20y");
}

// Disabled: documents a defect in ContentDisposition, reported and not fixed
// here (behaviour is unchanged by the split). std::strchr(set, 0) finds the
// set's terminator, so a NUL byte counts as an attr-char and is copied raw
// into filename* instead of being written %00. The plane never passes a NUL
// (it refuses URLs that decode to one), so this is latent.
TEST(HttpContentDispositionTest, NulByteIsPercentEncoded) {
  EXPECT_EQ(ContentDisposition(std::string_view("a\0b", 3)),
            "attachment; filename=\"a_b\"; filename*=UTF-8''a%00b");
}

// ---------------------------------------------------------------------------
// Content-Type

AssetInfo InfoOf(AssetKind kind, std::optional<std::string> content_type = std::nullopt) {
  AssetInfo info;
  info.kind = kind;
  if (content_type) info.metadata["content_type"] = *content_type;
  return info;
}

TEST(HttpContentTypeTest, ByKind) {
  EXPECT_EQ(ContentTypeOf(InfoOf(AssetKind::kBlob)), "application/octet-stream");
  EXPECT_EQ(ContentTypeOf(InfoOf(AssetKind::kTensor)), "application/vnd.apache.arrow.stream");
  EXPECT_EQ(ContentTypeOf(InfoOf(AssetKind::kEmbed)), "application/vnd.apache.arrow.stream");
  EXPECT_EQ(ContentTypeOf(InfoOf(AssetKind::kArtifact)), "application/zip");
  EXPECT_EQ(ContentTypeOf(InfoOf(static_cast<AssetKind>(99))), "application/octet-stream");
}

TEST(HttpContentTypeTest, DeclaredTypeWinsWhenValid) {
  for (AssetKind kind :
       {AssetKind::kBlob, AssetKind::kTensor, AssetKind::kEmbed, AssetKind::kArtifact}) {
    SCOPED_TRACE(static_cast<int>(kind));
    EXPECT_EQ(ContentTypeOf(InfoOf(kind, "text/csv")), "text/csv");
    EXPECT_EQ(ContentTypeOf(InfoOf(kind, "text/plain; charset=utf-8")),
              "text/plain; charset=utf-8");
    EXPECT_EQ(ContentTypeOf(InfoOf(kind, "image/png")), "image/png");
    const std::string longest = "a/" + std::string(198, 'b');
    EXPECT_EQ(ContentTypeOf(InfoOf(kind, longest)), longest);
  }
}

TEST(HttpContentTypeTest, InvalidDeclaredTypeFallsBackToKind) {
  const std::string invalid[] = {
      "",
      "textplain",                      // no '/'
      "text/plain\r\nX-Evil: 1",        // header injection
      "text/plain\n",                   //
      std::string("text/pl\0ain", 11),  // NUL
      "text/\x7f",                      // DEL
      "text/\xC3\xA9",                  // not ASCII
      "\ttext/plain",                   // a control character
      "a/" + std::string(199, 'b'),     // 201 bytes
  };
  for (const std::string& t : invalid) {
    SCOPED_TRACE(t);
    EXPECT_EQ(ContentTypeOf(InfoOf(AssetKind::kBlob, t)), "application/octet-stream");
    EXPECT_EQ(ContentTypeOf(InfoOf(AssetKind::kTensor, t)), "application/vnd.apache.arrow.stream");
    EXPECT_EQ(ContentTypeOf(InfoOf(AssetKind::kArtifact, t)), "application/zip");
  }
  // Only the key "content_type" counts.
  AssetInfo info = InfoOf(AssetKind::kArtifact);
  info.metadata["Content-Type"] = "text/csv";
  info.metadata["content-type"] = "text/csv";
  EXPECT_EQ(ContentTypeOf(info), "application/zip");
}

// ---------------------------------------------------------------------------
// URL path segments

TEST(HttpSegmentsTest, SplitsAbsolutePaths) {
  using V = std::vector<std::string_view>;
  EXPECT_EQ(Segments("/a"), V({"a"}));
  EXPECT_EQ(Segments("/v1/assets/ns/0123abcd"), V({"v1", "assets", "ns", "0123abcd"}));
  EXPECT_EQ(Segments("/v1/paths/ns/dir/file.bin"), V({"v1", "paths", "ns", "dir", "file.bin"}));
  // Dots that are not "." or ".." are names.
  EXPECT_EQ(Segments("/.a/..b/c./.../x"), V({".a", "..b", "c.", "...", "x"}));
  // No percent-decoding here.
  EXPECT_EQ(Segments("/a%2Fb/%2E%2E"), V({"a%2Fb", "%2E%2E"}));
  // The segments are views into the argument.
  const std::string_view url = "/ab/cd";
  const auto seg = Segments(url);
  ASSERT_TRUE(seg.has_value());
  EXPECT_EQ((*seg)[1].data(), url.data() + 4);
}

TEST(HttpSegmentsTest, RefusesEmptyDotAndDotDot) {
  for (std::string_view bad :
       {"", "a", "a/b", "v1/assets", "/", "//", "//a", "/a//b", "/a/", "/v1/assets/ns/id/", "/.",
        "/..", "/a/.", "/a/..", "/a/./b", "/a/../b", "/../a", "/./a"})
    EXPECT_EQ(Segments(bad), std::nullopt) << '"' << bad << '"';
}

// ---------------------------------------------------------------------------
// Status codes and error bodies

TEST(HttpStatusTest, EveryCode) {
  const std::pair<Code, unsigned> table[] = {
      {Code::kOk, 200},
      {Code::kCancelled, 499},
      {Code::kUnknown, 500},
      {Code::kInvalidArgument, 400},
      {Code::kDeadlineExceeded, 504},
      {Code::kNotFound, 404},
      {Code::kAlreadyExists, 409},
      {Code::kPermissionDenied, 403},
      {Code::kResourceExhausted, 429},
      {Code::kFailedPrecondition, 400},
      {Code::kAborted, 409},
      {Code::kOutOfRange, 416},  // on the plane: a Range that cannot be satisfied
      {Code::kUnimplemented, 501},
      {Code::kInternal, 500},
      {Code::kUnavailable, 503},
      {Code::kDataLoss, 500},
      {Code::kUnauthenticated, 401},
  };
  // The table names every code, 0 (OK) through 16 (UNAUTHENTICATED), once.
  ASSERT_EQ(std::size(table), 17u);
  for (size_t i = 0; i < std::size(table); ++i) {
    EXPECT_EQ(static_cast<int>(table[i].first), static_cast<int>(i));
    EXPECT_EQ(HttpStatusOf(table[i].first), table[i].second) << CodeName(table[i].first);
  }
  EXPECT_EQ(HttpStatusOf(static_cast<Code>(17)), 500u);
  EXPECT_EQ(HttpStatusOf(static_cast<Code>(-1)), 500u);
}

TEST(HttpStatusTest, ErrorJson) {
  const std::string body =
      ErrorJson(Status(Code::kPermissionDenied, "URL_EXPIRED", "the URL expired \"now\""));
  ASSERT_FALSE(body.empty());
  EXPECT_EQ(body.back(), '\n');
  const auto j = nlohmann::json::parse(body);
  EXPECT_EQ(j, nlohmann::json({{"code", "PERMISSION_DENIED"},
                               {"reason", "URL_EXPIRED"},
                               {"message", "the URL expired \"now\""}}));
  EXPECT_EQ(body,
            "{\"code\":\"PERMISSION_DENIED\",\"message\":\"the URL expired \\\"now\\\"\","
            "\"reason\":\"URL_EXPIRED\"}\n");  // keys sorted
}

TEST(HttpStatusTest, ErrorJsonReplacesBadUtf8) {
  const std::string body =
      ErrorJson(Status(Code::kNotFound, "ASSET_NOT_FOUND", "no asset \xFF\xFE here \xC3\xA9"));
  const auto j = nlohmann::json::parse(body);  // throws if not valid JSON / UTF-8
  EXPECT_EQ(j["code"], "NOT_FOUND");
  EXPECT_EQ(j["message"], "no asset \xEF\xBF\xBD\xEF\xBF\xBD here \xC3\xA9");
}

}  // namespace
}  // namespace aifs::test
