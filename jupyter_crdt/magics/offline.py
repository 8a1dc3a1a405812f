"""``%crdt`` without a server: the notebook file and its history sidecar, through the history library.

Imported only when a command works offline (the library reads notebooks with nbformat, which a kernel
that only ever talks to its server need not load). Each function returns what the command displays;
a bad REV or cell ends the command with a one-line ``UsageError``.
"""

from __future__ import annotations

import functools
import warnings
from collections.abc import Callable, Iterator
from contextlib import contextmanager
from pathlib import Path
from typing import Any, TypeVar

from crdt import HistoryFileError, HistoryLockedError
from jupyter_crdt.history import (
    NoCommonHistory,
    NoMergeBase,
    NotebookHistory,
    has_history,
    notebook_at,
    sidecar_path,
)
from jupyter_crdt.history.blame import CellNotFound, blame_cell
from jupyter_crdt.history.log import summarize
from jupyter_crdt.history.offline import default_author, locked_message, merge_file, restore_file, short
from jupyter_crdt.history.versions import RevisionError, resolve
from jupyter_crdt.magics.parser import BOOKKEEPING, fail, visible
from jupyter_crdt.notebook import diff_notebooks
from jupyter_crdt.notebook.normalize import NotebookFormatError

__all__ = ["blame", "changes_touching", "diff", "history_size", "log_entries", "merge", "restore", "show"]

EMPTY_NOTEBOOK = {"cells": [], "metadata": {}, "nbformat": 4, "nbformat_minor": 5}
F = TypeVar("F", bound=Callable[..., Any])


def _command(command: str) -> Callable[[F], F]:
    """``%crdt COMMAND`` offline: a file the library cannot read ends it with a one-line error (here, so
    the magic itself need not import the notebook layer)."""

    def decorate(fn: F) -> F:
        @functools.wraps(fn)
        def run(*args: Any, **kwargs: Any) -> Any:
            try:
                return fn(*args, **kwargs)
            except HistoryLockedError:
                raise  # the magic says who holds it
            except (NotebookFormatError, HistoryFileError, RevisionError, NoCommonHistory, NoMergeBase) as e:
                fail(command, str(e))

        return run  # type: ignore[return-value]

    return decorate


@contextmanager
def _history(path: Path) -> Iterator[NotebookHistory]:
    """The history, read only (nothing written; nbformat's warnings about the file are not the user's)."""
    with warnings.catch_warnings():
        warnings.simplefilter("ignore")
        nh = NotebookHistory.open(path, writable=False)
    try:
        yield nh
    finally:
        nh.close()


def _summaries(path: Path) -> list:
    with warnings.catch_warnings():
        warnings.simplefilter("ignore")
        with NotebookHistory.open(path, writable=False) as nh:
            return summarize(nh.history, nh.main)


def _cells_of(summary: Any) -> set[str]:
    """Ids of the cells a change summary says were added, deleted or edited."""
    ids = {cid for cid, _t, _i in summary.added} | {cid for cid, _t in summary.deleted}
    ids |= {e.id for e in summary.edited.values()}
    return {i for i in ids if isinstance(i, str)}


def _version(command: str, nh: NotebookHistory, rev: str) -> frozenset[str]:
    """The version REV names: a change number as ``%crdt log`` numbers them, or a REV of the history."""
    if rev.isdigit():
        changes = summarize(nh.history, nh.main)
        n = int(rev)
        if not 1 <= n <= len(changes):
            fail(command, f"unknown revision {rev!r}: changes are numbered 1 to {len(changes)}")
        return frozenset((changes[n - 1].change.hash,))
    try:
        return resolve(nh.history, rev)
    except RevisionError as e:
        fail(command, f"unknown revision {rev!r}: {e}")


@_command("status")
def history_size(path: Path) -> str:
    """How big the notebook's history is, for ``status``."""
    if not has_history(path):
        return "no history yet (no sidecar)"
    with warnings.catch_warnings():
        warnings.simplefilter("ignore")
        nh = NotebookHistory.open(path, writable=False, sync=False)
    try:
        return f"{len(nh.history)} changes in {sidecar_path(path).name}"
    finally:
        nh.close()


@_command("log")
def log_entries(path: Path, cell: str | None = None) -> list[dict]:
    """The history as the server's log lists it (oldest first): ``seq``, ``id``, ``author``, ``time``,
    ``summary``; only the changes touching ``cell`` when given."""
    return _log_entries(path, cell)


