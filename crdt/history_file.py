"""History files: a :class:`~crdt.history.History` on disk, appended as it grows, safe against crashes.

The format is documented byte by byte in ``docs/file-format.md``. In short: an 8-byte magic, a framed
header, then framed records (12-byte frame: payload length, CRC-32 of the payload, CRC-32 of those
8 bytes; then a msgpack payload). Records are changes (deps written as back-references), branch
moves, checkpoints (the merged update of everything so far, with heads and the branch table),
parts (a record too big for one frame, split) and journal records (an accepted update not yet in a
change, made durable at once with :meth:`HistoryWriter.journal`; superseded by the change that
covers it, handed back by :attr:`HistoryWriter.pending_journal` until then).

Writing: one writer per file (an exclusive, non-blocking lock: ``flock``, or ``msvcrt.locking`` where
there is no ``fcntl``, see :mod:`crdt.files`); records are appended in batches,
each batch one ``write`` followed (with ``durable=True``, the default) by ``fdatasync`` before
:meth:`HistoryWriter.append` returns. Compaction writes a new file beside the old one and renames it
over it (``os.replace``), then syncs the directory. Readers take no lock, and see the journal records
no change supersedes yet as provisional changes (:meth:`HistoryFile.read`), so they show every
acknowledged edit.

Reading: a crash mid-append leaves a *torn tail*: a last record cut short. It is ignored (losing only
that unfinished record) and cut off the next time the file is opened for writing; either way it is
reported (:class:`TornTail`: :meth:`HistoryFile.load` and :attr:`HistoryWriter.repaired`), because a
file cut short by a bad copy looks the same and may have lost many records. Every other damage
(a bad checksum or a cut record with more data after it, a bad header) raises
:class:`HistoryFileError`, which names the file and byte offset, and the file is left untouched.

Links: a history file is never opened through a symbolic link, for reading or writing (a cloned repository
could ship one pointing anywhere): :class:`~crdt.files.UnsafeFileError` (an ``OSError``) says so.
"""

from __future__ import annotations

import os
import secrets
import stat
import struct
import time
import zlib
from collections.abc import Iterable
from pathlib import Path
from typing import Any, NamedTuple

import msgpack

from . import files as _fileio
from .errors import DecodeError
from .files import UnsafeFileError
from .history import Change, ChangeGrouper, History
from .limits import check_depth, decompress, decompress_limit

__all__ = [
    "HistoryFile",
    "HistoryWriter",
    "HistoryFileError",
    "JournalEntry",
    "TornTail",
    "HistoryLockedError",
    "UnsafeFileError",
    "MAGIC",
    "FORMAT",
    "VERSION",
]

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


class HistoryLockedError(OSError):
    """Another process has the history file open for writing."""

    def __init__(self, path: str | os.PathLike) -> None:
        self.path = os.fspath(path)
        super().__init__(f"{self.path} is open for writing by another process")


# -- encoding -----------------------------------------------------------------------------------


def _frame(payload: bytes) -> bytes:
    n = len(payload)
    head = struct.pack("<II", n, zlib.crc32(payload))
    return head + struct.pack("<I", zlib.crc32(head)) + payload


def _frames(record: list, max_record: int) -> bytes:
    """A record as one frame, or as a run of PART frames if its payload is bigger than ``max_record``."""
    payload = msgpack.packb(record, use_bin_type=True)
    if len(payload) <= max_record:
        return _frame(payload)
    out = []
    step = max(1, max_record - 16)  # room for the part's own array header
    for i in range(0, len(payload), step):
        chunk = payload[i : i + step]
        out.append(_frame(msgpack.packb([PART, i + step >= len(payload), chunk], use_bin_type=True)))
    return b"".join(out)


def _pack_update(update: bytes, compress: bool) -> tuple[bytes, int]:
    if compress and len(update) >= _COMPRESS_MIN:
        z = zlib.compress(update, 6)
        # Stored raw when it compresses beyond what readers accept (crdt.limits): every file written
        # here can be read back within the decompression bound.
        if len(z) <= len(update) * 9 // 10 and len(update) <= decompress_limit(len(z)):
            return z, ZLIB
    return update, RAW


