"""``%crdt status``, ``log``, ``diff``, ``show``, ``restore`` and ``blame``.

Online, each asks the server's ``/api/crdt/`` API about the live notebook; offline, the history library
answers from the file and its sidecar (:mod:`jupyter_crdt.magics.offline`, imported only then: it loads
nbformat). Every command displays a report (:mod:`jupyter_crdt.magics.render`) and returns nothing.
"""

from __future__ import annotations

import argparse
from typing import Any

from IPython.display import display

from jupyter_crdt.client import MAIN, RoomClient, RoomClientError, ServerError
from jupyter_crdt.magics import render
from jupyter_crdt.magics.connection import KernelConnection
from jupyter_crdt.magics.parser import fail, resolve_seq, visible

__all__ = ["blame", "diff", "log", "restore", "show", "status"]


def _cell_indices(doc: Any) -> dict[str, int]:
    """Cell id -> index in the live document (on the client's thread)."""
    out = {}
    for i, cell in enumerate(doc.get_array("cells")):
        cid = cell.get("id") if hasattr(cell, "get") else None
        if isinstance(cid, str):
            out[cid] = i
    return out


def status(k: KernelConnection, args: argparse.Namespace) -> None:
    s = k.session(args)
    if not s.online:
        pairs: list[tuple[str, Any]] = [("server", f"not reachable: {s.offline_reason}")]
        if s.local_path is not None and s.local_path.exists():
            from jupyter_crdt.magics import offline  # loads nbformat: only for a kernel without its server

            pairs.append(("notebook", str(s.local_path)))
            pairs.append(("history", offline.history_size(s.local_path)))
        pairs.append(("offline", "log, diff, show, restore, blame and merge-file work on the file"))
        display(render.fields("crdt status (offline)", pairs))
        return
    sections = []
    try:  # joined first, so the server counts this kernel among the connections
        client: RoomClient | None = k.client(s)
    except (RoomClientError, ServerError) as e:
        client, join_error = None, str(e)
    st = s.call("GET", "status")
    peers = [str(p) for p in st.get("peers", [])]
    pairs = [
        ("notebook", s.api_path),
        ("branch", s.branch),
        ("server", f"reached {s.server.url}" if s.server else ""),
        ("room", st.get("roomId", "")),
        ("connected", f"{len(peers)} (this kernel included): {', '.join(peers)}" if client is not None
         else f"{len(peers)}: {', '.join(peers)}" if peers else "nobody"),
        ("unsaved changes", "yes" if st.get("dirty") else "no"),
        ("history", f"{st.get('changes', '?')} changes"),
    ]
    presence: list[dict] = []
    cells: dict[str, int] = {}
    if client is None:
        pairs.append(("this kernel's room connection", f"failed: {join_error}"))
    else:
        presence = client.presence()
        live = client
        cells = client.call(lambda: _cell_indices(live.doc))
    rows = []
    for p in presence:
        user = p["state"].get("user") if isinstance(p["state"].get("user"), dict) else {}
        who = (user.get("display_name") or user.get("name") or user.get("username")
               or f"client {p['client']}")
        cell = p["cell"]
        where = f"cell {cells[cell]} ({cell})" if cell in cells else (cell or "-")
        rows.append((who, where))
    sections.append(render.table("who is where", ["who", "cell"], rows, empty="(no one else in the room)"))
    display(render.fields(f"crdt status: {s.api_path}", pairs, sections=sections))


