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

SnapshotId ComputeSnapshotId(const Digest& root, int64_t created_unix_ns) {
  Bytes msg(root.begin(), root.end());
  AppendLe(msg, static_cast<uint64_t>(created_unix_ns), 8);
  const Digest d = Blake3::Hash(msg);
  std::array<uint8_t, SnapshotId::kSize> id;
  std::copy_n(d.begin(), id.size(), id.begin());
  return SnapshotId(id);
}

Bytes SnapshotSigningMessage(const SnapshotInfo& s) {
  static constexpr std::string_view kDomain = "aifs/snapshot/v1";
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
  return m;
}

Status VerifySnapshotSignature(const SnapshotInfo& s, const Ed25519PublicKey& key) {
  if (s.public_key != key)
    return err::PermissionDenied("KEY_MISMATCH",
                                 "the snapshot was signed by another key than the trusted one");
  if (ComputeSnapshotId(s.root, s.created_unix_ns) != s.id)
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
  if (!path.empty() && path.front().level != proof.snapshot.height)
    return err::InvalidArgument("MST_PROOF_INVALID", "proof does not start at the root level");
  return VerifyInclusion(proof.snapshot.root, proof.asset.bytes(), path);
}

}  // namespace aifs
