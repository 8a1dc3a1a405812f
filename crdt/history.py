"""Histories: a document's past as a DAG of changes, its versions, branches, and the grouping of edits.

A :class:`Change` is ``{deps, author, time, kind, message, meta, update}`` plus ``hash``, the SHA-256 of
a canonical msgpack encoding of the rest (layout in ``docs/file-format.md``). ``update`` is a Yjs v1
update; ``deps`` are the hashes of the changes its author had seen (the heads at the time), so the
changes form a DAG and a hash names a change together with its whole past.

A :class:`History` holds changes. Its *heads* are the changes no other change depends on; a *version*
is a set of heads, and the document at a version is the union of the updates of its ancestors
(:meth:`History.doc_at`). Yjs updates commute and are idempotent, so two histories merge by union
(:meth:`History.merge`). Branches are named versions; ``"main"`` always exists.

Every change's deps also cover the changes holding the structs its update refers to (the previous
clock of its client, origins, parents, deleted ranges), so the update of any version applies to a
fresh document with nothing left pending. :meth:`History.record` computes such deps; :meth:`History.add`
takes a change made elsewhere and refuses one whose deps are missing.

A :class:`ChangeGrouper` turns a stream of small updates (keystrokes) into few changes: it joins
consecutive updates of one author and flushes on another author's update, an idle gap, a size cap or
on request. It never joins across another author's update, so it never reorders authors and never
creates a cycle.
"""

from __future__ import annotations

import hashlib
import math
import time as _time
from bisect import bisect_right
from collections.abc import Callable, Iterable, Iterator, Mapping, Sequence
from dataclasses import dataclass, field
from types import MappingProxyType
from typing import Any, overload

import msgpack

from .delete_set import DeleteSet
from .doc import Doc
from .structs.contents import ContentString
from .structs.item import Item, Skip
from .update_decoder import read_update
from .updates import encode_refs, merge_updates

__all__ = [
    "Change",
    "History",
    "ChangeGrouper",
    "MissingDependencyError",
    "MissingStructsError",
    "combine_updates",
    "CHANGE_TAG",
    "DEFAULT_IDLE",
    "DEFAULT_MAX_BYTES",
]

CHANGE_TAG = "jupyter-crdt/change/1"
"""First element of the canonical encoding that is hashed (domain separation and format version)."""

DEFAULT_IDLE = 2.0
"""Seconds without an update after which :class:`ChangeGrouper` closes a change."""

DEFAULT_MAX_BYTES = 256 * 1024
"""Update bytes a :class:`ChangeGrouper` buffers at most before it closes a change."""

MAIN = "main"

Version = Iterable[str]


class MissingDependencyError(ValueError):
    """A change depends on changes the history does not have. ``missing``: their hashes, sorted."""

    def __init__(self, change: str, missing: Iterable[str]) -> None:
        self.change = change
        self.missing = tuple(sorted(missing))
        names = ", ".join(self.missing)
        super().__init__(f"change {change} depends on {len(self.missing)} missing change(s): {names}")


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


# -- changes ------------------------------------------------------------------------------------


def _freeze(value: Any, where: str = "meta") -> Any:
    """A read-only deep copy of a msgpack-able value (dicts become mapping proxies, lists tuples)."""
    if value is None or isinstance(value, (bool, str, bytes)):
        return value
    if isinstance(value, int):
        if not -(2**63) <= value < 2**64:
            raise ValueError(f"{where}: integer out of range")
        return value
    if isinstance(value, float):
        if not math.isfinite(value):
            raise ValueError(f"{where}: float must be finite")
        return value
    if isinstance(value, (bytearray, memoryview)):
        return bytes(value)
    if isinstance(value, (list, tuple)):
        return tuple(_freeze(v, where) for v in value)
    if isinstance(value, Mapping):
        out = {}
        for k in sorted(value):
            if not isinstance(k, str):
                raise TypeError(f"{where}: keys must be str, not {type(k).__name__}")
            out[k] = _freeze(value[k], where)
        return MappingProxyType(out)
    raise TypeError(f"{where}: {type(value).__name__} cannot be stored in a change")


