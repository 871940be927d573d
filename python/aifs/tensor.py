"""Tensor assets: NumPy arrays <-> Arrow IPC streams, in pure Python.

A tensor asset (docs/tensor-format.md) is an Arrow IPC stream with one
column of the canonical extension type ``arrow.fixed_shape_tensor``: a
FixedSizeList of the values, one row per tensor, C order, little-endian.
This module writes such streams the way AIFS does (Schema message, one
RecordBatch whose body starts 64-byte aligned, end-of-stream marker) and reads
everything AIFS accepts (several batches, legacy framing without the
continuation marker, buffers at any offset), without pyarrow: the Arrow
metadata is FlatBuffers, read here by a small table reader and written with
the ``flatbuffers`` runtime (python3-flatbuffers).

dtypes: bool, int8-64, uint8-64, float16/32/64, and bfloat16 (NumPy has
none: stored as uint16 bit patterns with ``aifs:dtype = bfloat16``; decoded
to float32 exactly, or to the raw uint16 patterns on request).

Errors are :class:`aifs.errors.InvalidArgument` with the reasons the engine
uses (``TENSOR_BAD_IPC``, ``TENSOR_TRUNCATED``, ``TENSOR_NOT_FIXED_SHAPE``,
``TENSOR_UNSUPPORTED_TYPE``, ``TENSOR_SHAPE_OVERFLOW``, ``TENSOR_TOO_MANY_DIMS``,
``TENSOR_BUFFER_SHORT``, ``TENSOR_BAD_OFFSET``, ``TENSOR_HAS_NULLS``,
``TENSOR_COMPRESSED``). Thread safety: pure functions.
"""
from __future__ import annotations

import json
import struct
from dataclasses import dataclass
from typing import List, Optional, Sequence, Tuple, Union

import numpy as np

from .errors import InvalidArgument

__all__ = ["DTYPES", "Tensor", "encode", "decode", "to_numpy", "bfloat16_to_float32",
           "float32_to_bfloat16"]

MAX_DIMS = 32
_CONT = 0xFFFFFFFF
# Arrow Type union ids (schemas/arrow/Schema.fbs) and MessageHeader ids.
_T_INT, _T_FLOAT, _T_BOOL, _T_FSL = 2, 3, 6, 16
_H_SCHEMA, _H_DICT, _H_BATCH = 1, 2, 3
_V4, _V5 = 3, 4

# dtype name -> (numpy dtype, arrow type id, bit width or precision, signed)
DTYPES = {
    "bool": (np.dtype(np.bool_), _T_BOOL, 0, False),
    "int8": (np.dtype("<i1"), _T_INT, 8, True),
    "int16": (np.dtype("<i2"), _T_INT, 16, True),
    "int32": (np.dtype("<i4"), _T_INT, 32, True),
    "int64": (np.dtype("<i8"), _T_INT, 64, True),
    "uint8": (np.dtype("<u1"), _T_INT, 8, False),
    "uint16": (np.dtype("<u2"), _T_INT, 16, False),
    "uint32": (np.dtype("<u4"), _T_INT, 32, False),
    "uint64": (np.dtype("<u8"), _T_INT, 64, False),
    "float16": (np.dtype("<f2"), _T_FLOAT, 0, False),
    "float32": (np.dtype("<f4"), _T_FLOAT, 1, False),
    "float64": (np.dtype("<f8"), _T_FLOAT, 2, False),
    "bfloat16": (np.dtype("<u2"), _T_INT, 16, False),
}
_BY_NUMPY = {v[0]: k for k, v in DTYPES.items() if k != "bfloat16"}


def _bad(reason: str, why: str) -> InvalidArgument:
    return InvalidArgument("tensor: " + why, reason)


@dataclass
class Tensor:
    """A decoded tensor asset: `rows` tensors of `shape`, element type `dtype`.

    `values` is a NumPy array of shape ``(rows, *shape)`` (bfloat16: uint16
    bit patterns).
    """
    dtype: str
    shape: Tuple[int, ...]
    rows: int
    values: np.ndarray


def bfloat16_to_float32(bits: np.ndarray) -> np.ndarray:
    """Widens bfloat16 bit patterns (uint16) to float32, exactly."""
    b = np.asarray(bits, dtype=np.uint16)
    wide = b.reshape(-1).astype(np.uint32) << np.uint32(16)
    return wide.view(np.float32).reshape(b.shape)


