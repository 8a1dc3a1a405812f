"""``%crdt``: the notebook's collaboration history and shared values, from inside its kernel.

``%load_ext jupyter_crdt`` registers the line magic. Subcommands (each with ``--help``; see
``docs/magics.md``): ``status``, ``log``, ``diff``, ``show``, ``restore``, ``blame``, ``branch``,
``checkout``, ``merge``, ``merge-file``, ``share``, ``get``.

With a running Jupyter server serving the notebook (:mod:`jupyter_crdt.client.kernel_session` finds it) the
commands go through the server's ``/api/crdt/`` API and the kernel's own room connection
(:mod:`jupyter_crdt.client.room`), so they see and change the live notebook everyone is editing.
Without one, ``log``, ``diff``, ``show``, ``restore``, ``blame`` and ``merge-file`` work on the notebook
file and its history sidecar directly (the ``jupyter crdt`` command line's code), and the others say
why they cannot. Bad input raises IPython's ``UsageError`` with one line naming what was wrong.

REV: a change number (``3``, as ``%crdt log`` numbers them), ``HEAD``, ``HEAD~N`` or a change hash
prefix (4+ hex digits).
"""

from __future__ import annotations

import argparse
import base64
import contextlib
import io
import json
import re
import shlex
import warnings
from collections.abc import Callable, Sequence
from pathlib import Path
from typing import Any, NoReturn

from IPython.core.error import UsageError
from IPython.core.magic import Magics, line_magic, magics_class
from IPython.display import display

from crdt import HistoryFileError, HistoryLockedError
from jupyter_crdt.client.kernel_session import KernelSession, ServerError, find_session
from jupyter_crdt.client.room import RoomClient, RoomClientError, SharedText
from jupyter_crdt.magics import render
from jupyter_crdt.notebook import NotebookFormatError

MAIN = "main"
#: The summary the history gives a change that only touched bookkeeping (not part of the file).
BOOKKEEPING = "bookkeeping only"
_BRANCH_NAME = re.compile(r"^[A-Za-z0-9][A-Za-z0-9._-]{0,99}$")
_HASH = re.compile(r"^[0-9a-fA-F]{4,}$")
_TILDE = re.compile(r"^(HEAD|@)~(\d*)$")
#: Variable names `%crdt share` refuses without --force: shared values are kept in the history.
_SECRET_NAME = re.compile(r"key|token|secret|password", re.IGNORECASE)


# -- the parser ----------------------------------------------------------------------------------------


class _HelpShown(Exception):
    """``--help`` was printed: the magic ends without a result."""


class _Parser(argparse.ArgumentParser):
    """argparse that reports errors as a one-line ``UsageError`` instead of exiting the kernel."""

    def error(self, message: str) -> NoReturn:
        raise UsageError(f"%{self.prog}: {message}")

    def exit(self, status: int = 0, message: str | None = None) -> NoReturn:
        if message:
            print(message, end="")
        raise _HelpShown


