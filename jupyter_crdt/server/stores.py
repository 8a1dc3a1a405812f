"""Where a room's accepted updates are kept: the :class:`HistoryStore` protocol and the stores.

A room appends every accepted update (with its author) before broadcasting it, and calls
:meth:`HistoryStore.flush` to make appended updates durable; once ``flush`` returns, the updates
appended before it survive a crash (the room then acknowledges them to their senders). A store also
keeps the document's *session id*, created with the store, so a server restart with its history intact
keeps the id and clients that reconnect are recognised, plus a few small facts about the document
(:meth:`HistoryStore.get_meta`), such as which update the file on disk was last saved at.

Every store says what it holds through the protocol, so nobody probes a store for attributes: the
notebook features of the server (branches, blame, diffs, merges of copies) ask for
:attr:`HistoryStore.notebook_history`, the log of a text file for :attr:`HistoryStore.text_history`; both
are None for a store that holds no such history.

- :class:`NotebookHistoryStore`: a notebook's history in the project's history format
  (:mod:`crdt.history`, :mod:`jupyter_crdt.history.sidecar`): the sidecar ``.NAME.crdt`` beside the
  ``.ipynb``, with changes grouped by author, the ``written`` branch marking what the file holds, and
  the session id in its header. The ``jupyter crdt`` command line reads the same file.
- :class:`TextHistoryStore`: a text file's history, in the same format (``.NAME.EXT.crdt``, see
  :mod:`jupyter_crdt.history.text`).
- :class:`MemoryStore`: nothing on disk (history disabled, or a contents manager without files).
- ``BranchStore`` (:mod:`jupyter_crdt.server.branches`): a branch of a notebook's history.

The old format of text files' histories (``.NAME.crdtlog``) is a history format:
:mod:`jupyter_crdt.history.crdtlog` reads it to convert it.
"""

from __future__ import annotations

import asyncio
import logging
import os
import time
import uuid
from collections.abc import Callable
from dataclasses import dataclass, field
from typing import Any, Protocol

import crdt
from crdt import UnsafeFileError
from jupyter_crdt.history import (
    WRITTEN,
    DocumentHistory,
    NotebookHistory,
    TextHistory,
    move_history,
    recorded_version,
    set_aside,
)
from jupyter_crdt.history import sidecar_path as history_path
from jupyter_crdt.server.loaders import FileGone


@dataclass
class Record:
    """One accepted update."""

    update: bytes
    author: str
    time: float


@dataclass
class Loaded:
    """What a store held when it was opened."""

    records: list[Record] = field(default_factory=list)
    base: bytes | None = None
    """The update the document was first loaded from disk with (the start of this history)."""
    meta: dict[str, Any] = field(default_factory=dict)
    repaired: bool = False
    """Whether a torn or corrupt tail was cut off."""
    notes: list[str] = field(default_factory=list)
    """What a person should hear about the history (a torn tail cut off, a damaged history set aside):
    the room logs them and shows them in ``GET /api/crdt/status`` and the session reply."""


class HistoryStore(Protocol):
    """What a room, and the server's REST API, need from a document's history (see the module docstring)."""

    @property
    def session_id(self) -> str:
        """Stable for as long as this history exists."""

    def load(self) -> Loaded: ...

    def set_base(self, update: bytes) -> None:
        """Record the update the document was created with (called once, on a new history)."""

    def append(self, update: bytes, author: str) -> int:
        """Append an accepted update; returns its sequence number (1, 2, ...)."""

    async def flush(self) -> int:
        """Make everything appended so far durable; returns the last durable sequence number."""

    @property
    def deadline(self) -> float | None:
        """For a store whose :meth:`flush` makes updates durable only once their change is closed (a
        branch's): when the change being grouped closes, so the room flushes again then. None when
        there is no such change (every other store: a flush makes what was appended durable)."""

    def set_meta(self, key: str, value: Any) -> None:
        """Remember a small fact (durable with the next flush)."""

    def get_meta(self, key: str, default: Any = None) -> Any: ...

    def records(self) -> list[Record]:
        """Every update appended so far (loaded and new), oldest first."""

    def position(self) -> Any:
        """A marker of everything appended so far (for :meth:`mark_saved`)."""

    def mark_saved(self, position: Any, digest: str) -> None:
        """The file on disk now holds the document as it was at ``position``."""

    def saved_update(self) -> bytes | None:
        """The document as it was last saved (an update from scratch), or None if unknown."""

    def recorded_position(self, matches: Callable[[crdt.Doc], bool]) -> Any:
        """The newest recorded version after the one last saved whose document ``matches``, as a
        :meth:`position`, or None (always None for a store that keeps no versions)."""

    def flush_edits(self) -> None:
        """Close the change being grouped now, so the history holds every accepted update (before a
        version is read, merged or moved); nothing to do for a store that does not group."""

    @property
    def notebook_history(self) -> NotebookHistory | None:
        """The open, writable history of a notebook this store records into (branches, blame, diffs and
        merges of copies work on it); None when the store holds none (a text file, a history in memory,
        a closed store)."""

    @property
    def text_history(self) -> TextHistory | None:
        """The open history of a text file this store records into; None when it holds none."""

    def relocate(self, file_path: str) -> None:
        """Follow the document, renamed through Jupyter, to ``file_path`` (nothing to do in memory)."""

    def close(self) -> None: ...


