"""Error mapping: each gRPC code becomes its exception class, with the
server's ErrorInfo reason and metadata; the wire decoder agrees with
protobuf's own parser of google.rpc.Status."""
import os
import subprocess

import grpc
import pytest

import aifs
from aifs import errors

ROOT = os.path.dirname(os.path.dirname(os.path.dirname(os.path.abspath(__file__))))


def test_class_per_code():
    for code in grpc.StatusCode:
        if code == grpc.StatusCode.OK:
            continue
        cls = errors.error_class(code)
        assert issubclass(cls, aifs.AifsError) and cls.code == code
        assert cls.__name__.lower().replace("_", "") == code.name.lower().replace("_", "")
    e = aifs.NotFound("gone", "ASSET_NOT_FOUND", {"k": "v"})
    assert str(e) == "NOT_FOUND ASSET_NOT_FOUND: gone" and e.metadata == {"k": "v"}


def test_decoder_against_protobuf(tmp_path):
    """Serialize with generated google.rpc classes; decode with the SDK's reader."""
    subprocess.run(["protoc", "-I" + os.path.join(ROOT, "proto"), "-I/usr/include",
                    "--python_out=" + str(tmp_path), "google/rpc/status.proto",
                    "google/rpc/error_details.proto"], check=True)
    import importlib.util

    def load(name):
        spec = importlib.util.spec_from_file_location(
            "aifs_test_" + name, str(tmp_path / "google" / "rpc" / (name + ".py")))
        m = importlib.util.module_from_spec(spec)
        spec.loader.exec_module(m)
        return m

    status_pb2, details_pb2 = load("status_pb2"), load("error_details_pb2")
    st = status_pb2.Status(code=5, message="no such asset")
    retry = details_pb2.RetryInfo()
    retry.retry_delay.seconds = 3
    st.details.add().Pack(retry)
    info = details_pb2.ErrorInfo(reason="ASSET_NOT_FOUND", domain="aifs",
                                 metadata={"id": "ab" * 32, "empty": "", "ü": "ß"})
    st.details.add().Pack(info)
    reason, md = errors.decode_status_details(st.SerializeToString())
    assert reason == "ASSET_NOT_FOUND" and md == dict(info.metadata)
    assert errors.decode_status_details(status_pb2.Status(code=2).SerializeToString()) == ("", {})
    with pytest.raises(ValueError):
        errors.decode_status_details(b"\x1a\x05ab")


def test_server_errors(client, ns, server):
    with pytest.raises(aifs.NotFound) as e:
        client.get(ns, "00" * 32)
    assert e.value.reason == "ASSET_NOT_FOUND" and e.value.code == grpc.StatusCode.NOT_FOUND
    with pytest.raises(aifs.NotFound) as e:
        client.namespace("no-such-namespace")
    assert e.value.reason == "NAMESPACE_NOT_FOUND"
    with pytest.raises(aifs.InvalidArgument) as e:
        client.lineage(ns, client.put(ns, b"x").id, depth=0)
    assert e.value.reason == "BAD_DEPTH"
    a = client.put(ns, b"1234").id
    with pytest.raises(aifs.OutOfRange) as e:
        client.get(ns, a, offset=5)
    assert e.value.reason == "RANGE_OUT_OF_BOUNDS"
    with pytest.raises(aifs.InvalidArgument) as e:
        client.put(ns, b"abc", expected_id="11" * 32)
    assert e.value.reason
    # client-side checks use the same vocabulary
    with pytest.raises(aifs.InvalidArgument) as e:
        client.get(ns, "xyz")
    assert e.value.reason == "BAD_ASSET_ID"


def test_auth_errors(server, ns):
    bad = aifs.connect(server.address, token="not-a-macaroon")
    with pytest.raises(aifs.Unauthenticated) as e:
        bad.namespaces()
    assert e.value.reason == "TOKEN_MALFORMED"
    none = aifs.connect(server.address, token="")
    with pytest.raises(aifs.Unauthenticated) as e:
        none.namespaces()
    assert e.value.reason == "TOKEN_MISSING"
    # a token minted by the CLI for another namespace
    tok = server.cli("token", "mint", "--ns", ns + "-other").decode().split()[-1]
    other = aifs.connect(server.address, token=tok)
    with pytest.raises(aifs.PermissionDenied) as e:
        other.stat(ns, "00" * 32)
    assert e.value.reason == "WRONG_NAMESPACE"


def test_unavailable():
    c = aifs.connect("127.0.0.1:1", token="x", timeout=5)
    with pytest.raises(aifs.Unavailable) as e:
        c.info()
    assert e.value.reason == ""  # a transport failure carries no AIFS reason
