"""HTTP and websocket handlers: thin shells over :mod:`jupyter_crdt.server.manager` and its rooms.

The collaboration protocol of JupyterLab's reference server (so ``@jupyter/docprovider`` works as is):

- ``PUT /api/collaboration/session/{path}`` with ``{"format", "type"}`` →
  ``{"format", "type", "fileId", "sessionId", "readOnly"}`` (200 known file, 201 newly indexed, 404 no
  such file). ``sessionId`` is the document's history's (stable across restarts); ``readOnly`` is ours.
- ``/api/collaboration/room/{format}:{type}:{fileId}`` (websocket): y-protocols sync and awareness, the
  JSON channel (type 2: ``save`` requests and replies, durable acks, errors); ``…{fileId}@{branch}`` is
  the room of a branch of the notebook's history (:mod:`jupyter_crdt.server.branches`). Close codes: 4404 the
  file (or branch) does not exist, 4400 a document type that is not served, 1007 malformed input, 1009
  a frame over ``max_message_size`` (tornado), 1008 a peer that does not read what it is sent
  (``outgoing_cap``), 4500 a server error while loading.
- ``/api/collaboration/fork/…``, ``/timeline/…``, ``/undo_redo/…``: see the handlers below.

Our own API lives under ``/api/crdt/`` (``docs/rest-api.md``).

Every handler authenticates, and authorizes on the ``contents`` resource: ``read`` to open a session,
sync and follow a document, ``write`` to change it (checked per connection; a read-only connection's
updates are refused by its room).
"""

from __future__ import annotations

import asyncio
import contextlib
import hashlib
import json
import uuid
from collections.abc import Awaitable
from typing import Any

from jupyter_core.utils import ensure_async
from jupyter_server.auth.decorator import authorized, ws_authenticated
from jupyter_server.base.handlers import APIHandler, JupyterHandler
from jupyter_server.base.websocket import WebSocketMixin
from tornado import web
from tornado.iostream import StreamClosedError
from tornado.websocket import WebSocketClosedError, WebSocketHandler, WebSocketProtocol13

import crdt
from jupyter_crdt.history.blame import CellNotFound, blame_cell
from jupyter_crdt.history.log import summarize
from jupyter_crdt.notebook import diff_notebooks
from jupyter_crdt.server import branches as branches_api
from jupyter_crdt.server.branches import MAIN, BadBranchName, BranchExists, NoBranches, UnknownBranch
from jupyter_crdt.server.loaders import FileGone
from jupyter_crdt.server.manager import RoomManager
from jupyter_crdt.server.protocol import (
    CLOSE_INVALID_DATA,
    CLOSE_LOCKED,
    CLOSE_NOT_FOUND,
    CLOSE_NOT_READING,
    CLOSE_SERVER_ERROR,
    OUTGOING_LOW_WATER,
)
from jupyter_crdt.server.room import Room
from jupyter_crdt.server.stores import StoreLocked

AUTH_RESOURCE = "contents"
#: Close reasons must fit in a control frame (123 bytes of UTF-8).
_MAX_REASON = 120


def _reason(text: str) -> str:
    data = text.encode("utf-8")[:_MAX_REASON]
    return data.decode("utf-8", "ignore")


async def _can(handler: JupyterHandler, action: str) -> bool:
    user = handler.current_user
    if not user:
        return False
    return bool(await ensure_async(handler.authorizer.is_authorized(handler, user, action, AUTH_RESOURCE)))


def _api_path(path: str) -> str:
    """A contents API path: relative, without a leading slash (JupyterLab's timeline sends one)."""
    return path.strip("/")


def _author(handler: JupyterHandler) -> str:
    user = handler.current_user
    return getattr(user, "username", None) or str(user)


class _ManagedHandler(APIHandler):
    auth_resource = AUTH_RESOURCE

    def initialize(self, manager: RoomManager) -> None:
        self.manager = manager

    @property
    def file_id_manager(self) -> Any:
        return self.settings["file_id_manager"]


class SessionHandler(_ManagedHandler):
    """``PUT /api/collaboration/session/{path}``: the ids a client needs to join a document's room."""

    @web.authenticated
    @authorized("read")
    async def put(self, path: str) -> None:
        path = _api_path(path)
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
        writable = await _can(self, "write") and not room.read_only_on_disk
        self.set_status(status)
        self.finish(json.dumps({
            "format": file_format,
            "type": file_type,
            "fileId": file_id,
            "sessionId": room.session_id,
            "readOnly": not writable,
            **({"warnings": room.history_notes} if room.history_notes else {}),
        }))


