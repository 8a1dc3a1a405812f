"""Loading an update into an empty document in one pass: decoding and linking fused.

Opening a document means applying its full state to a fresh ``Doc``. For the common shape of a full
state (text runs and deleted runs in root types, each item's neighbours already read), this module
reads each struct and links it into its list at once: no decoded-struct list, no second loop, no
lookup by binary search (neighbours are found by ID in dicts filled as items are linked).

Anything else (map entries, nested types, embeds, formatting, GC or skip structs, a clock not starting
at 0, a neighbour not at a struct boundary, a concurrent insert at an item's place, malformed data)
makes :func:`load_into_empty` undo what it did and return False; the caller then applies the update
through the general code (:mod:`crdt.update_decoder` and :mod:`crdt.integration`), which also raises
the right error for malformed data. What it builds is exactly what the general code builds, struct
for struct (``tests/crdt/test_remote_load.py``), and the document is fully integrated when the
transaction it opens has finished.
"""

from __future__ import annotations

from .decoding import var_uint_rest, var_uint_tail
from .delete_set import DeleteSet
from .encoding import MAX_SAFE_INTEGER
from .errors import DecodeError
from .integration import apply_delete_set
from .structs.contents import ContentDeleted, ContentString, utf16_len
from .structs.item import Item
from .transaction import Transaction, finish

# Builds a slotted object without running its __init__ (the loop sets every slot itself).
_new_object = object.__new__


class _NotSimple(Exception):
    """The update is not of the shape this module handles (or is malformed): use the general code."""


def can_load_into(doc) -> bool:
    """Whether ``doc`` is empty and idle, so :func:`load_into_empty` may try an update on it."""
    store = doc.store
    return (
        doc._tr is None and not store.clients and store.pending is None and store.pending_ds is None
        and not doc._cleanups
    )


def load_into_empty(doc, update: bytes, origin) -> bool:
    """Apply ``update`` to the empty ``doc`` (see :func:`can_load_into`) as one remote transaction.

    Returns False, with ``doc`` untouched and no transaction run, when the update is not of the
    simple shape (or is malformed); the caller must then apply it the general way.
    """
    tr = Transaction(doc, origin, False)  # before_state: the empty state
    created_roots: list[str] = []
    try:
        pos, starts_of = _link_structs(doc, tr, update, created_roots)
        rest = _read_delete_set(update, pos, starts_of, tr.delete_set.clients)
    except (_NotSimple, DecodeError, IndexError, KeyError, UnicodeDecodeError, RecursionError, OverflowError):
        _undo(doc, created_roots)
        return False
    store = doc.store
    # From here on it is a transaction like any other (what transaction.begin does).
    doc._tr = tr
    doc._cleanups.append(tr)
    try:
        # Every new struct that can form one run with its left neighbour is in tr.merge_structs.
        tr.new_structs_merged = True
        if rest is not None:
            store.pending_ds = apply_delete_set(tr, store, rest)
    finally:
        finish(doc, tr)
    return True


def _undo(doc, created_roots: list[str]) -> None:
    """Put the empty document back as it was before a load that gave up (the transaction, never
    begun, is dropped)."""
    doc.store.clients.clear()
    for t in doc.share.values():
        # The store was empty, so every root was empty: nothing but the load linked items into it.
        t._start = None
        t._length = 0
        if t._markers:
            t._markers = []
    for name in created_roots:
        del doc.share[name]


