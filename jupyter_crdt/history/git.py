"""git integration: ``jupyter crdt config-git``, the merge drivers and the diff drivers.

``config-git`` writes to the repository's ``.git/config``::

    [merge "jupyter-crdt"]            # *.ipynb
        driver = jupyter-crdt git-merge-driver notebook %O %A %B %P
    [merge "jupyter-crdt-history"]    # .*.crdt (the sidecars)
        driver = jupyter-crdt git-merge-driver history %O %A %B %P
    [diff "jupyter-crdt"]
        command = jupyter-crdt git-diff-driver
    [diff "jupyter-crdt-history"]
        textconv = jupyter-crdt git-textconv-history

The drivers name the ``jupyter-crdt`` command, found on ``PATH`` when git runs them (as nbdime's drivers
do), so rebuilding or moving the environment does not break them. Only when no ``jupyter-crdt`` is on
``PATH`` while ``config-git`` runs do they name this Python (``<python> -m jupyter_crdt.cli``), and
``config-git`` says so. It writes the marked block to ``.gitattributes`` at the top of the work tree
(commit it, so everyone who runs ``config-git`` gets the same drivers); a ``.gitattributes`` that is a
symbolic link is refused, never written through. git's built-in ``union`` driver is line-based and
cannot merge the binary sidecars; these drivers merge them as histories.

**How a notebook and its sidecar merge.** git merges the two files separately, in an order it does not
promise, so each driver computes the whole result by itself, and both compute the same one:

1. Each driver finds the other file of its pair, on both sides: the commit on each side is found among
   ``HEAD``, ``MERGE_HEAD``, ``FETCH_HEAD``, ``CHERRY_PICK_HEAD``, ``REVERT_HEAD``, ``REBASE_HEAD``, every
   branch and tag tip and the 1000 most recent commits of all refs and ``ORIG_HEAD`` (where a rebase
   picks from), as the one holding exactly this side's blob at this path; the partner file is read from
   that commit.
2. Each side's history is brought in step with its ``.ipynb`` (an edit made outside Jupyter and committed
   becomes a ``disk`` change, made deterministically, see :func:`.notebook.sync_notebook`).
3. Union of the two histories, then the notebook merge rules as one deterministic ``merge`` change
   (the ``union`` strategy of :mod:`.merge`); ``written`` is set to the merged ``main``.
4. The notebook driver writes the projection of the merged ``main``; the history driver writes the merged
   history. So after the merge the ``.ipynb`` is exactly the projection of the sidecar, and opening it
   records no ``disk`` change.

When a notebook has no sidecar on one side (or its partner cannot be found), the notebook driver merges the
plain files three-way with ``merge_notebooks`` (base ``%O``). Exit status: 0 merged cleanly, 1 true
conflicts (reported on stderr; the result is still written), 2 failure.
"""

from __future__ import annotations

import os
import shlex
import shutil
import subprocess
import sys
import tempfile
import warnings
from pathlib import Path, PurePosixPath
from typing import Any

from crdt import History, HistoryFile
from jupyter_crdt.history.document import MAIN, WRITTEN
from jupyter_crdt.history.log import summarize
from jupyter_crdt.history.merge import NoCommonHistory, VersionMerge, merge_histories
from jupyter_crdt.history.notebook import export_notebook, notebook_text, sync_notebook
from jupyter_crdt.history.sidecar import (
    atomic_write,
    is_sidecar,
    notebook_path_of,
    sidecar_path,
    write_history,
)
from jupyter_crdt.notebook import diff_notebooks, render_diff
from jupyter_crdt.notebook.ipynb import reads_notebook
from jupyter_crdt.notebook.merge import merge_notebooks

NOTEBOOK_DRIVER = "jupyter-crdt"
HISTORY_DRIVER = "jupyter-crdt-history"
ATTR_BEGIN = "# >>> jupyter-crdt: notebooks and their histories (jupyter crdt config-git) >>>"
ATTR_END = "# <<< jupyter-crdt <<<"
ATTR_LINES = [
    f"*.ipynb merge={NOTEBOOK_DRIVER} diff={NOTEBOOK_DRIVER}",
    f".*.crdt merge={HISTORY_DRIVER} diff={HISTORY_DRIVER} -text",
]
_RECENT = 1000  # recent commits searched for the other file of a pair
_SPECIAL_HEADS = ("HEAD", "MERGE_HEAD", "CHERRY_PICK_HEAD", "REVERT_HEAD", "REBASE_HEAD", "ORIG_HEAD")


