"""A room's conversation with its peers: the Yjs sync protocol with each one, awareness, broadcast, flow
control and the JSON channel.

**Syncing.** On connect the room sends its sync step 1 and every awareness state. It answers the
peer's step 1 only after the peer's step 2 has arrived and been classified, so a peer holding
foreign state never sees the room's content next to its own (:mod:`jupyter_crdt.server.reconcile`).

**Flow control.** The messages of one frame are handled one at a time; when a peer's outgoing bytes
not yet written to its socket pass :data:`~jupyter_crdt.server.protocol.OUTGOING_LOW_WATER`, the room
waits for them to drain before handling that peer's next message (and the websocket reads nothing more
from it meanwhile). A peer whose outgoing bytes still pass
:attr:`~jupyter_crdt.server.state.RoomSettings.outgoing_cap` (broadcasts keep coming while it does not
read) is closed with code 1008 and a reason.
"""

from __future__ import annotations

import asyncio
import contextlib
from collections.abc import Awaitable, Mapping
from typing import Any

import crdt
from crdt.inspect import UpdateView, decode_state_vector, decode_update, update_without_pending
from crdt.sync import (
    MessageKind,
    encode_awareness_message,
    encode_sync_step1,
    encode_sync_step2,
    encode_sync_update,
    read_messages,
)
from jupyter_crdt.server.protocol import (
    EMPTY_STATE_VECTOR,
    EMPTY_UPDATE,
    MESSAGE_JSON,
    OUTGOING_LOW_WATER,
    Peer,
    decode_save_request,
    encode_json_message,
)
from jupyter_crdt.server.reconcile import Reconciler
from jupyter_crdt.server.state import PeerState


