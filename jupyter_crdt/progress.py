"""A progress bar for long command-line work, drawn on stderr only when stderr is a terminal."""

from __future__ import annotations

import sys
import time
from typing import IO


class Progress:
    """``with Progress(total, "replaying") as p: ... p.advance()``; silent unless ``stream`` is a TTY.

    ``total`` may be 0 (nothing to show). Redraws at most ten times a second, and only once the work
    has run for half a second, so quick commands print nothing.
    """

    def __init__(self, total: int, label: str, *, stream: IO | None = None, enabled: bool | None = None):
        self.total = max(0, int(total))
        self.label = label
        self.stream = stream if stream is not None else sys.stderr
        if enabled is None:
            isatty = getattr(self.stream, "isatty", None)
            enabled = bool(isatty and isatty())
        self.enabled = enabled and self.total > 0
        self.done = 0
        self._start = time.monotonic()
        self._drawn = 0.0
        self._shown = False

    def advance(self, n: int = 1) -> None:
        self.done += n
        if not self.enabled:
            return
        now = time.monotonic()
        if now - self._start < 0.5 or now - self._drawn < 0.1:
            return
        self._drawn = now
        self._draw()

    def _draw(self) -> None:
        frac = min(1.0, self.done / self.total) if self.total else 1.0
        width = 30
        filled = int(frac * width)
        bar = "#" * filled + "-" * (width - filled)
        self.stream.write(f"\r{self.label} [{bar}] {frac * 100:5.1f}% ({self.done}/{self.total})")
        self.stream.flush()
        self._shown = True

    def close(self) -> None:
        if self._shown:
            self.done = self.total
            self._draw()
            self.stream.write("\n")
            self.stream.flush()
            self._shown = False

    def __enter__(self) -> Progress:
        return self

    def __exit__(self, *exc: object) -> None:
        self.close()


class NoProgress(Progress):
    """A progress bar that never draws (for library calls)."""

    def __init__(self, total: int = 0, label: str = "") -> None:
        super().__init__(total, label, enabled=False)