class _DrainingProtocol(WebSocketProtocol13):
    """tornado's protocol, except that aborting a connection (after a frame over the size limit)
    first reads and discards what the peer is still sending, for a few seconds at most.

    tornado answers an oversized frame with close code 1009 and then closes the socket at once; with
    the rest of the frame unread, the kernel resets the connection and the peer never sees the close
    frame or its reason. Draining first lets the close frame arrive.
    """

    _draining = False

    def _abort(self) -> None:
        stream = self.stream
        if self._draining:
            return  # the drain ends with the real abort
        if stream is None or stream.closed():
            super()._abort()
            return
        self._draining = True
        self.client_terminated = True  # stops tornado's frame loop: we read the rest ourselves
        asyncio.ensure_future(self._drain_then_abort(stream))

    async def _drain_then_abort(self, stream: Any) -> None:
        async def drain() -> None:
            while True:
                await stream.read_bytes(1 << 16, partial=True)

        with contextlib.suppress(StreamClosedError, asyncio.TimeoutError, OSError):
            await asyncio.wait_for(drain(), 5)
        WebSocketProtocol13._abort(self)


class RoomHandler(WebSocketMixin, WebSocketHandler, JupyterHandler):
    """``/api/collaboration/room/{format}:{type}:{fileId}``: one peer of a room."""

    auth_resource = AUTH_RESOURCE

    def initialize(self, manager: RoomManager) -> None:
        self.manager = manager
        self.room: Room | None = None
        self.author = ""
        self.can_write = False
        self._closed = False
        self.outgoing = 0
        """Bytes sent to this peer and not yet written to its socket (see :meth:`send`)."""
        self._drained = asyncio.Event()
        self._drained.set()

    def set_default_headers(self) -> None:
        """JupyterHandler's headers make no sense on a websocket upgrade."""

    def get_compression_options(self) -> Any:
        return self.settings.get("websocket_compression_options", None)

    def get_websocket_protocol(self) -> Any:
        protocol = super().get_websocket_protocol()
        if isinstance(protocol, WebSocketProtocol13):
            return _DrainingProtocol(self, False, protocol.params)
        return protocol

    @ws_authenticated
    async def get(self, *args: Any, **kwargs: Any) -> None:
        if not await _can(self, "read"):
            raise web.HTTPError(403)
        self.can_write = await _can(self, "write")
        self.author = _author(self)
        await super().get(*args, **kwargs)

    async def open(self, room_id: str) -> None:  # type: ignore[override]
        super().open()
        # Small frames, sent as typed: without TCP_NODELAY, Nagle holds a frame while an earlier one is
        # unacknowledged and the peer delays its ACK (40 ms on Linux), which put a 5-40 ms tail on ~18% of
        # the deliveries in benchmarks/server_latency.py.
        self.set_nodelay(True)
        try:
            room = await self.manager.get_by_id(room_id)
        except (FileGone, FileNotFoundError):
            self.close(CLOSE_NOT_FOUND, _reason(f"file of room {room_id} not found"))
            return
        except UnknownBranch as e:
            self.close(CLOSE_NOT_FOUND, _reason(str(e)))
            return
        except (LookupError, BadBranchName) as e:
            self.close(4400, _reason(str(e)))
            return
        except StoreLocked as e:
            self.close(CLOSE_LOCKED, _reason(str(e)))
            return
        except web.HTTPError as e:  # the contents manager refused the path (a directory, ...)
            code = CLOSE_NOT_FOUND if e.status_code == 404 else 4400
            self.close(code, _reason(e.log_message or str(e)))
            return
        except Exception as e:  # noqa: BLE001
            self.log.exception("jupyter_crdt: loading room %s failed", room_id)
            self.close(CLOSE_SERVER_ERROR, _reason(f"error initializing: {e}"))
            return
        if self._closed:
            return
        if room.read_only_on_disk or room.read_only:
            self.can_write = False
        claimed = self.get_query_argument("sessionId", "")
        if claimed and claimed != room.session_id:
            self.log.info("jupyter_crdt: %s joins %s with session %s (current %s): its state will be "
                          "checked and reconciled if foreign", self.author, room_id, claimed, room.session_id)
        self.room = room
        room.join(self)

    def on_message(self, message: str | bytes) -> Awaitable[None] | None:
        room = self.room
        if room is None or self._closed:
            return None
        if isinstance(message, str):
            self.close(CLOSE_INVALID_DATA, "text frames are not part of the protocol")
            return None
        try:
            waiting = room.receive(self, bytes(message))
        except Exception as e:  # noqa: BLE001 - one bad peer never takes the room down
            self._failed(room, e)
            return None
        # The rest of the frame waits for this peer's replies to drain: a coroutine, and tornado reads
        # this peer's next frame only once it returns, so its input is held back too.
        return None if waiting is None else self._finish(room, waiting)

    async def _finish(self, room: Room, waiting: Awaitable[None]) -> None:
        try:
            await waiting
        except Exception as e:  # noqa: BLE001
            self._failed(room, e)

    def _failed(self, room: Room, e: Exception) -> None:
        if isinstance(e, crdt.DecodeError):
            self.log.warning("jupyter_crdt: closing %s's connection to %s: %s", self.author, room.room_id, e)
            self.close(CLOSE_INVALID_DATA, _reason(f"malformed message: {e}"))
        else:
            self.log.error("jupyter_crdt: message from %s to %s failed", self.author, room.room_id,
                           exc_info=e)
            self.close(1011, _reason(f"internal error: {type(e).__name__}"))

    def on_close(self) -> None:
        self._closed = True
        self._drained.set()
        if self.room is not None:
            self.room.leave(self)

    # -- Peer ------------------------------------------------------------------------------------

    def send(self, frame: bytes) -> None:
        """Queue ``frame``; counted in :attr:`outgoing` until tornado has written it to the socket. A
        peer with more than :attr:`RoomSettings.outgoing_cap` queued before this frame is not reading:
        it is closed (1008) with a reason."""
        if self._closed or self.ws_connection is None:
            return
        try:
            written = self.write_message(frame, binary=True)
        except WebSocketClosedError:
            self._closed = True
            self._drained.set()
            return
        size = len(frame)
        self.outgoing += size
        if self.outgoing > OUTGOING_LOW_WATER:
            self._drained.clear()
        written.add_done_callback(lambda f: self._written(f, size))
        cap = self.manager.settings.outgoing_cap
        if self.outgoing - size > cap:  # one frame is always let through (a big document's sync)
            room_id = self.room.room_id if self.room is not None else "?"
            self.log.warning("jupyter_crdt: closing %s's connection to %s: not reading (%d bytes queued, "
                             "cap %d)", self.author, room_id, self.outgoing, cap)
            self.close(CLOSE_NOT_READING, _reason(
                f"not reading: over {cap >> 20} MB of messages queued for this connection; reconnect"))

    def _written(self, future: asyncio.Future, size: int) -> None:
        self.outgoing -= size
        if not future.cancelled():
            future.exception()  # a closed socket is reported by on_close; nothing to log here
        if self.outgoing <= OUTGOING_LOW_WATER:
            self._drained.set()

    async def drained(self) -> None:
        """Return once :attr:`outgoing` is below the low-water mark, or the connection is closed."""
        await self._drained.wait()

    def close(self, code: int | None = None, reason: str | None = None) -> None:
        if self._closed:
            return
        self._closed = True
        self._drained.set()
        if self.room is not None:
            self.room.leave(self)
        super().close(code, reason)

    def __hash__(self) -> int:
        return id(self)

    def __eq__(self, other: object) -> bool:
        return self is other


