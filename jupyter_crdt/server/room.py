"""A room: one shared document, the peers editing it, its history and its file.

Data flows one way: a peer's frame → :meth:`Room.receive` → the document → (one observer) history
append → broadcast to the other peers → durable acknowledgement → save to disk after an idle delay.
Every change, whatever its source (a peer, the file changing on disk, a reconciliation), takes that
same path, so everything the peers see is in the history, with an author.

A room is built in layers, each a module with one concern, each class adding to the one before
(as jupyter-server-ydoc's ``DocumentRoom`` adds a file to its ``YRoom``):

- :mod:`~jupyter_crdt.server.state`: what they all share (settings, per-peer bookkeeping, the document);
- :mod:`~jupyter_crdt.server.durability`: acknowledgements mean "on disk", pending updates are bounded;
- :mod:`~jupyter_crdt.server.file_sync`: loading, saving, changes made on disk;
- :mod:`~jupyter_crdt.server.reconcile`: foreign documents merged at content level, read-only refusals;
- :mod:`~jupyter_crdt.server.peers`: the sync protocol with each peer, awareness, broadcast, flow control;
- this module: the whole room, its one observer, its lifetime.

The JSON channel, close codes and room ids are :mod:`~jupyter_crdt.server.protocol`'s; the rooms of a
server are :class:`~jupyter_crdt.server.manager.RoomManager`'s.
"""

from __future__ import annotations

import asyncio
import contextlib
from typing import Any

import crdt
from crdt.sync import encode_awareness_message, encode_sync_step1
from jupyter_crdt.server.loaders import DiskState
from jupyter_crdt.server.peers import PeerSync
from jupyter_crdt.server.protocol import CLOSE_GOING_AWAY, GLOBAL_AWARENESS_ROOM, Peer
from jupyter_crdt.server.state import AUTHOR_DISK, AUTHOR_SERVER, PeerState
from jupyter_crdt.server.stores import MemoryStore

#: Origin of updates the history holds already (see :meth:`Room.apply_recorded`).
_RECORDED = object()


