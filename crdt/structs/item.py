"""Items (the unit of every shared type's content), GC and Skip structs, and YATA integration."""

from __future__ import annotations

from typing import Any

from ..encoding import UNDEFINED
from ..store import StructStore, find_index
from .contents import ContentDeleted, ContentDoc, ContentType


class GC:
    """A garbage-collected range: only its length is known."""

    __slots__ = ("client", "clock", "length")
    deleted = True
    is_item = False
    ref = 0

    def __init__(self, client: int, clock: int, length: int) -> None:
        self.client = client
        self.clock = clock
        self.length = length

    def integrate(self, tr, offset: int) -> None:
        if offset > 0:
            self.clock += offset
            self.length -= offset
        tr.doc.store.add_struct(self)

    def merge(self, right) -> bool:
        if right.__class__ is not GC:
            return False
        self.length += right.length
        return True

    def write(self, enc, offset: int) -> None:
        enc.buf.append(0)
        enc.write_var_uint(self.length - offset)


class Skip:
    """A hole in an update (only in merged updates); never integrated."""

    __slots__ = ("client", "clock", "length")
    deleted = True
    is_item = False
    ref = 10

    def __init__(self, client: int, clock: int, length: int) -> None:
        self.client = client
        self.clock = clock
        self.length = length

    def merge(self, right) -> bool:
        if right.__class__ is not Skip:
            return False
        self.length += right.length
        return True

    def write(self, enc, offset: int) -> None:
        enc.buf.append(10)
        enc.write_var_uint(self.length - offset)


