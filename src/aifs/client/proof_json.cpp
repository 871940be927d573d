#include "aifs/client/proof_json.h"

#include "aifs/core/clock.h"
#include "aifs/core/hex.h"
#include "aifs/snapshot/mst.h"

namespace aifs {

namespace {
Status Bad(const std::string& why) {
  return err::InvalidArgument("BAD_PROOF_FILE", "proof file: " + why);
}

template <size_t N>
bool HexInto(const nlohmann::json& j, const char* field, std::array<uint8_t, N>& out) {
  if (!j.contains(field) || !j[field].is_string()) return false;
  auto b = HexDecode(j[field].get<std::string>());
  if (!b || b->size() != N) return false;
  std::copy(b->begin(), b->end(), out.begin());
  return true;
}

// The fields a version-2 snapshot adds; a document without "version" is 1.
Status SnapshotV2FromJson(const nlohmann::json& s, SnapshotInfo& out) {
  out.version = 1;
  out.path_root = MstEmptyRootHash();
  if (!s.contains("version")) return Status::Ok();
  if (!s["version"].is_number_unsigned() || s["version"].get<uint64_t>() != 2)
    return Bad("unknown snapshot version");
  out.version = 2;
  if (!HexInto(s, "path_root", out.path_root)) return Bad("bad path_root");
  if (!s.contains("path_height") || !s["path_height"].is_number_unsigned() ||
      s["path_height"].get<uint64_t>() > 32 || !s.contains("path_count") ||
      !s["path_count"].is_number_unsigned())
    return Bad("bad path_height or path_count");
  out.path_height = static_cast<uint8_t>(s["path_height"].get<uint64_t>());
  out.path_count = s["path_count"].get<uint64_t>();
  if (!s.contains("message") || !s["message"].is_string() || !s.contains("author") ||
      !s["author"].is_string() || !s.contains("parents") || !s["parents"].is_array())
    return Bad("bad message, author or parents");
  out.message = s["message"].get<std::string>();
  out.author = s["author"].get<std::string>();
  for (const auto& p : s["parents"]) {
    if (!p.is_string()) return Bad("parents must be snapshot IDs");
    AIFS_ASSIGN_OR_RETURN(SnapshotId id, SnapshotId::Parse(p.get<std::string>()));
    out.parents.push_back(id);
  }
  return Status::Ok();
}
}  // namespace

nlohmann::json SnapshotToJson(const SnapshotInfo& s) {
  nlohmann::json j = {{"namespace", s.ns},
                      {"id", s.id.ToHex()},
                      {"uri", SnapshotUri{s.ns, s.id}.ToString()},
                      {"root", HexEncode(s.root)},
                      {"height", s.height},
                      {"count", s.count},
                      {"created_unix_ns", s.created_unix_ns},
                      {"created", FormatUnixNanos(s.created_unix_ns)},
                      {"signature", HexEncode(s.signature)},
                      {"public_key", HexEncode(s.public_key)},
                      {"explicit_set", s.explicit_set}};
  if (s.version < 2) return j;
  nlohmann::json parents = nlohmann::json::array();
  for (const SnapshotId& p : s.parents) parents.push_back(p.ToHex());
  j["version"] = s.version;
  j["path_root"] = HexEncode(s.path_root);
  j["path_height"] = s.path_height;
  j["path_count"] = s.path_count;
  j["message"] = s.message;
  j["author"] = s.author;
  j["parents"] = parents;
  return j;
}

nlohmann::json ProofToJson(const SnapshotProof& p) {
  nlohmann::json nodes = nlohmann::json::array();
  for (const auto& n : p.nodes) nodes.push_back(HexEncode(AsBytes(n)));
  nlohmann::json j = {{"format", "aifs-proof/1"},
                      {"asset", p.asset.ToHex()},
                      {"snapshot", SnapshotToJson(p.snapshot)},
                      {"nodes", nodes}};
  if (p.path) j["path"] = *p.path;
  if (!p.store_id.empty()) j["store"] = p.store_id;
  return j;
}

Result<SnapshotProof> ProofFromJson(const nlohmann::json& j) {
  if (!j.is_object() || j.value("format", "") != "aifs-proof/1")
    return Bad("not an aifs-proof/1 document");
  SnapshotProof p;
  if (j.contains("store")) {  // optional: proofs written before it have none
    if (!j["store"].is_string() || j["store"].get<std::string>().empty()) return Bad("bad store");
    p.store_id = j["store"].get<std::string>();
  }
  if (!j.contains("asset") || !j["asset"].is_string()) return Bad("missing asset");
  AIFS_ASSIGN_OR_RETURN(p.asset, AssetId::Parse(j["asset"].get<std::string>()));
  if (!j.contains("snapshot") || !j["snapshot"].is_object()) return Bad("missing snapshot");
  const auto& s = j["snapshot"];
  if (!s.contains("namespace") || !s["namespace"].is_string()) return Bad("missing namespace");
  p.snapshot.ns = s["namespace"].get<std::string>();
  if (!s.contains("id") || !s["id"].is_string()) return Bad("missing snapshot id");
  AIFS_ASSIGN_OR_RETURN(p.snapshot.id, SnapshotId::Parse(s["id"].get<std::string>()));
  if (!HexInto(s, "root", p.snapshot.root) || !HexInto(s, "signature", p.snapshot.signature) ||
      !HexInto(s, "public_key", p.snapshot.public_key))
    return Bad("bad root, signature or public key");
  if (!s.contains("height") || !s["height"].is_number_unsigned() ||
      !s.contains("count") || !s["count"].is_number_unsigned() ||
      !s.contains("created_unix_ns") || !s["created_unix_ns"].is_number_integer())
    return Bad("bad height, count or time");
  if (s["height"].get<uint64_t>() > 32) return Bad("height out of range");
  p.snapshot.height = static_cast<uint8_t>(s["height"].get<uint64_t>());
  p.snapshot.count = s["count"].get<uint64_t>();
  p.snapshot.created_unix_ns = s["created_unix_ns"].get<int64_t>();
  if (!s.contains("explicit_set") || !s["explicit_set"].is_boolean())
    return Bad("missing explicit_set");
  p.snapshot.explicit_set = s["explicit_set"].get<bool>();
  AIFS_RETURN_IF_ERROR(SnapshotV2FromJson(s, p.snapshot));
  if (j.contains("path")) {
    if (!j["path"].is_string()) return Bad("path must be a string");
    p.path = j["path"].get<std::string>();
  }
  if (!j.contains("nodes") || !j["nodes"].is_array()) return Bad("missing nodes");
  for (const auto& n : j["nodes"]) {
    if (!n.is_string()) return Bad("nodes must be hex strings");
    auto b = HexDecode(n.get<std::string>());
    if (!b) return Bad("nodes must be lowercase hex");
    p.nodes.emplace_back(b->begin(), b->end());
  }
  return p;
}

}  // namespace aifs
