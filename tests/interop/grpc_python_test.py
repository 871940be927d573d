#!/usr/bin/python3
"""gRPC interop: a Python client talks to a real `aifs serve` process.

The client's message modules and service stubs are generated from the
project's own .proto files (proto/aifs/v1, proto/google/rpc, proto/grpc/health)
into a temporary directory at the start of the run: messages with the system
`protoc --python_out`, stubs with the grpc_python_plugin of
protobuf-compiler-grpc (falling back to python3-grpc-tools, whose bundled
protoc predates proto3 `optional`, on a copy with the labels dropped; the
labels do not change the service code). Nothing generated is kept.

Against a fresh store served on an ephemeral port it checks health,
Introspect.GetInfo, namespaces, PutAsset (identity and client-side zstd frames,
empty asset, dedup, parents), ReadAsset (identity and accept_zstd, ranges),
GetAsset, GetLineage, ListAssets metadata filters and paging, snapshots with
an independent Merkle/proof/signature check, SubscribeEvents (replay, follow,
heartbeat, cancel, resume), vector search (an L2 and a cosine embedding
space in a namespace of their own, ~300 assets with numpy-made vectors and
metadata; ListSpaces counts; VectorSearch by vector and by `like`, with and
without metadata filters, against numpy's exact search: recall, exact filtered
top k, scores; a delete whose vectors never come back; the vector errors),
the error model (gRPC code + google.rpc.Status / ErrorInfo trailer),
Prometheus metrics against the client's own call counts, and a SIGTERM
shutdown (exit 0 within 10 s). A second server on the same directory then
shows that assets, the event log, the embedding spaces and search results
survive a restart, and that SIGTERM with an events follower connected still
ends the process (bounded by --grace-ms; the run prints a NOTE when the
follower held it for the whole grace period).

BLAKE3 comes from the `b3sum` command; zstd from the `zstandard` module or
the `zstd` command (without either the zstd sub-parts are skipped, loudly);
the exact vector search from numpy (required).

Cluster mode (AIFS_INTEROP_CLUSTER=1, with AIFS_TEST_PG_DIR and
AIFS_TEST_CEPH_DIR naming a running PostgreSQL and Ceph, as the CTest
fixtures give): the store is made on PostgreSQL (a schema of its own) and
RADOS (a namespace of its own), two more data directories join it, and the
client sends each call to the next of the three servers in turn, so every
check above also checks that the servers agree (what one wrote, the next
reads, searches and lists; one event log). Metrics are summed over the three;
store-wide gauges must be the same on each. The restart is of the first
server. Without the fixtures the run is skipped (exit 77).

usage: grpc_python_test.py PATH/TO/aifs      (exit 0 iff every check passed)
       AIFS_KEEP_TMP=1 keeps the temporary directory.
"""
import collections
import glob
import os
import queue
import random
import re
import shutil
import signal
import subprocess
import sys
import tempfile
import threading
import time
import traceback

HERE = os.path.dirname(os.path.abspath(__file__))
ROOT = os.path.abspath(os.path.join(HERE, "..", ".."))
PROTO = os.path.join(ROOT, "proto")
MSG_PROTOS = ["aifs/v1/aifs.proto", "google/rpc/status.proto", "google/rpc/error_details.proto",
              "grpc/health/v1/health.proto"]
SVC_PROTOS = ["aifs/v1/aifs.proto", "grpc/health/v1/health.proto"]
MiB = 1 << 20
NS = "interop"


# ---------------------------------------------------------------------------
# checks


class CheckFailed(Exception):
    pass


class Checks:
    """Counts checks per section; a failed check raises CheckFailed."""

    def __init__(self):
        self.section = "setup"
        self.counts = collections.OrderedDict()
        self.notes = []

    def begin(self, name):
        self.section = name
        self.counts.setdefault(name, 0)
        print("== %s" % name, flush=True)

    def ok(self, cond, what):
        if not cond:
            raise CheckFailed("[%s] %s" % (self.section, what))
        self.counts[self.section] = self.counts.get(self.section, 0) + 1

    def eq(self, got, want, what):
        if got != want:
            g, w = repr(got), repr(want)
            raise CheckFailed("[%s] %s: got %s, want %s" %
                              (self.section, what, g[:400], w[:400]))
        self.counts[self.section] = self.counts.get(self.section, 0) + 1

    def note(self, text):
        print("NOTE: " + text, flush=True)
        self.notes.append("[%s] %s" % (self.section, text))

    def total(self):
        return sum(self.counts.values())


C = Checks()


# ---------------------------------------------------------------------------
# tools: code generation, BLAKE3, zstd


def generate(gen):
    os.makedirs(gen)
    subprocess.run(["protoc", "-I" + PROTO, "-I/usr/include", "--python_out=" + gen] + MSG_PROTOS,
                   check=True, cwd=PROTO)
    plugin = shutil.which("grpc_python_plugin")
    if plugin:
        subprocess.run(["protoc", "-I" + PROTO, "-I/usr/include",
                        "--plugin=protoc-gen-grpc_python=" + plugin,
                        "--grpc_python_out=" + gen] + SVC_PROTOS, check=True, cwd=PROTO)
        version = subprocess.run(["protoc", "--version"], capture_output=True, text=True).stdout
        return "protoc %s + %s" % (version.split()[-1], plugin)
    # grpc_tools 1.14 bundles a protoc without proto3 `optional`: stubs only
    # name the message classes, so generate them from a copy without the label.
    copy = os.path.join(os.path.dirname(gen), "proto-noopt")
    for rel in SVC_PROTOS:
        os.makedirs(os.path.join(copy, os.path.dirname(rel)), exist_ok=True)
        with open(os.path.join(PROTO, rel)) as f:
            text = re.sub(r"^(\s*)optional\s+", r"\1", f.read(), flags=re.M)
        with open(os.path.join(copy, rel), "w") as f:
            f.write(text)
    subprocess.run([sys.executable, "-m", "grpc_tools.protoc", "-I" + copy, "-I/usr/include",
                    "--grpc_python_out=" + gen] + SVC_PROTOS, check=True, cwd=copy)
    return "protoc + grpc_tools.protoc (optional labels dropped for the stubs)"


def b3(data):
    out = subprocess.run(["b3sum", "--no-names", "--num-threads", "1"], input=data,
                         check=True, capture_output=True).stdout
    return bytes.fromhex(out.decode().strip())


class Zstd:
    def __init__(self):
        self.how = None
        try:
            import zstandard  # noqa: F401
            self.mod = zstandard
            self.how = "python zstandard"
        except ImportError:
            if shutil.which("zstd"):
                self.how = "zstd CLI"

    def compress(self, raw):
        if self.how == "python zstandard":
            return self.mod.ZstdCompressor(level=3).compress(raw)
        return subprocess.run(["zstd", "-q", "-3", "-c"], input=raw, check=True,
                              capture_output=True).stdout

    def decompress(self, blob):
        if self.how == "python zstandard":
            return self.mod.ZstdDecompressor().decompress(blob, max_output_size=2 * MiB)
        return subprocess.run(["zstd", "-q", "-d", "-c"], input=blob, check=True,
                              capture_output=True).stdout


ZSTD = Zstd()


# ---------------------------------------------------------------------------
# the client


class RoundRobin:
    """One stub per channel; each method looked up comes from the next one."""

    def __init__(self, stubs):
        self.stubs = stubs
        self.turn = 0

    def __getattr__(self, method):
        stub = self.stubs[self.turn % len(self.stubs)]
        self.turn += 1
        return getattr(stub, method)


class Rpc:
    """Stubs plus a record of every call's outcome, for the metrics check.
    With several channels (cluster mode) each call goes to the next one."""

    def __init__(self, channel):
        channels = channel if isinstance(channel, list) else [channel]
        self.channel = channels[0]
        self.servers = len(channels)   # n calls in a row reach each server once

        def stub(make):
            return make(channels[0]) if len(channels) == 1 else RoundRobin(
                [make(c) for c in channels])
        self.aifs = stub(aifs_pb2_grpc.AifsStub)
        self.admin = stub(aifs_pb2_grpc.AdminStub)
        self.introspect = stub(aifs_pb2_grpc.IntrospectStub)
        self.metrics = stub(aifs_pb2_grpc.MetricsStub)
        self.health = stub(health_pb2_grpc.HealthStub)
        self.services = {self.aifs: "aifs.v1.Aifs", self.admin: "aifs.v1.Admin",
                         self.introspect: "aifs.v1.Introspect", self.metrics: "aifs.v1.Metrics",
                         self.health: "grpc.health.v1.Health"}
        self.calls = collections.Counter()   # (path, code name) -> n
        self.cancelled = set()               # paths with calls the client cancelled
        # What the server's byte counters should say.
        self.bytes_in = self.wire_in = self.bytes_out = self.wire_out = 0

    def path(self, stub, method):
        return "/%s/%s" % (self.services[stub], method)

    def record(self, stub, method, code):
        self.calls[(self.path(stub, method), code)] += 1

    def unary(self, stub, method, req, timeout=60):
        try:
            resp = getattr(stub, method)(req, timeout=timeout)
        except grpc.RpcError as e:
            self.record(stub, method, e.code().name)
            raise
        self.record(stub, method, "OK")
        return resp

    def stream(self, stub, method, req, timeout=60):
        """A server-streaming call read to the end; returns the messages."""
        out = []
        try:
            for m in getattr(stub, method)(req, timeout=timeout):
                out.append(m)
        except grpc.RpcError as e:
            self.record(stub, method, e.code().name)
            raise
        self.record(stub, method, "OK")
        return out

    def put(self, msgs, timeout=60):
        return self.unary(self.aifs, "PutAsset", iter(msgs), timeout)


def header(ns=NS, metadata=None, parents=(), **kw):
    h = aifs_pb2.PutHeader(ns=ns, metadata=metadata or {}, **kw)
    for p in parents:
        h.parents.add(asset=p[0], transform=p[1], transform_digest=p[2])
    return aifs_pb2.PutAssetRequest(header=h)


def frame_msgs(frames):
    return [aifs_pb2.PutAssetRequest(data=f) for f in frames]


def identity_frames(data, size=MiB):
    return [aifs_pb2.DataFrame(encoding=aifs_pb2.DataFrame.IDENTITY, data=data[i:i + size],
                               raw_size=len(data[i:i + size]))
            for i in range(0, len(data), size)]


def zstd_frames(data):
    return [aifs_pb2.DataFrame(encoding=aifs_pb2.DataFrame.ZSTD,
                               data=ZSTD.compress(data[i:i + MiB]),
                               raw_size=len(data[i:i + MiB]))
            for i in range(0, len(data), MiB)]


def counted_in(rpc, frames):
    """Frames the server will decode: the byte counters it will bump."""
    for f in frames:
        rpc.bytes_in += f.raw_size
        rpc.wire_in += len(f.data)


def error_info(e):
    """(google.rpc.Status, ErrorInfo or None) from the trailer of a failed call."""
    blob = None
    for k, v in (e.trailing_metadata() or ()):
        if k == "grpc-status-details-bin":
            blob = v
    C.ok(blob is not None, "%s: trailer grpc-status-details-bin present" % e.code().name)
    st = status_pb2.Status()
    st.ParseFromString(blob)
    infos = []
    for any_ in st.details:
        if any_.Is(error_details_pb2.ErrorInfo.DESCRIPTOR):
            info = error_details_pb2.ErrorInfo()
            C.ok(any_.Unpack(info), "ErrorInfo unpacks")
            infos.append(info)
    return st, infos


