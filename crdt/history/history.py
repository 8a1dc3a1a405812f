"""The history: a document's past as a DAG of changes, its versions, branches and documents.

A :class:`History` holds changes. Its *heads* are the changes no other change depends on; a *version*
is a set of heads, and the document at a version is the union of the updates of its ancestors
(:meth:`History.doc_at`). Yjs updates commute and are idempotent, so two histories merge by union
(:meth:`History.merge`). Branches are named versions; ``"main"`` always exists.

:meth:`History.record` computes a new change's deps from the struct index (:mod:`.index`);
:meth:`History.add` takes a change made elsewhere and refuses one whose deps are missing.
"""

from __future__ import annotations

import time as _time
from collections.abc import Iterable, Iterator, Mapping, Sequence
from typing import Any

from ..doc import Doc
from ..update_decoder import read_update
from . import graph
from .branches import MAIN, Branches
from .change import Change, MissingDependencyError
from .graph import ChangeList
from .index import StructIndex, held_ranges

Version = Iterable[str]


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
        self._branches = Branches()
        # which change holds which struct, built lazily (record needs it, reading does not)
        self._index = StructIndex()
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
        return ChangeList(self._order, self._changes)

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
        return graph.resolve(self._changes, self._order, prefix)

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
        return graph.ancestors(self._changes, self._version(version))

    def is_ancestor(self, a: str, b: str) -> bool:
        """Whether change ``a`` is ``b`` or one of its ancestors."""
        self._version((a, b))
        return graph.is_ancestor(self._changes, self._depth, a, b)

    def heads_of(self, version: Version | str) -> frozenset[str]:
        """The smallest set of changes with the same ancestors: ``version`` minus its members' ancestors."""
        return graph.heads_of(self._changes, self._depth, self._version(version))

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
            self.set_branch(branch, (self._branches.get(branch) or frozenset()) | {change.hash})
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
        if decoded is not None and self._index.indexed == len(self._order) - 1:
            self._index.add(h, *decoded)
        return True

    def _ensure_index(self) -> StructIndex:
        index = self._index
        if index.indexed < len(self._order):
            changes = self._changes
            index.catch_up(self._order, lambda h: changes[h].update)
        return index

    def owner(self, client: int, clock: int) -> str | None:
        """The hash of the (first added) change holding struct ``(client, clock)``, or None."""
        return self._ensure_index().owner(client, clock)

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
        index = self._ensure_index()
        held = held_ranges(refs)
        if index.knows(held, ds):
            return None
        owners = index.owners(refs, ds, held)
        base = self._branches.heads(branch)
        extra = owners - base
        if not extra or base == self._heads:
            deps = base
        else:
            deps = self.heads_of(base | extra)
        change = Change(
            tuple(deps), author, _time.time() if time is None else time, update, kind=kind, message=message,
            meta=meta if meta is not None else {},
        )
        self._insert(change, (refs, ds))
        self._branches.set(branch, frozenset((change.hash,)))
        return change

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
            self._branches.set(name, heads if mine is None else self.heads_of(mine | heads))
        return added

    def copy(self) -> History:
        """An independent history with the same changes, branches and checkpoint."""
        h = History()
        for c in self.changes:
            h._insert(c, None)
        h._branches = self._branches.copy()
        h._checkpoint = self._checkpoint
        return h

    # -- branches --------------------------------------------------------------------------------

    @property
    def branches(self) -> dict[str, frozenset[str]]:
        """Branch name -> its heads (a copy). ``"main"`` always exists."""
        return self._branches.table()

    def branch(self, name: str) -> frozenset[str]:
        """The heads of branch ``name``."""
        return self._branches.heads(name)

    def create_branch(self, name: str, version: Version | str | None = None) -> frozenset[str]:
        """A new branch at ``version`` (default: where main is). ``ValueError`` if it exists."""
        self._branches.require_new(name)
        return self.set_branch(name, self._branches.heads(MAIN) if version is None else version)

    def move_branch(self, name: str, version: Version | str) -> frozenset[str]:
        """Point existing branch ``name`` at ``version`` (any version: forwards, backwards, sideways)."""
        self._branches.heads(name)  # KeyError when there is no such branch
        return self.set_branch(name, version)

    def set_branch(self, name: str, version: Version | str) -> frozenset[str]:
        """Create or move branch ``name`` to ``version`` (reduced to its heads). Returns those heads."""
        Branches.check_name(name)
        heads = self.heads_of(version)
        self._branches.set(name, heads)
        return heads

    def delete_branch(self, name: str) -> None:
        """Forget branch ``name`` (its changes stay). ``"main"`` cannot be deleted."""
        self._branches.delete(name)
