"""Done-when 2: a real git repository, ``jupyter crdt config-git``, two branches, ``git merge``."""

from __future__ import annotations

import json
import os
import shutil
import subprocess
import sys
import warnings
from pathlib import Path

import nbformat
import pytest

from crdt import HistoryFile
from jupyter_crdt.history import NotebookHistory, notebook_text, sidecar_path

from .helpers import REPO, cli, copy_notebook, delete_cell, insert_cell, replace_in_source

NOTEBOOK = "nbformat/test4.5.ipynb"
pytestmark = pytest.mark.skipif(shutil.which("git") is None, reason="git is not installed")


def git(repo, *args, check=True, trace=False, path=None):
    env = dict(os.environ, GIT_AUTHOR_NAME="t", GIT_AUTHOR_EMAIL="t@example.org", GIT_COMMITTER_NAME="t",
               GIT_COMMITTER_EMAIL="t@example.org", GIT_CONFIG_GLOBAL=os.devnull, GIT_CONFIG_NOSYSTEM="1")
    if trace:
        env["JUPYTER_CRDT_GIT_TRACE"] = "1"
    if path is not None:
        env["PATH"] = path
    r = subprocess.run(["git", *args], cwd=repo, env=env, capture_output=True, text=True, timeout=600)
    if check:
        assert r.returncode == 0, f"git {' '.join(args)}:\n{r.stdout}\n{r.stderr}"
    return r


def read(path):
    with warnings.catch_warnings():
        warnings.simplefilter("ignore")
        return nbformat.read(str(path), as_version=4)


def edits_bob(doc):
    replace_in_source(doc, "import HTML", "import HTML\n", "import HTML  # bob\n")
    replace_in_source(doc, "# nbconvert latex test", "latex test", "latex test (bob)")
    insert_cell(doc, len(doc.get_array("cells")), "markdown", "Added by bob on his branch.", "bob-cell")


def edits_alice(doc):
    replace_in_source(doc, "import HTML", "<b>HTML</b>", "<b>HTML, by alice</b>")
    replace_in_source(doc, 'print("hello")', 'print("hello")', 'print("hello, alice")')
    delete_cell(doc, "%%javascript")


def check_merged(nb):
    nbformat.validate(nb)
    text = json.dumps(nb)
    for marker in ("import HTML  # bob", "latex test (bob)", "Added by bob", "<b>HTML, by alice</b>",
                   'print(\\"hello, alice\\")'):
        assert text.count(marker) == 1, marker
    assert "%%javascript" not in text


def make_repo(tmp_path, data_dir, with_history: bool):
    repo = tmp_path / "repo"
    nb = copy_notebook(data_dir, NOTEBOOK, repo)
    git(repo, "init", "-q", "-b", "main")
    r = cli("config-git", cwd=repo)
    assert r.returncode == 0, r.stderr
    assert "merge=jupyter-crdt" in (repo / ".gitattributes").read_text()
    assert "git-merge-driver" in git(repo, "config", "merge.jupyter-crdt-history.driver").stdout
    if with_history:
        with NotebookHistory.open(nb, author="owner") as nh:
            nh.write_notebook()
    git(repo, "add", "-A")
    git(repo, "commit", "-q", "-m", "base")
    return repo, nb


def test_git_merge_with_histories(tmp_path, data_dir):
    repo, nb = make_repo(tmp_path, data_dir, with_history=True)
    git(repo, "checkout", "-q", "-b", "feature")
    with NotebookHistory.open(nb, author="bob") as nh:
        with nh.edit() as e:
            edits_bob(e.doc)
        nh.write_notebook()
    git(repo, "commit", "-q", "-am", "bob's edits")
    git(repo, "checkout", "-q", "main")
    with NotebookHistory.open(nb, author="alice") as nh:
        with nh.edit() as e:
            edits_alice(e.doc)
        nh.write_notebook()
    git(repo, "commit", "-q", "-am", "alice's edits")

    r = git(repo, "merge", "--no-edit", "feature", check=False, trace=True)
    assert r.returncode == 0 and "CONFLICT" not in r.stdout + r.stderr, r.stdout + r.stderr
    assert "nb.ipynb: merged through the histories of both sides" in r.stderr
    assert ".nb.ipynb.crdt: merged the histories (union; found both notebooks)" in r.stderr
    assert git(repo, "status", "--porcelain").stdout.strip() == ""
    check_merged(read(nb))

    # the notebook is exactly the projection of the merged history
    history = HistoryFile.read(sidecar_path(nb))
    assert {c.author for c in history.changes} >= {"alice", "bob", "import"}
    with warnings.catch_warnings():
        warnings.simplefilter("ignore")
        from jupyter_crdt.notebook import schema as _schema
        projection = notebook_text(_schema.export(history.doc_at(history.branch("main"))))
    assert nb.read_text() == projection
    assert history.branch("written") == history.branch("main")
    # ... so opening it records nothing, and log shows no disk change
    r = cli("log", nb, "--json", "--all", cwd=repo)
    assert r.returncode == 0, r.stderr
    kinds = [e["kind"] for e in json.loads(r.stdout)]
    assert "disk" not in kinds
    assert len(HistoryFile.read(sidecar_path(nb))) == len(history)
    assert git(repo, "status", "--porcelain").stdout.strip() == ""

    # git diff shows notebook diffs through the driver
    r = git(repo, "diff", "HEAD~1", "HEAD", "--", "nb.ipynb")
    assert "## cell" in r.stdout