class GitError(RuntimeError):
    pass


class ConfigGitRefused(GitError):
    """``config-git`` will not write where it was asked to (the message says why and what to do)."""


def _git(*args: str, cwd: str | os.PathLike | None = None, input: bytes | None = None, check: bool = True
         ) -> bytes:
    try:
        proc = subprocess.run(["git", *args], cwd=cwd, input=input, capture_output=True)
    except FileNotFoundError:
        raise GitError("git is not installed") from None
    if check and proc.returncode != 0:
        raise GitError(f"git {' '.join(args)}: {proc.stderr.decode(errors='replace').strip()}")
    return proc.stdout


COMMAND = "jupyter-crdt"  # the console script of this package (pyproject.toml, [project.scripts])


def command_prefix() -> tuple[str, str | None]:
    """How git runs this package's command line, and a note for the user when it is not ``jupyter-crdt``.

    The command name, not a path: an absolute path of this Python would break every merge once the
    environment is rebuilt or moved. Without the command on ``PATH`` git could not run it, so then (only)
    this Python is named.
    """
    if shutil.which(COMMAND):
        return COMMAND, None
    python = shlex.quote(sys.executable)
    return f"{python} -m jupyter_crdt.cli", (
        f"note: {COMMAND} is not on PATH, so the drivers run {python} directly; "
        f"run config-git again if this environment is rebuilt or moved")


# -- config-git -----------------------------------------------------------------------------------------


def config_git(where: str | os.PathLike | None = None, *, disable: bool = False) -> list[str]:
    """Set up (or with ``disable`` remove) the drivers in the repository containing ``where``.

    Returns what was done, as lines for the user.
    """
    top = Path(_git("rev-parse", "--show-toplevel", cwd=where).decode().strip())
    attrs = top / ".gitattributes"
    # Refused before anything is written: the file is shared through the repository, and writing through
    # a link would change a file elsewhere (or, replaced, silently turn the link into a file).
    if attrs.is_symlink():
        raise ConfigGitRefused(f"{attrs} is a symbolic link; not writing through it (replace it by a "
                               f"file, or add the lines of `jupyter crdt config-git` to its target yourself)")
    if attrs.exists() and not attrs.is_file():
        raise ConfigGitRefused(f"{attrs} is not a regular file; not writing it")
    prefix, note = command_prefix()
    settings = {
        f"merge.{NOTEBOOK_DRIVER}.name": "jupyter-crdt notebook merge (histories, or three-way)",
        f"merge.{NOTEBOOK_DRIVER}.driver": f"{prefix} git-merge-driver notebook %O %A %B %P",
        f"merge.{HISTORY_DRIVER}.name": "jupyter-crdt history merge (union of changes)",
        f"merge.{HISTORY_DRIVER}.driver": f"{prefix} git-merge-driver history %O %A %B %P",
        f"diff.{NOTEBOOK_DRIVER}.command": f"{prefix} git-diff-driver",
        f"diff.{HISTORY_DRIVER}.textconv": f"{prefix} git-textconv-history",
    }
    done = []
    if disable:
        for section in (f"merge.{NOTEBOOK_DRIVER}", f"merge.{HISTORY_DRIVER}", f"diff.{NOTEBOOK_DRIVER}",
                        f"diff.{HISTORY_DRIVER}"):
            _git("config", "--local", "--remove-section", section, cwd=top, check=False)
        done.append(f"removed the jupyter-crdt drivers from {top / '.git' / 'config'}")
    else:
        for key, value in settings.items():
            _git("config", "--local", key, value, cwd=top)
        done.append(f"set merge and diff drivers in {top / '.git' / 'config'} (running {prefix})")
        if note:
            done.append(note)
    old = attrs.read_text() if attrs.exists() else ""
    new = _without_block(old)
    if not disable:
        if new and not new.endswith("\n"):
            new += "\n"
        new += "\n".join([ATTR_BEGIN, *ATTR_LINES, ATTR_END]) + "\n"
    if new != old:
        atomic_write(attrs, new.encode())
        done.append(f"{'updated' if not disable else 'cleaned'} {attrs} (commit it to share the setup)")
    return done


def _without_block(text: str) -> str:
    lines = text.splitlines(keepends=True)
    out, skipping = [], False
    for line in lines:
        s = line.strip()
        if s == ATTR_BEGIN:
            skipping = True
            continue
        if skipping and s == ATTR_END:
            skipping = False
            continue
        if not skipping:
            out.append(line)
    return "".join(out)


