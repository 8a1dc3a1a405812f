"""Portable, link-safe file primitives: the one lock, positioned I/O, opening without following links, and
the one atomic file replacement of the package. Public: tools (``jupyter_crdt``) use these for every file
they write or lock, so there is one way to do each.

Why a module of its own: history files (and the files they sit beside) come from cloned repositories, so a
name may be a symbolic link planted to make a writer write somewhere else; every open for writing goes
through :func:`open_nofollow`. And the package must work where ``fcntl`` or ``os.pread`` do not exist
(Windows): the lock is ``flock`` where there is one, else ``msvcrt.locking`` on a byte far past any real
file's end (so readers, who take no lock, are never blocked), and positioned reads and writes fall back to
``lseek`` + ``read``/``write`` under a process-wide lock. With no lock primitive at all, writing is refused
(:class:`NoLockingError`) rather than done unlocked.
"""

from __future__ import annotations

import contextlib
import errno
import os
import secrets
import stat
import threading

try:
    import fcntl
except ImportError:  # pragma: no cover - not POSIX
    fcntl = None  # type: ignore[assignment]
try:
    import msvcrt
except ImportError:  # POSIX
    msvcrt = None  # type: ignore[assignment]

__all__ = [
    "UnsafeFileError",
    "NoLockingError",
    "open_nofollow",
    "try_lock",
    "unlock",
    "pread",
    "pwrite",
    "replace_file",
    "fsync_dir",
]

#: Flags read at call time, so tests can take the portable paths on Linux.
HAVE_PREAD = hasattr(os, "pread") and hasattr(os, "pwrite")
O_NOFOLLOW = getattr(os, "O_NOFOLLOW", 0)
O_BINARY = getattr(os, "O_BINARY", 0)  # Windows: no newline translation of binary files
O_CLOEXEC = getattr(os, "O_CLOEXEC", 0)

#: Where ``msvcrt.locking`` locks one byte: far past the end of any history, so never in a reader's way.
MSVCRT_LOCK_OFFSET = 1 << 40  # 1 TiB: seekable on every common filesystem

_seek_lock = threading.Lock()  # lseek + read/write pairs, and the msvcrt lock's seek, are not atomic


class UnsafeFileError(OSError):
    """A file that is written (or read as a history) is a symbolic link: refused, never followed."""

    def __init__(self, path: str | os.PathLike, what: str = "history file") -> None:
        self.path = os.fspath(path)
        super().__init__(
            errno.ELOOP,
            f"{self.path} is a symbolic link; a {what} is never opened through a link (it could point "
            "outside the folder). Remove the link (or replace it with a regular file) to use it",
        )

    def __str__(self) -> str:
        return self.strerror or super().__str__()


class NoLockingError(OSError):
    """This platform has no file lock this package knows (neither ``fcntl`` nor ``msvcrt``)."""


def open_nofollow(
    path: str | os.PathLike, flags: int, mode: int = 0o644, *, what: str = "history file"
) -> int:
    """``os.open`` that refuses (:class:`UnsafeFileError`) when the last component of ``path`` is a link.

    With ``O_NOFOLLOW`` the kernel refuses atomically (also with ``O_CREAT`` on a dangling link); without
    it the name is checked before and the opened file compared with it after.
    """
    flags |= O_BINARY | O_CLOEXEC
    if O_NOFOLLOW:
        try:
            return os.open(path, flags | O_NOFOLLOW, mode)
        except OSError as e:
            # ELOOP on Linux; some systems say EMLINK or EFTYPE: whichever, a link is the reason
            if e.errno != errno.ENOENT and os.path.islink(path):
                raise UnsafeFileError(path, what) from None
            raise
    if os.path.islink(path):
        raise UnsafeFileError(path, what)
    fd = os.open(path, flags, mode)
    try:
        st, lst = os.fstat(fd), os.lstat(path)
        if stat.S_ISLNK(lst.st_mode) or (st.st_ino, st.st_dev) != (lst.st_ino, lst.st_dev):
            raise UnsafeFileError(path, what)  # swapped for a link between the check and the open
    except BaseException:
        os.close(fd)
        raise
    return fd


def require_locking() -> None:
    """Raise :class:`NoLockingError` unless this platform has a lock :func:`try_lock` can take."""
    if fcntl is None and msvcrt is None:
        raise NoLockingError(errno.ENOLCK,
                             "no file locking on this platform: a history cannot be written safely")


