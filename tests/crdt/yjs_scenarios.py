"""Randomized multi-peer scenarios, run on our engine and on Yjs (the oracle), and compared.

A scenario is a list of steps in the oracle's ``script`` vocabulary (see ``tests/node/yjs_oracle.mjs``),
except that text indices and lengths here count code points (Python ``str`` indices) and that deliveries
name transactions by a stable ``txn`` tag instead of their position, so steps can be dropped when a failing
scenario is minimized. :class:`Runner` replays steps on our engine and produces the wire form of the script
(UTF-16 indices, positional update numbers) that is sent to Yjs.

Steps (JSON-serializable, so a failing scenario prints as a reproduction):
    {"peer": i, "txn": tag, "ops": [op...]}   one local transaction on peer i
    {"deliver": [tag...], "to": i}             apply those transactions' updates, in that order
    {"sync": [i, j]}                           exchange state-vector diffs both ways

Run one seed by hand (prints the problems and a minimized reproduction)::

    python -m tests.crdt.yjs_scenarios --seed 123 [--minimize] [--show]
"""

from __future__ import annotations

import base64
import json
import random
import time
import traceback
from collections.abc import Callable
from dataclasses import dataclass, field
from typing import Any

import crdt

ROOTS = {"t": "text", "a": "array", "m": "map"}
INT31 = 2**31 - 1

# Pieces of text: each is one or more code points that a user would see as one unit (or not).
TEXT_PIECES = [
    *"abcdefghijklmnopqrstuvwxyz",
    *"ABCXYZ0123456789",
    " ",
    " ",
    "\n",
    "\t",
    ".",
    ",",
    "-",
    "'",
    '"',
    "\\",
    "{",
    "}",
    "é",
    "ü",
    "ß",
    "ñ",
    "ø",
    "e\u0301",
    "a\u0308",
    "\u0301",  # combining acute / diaeresis (also a lone combining mark)
    "漢",
    "字",
    "日本語",
    "中文",
    "한국어",
    "שלום",
    "مرحبا",
    "\u200f",
    "\u200e",  # RTL text, RTL / LTR marks
    "😀",
    "🎉",
    "👍🏽",
    "👨\u200d👩\u200d👧",
    "🇫🇷",
    "𝄞",
    "🀄",  # astral: surrogate pairs in UTF-16
    "\ufeff",
    "\u00a0",
    "\u2028",
]
MAP_KEYS = ["a", "b", "c", "k", "key", "x", "ключ", "😀", "1", "10", "", "__proto__x", "a.b"]
DICT_KEYS = ["b", "a", "2", "1", "10", "0", "z", "é", "😀", "x y"]
FLOATS = [0.5, -2.25, 3.140625, 0.1, -1e-7, 1.5e300, -7.75e-300, 2.0**40 + 0.5, 123456.789]
INTS = [0, 1, -1, 2, 7, 42, -100, 1000, 65535, 2**31 - 1, -(2**31 - 1), 2**24 + 1, -(2**20)]


class InvalidStep(Exception):
    """A step does not fit the current state (only happens while minimizing: steps were dropped)."""


# --------------------------------------------------------------------------------------------------------
# values: specs (the oracle's JSON form) <-> engine values
# --------------------------------------------------------------------------------------------------------


def to_engine_value(spec: Any) -> Any:
    """The Python value to hand our engine for an oracle value spec."""
    if isinstance(spec, list):
        return [to_engine_value(v) for v in spec]
    if isinstance(spec, dict):
        if "$type" in spec:
            kind = spec["$type"]
            if kind == "text":
                return crdt.Text(spec.get("init") or "")
            if kind == "array":
                return crdt.Array([to_engine_value(v) for v in spec.get("init", [])])
            if kind == "map":
                return crdt.Map({k: to_engine_value(v) for k, v in spec.get("init", [])})
            raise ValueError(f"unknown $type {kind!r}")
        if "$bytes" in spec:
            return base64.b64decode(spec["$bytes"])
        return {k: to_engine_value(v) for k, v in spec.items()}
    return spec


def plain(value: Any) -> Any:
    """A comparable, JSON-like form of an engine value, matching the oracle's ``json`` answers."""
    if isinstance(value, crdt.Text):
        return str(value)
    if isinstance(value, crdt.Array):
        return [plain(v) for v in value]
    if isinstance(value, crdt.Map):
        return {k: plain(v) for k, v in value.items()}
    if isinstance(value, (bytes, bytearray, memoryview)):
        return {"$bytes": base64.b64encode(bytes(value)).decode("ascii")}
    if isinstance(value, (list, tuple)):
        return [plain(v) for v in value]
    if isinstance(value, dict):
        return {k: plain(v) for k, v in value.items()}
    return value


def get_root(doc: crdt.Doc, name: str, kind: str):
    if kind == "text":
        return doc.get_text(name)
    if kind == "array":
        return doc.get_array(name)
    if kind == "map":
        return doc.get_map(name)
    raise ValueError(kind)


