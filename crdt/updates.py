"""Working on updates without a document: merge, diff against a state vector, read a state vector."""

from __future__ import annotations

from bisect import bisect_left
from collections.abc import Iterable

from .delete_set import DeleteSet
from .encoding import Encoder
from .structs.item import GC, Item, Skip
from .update_decoder import decode_state_vector, read_update
from .update_encoder import encode_state_vector


def _cut(s, start: int, end: int):
    """A copy of struct ``s`` covering only clocks ``[start, end)``."""
    if start == s.clock and end == s.clock + s.length:
        return s
    if s.__class__ is not Item:
        return s.__class__(s.client, start, end - start)
    content = s.content.copy()
    if start > s.clock:
        content = content.splice(start - s.clock)
    if end < s.clock + s.length:
        content.splice(end - start)
    cut_left = start > s.clock
    return Item(
        s.client, start, end - start, (s.client, start - 1) if cut_left else s.origin, s.right_origin,
        None, None, None if cut_left else s.parent, s.parent_sub, content,
    )


def _slice(s, offset: int):
    """A copy of struct ``s`` without its first ``offset`` clock units."""
    return _cut(s, s.clock + offset, s.clock + s.length)


def _merge_client(structs: list) -> list:
    """One client's structs from several updates (in update order) as one gapless run.

    Clocks already covered by an earlier update's struct keep that struct (as in Yjs's
    mergeUpdates); later structs contribute only what is new. Holes become Skip structs.
    """
    starts: list[int] = []
    pieces: list = []
    for s in structs:
        if s.__class__ is Skip:
            continue
        pos = s.clock
        end = s.clock + s.length
        i = bisect_left(starts, pos)
        if i > 0:
            prev = pieces[i - 1]
            pos = max(pos, prev.clock + prev.length)
        while pos < end:
            if i < len(starts) and starts[i] <= pos:
                nxt = pieces[i]
                pos = max(pos, nxt.clock + nxt.length)
                i += 1
                continue
            stop = end if i == len(starts) else min(end, starts[i])
            piece = _cut(s, pos, stop)
            starts.insert(i, pos)
            pieces.insert(i, piece)
            i += 1
            pos = stop
    out: list = []
    clock = None
    for piece in pieces:
        if clock is not None and piece.clock > clock:
            out.append(Skip(piece.client, clock, piece.clock - clock))
        out.append(piece)
        clock = piece.clock + piece.length
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
