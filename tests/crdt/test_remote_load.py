"""Loading updates from peers: the fast paths must be invisible.

``crdt.integration.FAST_PATH`` (runs of one client's structs linked inline, items linked without
``Item.missing``/``Item.integrate``) is checked against the general code on the traces' full states
(made by Yjs) and on random multi-peer documents: the same store shape (every struct, its list
neighbours, its parent), the same full-state bytes, the same content. Loads of big updates pause the
cyclic GC; that must not leak out.
"""

from __future__ import annotations

import gc
import random

import pytest

import crdt
from crdt import integration
from crdt.structs.item import Item
from crdt.types.base import SharedType
from tests.conftest import DATA_DIR, b64, unb64

TRACES = ["automerge-paper", "seph-blog1", "sveltecomponent", "rustcode"]


def _load(update: bytes, *, fast: bool, gc_: bool = True, base: bytes | None = None) -> crdt.Doc:
    """A fresh document (or one holding ``base`` first) after applying ``update``, fast path on or off."""
    saved = integration.FAST_PATH
    integration.FAST_PATH = fast
    try:
        doc = crdt.Doc(client_id=99, gc=gc_)
        if base is not None:
            doc.apply_update(base)
        doc.apply_update(update)
    finally:
        integration.FAST_PATH = saved
    return doc


def _item_id(item) -> tuple[int, int] | None:
    return None if item is None else (item.client, item.clock)


def _parent_key(parent) -> object:
    if isinstance(parent, SharedType):
        return ("root", parent._name) if parent._item is None else ("type", _item_id(parent._item))
    return parent


def _type_shape(t: SharedType) -> tuple:
    return (t._length, _item_id(t._start), {k: _item_id(v) for k, v in t._map.items()})


def _shape(doc: crdt.Doc) -> dict:
    """Everything about the store that a load decides: structs, neighbours, parents, lengths, pending."""
    structs = {}
    for client, lst in sorted(doc.store.clients.items()):
        rows = []
        for s in lst:
            if s.__class__ is Item:
                c = s.content
                rows.append((
                    "Item", s.clock, s.length, s.origin, s.right_origin, _item_id(s.left), _item_id(s.right),
                    _parent_key(s.parent), s.parent_sub, type(c).__name__, repr(c.values()), s.deleted,
                    s.keep, s.redone, s.vlen,
                ))
            else:
                rows.append((type(s).__name__, s.clock, s.length))
        structs[client] = rows
    types = {name: _type_shape(t) for name, t in doc.share.items()}
    for lst in doc.store.clients.values():
        for s in lst:
            if s.__class__ is Item and s.content.__class__.__name__ == "ContentType":
                types[_item_id(s)] = _type_shape(s.content.type)
    return {
        "structs": structs,
        "types": types,
        "pending": doc.store.pending is not None,
        "pending_ds": doc.store.pending_ds,
    }


def _assert_same(fast: crdt.Doc, general: crdt.Doc, what: str) -> None:
    assert _shape(fast) == _shape(general), f"{what}: the store differs"
    assert fast.encode_state_as_update() == general.encode_state_as_update(), f"{what}: full state differs"
    assert fast.to_py() == general.to_py(), f"{what}: content differs"


# -- the traces' full states, made by Yjs -----------------------------------------------------------------


@pytest.fixture(scope="module")
def trace_states(yjs_oracle) -> dict[str, tuple[bytes, str]]:
    """Each trace replayed by Yjs (client id 1): its full-state update and its text."""
    out = {}
    for name in TRACES:
        path = DATA_DIR / "traces" / f"{name}.json.gz"
        answer = yjs_oracle.request({"kind": "replay_trace", "path": str(path), "client_id": 1}, timeout=300)
        out[name] = (unb64(answer["update"]), answer["text"])
    return out


@pytest.mark.parametrize("name", TRACES)
def test_trace_full_state_loads_the_same_with_and_without_fast_path(name, trace_states, yjs_oracle):
    update, text = trace_states[name]
    fast = _load(update, fast=True)
    general = _load(update, fast=False)
    _assert_same(fast, general, name)
    assert str(fast.get_text("text")) == text
    # Yjs re-encodes what it loaded to the same bytes as we do: the same struct boundaries.
    answer = yjs_oracle.request({"kind": "apply", "updates": [b64(update)], "roots": {"text": "text"}})
    assert fast.encode_state_as_update() == unb64(answer["update"])
    # Without GC the deleted runs keep their content: the delete set does the deleting.
    _assert_same(_load(update, fast=True, gc_=False), _load(update, fast=False, gc_=False), f"{name}, gc off")


# -- random multi-peer documents --------------------------------------------------------------------------

ALPHABET = "abcdef \n" + "é中😀"


def _random_value(rng: random.Random, depth: int):
    r = rng.random()
    if depth < 2 and r < 0.12:
        return crdt.Text("".join(rng.choice(ALPHABET) for _ in range(rng.randint(0, 4))))
    if depth < 2 and r < 0.2:
        return crdt.Array()
    if depth < 2 and r < 0.28:
        return crdt.Map()
    return rng.choice([rng.randint(-5, 5), "s" * rng.randint(0, 3), None, True, [1, "x"], {"k": 2}])


