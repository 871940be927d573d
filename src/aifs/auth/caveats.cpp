#include "aifs/auth/caveats.h"

#include <ctime>

#include "aifs/privacy/epsilon.h"

namespace aifs::auth {

namespace {

constexpr std::string_view kOpNames[] = {"put",       "get",    "list", "search",
                                         "snapshot",  "branch", "tag",  "delete",
                                         "subscribe", "admin",  "query"};
constexpr std::string_view kDpEpsilon = "dp_epsilon <= ";

std::vector<std::string_view> SplitList(std::string_view s) {
  std::vector<std::string_view> out;
  size_t start = 0;
  while (true) {
    const size_t comma = s.find(',', start);
    out.push_back(s.substr(start, comma == std::string_view::npos ? s.npos : comma - start));
    if (comma == std::string_view::npos) break;
    start = comma + 1;
  }
  return out;
}

std::string Join(const std::vector<std::string>& items) {
  std::string out;
  for (const std::string& i : items) out += (out.empty() ? "" : ",") + i;
  return out;
}

bool Contains(const std::vector<std::string_view>& list, std::string_view v) {
  for (std::string_view x : list)
    if (x == v) return true;
  return false;
}

Status Denied(std::string reason, std::string message) {
  return err::PermissionDenied(std::move(reason), std::move(message));
}

Status Unknown(std::string_view predicate) {
  return Denied("UNKNOWN_CAVEAT",
                "the token has a caveat AIFS does not understand: '" + err::Echo(predicate) + "'");
}

}  // namespace

Result<uint32_t> ParseOps(std::string_view list) {
  uint32_t mask = 0;
  for (std::string_view name : SplitList(list)) {
    uint32_t bit = 0;
    for (size_t i = 0; i < std::size(kOpNames); ++i)
      if (kOpNames[i] == name) bit = 1u << i;
    if (bit == 0)
      return err::InvalidArgument("BAD_OPERATION",
                                  "unknown operation '" + err::Echo(name) +
                                      "' (put, get, list, search, snapshot, "
                                      "branch, tag, delete, subscribe, admin, query)");
    mask |= bit;
  }
  return mask;
}

std::string_view OpName(uint32_t single_op) {
  for (size_t i = 0; i < std::size(kOpNames); ++i)
    if (single_op == (1u << i)) return kOpNames[i];
  return "none";
}

std::string FormatOps(uint32_t mask) {
  std::string out;
  for (size_t i = 0; i < std::size(kOpNames); ++i)
    if (mask & (1u << i)) out += (out.empty() ? "" : ",") + std::string(kOpNames[i]);
  return out;
}

Result<int64_t> ParseUtc(std::string_view text) {
  // Exactly YYYY-MM-DDTHH:MM:SSZ: one spelling per instant, so a caveat means
  // the same to every reader.
  auto bad = [&] {
    return err::InvalidArgument(
        "BAD_TIME", "'" + err::Echo(text) + "' is not a UTC time like 2026-11-26T05:00:00Z");
  };
  if (text.size() != 20) return bad();
  const std::string_view pattern = "dddd-dd-ddTdd:dd:ddZ";
  for (size_t i = 0; i < text.size(); ++i) {
    if (pattern[i] == 'd' ? (text[i] < '0' || text[i] > '9') : text[i] != pattern[i]) return bad();
  }
  auto num = [&](size_t pos, size_t n) {
    int v = 0;
    for (size_t i = pos; i < pos + n; ++i) v = v * 10 + (text[i] - '0');
    return v;
  };
  std::tm tm{};
  tm.tm_year = num(0, 4) - 1900;
  tm.tm_mon = num(5, 2) - 1;
  tm.tm_mday = num(8, 2);
  tm.tm_hour = num(11, 2);
  tm.tm_min = num(14, 2);
  tm.tm_sec = num(17, 2);
  if (tm.tm_mon > 11 || tm.tm_mday < 1 || tm.tm_mday > 31 || tm.tm_hour > 23 || tm.tm_min > 59 ||
      tm.tm_sec > 59)
    return bad();
  const int64_t t = timegm(&tm);
  if (FormatUtc(t) != text) return bad();  // e.g. February 30th
  return t;
}

std::string FormatUtc(int64_t unix_s) {
  const std::time_t t = static_cast<std::time_t>(unix_s);
  std::tm tm{};
  gmtime_r(&t, &tm);
  char buf[32];
  std::strftime(buf, sizeof buf, "%Y-%m-%dT%H:%M:%SZ", &tm);
  return buf;
}

Result<int64_t> ParseDuration(std::string_view text) {
  auto bad = [&] {
    return err::InvalidArgument(
        "BAD_DURATION", "'" + err::Echo(text) + "' is not a duration like 90s, 15m, 1h, 7d");
  };
  if (text.size() < 2 || text.size() > 12) return bad();
  int64_t n = 0;
  for (char c : text.substr(0, text.size() - 1)) {
    if (c < '0' || c > '9') return bad();
    n = n * 10 + (c - '0');
  }
  switch (text.back()) {
    case 's': return n;
    case 'm': return n * 60;
    case 'h': return n * 3600;
    case 'd': return n * 86400;
    default: return bad();
  }
}

Status CheckCaveat(std::string_view predicate, const Access& access) {
  // A budget, not a yes/no: the ledger enforces it (engine/privacy_ledger.h).
  if (predicate.starts_with(kDpEpsilon))
    return DpEpsilonLimit(predicate) ? Status::Ok() : Unknown(predicate);
  const size_t sp1 = predicate.find(' ');
  if (sp1 == std::string_view::npos || sp1 + 3 > predicate.size() || predicate[sp1 + 2] != ' ')
    return Unknown(predicate);
  const std::string_view key = predicate.substr(0, sp1);
  const char rel = predicate[sp1 + 1];
  const std::string_view value = predicate.substr(sp1 + 3);
  if (value.empty() || value.find(' ') != std::string_view::npos) return Unknown(predicate);
  const bool any = access.scope == Access::Scope::kAny;

  if (key == "expires" && rel == '<') {
    auto until = ParseUtc(value);
    if (!until.ok()) return Unknown(predicate);
    if (access.now_unix_s >= *until)
      return Denied("TOKEN_EXPIRED", "the token expired at " + std::string(value));
    return Status::Ok();
  }
  if (rel != '=') return Unknown(predicate);
  const std::vector<std::string_view> list = SplitList(value);
  for (std::string_view item : list)
    if (item.empty()) return Unknown(predicate);

  if (key == "ops") {
    auto mask = ParseOps(value);
    if (!mask.ok()) return Unknown(predicate);
    if (access.op != kOpNone && (*mask & access.op) == 0)
      return Denied("OPERATION_NOT_ALLOWED", "the token does not allow '" + FormatOps(access.op) +
                                                 "' (only " + std::string(value) + ")");
    return Status::Ok();
  }
  if (key == "ns") {
    if (any || access.scope == Access::Scope::kListing) return Status::Ok();
    if (access.scope == Access::Scope::kStore)
      return Denied("WRONG_NAMESPACE",
                    "the token is limited to namespaces " + std::string(value) +
                        "; this call reaches the whole store");
    if (!Contains(list, access.ns))
      return Denied("WRONG_NAMESPACE", "the token is limited to namespaces " + std::string(value) +
                                           ", not '" + err::Echo(access.ns) + "'");
    return Status::Ok();
  }
  if (key == "branch") {
    if (any) return Status::Ok();
    if (!access.branch || !Contains(list, *access.branch))
      return Denied("WRONG_BRANCH", "the token is limited to branches " + std::string(value) +
                                        (access.branch ? ", not '" + err::Echo(*access.branch) + "'"
                                                       : "; this call names no branch"));
    return Status::Ok();
  }
  if (key == "asset") {
    if (any) return Status::Ok();
    if (access.assets.empty())
      return Denied("WRONG_ASSET", "the token is limited to assets " + std::string(value) +
                                       "; this call names no asset");
    for (const std::string& asset : access.assets)
      if (!Contains(list, asset))
        return Denied("WRONG_ASSET",
                      "the token is limited to assets " + std::string(value) + ", not " + asset);
    return Status::Ok();
  }
  return Unknown(predicate);
}

bool NamespaceAllowed(const std::vector<std::string>& caveats, std::string_view ns) {
  Access a;
  a.scope = Access::Scope::kNamespace;
  a.ns = std::string(ns);
  for (const std::string& c : caveats)
    if (c.starts_with("ns ") && !CheckCaveat(c, a).ok()) return false;
  return true;
}

std::string NsCaveat(const std::vector<std::string>& namespaces) {
  return "ns = " + Join(namespaces);
}
std::string OpsCaveat(uint32_t mask) { return "ops = " + FormatOps(mask); }
std::string ExpiresCaveat(int64_t unix_s) { return "expires < " + FormatUtc(unix_s); }
std::string BranchCaveat(const std::vector<std::string>& branches) {
  return "branch = " + Join(branches);
}
std::string AssetCaveat(const std::vector<std::string>& hex_ids) {
  return "asset = " + Join(hex_ids);
}
std::string DpEpsilonCaveat(uint64_t micros) {
  return std::string(kDpEpsilon) + privacy::FormatEpsilon(micros);
}

std::optional<uint64_t> DpEpsilonLimit(std::string_view caveat) {
  if (!caveat.starts_with(kDpEpsilon)) return std::nullopt;
  const std::string_view value = caveat.substr(kDpEpsilon.size());
  auto micros = privacy::ParseEpsilon(value);
  // One spelling per limit, so the caveat means the same to every reader.
  if (!micros.ok() || privacy::FormatEpsilon(*micros) != value) return std::nullopt;
  return *micros;
}

}  // namespace aifs::auth
