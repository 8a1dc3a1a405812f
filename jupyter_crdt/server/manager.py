"""The rooms of one server: document rooms by id (``format:type:fileId``), branch rooms, forks,
timelines and the presence room, each loaded once however many ask at the same time."""

from __future__ import annotations

import asyncio
import logging
import uuid
from collections.abc import Awaitable, Callable
from typing import Any

from jupyter_crdt.server.branches import (
    MAIN,
    BranchStore,
    UnknownBranch,
    branch_room_id,
    check_name,
    notebook_history,
    split_room_id,
)
from jupyter_crdt.server.events import NO_EVENTS, RoomEvents
from jupyter_crdt.server.loaders import FileLoader
from jupyter_crdt.server.models import TextFileModel, model_for
from jupyter_crdt.server.protocol import GLOBAL_AWARENESS_ROOM, is_sidecar_name, parse_room_id
from jupyter_crdt.server.room import Room
from jupyter_crdt.server.state import RoomSettings
from jupyter_crdt.server.stores import HistoryStore, MemoryStore
from jupyter_crdt.server.timeline import Timeline


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
        room_id = f"{file_format}:{file_type}:{file_id}"

        async def load() -> Room:
            model = model_for(file_format, file_type)
            if model is None:
                raise LookupError(f"documents of type {file_format}:{file_type} are not served")
            loader = FileLoader(file_id, self._fim(), self._cm, model, self.log)
            if is_sidecar_name(loader.path):  # raises FileGone for an unknown id
                # editing a history as a text (with allow_hidden) would save text over it
                raise LookupError(f"{loader.path} is a document's history, not a document "
                                  "(read it with `jupyter crdt log`)")
            # The contents manager's checks first (hidden files, directories, permissions, outside the
            # root): nothing is read or written, no sidecar created, for a path its API would refuse.
            await loader.stat()
            store = self._store_factory(loader.os_path(), model.type)
            room = Room(room_id, model, loader, store, self.settings, self.log, on_empty=self.forget)
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
                self.forget(room)
                room = None
            if room is not None:
                return room
            room = await load()
            self.rooms[room_id] = room
            room.schedule_cleanup()  # unloaded later unless someone joins
            return room

    async def get_by_id(self, room_id: str) -> Room:
        """A document room (``format:type:fileId``), a branch room (``format:type:fileId@branch``), a
        fork or a timeline room. Raises :class:`FileGone`, ``LookupError`` (among them
        :class:`~jupyter_crdt.server.branches.UnknownBranch`) or :class:`~.branches.BadBranchName`."""
        if room_id == GLOBAL_AWARENESS_ROOM:
            return await self._global_awareness()
        if room_id in self.forks:
            return self.forks[room_id]
        if room_id in self.timelines:
            return await self.timelines[room_id].open()
        base, branch = split_room_id(room_id)
        file_format, file_type, file_id = parse_room_id(base)
        return await self.get_branch(file_format, file_type, file_id, branch)

    async def get_branch(self, file_format: str, file_type: str, file_id: str, branch: str) -> Room:
        """The room of ``branch`` of that document's history (``main``: the document's room), loaded if
        needed; it shares the main room's history (see :mod:`jupyter_crdt.server.branches`). Raises what
        :meth:`get` raises, :class:`~jupyter_crdt.server.branches.BadBranchName`,
        :class:`~jupyter_crdt.server.branches.UnknownBranch` or :class:`~.branches.NoBranches`."""
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
            store = BranchStore(main.store, branch)
            room = Room(room_id, main.model, None, store, self.settings, self.log,
                        on_empty=self.forget)
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

    def forget(self, room: Room) -> None:
        """Stop handing out ``room`` (closed, or being closed, by its caller)."""
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
