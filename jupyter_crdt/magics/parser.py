"""The ``%crdt`` argument parser (defined with the command line's in :mod:`jupyter_crdt.args`), its errors
as IPython's one-line ``UsageError`` instead of exiting the kernel, and revisions as the magics name them."""

from __future__ import annotations

import argparse
import re
from collections.abc import Sequence
from typing import NoReturn

from IPython.core.error import UsageError

from jupyter_crdt.args import MAGIC
from jupyter_crdt.args import build_parser as _build_parser

__all__ = ["BOOKKEEPING", "HelpShown", "build_parser", "fail", "resolve_seq", "visible"]

#: The summary the history gives a change that only touched bookkeeping (not part of the file).
BOOKKEEPING = "bookkeeping only"
_HASH = re.compile(r"^[0-9a-fA-F]{4,}$")
_TILDE = re.compile(r"^(HEAD|@)~(\d*)$")


class HelpShown(Exception):
    """``--help`` was printed: the magic ends without a result."""


class _Parser(argparse.ArgumentParser):
    """argparse that reports errors as a one-line ``UsageError`` instead of exiting the kernel."""

    def error(self, message: str) -> NoReturn:
        raise UsageError(f"%{self.prog}: {message}")

    def exit(self, status: int = 0, message: str | None = None) -> NoReturn:
        if message:
            print(message, end="")
        raise HelpShown


def build_parser() -> argparse.ArgumentParser:
    """The ``%crdt`` argument parser (one subparser per subcommand)."""
    return _build_parser(MAGIC, _Parser)


def fail(command: str, message: str) -> NoReturn:
    """End ``%crdt COMMAND`` with a one-line error."""
    raise UsageError(f"%crdt {command}: {message}")


def visible(entries: Sequence[dict]) -> list[dict]:
    """The entries ``%crdt log`` shows: not those only touching the server's bookkeeping."""
    return [e for e in entries if e.get("summary") != BOOKKEEPING]


def resolve_seq(command: str, rev: str, entries: Sequence[dict]) -> int:
    """The change number ``rev`` names among the server's log ``entries`` (oldest first)."""
    n = len(entries)
    if n == 0:
        fail(command, "the history is empty")
    if rev in ("HEAD", "@"):
        return int(entries[-1]["seq"])
    m = _TILDE.match(rev)
    if m:
        shown = visible(entries)  # counted as the log shows them
        back = int(m.group(2) or 1)
        if back >= len(shown):
            fail(command, f"unknown revision {rev!r}: the log shows only {len(shown)} change(s)")
        return int(shown[len(shown) - 1 - back]["seq"])
    if rev.isdigit():
        seqs = {int(e["seq"]) for e in entries}
        if int(rev) not in seqs:
            fail(command, f"unknown revision {rev!r}: changes are numbered 1 to {n}")
        return int(rev)
    if _HASH.match(rev):
        found = [e for e in entries if str(e.get("id") or "").startswith(rev.lower())]
        if len(found) == 1:
            return int(found[0]["seq"])
        if len(found) > 1:
            fail(command, f"revision {rev!r} is ambiguous ({len(found)} changes start with it)")
        if not any(e.get("id") for e in entries):
            fail(command, f"unknown revision {rev!r}: the server's log has no change hashes, give a number")
    fail(command, f"unknown revision {rev!r} (give a change number, HEAD, HEAD~N or a hash prefix)")
