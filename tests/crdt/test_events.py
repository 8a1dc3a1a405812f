"""Observers and events, compared with Yjs on the same scripts (``tests/node/events_oracle.mjs``).

Every root of every peer has one ``observe`` and one ``observe_deep`` observer; each call is logged
with its events' target (absolute path), ``path``, ``delta``, ``keys``, ``transaction.local`` and
``transaction.origin``, for local transactions and for updates from peers (in and out of order).
Text stays in the Basic Multilingual Plane where Yjs is compared (its indices are UTF-16 units,
ours code points); ``test_astral_text_deltas`` checks the conversion on its own.
"""

from __future__ import annotations

import random
from typing import Any

import pytest

import crdt
from crdt.encoding import UNDEFINED
from crdt.events import _path_to
from tests.crdt.script_runner import (
    GETTERS,
    apply_op,
    make_doc,
    plain,
    random_op,
    resolve,
    roots_json,
    run_node,
    sync,
    unb64,
)

ROOTS = {"t": "text", "a": "array", "m": "map"}


def kind_of(t: crdt.SharedType) -> str:
    if isinstance(t, crdt.Text):
        return "text"
    if isinstance(t, crdt.Array):
        return "array"
    if isinstance(t, crdt.Map):
        return "map"
    return type(t).__name__


def tagged(v: Any) -> Any:
    if isinstance(v, crdt.SharedType):
        return {"$shared": kind_of(v), "value": plain(v)}
    if isinstance(v, list):
        return [tagged(x) for x in v]
    return plain(v)


def abs_path(t: crdt.SharedType) -> list:
    """Root name, then keys and indices down to ``t`` (the engine's own path walk from the root)."""
    root = t
    while root._item is not None:
        root = root._item.parent
    name = next(n for n, r in t.doc.share.items() if r is root)
    return [name, *_path_to(root, t)]


def event_json(event) -> dict:
    tr = event.transaction
    return {
        "target": abs_path(event.target),
        "path": event.path,
        "delta": [{k: tagged(v) if k == "insert" else v for k, v in op.items()} for op in event.delta],
        "keys": {
            k: {"action": c["action"], "oldValue": tagged(c["old_value"])} for k, c in event.keys.items()
        },
        "local": tr.local,
        "origin": tr.origin if tr.origin is None or isinstance(tr.origin, str) else "?",
    }


def replay(script: dict) -> dict:
    """Our side of events_oracle.mjs: the same log, made by our engine."""
    roots = script["roots"]
    docs = [make_doc(c, roots, gc=script.get("gc", True)) for c in script["clients"]]
    logs: list[list] = [[] for _ in docs]
    handlers: list[dict] = [{} for _ in docs]
    state = {"step": -1}

    def observe(p: int, path: list, deep: bool) -> None:
        t = resolve(docs[p], roots, path)

        def on_deep(events):
            logs[p].append(
                {
                    "step": state["step"],
                    "observer": path,
                    "deep": True,
                    "events": [event_json(e) for e in events],
                }
            )

        def on_event(event):
            logs[p].append(
                {"step": state["step"], "observer": path, "deep": False, "events": [event_json(event)]}
            )

        h = t.observe_deep(on_deep) if deep else t.observe(on_event)
        handlers[p][repr((path, deep))] = (t, h)

    for p in range(len(docs)):
        for name in roots:
            observe(p, [name], False)
            observe(p, [name], True)
    updates: list = []
    for s, step in enumerate(script["steps"]):
        state["step"] = s
        if "ops" in step:
            doc = docs[step["peer"]]
            out: list = []
            cb = doc.observe_updates(lambda u, origin, out=out: out.append(u))
            try:
                with doc.transact(origin=step.get("origin")):
                    for op in step["ops"]:
                        apply_op(doc, roots, op)
            finally:
                doc.unobserve_updates(cb)
            updates.append(out[0] if out else None)
        elif "deliver" in step:
            ks = step["deliver"] if isinstance(step["deliver"], list) else [step["deliver"]]
            for k in ks:
                if updates[k] is not None:
                    docs[step["to"]].apply_update(updates[k], origin="remote")
        elif "apply" in step:
            docs[step["to"]].apply_update(unb64(step["apply"]), origin="remote")
        elif "sync" in step:
            a, b = (docs[i] for i in step["sync"])
            a.apply_update(b.encode_state_as_update(a.encode_state_vector()), origin="remote")
            b.apply_update(a.encode_state_as_update(b.encode_state_vector()), origin="remote")
        elif "observe" in step:
            observe(step["peer"], step["observe"], bool(step.get("deep")))
        elif "unobserve" in step:
            t, h = handlers[step["peer"]].pop(repr((step["unobserve"], bool(step.get("deep")))))
            (t.unobserve_deep if step.get("deep") else t.unobserve)(h)
        else:
            raise ValueError(f"unknown step {step}")
    return {"log": logs, "updates": updates, "final": [roots_json(d, roots) for d in docs]}


