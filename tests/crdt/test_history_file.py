"""History files (``docs/file-format.md``): round trips, checkpoints and compaction, torn tails (cut at
every byte of the last record: loaded without it, then repaired), damage in the middle (refused, naming
file and offset, file untouched), the writer lock, and crashes (a writer and a compaction killed with
SIGKILL at random moments).
"""

from __future__ import annotations

import os
import random
import selectors
import signal
import struct
import subprocess
import sys
import time
from pathlib import Path

import msgpack
import pytest

import crdt
from crdt.history import History
from crdt.history_file import (
    MAGIC,
    HistoryFile,
    HistoryFileError,
    HistoryLockedError,
)

REPO = Path(__file__).resolve().parents[2]
T0 = 1_700_000_000.0
_rng = random.Random(0)
PASTE = "".join(_rng.choice("abcdefghijklmnopqrstuvwxyz \n") for _ in range(5000))  # barely compressible


# -- helpers ----------------------------------------------------------------------------------------


def frames(data: bytes) -> list[tuple[int, int]]:
    """(start, end) of every frame after the magic; the first is the header."""
    out = []
    pos = len(MAGIC)
    while pos + 12 <= len(data):
        (n,) = struct.unpack_from("<I", data, pos)
        out.append((pos, pos + 12 + n))
        pos += 12 + n
    return out


def record_kind(data: bytes, frame: tuple[int, int]) -> int:
    payload = msgpack.unpackb(data[frame[0] + 12 : frame[1]], raw=False)
    return payload[0] if isinstance(payload, list) else -1


