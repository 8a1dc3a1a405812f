"""``jupyter crdt``: notebook histories on the command line (documented in ``docs/cli.md``).

Installed as the console script ``jupyter-crdt``, so ``jupyter crdt COMMAND ...`` works (Jupyter runs
``jupyter-<subcommand>``); ``python -m jupyter_crdt.cli`` is the same. Every command has ``--help``.

Exit status: 0 success (and a clean merge), 1 a merge with true conflicts, 2 an error.
"""

from __future__ import annotations

import argparse
import getpass
import json
import os
import subprocess
import sys
import time
import warnings
from collections.abc import Sequence
from pathlib import Path
from typing import TYPE_CHECKING, Any

from crdt import DecodeError, HistoryFileError, HistoryLockedError, MissingDependencyError, UnsafeFileError
from jupyter_crdt import __version__
from jupyter_crdt.history.sidecar import (
    MAIN,
    NoCommonHistory,
    NotebookHistory,
    has_history,
    is_sidecar,
    move_history,
    notebook_path_of,
    notebook_text,
    sidecar_path,
    write_history,
)
from jupyter_crdt.history.versions import RevisionError, resolve
from jupyter_crdt.notebook.normalize import NotebookFormatError
from jupyter_crdt.progress import Progress

if TYPE_CHECKING:
    from jupyter_crdt.client.server import LiveServer

EXIT_OK, EXIT_CONFLICT, EXIT_ERROR = 0, 1, 2
COPIES_WARNING = (
    "warning: this rewrites the history in {sidecar}. Copies of this notebook elsewhere (other folders,\n"
    "other machines, git commits and branches, backups) keep their full history, including what is\n"
    "removed here; merging with one of them brings it back. Rewrite those copies too, or delete them."
)


class CliError(Exception):
    """An error to report in one line (exit status 2)."""


# -- going through the server ---------------------------------------------------------------------------


def _running_server_for(path: str | os.PathLike) -> LiveServer | None:
    """The running Jupyter server (with ``jupyter_crdt``) that has ``path``'s history open, if any.

    Looked for when a write command finds the sidecar locked (see ``_live_server.py``): ``restore`` and
    ``merge`` then go through that server's REST API, so the change reaches every client of the live
    notebook and its history. Reading commands read the sidecar without the lock instead (journal
    records included, so they show every edit the server acknowledged).
    """
    from jupyter_crdt.client.server import find_server

    return find_server(path, sidecar_path(path))


# -- helpers --------------------------------------------------------------------------------------------


def _author(args: argparse.Namespace) -> str:
    if getattr(args, "author", None):
        return args.author
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
    except Exception:  # pragma: no cover
        return "user"


def _locked_message(path: str | os.PathLike) -> str:
    return (f"the history of {path} is open in a running Jupyter server (or another jupyter crdt command); "
            "make this change in JupyterLab, or stop the server and try again")


def _is_text(path: str | os.PathLike) -> bool:
    from jupyter_crdt.history.text import is_text_file

    return is_text_file(path)


def _open_read(path: str) -> NotebookHistory:
    """The history for a reading command, read without writing anything (a git checkout stays clean).

    No lock is taken and the sidecar is never changed: a torn tail is ignored (and reported), and an
    edit made to the file outside Jupyter is recorded in memory only, shown as a pending ``disk`` change
    (the next command or server that writes the history records it). A text file's is a
    ``TextHistory`` (an old ``.crdtlog`` is converted first, when the sidecar is free: the one
    exception, a one-time change of format)."""
    kind: Any = NotebookHistory
    if _is_text(path):
        from jupyter_crdt.history.text import TextHistory

        kind = TextHistory
        _convert_old_log(path)
    nh = kind.open(path, writable=False)
    _report_notes(nh)
    return nh


def _report_notes(nh: NotebookHistory) -> None:
    """What opening the history found (a torn tail, a file the history could not explain), on stderr."""
    for note in nh.notes:
        print(f"warning: {note}", file=sys.stderr)
    for c in nh.pending:
        print(f"note: {nh.path} was changed outside Jupyter; shown as pending change {c.short} "
              f"({c.kind}), recorded when the history is next written", file=sys.stderr)


