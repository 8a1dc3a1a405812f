"""Snapshots: a document's state at one moment (a delete set and a state vector), and reading it back.

A snapshot is tiny (no content): it names which structs existed and which of them were deleted.
Reading a type *at* a snapshot needs the deleted content to still be there, so it is only faithful
on documents made with ``Doc(gc=False)``; :func:`create_doc_from_snapshot` refuses documents with GC
on, as Yjs does.

Items that were merged after the snapshot was taken can straddle its boundaries (a run typed across
the snapshot, a deletion that grew); the readers here look at each clock unit, so they never need to
split anything and never change the document.
"""

from __future__ import annotations

from bisect import bisect_right
from collections.abc import Callable
from typing import Any

from .decoding import Decoder
from .delete_set import DeleteSet
from .doc import Doc
from .encoding import Encoder
from .errors import DecodeError
from .store import find_index
from .structs.contents import (
    ContentAny,
    ContentBinary,
    ContentDoc,
    ContentEmbed,
    ContentFormat,
    ContentJSON,
    ContentString,
    ContentType,
    utf16_split,
)
from .structs.item import Item, get_item_clean_start
from .types.array import Array
from .types.base import SharedType
from .types.map import Map
from .types.text import Text
from .types.xml import XmlElement, XmlHook
from .update_decoder import read_update
from .update_encoder import encode_state_vector

__all__ = [
    "Snapshot",
    "snapshot",
    "empty_snapshot",
    "is_visible",
    "snapshot_contains_update",
    "text_at",
    "array_at",
    "map_at",
    "to_py_at",
    "text_delta_at",
    "create_doc_from_snapshot",
]


class Snapshot:
    """A document's state at one moment: ``ds`` (a :class:`DeleteSet`) and ``sv`` (client -> clock).

    Two snapshots are equal when they name the same structs and the same deletions (as Yjs's
    ``equalSnapshots``). ``encode()`` gives Yjs's v1 layout: the delete set, then the state vector.
    """

    __slots__ = ("ds", "sv")

    def __init__(self, ds: DeleteSet | None = None, sv: dict[int, int] | None = None) -> None:
        norm = DeleteSet()
        if ds is not None:
            for client, ranges in ds.clients.items():
                kept = [[c, n] for c, n in ranges if n > 0]
                if kept:
                    norm.clients[client] = kept
            norm.sort_and_merge()
        self.ds = norm
        self.sv: dict[int, int] = dict(sv) if sv else {}

    def __eq__(self, other: object) -> bool:
        if not isinstance(other, Snapshot):
            return NotImplemented
        return self.sv == other.sv and self.ds.clients == other.ds.clients

    __hash__ = None  # type: ignore[assignment]  # mutable, like the delete set it holds

    def __repr__(self) -> str:
        ds = {c: [tuple(r) for r in rs] for c, rs in sorted(self.ds.clients.items())}
        return f"Snapshot(sv={dict(sorted(self.sv.items()))}, ds={ds})"

    def encode(self) -> bytes:
        """Yjs's ``encodeSnapshot``: the v1 delete set followed by the v1 state vector."""
        enc = Encoder()
        self.ds.write(enc)
        enc.write_bytes(encode_state_vector(self.sv))
        return enc.to_bytes()

    @classmethod
    def decode(cls, data: bytes) -> Snapshot:
        """Read :meth:`encode`'s layout (Yjs's ``decodeSnapshot``); malformed input raises ``DecodeError``."""
        if not isinstance(data, (bytes, bytearray, memoryview)):
            raise TypeError("a snapshot must be bytes")
        dec = Decoder(bytes(data))
        ds = DeleteSet.read(dec)
        n = dec.read_var_uint()
        if n > dec.remaining():
            raise DecodeError("state vector count exceeds data")
        sv: dict[int, int] = {}
        for _ in range(n):
            client = dec.read_var_uint()
            sv[client] = dec.read_var_uint()
        # Like Yjs, bytes after the state vector are ignored.
        return cls(ds, sv)

    def contains_id(self, client: int, clock: int) -> bool:
        """Whether the struct unit (client, clock) existed and was not deleted at this snapshot."""
        return clock < self.sv.get(client, 0) and not self.ds.contains(client, clock)