def _header(session_id: str | None) -> bytes:
    header = {"format": FORMAT, "version": VERSION, "session_id": session_id, "created": time.time()}
    return MAGIC + _frame(msgpack.packb(header, use_bin_type=True))


# -- decoding -----------------------------------------------------------------------------------


class _Loaded:
    """What a scan of a file found."""

    def __init__(self) -> None:
        self.history = History()
        self.header: dict[str, Any] = {}
        self.hashes: list[str] = []  # change record index -> hash
        self.end = 0  # end of the good data (where a torn tail starts)
        self.torn = False
        self.size = 0
        self.since_checkpoint = 0  # update bytes of the changes after the last checkpoint
        self.checkpoint_update = 0  # update bytes of the last checkpoint
        self.checkpoint_size = 0  # record bytes of the last checkpoint
        self.dead = 0  # bytes of superseded checkpoints and branch records
        self.branch_sizes: dict[str, int] = {}
        self.journal: list[tuple[JournalEntry, int]] = []  # uncovered journal records, with their sizes
        self.journal_seq = 0  # the highest journal sequence number seen
        self.journal_covered = 0  # journal records numbered up to this are superseded
        self.tail: TornTail | None = None  # set by _load when the file ends in a torn tail


def _cover(out: _Loaded, upto: Any, path: Path, pos: int) -> None:
    if not isinstance(upto, int) or isinstance(upto, bool) or upto < 0:
        raise HistoryFileError(path, pos, "malformed journal reference")
    out.journal_seq = max(out.journal_seq, upto)
    if upto > out.journal_covered:
        out.journal_covered = upto
        keep = []
        for entry, nbytes in out.journal:
            if entry.seq <= upto:
                out.dead += nbytes
            else:
                keep.append((entry, nbytes))
        out.journal = keep


def _load(data: bytes, path: Path) -> _Loaded:
    out = _Loaded()
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


def _hashes(out: _Loaded, items: Any, path: Path, pos: int) -> frozenset[str]:
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


def _unpack_update(data: Any, encoding: Any, path: Path, pos: int) -> bytes:
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


def _apply(out: _Loaded, record: Any, path: Path, pos: int, nbytes: int) -> None:
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
            deps = [out.hashes[n - k] for k in refs]
            update = _unpack_update(data, encoding, path, pos)
            change = Change(deps, author, t, update, kind=ckind, message=message, meta=meta or {})
            history.add(change, check=False)
            out.hashes.append(change.hash)
            if len(record) > 9 and record[9]:
                for name in record[9]:
                    if not isinstance(name, str) or not name:
                        raise HistoryFileError(path, pos, "malformed branch name")
                    history.set_branch(name, change.hash)
                    out.dead += out.branch_sizes.pop(name, 0)
            if len(record) > 10 and record[10] is not None:
                _cover(out, record[10], path, pos)
            out.since_checkpoint += len(update)
        elif kind == JOURNAL:
            _, seq, author, t, jkind, message, meta, data, encoding = record[:9]
            if not isinstance(seq, int) or isinstance(seq, bool) or seq < 1:
                raise HistoryFileError(path, pos, "malformed journal sequence number")
            if not isinstance(author, str) or not isinstance(jkind, str) or not isinstance(t, (int, float)):
                raise HistoryFileError(path, pos, "malformed journal record")
            if meta is not None and not isinstance(meta, dict):
                raise HistoryFileError(path, pos, "malformed journal meta")
            update = _unpack_update(data, encoding, path, pos)
            out.journal_seq = max(out.journal_seq, seq)
            entry = JournalEntry(seq, update, author, float(t), jkind, message, meta or {})
            if seq <= out.journal_covered:
                out.dead += nbytes
            else:
                out.journal.append((entry, nbytes))
        elif kind == BRANCH:
            _, name, heads = record[:3]
            if not isinstance(name, str) or not name:
                raise HistoryFileError(path, pos, "malformed branch name")
            out.dead += out.branch_sizes.pop(name, 0)
            if heads is None:
                if name in history.branches and name != "main":
                    history.delete_branch(name)
                out.dead += nbytes
            else:
                history.set_branch(name, _hashes(out, heads, path, pos))
                out.branch_sizes[name] = nbytes
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
            update = _unpack_update(data, encoding, path, pos)
            history.set_checkpoint(version, update)
            out.checkpoint_update = len(update)
            out.dead += out.checkpoint_size + sum(out.branch_sizes.values())
            out.branch_sizes = {}
            out.checkpoint_size = nbytes
            out.since_checkpoint = 0
        else:
            raise HistoryFileError(path, pos, f"unknown record type {kind} (written by a newer version?)")
    except HistoryFileError:
        raise
    except (ValueError, TypeError, KeyError) as e:
        raise HistoryFileError(path, pos, f"malformed record ({e})") from None