def expect_error(what, fn, code, reason):
    try:
        fn()
    except grpc.RpcError as e:
        C.eq(e.code(), code, what + ": gRPC code")
        st, infos = error_info(e)
        C.eq(st.code, code.value[0], what + ": google.rpc.Status.code")
        C.eq(st.message, e.details(), what + ": google.rpc.Status.message = grpc-message")
        C.eq(len(infos), 1, what + ": one ErrorInfo in the details")
        C.eq(infos[0].domain, "aifs", what + ": ErrorInfo.domain")
        C.eq(infos[0].reason, reason, what + ": ErrorInfo.reason")
        print("   %-58s %s %s" % (what, code.name, reason), flush=True)
        return infos[0]
    raise CheckFailed("[%s] %s: succeeded, want %s %s" % (C.section, what, code.name, reason))


# ---------------------------------------------------------------------------
# the server


class Server:
    def __init__(self, aifs, data, args, label):
        self.data = data
        self.stderr_path = "%s.%s.stderr" % (data, label)
        with open(self.stderr_path, "wb") as err:
            self.proc = subprocess.Popen(
                [aifs, "--data", data, "serve", "--listen", "127.0.0.1:0"] + args,
                stdout=subprocess.PIPE, stderr=err)
        lines = queue.Queue()
        threading.Thread(target=lambda: lines.put(self.proc.stdout.readline()), daemon=True).start()
        try:
            line = lines.get(timeout=20).decode()
        except queue.Empty:
            raise CheckFailed("server printed no address within 20 s")
        m = re.fullmatch(r"aifs: serving on 127\.0\.0\.1:(\d+)\n", line)
        C.ok(m is not None, "serve prints 'aifs: serving on 127.0.0.1:PORT', got %r" % line)
        self.port = int(m.group(1))
        C.ok(0 < self.port < 65536, "a real ephemeral port")

    def kill(self):
        if self.proc.poll() is None:
            self.proc.kill()
            self.proc.wait()


# ---------------------------------------------------------------------------
# event helpers


def ev_key(e):
    """What the test asserts about an event (seq and time are checked apart)."""
    return ek(aifs_pb2.EventType.Name(e.type), e.ns, e.asset, e.parent, e.snapshot, e.name)


def ek(type_, ns, asset=b"", parent=b"", snapshot=b"", name=""):
    return (type_, ns, asset.hex(), parent.hex(), snapshot.hex(), name)


class Follower(threading.Thread):
    """Reads a SubscribeEvents stream into a queue: ('event'|'cursor', value, t) or
    ('error', RpcError, t) or ('end', None, t)."""

    def __init__(self, rpc, req):
        super().__init__(daemon=True)
        self.call = rpc.aifs.SubscribeEvents(req)
        self.q = queue.Queue()

    def run(self):
        try:
            for m in self.call:
                kind = m.WhichOneof("item")
                self.q.put((kind, getattr(m, kind), time.monotonic()))
        except grpc.RpcError as e:
            self.q.put(("error", e, time.monotonic()))
        else:
            self.q.put(("end", None, time.monotonic()))

    def next(self, timeout, skip_cursors=True):
        deadline = time.monotonic() + timeout
        while True:
            left = deadline - time.monotonic()
            if left <= 0:
                return None
            try:
                item = self.q.get(timeout=left)
            except queue.Empty:
                return None
            if skip_cursors and item[0] == "cursor":
                continue
            return item


# ---------------------------------------------------------------------------
# vector search


VNS = "vectors"   # the namespace of the vector section, apart from NS's counts
N_VEC = 300
DIMS = {"l2": 16, "cos": 12}


def vec_scores(space, X, rows, q):
    """numpy's exact scores (float64) of rows of X[space] against q; higher is better."""
    V = X[space][rows].astype(np.float64)
    q = np.asarray(q, dtype=np.float64)
    if space == "l2":
        return -((V - q) ** 2).sum(axis=1)
    return (V @ q) / (np.linalg.norm(V, axis=1) * np.linalg.norm(q))


