"""UndoManager: scripts run on our engine and on Yjs 13.6 (tests/node/undo_oracle.mjs), compared step by step.

Every step of a script is compared: the JSON and state vector of every peer, the sizes of every
manager's stacks, the events each manager emitted, and what undo()/redo() returned. Time is fake on both
sides (the managers read an injected clock in milliseconds), so capture timeouts are exact and nothing
sleeps.

``CRDT_UNDO_SCENARIOS=N`` changes how many random scripts run (default 300); ``CRDT_UNDO_SEED=S`` reruns
one of them.
"""

from __future__ import annotations

import json
import os
import random
import shutil
import subprocess
from typing import Any

import pytest

import crdt
from crdt.structs.contents import ContentString, ContentType
from crdt.undo_manager import StackClearedEvent, StackItem, StackItemEvent, UndoManager
from tests.conftest import NODE_DIR, missing

ORACLE = NODE_DIR / "undo_oracle.mjs"
START_TIME = 1_000_000
ROOTS = {"t": "text", "a": "array", "m": "map"}


# -- the two runners ---------------------------------------------------------------------------------


def run_yjs(scenarios: list[dict], timeout: float = 300) -> list[dict]:
    if shutil.which("node") is None:
        missing("node is not installed")
    if not (NODE_DIR / "node_modules" / "yjs").is_dir():
        missing("Yjs is not installed: run `npm ci` in tests/node")
    proc = subprocess.run(
        ["node", str(ORACLE)],
        input=json.dumps({"scenarios": scenarios}).encode(),
        cwd=str(NODE_DIR),
        capture_output=True,
        timeout=timeout,
    )
    if proc.returncode != 0:
        raise RuntimeError(f"undo oracle failed ({proc.returncode}):\n{proc.stderr.decode()[-4000:]}")
    return json.loads(proc.stdout)["results"]


