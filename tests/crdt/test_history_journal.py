"""Journal records in history files (``docs/file-format.md``): accepted updates made durable one by one
before the grouper closes their change; they survive a reopen (handed back as ``pending_journal``), a torn
tail loses only the record being written, the change that covers them supersedes them and compaction drops
them; version 1 files stay readable and are upgraded when first journaled to. Typing the automerge-paper
trace with per-keystroke journaling and default grouping keeps the file within the size bound.
"""

from __future__ import annotations

import gzip
import json

import msgpack
import pytest

import crdt
from crdt.history import ChangeGrouper
from crdt.history_file import JOURNAL, MAGIC, VERSION, HistoryFile
from crdt.history_file.codec import frame as _frame

T0 = 1_700_000_000.0


class Typist:
    """One author typing into a Text; every update journaled, then grouped (as a server does)."""

    def __init__(self, path, *, clock=None, **options):
        self.clock = clock if clock is not None else [T0]
        self.history, self.writer = HistoryFile.open(path, **options)
        self.grouper = ChangeGrouper(self.history, clock=lambda: self.clock[0], on_change=self._changed)
        for e in self.writer.pending_journal:
            self.grouper.add(e.update, e.author, time=e.time, kind=e.kind, tag=e.seq)
        self.doc = self.history.doc_at(self.history.branch("main"), client_id=7)
        self.doc.gc = False
        for e in self.writer.pending_journal:
            self.doc.apply_update(e.update)
        self.text = self.doc.get_text("t")
        self.doc.observe_updates(self._update)

    def _update(self, update, origin):
        seq = self.writer.journal(update, "ann", self.clock[0])
        self.grouper.add(update, "ann", tag=seq)

    def _changed(self, change):
        self.writer.cover(change, max(self.grouper.closed_tags))
        self.writer.append()

    def type(self, s, pos=None, dt=0.2):
        for ch in s:
            self.clock[0] += dt
            self.text.insert(len(self.text) if pos is None else pos, ch)


def journal_frames(data: bytes) -> list[tuple[int, int]]:
    out, pos = [], len(MAGIC)
    while pos + 12 <= len(data):
        n = int.from_bytes(data[pos : pos + 4], "little")
        end = pos + 12 + n
        if end > len(data):
            break
        rec = msgpack.unpackb(data[pos + 12 : end], raw=False)
        if isinstance(rec, list) and rec[0] == JOURNAL:
            out.append((pos, end))
        pos = end
    return out


def text_of(path) -> str:
    h, w = HistoryFile.open(path)
    doc = h.doc_at(h.branch("main"))
    for e in w.pending_journal:
        doc.apply_update(e.update)
    w.close()
    return doc.get_text("t").to_py()


def test_journal_records_survive_reopen(tmp_path):
    path = tmp_path / "h"
    t = Typist(path)
    t.type("hello")  # 5 journal records, no change closed yet (no idle gap)
    assert len(t.history) == 0 and len(t.writer.pending_journal) == 5
    t.writer.close()  # as if the process died: the open group was never recorded
    h, w = HistoryFile.open(path)
    pending = w.pending_journal
    assert [e.seq for e in pending] == [1, 2, 3, 4, 5]
    assert all(e.author == "ann" for e in pending) and len(h) == 0
    w.close()
    assert text_of(path) == "hello"
    # grouping goes on: the reopened typist adds to the same group, then one change covers everything
    t = Typist(path, clock=[T0 + 1.0])
    t.type(" world")
    t.grouper.flush()
    assert len(t.history) == 1 and t.writer.pending_journal == []
    t.writer.close()
    h, w = HistoryFile.open(path)
    assert w.pending_journal == [] and len(h) == 1
    assert h.doc_at(h.branch("main")).get_text("t").to_py() == "hello world"
    w.close()


def test_change_supersedes_its_journal_records_and_compaction_drops_them(tmp_path):
    path = tmp_path / "h"
    t = Typist(path)
    t.type("abc")
    t.clock[0] += 60  # idle gap: the next keystroke closes "abc"
    t.type("d")
    assert len(t.history) == 1
    assert [e.seq for e in t.writer.pending_journal] == [4]
    t.writer.close()
    data = path.read_bytes()
    assert len(journal_frames(data)) == 4  # still in the file, superseded
    h, w = HistoryFile.open(path)
    assert [e.seq for e in w.pending_journal] == [4]
    w.compact()
    assert [e.seq for e in w.pending_journal] == [4]
    w.close()
    assert len(journal_frames(path.read_bytes())) == 1  # only the pending one is kept
    assert text_of(path) == "abcd"
    h, w = HistoryFile.open(path)
    assert w.journal(b"\x00\x00", "bob", T0) == 5  # numbering goes on after the pending record
    w.close()


