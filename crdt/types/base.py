"""What every shared type has: its list of items, its map of keys, observers, search markers.

List positions are found from a few cached (item, index) markers near recent edits, never by a
walk from the head of the list; markers follow local edits and are dropped after remote ones.
"""

from __future__ import annotations

from collections.abc import Callable
from typing import TYPE_CHECKING, Any

from ..encoding import UNDEFINED, Encoder
from ..events import Event
from ..limits import LIMITS, too_deep_message
from ..structs.contents import (
    ContentAny,
    ContentBinary,
    ContentString,
    ContentType,
    utf16_offset,
)
from ..structs.item import Item, get_item_clean_start
from ..transaction import begin, finish

if TYPE_CHECKING:
    from ..doc import Doc

MAX_MARKERS = 8


class SharedType:
    """Base of every shared type. A type is *prelim* until it is inserted into a document."""

    __slots__ = (
        "_item", "_map", "_start", "doc", "_length", "_eh", "_deh", "_markers", "_has_formatting",
        "_prelim", "_name", "_marker_clock", "__weakref__",
    )
    _type_ref = -1
    _uses_markers = False
    # "map" or "list" for types whose to_py is a plain dict/list of their values (see deep_to_py).
    _nests: str | None = None
    # Whether local inserts land after the deleted items at their position (text) or before (arrays).
    _skips_tombstones = False

    def __init__(self) -> None:
        self._item: Item | None = None
        self._map: dict[str, Item] = {}
        self._start: Item | None = None
        self.doc: Doc | None = None
        self._length = 0
        self._eh: list[Callable] = []
        self._deh: list[Callable] = []
        self._markers: list | None = [] if self._uses_markers else None
        self._has_formatting = False
        self._prelim: Any = None
        self._name: str | None = None
        self._marker_clock = 0

    # -- document plumbing -----------------------------------------------------------------------

    def _integrate(self, tr, item: Item | None) -> None:
        self.doc = tr.doc
        self._item = item
        tr.doc._observed += len(self._eh) + len(self._deh)
        prelim = self._prelim
        self._prelim = None
        if prelim is not None:
            self._apply_prelim(tr, prelim)

    def _apply_prelim(self, tr, prelim: Any) -> None:
        pass

    def _root_name(self) -> str | None:
        return self._name

    def _write_type_ref(self, enc: Encoder) -> None:
        enc.write_var_uint(self._type_ref)

    def _copy_empty(self) -> SharedType:
        return type(self)()

    def _take_over(self, other: SharedType) -> None:
        """Become the typed root that ``other`` (a placeholder) held content for."""
        self._start = other._start
        self._map = other._map
        self._length = other._length
        self._eh = other._eh
        self._deh = other._deh
        n = self._start
        while n is not None:
            n.parent = self
            n = n.right
        for n in self._map.values():
            while n is not None:
                n.parent = self
                n = n.left

    @property
    def parent(self) -> SharedType | None:
        """The type this one is nested in (None for a root type)."""
        return None if self._item is None else self._item.parent

    def _transact(self):
        doc = self.doc
        if doc is None:
            raise RuntimeError("this shared type is not part of a document yet")
        return doc

    def _run(self, fn: Callable, *args: Any) -> Any:
        """``fn(transaction, *args)`` in the open transaction, or in a new one."""
        doc = self._transact()
        tr = doc._tr
        if tr is not None:
            return fn(tr, *args)
        tr = begin(doc)
        try:
            return fn(tr, *args)
        finally:
            finish(doc, tr)

    # -- observers -------------------------------------------------------------------------------

    def observe(self, callback: Callable[[Any], None]) -> Callable:
        """Call ``callback(event)`` after each transaction that changed this type."""
        self._eh.append(callback)
        if self.doc is not None:
            self.doc._observed += 1
        return callback

    def unobserve(self, callback: Callable) -> None:
        self._eh.remove(callback)
        if self.doc is not None:
            self.doc._observed -= 1

    def observe_deep(self, callback: Callable[[list], None]) -> Callable:
        """Call ``callback(events)`` after each transaction that changed this type or anything in it."""
        self._deh.append(callback)
        if self.doc is not None:
            self.doc._observed += 1
        return callback

    def unobserve_deep(self, callback: Callable) -> None:
        self._deh.remove(callback)
        if self.doc is not None:
            self.doc._observed -= 1

    def _make_event(self, tr, subs: set) -> Event:
        return Event(self, tr, subs)

    def to_py(self) -> Any:
        return None


