"""Loading into an empty document in one pass (``crdt.fresh_load``) must be invisible.

Whatever the one-pass load builds (or gives up on) must equal what the general code builds from the
same update: the same structs, neighbours, parents and lengths, the same full state, the same
content, the same events and emitted update. It must actually be taken for the common shape (one
client's text, deleted runs), and giving up part-way must leave the document exactly as it was.
"""

from __future__ import annotations

import random

import pytest

import crdt
from crdt import fresh_load
from crdt.delete_set import DeleteSet
from crdt.update_decoder import read_update
from crdt.updates import encode_refs
from tests.crdt.test_remote_load import _assert_same, _load, _shape


def _typed(seed: int, edits: int, *, client_id: int = 7, gc_: bool = True) -> crdt.Doc:
    """One client typing and deleting at random places in one Text (some of it outside the BMP)."""
    rng = random.Random(seed)
    doc = crdt.Doc(client_id=client_id, gc=gc_)
    text = doc.get_text("text")
    for _ in range(edits):
        n = len(text)
        if n and rng.random() < 0.3:
            i = rng.randrange(n)
            text.delete(i, rng.randint(1, min(5, n - i)))
        else:
            text.insert(rng.randint(0, n), "".join(rng.choice("abc \né😀") for _ in range(rng.randint(1, 4))))
    return doc


def _took_one_pass(update: bytes) -> bool:
    doc = crdt.Doc()
    return fresh_load.load_into_empty(doc, update, None)


@pytest.mark.parametrize("seed", range(12))
def test_one_clients_text_takes_the_one_pass_load_and_builds_the_same(seed):
    gc_ = seed % 4 != 3
    source = _typed(seed, 300 + 40 * seed, gc_=gc_)
    update = source.encode_state_as_update()
    if gc_:
        # Deleted runs arrive as deleted content: the common shape, loaded in one pass.
        assert _took_one_pass(update)
    fast = _load(update, fast=True)
    _assert_same(fast, _load(update, fast=False), f"seed {seed}")
    assert str(fast.get_text("text")) == str(source.get_text("text"))
    # Loaded into a document that keeps deleted content too.
    _assert_same(
        _load(update, fast=True, gc_=False), _load(update, fast=False, gc_=False), f"seed {seed}, gc off"
    )


def test_deleted_content_kept_by_the_sender_is_deleted_by_the_delete_set():
    # A sender without GC sends its deleted text as text: the delete set deletes it after linking.
    source = _typed(5, 400, gc_=False)
    update = source.encode_state_as_update()
    assert _took_one_pass(update)
    fast = _load(update, fast=True)
    _assert_same(fast, _load(update, fast=False), "deleted text")
    assert str(fast.get_text("text")) == str(source.get_text("text"))


@pytest.mark.parametrize("delete", [False, True])
def test_structs_that_form_one_run_are_merged_as_by_the_general_code(delete):
    # Keystrokes' updates put into one update as separate structs: the store holds one run after.
    doc = crdt.Doc(client_id=3)
    text = doc.get_text("text")
    updates: list[bytes] = []
    doc.observe_updates(lambda u, o: updates.append(u))
    for i, ch in enumerate("hello"):
        text.insert(i, ch)
    if delete:
        text.delete(1, 2)
    structs = []
    ds = DeleteSet()
    for u in updates:
        refs, d = read_update(u)
        structs.extend(refs.get(3, []))
        ds.merge(d)
    update = encode_refs({3: structs}, ds)
    assert _took_one_pass(update)
    fast = _load(update, fast=True)
    general = _load(update, fast=False)
    _assert_same(fast, general, "one run")
    assert str(fast.get_text("text")) == str(text)
    assert len(fast.store.clients[3]) == (3 if delete else 1)


def test_a_deletion_reaching_past_deleted_content_deletes_the_rest():
    # A full state (its deleted run as deleted content) merged with a later deletion of the next
    # character: one delete range covers the deleted run and one character of live text.
    doc = crdt.Doc(client_id=4)
    text = doc.get_text("text")
    text.insert(0, "abcdef")
    text.delete(0, 3)
    state = doc.encode_state_as_update()
    later: list[bytes] = []
    doc.observe_updates(lambda u, o: later.append(u))
    text.delete(0, 1)
    update = crdt.merge_updates([state, *later])
    assert _took_one_pass(update)
    fast = _load(update, fast=True)
    _assert_same(fast, _load(update, fast=False), "delete range past deleted content")
    assert str(fast.get_text("text")) == "ef"


def test_several_clients_and_several_roots_load_the_same():
    # Peers taking turns (each sees the others' edits first), in two texts, gc on and off.
    for gc_ in (True, False):
        rng = random.Random(11)
        peers = [crdt.Doc(client_id=c, gc=gc_) for c in (2, 40, 2**40)]
        for step in range(60):
            k = step % len(peers)
            doc = peers[k]
            for other in peers:
                if other is not doc:
                    doc.apply_update(other.encode_state_as_update())
            t = doc.get_text(rng.choice(["a", "b"]))
            n = len(t)
            if n and rng.random() < 0.3:
                i = rng.randrange(n)
                t.delete(i, rng.randint(1, min(3, n - i)))
            else:
                t.insert(rng.randint(0, n), rng.choice(["x", "yz", "é"]))
        for p in peers:
            update = p.encode_state_as_update()
            fast = _load(update, fast=True, gc_=gc_)
            _assert_same(fast, _load(update, fast=False, gc_=gc_), f"gc {gc_}, peer {p.client_id}")


