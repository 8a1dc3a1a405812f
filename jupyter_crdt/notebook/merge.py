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
from dataclasses import dataclass, field
from typing import Any

from nbformat.notebooknode import NotebookNode

from crdt import Doc
from jupyter_crdt.notebook import schema as _schema
from jupyter_crdt.notebook.apply import apply_notebook
from jupyter_crdt.notebook.load import notebook_to_doc
from jupyter_crdt.notebook.match import CellKey, match_cells
from jupyter_crdt.notebook.normalize import prepare
from jupyter_crdt.notebook.values import same
from jupyter_crdt.text import diff_sequences, merge_text

MERGE_ORIGIN = "jupyter_crdt.merge_notebooks"


class _Missing:
    def __repr__(self) -> str:
        return "<missing>"


MISSING: Any = _Missing()
# Fields that travel together: one side's outputs, execution count and execution timing.
_UNIT = ("outputs", "execution_count")
_TIMING = "execution"


@dataclass
class MergeConflict:
    """Something in the merged notebook a person should look at."""

    kind: str  # source, metadata, notebook-metadata, cell_type, attachments, field, delete-edit, outputs,
    # id, insert-insert
    detail: str
    cell_id: str | None = None
    cell_index: int | None = None  # in the merged notebook
    key: str | None = None  # metadata key path or field name
    base: Any = None
    local: Any = None
    remote: Any = None
    markers: bool = False  # the merged source holds conflict markers for it

    def to_dict(self) -> dict:
        return {k: v for k, v in self.__dict__.items() if v is not None and k != "_cell_key"}


@dataclass
class MergeReport:
    """What ``merge_notebooks`` could not decide by itself (``conflicts``) and what it decided (``notes``)."""

    conflicts: list[MergeConflict] = field(default_factory=list)
    notes: list[MergeConflict] = field(default_factory=list)
    doc: Doc | None = field(default=None, repr=False, compare=False)  # the merged document

    @property
    def clean(self) -> bool:
        """No true conflicts: nothing needs a person's decision."""
        return not self.conflicts

    @property
    def has_markers(self) -> bool:
        return any(c.markers for c in self.conflicts)

    def to_dict(self) -> dict:
        return {
            "clean": self.clean,
            "conflicts": [c.to_dict() for c in self.conflicts],
            "notes": [c.to_dict() for c in self.notes],
        }

    def __str__(self) -> str:
        if not self.conflicts and not self.notes:
            return "merged cleanly"
        lines = [f"{len(self.conflicts)} conflict(s), {len(self.notes)} note(s)"]
        for tag, items in (("conflict", self.conflicts), ("note", self.notes)):
            for c in items:
                where = f"cell {c.cell_index} ({c.cell_id})" if c.cell_index is not None else "notebook"
                lines.append(f"- {tag}: {where}: {c.detail}")
        return "\n".join(lines)


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

        order = self._merge_order(b_order, l_order, r_order, cells)
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
        for f in _ordered_keys(self.base, self.local, self.remote):
            if f == "cells":
                continue
            bv, lv, rv = (x.get(f, MISSING) for x in (self.base, self.local, self.remote))
            if f == "metadata":
                conflicts: list = []
                v = _merge_dict(bv, lv, rv, [], conflicts)
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
                v = _three_way(bv, lv, rv)
                if v is _CONFLICT:
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

    # -- cell order -----------------------------------------------------------------------------------

    def _merge_order(self, b_order: list, l_order: list, r_order: list, cells: dict) -> list:
        both_inserted: list = []
        placed = _merge_sequences(b_order, l_order, r_order, both_inserted)
        for mine, theirs in both_inserted:
            self.cell_items.append(
                (
                    mine[0],
                    MergeConflict(
                        "insert-insert",
                        f"both sides inserted cells at the same place; kept all, local's "
                        f"{len(mine)} first, then remote's {len(theirs)}",
                    ),
                    False,
                )
            )
        lset, rset = set(l_order), set(r_order)
        # One place per cell: where local put it when both sides moved it.
        where: dict[Any, int] = {}
        for n, (k, side) in enumerate(placed):
            if k not in where or side == "local":
                where[k] = n
        keep = []
        for k in b_order:
            in_l, in_r = k in lset, k in rset
            if in_l and in_r:
                continue
            b, lc, rc = cells[k]
            if not in_l and not in_r:
                where.pop(k, None)
                continue
            survivor, side, other = (rc, "remote", "local") if in_r else (lc, "local", "remote")
            if _edited(b, survivor):
                keep.append((k, side))
                self.cell_items.append(
                    (
                        k,
                        MergeConflict(
                            "delete-edit",
                            f"deleted on the {other} side, edited on the {side} side: kept, with the edit",
                            base=b.get("source"),
                        ),
                        True,
                    )
                )
            else:
                where.pop(k, None)
                if not same(_unit(b), _unit(survivor)):
                    self.cell_items.append(
                        (
                            None,
                            MergeConflict(
                                "delete-edit",
                                f"deleted on the {other} side; the {side} side had only re-run it: deleted",
                                cell_id=b.get("id"),
                                base=b.get("source"),
                            ),
                            False,
                        )
                    )
        order = [k for n, (k, _) in enumerate(placed) if where.get(k) == n]
        present = set(order)
        missing_keys = {k: side for k, side in keep if k not in present}
        if not missing_keys:
            return order
        # Each kept cell goes right after the cell before it on the side that kept it (linear time).
        after: dict[Any, list] = {}
        for side in ("local", "remote"):
            last = None
            for k in l_order if side == "local" else r_order:
                if missing_keys.get(k) == side:
                    after.setdefault(last, []).append(k)
                    last = k
                elif k in present:
                    last = k
        out: list = []
        stack = list(reversed(after.get(None, [])))
        for k in [*order, _END]:
            while stack:
                kept = stack.pop()
                out.append(kept)
                stack.extend(reversed(after.get(kept, [])))
            if k is not _END:
                out.append(k)
                stack = list(reversed(after.get(k, [])))
        return out

    # -- one cell ---------------------------------------------------------------------------------------

    def _merge_cell(self, k: Any, b: Mapping | None, lc: Mapping | None, rc: Mapping | None) -> NotebookNode:
        if lc is None or rc is None:
            return _schema.to_node(dict(lc if rc is None else rc))
        if b is None:
            b = {}
        cell = NotebookNode()
        for f in _ordered_keys(b, lc, rc):
            if f in _UNIT:
                continue
            bv, lv, rv = b.get(f, MISSING), lc.get(f, MISSING), rc.get(f, MISSING)
            if f == "id":
                # A side without ids (nbformat < 4.5) kept the base cell's id.
                lv = bv if lv is MISSING else lv
                rv = bv if rv is MISSING else rv
                v = _three_way(bv, lv, rv)
                if v is _CONFLICT:
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
                v = _merge_dict(bv, lv, rv, [], conflicts, depth=0)
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
            return d if d is MISSING else {x: y for x, y in d.items() if x != _TIMING}

        conflicts: list = []
        v = _merge_dict(strip(bv), strip(lv), strip(rv), [], conflicts)
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
        bu, lu, ru = _unit(b), _unit(lc), _unit(rc)
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
            tl, tr = _executed_at(lc), _executed_at(rc)
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
        for f, v in zip((*_UNIT, _TIMING), u, strict=True):
            if f == _TIMING:
                if v is not MISSING:
                    cell.setdefault("metadata", {})[_TIMING] = v
            elif v is not MISSING:
                cell[f] = v

    def _scalar(self, k: Any, f: str, bv: Any, lv: Any, rv: Any, notebook: bool = False) -> Any:
        v = _three_way(bv, lv, rv)
        if v is _CONFLICT:
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


