"""Notebook histories: where a notebook's history lives, and how it stays in step with the ``.ipynb``.

**Where.** The history of ``NAME`` (``analysis.ipynb``) lives beside it in ``.NAME.crdt``
(``.analysis.ipynb.crdt``), in the format of ``docs/file-format.md``. A dotfile is hidden by JupyterLab's
file browser (and ``ls``), travels with the folder when it is copied, zipped or synced, and is committed by
git like any other file. :func:`sidecar_path` gives the name; :func:`move_history`, :func:`copy_history` and
:func:`delete_history` keep it with its notebook when the notebook is renamed, duplicated or deleted.

**Start.** A notebook without a sidecar starts its history from the file's content: the first change is
``notebook_to_doc``'s deterministic import, by author ``import``, kind ``import``, at time 0, so two copies
of one file start with the identical change (same hash) and their histories merge.

**The file.** The ``.ipynb`` is the plain projection of the ``main`` branch. The branch ``written`` is the
version last written to (or read from) the file. :meth:`NotebookHistory.sync_from_disk` compares the file
with the history; when another tool changed it, the difference is recorded as a minimal change (author
and kind ``disk``) built on ``written``, then merged into ``main`` like any concurrent change, so edits not
yet saved are never reverted and the file's edits are never lost. The disk change is made with a client id
derived from ``written`` and the file's content, so two copies that see the same file edit record the same
structs (merging them later holds the edit once). :meth:`NotebookHistory.write_notebook` writes the file
atomically as the exact projection of ``main`` and moves ``written`` there.

**Stale or truncated histories.** When the file equals a version recorded between ``written`` and
``main`` (autosave off: the file lags on purpose, or a crash came between writing the file and noting it),
``written`` moves there and the later edits are kept. When the file holds content the history cannot
explain, because it is closer to ``main`` than to ``written`` (the file already has the unsaved edits, and
more: a sidecar restored from an older backup, or cut short), merging it three-way from ``written`` would
apply those edits twice; instead the file wins: its difference from ``main`` is recorded as the ``disk``
change, and a note says so (:attr:`NotebookHistory.notes`). See ``docs/security.md``, "Damaged histories".

**Unions.** Merging another copy's history (:meth:`NotebookHistory.merge_history`) is the union of the
changes, then the notebook merge rules (one side's outputs per cell, never both) as one deterministic
``merge`` change (see ``_union.py``).
"""

from __future__ import annotations

import contextlib
import json
import os
import secrets
import shutil
import stat
import uuid
import warnings
from collections.abc import Iterable, Iterator, Mapping
from datetime import datetime, timezone
from pathlib import Path
from typing import Any

import nbformat
from nbformat.notebooknode import NotebookNode

from crdt import Change, ChangeGrouper, Doc, History, HistoryFile, HistoryWriter, TornTail
from crdt import files as _fileio
from jupyter_crdt.history.union import (
    NoCommonHistory,
    VersionMerge,
    capture,
    derived_client_id,
    merge_versions,
    record_on,
)
from jupyter_crdt.notebook import schema as _schema
from jupyter_crdt.notebook.apply import apply_notebook
from jupyter_crdt.notebook.ipynb import read_notebook
from jupyter_crdt.notebook.load import notebook_to_doc
from jupyter_crdt.notebook.normalize import NotebookFormatError
from jupyter_crdt.notebook.values import same
from jupyter_crdt.text.diff import diff_text

__all__ = [
    "NotebookHistory",
    "NoCommonHistory",
    "VersionMerge",
    "sidecar_path",
    "notebook_path_of",
    "is_sidecar",
    "has_history",
    "start_history",
    "move_history",
    "copy_history",
    "delete_history",
    "set_aside",
    "write_history",
    "notebook_text",
    "same_content",
    "sync_notebook",
    "MAIN",
    "WRITTEN",
    "IMPORT_AUTHOR",
    "DISK_AUTHOR",
    "ORIGINS",
]

SIDECAR_PREFIX = "."
SIDECAR_SUFFIX = ".crdt"
MAIN = "main"
WRITTEN = "written"
"""Branch: the version last written to (or found in) the ``.ipynb``."""
IMPORT_AUTHOR = "import"
DISK_AUTHOR = "disk"
DISK_ORIGIN = "jupyter_crdt.disk"
EDIT_ORIGIN = "jupyter_crdt.edit"
HISTORY_ORIGIN = "jupyter_crdt.history"
ORIGINS = frozenset({HISTORY_ORIGIN, EDIT_ORIGIN})
"""Transaction origins of the updates this module applies to :attr:`NotebookHistory.doc` (already recorded:
an observer that records updates must skip these, and broadcast them)."""


