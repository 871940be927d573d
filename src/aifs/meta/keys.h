// Key layout of the engine's records in the MetaStore. Namespace names never
// contain '/', so "<prefix>/<ns>/" scans exactly one namespace.
#pragma once

#include <algorithm>
#include <optional>
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
// An asset's packed chunk table (format 3, engine/chunk_index.h).
inline std::string ChunkIndex(std::string_view ns, const Digest& id) {
  return "ci/" + std::string(ns) + "/" + HexEncode(id);
}
// "ch/<ns>/<hash hex>" -> (ns, hash); false when `key` is not a chunk key.
inline bool ParseChunk(std::string_view key, std::string& ns, Digest& hash) {
  if (!key.starts_with(kChunkPrefixAll)) return false;
  key.remove_prefix(kChunkPrefixAll.size());
  const size_t slash = key.rfind('/');
  if (slash == std::string_view::npos) return false;
  auto bytes = HexDecode(key.substr(slash + 1));
  if (!bytes || bytes->size() != hash.size()) return false;
  ns = std::string(key.substr(0, slash));
  std::copy(bytes->begin(), bytes->end(), hash.begin());
  return true;
}

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
// Fixed-width sequence numbers keep ordered keys in numeric order.
inline std::string SeqKey(uint64_t seq) {
  std::string s = std::to_string(seq);
  return std::string(20 - s.size(), '0') + s;
}
// lg/<seq> -> an entry of the store's ordered log (the engine's events).
inline constexpr std::string_view kLogPrefix = "lg/";
inline std::string LogEntry(uint64_t seq) { return std::string(kLogPrefix) + SeqKey(seq); }
inline std::optional<uint64_t> ParseLogEntry(std::string_view key) {
  if (!key.starts_with(kLogPrefix) || key.size() != kLogPrefix.size() + 20) return std::nullopt;
  uint64_t seq = 0;
  for (char c : key.substr(kLogPrefix.size())) {
    if (c < '0' || c > '9') return std::nullopt;
    seq = seq * 10 + static_cast<uint64_t>(c - '0');
  }
  return seq;
}

// sp/<ns>/<space> -> SpaceRecord; vc/<ns>/<space>/<asset> -> float32 vector;
// vq/<ns>/<space>/<asset> -> a vector held in quarantine (not searchable)
// until an admin approves it (then it moves to vc/) or rejects it.
inline std::string SpacePrefix(std::string_view ns) { return "sp/" + std::string(ns) + "/"; }
inline std::string Space(std::string_view ns, std::string_view space) {
  return SpacePrefix(ns) + std::string(space);
}
inline std::string VectorPrefix(std::string_view ns, std::string_view space) {
  return "vc/" + std::string(ns) + "/" + std::string(space) + "/";
}
inline std::string Vector(std::string_view ns, std::string_view space, const Digest& id) {
  return VectorPrefix(ns, space) + HexEncode(id);
}
inline std::string PendingVectorPrefix(std::string_view ns, std::string_view space) {
  return "vq/" + std::string(ns) + "/" + std::string(space) + "/";
}
inline std::string PendingVector(std::string_view ns, std::string_view space, const Digest& id) {
  return PendingVectorPrefix(ns, space) + HexEncode(id);
}
// "vc/<ns>/<space>/<asset hex>" or "vq/..." -> (ns, space, asset); false
// when `key` is neither.
inline bool ParseVector(std::string_view key, std::string& ns, std::string& space, Digest& id) {
  if (!key.starts_with("vc/") && !key.starts_with("vq/")) return false;
  key.remove_prefix(3);
  const size_t first = key.find('/'), last = key.rfind('/');
  if (first == std::string_view::npos || first == last) return false;
  auto bytes = HexDecode(key.substr(last + 1));
  if (!bytes || bytes->size() != id.size()) return false;
  ns = std::string(key.substr(0, first));
  space = std::string(key.substr(first + 1, last - first - 1));
  std::copy(bytes->begin(), bytes->end(), id.begin());
  return true;
}

