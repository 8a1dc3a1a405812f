"""Encoding documents (or parts of them) as v1 updates and state vectors."""

from __future__ import annotations

from typing import Any

from .encoding import Encoder, utf8
from .store import StructStore, find_index
from .structs.contents import ContentDeleted, ContentString
from .structs.item import Item


def write_structs(enc: Encoder, store: StructStore, sv: dict[int, int]) -> None:
    """Write every struct the holder of state vector ``sv`` is missing, clients in descending order."""
    clients = store.clients
    todo = []
    for client, structs in clients.items():
        if not structs:
            continue
        known = sv.get(client, 0)
        last = structs[-1]
        if last.clock + last.length > known:
            todo.append((client, known))
    enc.write_var_uint(len(todo))
    todo.sort(reverse=True)
    for client, clock in todo:
        structs = clients[client]
        clock = max(clock, structs[0].clock)
        start = find_index(structs, clock)
        enc.write_var_uint(len(structs) - start)
        enc.write_var_uint(client)
        enc.write_var_uint(clock)
        first = structs[start]
        first.write(enc, clock - first.clock)
        if start + 1 < len(structs):
            _write_whole_structs(enc, structs, start + 1)


def _write_whole_structs(enc: Encoder, structs: list, start: int) -> None:
    """``structs[start:]`` written whole: what ``struct.write(enc, 0)`` writes for each.

    A full state is mostly text and deleted runs placed by an origin: those are written inline here
    (no method call per struct and per number); anything else goes through its own ``write``.
    """
    buf = enc.buf
    append = buf.append
    wv = enc.write_var_uint
    string = ContentString
    deleted = ContentDeleted
    content: Any  # None only when origin is None, which takes the generic write below
    for i in range(start, len(structs)):
        s = structs[i]
        origin = s.origin if s.__class__ is Item else None
        content = s.content if origin is not None else None
        cc = content.__class__
        if origin is None or (cc is not string and cc is not deleted) or s.parent_sub is not None:
            s.write(enc, 0)
            continue
        ro = s.right_origin
        # What Item.write writes when the item has an origin: no parent, then the content.
        if ro is None:
            append(cc.ref | 0x80)
        else:
            append(cc.ref | 0xC0)
        n = origin[0]
        if n < 0x80:
            append(n)
        else:
            wv(n)
        n = origin[1]
        if n < 0x80:
            append(n)
        else:
            wv(n)
        if ro is not None:
            n = ro[0]
            if n < 0x80:
                append(n)
            else:
                wv(n)
            n = ro[1]
            if n < 0x80:
                append(n)
            else:
                wv(n)
        if cc is string:
            text = content.s
            b = text.encode() if text.isascii() else utf8(text)
            n = len(b)
            if n < 0x80:
                append(n)
            else:
                wv(n)
            buf += b
        else:
            n = content.len
            if n < 0x80:
                append(n)
            else:
                wv(n)


def encode_state_vector(sv: dict[int, int]) -> bytes:
    """A v1 state vector, clients in descending order."""
    enc = Encoder()
    enc.write_var_uint(len(sv))
    for client in sorted(sv, reverse=True):
        enc.write_var_uint(client)
        enc.write_var_uint(sv[client])
    return enc.to_bytes()
