"""aifs.torch: map-style and iterable datasets over a snapshot; a DataLoader
with 2 worker processes reads a branch pinned at construction while the head
changes underneath (new puts, deletes, rebinds, the branch moved) and sees
exactly the snapshot, both while a thread of the same process writes and
while another process writes. Workers forked after gRPC was used refuse to
connect with a clear error."""
import os
import subprocess
import sys
import threading

import numpy as np
import pytest

torch = pytest.importorskip("torch")
from aifs.errors import NotFound  # noqa: E402
from aifs.torch import AssetDataset, AssetIterableDataset  # noqa: E402

N = 200


@pytest.fixture
def dataset_ns(client, ns):
    rng = np.random.default_rng(11)
    arrays = {}
    for i in range(N):
        a = rng.standard_normal((4, 8)).astype(np.float32) + i
        r = client.put(ns, a, path="train/%04d.t" % i, metadata={"label": str(i % 10),
                                                                 "split": "train"})
        arrays["train/%04d.t" % i] = (r.id, a)
    snap = client.snapshot(ns, message="dataset v1")
    client.create_tag(ns, "v1", snap.id)
    client.create_branch(ns, "main", snap.id)
    return ns, arrays, snap


def expected(arrays):
    return [arrays[p][1] for p in sorted(arrays)]


def test_map_style_order_and_batches(client, dataset_ns):
    ns, arrays, snap = dataset_ns
    ds = AssetDataset(client, ns, ref="v1", decode="tensor")
    assert len(ds) == N and ds.snapshot == snap.id
    want = expected(arrays)
    assert np.array_equal(ds[0], want[0]) and np.array_equal(ds[N - 1], want[-1])
    batch = ds[[5, 3, 5, 199]]
    for got, i in zip(batch, [5, 3, 5, 199]):
        assert np.array_equal(got, want[i])
    # same order on a second construction (stable)
    ds2 = AssetDataset(client, ns, ref=snap.id, decode="tensor")
    assert ds2.members == ds.members
    # where + transform
    lab3 = AssetDataset(client, ns, ref="v1", where={"label": "3"}, decode="tensor",
                        transform=torch.from_numpy)
    assert len(lab3) == N // 10 and isinstance(lab3[0], torch.Tensor)
    assert all(int(p.split("/")[1][:4]) % 10 == 3 for p, _ in lab3.members)


def change_head(client, ns, arrays, stop):
    """Puts, deletes and rebinds in the head until `stop` is set."""
    i = 0
    paths = sorted(arrays)
    while not stop.is_set():
        r = client.put(ns, np.full((4, 8), -1.0 - i, np.float32), path="train/new%05d.t" % i)
        victim = paths[i % len(paths)]
        client.bind(ns, victim, r.id)  # rebinding an existing path
        if i % 3 == 0:
            try:
                client.rm(ns, arrays[victim][0], force=True)
            except Exception:
                pass  # removed already or still bound elsewhere
        if i % 10 == 0:
            s = client.snapshot(ns, branch="main", message="churn %d" % i)
            assert s.id
        i += 1
    return i


@pytest.mark.parametrize("workers", [2])
def test_dataloader_workers_see_the_snapshot_only(client, dataset_ns, workers):
    ns, arrays, snap = dataset_ns
    ds = AssetDataset(client, ns, ref="main", decode="tensor")  # a branch, pinned now
    stop = threading.Event()
    churn = threading.Thread(target=change_head, args=(client, ns, arrays, stop))
    churn.start()
    try:
        want = np.stack(expected(arrays))
        for epoch in range(2):
            loader = ds.loader(batch_size=16, shuffle=False, num_workers=workers, timeout=120,
                               collate_fn=stack)
            got = torch.cat(list(loader)).numpy()
            assert got.shape == want.shape
            assert np.array_equal(got, want), "epoch %d saw data outside the snapshot" % epoch
    finally:
        stop.set()
        churn.join(60)
    # the head really changed: the branch moved, paths point elsewhere
    assert client.get_snapshot(ns, "main").id != snap.id
    changed = client.resolve(ns, "train/0000.t")
    assert changed != arrays["train/0000.t"][0]


def stack(batch):
    return torch.stack([torch.from_numpy(x) for x in batch])


WRITER = """
import sys, numpy as np, aifs
c = aifs.connect(sys.argv[1], token=sys.argv[2])
ns, i = sys.argv[3], 0
while True:
    r = c.put(ns, np.full((4, 8), -1.0 - i, np.float32))
    c.bind(ns, "train/%04d.t" % (i % 200), r.id)
    if i % 10 == 0:
        c.snapshot(ns, branch="main")
    i += 1
"""


