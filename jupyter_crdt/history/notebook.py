"""A notebook's history: how it starts, and how it stays in step with the ``.ipynb``.

**Start.** A notebook without a sidecar starts its history from the file's content: the first change is
``notebook_to_doc``'s deterministic import, by author ``import``, kind ``import``, at time 0, so two copies
of one file start with the identical change (same hash) and their histories merge.

**The file.** The ``.ipynb`` is the plain projection of the ``main`` branch. The branch ``written`` is the
version last written to (or read from) the file. :meth:`NotebookHistory.sync_from_disk` compares the file
with the history; when another tool changed it, the difference is recorded as a minimal change (author
and kind ``disk``) built on ``written``, then merged into ``main`` like any concurrent change, so edits not
yet saved are never reverted and the file's edits are never lost. The disk change is made with a client id
derived from ``written`` and the file's content, so two copies that see the same file edit record the same
structs (merging them later holds the edit once). :meth:`NotebookHistory.write_notebook` writes the file
atomically as the exact projection of ``main`` and moves ``written`` there.

**Stale or truncated histories.** A file that lags behind the history, or holds content the history
cannot explain, is handled as :mod:`jupyter_crdt.history.disk` says (the later edits are kept; or the
file wins, and a note says so in :attr:`~jupyter_crdt.history.document.DocumentHistory.notes`).

**Unions.** Merging another copy's history (:meth:`NotebookHistory.merge_history`) is the union of the
changes, then the notebook merge rules (one side's outputs per cell, never both) as one deterministic
``merge`` change (:mod:`jupyter_crdt.history.merge`).
"""

from __future__ import annotations

import json
import os
import warnings
from collections.abc import Iterable, Mapping
from pathlib import Path
from typing import Any

import nbformat
from nbformat.notebooknode import NotebookNode

from crdt import Change, Doc, History
from jupyter_crdt.history.changes import capture, derived_client_id, record_on
from jupyter_crdt.history.disk import UNEXPLAINED_NOTE, file_is_newer, recorded_version
from jupyter_crdt.history.document import (
    DISK_AUTHOR,
    DISK_ORIGIN,
    EDIT_ORIGIN,
    IMPORT_AUTHOR,
    MAIN,
    WRITTEN,
    DocumentHistory,
)
from jupyter_crdt.history.merge import NoCommonHistory, VersionMerge, merge_histories, merge_versions
from jupyter_crdt.notebook import schema as _schema
from jupyter_crdt.notebook.apply import apply_notebook
from jupyter_crdt.notebook.ipynb import read_notebook
from jupyter_crdt.notebook.load import notebook_to_doc
from jupyter_crdt.notebook.normalize import NotebookFormatError
from jupyter_crdt.notebook.values import same

__all__ = [
    "NotebookHistory",
    "start_history",
    "notebook_text",
    "same_content",
    "sync_notebook",
    "export_notebook",
]


def start_history(nb: Mapping, history: History | None = None) -> History:
    """A history whose first change is the deterministic import of ``nb`` (same notebook, same change).

    ``history`` must be empty (a new one is made without it). ``main`` and ``written`` point at the change.
    """
    history = History() if history is None else history
    if len(history):
        raise ValueError("start_history needs an empty history")
    with warnings.catch_warnings():
        warnings.simplefilter("ignore")
        doc = notebook_to_doc(nb)
    change = history.record(doc.encode_state_as_update(), IMPORT_AUTHOR, time=0.0, kind="import")
    assert change is not None
    history.set_branch(WRITTEN, change.hash)
    return history


_TRANSIENT_NB = ("orig_nbformat", "orig_nbformat_minor", "signature")
_TRANSIENT_CELL = ("trusted",)


def _strip(nb: Mapping) -> Mapping:
    """``nb`` without what nbformat's writer leaves out (so comparisons see only what a file can hold)."""
    md = nb.get("metadata")
    out = dict(nb)
    if isinstance(md, Mapping) and any(k in md for k in _TRANSIENT_NB):
        out["metadata"] = {k: v for k, v in md.items() if k not in _TRANSIENT_NB}
    cells = nb.get("cells")
    if isinstance(cells, list):
        new = []
        for c in cells:
            cmd = c.get("metadata") if isinstance(c, Mapping) else None
            if isinstance(cmd, Mapping) and any(k in cmd for k in _TRANSIENT_CELL):
                c = {**c, "metadata": {k: v for k, v in cmd.items() if k not in _TRANSIENT_CELL}}
            new.append(c)
        out["cells"] = new
    return out


def same_content(a: Mapping, b: Mapping) -> bool:
    """Whether two notebooks would be written as the same file (transient fields ignored)."""
    return same(_strip(a), _strip(b))


