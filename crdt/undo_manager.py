"""UndoManager: selective undo/redo of local changes, as Yjs 13.6 does it.

A manager watches every transaction of its document (``Doc.observe_after_transaction``). A transaction
that changed something in the manager's *scope* (some shared types, or the whole document) and whose
origin is *tracked* is captured as a :class:`StackItem`: the ID ranges it inserted and the ID ranges it
deleted. Captures closer together than ``capture_timeout`` join the top stack item.

Undoing a stack item never rewinds history. It deletes the items the stack item inserted (or their
later re-creations) and re-creates the items it deleted as *new* items with new IDs from this client.
The old item remembers its copy in ``Item.redone``; copies are placed next to the current copies of the
old neighbours. So concurrent changes by other peers stay, and the undo travels as an ordinary update.

Placement follows Yjs 13.6.33 exactly, including its bug yjs/yjs#794: restoring a nested type whose
items were restored before can give a copy a right origin that lies left of its origin, and peers then
order that text differently (``tests/crdt/test_undo.py::test_yjs_794_redo_can_break_convergence``).

Differences from Yjs, on purpose:

- A *remote* transaction (``Doc.apply_update``) whose origin is ``None`` is never captured. Yjs captures
  it (``null`` is tracked by default), which makes "undo" revert other users' edits when a provider
  forgets to pass an origin. Remote transactions with an origin that is tracked explicitly are captured
  as in Yjs.
- ``capture_timeout`` is measured with ``clock`` (default ``time.monotonic``, seconds) instead of the wall
  clock in milliseconds; pass a clock of your own (for tests, or to count in other units).
- ``undo()``/``redo()`` return whether something changed; Yjs returns the stack item (``None`` if not).
"""

from __future__ import annotations

import time
import warnings
from collections.abc import Callable, Iterable
from typing import Any

from .delete_set import DeleteSet
from .doc import Doc
from .store import find_index
from .structs.contents import ContentType
from .structs.item import Item, get_item_clean_start, split_item
from .transaction import Transaction
from .types.base import SharedType

EVENTS = ("stack-item-added", "stack-item-updated", "stack-item-popped", "stack-cleared")


class StackItem:
    """One undoable (or redoable) step: the ID ranges it inserted and deleted.

    ``meta`` is yours: store a cursor or selection in ``stack-item-added`` and read it back in
    ``stack-item-popped``.
    """

    __slots__ = ("insertions", "deletions", "meta")

    def __init__(self, deletions: DeleteSet, insertions: DeleteSet) -> None:
        self.deletions = deletions
        self.insertions = insertions
        self.meta: dict[Any, Any] = {}

    def __repr__(self) -> str:
        return f"StackItem(insertions={self.insertions.clients}, deletions={self.deletions.clients})"


class StackItemEvent:
    """Passed to ``stack-item-added``, ``stack-item-updated`` and ``stack-item-popped`` observers.

    ``type`` is ``"undo"`` when the stack item is (or was) on the undo stack, ``"redo"`` otherwise;
    ``changed_parent_types`` lists the shared types the transaction changed, with their ancestors.
    """

    __slots__ = ("stack_item", "origin", "type", "changed_parent_types")

    def __init__(self, stack_item: StackItem, origin: Any, type_: str, changed_parent_types: list) -> None:
        self.stack_item = stack_item
        self.origin = origin
        self.type = type_
        self.changed_parent_types = changed_parent_types

    def __repr__(self) -> str:
        return f"StackItemEvent(type={self.type!r}, origin={self.origin!r}, stack_item={self.stack_item!r})"


class StackClearedEvent:
    """Passed to ``stack-cleared`` observers."""

    __slots__ = ("undo_stack_cleared", "redo_stack_cleared")

    def __init__(self, undo_stack_cleared: bool, redo_stack_cleared: bool) -> None:
        self.undo_stack_cleared = undo_stack_cleared
        self.redo_stack_cleared = redo_stack_cleared

    def __repr__(self) -> str:
        return f"StackClearedEvent(undo={self.undo_stack_cleared}, redo={self.redo_stack_cleared})"


