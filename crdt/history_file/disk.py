"""The file operations of history files: whole reads and writes at offsets, syncs, the writer's lock,
and the temporary files of compaction. Never through a symbolic link (:mod:`crdt.files`)."""

from __future__ import annotations

import os
from pathlib import Path

from .. import files as _fileio
from ..files import UnsafeFileError, open_nofollow, require_locking, unlock

__all__ = [
    "HistoryLockedError", "UnsafeFileError", "open_nofollow", "require_locking", "unlock", "read_all",
    "fsync_dir", "sync", "write_all", "lock", "read_file", "temp_prefix", "remove_stale_temps",
]


class HistoryLockedError(OSError):
    """Another process has the history file open for writing."""

    def __init__(self, path: str | os.PathLike) -> None:
        self.path = os.fspath(path)
        super().__init__(f"{self.path} is open for writing by another process")


def read_all(fd: int) -> bytes:
    """Everything in the open file ``fd``, from its start."""
    size = os.fstat(fd).st_size
    chunks = []
    pos = 0
    while True:
        chunk = _fileio.pread(fd, max(size - pos, 1 << 16), pos)
        if not chunk:
            break
        chunks.append(chunk)
        pos += len(chunk)
    return b"".join(chunks)


def fsync_dir(path: Path) -> None:
    """Make a rename or creation of ``path`` durable (sync its directory)."""
    _fileio.fsync_dir(path.parent)


def sync(fd: int) -> None:
    """Make what was written to ``fd`` durable (its data; ``fsync`` where there is no ``fdatasync``)."""
    (getattr(os, "fdatasync", None) or os.fsync)(fd)


def write_all(fd: int, data: bytes, offset: int) -> None:
    """Write all of ``data`` at ``offset`` (a short write continues)."""
    view = memoryview(data)
    while view:
        n = _fileio.pwrite(fd, view, offset)
        view = view[n:]
        offset += n


def lock(fd: int, path: Path) -> None:
    """Take the exclusive writer's lock of ``fd`` without waiting (:class:`HistoryLockedError`)."""
    if not _fileio.try_lock(fd):
        raise HistoryLockedError(path)


def read_file(path: Path, limit: int | None = None) -> bytes:
    """The bytes of the history file ``path`` (the first ``limit`` only, if given), never through a link."""
    fd = open_nofollow(path, os.O_RDONLY)
    with os.fdopen(fd, "rb") as f:
        return f.read() if limit is None else f.read(limit)


def temp_prefix(path: Path) -> str:
    """How the names of compaction's temporary files for ``path`` start."""
    return f".{path.name}."


def remove_stale_temps(path: Path) -> None:
    """Delete temporary files left by a compaction that was killed (we hold the lock, so none is live)."""
    prefix = temp_prefix(path)
    try:
        names = os.listdir(path.parent)
    except OSError:  # pragma: no cover
        return
    for name in names:
        if name.startswith(prefix) and name.endswith(".compact"):
            try:
                os.unlink(path.parent / name)
            except OSError:  # pragma: no cover
                pass
