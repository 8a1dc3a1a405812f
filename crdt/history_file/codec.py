"""The history file format, byte by byte (``docs/file-format.md``): constants, frames, records, errors.

A file is an 8-byte magic, a framed header, then framed records (12-byte frame: payload length, CRC-32
of the payload, CRC-32 of those 8 bytes; then a msgpack payload). This module encodes; :mod:`.scan`
decodes.
"""

from __future__ import annotations

import os
import struct
import time
import zlib
from collections.abc import Iterable, Mapping
from pathlib import Path
from typing import Any, NamedTuple

import msgpack

from ..errors import DecodeError
from ..history import Change, History
from ..limits import decompress, decompress_limit

MAGIC = b"\x89JCH\r\n\x1a\n"
FORMAT = "jupyter-crdt-history"
VERSION = 2  # 2 added journal records; version 1 files are read (and upgraded when journaled to)

FRAME = struct.Struct("<III")  # payload length, CRC-32 of payload, CRC-32 of the first 8 bytes
FRAME_SIZE = FRAME.size

# record types (first element of a record's msgpack array)
CHANGE = 1
BRANCH = 2
CHECKPOINT = 3
PART = 4
JOURNAL = 5

RAW = 0
ZLIB = 1

JOURNAL_VERSION = 2  # the first version with journal records
DEFAULT_MAX_RECORD = 1 << 20  # payload bytes per frame; bigger records are split into parts
DEFAULT_CHECKPOINT_BYTES = 256 << 10  # update bytes after the last checkpoint that trigger a new one
_COMPRESS_MIN = 256  # updates shorter than this are stored raw


class JournalEntry(NamedTuple):
    """An accepted update journaled but not yet covered by a change record."""

    seq: int
    update: bytes
    author: str
    time: float
    kind: str = "edit"
    message: str | None = None
    meta: dict = {}


class TornTail(NamedTuple):
    """The incomplete end of a history file: ignored by readers, cut off by a writer, always reported.

    A crash mid-append tears the last batch; a truncated copy or backup looks the same, except that
    it may have lost any number of records after the cut, which the file cannot tell.
    """

    offset: int
    """Where the readable part ends (the torn bytes start)."""
    size: int
    """Bytes after ``offset`` (cut off by a writer)."""
    record: int | None
    """The full size of the record cut short, when its frame header is intact (None otherwise)."""
    zeros: bool
    """The torn bytes are all zero (a crash grew the file but never wrote the data)."""

    def describe(self, path: str | os.PathLike) -> str:
        """One sentence for a person: what was found, and what it means."""
        if self.zeros:
            what = f"{self.size} zero bytes after the last complete record (a write interrupted by a crash)"
        elif self.record is not None:
            what = (f"a record of {self.record} bytes of which only {self.size} are there (a write "
                    f"interrupted by a crash, or a copy cut short: records after it, if any, are lost)")
        else:
            what = (f"{self.size} bytes that are not a complete record (a write interrupted by a crash, or a "
                    f"copy cut short: records after it, if any, are lost)")
        return f"{os.fspath(path)} ends at byte {self.offset} in {what}"


class HistoryFileError(ValueError):
    """A history file is damaged (beyond a torn tail) or not a history file. The file is untouched."""

    def __init__(self, path: str | os.PathLike, offset: int, reason: str) -> None:
        self.path = os.fspath(path)
        self.offset = offset
        self.reason = reason
        super().__init__(f"{self.path}: {reason} (at byte offset {offset})")


# -- encoding -----------------------------------------------------------------------------------


def frame(payload: bytes) -> bytes:
    n = len(payload)
    head = struct.pack("<II", n, zlib.crc32(payload))
    return head + struct.pack("<I", zlib.crc32(head)) + payload


def record_frames(record: list, max_record: int) -> bytes:
    """A record as one frame, or as a run of PART frames if its payload is bigger than ``max_record``."""
    payload = msgpack.packb(record, use_bin_type=True)
    if len(payload) <= max_record:
        return frame(payload)
    out = []
    step = max(1, max_record - 16)  # room for the part's own array header
    for i in range(0, len(payload), step):
        chunk = payload[i : i + step]
        out.append(frame(msgpack.packb([PART, i + step >= len(payload), chunk], use_bin_type=True)))
    return b"".join(out)


