"""Histories: changes and their hashes, the DAG (heads, ancestry, versions, union merge), recording with
deps that cover every referenced struct, branches, and the grouping of keystrokes into changes.

Random histories come from replicas that edit (random ops on a text, an array and a map, nested types
included) and sync now and then; each replica keeps its history beside its document.
"""

from __future__ import annotations

import itertools
import random

import msgpack
import pytest

import crdt
from crdt.history import (
    CHANGE_TAG,
    Change,
    ChangeGrouper,
    History,
    MissingDependencyError,
    MissingStructsError,
    combine_updates,
)
from tests.crdt.script_runner import apply_op, make_doc, random_op, roots_json

ROOTS = {"t": "text", "a": "array", "m": "map"}
T0 = 1_700_000_000.0


def content(doc: crdt.Doc) -> dict:
    return roots_json(doc, ROOTS)


def dep_hash(i: int) -> str:
    return f"{i:064x}"


# -- changes --------------------------------------------------------------------------------------


def test_change_hash_is_sha256_of_canonical_fields():
    import hashlib

    c = Change([dep_hash(2), dep_hash(1), dep_hash(2)], "alice", 12, b"\x00\x00", kind="disk",
               message="m", meta={"b": [1, 2], "a": {"y": 1, "x": b"\x01"}})
    assert c.deps == (dep_hash(1), dep_hash(2))
    assert c.time == 12.0 and isinstance(c.time, float)
    fields = msgpack.unpackb(c.canonical(), raw=False)
    assert fields == [
        CHANGE_TAG, [bytes.fromhex(dep_hash(1)), bytes.fromhex(dep_hash(2))], "alice", 12.0, "disk", "m",
        {"a": {"x": b"\x01", "y": 1}, "b": [1, 2]}, b"\x00\x00",
    ]
    assert list(msgpack.unpackb(c.canonical(), raw=False)[6]) == ["a", "b"]  # keys sorted
    assert c.hash == hashlib.sha256(c.canonical()).hexdigest()
    same = Change((dep_hash(1), dep_hash(2)), "alice", 12.0, b"\x00\x00", kind="disk", message="m",
                  meta={"a": {"x": b"\x01", "y": 1}, "b": (1, 2)})
    assert same.hash == c.hash and same == c and len({same, c}) == 1
    for other in (
        Change([], "alice", 12, b"\x00\x00", kind="disk", message="m", meta=c.meta),
        Change(c.deps, "bob", 12, b"\x00\x00", kind="disk", message="m", meta=c.meta),
        Change(c.deps, "alice", 13, b"\x00\x00", kind="disk", message="m", meta=c.meta),
        Change(c.deps, "alice", 12, b"\x00\x00\x00", kind="disk", message="m", meta=c.meta),
        Change(c.deps, "alice", 12, b"\x00\x00", kind="edit", message="m", meta=c.meta),
        Change(c.deps, "alice", 12, b"\x00\x00", kind="disk", message=None, meta=c.meta),
        Change(c.deps, "alice", 12, b"\x00\x00", kind="disk", message="m", meta={}),
    ):
        assert other.hash != c.hash


def test_change_is_immutable_and_validated():
    c = Change([], "a", 0, b"\x00\x00", meta={"k": [1, {"n": 2}]})
    with pytest.raises(AttributeError):
        c.author = "b"
    with pytest.raises(TypeError):
        c.meta["k"] = 1
    assert c.meta["k"] == (1, {"n": 2})
    assert "kind='edit'" in repr(c) and c.short == c.hash[:12]
    with pytest.raises(ValueError):
        Change(["nothex"], "a", 0, b"")
    with pytest.raises(TypeError):
        Change(dep_hash(1), "a", 0, b"")  # a str, not a list of hashes
    with pytest.raises(ValueError):
        Change([], "a", float("nan"), b"")
    with pytest.raises(TypeError):
        Change([], "a", 0, b"", meta={1: 2})
    with pytest.raises(TypeError):
        Change([], "a", 0, b"", meta={"x": object()})
    with pytest.raises(TypeError):
        Change([], "a", 0, "text")
    with pytest.raises(TypeError):
        Change([], "a", 0, b"", kind="")


