"""Typing fast paths (extend the newest item, delete inside one item) must be invisible:
the same update bytes, the same store shape and the same text as the general transaction path."""

from __future__ import annotations

import gzip
import json
import random

import pytest

import crdt


def _replay(patches, *, force_general: bool, client_id: int = 7):
    doc = crdt.Doc(client_id=client_id)
    text = doc.get_text("text")
    updates: list[bytes] = []
    doc.observe_updates(lambda u, o: updates.append(u))
    if force_general:
        # Any after-transaction callback makes every edit take the general path.
        doc.observe_after_transaction(lambda tr: None)
    for pos, dl, ins in patches:
        if dl:
            text.delete(pos, dl)
        if ins:
            text.insert(pos, ins)
    return doc, updates


def _random_patches(seed: int, n: int) -> list:
    rng = random.Random(seed)
    alphabet = "abc xyz\n" + "é中ע😀\u0301"
    length = 0
    out = []
    cursor = 0
    for _ in range(n):
        if rng.random() < 0.15:
            cursor = rng.randint(0, length)
        if length and rng.random() < 0.3:
            start = max(0, min(cursor - 1, length - 1))
            dl = min(rng.randint(1, 3), length - start)
            out.append([start, dl, ""])
            length -= dl
            cursor = start
        else:
            s = "".join(rng.choice(alphabet) for _ in range(rng.randint(1, 3)))
            cursor = min(cursor, length)
            out.append([cursor, 0, s])
            length += len(s)
            cursor += len(s)
    return out


@pytest.mark.parametrize("seed", range(12))
def test_fast_paths_match_general_path_on_random_typing(seed):
    patches = _random_patches(seed, 600)
    fast, fast_updates = _replay(patches, force_general=False)
    slow, slow_updates = _replay(patches, force_general=True)
    assert str(fast.get_text("text")) == str(slow.get_text("text"))
    assert fast_updates == slow_updates, f"seed {seed}: update bytes differ"
    assert fast.encode_state_as_update() == slow.encode_state_as_update()
    shape = [(s.clock, s.length, s.deleted) for s in fast.store.clients[7]]
    assert shape == [(s.clock, s.length, s.deleted) for s in slow.store.clients[7]]


def test_fast_paths_match_general_path_on_real_trace(data_dir):
    trace = json.load(gzip.open(data_dir / "traces" / "sveltecomponent.json.gz"))
    patches = [p for txn in trace["txns"] for p in txn["patches"]][:6000]
    fast, fast_updates = _replay(patches, force_general=False)
    slow, slow_updates = _replay(patches, force_general=True)
    assert fast_updates == slow_updates
    assert fast.encode_state_as_update() == slow.encode_state_as_update()
    # Every update the fast path emitted rebuilds the document on a peer.
    peer = crdt.Doc()
    for u in fast_updates:
        peer.apply_update(u)
    assert str(peer.get_text("text")) == str(fast.get_text("text"))