class PeerSync(Reconciler):
    """Frames in, replies and broadcasts out (see the module docstring)."""

    def receive(self, peer: Peer, frame: bytes) -> Awaitable[None] | None:
        """Handle one frame from ``peer``. Raises :class:`crdt.DecodeError` for malformed input
        (nothing of a malformed frame is applied); the caller closes that connection.

        Each message's replies are queued before the next message is handled. When the peer's
        outgoing bytes pass :data:`OUTGOING_LOW_WATER` before a message, the rest of the frame waits
        for them to drain: then this returns an awaitable, which finishes the frame (and raises what
        this would have raised); otherwise None, with the frame handled (no task on the common path).
        A frame of many step 1 messages would otherwise queue a copy of the document per message."""
        ps = self.peers.get(peer)
        if ps is None:
            return None
        messages = read_messages(frame)
        stopped = self._handle(ps, messages, 0)
        return None if stopped is None else self._handle_drained(ps, messages, stopped)

    async def _handle_drained(self, ps: PeerState, messages: list, index: int | None) -> None:
        peer = ps.peer
        while index is not None:
            await peer.drained()  # type: ignore[attr-defined]
            if self.peers.get(peer) is not ps or self.closed:
                return  # closed (or gone) meanwhile: the rest of its frame means nothing
            index = self._handle(ps, messages, index)

    def _handle(self, ps: PeerState, messages: list, index: int) -> int | None:
        """Handle ``messages[index:]``; the index of the first one that must wait for the peer's
        outgoing bytes to drain, or None once all are handled."""
        peer = ps.peer
        flow = hasattr(peer, "drained")
        for i in range(index, len(messages)):
            if flow and peer.outgoing > OUTGOING_LOW_WATER:  # type: ignore[attr-defined]
                return i
            if self.peers.get(peer) is not ps or self.closed:
                return None  # closed meanwhile (e.g. by a malformed message's neighbour)
            message = messages[i]
            kind = message.kind
            if kind is MessageKind.SYNC_STEP1:
                self._on_step1(ps, message.payload)
            elif kind is MessageKind.SYNC_STEP2:
                # Decoded here, once: every step below reads (and applies) this view.
                self._on_step2(ps, decode_update(message.payload))
            elif kind is MessageKind.SYNC_UPDATE:
                self._on_update_message(ps, decode_update(message.payload))
            elif kind is MessageKind.AWARENESS:
                self.awareness.apply_update(message.payload, ps)
            elif kind is MessageKind.QUERY_AWARENESS:
                peer.send(encode_awareness_message(self.awareness.encode_update()))
            elif kind is MessageKind.CUSTOM:
                if message.custom_type != MESSAGE_JSON:
                    raise crdt.DecodeError(f"unknown message type {message.custom_type}")
                self._on_json_channel(ps, message.payload)
            # A permission-denied message from a client means nothing to the room.
        return None

    def _on_step1(self, ps: PeerState, state_vector: bytes) -> None:
        decode_state_vector(state_vector)  # raises DecodeError for a malformed one
        ps.their_sv = state_vector
        if ps.phase == "live":
            ps.peer.send(encode_sync_step2(update_without_pending(self.doc, state_vector)))

    def _on_step2(self, ps: PeerState, update: UpdateView) -> None:
        if ps.phase == "live":
            self._on_update_message(ps, update)
            return
        if ps.phase == "reconciling":
            # The answer to our probe: everything the peer sent before it has arrived.
            self._merge_through_view(ps, update)
            ps.phase = "live"
            ps.view = None
            return
        # First step 2 (or the whole state we asked a peer with runaway pending updates for).
        if not ps.peer.can_write:
            self._first_sync_read_only(ps, update)
            return
        if ps.view is not None:
            # Updates it sent before its step 2 belong to the same classification.
            ps.view.apply_update(update)
            update = decode_update(ps.view.encode_state_as_update())
        foreign = self._foreign_clients(update)
        if foreign and not ps.full_state:
            # A step 2 only holds what the room lacks; judging the peer's document needs all of it.
            ps.full_state = True
            ps.view = None
            ps.peer.send(encode_sync_step1(EMPTY_STATE_VECTOR))
            return
        if foreign:
            view = ps.view or crdt.Doc()
            if ps.view is None:
                view.apply_update(update)
            if self.model.export(view) == self._empty_content():
                foreign = set()  # nothing but bookkeeping (e.g. a fresh client's state entries)
            ps.view = view
        if not foreign:
            ps.view = None
            ps.pending_bytes = 0  # counted its updates before this step 2 (which holds them)
            self._apply_counting_pending(ps, update)
            self._go_live(ps)
            return
        self._reconcile(ps, foreign)

    def _go_live(self, ps: PeerState) -> None:
        ps.phase = "live"
        sv = ps.their_sv
        ps.peer.send(encode_sync_step2(update_without_pending(self.doc, sv)))

    def _on_update_message(self, ps: PeerState, update: UpdateView) -> None:
        if not ps.peer.can_write:
            if update.update != EMPTY_UPDATE:
                self._refuse(ps, update)
            return
        if ps.phase == "syncing":
            # Sent before its step 2: keep it for the classification of the step 2.
            ps.pending_bytes += len(update.update)
            if ps.pending_bytes > self.settings.pending_cap:
                # Not the few edits a client makes before its step 2: drop them, its whole document
                # (them included) comes with the step 2 asked for here.
                self.log.warning("jupyter_crdt: %s: updates from %s before its sync step 2 passed the cap; "
                                 "asking for its whole document", self.room_id, ps.author)
                ps.pending_bytes = 0
                self._ask_whole_state(ps)
                return
            ps.view = ps.view or crdt.Doc()
            ps.view.apply_update(update)
            return
        if ps.phase == "reconciling":
            self._merge_through_view(ps, update)
            return
        self._apply_counting_pending(ps, update)

    def _send_outbox(self) -> None:
        """Broadcast the updates accepted during one turn of the event loop, merged into one frame.

        Under load (many typists) this sends one websocket frame per peer per turn instead of one per
        peer per update, which is what a busy room's time goes to. A peer whose own update is in a
        merged batch with others' gets it back too; Yjs peers ignore what they already have.
        """
        batch, self._outbox = self._outbox, []
        if not batch:
            return
        origins = {id(origin) for _, origin in batch}
        skip = batch[0][1] if len(origins) == 1 else None
        update = batch[0][0] if len(batch) == 1 else crdt.merge_updates([u for u, _ in batch])
        frame = encode_sync_update(update)
        for ps in list(self.peers.values()):
            if ps is skip or ps.phase == "syncing":  # a syncing peer gets everything with its step 2
                continue
            try:
                ps.peer.send(frame)
            except Exception:  # noqa: BLE001 - a broken socket must not stop the room
                self.log.debug("jupyter_crdt: send failed", exc_info=True)

    def _on_awareness(self, changes: Mapping[str, Any], origin: Any) -> None:
        clients = changes["added"] + changes["updated"] + changes["removed"]
        if isinstance(origin, PeerState):
            origin.awareness_clients.update(changes["added"] + changes["updated"])
            origin.awareness_clients.difference_update(changes["removed"])
        frame = encode_awareness_message(self.awareness.encode_update(clients))
        for ps in list(self.peers.values()):
            if ps is origin:
                continue
            with contextlib.suppress(Exception):
                ps.peer.send(frame)
        self._update_autosave()

    async def _awareness_loop(self) -> None:
        while True:
            await asyncio.sleep(crdt.AWARENESS_CHECK_INTERVAL)
            self.awareness.check_timeouts()

    def _on_json_channel(self, ps: PeerState, payload: bytes) -> None:
        save_id = decode_save_request(payload)
        if save_id is not None:
            asyncio.ensure_future(self._answer_save(ps, save_id))

    async def _answer_save(self, ps: PeerState, save_id: int) -> None:
        reply: dict[str, Any] = {"type": "save", "responseTo": save_id}
        status = "failed" if not ps.peer.can_write else await self.save()
        reply["status"] = status
        if status == "success" and self.save_problems:
            reply["problems"] = self.save_problems
        with contextlib.suppress(Exception):
            ps.peer.send(encode_json_message(reply))
