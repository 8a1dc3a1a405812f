"""The y-protocols sync conversation, in y-websocket frames.

A *frame* (one websocket message) is a varuint outer type and a body:

======  ================  ================================================================
type    kind              body
======  ================  ================================================================
0       sync              varuint sync type (0 step 1, 1 step 2, 2 update), then varbytes
1       awareness         varbytes holding an awareness update (see :mod:`crdt.awareness`)
2       auth              varuint 0 (permission denied), then a varstring reason
3       query awareness   nothing; the answer is an awareness message with every known state
======  ================  ================================================================

Every ``encode_*`` function returns one complete frame holding one message, which is what peers send.
:func:`read_messages` accepts several messages in one frame, as current y-websocket does.

The conversation: on connecting, each side sends step 1 (its state vector); a side receiving step 1
answers step 2 (everything the other lacks); receiving step 2 means *synced*; from then on every local
update is forwarded as an update message. :func:`handle_sync_message` answers one message;
:class:`SyncSession` runs the whole conversation for one connection, awareness included.

Malformed frames raise :class:`~crdt.errors.DecodeError` before anything is applied.
"""

from __future__ import annotations

import enum
from collections.abc import Callable
from dataclasses import dataclass
from typing import TYPE_CHECKING, Any, Protocol

from .decoding import Decoder
from .encoding import Encoder, var_uint
from .errors import DecodeError

if TYPE_CHECKING:
    from .awareness import Awareness, AwarenessChanges

#: Outer frame types (y-websocket).
MESSAGE_SYNC = 0
MESSAGE_AWARENESS = 1
MESSAGE_AUTH = 2
MESSAGE_QUERY_AWARENESS = 3

#: Sync message types (y-protocols ``sync.js``).
SYNC_STEP1 = 0
SYNC_STEP2 = 1
SYNC_UPDATE = 2

#: Auth sub-type (y-protocols ``auth.js``).
AUTH_PERMISSION_DENIED = 0


class MessageKind(enum.Enum):
    """What one message in a frame is."""

    SYNC_STEP1 = "sync_step1"
    """Payload: the sender's state vector."""
    SYNC_STEP2 = "sync_step2"
    """Payload: an update holding what the receiver lacked."""
    SYNC_UPDATE = "sync_update"
    """Payload: an incremental update."""
    AWARENESS = "awareness"
    """Payload: an awareness update."""
    QUERY_AWARENESS = "query_awareness"
    """No payload: answer with every known awareness state."""
    PERMISSION_DENIED = "permission_denied"
    """No payload; :attr:`Message.reason` says why."""
    CUSTOM = "custom"
    """A message type this module does not know (an application's own, such as Jupyter's ``save``).
    :attr:`Message.custom_type` is its outer type and the payload is the rest of the frame."""


_SYNC_KINDS = {
    SYNC_STEP1: MessageKind.SYNC_STEP1,
    SYNC_STEP2: MessageKind.SYNC_STEP2,
    SYNC_UPDATE: MessageKind.SYNC_UPDATE,
}
_SYNC_TYPES = {kind: n for n, kind in _SYNC_KINDS.items()}


@dataclass(frozen=True)
class Message:
    """One message read from a frame."""

    kind: MessageKind
    payload: bytes | memoryview = b""
    """The message body; a sync payload of 1 MiB or more is a read-only memoryview into the frame."""
    reason: str | None = None
    """The reason of a :attr:`MessageKind.PERMISSION_DENIED` message."""
    custom_type: int | None = None
    """The outer type of a :attr:`MessageKind.CUSTOM` message."""


class SyncDoc(Protocol):
    """What sync needs from a document (:class:`crdt.Doc` provides it)."""

    def encode_state_vector(self) -> bytes: ...

    def encode_state_as_update(self, state_vector: bytes | None = None) -> bytes: ...

    def apply_update(self, update: bytes, origin: Any = None) -> None: ...

    def observe_updates(self, callback: Callable[[bytes, Any], None]) -> Any: ...

    def unobserve_updates(self, callback: Callable[[bytes, Any], None]) -> None: ...


# -- writing -------------------------------------------------------------------------------------


def _sync_frame(sync_type: int, payload: bytes | memoryview) -> bytes:
    # One copy of the payload (a join), not two (an encoder's buffer, then bytes of it): big updates.
    return b"".join((var_uint(MESSAGE_SYNC), var_uint(sync_type), var_uint(len(payload)), payload))


def encode_sync_step1(state_vector: bytes) -> bytes:
    """A frame opening the sync: ``state_vector`` is the sender's (``doc.encode_state_vector()``)."""
    return _sync_frame(SYNC_STEP1, state_vector)


def encode_sync_step2(update: bytes) -> bytes:
    """A frame answering step 1 with ``doc.encode_state_as_update(their_state_vector)``."""
    return _sync_frame(SYNC_STEP2, update)