def _convert_old_log(path: str) -> None:
    from jupyter_crdt.history.text import convert_log

    try:
        convert_log(path)
    except HistoryLockedError:
        pass  # a server (of an earlier version) is writing the old log; it converts it when it reopens it


def _notebooks_only(path: str, command: str) -> None:
    if _is_text(path):
        raise CliError(f"{command} works on notebooks; for a text file's history use log and show")


def _open_write(path: str, args: argparse.Namespace) -> NotebookHistory:
    try:
        return NotebookHistory.open(path, author=_author(args))
    except HistoryLockedError:
        raise CliError(_locked_message(path)) from None


def _open_write_or_server(path: str, args: argparse.Namespace) -> NotebookHistory | LiveServer:
    """The history, opened for writing; or, when a running server has it open, that server."""
    try:
        return NotebookHistory.open(path, author=_author(args))
    except HistoryLockedError:
        server = _running_server_for(path)
        if server is None:
            raise CliError(_locked_message(path)) from None
        print(f"note: {path} is open in the Jupyter server at {server.url}: the change goes through it",
              file=sys.stderr)
        return server


def _call(server: LiveServer, method: str, endpoint: str, body: Any = None) -> Any:
    from jupyter_crdt.client.server import LiveServerError

    try:
        return server.call(method, endpoint, body)
    except LiveServerError as e:
        raise CliError(str(e)) from None


def _when(t: float) -> str:
    if t <= 0:
        return "(file import)      "
    return time.strftime("%Y-%m-%d %H:%M:%S", time.localtime(t))


def _tty(stream: Any = None) -> bool:
    stream = stream or sys.stdout
    return bool(getattr(stream, "isatty", None) and stream.isatty()) and not os.environ.get("NO_COLOR")


def _yellow(s: str, on: bool) -> str:
    return f"\x1b[33m{s}\x1b[0m" if on else s


def _version(nh: NotebookHistory, rev: str | None) -> frozenset[str]:
    return resolve(nh.history, rev)


def _confirm(args: argparse.Namespace, question: str) -> bool:
    if args.yes:
        return True
    if not sys.stdin.isatty():
        print("not confirmed: pass --yes to run this without a terminal", file=sys.stderr)
        return False
    return input(f"{question} [y/N] ").strip().lower() in ("y", "yes")


# -- log ------------------------------------------------------------------------------------------------


def cmd_log(args: argparse.Namespace) -> int:
    from jupyter_crdt.history.log import summarize

    if _is_text(args.notebook):
        return _log_text(args)
    with _open_read(args.notebook) as nh:
        version = _version(nh, args.rev)
        n = len(nh.history.ancestors(version))
        summaries = summarize(nh.history, version, progress=Progress(n, "reading history"))
        pending = {c.hash for c in nh.pending}
    shown = [s for s in summaries if args.all or s.visible or s.change.hash in pending]
    shown.reverse()  # newest first
    if args.json:
        entries = [dict(s.to_dict(), pending=True) if s.change.hash in pending else s.to_dict()
                   for s in shown]
        if args.group is not None:
            entries = [_group_dict(g) for g in _groups(shown, args.group)]
        if args.max_count:
            entries = entries[: args.max_count]
        json.dump(entries, sys.stdout, indent=1)
        sys.stdout.write("\n")
        return EXIT_OK
    color = _tty()
    lines = []
    if args.group is not None:
        for g in _groups(shown, args.group):
            first, last = g[-1].change, g[0].change
            span = _when(first.time)
            if first.time != last.time:
                span += f" .. {_when(last.time)[11:]}"
            text = "; ".join(dict.fromkeys(s.text() for s in reversed(g)))
            count = f"({len(g)} changes) " if len(g) > 1 else ""
            lines.append(f"{_yellow(last.short, color)}  {span}  {last.author:<12} {last.kind:<8} {count}"
                         f"{text}")
    else:
        for s in shown:
            c = s.change
            mark = " (pending: not in the history file yet)" if c.hash in pending else ""
            lines.append(f"{_yellow(c.short, color)}  {_when(c.time)}  {c.author:<12} {c.kind:<8} {s.text()}"
                         f"{mark}")
    if args.max_count:
        lines = lines[: args.max_count]
    print("\n".join(lines) if lines else "(no changes)")
    return EXIT_OK


