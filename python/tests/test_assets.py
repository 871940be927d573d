"""Namespaces, put/get in every form, ranges, batched reads, stat, ls, rm,
verify, lineage, paths: against a real server, with b3sum and the CLI as
independent oracles."""
import io
import os
import random

import pytest

import aifs
from conftest import b3sum

MiB = 1 << 20


def test_namespaces(client, ns):
    names = [n.name for n in client.namespaces()]
    assert ns in names
    n = client.namespace(ns)
    assert n.name == ns and n.asset_count == 0 and len(n.signing_public_key) == 32
    with pytest.raises(aifs.AlreadyExists):
        client.create_namespace(ns)
    client.create_namespace(ns + "x", labels={"team": "ml"})
    assert client.namespace(ns + "x").labels == {"team": "ml"}
    client.delete_namespace(ns + "x")
    with pytest.raises(aifs.NotFound):
        client.namespace(ns + "x")


def test_put_get_forms(server, client, ns, tmp_path):
    rng = random.Random(1)
    data = bytes(rng.getrandbits(8) for _ in range(3 * MiB + 123))
    r = client.put(ns, data, metadata={"split": "train"})
    assert r.created and r.id == b3sum(data) and r.asset.size == len(data)
    assert client.get(ns, r.id) == data
    # dedup: the same bytes again
    assert not client.put(ns, data).created
    # from a file path, a file object, a generator of odd-sized chunks
    p = tmp_path / "f.bin"
    p.write_bytes(data)
    assert client.put(ns, str(p)).id == r.id
    with open(p, "rb") as f:
        assert client.put(ns, f).id == r.id
    assert client.put(ns, (data[i:i + 77777] for i in range(0, len(data), 77777))).id == r.id
    # empty asset
    e = client.put(ns, b"")
    assert e.id == b3sum(b"") and client.get(ns, e.id) == b""
    # get to a file and as a stream
    out = tmp_path / "out.bin"
    assert client.get_file(ns, r.id, str(out)) == len(data)
    assert out.read_bytes() == data
    buf = io.BytesIO()
    client.get_file(ns, r.id, buf)
    assert buf.getvalue() == data
    pieces = list(client.get_stream(ns, r.id))
    assert all(len(x) <= aifs.client.FRAME for x in pieces) and b"".join(pieces) == data
    # the CLI reads what Python wrote
    assert server.cli("cat", "--ns", ns, r.id) == data


def test_cli_put_python_get(server, client, ns, tmp_path):
    data = os.urandom(2 * MiB + 5)
    p = tmp_path / "c.bin"
    p.write_bytes(data)
    out = server.cli("put", "--ns", ns, str(p)).decode()
    assert b3sum(data) in out
    assert client.get(ns, b3sum(data)) == data


def test_ranges(client, ns):
    data = os.urandom(5 * MiB)
    a = client.put(ns, data).id
    assert client.get(ns, a, offset=MiB - 3, length=MiB + 10) == data[MiB - 3:2 * MiB + 7]
    assert client.get(ns, a, offset=len(data) - 5) == data[-5:]
    assert client.get(ns, a, offset=len(data)) == b""
    with pytest.raises(aifs.OutOfRange) as e:
        client.get(ns, a, offset=len(data) + 1)
    assert e.value.reason == "RANGE_OUT_OF_BOUNDS"
    small = [client.put(ns, os.urandom(n)).id for n in (0, 1, 4096, 70000)]
    by_id = {i: client.get(ns, i) for i in small + [a]}
    rng = random.Random(7)
    ranges = []
    for _ in range(300):
        i = rng.choice(small + [a])
        size = len(by_id[i])
        off = rng.randint(0, size)
        ranges.append((i, off, rng.choice([None, 0, 1, 100, 2 * MiB])))
    got = client.read_ranges(ns, ranges)
    want = [by_id[i][o:None if n is None else o + n] for i, o, n in ranges]
    assert got == want
    with pytest.raises(aifs.NotFound) as e:
        client.read_ranges(ns, [(a, 0, 1), ("00" * 32, 0, 1)])
    assert e.value.reason == "ASSET_NOT_FOUND"