class Room(PeerSync):
    """One document and everyone editing it (see the module docstring)."""

    async def initialize(self) -> None:
        """Load the document (history first, then the file) and start watching the file."""
        if self.ready.is_set():
            return
        loaded = await self._load_store()
        self.history_notes = list(loaded.notes)
        content: Any = None
        disk_merge: Any = None
        disk: DiskState | None = None
        if self.loader is not None:
            content, disk = await self.loader.load()
            self.read_only_on_disk = not disk.writable
            self._session_event("load", "Content loaded from disk.")
        if loaded.records:
            for rec in loaded.records:
                self.doc.apply_update(rec.update, origin="history")
            self._absorbed = {int(c): [tuple(r) for r in rs]
                              for c, rs in (self.store.get_meta("absorbed", {}) or {}).items()}
            base_doc = crdt.Doc()
            if loaded.base is not None:
                base_doc.apply_update(loaded.base)
            self._base_content = self.model.export(base_doc)
            current = self.model.export(self.doc)
            if content is not None:
                digest = self.model.digest(content)
                saved_update = self.store.saved_update()
                saved = current
                if saved_update is not None:
                    saved_doc = crdt.Doc()
                    saved_doc.apply_update(saved_update)
                    saved = self.model.export(saved_doc)
                if digest != self.model.digest(saved) and digest != self.model.digest(current):
                    disk_merge = self._disk_at_open(saved, current, content, digest,
                                                    saved_update is not None)
                self._saved_content = content
                self._saved_digest = digest
            else:
                self._saved_content = current
            # A room without a file (a branch) has nothing to save.
            unsaved = self.model.digest(self.model.export(self.doc)) != self._saved_digest
            self._changed_since_save = self.loader is not None and unsaved
        else:
            if self._seed is not None:
                self.doc.apply_update(self._seed, origin="history")
                content = self.model.export(self.doc)
            else:
                if content is None:
                    content = self.model.export(self.doc)
                with self.doc.transact(origin="load"):
                    self.model.load(self.doc, content)
            base = self.doc.encode_state_as_update()
            self.store.set_base(base)
            self.store.append(base, AUTHOR_DISK)
            self._base_content = content
            self._saved_content = content
            self._saved_digest = self.model.digest(content)
            self.store.mark_saved(self.store.position(), self._saved_digest)
        for note in self.history_notes:
            self.log.warning("jupyter_crdt: %s: %s", self.room_id, note)
        if self.loader is not None and isinstance(self.store, MemoryStore):
            # No history on disk: only what the file holds is durable, so acks wait for saves.
            self.store.on_disk = self.store.position()
        self.doc.observe_updates(self._on_update)
        self.awareness.observe_update(self._on_awareness)
        self.set_state(dirty=self._changed_since_save if self.loader is not None else None,
                        hash=disk.hash if disk else None)
        if disk_merge is not None:
            with self.doc.transact(origin=AUTHOR_DISK):
                self.model.apply(self.doc, disk_merge)
            self._changed_since_save = True
            self._session_event("overwrite", "Out-of-band changes merged into the room.")
        await self.flush()
        if self.loader is not None:
            self.loader.watch(self.settings.poll_interval, self._on_disk_change)
        self._awareness_timer = asyncio.ensure_future(self._awareness_loop())
        self.ready.set()
        self._session_event("initialize", "Room initialized.")
        if self._changed_since_save:
            self._schedule_save()

    def apply_recorded(self, update: bytes) -> None:
        """Apply an update the history holds already (e.g. what a branch merge added): broadcast to
        the peers and saved like any change, but not recorded again."""
        self.doc.apply_update(update, origin=_RECORDED)

    def join(self, peer: Peer) -> None:
        """Start syncing a newly connected peer."""
        if self._cleanup_handle is not None:
            self._cleanup_handle.cancel()
            self._cleanup_handle = None
        ps = PeerState(peer)
        self.peers[peer] = ps
        peer.send(encode_sync_step1(self.doc.encode_state_vector()))
        if self.awareness.states:
            peer.send(encode_awareness_message(self.awareness.encode_update()))
        if self.room_id != GLOBAL_AWARENESS_ROOM:  # as the reference: not the presence room
            self.events.awareness(self.room_id, ps.author, "join")

    def leave(self, peer: Peer) -> None:
        """Forget a disconnected peer (its awareness states go with it)."""
        ps = self.peers.pop(peer, None)
        if ps is None:
            return
        if ps.awareness_clients:
            self.awareness.remove_states(sorted(ps.awareness_clients), ps)
        if self.room_id != GLOBAL_AWARENESS_ROOM:
            self.events.awareness(self.room_id, ps.author, "leave")
        if not self.peers and not self.closed and not self.keep_loaded:
            self.schedule_cleanup()

    def _on_update(self, update: bytes, origin: Any) -> None:
        """Every change to the document: record it, then broadcast it, then schedule flush and save."""
        if origin == "history":
            return
        if isinstance(origin, PeerState):
            author = origin.author
        elif isinstance(origin, str):
            author = origin
        else:
            author = AUTHOR_SERVER
        if origin is not _RECORDED:
            seq = self.store.append(update, author)
            if isinstance(origin, PeerState):
                origin.unacked = seq
        for ps in list(self.peers.values()):
            if ps is not origin and ps.phase != "syncing" and ps.view is not None:
                ps.view.apply_update(update)
        self._outbox.append((update, origin))
        if len(self._outbox) == 1:
            try:
                asyncio.get_running_loop().call_soon(self._send_outbox)
            except RuntimeError:  # no event loop (the room driven directly): send at once
                self._send_outbox()
        self._schedule_flush()
        if origin != AUTHOR_SERVER:
            self._changed_since_save = True
            self._schedule_save()

    def schedule_cleanup(self) -> None:
        """Unload the room ``cleanup_delay`` from now, unless someone joins meanwhile."""
        loop = asyncio.get_event_loop()
        if self._cleanup_handle is not None:
            self._cleanup_handle.cancel()
        self._cleanup_handle = loop.call_later(
            max(self.settings.cleanup_delay, 0), lambda: asyncio.ensure_future(self._cleanup())
        )

    async def _cleanup(self) -> None:
        if self.peers or self.dependents or self.closed or self.closing.is_set():
            return
        await self.close()
        if self._on_empty is not None:
            self._on_empty(self)

    async def close(self) -> None:
        """Save what is unsaved, flush the history and stop every timer."""
        if self.closed or self.closing.is_set():
            await self.wait_closed()
            return
        self.closing.set()
        try:
            await self._close()
        finally:
            self._closed_event.set()

    async def wait_closed(self) -> None:
        await self._closed_event.wait()

    async def _close(self) -> None:
        for branch_room in list(self.dependents):
            await branch_room.close()  # before this room's history closes under them
        if self.ready.is_set():
            if self._save_task is not None and not self._save_task.done():
                self._save_task.cancel()
            if self.loader is not None and self._changed_since_save:
                if self._autosave or isinstance(self.store, MemoryStore):
                    await self.save()
                else:
                    # As the reference: autosave off leaves the file as the user last saved it. The
                    # edits are in the history on disk (a memory-only history is saved: never lost).
                    self.log.info("jupyter_crdt: %s: unloaded with unsaved changes (autosave off); they "
                                  "are in the history", self.room_id)
            await self.flush()
        self.closed = True
        if self.loader is not None:
            self.loader.stop()
        for task in (self._awareness_timer, self._flush_task, self._save_task):
            if task is not None and not task.done():
                task.cancel()
        try:
            self.store.close()
        except Exception:  # noqa: BLE001
            self.log.exception("jupyter_crdt: %s: closing the history failed", self.room_id)
        for ps in list(self.peers.values()):
            with contextlib.suppress(Exception):
                ps.peer.close(CLOSE_GOING_AWAY, "room closed")
        self.peers.clear()
        self._session_event("clean", "Room closed.")
        parent = self.parent
        if parent is not None:
            parent.dependents.discard(self)
            if not parent.peers and not parent.dependents and not parent.closing.is_set():
                parent.schedule_cleanup()