def _log_text(args: argparse.Namespace) -> int:
    """``log`` of a text file: each change with the characters it inserted and deleted, and where."""
    from jupyter_crdt.history.text import text_log

    with _open_read(args.notebook) as nh:
        version = _text_version(nh, args.rev)
        entries = text_log(nh.history, version)
    shown = [t for t in entries if args.all or t.visible]
    shown.reverse()  # newest first
    if args.json:
        json.dump([t.to_dict() for t in shown][: args.max_count or None], sys.stdout, indent=1)
        sys.stdout.write("\n")
        return EXIT_OK
    color = _tty()
    lines = [f"{_yellow(t.change.short, color)}  {_when(t.change.time)}  {t.change.author:<12} "
             f"{t.change.kind:<8} {t.text()}" for t in shown]
    if args.max_count:
        lines = lines[: args.max_count]
    print("\n".join(lines) if lines else "(no changes)")
    return EXIT_OK


def _text_version(nh: NotebookHistory, rev: str | None) -> frozenset[str]:
    """REV in a text file's history (``~N`` counts the changes ``log`` shows for it)."""
    from jupyter_crdt.history.text import text_log

    def visible(v: frozenset[str]) -> list:
        return [t.change.hash for t in text_log(nh.history, v) if t.visible]

    return resolve(nh.history, rev, visible=visible)


def _groups(shown: list, minutes: float) -> list[list]:
    """Consecutive entries (newest first) of one author and kind, at most ``minutes`` apart."""
    out: list[list] = []
    for s in shown:
        c = s.change
        if out:
            prev = out[-1][-1].change
            if prev.author == c.author and prev.kind == c.kind and abs(prev.time - c.time) <= minutes * 60:
                out[-1].append(s)
                continue
        out.append([s])
    return out


def _group_dict(g: list) -> dict:
    return {"author": g[0].change.author, "kind": g[0].change.kind, "from": g[-1].change.time,
            "to": g[0].change.time, "changes": [s.to_dict() for s in g]}


# -- show -----------------------------------------------------------------------------------------------


def cmd_show(args: argparse.Namespace) -> int:
    with _open_read(args.notebook) as nh:
        if _is_text(args.notebook):
            version = _text_version(nh, args.at)
            text = nh.text(None if version == nh.main else version)  # type: ignore[attr-defined]
        else:
            version = _version(nh, args.at)
            text = notebook_text(nh.notebook(None if version == nh.main else version))
    if args.output:
        Path(args.output).write_text(text, encoding="utf-8")
    else:
        sys.stdout.write(text)
    return EXIT_OK


# -- diff -----------------------------------------------------------------------------------------------


def cmd_diff(args: argparse.Namespace) -> int:
    from jupyter_crdt.history.log import summarize, visible_log
    from jupyter_crdt.history.union import notebook_at
    from jupyter_crdt.notebook.diff import diff_notebooks, render

    _notebooks_only(args.notebook, "diff")
    with _open_read(args.notebook) as nh:
        h = nh.history
        rev1, rev2 = args.rev1, args.rev2
        if rev1 is None:  # the newest visible change
            shown = visible_log(summarize(h, h.branch(MAIN)))
            rev2 = "HEAD"
            rev1 = "HEAD~1" if len(shown) > 1 else None
        v1 = _version(nh, rev1) if rev1 is not None else None
        v2 = _version(nh, rev2 or "HEAD")
        empty = {"cells": [], "metadata": {}, "nbformat": 4, "nbformat_minor": 5}
        a = notebook_at(h, v1) if v1 is not None else empty
        b = notebook_at(h, v2)
        label1 = f"{rev1} ({_short(v1)})" if v1 is not None else "(empty notebook)"
        label2 = f"{rev2 or 'HEAD'} ({_short(v2)})"
    d = diff_notebooks(a, b)
    if args.json:
        json.dump({"a": sorted(v1 or ()), "b": sorted(v2), **d.to_dict()}, sys.stdout, indent=1)
        sys.stdout.write("\n")
    else:
        color = _tty() if args.color is None else args.color
        sys.stdout.write(render(d, color=color, a_label=label1, b_label=label2))
    return EXIT_OK


