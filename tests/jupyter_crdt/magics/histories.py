"""Notebook files with a history of several authors, written as the ``jupyter crdt`` tools do."""

from __future__ import annotations

import copy
from pathlib import Path

from jupyter_crdt.history import NotebookHistory
from tests.jupyter_crdt.server.notebooks import make_notebook, write_notebook


def notebook_with_history(path: Path) -> dict:
    """``path`` imported (3 cells), then alice's change: cell ``code-0`` edited, a cell added.

    Returns the notebook after alice's change."""
    nb = make_notebook(3)
    write_notebook(path, nb)
    edited = copy.deepcopy(nb)
    edited["cells"][0]["source"] = "value_0 = 42\nprint(value_0)\n"
    edited["cells"].append({"id": "alice-1", "cell_type": "markdown", "metadata": {},
                            "source": "alice was here"})
    with NotebookHistory.open(path, author="alice") as nh:
        nh.apply_notebook(edited, "alice")
        nh.flush()
        nh.write_notebook()
    return edited
