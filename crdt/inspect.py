"""What tools need to look inside documents and updates: the engine's public item and update helpers.

Yjs publishes such helpers from its ``src/index.js`` for bindings and tools (``findIndexSS``,
``decodeUpdate``, ``createDeleteSet``...); this module is their counterpart here. Code outside :mod:`crdt`
reads items, decoded updates and pending accounting only through it (and the top-level ``crdt`` API), never
through the engine's private modules or attributes.

Updates::

    view = decode_update(update)          # decoded once; raises DecodeError (crdt.limits apply)
    view.item_ranges(doc.state_vector())  # what it would insert beyond a state
    doc.apply_update(view)                # applied without decoding again

Items: :func:`find_item`, :func:`iter_items`, :func:`map_item`, :func:`type_item`, :func:`root_key`,
:func:`iter_structs`, :func:`structs_between`, :func:`nests`; the struct and content classes are exported
under their names. Pending structs (waiting for updates that have not arrived): :func:`pending_size`,
:func:`drop_pending`, :func:`update_without_pending`.
"""

from __future__ import annotations

from collections.abc import Iterator
from typing import TYPE_CHECKING, Any

from .delete_set import DeleteSet
from .encoding import Encoder
from .errors import DecodeError
from .store import find_index
from .structs.contents import (
    ContentAny,
    ContentBinary,
    ContentDeleted,
    ContentDoc,
    ContentEmbed,
    ContentFormat,
    ContentJSON,
    ContentString,
    ContentType,
)
from .structs.item import GC, Item, Skip
from .types.base import SharedType
from .update_decoder import UpdateView
from .update_decoder import decode_state_vector as _decode_state_vector
from .updates import encode_refs

if TYPE_CHECKING:
    from .doc import Doc

# -- updates ----------------------------------------------------------------------------------------------


def decode_update(update: bytes | bytearray | memoryview) -> UpdateView:
    """Decode a v1 update once (see :class:`UpdateView`). Malformed input, or input beyond the bounds of
    :mod:`crdt.limits`, raises :class:`~crdt.DecodeError`; a non-bytes argument raises ``TypeError``."""
    return UpdateView.decode(update)


def decode_state_vector(state_vector: bytes) -> dict[int, int]:
    """A v1 state vector as a dict (client -> next clock).

    Anything malformed raises :class:`~crdt.DecodeError`."""
    try:
        return _decode_state_vector(state_vector)
    except DecodeError:
        raise
    except Exception as e:  # noqa: BLE001 - hostile input: every failure is a refusal with a reason
        raise DecodeError(f"malformed state vector: {e}") from None


def encode_update(structs: dict[int, list], delete_set: DeleteSet) -> bytes:
    """Encode decoded structs (client -> structs in clock order, gaps allowed: they become skips) and a
    delete set as one v1 update. The structs must not belong to a document (decoded or built ones)."""
    return encode_refs(structs, delete_set)


def delete_update(ranges: dict[int, tuple[int, int]]) -> bytes:
    """An update with no structs that deletes clocks ``[start, end)`` of each client in ``ranges`` (empty
    ranges are left out). The bytes are the ones Yjs writes for such a deletion."""
    enc = Encoder()
    enc.write_var_uint(0)
    ds = DeleteSet()
    for client, (start, end) in ranges.items():
        if end > start:
            ds.clients[client] = [[start, end - start]]
    ds.write(enc)
    return enc.to_bytes()


def deletes_live_items(doc: Doc, delete_set: DeleteSet) -> bool:
    """Whether ``delete_set`` (e.g. ``view.delete_set``) deletes something ``doc`` holds undeleted."""
    clients = doc.store.clients
    for client, runs in delete_set.clients.items():
        structs = clients.get(client)
        if not structs:
            continue
        last = structs[-1]
        known = last.clock + last.length
        for clock, length in runs:
            end = min(clock + length, known)
            if clock >= end:
                continue
            i = find_index(structs, clock)
            while i < len(structs):
                s = structs[i]
                if s.clock >= end:
                    break
                if s.__class__ is Item and not s.deleted:
                    return True
                i += 1
    return False


# -- pending structs --------------------------------------------------------------------------------------


