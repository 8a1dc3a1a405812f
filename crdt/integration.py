"""Applying a decoded update to a document, exactly as Yjs orders the work.

Structs whose dependencies have not arrived are kept pending and retried only once what they
wait for is there; deletions of unknown ranges are kept as a pending delete set.

Loading a document's full state is a long run of one client's items after another: those go
through ``_integrate_run`` (no call per item, neighbours found by ID in dicts), the rest through
``_integrate_item`` or the general ``Item.missing``/``Item.integrate``. All paths give the same
store, byte for byte (``tests/crdt/test_remote_load.py``).
"""

from __future__ import annotations

from typing import Any

from .delete_set import DeleteSet
from .store import StructStore, find_index_near
from .structs.contents import ContentDeleted, ContentString, ContentType
from .structs.item import Item, Skip, get_item_clean_end, get_item_clean_start, split_item

# Off only in tests: then every item goes through Item.missing + Item.integrate, to check the fast
# paths against.
FAST_PATH = True


def integrate_structs(tr, store: StructStore, refs: dict[int, list]) -> tuple[dict, dict] | None:
    """Integrate ``refs`` (client -> structs); returns (rest structs, missing clocks) or None."""
    if not refs:
        return None
    # Work on clients in descending order (pop from the end of an ascending list).
    targets: dict[int, list[Any]] = {c: [lst, 0] for c, lst in refs.items() if lst}
    order = sorted(targets)
    rest: dict[int, list] = {}
    missing_sv: dict[int, int] = {}
    stack: list = []
    state: dict[int, int] = {}
    # For the fast path: items linked by this call by client, then first (last) clock; the root types
    # by name. (Int keys, not ID tuples: fewer objects for the cyclic GC to track.)
    starts: dict[int, dict[int, Item]] = {}
    ends: dict[int, dict[int, Item]] = {}
    roots: dict = {}
    fast = FAST_PATH

    def next_target():
        while order:
            t = targets.get(order[-1])
            if t is not None and t[1] < len(t[0]):
                return t
            order.pop()
        return None

    def update_missing(client: int, clock: int) -> None:
        m = missing_sv.get(client)
        if m is None or m > clock:
            missing_sv[client] = clock

    def stack_to_rest() -> None:
        nonlocal order
        for item in stack:
            client = item.client
            t = targets.pop(client, None)
            if t is not None:
                t[1] -= 1
                rest[client] = t[0][t[1]:]
                # Whoever still holds this target (the current one) must find it used up.
                t[0] = []
                t[1] = 0
            else:
                rest[client] = [item]
            order = [c for c in order if c != client]
        stack.clear()

    cur = next_target()
    head = None
    while True:
        if head is None:
            # Nothing waits on the stack: the current client's next struct (most in runs, fast).
            while cur is not None:
                if fast:
                    cur[1] = _integrate_run(tr, store, cur[0], cur[1], state, starts, ends, roots)
                if cur[1] < len(cur[0]):
                    head = cur[0][cur[1]]
                    cur[1] += 1
                    break
                cur = next_target()
            if head is None:
                break
        if head.__class__ is not Skip:
            client = head.client
            local_clock = state.get(client)
            if local_clock is None:
                local_clock = state[client] = store.get_state(client)
            offset = local_clock - head.clock
            if offset < 0:
                stack.append(head)
                update_missing(client, head.clock - 1)
                stack_to_rest()
            elif offset >= head.length:
                # Already known: nothing to integrate, so nothing to wait for. (Yjs asks for missing
                # dependencies first; a known struct naming an absent one would then sit in pending
                # forever and, merged into encode_state_as_update, could hide the real struct.)
                pass
            else:
                if offset > 0 and head.is_item:
                    # Its first part is known: integrate the rest, whose left neighbour is that part.
                    head = _rest_of(head, offset)
                    offset = 0
                if fast and head.__class__ is Item:
                    miss = _integrate_item(tr, store, head, starts, ends, roots)
                else:
                    miss = head.missing(tr, store) if head.is_item else None
                    if miss is None:
                        head.integrate(tr, offset)
                if miss is None:
                    state[client] = head.clock + head.length
                else:
                    stack.append(head)
                    t = targets.get(miss)
                    if t is None or t[1] == len(t[0]):
                        update_missing(miss, store.get_state(miss))
                        stack_to_rest()
                    else:
                        head = t[0][t[1]]
                        t[1] += 1
                        continue
        head = stack.pop() if stack else None
    if rest:
        return rest, missing_sv
    return None