def float32_to_bfloat16(x: np.ndarray) -> np.ndarray:
    """bfloat16 bit patterns (uint16) of float32 values, rounded to nearest even
    (NaNs stay NaNs)."""
    x = np.asarray(x, dtype=np.float32, order="C")
    u = x.reshape(-1).view(np.uint32)
    one, half = np.uint32(1), np.uint32(0x7FFF)
    rounded = ((u + half + ((u >> np.uint32(16)) & one)) >> np.uint32(16)).astype(np.uint16)
    nan = np.isnan(x.reshape(-1))
    if nan.any():
        quiet = ((u >> np.uint32(16)) | np.uint32(0x40)).astype(np.uint16)
        rounded = np.where(nan, quiet, rounded)
    return rounded.reshape(x.shape)


# ---- encoding --------------------------------------------------------------


def _pad(n: int, to: int) -> int:
    return (to - n % to) % to


def _schema_message(dtype: str, shape: Sequence[int]) -> bytes:
    """The Schema message. Objects and fields are added in the order of the C++
    encoder (flatc's Create* helpers, arguments evaluated right to left), so
    the bytes, and hence the asset ID, equal what `aifs put --kind tensor`
    writes for the same tensor."""
    import flatbuffers  # python3-flatbuffers; only writers need it

    b = flatbuffers.Builder(1024)
    _, type_id, width, signed = DTYPES[dtype]
    if type_id == _T_INT:
        b.StartObject(2)
        b.PrependInt32Slot(0, width, 0)
        b.PrependBoolSlot(1, signed, False)
    elif type_id == _T_FLOAT:
        b.StartObject(1)
        b.PrependInt16Slot(0, width, 0)
    else:
        b.StartObject(0)
    value_type = b.EndObject()
    b.StartVector(4, 0, 4)
    no_children = b.EndVector()
    item_name = b.CreateString("item")
    item = _field(b, item_name, True, type_id, value_type, no_children, None)
    pairs = [("ARROW:extension:name", "arrow.fixed_shape_tensor"),
             ("ARROW:extension:metadata",
              json.dumps({"shape": [int(d) for d in shape]}, separators=(",", ":")))]
    if dtype == "bfloat16":
        pairs.append(("aifs:dtype", "bfloat16"))
    kvs = []
    for k, v in pairs:
        vo = b.CreateString(v)
        ko = b.CreateString(k)
        b.StartObject(2)
        b.PrependUOffsetTRelativeSlot(1, vo, 0)
        b.PrependUOffsetTRelativeSlot(0, ko, 0)
        kvs.append(b.EndObject())
    b.StartVector(4, len(kvs), 4)
    for o in reversed(kvs):
        b.PrependUOffsetTRelative(o)
    metadata = b.EndVector()
    b.StartVector(4, 1, 4)
    b.PrependUOffsetTRelative(item)
    children = b.EndVector()
    b.StartObject(1)
    b.PrependInt32Slot(0, int(np.prod(shape, dtype=np.int64)), 0)
    fsl = b.EndObject()
    name = b.CreateString("tensor")
    field = _field(b, name, False, _T_FSL, fsl, children, metadata)
    b.StartVector(4, 1, 4)
    b.PrependUOffsetTRelative(field)
    fields = b.EndVector()
    b.StartObject(4)
    b.PrependUOffsetTRelativeSlot(1, fields, 0)
    schema = b.EndObject()
    return _message(b, _H_SCHEMA, schema, 0)


def _field(b, name, nullable, type_id, type_off, children, metadata):
    b.StartObject(7)
    if metadata is not None:
        b.PrependUOffsetTRelativeSlot(6, metadata, 0)
    b.PrependUOffsetTRelativeSlot(5, children, 0)
    b.PrependUOffsetTRelativeSlot(3, type_off, 0)
    b.PrependUOffsetTRelativeSlot(0, name, 0)
    b.PrependUint8Slot(2, type_id, 0)
    b.PrependBoolSlot(1, nullable, False)
    return b.EndObject()


