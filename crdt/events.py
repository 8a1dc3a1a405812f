"""Events passed to observers: what changed in one shared type during one transaction."""

from __future__ import annotations

from typing import Any

from .encoding import UNDEFINED
from .structs.contents import ContentString
from .structs.item import item_value


class Event:
    """A change to ``target``. ``delta`` (lists and text) and ``keys`` (maps) are computed on demand,
    and only while observers run (after that the transaction is gone)."""

    __slots__ = ("target", "current_target", "transaction", "_subs", "_delta", "_keys", "_path")

    def __init__(self, target, transaction, subs: set) -> None:
        self.target = target
        self.current_target = target
        self.transaction = transaction
        self._subs = subs
        self._delta: list[dict[str, Any]] | None = None
        self._keys: dict[str, dict[str, Any]] | None = None
        self._path = None

    def __repr__(self) -> str:
        return f"Event(target={type(self.target).__name__}, path={self.path})"

    @property
    def path(self) -> list:
        """Keys and indices from ``current_target`` down to ``target``."""
        return _path_to(self.current_target, self.target)

    def _check(self) -> None:
        if self.transaction._done:
            raise RuntimeError("event changes can only be read while observers are called")

    @property
    def keys_changed(self) -> set:
        """Map keys that changed (``None`` stands for the list part)."""
        return {k for k in self._subs if k is not None}

    @property
    def keys(self) -> dict[str, dict[str, Any]]:
        """For each changed key: ``{"action": "add"|"update"|"delete", "old_value": ...}``."""
        if self._keys is None:
            self._check()
            tr = self.transaction
            out = {}
            for key in self._subs:
                if key is None:
                    continue
                item = self.target._map.get(key)
                if item is None:
                    continue
                if tr.created(item):
                    prev = item.left
                    while prev is not None and tr.created(prev):
                        prev = prev.left
                    if tr.deleted(item):
                        if prev is not None and tr.deleted(prev):
                            out[key] = {"action": "delete", "old_value": _old(prev)}
                    elif prev is not None and tr.deleted(prev):
                        out[key] = {"action": "update", "old_value": _old(prev)}
                    else:
                        out[key] = {"action": "add", "old_value": UNDEFINED}
                elif tr.deleted(item):
                    out[key] = {"action": "delete", "old_value": _old(item)}
            self._keys = out
        return self._keys

    @property
    def delta(self) -> list[dict[str, Any]]:
        """The list change as ``[{"retain": n} | {"insert": [...] or str} | {"delete": n}, ...]``."""
        if self._delta is None:
            self._check()
            tr = self.transaction
            is_text = hasattr(self.target, "to_delta")
            ops: list[dict[str, Any]] = []
            last: dict[str, Any] | None = None
            n = self.target._start
            while n is not None:
                if n.deleted:
                    if tr.deleted(n) and not tr.created(n):
                        size = n.index_len()
                        if size:
                            if last is None or "delete" not in last:
                                last = {"delete": 0}
                                ops.append(last)
                            last["delete"] += size
                elif tr.created(n):
                    if n.vlen:
                        c = n.content
                        if is_text and c.__class__ is ContentString:
                            if last is None or not isinstance(last.get("insert"), str):
                                last = {"insert": ""}
                                ops.append(last)
                            last["insert"] += c.s
                        elif is_text:
                            last = {"insert": c.values()[0]}
                            ops.append(last)
                        else:
                            if last is None or not isinstance(last.get("insert"), list):
                                last = {"insert": []}
                                ops.append(last)
                            last["insert"].extend(c.values())
                elif n.vlen:
                    if last is None or "retain" not in last:
                        last = {"retain": 0}
                        ops.append(last)
                    last["retain"] += n.vlen
                n = n.right
            if ops and "retain" in ops[-1]:
                ops.pop()
            self._delta = ops
        return self._delta

    @property
    def changes(self) -> dict[str, Any]:
        return {"delta": self.delta, "keys": self.keys}


def _old(item) -> Any:
    if item.content.__class__.__name__ == "ContentDeleted":
        return UNDEFINED
    return item_value(item)


def _path_to(parent, child) -> list:
    path: list = []
    while child._item is not None and child is not parent:
        item = child._item
        if item.parent_sub is not None:
            path.insert(0, item.parent_sub)
        else:
            i = 0
            c = item.parent._start
            while c is not item and c is not None:
                i += c.vlen
                c = c.right
            path.insert(0, i)
        child = item.parent
    return path


def call_observers(tr) -> None:
    """Fire type observers, then deep observers (events sorted by path length)."""
    parents = tr.changed_parent_types
    for t, subs in list(tr.changed.items()):
        if t._item is not None and t._item.deleted:
            continue
        # Only build an event when someone listens here or above.
        listened = bool(t._eh)
        p = t
        while not listened:
            if p._deh:
                listened = True
                break
            if p._item is None:
                break
            p = p._item.parent
        if not listened:
            continue
        event = t._make_event(tr, subs)
        p = t
        while True:
            lst = parents.get(p)
            if lst is None:
                parents[p] = [event]
            else:
                lst.append(event)
            if p._item is None:
                break
            p = p._item.parent
        for cb in list(t._eh):
            cb(event)
    for t, events in list(parents.items()):
        if t._deh and (t._item is None or not t._item.deleted):
            events = [e for e in events if e.target._item is None or not e.target._item.deleted]
            for e in events:
                e.current_target = t
            events.sort(key=lambda e: len(e.path))
            for cb in list(t._deh):
                cb(events)
