"""Working on updates without a document: merge, diff against a state vector, read a state vector."""

from __future__ import annotations

from typing import Iterable

from .delete_set import DeleteSet
from .encoding import Encoder
from .structs.item import GC, Item, Skip
from .update_decoder import decode_state_vector, read_update
from .update_encoder import encode_state_vector


def _slice(s, offset: int):
    """A copy of struct ``s`` without its first ``offset`` clock units."""
    if s.__class__ is Item:
        content = s.content.copy()
        right = content.splice(offset)
        return Item(
            s.client, s.clock + offset, s.length - offset, (s.client, s.clock + offset - 1), s.right_origin,
            None, None, None, s.parent_sub, right,
        )
    return s.__class__(s.client, s.clock + offset, s.length - offset)


def _sort_key(s) -> tuple:
    return (s.clock, s.__class__ is Skip, -s.length)


def _merge_client(structs: list) -> list:
    structs.sort(key=_sort_key)
    out: list = []
    for s in structs:
        if not out:
            out.append(s)
            continue
        last = out[-1]
        end = last.clock + last.length
        if s.clock >= end:
            if s.clock > end:
                out.append(Skip(s.client, end, s.clock - end))
            out.append(s)
            continue
        s_end = s.clock + s.length
        if last.__class__ is Skip and s.__class__ is not Skip:
            # Real content beats a hole: cut the hole around it.
            tail = end - s_end
            last.length = s.clock - last.clock
            if last.length == 0:
                out.pop()
            out.append(s)
            if tail > 0:
                out.append(Skip(s.client, s_end, tail))
            continue
        if s_end <= end:
            continue
        out.append(_slice(s, end - s.clock))
    while out and out[-1].__class__ is Skip:
        out.pop()
    return out


def encode_refs(refs: dict[int, list], ds: DeleteSet) -> bytes:
    """Encode decoded structs (client -> contiguous or gapped list) and a delete set as one update."""
    enc = Encoder()
    clients = []
    for client, structs in refs.items():
        if structs:
            clients.append((client, _merge_client(list(structs))))
    clients = [(c, s) for c, s in clients if s]
    enc.write_var_uint(len(clients))
    for client, structs in sorted(clients, key=lambda x: x[0], reverse=True):
        enc.write_var_uint(len(structs))
        enc.write_var_uint(client)
        enc.write_var_uint(structs[0].clock)
        for s in structs:
            s.write(enc, 0)
    ds.write(enc)
    return enc.to_bytes()


def merge_updates(updates: Iterable[bytes]) -> bytes:
    """One update equivalent to applying all of ``updates`` (in any order). Holes become Skip structs."""
    refs: dict[int, list] = {}
    ds = DeleteSet()
    for u in updates:
        r, d = read_update(u)
        for client, structs in r.items():
            refs.setdefault(client, []).extend(structs)
        ds.merge(d)
    return encode_refs(refs, ds)


def diff_update(update: bytes, state_vector: bytes) -> bytes:
    """The part of ``update`` that a peer with ``state_vector`` does not have yet (deletions kept whole)."""
    sv = decode_state_vector(state_vector)
    refs, ds = read_update(update)
    out: dict[int, list] = {}
    for client, structs in refs.items():
        known = sv.get(client, 0)
        kept = []
        for s in structs:
            end = s.clock + s.length
            if end <= known:
                continue
            if s.clock < known:
                s = _slice(s, known - s.clock)
            kept.append(s)
        while kept and kept[0].__class__ is Skip:
            kept.pop(0)
        if kept:
            out[client] = kept
    return encode_refs(out, ds)


def state_vector_from_update(update: bytes) -> bytes:
    """The state vector a fresh document would have after applying ``update`` alone."""
    refs, _ = read_update(update)
    sv = {}
    for client, structs in refs.items():
        if not structs or structs[0].clock != 0:
            continue
        clock = 0
        for s in _merge_client(list(structs)):
            if s.__class__ is Skip or s.clock != clock:
                break
            clock = s.clock + s.length
        if clock:
            sv[client] = clock
    return encode_state_vector(sv)


__all__ = ["merge_updates", "diff_update", "state_vector_from_update", "encode_refs", "GC"]
