"""Administration calls of the Client (the Admin service): tokens, keys,
garbage collection, pruning, backups, format, quarantined embeddings, ingest
operators.
Mixed into aifs.Client; see there for conventions and thread safety."""
from __future__ import annotations

from typing import Dict, Optional, Sequence

from ._wire import IdLike, _id, _pb
from .types import hexid


class AdminMixin:
    """Admin calls; needs the token's `admin` operation."""


    def mint_token(self, caveats: Sequence[str] = ()) -> str:
        """A new token from the server (carrying the caller's caveats too)."""
        pb, _ = _pb()
        return self._admin("MintToken", pb.MintTokenRequest(caveats=list(caveats))).token

    def revoke_token(self, token_or_id: str) -> None:
        pb, _ = _pb()
        self._admin("RevokeToken", pb.RevokeTokenRequest(token_or_id=token_or_id))

    def token_keys(self):
        """aifs.v1.ListTokenKeysResponse: root keys and revoked tokens."""
        pb, _ = _pb()
        return self._admin("ListTokenKeys", pb.Empty())

    def rotate_token_root(self, caveats: Sequence[str] = ()):
        pb, _ = _pb()
        return self._admin("RotateTokenRoot", pb.RotateTokenRootRequest(caveats=list(caveats)))

    def revoke_token_root(self, key_id: str) -> None:
        pb, _ = _pb()
        self._admin("RevokeTokenRoot", pb.RevokeTokenRootRequest(key_id=key_id))

    def url_keys(self):
        """Pre-signed URL keys: aifs.v1.ListTokenKeysResponse."""
        pb, _ = _pb()
        return self._admin("ListUrlKeys", pb.Empty())

    def rotate_url_key(self) -> str:
        pb, _ = _pb()
        return self._admin("RotateUrlKey", pb.Empty()).key_id

    def revoke_url_key(self, key_id: str) -> None:
        pb, _ = _pb()
        self._admin("RevokeUrlKey", pb.RevokeTokenRootRequest(key_id=key_id))

    def gc(self, dry_run: bool = False):
        """Admin: collects garbage; aifs.v1.CollectGarbageResponse."""
        pb, _ = _pb()
        return self._admin("CollectGarbage", pb.CollectGarbageRequest(dry_run=dry_run))

    def prune(self, ns: str, dry_run: bool = False, **keep):
        """Admin: prunes snapshots (keep_snapshots=, keep_daily=, ...)."""
        pb, _ = _pb()
        return self._admin("PruneSnapshots", pb.PruneSnapshotsRequest(ns=ns, dry_run=dry_run,
                                                                      **keep))

    def rotate_key(self) -> str:
        pb, _ = _pb()
        return self._admin("RotateKey", pb.Empty()).key_id

    def check_metadata(self):
        pb, _ = _pb()
        return self._admin("CheckMetadata", pb.Empty())

    def backup(self, dir: str):
        """Admin: a backup into `dir` on the server's machine."""
        pb, _ = _pb()
        return self._admin("Backup", pb.BackupRequest(dir=dir))

    def rewrap_keys(self, **kw):
        pb, _ = _pb()
        return self._admin("RewrapKeys", pb.RewrapKeysRequest(**kw))

    def format(self, dry_run: bool = False, who: str = "", rebuild_index: bool = False):
        """Admin: brings the store's base structures into place; returns the
        aifs.v1.FormatReport (steps as they finished)."""
        pb, _ = _pb()
        report = None
        for p in self._stream(1, "Format", pb.FormatRequest(dry_run=dry_run, who=who,
                                                            rebuild_index=rebuild_index)):
            if p.HasField("done"):
                report = p.done
        return report

    def format_history(self):
        pb, _ = _pb()
        return list(self._admin("FormatHistory", pb.Empty()).runs)

    def pending_embeddings(self, ns: str, space: str = "", limit: int = 0):
        pb, _ = _pb()
        r = self._admin("ListPendingEmbeddings", pb.ListPendingEmbeddingsRequest(
            ns=ns, space=space, limit=limit))
        return [(hexid(p.id), p.space) for p in r.pending]

    def review_embeddings(self, ns: str, approve: bool, space: str = "",
                          ids: Sequence[IdLike] = ()) -> int:
        pb, _ = _pb()
        return self._admin("ReviewEmbeddings", pb.ReviewEmbeddingsRequest(
            ns=ns, space=space, ids=[_id(i) for i in ids], approve=approve)).reviewed

    # Ingest operators (docs/operators.md). Results are aifs.v1.OperatorInfo /
    # OperatorFailure messages.
    def add_operator(self, ns: str, name: str, kind: str, match: str = "",
                     params: Optional[Dict[str, str]] = None, backfill: bool = False):
        """Store admin: adds an operator; `params` are the kind's settings."""
        pb, _ = _pb()
        return self._admin("AddOperator", pb.OperatorSpec(
            ns=ns, name=name, kind=kind, match=match,
            params={k: str(v) for k, v in (params or {}).items()}, backfill=backfill))

    def operators(self, ns: str):
        pb, _ = _pb()
        return list(self._admin("ListOperators", pb.ListOperatorsRequest(ns=ns)).operators)

    def remove_operator(self, ns: str, name: str) -> None:
        pb, _ = _pb()
        self._admin("RemoveOperator", pb.OperatorRef(ns=ns, name=name))

    def pause_operator(self, ns: str, name: str, paused: bool = True):
        pb, _ = _pb()
        return self._admin("PauseOperator", pb.PauseOperatorRequest(ns=ns, name=name, paused=paused))

    def operator_failures(self, ns: str, name: str, limit: int = 1000):
        pb, _ = _pb()
        return list(self._admin("ListOperatorFailures", pb.ListOperatorFailuresRequest(
            ns=ns, name=name, limit=limit)).failures)

    def resolve_operator_failures(self, ns: str, name: str, retry: bool,
                                  assets: Sequence[IdLike] = ()) -> int:
        """Takes failures (all when `assets` is empty) off the dead-letter
        list: run again (`retry`) or dropped."""
        pb, _ = _pb()
        return self._admin("ResolveOperatorFailures", pb.ResolveOperatorFailuresRequest(
            ns=ns, name=name, assets=[_id(a) for a in assets], retry=retry)).resolved

    def drain_operator(self, ns: str, name: str, timeout: float = 60.0):
        """Waits until the operator has dealt with every asset committed so
        far; DeadlineExceeded OPERATOR_BEHIND after `timeout` seconds."""
        pb, _ = _pb()
        return self._unary(1, "DrainOperator", pb.DrainOperatorRequest(
            ns=ns, name=name, timeout_ms=int(timeout * 1000)), timeout=timeout + 30)
