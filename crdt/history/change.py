"""Changes: one edit of a history, immutable, named by the SHA-256 of its canonical encoding.

A :class:`Change` is ``{deps, author, time, kind, message, meta, update}`` plus ``hash``, the SHA-256 of
a canonical msgpack encoding of the rest (layout in ``docs/file-format.md``). ``update`` is a Yjs v1
update; ``deps`` are the hashes of the changes its author had seen (the heads at the time), so the
changes form a DAG and a hash names a change together with its whole past.
"""

from __future__ import annotations

import hashlib
import math
from collections.abc import Iterable, Mapping
from dataclasses import dataclass, field
from types import MappingProxyType
from typing import Any

import msgpack

CHANGE_TAG = "jupyter-crdt/change/1"
"""First element of the canonical encoding that is hashed (domain separation and format version)."""


class MissingDependencyError(ValueError):
    """A change depends on changes the history does not have. ``missing``: their hashes, sorted."""

    def __init__(self, change: str, missing: Iterable[str]) -> None:
        self.change = change
        self.missing = tuple(sorted(missing))
        names = ", ".join(self.missing)
        super().__init__(f"change {change} depends on {len(self.missing)} missing change(s): {names}")


def freeze(value: Any, where: str = "meta") -> Any:
    """A read-only deep copy of a msgpack-able value (dicts become mapping proxies, lists tuples)."""
    if value is None or isinstance(value, (bool, str, bytes)):
        return value
    if isinstance(value, int):
        if not -(2**63) <= value < 2**64:
            raise ValueError(f"{where}: integer out of range")
        return value
    if isinstance(value, float):
        if not math.isfinite(value):
            raise ValueError(f"{where}: float must be finite")
        return value
    if isinstance(value, (bytearray, memoryview)):
        return bytes(value)
    if isinstance(value, (list, tuple)):
        return tuple(freeze(v, where) for v in value)
    if isinstance(value, Mapping):
        out = {}
        for k in sorted(value):
            if not isinstance(k, str):
                raise TypeError(f"{where}: keys must be str, not {type(k).__name__}")
            out[k] = freeze(value[k], where)
        return MappingProxyType(out)
    raise TypeError(f"{where}: {type(value).__name__} cannot be stored in a change")


def _plain(value: Any) -> Any:
    """The msgpack form of a frozen value: mappings as dicts with sorted keys, sequences as lists."""
    if isinstance(value, Mapping):
        return {k: _plain(value[k]) for k in sorted(value)}
    if isinstance(value, tuple):
        return [_plain(v) for v in value]
    return value


def _check_hash(h: Any) -> str:
    if not isinstance(h, str) or len(h) != 64:
        raise ValueError(f"not a change hash: {h!r}")
    try:
        bytes.fromhex(h)
    except ValueError:
        raise ValueError(f"not a change hash: {h!r}") from None
    return h.lower()


@dataclass(frozen=True, eq=False, repr=False)
class Change:
    """One change of a history. Immutable; ``hash`` is computed from the other fields.

    ``deps``: hashes of the changes this one builds on (stored sorted, without duplicates).
    ``author``: who made it. ``time``: seconds since the Unix epoch (a float; when the change was complete).
    ``update``: Yjs v1 update bytes. ``kind``: what made it, e.g. ``"edit"``, ``"disk"``, ``"merge"``,
    ``"restore"``. ``message``: optional text. ``meta``: optional msgpack-able data (str keys), frozen.
    All of them are covered by ``hash``.
    """

    deps: tuple[str, ...]
    author: str
    time: float
    update: bytes
    kind: str = "edit"
    message: str | None = None
    meta: Mapping[str, Any] = field(default_factory=dict)
    hash: str = field(init=False)

    def __post_init__(self) -> None:
        if isinstance(self.deps, str):
            raise TypeError("deps must be an iterable of hashes, not a str")
        deps = tuple(sorted({_check_hash(d) for d in self.deps}))
        if not isinstance(self.author, str):
            raise TypeError("author must be a str")
        if not isinstance(self.kind, str) or not self.kind:
            raise TypeError("kind must be a non-empty str")
        if self.message is not None and not isinstance(self.message, str):
            raise TypeError("message must be a str or None")
        if isinstance(self.time, bool) or not isinstance(self.time, (int, float)):
            raise TypeError("time must be a number (seconds since the epoch)")
        t = float(self.time)
        if not math.isfinite(t):
            raise ValueError("time must be finite")
        if not isinstance(self.update, (bytes, bytearray, memoryview)):
            raise TypeError("update must be bytes")
        meta = freeze(self.meta if self.meta is not None else {})
        if not isinstance(meta, Mapping):
            raise TypeError("meta must be a mapping")
        set_ = object.__setattr__
        set_(self, "deps", deps)
        set_(self, "time", t)
        set_(self, "update", bytes(self.update))
        set_(self, "meta", meta)
        set_(self, "hash", hashlib.sha256(self.canonical()).hexdigest())

    def canonical(self) -> bytes:
        """The bytes that are hashed: a msgpack array (see ``docs/file-format.md``, "Change hash")."""
        return msgpack.packb(
            [
                CHANGE_TAG,
                [bytes.fromhex(d) for d in self.deps],
                self.author,
                self.time,
                self.kind,
                self.message,
                self.plain_meta(),
                self.update,
            ],
            use_bin_type=True,
        )

    def plain_meta(self) -> dict[str, Any]:
        """``meta`` as plain msgpack-ready data (dicts with sorted keys, lists)."""
        return _plain(self.meta)

    @property
    def short(self) -> str:
        """The first 12 hex digits of the hash (for display)."""
        return self.hash[:12]

    def __eq__(self, other: object) -> bool:
        if not isinstance(other, Change):
            return NotImplemented
        return self.hash == other.hash

    def __hash__(self) -> int:
        return hash(self.hash)

    def __repr__(self) -> str:
        deps = ",".join(d[:8] for d in self.deps)
        return (
            f"Change({self.short} by {self.author!r} kind={self.kind!r} deps=[{deps}] "
            f"update={len(self.update)} bytes)"
        )
