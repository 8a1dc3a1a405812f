"""Done-when 5 (the history side): two authors type into one line of one cell, keystroke by keystroke.

The browsers are two documents; the server's part is played by ``NotebookHistory.record_update`` (what a
room calls for every accepted update) and by applying each update to the other browser (the broadcast).
"""

from __future__ import annotations

import json

from crdt import Doc, HistoryFile
from jupyter_crdt.history import NotebookHistory, sidecar_path

from .helpers import cli, copy_notebook

NOTEBOOK = "nbformat/test4.5.ipynb"
CELL = "38f37a24"  # 'from __future__ import annotations\n\nprint("hello")'


def source(doc: Doc):
    for m in doc.get_array("cells"):
        if m.get("id") == CELL:
            return m.get("source")
    raise AssertionError("cell not found")


def test_alternate_typing(tmp_path, data_dir):
    nb = copy_notebook(data_dir, NOTEBOOK, tmp_path)
    alice_keys, bob_keys = "ALICE-TYPES", "bob~types~"
    t = 1_700_000_000.0
    expected: list[tuple[str, str]] = []  # (author, source after the keystroke)
    with NotebookHistory.open(nb, author="server") as nh:
        start = nh.history.update_at(nh.main)
        browsers = {"alice": Doc(gc=False), "bob": Doc(gc=False)}
        for d in browsers.values():
            d.apply_update(start)
        sent: list[bytes] = []
        for d in browsers.values():
            d.observe_updates(lambda u, o, sent=sent: sent.append(u) if o != "remote" else None)

        def keystroke(author: str, ch: str) -> None:
            nonlocal t
            t += 0.15  # fast typing: within the grouping idle time
            doc = browsers[author]
            text = source(doc)
            line_end = len(str(text))  # the end of the last line: both type into it
            text.insert(line_end, ch)
            update = sent.pop()
            nh.record_update(update, author, time=t)  # the room: append to the history...
            other = browsers["bob" if author == "alice" else "alice"]
            other.apply_update(update, origin="remote")  # ...then broadcast
            expected.append((author, str(text)))

        for a, b in zip(alice_keys, bob_keys, strict=False):
            keystroke("alice", a)
            keystroke("bob", b)
        keystroke("alice", alice_keys[-1])
        for ch in "!!!":  # a burst by one author is one change
            keystroke("alice", ch)
        nh.flush()
        assert str(source(nh.doc)) == expected[-1][1] == str(source(browsers["bob"]))
        nh.write_notebook()

    history = HistoryFile.read(sidecar_path(nb))  # as a later reader sees it
    typed = [c for c in history.changes if c.author in ("alice", "bob")]
    assert [c.author for c in typed] == ["alice", "bob"] * len(bob_keys) + ["alice"]
    # every recorded version rebuilds from the file with nothing pending, and is what was typed so far
    checkpoints = [e for e in expected[: 2 * len(bob_keys)]] + [expected[-1]]
    for c, (author, text) in zip(typed, checkpoints, strict=True):
        doc = history.doc_at(c.hash)
        assert not doc.pending, f"version {c.short} left structs pending"
        assert str(source(doc)) == text
        assert c.author == author
    for v in [history.heads, history.branch("main"), history.branch("written")]:
        assert not history.doc_at(v).pending

    # blame: each typed character's author
    r = cli("blame", nb, CELL, "--json")
    assert r.returncode == 0, r.stderr
    lines = json.loads(r.stdout)["lines"]
    last = lines[-1]
    chars = [(ch, run["author"]) for run in last["runs"] for ch in run["text"]]
    typed_chars = chars[len('print("hello")'):]
    want = []
    for a, b in zip(alice_keys, bob_keys, strict=False):
        want += [(a, "alice"), (b, "bob")]
    want += [(alice_keys[-1], "alice")] + [("!", "alice")] * 3
    assert typed_chars == want
    assert all(author == "import" for _, author in chars[: len('print("hello")')])
    assert last["authors"] == ["import", "alice", "bob"]
