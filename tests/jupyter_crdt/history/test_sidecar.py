"""The sidecar and the file: placement, deterministic start, changes made on disk, moves, locks, rewrites."""

from __future__ import annotations

import json
import os
import shutil
import subprocess
import warnings

import nbformat
import pytest

from crdt import HistoryFile, HistoryLockedError
from jupyter_crdt.history import (
    NotebookHistory,
    copy_history,
    delete_history,
    is_sidecar,
    move_history,
    notebook_path_of,
    notebook_text,
    sidecar_path,
)
from jupyter_crdt.notebook import NotebookFormatError

from ..conftest import corpus
from .helpers import cli, copy_notebook, open_history, replace_in_source, run_cell

NOTEBOOK = "jupyterlab/example.ipynb"


def read(path):
    with warnings.catch_warnings():
        warnings.simplefilter("ignore")
        return nbformat.read(str(path), as_version=4)


def write_plain(path, nb, indent=1):
    """Save as another tool would (nbformat's writer), optionally formatted differently."""
    with warnings.catch_warnings():
        warnings.simplefilter("ignore")
        text = nbformat.writes(nb)
    if indent != 1:
        text = json.dumps(json.loads(text), indent=indent, sort_keys=False)
    path.write_text(text)


def test_sidecar_names(tmp_path):
    nb = tmp_path / "sub dir" / "Analysis v2.ipynb"
    sc = sidecar_path(nb)
    assert sc == tmp_path / "sub dir" / ".Analysis v2.ipynb.crdt"
    assert sc.name.startswith(".")  # hidden in JupyterLab's file browser
    assert is_sidecar(sc) and not is_sidecar(nb)
    assert notebook_path_of(sc) == nb


def test_two_copies_start_identical_histories(tmp_path, data_dir):
    a = copy_notebook(data_dir, NOTEBOOK, tmp_path / "a")
    b = copy_notebook(data_dir, NOTEBOOK, tmp_path / "b")
    for p in (a, b):
        NotebookHistory.open(p).close()
    ha, hb = HistoryFile.read(sidecar_path(a)), HistoryFile.read(sidecar_path(b))
    assert len(ha) == 1 and [c.hash for c in ha.changes] == [c.hash for c in hb.changes]
    (c,) = ha.changes
    assert (c.author, c.kind, c.time, c.deps) == ("import", "import", 0.0, ())


def test_corpus_opens_without_spurious_changes(tmp_path, data_dir):
    """Every readable corpus notebook: the history starts from it, the file then matches it, and writing
    the projection and reopening records nothing."""
    n = 0
    for i, src in enumerate(corpus(data_dir)):
        path = tmp_path / str(i) / "nb.ipynb"
        path.parent.mkdir()
        shutil.copyfile(src, path)
        os.chmod(path, 0o644)
        try:
            nh = NotebookHistory.open(path)
        except NotebookFormatError:
            assert not sidecar_path(path).exists()  # a file we cannot read gets no history
            continue
        with nh:
            assert nh.created and len(nh.history) == 1, src
            nh.write_notebook()
        with NotebookHistory.open(path) as nh:
            assert len(nh.history) == 1, f"{src}: a spurious disk change"
            assert not nh.write_notebook(), f"{src}: the projection is not stable"
        n += 1
    assert n > 50


def test_touch_and_reformatting_are_not_changes(tmp_path, data_dir):
    nb = copy_notebook(data_dir, NOTEBOOK, tmp_path)
    with open_history(nb, "ann") as nh:
        nh.write_notebook()
    os.utime(nb, (0, 0))
    write_plain(nb, read(nb), indent=4)
    with open_history(nb, "ann") as nh:
        assert len(nh.history) == 1


def test_disk_change_keeps_unsaved_edits(tmp_path, data_dir):
    nb = copy_notebook(data_dir, NOTEBOOK, tmp_path)
    with open_history(nb, "ann") as nh:
        nh.write_notebook()
        written = nh.written
        with nh.edit("ann") as e:  # an unsaved edit (the file is not written)
            replace_in_source(e.doc, "import sys", "import sys", "import sys  # unsaved")
        nh.flush()
        other = read(nb)  # meanwhile another tool edits the file
        other.cells[1].source = other.cells[1].source + "\n\nEdited in another editor."
        write_plain(nb, other)
        changes = nh.sync_from_disk()
        assert [c.kind for c in changes] == ["disk"]
        disk = changes[0]
        assert disk.author == "disk" and set(disk.deps) == set(written)
        assert nh.written == {disk.hash}
        merged = nh.notebook()
        assert "import sys  # unsaved" in merged.cells[0].source
        assert merged.cells[1].source.endswith("Edited in another editor.")
        assert nh.sync_from_disk() == []  # the file is as recorded: nothing more
        nh.write_notebook()
    with open_history(nb, "ann") as nh:
        assert len(nh.history) == 3  # import, ann, disk


