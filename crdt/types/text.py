"""Text: a shared string, indexed by code points like a Python ``str``."""

from __future__ import annotations

from typing import Any

from ..encoding import utf8, var_uint
from ..store import find_index
from ..structs import contents as _contents
from ..structs.contents import (
    ContentDeleted,
    ContentEmbed,
    ContentFormat,
    ContentString,
    ContentType,
    js_string,
    utf16_len,
    utf16_offset,
)
from ..structs.item import Item, split_item, try_merge_with_lefts
from .base import SharedType, insert_point, list_delete, locate, shift_markers, split_at


class Text(SharedType):
    """A shared text. ``Text("initial")`` makes one to nest inside another shared type.

    Indices count code points, like ``str``; on the wire they are UTF-16 units, like JavaScript.
    Formatting and embeds made by other peers are kept (and re-encoded faithfully); ``str(text)``
    reads only the characters.
    """

    __slots__ = ()
    _type_ref = 2
    _uses_markers = True
    _skips_tombstones = True

    def __init__(self, text: str = "") -> None:
        super().__init__()
        if text:
            self._prelim = text

    def _apply_prelim(self, tr, prelim: str) -> None:
        self._insert(tr, 0, prelim)

    # -- reading ---------------------------------------------------------------------------------

    def __str__(self) -> str:
        if self.doc is None and self._item is None:
            return self._prelim or ""
        parts = []
        n = self._start
        while n is not None:
            if n.vlen and n.content.__class__ is ContentString:
                parts.append(n.content.s)
            n = n.right
        return "".join(parts)

    def to_py(self) -> str:
        """The text as a ``str`` (embeds and formatting left out)."""
        return str(self)

    def __len__(self) -> int:
        if self.doc is None and self._item is None:
            return len(self._prelim or "")
        return self._length

    def __eq__(self, other: object) -> bool:
        if isinstance(other, str):
            return str(self) == other
        return self is other

    __hash__ = SharedType.__hash__

    def __repr__(self) -> str:
        return f"Text({str(self)!r})"

    def to_delta(self) -> list[dict]:
        """The content as a Quill-style delta: inserts with their formatting attributes."""
        ops: list[dict] = []
        attrs: dict[str, Any] = {}
        n = self._start
        while n is not None:
            if not n.deleted:
                c = n.content
                if c.__class__ is ContentFormat:
                    if c.value is None:
                        attrs.pop(c.key, None)
                    else:
                        attrs[c.key] = c.value
                elif c.__class__ in (ContentString, ContentEmbed, ContentType):
                    value = c.s if c.__class__ is ContentString else c.values()[0]
                    if (
                        ops
                        and isinstance(value, str)
                        and isinstance(ops[-1]["insert"], str)
                        and ops[-1].get("attributes", {}) == attrs
                    ):
                        ops[-1]["insert"] += value
                    else:
                        op: dict[str, Any] = {"insert": value}
                        if attrs:
                            op["attributes"] = dict(attrs)
                        ops.append(op)
            n = n.right
        return ops

    # -- editing ---------------------------------------------------------------------------------

    def insert(self, index: int, text: str) -> None:
        """Insert ``text`` before code point ``index`` (it takes on the formatting in effect there)."""
        if not isinstance(text, str):
            raise TypeError("Text.insert takes a str")
        if not text:
            return
        doc = self._transact()
        if index < 0 or index > self._length:
            raise IndexError("index out of range")
        if doc._tr is None and not doc._observed and not doc._after_transaction and not self._has_formatting:
            if self._append_fast(doc, index, text):
                return
        self._run(self._insert, index, text)

    def __iadd__(self, text: str) -> Text:
        self.insert(len(self), text)
        return self

    def delete(self, index: int, length: int = 1) -> None:
        """Delete ``length`` code points starting at ``index``."""
        doc = self._transact()
        if length <= 0:
            return
        if index < 0 or index + length > self._length:
            raise IndexError("delete range out of bounds")
        if doc._tr is None and not doc._observed and not doc._after_transaction and not self._has_formatting:
            if self._delete_fast(doc, index, length):
                return
        self._run(list_delete, self, index, length)

    def clear(self) -> None:
        self.delete(0, len(self))

    def _insert(self, tr, index: int, text: str) -> None:
        text = js_string(text)
        if self._has_formatting:
            left, right = self._insert_point_formatted(tr, index)
        else:
            left, right = insert_point(tr, self, index)
            while right is not None and right.deleted:
                left = right
                right = right.right
        client = tr.doc.client_id
        Item(
            client, tr.doc.store.get_state(client), utf16_len(text),
            None if left is None else (left.client, left.clock + left.length - 1),
            None if right is None else (right.client, right.clock), left, right, self, None,
            ContentString(text),
        ).integrate(tr, 0)
        shift_markers(self, index, len(text))

    def _append_fast(self, doc, index: int, text: str) -> bool:
        """Typing right after this client's newest item: extend that item in place.

        This is exactly what a transaction would end with (insert a new item, then merge it into
        its left neighbour in cleanup) and emits the same update bytes, minus the bookkeeping.
        Returns False (nothing done) when the general path is needed.
        """
        if index == 0:
            return False
        p, pidx = locate(self, index - 1)
        if index != pidx + p.vlen:
            return False
        right = p.right
        left = p
        while right is not None and right.deleted:
            left = right
            right = right.right
        client = doc.client_id
        if left.client != client or left.content.__class__ is not ContentString or left.redone is not None:
            return False
        structs = doc.store.clients[client]
        if structs[-1] is not left or left.deleted:
            return False
        ro = left.right_origin
        if right is None:
            if ro is not None:
                return False
        elif ro is None or ro[0] != right.client or ro[1] != right.clock:
            return False
        text = js_string(text)
        n16 = utf16_len(text)
        clock = left.clock + left.length
        left.content.s += text
        left.length += n16
        n = len(text)
        left.vlen += n
        self._length += n
        shift_markers(self, index, n)
        handlers = doc._update_handlers
        if handlers:
            cb_ = var_uint(client)
            b = utf8(text)
            if ro is None:
                update = b"".join((
                    b"\x01\x01", cb_, var_uint(clock), b"\x84", cb_, var_uint(clock - 1),
                    var_uint(len(b)), b, b"\x00",
                ))
            else:
                update = b"".join((
                    b"\x01\x01", cb_, var_uint(clock), b"\xc4", cb_, var_uint(clock - 1),
                    var_uint(ro[0]), var_uint(ro[1]), var_uint(len(b)), b, b"\x00",
                ))
            for cb in list(handlers):
                cb(update, None)
        return True

    def _delete_fast(self, doc, index: int, length: int) -> bool:
        """Deleting inside one string item: the general transaction's steps, without its bookkeeping.

        Splits, GC and merges happen exactly as the general path would do them (so the store ends
        in the same shape and the update bytes are the same). Returns False when it does not apply.
        """
        p, pidx = locate(self, index)
        off = index - pidx
        content = p.content
        if off + length > p.vlen or content.__class__ is not ContentString:
            return False
        store = doc.store
        client = p.client
        structs = store.clients[client]
        i = find_index(structs, p.clock)
        log = _SplitLog()
        if off:
            p = split_item(log, p, utf16_offset(content.s, off))
            i += 1
            structs.insert(i, p)
        if length < p.vlen:
            structs.insert(i + 1, split_item(log, p, utf16_offset(p.content.s, length)))
        p.deleted = True
        p.vlen = 0
        self._length -= length
        clock = p.clock
        n = p.length
        if doc.gc and not p.keep and (doc.gc_filter is None or doc.gc_filter(p)):
            p.content = ContentDeleted(n)
        si = min(len(structs) - 1, i + 1)
        while si > 0 and structs[si].clock >= clock:
            si -= 1 + try_merge_with_lefts(structs, si)
        ms = log.merge_structs
        for k in range(len(ms) - 1, -1, -1):
            pos = find_index(structs, ms[k].clock)
            if pos + 1 < len(structs) and try_merge_with_lefts(structs, pos + 1) > 1:
                continue
            if pos > 0:
                try_merge_with_lefts(structs, pos)
        shift_markers(self, index, -length)
        handlers = doc._update_handlers
        if handlers:
            update = b"".join((b"\x00\x01", var_uint(client), b"\x01", var_uint(clock), var_uint(n)))
            for cb in list(handlers):
                cb(update, None)
        return True

    def _insert_point_formatted(self, tr, index: int):
        # Formatting in effect at the position matters, so walk from the start (as Yjs does).
        attrs: dict[str, Any] = {}
        left = None
        right = self._start
        count = index
        while right is not None and count > 0:
            c = right.content
            if right.vlen:
                if count < right.vlen:
                    split_at(tr, right, count)
                count -= right.vlen
            elif not right.deleted and c.__class__ is ContentFormat:
                _update_attrs(attrs, c)
            left = right
            right = right.right
        while right is not None:
            c = right.content
            if right.deleted:
                pass
            elif c.__class__ is ContentFormat and attrs.get(c.key) == c.value:
                _update_attrs(attrs, c)
            else:
                break
            left = right
            right = right.right
        return left, right


class _SplitLog:
    """Stands in for a transaction where only the list of split structs is needed."""

    __slots__ = ("merge_structs",)

    def __init__(self) -> None:
        self.merge_structs: list = []


def _update_attrs(attrs: dict, c: ContentFormat) -> None:
    if c.value is None:
        attrs.pop(c.key, None)
    else:
        attrs[c.key] = c.value


def _read_text(dec) -> Text:
    return Text()


_contents.TYPE_READERS[2] = _read_text
__all__ = ["Text", "locate"]
