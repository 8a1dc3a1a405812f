"""Array: a shared list of JSON values, bytes and nested shared types."""

from __future__ import annotations

from collections.abc import Iterable, Iterator
from typing import Any

from ..structs import contents as _contents
from .base import (
    SharedType,
    check_index,
    deep_to_py,
    insert_point,
    last_item,
    list_delete,
    list_insert_after,
    list_items,
    locate,
    shift_markers,
)


class Array(SharedType):
    """A shared list. ``Array([...])`` makes one to nest inside another shared type."""

    __slots__ = ()
    _type_ref = 0
    _nests: str | None = "list"
    _uses_markers = True

    def __init__(self, values: Iterable[Any] | None = None) -> None:
        super().__init__()
        if values is not None:
            self._prelim = list(values)

    def _apply_prelim(self, tr, prelim: list) -> None:
        self._insert(tr, 0, prelim)

    def _prelim_view(self) -> list:
        return self._prelim if self._prelim is not None else []

    def _is_prelim(self) -> bool:
        return self.doc is None and self._item is None

    # -- reading ---------------------------------------------------------------------------------

    def __len__(self) -> int:
        if self._is_prelim():
            return len(self._prelim_view())
        return self._length

    def __getitem__(self, index: int | slice) -> Any:
        if isinstance(index, slice):
            return list(self)[index]
        if self._is_prelim():
            return self._prelim_view()[index]
        index = check_index(self, index)
        item, pidx = locate(self, index)
        return item.content.values()[index - pidx]

    def __iter__(self) -> Iterator[Any]:
        if self._is_prelim():
            yield from self._prelim_view()
            return
        for item in list_items(self):
            yield from item.content.values()

    def to_py(self) -> list:
        """A plain ``list`` (nested shared types converted too)."""
        return deep_to_py(self)

    def __eq__(self, other: object) -> bool:
        if isinstance(other, list):
            return self.to_py() == other
        return self is other

    __hash__ = SharedType.__hash__

    def __repr__(self) -> str:
        return f"Array({self.to_py()!r})"

    # -- editing ---------------------------------------------------------------------------------

    def insert(self, index: int, values: Iterable[Any]) -> None:
        """Insert ``values`` (a list) before ``index``."""
        values = list(values)
        if not values:
            return
        if self._is_prelim():
            self._prelim_view()[index:index] = values
            self._prelim = self._prelim_view()
            return
        self._transact()
        self._run(self._insert, check_index(self, index, allow_end=True), values)

    def append(self, value: Any) -> None:
        """Add ``value`` at the end (after deleted items there too, like Yjs's ``push``)."""
        self.extend([value])

    def extend(self, values: Iterable[Any]) -> None:
        """Add ``values`` at the end (like Yjs's ``push``)."""
        values = list(values)
        if not values:
            return
        if self._is_prelim():
            self._prelim_view().extend(values)
            self._prelim = self._prelim_view()
            return
        self._run(self._push, values)

    def _push(self, tr, values: list) -> None:
        index = self._length
        list_insert_after(tr, self, last_item(self), None, values)
        shift_markers(self, index, len(values), after_tombstones=True)

    def delete(self, index: int, length: int = 1) -> None:
        """Delete ``length`` values starting at ``index``."""
        if self._is_prelim():
            del self._prelim_view()[index : index + length]
            return
        self._transact()
        if length <= 0:
            return
        if index < 0:
            index += self._length
        self._run(list_delete, self, index, length)

    def __delitem__(self, index: int) -> None:
        self.delete(check_index(self, index) if not self._is_prelim() else index, 1)

    def clear(self) -> None:
        self.delete(0, len(self))

    def _insert(self, tr, index: int, values: list) -> None:
        left, right = insert_point(tr, self, index)
        list_insert_after(tr, self, left, right, values)
        shift_markers(self, index, len(values))


def _read_array(dec) -> Array:
    return Array()


_contents.TYPE_READERS[0] = _read_array