# -- helpers ------------------------------------------------------------------------------------------

_CONFLICT: Any = object()
_END: Any = object()


def _three_way(b: Any, lv: Any, rv: Any) -> Any:
    if same(lv, b):
        return rv
    if same(rv, b) or same(lv, rv):
        return lv
    return _CONFLICT


def _merge_dict(b: Any, lv: Any, rv: Any, path: list, conflicts: list, depth: int = 32) -> Any:
    """Three-way merge of two objects key by key (recursively); conflicts keep local's value."""
    if lv is MISSING or rv is MISSING or not isinstance(lv, Mapping) or not isinstance(rv, Mapping):
        v = _three_way(b, lv, rv)
        if v is _CONFLICT:
            conflicts.append((path, b, lv, rv))
            return lv
        return v
    if not isinstance(b, Mapping):
        b = {}
    out: dict = {}
    for k in _ordered_keys(b, lv, rv):
        bk, lk, rk = b.get(k, MISSING), lv.get(k, MISSING), rv.get(k, MISSING)
        v = _three_way(bk, lk, rk)
        if v is _CONFLICT:
            if depth > 0 and isinstance(lk, Mapping) and isinstance(rk, Mapping):
                v = _merge_dict(bk, lk, rk, [*path, k], conflicts, depth - 1)
            elif _string_set(bk) and _string_set(lk) and _string_set(rk):
                v = _merge_set(bk, lk, rk)
            else:
                conflicts.append(([*path, k], bk, lk, rk))
                v = lk
        if v is not MISSING:
            out[k] = v
    return out


def _string_set(v: Any) -> bool:
    return (v is MISSING or isinstance(v, list)) and (
        v is MISSING or (all(isinstance(x, str) for x in v) and len(set(v)) == len(v))
    )


def _merge_set(b: Any, lv: list, rv: list) -> list:
    bset = set() if b is MISSING else set(b)
    removed = (bset - set(lv)) | (bset - set(rv))
    out = [x for x in lv if x not in removed]
    out += [x for x in rv if x not in removed and x not in out]
    return out


