"""Replaying the small scripts of the Node oracles (``tests/node/snapshot_oracle.mjs``,
``tests/node/events_oracle.mjs``) on our engine, and running those oracles.

A script has ``clients`` (client ids, one peer each), ``roots`` ({name: "text"|"array"|"map"}) and
``steps``; operations name their target by a path (root name, then map keys and array indices), as
documented at the top of the Node scripts. Text indices are code points here and UTF-16 units in
Yjs, so scripts that go to both sides keep to the Basic Multilingual Plane.
"""

from __future__ import annotations

import base64
import json
import os
import shutil
import subprocess
from pathlib import Path
from typing import Any

import pytest

import crdt
from crdt.encoding import UNDEFINED

NODE_DIR = Path(__file__).resolve().parents[1] / "node"
IN_CI = os.environ.get("CI", "").lower() in ("1", "true", "yes")


def b64(data: bytes) -> str:
    return base64.b64encode(data).decode("ascii")


def unb64(text: str) -> bytes:
    return base64.b64decode(text)


def run_node(script: str, request: dict, timeout: float = 120.0) -> dict:
    """Run ``tests/node/<script>`` with ``request`` as JSON on stdin; its JSON answer.

    Without node or an installed Yjs the calling test is skipped (failed under CI=true).
    """
    node = shutil.which("node")
    reason = None
    if node is None:
        reason = "node is not installed"
    elif not (NODE_DIR / "node_modules" / "yjs").is_dir():
        reason = "Yjs is not installed: run `npm ci` in tests/node"
    if reason:
        if IN_CI:
            pytest.fail(reason, pytrace=False)
        pytest.skip(reason)
    proc = subprocess.run(
        [node, str(NODE_DIR / script)],
        input=json.dumps(request).encode(),
        cwd=str(NODE_DIR),
        capture_output=True,
        timeout=timeout,
    )
    if proc.returncode != 0:
        raise RuntimeError(f"{script} failed ({proc.returncode}):\n{proc.stderr.decode(errors='replace')}")
    return json.loads(proc.stdout)


# -- our side ------------------------------------------------------------------------------------

GETTERS = {"text": crdt.Doc.get_text, "array": crdt.Doc.get_array, "map": crdt.Doc.get_map}


def make_doc(client: int, roots: dict[str, str], gc: bool = False) -> crdt.Doc:
    doc = crdt.Doc(client_id=client, gc=gc)
    for name, kind in roots.items():
        GETTERS[kind](doc, name)
    return doc


def from_spec(v: Any) -> Any:
    """A script value as something our types accept (``{"$type": ...}`` makes a nested type)."""
    if isinstance(v, list):
        return [from_spec(x) for x in v]
    if isinstance(v, dict):
        if "$type" in v:
            kind = v["$type"]
            if kind == "text":
                return crdt.Text(v.get("init") or "")
            if kind == "array":
                return crdt.Array([from_spec(x) for x in v.get("init") or []])
            if kind == "map":
                return crdt.Map({k: from_spec(x) for k, x in v.get("init") or []})
            raise ValueError(f"unknown $type {kind}")
        if "$bytes" in v:
            return unb64(v["$bytes"])
        return {k: from_spec(x) for k, x in v.items()}
    return v


def resolve(doc: crdt.Doc, roots: dict[str, str], path: list) -> crdt.SharedType:
    t = GETTERS[roots[path[0]]](doc, path[0])
    for seg in path[1:]:
        t = t[seg]
        if not isinstance(t, crdt.SharedType):
            raise ValueError(f"path {path} does not lead to a shared type")
    return t


def apply_op(doc: crdt.Doc, roots: dict[str, str], op: dict) -> None:
    t = resolve(doc, roots, op["path"])
    action = op["action"]
    if action == "text_insert":
        t.insert(op["index"], op["content"])
    elif action == "text_delete":
        t.delete(op["index"], op["length"])
    elif action == "array_insert":
        t.insert(op["index"], from_spec(op["values"]))
    elif action == "array_delete":
        t.delete(op["index"], op["length"])
    elif action == "map_set":
        t[op["key"]] = from_spec(op["value"])
    elif action == "map_delete":
        del t[op["key"]]
    else:
        raise ValueError(f"unknown action {action}")


def plain(v: Any) -> Any:
    """Our values in the oracles' JSON form (bytes and undefined tagged)."""
    if isinstance(v, crdt.SharedType):
        v = v.to_py()
    if isinstance(v, (bytes, bytearray)):
        return {"$bytes": b64(bytes(v))}
    if v is UNDEFINED:
        return {"$undefined": True}
    if isinstance(v, list):
        return [plain(x) for x in v]
    if isinstance(v, dict):
        return {k: plain(x) for k, x in v.items()}
    return v


