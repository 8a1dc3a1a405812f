"""lib0 binary writer: the primitives every Yjs message is made of.

Numbers follow lib0's rules byte for byte (see ``docs/crdt.md`` and the wire digest):
varuints in 7-bit groups, sign-magnitude varints, big-endian floats, and ``any`` values
whose number tag is chosen exactly as JavaScript's ``writeAny`` would choose it.
"""

from __future__ import annotations

import json
import math
import struct
from typing import Any

from .errors import DecodeError

_pack_f32 = struct.Struct(">f").pack
_unpack_f32 = struct.Struct(">f").unpack
_pack_f64 = struct.Struct(">d").pack
_pack_i64 = struct.Struct(">q").pack

MAX_SAFE_INTEGER = 2**53 - 1
_INT31 = 2**31 - 1


class Undefined:
    """JavaScript's ``undefined``: distinct from ``None`` (``null``) in lib0 ``any`` values."""

    _instance: Undefined | None = None

    def __new__(cls) -> Undefined:
        if cls._instance is None:
            cls._instance = super().__new__(cls)
        return cls._instance

    def __repr__(self) -> str:
        return "undefined"

    def __bool__(self) -> bool:
        return False


UNDEFINED = Undefined()


def utf8(s: str) -> bytes:
    """Encode like JavaScript's TextEncoder: lone surrogates become U+FFFD."""
    try:
        return s.encode("utf-8")
    except UnicodeEncodeError:
        return s.encode("utf-8", "replace_surrogates_js")


def _replace_surrogates(err: UnicodeError) -> tuple[str, int]:
    if isinstance(err, UnicodeEncodeError):
        return "\ufffd" * (err.end - err.start), err.end
    raise err


import codecs  # noqa: E402

codecs.register_error("replace_surrogates_js", _replace_surrogates)


def js_key_order(keys: list[str]) -> list[str]:
    """Order object keys as JavaScript enumerates them: array indices ascending, then insertion order."""
    index_keys = []
    other = []
    for k in keys:
        if k.isascii() and k.isdigit() and (k == "0" or k[0] != "0") and int(k) < 2**32 - 1:
            index_keys.append(k)
        else:
            other.append(k)
    if not index_keys:
        return other
    index_keys.sort(key=int)
    return index_keys + other


def _js_number(x: float) -> str:
    # JSON.stringify formats numbers like Number.prototype.toString: 1.0 -> "1", 1e21 -> "1e+21".
    if x != x or x in (math.inf, -math.inf):
        return "null"
    if x == int(x) and abs(x) < 1e21:
        return str(int(x))
    r = repr(x)
    if "e" in r:
        mant, exp = r.split("e")
        sign = "-" if exp.startswith("-") else "+"
        exp = exp.lstrip("+-").lstrip("0") or "0"
        return f"{mant}e{sign}{exp}"
    return r


def js_json(value: Any) -> str:
    """``JSON.stringify`` of a JSON-like Python value: compact, non-ASCII kept, JS number format."""
    if value is None or value is UNDEFINED:
        return "null"
    if value is True:
        return "true"
    if value is False:
        return "false"
    if isinstance(value, int):
        return str(value)
    if isinstance(value, float):
        return _js_number(value)
    if isinstance(value, str):
        return json.dumps(value, ensure_ascii=False)
    if isinstance(value, (list, tuple)):
        return "[" + ",".join(js_json(v) for v in value) + "]"
    if isinstance(value, dict):
        parts = []
        for k in js_key_order([str(k) for k in value]):
            v = value[k] if k in value else value[int(k)]
            if v is UNDEFINED:
                continue
            parts.append(json.dumps(k, ensure_ascii=False) + ":" + js_json(v))
        return "{" + ",".join(parts) + "}"
    raise TypeError(f"cannot encode {type(value).__name__} as JSON")


def var_uint(n: int) -> bytes:
    """The varuint encoding of ``n`` as bytes."""
    if n < 0x80:
        return _SMALL[n]
    out = bytearray()
    while n > 0x7F:
        out.append(0x80 | (n & 0x7F))
        n >>= 7
    out.append(n)
    return bytes(out)


_SMALL = [bytes((i,)) for i in range(0x80)]