def doc_json(doc: crdt.Doc, roots: dict[str, str] = ROOTS) -> dict[str, Any]:
    return {name: plain(get_root(doc, name, kind)) for name, kind in roots.items()}


def utf16_len(s: str) -> int:
    return len(s) + sum(1 for c in s if ord(c) > 0xFFFF)


def _kind_of(obj: Any) -> str | None:
    if isinstance(obj, crdt.Text):
        return "text"
    if isinstance(obj, crdt.Array):
        return "array"
    if isinstance(obj, crdt.Map):
        return "map"
    return None


# --------------------------------------------------------------------------------------------------------
# replay on our engine
# --------------------------------------------------------------------------------------------------------


@dataclass
class Scenario:
    seed: int | None
    clients: list[int]
    gc: bool
    steps: list[dict] = field(default_factory=list)
    roots: dict[str, str] = field(default_factory=lambda: dict(ROOTS))

    def to_json(self) -> str:
        return json.dumps(
            {
                "seed": self.seed,
                "clients": self.clients,
                "gc": self.gc,
                "roots": self.roots,
                "steps": self.steps,
            },
            ensure_ascii=False,
        )


class Runner:
    """Replays scenario steps on our engine, records each transaction's update and the wire script."""

    def __init__(
        self, clients: list[int], gc: bool, roots: dict[str, str] = ROOTS, trace: bool = False
    ) -> None:
        self.roots = roots
        self.docs = [crdt.Doc(client_id=c, gc=gc) for c in clients]
        for doc in self.docs:
            for name, kind in roots.items():
                get_root(doc, name, kind)
        self.updates: list[bytes | None] = []  # per transaction, in order
        self.txn_index: dict[Any, int] = {}  # txn tag -> position in self.updates
        self.wire_steps: list[dict] = []
        self.trace: list[list[dict]] | None = [] if trace else None
        self._recording: tuple[int, list[bytes]] | None = None
        for i, doc in enumerate(self.docs):
            doc.observe_updates(self._recorder(i))

    def _recorder(self, i: int) -> Callable[[bytes, Any], None]:
        def record(update: bytes, origin: Any) -> None:
            rec = self._recording
            if rec is not None and rec[0] == i:
                rec[1].append(bytes(update))

        return record

    # -- path resolution ---------------------------------------------------------------------------
    def resolve(self, peer: int, path: list) -> Any:
        name = path[0]
        if name not in self.roots:
            raise InvalidStep(f"unknown root {name!r}")
        t = get_root(self.docs[peer], name, self.roots[name])
        for seg in path[1:]:
            if isinstance(t, crdt.Map) and isinstance(seg, str):
                if seg not in t:
                    raise InvalidStep(f"path {path}: no key {seg!r}")
                t = t.get(seg)
            elif isinstance(t, crdt.Array) and isinstance(seg, int):
                if not 0 <= seg < len(t):
                    raise InvalidStep(f"path {path}: index {seg} out of range")
                t = t[seg]
            else:
                raise InvalidStep(f"path {path}: cannot step with {seg!r}")
            if _kind_of(t) is None:
                raise InvalidStep(f"path {path}: {seg!r} is not a shared type")
        return t

    def targets(self, peer: int, max_depth: int = 5) -> list[tuple[list, str, Any]]:
        """Every shared type reachable in peer's document: (path, kind, object)."""
        out = []
        stack = [([name], kind, get_root(self.docs[peer], name, kind)) for name, kind in self.roots.items()]
        while stack:
            path, kind, obj = stack.pop()
            out.append((path, kind, obj))
            if len(path) > max_depth:
                continue
            if kind == "map":
                children = list(obj.items())
            elif kind == "array":
                children = list(enumerate(obj))
            else:
                children = []
            for key, v in children:
                k = _kind_of(v)
                if k is not None:
                    stack.append((path + [key], k, v))
        return out

    # -- steps -------------------------------------------------------------------------------------
    def _apply_op(self, peer: int, op: dict) -> dict:
        """Apply one op (code point indices) to our engine; return its wire form (UTF-16 indices)."""
        t = self.resolve(peer, op["path"])
        action = op["action"]
        wire = dict(op)
        if action in ("text_insert", "text_delete"):
            if not isinstance(t, crdt.Text):
                raise InvalidStep(f"{action} on a {_kind_of(t)}")
            s = str(t)
            index = op["index"]
            if action == "text_insert":
                if not 0 <= index <= len(s):
                    raise InvalidStep(f"text_insert at {index} > {len(s)}")
                wire["index"] = utf16_len(s[:index])
                t.insert(index, op["content"])
            else:
                length = op["length"]
                if not (0 <= index and index + length <= len(s)):
                    raise InvalidStep(f"text_delete {index}+{length} > {len(s)}")
                wire["index"] = utf16_len(s[:index])
                wire["length"] = utf16_len(s[index : index + length])
                t.delete(index, length)
        elif action in ("array_insert", "array_push", "array_delete"):
            if not isinstance(t, crdt.Array):
                raise InvalidStep(f"{action} on a {_kind_of(t)}")
            if action == "array_insert":
                if not 0 <= op["index"] <= len(t):
                    raise InvalidStep(f"array_insert at {op['index']} > {len(t)}")
                t.insert(op["index"], [to_engine_value(v) for v in op["values"]])
            elif action == "array_push":
                t.extend([to_engine_value(v) for v in op["values"]])
            else:
                if not (0 <= op["index"] and op["index"] + op["length"] <= len(t)):
                    raise InvalidStep(f"array_delete {op['index']}+{op['length']} > {len(t)}")
                t.delete(op["index"], op["length"])
        elif action in ("map_set", "map_delete"):
            if not isinstance(t, crdt.Map):
                raise InvalidStep(f"{action} on a {_kind_of(t)}")
            if action == "map_set":
                t[op["key"]] = to_engine_value(op["value"])
            else:
                if op["key"] not in t:
                    raise InvalidStep(f"map_delete of absent key {op['key']!r}")
                del t[op["key"]]
        else:
            raise InvalidStep(f"unknown action {action!r}")
        return wire

    def transaction(self, peer: int, tag: Any, ops: Any) -> list[dict]:
        """One local transaction on ``peer`` made of ``ops`` (an iterable, consumed inside the transaction,
        so a generator can choose each op from the state the previous ones left). Returns the ops applied."""
        doc = self.docs[peer]
        self._recording = (peer, [])
        applied, wire_ops = [], []
        try:
            with doc.transact():
                for op in ops:
                    wire_ops.append(self._apply_op(peer, op))
                    applied.append(op)
        finally:
            emitted = self._recording[1]
            self._recording = None
        if len(emitted) > 1:
            raise AssertionError(f"one transaction emitted {len(emitted)} updates")
        self.txn_index[tag] = len(self.updates)
        self.updates.append(emitted[0] if emitted else None)
        self.wire_steps.append({"peer": peer, "ops": wire_ops})
        self._traced()
        return applied

    def _traced(self) -> None:
        if self.trace is not None:
            self.trace.append([doc_json(d, self.roots) for d in self.docs])

    def do(self, step: dict) -> None:
        if "peer" in step:
            self.transaction(step["peer"], step["txn"], step["ops"])
            return
        elif "deliver" in step:
            to = step["to"]
            idx = [self.txn_index[tag] for tag in step["deliver"] if tag in self.txn_index]
            if not idx and not step.get("final"):
                raise InvalidStep("nothing to deliver")
            for k in idx:
                if self.updates[k] is not None:
                    self.docs[to].apply_update(self.updates[k])
            self.wire_steps.append({"deliver": idx, "to": to})
        elif "sync" in step:
            i, j = step["sync"]
            a, b = self.docs[i], self.docs[j]
            a.apply_update(b.encode_state_as_update(a.encode_state_vector()))
            b.apply_update(a.encode_state_as_update(b.encode_state_vector()))
            self.wire_steps.append({"sync": [i, j]})
        else:
            raise InvalidStep(f"unknown step {step!r}")
        self._traced()

    def json(self) -> list[dict]:
        return [doc_json(d, self.roots) for d in self.docs]

    def states(self) -> list[bytes]:
        return [d.encode_state_as_update() for d in self.docs]