def test_torn_journal_record_loses_only_that_record(tmp_path):
    path = tmp_path / "h"
    t = Typist(path)
    t.type("xyz")
    t.writer.close()
    data = path.read_bytes()
    start, end = journal_frames(data)[-1]
    assert end == len(data)
    for cut in range(start + 1, end):
        path.write_bytes(data[:cut])
        h, w = HistoryFile.open(path)  # a torn tail: repaired, not damage
        assert [e.seq for e in w.pending_journal] == [1, 2]
        w.close()
        assert path.stat().st_size == start
    assert text_of(path) == "xy"


def test_journal_upgrades_a_version_1_file(tmp_path):
    path = tmp_path / "h"
    h, w = HistoryFile.open(path)
    doc = crdt.Doc(client_id=3)
    doc.get_text("t").insert(0, "v1")
    h.record(doc.encode_state_as_update(), "ann", time=T0)
    w.close()
    data = path.read_bytes()  # rewrite the header as version 1 wrote it
    n = int.from_bytes(data[8:12], "little")
    header = msgpack.unpackb(data[20 : 20 + n], raw=False)
    assert header["version"] == VERSION == 2
    header["version"] = 1
    path.write_bytes(MAGIC + _frame(msgpack.packb(header, use_bin_type=True)) + data[20 + n :])
    assert HistoryFile.read_header(path)["version"] == 1
    assert len(HistoryFile.read(path)) == 1  # old files stay readable
    h, w = HistoryFile.open(path)
    assert w.journal(b"\x00\x00", "ann", T0) == 1
    w.close()
    assert HistoryFile.read_header(path)["version"] == 2
    h, w = HistoryFile.open(path)
    assert len(h) == 1 and [e.seq for e in w.pending_journal] == [1]
    w.close()


EDITS = 4000


def test_trace_with_per_keystroke_journaling_stays_small(tmp_path, data_dir):
    """The automerge-paper trace prefix typed as in ``benchmarks/history_size.py`` (5 edits/s, a 10 s pause
    every 200), every keystroke journaled and synced: the file stays within 2x Yjs's full state."""
    with gzip.open(data_dir / "traces" / "automerge-paper.json.gz", "rt", encoding="utf-8") as f:
        trace = json.load(f)
    patches = [p for txn in trace["txns"] for p in txn["patches"]][:EDITS]
    path = tmp_path / "paper.history"
    t = Typist(path, durable=False)
    for i, (pos, delete, insert) in enumerate(patches):
        if i and i % 200 == 0:
            t.clock[0] += 10.0
        t.clock[0] += 0.2
        with t.doc.transact():
            if delete:
                t.text.delete(pos, delete)
            if insert:
                t.text.insert(pos, insert)
    t.grouper.flush()
    changes = len(t.history)
    assert changes <= EDITS // 200 + 1, changes  # grouped, not one change per keystroke
    assert t.writer.pending_journal == []
    t.writer.close()
    full = len(t.doc.encode_state_as_update())
    size = path.stat().st_size
    assert size <= 2 * full, (size, full)
    assert text_of(path) == t.text.to_py()


@pytest.mark.parametrize("durable", [True])
def test_journal_is_synced_when_durable(tmp_path, durable, monkeypatch):
    import crdt.history_file.disk as hf

    synced = []
    monkeypatch.setattr(hf, "sync", lambda fd: synced.append(fd))
    h, w = HistoryFile.open(tmp_path / "h", durable=durable)
    before = len(synced)
    w.journal(b"\x00\x00", "ann", T0)
    assert len(synced) == before + 1
    w.close()


def test_readers_see_journaled_updates_as_provisional_changes(tmp_path):
    """A reader of a file whose writer is live sees every journaled (acknowledged) update, grouped the way
    the writer will group them; ``journal=False`` reads the written changes only."""
    path = tmp_path / "h.crdt"
    t = Typist(path)
    t.type("hello")
    t.clock[0] += 60.0  # an idle gap: the next keystroke closes and writes the first change
    t.type(" world")  # journaled, its change still open
    assert len(t.writer.pending_journal) == len(" world")
    written = HistoryFile.read(path, journal=False)
    assert len(written) == 1 and str(written.doc_at(written.branch("main")).get_text("t")) == "hello"
    seen = HistoryFile.read(path)
    assert len(seen) == 2  # the open change, provisional: one change like the writer's grouper makes
    assert str(seen.doc_at(seen.branch("main")).get_text("t")) == "hello world"
    assert [e.seq for e in HistoryFile.read_journal(path)] == [e.seq for e in t.writer.pending_journal]
    assert HistoryFile.parse(path.read_bytes()) == seen
    t.grouper.flush()
    assert HistoryFile.read(path) == t.history  # once written, the provisional change is the real one
    t.writer.close()
