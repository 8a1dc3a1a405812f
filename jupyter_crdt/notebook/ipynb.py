"""Reading ``.ipynb`` files: parse, upgrade, repair ids deterministically, validate; clear errors.

nbformat's own ``read`` repairs missing and duplicate cell ids with random ones, which would make two loads
of one file differ; here they are derived from the content instead (same warnings). Whatever nbformat
rejects is rejected with a ``NotebookFormatError`` that names the file and the problem.
"""

from __future__ import annotations

import json
import os
from typing import IO, Any

import nbformat
from nbformat import versions as _readers
from nbformat.notebooknode import NotebookNode

from jupyter_crdt.notebook.normalize import NotebookFormatError, prepare


def read_notebook(file: str | os.PathLike | IO, *, validate: bool = True) -> NotebookNode:
    """Read a notebook file (a path or an open file) as an nbformat 4 ``NotebookNode``."""
    if hasattr(file, "read"):
        name = getattr(file, "name", None) or "<file>"
        data = file.read()
    else:
        name = os.fspath(file)
        try:
            with open(name, "rb") as f:
                data = f.read()
        except OSError as e:
            raise NotebookFormatError(f"cannot read the file: {e.strerror or e}", str(name)) from None
    return reads_notebook(data, name=str(name), validate=validate)


def reads_notebook(data: str | bytes, *, name: str = "<string>", validate: bool = True) -> NotebookNode:
    """Parse the text of a notebook (see :func:`read_notebook`)."""
    if isinstance(data, (bytes, bytearray)):
        try:
            data = bytes(data).decode("utf-8")
        except UnicodeDecodeError as e:
            raise NotebookFormatError(f"not UTF-8 text (byte {e.start})", name) from None
    try:
        raw = json.loads(data)
    except json.JSONDecodeError as e:
        raise NotebookFormatError(
            f"not valid JSON: {e.msg} at line {e.lineno} column {e.colno}", name
        ) from None
    except RecursionError:
        raise NotebookFormatError("not valid JSON: nested too deeply", name) from None
    prepared, _ = prepare(_to_node(raw, name), derive_missing=None, name=name)
    nb = prepared if isinstance(prepared, NotebookNode) else nbformat.from_dict(prepared)
    if validate:
        check_valid(nb, name)
    return nb


def check_valid(nb: Any, name: str | None = None) -> None:
    """Raise ``NotebookFormatError`` unless nbformat's schema accepts ``nb`` (ids must already be unique)."""
    try:
        nbformat.validate(nb)
    except nbformat.ValidationError as e:
        raise NotebookFormatError(f"not a valid notebook: {_validation_problem(e)}", name) from None


def _to_node(raw: Any, name: str) -> NotebookNode:
    """The version-specific reader's view (lines joined, transient fields dropped), not yet converted."""
    if not isinstance(raw, dict):
        raise NotebookFormatError("a notebook is a JSON object", name)
    major = raw.get("nbformat")
    reader = _readers.get(major) if isinstance(major, int) and not isinstance(major, bool) else None
    if reader is None:
        if isinstance(major, int) and major > 4:
            raise NotebookFormatError(f"nbformat {major} is not supported (nbformat 4 and older are)", name)
        raise NotebookFormatError(f"unknown notebook format version {major!r}", name)
    try:
        return reader.to_notebook_json(raw, minor=raw.get("nbformat_minor"))
    except (KeyError, AttributeError) as e:  # the version readers assume well-formed input
        raise NotebookFormatError(
            f"not a valid nbformat {major} notebook: missing key {e.args[0]!r}", name
        ) from None
    except Exception as e:
        raise NotebookFormatError(f"not a valid nbformat {major} notebook: {e}", name) from None


def _validation_problem(e: Exception) -> str:
    message = getattr(e, "message", None) or str(e)
    message = message.strip().splitlines()[0]
    path = list(getattr(e, "absolute_path", None) or getattr(e, "path", None) or [])
    if path:
        where = "".join(f"[{p}]" if isinstance(p, int) else f".{p}" for p in path).lstrip(".")
        return f"{message} (at {where})"
    return message
