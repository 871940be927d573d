"""Offline verification of snapshots and inclusion proofs.

A snapshot commits to its namespace's AssetIDs (a Merkle search tree, set
leaves) and, from version 2, to its paths (a map tree: path key -> AssetID),
and is signed with the namespace's Ed25519 key (docs/snapshot-merkle.md,
docs/snapshots.md, src/aifs/snapshot/snapshot_format.h). Given a proof from
:meth:`aifs.Client.prove` (or an ``aifs-proof/1`` JSON file written by
``aifs snapshot prove``), :func:`verify_proof` checks, with no server:

1. the snapshot ID derivation and the signature, with a public key you trust
   (pin the namespace's ``signing_public_key``; without one only the key
   recorded in the proof is used, which proves integrity, not origin);
2. the node path from the signed root down to the leaf holding the asset
   (or, for a path proof, the leaf binding the path's key to the asset),
   every rule of the construction included (levels, boundaries, order).

Failures raise :class:`aifs.errors.ProofError` with the engine's code and
reason. Thread safety: pure functions.
"""
from __future__ import annotations

import json
import struct
from dataclasses import dataclass, field
from typing import List, Optional, Sequence, Union

import grpc

from ._blake3 import blake3
from .errors import ProofError

__all__ = ["SnapshotInfo", "Proof", "verify_proof", "verify_snapshot", "verify_inclusion",
           "path_key", "snapshot_id", "signing_message", "EMPTY_ROOT"]

EMPTY_ROOT = blake3(b"\x00")
_MAP_LEAF = 0x80
_MAX_ENTRIES = 1 << 20


def _invalid(why: str) -> ProofError:
    return ProofError("proof: " + why, "MST_PROOF_INVALID", code=grpc.StatusCode.INVALID_ARGUMENT)


@dataclass
class SnapshotInfo:
    """The signed fields of a snapshot (IDs and hashes as raw bytes)."""
    ns: str
    id: bytes
    root: bytes
    height: int
    count: int
    created_unix_ns: int
    signature: bytes
    public_key: bytes
    explicit_set: bool = False
    version: int = 1
    path_root: bytes = EMPTY_ROOT
    path_height: int = 0
    path_count: int = 0
    message: str = ""
    author: str = ""
    parents: List[bytes] = field(default_factory=list)

    @classmethod
    def from_pb(cls, s) -> "SnapshotInfo":
        """From an aifs.v1.Snapshot message (version 0 reads as 1)."""
        v = s.version or 1
        return cls(s.ns, bytes(s.id), bytes(s.root), s.height, s.count, s.created_unix_ns,
                   bytes(s.signature), bytes(s.public_key), s.explicit_set, v,
                   bytes(s.path_root) if v >= 2 else EMPTY_ROOT, s.path_height, s.path_count,
                   s.message, s.author, [bytes(p) for p in s.parents])

    @classmethod
    def from_json(cls, j: dict) -> "SnapshotInfo":
        """From the "snapshot" object of an aifs-proof/1 document (CLI JSON)."""
        h = bytes.fromhex
        v = int(j.get("version", 1))
        return cls(j["namespace"], h(j["id"]), h(j["root"]), int(j["height"]), int(j["count"]),
                   int(j["created_unix_ns"]), h(j["signature"]), h(j["public_key"]),
                   bool(j.get("explicit_set", False)), v,
                   h(j["path_root"]) if v >= 2 else EMPTY_ROOT, int(j.get("path_height", 0)),
                   int(j.get("path_count", 0)), j.get("message", ""), j.get("author", ""),
                   [h(p) for p in j.get("parents", [])])


