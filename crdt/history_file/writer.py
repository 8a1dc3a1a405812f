"""Writing a history file: :class:`HistoryWriter` appends, journals, checkpoints and compacts."""

from __future__ import annotations

import os
import secrets
from collections.abc import Iterable
from pathlib import Path

from ..history import Change, History
from . import disk
from .codec import (
    JOURNAL_VERSION,
    VERSION,
    JournalEntry,
    TornTail,
    branch_frame,
    checkpoint_frame,
    encode_changes,
    file_bytes,
    journal_frame,
)
from .scan import Loaded, scan


class HistoryWriter:
    """Appends a history to its file. Made by :meth:`HistoryFile.open`; holds the file's lock until closed.

    The writer is bound to the :class:`History` it was opened with: :meth:`append` writes whatever
    that history has gained since the last append (new changes in order, branch moves).
    """

    def __init__(
        self, fd: int, path: Path, loaded: Loaded, *, durable: bool, compress: bool, max_record: int,
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

    def _take(self, loaded: Loaded) -> None:
        self.history = loaded.history
        self._header = loaded.header
        self._end = loaded.end
        self._count = len(loaded.hashes)
        self._index = {h: i for i, h in enumerate(loaded.hashes)}
        self._saved = len(loaded.history)
        self._saved_branches = loaded.history.branches
        self._space = loaded.space
        self._journal = loaded.journal

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
        return self._journal.pending

    def _check_open(self) -> int:
        if self._fd is None:
            raise ValueError(f"history writer for {self.path} is closed")
        return self._fd

    # -- appending -------------------------------------------------------------------------------

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
        entry = JournalEntry(self._journal.seq + 1, bytes(update), author, float(time), kind, message,
                             dict(sorted((meta or {}).items())))
        frame = journal_frame(entry, compress=self.compress, max_record=self.max_record)
        self._write(fd, frame, sync=sync)
        self._journal.add(entry, len(frame))
        return entry.seq

    def cover(self, change: Change | str, upto: int) -> None:
        """Note that ``change`` holds the journaled updates numbered up to ``upto``: its change record
        (written by the next :meth:`append`) supersedes them, and compaction drops them."""
        self._journal.note_cover(change, upto)

    def _upgrade(self) -> None:
        old, self._header = self._header, dict(self._header, version=VERSION)
        try:
            self.compact(checkpoint=self.history.checkpoint is not None)
        except BaseException:
            self._header = old
            raise

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
                branch_frames[name] = branch_frame(name, heads, max_record=self.max_record)
        frames = encode_changes(new, self._index, self._count, compress=self.compress,
                                max_record=self.max_record, heads_of=heads_of, covers=self._journal.covers)
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
        space = self._space
        space.change(sum(len(c.update) for c in new))
        covered = self._journal.take_covers(new) if self._journal.covers else None
        if covered is not None:
            space.dead += self._journal.cover(covered)
        for name, frame in branch_frames.items():
            space.branch(name, len(frame), deleted=name not in branches)
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
            disk.sync(fd)
        except BaseException:
            self._unsynced = True
            raise

    def _write(self, fd: int, data: bytes, *, sync: bool = True) -> None:
        start = self._end
        try:
            disk.write_all(fd, data, start)
            if self.durable and sync:
                disk.sync(fd)
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
        if self._space.wants_checkpoint(self.checkpoint_bytes):
            self.checkpoint()
        elif self.auto_compact and self._space.wants_compaction(self._end):
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
        frame = checkpoint_frame(history, heads, update, self._count, compress=self.compress,
                                 max_record=self.max_record)
        self._write(fd, frame)
        history.set_checkpoint(heads, update)
        self._space.checkpoint(len(frame), len(update))
        if self.auto_compact and self._space.wants_compaction(self._end):
            self.compact()

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
        seq_before = self._journal.seq  # numbers keep growing, so pending covers stay meaningful
        if history is self.history:
            self.append()
        # Journal records still pending survive; superseded ones (and those a change covers that a
        # replacing history took over) are dropped. The rewritten changes need no journal references.
        covered = max(self._journal.covers.values(), default=0)
        data, update = file_bytes(
            self._header, history, [e for e in self._journal.pending if e.seq > covered],
            checkpoint=checkpoint, compress=self.compress, max_record=self.max_record,
        )
        tmp = self.path.parent / f"{disk.temp_prefix(self.path)}{secrets.token_hex(6)}.compact"
        fd = disk.open_nofollow(tmp, os.O_RDWR | os.O_CREAT | os.O_EXCL, 0o600)
        try:
            if hasattr(os, "fchmod"):  # the new file is exactly as private as the old one
                os.fchmod(fd, os.fstat(old_fd).st_mode & 0o7777)
            disk.lock(fd, tmp)
            disk.write_all(fd, data, 0)
            disk.sync(fd)
            os.replace(tmp, self.path)
        except BaseException:
            os.close(fd)
            try:
                os.unlink(tmp)
            except OSError:
                pass
            raise  # the old file is intact, and so is our bookkeeping of it
        disk.fsync_dir(self.path)
        disk.unlock(old_fd)
        os.close(old_fd)
        self._fd = fd
        loaded = scan(data, self.path)  # also checks what we wrote
        if update is not None:
            history.set_checkpoint(history.heads, update)
        loaded.history = history
        self._take(loaded)
        self._journal.seq = max(self._journal.seq, seq_before)

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
                disk.sync(self._fd)
                self._unsynced = False
        finally:
            fd, self._fd = self._fd, None
            disk.unlock(fd)
            os.close(fd)

    def __enter__(self) -> HistoryWriter:
        return self

    def __exit__(self, *exc: object) -> None:
        self.close()

    def __repr__(self) -> str:
        state = "closed" if self._fd is None else f"{self._end} bytes"
        return f"<HistoryWriter {self.path} {state}>"
