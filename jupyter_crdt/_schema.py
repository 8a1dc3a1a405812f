"""The document layout: JupyterLab's shared-notebook schema (``@jupyter/ydoc`` YNotebook, version 2.0.0).

Root Map ``meta``: ``nbformat``, ``nbformat_minor``, ``metadata`` (a Map, one plain JSON value per key), and
any other top-level key of the file (future minor versions may add some) as a plain value.

Root Array ``cells``: one Map per cell with ``id``, ``cell_type``, ``source`` (Text), ``metadata`` (Map, one
plain value per key); code cells add ``execution_count``, ``execution_state`` (``"idle"``, as the
reference server's loader writes it; never exported) and ``outputs`` (an Array of Maps, one plain value
per key, except a stream's ``text``, which is a Text); ``attachments`` is a plain value, present when the
file has it. Any other key a cell has is kept as a plain value. Output blobs (images, HTML, widget
state) are plain values, so they cost one item each, not one per character.

Root Map ``state``: ``dirty``, ``path``, ``hash``, ``document_id``; the server's runtime state, not part of
the file, so loading leaves it empty and exporting ignores it.

Details checked against ``@jupyter/ydoc`` 4.2.0 (``lib/ycell.js``, ``lib/ynotebook.js``): the browser model
reads exactly these keys and types; it drops cell ids on export for nbformat 4.0-4.4 (so do we).
"""

from __future__ import annotations

from collections.abc import Mapping
from typing import Any

from nbformat.notebooknode import NotebookNode

from crdt import UNDEFINED, Array, Doc, Map, SharedType, Text

META = "meta"
CELLS = "cells"
STATE = "state"
METADATA = "metadata"
SOURCE = "source"
OUTPUTS = "outputs"
EXECUTION_STATE = "execution_state"
# Numbers JavaScript peers may hand back as floats (1.0) that nbformat wants as ints.
INT_FIELDS = ("nbformat", "nbformat_minor", "execution_count")


# -- notebook -> document -----------------------------------------------------------------------------


def as_str(v: Any) -> str:
    """A source or stream text as one string (nbformat allows a list of lines)."""
    return v if isinstance(v, str) else "".join(v)


def output_prelim(output: Mapping) -> Map:
    if output.get("output_type") == "stream" and "text" in output:
        fields = dict(output)
        fields["text"] = Text(as_str(output["text"]))
        return Map(fields)
    return Map(dict(output))


def cell_prelim(cell: Mapping) -> Map:
    """A new cell Map (not yet in a document) holding ``cell``."""
    fields: dict[str, Any] = {}
    for key, value in cell.items():
        if key == SOURCE:
            value = Text(as_str(value))
        elif key == METADATA:
            value = Map(dict(value))
        elif key == OUTPUTS and isinstance(value, list):
            value = Array([output_prelim(o) for o in value])
        fields[key] = value
    if cell.get("cell_type") == "code":
        fields[EXECUTION_STATE] = "idle"
    return Map(fields)


def load(doc: Doc, nb: Mapping) -> None:
    """Write ``nb`` (nbformat 4, cells with ids) into the empty ``doc``, in the current transaction."""
    meta = doc.get_map(META)
    meta["nbformat"] = nb["nbformat"]
    meta["nbformat_minor"] = nb["nbformat_minor"]
    meta[METADATA] = Map(dict(nb.get(METADATA, {})))
    for key, value in nb.items():
        if key not in (CELLS, METADATA, "nbformat", "nbformat_minor"):
            meta[key] = value
    doc.get_map(STATE)
    cells = nb[CELLS]
    if cells:
        doc.get_array(CELLS).insert(0, [cell_prelim(c) for c in cells])
    else:
        doc.get_array(CELLS)


def is_empty(doc: Doc) -> bool:
    return not doc.store.clients and not doc.pending


# -- document -> notebook -----------------------------------------------------------------------------


_new_node = NotebookNode.__new__
_fill = dict.update


def to_node(v: Any) -> Any:
    """A deep copy of plain data, dicts as ``NotebookNode`` (what nbformat's writer expects)."""
    t = type(v)
    if t is str or t is int or t is float or t is bool or v is None:
        return v
    if t is dict or isinstance(v, dict):
        # NotebookNode's own __init__ only fills the dict; skipping it makes big trees 3x faster to copy.
        node = _new_node(NotebookNode)
        _fill(node, {k: to_node(x) for k, x in v.items()})
        return node
    if t is list or t is tuple:
        return [to_node(x) for x in v]
    if isinstance(v, SharedType):
        return to_node(v.to_py())
    return v


def plain(v: Any) -> Any:
    """A stored value as plain data, without copying what is already plain."""
    if isinstance(v, SharedType):
        return v.to_py()
    return v