# --------------------------------------------------------------------------------------------------------
# the generator
# --------------------------------------------------------------------------------------------------------


class Generator:
    """Draws a scenario from a seed, running it on our engine as it goes (ops depend on the state)."""

    def __init__(self, seed: int) -> None:
        self.seed = seed
        self.rng = random.Random(seed)

    def text(self, max_pieces: int = 5) -> str:
        rng = self.rng
        return "".join(rng.choice(TEXT_PIECES) for _ in range(rng.randint(1, max_pieces)))

    def json_value(self, depth: int = 0) -> Any:
        rng = self.rng
        r = rng.random()
        if r < 0.25:
            return rng.choice(INTS) if rng.random() < 0.5 else rng.randint(-(10**6), 10**6)
        if r < 0.35:
            return rng.choice(FLOATS)
        if r < 0.6:
            return self.text(3) if rng.random() < 0.9 else ""
        if r < 0.67:
            return rng.choice([True, False])
        if r < 0.72:
            return None
        if r < 0.78:
            return {"$bytes": base64.b64encode(rng.randbytes(rng.randint(0, 5))).decode("ascii")}
        if depth >= 2:
            return rng.randint(0, 9)
        if r < 0.89:
            return [self.json_value(depth + 1) for _ in range(rng.randint(0, 3))]
        keys = rng.sample(DICT_KEYS, rng.randint(0, 4))
        return {k: self.json_value(depth + 1) for k in keys}

    def value(self, depth: int = 0) -> Any:
        """A value for an array insert or map set: JSON, bytes, or (less often) a new nested type."""
        rng = self.rng
        if depth < 3 and rng.random() < 0.25:
            kind = rng.choice(["text", "text", "array", "map"])
            if kind == "text":
                init = "" if rng.random() < 0.15 else self.text(6)
                return {"$type": "text", "init": init}
            if kind == "array":
                return {"$type": "array", "init": [self.value(depth + 1) for _ in range(rng.randint(0, 3))]}
            keys = rng.sample(MAP_KEYS, rng.randint(0, 3))
            return {"$type": "map", "init": [[k, self.value(depth + 1)] for k in keys]}
        return self.json_value()

    def index(self, length: int) -> int:
        """An insert position, biased to the places where concurrent inserts collide."""
        rng = self.rng
        r = rng.random()
        if r < 0.25:
            return 0
        if r < 0.45:
            return length
        if r < 0.6:
            return min(length, 2)
        return rng.randint(0, length)

    def op(self, runner: Runner, peer: int) -> dict:
        rng = self.rng
        targets = runner.targets(peer)
        weights = [3.0 if len(path) > 1 else 1.0 for path, _, _ in targets]
        path, kind, obj = rng.choices(targets, weights)[0]
        if kind == "text":
            n = len(str(obj))
            if n and rng.random() < 0.3:
                index = rng.randrange(n)
                return {
                    "path": path,
                    "action": "text_delete",
                    "index": index,
                    "length": rng.randint(1, min(4, n - index)),
                }
            return {"path": path, "action": "text_insert", "index": self.index(n), "content": self.text()}
        if kind == "array":
            n = len(obj)
            r = rng.random()
            if n and r < 0.3:
                index = rng.randrange(n)
                return {
                    "path": path,
                    "action": "array_delete",
                    "index": index,
                    "length": rng.randint(1, min(3, n - index)),
                }
            values = [self.value(len(path)) for _ in range(rng.randint(1, 3))]
            if r < 0.45:
                return {"path": path, "action": "array_push", "values": values}
            return {"path": path, "action": "array_insert", "index": self.index(n), "values": values}
        keys = list(obj.keys())
        if keys and rng.random() < 0.25:
            return {"path": path, "action": "map_delete", "key": rng.choice(keys)}
        key = (
            rng.choice(keys)
            if keys and rng.random() < 0.3
            else rng.choice(MAP_KEYS[:6] if rng.random() < 0.7 else MAP_KEYS)
        )
        return {"path": path, "action": "map_set", "key": key, "value": self.value(len(path))}

    def generate(self, runner_factory: Callable[..., Runner] = Runner) -> tuple[Scenario, Runner]:
        rng = self.rng
        n_peers = rng.randint(3, 5)
        pool = [rng.randint(1, 20), rng.randint(1, 2**16), rng.randint(1, 2**32 - 1)]
        clients: list[int] = []
        while len(clients) < n_peers:
            c = rng.choice(pool) + rng.randint(0, 3) if rng.random() < 0.5 else rng.randint(0, 2**32 - 1)
            if c not in clients:
                clients.append(c)
        gc = rng.random() < 0.75
        scenario = Scenario(self.seed, clients, gc)
        runner = runner_factory(clients, gc)
        n_steps = rng.randint(60, 120) if rng.random() < 0.1 else rng.randint(15, 45)
        txns = 0
        for _ in range(n_steps):
            r = rng.random()
            if r < 0.6 or txns == 0:
                peer = rng.randrange(n_peers)
                # a few transactions hold several ops, each chosen from the state the previous ones left
                n_ops = rng.randint(2, 3) if rng.random() < 0.15 else 1
                ops = (self.op(runner, peer) for _ in range(n_ops))
                step = {"peer": peer, "txn": txns, "ops": runner.transaction(peer, txns, ops)}
                txns += 1
            elif r < 0.9:
                k = rng.randint(1, min(6, txns))
                tags = [rng.randrange(txns) for _ in range(k)]  # random order, duplicates, gaps
                step = {"deliver": tags, "to": rng.randrange(n_peers)}
                runner.do(step)
            else:
                i, j = rng.sample(range(n_peers), 2)
                step = {"sync": [i, j]}
                runner.do(step)
            scenario.steps.append(step)
        # finally everything, to everyone, each in its own random order
        for peer in range(n_peers):
            tags = list(range(txns))
            rng.shuffle(tags)
            step = {"deliver": tags, "to": peer, "final": True}
            runner.do(step)
            scenario.steps.append(step)
        return scenario, runner


