"""Ingest operators through the SDK: an http-embed operator against the test
embeddings server (tests/tools/embed_server.py), run by the real server;
search hits carrying the source and the passage's byte range; a poison input
on the dead-letter list, retried once the embedder accepts it; events."""
import os
import re
import subprocess
import sys

import numpy as np
import pytest

import aifs

TOOLS = os.path.join(os.path.dirname(os.path.dirname(os.path.dirname(os.path.abspath(__file__)))),
                     "tests", "tools")
sys.path.insert(0, TOOLS)
from embed_server import embed  # noqa: E402


@pytest.fixture
def embedder(tmp_path):
    proc = subprocess.Popen([sys.executable, os.path.join(TOOLS, "embed_server.py"), "--dim", "24",
                             "--log", str(tmp_path / "requests.log")], stdout=subprocess.PIPE)
    line = proc.stdout.readline().decode()
    m = re.match(r"PORT (\d+)", line)
    assert m, line
    yield "http://127.0.0.1:%s" % m.group(1)
    proc.kill()
    proc.wait()


def control(url, body):
    import json
    import urllib.request
    req = urllib.request.Request(url + "/control", data=json.dumps(body).encode(),
                                 headers={"Content-Type": "application/json"}, method="POST")
    urllib.request.urlopen(req).read()


def test_embedding_operator(client, ns, embedder):
    text = ("Paragraph one is about red apples in autumn orchards.\n\n"
            "Paragraph two is about deep ocean trenches and their fish.\n\n")
    src = client.put(ns, text.encode(), metadata={"content_type": "text/plain"}).id
    client.put(ns, b"\x00\x01binary", metadata={"content_type": "application/octet-stream"})
    op = client.add_operator(ns, "emb", "http-embed", match="content_type^=text/",
                             params={"url": embedder, "model": "bow24", "chunk_bytes": 80},
                             backfill=True)
    assert op.spec.kind == "http-embed"
    info = client.drain_operator(ns, "emb", timeout=60)
    assert (info.processed, info.failed) == (1, 0)
    assert info.produced == 2  # two passages
    q = np.asarray(embed("deep ocean trenches", 24), dtype=np.float32)
    hit = client.search(ns, "bow24", q, k=1)[0]
    assert hit.source == src
    off, length = hit.source_range
    assert text.encode()[off:off + length].decode().startswith("Paragraph two")
    # The same query as text, embedded by the operator itself.
    assert client.search(ns, "", "deep ocean trenches", k=1, embed_with="emb")[0].id == hit.id
    assert [o.spec.name for o in client.operators(ns)] == ["emb"]

    control(embedder, {"mode": "ok", "poison": "hemlock"})
    bad = client.put(ns, b"hemlock grows here", metadata={"content_type": "text/plain"}).id
    info = client.drain_operator(ns, "emb", timeout=60)
    assert info.failed == 1
    failures = client.operator_failures(ns, "emb")
    assert [(f.asset.hex(), f.reason) for f in failures] == [(bad, "EMBEDDER_REJECTED_INPUT")]
    control(embedder, {"mode": "ok"})
    assert client.resolve_operator_failures(ns, "emb", retry=True) == 1
    info = client.drain_operator(ns, "emb", timeout=60)
    assert (info.processed, info.failed) == (2, 0)
    types = {e.type for e in client.events(ns=ns)}
    assert {"OPERATOR_COMPLETED", "OPERATOR_FAILED"} <= types

    with pytest.raises(aifs.NotFound) as e:
        client.drain_operator(ns, "nope", timeout=1)
    assert e.value.reason == "OPERATOR_NOT_FOUND"
    client.remove_operator(ns, "emb")
    assert client.operators(ns) == []
