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
(a step 1 with an empty state vector) and reconciles it as above instead of closing it.

**Permissions.** A read-only peer syncs and follows live; any update it sends is refused (not applied,
broadcast or saved) and it is told so with ``{"type": "error", "code": "read_only"}`` on the JSON
channel (message type 2).

**Durability.** Updates are appended to the history before they are broadcast (a notebook's history
journals each one in its sidecar, synced, as it is appended, and groups them into changes on its own
idle gap); shortly after, the store is flushed and the senders get
``{"type": "ack", "stateVector": <base64>}`` (the room's state vector, which covers their edits) on the
JSON channel.

**Disk.** The file is saved through the contents manager one idle ``save_delay`` after the last change.
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

from .loaders import DiskState, FileGone, FileLoader
from .models import DocumentModel
from .stores import HistoryStore, MemoryStore, StoreLocked

#: Outer message type of the JSON channel (JupyterLab's "raw" messages: save, ack, errors).
MESSAGE_JSON = 2

#: Close codes (websocket): the reference server's, plus the standard ones we use for bad input.
CLOSE_NOT_FOUND = 4404
CLOSE_INVALID_DATA = 1007
CLOSE_SERVER_ERROR = 4500
CLOSE_GOING_AWAY = 1001

#: The room JupyterLab's collaborators panel joins for server-wide presence (no document).
GLOBAL_AWARENESS_ROOM = "JupyterLab:globalAwareness"

#: Authors of changes that no user made.
AUTHOR_DISK = "disk"
AUTHOR_SERVER = "server"

_EMPTY_UPDATE = b"\x00\x00"
#: Origin of updates the history holds already (see :meth:`Room.apply_recorded`).
_RECORDED = object()
_EMPTY_STATE_VECTOR = b"\x00"


class Peer(Protocol):
    """One connection to a room (a websocket, or a test double)."""

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
        self.read_only = False
        """No peer may change this room (timeline rooms)."""
        self.keep_loaded = False
        """Not unloaded when its last peer leaves (in-memory rooms: forks, timelines, presence)."""
        self._on_empty = on_empty
        self._base_content: Any = None
        self._saved_content: Any = None
        self._saved_digest: str | None = None
        self._absorbed: dict[int, list[tuple[int, int]]] = {}
        """Clock ranges of foreign structs absorbed as deleted (dead copies), per client."""
        self._save_task: asyncio.Task | None = None
        self._flush_task: asyncio.Task | None = None
        self._outbox: list[tuple[bytes, Any]] = []
        """Updates accepted in this turn of the event loop, not yet broadcast (``_send_outbox``)."""
        self._flush_lock = asyncio.Lock()
        self._cleanup_handle: asyncio.TimerHandle | None = None
        self._awareness_timer: asyncio.Task | None = None
        self._changed_since_save = False
        self._unsaved_since: float | None = None
        """When the oldest change not yet being saved was made (monotonic); bounds the save delay."""
        self._disk_lock = asyncio.Lock()
        self.branch = "main"
        """The branch of the document's history this room edits (see :mod:`jupyter_crdt.branches`)."""
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
        try:
            loaded = self.store.load()
        except StoreLocked as e:
            self.log.warning("jupyter_crdt: %s: %s; keeping this room's history in memory", self.room_id, e)
            self.store = MemoryStore()
            loaded = self.store.load()
        content: Any = None
        disk_merge: Any = None
        disk: DiskState | None = None
        if self.loader is not None:
            content, disk = await self.loader.load()
            self.read_only_on_disk = not disk.writable
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
                    # The file changed while no server watched it: merged in below, once observed.
                    disk_merge = self.model.merge(saved, current, content)
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
        self.doc.observe_updates(self._on_update)
        self.awareness.observe_update(self._on_awareness)
        self._set_state(dirty=self._changed_since_save if self.loader is not None else None,
                        hash=disk.hash if disk else None)
        if disk_merge is not None:
            with self.doc.transact(origin=AUTHOR_DISK):
                self.model.apply(self.doc, disk_merge)
            self._changed_since_save = True
        await self._flush()
        if self.loader is not None:
            self.loader.watch(self.settings.poll_interval, self._on_disk_change)
        self._awareness_timer = asyncio.ensure_future(self._awareness_loop())
        self.ready.set()
        if self._changed_since_save:
            self._schedule_save()

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

    def leave(self, peer: Peer) -> None:
        """Forget a disconnected peer (its awareness states go with it)."""
        ps = self.peers.pop(peer, None)
        if ps is None:
            return
        if ps.awareness_clients:
            self.awareness.remove_states(sorted(ps.awareness_clients), ps)
        if not self.peers and not self.closed and not self.keep_loaded:
            self._schedule_cleanup()

    def receive(self, peer: Peer, frame: bytes) -> None:
        """Handle one frame from ``peer``. Raises :class:`crdt.DecodeError` for malformed input
        (nothing of a malformed frame is applied); the caller closes that connection."""
        ps = self.peers.get(peer)
        if ps is None:
            return
        for message in read_messages(frame):
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

    # -- sync ------------------------------------------------------------------------------------

    def _on_step1(self, ps: _PeerState, state_vector: bytes) -> None:
        _check_state_vector(state_vector)
        ps.their_sv = state_vector
        if ps.phase == "live":
            ps.peer.send(encode_sync_step2(self.doc.encode_state_as_update(state_vector)))
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
            self._apply_counting_pending(ps, update)
            self._go_live(ps)
            return
        self._reconcile(ps, foreign)

    def _empty_content(self) -> Any:
        return self.model.export(crdt.Doc())

    def _go_live(self, ps: _PeerState) -> None:
        ps.phase = "live"
        sv = ps.their_sv
        ps.peer.send(encode_sync_step2(self.doc.encode_state_as_update(sv)))

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
        ps.peer.send(encode_sync_step2(self.doc.encode_state_as_update(ps.their_sv)))

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
            ps.view = ps.view or crdt.Doc()
            ps.view.apply_update(update)
            return
        if ps.phase == "reconciling":
            self._merge_through_view(ps, update)
            return
        self._apply_counting_pending(ps, update)

    def _apply_counting_pending(self, ps: _PeerState, update: bytes) -> None:
        before = _pending_size(self.doc)
        self.doc.apply_update(update, origin=ps)
        after = _pending_size(self.doc)
        if after == 0:
            ps.pending_bytes = 0
        elif after > before:
            ps.pending_bytes += len(update)
            if ps.pending_bytes > self.settings.pending_cap:
                self._ask_whole_state(ps)

    def _ask_whole_state(self, ps: _PeerState) -> None:
        """Too much pending from this peer: drop the pending structs and reconcile the peer."""
        self.log.warning("jupyter_crdt: %s: pending updates from %s passed the cap; reconciling",
                         self.room_id, ps.author)
        _drop_pending(self.doc)
        ps.pending_bytes = 0
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
        ps.peer.send(encode_sync_step2(self.doc.encode_state_as_update(ps.their_sv)))
        # Probe: the peer's answer tells us it has applied the step 2 above.
        ps.phase = "reconciling"
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
        while not self.closed and hasattr(self.store, "deadline"):
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
        if any(ps.unacked for ps in self.peers.values()):
            self._schedule_flush()

    # -- saving ----------------------------------------------------------------------------------

    def _schedule_save(self) -> None:
        if self.loader is None or self.settings.save_delay < 0 or self.closed:
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
                    return "success"
                position = self.store.position()
                await self._flush()
                disk = await self.loader.save(content)
                self._saved_content = content
                self._saved_digest = digest
                self.store.mark_saved(position, digest)
                if self.model.digest(self.model.export(self.doc)) == digest:
                    self._set_state(dirty=False, hash=disk.hash)
                self._schedule_flush()
                return "success"
            except FileGone:
                return "failed"
            except Exception:  # noqa: BLE001
                self.log.exception("jupyter_crdt: %s: saving failed", self.room_id)
                return "failed"

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
                await self.save()
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
    store = doc.store
    size = 0
    if store.pending is not None:
        size += sum(len(v) for v in store.pending.values()) if isinstance(store.pending, dict) else 1
    if store.pending_ds is not None:
        size += len(store.pending_ds) if hasattr(store.pending_ds, "__len__") else 1
    return size


def _has_content(refs: dict[int, list]) -> bool:
    return any(getattr(s, "is_item", False) for structs in refs.values() for s in structs)


class RoomManager:
    """Every open room of a server, by room id (``format:type:fileId``)."""

    def __init__(
        self,
        contents_manager: Any,
        file_id_manager: Callable[[], Any],
        settings: RoomSettings,
        store_factory: Callable[[str | None, str], HistoryStore],
        log: logging.Logger,
    ) -> None:
        self._cm = contents_manager
        self._fim = file_id_manager
        self.settings = settings
        self._store_factory = store_factory
        self.log = log
        self.rooms: dict[str, Room] = {}
        self.forks: dict[str, Room] = {}
        self.timelines: dict[str, Timeline] = {}
        self._unsync: dict[str, Callable[[], None]] = {}
        self._locks: dict[str, asyncio.Lock] = {}

    async def get(self, file_format: str, file_type: str, file_id: str) -> Room:
        """The room of that document, loaded if needed. Raises :class:`FileGone` or ``LookupError``
        (a document type not served)."""
        from .models import model_for

        room_id = f"{file_format}:{file_type}:{file_id}"

        async def load() -> Room:
            model = model_for(file_format, file_type)
            if model is None:
                raise LookupError(f"documents of type {file_format}:{file_type} are not served")
            loader = FileLoader(file_id, self._fim(), self._cm, model, self.log)
            loader.path  # noqa: B018 - raises FileGone for an unknown id
            store = self._store_factory(loader.os_path(), model.type)
            room = Room(room_id, model, loader, store, self.settings, self.log, on_empty=self._forget)
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
        :class:`~jupyter_crdt.branches.UnknownBranch`) or :class:`~jupyter_crdt.branches.BadBranchName`."""
        from .branches import split_room_id

        if room_id == GLOBAL_AWARENESS_ROOM:
            return await self._global_awareness()
        if room_id in self.forks:
            return self.forks[room_id]
        if room_id in self.timelines:
            return self.timelines[room_id].room
        base, branch = split_room_id(room_id)
        try:
            file_format, file_type, file_id = base.split(":", 2)
        except ValueError:
            raise LookupError(f"bad room id {room_id!r}") from None
        return await self.get_branch(file_format, file_type, file_id, branch)

    async def get_branch(self, file_format: str, file_type: str, file_id: str, branch: str) -> Room:
        """The room of ``branch`` of that document's history (``main``: the document's room), loaded if
        needed; it shares the main room's history (see :mod:`jupyter_crdt.branches`). Raises what
        :meth:`get` raises, :class:`~jupyter_crdt.branches.BadBranchName`,
        :class:`~jupyter_crdt.branches.UnknownBranch` or :class:`~jupyter_crdt.branches.NoBranches`."""
        from .branches import MAIN, BranchStore, UnknownBranch, branch_room_id, check_name, notebook_history

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
            from .models import TextFileModel

            room = Room(GLOBAL_AWARENESS_ROOM, TextFileModel(), None, MemoryStore(), self.settings, self.log)
            room.keep_loaded = True
            await room.initialize()
            self.forks[GLOBAL_AWARENESS_ROOM] = room
        return room

    # -- forks and timelines (the reference frontend's fork and timeline APIs) -------------------

    def fork(self, root: Room, fork_id: str, synchronize: bool) -> Room:
        """A room holding a copy of ``root``'s document (same ids, so it merges back as CRDT data)."""
        fork = Room(fork_id, root.model, None, MemoryStore(), self.settings, self.log,
                    seed=root.doc.encode_state_as_update())
        fork.keep_loaded = True
        if synchronize:
            def forward(update: bytes, origin: Any) -> None:
                if not fork.closed:
                    fork.doc.apply_update(update, origin="root")
            root.doc.observe_updates(forward)
            self._unsync[fork_id] = lambda: root.doc.unobserve_updates(forward)
        self.forks[fork_id] = fork
        return fork

    async def drop_fork(self, fork_id: str) -> None:
        fork = self.forks.pop(fork_id, None)
        undo = self._unsync.pop(fork_id, None)
        if undo is not None:
            undo()
        if fork is not None:
            await fork.close()

    async def timeline(self, room: Room) -> Timeline:
        timeline = Timeline(room, uuid.uuid4().hex, self.settings, self.log)
        await timeline.room.initialize()
        self.timelines[timeline.room_id] = timeline
        return timeline

    async def drop_timeline(self, timeline_id: str) -> None:
        timeline = self.timelines.pop(timeline_id, None)
        if timeline is not None:
            await timeline.room.close()

    def _forget(self, room: Room) -> None:
        if self.rooms.get(room.room_id) is room:
            del self.rooms[room.room_id]

    async def close_all(self) -> None:
        rooms = list(self.rooms.values()) + list(self.forks.values())
        rooms += [t.room for t in self.timelines.values()]
        self.rooms.clear()
        self.forks.clear()
        self.timelines.clear()
        for room in rooms:
            try:
                await room.close()
            except Exception:  # noqa: BLE001
                self.log.exception("jupyter_crdt: closing %s failed", room.room_id)


