"""Bounds on decoding hostile input (issue #12, rows 2, 3, 6, 17): nesting depth, decompression, copies."""

from __future__ import annotations

import json
import os
import subprocess
import sys
import textwrap
import zlib
from pathlib import Path

import pytest

import crdt
from crdt import DecodeError, Doc, HistoryFile, HistoryFileError, Map
from crdt.encoding import Encoder
from crdt.limits import LIMITS, check_depth, configure, decompress
from crdt.sync import MessageKind, encode_sync_update, read_messages

ROOT = Path(__file__).resolve().parents[2]


def _update(content_ref: int, body: bytes) -> bytes:
    """A v1 update with one item (client 7, clock 0) under root map ``m``, key ``k``."""
    enc = Encoder()
    enc.write_var_uint(1)  # one client
    enc.write_var_uint(1)  # one struct
    enc.write_var_uint(7)
    enc.write_var_uint(0)
    enc.write_u8(0x20 | content_ref)  # no origins, a parent key follows
    enc.write_var_uint(1)
    enc.write_var_string("m")
    enc.write_var_string("k")
    enc.write_bytes(body)
    enc.write_var_uint(0)  # empty delete set
    return enc.to_bytes()


def _any_body(depth: int) -> bytes:
    # ContentAny with one value: `depth` arrays, one inside the other, around a 1.
    return bytes([1]) + bytes([117, 1]) * depth + bytes([125, 1])


def _json_text(depth: int) -> str:
    return "[" * depth + "1" + "]" * depth


def _json_body(depth: int) -> bytes:
    enc = Encoder()
    enc.write_var_uint(1)
    enc.write_var_string(_json_text(depth))
    return enc.to_bytes()


def _string_body(ref: int, depth: int) -> bytes:
    enc = Encoder()
    if ref == 6:  # format: key, then the JSON value
        enc.write_var_string("bold")
    enc.write_var_string(_json_text(depth))
    return enc.to_bytes()


def _depth(v: object) -> int:
    d = 0
    while isinstance(v, list):
        v = v[0]
        d += 1
    return d


@pytest.fixture
def restore_limits():
    names = ("max_depth", "decompression_ratio", "decompression_floor", "max_decompressed")
    saved = {n: getattr(LIMITS, n) for n in names}
    yield
    configure(**saved)


def test_default_depth_is_64():
    assert LIMITS.max_depth == 64


@pytest.mark.parametrize("depth", [65, 900, 10_000])
def test_any_value_nested_beyond_the_limit_is_refused(depth):
    doc = Doc()
    with pytest.raises(DecodeError, match="nested deeper than 64 levels"):
        doc.apply_update(_update(8, _any_body(depth)))
    assert doc.get_map("m").to_py() == {}
    assert doc.encode_state_as_update() == Doc().encode_state_as_update()


def test_any_value_at_the_limit_is_accepted_and_reencodes():
    doc = Doc()
    doc.apply_update(_update(8, _any_body(64)))
    assert _depth(doc.get_map("m")["k"]) == 64
    other = Doc()
    other.apply_update(doc.encode_state_as_update())
    assert _depth(other.get_map("m")["k"]) == 64


@pytest.mark.parametrize("ref", [2, 5, 6])
@pytest.mark.parametrize("depth", [65, 900, 10_000])
def test_json_embed_and_format_values_beyond_the_limit_are_refused(ref, depth):
    body = _json_body(depth) if ref == 2 else _string_body(ref, depth)
    with pytest.raises(DecodeError, match="nested deeper than 64 levels"):
        Doc().apply_update(_update(ref, body))


def test_json_value_at_the_limit_is_accepted_and_reencodes():
    doc = Doc()
    doc.apply_update(_update(2, _json_body(64)))
    assert _depth(doc.get_map("m")["k"]) == 64
    other = Doc()
    other.apply_update(doc.encode_state_as_update())
    assert other.get_map("m").to_py() == doc.get_map("m").to_py()