def _shared_types(doc: crdt.Doc) -> list:
    """Every live shared type of ``doc``: the roots and what they hold, nested."""
    out = []
    stack = [doc.get_text("t"), doc.get_array("a"), doc.get_map("m")]
    while stack:
        t = stack.pop()
        out.append(t)
        if isinstance(t, crdt.Array):
            stack.extend(v for v in t if isinstance(v, SharedType))
        elif isinstance(t, crdt.Map):
            stack.extend(v for v in t.values() if isinstance(v, SharedType))
    return out


def _random_edit(rng: random.Random, doc: crdt.Doc) -> None:
    t = rng.choice(_shared_types(doc))
    with doc.transact():
        for _ in range(rng.randint(1, 3)):
            if isinstance(t, crdt.Text):
                n = len(t)
                if n and rng.random() < 0.35:
                    i = rng.randrange(n)
                    t.delete(i, rng.randint(1, min(4, n - i)))
                else:
                    s = "".join(rng.choice(ALPHABET) for _ in range(rng.randint(1, 5)))
                    t.insert(rng.randint(0, n), s)
            elif isinstance(t, crdt.Array):
                n = len(t)
                if n and rng.random() < 0.35:
                    i = rng.randrange(n)
                    t.delete(i, rng.randint(1, min(3, n - i)))
                else:
                    t.insert(rng.randint(0, n), [_random_value(rng, 1) for _ in range(rng.randint(1, 3))])
            elif isinstance(t, crdt.Map):
                key = rng.choice("pqrs")
                if key in t.keys() and rng.random() < 0.3:
                    t.pop(key)
                else:
                    t.set(key, _random_value(rng, 1))


def _random_peers(seed: int, gc_: bool) -> list[crdt.Doc]:
    """3-4 peers editing text, arrays and maps (nested types too) with partial, shuffled syncs."""
    rng = random.Random(seed)
    n = rng.randint(3, 4)
    # Small and full-size client ids: one-byte and eight-byte var uints in the updates.
    peers = [crdt.Doc(client_id=rng.choice([i + 1, rng.randrange(1, 2**53)]), gc=gc_) for i in range(n)]
    log: list[list[bytes]] = [[] for _ in peers]
    for i, p in enumerate(peers):
        p.observe_updates(lambda u, o, i=i: log[i].append(u))
    for _ in range(rng.randint(40, 90)):
        k = rng.randrange(len(peers))
        if rng.random() < 0.25:
            j = rng.randrange(len(peers))
            if j != k:
                # Some of j's updates, shuffled (gaps leave structs pending until they are filled).
                updates = rng.sample(log[j], min(len(log[j]), rng.randint(1, 6)))
                for u in updates:
                    peers[k].apply_update(u, origin="sync")
        else:
            _random_edit(rng, peers[k])
    return peers


@pytest.mark.parametrize("seed", range(40))
def test_random_peer_states_load_the_same_with_and_without_fast_path(seed):
    rng = random.Random(1000 + seed)
    gc_ = seed % 3 != 2
    peers = _random_peers(seed, gc_)
    # Each peer's full state (some with pending structs), and everything merged.
    merged = crdt.merge_updates([p.encode_state_as_update() for p in peers])
    states = [p.encode_state_as_update() for p in peers] + [merged]
    for k, update in enumerate(states):
        fast = _load(update, fast=True, gc_=gc_)
        _assert_same(fast, _load(update, fast=False, gc_=gc_), f"seed {seed}, state {k}")
    # Into a document that already holds part of it: runs start mid-client, next to known structs.
    base = rng.choice(states[:-1])
    _assert_same(
        _load(merged, fast=True, gc_=gc_, base=base), _load(merged, fast=False, gc_=gc_, base=base),
        f"seed {seed}, onto a peer's state",
    )
    # And what every peer converges to, reached both ways.
    full = _load(merged, fast=True, gc_=gc_)
    assert full.to_py() == _load(merged, fast=False, gc_=gc_).to_py()


# -- the cyclic GC is paused only inside a big load --------------------------------------------------------


def _big_update() -> bytes:
    doc = crdt.Doc(client_id=5)
    text = doc.get_text("text")
    for i in range(3000):
        text.insert((i * 7) % (len(text) + 1), "ab")
    update = doc.encode_state_as_update()
    assert len(update) >= crdt.doc.BULK_UPDATE_BYTES
    return update


def test_big_load_leaves_the_gc_as_it_found_it():
    update = _big_update()
    assert gc.isenabled()
    doc = crdt.Doc()
    doc.apply_update(update)
    assert gc.isenabled()
    assert str(doc.get_text("text")) == str(_load(update, fast=False).get_text("text"))
    gc.disable()
    try:
        crdt.Doc().apply_update(update)
        assert not gc.isenabled()
    finally:
        gc.enable()


def test_big_malformed_update_changes_nothing_and_restores_the_gc():
    update = _big_update()
    doc = crdt.Doc()
    doc.get_text("text").insert(0, "kept")
    before = doc.encode_state_as_update()
    rng = random.Random(7)
    for cut in [len(update) - 1, len(update) // 2, *(rng.randrange(1, len(update)) for _ in range(8))]:
        with pytest.raises(crdt.DecodeError):
            doc.apply_update(update[:cut])
        assert gc.isenabled()
        assert doc.encode_state_as_update() == before
        assert str(doc.get_text("text")) == "kept"