def _plain(value: Any) -> Any:
    """The msgpack form of a frozen value: mappings as dicts with sorted keys, sequences as lists."""
    if isinstance(value, Mapping):
        return {k: _plain(value[k]) for k in sorted(value)}
    if isinstance(value, tuple):
        return [_plain(v) for v in value]
    return value


def _check_hash(h: Any) -> str:
    if not isinstance(h, str) or len(h) != 64:
        raise ValueError(f"not a change hash: {h!r}")
    try:
        bytes.fromhex(h)
    except ValueError:
        raise ValueError(f"not a change hash: {h!r}") from None
    return h.lower()


@dataclass(frozen=True, eq=False, repr=False)
class Change:
    """One change of a history. Immutable; ``hash`` is computed from the other fields.

    ``deps``: hashes of the changes this one builds on (stored sorted, without duplicates).
    ``author``: who made it. ``time``: seconds since the Unix epoch (a float; when the change was complete).
    ``update``: Yjs v1 update bytes. ``kind``: what made it, e.g. ``"edit"``, ``"disk"``, ``"merge"``,
    ``"restore"``. ``message``: optional text. ``meta``: optional msgpack-able data (str keys), frozen.
    All of them are covered by ``hash``.
    """

    deps: tuple[str, ...]
    author: str
    time: float
    update: bytes
    kind: str = "edit"
    message: str | None = None
    meta: Mapping[str, Any] = field(default_factory=dict)
    hash: str = field(init=False)

    def __post_init__(self) -> None:
        if isinstance(self.deps, str):
            raise TypeError("deps must be an iterable of hashes, not a str")
        deps = tuple(sorted({_check_hash(d) for d in self.deps}))
        if not isinstance(self.author, str):
            raise TypeError("author must be a str")
        if not isinstance(self.kind, str) or not self.kind:
            raise TypeError("kind must be a non-empty str")
        if self.message is not None and not isinstance(self.message, str):
            raise TypeError("message must be a str or None")
        if isinstance(self.time, bool) or not isinstance(self.time, (int, float)):
            raise TypeError("time must be a number (seconds since the epoch)")
        t = float(self.time)
        if not math.isfinite(t):
            raise ValueError("time must be finite")
        if not isinstance(self.update, (bytes, bytearray, memoryview)):
            raise TypeError("update must be bytes")
        meta = _freeze(self.meta if self.meta is not None else {})
        if not isinstance(meta, Mapping):
            raise TypeError("meta must be a mapping")
        set_ = object.__setattr__
        set_(self, "deps", deps)
        set_(self, "time", t)
        set_(self, "update", bytes(self.update))
        set_(self, "meta", meta)
        set_(self, "hash", hashlib.sha256(self.canonical()).hexdigest())

    def canonical(self) -> bytes:
        """The bytes that are hashed: a msgpack array (see ``docs/file-format.md``, "Change hash")."""
        return msgpack.packb(
            [
                CHANGE_TAG,
                [bytes.fromhex(d) for d in self.deps],
                self.author,
                self.time,
                self.kind,
                self.message,
                self.plain_meta(),
                self.update,
            ],
            use_bin_type=True,
        )

    def plain_meta(self) -> dict[str, Any]:
        """``meta`` as plain msgpack-ready data (dicts with sorted keys, lists)."""
        return _plain(self.meta)

    @property
    def short(self) -> str:
        """The first 12 hex digits of the hash (for display)."""
        return self.hash[:12]

    def __eq__(self, other: object) -> bool:
        if not isinstance(other, Change):
            return NotImplemented
        return self.hash == other.hash

    def __hash__(self) -> int:
        return hash(self.hash)

    def __repr__(self) -> str:
        deps = ",".join(d[:8] for d in self.deps)
        return (
            f"Change({self.short} by {self.author!r} kind={self.kind!r} deps=[{deps}] "
            f"update={len(self.update)} bytes)"
        )


# -- clock ranges -------------------------------------------------------------------------------


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


def _held_ranges(refs: dict[int, list]) -> dict[int, list[tuple[int, int]]]:
    """The clock ranges of real structs (not Skip holes) in decoded refs, per client, joined."""
    out: dict[int, list[tuple[int, int]]] = {}
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