def check_against_yjs(script: dict, yjs: dict) -> None:
    assert yjs["ok"], yjs.get("error")
    ours = replay(script)
    assert ours["final"] == yjs["final"]
    assert [u for u in ours["updates"]] == [None if u is None else unb64(u) for u in yjs["updates"]]
    for peer, (mine, theirs) in enumerate(zip(ours["log"], yjs["log"], strict=True)):
        assert len(mine) == len(theirs), (peer, mine, theirs)
        for a, b in zip(mine, theirs, strict=True):
            assert a == b, f"peer {peer}, step {b['step']}: {script['steps'][b['step']]}"


# -- handwritten scripts ---------------------------------------------------------------------------


def op(path, action: str, **kw) -> dict:
    return {"path": list(path), "action": action, **kw}


def ins(index: int, content: str, path=("t",)) -> dict:
    return op(path, "text_insert", index=index, content=content)


def dele(index: int, length: int, path=("t",)) -> dict:
    return op(path, "text_delete", index=index, length=length)


def mset(key: str, value, path=("m",)) -> dict:
    return op(path, "map_set", key=key, value=value)


def mdel(key: str, path=("m",)) -> dict:
    return op(path, "map_delete", key=key)


def ains(index: int, values: list, path=("a",)) -> dict:
    return op(path, "array_insert", index=index, values=values)


def adel(index: int, length: int, path=("a",)) -> dict:
    return op(path, "array_delete", index=index, length=length)