def snapshot(doc: Doc) -> Snapshot:
    """The current state of ``doc`` (pending structs and deletions not included, as in Yjs)."""
    return Snapshot(DeleteSet.from_store(doc.store), doc.store.state_vector())


def empty_snapshot() -> Snapshot:
    """The snapshot of an empty document: nothing is visible in it."""
    return Snapshot()


def is_visible(item: Item, snap: Snapshot | None = None) -> bool:
    """Yjs's ``isVisible``: whether ``item`` (its first unit) exists and is not deleted at ``snap``.

    Without a snapshot, whether the item is not deleted now.
    """
    if snap is None:
        return not item.deleted
    return snap.contains_id(item.client, item.clock)


def snapshot_contains_update(snap: Snapshot, update: bytes) -> bool:
    """Whether everything ``update`` adds and deletes is already part of ``snap`` (Yjs's
    ``snapshotContainsUpdate``)."""
    refs, ds = read_update(update)
    sv = snap.sv
    for client, structs in refs.items():
        for s in structs:
            if sv.get(client, 0) < s.clock + s.length:
                return False
    merged = DeleteSet()
    merged.merge(snap.ds)
    merged.merge(ds)
    return Snapshot(merged).ds.clients == snap.ds.clients


# -- reading at a snapshot -------------------------------------------------------------------------


def _first(r: list[int]) -> int:
    return r[0]


def _visible_runs(item: Item, snap: Snapshot) -> list[tuple[int, int]]:
    """The parts of ``item`` (clock offsets ``[start, end)``) that exist and are undeleted at ``snap``."""
    end = snap.sv.get(item.client, 0) - item.clock
    if end <= 0:
        return []
    if end > item.length:
        end = item.length
    ranges = snap.ds.clients.get(item.client)
    if not ranges:
        return [(0, end)]
    out = []
    pos = 0
    i = max(bisect_right(ranges, item.clock, key=_first) - 1, 0)
    while i < len(ranges) and pos < end:
        clock, length = ranges[i]
        a = clock - item.clock
        b = a + length
        i += 1
        if a >= end:
            break
        if b <= pos:
            continue
        if a > pos:
            out.append((pos, a))
        pos = b
    if pos < end:
        out.append((pos, end))
    return out


def _utf16_slice(s: str, start: int, end: int) -> str:
    """Units ``[start, end)`` of ``s`` as the split items would hold them (halves of a pair become U+FFFD)."""
    if s.isascii():
        return s[start:end]
    left = utf16_split(s, end)[0]
    return utf16_split(left, start)[1] if start else left


def _values(item: Item, start: int, end: int, snap: Snapshot) -> list:
    """Plain values of clock units ``[start, end)`` of a countable item, nested types read at ``snap``."""
    c = item.content
    cls = c.__class__
    if cls is ContentString:
        return list(_utf16_slice(c.s, start, end))
    if cls is ContentAny or cls is ContentJSON:
        return list(c.arr[start:end])
    if cls is ContentType:
        return [_Nested(c.type)]  # read by _resolve, level by level (no recursion)
    if cls is ContentBinary or cls is ContentEmbed or cls is ContentDoc:
        return [c.values()[0]]
    return []


def _list_at(t: SharedType, snap: Snapshot) -> list:
    out: list = []
    n = t._start
    while n is not None:
        if n.content.countable:
            for a, b in _visible_runs(n, snap):
                out.extend(_values(n, a, b, snap))
        n = n.right
    return out


def _map_item_at(t: SharedType, key: str, snap: Snapshot) -> tuple[bool, Any]:
    """(present, value) of ``key`` at ``snap``: the newest item of the key's chain that existed then."""
    item = t._map.get(key)
    sv = snap.sv
    while item is not None and item.clock >= sv.get(item.client, 0):
        item = item.left
    if item is None:
        return False, None
    # A merged run can reach past the snapshot: its last unit that existed then holds the value.
    k = min(item.length, sv[item.client] - item.clock) - 1
    if snap.ds.contains(item.client, item.clock + k):
        return False, None
    values = _values(item, k, k + 1, snap)
    return (True, values[0]) if values else (False, None)


def _entries_at(t: SharedType, snap: Snapshot) -> dict[str, Any]:
    out = {}
    for key in t._map:
        present, value = _map_item_at(t, key, snap)
        if present:
            out[key] = value
    return out


