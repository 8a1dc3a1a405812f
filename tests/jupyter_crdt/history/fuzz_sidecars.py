"""Hostile sidecars for ``test_fuzz_sidecars.py``: how they are made, and the driver that opens them.

``make_cases`` writes, from a fixed seed, one folder per case holding ``nb.ipynb`` and its sidecar
``.nb.ipynb.crdt``: a real history cut short, with bits flipped (checksums left bad or made right again),
random bytes, zlib bombs, records nested deep (msgpack and Yjs values), updates that are not updates, and
valid Yjs that no notebook file can hold (shared maps nested 1,500 deep, a bare string as a cell).

Run as a script (``python fuzz_sidecars.py MODE CASES.json``) it is the driver: for each case it makes one
call (``log`` and ``merge``: ``jupyter crdt``'s ``main``; ``open``: the server's room manager loading the
notebook, as a ``PUT`` of a session would), each limited to 20 s of CPU (and 60 s of wall clock, for
busy machines), and prints one JSON line per case: ``{"case", "rc", "out", "err", "exc", "seconds",
"cpu_seconds"}``. ``exc`` is set only for an exception that escaped
(what would print a traceback). The caller runs the driver with a 512 MiB address-space limit.
"""

from __future__ import annotations

import contextlib
import io
import json
import random
import signal
import struct
import sys
import time
import zlib
from pathlib import Path
from typing import Any
from unittest import mock

CALL_SECONDS = 20  # CPU seconds per call (a loop that never ends burns CPU)
CALL_WALL_SECONDS = 60  # wall-clock seconds per call (a wait that never ends): generous, for busy machines
N_STRUCTURAL = 8  # cases of each hand-made kind (bombs, deep records...), beside the random mutations


# -- making sidecars -------------------------------------------------------------------------------


def zlib_bomb(chunks: int = 128) -> bytes:
    """A valid zlib stream of ``chunks`` x 16 MiB zeros (2 GiB by default) in about 2 MB.

    Made in a second: after a full flush the compressor's state is reset, so each chunk compresses to the
    same bytes; the Adler-32 of the whole is computed (a run of zeros: a = 1, b = length mod 65521).
    """
    z = b"\0" * (16 << 20)
    c = zlib.compressobj(9)
    first = c.compress(z) + c.flush(zlib.Z_FULL_FLUSH)
    unit = c.compress(z) + c.flush(zlib.Z_FULL_FLUSH)
    end = c.flush()
    adler = (((len(z) * chunks) % 65521) << 16) | 1
    return first + unit * (chunks - 1) + end[:-4] + struct.pack(">I", adler)


def _base_notebook() -> dict:
    cells = []
    for i in range(4):
        cells.append({"id": f"c{i}", "cell_type": "code", "metadata": {"tags": ["t"]}, "execution_count": i,
                      "outputs": [{"output_type": "stream", "name": "stdout", "text": f"out {i}\n" * 50}],
                      "source": f"x_{i} = {i}\nprint(x_{i})\n"})
    return {"nbformat": 4, "nbformat_minor": 5, "metadata": {"kernelspec": {"name": "python3",
            "display_name": "Python 3", "language": "python"}}, "cells": cells}


def _write_nb(path: Path, nb: dict) -> None:
    path.write_text(json.dumps(nb, indent=1) + "\n")


