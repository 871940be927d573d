"""Exceptions for failed AIFS calls, one class per gRPC status code.

Every failure the server reports carries a google.rpc.Status in the
`grpc-status-details-bin` trailer whose details hold a google.rpc.ErrorInfo
(domain "aifs", reason = the stable AIFS reason such as ``ASSET_NOT_FOUND``,
metadata = extra facts such as ``chunks_checked``). :func:`from_rpc_error`
turns a :class:`grpc.RpcError` into the matching subclass of :class:`AifsError`
with ``.code`` (a :class:`grpc.StatusCode`), ``.reason`` (``""`` when the
server sent none, e.g. a transport failure) and ``.metadata`` (a dict).

Catch :class:`AifsError` for everything, or a class such as
:class:`NotFound` for one code; branch on ``.reason`` for the exact cause.

The two detail messages are decoded here from their wire format (three
fields, see ``proto/google/rpc``) instead of generated code, so the SDK never
registers ``google.rpc.*`` in protobuf's default descriptor pool, which
googleapis-common-protos may own in the same process.
"""
from __future__ import annotations

from typing import Dict, Optional, Tuple

import grpc

__all__ = [
    "AifsError", "Cancelled", "Unknown", "InvalidArgument", "DeadlineExceeded", "NotFound",
    "AlreadyExists", "PermissionDenied", "ResourceExhausted", "FailedPrecondition", "Aborted",
    "OutOfRange", "Unimplemented", "Internal", "Unavailable", "DataLoss", "Unauthenticated",
    "ProofError", "from_rpc_error",
]

_ERROR_INFO_TYPE = "type.googleapis.com/google.rpc.ErrorInfo"


class AifsError(Exception):
    """A failed AIFS call (or a client-side check with the same vocabulary).

    Attributes:
        code: the gRPC status code.
        reason: the stable AIFS reason (UPPER_SNAKE_CASE), "" if none was sent.
        message: the human-readable message.
        metadata: ErrorInfo metadata (str -> str), empty if none.
    """

    code: grpc.StatusCode = grpc.StatusCode.UNKNOWN

    def __init__(self, message: str = "", reason: str = "",
                 metadata: Optional[Dict[str, str]] = None,
                 code: Optional[grpc.StatusCode] = None):
        super().__init__(message)
        self.message = message
        self.reason = reason
        self.metadata = dict(metadata or {})
        if code is not None:
            self.code = code

    def __str__(self) -> str:
        head = self.code.name + (" " + self.reason if self.reason else "")
        return "%s: %s" % (head, self.message) if self.message else head


class Cancelled(AifsError):
    code = grpc.StatusCode.CANCELLED


class Unknown(AifsError):
    code = grpc.StatusCode.UNKNOWN


class InvalidArgument(AifsError):
    code = grpc.StatusCode.INVALID_ARGUMENT


class DeadlineExceeded(AifsError):
    code = grpc.StatusCode.DEADLINE_EXCEEDED


class NotFound(AifsError):
    code = grpc.StatusCode.NOT_FOUND


class AlreadyExists(AifsError):
    code = grpc.StatusCode.ALREADY_EXISTS


class PermissionDenied(AifsError):
    code = grpc.StatusCode.PERMISSION_DENIED


class ResourceExhausted(AifsError):
    code = grpc.StatusCode.RESOURCE_EXHAUSTED


class FailedPrecondition(AifsError):
    code = grpc.StatusCode.FAILED_PRECONDITION


class Aborted(AifsError):
    code = grpc.StatusCode.ABORTED


class OutOfRange(AifsError):
    code = grpc.StatusCode.OUT_OF_RANGE


class Unimplemented(AifsError):
    code = grpc.StatusCode.UNIMPLEMENTED


class Internal(AifsError):
    code = grpc.StatusCode.INTERNAL


class Unavailable(AifsError):
    code = grpc.StatusCode.UNAVAILABLE


class DataLoss(AifsError):
    code = grpc.StatusCode.DATA_LOSS


class Unauthenticated(AifsError):
    code = grpc.StatusCode.UNAUTHENTICATED