def log(k: KernelConnection, args: argparse.Namespace) -> None:
    s = k.session(args)
    if args.max_count is not None and args.max_count < 1:
        fail("log", "-n must be at least 1")
    if s.online:
        entries = k.log_entries(s)
        if args.cell:
            if not any(e.get("id") for e in entries):
                fail("log", "--cell needs change hashes in the server's log, which this server does not send")
            if s.local_path is None:
                fail("log", "--cell needs the notebook's history file, which this kernel cannot see")
            from jupyter_crdt.magics import offline  # loads nbformat: only when a command needs the file

            touching = offline.changes_touching(s.local_path, args.cell)
            entries = [e for e in entries if e.get("id") in touching]
        title = f"crdt log: {s.api_path}" + (f" (branch {s.branch})" if s.branch != MAIN else "")
    else:
        from jupyter_crdt.magics import offline  # loads nbformat: only for a kernel without its server

        entries = offline.log_entries(k.local(args, s), cell=args.cell)
        title = f"crdt log: {s.local_path} (offline)"
    if not args.all:
        entries = visible(entries)
    if args.author:
        entries = [e for e in entries if e.get("author") == args.author]
    entries = list(reversed(entries))
    if args.max_count:
        entries = entries[: args.max_count]
    rows = [(e.get("seq"), str(e.get("id") or "")[:10], render.when(e.get("time")), e.get("author"),
             e.get("summary") or (f"{e['size']} bytes" if "size" in e else "")) for e in entries]
    display(render.table(title, ["#", "change", "time", "author", "summary"], rows, empty="(no changes)"))


def diff(k: KernelConnection, args: argparse.Namespace) -> None:
    s = k.session(args)
    rev2 = args.rev2 or "HEAD"
    if s.online:
        entries = k.log_entries(s)
        to = resolve_seq("diff", rev2, entries)
        if args.rev1:
            frm = resolve_seq("diff", args.rev1, entries)
        else:  # the newest change the log shows
            frm = resolve_seq("diff", "HEAD~1", entries) if len(visible(entries)) > 1 else 1
        body = s.call("GET", "diff", query={"from": frm, "to": to})
        cells = [{**c, "index": c.get("index")} for c in body.get("cells", [])]
        display(render.diff_report(f"crdt diff {frm}..{to}: {s.api_path}", cells))
        return
    from jupyter_crdt.magics import offline  # loads nbformat: only for a kernel without its server

    label1, cells, extra = offline.diff(k.local(args, s), args.rev1, rev2)
    title = f"crdt diff {label1}..{rev2}: {s.local_path} (offline)"
    display(render.diff_report(title, cells, extra=extra))


def show(k: KernelConnection, args: argparse.Namespace) -> None:
    s = k.session(args)
    if s.online:
        seq = resolve_seq("show", args.rev, k.log_entries(s))
        body = s.call("GET", "show", query={"seq": seq})
        display(render.notebook_report(f"crdt show {seq}: {s.api_path}", body.get("content") or {}))
        return
    from jupyter_crdt.magics import offline  # loads nbformat: only for a kernel without its server

    nb = offline.show(k.local(args, s), args.rev)
    display(render.notebook_report(f"crdt show {args.rev}: {s.local_path} (offline)", nb))


def restore(k: KernelConnection, args: argparse.Namespace) -> None:
    s = k.session(args)
    if s.online:
        seq = resolve_seq("restore", args.rev, k.log_entries(s))
        s.call("POST", "restore", {"seq": seq})
        display(render.message(f"restored {s.api_path} to change {seq}, as a new change (live for everyone)"))
        return
    from jupyter_crdt.magics import offline  # loads nbformat: only for a kernel without its server

    done = offline.restore(k.local(args, s), args.rev)
    display(render.message(done + " (offline: written to the file and its history)"))


def blame(k: KernelConnection, args: argparse.Namespace) -> None:
    s = k.session(args)
    cell = args.cell or k.current_cell_id()
    if not cell:
        fail("blame", "give a cell id: this kernel cannot tell which cell is running")
    if s.online:
        body = s.call("GET", "blame", query={"cell": cell})
        lines = []
        for i, ln in enumerate(body.get("lines", [])):
            line = ln.get("line")
            text = ln.get("text", line if isinstance(line, str) else "")
            number = ln.get("number", line if isinstance(line, int) else i + 1)
            lines.append({"number": number, "text": text, "author": ln.get("author"), "time": ln.get("time")})
        display(render.blame_report(f"crdt blame: cell {body.get('cell', cell)} of {s.api_path}", lines))
        return
    from jupyter_crdt.magics import offline  # loads nbformat: only for a kernel without its server

    which, lines = offline.blame(k.local(args, s), cell)
    display(render.blame_report(f"crdt blame: {which} of {s.local_path} (offline)", lines))
