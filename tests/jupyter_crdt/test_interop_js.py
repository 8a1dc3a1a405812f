"""The document schema against the browser's own model, ``@jupyter/ydoc``'s YNotebook (pinned in node/).

For every notebook of the corpus, in one Node run:

- forward: YNotebook built from our document's update; its ``toJSON()`` is our export (as YNotebook shows
  a notebook: see ``ynotebook_view``);
- reverse: ``YNotebook.create({data})`` builds the notebook in JavaScript, as JupyterLab loads a file; its
  update, applied in Python, exports the notebook (as YNotebook stores it: see ``as_ynotebook_stores_it``),
  and equals YNotebook's own ``toJSON()``;
- shape: both documents hold the same keys with the same shared types (Text / Map / Array / plain).

YNotebook cannot hold cells of an unknown type (it throws "Found unknown cell type"), so the one such cell
in the corpus (``nbformat/test4plus.ipynb``, a "future cell" of nbformat 4.99) is left out of the
comparison; the throw itself is checked.
"""

from __future__ import annotations

import copy
import warnings

import pytest

import crdt
from jupyter_crdt.notebook import doc_to_notebook, notebook_to_doc, read_notebook

from .conftest import rel
from .test_roundtrip import REJECTED

KNOWN_TYPES = ("code", "markdown", "raw")


def numbers(v):
    """JSON through JavaScript: 1.0 comes back as 1."""
    if isinstance(v, dict):
        return {k: numbers(x) for k, x in v.items()}
    if isinstance(v, list):
        return [numbers(x) for x in v]
    if isinstance(v, float) and v.is_integer():
        return int(v)
    return v


def ynotebook_view(nb: dict) -> dict:
    """What YNotebook.toJSON() shows of a notebook: the known fields only, `execution_count || null`."""
    cells = []
    for c in nb["cells"]:
        keys = ["id", "cell_type", "source", "metadata"]
        keys += ["outputs", "execution_count"] if c["cell_type"] == "code" else ["attachments"]
        cell = {k: c[k] for k in keys if k in c}
        if c["cell_type"] == "code":
            cell["execution_count"] = c.get("execution_count") or None
        cells.append(cell)
    return numbers(
        {
            "metadata": nb["metadata"],
            "nbformat": nb["nbformat"],
            "nbformat_minor": nb["nbformat_minor"],
            "cells": cells,
        }
    )


def as_ynotebook_stores_it(nb: dict) -> dict:
    """A notebook as YNotebook.create stores it: known fields only, ``orig_nbformat`` dropped, and
    ``collapsed`` mirrored into ``jupyter.outputs_hidden`` (and back), as its setMetadata does."""
    out = ynotebook_view(nb)
    out["metadata"].pop("orig_nbformat", None)
    for cell, orig in zip(out["cells"], nb["cells"], strict=True):
        cell["execution_count"] = orig.get("execution_count") if orig["cell_type"] == "code" else None
        if orig["cell_type"] != "code":
            del cell["execution_count"]
        md = cell["metadata"]
        if md.get("collapsed") is not None:
            md["jupyter"] = {**md.get("jupyter", {}), "outputs_hidden": md["collapsed"]}
        elif md.get("jupyter", {}).get("outputs_hidden") is not None:
            md["collapsed"] = md["jupyter"]["outputs_hidden"]
    return numbers(out)


CELL_KEYS = {"id", "cell_type", "source", "metadata", "outputs", "execution_count", "attachments"}


def shape(doc: crdt.Doc) -> dict:
    """The shared types of the document: which key holds a Text, a Map, an Array or a plain value.

    Keys YNotebook does not know (fields of a future nbformat minor, which we keep) are left out.
    """

    def of(v):
        if isinstance(v, crdt.Text):
            return "Text"
        if isinstance(v, crdt.Map):
            return {k: of(x) for k, x in v.items()}
        if isinstance(v, crdt.Array):
            return [of(x) for x in v]
        return "plain"

    meta = {k: v for k, v in of(doc.get_map("meta")).items() if k in ("nbformat", "nbformat_minor")}
    meta["metadata"] = "Map" if isinstance(doc.get_map("meta").get("metadata"), crdt.Map) else "?"
    cells = []
    for c in doc.get_array("cells"):
        # execution_state is written by the reference server's loader, not by YNotebook.create.
        d = {k: v for k, v in of(c).items() if k in CELL_KEYS}
        d["metadata"] = "Map" if isinstance(c.get("metadata"), crdt.Map) else "?"
        cells.append(d)
    return {"meta": meta, "cells": cells}


@pytest.fixture(scope="module")
def corpus_notebooks(notebook_files):
    out = {}
    for path in notebook_files:
        if rel(path) in REJECTED:
            continue
        with warnings.catch_warnings():
            warnings.simplefilter("ignore")
            nb = read_notebook(path)
        nb.cells = [c for c in nb.cells if c.cell_type in KNOWN_TYPES]
        out[rel(path)] = nb
    return out


@pytest.fixture(scope="module")
def oracle_run(corpus_notebooks, ynotebook_oracle, data_dir):
    forward = {name: notebook_to_doc(nb).encode_state_as_update() for name, nb in corpus_notebooks.items()}
    future = read_notebook(data_dir / "notebooks" / "nbformat" / "test4plus.ipynb")
    forward["unknown cell type"] = notebook_to_doc(future).encode_state_as_update()
    return ynotebook_oracle.run(forward=forward, reverse=corpus_notebooks)


def test_forward_ynotebook_reads_our_documents(corpus_notebooks, oracle_run):
    assert len(corpus_notebooks) > 70
    for name, nb in corpus_notebooks.items():
        answer = oracle_run["forward"][name]
        assert answer["ok"], (name, answer.get("error"))
        ours = doc_to_notebook(notebook_to_doc(nb))
        assert answer["notebook"] == ynotebook_view(ours), name


def test_forward_unknown_cell_type_is_refused_by_ynotebook(oracle_run):
    answer = oracle_run["forward"]["unknown cell type"]
    assert not answer["ok"] and "unknown cell type" in answer["error"]


def test_reverse_we_read_ynotebook_documents(corpus_notebooks, oracle_run):
    for name, nb in corpus_notebooks.items():
        answer = oracle_run["reverse"][name]
        assert answer["ok"], (name, answer.get("error"))
        doc = crdt.Doc()
        doc.apply_update(answer["update"])
        ours = doc_to_notebook(doc)
        assert numbers(ours) == as_ynotebook_stores_it(copy.deepcopy(nb)), name
        assert ynotebook_view(ours) == answer["notebook"], name


def test_same_shape_as_ynotebook(corpus_notebooks, oracle_run):
    for name, nb in corpus_notebooks.items():
        theirs = crdt.Doc()
        theirs.apply_update(oracle_run["reverse"][name]["update"])
        assert shape(notebook_to_doc(nb)) == shape(theirs), name
