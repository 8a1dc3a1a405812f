"""``jupyter crdt restore`` and ``merge``: the commands that add a change to a live notebook's history.

The work is the library's (:mod:`jupyter_crdt.history.offline`); when a running server has the history
open, the change goes through its REST API instead (``common.server_holding``), so every client of the
live notebook sees it.
"""

from __future__ import annotations

import argparse
import base64
import json
import sys
import warnings

from crdt import HistoryLockedError
from jupyter_crdt.cli.common import (
    EXIT_CONFLICT,
    EXIT_OK,
    CliError,
    author,
    call,
    notebooks_only,
    resolve_rev,
    server_holding,
)
from jupyter_crdt.client import NotebookSession
from jupyter_crdt.history import NoMergeBase, NotebookHistory, has_history, sidecar_path
from jupyter_crdt.history.offline import merge_file, restore_file, restore_seq, short
from jupyter_crdt.notebook.ipynb import read_notebook

# -- restore --------------------------------------------------------------------------------------------


def cmd_restore(args: argparse.Namespace) -> int:
    notebooks_only(args.notebook, "restore")
    try:
        restored = restore_file(args.notebook, args.rev, author=author(args), message=args.message)
    except HistoryLockedError:
        return _restore_live(server_holding(args.notebook), args)
    if restored.change is None:
        print(f"{args.notebook} already is {args.rev}: nothing to restore")
    else:
        print(f"restored {args.notebook} to {args.rev} ({short(restored.version)}) as change "
              f"{restored.change.short}")
    return EXIT_OK


def _restore_live(server: NotebookSession, args: argparse.Namespace) -> int:
    """``restore`` through the running server: its ``POST /api/crdt/restore`` takes the number of a change
    in its log and restores the content after it, which is REV when that prefix of the log is exactly
    REV's changes."""
    with NotebookHistory.open(args.notebook, writable=False, sync=False) as nh:
        version = resolve_rev(nh, args.rev)
        if version == nh.main:
            print(f"{args.notebook} already is {args.rev}: nothing to restore")
            return EXIT_OK
        wanted = nh.history.ancestors(version)
        local = [c.hash for c in nh.history.log(nh.main)]
    entries = (call(server, "GET", "log") or {}).get("changes", [])
    seq = restore_seq(wanted, [e.get("id") for e in entries], local)
    if seq is None:
        raise CliError(f"{args.rev} ({short(version)}) is not a version the running Jupyter server can "
                       "restore (changes made concurrently come after it in the server's log); restore it "
                       "with JupyterLab's timeline, or stop the server and run this again")
    call(server, "POST", "restore", {"seq": seq})
    url = server.server.url if server.server is not None else ""
    print(f"restored {args.notebook} to {args.rev} ({short(version)}) through the Jupyter server at {url}")
    return EXIT_OK


# -- merge ----------------------------------------------------------------------------------------------


def cmd_merge(args: argparse.Namespace) -> int:
    notebooks_only(args.notebook, "merge")
    try:
        result = merge_file(args.notebook, args.other, author=author(args), base=args.base,
                            output=args.output)
    except NoMergeBase as e:
        raise CliError(str(e)) from None
    except HistoryLockedError:
        return _merge_live(server_holding(args.notebook), args)
    if result.unrelated:
        print(f"note: {args.notebook} and {args.other} share no history; merging the files three-way",
              file=sys.stderr)
    return _say_merge(args, result.up_to_date, result.conflicts, result.notes)


def _merge_live(server: NotebookSession, args: argparse.Namespace) -> int:
    """``merge`` into a notebook a running server has open: sent to its ``POST /api/crdt/merge``."""
    with warnings.catch_warnings():
        warnings.simplefilter("ignore")
        theirs = read_notebook(args.other)
        base = read_notebook(args.base) if args.base is not None else None
    history = None
    if has_history(args.other):
        history = base64.b64encode(sidecar_path(args.other).read_bytes()).decode("ascii")
    body = {"notebook": theirs, "history": history, "author": author(args), "name": str(args.other),
            "base": base}
    answer = call(server, "POST", "merge", body) or {}
    return _say_merge(args, bool(answer.get("upToDate")), list(answer.get("conflicts", [])),
                      list(answer.get("notes", [])))


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