def test_read_ranges_split_when_too_large(client, ns):
    """Ranges to the end whose total the server finds too large (> 256 MiB)
    are split into several calls by the client, transparently."""
    big = [os.urandom(1 << 20) * 130 + bytes([i]) for i in range(2)]  # 2 x 130 MiB
    ids = [client.put(ns, b).id for b in big]
    got = client.read_ranges(ns, [(ids[0], 5, None), (ids[1], 0, None)])
    assert got[0] == big[0][5:] and got[1] == big[1]


def test_stat_ls_filters_paging_rm(client, ns):
    ids = {}
    for i in range(25):
        d = b"asset %d" % i
        ids[i] = client.put(ns, d, metadata={"i": str(i), "split": "train" if i % 2 else "test",
                                             "name": "img%02d" % i}).id
    a = client.stat(ns, ids[3])
    assert a.metadata["i"] == "3" and a.size == len(b"asset 3") and a.kind == "blob"
    assert a.uri == "aifs://%s/%s" % (ns, ids[3])
    every = list(client.ls(ns, page_size=7))
    assert sorted(x.id for x in every) == sorted(ids.values())
    assert [x.id for x in every] == sorted(x.id for x in every)  # ID order, across pages
    train = {x.id for x in client.ls(ns, where={"split": "train"}, page_size=4)}
    assert train == {ids[i] for i in range(25) if i % 2}
    assert {x.id for x in client.ls(ns, where={"i": ["1", "2", "30"]})} == {ids[1], ids[2]}
    assert {x.id for x in client.ls(ns, where={"i": (20, None)})} == {ids[i] for i in range(20, 25)}
    assert {x.id for x in client.ls(ns, where={"name": aifs.prefix("img1")})} == \
        {ids[i] for i in range(10, 20)}
    assert len(list(client.ls(ns, where={"split": aifs.exists()}))) == 25
    client.rm(ns, ids[0])
    with pytest.raises(aifs.NotFound):
        client.stat(ns, ids[0])
    assert ids[0] not in {x.id for x in client.ls(ns)}
    assert client.verify(ns, ids[5])["bytes_checked"] == len(b"asset 5")


def test_lineage_and_paths(client, ns):
    p = client.put(ns, b"raw").id
    c = client.put(ns, b"clean", parents=[(p, "clean.py", "v1")]).id
    g = client.put(ns, b"feat", parents=[c]).id
    up = client.lineage(ns, g, "up", depth=5)
    assert {(e.parent, e.child) for e in up.edges} == {(c, g), (p, c)}
    down = client.lineage(ns, p, "down", depth=1)
    assert [(e.parent, e.child, e.transform, e.transform_digest) for e in down.edges] == \
        [(p, c, "clean.py", "v1")]
    assert client.children(ns, p)[0]["asset"] == c
    with pytest.raises(aifs.FailedPrecondition):
        client.rm(ns, p)
    # paths
    x = client.put(ns, b"x", path="data/x.bin").id
    client.bind(ns, "data/y.bin", g)
    assert client.resolve(ns, "data/x.bin") == x
    assert list(client.paths(ns, prefix="data/", page_size=1)) == [("data/x.bin", x),
                                                                  ("data/y.bin", g)]
    client.mv(ns, "data/y.bin", "data/z.bin")
    client.unbind(ns, "data/x.bin")
    assert list(client.paths(ns)) == [("data/z.bin", g)]
    with pytest.raises(aifs.NotFound):
        client.resolve(ns, "data/x.bin")


def test_info_and_metrics(client):
    info = client.info()
    assert info.version and len(info.store_id) == 32
    assert "aifs" in client.metrics()
