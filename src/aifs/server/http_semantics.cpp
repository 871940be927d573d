// See http_semantics.h for the contracts.
#include "aifs/server/http_semantics.h"

#include <algorithm>
#include <cctype>
#include <cstring>
#include <limits>
#include <nlohmann/json.hpp>

namespace aifs::server::http {

unsigned HttpStatusOf(Code code) {
  switch (code) {
    case Code::kOk:
      return 200;
    case Code::kCancelled:
      return 499;
    case Code::kInvalidArgument:
      return 400;
    case Code::kFailedPrecondition:
      return 400;
    case Code::kDeadlineExceeded:
      return 504;
    case Code::kNotFound:
      return 404;
    case Code::kAlreadyExists:
      return 409;
    case Code::kAborted:
      return 409;
    case Code::kPermissionDenied:
      return 403;
    case Code::kUnauthenticated:
      return 401;
    case Code::kResourceExhausted:
      return 429;
    case Code::kOutOfRange:
      return 416;
    case Code::kUnimplemented:
      return 501;
    case Code::kUnavailable:
      return 503;
    case Code::kUnknown:
    case Code::kInternal:
    case Code::kDataLoss:
      return 500;
  }
  return 500;
}

std::string ErrorJson(const Status& st) {
  nlohmann::json j = {{"code", std::string(CodeName(st.code()))},
                      {"reason", st.reason()},
                      {"message", st.message()}};
  // Messages echo client input (err::Echo): never let bad UTF-8 break the body.
  return j.dump(-1, ' ', false, nlohmann::json::error_handler_t::replace) + "\n";
}

std::string_view Trim(std::string_view s) {
  while (!s.empty() && (s.front() == ' ' || s.front() == '\t')) s.remove_prefix(1);
  while (!s.empty() && (s.back() == ' ' || s.back() == '\t')) s.remove_suffix(1);
  return s;
}

bool EqualsNoCase(std::string_view a, std::string_view b) {
  return a.size() == b.size() && std::equal(a.begin(), a.end(), b.begin(), [](char x, char y) {
           return std::tolower(static_cast<unsigned char>(x)) ==
                  std::tolower(static_cast<unsigned char>(y));
         });
}

bool EtagListMatches(std::string_view list, std::string_view etag, bool weak) {
  list = Trim(list);
  if (list == "*") return true;
  while (!list.empty()) {
    const size_t comma = list.find(',');
    std::string_view item = Trim(list.substr(0, comma));
    list = comma == std::string_view::npos ? std::string_view() : list.substr(comma + 1);
    if (item.starts_with("W/")) {
      if (!weak) continue;
      item.remove_prefix(2);
    }
    if (item == etag) return true;
  }
  return false;
}

std::optional<uint64_t> ParsePosition(std::string_view s) {
  if (s.empty()) return std::nullopt;
  uint64_t v = 0;
  for (char c : s) {
    if (c < '0' || c > '9') return std::nullopt;
    const uint64_t d = static_cast<uint64_t>(c - '0');
    v = v > (std::numeric_limits<uint64_t>::max() - d) / 10 ? std::numeric_limits<uint64_t>::max()
                                                            : v * 10 + d;
  }
  return v;
}

RangeVerdict ParseRange(std::string_view header, uint64_t size, ByteRange* out) {
  header = Trim(header);
  const size_t eq = header.find('=');
  if (eq == std::string_view::npos || !EqualsNoCase(Trim(header.substr(0, eq)), "bytes"))
    return RangeVerdict::kIgnore;
  const std::string_view spec = Trim(header.substr(eq + 1));
  if (spec.find(',') != std::string_view::npos) return RangeVerdict::kIgnore;  // several
  const size_t dash = spec.find('-');
  if (dash == std::string_view::npos) return RangeVerdict::kIgnore;
  const std::string_view a = Trim(spec.substr(0, dash)), b = Trim(spec.substr(dash + 1));
  if (a.empty()) {  // suffix: the last n bytes
    const auto n = ParsePosition(b);
    if (!n) return RangeVerdict::kIgnore;
    if (*n == 0 || size == 0) return RangeVerdict::kUnsatisfiable;
    out->first = *n >= size ? 0 : size - *n;
    out->last = size - 1;
    return RangeVerdict::kSatisfiable;
  }
  const auto first = ParsePosition(a);
  if (!first) return RangeVerdict::kIgnore;
  std::optional<uint64_t> last = std::numeric_limits<uint64_t>::max();
  if (!b.empty()) {
    last = ParsePosition(b);
    if (!last || *last < *first) return RangeVerdict::kIgnore;
  }
  if (*first >= size) return RangeVerdict::kUnsatisfiable;
  out->first = *first;
  out->last = std::min(*last, size - 1);
  return RangeVerdict::kSatisfiable;
}

std::string ContentDisposition(std::string_view name) {
  std::string ascii;
  bool plain = true;
  for (char ch : name) {
    const auto c = static_cast<unsigned char>(ch);
    if (c < 0x20 || c >= 0x7f) {
      ascii += '_';
      plain = false;
    } else {
      if (c == '"' || c == '\\') ascii += '\\';
      ascii += ch;
    }
  }
  std::string out = "attachment; filename=\"" + ascii + "\"";
  if (!plain) {
    static constexpr char kHex[] = "0123456789ABCDEF";
    out += "; filename*=UTF-8''";
    for (char ch : name) {
      const auto c = static_cast<unsigned char>(ch);
      // attr-char (RFC 8187); strchr would also find the terminating NUL.
      if (std::isalnum(c) || std::string_view("!#$&+-.^_`|~").find(ch) != std::string_view::npos) {
        out += ch;
      } else {
        out += '%';
        out += kHex[c >> 4];
        out += kHex[c & 15];
      }
    }
  }
  return out;
}

std::string ContentTypeOf(const AssetInfo& info) {
  if (auto it = info.metadata.find("content_type"); it != info.metadata.end()) {
    const std::string& t = it->second;
    const bool sane =
        !t.empty() && t.size() <= 200 && t.find('/') != std::string::npos &&
        std::all_of(t.begin(), t.end(), [](char c) {
          return static_cast<unsigned char>(c) >= 0x20 && static_cast<unsigned char>(c) < 0x7f;
        });
    if (sane) return t;
  }
  switch (info.kind) {
    case AssetKind::kTensor:
    case AssetKind::kEmbed:
      return "application/vnd.apache.arrow.stream";
    case AssetKind::kArtifact:
      return "application/zip";
    case AssetKind::kBlob:
      break;
  }
  return "application/octet-stream";
}

std::optional<std::vector<std::string_view>> Segments(std::string_view url) {
  std::vector<std::string_view> out;
  if (url.empty() || url.front() != '/') return std::nullopt;
  url.remove_prefix(1);
  while (true) {
    const size_t slash = url.find('/');
    const std::string_view seg = url.substr(0, slash);
    if (seg.empty() || seg == "." || seg == "..") return std::nullopt;
    out.push_back(seg);
    if (slash == std::string_view::npos) break;
    url.remove_prefix(slash + 1);
  }
  return out;
}

int HexValue(char c) {
  if (c >= '0' && c <= '9') return c - '0';
  if (c >= 'a' && c <= 'f') return c - 'a' + 10;
  if (c >= 'A' && c <= 'F') return c - 'A' + 10;
  return -1;
}

}  // namespace aifs::server::http
