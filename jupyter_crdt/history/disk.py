"""A file that disagrees with its history: which recorded version it holds, or whether it is newer.

When a document's file differs from the version last written to it (``written``), two explanations are
checked before the file's content is recorded as an edit made by another tool (a ``disk`` change built on
``written``). **The file lags** (autosave off, or a crash came between writing the file and noting it): it
equals a version recorded between ``written`` and ``main`` (:func:`recorded_version`); ``written`` moves
there and the later edits are kept. **The history is stale or cut short** (a sidecar restored from an older
backup, or truncated): the file already holds the text typed since ``written``, and more
(:func:`file_is_newer`); merging it three-way from ``written`` would type that text twice, so the file
wins: its difference from ``main`` is recorded, and :data:`UNEXPLAINED_NOTE` says so. See
``docs/security.md``, "Damaged histories". Notebooks and text files alike.
"""

from __future__ import annotations

from collections.abc import Callable, Iterable, Mapping
from typing import Any

from crdt import Doc, History
from jupyter_crdt.text.diff import diff_text

__all__ = ["UNEXPLAINED_NOTE", "MAX_VERSIONS_CHECKED", "recorded_version", "file_is_newer"]


UNEXPLAINED_NOTE = (
    "the notebook file holds content its history never recorded (the history is older than the file: "
    "restored from a backup, or cut short?); the file's content was kept and recorded as a 'disk' change"
)
MAX_VERSIONS_CHECKED = 200
"""Unsaved changes compared with the file, newest first, when looking for the version it holds."""


def recorded_version(history: History, written: Iterable[str], main: Iterable[str],
                     matches: Callable[[Doc], bool]) -> frozenset[str] | None:
    """The newest version recorded after ``written`` and before ``main`` whose document ``matches``
    (a predicate on a :class:`crdt.Doc`), or None. Only the last :data:`MAX_VERSIONS_CHECKED` changes
    are compared (a document export each); the others are only applied."""
    new = history.log(frozenset(main), since=frozenset(written))[:-1]  # main itself was compared
    if not new:
        return None
    doc = history.doc_at(frozenset(written))
    first = max(0, len(new) - MAX_VERSIONS_CHECKED)
    heads = frozenset(written)
    found = None
    for i, c in enumerate(new):
        doc.apply_update(c.update)
        heads = history.heads_of(heads | {c.hash})
        if i >= first and matches(doc):
            found = heads
    return found


def _typed_text(content: Any) -> str:
    """What people type in ``content``: a text's characters, a notebook's cell sources (with their ids).
    Only text can be applied twice by a three-way merge (outputs and metadata follow one side)."""
    if isinstance(content, str):
        return content
    cells = content.get("cells") if isinstance(content, Mapping) else None
    parts = []
    for c in cells if isinstance(cells, list) else ():
        if isinstance(c, Mapping):
            src = c.get("source", "")
            src = src if isinstance(src, str) else "".join(x for x in src if isinstance(x, str))
            parts.append(f"\x00{c.get('id')}\x00{src}")
    return "".join(parts)


def _distance(a: str, b: str) -> int:
    return sum((i2 - i1) + (j2 - j1) for i1, i2, j1, j2 in diff_text(a, b))


def file_is_newer(written: Any, main: Any, disk: Any) -> bool:
    """Whether the file's content ``disk`` already holds the text ``main`` typed since ``written`` (and
    maybe more): then the history lost the versions in between (an older backup, a cut-short sidecar),
    and a three-way merge from ``written`` would type that text twice. Notebooks or texts.

    Measured on the typed text (:func:`_typed_text`): when ``main`` lies on the way from ``written`` to
    the file, going through it costs (almost) nothing extra: ``d(w,m) + d(m,f) - d(w,f)`` counts twice the
    unsaved text the file lacks. Another tool's edit of the written file lacks all of it (twice
    ``d(w,m)``); the file wins only when it lacks at most a quarter of it (later corrections of the
    unsaved text).
    """
    w, m, d = _typed_text(written), _typed_text(main), _typed_text(disk)
    unsaved = _distance(w, m)
    if not unsaved:
        return False
    excess = unsaved + _distance(m, d) - _distance(w, d)
    return 2 * excess <= unsaved