def _batch_message(rows: int, n_values: int, values_len: int, body_len: int) -> bytes:
    import flatbuffers

    b = flatbuffers.Builder(512)
    b.StartVector(16, 3, 8)
    for off, length in reversed([(0, 0), (0, 0), (0, values_len)]):
        b.Prep(8, 16)
        b.PrependInt64(length)
        b.PrependInt64(off)
    buffers = b.EndVector()
    b.StartVector(16, 2, 8)
    for length in reversed([rows, n_values]):
        b.Prep(8, 16)
        b.PrependInt64(0)
        b.PrependInt64(length)
    nodes = b.EndVector()
    b.StartObject(5)
    b.PrependInt64Slot(0, rows, 0)
    b.PrependUOffsetTRelativeSlot(2, buffers, 0)
    b.PrependUOffsetTRelativeSlot(1, nodes, 0)
    batch = b.EndObject()
    return _message(b, _H_BATCH, batch, body_len)


def _message(b, header_type: int, header: int, body_len: int) -> bytes:
    b.StartObject(5)  # fields in flatc's order: by size, then last field first
    b.PrependInt64Slot(3, body_len, 0)
    b.PrependUOffsetTRelativeSlot(2, header, 0)
    b.PrependInt16Slot(0, _V5, 0)
    b.PrependUint8Slot(1, header_type, 0)
    b.Finish(b.EndObject())
    return bytes(b.Output())


def _frame(meta: bytes, at: int) -> bytes:
    """Encapsulates `meta` so that whatever follows starts 64-aligned, given the
    message starts at stream offset `at`."""
    pad = _pad(at + 8 + len(meta), 64)
    return struct.pack("<Ii", _CONT, len(meta) + pad) + meta + b"\0" * pad


def encode(array, dtype: Optional[str] = None, rows: Optional[int] = None) -> bytes:
    """The Arrow IPC stream of a tensor asset holding `array`.

    Args:
        array: anything np.asarray accepts (NumPy array, nested lists, a torch
            CPU tensor through __array__). Converted to C order little-endian.
        dtype: override the element type name (see DTYPES); "bfloat16" takes
            uint16 bit patterns as they are and rounds floating values.
        rows: None: the whole array is one tensor (1 row). An int: the array's
            first dimension is the rows (must equal it); the rest is the shape.
    Raises:
        InvalidArgument TENSOR_UNSUPPORTED_TYPE (other dtypes),
        TENSOR_TOO_MANY_DIMS (> 32 dims), TENSOR_SHAPE_OVERFLOW (> 2^31-1
        elements per row).
    """
    a = np.asarray(array)
    if dtype is None:
        dtype = _BY_NUMPY.get(a.dtype.newbyteorder("<") if a.dtype.byteorder == ">" else a.dtype)
        if dtype is None:
            raise _bad("TENSOR_UNSUPPORTED_TYPE", "unsupported dtype %s" % a.dtype)
    if dtype not in DTYPES:
        raise _bad("TENSOR_UNSUPPORTED_TYPE", "unknown dtype %r" % dtype)
    if dtype == "bfloat16" and a.dtype.kind == "f":
        a = float32_to_bfloat16(a)
    a = np.asarray(a, dtype=DTYPES[dtype][0], order="C")  # keeps 0-d arrays 0-d
    if rows is None:
        shape, nrows = a.shape, 1
    else:
        if a.ndim == 0 or a.shape[0] != rows:
            raise InvalidArgument("tensor: rows=%d but the first dimension is %s"
                                  % (rows, a.shape[:1]), "TENSOR_NOT_FIXED_SHAPE")
        shape, nrows = a.shape[1:], rows
    if len(shape) > MAX_DIMS:
        raise _bad("TENSOR_TOO_MANY_DIMS", "%d dimensions (at most %d)" % (len(shape), MAX_DIMS))
    per_row = int(np.prod(shape, dtype=np.int64))
    if per_row > 2**31 - 1:
        raise _bad("TENSOR_SHAPE_OVERFLOW", "%d elements per row (Arrow's listSize is int32; "
                   "split the tensor into rows)" % per_row)
    n = per_row * nrows
    if dtype == "bool":
        values = np.packbits(a.reshape(-1), bitorder="little").tobytes()
    else:
        values = a.reshape(-1).view(np.uint8)  # no copy
    body_len = len(values) + _pad(len(values), 8)
    schema = _frame(_schema_message(dtype, shape), 0)
    batch = _frame(_batch_message(nrows, n, len(values), body_len), len(schema))
    out = bytearray(len(schema) + len(batch) + body_len + 8)
    out[:len(schema)] = schema
    at = len(schema) + len(batch)
    out[len(schema):at] = batch
    out[at:at + len(values)] = memoryview(values)
    out[at + body_len:] = struct.pack("<Ii", _CONT, 0)
    return bytes(out)


