"""A kernel's own connection to its notebook's room: an ordinary collaboration client in a thread.

The client opens a session (``PUT /api/collaboration/session/{path}``), joins the room's websocket
(``/api/collaboration/room/{format}:{type}:{fileId}``, with ``@BRANCH`` for a branch room) with the
server's token, and runs the y-protocols conversation (:class:`crdt.sync.SyncSession`) on a
:class:`crdt.Doc` with awareness. It lives on an asyncio loop in a daemon thread, so it keeps
following the room between cells while the kernel's main thread runs user code.

Thread rule: the document is only ever touched on the client's loop thread. Code in the kernel's
thread goes through :meth:`RoomClient.call`, which runs a function there and waits for its result
(with a deadline); :class:`SharedText` wraps a collaborative text that way.

Shared values live in the document's root map ``crdt:shared`` (:data:`SHARED_ROOT`): a JSON-like value
per name, or a :class:`crdt.Text` for a collaborative text. The notebook export reads only ``meta`` and
``cells``, so they never reach the ``.ipynb``.
"""

from __future__ import annotations

import asyncio
import base64
import concurrent.futures
import json
import threading
import time
from collections.abc import Callable
from typing import Any, TypeVar
from urllib.parse import quote

import crdt
from crdt import AWARENESS_CHECK_INTERVAL as CHECK_INTERVAL
from crdt import Awareness, Decoder
from crdt.inspect import ContentType, Item, decode_state_vector, find_item, root_key, type_item
from crdt.sync import Message, SyncSession
from jupyter_crdt.client.kernel_session import ServerError, ServerInfo, api_quote

SHARED_ROOT = "crdt:shared"
#: Seconds a connection may take to sync, and any one call on the loop thread.
CONNECT_TIMEOUT = 30.0
CALL_TIMEOUT = 30.0
#: The author of edits made by the kernel itself (the transaction origin; the server records the user).
KERNEL_ORIGIN = "jupyter_crdt.kernel"

T = TypeVar("T")


class RoomClientError(Exception):
    """The room could not be joined, or the connection is gone."""


