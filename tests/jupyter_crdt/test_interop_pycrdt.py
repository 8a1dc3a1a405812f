"""Second oracle: jupyter_ydoc's YNotebook on pycrdt (the reference server's notebook model, in Rust).

Skipped unless ``jupyter-ydoc`` is installed (the ``bench`` extra). jupyter_ydoc's own normalisations are
applied to the expected side: it drops empty ``attachments``, turns every integral float into an int, and
on ``set`` adds empty ``language_info`` / ``kernelspec`` metadata when missing and cannot take a cell
without a ``source`` (the "future cell" of ``nbformat/test4plus.ipynb``, left out of that direction).
"""

from __future__ import annotations

import copy
import warnings

import pytest

import crdt
from jupyter_crdt.notebook import doc_to_notebook, notebook_to_doc, read_notebook

from .conftest import rel
from .test_roundtrip import REJECTED

jupyter_ydoc = pytest.importorskip("jupyter_ydoc")
pycrdt = pytest.importorskip("pycrdt")


def as_jupyter_ydoc_gets_it(nb: dict) -> dict:
    def ints(v):
        if isinstance(v, dict):
            return {k: ints(x) for k, x in v.items()}
        if isinstance(v, list):
            return [ints(x) for x in v]
        return int(v) if isinstance(v, float) and v.is_integer() else v

    nb = ints(copy.deepcopy(dict(nb)))
    for cell in nb["cells"]:
        if cell.get("cell_type") in ("markdown", "raw") and "attachments" in cell and not cell["attachments"]:
            del cell["attachments"]
    return {k: nb[k] for k in ("cells", "metadata", "nbformat", "nbformat_minor")}


def test_pycrdt_reads_our_documents_and_we_read_theirs(notebook_files):
    for path in notebook_files:
        if rel(path) in REJECTED:
            continue
        with warnings.catch_warnings():
            warnings.simplefilter("ignore")
            nb = read_notebook(path)
        ours = doc_to_notebook(notebook_to_doc(nb))

        theirs = pycrdt.Doc()
        theirs.apply_update(notebook_to_doc(nb).encode_state_as_update())
        got = jupyter_ydoc.YNotebook(theirs).get()
        assert got == as_jupyter_ydoc_gets_it(ours), rel(path)

        nb = copy.deepcopy(dict(nb))
        nb["cells"] = [c for c in nb["cells"] if "source" in c]  # jupyter_ydoc's set needs a source
        ynb = jupyter_ydoc.YNotebook()
        ynb.set(nb)
        doc = crdt.Doc()
        doc.apply_update(ynb.ydoc.get_update())
        expected = as_jupyter_ydoc_gets_it(nb)
        expected["metadata"].setdefault("language_info", {"name": ""})
        expected["metadata"].setdefault("kernelspec", {"name": "", "display_name": ""})
        if not expected["cells"]:  # jupyter_ydoc gives an empty notebook one empty code cell
            expected["cells"] = as_jupyter_ydoc_gets_it(doc_to_notebook(doc))["cells"]
        assert as_jupyter_ydoc_gets_it(doc_to_notebook(doc)) == expected, rel(path)