def _integrate_run(tr, store: StructStore, structs: list, i: int, state: dict, starts: dict, ends: dict,
                   roots: dict) -> int:
    """Integrate ``structs[i:]`` (one client's, in clock order) for as long as each is an item that
    starts at the client's state and has all it depends on; returns the index of the first one not
    integrated, for the general loop.

    A document's full state is such a run per client. Text runs with plain item neighbours and no
    concurrent insert at their place are linked inline (what ``_integrate_item`` does for them, with
    no call per item); other items go through ``_integrate_item``.
    """
    n = len(structs)
    if i >= n:
        return i
    client = structs[i].client
    clock = state.get(client)
    if clock is None:
        clock = store.get_state(client)
    clients = store.clients
    # None only while the client has no struct: then the first item has no origin of its own client (the
    # decoder checked origins come before), goes through _integrate_item, and ``own`` is read again.
    own: list = clients.get(client)  # type: ignore[assignment]  # not None when used: see above
    my_starts = starts.get(client)
    if my_starts is None:
        my_starts = starts[client] = {}
        ends[client] = {}
    my_ends = ends[client]
    changed = tr.changed
    ds_clients = tr.delete_set.clients
    # The parent that was last marked changed, and whose own item is not deleted.
    noted = None
    while i < n:
        item = structs[i]
        if item.__class__ is not Item or item.clock != clock:
            break
        origin = item.origin
        ro = item.right_origin
        parent = item.parent
        content = item.content
        cc = content.__class__
        left = None
        right = None
        if (
            origin is None
            or origin[0] != client
            or (ro is not None and ro[0] != client)
            or parent is not None
            or (cc is not ContentString and cc is not ContentDeleted)
        ):
            # Another client's IDs, a parent of its own, other content: the per-item code.
            if _integrate_item(tr, store, item, starts, ends, roots) is not None:
                break
            noted = None
            own = clients[client]
            clock += item.length
            i += 1
            continue
        # Neighbours in this client's own structs (all there: the decoder checked they come before).
        ok = origin[1]
        last = own[-1]
        if last.clock + last.length - 1 == ok:
            left = last
        else:
            left = my_ends.get(ok)
            if left is None or left.clock + left.length - 1 != ok:
                left = get_item_clean_end(tr, store, client, ok)
        if ro is not None:
            right = my_starts.get(ro[1])
            if right is None:
                right = get_item_clean_start(tr, store, client, ro[1])
        if (
            left.__class__ is not Item
            or left.parent_sub is not None
            or left.right is not right
            or (right is not None and right.__class__ is not Item)
            or (right is not None and (right.parent is not left.parent or right.parent_sub is not None))
        ):
            # A GC neighbour, a map entry, a concurrent insert here, or neighbours from two lists.
            if _integrate_item(tr, store, item, starts, ends, roots) is not None:
                break
            noted = None
            own = clients[client]
            clock += item.length
            i += 1
            continue
        # Item.missing: the parent is the left neighbour's. Item.integrate: no conflict to resolve.
        parent = item.parent = left.parent
        item.left = left
        item.right = right
        left.right = item
        if right is not None:
            right.left = item
        length = item.length
        own.append(item)
        if cc is ContentDeleted:
            ranges = ds_clients.get(client)
            if ranges is None:
                ds_clients[client] = [[clock, length]]
            else:
                r = ranges[-1]
                if r[0] + r[1] == clock:
                    r[1] += length
                else:
                    ranges.append([clock, length])
            item.deleted = True
            item.vlen = 0
        elif item.vlen and not item.deleted:
            parent._length += item.vlen
        if parent is not noted:
            # Once per parent: nothing linked here can delete a type or drop it from tr.changed.
            subs = changed.get(parent)
            if subs is None or None not in subs:
                tr.add_changed(parent, None)
            pitem = parent._item
            if pitem is not None and pitem.deleted:
                item.delete(tr)
            else:
                noted = parent
        my_starts[clock] = item
        clock += length
        my_ends[clock - 1] = item
        i += 1
    state[client] = clock
    return i