def base_sidecars(work: Path) -> dict[str, bytes]:
    """Real sidecars made through the library: a plain history (changes, compressed updates, a checkpoint,
    journal records not yet in a change) and one holding valid Yjs structure no file can hold."""
    import crdt
    from jupyter_crdt.history import NotebookHistory, sidecar_path

    out = {}
    nb_path = work / "plain.ipynb"
    _write_nb(nb_path, _base_notebook())
    nh = NotebookHistory.open(nb_path, author="ann", session_id="fuzz-plain")
    for i in range(6):
        with nh.edit("bob" if i % 2 else "ann") as e:
            cell = e.doc.get_array("cells")[i % 4]
            cell["source"].insert(0, f"# edit {i}\n" + "y = 1\n" * (40 * i))
    nh.flush()
    nh.writer.checkpoint()
    nh.record_update(_edit_update(nh.doc, "# journaled\n"), "carol")
    nh.close()
    out["plain"] = sidecar_path(nb_path).read_bytes()

    nb_path = work / "poisoned.ipynb"
    _write_nb(nb_path, _base_notebook())
    nh = NotebookHistory.open(nb_path, author="mallory", session_id="fuzz-poisoned")
    with nh.edit() as e:
        cells = e.doc.get_array("cells")
        cur = cells[0]["metadata"]
        for _ in range(1500):
            cur["deep"] = crdt.Map()
            cur = cur["deep"]
        cells.insert(len(cells), ["a bare string"])
    nh.flush()
    nh.close()
    out["poisoned"] = sidecar_path(nb_path).read_bytes()
    return out


def _edit_update(doc: Any, text: str) -> bytes:
    ups: list[bytes] = []
    h = doc.observe_updates(lambda u, o: ups.append(u))
    try:
        doc.get_array("cells")[1]["source"].insert(0, text)
    finally:
        doc.unobserve_updates(h)
    return ups[0]


def _frames(data: bytes) -> list[tuple[int, int]]:
    """(start, end) of each well-formed frame after the magic (payload start..end)."""
    from crdt.history_file import FRAME, FRAME_SIZE, MAGIC

    out = []
    pos = len(MAGIC)
    while pos + FRAME_SIZE <= len(data):
        n = FRAME.unpack_from(data, pos)[0]
        if pos + FRAME_SIZE + n > len(data):
            break
        out.append((pos + FRAME_SIZE, pos + FRAME_SIZE + n))
        pos += FRAME_SIZE + n
    return out


def _reframe(data: bytes) -> bytes:
    """``data`` with every frame's checksums made right again (so the damage reaches the record decoder)."""
    from crdt.history_file.codec import FRAME_SIZE
    from crdt.history_file.codec import frame as _frame

    if len(data) <= FRAME_SIZE:
        return data
    frames = _frames(data)
    out = [data[:8]] + [_frame(data[start:end]) for start, end in frames]
    out.append(data[frames[-1][1] if frames else 8:])
    return b"".join(out)


def _record(*fields: Any) -> bytes:
    import msgpack

    from crdt.history_file.codec import frame as _frame

    return _frame(msgpack.packb(list(fields), use_bin_type=True))


def _change(refs: list, update: bytes) -> bytes:
    from crdt.history_file import CHANGE

    return _record(CHANGE, refs, "mallory", 1.0, "edit", None, {}, update, 0)


def _deep_update(client_id: int, content_ref: int, content: bytes) -> bytes:
    """An update of ``client_id`` setting key ``deep`` of root map ``meta`` to one item of content kind
    ``content_ref`` (8: Any, 2: JSON) whose encoded content is ``content``."""
    from crdt.encoding import Encoder

    enc = Encoder()
    for v in (1, 1, client_id, 0):
        enc.write_var_uint(v)
    enc.write_u8(0x20 | content_ref)
    enc.write_var_uint(1)
    enc.write_var_string("meta")
    enc.write_var_string("deep")
    enc.write_bytes(content)
    enc.write_var_uint(0)
    return enc.to_bytes()


def deep_any_update(depth: int, client_id: int = 99) -> bytes:
    """An Any value nested ``depth`` arrays deep (lib0: 117 = array, 125 = integer)."""
    return _deep_update(client_id, 8, bytes([1]) + bytes([117, 1]) * depth + bytes([125, 1]))


def deep_json_update(depth: int, client_id: int = 98) -> bytes:
    """A JSON value nested ``depth`` arrays deep."""
    from crdt.encoding import Encoder

    enc = Encoder()
    enc.write_var_uint(1)
    enc.write_var_string("[" * depth + "]" * depth)
    return _deep_update(client_id, 2, enc.to_bytes())


