"""A room: one shared document, the peers editing it, its history and its file.

Data flows one way: a peer's frame → :meth:`Room.receive` → the document → (one observer) history
append → broadcast to the other peers → durable acknowledgement → save to disk after an idle delay.
Every change, whatever its source (a peer, the file changing on disk, a reconciliation), takes that
same path, so everything the peers see is in the history, with an author.

**Syncing.** On connect the room sends its sync step 1 and every awareness state. It answers the
peer's step 1 only after the peer's step 2 has arrived and been classified, so a peer holding
foreign state never sees the room's content next to its own. A step 2 (or any update) whose new
structs belong to clients the room has never seen, and that does not hook into anything the room
holds live, comes from a *foreign* document: typically a browser tab that kept its document across a
server restart that lost the history (jupyter-collaboration #594/#621), or a client whose updates
went missing. Merging it as CRDT data would duplicate every cell. Instead it is **reconciled at the
content level**: the peer's view is rebuilt in a scratch document, merged three-way with the room's
content against the content the room's history started from, the foreign structs are absorbed into
the room *as deleted* (so the peer's document and the room share every id afterwards) and the
merged content is applied as a minimal change. The peer then receives the room's step 2, which
deletes its foreign copies and brings in the merged content: nothing duplicated, no edit lost.
Updates the peer sent before it saw that step 2 are merged the same way (content level), until the
peer answers a fresh step 1 (a probe) sent after it; from then on the peer is in line.

Updates whose dependencies are missing are kept pending (as Yjs does). When one peer's pending
updates pass :attr:`RoomSettings.pending_cap` bytes the room asks that peer for its whole state
(a step 1 with an empty state vector) and reconciles it as above instead of closing it. Pending
updates of the whole room (also those left by peers that are gone) are capped too
(:attr:`RoomSettings.room_pending_cap`): past it they are dropped and every connected peer that had
some is reconciled the same way. Nothing dropped was acknowledged (an ack covers only what the
document holds). Pending structs are the room's own business: what it sends its peers never includes
them (a peer could not integrate them either; they are broadcast once their dependencies arrive).

**Flow control.** The messages of one frame are handled one at a time; when a peer's outgoing bytes
not yet written to its socket pass :data:`OUTGOING_LOW_WATER`, the room waits for them to drain before
handling that peer's next message (and the websocket reads nothing more from it meanwhile). A peer
whose outgoing bytes still pass :attr:`RoomSettings.outgoing_cap` (broadcasts keep coming while it
does not read) is closed with code 1008 and a reason.

**Permissions.** A read-only peer syncs and follows live; any update it sends is refused (not applied,
broadcast or saved) and it is told so with ``{"type": "error", "code": "read_only"}`` on the JSON
channel (message type 2).

**Durability.** Updates are appended to the history before they are broadcast (a notebook's history
journals each one in its sidecar, synced, as it is appended, and groups them into changes on its own
idle gap); shortly after, the store is flushed and the senders get
``{"type": "ack", "stateVector": <base64>}`` (the room's state vector, which covers their edits) on the
JSON channel.

**Disk.** The file is saved through the contents manager one idle ``save_delay`` after the last change,
unless every client's awareness state says ``autosave: false`` (then only an explicit save saves).
When it changes on disk, the change is merged three-way against the version last saved and applied
as a minimal change with author ``disk``; a ``touch`` (same content) changes nothing.
"""

from __future__ import annotations

import asyncio
import base64
import contextlib
import json
import logging
import time
import uuid
from collections.abc import Awaitable, Callable
from dataclasses import dataclass
from typing import Any, Protocol

import crdt
from crdt.awareness import Awareness
from crdt.encoding import Encoder
from crdt.sync import (
    MessageKind,
    encode_awareness_message,
    encode_sync_step1,
    encode_sync_step2,
    encode_sync_update,
    read_messages,
)
from crdt.update_decoder import read_update
from jupyter_crdt.server.events import NO_EVENTS, RoomEvents
from jupyter_crdt.server.loaders import DiskState, FileGone, FileLoader
from jupyter_crdt.server.models import DocumentModel
from jupyter_crdt.server.stores import HistoryStore, HistoryUnavailable, MemoryStore, StoreLocked

#: Outer message type of the JSON channel (JupyterLab's "raw" messages: save, ack, errors).
MESSAGE_JSON = 2

#: Close codes (websocket): the reference server's, plus the standard ones we use for bad input.
CLOSE_NOT_FOUND = 4404
CLOSE_INVALID_DATA = 1007
CLOSE_SERVER_ERROR = 4500
CLOSE_GOING_AWAY = 1001
CLOSE_LOCKED = 4409
#: A peer that does not read what it is sent (policy violation): see RoomSettings.outgoing_cap.
CLOSE_NOT_READING = 1008
#: How long a room waits for another process (``jupyter crdt``) to release the document's history.
LOCK_WAIT = 2.0

#: The room JupyterLab's collaborators panel joins for server-wide presence (no document).
GLOBAL_AWARENESS_ROOM = "JupyterLab:globalAwareness"

#: Authors of changes that no user made.
AUTHOR_DISK = "disk"
AUTHOR_SERVER = "server"

_EMPTY_UPDATE = b"\x00\x00"
#: Outgoing bytes of a peer above which the room waits before handling its next message.
OUTGOING_LOW_WATER = 1 << 20
#: What one pending struct costs in memory beyond its bytes on the wire (measured: ~400 bytes for a
#: 20-character string item): counted so that many tiny structs cannot hide under a byte cap.
PENDING_STRUCT_COST = 384
#: Origin of updates the history holds already (see :meth:`Room.apply_recorded`).
_RECORDED = object()
_EMPTY_STATE_VECTOR = b"\x00"


class Peer(Protocol):
    """One connection to a room (a websocket, or a test double).

    A peer may also have ``outgoing`` (bytes sent and not yet written to its socket) and an async
    ``drained()`` (returns once they are below :data:`OUTGOING_LOW_WATER`, or the peer is closed): the
    room then handles its messages with flow control (module docstring)."""

    author: str
    """Who edits through this connection (the identity provider's username)."""
    can_write: bool

    def send(self, frame: bytes) -> None: ...

    def close(self, code: int, reason: str) -> None: ...