def test_git_merge_plain_notebooks(tmp_path, data_dir):
    """Without sidecars the notebook driver merges the files three-way."""
    repo, nb = make_repo(tmp_path, data_dir, with_history=False)
    assert not sidecar_path(nb).exists()

    def edit_file(edit):
        # edit the plain file as another tool would: through a scratch document, no history kept
        from jupyter_crdt.notebook import doc_to_notebook, notebook_to_doc, read_notebook

        with warnings.catch_warnings():
            warnings.simplefilter("ignore")
            doc = notebook_to_doc(read_notebook(nb))
            edit(doc)
            nb.write_text(notebook_text(doc_to_notebook(doc)))

    git(repo, "checkout", "-q", "-b", "feature")
    edit_file(edits_bob)
    git(repo, "commit", "-q", "-am", "bob's edits")
    git(repo, "checkout", "-q", "main")
    edit_file(edits_alice)
    git(repo, "commit", "-q", "-am", "alice's edits")
    r = git(repo, "merge", "--no-edit", "feature", check=False, trace=True)
    assert r.returncode == 0 and "CONFLICT" not in r.stdout + r.stderr, r.stdout + r.stderr
    assert "merged the files three-way" in r.stderr
    check_merged(read(nb))
    assert not sidecar_path(nb).exists()


def test_git_merge_true_conflict_exits_1(tmp_path, data_dir):
    """Both branches change the same characters: git reports a conflict, the file holds markers."""
    repo, nb = make_repo(tmp_path, data_dir, with_history=False)

    def set_title(title):
        n = read(nb)
        n.cells[0].source = title
        nbformat.write(n, str(nb))

    git(repo, "checkout", "-q", "-b", "feature")
    set_title("# the feature title")
    git(repo, "commit", "-q", "-am", "feature title")
    git(repo, "checkout", "-q", "main")
    set_title("# the main title")
    git(repo, "commit", "-q", "-am", "main title")
    r = git(repo, "merge", "--no-edit", "feature", check=False)
    assert r.returncode != 0 and "CONFLICT" in r.stdout
    merged = read(nb)
    nbformat.validate(merged)
    assert "<<<<<<<" in merged.cells[0].source


def test_config_git_is_idempotent_and_reversible(tmp_path):
    repo = tmp_path / "r"
    repo.mkdir()
    git(repo, "init", "-q")
    (repo / ".gitattributes").write_text("*.png binary\n")
    for _ in range(2):
        assert cli("config-git", cwd=repo).returncode == 0
    text = (repo / ".gitattributes").read_text()
    assert text.count("merge=jupyter-crdt ") == 1 and text.startswith("*.png binary\n")
    assert cli("config-git", "--disable", cwd=repo).returncode == 0
    assert (repo / ".gitattributes").read_text() == "*.png binary\n"
    assert git(repo, "config", "merge.jupyter-crdt.driver", check=False).returncode != 0
    outside = tmp_path / "not-a-repo"
    outside.mkdir()
    r = cli("config-git", cwd=outside, env={"GIT_CEILING_DIRECTORIES": str(tmp_path)})
    assert r.returncode == 2 and "git repository" in r.stderr