class ForkHandler(_ManagedHandler):
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
        info = {
            "root_roomid": root_id,
            "synchronize": bool(body.get("synchronize", False)),
            "title": title,
            "description": description,
        }
        fork = self.manager.fork(root, fork_id, info["synchronize"], info)
        try:
            await fork.initialize()
        except BaseException:
            await self.manager.drop_fork(fork_id)
            raise
        self.manager.events.fork(fork_id, info, _author(self), "create")
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
                                  origin=_author(self))
        await self.manager.drop_fork(fork_id)
        self.manager.events.fork(fork_id, info, _author(self), "delete")
        self.set_status(200)
        self.finish(json.dumps({"status": "deleted"}))

    async def _room(self, room_id: str) -> Room:
        try:
            file_format, file_type, file_id = room_id.split(":", 2)
            return await self.manager.get(file_format, file_type, file_id)
        except (ValueError, LookupError, FileGone):
            raise web.HTTPError(404, "Root room not found") from None


class TimelineHandler(_ManagedHandler):
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
        path = _api_path(path)
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


class UndoRedoHandler(_ManagedHandler):
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
            if not await _can(self, "write"):
                raise web.HTTPError(403)
            try:
                await timeline.restore(_author(self))
            except LookupError:
                self.set_status(404)
                self.finish({"code": 404, "error": "Fork document not found"})
                return
            await self.manager.drop_timeline(fork_id)
            self.finish({"code": 200, "status": "Document restored successfully"})
        else:
            raise web.HTTPError(400, f"unknown action {action!r}")


