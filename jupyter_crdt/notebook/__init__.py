"""Notebooks as CRDT documents, in JupyterLab's shared-notebook schema (``@jupyter/ydoc`` YNotebook).

Plain nbformat dicts in and out, like nbformat's own API::

    from jupyter_crdt.notebook import read_notebook, notebook_to_doc, doc_to_notebook
    doc = notebook_to_doc(read_notebook("analysis.ipynb"))   # same file -> same update bytes
    nb = doc_to_notebook(doc)                                 # nbformat.writes(nb) == the file
    apply_notebook(doc, nbformat.read("changed.ipynb", 4))    # the smallest change
    merged, report = merge_notebooks(base, local, remote)     # three-way merge of plain files
    print(render_diff(diff_notebooks(a, b)))                  # what changed, for people

The document layout is :mod:`jupyter_crdt.notebook.schema` (a public module: the root names, the
conversions between cells and shared types); ``docs/merge.md`` explains the merge. Imports only the engine
(``crdt``), nbformat, :mod:`jupyter_crdt.text` and the standard library.
"""

from __future__ import annotations

from nbformat.notebooknode import NotebookNode

from crdt import Doc
from jupyter_crdt.notebook import schema
from jupyter_crdt.notebook.apply import APPLY_ORIGIN, apply_notebook
from jupyter_crdt.notebook.diff import CellDiff, NotebookDiff, diff_notebooks, render_diff
from jupyter_crdt.notebook.ipynb import read_notebook, reads_notebook
from jupyter_crdt.notebook.load import notebook_to_doc
from jupyter_crdt.notebook.merge import MERGE_ORIGIN, merge_notebooks
from jupyter_crdt.notebook.merge_report import MergeConflict, MergeReport
from jupyter_crdt.notebook.normalize import NotebookFormatError
from jupyter_crdt.notebook.schema import UnexportableWarning
from jupyter_crdt.notebook.values import same


def doc_to_notebook(doc: Doc, *, keep_ids: bool = False, problems: list[str] | None = None) -> NotebookNode:
    """The document as an nbformat 4 notebook: a fresh ``NotebookNode``, safe to change.

    Written with nbformat's writer it is byte-identical to the file the document was loaded from (for every
    file nbformat itself writes back unchanged). Cell ids are left out for nbformat 4.0-4.4 unless
    ``keep_ids`` (the form merges and diffs work on). Parts a file cannot hold (an entry of ``cells`` that
    is not a cell, a value nested deeper than the limit) are left out and described in ``problems`` (else
    warned about with :class:`UnexportableWarning`); see ``docs/security.md``, *Bounds*.
    """
    return schema.export(doc, keep_ids=keep_ids, problems=problems)


__all__ = [
    "notebook_to_doc",
    "doc_to_notebook",
    "apply_notebook",
    "merge_notebooks",
    "diff_notebooks",
    "render_diff",
    "read_notebook",
    "reads_notebook",
    "same",
    "schema",
    "NotebookFormatError",
    "UnexportableWarning",
    "MergeReport",
    "MergeConflict",
    "NotebookDiff",
    "CellDiff",
    "APPLY_ORIGIN",
    "MERGE_ORIGIN",
]
