// The signed part of a snapshot, shared by the engine (which signs) and
// offline verifiers (which only hold a pinned public key). docs/snapshots.md
// states the same bytes in prose.
//
// Version 1 (assets only):
//   snapshot id = BLAKE3(root || created_unix_ns as i64 little-endian)[0:16]
//   signed message = "aifs/snapshot/v1" 0x00 ns 0x00 id(16) root(32)
//                    height(1) count(u64 LE) created_unix_ns(i64 LE)
//                    explicit_set(1: 0 = the whole namespace, 1 = a given set)
// Version 2 (also paths, message, author, parents):
//   snapshot id = BLAKE3(root || created_unix_ns (i64 LE) || path_root)[0:16]
//   signed message = "aifs/snapshot/v2" 0x00 ns 0x00 id(16) root(32)
//                    height(1) count(u64 LE) created_unix_ns(i64 LE)
//                    explicit_set(1) path_root(32) path_height(1)
//                    path_count(u64 LE) parents(u32 LE n, then n x 16)
//                    message(u32 LE length, bytes) author(u32 LE length, bytes)
#pragma once

#include "aifs/api/types.h"
#include "aifs/storage/signing.h"

namespace aifs {
// A path's key in a snapshot's path tree: BLAKE3("aifs/path/v1" 0x00 path).
Digest PathTreeKey(std::string_view path);
}  // namespace aifs

namespace aifs {

// KMS context that binds a namespace's wrapped signing seed to the namespace.
Bytes NamespaceKeyContext(const std::string& ns);

// The ID of `s` by its version's rule.
SnapshotId ComputeSnapshotId(const SnapshotInfo& s);
Bytes SnapshotSigningMessage(const SnapshotInfo& s);

// Checks the ID derivation and the Ed25519 signature with `key` (which must
// also be the key recorded in the snapshot): PERMISSION_DENIED KEY_MISMATCH,
// DATA_LOSS SNAPSHOT_ID_MISMATCH or SIGNATURE_INVALID.
Status VerifySnapshotSignature(const SnapshotInfo& s, const Ed25519PublicKey& key);

// Offline check of an inclusion proof against a pinned key: signature, then
// the Merkle path from the signed root down to the asset (or, for a path
// proof, from the signed path root down to the path bound to the asset).
Status VerifySnapshotProof(const SnapshotProof& proof, const Ed25519PublicKey& pinned_key);

}  // namespace aifs
