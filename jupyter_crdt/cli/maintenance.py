"""The commands of ``jupyter crdt`` that maintain histories: git set-up and drivers, rewriting
(``squash``, ``purge``), ``recover`` of a damaged history, and ``mv`` with the history."""

from __future__ import annotations

import argparse
import os
import subprocess
import sys
import time
from pathlib import Path

from crdt import HistoryFile, HistoryFileError, HistoryLockedError
from jupyter_crdt.cli.common import (
    EXIT_ERROR,
    EXIT_OK,
    CliError,
    author,
    confirm,
    notebooks_only,
    open_write,
    resolve_rev,
)
from jupyter_crdt.history import (
    NoCommonHistory,
    NotebookHistory,
    has_history,
    move_history,
    set_aside,
    sidecar_path,
)
from jupyter_crdt.history.git import (
    ConfigGitRefused,
    GitError,
    config_git,
    diff_driver,
    merge_driver,
    textconv_history,
)
from jupyter_crdt.history.offline import locked_message
from jupyter_crdt.history.rewrite import purge, squash
from jupyter_crdt.history.text import TextHistory, is_text_file
from jupyter_crdt.progress import Progress

COPIES_WARNING = (
    "warning: this rewrites the history in {sidecar}. Copies of this notebook elsewhere (other folders,\n"
    "other machines, git commits and branches, backups) keep their full history, including what is\n"
    "removed here; merging with one of them brings it back. Rewrite those copies too, or delete them."
)

# -- git ------------------------------------------------------------------------------------------------


def cmd_config_git(args: argparse.Namespace) -> int:
    try:
        for line in config_git(args.path, disable=args.disable):
            print(line)
    except ConfigGitRefused as e:
        raise CliError(str(e)) from None
    except GitError as e:
        raise CliError(f"{e} (run this inside a git repository)") from None
    return EXIT_OK


def cmd_git_merge_driver(args: argparse.Namespace) -> int:
    return merge_driver(args.kind, args.base, args.ours, args.theirs, args.path)


def cmd_git_diff_driver(args: argparse.Namespace) -> int:
    return diff_driver(args.args)


def cmd_git_textconv(args: argparse.Namespace) -> int:
    return textconv_history(args.file)


# -- rewriting ------------------------------------------------------------------------------------------


def cmd_squash(args: argparse.Namespace) -> int:
    notebooks_only(args.notebook, "squash")
    with open_write(args.notebook, args) as nh:
        h = nh.history
        if args.before:
            rev = resolve_rev(nh, args.before)
            version = h.heads_of(h.ancestors(rev) - rev)
            if not version:
                print(f"nothing before {args.before} to squash")
                return EXIT_OK
        else:
            version = nh.main
        new, report = squash(h, version, progress=Progress(len(h), "rewriting"))
        if new is h:
            print("nothing to squash (one change)")
            return EXIT_OK
        print(f"squash {report.rewritten} changes of {args.notebook} into one "
              f"({report.changes_before} -> {report.changes_after} changes in the history)")
        print(COPIES_WARNING.format(sidecar=nh.sidecar), file=sys.stderr)
        if not confirm(args, "Rewrite the history?"):
            return EXIT_ERROR
        nh.replace_history(new)
        nh.write_notebook()
    print("done")
    return EXIT_OK


def cmd_purge(args: argparse.Namespace) -> int:
    notebooks_only(args.notebook, "purge")
    with open_write(args.notebook, args) as nh:
        h = nh.history
        before = nh.notebook()
        new, report = purge(h, args.text, progress=Progress(len(h), "rewriting"))
        if new is h:
            print(f"{args.text!r} does not occur in the history of {args.notebook}")
            return EXIT_OK
        print(f"found {report.occurrences} occurrence(s) in {report.rewritten} change(s) of {args.notebook}")
        print(COPIES_WARNING.format(sidecar=nh.sidecar), file=sys.stderr)
        if not confirm(args, "Remove it from every version?"):
            return EXIT_ERROR
        nh.replace_history(new)
        after = nh.notebook()
        nh.write_notebook()
    if before != after:
        print("the current notebook contained it too: it was removed from the .ipynb as well")
    if report.remaining:
        print(f"warning: {report.remaining} change(s) still hold the text in a form purge cannot rewrite",
              file=sys.stderr)
        return EXIT_ERROR
    print(f"removed from every version ({report.changes_after} changes rewritten into the sidecar)")
    return EXIT_OK


# -- recover --------------------------------------------------------------------------------------------