class UndoManager:
    """Undo and redo the changes made to ``scope`` by tracked origins.

    ``scope``: a shared type, a list of them, or a ``Doc`` (everything in it). Every type must belong
    to the same document (pass ``doc`` when ``scope`` is an empty list).
    ``tracked_origins``: transaction origins to capture (default ``{None}``, i.e. plain local edits);
    an entry may also be a class, which tracks every origin that is an instance of exactly that class.
    The manager always tracks itself (undo and redo transactions use it as their origin).
    ``capture_timeout``: changes closer together than this (in ``clock`` units) form one step.
    ``capture_transaction(tr)``: return False to leave a transaction out.
    ``delete_filter(item)``: return False to keep an item that undo/redo would delete.
    ``ignore_remote_map_changes``: restore a map entry even if another peer has set the key since.
    """

    def __init__(
        self,
        scope: Any,
        tracked_origins: Iterable[Any] | None = None,
        capture_timeout: float = 0.5,
        capture_transaction: Callable[[Transaction], bool] | None = None,
        delete_filter: Callable[[Item], bool] | None = None,
        ignore_remote_map_changes: bool = False,
        clock: Callable[[], float] = time.monotonic,
        doc: Any = None,
    ) -> None:
        if doc is None:
            first = scope if not isinstance(scope, (list, tuple)) else scope[0] if scope else None
            if first is None:
                raise ValueError("an empty scope needs doc=")
            doc = first if _is_doc(first) else getattr(first, "doc", None)
            if doc is None:
                raise ValueError("the scope must be part of a document (insert nested types first)")
        self.doc = doc
        self.scope: list[Any] = []
        self._scope_ids: set[int] = set()
        self._whole_doc = False
        self.add_to_scope(scope)
        self.tracked_origins: set[Any] = {None} if tracked_origins is None else set(tracked_origins)
        self.tracked_origins.add(self)
        self.capture_timeout = capture_timeout
        self.capture_transaction = capture_transaction
        self.delete_filter = delete_filter
        self.ignore_remote_map_changes = ignore_remote_map_changes
        self.clock = clock
        self.undo_stack: list[StackItem] = []
        self.redo_stack: list[StackItem] = []
        self.undoing = False
        self.redoing = False
        self._current: StackItem | None = None
        self._last_change: float | None = None
        self._observers: dict[str, list[Callable]] = {name: [] for name in EVENTS}
        self._handler = doc.observe_after_transaction(self._after_transaction)

    # -- configuration ---------------------------------------------------------------------------

    def add_to_scope(self, types: Any) -> None:
        """Extend the scope with a shared type, a list of them, or the whole document."""
        for t in types if isinstance(types, (list, tuple)) else [types]:
            if any(s is t for s in self.scope):
                continue
            if _is_doc(t):
                if t is not self.doc:
                    warnings.warn("UndoManager: scope from another document", stacklevel=2)
                self._whole_doc = self._whole_doc or t is self.doc
            elif isinstance(t, SharedType):
                if t.doc is not self.doc:
                    warnings.warn("UndoManager: scope from another document", stacklevel=2)
                self._scope_ids.add(id(t))
            else:
                raise TypeError(f"an UndoManager scope is a shared type or a Doc, not {type(t).__name__}")
            self.scope.append(t)

    def add_tracked_origin(self, origin: Any) -> None:
        self.tracked_origins.add(origin)

    def remove_tracked_origin(self, origin: Any) -> None:
        self.tracked_origins.discard(origin)

    # -- observers -------------------------------------------------------------------------------

    def observe(self, event: str, callback: Callable[[Any], None]) -> Callable:
        """Call ``callback(ev)`` on ``event``: one of ``stack-item-added``, ``stack-item-updated``,
        ``stack-item-popped`` (a :class:`StackItemEvent`) or ``stack-cleared`` (a
        :class:`StackClearedEvent`). Returns the callback."""
        if event not in self._observers:
            raise ValueError(f"unknown UndoManager event {event!r} (one of {', '.join(EVENTS)})")
        self._observers[event].append(callback)
        return callback

    def unobserve(self, event: str, callback: Callable) -> None:
        self._observers[event].remove(callback)

    def _emit(self, event: str, payload: Any) -> None:
        for cb in list(self._observers[event]):
            cb(payload)

    # -- the stacks ------------------------------------------------------------------------------

    def can_undo(self) -> bool:
        return bool(self.undo_stack)

    def can_redo(self) -> bool:
        return bool(self.redo_stack)

    def stop_capturing(self) -> None:
        """Make the next captured change a step of its own (not merged into the last one)."""
        self._last_change = None

    def clear(self, undo_stack: bool = True, redo_stack: bool = True) -> None:
        """Forget the undo and/or redo stack (their deleted items may then be garbage collected)."""
        if not ((undo_stack and self.undo_stack) or (redo_stack and self.redo_stack)):
            return
        with self.doc.transact() as tr:
            if undo_stack:
                for si in self.undo_stack:
                    self._release(tr, si)
                self.undo_stack = []
            if redo_stack:
                for si in self.redo_stack:
                    self._release(tr, si)
                self.redo_stack = []
            self._emit("stack-cleared", StackClearedEvent(undo_stack, redo_stack))

    def _release(self, tr: Transaction, si: StackItem) -> None:
        def unkeep(s) -> None:
            if s.is_item and self._in_scope(s):
                keep_item(s, False)

        iterate_structs(tr, si.deletions, unkeep)

    def undo(self) -> bool:
        """Undo the last step; returns whether anything changed (empty steps are skipped)."""
        self.undoing = True
        try:
            return self._pop(self.undo_stack, "undo")
        finally:
            self.undoing = False

    def redo(self) -> bool:
        """Redo the last undone step; returns whether anything changed."""
        self.redoing = True
        try:
            return self._pop(self.redo_stack, "redo")
        finally:
            self.redoing = False

    def destroy(self) -> None:
        """Stop capturing and drop every observer (the stacks are left as they are)."""
        self.tracked_origins.discard(self)
        for callbacks in self._observers.values():
            callbacks.clear()
        if self._handler is not None:
            self.doc.unobserve_after_transaction(self._handler)
            self._handler = None

    # -- capturing -------------------------------------------------------------------------------

    def _in_scope(self, item: Item) -> bool:
        if self._whole_doc:
            return True
        ids = self._scope_ids
        p = item.parent
        while True:
            if id(p) in ids:
                return True
            pitem = p._item
            if pitem is None:
                return False
            p = pitem.parent

    def _tracks(self, tr: Transaction) -> bool:
        origin = tr.origin
        if origin is None:
            # Remote updates applied without an origin are other users' edits: never ours to undo.
            return tr.local and None in self.tracked_origins
        try:
            if origin in self.tracked_origins:
                return True
        except TypeError:  # an unhashable origin can only match by its class
            pass
        return type(origin) in self.tracked_origins

    def _after_transaction(self, tr: Transaction) -> None:
        if self.capture_transaction is not None and not self.capture_transaction(tr):
            return
        if not self._tracks(tr):
            return
        changed = changed_parent_types(tr)
        if not self._whole_doc:
            ids = self._scope_ids
            if not any(id(t) in ids for t in changed):
                return
        undoing = self.undoing
        redoing = self.redoing
        stack = self.redo_stack if undoing else self.undo_stack
        if undoing:
            self.stop_capturing()  # the next undo must not join this step
        elif not redoing:
            self.clear(False, True)  # a new change: what was undone cannot be redone any more
        insertions = DeleteSet()
        before = tr.before_state
        for client, end in tr.after_state.items():
            start = before.get(client, 0)
            if end > start:
                insertions.add(client, start, end - start)
        now = self.clock()
        added = False
        if (
            self._last_change is not None
            and now - self._last_change < self.capture_timeout
            and stack
            and not undoing
            and not redoing
        ):
            top = stack[-1]
            top.deletions = merge_delete_sets(top.deletions, tr.delete_set)
            top.insertions = merge_delete_sets(top.insertions, insertions)
        else:
            stack.append(StackItem(merge_delete_sets(tr.delete_set), insertions))
            added = True
        if not undoing and not redoing:
            self._last_change = now

        def keep(s) -> None:
            # Deleted items must survive GC: undo re-creates them from their content.
            if s.is_item and self._in_scope(s):
                keep_item(s, True)

        iterate_structs(tr, tr.delete_set, keep)
        event = StackItemEvent(stack[-1], tr.origin, "redo" if undoing else "undo", changed)
        self._emit("stack-item-added" if added else "stack-item-updated", event)

    # -- undo / redo -----------------------------------------------------------------------------

    def _pop(self, stack: list[StackItem], kind: str) -> bool:
        doc = self.doc
        with doc.transact(origin=self) as tr:
            # Items are linked in below without going through index-based inserts: positions cached
            # by the types (search markers) are stale afterwards.
            tr.reset_markers = True
            while stack and self._current is None:
                si = stack.pop()
                if self._apply(tr, si):
                    self._current = si
            for t, subs in tr.changed.items():
                if None in subs and t._markers:
                    t._markers = []
        res = self._current
        if res is None:
            return False
        self._current = None
        self._emit("stack-item-popped", StackItemEvent(res, self, kind, changed_parent_types(tr)))
        return True

    def _apply(self, tr: Transaction, si: StackItem) -> bool:
        """Revert one stack item inside ``tr``; returns whether anything changed."""
        store = tr.doc.store
        to_delete: list[Item] = []
        to_redo: dict[Item, None] = {}  # an ordered set
        insertions = si.insertions

        def collect_insertion(s) -> None:
            if not s.is_item:
                return
            if s.redone is not None:
                s, diff = follow_redone(store, s.client, s.clock)
                if diff > 0:
                    s = get_item_clean_start(tr, store, s.client, s.clock + diff)
            if not s.deleted and self._in_scope(s):
                to_delete.append(s)

        def collect_deletion(s) -> None:
            # Items inserted and deleted within one step stay deleted.
            if s.is_item and self._in_scope(s) and not insertions.contains(s.client, s.clock):
                to_redo[s] = None

        iterate_structs(tr, insertions, collect_insertion)
        iterate_structs(tr, si.deletions, collect_deletion)
        changed = False
        for item in list(to_redo):
            if redo_item(tr, item, to_redo, insertions, self.ignore_remote_map_changes, self) is not None:
                changed = True
        # Children before their parents, so a delete filter still sees them attached.
        keep = self.delete_filter
        for item in reversed(to_delete):
            if keep is None or keep(item):
                item.delete(tr)
                changed = True
        return changed