def _nested(depth: int) -> Any:
    v: Any = {"x": 1}
    for _ in range(depth):
        v = {"m": v}
    return v


def _random_msgpack(rnd: random.Random, depth: int = 0) -> Any:
    k = rnd.randrange(8 if depth < 4 else 5)
    if k == 0:
        return rnd.randrange(-(2**40), 2**40)
    if k == 1:
        return rnd.randbytes(rnd.randrange(40))
    if k == 2:
        return "".join(chr(rnd.randrange(32, 0x2FF)) for _ in range(rnd.randrange(10)))
    if k == 3:
        return rnd.choice([None, True, False, 1.5, -1, 0, 2**63 - 1])
    if k == 4:
        return rnd.randrange(0, 6)
    if k in (5, 6):
        return [_random_msgpack(rnd, depth + 1) for _ in range(rnd.randrange(12))]
    return {str(rnd.randrange(5)): _random_msgpack(rnd, depth + 1) for _ in range(rnd.randrange(4))}


def structural_cases(bases: dict[str, bytes], bomb: bytes) -> list[tuple[str, bytes]]:
    """Hand-made hostile sidecars, each a valid file up to the record that attacks."""
    from crdt.history_file.codec import CHANGE, CHECKPOINT, FRAME, JOURNAL, PART, ZLIB
    from crdt.history_file.codec import header_bytes as _header

    plain = bases["plain"]
    head = _header("fuzz")
    small_bomb = zlib.compress(b"\0" * (64 << 20), 1)
    cases: list[tuple[str, bytes]] = [
        ("bomb-change-2MB", head + _record(CHANGE, [], "m", 1.0, "edit", None, {}, bomb, ZLIB)),
        ("bomb-journal-2MB", plain + _record(JOURNAL, 999, "m", 1.0, "edit", None, {}, bomb, ZLIB)),
        ("bomb-checkpoint", head + _record(CHECKPOINT, 0, [], {"main": []}, small_bomb, ZLIB)),
        ("bomb-after-history", plain + _record(CHANGE, [1], "m", 1.0, "edit", None, {}, small_bomb, ZLIB)),
        ("deep-meta-65", head + _record(CHANGE, [], "m", 1.0, "edit", None, _nested(65), b"\0\0", 0)),
        ("deep-meta-1000", head + _record(CHANGE, [], "m", 1.0, "edit", None, _nested(1000), b"\0\0", 0)),
        ("deep-any-10000", plain + _change([1], deep_any_update(10_000))),
        ("deep-any-900", head + _change([], deep_any_update(900))),
        ("deep-json-10000", head + _change([], deep_json_update(10_000))),
        ("deep-json-journal",
         plain + _record(JOURNAL, 999, "m", 1.0, "edit", None, {}, deep_json_update(900), 0)),
        ("not-an-update", head + _record(CHANGE, [], "m", 1.0, "edit", None, {}, b"\xff" * 64, 0)),
        ("huge-frame-length", head + FRAME.pack(0xFFFFFFF0, 0, zlib.crc32(struct.pack("<II", 0xFFFFFFF0, 0)))
         + b"x" * 100),
        ("parts-never-finished", head + b"".join(_record(PART, False, b"x" * 1000) for _ in range(50))),
        ("part-bomb", head + _record(PART, True, zlib.compress(b"\x91" * 100000))),
        ("poisoned-structure", bases["poisoned"]),
        ("plain", plain),
    ]
    return cases


