"""Which change holds which struct: an index from clock ranges to changes, and the deps it yields.

A history's changes must each depend on the changes holding the structs their update refers to (the
previous clock of its client, origins, parents, deleted ranges), so that the update of any version
applies to a fresh document with nothing left pending. :class:`StructIndex` answers "who holds
``(client, clock)``" in O(log n) per lookup.
"""

from __future__ import annotations

import math
from bisect import bisect_right
from collections.abc import Callable, Iterable

from ..delete_set import DeleteSet
from ..structs.item import Item, Skip
from ..update_decoder import read_update

Runs = dict[int, list[tuple[int, int]]]
"""Clock ranges ``[start, end)`` per client, sorted and joined."""

class MissingStructsError(ValueError):
    """An update refers to structs no change of the history holds.

    ``ranges``: ``(client, clock, length)`` ranges that are missing. Record the changes that created
    them first (a document's initial content is a change too).
    """

    def __init__(self, ranges: Iterable[tuple[int, int, int]]) -> None:
        self.ranges = tuple(sorted(ranges))
        shown = ", ".join(f"client {c} clocks {k}..{k + n - 1}" for c, k, n in self.ranges[:5])
        more = f" and {len(self.ranges) - 5} more" if len(self.ranges) > 5 else ""
        super().__init__(f"the update refers to structs no recorded change holds: {shown}{more}")


class _Ranges:
    """Disjoint clock ranges of one client, sorted, each with an owner (a change hash or None)."""

    __slots__ = ("starts", "ends", "owners")

    def __init__(self) -> None:
        self.starts: list[int] = []
        self.ends: list[int] = []
        self.owners: list[str | None] = []

    def add(self, start: int, end: int, owner: str | None) -> None:
        """Give the parts of ``[start, end)`` that no range covers yet to ``owner``."""
        starts, ends, owners = self.starts, self.ends, self.owners
        if not starts or start >= ends[-1]:  # the common case: appending
            if starts and start == ends[-1] and owners[-1] == owner:
                ends[-1] = end
            else:
                starts.append(start)
                ends.append(end)
                owners.append(owner)
            return
        i = bisect_right(starts, start) - 1
        pos = start
        if i >= 0 and ends[i] > pos:
            pos = ends[i]
        i += 1
        while pos < end:
            if i < len(starts) and starts[i] <= pos:
                pos = max(pos, ends[i])
                i += 1
                continue
            stop = min(end, starts[i]) if i < len(starts) else end
            starts.insert(i, pos)
            ends.insert(i, stop)
            owners.insert(i, owner)
            i += 1
            pos = stop

    def lookup(self, start: int, end: int, owners_out: set, missing_out: list, client: int) -> None:
        """Add the owners of ``[start, end)`` to ``owners_out`` and its uncovered parts to ``missing_out``."""
        starts, ends, owners = self.starts, self.ends, self.owners
        i = bisect_right(starts, start) - 1
        pos = start
        if i < 0:
            i = 0
        while pos < end:
            if i < len(starts) and starts[i] <= pos:
                if ends[i] > pos:
                    if owners[i] is not None:
                        owners_out.add(owners[i])
                    pos = ends[i]
                i += 1
                continue
            stop = min(end, starts[i]) if i < len(starts) else end
            missing_out.append((client, pos, stop - pos))
            pos = stop

    def covers(self, start: int, end: int) -> bool:
        missing: list = []
        self.lookup(start, end, set(), missing, 0)
        return not missing


def held_ranges(refs: dict[int, list]) -> Runs:
    """The clock ranges of real structs (not Skip holes) in decoded refs, per client, joined."""
    out: Runs = {}
    for client, structs in refs.items():
        runs: list[tuple[int, int]] = []
        for s in structs:
            if s.__class__ is Skip:
                continue
            start, end = s.clock, s.clock + s.length
            if runs and runs[-1][1] == start:
                runs[-1] = (runs[-1][0], end)
            else:
                runs.append((start, end))
        if runs:
            out[client] = runs
    return out


def _in_runs(runs: list[tuple[int, int]] | None, clock: int) -> bool:
    if not runs:
        return False
    i = bisect_right(runs, (clock, math.inf)) - 1
    return i >= 0 and clock < runs[i][1]


