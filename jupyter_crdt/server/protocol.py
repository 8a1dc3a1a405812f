"""The wire between a room and its peers, beside the Yjs sync protocol (:mod:`crdt.sync`): the JSON
channel (message type 2: save requests, acks, errors), websocket close codes, what a peer is, and the
shape of room ids. Shared by the rooms and the websocket handlers."""

from __future__ import annotations

import json
from typing import Protocol

import crdt

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

#: Outgoing bytes of a peer above which the room waits before handling its next message.
OUTGOING_LOW_WATER = 1 << 20

#: The room JupyterLab's collaborators panel joins for server-wide presence (no document).
GLOBAL_AWARENESS_ROOM = "JupyterLab:globalAwareness"


class Peer(Protocol):
    """One connection to a room (a websocket, or a test double).

    A peer may also have ``outgoing`` (bytes sent and not yet written to its socket) and an async
    ``drained()`` (returns once they are below :data:`OUTGOING_LOW_WATER`, or the peer is closed): the
    room then handles its messages with flow control (:mod:`jupyter_crdt.server.room`)."""

    author: str
    """Who edits through this connection (the identity provider's username)."""
    can_write: bool

    def send(self, frame: bytes) -> None: ...

    def close(self, code: int, reason: str) -> None: ...


def encode_json_message(message: dict) -> bytes:
    """A frame on the JSON channel (type 2, varstring JSON), as the reference server sends."""
    enc = crdt.Encoder()
    enc.write_var_uint(MESSAGE_JSON)
    enc.write_var_string(json.dumps(message))
    return enc.to_bytes()


def decode_save_request(payload: bytes) -> int | None:
    """The request id of a JSON-channel payload (after its type) that asks for a save, as JupyterLab
    sends it (varstring ``"save"``, varuint id); None for any other message. Raises
    :class:`crdt.DecodeError` for a malformed one."""
    dec = crdt.Decoder(payload)
    if dec.read_var_string() != "save":
        return None
    return dec.read_var_uint()


def parse_room_id(room_id: str) -> tuple[str, str, str]:
    """(format, type, file id) of a document room id ``format:type:fileId`` (no branch); ``LookupError``
    for anything else."""
    try:
        file_format, file_type, file_id = room_id.split(":", 2)
    except ValueError:
        raise LookupError(f"bad room id {room_id!r}") from None
    return file_format, file_type, file_id


def is_sidecar_name(path: str) -> bool:
    """Whether an API path is named like a history (``.NAME.crdt``, as ``histories.is_sidecar`` says, which
    is not imported here: it needs nbformat) or an old text history log (``.NAME.crdtlog``)."""
    name = path.rsplit("/", 1)[-1]
    return name.startswith(".") and any(name.endswith(suffix) and len(name) > len(suffix) + 1
                                        for suffix in (".crdt", ".crdtlog"))


#: An update holding nothing (what a peer with nothing new sends as its step 2).
EMPTY_UPDATE = b"\x00\x00"
#: A state vector naming no client: a step 1 with it asks a peer for its whole document.
EMPTY_STATE_VECTOR = b"\x00"