def test_workers_while_another_process_writes(server, client, dataset_ns):
    ns, arrays, snap = dataset_ns
    ds = AssetDataset(client, ns, ref="main", decode="tensor")
    import conftest
    env = dict(os.environ, PYTHONPATH=os.pathsep.join([conftest.PYDIR, conftest.GEN]))
    w = subprocess.Popen([sys.executable, "-c", WRITER, server.address, server.token, ns],
                         env=env)
    try:
        want = np.stack(expected(arrays))
        for epoch in range(3):
            loader = ds.loader(batch_size=16, num_workers=2, timeout=120, collate_fn=stack)
            assert np.array_equal(torch.cat(list(loader)).numpy(), want), epoch
        for _ in range(100):  # make sure the writer really changed the head meanwhile
            if client.get_snapshot(ns, "main").id != snap.id:
                break
            threading.Event().wait(0.1)
        assert client.get_snapshot(ns, "main").id != snap.id
        assert w.poll() is None, "the writer died"
    finally:
        w.kill()
        w.wait()


def test_shuffled_loader_covers_everything(client, dataset_ns):
    ns, arrays, _ = dataset_ns
    ds = AssetDataset(client, ns, ref="v1", decode="tensor")
    g = torch.Generator().manual_seed(0)
    loader = ds.loader(batch_size=32, shuffle=True, num_workers=2, generator=g, timeout=120)
    sums = sorted(float(x.sum()) for b in loader for x in b)
    assert np.allclose(sums, sorted(float(a.sum()) for a in expected(arrays)))


def test_iterable_dataset(client, dataset_ns):
    ns, arrays, _ = dataset_ns
    it = AssetIterableDataset(client, ns, ref="v1", decode="tensor", read_batch=16)
    assert all(np.array_equal(a, b) for a, b in zip(list(it), expected(arrays)))
    loader = torch.utils.data.DataLoader(it, batch_size=None, num_workers=2, timeout=120,
                                         multiprocessing_context="forkserver")
    got = sorted(float(x.sum()) for x in loader)
    assert np.allclose(got, sorted(float(a.sum()) for a in expected(arrays)))


def test_spawned_workers(client, dataset_ns):
    """Workers started with spawn get the dataset by pickle (the client's
    settings, no channel) and connect themselves."""
    ns, arrays, _ = dataset_ns
    ds = AssetDataset(client, ns, ref="v1")
    loader = ds.loader(batch_size=50, num_workers=2, multiprocessing_context="spawn",
                       collate_fn=list, timeout=120)
    blobs = [x for b in loader for x in b]
    assert len(blobs) == N and blobs[0] == client.get(ns, ds.asset_id(0))


def test_forked_worker_refuses_clearly(client, dataset_ns):
    """A fork of this process (which uses gRPC) must not touch gRPC: it says so."""
    ns, _, _ = dataset_ns
    ds = AssetDataset(client, ns, ref="v1")
    loader = torch.utils.data.DataLoader(ds, batch_size=None, num_workers=1, timeout=120,
                                         multiprocessing_context="fork")
    with pytest.raises(Exception) as e:
        next(iter(loader))
    assert "FORKED_AFTER_GRPC" in str(e.value)


def test_snapshot_without_paths(client, ns):
    """A snapshot with no paths: its assets in ID order."""
    ids = sorted(client.put(ns, np.full(3, i, np.int64)).id for i in range(7))
    snap = client.snapshot(ns)
    ds = AssetDataset(client, ns, ref=snap.id, decode="tensor")
    assert [m[1] for m in ds.members] == ids
    assert AssetDataset(client, ns, ref=snap.id).members == ds.members
    # Listed as of the snapshot (ListAssets as_of): no helper snapshot is made.
    assert not any(x.explicit_set for x in client.snapshots(ns))
    client.put(ns, np.zeros(3, np.int64))
    assert len(AssetDataset(client, ns, ref=snap.id)) == 7
    assert ds[[0, 6]][1].tolist() == client.get_tensor(ns, ids[6]).tolist()
    # Removed from the head, still read through the snapshot (ReadRanges as_of).
    before = ds[6].tolist()
    client.rm(ns, ids[6])
    assert ds[6].tolist() == before
    assert client.read_ranges(ns, [(ids[6], 0, None)], as_of=snap.id)[0] == \
        client.get(ns, ids[6], as_of=snap.id)
    with pytest.raises(NotFound) as e:
        client.read_ranges(ns, [(ids[6], 0, None)])
    assert e.value.reason == "ASSET_NOT_FOUND"


def test_head_version_and_ls_as_of(client, ns):
    """head_version moves with the head only; ls(as_of=...) lists the snapshot."""
    v0 = client.namespace(ns).head_version
    a = client.put(ns, b"one").id
    v1 = client.namespace(ns).head_version
    assert v1 > v0
    list(client.ls(ns))
    assert client.namespace(ns).head_version == v1
    snap = client.snapshot(ns)
    client.rm(ns, a)
    assert client.namespace(ns).head_version > v1
    assert [x.id for x in client.ls(ns, as_of=snap.id)] == [a]
    assert [x.id for x in client.ls(ns)] == []