@dataclass
class RoomSettings:
    save_delay: float = 1.0
    """Seconds of quiet after a change before the file is saved (negative: never autosave)."""
    save_max_delay: float = 10.0
    """Seconds at most between a change and the save that writes it, even while edits keep coming
    (the quiet ``save_delay`` may never come while someone types)."""
    cleanup_delay: float = 60.0
    """Seconds a room stays loaded after its last peer left."""
    poll_interval: float = 1.0
    """Seconds between checks of the file on disk (0: never)."""
    flush_delay: float = 0.05
    """Seconds to gather appended updates before one flush (one sync of the journal, then the acks)."""
    pending_cap: int = 1 << 20
    """Bytes of one peer's pending updates before that peer is reconciled at content level."""
    room_pending_cap: int = 16 << 20
    """Bytes of pending updates in one room, whoever sent them, before they are dropped (and the
    connected peers that sent some reconciled). Sizes as :func:`_pending_cost` counts them."""
    outgoing_cap: int = 32 << 20
    """Bytes queued for one connection and not yet written to its socket before it is closed (1008)."""
    fork_cap: int = 32
    """Forks open at once on this server (each holds a copy of its document until it is deleted)."""


def encode_json_message(message: dict) -> bytes:
    """A frame on the JSON channel (type 2, varstring JSON), as the reference server sends."""
    enc = Encoder()
    enc.write_var_uint(MESSAGE_JSON)
    enc.write_var_string(json.dumps(message))
    return enc.to_bytes()


def _delete_update(ranges: dict[int, tuple[int, int]]) -> bytes:
    """An update with no structs that deletes clocks ``[start, end)`` of each client in ``ranges``."""
    ranges = {c: r for c, r in ranges.items() if r[1] > r[0]}
    enc = Encoder()
    enc.write_var_uint(0)
    enc.write_var_uint(len(ranges))
    for client in sorted(ranges, reverse=True):
        start, end = ranges[client]
        enc.write_var_uint(client)
        enc.write_var_uint(1)
        enc.write_var_uint(start)
        enc.write_var_uint(end - start)
    return enc.to_bytes()


class _PeerState:
    """The room's bookkeeping for one peer. Also the origin of the peer's transactions."""

    __slots__ = (
        "peer", "author", "phase", "their_sv", "view", "pending_bytes", "unacked", "awareness_clients",
        "joined", "full_state", "dead",
    )

    def __init__(self, peer: Peer) -> None:
        self.peer = peer
        self.author = peer.author
        self.phase = "syncing"  # syncing -> (reconciling ->) live
        self.their_sv: bytes | None = None
        self.view: crdt.Doc | None = None
        self.pending_bytes = 0
        self.unacked = 0
        self.awareness_clients: set[int] = set()
        self.joined = time.monotonic()
        self.full_state = False
        self.dead: dict[int, tuple[int, int]] = {}
        """The foreign clock ranges deleted when this peer was reconciled."""
        """Whether the peer was asked for (and its next step 2 holds) its whole document."""