def _short(v: frozenset[str] | None) -> str:
    return ",".join(h[:12] for h in sorted(v or ()))


# -- restore --------------------------------------------------------------------------------------------


def cmd_restore(args: argparse.Namespace) -> int:
    _notebooks_only(args.notebook, "restore")
    target = _open_write_or_server(args.notebook, args)
    if not isinstance(target, NotebookHistory):
        return _restore_live(target, args)
    with target as nh:
        version = _version(nh, args.rev)
        change = nh.restore(version, message=args.message)
        nh.write_notebook()
    if change is None:
        print(f"{args.notebook} already is {args.rev}: nothing to restore")
    else:
        print(f"restored {args.notebook} to {args.rev} ({_short(version)}) as change {change.short}")
    return EXIT_OK


def _restore_live(server: LiveServer, args: argparse.Namespace) -> int:
    """``restore`` through the running server: its ``POST /api/crdt/restore`` takes the number of a change
    in its log and restores the content after it, which is REV when that prefix of the log is exactly
    REV's changes."""
    with NotebookHistory.open(args.notebook, writable=False, sync=False) as nh:
        version = _version(nh, args.rev)
        if version == nh.main:
            print(f"{args.notebook} already is {args.rev}: nothing to restore")
            return EXIT_OK
        wanted = nh.history.ancestors(version)
        local = [c.hash for c in nh.history.log(nh.main)]
    entries = (_call(server, "GET", "log") or {}).get("changes", [])
    ids = [e.get("id") for e in entries]
    if not ids or None in ids:  # a server that does not name its changes: its log is ours, in order
        ids = local
    seq, seen = None, set()
    for i, h in enumerate(ids):
        seen.add(h)
        if wanted <= seen:
            seq = i + 1
            break
    if seq is None or seen != wanted:
        raise CliError(f"{args.rev} ({_short(version)}) is not a version the running Jupyter server can "
                       "restore (changes made concurrently come after it in the server's log); restore it "
                       "with JupyterLab's timeline, or stop the server and run this again")
    _call(server, "POST", "restore", {"seq": seq})
    print(f"restored {args.notebook} to {args.rev} ({_short(version)}) through the Jupyter server at "
          f"{server.url}")
    return EXIT_OK


# -- blame ----------------------------------------------------------------------------------------------


def cmd_blame(args: argparse.Namespace) -> int:
    from jupyter_crdt.history.blame import CellNotFound, blame_cell

    _notebooks_only(args.notebook, "blame")
    with _open_read(args.notebook) as nh:
        version = _version(nh, args.at)
        doc = nh.doc if version == nh.main else nh.history.doc_at(version)
        try:
            index, info, lines = blame_cell(nh.history, doc, args.cell)
        except CellNotFound as e:
            raise CliError(str(e)) from None
    if args.json:
        json.dump({"cell": info, "lines": [ln.to_dict() for ln in lines]}, sys.stdout, indent=1)
        sys.stdout.write("\n")
        return EXIT_OK
    color = _tty()
    print(f"cell {index} [{info['cell_type']}] id {info['id']}")
    width = max((len(ln.newest.author) for ln in lines if ln.newest), default=6)
    for ln in lines:
        newest = ln.newest
        if newest is None:
            print(f"{'':12}  {'':{width}}  {'':19}  {ln.number:>4}| {ln.text}")
            continue
        others = [a for a in ln.authors if a != newest.author]
        extra = f"  (+{', '.join(others)})" if others else ""
        short = (newest.change or "?")[:12]
        print(f"{_yellow(short, color)}  {newest.author:<{width}}  {_when(newest.time)}  {ln.number:>4}| "
              f"{ln.text}{extra}")
    return EXIT_OK