def encode_sync_update(update: bytes) -> bytes:
    """A frame forwarding one incremental update."""
    return _sync_frame(SYNC_UPDATE, update)


def encode_awareness_message(awareness_update: bytes | memoryview) -> bytes:
    """A frame carrying an awareness update (from :meth:`crdt.awareness.Awareness.encode_update`)."""
    enc = Encoder()
    enc.write_var_uint(MESSAGE_AWARENESS)
    enc.write_var_bytes(awareness_update)
    return enc.to_bytes()


def encode_query_awareness() -> bytes:
    """A frame asking the peer for every awareness state it knows."""
    return bytes([MESSAGE_QUERY_AWARENESS])


def encode_permission_denied(reason: str) -> bytes:
    """A frame telling the peer it may not access the document, and why."""
    enc = Encoder()
    enc.write_var_uint(MESSAGE_AUTH)
    enc.write_var_uint(AUTH_PERMISSION_DENIED)
    enc.write_var_string(reason)
    return enc.to_bytes()


def encode_message(message: Message) -> bytes:
    """The frame holding ``message`` alone: the inverse of :func:`read_messages`."""
    kind = message.kind
    if kind in _SYNC_TYPES:
        return _sync_frame(_SYNC_TYPES[kind], message.payload)
    if kind is MessageKind.AWARENESS:
        return encode_awareness_message(message.payload)
    if kind is MessageKind.QUERY_AWARENESS:
        return encode_query_awareness()
    if kind is MessageKind.PERMISSION_DENIED:
        return encode_permission_denied(message.reason or "")
    if message.custom_type is None:
        raise ValueError("a custom message needs its custom_type")
    enc = Encoder()
    enc.write_var_uint(message.custom_type)
    enc.write_bytes(message.payload)
    return enc.to_bytes()


# -- reading -------------------------------------------------------------------------------------


def read_messages(frame: bytes) -> list[Message]:
    """Decode every message in ``frame``, in order.

    The whole frame is decoded before anything is returned, so a malformed frame raises
    :class:`~crdt.errors.DecodeError` (truncated, empty, unknown sync type) and nothing in it gets
    handled. Payloads are not looked into: a bad update is reported when it is applied.

    A message of unknown outer type, or an auth message of unknown sub-type, is returned as
    :attr:`MessageKind.CUSTOM` holding the rest of the frame, and ends the frame. Jupyter's
    collaboration server uses outer type 2 for its ``save`` message (varstring ``"save"``, varuint
    id); it arrives as a custom message of type 2 whose payload starts with that varstring.
    """
    dec = Decoder(frame)
    if not dec.has_content():
        raise DecodeError("empty frame")
    messages: list[Message] = []
    while dec.has_content():
        outer = dec.read_var_uint()
        if outer == MESSAGE_SYNC:
            sync_type = dec.read_var_uint()
            kind = _SYNC_KINDS.get(sync_type)
            if kind is None:
                raise DecodeError(f"unknown sync message type {sync_type}")
            # A big update stays a view into the frame: decoding it copies nothing.
            messages.append(Message(kind, dec.read_var_view()))
        elif outer == MESSAGE_AWARENESS:
            messages.append(Message(MessageKind.AWARENESS, dec.read_var_bytes()))
        elif outer == MESSAGE_QUERY_AWARENESS:
            messages.append(Message(MessageKind.QUERY_AWARENESS))
        else:
            body = dec.pos
            if outer == MESSAGE_AUTH and dec.read_var_uint() == AUTH_PERMISSION_DENIED:
                messages.append(Message(MessageKind.PERMISSION_DENIED, reason=dec.read_var_string()))
                continue
            dec.pos = body
            rest = dec.read_bytes(dec.remaining())
            messages.append(Message(MessageKind.CUSTOM, rest, custom_type=outer))
    return messages


# -- answering -----------------------------------------------------------------------------------


def handle_sync_message(
    doc: SyncDoc, kind: MessageKind, payload: bytes | memoryview, origin: Any = None
) -> bytes | None:
    """Act on one sync message and return the frame to send back, if any.

    Step 1 is answered with step 2 (``doc.encode_state_as_update(payload)``); step 2 and update are
    applied with ``doc.apply_update(payload, origin=origin)`` and need no answer. Unlike y-protocols,
    which logs and swallows errors from applying, a malformed payload raises
    :class:`~crdt.errors.DecodeError` (and leaves the document unchanged), so the caller can close
    the connection.
    """
    # A payload of 1 MiB or more is a memoryview into the frame (no copy); Doc reads any bytes-like
    # input, though SyncDoc (matching crdt.Doc's annotations) says bytes.
    if kind is MessageKind.SYNC_STEP1:
        return encode_sync_step2(doc.encode_state_as_update(payload))  # type: ignore[arg-type]
    if kind is MessageKind.SYNC_STEP2 or kind is MessageKind.SYNC_UPDATE:
        doc.apply_update(payload, origin=origin)  # type: ignore[arg-type]
        return None
    raise ValueError(f"{kind} is not a sync message")