def _coalesce(update: bytes) -> bytes:
    """The same update with runs of typed text joined into single structs (smaller, same meaning).

    Two string items are joined when the second continues the first: same client, next clock, its
    origin is the first's last character and both have the same right origin. Integrating the joined
    item splits it back exactly there when needed, which is why Yjs's own store joins such items too.
    """
    refs, ds = read_update(update)
    for client, structs in refs.items():
        out: list = []
        for s in structs:
            if out and s.__class__ is Item and s.content.__class__ is ContentString:
                a = out[-1]
                if (
                    a.__class__ is Item
                    and a.content.__class__ is ContentString
                    and s.clock == a.clock + a.length
                    and s.origin == (client, s.clock - 1)
                    and s.right_origin == a.right_origin
                ):
                    a.content.merge(s.content)
                    a.length += s.length
                    continue
            out.append(s)
        refs[client] = out
    ds.sort_and_merge()
    return encode_refs(refs, ds)


def combine_updates(updates: Sequence[bytes]) -> bytes:
    """One compact update equivalent to all of ``updates`` (merged, consecutive typed text joined)."""
    if not updates:
        raise ValueError("no updates to combine")
    merged = updates[0] if len(updates) == 1 else merge_updates(updates)
    return _coalesce(merged)


# -- the history --------------------------------------------------------------------------------


class _ChangeList(Sequence):
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


