"""Tensor assets: every dtype and shape round-tripped against NumPy, locally
and through the server (which validates what Python writes), and both ways
against the C++ codec via the CLI (`put --kind tensor x.npy`, `get --as npy`),
whose bytes Python's encoder reproduces exactly (same asset ID)."""
import io

import numpy as np
import pytest

import aifs
from aifs import tensor as T

SHAPES = [(), (1,), (7,), (0,), (2, 0, 3), (3, 4), (2, 3, 5), (1, 1, 1, 1, 2), (17,)]
NUMPY_DTYPES = [d for d in T.DTYPES if d != "bfloat16"]


def sample(dtype, shape, seed=0):
    rng = np.random.default_rng(seed)
    n = int(np.prod(shape, dtype=np.int64))
    if dtype == "bool":
        return rng.random(n).reshape(shape) < 0.5
    dt = T.DTYPES[dtype][0]
    if dt.kind == "f":
        x = (rng.standard_normal(n) * 1000).astype(dt)
        if n >= 3:
            x[:3] = [np.inf, -0.0, np.nan]
        return x.reshape(shape)
    info = np.iinfo(dt)
    return rng.integers(info.min, info.max, size=n, dtype=dt, endpoint=True).reshape(shape)


def same(a, b):
    return a.shape == b.shape and a.dtype == b.dtype and np.array_equal(a, b, equal_nan=True)


@pytest.mark.parametrize("dtype", NUMPY_DTYPES)
@pytest.mark.parametrize("shape", SHAPES)
def test_codec_roundtrip(dtype, shape):
    a = sample(dtype, shape)
    blob = T.encode(a)
    assert len(blob) % 8 == 0
    t = T.decode(blob)
    assert (t.dtype, t.shape, t.rows) == (dtype, shape, 1)
    assert same(T.to_numpy(t), a)
    # body alignment as AIFS writes it: the values start at a multiple of 64
    if dtype != "bool":
        start = len(blob) - 8 - (a.nbytes + 7) // 8 * 8
        assert start % 64 == 0 and blob[start:start + a.nbytes] == a.tobytes()


@pytest.mark.parametrize("dtype", NUMPY_DTYPES)
def test_rows(dtype):
    a = sample(dtype, (5, 2, 3), seed=1)
    t = T.decode(T.encode(a, rows=5))
    assert (t.shape, t.rows) == ((2, 3), 5) and same(T.to_numpy(t), a)


def test_bfloat16():
    x = np.array([1.0, -2.5, 3.140625, 65280.0, np.inf, -np.inf], dtype=np.float32)
    t = T.decode(T.encode(x, dtype="bfloat16"))
    assert t.dtype == "bfloat16"
    assert same(T.to_numpy(t), x)  # exactly representable values survive
    bits = T.to_numpy(t, bfloat16="raw")
    assert bits.dtype == np.uint16 and same(bits, (x.view(np.uint32) >> 16).astype(np.uint16))
    # round to nearest even, NaN stays NaN
    y = np.array([1.00390625, 1.01171875, np.nan], dtype=np.float32)
    back = T.bfloat16_to_float32(T.float32_to_bfloat16(y))
    assert back[0] == 1.0 and back[1] == 1.015625 and np.isnan(back[2])


