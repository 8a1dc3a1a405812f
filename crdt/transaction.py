"""Transactions: every change happens in one; cleanup fires events, collects garbage, merges
structs and emits the transaction's update."""

from __future__ import annotations

import random
from typing import Any

from .delete_set import DeleteSet
from .encoding import Encoder
from .events import call_observers
from .store import find_index, find_index_near
from .structs.contents import ContentDeleted
from .structs.item import Item, try_merge_with_lefts
from .update_encoder import write_structs


class Transaction:
    """What one transaction did: read it in observers and ``after_transaction`` callbacks.

    ``origin`` is what the caller passed to ``transact``; ``local`` is False while applying a
    remote update; ``before_state``/``after_state`` are state vectors (client -> clock).
    """

    __slots__ = (
        "doc", "origin", "local", "before_state", "after_state", "delete_set", "changed",
        "changed_parent_types", "merge_structs", "meta", "reset_markers", "deleted_items",
        "new_structs_merged", "_done",
    )

    def __init__(self, doc, origin: Any, local: bool) -> None:
        self.doc = doc
        self.origin = origin
        self.local = local
        self.before_state: dict[int, int] = doc.store.state_vector()
        self.after_state: dict[int, int] = {}
        self.delete_set = DeleteSet()
        self.changed: dict = {}
        self.changed_parent_types: dict = {}
        self.merge_structs: list = []
        self.meta: dict = {}
        # Set when list items were integrated by a path that does not keep search markers right.
        self.reset_markers = not local
        # Set by Item.delete: only then can the delete set hold items whose content GC must drop
        # (the other deleted items of a transaction arrived as deleted content).
        self.deleted_items = False
        # Set by a load that already tried every new struct against its left neighbour in the store
        # (crdt.fresh_load): cleanup need not, unless deletions made more runs.
        self.new_structs_merged = False
        self._done = False

    def add_changed(self, type_, parent_sub) -> None:
        item = type_._item
        if item is None or (item.clock < self.before_state.get(item.client, 0) and not item.deleted):
            subs = self.changed.get(type_)
            if subs is None:
                # A dict keeps keys in the order they changed (like the Set Yjs uses).
                self.changed[type_] = {parent_sub: None}
            else:
                subs[parent_sub] = None

    def deleted(self, item) -> bool:
        """Whether ``item`` was deleted by this transaction."""
        return self.delete_set.contains(item.client, item.clock)

    def created(self, item) -> bool:
        """Whether ``item`` was added by this transaction."""
        return item.clock >= self.before_state.get(item.client, 0)


def begin(doc, origin: Any = None, local: bool = True) -> Transaction:
    tr = Transaction(doc, origin, local)
    doc._tr = tr
    doc._cleanups.append(tr)
    return tr


def finish(doc, tr: Transaction) -> None:
    doc._tr = None
    cleanups = doc._cleanups
    if cleanups[0] is tr:
        i = 0
        try:
            while i < len(cleanups):
                _cleanup(cleanups[i])
                i += 1
        finally:
            cleanups.clear()


def _cleanup(tr: Transaction) -> None:
    doc = tr.doc
    store = doc.store
    ds = tr.delete_set
    before = tr.before_state
    try:
        if ds.clients:
            ds.sort_and_merge()
        after = tr.after_state = store.state_vector()
        if tr.reset_markers:
            for t in tr.changed:
                if t._markers:
                    t._markers = []
        if doc._observed and tr.changed:
            call_observers(tr)
        if doc._after_transaction:
            for cb in list(doc._after_transaction):
                cb(tr)
    finally:
        tr._done = True
        if ds.clients:
            if doc.gc and tr.deleted_items:
                _gc_delete_set(ds, store, doc.gc_filter)
            _merge_delete_set(ds, store, before)
        changed_state = False
        merge_new = not tr.new_structs_merged or tr.deleted_items
        for client, clock in after.items():
            b = before.get(client, 0)
            if b != clock:
                changed_state = True
                if merge_new:
                    _merge_new_structs(store.clients[client], b)
        ms = tr.merge_structs
        for k in range(len(ms) - 1, -1, -1):
            s = ms[k]
            structs = store.clients[s.client]
            pos = find_index(structs, s.clock)
            if pos + 1 < len(structs) and try_merge_with_lefts(structs, pos + 1) > 1:
                continue
            if pos > 0:
                try_merge_with_lefts(structs, pos)
        if not tr.local and after.get(doc.client_id) != before.get(doc.client_id):
            # Someone else wrote with our client id: never write with it again.
            doc.client_id = random.getrandbits(53) or 1
        if doc._update_handlers and (changed_state or ds.clients):
            enc = Encoder()
            write_structs(enc, store, before)
            ds.write(enc)
            update = enc.to_bytes()
            for cb in list(doc._update_handlers):
                cb(update, tr.origin)


def _merge_new_structs(structs: list, before: int) -> None:
    """Merge every struct from clock ``before`` on with its left neighbours where they form one run."""
    first = max(find_index(structs, before), 1)
    i = len(structs) - 1
    while i >= first:
        right = structs[i]
        left = structs[i - 1]
        # Most neighbours in the store are not neighbours in their list: rule those out inline
        # (what Item.merge checks first) before paying for the call.
        if left.__class__ is right.__class__ and (left.__class__ is not Item or left.right is right):
            i -= 1 + try_merge_with_lefts(structs, i)
        else:
            i -= 1


def _gc_delete_set(ds: DeleteSet, store, gc_filter) -> None:
    for client, ranges in ds.clients.items():
        structs = store.clients[client]
        guess = len(structs) - 1
        for k in range(len(ranges) - 1, -1, -1):
            clock, length = ranges[k]
            end = clock + length
            si = guess = find_index_near(structs, clock, guess)
            n = len(structs)
            while si < n:
                s = structs[si]
                if s.clock >= end:
                    break
                # Deleted content is what collecting a plain item leaves: nothing to do for it.
                if (
                    s.is_item and s.deleted and not s.keep and s.content.__class__ is not ContentDeleted
                    and (gc_filter is None or gc_filter(s))
                ):
                    s.gc(store, False)
                si += 1


def _merge_delete_set(ds: DeleteSet, store, before: dict[int, int]) -> None:
    for client, ranges in ds.clients.items():
        structs = store.clients[client]
        # Ranges of structs this transaction added are left to _merge_new_structs, which tries every
        # pair of neighbours from there on anyway (the runs merging finds do not depend on the order).
        new = before.get(client, 0)
        if not new:
            continue  # every range is of structs this transaction added
        for k in range(len(ranges) - 1, -1, -1):
            clock, length = ranges[k]
            if clock >= new:
                continue
            si = min(len(structs) - 1, 1 + find_index(structs, clock + length - 1))
            while si > 0 and structs[si].clock >= clock:
                si -= 1 + try_merge_with_lefts(structs, si)
