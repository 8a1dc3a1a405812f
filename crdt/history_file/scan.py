"""Reading a history file: the records of its bytes, checked and applied to a :class:`~crdt.history.History`.

A crash mid-append leaves a *torn tail*: a last record cut short. The scan stops there and says where
(:class:`~.codec.TornTail`); every other damage raises :class:`~.codec.HistoryFileError` naming the
byte offset.
"""

from __future__ import annotations

import zlib
from pathlib import Path
from typing import Any

import msgpack

from ..errors import DecodeError
from ..history import Change, History
from ..limits import check_depth
from .codec import (
    BRANCH,
    CHANGE,
    CHECKPOINT,
    FORMAT,
    FRAME,
    FRAME_SIZE,
    JOURNAL,
    MAGIC,
    PART,
    VERSION,
    HistoryFileError,
    JournalEntry,
    TornTail,
    unpack_update,
)
from .journal import Journal
from .space import Space


class Loaded:
    """What a scan of a file found."""

    def __init__(self) -> None:
        self.history = History()
        self.header: dict[str, Any] = {}
        self.hashes: list[str] = []  # change record index -> hash
        self.end = 0  # end of the good data (where a torn tail starts)
        self.torn = False
        self.size = 0
        self.space = Space()
        self.journal = Journal()  # the journal records no change supersedes yet
        self.tail: TornTail | None = None  # set by scan when the file ends in a torn tail


def _cover(out: Loaded, upto: Any, path: Path, pos: int) -> None:
    if not isinstance(upto, int) or isinstance(upto, bool) or upto < 0:
        raise HistoryFileError(path, pos, "malformed journal reference")
    out.space.dead += out.journal.cover(upto)


def scan(data: bytes, path: Path) -> Loaded:
    """What the bytes of a history file hold (``path``: the name errors give)."""
    out = Loaded()
    out.size = len(data)
    if len(data) < len(MAGIC):
        if MAGIC.startswith(data):  # a creation cut short (or an empty file): no history yet
            out.torn = bool(data)
            out.end = 0
            return out
        raise HistoryFileError(path, 0, "not a history file (bad magic bytes)")
    if data[: len(MAGIC)] != MAGIC:
        raise HistoryFileError(path, 0, "not a history file (bad magic bytes)")
    view = memoryview(data)
    size = len(data)
    pos = len(MAGIC)
    header_seen = False
    parts: list[bytes] = []
    parts_start = -1
    while pos < size:
        if size - pos < FRAME_SIZE:
            break  # torn frame header
        n, crc, hcrc = FRAME.unpack_from(data, pos)
        if zlib.crc32(view[pos : pos + 8]) != hcrc:
            if data.count(0, pos) == size - pos:  # zeros where a crash left the size grown but no data
                break
            raise HistoryFileError(path, pos, "bad frame header checksum")
        end = pos + FRAME_SIZE + n
        if end > size:
            break  # torn payload
        if n == 0:
            raise HistoryFileError(path, pos, "empty record")
        payload = view[pos + FRAME_SIZE : end]
        if zlib.crc32(payload) != crc:
            raise HistoryFileError(path, pos, "bad record checksum")
        try:
            record = msgpack.unpackb(payload, raw=False, strict_map_key=False)
        except Exception as e:
            raise HistoryFileError(path, pos, f"undecodable record ({e})") from None
        if not header_seen:
            _check_header(record, path, pos)
            out.header = record
            header_seen = True
        elif isinstance(record, list) and record and record[0] == PART:
            if len(record) < 3 or not isinstance(record[2], bytes):
                raise HistoryFileError(path, pos, "malformed part record")
            if parts_start < 0:
                parts_start = pos
            parts.append(record[2])
            if record[1]:
                joined = b"".join(parts)
                try:
                    whole = msgpack.unpackb(joined, raw=False, strict_map_key=False)
                except Exception as e:
                    raise HistoryFileError(path, parts_start, f"undecodable record ({e})") from None
                _apply(out, whole, path, parts_start, end - parts_start)
                parts, parts_start = [], -1
        else:
            if parts_start >= 0:
                raise HistoryFileError(path, pos, "a split record is interrupted by another record")
            _apply(out, record, path, pos, end - pos)
        pos = end
        out.end = pos
    if not header_seen:
        out.end = 0  # the header frame itself is torn: a creation cut short
    elif parts_start >= 0:
        out.end = parts_start  # a split record that never got its last part
    out.torn = out.end < size
    if out.torn and header_seen:
        out.tail = _tail(data, out.end)
    return out


def _tail(data: bytes, end: int) -> TornTail:
    """What the torn bytes from ``end`` are (see :class:`TornTail`)."""
    size = len(data) - end
    record = None
    if size >= FRAME_SIZE:
        n, _, hcrc = FRAME.unpack_from(data, end)
        if zlib.crc32(data[end : end + 8]) == hcrc:
            record = FRAME_SIZE + n
    return TornTail(end, size, record, data.count(0, end) == size)

