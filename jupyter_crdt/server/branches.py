"""Branches of a notebook's history, served live: names, the history store of a branch room, and the
branch operations of the REST API (list, create, merge, delete).

A notebook's history (``.NAME.ipynb.crdt``, :mod:`jupyter_crdt.history.sidecar`) has named branches; ``main``
is the one the room of the notebook edits and the one written to the ``.ipynb``. A *branch room*
(room id ``{format}:{type}:{fileId}@{branch}``) is a room like any other whose edits are recorded in the
same history on its branch, by their authors, and never saved to the file. It shares the main room's
open history (the sidecar is locked by one writer), so the main room stays loaded while a branch room of
its notebook is open, and closes its branch rooms when it closes.

A branch forks from another branch's version, so the two hold the same item ids: merging one into the
other is the union of their changes followed by the notebook rules (``_union.merge_versions``: one
side's outputs per cell, never both; a deleted cell loses the other side's edit...) as one ``merge``
change. Nothing is duplicated and edits made meanwhile on the target are kept. The target's live room
(if open) receives what the merge added as an ordinary update, and a merge into ``main`` is saved.
"""

from __future__ import annotations

import re
from collections.abc import Callable, Iterable
from typing import TYPE_CHECKING, Any

import crdt
from crdt import DEFAULT_IDLE, ChangeGrouper, History, merge_updates
from jupyter_crdt.history import MAIN, WRITTEN, NotebookHistory, TextHistory, VersionMerge, merge_versions
from jupyter_crdt.server.stores import HistoryStore, Loaded, Record

if TYPE_CHECKING:
    from jupyter_crdt.server.manager import RoomManager
    from jupyter_crdt.server.room import Room

#: A branch name people and tools may use (branches starting otherwise are the history's own).
BRANCH_NAME = re.compile(r"[A-Za-z0-9][A-Za-z0-9._-]{0,63}\Z")
#: Branch names the history keeps for itself (``written``: what the ``.ipynb`` holds).
RESERVED = frozenset({WRITTEN})
#: Separates a room id from the branch of a branch room.
BRANCH_SEPARATOR = "@"


class BadBranchName(ValueError):
    """Not a name a branch may have (or one the history keeps for itself)."""


class UnknownBranch(LookupError):
    """The history has no branch of that name."""


class BranchExists(ValueError):
    """A branch of that name exists already."""


class NoBranches(LookupError):
    """The document has no history that keeps branches (a text file, or a history kept in memory)."""


def check_name(name: Any) -> str:
    """``name`` if a user's branch may be called so (``main`` included); raises :class:`BadBranchName`."""
    if not isinstance(name, str) or not BRANCH_NAME.match(name) or name in RESERVED:
        raise BadBranchName(f"bad branch name {name!r}: use 1-64 letters, digits, '.', '_' or '-', "
                            f"starting with a letter or digit (not {', '.join(sorted(RESERVED))})")
    return name


def branch_room_id(room_id: str, name: str) -> str:
    """The id of the room of branch ``name`` of the document whose (main) room is ``room_id``."""
    return room_id if name == MAIN else f"{room_id}{BRANCH_SEPARATOR}{name}"


def split_room_id(room_id: str) -> tuple[str, str]:
    """(the main room's id, the branch) of a room id; ``main`` when it names no branch."""
    base, sep, name = room_id.partition(BRANCH_SEPARATOR)
    return (base, name) if sep else (room_id, MAIN)


def notebook_history(room: Room) -> NotebookHistory:
    """The open notebook history of a main room; :class:`NoBranches` if its document has none."""
    nh = room.store.notebook_history
    if nh is None:
        raise NoBranches("branches are kept for notebooks whose history is on disk; this document has none")
    return nh


def _write(nh: NotebookHistory) -> None:
    """Append what the history gained to its sidecar (a history from :func:`notebook_history` has a
    writer; after it closed, nothing is written)."""
    if nh.writer is not None:
        nh.writer.append()


def user_branches(history: History) -> list[str]:
    """The branches people see: ``main`` first, then the others by name (internal ones left out)."""
    others = sorted(n for n in history.branches if n != MAIN and n not in RESERVED and BRANCH_NAME.match(n))
    return [MAIN, *others]


