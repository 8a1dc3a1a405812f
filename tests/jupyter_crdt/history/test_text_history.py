"""Text files' histories (issue 6): the notebook history format in ``.NAME.EXT.crdt``, with authors, read by
`jupyter crdt log/show`; old ``.NAME.crdtlog`` files are converted on open with nothing lost."""

from __future__ import annotations

import asyncio
import json

from crdt import Doc, HistoryFile
from jupyter_crdt.history import WRITTEN, LogStore, log_path, sidecar_path
from jupyter_crdt.history.text import TextHistory, convert_log

from .helpers import cli


def type_into(th: TextHistory, author: str, at: int, text: str) -> None:
    """``author`` types ``text`` at ``at``, one keystroke at a time, as a room records it."""
    doc = th.history.doc_at(th.main)
    doc.observe_updates(lambda u, o: th.record_update(u, author))
    for i, ch in enumerate(text):
        doc.get_text("source").insert(at + i, ch)


def test_text_history_records_authors_and_the_cli_reads_it(tmp_path):
    f = tmp_path / "notes.md"
    f.write_text("# Notes\nfirst line\n")
    twin = tmp_path / "twin.md"
    twin.write_text("# Notes\nfirst line\n")
    with TextHistory.open(f, author="server") as th, TextHistory.open(twin) as other:
        assert th.history.changes[0].hash == other.history.changes[0].hash  # same file, same start
        type_into(th, "ann", len("# Notes\n"), "ann's ")
        th.flush()
        type_into(th, "bob", len(th.text()), "bob was here\n")
        th.write_file()
    assert f.read_text() == "# Notes\nann's first line\nbob was here\n"
    assert sidecar_path(f).name == ".notes.md.crdt"
    authors = [c.author for c in HistoryFile.read(sidecar_path(f)).changes]
    assert authors == ["import", "ann", "bob"]

    r = cli("log", f)
    assert r.returncode == 0, r.stderr
    lines = r.stdout.splitlines()
    assert "bob" in lines[0] and "+13 characters in line 3" in lines[0]
    assert "ann" in lines[1] and "+6 characters in line 2" in lines[1]
    assert "file imported (19 characters)" in lines[2]
    entries = json.loads(cli("log", f, "--json").stdout)
    assert [e["author"] for e in entries] == ["bob", "ann", "import"]
    assert cli("show", f).stdout == f.read_text()
    assert cli("show", f, "--at", "HEAD~1").stdout == "# Notes\nann's first line\n"
    assert cli("show", f, "--at", entries[2]["hash"][:8]).stdout == "# Notes\nfirst line\n"
    r = cli("blame", f, "0")
    assert r.returncode == 2 and "log and show" in r.stderr

    f.write_text("# Notes\nann's first line\nbob was here\nedited in vim\n")  # another tool
    r = cli("log", f, "-n", "1")
    assert r.returncode == 0 and "disk" in r.stdout and "+14 characters in line 4" in r.stdout
    with TextHistory.open(f) as th:
        assert th.text() == f.read_text() and th.written == th.main


def test_a_text_file_while_its_history_is_written_by_another_process(tmp_path):
    """The reader sees the journaled keystrokes of the live writer (a server's room)."""
    f = tmp_path / "live.txt"
    f.write_text("")
    with TextHistory.open(f, author="server") as th:
        type_into(th, "zoe", 0, "typed live")
        th.flush_closed()
        assert th.writer.pending_journal
        r = cli("log", f)
        assert r.returncode == 0 and "zoe" in r.stdout and "+10 characters in line 1" in r.stdout
        assert cli("show", f).stdout == "typed live"


def write_old_log(path, edits: list[tuple[str, str]], saved_after: int) -> str:
    """A ``.crdtlog`` as the server used to write it: the file's content loaded (author ``disk``), then one
    update per edit; ``saved_after``: how many records the file on disk holds. Returns its session id."""
    store = LogStore(log_path(str(path)))
    store.load()
    doc = Doc(gc=False)
    ups: list[bytes] = []
    doc.observe_updates(lambda u, o: ups.append(u))
    text = doc.get_text("source")
    text.insert(0, path.read_text())
    store.set_base(ups[-1])
    store.append(ups[-1], "disk")
    for author, s in edits:
        text.insert(len(text), s)
        store.append(ups[-1], author)
        if len(store.records()) == saved_after:
            store.mark_saved(store.position(), "digest")
    asyncio.run(store.flush())
    store.close()
    return store.session_id


def test_an_old_crdtlog_is_converted_with_nothing_lost(tmp_path):
    f = tmp_path / "old.txt"
    f.write_text("start\n")
    session = write_old_log(f, [("ann", "a"), ("ann", "b"), ("bob", "c"), ("ann", "d")], saved_after=4)
    f.write_text("start\nabc")  # saved after bob's edit; ann's "d" was not saved yet
    assert convert_log(f)
    assert not (tmp_path / ".old.txt.crdtlog").exists() and sidecar_path(f).exists()
    assert HistoryFile.read_header(sidecar_path(f))["session_id"] == session  # clients are recognised
    history = HistoryFile.read(sidecar_path(f))
    assert [c.author for c in history.changes] == ["disk", "ann", "bob", "ann"]
    assert str(history.doc_at(history.branch("main")).get_text("source")) == "start\nabcd"
    assert str(history.doc_at(history.branch(WRITTEN)).get_text("source")) == "start\nabc"
    assert not convert_log(f)  # once only

    g = tmp_path / "viacli.txt"
    g.write_text("x")
    write_old_log(g, [("carol", "y")], saved_after=2)
    g.write_text("xy")
    r = cli("log", g)  # reading converts it too (when no server holds the old log)
    assert r.returncode == 0 and "carol" in r.stdout, r.stderr
    assert not (tmp_path / ".viacli.txt.crdtlog").exists()
