"""The AIFS client: every remote capability of the CLI, over gRPC.

    import aifs
    c = aifs.connect("127.0.0.1:50051", token="@/data/admin.token")
    r = c.put("ns", b"hello", metadata={"split": "train"})
    assert c.get("ns", r.id) == b"hello"

Conventions
- Asset IDs are accepted as 64 hex digits or 32 raw bytes and returned as hex.
  Snapshot references (`ref`, `as_of`) are a snapshot ID (hex), a branch or
  a tag name.
- Failures raise :mod:`aifs.errors` exceptions (``aifs.NotFound`` ...) with
  ``.code``, ``.reason`` and ``.metadata``; never a bare grpc.RpcError.
- Metadata filters (`where`) are a dict: ``{"k": "v"}`` equals,
  ``{"k": ["a", "b"]}`` one of, ``{"k": (lo, hi)}`` a numeric range (either
  end None), ``{"k": aifs.prefix("p")}``, ``{"k": aifs.exists()}``.

Thread safety: a Client may be shared by threads. Processes: the gRPC channel
is made lazily per process (keyed by the pid) and a Client pickles as its
connection settings, so spawn/forkserver workers connect by themselves. A
process forked after its parent used gRPC cannot: gRPC's C core is not
fork-safe, and such a child gets FailedPrecondition FORKED_AFTER_GRPC on its
first call instead of random UNAVAILABLE errors and hangs.
"""
from __future__ import annotations

import decimal
import os
import threading
from typing import (Any, BinaryIO, Dict, Iterable, Iterator, List, Mapping, Optional, Sequence,
                    Tuple, Union)

import grpc

from . import errors, tensor
from .errors import InvalidArgument
from .types import (Asset, Branch, Diff, Hit, Lineage, LineageEdge, Namespace, PutResult, Snapshot,
                    Space, Tag, hexid)
from ._wire import (FRAME, IdLike, Where, _BATCH_BYTES, _MAX_RANGES, _TO_END, _file_frames,
                    _filters, _floats, _frame_bytes, _frame_request, _id, _parse_read, _pb,
                    _rechunk, _ref, _slices, _varint, exists, prefix)
from .admin import AdminMixin
from .events import EventStream
from .transaction import Transaction

__all__ = ["Client", "connect", "prefix", "exists", "Transaction", "EventStream", "FRAME"]

# The process that first opened a gRPC channel. gRPC's C core is not fork-safe
# (grpcio 1.51: a forked child shares the parent's pollers and sockets, calls
# fail "Socket operation on non-socket" or hang; GRPC_ENABLE_FORK_SUPPORT made
# workers die or cancelled the parent's calls in our tests), so a child forked
# after gRPC was used refuses to open channels instead of failing at random.
_grpc_pid: Optional[int] = None


def _read_token(token: Optional[str]) -> Optional[str]:
    if token is None:
        token = os.environ.get("AIFS_TOKEN")
    if token and token.startswith("@"):
        with open(token[1:]) as f:
            token = f.read()
    return token.strip() if token else None