def build_parser() -> argparse.ArgumentParser:
    """The ``%crdt`` argument parser (one subparser per subcommand)."""
    p = _Parser(prog="crdt", description="The notebook's collaboration history, branches and shared values.",
                epilog="REV: a change number (as %crdt log shows), HEAD, HEAD~N, or a change hash prefix.")
    common = argparse.ArgumentParser(add_help=False)
    common.add_argument("--notebook", default=None, metavar="PATH",
                        help="the notebook (default: the one this kernel runs for)")
    sub = p.add_subparsers(dest="command", metavar="COMMAND", parser_class=_Parser)
    sub.required = True

    def add(name: str, help: str) -> argparse.ArgumentParser:
        return sub.add_parser(name, help=help, description=help, parents=[common])

    add("status", "who is connected and where, unsaved state, history size, branch, server")
    sp = add("log", "the change history (newest first)")
    sp.add_argument("-n", "--max-count", type=int, default=None, metavar="N", help="the N newest changes")
    sp.add_argument("--author", default=None, help="only changes by this author")
    sp.add_argument("--cell", default=None, metavar="ID", help="only changes touching this cell")
    sp.add_argument("--all", action="store_true", help="also changes touching only bookkeeping")
    sp = add("diff", "what changed between two versions (default: the newest change)")
    sp.add_argument("rev1", nargs="?", default=None, metavar="REV1")
    sp.add_argument("rev2", nargs="?", default=None, metavar="REV2")
    sp = add("show", "the notebook as it was at a version")
    sp.add_argument("rev", metavar="REV")
    sp = add("restore", "make the notebook what it was at a version (a new change, for everyone)")
    sp.add_argument("rev", metavar="REV")
    sp = add("blame", "author and time of each line of a cell (default: the cell running this)")
    sp.add_argument("cell", nargs="?", default=None, metavar="CELL", help="a cell id, a prefix, or an index")
    sp = add("branch", "list the branches, or create NAME from the current branch")
    sp.add_argument("name", nargs="?", default=None, metavar="NAME")
    sp = add("checkout", "make this kernel's magics and shared values act on branch NAME")
    sp.add_argument("name", metavar="NAME")
    sp = add("merge", "merge branch NAME into the current branch")
    sp.add_argument("name", metavar="NAME")
    sp = add("merge-file", "merge an offline copy of this notebook (with or without history) into it")
    sp.add_argument("path", metavar="PATH")
    sp = add("share", "share the variable NAME's value with every collaborator's kernel. The value is "
             "stored in the notebook's history (the .NAME.ipynb.crdt sidecar, often committed with the "
             "notebook): never share a secret. Names that look like one (containing key, token, secret "
             "or password) are refused unless --force")
    sp.add_argument("name", metavar="NAME")
    sp.add_argument("--text", action="store_true", help="share it as a collaborative text")
    sp.add_argument("--force", action="store_true",
                    help="share it even if its name looks like a secret's (it is kept in the history)")
    sp = add("get", "the value shared as NAME (and keep the variable NAME in step with it)")
    sp.add_argument("name", metavar="NAME")
    return p


def _fail(command: str, message: str) -> NoReturn:
    raise UsageError(f"%crdt {command}: {message}")


# -- revisions -----------------------------------------------------------------------------------------


def resolve_seq(command: str, rev: str, entries: Sequence[dict]) -> int:
    """The change number ``rev`` names among the server's log ``entries`` (oldest first)."""
    n = len(entries)
    if n == 0:
        _fail(command, "the history is empty")
    if rev in ("HEAD", "@"):
        return int(entries[-1]["seq"])
    m = _TILDE.match(rev)
    if m:
        shown = visible(entries)  # counted as the log shows them
        back = int(m.group(2) or 1)
        if back >= len(shown):
            _fail(command, f"unknown revision {rev!r}: the log shows only {len(shown)} change(s)")
        return int(shown[len(shown) - 1 - back]["seq"])
    if rev.isdigit():
        seqs = {int(e["seq"]) for e in entries}
        if int(rev) not in seqs:
            _fail(command, f"unknown revision {rev!r}: changes are numbered 1 to {n}")
        return int(rev)
    if _HASH.match(rev):
        found = [e for e in entries if str(e.get("id") or "").startswith(rev.lower())]
        if len(found) == 1:
            return int(found[0]["seq"])
        if len(found) > 1:
            _fail(command, f"revision {rev!r} is ambiguous ({len(found)} changes start with it)")
        if not any(e.get("id") for e in entries):
            _fail(command, f"unknown revision {rev!r}: the server's log has no change hashes, give a number")
    _fail(command, f"unknown revision {rev!r} (give a change number, HEAD, HEAD~N or a hash prefix)")


def visible(entries: Sequence[dict]) -> list[dict]:
    """The entries ``%crdt log`` shows: not those only touching the server's bookkeeping."""
    return [e for e in entries if e.get("summary") != BOOKKEEPING]


# -- the magics ----------------------------------------------------------------------------------------