# ---- decoding --------------------------------------------------------------


class _Table:
    """A FlatBuffers table at `pos` of `buf`, read defensively (every offset
    checked against the buffer; a violation is TENSOR_BAD_IPC)."""

    __slots__ = ("buf", "pos", "vt", "vt_len")

    def __init__(self, buf: bytes, pos: int):
        self.buf, self.pos = buf, pos
        self.vt = pos - self._i32(pos)
        self.vt_len = self._u16(self.vt)

    def _chk(self, at: int, n: int) -> None:
        if at < 0 or at + n > len(self.buf):
            raise _bad("TENSOR_BAD_IPC", "metadata FlatBuffer offset out of bounds")

    def _i32(self, at):
        self._chk(at, 4)
        return struct.unpack_from("<i", self.buf, at)[0]

    def _u16(self, at):
        self._chk(at, 2)
        return struct.unpack_from("<H", self.buf, at)[0]

    def _field(self, slot: int) -> int:
        o = 4 + 2 * slot
        if o + 2 > self.vt_len:
            return 0
        return self._u16(self.vt + o)

    def scalar(self, slot: int, fmt: str, default=0):
        o = self._field(slot)
        if not o:
            return default
        self._chk(self.pos + o, struct.calcsize(fmt))
        return struct.unpack_from("<" + fmt, self.buf, self.pos + o)[0]

    def _ref(self, slot: int) -> Optional[int]:
        o = self._field(slot)
        if not o:
            return None
        at = self.pos + o
        return at + self._i32(at)

    def table(self, slot: int) -> Optional["_Table"]:
        at = self._ref(slot)
        return None if at is None else _Table(self.buf, at)

    def string(self, slot: int) -> Optional[str]:
        at = self._ref(slot)
        if at is None:
            return None
        n = self._i32(at)
        self._chk(at + 4, n)
        return bytes(self.buf[at + 4:at + 4 + n]).decode("utf-8", "replace")

    def vector(self, slot: int) -> Tuple[int, int]:
        """(start, length) of a vector field; (0, 0) if absent."""
        at = self._ref(slot)
        if at is None:
            return 0, 0
        n = self._i32(at)
        if n < 0:
            raise _bad("TENSOR_BAD_IPC", "negative vector length")
        return at + 4, n

    def tables(self, slot: int) -> List["_Table"]:
        start, n = self.vector(slot)
        self._chk(start, 4 * n)
        return [_Table(self.buf, start + 4 * i + self._i32(start + 4 * i)) for i in range(n)]

    def structs(self, slot: int, size: int) -> List[Tuple[int, int]]:
        start, n = self.vector(slot)
        self._chk(start, size * n)
        return [struct.unpack_from("<qq", self.buf, start + size * i) for i in range(n)]


@dataclass
class _Schema:
    dtype: str
    shape: Tuple[int, ...]
    per_row: int


def _value_dtype(item: _Table, aifs_dtype: Optional[str]) -> str:
    t = item.scalar(2, "B")
    vt = item.table(3)
    if t == _T_BOOL:
        name = "bool"
    elif t == _T_INT and vt is not None:
        width, signed = vt.scalar(0, "i"), vt.scalar(1, "?", False)
        name = {(8, True): "int8", (16, True): "int16", (32, True): "int32", (64, True): "int64",
                (8, False): "uint8", (16, False): "uint16", (32, False): "uint32",
                (64, False): "uint64"}.get((width, bool(signed)))
    elif t == _T_FLOAT and vt is not None:
        name = {0: "float16", 1: "float32", 2: "float64"}.get(vt.scalar(0, "h"))
    else:
        name = None
    if name is None:
        raise _bad("TENSOR_UNSUPPORTED_TYPE", "value type %d is not Bool, Int or FloatingPoint" % t)
    if item.table(4) is not None:
        raise _bad("TENSOR_UNSUPPORTED_TYPE", "dictionary-encoded values")
    if aifs_dtype is not None:
        if aifs_dtype != "bfloat16" or name != "uint16":
            raise _bad("TENSOR_UNSUPPORTED_TYPE", "aifs:dtype %r on %s" % (aifs_dtype, name))
        name = "bfloat16"
    return name


