"""Per-keystroke durability without per-keystroke changes: ``NotebookHistory.record_update`` journals every
update in the sidecar (synced) before it returns, while the grouper still makes few changes; a writer killed
with SIGKILL loses nothing it had journaled, and the next open groups the journaled updates again."""

from __future__ import annotations

import json
import os
import selectors
import signal
import subprocess
import sys
import time
from pathlib import Path

from crdt import HistoryFile
from jupyter_crdt.history import NotebookHistory

from .helpers import cells, copy_notebook

REPO = Path(__file__).resolve().parents[3]
NOTEBOOK = "jupyterlab/example.ipynb"


def source(doc):
    return cells(doc)[0].get("source")


def test_per_keystroke_journaling_keeps_changes_grouped(tmp_path, data_dir):
    nb = copy_notebook(data_dir, NOTEBOOK, tmp_path)
    clock = [1_700_000_000.0]
    with NotebookHistory.open(nb, author="ann") as nh:
        nh._grouper.clock = lambda: clock[0]
        start = len(nh.history)
        doc = nh.doc
        doc.observe_updates(lambda u, o: nh.record_update(u, "ann", apply=False) if o != "history" else None)
        size0 = nh.writer.size
        for _burst in range(3):
            for ch in "typing one key at a time " * 4:
                clock[0] += 0.2
                before = nh.writer.size
                source(doc).insert(len(source(doc)), ch)
                assert nh.writer.size > before  # journaled (and synced) as it was recorded
                nh.flush_closed()  # what the server does before acking: never cuts the change short
            clock[0] += 30.0  # an idle gap
            nh.flush_closed()
        assert nh.writer.size > size0
        typed = str(source(doc))
        assert len(nh.history) - start == 3  # one change per burst, not one per keystroke
        assert nh.writer.pending_journal == []
    with NotebookHistory.open(nb, author="ann") as nh:
        assert str(source(nh.doc)) == typed
        assert len(nh.history) - start == 3


CHILD = r"""
import sys
from jupyter_crdt.history import NotebookHistory
nb = sys.argv[1]
nh = NotebookHistory.open(nb, author="ann", sync=False)
doc = nh.doc
text = doc.get_array("cells")[0].get("source")
doc.observe_updates(lambda u, o: nh.record_update(u, "ann", apply=False) if o != "history" else None)
print("ready", len(text), flush=True)
i = 0
while True:
    text.insert(len(text), "abcdefghij"[i % 10])
    i += 1
    nh.flush_closed()
    print(len(text), flush=True)  # journaled: what a server would acknowledge now
"""


def test_sigkill_loses_nothing_journaled(tmp_path, data_dir):
    nb = copy_notebook(data_dir, NOTEBOOK, tmp_path)
    with NotebookHistory.open(nb, author="ann") as nh:
        before = str(source(nh.doc))
        start = len(nh.history)
    proc = subprocess.Popen([sys.executable, "-c", CHILD, str(nb)], cwd=REPO, stdout=subprocess.PIPE,
                            stderr=subprocess.PIPE, env=dict(os.environ, PYTHONPATH=str(REPO)))
    sel = selectors.DefaultSelector()
    sel.register(proc.stdout, selectors.EVENT_READ)
    buf = b""
    deadline = time.monotonic() + 120
    while buf.count(b"\n") < 60 and time.monotonic() < deadline:
        if sel.select(timeout=1):
            chunk = os.read(proc.stdout.fileno(), 65536)
            assert chunk, proc.stderr.read().decode()
            buf += chunk
    proc.send_signal(signal.SIGKILL)
    proc.wait(timeout=30)
    buf += proc.stdout.read()
    sel.close()
    proc.stdout.close()
    proc.stderr.close()
    assert proc.returncode == -signal.SIGKILL
    lines = [x for x in buf.decode().split("\n")[1:] if x.strip()]
    acked = max(int(x) for x in lines)
    assert acked - len(before) >= 59
    # the typing never paused, so no change was written: everything is in the journal
    _, w = HistoryFile.open(nh.sidecar)
    assert len(w.pending_journal) >= acked - len(before)
    w.close()
    with NotebookHistory.open(nb, author="ann", sync=False) as nh:
        text = str(source(nh.doc))
        assert len(text) >= acked and text.startswith(before)
        assert text[len(before) : acked] == "".join("abcdefghij"[i % 10] for i in range(acked - len(before)))
        nh.flush()
        assert len(nh.history) - start == 1  # the journaled keystrokes, grouped again into one change
        assert nh.writer.pending_journal == []
    with NotebookHistory.open(nb, author="ann", sync=False) as nh:
        assert str(source(nh.doc)) == text


def test_cli_shows_journaled_edits_of_a_live_writer(tmp_path, data_dir):
    """While a writer (a server's room) holds the sidecar, `jupyter crdt log/show/blame` show the edits it
    acknowledged (journaled) even though their change is not written yet."""
    from .helpers import cli

    nb = copy_notebook(data_dir, NOTEBOOK, tmp_path)
    with NotebookHistory.open(nb, author="server", sync=False) as nh:
        doc = nh.history.doc_at(nh.main)
        doc.observe_updates(lambda u, o: nh.record_update(u, "zoe") if o != "history" else None)
        for ch in "LIVE-EDIT":
            source(doc).insert(len(source(doc)), ch)
        nh.flush_closed()  # what the room does before acknowledging: the change stays open
        assert len(nh.writer.pending_journal) == len("LIVE-EDIT")
        assert not any(c.author == "zoe" for c in HistoryFile.read(nh.sidecar, journal=False).changes)
        r = cli("log", nb, "--json")
        assert r.returncode == 0, r.stderr
        assert "Traceback" not in r.stderr  # read without the lock (reads never take it)
        entries = json.loads(r.stdout)
        assert entries[0]["author"] == "zoe"
        r = cli("show", nb)
        assert r.returncode == 0 and "LIVE-EDIT" in "".join(json.loads(r.stdout)["cells"][0]["source"])
        r = cli("blame", nb, "0", "--json")
        assert r.returncode == 0 and "zoe" in json.loads(r.stdout)["lines"][-1]["authors"]