def vectors(rpc, rng, expected_events):
    """Embedding spaces and VectorSearch in their own namespace, each answer
    compared with numpy's exact search. Returns what the restart check needs."""
    SC = grpc.StatusCode
    MF = aifs_pb2.MetaFilter
    C.begin("vectors")
    t0 = time.monotonic()
    rpc.unary(rpc.admin, "CreateNamespace", aifs_pb2.CreateNamespaceRequest(name=VNS))
    expected_events.append(ek("NAMESPACE_CREATED", VNS))
    metric = {"l2": aifs_pb2.L2, "cos": aifs_pb2.COSINE}

    def create_space(name, dim, metric_, ns=VNS):
        return rpc.unary(rpc.aifs, "CreateSpace", aifs_pb2.CreateSpaceRequest(
            ns=ns, space=aifs_pb2.EmbeddingSpace(name=name, dim=dim, metric=metric_)))

    for name in ("l2", "cos"):
        sp = create_space(name, DIMS[name], metric[name])
        C.eq((sp.name, sp.dim, sp.metric, sp.vectors), (name, DIMS[name], metric[name], 0),
             "CreateSpace %s answers the space" % name)
        expected_events.append(ek("SPACE_CREATED", VNS, name=name))
    expect_error("CreateSpace twice", lambda: create_space("l2", 16, aifs_pb2.L2),
                 SC.ALREADY_EXISTS, "SPACE_EXISTS")
    expect_error("CreateSpace same name, other dim/metric",
                 lambda: create_space("cos", 8, aifs_pb2.INNER_PRODUCT),
                 SC.ALREADY_EXISTS, "SPACE_EXISTS")
    expect_error("CreateSpace dim 0", lambda: create_space("zero", 0, aifs_pb2.L2),
                 SC.INVALID_ARGUMENT, "BAD_DIMENSION")
    expect_error("CreateSpace unknown metric", lambda: create_space("odd", 4, 9),
                 SC.INVALID_ARGUMENT, "UNKNOWN_METRIC")
    expect_error("CreateSpace bad name", lambda: create_space("has space", 4, aifs_pb2.L2),
                 SC.INVALID_ARGUMENT, "BAD_SPACE_NAME")
    expect_error("CreateSpace unknown namespace",
                 lambda: create_space("l2", 16, aifs_pb2.L2, ns="no-such-ns"),
                 SC.NOT_FOUND, "NAMESPACE_NOT_FOUND")

    # Clustered data: L2 vectors around 12 centres; cosine vectors of widely
    # varying norm (the server normalises, numpy divides by the norms). Every
    # asset has an L2 vector, two in three a cosine one.
    nrng = np.random.default_rng(rng.getrandbits(32))
    X = {}
    for name, dim in DIMS.items():
        centres = nrng.normal(size=(12, dim)) * 3
        X[name] = centres[nrng.integers(12, size=N_VEC)] + nrng.normal(size=(N_VEC, dim))
    X["cos"] *= nrng.uniform(0.05, 20, size=(N_VEC, 1))
    X = {name: x.astype(np.float32) for name, x in X.items()}
    has = {"l2": [True] * N_VEC, "cos": [i % 3 != 0 for i in range(N_VEC)]}
    meta = [dict({"bucket": str(i % 10), "n": str(i)}, **({"even": ""} if i % 2 == 0 else {}))
            for i in range(N_VEC)]
    ids, index_of = [], {}
    for i in range(N_VEC):
        emb = [aifs_pb2.Embedding(space=s, values=X[s][i].tolist()) for s in ("l2", "cos")
               if has[s][i]]
        body = b"vector asset %d\n" % i
        frames = identity_frames(body)
        r = rpc.put([header(ns=VNS, metadata=meta[i], embeddings=emb)] + frame_msgs(frames) +
                    [FINISH])
        counted_in(rpc, frames)
        C.eq((r.created, r.asset.ns, r.asset.size, dict(r.asset.metadata)),
             (True, VNS, len(body), meta[i]), "vector asset %d: put" % i)
        ids.append(r.asset.id)
        index_of[r.asset.id] = i
        expected_events.append(ek("ASSET_COMMITTED", VNS, r.asset.id))
    C.eq(ids[-1], b3(body), "the last vector asset's id = b3sum of its bytes")
    C.eq(len(index_of), N_VEC, "%d distinct ids" % N_VEC)
    print("   put %d assets with %d L2 (dim %d) and %d cosine (dim %d) vectors in %.1f s" % (
        N_VEC, sum(has["l2"]), DIMS["l2"], sum(has["cos"]), DIMS["cos"], time.monotonic() - t0),
        flush=True)

    def list_spaces(ns=VNS):
        r = rpc.unary(rpc.aifs, "ListSpaces", aifs_pb2.ListSpacesRequest(ns=ns))
        return sorted((s.name, s.dim, s.metric, s.vectors) for s in r.spaces)

    def want_spaces(live):
        return sorted((s, DIMS[s], metric[s], sum(1 for i in live if has[s][i])) for s in DIMS)

    live = set(range(N_VEC))
    C.eq(list_spaces(), want_spaces(live), "ListSpaces: dims, metrics, vector counts")
    C.eq(list_spaces(NS), [], "ListSpaces of a namespace without spaces")

    # Queries, each compared with numpy's exact answer over the live vectors.
    def passes(i, filters):
        md = meta[i]
        for f in filters:
            v = md.get(f.key)
            if f.op == MF.EXISTS:
                ok = v is not None
            elif v is None:
                ok = False
            elif f.op == MF.EQUALS:
                ok = v == f.value
            elif f.op == MF.PREFIX:
                ok = v.startswith(f.value)
            elif f.op == MF.IN:
                ok = v in f.values
            else:
                x = float(v)
                ok = (not f.HasField("min") or x >= f.min) and (not f.HasField("max") or
                                                                 x <= f.max)
            if not ok:
                return False
        return True

    def fdesc(filters):
        out = []
        for f in filters:
            op = MF.Op.Name(f.op)
            if f.op == MF.IN:
                out.append("%s IN %s" % (f.key, list(f.values)))
            elif f.op == MF.RANGE:
                out.append("%s RANGE [%s, %s]" % (f.key, f.min if f.HasField("min") else "",
                                                  f.max if f.HasField("max") else ""))
            else:
                out.append("%s %s %r" % (f.key, op, f.value))
        return " and ".join(out) or "no filter"

    def search(space, q=None, like=None, k=10, ef=0, filters=(), ns=VNS):
        req = aifs_pb2.VectorSearchRequest(ns=ns, space=space, k=k, ef=ef, filters=filters)
        if q is not None:
            req.vector.extend(float(x) for x in q)
        if like is not None:
            req.like = like
        return rpc.unary(rpc.aifs, "VectorSearch", req)

    plans = collections.Counter()
    recalls = []

    def check(what, space, q, k=10, filters=(), like=None, exact=False, ef=0):
        """One search against numpy: hits known, live, passing the filters and
        best first; every score within 1e-3 of numpy's; recall >= 0.9, or
        with filters the exact filtered top k as a set. Returns the hit rows."""
        r = search(space, None if like is not None else q, like=ids[like] if like is not None
                   else None, k=k, ef=ef, filters=filters)
        what = "%s %s (%s)" % (space, what, fdesc(filters))
        C.ok(all(h.id in index_of for h in r.hits), what + ": every hit is an asset of the test")
        got = [index_of[h.id] for h in r.hits]
        C.eq(len(set(got)), len(got), what + ": no duplicate hits")
        C.ok(all(i in live for i in got), what + ": no deleted asset among %s" % got)
        C.ok(all(has[space][i] for i in got), what + ": every hit has a vector in the space")
        C.ok(all(passes(i, filters) for i in got), what + ": every hit passes the filters")
        C.ok(like not in got, what + ": the `like` asset is not its own neighbour")
        rows = [i for i in sorted(live) if has[space][i] and passes(i, filters) and i != like]
        s = vec_scores(space, X, rows, q)
        truth = [rows[j] for j in np.argsort(-s, kind="stable")[:k]]
        score_of = dict(zip(rows, s))
        C.eq(len(got), len(truth), what + ": min(k, matching vectors) hits")
        scores = [h.score for h in r.hits]
        C.ok(all(a >= b for a, b in zip(scores, scores[1:])), what + ": best first: %s" % scores)
        for h, i in zip(r.hits, got):
            want = score_of[i]
            C.ok(abs(h.score - want) <= 1e-3 * max(abs(want), 1e-2),
                 what + ": score of %d is %r, numpy says %r" % (i, h.score, want))
        if got:
            best = score_of[truth[0]]
            C.ok(score_of[got[0]] >= best - 1e-3 * max(abs(best), 1e-2),
                 what + ": the top hit is numpy's (%d, exact %d)" % (got[0], truth[0]))
        if exact:
            C.eq(sorted(got), sorted(truth), what + ": the exact top %d" % k)
        else:
            recall = len(set(got) & set(truth)) / max(len(truth), 1)
            recalls.append(recall)
            C.ok(recall >= 0.9, what + ": recall@%d %.2f >= 0.9 (got %s, exact %s)" % (
                k, recall, got, truth))
        plans[re.sub(r"\d+", "N", r.plan)] += 1
        if filters:
            C.ok(re.fullmatch(r"hnsw ef=\d+ filtered|exact scan of \d+ vectors|"
                              r"exact over \d+ vectors with \w+", r.plan),
                 what + ": plan %r" % r.plan)
        elif ef:
            C.ok(r.plan.startswith("hnsw ef=%d" % ef), what + ": plan %r uses ef" % r.plan)
        else:
            C.ok(r.plan.startswith("hnsw ef="), what + ": plan %r" % r.plan)
        return got

    def fl(key, op, value="", values=(), lo=None, hi=None):
        f = MF(key=key, op=op, value=value, values=values)
        if lo is not None:
            f.min = lo
        if hi is not None:
            f.max = hi
        return f

    filter_cases = [
        [fl("bucket", MF.EQUALS, "3")],
        [fl("n", MF.RANGE, lo=50, hi=199)],
        [fl("bucket", MF.EQUALS, "7"), fl("n", MF.RANGE, lo=100, hi=250)],
        [fl("bucket", MF.EQUALS, "1"), fl("n", MF.RANGE, lo=0, hi=120)],
        [fl("bucket", MF.IN, values=["1", "4"])],
        [fl("n", MF.RANGE, lo=280)],
        [fl("n", MF.RANGE, hi=9.5)],
        [fl("n", MF.RANGE, lo=5, hi=12)],     # fewer matches than k: all of them
        [fl("n", MF.PREFIX, "1"), fl("even", MF.EXISTS)],
        [fl("bucket", MF.EQUALS, "nope")],     # nothing matches
    ]
    queries = {s: [(centre + nrng.normal(size=DIMS[s])).astype(np.float32)
                   for centre in X[s][nrng.integers(N_VEC, size=6)]] for s in DIMS}
    probes = {}

    def battery(label):
        for s in DIMS:
            for n_, q in enumerate(queries[s]):
                got = check("%s query %d" % (label, n_), s, q)
                probes[(s, n_)] = got
                for filters in filter_cases if n_ < 3 else filter_cases[:2]:
                    check("%s query %d" % (label, n_), s, q, filters=filters, exact=True)
            check("%s query 0, k 25, ef 200" % label, s, queries[s][0], k=25, ef=200)
            for j in (2, 7, 8):   # vectors of their own (j % 3 != 0)
                if j in live:
                    check("%s like %d" % (label, j), s, X[s][j], like=j)
                    check("%s like %d" % (label, j), s, X[s][j], like=j, exact=True,
                          filters=[fl("bucket", MF.EQUALS, meta[j]["bucket"])])
        check("%s zero query" % label, "l2", np.zeros(DIMS["l2"], np.float32))

    battery("before delete:")
    # A stored vector finds its own asset first, with the best possible score.
    x = 1
    for s in DIMS:
        r = search(s, X[s][x], k=1)
        C.eq([h.id for h in r.hits], [ids[x]], "%s: asset %d's own vector finds it" % (s, x))
        C.ok(abs(r.hits[0].score - (0.0 if s == "l2" else 1.0)) <= 1e-5,
             "%s: self-score %r" % (s, r.hits[0].score))

    # Delete asset x: no snapshot holds it, so it is released at once and its
    # vectors go with it, in every plan.
    rpc.unary(rpc.aifs, "DeleteAsset", aifs_pb2.DeleteAssetRequest(ns=VNS, id=ids[x]))
    expected_events.append(ek("ASSET_DELETED", VNS, ids[x]))
    expected_events.append(ek("ASSET_RELEASED", VNS, ids[x]))
    live.discard(x)
    C.eq(list_spaces(), want_spaces(live), "ListSpaces after the delete")
    for s in DIMS:
        r = search(s, X[s][x], k=5)
        C.ok(ids[x] not in [h.id for h in r.hits], "%s: the deleted asset's own vector no longer "
             "finds it" % s)
        r = search(s, X[s][x], k=N_VEC)
        C.eq(sorted(index_of[h.id] for h in r.hits), sorted(i for i in live if has[s][i]),
             "%s: k=%d returns every live vector, the deleted one not" % (s, N_VEC))
        for filters in ([fl("n", MF.RANGE, lo=1, hi=1)], [fl("n", MF.EQUALS, "1")]):
            C.eq(list(search(s, X[s][x], filters=filters).hits), [],
                 "%s: a filter matching only the deleted asset (%s) finds nothing" % (
                     s, fdesc(filters)))
        expect_error("VectorSearch like a deleted asset (%s)" % s,
                     lambda: search(s, like=ids[x]), SC.NOT_FOUND, "VECTOR_NOT_FOUND")
    battery("after delete:")

    # Errors.
    q16 = queries["l2"][0]
    bad_puts = [
        ("put: embedding of the wrong dimension", [("l2", np.ones(15))], SC.INVALID_ARGUMENT,
         "DIMENSION_MISMATCH"),
        ("put: cosine embedding of the wrong dimension", [("cos", np.ones(16))],
         SC.INVALID_ARGUMENT, "DIMENSION_MISMATCH"),
        ("put: NaN in an embedding", [("l2", [float("nan")] + [0.0] * 15)], SC.INVALID_ARGUMENT,
         "BAD_VECTOR"),
        ("put: Inf in an embedding", [("l2", [0.0] * 15 + [float("-inf")])], SC.INVALID_ARGUMENT,
         "BAD_VECTOR"),
        ("put: embedding norm above 1e6", [("l2", [3e5] * 16)], SC.INVALID_ARGUMENT,
         "BAD_VECTOR"),
        ("put: zero embedding in a cosine space", [("cos", [0.0] * 12)], SC.INVALID_ARGUMENT,
         "BAD_VECTOR"),
        ("put: embedding for an unknown space", [("no-such-space", np.ones(16))], SC.NOT_FOUND,
         "SPACE_NOT_FOUND"),
        ("put: two embeddings for one space", [("l2", np.ones(16)), ("l2", np.ones(16))],
         SC.INVALID_ARGUMENT, "DUPLICATE_SPACE"),
        ("put: a good and a bad embedding", [("l2", np.ones(16)), ("cos", np.ones(11))],
         SC.INVALID_ARGUMENT, "DIMENSION_MISMATCH"),
    ]
    for what, embs, code, reason in bad_puts:
        emb = [aifs_pb2.Embedding(space=s, values=[float(v) for v in vals]) for s, vals in embs]
        expect_error(what, lambda: rpc.put([header(ns=VNS, embeddings=emb), FINISH]), code,
                     reason)
    C.eq(list_spaces(), want_spaces(live), "rejected puts add no vector")
    expect_error("rejected puts commit nothing", lambda: rpc.unary(
        rpc.aifs, "GetAsset", aifs_pb2.GetAssetRequest(ns=VNS, id=b3(b""))),
        SC.NOT_FOUND, "ASSET_NOT_FOUND")
    bad_op = MF(key="bucket", op=7, value="1")
    for what, fn, code, reason in [
        ("VectorSearch query of the wrong dimension", lambda: search("l2", q16[:15]),
         SC.INVALID_ARGUMENT, "DIMENSION_MISMATCH"),
        ("VectorSearch cosine query of the wrong dimension", lambda: search("cos", q16),
         SC.INVALID_ARGUMENT, "DIMENSION_MISMATCH"),
        ("VectorSearch NaN in the query", lambda: search("l2", [float("nan")] * 16),
         SC.INVALID_ARGUMENT, "BAD_VECTOR"),
        ("VectorSearch Inf in the query", lambda: search("cos", [float("inf")] + [1.0] * 11),
         SC.INVALID_ARGUMENT, "BAD_VECTOR"),
        ("VectorSearch query norm above 1e6", lambda: search("l2", [3e5] * 16),
         SC.INVALID_ARGUMENT, "BAD_VECTOR"),
        ("VectorSearch zero query in a cosine space", lambda: search("cos", [0.0] * 12),
         SC.INVALID_ARGUMENT, "BAD_VECTOR"),
        ("VectorSearch unknown space", lambda: search("no-such-space", q16),
         SC.NOT_FOUND, "SPACE_NOT_FOUND"),
        ("VectorSearch space of another namespace", lambda: search("l2", q16, ns=NS),
         SC.NOT_FOUND, "SPACE_NOT_FOUND"),
        ("VectorSearch k=0", lambda: search("l2", q16, k=0), SC.INVALID_ARGUMENT, "BAD_K"),
        ("VectorSearch k above the limit", lambda: search("l2", q16, k=10001),
         SC.INVALID_ARGUMENT, "BAD_K"),
        ("VectorSearch neither vector nor like", lambda: search("l2"), SC.INVALID_ARGUMENT,
         "BAD_QUERY"),
        ("VectorSearch both vector and like", lambda: search("l2", q16, like=ids[2]),
         SC.INVALID_ARGUMENT, "BAD_QUERY"),
        ("VectorSearch like of 16 bytes", lambda: search("l2", like=ids[2][:16]),
         SC.INVALID_ARGUMENT, "BAD_ASSET_ID"),
        ("VectorSearch like an unknown asset", lambda: search("l2", like=rng.randbytes(32)),
         SC.NOT_FOUND, "VECTOR_NOT_FOUND"),
        ("VectorSearch like an asset without a vector there", lambda: search("cos", like=ids[3]),
         SC.NOT_FOUND, "VECTOR_NOT_FOUND"),
        ("VectorSearch unknown filter op", lambda: search("l2", q16, filters=[bad_op]),
         SC.INVALID_ARGUMENT, "BAD_FILTER"),
    ]:
        expect_error(what, fn, code, reason)

    print("   %d recall measurements, min %.2f mean %.3f; plans %s; %.1f s" % (
        len(recalls), min(recalls), sum(recalls) / len(recalls), dict(plans),
        time.monotonic() - t0), flush=True)
    return {"live": len(live), "spaces": want_spaces(live), "queries": queries,
            "probes": probes, "ids": ids}


# ---------------------------------------------------------------------------
# tokens: every call but health carries `authorization: Bearer <token>`