class RoomClient:
    """One kernel's connection to one room (a notebook's main room or one of its branch rooms)."""

    def __init__(self, server: ServerInfo, api_path: str, branch: str = "main", *,
                 user: dict[str, Any] | None = None) -> None:
        self.server = server
        self.api_path = api_path
        self.branch = branch
        self.doc = crdt.Doc()
        self.awareness = Awareness(self.doc)
        self.awareness.set_local_state({"user": user or {"name": "kernel", "display_name": "Kernel"}})
        self.room_id = ""
        self.closed = False
        self.close_reason = ""
        self.last_error = ""  # the last frame that could not be handled, and why
        self.refused = ""  # why the server refused an update of ours (a read-only user or file)
        self._loop = asyncio.new_event_loop()
        self._thread = threading.Thread(target=self._loop.run_forever, name=f"crdt-room-{branch}",
                                        daemon=True)
        self._ws: Any = None
        self._sync: SyncSession | None = None
        self._synced = threading.Event()
        self._shared_observers: list[Callable[[dict[str, Any]], None]] = []
        self._acked: dict[int, int] = {}  # the newest durable state vector the server acknowledged

    # -- connecting --------------------------------------------------------------------------------

    def start(self, timeout: float = CONNECT_TIMEOUT) -> RoomClient:
        """Join the room and wait until the document is synced (raises :class:`RoomClientError`)."""
        info = self.server.request("PUT", f"api/collaboration/session/{api_quote(self.api_path)}",
                                   {"format": "json", "type": "notebook"})
        self.room_id = f"{info['format']}:{info['type']}:{info['fileId']}"
        if self.branch != "main":
            self.room_id += f"@{self.branch}"
        session_id = info.get("sessionId", "") if self.branch == "main" else ""
        self._thread.start()
        future = asyncio.run_coroutine_threadsafe(self._connect(session_id), self._loop)
        try:
            future.result(timeout)
        except concurrent.futures.TimeoutError:
            self.close()
            raise RoomClientError(f"joining room {self.room_id} timed out after {timeout:g}s") from None
        except Exception as e:
            self.close()
            raise RoomClientError(f"cannot join room {self.room_id}: {e}") from None
        if not self._synced.wait(timeout) or self.closed:
            reason = self.close_reason or f"no sync within {timeout:g}s"
            if self.last_error:
                reason += f" (last error: {self.last_error})"
            self.close()
            raise RoomClientError(f"room {self.room_id}: {reason}")
        return self

    async def _connect(self, session_id: str) -> None:
        from tornado.httpclient import HTTPRequest
        from tornado.websocket import websocket_connect

        url = (f"{self.server.ws_url}api/collaboration/room/{quote(self.room_id, safe=':@')}"
               f"?sessionId={quote(session_id)}")
        request = HTTPRequest(url, headers={"Authorization": f"token {self.server.token}"})
        self._ws = await websocket_connect(request, max_message_size=1 << 30)
        self._sync = SyncSession(self.doc, self._send, awareness=self.awareness, custom_handler=self._on_json)
        self._sync.start()
        self.doc.get_map(SHARED_ROOT).observe(self._on_shared)
        asyncio.ensure_future(self._read())
        asyncio.ensure_future(self._keep_awareness())

    def _send(self, frame: bytes) -> None:
        if self._ws is not None and not self.closed:
            try:
                self._ws.write_message(frame, binary=True)
            except Exception:  # noqa: BLE001 - the reader notices the close and records why
                pass

    async def _read(self) -> None:
        assert self._sync is not None
        while True:
            try:
                msg = await self._ws.read_message()
            except Exception as e:  # noqa: BLE001 - recorded: the connection is over either way
                msg = None
                self.last_error = f"{type(e).__name__}: {e}"
            if msg is None:
                self.closed = True
                ws = self._ws
                why = f"closed ({ws.close_code} {ws.close_reason or ''})"
                self.close_reason = f"{why} {self.last_error}".strip()
                self._sync.close()
                self._synced.set()  # wake a waiting start(); it sees `closed`
                return
            if isinstance(msg, str):
                continue
            try:
                self._sync.receive(msg)
            except Exception as e:  # noqa: BLE001 - one bad frame never takes the connection down
                self.last_error = f"{type(e).__name__}: {e}"
                continue
            if self._sync.synced:
                self._synced.set()

    def _on_json(self, message: Message) -> None:
        """The JSON channel (type 2): remember the server's durable acknowledgements."""
        if message.custom_type != 2:
            return
        try:
            body = json.loads(Decoder(message.payload).read_var_string())
            if isinstance(body, dict) and body.get("type") == "ack":
                self._acked = decode_state_vector(base64.b64decode(body["stateVector"]))
            elif isinstance(body, dict) and body.get("type") == "error":
                self.refused = str(body.get("message") or body.get("code") or "refused by the server")
        except (ValueError, KeyError, TypeError, crdt.DecodeError):
            return  # not an ack we can read: nothing to remember

    def _is_acked(self) -> bool:
        mine = self.doc.state_vector().get(self.doc.client_id, 0)
        return self._acked.get(self.doc.client_id, 0) >= mine

    def wait_acked(self, timeout: float = CALL_TIMEOUT) -> None:
        """Wait until the server has written every edit of ours durably.

        Raises :class:`RoomClientError` when the server refused an edit (read-only) or gave no
        acknowledgement within ``timeout``."""
        if not self.wait_for(lambda: self._is_acked() or bool(self.refused), timeout):
            raise RoomClientError(f"the server did not confirm the change within {timeout:g}s")
        if self.refused:
            raise RoomClientError(f"the server refused the change: {self.refused}")

    async def _keep_awareness(self) -> None:
        # Awareness states expire after 30 s without renewal; check_timeouts renews ours.
        while not self.closed:
            await asyncio.sleep(CHECK_INTERVAL)
            self.awareness.check_timeouts()

    def close(self) -> None:
        """Leave the room and stop the thread."""
        if self._loop.is_closed():
            return
        self.closed = True

        async def shutdown() -> None:
            for task in asyncio.all_tasks():
                if task is not asyncio.current_task():
                    task.cancel()
            if self._sync is not None:
                self._sync.close()
            if self._ws is not None:
                self._ws.close()

        if self._thread.is_alive():
            try:
                asyncio.run_coroutine_threadsafe(shutdown(), self._loop).result(5)
            except Exception:  # noqa: BLE001 - closing is best effort
                pass
            self._loop.call_soon_threadsafe(self._loop.stop)
            self._thread.join(5)
        if not self._loop.is_running():
            self._loop.close()

    @property
    def alive(self) -> bool:
        return not self.closed and self._thread.is_alive()

    # -- running code against the document ---------------------------------------------------------

    def call(self, fn: Callable[[], T], timeout: float = CALL_TIMEOUT) -> T:
        """Run ``fn()`` on the client's thread (where the document lives) and return its result."""
        if not self.alive:
            raise RoomClientError(f"the connection to room {self.room_id} is closed ({self.close_reason})")

        async def run() -> T:
            return fn()

        return asyncio.run_coroutine_threadsafe(run(), self._loop).result(timeout)

    def set_local_field(self, key: str, value: Any) -> None:
        """Set one field of this kernel's awareness state (e.g. the cell it runs)."""
        self.call(lambda: self.awareness.set_local_state_field(key, value))

    def presence(self) -> list[dict[str, Any]]:
        """Every awareness state in the room except ours: ``{"client", "state", "cell"}``."""

        def collect() -> list[dict[str, Any]]:
            out = []
            for client, state in self.awareness.states.items():
                if client == self.awareness.client_id or not isinstance(state, dict):
                    continue
                out.append({"client": client, "state": state, "cell": _cell_of(self.doc, state)})
            return out

        return self.call(collect)

    # -- shared values -----------------------------------------------------------------------------

    def shared_names(self) -> list[str]:
        return self.call(lambda: sorted(self.doc.get_map(SHARED_ROOT).keys()))

    def get_shared(self, name: str) -> Any:
        """The value shared as ``name``: a plain value, a :class:`SharedText`, or KeyError."""

        def read() -> Any:
            value = self.doc.get_map(SHARED_ROOT)[name]
            if isinstance(value, crdt.Text):
                return SharedText(self, name)
            if isinstance(value, crdt.SharedType):
                return value.to_py()
            return value

        return self.call(read)

    def set_shared(self, name: str, value: Any, *, text: bool = False) -> None:
        """Share ``value`` as ``name``: JSON-like values as they are, ``text`` as a collaborative Text."""
        if text:
            value = str(value)
        else:
            try:
                value = json.loads(json.dumps(value, allow_nan=False))
            except (TypeError, ValueError) as e:
                raise ValueError(f"{name} is not a JSON-like value ({e})") from None

        def write() -> None:
            shared = self.doc.get_map(SHARED_ROOT)
            with self.doc.transact(origin=KERNEL_ORIGIN):
                current = shared.get(name)
                if text and isinstance(current, crdt.Text):
                    if str(current) != value:
                        _replace_text(current, value)
                else:
                    shared[name] = crdt.Text(value) if text else value

        self.call(write)
        self.wait_acked()  # "shared" means the server holds it: others' kernels can read it now

    def observe_shared(self, callback: Callable[[dict[str, Any]], None]) -> None:
        """Call ``callback({name: plain value})`` (on the client's thread) when others change values."""
        self._shared_observers.append(callback)

    def _on_shared(self, event: Any) -> None:
        if getattr(event.transaction, "origin", None) == KERNEL_ORIGIN or not self._shared_observers:
            return
        shared = self.doc.get_map(SHARED_ROOT)
        changed = {}
        for key in getattr(event, "keys_changed", None) or shared.keys():
            if key in shared:
                value = shared[key]
                if not isinstance(value, crdt.Text):
                    changed[key] = value.to_py() if isinstance(value, crdt.SharedType) else value
        if changed:
            for callback in list(self._shared_observers):
                callback(changed)

    def wait_for(self, predicate: Callable[[], bool], timeout: float) -> bool:
        """Poll ``predicate`` on the client's thread until it holds or ``timeout`` passes."""
        deadline = time.monotonic() + timeout
        while True:
            if self.call(predicate):
                return True
            if time.monotonic() > deadline:
                return False
            time.sleep(0.05)


