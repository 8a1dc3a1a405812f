"""Text files' histories: the notebook history format, for a text file (issue 6).

The history of ``notes.txt`` lives beside it in ``.notes.txt.crdt``, the same format and the same rules as
a notebook's (:mod:`jupyter_crdt.history.document`): changes with authors, times and kinds, per-update journal
records, the ``main`` branch (the document) and ``written`` (what the file holds). The document is
JupyterLab's text schema (YFile): the root Text ``source`` (plus the server's root Map ``state``).

**Start.** A file without a sidecar starts from its content as one ``import`` change (author ``import``,
time 0) made with a client id derived from the content, so two copies of one file start with the same
change. **Old logs.** Histories kept by earlier versions in ``.NAME.crdtlog`` (:mod:`.crdtlog`) are
converted on open (:func:`convert_log`): every accepted update, grouped into changes by author, with the
log's session id; the log is deleted once the sidecar is written.

**The file.** :meth:`TextHistory.sync_from_disk` records an edit made to the file by another tool as a
``disk`` change built on ``written`` (a concurrent text edit merges like any other);
:meth:`TextHistory.write_file` writes ``main``'s text.
"""

from __future__ import annotations

import os
import warnings
from collections.abc import Iterable
from dataclasses import dataclass
from pathlib import Path
from typing import Any

from crdt import Change, ChangeGrouper, Doc, History
from jupyter_crdt.history.changes import capture, derived_client_id, record_on
from jupyter_crdt.history.crdtlog import LogStore, log_path
from jupyter_crdt.history.disk import UNEXPLAINED_NOTE, file_is_newer, recorded_version
from jupyter_crdt.history.document import (
    DISK_AUTHOR,
    DISK_ORIGIN,
    IMPORT_AUTHOR,
    MAIN,
    WRITTEN,
    DocumentHistory,
)
from jupyter_crdt.history.sidecar import sidecar_path, write_history
from jupyter_crdt.text import apply_text, diff_sequences

__all__ = ["TextHistory", "TextChange", "convert_log", "is_text_file", "start_text_history", "text_log"]

SOURCE = "source"
"""The root Text of JupyterLab's text document (YFile)."""


def is_text_file(path: str | os.PathLike) -> bool:
    """Whether ``path`` is kept as a text document (anything but a notebook)."""
    return not os.fspath(path).endswith(".ipynb")


def read_text(path: str | os.PathLike) -> str:
    """The text of the file at ``path`` (UTF-8; newlines kept as they are, like the server's loader)."""
    with open(path, encoding="utf-8", newline="") as f:
        return f.read()


def start_text_history(text: str, history: History | None = None) -> History:
    """A history whose first change is the deterministic import of ``text`` (same text, same change)."""
    history = History() if history is None else history
    if len(history):
        raise ValueError("start_text_history needs an empty history")
    doc = Doc(client_id=derived_client_id("jupyter-crdt text import", [text]), gc=False)
    doc.get_text(SOURCE).insert(0, text)
    change = history.record(doc.encode_state_as_update(), IMPORT_AUTHOR, time=0.0, kind="import")
    # None for an empty file: nothing to import; the file then holds the empty version
    history.set_branch(WRITTEN, frozenset() if change is None else frozenset((change.hash,)))
    return history


def convert_log(path: str | os.PathLike) -> bool:
    """Turn the old history log of the text file ``path`` (``.NAME.crdtlog``) into its sidecar
    (``.NAME.crdt``); False when there is no log, or the file has a sidecar already (the log is kept).

    Nothing is lost: every update of the log becomes part of a change (consecutive updates of one author
    grouped as a server groups them), ``written`` marks the version the log says was saved, and the
    session id stays the same (reconnecting clients are recognised). The log is deleted afterwards.
    """
    log = Path(log_path(os.fspath(path)))
    if not log.exists() or sidecar_path(path).exists():
        return False
    store = LogStore(str(log))
    # takes the log's lock: a server (of an earlier version) still writing it raises HistoryLockedError
    loaded = store.load()
    try:
        history = History()
        grouper = ChangeGrouper(history)
        saved_seq = loaded.meta.get("saved_seq")
        written = None
        for i, rec in enumerate(loaded.records, 1):
            grouper.add(rec.update, rec.author, time=rec.time, kind="import" if i == 1 else "edit")
            if i == saved_seq:
                grouper.flush()
                written = history.branch(MAIN)
        grouper.flush()
        if not len(history):
            return False  # an empty log: the file starts a history of its own
        history.set_branch(WRITTEN, written or history.branch(MAIN))
        write_history(history, sidecar_path(path), session_id=store.session_id or None)
    finally:
        store.close()
    log.unlink()
    return True