async def _document_room(handler: _ManagedHandler, path: str, branch: str | None = None) -> Room:
    """The room of the document at ``path`` (``?type=`` or its extension tells which kind), on ``branch``
    (default: the ``?branch=`` argument, else ``main``). HTTP errors: 404 no such file or branch, 400 a
    bad branch name or a document without branches."""
    path = _api_path(path)
    if branch is None:
        branch = handler.get_query_argument("branch", MAIN) or MAIN
    file_type = handler.get_query_argument("type", "notebook" if path.endswith(".ipynb") else "file")
    file_format = "json" if file_type == "notebook" else "text"
    file_id = handler.file_id_manager.get_id(path) or handler.file_id_manager.index(path)
    if file_id is None:
        raise web.HTTPError(404, f"File {path!r} does not exist")
    try:
        return await handler.manager.get_branch(file_format, file_type, file_id, branch)
    except (FileGone, FileNotFoundError):
        raise web.HTTPError(404, f"File {path!r} does not exist") from None
    except StoreLocked as e:
        raise web.HTTPError(409, str(e)) from None
    except (BadBranchName, NoBranches) as e:
        raise web.HTTPError(400, str(e)) from None
    except UnknownBranch as e:
        raise web.HTTPError(404, str(e)) from None
    except LookupError as e:
        raise web.HTTPError(400, str(e)) from None


def _int_argument(handler: JupyterHandler, name: str, default: int | None = None) -> int:
    raw = handler.get_query_argument(name, None)
    if raw is None or raw == "":
        if default is None:
            raise web.HTTPError(400, f"expected ?{name}=N")
        return default
    try:
        return int(raw)
    except ValueError:
        raise web.HTTPError(400, f"?{name} must be an integer, not {raw!r}") from None


def _history(room: Room) -> Any:
    """The :class:`crdt.History` a notebook room's changes are in (after closing the open change), or
    None for a document whose history is a plain log (a text file, or a history kept in memory)."""
    try:
        if getattr(room.store, "nh", None) is None:
            return None
    except NoBranches:
        raise web.HTTPError(404, "the notebook's history is closed (the notebook was deleted?)") from None
    room.store.position()  # closes the change being grouped: the history holds every accepted edit
    return room.store.nh.history


def _log_entries(room: Room) -> list[dict]:
    """The changes of the room's branch, oldest first, with their hash and what each did in words."""
    history = _history(room)
    if history is None:
        text_history = getattr(room.store, "document_history", None)
        if text_history is not None:  # a text file's history, in the notebook format: changes have hashes
            from jupyter_crdt.history.text import text_log

            return [{"seq": i + 1, "id": t.change.hash, "author": t.change.author, "time": t.change.time,
                     "size": len(t.change.update), "kind": t.change.kind, "summary": t.text()}
                    for i, t in enumerate(text_log(text_history.history, room.store.position()))]
        return [{"seq": i + 1, "id": hashlib.sha256(r.update).hexdigest(), "author": r.author,
                 "time": r.time, "size": len(r.update), "summary": _text_summary(r.update, i == 0)}
                for i, r in enumerate(room.store.records())]
    summaries = summarize(history, room.store.position())
    return [{"seq": i + 1, "id": s.change.hash, "author": s.change.author, "time": s.change.time,
             "size": len(s.change.update), "kind": s.change.kind, "summary": s.text()}
            for i, s in enumerate(summaries)]