def _read_all(fd: int) -> bytes:
    size = os.fstat(fd).st_size
    chunks = []
    pos = 0
    while True:
        chunk = _fileio.pread(fd, max(size - pos, 1 << 16), pos)
        if not chunk:
            break
        chunks.append(chunk)
        pos += len(chunk)
    return b"".join(chunks)


def _fsync_dir(path: Path) -> None:
    _fileio.fsync_dir(path.parent)


def _sync(fd: int) -> None:
    (getattr(os, "fdatasync", None) or os.fsync)(fd)


def _write_all(fd: int, data: bytes, offset: int) -> None:
    view = memoryview(data)
    while view:
        n = _fileio.pwrite(fd, view, offset)
        view = view[n:]
        offset += n


def _lock(fd: int, path: Path) -> None:
    if not _fileio.try_lock(fd):
        raise HistoryLockedError(path)


def _read_file(path: Path, limit: int | None = None) -> bytes:
    """The bytes of the history file ``path`` (the first ``limit`` only, if given), never through a link."""
    fd = _fileio.open_nofollow(path, os.O_RDONLY)
    with os.fdopen(fd, "rb") as f:
        return f.read() if limit is None else f.read(limit)


# -- public API ---------------------------------------------------------------------------------


class HistoryFile:
    """Opening and reading history files (see ``docs/file-format.md``)."""

    @staticmethod
    def read(path: str | os.PathLike, *, journal: bool = True) -> History:
        """The history in ``path``, without locking or changing the file (a torn tail is ignored).

        ``journal`` (the default): the journal records no change supersedes yet (updates a live writer
        accepted and acknowledged, whose change it has not written yet) are included too, grouped into
        *provisional* changes on ``main`` the way the writer groups them (``ChangeGrouper``'s
        defaults), so a reader sees every acknowledged edit. The writer may later write those edits as
        differently grouped changes (other hashes). Without ``journal``: the written changes only.
        Raises :class:`HistoryFileError` for a damaged file and ``FileNotFoundError`` if it is absent.
        """
        return HistoryFile.load(path, journal=journal)[0]

    @staticmethod
    def load(path: str | os.PathLike, *, journal: bool = True) -> tuple[History, TornTail | None]:
        """As :meth:`read`, and the torn tail the reading ignored (None when the file ends cleanly):
        callers report it, since a copy cut short looks like one."""
        path = Path(path)
        data = _read_file(path)
        loaded = _load(data, path)
        if journal and loaded.journal:
            _group_journal(loaded.history, [entry for entry, _ in loaded.journal])
        return loaded.history, loaded.tail

    @staticmethod
    def parse(data: bytes, name: str | os.PathLike = "<bytes>", *, journal: bool = True) -> History:
        """The history in ``data``, the bytes of a history file (as :meth:`read`; ``name`` is the path
        named in errors)."""
        loaded = _load(bytes(data), Path(name))
        if journal and loaded.journal:
            _group_journal(loaded.history, [entry for entry, _ in loaded.journal])
        return loaded.history

    @staticmethod
    def salvage(path: str | os.PathLike) -> tuple[History, HistoryFileError | None]:
        """What a damaged file still holds: the history of the records before the damage (journal
        records grouped as :meth:`read` does) and the damage found (None if the file is sound). Raises
        :class:`HistoryFileError` when not even the header can be read. The file is not changed."""
        path = Path(path)
        data = _read_file(path)
        damage = None
        try:
            loaded = _load(data, path)
        except HistoryFileError as e:
            if e.offset <= len(MAGIC):
                raise
            damage = e
            loaded = _load(data[: e.offset], path)  # every record before the damaged one is whole
        if loaded.journal:
            _group_journal(loaded.history, [entry for entry, _ in loaded.journal])
        return loaded.history, damage

    @staticmethod
    def read_journal(path: str | os.PathLike) -> list[JournalEntry]:
        """The journal records of ``path`` no change supersedes yet, in order (no lock is taken)."""
        path = Path(path)
        return [entry for entry, _ in _load(_read_file(path), path).journal]

    @staticmethod
    def read_header(path: str | os.PathLike) -> dict[str, Any]:
        """The header of ``path`` (``format``, ``version``, ``session_id``, ``created``).

        ``{}`` if the file's creation was cut short before the header was complete.
        """
        path = Path(path)
        fd = _fileio.open_nofollow(path, os.O_RDONLY)
        with os.fdopen(fd, "rb") as f:
            data = f.read(len(MAGIC) + FRAME_SIZE)
            if len(data) < len(MAGIC) + FRAME_SIZE:
                return _load(data, path).header
            (n, _, _) = FRAME.unpack_from(data, len(MAGIC))
            data += f.read(n)
        return _load(data, path).header

    @staticmethod
    def open(
        path: str | os.PathLike,
        *,
        create: bool = True,
        durable: bool = True,
        session_id: str | None = None,
        compress: bool = True,
        max_record: int = DEFAULT_MAX_RECORD,
        checkpoint_bytes: int | None = DEFAULT_CHECKPOINT_BYTES,
        auto_compact: bool = True,
        mode: int | None = None,
    ) -> tuple[History, HistoryWriter]:
        """Open ``path`` for writing: its history and the writer that appends to it.

        Takes an exclusive lock (:class:`HistoryLockedError` if another process holds it), repairs a
        torn tail, and refuses a damaged file with :class:`HistoryFileError` (changing nothing).
        ``create``: make the file if it does not exist (with ``session_id`` in its header).
        ``durable``: ``fdatasync`` after every appended batch (off: a process crash still loses nothing
        that was appended, a power cut may). ``compress``: store updates zlib-compressed when it pays.
        ``max_record``: payload bytes per frame (bigger records are split). ``checkpoint_bytes``: write a
        checkpoint once the changes after the last one hold this many update bytes (and at least as
        many as the last checkpoint's update), which bounds the replay work of loading (None: only
        on request). ``auto_compact``: rewrite the file when superseded
        checkpoints and branch records make up more than half of it. ``mode``: the permission bits a
        new file gets (the umask applies; default 0o644), and the most an existing one keeps: wider
        bits are taken away (a history is as private as the document it holds).

        ``path`` must not be a symbolic link (:class:`UnsafeFileError`, changing nothing).
        """
        if max_record < 64:
            raise ValueError("max_record must be at least 64 bytes")
        _fileio.require_locking()  # refuse before creating anything, never write unlocked
        path = Path(path)
        while True:
            try:
                fd = _fileio.open_nofollow(path, os.O_RDWR | (os.O_CREAT if create else 0),
                                           0o644 if mode is None else mode)
            except FileNotFoundError:
                raise FileNotFoundError(f"no history file at {path}") from None
            try:
                _lock(fd, path)
                st = os.fstat(fd)
                try:
                    same = os.stat(path).st_ino == st.st_ino
                except FileNotFoundError:
                    same = False
                if same:
                    break
            except BaseException:
                os.close(fd)
                raise
            os.close(fd)  # replaced by a compaction while we waited: open the new file
        try:
            if mode is not None and stat.S_IMODE(st.st_mode) & ~mode & 0o777 and hasattr(os, "fchmod"):
                os.fchmod(fd, stat.S_IMODE(st.st_mode) & mode)
            loaded = _load(_read_all(fd), path)
            if loaded.end == 0:  # new, or its creation was cut short
                data = _header(session_id)
                os.ftruncate(fd, 0)
                _write_all(fd, data, 0)
                _sync(fd)
                _fsync_dir(path)
                loaded = _load(data, path)
            elif loaded.torn:
                os.ftruncate(fd, loaded.end)
                _sync(fd)
            _remove_stale_temps(path)
        except BaseException:
            os.close(fd)
            raise
        writer = HistoryWriter(
            fd, path, loaded, durable=durable, compress=compress, max_record=max_record,
            checkpoint_bytes=checkpoint_bytes, auto_compact=auto_compact,
        )
        writer.repaired = loaded.tail
        return loaded.history, writer


