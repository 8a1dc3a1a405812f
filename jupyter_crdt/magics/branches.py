"""``%crdt branch``, ``checkout``, ``merge`` (branches are the server's branch rooms) and ``merge-file``
(an offline copy of the notebook, merged through the server or, without one, by the history library)."""

from __future__ import annotations

import argparse
import base64
import json
import re
from pathlib import Path

from IPython.display import display

from jupyter_crdt.client import MAIN, NotebookSession, ServerError
from jupyter_crdt.magics import render
from jupyter_crdt.magics.connection import KernelConnection
from jupyter_crdt.magics.parser import fail

__all__ = ["branch", "checkout", "merge", "merge_file"]

_BRANCH_NAME = re.compile(r"^[A-Za-z0-9][A-Za-z0-9._-]{0,99}$")


def _branches(s: NotebookSession) -> list[dict]:
    body = s.call("GET", "branches", branch=False)
    return list(body.get("branches", [])) if isinstance(body, dict) else []


def _check_branch(command: str, s: NotebookSession, name: str) -> None:
    if not _BRANCH_NAME.match(name):
        fail(command, f"{name!r} is not a valid branch name (letters, digits, '.', '_', '-')")
    if name == MAIN:
        return
    names = [b.get("name") for b in _branches(s)]
    if name not in names:
        known = ", ".join(n for n in names if n) or "none but main"
        fail(command, f"no branch {name!r} (branches: {known})")


def branch(k: KernelConnection, args: argparse.Namespace) -> None:
    s = k.session(args)
    k.need_server(args, s, "branches (the server's branch rooms)")
    if args.name is None:
        branches = _branches(s)
        if not any(b.get("name") == MAIN for b in branches):
            branches.insert(0, {"name": MAIN})
        rows = [("*" if b.get("name") == s.branch else "", b.get("name"), b.get("changes", ""),
                 b.get("ahead", ""), b.get("roomId", "")) for b in branches]
        columns = ["", "branch", "changes", "ahead of main", "room"]
        display(render.table(f"crdt branches: {s.api_path}", columns, rows))
        return
    if not _BRANCH_NAME.match(args.name) or args.name == MAIN:
        fail("branch", f"{args.name!r} is not a valid name for a new branch")
    body = s.call("POST", "branches", {"name": args.name, "from": s.branch}, branch=False)
    room = body.get("roomId", "") if isinstance(body, dict) else ""
    where = f" (room {room})" if room else ""
    display(render.message(f"created branch {args.name} from {s.branch}{where}; "
                           f"`%crdt checkout {args.name}` to work on it"))


def checkout(k: KernelConnection, args: argparse.Namespace) -> None:
    s = k.session(args)
    k.need_server(args, s, "checkout (the server's branch rooms)")
    _check_branch("checkout", s, args.name)
    s.branch = args.name
    display(render.message(f"this kernel's %crdt commands and shared values now act on branch {args.name}"))


def merge(k: KernelConnection, args: argparse.Namespace) -> None:
    s = k.session(args)
    k.need_server(args, s, "merging branches")
    if args.name == s.branch:
        fail("merge", f"cannot merge branch {args.name!r} into itself (it is the current branch)")
    _check_branch("merge", s, args.name)
    body = s.call("POST", "branches", {"from": args.name, "into": s.branch}, suffix="/merge", branch=False)
    body = body if isinstance(body, dict) else {}
    lines = [f"merged branch {args.name} into {s.branch} (live for everyone on {s.branch})"
             + (" with conflicts" if body.get("conflicts") else "")]
    lines += [f"  conflict: {c}" for c in body.get("conflicts") or []]
    lines += [f"  note: {n}" for n in body.get("notes") or []]
    display(render.message("\n".join(lines)))


def merge_file(k: KernelConnection, args: argparse.Namespace) -> None:
    s = k.session(args)
    other = Path(args.path).expanduser()
    if not other.is_file():
        fail("merge-file", f"no file at {args.path}")
    if not s.online:
        from jupyter_crdt.magics import offline  # loads nbformat: only for a kernel without its server

        display(render.message("\n".join(offline.merge(k.local(args, s), other, args.path))))
        return
    try:
        nb = json.loads(other.read_text(encoding="utf-8"))
    except (OSError, ValueError) as e:
        fail("merge-file", f"{args.path} is not a notebook ({e})")
    # the library loads nbformat: imported only when a copy is merged
    from jupyter_crdt.history import has_history, sidecar_path

    history = None
    if has_history(other):  # the copy's history travels with it, as the merge endpoint takes it
        history = base64.b64encode(sidecar_path(other).read_bytes()).decode("ascii")
    try:
        body = s.call("POST", "merge", {"notebook": nb, "history": history})
    except ServerError as e:
        if e.status in (404, 405) and "does not exist" not in e.message:
            fail("merge-file", f"this server has no /api/crdt/merge endpoint ({e.message}); "
                 "merge the copy with `jupyter crdt merge` while the notebook is closed")
        raise
    body = body if isinstance(body, dict) else {}
    if body.get("upToDate"):
        text = f"{s.api_path} already holds everything in {args.path}"
    else:
        text = (f"merged {args.path} into {s.api_path} (live for everyone"
                + (", with its history)" if history else ", three-way)")
                + (" with conflicts" if body.get("conflicts") else ""))
    extra = [f"  {key[:-1]}: {c}" for key in ("conflicts", "notes") for c in body.get(key) or []]
    display(render.message("\n".join([text, *extra])))
