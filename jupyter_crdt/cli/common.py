"""What the commands of ``jupyter crdt`` share: exit codes, the one-line error, opening a history to read or
to write (or the running server that has it open), and the bits of output formatting."""

from __future__ import annotations

import argparse
import os
import sys
import time
from typing import Any

from crdt import HistoryLockedError
from jupyter_crdt.client import NotebookSession, ServerError, find_server
from jupyter_crdt.history import NotebookHistory, sidecar_path
from jupyter_crdt.history.offline import default_author, locked_message
from jupyter_crdt.history.text import TextHistory, convert_log, is_text_file
from jupyter_crdt.history.versions import resolve

EXIT_OK, EXIT_CONFLICT, EXIT_ERROR = 0, 1, 2


class CliError(Exception):
    """An error to report in one line (exit status 2)."""


def author(args: argparse.Namespace) -> str:
    """``--author``, else the library's default (``$JUPYTER_CRDT_AUTHOR``, git's ``user.name``, login)."""
    if getattr(args, "author", None):
        return str(args.author)
    return default_author()


def notebooks_only(path: str, command: str) -> None:
    if is_text_file(path):
        raise CliError(f"{command} works on notebooks; for a text file's history use log and show")


def open_read(path: str) -> NotebookHistory | TextHistory:
    """The history for a reading command, read without writing anything (a git checkout stays clean).

    No lock is taken and the sidecar is never changed: a torn tail is ignored (and reported), and an
    edit made to the file outside Jupyter is recorded in memory only, shown as a pending ``disk`` change
    (the next command or server that writes the history records it). A text file's is a
    ``TextHistory`` (an old ``.crdtlog`` is converted first, when the sidecar is free: the one
    exception, a one-time change of format)."""
    kind: type[NotebookHistory | TextHistory] = NotebookHistory
    if is_text_file(path):
        kind = TextHistory
        try:
            convert_log(path)
        except HistoryLockedError:
            pass  # a server (of an earlier version) is writing the old log; it converts it when it reopens it
    nh = kind.open(path, writable=False)
    report_notes(nh)
    return nh


def report_notes(nh: NotebookHistory | TextHistory) -> None:
    """What opening the history found (a torn tail, a file the history could not explain), on stderr."""
    for note in nh.notes:
        print(f"warning: {note}", file=sys.stderr)
    for c in nh.pending:
        print(f"note: {nh.path} was changed outside Jupyter; shown as pending change {c.short} "
              f"({c.kind}), recorded when the history is next written", file=sys.stderr)


def open_write(path: str, args: argparse.Namespace) -> NotebookHistory:
    try:
        return NotebookHistory.open(path, author=author(args))
    except HistoryLockedError:
        raise CliError(locked_message(path)) from None


def server_holding(path: str) -> NotebookSession:
    """The running Jupyter server that has ``path``'s history open (its lock is held), for a write command.

    ``restore`` and ``merge`` then go through that server's REST API, so the change reaches every client
    of the live notebook and its history. Reading commands read the sidecar without the lock instead
    (journal records included, so they show every edit the server acknowledged). No such server: the
    one-line error saying the history is in use."""
    server = find_server(path, sidecar_path(path))
    if server is None or server.server is None:
        raise CliError(locked_message(path))
    print(f"note: {path} is open in the Jupyter server at {server.server.url}: the change goes through it",
          file=sys.stderr)
    return server


def call(session: NotebookSession, method: str, what: str, body: Any = None) -> Any:
    """A REST call to the notebook's server; its failure as a one-line error."""
    try:
        return session.call(method, what, body)
    except ServerError as e:
        url = session.server.url if session.server is not None else ""
        if e.status == 0:
            raise CliError(e.message) from None
        raise CliError(f"the Jupyter server at {url} answered {e.status}: {e.message}") from None


def resolve_rev(nh: NotebookHistory | TextHistory, rev: str | None) -> frozenset[str]:
    """The version REV names in the history (``HEAD`` when None)."""
    return resolve(nh.history, rev)


def when(t: float) -> str:
    if t <= 0:
        return "(file import)      "
    return time.strftime("%Y-%m-%d %H:%M:%S", time.localtime(t))


def tty(stream: Any = None) -> bool:
    stream = stream or sys.stdout
    return bool(getattr(stream, "isatty", None) and stream.isatty()) and not os.environ.get("NO_COLOR")


def yellow(s: str, on: bool) -> str:
    return f"\x1b[33m{s}\x1b[0m" if on else s


def confirm(args: argparse.Namespace, question: str) -> bool:
    if args.yes:
        return True
    if not sys.stdin.isatty():
        print("not confirmed: pass --yes to run this without a terminal", file=sys.stderr)
        return False
    return input(f"{question} [y/N] ").strip().lower() in ("y", "yes")