def pending_size(doc: Doc) -> int:
    """How many structs and deleted ranges of ``doc`` wait for missing updates (0: none)."""
    store = doc.store
    size = 0
    if store.pending is not None:
        size += sum(len(v) for v in store.pending.values())
    if store.pending_ds is not None:
        # Ranges, not clients: deletions of unknown ranges of one client would otherwise grow unseen.
        size += sum(len(v) for v in store.pending_ds.values()) or 1
    return size


def drop_pending(doc: Doc) -> None:
    """Forget every pending struct and deletion of ``doc`` (they never arrive in the document)."""
    store = doc.store
    store.pending = None
    store.pending_ds = None
    store.pending_missing = {}


def update_without_pending(doc: Doc, state_vector: bytes | None = None) -> bytes:
    """``doc.encode_state_as_update(state_vector)`` without the pending structs and deletions.

    Yjs includes them; a hub need not: no peer could integrate them either, and re-encoding a large
    pending set for every peer that joins costs seconds."""
    store = doc.store
    pending, pending_ds = store.pending, store.pending_ds
    if pending is None and pending_ds is None:
        return doc.encode_state_as_update(state_vector)
    store.pending = store.pending_ds = None
    try:
        return doc.encode_state_as_update(state_vector)
    finally:
        store.pending, store.pending_ds = pending, pending_ds


# -- items ------------------------------------------------------------------------------------------------


def find_item(doc: Doc, client: int, clock: int) -> Item | GC | None:
    """The struct of ``doc`` holding id ``(client, clock)`` (an ``Item`` or a ``GC``), or None if the
    document does not hold that id (pending structs are not held). Binary search, no scan."""
    structs = doc.store.clients.get(client)
    if not structs or clock < 0:
        return None
    last = structs[-1]
    if clock >= last.clock + last.length:
        return None
    return structs[find_index(structs, clock)]


def structs_between(doc: Doc, client: int, start: int, end: int) -> Iterator[Item | GC]:
    """The structs of ``client`` in ``doc`` overlapping clocks ``[start, end)``, in clock order."""
    structs = doc.store.clients.get(client)
    if not structs or end <= start:
        return
    i = find_index(structs, max(start, 0))
    while i < len(structs):
        s = structs[i]
        if s.clock >= end:
            return
        yield s
        i += 1


def iter_structs(doc: Doc) -> Iterator[Item | GC]:
    """Every struct of ``doc`` (items and GC), client by client, in clock order."""
    for structs in list(doc.store.clients.values()):
        yield from structs


def iter_items(shared_type: SharedType, *, include_deleted: bool = True) -> Iterator[Item]:
    """The items of a list-like type (Text, Array, XML children) in list order, from its head.

    Deleted items (and formatting or deleted content) are included unless ``include_deleted`` is False."""
    item = shared_type._start
    while item is not None:
        if include_deleted or not item.deleted:
            yield item
        item = item.right


def map_item(shared_type: SharedType, key: str) -> Item | None:
    """The item holding the last value set for ``key`` in a map-like type, deleted or not (None if the key
    was never set). Its content holds the value even when deleted, in a document kept with ``gc=False``."""
    return shared_type._map.get(key)


def type_item(shared_type: SharedType) -> Item | None:
    """The item that holds a nested type in its parent (None for a root type or one not in a document)."""
    return shared_type._item


def nests(shared_type: SharedType) -> str | None:
    """``"map"`` or ``"list"`` for a type whose ``to_py`` is a plain dict (list) of its values' ``to_py``
    (Map, Array), None for the others (Text and XML types: their ``to_py`` is their own)."""
    return shared_type._nests


def root_key(item_or_type: Item | SharedType) -> str | None:
    """The name of the root type holding an integrated item or type (a root type: its own name), or None
    if it is in no document (a decoded struct, a prelim type, content of a collected parent)."""
    node: Any = item_or_type
    while True:
        if isinstance(node, SharedType):
            item = node._item
            if item is None:
                return node._name
            node = item
        elif node.__class__ is Item:
            node = node.parent
        else:
            return None


__all__ = [
    "UpdateView", "decode_update", "decode_state_vector", "encode_update", "delete_update",
    "deletes_live_items", "pending_size", "drop_pending", "update_without_pending",
    "find_item", "structs_between", "iter_structs", "iter_items", "map_item", "type_item", "root_key",
    "nests",
    "DeleteSet", "Item", "GC", "Skip",
    "ContentAny", "ContentBinary", "ContentDeleted", "ContentDoc", "ContentEmbed", "ContentFormat",
    "ContentJSON", "ContentString", "ContentType",
]