# --------------------------------------------------------------------------------------------------------
# the comparison
# --------------------------------------------------------------------------------------------------------


# problem kinds, most telling first (the one a failure report minimizes for)
SEVERITY = [
    "engine-error",
    "yjs-refused",
    "yjs-json",
    "diverged",
    "apply-order",
    "yjs-apply-ours",
    "state-load-ours",
    "state-load-yjs",
    "update-bytes",
    "state-vector",
    "state-bytes",
]
# not failures of the engine: Yjs itself behaves so, and the engine matches it
NOTES = {"yjs-stuck"}


@dataclass
class Problem:
    kind: str  # one of SEVERITY
    detail: str

    def __str__(self) -> str:
        return f"[{self.kind}] {self.detail}"


def _b64(data: bytes) -> str:
    return base64.b64encode(data).decode("ascii")


def _short(value: Any, limit: int = 600) -> str:
    text = json.dumps(value, ensure_ascii=False)
    return text if len(text) <= limit else text[:limit] + "..."


def compare_with_yjs(
    scenario: Scenario, runner: Runner, oracle, *, state_bytes: bool = True, rng: random.Random | None = None
) -> list[Problem]:
    """Every check of one scenario whose steps ``runner`` has already replayed on our engine."""
    problems: list[Problem] = []
    ours_json = runner.json()
    diverged = None
    for i, j in enumerate(ours_json[1:], 1):
        if j != ours_json[0]:
            diverged = Problem("diverged", f"peer {i} {_short(j)} != peer 0 {_short(ours_json[0])}")
            break
    ours_states = runner.states()
    ours_svs = [d.encode_state_vector() for d in runner.docs]
    updates = [u for u in runner.updates if u is not None]
    rng = rng or random.Random(scenario.seed)
    shuffled = list(updates)
    rng.shuffle(shuffled)
    requests = [
        {
            "kind": "script",
            "clients": scenario.clients,
            "gc": scenario.gc,
            "roots": scenario.roots,
            "steps": runner.wire_steps,
        },
        {"kind": "apply", "updates": [_b64(u) for u in shuffled], "gc": scenario.gc, "roots": scenario.roots},
    ]
    requests += [
        {"kind": "apply", "updates": [_b64(s)], "gc": scenario.gc, "roots": scenario.roots}
        for s in ours_states
    ]
    script, applied, *loaded = oracle.batch(requests)
    if not script["ok"]:
        problems.append(Problem("yjs-refused", script["error"]))
    else:
        for k, (ours, theirs) in enumerate(zip(runner.updates, script["updates"], strict=True)):
            theirs_b = None if theirs is None else base64.b64decode(theirs)
            if ours != theirs_b:
                problems.append(
                    Problem(
                        "update-bytes",
                        f"transaction {k} ({_short(runner.wire_steps[_txn_step(runner, k)])}):\n"
                        f"  ours: {ours.hex() if ours is not None else None}\n"
                        f"  yjs:  {theirs_b.hex() if theirs_b is not None else None}",
                    )
                )
                break
        for i, (ours, theirs) in enumerate(zip(ours_json, script["json"], strict=True)):
            if ours != theirs:
                problems.append(
                    Problem("yjs-json", f"peer {i}:\n  ours: {_short(ours)}\n  yjs:  {_short(theirs)}")
                )
                break
        for i, (ours, theirs) in enumerate(zip(ours_svs, script["state_vectors"], strict=True)):
            if ours != base64.b64decode(theirs):
                problems.append(
                    Problem(
                        "state-vector", f"peer {i}: ours {ours.hex()} yjs {base64.b64decode(theirs).hex()}"
                    )
                )
                break
        if state_bytes:
            for i, (ours, theirs) in enumerate(zip(ours_states, script["states"], strict=True)):
                if ours != base64.b64decode(theirs):
                    problems.append(
                        Problem(
                            "state-bytes",
                            f"peer {i}: full-state update differs:\n"
                            f"  ours: {ours.hex()}\n  yjs:  {base64.b64decode(theirs).hex()}",
                        )
                    )
                    break
        # A peer that keeps structs pending has them in its full state too, so loading that state into a
        # fresh document shows more than the peer does: compare with Yjs loading the same state then.
        pending_peers = [i for i, p in enumerate(script["pending"]) if p]
        self_loads = {}
        if pending_peers:
            answers = oracle.batch(
                [
                    {
                        "kind": "apply",
                        "updates": [script["states"][i]],
                        "gc": scenario.gc,
                        "roots": scenario.roots,
                    }
                    for i in pending_peers
                ]
            )
            self_loads = {i: a["json"] for i, a in zip(pending_peers, answers, strict=True) if a["ok"]}
        for i, theirs in enumerate(script["states"]):
            d = crdt.Doc(gc=scenario.gc)
            try:
                d.apply_update(base64.b64decode(theirs))
                got = doc_json(d, scenario.roots)
            except Exception as e:  # noqa: BLE001 - any engine failure is a finding
                problems.append(
                    Problem("state-load-ours", f"peer {i}: loading Yjs's full state raised {e!r}")
                )
                break
            expected = self_loads.get(i, script["json"][i])
            if got != expected:
                problems.append(
                    Problem(
                        "state-load-ours",
                        f"peer {i}: Yjs's full state loads as {_short(got)} in ours, "
                        f"as {_short(expected)} in Yjs",
                    )
                )
                break
    # Our divergence is an engine failure unless Yjs's peers end exactly as ours with structs left pending:
    # Yjs 13.6.33 can leave structs pending for good when updates arrive in some orders (an example is
    # STUCK_UPDATES in test_yjs_differential.py), and a faithful port does the same.
    if diverged is not None:
        if script["ok"] and script["json"] == ours_json and any(script["pending"]):
            problems.append(
                Problem("yjs-stuck", f"Yjs's peers diverge as ours do, with pending structs: {diverged}")
            )
        else:
            problems.append(diverged)
    # Yjs applying our updates in a shuffled order: must end as our engine applying them in that order,
    # and (unless Yjs keeps structs pending, as above) as our converged replicas.
    fresh = crdt.Doc(gc=scenario.gc)
    try:
        for u in shuffled:
            fresh.apply_update(u)
        fresh_json = doc_json(fresh, scenario.roots)
    except Exception:  # noqa: BLE001
        problems.append(Problem("engine-error", f"applying the shuffled updates:\n{traceback.format_exc()}"))
        fresh_json = None
    if not applied["ok"]:
        problems.append(Problem("yjs-apply-ours", f"Yjs refused our updates: {applied['error']}"))
    elif fresh_json is not None and applied["json"] != fresh_json:
        problems.append(
            Problem(
                "apply-order",
                f"our {len(updates)} updates in a shuffled order: Yjs gets {_short(applied['json'])}, "
                f"a fresh document of ours gets {_short(fresh_json)}",
            )
        )
    elif applied["json"] != ours_json[0]:
        kind = "yjs-stuck" if applied["pending"] else "yjs-apply-ours"
        problems.append(
            Problem(
                kind,
                f"Yjs applying our {len(updates)} updates (shuffled) gets "
                f"{_short(applied['json'])}{' with structs pending' if applied['pending'] else ''}, "
                f"we have {_short(ours_json[0])}",
            )
        )
    yjs_pending = script["pending"] if script["ok"] else [False] * len(loaded)
    for i, ans in enumerate(loaded):
        expected = ours_json[i]
        if yjs_pending[i]:  # the state holds the pending structs: compare with our own fresh load of it
            d = crdt.Doc(gc=scenario.gc)
            d.apply_update(ours_states[i])
            expected = doc_json(d, scenario.roots)
        if not ans["ok"] or ans["json"] != expected:
            got = ans["error"] if not ans["ok"] else _short(ans["json"])
            problems.append(
                Problem(
                    "state-load-yjs", f"peer {i}: our full state in Yjs gives {got}, ours {_short(expected)}"
                )
            )
            break
    return problems