# -- list machinery ------------------------------------------------------------------------------


def locate(t: SharedType, k: int) -> tuple[Item, int]:
    """The visible item holding index ``k`` (0 <= k < len) and the index of its first unit."""
    markers = t._markers
    best = None
    p: Any  # an Item: with 0 <= k < len the walk below never runs off either end of the list
    if markers:
        dist = k
        for m in markers:
            d = m[1] - k
            if d < 0:
                d = -d
            if d < dist:
                dist = d
                best = m
    if best is None:
        p = t._start
        pidx = 0
    else:
        p = best[0]
        pidx = best[1]
    if pidx <= k:
        while True:
            v = p.vlen
            if k < pidx + v:
                break
            pidx += v
            p = p.right
    else:
        while pidx > k:
            p = p.left
            pidx -= p.vlen
    if markers is not None:
        t._marker_clock += 1
        if best is not None and abs(best[1] - pidx) < (t._length >> 4) + 16:
            best[0] = p
            best[1] = pidx
            best[2] = t._marker_clock
        elif len(markers) < MAX_MARKERS:
            markers.append([p, pidx, t._marker_clock])
        else:
            oldest = min(markers, key=_marker_age)
            oldest[0] = p
            oldest[1] = pidx
            oldest[2] = t._marker_clock
    return p, pidx


def _marker_age(m: list) -> int:
    return m[2]


def shift_markers(t: SharedType, index: int, n: int, after_tombstones: bool | None = None) -> None:
    """Keep markers right after ``n`` units were inserted (n > 0) or deleted (n < 0) at ``index``.

    A marker may rest on a deleted item. Text inserts go after the deleted items at their
    position and array inserts before them (as in Yjs), which decides whether such a marker moves.
    """
    markers = t._markers
    if not markers:
        return
    if n > 0:
        if after_tombstones is None:
            after_tombstones = t._skips_tombstones
        for m in markers:
            i = m[1]
            if i > index or (i == index and (m[0].vlen or not after_tombstones)):
                m[1] = i + n
    else:
        end = index - n
        for m in markers:
            i = m[1]
            if i >= end:
                m[1] = i + n
            elif i > index:
                m[1] = index


def split_at(tr, item: Item, k: int) -> Item:
    """Split ``item`` ``k`` index units in; returns the right half."""
    c = item.content
    off = utf16_offset(c.s, k) if c.__class__ is ContentString else k
    return get_item_clean_start(tr, tr.doc.store, item.client, item.clock + off)


def insert_point(tr, t: SharedType, index: int) -> tuple[Item | None, Item | None]:
    """(left, right) neighbours for an insertion at ``index``: right after the visible unit before it."""
    if index == 0:
        return None, t._start
    p, pidx = locate(t, index - 1)
    if index < pidx + p.vlen:
        split_at(tr, p, index - pidx)
    return p, p.right


def list_insert_after(tr, t: SharedType, left: Item | None, right: Item | None, values: list) -> None:
    """Insert values between two neighbours: runs of JSON values share one item, as in Yjs."""
    doc = tr.doc
    store = doc.store
    client = doc.client_id
    run: list = []

    def add(content, length) -> None:
        nonlocal left
        item = Item(
            client, store.get_state(client), length,
            None if left is None else (left.client, left.clock + left.length - 1),
            None if right is None else (right.client, right.clock), left, right, t, None, content,
        )
        item.integrate(tr, 0)
        left = item

    for v in values:
        if isinstance(v, SharedType):
            if run:
                add(ContentAny(run), len(run))
                run = []
            _check_prelim(v)
            add(ContentType(v), 1)
        elif isinstance(v, (bytes, bytearray, memoryview)):
            if run:
                add(ContentAny(run), len(run))
                run = []
            add(ContentBinary(bytes(v)), 1)
        else:
            run.append(_plain(v))
    if run:
        add(ContentAny(run), len(run))


def last_item(t: SharedType) -> Item | None:
    """The last item of the list part (deleted or not), walked to from the furthest marker."""
    n = t._start
    if t._markers:
        n = max(t._markers, key=_marker_index)[0]
    if n is not None:
        while n.right is not None:
            n = n.right
    return n


def _marker_index(m: list) -> int:
    return m[1]


