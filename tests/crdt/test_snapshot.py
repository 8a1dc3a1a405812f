"""Snapshots: encoding, visibility, reading types at a snapshot, rebuilding past documents.

The oracle tests replay the same scripts in Yjs (``tests/node/snapshot_oracle.mjs``) and compare the
encoded snapshots byte for byte, ``createDocFromSnapshot`` (content and full-state bytes) and
``toDelta(snapshot, prevSnapshot)``.
"""

from __future__ import annotations

import random

import pytest

import crdt
from crdt.delete_set import DeleteSet
from crdt.snapshot import (
    Snapshot,
    array_at,
    create_doc_from_snapshot,
    empty_snapshot,
    is_visible,
    map_at,
    snapshot,
    snapshot_contains_update,
    text_at,
    text_delta_at,
    to_py_at,
)
from tests.crdt.script_runner import (
    apply_op,
    make_doc,
    plain,
    random_steps,
    roots_json,
    run_node,
    sync,
    unb64,
)

ROOTS = {"t": "text", "a": "array", "m": "map"}


# -- the Snapshot value ----------------------------------------------------------------------------


def test_empty_snapshot_encoding():
    assert empty_snapshot().encode() == b"\x00\x00"
    assert Snapshot.decode(b"\x00\x00") == empty_snapshot()
    assert snapshot(crdt.Doc()) == empty_snapshot()


def test_encode_layout_and_roundtrip():
    doc = crdt.Doc(client_id=7, gc=False)
    t = doc.get_text("t")
    t.insert(0, "hello")
    t.delete(1, 2)
    s = snapshot(doc)
    assert s.sv == {7: 5}
    assert s.ds.clients == {7: [[1, 2]]}
    # delete set: 1 client, client 7, 1 range [1, 2) ; state vector: 1 client, client 7 at clock 5
    assert s.encode() == bytes([1, 7, 1, 1, 2, 1, 7, 5])
    assert Snapshot.decode(s.encode()) == s
    assert Snapshot.decode(bytearray(s.encode()) + b"\xff") == s  # trailing bytes ignored, as in Yjs


def test_equality_normalises_delete_sets():
    ds1 = DeleteSet()
    ds1.add(1, 5, 2)
    ds1.add(1, 0, 3)
    ds1.add(1, 3, 1)
    ds2 = DeleteSet()
    ds2.add(1, 0, 4)
    ds2.add(1, 5, 2)
    ds2.add(2, 9, 0)
    assert Snapshot(ds1, {1: 10}) == Snapshot(ds2, {1: 10})
    assert Snapshot(ds1, {1: 10}) != Snapshot(ds2, {1: 11})
    assert Snapshot(ds1, {1: 10}) != Snapshot(DeleteSet(), {1: 10})
    assert Snapshot(ds1, {1: 10}) != "snapshot"


@pytest.mark.parametrize(
    "data", [b"", b"\x01", b"\x00", b"\x01\x01\x01\x00", b"\x00\x02\x01", b"\x00\xff\xff"]
)
def test_decode_malformed_raises_decode_error(data):
    with pytest.raises(crdt.DecodeError):
        Snapshot.decode(data)


def test_decode_rejects_non_bytes():
    with pytest.raises(TypeError):
        Snapshot.decode("00")  # type: ignore[arg-type]


def test_is_visible():
    doc = crdt.Doc(client_id=1, gc=False)
    t = doc.get_text("t")
    t.insert(0, "a")
    before = snapshot(doc)
    t.insert(1, "b")
    t.delete(0)
    first = doc.store.clients[1][0]
    second = doc.store.clients[1][-1]
    assert is_visible(first, before) and not is_visible(second, before)
    now = snapshot(doc)
    assert not is_visible(first, now) and is_visible(second, now)
    assert not is_visible(first) and is_visible(second)
    assert not is_visible(first, empty_snapshot())


# -- reading at a snapshot -----------------------------------------------------------------------


def test_history_of_a_text():
    doc = crdt.Doc(client_id=1, gc=False)
    t = doc.get_text("t")
    snaps = [snapshot(doc)]
    for edit in [
        lambda: t.insert(0, "hello"),
        lambda: t.insert(5, " world"),
        lambda: t.delete(0, 6),
        lambda: t.insert(0, "big "),
    ]:
        edit()
        snaps.append(snapshot(doc))
    assert [text_at(t, s) for s in snaps] == ["", "hello", "hello world", "world", "big world"]
    # "hello" and " world" were merged into one item after the snapshot: the read must not care.
    assert len(doc.store.clients[1]) < 5


