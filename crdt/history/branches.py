"""Branches: named versions of a history. ``"main"`` always exists and cannot be deleted."""

from __future__ import annotations

from collections.abc import Iterator, Mapping

MAIN = "main"


class Branches:
    """Branch name -> its heads. Names are non-empty strs; the heads are stored as given (the history
    reduces a version to its heads before it sets a branch to it)."""

    __slots__ = ("_table",)

    def __init__(self, table: Mapping[str, frozenset[str]] | None = None) -> None:
        self._table: dict[str, frozenset[str]] = {MAIN: frozenset()} if table is None else dict(table)

    def __eq__(self, other: object) -> bool:
        if not isinstance(other, Branches):
            return NotImplemented
        return self._table == other._table

    __hash__ = None  # type: ignore[assignment]  # mutable

    def __contains__(self, name: object) -> bool:
        return name in self._table

    def __iter__(self) -> Iterator[str]:
        return iter(self._table)

    def items(self) -> Iterator[tuple[str, frozenset[str]]]:
        return iter(self._table.items())

    def table(self) -> dict[str, frozenset[str]]:
        """Name -> heads (a copy)."""
        return dict(self._table)

    def get(self, name: str) -> frozenset[str] | None:
        """The heads of branch ``name``, or None if there is no such branch."""
        return self._table.get(name)

    def heads(self, name: str) -> frozenset[str]:
        """The heads of branch ``name`` (``KeyError`` naming it if absent)."""
        try:
            return self._table[name]
        except KeyError:
            raise KeyError(f"no branch {name!r}") from None

    def require_new(self, name: str) -> None:
        if name in self._table:
            raise ValueError(f"branch {name!r} already exists")

    @staticmethod
    def check_name(name: object) -> None:
        if not isinstance(name, str) or not name:
            raise ValueError("a branch name is a non-empty str")

    def set(self, name: str, heads: frozenset[str]) -> None:
        self.check_name(name)
        self._table[name] = heads

    def delete(self, name: str) -> None:
        """Forget branch ``name``; ``"main"`` cannot be deleted."""
        if name == MAIN:
            raise ValueError("the main branch cannot be deleted")
        if name not in self._table:
            raise KeyError(f"no branch {name!r}")
        del self._table[name]

    def copy(self) -> Branches:
        return Branches(self._table)