def try_lock(fd: int) -> bool:
    """Take this process's exclusive lock on the open file ``fd`` without waiting; False if another
    open file (this process's or another's) holds it. Released by :func:`unlock` or closing ``fd``."""
    if fcntl is not None:
        try:
            fcntl.flock(fd, fcntl.LOCK_EX | fcntl.LOCK_NB)
        except BlockingIOError:
            return False
        return True
    if msvcrt is not None:
        with _seek_lock:
            here = os.lseek(fd, 0, os.SEEK_CUR)
            os.lseek(fd, MSVCRT_LOCK_OFFSET, os.SEEK_SET)
            try:
                msvcrt.locking(fd, msvcrt.LK_NBLCK, 1)
            except OSError:
                return False
            finally:
                os.lseek(fd, here, os.SEEK_SET)
        return True
    require_locking()
    return False  # not reached


def unlock(fd: int) -> None:
    """Release :func:`try_lock`'s lock (errors ignored: closing the file releases it too)."""
    with contextlib.suppress(OSError):
        if fcntl is not None:
            fcntl.flock(fd, fcntl.LOCK_UN)
        elif msvcrt is not None:
            with _seek_lock:
                here = os.lseek(fd, 0, os.SEEK_CUR)
                os.lseek(fd, MSVCRT_LOCK_OFFSET, os.SEEK_SET)
                try:
                    msvcrt.locking(fd, msvcrt.LK_UNLCK, 1)
                finally:
                    os.lseek(fd, here, os.SEEK_SET)


def pread(fd: int, n: int, offset: int) -> bytes:
    """Up to ``n`` bytes of ``fd`` at ``offset`` (``os.pread``, or a seek and a read)."""
    if HAVE_PREAD:
        return os.pread(fd, n, offset)
    with _seek_lock:
        os.lseek(fd, offset, os.SEEK_SET)
        return os.read(fd, n)


def pwrite(fd: int, data: bytes | memoryview, offset: int) -> int:
    """Write (some of) ``data`` to ``fd`` at ``offset``; returns how much was written."""
    if HAVE_PREAD:
        return os.pwrite(fd, data, offset)
    with _seek_lock:
        os.lseek(fd, offset, os.SEEK_SET)
        return os.write(fd, data)


def fsync_dir(directory: str | os.PathLike) -> None:
    """Make a rename in ``directory`` durable (where directories can be opened and synced)."""
    try:
        fd = os.open(directory, os.O_RDONLY)
    except OSError:  # platforms without directory fds
        return
    try:
        os.fsync(fd)
    except OSError:
        pass
    finally:
        os.close(fd)


def link_target(path: str | os.PathLike) -> str:
    """Where writing ``path`` should go: the file a symbolic link ``path`` points to (resolved fully,
    as jupyter_server's save writes through a link), else ``path`` itself."""
    path = os.fspath(path)
    return os.path.realpath(path) if os.path.islink(path) else path


def replace_file(path: str | os.PathLike, data: bytes, *, mode: int | None = None) -> None:
    """Replace the file at ``path`` with ``data`` atomically: a temporary file beside it (never a link:
    created exclusively), written and synced, renamed over it, the directory synced.

    A ``path`` that is a symbolic link keeps being one: the file it points to is replaced (as
    jupyter_server's own save does). The new file keeps the old one's permission bits (``mode`` for a
    new file; the umask applies).
    """
    target = link_target(path)
    directory, name = os.path.split(target)
    try:
        keep: int | None = stat.S_IMODE(os.stat(target).st_mode)
    except FileNotFoundError:
        keep = None
    tmp = os.path.join(directory or ".", f".~{name}.{secrets.token_hex(4)}.tmp")
    fd = open_nofollow(tmp, os.O_WRONLY | os.O_CREAT | os.O_EXCL, 0o666 if mode is None else mode,
                       what="temporary file")
    try:
        try:
            view = memoryview(data)
            while view:
                view = view[os.write(fd, view):]
            os.fsync(fd)
            if keep is not None:
                with contextlib.suppress(OSError):
                    if hasattr(os, "fchmod"):
                        os.fchmod(fd, keep)
                    else:  # Windows: only the read-only bit means anything
                        os.chmod(tmp, keep)
        finally:
            os.close(fd)
        os.replace(tmp, target)
    except BaseException:
        with contextlib.suppress(OSError):
            os.unlink(tmp)
        raise
    fsync_dir(directory or ".")
