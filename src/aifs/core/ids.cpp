#include "aifs/core/ids.h"

#include <algorithm>
#include <cstring>

#include "aifs/core/hex.h"

namespace aifs {

namespace {
template <size_t N>
Result<std::array<uint8_t, N>> ParseFixedHex(std::string_view hex, const char* what) {
  if (hex.size() != 2 * N)
    return err::InvalidArgument(
        "MALFORMED_ID", std::string(what) + " must be " + std::to_string(2 * N) +
                            " lowercase hex characters, got " + std::to_string(hex.size()));
  auto bytes = HexDecode(hex);
  if (!bytes)
    return err::InvalidArgument("MALFORMED_ID",
                                std::string(what) + " must be lowercase hex [0-9a-f]");
  std::array<uint8_t, N> out;
  std::memcpy(out.data(), bytes->data(), N);
  return out;
}
}  // namespace

Result<AssetId> AssetId::Parse(std::string_view hex) {
  AIFS_ASSIGN_OR_RETURN(auto b, ParseFixedHex<kSize>(hex, "asset id"));
  return AssetId(b);
}

std::optional<AssetId> AssetId::FromBytes(ByteSpan b) {
  if (b.size() != kSize) return std::nullopt;
  Digest d;
  std::copy(b.begin(), b.end(), d.begin());
  return AssetId(d);
}

std::string AssetId::ToHex() const { return HexEncode(bytes_); }

Result<SnapshotId> SnapshotId::Parse(std::string_view hex) {
  AIFS_ASSIGN_OR_RETURN(auto b, ParseFixedHex<kSize>(hex, "snapshot id"));
  return SnapshotId(b);
}

std::string SnapshotId::ToHex() const { return HexEncode(bytes_); }

Status ValidateNamespaceName(std::string_view name) {
  auto bad = [&](std::string why) {
    return err::InvalidArgument("INVALID_NAMESPACE_NAME",
                                "namespace name '" + err::Echo(name) + "' " + why);
  };
  if (name.empty() || name.size() > 63) return bad("must be 1-63 characters long");
  auto alnum = [](char c) { return (c >= 'a' && c <= 'z') || (c >= '0' && c <= '9'); };
  if (!alnum(name[0])) return bad("must start with a lowercase letter or digit");
  for (char c : name)
    if (!alnum(c) && c != '.' && c != '_' && c != '-')
      return bad("may contain only [a-z0-9._-]");
  return Status::Ok();
}

std::string AssetUri::ToString() const {
  return "aifs://" + (ns ? *ns + "/" : std::string()) + id.ToHex();
}
std::string SnapshotUri::ToString() const { return "aifs-snap://" + ns + "/" + id.ToHex(); }

namespace {
constexpr std::string_view kAssetScheme = "aifs://";
constexpr std::string_view kSnapScheme = "aifs-snap://";

Status BadUri(std::string_view uri, std::string why) {
  return err::InvalidArgument("MALFORMED_URI",
                              "'" + err::Echo(uri, 2 * err::kEchoBytes) + "': " + why);
}
}  // namespace

Result<AssetUri> ParseAssetUri(std::string_view uri) {
  if (!uri.starts_with(kAssetScheme)) return BadUri(uri, "expected aifs://<ns>/<asset-id>");
  std::string_view rest = uri.substr(kAssetScheme.size());
  AssetUri out;
  size_t slash = rest.find('/');
  std::string_view id_part = rest;
  if (slash != std::string_view::npos) {
    std::string_view ns = rest.substr(0, slash);
    id_part = rest.substr(slash + 1);
    Status st = ValidateNamespaceName(ns);
    if (!st.ok()) return BadUri(uri, st.message());
    out.ns = std::string(ns);
  }
  auto id = AssetId::Parse(id_part);
  if (!id.ok()) return BadUri(uri, id.status().message());
  out.id = *id;
  return out;
}

Result<SnapshotUri> ParseSnapshotUri(std::string_view uri) {
  if (!uri.starts_with(kSnapScheme))
    return BadUri(uri, "expected aifs-snap://<ns>/<snapshot-id>");
  std::string_view rest = uri.substr(kSnapScheme.size());
  size_t slash = rest.find('/');
  if (slash == std::string_view::npos) return BadUri(uri, "snapshot URIs need a namespace");
  std::string_view ns = rest.substr(0, slash);
  Status st = ValidateNamespaceName(ns);
  if (!st.ok()) return BadUri(uri, st.message());
  auto id = SnapshotId::Parse(rest.substr(slash + 1));
  if (!id.ok()) return BadUri(uri, id.status().message());
  return SnapshotUri{std::string(ns), *id};
}

Result<AssetUri> ParseAssetRef(std::string_view ref) {
  // Anything URI-like is held to URI rules, so typos get a URI error.
  if (ref.find_first_of(":/") != std::string_view::npos) return ParseAssetUri(ref);
  AIFS_ASSIGN_OR_RETURN(AssetId id, AssetId::Parse(ref));
  return AssetUri{std::nullopt, id};
}

}  // namespace aifs
