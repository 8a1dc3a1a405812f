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

import warnings
from collections.abc import Mapping
from typing import Any

from nbformat.notebooknode import NotebookNode

from crdt import UNDEFINED, Array, DecodeError, Doc, Map, SharedType, Text
from crdt.inspect import nests
from crdt.limits import LIMITS, check_depth, too_deep_message

_MISSING = object()

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
    return not doc.state_vector() and not doc.pending


# -- document -> notebook -----------------------------------------------------------------------------


_new_node = NotebookNode.__new__
_SCALARS = frozenset((str, int, float, bool, type(None)))
_fill = dict.update


def to_node(v: Any, left: int = -1) -> Any:
    """A deep copy of plain data, dicts as ``NotebookNode`` (what nbformat's writer expects).

    Raises :class:`crdt.DecodeError` for data nested more than ``crdt.limits.LIMITS.max_depth`` levels
    (only a hostile peer nests shared types that deep), so the recursion here stays shallow. ``left``:
    levels still allowed (the limit when not given).
    """
    t = type(v)
    if t is str or t is int or t is float or t is bool or v is None:
        return v
    if left < 0:
        left = LIMITS.max_depth
    if t is dict or isinstance(v, dict):
        if left == 0:
            raise DecodeError(too_deep_message())
        left -= 1
        # NotebookNode's own __init__ only fills the dict; skipping it makes big trees 3x faster to copy.
        node = _new_node(NotebookNode)
        _fill(node, {k: x if type(x) in _SCALARS else to_node(x, left) for k, x in v.items()})
        return node
    if t is list or t is tuple:
        if left == 0:
            raise DecodeError(too_deep_message())
        left -= 1
        # Scalars are copied inline: most of a big output is numbers and strings, and a call each costs.
        return [x if type(x) in _SCALARS else to_node(x, left) for x in v]
    if isinstance(v, SharedType):
        # Maps and arrays level by level (the depth check stops a hostile nesting), the rest as to_py has it.
        kind = nests(v)
        if kind is None:
            return v.to_py()
        if left == 0:
            raise DecodeError(too_deep_message())
        left -= 1
        if kind == "map":
            node = _new_node(NotebookNode)
            _fill(node, {k: to_node(x, left) for k, x in v.items()})
            return node
        return [to_node(x, left) for x in v]
    return v


def plain(v: Any) -> Any:
    """A stored value as plain data, without copying what is already plain.

    Raises :class:`crdt.DecodeError` when a shared type holds data nested deeper than the limit.
    """
    if isinstance(v, SharedType):
        v = v.to_py()
        check_depth(v)
    return v


class _Problems:
    """Where an export found parts it cannot write (see ``docs/security.md``, *Bounds*)."""

    __slots__ = ("out",)

    def __init__(self, out: list[str] | None) -> None:
        self.out = out

    def add(self, where: str, why: str) -> None:
        msg = f"{where}: {why}; left out of the file (kept in the history)"
        if self.out is not None:
            self.out.append(msg)  # the caller reports it (a save logs it and answers with it)
        else:
            warnings.warn(msg, UnexportableWarning, stacklevel=4)


class UnexportableWarning(UserWarning):
    """A part of a document was left out of its export (see :func:`export`)."""


def _convert(conv: Any, value: Any, problems: _Problems, where: str, key: str | None = None) -> Any:
    # ``where``/``key`` are only joined into a name on failure: exports are hot, failures rare.
    try:
        return conv(value)
    except DecodeError as e:
        problems.add(where if key is None else f"{where}.{key}", str(e))
    except RecursionError:  # pragma: no cover - the depth limit is set above Python's stack
        problems.add(where if key is None else f"{where}.{key}", "value nested too deeply")
    return _MISSING


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


def output_to_py(output: Any, copy: bool = True, *, where: str = "output", problems: Any = None) -> Any:
    """One stored output as an nbformat output dict; a value nested too deeply is left out (reported)."""
    conv = to_node if copy else plain
    problems = problems if isinstance(problems, _Problems) else _Problems(problems)
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
                v = _convert(conv, value, problems, where, key)
                if v is not _MISSING:
                    out[key] = v
        return out
    v = _convert(conv, output, problems, where)
    return NotebookNode() if v is _MISSING else v


