"""Bring a notebook dict to the shape the document stores: nbformat 4, one unique id per cell.

Older formats (v2, v3) are upgraded through nbformat's own converter; the cell ids that converter
invents at random are replaced by ids derived from each cell's content and position, so loading the
same file twice gives the same document. Missing and duplicate ids are repaired the same
deterministic way, with nbformat's own warnings (``MissingIDFieldWarning``, ``DuplicateCellId``).
Nothing here copies more than it changes: untouched cells are shared with the input.
"""

from __future__ import annotations

import copy
import hashlib
import warnings
from collections.abc import Mapping
from typing import Any

import nbformat
from nbformat.warnings import DuplicateCellId, MissingIDFieldWarning


class NotebookFormatError(ValueError):
    """A notebook that cannot be read or stored: ``str(err)`` names the notebook and the problem."""

    def __init__(self, problem: str, name: str | None = None) -> None:
        self.problem = problem
        self.name = name
        super().__init__(f"{name}: {problem}" if name else problem)


def ids_expected(nb: Mapping) -> bool:
    """Whether the format stores cell ids (nbformat 4.5 and later)."""
    return (nb.get("nbformat"), nb.get("nbformat_minor", 0)) >= (4, 5)


def derive_id(index: int, cell: Mapping, taken: set, salt: str = "") -> str:
    """A cell id made from the cell's content and position: 8 hex digits, unique within ``taken``."""
    source = cell.get("source", "")
    if isinstance(source, list):
        source = "".join(map(str, source))
    seed = f"{index}\x00{cell.get('cell_type')}\x00{salt}\x00{source}".encode("utf-8", "surrogatepass")
    counter = 0
    while True:
        h = hashlib.blake2b(seed + counter.to_bytes(4, "little"), digest_size=4).hexdigest()
        if h not in taken:
            return h
        counter += 1


def upgrade(nb: Any, name: str | None = None) -> tuple[Mapping, bool]:
    """``nb`` as nbformat 4 (converted through nbformat when older). Returns (notebook, converted).

    A converted notebook's cells carry no ids (the converter's random ones are dropped).
    """
    if not isinstance(nb, Mapping):
        raise NotebookFormatError(f"a notebook is a JSON object, not {_kind(nb)}", name)
    major = nb.get("nbformat")
    if isinstance(major, float) and major.is_integer():
        major = int(major)
    if not isinstance(major, int) or isinstance(major, bool):
        raise NotebookFormatError("missing or invalid 'nbformat' version number", name)
    if major > 4:
        raise NotebookFormatError(f"nbformat {major} is not supported (nbformat 4 and older are)", name)
    if major == 4:
        _check_structure(nb, name)
        return nb, False
    try:
        converted = nbformat.convert(nbformat.from_dict(copy.deepcopy(dict(nb))), 4)
    except Exception as e:  # nbformat's converters raise many kinds of errors on malformed input
        raise NotebookFormatError(f"cannot upgrade from nbformat {major}: {_describe(e)}", name) from None
    for cell in converted.get("cells", []):
        if isinstance(cell, dict):
            cell.pop("id", None)
    _check_structure(converted, name)
    return converted, True


def repair_ids(
    nb: Mapping, *, derive_missing: bool = True, upgraded: bool = False, name: str | None = None
) -> Mapping:
    """Give every cell a unique id (derived, not random). Returns ``nb`` itself when nothing changed.

    Missing ids are derived only with ``derive_missing`` (they warn in nbformat >= 4.5, as nbformat does,
    unless the notebook was just ``upgraded`` from a format without ids); duplicate ids always get a
    derived one, with a ``DuplicateCellId`` warning.
    """
    cells = nb["cells"]
    loud = ids_expected(nb) and not upgraded
    taken = {c.get("id") for c in cells}
    seen: set = set()
    new_cells = None
    where = f" in {name}" if name else ""
    for i, cell in enumerate(cells):
        cid = cell.get("id")
        if cid is None:
            if not derive_missing:
                continue
            new_id = derive_id(i, cell, taken)
            if loud:
                warnings.warn(
                    f"Cell {i}{where} is missing an id field; gave it the id {new_id!r} "
                    "(derived from its content and position).",
                    MissingIDFieldWarning,
                    stacklevel=4,
                )
        elif cid in seen:
            new_id = derive_id(i, cell, taken, salt=str(cid))
            if loud:
                warnings.warn(
                    f"Non-unique cell id {cid!r} detected{where}. Corrected to {new_id!r}.",
                    DuplicateCellId,
                    stacklevel=4,
                )
        else:
            seen.add(cid)
            continue
        if new_cells is None:
            new_cells = list(cells)
        new_cells[i] = {**cell, "id": new_id}
        taken.add(new_id)
        seen.add(new_id)
    if new_cells is None:
        return nb
    out = dict(nb)
    out["cells"] = new_cells
    return out


def prepare(nb: Any, *, derive_missing: bool | None = True, name: str | None = None) -> tuple[Mapping, bool]:
    """Upgrade and repair ids. Returns (notebook, converted).

    ``derive_missing``: True gives every cell an id (what the document stores), False leaves missing ids
    missing, None does what the format asks (ids from nbformat 4.5 on).
    """
    nb, converted = upgrade(nb, name)
    if derive_missing is None:
        derive_missing = ids_expected(nb)
    nb = repair_ids(nb, derive_missing=derive_missing or converted, upgraded=converted, name=name)
    return nb, converted


def _check_structure(nb: Mapping, name: str | None) -> None:
    """What the document needs to store a notebook at all (full validation is nbformat's job)."""
    minor = nb.get("nbformat_minor")
    if not isinstance(minor, int) or isinstance(minor, bool):
        raise NotebookFormatError("missing or invalid 'nbformat_minor'", name)
    cells = nb.get("cells")
    if not isinstance(cells, list):
        raise NotebookFormatError("missing 'cells' list", name)
    metadata = nb.get("metadata", {})
    if not isinstance(metadata, Mapping):
        raise NotebookFormatError("'metadata' is not an object", name)
    for i, cell in enumerate(cells):
        if not isinstance(cell, Mapping):
            raise NotebookFormatError(f"cells[{i}] is {_kind(cell)}, not an object", name)
        if not isinstance(cell.get("cell_type"), str):
            raise NotebookFormatError(f"cells[{i}] has no 'cell_type'", name)
        source = cell.get("source", "")
        if not isinstance(source, str) and not (
            isinstance(source, list) and all(isinstance(s, str) for s in source)
        ):
            raise NotebookFormatError(f"cells[{i}].source is neither a string nor a list of strings", name)
        cid = cell.get("id")
        if cid is not None and not isinstance(cid, str):
            raise NotebookFormatError(f"cells[{i}].id is not a string", name)
        md = cell.get("metadata", {})
        if not isinstance(md, Mapping):
            raise NotebookFormatError(f"cells[{i}].metadata is not an object", name)
        outputs = cell.get("outputs", [])
        if not isinstance(outputs, list) or not all(isinstance(o, Mapping) for o in outputs):
            raise NotebookFormatError(f"cells[{i}].outputs is not a list of objects", name)


def _kind(v: Any) -> str:
    return {list: "a list", str: "a string", type(None): "null"}.get(type(v), f"a {type(v).__name__}")


def _describe(e: Exception) -> str:
    msg = getattr(e, "message", None) or str(e) or type(e).__name__
    return msg.strip().splitlines()[0]