class Timeline:
    """A read-only copy of a room's document that can be moved through the recorded versions."""

    def __init__(self, origin: Room, room_id: str, settings: RoomSettings, log: logging.Logger) -> None:
        self.origin = origin
        self.room_id = room_id
        records = origin.store.records()
        # The server's own bookkeeping (the saved state it keeps in the document) is not a version
        # anyone made: the timeline steps over it.
        self._seqs = [seq for seq, r in enumerate(records, 1) if seq == 1 or r.author != AUTHOR_SERVER]
        self.timestamps = [records[seq - 1].time for seq in self._seqs]
        self.index = len(self._seqs)
        self.room = Room(room_id, origin.model, None, MemoryStore(), settings, log,
                         seed=origin.doc.encode_state_as_update())
        self.room.read_only = True
        self.room.keep_loaded = True

    @property
    def session_id(self) -> str:
        return self.room.session_id

    def move(self, steps: int) -> bool:
        """Show the version ``steps`` changes later (negative: earlier); False at either end."""
        target = max(1, min(len(self._seqs), self.index + steps))
        if target == self.index:
            return False
        content = self.origin._content_at(self._seqs[target - 1])
        with self.room.doc.transact(origin="timeline"):
            self.room.model.apply(self.room.doc, content)
        self.index = target
        return True

    def restore(self, author: str) -> None:
        """Make the version shown the origin room's content, as CRDT data (the timeline's client,
        which reconnects to the origin room with this copy's state, then adds nothing twice)."""
        delta = self.room.doc.encode_state_as_update(self.origin.doc.encode_state_vector())
        self.origin.doc.apply_update(delta, origin=author)
