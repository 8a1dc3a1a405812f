"""A document's history, open: the sidecar (locked), the :class:`crdt.History` it holds, a live document.

:class:`DocumentHistory` is what notebooks (:class:`~jupyter_crdt.history.notebook.NotebookHistory`) and
text files (:class:`~jupyter_crdt.history.text.TextHistory`) share: opening a history (creating it from
the file's content, a first ``import`` change, when there is none), recording edits (journaled, then
grouped into changes by author), a live document of the ``main`` branch kept in step, flushing and
closing. What a document *is* (how its file is read and written, how another tool's edit of the file is
recorded) is the subclass's.

**Branches.** ``main`` (:data:`MAIN`) is the document; ``written`` (:data:`WRITTEN`) the version last
written to (or found in) the file, which is the plain projection of ``main``.
"""

from __future__ import annotations

import contextlib
import os
from collections.abc import Iterable, Iterator, Mapping
from pathlib import Path
from typing import Any, TypeVar

from crdt import Change, ChangeGrouper, Doc, History, HistoryWriter
from jupyter_crdt.history.sidecar import atomic_write, open_sidecar, sidecar_path

__all__ = [
    "DocumentHistory",
    "Edit",
    "MAIN",
    "WRITTEN",
    "IMPORT_AUTHOR",
    "DISK_AUTHOR",
    "DISK_ORIGIN",
    "EDIT_ORIGIN",
    "HISTORY_ORIGIN",
    "ORIGINS",
]

MAIN = "main"
"""Branch: the document."""
WRITTEN = "written"
"""Branch: the version last written to (or found in) the file."""
IMPORT_AUTHOR = "import"
DISK_AUTHOR = "disk"
DISK_ORIGIN = "jupyter_crdt.disk"
EDIT_ORIGIN = "jupyter_crdt.edit"
HISTORY_ORIGIN = "jupyter_crdt.history"
ORIGINS = frozenset({HISTORY_ORIGIN, EDIT_ORIGIN})
"""Transaction origins of the updates a :class:`DocumentHistory` applies to its :attr:`~DocumentHistory.doc`
(already recorded: an observer that records updates must skip these, and broadcast them)."""

_H = TypeVar("_H", bound="DocumentHistory")