def _bearer(token):
    """A client interceptor adding the token to every call (grpc is imported late)."""
    header = ("authorization", "Bearer " + token)

    class Details(collections.namedtuple(
            "Details", ("method", "timeout", "metadata", "credentials", "wait_for_ready",
                        "compression")), grpc.ClientCallDetails):
        pass

    def with_token(d):
        return Details(d.method, d.timeout, list(d.metadata or []) + [header], d.credentials,
                       getattr(d, "wait_for_ready", None), getattr(d, "compression", None))

    class Bearer(grpc.UnaryUnaryClientInterceptor, grpc.UnaryStreamClientInterceptor,
                 grpc.StreamUnaryClientInterceptor, grpc.StreamStreamClientInterceptor):
        def intercept_unary_unary(self, cont, d, req):
            return cont(with_token(d), req)

        def intercept_unary_stream(self, cont, d, req):
            return cont(with_token(d), req)

        def intercept_stream_unary(self, cont, d, reqs):
            return cont(with_token(d), reqs)

        def intercept_stream_stream(self, cont, d, reqs):
            return cont(with_token(d), reqs)

    return Bearer()


def authed_channel(port, data):
    """A channel whose calls carry the admin token `aifs init` left in `data`."""
    with open(os.path.join(data, "admin.token")) as f:
        token = f.read().strip()
    return grpc.intercept_channel(grpc.insecure_channel("127.0.0.1:%d" % port), _bearer(token))


def cluster_backends():
    """(PostgreSQL URL, RADOS URL) of the test fixtures, or None to skip."""
    pg, ceph = os.environ.get("AIFS_TEST_PG_DIR", ""), os.environ.get("AIFS_TEST_CEPH_DIR", "")
    try:
        with open(os.path.join(pg, "url")) as f:
            meta = f.read().strip()
        with open(os.path.join(ceph, "rados-url")) as f:
            chunks = f.read().strip()
    except OSError:
        return None
    fresh = "%012x" % random.SystemRandom().getrandbits(48)
    return meta + "&schema=i" + fresh, chunks + "&namespace=i" + fresh


# ---------------------------------------------------------------------------
# the test


def run(aifs, tmp):
    rng = random.Random(20240607)
    data = os.path.join(tmp, "data")
    peers = []   # cluster mode: the joined data directories
    if CLUSTER:
        meta, chunks = CLUSTER
        subprocess.run([aifs, "--data", data, "init", "-q", "--meta", meta, "--chunks", chunks],
                       check=True)
        for label in ("b", "c"):
            peers.append(data + "." + label)
            subprocess.run([aifs, "--data", peers[-1], "init", "-q", "--meta", meta, "--kms",
                            "local://" + os.path.join(data, "kms", "master.keys")],
                           check=True, stdout=subprocess.DEVNULL)
    else:
        subprocess.run([aifs, "--data", data, "init", "-q"], check=True)

    C.begin("start")
    servers = [Server(aifs, d, [], label) for d, label in zip([data] + peers, SERVER_LABELS)]
    try:
        before = run_against(servers, rng, tmp)
    finally:
        for server in servers:
            server.kill()
    restart(aifs, data, before)


SERVER_LABELS = ("first", "b", "c")


