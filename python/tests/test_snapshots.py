"""Snapshots, branches, tags, diff, log, merge, and offline proofs: genuine
proofs verify (also those the CLI writes as aifs-proof/1 JSON), tampered ones
are refused with the engine's reasons, and the SDK's tree rules agree with
the independent checker in tests/interop/mst_vectors.py."""
import copy
import dataclasses
import json
import os
import sys

import pytest

import aifs
from aifs import proofs
from aifs._blake3 import blake3
from conftest import b3sum

ROOT = os.path.dirname(os.path.dirname(os.path.dirname(os.path.abspath(__file__))))


def fill(client, ns, n, tag="x"):
    return [client.put(ns, b"%s %d" % (tag.encode(), i), path="d/%s%05d" % (tag, i)).id
            for i in range(n)]


def test_blake3_against_b3sum():
    for n in (0, 1, 63, 64, 65, 1023, 1024, 1025, 2048, 3000, 9000, 70000):
        data = os.urandom(n)
        assert blake3(data).hex() == b3sum(data), n
    assert proofs.EMPTY_ROOT.hex() == \
        "2d3adedff11b61f14c886e35afa036736dcd87a74d27b5c1510225d0f592e213"


def test_snapshot_refs_diff_log(client, ns):
    ids = fill(client, ns, 5)
    s1 = client.snapshot(ns, message="first", author="me")
    assert s1.count == 5 and s1.message == "first" and s1.version == 2
    assert "claims me" in s1.author  # the server records who the token is
    assert client.get_snapshot(ns, s1.id).root == s1.root
    client.verify_snapshot(ns, s1.id)
    client.create_tag(ns, "v1", s1.id)
    client.create_branch(ns, "dev", s1.id)
    assert [t.name for t in client.tags(ns)] == ["v1"]
    assert "dev" in [b.name for b in client.branches(ns)]
    client.rm(ns, ids[0])
    new = client.put(ns, b"new", path="d/new").id
    s2 = client.snapshot(ns, message="second")
    d = client.diff(ns, "v1", s2.id)
    assert d.added == [new] and d.removed == [ids[0]]
    assert ("d/new", None, new) in d.paths
    assert [s.id for s in client.log(ns, s2.id)][:2] == [s2.id, s1.id]
    assert {s.id for s in client.snapshots(ns)} >= {s1.id, s2.id}
    # a removed asset is still readable through the snapshot that holds it
    assert client.get(ns, ids[0], as_of="v1") == b"x 0"
    with pytest.raises(aifs.NotFound):
        client.get(ns, ids[0])
    # branch compare-and-swap
    b = client.move_branch(ns, "dev", s2.id, expected=s1.id)
    assert b.snapshot == s2.id
    with pytest.raises(aifs.Aborted) as e:
        client.move_branch(ns, "dev", s1.id, expected=s1.id)
    assert e.value.reason == "BRANCH_MOVED"
    assert len(client.branch_log(ns, "dev")) >= 2
    client.delete_tag(ns, "v1")
    client.delete_branch(ns, "dev")
    assert client.tags(ns) == []


def test_merge(client, ns):
    fill(client, ns, 2)
    base = client.snapshot(ns)
    client.create_branch(ns, "main", base.id)
    client.create_branch(ns, "feature", base.id)
    x = client.put(ns, b"feature work", path="d/feature").id
    client.snapshot(ns, branch="feature", message="work")
    m = client.merge(ns, "feature", "main")
    assert not m.conflicts and m.HasField("snapshot")
    assert client.resolve(ns, "d/feature", as_of="main") == x


def test_proofs_offline(client, ns, server, tmp_path):
    ids = fill(client, ns, 300)
    snap = client.snapshot(ns)
    key = client.namespace(ns).signing_public_key
    for i in (ids[0], ids[150], ids[-1]):
        p = client.prove(ns, snap.id, i)
        proofs.verify_proof(p, public_key=key)
        assert p.snapshot.height + 1 == len(p.nodes)
    pp = client.prove(ns, snap.id, path="d/x00007")
    assert pp.path == "d/x00007" and pp.asset == bytes.fromhex(ids[7])
    proofs.verify_proof(pp, public_key=key)
    # the CLI's aifs-proof/1 JSON verifies in Python too
    out = server.cli("proof", "--ns", ns, "--snapshot", snap.id, ids[42])
    doc = json.loads(out)
    proofs.verify_proof(proofs.Proof.from_json(doc), public_key=key)
    # not in the snapshot
    with pytest.raises(aifs.NotFound) as e:
        client.prove(ns, snap.id, "ab" * 32)
    assert e.value.reason == "ASSET_NOT_IN_SNAPSHOT"