def text_at(text: Text, snap: Snapshot) -> str:
    """The characters of ``text`` at ``snap`` (embeds and formatting left out, like ``str(text)``)."""
    parts = []
    n = text._start
    while n is not None:
        c = n.content
        if c.__class__ is ContentString:
            for a, b in _visible_runs(n, snap):
                parts.append(_utf16_slice(c.s, a, b))
        n = n.right
    return "".join(parts)


def array_at(array: Array, snap: Snapshot) -> list:
    """The values of ``array`` at ``snap`` as plain data (nested types read at ``snap`` too)."""
    return _resolve(_list_at(array, snap), snap)


def map_at(map_: Map, snap: Snapshot) -> dict[str, Any]:
    """The entries of ``map_`` at ``snap`` as plain data (nested types read at ``snap`` too)."""
    return _resolve(_entries_at(map_, snap), snap)


def to_py_at(obj: Any, snap: Snapshot) -> Any:
    """``to_py()`` as it would have been at ``snap``: for a shared type, or for a whole :class:`Doc`
    (``{root name: value}``). Needs ``Doc(gc=False)`` to see deleted content."""
    if isinstance(obj, Doc):
        return _resolve({name: _Nested(t) for name, t in obj.share.items()}, snap)
    if not isinstance(obj, SharedType):
        raise TypeError(f"cannot read a {type(obj).__name__} at a snapshot")
    return _resolve([_Nested(obj)], snap)[0]


class _Nested:
    """A nested shared type in a value being read at a snapshot, not read yet."""

    __slots__ = ("type",)

    def __init__(self, type_: SharedType) -> None:
        self.type = type_


def _shallow_at(obj: SharedType, snap: Snapshot) -> tuple[Any, list]:
    """One level of ``obj`` at ``snap`` (nested types left as :class:`_Nested`), and its containers
    that may hold them."""
    if isinstance(obj, Text):
        return text_at(obj, snap), []
    if isinstance(obj, XmlElement):
        attributes = _entries_at(obj, snap)
        children = _list_at(obj, snap)
        value = {"nodeName": obj.node_name, "attributes": attributes, "children": children}
        return value, [attributes, children]
    if isinstance(obj, Array):
        v: Any = _list_at(obj, snap)
        return v, [v]
    if isinstance(obj, (Map, XmlHook)):
        v = _entries_at(obj, snap)
        return v, [v]
    return None, []  # a root nobody has asked for by kind yet (Doc.to_py gives None too)


def _resolve(top: list | dict, snap: Snapshot) -> Any:
    # Shared types nest without bound (each level its own item): read with an explicit stack, so any
    # depth is read without reaching Python's recursion limit. Plain values never hold _Nested.
    stack = [top]
    while stack:
        container = stack.pop()
        keys = range(len(container)) if isinstance(container, list) else list(container)
        for k in keys:
            x = container[k]
            if x.__class__ is _Nested:
                value, more = _shallow_at(x.type, snap)
                container[k] = value
                stack.extend(more)
    return top