# -- where histories live -------------------------------------------------------------------------------


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
        from send2trash import send2trash

        send2trash(os.fspath(sc))
        return True
    try:
        os.unlink(sc)
    except FileNotFoundError:
        return False
    return True


# -- starting a history ---------------------------------------------------------------------------------


def start_history(nb: Mapping, history: History | None = None) -> History:
    """A history whose first change is the deterministic import of ``nb`` (same notebook, same change).

    ``history`` must be empty (a new one is made without it). ``main`` and ``written`` point at the change.
    """
    history = History() if history is None else history
    if len(history):
        raise ValueError("start_history needs an empty history")
    with warnings.catch_warnings():
        warnings.simplefilter("ignore")
        doc = notebook_to_doc(nb)
    change = history.record(doc.encode_state_as_update(), IMPORT_AUTHOR, time=0.0, kind="import")
    assert change is not None
    history.set_branch(WRITTEN, change.hash)
    return history


# -- the file's content ---------------------------------------------------------------------------------

_TRANSIENT_NB = ("orig_nbformat", "orig_nbformat_minor", "signature")
_TRANSIENT_CELL = ("trusted",)


def _strip(nb: Mapping) -> Mapping:
    """``nb`` without what nbformat's writer leaves out (so comparisons see only what a file can hold)."""
    md = nb.get("metadata")
    out = dict(nb)
    if isinstance(md, Mapping) and any(k in md for k in _TRANSIENT_NB):
        out["metadata"] = {k: v for k, v in md.items() if k not in _TRANSIENT_NB}
    cells = nb.get("cells")
    if isinstance(cells, list):
        new = []
        for c in cells:
            cmd = c.get("metadata") if isinstance(c, Mapping) else None
            if isinstance(cmd, Mapping) and any(k in cmd for k in _TRANSIENT_CELL):
                c = {**c, "metadata": {k: v for k, v in cmd.items() if k not in _TRANSIENT_CELL}}
            new.append(c)
        out["cells"] = new
    return out


def same_content(a: Mapping, b: Mapping) -> bool:
    """Whether two notebooks would be written as the same file (transient fields ignored)."""
    return same(_strip(a), _strip(b))


def notebook_text(nb: Mapping) -> str:
    """The text of ``nb`` as an ``.ipynb`` file (nbformat's writer, with the final newline it adds)."""
    with warnings.catch_warnings():
        warnings.simplefilter("ignore")
        text = nbformat.writes(nbformat.from_dict(nb) if not isinstance(nb, NotebookNode) else nb)
    return text if text.endswith("\n") else text + "\n"


def _atomic_write(path: Path, data: bytes) -> None:
    """Write ``data`` to ``path`` through a temporary file renamed over it (keeps the old file's mode;
    a symlinked file stays a link, its target is replaced: see ``crdt._fileio.replace_file``)."""
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


