"""History size and load time on a real editing trace (issue 5, "Done when" 6).

The automerge-paper trace (``tests/data/traces/automerge-paper.json.gz``, patches ``[pos, del, ins]``)
is typed into a Text at 5 edits/s with a 10 s pause after every 200 edits (a simulated clock), through a
:class:`crdt.history.ChangeGrouper` with its default settings, each change appended to a history file as it
is recorded (``durable=True``). Printed: the change count; the file's size against Yjs's full-state update
of the same document with GC off (computed with our engine, whose bytes equal Yjs's), and the ratio
(target <= 2x); the time to open the file into a live document (target <= 0.5 s). The same is printed after
a compaction (which adds a checkpoint) and for a file written without compression.

Run: ``python benchmarks/history_size.py [--edits N] [--shared PATH]``.
"""

from __future__ import annotations

import argparse
import gzip
import json
import sys
import tempfile
import time
from pathlib import Path

sys.path.insert(0, str(Path(__file__).resolve().parents[1]))

import crdt  # noqa: E402
from crdt.history import ChangeGrouper  # noqa: E402
from crdt.history_file import HistoryFile  # noqa: E402

EDIT_INTERVAL = 0.2  # 5 edits per second
BURST = 200
PAUSE = 10.0
SIZE_TARGET = 2.0
OPEN_TARGET = 0.5


def load_patches(data: Path, limit: int | None) -> tuple[list, str]:
    path = data / "traces" / "automerge-paper.json.gz"
    with gzip.open(path, "rt", encoding="utf-8") as f:
        trace = json.load(f)
    patches = [p for txn in trace["txns"] for p in txn["patches"]]
    if limit is not None:
        return patches[:limit], None
    return patches, trace["endContent"]


def record_session(patches: list, path: Path, **file_options) -> tuple[crdt.Doc, int, float]:
    """Type ``patches`` with the simulated clock; returns the typed document, change count, seconds."""
    clock = [1_700_000_000.0]
    history, writer = HistoryFile.open(path, **file_options)
    grouper = ChangeGrouper(history, clock=lambda: clock[0], on_change=lambda c: writer.append())
    doc = crdt.Doc(client_id=0x1D2C3B4A, gc=False)
    text = doc.get_text("t")
    doc.observe_updates(lambda update, origin: grouper.add(update, "author"))
    started = time.perf_counter()
    for i, (pos, delete, insert) in enumerate(patches):
        if i and i % BURST == 0:
            clock[0] += PAUSE
        clock[0] += EDIT_INTERVAL
        with doc.transact():
            if delete:
                text.delete(pos, delete)
            if insert:
                text.insert(pos, insert)
    grouper.flush()
    writer.close()
    return doc, len(history), time.perf_counter() - started


def open_time(path: Path, expected: str, repeat: int = 3) -> float:
    """Best of ``repeat``: read the file and build the live document of its main branch."""
    best = float("inf")
    for _ in range(repeat):
        started = time.perf_counter()
        history = HistoryFile.read(path)
        doc = history.doc_at(history.branch("main"))
        best = min(best, time.perf_counter() - started)
        assert not doc.pending
        assert doc.get_text("t").to_py() == expected, "the reopened document differs"
    return best


def report(label: str, size: int, full: int, seconds: float) -> bool:
    ratio = size / full
    ok = ratio <= SIZE_TARGET and seconds <= OPEN_TARGET
    print(
        f"{label:<34} {size:>10,} bytes  {ratio:5.2f}x full state (target <= {SIZE_TARGET}x)   "
        f"open {seconds * 1000:6.0f} ms ({seconds / OPEN_TARGET:4.0%} of the {OPEN_TARGET} s target)"
        f"  {'ok' if ok else 'MISSED'}"
    )
    return ok


def main() -> int:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--edits", type=int, default=None, help="type only the first N edits")
    parser.add_argument("--data", type=Path, default=Path(__file__).resolve().parents[1] / "tests" / "data",
                        help="the test data folder (default tests/data)")
    args = parser.parse_args()
    patches, end_content = load_patches(args.data, args.edits)
    print(f"automerge-paper: {len(patches):,} edits, {EDIT_INTERVAL:g} s apart, "
          f"{PAUSE:g} s pause every {BURST}")
    ok = True
    with tempfile.TemporaryDirectory() as tmp:
        path = Path(tmp) / "paper.history"
        doc, changes, seconds = record_session(patches, path)
        final = doc.get_text("t").to_py()
        if end_content is not None:
            assert final == end_content, "typing the trace did not give its end content"
        full = len(doc.encode_state_as_update())
        print(f"typed and recorded in {seconds:.1f} s: {changes:,} changes (default grouping)")
        print(f"Yjs full-state update, GC off: {full:,} bytes")
        ok &= report("history file as recorded", path.stat().st_size, full, open_time(path, final))

        history, writer = HistoryFile.open(path)
        writer.compact()
        writer.close()
        ok &= report("after compaction (+ checkpoint)", path.stat().st_size, full, open_time(path, final))

        raw = Path(tmp) / "raw.history"
        record_session(patches, raw, compress=False)
        report("recorded without compression", raw.stat().st_size, full, open_time(raw, final))
        history, writer = HistoryFile.open(raw, compress=False)
        writer.compact()
        writer.close()
        report("  ... compacted, no compression", raw.stat().st_size, full, open_time(raw, final))
    return 0 if ok else 1


if __name__ == "__main__":
    sys.exit(main())
