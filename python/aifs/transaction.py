"""Multi-asset transactions (Client.transaction)."""
from __future__ import annotations

from typing import TYPE_CHECKING, List, Optional

from . import errors
from ._wire import _pb
from .errors import AifsError
from .types import PutResult

if TYPE_CHECKING:
    from .client import Client


class Transaction:
    """An open multi-asset transaction (from :meth:`Client.transaction`).

    Puts are staged (`PutResult.staged`) and published at commit, all or
    none. As a context manager it begins on entry, commits on a clean exit and
    aborts when the block raises. `results` holds the committed PutResults.
    Not thread-safe.
    """

    def __init__(self, client: Client, ns: str):
        self.client, self.ns = client, ns
        self.id: Optional[str] = None
        self.expires_unix_ns = 0
        self.results: List[PutResult] = []

    def begin(self) -> "Transaction":
        pb, _ = _pb()
        r = self.client._aifs("BeginTransaction", pb.BeginTransactionRequest(ns=self.ns))
        self.id, self.expires_unix_ns = r.transaction_id, r.expires_unix_ns
        return self

    def put(self, data, **kw) -> PutResult:
        if self.id is None:
            raise errors.FailedPrecondition("transaction not begun", "TRANSACTION_NOT_BEGUN")
        return self.client.put(self.ns, data, transaction=self.id, **kw)

    def commit(self) -> List[PutResult]:
        pb, _ = _pb()
        r = self.client._aifs("CommitTransaction",
                              pb.CommitTransactionRequest(transaction_id=self.id))
        self.id = None
        self.results = [PutResult.from_pb(a) for a in r.assets]
        return self.results

    def abort(self) -> None:
        pb, _ = _pb()
        tid, self.id = self.id, None
        if tid:
            self.client._aifs("AbortTransaction", pb.AbortTransactionRequest(transaction_id=tid))

    def __enter__(self) -> "Transaction":
        return self.begin()

    def __exit__(self, exc_type, exc, tb):
        if exc_type is None:
            self.commit()
        else:
            try:
                self.abort()
            except AifsError:
                pass  # the original exception matters more
        return False
