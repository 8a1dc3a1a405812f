"""The reading commands of ``jupyter crdt``: ``log``, ``show``, ``diff`` and ``blame``.

They read the sidecar without taking its lock and never write it (``common.open_read``).
"""

from __future__ import annotations

import argparse
import json
import sys
from pathlib import Path

from jupyter_crdt.cli.common import (
    EXIT_OK,
    CliError,
    notebooks_only,
    open_read,
    resolve_rev,
    tty,
    when,
    yellow,
)
from jupyter_crdt.history import MAIN, NotebookHistory, TextHistory, notebook_at, notebook_text
from jupyter_crdt.history.blame import CellNotFound, blame_cell
from jupyter_crdt.history.log import summarize, visible_log
from jupyter_crdt.history.offline import short
from jupyter_crdt.history.text import is_text_file, text_log
from jupyter_crdt.history.versions import resolve
from jupyter_crdt.notebook import diff_notebooks, render_diff
from jupyter_crdt.progress import Progress

# -- log ------------------------------------------------------------------------------------------------


def cmd_log(args: argparse.Namespace) -> int:
    if is_text_file(args.notebook):
        return _log_text(args)
    with open_read(args.notebook) as nh:
        version = resolve_rev(nh, args.rev)
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
    color = tty()
    lines = []
    if args.group is not None:
        for g in _groups(shown, args.group):
            first, last = g[-1].change, g[0].change
            span = when(first.time)
            if first.time != last.time:
                span += f" .. {when(last.time)[11:]}"
            text = "; ".join(dict.fromkeys(s.text() for s in reversed(g)))
            count = f"({len(g)} changes) " if len(g) > 1 else ""
            lines.append(f"{yellow(last.short, color)}  {span}  {last.author:<12} {last.kind:<8} {count}"
                         f"{text}")
    else:
        for s in shown:
            c = s.change
            mark = " (pending: not in the history file yet)" if c.hash in pending else ""
            lines.append(f"{yellow(c.short, color)}  {when(c.time)}  {c.author:<12} {c.kind:<8} {s.text()}"
                         f"{mark}")
    if args.max_count:
        lines = lines[: args.max_count]
    print("\n".join(lines) if lines else "(no changes)")
    return EXIT_OK


def _log_text(args: argparse.Namespace) -> int:
    """``log`` of a text file: each change with the characters it inserted and deleted, and where."""

    with open_read(args.notebook) as nh:
        version = _text_version(nh, args.rev)
        entries = text_log(nh.history, version)
    shown = [t for t in entries if args.all or t.visible]
    shown.reverse()  # newest first
    if args.json:
        json.dump([t.to_dict() for t in shown][: args.max_count or None], sys.stdout, indent=1)
        sys.stdout.write("\n")
        return EXIT_OK
    color = tty()
    lines = [f"{yellow(t.change.short, color)}  {when(t.change.time)}  {t.change.author:<12} "
             f"{t.change.kind:<8} {t.text()}" for t in shown]
    if args.max_count:
        lines = lines[: args.max_count]
    print("\n".join(lines) if lines else "(no changes)")
    return EXIT_OK


def _text_version(nh: NotebookHistory | TextHistory, rev: str | None) -> frozenset[str]:
    """REV in a text file's history (``~N`` counts the changes ``log`` shows for it)."""

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
    with open_read(args.notebook) as nh:
        if isinstance(nh, TextHistory):
            version = _text_version(nh, args.at)
            text = nh.text(None if version == nh.main else version)
        else:
            version = resolve_rev(nh, args.at)
            text = notebook_text(nh.notebook(None if version == nh.main else version))
    if args.output:
        Path(args.output).write_text(text, encoding="utf-8")
    else:
        sys.stdout.write(text)
    return EXIT_OK


# -- diff -----------------------------------------------------------------------------------------------


def cmd_diff(args: argparse.Namespace) -> int:
    notebooks_only(args.notebook, "diff")
    with open_read(args.notebook) as nh:
        h = nh.history
        rev1, rev2 = args.rev1, args.rev2
        if rev1 is None:  # the newest visible change
            shown = visible_log(summarize(h, h.branch(MAIN)))
            rev2 = "HEAD"
            rev1 = "HEAD~1" if len(shown) > 1 else None
        v1 = resolve_rev(nh, rev1) if rev1 is not None else None
        v2 = resolve_rev(nh, rev2 or "HEAD")
        empty = {"cells": [], "metadata": {}, "nbformat": 4, "nbformat_minor": 5}
        a = notebook_at(h, v1) if v1 is not None else empty
        b = notebook_at(h, v2)
        label1 = f"{rev1} ({short(v1)})" if v1 is not None else "(empty notebook)"
        label2 = f"{rev2 or 'HEAD'} ({short(v2)})"
    d = diff_notebooks(a, b)
    if args.json:
        json.dump({"a": sorted(v1 or ()), "b": sorted(v2), **d.to_dict()}, sys.stdout, indent=1)
        sys.stdout.write("\n")
    else:
        color = tty() if args.color is None else args.color
        sys.stdout.write(render_diff(d, color=color, a_label=label1, b_label=label2))
    return EXIT_OK


# -- blame ----------------------------------------------------------------------------------------------


def cmd_blame(args: argparse.Namespace) -> int:
    notebooks_only(args.notebook, "blame")
    with open_read(args.notebook) as nh:
        version = resolve_rev(nh, args.at)
        doc = nh.doc if version == nh.main else nh.history.doc_at(version)
        try:
            index, info, lines = blame_cell(nh.history, doc, args.cell)
        except CellNotFound as e:
            raise CliError(str(e)) from None
    if args.json:
        json.dump({"cell": info, "lines": [ln.to_dict() for ln in lines]}, sys.stdout, indent=1)
        sys.stdout.write("\n")
        return EXIT_OK
    color = tty()
    print(f"cell {index} [{info['cell_type']}] id {info['id']}")
    width = max((len(ln.newest.author) for ln in lines if ln.newest), default=6)
    for ln in lines:
        newest = ln.newest
        if newest is None:
            print(f"{'':12}  {'':{width}}  {'':19}  {ln.number:>4}| {ln.text}")
            continue
        others = [a for a in ln.authors if a != newest.author]
        extra = f"  (+{', '.join(others)})" if others else ""
        change = (newest.change or "?")[:12]
        print(f"{yellow(change, color)}  {newest.author:<{width}}  {when(newest.time)}  {ln.number:>4}| "
              f"{ln.text}{extra}")
    return EXIT_OK

