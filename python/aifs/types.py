"""Plain result types of the SDK (IDs as lowercase hex strings).

Converted from the aifs.v1 protobuf messages; ``.pb`` keeps the original
message for fields not lifted here. Immutable by convention; safe to share.
"""
from __future__ import annotations

from dataclasses import dataclass, field
from typing import Any, Dict, List, Optional, Tuple

__all__ = ["KINDS", "Asset", "PutResult", "Snapshot", "Branch", "Tag", "Namespace", "Hit",
           "Event", "LineageEdge", "Lineage", "Diff", "Space", "hexid"]

KINDS = {0: "blob", 1: "blob", 2: "tensor", 3: "embed", 4: "artifact"}
METRICS = {0: "cosine", 1: "l2", 2: "inner_product"}


def hexid(b: bytes) -> str:
    return bytes(b).hex()


@dataclass(frozen=True)
class Asset:
    ns: str
    id: str
    kind: str
    size: int
    metadata: Dict[str, str]
    created_unix_ns: int
    parents: List[Dict[str, str]]
    deleted: bool
    uri: str
    chunk_count: int
    pb: Any = field(repr=False, compare=False, default=None)

    @classmethod
    def from_pb(cls, a) -> "Asset":
        return cls(a.ns, hexid(a.id), KINDS.get(a.kind, str(a.kind)), a.size, dict(a.metadata),
                   a.created_unix_ns,
                   [{"asset": hexid(p.asset), "transform": p.transform,
                     "transform_digest": p.transform_digest} for p in a.parents],
                   a.deleted, a.uri, a.chunk_count, a)


@dataclass(frozen=True)
class PutResult:
    """A put's outcome: `created` False when the asset already existed (dedup);
    `staged` True inside a transaction (published at commit)."""
    asset: Asset
    created: bool
    staged: bool
    chunks_total: int
    chunks_new: int
    bytes_stored: int

    @property
    def id(self) -> str:
        return self.asset.id

    @classmethod
    def from_pb(cls, r) -> "PutResult":
        return cls(Asset.from_pb(r.asset), r.created, r.staged, r.chunks_total, r.chunks_new,
                   r.bytes_stored)


@dataclass(frozen=True)
class Snapshot:
    ns: str
    id: str
    root: str
    height: int
    count: int
    created_unix_ns: int
    version: int
    message: str
    author: str
    parents: List[str]
    explicit_set: bool
    pb: Any = field(repr=False, compare=False, default=None)

    @classmethod
    def from_pb(cls, s) -> "Snapshot":
        return cls(s.ns, hexid(s.id), hexid(s.root), s.height, s.count, s.created_unix_ns,
                   s.version or 1, s.message, s.author, [hexid(p) for p in s.parents],
                   s.explicit_set, s)


@dataclass(frozen=True)
class Branch:
    name: str
    snapshot: str
    updated_unix_ns: int
    updated_by: str
    moves: int

    @classmethod
    def from_pb(cls, b) -> "Branch":
        return cls(b.name, hexid(b.snapshot), b.updated_unix_ns, b.updated_by, b.moves)


@dataclass(frozen=True)
class Tag:
    name: str
    snapshot: str
    created_unix_ns: int
    created_by: str

    @classmethod
    def from_pb(cls, t) -> "Tag":
        return cls(t.name, hexid(t.snapshot), t.created_unix_ns, t.created_by)


@dataclass(frozen=True)
class Namespace:
    name: str
    labels: Dict[str, str]
    asset_count: int
    logical_bytes: int
    stored_bytes: int
    signing_public_key: bytes
    created_unix_ns: int
    # Changes whenever the live head (assets, metadata, paths) changes: equal
    # values mean an unchanged head, so a cached listing can be kept.
    head_version: int = 0
    pb: Any = field(repr=False, compare=False, default=None)

    @classmethod
    def from_pb(cls, n) -> "Namespace":
        return cls(n.name, dict(n.labels), n.asset_count, n.logical_bytes, n.stored_bytes,
                   bytes(n.signing_public_key), n.created_unix_ns, n.head_version, n)


@dataclass(frozen=True)
class Space:
    name: str
    dim: int
    metric: str
    vectors: int
    pending: int

    @classmethod
    def from_pb(cls, s) -> "Space":
        return cls(s.name, s.dim, METRICS.get(s.metric, str(s.metric)), s.vectors, s.pending)


@dataclass(frozen=True)
class Hit:
    """A search hit; `source` is the described asset for Embed assets, else
    None; `source_range` the (offset, length) of the passage it describes, for
    an ingest operator's passage vectors, else None."""
    id: str
    score: float
    source: Optional[str]
    source_range: Optional[Tuple[int, int]] = None


@dataclass(frozen=True)
class Event:
    seq: int
    type: str
    unix_ns: int
    ns: str
    asset: Optional[str]
    parent: Optional[str]
    snapshot: Optional[str]
    old_snapshot: Optional[str]
    name: str
    who: str
    detail: str = ""  # operator events: assets made, or the failure's reason

    @classmethod
    def from_pb(cls, e, type_name: str) -> "Event":
        h = lambda b: hexid(b) if b else None  # noqa: E731
        return cls(e.seq, type_name, e.unix_ns, e.ns, h(e.asset), h(e.parent), h(e.snapshot),
                   h(e.old_snapshot), e.name, e.who, e.detail)


@dataclass(frozen=True)
class LineageEdge:
    parent: str
    child: str
    transform: str
    transform_digest: str
    depth: int


@dataclass(frozen=True)
class Lineage:
    root: str
    edges: List[LineageEdge]
    assets: List[Asset]


@dataclass(frozen=True)
class Diff:
    """IDs added/removed from a to b; paths: (path, before id or None, after id or None)."""
    added: List[str]
    removed: List[str]
    paths: List[tuple]