def _references(refs: dict[int, list], ds: DeleteSet, held: dict) -> list[tuple[int, int, int]]:
    """``(client, clock, length)`` ranges the update needs but does not hold itself."""
    needed: list[tuple[int, int, int]] = []

    def need(client: int, clock: int) -> None:
        if not _in_runs(held.get(client), clock):
            needed.append((client, clock, 1))

    for client, structs in refs.items():
        for s in structs:
            if s.__class__ is Skip:
                continue
            if s.clock > 0:
                need(client, s.clock - 1)  # a client's structs integrate in clock order
            if s.__class__ is Item:
                if s.origin is not None:
                    need(*s.origin)
                if s.right_origin is not None:
                    need(*s.right_origin)
                if isinstance(s.parent, tuple):
                    need(*s.parent)
    for client, ranges in ds.clients.items():
        runs = held.get(client) or []
        for clock, length in ranges:
            pos, end = clock, clock + length
            # the parts of the deleted range this update does not create itself
            for start, stop in runs:
                if stop <= pos or start >= end:
                    continue
                if start > pos:
                    needed.append((client, pos, start - pos))
                pos = max(pos, stop)
            if pos < end:
                needed.append((client, pos, end - pos))
    return needed


def _join_ranges(ranges: list[tuple[int, int, int]]) -> list[tuple[int, int, int]]:
    out: list[tuple[int, int, int]] = []
    for c, k, n in sorted(set(ranges)):
        if out and out[-1][0] == c and out[-1][1] + out[-1][2] >= k:
            pc, pk, pn = out[-1]
            out[-1] = (pc, pk, max(pn, k + n - pk))
        else:
            out.append((c, k, n))
    return out


class StructIndex:
    """Clock ranges of every client -> the change holding them, plus the ranges deleted so far.

    Built lazily: :meth:`add` indexes a change whose decoded update is at hand, :meth:`catch_up`
    decodes and indexes the changes added without one (``indexed`` counts the changes indexed so far,
    in the history's order).
    """

    __slots__ = ("indexed", "held", "deleted")

    def __init__(self) -> None:
        self.indexed = 0
        self.held: dict[int, _Ranges] = {}
        self.deleted: dict[int, _Ranges] = {}

    def add(self, h: str, refs: dict[int, list], ds: DeleteSet) -> None:
        """Index change ``h`` (the next in order) from its decoded update."""
        held, deleted = self.held, self.deleted
        for client, runs in held_ranges(refs).items():
            r = held.get(client)
            if r is None:
                r = held[client] = _Ranges()
            for start, end in runs:
                r.add(start, end, h)
        for client, ranges in ds.clients.items():
            r = deleted.get(client)
            if r is None:
                r = deleted[client] = _Ranges()
            for clock, length in sorted(ranges):
                r.add(clock, clock + length, None)
        self.indexed += 1

    def catch_up(self, order: list[str], updates: Callable[[str], bytes]) -> None:
        """Index the changes of ``order`` not indexed yet (``updates(hash)`` gives a change's update)."""
        while self.indexed < len(order):
            h = order[self.indexed]
            self.add(h, *read_update(updates(h)))

    def owner(self, client: int, clock: int) -> str | None:
        """The hash of the (first indexed) change holding struct ``(client, clock)``, or None."""
        r = self.held.get(client)
        if r is None:
            return None
        owners: set[str] = set()
        r.lookup(clock, clock + 1, owners, [], client)
        return next(iter(owners), None)

    def knows(self, held: Runs, ds: DeleteSet) -> bool:
        """Whether every struct range in ``held`` and every deletion in ``ds`` is indexed already."""
        index, deleted = self.held, self.deleted
        for client, runs in held.items():
            r = index.get(client)
            if r is None or not all(r.covers(s, e) for s, e in runs):
                return False
        for client, ranges in ds.clients.items():
            r = deleted.get(client)
            if r is None or not all(r.covers(c, c + n) for c, n in ranges):
                return False
        return True

    def owners(self, refs: dict[int, list], ds: DeleteSet, held: Runs) -> set[str]:
        """The changes holding the structs an update refers to (``held``: its own, from :func:`held_ranges`).

        Raises :class:`MissingStructsError` when it refers to structs no indexed change holds.
        """
        owners: set[str] = set()
        missing: list[tuple[int, int, int]] = []
        index = self.held
        for client, clock, length in _references(refs, ds, held):
            r = index.get(client)
            if r is None:
                missing.append((client, clock, length))
            else:
                r.lookup(clock, clock + length, owners, missing, client)
        if missing:
            raise MissingStructsError(_join_ranges(missing))
        return owners