# -- merge ----------------------------------------------------------------------------------------------


def cmd_merge(args: argparse.Namespace) -> int:
    from jupyter_crdt.history.merge_copy import NoMergeBase, merge_copy
    from jupyter_crdt.notebook.ipynb import read_notebook

    _notebooks_only(args.notebook, "merge")
    target = Path(args.output) if args.output else None
    in_place = target is None or target.resolve() == Path(args.notebook).resolve()
    if args.base is None and not has_history(args.notebook) and not has_history(args.other):
        raise CliError(f"neither {args.notebook} nor {args.other} has a history: give the common ancestor "
                       "with --base BASE.ipynb")
    if in_place:
        opened = _open_write_or_server(args.notebook, args)
        if not isinstance(opened, NotebookHistory):
            return _merge_live(opened, args)
        nh = opened
    else:
        nh = NotebookHistory.open(args.notebook, writable=False)
    other = None
    try:
        if has_history(args.other):
            other = NotebookHistory.open(args.other, writable=False)
        with warnings.catch_warnings():
            warnings.simplefilter("ignore")
            theirs = read_notebook(args.other)
            base = read_notebook(args.base) if args.base is not None else None
        try:
            result = merge_copy(nh, theirs, other.history if other is not None else None, base=base,
                                label=args.other)
        except NoMergeBase:
            raise CliError(f"neither {args.notebook} nor {args.other} has a history: give the common "
                           "ancestor with --base BASE.ipynb") from None
        if result.unrelated:
            print(f"note: {args.notebook} and {args.other} share no history; merging the files three-way",
                  file=sys.stderr)
        _finish(nh, target, in_place)
        return _say_merge(args, result.up_to_date, result.conflicts, result.notes)
    finally:
        nh.close()
        if other is not None:
            other.close()


def _merge_live(server: LiveServer, args: argparse.Namespace) -> int:
    """``merge`` into a notebook a running server has open: sent to its ``POST /api/crdt/merge``."""
    import base64

    from jupyter_crdt.notebook.ipynb import read_notebook

    with warnings.catch_warnings():
        warnings.simplefilter("ignore")
        theirs = read_notebook(args.other)
        base = read_notebook(args.base) if args.base is not None else None
    history = None
    if has_history(args.other):
        history = base64.b64encode(sidecar_path(args.other).read_bytes()).decode("ascii")
    body = {"notebook": theirs, "history": history, "author": _author(args), "name": str(args.other),
            "base": base}
    answer = _call(server, "POST", "merge", body) or {}
    return _say_merge(args, bool(answer.get("upToDate")), list(answer.get("conflicts", [])),
                      list(answer.get("notes", [])))


def _finish(nh: NotebookHistory, target: Path | None, in_place: bool) -> None:
    if in_place:
        nh.write_notebook()
        return
    assert target is not None
    from jupyter_crdt.history.sidecar import WRITTEN

    nh.history.set_branch(WRITTEN, nh.main)
    write_history(nh.history, sidecar_path(target))
    target.write_text(notebook_text(nh.notebook()), encoding="utf-8")


def _say_merge(args: argparse.Namespace, noop: bool, conflicts: list[str], notes: list[str]) -> int:
    if args.json:
        json.dump({"clean": not conflicts, "conflicts": conflicts, "notes": notes}, sys.stdout, indent=1)
        sys.stdout.write("\n")
    else:
        where = args.output or args.notebook
        if noop:
            print(f"{where}: already up to date")
        else:
            print(f"merged {args.other} into {where}" + (" with conflicts" if conflicts else ""))
        for c in conflicts:
            print(f"  conflict: {c}")
        for n in notes:
            print(f"  note: {n}")
    return EXIT_CONFLICT if conflicts else EXIT_OK


# -- git ------------------------------------------------------------------------------------------------