def _text_summary(update: bytes, first: bool) -> str:
    """One line for a text file's change: characters inserted and deleted."""
    from crdt.update_decoder import read_update

    refs, ds = read_update(update)
    inserted = sum(s.length for structs in refs.values() for s in structs if getattr(s, "is_item", False))
    deleted = sum(length for runs in ds.clients.values() for _clock, length in runs)
    if first:
        return f"loaded ({inserted} characters)"
    return f"+{inserted}/-{deleted} characters"


_DIFF_STATUS = {"deleted": "removed"}


def _notebook_only(room: Room, what: str) -> Any:
    history = _history(room) if room.model.type == "notebook" else None
    if history is None:
        raise web.HTTPError(400, f"{what} is available for notebooks with a history on disk")
    return history


class CrdtApiHandler(_ManagedHandler):
    """``/api/crdt/{what}/{path}``: our own API (``docs/rest-api.md``)."""

    @web.authenticated
    @authorized("read")
    async def get(self, what: str, path: str) -> None:
        room = await _document_room(self, path)
        path = _api_path(path)
        if what == "log":
            self.finish(json.dumps({"path": path, "sessionId": room.session_id, "branch": room.branch,
                                    "changes": _log_entries(room)}))
        elif what == "document":
            content = room.model.export(room.doc)
            self.finish(json.dumps({"path": path, "branch": room.branch, "content": content}))
        elif what == "status":
            self.finish(json.dumps({
                "path": path,
                "branch": room.branch,
                "roomId": room.room_id,
                "sessionId": room.session_id,
                "peers": [getattr(p, "author", "") for p in room.peers],
                "changes": len(room.store.records()),
                "dirty": bool(room.doc.get_map("state").get("dirty")),
                "readOnly": room.read_only_on_disk,
                "diskModified": str(room.loader.disk.last_modified) if room.loader else None,
                "historyError": room.history_error,
                "historyWarnings": room.history_notes,
            }))
        elif what == "show":
            seq = _int_argument(self, "seq")
            self.finish(json.dumps({"path": path, "seq": seq, "content": self._content_at(room, seq)}))
        elif what == "diff":
            self.finish(json.dumps(self._diff(room, path)))
        elif what == "blame":
            self.finish(json.dumps(self._blame(room, path)))
        else:
            raise web.HTTPError(404, f"unknown endpoint {what!r}")

    @staticmethod
    def _content_at(room: Room, seq: int) -> Any:
        try:
            return room.content_at(seq)
        except ValueError:
            raise web.HTTPError(404, f"no change {seq} (see /api/crdt/log for the changes)") from None

    def _diff(self, room: Room, path: str) -> dict:
        _notebook_only(room, "diff")
        start = _int_argument(self, "from")
        end = _int_argument(self, "to", 0) if self.get_query_argument("to", "") else None
        before = self._content_at(room, start)
        after = room.model.export(room.doc) if end is None else self._content_at(room, end)
        cells = []
        for d in diff_notebooks(before, after).cells:
            entry: dict[str, Any] = {"id": d.id, "status": _DIFF_STATUS.get(d.op, d.op),
                                     "diff": "\n".join(d.source), "cell_type": d.cell_type}
            if d.fields:
                entry["fields"] = d.fields
            if d.outputs is not None:
                entry["outputs"] = {"before": d.outputs[0], "after": d.outputs[1]}
            cells.append(entry)
        return {"path": path, "from": start, "to": end, "cells": cells}

    def _blame(self, room: Room, path: str) -> dict:
        history = _notebook_only(room, "blame")
        spec = self.get_query_argument("cell", "")
        if not spec:
            raise web.HTTPError(400, "expected ?cell=ID (a cell id, a prefix of one, or an index from 0)")
        try:
            index, info, lines = blame_cell(history, room.doc, spec)
        except CellNotFound as e:
            raise web.HTTPError(404, str(e)) from None
        out = []
        for line in lines:
            d = line.to_dict()
            d.pop("runs", None)
            out.append(d)
        return {"path": path, "cell": info.get("id"), "index": index, "lines": out}

    @web.authenticated
    @authorized("write")
    async def post(self, what: str, path: str) -> None:
        room = await _document_room(self, path)
        if what == "save":
            status = await room.save()
            reply: dict[str, Any] = {"status": status}
            if room.save_problems:
                reply["problems"] = room.save_problems  # what the file lacks (docs/security.md)
            self.finish(json.dumps(reply))
        elif what == "restore":
            body = self.get_json_body() or {}
            try:
                seq = int(body["seq"])
            except (KeyError, TypeError, ValueError):
                raise web.HTTPError(400, "expected {\"seq\": N}") from None
            before = room.model.digest(room.model.export(room.doc))
            try:
                room.restore(seq, _author(self))
            except ValueError:
                raise web.HTTPError(404, f"no change {seq} (see /api/crdt/log for the changes)") from None
            # False: the document already was that version, so nothing happened (the panel says so)
            changed = room.model.digest(room.model.export(room.doc)) != before
            self.finish(json.dumps({"status": "restored", "seq": seq, "branch": room.branch,
                                    "changed": changed}))
        else:
            raise web.HTTPError(404, f"unknown endpoint {what!r}")


