// HTTP semantics for the HttpPlane, free of libmicrohttpd (docs/http.md).
//
// Promise: pure functions implementing the pieces of RFC 9110 (and RFC 6266 /
// RFC 8187 for Content-Disposition) that the plane needs: status codes of a
// Status, entity-tag lists, byte ranges, media types, URL path segments.
// They do no I/O, keep no state and are thread-safe. None throws on bad
// input: each contract below says what malformed input yields. Views they
// return point into their arguments.
#pragma once

#include <cstdint>
#include <optional>
#include <string>
#include <string_view>
#include <vector>

#include "aifs/api/types.h"
#include "aifs/core/status.h"

namespace aifs::server::http {

// The HTTP status of a Status code: google.rpc.Code's documented mapping
// (CANCELLED 499, INVALID_ARGUMENT and FAILED_PRECONDITION 400, NOT_FOUND
// 404, ALREADY_EXISTS and ABORTED 409, ...), except OUT_OF_RANGE, which on
// the plane only ever means a Range that cannot be satisfied: 416. A value
// outside the enum yields 500.
unsigned HttpStatusOf(Code code);

// The error body: {"code":"NOT_FOUND","reason":"...","message":"..."} and a
// newline. Bytes that are not UTF-8 in the reason or message (they may echo
// client input) are replaced by U+FFFD, so the body is always valid JSON.
std::string ErrorJson(const Status& st);

// `s` without leading and trailing spaces and tabs (HTTP's OWS); "" if only
// those.
std::string_view Trim(std::string_view s);

// Whether `a` and `b` are equal ignoring ASCII case (header names, tokens).
bool EqualsNoCase(std::string_view a, std::string_view b);

// If-Match / If-None-Match (RFC 9110 §13.1.1-13.1.2): whether `list`, "*" or
// a comma-separated list of entity tags with optional spaces, matches
// `etag` (a quoted strong tag such as "\"abc\""). With `weak` (If-None-Match,
// weak comparison) a W/"x" item matches "x"; without it (If-Match, strong
// comparison) weak items never match. Items are compared byte for byte;
// an empty or malformed list matches nothing. Commas inside a quoted tag are
// not understood (they split the tag).
bool EtagListMatches(std::string_view list, std::string_view etag, bool weak);

// A decimal position (first-pos, last-pos, suffix-length, a port, an expiry).
// nullopt unless `s` is one or more ASCII digits (no sign, no spaces). A
// value past UINT64_MAX saturates to UINT64_MAX: a bound past any asset is as
// good as infinity.
std::optional<uint64_t> ParsePosition(std::string_view s);

// An inclusive byte range within a representation.
struct ByteRange {
  uint64_t first = 0;
  uint64_t last = 0;  // inclusive
};

enum class RangeVerdict {
  kIgnore,         // no Range, bad syntax, another unit, or several ranges: whole asset
  kSatisfiable,    // 206
  kUnsatisfiable,  // 416
};

// RFC 9110 §14.1-14.2 for a Range header with one range of a `size`-byte
// representation: "bytes=a-b", "bytes=a-", "bytes=-n" (the unit is
// case-insensitive; spaces and tabs around "=", "-" and the ends are
// allowed).
//   kSatisfiable: *out is the range, last clipped to size - 1; a suffix
//     longer than the representation selects all of it.
//   kUnsatisfiable: first >= size, a suffix "-0", or any suffix of an empty
//     representation. *out is left alone.
//   kIgnore: anything else, and *out is left alone: no "=", a unit other than
//     "bytes", several ranges (any ","), no "-", positions that are not
//     digits (ParsePosition), "a-b" with b < a.
RangeVerdict ParseRange(std::string_view header, uint64_t size, ByteRange* out);

// The Content-Disposition value for a download named `name`:
//   attachment; filename="ASCII"[; filename*=UTF-8''PERCENT-ENCODED]
// filename is an RFC 6266 quoted-string: '"' and '\' are backslash-escaped,
// each byte outside printable ASCII (controls, DEL, UTF-8) becomes '_'.
// filename* (RFC 8187) is added only when such a byte occurs: every byte but
// RFC 8187 attr-char is %XX (upper-case hex). `name` is taken as bytes; it is
// not checked to be valid UTF-8. Known defect: a NUL byte is copied into
// filename* raw, not as %00 (the plane refuses URLs holding one, so it never
// passes one).
std::string ContentDisposition(std::string_view name);

// The Content-Type of an asset: its metadata "content_type" when that is a
// plausible media type (1 to 200 printable ASCII bytes holding a '/'), else
// by kind: Tensor and Embed "application/vnd.apache.arrow.stream", Artifact
// "application/zip", Blob (and any other) "application/octet-stream".
std::string ContentTypeOf(const AssetInfo& info);

// The segments of an absolute URL path: "/a/b/c" -> {"a","b","c"}. nullopt
// when `url` is empty, does not start with '/', or any segment is empty
// ("/", "//a", "/a/", trailing slash), "." or "..". No percent-decoding.
std::optional<std::vector<std::string_view>> Segments(std::string_view url);

// The value of a hexadecimal digit ('0'-'9', 'a'-'f', 'A'-'F'); -1 for any
// other char.
int HexValue(char c);

}  // namespace aifs::server::http