class History:
    """A DAG of :class:`Change` objects with heads, versions, branches and the documents they give.

    Changes are kept in the order they were added, which is a topological order (deps first);
    that order only grows (:attr:`changes`). Versions are sets of change hashes, read as "these
    changes and all their ancestors"; methods taking a version accept any iterable of hashes or a
    single hash, and ``None`` for :attr:`heads` (everything).
    """

    def __init__(self) -> None:
        self._changes: dict[str, Change] = {}
        self._order: list[str] = []
        self._pos: dict[str, int] = {}
        self._depth: dict[str, int] = {}
        self._heads: set[str] = set()
        self._branches: dict[str, frozenset[str]] = {MAIN: frozenset()}
        # struct index, built lazily: client -> ranges owned by changes; deleted ranges
        self._indexed = 0
        self._index: dict[int, _Ranges] = {}
        self._deleted: dict[int, _Ranges] = {}
        # a known merged update: (version, its ancestors, update)
        self._checkpoint: tuple[frozenset[str], frozenset[str], bytes] | None = None

    # -- reading ---------------------------------------------------------------------------------

    def __len__(self) -> int:
        return len(self._order)

    def __contains__(self, h: object) -> bool:
        return h in self._changes

    def __iter__(self) -> Iterator[Change]:
        return iter(self.changes)

    def __eq__(self, other: object) -> bool:
        """Same changes and same branches (the order changes were added in does not matter)."""
        if not isinstance(other, History):
            return NotImplemented
        return self._changes.keys() == other._changes.keys() and self._branches == other._branches

    __hash__ = None  # type: ignore[assignment]

    def __repr__(self) -> str:
        return f"<History {len(self)} changes, {len(self._heads)} heads, branches {sorted(self._branches)}>"

    @property
    def changes(self) -> Sequence[Change]:
        """Every change, deps before dependents, in the order they were added (a live read-only view)."""
        return _ChangeList(self._order, self._changes)

    @property
    def heads(self) -> frozenset[str]:
        """Hashes of the changes nothing depends on (the version holding everything)."""
        return frozenset(self._heads)

    @property
    def version(self) -> frozenset[str]:
        """The current version: :attr:`heads`."""
        return frozenset(self._heads)

    def get(self, h: str) -> Change:
        """The change with hash ``h`` (``KeyError`` if absent)."""
        try:
            return self._changes[h]
        except KeyError:
            raise KeyError(f"no change {h} in this history") from None

    def resolve(self, prefix: str) -> str:
        """The full hash of the one change whose hash starts with ``prefix`` (at least 4 hex digits)."""
        p = prefix.lower()
        if p in self._changes:
            return p
        if len(p) < 4:
            raise ValueError(f"change prefix too short: {prefix!r} (give at least 4 hex digits)")
        found = [h for h in self._order if h.startswith(p)]
        if not found:
            raise KeyError(f"no change {prefix!r} in this history")
        if len(found) > 1:
            raise ValueError(f"change prefix {prefix!r} is ambiguous ({len(found)} changes)")
        return found[0]

    def _version(self, version: Version | str | None) -> frozenset[str]:
        if version is None:
            return frozenset(self._heads)
        v = frozenset((version,)) if isinstance(version, str) else frozenset(version)
        unknown = [h for h in v if h not in self._changes]
        if unknown:
            raise KeyError(f"unknown change(s) in version: {', '.join(sorted(unknown))}")
        return v

    def ancestors(self, version: Version | str | None = None) -> frozenset[str]:
        """Hashes of the changes of ``version`` and all their ancestors."""
        changes = self._changes
        stack = list(self._version(version))
        seen: set[str] = set()
        while stack:
            h = stack.pop()
            if h in seen:
                continue
            seen.add(h)
            stack.extend(changes[h].deps)
        return frozenset(seen)

    def is_ancestor(self, a: str, b: str) -> bool:
        """Whether change ``a`` is ``b`` or one of its ancestors."""
        self._version((a, b))
        if a == b:
            return True
        depth = self._depth
        da = depth[a]
        if depth[b] <= da:
            return False
        changes = self._changes
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

    def heads_of(self, version: Version | str) -> frozenset[str]:
        """The smallest set of changes with the same ancestors: ``version`` minus its members' ancestors."""
        cands = set(self._version(version))
        if len(cands) <= 1:
            return frozenset(cands)
        depth, changes = self._depth, self._changes
        floor = min(depth[h] for h in cands)
        redundant: set[str] = set()
        seen: set[str] = set()
        stack = [d for h in cands for d in changes[h].deps]
        while stack:
            h = stack.pop()
            if h in seen:
                continue
            seen.add(h)
            if h in cands:
                redundant.add(h)
            if depth[h] > floor:
                stack.extend(changes[h].deps)
        return frozenset(cands - redundant)

    def log(self, version: Version | str | None = None, since: Version | str | None = ()) -> list[Change]:
        """Changes of ``version`` (default: everything) that ``since`` lacks, in topological order."""
        ids = self.ancestors(version)
        if since:
            ids = ids - self.ancestors(since)
        pos = self._pos
        return [self._changes[h] for h in sorted(ids, key=pos.__getitem__)]

    def missing_deps(self, change: Change) -> list[str]:
        """Hashes of ``change``'s deps this history does not have, sorted."""
        return sorted(d for d in change.deps if d not in self._changes)

    # -- documents -------------------------------------------------------------------------------

    def doc_at(self, version: Version | str | None = None, *, gc: bool = False,
               client_id: int | None = None) -> Doc:
        """A new document holding ``version`` (default: everything).

        Updates are applied deps first (from the latest checkpoint when it is part of ``version``), so
        nothing is left pending. ``gc=False`` (the default) keeps deleted content, as a history needs.
        """
        v = self._version(version)
        ids = self.ancestors(v)
        doc = Doc(client_id=client_id, gc=gc)
        cp = self._checkpoint
        if cp is not None and cp[0] <= ids:
            doc.apply_update(cp[2])
            ids = ids - cp[1]
        changes, pos = self._changes, self._pos
        with doc.transact():
            for h in sorted(ids, key=pos.__getitem__):
                doc.apply_update(changes[h].update)
        return doc

    def update_at(self, version: Version | str | None = None) -> bytes:
        """The state of ``version`` as one v1 update (a full-state update with deleted content kept)."""
        v = self._version(version)
        cp = self._checkpoint
        if cp is not None and cp[0] == v:
            return cp[2]
        if not v:
            return Doc(gc=False).encode_state_as_update()
        return self.doc_at(v).encode_state_as_update()

    def set_checkpoint(self, version: Version | str, update: bytes) -> None:
        """Remember that ``update`` is the state of ``version`` (e.g. from a file's checkpoint).

        :meth:`doc_at` and :meth:`update_at` then start from it instead of replaying those changes.
        The update is trusted, not checked; only the latest one given is kept.
        """
        v = self._version(version)
        self._checkpoint = (v, self.ancestors(v), bytes(update))

    @property
    def checkpoint(self) -> frozenset[str] | None:
        """The version of the remembered checkpoint, if any."""
        return None if self._checkpoint is None else self._checkpoint[0]

    # -- adding ----------------------------------------------------------------------------------

    def add(self, change: Change, *, branch: str | None = None, check: bool = True) -> bool:
        """Add a change made elsewhere. Returns False if it was already here.

        Raises :class:`MissingDependencyError` (naming them) if some of its deps are absent. With
        ``check`` (the default) its update is decoded first (a malformed one raises
        ``crdt.DecodeError``); pass ``check=False`` only for changes already validated (read from a
        checksummed file, or taken from another History). ``branch``: a branch to advance to include it.
        """
        if not isinstance(change, Change):
            raise TypeError("add() takes a Change")
        decoded = read_update(change.update) if check else None
        added = self._insert(change, decoded)
        if branch is not None:
            self.set_branch(branch, self._branches.get(branch, frozenset()) | {change.hash})
        return added

    def _insert(self, change: Change, decoded: tuple | None) -> bool:
        h = change.hash
        if h in self._changes:
            return False
        missing = self.missing_deps(change)
        if missing:
            raise MissingDependencyError(h, missing)
        depth = self._depth
        self._changes[h] = change
        self._pos[h] = len(self._order)
        self._order.append(h)
        depth[h] = 1 + max((depth[d] for d in change.deps), default=-1)
        self._heads.difference_update(change.deps)
        self._heads.add(h)
        if self._indexed == len(self._order) - 1 and decoded is not None:
            self._index_change(h, *decoded)
            self._indexed += 1
        return True

    def _index_change(self, h: str, refs: dict[int, list], ds: DeleteSet) -> None:
        index, deleted = self._index, self._deleted
        for client, runs in _held_ranges(refs).items():
            r = index.get(client)
            if r is None:
                r = index[client] = _Ranges()
            for start, end in runs:
                r.add(start, end, h)
        for client, ranges in ds.clients.items():
            r = deleted.get(client)
            if r is None:
                r = deleted[client] = _Ranges()
            for clock, length in sorted(ranges):
                r.add(clock, clock + length, None)

    def _ensure_index(self) -> None:
        order, changes = self._order, self._changes
        while self._indexed < len(order):
            h = order[self._indexed]
            self._index_change(h, *read_update(changes[h].update))
            self._indexed += 1

    def owner(self, client: int, clock: int) -> str | None:
        """The hash of the (first added) change holding struct ``(client, clock)``, or None."""
        self._ensure_index()
        r = self._index.get(client)
        if r is None:
            return None
        owners: set[str] = set()
        r.lookup(clock, clock + 1, owners, [], client)
        return next(iter(owners), None)

    def record(
        self,
        update: bytes,
        author: str,
        *,
        time: float | None = None,
        kind: str = "edit",
        message: str | None = None,
        meta: Mapping[str, Any] | None = None,
        branch: str = MAIN,
    ) -> Change | None:
        """Record ``update`` as a new change on ``branch`` and move the branch to it.

        Its deps are the branch's heads plus the changes holding the structs the update refers to
        (found in an index, O(log n) each), reduced to heads. Returns None when the update holds
        nothing new (no structs or deletions this history lacks). Raises :class:`MissingStructsError`
        when it refers to structs no change holds, and ``crdt.DecodeError`` for a malformed update.
        ``time`` defaults to now.
        """
        if branch not in self._branches:
            raise KeyError(f"no branch {branch!r}")
        refs, ds = read_update(update)
        self._ensure_index()
        held = _held_ranges(refs)
        if self._knows(held, ds):
            return None
        owners: set[str] = set()
        missing: list[tuple[int, int, int]] = []
        index = self._index
        for client, clock, length in _references(refs, ds, held):
            r = index.get(client)
            if r is None:
                missing.append((client, clock, length))
            else:
                r.lookup(clock, clock + length, owners, missing, client)
        if missing:
            raise MissingStructsError(_join_ranges(missing))
        base = self._branches[branch]
        extra = owners - base
        if not extra or base == self._heads:
            deps = base
        else:
            deps = self.heads_of(base | extra)
        change = Change(
            deps, author, _time.time() if time is None else time, update, kind=kind, message=message,
            meta=meta if meta is not None else {},
        )
        self._insert(change, (refs, ds))
        self._branches[branch] = frozenset((change.hash,))
        return change

    def _knows(self, held: dict, ds: DeleteSet) -> bool:
        index, deleted = self._index, self._deleted
        for client, runs in held.items():
            r = index.get(client)
            if r is None or not all(r.covers(s, e) for s, e in runs):
                return False
        for client, ranges in ds.clients.items():
            r = deleted.get(client)
            if r is None or not all(r.covers(c, c + n) for c, n in ranges):
                return False
        return True

    def merge(self, other: History) -> list[Change]:
        """Add every change of ``other`` this history lacks and merge the branch tables.

        A branch in both ends at the heads of the union of both versions; a branch in one only is
        taken as is (so a branch deleted on one side comes back from the other). Union is
        idempotent, commutative and associative. Returns the changes added, in topological order.
        """
        added = []
        for c in other.changes:
            if c.hash not in self._changes:
                self._insert(c, None)
                added.append(c)
        for name, heads in other._branches.items():
            mine = self._branches.get(name)
            self._branches[name] = heads if mine is None else self.heads_of(mine | heads)
        return added

    def copy(self) -> History:
        """An independent history with the same changes, branches and checkpoint."""
        h = History()
        for c in self.changes:
            h._insert(c, None)
        h._branches = dict(self._branches)
        h._checkpoint = self._checkpoint
        return h

    # -- branches --------------------------------------------------------------------------------

    @property
    def branches(self) -> dict[str, frozenset[str]]:
        """Branch name -> its heads (a copy). ``"main"`` always exists."""
        return dict(self._branches)

    def branch(self, name: str) -> frozenset[str]:
        """The heads of branch ``name``."""
        try:
            return self._branches[name]
        except KeyError:
            raise KeyError(f"no branch {name!r}") from None

    def create_branch(self, name: str, version: Version | str | None = None) -> frozenset[str]:
        """A new branch at ``version`` (default: where main is). ``ValueError`` if it exists."""
        if name in self._branches:
            raise ValueError(f"branch {name!r} already exists")
        return self.set_branch(name, self._branches[MAIN] if version is None else version)

    def move_branch(self, name: str, version: Version | str) -> frozenset[str]:
        """Point existing branch ``name`` at ``version`` (any version: forwards, backwards, sideways)."""
        if name not in self._branches:
            raise KeyError(f"no branch {name!r}")
        return self.set_branch(name, version)

    def set_branch(self, name: str, version: Version | str) -> frozenset[str]:
        """Create or move branch ``name`` to ``version`` (reduced to its heads). Returns those heads."""
        if not isinstance(name, str) or not name:
            raise ValueError("a branch name is a non-empty str")
        heads = self.heads_of(version)
        self._branches[name] = heads
        return heads

    def delete_branch(self, name: str) -> None:
        """Forget branch ``name`` (its changes stay). ``"main"`` cannot be deleted."""
        if name == MAIN:
            raise ValueError("the main branch cannot be deleted")
        if name not in self._branches:
            raise KeyError(f"no branch {name!r}")
        del self._branches[name]