def test_map_history_walks_the_key_chain():
    doc = crdt.Doc(client_id=1, gc=False)
    m = doc.get_map("m")
    m["k"] = 1
    s1 = snapshot(doc)
    m["k"] = 2
    m["x"] = "y"
    s2 = snapshot(doc)
    del m["k"]
    s3 = snapshot(doc)
    m["k"] = 4
    assert map_at(m, s1) == {"k": 1}
    assert map_at(m, s2) == {"k": 2, "x": "y"}
    assert map_at(m, s3) == {"x": "y"}
    assert map_at(m, snapshot(doc)) == {"k": 4, "x": "y"}
    assert map_at(m, empty_snapshot()) == {}


def test_nested_types_are_read_at_the_snapshot():
    doc = crdt.Doc(client_id=3, gc=False)
    a = doc.get_array("a")
    a.insert(0, [crdt.Text("ab"), crdt.Map({"n": 1}), 5])
    s1 = snapshot(doc)
    a[0].insert(2, "cd")
    a[1]["n"] = 2
    a[1]["inner"] = crdt.Array([1])
    a.delete(2)
    s2 = snapshot(doc)
    a[1]["inner"].append(2)
    assert array_at(a, s1) == ["ab", {"n": 1}, 5]
    assert array_at(a, s2) == ["abcd", {"n": 2, "inner": [1]}]
    assert to_py_at(doc, s2) == {"a": ["abcd", {"n": 2, "inner": [1]}]}
    assert to_py_at(doc, snapshot(doc)) == doc.to_py()


def test_reading_does_not_change_the_document():
    doc = crdt.Doc(client_id=3, gc=False)
    t = doc.get_text("t")
    t.insert(0, "abcdef")
    s = snapshot(doc)
    t.insert(6, "ghi")
    t.delete(2, 5)
    before = doc.encode_state_as_update()
    n_structs = len(doc.store.clients[3])
    text_at(t, s)
    text_delta_at(t, snapshot(doc), s)
    create_doc_from_snapshot(doc, s)
    assert doc.encode_state_as_update() == before
    assert len(doc.store.clients[3]) == n_structs


def test_text_delta_marks_added_and_removed():
    doc = crdt.Doc(client_id=1, gc=False)
    t = doc.get_text("t")
    t.insert(0, "abc")
    s1 = snapshot(doc)
    t.delete(1, 1)
    t.insert(2, "X")
    s2 = snapshot(doc)
    assert text_delta_at(t, s1) == [{"insert": "abc"}]
    assert text_delta_at(t, s2, s1) == [
        {"insert": "a"},
        {"insert": "b", "attributes": {"ychange": {"type": "removed"}}},
        {"insert": "c"},
        {"insert": "X", "attributes": {"ychange": {"type": "added"}}},
    ]
    users = text_delta_at(t, s2, s1, lambda kind, id_: {"type": kind, "user": id_[0]})
    assert users[1] == {"insert": "b", "attributes": {"ychange": {"type": "removed", "user": 1}}}


def test_astral_text_at_snapshot():
    doc = crdt.Doc(client_id=1, gc=False)
    t = doc.get_text("t")
    t.insert(0, "a😀b")
    s = snapshot(doc)
    t.insert(3, "🎉")
    t.delete(1, 1)
    assert text_at(t, s) == "a😀b"
    assert str(create_doc_from_snapshot(doc, s).get_text("t")) == "a😀b"


# -- create_doc_from_snapshot --------------------------------------------------------------------


def test_create_doc_from_snapshot_refuses_gc():
    doc = crdt.Doc()
    doc.get_text("t").insert(0, "x")
    with pytest.raises(ValueError, match="gc=False"):
        create_doc_from_snapshot(doc, snapshot(doc))


def test_create_doc_from_snapshot_refuses_a_snapshot_from_the_future():
    doc = crdt.Doc(client_id=1, gc=False)
    doc.get_text("t").insert(0, "x")
    other = crdt.Doc(client_id=1, gc=False)
    with pytest.raises(ValueError, match="ahead"):
        create_doc_from_snapshot(other, snapshot(doc))