def test_disk_rerun_and_unsaved_rerun_keep_one_outputs(tmp_path, data_dir):
    nb = copy_notebook(data_dir, NOTEBOOK, tmp_path)
    with open_history(nb, "ann") as nh:
        with nh.edit("ann") as e:
            run_cell(e.doc, "import sys", "from the browser\n", 2)
        other = read(nb)
        other.cells[0].outputs = [nbformat.v4.new_output("stream", name="stdout", text="from the file\n")]
        other.cells[0].execution_count = 3
        write_plain(nb, other)
        changes = nh.sync_from_disk()
        assert [c.kind for c in changes] == ["disk", "merge"]
        outs = nh.notebook().cells[0].outputs
        assert [o.text for o in outs] in (["from the browser\n"], ["from the file\n"])


def test_same_file_edit_in_two_copies_merges_once(tmp_path, data_dir):
    """Two copies see the same edit made on disk: they record the same structs, so it merges once."""
    a = copy_notebook(data_dir, NOTEBOOK, tmp_path / "a")
    NotebookHistory.open(a).close()
    shutil.copytree(tmp_path / "a", tmp_path / "b")
    b = tmp_path / "b" / "nb.ipynb"
    for p in (a, b):
        n = read(p)
        n.cells[1].source += "\nsame edit in both copies"
        write_plain(p, n)
        NotebookHistory.open(p).close()
    r = cli("merge", a, b)
    assert r.returncode == 0, r.stderr
    assert read(a).cells[1].source.count("same edit in both copies") == 1


def test_helpers_move_copy_delete(tmp_path, data_dir):
    nb = copy_notebook(data_dir, NOTEBOOK, tmp_path)
    assert not move_history(nb, tmp_path / "x.ipynb")  # no history yet
    NotebookHistory.open(nb).close()
    h0 = [c.hash for c in HistoryFile.read(sidecar_path(nb)).changes]
    new = tmp_path / "sub" / "renamed.ipynb"
    new.parent.mkdir()
    os.replace(nb, new)
    assert move_history(nb, new)
    assert not sidecar_path(nb).exists()
    assert [c.hash for c in HistoryFile.read(sidecar_path(new)).changes] == h0
    dup = tmp_path / "sub" / "renamed-Copy1.ipynb"
    shutil.copyfile(new, dup)
    assert copy_history(new, dup)
    assert [c.hash for c in HistoryFile.read(sidecar_path(dup)).changes] == h0  # the same changes...
    sessions = {HistoryFile.read_header(sidecar_path(p))["session_id"] for p in (new, dup)}
    assert len(sessions) == 2 and None not in sessions  # ...under a session id of its own
    with open_history(dup, "ann") as nh:  # the copy's history grows apart...
        with nh.edit() as e:
            replace_in_source(e.doc, "import sys", "import sys", "import sys  # copy")
        nh.write_notebook()
    assert len(HistoryFile.read(sidecar_path(new))) == 1  # ...the original's does not
    assert delete_history(dup) and not sidecar_path(dup).exists() and not delete_history(dup)


def test_cli_mv(tmp_path, data_dir):
    nb = copy_notebook(data_dir, NOTEBOOK, tmp_path)
    NotebookHistory.open(nb).close()
    (tmp_path / "dest").mkdir()
    r = cli("mv", nb, tmp_path / "dest", cwd=tmp_path)
    assert r.returncode == 0, r.stderr
    moved = tmp_path / "dest" / "nb.ipynb"
    assert moved.exists() and sidecar_path(moved).exists()
    assert not nb.exists() and not sidecar_path(nb).exists()
    if shutil.which("git"):  # tracked files move with git mv, history included
        repo = tmp_path / "dest"
        env = dict(os.environ, GIT_CONFIG_GLOBAL=os.devnull, GIT_AUTHOR_NAME="t", GIT_AUTHOR_EMAIL="t@x",
                   GIT_COMMITTER_NAME="t", GIT_COMMITTER_EMAIL="t@x")
        for args in (["init", "-q"], ["add", "-A"], ["commit", "-q", "-m", "x"]):
            subprocess.run(["git", *args], cwd=repo, env=env, check=True)
        r = cli("mv", "nb.ipynb", "moved.ipynb", cwd=repo)
        assert r.returncode == 0, r.stderr
        staged = subprocess.run(["git", "status", "--porcelain"], cwd=repo, capture_output=True,
                                text=True).stdout
        assert "R  nb.ipynb -> moved.ipynb" in staged and "R  .nb.ipynb.crdt -> .moved.ipynb.crdt" in staged


def test_locked_history(tmp_path, data_dir):
    nb = copy_notebook(data_dir, NOTEBOOK, tmp_path)
    with NotebookHistory.open(nb, author="server"):
        with pytest.raises(HistoryLockedError):
            NotebookHistory.open(nb)
        r = cli("log", nb)  # reading falls back to the file as it is
        assert r.returncode == 0 and "import" in r.stdout and "Traceback" not in r.stderr
        r = cli("restore", nb, "HEAD")
        assert r.returncode == 2 and "running Jupyter server" in r.stderr


