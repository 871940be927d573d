// Identifiers: AssetID (BLAKE3-256 of the asset bytes), SnapshotID (128 bits),
// namespace names, and the aifs:// / aifs-snap:// URIs that combine them.
// Parsers are strict: lowercase hex of the exact length, nothing else.
#pragma once

#include <array>
#include <compare>
#include <optional>
#include <string>
#include <string_view>

#include "aifs/core/blake3.h"
#include "aifs/core/status.h"

namespace aifs {

class AssetId {
 public:
  static constexpr size_t kSize = 32;
  AssetId() = default;
  explicit AssetId(const Digest& d) : bytes_(d) {}
  static Result<AssetId> Parse(std::string_view hex);
  static std::optional<AssetId> FromBytes(ByteSpan b);

  const Digest& bytes() const { return bytes_; }
  std::string ToHex() const;
  auto operator<=>(const AssetId&) const = default;

 private:
  Digest bytes_{};
};

struct AssetIdHash {
  size_t operator()(const AssetId& id) const noexcept { return DigestHash()(id.bytes()); }
};

class SnapshotId {
 public:
  static constexpr size_t kSize = 16;
  SnapshotId() = default;
  explicit SnapshotId(const std::array<uint8_t, kSize>& b) : bytes_(b) {}
  static Result<SnapshotId> Parse(std::string_view hex);

  const std::array<uint8_t, kSize>& bytes() const { return bytes_; }
  std::string ToHex() const;
  auto operator<=>(const SnapshotId&) const = default;

 private:
  std::array<uint8_t, kSize> bytes_{};
};

// Namespace names: 1-63 chars of [a-z0-9._-], starting with a letter or digit.
Status ValidateNamespaceName(std::string_view name);

// aifs://<ns>/<asset-id> or aifs://<asset-id> (namespace from context).
struct AssetUri {
  std::optional<std::string> ns;
  AssetId id;
  std::string ToString() const;
};
// aifs-snap://<ns>/<snapshot-id>
struct SnapshotUri {
  std::string ns;
  SnapshotId id;
  std::string ToString() const;
};

Result<AssetUri> ParseAssetUri(std::string_view uri);
Result<SnapshotUri> ParseSnapshotUri(std::string_view uri);

// Accepts a bare asset ID or an aifs:// URI (whose namespace, if any, is kept).
Result<AssetUri> ParseAssetRef(std::string_view ref);

}  // namespace aifs
