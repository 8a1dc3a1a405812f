"""``merge_notebooks``: three-way merge of plain notebooks, carried out through the CRDT.

Both sides are applied as minimal changes (``apply_notebook``) to documents forked from the base, and the
two updates are merged into a third fork, so the merged document holds both histories. A CRDT alone gets
some things wrong for notebooks (both sides' new outputs concatenated, a cell moved by both sides twice,
conflicting edits of one word interleaved), so the merged notebook is also worked out directly from the
three notebooks by the rules below, and applied to the merged document as one last minimal change.

Rules (each cell is matched to its base cell as ``apply_notebook`` matches it: by id, then content):

- Cell order: a three-way merge of the cell sequences. Cells inserted by both sides at one place are
  all kept (local's first); a cell moved by both sides goes where local put it.
- A cell deleted on one side and edited (source, metadata, type, attachments) on the other is kept, with
  the edit, and reported. A deletion wins over a mere re-run (new outputs) on the other side.
- Source: merged character by character (``jupyter_crdt.text.merge_text``, strategy ``inline``); true
  conflicts are kept between git-style markers and reported.
- Outputs, execution count and the ``execution`` timing metadata form one unit taken from one side, never
  concatenated: from the side that changed them; when both did, from the side whose source is the merged
  source, else from the side that executed later (timing metadata), else from local (a note says which).
- Metadata (notebook and cell) merges key by key, recursively into objects; lists of distinct strings
  (tags) merge as sets; a key both sides set to different values keeps local's value and is reported.
- Any other field: three-way; both changed differently keeps local's and is reported (a changed cell id
  only makes a note: ids are not something a person needs to look at).
"""

from __future__ import annotations

from collections.abc import Mapping
from typing import Any

from nbformat.notebooknode import NotebookNode

from crdt import Doc
from jupyter_crdt.notebook import schema as _schema
from jupyter_crdt.notebook._merge_order import merge_order
from jupyter_crdt.notebook._merge_values import (
    CONFLICT,
    MISSING,
    TIMING,
    UNIT,
    executed_at,
    merge_dict,
    ordered_keys,
    three_way,
    unit,
)
from jupyter_crdt.notebook.apply import apply_notebook
from jupyter_crdt.notebook.load import notebook_to_doc
from jupyter_crdt.notebook.match import CellKey, match_cells
from jupyter_crdt.notebook.merge_report import MergeConflict, MergeReport
from jupyter_crdt.notebook.normalize import prepare
from jupyter_crdt.notebook.values import same
from jupyter_crdt.text import merge_text

MERGE_ORIGIN = "jupyter_crdt.merge_notebooks"


def merge_notebooks(base: Mapping, local: Mapping, remote: Mapping) -> tuple[NotebookNode, MergeReport]:
    """Merge two notebooks that both started from ``base``. Returns (merged notebook, report).

    The merged notebook validates; true source conflicts are between ``<<<<<<< local`` / ``=======`` /
    ``>>>>>>> remote`` markers and listed in ``report.conflicts``. ``report.doc`` is the merged document.
    """
    base_doc = notebook_to_doc(base, name="base")
    base_nb = _schema.export(base_doc, keep_ids=True)
    local_nb, _ = prepare(local, derive_missing=False, name="local")
    remote_nb, _ = prepare(remote, derive_missing=False, name="remote")

    report = MergeReport()
    target = _Merger(base_nb, local_nb, remote_nb, report).run()

    base_update = base_doc.encode_state_as_update()
    base_sv = base_doc.encode_state_vector()
    merged = Doc()
    merged.apply_update(base_update)
    for side in (local_nb, remote_nb):
        fork = Doc()
        fork.apply_update(base_update)
        apply_notebook(fork, side, origin=MERGE_ORIGIN)
        merged.apply_update(fork.encode_state_as_update(base_sv))
    apply_notebook(merged, target, origin=MERGE_ORIGIN)
    report.doc = merged
    result = _schema.export(merged)
    if not _schema.ids_in_file(result):  # the ids were the document's own: they mean nothing in the file
        for item in (*report.conflicts, *report.notes):
            item.cell_id = None
    return result, report