# -- helpers: replicas that edit, record and sync -------------------------------------------------


class Replica:
    """A document and its history; local transactions are recorded (optionally through a grouper)."""

    def __init__(self, client: int, rng: random.Random, grouped: bool = False) -> None:
        self.name = f"r{client}"
        self.doc = make_doc(client, ROOTS)
        self.history = History()
        self.rng = rng
        self.clock = [T0]
        self.grouper = (
            ChangeGrouper(self.history, clock=lambda: self.clock[0], idle=2.0, max_bytes=400)
            if grouped else None
        )
        self.doc.observe_updates(self._on_update)

    def _on_update(self, update: bytes, origin) -> None:
        if origin == "sync":
            return
        self.clock[0] += self.rng.choice([0.1, 0.5, 3.0])
        if self.grouper is not None:
            self.grouper.add(update, self.name)
        else:
            self.history.record(update, self.name, time=self.clock[0])

    def edit(self) -> None:
        for _ in range(self.rng.randint(1, 3)):
            apply_op(self.doc, ROOTS, random_op(self.rng, self.doc, ROOTS))

    def flush(self) -> None:
        if self.grouper is not None:
            self.grouper.flush()

    def sync_from(self, other: Replica) -> None:
        self.flush()
        other.flush()
        self.history.merge(other.history)
        self.doc.apply_update(other.doc.encode_state_as_update(self.doc.encode_state_vector()), origin="sync")


def random_replicas(seed: int, n: int = 3, steps: int = 40, grouped: bool = False) -> list[Replica]:
    rng = random.Random(seed)
    reps = [Replica(i + 1, rng, grouped) for i in range(n)]
    for _ in range(steps):
        r = rng.choice(reps)
        if rng.random() < 0.25:
            r.sync_from(rng.choice([o for o in reps if o is not r]))
        else:
            r.edit()
    for r in reps:
        r.flush()
    return reps


def rebuilt(history: History, version) -> crdt.Doc:
    """The document at ``version`` built independently: ancestors' updates in a random order."""
    updates = [history.get(h).update for h in history.ancestors(version)]
    random.Random(len(updates)).shuffle(updates)
    doc = crdt.Doc(gc=False)
    for u in updates:
        doc.apply_update(u)
    return doc


# -- the DAG --------------------------------------------------------------------------------------


def linear(n: int) -> tuple[History, list[Change]]:
    doc = crdt.Doc(client_id=1, gc=False)
    text = doc.get_text("t")
    h = History()
    out = []
    for i in range(n):
        sv = doc.encode_state_vector()
        text.insert(i, "x")
        out.append(h.record(doc.encode_state_as_update(sv), "a", time=T0 + i))
    return h, out


def test_heads_ancestors_and_log():
    h, cs = linear(4)
    assert h.heads == h.version == {cs[-1].hash} == h.branch("main")
    assert [c.deps for c in cs] == [(), (cs[0].hash,), (cs[1].hash,), (cs[2].hash,)]
    assert h.ancestors(cs[1].hash) == {cs[0].hash, cs[1].hash}
    assert h.ancestors() == {c.hash for c in cs}
    assert h.is_ancestor(cs[0].hash, cs[3].hash) and h.is_ancestor(cs[2].hash, cs[2].hash)
    assert not h.is_ancestor(cs[3].hash, cs[0].hash)
    assert h.log() == cs and h.log(cs[2].hash, since=cs[0].hash) == cs[1:3]
    assert h.heads_of([c.hash for c in cs]) == {cs[-1].hash}
    assert list(h) == list(h.changes) == cs and len(h) == 4 and cs[0].hash in h
    assert h.changes[1:3] == cs[1:3] and h.changes[-1] == cs[-1]
    assert h.get(cs[2].hash) is cs[2] and h.resolve(cs[2].hash[:10]) == cs[2].hash
    with pytest.raises(KeyError):
        h.get(dep_hash(7))
    with pytest.raises(KeyError):
        h.ancestors([dep_hash(7)])
    with pytest.raises(ValueError):
        h.resolve("ab")
    assert h.doc_at(cs[1].hash).get_text("t").to_py() == "xx"
    assert h.doc_at(frozenset()).to_py() == {}


