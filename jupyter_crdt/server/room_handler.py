"""``/api/collaboration/room/{format}:{type}:{fileId}``: the websocket of one peer of a room.

The protocol of JupyterLab's reference server (so ``@jupyter/docprovider`` works as is): y-protocols sync
and awareness, and the JSON channel (type 2: ``save`` requests and replies, durable acks, errors);
``…{fileId}@{branch}`` is the room of a branch of the notebook's history
(:mod:`jupyter_crdt.server.branches`). Close codes: 4404 the file (or branch) does not exist, 4400 a
document type that is not served, 4409 a history another process holds, 1007 malformed input, 1009 a
frame over ``max_message_size`` (tornado), 1008 a peer that does not read what it is sent
(``outgoing_cap``), 4500 a server error while loading, 1011 an error handling a message.

The handler is the room's :class:`~jupyter_crdt.server.protocol.Peer`: it authenticates, decides whether the
connection may write (``write`` on ``contents``, and a document writable on disk), hands each frame to
the room and holds back the peer's input while what the room sends it is not written out.
"""

from __future__ import annotations

import asyncio
import contextlib
from collections.abc import Awaitable
from typing import Any

from jupyter_server.auth.decorator import ws_authenticated
from jupyter_server.base.handlers import JupyterHandler
from jupyter_server.base.websocket import WebSocketMixin
from tornado import web
from tornado.iostream import StreamClosedError
from tornado.websocket import WebSocketClosedError, WebSocketHandler, WebSocketProtocol13

import crdt
from jupyter_crdt.server.branches import BadBranchName, UnknownBranch
from jupyter_crdt.server.handler_base import AUTH_RESOURCE, can, user_name
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

#: Close reasons must fit in a control frame (123 bytes of UTF-8).
_MAX_REASON = 120


def _reason(text: str) -> str:
    data = text.encode("utf-8")[:_MAX_REASON]
    return data.decode("utf-8", "ignore")


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
        if not await can(self, "read"):
            raise web.HTTPError(403)
        self.can_write = await can(self, "write")
        self.author = user_name(self)
        await super().get(*args, **kwargs)

    async def open(self, room_id: str) -> None:
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