def _join_ranges(ranges: list[tuple[int, int, int]]) -> list[tuple[int, int, int]]:
    out: list[tuple[int, int, int]] = []
    for c, k, n in sorted(set(ranges)):
        if out and out[-1][0] == c and out[-1][1] + out[-1][2] >= k:
            pc, pk, pn = out[-1]
            out[-1] = (pc, pk, max(pn, k + n - pk))
        else:
            out.append((c, k, n))
    return out


# -- grouping -----------------------------------------------------------------------------------


class ChangeGrouper:
    """Buffers a stream of updates and records them into ``history`` as few changes.

    Consecutive updates with the same author (and kind, message, meta) are joined into one change.
    The buffered change is closed (recorded) when an update of another author (or kind...) arrives,
    when an update comes ``idle`` seconds or more after the previous one, when the buffered bytes
    would pass ``max_bytes``, by :meth:`poll` once ``idle`` has passed, or by :meth:`flush`.
    ``clock`` gives the time (seconds since the epoch) when :meth:`add` is not told it; inject a
    fake clock in tests. ``on_change(change)`` is called for every change recorded (e.g. to append
    it to a file). Changes go onto ``branch``.

    The grouper does no I/O and runs no timer: call :meth:`poll` at :attr:`deadline` (or later).
    """

    def __init__(
        self,
        history: History,
        *,
        idle: float = DEFAULT_IDLE,
        max_bytes: int = DEFAULT_MAX_BYTES,
        clock: Callable[[], float] = _time.time,
        branch: str = MAIN,
        on_change: Callable[[Change], None] | None = None,
    ) -> None:
        if idle < 0 or max_bytes < 1:
            raise ValueError("idle must be >= 0 and max_bytes >= 1")
        self.history = history
        self.idle = idle
        self.max_bytes = max_bytes
        self.clock = clock
        self.branch = branch
        self.on_change = on_change
        self._updates: list[bytes] = []
        self._tags: list[Any] = []
        self.closed_tags: list[Any] = []
        """The ``tag`` of each update of the change last recorded (set before ``on_change`` is called)."""
        self._size = 0
        self._key: tuple | None = None
        self._last = 0.0

    @property
    def pending(self) -> bool:
        """Whether updates are buffered (not yet recorded)."""
        return bool(self._updates)

    @property
    def author(self) -> str | None:
        """The author of the buffered updates, if any."""
        return None if self._key is None else self._key[0]

    @property
    def deadline(self) -> float | None:
        """When :meth:`poll` will close the buffered change (None if nothing is buffered)."""
        return self._last + self.idle if self._updates else None

    def add(
        self,
        update: bytes,
        author: str,
        *,
        time: float | None = None,
        kind: str = "edit",
        message: str | None = None,
        meta: Mapping[str, Any] | None = None,
        tag: Any = None,
    ) -> list[Change]:
        """Buffer ``update`` by ``author``; returns the changes recorded because of it (maybe none).

        ``tag``: anything, handed back in :attr:`closed_tags` when the change holding the update is
        recorded (e.g. the number of the update's journal record in a history file).
        """
        if not isinstance(update, (bytes, bytearray, memoryview)):
            raise TypeError("an update must be bytes")
        now = self.clock() if time is None else time
        key = (author, kind, message, _freeze(meta or {}))
        out: list[Change] = []
        if self._updates and (
            key != self._key or now - self._last >= self.idle or self._size + len(update) > self.max_bytes
        ):
            c = self.flush()
            if c is not None:
                out.append(c)
        self._updates.append(bytes(update))
        self._tags.append(tag)
        self._size += len(update)
        self._key = key
        self._last = now
        if self._size >= self.max_bytes:
            c = self.flush()
            if c is not None:
                out.append(c)
        return out

    def poll(self, now: float | None = None) -> Change | None:
        """Record the buffered change if ``idle`` seconds have passed since its last update."""
        if not self._updates:
            return None
        now = self.clock() if now is None else now
        if now - self._last >= self.idle:
            return self.flush()
        return None

    def flush(self) -> Change | None:
        """Record the buffered updates now as one change (None if nothing was buffered or new).

        If recording fails (e.g. :class:`MissingStructsError`) the buffer is kept and the error raised.
        """
        if not self._updates:
            return None
        author, kind, message, meta = self._key
        update = combine_updates(self._updates)
        change = self.history.record(
            update, author, time=self._last, kind=kind, message=message, meta=meta, branch=self.branch
        )
        tags = self._tags
        self.discard()
        self.closed_tags = tags
        if change is not None and self.on_change is not None:
            self.on_change(change)
        return change

    def discard(self) -> list[bytes]:
        """Drop the buffered updates without recording them; returns them."""
        updates, self._updates = self._updates, []
        self._tags = []
        self._size = 0
        self._key = None
        return updates