class PyRun:
    """Replays a scenario on our engine, step by step (``step`` may be called as steps are generated)."""

    def __init__(self, scenario: dict) -> None:
        self.roots = scenario.get("roots", ROOTS)
        self.gc = scenario.get("gc", True)
        self.docs = []
        for client in scenario["clients"]:
            doc = crdt.Doc(client_id=client, gc=self.gc)
            for name, kind in self.roots.items():
                self.root(doc, name, kind)
            self.docs.append(doc)
        self.now = START_TIME
        self.managers: list[UndoManager] = []
        self.logs: list[list[str]] = []
        self.classes: dict[str, type] = {}
        self.trace: list[dict] = []

    @staticmethod
    def root(doc, name: str, kind: str):
        return {"text": doc.get_text, "array": doc.get_array, "map": doc.get_map}[kind](name)

    def resolve(self, doc, path: list):
        t = self.root(doc, path[0], self.roots[path[0]])
        for seg in path[1:]:
            t = t[seg]
            assert isinstance(t, crdt.SharedType), f"path {path} does not lead to a type"
        return t

    def origin(self, o: Any, tracked: bool) -> Any:
        if not isinstance(o, dict):
            return o
        if "$class" in o:
            cls = self.classes.setdefault(o["$class"], type(o["$class"], (), {}))
            return cls if tracked else cls()
        return self.managers[o["$um"]]

    def value(self, v: Any) -> Any:
        if isinstance(v, list):
            return [self.value(x) for x in v]
        if isinstance(v, dict):
            kind = v.get("$type")
            if kind == "text":
                return crdt.Text(v.get("init") or "")
            if kind == "array":
                return crdt.Array([self.value(x) for x in v.get("init", [])])
            if kind == "map":
                return crdt.Map({k: self.value(x) for k, x in v.get("init", [])})
            return {k: self.value(x) for k, x in v.items()}
        return v

    def apply_op(self, doc, op: dict) -> None:
        t = self.resolve(doc, op["path"])
        action = op["action"]
        if action == "text_insert":
            t.insert(op["index"], op["content"])
        elif action == "text_delete":
            t.delete(op["index"], op["length"])
        elif action == "array_insert":
            t.insert(op["index"], self.value(op["values"]))
        elif action == "array_delete":
            t.delete(op["index"], op["length"])
        elif action == "map_set":
            t[op["key"]] = self.value(op["value"])
        elif action == "map_delete":
            if op["key"] in t:
                del t[op["key"]]
        else:
            raise ValueError(action)

    def send(self, i: int, j: int) -> None:
        src, dst = self.docs[i], self.docs[j]
        dst.apply_update(src.encode_state_as_update(dst.encode_state_vector()), origin="remote")

    def new_manager(self, m: dict) -> None:
        doc = self.docs[m["peer"]]
        scope = doc if m["scope"] == "doc" else [self.resolve(doc, p) for p in m["scope"]]
        tracked = m.get("tracked_origins")
        um = UndoManager(
            scope,
            tracked_origins=None if tracked is None else [self.origin(o, True) for o in tracked],
            capture_timeout=m.get("capture_timeout", 500),
            ignore_remote_map_changes=m.get("ignore_remote_map_changes", False),
            delete_filter=(lambda item: item.content.__class__ is not ContentType)
            if m.get("delete_filter_keep_types")
            else None,
            clock=lambda: self.now,
        )
        log: list[str] = []
        for name in ("added", "updated", "popped"):
            um.observe(f"stack-item-{name}", lambda e, name=name, log=log: log.append(f"{name}:{e.type}"))
        um.observe(
            "stack-cleared",
            lambda e, log=log: log.append(
                f"cleared:{str(e.undo_stack_cleared).lower()}:{str(e.redo_stack_cleared).lower()}"
            ),
        )
        self.managers.append(um)
        self.logs.append(log)

    def step(self, step: dict) -> dict:
        record: dict[str, Any] = {}
        if "time" in step:
            self.now = step["time"]
        if "peer" in step:
            doc = self.docs[step["peer"]]
            with doc.transact(origin=self.origin(step.get("origin"), False)):
                for op in step["ops"]:
                    self.apply_op(doc, op)
        elif "manager" in step:
            self.new_manager(step["manager"])
        elif "undo" in step:
            record["result"] = self.managers[step["undo"]].undo()
        elif "redo" in step:
            record["result"] = self.managers[step["redo"]].redo()
        elif "stop" in step:
            self.managers[step["stop"]].stop_capturing()
        elif "clear" in step:
            self.managers[step["clear"]].clear(step.get("undo_stack", True), step.get("redo_stack", True))
        elif "add_to_scope" in step:
            um = self.managers[step["add_to_scope"]]
            um.add_to_scope([self.resolve(um.doc, p) for p in step["scope"]])
        elif "add_origin" in step:
            self.managers[step["add_origin"]].add_tracked_origin(self.origin(step["origin"], True))
        elif "remove_origin" in step:
            self.managers[step["remove_origin"]].remove_tracked_origin(self.origin(step["origin"], True))
        elif "destroy" in step:
            self.managers[step["destroy"]].destroy()
        elif "send" in step:
            self.send(*step["send"])
        elif "sync" in step:
            i, j = step["sync"]
            self.send(j, i)
            self.send(i, j)
        elif not step.get("noop"):
            raise ValueError(f"unknown step {step}")
        record["json"] = [
            {name: self.root(d, name, kind).to_py() for name, kind in self.roots.items()} for d in self.docs
        ]
        record["sv"] = [{str(c): k for c, k in d.state_vector().items()} for d in self.docs]
        record["stacks"] = [[len(um.undo_stack), len(um.redo_stack)] for um in self.managers]
        record["events"] = [list(log) for log in self.logs]
        for log in self.logs:
            log.clear()
        self.trace.append(record)
        return record


def run_py(scenario: dict) -> list[dict]:
    run = PyRun(scenario)
    for step in scenario["steps"]:
        run.step(step)
    return run.trace


def compare(scenario: dict, yjs: dict, ours: list[dict], label: str = "") -> None:
    steps = scenario["steps"]
    if not yjs["ok"]:
        pytest.fail(
            f"{label}Yjs failed at step {yjs['step']} ({json.dumps(steps[yjs['step']])}): {yjs['error']}\n"
            f"our trace there: {ours[yjs['step']] if yjs['step'] < len(ours) else '-'}\n"
            f"script: {json.dumps(scenario)}"
        )
    for k, (theirs, mine) in enumerate(zip(yjs["trace"], ours, strict=False)):
        if theirs != mine:
            pytest.fail(
                f"{label}step {k} ({json.dumps(steps[k])}) differs from Yjs\n  yjs: {json.dumps(theirs)}\n"
                f"  ours: {json.dumps(mine)}\nscript: {json.dumps(scenario)}"
            )
    assert len(yjs["trace"]) == len(ours)


def check(steps: list[dict], clients=(1, 2), gc: bool = True, roots=None) -> list[dict]:
    """Run ``steps`` on both engines, compare every step; returns our trace."""
    scenario = {"clients": list(clients), "gc": gc, "roots": roots or ROOTS, "steps": steps}
    ours = run_py(scenario)
    compare(scenario, run_yjs([scenario])[0], ours)
    return ours


# -- script helpers --------------------------------------------------------------------------------


def edit(peer: int, *ops: dict, origin: Any = None, time: int | None = None) -> dict:
    step: dict[str, Any] = {"peer": peer, "ops": list(ops)}
    if origin is not None:
        step["origin"] = origin
    if time is not None:
        step["time"] = time
    return step


