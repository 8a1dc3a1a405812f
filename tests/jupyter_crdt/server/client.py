"""A collaboration client built on our engine (``crdt`` + ``crdt.sync``), as JupyterLab's would be.

It opens a session (``PUT /api/collaboration/session/…``), joins the room over a real websocket and
runs the y-protocols conversation with :class:`crdt.sync.SyncSession`. JSON-channel messages (save
replies, acks, errors) are collected in :attr:`CollabClient.messages`. Every wait has a deadline.
"""

from __future__ import annotations

import asyncio
import base64
import json
import time
from collections.abc import Callable
from typing import Any
from urllib.parse import quote

from tornado.httpclient import AsyncHTTPClient, HTTPClientError, HTTPRequest
from tornado.websocket import WebSocketClosedError, websocket_connect

import crdt
from crdt.awareness import Awareness
from crdt.decoding import Decoder
from crdt.encoding import Encoder
from crdt.sync import Message, SyncSession

from .server import JupyterServer

DEFAULT_TIMEOUT = 30.0


async def wait_until(cond: Callable[[], bool], timeout: float = DEFAULT_TIMEOUT, what: str = "condition",
                     interval: float = 0.01) -> None:
    """Poll ``cond`` until it holds; fail after ``timeout`` seconds."""
    deadline = time.monotonic() + timeout
    while not cond():
        if time.monotonic() > deadline:
            raise AssertionError(f"timed out after {timeout}s waiting for {what}")
        await asyncio.sleep(interval)


async def http(server: JupyterServer, method: str, path: str, body: Any = None,
               token: str = "user-admin") -> tuple[int, Any]:
    request = HTTPRequest(
        server.url + path, method=method, headers={"Authorization": f"token {token}"},
        body=None if body is None else json.dumps(body), allow_nonstandard_methods=True,
        request_timeout=60,
    )
    try:
        response = await AsyncHTTPClient().fetch(request)
        code, raw = response.code, response.body
    except HTTPClientError as e:
        code, raw = e.code, (e.response.body if e.response is not None else b"")
    try:
        return code, json.loads(raw) if raw else None
    except ValueError:
        return code, raw


class CollabClient:
    """One client of one document (see the module docstring)."""

    def __init__(self, server: JupyterServer, path: str, file_type: str = "file", *,
                 token: str = "user-alice", doc: crdt.Doc | None = None, name: str | None = None) -> None:
        self.server = server
        self.path = path
        self.file_type = file_type
        self.file_format = "json" if file_type == "notebook" else "text"
        self.token = token
        self.name = name or token
        self.doc = doc if doc is not None else crdt.Doc()
        self.awareness = Awareness(self.doc)
        self.session_info: dict | None = None
        self.ws: Any = None
        self.sync: SyncSession | None = None
        self.messages: list[dict] = []
        self.closed = False
        self.close_code: int | None = None
        self.close_reason: str | None = None
        self._reader: asyncio.Task | None = None
        self._save_id = 0
        self.frames_received = 0
        self.updates_received = 0
        self.update_frames: list[bytes] = []

    # -- connecting --------------------------------------------------------------------------------

    async def open_session(self) -> dict:
        code, body = await http(self.server, "PUT", f"/api/collaboration/session/{quote(self.path, safe='')}",
                                {"format": self.file_format, "type": self.file_type}, token=self.token)
        if code not in (200, 201):
            raise AssertionError(f"session PUT answered {code}: {body}")
        self.session_info = body
        return body

    async def connect(self, session_id: str | None = None, wait_synced: bool = True,
                      room: str | None = None) -> CollabClient:
        """Join the document's room (or ``room``, e.g. a fork's id) and run the sync."""
        if room is None:
            info = self.session_info or await self.open_session()
            room = f"{info['format']}:{info['type']}:{info['fileId']}"
        else:
            info = self.session_info or {"sessionId": ""}
        sid = session_id if session_id is not None else info["sessionId"]
        url = f"{self.server.ws_url}/api/collaboration/room/{room}?sessionId={sid}&token={self.token}"
        self.ws = await websocket_connect(url, max_message_size=1 << 30)
        self.closed = False
        self.sync = SyncSession(self.doc, self._send, awareness=self.awareness, custom_handler=self._custom)
        self.sync.start()
        self._reader = asyncio.ensure_future(self._read())
        if wait_synced:
            await wait_until(lambda: self.sync.synced or self.closed, what=f"{self.name} to sync")
            if self.closed:
                raise AssertionError(f"{self.name} was closed: {self.close_code} {self.close_reason}")
        return self

    def _send(self, frame: bytes) -> None:
        if not self.closed and self.ws is not None:
            try:
                self.ws.write_message(frame, binary=True)
            except WebSocketClosedError:
                pass  # the reader records the close code and reason

    def send_raw(self, frame: bytes | str) -> None:
        self.ws.write_message(frame, binary=isinstance(frame, bytes))

    async def _read(self) -> None:
        while True:
            msg = await self.ws.read_message()
            if msg is None:
                self.closed = True
                self.close_code = self.ws.close_code
                self.close_reason = self.ws.close_reason
                if self.sync is not None:
                    self.sync.close()
                return
            self.frames_received += 1
            if isinstance(msg, bytes) and msg[:2] == b"\x00\x02":
                self.updates_received += 1
                self.update_frames.append(msg)
            self.sync.receive(msg)

    def _custom(self, message: Message) -> None:
        if message.custom_type != 2:
            return
        text = Decoder(message.payload).read_var_string()
        try:
            self.messages.append(json.loads(text))
        except ValueError:
            self.messages.append({"raw": text})

    async def close(self) -> None:
        if self.ws is not None and not self.closed:
            self.ws.close()
            await wait_until(lambda: self.closed, timeout=10, what=f"{self.name} to close")
        if self._reader is not None:
            self._reader.cancel()

    def disconnect_abruptly(self) -> None:
        """Drop the connection without a close handshake (as a crashed network would)."""
        if self.ws is not None:
            self.ws.stream.close() if getattr(self.ws, "stream", None) else self.ws.close()
        self.closed = True
        if self.sync is not None:
            self.sync.close()
        if self._reader is not None:
            self._reader.cancel()

    # -- the JSON channel --------------------------------------------------------------------------

    async def save(self, timeout: float = DEFAULT_TIMEOUT) -> str:
        self._save_id += 1
        save_id = self._save_id
        enc = Encoder()
        enc.write_var_uint(2)
        enc.write_var_string("save")
        enc.write_var_uint(save_id)
        self._send(enc.to_bytes())
        await wait_until(lambda: any(m.get("type") == "save" and m.get("responseTo") == save_id
                                     for m in self.messages), timeout, "save reply")
        return next(m["status"] for m in self.messages
                    if m.get("type") == "save" and m.get("responseTo") == save_id)

    def acked_state_vector(self) -> dict[int, int]:
        """The newest durable state vector the server acknowledged to us."""
        from crdt.update_decoder import decode_state_vector

        acks = [m for m in self.messages if m.get("type") == "ack"]
        if not acks:
            return {}
        return decode_state_vector(base64.b64decode(acks[-1]["stateVector"]))

    def is_acked(self) -> bool:
        """Whether every edit of ours is covered by an ack."""
        mine = self.doc.state_vector().get(self.doc.client_id, 0)
        return self.acked_state_vector().get(self.doc.client_id, 0) >= mine

    def errors(self) -> list[dict]:
        return [m for m in self.messages if m.get("type") == "error"]

    # -- content -----------------------------------------------------------------------------------

    @property
    def text(self) -> crdt.Text:
        return self.doc.get_text("source")