def test_the_depth_limit_is_configurable(restore_limits):
    update = _update(8, _any_body(100))
    with pytest.raises(DecodeError):
        Doc().apply_update(update)
    configure(max_depth=128)
    doc = Doc()
    doc.apply_update(update)
    assert _depth(doc.get_map("m")["k"]) == 100
    configure(max_depth=10)
    with pytest.raises(DecodeError, match="nested deeper than 10 levels"):
        Doc().apply_update(_update(2, _json_body(11)))
    with pytest.raises(ValueError):
        configure(max_depth=0)


def test_local_values_beyond_the_limit_are_refused_before_anything_changes():
    doc = Doc()
    m = doc.get_map("m")
    deep: list = [1]
    for _ in range(200):
        deep = [deep]
    with pytest.raises(ValueError, match="nested deeper than 64 levels"):
        m["k"] = deep
    assert m.to_py() == {}
    assert doc.encode_state_as_update() == Doc().encode_state_as_update()


def test_shared_types_nested_far_beyond_the_stack_convert_and_reencode():
    # Nested types are items of their own: Yjs accepts any depth, and so must every path that reads them.
    doc = Doc()
    cur = doc.get_map("m")
    for _ in range(3000):
        cur["k"] = Map()
        cur = cur["k"]
    cur["leaf"] = "x"
    py = doc.get_map("m").to_py()
    d = 0
    while "k" in py:
        py = py["k"]
        d += 1
    assert d == 3000 and py == {"leaf": "x"}
    other = Doc()
    other.apply_update(doc.encode_state_as_update())
    assert other.encode_state_as_update() == doc.encode_state_as_update()


def test_check_depth_is_iterative():
    v: list = []
    for _ in range(50_000):
        v = [v]
    with pytest.raises(DecodeError, match="nested deeper than 64"):
        check_depth(v)
    check_depth({"a": [[{"b": 1}]]}, limit=4)
    with pytest.raises(DecodeError):
        check_depth({"a": [[{"b": [1]}]]}, limit=4)


# -- decompression ---------------------------------------------------------------------------------


def test_decompression_is_bounded_by_a_ratio_and_a_hard_cap(restore_limits):
    data = os.urandom(1000) * 50  # compresses ~40x: within the default ratio
    assert decompress(zlib.compress(data)) == data
    bomb = zlib.compress(b"\0" * (16 << 20), 9)  # ~16 KB that inflates 1000x
    with pytest.raises(DecodeError, match="decompresses to more than"):
        decompress(bomb)
    configure(decompression_ratio=10, decompression_floor=1000, max_decompressed=100_000)
    with pytest.raises(DecodeError, match=r"more than 1000 bytes \(10x its"):
        decompress(zlib.compress(b"\0" * 1001))
    with pytest.raises(DecodeError, match="at most 100000"):
        decompress(zlib.compress(os.urandom(20_000) * 6))  # within the ratio, over the cap
    configure(decompression_ratio=2000, max_decompressed=1 << 30)
    assert len(decompress(bomb)) == 16 << 20


