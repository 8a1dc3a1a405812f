"""The content kinds an item can carry, with their wire reference numbers (v1 encoding).

Lengths are in clock units: UTF-16 code units for strings, one per value or embed otherwise.
"""

from __future__ import annotations

import json
from typing import Any

from ..decoding import Decoder
from ..encoding import UNDEFINED, Encoder, js_json
from ..errors import DecodeError
from ..limits import LIMITS, check_depth, too_deep_message

# Filled by crdt.types: type ref number -> callable(decoder) -> shared type instance.
TYPE_READERS: dict[int, Any] = {}


def utf16_len(s: str) -> int:
    """Length of ``s`` in UTF-16 code units (JavaScript's ``.length``)."""
    if s.isascii():
        return len(s)
    return len(s.encode("utf-16-le", "surrogatepass")) >> 1


def utf16_split(s: str, d: int) -> tuple[str, str]:
    """Split ``s`` after ``d`` UTF-16 units; a split surrogate pair becomes two U+FFFD, as Yjs does."""
    if len(s) == utf16_len(s):
        return s[:d], s[d:]
    b = s.encode("utf-16-le", "surrogatepass")
    left = b[: 2 * d]
    right = b[2 * d :]
    hi = left[-2] | (left[-1] << 8) if left else 0
    if 0xD800 <= hi <= 0xDBFF:
        return (
            left[:-2].decode("utf-16-le", "surrogatepass") + "\ufffd",
            "\ufffd" + right[2:].decode("utf-16-le", "surrogatepass"),
        )
    return left.decode("utf-16-le", "surrogatepass"), right.decode("utf-16-le", "surrogatepass")


def utf16_offset(s: str, cp: int) -> int:
    """UTF-16 offset of code point index ``cp`` in ``s``."""
    if s.isascii():
        return cp
    return utf16_len(s[:cp])


def js_string(s: str) -> str:
    """``s`` as JavaScript would hold it after a round trip through UTF-8: lone surrogates become U+FFFD."""
    if s.isascii():
        return s
    try:
        s.encode("utf-8")
        return s
    except UnicodeEncodeError:
        return s.encode("utf-16-le", "surrogatepass").decode("utf-16-le", "replace")


class ContentDeleted:
    __slots__ = ("len",)
    ref = 1
    countable = False
    mergeable = True

    def __init__(self, length: int) -> None:
        self.len = length

    def values(self) -> list:
        return []

    def splice(self, offset: int) -> ContentDeleted:
        right = ContentDeleted(self.len - offset)
        self.len = offset
        return right

    def merge(self, right: ContentDeleted) -> bool:
        self.len += right.len
        return True

    def copy(self) -> ContentDeleted:
        return ContentDeleted(self.len)

    def write(self, enc: Encoder, offset: int) -> None:
        enc.write_var_uint(self.len - offset)


class ContentString:
    __slots__ = ("s",)
    ref = 4
    countable = True
    mergeable = True

    def __init__(self, s: str) -> None:
        self.s = s

    def values(self) -> list:
        return list(self.s)

    def splice(self, offset: int) -> ContentString:
        left, right = utf16_split(self.s, offset)
        self.s = left
        return ContentString(right)

    def merge(self, right: ContentString) -> bool:
        self.s += right.s
        return True

    def copy(self) -> ContentString:
        return ContentString(self.s)

    def write(self, enc: Encoder, offset: int) -> None:
        enc.write_var_string(self.s if offset == 0 else utf16_split(self.s, offset)[1])


class _ContentList:
    """Content holding a list of values, one clock unit each."""

    __slots__ = ("arr",)
    countable = True
    mergeable = True

    def __init__(self, arr: list) -> None:
        self.arr = arr

    def values(self) -> list:
        return self.arr

    def splice(self, offset: int):
        right = self.__class__(self.arr[offset:])
        self.arr = self.arr[:offset]
        return right

    def merge(self, right) -> bool:
        self.arr = self.arr + right.arr
        return True

    def copy(self):
        return self.__class__(list(self.arr))


class ContentAny(_ContentList):
    """JSON-like values in lib0 ``any`` encoding (ref 8): what arrays and maps store."""

    __slots__ = ()
    ref = 8

    def write(self, enc: Encoder, offset: int) -> None:
        arr = self.arr
        enc.write_var_uint(len(arr) - offset)
        for i in range(offset, len(arr)):
            enc.write_any(arr[i])


class ContentJSON(_ContentList):
    """Legacy JSON content (ref 2): kept and re-encoded as it came."""

    __slots__ = ()
    ref = 2

    def write(self, enc: Encoder, offset: int) -> None:
        arr = self.arr
        enc.write_var_uint(len(arr) - offset)
        for i in range(offset, len(arr)):
            v = arr[i]
            enc.write_var_string("undefined" if v is UNDEFINED else js_json(v))