class Typist:
    """Types into a document and records each edit into a history."""

    def __init__(self, history: History, client: int, author: str) -> None:
        self.history = history
        self.doc = history.doc_at(history.branch("main"), client_id=client)
        self.text = self.doc.get_text("t")
        self.author = author
        self.n = 0

    def type(self, s: str, **kw) -> crdt.history.Change:
        sv = self.doc.encode_state_vector()
        self.text.insert(len(self.text) // 2, s)
        if self.n % 3 == 2:
            self.text.delete(0, 1)
        self.n += 1
        return self.history.record(
            self.doc.encode_state_as_update(sv), self.author, time=T0 + self.n, **kw
        )


def write_sample(path: Path, n: int = 12, big: bool = True, **options) -> History:
    """A file with ``n`` changes by two authors (one big when ``big``), a branch, meta and messages."""
    history, writer = HistoryFile.open(path, session_id="s-1", **options)
    alice = Typist(history, 1, "alice")
    for i in range(n):
        if big and i == n // 2:
            alice.type(PASTE, kind="disk", message="big paste", meta={"cells": [1, 2], "n": i})
        else:
            alice.type(f"<{i}>", meta={"i": i} if i % 4 == 0 else None)
        if i == 3:
            history.create_branch("draft")
        writer.append()
    writer.close()
    return history


def assert_same(a: History, b: History) -> None:
    assert a == b
    for x, y in zip(a.changes, b.changes, strict=True):
        assert (x.hash, x.deps, x.author, x.time, x.kind, x.message, dict(x.meta), x.update) == (
            y.hash, y.deps, y.author, y.time, y.kind, y.message, dict(y.meta), y.update
        )


def text_of(h: History) -> str:
    return h.doc_at(h.branch("main")).get_text("t").to_py()


# -- round trips ------------------------------------------------------------------------------------


@pytest.mark.parametrize("compress", [True, False])
@pytest.mark.parametrize("max_record", [64, 300, 1 << 20])
def test_round_trip(tmp_path, compress, max_record):
    path = tmp_path / "nb.history"
    h = write_sample(path, compress=compress, max_record=max_record, checkpoint_bytes=None)
    data = path.read_bytes()
    kinds = [record_kind(data, f) for f in frames(data)[1:]]
    assert (4 in kinds) == (max_record < 5000)  # the big change was split into parts only when needed
    back = HistoryFile.read(path)
    assert_same(back, h)
    assert back.branches == h.branches and "draft" in back.branches
    assert text_of(back) == text_of(h)
    assert HistoryFile.read_header(path)["session_id"] == "s-1"
    again, writer = HistoryFile.open(path)
    assert_same(again, h)
    assert writer.session_id == "s-1" and writer.size == len(data)
    writer.close()
    assert path.read_bytes() == data  # opening and closing writes nothing


def test_empty_and_new_files(tmp_path):
    path = tmp_path / "new.history"
    with pytest.raises(FileNotFoundError):
        HistoryFile.open(path, create=False)
    assert not path.exists()
    h, w = HistoryFile.open(path)
    w.close()
    assert path.read_bytes().startswith(MAGIC)
    assert HistoryFile.read(path) == History() and len(h) == 0
    empty = tmp_path / "empty.history"
    empty.write_bytes(b"")
    assert len(HistoryFile.read(empty)) == 0
    h, w = HistoryFile.open(empty, session_id="x")  # a creation cut short is finished
    w.close()
    assert HistoryFile.read_header(empty)["session_id"] == "x"


def test_append_takes_changes_and_branch_moves(tmp_path):
    path = tmp_path / "nb.history"
    source = History()
    t = Typist(source, 3, "bob")
    cs = [t.type(x) for x in "abc"]
    h, w = HistoryFile.open(path)
    assert w.append(cs) > 0 and w.append() == 0
    assert h.branch("main") == frozenset()  # appended changes move no branch
    h.set_branch("main", cs[-1].hash)
    h.create_branch("old", cs[0].hash)
    w.append()
    h.delete_branch("old")
    w.close()
    back = HistoryFile.read(path)
    assert back.branches == {"main": {cs[-1].hash}}
    assert text_of(back) == t.text.to_py()


def test_checkpoint_and_compaction(tmp_path):
    path = tmp_path / "nb.history"
    h = write_sample(path, n=10, checkpoint_bytes=None)
    expected = text_of(h)
    h2, w = HistoryFile.open(path, checkpoint_bytes=None, auto_compact=False)
    w.checkpoint()
    w.checkpoint()  # nothing new: no second checkpoint
    t = Typist(h2, 9, "carol")
    t.type("more")
    w.checkpoint()
    size_with_two = w.size
    w.close()
    back = HistoryFile.read(path)
    assert back.checkpoint == back.heads
    assert_same(back, h2)
    assert text_of(back) == t.text.to_py()
    data = path.read_bytes()
    assert [record_kind(data, f) for f in frames(data)[1:]].count(3) == 2
    h3, w = HistoryFile.open(path)
    w.compact()
    assert w.size < size_with_two
    w.append(())
    w.close()
    data = path.read_bytes()
    kinds = [record_kind(data, f) for f in frames(data)[1:]]
    assert kinds.count(3) == 1 and kinds[-1] == 3 and 2 not in kinds  # branches live in the checkpoint
    back = HistoryFile.read(path)
    assert_same(back, h2)
    assert back.branches == h2.branches and text_of(back) != expected
    # compaction can also replace the content with another history (squash, purge...)
    h4, w = HistoryFile.open(path)
    w.compact(h)
    w.set_session_id("s-2")
    assert w.history is h and w.session_id == "s-2"
    t = Typist(h, 10, "dave")
    t.type("after")
    w.close()
    back = HistoryFile.read(path)
    assert_same(back, h)
    assert HistoryFile.read_header(path)["session_id"] == "s-2"


def test_automatic_checkpoints_and_compaction(tmp_path):
    path = tmp_path / "nb.history"
    h, w = HistoryFile.open(path, checkpoint_bytes=200)
    t = Typist(h, 1, "alice")
    for i in range(150):
        t.type("x" * (i % 7 + 1))
        w.append()
    w.close()
    data = path.read_bytes()
    kinds = [record_kind(data, f) for f in frames(data)[1:]]
    assert kinds.count(3) >= 2  # checkpoints come by themselves (spaced further apart as the doc grows)
    back = HistoryFile.read(path)
    assert back.checkpoint is not None and back == h
    assert text_of(back) == t.text.to_py()
    # superseded checkpoints and branch moves are dropped once they are half of the file
    h, w = HistoryFile.open(path, checkpoint_bytes=None)
    t = Typist(h, 2, "bob")
    sizes = []
    for i in range(60):
        t.type("y")
        h.set_branch("side", h.changes[i].hash)
        w.checkpoint()
        sizes.append(w.size)
    w.close()
    assert any(b < a for a, b in zip(sizes, sizes[1:], strict=False))
    data = path.read_bytes()
    kinds = [record_kind(data, f) for f in frames(data)[1:]]
    assert kinds.count(3) < 30 and path.stat().st_size < 2.2 * min(sizes)  # 60 were written
    assert HistoryFile.read(path) == h


# -- torn tails ------------------------------------------------------------------------------------


@pytest.mark.parametrize("last", ["single", "parts"])
def test_torn_tail_at_every_offset(tmp_path, last):
    src = tmp_path / "src.history"
    h = write_sample(src, n=6, big=False, max_record=256, checkpoint_bytes=None)
    before = h.copy()
    _, w = HistoryFile.open(src, max_record=256, checkpoint_bytes=None)
    t = Typist(w.history, 2, "bob")
    c = t.type(PASTE[:1500] if last == "parts" else "tail")
    start = w.size
    w.close()
    data = src.read_bytes()
    tail = [f for f in frames(data) if f[0] >= start]
    assert (len(tail) > 1) == (last == "parts")
    path = tmp_path / "cut.history"
    for cut in range(start + 1, len(data)):
        path.write_bytes(data[:cut])
        back = HistoryFile.read(path)
        assert back == before and c.hash not in back, cut
        assert path.stat().st_size == cut  # reading repairs nothing
        again, writer = HistoryFile.open(path)
        assert path.stat().st_size == start, cut  # opening for writing cut the torn record off
        assert again == before
        writer.close()
    # after the repair the file takes appends again
    path.write_bytes(data[: start + 5])
    again, writer = HistoryFile.open(path)
    again.merge(w.history)
    writer.close()
    assert HistoryFile.read(path) == w.history


def test_torn_header_is_a_creation_cut_short(tmp_path):
    src = tmp_path / "src.history"
    _, w = HistoryFile.open(src, session_id="abc")
    w.close()
    data = src.read_bytes()
    path = tmp_path / "cut.history"
    for cut in range(1, len(data)):
        path.write_bytes(data[:cut])
        assert len(HistoryFile.read(path)) == 0
        h, w = HistoryFile.open(path, session_id="new")
        w.close()
        assert HistoryFile.read_header(path)["session_id"] == "new"


def test_zero_filled_tail(tmp_path):
    path = tmp_path / "nb.history"
    h = write_sample(path, n=4, big=False)
    data = path.read_bytes()
    path.write_bytes(data + b"\x00" * 40)
    assert HistoryFile.read(path) == h
    _, w = HistoryFile.open(path)
    w.close()
    assert path.read_bytes() == data


# -- damage in the middle --------------------------------------------------------------------------


def assert_refused(path: Path, offset: int) -> None:
    before = path.read_bytes()
    for attempt in (lambda: HistoryFile.read(path), lambda: HistoryFile.open(path)):
        with pytest.raises(HistoryFileError) as e:
            attempt()
        assert isinstance(e.value, ValueError)
        assert e.value.offset == offset and e.value.path == str(path)
        assert str(path) in str(e.value) and f"offset {offset}" in str(e.value)
        assert path.read_bytes() == before  # untouched
    # and the lock was released: a later writer is not blocked (it is refused the same way)
    with pytest.raises(HistoryFileError):
        HistoryFile.open(path)


@pytest.mark.parametrize("seed", range(4))
def test_damage_in_the_middle_is_refused(tmp_path, seed):
    rng = random.Random(seed)
    src = tmp_path / "src.history"
    write_sample(src, n=16, max_record=1024, checkpoint_bytes=None)
    data = src.read_bytes()
    fs = frames(data)
    # records with more data after them than their own size, so no cut can look like a torn tail
    middle = [f for f in fs[1:] if len(data) - f[1] > f[1] - f[0]]
    path = tmp_path / "bad.history"
    for _ in range(25):
        start, end = rng.choice(middle)
        how = rng.choice(["flip", "splice", "zero"])
        off = rng.randrange(start, end)
        if how == "flip":
            bad = bytearray(data)
            bad[off] ^= 1 << rng.randrange(8)
            bad = bytes(bad)
        elif how == "zero":
            n = rng.randint(1, end - off)
            bad = data[:off] + bytes(n) + data[off + n :]
            if bad == data:
                continue
        else:  # bytes cut out of the record: it is truncated, and more records follow
            n = rng.randint(1, end - off)
            bad = data[:off] + data[off + n :]
        path.write_bytes(bad)
        assert_refused(path, start)


def test_bad_magic_and_header(tmp_path):
    path = tmp_path / "x.history"
    path.write_bytes(b"{\"cells\": []}\n")
    assert_refused(path, 0)
    src = tmp_path / "src.history"
    write_sample(src, n=2, big=False)
    data = src.read_bytes()

    def with_header(header) -> bytes:
        import zlib

        payload = msgpack.packb(header)
        head = struct.pack("<II", len(payload), zlib.crc32(payload))
        frame = head + struct.pack("<I", zlib.crc32(head)) + payload
        return MAGIC + frame + data[frames(data)[0][1] :]

    path.write_bytes(with_header({"format": "something-else", "version": 1}))
    assert_refused(path, len(MAGIC))
    path.write_bytes(with_header({"format": "jupyter-crdt-history", "version": 99}))
    assert_refused(path, len(MAGIC))
    with pytest.raises(HistoryFileError, match="newer"):
        HistoryFile.read(path)


def test_unknown_and_inconsistent_records_are_refused(tmp_path):
    import zlib

    def frame(record) -> bytes:
        payload = msgpack.packb(record, use_bin_type=True)
        head = struct.pack("<II", len(payload), zlib.crc32(payload))
        return head + struct.pack("<I", zlib.crc32(head)) + payload

    src = tmp_path / "src.history"
    write_sample(src, n=3, big=False)
    data = src.read_bytes()
    path = tmp_path / "bad.history"
    for record in (
        [99, "future"],
        [1, [7], "a", 0.0, "edit", None, {}, b"\x00\x00", 0],  # a dep before the first change
        [3, 1, [], {"main": []}, b"\x00\x00", 0],  # checkpoint count mismatch
        [2, "b", [b"\x01" * 32]],  # branch to an unknown change
        [1, [], "a", 0.0, "edit", None, {}, b"\x00\x00", 7],  # unknown update encoding
    ):
        path.write_bytes(data + frame(record) + frame([2, "x", None]))
        assert_refused(path, len(data))


# -- the lock -------------------------------------------------------------------------------------


def test_one_writer_at_a_time(tmp_path):
    path = tmp_path / "nb.history"
    h = write_sample(path, n=3, big=False)
    _, w = HistoryFile.open(path)
    with pytest.raises(HistoryLockedError) as e:
        HistoryFile.open(path)
    assert str(path) in str(e.value)
    assert HistoryFile.read(path) == h  # readers need no lock
    code = (
        "import sys\nfrom crdt.history_file import HistoryFile, HistoryLockedError\n"
        "try:\n    HistoryFile.open(sys.argv[1])\nexcept HistoryLockedError:\n    sys.exit(3)\n"
    )
    proc = subprocess.run([sys.executable, "-c", code, str(path)], cwd=REPO, timeout=60,
                          env=dict(os.environ, PYTHONPATH=str(REPO)))
    assert proc.returncode == 3
    w.close()
    _, w = HistoryFile.open(path)
    w.close()


def test_failed_append_is_cut_off(tmp_path, monkeypatch):
    path = tmp_path / "nb.history"
    write_sample(path, n=3, big=False)
    data = path.read_bytes()
    h, w = HistoryFile.open(path)
    t = Typist(h, 5, "eve")
    t.type("lost?")
    real = os.pwrite

    def half_then_fail(fd, buf, offset):
        real(fd, bytes(buf[: len(buf) // 2]), offset)
        raise OSError(28, "No space left on device")

    monkeypatch.setattr(os, "pwrite", half_then_fail)
    with pytest.raises(OSError):
        w.append()
    assert path.read_bytes() == data
    monkeypatch.setattr(os, "pwrite", real)
    w.append()
    w.close()
    assert HistoryFile.read(path) == h


# -- compaction is atomic --------------------------------------------------------------------------


@pytest.mark.parametrize("fail", ["write", "fsync", "replace"])
def test_compaction_failure_leaves_the_old_file(tmp_path, monkeypatch, fail):
    path = tmp_path / "nb.history"
    h = write_sample(path, n=8, checkpoint_bytes=None)
    data = path.read_bytes()
    h2, w = HistoryFile.open(path)
    target = {"write": "pwrite", "fsync": "fdatasync" if hasattr(os, "fdatasync") else "fsync",
              "replace": "replace"}[fail]

    def boom(*a, **k):
        raise OSError(5, f"injected {fail} failure")

    monkeypatch.setattr(os, target, boom)
    with pytest.raises(OSError, match="injected"):
        w.compact()
    monkeypatch.undo()
    assert path.read_bytes() == data
    assert [p.name for p in tmp_path.iterdir()] == ["nb.history"]  # no temporary file left
    t = Typist(h2, 7, "frank")
    t.type("still works")
    w.close()
    back = HistoryFile.read(path)
    assert back == h2 and len(back) == len(h) + 1


# -- crashes ---------------------------------------------------------------------------------------

WRITER = r"""
import random, sys
import crdt
from crdt.history_file import HistoryFile
path, round_ = sys.argv[1], int(sys.argv[2])
rng = random.Random(round_)
history, writer = HistoryFile.open(path, max_record=2048, checkpoint_bytes=20000)
doc = history.doc_at(history.branch("main"), client_id=1000 + round_)
text = doc.get_text("t")
print("ready", flush=True)
while True:
    sv = doc.encode_state_vector()
    text.insert(rng.randint(0, len(text)), "z" * rng.choice([1, 10, 3000]))
    change = history.record(doc.encode_state_as_update(sv), "writer", time=round_)
    writer.append()
    print(change.hash, flush=True)
"""

COMPACTOR = r"""
import sys
from crdt.history_file import HistoryFile
history, writer = HistoryFile.open(sys.argv[1], max_record=4096)
print("ready", flush=True)
i = 0
while True:
    writer.compact(checkpoint=i % 2 == 0)
    i += 1
    print("compacted", i, flush=True)
"""


class Child:
    """A Python child process whose stdout lines are read with a deadline."""

    def __init__(self, code: str, *args: str) -> None:
        self.proc = subprocess.Popen(
            [sys.executable, "-c", code, *args], cwd=REPO, stdout=subprocess.PIPE, stderr=subprocess.PIPE,
            env=dict(os.environ, PYTHONPATH=str(REPO)),
        )
        self.sel = selectors.DefaultSelector()
        self.sel.register(self.proc.stdout, selectors.EVENT_READ)
        self.buf = b""
        self.lines: list[str] = []

    def _take(self, chunk: bytes) -> None:
        self.buf += chunk
        *done, self.buf = self.buf.split(b"\n")
        self.lines.extend(x.decode() for x in done)

    def wait_for_lines(self, n: int, deadline: float = 60.0) -> None:
        """Wait until the child has printed ``n`` lines; fail if it dies or the deadline passes first."""
        end = time.monotonic() + deadline
        while len(self.lines) < n:
            left = end - time.monotonic()
            if left <= 0:
                self.kill()
                pytest.fail(f"the child printed {len(self.lines)} of {n} lines within {deadline} s")
            if self.sel.select(min(left, 1.0)):
                chunk = os.read(self.proc.stdout.fileno(), 1 << 16)
                if not chunk:
                    self.proc.wait(timeout=30)
                    err = self.proc.stderr.read().decode(errors="replace")
                    code = self.proc.returncode
                    pytest.fail(f"the child exited ({code}) after {len(self.lines)} lines\n{err}")
                self._take(chunk)

    def kill(self) -> list[str]:
        """SIGKILL, then every line it had printed."""
        self.proc.send_signal(signal.SIGKILL)
        self.proc.wait(timeout=30)
        self._take(self.proc.stdout.read())  # the rest, up to end of file (the child is gone)
        self.sel.close()
        self.proc.stdout.close()
        self.proc.stderr.close()
        return self.lines


def test_sigkill_while_appending_loses_nothing_reported(tmp_path):
    path = tmp_path / "nb.history"
    rng = random.Random(1)
    reported: set[str] = set()
    for round_ in range(6):
        child = Child(WRITER, str(path), str(round_))
        child.wait_for_lines(1 + rng.randint(3, 40))  # "ready" and then some changes
        for _ in range(rng.randint(0, 2000)):  # a random moment, not a fixed delay
            pass
        lines = child.kill()
        assert child.proc.returncode == -signal.SIGKILL
        reported.update(x for x in lines[1:] if x)
        back = HistoryFile.read(path)
        assert reported <= {c.hash for c in back.changes}, f"round {round_}: a reported change is lost"
        h, w = HistoryFile.open(path)  # repairs a torn tail
        assert reported <= {c.hash for c in h.changes}
        doc = h.doc_at(h.branch("main"))
        assert not doc.pending
        w.close()
    assert len(reported) > 20


def test_sigkill_during_compaction_leaves_old_or_new(tmp_path):
    path = tmp_path / "nb.history"
    h = write_sample(path, n=40, checkpoint_bytes=None)
    rng = random.Random(2)
    outcomes = set()
    for _ in range(8):
        child = Child(COMPACTOR, str(path))
        child.wait_for_lines(1 + rng.randint(0, 6))
        for _ in range(rng.randint(0, 20000)):
            pass
        child.kill()
        back = HistoryFile.read(path)  # never a mix: always a whole file
        assert back == h and text_of(back) == text_of(h)
        outcomes.add(back.checkpoint is not None)
        again, w = HistoryFile.open(path)  # also removes a killed compaction's temporary file
        w.close()
        assert [p.name for p in tmp_path.iterdir()] == ["nb.history"]
    assert outcomes  # (which of old/new survives depends on timing)