def ti(index: int, content: str, path=("t",)) -> dict:
    return {"path": list(path), "action": "text_insert", "index": index, "content": content}


def td(index: int, length: int, path=("t",)) -> dict:
    return {"path": list(path), "action": "text_delete", "index": index, "length": length}


def ai(index: int, values: list, path=("a",)) -> dict:
    return {"path": list(path), "action": "array_insert", "index": index, "values": values}


def ad(index: int, length: int, path=("a",)) -> dict:
    return {"path": list(path), "action": "array_delete", "index": index, "length": length}


def ms(key: str, value: Any, path=("m",)) -> dict:
    return {"path": list(path), "action": "map_set", "key": key, "value": value}


def md(key: str, path=("m",)) -> dict:
    return {"path": list(path), "action": "map_delete", "key": key}


def manager(peer: int = 0, scope: Any = (("t",), ("a",), ("m",)), **opts) -> dict:
    return {"manager": {"peer": peer, "scope": scope if scope == "doc" else [list(p) for p in scope], **opts}}


def TEXT(init: str) -> dict:  # noqa: N802 (reads like the Yjs value it stands for)
    return {"$type": "text", "init": init}


def text_of(record: dict, peer: int = 0, root: str = "t") -> Any:
    return record["json"][peer][root]


# -- scripted cases --------------------------------------------------------------------------------


def test_typing_merges_within_capture_timeout():
    tr = check([
        manager(0, [("t",)]),
        edit(0, ti(0, "a"), time=START_TIME + 0),
        edit(0, ti(1, "b"), time=START_TIME + 100),
        edit(0, ti(2, "c"), time=START_TIME + 599),  # 499 after the last change: same step
        edit(0, ti(3, "d"), time=START_TIME + 1100),  # 501 after: a new step
        edit(0, ti(4, "e"), time=START_TIME + 1200),
        {"undo": 0},
        {"undo": 0},
        {"undo": 0},
        {"redo": 0},
        {"redo": 0},
        {"redo": 0},
    ])
    assert [text_of(r) for r in tr[6:]] == ["abc", "", "", "abc", "abcde", "abcde"]
    assert [r.get("result") for r in tr[6:]] == [True, True, False, True, True, False]
    assert tr[5]["stacks"] == [[2, 0]]


def test_stop_capturing_starts_a_new_step():
    tr = check([
        manager(0, [("t",)]),
        edit(0, ti(0, "a")),
        {"stop": 0},
        edit(0, ti(0, "b")),
        edit(0, ti(2, "c")),
        {"undo": 0},
        {"undo": 0},
    ])
    assert [text_of(r) for r in tr[5:]] == ["a", ""]


def test_text_insert_delete_undo_redo():
    check([
        manager(0, [("t",)], capture_timeout=0),
        edit(0, ti(0, "hello world")),
        edit(0, td(2, 5)),
        edit(0, ti(3, "XYZ")),
        edit(0, td(0, 4)),
        {"undo": 0}, {"undo": 0}, {"redo": 0}, {"undo": 0}, {"undo": 0}, {"undo": 0},
        {"redo": 0}, {"redo": 0}, {"redo": 0}, {"redo": 0}, {"redo": 0},
    ])


def test_array_insert_delete_undo_redo():
    check([
        manager(0, [("a",)], capture_timeout=0),
        edit(0, ai(0, [1, 2, 3, "x", {"k": [1, 2]}])),
        edit(0, ad(1, 2)),
        edit(0, ai(2, [{"$type": "text", "init": "nested"}, 7])),
        edit(0, ad(0, 2)),
        {"undo": 0}, {"undo": 0}, {"undo": 0}, {"redo": 0}, {"redo": 0}, {"undo": 0},
        {"undo": 0}, {"undo": 0}, {"redo": 0}, {"redo": 0}, {"redo": 0}, {"redo": 0},
    ])


def test_map_set_overwrite_delete_undo_redo():
    check([
        manager(0, [("m",)], capture_timeout=0),
        edit(0, ms("a", 1)),
        edit(0, ms("a", 2)),
        edit(0, ms("b", "x")),
        edit(0, md("a")),
        {"undo": 0}, {"undo": 0}, {"undo": 0}, {"undo": 0}, {"undo": 0},
        {"redo": 0}, {"redo": 0}, {"redo": 0}, {"redo": 0}, {"redo": 0},
    ])


def test_undo_deleting_a_map_that_holds_a_text_restores_its_content():
    tr = check([
        manager(0, [("m",)], capture_timeout=0),
        edit(0, ms("doc", {"$type": "map", "init": [["title", TEXT("Hello")], ["n", 1]]})),
        edit(0, ti(5, " world", path=("m", "doc", "title"))),
        edit(0, md("doc")),
        {"undo": 0},
        edit(0, ti(0, ">", path=("m", "doc", "title"))),
        {"undo": 0},
        {"undo": 0},
        {"undo": 0},
        {"undo": 0},
        {"redo": 0}, {"redo": 0}, {"redo": 0},
    ])
    assert tr[4]["json"][0]["m"] == {"doc": {"title": "Hello world", "n": 1}}


