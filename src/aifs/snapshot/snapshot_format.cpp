#include "aifs/snapshot/snapshot_format.h"

#include <algorithm>

#include "aifs/snapshot/mst.h"

namespace aifs {

namespace {
void AppendLe(Bytes& out, uint64_t v, int bytes) {
  for (int i = 0; i < bytes; ++i) out.push_back(static_cast<uint8_t>(v >> (8 * i)));
}
}  // namespace

Bytes NamespaceKeyContext(const std::string& ns) {
  std::string ctx("aifs/ns-signing-key/v1");
  ctx.push_back('\0');
  ctx += ns;
  return Bytes(ctx.begin(), ctx.end());
}

Digest PathTreeKey(std::string_view path) {
  static constexpr std::string_view kDomain{"aifs/path/v1\0", 13};
  Blake3 h;
  h.Update(AsBytes(kDomain));
  h.Update(AsBytes(path));
  return h.Finalize();
}

SnapshotId ComputeSnapshotId(const SnapshotInfo& s) {
  Bytes msg(s.root.begin(), s.root.end());
  AppendLe(msg, static_cast<uint64_t>(s.created_unix_ns), 8);
  if (s.version >= 2) msg.insert(msg.end(), s.path_root.begin(), s.path_root.end());
  const Digest d = Blake3::Hash(msg);
  std::array<uint8_t, SnapshotId::kSize> id;
  std::copy_n(d.begin(), id.size(), id.begin());
  return SnapshotId(id);
}

Bytes SnapshotSigningMessage(const SnapshotInfo& s) {
  const std::string kDomain = "aifs/snapshot/v" + std::to_string(s.version);
  Bytes m(kDomain.begin(), kDomain.end());
  m.push_back(0);
  m.insert(m.end(), s.ns.begin(), s.ns.end());
  m.push_back(0);
  m.insert(m.end(), s.id.bytes().begin(), s.id.bytes().end());
  m.insert(m.end(), s.root.begin(), s.root.end());
  m.push_back(s.height);
  AppendLe(m, s.count, 8);
  AppendLe(m, static_cast<uint64_t>(s.created_unix_ns), 8);
  m.push_back(s.explicit_set ? 1 : 0);
  if (s.version < 2) return m;
  m.insert(m.end(), s.path_root.begin(), s.path_root.end());
  m.push_back(s.path_height);
  AppendLe(m, s.path_count, 8);
  AppendLe(m, s.parents.size(), 4);
  for (const SnapshotId& p : s.parents) m.insert(m.end(), p.bytes().begin(), p.bytes().end());
  for (const std::string* text : {&s.message, &s.author}) {
    AppendLe(m, text->size(), 4);
    m.insert(m.end(), text->begin(), text->end());
  }
  return m;
}

Status VerifySnapshotSignature(const SnapshotInfo& s, const Ed25519PublicKey& key) {
  if (s.public_key != key)
    return err::PermissionDenied("KEY_MISMATCH",
                                 "the snapshot was signed by another key than the trusted one");
  if (s.version < 1 || s.version > 2)
    return err::DataLoss("SNAPSHOT_VERSION_UNKNOWN",
                         "snapshot format version " + std::to_string(s.version) + " is unknown");
  if (ComputeSnapshotId(s) != s.id)
    return err::DataLoss("SNAPSHOT_ID_MISMATCH", "the snapshot ID does not match its root and time");
  if (!VerifyEd25519(key, SnapshotSigningMessage(s), s.signature))
    return err::DataLoss("SIGNATURE_INVALID", "the snapshot signature does not verify");
  return Status::Ok();
}

Status VerifySnapshotProof(const SnapshotProof& proof, const Ed25519PublicKey& pinned_key) {
  AIFS_RETURN_IF_ERROR(VerifySnapshotSignature(proof.snapshot, pinned_key));
  std::vector<MstNode> path;
  for (const std::string& encoded : proof.nodes) {
    auto node = MstNode::Decode(encoded);
    if (!node.ok())
      return err::InvalidArgument("MST_PROOF_INVALID", "proof node: " + node.status().message());
    path.push_back(std::move(*node));
  }
  const SnapshotInfo& s = proof.snapshot;
  const uint8_t height = proof.path ? s.path_height : s.height;
  if (!path.empty() && path.front().level != height)
    return err::InvalidArgument("MST_PROOF_INVALID", "proof does not start at the root level");
  if (!proof.path) return VerifyInclusion(s.root, proof.asset.bytes(), path);
  if (s.version < 2)
    return err::InvalidArgument("MST_PROOF_INVALID", "a version-1 snapshot has no paths");
  const Digest value = proof.asset.bytes();
  return VerifyInclusion(s.path_root, PathTreeKey(*proof.path), path, &value);
}

}  // namespace aifs