def _group_journal(history: History, entries: list[JournalEntry]) -> None:
    """Record journal ``entries`` into ``history`` as the changes a writer's grouper would make."""
    grouper = ChangeGrouper(history)
    for e in entries:
        try:
            grouper.add(e.update, e.author, time=e.time, kind=e.kind, message=e.message, meta=e.meta or None)
        except ValueError:  # an update this history cannot place (never written so): skip it, keep reading
            grouper = ChangeGrouper(history)
    grouper.flush()


def _temp_prefix(path: Path) -> str:
    return f".{path.name}."


def _remove_stale_temps(path: Path) -> None:
    """Delete temporary files left by a compaction that was killed (we hold the lock, so none is live)."""
    prefix = _temp_prefix(path)
    try:
        names = os.listdir(path.parent)
    except OSError:  # pragma: no cover
        return
    for name in names:
        if name.startswith(prefix) and name.endswith(".compact"):
            try:
                os.unlink(path.parent / name)
            except OSError:  # pragma: no cover
                pass


class HistoryWriter:
    """Appends a history to its file. Made by :meth:`HistoryFile.open`; holds the file's lock until closed.

    The writer is bound to the :class:`History` it was opened with: :meth:`append` writes whatever
    that history has gained since the last append (new changes in order, branch moves).
    """

    def __init__(
        self, fd: int, path: Path, loaded: _Loaded, *, durable: bool, compress: bool, max_record: int,
        checkpoint_bytes: int | None, auto_compact: bool,
    ) -> None:
        self.path = path
        self.durable = durable
        self.compress = compress
        self.max_record = max_record
        self.checkpoint_bytes = checkpoint_bytes
        self.auto_compact = auto_compact
        self._fd: int | None = fd
        self._unsynced = False
        self.repaired: TornTail | None = None
        """The torn tail cut off when the file was opened (None if it ended cleanly): report it."""
        self._take(loaded)

    def _take(self, loaded: _Loaded) -> None:
        self.history = loaded.history
        self._header = loaded.header
        self._end = loaded.end
        self._count = len(loaded.hashes)
        self._index = {h: i for i, h in enumerate(loaded.hashes)}
        self._saved = len(loaded.history)
        self._saved_branches = loaded.history.branches
        self._since_checkpoint = loaded.since_checkpoint
        self._checkpoint_size = loaded.checkpoint_size
        self._checkpoint_update = loaded.checkpoint_update
        self._dead = loaded.dead
        self._branch_sizes = dict(loaded.branch_sizes)
        self._journal = list(loaded.journal)
        self._journal_seq = loaded.journal_seq
        self._covers: dict[str, int] = {}  # change hash -> journal records it supersedes (see cover)

    # -- properties ------------------------------------------------------------------------------

    @property
    def closed(self) -> bool:
        return self._fd is None

    @property
    def session_id(self) -> str | None:
        """The session id stored in the file's header."""
        return self._header.get("session_id")

    @property
    def size(self) -> int:
        """Bytes in the file."""
        return self._end

    @property
    def pending_journal(self) -> list[JournalEntry]:
        """The journal records not yet superseded by a change record, in order (e.g. after a crash:
        accepted updates whose change was never written). Feed them to a grouper again."""
        return [entry for entry, _ in self._journal]

    def _check_open(self) -> int:
        if self._fd is None:
            raise ValueError(f"history writer for {self.path} is closed")
        return self._fd

    # -- appending -------------------------------------------------------------------------------

    def _encode_changes(
        self, changes: Iterable[Change], index: dict[str, int], count: int,
        heads_of: dict[str, list[str]] | None = None,
    ) -> list[bytes]:
        """Frames for ``changes``, numbered from ``count``; deps become back-references via ``index``.

        ``heads_of``: change hash -> names of the branches whose only head it becomes.
        """
        frames = []
        for c in changes:
            refs = [count - index[d] for d in c.deps]
            data, encoding = _pack_update(c.update, self.compress)
            record = [CHANGE, refs, c.author, c.time, c.kind, c.message, c.plain_meta(), data, encoding]
            if heads_of and c.hash in heads_of:
                record.append(sorted(heads_of[c.hash]))
            cover = self._covers.get(c.hash)
            if cover is not None:
                if len(record) == 9:
                    record.append([])
                record.append(cover)
            frames.append(_frames(record, self.max_record))
            index[c.hash] = count
            count += 1
        return frames

    def journal(
        self, update: bytes, author: str, time: float, *, kind: str = "edit", message: str | None = None,
        meta: dict | None = None, sync: bool = True,
    ) -> int:
        """Append ``update`` as a journal record now (synced with ``durable``); returns its sequence number.

        ``sync=False`` writes the record without waiting for the disk: call :meth:`sync` (possibly from a
        worker thread, so a server's event loop never waits on the disk) before treating it as durable.
        That lets one ``fdatasync`` cover many records written in a burst.

        The record keeps an accepted update safe until the change holding it is written: call
        :meth:`cover` with that change and the number of the last journal record it holds. Until then
        the record is handed back by :attr:`pending_journal` whenever the file is opened.
        """
        fd = self._check_open()
        if self._header.get("version", 1) < JOURNAL_VERSION:  # old readers would call it damage
            self._upgrade()
            fd = self._check_open()
        seq = self._journal_seq + 1
        data, encoding = _pack_update(bytes(update), self.compress)
        plain = dict(sorted((meta or {}).items()))
        record = [JOURNAL, seq, author, float(time), kind, message, plain, data, encoding]
        frame = _frames(record, self.max_record)
        self._write(fd, frame, sync=sync)
        self._journal_seq = seq
        self._journal.append((JournalEntry(seq, bytes(update), author, float(time), kind, message, plain),
                              len(frame)))
        return seq

    def cover(self, change: Change | str, upto: int) -> None:
        """Note that ``change`` holds the journaled updates numbered up to ``upto``: its change record
        (written by the next :meth:`append`) supersedes them, and compaction drops them."""
        h = change if isinstance(change, str) else change.hash
        self._covers[h] = max(upto, self._covers.get(h, 0))

    def _upgrade(self) -> None:
        old, self._header = self._header, dict(self._header, version=VERSION)
        try:
            self.compact(checkpoint=self.history.checkpoint is not None)
        except BaseException:
            self._header = old
            raise

    def _drop_covered(self, upto: int) -> None:
        keep = []
        for entry, nbytes in self._journal:
            if entry.seq <= upto:
                self._dead += nbytes
            else:
                keep.append((entry, nbytes))
        self._journal = keep

    def append(self, changes: Iterable[Change] = ()) -> int:
        """Add ``changes`` to the history (those not there yet), then write everything the file lacks.

        That is every change the history gained since the last append and every branch that moved,
        as one batch, synced to disk (with ``durable``) before returning. Returns the bytes written.
        A failed write is cut off again and the error raised.
        """
        fd = self._check_open()
        for c in changes:
            self.history.add(c)
        new = self.history.changes[self._saved :]
        new_hashes = {c.hash for c in new}
        branches = self.history.branches
        branch_frames = {}
        heads_of: dict[str, list[str]] = {}  # a branch moved onto one new change is noted in its record
        for name in sorted(set(branches) | set(self._saved_branches)):
            heads = branches.get(name)
            if heads == self._saved_branches.get(name):
                continue
            if heads is not None and len(heads) == 1 and next(iter(heads)) in new_hashes:
                heads_of.setdefault(next(iter(heads)), []).append(name)
                branch_frames[name] = b""
            else:
                record = [BRANCH, name, None if heads is None else [bytes.fromhex(h) for h in sorted(heads)]]
                branch_frames[name] = _frames(record, self.max_record)
        frames = self._encode_changes(new, self._index, self._count, heads_of)
        if not frames and not branch_frames:
            return 0
        data = b"".join(frames) + b"".join(branch_frames.values())
        try:
            self._write(fd, data)
        except BaseException:
            for c in new:
                self._index.pop(c.hash, None)
            raise
        self._count += len(new)
        self._saved += len(new)
        self._saved_branches = branches
        self._since_checkpoint += sum(len(c.update) for c in new)
        covered = [self._covers.pop(c.hash) for c in new if c.hash in self._covers]
        if covered:
            self._drop_covered(max(covered))
        for name, frame in branch_frames.items():
            self._dead += self._branch_sizes.pop(name, 0)
            if name in branches:
                self._branch_sizes[name] = len(frame)
            else:
                self._dead += len(frame)
        self._maintain()
        return len(data)

    def sync(self) -> None:
        """Make every record written so far durable (``fdatasync``), if some were written unsynced.

        Safe to call from another thread while this one writes more records: what was written before
        the call is durable when it returns.
        """
        fd = self._fd
        if fd is None or not self._unsynced:
            return
        self._unsynced = False
        try:
            _sync(fd)
        except BaseException:
            self._unsynced = True
            raise

    def _write(self, fd: int, data: bytes, *, sync: bool = True) -> None:
        start = self._end
        try:
            _write_all(fd, data, start)
            if self.durable and sync:
                _sync(fd)
                self._unsynced = False
            elif self.durable:
                self._unsynced = True
        except BaseException:
            try:
                os.ftruncate(fd, start)
            except OSError:  # pragma: no cover
                pass
            raise
        self._end = start + len(data)

    def _maintain(self) -> None:
        cb = self.checkpoint_bytes
        if cb is not None and self._since_checkpoint >= max(cb, self._checkpoint_update):
            self.checkpoint()
        elif self.auto_compact and self._dead * 2 > self._end:
            self.compact()

    def checkpoint(self) -> None:
        """Append what is new, then a checkpoint: the merged update of everything, heads and branches."""
        fd = self._check_open()
        self.append()
        history = self.history
        if not len(history):
            return
        heads = history.heads
        if history.checkpoint == heads:
            return
        update = history.update_at(heads)
        frame = self._checkpoint_frame(history, heads, update, self._count)
        self._write(fd, frame)
        history.set_checkpoint(heads, update)
        self._dead += self._checkpoint_size + sum(self._branch_sizes.values())
        self._branch_sizes = {}
        self._checkpoint_size = len(frame)
        self._checkpoint_update = len(update)
        self._since_checkpoint = 0
        if self.auto_compact and self._dead * 2 > self._end:
            self.compact()

    def _checkpoint_frame(self, history: History, heads: frozenset[str], update: bytes, count: int) -> bytes:
        data, encoding = _pack_update(update, self.compress)
        branches = {
            name: [bytes.fromhex(h) for h in sorted(v)] for name, v in sorted(history.branches.items())
        }
        record = [CHECKPOINT, count, [bytes.fromhex(h) for h in sorted(heads)], branches, data, encoding]
        return _frames(record, self.max_record)

    # -- rewriting -------------------------------------------------------------------------------

    def compact(self, history: History | None = None, *, checkpoint: bool = True) -> None:
        """Rewrite the file atomically: its changes in order, then one checkpoint (with ``checkpoint``).

        Pass ``history`` to replace the file's content with another history (e.g. one rewritten to
        squash or purge changes); the writer is bound to it afterwards. The new file is written and
        synced beside the old one, then renamed over it, so a crash leaves the old file or the new
        one, never a mix. Superseded checkpoints and branch records are dropped.
        """
        old_fd = self._check_open()
        history = self.history if history is None else history
        seq_before = self._journal_seq  # numbers keep growing, so pending covers stay meaningful
        if history is self.history:
            self.append()
        tmp = self.path.parent / f"{_temp_prefix(self.path)}{secrets.token_hex(6)}.compact"
        fd = _fileio.open_nofollow(tmp, os.O_RDWR | os.O_CREAT | os.O_EXCL, 0o600)
        covers = self._covers
        try:
            if hasattr(os, "fchmod"):  # the new file is exactly as private as the old one
                os.fchmod(fd, os.fstat(old_fd).st_mode & 0o7777)
            _lock(fd, tmp)
            parts = [MAGIC, _frame(msgpack.packb(self._header, use_bin_type=True))]
            covered = max(self._covers.values(), default=0)
            covers, self._covers = self._covers, {}  # the rewritten changes need no journal references
            index: dict[str, int] = {}
            parts.extend(self._encode_changes(history.changes, index, 0))
            update = None
            if checkpoint and len(history):
                heads = history.heads
                update = history.update_at(heads)
                parts.append(self._checkpoint_frame(history, heads, update, len(index)))
            else:
                for name, heads in sorted(history.branches.items()):
                    if name != "main" or heads:
                        record = [BRANCH, name, [bytes.fromhex(h) for h in sorted(heads)]]
                        parts.append(_frames(record, self.max_record))
            # journal records still pending survive; superseded ones (and those a change covers that a
            # replacing history took over) are dropped
            for entry, _ in self._journal:
                if entry.seq > covered:
                    data, encoding = _pack_update(entry.update, self.compress)
                    record = [JOURNAL, entry.seq, entry.author, entry.time, entry.kind, entry.message,
                              entry.meta, data, encoding]
                    parts.append(_frames(record, self.max_record))
            data = b"".join(parts)
            _write_all(fd, data, 0)
            _sync(fd)
            os.replace(tmp, self.path)
        except BaseException:
            self._covers = covers
            os.close(fd)
            try:
                os.unlink(tmp)
            except OSError:
                pass
            raise  # the old file is intact, and so is our bookkeeping of it
        _fsync_dir(self.path)
        _fileio.unlock(old_fd)
        os.close(old_fd)
        self._fd = fd
        loaded = _load(data, self.path)  # also checks what we wrote
        if update is not None:
            history.set_checkpoint(history.heads, update)
        loaded.history = history
        self._take(loaded)
        self._journal_seq = max(self._journal_seq, seq_before)

    def set_session_id(self, session_id: str | None) -> None:
        """Store a new session id in the header (rewrites the file, see :meth:`compact`)."""
        self._check_open()
        old, self._header = self._header, dict(self._header, session_id=session_id)
        try:
            self.compact(checkpoint=self.history.checkpoint is not None)
        except BaseException:
            self._header = old
            raise

    # -- closing ---------------------------------------------------------------------------------

    def close(self) -> None:
        """Append what is new and release the file (and its lock). Closing twice is harmless."""
        if self._fd is None:
            return
        try:
            self.append()
            if self._unsynced:
                _sync(self._fd)
                self._unsynced = False
        finally:
            fd, self._fd = self._fd, None
            _fileio.unlock(fd)
            os.close(fd)

    def __enter__(self) -> HistoryWriter:
        return self

    def __exit__(self, *exc: object) -> None:
        self.close()

    def __repr__(self) -> str:
        state = "closed" if self._fd is None else f"{self._end} bytes"
        return f"<HistoryWriter {self.path} {state}>"