def list_delete(tr, t: SharedType, index: int, length: int) -> None:
    if length <= 0:
        return
    if index < 0 or index + length > t._length:
        raise IndexError("delete range out of bounds")
    p, pidx = locate(t, index)
    if index > pidx:
        p = split_at(tr, p, index - pidx)
    remaining = length
    while remaining > 0 and p is not None:
        v = p.vlen
        if v:
            if remaining < v:
                split_at(tr, p, remaining)
                v = remaining
            remaining -= v
            p.delete(tr)
        p = p.right
    shift_markers(t, index, -length)


def list_items(t: SharedType):
    n = t._start
    while n is not None:
        if n.vlen:
            yield n
        n = n.right


def check_index(t: SharedType, index: int, allow_end: bool = False) -> int:
    n = t._length
    if index < 0:
        index += n
    if index < 0 or index > n or (index == n and not allow_end):
        raise IndexError("index out of range")
    return index


def _check_prelim(v: SharedType) -> None:
    if v.doc is not None or v._item is not None:
        raise ValueError("this shared type is already part of a document; insert a new one")


def _plain(v: Any, depth: int = 0) -> Any:
    # Values deeper than decoding accepts are refused here too: no peer could load them, and encoding
    # them would recurse without bound.
    if isinstance(v, int) and not isinstance(v, bool) and not -(2**63) <= v < 2**63:
        raise ValueError(f"integer {v} does not fit in 64 bits")
    if v is None or v is UNDEFINED or isinstance(v, (bool, int, float, str)):
        return v
    if isinstance(v, (dict, list, tuple)) and depth >= LIMITS.max_depth:
        raise ValueError(too_deep_message())
    if isinstance(v, dict):
        return {_key(k): _plain(x, depth + 1) for k, x in v.items()}
    if isinstance(v, (list, tuple)):
        return [_plain(x, depth + 1) for x in v]
    if isinstance(v, (bytes, bytearray, memoryview)):
        return bytes(v)
    raise TypeError(f"cannot store a {type(v).__name__} in a shared document")


def _key(k: Any) -> str:
    if isinstance(k, str):
        return k
    raise TypeError("keys of stored objects must be strings")


def plain_value(v: Any) -> Any:
    """``to_py`` of a stored value: shared types become plain Python data."""
    if isinstance(v, SharedType):
        return v.to_py()
    return v


def deep_to_py(root: SharedType) -> Any:
    """``to_py`` of a Map or Array and everything nested in it, without recursion.

    Shared types nest without bound (each level is its own item, so no decode limit sees the depth):
    the tree is walked with an explicit stack, so any depth converts without reaching Python's stack.
    """
    out: Any = {} if root._nests == "map" else []
    # (a Map or an Array, as its _nests says; the plain container its values go to)
    stack: list[tuple[Any, Any]] = [(root, out)]
    pop = stack.pop
    push = stack.append
    while stack:
        t, dst = pop()
        if t._nests == "map":
            for k, v in t.items():
                if isinstance(v, SharedType):
                    if v._nests is None:
                        v = v.to_py()
                    else:
                        child: Any = {} if v._nests == "map" else []
                        push((v, child))
                        v = child
                dst[k] = v
        else:
            add = dst.append
            for v in t:
                if isinstance(v, SharedType):
                    if v._nests is None:
                        v = v.to_py()
                    else:
                        child = {} if v._nests == "map" else []
                        push((v, child))
                        v = child
                add(v)
    return out


# -- map machinery -------------------------------------------------------------------------------


def map_set(tr, t: SharedType, key: str, value: Any) -> None:
    if not isinstance(key, str):
        raise TypeError("map keys must be strings")
    left = t._map.get(key)
    doc = tr.doc
    client = doc.client_id
    content: ContentType | ContentBinary | ContentAny
    if isinstance(value, SharedType):
        _check_prelim(value)
        content = ContentType(value)
    elif isinstance(value, (bytes, bytearray, memoryview)):
        content = ContentBinary(bytes(value))
    else:
        content = ContentAny([_plain(value)])
    Item(
        client, doc.store.get_state(client), 1,
        None if left is None else (left.client, left.clock + left.length - 1),
        None, left, None, t, key, content,
    ).integrate(tr, 0)


def map_delete(tr, t: SharedType, key: str) -> None:
    item = t._map.get(key)
    if item is not None:
        item.delete(tr)