def roots_json(doc: crdt.Doc, roots: dict[str, str]) -> dict:
    return {name: plain(GETTERS[kind](doc, name)) for name, kind in roots.items()}


def sync(a: crdt.Doc, b: crdt.Doc) -> None:
    a.apply_update(b.encode_state_as_update(a.encode_state_vector()))
    b.apply_update(a.encode_state_as_update(b.encode_state_vector()))


# -- random scripts --------------------------------------------------------------------------------

_WORDS = ["a", "bc", "hello", "xyz", " ", "é", "ünï", "ok!", "\n", "12"]


def type_paths(doc: crdt.Doc, roots: dict[str, str]) -> list[tuple[list, crdt.SharedType]]:
    """Every shared type reachable from the roots, with its path."""
    out = []
    stack = [([name], GETTERS[kind](doc, name)) for name, kind in roots.items()]
    while stack:
        path, t = stack.pop()
        out.append((path, t))
        if isinstance(t, crdt.Map):
            for k, v in t.items():
                if isinstance(v, crdt.SharedType):
                    stack.append((path + [k], v))
        elif isinstance(t, crdt.Array):
            for i, v in enumerate(t):
                if isinstance(v, crdt.SharedType):
                    stack.append((path + [i], v))
    return out


def random_value(rng, depth: int = 0, nested: bool = True) -> Any:
    r = rng.random()
    if nested and depth < 2 and r < 0.15:
        kind = rng.choice(["text", "array", "map"])
        if kind == "text":
            return {"$type": "text", "init": rng.choice(_WORDS)}
        if kind == "array":
            return {
                "$type": "array",
                "init": [random_value(rng, depth + 1) for _ in range(rng.randint(0, 2))],
            }
        return {
            "$type": "map",
            "init": [[k, random_value(rng, depth + 1)] for k in rng.sample("pqr", rng.randint(0, 2))],
        }
    if r < 0.35:
        return rng.randint(-1000, 1000)
    if r < 0.55:
        return rng.choice(_WORDS)
    if r < 0.62:
        return None
    if r < 0.7:
        return rng.random() < 0.5
    if r < 0.8:
        return [rng.randint(0, 9), rng.choice(_WORDS)]
    return {"k": rng.randint(0, 9), "s": rng.choice(_WORDS)}


def random_op(rng, doc: crdt.Doc, roots: dict[str, str]) -> dict:
    path, t = rng.choice(type_paths(doc, roots))
    n = len(t)
    if isinstance(t, crdt.Text):
        if n and rng.random() < 0.35:
            i = rng.randrange(n)
            return {
                "path": path,
                "action": "text_delete",
                "index": i,
                "length": rng.randint(1, min(4, n - i)),
            }
        return {
            "path": path,
            "action": "text_insert",
            "index": rng.randint(0, n),
            "content": rng.choice(_WORDS),
        }
    if isinstance(t, crdt.Array):
        if n and rng.random() < 0.3:
            i = rng.randrange(n)
            return {
                "path": path,
                "action": "array_delete",
                "index": i,
                "length": rng.randint(1, min(3, n - i)),
            }
        values = [random_value(rng) for _ in range(rng.randint(1, 3))]
        return {"path": path, "action": "array_insert", "index": rng.randint(0, n), "values": values}
    keys = t.keys()
    if keys and rng.random() < 0.25:
        return {"path": path, "action": "map_delete", "key": rng.choice(keys)}
    return {"path": path, "action": "map_set", "key": rng.choice("abcd"), "value": random_value(rng)}


def random_steps(
    rng, docs: list[crdt.Doc], roots: dict[str, str], n_steps: int, snapshots: bool = False
) -> list:
    """Random steps, applied to ``docs`` as they are generated (so every index is valid)."""
    steps: list[dict] = []
    n_snap = 0
    for _ in range(n_steps):
        r = rng.random()
        if len(docs) > 1 and r < 0.15:
            i, j = rng.sample(range(len(docs)), 2)
            sync(docs[i], docs[j])
            steps.append({"sync": [i, j]})
        elif snapshots and r < 0.3:
            steps.append({"snapshot": f"s{n_snap}", "peer": rng.randrange(len(docs))})
            n_snap += 1
        else:
            p = rng.randrange(len(docs))
            doc = docs[p]
            ops = []
            with doc.transact():
                for _ in range(rng.randint(1, 3)):
                    op = random_op(rng, doc, roots)
                    apply_op(doc, roots, op)
                    ops.append(op)
            steps.append({"peer": p, "ops": ops})
    return steps
