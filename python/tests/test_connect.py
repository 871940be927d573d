"""Connecting: settings from AIFS_SERVER / AIFS_TOKEN (@FILE), TLS with a CA
file, and clients that pickle as their settings."""
import pickle
import subprocess

import pytest

import aifs
from conftest import Server, b3sum


def test_environment(server, monkeypatch, tmp_path):
    tok = tmp_path / "token"
    tok.write_text(server.token + "\n")
    monkeypatch.setenv("AIFS_SERVER", server.address)
    monkeypatch.setenv("AIFS_TOKEN", "@" + str(tok))
    c = aifs.connect()
    assert c.server == server.address and c.namespaces()
    c2 = pickle.loads(pickle.dumps(c))
    assert c2.server == server.address and c2.namespaces()
    monkeypatch.delenv("AIFS_SERVER")
    with pytest.raises(aifs.InvalidArgument) as e:
        aifs.connect()
    assert e.value.reason == "NO_SERVER"


def test_unix_socket(tmp_path):
    """A server on a unix-domain socket: grpc's unix: target reaches it."""
    sock = tmp_path / "aifs.sock"
    srv = Server(str(tmp_path / "data"), listen="unix:" + str(sock))
    try:
        assert srv.address == "unix:" + str(sock)
        c = aifs.connect(srv.address, token=srv.token)
        c.create_namespace("local")
        data = bytes(range(256)) * 4099
        put = c.put("local", data)
        assert put.id == b3sum(data)
        assert c.get("local", put.id) == data
        assert c.get("local", put.id, offset=1000, length=4096) == data[1000:5096]
    finally:
        srv.stop()
    assert not sock.exists()  # removed when the server stopped


def test_tls(tmp_path):
    cert, key = tmp_path / "cert.pem", tmp_path / "key.pem"
    r = subprocess.run(["openssl", "req", "-x509", "-newkey", "ec", "-pkeyopt",
                        "ec_paramgen_curve:prime256v1", "-nodes", "-days", "1", "-subj",
                        "/CN=localhost", "-addext", "subjectAltName=IP:127.0.0.1,DNS:localhost",
                        "-keyout", str(key), "-out", str(cert)], capture_output=True)
    if r.returncode != 0:
        pytest.skip("openssl cannot make a test certificate: %s" % r.stderr.decode()[-200:])
    srv = Server(str(tmp_path / "data"), extra=["--tls-cert", str(cert), "--tls-key", str(key)])
    try:
        c = aifs.connect(srv.address, token=srv.token, tls=str(cert))
        assert c.info().tls
        c.create_namespace("tls")
        assert c.get("tls", c.put("tls", b"over tls").id) == b"over tls"
        plain = aifs.connect(srv.address, token=srv.token, timeout=5)
        with pytest.raises(aifs.AifsError):
            plain.info()  # plaintext against a TLS port
    finally:
        srv.stop()