def _replace_text(text: crdt.Text, value: str) -> None:
    """Make ``text`` hold ``value`` with the smallest edit (common prefix and suffix kept)."""
    old = str(text)
    start = 0
    limit = min(len(old), len(value))
    while start < limit and old[start] == value[start]:
        start += 1
    end = 0
    while end < limit - start and old[-1 - end] == value[-1 - end]:
        end += 1
    removed = len(old) - start - end
    # Text positions count UTF-16 units, as Yjs does.
    pos = len(old[:start].encode("utf-16-le")) // 2
    if removed:
        text.delete(pos, len(old[start:len(old) - end].encode("utf-16-le")) // 2)
    inserted = value[start:len(value) - end]
    if inserted:
        text.insert(pos, inserted)


class SharedText:
    """A collaborative text shared in the notebook: ``str(t)`` is its current content, live.

    Edits go through the room (``insert``, ``delete``, ``set``); everyone's kernel sees them.
    """

    def __init__(self, client: RoomClient, name: str) -> None:
        self._client = client
        self.name = name

    def _text(self) -> crdt.Text:
        value = self._client.doc.get_map(SHARED_ROOT).get(self.name)
        if not isinstance(value, crdt.Text):
            raise KeyError(f"{self.name} is no longer a shared text")
        return value

    def _edit(self, fn: Callable[[crdt.Text], None]) -> None:
        def run() -> None:
            with self._client.doc.transact(origin=KERNEL_ORIGIN):
                fn(self._text())

        self._client.call(run)
        self._client.wait_acked()

    def __str__(self) -> str:
        return self._client.call(lambda: str(self._text()))

    def __len__(self) -> int:
        return len(str(self))

    def __eq__(self, other: object) -> bool:
        if isinstance(other, str):
            return str(self) == other
        return self is other

    def __hash__(self) -> int:
        return id(self)

    def __repr__(self) -> str:
        return f"SharedText({self.name!r}, {str(self)!r})"

    def insert(self, index: int, value: str) -> None:
        """Insert ``value`` at character ``index``."""
        self._edit(lambda t: t.insert(index, value))

    def delete(self, index: int, length: int = 1) -> None:
        """Delete ``length`` characters from ``index``."""
        self._edit(lambda t: t.delete(index, length))

    def set(self, value: str) -> None:
        """Make the text ``value`` (the smallest edit)."""
        self._edit(lambda t: _replace_text(t, value))

    def __iadd__(self, value: str) -> SharedText:
        self._edit(lambda t: t.insert(len(t), value))
        return self


def _cell_of(doc: crdt.Doc, state: dict[str, Any]) -> str | None:
    """The id of the cell an awareness state is in: ``cellId`` when a client says so, else the cell
    whose source holds its cursor (JupyterLab's editors publish ``cursors`` as relative positions whose
    ``type`` is the source Text's id)."""
    for key in ("cellId", "activeCellId"):
        if isinstance(state.get(key), str):
            return state[key]
    cursors = state.get("cursors")
    if not isinstance(cursors, list):
        return None
    for cursor in cursors:
        if not isinstance(cursor, dict):
            continue
        for end in ("head", "anchor"):
            pos = cursor.get(end)
            type_id = pos.get("type") if isinstance(pos, dict) else None
            if isinstance(type_id, dict):
                cell = _cell_of_type(doc, type_id.get("client"), type_id.get("clock"))
                if cell:
                    return cell
    return None


def _cell_of_type(doc: crdt.Doc, client: Any, clock: Any) -> str | None:
    if not isinstance(client, int) or not isinstance(clock, int):
        return None
    doc.get_array("cells")  # a root nobody asked for yet is untyped; this types it
    item = find_item(doc, client, clock)
    if not isinstance(item, Item) or not isinstance(item.content, ContentType):
        return None
    node = item.content.type
    # walk up to the cell map (a Map directly inside the root "cells" array)
    for _ in range(8):
        parent_item = type_item(node)
        if parent_item is None:
            return None
        parent = parent_item.parent
        if isinstance(parent, crdt.SharedType) and type_item(parent) is None and root_key(parent) == "cells":
            cid = node.get("id") if isinstance(node, crdt.Map) else None
            return cid if isinstance(cid, str) else None
        if not isinstance(parent, crdt.SharedType):
            return None
        node = parent
    return None


__all__ = ["RoomClient", "RoomClientError", "SharedText", "SHARED_ROOT", "ServerError"]