def test_nested_types_in_arrays_restored_deeply():
    check([
        manager(0, [("a",)], capture_timeout=0),
        edit(0, ai(0, [{"$type": "array", "init": [1, {"$type": "map", "init": [["x", TEXT("deep")]]}]}])),
        edit(0, ti(4, "er", path=("a", 0, 1, "x"))),
        edit(0, ai(0, ["first"], path=("a", 0))),
        edit(0, ad(0, 1)),
        {"undo": 0}, {"undo": 0}, {"undo": 0}, {"redo": 0}, {"redo": 0}, {"redo": 0},
        {"undo": 0}, {"undo": 0},
    ])


def test_only_local_changes_are_undone():
    tr = check([
        manager(0, [("t",), ("a",), ("m",)], capture_timeout=0),
        edit(0, ti(0, "local ")),
        edit(1, ti(0, "remote ")),
        {"sync": [0, 1]},
        edit(0, ti(0, "L2 ")),
        edit(1, ti(3, "R2")),
        edit(1, ms("r", 1)),
        edit(0, ms("l", 1)),
        {"sync": [0, 1]},
        {"undo": 0},
        {"undo": 0},
        {"undo": 0},
        {"sync": [0, 1]},
        {"redo": 0}, {"redo": 0}, {"sync": [0, 1]},
    ])
    final_undo = tr[11]["json"][0]
    assert "local" not in final_undo["t"] and "L2" not in final_undo["t"]
    assert "remote" in final_undo["t"] and "R2" in final_undo["t"]
    assert final_undo["m"] == {"r": 1}
    assert tr[-1]["json"][0] == tr[-1]["json"][1]


def test_remote_concurrent_edit_stays_and_undo_converges():
    check([
        manager(0, [("t",)], capture_timeout=0),
        manager(1, [("t",)], capture_timeout=0),
        edit(0, ti(0, "abcdef")),
        {"sync": [0, 1]},
        edit(0, td(1, 4)),
        edit(1, ti(3, "XY")),
        {"sync": [0, 1]},
        {"undo": 0},
        {"undo": 1},
        {"sync": [0, 1]},
        {"redo": 0},
        {"redo": 1},
        {"sync": [0, 1]},
    ])


def test_new_edit_clears_redo_stack():
    tr = check([
        manager(0, [("t",)], capture_timeout=0),
        edit(0, ti(0, "one")),
        edit(0, ti(3, " two")),
        {"undo": 0},
        edit(0, ti(0, "new ")),
        {"redo": 0},
        {"undo": 0},
        {"undo": 0},
    ])
    assert tr[4]["stacks"] == [[2, 0]]
    assert "cleared:false:true" in tr[4]["events"][0]
    assert tr[5]["result"] is False


def test_undo_after_remote_deleted_the_same_content():
    check([
        manager(0, [("t",), ("a",), ("m",)], capture_timeout=0),
        edit(0, ti(0, "abcdef"), ai(0, [1, 2, 3]), ms("k", {"$type": "text", "init": "in map"})),
        {"sync": [0, 1]},
        edit(1, td(1, 3), ad(0, 2), md("k")),
        {"sync": [0, 1]},
        {"undo": 0},
        {"sync": [0, 1]},
        {"redo": 0},
        {"sync": [0, 1]},
    ])


def test_undo_a_local_delete_that_a_remote_peer_also_deleted():
    check([
        manager(0, [("t",)], capture_timeout=0),
        edit(1, ti(0, "shared text")),
        {"sync": [0, 1]},
        edit(0, td(0, 7)),
        edit(1, td(3, 8)),
        {"sync": [0, 1]},
        {"undo": 0},
        {"sync": [0, 1]},
        {"redo": 0},
        {"undo": 0},
        {"sync": [0, 1]},
    ])


def test_map_key_overwritten_remotely_is_not_restored():
    tr = check([
        manager(0, [("m",)], capture_timeout=0),
        edit(0, ms("k", "mine")),
        {"sync": [0, 1]},
        edit(0, md("k")),
        edit(1, ms("k", "theirs")),
        {"sync": [0, 1]},
        {"undo": 0},
        edit(0, ms("j", 1)),
        {"sync": [0, 1]},
        edit(1, ms("j", 2)),
        {"sync": [0, 1]},
        {"undo": 0},
    ])
    assert tr[6]["json"][0]["m"] == {"k": "theirs"}