def _integrate_item(tr, store: StructStore, item: Item, starts: dict, ends: dict, roots: dict):
    """``item.missing`` then ``item.integrate(tr, 0)``, fused: returns the client whose structs must
    come first (and changes nothing), or None once the item is integrated.

    Most items of an update are text runs whose neighbours are plain items and whose place needs no
    conflict scan (always so for one client's edits). Those are linked here with their neighbours
    found by ID in ``starts``/``ends`` (filled as items are linked) or at the end of a client's
    structs, not by binary search. Anything else (a GC neighbour, map keys, nested types,
    formatting, concurrent inserts at the place) goes through the general code.
    """
    clients = store.clients
    client = item.client
    origin = item.origin
    ro = item.right_origin
    parent = item.parent
    # What must be there first (as Item.missing checks it, in the same order).
    if origin is not None and origin[0] != client:
        structs = clients.get(origin[0])
        if structs is None:
            return origin[0]
        last = structs[-1]
        if origin[1] >= last.clock + last.length:
            return origin[0]
    if ro is not None and ro[0] != client:
        structs = clients.get(ro[0])
        if structs is None:
            return ro[0]
        last = structs[-1]
        if ro[1] >= last.clock + last.length:
            return ro[0]
    if parent.__class__ is tuple and parent[0] != client:
        structs = clients.get(parent[0])
        if structs is None:
            return parent[0]
        last = structs[-1]
        if parent[1] >= last.clock + last.length:
            return parent[0]
    # The struct ending at the origin and the one starting at the right origin (split out if needed).
    left = None
    if origin is not None:
        oc = origin[0]
        ok = origin[1]
        last = clients[oc][-1]
        if last.clock + last.length - 1 == ok:
            left = last
        else:
            found = ends.get(oc)
            if found is not None:
                left = found.get(ok)
            # A struct split since it was linked ends before its recorded end.
            if left is None or left.clock + left.length - 1 != ok:
                left = get_item_clean_end(tr, store, oc, ok)
    right = None
    if ro is not None:
        found = starts.get(ro[0])
        if found is not None:
            right = found.get(ro[1])
        if right is None:
            right = get_item_clean_start(tr, store, ro[0], ro[1])
    if (left is not None and left.__class__ is not Item) or (
        right is not None and right.__class__ is not Item
    ):
        # A GC neighbour (the item becomes GC, or its origin moves): the general code does it.
        if item.missing(tr, store) is None:
            item.integrate(tr, 0)
        return None
    item.left = left
    item.right = right
    parent_sub = item.parent_sub
    if parent is None:
        if left is not None:
            parent = left.parent
            parent_sub = item.parent_sub = left.parent_sub
        elif right is not None:
            parent = right.parent
            parent_sub = item.parent_sub = right.parent_sub
    elif parent.__class__ is str:
        name = parent
        parent = roots.get(name)
        if parent is None:
            parent = roots[name] = tr.doc._root(name)
    elif parent.__class__ is tuple:
        p = store.get_item(parent[0], parent[1])
        parent = p.content.type if p.is_item and p.content.__class__ is ContentType else None
    # A hostile update can name neighbours from two different lists: refuse to link them.
    if parent is not None and (
        (left is not None and (left.parent is not parent or left.parent_sub != parent_sub))
        or (right is not None and (right.parent is not parent or right.parent_sub != parent_sub))
    ):
        parent = None
    item.parent = parent
    content = item.content
    cc = content.__class__
    if (
        parent is None
        or parent_sub is not None
        or (cc is not ContentString and cc is not ContentDeleted)
        or (left is None and (right is None or right.left is not None))
        or (left is not None and left.right is not right)
    ):
        item.integrate(tr, 0)
        return None
    # A list item in its place with nothing concurrent there: Item.integrate's linking, inline.
    if left is not None:
        left.right = item
    else:
        right = item.right = parent._start
        parent._start = item
    if right is not None:
        right.left = item
    clock = item.clock
    structs = clients.get(client)
    if structs is None:
        clients[client] = [item]
    else:
        structs.append(item)
    if cc is ContentDeleted:
        tr.delete_set.add(client, clock, item.length)
        item.deleted = True
        item.vlen = 0
    elif item.vlen and not item.deleted:
        parent._length += item.vlen
    subs = tr.changed.get(parent)
    if subs is None or None not in subs:
        tr.add_changed(parent, None)
    pitem = parent._item
    if pitem is not None and pitem.deleted:
        item.delete(tr)
    found = starts.get(client)
    if found is None:
        found = starts[client] = {}
        ends[client] = {}
    found[clock] = item
    ends[client][clock + item.length - 1] = item
    return None


