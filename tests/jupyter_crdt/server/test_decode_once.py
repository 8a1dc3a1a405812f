"""Issue 14, "decoded once": an update a peer sends is decoded once on its way through a room.

The room is driven in this process (no server): a peer double sends frames to :meth:`Room.receive`, and
every decoding of the exact bytes it sent is counted (the engine's update decoder, wherever the engine
calls it from, and its one-pass load into an empty document) while the room handles the frame.
"""

from __future__ import annotations

import asyncio
import json
import logging
import sys
from collections.abc import Iterator
from contextlib import contextmanager
from typing import Any

import pytest

import crdt
import crdt.doc
import crdt.update_decoder
from crdt.sync import MessageKind, encode_sync_step2, encode_sync_update, read_messages
from jupyter_crdt.server.models import TextFileModel
from jupyter_crdt.server.protocol import MESSAGE_JSON
from jupyter_crdt.server.room import Room
from jupyter_crdt.server.state import RoomSettings
from jupyter_crdt.server.stores import MemoryStore


class PeerDouble:
    def __init__(self, author: str, can_write: bool) -> None:
        self.author = author
        self.can_write = can_write
        self.frames: list[bytes] = []

    def send(self, frame: bytes) -> None:
        self.frames.append(bytes(frame))

    def close(self, code: int, reason: str) -> None:
        raise AssertionError(f"the room closed the peer: {code} {reason}")

    def json_messages(self) -> list[dict]:
        out = []
        for frame in self.frames:
            for m in read_messages(frame):
                if m.kind is MessageKind.CUSTOM and m.custom_type == MESSAGE_JSON:
                    out.append(json.loads(crdt.Decoder(bytes(m.payload)).read_var_string()))
        return out

    def updates(self) -> list[bytes]:
        return [bytes(m.payload) for frame in self.frames for m in read_messages(frame)
                if m.kind in (MessageKind.SYNC_STEP2, MessageKind.SYNC_UPDATE)]


@contextmanager
def decodes_of(monkeypatch: pytest.MonkeyPatch, data: bytes) -> Iterator[list[str]]:
    """Count every decoding of ``data`` by the engine while the block runs (the list of where)."""
    seen: list[str] = []
    original_read = crdt.update_decoder.read_update
    original_load = crdt.doc.load_into_empty

    def counting_read(where: str) -> Any:
        def read(update: Any) -> Any:
            if bytes(update) == data:
                seen.append(where)
            return original_read(update)
        return read

    def counting_load(doc: Any, update: Any, origin: Any) -> bool:
        loaded = original_load(doc, update, origin)
        if loaded and bytes(update) == data:
            seen.append("load_into_empty")
        return loaded

    with monkeypatch.context() as m:
        # Every module that holds the decoder under its own name (the engine's and any caller's).
        for name, module in list(sys.modules.items()):
            if getattr(module, "read_update", None) is original_read:
                m.setattr(module, "read_update", counting_read(name))
            if getattr(module, "load_into_empty", None) is original_load:
                m.setattr(module, "load_into_empty", counting_load)
        yield seen


def _room() -> Room:
    return Room("text:file:decode-once", TextFileModel(), None, MemoryStore(), RoomSettings(),
                logging.getLogger("test"))


def _edit(client: crdt.Doc, index: int, text: str) -> bytes:
    updates: list[bytes] = []
    client.observe_updates(lambda u, _origin: updates.append(u))
    client.get_text("source").insert(index, text)
    assert len(updates) == 1
    return updates[0]


def test_a_writers_step_2_and_its_updates_are_each_decoded_once(monkeypatch: pytest.MonkeyPatch) -> None:
    async def main() -> None:
        room = _room()
        await room.initialize()
        try:
            with room.doc.transact(origin="seed"):
                room.doc.get_text("source").insert(0, "shared\n")
            client = crdt.Doc()
            client.apply_update(room.doc.encode_state_as_update())
            _edit(client, 7, "made offline\n")
            peer = PeerDouble("ada", can_write=True)
            room.join(peer)
            step2 = client.encode_state_as_update(room.doc.encode_state_vector())
            with decodes_of(monkeypatch, step2) as seen:
                assert room.receive(peer, encode_sync_step2(step2)) is None
            assert len(seen) == 1, seen
            assert str(room.doc.get_text("source")) == "shared\nmade offline\n"

            for i in range(3):
                update = _edit(client, 0, f"{i}")
                with decodes_of(monkeypatch, update) as seen:
                    assert room.receive(peer, encode_sync_update(update)) is None
                assert len(seen) == 1, (i, seen)
            assert str(room.doc.get_text("source")) == str(client.get_text("source"))
            assert str(client.get_text("source")) == "210shared\nmade offline\n"
        finally:
            await room.close()

    asyncio.run(main())


def test_an_update_refused_to_a_reader_is_decoded_once(monkeypatch: pytest.MonkeyPatch) -> None:
    async def main() -> None:
        room = _room()
        await room.initialize()
        try:
            with room.doc.transact(origin="seed"):
                room.doc.get_text("source").insert(0, "read me\n")
            reader = PeerDouble("bob", can_write=False)
            room.join(reader)
            client = crdt.Doc()
            client.apply_update(room.doc.encode_state_as_update())
            nothing_new = client.encode_state_as_update(room.doc.encode_state_vector())
            room.receive(reader, encode_sync_step2(nothing_new))
            sent_by_client: list[bytes] = []
            client.observe_updates(lambda u, _origin: sent_by_client.append(u))
            with client.transact():
                text = client.get_text("source")
                text.delete(0, 4)  # deletes what the room holds: the refusal says reload
                text.insert(0, "mine")
            [update] = sent_by_client
            reader.frames.clear()
            with decodes_of(monkeypatch, update) as seen:
                room.receive(reader, encode_sync_update(update))
            assert len(seen) == 1, seen
            assert str(room.doc.get_text("source")) == "read me\n"
            errors = [m for m in reader.json_messages() if m.get("type") == "error"]
            assert [(e["code"], e.get("reload")) for e in errors] == [("read_only", True)]
            # What it inserted is taken back on its side: applying what the room sent removes it.
            for sent in reader.updates():
                client.apply_update(sent)
            assert "mine" not in str(client.get_text("source"))
        finally:
            await room.close()

    asyncio.run(main())
