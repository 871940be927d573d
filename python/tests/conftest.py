"""Fixtures: a real `aifs serve` on a fresh data directory, and clients of it.

Environment:
  AIFS_BIN     the aifs CLI (required; the tests skip without it)
  AIFS_PY_GEN  a directory holding aifs/v1 (gen_protos.py --out); without it
               the stubs are generated into a temporary directory
The SDK is imported from the source tree (python/), never from an install.
"""
import atexit
import os
import queue
import re
import shutil
import subprocess
import sys
import tempfile
import threading

import pytest

HERE = os.path.dirname(os.path.abspath(__file__))
PYDIR = os.path.dirname(HERE)
sys.path.insert(0, PYDIR)


def _stub_dir():
    gen = os.environ.get("AIFS_PY_GEN")
    if gen and os.path.isdir(os.path.join(gen, "aifs", "v1")):
        return gen
    sys.path.insert(0, PYDIR)
    import gen_protos
    gen = tempfile.mkdtemp(prefix="aifs-py-gen-")
    atexit.register(shutil.rmtree, gen, True)
    gen_protos.generate(gen)
    return gen


GEN = _stub_dir()
sys.path.insert(1, GEN)

import aifs  # noqa: E402


def aifs_bin():
    b = os.environ.get("AIFS_BIN")
    if not b or not os.access(b, os.X_OK):
        pytest.skip("AIFS_BIN (the built aifs CLI) not set")
    return b


class Server:
    """`aifs --data DIR serve --listen 127.0.0.1:0` (or `listen`, e.g. unix:PATH),
    its address, and the admin token."""

    def __init__(self, data, extra=(), listen=None):
        self.listen = listen
        self.bin = aifs_bin()
        self.data = data
        if not os.path.exists(os.path.join(data, "admin.token")):
            subprocess.run([self.bin, "--data", data, "init", "-q"], check=True,
                           stdout=subprocess.DEVNULL)
        with open(os.path.join(data, "admin.token")) as f:
            self.token = f.read().strip()
        # while nothing holds the store: the root key r1 (offline minting tests)
        self.root_key = bytes.fromhex(subprocess.run(
            [self.bin, "--data", data, "token", "export-root", "r1"], check=True,
            stdout=subprocess.PIPE).stdout.decode().strip())
        self.extra = list(extra)
        self.start()

    def start(self):
        self.err = open(self.data + ".stderr", "ab")
        self.proc = subprocess.Popen(
            [self.bin, "--data", self.data, "serve", "--listen",
             self.listen or "127.0.0.1:%d" % getattr(self, "port", 0)] + self.extra,
            stdout=subprocess.PIPE, stderr=self.err)
        lines = queue.Queue()
        threading.Thread(target=lambda: lines.put(self.proc.stdout.readline()),
                         daemon=True).start()
        line = lines.get(timeout=60).decode()
        if self.listen:
            m = re.search(r"serving on (\S+)", line)
            assert m, "aifs serve printed %r" % line
            self.address = m.group(1)
            return
        m = re.search(r"serving on 127\.0\.0\.1:(\d+)", line)
        assert m, "aifs serve printed %r" % line
        self.port = int(m.group(1))
        self.address = "127.0.0.1:%d" % self.port

    def stop(self):
        if self.proc.poll() is None:
            self.proc.terminate()
            try:
                self.proc.wait(30)
            except subprocess.TimeoutExpired:
                self.proc.kill()
                self.proc.wait()
        self.err.close()

    def cli(self, *args, token=None, input=None, check=True):
        """Runs the CLI against this server; returns stdout (bytes)."""
        env = dict(os.environ, AIFS_SERVER=self.address, AIFS_TOKEN=token or self.token)
        r = subprocess.run([self.bin] + list(args), env=env, input=input,
                           stdout=subprocess.PIPE, stderr=subprocess.PIPE)
        if check and r.returncode != 0:
            raise AssertionError("aifs %s: %s" % (" ".join(args), r.stderr.decode()))
        return r.stdout


@pytest.fixture(scope="session")
def server(tmp_path_factory):
    s = Server(str(tmp_path_factory.mktemp("aifs") / "data"))
    yield s
    s.stop()


@pytest.fixture(scope="session")
def client(server):
    c = aifs.connect(server.address, token=server.token)
    yield c
    c.close()


_ns_counter = [0]


@pytest.fixture
def ns(client, request):
    """A fresh namespace per test."""
    _ns_counter[0] += 1
    name = re.sub(r"[^a-z0-9]", "", request.node.name.lower())[:40] + str(_ns_counter[0])
    client.create_namespace(name)
    return name


def b3sum(data: bytes) -> str:
    """BLAKE3 by the b3sum command: the independent oracle of asset IDs."""
    r = subprocess.run(["b3sum", "--no-names", "--num-threads", "1"], input=data,
                       stdout=subprocess.PIPE, check=True)
    return r.stdout.decode().split()[0]
