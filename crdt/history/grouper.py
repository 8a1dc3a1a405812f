"""Grouping: a stream of small updates (keystrokes) recorded into a history as few changes.

A :class:`ChangeGrouper` joins consecutive updates of one author and flushes on another author's
update, an idle gap, a size cap or on request. It never joins across another author's update, so it
never reorders authors and never creates a cycle.
"""

from __future__ import annotations

import time as _time
from collections.abc import Callable, Mapping
from typing import Any

from .branches import MAIN
from .change import Change, freeze
from .combine import combine_updates
from .history import History

DEFAULT_IDLE = 2.0
"""Seconds without an update after which :class:`ChangeGrouper` closes a change."""

DEFAULT_MAX_BYTES = 256 * 1024
"""Update bytes a :class:`ChangeGrouper` buffers at most before it closes a change."""


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
        key = (author, kind, message, freeze(meta or {}))
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
        if not self._updates or self._key is None:  # both are set together
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
