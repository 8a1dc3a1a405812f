"""Done-when 4: versions. ``show --at`` every change, ``restore`` then ``log``, ``blame``, ``diff``."""

from __future__ import annotations

import json

import pytest

from jupyter_crdt.history import NotebookHistory, notebook_text

from .helpers import cli, copy_notebook, delete_cell, insert_cell, replace_in_source, run_cell

NOTEBOOK = "ipython/Capturing_Output.ipynb"


@pytest.fixture
def session(tmp_path, data_dir):
    """A recorded session: (notebook path, [(change hash, author, notebook text right after it)])."""
    nb = copy_notebook(data_dir, NOTEBOOK, tmp_path)
    steps = []
    t = 1_700_000_000.0
    with NotebookHistory.open(nb, author="alice") as nh:
        steps.append((nh.history.changes[0].hash, "import", notebook_text(nh.notebook())))

        def step(author, edit, **kw):
            nonlocal t
            t += 60
            with nh.edit(author, time=t, **kw) as e:
                edit(e.doc)
            assert e.change is not None
            steps.append((e.change.hash, author, notebook_text(nh.notebook())))

        step("alice", lambda d: replace_in_source(d, "import sys", "import sys",
                                                  "import sys\nimport os  # alice"))
        step("bob", lambda d: replace_in_source(d, "import sys", "import os  # alice",
                                                "import os  # alice, bob"))
        step("bob", lambda d: insert_cell(d, 3, "markdown", "A note by **bob**.", "bob-note"))
        step("alice", lambda d: run_cell(d, "captured()", "hi, stdout\n", 42))
        step("alice", lambda d: delete_cell(d, "cap.outputs"))
        step("bob", lambda d: d.get_array("cells")[0].get("metadata").set("tags", ["title"]))
        step("alice", lambda d: d.get_map("meta").get("metadata").set("authors", [{"name": "alice"}]),
             message="credit")
        # bookkeeping only (the server's state): recorded, hidden from log
        with nh.edit("server", time=t + 1) as e:
            e.doc.get_map("state").set("dirty", True)
        assert e.change is not None
        nh.write_notebook()
    return nb, steps


def test_show_at_every_change(session):
    nb, steps = session
    for h, _, expected in steps:
        r = cli("show", nb, "--at", h[:10])
        assert r.returncode == 0, r.stderr
        assert r.stdout == expected, f"show --at {h[:10]} differs"
    # HEAD~N counts the changes log shows
    r = cli("show", nb, "--at", "HEAD~2")
    assert r.returncode == 0 and r.stdout == steps[-3][2]


def test_log_restore_diff(session, tmp_path):
    nb, steps = session
    r = cli("log", nb, "--json")
    log = json.loads(r.stdout)
    assert [e["hash"] for e in log] == [h for h, _, _ in reversed(steps)]  # newest first, bookkeeping hidden
    assert [e["author"] for e in log] == [a for _, a, _ in reversed(steps)]
    assert log[0]["message"] == "credit" and log[0]["notebook"] == ["metadata.authors"]
    assert log[-1]["kind"] == "import"
    r = cli("log", nb, "--all", "--json")
    assert json.loads(r.stdout)[0]["bookkeeping_only"] is True
    r = cli("log", nb, "--group")
    assert r.returncode == 0 and "(2 changes)" in r.stdout  # bob's two consecutive edits

    target_hash, _, target_text = steps[3]
    r = cli("restore", nb, target_hash[:8], "--author", "carol")
    assert r.returncode == 0, r.stderr
    assert nb.read_text() == target_text
    log = json.loads(cli("log", nb, "--json").stdout)
    assert log[0]["kind"] == "restore" and log[0]["author"] == "carol"
    assert target_hash[:12] in log[0]["message"]
    assert len(log) == len(steps) + 1  # nothing rewritten

    r = cli("diff", nb, "--json")  # the newest change: the restore
    d = json.loads(r.stdout)
    ops = {c["op"] for c in d["cells"]}
    assert {"added", "modified"} <= ops  # the deleted cell comes back, the run's outputs go
    assert d["metadata"] == ["authors"]
    r = cli("diff", nb, steps[0][0][:8], steps[2][0][:8], "--no-color")
    assert "+import os  # alice, bob" in r.stdout and "@@" in r.stdout


def test_blame(session):
    nb, steps = session
    r = cli("blame", nb, "2", "--json")
    assert r.returncode == 0, r.stderr
    lines = json.loads(r.stdout)["lines"]
    by_text = {ln["text"]: ln for ln in lines}
    assert by_text["from __future__ import print_function"]["author"] == "import"
    assert by_text["import sys"]["author"] == "import"  # alice only added the newline after it
    assert [r["author"] for r in by_text["import sys"]["runs"]] == ["import", "alice"]
    line = by_text["import os  # alice, bob"]
    assert line["author"] == "bob" and line["authors"] == ["alice", "bob"]
    runs = [(run["text"], run["author"]) for run in line["runs"]]
    assert runs == [("import os  # alice", "alice"), (", bob", "bob"), ("\n", "alice")] or \
        runs == [("import os  # alice", "alice"), (", bob", "bob")]
    r = cli("blame", nb, "bob-note")
    assert r.returncode == 0 and "bob" in r.stdout and "A note by **bob**." in r.stdout
    r = cli("blame", nb, "no-such-cell")
    assert r.returncode == 2 and "no cell" in r.stderr