class Encoder:
    """An append-only byte buffer with lib0 writers."""

    __slots__ = ("buf",)

    def __init__(self) -> None:
        self.buf = bytearray()

    def to_bytes(self) -> bytes:
        return bytes(self.buf)

    def write_u8(self, n: int) -> None:
        self.buf.append(n)

    def write_var_uint(self, n: int) -> None:
        buf = self.buf
        while n > 0x7F:
            buf.append(0x80 | (n & 0x7F))
            n >>= 7
        buf.append(n)

    def write_var_int(self, n: int, negative_zero: bool = False) -> None:
        buf = self.buf
        neg = n < 0 or negative_zero
        if n < 0:
            n = -n
        buf.append((0x80 if n > 0x3F else 0) | (0x40 if neg else 0) | (n & 0x3F))
        n >>= 6
        while n > 0:
            buf.append((0x80 if n > 0x7F else 0) | (n & 0x7F))
            n >>= 7

    def write_var_string(self, s: str) -> None:
        b = utf8(s)
        self.write_var_uint(len(b))
        self.buf += b

    def write_var_bytes(self, b: bytes | memoryview) -> None:
        self.write_var_uint(len(b))
        self.buf += b

    def write_bytes(self, b: bytes | memoryview) -> None:
        self.buf += b

    def write_float32(self, x: float) -> None:
        self.buf += _pack_f32(x)

    def write_float64(self, x: float) -> None:
        self.buf += _pack_f64(x)

    def write_any(self, v: Any) -> None:
        buf = self.buf
        if v is None:
            buf.append(126)
        elif v is UNDEFINED:
            buf.append(127)
        elif v is True:
            buf.append(120)
        elif v is False:
            buf.append(121)
        elif isinstance(v, int):
            if -MAX_SAFE_INTEGER <= v <= MAX_SAFE_INTEGER:
                # lib0 readers take varints up to 2**53, so every float-safe int keeps its integer tag
                # (Yjs itself writes ints beyond 2**31 as floats; JS reads both as the same number).
                buf.append(125)
                self.write_var_int(v)
            elif -(2**63) <= v < 2**63:
                buf.append(122)
                buf += _pack_i64(v)
            else:
                raise ValueError(f"integer {v} does not fit in 64 bits")
        elif isinstance(v, float):
            # Python floats keep a float tag, so 5.0 reads back as a float (JS sees the number 5).
            self._write_float(v)
        elif isinstance(v, str):
            buf.append(119)
            self.write_var_string(v)
        elif isinstance(v, (bytes, bytearray, memoryview)):
            buf.append(116)
            self.write_var_bytes(bytes(v))
        elif isinstance(v, dict):
            buf.append(118)
            keys = js_key_order([_key_str(k) for k in v])
            items = [(k, _dict_get(v, k)) for k in keys]
            self.write_var_uint(len(items))
            for k, val in items:
                self.write_var_string(k)
                self.write_any(val)
        elif isinstance(v, (list, tuple)):
            buf.append(117)
            self.write_var_uint(len(v))
            for x in v:
                self.write_any(x)
        else:
            raise TypeError(f"cannot store a {type(v).__name__} in a shared document")

    def _write_float(self, x: float) -> None:
        try:
            packed = _pack_f32(x)
            same = _unpack_f32(packed)[0] == x or (x != x)
        except OverflowError:
            same = False
        if same and x == x:
            self.buf.append(124)
            self.buf += packed
        else:
            self.buf.append(123)
            self.buf += _pack_f64(x)


def _key_str(k: Any) -> str:
    if isinstance(k, str):
        return k
    if isinstance(k, int) and not isinstance(k, bool):
        return str(k)
    raise TypeError(f"object keys must be strings, not {type(k).__name__}")


def _dict_get(d: dict, k: str) -> Any:
    if k in d:
        return d[k]
    return d[int(k)]


def encode_any(v: Any) -> bytes:
    """Encode one value with lib0's ``writeAny``."""
    enc = Encoder()
    enc.write_any(v)
    return enc.to_bytes()


__all__ = ["Encoder", "UNDEFINED", "Undefined", "DecodeError", "encode_any", "js_json", "utf8"]