def test_git_merge_outputs_and_an_edit_made_outside_jupyter(tmp_path, data_dir):
    """Both branches re-run one cell; one branch also edits the .ipynb with another tool and commits it
    without its history. Both drivers compute the same merge: the notebook is the merged history's
    projection, holding one side's outputs and the outside edit."""
    from .helpers import run_cell

    repo, nb = make_repo(tmp_path, data_dir, with_history=True)
    git(repo, "checkout", "-q", "-b", "feature")
    with NotebookHistory.open(nb, author="bob") as nh:
        with nh.edit() as e:
            run_cell(e.doc, 'print("hello")', "hello from bob\n", 6)
        nh.write_notebook()
    n = read(nb)
    n.cells[1].source = n.cells[1].source.replace("Lorem ipsum", "Lorem IPSUM (edited in vim)")
    nbformat.write(n, str(nb))
    git(repo, "commit", "-q", "-am", "bob's run and an outside edit")
    git(repo, "checkout", "-q", "main")
    with NotebookHistory.open(nb, author="alice") as nh:
        with nh.edit() as e:
            run_cell(e.doc, 'print("hello")', "hello from alice\n", 5)
        nh.write_notebook()
    git(repo, "commit", "-q", "-am", "alice's run")

    r = git(repo, "merge", "--no-edit", "feature", check=False, trace=True)
    assert r.returncode == 0 and "CONFLICT" not in r.stdout + r.stderr, r.stdout + r.stderr
    assert "merged through the histories" in r.stderr
    merged = read(nb)
    nbformat.validate(merged)
    assert "Lorem IPSUM (edited in vim)" in merged.cells[1].source
    (cell,) = [c for c in merged.cells if 'print("hello")' in c.source]
    assert [o.get("text") for o in cell.outputs] in (["hello from alice\n"], ["hello from bob\n"])
    history = HistoryFile.read(sidecar_path(nb))
    kinds = [c.kind for c in history.changes]
    assert kinds.count("disk") == 1 and kinds.count("merge") == 1  # the outside edit; the outputs rule
    with NotebookHistory.open(nb) as nh:
        assert len(nh.history) == len(history)  # nothing new: the file is the projection
    assert git(repo, "status", "--porcelain").stdout.strip() == ""


def test_git_rebase_with_histories(tmp_path, data_dir):
    """``git rebase`` (the merge backend picks commits one by one): no conflict, notebook = projection."""
    repo, nb = make_repo(tmp_path, data_dir, with_history=True)
    git(repo, "checkout", "-q", "-b", "feature")
    with NotebookHistory.open(nb, author="bob") as nh:
        with nh.edit() as e:
            replace_in_source(e.doc, "# nbconvert latex test", "latex test", "latex test (bob)")
        nh.write_notebook()
    git(repo, "commit", "-q", "-am", "bob 1")
    with NotebookHistory.open(nb, author="bob") as nh:
        with nh.edit() as e:
            insert_cell(e.doc, len(e.doc.get_array("cells")), "markdown", "Added by bob on his branch.",
                        "bob-cell")
        nh.write_notebook()
    git(repo, "commit", "-q", "-am", "bob 2")
    git(repo, "checkout", "-q", "main")
    with NotebookHistory.open(nb, author="alice") as nh:
        with nh.edit() as e:
            edits_alice(e.doc)
        nh.write_notebook()
    git(repo, "commit", "-q", "-am", "alice's edits")
    git(repo, "checkout", "-q", "feature")
    r = git(repo, "rebase", "main", check=False, trace=True)
    assert r.returncode == 0 and "CONFLICT" not in r.stdout + r.stderr, r.stdout + r.stderr
    assert "merged through the histories of both sides" in r.stderr
    merged = read(nb)
    nbformat.validate(merged)
    text = json.dumps(merged)
    for marker in ("latex test (bob)", "Added by bob", "<b>HTML, by alice</b>"):
        assert text.count(marker) == 1, marker
    with NotebookHistory.open(nb) as nh:
        assert not [c for c in nh.history.changes if c.kind == "disk"]
        n = len(nh.history)
    assert len(HistoryFile.read(sidecar_path(nb))) == n
    assert git(repo, "status", "--porcelain").stdout.strip() == ""


# -- the command git runs, and a linked .gitattributes ---------------------------------------------------


def path_without_command() -> str:
    """The PATH entries that hold no ``jupyter-crdt`` (git stays reachable)."""
    return os.pathsep.join(d for d in os.environ.get("PATH", "").split(os.pathsep)
                           if d and not (Path(d) / "jupyter-crdt").exists())