def test_create_doc_from_snapshot_into_given_doc():
    doc = crdt.Doc(client_id=1, gc=False)
    m = doc.get_map("m")
    m["a"] = 1
    s = snapshot(doc)
    m["a"] = 2
    target = crdt.Doc(client_id=50)
    seen = []
    target.observe_updates(lambda u, origin: seen.append(origin))
    assert create_doc_from_snapshot(doc, s, target) is target
    assert target.get_map("m").to_py() == {"a": 1}
    assert seen == ["snapshot"]
    assert create_doc_from_snapshot(doc, empty_snapshot()).encode_state_as_update() == b"\x00\x00"


def test_snapshot_contains_update():
    doc = crdt.Doc(client_id=1, gc=False)
    updates = []
    doc.observe_updates(lambda u, o: updates.append(u))
    t = doc.get_text("t")
    t.insert(0, "ab")
    s1 = snapshot(doc)
    t.delete(0)
    s2 = snapshot(doc)
    assert snapshot_contains_update(s1, updates[0])
    assert not snapshot_contains_update(s1, updates[1])
    assert snapshot_contains_update(s2, updates[1])
    assert not snapshot_contains_update(empty_snapshot(), updates[0])


@pytest.mark.parametrize("seed", range(30))
def test_reading_agrees_with_rebuilt_documents(seed):
    """to_py_at(doc, s) is what create_doc_from_snapshot(doc, s) holds, for random histories."""
    rng = random.Random(seed)
    docs = [make_doc(c, ROOTS) for c in (1, 2, 3)]
    snaps = []
    for _ in range(8):
        random_steps(rng, docs, ROOTS, 6)
        p = rng.randrange(3)
        snaps.append((p, snapshot(docs[p]), roots_json(docs[p], ROOTS)))
    for p, s, expected in snaps:
        assert plain(to_py_at(docs[p], s)) == expected
        rebuilt = create_doc_from_snapshot(docs[p], s)
        assert roots_json(rebuilt, ROOTS) == expected
        assert Snapshot.decode(s.encode()) == s


# -- against Yjs -----------------------------------------------------------------------------------


def replay(script: dict) -> tuple[list[crdt.Doc], dict[str, tuple[int, Snapshot]]]:
    roots = script["roots"]
    docs = [make_doc(c, roots) for c in script["clients"]]
    snaps: dict[str, tuple[int, Snapshot]] = {}
    for step in script["steps"]:
        if "ops" in step:
            doc = docs[step["peer"]]
            with doc.transact():
                for op in step["ops"]:
                    apply_op(doc, roots, op)
        elif "sync" in step:
            sync(*(docs[i] for i in step["sync"]))
        elif "apply" in step:
            docs[step["to"]].apply_update(unb64(step["apply"]))
        else:
            snaps[step["snapshot"]] = (step["peer"], snapshot(docs[step["peer"]]))
    return docs, snaps


def check_against_yjs(script: dict, yjs: dict) -> None:
    assert yjs["ok"], yjs.get("error")
    roots = script["roots"]
    docs, snaps = replay(script)
    for doc, final in zip(docs, yjs["final"], strict=True):
        assert roots_json(doc, roots) == final["json"]
        assert doc.encode_state_as_update() == unb64(final["state"])
    ours_prev: dict[int, Snapshot] = {}
    for name, (peer, snap) in snaps.items():
        expected = yjs["snapshots"][name]
        doc = docs[peer]
        assert snap.encode() == unb64(expected["encoded"]), name
        assert expected["roundtrip_equal"]
        new_doc = make_doc(999999, roots, gc=True)
        create_doc_from_snapshot(doc, snap, new_doc)
        assert roots_json(new_doc, roots) == expected["doc"], name
        assert new_doc.encode_state_as_update() == unb64(expected["doc_state"]), name
        assert plain(to_py_at(doc, snap)) == expected["doc"], name
        for root, kind in roots.items():
            if kind != "text":
                continue
            assert text_delta_at(doc.get_text(root), snap) == expected["delta"][root], name
            if expected["prev"] is not None:
                prev = ours_prev[peer]
                assert text_delta_at(doc.get_text(root), snap, prev) == expected["delta_prev"][root], name
        ours_prev[peer] = snap
    for n1, n2, equal in yjs["equal"]:
        assert (snaps[n1][1] == snaps[n2][1]) is equal, (n1, n2)
    for doc, state in zip(docs, yjs["source_state_after"], strict=True):
        assert doc.encode_state_as_update() == unb64(state)


