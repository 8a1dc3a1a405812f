"""Decoding v1 updates and state vectors into structs that are not yet part of any document.

Everything is validated here, before a document is touched: a malformed update raises
:class:`~crdt.errors.DecodeError` and nothing has changed.
"""

from __future__ import annotations

from .decoding import Decoder
from .delete_set import DeleteSet
from .encoding import MAX_SAFE_INTEGER
from .errors import DecodeError
from .structs.contents import ContentString, read_content, utf16_len
from .structs.item import GC, Item, Skip


def read_update(data: bytes) -> tuple[dict[int, list], DeleteSet]:
    """Read a whole v1 update: structs per client (in clock order) and the delete set."""
    if not isinstance(data, (bytes, bytearray, memoryview)):
        raise TypeError("an update must be bytes")
    dec = Decoder(bytes(data))
    try:
        clients = _read_structs(dec)
        ds = DeleteSet.read(dec)
    except DecodeError:
        raise
    except (RecursionError, MemoryError, OverflowError) as e:  # pragma: no cover - defensive
        raise DecodeError(f"malformed update: {e}") from None
    return clients, ds


def _read_structs(dec: Decoder) -> dict[int, list]:
    out: dict[int, list] = {}
    n_clients = dec.read_var_uint()
    if n_clients > dec.remaining():
        raise DecodeError("client count exceeds data")
    rv = dec.read_var_uint
    data = dec.data
    end = dec.end
    for _ in range(n_clients):
        n_structs = rv()
        if n_structs > dec.remaining():
            raise DecodeError("struct count exceeds data")
        client = rv()
        clock = rv()
        structs = out.get(client)
        if structs is None:
            structs = out[client] = []
        elif structs and structs[-1].clock + structs[-1].length > clock:
            raise DecodeError(f"client {client} appears twice with overlapping structs")
        append = structs.append
        for _ in range(n_structs):
            info = dec.read_u8()
            ref = info & 0x1F
            if ref == 0 or ref == 10:
                length = rv()
                if length == 0:
                    raise DecodeError("empty struct")
                append((GC if ref == 0 else Skip)(client, clock, length))
                clock += length
                continue
            origin = (rv(), rv()) if info & 0x80 else None
            right_origin = (rv(), rv()) if info & 0x40 else None
            parent = None
            parent_sub = None
            if not info & 0xC0:
                if rv() == 1:
                    parent = dec.read_var_string()
                else:
                    parent = (rv(), rv())
                    if parent[0] == client and parent[1] >= clock:
                        raise DecodeError("item is its own ancestor")
                if info & 0x20:
                    parent_sub = dec.read_var_string()
            if ref == 4:
                # Strings are most of what documents hold: read them inline.
                n = rv()
                pos = dec.pos
                stop = pos + n
                if stop > end:
                    raise DecodeError("unexpected end of data")
                dec.pos = stop
                try:
                    text = data[pos:stop].decode("utf-8")
                except UnicodeDecodeError as e:
                    raise DecodeError(f"invalid UTF-8 in string: {e.reason}") from None
                length = n if n == len(text) else utf16_len(text)
                if length == 0:
                    raise DecodeError("empty string content")
                content = ContentString(text)
            else:
                content, length = read_content(dec, ref)
            if origin is not None and origin[0] == client and origin[1] >= clock:
                raise DecodeError("item's origin is not before it")
            if right_origin is not None and right_origin[0] == client and right_origin[1] >= clock:
                raise DecodeError("item's right origin is not before it")
            append(Item(client, clock, length, origin, right_origin, None, None, parent, parent_sub, content))
            clock += length
        if clock > MAX_SAFE_INTEGER:
            raise DecodeError("clock out of range")
    return out


def decode_state_vector(data: bytes) -> dict[int, int]:
    """Decode a v1 state vector (client -> next expected clock)."""
    dec = Decoder(bytes(data))
    n = dec.read_var_uint()
    if n > dec.remaining():
        raise DecodeError("state vector count exceeds data")
    sv = {}
    for _ in range(n):
        client = dec.read_var_uint()
        sv[client] = dec.read_var_uint()
    return sv