def fake_command(bin_dir: Path, log: Path) -> None:
    """A ``jupyter-crdt`` on PATH that runs this checkout's command line and logs each call."""
    bin_dir.mkdir()
    script = bin_dir / "jupyter-crdt"
    script.write_text(f"#!/bin/sh\necho \"$1\" >> '{log}'\n"
                      f"PYTHONPATH='{REPO}' exec '{sys.executable}' -m jupyter_crdt.cli \"$@\"\n")
    script.chmod(0o755)


def test_config_git_names_the_command_on_path_and_git_runs_it(tmp_path, data_dir):
    """The drivers are ``jupyter-crdt ...``, no path of this Python: a rebuilt environment keeps working."""
    calls = tmp_path / "calls.log"
    fake_command(tmp_path / "bin", calls)
    path = os.pathsep.join([str(tmp_path / "bin"), path_without_command()])
    repo = tmp_path / "repo"
    nb = copy_notebook(data_dir, NOTEBOOK, repo)
    git(repo, "init", "-q", "-b", "main")
    r = cli("config-git", cwd=repo, env={"PATH": path})
    assert r.returncode == 0, r.stderr
    assert "note:" not in r.stdout
    drivers = {key: git(repo, "config", key).stdout.strip() for key in (
        "merge.jupyter-crdt.driver", "merge.jupyter-crdt-history.driver", "diff.jupyter-crdt.command",
        "diff.jupyter-crdt-history.textconv")}
    assert drivers == {
        "merge.jupyter-crdt.driver": "jupyter-crdt git-merge-driver notebook %O %A %B %P",
        "merge.jupyter-crdt-history.driver": "jupyter-crdt git-merge-driver history %O %A %B %P",
        "diff.jupyter-crdt.command": "jupyter-crdt git-diff-driver",
        "diff.jupyter-crdt-history.textconv": "jupyter-crdt git-textconv-history",
    }
    with NotebookHistory.open(nb, author="owner") as nh:
        nh.write_notebook()
    git(repo, "add", "-A")
    git(repo, "commit", "-q", "-m", "base")
    for branch, edit, author in (("feature", edits_bob, "bob"), ("main", edits_alice, "alice")):
        git(repo, "checkout", "-q", *(["-b"] if branch == "feature" else []), branch)
        with NotebookHistory.open(nb, author=author) as nh:
            with nh.edit() as e:
                edit(e.doc)
            nh.write_notebook()
        git(repo, "commit", "-q", "-am", f"{author}'s edits")
    r = git(repo, "merge", "--no-edit", "feature", check=False, path=path)
    assert r.returncode == 0 and "CONFLICT" not in r.stdout + r.stderr, r.stdout + r.stderr
    check_merged(read(nb))
    assert "git-merge-driver" in calls.read_text().split()  # git ran the command by its name


def test_config_git_without_the_command_on_path_names_this_python(tmp_path):
    repo = tmp_path / "repo"
    repo.mkdir()
    git(repo, "init", "-q", "-b", "main")
    r = cli("config-git", cwd=repo, env={"PATH": path_without_command()})
    assert r.returncode == 0, r.stderr
    assert "note: jupyter-crdt is not on PATH" in r.stdout
    driver = git(repo, "config", "merge.jupyter-crdt.driver").stdout.strip()
    assert driver == f"{sys.executable} -m jupyter_crdt.cli git-merge-driver notebook %O %A %B %P"


def test_config_git_refuses_a_linked_gitattributes(tmp_path):
    """Never written through a link: the target elsewhere stays as it was, nothing is configured."""
    repo = tmp_path / "repo"
    repo.mkdir()
    git(repo, "init", "-q", "-b", "main")
    target = tmp_path / "elsewhere" / "attributes"
    target.parent.mkdir()
    target.write_text("*.txt text\n")
    (repo / ".gitattributes").symlink_to(target)
    r = cli("config-git", cwd=repo)
    assert r.returncode != 0
    assert "is a symbolic link; not writing through it" in r.stderr, r.stderr
    assert "Traceback" not in r.stderr and "inside a git repository" not in r.stderr
    assert target.read_text() == "*.txt text\n"
    assert (repo / ".gitattributes").is_symlink()
    assert git(repo, "config", "merge.jupyter-crdt.driver", check=False).returncode != 0
    # and the same for --disable: nothing is cleaned through the link either
    r = cli("config-git", "--disable", cwd=repo)
    assert r.returncode != 0 and target.read_text() == "*.txt text\n"
