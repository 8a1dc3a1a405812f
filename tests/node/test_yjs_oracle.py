"""The Yjs oracle itself: the Node side answers as Yjs 13.6.33 does, without our engine involved."""

from __future__ import annotations

import gzip
import json
import sys

import pytest

from tests.conftest import OracleError, YjsOracle, b64, unb64

# The worked example of the wire digest (section 1.8): client 1 inserts "ab", inserts "X" at 1,
# deletes index 0. ("aXb" minus its first character is "Xb".)
WORKED_EXAMPLE = bytes.fromhex("0103010001010174018401000162c40100010101580101010001")


def text_op(action: str, **kw) -> dict:
    return {"path": ["t"], "action": action, **kw}


def test_ping(yjs_oracle):
    assert yjs_oracle.request({"kind": "ping"})["yjs"] == "13.6.33"


def test_worked_example_decodes(yjs_oracle):
    ans = yjs_oracle.apply([WORKED_EXAMPLE], roots={"t": "text"})
    assert ans["json"] == {"t": "Xb"}
    assert ans["state_vector"] == bytes([1, 1, 3])
    assert ans["update"] == WORKED_EXAMPLE
    assert ans["pending"] is False


def test_script_reproduces_worked_example(yjs_oracle):
    ans = yjs_oracle.request(
        {
            "kind": "script",
            "clients": [1],
            "roots": {"t": "text"},
            "steps": [
                {"peer": 0, "op": text_op("text_insert", index=0, content="ab")},
                {"peer": 0, "op": text_op("text_insert", index=1, content="X")},
                {"peer": 0, "op": text_op("text_delete", index=0, length=1)},
            ],
        }
    )
    assert ans["json"] == [{"t": "Xb"}]
    assert unb64(ans["states"][0]) == WORKED_EXAMPLE
    first, second, third = (unb64(u) for u in ans["updates"])
    # insert "ab": one client, one struct, client 1 clock 0, String item under root "t", empty delete set
    assert first == bytes.fromhex("010101000401017402616200")
    assert third == bytes.fromhex("000101010001")  # no structs; delete set: client 1, [0, 1)
    merged = yjs_oracle.request({"kind": "merge_updates", "updates": [b64(first), b64(second), b64(third)]})
    assert yjs_oracle.apply([unb64(merged["update"])], roots={"t": "text"})["json"] == {"t": "Xb"}
    sv = yjs_oracle.request({"kind": "state_vector_from_update", "update": ans["states"][0]})
    assert unb64(sv["state_vector"]) == bytes([1, 1, 3])


def test_concurrent_inserts_lower_client_goes_left(yjs_oracle):
    ans = yjs_oracle.request(
        {
            "kind": "script",
            "clients": [2, 1],
            "roots": {"t": "text"},
            "steps": [
                {"peer": 0, "op": text_op("text_insert", index=0, content="B")},
                {"peer": 1, "op": text_op("text_insert", index=0, content="A")},
                {"deliver": 0, "to": 1},
                {"deliver": 1, "to": 0},
            ],
        }
    )
    assert ans["json"] == [{"t": "AB"}, {"t": "AB"}]


def test_gap_leaves_peer_pending(yjs_oracle):
    steps = [
        {"peer": 0, "op": text_op("text_insert", index=0, content="a")},
        {"peer": 0, "op": text_op("text_insert", index=1, content="b")},
        {"deliver": 1, "to": 1},
    ]
    ans = yjs_oracle.request({"kind": "script", "clients": [1, 2], "roots": {"t": "text"}, "steps": steps})
    assert ans["json"] == [{"t": "ab"}, {"t": ""}]
    assert ans["pending"] == [False, True]


def test_concurrent_map_sets_higher_client_wins(yjs_oracle):
    steps = [
        {"peer": 0, "op": {"path": ["m"], "action": "map_set", "key": "k", "value": "low"}},
        {"peer": 1, "op": {"path": ["m"], "action": "map_set", "key": "k", "value": "high"}},
        {"sync": [0, 1]},
    ]
    ans = yjs_oracle.request({"kind": "script", "clients": [3, 9], "roots": {"m": "map"}, "steps": steps})
    assert ans["json"] == [{"m": {"k": "high"}}] * 2
    assert ans["pending"] == [False, False]