class SyncSession:
    """One end of a y-websocket connection: sync, update forwarding and (optionally) awareness.

    ``send`` is called with each outgoing frame. Changes arriving through this session are applied
    with ``origin`` (default: the session itself) and are not echoed back; every other document
    update and awareness update is forwarded. The same class serves a client (one session) and a
    server room (one session per connection, sharing one document and one awareness).

    Call :meth:`start` once connected, :meth:`receive` with each incoming frame and :meth:`close`
    when the connection ends.
    """

    def __init__(
        self,
        doc: SyncDoc,
        send: Callable[[bytes], None],
        *,
        awareness: Awareness | None = None,
        origin: Any = None,
        custom_handler: Callable[[Message], None] | None = None,
    ) -> None:
        self.doc = doc
        self.awareness = awareness
        self.origin: Any = self if origin is None else origin
        self.synced = False
        """True once the peer's step 2 has been applied."""
        self.permission_denied: str | None = None
        """The reason, once the peer has denied us access."""
        self.controlled_clients: set[int] = set()
        """Awareness clients whose states arrived through this session (removed on :meth:`close`)."""
        self._send = send
        self._custom_handler = custom_handler
        self._closed = False
        doc.observe_updates(self._on_doc_update)
        if awareness is not None:
            awareness.observe_update(self._on_awareness_update)

    def start(self) -> None:
        """Open the conversation: send step 1, then every awareness state we hold (if any).

        For a client that is its own state; for a server, the states of everyone in the room.
        """
        self._send(encode_sync_step1(self.doc.encode_state_vector()))
        aw = self.awareness
        if aw is not None and aw.states:
            self._send(encode_awareness_message(aw.encode_update()))

    def receive(self, frame: bytes) -> None:
        """Handle every message of an incoming frame, sending answers through ``send``.

        The frame is decoded first, so a malformed frame raises :class:`~crdt.errors.DecodeError`
        before anything is applied. A malformed payload (an update or awareness update) also raises
        DecodeError when its turn comes; messages before it in the same frame stay applied.
        Unknown messages go to ``custom_handler`` or are ignored.
        """
        if self._closed:
            raise RuntimeError("session is closed")
        for message in read_messages(frame):
            kind = message.kind
            if kind in _SYNC_TYPES:
                reply = handle_sync_message(self.doc, kind, message.payload, self.origin)
                if reply is not None:
                    self._send(reply)
                if kind is MessageKind.SYNC_STEP2:
                    self.synced = True
            elif kind is MessageKind.AWARENESS:
                if self.awareness is not None:
                    self.awareness.apply_update(message.payload, self.origin)
            elif kind is MessageKind.QUERY_AWARENESS:
                aw = self.awareness
                if aw is not None:
                    self._send(encode_awareness_message(aw.encode_update()))
            elif kind is MessageKind.PERMISSION_DENIED:
                self.permission_denied = message.reason
            elif self._custom_handler is not None:
                self._custom_handler(message)

    def close(self) -> None:
        """Stop forwarding, and forget the awareness states this connection brought in."""
        if self._closed:
            return
        self._closed = True
        self.doc.unobserve_updates(self._on_doc_update)
        aw = self.awareness
        if aw is not None:
            aw.unobserve(self._on_awareness_update)
            if self.controlled_clients:
                aw.remove_states(sorted(self.controlled_clients), self.origin)
        self.controlled_clients.clear()

    def _on_doc_update(self, update: bytes, origin: Any) -> None:
        if origin is not self.origin and not self._closed:
            self._send(encode_sync_update(update))

    def _on_awareness_update(self, changes: AwarenessChanges, origin: Any) -> None:
        clients = changes["added"] + changes["updated"] + changes["removed"]
        if origin is self.origin:
            aw = self.awareness
            own = None if aw is None else aw.client_id
            self.controlled_clients.update(c for c in changes["added"] + changes["updated"] if c != own)
            self.controlled_clients.difference_update(changes["removed"])
            if own in changes["updated"] and aw is not None:
                # The peer tried to remove our live state; tell it we are still here.
                self._send(encode_awareness_message(aw.encode_update([own])))
            return
        if self.awareness is not None and not self._closed:
            self._send(encode_awareness_message(self.awareness.encode_update(clients)))


__all__ = [
    "Message",
    "MessageKind",
    "SyncDoc",
    "SyncSession",
    "encode_awareness_message",
    "encode_message",
    "encode_permission_denied",
    "encode_query_awareness",
    "encode_sync_step1",
    "encode_sync_step2",
    "encode_sync_update",
    "handle_sync_message",
    "read_messages",
]