def notebook_text(nb: Mapping) -> str:
    """The text of ``nb`` as an ``.ipynb`` file (nbformat's writer, with the final newline it adds)."""
    with warnings.catch_warnings():
        warnings.simplefilter("ignore")
        text = nbformat.writes(nbformat.from_dict(nb) if not isinstance(nb, NotebookNode) else nb)
    return text if text.endswith("\n") else text + "\n"


def sync_notebook(history: History, disk: Mapping, *, main_doc: Doc | None = None,
                  time: float | None = None, notes: list[str] | None = None,
                  ) -> tuple[list[Change], VersionMerge | None]:
    """Bring ``history`` in step with ``disk``, the notebook found in its file (see the module docstring).

    When ``disk`` differs from ``main`` and from ``written``, records a ``disk`` change built on
    ``written`` (``time``: default, the newest time of ``written``'s heads, which makes the change the same
    wherever it is computed) and merges it into ``main``; ``written`` moves to the disk change. Returns
    (changes recorded, the merge or None). ``main_doc``: the document of ``main``, if at hand.
    A stale or truncated history (see the module docstring) gets the file's content recorded against
    ``main`` instead, and a note appended to ``notes``.
    """
    main = history.branch(MAIN)
    if main_doc is None:
        main_doc = history.doc_at(main)
    main_nb = export_notebook(main_doc)
    if same_content(disk, main_nb):
        if history.branches.get(WRITTEN) != main and main:
            history.set_branch(WRITTEN, main)
        return [], None
    base = history.branches.get(WRITTEN) or main
    wins = False
    if base != main:
        written_nb = export_notebook(history.doc_at(base))
        if same_content(disk, written_nb):
            return [], None  # unsaved edits; the file is as it was written
        between = recorded_version(history, base, main,
                                   lambda doc: same_content(disk, export_notebook(doc)))
        if between is not None:  # written there (its branch move lost, or the file lags): edits kept
            history.set_branch(WRITTEN, between)
            return [], None
        if file_is_newer(written_nb, main_nb, disk):
            if notes is not None:
                notes.append(UNEXPLAINED_NOTE)
            base, wins = main, True  # the file wins: recorded against main, so nothing is applied twice
    client = derived_client_id("jupyter-crdt disk", [*sorted(base), _canonical(disk)])
    fork = history.doc_at(base, client_id=client)
    with warnings.catch_warnings():
        warnings.simplefilter("ignore")
        update = capture(fork, DISK_ORIGIN, apply_notebook, fork, disk)
    if update is None:
        return [], None
    if time is None:
        time = max((history.get(h).time for h in base), default=0.0)
    change = record_on(history, base, update, DISK_AUTHOR, kind="disk", time=time)
    if change is None:  # the same file edit was recorded before (in a copy merged since)
        change = next((c for c in reversed(history.changes) if c.kind == "disk" and c.update == update),
                      None)
        if change is None:
            change = record_on(history, main, _diff_update(main_doc, disk), DISK_AUTHOR, kind="disk",
                               time=time)
            if change is None:
                return [], None
    out = [change]
    history.set_branch(WRITTEN, change.hash)
    if wins:
        history.set_branch(MAIN, history.heads_of(main | {change.hash}))
        return out, None
    vm = merge_versions(history, main, (change.hash,))
    if vm.change is not None:
        out.append(vm.change)
    history.set_branch(MAIN, vm.heads)
    return out, vm


