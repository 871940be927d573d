"""Transactions as a context manager: all or nothing."""
import pytest

import aifs


def test_commit(client, ns):
    with client.transaction(ns) as tx:
        a = tx.put(b"alpha", metadata={"t": "1"})
        b = tx.put(b"beta", path="tx/b")
        assert a.staged and b.staged
        with pytest.raises(aifs.NotFound):  # not visible before the commit
            client.stat(ns, a.id)
    assert {r.id for r in tx.results} == {a.id, b.id}
    assert client.get(ns, a.id) == b"alpha" and client.resolve(ns, "tx/b") == b.id


def test_abort_on_exception(client, ns):
    class Boom(Exception):
        pass

    with pytest.raises(Boom):
        with client.transaction(ns) as tx:
            staged = tx.put(b"never published")
            raise Boom()
    with pytest.raises(aifs.NotFound):
        client.stat(ns, staged.id)
    assert tx.id is None


def test_explicit_abort_and_reuse(client, ns):
    tx = client.transaction(ns).begin()
    r = tx.put(b"gone")
    tx.abort()
    with pytest.raises(aifs.NotFound):
        client.stat(ns, r.id)
    with pytest.raises(aifs.FailedPrecondition):
        tx.put(b"after abort")


def test_parent_in_same_transaction(client, ns):
    with client.transaction(ns) as tx:
        p = tx.put(b"parent")
        c = tx.put(b"child", parents=[(p.id, "derive")])
    assert client.lineage(ns, c.id).edges[0].parent == p.id