def test_ignore_remote_map_changes_restores_anyway():
    tr = check([
        manager(0, [("m",)], capture_timeout=0, ignore_remote_map_changes=True),
        edit(0, ms("k", "mine")),
        {"sync": [0, 1]},
        edit(0, ms("k", "mine 2")),
        {"sync": [0, 1]},
        edit(1, ms("k", "theirs")),
        {"sync": [0, 1]},
        {"undo": 0},
        {"sync": [0, 1]},
    ])
    assert tr[7]["json"][0]["m"] == {"k": "mine"}


def test_tracked_origins():
    check([
        manager(0, [("t",)], capture_timeout=0, tracked_origins=["typing", {"$class": "Tool"}]),
        edit(0, ti(0, "untracked ")),
        edit(0, ti(0, "typed "), origin="typing"),
        edit(0, ti(0, "tool "), origin={"$class": "Tool"}),
        edit(0, ti(0, "other "), origin="other"),
        {"undo": 0},
        {"undo": 0},
        {"undo": 0},
        {"add_origin": 0, "origin": "other"},
        {"remove_origin": 0, "origin": "typing"},
        edit(0, ti(0, "o2 "), origin="other"),
        edit(0, ti(0, "t2 "), origin="typing"),
        {"undo": 0},
        {"undo": 0},
        {"redo": 0},
    ])


def test_default_origin_only_tracks_none():
    check([
        manager(0, [("t",)], capture_timeout=0),
        edit(0, ti(0, "a")),
        edit(0, ti(0, "b"), origin="x"),
        {"undo": 0},
        {"undo": 0},
    ])


def test_scope_limits_what_is_captured_and_add_to_scope():
    check([
        manager(0, [("t",)], capture_timeout=0),
        edit(0, ti(0, "t1"), ai(0, [1])),
        edit(0, ai(1, [2])),
        {"undo": 0},
        {"add_to_scope": 0, "scope": [["a"]]},
        edit(0, ai(0, [0])),
        edit(0, ti(0, "x"), ai(0, [-1])),
        {"undo": 0},
        {"undo": 0},
        {"undo": 0},
    ])


def test_nested_scope():
    check([
        manager(0, [("m",)], capture_timeout=0),
        edit(0, ms("inner", {"$type": "text", "init": "abc"})),
        manager(0, [("m", "inner")], capture_timeout=0),
        edit(0, ti(3, "def", path=("m", "inner"))),
        edit(0, ms("other", 1)),
        {"undo": 1},
        {"undo": 1},
        {"undo": 0},
    ])


def test_doc_scope_and_clear():
    check([
        manager(0, "doc", capture_timeout=0),
        edit(0, ti(0, "abc"), ms("k", 1)),
        edit(0, ai(0, [1, 2])),
        {"undo": 0},
        {"clear": 0, "undo_stack": False, "redo_stack": True},
        {"redo": 0},
        edit(0, td(0, 1)),
        {"clear": 0},
        {"undo": 0},
    ])


def test_doc_scope_quirk_empty_clear_transaction_is_captured():
    # With the whole document in scope, the transaction that clears the redo stack is itself captured.
    check([
        manager(0, "doc"),
        edit(0, ti(0, "abc")),
        {"undo": 0},
        edit(0, ti(0, "x"), time=START_TIME + 10),
        {"undo": 0},
        {"undo": 0},
        manager(0, "doc", capture_timeout=0),
        edit(0, ti(0, "y")),
        {"undo": 1},
        edit(0, ti(0, "z")),
        {"undo": 1},
        {"undo": 1},
    ])


def test_capture_merges_after_redo_like_yjs():
    check([
        manager(0, [("t",)]),
        edit(0, ti(0, "ab"), time=START_TIME),
        {"undo": 0},
        {"redo": 0},
        edit(0, ti(2, "cd"), time=START_TIME + 100),
        {"undo": 0},
        {"undo": 0},
        {"redo": 0},
    ])


def test_delete_filter():
    check([
        manager(0, [("a",)], capture_timeout=0, delete_filter_keep_types=True),
        edit(0, ai(0, [1, {"$type": "map", "init": [["x", 1]]}, 2])),
        {"undo": 0},
        {"redo": 0},
    ])


def test_redo_after_remote_insert_inside_undone_range():
    check([
        manager(0, [("t",)], capture_timeout=0),
        edit(0, ti(0, "abcdef")),
        {"sync": [0, 1]},
        edit(0, td(1, 4)),
        {"undo": 0},
        {"sync": [0, 1]},
        edit(1, ti(3, "Z")),
        {"sync": [0, 1]},
        {"redo": 0},
        {"undo": 0},
        {"sync": [0, 1]},
        {"undo": 0},
        {"redo": 0},
        {"redo": 0},
        {"sync": [0, 1]},
    ])


