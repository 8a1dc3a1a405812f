"""Encoding structs inline (``crdt.update_encoder._write_whole_structs``) writes what each struct's own
``write`` writes: the same bytes for text and deleted runs (ASCII, other scripts, lone surrogates, big
client ids and clocks), map entries, nested types and GC structs."""

from __future__ import annotations

import pytest

import crdt
from crdt.encoding import Encoder
from crdt.update_encoder import _write_whole_structs
from tests.crdt.test_remote_load import _random_peers


def _reference(structs: list) -> bytes:
    enc = Encoder()
    for s in structs:
        s.write(enc, 0)
    return enc.to_bytes()


def _inline(structs: list) -> bytes:
    enc = Encoder()
    _write_whole_structs(enc, structs, 0)
    return enc.to_bytes()


def _assert_store_writes_the_same(doc: crdt.Doc) -> None:
    for client, structs in doc.store.clients.items():
        assert _inline(structs) == _reference(structs), f"client {client}"


@pytest.mark.parametrize("seed", range(12))
def test_random_documents_write_the_same_bytes(seed):
    for peer in _random_peers(seed, gc_=seed % 2 == 0):
        _assert_store_writes_the_same(peer)


def test_long_text_with_big_ids_and_unusual_characters():
    doc = crdt.Doc(client_id=2**52 + 3)
    text = doc.get_text("text")
    pieces = ["a", "é", "中文", "😀", "\ud800", "x" * 200]
    for i in range(3000):
        text.insert((i * 31) % (len(text) + 1), pieces[i % len(pieces)])
        if i % 7 == 0 and len(text) > 4:
            text.delete((i * 13) % (len(text) - 2), 2)
    _assert_store_writes_the_same(doc)
    # And the whole update still loads back to the same text.
    other = crdt.Doc()
    other.apply_update(doc.encode_state_as_update())
    assert str(other.get_text("text")) == str(text)
