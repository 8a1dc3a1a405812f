"""The stores' protocol (``HistoryStore``): each store says which history it holds, so the server's
features ask a store instead of probing it, and a branch's store records into its notebook's history."""

from __future__ import annotations

import pytest

from jupyter_crdt.server.branches import BranchStore, NoBranches, UnknownBranch
from jupyter_crdt.server.stores import MemoryStore, NotebookHistoryStore, TextHistoryStore

from .notebooks import make_notebook, new_cell, write_notebook


def test_each_store_says_which_history_it_holds(tmp_path):
    nb = tmp_path / "a.ipynb"
    write_notebook(nb, make_notebook(2))
    txt = tmp_path / "b.txt"
    txt.write_text("hello\n")
    notebook, text, memory = NotebookHistoryStore(str(nb)), TextHistoryStore(str(txt)), MemoryStore()
    for store in (notebook, text, memory):
        store.load()
    try:
        assert notebook.notebook_history is not None and notebook.notebook_history.writable
        assert notebook.text_history is None
        assert text.text_history is not None and text.text_history.sidecar.name == ".b.txt.crdt"
        assert text.notebook_history is None
        assert memory.notebook_history is None and memory.text_history is None
        for store in (notebook, text, memory):
            assert store.deadline is None  # a flush makes what was appended durable at once
            store.flush_edits()
        assert memory.recorded_position(lambda doc: True) is None
    finally:
        notebook.close()
        text.close()
    assert notebook.notebook_history is None and text.text_history is None  # closed: none held


def test_a_branch_store_records_into_its_notebooks_history_until_it_closes(tmp_path):
    nb = tmp_path / "a.ipynb"
    write_notebook(nb, make_notebook(2))
    main = NotebookHistoryStore(str(nb))
    main.load()
    try:
        nh = main.notebook_history
        assert nh is not None
        nh.history.set_branch("exp", nh.main)
        with pytest.raises(UnknownBranch):
            BranchStore(main, "nope").load()
        branch = BranchStore(main, "exp")
        branch.load()
        assert branch.notebook_history is nh and branch.text_history is None
        doc = nh.history.doc_at(branch.position())
        before = doc.encode_state_vector()
        cells = doc.get_array("cells")
        cells.insert(len(cells), [new_cell("on the branch")])
        branch.append(doc.encode_state_as_update(before), "ann")
        assert branch.deadline is not None  # grouped: durable once its change closes
        branch.flush_edits()
        assert branch.deadline is None
        assert branch.records()[-1].author == "ann"
        assert nh.history.branch("exp") != nh.main  # main does not have the branch's edit
        assert nh.history.log(nh.main)[-1].author != "ann"
    finally:
        main.close()
    with pytest.raises(NoBranches):
        branch.notebook_history  # noqa: B018 - the history closed with its notebook's store