def test_missing_deps_are_named():
    h, cs = linear(3)
    other = History()
    assert other.missing_deps(cs[2]) == [cs[1].hash]
    with pytest.raises(MissingDependencyError) as e:
        other.add(cs[2])
    assert cs[1].hash in str(e.value) and e.value.missing == (cs[1].hash,)
    assert len(other) == 0
    assert other.add(cs[0]) and other.add(cs[1]) and other.add(cs[2])
    assert not other.add(cs[2])
    assert other.heads == h.heads and other.branch("main") == frozenset()  # add() moves no branch
    with pytest.raises(crdt.DecodeError):
        History().add(Change([], "a", 0, b"\xff\xff\xff"))


@pytest.mark.parametrize("seed", range(6))
@pytest.mark.parametrize("grouped", [False, True])
def test_random_histories(seed, grouped):
    reps = random_replicas(seed, grouped=grouped)
    hs = [r.history for r in reps]
    for r in reps:
        # every replica's document is its history's document
        assert content(r.history.doc_at(r.history.branch("main"))) == content(r.doc)
        assert r.history.branch("main") == r.history.heads
        # heads: exactly the changes nothing depends on
        deps = {d for c in r.history.changes for d in c.deps}
        assert r.history.heads == {c.hash for c in r.history.changes} - deps
        # insertion order is topological
        seen: set[str] = set()
        for c in r.history.changes:
            assert set(c.deps) <= seen
            seen.add(c.hash)
    # union: commutative, idempotent, associative
    a, b, c = hs
    ab = a.copy()
    ab.merge(b)
    ba = b.copy()
    ba.merge(a)
    assert ab == ba
    again = ab.copy()
    assert again.merge(b) == [] and again.merge(a) == [] and again == ab
    ab_c = ab.copy()
    ab_c.merge(c)
    bc = b.copy()
    bc.merge(c)
    a_bc = a.copy()
    a_bc.merge(bc)
    assert ab_c == a_bc
    assert len(ab_c) == len({ch.hash for h in hs for ch in h.changes})
    # every version rebuilds (nothing pending) and equals its updates applied in any order
    for ch in ab_c.changes:
        doc = ab_c.doc_at(ch.hash)
        assert not doc.pending
        assert content(doc) == content(rebuilt(ab_c, ch.hash))
    rng = random.Random(seed)
    hashes = [ch.hash for ch in ab_c.changes]
    for _ in range(5):
        v = rng.sample(hashes, min(3, len(hashes)))
        assert content(ab_c.doc_at(v)) == content(rebuilt(ab_c, v))
    # the union's document is the documents synced
    for r, o in itertools.permutations(reps, 2):
        r.sync_from(o)
    assert content(ab_c.doc_at()) == content(reps[0].doc) == content(reps[1].doc)
    # update_at is a full-state update of the version
    fresh = crdt.Doc()
    fresh.apply_update(ab_c.update_at())
    assert content(fresh) == content(reps[0].doc)