SCRIPTS = {
    "text_local_and_remote": {
        "clients": [1, 2],
        "roots": {"t": "text"},
        "steps": [
            {"peer": 0, "ops": [ins(0, "hello world")], "origin": "typing"},
            {"deliver": 0, "to": 1},
            {"peer": 0, "ops": [dele(0, 6), ins(5, "!"), ins(0, "big ")]},
            {"peer": 1, "ops": [ins(5, ","), dele(6, 5)]},
            {"deliver": 1, "to": 1},
            {"deliver": 2, "to": 0},
            {"peer": 0, "ops": [ins(0, "x"), dele(0, 1)]},  # inserted and deleted: nothing to tell
        ],
    },
    "map_actions_and_old_values": {
        "clients": [1, 2],
        "roots": {"m": "map"},
        "steps": [
            {"peer": 0, "ops": [mset("a", 1), mset("b", "x"), mset("c", [1, {"z": None}])]},
            {"deliver": 0, "to": 1},
            {"peer": 0, "ops": [mset("a", 2), mdel("b"), mset("d", True), mset("d", False)]},
            {"deliver": 1, "to": 1},
            {"peer": 1, "ops": [mset("e", 1), mdel("e")]},  # added and deleted in one transaction
            {"peer": 1, "ops": [mset("c", {"$type": "text", "init": "nested"})]},
            {"deliver": 3, "to": 0},
            {"peer": 0, "ops": [mset("c", None)]},  # the old value is a shared type
            {"deliver": 4, "to": 1},
            {"peer": 0, "ops": [mset("n", {"$type": "map", "init": [["k", 1]]})]},
            {"deliver": 5, "to": 1},
            {"peer": 1, "ops": [mdel("n")]},
            {"deliver": 6, "to": 0},
        ],
    },
    "concurrent_map_sets": {
        "clients": [1, 2, 3],
        "roots": {"m": "map"},
        "steps": [
            {"peer": 0, "ops": [mset("k", "one")]},
            {"peer": 1, "ops": [mset("k", "two")]},
            {"peer": 2, "ops": [mset("k", "three"), mset("j", 0)]},
            {"deliver": [0, 1], "to": 2},
            {"deliver": [2, 0], "to": 1},
            {"deliver": [1, 2], "to": 0},
            {"peer": 0, "ops": [mdel("k")]},
            {"peer": 1, "ops": [mset("k", "again")]},
            {"deliver": [4], "to": 0},
            {"deliver": [3], "to": 1},
        ],
    },
    "nested_deep_paths": {
        "clients": [7, 8],
        "roots": {"a": "array", "m": "map"},
        "steps": [
            {
                "peer": 0,
                "ops": [
                    ains(
                        0,
                        [
                            1,
                            {
                                "$type": "map",
                                "init": [
                                    ["t", {"$type": "text", "init": "ab"}],
                                    ["l", {"$type": "array", "init": [1, 2]}],
                                ],
                            },
                            3,
                        ],
                    )
                ],
            },
            {"deliver": 0, "to": 1},
            {"observe": ["a", 1], "peer": 0},
            {"observe": ["a", 1, "t"], "peer": 0, "deep": True},
            {"observe": ["a", 1], "peer": 1, "deep": True},
            {
                "peer": 0,
                "ops": [
                    ins(1, "X", path=("a", 1, "t")),
                    ains(2, ["z"], path=("a", 1, "l")),
                    mset("new", 5, path=("a", 1)),
                    adel(0, 1),
                ],
            },
            {"deliver": 1, "to": 1},
            {"peer": 1, "ops": [dele(0, 1, path=("a", 0, "t")), ains(0, [0])]},
            {"deliver": 2, "to": 0},
            {
                "peer": 0,
                "ops": [
                    mset("x", {"$type": "array", "init": ["p"]}),
                    ains(0, ["q"], path=("m", "x")),
                    ains(2, ["r"], path=("m", "x")),
                ],
            },
            {"deliver": 3, "to": 1},
            {"unobserve": ["a", 1], "peer": 0},
            {"peer": 1, "ops": [ins(0, "Y", path=("a", 1, "t")), mset("k", 1)]},
            {"deliver": 4, "to": 0},
            # deleting the observed type: its own observers stay quiet, the parent reports the delete
            {"peer": 0, "ops": [ins(0, "gone", path=("a", 1, "t")), adel(1, 1)]},
            {"deliver": 5, "to": 1},
        ],
    },
    "array_runs": {
        "clients": [3, 4],
        "roots": {"a": "array"},
        "steps": [
            {"peer": 0, "ops": [ains(0, [1, 2, 3, 4, 5])]},
            {"peer": 0, "ops": [ains(2, ["a", "b"]), adel(5, 2)]},
            {"deliver": [1, 0], "to": 1},  # out of order: the second update waits for the first
            {"peer": 1, "ops": [adel(0, 3), ains(0, [{"$bytes": "AAE="}]), ains(1, [None, 1.5, -7])]},
            {"peer": 0, "ops": [ains(7 - 2, ["end"])]},
            {"deliver": [3], "to": 1},
            {"deliver": [2], "to": 0},
        ],
    },
    "out_of_order_text": {
        "clients": [1, 2],
        "roots": {"t": "text"},
        "steps": [
            {"peer": 0, "ops": [ins(0, "abc")]},
            {"peer": 0, "ops": [ins(3, "def")]},
            {"peer": 0, "ops": [dele(1, 4)]},
            {"peer": 0, "ops": [ins(1, "Z")]},
            {"deliver": [3, 2], "to": 1},  # all pending (and a pending delete set)
            {"deliver": [1], "to": 1},
            {"deliver": [0], "to": 1},  # everything integrates in this transaction
        ],
    },
    "gc_off": {
        "clients": [1, 2],
        "gc": False,
        "roots": {"m": "map", "t": "text"},
        "steps": [
            {"peer": 0, "ops": [mset("k", {"$type": "text", "init": "hey"}), ins(0, "abc")]},
            {"deliver": 0, "to": 1},
            {"peer": 1, "ops": [mset("k", 2), dele(1, 1)]},
            {"deliver": 1, "to": 0},
        ],
    },
}


@pytest.fixture(scope="module")
def handwritten_results():
    names = list(SCRIPTS)
    answer = run_node("events_oracle.mjs", {"scripts": [SCRIPTS[n] for n in names]})
    assert answer["yjs"] == "13.6.33"
    return dict(zip(names, answer["results"], strict=True))