# -- finding the other file of a pair -------------------------------------------------------------------


def _candidates() -> list[str]:
    revs = list(_SPECIAL_HEADS)
    try:
        fetch_head = Path(_git("rev-parse", "--git-path", "FETCH_HEAD").decode().strip())
        if fetch_head.exists():
            revs += [line.split()[0] for line in fetch_head.read_text().splitlines() if line.strip()]
    except (GitError, OSError):
        pass
    try:  # branch and tag tips, and recent commits of every ref (a rebase or cherry-pick picks those)
        refs = _git("for-each-ref", "--format=%(objectname)", "refs/heads", "refs/remotes", "refs/tags")
        revs += refs.decode().split()[:5000]
        extra = ["ORIG_HEAD"] if _git("rev-parse", "--verify", "-q", "ORIG_HEAD", check=False).strip() else []
        recent = _git("rev-list", f"--max-count={_RECENT}", "--all", *extra, check=False)
        revs += recent.decode().split()
    except GitError:
        pass
    seen: dict[str, None] = {}
    for r in revs:
        seen.setdefault(r, None)
    return list(seen)


def _blob_oid(data: bytes) -> str:
    return _git("hash-object", "--no-filters", "--stdin", input=data).decode().strip()


def find_partner(path: str, data: bytes, partner: str) -> bytes | None:
    """The content of ``partner`` in the commit whose ``path`` holds exactly ``data`` (None if none)."""
    try:
        oid = _blob_oid(data)
        revs = _candidates()
        query = "".join(f"{r}:{path}\n" for r in revs).encode()
        answers = _git("cat-file", "--batch-check", input=query).decode().splitlines()
    except GitError:
        return None
    for rev, answer in zip(revs, answers, strict=False):
        if answer.split(" ", 1)[0] != oid:
            continue
        try:
            return _git("cat-file", "blob", f"{rev}:{partner}")
        except GitError:
            return None  # this side has the notebook but no sidecar
    return None


# -- merging --------------------------------------------------------------------------------------------


def _history_from(data: bytes) -> History:
    with tempfile.TemporaryDirectory() as d:
        p = Path(d) / "history.crdt"
        p.write_bytes(data)
        return HistoryFile.read(p)


def _notebook_from(data: bytes, name: str) -> Any:
    with warnings.catch_warnings():
        warnings.simplefilter("ignore")
        return reads_notebook(data, name=name)


def merge_pair(nb_ours: bytes | None, hist_ours: bytes, nb_theirs: bytes | None, hist_theirs: bytes
               ) -> tuple[History, VersionMerge]:
    """Merge two (notebook, history) pairs as both drivers do: (merged history, VersionMerge).

    Each history is brought in step with its notebook, then merged by the union strategy
    (:func:`~jupyter_crdt.history.merge.merge_histories`); ``written`` is the merged ``main`` (what the
    notebook driver writes). Raises :class:`NoCommonHistory` when the two share no change."""
    ours, theirs = _history_from(hist_ours), _history_from(hist_theirs)
    for h, nb, name in ((ours, nb_ours, "ours"), (theirs, nb_theirs, "theirs")):
        if nb is not None:
            sync_notebook(h, _notebook_from(nb, name))
    vm = merge_histories(ours, theirs)
    ours.set_branch(WRITTEN, vm.heads)
    return ours, vm


def _trace(message: str) -> None:
    """Say which way a merge went, when ``JUPYTER_CRDT_GIT_TRACE`` is set (for debugging a setup)."""
    if os.environ.get("JUPYTER_CRDT_GIT_TRACE"):
        print(f"jupyter-crdt: {message}", file=sys.stderr)


def _report(vm_or_report: Any, label: str) -> None:
    conflicts = getattr(vm_or_report, "conflicts", [])
    for c in conflicts:
        text = c if isinstance(c, str) else f"{c.kind}: {c.detail}"
        print(f"jupyter-crdt: {label}: conflict: {text}", file=sys.stderr)


def merge_driver(kind: str, base: str, ours: str, theirs: str, path: str) -> int:
    """git's merge driver for ``kind`` ``notebook`` or ``history``; the result goes to ``ours``."""
    rel = PurePosixPath(path)
    try:
        if kind == "notebook":
            return _merge_notebook(Path(base), Path(ours), Path(theirs), rel)
        if kind == "history":
            return _merge_history(Path(ours), Path(theirs), rel)
    except Exception as e:  # a failed driver must say why; git then reports a conflict
        print(f"jupyter-crdt: merging {path} failed: {type(e).__name__}: {e}", file=sys.stderr)
        return 2
    print(f"jupyter-crdt: unknown merge driver kind {kind!r}", file=sys.stderr)
    return 2