def _check_depth(record: Any, path: Path, pos: int) -> None:
    # msgpack itself stops at 1024 levels; a record's meta is user data that later exports and
    # encodes recursively, so it gets the engine's nesting limit.
    try:
        check_depth(record)
    except DecodeError as e:
        raise HistoryFileError(path, pos, f"malformed record ({e})") from None


def _check_header(record: Any, path: Path, pos: int) -> None:
    _check_depth(record, path, pos)
    if not isinstance(record, dict) or record.get("format") != FORMAT:
        raise HistoryFileError(path, pos, f"bad header (not a {FORMAT} file)")
    version = record.get("version")
    if not isinstance(version, int) or version < 1:
        raise HistoryFileError(path, pos, f"bad header (version {version!r})")
    if version > VERSION:
        raise HistoryFileError(path, pos, f"format version {version} is newer than this reader ({VERSION})")


def _hashes(out: Loaded, items: Any, path: Path, pos: int) -> frozenset[str]:
    if not isinstance(items, list):
        raise HistoryFileError(path, pos, "malformed heads")
    heads = []
    for b in items:
        if not isinstance(b, bytes) or len(b) != 32:
            raise HistoryFileError(path, pos, "malformed change hash")
        h = b.hex()
        if h not in out.history:
            raise HistoryFileError(path, pos, f"reference to unknown change {h}")
        heads.append(h)
    return frozenset(heads)


def _apply(out: Loaded, record: Any, path: Path, pos: int, nbytes: int) -> None:
    if not isinstance(record, list) or not record or not isinstance(record[0], int):
        raise HistoryFileError(path, pos, "malformed record")
    _check_depth(record, path, pos)
    kind = record[0]
    history = out.history
    try:
        if kind == CHANGE:
            _, refs, author, t, ckind, message, meta, data, encoding = record[:9]
            n = len(out.hashes)
            if not isinstance(refs, list) or not all(isinstance(k, int) and 1 <= k <= n for k in refs):
                raise HistoryFileError(path, pos, "bad dependency reference")
            deps = tuple(out.hashes[n - k] for k in refs)
            update = unpack_update(data, encoding, path, pos)
            change = Change(deps, author, t, update, kind=ckind, message=message, meta=meta or {})
            history.add(change, check=False)
            out.hashes.append(change.hash)
            if len(record) > 9 and record[9]:
                for name in record[9]:
                    if not isinstance(name, str) or not name:
                        raise HistoryFileError(path, pos, "malformed branch name")
                    history.set_branch(name, change.hash)
                    out.space.branch(name, 0, deleted=False)
            if len(record) > 10 and record[10] is not None:
                _cover(out, record[10], path, pos)
            out.space.change(len(update))
        elif kind == JOURNAL:
            _, seq, author, t, jkind, message, meta, data, encoding = record[:9]
            if not isinstance(seq, int) or isinstance(seq, bool) or seq < 1:
                raise HistoryFileError(path, pos, "malformed journal sequence number")
            if not isinstance(author, str) or not isinstance(jkind, str) or not isinstance(t, (int, float)):
                raise HistoryFileError(path, pos, "malformed journal record")
            if meta is not None and not isinstance(meta, dict):
                raise HistoryFileError(path, pos, "malformed journal meta")
            update = unpack_update(data, encoding, path, pos)
            entry = JournalEntry(seq, update, author, float(t), jkind, message, meta or {})
            out.space.dead += out.journal.add(entry, nbytes)
        elif kind == BRANCH:
            _, name, heads = record[:3]
            if not isinstance(name, str) or not name:
                raise HistoryFileError(path, pos, "malformed branch name")
            if heads is None:
                if name in history.branches and name != "main":
                    history.delete_branch(name)
            else:
                history.set_branch(name, _hashes(out, heads, path, pos))
            out.space.branch(name, nbytes, deleted=heads is None)
        elif kind == CHECKPOINT:
            _, count, heads, branches, data, encoding = record[:6]
            if count != len(out.hashes):
                found = len(out.hashes)
                raise HistoryFileError(path, pos, f"checkpoint after {count} changes, found {found}")
            version = _hashes(out, heads, path, pos)
            if version != history.heads:
                raise HistoryFileError(path, pos, "checkpoint heads differ from the changes before it")
            if not isinstance(branches, dict) or not isinstance(branches.get("main"), list):
                raise HistoryFileError(path, pos, "malformed branch table")
            for name in list(history.branches):
                if name not in branches and name != "main":
                    history.delete_branch(name)
            for name, bheads in branches.items():
                if not isinstance(name, str) or not name:
                    raise HistoryFileError(path, pos, "malformed branch name")
                history.set_branch(name, _hashes(out, bheads, path, pos))
            update = unpack_update(data, encoding, path, pos)
            history.set_checkpoint(version, update)
            out.space.checkpoint(nbytes, len(update))
        else:
            raise HistoryFileError(path, pos, f"unknown record type {kind} (written by a newer version?)")
    except HistoryFileError:
        raise
    except (ValueError, TypeError, KeyError) as e:
        raise HistoryFileError(path, pos, f"malformed record ({e})") from None
