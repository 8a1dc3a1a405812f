"""The change graph: read-only views and queries over a DAG of changes (ancestors, heads, order)."""

from __future__ import annotations

from collections.abc import Iterable, Iterator, Mapping, Sequence
from typing import overload

from .change import Change


class ChangeList(Sequence):
    """A read-only view of a history's changes in topological (insertion) order."""

    __slots__ = ("_order", "_changes")

    def __init__(self, order: list[str], changes: dict[str, Change]) -> None:
        self._order = order
        self._changes = changes

    def __len__(self) -> int:
        return len(self._order)

    @overload
    def __getitem__(self, i: int) -> Change: ...

    @overload
    def __getitem__(self, i: slice) -> list[Change]: ...

    def __getitem__(self, i):
        if isinstance(i, slice):
            return [self._changes[h] for h in self._order[i]]
        return self._changes[self._order[i]]

    def __iter__(self) -> Iterator[Change]:
        changes = self._changes
        return (changes[h] for h in self._order)

    def __repr__(self) -> str:
        return f"<{len(self)} changes>"


def ancestors(changes: Mapping[str, Change], version: Iterable[str]) -> frozenset[str]:
    """Hashes of the changes of ``version`` and all their ancestors (every hash must be in ``changes``)."""
    stack = list(version)
    seen: set[str] = set()
    while stack:
        h = stack.pop()
        if h in seen:
            continue
        seen.add(h)
        stack.extend(changes[h].deps)
    return frozenset(seen)


def is_ancestor(changes: Mapping[str, Change], depth: Mapping[str, int], a: str, b: str) -> bool:
    """Whether change ``a`` is ``b`` or one of its ancestors.

    ``depth``: each change's longest path to a root; only changes deeper than ``a`` are walked.
    """
    if a == b:
        return True
    da = depth[a]
    if depth[b] <= da:
        return False
    stack = [b]
    seen = {b}
    while stack:
        for d in changes[stack.pop()].deps:
            if d == a:
                return True
            if d not in seen and depth[d] > da:
                seen.add(d)
                stack.append(d)
    return False


def heads_of(
    changes: Mapping[str, Change], depth: Mapping[str, int], version: frozenset[str]
) -> frozenset[str]:
    """The smallest set of changes with the same ancestors: ``version`` minus its members' ancestors."""
    if len(version) <= 1:
        return version
    floor = min(depth[h] for h in version)
    redundant: set[str] = set()
    seen: set[str] = set()
    stack = [d for h in version for d in changes[h].deps]
    while stack:
        h = stack.pop()
        if h in seen:
            continue
        seen.add(h)
        if h in version:
            redundant.add(h)
        if depth[h] > floor:
            stack.extend(changes[h].deps)
    return version - redundant


def resolve(changes: Mapping[str, Change], order: Sequence[str], prefix: str) -> str:
    """The full hash of the one change whose hash starts with ``prefix`` (at least 4 hex digits)."""
    p = prefix.lower()
    if p in changes:
        return p
    if len(p) < 4:
        raise ValueError(f"change prefix too short: {prefix!r} (give at least 4 hex digits)")
    found = [h for h in order if h.startswith(p)]
    if not found:
        raise KeyError(f"no change {prefix!r} in this history")
    if len(found) > 1:
        raise ValueError(f"change prefix {prefix!r} is ambiguous ({len(found)} changes)")
    return found[0]