def _merge_notebook(base: Path, ours: Path, theirs: Path, rel: PurePosixPath) -> int:
    a, b = ours.read_bytes(), theirs.read_bytes()
    side = str(PurePosixPath(sidecar_path(rel)))
    ha, hb = find_partner(str(rel), a, side), find_partner(str(rel), b, side)
    if ha is not None and hb is not None:
        try:
            merged, vm = merge_pair(a, ha, b, hb)
        except NoCommonHistory:
            pass
        else:
            ours.write_bytes(notebook_text(export_notebook(merged.doc_at(merged.branch(MAIN)))).encode())
            _trace(f"{rel}: merged through the histories of both sides")
            _report(vm, str(rel))
            return 0 if vm.clean else 1
    empty = b'{"cells": [], "metadata": {}, "nbformat": 4, "nbformat_minor": 5}'
    o = base.read_bytes() if base.exists() and base.stat().st_size else empty
    with warnings.catch_warnings():
        warnings.simplefilter("ignore")
        merged_nb, report = merge_notebooks(_notebook_from(o, "base"), _notebook_from(a, "ours"),
                                            _notebook_from(b, "theirs"))
    ours.write_bytes(notebook_text(merged_nb).encode())
    _trace(f"{rel}: merged the files three-way (no history on both sides)")
    _report(report, str(rel))
    return 0 if report.clean else 1


def _merge_history(ours: Path, theirs: Path, rel: PurePosixPath) -> int:
    a, b = ours.read_bytes(), theirs.read_bytes()
    nb_rel = str(PurePosixPath(notebook_path_of(rel))) if is_sidecar(rel) else None
    na = find_partner(str(rel), a, nb_rel) if nb_rel else None
    nb = find_partner(str(rel), b, nb_rel) if nb_rel else None
    try:
        merged, vm = merge_pair(na, a, nb, b)
    except NoCommonHistory:
        print(f"jupyter-crdt: {rel}: the two histories share no change; kept ours", file=sys.stderr)
        return 1
    session = HistoryFile.read_header(ours).get("session_id")
    write_history(merged, ours, session_id=session)
    found = "both notebooks" if na is not None and nb is not None else "not both notebooks"
    _trace(f"{rel}: merged the histories (union; found {found})")
    _report(vm, str(rel))
    return 0 if vm.clean else 1


# -- diffs ----------------------------------------------------------------------------------------------


def diff_driver(args: list[str]) -> int:
    """git's external diff (``diff.<driver>.command``): ``path old-file old-hex old-mode new-file ...``."""
    if len(args) < 7:
        print("jupyter-crdt git-diff-driver: expected git's 7 arguments", file=sys.stderr)
        return 2
    path, old, _, _, new, _, _ = args[:7]
    empty = {"cells": [], "metadata": {}, "nbformat": 4, "nbformat_minor": 5}

    def load(p: str) -> Any:
        if p == "/dev/null" or not os.path.exists(p):
            return empty
        try:
            return _notebook_from(Path(p).read_bytes(), path)
        except Exception:
            return None

    a, b = load(old), load(new)
    if a is None or b is None:
        subprocess.run(["git", "diff", "--no-index", "--no-ext-diff", old, new])
        return 0
    color = sys.stdout.isatty() or os.environ.get("GIT_PAGER_IN_USE") == "true"
    sys.stdout.write(render_diff(diff_notebooks(a, b), color=color, a_label=f"a/{path}", b_label=f"b/{path}"))
    return 0


def textconv_history(path: str) -> int:
    """A sidecar as text, one line per change (git diffs these lines)."""
    try:
        history = HistoryFile.read(path)
    except Exception as e:
        print(f"(unreadable history: {e})")
        return 0
    for s in summarize(history):
        c = s.change
        flag = " (bookkeeping)" if s.bookkeeping_only else ""
        print(f"{c.short} {c.author} {c.kind} t={c.time:.0f}{flag}: {s.text()}")
    for name, heads in sorted(history.branches.items()):
        print(f"branch {name}: {' '.join(h[:12] for h in sorted(heads))}")
    return 0
