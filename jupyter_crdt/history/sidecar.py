"""Where histories live: the sidecar files beside their documents, and the file operations on them.

The history of ``NAME`` (``analysis.ipynb``, or any text file) lives beside it in ``.NAME.crdt``
(``.analysis.ipynb.crdt``), in the format of ``docs/file-format.md``. A dotfile is hidden by JupyterLab's
file browser (and ``ls``), travels with the folder when it is copied, zipped or synced, and is committed by
git like any other file. :func:`sidecar_path` gives the name; :func:`move_history`, :func:`copy_history` and
:func:`delete_history` keep it with its file when the file is renamed, duplicated or deleted;
:func:`set_aside` keeps a damaged one under another name; :func:`write_history` writes a whole history;
:func:`open_sidecar` opens one (locked, when it is to be written).

Every write is link-safe and atomic (``crdt.files``): a sidecar that is a symbolic link is refused, never
followed, and a history is never more readable than its file (:func:`sidecar_mode`).
"""

from __future__ import annotations

import contextlib
import os
import secrets
import shutil
import stat
import uuid
from collections.abc import Callable
from datetime import datetime, timezone
from pathlib import Path
from typing import Any

from crdt import History, HistoryFile, HistoryWriter, TornTail
from crdt import files as _fileio

__all__ = [
    "sidecar_path",
    "notebook_path_of",
    "is_sidecar",
    "has_history",
    "sidecar_mode",
    "open_sidecar",
    "move_history",
    "copy_history",
    "delete_history",
    "set_aside",
    "write_history",
    "atomic_write",
]

SIDECAR_PREFIX = "."
SIDECAR_SUFFIX = ".crdt"


def sidecar_path(notebook: str | os.PathLike) -> Path:
    """The history file of ``notebook``: ``dir/.NAME.crdt`` for ``dir/NAME``."""
    p = Path(notebook)
    return p.with_name(f"{SIDECAR_PREFIX}{p.name}{SIDECAR_SUFFIX}")


def is_sidecar(path: str | os.PathLike) -> bool:
    """Whether ``path`` is named like a history sidecar (``.NAME.crdt``)."""
    name = Path(path).name
    return name.startswith(SIDECAR_PREFIX) and name.endswith(SIDECAR_SUFFIX) and len(name) > 6


def notebook_path_of(sidecar: str | os.PathLike) -> Path:
    """The notebook a sidecar belongs to (the inverse of :func:`sidecar_path`)."""
    p = Path(sidecar)
    if not is_sidecar(p):
        raise ValueError(f"{p} is not named like a history sidecar (.NAME{SIDECAR_SUFFIX})")
    return p.with_name(p.name[len(SIDECAR_PREFIX) : -len(SIDECAR_SUFFIX)])


def has_history(notebook: str | os.PathLike) -> bool:
    """Whether ``notebook`` has a sidecar (a link named like one counts: it is refused when opened)."""
    return os.path.lexists(sidecar_path(notebook))


def sidecar_mode(notebook: str | os.PathLike) -> int | None:
    """The permission bits a history of ``notebook`` may have: the file's read and write bits (a sidecar
    holds everything the file ever held, so it is never more readable than the file); None if the file
    does not exist."""
    try:
        return stat.S_IMODE(os.stat(notebook).st_mode) & 0o666
    except OSError:
        return None


def open_sidecar(
    path: Path, *, kind: str, writable: bool, create: bool, durable: bool, session_id: str | None,
    read_content: Callable[[Path], Any], start: Callable[[Any, History], History],
) -> tuple[History, HistoryWriter | None, TornTail | None, bool]:
    """Open the history of the file at ``path`` (a ``kind``, in messages): (history, writer or None, torn
    tail found or None, whether the history was started here from the file's content).

    ``writable``: lock the sidecar (``crdt.HistoryLockedError`` if another process has it), creating it
    (``create``; ``FileNotFoundError`` otherwise) with ``start(read_content(path), history)`` when it holds
    nothing. Read-only: read the sidecar without a lock, or start an in-memory history from the file.
    """
    sc = sidecar_path(path)
    exists = os.path.lexists(sc)  # a link is refused by HistoryFile (UnsafeFileError), never followed
    if not exists and not path.exists():
        raise FileNotFoundError(f"no {kind} at {path} (and no history at {sc})")
    if not exists and not create and writable:
        raise FileNotFoundError(f"{path} has no history ({sc} does not exist)")
    created = False
    writer = None
    tail: TornTail | None = None
    if writable:
        content = None if exists else read_content(path)  # a bad file creates no sidecar
        history, writer = HistoryFile.open(sc, create=True, durable=durable,
                                           session_id=session_id or uuid.uuid4().hex, mode=sidecar_mode(path))
        tail = writer.repaired
        try:
            if not len(history):
                start(content if content is not None else read_content(path), history)
                writer.append()
                created = True
        except BaseException:
            writer.close()
            raise
    elif exists:
        history, tail = HistoryFile.load(sc)
        if not len(history):
            history = start(read_content(path), History())
            created = True
    else:
        history = start(read_content(path), History())
        created = True
    return history, writer, tail, created