@magics_class
class CrdtMagics(Magics):
    """The ``%crdt`` line magic and the state it keeps: the session, room connections, shared values."""

    def __init__(self, shell: Any) -> None:
        super().__init__(shell)
        self._session: KernelSession | None = None
        self._clients: dict[str, RoomClient] = {}
        # (branch, name) -> the value last synced for a plain shared value bound to the variable NAME
        self._bound: dict[tuple[str, str], Any] = {}
        self._observed: set[str] = set()
        shell.events.register("post_run_cell", self._push_bound)

    # -- dispatch ------------------------------------------------------------------------------

    @line_magic
    def crdt(self, line: str) -> Any:
        """Collaboration history and shared values of this notebook. ``%crdt --help`` lists the commands."""
        try:
            argv = shlex.split(line)
        except ValueError as e:
            raise UsageError(f"%crdt: {e}") from None
        try:
            args = build_parser().parse_args(argv)
        except _HelpShown:
            return None
        handler: Callable[[argparse.Namespace], Any] = getattr(self, "_cmd_" + args.command.replace("-", "_"))
        try:
            return handler(args)
        except ServerError as e:
            _fail(args.command, e.message)
        except RoomClientError as e:
            _fail(args.command, str(e))
        except HistoryLockedError as e:
            _fail(args.command, f"the history of the notebook is in use by another program ({e.path})")
        except (NotebookFormatError, HistoryFileError, FileNotFoundError, PermissionError) as e:
            _fail(args.command, str(e))

    def close(self) -> None:
        """Leave every room (on unloading the extension)."""
        for client in self._clients.values():
            client.close()
        self._clients.clear()
        with contextlib.suppress(ValueError):
            self.shell.events.unregister("post_run_cell", self._push_bound)

    # -- session and connections ---------------------------------------------------------------

    def session(self, args: argparse.Namespace) -> KernelSession:
        """This kernel's notebook and server (``--notebook`` overrides; an offline session is retried)."""
        if args.notebook:
            # The notebook asked for, never the one a cached (maybe failed) lookup found instead; the
            # cached session only when it is that notebook on the same server (it knows the branch).
            found = find_session(self.shell.user_ns, notebook=args.notebook)
            cached = self._session
            if (cached is not None and cached.online and found.online and cached.server == found.server
                    and cached.api_path == found.api_path):
                return cached
            return found
        if self._session is None or not self._session.online:
            branch = self._session.branch if self._session is not None else MAIN
            self._session = find_session(self.shell.user_ns)
            self._session.branch = branch if self._session.online else MAIN
        return self._session

    def _local(self, args: argparse.Namespace, s: KernelSession) -> Path:
        if s.local_path is None or not s.local_path.exists():
            why = s.offline_reason if s.local_path is None else f"no notebook at {s.local_path}"
            _fail(args.command, why)
        return s.local_path

    def _need_server(self, args: argparse.Namespace, s: KernelSession, what: str) -> None:
        if not s.online:
            _fail(args.command, f"{what} needs the Jupyter server, and {s.offline_reason}")

    def client(self, s: KernelSession) -> RoomClient:
        """This kernel's connection to the current branch's room (joined on first use)."""
        assert s.server is not None and s.api_path is not None
        client = self._clients.get(s.branch)
        if client is not None and (not client.alive or client.server != s.server):
            client.close()
            client = None
        if client is None:
            name = Path(s.api_path).name
            user = {"name": "kernel", "display_name": f"Kernel of {name}", "kernel": True}
            client = RoomClient(s.server, s.api_path, s.branch, user=user).start()
            self._clients[s.branch] = client
        cell = self.current_cell_id()
        if cell:
            with contextlib.suppress(Exception):
                client.set_local_field("cellId", cell)
        return client

    def current_cell_id(self) -> str | None:
        """The id of the cell being run (JupyterLab sends it in the request's metadata), if known."""
        kernel = getattr(self.shell, "kernel", None)
        parent: Any = None
        if kernel is not None and hasattr(kernel, "get_parent"):
            with contextlib.suppress(Exception):
                parent = kernel.get_parent()
        if not isinstance(parent, dict):
            parent = {}
        cell = (parent.get("metadata") or {}).get("cellId")
        return cell if isinstance(cell, str) and cell else None

    def _log_entries(self, s: KernelSession) -> list[dict]:
        body = s.crdt_api("GET", "log")
        return list(body.get("changes", [])) if isinstance(body, dict) else []

    # -- status --------------------------------------------------------------------------------

    def _cmd_status(self, args: argparse.Namespace) -> None:
        s = self.session(args)
        if not s.online:
            pairs: list[tuple[str, Any]] = [("server", f"not reachable: {s.offline_reason}")]
            if s.local_path is not None and s.local_path.exists():
                pairs.append(("notebook", str(s.local_path)))
                pairs.append(("history", self._offline_history_size(s.local_path)))
            pairs.append(("offline", "log, diff, show, restore, blame and merge-file work on the file"))
            display(render.fields("crdt status (offline)", pairs))
            return
        sections = []
        try:  # joined first, so the server counts this kernel among the connections
            client: RoomClient | None = self.client(s)
        except (RoomClientError, ServerError) as e:
            client, join_error = None, str(e)
        st = s.crdt_api("GET", "status")
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
            cells = client.call(lambda: _cell_indices(client.doc))
        rows = []
        for p in presence:
            user = p["state"].get("user") if isinstance(p["state"].get("user"), dict) else {}
            who = (user.get("display_name") or user.get("name") or user.get("username")
                   or f"client {p['client']}")
            cell = p["cell"]
            where = f"cell {cells[cell]} ({cell})" if cell in cells else (cell or "-")
            rows.append((who, where))
        sections.append(render.table("who is where", ["who", "cell"], rows,
                                     empty="(no one else in the room)"))
        display(render.fields(f"crdt status: {s.api_path}", pairs, sections=sections))

    @staticmethod
    def _offline_history_size(path: Path) -> str:
        from jupyter_crdt.history import NotebookHistory, has_history, sidecar_path

        if not has_history(path):
            return "no history yet (no sidecar)"
        with warnings.catch_warnings():
            warnings.simplefilter("ignore")
            nh = NotebookHistory.open(path, writable=False, sync=False)
        try:
            return f"{len(nh.history)} changes in {sidecar_path(path).name}"
        finally:
            nh.close()

    # -- log -----------------------------------------------------------------------------------

    def _cmd_log(self, args: argparse.Namespace) -> None:
        s = self.session(args)
        if args.max_count is not None and args.max_count < 1:
            _fail("log", "-n must be at least 1")
        if s.online:
            entries = self._log_entries(s)
            if args.cell:
                touching = self._changes_touching(s, args.cell, entries)
                entries = [e for e in entries if e.get("id") in touching]
            title = f"crdt log: {s.api_path}" + (f" (branch {s.branch})" if s.branch != MAIN else "")
        else:
            entries = self._offline_log(args, s, cell=args.cell)
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

    def _changes_touching(self, s: KernelSession, cell: str, entries: list[dict]) -> set[str]:
        """Hashes of the changes touching ``cell`` (read from the notebook's history sidecar)."""
        if not any(e.get("id") for e in entries):
            _fail("log", "--cell needs change hashes in the server's log, which this server does not send")
        if s.local_path is None:
            _fail("log", "--cell needs the notebook's history file, which this kernel cannot see")
        summaries = self._summaries(s.local_path)
        return {x.change.hash for x in summaries if cell in _cells_of(x)}

    @staticmethod
    def _summaries(path: Path) -> list:
        from jupyter_crdt.history import NotebookHistory
        from jupyter_crdt.history.log import summarize

        with warnings.catch_warnings():
            warnings.simplefilter("ignore")
            with NotebookHistory.open(path, writable=False) as nh:
                return summarize(nh.history, nh.main)

    def _offline_log(self, args: argparse.Namespace, s: KernelSession, cell: str | None = None) -> list[dict]:
        path = self._local(args, s)
        out = []
        for i, x in enumerate(self._summaries(path)):
            if cell is not None and cell not in _cells_of(x):
                continue
            out.append({"seq": i + 1, "id": x.change.hash, "author": x.change.author, "time": x.change.time,
                        "summary": x.text() if x.visible else BOOKKEEPING})
        return out

    # -- versions offline ----------------------------------------------------------------------

    @contextlib.contextmanager
    def _offline_history(self, args: argparse.Namespace, s: KernelSession) -> Any:
        from jupyter_crdt.history import NotebookHistory

        path = self._local(args, s)
        with warnings.catch_warnings():
            warnings.simplefilter("ignore")
            nh = NotebookHistory.open(path, writable=False)
        try:
            yield nh
        finally:
            nh.close()

    @staticmethod
    def _offline_version(command: str, nh: Any, rev: str) -> frozenset[str]:
        from jupyter_crdt.history.log import summarize
        from jupyter_crdt.history.versions import RevisionError, resolve

        if rev.isdigit():
            changes = summarize(nh.history, nh.main)
            n = int(rev)
            if not 1 <= n <= len(changes):
                _fail(command, f"unknown revision {rev!r}: changes are numbered 1 to {len(changes)}")
            return frozenset((changes[n - 1].change.hash,))
        try:
            return resolve(nh.history, rev)
        except RevisionError as e:
            _fail(command, f"unknown revision {rev!r}: {e}")

    # -- diff, show, restore --------------------------------------------------------------------

    def _cmd_diff(self, args: argparse.Namespace) -> None:
        s = self.session(args)
        rev2 = args.rev2 or "HEAD"
        if s.online:
            entries = self._log_entries(s)
            to = resolve_seq("diff", rev2, entries)
            if args.rev1:
                frm = resolve_seq("diff", args.rev1, entries)
            else:  # the newest change the log shows
                frm = resolve_seq("diff", "HEAD~1", entries) if len(visible(entries)) > 1 else 1
            body = s.crdt_api("GET", "diff", query={"from": frm, "to": to})
            cells = [{**c, "index": c.get("index")} for c in body.get("cells", [])]
            display(render.diff_report(f"crdt diff {frm}..{to}: {s.api_path}", cells))
            return
        from jupyter_crdt.history import notebook_at
        from jupyter_crdt.notebook import diff_notebooks

        with self._offline_history(args, s) as nh:
            v2 = self._offline_version("diff", nh, rev2)
            if args.rev1:
                v1 = self._offline_version("diff", nh, args.rev1)
            else:
                shown = visible(self._offline_log(args, s))
                v1 = self._offline_version("diff", nh, "HEAD~1") if len(shown) > 1 else None
            empty = {"cells": [], "metadata": {}, "nbformat": 4, "nbformat_minor": 5}
            with warnings.catch_warnings():
                warnings.simplefilter("ignore")
                a = notebook_at(nh.history, v1) if v1 is not None else empty
                b = notebook_at(nh.history, v2)
        d = diff_notebooks(a, b)
        cells = []
        for c in d.cells:
            notes = []
            if c.moved:
                notes.append(f"moved from {c.a_index}")
            if c.outputs is not None:
                notes.append(f"outputs {c.outputs[0]} -> {c.outputs[1]}")
            notes.extend(c.fields)
            cells.append({"id": c.id, "status": "removed" if c.op == "deleted" else c.op, "diff": c.source,
                          "cell_type": c.cell_type,
                          "index": c.b_index if c.b_index is not None else c.a_index,
                          "notes": notes})
        extra = ([f"notebook metadata changed: {', '.join(d.metadata)}"] if d.metadata else []) + \
                ([f"notebook fields changed: {', '.join(d.fields)}"] if d.fields else [])
        label1 = args.rev1 or ("HEAD~1" if v1 is not None else "(empty)")
        title = f"crdt diff {label1}..{rev2}: {s.local_path} (offline)"
        display(render.diff_report(title, cells, extra=extra))

    def _cmd_show(self, args: argparse.Namespace) -> None:
        s = self.session(args)
        if s.online:
            seq = resolve_seq("show", args.rev, self._log_entries(s))
            body = s.crdt_api("GET", "show", query={"seq": seq})
            display(render.notebook_report(f"crdt show {seq}: {s.api_path}", body.get("content") or {}))
            return
        with self._offline_history(args, s) as nh:
            version = self._offline_version("show", nh, args.rev)
            with warnings.catch_warnings():
                warnings.simplefilter("ignore")
                nb = nh.notebook(version)
        display(render.notebook_report(f"crdt show {args.rev}: {s.local_path} (offline)", nb))

    def _cmd_restore(self, args: argparse.Namespace) -> None:
        s = self.session(args)
        if s.online:
            seq = resolve_seq("restore", args.rev, self._log_entries(s))
            s.crdt_api("POST", "restore", {"seq": seq})
            display(render.message(f"restored {s.api_path} to change {seq}, as a new change "
                                   "(live for everyone)"))
            return
        from jupyter_crdt import cli

        path = self._local(args, s)
        with self._offline_history(args, s) as nh:
            version = self._offline_version("restore", nh, args.rev)
        ns = argparse.Namespace(notebook=str(path), rev=",".join(sorted(version)), message=None, author=None)
        if len(version) != 1:
            ns.rev = args.rev
        out = self._run_cli("restore", cli.cmd_restore, ns)
        display(render.message(out.strip() + " (offline: written to the file and its history)"))

    @staticmethod
    def _run_cli(command: str, func: Callable[[argparse.Namespace], int], ns: argparse.Namespace) -> str:
        """Run a ``jupyter crdt`` command function, returning what it printed (errors as UsageError)."""
        from crdt import HistoryFileError, HistoryLockedError
        from jupyter_crdt.cli import CliError, _locked_message
        from jupyter_crdt.history import NoCommonHistory
        from jupyter_crdt.history.versions import RevisionError
        from jupyter_crdt.notebook import NotebookFormatError

        out, err = io.StringIO(), io.StringIO()
        try:
            with contextlib.redirect_stdout(out), contextlib.redirect_stderr(err), warnings.catch_warnings():
                warnings.simplefilter("ignore")
                func(ns)
        except HistoryLockedError as e:
            _fail(command, _locked_message(e.path))
        except (CliError, NotebookFormatError, HistoryFileError, RevisionError, FileNotFoundError,
                PermissionError, NoCommonHistory) as e:
            _fail(command, str(e))
        return out.getvalue()

    # -- blame ---------------------------------------------------------------------------------

    def _cmd_blame(self, args: argparse.Namespace) -> None:
        s = self.session(args)
        cell = args.cell or self.current_cell_id()
        if not cell:
            _fail("blame", "give a cell id: this kernel cannot tell which cell is running")
        if s.online:
            body = s.crdt_api("GET", "blame", query={"cell": cell})
            lines = []
            for i, ln in enumerate(body.get("lines", [])):
                line = ln.get("line")
                text = ln.get("text", line if isinstance(line, str) else "")
                number = ln.get("number", line if isinstance(line, int) else i + 1)
                lines.append({"number": number, "text": text, "author": ln.get("author"),
                              "time": ln.get("time")})
            display(render.blame_report(f"crdt blame: cell {body.get('cell', cell)} of {s.api_path}", lines))
            return
        from jupyter_crdt.history.blame import CellNotFound, blame_cell

        with self._offline_history(args, s) as nh:
            try:
                index, info, blamed = blame_cell(nh.history, nh.doc, cell)
            except CellNotFound as e:
                _fail("blame", str(e))
        lines = []
        for ln in blamed:
            newest = ln.newest
            lines.append({"number": ln.number, "text": ln.text, "author": newest.author if newest else None,
                          "time": newest.time if newest else None})
        title = f"crdt blame: cell {index} ({info.get('id')}) of {s.local_path} (offline)"
        display(render.blame_report(title, lines))

    # -- branches ------------------------------------------------------------------------------

    def _branches(self, s: KernelSession) -> list[dict]:
        body = s.crdt_api("GET", "branches", branch=False)
        return list(body.get("branches", [])) if isinstance(body, dict) else []

    def _check_branch(self, command: str, s: KernelSession, name: str) -> None:
        if not _BRANCH_NAME.match(name):
            _fail(command, f"{name!r} is not a valid branch name (letters, digits, '.', '_', '-')")
        if name == MAIN:
            return
        names = [b.get("name") for b in self._branches(s)]
        if name not in names:
            known = ", ".join(n for n in names if n) or "none but main"
            _fail(command, f"no branch {name!r} (branches: {known})")

    def _cmd_branch(self, args: argparse.Namespace) -> None:
        s = self.session(args)
        self._need_server(args, s, "branches (the server's branch rooms)")
        if args.name is None:
            branches = self._branches(s)
            if not any(b.get("name") == MAIN for b in branches):
                branches.insert(0, {"name": MAIN})
            rows = [("*" if b.get("name") == s.branch else "", b.get("name"), b.get("changes", ""),
                     b.get("ahead", ""), b.get("roomId", "")) for b in branches]
            columns = ["", "branch", "changes", "ahead of main", "room"]
            display(render.table(f"crdt branches: {s.api_path}", columns, rows))
            return
        if not _BRANCH_NAME.match(args.name) or args.name == MAIN:
            _fail("branch", f"{args.name!r} is not a valid name for a new branch")
        body = s.crdt_api("POST", "branches", {"name": args.name, "from": s.branch}, branch=False)
        room = body.get("roomId", "") if isinstance(body, dict) else ""
        where = f" (room {room})" if room else ""
        display(render.message(f"created branch {args.name} from {s.branch}{where}; "
                               f"`%crdt checkout {args.name}` to work on it"))

    def _cmd_checkout(self, args: argparse.Namespace) -> None:
        s = self.session(args)
        self._need_server(args, s, "checkout (the server's branch rooms)")
        self._check_branch("checkout", s, args.name)
        s.branch = args.name
        display(render.message(f"this kernel's %crdt commands and shared values now act on branch "
                               f"{args.name}"))

    def _cmd_merge(self, args: argparse.Namespace) -> None:
        s = self.session(args)
        self._need_server(args, s, "merging branches")
        if args.name == s.branch:
            _fail("merge", f"cannot merge branch {args.name!r} into itself (it is the current branch)")
        self._check_branch("merge", s, args.name)
        body = s.crdt_api("POST", "branches", {"from": args.name, "into": s.branch}, suffix="/merge",
                          branch=False)
        body = body if isinstance(body, dict) else {}
        lines = [f"merged branch {args.name} into {s.branch} (live for everyone on {s.branch})"
                 + (" with conflicts" if body.get("conflicts") else "")]
        lines += [f"  conflict: {c}" for c in body.get("conflicts") or []]
        lines += [f"  note: {n}" for n in body.get("notes") or []]
        display(render.message("\n".join(lines)))

    def _cmd_merge_file(self, args: argparse.Namespace) -> None:
        from jupyter_crdt.history.sidecar import has_history, sidecar_path

        s = self.session(args)
        other = Path(args.path).expanduser()
        if not other.is_file():
            _fail("merge-file", f"no file at {args.path}")
        if s.online:
            try:
                nb = json.loads(other.read_text(encoding="utf-8"))
            except (OSError, ValueError) as e:
                _fail("merge-file", f"{args.path} is not a notebook ({e})")
            history = None
            if has_history(other):
                history = base64.b64encode(sidecar_path(other).read_bytes()).decode("ascii")
            try:
                body = s.crdt_api("POST", "merge", {"notebook": nb, "history": history})
            except ServerError as e:
                if e.status in (404, 405) and "does not exist" not in e.message:
                    _fail("merge-file", f"this server has no /api/crdt/merge endpoint ({e.message}); "
                          "merge the copy with `jupyter crdt merge` while the notebook is closed")
                raise
            body = body if isinstance(body, dict) else {}
            if body.get("upToDate"):
                text = f"{s.api_path} already holds everything in {args.path}"
            else:
                text = (f"merged {args.path} into {s.api_path} (live for everyone"
                        + (", with its history)" if history else ", three-way)")
                        + (" with conflicts" if body.get("conflicts") else ""))
            extra = [f"  {k[:-1]}: {c}" for k in ("conflicts", "notes") for c in body.get(k) or []]
            display(render.message("\n".join([text, *extra])))
            return
        from jupyter_crdt import cli

        path = self._local(args, s)
        ns = argparse.Namespace(notebook=str(path), other=str(other), output=None, base=None, author=None,
                                json=True)
        raw = self._run_cli("merge-file", cli.cmd_merge, ns)
        try:
            result = json.loads(raw)
        except ValueError:
            result = {"clean": True, "conflicts": [], "notes": [raw.strip()]}
        lines = [f"merged {args.path} into {path} (offline: written to the file and its history)"
                 + ("" if result.get("clean", True) else " with conflicts")]
        lines += [f"  conflict: {c}" for c in result.get("conflicts", [])]
        lines += [f"  note: {n}" for n in result.get("notes", [])]
        display(render.message("\n".join(lines)))

    # -- shared values -------------------------------------------------------------------------

    def _cmd_share(self, args: argparse.Namespace) -> None:
        if _SECRET_NAME.search(args.name) and not args.force:
            _fail("share", f"{args.name!r} looks like a secret's name, and shared values are stored in the "
                  "notebook's history (which is often committed); pass --force to share it anyway")
        s = self.session(args)
        self._need_server(args, s, "sharing values (they live in the live notebook's document)")
        if args.name not in self.shell.user_ns:
            _fail("share", f"no variable {args.name!r} in this kernel")
        value = self.shell.user_ns[args.name]
        if isinstance(value, SharedText):
            value = str(value)
        client = self.client(s)
        try:
            client.set_shared(args.name, value, text=args.text)
        except ValueError as e:
            _fail("share", f"{e}; share it with --text, or share a JSON-like value")
        self._bind(s, client, args.name)
        kind = "a collaborative text" if args.text else "a value"
        display(render.message(f"shared {args.name} as {kind} on branch {s.branch}: every collaborator's "
                               f"kernel reads it with `%crdt get {args.name}`"))

    def _cmd_get(self, args: argparse.Namespace) -> Any:
        s = self.session(args)
        self._need_server(args, s, "shared values (they live in the live notebook's document)")
        client = self.client(s)
        try:
            value = client.get_shared(args.name)
        except KeyError:
            names = client.shared_names()
            _fail("get", f"no shared value {args.name!r} (shared: {', '.join(names) if names else 'none'})")
        self._bind(s, client, args.name)
        return value

    def _bind(self, s: KernelSession, client: RoomClient, name: str) -> None:
        """Keep the variable ``name`` and the shared value in step (both ways) from now on."""
        value = client.get_shared(name)
        self.shell.user_ns[name] = value
        if isinstance(value, SharedText):
            self._bound.pop((s.branch, name), None)
        else:
            self._bound[(s.branch, name)] = value
        if s.branch not in self._observed:
            self._observed.add(s.branch)
            branch = s.branch

            def on_remote(changed: dict[str, Any]) -> None:
                # runs on the client's thread: a dict assignment is atomic under the GIL
                for key, val in changed.items():
                    if (branch, key) in self._bound:
                        self._bound[(branch, key)] = val
                        self.shell.user_ns[key] = val

            client.observe_shared(on_remote)

    def _push_bound(self, result: Any = None) -> None:
        """After each cell: send the bound variables this kernel changed."""
        for (branch, name), last in list(self._bound.items()):
            client = self._clients.get(branch)
            if client is None or not client.alive or name not in self.shell.user_ns:
                continue
            value = self.shell.user_ns[name]
            if _same_json(value, last):
                continue
            try:
                client.set_shared(name, value)
                self._bound[(branch, name)] = json.loads(json.dumps(value))
            except (ValueError, RoomClientError) as e:
                print(f"%crdt: could not share the new value of {name}: {e}")


