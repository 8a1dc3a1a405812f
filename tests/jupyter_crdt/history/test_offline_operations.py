"""``jupyter_crdt.history.offline``: the restore and merge that ``jupyter crdt`` and the ``%crdt`` magics
both run (the shells' own tests check their output; these check the library's contract)."""

from __future__ import annotations

import json
import shutil
from pathlib import Path

import pytest

from crdt import HistoryLockedError
from jupyter_crdt.history import NoMergeBase, NotebookHistory, has_history
from jupyter_crdt.history.offline import merge_file, restore_file, restore_seq
from tests.jupyter_crdt.magics.histories import notebook_with_history
from tests.jupyter_crdt.server.notebooks import make_notebook, write_notebook


def _sources(path: Path) -> list[str]:
    return ["".join(c["source"]) for c in json.loads(path.read_text())["cells"]]


def test_restore_seq_names_the_prefix_of_the_servers_log_that_is_the_version() -> None:
    assert restore_seq(frozenset({"a", "b"}), ["a", "b", "c"], []) == 2
    # a change made concurrently sits between the version's changes there: no prefix is the version
    assert restore_seq(frozenset({"a", "c"}), ["a", "b", "c"], []) is None
    assert restore_seq(frozenset({"z"}), ["a", "b"], []) is None
    # a server that does not name its changes writes our history, in our order
    assert restore_seq(frozenset({"a"}), [None, None], ["a", "b"]) == 1
    assert restore_seq(frozenset({"a"}), [], ["a", "b"]) == 1


def test_restore_file_writes_the_version_as_a_new_change(tmp_path: Path) -> None:
    path = tmp_path / "nb.ipynb"
    notebook_with_history(path)
    with NotebookHistory.open(path, writable=False) as nh:
        first = nh.history.log(nh.main)[0].hash
        changes = len(nh.history)
    restored = restore_file(path, first[:8], author="carol", message="back to the import")
    assert restored.version == frozenset({first}) and restored.change is not None
    assert restored.change.author == "carol"
    assert _sources(path)[0] == "value_0 = 0\nprint(value_0)\n" and "alice was here" not in _sources(path)
    with NotebookHistory.open(path, writable=False) as nh:
        assert len(nh.history) == changes + 1  # nothing rewritten: one more change
    # already that version: no change
    assert restore_file(path, restored.version, author="carol").change is None


def test_restore_file_refuses_a_history_another_process_holds(tmp_path: Path) -> None:
    path = tmp_path / "nb.ipynb"
    notebook_with_history(path)
    before = path.read_bytes()
    with NotebookHistory.open(path, author="server"), pytest.raises(HistoryLockedError):
        restore_file(path, "HEAD~1", author="carol")
    assert path.read_bytes() == before


def test_merge_file_into_an_output_leaves_the_notebook_alone(tmp_path: Path) -> None:
    path, copy, out = tmp_path / "nb.ipynb", tmp_path / "copy.ipynb", tmp_path / "out.ipynb"
    notebook_with_history(path)
    shutil.copy(path, copy)
    nb = json.loads(copy.read_text())
    nb["cells"][1]["source"] = "bob = 1\n"
    copy.write_text(json.dumps(nb))  # a plain copy: merged three-way against the closest version
    before = path.read_bytes()
    result = merge_file(path, copy, author="bob", output=out)
    assert not result.conflicts
    assert path.read_bytes() == before
    assert _sources(out)[1] == "bob = 1\n" and _sources(out)[0].startswith("value_0 = 42")
    assert has_history(out)


def test_merge_file_without_any_history_asks_for_a_base(tmp_path: Path) -> None:
    a, b = tmp_path / "a.ipynb", tmp_path / "b.ipynb"
    write_notebook(a, make_notebook(2))
    write_notebook(b, make_notebook(2))
    with pytest.raises(NoMergeBase, match="--base BASE.ipynb"):
        merge_file(a, b, author="bob")
    assert not has_history(a) and not has_history(b)