def _txn_step(runner: Runner, k: int) -> int:
    seen = -1
    for n, step in enumerate(runner.wire_steps):
        if "peer" in step:
            seen += 1
            if seen == k:
                return n
    return -1


def run_seed(seed: int, oracle, *, state_bytes: bool = True) -> tuple[Scenario | None, list[Problem]]:
    """Generate, run and compare one scenario."""
    gen = Generator(seed)
    try:
        scenario, runner = gen.generate()
    except Exception:  # noqa: BLE001
        return None, [Problem("engine-error", f"while generating seed {seed}:\n{traceback.format_exc()}")]
    return scenario, compare_with_yjs(scenario, runner, oracle, state_bytes=state_bytes)


def check_scenario(scenario: Scenario, oracle, *, state_bytes: bool = True) -> list[Problem] | None:
    """Replay a (possibly edited) scenario; ``None`` if its steps no longer fit together."""
    runner = Runner(scenario.clients, scenario.gc, scenario.roots)
    for step in scenario.steps:
        try:
            runner.do(step)
        except InvalidStep:
            return None
        except Exception:  # noqa: BLE001
            return [Problem("engine-error", traceback.format_exc())]
    return compare_with_yjs(scenario, runner, oracle, state_bytes=state_bytes)


# --------------------------------------------------------------------------------------------------------
# minimization
# --------------------------------------------------------------------------------------------------------


