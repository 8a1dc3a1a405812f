"""Changing a notebook and its history from outside a server: restoring a version, merging a copy in.

What ``jupyter crdt restore`` / ``merge`` and the ``%crdt`` magics (in a kernel without a server) both run;
the shells only parse, print and, when a server has the history open (:class:`crdt.HistoryLockedError`),
send the change through it instead (:func:`restore_seq` says which change of the server's log a restore
names). Each function opens the history for writing, so raises ``HistoryLockedError`` when another
process holds it, and writes the notebook file and its sidecar before it returns.
"""

from __future__ import annotations

import getpass
import os
import subprocess
import warnings
from collections.abc import Iterable, Sequence
from dataclasses import dataclass
from pathlib import Path

from crdt import Change
from jupyter_crdt.history.document import WRITTEN
from jupyter_crdt.history.merge import MergeResult, NoMergeBase, merge
from jupyter_crdt.history.notebook import NotebookHistory, notebook_text
from jupyter_crdt.history.sidecar import has_history, sidecar_path, write_history
from jupyter_crdt.history.versions import resolve
from jupyter_crdt.notebook.ipynb import read_notebook

__all__ = ["Restored", "default_author", "locked_message", "merge_file", "restore_file", "restore_seq",
           "short"]


def default_author() -> str:
    """Who makes a change when nobody says: ``$JUPYTER_CRDT_AUTHOR``, else git's ``user.name``, else the
    login name."""
    env = os.environ.get("JUPYTER_CRDT_AUTHOR")
    if env:
        return env
    try:
        name = subprocess.run(["git", "config", "user.name"], capture_output=True, text=True,
                              timeout=5).stdout
        if name.strip():
            return name.strip()
    except (OSError, subprocess.SubprocessError):
        pass
    try:
        return getpass.getuser()
    except Exception:  # pragma: no cover - no login name (a container without a passwd entry)
        return "user"


def locked_message(path: str | os.PathLike) -> str:
    """What to tell a user whose change cannot be made because the history of ``path`` is in use."""
    return (f"the history of {path} is open in a running Jupyter server (or another jupyter crdt command); "
            "make this change in JupyterLab, or stop the server and try again")


def short(version: Iterable[str] | None) -> str:
    """A version (a set of change hashes) as its users see it: 12-digit prefixes, comma-separated."""
    return ",".join(h[:12] for h in sorted(version or ()))


@dataclass(frozen=True)
class Restored:
    """What :func:`restore_file` did: the ``version`` restored and the new ``change`` (None: already it)."""

    version: frozenset[str]
    change: Change | None


def restore_file(path: str | os.PathLike, rev: str | frozenset[str] | None, *, author: str,
                 message: str | None = None) -> Restored:
    """Make the notebook at ``path`` what it was at ``rev`` (a REV of :func:`~jupyter_crdt.history.versions.
    resolve`, or a version), as a new change of ``author``; written to the file and its history."""
    with NotebookHistory.open(path, author=author) as nh:
        version = rev if isinstance(rev, frozenset) else resolve(nh.history, rev)
        change = nh.restore(version, message=message)
        nh.write_notebook()
    return Restored(version, change)


def restore_seq(wanted: frozenset[str] | set[str], server_ids: Sequence[str | None], local: Sequence[str]
                ) -> int | None:
    """The number (from 1) of the change in a server's log after which its notebook is the version whose
    changes are ``wanted`` (the version and its ancestors), or None when no prefix of the log is exactly
    those changes (changes made concurrently come after it there).

    ``server_ids``: the change hashes of the server's log, oldest first; a server that does not name its
    changes (a None among them) writes the history ``local`` lists, in that order."""
    ids: Sequence[str | None] = server_ids
    if not ids or None in ids:
        ids = local
    seen: set[str | None] = set()
    for i, h in enumerate(ids):
        seen.add(h)
        if wanted <= seen:
            return i + 1 if seen == wanted else None
    return None


def merge_file(notebook: str | os.PathLike, other: str | os.PathLike, *, author: str,
               base: str | os.PathLike | None = None, output: str | os.PathLike | None = None) -> MergeResult:
    """Merge the copy ``other`` (a notebook, with or without a history) into ``notebook``, in place or into
    ``output`` (the result and its history; ``notebook`` is then only read).

    Raises :class:`NoMergeBase` (saying what to do) when neither has a history and no ``base`` (the common
    ancestor, which forces a three-way merge of the files) is given."""
    if base is None and not has_history(notebook) and not has_history(other):
        raise NoMergeBase(f"neither {notebook} nor {other} has a history: give the common ancestor with "
                          "--base BASE.ipynb")
    target = Path(output) if output is not None else None
    in_place = target is None or target.resolve() == Path(notebook).resolve()
    nh = NotebookHistory.open(notebook, author=author) if in_place else NotebookHistory.open(notebook,
                                                                                             writable=False)
    their_history = None
    try:
        if has_history(other):
            their_history = NotebookHistory.open(other, writable=False)
        with warnings.catch_warnings():
            warnings.simplefilter("ignore")  # nbformat's warnings on an old or odd file: it is still read
            theirs = read_notebook(other)
            base_nb = read_notebook(base) if base is not None else None
        try:
            result = merge(nh, theirs, their_history.history if their_history is not None else None,
                                base=base_nb, label=str(other))
        except NoMergeBase:
            raise NoMergeBase(f"neither {notebook} nor {other} has a history: give the common ancestor with "
                              "--base BASE.ipynb") from None
        if in_place:
            nh.write_notebook()
        else:
            assert target is not None
            nh.history.set_branch(WRITTEN, nh.main)
            write_history(nh.history, sidecar_path(target))
            target.write_text(notebook_text(nh.notebook()), encoding="utf-8")
        return result
    finally:
        nh.close()
        if their_history is not None:
            their_history.close()
