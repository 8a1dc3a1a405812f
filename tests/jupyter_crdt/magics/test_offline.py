"""``%crdt`` in a plain kernel with no server (nbconvert, papermill): the file and its history directly."""

from __future__ import annotations

import json
import shutil
from collections.abc import Iterator
from pathlib import Path

import pytest

from jupyter_crdt.history import NotebookHistory, copy_history

from .histories import notebook_with_history
from .kernels import Kernel


@pytest.fixture(scope="module")
def offline(tmp_path_factory: pytest.TempPathFactory) -> Iterator[tuple[Kernel, Path]]:
    """A real kernel for ``nb.ipynb`` whose runtime directory holds no server."""
    home = tmp_path_factory.mktemp("offline")
    path = home / "nb.ipynb"
    notebook_with_history(path)
    kernel = Kernel.start({"JPY_SESSION_NAME": str(path), "JUPYTER_RUNTIME_DIR": str(home / "runtime")}, home)
    try:
        kernel.ok("%load_ext jupyter_crdt")
        yield kernel, path
    finally:
        kernel.stop()


def test_status_explains_that_no_server_is_reachable(offline: tuple[Kernel, Path]) -> None:
    kernel, path = offline
    out = kernel.ok("%crdt status")
    assert "not reachable" in out.all_text and "no Jupyter server is running" in out.all_text
    assert "2 changes" in out.all_text  # the history size, from the sidecar
    assert out.html and "not reachable" in out.html[0]


def test_log_lists_the_authors_changes_newest_first(offline: tuple[Kernel, Path]) -> None:
    kernel, _ = offline
    text = kernel.ok("%crdt log").all_text
    lines = [ln for ln in text.splitlines() if ln[:1].isdigit()]
    assert len(lines) == 2
    assert "alice" in lines[0] and "added cell 3 (markdown)" in lines[0]
    assert "import" in lines[1]
    only_alice = kernel.ok("%crdt log --author alice -n 5").all_text
    assert "alice" in only_alice and "notebook imported" not in only_alice
    touching = kernel.ok("%crdt log --cell alice-1").all_text
    assert "alice" in touching and "notebook imported" not in touching


def test_diff_shows_line_level_changes(offline: tuple[Kernel, Path]) -> None:
    kernel, _ = offline
    out = kernel.ok("%crdt diff")
    text = out.all_text
    assert "-value_0 = 0" in text and "+value_0 = 42" in text
    assert "alice-1 added" in text
    assert 'class="add"' in out.html[0] and "+value_0 = 42" in out.html[0]
    # explicit revisions, by number: the import against itself changes nothing
    assert "(no differences)" in kernel.ok("%crdt diff 1 1").all_text


def test_blame_attributes_lines_and_defaults_to_the_running_cell(offline: tuple[Kernel, Path]) -> None:
    kernel, _ = offline
    text = kernel.ok("%crdt blame code-0").all_text
    first, second = [ln for ln in text.splitlines() if "|" in ln][:2]
    assert first.startswith("alice") and first.endswith("value_0 = 42")
    assert second.startswith("import") and second.endswith("print(value_0)")
    running = kernel.ok("%crdt blame", cell_id="alice-1").all_text
    assert "alice was here" in running and "alice" in running


def test_show_an_earlier_version(offline: tuple[Kernel, Path]) -> None:
    kernel, _ = offline
    text = kernel.ok("%crdt show 1").all_text
    assert "value_0 = 0" in text and "alice was here" not in text


def test_merge_file_with_history_and_without(offline: tuple[Kernel, Path], tmp_path: Path) -> None:
    kernel, path = offline
    # a copy with its history, edited by bob elsewhere
    copy_with = tmp_path / "copy.ipynb"
    shutil.copy(path, copy_with)
    copy_history(path, copy_with)
    with NotebookHistory.open(copy_with, author="bob") as nh:
        nb = nh.notebook()
        nb["cells"][1]["source"] = "bob = 1\n"
        nh.apply_notebook(nb, "bob")
        nh.flush()
        nh.write_notebook()
    out = kernel.ok(f"%crdt merge-file {copy_with}")
    assert "merged" in out.all_text and "conflict" not in out.all_text
    on_disk = json.loads(path.read_text())
    sources = ["".join(c["source"]) for c in on_disk["cells"]]
    assert sources[1] == "bob = 1\n" and sources[0].startswith("value_0 = 42")
    assert "bob" in kernel.ok("%crdt log -n 1").all_text

    # a plain copy (no history): merged three-way against the closest version of ours
    plain = tmp_path / "plain.ipynb"
    nb = json.loads(path.read_text())
    nb["cells"][2]["source"] = "# carol's heading\n"
    plain.write_text(json.dumps(nb))
    kernel.ok(f"%crdt merge-file {plain}")
    sources = ["".join(c["source"]) for c in json.loads(path.read_text())["cells"]]
    assert sources[2] == "# carol's heading\n" and sources[1] == "bob = 1\n"

    missing = kernel.run(f"%crdt merge-file {tmp_path / 'nope.ipynb'}")
    assert missing.error is not None and missing.error[0] == "UsageError" and "nope.ipynb" in missing.error[1]