def run_against(servers, rng, tmp):
    server = servers[0]
    raw = grpc.insecure_channel("127.0.0.1:%d" % server.port)
    grpc.channel_ready_future(raw).result(timeout=20)
    # Every server takes the first one's admin token: one store, one key ring.
    channels = [authed_channel(s.port, server.data) for s in servers]
    # Keep each channel's connection polled even while no call runs on it: a
    # server's graceful GOAWAY at SIGTERM waits for the client's ping ack,
    # which an idle grpcio channel only sends ~5 s later.
    for c in channels:
        c.subscribe(lambda state: None)
    rpc = Rpc(channels)
    channel = channels[0]
    SERVING = health_pb2.HealthCheckResponse.SERVING
    SC = grpc.StatusCode

    # ---- health ----------------------------------------------------------
    C.begin("health")
    for svc in ("", "readiness", "liveness"):
        r = rpc.unary(rpc.health, "Check", health_pb2.HealthCheckRequest(service=svc))
        C.eq(r.status, SERVING, "health %r" % svc)
    try:
        rpc.unary(rpc.health, "Check", health_pb2.HealthCheckRequest(service="no-such-service"))
        C.ok(False, "health of an unknown service fails")
    except grpc.RpcError as e:
        C.eq(e.code(), SC.NOT_FOUND, "health of an unknown service")

    # ---- tokens ----------------------------------------------------------
    C.begin("tokens")
    bare = Rpc(raw)
    for stub, method, req in ((bare.introspect, "GetInfo", aifs_pb2.Empty()),
                              (bare.aifs, "ListNamespaces", aifs_pb2.ListNamespacesRequest()),
                              (bare.admin, "FormatHistory", aifs_pb2.Empty())):
        expect_error("%s without a token" % method, lambda: bare.unary(stub, method, req),
                     SC.UNAUTHENTICATED, "TOKEN_MISSING")
    rpc.calls.update(bare.calls)  # the server counts these too

    # ---- introspection ---------------------------------------------------
    C.begin("introspect")
    info = rpc.unary(rpc.introspect, "GetInfo", aifs_pb2.Empty())
    for f in ("zstd-frames", "events"):
        C.ok(f in info.features, "GetInfo.features has %s: %s" % (f, list(info.features)))
    C.eq(info.max_frame_bytes, MiB, "max_frame_bytes")
    C.ok(info.version != "", "version is set")
    C.eq(info.tls, False, "tls")
    C.eq(info.read_only, False, "read_only")
    C.ok(0 < info.chunk_min <= info.chunk_avg <= info.chunk_max, "chunk sizes are ordered")
    print("   server %s (%s), features %s" % (info.version, info.build, ",".join(info.features)))

    # ---- namespaces ------------------------------------------------------
    C.begin("namespaces")
    ns = rpc.unary(rpc.admin, "CreateNamespace",
                   aifs_pb2.CreateNamespaceRequest(name=NS, labels={"team": "ml"}))
    C.eq(ns.name, NS, "created namespace name")
    C.eq(dict(ns.labels), {"team": "ml"}, "labels")
    C.eq(len(ns.signing_public_key), 32, "Ed25519 public key length")
    names = [n.name for n in rpc.unary(rpc.aifs, "ListNamespaces",
                                       aifs_pb2.ListNamespacesRequest()).namespaces]
    C.eq(sorted(names), ["default", NS], "ListNamespaces")
    expect_error("CreateNamespace twice", lambda: rpc.unary(
        rpc.admin, "CreateNamespace", aifs_pb2.CreateNamespaceRequest(name=NS)),
        SC.ALREADY_EXISTS, "NAMESPACE_EXISTS")

    # ---- puts ------------------------------------------------------------
    C.begin("put")
    expected_events = []   # ev_key tuples, in order; the first two are the namespaces
    expected_events.append(ek("NAMESPACE_CREATED", "default"))
    expected_events.append(ek("NAMESPACE_CREATED", NS))
    content, ids, meta = {}, {}, {}

    def put_ok(name, frames, md, parents=()):
        data = b"".join(f.data if f.encoding == aifs_pb2.DataFrame.IDENTITY
                        else ZSTD.decompress(f.data) for f in frames)
        want = b3(data)
        r = rpc.put([header(metadata=md, parents=parents)] + frame_msgs(frames) + [FINISH])
        counted_in(rpc, frames)
        C.eq(r.asset.id, want, "%s: returned id = b3sum of the bytes" % name)
        C.eq(r.asset.size, len(data), "%s: size" % name)
        C.eq(r.asset.ns, NS, "%s: ns" % name)
        C.eq(r.asset.kind, aifs_pb2.ASSET_KIND_BLOB, "%s: kind" % name)
        C.eq(dict(r.asset.metadata), md, "%s: metadata" % name)
        C.eq(r.asset.uri, "aifs://%s/%s" % (NS, want.hex()), "%s: uri" % name)
        C.eq(r.created, True, "%s: created" % name)
        C.eq(r.staged, False, "%s: not staged" % name)
        C.ok(r.chunks_new <= r.chunks_total, "%s: chunks_new <= chunks_total" % name)
        C.eq(r.asset.chunk_count, r.chunks_total, "%s: chunk_count" % name)
        C.eq([(p.asset, p.transform, p.transform_digest) for p in r.asset.parents],
             list(parents), "%s: parents" % name)
        content[name], ids[name], meta[name] = data, want, md
        expected_events.append(ek("ASSET_COMMITTED", NS, want))
        for p in parents:
            expected_events.append(ek("LINEAGE_EDGE_ADDED", NS, want, p[0], name=p[1]))
        encodings = sorted({aifs_pb2.DataFrame.Encoding.Name(f.encoding) for f in frames})
        print("   put %-2s %8d bytes in %d %s frame(s) -> %s (%d chunks, %d new)" % (
            name, len(data), len(frames), "/".join(encodings) or "no", want.hex()[:16],
            r.chunks_total, r.chunks_new), flush=True)
        return r

    # A: 5 MiB + a bit of random bytes in 1 MiB identity frames.
    a = rng.randbytes(5 * MiB + 12345)
    fa = identity_frames(a)
    C.eq([f.raw_size for f in fa], [MiB] * 5 + [12345], "A is cut in 1 MiB frames")
    put_ok("A", fa, {"split": "train", "model": "resnet-50", "owner": "alice"})
    # B: 3 MiB of highly compressible text in client-side zstd frames.
    line = b"epoch=%04d loss=0.125 acc=0.875 lr=0.001 note=the quick brown fox\n"
    b = b"".join(line % (i % 10000) for i in range(3 * MiB // len(line % 0) + 1))[:3 * MiB + 517]
    if ZSTD.how:
        fb = zstd_frames(b)
        C.eq(len(fb), 4, "B is cut in 4 frames")
        C.ok(all(f.encoding == aifs_pb2.DataFrame.ZSTD for f in fb), "B frames are ZSTD")
        wire = sum(len(f.data) for f in fb)
        C.ok(wire * 10 < len(b), "B compresses at least 10x (%d -> %d)" % (len(b), wire))
    else:
        C.note("no zstd (neither python zstandard nor the zstd CLI): B goes as identity frames, "
               "zstd puts and accept_zstd decoding are NOT tested")
        fb = identity_frames(b)
    put_ok("B", fb, {"split": "train", "model": "resnet-101", "compressible": "yes"})
    # C: small; D: empty (no data frames at all), with an empty metadata value.
    c = b"a small config file\n" * 7
    put_ok("C", identity_frames(c), {"split": "test", "model": "bert-base", "owner": "bob"})
    put_ok("D", [], {"split": "val", "empty": ""})
    C.eq(ids["D"], b3(b""), "the empty asset's id is BLAKE3 of nothing")
    # Same bytes again: same id, nothing new, no event.
    r = rpc.put([header(metadata={"other": "metadata"})] + frame_msgs(fa) + [FINISH])
    counted_in(rpc, fa)
    C.eq(r.asset.id, ids["A"], "re-put of A: same id")
    C.eq(r.created, False, "re-put of A: not created")
    C.eq(r.chunks_new, 0, "re-put of A: no new chunks")
    C.eq(dict(r.asset.metadata), meta["A"], "re-put of A: the first record stays")
    # E derives from A; F from E and C (two parents).
    e = bytes(x ^ 0x5A for x in a[:2 * MiB]) + b"finetuned"
    put_ok("E", identity_frames(e),
           {"split": "train", "model": "resnet-50-ft", "derived": "yes", "owner": "alice"},
           parents=[(ids["A"], "finetune", "sha256:" + "ab" * 32)])
    f_ = rng.randbytes(300000)
    put_ok("F", identity_frames(f_, 100000),
           {"split": "test", "model": "resnet-50-ft-int8", "derived": "yes"},
           parents=[(ids["E"], "quantize", "int8"), (ids["C"], "calibrate", "")])
    live = ["A", "B", "C", "D", "E", "F"]

    # ---- reads -----------------------------------------------------------
    C.begin("read")

    def read(name, accept_zstd, offset=0, length=None, id_=None, ns=NS):
        req = aifs_pb2.ReadAssetRequest(ns=ns, id=id_ or ids[name], offset=offset,
                                        accept_zstd=accept_zstd)
        if length is not None:
            req.length = length
        msgs = rpc.stream(rpc.aifs, "ReadAsset", req)
        out, pos, encodings = [], offset, collections.Counter()
        for m in msgs:
            C.eq(m.offset, pos, "%s: frame offsets are contiguous" % name)
            C.ok(0 < m.data.raw_size <= info.max_frame_bytes,
                 "%s: frame raw_size %d within (0, max_frame_bytes]" % (name, m.data.raw_size))
            encodings[aifs_pb2.DataFrame.Encoding.Name(m.data.encoding)] += 1
            if m.data.encoding == aifs_pb2.DataFrame.ZSTD:
                C.ok(accept_zstd, "%s: zstd frames only when asked for" % name)
                raw = ZSTD.decompress(m.data.data)
            else:
                C.eq(m.data.encoding, aifs_pb2.DataFrame.IDENTITY, "%s: known encoding" % name)
                raw = m.data.data
            C.eq(len(raw), m.data.raw_size, "%s: frame expands to raw_size" % name)
            rpc.bytes_out += len(raw)
            rpc.wire_out += len(m.data.data)
            out.append(raw)
            pos += len(raw)
        return b"".join(out), encodings

    for name in live:
        got, enc = read(name, False)
        C.eq(got, content[name], "%s: identity read returns the bytes" % name)
        C.eq(set(enc), {"IDENTITY"} if content[name] else set(), "%s: identity only" % name)
        if ZSTD.how:
            got, zenc = read(name, True)
            C.eq(got, content[name], "%s: accept_zstd read returns the bytes" % name)
            print("   read %s: %s / accept_zstd %s" % (name, dict(enc), dict(zenc)))
    if ZSTD.how:
        _, zenc = read("B", True)
        C.ok(zenc["ZSTD"] >= 1, "B (compressible) comes back in zstd frames when asked: %s"
             % dict(zenc))
    # Ranges.
    A = content["A"]
    for off, ln in ((MiB - 100, 2 * MiB + 7), (0, 1), (len(A) - 10, None), (5, 0),
                    (len(A), None), (3 * MiB, MiB)):
        got, _ = read("A", False, off, ln)
        want = A[off:] if ln is None else A[off:off + ln]
        C.eq(got, want, "A range offset=%d length=%s" % (off, ln))
    if ZSTD.how:
        got, _ = read("B", True, 12345, 2 * MiB)
        C.eq(got, content["B"][12345:12345 + 2 * MiB], "B zstd range")
    expect_error("ReadAsset offset beyond the end",
                 lambda: read("A", False, len(A) + 1), SC.OUT_OF_RANGE, "RANGE_OUT_OF_BOUNDS")

    # ---- GetAsset --------------------------------------------------------
    C.begin("get-asset")

    def get(name, **kw):
        return rpc.unary(rpc.aifs, "GetAsset", aifs_pb2.GetAssetRequest(ns=NS, id=ids[name], **kw))

    for name in live:
        g = get(name, with_chunks=True)
        C.eq(g.asset.id, ids[name], "%s: id" % name)
        C.eq(g.asset.size, len(content[name]), "%s: size" % name)
        C.eq(dict(g.asset.metadata), meta[name], "%s: metadata" % name)
        C.eq(g.asset.deleted, False, "%s: not deleted" % name)
        C.ok(g.asset.created_unix_ns > 0, "%s: created time" % name)
        C.eq(len(g.asset.chunks), g.asset.chunk_count, "%s: with_chunks lists every chunk" % name)
        pos = 0
        for ch in g.asset.chunks:
            C.eq(ch.offset, pos, "%s: chunk offsets contiguous" % name)
            C.eq(len(ch.hash), 32, "%s: chunk hash length" % name)
            pos += ch.length
        C.eq(pos, len(content[name]), "%s: chunk lengths sum to the size" % name)
        C.eq(len(get(name).asset.chunks), 0, "%s: no chunks unless asked" % name)
    if info.zstd_level > 0:
        gb = get("B", with_chunks=True)
        C.ok(any(ch.compressed and ch.stored_size < ch.length for ch in gb.asset.chunks),
             "B: chunks are stored compressed (zstd_level %d)" % info.zstd_level)
    C.eq([(p.asset, p.transform, p.transform_digest) for p in get("E").asset.parents],
         [(ids["A"], "finetune", "sha256:" + "ab" * 32)], "E: parents")
    C.eq(sorted((p.asset, p.transform, p.transform_digest) for p in get("F").asset.parents),
         sorted([(ids["E"], "quantize", "int8"), (ids["C"], "calibrate", "")]), "F: parents")
    children = get("A", with_children=True).children
    C.eq([(c.asset, c.transform, c.transform_digest) for c in children],
         [(ids["E"], "finetune", "sha256:" + "ab" * 32)], "A: children")
    C.eq([(c.asset, c.transform) for c in get("C", with_children=True).children],
         [(ids["F"], "calibrate")], "C: children")
    C.eq(len(get("F", with_children=True).children), 0, "F: no children")
    C.eq(len(get("A").children), 0, "children only when asked for")

    # ---- lineage ---------------------------------------------------------
    C.begin("lineage")
    UP, DOWN = aifs_pb2.GetLineageRequest.UP, aifs_pb2.GetLineageRequest.DOWN

    def lineage(name, direction, depth):
        r = rpc.unary(rpc.aifs, "GetLineage", aifs_pb2.GetLineageRequest(
            ns=NS, id=ids[name], direction=direction, depth=depth))
        C.eq(r.root, ids[name], "lineage root")
        edges = sorted((x.parent, x.child, x.transform, x.transform_digest, x.depth)
                       for x in r.edges)
        C.eq(len(edges), len(r.edges), "no duplicate edges")
        return edges, sorted(x.id for x in r.assets)

    def E_(p, c, t, d, depth):
        return (ids[p], ids[c], t, d, depth)

    edges, assets = lineage("F", UP, 10)
    C.eq(edges, sorted([E_("E", "F", "quantize", "int8", 1), E_("C", "F", "calibrate", "", 1),
                        E_("A", "E", "finetune", "sha256:" + "ab" * 32, 2)]), "F ancestors")
    C.eq(assets, sorted(ids[n] for n in "FECA"), "F ancestor assets")
    edges, assets = lineage("F", UP, 1)
    C.eq(edges, sorted([E_("E", "F", "quantize", "int8", 1), E_("C", "F", "calibrate", "", 1)]),
         "F parents (depth 1)")
    edges, assets = lineage("A", DOWN, 10)
    C.eq(edges, sorted([E_("A", "E", "finetune", "sha256:" + "ab" * 32, 1),
                        E_("E", "F", "quantize", "int8", 2)]), "A descendants")
    C.eq(assets, sorted(ids[n] for n in "AEF"), "A descendant assets")
    edges, assets = lineage("A", UP, 10)
    C.eq((edges, assets), ([], [ids["A"]]), "A has no ancestors")

    # ---- ListAssets ------------------------------------------------------
    C.begin("list")
    EQ, PREFIX, EXISTS = (aifs_pb2.MetaFilter.EQUALS, aifs_pb2.MetaFilter.PREFIX,
                          aifs_pb2.MetaFilter.EXISTS)

    def ls(filters=(), ns=NS, kind=0, limit=0, token=""):
        r = rpc.unary(rpc.aifs, "ListAssets", aifs_pb2.ListAssetsRequest(
            ns=ns, limit=limit, page_token=token, kind=kind,
            filters=[aifs_pb2.MetaFilter(key=k, op=o, value=v) for k, o, v in filters]))
        got = [x.id for x in r.assets]
        C.eq(len(set(got)), len(got), "no duplicates in a page")
        return set(got), r

    def names_of(s):
        return sorted(n for n in ids if ids[n] in s and (n in live)) + \
            sorted(x.hex()[:8] for x in s if x not in ids.values())

    cases = [
        ([], "ABCDEF"),
        ([("split", EQ, "train")], "ABE"),
        ([("split", EQ, "test")], "CF"),
        ([("split", EQ, "trai")], ""),
        ([("model", PREFIX, "resnet")], "ABEF"),
        ([("model", PREFIX, "resnet-50")], "AEF"),
        ([("model", PREFIX, "resnet-50-ft-int8")], "F"),
        ([("model", EQ, "resnet")], ""),
        ([("model", PREFIX, "")], "ABCEF"),
        ([("derived", EXISTS, "")], "EF"),
        ([("empty", EXISTS, "")], "D"),
        ([("empty", EQ, "")], "D"),
        ([("no-such-key", EXISTS, "")], ""),
        ([("owner", EXISTS, ""), ("split", EQ, "train")], "AE"),
        ([("owner", EQ, "alice"), ("model", PREFIX, "resnet-50-")], "E"),
    ]
    for filters, want in cases:
        got, _ = ls(filters)
        C.eq(names_of(got), list(want), "filters %s" % [
            (k, aifs_pb2.MetaFilter.Op.Name(o), v) for k, o, v in filters])
    got, _ = ls(kind=aifs_pb2.ASSET_KIND_BLOB)
    C.eq(names_of(got), list("ABCDEF"), "kind BLOB")
    got, _ = ls(kind=aifs_pb2.ASSET_KIND_TENSOR)
    C.eq(names_of(got), [], "kind TENSOR")
    got, _ = ls(ns="default")
    C.eq(got, set(), "the default namespace holds none of them")
    # Paging: limit 2 walks all six exactly once.
    seen, token, pages = [], "", 0
    while True:
        page, r = ls(limit=2, token=token)
        pages += 1
        C.ok(len(r.assets) <= 2, "page size <= limit")
        seen += [x.id for x in r.assets]
        token = r.next_page_token
        if not token or pages > 10:
            break
    C.eq(sorted(seen), sorted(ids[n] for n in live), "paging visits every asset once")
    C.ok(pages in (3, 4), "paging took %d pages" % pages)
    nsinfo = rpc.unary(rpc.aifs, "GetNamespace", aifs_pb2.GetNamespaceRequest(name=NS))
    C.eq(nsinfo.asset_count, 6, "GetNamespace.asset_count")
    C.eq(nsinfo.logical_bytes, sum(len(content[n]) for n in live), "GetNamespace.logical_bytes")
    C.eq(nsinfo.signing_public_key, ns.signing_public_key, "signing key is stable")

    # ---- errors ----------------------------------------------------------
    C.begin("errors")
    unknown = rng.randbytes(32)
    expect_error("GetAsset unknown id", lambda: rpc.unary(
        rpc.aifs, "GetAsset", aifs_pb2.GetAssetRequest(ns=NS, id=unknown)),
        SC.NOT_FOUND, "ASSET_NOT_FOUND")
    expect_error("GetAsset id in the other namespace", lambda: rpc.unary(
        rpc.aifs, "GetAsset", aifs_pb2.GetAssetRequest(ns="default", id=ids["A"])),
        SC.NOT_FOUND, "ASSET_NOT_FOUND")
    for n in (31, 33, 0, 64):
        expect_error("GetAsset id of %d bytes" % n, lambda: rpc.unary(
            rpc.aifs, "GetAsset", aifs_pb2.GetAssetRequest(ns=NS, id=rng.randbytes(n))),
            SC.INVALID_ARGUMENT, "BAD_ASSET_ID")
    expect_error("ReadAsset id of 16 bytes", lambda: read("x", False, id_=b"\x01" * 16),
                 SC.INVALID_ARGUMENT, "BAD_ASSET_ID")
    expect_error("ReadAsset unknown id", lambda: read("x", False, id_=unknown),
                 SC.NOT_FOUND, "ASSET_NOT_FOUND")
    expect_error("GetAsset unknown namespace", lambda: rpc.unary(
        rpc.aifs, "GetAsset", aifs_pb2.GetAssetRequest(ns="no-such-ns", id=ids["A"])),
        SC.NOT_FOUND, "NAMESPACE_NOT_FOUND")
    expect_error("GetNamespace unknown", lambda: rpc.unary(
        rpc.aifs, "GetNamespace", aifs_pb2.GetNamespaceRequest(name="no-such-ns")),
        SC.NOT_FOUND, "NAMESPACE_NOT_FOUND")
    expect_error("ListAssets unknown namespace", lambda: ls(ns="no-such-ns"),
                 SC.NOT_FOUND, "NAMESPACE_NOT_FOUND")
    expect_error("ReadAsset unknown namespace", lambda: read("A", False, ns="no-such-ns"),
                 SC.NOT_FOUND, "NAMESPACE_NOT_FOUND")
    expect_error("PutAsset unknown namespace", lambda: rpc.put(
        [header(ns="no-such-ns"), FINISH]), SC.NOT_FOUND, "NAMESPACE_NOT_FOUND")
    bad_op = aifs_pb2.ListAssetsRequest(ns=NS)
    bad_op.filters.add(key="split", op=7, value="x")
    expect_error("ListAssets unknown filter op", lambda: rpc.unary(
        rpc.aifs, "ListAssets", bad_op), SC.INVALID_ARGUMENT, "BAD_FILTER")
    expect_error("GetLineage bad direction", lambda: rpc.unary(
        rpc.aifs, "GetLineage", aifs_pb2.GetLineageRequest(ns=NS, id=ids["A"], direction=5,
                                                           depth=1)),
        SC.INVALID_ARGUMENT, "BAD_DIRECTION")
    expect_error("DeleteAsset with live children", lambda: rpc.unary(
        rpc.aifs, "DeleteAsset", aifs_pb2.DeleteAssetRequest(ns=NS, id=ids["A"])),
        SC.FAILED_PRECONDITION, "HAS_CHILDREN")

    # Broken put streams; none may leave anything behind.
    def nothing_committed(what, *datas):
        got, _ = ls()
        C.eq(names_of(got), sorted(live), what + ": ListAssets unchanged")
        for d in datas:
            expect_error(what + ": its id is not found", lambda: rpc.unary(
                rpc.aifs, "GetAsset", aifs_pb2.GetAssetRequest(ns=NS, id=b3(d))),
                SC.NOT_FOUND, "ASSET_NOT_FOUND")

    junk = rng.randbytes(2 * MiB + 99)
    jf = identity_frames(junk)
    expect_error("put: no header (data first)", lambda: rpc.put(frame_msgs(jf) + [FINISH]),
                 SC.INVALID_ARGUMENT, "PUT_HEADER_MISSING")
    expect_error("put: empty stream", lambda: rpc.put([]), SC.INVALID_ARGUMENT,
                 "PUT_HEADER_MISSING")
    expect_error("put: finish first", lambda: rpc.put([FINISH]), SC.INVALID_ARGUMENT,
                 "PUT_HEADER_MISSING")
    nothing_committed("no header", junk)

    expect_error("put: ends without finish", lambda: rpc.put([header()] + frame_msgs(jf)),
                 SC.INVALID_ARGUMENT, "PUT_TRUNCATED")
    counted_in(rpc, jf)
    expect_error("put: header only, no finish", lambda: rpc.put([header()]),
                 SC.INVALID_ARGUMENT, "PUT_TRUNCATED")
    nothing_committed("truncated", junk)

    bad = aifs_pb2.DataFrame(encoding=aifs_pb2.DataFrame.IDENTITY, data=b"x" * 100, raw_size=99)
    expect_error("put: raw_size mismatch", lambda: rpc.put(
        [header()] + frame_msgs(jf[:1] + [bad] + jf[1:]) + [FINISH]),
        SC.INVALID_ARGUMENT, "BAD_FRAME")
    counted_in(rpc, jf[:1])
    big = aifs_pb2.DataFrame(encoding=aifs_pb2.DataFrame.IDENTITY, data=b"y" * (MiB + 1),
                             raw_size=MiB + 1)
    expect_error("put: frame above 1 MiB", lambda: rpc.put([header()] + frame_msgs([big]) +
                                                           [FINISH]),
                 SC.INVALID_ARGUMENT, "BAD_FRAME")
    garbage = aifs_pb2.DataFrame(encoding=aifs_pb2.DataFrame.ZSTD, data=b"not zstd at all",
                                 raw_size=1000)
    expect_error("put: undecodable zstd frame", lambda: rpc.put(
        [header()] + frame_msgs([garbage]) + [FINISH]), SC.INVALID_ARGUMENT, "BAD_FRAME")
    if ZSTD.how:
        liar = aifs_pb2.DataFrame(encoding=aifs_pb2.DataFrame.ZSTD,
                                  data=ZSTD.compress(b"z" * 5000), raw_size=4000)
        expect_error("put: zstd frame expanding past raw_size", lambda: rpc.put(
            [header()] + frame_msgs([liar]) + [FINISH]), SC.INVALID_ARGUMENT, "BAD_FRAME")
    odd = aifs_pb2.DataFrame(encoding=7, data=b"abc", raw_size=3)
    expect_error("put: unknown encoding", lambda: rpc.put([header()] + frame_msgs([odd]) +
                                                          [FINISH]),
                 SC.INVALID_ARGUMENT, "BAD_FRAME")
    expect_error("put: second header", lambda: rpc.put([header(), header(), FINISH]),
                 SC.INVALID_ARGUMENT, "PUT_UNEXPECTED_MESSAGE")
    nothing_committed("bad frames", junk, b"z" * 5000, b"abc")

    orphan = rng.randbytes(70000)
    expect_error("put: parent not committed", lambda: rpc.put(
        [header(parents=[(unknown, "t", "")])] + frame_msgs(identity_frames(orphan)) + [FINISH]),
        SC.FAILED_PRECONDITION, "PARENT_NOT_COMMITTED")
    counted_in(rpc, identity_frames(orphan))
    wrong = rng.randbytes(1000)
    expect_error("put: expected_id mismatch", lambda: rpc.put(
        [header(expected_id=unknown)] + frame_msgs(identity_frames(wrong)) + [FINISH]),
        SC.INVALID_ARGUMENT, "ID_MISMATCH")
    counted_in(rpc, identity_frames(wrong))
    nothing_committed("rejected at commit", orphan, wrong)

    # A client that goes away mid-put (RST_STREAM): the put is cancelled and
    # nothing is committed. Wait until the server has taken both frames in.
    killed = rng.randbytes(2 * MiB)
    kf = identity_frames(killed)
    gate = threading.Event()

    def killed_stream():
        yield header()
        for m in frame_msgs(kf):
            yield m
        gate.wait(30)

    fut = rpc.aifs.PutAsset.future(killed_stream(), timeout=60)
    target = rpc.bytes_in + len(killed)
    deadline = time.monotonic() + 20
    while metric_value(rpc, "aifs_data_bytes_in_total") < target and time.monotonic() < deadline:
        time.sleep(0.05)
    C.eq(metric_value(rpc, "aifs_data_bytes_in_total"), target,
         "the server has read the frames of the doomed put")
    counted_in(rpc, kf)
    fut.cancel()
    gate.set()
    try:
        fut.result(timeout=10)
        outcome = "succeeded"
    except grpc.FutureCancelledError:
        outcome = "cancelled"
    except grpc.RpcError as e:
        outcome = e.code().name
    C.eq(outcome, "cancelled", "the doomed put ends cancelled")
    rpc.cancelled.add(rpc.path(rpc.aifs, "PutAsset"))
    time.sleep(0.3)
    nothing_committed("client cancelled mid-put", killed)

    # ---- snapshots and proofs --------------------------------------------
    C.begin("snapshots")
    snap = rpc.unary(rpc.aifs, "CreateSnapshot", aifs_pb2.CreateSnapshotRequest(ns=NS))
    expected_events.append(ek("SNAPSHOT_CREATED", NS, snapshot=snap.id))
    C.eq(len(snap.id), 16, "snapshot id length")
    C.eq(len(snap.root), 32, "root length")
    C.eq(snap.count, 6, "snapshot count")
    C.eq(snap.ns, NS, "snapshot ns")
    C.eq(snap.explicit_set, False, "whole-namespace snapshot")
    C.eq(snap.public_key, ns.signing_public_key, "signed with the namespace key")
    C.eq(len(snap.signature), 64, "Ed25519 signature length")
    hexid = snap.id.hex()
    got = rpc.unary(rpc.aifs, "GetSnapshot", aifs_pb2.SnapshotRef(ns=NS, ref=hexid))
    C.eq(got, snap, "GetSnapshot by hex id returns the same snapshot")
    try:
        outcome = rpc.unary(rpc.aifs, "VerifySnapshot", aifs_pb2.SnapshotRef(ns=NS, ref=hexid))
    except grpc.RpcError as e:
        outcome = "%s %s" % (e.code().name, e.details())
    C.eq(outcome, aifs_pb2.Empty(), "VerifySnapshot answers OK")
    expect_error("GetSnapshot unknown", lambda: rpc.unary(
        rpc.aifs, "GetSnapshot", aifs_pb2.SnapshotRef(ns=NS, ref="00" * 16)),
        SC.NOT_FOUND, "SNAPSHOT_NOT_FOUND")
    # Independent checks: Merkle root, snapshot id, proofs, signature.
    sys.path.insert(0, HERE)
    from mst_vectors import B3, build, path_of, verify_proof
    b3m = B3(tmp)
    root, height, levels = build([ids[n] for n in live], b3m)
    C.eq(snap.root, root, "root = the Python Merkle search tree root")
    C.eq(snap.height, height, "height = the Python tree height")
    C.eq(snap.id, b3(snap.root + snap.created_unix_ns.to_bytes(8, "little", signed=True) +
                     snap.path_root)[:16],
         "snapshot id = BLAKE3(root || created_unix_ns || path_root)[0:16]")
    for name in ("A", "D", "F"):
        proof = rpc.unary(rpc.aifs, "ProveAsset", aifs_pb2.ProveAssetRequest(
            ns=NS, ref=hexid, id=ids[name]))
        C.eq(proof.snapshot, snap, "%s: proof carries the snapshot" % name)
        C.eq(proof.asset, ids[name], "%s: proof asset" % name)
        C.eq(verify_proof(root, ids[name], list(proof.nodes), b3m), None,
             "%s: the Python verifier accepts the proof" % name)
        C.eq(list(proof.nodes), path_of(levels, height, ids[name]),
             "%s: proof nodes = the Python tree's path" % name)
    expect_error("ProveAsset of an asset not in the snapshot", lambda: rpc.unary(
        rpc.aifs, "ProveAsset", aifs_pb2.ProveAssetRequest(ns=NS, ref=hexid, id=unknown)),
        SC.NOT_FOUND, "ASSET_NOT_IN_SNAPSHOT")
    try:
        from cryptography.hazmat.primitives.asymmetric.ed25519 import Ed25519PublicKey
        from cryptography.exceptions import InvalidSignature
    except ImportError:
        Ed25519PublicKey = None
        C.note("python cryptography missing: snapshot signature not checked")
    if Ed25519PublicKey:
        # docs/snapshots.md: the signed header.
        def text(t):
            return len(t.encode()).to_bytes(4, "little") + t.encode()
        C.eq(snap.version, 2, "snapshots are version 2")
        msg = (b"aifs/snapshot/v2\x00" + NS.encode() + b"\x00" + snap.id + snap.root +
               bytes([snap.height]) + snap.count.to_bytes(8, "little") +
               snap.created_unix_ns.to_bytes(8, "little", signed=True) +
               bytes([1 if snap.explicit_set else 0]) + snap.path_root +
               bytes([snap.path_height]) + snap.path_count.to_bytes(8, "little") +
               len(snap.parents).to_bytes(4, "little") + b"".join(snap.parents) +
               text(snap.message) + text(snap.author))
        key = Ed25519PublicKey.from_public_bytes(snap.public_key)

        def verifies(m):
            try:
                key.verify(snap.signature, m)
                return True
            except InvalidSignature:
                return False
        C.eq(verifies(msg), True, "Ed25519 signature over the documented header verifies")
        C.eq(verifies(msg[:-1] + b"\x01"), False, "a tampered header does not verify")
    # An explicit-set snapshot of two assets.
    xs = rpc.unary(rpc.aifs, "CreateSnapshot", aifs_pb2.CreateSnapshotRequest(
        ns=NS, explicit_set=True, ids=[ids["C"], ids["A"]]))
    expected_events.append(ek("SNAPSHOT_CREATED", NS, snapshot=xs.id))
    C.eq((xs.count, xs.explicit_set), (2, True), "explicit-set snapshot")
    C.eq(xs.root, build([ids["A"], ids["C"]], b3m)[0], "explicit-set root = Python root")
    expect_error("ids without explicit_set", lambda: rpc.unary(
        rpc.aifs, "CreateSnapshot", aifs_pb2.CreateSnapshotRequest(ns=NS, ids=[ids["A"]])),
        SC.INVALID_ARGUMENT, "IDS_WITHOUT_EXPLICIT_SET")

    # ---- vector search ---------------------------------------------------
    vec = vectors(rpc, rng, expected_events)

    # ---- events ----------------------------------------------------------
    C.begin("events")

    def all_events(**kw):
        msgs = rpc.stream(rpc.aifs, "SubscribeEvents", aifs_pb2.SubscribeEventsRequest(**kw))
        C.ok(all(m.WhichOneof("item") == "event" for m in msgs),
             "no heartbeats without follow")
        return [m.event for m in msgs]

    events = all_events()
    C.eq([ev_key(x) for x in events], expected_events, "the log is what the test did, in order")
    seqs = [x.seq for x in events]
    C.ok(all(p < q for p, q in zip(seqs, seqs[1:])), "seq strictly increases: %s" % seqs)
    C.ok(seqs[0] >= 1, "seq starts above 0")
    times = [x.unix_ns for x in events]
    C.ok(all(t > 0 for t in times) and all(p <= q for p, q in zip(times, times[1:])),
         "event times are set and do not go back")
    print("   %d events, seq %d..%d" % (len(events), seqs[0], seqs[-1]))
    C.eq([ev_key(x) for x in all_events(ns="default")], expected_events[:1], "ns filter")
    committed = all_events(ns=NS, types=[aifs_pb2.ASSET_COMMITTED])
    C.eq([x.asset for x in committed], [ids[n] for n in live], "type + ns filter")
    C.eq([x.seq for x in all_events(after=seqs[3])], seqs[4:], "after= skips what was seen")
    C.eq(all_events(after=seqs[-1]), [], "after the last seq: nothing")
    expect_error("unknown event type", lambda: all_events(types=[99]), SC.INVALID_ARGUMENT,
                 "UNKNOWN_EVENT_TYPE")

    # Follow: replay, then a live event within 2 s, a heartbeat, cancel.
    fol = Follower(rpc, aifs_pb2.SubscribeEventsRequest(follow=True))
    fol.start()
    replay = []
    for _ in events:
        item = fol.next(10)
        C.ok(item is not None and item[0] == "event", "follower replays the log: %r" % (item,))
        replay.append(item[1])
    C.eq(replay, events, "follow=true replays the same events")
    g = rng.randbytes(200000)
    t_put = time.monotonic()
    put_ok("G", identity_frames(g), {"split": "live"})
    t_done = time.monotonic()
    item = fol.next(5)
    C.ok(item is not None and item[0] == "event", "the follower sees the new asset: %r" % (item,))
    latency = item[2] - t_done
    C.ok(latency < 2.0, "event arrives within 2 s of the put returning (%.3f s; the put took "
         "%.3f s)" % (latency, t_done - t_put))
    live_ev = item[1]
    C.eq(ev_key(live_ev), expected_events[-1], "the live event is G's commit")
    C.ok(live_ev.seq > seqs[-1], "live seq continues the log")
    # Idle: a heartbeat about once a second whose cursor is the last seq sent.
    item = fol.next(4, skip_cursors=False)
    C.ok(item is not None and item[0] == "cursor", "idle follower gets a heartbeat: %r" % (item,))
    C.eq(item[1], live_ev.seq, "heartbeat cursor = last event seq")
    fol.call.cancel()
    fol.join(10)
    C.ok(not fol.is_alive(), "cancelled follower thread ends")
    tail = [fol.q.get_nowait() for _ in range(fol.q.qsize())]
    C.ok(tail and tail[-1][0] == "error" and tail[-1][1].code() == SC.CANCELLED,
         "the follow stream ends CANCELLED: %r" % (tail[-1:] or None,))
    C.ok(all(t[0] == "cursor" for t in tail[:-1]), "nothing but heartbeats after G")
    rpc.cancelled.add(rpc.path(rpc.aifs, "SubscribeEvents"))
    last_seen = live_ev.seq
    # While nobody listens: a delete, a tag, a put in another namespace.
    # (snap holds D: it is kept, not released)
    rpc.unary(rpc.aifs, "DeleteAsset", aifs_pb2.DeleteAssetRequest(ns=NS, id=ids["D"]))
    expected_events.append(ek("ASSET_DELETED", NS, ids["D"]))
    tag = rpc.unary(rpc.aifs, "CreateTag", aifs_pb2.CreateTagRequest(
        ns=NS, name="v1", ref=hexid, who="interop-test"))
    C.eq((tag.name, tag.snapshot), ("v1", snap.id), "tag")
    # The audit name is the verified token's; what the client claims is a remark.
    C.ok(re.fullmatch(r"token r\d+:[0-9a-f]{32} \(claims interop-test\)", tag.created_by),
         "tag created_by names the token: %r" % tag.created_by)
    expected_events.append(ek("TAG_CREATED", NS, snapshot=snap.id, name="v1"))
    C.eq(rpc.unary(rpc.aifs, "GetSnapshot", aifs_pb2.SnapshotRef(ns=NS, ref="v1")), snap,
         "GetSnapshot by tag")
    h = b"in the default namespace\n"
    rh = rpc.put([header(ns="default")] + frame_msgs(identity_frames(h)) + [FINISH])
    counted_in(rpc, identity_frames(h))
    C.eq(rh.asset.id, b3(h), "H id")
    expected_events.append(ek("ASSET_COMMITTED", "default", rh.asset.id))
    expect_error("D is gone", lambda: rpc.unary(rpc.aifs, "GetAsset", aifs_pb2.GetAssetRequest(
        ns=NS, id=ids["D"])), SC.NOT_FOUND, "ASSET_NOT_FOUND")
    # Resume after the last seq seen: exactly the missed events.
    resumed = all_events(after=last_seen)
    C.eq([ev_key(x) for x in resumed], expected_events[-3:], "resume delivers what was missed")
    C.ok(all(x.seq > last_seen for x in resumed), "no duplicates on resume")
    full = all_events()
    C.eq([x.seq for x in full], [x.seq for x in replay + [live_ev] + resumed],
         "replay + live + resumed = the whole log (no loss, no duplicates)")
    C.eq([ev_key(x) for x in full], expected_events, "the whole log matches the test's actions")
    # A follower that resumes after the last seq: nothing until a new event.
    fol2 = Follower(rpc, aifs_pb2.SubscribeEventsRequest(after=full[-1].seq, follow=True,
                                                         ns=NS))
    fol2.start()
    item = fol2.next(3, skip_cursors=False)
    C.ok(item is not None and item[0] == "cursor" and item[1] == full[-1].seq,
         "resumed follower: first a heartbeat with the resume point: %r" % (item,))
    C.eq(fol2.next(0.2), None, "resumed follower: no old events")
    fol2.call.cancel()
    fol2.join(10)
    C.ok(not fol2.is_alive(), "second follower ends")

    # ---- metrics ---------------------------------------------------------
    C.begin("metrics")
    before = collections.Counter(rpc.calls)
    # Each server counts its own calls: the sums are what the client made.
    texts = [get_metrics(rpc) for _ in range(rpc.servers)]
    text = sum_counters(texts)
    calls = {}
    for m in re.finditer(r'^aifs_rpc_calls_total\{method="([^"]+)",code="([A-Z_]+)"\} (\d+)$',
                         text, re.M):
        calls[(m.group(1), m.group(2))] = int(m.group(3))
    C.ok(calls, "aifs_rpc_calls_total lines present")
    for key in (("/aifs.v1.Aifs/GetAsset", "NOT_FOUND"), ("/aifs.v1.Aifs/GetAsset", "OK"),
                ("/aifs.v1.Aifs/GetAsset", "INVALID_ARGUMENT"),
                ("/aifs.v1.Aifs/PutAsset", "INVALID_ARGUMENT"), ("/aifs.v1.Aifs/PutAsset", "OK"),
                ("/aifs.v1.Aifs/PutAsset", "FAILED_PRECONDITION"),
                ("/aifs.v1.Aifs/ReadAsset", "OK"), ("/aifs.v1.Aifs/ReadAsset", "OUT_OF_RANGE"),
                ("/aifs.v1.Aifs/SubscribeEvents", "OK"), ("/aifs.v1.Introspect/GetInfo", "OK"),
                ("/aifs.v1.Admin/CreateNamespace", "ALREADY_EXISTS"),
                ("/aifs.v1.Aifs/CreateSpace", "OK"),
                ("/aifs.v1.Aifs/CreateSpace", "ALREADY_EXISTS"),
                ("/aifs.v1.Aifs/ListSpaces", "OK"), ("/aifs.v1.Aifs/VectorSearch", "OK"),
                ("/aifs.v1.Aifs/VectorSearch", "INVALID_ARGUMENT"),
                ("/aifs.v1.Aifs/VectorSearch", "NOT_FOUND")):
        C.ok(key in calls, "metrics has %s code=%s" % key)
    mismatches = []
    for key in sorted(set(before) | set(calls)):
        path, code = key
        if path.startswith("/grpc.health."):
            continue   # the built-in health service is outside the interceptor's contract
        if code == "CANCELLED" and path in rpc.cancelled:
            continue   # how a client cancel is counted is the server's business
        if calls.get(key, 0) != before.get(key, 0):
            mismatches.append("%s %s: server %d, client %d" % (path, code, calls.get(key, 0),
                                                              before.get(key, 0)))
    C.eq(mismatches, [], "server call counts = client call counts, per method and code")
    C.eq(metric_in(text, "aifs_data_bytes_in_total"), rpc.bytes_in, "aifs_data_bytes_in_total")
    C.eq(metric_in(text, "aifs_wire_bytes_in_total"), rpc.wire_in, "aifs_wire_bytes_in_total")
    C.eq(metric_in(text, "aifs_data_bytes_out_total"), rpc.bytes_out, "aifs_data_bytes_out_total")
    C.eq(metric_in(text, "aifs_wire_bytes_out_total"), rpc.wire_out, "aifs_wire_bytes_out_total")
    if ZSTD.how:
        C.ok(rpc.wire_in < rpc.bytes_in and rpc.wire_out < rpc.bytes_out,
             "zstd frames saved wire bytes both ways")
    for one in texts:   # store-wide: the same on every server
        C.eq(metric_in(one, "aifs_assets"), 7 + vec["live"],
             "aifs_assets (A B C E F G + H + the vector assets)")
        C.eq(metric_in(one, "aifs_namespaces"), 3, "aifs_namespaces")
        C.eq(metric_in(one, "aifs_store_up"), 1, "aifs_store_up")
    C.eq(metric_in(text, "aifs_open_transactions"), 0, "aifs_open_transactions")
    n = sum(v for (p, _), v in calls.items() if p == "/aifs.v1.Aifs/GetAsset")
    C.eq(metric_in(text, 'aifs_rpc_duration_seconds_count{method="/aifs.v1.Aifs/GetAsset"}'), n,
         "GetAsset latency histogram count = its calls")
    print("   %d (method, code) series; %d bytes in (%d on the wire), %d out (%d on the wire)" % (
        len(calls), rpc.bytes_in, rpc.wire_in, rpc.bytes_out, rpc.wire_out))

    # ---- shutdown --------------------------------------------------------
    C.begin("shutdown")
    for one, label, ch in zip(servers, SERVER_LABELS, channels):
        rc, took = stop(one, 10)
        C.ok(rc is not None, "server %s exits within 10 s of SIGTERM (took %.2f s)" % (label, took))
        C.eq(rc, 0, "exit status of server %s after SIGTERM" % label)
        print("   server %s: exit %d after %.2f s" % (label, rc, took))
        probe = Rpc(ch)
        try:
            probe.unary(probe.health, "Check", health_pb2.HealthCheckRequest(), timeout=5)
            C.ok(False, "a stopped server does not answer")
        except grpc.RpcError as e:
            C.eq(e.code(), SC.UNAVAILABLE, "after shutdown calls fail UNAVAILABLE")
        ch.close()
    return full, live, ids, content, vec


def restart(aifs, data, before):
    """A second server on the same directory: everything is still there, the
    event log continues, and SIGTERM with a follower connected still ends the
    process (within --grace-ms, after which gRPC cancels the call)."""
    full, live, ids, content, vec = before
    C.begin("restart")
    grace = 1.5
    server = Server(aifs, data, ["--grace-ms", str(int(grace * 1000))], "restart")
    try:
        channel = authed_channel(server.port, data)
        grpc.channel_ready_future(channel).result(timeout=20)
        rpc = Rpc(channel)
        r = rpc.unary(rpc.health, "Check", health_pb2.HealthCheckRequest(service="readiness"))
        C.eq(r.status, health_pb2.HealthCheckResponse.SERVING, "readiness after restart")
        r = rpc.unary(rpc.aifs, "ListAssets", aifs_pb2.ListAssetsRequest(ns=NS))
        C.eq(sorted(x.id.hex() for x in r.assets),
             sorted(ids[n].hex() for n in live + ["G"] if n != "D"), "the assets survive a restart")
        frames = rpc.stream(rpc.aifs, "ReadAsset", aifs_pb2.ReadAssetRequest(ns=NS, id=ids["A"]))
        got = b"".join(m.data.data for m in frames)
        C.eq(got, content["A"], "A reads back after a restart")
        msgs = rpc.stream(rpc.aifs, "SubscribeEvents", aifs_pb2.SubscribeEventsRequest())
        C.eq([m.event for m in msgs], full, "the event log survives a restart unchanged")
        r = rpc.unary(rpc.aifs, "ListSpaces", aifs_pb2.ListSpacesRequest(ns=VNS))
        C.eq(sorted((s.name, s.dim, s.metric, s.vectors) for s in r.spaces), vec["spaces"],
             "the embedding spaces and their vector counts survive a restart")
        for (space, n), want in sorted(vec["probes"].items()):
            r = rpc.unary(rpc.aifs, "VectorSearch", aifs_pb2.VectorSearchRequest(
                ns=VNS, space=space, k=10, vector=[float(x) for x in vec["queries"][space][n]]))
            C.eq([vec["ids"].index(h.id) if h.id in vec["ids"] else h.id.hex() for h in r.hits],
                 want, "%s query %d: the same hits after a restart" % (space, n))
        i = b"after the restart\n"
        r = rpc.put([header()] + frame_msgs(identity_frames(i)) + [FINISH])
        msgs = rpc.stream(rpc.aifs, "SubscribeEvents",
                          aifs_pb2.SubscribeEventsRequest(after=full[-1].seq))
        C.eq([ev_key(m.event) for m in msgs], [ek("ASSET_COMMITTED", NS, b3(i))],
             "resume across a restart: exactly the new event")
        C.ok(msgs[0].event.seq > full[-1].seq, "seq keeps increasing across a restart")

        fol = Follower(rpc, aifs_pb2.SubscribeEventsRequest(after=msgs[0].event.seq, follow=True))
        fol.start()
        item = fol.next(3, skip_cursors=False)
        C.ok(item is not None and item[0] == "cursor", "a follower is connected: %r" % (item,))
        rc, took = stop(server, grace + 8)
        C.ok(rc is not None, "with a follower connected the server still exits (--grace-ms %d, "
             "took %.2f s)" % (grace * 1000, took))
        C.eq(rc, 0, "exit status after SIGTERM with a follower")
        fol.join(10)
        C.ok(not fol.is_alive(), "the follower's stream ends with the server")
        end = [fol.q.get_nowait() for _ in range(fol.q.qsize())]
        C.ok(end and end[-1][0] in ("error", "end"), "the follower saw the end: %r" % (end[-1:],))
        how = end[-1][1].code().name if end[-1][0] == "error" else "end of stream"
        print("   exit %d after %.2f s with a follower connected; the follower got %s" % (
            rc, took, how))
        if took >= grace:
            C.note("SIGTERM with an events follower connected waited out the whole grace period "
                   "(%.2f s >= --grace-ms %d; default 10 s): follow subscriptions are not ended at "
                   "shutdown, gRPC cancels them when the grace expires (follower got %s)" %
                   (took, grace * 1000, how))
        channel.close()
    finally:
        server.kill()


def stop(server, limit):
    t0 = time.monotonic()
    server.proc.send_signal(signal.SIGTERM)
    try:
        rc = server.proc.wait(limit)
    except subprocess.TimeoutExpired:
        rc = None
    return rc, time.monotonic() - t0


def get_metrics(rpc):
    r = rpc.unary(rpc.metrics, "GetMetrics", aifs_pb2.Empty())
    C.eq(r.content_type, "text/plain; version=0.0.4", "metrics content type")
    return r.text


def sum_counters(texts):
    """One exposition of several servers': the value of each series summed."""
    if len(texts) == 1:
        return texts[0]
    total, order = {}, []
    for text in texts:
        for line in text.splitlines():
            if not line or line.startswith("#"):
                continue
            series, _, value = line.rpartition(" ")
            if series not in total:
                order.append(series)
                total[series] = 0.0
            total[series] += float(value)
    return "".join("%s %s\n" % (k, int(total[k]) if total[k] == int(total[k]) else total[k])
                   for k in order)


def metric_in(text, name):
    m = re.search(r"^%s (\S+)$" % re.escape(name), text, re.M)
    C.ok(m is not None, "metric %s present" % name)
    v = float(m.group(1))
    return int(v) if v == int(v) else v


def metric_value(rpc, name):
    """For polling (summed over the servers): no checks counted."""
    text = sum_counters([rpc.unary(rpc.metrics, "GetMetrics", aifs_pb2.Empty()).text
                         for _ in range(rpc.servers)])
    m = re.search(r"^%s (\S+)$" % re.escape(name), text, re.M)
    return float(m.group(1)) if m else -1


CLUSTER = None   # (meta URL, chunk URL) in cluster mode


def main():
    if len(sys.argv) != 2:
        print(__doc__, file=sys.stderr)
        return 2
    global CLUSTER
    if os.environ.get("AIFS_INTEROP_CLUSTER") == "1":
        CLUSTER = cluster_backends()
        if CLUSTER is None:
            print("skip: cluster mode needs AIFS_TEST_PG_DIR and AIFS_TEST_CEPH_DIR (the CTest "
                  "fixtures aifs_pg and aifs_ceph)")
            return 77
    aifs = os.path.abspath(sys.argv[1])
    tmp = tempfile.mkdtemp(prefix="aifs-grpc-interop-")
    t0 = time.monotonic()
    ok = False
    try:
        how = generate(os.path.join(tmp, "gen"))
        sys.path.insert(0, os.path.join(tmp, "gen"))
        global grpc, aifs_pb2, aifs_pb2_grpc, health_pb2, health_pb2_grpc
        global status_pb2, error_details_pb2
        import grpc
        # The generated grpc/health/v1 package lives under the grpcio package's name.
        grpc.__path__.append(os.path.join(tmp, "gen", "grpc"))
        from aifs.v1 import aifs_pb2, aifs_pb2_grpc
        from grpc.health.v1 import health_pb2, health_pb2_grpc
        from google.rpc import status_pb2, error_details_pb2
        global np
        import numpy as np
        global FINISH
        FINISH = aifs_pb2.PutAssetRequest(finish=aifs_pb2.PutFinish())
        print("generated stubs with %s; grpcio %s; numpy %s; zstd via %s" % (
            how, grpc.__version__, np.__version__, ZSTD.how or "NOTHING"), flush=True)
        run(aifs, tmp)
        ok = True
    except CheckFailed as e:
        print("FAIL: %s" % e, file=sys.stderr)
    except Exception:  # an unexpected RPC error or a broken tool: a failure too
        traceback.print_exc()
        print("FAIL: unexpected exception in section %s" % C.section, file=sys.stderr)
    finally:
        for log in sorted(glob.glob(os.path.join(tmp, "*.stderr"))):
            if not ok:
                with open(log, "rb") as f:
                    sys.stderr.write("--- server stderr (%s) ---\n%s" % (
                        os.path.basename(log), f.read().decode(errors="replace")))
        if os.environ.get("AIFS_KEEP_TMP"):
            print("kept " + tmp)
        else:
            shutil.rmtree(tmp, ignore_errors=True)
    print("\nsummary (%.1f s):" % (time.monotonic() - t0))
    for section, n in C.counts.items():
        print("  %-12s %4d checks" % (section, n))
    for n in C.notes:
        print("  NOTE " + n)
    print("%s: %d checks passed" % ("PASS" if ok else "FAIL", C.total()))
    return 0 if ok else 1


if __name__ == "__main__":
    sys.exit(main())