def _parse_schema(s: _Table) -> _Schema:
    if s.scalar(0, "h") != 0:
        raise _bad("TENSOR_UNSUPPORTED_TYPE", "big-endian schema")
    fields = s.tables(1)
    if len(fields) != 1:
        raise _bad("TENSOR_NOT_FIXED_SHAPE", "%d fields (want 1)" % len(fields))
    f = fields[0]
    children = f.tables(5)
    fsl = f.table(3)
    if f.scalar(2, "B") != _T_FSL or fsl is None or len(children) != 1:
        raise _bad("TENSOR_NOT_FIXED_SHAPE", "the field is not a FixedSizeList with one child")
    if f.table(4) is not None:
        raise _bad("TENSOR_UNSUPPORTED_TYPE", "dictionary-encoded field")
    meta = {kv.string(0): kv.string(1) for kv in f.tables(6)}
    if meta.get("ARROW:extension:name") != "arrow.fixed_shape_tensor":
        raise _bad("TENSOR_NOT_FIXED_SHAPE", "not an arrow.fixed_shape_tensor column")
    try:
        ext = json.loads(meta.get("ARROW:extension:metadata") or "")
        shape = ext["shape"]
        if not isinstance(shape, list) or not all(
                isinstance(d, int) and not isinstance(d, bool) for d in shape):
            raise ValueError
    except (ValueError, KeyError, TypeError):
        raise _bad("TENSOR_NOT_FIXED_SHAPE", "no or malformed ARROW:extension:metadata shape")
    perm = ext.get("permutation") if isinstance(ext, dict) else None
    if perm is not None and perm != list(range(len(shape))):
        raise _bad("TENSOR_UNSUPPORTED_TYPE", "a non-identity permutation")
    if len(shape) > MAX_DIMS:
        raise _bad("TENSOR_TOO_MANY_DIMS", "%d dimensions" % len(shape))
    if any(d < 0 for d in shape):
        raise _bad("TENSOR_SHAPE_OVERFLOW", "a negative dimension")
    per_row = 1
    for d in shape:
        per_row *= d
    if per_row >= 2**63:
        raise _bad("TENSOR_SHAPE_OVERFLOW", "prod(shape) overflows int64")
    if fsl.scalar(0, "i") != per_row:
        raise _bad("TENSOR_NOT_FIXED_SHAPE", "listSize %d != prod(shape) %d"
                   % (fsl.scalar(0, "i"), per_row))
    return _Schema(_value_dtype(children[0], meta.get("aifs:dtype")), tuple(shape), per_row)