def _rest_of(item: Item, offset: int) -> Item:
    """A decoded item without its first ``offset`` clock units (known already): its origin becomes
    the last known unit, and its parent is taken from there, as for any peer reading it written from
    that offset. (Keeping the parent named by the original origin could link it into another list.)"""
    content = item.content.copy().splice(offset)
    return Item(
        item.client, item.clock + offset, item.length - offset, (item.client, item.clock + offset - 1),
        item.right_origin, None, None, None, item.parent_sub, content,
    )


def apply_delete_set(tr, store: StructStore, ds: DeleteSet) -> dict[int, list] | None:
    """Delete the known ranges of ``ds``; returns the ranges beyond the known state (or None)."""
    unapplied: dict[int, list] = {}
    for client, ranges in ds.clients.items():
        # Read only for ranges below the client's state: then it has structs.
        structs: list = store.clients.get(client)  # type: ignore[assignment]  # not None when used
        state = store.get_state(client)
        i = 0
        for clock, length in ranges:
            end = clock + length
            if clock < state:
                if state < end:
                    unapplied.setdefault(client, []).append([state, end - state])
                # A full state's ranges start where its deleted items do: usually at structs[i].
                if i >= len(structs) or structs[i].clock != clock:
                    i = find_index_near(structs, clock, i)
                s = structs[i]
                if not s.deleted and s.clock < clock:
                    structs.insert(i + 1, split_item(tr, s, clock - s.clock))
                    i += 1
                while i < len(structs):
                    s = structs[i]
                    i += 1
                    if s.clock >= end:
                        break
                    if not s.deleted:
                        if end < s.clock + s.length:
                            structs.insert(i, split_item(tr, s, end - s.clock))
                        s.delete(tr)
            else:
                unapplied.setdefault(client, []).append([clock, length])
    return unapplied or None


def apply_refs(tr, refs: dict[int, list], ds: DeleteSet) -> None:
    """Integrate decoded structs and a delete set, managing the store's pending parts."""
    store = tr.doc.store
    rest = integrate_structs(tr, store, refs)
    retry = False
    if store.pending is not None:
        for client, clock in store.pending_missing.items():
            if clock < store.get_state(client):
                retry = True
                break
        if rest is not None:
            rest_structs, rest_missing = rest
            for client, clock in rest_missing.items():
                m = store.pending_missing.get(client)
                if m is None or m > clock:
                    store.pending_missing[client] = clock
            _merge_pending(store.pending, rest_structs)
    elif rest is not None:
        store.pending = {}
        _merge_pending(store.pending, rest[0])
        store.pending_missing = rest[1]
    unapplied = apply_delete_set(tr, store, ds)
    if store.pending_ds is not None:
        old = DeleteSet()
        old.clients = store.pending_ds
        store.pending_ds = None
        still = apply_delete_set(tr, store, old)
        if unapplied and still:
            merged = DeleteSet()
            merged.clients = unapplied
            other = DeleteSet()
            other.clients = still
            merged.merge(other)
            store.pending_ds = merged.clients
        else:
            store.pending_ds = unapplied or still
    else:
        store.pending_ds = unapplied
    pending = store.pending
    if retry and pending is not None:  # retry is set only while there are pending structs
        store.pending = None
        store.pending_missing = {}
        apply_refs(tr, pending, DeleteSet())


def _merge_pending(pending: dict[int, list], more: dict[int, list]) -> None:
    """Union of two pending struct sets: per client, sorted by clock, covered duplicates dropped.

    Skip structs (holes in merged updates) are dropped: they carry nothing, and kept they would
    hide the real structs that later fill the hole.
    """
    for client, structs in more.items():
        structs = [s for s in structs if s.__class__ is not Skip]
        mine = pending.get(client)
        if mine is None:
            if structs:
                pending[client] = structs
            continue
        combined = sorted(mine + structs, key=_clock_len)
        out: list = []
        for s in combined:
            if out and out[-1].clock <= s.clock and s.clock + s.length <= out[-1].clock + out[-1].length:
                continue
            out.append(s)
        pending[client] = out


def _clock_len(s) -> tuple[int, int]:
    return (s.clock, -s.length)


__all__ = ["apply_refs", "integrate_structs", "apply_delete_set"]