def text_of(v: Any) -> str | None:
    """A source or stream text as stored (Text, or a plain string from older writers)."""
    if isinstance(v, Text):
        return str(v)
    if isinstance(v, str):
        return v
    if isinstance(v, list) and all(isinstance(s, str) for s in v):
        return "".join(v)
    return None


def _int(v: Any) -> Any:
    if isinstance(v, float) and v.is_integer():
        return int(v)
    return v


def output_to_py(output: Any, copy: bool = True) -> Any:
    conv = to_node if copy else plain
    if isinstance(output, Map):
        out = NotebookNode() if copy else {}
        for key, value in output.items():
            if value is UNDEFINED:
                continue
            if key == "text" and isinstance(value, Text):
                out[key] = str(value)
            elif key == "execution_count":
                out[key] = _int(value)
            else:
                out[key] = conv(value)
        return out
    return conv(output)


def cell_to_py(cell: Any, *, drop_id: bool = False, copy: bool = True) -> Any:
    """One stored cell as an nbformat cell dict (``copy=False`` shares plain values, for comparisons)."""
    if not isinstance(cell, Map):
        return to_node(cell) if copy else plain(cell)
    conv = to_node if copy else plain
    out = NotebookNode() if copy else {}
    for key, value in cell.items():
        if value is UNDEFINED or key == EXECUTION_STATE or (drop_id and key == "id"):
            continue
        if key == SOURCE:
            text = text_of(value)
            out[key] = text if text is not None else conv(value)
        elif key == METADATA and isinstance(value, Map):
            out[key] = (
                NotebookNode({k: conv(v) for k, v in value.items() if v is not UNDEFINED})
                if copy
                else {k: plain(v) for k, v in value.items() if v is not UNDEFINED}
            )
        elif key == OUTPUTS and isinstance(value, Array):
            out[key] = [output_to_py(o, copy) for o in value]
        elif key == "execution_count":
            out[key] = _int(value)
        else:
            out[key] = conv(value)
    return out


def meta_to_py(doc: Doc, copy: bool = True) -> dict:
    """The notebook without its cells: nbformat, nbformat_minor, metadata and any extra top-level key."""
    conv = to_node if copy else plain
    meta = doc.get_map(META)
    out = NotebookNode() if copy else {}
    for key, value in meta.items():
        if value is UNDEFINED:
            continue
        if key == METADATA and isinstance(value, Map):
            out[key] = (
                NotebookNode({k: conv(v) for k, v in value.items() if v is not UNDEFINED})
                if copy
                else {k: plain(v) for k, v in value.items() if v is not UNDEFINED}
            )
        elif key in INT_FIELDS:
            out[key] = _int(value)
        else:
            out[key] = conv(value)
    out.setdefault("nbformat", 4)
    out.setdefault("nbformat_minor", 5)
    out.setdefault(METADATA, NotebookNode() if copy else {})
    return out


def ids_in_file(nb: Mapping) -> bool:
    return (nb.get("nbformat"), nb.get("nbformat_minor")) >= (4, 5)


def export(doc: Doc, *, keep_ids: bool = False) -> NotebookNode:
    """The document as an nbformat notebook (a fresh copy, safe to change).

    Cell ids are left out for nbformat 4.0-4.4 (as the browser model does) unless ``keep_ids``. A document
    merged from concurrent edits may hold one cell twice (two people moved it at once): an exact copy is
    dropped and a differing one gets a derived id, with a ``DuplicateCellId`` warning.
    """
    nb = meta_to_py(doc)
    drop_id = not keep_ids and not ids_in_file(nb)
    cells = [cell_to_py(c, drop_id=drop_id) for c in doc.get_array(CELLS)]
    if not drop_id:
        cells = _dedupe(cells)
    nb[CELLS] = cells
    return nb


def _dedupe(cells: list) -> list:
    import warnings

    from nbformat.warnings import DuplicateCellId

    from ._normalize import derive_id
    from ._values import same

    first: dict[Any, int] = {}
    out = []
    taken = None
    for cell in cells:
        cid = cell.get("id") if isinstance(cell, Mapping) else None
        if cid is None:
            out.append(cell)
            continue
        k = first.get(cid)
        if k is None:
            first[cid] = len(out)
            out.append(cell)
            continue
        if same(out[k], cell):
            warnings.warn(f"Dropped a second copy of cell {cid!r}.", DuplicateCellId, stacklevel=3)
            continue
        if taken is None:
            taken = {c.get("id") for c in cells if isinstance(c, Mapping)}
        new_id = derive_id(len(out), cell, taken, salt=str(cid))
        taken.add(new_id)
        warnings.warn(
            f"Non-unique cell id {cid!r} detected. Corrected to {new_id!r}.", DuplicateCellId, stacklevel=3
        )
        cell["id"] = new_id
        first[new_id] = len(out)
        out.append(cell)
    return out