def test_gc_off():
    check([
        manager(0, [("t",), ("m",)], capture_timeout=0),
        edit(0, ti(0, "abc"), ms("k", {"$type": "array", "init": [1, 2]})),
        edit(0, td(0, 2), md("k")),
        {"undo": 0}, {"undo": 0}, {"redo": 0}, {"redo": 0},
    ], gc=False)


def test_destroyed_manager_captures_nothing():
    check([
        manager(0, [("t",)], capture_timeout=0),
        edit(0, ti(0, "a")),
        {"destroy": 0},
        edit(0, ti(0, "b")),
        {"undo": 0},
    ])


def test_two_managers_on_one_doc():
    check([
        manager(0, [("t",)], capture_timeout=0),
        manager(0, [("t",)], capture_timeout=0),
        edit(0, ti(0, "abc")),
        {"undo": 0},
        {"undo": 1},
        {"redo": 0},
        {"undo": 1},
        {"redo": 1},
    ])


def test_yjs_794_redo_can_break_convergence():
    # Yjs 13.6 bug (yjs/yjs#794, fix proposed in yjs/yjs#796, not released): restoring a text whose
    # items were restored before gives the copy of "q" the copy of "a" as both left and right origin
    # (the right-hand walk follows the redone link of the unsplit struct "adq", which leads to the copy
    # of its first unit). Peers then integrate it differently. We reproduce Yjs exactly, divergence too.
    k = ("m", "k")
    tr = check([
        manager(0, [("m",)], capture_timeout=0),
        edit(1, ms("k", TEXT("hx"))),
        edit(1, ti(2, "adqw", path=k)),
        edit(1, td(1, 1, path=k)),
        {"sync": [0, 1]},
        edit(0, td(0, 4, path=k)),
        {"undo": 0},
        edit(0, td(2, 1, path=k)),
        edit(0, md("k")),
        {"undo": 0},
        {"sync": [0, 1]},
    ])
    assert tr[-1]["json"][0]["m"] == {"k": "haqw"}
    assert tr[-1]["json"][1]["m"] == {"k": "hqaw"}


# -- randomized: two peers, local and remote edits, undo and redo ---------------------------------------

LETTERS = "abcdefghijklmnopqrstuvwxyzéß中"  # one UTF-16 unit each: indices agree with Yjs


def _types(t, path: list, out: list) -> None:
    out.append((path, t))
    if isinstance(t, crdt.Map):
        for k, v in t.items():
            if isinstance(v, crdt.SharedType):
                _types(v, path + [k], out)
    elif isinstance(t, crdt.Array):
        for i, v in enumerate(t):
            if isinstance(v, crdt.SharedType):
                _types(v, path + [i], out)


def _random_value(rng: random.Random, depth: int = 0) -> Any:
    r = rng.random()
    if depth < 2 and r < 0.12:
        return {"$type": "text", "init": "".join(rng.choice(LETTERS) for _ in range(rng.randint(0, 4)))}
    if depth < 2 and r < 0.2:
        pairs = [[f"n{i}", _random_value(rng, depth + 1)] for i in range(rng.randint(0, 2))]
        return {"$type": "map", "init": pairs}
    if depth < 2 and r < 0.27:
        return {"$type": "array", "init": [_random_value(rng, depth + 1) for _ in range(rng.randint(0, 3))]}
    if r < 0.65:
        return rng.randint(0, 99)
    return rng.choice(LETTERS) * rng.randint(1, 3)


def _random_op(rng: random.Random, doc, run: PyRun) -> dict:
    types: list = []
    for name in ROOTS:
        _types(run.resolve(doc, [name]), [name], types)
    path, t = rng.choice(types)
    if isinstance(t, crdt.Text):
        n = len(t)
        if n and rng.random() < 0.4:
            i = rng.randrange(n)
            return td(i, rng.randint(1, min(4, n - i)), path)
        return ti(rng.randint(0, n), "".join(rng.choice(LETTERS) for _ in range(rng.randint(1, 4))), path)
    if isinstance(t, crdt.Array):
        n = len(t)
        if n and rng.random() < 0.4:
            i = rng.randrange(n)
            return ad(i, rng.randint(1, min(3, n - i)), path)
        return ai(rng.randint(0, n), [_random_value(rng) for _ in range(rng.randint(1, 3))], path)
    key = f"k{rng.randrange(4)}"
    if key in t and rng.random() < 0.35:
        return md(key, path)
    return ms(key, _random_value(rng), path)