def pack_update(update: bytes, compress: bool) -> tuple[bytes, int]:
    if compress and len(update) >= _COMPRESS_MIN:
        z = zlib.compress(update, 6)
        # Stored raw when it compresses beyond what readers accept (crdt.limits): every file written
        # here can be read back within the decompression bound.
        if len(z) <= len(update) * 9 // 10 and len(update) <= decompress_limit(len(z)):
            return z, ZLIB
    return update, RAW


def header_bytes(session_id: str | None) -> bytes:
    header = {"format": FORMAT, "version": VERSION, "session_id": session_id, "created": time.time()}
    return MAGIC + frame(msgpack.packb(header, use_bin_type=True))


def unpack_update(data: Any, encoding: Any, path: Path, pos: int) -> bytes:
    if not isinstance(data, bytes):
        raise HistoryFileError(path, pos, "malformed update")
    if encoding == RAW:
        return data
    if encoding == ZLIB:
        try:
            return decompress(data, what="compressed update")
        except DecodeError as e:
            raise HistoryFileError(path, pos, str(e)) from None
    raise HistoryFileError(path, pos, f"unknown update encoding {encoding!r}")


def encode_changes(
    changes: Iterable[Change], index: dict[str, int], count: int, *, compress: bool, max_record: int,
    heads_of: Mapping[str, list[str]] | None = None, covers: Mapping[str, int] | None = None,
) -> list[bytes]:
    """Frames for ``changes``, numbered from ``count``; deps become back-references via ``index``
    (which gains the new changes).

    ``heads_of``: change hash -> names of the branches whose only head it becomes. ``covers``: change
    hash -> the last journal record it supersedes.
    """
    out = []
    for c in changes:
        refs = [count - index[d] for d in c.deps]
        data, encoding = pack_update(c.update, compress)
        record = [CHANGE, refs, c.author, c.time, c.kind, c.message, c.plain_meta(), data, encoding]
        if heads_of and c.hash in heads_of:
            record.append(sorted(heads_of[c.hash]))
        cover = None if covers is None else covers.get(c.hash)
        if cover is not None:
            if len(record) == 9:
                record.append([])
            record.append(cover)
        out.append(record_frames(record, max_record))
        index[c.hash] = count
        count += 1
    return out


def journal_frame(entry: JournalEntry, *, compress: bool, max_record: int) -> bytes:
    """The frame(s) of a journal record (``entry.meta``: plain, keys sorted)."""
    data, encoding = pack_update(entry.update, compress)
    record = [JOURNAL, entry.seq, entry.author, entry.time, entry.kind, entry.message, entry.meta, data,
              encoding]
    return record_frames(record, max_record)


def branch_frame(name: str, heads: Iterable[str] | None, *, max_record: int) -> bytes:
    """The frame of a branch record: ``name`` moved to ``heads`` (None: deleted)."""
    record = [BRANCH, name, None if heads is None else [bytes.fromhex(h) for h in sorted(heads)]]
    return record_frames(record, max_record)


def checkpoint_frame(
    history: History, heads: frozenset[str], update: bytes, count: int, *, compress: bool, max_record: int,
) -> bytes:
    """The frame(s) of a checkpoint after ``count`` changes: ``update`` is the state at ``heads``."""
    data, encoding = pack_update(update, compress)
    branches = {
        name: [bytes.fromhex(h) for h in sorted(v)] for name, v in sorted(history.branches.items())
    }
    record = [CHECKPOINT, count, [bytes.fromhex(h) for h in sorted(heads)], branches, data, encoding]
    return record_frames(record, max_record)


def file_bytes(
    header: Mapping[str, Any], history: History, journal: Iterable[JournalEntry], *, checkpoint: bool,
    compress: bool, max_record: int,
) -> tuple[bytes, bytes | None]:
    """A whole file holding ``history``: its changes in order, then one checkpoint (with ``checkpoint``)
    or its branches, then the ``journal`` records. Returns the bytes and the checkpoint's update."""
    parts = [MAGIC, frame(msgpack.packb(dict(header), use_bin_type=True))]
    parts.extend(encode_changes(history.changes, {}, 0, compress=compress, max_record=max_record))
    update = None
    if checkpoint and len(history):
        heads = history.heads
        update = history.update_at(heads)
        parts.append(checkpoint_frame(history, heads, update, len(history), compress=compress,
                                      max_record=max_record))
    else:
        for name, heads in sorted(history.branches.items()):
            if name != "main" or heads:
                parts.append(branch_frame(name, heads, max_record=max_record))
    for entry in journal:
        parts.append(journal_frame(entry, compress=compress, max_record=max_record))
    return b"".join(parts), update