class Room:
    """One document and everyone editing it (see the module docstring)."""

    events: RoomEvents = NO_EVENTS
    """Where the room's session and awareness events go (its manager's; ``jupyter_crdt.server.events``)."""

    def __init__(
        self,
        room_id: str,
        model: DocumentModel,
        loader: FileLoader | None,
        store: HistoryStore | None = None,
        settings: RoomSettings | None = None,
        log: logging.Logger | None = None,
        on_empty: Callable[[Room], None] | None = None,
        seed: bytes | None = None,
    ) -> None:
        self.room_id = room_id
        self._seed = seed
        self.model = model
        self.loader = loader
        self.store: HistoryStore = store or MemoryStore()
        self.settings = settings or RoomSettings()
        self.log = log or logging.getLogger(__name__)
        self.doc = crdt.Doc()
        self.awareness = Awareness(self.doc)
        self.awareness.set_local_state(None)
        self.peers: dict[Peer, _PeerState] = {}
        self.ready = asyncio.Event()
        self.closed = False
        self.closing = asyncio.Event()
        """Set when :meth:`close` starts (a closing room is not handed out again)."""
        self._closed_event = asyncio.Event()
        self.read_only_on_disk = False
        self.history_error: str | None = None
        """Why the document's history sidecar is not used (a link), if it is not: the room then keeps its
        history in memory."""
        self.history_notes: list[str] = []
        """What loading found about the history that a person should hear (a torn tail cut off, a
        damaged history set aside, a file the history could not explain); logged, and in the status."""
        self.read_only = False
        """No peer may change this room (timeline rooms)."""
        self.keep_loaded = False
        """Not unloaded when its last peer leaves (in-memory rooms: forks, presence)."""
        self._on_empty = on_empty
        self._base_content: Any = None
        self._saved_content: Any = None
        self._saved_digest: str | None = None
        self._absorbed: dict[int, list[tuple[int, int]]] = {}
        """Clock ranges of foreign structs absorbed as deleted (dead copies), per client."""
        self._save_task: asyncio.Task | None = None
        self._flush_task: asyncio.Task | None = None
        self._outbox: list[tuple[bytes, Any]] = []
        self._pending_bytes = 0
        """What the document's pending structs cost (:func:`_pending_cost`), whoever sent them."""
        """Updates accepted in this turn of the event loop, not yet broadcast (``_send_outbox``)."""
        self._flush_lock = asyncio.Lock()
        self._cleanup_handle: asyncio.TimerHandle | None = None
        self._awareness_timer: asyncio.Task | None = None
        self._changed_since_save = False
        self._unsaved_since: float | None = None
        """When the oldest change not yet being saved was made (monotonic); bounds the save delay."""
        self._disk_lock = asyncio.Lock()
        self._autosave = True
        """Whether the file is saved on its own: False while every client's awareness says
        ``autosave: false`` (JupyterLab's "Autosave Documents" off); kept while no client has a state."""
        self.branch = "main"
        """The branch of the document's history this room edits (see :mod:`jupyter_crdt.server.branches`)."""
        self.parent: Room | None = None
        """A branch room's main room, whose history it shares."""
        self.dependents: set[Room] = set()
        """The open branch rooms sharing this room's history: it stays loaded while they are."""
        self.save_problems: list[str] = []
        """What the last save left out of the file (hostile structure no file can hold)."""
        self._logged_problems: set[str] = set()

    @property
    def session_id(self) -> str:
        return self.store.session_id

    # -- loading ---------------------------------------------------------------------------------

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
        self._set_state(dirty=self._changed_since_save if self.loader is not None else None,
                        hash=disk.hash if disk else None)
        if disk_merge is not None:
            with self.doc.transact(origin=AUTHOR_DISK):
                self.model.apply(self.doc, disk_merge)
            self._changed_since_save = True
            self._session_event("overwrite", "Out-of-band changes merged into the room.")
        await self._flush()
        if self.loader is not None:
            self.loader.watch(self.settings.poll_interval, self._on_disk_change)
        self._awareness_timer = asyncio.ensure_future(self._awareness_loop())
        self.ready.set()
        self._session_event("initialize", "Room initialized.")
        if self._changed_since_save:
            self._schedule_save()

    async def _load_store(self) -> Any:
        """What the store holds. Another process holding the history (``jupyter crdt`` writing it, or a
        second server on the folder) is waited for a little, then :class:`StoreLocked` is raised: never a
        history in memory while edits are acknowledged as durable. A sidecar that may not be used (a link)
        gives a history in memory, with :attr:`history_error` saying why."""
        deadline = time.monotonic() + LOCK_WAIT
        while True:
            try:
                return self.store.load()
            except StoreLocked:
                if time.monotonic() >= deadline:
                    raise
            except HistoryUnavailable as e:
                self.history_error = str(e)
                self.log.warning("jupyter_crdt: %s: %s; this document opens without a history (its changes "
                                 "are kept in memory only)", self.room_id, e)
                self.store.close()
                self.store = MemoryStore()
                return self.store.load()
            await asyncio.sleep(0.05)

    def _disk_at_open(self, saved: Any, current: Any, content: Any, digest: str, known_saved: bool) -> Any:
        """What to apply for a file that changed while no server watched it (None: nothing), by the rules
        of ``histories.sync_notebook``: a version recorded after the saved one keeps the later edits; a
        file that already holds the unsaved edits (a stale or cut-short history) wins as it is, so
        nothing is applied twice; another tool's edit is merged three-way with the unsaved edits."""
        from jupyter_crdt.history.sidecar import UNEXPLAINED_NOTE, file_is_newer

        find = self.store.recorded_position
        if known_saved and find is not None:
            position = find(lambda doc: self.model.digest(self.model.export(doc)) == digest)
            if position is not None:
                self.store.mark_saved(position, digest)
                return None
        if known_saved and file_is_newer(saved, current, content):
            self.history_notes.append(UNEXPLAINED_NOTE)
            return content
        return self.model.merge(saved, current, content)

    def _content_at(self, seq: int) -> Any:
        doc = crdt.Doc()
        for rec in self.store.records()[:seq]:
            doc.apply_update(rec.update)
        return self.model.export(doc)

    def content_at(self, seq: int) -> Any:
        """The content right after change ``seq`` (1-based, as ``/api/crdt/log`` numbers them);
        ``ValueError`` if there is no such change."""
        if not 1 <= seq <= len(self.store.records()):
            raise ValueError(f"no change {seq}")
        return self._content_at(seq)

    def apply_recorded(self, update: bytes) -> None:
        """Apply an update the history holds already (e.g. what a branch merge added): broadcast to
        the peers and saved like any change, but not recorded again."""
        self.doc.apply_update(update, origin=_RECORDED)

    def _session_event(self, action: str | None, msg: str, level: str = "INFO") -> None:
        """A session event (the reference's): only document rooms have one, they have a path."""
        if self.loader is None:
            return
        try:
            path = self.loader.path
        except Exception:  # noqa: BLE001 - the file is gone, or its id store is closed (shutdown)
            path = ""
        self.events.session(self.room_id, path, action, msg, level)

    def _set_state(self, **values: Any) -> None:
        state = self.doc.get_map("state")
        changes = {k: v for k, v in values.items() if v is not None and state.get(k) != v}
        if self.loader is not None:
            with contextlib.suppress(FileGone):
                path = self.loader.path
                if state.get("path") != path:
                    changes["path"] = path
        if changes:
            with self.doc.transact(origin=AUTHOR_SERVER):
                for k, v in changes.items():
                    state[k] = v

    # -- peers -----------------------------------------------------------------------------------

    def join(self, peer: Peer) -> None:
        """Start syncing a newly connected peer."""
        if self._cleanup_handle is not None:
            self._cleanup_handle.cancel()
            self._cleanup_handle = None
        ps = _PeerState(peer)
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
            self._schedule_cleanup()

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

    async def _handle_drained(self, ps: _PeerState, messages: list, index: int | None) -> None:
        peer = ps.peer
        while index is not None:
            await peer.drained()  # type: ignore[attr-defined]
            if self.peers.get(peer) is not ps or self.closed:
                return  # closed (or gone) meanwhile: the rest of its frame means nothing
            index = self._handle(ps, messages, index)

    def _handle(self, ps: _PeerState, messages: list, index: int) -> int | None:
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
                self._on_step2(ps, message.payload)
            elif kind is MessageKind.SYNC_UPDATE:
                self._on_update_message(ps, message.payload)
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

    # -- sync ------------------------------------------------------------------------------------

    def _on_step1(self, ps: _PeerState, state_vector: bytes) -> None:
        _check_state_vector(state_vector)
        ps.their_sv = state_vector
        if ps.phase == "live":
            ps.peer.send(encode_sync_step2(_without_pending(self.doc, state_vector)))
        # Otherwise answered once the peer's own step 2 has been classified (see _on_step2).

    def _on_step2(self, ps: _PeerState, update: bytes) -> None:
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
        refs, _ = read_update(update)  # raises DecodeError before anything is applied
        if ps.view is not None:
            # Updates it sent before its step 2 belong to the same classification.
            ps.view.apply_update(update)
            update = ps.view.encode_state_as_update()
            refs, _ = read_update(update)
        foreign = self._foreign_clients(refs)
        if foreign and not ps.full_state:
            # A step 2 only holds what the room lacks; judging the peer's document needs all of it.
            ps.full_state = True
            ps.view = None
            ps.peer.send(encode_sync_step1(_EMPTY_STATE_VECTOR))
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

    def _empty_content(self) -> Any:
        return self.model.export(crdt.Doc())

    def _go_live(self, ps: _PeerState) -> None:
        ps.phase = "live"
        sv = ps.their_sv
        ps.peer.send(encode_sync_step2(_without_pending(self.doc, sv)))

    def _first_sync_read_only(self, ps: _PeerState, update: bytes) -> None:
        refs, _ = read_update(update)
        view = crdt.Doc()
        view.apply_update(update)
        foreign = self._foreign_clients(refs)
        if foreign:
            # Bring the follower back in line without taking its content: delete its foreign copy.
            ps.peer.send(encode_sync_update(_delete_update(self._new_ranges(view, foreign))))
        elif update != _EMPTY_UPDATE and _has_content(refs):
            self._refuse(ps, update)
        ps.phase = "live"
        ps.peer.send(encode_sync_step2(_without_pending(self.doc, ps.their_sv)))

    def _foreign_clients(self, refs: dict[int, list]) -> set[int]:
        """The clients of a foreign document in ``refs`` (decoded structs), or the empty set.

        Structs the room already holds are left aside. If any new struct hooks into something the
        room holds live (its origin, right origin or parent is a known struct that is not a dead
        copy), the update is in line with the room: it merges as CRDT data. Otherwise the new
        structs form a document of their own, or extend dead copies: a foreign document.
        """
        sv = self.doc.state_vector()
        new_clients: set[int] = set()
        new_structs = []
        for client, structs in refs.items():
            known = sv.get(client, 0)
            for s in structs:
                if s.clock + s.length > known and getattr(s, "is_item", False):
                    new_clients.add(client)
                    new_structs.append(s)
        if not new_structs:
            return set()
        for s in new_structs:
            for ref in (s.origin, s.right_origin, s.parent if isinstance(s.parent, tuple) else None):
                if ref is None:
                    continue
                c, clock = ref
                if clock < sv.get(c, 0) and not self._is_dead(c, clock):
                    return set()  # hooks into what the room holds: in line
        return new_clients

    def _is_dead(self, client: int, clock: int) -> bool:
        return any(start <= clock < end for start, end in self._absorbed.get(client, ()))

    def _new_ranges(self, view: crdt.Doc, clients: set[int]) -> dict[int, tuple[int, int]]:
        """For each of ``clients``, the clock range ``view`` holds beyond the room's state."""
        sv = self.doc.state_vector()
        view_sv = view.state_vector()
        return {c: (sv.get(c, 0), view_sv[c]) for c in clients if view_sv.get(c, 0) > sv.get(c, 0)}

    def _on_update_message(self, ps: _PeerState, update: bytes) -> None:
        if not ps.peer.can_write:
            if update != _EMPTY_UPDATE:
                read_update(update)  # malformed input still closes the connection
                self._refuse(ps, update)
            return
        if ps.phase == "syncing":
            # Sent before its step 2: keep it for the classification of the step 2.
            read_update(update)
            ps.pending_bytes += len(update)
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

    def _apply_counting_pending(self, ps: _PeerState, update: bytes) -> None:
        before = _pending_size(self.doc)
        if before == 0 and self._pending_bytes:
            self._forget_pending()  # integrated or dropped since (a reconciliation drops them)
        self.doc.apply_update(update, origin=ps)
        after = _pending_size(self.doc)
        if after == 0:
            if self._pending_bytes:
                self._forget_pending()
        elif after > before:
            cost = _pending_cost(update, after - before)
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
        _drop_pending(self.doc)
        senders = [p for p in self.peers.values() if p.pending_bytes and p.phase != "syncing"]
        self._forget_pending()
        for p in senders:
            self._ask_whole_state(p)

    def _ask_whole_state(self, ps: _PeerState) -> None:
        """Reconcile a peer whose pending structs were dropped: ask for its whole document."""
        ps.phase = "syncing"
        ps.view = None
        ps.their_sv = None
        ps.full_state = True
        ps.peer.send(encode_sync_step1(_EMPTY_STATE_VECTOR))

    def _reconcile(self, ps: _PeerState, foreign: set[int]) -> None:
        """Merge a peer holding a foreign document at the content level (module docstring)."""
        view = ps.view
        assert view is not None
        their = self.model.export(view)
        ours = self.model.export(self.doc)
        merged = self.model.merge(self._base_content, ours, their)
        ranges = self._new_ranges(view, foreign)
        self.log.info("jupyter_crdt: %s: reconciling %s at content level (%d foreign clients)",
                      self.room_id, ps.author, len(ranges))
        with self.doc.transact(origin=ps):
            self.doc.apply_update(view.encode_state_as_update())
            self.doc.apply_update(_delete_update(ranges))
            if self.model.export(self.doc) != merged:
                self.model.apply(self.doc, merged)
            self._repair_state()
        _drop_pending(self.doc)
        ps.dead = ranges
        for c, r in ranges.items():
            self._absorbed.setdefault(c, []).append(r)
        self.store.set_meta("absorbed", {str(c): [list(r) for r in rs] for c, rs in self._absorbed.items()})
        # ps.view stays the peer's own document as it was (without the step 2 below): updates the peer
        # made before applying that step 2 integrate into it, later ones do not (see _merge_through_view).
        ps.their_sv = ps.their_sv or view.encode_state_vector()
        ps.peer.send(encode_sync_step2(_without_pending(self.doc, ps.their_sv)))
        # Probe: the peer's answer tells us it has applied the step 2 above.
        ps.phase = "reconciling"
        ps.pending_bytes = 0  # counted its updates before the step 2 (merged above)
        ps.peer.send(encode_sync_step1(self.doc.encode_state_vector()))

    def _merge_through_view(self, ps: _PeerState, update: bytes) -> None:
        """An update from a peer that may not have applied its reconciliation yet.

        If it integrates into the peer's pre-reconciliation document, it was made there: its effect on
        that document's content is merged into the room (three-way). Otherwise it was made after the
        peer caught up, and is merged as CRDT data.
        """
        view = ps.view
        if view is None:
            self._apply_counting_pending(ps, update)
            return
        _, ds = read_update(update)
        if _overlaps(ds, ps.dead):
            # It deletes the foreign copies we deleted: the peer has applied its reconciliation.
            self._apply_counting_pending(ps, update)
            return
        before = self.model.export(view)
        pending_before = _pending_size(view)
        view.apply_update(update)
        if _pending_size(view) > pending_before:
            self._apply_counting_pending(ps, update)
            return
        after = self.model.export(view)
        with self.doc.transact(origin=ps):
            ours = self.model.export(self.doc)
            merged = self.model.merge(before, ours, after) if before != after else ours
            self.doc.apply_update(update)
            if self.model.export(self.doc) != merged:
                self.model.apply(self.doc, merged)
            self._repair_state()
        _drop_pending(self.doc)

    def _repair_state(self) -> None:
        state = self.doc.get_map("state")
        if "dirty" not in state:
            state["dirty"] = True
        if self.loader is not None:
            with contextlib.suppress(FileGone):
                if state.get("path") != self.loader.path:
                    state["path"] = self.loader.path

    def _refuse(self, ps: _PeerState, update: bytes) -> None:
        """Tell a read-only peer its ``update`` was refused, and take it back on the peer's side: what it
        inserted is deleted there (a delete set of its new structs, sent as an ordinary update), so its
        editor shows the room's content again.

        Content the peer deleted cannot come back in its document (a Yjs deletion is final; the room
        holds the items, but the peer's copy of them stays deleted): the refusal then says
        ``"reload": true``, and reopening the document shows the room's content."""
        refs, ds = read_update(update)
        inserted = self._unknown_item_ranges(refs)
        if inserted:
            ps.peer.send(encode_sync_update(_delete_update(inserted)))
        message: dict[str, Any] = {
            "type": "error",
            "code": "read_only",
            "message": "This document is read-only for you: your change was not applied.",
        }
        if self._deletes_live_items(ds):
            message["reload"] = True
        ps.peer.send(encode_json_message(message))

    def _unknown_item_ranges(self, refs: dict[int, list]) -> dict[int, tuple[int, int]]:
        """Per client, the clock range spanning the items of ``refs`` the room does not hold."""
        sv = self.doc.state_vector()
        ranges: dict[int, tuple[int, int]] = {}
        for client, structs in refs.items():
            known = sv.get(client, 0)
            for st in structs:
                if not getattr(st, "is_item", False) or st.clock + st.length <= known:
                    continue
                start, end = max(st.clock, known), st.clock + st.length
                if client in ranges:
                    start, end = min(start, ranges[client][0]), max(end, ranges[client][1])
                ranges[client] = (start, end)
        return ranges

    def _deletes_live_items(self, ds: Any) -> bool:
        """Whether the delete set ``ds`` deletes something the room holds undeleted."""
        store = self.doc.store
        for client, runs in ds.clients.items():
            structs = store.clients.get(client)
            if not structs:
                continue
            known = store.get_state(client)
            for clock, length in runs:
                end = min(clock + length, known)
                while clock < end:
                    st = store.get_item(client, clock)
                    if getattr(st, "is_item", False) and not st.deleted:
                        return True
                    clock = st.clock + st.length
        return False

    # -- the one observer ------------------------------------------------------------------------

    def _on_update(self, update: bytes, origin: Any) -> None:
        """Every change to the document: record it, then broadcast it, then schedule flush and save."""
        if origin == "history":
            return
        if isinstance(origin, _PeerState):
            author = origin.author
        elif isinstance(origin, str):
            author = origin
        else:
            author = AUTHOR_SERVER
        if origin is not _RECORDED:
            seq = self.store.append(update, author)
            if isinstance(origin, _PeerState):
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

    def _on_awareness(self, changes: dict, origin: Any) -> None:
        clients = changes["added"] + changes["updated"] + changes["removed"]
        if isinstance(origin, _PeerState):
            origin.awareness_clients.update(changes["added"] + changes["updated"])
            origin.awareness_clients.difference_update(changes["removed"])
        frame = encode_awareness_message(self.awareness.encode_update(clients))
        for ps in list(self.peers.values()):
            if ps is origin:
                continue
            with contextlib.suppress(Exception):
                ps.peer.send(frame)
        self._update_autosave()

    def _update_autosave(self) -> None:
        """The reference's rule: no autosave while every client's awareness state says ``autosave:
        false`` (any other value counts as on; a client without the field is on). With no client
        states at all the last value stays, so the file does not get saved behind the backs of the
        clients that just left."""
        states = [s for s in self.awareness.states.values() if s]
        if not states:
            return
        autosave = any(not isinstance(s, dict) or bool(s.get("autosave", True)) for s in states)
        if autosave == self._autosave:
            return
        self._autosave = autosave
        if not autosave:
            if self._save_task is not None and not self._save_task.done():
                self._save_task.cancel()
            self._unsaved_since = None
        elif self._changed_since_save:
            self._schedule_save()  # someone turned autosave on: the file catches up

    async def _awareness_loop(self) -> None:
        from crdt.awareness import CHECK_INTERVAL

        while True:
            await asyncio.sleep(CHECK_INTERVAL)
            self.awareness.check_timeouts()

    # -- durability ------------------------------------------------------------------------------

    def _schedule_flush(self) -> None:
        if self._flush_task is None or self._flush_task.done():
            self._flush_task = asyncio.ensure_future(self._flush_soon())

    async def _flush_soon(self) -> None:
        await asyncio.sleep(self.settings.flush_delay)
        await self._flush()
        # A store that makes updates durable only once their change closes (a branch's) says when that
        # is: flush again then, until every peer's updates are acknowledged.
        while not self.closed and self.store.deadline is not None:
            if not any(ps.unacked for ps in self.peers.values()):
                return
            deadline = self.store.deadline
            await asyncio.sleep(max(self.settings.flush_delay, (deadline or 0) - time.time() + 0.001))
            await self._flush()

    async def _flush(self) -> None:
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

    # -- saving ----------------------------------------------------------------------------------

    def _schedule_save(self) -> None:
        if self.loader is None or self.settings.save_delay < 0 or self.closed or not self._autosave:
            return
        now = time.monotonic()
        if self._unsaved_since is None:
            self._unsaved_since = now
        delay = self.settings.save_delay
        if self.settings.save_max_delay >= 0:
            delay = max(0.0, min(delay, self._unsaved_since + self.settings.save_max_delay - now))
        if self._save_task is not None and not self._save_task.done():
            self._save_task.cancel()
        self._save_task = asyncio.ensure_future(self._save_after(delay))

    async def _save_after(self, delay: float) -> None:
        try:
            await asyncio.sleep(delay)
        except asyncio.CancelledError:
            return
        await asyncio.shield(self.save())

    async def save(self) -> str:
        """Save now if the content differs from the file: ``"success"`` (the file holds the current
        content) or ``"failed"``."""
        if self.loader is None:
            return "failed"
        async with self._disk_lock:
            try:
                self._changed_since_save = False
                self._unsaved_since = None
                disk = await self.loader.stat()
                if disk.last_modified != self.loader.disk.last_modified:
                    await self._merge_disk_change()
                if not disk.writable:
                    self.read_only_on_disk = True
                    return "failed"
                problems: list[str] = []
                content = self.model.export(self.doc, problems)
                self._report_export_problems(problems)
                digest = self.model.digest(content)
                if digest == self._saved_digest:
                    self._set_state(dirty=False)
                    self._on_disk(self.store.position())
                    return "success"
                position = self.store.position()
                await self._flush()
                disk = await self.loader.save(content)
                self._on_disk(position)
                self._saved_content = content
                self._saved_digest = digest
                self.store.mark_saved(position, digest)
                if self.model.digest(self.model.export(self.doc)) == digest:
                    self._set_state(dirty=False, hash=disk.hash)
                self._schedule_flush()
                self._session_event("save", "Content saved.")
                return "success"
            except FileGone:
                return "failed"
            except Exception as e:  # noqa: BLE001
                self.log.exception("jupyter_crdt: %s: saving failed", self.room_id)
                self._session_event(None, f"Saving failed: {type(e).__name__}", "ERROR")
                return "failed"

    def _on_disk(self, position: Any) -> None:
        """The file now holds every record up to ``position``: for a room whose history is not on disk,
        those are durable (acknowledged by the flush that follows)."""
        if isinstance(self.store, MemoryStore) and self.store.on_disk is not None:
            self.store.on_disk = max(self.store.on_disk, position)
            self._schedule_flush()

    def _report_export_problems(self, problems: list[str]) -> None:
        # Parts of a hostile document no file can hold are left out of the save (docs/security.md,
        # "Bounds"); each is logged once per room, and every save answers with the current list.
        self.save_problems = problems
        for p in problems:
            if p not in self._logged_problems:
                self._logged_problems.add(p)
                self.log.warning("jupyter_crdt: %s: %s", self.room_id, p)

    def restore(self, seq: int, author: str) -> None:
        """Make the content what it was after change ``seq``.

        A new change: the ones after ``seq`` stay in the history."""
        records = self.store.records()
        if not 1 <= seq <= len(records):
            raise ValueError(f"no change {seq}")
        content = self._content_at(seq)
        with self.doc.transact(origin=author):
            self.model.apply(self.doc, content)

    # -- the file changed on disk ----------------------------------------------------------------

    async def _on_disk_change(self) -> None:
        if self._disk_lock.locked():
            return
        async with self._disk_lock:
            await self._merge_disk_change()

    async def _merge_disk_change(self) -> None:
        assert self.loader is not None
        content, disk = await self.loader.load()
        self.read_only_on_disk = not disk.writable
        digest = self.model.digest(content)
        if digest == self._saved_digest:
            return  # a touch: nothing changed
        ours = self.model.export(self.doc)
        merged = self.model.merge(self._saved_content, ours, content)
        self.log.info("jupyter_crdt: %s: merging a change made on disk", self.room_id)
        with self.doc.transact(origin=AUTHOR_DISK):
            self.model.apply(self.doc, merged)
        self._session_event("overwrite", "Out-of-band changes merged into the room.")
        self._saved_content = content
        self._saved_digest = digest
        if self.model.digest(merged) == digest:
            # Nothing unsaved: the document is what the file holds. (Otherwise the save that follows
            # marks it; until then the previous mark stays the base of a merge after a crash.)
            self.store.mark_saved(self.store.position(), digest)
            self._set_state(dirty=False, hash=disk.hash)
        self._schedule_flush()

    # -- JSON channel ----------------------------------------------------------------------------

    def _on_json_channel(self, ps: _PeerState, payload: bytes) -> None:
        from crdt.decoding import Decoder

        dec = Decoder(payload)
        text = dec.read_var_string()
        if text == "save":
            save_id = dec.read_var_uint()
            asyncio.ensure_future(self._answer_save(ps, save_id))

    async def _answer_save(self, ps: _PeerState, save_id: int) -> None:
        reply: dict[str, Any] = {"type": "save", "responseTo": save_id}
        status = "failed" if not ps.peer.can_write else await self.save()
        reply["status"] = status
        if status == "success" and self.save_problems:
            reply["problems"] = self.save_problems
        with contextlib.suppress(Exception):
            ps.peer.send(encode_json_message(reply))

    # -- lifetime --------------------------------------------------------------------------------

    def _schedule_cleanup(self) -> None:
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
            await self._flush()
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
                parent._schedule_cleanup()


