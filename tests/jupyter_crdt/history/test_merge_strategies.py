"""``jupyter_crdt.history.merge``: one entry point for merging another copy, with named strategies.

``union`` (the copies' histories share a change: union, then the notebook rules), ``three-way`` (the
notebooks' contents from a base) and ``auto`` (union when it can, else three-way)."""

from __future__ import annotations

import shutil

import nbformat
import pytest

from crdt import History
from jupyter_crdt.history import (
    STRATEGIES,
    NoCommonHistory,
    NotebookHistory,
    merge,
    merge_histories,
    notebook_text,
)

from .helpers import replace_in_source


def write_nb(path, sources: list[str]) -> None:
    nb = nbformat.v4.new_notebook()
    nb.cells = [nbformat.v4.new_code_cell(s, id=f"c{i}") for i, s in enumerate(sources)]
    path.parent.mkdir(parents=True, exist_ok=True)
    path.write_text(notebook_text(nb))


def sources(nh: NotebookHistory) -> list[str]:
    return [c["source"] for c in nh.notebook()["cells"]]


@pytest.fixture
def copies(tmp_path):
    """``a/nb.ipynb`` and ``b/nb.ipynb``: one notebook with one history, edited apart (ann in a, bob in b)."""
    a = tmp_path / "a" / "nb.ipynb"
    write_nb(a, ["x = 1", "y = 2"])
    NotebookHistory.open(a, author="owner").close()
    shutil.copytree(a.parent, tmp_path / "b")
    b = tmp_path / "b" / "nb.ipynb"
    for path, author, marker, old, new in ((a, "ann", "x = 1", "1", "10"), (b, "bob", "y = 2", "2", "20")):
        with NotebookHistory.open(path, author=author) as nh:
            with nh.edit(author) as e:
                replace_in_source(e.doc, marker, old, new)
            nh.write_notebook()
    return a, b


def their_history(path) -> History:
    with NotebookHistory.open(path, writable=False) as nh:
        return nh.history


def test_the_strategies_are_named():
    assert STRATEGIES == ("auto", "union", "three-way")


def test_union_keeps_every_change_with_its_author(copies):
    a, b = copies
    with NotebookHistory.open(a) as nh:
        result = merge(nh, None, their_history(b), strategy="union")
        assert not result.three_way and not result.unrelated and not result.up_to_date
        assert result.conflicts == []
        assert sources(nh) == ["x = 10", "y = 20"]
        authors = {c.author for c in nh.history.log(nh.main)}
        assert {"ann", "bob"} <= authors
        again = merge(nh, None, their_history(b), strategy="union")
        assert again.up_to_date and sources(nh) == ["x = 10", "y = 20"]


def test_union_of_unrelated_histories_is_refused_and_changes_nothing(copies, tmp_path):
    a, _ = copies
    other = tmp_path / "other" / "nb.ipynb"
    write_nb(other, ["z = 3"])
    with NotebookHistory.open(a) as nh:
        before, n = nh.main, len(nh.history)
        with pytest.raises(NoCommonHistory):
            merge(nh, None, their_history(other), strategy="union")
        assert nh.main == before and len(nh.history) == n and sources(nh) == ["x = 10", "y = 2"]


def test_auto_merges_unrelated_copies_three_way(copies, tmp_path):
    a, _ = copies
    other = tmp_path / "other" / "nb.ipynb"
    write_nb(other, ["x = 1", "y = 2", "w = 4"])  # the original file, plus a cell: no shared history
    theirs = nbformat.read(other, as_version=4)
    with NotebookHistory.open(a) as nh:
        result = merge(nh, theirs, their_history(other))
        assert result.three_way and result.unrelated
        assert sources(nh) == ["x = 10", "y = 2", "w = 4"]
        assert nh.history.get(next(iter(nh.main))).kind == "merge"


def test_three_way_from_a_base_even_when_the_histories_are_shared(copies, tmp_path):
    a, b = copies
    base = nbformat.v4.new_notebook()
    base.cells = [nbformat.v4.new_code_cell(s, id=f"c{i}") for i, s in enumerate(["x = 1", "y = 2"])]
    theirs = nbformat.read(b, as_version=4)
    with NotebookHistory.open(a) as nh:
        result = merge(nh, theirs, their_history(b), strategy="three-way", base=base, label="b's copy",
                       author="ann")
        assert result.three_way and not result.unrelated
        assert sources(nh) == ["x = 10", "y = 20"]
        change = nh.history.get(next(iter(nh.main)))
        assert change.kind == "merge" and change.author == "ann" and "b's copy" in (change.message or "")
        assert "bob" not in {c.author for c in nh.history.log(nh.main)}  # the files merged, not the histories


def test_a_strategy_that_does_not_apply_is_refused(copies):
    a, b = copies
    theirs = nbformat.read(b, as_version=4)
    with NotebookHistory.open(a) as nh:
        before = nh.main
        with pytest.raises(ValueError, match="unknown merge strategy"):
            merge(nh, theirs, None, strategy="ours")  # type: ignore[arg-type]
        with pytest.raises(ValueError, match="union strategy"):
            merge(nh, theirs, None, strategy="union")
        with pytest.raises(ValueError, match="notebook or its history"):
            merge(nh, None, None)
        assert nh.main == before


def test_merge_histories_is_the_same_union_either_way(copies):
    """The git drivers merge bare histories: A into B and B into A give the same changes and document."""
    a, b = copies
    ab, ba = their_history(a), their_history(b)
    vm1 = merge_histories(ab, their_history(b))
    vm2 = merge_histories(ba, their_history(a))
    assert ab.ancestors(vm1.heads) == ba.ancestors(vm2.heads)
    assert ab.branch("main") == vm1.heads and ba.branch("main") == vm2.heads
    assert ab.doc_at(vm1.heads).to_py() == ba.doc_at(vm2.heads).to_py()


def test_merge_histories_of_unrelated_histories_changes_nothing(copies, tmp_path):
    a, _ = copies
    other = tmp_path / "other" / "nb.ipynb"
    write_nb(other, ["z = 3"])
    ours = their_history(a)
    n, branches = len(ours), ours.branches
    with pytest.raises(NoCommonHistory):
        merge_histories(ours, their_history(other))
    assert len(ours) == n and ours.branches == branches
