"""Done-when 1: a notebook with history copied to two folders, edited apart, then ``jupyter crdt merge``."""

from __future__ import annotations

import json
import shutil
import warnings

import nbformat
import pytest

from crdt import HistoryFile
from jupyter_crdt.history import NotebookHistory, sidecar_path

from .helpers import cli, copy_notebook, delete_cell, insert_cell, open_history, replace_in_source, run_cell

NOTEBOOK = "tkseem/Poetry_Classification.ipynb"  # nbformat 4.4: no cell ids in the file
# every edit leaves a unique marker; the merged notebook must hold each exactly once
ALICE = ["alice-A1", "alice-A2", "alice-A3"]
BOB = ["bob-B1", "bob-B2", "bob-B3"]
DELETED = ["!wget https://raw.githubusercontent.com", "### Test"]
RERUN = 'classify("ما تردون'


def edit_alice(path):
    with open_history(path, "alice") as nh:
        with nh.edit("alice") as e:
            replace_in_source(e.doc, "import tensorflow as tf", "import tensorflow as tf",
                              "import tensorflow as tf  # alice-A1")
        with nh.edit("alice") as e:
            replace_in_source(e.doc, "tk.CharacterTokenizer()", "CharacterTokenizer()",
                              "WordTokenizer()  # alice-A2")
        with nh.edit("alice") as e:
            insert_cell(e.doc, 1, "markdown", "Notes from alice-A3: try a word tokenizer.", "alice-cell")
        with nh.edit("alice") as e:
            delete_cell(e.doc, DELETED[0])
        with nh.edit("alice") as e:
            run_cell(e.doc, RERUN, "alice-run: الطويل\n", 21)
        nh.write_notebook()


def edit_bob(path):
    with open_history(path, "bob") as nh:
        with nh.edit("bob") as e:
            replace_in_source(e.doc, "import tensorflow as tf", "import numpy as np",
                              "import numpy as np  # bob-B1")
        with nh.edit("bob") as e:
            replace_in_source(e.doc, "max_length = max(", "max_length = ", "max_length = 1 + ")
        with nh.edit("bob") as e:
            replace_in_source(e.doc, "max_length = ", "for sent in X_train)",
                              "for sent in X_train)  # bob-B2")
        with nh.edit("bob") as e:
            n = len(e.doc.get_array("cells"))
            insert_cell(e.doc, n, "code", "print('bob-B3')", "bob-cell")
        with nh.edit("bob") as e:
            delete_cell(e.doc, DELETED[1])
        with nh.edit("bob") as e:
            run_cell(e.doc, RERUN, "bob-run: البسيط\n", 22)
        nh.write_notebook()


@pytest.fixture
def two_copies(tmp_path, data_dir):
    """``orig/`` with a history, copied to ``a/`` (alice edits) and ``b/`` (bob edits); copies of both."""
    nb = copy_notebook(data_dir, NOTEBOOK, tmp_path / "orig")
    with NotebookHistory.open(nb, author="owner") as nh:
        assert nh.created
        nh.write_notebook()
    shutil.copytree(tmp_path / "orig", tmp_path / "a")
    shutil.copytree(tmp_path / "orig", tmp_path / "b")
    edit_alice(tmp_path / "a" / "nb.ipynb")
    edit_bob(tmp_path / "b" / "nb.ipynb")
    shutil.copytree(tmp_path / "a", tmp_path / "a0")
    shutil.copytree(tmp_path / "b", tmp_path / "b0")
    return tmp_path


def read(path):
    with warnings.catch_warnings():
        warnings.simplefilter("ignore")
        return nbformat.read(str(path), as_version=4)


def sources(nb) -> list[str]:
    return ["".join(c["source"]) for c in nb["cells"]]


def rerun_cell(nb):
    (cell,) = [c for c in nb["cells"] if RERUN in "".join(c["source"])]
    return cell