def sync_notebook(history: History, disk: Mapping, *, main_doc: Doc | None = None,
                  time: float | None = None, notes: list[str] | None = None,
                  ) -> tuple[list[Change], VersionMerge | None]:
    """Bring ``history`` in step with ``disk``, the notebook found in its file (see the module docstring).

    When ``disk`` differs from ``main`` and from ``written``, records a ``disk`` change built on
    ``written`` (``time``: default, the newest time of ``written``'s heads, which makes the change the same
    wherever it is computed) and merges it into ``main``; ``written`` moves to the disk change. Returns
    (changes recorded, the merge or None). ``main_doc``: the document of ``main``, if at hand.
    A stale or truncated history (see the module docstring) gets the file's content recorded against
    ``main`` instead, and a note appended to ``notes``.
    """
    main = history.branch(MAIN)
    if main_doc is None:
        main_doc = history.doc_at(main)
    main_nb = _export(main_doc)
    if same_content(disk, main_nb):
        if history.branches.get(WRITTEN) != main and main:
            history.set_branch(WRITTEN, main)
        return [], None
    base = history.branches.get(WRITTEN) or main
    wins = False
    if base != main:
        written_nb = _export(history.doc_at(base))
        if same_content(disk, written_nb):
            return [], None  # unsaved edits; the file is as it was written
        between = recorded_version(history, base, main, lambda doc: same_content(disk, _export(doc)))
        if between is not None:  # written there (its branch move lost, or the file lags): edits kept
            history.set_branch(WRITTEN, between)
            return [], None
        if file_is_newer(written_nb, main_nb, disk):
            if notes is not None:
                notes.append(UNEXPLAINED_NOTE)
            base, wins = main, True  # the file wins: recorded against main, so nothing is applied twice
    client = derived_client_id("jupyter-crdt disk", [*sorted(base), _canonical(disk)])
    fork = history.doc_at(base, client_id=client)
    with warnings.catch_warnings():
        warnings.simplefilter("ignore")
        update = capture(fork, DISK_ORIGIN, apply_notebook, fork, disk)
    if update is None:
        return [], None
    if time is None:
        time = max((history.get(h).time for h in base), default=0.0)
    change = record_on(history, base, update, DISK_AUTHOR, kind="disk", time=time)
    if change is None:  # the same file edit was recorded before (in a copy merged since)
        change = next((c for c in reversed(history.changes) if c.kind == "disk" and c.update == update),
                      None)
        if change is None:
            change = record_on(history, main, _diff_update(main_doc, disk), DISK_AUTHOR, kind="disk",
                               time=time)
            if change is None:
                return [], None
    out = [change]
    history.set_branch(WRITTEN, change.hash)
    if wins:
        history.set_branch(MAIN, history.heads_of(main | {change.hash}))
        return out, None
    vm = merge_versions(history, main, (change.hash,))
    if vm.change is not None:
        out.append(vm.change)
    history.set_branch(MAIN, vm.heads)
    return out, vm


UNEXPLAINED_NOTE = (
    "the notebook file holds content its history never recorded (the history is older than the file: "
    "restored from a backup, or cut short?); the file's content was kept and recorded as a 'disk' change"
)
MAX_VERSIONS_CHECKED = 200
"""Unsaved changes compared with the file, newest first, when looking for the version it holds."""


def recorded_version(history: History, written: Iterable[str], main: Iterable[str],
                     matches: Any) -> frozenset[str] | None:
    """The newest version recorded after ``written`` and before ``main`` whose document ``matches``
    (a predicate on a :class:`crdt.Doc`), or None. Only the last :data:`MAX_VERSIONS_CHECKED` changes
    are compared (a document export each); the others are only applied."""
    new = history.log(frozenset(main), since=frozenset(written))[:-1]  # main itself was compared
    if not new:
        return None
    doc = history.doc_at(frozenset(written))
    first = max(0, len(new) - MAX_VERSIONS_CHECKED)
    heads = frozenset(written)
    found = None
    for i, c in enumerate(new):
        doc.apply_update(c.update)
        heads = history.heads_of(heads | {c.hash})
        if i >= first and matches(doc):
            found = heads
    return found


def _typed_text(content: Any) -> str:
    """What people type in ``content``: a text's characters, a notebook's cell sources (with their ids).
    Only text can be applied twice by a three-way merge (outputs and metadata follow one side)."""
    if isinstance(content, str):
        return content
    cells = content.get("cells") if isinstance(content, Mapping) else None
    parts = []
    for c in cells if isinstance(cells, list) else ():
        if isinstance(c, Mapping):
            src = c.get("source", "")
            src = src if isinstance(src, str) else "".join(x for x in src if isinstance(x, str))
            parts.append(f"\x00{c.get('id')}\x00{src}")
    return "".join(parts)


def _distance(a: str, b: str) -> int:
    return sum((i2 - i1) + (j2 - j1) for i1, i2, j1, j2 in diff_text(a, b))


def file_is_newer(written: Any, main: Any, disk: Any) -> bool:
    """Whether the file's content ``disk`` already holds the text ``main`` typed since ``written`` (and
    maybe more): then the history lost the versions in between (an older backup, a cut-short sidecar),
    and a three-way merge from ``written`` would type that text twice. Notebooks or texts.

    Measured on the typed text (:func:`_typed_text`): when ``main`` lies on the way from ``written`` to
    the file, going through it costs (almost) nothing extra: ``d(w,m) + d(m,f) - d(w,f)`` counts twice the
    unsaved text the file lacks. Another tool's edit of the written file lacks all of it (twice
    ``d(w,m)``); the file wins only when it lacks at most a quarter of it (later corrections of the
    unsaved text).
    """
    w, m, d = _typed_text(written), _typed_text(main), _typed_text(disk)
    unsaved = _distance(w, m)
    if not unsaved:
        return False
    excess = unsaved + _distance(m, d) - _distance(w, d)
    return 2 * excess <= unsaved