def _link_structs(doc, tr: Transaction, data: bytes, created_roots: list[str]) -> tuple[int, dict]:
    """Read and link every struct of ``data``; returns the position after the structs and the linked
    items per client by first clock. Structs that may form one run with the struct before them go
    to ``tr.merge_structs`` for the cleanup to merge. Raises _NotSimple to give up."""
    store_clients = doc.store.clients
    share = doc.share
    changed = tr.changed
    ds_clients = tr.delete_set.clients
    tail = var_uint_tail
    new_item = _new_object
    end = len(data)
    # Items linked so far, per client: by first clock and by last clock.
    starts_of: dict[int, dict[int, Item]] = {}
    ends_of: dict[int, dict[int, Item]] = {}
    candidates: list[Item] = []
    # The whole update as one str, a character per byte: an ASCII string's UTF-8 bytes are its text.
    chars = data.decode("latin-1")
    last_ro = None
    last_rk = last_rc = -1
    pos = 0
    n_clients = data[pos]
    pos += 1
    if n_clients >= 0x80:
        n_clients, pos = tail(data, pos, n_clients)
    if n_clients > end - pos:
        raise _NotSimple
    for _ in range(n_clients):
        n_structs = data[pos]
        pos += 1
        if n_structs >= 0x80:
            n_structs, pos = tail(data, pos, n_structs)
        if n_structs > end - pos:
            raise _NotSimple
        client = data[pos]
        pos += 1
        if client >= 0x80:
            client, pos = tail(data, pos, client)
        clock = data[pos]
        pos += 1
        if clock != 0 or client in store_clients or n_structs == 0:
            # Not a full state of this client (or it appears twice): the general code sorts it out.
            raise _NotSimple
        own: list = []
        store_clients[client] = own
        append = own.append
        my_starts = starts_of[client] = {}
        my_ends = ends_of[client] = {}
        prev = None
        # The parent last marked changed.
        noted = None
        deleted_runs: list[list[int]] = []
        deleted_run: list[int] = []  # the run deleted_end ends (read only once one was started)
        deleted_end = -1
        content: ContentString | ContentDeleted
        for _ in range(n_structs):
            info = data[pos]
            pos += 1
            ref = info & 0x1F
            # -- the left neighbour: the struct ending at the origin
            if info & 0x80:
                oc = data[pos]
                if oc < 0x80:
                    pos += 1
                else:
                    oc, pos = tail(data, pos + 1, oc)
                # Clocks of long documents take two or three bytes: read those inline, with each
                # continuation bit taken out by the "- 1" (b << 7 holds it as 1 << 14, and so on).
                ok = data[pos]
                if ok < 0x80:
                    pos += 1
                else:
                    b = data[pos + 1]
                    if b < 0x80:
                        ok += (b - 1) << 7
                        pos += 2
                    else:
                        c = data[pos + 2]
                        if c < 0x80:
                            ok += ((b - 1) << 7) + ((c - 1) << 14)
                            pos += 3
                        else:
                            ok += ((b - 1) << 7) + ((c - 0x81) << 14)
                            ok, pos = var_uint_rest(data, pos + 3, ok, 21)
                # A KeyError (not linked yet, or inside a struct: a split) means the general code.
                if oc == client:
                    left = my_ends[ok]
                else:
                    left = ends_of[oc][ok]
                origin = (oc, ok)
            else:
                left = None
                origin = None
            # -- the right neighbour: the struct starting at the right origin
            if info & 0x40:
                rc = data[pos]
                if rc < 0x80:
                    pos += 1
                else:
                    rc, pos = tail(data, pos + 1, rc)
                rk = data[pos]
                if rk < 0x80:
                    pos += 1
                else:
                    b = data[pos + 1]
                    if b < 0x80:
                        rk += (b - 1) << 7
                        pos += 2
                    else:
                        c = data[pos + 2]
                        if c < 0x80:
                            rk += ((b - 1) << 7) + ((c - 1) << 14)
                            pos += 3
                        else:
                            rk += ((b - 1) << 7) + ((c - 0x81) << 14)
                            rk, pos = var_uint_rest(data, pos + 3, rk, 21)
                right = my_starts[rk] if rc == client else starts_of[rc][rk]
                if rk != last_rk or rc != last_rc:
                    last_ro = (rc, rk)
                    last_rk = rk
                    last_rc = rc
                # Typing at one place gives runs of items with one right origin: they share the tuple.
                right_origin = last_ro
            else:
                right = None
                right_origin = None
            # -- the parent, and the place: nothing concurrent may sit between left and right
            if left is not None:
                parent = left.parent
                # (Neighbours in one list have one parent: right, if any, is left's.)
                if left.right is not right:
                    raise _NotSimple
            elif right is not None:
                parent = right.parent
                if right.left is not None:
                    raise _NotSimple
            else:
                # No neighbours: the first item of a root type, named here.
                if info & 0x20 or data[pos] != 1:
                    raise _NotSimple  # a map entry, or a parent that is an item
                pos += 1
                n = data[pos]
                pos += 1
                if n >= 0x80:
                    n, pos = tail(data, pos, n)
                stop = pos + n
                if stop > end:
                    raise _NotSimple
                name = data[pos:stop].decode("utf-8")
                pos = stop
                parent = share.get(name)
                if parent is None:
                    parent = doc._root(name)
                    created_roots.append(name)
                if parent._start is not None:
                    raise _NotSimple
            # -- the content
            item = new_item(Item)
            if ref == 4:
                n = data[pos]
                pos += 1
                if n >= 0x80:
                    n, pos = tail(data, pos, n)
                stop = pos + n
                if stop > end or n == 0:
                    raise _NotSimple
                text = chars[pos:stop]
                if text.isascii():
                    length = vlen = n
                else:
                    text = data[pos:stop].decode("utf-8")
                    vlen = len(text)
                    length = n if n == vlen else utf16_len(text)
                pos = stop
                content = new_item(ContentString)
                content.s = text
                item.deleted = False
                item.vlen = vlen
                parent._length += vlen
            elif ref == 1:
                length = data[pos]
                pos += 1
                if length >= 0x80:
                    length, pos = tail(data, pos, length)
                if length == 0:
                    raise _NotSimple
                content = new_item(ContentDeleted)
                content.len = length
                item.deleted = True
                item.vlen = 0
                # The transaction's delete set: deleted runs next to each other in clock order join.
                if clock == deleted_end:
                    deleted_run[1] += length
                else:
                    deleted_run = [clock, length]
                    deleted_runs.append(deleted_run)
                deleted_end = clock + length
            else:
                # Any other content (a GC or skip struct has no origins and lands here too).
                raise _NotSimple
            item.client = client
            item.clock = clock
            item.length = length
            item.origin = origin
            item.right_origin = right_origin
            item.left = left
            item.right = right
            item.parent = parent
            item.parent_sub = None
            item.content = content
            item.keep = False
            item.redone = None
            # -- link it
            if left is not None:
                left.right = item
            else:
                parent._start = item
            if right is not None:
                right.left = item
            if (
                left is prev and prev is not None and prev.right_origin == right_origin
                and prev.deleted == item.deleted and prev.content.__class__ is content.__class__
            ):
                # One run with the struct before it (what Item.merge checks), unless something
                # is linked between them later: checked once all are linked.
                candidates.append(item)
            append(item)
            my_starts[clock] = item
            clock += length
            my_ends[clock - 1] = item
            prev = item
            if parent is not noted:
                # Roots only here: no parent item, so never a deleted parent.
                subs = changed.get(parent)
                if subs is None:
                    changed[parent] = {None: None}
                else:
                    subs[None] = None
                noted = parent
        if clock > MAX_SAFE_INTEGER:
            raise _NotSimple
        if deleted_runs:
            ds_clients[client] = deleted_runs
    merge_structs = tr.merge_structs
    for item in candidates:
        # Still next to the struct before it in the store: the cleanup merges the two.
        left = item.left
        if left.client == item.client and left.clock + left.length == item.clock:
            merge_structs.append(item)
    return pos, starts_of