def expect(reason, proof, key=None):
    with pytest.raises(aifs.ProofError) as e:
        proofs.verify_proof(proof, public_key=key)
    assert e.value.reason == reason, str(e.value)
    return e.value


def test_tampered_proofs(client, ns):
    ids = fill(client, ns, 400)
    snap = client.snapshot(ns)
    key = client.namespace(ns).signing_public_key
    good = client.prove(ns, snap.id, ids[123])
    assert len(good.nodes) >= 2, "want an inner node to tamper with"
    proofs.verify_proof(good, key)

    def variant(**kw):
        p = copy.deepcopy(good)
        for k, v in kw.items():
            setattr(p, k, v)
        return p

    def node_flip(i, at):
        n = [bytearray(x) for x in good.nodes]
        n[i][at] ^= 1
        return variant(nodes=[bytes(x) for x in n])

    # another asset than proven
    expect("MST_PROOF_INVALID", variant(asset=bytes.fromhex(b3sum(b"absent"))))
    # a flipped bit in the leaf, in the root, in a header
    expect("MST_PROOF_INVALID", node_flip(-1, 10))
    expect("MST_PROOF_INVALID", node_flip(0, 40))
    expect("MST_PROOF_INVALID", node_flip(0, 1))
    # nodes dropped, duplicated, reordered
    expect("MST_PROOF_INVALID", variant(nodes=good.nodes[:-1]))
    expect("MST_PROOF_INVALID", variant(nodes=good.nodes + good.nodes[-1:]))
    expect("MST_PROOF_INVALID", variant(nodes=good.nodes[::-1]))
    expect("MST_PROOF_INVALID", variant(nodes=[]))
    # the leaf of another asset's path spliced in
    other = client.prove(ns, snap.id, ids[-1])
    if other.nodes[-1] != good.nodes[-1]:
        expect("MST_PROOF_INVALID", variant(nodes=good.nodes[:-1] + other.nodes[-1:]))
    # snapshot fields: the root, the count, the message (ID or signature breaks)
    s = good.snapshot
    expect("SNAPSHOT_ID_MISMATCH", variant(snapshot=dataclasses.replace(
        s, root=bytes(32))))
    expect("SIGNATURE_INVALID", variant(snapshot=dataclasses.replace(s, count=s.count + 1)))
    expect("SIGNATURE_INVALID", variant(snapshot=dataclasses.replace(s, message="forged")))
    sig = bytearray(s.signature)
    sig[0] ^= 1
    expect("SIGNATURE_INVALID", variant(snapshot=dataclasses.replace(s, signature=bytes(sig))))
    # re-signed by someone else: a key mismatch against the pinned key
    from cryptography.hazmat.primitives.asymmetric.ed25519 import Ed25519PrivateKey
    from cryptography.hazmat.primitives.serialization import Encoding, PublicFormat
    k = Ed25519PrivateKey.generate()
    forged = dataclasses.replace(
        s, public_key=k.public_key().public_bytes(Encoding.Raw, PublicFormat.Raw))
    forged = dataclasses.replace(forged, signature=k.sign(proofs.signing_message(forged)))
    proofs.verify_proof(variant(snapshot=forged))  # consistent in itself ...
    expect("KEY_MISMATCH", variant(snapshot=forged), key)  # ... but not the pinned key
    # a path proof bound to another asset
    pp = client.prove(ns, snap.id, path="d/x00001")
    proofs.verify_proof(pp, key)
    expect("MST_PROOF_INVALID", dataclasses.replace(pp, asset=bytes.fromhex(ids[2])), key)
    expect("MST_PROOF_INVALID", dataclasses.replace(pp, path="d/x00002"), key)


def test_tree_rules_match_independent_checker(client, ns):
    """The interop checker (tests/interop/mst_vectors.py, b3sum-based) accepts
    the same proofs and recomputes the same root from the IDs."""
    sys.path.insert(0, os.path.join(ROOT, "tests", "interop"))
    try:
        import mst_vectors
    except ImportError:
        pytest.skip("tests/interop/mst_vectors.py not importable")
    ids = fill(client, ns, 200, tag="y")
    snap = client.snapshot(ns, ids=ids)  # an explicit set: exactly these IDs
    b3 = mst_vectors.B3(str(os.environ.get("TMPDIR", "/tmp")))
    root, height, _ = mst_vectors.build(sorted(bytes.fromhex(i) for i in ids), b3)
    assert (root.hex(), height) == (snap.root, snap.height)
    p = client.prove(ns, snap.id, ids[3])
    proofs.verify_proof(p)
