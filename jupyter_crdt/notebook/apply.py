"""``apply_notebook``: turn a document into a given notebook with the smallest change.

Cells are matched old to new (see ``match``); the matched cells that kept their order stay where they are
and are edited in place: sources by a character diff (``jupyter_crdt.text.apply_text``), metadata key by
key, outputs replaced only when they changed, other fields set when they changed. Old cells without a
match are deleted, new ones inserted. A moved cell, or one whose type changed, is deleted and inserted
again (Yjs arrays have no move; this is what JupyterLab itself does), so concurrent edits to it are lost,
as they are in JupyterLab. Everything else a concurrent peer does to cells or characters this change
leaves alone survives the merge.
All of it is one transaction, made with the document's own client id.
"""

from __future__ import annotations

from collections.abc import Mapping
from typing import Any

from crdt import Array, DecodeError, Doc, Map, Text
from jupyter_crdt.notebook import schema as _schema
from jupyter_crdt.notebook.match import CellKey, kept_in_place, match_cells
from jupyter_crdt.notebook.normalize import derive_id, prepare
from jupyter_crdt.notebook.values import same
from jupyter_crdt.text import apply_text

APPLY_ORIGIN = "jupyter_crdt.apply_notebook"
_MISSING = object()


def apply_notebook(doc: Doc, nb: Mapping, *, origin: Any = APPLY_ORIGIN) -> None:
    """Change ``doc`` so that it exports ``nb``, with the minimal change (one transaction).

    ``nb`` may lack cell ids (nbformat < 4.5): cells are then matched by content and keep the document's
    ids. Duplicate ids are repaired as on load (with a warning).
    """
    nb, _ = prepare(nb, derive_missing=False)
    cells_arr = doc.get_array(_schema.CELLS)
    old_maps = list(cells_arr)
    old_keys = [_key_of_map(m) for m in old_maps]
    new_cells = nb[_schema.CELLS]
    new_keys = [
        CellKey(c.get("id"), c.get("cell_type"), _schema.as_str(c.get("source", ""))) for c in new_cells
    ]

    match = match_cells(old_keys, new_keys)
    for j, i in enumerate(match):
        # A cell whose type changed is a new cell to the browser model: replace it.
        if i is not None and (
            old_keys[i].cell_type != new_keys[j].cell_type or not isinstance(old_maps[i], Map)
        ):
            match[j] = None
    keep = kept_in_place(match)
    keep_set = set(keep)
    kept_old = {match[j] for j in keep}

    taken = {k.id for k in old_keys} | {k.id for k in new_keys}

    with doc.transact(origin=origin):
        _apply_meta(doc, nb)
        # Delete the old cells that do not stay, last run first so indices hold.
        i = len(old_maps) - 1
        while i >= 0:
            if i in kept_old:
                i -= 1
                continue
            end = i
            while i >= 0 and i not in kept_old:
                i -= 1
            cells_arr.delete(i + 1, end - i)
        # Insert the new and moved cells between the ones that stayed.
        pos = 0
        run: list[Map] = []
        for j, cell in enumerate(new_cells):
            if j in keep_set:
                if run:
                    cells_arr.insert(pos, run)
                    pos += len(run)
                    run = []
                pos += 1
                continue
            if cell.get("id") is None:
                i = match[j]
                if i is not None and old_keys[i].id is not None:
                    cid = old_keys[i].id
                else:
                    cid = derive_id(j, cell, taken)
                    taken.add(cid)
                cell = {**cell, "id": cid}
            run.append(_schema.cell_prelim(cell))
        if run:
            cells_arr.insert(pos, run)
        for j in keep:
            i = match[j]
            assert i is not None  # kept_in_place picks matched cells only
            update_cell(old_maps[i], new_cells[j])


def _key_of_map(m: Any) -> CellKey:
    if not isinstance(m, Map):
        return CellKey(None, None, "")
    src = _schema.text_of(m.get(_schema.SOURCE))
    return CellKey(m.get("id"), m.get("cell_type"), src or "")


def _apply_meta(doc: Doc, nb: Mapping) -> None:
    meta = doc.get_map(_schema.META)
    for key, value in nb.items():
        if key == _schema.CELLS:
            continue
        if key == _schema.METADATA:
            update_map_field(meta, key, value)
        else:
            _set_plain(meta, key, value)
    for key in meta.keys():
        if key not in nb and key != _schema.METADATA:
            del meta[key]
    if _schema.METADATA not in nb and _schema.METADATA not in meta:
        meta[_schema.METADATA] = Map({})


def update_cell(m: Map, cell: Mapping) -> None:
    """Edit the cell Map ``m`` in place so that it holds ``cell``."""
    for key, value in cell.items():
        if key == _schema.SOURCE:
            update_text_field(m, key, _schema.as_str(value))
        elif key == _schema.METADATA and isinstance(value, Mapping):
            update_map_field(m, key, value)
        elif key == _schema.OUTPUTS and isinstance(value, list):
            update_outputs(m, value)
        else:
            _set_plain(m, key, value)
    for key in m.keys():
        if key in cell or key == _schema.EXECUTION_STATE or (key == "id" and cell.get("id") is None):
            continue
        del m[key]


def update_text_field(m: Map, key: str, new: str) -> None:
    cur = m.get(key, _MISSING)
    if isinstance(cur, Text):
        apply_text(cur, new)
    else:
        m[key] = Text(new)


def update_map_field(parent: Map, key: str, value: Mapping) -> None:
    cur = parent.get(key, _MISSING)
    if not isinstance(cur, Map):
        parent[key] = Map(dict(value))
        return
    for k, v in value.items():
        old = cur.get(k, _MISSING)
        if old is _MISSING or _differs(old, v):
            cur[k] = v
    for k in cur.keys():
        if k not in value:
            del cur[k]


def update_outputs(m: Map, outputs: list) -> None:
    cur = m.get(_schema.OUTPUTS, _MISSING)
    if isinstance(cur, Array):
        old = [_schema.output_to_py(o, copy=False, problems=[]) for o in cur]  # only compared
        if same(old, [_joined_output(o) for o in outputs]):
            return
        doc = cur.doc
        assert doc is not None  # an Array read out of a document's Map
        with doc.transact():
            if len(cur):
                cur.delete(0, len(cur))
            if outputs:
                cur.insert(0, [_schema.output_prelim(o) for o in outputs])
        return
    m[_schema.OUTPUTS] = Array([_schema.output_prelim(o) for o in outputs])


def _joined_output(o: Mapping) -> Mapping:
    if o.get("output_type") == "stream" and isinstance(o.get("text"), list):
        return {**o, "text": "".join(o["text"])}
    return o


def _set_plain(m: Map, key: str, value: Any) -> None:
    old = m.get(key, _MISSING)
    if old is _MISSING or _differs(old, value):
        m[key] = value


def _differs(old: Any, value: Any) -> bool:
    try:
        return not same(_schema.plain(old), value)
    except DecodeError:  # nested deeper than any file holds: the file's value replaces it
        return True