class _Merger:
    def __init__(self, base: Mapping, local: Mapping, remote: Mapping, report: MergeReport) -> None:
        self.base, self.local, self.remote = base, local, remote
        self.report = report
        self.cell_items: list[tuple[Any, MergeConflict, bool]] = []  # (cell key, item, is_conflict)

    # -- the whole notebook -------------------------------------------------------------------------

    def run(self) -> NotebookNode:
        b_cells, l_cells, r_cells = self.base["cells"], self.local["cells"], self.remote["cells"]
        bkeys = [_cell_key(c) for c in b_cells]
        lmatch = match_cells(bkeys, [_cell_key(c) for c in l_cells])
        rmatch = match_cells(bkeys, [_cell_key(c) for c in r_cells])
        b_order = [("b", i) for i in range(len(b_cells))]
        l_order = [
            ("b", i) if i is not None else ("n", c.get("id") or ("l", j))
            for j, (c, i) in enumerate(zip(l_cells, lmatch, strict=True))
        ]
        r_order = [
            ("b", i) if i is not None else ("n", c.get("id") or ("r", j))
            for j, (c, i) in enumerate(zip(r_cells, rmatch, strict=True))
        ]
        cells: dict[Any, list] = {k: [b_cells[k[1]], None, None] for k in b_order}
        for k, c in zip(l_order, l_cells, strict=True):
            cells.setdefault(k, [None, None, None])[1] = c
        for k, c in zip(r_order, r_cells, strict=True):
            cells.setdefault(k, [None, None, None])[2] = c

        order = merge_order(b_order, l_order, r_order, cells, self.cell_items)
        merged_cells = []
        index_of = {}
        for index, k in enumerate(order):
            b, lc, rc = cells[k]
            merged_cells.append(self._merge_cell(k, b, lc, rc))
            index_of[k] = index
        for key, item, is_conflict in self.cell_items:
            if key in index_of:
                item.cell_index = index_of[key]
                item.cell_id = merged_cells[item.cell_index].get("id")
            (self.report.conflicts if is_conflict else self.report.notes).append(item)
        self.report.conflicts.sort(key=_position)
        self.report.notes.sort(key=_position)

        nb = NotebookNode()
        for f in ordered_keys(self.base, self.local, self.remote):
            if f == "cells":
                continue
            bv, lv, rv = (x.get(f, MISSING) for x in (self.base, self.local, self.remote))
            if f == "metadata":
                conflicts: list = []
                v = merge_dict(bv, lv, rv, [], conflicts)
                for path, cb, cl, cr in conflicts:
                    self.report.conflicts.append(
                        MergeConflict(
                            "notebook-metadata",
                            f"notebook metadata {'.'.join(path)!r} changed differently on both "
                            "sides; kept local's value",
                            key=".".join(path),
                            base=cb,
                            local=cl,
                            remote=cr,
                        )
                    )
            elif f in ("nbformat", "nbformat_minor"):
                v = three_way(bv, lv, rv)
                if v is CONFLICT:
                    v = max(lv, rv)  # the newer format can hold what both have
                    self.report.notes.append(
                        MergeConflict("field", f"both sides changed {f}; kept {v}", key=f)
                    )
            else:
                v = self._scalar(None, f, bv, lv, rv, notebook=True)
            if v is not MISSING:
                nb[f] = v
        nb["cells"] = merged_cells
        return nb

    # -- one cell ---------------------------------------------------------------------------------------

    def _merge_cell(self, k: Any, b: Mapping | None, lc: Mapping | None, rc: Mapping | None) -> NotebookNode:
        if lc is None or rc is None:
            only = lc if rc is None else rc
            assert only is not None  # a cell neither side has is not in the merged order
            return _schema.to_node(dict(only))
        if b is None:
            b = {}
        cell = NotebookNode()
        for f in ordered_keys(b, lc, rc):
            if f in UNIT:
                continue
            bv, lv, rv = b.get(f, MISSING), lc.get(f, MISSING), rc.get(f, MISSING)
            if f == "id":
                # A side without ids (nbformat < 4.5) kept the base cell's id.
                lv = bv if lv is MISSING else lv
                rv = bv if rv is MISSING else rv
                v = three_way(bv, lv, rv)
                if v is CONFLICT:
                    v = lv
                    self.cell_items.append(
                        (
                            k,
                            MergeConflict(
                                "id",
                                f"both sides changed the cell id ({lv!r} / {rv!r}); kept local's",
                                key="id",
                                base=bv,
                                local=lv,
                                remote=rv,
                            ),
                            False,
                        )
                    )
            elif f == "source":
                v = self._source(k, bv, lv, rv)
            elif f == "metadata" and all(isinstance(x, Mapping) or x is MISSING for x in (bv, lv, rv)):
                v = self._metadata(k, bv, lv, rv)
            elif f == "attachments" and all(isinstance(x, Mapping) or x is MISSING for x in (bv, lv, rv)):
                conflicts: list = []
                v = merge_dict(bv, lv, rv, [], conflicts, depth=0)
                for path, cb, cl, cr in conflicts:
                    self.cell_items.append(
                        (
                            k,
                            MergeConflict(
                                "attachments",
                                f"attachment {'.'.join(path) or '(all)'} changed differently on both "
                                "sides; kept local's",
                                key=".".join(path) or None,
                                base=cb,
                                local=cl,
                                remote=cr,
                            ),
                            True,
                        )
                    )
            else:
                v = self._scalar(k, f, bv, lv, rv)
            if v is not MISSING:
                cell[f] = v
        self._outputs(k, cell, b, lc, rc)
        # One side changed the cell's type: keep only the fields that type has.
        kind = cell.get("cell_type")
        if kind == "code":
            cell.setdefault("outputs", [])
            cell.setdefault("execution_count", None)
            cell.pop("attachments", None)
        elif kind in ("markdown", "raw"):
            cell.pop("outputs", None)
            cell.pop("execution_count", None)
        return _schema.to_node(cell)

    def _source(self, k: Any, bv: Any, lv: Any, rv: Any) -> Any:
        strs = [_schema.as_str(x) if isinstance(x, (str, list)) else x for x in (bv, lv, rv)]
        bs, ls, rs = strs
        if not all(isinstance(x, str) or x is MISSING for x in strs):
            return self._scalar(k, "source", bv, lv, rv)
        if ls is MISSING or rs is MISSING:
            return self._scalar(k, "source", bs, ls, rs)
        text, conflicts = merge_text("" if bs is MISSING else bs, ls, rs)
        for c in conflicts:
            self.cell_items.append(
                (
                    k,
                    MergeConflict(
                        "source",
                        "both sides changed the same part of the source: both versions kept between markers",
                        key="source",
                        base=c.base,
                        local=c.local,
                        remote=c.remote,
                        markers=True,
                    ),
                    True,
                )
            )
        return text

    def _metadata(self, k: Any, bv: Any, lv: Any, rv: Any) -> Any:
        def strip(d):
            return d if d is MISSING else {x: y for x, y in d.items() if x != TIMING}

        conflicts: list = []
        v = merge_dict(strip(bv), strip(lv), strip(rv), [], conflicts)
        for path, cb, cl, cr in conflicts:
            self.cell_items.append(
                (
                    k,
                    MergeConflict(
                        "metadata",
                        f"cell metadata {'.'.join(path)!r} changed differently on both sides; kept local's",
                        key=".".join(path),
                        base=cb,
                        local=cl,
                        remote=cr,
                    ),
                    True,
                )
            )
        return v

    def _outputs(self, k: Any, cell: NotebookNode, b: Mapping, lc: Mapping, rc: Mapping) -> None:
        bu, lu, ru = unit(b), unit(lc), unit(rc)
        if not b:
            bu = lu if same(lu, ru) else (MISSING, MISSING, MISSING)
        if same(lu, bu):
            u = ru
        elif same(ru, bu) or same(lu, ru):
            u = lu
        else:
            src = cell.get("source")
            l_ok = _schema.as_str(lc.get("source", "")) == src
            r_ok = _schema.as_str(rc.get("source", "")) == src
            tl, tr = executed_at(lc), executed_at(rc)
            if l_ok != r_ok:
                side, why = (
                    ("local", "its source is the merged source")
                    if l_ok
                    else ("remote", "its source is the merged source")
                )
            elif tl and tr and tl != tr:
                side, why = ("local", "it executed later") if tl > tr else ("remote", "it executed later")
            else:
                side, why = "local", "neither side is more recent"
            u = lu if side == "local" else ru
            self.cell_items.append(
                (
                    k,
                    MergeConflict(
                        "outputs",
                        f"both sides changed the outputs; kept the {side} side's ({why})",
                        key="outputs",
                    ),
                    False,
                )
            )
        for f, v in zip((*UNIT, TIMING), u, strict=True):
            if f == TIMING:
                if v is not MISSING:
                    cell.setdefault("metadata", {})[TIMING] = v
            elif v is not MISSING:
                cell[f] = v

    def _scalar(self, k: Any, f: str, bv: Any, lv: Any, rv: Any, notebook: bool = False) -> Any:
        v = three_way(bv, lv, rv)
        if v is CONFLICT:
            v = lv
            item = MergeConflict(
                "field",
                f"{f!r} changed differently on both sides; kept local's",
                key=f,
                base=bv,
                local=lv,
                remote=rv,
            )
            if f == "cell_type":
                item.kind = "cell_type"
            if notebook:
                self.report.conflicts.append(item)
            else:
                self.cell_items.append((k, item, True))
        return v


def _cell_key(c: Mapping) -> CellKey:
    return CellKey(c.get("id"), c.get("cell_type"), _schema.as_str(c.get("source", "")))


def _position(c: MergeConflict) -> tuple:
    return (-1 if c.cell_index is None else c.cell_index, c.kind)