def mutate(rnd: random.Random, bases: dict[str, bytes], i: int) -> tuple[str, bytes]:
    from crdt.history_file.codec import CHANGE, MAGIC
    from crdt.history_file.codec import header_bytes as _header

    base = bases["plain"] if rnd.random() < 0.8 else bases["poisoned"]
    kind = i % 7
    if kind == 0:
        cut = rnd.randrange(len(base))
        return f"truncated@{cut}", base[:cut]
    if kind == 1:
        b = bytearray(base)
        for _ in range(rnd.randrange(1, 9)):
            pos = rnd.randrange(len(b))
            b[pos] ^= 1 << rnd.randrange(8)
        return "bit-flips", bytes(b)
    if kind == 2:
        b = bytearray(base)
        for _ in range(rnd.randrange(1, 5)):
            pos = rnd.randrange(20, len(b))
            b[pos] ^= 1 << rnd.randrange(8)
        return "bit-flips-checksums-fixed", _reframe(bytes(b))
    if kind == 3:
        n = rnd.randrange(0, 4000)
        prefix = MAGIC if rnd.random() < 0.5 else b""
        return "random-bytes", prefix + rnd.randbytes(n)
    if kind == 4:
        record = _random_msgpack(rnd)
        if isinstance(record, list) and record and rnd.random() < 0.7:
            record[0] = rnd.randrange(1, 6)
        frame = _record(*record) if isinstance(record, list) else _record(record)
        return "random-record", base + frame
    if kind == 5:
        upd = rnd.randbytes(rnd.randrange(1, 300))
        fields = [CHANGE, [rnd.randrange(0, 3)], "m", 1.0, "edit", None, {}, upd, rnd.choice([0, 1, 0])]
        return "random-update", base + _record(*fields)
    # Splice: a piece cut out of a history, or its records repeated, checksums made right.
    a, b2 = rnd.randrange(len(base)), rnd.randrange(len(base))
    spliced = base[: min(a, b2)] + base[max(a, b2):] if rnd.random() < 0.5 else base + base[8:]
    if rnd.random() < 0.1:
        spliced = _header("fuzz") + spliced[8:]
    return "splice", _reframe(spliced)


def make_cases(root: Path, n_random: int, seed: int, bomb: bytes) -> list[dict]:
    """Write the cases under ``root`` (``root/NNNN/nb.ipynb`` + sidecar); returns their descriptions."""
    rnd = random.Random(seed)
    work = root / "_bases"
    work.mkdir(parents=True)
    # The same bytes every run: client ids come from ``random``, times from ``time.time``.
    state = random.getstate()
    random.seed(seed)
    try:
        with mock.patch("time.time", lambda: 1_765_000_000.0):
            bases = base_sidecars(work)
            made = structural_cases(bases, bomb)
            made += [mutate(rnd, bases, i) for i in range(n_random)]
    finally:
        random.setstate(state)
    nb_text = json.dumps(_base_notebook(), indent=1) + "\n"
    clean = root / "_clean"
    clean.mkdir()
    (clean / "other.ipynb").write_text(nb_text)
    cases = []
    for i, (kind, data) in enumerate(made):
        d = root / f"{i:04d}"
        d.mkdir()
        (d / "nb.ipynb").write_text(nb_text)
        (d / ".nb.ipynb.crdt").write_bytes(data)
        cases.append({"case": i, "kind": kind, "dir": str(d), "nb": str(d / "nb.ipynb"),
                      "other": str(clean / "other.ipynb")})
    return cases


# -- the driver ------------------------------------------------------------------------------------


class CallTimeout(BaseException):
    """The 20 s of one call are over (a BaseException, so no ``except Exception`` in the code swallows it)."""


def _alarm(signum: int, frame: Any) -> None:
    raise CallTimeout()


def _cli(argv: list[str]) -> tuple[int, str, str]:
    from jupyter_crdt.cli import main

    out, err = io.StringIO(), io.StringIO()
    with contextlib.redirect_stdout(out), contextlib.redirect_stderr(err):
        rc = main(argv)
    return rc, out.getvalue(), err.getvalue()


class _Fim:
    def __init__(self, name: str) -> None:
        self.name = name

    def get_path(self, file_id: str) -> str:
        return self.name

    def get_id(self, path: str) -> str:
        return "fid"