class ContentBinary:
    __slots__ = ("data",)
    ref = 3
    countable = True
    mergeable = False

    def __init__(self, data: bytes) -> None:
        self.data = data

    def values(self) -> list:
        return [self.data]

    def copy(self) -> ContentBinary:
        return ContentBinary(self.data)

    def write(self, enc: Encoder, offset: int) -> None:
        enc.write_var_bytes(self.data)


class ContentEmbed:
    __slots__ = ("embed",)
    ref = 5
    countable = True
    mergeable = False

    def __init__(self, embed: Any) -> None:
        self.embed = embed

    def values(self) -> list:
        return [self.embed]

    def copy(self) -> ContentEmbed:
        return ContentEmbed(self.embed)

    def write(self, enc: Encoder, offset: int) -> None:
        enc.write_var_string(js_json(self.embed))


class ContentFormat:
    __slots__ = ("key", "value")
    ref = 6
    countable = False
    mergeable = False

    def __init__(self, key: str, value: Any) -> None:
        self.key = key
        self.value = value

    def values(self) -> list:
        return []

    def copy(self) -> ContentFormat:
        return ContentFormat(self.key, self.value)

    def write(self, enc: Encoder, offset: int) -> None:
        enc.write_var_string(self.key)
        enc.write_var_string(js_json(self.value))


class ContentType:
    __slots__ = ("type",)
    ref = 7
    countable = True
    mergeable = False

    def __init__(self, type_: Any) -> None:
        self.type = type_

    def values(self) -> list:
        return [self.type]

    def copy(self) -> ContentType:
        return ContentType(self.type._copy_empty())

    def write(self, enc: Encoder, offset: int) -> None:
        self.type._write_type_ref(enc)


class ContentDoc:
    """A subdocument reference (ref 9), kept and re-encoded; subdocuments are not loaded."""

    __slots__ = ("guid", "opts")
    ref = 9
    countable = True
    mergeable = False

    def __init__(self, guid: str, opts: dict) -> None:
        self.guid = guid
        self.opts = opts

    def values(self) -> list:
        return [{"guid": self.guid, **self.opts}]

    def copy(self) -> ContentDoc:
        return ContentDoc(self.guid, dict(self.opts))

    def write(self, enc: Encoder, offset: int) -> None:
        enc.write_var_string(self.guid)
        enc.write_any(self.opts)


def _read_json(text: str) -> Any:
    try:
        value = json.loads(text)
    except RecursionError:
        raise DecodeError(too_deep_message()) from None
    except ValueError:
        raise DecodeError("invalid JSON in content") from None
    # Only a text with more brackets than the limit can nest too deeply: count them in C before walking.
    if text.count("[") + text.count("{") > LIMITS.max_depth:
        check_depth(value)
    return value


def read_content(dec: Decoder, ref: int) -> tuple[Any, int]:
    """Read one content body; returns (content, length in clock units)."""
    if ref == 4:
        s = dec.read_var_string()
        n = utf16_len(s)
        if n == 0:
            raise DecodeError("empty string content")
        return ContentString(s), n
    if ref == 8:
        n = dec.read_var_uint()
        if n == 0 or n > dec.remaining():
            raise DecodeError("bad value count in content")
        read_any = dec.read_any
        return ContentAny([read_any() for _ in range(n)]), n
    if ref == 1:
        n = dec.read_var_uint()
        if n == 0:
            raise DecodeError("empty deleted content")
        return ContentDeleted(n), n
    if ref == 7:
        type_ref = dec.read_var_uint()
        reader = TYPE_READERS.get(type_ref)
        if reader is None:
            raise DecodeError(f"unknown type reference {type_ref}")
        return ContentType(reader(dec)), 1
    if ref == 6:
        key = dec.read_var_string()
        return ContentFormat(key, _read_json(dec.read_var_string())), 1
    if ref == 3:
        return ContentBinary(dec.read_var_bytes()), 1
    if ref == 5:
        return ContentEmbed(_read_json(dec.read_var_string())), 1
    if ref == 2:
        n = dec.read_var_uint()
        if n == 0 or n > dec.remaining():
            raise DecodeError("bad value count in content")
        arr = []
        for _ in range(n):
            t = dec.read_var_string()
            arr.append(UNDEFINED if t == "undefined" else _read_json(t))
        return ContentJSON(arr), n
    if ref == 9:
        guid = dec.read_var_string()
        opts = dec.read_any()
        if not isinstance(opts, dict):
            raise DecodeError("subdocument options must be an object")
        return ContentDoc(guid, opts), 1
    raise DecodeError(f"unknown content reference {ref}")
