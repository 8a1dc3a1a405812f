"""Bounds on what decoding hostile input may cost: nesting depth and decompressed size.

Every limit has a documented default (``docs/security.md``, section *Bounds*) and can be changed for the
whole process with :func:`configure` (the Jupyter server does this from its settings). Input beyond a
limit raises :class:`~crdt.errors.DecodeError` with a message that names the limit.
"""

from __future__ import annotations

import zlib
from typing import Any

from .errors import DecodeError

DEFAULT_MAX_DEPTH = 64
DEFAULT_DECOMPRESSION_RATIO = 64
DEFAULT_DECOMPRESSION_FLOOR = 1 << 20
DEFAULT_MAX_DECOMPRESSED = 256 << 20


class _Limits:
    __slots__ = ("max_depth", "decompression_ratio", "decompression_floor", "max_decompressed")

    def __init__(self) -> None:
        # Levels of nesting (arrays/objects in a value, shared types in a document) accepted.
        self.max_depth = DEFAULT_MAX_DEPTH
        # Decompressed bytes allowed per compressed byte: real updates compress 3-20x, a zlib bomb ~1000x.
        self.decompression_ratio = DEFAULT_DECOMPRESSION_RATIO
        # Small inputs may always decompress to this much (a tiny compressed run of one repeated byte).
        self.decompression_floor = DEFAULT_DECOMPRESSION_FLOOR
        # Hard cap on one decompressed value, whatever its compressed size.
        self.max_decompressed = DEFAULT_MAX_DECOMPRESSED


LIMITS = _Limits()


def configure(
    *,
    max_depth: int | None = None,
    decompression_ratio: int | None = None,
    decompression_floor: int | None = None,
    max_decompressed: int | None = None,
) -> None:
    """Change the process-wide limits (``None`` leaves one as it is)."""
    for name, value in (
        ("max_depth", max_depth),
        ("decompression_ratio", decompression_ratio),
        ("decompression_floor", decompression_floor),
        ("max_decompressed", max_decompressed),
    ):
        if value is None:
            continue
        if not isinstance(value, int) or isinstance(value, bool) or value < 1:
            raise ValueError(f"{name} must be a positive integer, not {value!r}")
        setattr(LIMITS, name, value)


def too_deep_message(limit: int | None = None) -> str:
    return f"value nested deeper than {LIMITS.max_depth if limit is None else limit} levels"


def check_depth(value: Any, limit: int | None = None) -> None:
    """Raise :class:`DecodeError` if ``value`` nests lists/tuples/dicts more than ``limit`` levels.

    Iterative (an explicit stack), so a value nested far beyond Python's recursion limit is measured too.
    """
    if limit is None:
        limit = LIMITS.max_depth
    if not isinstance(value, (list, tuple, dict)):
        return
    stack = [(value, 1)]
    pop = stack.pop
    push = stack.append
    while stack:
        v, depth = pop()
        if depth > limit:
            raise DecodeError(too_deep_message(limit))
        for x in v.values() if isinstance(v, dict) else v:
            if isinstance(x, (list, tuple, dict)):
                push((x, depth + 1))


def decompress_limit(compressed_size: int) -> int:
    """How many bytes ``compressed_size`` bytes of zlib data may decompress to."""
    lim = LIMITS
    return min(lim.max_decompressed, max(lim.decompression_floor, compressed_size * lim.decompression_ratio))


def decompress(data: bytes | memoryview, *, what: str = "compressed data") -> bytes:
    """zlib-decompress ``data``, refusing (:class:`DecodeError`) output beyond :func:`decompress_limit`.

    The output is produced in steps of at most ``_STEP`` bytes, so a bomb costs at most the limit in
    memory before it is refused (one call with the whole limit would hold its output twice: zlib's
    buffer blocks and the bytes made of them).
    """
    limit = decompress_limit(len(data))
    d = zlib.decompressobj()
    chunks = []
    total = 0
    try:
        pending = data
        # Each step consumes input or yields _STEP bytes of output: bounded by both.
        for _ in range(limit // _STEP + len(data) + 2):
            out = d.decompress(pending, _STEP)
            total += len(out)
            if total > limit:
                raise DecodeError(
                    f"{what} decompresses to more than {limit} bytes ({LIMITS.decompression_ratio}x "
                    f"its {len(data)} bytes, at most {LIMITS.max_decompressed})"
                )
            chunks.append(out)
            pending = d.unconsumed_tail
            if d.eof or (not pending and len(out) < _STEP):
                break
    except zlib.error as e:
        raise DecodeError(f"{what} is not valid zlib data ({e})") from None
    if not d.eof:
        raise DecodeError(f"{what} is truncated (incomplete zlib stream)")
    return chunks[0] if len(chunks) == 1 else b"".join(chunks)


_STEP = 8 << 20


__all__ = [
    "LIMITS", "configure", "check_depth", "decompress", "decompress_limit", "DEFAULT_MAX_DEPTH",
    "DEFAULT_DECOMPRESSION_RATIO", "DEFAULT_DECOMPRESSION_FLOOR", "DEFAULT_MAX_DECOMPRESSED",
]