class Item:
    """One run of content in a shared type's list (or one value of a map key).

    ``vlen`` is the item's visible length in Python index units (code points for strings),
    0 while deleted or for content that does not count (formatting, deleted content).
    ``parent`` is the shared type once integrated; before that (a decoded struct) it is the root
    name (``str``), the parent item's ID (``tuple``) or ``None`` (copied from a neighbour).
    """

    __slots__ = (
        "client", "clock", "length", "origin", "right_origin", "left", "right",
        "parent", "parent_sub", "content", "deleted", "keep", "redone", "vlen",
    )
    is_item = True

    def __init__(self, client, clock, length, origin, right_origin, left, right, parent, parent_sub, content):
        self.client = client
        self.clock = clock
        self.length = length
        self.origin = origin
        self.right_origin = right_origin
        self.left = left
        self.right = right
        self.parent = parent
        self.parent_sub = parent_sub
        self.content = content
        self.deleted = False
        self.keep = False
        self.redone = None
        if content.countable:
            c = content.__class__
            if c is ContentType:
                self.vlen = 1
            elif c.ref == 4:
                self.vlen = len(content.s)
            else:
                self.vlen = length
        else:
            self.vlen = 0
        if content.__class__ is ContentDeleted:
            self.deleted = True

    @property
    def countable(self) -> bool:
        return self.content.countable

    @property
    def last_id(self) -> tuple[int, int]:
        return (self.client, self.clock + self.length - 1)

    def __repr__(self) -> str:
        return f"Item({self.client},{self.clock},len={self.length},{type(self.content).__name__})"

    def index_len(self) -> int:
        """Length in index units regardless of deletion."""
        c = self.content
        if not c.countable:
            return 0
        if c.__class__ is ContentType:
            return 1
        if c.ref == 4:
            return len(c.s)
        return self.length

    # -- deletion and GC -------------------------------------------------------------------------

    def delete(self, tr) -> None:
        """Mark deleted (with everything inside it, for a shared type), recording it in ``tr``."""
        if self.deleted:
            return
        tr.deleted_items = True
        if self.content.__class__ is not ContentType:
            parent = self.parent
            if self.parent_sub is None and self.vlen:
                parent._length -= self.vlen
            self.deleted = True
            self.vlen = 0
            tr.delete_set.add(self.client, self.clock, self.length)
            tr.add_changed(parent, self.parent_sub)
            return
        stack = [self]
        while stack:
            item = stack.pop()
            if item.deleted:
                continue
            parent = item.parent
            if item.parent_sub is None and item.vlen:
                parent._length -= item.vlen
            item.deleted = True
            item.vlen = 0
            tr.delete_set.add(item.client, item.clock, item.length)
            tr.add_changed(parent, item.parent_sub)
            content = item.content
            if content.__class__ is ContentType:
                t = content.type
                t._markers = None if t._markers is None else []
                before = tr.before_state
                n = t._start
                while n is not None:
                    if not n.deleted:
                        stack.append(n)
                    elif n.clock < before.get(n.client, 0):
                        # Deleted earlier, so not in this transaction's delete set: once GC turns
                        # it into a GC struct, cleanup must still try to merge it with neighbours.
                        tr.merge_structs.append(n)
                    n = n.right
                for n in t._map.values():
                    if not n.deleted:
                        stack.append(n)
                    elif n.clock < before.get(n.client, 0):
                        tr.merge_structs.append(n)
                tr.changed.pop(t, None)

    def gc(self, store: StructStore, parent_gcd: bool) -> None:
        stack = [(self, parent_gcd)]
        while stack:
            item, pgc = stack.pop()
            content = item.content
            if content.__class__ is ContentType:
                t = content.type
                n = t._start
                while n is not None:
                    stack.append((n, True))
                    n = n.right
                t._start = None
                for n in t._map.values():
                    while n is not None:
                        stack.append((n, True))
                        n = n.left
                t._map = {}
                t._markers = None if t._markers is None else []
            if pgc:
                if item.is_item:
                    structs = store.clients[item.client]
                    structs[find_index(structs, item.clock)] = GC(item.client, item.clock, item.length)
            else:
                item.content = ContentDeleted(item.length)

    # -- integration -----------------------------------------------------------------------------

    def missing(self, tr, store: StructStore):
        """The client whose update must come first, or None once origins are resolved to neighbours."""
        origin = self.origin
        client = self.client
        if origin is not None and origin[0] != client and origin[1] >= store.get_state(origin[0]):
            return origin[0]
        ro = self.right_origin
        if ro is not None and ro[0] != client and ro[1] >= store.get_state(ro[0]):
            return ro[0]
        parent = self.parent
        if parent.__class__ is tuple and parent[0] != client and parent[1] >= store.get_state(parent[0]):
            return parent[0]
        if origin is not None:
            self.left = get_item_clean_end(tr, store, origin[0], origin[1])
            self.origin = (self.left.client, self.left.clock + self.left.length - 1)
        if ro is not None:
            self.right = get_item_clean_start(tr, store, ro[0], ro[1])
            self.right_origin = (self.right.client, self.right.clock)
        left = self.left
        right = self.right
        if (left is not None and not left.is_item) or (right is not None and not right.is_item):
            self.parent = None
        elif parent is None:
            if left is not None:
                self.parent = left.parent
                self.parent_sub = left.parent_sub
            elif right is not None:
                self.parent = right.parent
                self.parent_sub = right.parent_sub
        elif parent.__class__ is tuple:
            p = store.get_item(parent[0], parent[1])
            if p.is_item and p.content.__class__ is ContentType:
                self.parent = p.content.type
            else:
                self.parent = None
        elif parent.__class__ is str:
            self.parent = tr.doc._root(parent)
        # A hostile update can name neighbours from two different lists: refuse to link them.
        ps = self.parent_sub
        if self.parent is not None and (
            (left is not None and (left.parent is not self.parent or left.parent_sub != ps))
            or (right is not None and (right.parent is not self.parent or right.parent_sub != ps))
        ):
            self.parent = None
        return None

    def integrate(self, tr, offset: int) -> None:
        store = tr.doc.store
        if offset > 0:
            self.clock += offset
            self.left = get_item_clean_end(tr, store, self.client, self.clock - 1)
            self.origin = (self.left.client, self.left.clock + self.left.length - 1)
            self.content = self.content.splice(offset)
            self.length -= offset
            if self.vlen:
                self.vlen = self.index_len()
        parent = self.parent
        if parent is None:
            GC(self.client, self.clock, self.length).integrate(tr, 0)
            return
        left = self.left
        right = self.right
        parent_sub = self.parent_sub
        if (left is None and (right is None or right.left is not None)) or (
            left is not None and left.right is not right
        ):
            # Concurrent inserts at this position: find the place every peer agrees on (YATA).
            if left is not None:
                o = left.right
            elif parent_sub is not None:
                o = parent._map.get(parent_sub)
                while o is not None and o.left is not None:
                    o = o.left
            else:
                o = parent._start
            conflicting = set()
            before_origin = set()
            my_origin = self.origin
            my_client = self.client
            while o is not None and o is not right:
                before_origin.add(o)
                conflicting.add(o)
                if my_origin == o.origin:
                    if o.client < my_client:
                        left = o
                        conflicting.clear()
                    elif self.right_origin == o.right_origin:
                        break
                else:
                    oo = o.origin
                    if oo is not None:
                        oi = store.get_item(oo[0], oo[1])
                        if oi in before_origin:
                            if oi not in conflicting:
                                left = o
                                conflicting.clear()
                            o = o.right
                            continue
                    break
                o = o.right
            self.left = left
        if left is not None:
            right = left.right
            self.right = right
            left.right = self
        else:
            if parent_sub is not None:
                r = parent._map.get(parent_sub)
                while r is not None and r.left is not None:
                    r = r.left
            else:
                r = parent._start
                parent._start = self
            right = r
            self.right = r
        if right is not None:
            right.left = self
        elif parent_sub is not None:
            parent._map[parent_sub] = self
            if left is not None:
                left.delete(tr)
        if parent_sub is None and self.vlen and not self.deleted:
            parent._length += self.vlen
        store.add_struct(self)
        content = self.content
        cc = content.__class__
        if cc is ContentType:
            content.type._integrate(tr, self)
        elif cc is ContentDeleted:
            tr.delete_set.add(self.client, self.clock, self.length)
            self.deleted = True
            self.vlen = 0
        elif cc.ref == 6:
            parent._has_formatting = True
            parent._markers = None
        tr.add_changed(parent, parent_sub)
        pitem = parent._item
        if (pitem is not None and pitem.deleted) or (parent_sub is not None and self.right is not None):
            self.delete(tr)

    def merge(self, right: Item) -> bool:
        """Append ``right`` to this item if they are one run; the caller removes ``right`` from the store."""
        if (
            right.__class__ is Item
            and self.right is right
            and self.content.__class__ is right.content.__class__
            and self.content.mergeable
            and right.origin is not None
            and right.origin[0] == self.client
            and right.origin[1] == self.clock + self.length - 1
            and self.right_origin == right.right_origin
            and self.client == right.client
            and self.clock + self.length == right.clock
            and self.deleted == right.deleted
            and self.redone is None
            and right.redone is None
        ):
            parent = self.parent
            markers = parent._markers
            if markers:
                for m in markers:
                    if m[0] is right:
                        m[0] = self
                        m[1] -= self.vlen
            self.content.merge(right.content)
            if right.keep:
                self.keep = True
            self.right = right.right
            if self.right is not None:
                self.right.left = self
            self.length += right.length
            self.vlen += right.vlen
            if right.parent_sub is not None and parent._map.get(right.parent_sub) is right:
                parent._map[right.parent_sub] = self
            return True
        return False

    def write(self, enc, offset: int) -> None:
        if offset > 0:
            origin = (self.client, self.clock + offset - 1)
        else:
            origin = self.origin
        ro = self.right_origin
        parent_sub = self.parent_sub
        content = self.content
        info = content.ref | (0 if origin is None else 0x80) | (0 if ro is None else 0x40) | (
            0 if parent_sub is None else 0x20
        )
        buf = enc.buf
        buf.append(info)
        wv = enc.write_var_uint
        if origin is not None:
            wv(origin[0])
            wv(origin[1])
        if ro is not None:
            wv(ro[0])
            wv(ro[1])
        if origin is None and ro is None:
            parent = self.parent
            if parent.__class__ is str:
                buf.append(1)
                enc.write_var_string(parent)
            elif parent.__class__ is tuple:
                buf.append(0)
                wv(parent[0])
                wv(parent[1])
            else:
                pitem = parent._item
                if pitem is None:
                    buf.append(1)
                    enc.write_var_string(parent._root_name())
                else:
                    buf.append(0)
                    wv(pitem.client)
                    wv(pitem.clock)
            if parent_sub is not None:
                enc.write_var_string(parent_sub)
        content.write(enc, offset)