def _random_ops(rng: random.Random, doc) -> list[dict]:
    """One to three ops for one transaction on ``doc``, each valid after the ones before it.

    They are generated on a scratch copy of ``doc`` (so the document itself is untouched)."""
    scratch = crdt.Doc(client_id=99, gc=False)
    scratch.apply_update(doc.encode_state_as_update())
    run = PyRun({"clients": [], "roots": ROOTS})
    ops = []
    for _ in range(rng.randint(1, 3)):
        op = _random_op(rng, scratch, run)
        run.apply_op(scratch, op)
        ops.append(op)
    return ops


def random_scenario(seed: int, n_steps: int = 40) -> tuple[dict, list[dict]]:
    """A random script, generated against our engine's state as it runs; returns it and our trace."""
    rng = random.Random(seed)
    scenario = {"clients": [1, 2], "gc": rng.random() < 0.7, "roots": ROOTS, "steps": []}
    run = PyRun(scenario)
    steps = scenario["steps"]

    def do(step: dict) -> None:
        steps.append(step)
        run.step(step)

    timeout = rng.choice([0, 500])
    for peer in (0, 1):
        scope = "doc" if rng.random() < 0.25 else [["t"], ["a"], ["m"]]
        do(manager(peer, scope, capture_timeout=timeout, ignore_remote_map_changes=rng.random() < 0.2))
    now = START_TIME
    for _ in range(n_steps):
        now += rng.choice([0, 50, 200, 600])
        peer = rng.randrange(2)
        r = rng.random()
        if r < 0.45:
            step = {"peer": peer, "ops": _random_ops(rng, run.docs[peer]), "time": now}
            if rng.random() < 0.1:
                step["origin"] = "other"  # untracked unless a manager was told to track it
            do(step)
        elif r < 0.65:
            do({"undo": peer, "time": now})
        elif r < 0.78:
            do({"redo": peer, "time": now})
        elif r < 0.83:
            do({"stop": peer, "time": now})
        elif r < 0.84:
            do({"clear": peer, "undo_stack": rng.random() < 0.5, "redo_stack": True, "time": now})
        elif r < 0.85:
            do({rng.choice(["add_origin", "remove_origin"]): peer, "origin": "other", "time": now})
        elif r < 0.93:
            do({"send": [peer, 1 - peer], "time": now})
        else:
            do({"sync": [0, 1], "time": now})
    do({"sync": [0, 1]})
    return scenario, run.trace


def test_random_undo_redo_against_yjs():
    seed_env = os.environ.get("CRDT_UNDO_SEED")
    if seed_env is not None:
        seeds = [int(seed_env)]
    else:
        seeds = list(range(int(os.environ.get("CRDT_UNDO_SCENARIOS", "300"))))
    built = []
    for seed in seeds:
        try:
            built.append(random_scenario(seed))
        except Exception as e:  # our engine raised while generating: report the seed
            raise AssertionError(f"seed {seed}: our engine raised {e!r}") from e
    results = run_yjs([sc for sc, _ in built])
    for seed, (scenario, ours), yjs in zip(seeds, built, results, strict=True):
        compare(scenario, yjs, ours, label=f"seed {seed} (CRDT_UNDO_SEED={seed}): ")
        # After the final sync the peers agree, except where Yjs's own peers do not (yjs#794, see
        # test_yjs_794_redo_can_break_convergence): there we diverge exactly as Yjs does.
        final = ours[-1]["json"]
        assert final[0] == final[1] or yjs["trace"][-1]["json"][0] != yjs["trace"][-1]["json"][1], (
            f"seed {seed}: peers did not converge"
        )


# -- Python-only behaviour -------------------------------------------------------------------------


def test_remote_update_without_origin_is_never_captured():
    # Deliberate difference from Yjs (which captures remote updates whose origin is None).
    a, b = crdt.Doc(client_id=1), crdt.Doc(client_id=2)
    um = UndoManager(a.get_text("t"))
    b.get_text("t").insert(0, "remote")
    a.apply_update(b.encode_state_as_update())
    assert not um.can_undo()
    a.get_text("t").insert(0, "local ")
    assert um.can_undo()
    um.undo()
    assert str(a.get_text("t")) == "remote"


def test_remote_update_with_tracked_origin_is_captured():
    a, b = crdt.Doc(client_id=1), crdt.Doc(client_id=2)
    um = UndoManager(a.get_text("t"), tracked_origins={"provider"})
    b.get_text("t").insert(0, "remote")
    a.apply_update(b.encode_state_as_update(), origin="provider")
    assert um.can_undo()
    assert um.undo() is True
    assert str(a.get_text("t")) == ""