def _metadata(value: Map, copy: bool, where: str, problems: _Problems) -> dict:
    conv = to_node if copy else plain
    out = NotebookNode() if copy else {}
    for k, v in value.items():
        if v is UNDEFINED:
            continue
        v = _convert(conv, v, problems, where, k)
        if v is not _MISSING:
            out[k] = v
    return out


def cell_to_py(
    cell: Any, *, drop_id: bool = False, copy: bool = True, where: str = "cell", problems: Any = None
) -> Any:
    """One stored cell as an nbformat cell dict (``copy=False`` shares plain values, for comparisons).

    A value nested deeper than the limit is left out and reported in ``problems`` (a list of messages,
    else a warning); a stored cell that is not a map or dict gives ``None`` (see :func:`export`).
    """
    problems = problems if isinstance(problems, _Problems) else _Problems(problems)
    if not isinstance(cell, Map):
        if not isinstance(cell, (dict, Mapping)):
            problems.add(where, f"not a cell (a stored {type(cell).__name__})")
            return None
        v = _convert(to_node if copy else plain, cell, problems, where)
        return None if v is _MISSING else v
    conv = to_node if copy else plain
    out = NotebookNode() if copy else {}
    for key, value in cell.items():
        if value is UNDEFINED or key == EXECUTION_STATE or (drop_id and key == "id"):
            continue
        if key == SOURCE:
            text = text_of(value)
            if text is not None:
                out[key] = text
                continue
        elif key == METADATA and isinstance(value, Map):
            out[key] = _metadata(value, copy, f"{where}.metadata", problems)
            continue
        elif key == OUTPUTS and isinstance(value, Array):
            out[key] = [
                output_to_py(o, copy, where=f"{where}.outputs[{i}]", problems=problems)
                for i, o in enumerate(value)
            ]
            continue
        elif key == "execution_count":
            out[key] = _int(value)
            continue
        v = _convert(conv, value, problems, where, key)
        if v is not _MISSING:
            out[key] = v
    return out


def meta_to_py(doc: Doc, copy: bool = True, *, problems: Any = None) -> dict:
    """The notebook without its cells: nbformat, nbformat_minor, metadata and any extra top-level key."""
    problems = problems if isinstance(problems, _Problems) else _Problems(problems)
    conv = to_node if copy else plain
    meta = doc.get_map(META)
    out = NotebookNode() if copy else {}
    for key, value in meta.items():
        if value is UNDEFINED:
            continue
        if key == METADATA and isinstance(value, Map):
            out[key] = _metadata(value, copy, "metadata", problems)
        elif key in INT_FIELDS:
            out[key] = _int(value)
        else:
            v = _convert(conv, value, problems, key)
            if v is not _MISSING:
                out[key] = v
    out.setdefault("nbformat", 4)
    out.setdefault("nbformat_minor", 5)
    out.setdefault(METADATA, NotebookNode() if copy else {})
    return out


def ids_in_file(nb: Mapping) -> bool:
    return (nb.get("nbformat"), nb.get("nbformat_minor")) >= (4, 5)


def export(doc: Doc, *, keep_ids: bool = False, problems: list[str] | None = None) -> NotebookNode:
    """The document as an nbformat notebook (a fresh copy, safe to change).

    Cell ids are left out for nbformat 4.0-4.4 (as the browser model does) unless ``keep_ids``. A document
    merged from concurrent edits may hold one cell twice (two people moved it at once): an exact copy is
    dropped and a differing one gets a derived id, with a ``DuplicateCellId`` warning.

    Never fails on a hostile structure (``docs/security.md``, *Bounds*): an entry of ``cells`` that is not
    a cell, and a value nested deeper than ``crdt.limits.LIMITS.max_depth``, are left out of the export;
    each is logged and described in ``problems`` (when given) by where it is (``cells[2].metadata.tags``).
    """
    report = _Problems(problems)
    nb = meta_to_py(doc, problems=report)
    drop_id = not keep_ids and not ids_in_file(nb)
    cells = []
    for i, c in enumerate(doc.get_array(CELLS)):
        cell = cell_to_py(c, drop_id=drop_id, where=f"cells[{i}]", problems=report)
        if cell is not None:
            cells.append(cell)
    if not drop_id:
        cells = _dedupe(cells)
    nb[CELLS] = cells
    return nb


def _dedupe(cells: list) -> list:
    from nbformat.warnings import DuplicateCellId

    from jupyter_crdt.notebook.normalize import derive_id
    from jupyter_crdt.notebook.values import same

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