@dataclass
class Proof:
    """An inclusion proof: the snapshot, the asset, and the tree nodes from the
    root down (storage encoding); `path` is set for a path-binding proof."""
    snapshot: SnapshotInfo
    asset: bytes
    nodes: List[bytes]
    path: Optional[str] = None

    @classmethod
    def from_pb(cls, p) -> "Proof":
        return cls(SnapshotInfo.from_pb(p.snapshot), bytes(p.asset), [bytes(n) for n in p.nodes],
                   p.path if p.HasField("path") else None)

    @classmethod
    def from_json(cls, doc: Union[str, bytes, dict]) -> "Proof":
        """From an aifs-proof/1 document (text or parsed)."""
        j = json.loads(doc) if isinstance(doc, (str, bytes)) else doc
        if not isinstance(j, dict) or j.get("format") != "aifs-proof/1":
            raise ProofError("not an aifs-proof/1 document", "BAD_PROOF_FILE",
                             code=grpc.StatusCode.INVALID_ARGUMENT)
        return cls(SnapshotInfo.from_json(j["snapshot"]), bytes.fromhex(j["asset"]),
                   [bytes.fromhex(n) for n in j["nodes"]], j.get("path"))


def path_key(path: str) -> bytes:
    """A path's key in a snapshot's path tree: BLAKE3("aifs/path/v1" 0x00 path)."""
    return blake3(b"aifs/path/v1\x00" + path.encode())


def snapshot_id(s: SnapshotInfo) -> bytes:
    """The 16-byte ID the snapshot's fields derive."""
    pre = s.root + struct.pack("<q", s.created_unix_ns)
    if s.version >= 2:
        pre += s.path_root
    return blake3(pre)[:16]


def signing_message(s: SnapshotInfo) -> bytes:
    """The bytes the namespace key signs (snapshot_format.h)."""
    m = (b"aifs/snapshot/v2" if s.version >= 2 else b"aifs/snapshot/v1") + b"\x00"
    m += s.ns.encode() + b"\x00" + s.id + s.root
    m += struct.pack("<BQqB", s.height, s.count, s.created_unix_ns, 1 if s.explicit_set else 0)
    if s.version >= 2:
        m += s.path_root + struct.pack("<BQI", s.path_height, s.path_count, len(s.parents))
        m += b"".join(s.parents)
        msg, author = s.message.encode(), s.author.encode()
        m += struct.pack("<I", len(msg)) + msg + struct.pack("<I", len(author)) + author
    return m


def verify_snapshot(s: SnapshotInfo, public_key: Optional[bytes] = None) -> None:
    """Checks the ID derivation and the Ed25519 signature of `s`.

    Args:
        public_key: the 32-byte key you trust for the namespace; it must equal
            the key recorded in the snapshot. None: use the recorded key.
    Raises:
        ProofError PERMISSION_DENIED KEY_MISMATCH, DATA_LOSS SNAPSHOT_ID_MISMATCH
        or SIGNATURE_INVALID.
    """
    from cryptography.exceptions import InvalidSignature
    from cryptography.hazmat.primitives.asymmetric.ed25519 import Ed25519PublicKey

    if s.version not in (1, 2):
        raise _invalid("unknown snapshot version %d" % s.version)
    if public_key is not None and bytes(public_key) != s.public_key:
        raise ProofError("snapshot signed by another key than the trusted one", "KEY_MISMATCH",
                         code=grpc.StatusCode.PERMISSION_DENIED)
    if snapshot_id(s) != s.id:
        raise ProofError("the snapshot ID does not derive from its fields",
                         "SNAPSHOT_ID_MISMATCH", code=grpc.StatusCode.DATA_LOSS)
    try:
        Ed25519PublicKey.from_public_bytes(s.public_key).verify(s.signature, signing_message(s))
    except (InvalidSignature, ValueError):
        raise ProofError("bad snapshot signature", "SIGNATURE_INVALID",
                         code=grpc.StatusCode.DATA_LOSS)


@dataclass
class _Node:
    level: int
    is_map: bool
    keys: List[bytes]
    vals: List[bytes]  # child hashes (inner), values (map leaf), empty (set leaf)
    raw: bytes

    def hash(self) -> bytes:
        if self.level == 0 and not self.is_map:
            return blake3(b"\x00" + b"".join(self.keys))
        body = b"".join(k + v for k, v in zip(self.keys, self.vals))
        if self.level == 0:
            return blake3(b"\x02" + body)
        return blake3(b"\x01" + bytes([self.level]) + body)