def _damaged_copies(path: str) -> list[Path]:
    """Damaged histories of ``path`` set aside by a server (``.NAME.crdt.corrupt-<time>``), newest last."""
    sc = sidecar_path(path)
    try:
        names = os.listdir(sc.parent)
    except OSError:
        return []
    return sorted(sc.parent / n for n in names if n.startswith(f"{sc.name}.corrupt-"))


def cmd_recover(args: argparse.Namespace) -> int:
    """Bring back what a damaged history still holds (see docs/cli.md, "Damaged histories")."""
    path = args.notebook
    if not Path(path).exists():
        raise CliError(f"no file at {path}")
    sc = sidecar_path(path)
    damaged = Path(args.damaged) if args.damaged else None
    if damaged is None or damaged.resolve() == sc.resolve():
        try:  # the sidecar itself: is it damaged?
            HistoryFile.read(sc)
            if damaged is not None:
                print(f"{sc} is not damaged: nothing to recover")
                return EXIT_OK
        except FileNotFoundError:
            if damaged is not None:
                raise
        except HistoryFileError:
            damaged = set_aside(path)
            print(f"moved the damaged history {sc} aside to {damaged} (kept)", file=sys.stderr)
    if damaged is None:
        copies = _damaged_copies(path)
        if not copies:
            raise CliError(f"{path} has no damaged history (none set aside as {sc.name}.corrupt-*)")
        damaged = copies[-1]
    salvaged, damage = HistoryFile.salvage(damaged)
    if not len(salvaged):
        raise CliError(f"{damaged} holds no readable change" + (f" ({damage.reason})" if damage else ""))
    kind: type[NotebookHistory | TextHistory] = NotebookHistory
    if is_text_file(path):
        kind = TextHistory
    try:
        nh = kind.open(path, author=author(args), sync=False)
    except HistoryLockedError:
        raise CliError(f"{path} is open in a running Jupyter server: close it there (or stop the server) and "
                       "run this again") from None
    with nh:
        joined = False
        if not nh.created and isinstance(nh, NotebookHistory):  # a text's history has no notebook merge rules
            try:
                nh.merge_history(salvaged)
                joined = True
            except NoCommonHistory:
                pass
        if not joined:  # the history started since (from the file) is kept as a copy, then replaced
            if not nh.created:
                nh.flush()
                kept = sc.with_name(f"{sc.name}.replaced-{time.strftime('%Y%m%dT%H%M%S')}")
                fd = os.open(kept, os.O_WRONLY | os.O_CREAT | os.O_EXCL | getattr(os, "O_NOFOLLOW", 0),
                             os.stat(sc).st_mode & 0o666)
                with os.fdopen(fd, "wb") as f:
                    f.write(sc.read_bytes())
                print(f"kept the history started since as {kept}", file=sys.stderr)
            nh.replace_history(salvaged)
        nh.sync_from_disk()  # what the file holds now (edits made since the damage) stays
        nh.write_file() if isinstance(nh, TextHistory) else nh.write_notebook()
        for note in nh.notes:
            print(f"warning: {note}", file=sys.stderr)
    where = f"up to byte {damage.offset}; after it: {damage.reason}" if damage else "all of it"
    print(f"recovered {len(salvaged)} changes from {damaged} ({where}) into the history of {path}; "
          f"{damaged} was left in place: delete it when you no longer need it")
    return EXIT_OK


def cmd_mv(args: argparse.Namespace) -> int:
    src, dst = Path(args.source), Path(args.dest)
    if dst.is_dir():
        dst = dst / src.name
    if not src.exists():
        raise CliError(f"no notebook at {src}")
    if dst.exists():
        raise CliError(f"{dst} exists")
    if has_history(src):
        try:  # refuse while a server has it open: its room would keep writing to the old name
            NotebookHistory.open(src, create=False, sync=False).close()
        except HistoryLockedError:
            raise CliError(f"{locked_message(src)} (rename it in JupyterLab instead)") from None
    if _git_tracked(src):
        subprocess.run(["git", "mv", str(src), str(dst)], check=True)
        if _git_tracked(sidecar_path(src)):
            subprocess.run(["git", "mv", str(sidecar_path(src)), str(sidecar_path(dst))], check=True)
        else:
            move_history(src, dst)
        print(f"git mv {src} {dst} (and its history)")
        return EXIT_OK
    os.replace(src, dst)
    moved = move_history(src, dst)
    print(f"moved {src} to {dst}" + (" with its history" if moved else ""))
    return EXIT_OK


def _git_tracked(p: Path) -> bool:
    try:
        r = subprocess.run(["git", "ls-files", "--error-unmatch", p.name], cwd=p.parent or ".",
                           capture_output=True)
    except OSError:
        return False
    return r.returncode == 0