class Client(AdminMixin):
    """A connection to one `aifs serve` (see the module docstring).

    Args:
        server: "host:port"; default $AIFS_SERVER.
        token: the macaroon, or "@FILE"; default $AIFS_TOKEN.
        tls: None/False: plaintext unless $AIFS_TLS_CA is set; True: TLS with
            the system roots; a path: TLS with that CA file (PEM);
            a grpc.ChannelCredentials: used as is.
        timeout: default deadline in seconds of unary calls (None: none).
        options: extra gRPC channel options.
    """

    def __init__(self, server: Optional[str] = None, token: Optional[str] = None,
                 tls: Union[None, bool, str, grpc.ChannelCredentials] = None,
                 timeout: Optional[float] = 300.0, options: Sequence[Tuple[str, Any]] = ()):
        self.server = server or os.environ.get("AIFS_SERVER")
        if not self.server:
            raise InvalidArgument("no server: pass server= or set AIFS_SERVER", "NO_SERVER")
        self._token = _read_token(token)
        if tls is None and os.environ.get("AIFS_TLS_CA"):
            tls = os.environ["AIFS_TLS_CA"]
        self._tls = tls
        self.timeout = timeout
        self._options = list(options)
        self._lock = threading.Lock()
        self._lock_pid = os.getpid()
        self._pid = None
        self._channel = None
        self._stubs = None

    # ---- connection --------------------------------------------------------

    def __getstate__(self):
        if isinstance(self._tls, grpc.ChannelCredentials):
            raise TypeError("a Client with ChannelCredentials does not pickle; pass tls=PATH")
        return {"server": self.server, "token": self._token, "tls": self._tls,
                "timeout": self.timeout, "options": self._options}

    def __setstate__(self, st):
        self.__init__(st["server"], st["token"], st["tls"], st["timeout"], st["options"])

    def _credentials(self):
        if isinstance(self._tls, grpc.ChannelCredentials):
            return self._tls
        if self._tls is True:
            return grpc.ssl_channel_credentials()
        if self._tls:
            with open(self._tls, "rb") as f:
                return grpc.ssl_channel_credentials(root_certificates=f.read())
        return None

    def _get_stubs(self):
        pid = os.getpid()
        if self._pid == pid:
            return self._stubs
        if self._lock_pid != pid:  # forked: another thread may have held the lock
            self._lock, self._lock_pid = threading.Lock(), pid
        global _grpc_pid
        with self._lock:
            if self._pid != pid:  # first use in this process (or after fork)
                if _grpc_pid not in (None, pid) and os.environ.get(
                        "GRPC_ENABLE_FORK_SUPPORT", "").lower() not in ("1", "true"):
                    raise errors.FailedPrecondition(
                        "this process was forked after its parent used gRPC, which gRPC does "
                        "not support: start workers with spawn or forkserver (DataLoader "
                        "multiprocessing_context=...; aifs.torch loaders do by default)",
                        "FORKED_AFTER_GRPC")
                _grpc_pid = pid
                _, svc = _pb()
                opts = [("grpc.max_receive_message_length", 64 << 20),
                        ("grpc.max_send_message_length", 64 << 20),
                        # server streams (reads, ranges, events) are consumed on the
                        # calling thread, without the channel's spin thread: 256 MiB
                        # reads in 0.41 s instead of 0.57 s (the CLI: 0.43 s)
                        ("SingleThreadedUnaryStream", 1),  # grpc.experimental.ChannelOptions
                        ] + self._options
                creds = self._credentials()
                ch = (grpc.secure_channel(self.server, creds, opts) if creds
                      else grpc.insecure_channel(self.server, opts))
                self._channel = ch
                pb, _ = _pb()
                # The bulk paths skip protobuf objects for the data frames
                # (see _frame_request, _parse_read): two copies fewer per MiB.
                raw_put = ch.stream_unary("/aifs.v1.Aifs/PutAsset", request_serializer=None,
                                          response_deserializer=pb.PutAssetResponse.FromString)
                raw_read = ch.unary_stream(
                    "/aifs.v1.Aifs/ReadAsset",
                    request_serializer=pb.ReadAssetRequest.SerializeToString,
                    response_deserializer=None)
                self._stubs = (svc.AifsStub(ch), svc.AdminStub(ch), svc.IntrospectStub(ch),
                               svc.MetricsStub(ch), raw_put, raw_read)
                self._pid = pid
        return self._stubs

    def close(self) -> None:
        """Closes this process's channel (a later call reopens one)."""
        with self._lock:
            if self._channel is not None and self._pid == os.getpid():
                self._channel.close()
            self._pid = self._channel = self._stubs = None

    def __enter__(self):
        return self

    def __exit__(self, *exc):
        self.close()

    def _md(self):
        return (("authorization", "Bearer " + self._token),) if self._token else ()

    def _stub(self, which: int):
        return self._get_stubs()[which]

    def _unary(self, svc: int, method: str, req, timeout=None):
        try:
            return getattr(self._stub(svc), method)(
                req, metadata=self._md(), timeout=timeout if timeout is not None else self.timeout)
        except grpc.RpcError as e:
            raise errors.from_rpc_error(e) from None

    def _stream(self, svc: int, method: str, req, timeout=None):
        """Iterates a server stream, mapping failures to AifsError."""
        call = getattr(self._stub(svc), method)(req, metadata=self._md(), timeout=timeout)
        try:
            for r in call:
                yield r
        except grpc.RpcError as e:
            raise errors.from_rpc_error(e) from None
        finally:
            call.cancel()

    def _aifs(self, method, req, timeout=None):
        return self._unary(0, method, req, timeout)

    def _admin(self, method, req):
        return self._unary(1, method, req)

    def info(self):
        """Introspect.GetInfo: the aifs.v1.StoreInfo message (version, features...)."""
        pb, _ = _pb()
        return self._unary(2, "GetInfo", pb.Empty())

    def health(self, service: str = "") -> str:
        """grpc.health.v1 Check (needs no token): "SERVING", "NOT_SERVING", ...
        The two one-field messages are written and read here, not generated."""
        req = (b"\x0a" + _varint(len(service.encode())) + service.encode()) if service else b""
        self._get_stubs()  # opens this process's channel
        call = self._channel.unary_unary(
            "/grpc.health.v1.Health/Check", request_serializer=None, response_deserializer=None)
        try:
            resp = call(req, timeout=self.timeout)
        except grpc.RpcError as e:
            raise errors.from_rpc_error(e) from None
        from .errors import _fields
        status = next((v for n, w, v in _fields(resp) if n == 1 and w == 0), 0)
        return {0: "UNKNOWN", 1: "SERVING", 2: "NOT_SERVING", 3: "SERVICE_UNKNOWN"}.get(
            status, str(status))

    def metrics(self) -> str:
        """The server's Prometheus exposition text."""
        pb, _ = _pb()
        return self._unary(3, "GetMetrics", pb.Empty()).text

    # ---- namespaces --------------------------------------------------------

    def create_namespace(self, name: str, labels: Optional[Mapping[str, str]] = None) -> Namespace:
        """Admin. Raises AlreadyExists NAMESPACE_EXISTS."""
        pb, _ = _pb()
        return Namespace.from_pb(self._admin("CreateNamespace", pb.CreateNamespaceRequest(
            name=name, labels=dict(labels or {}))))

    def namespace(self, name: str) -> Namespace:
        pb, _ = _pb()
        return Namespace.from_pb(self._aifs("GetNamespace", pb.GetNamespaceRequest(name=name)))

    def namespaces(self) -> List[Namespace]:
        pb, _ = _pb()
        r = self._aifs("ListNamespaces", pb.ListNamespacesRequest())
        return [Namespace.from_pb(n) for n in r.namespaces]

    def delete_namespace(self, name: str) -> None:
        pb, _ = _pb()
        self._admin("DeleteNamespace", pb.DeleteNamespaceRequest(name=name))

    def set_policy(self, name: str, **policy) -> Namespace:
        """Admin. Keyword arguments are aifs.v1.NamespacePolicy fields."""
        pb, _ = _pb()
        return Namespace.from_pb(self._admin("SetNamespacePolicy", pb.SetNamespacePolicyRequest(
            name=name, policy=pb.NamespacePolicy(**policy))))

    # ---- put ---------------------------------------------------------------

    def _frames(self, data) -> Tuple[Iterator[bytes], Optional[int], Optional[int]]:
        """(frames of at most FRAME bytes, expected size or None, kind override or None)."""
        if hasattr(data, "__array__") and not isinstance(data, (bytes, bytearray, memoryview)):
            blob = tensor.encode(data)
            return _slices(memoryview(blob)), len(blob), 2
        if isinstance(data, (bytes, bytearray, memoryview)):
            mv = memoryview(data).cast("B")
            return _slices(mv), len(mv), None
        if isinstance(data, (str, os.PathLike)):
            size = os.path.getsize(data)
            return _file_frames(open(data, "rb"), close=True), size, None
        if hasattr(data, "read"):
            return _file_frames(data, close=False), None, None
        if isinstance(data, Iterable):
            return _rechunk(data), None, None
        raise InvalidArgument("cannot put a %s" % type(data).__name__, "BAD_PUT_SOURCE")

    def put(self, ns: str, data, *, kind: Optional[str] = None,
            metadata: Optional[Mapping[str, str]] = None,
            parents: Sequence[Union[IdLike, Tuple[IdLike, str], Tuple[IdLike, str, str]]] = (),
            path: Optional[str] = None, embeddings: Optional[Mapping[str, Any]] = None,
            expected_id: Optional[IdLike] = None, transaction: Optional[str] = None,
            timeout: Optional[float] = None) -> PutResult:
        """Stores an asset and returns its ID (BLAKE3 of the bytes).

        Args:
            data: bytes-like; a file path (str/PathLike); a binary file object;
                an iterable of bytes chunks (streamed); or a numpy.ndarray
                (or anything with __array__), stored as a Tensor asset.
            kind: "blob" (default), "tensor", "embed" or "artifact"; the server
                validates tensor/embed/artifact bytes.
            parents: lineage: IDs, or (id, transform) / (id, transform, digest).
            path: bind this path to the asset at commit.
            embeddings: {space: vector} indexed with the asset.
            transaction: a transaction ID (see :meth:`transaction`).
        Raises:
            AifsError, e.g. InvalidArgument TENSOR_* for a bad tensor,
            ResourceExhausted QUOTA_EXCEEDED, FailedPrecondition PARENT_NOT_COMMITTED.
        """
        pb, _ = _pb()
        frames, size, kind_code = self._frames(data)
        kinds = {"blob": 1, "tensor": 2, "embed": 3, "artifact": 4, None: 0}
        if kind not in kinds:
            raise InvalidArgument("unknown kind %r" % kind, "BAD_KIND")
        h = pb.PutHeader(ns=ns, kind=kinds[kind] or (kind_code or 0),
                         metadata=dict(metadata or {}), transaction_id=transaction or "")
        for p in parents:
            p = (p,) if isinstance(p, (str, bytes, bytearray)) else tuple(p)
            h.parents.add(asset=_id(p[0]), transform=p[1] if len(p) > 1 else "",
                          transform_digest=p[2] if len(p) > 2 else "")
        for space, vec in (embeddings or {}).items():
            h.embeddings.add(space=space, values=[float(x) for x in _floats(vec)])
        if size is not None:
            h.expected_size = size
        if expected_id is not None:
            h.expected_id = _id(expected_id)
        if path is not None:
            h.path = path

        def requests():
            yield pb.PutAssetRequest(header=h).SerializeToString()
            for f in frames:
                if len(f):
                    yield _frame_request(f)
            yield pb.PutAssetRequest(finish=pb.PutFinish()).SerializeToString()

        try:
            r = self._stub(4)(requests(), metadata=self._md(), timeout=timeout)
        except grpc.RpcError as e:
            raise errors.from_rpc_error(e) from None
        return PutResult.from_pb(r)

    def put_tensor(self, ns: str, array, *, dtype: Optional[str] = None,
                   rows: Optional[int] = None, **kw) -> PutResult:
        """Stores `array` as a Tensor asset (see aifs.tensor.encode for dtype/rows)."""
        blob = tensor.encode(array, dtype=dtype, rows=rows)
        return self.put(ns, blob, kind="tensor", **kw)

    # ---- get ---------------------------------------------------------------

    def _read_call(self, ns, id, offset, length, as_of, timeout=None):
        """Yields the pieces (bytes or memoryview) of one ReadAsset stream."""
        pb, _ = _pb()
        req = pb.ReadAssetRequest(ns=ns, id=_id(id), offset=offset, as_of=_ref(as_of))
        if length is not None:
            req.length = length
        call = self._stub(5)(req, metadata=self._md(), timeout=timeout)
        expected = offset
        try:
            for msg in call:
                at, piece = _parse_read(msg)
                if at != expected:
                    raise errors.DataLoss("read stream jumped from offset %d to %d"
                                          % (expected, at), "READ_STREAM_GAP")
                expected += len(piece)
                yield piece
        except grpc.RpcError as e:
            raise errors.from_rpc_error(e) from None
        finally:
            call.cancel()

    def get_stream(self, ns: str, id: IdLike, offset: int = 0, length: Optional[int] = None,
                   as_of: Optional[str] = None) -> Iterator[bytes]:
        """The asset's bytes [offset, offset+length) as a stream of <= 1 MiB pieces.
        Raises NotFound ASSET_NOT_FOUND, OutOfRange RANGE_OUT_OF_BOUNDS."""
        return (bytes(p) for p in self._read_call(ns, id, offset, length, as_of))

    def get(self, ns: str, id: IdLike, offset: int = 0, length: Optional[int] = None,
            as_of: Optional[str] = None) -> bytes:
        """The asset's bytes (or a range of them); `as_of` reads through a snapshot,
        branch or tag (an asset removed since is still readable there)."""
        return b"".join(self._read_call(ns, id, offset, length, as_of))  # accepts views

    def get_file(self, ns: str, id: IdLike, dest: Union[str, os.PathLike, BinaryIO],
                 as_of: Optional[str] = None) -> int:
        """Writes the asset to a path or binary file object; returns the byte count."""
        own = isinstance(dest, (str, os.PathLike))
        f = open(dest, "wb") if own else dest
        n = 0
        try:
            for piece in self._read_call(ns, id, 0, None, as_of):
                f.write(piece)
                n += len(piece)
        finally:
            if own:
                f.close()
        return n

    def get_tensor(self, ns: str, id: IdLike, as_of: Optional[str] = None,
                   bfloat16: str = "float32"):
        """A Tensor asset as a numpy.ndarray (its shape for one row, else
        (rows, *shape)); bfloat16 widens to float32, or stays uint16 with
        bfloat16="raw". Raises InvalidArgument TENSOR_* if it is not a tensor."""
        buf = bytearray()
        for piece in self._read_call(ns, id, 0, None, as_of):
            buf += piece
        return tensor.to_numpy(tensor.decode(buf), bfloat16=bfloat16)

    def read_ranges(self, ns: str, ranges: Sequence[Tuple[IdLike, int, Optional[int]]],
                    as_of: Optional[str] = None) -> List[bytes]:
        """Many ranges (id, offset, length or None = to the end) in as few calls
        as the limits allow; returns each range's bytes, in order. Lengths are
        clipped to the asset's end. Ranges of known length are grouped up to
        64 MiB a call; ranges to the end count as nothing, and a call the
        server finds too large (BATCH_TOO_LARGE, over 256 MiB once clipped) is
        split in two and retried. With `as_of` (a snapshot ID, branch or tag)
        the assets are read as that snapshot holds them, removed ones too.
        Raises NotFound ASSET_NOT_FOUND (ASSET_NOT_IN_SNAPSHOT with as_of),
        OutOfRange RANGE_OUT_OF_BOUNDS (the message names the range's index in
        its call)."""
        out: List[bytes] = []
        batch: List[Tuple[bytes, int, int]] = []
        want = 0
        for id, off, length in ranges:
            known = 0 if length is None else min(int(length), _BATCH_BYTES)
            if batch and (len(batch) >= _MAX_RANGES or want + known > _BATCH_BYTES):
                out += self._read_split(ns, batch, as_of)
                batch, want = [], 0
            batch.append((_id(id), int(off), _TO_END if length is None else int(length)))
            want += known
        if batch:
            out += self._read_split(ns, batch, as_of)
        return out

    def _read_split(self, ns, batch, as_of) -> List[bytes]:
        try:
            return self._read_batch(ns, batch, as_of)
        except InvalidArgument as e:
            if e.reason != "BATCH_TOO_LARGE" or len(batch) == 1:
                raise
        half = len(batch) // 2
        return (self._read_split(ns, batch[:half], as_of) +
                self._read_split(ns, batch[half:], as_of))

    def _read_batch(self, ns, batch, as_of) -> List[bytes]:
        pb, _ = _pb()
        req = pb.ReadRangesRequest(ns=ns, as_of=_ref(as_of))
        for id, off, length in batch:
            req.ranges.add(id=id, offset=off, length=length)
        parts: List[List[bytes]] = [[] for _ in batch]
        lengths = None
        for r in self._stream(0, "ReadRanges", req):
            if r.pieces:
                data = memoryview(_frame_bytes(r.data))
                at = 0
                for p in r.pieces:
                    parts[p.index].append(data[at:at + p.length])
                    at += p.length
            if r.done:
                lengths = list(r.lengths)
        got = [b"".join(p) for p in parts]
        if lengths is None or len(lengths) != len(batch) or any(
                len(g) != n for g, n in zip(got, lengths)):
            raise errors.DataLoss("ReadRanges answer incomplete", "RANGES_INCOMPLETE")
        return got

    # ---- metadata ----------------------------------------------------------

    def stat(self, ns: str, id: IdLike, as_of: Optional[str] = None,
             with_chunks: bool = False) -> Asset:
        """The asset's record. Raises NotFound ASSET_NOT_FOUND."""
        pb, _ = _pb()
        r = self._aifs("GetAsset", pb.GetAssetRequest(ns=ns, id=_id(id), as_of=_ref(as_of),
                                                      with_chunks=with_chunks))
        return Asset.from_pb(r.asset)

    def children(self, ns: str, id: IdLike) -> List[Dict[str, str]]:
        """Direct children (lineage) of an asset: [{asset, transform, transform_digest}]."""
        pb, _ = _pb()
        r = self._aifs("GetAsset", pb.GetAssetRequest(ns=ns, id=_id(id), with_children=True))
        return [{"asset": hexid(c.asset), "transform": c.transform,
                 "transform_digest": c.transform_digest} for c in r.children]

    def ls(self, ns: str, where: Where = None, kind: Optional[str] = None,
           page_size: int = 1000, page_token: str = "",
           as_of: Optional[str] = None) -> Iterator[Asset]:
        """The namespace's live assets (in ID order), page by page, lazily;
        with `as_of` (a snapshot ID, branch or tag) those it holds."""
        pb, _ = _pb()
        kinds = {None: 0, "blob": 1, "tensor": 2, "embed": 3, "artifact": 4}
        token = page_token
        while True:
            r = self._aifs("ListAssets", pb.ListAssetsRequest(
                ns=ns, limit=page_size, page_token=token, filters=_filters(where),
                kind=kinds[kind], as_of=_ref(as_of)))
            for a in r.assets:
                yield Asset.from_pb(a)
            token = r.next_page_token
            if not token:
                return

    def rm(self, ns: str, id: IdLike, force: bool = False) -> None:
        """Removes the asset from the head (snapshots keep it). Raises
        FailedPrecondition HAS_CHILDREN unless force."""
        pb, _ = _pb()
        self._aifs("DeleteAsset", pb.DeleteAssetRequest(ns=ns, id=_id(id), force=force))

    def verify(self, ns: str, id: IdLike) -> Dict[str, int]:
        """Re-reads and re-hashes every chunk on the server. Raises DataLoss
        (metadata: chunks_checked, bytes_checked) when the data is damaged."""
        pb, _ = _pb()
        r = self._aifs("VerifyAsset", pb.VerifyAssetRequest(ns=ns, id=_id(id)))
        return {"chunks_checked": r.chunks_checked, "bytes_checked": r.bytes_checked}

    def lineage(self, ns: str, id: IdLike, direction: str = "up", depth: int = 1) -> Lineage:
        """Ancestors ("up") or descendants ("down"), `depth` edges (1-1000)."""
        pb, _ = _pb()
        d = {"up": 0, "down": 1}[direction]
        r = self._aifs("GetLineage", pb.GetLineageRequest(ns=ns, id=_id(id), direction=d,
                                                          depth=depth))
        return Lineage(hexid(r.root), [LineageEdge(hexid(e.parent), hexid(e.child), e.transform,
                                                   e.transform_digest, e.depth) for e in r.edges],
                       [Asset.from_pb(a) for a in r.assets])

    def sign_url(self, ns: str, id: IdLike, as_of: Optional[str] = None, expires_s: int = 0,
                 file_name: str = "") -> str:
        """A pre-signed HTTP URL of the asset (base + path), or the path alone when
        the server has no HTTP plane."""
        pb, _ = _pb()
        r = self._aifs("SignUrl", pb.SignUrlRequest(ns=ns, id=_id(id), as_of=_ref(as_of),
                                                    expires_s=expires_s, file_name=file_name))
        return r.base + r.path_and_query

    # ---- transactions ------------------------------------------------------

    def transaction(self, ns: str) -> "Transaction":
        """A multi-asset transaction, as a context manager: puts inside are
        published together when the block ends, or not at all if it raises."""
        return Transaction(self, ns)

    # ---- snapshots, refs, paths --------------------------------------------

    def snapshot(self, ns: str, message: str = "", author: str = "", branch: str = "",
                 ids: Optional[Sequence[IdLike]] = None) -> Snapshot:
        """Snapshots the namespace (or exactly `ids`); with `branch`, commits to it."""
        pb, _ = _pb()
        req = pb.CreateSnapshotRequest(ns=ns, message=message, author=author, branch=branch)
        if ids is not None:
            req.explicit_set = True
            req.ids.extend(_id(i) for i in ids)
        return Snapshot.from_pb(self._aifs("CreateSnapshot", req))

    def get_snapshot(self, ns: str, ref: str) -> Snapshot:
        pb, _ = _pb()
        return Snapshot.from_pb(self._aifs("GetSnapshot", pb.SnapshotRef(ns=ns, ref=_ref(ref))))

    def snapshots(self, ns: str) -> List[Snapshot]:
        pb, _ = _pb()
        r = self._aifs("ListSnapshots", pb.ListSnapshotsRequest(ns=ns))
        return [Snapshot.from_pb(s) for s in r.snapshots]

    def verify_snapshot(self, ns: str, ref: str) -> None:
        """Server-side check of the signature and every tree node."""
        pb, _ = _pb()
        self._aifs("VerifySnapshot", pb.SnapshotRef(ns=ns, ref=_ref(ref)))

    def prove(self, ns: str, ref: str, id: Optional[IdLike] = None,
              path: Optional[str] = None):
        """An inclusion proof of asset `id` (or of the binding of `path`) in the
        snapshot; check it offline with :func:`aifs.proofs.verify_proof`.
        Raises NotFound ASSET_NOT_IN_SNAPSHOT."""
        from .proofs import Proof
        pb, _ = _pb()
        req = pb.ProveAssetRequest(ns=ns, ref=_ref(ref))
        if path is not None:
            req.path = path
        else:
            req.id = _id(id)
        return Proof.from_pb(self._aifs("ProveAsset", req))

    def diff(self, ns: str, a: str, b: str) -> Diff:
        pb, _ = _pb()
        r = self._aifs("DiffSnapshots", pb.DiffSnapshotsRequest(ns=ns, a=_ref(a), b=_ref(b)))
        h = lambda x: hexid(x) if x else None  # noqa: E731
        return Diff([hexid(x) for x in r.added], [hexid(x) for x in r.removed],
                    [(p.path, h(p.before), h(p.after)) for p in r.paths])

    def log(self, ns: str, ref: str, limit: int = 0) -> List[Snapshot]:
        """The snapshot and its ancestors, newest first."""
        pb, _ = _pb()
        r = self._aifs("SnapshotLog", pb.SnapshotLogRequest(ns=ns, ref=_ref(ref), limit=limit))
        return [Snapshot.from_pb(s) for s in r.snapshots]

    def merge(self, ns: str, source: str, into: str, strategy: str = "fail",
              message: str = "", author: str = "", revert: bool = False):
        """Merges `source` into branch `into` (or reverts snapshot `source` on it);
        returns the aifs.v1.MergeResponse (conflicts listed, snapshot unset, when
        strategy "fail" meets conflicts)."""
        pb, _ = _pb()
        st = {"fail": 0, "ours": 1, "theirs": 2}[strategy]
        req = pb.MergeRequest(ns=ns, source=_ref(source), into=into, strategy=st,
                              message=message, author=author)
        return self._aifs("Revert" if revert else "Merge", req)

    def create_branch(self, ns: str, name: str, ref: str = "", who: str = "") -> Branch:
        pb, _ = _pb()
        return Branch.from_pb(self._aifs("CreateBranch", pb.CreateBranchRequest(
            ns=ns, name=name, ref=_ref(ref), who=who)))

    def move_branch(self, ns: str, name: str, ref: str, expected: Optional[str] = None,
                    who: str = "") -> Branch:
        """Moves a branch; with `expected` (a snapshot ID) only if it is still
        there (else Aborted BRANCH_MOVED)."""
        pb, _ = _pb()
        return Branch.from_pb(self._aifs("MoveBranch", pb.MoveBranchRequest(
            ns=ns, name=name, ref=_ref(ref), who=who,
            expected=bytes.fromhex(expected) if expected else b"")))

    def delete_branch(self, ns: str, name: str, who: str = "") -> None:
        pb, _ = _pb()
        self._aifs("DeleteBranch", pb.DeleteRefRequest(ns=ns, name=name, who=who))

    def branches(self, ns: str) -> List[Branch]:
        pb, _ = _pb()
        return [Branch.from_pb(b) for b in
                self._aifs("ListBranches", pb.ListRefsRequest(ns=ns)).branches]

    def branch_log(self, ns: str, name: str):
        """The branch's moves: aifs.v1.BranchMove messages, oldest first."""
        pb, _ = _pb()
        return list(self._aifs("BranchLog", pb.BranchLogRequest(ns=ns, name=name)).moves)

    def create_tag(self, ns: str, name: str, ref: str, who: str = "") -> Tag:
        pb, _ = _pb()
        return Tag.from_pb(self._aifs("CreateTag", pb.CreateTagRequest(
            ns=ns, name=name, ref=_ref(ref), who=who)))

    def delete_tag(self, ns: str, name: str, who: str = "") -> None:
        pb, _ = _pb()
        self._aifs("DeleteTag", pb.DeleteRefRequest(ns=ns, name=name, who=who))

    def tags(self, ns: str) -> List[Tag]:
        pb, _ = _pb()
        return [Tag.from_pb(t) for t in self._aifs("ListTags", pb.ListRefsRequest(ns=ns)).tags]

    def resolve(self, ns: str, path: str, as_of: Optional[str] = None) -> str:
        """The asset ID bound to `path`. Raises NotFound PATH_NOT_FOUND."""
        pb, _ = _pb()
        return hexid(self._aifs("ResolvePath", pb.ResolvePathRequest(
            ns=ns, path=path, as_of=_ref(as_of))).id)

    def paths(self, ns: str, prefix: str = "", as_of: Optional[str] = None,
              page_size: int = 1000) -> Iterator[Tuple[str, str]]:
        """(path, asset ID) pairs in path order, lazily paged."""
        pb, _ = _pb()
        token = ""
        while True:
            r = self._aifs("ListPaths", pb.ListPathsRequest(
                ns=ns, prefix=prefix, as_of=_ref(as_of), limit=page_size, page_token=token))
            for e in r.entries:
                yield e.path, hexid(e.id)
            token = r.next_page_token
            if not token:
                return

    def bind(self, ns: str, path: str, id: IdLike) -> None:
        pb, _ = _pb()
        self._aifs("BindPath", pb.BindPathRequest(ns=ns, path=path, id=_id(id)))

    def mv(self, ns: str, src: str, dst: str) -> None:
        pb, _ = _pb()
        self._aifs("MovePath", pb.MovePathRequest(ns=ns, to=dst, **{"from": src}))

    def unbind(self, ns: str, path: str) -> None:
        pb, _ = _pb()
        self._aifs("RemovePath", pb.RemovePathRequest(ns=ns, path=path))

    def checkout(self, ns: str, ref: str):
        """Makes the head's paths those of `ref`; returns aifs.v1.CheckoutResponse."""
        pb, _ = _pb()
        return self._aifs("Checkout", pb.CheckoutRequest(ns=ns, ref=_ref(ref)))

    # ---- vectors -----------------------------------------------------------

    def create_space(self, ns: str, name: str, dim: int, metric: str = "cosine") -> Space:
        pb, _ = _pb()
        m = {"cosine": 0, "l2": 1, "inner_product": 2, "ip": 2}[metric]
        return Space.from_pb(self._aifs("CreateSpace", pb.CreateSpaceRequest(
            ns=ns, space=pb.EmbeddingSpace(name=name, dim=dim, metric=m))))

    def spaces(self, ns: str) -> List[Space]:
        pb, _ = _pb()
        return [Space.from_pb(s) for s in
                self._aifs("ListSpaces", pb.ListSpacesRequest(ns=ns)).spaces]

    def search(self, ns: str, space: str, query, k: int = 10, where: Where = None,
               as_of: Optional[str] = None, ef: int = 0, embed_with: Optional[str] = None):
        """Nearest neighbours of `query` in `space` (higher score is better).

        `query`: a vector (numpy array / list of floats), a 2-D array of several
        queries (returns one hit list per row), an asset ID (hex or 32 bytes:
        "more like this"), or with `embed_with` (an ingest operator's name) a
        text the operator embeds as it embeds its inputs (`space` "" takes the
        operator's). `where` filters by metadata, `as_of` restricts to a
        snapshot/branch/tag's assets. Returns List[Hit].
        """
        pb, _ = _pb()
        like = None
        if embed_with is not None:
            if not isinstance(query, str):
                raise TypeError("with embed_with, the query is a text")
        elif isinstance(query, (bytes, bytearray)) or (isinstance(query, str) and len(query) == 64):
            like = _id(query)
        else:
            try:
                import numpy as np
                q = np.asarray(query, dtype=np.float32)
            except ImportError:  # pragma: no cover
                q = None
            if q is not None and q.ndim == 2:
                return [self.search(ns, space, row, k, where, as_of, ef) for row in q]
        req = pb.VectorSearchRequest(ns=ns, space=space, k=k, ef=ef, filters=_filters(where),
                                     as_of=_ref(as_of))
        if embed_with is not None:
            req.text, req.embed_with = query, embed_with
        elif like is not None:
            req.like = like
        else:
            req.vector.extend(_floats(query))
        r = self._aifs("VectorSearch", req)
        return [Hit(hexid(h.id), h.score, hexid(h.source) if h.source else None,
                    (h.source_offset, h.source_length) if h.HasField("source_offset") else None)
                for h in r.hits]

    # ---- aggregate queries (docs/privacy.md) --------------------------------

    _AGGREGATES = ("count", "sum", "mean", "histogram", "quantiles")

    def query(self, ns: str, kind: str, field: str = "", where: Where = None, *,
              epsilon: Union[str, int, None] = None, as_of: Optional[str] = None,
              bins: int = 10, lower: Optional[float] = None, upper: Optional[float] = None,
              quantiles: Sequence[float] = (), who: str = "", mechanism: str = "laplace",
              delta: Union[str, int, None] = None) -> Dict[str, Any]:
        """An aggregate query: `kind` is count, sum, mean, histogram or quantiles.

        Under the namespace's privacy policy the answer is noisy and spends
        `epsilon`, given as exact decimal text ("0.1") or an int of
        micro-epsilon; without a policy it is exact. `mechanism` "gaussian"
        (the policy needs a delta budget) also spends `delta`, as text
        ("1e-6", "0.000001") or an int of pico-delta (10^-12). Returns a dict:
        noisy, count, value (sum/mean), bins [(lower, upper, count)],
        quantiles [(q, value)], epsilon and remaining_epsilon (micro-epsilon),
        delta and remaining_delta (pico-delta), mechanism (with its parameters).
        """
        pb, _ = _pb()
        if kind not in self._AGGREGATES:
            raise InvalidArgument("unknown aggregate %r" % (kind,), "BAD_AGGREGATE")
        micros = 0
        if isinstance(epsilon, int):
            micros = epsilon
        elif epsilon is not None:
            whole, _, frac = str(epsilon).partition(".")
            if not whole.isdigit() or len(frac) > 6 or (frac and not frac.isdigit()):
                raise InvalidArgument("epsilon %r is not like 0.5 (6 decimals)" % (epsilon,),
                                      "BAD_EPSILON")
            micros = int(whole) * 1000000 + int((frac + "000000")[:6])
        if mechanism not in ("laplace", "gaussian"):
            raise InvalidArgument("unknown mechanism %r (laplace, gaussian)" % (mechanism,),
                                  "BAD_MECHANISM")
        picos = 0
        if isinstance(delta, int):
            picos = delta
        elif delta is not None:
            try:
                exact = decimal.Decimal(str(delta)) * 10 ** 12
            except decimal.InvalidOperation:
                exact = decimal.Decimal(-1)
            if not exact.is_finite() or exact != exact.to_integral_value() or \
                    not 0 <= exact < 10 ** 12:
                raise InvalidArgument("delta %r is not like 1e-6 (0 to below 1, 12 decimals)"
                                      % (delta,), "BAD_DELTA")
            picos = int(exact)
        req = pb.AggregateRequest(ns=ns, kind=self._AGGREGATES.index(kind) + 1, field=field,
                                  filters=_filters(where), as_of=_ref(as_of),
                                  epsilon_micros=micros, bins=bins, quantiles=list(quantiles),
                                  who=who, delta_picos=picos,
                                  mechanism=("laplace", "gaussian").index(mechanism))
        if lower is not None:
            req.lower = lower
        if upper is not None:
            req.upper = upper
        r = self._aifs("Aggregate", req)
        return {"noisy": r.noisy, "count": r.count, "value": r.value,
                "bins": [(b.lower, b.upper, b.count) for b in r.bins],
                "quantiles": [(q.q, q.value) for q in r.quantiles],
                "epsilon": r.epsilon_micros, "remaining_epsilon": r.remaining_micros,
                "delta": r.delta_picos, "remaining_delta": r.remaining_delta_picos,
                "mechanism": r.mechanism, "charge": r.charge_seq}

    def privacy_ledger(self, ns: str, limit: int = 100):
        """The namespace's privacy policy, budget spent and left, newest charges
        (aifs.v1.PrivacyLedger)."""
        pb, _ = _pb()
        return self._aifs("GetPrivacyLedger", pb.GetPrivacyLedgerRequest(ns=ns, limit=limit))

    # ---- events ------------------------------------------------------------

    def events(self, ns: str = "", types: Sequence[str] = (), after: int = 0,
               follow: bool = False, reconnect: bool = True) -> "EventStream":
        """The event log from sequence `after` on, as an iterator of Events;
        with follow, it waits for new ones. `.cursor` is where to resume; with
        reconnect it resumes there by itself after UNAVAILABLE (a restart)."""
        return EventStream(self, ns, types, after, follow, reconnect)


def connect(server: Optional[str] = None, token: Optional[str] = None,
            tls: Union[None, bool, str, grpc.ChannelCredentials] = None, **kw) -> Client:
    """A Client for `server` (default $AIFS_SERVER) with `token` (default
    $AIFS_TOKEN; "@FILE" reads a file). The channel opens on first use."""
    return Client(server, token, tls, **kw)