// The privacy ledger (engine/privacy_ledger.h): dp/<ns>/spent ->
// PrivacyAccount of the namespace; dp/<ns>/caller/<hash> -> PrivacyAccount
// of one caller key there; dp/<ns>/q/<seq> -> PrivacyCharge, one answered
// query; dpcap/<account> -> PrivacyAccount of a token's `dp_epsilon` caveat
// (store-wide).
inline std::string PrivacySpent(std::string_view ns) { return "dp/" + std::string(ns) + "/spent"; }
inline std::string PrivacyCaller(std::string_view ns, std::string_view caller_hash) {
  return "dp/" + std::string(ns) + "/caller/" + std::string(caller_hash);
}
inline std::string PrivacyChargePrefix(std::string_view ns) {
  return "dp/" + std::string(ns) + "/q/";
}
inline std::string PrivacyCharge(std::string_view ns, uint64_t seq) {
  return PrivacyChargePrefix(ns) + SeqKey(seq);
}
inline std::string PrivacyCap(std::string_view account) { return "dpcap/" + std::string(account); }

// Ingest operators (engine/operator_runner.h). op/<ns>/<name> ->
// OperatorRecord; opp/<ns>/<name> -> OperatorProgress. Per generation of an
// operator (a 16-hex-digit number new with every add), keyed by source asset:
// opd/.../<id> -> "" its results are committed; opf/.../<id> ->
// OperatorFailureRecord, the dead-letter list; opr/.../<id> -> "" queued to
// run again.
inline constexpr std::string_view kOperatorPrefixAll = "op/";
inline std::string OperatorPrefix(std::string_view ns) { return "op/" + std::string(ns) + "/"; }
inline std::string Operator(std::string_view ns, std::string_view name) {
  return OperatorPrefix(ns) + std::string(name);
}
inline std::string OperatorProgress(std::string_view ns, std::string_view name) {
  return "opp/" + std::string(ns) + "/" + std::string(name);
}
// `kind` is "opd", "opf" or "opr".
inline std::string OperatorInputPrefix(std::string_view kind, std::string_view ns,
                                       std::string_view name, std::string_view generation) {
  return std::string(kind) + "/" + std::string(ns) + "/" + std::string(name) + "/" +
         std::string(generation) + "/";
}
inline std::string OperatorInput(std::string_view kind, std::string_view ns, std::string_view name,
                                 std::string_view generation, const Digest& id) {
  return OperatorInputPrefix(kind, ns, name, generation) + HexEncode(id);
}

// wl/<lease id> -> WriterLeaseRecord: a server's claim on its chunk objects
// in flight (engine/writer_lease.h).
inline constexpr std::string_view kWriterLeasePrefix = "wl/";
inline std::string WriterLease(std::string_view id) {
  return std::string(kWriterLeasePrefix) + std::string(id);
}

// st/config -> StoreConfig: what every server of a shared store must agree on
// (identity, chunk store, chunking, segment size); meta_url and kms_url are
// each server's own and stay empty here. Written by the first `aifs init`.
inline constexpr std::string_view kSharedStoreConfig = "st/config";

// kr/rewrap -> RewrapCursor: where an unfinished `aifs key rewrap` goes on.
inline constexpr std::string_view kRewrapCursor = "kr/rewrap";

// fa/<unix ns> -> FormatAudit
inline constexpr std::string_view kFormatAuditPrefix = "fa/";