def test_nested_paths_values_and_surrogate_split(yjs_oracle):
    init = {
        "$type": "array",
        "init": [
            1,
            {"$type": "text", "init": "a😀b"},
            {"$type": "map", "init": [["x", {"$bytes": b64(b"\x00\x01")}], ["y", [1, 2.5, None]]]},
        ],
    }
    ans = yjs_oracle.request(
        {
            "kind": "script",
            "clients": [7, 8],
            "roots": {"m": "map"},
            "trace": True,
            "steps": [
                {"peer": 0, "op": {"path": ["m"], "action": "map_set", "key": "k", "value": init}},
                {"deliver": 0, "to": 1},
                # index 2 (UTF-16) falls inside the emoji: Yjs replaces both halves with U+FFFD
                {
                    "peer": 1,
                    "op": {
                        "path": ["m", "k", 1],
                        "root_kind": "map",
                        "action": "text_insert",
                        "index": 2,
                        "content": "Z",
                    },
                },
                {
                    "peer": 1,
                    "ops": [
                        {"path": ["m", "k", 2], "action": "map_delete", "key": "y"},
                        {"path": ["m", "k"], "action": "array_push", "values": [{"$type": "map"}]},
                    ],
                },
                {"sync": [0, 1]},
            ],
        }
    )
    expected = {"m": {"k": [1, "a\ufffdZ\ufffdb", {"x": {"$bytes": b64(b"\x00\x01")}}, {}]}}
    assert ans["json"] == [expected, expected]
    assert len(ans["trace"]) == 5
    assert ans["trace"][1][1]["m"]["k"][1] == "a😀b"
    assert all(u is not None for u in ans["updates"])


def test_noop_transaction_emits_nothing(yjs_oracle):
    steps = [
        {"peer": 0, "op": {"path": ["m"], "action": "map_delete", "key": "absent"}},
        {"deliver": 0, "to": 0},
    ]
    ans = yjs_oracle.request({"kind": "script", "clients": [1], "roots": {"m": "map"}, "steps": steps})
    assert ans["updates"] == [None]


def test_failing_step_is_reported(yjs_oracle):
    req = {
        "kind": "script",
        "clients": [1],
        "roots": {"t": "text"},
        "steps": [{"peer": 0, "op": text_op("text_delete", index=0, length=1)}],
    }
    with pytest.raises(OracleError, match="step 0"):
        yjs_oracle.request(req)
    ans = yjs_oracle.request(req, check=False)
    assert ans["ok"] is False
    # the process survives a refused request
    assert yjs_oracle.request({"kind": "ping"})["ok"] is True


def test_batch_and_describe(yjs_oracle):
    answers = yjs_oracle.batch([{"kind": "ping"}, {"kind": "nonsense"}, {"kind": "apply", "updates": []}])
    assert [a["ok"] for a in answers] == [True, False, True]
    assert unb64(answers[2]["update"]) == b"\x00\x00"
    text = yjs_oracle.describe(WORKED_EXAMPLE)
    assert 'String "X"' in text and "delete set: [[1, 0, 1]]" in text
    assert "cannot decode" in yjs_oracle.describe(b"\x05")


def test_hung_oracle_times_out():
    hung = YjsOracle(timeout=1.0, command=[sys.executable, "-c", "import time; time.sleep(30)"])
    try:
        with pytest.raises(OracleError, match="did not answer"):
            hung.request({"kind": "ping"})
    finally:
        hung.close()


def test_dead_oracle_fails_fast():
    dead = YjsOracle(timeout=30.0, command=[sys.executable, "-c", "import sys; sys.stderr.write('boom')"])
    try:
        with pytest.raises(OracleError, match="exited(?s:.*)boom"):
            dead.request({"kind": "ping"})
    finally:
        dead.close()


def test_replay_trace(yjs_oracle, tmp_path):
    trace = {
        "startContent": "ab",
        "endContent": "aXYb",
        "txns": [{"patches": [[1, 0, "XZ"]]}, {"patches": [[2, 1, "Y"]]}],
    }
    path = tmp_path / "tiny.json.gz"
    with gzip.open(path, "wt", encoding="utf-8") as f:
        json.dump(trace, f)
    ans = yjs_oracle.request({"kind": "replay_trace", "path": str(path), "client_id": 5})
    assert ans["text"] == "aXYb" and ans["txns"] == 2
    assert unb64(ans["state_vector"]) == bytes([1, 5, 5])  # "ab", "XZ", "Y": 5 units from client 5
    first = yjs_oracle.request({"kind": "replay_trace", "path": str(path), "client_id": 5, "limit": 1})
    assert first["text"] == "aXZb"