class DocumentHistory:
    """A file, its history (opened and locked) and a live document of its ``main`` branch.

    Open with :meth:`open`; use as a context manager or call :meth:`close`. Attributes: ``path`` (the
    file), ``sidecar``, ``history`` (a :class:`crdt.History`), ``writer`` (None when opened read-only),
    ``created`` (the history was started from the file by this open).
    """

    def __init__(
        self, path: Path, history: History, writer: HistoryWriter | None, *, author: str, created: bool,
        idle: float | None = None, max_bytes: int | None = None,
    ) -> None:
        self.path = path
        self.sidecar = sidecar_path(path)
        self.history = history
        self.writer = writer
        self.author = author
        self.created = created
        self.notes: list[str] = []
        """What opening found that a person should hear about (a torn tail ignored or cut off, a file
        the history could not explain): one sentence each, for stderr or a server's log."""
        self.pending: list[Change] = []
        """Changes recorded in memory only (a read-only open's ``disk`` change): the next write records
        them."""
        kw: dict[str, Any] = {}
        if idle is not None:
            kw["idle"] = idle
        if max_bytes is not None:
            kw["max_bytes"] = max_bytes
        self._grouper = ChangeGrouper(history, on_change=self._grouped, **kw)
        self._doc: Doc | None = None
        self._doc_version: frozenset[str] = frozenset()
        if writer is not None:  # accepted updates whose change was never written (a crash): group them again
            for e in writer.pending_journal:
                self._grouper.add(e.update, e.author, time=e.time, kind=e.kind, message=e.message,
                                  meta=e.meta or None, tag=e.seq)

    # -- opening ---------------------------------------------------------------------------------

    @classmethod
    def open(
        cls: type[_H], path: str | os.PathLike, *, author: str = "jupyter", create: bool = True,
        writable: bool = True, durable: bool = True, session_id: str | None = None, sync: bool = True,
        idle: float | None = None, max_bytes: int | None = None,
    ) -> _H:
        """Open the history of the file at ``path``.

        ``writable`` (default): lock the sidecar (``crdt.HistoryLockedError`` if another process has it),
        creating it from the file's content when there is none and ``create`` is true. Read-only: read the
        sidecar without a lock, or start an in-memory history from the file; changes stay in memory.
        ``sync``: record a change made to the file by another tool (:meth:`sync_from_disk`).
        ``session_id``: stored in a new sidecar's header (a random one by default). ``idle``/``max_bytes``:
        grouping of :meth:`record_update` (``crdt.ChangeGrouper``'s defaults otherwise).
        ``author``: the default author of changes made through this object.
        """
        path = Path(path)
        cls._prepare(path, writable=writable)
        history, writer, tail, created = open_sidecar(
            path, kind=cls._kind, writable=writable, create=create, durable=durable, session_id=session_id,
            read_content=cls._read_content, start=cls._start)
        self = cls(path, history, writer, author=author, created=created, idle=idle, max_bytes=max_bytes)
        if tail is not None:
            done = "cut off" if writer is not None else "ignored (the file is not changed by reading it)"
            self.notes.append(f"{tail.describe(sidecar_path(path))}; {done}")
        try:
            if sync:
                self.sync_from_disk()
        except BaseException:
            self.close()
            raise
        return self

    # What the subclass says about its documents.
    _kind = "file"
    """What the file is called in messages."""

    @classmethod
    def _prepare(cls, path: Path, *, writable: bool) -> None:
        """Called first by :meth:`open` (a text file converts an old history log here)."""

    @staticmethod
    def _read_content(path: Path) -> Any:
        """The file's content, to start a history from."""
        raise NotImplementedError

    @staticmethod
    def _start(content: Any, history: History) -> History:
        """Start the empty ``history`` from ``content`` (its first change: the deterministic import)."""
        raise NotImplementedError

    def sync_from_disk(self) -> list[Change]:
        """Record a change another tool made to the file; the changes recorded."""
        raise NotImplementedError

    # -- what it holds ---------------------------------------------------------------------------

    @property
    def writable(self) -> bool:
        return self.writer is not None

    @property
    def session_id(self) -> str | None:
        """The session id in the sidecar's header (stable for the life of the history)."""
        return self.writer.session_id if self.writer is not None else None

    @property
    def main(self) -> frozenset[str]:
        return self.history.branch(MAIN)

    @property
    def written(self) -> frozenset[str] | None:
        """The version last written to the file (None if unknown)."""
        return self.history.branches.get(WRITTEN)

    @property
    def doc(self) -> Doc:
        """The live document of ``main`` (deleted content kept). Kept up to date by this object's methods."""
        if self._doc is None:
            self.flush_edits()  # buffered updates are not in main yet
            self._doc = self.history.doc_at(self.main)
            self._doc_version = self.main
        return self._doc

    def drop_doc(self) -> None:
        """Forget the live :attr:`doc` (it is rebuilt from ``main`` when next needed). For owners of a
        document of their own that records with ``apply=False`` (a server room): this one would lag."""
        self._doc = None
        self._doc_version = frozenset()

    # -- keeping the document and main in step ---------------------------------------------------

    def _grouped(self, change: Change) -> None:
        if self.writer is not None and not self.writer.closed:
            seqs = [t for t in self._grouper.closed_tags if t is not None]
            if seqs:
                self.writer.cover(change, max(seqs))
        if self._doc is not None:
            self._doc_version = self.history.heads_of(self._doc_version | {change.hash})

    def move_main(self, heads: Iterable[str]) -> None:
        """Move ``main`` to ``heads`` (changes recorded on the history by other means than this object);
        the live document follows."""
        self.history.set_branch(MAIN, frozenset(heads))
        self._catch_up()

    def _catch_up(self) -> None:
        """Apply to the live document the changes ``main`` gained by other means than it."""
        if self._doc is None:
            return
        main = self.main
        if main == self._doc_version:
            return
        new = self.history.log(main, since=self._doc_version)
        if new:
            with self._doc.transact(origin=HISTORY_ORIGIN):
                for c in new:
                    self._doc.apply_update(c.update)
        self._doc_version = main

    def flush_edits(self) -> Change | None:
        """Record the edits buffered by :meth:`record_update` now, as one change (None if none)."""
        return self._grouper.flush()

    # -- recording edits -------------------------------------------------------------------------

    def record_update(
        self, update: bytes, author: str | None = None, *, time: float | None = None, kind: str = "edit",
        message: str | None = None, meta: Mapping[str, Any] | None = None, apply: bool = True,
        journal: bool = True, sync: bool = True,
    ) -> list[Change]:
        """Record an accepted Yjs update (e.g. from a browser) on ``main``, grouped with its neighbours.

        Consecutive updates of one author are joined into one change (``crdt.ChangeGrouper``); returns the
        changes closed by this call. The live :attr:`doc` (if built) gets the update too, unless ``apply``
        is false because the caller applied it to :attr:`doc` already (a server room whose document *is*
        :attr:`doc`).

        With ``journal`` (the default) and a writable sidecar, the update is first appended to the
        sidecar's journal (synced when ``durable``): when this returns, the update survives a crash, and
        is grouped again on the next open if its change was never written (``sync=False``: once the
        writer's :meth:`~crdt.history_file.HistoryWriter.sync` has run). Call :meth:`poll` at
        :attr:`deadline` (or :meth:`flush_closed`) to close an idle change and write it; :meth:`flush`
        closes the open change at once.
        """
        author = author or self.author
        now = self._grouper.clock() if time is None else time
        seq = None
        if journal and self.writer is not None:
            seq = self.writer.journal(update, author, now, kind=kind, message=message,
                                      meta=dict(meta) if meta else None, sync=sync)
        if apply and self._doc is not None:
            self._doc.apply_update(update, origin=HISTORY_ORIGIN)
        return self._grouper.add(update, author, time=now, kind=kind, message=message, meta=meta, tag=seq)

    @property
    def deadline(self) -> float | None:
        """When :meth:`poll` will close the buffered change (None if nothing is buffered)."""
        return self._grouper.deadline

    def poll(self, now: float | None = None) -> Change | None:
        return self._grouper.poll(now)

    @contextlib.contextmanager
    def edit(self, author: str | None = None, *, kind: str = "edit", message: str | None = None,
             time: float | None = None) -> Iterator[Edit]:
        """``with nh.edit("ann") as e: e.doc.get_array("cells")...``: one transaction, recorded as one change.

        ``e.change`` is the change afterwards (None if nothing changed).
        """
        self.flush_edits()
        doc = self.doc
        ups: list[bytes] = []
        handler = doc.observe_updates(lambda u, o: ups.append(u))
        e = Edit(doc)
        try:
            with doc.transact(origin=EDIT_ORIGIN):
                yield e
        finally:  # what was done is recorded even if the block failed half-way (Yjs has no rollback)
            doc.unobserve_updates(handler)
            if ups:
                e.change = self.history.record(ups[0], author or self.author, time=time, kind=kind,
                                               message=message)
                if e.change is not None:
                    self._doc_version = self.main

    def flush_closed(self, now: float | None = None) -> int:
        """Close the open change if it has been idle (:meth:`poll`), then append the changes closed so
        far. Unlike :meth:`flush` the open change stays open: its updates are safe in the journal."""
        self.poll(now)
        return self.writer.append() if self.writer is not None else 0

    def flush(self) -> int:
        """Record buffered edits and append everything new to the sidecar (synced when ``durable``)."""
        self.flush_edits()
        return self.writer.append() if self.writer is not None else 0

    # -- the file and the whole history ----------------------------------------------------------

    def _write_file(self, data: bytes) -> bool:
        """Write ``data`` (the projection of ``main``) to the file atomically unless it holds it already;
        ``written`` moves to ``main``, and the sidecar is appended. Whether the file changed."""
        writer = self._writer()
        try:
            changed = self.path.read_bytes() != data
        except FileNotFoundError:
            changed = True
        if changed:
            atomic_write(self.path, data)
        main = self.main
        if self.written != main:
            self.history.set_branch(WRITTEN, main)
        writer.append()
        return changed

    def replace_history(self, history: History) -> None:
        """Replace the whole history (squash, purge): the sidecar is rewritten atomically.

        The live document is rebuilt; the file is not written.
        """
        writer = self._writer()
        self.flush_edits()
        writer.compact(history)
        self.history = history
        self._grouper = ChangeGrouper(history, on_change=self._grouped, idle=self._grouper.idle,
                                      max_bytes=self._grouper.max_bytes)
        self._doc = None

    # -- closing ---------------------------------------------------------------------------------

    def _writer(self) -> HistoryWriter:
        if self.writer is None:
            raise PermissionError(f"the history of {self.path} was opened read-only")
        return self.writer

    def close(self) -> None:
        """Record buffered edits, append them, release the sidecar's lock. Closing twice is harmless."""
        try:
            if self.writer is not None and not self.writer.closed:
                self.flush()
        finally:
            if self.writer is not None:
                self.writer.close()

    def __enter__(self: _H) -> _H:
        return self

    def __exit__(self, *exc: object) -> None:
        self.close()

    def __repr__(self) -> str:
        mode = "writable" if self.writable else "read-only"
        return f"<{type(self).__name__} {self.path} {len(self.history)} changes, {mode}>"


class Edit:
    """What :meth:`DocumentHistory.edit` yields: the document to edit, and the change made afterwards."""

    __slots__ = ("doc", "change")

    def __init__(self, doc: Doc) -> None:
        self.doc = doc
        self.change: Change | None = None