def t_op(action: str, path=("t",), **kw) -> dict:
    return {"path": list(path), "action": action, **kw}


def m_set(key: str, value) -> dict:
    return {"path": ["m"], "action": "map_set", "key": key, "value": value}


HANDWRITTEN = [
    # one peer: typing across snapshots (items merge afterwards), deletions that grow
    {
        "clients": [1],
        "roots": {"t": "text"},
        "steps": [
            {"snapshot": "empty", "peer": 0},
            {"peer": 0, "ops": [t_op("text_insert", index=0, content="hello")]},
            {"snapshot": "s1", "peer": 0},
            {"peer": 0, "ops": [t_op("text_insert", index=5, content=" world")]},
            {"snapshot": "s2", "peer": 0},
            {"peer": 0, "ops": [t_op("text_delete", index=2, length=2)]},
            {"snapshot": "s3", "peer": 0},
            {"peer": 0, "ops": [t_op("text_delete", index=1, length=3)]},
            {"snapshot": "s4", "peer": 0},
            {"peer": 0, "ops": [t_op("text_insert", index=0, content="X")]},
            {"snapshot": "s5", "peer": 0},
        ],
    },
    # two peers, concurrent edits, snapshots on both sides
    {
        "clients": [10, 20],
        "roots": {"t": "text", "m": "map"},
        "steps": [
            {
                "peer": 0,
                "ops": [
                    t_op("text_insert", index=0, content="abc"),
                    {"path": ["m"], "action": "map_set", "key": "k", "value": 1},
                ],
            },
            {"sync": [0, 1]},
            {"snapshot": "a0", "peer": 0},
            {
                "peer": 1,
                "ops": [
                    t_op("text_insert", index=1, content="XY"),
                    {"path": ["m"], "action": "map_set", "key": "k", "value": "b"},
                ],
            },
            {
                "peer": 0,
                "ops": [
                    t_op("text_delete", index=0, length=2),
                    {"path": ["m"], "action": "map_set", "key": "k", "value": "a"},
                ],
            },
            {"snapshot": "b1", "peer": 1},
            {"snapshot": "a1", "peer": 0},
            {"sync": [0, 1]},
            {"snapshot": "a2", "peer": 0},
            {"snapshot": "b2", "peer": 1},
            {"peer": 1, "ops": [{"path": ["m"], "action": "map_delete", "key": "k"}]},
            {"snapshot": "b3", "peer": 1},
        ],
    },
    # nested types, an array run split by a later insert, a type deleted with its content
    {
        "clients": [5],
        "roots": {"a": "array", "m": "map"},
        "steps": [
            {
                "peer": 0,
                "ops": [
                    {
                        "path": ["a"],
                        "action": "array_insert",
                        "index": 0,
                        "values": [
                            1,
                            2,
                            3,
                            {"$type": "map", "init": [["x", {"$type": "text", "init": "hi"}]]},
                        ],
                    }
                ],
            },
            {"snapshot": "s1", "peer": 0},
            {
                "peer": 0,
                "ops": [
                    {"path": ["a"], "action": "array_insert", "index": 1, "values": ["mid"]},
                    {"path": ["a", 4, "x"], "action": "text_insert", "index": 2, "content": "!"},
                ],
            },
            {"snapshot": "s2", "peer": 0},
            {
                "peer": 0,
                "ops": [
                    {"path": ["a"], "action": "array_delete", "index": 3, "length": 2},
                    {"path": ["m"], "action": "map_set", "key": "t", "value": {"$type": "text", "init": "q"}},
                ],
            },
            {"snapshot": "s3", "peer": 0},
            {
                "peer": 0,
                "ops": [
                    {"path": ["m", "t"], "action": "text_insert", "index": 0, "content": "p"},
                    {"path": ["m"], "action": "map_set", "key": "t", "value": None},
                ],
            },
            {"snapshot": "s4", "peer": 0},
        ],
    },
    # one key set again and again by one client: the overwritten values merge into one deleted run
    # that straddles the snapshots
    {
        "clients": [9],
        "roots": {"m": "map", "a": "array"},
        "steps": [
            {"peer": 0, "ops": [m_set("k", 1)]},
            {"snapshot": "s1", "peer": 0},
            {"peer": 0, "ops": [m_set("k", 2)]},
            {"snapshot": "s2", "peer": 0},
            {"peer": 0, "ops": [m_set("k", 3)]},
            {
                "peer": 0,
                "ops": [
                    m_set("k", 4),
                    {"path": ["a"], "action": "array_insert", "index": 0, "values": [1, 2]},
                ],
            },
            {"snapshot": "s3", "peer": 0},
            {
                "peer": 0,
                "ops": [
                    {"path": ["m"], "action": "map_delete", "key": "k"},
                    {"path": ["a"], "action": "array_insert", "index": 2, "values": [3, 4]},
                ],
            },
            {"snapshot": "s4", "peer": 0},
            {
                "peer": 0,
                "ops": [m_set("k", 5), {"path": ["a"], "action": "array_delete", "index": 1, "length": 2}],
            },
            {"snapshot": "s5", "peer": 0},
            {"peer": 0, "ops": [{"path": ["a"], "action": "array_delete", "index": 0, "length": 2}]},
        ],
    },
]