def test_offline_merge(two_copies):
    a, b = two_copies / "a" / "nb.ipynb", two_copies / "b" / "nb.ipynb"
    r = cli("merge", a, b)
    assert r.returncode == 0, r.stdout + r.stderr
    merged = read(a)
    nbformat.validate(merged)
    text = json.dumps(merged, ensure_ascii=False)
    for marker in ALICE + BOB:
        assert text.count(marker) == 1, f"{marker} appears {text.count(marker)} times"
    assert "max_length = 1 + max(" in text
    for gone in DELETED:
        assert gone not in text
    srcs = sources(merged)
    assert srcs[1].startswith("Notes from alice-A3") and srcs[-1] == "print('bob-B3')"
    imports = next(s for s in srcs if "import tkseem" in s)
    assert "import tensorflow as tf  # alice-A1\n" in imports and "import numpy as np  # bob-B1\n" in imports
    # the cell both re-ran holds one side's outputs and count, never both
    cell = rerun_cell(merged)
    outs = [o.get("text") for o in cell["outputs"]]
    assert (outs, cell["execution_count"]) in ((["alice-run: الطويل\n"], 21), (["bob-run: البسيط\n"], 22))
    assert len(merged["cells"]) == len(read(two_copies / "orig" / "nb.ipynb")["cells"])  # +2 -2

    # log shows both authors' changes (and the merge)
    r = cli("log", a, "--json")
    assert r.returncode == 0, r.stderr
    log = json.loads(r.stdout)
    authors = {e["author"] for e in log}
    assert {"alice", "bob", "import"} <= authors
    assert "disk" not in authors  # the file is the projection of the merged history
    assert any(e["kind"] == "merge" for e in log)  # the outputs rule, recorded as a change

    # merging again is a no-op
    before_nb, before_hist = a.read_bytes(), len(HistoryFile.read(sidecar_path(a)))
    r = cli("merge", a, b)
    assert r.returncode == 0, r.stderr
    assert "already up to date" in r.stdout
    assert a.read_bytes() == before_nb and len(HistoryFile.read(sidecar_path(a))) == before_hist

    # merging in the other direction (the copies as they were before) gives the same notebook
    b0 = two_copies / "b0" / "nb.ipynb"
    r = cli("merge", b0, two_copies / "a0" / "nb.ipynb")
    assert r.returncode == 0, r.stderr
    assert b0.read_bytes() == a.read_bytes()
    assert HistoryFile.read(sidecar_path(b0)).heads == HistoryFile.read(sidecar_path(a)).heads

    # and bringing the merged copy into b fast-forwards b to the same notebook
    r = cli("merge", b, a)
    assert r.returncode == 0, r.stderr
    assert b.read_bytes() == a.read_bytes()


def test_merge_to_output_leaves_both_copies(two_copies):
    a, b = two_copies / "a" / "nb.ipynb", two_copies / "b" / "nb.ipynb"
    out = two_copies / "merged.ipynb"
    a_before, b_before = a.read_bytes(), b.read_bytes()
    r = cli("merge", a, b, "-o", out)
    assert r.returncode == 0, r.stderr
    assert a.read_bytes() == a_before and b.read_bytes() == b_before
    assert sidecar_path(out).exists()
    with NotebookHistory.open(out) as nh:  # the output is the projection of its history: nothing recorded
        assert not [c for c in nh.history.changes if c.kind == "disk"]
    text = out.read_text()
    assert all(text.count(m) == 1 for m in ALICE + BOB)


def test_three_way_without_histories(tmp_path, data_dir):
    """Plain copies (no sidecars) merge three-way with --base; without a base the command asks for one."""
    base = copy_notebook(data_dir, NOTEBOOK, tmp_path / "base")
    a = copy_notebook(data_dir, NOTEBOOK, tmp_path / "a")
    b = copy_notebook(data_dir, NOTEBOOK, tmp_path / "b")
    for path, old, new in ((a, "import numpy as np", "import numpy as np  # A"),
                           (b, "import tnkeeh as tn", "import tnkeeh as tn  # B")):
        nb = read(path)
        for c in nb.cells:
            c.source = c.source.replace(old, new)
        nbformat.write(nb, str(path))
    r = cli("merge", a, b)
    assert r.returncode == 2 and "--base" in r.stderr
    r = cli("merge", a, b, "--base", base)
    assert r.returncode == 0, r.stderr
    text = a.read_text()
    assert text.count("# A") == 1 and text.count("# B") == 1