class _SeqSaved:
    """``position``/``mark_saved``/``saved_update`` for stores that number their records."""

    def position(self) -> int:
        return len(self.records())  # type: ignore[attr-defined]

    def mark_saved(self, position: int, digest: str) -> None:
        self.set_meta("saved_seq", position)  # type: ignore[attr-defined]
        self.set_meta("saved_digest", digest)  # type: ignore[attr-defined]

    def saved_update(self) -> bytes | None:
        from crdt import merge_updates

        seq = self.get_meta("saved_seq")  # type: ignore[attr-defined]
        if seq is None:
            return None
        updates = [r.update for r in self.records()[:seq]]  # type: ignore[attr-defined]
        return merge_updates(updates) if updates else None


class MemoryStore(_SeqSaved):
    """A history kept in memory only; its session id is this server process's."""

    _process_session = uuid.uuid4().hex

    def __init__(self) -> None:
        self.session_id = self._process_session
        self._records: list[Record] = []
        self._meta: dict[str, Any] = {}
        self._base: bytes | None = None
        self.on_disk: int | None = None
        """For a document whose history is not on disk (histories off, or its sidecar refused): the
        last record its file holds, which is what :meth:`flush` reports durable (an ack means "on
        disk"); the room moves it on each save. None: a room with no file (fork, timeline), whose
        records are all there is."""

    def load(self) -> Loaded:
        return Loaded(list(self._records), self._base, dict(self._meta))

    def set_base(self, update: bytes) -> None:
        self._base = update

    def append(self, update: bytes, author: str) -> int:
        self._records.append(Record(update, author, time.time()))
        return len(self._records)

    async def flush(self) -> int:
        return len(self._records) if self.on_disk is None else self.on_disk

    def set_meta(self, key: str, value: Any) -> None:
        self._meta[key] = value

    def get_meta(self, key: str, default: Any = None) -> Any:
        return self._meta.get(key, default)

    def records(self) -> list[Record]:
        return self._records

    @property
    def deadline(self) -> float | None:
        return None

    def recorded_position(self, matches: Callable[[crdt.Doc], bool]) -> Any:
        return None

    def flush_edits(self) -> None:
        """Nothing is grouped."""

    @property
    def notebook_history(self) -> NotebookHistory | None:
        return None

    @property
    def text_history(self) -> TextHistory | None:
        return None

    def relocate(self, file_path: str) -> None:
        """Nothing on disk to move."""

    def close(self) -> None:
        pass


class StoreLocked(RuntimeError):
    """Another process holds this history's lock (another server on the same folder, or ``jupyter crdt``
    writing it): the document is not opened here, never with a history kept only in memory while edits are
    acknowledged as durable."""


class HistoryUnavailable(RuntimeError):
    """The history sidecar may not be used at all (it is a symbolic link): the document opens without a
    history, and says so (:attr:`jupyter_crdt.server.room.Room.history_error`)."""