// cl/<ns>/<generation>/<id> -> "+" or "-": membership changes since the
// namespace's last snapshot, written by the commit that made them; a snapshot
// consumes its generation (see NamespaceRecord.change_generation).
inline std::string ChangePrefix(std::string_view ns, uint64_t generation) {
  return "cl/" + std::string(ns) + "/" + SeqKey(generation) + "/";
}
inline std::string Change(std::string_view ns, uint64_t generation, const Digest& id) {
  return ChangePrefix(ns, generation) + HexEncode(id);
}
// ra/<ns>/<id> -> AssetRecord of an asset removed from the live head and kept
// for the snapshots that hold it (retired_seq set; engine/reclaim.h).
inline std::string RetiredPrefix(std::string_view ns) { return "ra/" + std::string(ns) + "/"; }
inline std::string Retired(std::string_view ns, const Digest& id) {
  return RetiredPrefix(ns) + HexEncode(id);
}
// tb/<ns>/<id> -> Tombstone
inline std::string Tombstone(std::string_view ns, const Digest& id) {
  return "tb/" + std::string(ns) + "/" + HexEncode(id);
}

// Paths (docs/paths.md). pa/<ns>/<path> -> the AssetID (32 bytes) the path
// names in the live head; pr/<ns>/<id hex>/<path> -> "" lists an asset's
// paths; pn/<ns>/<path key hex> -> the path (names the keys of snapshot path
// trees); pl/<ns>/<generation>/<path key hex> -> an AssetID or "-": path
// changes since the last snapshot, consumed like the change log.
inline std::string PathPrefix(std::string_view ns) { return "pa/" + std::string(ns) + "/"; }
inline std::string Path(std::string_view ns, std::string_view path) {
  return PathPrefix(ns) + std::string(path);
}
inline std::string AssetPathPrefix(std::string_view ns, const Digest& id) {
  return "pr/" + std::string(ns) + "/" + HexEncode(id) + "/";
}
inline std::string AssetPath(std::string_view ns, const Digest& id, std::string_view path) {
  return AssetPathPrefix(ns, id) + std::string(path);
}
inline std::string PathName(std::string_view ns, const Digest& key) {
  return "pn/" + std::string(ns) + "/" + HexEncode(key);
}
inline std::string PathChangePrefix(std::string_view ns, uint64_t generation) {
  return "pl/" + std::string(ns) + "/" + SeqKey(generation) + "/";
}
inline std::string PathChange(std::string_view ns, uint64_t generation, const Digest& key) {
  return PathChangePrefix(ns, generation) + HexEncode(key);
}

// Snapshots, branches and tags.
inline std::string MstNodePrefix(std::string_view ns) { return "mn/" + std::string(ns) + "/"; }
inline std::string MstNode(std::string_view ns, const Digest& hash) {
  return MstNodePrefix(ns) + HexEncode(hash);
}
inline std::string SnapshotHead(std::string_view ns) { return "hd/" + std::string(ns); }
// sg/<ns> -> SnapshotCursor: the change log generations the next snapshot
// consumes. Absent in stores from before it: every generation below the
// namespace's current one is consumed.
inline std::string SnapshotCursor(std::string_view ns) { return "sg/" + std::string(ns); }
inline std::string SnapshotPrefix(std::string_view ns) { return "sn/" + std::string(ns) + "/"; }
inline std::string Snapshot(std::string_view ns, std::string_view id_hex) {
  return SnapshotPrefix(ns) + std::string(id_hex);
}
inline std::string BranchPrefix(std::string_view ns) { return "br/" + std::string(ns) + "/"; }
inline std::string Branch(std::string_view ns, std::string_view name) {
  return BranchPrefix(ns) + std::string(name);
}
inline std::string BranchLogPrefix(std::string_view ns, std::string_view name) {
  return "bh/" + std::string(ns) + "/" + std::string(name) + "/";
}
inline std::string TagPrefix(std::string_view ns) { return "tg/" + std::string(ns) + "/"; }
inline std::string Tag(std::string_view ns, std::string_view name) {
  return TagPrefix(ns) + std::string(name);
}
inline std::string TagAuditPrefix(std::string_view ns) { return "ta/" + std::string(ns) + "/"; }

}  // namespace aifs::keys
