"""Applying a decoded update to a document, exactly as Yjs orders the work.

Structs whose dependencies have not arrived are kept pending and retried only once what they
wait for is there; deletions of unknown ranges are kept as a pending delete set.
"""

from __future__ import annotations

from .delete_set import DeleteSet
from .store import StructStore, find_index
from .structs.item import Item, Skip, split_item


def integrate_structs(tr, store: StructStore, refs: dict[int, list]) -> tuple[dict, dict] | None:
    """Integrate ``refs`` (client -> structs); returns (rest structs, missing clocks) or None."""
    if not refs:
        return None
    # Work on clients in descending order (pop from the end of an ascending list).
    targets = {c: [lst, 0] for c, lst in refs.items() if lst}
    order = sorted(targets)
    rest: dict[int, list] = {}
    missing_sv: dict[int, int] = {}
    stack: list = []
    state: dict[int, int] = {}

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
    if cur is None:
        return None
    head = cur[0][cur[1]]
    cur[1] += 1
    while True:
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
                miss = head.missing(tr, store) if head.is_item else None
                if miss is not None:
                    stack.append(head)
                    t = targets.get(miss)
                    if t is None or t[1] == len(t[0]):
                        update_missing(miss, store.get_state(miss))
                        stack_to_rest()
                    else:
                        head = t[0][t[1]]
                        t[1] += 1
                        continue
                else:
                    head.integrate(tr, offset)
                    state[client] = head.clock + head.length
        if stack:
            head = stack.pop()
        elif cur is not None and cur[1] < len(cur[0]):
            head = cur[0][cur[1]]
            cur[1] += 1
        else:
            cur = next_target()
            if cur is None:
                break
            head = cur[0][cur[1]]
            cur[1] += 1
    if rest:
        return rest, missing_sv
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
        structs = store.clients.get(client)
        state = store.get_state(client)
        for clock, length in ranges:
            end = clock + length
            if clock < state:
                if state < end:
                    unapplied.setdefault(client, []).append([state, end - state])
                i = find_index(structs, clock)
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
    if retry:
        pending = store.pending
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
        out = []
        for s in combined:
            if out and out[-1].clock <= s.clock and s.clock + s.length <= out[-1].clock + out[-1].length:
                continue
            out.append(s)
        pending[client] = out


def _clock_len(s) -> tuple[int, int]:
    return (s.clock, -s.length)


__all__ = ["apply_refs", "integrate_structs", "apply_delete_set"]