@pytest.fixture(scope="module")
def handwritten_results():
    return run_node("snapshot_oracle.mjs", {"scripts": HANDWRITTEN})


@pytest.mark.parametrize("index", range(len(HANDWRITTEN)))
def test_handwritten_scripts_match_yjs(handwritten_results, index):
    assert handwritten_results["yjs"] == "13.6.33"
    check_against_yjs(HANDWRITTEN[index], handwritten_results["results"][index])


def random_script(seed: int) -> dict:
    rng = random.Random(seed)
    clients = rng.sample(range(1, 1000), rng.randint(1, 3))
    docs = [make_doc(c, ROOTS) for c in clients]
    steps = random_steps(rng, docs, ROOTS, rng.randint(5, 30), snapshots=True)
    steps.append({"snapshot": "end", "peer": 0})
    return {"clients": clients, "roots": ROOTS, "steps": steps}


RANDOM_SEEDS = range(120)


@pytest.fixture(scope="module")
def random_results():
    scripts = [random_script(seed) for seed in RANDOM_SEEDS]
    return scripts, run_node("snapshot_oracle.mjs", {"scripts": scripts})["results"]


@pytest.mark.parametrize("seed", RANDOM_SEEDS)
def test_random_scripts_match_yjs(random_results, seed):
    scripts, results = random_results
    check_against_yjs(scripts[seed], results[seed])


def test_formatted_text_from_yjs_at_snapshots():
    """Text formatted by a Yjs peer: toDelta(snapshot, prevSnapshot) with the formatting of the time."""
    fmt = {"path": ["t"], "action": "text_format"}
    author = {
        "clients": [1],
        "roots": {"t": "text"},
        "steps": [
            {"peer": 0, "ops": [t_op("text_insert", index=0, content="hello world")]},
            {"peer": 0, "ops": [{**fmt, "index": 2, "length": 5, "attributes": {"bold": True}}]},
            {"peer": 0, "ops": [t_op("text_insert", index=3, content="XY")]},
            {"peer": 0, "ops": [{**fmt, "index": 0, "length": 4, "attributes": {"bold": None, "i": 1}}]},
            {
                "peer": 0,
                "ops": [t_op("text_delete", index=1, length=3), t_op("text_insert", index=0, content="<")],
            },
        ],
    }
    updates = run_node("events_oracle.mjs", {"scripts": [author]})["results"][0]["updates"]
    steps: list[dict] = []
    for k, u in enumerate(updates):
        steps += [{"apply": u, "to": 0}, {"snapshot": f"s{k}", "peer": 0}]
    script = {"clients": [2], "roots": {"t": "text"}, "steps": steps}
    yjs = run_node("snapshot_oracle.mjs", {"scripts": [script]})["results"][0]
    check_against_yjs(script, yjs)
    assert any("attributes" in op for s in yjs["snapshots"].values() for op in s["delta"]["t"])
