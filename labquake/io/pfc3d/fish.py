"""FISH binary files (Itasca PFC/FLAC ``file.open(name, 1, 0)`` output).

Layout, all little-endian: an int32 magic number ``178278912``, then records, each an
int32 type code followed by its payload:

====  ========  ==================================================
code  type      payload
====  ========  ==================================================
1     int       int32
2     float     float64
3     string    int32 length, then the bytes, padded to a multiple of 4
5     vector2   2 × float64
6     vector3   3 × float64
8     bool      int32 (0 false, anything else true)
====  ========  ==================================================

The reader parses bytes with :mod:`numpy` and :mod:`struct`; it never evaluates or
unpickles anything. A damaged file raises :class:`labquake.errors.DataFormatError` naming
the file, the record number and the byte offset.
"""

from __future__ import annotations

import os
import struct
from pathlib import Path

import numpy as np

from labquake.errors import DataFormatError

FISH_MAGIC = 178278912
_MAGIC_BYTES = struct.pack("<i", FISH_MAGIC)

T_INT, T_FLOAT, T_STRING, T_VEC2, T_VEC3, T_BOOL = 1, 2, 3, 5, 6, 8
TYPE_NAMES = {T_INT: "int", T_FLOAT: "float", T_STRING: "string", T_VEC2: "vector2", T_VEC3: "vector3", T_BOOL: "bool"}
_FIXED_SIZE = {T_INT: 4, T_FLOAT: 8, T_VEC2: 16, T_VEC3: 24, T_BOOL: 4}


def is_fish_binary(path: str | os.PathLike) -> bool:
    """True when the file starts with the FISH binary magic number."""
    try:
        with open(path, "rb") as fh:
            return fh.read(4) == _MAGIC_BYTES
    except OSError:
        return False


def read_fish_binary(path: str | os.PathLike) -> list:
    """Read every record of a FISH binary file.

    Returns a list of Python values: ``int``, ``float``, ``str``, ``bool``, and tuples of
    floats for vectors. Homogeneous files of floats or ints are decoded in one numpy pass.
    """
    path = Path(path)
    data = path.read_bytes()
    values, _types = decode_fish_bytes(data, str(path))
    return values


def decode_fish_bytes(data: bytes, where: str = "FISH binary data") -> tuple[list, list[int]]:
    """Decode FISH binary ``data``; returns (values, type codes), one entry per record."""
    if len(data) == 0:
        raise DataFormatError(f"{where}: empty file (expected a FISH binary file starting with magic number {FISH_MAGIC})")
    if len(data) < 4:
        raise DataFormatError(f"{where}: truncated FISH binary file: {len(data)} bytes, too short for the magic number")
    magic = struct.unpack_from("<i", data, 0)[0]
    if magic != FISH_MAGIC:
        raise DataFormatError(f"{where}: not a FISH binary file (magic number {magic}, expected {FISH_MAGIC})")
    body = memoryview(data)[4:]
    fast = _decode_homogeneous(body)
    if fast is not None:
        return fast
    return _decode_general(data, where)


def _decode_homogeneous(body: memoryview) -> tuple[list, list[int]] | None:
    """One-pass decoding when every record is a float (12-byte stride) or an int (8-byte)."""
    n = len(body)
    if n == 0:
        return [], []
    for code, vfmt, stride in ((T_FLOAT, "<f8", 12), (T_INT, "<i4", 8)):
        if n % stride:
            continue
        rec = np.frombuffer(body, dtype=np.dtype([("t", "<i4"), ("v", vfmt)], align=False))
        if rec.size and np.all(rec["t"] == code):
            vals = rec["v"].tolist()
            return vals, [code] * len(vals)
    return None