@pytest.mark.parametrize("name", list(SCRIPTS))
def test_handwritten_scripts_match_yjs(handwritten_results, name):
    check_against_yjs(SCRIPTS[name], handwritten_results[name])


# -- random scripts ----------------------------------------------------------------------------------


def random_script(seed: int) -> dict:
    """Random local transactions on 2-3 peers; updates delivered in random order, some twice."""
    rng = random.Random(seed)
    clients = rng.sample(range(1, 1000), rng.randint(2, 3))
    docs = [make_doc(c, ROOTS, gc=True) for c in clients]
    updates: list = []
    steps: list[dict] = []
    for _ in range(rng.randint(5, 25)):
        r = rng.random()
        if updates and r < 0.35:
            to = rng.randrange(len(docs))
            ks = rng.sample(range(len(updates)), rng.randint(1, min(3, len(updates))))
            for k in ks:
                if updates[k] is not None:
                    docs[to].apply_update(updates[k])
            steps.append({"deliver": ks, "to": to})
        elif r < 0.42:
            i, j = rng.sample(range(len(docs)), 2)
            sync(docs[i], docs[j])
            steps.append({"sync": [i, j]})
        else:
            p = rng.randrange(len(docs))
            doc = docs[p]
            ops = []
            out: list = []
            cb = doc.observe_updates(lambda u, o, out=out: out.append(u))
            with doc.transact():
                for _ in range(rng.randint(1, 3)):
                    o = random_op(rng, doc, ROOTS)
                    apply_op(doc, ROOTS, o)
                    ops.append(o)
            doc.unobserve_updates(cb)
            updates.append(out[0] if out else None)
            steps.append({"peer": p, "ops": ops})
    for i in range(1, len(docs)):
        steps.append({"sync": [0, i]})
    return {"clients": clients, "roots": ROOTS, "steps": steps}


RANDOM_SEEDS = range(150)


@pytest.fixture(scope="module")
def random_results():
    scripts = [random_script(seed) for seed in RANDOM_SEEDS]
    return scripts, run_node("events_oracle.mjs", {"scripts": scripts})["results"]


@pytest.mark.parametrize("seed", RANDOM_SEEDS)
def test_random_scripts_match_yjs(random_results, seed):
    scripts, results = random_results
    check_against_yjs(scripts[seed], results[seed])


# -- our own API, without Yjs ----------------------------------------------------------------------


def test_changes_are_only_readable_during_dispatch():
    doc = crdt.Doc(client_id=1)
    t = doc.get_text("t")
    seen = []
    t.observe(seen.append)
    t.insert(0, "ab")
    with pytest.raises(RuntimeError):
        seen[0].delta  # noqa: B018
    assert seen[0].target is t and seen[0].current_target is t


def test_event_fields():
    doc = crdt.Doc(client_id=1)
    m = doc.get_map("m")
    log = []

    def on_deep(events):
        for e in events:
            log.append((e.target, e.current_target, e.path, e.keys, e.delta, e.transaction.origin))

    m.observe_deep(on_deep)
    with doc.transact(origin="me"):
        m["inner"] = crdt.Array([1])
    inner = m["inner"]
    with doc.transact(origin="again"):
        inner.append(2)
        m["x"] = 1
    assert log[0] == (m, m, [], {"inner": {"action": "add", "old_value": UNDEFINED}}, [], "me")
    # events of one call are sorted by path length: the map itself first
    assert log[1] == (m, m, [], {"x": {"action": "add", "old_value": UNDEFINED}}, [], "again")
    assert log[2] == (inner, m, ["inner"], {}, [{"retain": 1}, {"insert": [2]}], "again")


def test_unobserve_stops_calls():
    doc = crdt.Doc()
    a = doc.get_array("a")
    calls = []
    cb = a.observe(calls.append)
    deep = a.observe_deep(calls.append)
    a.append(1)
    a.unobserve(cb)
    a.unobserve_deep(deep)
    a.append(2)
    assert len(calls) == 2


