"""The format text files' histories had before sidecars: ``.NAME.crdtlog``, kept to convert such logs.

A log is the bytes ``JUPYTER-CRDT-LOG 1\\n``, then framed records (``u32`` length, ``u32`` CRC-32 of the
body, little-endian; a msgpack map body): the session id, accepted updates with author and time, the base
update, small facts such as ``saved_seq`` (``docs/file-format.md``, "Old logs"). Records were appended and
fsynced; a torn tail (a crash mid-write) is cut off on load, losing at most the record being written. A
log is locked (``crdt.files``'s lock, as history files are) while open, so a server of an earlier
version still writing it is never read half-way.

Only :func:`jupyter_crdt.history.text.convert_log` reads logs now (and tests write them, to have one to
convert): :class:`LogStore` keeps the writing side so that a log made by it is exactly what earlier
servers wrote.
"""

from __future__ import annotations

import asyncio
import contextlib
import os
import struct
import time
import uuid
import zlib
from dataclasses import dataclass, field
from typing import Any

import msgpack

from crdt import HistoryLockedError
from crdt import files as _fileio

__all__ = ["LogRecord", "LogContents", "LogStore", "log_path"]

_HEADER = b"JUPYTER-CRDT-LOG 1\n"
_FRAME = struct.Struct("<II")  # body length, CRC-32 of body
#: Records larger than this are treated as corruption when reading.
_MAX_RECORD = 1 << 31


def log_path(os_path: str) -> str:
    """Where an earlier version kept the history of the text file at ``os_path`` (``DIR/.NAME.crdtlog``)."""
    head, tail = os.path.split(os_path)
    return os.path.join(head, f".{tail}.crdtlog")


@dataclass
class LogRecord:
    """One accepted update."""

    update: bytes
    author: str
    time: float


@dataclass
class LogContents:
    """What a log held when it was opened."""

    records: list[LogRecord] = field(default_factory=list)
    base: bytes | None = None
    """The update the document was first loaded from disk with (the start of this history)."""
    meta: dict[str, Any] = field(default_factory=dict)
    repaired: bool = False
    """Whether a torn or corrupt tail was cut off."""


class LogStore:
    """An old history log, opened (locked) for reading and appending (see the module docstring)."""

    def __init__(self, path: str) -> None:
        self.path = path
        self._fd: int | None = None
        self._records: list[LogRecord] = []
        self._meta: dict[str, Any] = {}
        self._base: bytes | None = None
        self._buffer: list[bytes] = []
        self._appended = 0
        self._durable = 0
        self.session_id = ""

    # -- opening ---------------------------------------------------------------------------------

    def load(self) -> LogContents:
        """Open (creating if needed), lock, read, and cut off a torn tail.

        Raises ``crdt.HistoryLockedError`` when another process has the log open."""
        fd = _fileio.open_nofollow(self.path, os.O_RDWR | os.O_CREAT, 0o600)  # a link: UnsafeFileError
        try:
            locked = _fileio.try_lock(fd)
        except BaseException:
            os.close(fd)
            raise
        if not locked:
            os.close(fd)
            raise HistoryLockedError(self.path)
        self._fd = fd
        with os.fdopen(os.dup(fd), "rb") as f:
            data = f.read()
        loaded = LogContents()
        good = 0
        if data.startswith(_HEADER):
            pos = good = len(_HEADER)
            while pos + _FRAME.size <= len(data):
                length, crc = _FRAME.unpack_from(data, pos)
                start = pos + _FRAME.size
                end = start + length
                if length > _MAX_RECORD or end > len(data):
                    break
                body = data[start:end]
                if zlib.crc32(body) != crc:
                    break
                try:
                    self._take(msgpack.unpackb(body, raw=False))
                except (ValueError, TypeError, KeyError, msgpack.UnpackException):
                    break
                pos = good = end
        if good != len(data) or not data:
            loaded.repaired = bool(data) and good != len(data)
            if good == 0:
                os.ftruncate(fd, 0)
                os.lseek(fd, 0, os.SEEK_SET)
                os.write(fd, _HEADER)
                self.session_id = uuid.uuid4().hex
                self._write_now({"k": "s", "id": self.session_id})
            else:
                os.ftruncate(fd, good)
            os.fsync(fd)
        os.lseek(fd, 0, os.SEEK_END)
        if not self.session_id:
            self.session_id = uuid.uuid4().hex
            self._write_now({"k": "s", "id": self.session_id})
            os.fsync(fd)
        loaded.records = list(self._records)
        loaded.base = self._base
        loaded.meta = dict(self._meta)
        self._appended = self._durable = len(self._records)
        return loaded

    def _take(self, rec: dict) -> None:
        kind = rec["k"]
        if kind == "s":
            self.session_id = rec["id"]
        elif kind == "u":
            self._records.append(LogRecord(rec["u"], rec["a"], rec["t"]))
        elif kind == "b":
            self._base = rec["u"]
        elif kind == "m":
            self._meta[rec["key"]] = rec["v"]

    # -- writing ---------------------------------------------------------------------------------

    def _frame(self, rec: dict) -> bytes:
        body = msgpack.packb(rec, use_bin_type=True)
        return _FRAME.pack(len(body), zlib.crc32(body)) + body

    def _write_now(self, rec: dict) -> None:
        assert self._fd is not None
        os.write(self._fd, self._frame(rec))

    def set_base(self, update: bytes) -> None:
        self._base = update
        self._buffer.append(self._frame({"k": "b", "u": update}))

    def append(self, update: bytes, author: str) -> int:
        """Append an accepted update; returns its sequence number (1, 2, ...)."""
        rec = LogRecord(update, author, time.time())
        self._records.append(rec)
        self._buffer.append(self._frame({"k": "u", "u": update, "a": author, "t": rec.time}))
        self._appended += 1
        return self._appended

    def set_meta(self, key: str, value: Any) -> None:
        self._meta[key] = value
        self._buffer.append(self._frame({"k": "m", "key": key, "v": value}))

    def get_meta(self, key: str, default: Any = None) -> Any:
        return self._meta.get(key, default)

    def records(self) -> list[LogRecord]:
        """Every update appended so far (loaded and new), oldest first."""
        return self._records

    def position(self) -> int:
        """A marker of everything appended so far (for :meth:`mark_saved`)."""
        return len(self._records)

    def mark_saved(self, position: int, digest: str) -> None:
        """The file on disk now holds the document as it was at ``position``."""
        self.set_meta("saved_seq", position)
        self.set_meta("saved_digest", digest)

    async def flush(self) -> int:
        """Write the buffered records and fsync (in a worker thread, off the event loop)."""
        if not self._buffer:
            return self._durable
        data = b"".join(self._buffer)
        self._buffer.clear()
        upto = self._appended
        fd = self._fd
        if fd is None:
            return self._durable
        await asyncio.to_thread(_write_all_and_sync, fd, data)
        self._durable = max(self._durable, upto)
        return self._durable

    def flush_sync(self) -> None:
        """Write and fsync what is buffered, blocking (used when closing)."""
        if self._buffer and self._fd is not None:
            data = b"".join(self._buffer)
            self._buffer.clear()
            _write_all_and_sync(self._fd, data)
            self._durable = self._appended

    def close(self) -> None:
        if self._fd is None:
            return
        with contextlib.suppress(OSError):
            self.flush_sync()
        _fileio.unlock(self._fd)
        os.close(self._fd)
        self._fd = None


def _write_all_and_sync(fd: int, data: bytes) -> None:
    view = memoryview(data)
    while view:
        n = os.write(fd, view)
        view = view[n:]
    os.fsync(fd)