# -- machinery: scope, delete-set iteration, keep flags, re-creating deleted items -----------------


def _is_doc(obj: Any) -> bool:
    return isinstance(obj, Doc)


def changed_parent_types(tr: Transaction) -> list:
    """The types ``tr`` changed (unless deleted), with all their ancestors (each once)."""
    out: dict[int, SharedType] = {}
    for t in tr.changed:
        item = t._item
        if item is not None and item.deleted:
            continue
        while id(t) not in out:
            out[id(t)] = t
            item = t._item
            if item is None:
                break
            t = item.parent
    return list(out.values())


def merge_delete_sets(*sets: DeleteSet) -> DeleteSet:
    """A new delete set holding every range of ``sets`` (clients in first-seen order, as Yjs)."""
    out = DeleteSet()
    for ds in sets:
        for client, ranges in ds.clients.items():
            mine = out.clients.get(client)
            if mine is None:
                mine = out.clients[client] = []
            mine.extend([r[0], r[1]] for r in ranges)
    out.sort_and_merge()
    return out


def _clean_start_index(tr: Transaction, structs: list, clock: int) -> int:
    i = find_index(structs, clock)
    s = structs[i]
    if s.clock < clock and s.is_item:
        structs.insert(i + 1, split_item(tr, s, clock - s.clock))
        return i + 1
    return i