def test_large():
    a = np.arange((64 << 20) // 4, dtype=np.float32).reshape(1024, -1)  # 64 MiB
    assert same(T.to_numpy(T.decode(T.encode(a))), a)


def test_rejects():
    blob = T.encode(np.zeros((2, 2), np.float32))
    for cut, reason in ((len(blob) - 4, "TENSOR_TRUNCATED"), (100, "TENSOR_TRUNCATED"),
                        (4, "TENSOR_TRUNCATED")):
        with pytest.raises(aifs.InvalidArgument) as e:
            T.decode(blob[:cut])
        assert e.value.reason == reason
    with pytest.raises(aifs.InvalidArgument) as e:
        T.decode(blob + b"\0")
    assert e.value.reason in ("TENSOR_BAD_IPC", "TENSOR_TRUNCATED")
    with pytest.raises(aifs.InvalidArgument) as e:
        T.encode(np.zeros(2, np.complex64))
    assert e.value.reason == "TENSOR_UNSUPPORTED_TYPE"
    # a schema of 33 dimensions (NumPy cannot even make the array)
    eos = b"\xff\xff\xff\xff\x00\x00\x00\x00"
    with pytest.raises(aifs.InvalidArgument) as e:
        T.decode(T._frame(T._schema_message("int8", (1,) * 33), 0) + eos)
    assert e.value.reason == "TENSOR_TOO_MANY_DIMS"
    # no batches: a tensor batch of 0 rows
    t = T.decode(T._frame(T._schema_message("float32", (2, 3)), 0) + eos)
    assert (t.rows, t.values.shape) == (0, (0, 2, 3))
    with pytest.raises(aifs.InvalidArgument) as e:
        T.decode(b"\xff\xff\xff\xff\x00\x00\x00\x00")
    assert e.value.reason == "TENSOR_BAD_IPC"


def test_big_endian_and_noncontiguous_input():
    a = np.arange(12, dtype=">i4").reshape(3, 4)
    assert same(T.to_numpy(T.decode(T.encode(a))), a.astype("<i4"))
    b = np.arange(24, dtype=np.float64).reshape(4, 6)[:, ::2]
    assert same(T.to_numpy(T.decode(T.encode(b))), np.ascontiguousarray(b))


@pytest.mark.parametrize("dtype", list(T.DTYPES))
def test_server_roundtrip(client, ns, dtype, server, tmp_path):
    for i, shape in enumerate(SHAPES):
        a = sample(dtype if dtype != "bfloat16" else "float32", shape, seed=i)
        if dtype == "bfloat16":
            r = client.put_tensor(ns, a, dtype="bfloat16")
            want = T.bfloat16_to_float32(T.float32_to_bfloat16(a))
        else:
            r = client.put(ns, a)  # an ndarray is a tensor asset
            want = a
        assert r.asset.kind == "tensor"
        got = client.get_tensor(ns, r.id)
        assert same(got, want.astype(np.float32) if dtype == "bfloat16" else want), shape
        # C++ decodes what Python encoded: `aifs get --as npy`
        if shape != ():
            npy = server.cli("get", "--ns", ns, "--as", "npy", r.id)
            assert same(np.load(io.BytesIO(npy)), got)
    # Python decodes what C++ encoded: `aifs put --kind tensor x.npy`
    if dtype != "bfloat16":
        a = sample(dtype, (3, 5), seed=9)
        p = tmp_path / "x.npy"
        np.save(p, a)
        out = server.cli("put", "--ns", ns, "--kind", "tensor", str(p)).decode()
        tid = [w for w in out.split() if len(w) == 64][0]
        assert same(client.get_tensor(ns, tid), a)
        # the same bytes as the C++ encoder: the same asset ID, so the two dedup
        assert client.put(ns, a).id == tid


def test_server_rejects_bad_tensor(client, ns):
    with pytest.raises(aifs.InvalidArgument) as e:
        client.put(ns, T.encode(np.zeros(3, np.int16))[:-8], kind="tensor")
    assert e.value.reason == "TENSOR_TRUNCATED"
    with pytest.raises(aifs.ResourceExhausted) as e:
        client.put(ns, b"not arrow", kind="tensor")  # read as a 544 MB metadata length
    assert e.value.reason == "TENSOR_METADATA_TOO_LARGE"


def test_server_large_tensor(client, ns):
    a = np.random.default_rng(3).standard_normal((256, 1024, 16)).astype(np.float32)  # 16 MiB
    r = client.put(ns, a)
    assert same(client.get_tensor(ns, r.id), a)
