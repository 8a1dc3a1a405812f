"""What every part of a room shares: its settings, the bookkeeping it keeps per peer, and
:class:`RoomState`, the document, its history, its file and its peers that the layers of a room
(:mod:`~jupyter_crdt.server.durability`, :mod:`~jupyter_crdt.server.file_sync`,
:mod:`~jupyter_crdt.server.reconcile`, :mod:`~jupyter_crdt.server.peers`,
:mod:`~jupyter_crdt.server.room`) work on."""

from __future__ import annotations

import asyncio
import contextlib
import logging
import time
from collections.abc import Callable
from dataclasses import dataclass
from typing import TYPE_CHECKING, Any

import crdt
from jupyter_crdt.server.events import NO_EVENTS, RoomEvents
from jupyter_crdt.server.loaders import FileGone, FileLoader
from jupyter_crdt.server.models import DocumentModel
from jupyter_crdt.server.protocol import Peer
from jupyter_crdt.server.stores import HistoryStore, MemoryStore

if TYPE_CHECKING:
    from jupyter_crdt.server.room import Room

#: Authors of changes that no user made.
AUTHOR_DISK = "disk"
AUTHOR_SERVER = "server"


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
    connected peers that sent some reconciled). Sizes as
    :func:`~jupyter_crdt.server.durability.pending_cost` counts them."""
    outgoing_cap: int = 32 << 20
    """Bytes queued for one connection and not yet written to its socket before it is closed (1008)."""
    fork_cap: int = 32
    """Forks open at once on this server (each holds a copy of its document until it is deleted)."""


class PeerState:
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
        """Whether the peer was asked for (and its next step 2 holds) its whole document."""
        self.dead: dict[int, tuple[int, int]] = {}
        """The foreign clock ranges deleted when this peer was reconciled."""


class RoomState:
    """The state of one room, shared by its layers (see the module docstring); :class:`Room` is the
    whole room."""

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
        self.awareness = crdt.Awareness(self.doc)
        self.awareness.set_local_state(None)
        self.peers: dict[Peer, PeerState] = {}
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
        """Updates accepted in this turn of the event loop, not yet broadcast (``_send_outbox``)."""
        self._pending_bytes = 0
        """What the document's pending structs cost (:func:`~jupyter_crdt.server.durability.pending_cost`),
        whoever sent them."""
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

    def _session_event(self, action: str | None, msg: str, level: str = "INFO") -> None:
        """A session event (the reference's): only document rooms have one, they have a path."""
        if self.loader is None:
            return
        try:
            path = self.loader.path
        except Exception:  # noqa: BLE001 - the file is gone, or its id store is closed (shutdown)
            path = ""
        self.events.session(self.room_id, path, action, msg, level)

    def set_state(self, **values: Any) -> None:
        """Set the document's ``state`` map entries ``values`` (None: left as they are), as the server;
        ``state.path`` always follows the file (after a rename, ``set_state()`` alone updates it)."""
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