def test_truncated_and_corrupt_zlib_are_decode_errors():
    z = zlib.compress(b"hello world" * 100)
    with pytest.raises(DecodeError, match="truncated"):
        decompress(z[: len(z) // 2])
    with pytest.raises(DecodeError, match="not valid zlib"):
        decompress(b"\x00\x01garbage")


def _history_with(tmp_path: Path, payload_update: bytes, encoding: int, meta: object = None) -> Path:
    """A valid history file (right checksums) whose one change holds ``payload_update``."""
    import msgpack

    from crdt.history_file import codec as hf

    path = tmp_path / ".nb.ipynb.crdt"
    record = [hf.CHANGE, [], "mallory", 1.0, "edit", None, meta or {}, payload_update, encoding]
    path.write_bytes(hf.header_bytes("s") + hf.frame(msgpack.packb(record, use_bin_type=True)))
    return path


def test_a_zlib_bomb_in_a_history_record_is_refused_with_its_offset(tmp_path):
    bomb = zlib.compress(b"\0" * (16 << 20), 9)
    path = _history_with(tmp_path, bomb, 1)
    with pytest.raises(HistoryFileError, match="decompresses to more than") as e:
        HistoryFile.read(path)
    assert e.value.offset > 0


def test_a_deeply_nested_record_meta_is_refused(tmp_path):
    meta: object = {"x": 1}
    for _ in range(200):
        meta = {"m": meta}
    path = _history_with(tmp_path, Doc().encode_state_as_update(), 0, meta)
    with pytest.raises(HistoryFileError, match="nested deeper than 64"):
        HistoryFile.read(path)


def test_updates_that_compress_beyond_the_ratio_are_stored_raw_and_read_back(tmp_path):
    doc = Doc()
    doc.get_text("t").insert(0, "a" * (4 << 20))  # compresses ~1000x: more than readers accept
    update = doc.encode_state_as_update()
    path = tmp_path / ".big.crdt"
    change = crdt.Change([], "a", 1.0, update)
    _history, writer = HistoryFile.open(path, checkpoint_bytes=None)
    with writer:
        writer.append([change])
    assert HistoryFile.read(path).get(change.hash).update == update


# -- a big frame is decoded in place ---------------------------------------------------------------


def test_big_sync_payloads_are_views_into_the_frame():
    big = Doc()
    big.get_text("t").insert(0, "x" * (2 << 20))
    frame = encode_sync_update(big.encode_state_as_update())
    (msg,) = read_messages(frame)
    assert msg.kind is MessageKind.SYNC_UPDATE and isinstance(msg.payload, memoryview)
    doc = Doc()
    doc.apply_update(msg.payload)
    assert len(str(doc.get_text("t"))) == 2 << 20
    small = read_messages(encode_sync_update(Doc().encode_state_as_update()))[0]
    assert type(small.payload) is bytes


def test_a_120_mb_frame_decodes_within_one_and_a_half_times_its_size():
    # Measured as the process's peak RSS (VmHWM) in a fresh interpreter, not with tracemalloc.
    script = textwrap.dedent(
        """
        import json, sys
        from crdt import Doc
        from crdt.sync import encode_sync_update, read_messages

        def hwm():
            for line in open("/proc/self/status"):
                if line.startswith("VmHWM:"):
                    return int(line.split()[1]) * 1024
        n = 120 << 20
        src = Doc()
        src.get_text("t").insert(0, "x" * n)
        frame = encode_sync_update(src.encode_state_as_update())
        del src
        import gc; gc.collect()
        # The peak so far (building the frame) is above what the decode needs: reset it if we can.
        try:
            open("/proc/self/clear_refs", "w").write("5")
        except OSError:
            pass
        base = int([l for l in open("/proc/self/status") if l.startswith("VmRSS:")][0].split()[1]) * 1024
        doc = Doc()
        for m in read_messages(frame):
            doc.apply_update(m.payload)
        assert len(doc.get_text("t")) == n
        print(json.dumps({"frame": len(frame), "base": base, "peak": hwm()}))
        """
    )
    env = {**os.environ, "PYTHONPATH": str(ROOT)}
    out = subprocess.run([sys.executable, "-c", script], capture_output=True, text=True, timeout=120, env=env)
    assert out.returncode == 0, out.stderr
    r = json.loads(out.stdout)
    grown = r["peak"] - r["base"]
    assert grown <= 1.5 * r["frame"], f"decoding a {r['frame']} B frame grew RSS by {grown} B"


def test_reading_deeply_nested_types_at_a_snapshot_does_not_recurse():
    doc = Doc(gc=False)
    cur = doc.get_map("m")
    for _ in range(3000):
        cur["k"] = Map()
        cur = cur["k"]
    cur["leaf"] = "x"
    snap = crdt.snapshot(doc)
    cur["leaf"] = "later"
    for read in (crdt.to_py_at(doc, snap)["m"], crdt.to_py_at(doc.get_map("m"), snap),
                 crdt.map_at(doc.get_map("m"), snap)):
        d = 0
        while "k" in read:
            read = read["k"]
            d += 1
        assert d == 3000 and read == {"leaf": "x"}