def split_item(tr, left: Item, diff: int) -> Item:
    """Split ``left`` after ``diff`` clock units; returns the right half (not yet in the store)."""
    client = left.client
    clock = left.clock
    rcontent = left.content.splice(diff)
    right = Item(
        client, clock + diff, left.length - diff, (client, clock + diff - 1), left.right_origin,
        left, left.right, left.parent, left.parent_sub, rcontent,
    )
    if left.deleted:
        right.deleted = True
        right.vlen = 0
    if left.keep:
        right.keep = True
    if left.redone is not None:
        right.redone = (left.redone[0], left.redone[1] + diff)
    left.right = right
    if right.right is not None:
        right.right.left = right
    tr.merge_structs.append(right)
    if right.parent_sub is not None and right.right is None:
        right.parent._map[right.parent_sub] = right
    left.length = diff
    if not left.deleted and left.vlen:
        old = left.vlen
        left.vlen = left.index_len()
        # A split surrogate pair turns into two replacement characters: one more code point.
        grown = left.vlen + right.vlen - old
        if grown and right.parent_sub is None and right.parent.__class__ not in (str, tuple):
            right.parent._length += grown
            if right.parent._markers:
                right.parent._markers = []
    return right


def get_item_clean_start(tr, store: StructStore, client: int, clock: int):
    """The struct starting exactly at (client, clock), splitting an item if needed."""
    structs = store.clients[client]
    i = find_index(structs, clock)
    s = structs[i]
    if s.clock < clock and s.is_item:
        s = split_item(tr, s, clock - s.clock)
        structs.insert(i + 1, s)
    return s


def get_item_clean_end(tr, store: StructStore, client: int, clock: int):
    """The struct ending exactly at (client, clock), splitting an item if needed."""
    structs = store.clients[client]
    i = find_index(structs, clock)
    s = structs[i]
    if clock != s.clock + s.length - 1 and s.is_item:
        structs.insert(i + 1, split_item(tr, s, clock - s.clock + 1))
    return s


def try_merge_with_lefts(structs: list, pos: int) -> int:
    """Merge ``structs[pos]`` into its left neighbours as far as possible; returns how many merged."""
    right = structs[pos]
    i = pos
    while i > 0:
        left = structs[i - 1]
        if left.deleted == right.deleted and left.__class__ is right.__class__ and left.merge(right):
            right = left
            i -= 1
            continue
        break
    merged = pos - i
    if merged:
        del structs[pos + 1 - merged : pos + 1]
    return merged


def item_value(item: Item) -> Any:
    """The last value an item holds (what a map key reads)."""
    c = item.content
    if c.__class__ is ContentType:
        return c.type
    if c.__class__ is ContentDoc:
        return c.values()[0]
    values = c.values()
    # Content without values (formatting marks, deleted content) reads as undefined, as in Yjs.
    return values[-1] if values else UNDEFINED
