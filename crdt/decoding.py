"""lib0 binary reader: bounds-checked, so malformed input raises :class:`DecodeError`, never hangs."""

from __future__ import annotations

import struct
from typing import Any

from .encoding import MAX_SAFE_INTEGER, UNDEFINED
from .errors import DecodeError
from .limits import LIMITS, too_deep_message

_unpack_f32 = struct.Struct(">f").unpack_from
_unpack_f64 = struct.Struct(">d").unpack_from
_unpack_i64 = struct.Struct(">q").unpack_from

def var_uint_tail(data: bytes | memoryview, pos: int, first: int) -> tuple[int, int]:
    """The rest of a var uint whose first byte (``first`` >= 0x80) was at ``pos - 1``: (value, next pos)."""
    return var_uint_rest(data, pos, first & 0x7F, 7)


def var_uint_rest(data: bytes | memoryview, pos: int, n: int, shift: int) -> tuple[int, int]:
    """The rest of a var uint from ``pos`` on; ``n`` holds the value of its first ``shift`` bits.

    For loops that read bytes inline: past the end of ``data`` it raises IndexError, which the
    caller turns into a DecodeError.
    """
    while True:
        b = data[pos]
        pos += 1
        n |= (b & 0x7F) << shift
        if b < 0x80:
            break
        shift += 7
        if shift > 63:
            raise DecodeError("integer out of range")
    if n > MAX_SAFE_INTEGER:
        raise DecodeError("integer out of range")
    return n, pos


class Decoder:
    """Reads lib0 primitives from ``data`` starting at ``pos``."""

    __slots__ = ("data", "pos", "end")

    def __init__(self, data: bytes | memoryview, pos: int = 0) -> None:
        # A memoryview of bytes is read in place (a big websocket frame is not copied); anything
        # else becomes bytes.
        if data.__class__ is not bytes:
            if isinstance(data, memoryview) and data.format == "B" and data.c_contiguous:
                pass
            else:
                data = bytes(data)
        self.data = data
        self.pos = pos
        self.end = len(data)

    def has_content(self) -> bool:
        return self.pos < self.end

    def remaining(self) -> int:
        return self.end - self.pos

    def read_u8(self) -> int:
        pos = self.pos
        if pos >= self.end:
            raise DecodeError("unexpected end of data")
        self.pos = pos + 1
        return self.data[pos]

    def read_var_uint(self) -> int:
        data = self.data
        pos = self.pos
        try:
            b = data[pos]
        except IndexError:
            raise DecodeError("unexpected end of data") from None
        if b < 0x80:
            self.pos = pos + 1
            return b
        n = b & 0x7F
        shift = 7
        while True:
            pos += 1
            try:
                b = data[pos]
            except IndexError:
                raise DecodeError("unexpected end of data") from None
            n |= (b & 0x7F) << shift
            if b < 0x80:
                break
            shift += 7
            if shift > 63:
                raise DecodeError("integer out of range")
        self.pos = pos + 1
        if n > MAX_SAFE_INTEGER:
            raise DecodeError("integer out of range")
        return n

    def read_var_int(self) -> int:
        data = self.data
        pos = self.pos
        try:
            b = data[pos]
        except IndexError:
            raise DecodeError("unexpected end of data") from None
        n = b & 0x3F
        neg = b & 0x40
        shift = 6
        while b & 0x80:
            pos += 1
            try:
                b = data[pos]
            except IndexError:
                raise DecodeError("unexpected end of data") from None
            n |= (b & 0x7F) << shift
            shift += 7
            if shift > 64:
                raise DecodeError("integer out of range")
        self.pos = pos + 1
        if n > MAX_SAFE_INTEGER:
            raise DecodeError("integer out of range")
        return -n if neg else n

    def read_bytes(self, n: int) -> bytes:
        pos = self.pos
        end = pos + n
        if end > self.end:
            raise DecodeError("unexpected end of data")
        self.pos = end
        b = self.data[pos:end]
        return b if b.__class__ is bytes else bytes(b)

    def read_var_bytes(self) -> bytes:
        return self.read_bytes(self.read_var_uint())

    def read_var_view(self, min_view: int = 1 << 20) -> bytes | memoryview:
        """Like :meth:`read_var_bytes`, but a value of ``min_view`` bytes or more comes as a read-only
        memoryview into the data (no copy of a big payload)."""
        n = self.read_var_uint()
        if n < min_view:
            return self.read_bytes(n)
        pos = self.pos
        end = pos + n
        if end > self.end:
            raise DecodeError("unexpected end of data")
        self.pos = end
        return memoryview(self.data)[pos:end].toreadonly()

    def read_var_string(self) -> str:
        n = self.read_var_uint()
        pos = self.pos
        end = pos + n
        if end > self.end:
            raise DecodeError("unexpected end of data")
        self.pos = end
        try:
            return str(self.data[pos:end], "utf-8")
        except UnicodeDecodeError as e:
            raise DecodeError(f"invalid UTF-8 in string: {e.reason}") from None

    def read_float32(self) -> float:
        pos = self.pos
        if pos + 4 > self.end:
            raise DecodeError("unexpected end of data")
        self.pos = pos + 4
        return _unpack_f32(self.data, pos)[0]

    def read_float64(self) -> float:
        pos = self.pos
        if pos + 8 > self.end:
            raise DecodeError("unexpected end of data")
        self.pos = pos + 8
        return _unpack_f64(self.data, pos)[0]

    def read_any(self, depth: int = 0) -> Any:
        """One lib0 ``any`` value; ``depth``: arrays/objects around it (at most LIMITS.max_depth)."""
        tag = self.read_u8()
        if tag == 119:
            return self.read_var_string()
        if tag == 125:
            return self.read_var_int()
        if tag == 126:
            return None
        if tag == 120:
            return True
        if tag == 121:
            return False
        if tag == 123:
            return self.read_float64()
        if tag == 124:
            return self.read_float32()
        if tag == 118:
            if depth >= LIMITS.max_depth:
                raise DecodeError(too_deep_message())
            n = self.read_var_uint()
            if n > self.remaining():
                raise DecodeError("object length exceeds data")
            obj = {}
            for _ in range(n):
                k = self.read_var_string()
                obj[k] = self.read_any(depth + 1)
            return obj
        if tag == 117:
            if depth >= LIMITS.max_depth:
                raise DecodeError(too_deep_message())
            n = self.read_var_uint()
            if n > self.remaining():
                raise DecodeError("array length exceeds data")
            return [self.read_any(depth + 1) for _ in range(n)]
        if tag == 116:
            return self.read_var_bytes()
        if tag == 122:
            pos = self.pos
            if pos + 8 > self.end:
                raise DecodeError("unexpected end of data")
            self.pos = pos + 8
            return _unpack_i64(self.data, pos)[0]
        if tag == 127:
            return UNDEFINED
        raise DecodeError(f"unknown value tag {tag}")


def decode_any(data: bytes) -> Any:
    """Decode one lib0 ``any`` value."""
    return Decoder(data).read_any()