# -- a notebook and its history -------------------------------------------------------------------------


class NotebookHistory:
    """A notebook file, its history (opened and locked) and a live document of its ``main`` branch.

    Open with :meth:`open`; use as a context manager or call :meth:`close`. Attributes: ``path`` (the
    ``.ipynb``), ``sidecar``, ``history`` (a :class:`crdt.History`), ``writer`` (None when opened
    read-only), ``created`` (the history was started from the file by this open), ``disk_error`` (why the
    ``.ipynb`` could not be read, if it could not).
    """

    def __init__(
        self, path: Path, history: History, writer: HistoryWriter | None, *, author: str, created: bool,
        idle: float | None = None, max_bytes: int | None = None,
    ) -> None:
        self.path = path
        self.sidecar = sidecar_path(path)
        self.history = history
        self.writer = writer
        self.author = author
        self.created = created
        self.disk_error: NotebookFormatError | None = None
        self.last_merge: VersionMerge | None = None
        self.notes: list[str] = []
        """What opening found that a person should hear about (a torn tail ignored or cut off, a file
        the history could not explain): one sentence each, for stderr or a server's log."""
        self.pending: list[Change] = []
        """Changes recorded in memory only (a read-only open's ``disk`` change): the next write records
        them."""
        kw: dict[str, Any] = {}
        if idle is not None:
            kw["idle"] = idle
        if max_bytes is not None:
            kw["max_bytes"] = max_bytes
        self._grouper = ChangeGrouper(history, on_change=self._grouped, **kw)
        self._doc: Doc | None = None
        self._doc_version: frozenset[str] = frozenset()
        if writer is not None:  # accepted updates whose change was never written (a crash): group them again
            for e in writer.pending_journal:
                self._grouper.add(e.update, e.author, time=e.time, kind=e.kind, message=e.message,
                                  meta=e.meta or None, tag=e.seq)

    # -- opening ---------------------------------------------------------------------------------

    @classmethod
    def open(
        cls, path: str | os.PathLike, *, author: str = "jupyter", create: bool = True, writable: bool = True,
        durable: bool = True, session_id: str | None = None, sync: bool = True, idle: float | None = None,
        max_bytes: int | None = None,
    ) -> NotebookHistory:
        """Open the history of the notebook at ``path``.

        ``writable`` (default): lock the sidecar (``crdt.HistoryLockedError`` if another process has it),
        creating it from the file's content when there is none and ``create`` is true. Read-only: read the
        sidecar without a lock, or start an in-memory history from the file; changes stay in memory.
        ``sync``: record a change made to the ``.ipynb`` by another tool (:meth:`sync_from_disk`).
        ``session_id``: stored in a new sidecar's header (a random one by default). ``idle``/``max_bytes``:
        grouping of :meth:`record_update` (``crdt.ChangeGrouper``'s defaults otherwise).
        ``author``: the default author of changes made through this object.
        """
        path = Path(path)
        sc = sidecar_path(path)
        exists = os.path.lexists(sc)  # a link is refused by HistoryFile (UnsafeFileError), never followed
        if not exists and not path.exists():
            raise FileNotFoundError(f"no notebook at {path} (and no history at {sc})")
        if not exists and not create and writable:
            raise FileNotFoundError(f"{path} has no history ({sc} does not exist)")
        created = False
        writer = None
        tail: TornTail | None = None
        if writable:
            nb = None if exists else cls._read_content(path)  # a bad file creates no sidecar
            history, writer = HistoryFile.open(sc, create=True, durable=durable,
                                               session_id=session_id or uuid.uuid4().hex,
                                               mode=sidecar_mode(path))
            tail = writer.repaired
            try:
                if not len(history):
                    cls._start(nb if nb is not None else cls._read_content(path), history)
                    writer.append()
                    created = True
            except BaseException:
                writer.close()
                raise
        elif exists:
            history, tail = HistoryFile.load(sc)
            if not len(history):
                history = cls._start(cls._read_content(path), History())
                created = True
        else:
            history = cls._start(cls._read_content(path), History())
            created = True
        self = cls(path, history, writer, author=author, created=created, idle=idle, max_bytes=max_bytes)
        if tail is not None:
            done = "cut off" if writer is not None else "ignored (the file is not changed by reading it)"
            self.notes.append(f"{tail.describe(sc)}; {done}")
        try:
            if sync:
                self.sync_from_disk()
        except BaseException:
            self.close()
            raise
        return self

    @staticmethod
    def _read_content(path: Path) -> Any:
        """The file's content, to start a history from (a subclass for other documents overrides this)."""
        return read_notebook(path)

    @staticmethod
    def _start(content: Any, history: History) -> History:
        """Start the empty ``history`` from ``content`` (see :func:`start_history`)."""
        return start_history(content, history)

    @property
    def writable(self) -> bool:
        return self.writer is not None

    @property
    def session_id(self) -> str | None:
        """The session id in the sidecar's header (stable for the life of the history)."""
        return self.writer.session_id if self.writer is not None else None

    @property
    def main(self) -> frozenset[str]:
        return self.history.branch(MAIN)

    @property
    def written(self) -> frozenset[str] | None:
        """The version last written to the ``.ipynb`` (None if unknown)."""
        return self.history.branches.get(WRITTEN)

    @property
    def doc(self) -> Doc:
        """The live document of ``main`` (deleted content kept). Kept up to date by this object's methods."""
        if self._doc is None:
            self.flush_edits()  # buffered updates are not in main yet
            self._doc = self.history.doc_at(self.main)
            self._doc_version = self.main
        return self._doc

    def drop_doc(self) -> None:
        """Forget the live :attr:`doc` (it is rebuilt from ``main`` when next needed). For owners of a
        document of their own that records with ``apply=False`` (a server room): this one would lag."""
        self._doc = None
        self._doc_version = frozenset()

    def notebook(self, version: Iterable[str] | str | None = None) -> NotebookNode:
        """The notebook (as it is written to a file) at ``version``; default: ``main``."""
        if version is None:
            return _export(self.doc)
        return _export(self.history.doc_at(version))

    # -- keeping the document and main in step ---------------------------------------------------

    def _grouped(self, change: Change) -> None:
        if self.writer is not None and not self.writer.closed:
            seqs = [t for t in self._grouper.closed_tags if t is not None]
            if seqs:
                self.writer.cover(change, max(seqs))
        if self._doc is not None:
            self._doc_version = self.history.heads_of(self._doc_version | {change.hash})

    def _move_main(self, heads: Iterable[str]) -> None:
        self.history.set_branch(MAIN, frozenset(heads))
        self._catch_up()

    def _catch_up(self) -> None:
        """Apply to the live document the changes ``main`` gained by other means than it."""
        if self._doc is None:
            return
        main = self.main
        if main == self._doc_version:
            return
        new = self.history.log(main, since=self._doc_version)
        if new:
            with self._doc.transact(origin=HISTORY_ORIGIN):
                for c in new:
                    self._doc.apply_update(c.update)
        self._doc_version = main

    def flush_edits(self) -> Change | None:
        """Record the edits buffered by :meth:`record_update` now, as one change (None if none)."""
        return self._grouper.flush()

    # -- recording edits -------------------------------------------------------------------------

    def record_update(
        self, update: bytes, author: str | None = None, *, time: float | None = None, kind: str = "edit",
        message: str | None = None, meta: Mapping[str, Any] | None = None, apply: bool = True,
        journal: bool = True, sync: bool = True,
    ) -> list[Change]:
        """Record an accepted Yjs update (e.g. from a browser) on ``main``, grouped with its neighbours.

        Consecutive updates of one author are joined into one change (``crdt.ChangeGrouper``); returns the
        changes closed by this call. The live :attr:`doc` (if built) gets the update too, unless ``apply``
        is false because the caller applied it to :attr:`doc` already (a server room whose document *is*
        :attr:`doc`).

        With ``journal`` (the default) and a writable sidecar, the update is first appended to the
        sidecar's journal (synced when ``durable``): when this returns, the update survives a crash, and
        is grouped again on the next open if its change was never written (``sync=False``: once the
        writer's :meth:`~crdt.history_file.HistoryWriter.sync` has run). Call :meth:`poll` at
        :attr:`deadline` (or :meth:`flush_closed`) to close an idle change and write it; :meth:`flush`
        closes the open change at once.
        """
        author = author or self.author
        now = self._grouper.clock() if time is None else time
        seq = None
        if journal and self.writer is not None:
            seq = self.writer.journal(update, author, now, kind=kind, message=message,
                                      meta=dict(meta) if meta else None, sync=sync)
        if apply and self._doc is not None:
            self._doc.apply_update(update, origin=HISTORY_ORIGIN)
        return self._grouper.add(update, author, time=now, kind=kind, message=message, meta=meta, tag=seq)

    @property
    def deadline(self) -> float | None:
        """When :meth:`poll` will close the buffered change (None if nothing is buffered)."""
        return self._grouper.deadline

    def poll(self, now: float | None = None) -> Change | None:
        return self._grouper.poll(now)

    @contextlib.contextmanager
    def edit(self, author: str | None = None, *, kind: str = "edit", message: str | None = None,
             time: float | None = None) -> Iterator[_Edit]:
        """``with nh.edit("ann") as e: e.doc.get_array("cells")...``: one transaction, recorded as one change.

        ``e.change`` is the change afterwards (None if nothing changed).
        """
        self.flush_edits()
        doc = self.doc
        ups: list[bytes] = []
        handler = doc.observe_updates(lambda u, o: ups.append(u))
        e = _Edit(doc)
        try:
            with doc.transact(origin=EDIT_ORIGIN):
                yield e
        finally:  # what was done is recorded even if the block failed half-way (Yjs has no rollback)
            doc.unobserve_updates(handler)
            if ups:
                e.change = self.history.record(ups[0], author or self.author, time=time, kind=kind,
                                               message=message)
                if e.change is not None:
                    self._doc_version = self.main

    def flush_closed(self, now: float | None = None) -> int:
        """Close the open change if it has been idle (:meth:`poll`), then append the changes closed so
        far. Unlike :meth:`flush` the open change stays open: its updates are safe in the journal."""
        self.poll(now)
        return self.writer.append() if self.writer is not None else 0

    def flush(self) -> int:
        """Record buffered edits and append everything new to the sidecar (synced when ``durable``)."""
        self.flush_edits()
        return self.writer.append() if self.writer is not None else 0

    # -- the file --------------------------------------------------------------------------------

    def sync_from_disk(self) -> list[Change]:
        """Record a change another tool made to the ``.ipynb`` (see the module docstring).

        Returns the changes recorded: the ``disk`` change and, when ``main`` had edits the file did not,
        the ``merge`` change that applied the notebook rules. Empty when the file matches the history (or
        is missing). An unreadable file is left alone and noted in :attr:`disk_error`.
        """
        try:
            st = os.stat(self.path)
        except FileNotFoundError:
            return []
        self.flush_edits()
        try:
            with warnings.catch_warnings():
                warnings.simplefilter("ignore")
                disk = read_notebook(self.path)
        except NotebookFormatError as e:
            self.disk_error = e
            return []
        self.disk_error = None
        changes, vm = sync_notebook(self.history, disk, main_doc=self.doc, time=st.st_mtime, notes=self.notes)
        if vm is not None:
            self.last_merge = vm
        self._catch_up()
        if self.writer is None:
            self.pending.extend(changes)
        return changes

    def write_notebook(self, *, force: bool = False) -> bool:
        """Write the ``.ipynb`` atomically as the projection of ``main``; ``written`` moves to ``main``.

        Returns whether the file changed (an identical file is not touched). Refuses (with
        ``NotebookFormatError``) to replace a file that could not be read, unless ``force``.
        """
        self._writer()
        if self.disk_error is not None and not force:
            raise NotebookFormatError(
                f"not overwriting a file that could not be read ({self.disk_error}); fix or remove it first",
                str(self.path))
        self.flush_edits()
        data = notebook_text(_export(self.doc)).encode("utf-8")
        try:
            changed = self.path.read_bytes() != data
        except FileNotFoundError:
            changed = True
        if changed:
            _atomic_write(self.path, data)
        self.disk_error = None
        main = self.main
        if self.written != main:
            self.history.set_branch(WRITTEN, main)
        self._writer().append()
        return changed

    # -- whole-history operations ----------------------------------------------------------------

    def merge_history(self, other: History) -> VersionMerge:
        """Merge another copy's history into this one: union of the changes, then the notebook rules.

        ``main`` moves to the merged version (the ``.ipynb`` is not written: call :meth:`write_notebook`).
        Other branches are merged as :meth:`crdt.History.merge` does; ``written`` stays this file's.
        Raises :class:`NoCommonHistory` (changing nothing) when the two histories share no change.
        """
        self.flush_edits()
        history = self.history
        theirs = other.branch(MAIN)
        if not any(h in history for h in other.ancestors(theirs)) and len(other):
            raise NoCommonHistory(f"{self.path}: the other history shares no change with this one")
        mine = history.branches
        history.merge(other)
        history.set_branch(MAIN, mine[MAIN])
        if WRITTEN in mine:
            history.set_branch(WRITTEN, mine[WRITTEN])
        vm = merge_versions(history, mine[MAIN], theirs)
        self._move_main(vm.heads)
        self.last_merge = vm
        return vm

    def apply_notebook(self, nb: Mapping, author: str | None = None, *, kind: str = "edit",
                       message: str | None = None, meta: Mapping[str, Any] | None = None) -> Change | None:
        """Record the minimal change that turns ``main`` into ``nb`` (None if it already is ``nb``)."""
        self.flush_edits()
        with warnings.catch_warnings():
            warnings.simplefilter("ignore")
            update = capture(self.doc, EDIT_ORIGIN, apply_notebook, self.doc, nb)
        if update is None:
            return None
        change = self.history.record(update, author or self.author, kind=kind, message=message, meta=meta)
        self._doc_version = self.main
        return change

    def restore(self, version: Iterable[str] | str, author: str | None = None, *,
                message: str | None = None) -> Change | None:
        """Make ``main`` equal the notebook of ``version`` again, as a new ``restore`` change.

        Nothing is rewritten: the versions after ``version`` stay in the history. None if ``main``
        already equals it.
        """
        heads = self.history.heads_of(version if not isinstance(version, str) else (version,))
        target = _schema.export(self.history.doc_at(heads), keep_ids=True)
        short = ",".join(h[:12] for h in sorted(heads))
        return self.apply_notebook(target, author, kind="restore", message=message or f"restore {short}",
                                   meta={"restored": sorted(heads)})

    def replace_history(self, history: History) -> None:
        """Replace the whole history (squash, purge): the sidecar is rewritten atomically.

        The live document is rebuilt; the ``.ipynb`` is not written (call :meth:`write_notebook`).
        """
        writer = self._writer()
        self.flush_edits()
        writer.compact(history)
        self.history = history
        self._grouper = ChangeGrouper(history, on_change=self._grouped, idle=self._grouper.idle,
                                      max_bytes=self._grouper.max_bytes)
        self._doc = None

    # -- closing ---------------------------------------------------------------------------------

    def _writer(self) -> HistoryWriter:
        if self.writer is None:
            raise PermissionError(f"the history of {self.path} was opened read-only")
        return self.writer

    def close(self) -> None:
        """Record buffered edits, append them, release the sidecar's lock. Closing twice is harmless."""
        try:
            if self.writer is not None and not self.writer.closed:
                self.flush()
        finally:
            if self.writer is not None:
                self.writer.close()

    def __enter__(self) -> NotebookHistory:
        return self

    def __exit__(self, *exc: object) -> None:
        self.close()

    def __repr__(self) -> str:
        mode = "writable" if self.writable else "read-only"
        return f"<NotebookHistory {self.path} {len(self.history)} changes, {mode}>"


class _Edit:
    __slots__ = ("doc", "change")

    def __init__(self, doc: Doc) -> None:
        self.doc = doc
        self.change: Change | None = None


def _export(doc: Doc) -> NotebookNode:
    with warnings.catch_warnings():
        warnings.simplefilter("ignore")
        return _schema.export(doc)


def _canonical(nb: Mapping) -> str:
    return json.dumps(nb, sort_keys=True, ensure_ascii=False, separators=(",", ":"), default=str)


def _diff_update(doc: Doc, nb: Mapping) -> bytes:
    """The update turning (a copy of) ``doc`` into ``nb`` (made with a fresh client id)."""
    fork = Doc(gc=False)
    fork.apply_update(doc.encode_state_as_update())
    with warnings.catch_warnings():
        warnings.simplefilter("ignore")
        update = capture(fork, DISK_ORIGIN, apply_notebook, fork, nb)
    return update or b"\x00\x00"