class BranchStore:
    """The :class:`~jupyter_crdt.server.stores.HistoryStore` of a branch room: the main room's history, on a
    branch.

    Accepted updates are grouped into changes by author (``crdt.ChangeGrouper``, on the branch) and
    written with the history's writer once a change is closed (after the grouper's idle gap), so an
    update counts as durable (and is acknowledged) only then: branch edits are not journaled, because
    a journal's updates are grouped onto ``main`` when the history is reopened.

    The history is taken from the main room's store each time, because that store reopens it when the
    notebook is renamed; buffered updates then move to the reopened history.
    """

    def __init__(self, main_store: HistoryStore, name: str, idle: float = DEFAULT_IDLE) -> None:
        self._main = main_store
        self.name = name
        self._idle = idle
        self._history: History | None = None
        self._grouper: ChangeGrouper | None = None
        self._appended = 0
        self._durable = 0
        self._meta: dict[str, Any] = {}

    @property
    def session_id(self) -> str:
        return self._main.session_id

    @property
    def notebook_history(self) -> NotebookHistory:
        """The main room's history; :class:`NoBranches` once it is closed (a branch store always has one
        while it is open)."""
        nh = self._main.notebook_history
        if nh is None:
            raise NoBranches("the notebook's history is closed")
        return nh

    @property
    def text_history(self) -> TextHistory | None:
        return None

    def _bound(self) -> ChangeGrouper:
        """The grouper, on the history currently open (rebuilt with what it buffered if that changed)."""
        history = self.notebook_history.history
        if self._grouper is None or self._history is not history:
            old = self._grouper
            author = old.author if old is not None else None
            buffered = old.discard() if old is not None else []
            self._grouper = ChangeGrouper(history, idle=self._idle, branch=self.name)
            self._history = history
            for update in buffered:
                self._grouper.add(update, author or "server")
        return self._grouper

    # -- HistoryStore ----------------------------------------------------------------------------

    def load(self) -> Loaded:
        history = self.notebook_history.history
        if self.name not in history.branches:
            raise UnknownBranch(f"no branch {self.name!r}")
        changes = history.changes
        base = changes[0].update if len(changes) else None
        state = Record(history.update_at(history.branch(self.name)), "history", 0.0)
        return Loaded(records=[state], base=base)

    def set_base(self, update: bytes) -> None:
        """Not needed: a branch starts from a version of the history."""

    def append(self, update: bytes, author: str) -> int:
        self._bound().add(update, author)
        self._appended += 1
        return self._appended

    @property
    def deadline(self) -> float | None:
        """When the change being grouped closes (and its updates become durable); None if none is open."""
        return self._grouper.deadline if self._grouper is not None else None

    async def flush(self) -> int:
        """Close the open change if it has been idle, and write what is closed; returns the number of
        appended updates that are written (all of them once no change is open)."""
        nh = self._main.notebook_history
        if nh is None or nh.writer is None:
            return self._durable
        grouper = self._bound()
        grouper.poll()
        nh.writer.append()
        if not grouper.pending:
            self._durable = self._appended
        return self._durable

    def flush_edits(self) -> None:
        """Close the open change now (before the branch's version is read, merged or moved)."""
        if self._grouper is not None and self._main.notebook_history is not None:
            self._bound().flush()

    def set_meta(self, key: str, value: Any) -> None:
        self._meta[key] = value

    def get_meta(self, key: str, default: Any = None) -> Any:
        return self._meta.get(key, default)

    def records(self) -> list[Record]:
        self.flush_edits()
        history = self.notebook_history.history
        return [Record(c.update, c.author, c.time) for c in history.log(history.branch(self.name))]

    def position(self) -> frozenset[str]:
        self.flush_edits()
        return self.notebook_history.history.branch(self.name)

    def mark_saved(self, position: Any, digest: str) -> None:
        """Branches are never saved to the file."""

    def saved_update(self) -> bytes | None:
        return None

    def recorded_position(self, matches: Callable[[crdt.Doc], bool]) -> Any:
        """None: a branch is never saved to the file, so no version is looked for."""
        return None

    def relocate(self, file_path: str) -> None:
        """Nothing to do: the main room's store moves the history (this store asks it each time)."""

    def close(self) -> None:
        nh = self._main.notebook_history
        if nh is None or nh.writer is None or nh.writer.closed:
            return
        if self.name in nh.history.branches:
            self.flush_edits()
        nh.writer.append()


