"""Notebook helpers for the server tests: making notebooks, and editing one as JupyterLab does."""

from __future__ import annotations

import json
import random
import uuid
from pathlib import Path
from typing import Any

import crdt


def make_notebook(n_cells: int = 8, source_size: int = 0) -> dict:
    cells = []
    for i in range(n_cells):
        filler = "x" * source_size
        if i % 3 == 2:
            cells.append({"id": f"md-{i}", "cell_type": "markdown", "metadata": {},
                          "source": f"# Heading {i}\n{filler}"})
        else:
            cells.append({"id": f"code-{i}", "cell_type": "code", "metadata": {"tags": []},
                          "execution_count": i, "outputs": [
                              {"output_type": "stream", "name": "stdout", "text": f"out {i}\n"}],
                          "source": f"value_{i} = {i}\nprint(value_{i})\n{filler}"})
    return {"nbformat": 4, "nbformat_minor": 5, "metadata": {"kernelspec": {
        "name": "python3", "display_name": "Python 3", "language": "python"}}, "cells": cells}


def write_notebook(path: Path, nb: dict) -> None:
    path.write_text(json.dumps(nb, indent=1) + "\n")


def read_notebook(path: Path) -> dict:
    import nbformat

    return json.loads(json.dumps(nbformat.read(str(path), as_version=4)))


def export(doc: crdt.Doc) -> dict:
    from jupyter_crdt.notebook import doc_to_notebook

    return json.loads(json.dumps(doc_to_notebook(doc)))


def same_content(a: dict, b: dict) -> bool:
    return json.dumps(a, sort_keys=True) == json.dumps(b, sort_keys=True)


def sources(doc: crdt.Doc) -> list[str]:
    return [str(c["source"]) for c in doc.get_array("cells")]


def new_cell(text: str) -> crdt.Map:
    from jupyter_crdt.notebook.schema import cell_prelim

    return cell_prelim({"id": uuid.uuid4().hex[:12], "cell_type": "code", "metadata": {},
                        "execution_count": None, "outputs": [], "source": text})


def move_cell(doc: crdt.Doc, src: int, dst: int) -> None:
    """JupyterLab's move: delete the cell and insert a copy (Yjs arrays have no move)."""
    from jupyter_crdt.notebook.schema import cell_prelim, cell_to_py

    cells = doc.get_array("cells")
    with doc.transact():
        data = cell_to_py(cells[src])
        cells.delete(src, 1)
        cells.insert(dst, [cell_prelim(data)])


def random_edit(rnd: random.Random, doc: crdt.Doc, tag: str) -> str:
    """One random JupyterLab-like edit; returns what it did."""
    cells = doc.get_array("cells")
    n = len(cells)
    r = rnd.random()
    with doc.transact():
        if n == 0 or r < 0.08:
            cells.insert(rnd.randint(0, n), [new_cell(f"# new {tag}\n")])
            return "insert"
        if r < 0.13 and n > 3:
            cells.delete(rnd.randrange(n), 1)
            return "delete"
        if r < 0.18 and n > 1:
            src = rnd.randrange(n)
            move_cell(doc, src, rnd.randrange(n))
            return "move"
        cell = cells[rnd.randrange(n)]
        if r < 0.25:
            cell["metadata"][f"k{rnd.randint(0, 3)}"] = tag
            return "metadata"
        if r < 0.28:
            doc.get_map("meta")["metadata"][f"m{rnd.randint(0, 2)}"] = tag
            return "nb-metadata"
        text = cell["source"]
        size = len(text)
        if size > 10 and rnd.random() < 0.3:
            pos = rnd.randrange(size)
            text.delete(pos, min(rnd.randint(1, 4), size - pos))
            return "delete-text"
        text.insert(rnd.randint(0, size), f"<{tag}>")
        return "type"


def cell_index(doc: crdt.Doc, cell_id: str) -> int:
    for i, c in enumerate(doc.get_array("cells")):
        if c.get("id") == cell_id:
            return i
    raise KeyError(cell_id)


def cell_source(doc: crdt.Doc, cell_id: str) -> str:
    return str(doc.get_array("cells")[cell_index(doc, cell_id)]["source"])


def plain(value: Any) -> Any:
    return json.loads(json.dumps(value))