class NotebookHistory(DocumentHistory):
    """A notebook file, its history (opened and locked) and a live document of its ``main`` branch.

    Opened, recorded into, flushed and closed as a :class:`~jupyter_crdt.history.document.DocumentHistory`.
    Attributes besides: ``disk_error`` (why the ``.ipynb`` could not be read, if it could not),
    ``last_merge`` (the last :class:`~jupyter_crdt.history.merge.VersionMerge` made, if any).
    """

    _kind = "notebook"
    disk_error: NotebookFormatError | None = None
    last_merge: VersionMerge | None = None

    @staticmethod
    def _read_content(path: Path) -> Any:
        return read_notebook(path)

    @staticmethod
    def _start(content: Any, history: History) -> History:
        return start_history(content, history)

    def notebook(self, version: Iterable[str] | str | None = None) -> NotebookNode:
        """The notebook (as it is written to a file) at ``version``; default: ``main``."""
        if version is None:
            return export_notebook(self.doc)
        return export_notebook(self.history.doc_at(version))

    # -- the file --------------------------------------------------------------------------------

    def sync_from_disk(self) -> list[Change]:
        """Record a change another tool made to the ``.ipynb`` (see the module docstring).

        Returns the changes recorded: the ``disk`` change and, when ``main`` had edits the file did not,
        the ``merge`` change that applied the notebook rules. Empty when the file matches the history (or
        is missing). An unreadable file is left alone and noted in :attr:`disk_error`.
        """
        try:
            st = os.stat(self.path)
        except FileNotFoundError:
            return []
        self.flush_edits()
        try:
            with warnings.catch_warnings():
                warnings.simplefilter("ignore")
                disk = read_notebook(self.path)
        except NotebookFormatError as e:
            self.disk_error = e
            return []
        self.disk_error = None
        changes, vm = sync_notebook(self.history, disk, main_doc=self.doc, time=st.st_mtime, notes=self.notes)
        if vm is not None:
            self.last_merge = vm
        self._catch_up()
        if self.writer is None:
            self.pending.extend(changes)
        return changes

    def write_notebook(self, *, force: bool = False) -> bool:
        """Write the ``.ipynb`` atomically as the projection of ``main``; ``written`` moves to ``main``.

        Returns whether the file changed (an identical file is not touched). Refuses (with
        ``NotebookFormatError``) to replace a file that could not be read, unless ``force``.
        """
        self._writer()
        if self.disk_error is not None and not force:
            raise NotebookFormatError(
                f"not overwriting a file that could not be read ({self.disk_error}); fix or remove it first",
                str(self.path))
        self.flush_edits()
        changed = self._write_file(notebook_text(export_notebook(self.doc)).encode("utf-8"))
        self.disk_error = None
        return changed

    # -- whole-history operations ----------------------------------------------------------------

    def merge_history(self, other: History) -> VersionMerge:
        """Merge another copy's history into this one: union of the changes, then the notebook rules
        (:func:`~jupyter_crdt.history.merge.merge_histories`).

        ``main`` moves to the merged version (the ``.ipynb`` is not written: call :meth:`write_notebook`).
        Other branches are merged as :meth:`crdt.History.merge` does; ``written`` stays this file's.
        Raises :class:`~jupyter_crdt.history.merge.NoCommonHistory` (changing nothing) when the two
        histories share no change.
        """
        self.flush_edits()
        try:
            vm = merge_histories(self.history, other)
        except NoCommonHistory:
            raise NoCommonHistory(f"{self.path}: the other history shares no change with this one") from None
        self._catch_up()
        self.last_merge = vm
        return vm

    def apply_notebook(self, nb: Mapping, author: str | None = None, *, kind: str = "edit",
                       message: str | None = None, meta: Mapping[str, Any] | None = None) -> Change | None:
        """Record the minimal change that turns ``main`` into ``nb`` (None if it already is ``nb``)."""
        self.flush_edits()
        with warnings.catch_warnings():
            warnings.simplefilter("ignore")
            update = capture(self.doc, EDIT_ORIGIN, apply_notebook, self.doc, nb)
        if update is None:
            return None
        change = self.history.record(update, author or self.author, kind=kind, message=message, meta=meta)
        self._doc_version = self.main
        return change

    def restore(self, version: Iterable[str] | str, author: str | None = None, *,
                message: str | None = None) -> Change | None:
        """Make ``main`` equal the notebook of ``version`` again, as a new ``restore`` change.

        Nothing is rewritten: the versions after ``version`` stay in the history. None if ``main``
        already equals it.
        """
        heads = self.history.heads_of(version if not isinstance(version, str) else (version,))
        target = _schema.export(self.history.doc_at(heads), keep_ids=True)
        short = ",".join(h[:12] for h in sorted(heads))
        return self.apply_notebook(target, author, kind="restore", message=message or f"restore {short}",
                                   meta={"restored": sorted(heads)})


def export_notebook(doc: Doc) -> NotebookNode:
    """The notebook of ``doc`` as it is written to a file (warnings about repairs silenced)."""
    with warnings.catch_warnings():
        warnings.simplefilter("ignore")
        return _schema.export(doc)


def _canonical(nb: Mapping) -> str:
    return json.dumps(nb, sort_keys=True, ensure_ascii=False, separators=(",", ":"), default=str)


def _diff_update(doc: Doc, nb: Mapping) -> bytes:
    """The update turning (a copy of) ``doc`` into ``nb`` (made with a fresh client id)."""
    fork = Doc(gc=False)
    fork.apply_update(doc.encode_state_as_update())
    with warnings.catch_warnings():
        warnings.simplefilter("ignore")
        update = capture(fork, DISK_ORIGIN, apply_notebook, fork, nb)
    return update or b"\x00\x00"

