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

// lc/<ns>/<parent>/<child> -> ChildEdge
inline std::string ChildPrefix(std::string_view ns, const Digest& parent) {
  return "lc/" + std::string(ns) + "/" + HexEncode(parent) + "/";
}
inline std::string Child(std::string_view ns, const Digest& parent, const Digest& child) {
  return ChildPrefix(ns, parent) + HexEncode(child);
}
// lk/<ns>/<parent> -> number of live children (decimal). Every put naming the
// parent and every delete of the parent read-modify-write it, so a child can
// never commit against a parent being deleted (their transactions conflict).
inline std::string ChildCount(std::string_view ns, const Digest& parent) {
  return "lk/" + std::string(ns) + "/" + HexEncode(parent);
}
// cl/<ns>/<id> -> "+" or "-": membership changes since the namespace's last
// snapshot, written by the commit that made them; a snapshot consumes them.
inline std::string ChangePrefix(std::string_view ns) { return "cl/" + std::string(ns) + "/"; }
inline std::string Change(std::string_view ns, const Digest& id) {
  return ChangePrefix(ns) + HexEncode(id);
}
// tb/<ns>/<id> -> Tombstone
inline std::string Tombstone(std::string_view ns, const Digest& id) {
  return "tb/" + std::string(ns) + "/" + HexEncode(id);
}

}  // namespace aifs::keys