def _merge_sequences(b: list, lv: list, rv: list, both_inserted: list | None = None) -> list[tuple[Any, str]]:
    """Three-way merge of key sequences: [(key, side it came from)] (a key may appear twice).

    Where both sides inserted different keys at one place, the keys each side inserted there are
    appended to ``both_inserted`` as a pair of lists.
    """
    hunks = [(i1, i2, lv[j1:j2], 0) for i1, i2, j1, j2 in diff_sequences(b, lv)]
    hunks += [(i1, i2, rv[j1:j2], 1) for i1, i2, j1, j2 in diff_sequences(b, rv)]
    hunks.sort(key=lambda h: (h[0], h[1], h[3]))
    out: list[tuple[Any, str]] = []
    pos = 0
    k = 0
    while k < len(hunks):
        group = [hunks[k]]
        k += 1
        while k < len(hunks) and any(_interact(hunks[k], g) for g in group if g[3] != hunks[k][3]):
            group.append(hunks[k])
            k += 1
        s = min(h[0] for h in group)
        e = max(h[1] for h in group)
        out.extend((x, "base") for x in b[pos:s])
        pos = e
        sides = {h[3] for h in group}
        lpart = _apply_seq(b, s, e, [h for h in group if h[3] == 0])
        rpart = _apply_seq(b, s, e, [h for h in group if h[3] == 1])
        if sides == {0}:
            out.extend((x, "local") for x in lpart)
        elif sides == {1}:
            out.extend((x, "remote") for x in rpart)
        elif lpart == rpart:
            out.extend((x, "both") for x in lpart)
        else:
            merged = _union(lpart, rpart)
            out.extend(merged)
            if both_inserted is not None:
                base_part = set(b[s:e])
                mine = [x for x, side in merged if side == "local" and x not in base_part]
                theirs = [x for x, side in merged if side == "remote" and x not in base_part]
                if mine and theirs:
                    both_inserted.append((mine, theirs))
    out.extend((x, "base") for x in b[pos:])
    return out


def _interact(a: tuple, c: tuple) -> bool:
    if a[0] < a[1] and c[0] < c[1]:
        return a[0] < c[1] and c[0] < a[1]
    if a[0] == a[1] and c[0] == c[1]:
        return a[0] == c[0]
    ins, rng = (a, c) if a[0] == a[1] else (c, a)
    return rng[0] <= ins[0] < rng[1] or ins[0] == rng[1]


def _apply_seq(b: list, s: int, e: int, hunks: list) -> list:
    out = []
    pos = s
    for h in hunks:
        out.extend(b[pos : h[0]])
        out.extend(h[2])
        pos = h[1]
    out.extend(b[pos:e])
    return out


def _union(lpart: list, rpart: list) -> list[tuple[Any, str]]:
    out: list[tuple[Any, str]] = []
    pos_l = 0
    for i1, i2, j1, j2 in diff_sequences(lpart, rpart):
        out.extend((x, "both") for x in lpart[pos_l:i1])
        out.extend((x, "local") for x in lpart[i1:i2])
        out.extend((x, "remote") for x in rpart[j1:j2])
        pos_l = i2
    out.extend((x, "both") for x in lpart[pos_l:])
    return out


def _cell_key(c: Mapping) -> CellKey:
    return CellKey(c.get("id"), c.get("cell_type"), _schema.as_str(c.get("source", "")))


def _ordered_keys(*dicts: Any) -> list:
    seen: dict = {}
    for d in (dicts[1], dicts[2], dicts[0]):
        if isinstance(d, Mapping):
            for k in d:
                seen.setdefault(k, None)
    return list(seen)


def _unit(c: Mapping) -> tuple:
    md = c.get("metadata")
    timing = md.get(_TIMING, MISSING) if isinstance(md, Mapping) else MISSING
    return (c.get("outputs", MISSING), c.get("execution_count", MISSING), timing)


def _edited(b: Mapping, c: Mapping) -> bool:
    """Whether ``c`` changed ``b`` beyond re-running it (outputs, count, timing) or renaming its id."""
    for f in set(b) | set(c):
        if f in _UNIT or f == "id":
            continue
        bv, cv = b.get(f, MISSING), c.get(f, MISSING)
        if f == "source":
            bv, cv = (_schema.as_str(x) if isinstance(x, (str, list)) else x for x in (bv, cv))
        if f == "metadata" and isinstance(bv, Mapping) and isinstance(cv, Mapping):
            bv = {k: v for k, v in bv.items() if k != _TIMING}
            cv = {k: v for k, v in cv.items() if k != _TIMING}
        if not same(bv, cv):
            return True
    return False


def _executed_at(c: Mapping) -> str | None:
    md = c.get("metadata")
    timing = md.get(_TIMING) if isinstance(md, Mapping) else None
    if not isinstance(timing, Mapping):
        return None
    stamps = [v for v in timing.values() if isinstance(v, str)]
    return max(stamps) if stamps else None


def _position(c: MergeConflict) -> tuple:
    return (-1 if c.cell_index is None else c.cell_index, c.kind)