class TextHistory(DocumentHistory):
    """A text file, its history and a live document of ``main`` (see the module docstring).

    Opened like any :class:`~jupyter_crdt.history.document.DocumentHistory` (``TextHistory.open(path,
    ...)``), with which it shares recording (:meth:`record_update`, journaling, grouping), flushing and
    closing. A writable open converts an old ``.crdtlog`` first when the file has one and no sidecar.
    """

    _kind = "text file"

    @classmethod
    def _prepare(cls, path: Path, *, writable: bool) -> None:
        if writable:
            convert_log(path)

    @staticmethod
    def _read_content(path: Path) -> str:
        return read_text(path)

    @staticmethod
    def _start(content: Any, history: History) -> History:
        return start_text_history(content, history)

    def text(self, version: Iterable[str] | str | None = None) -> str:
        """The text at ``version`` (default: ``main``)."""
        doc = self.doc if version is None else self.history.doc_at(version)
        return str(doc.get_text(SOURCE))

    def sync_from_disk(self) -> list[Change]:
        """Record an edit another tool made to the file as a ``disk`` change built on ``written`` (see the
        module docstring); ``main`` then holds it too. Empty when the file matches (or is missing)."""
        try:
            st = os.stat(self.path)
            disk = read_text(self.path)
        except (FileNotFoundError, UnicodeDecodeError):
            return []
        self.flush_edits()
        history = self.history
        main = self.main
        if disk == self.text():
            if history.branches.get(WRITTEN) != main and main:
                history.set_branch(WRITTEN, main)
            return []
        base = history.branch(WRITTEN) if WRITTEN in history.branches else main
        if base != main:
            written_text = self.text(base)
            if disk == written_text:
                return []  # edits not yet written; the file is as it was written
            between = recorded_version(history, base, main, lambda doc: str(doc.get_text(SOURCE)) == disk)
            if between is not None:  # the file holds a version recorded since: the later edits are kept
                history.set_branch(WRITTEN, between)
                return []
            if file_is_newer(written_text, self.text(), disk):  # a stale or cut-short history
                self.notes.append(UNEXPLAINED_NOTE)
                base = main
        client = derived_client_id("jupyter-crdt text disk", [*sorted(base), disk])
        fork = history.doc_at(base, client_id=client)
        with warnings.catch_warnings():
            warnings.simplefilter("ignore")
            update = capture(fork, DISK_ORIGIN,
                             lambda: apply_text(fork.get_text(SOURCE), disk, granularity="lines"))
        if update is None:
            return []
        change = record_on(history, base, update, DISK_AUTHOR, kind="disk", time=st.st_mtime)
        if change is None:
            return []
        history.set_branch(WRITTEN, change.hash)
        self.move_main(history.heads_of(main | {change.hash}))
        if self.writer is None:
            self.pending.append(change)
        return [change]

    def write_file(self) -> bool:
        """Write ``main``'s text to the file (atomically); ``written`` moves to ``main``. Returns whether
        the file changed."""
        self._writer()
        self.flush_edits()
        return self._write_file(self.text().encode("utf-8"))


@dataclass
class TextChange:
    """One change of a text file's history and what it did to the text."""

    change: Change
    inserted: int
    deleted: int
    lines: tuple[int, int] | None
    """The first and last line (1-based, in the text after the change) it touched."""

    @property
    def visible(self) -> bool:
        """Whether it changed the text (the server's bookkeeping, in ``state``, does not)."""
        return bool(self.inserted or self.deleted) or self.change.kind == "import"

    def text(self) -> str:
        c = self.change
        if c.kind == "import":
            return f"file imported ({self.inserted} characters)"
        parts = []
        if self.inserted:
            parts.append(f"+{self.inserted}")
        if self.deleted:
            parts.append(f"-{self.deleted}")
        if not parts:
            return "bookkeeping"
        where = ""
        if self.lines is not None:
            first, last = self.lines
            where = f" in line {first}" if first == last else f" in lines {first}-{last}"
        return f"{' '.join(parts)} characters{where}" + (f": {c.message}" if c.message else "")

    def to_dict(self) -> dict:
        c = self.change
        return {"hash": c.hash, "deps": list(c.deps), "author": c.author, "time": c.time, "kind": c.kind,
                "message": c.message, "summary": self.text(), "bookkeeping_only": not self.visible,
                "inserted": self.inserted, "deleted": self.deleted,
                "lines": list(self.lines) if self.lines else None}


def text_log(history: History, version: Iterable[str] | str | None = None) -> list[TextChange]:
    """The changes of ``version`` (default: ``main``), oldest first, with what each did to the text.

    Replays the changes once in order, comparing the text before and after each (a change concurrent
    with earlier ones is measured against the text they left)."""
    version = history.branch(MAIN) if version is None else version
    doc = Doc(gc=False)
    text = doc.get_text(SOURCE)
    before = ""
    out = []
    for c in history.log(version):
        doc.apply_update(c.update)
        after = str(text)
        out.append(_measure(c, before, after))
        before = after
    return out


_DIFF_LIMIT = 20_000  # characters of a changed region diffed in detail; a bigger one counts whole


def _measure(c: Change, before: str, after: str) -> TextChange:
    """What turned ``before`` into ``after``: characters inserted and deleted, lines touched."""
    if before == after:
        return TextChange(c, 0, 0, None)
    p = 0  # the common prefix and suffix bound the changed region
    n = min(len(before), len(after))
    while p < n and before[p] == after[p]:
        p += 1
    q = 0
    while q < n - p and before[len(before) - 1 - q] == after[len(after) - 1 - q]:
        q += 1
    old, new = before[p : len(before) - q], after[p : len(after) - q]
    regions = [(0, len(old), 0, len(new))]
    if 0 < len(old) + len(new) <= _DIFF_LIMIT and old and new:  # several edits in one change
        regions = diff_sequences(old, new)  # a shortest diff: the fewest characters
    inserted = sum(j2 - j1 for _, _, j1, j2 in regions)
    deleted = sum(i2 - i1 for i1, i2, _, _ in regions)
    first = after.count("\n", 0, p + regions[0][2]) + 1
    last = after.count("\n", 0, p + max(regions[-1][2], regions[-1][3] - 1)) + 1
    return TextChange(c, inserted, deleted, (first, max(first, last)))