class BranchesHandler(_ManagedHandler):
    """``/api/crdt/branches/{path}``: the branches of a notebook's history (``docs/rest-api.md``).

    ``GET`` lists them, ``POST`` with ``{"name", "from"}`` makes one, ``POST …/merge`` with ``{"from",
    "into"}`` merges one into another, ``DELETE ?name=`` forgets one. Branch rooms are joined at
    ``/api/collaboration/room/{format}:{type}:{fileId}@{branch}``.
    """

    @web.authenticated
    @authorized("read")
    async def get(self, path: str) -> None:
        main = await _document_room(self, path, MAIN)
        with self._errors():
            branches = branches_api.list_branches(self.manager, main)
        self.finish(json.dumps({"path": _api_path(path), "branches": branches}))

    @web.authenticated
    @authorized("write")
    async def post(self, path: str) -> None:
        path = _api_path(path)
        merging = path.endswith("/merge")
        if merging:
            path = path[: -len("/merge")]
        body = self.get_json_body() or {}
        if not isinstance(body, dict):
            raise web.HTTPError(400, "expected a JSON object")
        main = await _document_room(self, path, MAIN)
        with self._errors():
            if merging:
                source = body.get("from")
                if not isinstance(source, str) or not source:
                    raise web.HTTPError(400, 'expected {"from": BRANCH, "into": BRANCH}')
                target = body.get("into") or MAIN
                vm = await branches_api.merge_branch(self.manager, main, source, str(target))
                self.finish(json.dumps({"status": "merged", "into": target, "from": source,
                                        **branches_api.merge_report(vm)}))
                return
            name = body.get("name")
            source = body.get("from") or MAIN
            room_id = branches_api.create_branch(self.manager, main, name, str(source))
        self.set_status(201)
        self.finish(json.dumps({"name": name, "roomId": room_id}))

    @web.authenticated
    @authorized("write")
    async def delete(self, path: str) -> None:
        name = self.get_query_argument("name", "")
        if not name:
            raise web.HTTPError(400, "expected ?name=BRANCH")
        main = await _document_room(self, path, MAIN)
        with self._errors():
            await branches_api.delete_branch(self.manager, main, name)
        self.set_status(204)
        self.finish()

    @contextlib.contextmanager
    def _errors(self) -> Any:
        """The branch operations' errors as HTTP errors."""
        try:
            yield
        except (BadBranchName, NoBranches) as e:
            raise web.HTTPError(400, str(e)) from None
        except UnknownBranch as e:
            raise web.HTTPError(404, str(e)) from None
        except BranchExists as e:
            raise web.HTTPError(409, str(e)) from None


def handlers(manager: RoomManager) -> list[tuple[str, type, dict]]:
    """The URL patterns of the extension (relative to the server's base URL)."""
    kw = {"manager": manager}
    return [
        (r"/api/collaboration/session/(.*)", SessionHandler, kw),
        (r"/api/collaboration/room/(.*)", RoomHandler, kw),
        (r"/api/collaboration/fork/(.*)", ForkHandler, kw),
        (r"/api/collaboration/timeline/(.*)", TimelineHandler, kw),
        (r"/api/collaboration/undo_redo/(.*)", UndoRedoHandler, kw),
        (r"/api/crdt/branches/(.*)", BranchesHandler, kw),
        (r"/api/crdt/(log|document|status|save|restore|show|diff|blame)/(.*)", CrdtApiHandler, kw),
    ]


__all__ = ["handlers"]
