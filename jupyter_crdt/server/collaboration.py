"""The REST side of JupyterLab's reference collaboration server (``/api/collaboration/…``), so
``@jupyter/docprovider`` and JupyterLab's timeline work as is:

- ``PUT /api/collaboration/session/{path}`` with ``{"format", "type"}`` →
  ``{"format", "type", "fileId", "sessionId", "readOnly"}`` (200 known file, 201 newly indexed, 404 no
  such file). ``sessionId`` is the document's history's (stable across restarts); ``readOnly`` is ours.
- ``/api/collaboration/fork/…``: forks, in-memory copies of a room (:class:`ForkHandler`).
- ``/api/collaboration/timeline/…`` and ``/undo_redo/…``: the document's versions for the timeline slider
  (:class:`TimelineHandler`, :class:`UndoRedoHandler`).
"""

from __future__ import annotations

import json
import uuid

from jupyter_server.auth.decorator import authorized
from tornado import web

import crdt
from jupyter_crdt.server.handler_base import ManagedHandler, api_path, can, user_name
from jupyter_crdt.server.loaders import FileGone
from jupyter_crdt.server.room import Room
from jupyter_crdt.server.stores import StoreLocked


class SessionHandler(ManagedHandler):
    """``PUT /api/collaboration/session/{path}``: the ids a client needs to join a document's room."""

    @web.authenticated
    @authorized("read")
    async def put(self, path: str) -> None:
        path = api_path(path)
        try:
            body = json.loads(self.request.body or b"{}")
            file_format = str(body["format"])
            file_type = str(body["type"])
        except (ValueError, KeyError, TypeError):
            raise web.HTTPError(400, "expected a JSON body with 'format' and 'type'") from None
        status = 200
        file_id = self.file_id_manager.get_id(path)
        if file_id is None:
            file_id = self.file_id_manager.index(path)
            if file_id is None:
                raise web.HTTPError(404, f"File {path!r} does not exist")
            status = 201
        try:
            room = await self.manager.get(file_format, file_type, file_id)
        except FileGone:
            raise web.HTTPError(404, f"File {path!r} does not exist") from None
        except (StoreLocked, crdt.HistoryFileError) as e:  # locked by another process; damaged and could
            # not be set aside (see stores.py)
            raise web.HTTPError(409, str(e)) from None
        except LookupError as e:
            raise web.HTTPError(400, str(e)) from None
        writable = await can(self, "write") and not room.read_only_on_disk
        self.set_status(status)
        self.finish(json.dumps({
            "format": file_format,
            "type": file_type,
            "fileId": file_id,
            "sessionId": room.session_id,
            "readOnly": not writable,
            **({"warnings": room.history_notes} if room.history_notes else {}),
        }))



class ForkHandler(ManagedHandler):
    """``/api/collaboration/fork/{roomId}``: the reference's fork API, over in-memory copies.

    ``GET`` lists the forks of a room, ``PUT`` makes one (``{"title", "description", "synchronize"}``;
    a fork is a room of its own, ``{format}:{type}:{fileId}`` of the original with a fork id), ``DELETE
    /fork/{forkId}?merge=true`` merges it back (CRDT merge: a fork shares the original's history) and
    drops it.
    """

    @web.authenticated
    @authorized("read")
    async def get(self, root_id: str) -> None:
        self.finish(self.manager.forks_of(root_id))

    @web.authenticated
    @authorized("write")
    async def put(self, root_id: str) -> None:
        root = await self._room(root_id)
        body = self.get_json_body() or {}
        if not isinstance(body, dict):
            raise web.HTTPError(400, 'expected {"title", "description", "synchronize"}')
        title, description = body.get("title", ""), body.get("description", "")
        if not isinstance(title, str) or not isinstance(description, str):
            raise web.HTTPError(400, "a fork's title and description are strings")
        cap = self.manager.settings.fork_cap
        if len(self.manager.forks) >= cap:
            # Forks live until a client deletes them (a joined fork holds someone's edits): refuse more.
            raise web.HTTPError(429, f"{len(self.manager.forks)} forks are open on this server (the cap, "
                                f"CrdtExtension.fork_cap, is {cap}): delete one first "
                                "(DELETE /api/collaboration/fork/FORK_ID)")
        fork_id = uuid.uuid4().hex
        synchronize = bool(body.get("synchronize", False))
        info = {
            "root_roomid": root_id,
            "synchronize": synchronize,
            "title": title,
            "description": description,
        }
        fork = self.manager.fork(root, fork_id, synchronize, info)
        try:
            await fork.initialize()
        except BaseException:
            await self.manager.drop_fork(fork_id)
            raise
        self.manager.events.fork(fork_id, info, user_name(self), "create")
        self.set_status(201)
        self.finish(json.dumps({"sessionId": fork.session_id, "fork_roomid": fork_id, "fork_info": info}))

    @web.authenticated
    @authorized("write")
    async def delete(self, fork_id: str) -> None:
        info = self.manager.fork_infos.get(fork_id)
        fork = self.manager.forks.get(fork_id)
        if info is None or fork is None:
            self.set_status(404)
            self.finish({"code": 404, "error": "Fork room not found"})
            return
        if self.get_query_argument("merge", "false") == "true":
            root = await self._room(info["root_roomid"])
            root.doc.apply_update(fork.doc.encode_state_as_update(root.doc.encode_state_vector()),
                                  origin=user_name(self))
        await self.manager.drop_fork(fork_id)
        self.manager.events.fork(fork_id, info, user_name(self), "delete")
        self.set_status(200)
        self.finish(json.dumps({"status": "deleted"}))

    async def _room(self, room_id: str) -> Room:
        try:
            file_format, file_type, file_id = room_id.split(":", 2)
            return await self.manager.get(file_format, file_type, file_id)
        except (ValueError, LookupError, FileGone):
            raise web.HTTPError(404, "Root room not found") from None


