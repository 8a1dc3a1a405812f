"""Merging another copy of a notebook into a notebook's history.

What ``jupyter crdt merge`` does to the notebook it merges into, and what the server does for
``POST /api/crdt/merge/{path}`` (``merge_handler.py``) to a live notebook: when the other copy comes with
its history and the two share one, the union of their changes, then the notebook rules as one ``merge``
change (:meth:`NotebookHistory.merge_history`); otherwise a three-way merge of the notebooks, against
``base`` or the version of a history most like the other side, recorded as one ``merge`` change.
Either way ``main`` moves to the result; writing the ``.ipynb`` is the caller's business.
"""

from __future__ import annotations

import warnings
from collections.abc import Mapping
from dataclasses import dataclass, field
from typing import Any

from crdt import Doc, History
from jupyter_crdt.history.sidecar import MAIN, NoCommonHistory, NotebookHistory
from jupyter_crdt.notebook import schema as _schema
from jupyter_crdt.progress import Progress

__all__ = ["CopyMerge", "NoMergeBase", "merge_copy", "closest_version"]


class NoMergeBase(ValueError):
    """Neither side has a history to find the common version in, and no base was given."""


@dataclass
class CopyMerge:
    """What :func:`merge_copy` did."""

    up_to_date: bool = False
    """This notebook held the other copy already: nothing changed."""
    three_way: bool = False
    """Merged as files (no shared history, or a base was given) rather than as histories."""
    unrelated: bool = False
    """The other copy's history shares no change with this one (so the files were merged)."""
    conflicts: list[str] = field(default_factory=list)
    notes: list[str] = field(default_factory=list)


def merge_copy(nh: NotebookHistory, theirs: Mapping | None, their_history: History | None, *,
               base: Mapping | None = None, label: str = "the other copy",
               author: str | None = None) -> CopyMerge:
    """Merge another copy (its notebook ``theirs`` and/or its ``their_history``) into ``nh``'s ``main``.

    ``base``: the common ancestor, which forces a three-way merge of the notebooks. ``label`` names the
    other copy in the merge change's message. Raises :class:`NoMergeBase` when a three-way merge has no
    base to go on (no ``base``, ``nh``'s history is only the import of its file, just made, and no
    ``their_history``).
    """
    out = CopyMerge()
    if their_history is not None and base is None:
        before = nh.main
        try:
            vm = nh.merge_history(their_history)
        except NoCommonHistory:
            out.unrelated = True
        else:
            out.up_to_date = nh.main == before
            out.conflicts, out.notes = list(vm.conflicts), list(vm.notes)
            return out
    from jupyter_crdt.history.union import notebook_at
    from jupyter_crdt.notebook import merge_notebooks

    out.three_way = True
    with warnings.catch_warnings():
        warnings.simplefilter("ignore")
        if theirs is None:
            if their_history is None:
                raise ValueError("merge_copy needs the other copy's notebook or its history")
            theirs = notebook_at(their_history, their_history.branch(MAIN))
        if base is None:
            if not nh.created or len(nh.history) > 1:  # this notebook's history holds more than
                # its file's import: its version closest to the other copy
                base = closest_version(nh.history, theirs)
            elif their_history is not None:  # the other copy's history: its version closest to ours
                base = closest_version(their_history, nh.notebook())
            else:
                raise NoMergeBase("neither copy has a history: give the common ancestor (a base notebook)")
        ours = notebook_at(nh.history, nh.main)
        merged, report = merge_notebooks(base, ours, theirs)
    nh.apply_notebook(merged, author, kind="merge", message=f"merged {label} (three-way)")
    out.conflicts = [f"{_where(c)}: {c.detail}" for c in report.conflicts]
    out.notes = [f"{_where(c)}: {c.detail}" for c in report.notes]
    return out


def _where(c: Any) -> str:
    return f"cell {c.cell_index}" if c.cell_index is not None else "notebook"


def closest_version(history: History, nb: Any) -> Any:
    """The notebook of ``history``'s main branch most like ``nb`` (the likely common ancestor of a plain
    copy).

    Replays main's changes once, scoring the notebook after each of the last 200 (cells of ``nb`` found
    unchanged count for it, cells ``nb`` lacks against it); the newest best one wins.
    """
    changes = history.log(history.branch(MAIN))
    want = {(c.get("cell_type"), _src(c)) for c in nb.get("cells", [])}
    best, best_score = None, None
    doc = Doc(gc=False)
    with Progress(len(changes), "finding the common version") as p:
        for i, c in enumerate(changes):
            doc.apply_update(c.update)
            p.advance()
            if i < len(changes) - 200:
                continue
            with warnings.catch_warnings():
                warnings.simplefilter("ignore")
                cand = _schema.export(doc, keep_ids=True)
            have = [(x.get("cell_type"), _src(x)) for x in cand.get("cells", [])]
            score = sum(1 for k in have if k in want) - 0.5 * sum(1 for k in have if k not in want)
            if best_score is None or score >= best_score:
                best, best_score = cand, score
    return best


def _src(c: Any) -> str:
    s = c.get("source", "")
    return s if isinstance(s, str) else "".join(s)