def test_checkpoint_is_a_shortcut_not_a_difference():
    reps = random_replicas(11, steps=30)
    h = reps[0].history
    mid = h.changes[len(h) // 2].hash
    expected = {ch.hash: content(h.doc_at(ch.hash)) for ch in h.changes}
    h.set_checkpoint(mid, h.update_at(mid))
    assert h.checkpoint == {mid}
    assert h.update_at(mid) == h.update_at([mid])
    for ch in h.changes:
        assert content(h.doc_at(ch.hash)) == expected[ch.hash]


# -- recording ------------------------------------------------------------------------------------


def test_record_returns_none_for_nothing_new():
    doc = crdt.Doc(client_id=5, gc=False)
    h = History()
    updates = []
    doc.observe_updates(lambda u, o: updates.append(u))
    doc.get_text("t").insert(0, "abc")
    doc.get_text("t").delete(1, 1)
    c1 = h.record(updates[0], "a")
    c2 = h.record(updates[1], "a")
    assert c1 is not None and c2 is not None and c2.deps == (c1.hash,)
    assert h.record(updates[0], "a") is None
    assert h.record(updates[1], "b") is None
    assert h.record(crdt.merge_updates(updates), "a") is None
    assert h.record(crdt.Doc().encode_state_as_update(), "a") is None
    assert len(h) == 2
    assert h.owner(5, 0) == h.owner(5, 2) == c1.hash and h.owner(5, 3) is None and h.owner(6, 0) is None


def test_record_refuses_references_to_unrecorded_structs():
    doc = crdt.Doc(client_id=5, gc=False)
    t = doc.get_text("t")
    t.insert(0, "abc")  # never recorded
    sv = doc.encode_state_vector()
    t.insert(3, "d")
    t.delete(0, 1)
    h = History()
    with pytest.raises(MissingStructsError) as e:
        h.record(doc.encode_state_as_update(sv), "a")
    assert e.value.ranges == ((5, 0, 1), (5, 2, 1))  # the deleted "a"; "c" (previous clock, origin)
    assert "client 5 clocks 0..0, client 5 clocks 2..2" in str(e.value)
    assert len(h) == 0


def test_record_on_a_branch_depends_on_the_changes_it_refers_to():
    """Deps are the branch heads plus whatever holds referenced structs, reduced to heads."""
    doc_a = crdt.Doc(client_id=1, gc=False)
    doc_b = crdt.Doc(client_id=2, gc=False)
    h = History()
    doc_a.get_text("t").insert(0, "hello")
    c1 = h.record(doc_a.encode_state_as_update(), "a")
    h.create_branch("draft", frozenset())  # an empty branch: its heads know nothing of c1
    doc_b.apply_update(doc_a.encode_state_as_update())
    sv = doc_b.encode_state_vector()
    doc_b.get_text("t").insert(5, "!")
    c2 = h.record(doc_b.encode_state_as_update(sv), "b", branch="draft")
    assert c2.deps == (c1.hash,)
    assert h.branch("draft") == {c2.hash} and h.branch("main") == {c1.hash}
    # main goes on without the draft
    sv = doc_a.encode_state_vector()
    doc_a.get_text("t").insert(0, ">")
    c3 = h.record(doc_a.encode_state_as_update(sv), "a")
    assert c3.deps == (c1.hash,) and h.heads == {c2.hash, c3.hash}
    # an edit on the draft deleting main's new character needs c3 too; c1 is already covered
    doc_b.apply_update(doc_a.encode_state_as_update(), origin="sync")
    sv = doc_b.encode_state_vector()
    doc_b.get_text("t").delete(0, 1)
    c4 = h.record(doc_b.encode_state_as_update(sv), "b", branch="draft")
    assert set(c4.deps) == {c2.hash, c3.hash}
    for c in (c2, c4):
        assert not h.doc_at(c.hash).pending
    assert h.doc_at(h.branch("draft")).get_text("t").to_py() == "hello!"
    assert h.doc_at(h.branch("main")).get_text("t").to_py() == ">hello"


def test_branches():
    h, cs = linear(3)
    assert h.branches == {"main": {cs[2].hash}}
    assert h.create_branch("old", cs[0].hash) == {cs[0].hash}
    assert h.create_branch("copy") == {cs[2].hash}
    with pytest.raises(ValueError):
        h.create_branch("old")
    assert h.move_branch("old", [cs[0].hash, cs[1].hash]) == {cs[1].hash}  # reduced to heads
    with pytest.raises(KeyError):
        h.move_branch("nope", cs[0].hash)
    with pytest.raises(KeyError):
        h.move_branch("old", dep_hash(9))
    h.delete_branch("copy")
    with pytest.raises(ValueError):
        h.delete_branch("main")
    with pytest.raises(KeyError):
        h.record(b"\x00\x00", "a", branch="copy")
    assert h.branches == {"main": {cs[2].hash}, "old": {cs[1].hash}}
    # merging branch tables: union of versions, reduced
    other = History()
    for c in cs[:2]:
        other.add(c)
    other.set_branch("old", cs[0].hash)
    other.set_branch("theirs", cs[1].hash)
    h.merge(other)
    assert h.branches == {"main": {cs[2].hash}, "old": {cs[1].hash}, "theirs": {cs[1].hash}}


def test_concurrent_heads_and_merge_heads():
    a, b = crdt.Doc(client_id=1, gc=False), crdt.Doc(client_id=2, gc=False)
    ha, hb = History(), History()
    a.get_text("t").insert(0, "a")
    ca = ha.record(a.encode_state_as_update(), "a")
    b.get_text("t").insert(0, "b")
    cb = hb.record(b.encode_state_as_update(), "b")
    ha.merge(hb)
    assert ha.heads == {ca.hash, cb.hash} == ha.branch("main")
    a.apply_update(b.encode_state_as_update(), origin="sync")
    sv = a.encode_state_vector()
    a.get_text("t").insert(0, "x")
    c = ha.record(a.encode_state_as_update(sv), "a")
    assert set(c.deps) == {ca.hash, cb.hash} and ha.heads == {c.hash}
    assert ha.heads_of([ca.hash, cb.hash, c.hash]) == {c.hash}
    assert ha.heads_of([ca.hash, cb.hash]) == {ca.hash, cb.hash}
    assert not ha.is_ancestor(ca.hash, cb.hash)


# -- grouping -------------------------------------------------------------------------------------


class FakeClock:
    def __init__(self) -> None:
        self.now = T0

    def __call__(self) -> float:
        return self.now


def keystrokes(doc: crdt.Doc, text: str) -> list[bytes]:
    out: list[bytes] = []
    cb = doc.observe_updates(lambda u, o: out.append(u))
    t = doc.get_text("t")
    for ch in text:
        t.insert(len(t), ch)
    doc.unobserve_updates(cb)
    return out


def test_grouping_idle_gap_and_poll():
    clock = FakeClock()
    h = History()
    seen = []
    g = ChangeGrouper(h, clock=clock, on_change=seen.append)
    doc = crdt.Doc(client_id=3, gc=False)
    ups = keystrokes(doc, "abcdef")
    for u, dt in zip(ups[:3], [0, 1.0, 1.9], strict=True):
        clock.now += dt
        assert g.add(u, "a") == []
    assert g.pending and g.author == "a" and g.deadline == clock.now + 2.0
    clock.now += 2.0  # exactly the idle gap: the next update starts a new change
    out = g.add(ups[3], "a")
    assert len(out) == 1 and out[0].time == T0 + 2.9 and seen == out
    assert h.doc_at(out[0].hash).get_text("t").to_py() == "abc"
    clock.now += 1.5
    g.add(ups[4], "a")
    assert g.poll() is None  # 1.5 s after the last update: not idle yet
    clock.now += 1.99
    assert g.poll() is None
    clock.now += 0.01
    c = g.poll()
    assert c is not None and c.time == T0 + 6.4 and not g.pending and g.deadline is None
    assert h.doc_at(c.hash).get_text("t").to_py() == "abcde"
    g.add(ups[5], "a", time=T0 + 100)
    assert g.flush().time == T0 + 100 and g.flush() is None and g.poll() is None
    assert len(h) == 3 and [x.author for x in h.changes] == ["a", "a", "a"]


def test_grouping_size_cap():
    clock = FakeClock()
    h = History()
    g = ChangeGrouper(h, clock=clock, max_bytes=100)
    doc = crdt.Doc(client_id=3, gc=False)
    ups = keystrokes(doc, "x" * 40)
    sizes = []
    size = 0
    for u in ups:
        clock.now += 0.1
        flushes = 0
        if size > 0 and size + len(u) > 100:  # would pass the cap: close the change first
            sizes.append(size)
            size = 0
            flushes += 1
        size += len(u)
        if size >= 100:  # reached the cap: close it now
            sizes.append(size)
            size = 0
            flushes += 1
        assert len(g.add(u, "a")) == flushes
    g.flush()
    if size:
        sizes.append(size)
    assert len(h) == len(sizes) and all(s <= 100 for s in sizes)
    assert h.doc_at().get_text("t").to_py() == "x" * 40
    # an update bigger than the cap is a change of its own, recorded at once
    big = keystrokes(doc, "y")[0]
    doc.get_text("t").insert(0, "z" * 500)
    g.add(big, "a")
    huge = doc.encode_state_as_update(crdt.Doc().encode_state_vector())
    out = g.add(huge, "a")
    assert len(out) == 2 and not g.pending


def test_grouping_splits_on_author_kind_and_meta():
    clock = FakeClock()
    h = History()
    g = ChangeGrouper(h, clock=clock)
    doc = crdt.Doc(client_id=3, gc=False)
    ups = keystrokes(doc, "abcdef")
    g.add(ups[0], "a")
    assert g.add(ups[1], "a", kind="disk") != []
    assert g.add(ups[2], "a", kind="disk", meta={"x": 1}) != []
    assert g.add(ups[3], "a", kind="disk", meta={"x": 1}) == []
    assert g.add(ups[4], "a", kind="disk", meta={"x": 1}, message="m") != []
    g.flush()
    assert [(c.kind, dict(c.meta), c.message) for c in h.changes] == [
        ("edit", {}, None), ("disk", {}, None), ("disk", {"x": 1}, None), ("disk", {"x": 1}, "m"),
    ]


def test_flush_failure_keeps_the_buffer():
    doc = crdt.Doc(client_id=3, gc=False)
    keystrokes(doc, "ab")  # never recorded
    later = keystrokes(doc, "c")
    g = ChangeGrouper(History())
    g.add(later[0], "a")
    with pytest.raises(MissingStructsError):
        g.flush()
    assert g.pending
    assert g.discard() == later and not g.pending


def test_interleaved_typing_keystroke_by_keystroke():
    """Two authors type into the same line alternately, through one room: every version rebuilds."""
    rng = random.Random(5)
    clock = FakeClock()
    room = crdt.Doc(client_id=100, gc=False)
    h = History()
    g = ChangeGrouper(h, clock=clock)
    room.get_text("t").insert(0, "line\n")
    h.record(room.encode_state_as_update(), "setup", time=T0)
    clients = {"alice": crdt.Doc(client_id=1, gc=False), "bob": crdt.Doc(client_id=2, gc=False)}
    outbox: dict[str, list[bytes]] = {name: [] for name in clients}
    for name, d in clients.items():
        d.apply_update(room.encode_state_as_update())
        d.observe_updates(lambda u, o, name=name: outbox[name].append(u) if o != "room" else None)
    texts_after: dict[str, str] = {}

    def deliver(name: str) -> None:
        """The room receives ``name``'s updates, records them, and broadcasts them."""
        for u in outbox[name]:
            room.apply_update(u, origin=name)
            for c in g.add(u, name):
                texts_after[c.hash] = snapshot_before_last
            for other, d in clients.items():
                if other != name:
                    d.apply_update(u, origin="room")
        outbox[name].clear()

    authors_in = []
    for i in range(120):
        name = "alice" if i % 2 == 0 else "bob"
        if rng.random() < 0.2:
            name = "bob" if name == "alice" else "alice"  # sometimes one types twice in a row
        d = clients[name]
        t = d.get_text("t")
        pos = rng.randint(0, 4)
        if rng.random() < 0.15 and len(t) > 5:
            t.delete(pos, 1)
        else:
            t.insert(pos, "ab"[name == "bob"])
        clock.now += 0.2
        snapshot_before_last = room.get_text("t").to_py()
        deliver(name)
        authors_in.append(name)
    last_text = room.get_text("t").to_py()
    c = g.flush()
    texts_after[c.hash] = last_text
    # authors never reordered: the changes' authors are the input's runs
    runs = [k for k, _ in itertools.groupby(authors_in)]
    assert [c.author for c in h.changes][1:] == runs
    for c in h.changes[1:]:
        doc = h.doc_at(c.hash)
        assert doc.pending is False
        assert doc.get_text("t").to_py() == texts_after[c.hash]
        assert c.deps == (h.changes[h.changes.index(c) - 1].hash,)  # a chain: no cycle, no fork
    assert h.doc_at().get_text("t").to_py() == last_text == clients["alice"].get_text("t").to_py()


def test_grouping_never_reorders_authors_under_random_timing():
    rng = random.Random(9)
    clock = FakeClock()
    h = History()
    g = ChangeGrouper(h, clock=clock, max_bytes=120)
    doc = crdt.Doc(client_id=7, gc=False)
    t = doc.get_text("t")
    arrivals = []
    doc.observe_updates(lambda u, o: arrivals.append(u))
    authors = []
    for _ in range(300):
        author = rng.choice("abc")
        t.insert(rng.randint(0, len(t)), rng.choice(["x", "yz", "hello"]))
        clock.now += rng.choice([0.1, 0.3, 2.5])
        g.add(arrivals[-1], author)
        authors.append(author)
        if rng.random() < 0.05:
            clock.now += 3
            g.poll()
    g.flush()
    got = [c.author for c in h.changes]
    assert [k for k, _ in itertools.groupby(got)] == [k for k, _ in itertools.groupby(authors)]
    assert len(h) < len(authors)
    for i, c in enumerate(h.changes):
        assert c.deps == (() if i == 0 else (h.changes[i - 1].hash,))
    assert h.doc_at().get_text("t").to_py() == t.to_py()


@pytest.mark.parametrize("seed", range(8))
def test_combined_updates_mean_the_same(seed):
    """Joining keystrokes into one update (merge + coalescing runs) changes nothing, even concurrently."""
    rng = random.Random(seed)
    docs = [make_doc(i + 1, ROOTS) for i in range(3)]
    streams: list[list[bytes]] = [[] for _ in docs]
    for i, d in enumerate(docs):
        d.observe_updates(lambda u, o, i=i: streams[i].append(u) if o != "sync" else None)
    all_updates = []
    for _ in range(60):
        i = rng.randrange(3)
        if rng.random() < 0.6:
            t = docs[i].get_text("t")
            n = len(t)
            if n and rng.random() < 0.3:
                k = rng.randrange(n)
                t.delete(k, rng.randint(1, min(3, n - k)))
            else:
                k = rng.randint(0, n)
                for j, ch in enumerate(rng.choice(["abc", "x", "héllo", "12345"])):
                    t.insert(k + j, ch)
        else:
            apply_op(docs[i], ROOTS, random_op(rng, docs[i], ROOTS))
        if rng.random() < 0.2:
            j = rng.randrange(3)
            docs[j].apply_update(docs[i].encode_state_as_update(docs[j].encode_state_vector()), origin="sync")
    for s in streams:
        all_updates.extend(s)
    combined = [combine_updates(s) for s in streams if s]
    assert sum(map(len, combined)) < sum(map(len, all_updates))
    a, b = crdt.Doc(gc=False), crdt.Doc(gc=False)
    for u in all_updates:
        a.apply_update(u)
    for u in reversed(combined):
        b.apply_update(u)
    assert not b.pending and content(a) == content(b)
    # groups of consecutive updates, applied out of order, too
    c = crdt.Doc(gc=False)
    pieces = []
    for s in streams:
        k = 0
        while k < len(s):
            n = rng.randint(1, 6)
            pieces.append(combine_updates(s[k : k + n]))
            k += n
    rng.shuffle(pieces)
    for u in pieces:
        c.apply_update(u)
    assert not c.pending and content(c) == content(a)


def test_combined_updates_in_yjs(yjs_oracle):
    """Yjs reads a grouped history's changes as the same document."""
    reps = random_replicas(3, steps=40, grouped=True)
    h = reps[0].history
    for r in reps[1:]:
        h.merge(r.history)
    for r, o in itertools.permutations(reps, 2):
        r.sync_from(o)
    ans = yjs_oracle.apply([c.update for c in h.changes], ROOTS, gc=False)
    assert not ans["pending"]
    assert ans["json"] == content(reps[0].doc)
    # every version, its changes in topological order: nothing pending in Yjs either, same content
    from tests.conftest import b64

    requests = [
        {"kind": "apply", "updates": [b64(x.update) for x in h.log(c.hash)], "roots": ROOTS, "gc": False}
        for c in h.changes
    ]
    for c, answer in zip(h.changes, yjs_oracle.batch(requests), strict=True):
        assert answer["ok"] and not answer["pending"]
        assert answer["json"] == content(h.doc_at(c.hash))
