"""Notebooks as CRDT documents, in JupyterLab's shared-notebook schema (``@jupyter/ydoc`` YNotebook).

Plain nbformat dicts in and out, like nbformat's own API::

    from jupyter_crdt.notebook import read_notebook, notebook_to_doc, doc_to_notebook
    doc = notebook_to_doc(read_notebook("analysis.ipynb"))   # same file -> same update bytes
    nb = doc_to_notebook(doc)                                 # nbformat.writes(nb) == the file
    apply_notebook(doc, nbformat.read("changed.ipynb", 4))    # the smallest change
    merged, report = merge_notebooks(base, local, remote)     # three-way merge of plain files

The document layout is described in ``jupyter_crdt/notebook/schema.py``; ``docs/merge.md`` explains the merge.
"""

from __future__ import annotations

from nbformat.notebooknode import NotebookNode

from crdt import Doc
from jupyter_crdt.notebook import schema as _schema
from jupyter_crdt.notebook.apply import apply_notebook
from jupyter_crdt.notebook.ipynb import read_notebook, reads_notebook
from jupyter_crdt.notebook.load import notebook_to_doc
from jupyter_crdt.notebook.merge import MergeConflict, MergeReport, merge_notebooks
from jupyter_crdt.notebook.normalize import NotebookFormatError


def doc_to_notebook(doc: Doc, *, problems: list[str] | None = None) -> NotebookNode:
    """The document as an nbformat 4 notebook: a fresh ``NotebookNode``, safe to change.

    Written with nbformat's writer it is byte-identical to the file the document was loaded from (for every
    file nbformat itself writes back unchanged). Cell ids are left out for nbformat 4.0-4.4. Parts a file
    cannot hold (an entry of ``cells`` that is not a cell, a value nested deeper than the limit) are left
    out and described in ``problems`` (else warned about); see ``docs/security.md``, *Bounds*.
    """
    return _schema.export(doc, problems=problems)


__all__ = [
    "notebook_to_doc",
    "doc_to_notebook",
    "apply_notebook",
    "merge_notebooks",
    "read_notebook",
    "reads_notebook",
    "NotebookFormatError",
    "MergeReport",
    "MergeConflict",
]