def _read_delete_set(
    data: bytes, pos: int, starts_of: dict[int, dict[int, Item]], deleted_runs: dict[int, list]
) -> DeleteSet | None:
    """Read the update's delete set from ``pos``, skipping the ranges that cover only structs deleted
    already (all of a full state's: it sends deleted runs as deleted content). Returns the other
    ranges (or None) for the general code. ``starts_of``: the linked items per client by first clock;
    ``deleted_runs``: the runs of deleted content linked, per client, in clock order.
    Raises _NotSimple for what the general decoder must judge."""
    tail = var_uint_tail
    end = len(data)
    rest = None
    n = data[pos]
    pos += 1
    if n >= 0x80:
        n, pos = tail(data, pos, n)
    if n > end - pos:
        raise _NotSimple
    for _ in range(n):
        client = data[pos]
        pos += 1
        if client >= 0x80:
            client, pos = tail(data, pos, client)
        count = data[pos]
        pos += 1
        if count >= 0x80:
            count, pos = tail(data, pos, count)
        if count > end - pos:
            raise _NotSimple
        starts = starts_of.get(client)
        if starts is None:
            starts = {}
        # A full state's ranges are exactly its runs of deleted content, in the same order.
        runs = deleted_runs.get(client, ())
        k = 0
        n_runs = len(runs)
        others = []
        for _ in range(count):
            clock = data[pos]
            pos += 1
            if clock >= 0x80:
                # Clocks of long documents take two or three bytes: read those inline.
                b = data[pos]
                pos += 1
                clock = (clock & 0x7F) | ((b & 0x7F) << 7)
                if b >= 0x80:
                    b = data[pos]
                    pos += 1
                    clock |= (b & 0x7F) << 14
                    if b >= 0x80:
                        clock, pos = var_uint_rest(data, pos, clock, 21)
            length = data[pos]
            pos += 1
            if length >= 0x80:
                length, pos = tail(data, pos, length)
            stop = clock + length
            if stop > MAX_SAFE_INTEGER:
                raise _NotSimple
            if not length:
                continue
            if k < n_runs:
                run = runs[k]
                if run[0] == clock and run[1] == length:
                    k += 1
                    continue
            # Walk the structs from the one starting at the range's start while they are deleted.
            at = clock
            s = starts.get(at)
            while s is not None and s.deleted:
                at = s.clock + s.length
                if at >= stop:
                    break
                s = starts.get(at)
            else:
                others.append([clock, length])
            while k < n_runs and runs[k][0] < stop:
                k += 1
        if others:
            if rest is None:
                rest = DeleteSet()
            if client in rest.clients:
                raise _NotSimple  # a client twice: the general decoder's business
            rest.clients[client] = others
    return rest