def cmd_config_git(args: argparse.Namespace) -> int:
    from jupyter_crdt.history.git import ConfigGitRefused, GitError, config_git

    try:
        for line in config_git(args.path, disable=args.disable):
            print(line)
    except ConfigGitRefused as e:
        raise CliError(str(e)) from None
    except GitError as e:
        raise CliError(f"{e} (run this inside a git repository)") from None
    return EXIT_OK


def cmd_git_merge_driver(args: argparse.Namespace) -> int:
    from jupyter_crdt.history.git import merge_driver

    return merge_driver(args.kind, args.base, args.ours, args.theirs, args.path)


def cmd_git_diff_driver(args: argparse.Namespace) -> int:
    from jupyter_crdt.history.git import diff_driver

    return diff_driver(args.args)


def cmd_git_textconv(args: argparse.Namespace) -> int:
    from jupyter_crdt.history.git import textconv_history

    return textconv_history(args.file)


# -- rewriting ------------------------------------------------------------------------------------------


def cmd_squash(args: argparse.Namespace) -> int:
    from jupyter_crdt.history.rewrite import squash

    _notebooks_only(args.notebook, "squash")
    with _open_write(args.notebook, args) as nh:
        h = nh.history
        if args.before:
            rev = _version(nh, args.before)
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
        if not _confirm(args, "Rewrite the history?"):
            return EXIT_ERROR
        nh.replace_history(new)
        nh.write_notebook()
    print("done")
    return EXIT_OK


def cmd_purge(args: argparse.Namespace) -> int:
    from jupyter_crdt.history.rewrite import purge

    _notebooks_only(args.notebook, "purge")
    with _open_write(args.notebook, args) as nh:
        h = nh.history
        before = nh.notebook()
        new, report = purge(h, args.text, progress=Progress(len(h), "rewriting"))
        if new is h:
            print(f"{args.text!r} does not occur in the history of {args.notebook}")
            return EXIT_OK
        print(f"found {report.occurrences} occurrence(s) in {report.rewritten} change(s) of {args.notebook}")
        print(COPIES_WARNING.format(sidecar=nh.sidecar), file=sys.stderr)
        if not _confirm(args, "Remove it from every version?"):
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


# -- moving ---------------------------------------------------------------------------------------------


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
    from crdt import HistoryFile
    from jupyter_crdt.history.sidecar import set_aside

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
    kind: Any = NotebookHistory
    if _is_text(path):
        from jupyter_crdt.history.text import TextHistory

        kind = TextHistory
    try:
        nh = kind.open(path, author=_author(args), sync=False)
    except HistoryLockedError:
        raise CliError(f"{path} is open in a running Jupyter server: close it there (or stop the server) and "
                       "run this again") from None
    with nh:
        joined = False
        if not nh.created and kind is NotebookHistory:  # a text's history has no notebook merge rules
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
        (getattr(nh, "write_file", None) or nh.write_notebook)()
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
            raise CliError(f"{_locked_message(src)} (rename it in JupyterLab instead)") from None
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


# -- the parser -----------------------------------------------------------------------------------------