def decode(data: Union[bytes, bytearray, memoryview]) -> Tensor:
    """Decodes a tensor asset's bytes (everything AIFS accepts).

    The values are a view into `data` when there is one batch and the dtype is
    not bool (read-only if `data` is bytes); otherwise a new array.
    Raises InvalidArgument with a TENSOR_* reason for anything else.
    """
    buf = memoryview(data).cast("B")
    pos, schema, batches, ended = 0, None, [], False
    while pos < len(buf):
        if pos + 4 > len(buf):
            raise _bad("TENSOR_TRUNCATED", "the stream ends inside a message")
        (m,) = struct.unpack_from("<I", buf, pos)
        pos += 4
        if m == _CONT:
            if pos + 4 > len(buf):
                raise _bad("TENSOR_TRUNCATED", "the stream ends inside a message")
            (m,) = struct.unpack_from("<I", buf, pos)
            pos += 4
        if m >= 2**31:
            raise _bad("TENSOR_BAD_IPC", "negative metadata length")
        if m == 0:
            ended = True
            break
        if pos + m > len(buf):
            raise _bad("TENSOR_TRUNCATED", "the stream ends inside a message's metadata")
        meta = bytes(buf[pos:pos + m])
        pos += m
        if len(meta) < 8:
            raise _bad("TENSOR_BAD_IPC", "metadata too short")
        msg = _Table(meta, struct.unpack_from("<I", meta, 0)[0])
        version, htype = msg.scalar(0, "h"), msg.scalar(1, "B")
        header, body_len = msg.table(2), msg.scalar(3, "q")
        if version < _V4:
            raise _bad("TENSOR_BAD_IPC", "metadata version %d < V4" % version)
        if body_len < 0:
            raise _bad("TENSOR_BAD_IPC", "negative bodyLength")
        if pos + body_len > len(buf):
            raise _bad("TENSOR_TRUNCATED", "the stream ends inside a message body")
        body = buf[pos:pos + body_len]
        pos += body_len
        if header is None:
            raise _bad("TENSOR_BAD_IPC", "a message without header")
        if htype == _H_SCHEMA:
            if schema is not None or body_len:
                raise _bad("TENSOR_BAD_IPC", "a second schema or a schema with a body")
            schema = _parse_schema(header)
        elif htype == _H_BATCH:
            if schema is None:
                raise _bad("TENSOR_BAD_IPC", "a record batch before the schema")
            batches.append(_batch_values(header, body, schema))
        elif htype == _H_DICT:
            raise _bad("TENSOR_UNSUPPORTED_TYPE", "dictionary batches")
        else:
            raise _bad("TENSOR_BAD_IPC", "message header type %d" % htype)
    if not ended:
        raise _bad("TENSOR_TRUNCATED", "no end-of-stream marker")
    if pos != len(buf):
        raise _bad("TENSOR_BAD_IPC", "bytes after the end-of-stream marker")
    if schema is None:
        raise _bad("TENSOR_BAD_IPC", "end of stream before a schema")
    npdt = DTYPES[schema.dtype][0]
    rows = sum(r for r, _ in batches)
    if len(batches) == 1:
        flat = batches[0][1]
    elif batches:
        flat = np.concatenate([v for _, v in batches])
    else:
        flat = np.zeros(0, dtype=npdt)
    return Tensor(schema.dtype, schema.shape, rows, flat.reshape((rows,) + schema.shape))


def _batch_values(rb: _Table, body: memoryview, schema: _Schema) -> Tuple[int, np.ndarray]:
    if rb.table(3) is not None:
        raise _bad("TENSOR_COMPRESSED", "compressed record batch")
    rows = rb.scalar(0, "q")
    nodes, buffers = rb.structs(1, 16), rb.structs(2, 16)
    if len(nodes) != 2 or len(buffers) != 3:
        raise _bad("TENSOR_BAD_IPC", "%d field nodes / %d buffers (want 2 / 3)"
                   % (len(nodes), len(buffers)))
    if rb.vector(4)[1]:
        raise _bad("TENSOR_BAD_IPC", "variadic buffer counts")
    if rows < 0 or schema.per_row and rows > (2**63 - 1) // schema.per_row:
        raise _bad("TENSOR_SHAPE_OVERFLOW", "rows * listSize overflows")
    n = rows * schema.per_row
    if nodes[0][0] != rows or nodes[1][0] != n:
        raise _bad("TENSOR_BAD_IPC", "node lengths disagree with the batch length and listSize")
    if nodes[0][1] or nodes[1][1]:
        raise _bad("TENSOR_HAS_NULLS", "null count > 0")
    for off, length in buffers:
        if off < 0 or length < 0 or off + length > len(body):
            raise _bad("TENSOR_BAD_OFFSET", "a buffer outside the body")
    off, length = buffers[2]
    npdt = DTYPES[schema.dtype][0]
    if schema.dtype == "bool":
        need = (n + 7) // 8
        if length < need:
            raise _bad("TENSOR_BUFFER_SHORT",
                       "values buffer of %d bytes, %d needed" % (length, need))
        bits = np.frombuffer(body, dtype=np.uint8, count=need, offset=off)
        return rows, np.unpackbits(bits, bitorder="little", count=n).astype(np.bool_)
    need = n * npdt.itemsize
    if length < need:
        raise _bad("TENSOR_BUFFER_SHORT", "values buffer of %d bytes, %d needed" % (length, need))
    return rows, np.frombuffer(body, dtype=npdt, count=n, offset=off)


def to_numpy(t: Tensor, bfloat16: str = "float32") -> np.ndarray:
    """The tensor as one array: its shape when it has 1 row, else (rows, *shape)
    (the convention of `aifs tensor2npy`). bfloat16 becomes float32 (exact), or
    stays uint16 bit patterns with bfloat16="raw"."""
    v = t.values if t.rows != 1 else t.values.reshape(t.shape)
    if t.dtype == "bfloat16" and bfloat16 != "raw":
        v = bfloat16_to_float32(v)
    return v