def iterate_structs(tr: Transaction, ds: DeleteSet, f: Callable[[Any], None]) -> None:
    """Call ``f(struct)`` for every struct in the ranges of ``ds``, splitting items at range ends.

    ``f`` may split structs further on (the iteration reads the store as it goes, as Yjs does).
    """
    clients = tr.doc.store.clients
    for client, ranges in list(ds.clients.items()):
        structs = clients.get(client)
        if not structs:
            continue
        for clock, length in list(ranges):
            if length <= 0:
                continue
            end = clock + length
            i = _clean_start_index(tr, structs, clock)
            while True:
                s = structs[i]
                i += 1
                if end < s.clock + s.length:
                    _clean_start_index(tr, structs, end)
                f(s)
                if i >= len(structs) or structs[i].clock >= end:
                    break


def keep_item(item: Item | None, keep: bool) -> None:
    """Set ``keep`` on ``item`` and its ancestors (up to the first that already has it)."""
    while item is not None and item.keep != keep:
        item.keep = keep
        item = item.parent._item


def follow_redone(store, client: int, clock: int) -> tuple[Any, int]:
    """The latest re-creation of the unit (client, clock): (struct, offset of the unit in it)."""
    cur = (client, clock)
    diff = 0
    while True:
        if diff > 0:
            cur = (cur[0], cur[1] + diff)
        s = store.get_item(cur[0], cur[1])
        diff = cur[1] - s.clock
        nxt = s.redone if s.is_item else None
        if nxt is None:
            return s, diff
        cur = nxt


