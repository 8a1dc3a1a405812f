"""Journal records: accepted updates made durable at once, until a change record supersedes them.

Records are numbered from 1. A change record may say it covers the records up to some number; those
are then superseded (dead bytes, dropped by compaction), the others are *pending*: handed back when the
file is opened, and grouped into provisional changes by readers.
"""

from __future__ import annotations

from collections.abc import Iterable

from ..history import Change, ChangeGrouper, History
from .codec import JournalEntry


class Journal:
    """The pending journal records of a file (with their sizes in bytes) and their numbering."""

    __slots__ = ("records", "seq", "covered", "covers")

    def __init__(self) -> None:
        self.records: list[tuple[JournalEntry, int]] = []
        self.seq = 0
        """The highest record number seen (the next record is ``seq + 1``)."""
        self.covered = 0
        """Records numbered up to this are superseded."""
        self.covers: dict[str, int] = {}
        """Change hash -> the last record it covers, for changes not written yet (see :meth:`note_cover`)."""

    @property
    def pending(self) -> list[JournalEntry]:
        """The records no change supersedes, in order."""
        return [entry for entry, _ in self.records]

    def add(self, entry: JournalEntry, nbytes: int) -> int:
        """Take record ``entry`` (``nbytes`` long); returns the bytes it leaves dead (if already covered)."""
        if entry.seq > self.seq:
            self.seq = entry.seq
        if entry.seq <= self.covered:
            return nbytes
        self.records.append((entry, nbytes))
        return 0

    def cover(self, upto: int) -> int:
        """Records numbered up to ``upto`` are superseded: drop them. Returns the bytes they held."""
        if upto > self.seq:
            self.seq = upto
        if upto <= self.covered:
            return 0
        self.covered = upto
        dead = 0
        keep = []
        for entry, nbytes in self.records:
            if entry.seq <= upto:
                dead += nbytes
            else:
                keep.append((entry, nbytes))
        self.records = keep
        return dead

    def note_cover(self, change: Change | str, upto: int) -> None:
        """Remember that ``change`` (not written yet) holds the records up to ``upto``."""
        h = change if isinstance(change, str) else change.hash
        self.covers[h] = max(upto, self.covers.get(h, 0))

    def take_covers(self, changes: Iterable[Change]) -> int | None:
        """The last record ``changes`` (now written) cover, if any; forgets their notes."""
        covered = [self.covers.pop(c.hash) for c in changes if c.hash in self.covers]
        return max(covered) if covered else None


def group_journal(history: History, entries: list[JournalEntry]) -> None:
    """Record journal ``entries`` into ``history`` as the changes a writer's grouper would make."""
    grouper = ChangeGrouper(history)
    for e in entries:
        try:
            grouper.add(e.update, e.author, time=e.time, kind=e.kind, message=e.message, meta=e.meta or None)
        except ValueError:  # an update this history cannot place (never written so): skip it, keep reading
            grouper = ChangeGrouper(history)
    grouper.flush()