def _decode_node(raw: bytes, want_map: bool) -> _Node:
    if len(raw) < 5:
        raise _invalid("a node shorter than its header")
    tag, count = raw[0], struct.unpack_from("<I", raw, 1)[0]
    is_map = tag == _MAP_LEAF
    level = 0 if is_map else tag
    if level > 32 or count > _MAX_ENTRIES:
        raise _invalid("a node with level %d and %d entries" % (tag, count))
    if is_map and not want_map:
        raise _invalid("a map leaf in a set proof")
    if level == 0 and want_map and not is_map and count:
        raise _invalid("a set leaf in a path proof")
    width = 32 if (level == 0 and not is_map) else 64
    if len(raw) != 5 + count * width:
        raise _invalid("node size %d != 5 + %d x %d" % (len(raw), count, width))
    if count == 0 and level > 0:
        raise _invalid("an empty inner node")
    ents = [raw[5 + i * width:5 + (i + 1) * width] for i in range(count)]
    keys = [e[:32] for e in ents]
    vals = [e[32:] for e in ents] if width == 64 else []
    if any(a >= b for a, b in zip(keys, keys[1:])):
        raise _invalid("keys not strictly increasing")
    return _Node(level, is_map, keys, vals, raw)


def _boundary(key: bytes, level: int) -> bool:
    return level < 32 and (key[31 - level] & 0x3F) == 0


def verify_inclusion(root: bytes, key: bytes, nodes: Sequence[bytes],
                     value: Optional[bytes] = None) -> None:
    """Checks that `nodes` (root first) prove `key` under `root`.

    For a set tree `value` is None; for a map tree (paths) it is the value the
    leaf must bind to `key`. Raises ProofError MST_PROOF_INVALID naming the step.
    """
    want_map = value is not None
    if not nodes:
        raise _invalid("no nodes")
    path = [_decode_node(bytes(n), want_map) for n in nodes]
    height = path[0].level
    if len(path) != height + 1:
        raise _invalid("%d nodes for a root at level %d (step 1)" % (len(path), height))
    for i, n in enumerate(path):
        if n.level != height - i:
            raise _invalid("node %d at level %d, want %d (step 1)" % (i, n.level, height - i))
    if height > 0 and len(path[0].keys) < 2:
        raise _invalid("a root above level 0 with one entry (step 2)")
    if path[0].hash() != bytes(root):
        raise _invalid("the root node does not hash to the snapshot's root (step 3)")
    rightmost = True
    for i, n in enumerate(path):
        if not n.keys and not (i == 0 and height == 0):
            raise _invalid("an empty node below the root (step 4)")
        for k in n.keys[:-1]:
            if _boundary(k, n.level):
                raise _invalid("a boundary key inside a node at level %d (step 4)" % n.level)
        if n.keys and not rightmost and not _boundary(n.keys[-1], n.level):
            raise _invalid("a node that does not end at a boundary (step 4)")
        if i == height:
            break
        j = next((j for j, k in enumerate(n.keys) if k >= key), None)
        if j is None:
            raise _invalid("the key is beyond the node's last key (step 5)")
        child = path[i + 1]
        if not child.keys or child.keys[-1] != n.keys[j] or child.hash() != n.vals[j]:
            raise _invalid("node %d is not the covering child of node %d (step 5)" % (i + 1, i))
        rightmost = rightmost and j == len(n.keys) - 1
    leaf = path[-1]
    if key not in leaf.keys:
        raise _invalid("the leaf does not hold the key (step 6)")
    if want_map and leaf.vals[leaf.keys.index(key)] != bytes(value):
        raise _invalid("the leaf binds the path to another asset (step 6)")


def verify_proof(proof: Proof, public_key: Optional[bytes] = None) -> None:
    """Verifies the snapshot's signature and the proof's node path, offline.

    Raises ProofError (see verify_snapshot and verify_inclusion).
    """
    s = proof.snapshot
    verify_snapshot(s, public_key)
    if proof.path is None:
        verify_inclusion(s.root, proof.asset, proof.nodes)
    else:
        if s.version < 2:
            raise _invalid("a path proof of a version-1 snapshot")
        verify_inclusion(s.path_root, path_key(proof.path), proof.nodes, value=proof.asset)