def _redone_start(tr: Transaction, item) -> Any:
    """The struct starting at ``item.redone`` (split off if needed), or None without a copy."""
    if not item.is_item or item.redone is None:
        return None
    return get_item_clean_start(tr, tr.doc.store, item.redone[0], item.redone[1])


def _trace(tr: Transaction, item: Item, parent_item: Item | None) -> Item | None:
    """``item`` or its latest copy that lives in the type of ``parent_item`` (None: no such copy)."""
    t = item
    while t is not None and (not t.is_item or t.parent._item is not parent_item):
        t = _redone_start(tr, t)
    return t


def _deleted_by_stack(stack: list[StackItem], item: Item) -> bool:
    return any(si.deletions.contains(item.client, item.clock) for si in stack)


def redo_item(
    tr: Transaction,
    item: Item,
    redo_items: dict,
    insertions: DeleteSet,
    ignore_remote_map_changes: bool,
    um: UndoManager,
) -> Item | None:
    """Re-create the deleted ``item`` as a new item of this client; returns the copy, or None when
    it cannot be restored (its parent is gone, or another peer set its map key since)."""
    doc = tr.doc
    store = doc.store
    if item.redone is not None:
        return get_item_clean_start(tr, store, item.redone[0], item.redone[1])
    parent_item = item.parent._item
    if parent_item is not None and parent_item.deleted:
        # The parent must come back first (if it is being restored in this step at all).
        if parent_item.redone is None and (
            parent_item not in redo_items
            or redo_item(tr, parent_item, redo_items, insertions, ignore_remote_map_changes, um) is None
        ):
            return None
        while parent_item.redone is not None:
            parent_item = _redone_start(tr, parent_item)
            if not parent_item.is_item:
                return None
        if parent_item.content.__class__ is not ContentType:
            return None
    parent_type = item.parent if parent_item is None else parent_item.content.type
    parent_sub = item.parent_sub
    left: Item | None = None
    right: Item | None = None
    if parent_sub is None:
        # A list item goes back between the current copies of its old neighbours.
        left = item.left
        while left is not None:
            t = _trace(tr, left, parent_item)
            if t is not None:
                left = t
                break
            left = left.left
        right = item
        while right is not None:
            t = _trace(tr, right, parent_item)
            if t is not None:
                right = t
                break
            right = right.right
    else:
        if item.right is not None and not ignore_remote_map_changes:
            # Newer values of the key are fine only if this manager itself wrote (or undid) them.
            left = item
            while left is not None and left.right is not None:
                r = left.right
                if not (
                    r.redone is not None
                    or insertions.contains(r.client, r.clock)
                    or _deleted_by_stack(um.undo_stack, r)
                    or _deleted_by_stack(um.redo_stack, r)
                ):
                    break
                left = r
                while left is not None and left.is_item and left.redone is not None:
                    left = _redone_start(tr, left)
                if left is not None and not left.is_item:
                    return None
            if left is not None and left.right is not None:
                return None  # another peer set the key since: theirs wins
        else:
            left = parent_type._map.get(parent_sub)
        if left is not None and left.parent._item is not parent_item:
            left = parent_type._map.get(parent_sub)
    client = doc.client_id
    clock = store.get_state(client)
    copy = Item(
        client, clock, item.length,
        None if left is None else (left.client, left.clock + left.length - 1),
        None if right is None else (right.client, right.clock),
        left, right, parent_type, parent_sub, item.content.copy(),
    )
    item.redone = (client, clock)
    keep_item(copy, True)
    copy.integrate(tr, 0)
    return copy
