"""PyTorch datasets over the assets of a snapshot, branch or tag.

    from aifs.torch import AssetDataset
    ds = AssetDataset(client, "ml", ref="train-v1", where={"split": "train"},
                      decode="tensor", transform=torch.from_numpy)
    for batch in ds.loader(batch_size=64, shuffle=True, num_workers=2):
        ...

The reference is resolved once, at construction, to a snapshot ID: a
branch that moves later (new puts, deletes, merges) does not change what the
dataset holds, and every epoch sees the same samples in the same order
(path order when the snapshot binds paths, else AssetID order).

Reads are batched: ``ds[[i, j, k]]`` fetches all three in one ReadRanges call,
and :meth:`AssetDataset.loader` hands each worker whole index batches (a
BatchSampler with ``batch_size=None`` in the DataLoader), so one batch is one
round trip. Assets removed from the head since the snapshot are read through
the snapshot (ReadAsset as_of).

Processes: the datasets pickle as their settings and the client's; the gRPC
channel is opened lazily per process (see aifs.Client), so DataLoader workers
started with forkserver or spawn each open their own. Workers forked from a
process that used gRPC cannot (gRPC's C core is not fork-safe; they fail
FORKED_AFTER_GRPC), so :meth:`AssetDataset.loader` uses forkserver and
persistent workers (the start-up is paid once); with a plain DataLoader pass
``multiprocessing_context="forkserver"``. As always with spawn/forkserver,
the main script needs an ``if __name__ == "__main__"`` guard.
"""
from __future__ import annotations

from typing import Any, Callable, Iterator, List, Optional, Sequence, Tuple, Union

import torch.utils.data as tud

from . import tensor as _tensor
from .client import Client, Where

__all__ = ["AssetDataset", "AssetIterableDataset", "snapshot_members"]


def snapshot_members(client: Client, ns: str, ref: str, prefix: str = "",
                     where: Where = None) -> Tuple[str, List[Tuple[str, str]]]:
    """(snapshot ID, [(path or "", asset ID)]) of `ref`, in a stable order.

    With paths in the snapshot (or a `prefix`): its path bindings in path order
    (an asset bound to two paths is two samples). Without: its asset IDs, in
    ID order. `where` keeps the assets whose metadata matches, as the
    snapshot holds them (the filter runs on the server).
    """
    snap = client.get_snapshot(ns, ref)
    if prefix or snap.pb.path_count:
        members = list(client.paths(ns, prefix=prefix, as_of=snap.id))
        if where is not None:
            keep = {a.id for a in client.ls(ns, where=where, as_of=snap.id)}
            members = [m for m in members if m[1] in keep]
    else:
        members = [("", a.id) for a in client.ls(ns, where=where, as_of=snap.id)]
    return snap.id, members


class _Reader:
    """Shared by both datasets: decoding, transform, batched reads."""

    def _setup(self, client, ns, ref, where, prefix, transform, decode):
        self.client, self.ns = client, ns
        self.snapshot, self.members = snapshot_members(client, ns, ref, prefix, where)
        self.transform = transform
        if decode not in (None, "tensor") and not callable(decode):
            raise ValueError("decode is None, 'tensor' or a callable")
        self.decode = decode

    def _sample(self, data: bytes) -> Any:
        if self.decode == "tensor":
            x = _tensor.to_numpy(_tensor.decode(bytearray(data)))
        elif callable(self.decode):
            x = self.decode(data)
        else:
            x = data
        return self.transform(x) if self.transform is not None else x

    def _read(self, ids: Sequence[str]) -> List[bytes]:
        return self.client.read_ranges(self.ns, [(i, 0, None) for i in ids], as_of=self.snapshot)


class AssetDataset(tud.Dataset, _Reader):
    """Map-style dataset: sample i is the i-th asset of the snapshot.

    Args:
        client: an aifs.Client.
        ns: the namespace.
        ref: snapshot ID, branch or tag (resolved now, pinned).
        where: metadata filter (as Client.ls).
        prefix: only paths starting with it.
        transform: applied to each decoded sample.
        decode: None (bytes), "tensor" (numpy array of a Tensor asset) or a
            callable bytes -> sample.
    `ds[i]` is one sample; `ds[[i, j]]` a list of samples read in one call.
    """

    def __init__(self, client: Client, ns: str, ref: str, where: Where = None, prefix: str = "",
                 transform: Optional[Callable] = None,
                 decode: Union[None, str, Callable] = None):
        self._setup(client, ns, ref, where, prefix, transform, decode)

    def __len__(self) -> int:
        return len(self.members)

    def path(self, i: int) -> str:
        return self.members[i][0]

    def asset_id(self, i: int) -> str:
        return self.members[i][1]

    def __getitem__(self, index):
        if isinstance(index, (list, tuple)):
            datas = self._read([self.members[i][1] for i in index])
            return [self._sample(d) for d in datas]
        return self._sample(self._read([self.members[index][1]])[0])

    def loader(self, batch_size: int = 32, shuffle: bool = False, drop_last: bool = False,
               collate_fn: Optional[Callable] = None, generator=None,
               **kw) -> tud.DataLoader:
        """A DataLoader fetching each batch with one batched read (kw: num_workers,
        pin_memory, multiprocessing_context, ...). collate_fn defaults to
        torch's default_collate over the batch's samples.

        With workers it defaults to multiprocessing_context="forkserver" and
        persistent_workers=True: forkserver workers start from a process that
        never used gRPC (a forked one would share this process's gRPC state,
        which gRPC does not support), and persistent workers pay that start
        once, not every epoch."""
        base = tud.RandomSampler(self, generator=generator) if shuffle else \
            tud.SequentialSampler(self)
        sampler = tud.BatchSampler(base, batch_size=batch_size, drop_last=drop_last)
        collate = collate_fn or tud.default_collate
        if kw.get("num_workers", 0) > 0:
            kw.setdefault("multiprocessing_context", "forkserver")
            kw.setdefault("persistent_workers", True)
        return tud.DataLoader(self, batch_size=None, sampler=sampler, collate_fn=collate, **kw)


class AssetIterableDataset(tud.IterableDataset, _Reader):
    """Streaming variant: yields the snapshot's samples in order, reading
    `read_batch` assets per call; DataLoader workers split the members
    (worker w takes batches w, w + n, ...), so with several workers samples
    arrive interleaved by batch. Same arguments as AssetDataset."""

    def __init__(self, client: Client, ns: str, ref: str, where: Where = None, prefix: str = "",
                 transform: Optional[Callable] = None,
                 decode: Union[None, str, Callable] = None, read_batch: int = 64):
        self._setup(client, ns, ref, where, prefix, transform, decode)
        self.read_batch = read_batch

    def __len__(self) -> int:
        return len(self.members)

    def __iter__(self) -> Iterator[Any]:
        info = tud.get_worker_info()
        worker, workers = (info.id, info.num_workers) if info else (0, 1)
        n = self.read_batch
        for b, at in enumerate(range(0, len(self.members), n)):
            if b % workers != worker:
                continue
            ids = [m[1] for m in self.members[at:at + n]]
            for data in self._read(ids):
                yield self._sample(data)