def _check_state_vector(sv: bytes) -> None:
    from crdt.update_decoder import decode_state_vector

    try:
        decode_state_vector(sv)
    except crdt.DecodeError:
        raise
    except Exception as e:  # noqa: BLE001
        raise crdt.DecodeError(f"malformed state vector: {e}") from None


def _overlaps(ds: Any, ranges: dict[int, tuple[int, int]]) -> bool:
    """Whether the delete set ``ds`` deletes anything in ``ranges`` (client -> [start, end))."""
    for client, (start, end) in ranges.items():
        for clock, length in ds.clients.get(client, ()):
            if clock < end and clock + length > start:
                return True
    return False


def _drop_pending(doc: crdt.Doc) -> None:
    store = doc.store
    store.pending = None
    store.pending_ds = None
    store.pending_missing = {}


def _pending_size(doc: crdt.Doc) -> int:
    """How many structs and deleted ranges wait for missing updates (0: none)."""
    store = doc.store
    size = 0
    if store.pending is not None:
        size += sum(len(v) for v in store.pending.values())
    if store.pending_ds is not None:
        # Ranges, not clients: deletions of unknown ranges of one client would otherwise grow unseen.
        size += sum(len(v) for v in store.pending_ds.values()) or 1
    return size


def _pending_cost(update: bytes, new_structs: int) -> int:
    """What an update that left ``new_structs`` more structs (or deleted ranges) pending counts against
    the caps: its size plus the memory of each (tiny structs cost far more in memory than on the wire)."""
    return len(update) + new_structs * PENDING_STRUCT_COST


