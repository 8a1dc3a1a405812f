"""Differences between two versions of a notebook, for people (a terminal) and for tools (JSON).

Cells are matched as ``apply_notebook`` matches them (by id, then by content, see ``match``): unmatched
cells of the first version were deleted, unmatched cells of the second added, matched cells that left the
longest run of cells keeping their order moved. Matched cells are compared field by field; sources get a
line-level unified diff.
"""

from __future__ import annotations

import difflib
from collections.abc import Mapping
from dataclasses import dataclass, field
from typing import Any

from jupyter_crdt.notebook import schema as _schema
from jupyter_crdt.notebook.match import CellKey, kept_in_place, match_cells
from jupyter_crdt.notebook.values import same

_UNIT = ("outputs", "execution_count")


@dataclass
class CellDiff:
    op: str  # added, deleted, modified, moved, unchanged
    id: str | None
    cell_type: str | None
    a_index: int | None
    b_index: int | None
    source: list[str] = field(default_factory=list)  # unified diff lines (no ---/+++ header)
    fields: list[str] = field(default_factory=list)  # other fields that changed
    outputs: tuple[int, int] | None = None  # (count before, count after) when outputs changed
    moved: bool = False

    def to_dict(self) -> dict:
        d: dict[str, Any] = {
            "op": self.op, "id": self.id, "cell_type": self.cell_type, "a_index": self.a_index,
            "b_index": self.b_index, "moved": self.moved, "fields": self.fields, "source_diff": self.source,
        }
        if self.outputs is not None:
            d["outputs"] = {"before": self.outputs[0], "after": self.outputs[1]}
        return d


@dataclass
class NotebookDiff:
    cells: list[CellDiff]
    metadata: list[str]  # notebook metadata keys that changed
    fields: list[str]  # other notebook fields (nbformat, nbformat_minor, ...)

    @property
    def empty(self) -> bool:
        return not self.metadata and not self.fields and all(c.op == "unchanged" for c in self.cells)

    def to_dict(self) -> dict:
        return {"cells": [c.to_dict() for c in self.cells if c.op != "unchanged"],
                "metadata": self.metadata, "fields": self.fields}


def _src(cell: Mapping) -> str:
    return _schema.as_str(cell.get("source", ""))


def diff_notebooks(a: Mapping, b: Mapping, *, context: int = 2) -> NotebookDiff:
    acells, bcells = list(a.get("cells", [])), list(b.get("cells", []))
    akeys = [CellKey(c.get("id"), c.get("cell_type"), _src(c)) for c in acells]
    bkeys = [CellKey(c.get("id"), c.get("cell_type"), _src(c)) for c in bcells]
    match = match_cells(akeys, bkeys)
    in_place = set(kept_in_place(match))
    matched_a = {i for i in match if i is not None}

    entries: list[tuple[float, CellDiff]] = []
    b_of = {i: j for j, i in enumerate(match) if i is not None}  # a index -> b index
    for j, (c, i) in enumerate(zip(bcells, match, strict=True)):
        if i is None:
            entries.append((j, CellDiff("added", c.get("id"), c.get("cell_type"), None, j,
                                        source=_unified("", _src(c), context))))
            continue
        d = _cell_diff(acells[i], c, i, j, context)
        d.moved = j not in in_place
        if d.moved:
            d.op = "moved"
        entries.append((j, d))
    # deleted cells go after the cell that preceded them (in the first version) and survived in place
    prev_pos = -1.0
    for i, c in enumerate(acells):
        if i in matched_a:
            if b_of[i] in in_place:
                prev_pos = float(b_of[i])
            continue
        entries.append((prev_pos + 0.5, CellDiff("deleted", c.get("id"), c.get("cell_type"), i, None,
                                                 source=_unified(_src(c), "", context))))
    entries.sort(key=lambda e: e[0])

    amd, bmd = a.get("metadata", {}) or {}, b.get("metadata", {}) or {}
    metadata = sorted(k for k in set(amd) | set(bmd) if not same(amd.get(k, _MISSING), bmd.get(k, _MISSING)))
    fields = sorted(k for k in (set(a) | set(b)) - {"cells", "metadata"}
                    if not same(a.get(k, _MISSING), b.get(k, _MISSING)))
    return NotebookDiff([d for _, d in entries], metadata, fields)