def _decode_general(data: bytes, where: str) -> tuple[list, list[int]]:
    values: list = []
    types: list[int] = []
    pos, end, rec = 4, len(data), 0
    unpack_i = struct.Struct("<i").unpack_from
    unpack_d = struct.Struct("<d").unpack_from
    unpack_dd = struct.Struct("<2d").unpack_from
    unpack_ddd = struct.Struct("<3d").unpack_from

    def truncated(need: int, what: str) -> DataFormatError:
        return DataFormatError(
            f"{where}: truncated FISH binary file: record {rec + 1} ({what}) at byte {pos} needs {need} bytes, "
            f"only {end - pos} left"
        )

    while pos < end:
        if end - pos < 4:
            raise truncated(4, "type code")
        code = unpack_i(data, pos)[0]
        start = pos
        pos += 4
        if code == T_STRING:
            if end - pos < 4:
                pos = start
                raise truncated(8, "string length")
            length = unpack_i(data, pos)[0]
            if length < 0:
                raise DataFormatError(f"{where}: record {rec + 1} at byte {start}: negative string length {length}")
            padded = (length + 3) // 4 * 4
            if end - (pos + 4) < padded:
                pos = start
                raise truncated(8 + padded, f"string of {length} bytes")
            raw = data[pos + 4 : pos + 4 + length]
            try:
                values.append(raw.decode("utf-8"))
            except UnicodeDecodeError:
                values.append(raw.decode("latin-1"))
            pos += 4 + padded
        elif code in _FIXED_SIZE:
            size = _FIXED_SIZE[code]
            if end - pos < size:
                pos = start
                raise truncated(4 + size, TYPE_NAMES[code])
            if code == T_INT:
                values.append(unpack_i(data, pos)[0])
            elif code == T_FLOAT:
                values.append(unpack_d(data, pos)[0])
            elif code == T_BOOL:
                values.append(bool(unpack_i(data, pos)[0]))
            elif code == T_VEC2:
                values.append(tuple(unpack_dd(data, pos)))
            else:
                values.append(tuple(unpack_ddd(data, pos)))
            pos += size
        else:
            raise DataFormatError(
                f"{where}: record {rec + 1} at byte {start}: unknown FISH type code {code} "
                f"(expected one of {sorted(TYPE_NAMES)})"
            )
        types.append(code)
        rec += 1
    return values, types


def encode_fish_values(values) -> bytes:
    """Encode Python values as FISH binary bytes (magic number included).

    ``bool`` → type 8, ``int`` → 1, ``float`` → 2, ``str`` → 3, a 2- or 3-sequence of
    numbers → vector 5 or 6. numpy scalars are accepted.
    """
    out = [_MAGIC_BYTES]
    for v in values:
        if isinstance(v, (bool, np.bool_)):
            out.append(struct.pack("<ii", T_BOOL, int(bool(v))))
        elif isinstance(v, (int, np.integer)):
            out.append(struct.pack("<ii", T_INT, int(v)))
        elif isinstance(v, (float, np.floating)):
            out.append(struct.pack("<id", T_FLOAT, float(v)))
        elif isinstance(v, str):
            raw = v.encode("utf-8")
            pad = (-len(raw)) % 4
            out.append(struct.pack("<ii", T_STRING, len(raw)) + raw + b"\0" * pad)
        elif isinstance(v, (tuple, list, np.ndarray)) and len(v) in (2, 3):
            code = T_VEC2 if len(v) == 2 else T_VEC3
            out.append(struct.pack(f"<i{len(v)}d", code, *(float(c) for c in v)))
        else:
            raise TypeError(f"cannot encode {type(v).__name__} as a FISH binary record")
    return b"".join(out)


def write_fish_binary(path: str | os.PathLike, values) -> Path:
    """Write ``values`` (see :func:`encode_fish_values`) to a FISH binary file."""
    from labquake.io.rundir import atomic_write_bytes

    return atomic_write_bytes(path, encode_fish_values(values))


def fish_to_lines(values: list, types: list[int]) -> list[str] | None:
    """If every record is a string (a FISH script writing text lines in binary mode),
    return them as text lines; else ``None``."""
    if types and all(t == T_STRING for t in types):
        return [str(v) for v in values]
    return None


def flatten_fish_tokens(values: list, types: list[int]) -> tuple[list, list[int]]:
    """Flatten vectors into scalars; returns (tokens, record number of each token, 1-based)."""
    tokens: list = []
    recs: list[int] = []
    for i, (v, t) in enumerate(zip(values, types)):
        if t in (T_VEC2, T_VEC3):
            tokens.extend(v)
            recs.extend([i + 1] * len(v))
        elif t == T_BOOL:
            tokens.append(int(v))
            recs.append(i + 1)
        else:
            tokens.append(v)
            recs.append(i + 1)
    return tokens, recs