def _without_pending(doc: crdt.Doc, state_vector: bytes | None = None) -> bytes:
    """``doc.encode_state_as_update(state_vector)`` without the pending structs and deletions.

    Yjs includes them; a room does not: no peer could integrate them either (the room is every
    peer's hub, it broadcasts them once their dependencies arrive), and re-encoding megabytes of
    them for every joining peer made joins take seconds."""
    store = doc.store
    pending, pending_ds = store.pending, store.pending_ds
    if pending is None and pending_ds is None:
        return doc.encode_state_as_update(state_vector)
    store.pending = store.pending_ds = None
    try:
        return doc.encode_state_as_update(state_vector)
    finally:
        store.pending, store.pending_ds = pending, pending_ds


def _has_content(refs: dict[int, list]) -> bool:
    return any(getattr(s, "is_item", False) for structs in refs.values() for s in structs)


def _is_sidecar_name(path: str) -> bool:
    """Whether an API path is named like a history (``.NAME.crdt``, as ``histories.is_sidecar`` says, which
    is not imported here: it needs nbformat) or an old text history log (``.NAME.crdtlog``)."""
    name = path.rsplit("/", 1)[-1]
    return name.startswith(".") and any(name.endswith(suffix) and len(name) > len(suffix) + 1
                                        for suffix in (".crdt", ".crdtlog"))