async def _open_like_server(case: dict) -> tuple[int, str, str]:
    """Load the notebook as the server's room manager does for a new session (autosave off: only the
    open is under test), export it, close the room."""
    import logging

    from jupyter_server.services.contents.largefilemanager import AsyncLargeFileManager

    from jupyter_crdt.server.manager import RoomManager
    from jupyter_crdt.server.state import RoomSettings
    from jupyter_crdt.server.stores import NotebookHistoryStore

    log = logging.getLogger("fuzz")
    cm = AsyncLargeFileManager(root_dir=case["dir"])
    settings = RoomSettings(save_delay=-1, poll_interval=0, cleanup_delay=3600)
    manager = RoomManager(cm, lambda: _Fim("nb.ipynb"), settings, lambda p, t: NotebookHistoryStore(p), log)
    nb = Path(case["nb"])
    before = nb.read_bytes()
    room = await manager.get("json", "notebook", "fid")
    try:
        problems: list[str] = []
        room.model.export(room.doc, problems)
        if nb.read_bytes() != before:
            raise AssertionError("the open itself modified the .ipynb")
        return 0, json.dumps({"cells": len(room.doc.get_array("cells")), "problems": problems}), ""
    finally:
        # Closing saves what the room holds and the file lacks (a history with later edits: legitimate).
        await room.close()


def run_case(mode: str, case: dict) -> dict:
    import asyncio

    import crdt
    from crdt import DecodeError, HistoryFileError, MissingDependencyError

    # What a server may answer a bad history with: an error that names the problem.
    clear = (HistoryFileError, DecodeError, MissingDependencyError, crdt.HistoryLockedError)
    t0 = time.monotonic()
    c0 = time.process_time()
    rec: dict = {"case": case["case"], "rc": None, "out": "", "err": "", "exc": None}
    signal.setitimer(signal.ITIMER_PROF, CALL_SECONDS)
    signal.alarm(CALL_WALL_SECONDS)
    try:
        if mode == "log":
            rec["rc"], rec["out"], rec["err"] = _cli(["log", case["nb"]])
        elif mode == "merge":
            argv = ["merge", case["nb"], case["other"], "-o", str(Path(case["dir"]) / "out.ipynb")]
            if case["case"] % 2:
                argv = ["merge", case["other"], case["nb"], "-o", str(Path(case["dir"]) / "out.ipynb")]
            rec["rc"], rec["out"], rec["err"] = _cli(argv)
        else:
            try:
                rec["rc"], rec["out"], rec["err"] = asyncio.run(_open_like_server(case))
            except clear as e:
                rec["rc"], rec["err"] = 1, f"{type(e).__name__}: {e}"
    except CallTimeout:
        rec["exc"] = f"timeout: no answer in {CALL_SECONDS} s of CPU or {CALL_WALL_SECONDS} s"
    except BaseException as e:  # noqa: BLE001 - what escapes is what the test reports
        rec["exc"] = f"{type(e).__name__}: {str(e)[:300]}"
    finally:
        signal.alarm(0)
        signal.setitimer(signal.ITIMER_PROF, 0)
    rec["seconds"] = round(time.monotonic() - t0, 3)
    rec["cpu_seconds"] = round(time.process_time() - c0, 3)
    rec["out"] = rec["out"][-2000:]
    rec["err"] = rec["err"][-2000:]
    return rec


def main() -> None:
    mode, cases_file = sys.argv[1], sys.argv[2]
    cases = json.loads(Path(cases_file).read_text())
    signal.signal(signal.SIGALRM, _alarm)
    signal.signal(signal.SIGPROF, _alarm)
    import warnings

    warnings.simplefilter("ignore")  # nbformat's own warnings are not what is under test
    # Imports are not part of any call's 20 s.
    import jupyter_server.services.contents.largefilemanager  # noqa: F401

    import jupyter_crdt.cli  # noqa: F401
    import jupyter_crdt.notebook  # noqa: F401
    import jupyter_crdt.server.manager  # noqa: F401
    import jupyter_crdt.server.stores  # noqa: F401
    for case in cases:
        print(json.dumps({"start": case["case"]}), flush=True)
        print(json.dumps(run_case(mode, case)), flush=True)


if __name__ == "__main__":
    main()
