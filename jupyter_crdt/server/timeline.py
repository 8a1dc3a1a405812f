"""Timelines: read-only copies of a room's document that move through its recorded versions (the
reference frontend's timeline slider)."""

from __future__ import annotations

import asyncio
import logging
from collections.abc import Callable

from crdt.inspect import update_without_pending
from jupyter_crdt.server.events import NO_EVENTS, RoomEvents
from jupyter_crdt.server.room import Room
from jupyter_crdt.server.state import AUTHOR_SERVER, RoomSettings
from jupyter_crdt.server.stores import MemoryStore


class Timeline:
    """A read-only copy of a room's document that can be moved through the recorded versions.

    The copy (:attr:`loaded`) is made by :meth:`open`, when a client joins or moves it: JupyterLab asks
    for a timeline each time its slider opens, and a copy per request was a copy of the document kept
    for nothing."""

    def __init__(self, origin: Room, room_id: str, settings: RoomSettings, log: logging.Logger,
                 on_empty: Callable[[Timeline], None] | None = None, events: RoomEvents = NO_EVENTS) -> None:
        self.origin = origin
        self._events = events
        self.room_id = room_id
        records = origin.store.records()
        # The server's own bookkeeping (the saved state it keeps in the document) is not a version
        # anyone made: the timeline steps over it.
        self._seqs = [seq for seq, r in enumerate(records, 1) if seq == 1 or r.author != AUTHOR_SERVER]
        self.timestamps = [records[seq - 1].time for seq in self._seqs]
        self.index = len(self._seqs)
        self._settings = settings
        self._log = log
        self._on_empty = on_empty
        self._store = MemoryStore()
        self._lock = asyncio.Lock()
        self.loaded: Room | None = None
        """The timeline's room, once opened."""

    @property
    def session_id(self) -> str:
        return self._store.session_id

    async def open(self) -> Room:
        """The timeline's room, made (showing the current version) if not yet. ``LookupError`` once it
        was unloaded."""
        async with self._lock:
            room = self.loaded
            if room is not None:
                if room.closing.is_set():
                    raise LookupError(f"timeline {self.room_id} was closed")
                return room
            room = Room(self.room_id, self.origin.model, None, self._store, self._settings, self._log,
                        on_empty=self._unloaded, seed=update_without_pending(self.origin.doc))
            room.read_only = True
            room.events = self._events
            await room.initialize()
            self.loaded = room
            if self.index != len(self._seqs):
                self._show(self.index)
            room.schedule_cleanup()  # unloaded later unless someone joins
            return room

    def _unloaded(self, room: Room) -> None:
        if self._on_empty is not None:
            self._on_empty(self)

    def _show(self, index: int) -> None:
        assert self.loaded is not None
        content = self.origin.content_at(self._seqs[index - 1])
        with self.loaded.doc.transact(origin="timeline"):
            self.loaded.model.apply(self.loaded.doc, content)

    async def move(self, steps: int) -> bool:
        """Show the version ``steps`` changes later (negative: earlier); False at either end."""
        target = max(1, min(len(self._seqs), self.index + steps))
        if target == self.index:
            return False
        await self.open()
        self._show(target)
        self.index = target
        return True

    async def restore(self, author: str) -> None:
        """Make the version shown the origin room's content, as CRDT data (the timeline's client,
        which reconnects to the origin room with this copy's state, then adds nothing twice)."""
        room = await self.open()
        delta = room.doc.encode_state_as_update(self.origin.doc.encode_state_vector())
        self.origin.doc.apply_update(delta, origin=author)