def build_parser() -> argparse.ArgumentParser:
    p = argparse.ArgumentParser(
        prog="jupyter crdt",
        description="Notebook histories: every change of a notebook, kept in a hidden sidecar file "
        "(.NAME.crdt) beside it. Versions, diffs, blame, offline merges and a git merge driver.",
        epilog="REV: HEAD (main), a branch name, a change hash prefix (4+ hex digits), or REV~N (N visible "
        "changes before REV). See docs/cli.md.",
    )
    p.add_argument("--version", action="version", version=f"jupyter-crdt {__version__}")
    sub = p.add_subparsers(dest="command", metavar="COMMAND")
    sub.required = True

    def add(name: str, func: Any, help: str, description: str | None = None, hidden: bool = False):
        sp = (sub.add_parser(name, description=description or help) if hidden
              else sub.add_parser(name, description=description or help, help=help))
        sp.set_defaults(func=func)
        return sp

    sp = add("log", cmd_log, "who changed the notebook, when, and what (newest first)",
             "List the changes of the notebook's history, newest first: hash, time, author, kind and a "
             "summary of what changed. Changes that only touch bookkeeping (the server's state) are hidden.")
    sp.add_argument("notebook", help="the .ipynb file (or a text file: its history is kept the same way)")
    sp.add_argument("--rev", default=None, help="show the history of this version (default: HEAD)")
    sp.add_argument("--group", nargs="?", type=float, const=30.0, default=None, metavar="MINUTES",
                    help="join consecutive changes of one author at most MINUTES apart (default 30)")
    sp.add_argument("--all", action="store_true", help="also list bookkeeping-only changes")
    sp.add_argument("-n", "--max-count", type=int, default=None, help="show at most this many entries")
    sp.add_argument("--json", action="store_true", help="machine-readable output")

    sp = add("show", cmd_show, "print the notebook as it was at a version",
             "Print (or write with -o) the notebook at REV as an .ipynb file (a text file: its text at REV).")
    sp.add_argument("notebook")
    sp.add_argument("--at", default=None, metavar="REV", help="the version (default: HEAD)")
    sp.add_argument("-o", "--output", default=None, help="write to this file instead of stdout")

    sp = add("diff", cmd_diff, "what changed between two versions",
             "Cells added, deleted, moved and modified (line-level source diffs) between REV1 and REV2. "
             "Without revisions: the newest change; with one: from REV1 to HEAD.")
    sp.add_argument("notebook")
    sp.add_argument("rev1", nargs="?", default=None)
    sp.add_argument("rev2", nargs="?", default=None)
    sp.add_argument("--json", action="store_true", help="machine-readable output")
    sp.add_argument("--color", dest="color", action="store_true", default=None, help="colour the output")
    sp.add_argument("--no-color", dest="color", action="store_false", help="never colour the output")

    sp = add("restore", cmd_restore, "make the notebook what it was at a version (as a new change)",
             "Record a new change that makes the notebook equal to REV; nothing is rewritten, the versions "
             "after REV stay in the history.")
    sp.add_argument("notebook")
    sp.add_argument("rev")
    sp.add_argument("-m", "--message", default=None)
    sp.add_argument("--author", default=None, help="default: $JUPYTER_CRDT_AUTHOR, git's user.name, login")

    sp = add("blame", cmd_blame, "who wrote each line of a cell",
             "Author and time of each line of a cell's source (the newest change among the line's "
             "characters; other authors of the line in parentheses).")
    sp.add_argument("notebook")
    sp.add_argument("cell", help="a cell id, a unique prefix of one, or an index (from 0)")
    sp.add_argument("--at", default=None, metavar="REV")
    sp.add_argument("--json", action="store_true", help="per line, runs of characters with their change")

    sp = add("merge", cmd_merge, "merge another copy of the notebook into this one",
             "Merge OTHER into NOTEBOOK. When both have a history: the union of their changes (every edit "
             "once; a cell whose outputs changed on both sides keeps one side's). Otherwise a three-way "
             "merge of the files, with --base or the common version found in the history. Exit 0 when "
             "merged cleanly, 1 on true conflicts.")
    sp.add_argument("notebook")
    sp.add_argument("other")
    sp.add_argument("-o", "--output", default=None, help="write the result (and its history) here instead")
    sp.add_argument("--base", default=None,
                    help="the common ancestor (forces a three-way merge of the files)")
    sp.add_argument("--author", default=None)
    sp.add_argument("--json", action="store_true")

    sp = add("config-git", cmd_config_git, "set up git merge and diff drivers for notebooks and histories",
             "In the current repository: merge and diff drivers for *.ipynb and a merge driver for the "
             "history sidecars (.git/config and .gitattributes).")
    sp.add_argument("--disable", action="store_true", help="remove them again")
    sp.add_argument("--path", default=None, help="a directory inside the repository (default: here)")

    sp = add("squash", cmd_squash, "fold old changes into one (rewrites the history)",
             "Replace the changes before REV (default: all) by one change; deleted content is dropped from "
             "the history file. Copies elsewhere keep their history.")
    sp.add_argument("notebook")
    sp.add_argument("--before", default=None, metavar="REV")
    sp.add_argument("-y", "--yes", action="store_true", help="do not ask for confirmation")
    sp.add_argument("--author", default=None)

    sp = add("purge", cmd_purge, "remove a text (a secret, a huge output) from every version",
             "Remove every occurrence of TEXT from every version in the history file: characters of "
             "sources and streams are deleted, output and metadata strings holding it become \"[purged]\". "
             "Copies elsewhere keep their history.")
    sp.add_argument("notebook")
    sp.add_argument("--text", required=True)
    sp.add_argument("-y", "--yes", action="store_true", help="do not ask for confirmation")
    sp.add_argument("--author", default=None)

    sp = add("recover", cmd_recover, "bring back what a damaged history still holds",
             "Read the changes a damaged history file still holds (every record before the damage) into the "
             "notebook's history, keeping what the notebook file holds now as the newest version. DAMAGED: "
             "a history set aside by the server (default: the newest .NAME.crdt.corrupt-*), or the sidecar "
             "itself when it is damaged (it is set aside first). Nothing is deleted.")
    sp.add_argument("notebook")
    sp.add_argument("damaged", nargs="?", default=None)
    sp.add_argument("--author", default=None)

    sp = add("mv", cmd_mv, "rename or move a notebook together with its history",
             "Move NOTEBOOK to DEST (a file or a directory) with its history sidecar; uses git mv for files "
             "git tracks.")
    sp.add_argument("source")
    sp.add_argument("dest")

    sp = add("git-merge-driver", cmd_git_merge_driver, "(used by git) merge driver", hidden=True)
    sp.add_argument("kind", choices=["notebook", "history"])
    sp.add_argument("base")
    sp.add_argument("ours")
    sp.add_argument("theirs")
    sp.add_argument("path")

    sp = add("git-diff-driver", cmd_git_diff_driver, "(used by git) diff driver", hidden=True)
    sp.add_argument("args", nargs="*")

    sp = add("git-textconv-history", cmd_git_textconv, "(used by git) history as text", hidden=True)
    sp.add_argument("file")
    return p