def minimize(
    scenario: Scenario, oracle, kind: str, *, budget: float = 30.0, state_bytes: bool = True
) -> Scenario:
    """Drop steps, ops, deliveries and peers while a problem of ``kind`` persists (greedy, time-boxed)."""
    deadline = time.monotonic() + budget

    def fails(candidate: Scenario) -> bool:
        problems = check_scenario(candidate, oracle, state_bytes=state_bytes)
        return problems is not None and any(p.kind == kind for p in problems)

    def with_steps(steps: list[dict]) -> Scenario:
        return Scenario(scenario.seed, scenario.clients, scenario.gc, steps, scenario.roots)

    best = scenario
    final = [s for s in scenario.steps if s.get("final")]  # the closing "everything to everyone" stays

    def body(sc: Scenario) -> list[dict]:
        return [s for s in sc.steps if not s.get("final")]

    # 1. chunks of steps, halving the chunk size
    chunk = max(1, len(body(best)) // 2)
    while chunk >= 1 and time.monotonic() < deadline:
        i = 0
        changed = False
        while i < len(body(best)) and time.monotonic() < deadline:
            steps = body(best)
            cand = with_steps(steps[:i] + steps[i + chunk :] + final)
            if len(cand.steps) > len(final) and fails(cand):
                best, changed = cand, True
            else:
                i += chunk
        if not changed:
            chunk //= 2
    # 1b. closing deliveries that the problem does not need (not for divergence: that needs them all)
    if kind not in ("diverged", "yjs-apply-ours"):
        n = 0
        while n < len(best.steps) and time.monotonic() < deadline:
            if best.steps[n].get("final"):
                cand = with_steps(best.steps[:n] + best.steps[n + 1 :])
                if fails(cand):
                    best = cand
                    continue
            n += 1
    # 2. single ops inside multi-op transactions, single tags inside deliveries
    for n in range(len(best.steps)):
        if time.monotonic() >= deadline:
            break
        step = best.steps[n]
        key = "ops" if "ops" in step else "deliver" if "deliver" in step else None
        if key is None or step.get("final"):
            continue
        j = 0
        while j < len(best.steps[n][key]) and len(best.steps[n][key]) > 1 and time.monotonic() < deadline:
            items = best.steps[n][key]
            new_step = dict(best.steps[n])
            new_step[key] = items[:j] + items[j + 1 :]
            cand = with_steps(best.steps[:n] + [new_step] + best.steps[n + 1 :])
            if fails(cand):
                best = cand
            else:
                j += 1
    # 3. a sync of two peers can stand for a delivery: try replacing syncs by nothing (already done) ...
    #    and try shrinking inserted strings
    for n, step in enumerate(best.steps):
        if time.monotonic() >= deadline or "ops" not in step:
            continue
        for j, op in enumerate(step["ops"]):
            if op["action"] == "text_insert" and len(op["content"]) > 1:
                for content in (op["content"][0], op["content"][:-1]):
                    new_op = dict(op, content=content)
                    new_step = dict(step, ops=step["ops"][:j] + [new_op] + step["ops"][j + 1 :])
                    cand = with_steps(best.steps[:n] + [new_step] + best.steps[n + 1 :])
                    if fails(cand):
                        best = cand
                        step = new_step
                        break
    small = compact(best)
    return small if fails(small) else best


def compact(scenario: Scenario) -> Scenario:
    """The same scenario with transactions renumbered 0.., deliveries of dropped transactions removed
    and peers that take no part dropped."""
    renum: dict[Any, int] = {}
    for step in scenario.steps:
        if "peer" in step:
            renum[step["txn"]] = len(renum)
    used = set()
    for step in scenario.steps:
        if "peer" in step:
            used.add(step["peer"])
        elif "deliver" in step:
            if any(t in renum for t in step["deliver"]):
                used.add(step["to"])
        elif "sync" in step:
            used.update(step["sync"])
    peers = {old: new for new, old in enumerate(sorted(used))}
    steps = []
    for step in scenario.steps:
        if "peer" in step:
            steps.append({**step, "peer": peers[step["peer"]], "txn": renum[step["txn"]]})
        elif "deliver" in step:
            tags = [renum[t] for t in step["deliver"] if t in renum]
            if tags:
                steps.append({**step, "deliver": tags, "to": peers[step["to"]]})
        elif "sync" in step:
            steps.append({"sync": [peers[i] for i in step["sync"]]})
    clients = [c for i, c in enumerate(scenario.clients) if i in peers]
    return Scenario(scenario.seed, clients, scenario.gc, steps, scenario.roots)


def repro_python(scenario: Scenario) -> str:
    """Plain engine code that replays a scenario (for bug reports)."""
    lines = ["import crdt", ""]
    for i, c in enumerate(scenario.clients):
        lines.append(f"d{i} = crdt.Doc(client_id={c}, gc={scenario.gc})")
        lines.append(f"d{i}.get_text('t'), d{i}.get_array('a'), d{i}.get_map('m')")
    lines.append("updates = {}")
    lines.append("def record(doc, key):")
    lines.append("    return doc.observe_updates(lambda u, origin: updates.__setitem__(key, u))")
    for step in scenario.steps:
        if "peer" in step:
            p = step["peer"]
            lines.append(f"sub = record(d{p}, {step['txn']})")
            lines.append(f"with d{p}.transact():")
            for op in step["ops"]:
                lines.append("    " + _op_python(f"d{p}", op))
            lines.append(f"d{p}.unobserve_updates(sub)")
        elif "deliver" in step:
            lines.append(f"for k in {step['deliver']}:")
            lines.append("    if k in updates:")
            lines.append(f"        d{step['to']}.apply_update(updates[k])")
        elif "sync" in step:
            i, j = step["sync"]
            lines.append(f"d{i}.apply_update(d{j}.encode_state_as_update(d{i}.encode_state_vector()))")
            lines.append(f"d{j}.apply_update(d{i}.encode_state_as_update(d{j}.encode_state_vector()))")
    for i in range(len(scenario.clients)):
        lines.append(
            f"print({i}, str(d{i}.get_text('t')), d{i}.get_array('a').to_py(), d{i}.get_map('m').to_py())"
        )
    return "\n".join(lines)


def _path_python(doc: str, path: list) -> str:
    getter = {"t": "get_text", "a": "get_array", "m": "get_map"}[path[0]]
    expr = f"{doc}.{getter}({path[0]!r})"
    for seg in path[1:]:
        expr += f"[{seg!r}]"
    return expr


def _value_python(spec: Any) -> str:
    if isinstance(spec, list):
        return "[" + ", ".join(_value_python(v) for v in spec) + "]"
    if isinstance(spec, dict):
        if "$type" in spec:
            kind = spec["$type"]
            if kind == "text":
                return f"crdt.Text({spec.get('init') or ''!r})"
            if kind == "array":
                return f"crdt.Array({_value_python(spec.get('init', []))})"
            return (
                "crdt.Map({" + ", ".join(f"{k!r}: {_value_python(v)}" for k, v in spec.get("init", [])) + "})"
            )
        if "$bytes" in spec:
            return repr(base64.b64decode(spec["$bytes"]))
        return "{" + ", ".join(f"{k!r}: {_value_python(v)}" for k, v in spec.items()) + "}"
    return repr(spec)


def _op_python(doc: str, op: dict) -> str:
    target = _path_python(doc, op["path"])
    a = op["action"]
    if a == "text_insert":
        return f"{target}.insert({op['index']}, {op['content']!r})"
    if a in ("text_delete", "array_delete"):
        return f"{target}.delete({op['index']}, {op['length']})"
    if a == "array_insert":
        return f"{target}.insert({op['index']}, {_value_python(op['values'])})"
    if a == "array_push":
        return f"{target}.extend({_value_python(op['values'])})"
    if a == "map_set":
        return f"{target}[{op['key']!r}] = {_value_python(op['value'])}"
    return f"del {target}[{op['key']!r}]"


def report(
    scenario: Scenario | None,
    problems: list[Problem],
    oracle,
    *,
    budget: float = 30.0,
    state_bytes: bool = True,
) -> str:
    """A failure report: the problems, then a minimized scenario as JSON and as engine code."""
    out = [str(p) for p in problems]
    if scenario is None or not problems:
        return "\n".join(out)
    kinds = {p.kind for p in problems} - NOTES
    if not kinds:
        return "\n".join(out)
    kind = next(k for k in SEVERITY if k in kinds)
    out.append(f"\nminimizing for [{kind}] ...")
    small = minimize(scenario, oracle, kind, budget=budget, state_bytes=state_bytes)
    again = check_scenario(small, oracle, state_bytes=state_bytes) or []
    out.append(f"\nminimized to {len(small.steps)} of {len(scenario.steps)} steps; its problems:")
    out += [f"  {p}" for p in again]
    out.append("minimized scenario (steps use code point indices):")
    out.append(small.to_json())
    out.append("as engine code:")
    out.append(repro_python(small))
    return "\n".join(out)


def main(argv: list[str] | None = None) -> int:
    import argparse

    from tests.conftest import YjsOracle

    ap = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    ap.add_argument("--seed", type=int, required=True)
    ap.add_argument("--minimize", action="store_true", help="shrink a failing scenario")
    ap.add_argument("--show", action="store_true", help="print the scenario")
    ap.add_argument("--no-state-bytes", action="store_true", help="do not compare full-state bytes")
    ap.add_argument("--budget", type=float, default=60.0, help="seconds for minimizing")
    args = ap.parse_args(argv)
    oracle = YjsOracle()
    try:
        scenario, problems = run_seed(args.seed, oracle, state_bytes=not args.no_state_bytes)
        if args.show and scenario is not None:
            print(scenario.to_json())
        if not [p for p in problems if p.kind not in NOTES]:
            print("\n".join(str(p) for p in problems))
            print(f"seed {args.seed}: ok")
            return 0
        if args.minimize:
            print(report(scenario, problems, oracle, budget=args.budget, state_bytes=not args.no_state_bytes))
        else:
            print("\n".join(str(p) for p in problems))
        return 1
    finally:
        oracle.close()


if __name__ == "__main__":
    raise SystemExit(main())