def test_a_client_editing_after_another_links_to_its_items():
    # Updates list clients by descending id: the second writer's (lower id) items name the first's.
    first = crdt.Doc(client_id=2**40)
    first.get_text("text").insert(0, "hello world")
    second = crdt.Doc(client_id=2)
    second.apply_update(first.encode_state_as_update())
    text = second.get_text("text")
    text.insert(5, ",")
    text.insert(0, ">")
    text.delete(3, 2)
    update = second.encode_state_as_update()
    assert _took_one_pass(update)
    fast = _load(update, fast=True)
    _assert_same(fast, _load(update, fast=False), "two writers")
    assert str(fast.get_text("text")) == str(text)


def test_clocks_of_four_bytes_and_more():
    # Past 2**21 clock units an ID's clock takes four var uint bytes (past 2**28, five).
    doc = crdt.Doc(client_id=6)
    text = doc.get_text("text")
    text.insert(0, "a" * 2_200_000)
    text.insert(2_100_000, "b")
    text.insert(10, "c")
    text.delete(2_150_000, 3)
    update = doc.encode_state_as_update()
    assert _took_one_pass(update)
    fast = _load(update, fast=True)
    _assert_same(fast, _load(update, fast=False), "big clocks")
    assert str(fast.get_text("text")) == str(text)


def test_giving_up_late_leaves_the_document_as_it_was():
    # Text first (linked by the one-pass loop), then a map entry it does not handle.
    source = _typed(3, 200)
    with source.transact():
        source.get_map("meta").set("k", 1)
    update = source.encode_state_as_update()
    target = crdt.Doc()
    assert not fresh_load.load_into_empty(target, update, None)
    assert target.store.clients == {} and target.share == {}
    assert target.encode_state_as_update() == crdt.Doc().encode_state_as_update()
    # Through apply_update the general code then loads it, the same as with the fast paths off.
    fast = _load(update, fast=True)
    _assert_same(fast, _load(update, fast=False), "map entry after text")
    assert fast.get_map("meta").to_py() == {"k": 1}


def test_events_and_emitted_update_are_those_of_the_general_code():
    update = _typed(8, 250).encode_state_as_update()
    seen = {}
    for fast in (True, False):
        saved = crdt.integration.FAST_PATH
        crdt.integration.FAST_PATH = fast
        try:
            doc = crdt.Doc(client_id=50)
            text = doc.get_text("text")
            deltas: list = []
            emitted: list = []
            origins: list = []
            text.observe(lambda e, deltas=deltas: deltas.append(e.delta))
            doc.observe_updates(lambda u, o, emitted=emitted: emitted.append(u))
            doc.observe_after_transaction(lambda tr, origins=origins: origins.append((tr.origin, tr.local)))
            doc.apply_update(update, origin="peer")
            # Typing after the load works from the loaded state.
            text.insert(3, "Z")
            seen[fast] = (deltas, emitted, origins, str(text))
        finally:
            crdt.integration.FAST_PATH = saved
    assert seen[True] == seen[False]
    deltas, emitted, origins, _ = seen[True]
    loaded = str(_load(update, fast=False).get_text("text"))
    assert deltas[0] == [{"insert": loaded}]
    assert origins == [("peer", False), (None, True)]
    assert len(emitted) == 2


def test_malformed_update_into_an_empty_document_changes_nothing():
    update = _typed(9, 300).encode_state_as_update()
    rng = random.Random(3)
    for cut in [len(update) - 1, len(update) // 2, 3, *(rng.randrange(1, len(update)) for _ in range(10))]:
        doc = crdt.Doc()
        calls: list = []
        doc.observe_after_transaction(lambda tr, calls=calls: calls.append(tr))
        doc.observe_updates(lambda u, o, calls=calls: calls.append(u))
        with pytest.raises(crdt.DecodeError):
            doc.apply_update(update[:cut])
        assert doc.store.clients == {} and doc.share == {} and not doc.pending
        assert calls == []
        # Still usable, and still loads the whole update afterwards.
        doc.apply_update(update)
        assert str(doc.get_text("text")) == str(_load(update, fast=False).get_text("text"))


def _outcome(update: bytes, fast: bool):
    """The store shape a fresh document ends with after ``update``, or the error it raised."""
    saved = crdt.integration.FAST_PATH
    crdt.integration.FAST_PATH = fast
    try:
        doc = crdt.Doc(client_id=99)
        try:
            doc.apply_update(update)
        except Exception as e:  # noqa: BLE001 - the error itself is the outcome compared
            return ("error", type(e).__name__, str(e))
        return ("ok", _shape(doc), doc.encode_state_as_update(), doc.to_py())
    finally:
        crdt.integration.FAST_PATH = saved


@pytest.mark.parametrize("seed", range(6))
def test_damaged_updates_end_as_with_the_general_code(seed):
    # Random byte changes to a full state: whatever they make (another valid update, a split, a
    # concurrent place, garbage), a fresh document ends the same with and without the one-pass load.
    rng = random.Random(seed)
    update = bytearray(_typed(seed, 150).encode_state_as_update())
    for _ in range(60):
        damaged = bytearray(update)
        for _ in range(rng.randint(1, 3)):
            i = rng.randrange(len(damaged))
            damaged[i] = rng.choice([0, 1, 2, 0x7F, 0x80, 0xFF, rng.randrange(256), damaged[i] ^ 1])
        damaged = bytes(damaged)
        assert _outcome(damaged, True) == _outcome(damaged, False)