def test_events_and_meta():
    doc = crdt.Doc(client_id=1)
    t = doc.get_text("t")
    now = [0.0]
    um = UndoManager(t, clock=lambda: now[0])
    seen: list = []
    for name in ("stack-item-added", "stack-item-updated", "stack-item-popped", "stack-cleared"):
        um.observe(name, lambda e, name=name: seen.append((name, e)))

    def remember(e: StackItemEvent) -> None:
        e.stack_item.meta["cursor"] = len(t)

    um.observe("stack-item-added", remember)
    t.insert(0, "ab")
    t.insert(2, "c")
    assert [n for n, _ in seen] == ["stack-item-added", "stack-item-updated"]
    ev = seen[0][1]
    assert isinstance(ev, StackItemEvent) and isinstance(ev.stack_item, StackItem)
    assert ev.type == "undo" and ev.origin is None and t in ev.changed_parent_types
    assert ev.stack_item.meta == {"cursor": 2}
    assert ev.stack_item.insertions.clients == {1: [[0, 3]]}
    seen.clear()
    assert um.undo()
    names = [n for n, _ in seen]
    assert names == ["stack-item-added", "stack-item-popped"]
    popped = seen[1][1]
    assert popped.type == "undo" and popped.origin is um and popped.stack_item.meta == {"cursor": 2}
    assert seen[0][1].type == "redo"
    seen.clear()
    um.clear()
    assert [n for n, _ in seen] == ["stack-cleared"]
    assert isinstance(seen[0][1], StackClearedEvent)
    assert seen[0][1].undo_stack_cleared and seen[0][1].redo_stack_cleared
    with pytest.raises(ValueError):
        um.observe("nope", print)


def test_deleted_items_are_kept_from_gc_until_cleared():
    doc = crdt.Doc(client_id=1)
    m = doc.get_map("m")
    um = UndoManager(m, capture_timeout=0)
    m["x"] = crdt.Text("hello")
    del m["x"]
    item = doc.store.clients[1][0]
    assert item.deleted and item.keep and item.content.__class__ is ContentType
    text_items = [s for s in doc.store.clients[1] if s.is_item and s.content.__class__ is ContentString]
    assert text_items and all(s.keep for s in text_items)
    um.clear()
    assert not item.keep and not any(s.keep for s in text_items)
    um2 = UndoManager(m, capture_timeout=0)
    m["y"] = crdt.Text("again")
    del m["y"]
    assert um2.undo() and m["y"] == "again"


def test_untracked_deletes_are_collected():
    doc = crdt.Doc(client_id=1)
    t = doc.get_text("t")
    UndoManager(t)
    t.insert(0, "abc")
    with doc.transact(origin="untracked"):
        t.delete(0, 3)
    assert all(s.content.__class__.__name__ == "ContentDeleted" for s in doc.store.clients[1])


def test_capture_transaction_filter_and_undo_inside_transaction():
    doc = crdt.Doc(client_id=1)
    t = doc.get_text("t")
    um = UndoManager(t, capture_transaction=lambda tr: tr.meta.get("skip") is None, capture_timeout=0)
    t.insert(0, "abc")
    with doc.transact() as tr:
        tr.meta["skip"] = True
        t.insert(3, "def")
    assert len(um.undo_stack) == 1
    with doc.transact():
        assert um.undo()
        t.insert(0, "x")  # positions are right after an undo inside the same transaction
    assert str(t) == "xdef"


def test_markers_stay_right_after_undo_and_redo():
    doc = crdt.Doc(client_id=1)
    t = doc.get_text("t")
    a = doc.get_array("a")
    um = UndoManager([t, a], capture_timeout=0)
    t.insert(0, "".join(chr(97 + i % 26) for i in range(200)))
    a.insert(0, list(range(200)))
    for i in range(0, 150, 7):
        t.delete(i, 2)
        a.delete(i, 2)
    for k in range(8):
        um.undo()
        # index-based edits right after undo/redo must land where the plain values say
        s, values = str(t), a.to_py()
        i = (37 * k) % (len(s) + 1)
        t.insert(i, "!")
        a.insert(i, ["!"])
        assert str(t) == s[:i] + "!" + s[i:]
        assert a.to_py() == values[:i] + ["!"] + values[i:]
        assert a[i] == "!" and list(a) == a.to_py()
        um.stop_capturing()
        um.undo()
        um.redo()


def test_scope_must_share_the_document():
    a, b = crdt.Doc(), crdt.Doc()
    with pytest.warns(UserWarning):
        UndoManager([a.get_text("t"), b.get_text("t")])
    with pytest.raises(TypeError):
        UndoManager(a, doc=a).add_to_scope("nope")
    with pytest.raises(ValueError):
        UndoManager([])
    with pytest.raises(ValueError):
        UndoManager(crdt.Text("not in a document"))
    um = UndoManager([], doc=a)
    a.get_text("t").insert(0, "x")
    assert not um.can_undo()
    um.add_to_scope(a.get_text("t"))
    a.get_text("t").insert(0, "y")
    assert um.undo() and str(a.get_text("t")) == "x"