def text_delta_at(
    text: Text,
    snap: Snapshot | None = None,
    prev_snap: Snapshot | None = None,
    compute_ychange: Callable[[str, tuple[int, int]], Any] | None = None,
) -> list[dict[str, Any]]:
    """Yjs's ``YText.toDelta(snapshot, prevSnapshot, computeYChange)``: the text at ``snap`` as a delta.

    With ``prev_snap``, text that exists at only one of the two is kept and marked with the
    attribute ``ychange``: ``{"type": "removed"}`` (gone at ``snap``) or ``{"type": "added"}`` (new
    since ``prev_snap``), or whatever ``compute_ychange(kind, (client, clock))`` returns. As in Yjs,
    every marked run of text is its own op unless ``compute_ychange`` returns ``{"user": client}``.
    """
    ops: list[dict[str, Any]] = []
    attrs: dict[str, Any] = {}
    pending: list[str] = []

    def pack() -> None:
        if pending:
            op: dict[str, Any] = {"insert": "".join(pending)}
            if attrs:
                op["attributes"] = dict(attrs)
            ops.append(op)
            pending.clear()

    snaps = [s for s in (snap, prev_snap) if s is not None]
    n = text._start
    while n is not None:
        for a, b in _pieces(n, snaps):
            client = n.client
            clock = n.clock + a
            vis = (not n.deleted) if snap is None else snap.contains_id(client, clock)
            vis_prev = prev_snap is not None and prev_snap.contains_id(client, clock)
            if not (vis or vis_prev):
                continue
            c = n.content
            cls = c.__class__
            if cls is ContentString:
                cur = attrs.get("ychange")
                if snap is not None and not vis:
                    if not isinstance(cur, dict) or cur.get("user") != client or cur.get("type") != "removed":
                        pack()
                        attrs["ychange"] = (
                            compute_ychange("removed", (client, clock))
                            if compute_ychange
                            else {"type": "removed"}
                        )
                elif prev_snap is not None and not vis_prev:
                    if not isinstance(cur, dict) or cur.get("user") != client or cur.get("type") != "added":
                        pack()
                        attrs["ychange"] = (
                            compute_ychange("added", (client, clock))
                            if compute_ychange
                            else {"type": "added"}
                        )
                elif cur is not None:
                    pack()
                    del attrs["ychange"]
                pending.append(_utf16_slice(c.s, a, b))
            elif cls is ContentType or cls is ContentEmbed:
                pack()
                op = {"insert": c.values()[0]}
                if attrs:
                    op["attributes"] = dict(attrs)
                ops.append(op)
            elif cls is ContentFormat and vis:
                pack()
                if c.value is None:
                    attrs.pop(c.key, None)
                else:
                    attrs[c.key] = c.value
        n = n.right
    pack()
    return ops


def _pieces(item: Item, snaps: list[Snapshot]) -> list[tuple[int, int]]:
    """``item`` cut where Yjs would split it for these snapshots: at each snapshot's clock for the
    item's client and at the edges of each deleted range."""
    length = item.length
    if length == 1 or not snaps:
        return [(0, length)]
    cuts = set()
    client = item.client
    clock = item.clock
    for s in snaps:
        cuts.add(s.sv.get(client, 0) - clock)
        for c, n in s.ds.clients.get(client, ()):
            cuts.add(c - clock)
            cuts.add(c + n - clock)
    bounds = [0] + sorted(x for x in cuts if 0 < x < length) + [length]
    return list(zip(bounds, bounds[1:], strict=False))


# -- rebuilding a past state -----------------------------------------------------------------------


def create_doc_from_snapshot(doc: Doc, snap: Snapshot, new_doc: Doc | None = None) -> Doc:
    """A new document holding ``doc`` as it was at ``snap`` (Yjs's ``createDocFromSnapshot``).

    ``doc`` must have GC off (``Doc(gc=False)``), else ``ValueError``. Every struct below the
    snapshot's clocks is copied, with the snapshot's deletions; ``new_doc`` (a fresh ``Doc()`` by
    default) receives them as one update with origin ``"snapshot"``. ``doc`` is not changed (structs
    split at the snapshot's clocks are merged back when its transaction ends).
    """
    if doc.gc:
        raise ValueError("create_doc_from_snapshot needs a document with garbage collection off (gc=False)")
    store = doc.store
    todo = sorted(((c, k) for c, k in snap.sv.items() if k > 0), reverse=True)
    for client, clock in todo:
        if clock > store.get_state(client):
            raise ValueError(f"snapshot is ahead of the document: client {client} has no clock {clock - 1}")
    enc = Encoder()
    with doc.transact() as tr:
        enc.write_var_uint(len(todo))
        for client, clock in todo:
            if clock < store.get_state(client):
                get_item_clean_start(tr, store, client, clock)
            structs = store.clients[client]
            last = find_index(structs, clock - 1)
            enc.write_var_uint(last + 1)
            enc.write_var_uint(client)
            enc.write_var_uint(0)
            for i in range(last):
                structs[i].write(enc, 0)
            s = structs[last]
            over = s.clock + s.length - clock
            if over > 0:
                # A GC struct is never split: write only its part below the snapshot's clock.
                enc.write_u8(0)
                enc.write_var_uint(s.length - over)
            else:
                s.write(enc, 0)
        snap.ds.write(enc)
    if new_doc is None:
        new_doc = Doc()
    new_doc.apply_update(enc.to_bytes(), origin="snapshot")
    return new_doc
