"""Map: shared key/value pairs; concurrent sets of one key resolve the same way on every peer."""

from __future__ import annotations

from collections.abc import Iterator
from typing import Any

from ..structs import contents as _contents
from ..structs.item import item_value
from .base import SharedType, deep_to_py, map_delete, map_set


class Map(SharedType):
    """A shared dict with ``str`` keys. ``Map({...})`` makes one to nest inside another shared type."""

    __slots__ = ()
    _type_ref = 1
    _nests = "map"

    def __init__(self, values: dict[str, Any] | None = None) -> None:
        super().__init__()
        if values is not None:
            self._prelim = dict(values)

    def _apply_prelim(self, tr, prelim: dict) -> None:
        for k, v in prelim.items():
            map_set(tr, self, k, v)

    def _is_prelim(self) -> bool:
        return self.doc is None and self._item is None

    def _live(self) -> Iterator[tuple[str, Any]]:
        for k, item in self._map.items():
            if not item.deleted:
                yield k, item_value(item)

    # -- reading ---------------------------------------------------------------------------------

    def __getitem__(self, key: str) -> Any:
        if self._is_prelim():
            return (self._prelim or {})[key]
        item = self._map.get(key)
        if item is None or item.deleted:
            raise KeyError(key)
        return item_value(item)

    def get(self, key: str, default: Any = None) -> Any:
        try:
            return self[key]
        except KeyError:
            return default

    def __contains__(self, key: object) -> bool:
        if self._is_prelim():
            return key in (self._prelim or {})
        if not isinstance(key, str):
            return False
        item = self._map.get(key)
        return item is not None and not item.deleted

    def __len__(self) -> int:
        if self._is_prelim():
            return len(self._prelim or {})
        return sum(1 for item in self._map.values() if not item.deleted)

    def __iter__(self) -> Iterator[str]:
        return iter(self.keys())

    def keys(self) -> list[str]:
        if self._is_prelim():
            return list((self._prelim or {}).keys())
        return [k for k, _ in self._live()]

    def values(self) -> list[Any]:
        if self._is_prelim():
            return list((self._prelim or {}).values())
        return [v for _, v in self._live()]

    def items(self) -> list[tuple[str, Any]]:
        if self._is_prelim():
            return list((self._prelim or {}).items())
        return list(self._live())

    def to_py(self) -> dict:
        """A plain ``dict`` (nested shared types converted too)."""
        return deep_to_py(self)

    def __eq__(self, other: object) -> bool:
        if isinstance(other, dict):
            return self.to_py() == other
        return self is other

    __hash__ = SharedType.__hash__

    def __repr__(self) -> str:
        return f"Map({self.to_py()!r})"

    # -- editing ---------------------------------------------------------------------------------

    def __setitem__(self, key: str, value: Any) -> None:
        if self._is_prelim():
            if self._prelim is None:
                self._prelim = {}
            self._prelim[key] = value
            return
        self._run(map_set, self, key, value)

    def set(self, key: str, value: Any) -> None:
        self[key] = value

    def __delitem__(self, key: str) -> None:
        if self._is_prelim():
            del (self._prelim or {})[key]
            return
        if key not in self:
            raise KeyError(key)
        self._run(map_delete, self, key)

    def pop(self, key: str, *default: Any) -> Any:
        if key in self:
            value = self[key]
            if isinstance(value, SharedType):
                value = value.to_py()
            del self[key]
            return value
        if default:
            return default[0]
        raise KeyError(key)

    def update(self, values: dict[str, Any]) -> None:
        doc = self._transact()
        with doc.transact():
            for k, v in values.items():
                self[k] = v

    def clear(self) -> None:
        doc = self._transact()
        with doc.transact():
            for k in self.keys():
                del self[k]


def _read_map(dec) -> Map:
    return Map()


_contents.TYPE_READERS[1] = _read_map