class TimelineHandler(ManagedHandler):
    """``GET /api/collaboration/timeline/{path}?format=&type=``: the document's versions, for
    JupyterLab's timeline slider.

    Answers ``{"roomId", "timestamps", "forkRoom", "sessionId"}``: one timestamp per recorded change,
    and a *timeline room* (a read-only copy the slider's client connects to). ``undo_redo`` moves that
    copy through the versions; ``restore`` makes the room's current content the version shown (a new
    change, so nothing is lost: the versions after it stay in the history).
    """

    @web.authenticated
    @authorized("read")
    async def get(self, path: str) -> None:
        path = api_path(path)
        file_format = self.get_query_argument("format")
        file_type = self.get_query_argument("type")
        file_id = self.file_id_manager.get_id(path) or self.file_id_manager.index(path)
        if file_id is None:
            raise web.HTTPError(404, "Room not found")
        try:
            room = await self.manager.get(file_format, file_type, file_id)
        except (LookupError, FileGone):
            raise web.HTTPError(404, "Room not found") from None
        timeline = await self.manager.timeline(room)
        self.finish(json.dumps({
            "roomId": room.room_id,
            "timestamps": timeline.timestamps,
            "forkRoom": timeline.room_id,
            "sessionId": timeline.session_id,
        }))


class UndoRedoHandler(ManagedHandler):
    """``PUT /api/collaboration/undo_redo/{roomId}?action=undo|redo|restore&steps=N&forkRoom=ID``."""

    @web.authenticated
    @authorized("read")
    async def put(self, room_id: str) -> None:
        action = self.get_query_argument("action", "")
        fork_id = self.get_query_argument("forkRoom", "")
        try:
            steps = int(self.get_query_argument("steps", "1") or 1)
        except ValueError:
            raise web.HTTPError(400, "steps must be an integer") from None
        timeline = self.manager.timelines.get(fork_id)
        if timeline is None:
            self.set_status(404)
            self.finish({"code": 404, "error": "Fork document not found"})
            return
        if action in ("undo", "redo"):
            try:
                moved = await timeline.move(-steps if action == "undo" else steps)
            except LookupError:
                self.set_status(404)
                self.finish({"code": 404, "error": "Fork document not found"})
                return
            if not moved:
                self.finish({"error": f"No more {action} operations available"})
                return
            self.finish({"status": "undone" if action == "undo" else "redone"})
        elif action == "restore":
            if not await can(self, "write"):
                raise web.HTTPError(403)
            try:
                await timeline.restore(user_name(self))
            except LookupError:
                self.set_status(404)
                self.finish({"code": 404, "error": "Fork document not found"})
                return
            await self.manager.drop_timeline(fork_id)
            self.finish({"code": 200, "status": "Document restored successfully"})
        else:
            raise web.HTTPError(400, f"unknown action {action!r}")

