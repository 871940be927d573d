// Key layout of the engine's records in the MetaStore. Namespace names never
// contain '/', so "<prefix>/<ns>/" scans exactly one namespace.
#pragma once

#include <string>
#include <string_view>

#include "aifs/core/blake3.h"
#include "aifs/core/hex.h"

namespace aifs::keys {

inline std::string Namespace(std::string_view ns) { return "ns/" + std::string(ns); }
inline constexpr std::string_view kNamespacePrefix = "ns/";

inline std::string AssetPrefix(std::string_view ns) { return "as/" + std::string(ns) + "/"; }
inline std::string Asset(std::string_view ns, const Digest& id) {
  return AssetPrefix(ns) + HexEncode(id);
}

inline std::string ChunkPrefix(std::string_view ns) { return "ch/" + std::string(ns) + "/"; }
inline std::string Chunk(std::string_view ns, const Digest& hash) {
  return ChunkPrefix(ns) + HexEncode(hash);
}
inline constexpr std::string_view kChunkPrefixAll = "ch/";

}  // namespace aifs::keys