def test_astral_text_deltas():
    """Our deltas count code points; Yjs's count UTF-16 units. Both describe the same change."""
    script = {
        "clients": [1, 2],
        "roots": {"t": "text"},
        "steps": [
            {"peer": 0, "ops": [ins(0, "a😀b🎉c")]},
            {"deliver": 0, "to": 1},
        ],
    }
    yjs = run_node("events_oracle.mjs", {"scripts": [script]})["results"][0]
    ours = replay(script)
    assert ours["final"] == yjs["final"] == [{"t": "a😀b🎉c"}] * 2
    # Yjs deletes "b🎉" (UTF-16 index 3, length 3); we delete code points [2, 4).
    doc_js = {
        "clients": [1, 2],
        "roots": {"t": "text"},
        "steps": [*script["steps"], {"peer": 1, "ops": [dele(3, 3)]}, {"deliver": 1, "to": 0}],
    }
    doc_py = {
        "clients": [1, 2],
        "roots": {"t": "text"},
        "steps": [*script["steps"], {"peer": 1, "ops": [dele(2, 2)]}, {"deliver": 1, "to": 0}],
    }
    yjs = run_node("events_oracle.mjs", {"scripts": [doc_js]})["results"][0]
    ours = replay(doc_py)
    assert ours["final"] == yjs["final"] == [{"t": "a😀c"}] * 2
    remote_js = [e for e in yjs["log"][0] if e["step"] == 3 and not e["deep"]][0]["events"][0]["delta"]
    remote_py = [e for e in ours["log"][0] if e["step"] == 3 and not e["deep"]][0]["events"][0]["delta"]
    assert remote_js == [{"retain": 3}, {"delete": 3}]
    assert remote_py == [{"retain": 2}, {"delete": 2}]
    assert ours["updates"] == [unb64(u) for u in yjs["updates"]]


def test_observer_on_a_root_asked_for_later():
    """Content that arrives before the root's kind is known is reported once the root exists."""
    src = crdt.Doc(client_id=1)
    src.get_map("m")["k"] = 1
    dst = crdt.Doc(client_id=2)
    dst.apply_update(src.encode_state_as_update())
    seen = []
    m = dst.get_map("m")
    m.observe(lambda e: seen.append(e.keys))
    src.get_map("m")["k"] = 2
    dst.apply_update(src.encode_state_as_update(dst.encode_state_vector()))
    assert seen == [{"k": {"action": "update", "old_value": 1}}]
    assert GETTERS["map"](dst, "m") is m


def _without_formatting(delta: list[dict]) -> list[dict]:
    """A Yjs text delta as we report it: attributes dropped, attribute-only retains joined."""
    out: list[dict] = []
    for op in delta:
        op = {k: v for k, v in op.items() if k != "attributes"}
        if out and "retain" in op and "retain" in out[-1]:
            out[-1]["retain"] += op["retain"]
        else:
            out.append(op)
    while out and "retain" in out[-1]:
        out.pop()
    return out


def test_remote_formatting_events():
    """Formatting made by Yjs peers is kept, but our text deltas do not report it (no formatting API):
    they equal Yjs's deltas without attributes."""
    fmt = {"path": ["t"], "action": "text_format"}
    author = {
        "clients": [1],
        "roots": {"t": "text"},
        "steps": [
            {"peer": 0, "ops": [ins(0, "hello world")]},
            {"peer": 0, "ops": [{**fmt, "index": 2, "length": 5, "attributes": {"bold": True}}]},
            {"peer": 0, "ops": [ins(3, "XY")]},
            {"peer": 0, "ops": [{**fmt, "index": 0, "length": 4, "attributes": {"bold": None, "i": 1}}]},
            {"peer": 0, "ops": [dele(1, 3), ins(0, "<")]},
        ],
    }
    updates = run_node("events_oracle.mjs", {"scripts": [author]})["results"][0]["updates"]
    reader = {"clients": [2], "roots": {"t": "text"}, "steps": [{"apply": u, "to": 0} for u in updates]}
    yjs = run_node("events_oracle.mjs", {"scripts": [reader]})["results"][0]
    ours = replay(reader)
    assert ours["final"] == yjs["final"] == [{"t": "<hYlo world"}]
    assert len(ours["log"][0]) == len(yjs["log"][0])
    for mine, theirs in zip(ours["log"][0], yjs["log"][0], strict=True):
        for a, b in zip(mine["events"], theirs["events"], strict=True):
            assert a["delta"] == _without_formatting(b["delta"])
            assert {k: v for k, v in a.items() if k != "delta"} == {
                k: v for k, v in b.items() if k != "delta"
            }
