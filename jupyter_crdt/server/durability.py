"""Durability of a room: an acknowledgement means "on disk", and pending updates are bounded.

Updates are appended to the history before they are broadcast (a notebook's history journals each one
in its sidecar, synced, as it is appended, and groups them into changes on its own idle gap); shortly
after, the store is flushed and the senders get ``{"type": "ack", "stateVector": <base64>}`` (the room's
state vector, which covers their edits) on the JSON channel. A room whose history is kept in memory
acknowledges only what a save wrote to the file.

Updates whose dependencies are missing are kept pending (as Yjs does). When one peer's pending
updates pass ``RoomSettings.pending_cap`` bytes the room asks that peer for its whole state (a step 1
with an empty state vector) and reconciles it (:mod:`jupyter_crdt.server.reconcile`) instead of
closing it. Pending updates of the whole room (also those left by peers that are gone) are capped too
(``RoomSettings.room_pending_cap``): past it they are dropped and every connected peer that had some
is reconciled the same way. Nothing dropped was acknowledged (an ack covers only what the
document holds). Pending structs are the room's own business: what it sends its peers never includes
them (a peer could not integrate them either; they are broadcast once their dependencies arrive).
"""

from __future__ import annotations

import asyncio
import base64
import contextlib
import time
from typing import Any

from crdt.inspect import UpdateView, drop_pending, pending_size
from crdt.sync import encode_sync_step1
from jupyter_crdt.server.protocol import EMPTY_STATE_VECTOR, encode_json_message
from jupyter_crdt.server.state import PeerState, RoomState
from jupyter_crdt.server.stores import MemoryStore

#: What one pending struct costs in memory beyond its bytes on the wire (measured: ~400 bytes for a
#: 20-character string item): counted so that many tiny structs cannot hide under a byte cap.
PENDING_STRUCT_COST = 384


class Durability(RoomState):
    """Acknowledgements after the history is on disk, and the accounting of pending updates."""

    def _apply_counting_pending(self, ps: PeerState, update: UpdateView) -> None:
        """Apply a peer's update (decoded once, by the caller); count what it leaves pending against
        the caps."""
        before = pending_size(self.doc)
        if before == 0 and self._pending_bytes:
            self._forget_pending()  # integrated or dropped since (a reconciliation drops them)
        size = len(update.update)
        self.doc.apply_update(update, origin=ps)
        after = pending_size(self.doc)
        if after == 0:
            if self._pending_bytes:
                self._forget_pending()
        elif after > before:
            cost = pending_cost(size, after - before)
            ps.pending_bytes += cost
            self._pending_bytes += cost
            if ps.pending_bytes > self.settings.pending_cap:
                self.log.warning("jupyter_crdt: %s: pending updates from %s passed the cap; reconciling",
                                 self.room_id, ps.author)
                self._drop_pending_and_reconcile()
            elif self._pending_bytes > self.settings.room_pending_cap:
                self.log.warning(
                    "jupyter_crdt: %s: room-wide pending updates passed %d bytes (cap %d), left by peers "
                    "whose missing updates never came; dropped (none was acknowledged), connected "
                    "senders reconciled", self.room_id, self._pending_bytes, self.settings.room_pending_cap)
                self._drop_pending_and_reconcile()

    def _forget_pending(self) -> None:
        self._pending_bytes = 0
        for other in self.peers.values():
            other.pending_bytes = 0

    def _drop_pending_and_reconcile(self) -> None:
        """Drop every pending struct; the connected peers that sent some are asked for their whole
        state and reconciled (their pending edits come back that way); those gone lose only
        updates that were never acknowledged."""
        drop_pending(self.doc)
        senders = [p for p in self.peers.values() if p.pending_bytes and p.phase != "syncing"]
        self._forget_pending()
        for p in senders:
            self._ask_whole_state(p)

    def _ask_whole_state(self, ps: PeerState) -> None:
        """Reconcile a peer whose pending structs were dropped: ask for its whole document."""
        ps.phase = "syncing"
        ps.view = None
        ps.their_sv = None
        ps.full_state = True
        ps.peer.send(encode_sync_step1(EMPTY_STATE_VECTOR))

    def _schedule_flush(self) -> None:
        if self._flush_task is None or self._flush_task.done():
            self._flush_task = asyncio.ensure_future(self._flush_soon())

    async def _flush_soon(self) -> None:
        await asyncio.sleep(self.settings.flush_delay)
        await self.flush()
        # A store that makes updates durable only once their change closes (a branch's) says when that
        # is: flush again then, until every peer's updates are acknowledged.
        while not self.closed and self.store.deadline is not None:
            if not any(ps.unacked for ps in self.peers.values()):
                return
            deadline = self.store.deadline
            await asyncio.sleep(max(self.settings.flush_delay, (deadline or 0) - time.time() + 0.001))
            await self.flush()

    async def flush(self) -> None:
        """Make what the history holds durable, then acknowledge it to the peers whose updates it covers."""
        async with self._flush_lock:
            try:
                durable = await self.store.flush()
            except Exception:  # noqa: BLE001
                self.log.exception("jupyter_crdt: %s: history flush failed", self.room_id)
                return
        ack = None
        for ps in list(self.peers.values()):
            if ps.unacked and ps.unacked <= durable:
                ps.unacked = 0
                if ack is None:
                    sv = base64.b64encode(self.doc.encode_state_vector()).decode("ascii")
                    ack = encode_json_message({"type": "ack", "stateVector": sv})
                with contextlib.suppress(Exception):
                    ps.peer.send(ack)
        waits_for_save = isinstance(self.store, MemoryStore) and self.store.on_disk is not None
        if not waits_for_save and any(ps.unacked for ps in self.peers.values()):
            self._schedule_flush()

    def _on_disk(self, position: Any) -> None:
        """The file now holds every record up to ``position``: for a room whose history is not on disk,
        those are durable (acknowledged by the flush that follows)."""
        if isinstance(self.store, MemoryStore) and self.store.on_disk is not None:
            self.store.on_disk = max(self.store.on_disk, position)
            self._schedule_flush()


def pending_cost(size: int, new_structs: int) -> int:
    """What an update of ``size`` bytes that left ``new_structs`` more structs (or deleted ranges) pending
    counts against the caps: its size plus the memory of each (tiny structs cost far more in memory than
    on the wire)."""
    return size + new_structs * PENDING_STRUCT_COST
