"""The work every engine does: editing traces, the notebook shape, and helpers to time it.

Nothing here is timed; engines (``benchmarks/engines.py`` and ``benchmarks/node/yjs_bench.mjs``) time their
own loops. The notebook content and typing position must match ``yjs_bench.mjs``.
"""

from __future__ import annotations

import gzip
import hashlib
import json
import statistics
import time
from dataclasses import dataclass, field
from functools import cache
from pathlib import Path

REPO_ROOT = Path(__file__).resolve().parents[1]
SEQUENTIAL = ("automerge-paper", "seph-blog1", "sveltecomponent", "rustcode")
CONCURRENT = "friendsforever"
CHUNK = 4096  # engines check the time cap between chunks of this many patches
now = time.perf_counter


def traces_dir() -> Path:
    return REPO_ROOT / "tests" / "data" / "traces"


@cache
def load_trace(name: str) -> dict:
    with gzip.open(traces_dir() / f"{name}.json.gz", "rt", encoding="utf-8") as f:
        return json.load(f)


def sha256_text(text: str) -> str:
    return hashlib.sha256(text.encode("utf-8", "surrogatepass")).hexdigest()


def sha256_bytes(data: bytes) -> str:
    return hashlib.sha256(data).hexdigest()


def median(values: list[float]) -> float | None:
    return statistics.median(values) if values else None


@dataclass
class Trace:
    """A sequential trace cut to ``limit`` patches, ready to replay."""

    name: str
    patches: list[tuple[int, int, str]]  # (pos, del, ins), code point positions
    total: int  # patches in the whole trace
    expected: str  # the text after these patches
    _utf8: list | None = field(default=None, repr=False)

    @property
    def chunks(self) -> list[list[tuple[int, int, str]]]:
        return [self.patches[i : i + CHUNK] for i in range(0, len(self.patches), CHUNK)]

    @property
    def has_astral(self) -> bool:
        return any(ord(c) > 0xFFFF for _, _, s in self.patches for c in s)

    def utf8_chunks(self) -> list[list[tuple[int, int, str]]]:
        """The same patches with UTF-8 byte positions and lengths (pycrdt's Text indexes bytes)."""
        if self._utf8 is None:
            if all(s.isascii() for _, _, s in self.patches):
                self._utf8 = self.chunks
                return self._utf8
            converted = to_utf8_patches(self.patches)
            self._utf8 = [converted[i : i + CHUNK] for i in range(0, len(converted), CHUNK)]
        return self._utf8


@cache
def sequential(name: str, limit: int | None) -> Trace:
    data = load_trace(name)
    if data.get("startContent"):
        raise ValueError(f"{name}: traces with a startContent are not supported")
    patches = [(p[0], p[1], p[2]) for txn in data["txns"] for p in txn["patches"]]
    total = len(patches)
    if limit is not None and limit < total:
        patches = patches[:limit]
        expected = "".join(list_replay(patches))
    else:
        expected = data["endContent"]
    return Trace(name, patches, total, expected)


def list_replay(patches) -> list[str]:
    chars: list[str] = []
    for pos, delete, insert in patches:
        chars[pos : pos + delete] = insert
    return chars


def to_utf8_patches(patches) -> list[tuple[int, int, str]]:
    """Code point positions -> UTF-8 byte positions, tracking where the multi-byte characters are.

    Cost is O(number of non-ASCII characters in the text) per patch, which is small for these traces.
    """
    wide: list[list[int]] = []  # [index, extra bytes] of each non-ASCII character, by index
    out = []
    for pos, delete, insert in patches:
        start = pos + sum(extra for i, extra in wide if i < pos)
        end = pos + delete
        nbytes = delete + sum(extra for i, extra in wide if pos <= i < end)
        if wide:
            kept = []
            for entry in wide:
                if entry[0] >= end:
                    entry[0] += len(insert) - delete
                    kept.append(entry)
                elif entry[0] < pos:
                    kept.append(entry)
            wide = kept
        for k, ch in enumerate(insert):
            if ord(ch) > 0x7F:
                wide.append([pos + k, len(ch.encode("utf-8", "surrogatepass")) - 1])
        wide.sort()
        out.append((start, nbytes, insert))
    return out


# -- notebook shape (JupyterLab's schema: root Array "cells" of Maps with a Text "source") ------------------

TYPED = "abcdefghijklmnopqrstuvwxyz"


def cell_id(i: int) -> str:
    return f"cell-{i:05d}"


def cell_source(i: int, lines: int) -> str:
    return "".join(f"line {j} of cell {i}: value = {i} * {j}  # comment\n" for j in range(lines))


def typing_pos(source: str) -> int:
    """End of the 10th line (before its newline), or of the last line if shorter."""
    pos = -1
    for _ in range(10):
        nl = source.find("\n", pos + 1)
        if nl < 0:
            break
        pos = nl
    return max(pos, 0)


@dataclass
class NotebookSpec:
    cells: int = 1000
    lines: int = 20
    peers: int = 20
    keystrokes: int = 100  # per peer

    def edited_cells(self) -> list[int]:
        step = self.cells // self.peers
        return [p * step for p in range(self.peers)]