class _Missing:
    pass


_MISSING: Any = _Missing()


def _cell_diff(ac: Mapping, bc: Mapping, i: int, j: int, context: int) -> CellDiff:
    d = CellDiff("unchanged", bc.get("id"), bc.get("cell_type"), i, j)
    sa, sb = _src(ac), _src(bc)
    if sa != sb:
        d.source = _unified(sa, sb, context)
    ao, bo = ac.get("outputs", _MISSING), bc.get("outputs", _MISSING)
    if not same(ao, bo):
        d.outputs = (len(ao) if isinstance(ao, list) else 0, len(bo) if isinstance(bo, list) else 0)
    for k in sorted((set(ac) | set(bc)) - {"source", "outputs"}):
        av, bv = ac.get(k, _MISSING), bc.get(k, _MISSING)
        if k == "metadata" and isinstance(av, Mapping) and isinstance(bv, Mapping):
            for mk in sorted(set(av) | set(bv)):
                if not same(av.get(mk, _MISSING), bv.get(mk, _MISSING)):
                    d.fields.append(f"metadata.{mk}")
        elif not same(av, bv):
            d.fields.append(k)
    if d.source or d.outputs is not None or d.fields:
        d.op = "modified"
    return d


def _unified(a: str, b: str, context: int) -> list[str]:
    al, bl = a.splitlines(keepends=True), b.splitlines(keepends=True)
    out = []
    for line in difflib.unified_diff(al, bl, n=context, lineterm=""):
        if line.startswith(("---", "+++")):
            continue
        out.append(line.rstrip("\n"))
    return out


# -- rendering ------------------------------------------------------------------------------------------

_COLORS = {"+": "\x1b[32m", "-": "\x1b[31m", "@": "\x1b[36m", "#": "\x1b[1m"}
_RESET = "\x1b[0m"


def render_diff(diff: NotebookDiff, *, color: bool = False, a_label: str = "a", b_label: str = "b") -> str:
    """The diff as text for a terminal (ANSI colours with ``color``)."""

    def paint(line: str, kind: str) -> str:
        return f"{_COLORS[kind]}{line}{_RESET}" if color and kind in _COLORS else line

    out = [paint(f"--- {a_label}", "-"), paint(f"+++ {b_label}", "+")]
    if diff.empty:
        out.append("(no differences)")
        return "\n".join(out) + "\n"
    for c in diff.cells:
        if c.op == "unchanged":
            continue
        ident = f"[{c.cell_type}]" + (f" id {c.id}" if c.id else "")
        if c.op == "added":
            head = f"## cell {c.b_index} added {ident}"
        elif c.op == "deleted":
            head = f"## cell {c.a_index} deleted {ident}"
        else:
            head = f"## cell {c.b_index} {ident}"
            notes = []
            if c.moved:
                notes.append(f"moved from {c.a_index}")
            if c.source or c.outputs or c.fields:
                notes.append("modified")
            head += " " + ", ".join(notes)
        out.append(paint(head, "#"))
        for line in c.source:
            out.append(paint(line, line[:1]) if line[:1] in "+-@" else line)
        if c.outputs is not None:
            out.append(f"   outputs changed ({c.outputs[0]} -> {c.outputs[1]} outputs)")
        if c.fields:
            out.append(f"   changed: {', '.join(c.fields)}")
    if diff.metadata:
        out.append(paint("## notebook metadata changed: " + ", ".join(diff.metadata), "#"))
    if diff.fields:
        out.append(paint("## notebook fields changed: " + ", ".join(diff.fields), "#"))
    return "\n".join(out) + "\n"
