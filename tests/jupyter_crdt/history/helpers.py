"""Helpers for the notebook-history tests: corpus copies, the CLI as a subprocess, edits like JupyterLab's."""

from __future__ import annotations

import os
import shutil
import subprocess
import sys
from pathlib import Path

from crdt import Array, Map, Text
from jupyter_crdt.history import NotebookHistory
from jupyter_crdt.notebook import schema as _schema

REPO = Path(__file__).resolve().parents[3]


def copy_notebook(data_dir: Path, rel: str, dest: Path, name: str = "nb.ipynb") -> Path:
    """A writable copy of a corpus notebook at ``dest/name``."""
    dest.mkdir(parents=True, exist_ok=True)
    out = dest / name
    shutil.copyfile(data_dir / "notebooks" / rel, out)
    os.chmod(out, 0o644)
    return out


def cli(*args: str, cwd: Path | None = None, env: dict | None = None) -> subprocess.CompletedProcess:
    """``python -m jupyter_crdt.cli ARGS`` in a subprocess (text output captured)."""
    e = dict(os.environ)
    e["PYTHONPATH"] = str(REPO) + os.pathsep + e.get("PYTHONPATH", "")
    e.pop("NO_COLOR", None)
    if env:
        e.update(env)
    return subprocess.run([sys.executable, "-m", "jupyter_crdt.cli", *map(str, args)], cwd=cwd, env=e,
                          capture_output=True, text=True, timeout=240)


# -- edits on a live document, the way JupyterLab makes them -------------------------------------------------


def cells(doc) -> Array:
    return doc.get_array(_schema.CELLS)


def cell_by_marker(doc, marker: str) -> tuple[int, Map]:
    """The cell whose source contains ``marker``."""
    for i, m in enumerate(cells(doc)):
        if marker in str(m.get("source")):
            return i, m
    raise AssertionError(f"no cell contains {marker!r}")


def replace_in_source(doc, marker: str, old: str, new: str) -> None:
    """Replace the first ``old`` by ``new`` in the source of the cell containing ``marker`` (minimal edit)."""
    _, m = cell_by_marker(doc, marker)
    text: Text = m.get("source")
    s = str(text)
    i = s.index(old)
    p = 0  # type only what differs, as a person would
    while p < min(len(old), len(new)) and old[p] == new[p]:
        p += 1
    q = 0
    while q < min(len(old), len(new)) - p and old[len(old) - 1 - q] == new[len(new) - 1 - q]:
        q += 1
    if len(old) - p - q:
        text.delete(i + p, len(old) - p - q)
    if len(new) - p - q:
        text.insert(i + p, new[p : len(new) - q])


def insert_cell(doc, index: int, cell_type: str, source: str, cell_id: str) -> None:
    cell = {"id": cell_id, "cell_type": cell_type, "metadata": {}, "source": source}
    if cell_type == "code":
        cell.update(outputs=[], execution_count=None)
    cells(doc).insert(index, [_schema.cell_prelim(cell)])


def delete_cell(doc, marker: str) -> None:
    i, _ = cell_by_marker(doc, marker)
    cells(doc).delete(i, 1)


def run_cell(doc, marker: str, text: str, count: int) -> None:
    """What a kernel execution does: new outputs and execution count."""
    _, m = cell_by_marker(doc, marker)
    outs = m.get("outputs")
    if len(outs):
        outs.delete(0, len(outs))
    outs.insert(0, [_schema.output_prelim({"output_type": "stream", "name": "stdout", "text": text})])
    m["execution_count"] = count


def open_history(path: Path, author: str) -> NotebookHistory:
    return NotebookHistory.open(path, author=author)
