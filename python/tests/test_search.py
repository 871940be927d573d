"""Vector search with NumPy queries against NumPy's exact answer, metadata
filters, several queries at once, `like`, and as_of (a snapshot's assets only)."""
import numpy as np
import pytest

import aifs


def put_vectors(client, ns, X, space, tag):
    ids = []
    for i, v in enumerate(X):
        ids.append(client.put(ns, b"%s-%d" % (tag.encode(), i), embeddings={space: v},
                              metadata={"i": str(i), "even": str(i % 2 == 0).lower()}).id)
    return ids


def test_search(client, ns):
    rng = np.random.default_rng(5)
    X = rng.standard_normal((200, 16)).astype(np.float32)
    client.create_space(ns, "l2", 16, metric="l2")
    client.create_space(ns, "cos", 16, metric="cosine")
    assert {s.name for s in client.spaces(ns)} == {"l2", "cos"}
    ids = []
    for i, v in enumerate(X):
        ids.append(client.put(ns, b"v%d" % i, embeddings={"l2": v, "cos": v},
                              metadata={"even": "yes" if i % 2 == 0 else "no"}).id)
    spaces = {s.name: s for s in client.spaces(ns)}
    assert spaces["l2"].vectors == 200
    Q = rng.standard_normal((5, 16)).astype(np.float32)
    # exact oracle: L2 score = -squared distance; cosine = cosine similarity
    for q, hits in zip(Q, client.search(ns, "l2", Q, k=10)):
        d = ((X - q) ** 2).sum(1)
        want = [ids[j] for j in np.argsort(d)[:10]]
        got = [h.id for h in hits]
        assert len(set(got) & set(want)) >= 9  # recall of the index
        for h in hits:
            assert abs(h.score + d[ids.index(h.id)]) < 1e-3 * max(1, d[ids.index(h.id)])
    Xn = X / np.linalg.norm(X, axis=1, keepdims=True)
    q = Q[0]
    hits = client.search(ns, "cos", q, k=5, where={"even": "yes"})
    sims = Xn @ (q / np.linalg.norm(q))
    even = [j for j in range(200) if j % 2 == 0]
    want = [ids[j] for j in sorted(even, key=lambda j: -sims[j])[:5]]
    assert [h.id for h in hits] == want
    # more like this: the asset's own vector is the query, the asset itself is not a hit
    like = client.search(ns, "l2", ids[17], k=3)
    d = ((X - X[17]) ** 2).sum(1)
    d[17] = np.inf
    assert ids[17] not in [h.id for h in like]
    assert like[0].id == ids[int(np.argmin(d))]


def test_search_as_of(client, ns):
    rng = np.random.default_rng(6)
    client.create_space(ns, "s", 8, metric="l2")
    X = rng.standard_normal((30, 8)).astype(np.float32)
    old = [client.put(ns, b"old%d" % i, embeddings={"s": v}).id for i, v in enumerate(X[:15])]
    snap = client.snapshot(ns)
    client.create_tag(ns, "before", snap.id)
    new = [client.put(ns, b"new%d" % i, embeddings={"s": v}).id
           for i, v in enumerate(X[15:])]
    q = X[20]  # nearest is a new asset
    assert client.search(ns, "s", q, k=1)[0].id == new[5]
    for ref in ("before", snap.id):
        hits = client.search(ns, "s", q, k=10, as_of=ref)
        assert hits and all(h.id in old for h in hits)
        d = ((X[:15] - q) ** 2).sum(1)
        assert hits[0].id == old[int(np.argmin(d))]


def test_search_errors(client, ns):
    with pytest.raises(aifs.NotFound):
        client.search(ns, "nope", np.zeros(4, np.float32))
    client.create_space(ns, "d4", 4)
    with pytest.raises(aifs.InvalidArgument):
        client.search(ns, "d4", np.zeros(5, np.float32))