class ProofError(AifsError):
    """An offline proof or snapshot check of :mod:`aifs.proofs` failed, with the
    engine's code and reason for the same failure: INVALID_ARGUMENT
    MST_PROOF_INVALID, DATA_LOSS SNAPSHOT_ID_MISMATCH or SIGNATURE_INVALID,
    PERMISSION_DENIED KEY_MISMATCH. Never raised for a server's answer."""


_BY_CODE = {cls.code: cls for cls in (
    Cancelled, Unknown, InvalidArgument, DeadlineExceeded, NotFound, AlreadyExists,
    PermissionDenied, ResourceExhausted, FailedPrecondition, Aborted, OutOfRange, Unimplemented,
    Internal, Unavailable, DataLoss, Unauthenticated)}


def error_class(code: grpc.StatusCode) -> type:
    """The AifsError subclass for a gRPC code (AifsError itself for OK/unknown ones)."""
    return _BY_CODE.get(code, AifsError)


# ---- a minimal protobuf wire reader for google.rpc.Status / ErrorInfo ------


def _varint(buf: bytes, pos: int) -> Tuple[int, int]:
    value = shift = 0
    while True:
        if pos >= len(buf) or shift > 63:
            raise ValueError("truncated varint")
        b = buf[pos]
        pos += 1
        value |= (b & 0x7F) << shift
        if b < 0x80:
            return value, pos
        shift += 7


def _fields(buf, views: bool = False):
    """Yields (field number, wire type, value) of a serialized message;
    value is an int (varint/fixed) or bytes (length-delimited; a memoryview
    into `buf` with views=True)."""
    if views:
        buf = memoryview(buf)
    pos = 0
    while pos < len(buf):
        key, pos = _varint(buf, pos)
        num, wt = key >> 3, key & 7
        if wt == 0:
            v, pos = _varint(buf, pos)
        elif wt == 1:
            v, pos = int.from_bytes(buf[pos:pos + 8], "little"), pos + 8
        elif wt == 5:
            v, pos = int.from_bytes(buf[pos:pos + 4], "little"), pos + 4
        elif wt == 2:
            n, pos = _varint(buf, pos)
            if pos + n > len(buf):
                raise ValueError("truncated field")
            v = buf[pos:pos + n] if views else bytes(buf[pos:pos + n])
            pos += n
        else:
            raise ValueError("unsupported wire type %d" % wt)
        yield num, wt, v


def decode_status_details(blob: bytes) -> Tuple[str, Dict[str, str]]:
    """(reason, metadata) of the first ErrorInfo in a serialized google.rpc.Status.

    Status {code=1, message=2, details=3 (Any {type_url=1, value=2})};
    ErrorInfo {reason=1, domain=2, metadata=3 (map entry {key=1, value=2})}.
    Raises ValueError on malformed bytes.
    """
    for num, wt, any_ in _fields(blob):
        if num != 3 or wt != 2:
            continue
        type_url, value = "", b""
        for n, w, v in _fields(any_):
            if n == 1 and w == 2:
                type_url = v.decode()
            elif n == 2 and w == 2:
                value = v
        if type_url != _ERROR_INFO_TYPE:
            continue
        reason, metadata = "", {}
        for n, w, v in _fields(value):
            if n == 1 and w == 2:
                reason = v.decode()
            elif n == 3 and w == 2:
                key = val = ""
                for en, ew, ev in _fields(v):
                    if en == 1 and ew == 2:
                        key = ev.decode()
                    elif en == 2 and ew == 2:
                        val = ev.decode()
                metadata[key] = val
        return reason, metadata
    return "", {}


def from_rpc_error(e: grpc.RpcError) -> AifsError:
    """The AifsError for a failed call (a grpc.RpcError that is also a grpc.Call)."""
    code = e.code() if hasattr(e, "code") else grpc.StatusCode.UNKNOWN
    message = e.details() if hasattr(e, "details") else str(e)
    reason, metadata = "", {}
    trailers = e.trailing_metadata() if hasattr(e, "trailing_metadata") else None
    for key, value in trailers or ():
        if key == "grpc-status-details-bin":
            try:
                reason, metadata = decode_status_details(value)
            except ValueError:
                pass  # a garbled trailer: keep code and message
    return error_class(code)(message or "", reason, metadata, code)