def move_history(old: str | os.PathLike, new: str | os.PathLike) -> bool:
    """Move the history of notebook ``old`` to notebook ``new`` (call after or before moving the notebook).

    Returns False when ``old`` has no history. An existing history of ``new`` (left behind by a notebook
    deleted outside Jupyter) is replaced. Close any :class:`NotebookHistory` of ``old`` first.
    """
    src, dst = sidecar_path(old), sidecar_path(new)
    if not src.exists():
        return False
    dst.parent.mkdir(parents=True, exist_ok=True)
    os.replace(src, dst)
    _fsync_dir(dst.parent)
    if src.parent != dst.parent:
        _fsync_dir(src.parent)
    return True


def copy_history(old: str | os.PathLike, new: str | os.PathLike) -> bool:
    """Give notebook ``new`` (a copy of ``old``) a copy of ``old``'s history. False if ``old`` has none.

    The two histories then grow apart and can be merged again later. The copy gets a session id of its
    own: two files never share one (a client holding the original's document must not take the copy's
    room for the same document). The original is read under no lock: a reader sees whole records (a
    half-written last one is a torn tail, cut off when the copy is opened to set its session id).
    """
    src, dst = sidecar_path(old), sidecar_path(new)
    if not os.path.lexists(src):
        return False
    tmp = dst.with_name(f"{dst.name}.{secrets.token_hex(4)}.tmp")
    mode = sidecar_mode(new)
    try:
        _copy_nofollow(src, tmp, 0o600 if mode is None else mode)
        _, writer = HistoryFile.open(tmp, create=False, mode=mode)
        try:
            writer.set_session_id(uuid.uuid4().hex)  # rewrites the copy (synced) under its own lock
        finally:
            writer.close()
        os.replace(tmp, dst)
    except BaseException:
        with contextlib.suppress(OSError):
            os.unlink(tmp)
        raise
    _fsync_dir(dst.parent)
    return True


def _copy_nofollow(src: Path, dst: Path, mode: int) -> None:
    """Copy the history file ``src`` to the new file ``dst``; neither is ever a link."""
    fd_in = _fileio.open_nofollow(src, os.O_RDONLY)
    with os.fdopen(fd_in, "rb") as fin:
        fd_out = _fileio.open_nofollow(dst, os.O_WRONLY | os.O_CREAT | os.O_EXCL, mode)
        with os.fdopen(fd_out, "wb") as fout:
            shutil.copyfileobj(fin, fout)


def set_aside(notebook: str | os.PathLike, why: str = "corrupt") -> Path:
    """Rename the history of ``notebook`` to ``.NAME.crdt.WHY-<UTC time>`` beside it (a damaged one, so
    the notebook can start a new history without losing the old one); returns the new path.

    Never deletes or overwrites anything, and renames a symbolic link itself, never its target.
    """
    src = sidecar_path(notebook)
    stamp = datetime.now(timezone.utc).strftime("%Y%m%dT%H%M%SZ")
    for n in range(100):
        dst = src.with_name(f"{src.name}.{why}-{stamp}" + (f"-{n}" if n else ""))
        try:
            os.link(src, dst, follow_symlinks=False)  # fails if dst exists: nothing is overwritten
        except FileExistsError:
            continue
        except OSError:  # no hard links here: rename, having checked that nothing is in the way
            if os.path.lexists(dst):
                continue
            os.rename(src, dst)
        else:
            os.unlink(src)
        _fsync_dir(src.parent)
        return dst
    raise FileExistsError(f"could not find a free name to set {src} aside")


def delete_history(notebook: str | os.PathLike, *, to_trash: bool = False) -> bool:
    """Delete the history of ``notebook`` (when the notebook itself is deleted). False if it had none.

    ``to_trash``: move it to the trash (``send2trash``, as jupyter_server's ``delete_to_trash`` does with
    the notebook) instead; if that fails, the ``OSError`` is raised and the history is kept. A sidecar
    that is a link is only unlinked (the link, never what it points to).
    """
    sc = sidecar_path(notebook)
    if to_trash and os.path.lexists(sc) and not os.path.islink(sc):
        # Only a server trashes histories (send2trash comes with jupyter_server): a kernel's magics,
        # which import this module, never load it.
        from send2trash import send2trash

        send2trash(os.fspath(sc))
        return True
    try:
        os.unlink(sc)
    except FileNotFoundError:
        return False
    return True


def atomic_write(path: Path, data: bytes) -> None:
    """Write ``data`` to ``path`` through a temporary file renamed over it (keeps the old file's mode;
    a symlinked file stays a link, its target is replaced: see ``crdt.files.replace_file``)."""
    _fileio.replace_file(path, data)


def _fsync_dir(d: Path) -> None:
    _fileio.fsync_dir(d)


def write_history(history: History, sidecar: str | os.PathLike, *, session_id: str | None = None) -> None:
    """Write ``history`` as a new history file at ``sidecar`` (replacing what is there, atomically)."""
    sidecar = Path(sidecar)
    tmp = sidecar.with_name(f"{sidecar.name}.{secrets.token_hex(4)}.new")
    mode = sidecar_mode(notebook_path_of(sidecar)) if is_sidecar(sidecar) else None
    try:
        _, writer = HistoryFile.open(tmp, session_id=session_id or uuid.uuid4().hex, mode=mode)
        try:
            writer.compact(history)
        finally:
            writer.close()
        os.replace(tmp, sidecar)
    except BaseException:
        with contextlib.suppress(OSError):
            os.unlink(tmp)
        raise
    _fsync_dir(sidecar.parent)
