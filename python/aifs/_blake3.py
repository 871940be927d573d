"""BLAKE3-256 (unkeyed) for proof checking, in pure Python.

Written from the BLAKE3 specification (chunks of 1024 bytes in 64-byte blocks,
7-round compression, a binary tree of chaining values). It runs at a few
MB/s, plenty for Merkle nodes and snapshot IDs; the `blake3` module is used
instead when it is installed. Thread safety: pure function.
"""
from __future__ import annotations

import struct

try:  # pragma: no cover - optional accelerator
    from blake3 import blake3 as _native
except ImportError:  # Debian 12 packages none
    _native = None

_IV = (0x6A09E667, 0xBB67AE85, 0x3C6EF372, 0xA54FF53A,
       0x510E527F, 0x9B05688C, 0x1F83D9AB, 0x5BE0CD19)
_PERM = (2, 6, 3, 10, 7, 0, 4, 13, 1, 11, 12, 5, 9, 14, 15, 8)
_CHUNK_START, _CHUNK_END, _PARENT, _ROOT = 1, 2, 4, 8
_M = 0xFFFFFFFF
_CHUNK = 1024


def _g(s, a, b, c, d, x, y):
    sa = (s[a] + s[b] + x) & _M
    sd = s[d] ^ sa
    sd = ((sd >> 16) | (sd << 16)) & _M
    sc = (s[c] + sd) & _M
    sb = s[b] ^ sc
    sb = ((sb >> 12) | (sb << 20)) & _M
    sa = (sa + sb + y) & _M
    sd ^= sa
    sd = ((sd >> 8) | (sd << 24)) & _M
    sc = (sc + sd) & _M
    sb ^= sc
    s[a], s[b], s[c], s[d] = sa, ((sb >> 7) | (sb << 25)) & _M, sc, sd


def _compress(cv, block: bytes, counter: int, block_len: int, flags: int):
    m = list(struct.unpack("<16I", block))
    s = list(cv) + list(_IV[:4]) + [counter & _M, (counter >> 32) & _M, block_len, flags]
    for r in range(7):
        _g(s, 0, 4, 8, 12, m[0], m[1])
        _g(s, 1, 5, 9, 13, m[2], m[3])
        _g(s, 2, 6, 10, 14, m[4], m[5])
        _g(s, 3, 7, 11, 15, m[6], m[7])
        _g(s, 0, 5, 10, 15, m[8], m[9])
        _g(s, 1, 6, 11, 12, m[10], m[11])
        _g(s, 2, 7, 8, 13, m[12], m[13])
        _g(s, 3, 4, 9, 14, m[14], m[15])
        if r < 6:
            m = [m[i] for i in _PERM]
    return [s[i] ^ s[i + 8] for i in range(8)]


def _chunk_cv(data: bytes, index: int, root: bool):
    cv = _IV
    nblocks = max(1, (len(data) + 63) // 64)
    for i in range(nblocks):
        block = data[64 * i:64 * i + 64]
        flags = (_CHUNK_START if i == 0 else 0) | (_CHUNK_END if i == nblocks - 1 else 0)
        if root and i == nblocks - 1:
            flags |= _ROOT
        cv = _compress(cv, block.ljust(64, b"\0"), index, len(block), flags)
    return cv


def _subtree(data: bytes, first_chunk: int, root: bool):
    n = max(1, (len(data) + _CHUNK - 1) // _CHUNK)
    if n == 1:
        return _chunk_cv(data, first_chunk, root)
    left = 1 << ((n - 1).bit_length() - 1)  # largest power of two < n
    lcv = _subtree(data[:left * _CHUNK], first_chunk, False)
    rcv = _subtree(data[left * _CHUNK:], first_chunk + left, False)
    return _compress(_IV, struct.pack("<16I", *lcv, *rcv), 0, 64, _PARENT | (_ROOT if root else 0))


def blake3(data: bytes) -> bytes:
    """The 32-byte BLAKE3 hash of `data`."""
    if _native is not None:
        return _native(bytes(data)).digest()
    return struct.pack("<8I", *_subtree(bytes(data), 0, True))