def _same_json(a: Any, b: Any) -> bool:
    try:
        return json.dumps(a, sort_keys=True) == json.dumps(b, sort_keys=True)
    except (TypeError, ValueError):
        return False


def _cells_of(summary: Any) -> set[str]:
    """Ids of the cells a change summary says were added, deleted or edited."""
    ids = {cid for cid, _t, _i in summary.added} | {cid for cid, _t in summary.deleted}
    ids |= {e.id for e in summary.edited.values()}
    return {i for i in ids if isinstance(i, str)}


def _cell_indices(doc: Any) -> dict[str, int]:
    """Cell id -> index in the live document (on the client's thread)."""
    out = {}
    for i, cell in enumerate(doc.get_array("cells")):
        cid = cell.get("id") if hasattr(cell, "get") else None
        if isinstance(cid, str):
            out[cid] = i
    return out


def load_ipython_extension(ipython: Any) -> None:
    """``%load_ext jupyter_crdt``: register ``%crdt``."""
    magics = CrdtMagics(ipython)
    ipython.register_magics(magics)
    ipython._jupyter_crdt_magics = magics


def unload_ipython_extension(ipython: Any) -> None:
    """``%unload_ext jupyter_crdt``: leave the rooms."""
    magics = getattr(ipython, "_jupyter_crdt_magics", None)
    if magics is not None:
        magics.close()


__all__ = ["CrdtMagics", "build_parser", "load_ipython_extension", "resolve_seq", "unload_ipython_extension"]
