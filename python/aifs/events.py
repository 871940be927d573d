"""The event log as a resumable iterator (Client.events)."""
from __future__ import annotations

import time
from typing import TYPE_CHECKING, Sequence

import grpc

from . import errors
from ._wire import _pb
from .types import Event

if TYPE_CHECKING:
    from .client import Client


class EventStream:
    """An iterator over events (from :meth:`Client.events`).

    `cursor` is the sequence number of the last event delivered (or of the
    server's last heartbeat); resuming a new stream with after=cursor
    continues without gaps or repeats. With `reconnect`, a stream that ends
    UNAVAILABLE (server restart, SERVER_SHUTTING_DOWN) is resumed from the
    cursor with backoff, up to `max_retries` times in a row. `close()` (from
    any thread) ends the iteration.
    """

    def __init__(self, client: Client, ns: str, types: Sequence[str], after: int, follow: bool,
                 reconnect: bool, max_retries: int = 20):
        pb, _ = _pb()
        self._client, self._ns, self._follow, self._reconnect = client, ns, follow, reconnect
        self._types = [pb.EventType.Value(t) if isinstance(t, str) else int(t) for t in types]
        self.cursor = after
        self.max_retries = max_retries
        self._call = None
        self._closed = False
        self.reconnects = 0

    def __iter__(self):
        return self

    def _open(self):
        pb, _ = _pb()
        req = pb.SubscribeEventsRequest(ns=self._ns, types=self._types, after=self.cursor,
                                        follow=self._follow)
        self._call = self._client._stub(0).SubscribeEvents(req, metadata=self._client._md())

    def __next__(self) -> Event:
        pb, _ = _pb()
        failures = 0
        while True:
            if self._closed:
                raise StopIteration
            if self._call is None:
                self._open()
            try:
                r = next(self._call)
            except StopIteration:  # the log's end (without follow): stay ended
                self._call, self._closed = None, True
                raise
            except grpc.RpcError as e:
                self._call = None
                if self._closed or e.code() == grpc.StatusCode.CANCELLED:
                    raise StopIteration
                if (self._reconnect and e.code() == grpc.StatusCode.UNAVAILABLE
                        and failures < self.max_retries):
                    failures += 1
                    self.reconnects += 1
                    time.sleep(min(2.0, 0.05 * 2 ** failures))
                    continue
                raise errors.from_rpc_error(e) from None
            failures = 0
            if r.HasField("event"):
                self.cursor = r.event.seq
                return Event.from_pb(r.event, pb.EventType.Name(r.event.type))
            self.cursor = max(self.cursor, r.cursor)

    def close(self) -> None:
        self._closed = True
        if self._call is not None:
            self._call.cancel()

    def __enter__(self):
        return self

    def __exit__(self, *exc):
        self.close()