def _log_entries(path: Path, cell: str | None = None) -> list[dict]:
    out = []
    for i, x in enumerate(_summaries(path)):
        if cell is not None and cell not in _cells_of(x):
            continue
        out.append({"seq": i + 1, "id": x.change.hash, "author": x.change.author, "time": x.change.time,
                    "summary": x.text() if x.visible else BOOKKEEPING})
    return out


@_command("log")
def changes_touching(path: Path, cell: str) -> set[str]:
    """Hashes of the changes touching ``cell`` (read from the notebook's history sidecar)."""
    return {x.change.hash for x in _summaries(path) if cell in _cells_of(x)}


@_command("diff")
def diff(path: Path, rev1: str | None, rev2: str) -> tuple[str, list[dict], list[str]]:
    """``diff``: the label of the older version, the changed cells and the notebook-level changes."""
    with _history(path) as nh:
        v2 = _version("diff", nh, rev2)
        if rev1:
            v1: frozenset[str] | None = _version("diff", nh, rev1)
        else:
            shown = visible(_log_entries(path))
            v1 = _version("diff", nh, "HEAD~1") if len(shown) > 1 else None
        with warnings.catch_warnings():
            warnings.simplefilter("ignore")
            a = notebook_at(nh.history, v1) if v1 is not None else EMPTY_NOTEBOOK
            b = notebook_at(nh.history, v2)
    d = diff_notebooks(a, b)
    cells = []
    for c in d.cells:
        notes = []
        if c.moved:
            notes.append(f"moved from {c.a_index}")
        if c.outputs is not None:
            notes.append(f"outputs {c.outputs[0]} -> {c.outputs[1]}")
        notes.extend(c.fields)
        cells.append({"id": c.id, "status": "removed" if c.op == "deleted" else c.op, "diff": c.source,
                      "cell_type": c.cell_type, "index": c.b_index if c.b_index is not None else c.a_index,
                      "notes": notes})
    extra = ([f"notebook metadata changed: {', '.join(d.metadata)}"] if d.metadata else []) + \
            ([f"notebook fields changed: {', '.join(d.fields)}"] if d.fields else [])
    label1 = rev1 or ("HEAD~1" if v1 is not None else "(empty)")
    return label1, cells, extra


@_command("show")
def show(path: Path, rev: str) -> Any:
    """``show``: the notebook at REV."""
    with _history(path) as nh:
        version = _version("show", nh, rev)
        with warnings.catch_warnings():
            warnings.simplefilter("ignore")
            return nh.notebook(version)


@_command("restore")
def restore(path: Path, rev: str) -> str:
    """``restore``: make the notebook what it was at REV, as a new change; what was done."""
    with _history(path) as nh:
        version = _version("restore", nh, rev)
    label = ",".join(sorted(version)) if len(version) == 1 else rev
    try:
        with warnings.catch_warnings():
            warnings.simplefilter("ignore")
            restored = restore_file(path, version, author=default_author())
    except HistoryLockedError:
        fail("restore", locked_message(path))
    if restored.change is None:
        return f"{path} already is {label}: nothing to restore"
    return f"restored {path} to {label} ({short(version)}) as change {restored.change.short}"


@_command("blame")
def blame(path: Path, cell: str) -> tuple[str, list[dict]]:
    """``blame``: the title (cell index and id) and each line of the cell with its newest author."""
    with _history(path) as nh:
        try:
            index, info, blamed = blame_cell(nh.history, nh.doc, cell)
        except CellNotFound as e:
            fail("blame", str(e))
    lines = []
    for ln in blamed:
        newest = ln.newest
        lines.append({"number": ln.number, "text": ln.text, "author": newest.author if newest else None,
                      "time": newest.time if newest else None})
    return f"cell {index} ({info.get('id')})", lines


@_command("merge-file")
def merge(path: Path, other: Path, label: str) -> list[str]:
    """``merge-file``: merge the copy ``other`` into the notebook; the lines saying what happened."""
    try:
        with warnings.catch_warnings():
            warnings.simplefilter("ignore")
            result = merge_file(path, other, author=default_author())
    except HistoryLockedError:
        fail("merge-file", locked_message(path))
    lines = [f"merged {label} into {path} (offline: written to the file and its history)"
             + (" with conflicts" if result.conflicts else "")]
    lines += [f"  conflict: {c}" for c in result.conflicts]
    lines += [f"  note: {n}" for n in result.notes]
    return lines
