"""The ``%crdt`` line magic: parse the line, run the subcommand, turn its failures into one-line errors."""

from __future__ import annotations

import argparse
import contextlib
import shlex
from collections.abc import Callable
from typing import Any

from IPython.core.error import UsageError
from IPython.core.magic import Magics, line_magic, magics_class

from crdt import HistoryFileError, HistoryLockedError
from jupyter_crdt.client import RoomClientError, ServerError
from jupyter_crdt.magics import branches, commands
from jupyter_crdt.magics.connection import KernelConnection
from jupyter_crdt.magics.parser import HelpShown, build_parser, fail
from jupyter_crdt.magics.shared import SharedValues

__all__ = ["CrdtMagics"]

Command = Callable[[KernelConnection, argparse.Namespace], Any]


@magics_class
class CrdtMagics(Magics):
    """The ``%crdt`` line magic and the state it keeps: the session, room connections, shared values."""

    def __init__(self, shell: Any) -> None:
        super().__init__(shell)
        self.connection = KernelConnection(shell)
        self.shared = SharedValues(self.connection)
        self._commands: dict[str, Command] = {
            "status": commands.status,
            "log": commands.log,
            "diff": commands.diff,
            "show": commands.show,
            "restore": commands.restore,
            "blame": commands.blame,
            "branch": branches.branch,
            "checkout": branches.checkout,
            "merge": branches.merge,
            "merge-file": branches.merge_file,
            "share": self.shared.share,
            "get": self.shared.get,
        }
        shell.events.register("post_run_cell", self.shared.push)

    @line_magic
    def crdt(self, line: str) -> Any:
        """Collaboration history and shared values of this notebook. ``%crdt --help`` lists the commands."""
        try:
            argv = shlex.split(line)
        except ValueError as e:
            raise UsageError(f"%crdt: {e}") from None
        try:
            args = build_parser().parse_args(argv)
        except HelpShown:
            return None
        try:
            return self._commands[args.command](self.connection, args)
        except ServerError as e:
            fail(args.command, e.message)
        except RoomClientError as e:
            fail(args.command, str(e))
        except HistoryLockedError as e:
            fail(args.command, f"the history of the notebook is in use by another program ({e.path})")
        except (HistoryFileError, FileNotFoundError, PermissionError) as e:  # offline: also offline._command
            fail(args.command, str(e))

    def close(self) -> None:
        """Leave every room (on unloading the extension)."""
        self.connection.close()
        if self.shell is not None:
            with contextlib.suppress(ValueError):
                self.shell.events.unregister("post_run_cell", self.shared.push)