def main(argv: Sequence[str] | None = None) -> int:
    parser = build_parser()
    args = parser.parse_args(argv)
    try:
        return int(args.func(args) or 0)
    except CliError as e:
        print(f"jupyter crdt {args.command}: {e}", file=sys.stderr)
    except HistoryLockedError as e:
        print(f"jupyter crdt {args.command}: {_locked_message(e.path)}", file=sys.stderr)
    except HistoryFileError as e:
        hint = ""
        if is_sidecar(e.path) and args.command != "recover":
            hint = (f"\nthe notebook file is not affected. To set the damaged history aside and keep what it "
                    f"still holds, run: jupyter crdt recover {notebook_path_of(e.path)}")
        print(f"jupyter crdt {args.command}: {e}{hint}", file=sys.stderr)
    except (NotebookFormatError, RevisionError, FileNotFoundError, PermissionError, NoCommonHistory,
            UnsafeFileError) as e:
        print(f"jupyter crdt {args.command}: {e}", file=sys.stderr)
    except (DecodeError, MissingDependencyError) as e:
        # A history whose records are well-formed but hold an update that is not (a hostile or damaged
        # sidecar); the bounds on decoding are in docs/security.md.
        where = getattr(args, "notebook", None) or getattr(args, "path", None) or "the notebook"
        print(f"jupyter crdt {args.command}: the history of {where} holds an invalid update ({e})",
              file=sys.stderr)
    except KeyboardInterrupt:
        print("interrupted", file=sys.stderr)
    except BrokenPipeError:  # e.g. `jupyter crdt log NB | head`
        devnull = os.open(os.devnull, os.O_WRONLY)
        os.dup2(devnull, sys.stdout.fileno())
        return EXIT_OK
    return EXIT_ERROR


if __name__ == "__main__":
    sys.exit(main())