# -- the operations of the REST API ---------------------------------------------------------------------


def _branch_room(manager: RoomManager, main: Room, name: str) -> Room | None:
    room = manager.rooms.get(branch_room_id(main.room_id, name))
    return room if room is not None and not room.closed else None


def _settle(manager: RoomManager, main: Room, names: Iterable[str]) -> None:
    """Close the changes being grouped on these branches, so their versions hold every accepted edit."""
    nh = notebook_history(main)
    for name in names:
        if name == MAIN:
            nh.flush_edits()
        else:
            room = _branch_room(manager, main, name)
            if room is not None:
                room.store.flush_edits()


def _heads(history: History, name: str) -> frozenset[str]:
    if name not in history.branches or name in RESERVED:
        raise UnknownBranch(f"no branch {name!r}")
    return history.branch(name)


def list_branches(manager: RoomManager, main: Room) -> list[dict]:
    """``[{"name", "roomId", "changes", "ahead"}]``, main first: ``changes`` counts the changes of the
    branch's version, ``ahead`` those ``main`` lacks."""
    nh = notebook_history(main)
    _settle(manager, main, [MAIN])
    history = nh.history
    main_ancestors = history.ancestors(history.branch(MAIN))
    out = []
    for name in user_branches(history):
        ancestors = history.ancestors(history.branch(name))
        out.append({"name": name, "roomId": branch_room_id(main.room_id, name), "changes": len(ancestors),
                    "ahead": len(ancestors - main_ancestors)})
    return out


def create_branch(manager: RoomManager, main: Room, name: str, source: str = MAIN) -> str:
    """Make branch ``name`` at the version of branch ``source``; returns its room id."""
    check_name(name)
    nh = notebook_history(main)
    history = nh.history
    if name in history.branches:
        raise BranchExists(f"branch {name!r} already exists")
    _settle(manager, main, [source])
    history.set_branch(name, _heads(history, source))
    _write(nh)
    return branch_room_id(main.room_id, name)


async def delete_branch(manager: RoomManager, main: Room, name: str) -> None:
    """Forget branch ``name`` (its changes stay in the history); its room, if open, is closed."""
    if name == MAIN:
        raise BadBranchName("the main branch cannot be deleted")
    nh = notebook_history(main)
    _heads(nh.history, name)
    room = _branch_room(manager, main, name)
    if room is not None:
        await room.close()
        manager.forget(room)
    nh = notebook_history(main)  # the room's close may have taken a while: the history as it is now
    if name in nh.history.branches:
        nh.history.delete_branch(name)
        _write(nh)


async def merge_branch(manager: RoomManager, main: Room, source: str, target: str = MAIN) -> VersionMerge:
    """Merge branch ``source`` into branch ``target`` (see the module docstring)."""
    if source == target:
        raise BadBranchName("a branch cannot be merged into itself")
    nh = notebook_history(main)
    history = nh.history
    _heads(history, source)
    _heads(history, target)
    # From here to the update of the live room nothing awaits: no edit can slip in between.
    _settle(manager, main, [source, target])
    before = history.branch(target)
    vm = merge_versions(history, before, history.branch(source))
    if vm.heads == before:
        return vm
    added = history.log(vm.heads, since=before)
    if target == MAIN:
        nh.move_main(vm.heads)  # also brings NotebookHistory's own document of main up to date
    else:
        history.set_branch(target, vm.heads)
    _write(nh)
    room = main if target == MAIN else _branch_room(manager, main, target)
    if room is not None and added:
        room.apply_recorded(merge_updates([c.update for c in added]))
    if target == MAIN:
        await main.save()
    return vm


def merge_report(vm: VersionMerge) -> dict:
    """The parts of a merge's result a client may show."""
    return {"fastForward": vm.fast_forward, "conflicts": list(vm.conflicts), "notes": list(vm.notes)}