class SidecarHistoryStore:
    """A document's history in the project's history format, through :mod:`jupyter_crdt.history.sidecar`
    (the sidecar ``.NAME.crdt`` beside the file, shared with the ``jupyter crdt`` command line).

    Every accepted update is journaled in the sidecar (appended and synced) as :meth:`append` takes it,
    so an acknowledged edit is always in the sidecar, and grouped into changes by author
    (``crdt.ChangeGrouper``): a change is closed on the grouper's idle gap (or size cap, another
    author, a save) and then written, superseding the journal records it holds. A crash before that
    loses nothing: the next open groups the journaled updates again. :meth:`flush` only writes the
    changes closed so far; it never cuts the open one short. The ``written`` branch marks what the
    file holds (:meth:`mark_saved`).
    """

    #: The kind of history this store opens (a subclass for other documents sets its own).
    history_class: type[DocumentHistory] = NotebookHistory

    def __init__(self, document_path: str) -> None:
        self.path = document_path
        self.document_history: DocumentHistory | None = None
        """The open history (None until loaded, after closing)."""
        self.session_id = ""
        self._appended = 0
        self._durable = 0
        self._meta: dict[str, Any] = {}
        self._lock: asyncio.Lock | None = None
        self._poll_handle: asyncio.TimerHandle | None = None

    def _open(self) -> DocumentHistory:
        """The open history; a store used before :meth:`load` or after :meth:`close` is a bug."""
        if self.document_history is None:
            raise RuntimeError(f"the history of {self.path} is not open")
        return self.document_history

    def load(self) -> Loaded:
        notes: list[str] = []
        try:
            try:
                self.document_history = self.history_class.open(self.path, author="server", sync=False)
            except crdt.HistoryFileError as e:
                # A damaged history must not keep the document from opening: it is set aside (kept, for
                # `jupyter crdt recover`) and the document starts a new history from its file.
                notes.append(self._set_aside(e))
                self.document_history = self.history_class.open(self.path, author="server", sync=False)
        except crdt.HistoryLockedError as e:
            raise StoreLocked(
                f"{e}: another Jupyter server on this folder, or `jupyter crdt`, is writing this "
                "document's history; edit it there (or stop that process) and open it again") from None
        except UnsafeFileError as e:
            raise HistoryUnavailable(str(e)) from None
        except FileNotFoundError as e:  # neither the notebook nor a history: as the loader says it
            raise FileGone(str(e)) from None
        nh = self.document_history
        # these reach clients (session reply, status): the sidecar's name, never the server's paths
        full, short = str(nh.sidecar), nh.sidecar.name
        notes.extend(n.replace(full, short) for n in nh.notes)
        self.session_id = nh.session_id or ""
        # updates journaled before a crash: into main, so the room starts with them
        nh.flush_edits()
        history = nh.history
        changes = history.changes
        base = changes[0].update if len(changes) else None
        # The document of main in one update (checkpoints make this fast); records() has the changes.
        main = Record(history.update_at(nh.main), "history", 0.0) if len(changes) else None
        return Loaded(records=[main] if main else [], base=base, meta={}, notes=notes)

    def _set_aside(self, error: crdt.HistoryFileError) -> str:
        name = os.path.basename(self.path)
        try:
            aside = set_aside(self.path)
        except OSError as e:  # e.g. a read-only folder: refused, with the reason and the way out
            raise type(error)(history_path(name), error.offset,
                              f"{error.reason}; it could not be moved aside ({e.strerror or e}): move it "
                              f"away, or run in its folder: jupyter crdt recover {name}") from None
        # names, not the server's paths: this reaches clients
        return (f"the history {history_path(name)} is damaged ({error.reason}, at byte {error.offset}): "
                f"it was moved aside to {aside.name} (kept) and {name} opened from its file with a new "
                f"history. To bring back what the old history still holds, close the document (or stop "
                f"the server) and run in its folder: jupyter crdt recover {name} {aside.name}")

    def recorded_position(self, matches: Callable[[crdt.Doc], bool]) -> Any:
        """The newest version recorded after the one last written and before ``main`` whose document
        ``matches`` (a predicate on a ``crdt.Doc``), or None (see ``history.recorded_version``)."""
        nh = self._open()
        nh.flush_edits()
        written, main = nh.written, nh.main
        if written is None or written == main:
            return None
        return recorded_version(nh.history, written, main, matches)

    def set_base(self, update: bytes) -> None:
        """Not needed: a history starts with the import of the file."""

    def append(self, update: bytes, author: str) -> int:
        # Journaled (written) before it returns, so it is in the history before it is broadcast; made
        # durable by the next flush, whose one fdatasync in a worker thread covers a whole burst.
        self._open().record_update(update, author, apply=False, sync=False)
        self._appended += 1
        return self._appended

    async def flush(self) -> int:
        """Sync the journal (off the event loop), write the changes closed so far and arrange for the
        open one to be closed and written once the grouper's idle gap has passed."""
        if self._lock is None:
            self._lock = asyncio.Lock()
        async with self._lock:
            upto = self._appended
            writer = self.document_history.writer if self.document_history is not None else None
            if writer is not None and upto > self._durable:
                await asyncio.to_thread(writer.sync)
            self._durable = upto
            if self.document_history is not None:
                self.document_history.flush_closed()
                self._schedule_poll()
            return upto

    @property
    def deadline(self) -> float | None:
        """None: journaled updates are durable once flushed, whether their change is closed or not."""
        return None

    def _schedule_poll(self) -> None:
        if self._poll_handle is not None:
            self._poll_handle.cancel()
            self._poll_handle = None
        deadline = self.document_history.deadline if self.document_history is not None else None
        if deadline is None:
            return
        self._poll_handle = asyncio.get_running_loop().call_later(
            max(0.0, deadline - time.time()) + 0.001, self._poll)

    def _poll(self) -> None:
        self._poll_handle = None
        if self.document_history is None:
            return
        try:
            self.document_history.flush_closed()
        except Exception:  # noqa: BLE001 - the updates stay journaled; the next flush tries again
            logging.getLogger(__name__).exception("jupyter_crdt: %s: writing a change failed", self.path)
        self._schedule_poll()

    def set_meta(self, key: str, value: Any) -> None:
        self._meta[key] = value  # kept in memory only

    def get_meta(self, key: str, default: Any = None) -> Any:
        return self._meta.get(key, default)

    def records(self) -> list[Record]:
        nh = self._open()
        nh.flush_edits()
        return [Record(c.update, c.author, c.time) for c in nh.history.log(nh.main)]

    def position(self) -> Any:
        nh = self._open()
        nh.flush_edits()
        return nh.main

    def flush_edits(self) -> None:
        if self.document_history is not None:
            self.document_history.flush_edits()

    def mark_saved(self, position: Any, digest: str) -> None:
        if self.document_history is None:  # closed while the save was under way (server stopping)
            return
        self.document_history.history.set_branch(WRITTEN, position)

    def saved_update(self) -> bytes | None:
        nh = self._open()
        written = nh.written
        return None if written is None else nh.history.update_at(written)

    @property
    def notebook_history(self) -> NotebookHistory | None:
        return None

    @property
    def text_history(self) -> TextHistory | None:
        return None

    def close(self) -> None:
        if self._poll_handle is not None:
            self._poll_handle.cancel()
            self._poll_handle = None
        if self.document_history is not None:
            self.document_history.close()
            self.document_history = None

    def relocate(self, file_path: str) -> None:
        """Follow the document to ``file_path`` (renamed through Jupyter): append what is buffered,
        release the sidecar, move it beside the new path and reopen it there. Synchronous, so no update
        is appended in between; counters are kept, so pending acknowledgements still go out."""
        if self.document_history is not None:
            self.document_history.close()
            self.document_history = None
        move_history(self.path, file_path)  # False when it already moved (a renamed directory)
        self.path = file_path
        self.document_history = self.history_class.open(file_path, author="server", sync=False)


class NotebookHistoryStore(SidecarHistoryStore):
    """A notebook's history (see :class:`SidecarHistoryStore`): its :attr:`notebook_history` is the open
    history, for the notebook features of the server (branches, blame, diffs, merges)."""

    @property
    def notebook_history(self) -> NotebookHistory | None:
        nh = self.document_history
        return nh if isinstance(nh, NotebookHistory) and nh.writable else None


class TextHistoryStore(SidecarHistoryStore):
    """A text file's history in the same format (:class:`~jupyter_crdt.history.text.TextHistory`): the
    sidecar ``.NAME.EXT.crdt`` beside the file, holding JupyterLab's text document (root Text
    ``source``), with changes grouped by author, journaled updates and the ``written`` branch, read by
    ``jupyter crdt log``/``show`` like a notebook's. An old ``.NAME.crdtlog`` (:class:`LogStore`) is
    converted when the history is first opened."""

    history_class = TextHistory

    @property
    def text_history(self) -> TextHistory | None:
        th = self.document_history
        return th if isinstance(th, TextHistory) else None