def test_unreadable_notebook_is_not_overwritten(tmp_path, data_dir):
    nb = copy_notebook(data_dir, NOTEBOOK, tmp_path)
    NotebookHistory.open(nb).close()
    nb.write_text('{"cells": [ <<<<<<< HEAD')  # e.g. a merge without the driver
    with NotebookHistory.open(nb) as nh:
        assert nh.disk_error is not None
        with pytest.raises(NotebookFormatError):
            nh.write_notebook()
        assert nh.notebook().cells  # the history is still readable
    r = cli("show", nb)
    assert r.returncode == 0 and '"cells"' in r.stdout


def test_purge_and_squash(tmp_path, data_dir):
    nb = copy_notebook(data_dir, NOTEBOOK, tmp_path)
    secret = "sk-live-0123456789abcdef"
    with open_history(nb, "ann") as nh:
        with nh.edit("ann") as e:
            replace_in_source(e.doc, "import sys", "import sys", f"import sys\nKEY = '{secret}'")
        with nh.edit("ann") as e:
            run_cell(e.doc, "import sys", f"using {secret}\n", 9)
        with nh.edit("bob") as e:
            replace_in_source(e.doc, "import sys", f"KEY = '{secret}'", "KEY = os.environ['KEY']")
        with nh.edit("bob") as e:
            run_cell(e.doc, "import sys", "using the environment\n", 10)
        nh.write_notebook()
    before = nb.read_text()

    def holds_secret():
        h = HistoryFile.read(sidecar_path(nb))
        in_file = secret.encode() in sidecar_path(nb).read_bytes()
        return in_file or any(secret.encode() in c.update for c in h.changes)

    assert holds_secret()
    r = cli("purge", nb, "--text", secret)  # not confirmed without a terminal
    assert r.returncode == 2 and holds_secret()
    r = cli("purge", nb, "--text", secret, "--yes")
    assert r.returncode == 0, r.stderr
    assert "keep their full history" in r.stderr
    assert not holds_secret()
    assert nb.read_text() == before  # the current notebook did not hold it
    for c in HistoryFile.read(sidecar_path(nb)).changes:  # every version is still a valid notebook
        r = cli("show", nb, "--at", c.hash[:12]) if c.author == "bob" else None
        if r is not None:
            assert r.returncode == 0 and secret not in r.stdout
            nbformat.reads(r.stdout, as_version=4)
    log = json.loads(cli("log", nb, "--json").stdout)
    assert [e["author"] for e in log] == ["bob", "bob", "ann", "ann", "import"]

    r = cli("squash", nb, "--before", "HEAD~1", "--yes")
    assert r.returncode == 0, r.stderr
    log = json.loads(cli("log", nb, "--json").stdout)
    assert [e["kind"] for e in log] == ["edit", "edit", "squash"]  # HEAD~1 and after stay
    assert nb.read_text() == before
    r = cli("squash", nb, "--yes")
    assert r.returncode == 0
    h = HistoryFile.read(sidecar_path(nb))
    assert len(h) == 1 and b"using the environment" in h.changes[0].update
    assert notebook_text(read(nb)) == before


def test_room_style_usage(tmp_path, data_dir):
    """How a server room uses a NotebookHistory: its document is ``nh.doc``; updates from browsers are
    recorded (grouped) as they are applied; a change found on disk is applied to the document with an
    origin in ``ORIGINS``, which the room broadcasts instead of recording again."""
    from crdt import Doc
    from jupyter_crdt.history import ORIGINS

    nb = copy_notebook(data_dir, NOTEBOOK, tmp_path)
    with NotebookHistory.open(nb, author="server", idle=1.0) as nh:
        doc = nh.doc
        to_browsers = []

        def on_update(update, origin):
            if origin in ORIGINS:
                to_browsers.append(update)
            else:
                nh.record_update(update, origin, apply=False, time=1000.0)

        doc.observe_updates(on_update)
        browser = Doc()
        browser.apply_update(doc.encode_state_as_update())
        sent = []
        browser.observe_updates(lambda u, o: sent.append(u))
        text = browser.get_array("cells")[0].get("source")
        for i, ch in enumerate("# typed\n"):
            text.insert(i, ch)
            doc.apply_update(sent.pop(), origin="alice")  # the room accepts it (origin: the author)
        assert nh.deadline == 1001.0
        assert nh.poll(now=1002.0).author == "alice"  # one change for the burst
        nh.write_notebook()
        other = read(nb)  # another tool edits the file
        other.cells[1].source += "\nfrom vim"
        write_plain(nb, other)
        changes = nh.sync_from_disk()
        assert [c.kind for c in changes] == ["disk"] and len(to_browsers) == 1
        browser.apply_update(to_browsers[0])
        assert str(browser.get_array("cells")[1].get("source")).endswith("from vim")
        nh.write_notebook()
        kinds = [(c.author, c.kind) for c in nh.history.changes]
    assert kinds == [("import", "import"), ("alice", "edit"), ("disk", "disk")]
    assert read(nb).cells[0].source.startswith("# typed\n")
