"""Opening and reading history files: :class:`HistoryFile`."""

from __future__ import annotations

import os
import stat
from pathlib import Path
from typing import Any

from ..history import History
from . import disk
from .codec import (
    DEFAULT_CHECKPOINT_BYTES,
    DEFAULT_MAX_RECORD,
    FRAME,
    FRAME_SIZE,
    MAGIC,
    HistoryFileError,
    JournalEntry,
    TornTail,
    header_bytes,
)
from .journal import group_journal
from .scan import scan
from .writer import HistoryWriter


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
        data = disk.read_file(path)
        loaded = scan(data, path)
        if journal and loaded.journal.records:
            group_journal(loaded.history, loaded.journal.pending)
        return loaded.history, loaded.tail

    @staticmethod
    def parse(data: bytes, name: str | os.PathLike = "<bytes>", *, journal: bool = True) -> History:
        """The history in ``data``, the bytes of a history file (as :meth:`read`; ``name`` is the path
        named in errors)."""
        loaded = scan(bytes(data), Path(name))
        if journal and loaded.journal.records:
            group_journal(loaded.history, loaded.journal.pending)
        return loaded.history

    @staticmethod
    def salvage(path: str | os.PathLike) -> tuple[History, HistoryFileError | None]:
        """What a damaged file still holds: the history of the records before the damage (journal
        records grouped as :meth:`read` does) and the damage found (None if the file is sound). Raises
        :class:`HistoryFileError` when not even the header can be read. The file is not changed."""
        path = Path(path)
        data = disk.read_file(path)
        damage = None
        try:
            loaded = scan(data, path)
        except HistoryFileError as e:
            if e.offset <= len(MAGIC):
                raise
            damage = e
            loaded = scan(data[: e.offset], path)  # every record before the damaged one is whole
        if loaded.journal.records:
            group_journal(loaded.history, loaded.journal.pending)
        return loaded.history, damage

    @staticmethod
    def read_journal(path: str | os.PathLike) -> list[JournalEntry]:
        """The journal records of ``path`` no change supersedes yet, in order (no lock is taken)."""
        path = Path(path)
        return scan(disk.read_file(path), path).journal.pending

    @staticmethod
    def read_header(path: str | os.PathLike) -> dict[str, Any]:
        """The header of ``path`` (``format``, ``version``, ``session_id``, ``created``).

        ``{}`` if the file's creation was cut short before the header was complete.
        """
        path = Path(path)
        fd = disk.open_nofollow(path, os.O_RDONLY)
        with os.fdopen(fd, "rb") as f:
            data = f.read(len(MAGIC) + FRAME_SIZE)
            if len(data) < len(MAGIC) + FRAME_SIZE:
                return scan(data, path).header
            (n, _, _) = FRAME.unpack_from(data, len(MAGIC))
            data += f.read(n)
        return scan(data, path).header

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
        disk.require_locking()  # refuse before creating anything, never write unlocked
        path = Path(path)
        while True:
            try:
                fd = disk.open_nofollow(path, os.O_RDWR | (os.O_CREAT if create else 0),
                                           0o644 if mode is None else mode)
            except FileNotFoundError:
                raise FileNotFoundError(f"no history file at {path}") from None
            try:
                disk.lock(fd, path)
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
            loaded = scan(disk.read_all(fd), path)
            if loaded.end == 0:  # new, or its creation was cut short
                data = header_bytes(session_id)
                os.ftruncate(fd, 0)
                disk.write_all(fd, data, 0)
                disk.sync(fd)
                disk.fsync_dir(path)
                loaded = scan(data, path)
            elif loaded.torn:
                os.ftruncate(fd, loaded.end)
                disk.sync(fd)
            disk.remove_stale_temps(path)
        except BaseException:
            os.close(fd)
            raise
        writer = HistoryWriter(
            fd, path, loaded, durable=durable, compress=compress, max_record=max_record,
            checkpoint_bytes=checkpoint_bytes, auto_compact=auto_compact,
        )
        writer.repaired = loaded.tail
        return loaded.history, writer