class RoomManager:
    """Every open room of a server, by room id (``format:type:fileId``)."""

    def __init__(
        self,
        contents_manager: Any,
        file_id_manager: Callable[[], Any],
        settings: RoomSettings,
        store_factory: Callable[[str | None, str], HistoryStore],
        log: logging.Logger,
        events: RoomEvents = NO_EVENTS,
    ) -> None:
        self._cm = contents_manager
        self.events = events
        self._fim = file_id_manager
        self.settings = settings
        self._store_factory = store_factory
        self.log = log
        self.rooms: dict[str, Room] = {}
        self.forks: dict[str, Room] = {}
        self.fork_infos: dict[str, dict[str, Any]] = {}
        """Fork id -> the reference's fork info (root_roomid, synchronize, title, description): this
        server's forks, dropped with their rooms."""
        self.timelines: dict[str, Timeline] = {}
        self._unsync: dict[str, Callable[[], None]] = {}
        self._locks: dict[str, asyncio.Lock] = {}

    async def get(self, file_format: str, file_type: str, file_id: str) -> Room:
        """The room of that document, loaded if needed. Raises :class:`FileGone` or ``LookupError``
        (a document type not served)."""
        from jupyter_crdt.server.models import model_for

        room_id = f"{file_format}:{file_type}:{file_id}"

        async def load() -> Room:
            model = model_for(file_format, file_type)
            if model is None:
                raise LookupError(f"documents of type {file_format}:{file_type} are not served")
            loader = FileLoader(file_id, self._fim(), self._cm, model, self.log)
            if _is_sidecar_name(loader.path):  # raises FileGone for an unknown id
                # editing a history as a text (with allow_hidden) would save text over it
                raise LookupError(f"{loader.path} is a document's history, not a document "
                                  "(read it with `jupyter crdt log`)")
            # The contents manager's checks first (hidden files, directories, permissions, outside the
            # root): nothing is read or written, no sidecar created, for a path its API would refuse.
            await loader.stat()
            store = self._store_factory(loader.os_path(), model.type)
            room = Room(room_id, model, loader, store, self.settings, self.log, on_empty=self._forget)
            room.events = self.events
            try:
                await room.initialize()
            except BaseException:
                store.close()
                raise
            return room

        return await self._open(room_id, load)

    async def _open(self, room_id: str, load: Callable[[], Awaitable[Room]]) -> Room:
        """The open room ``room_id``, or the one ``load`` makes (once, however many ask at the same time)."""
        room = self.rooms.get(room_id)
        if room is not None and not room.closing.is_set():
            return room
        lock = self._locks.setdefault(room_id, asyncio.Lock())
        async with lock:
            room = self.rooms.get(room_id)
            if room is not None and room.closing.is_set():
                await room.wait_closed()  # its history's lock is released once it is closed
                self._forget(room)
                room = None
            if room is not None:
                return room
            room = await load()
            self.rooms[room_id] = room
            room._schedule_cleanup()  # unloaded later unless someone joins
            return room

    async def get_by_id(self, room_id: str) -> Room:
        """A document room (``format:type:fileId``), a branch room (``format:type:fileId@branch``), a
        fork or a timeline room. Raises :class:`FileGone`, ``LookupError`` (among them
        :class:`~jupyter_crdt.server.branches.UnknownBranch`) or :class:`~.branches.BadBranchName`."""
        from jupyter_crdt.server.branches import split_room_id

        if room_id == GLOBAL_AWARENESS_ROOM:
            return await self._global_awareness()
        if room_id in self.forks:
            return self.forks[room_id]
        if room_id in self.timelines:
            return await self.timelines[room_id].open()
        base, branch = split_room_id(room_id)
        try:
            file_format, file_type, file_id = base.split(":", 2)
        except ValueError:
            raise LookupError(f"bad room id {room_id!r}") from None
        return await self.get_branch(file_format, file_type, file_id, branch)

    async def get_branch(self, file_format: str, file_type: str, file_id: str, branch: str) -> Room:
        """The room of ``branch`` of that document's history (``main``: the document's room), loaded if
        needed; it shares the main room's history (see :mod:`jupyter_crdt.server.branches`). Raises what
        :meth:`get` raises, :class:`~jupyter_crdt.server.branches.BadBranchName`,
        :class:`~jupyter_crdt.server.branches.UnknownBranch` or :class:`~.branches.NoBranches`."""
        from jupyter_crdt.server.branches import (
            MAIN,
            BranchStore,
            UnknownBranch,
            branch_room_id,
            check_name,
            notebook_history,
        )

        if branch == MAIN:
            return await self.get(file_format, file_type, file_id)
        check_name(branch)
        main = await self.get(file_format, file_type, file_id)
        room_id = branch_room_id(main.room_id, branch)

        async def load() -> Room:
            nonlocal main
            if main.closing.is_set():
                main = await self.get(file_format, file_type, file_id)
            if branch not in notebook_history(main).history.branches:
                raise UnknownBranch(f"no branch {branch!r}")
            room = Room(room_id, main.model, None, BranchStore(main.store, branch), self.settings, self.log,
                        on_empty=self._forget)
            room.events = self.events
            room.branch = branch
            room.parent = main
            main.dependents.add(room)
            try:
                await room.initialize()
            except BaseException:
                main.dependents.discard(room)
                raise
            return room

        return await self._open(room_id, load)

    async def _global_awareness(self) -> Room:
        """JupyterLab's server-wide presence room (the collaborators panel): awareness only."""
        room = self.forks.get(GLOBAL_AWARENESS_ROOM)
        if room is None:
            from jupyter_crdt.server.models import TextFileModel

            room = Room(GLOBAL_AWARENESS_ROOM, TextFileModel(), None, MemoryStore(), self.settings, self.log)
            room.keep_loaded = True
            await room.initialize()
            self.forks[GLOBAL_AWARENESS_ROOM] = room
        return room

    # -- forks and timelines (the reference frontend's fork and timeline APIs) -------------------

    def fork(self, root: Room, fork_id: str, synchronize: bool, info: dict[str, Any] | None = None) -> Room:
        """A room holding a copy of ``root``'s document (same ids, so it merges back as CRDT data);
        ``info`` (the reference's fork info) is listed by :meth:`forks_of` until the fork is dropped."""
        fork = Room(fork_id, root.model, None, MemoryStore(), self.settings, self.log,
                    seed=root.doc.encode_state_as_update())
        fork.keep_loaded = True
        fork.events = self.events
        if synchronize:
            def forward(update: bytes, origin: Any) -> None:
                if not fork.closed:
                    fork.doc.apply_update(update, origin="root")
            root.doc.observe_updates(forward)
            self._unsync[fork_id] = lambda: root.doc.unobserve_updates(forward)
        self.forks[fork_id] = fork
        if info is not None:
            self.fork_infos[fork_id] = info
        return fork

    def forks_of(self, root_id: str) -> dict[str, dict[str, Any]]:
        """This server's open forks of room ``root_id``: fork id -> fork info."""
        return {fid: info for fid, info in self.fork_infos.items()
                if info.get("root_roomid") == root_id and fid in self.forks}

    async def drop_fork(self, fork_id: str) -> None:
        self.fork_infos.pop(fork_id, None)
        fork = self.forks.pop(fork_id, None)
        undo = self._unsync.pop(fork_id, None)
        if undo is not None:
            undo()
        if fork is not None:
            await fork.close()

    async def timeline(self, room: Room) -> Timeline:
        """A new timeline of ``room``. Its copy of the document is made only when someone joins it (or
        moves it); one nobody joined is forgotten after ``cleanup_delay``, and a joined one is unloaded
        like a document room, ``cleanup_delay`` after its last peer left."""
        timeline = Timeline(room, uuid.uuid4().hex, self.settings, self.log, on_empty=self._forget_timeline,
                            events=self.events)
        self.timelines[timeline.room_id] = timeline
        asyncio.get_running_loop().call_later(max(self.settings.cleanup_delay, 0), self._expire, timeline)
        return timeline

    def _expire(self, timeline: Timeline) -> None:
        if timeline.loaded is None:  # never joined (a loaded one goes when its room unloads)
            self._forget_timeline(timeline)

    def _forget_timeline(self, timeline: Timeline) -> None:
        if self.timelines.get(timeline.room_id) is timeline:
            del self.timelines[timeline.room_id]

    async def drop_timeline(self, timeline_id: str) -> None:
        timeline = self.timelines.pop(timeline_id, None)
        if timeline is not None and timeline.loaded is not None:
            await timeline.loaded.close()

    def _forget(self, room: Room) -> None:
        if self.rooms.get(room.room_id) is room:
            del self.rooms[room.room_id]

    async def close_all(self) -> None:
        rooms = list(self.rooms.values()) + list(self.forks.values())
        rooms += [t.loaded for t in self.timelines.values() if t.loaded is not None]
        self.rooms.clear()
        self.forks.clear()
        self.fork_infos.clear()
        self.timelines.clear()
        for room in rooms:
            try:
                await room.close()
            except Exception:  # noqa: BLE001
                self.log.exception("jupyter_crdt: closing %s failed", room.room_id)


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
                        on_empty=self._unloaded, seed=_without_pending(self.origin.doc))
            room.read_only = True
            room.events = self._events
            await room.initialize()
            self.loaded = room
            if self.index != len(self._seqs):
                self._show(self.index)
            room._schedule_cleanup()  # unloaded later unless someone joins
            return room

    def _unloaded(self, room: Room) -> None:
        if self._on_empty is not None:
            self._on_empty(self)

    def _show(self, index: int) -> None:
        assert self.loaded is not None
        content = self.origin._content_at(self._seqs[index - 1])
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
