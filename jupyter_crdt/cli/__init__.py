"""``jupyter crdt``: notebook histories on the command line (documented in ``docs/cli.md``).

A thin shell over the library: the arguments are :mod:`jupyter_crdt.args`' (shared with the ``%crdt``
magics), the work is :mod:`jupyter_crdt.history`'s, and a change to a notebook a running server has open
goes through :mod:`jupyter_crdt.client`. The modules here only print: ``read`` (log, show, diff, blame),
``write`` (restore, merge), ``maintenance`` (git, squash, purge, recover, mv).

Installed as the console script ``jupyter-crdt``, so ``jupyter crdt COMMAND ...`` works (Jupyter runs
``jupyter-<subcommand>``); ``python -m jupyter_crdt.cli`` is the same. Every command has ``--help``.

Exit status: 0 success (and a clean merge), 1 a merge with true conflicts, 2 an error.
"""

from __future__ import annotations

import argparse
import os
import sys
from collections.abc import Callable, Sequence

from crdt import DecodeError, HistoryFileError, HistoryLockedError, MissingDependencyError, UnsafeFileError
from jupyter_crdt.args import CLI
from jupyter_crdt.args import build_parser as _build_parser
from jupyter_crdt.cli import maintenance, read, write
from jupyter_crdt.cli.common import EXIT_CONFLICT, EXIT_ERROR, EXIT_OK, CliError
from jupyter_crdt.history import NoCommonHistory, is_sidecar, notebook_path_of
from jupyter_crdt.history.offline import locked_message
from jupyter_crdt.history.versions import RevisionError
from jupyter_crdt.notebook.normalize import NotebookFormatError

__all__ = ["COMMANDS", "EXIT_CONFLICT", "EXIT_ERROR", "EXIT_OK", "CliError", "build_parser", "main"]

#: Each subcommand's function: it prints its output and returns the exit status.
COMMANDS: dict[str, Callable[[argparse.Namespace], int]] = {
    "log": read.cmd_log,
    "show": read.cmd_show,
    "diff": read.cmd_diff,
    "blame": read.cmd_blame,
    "restore": write.cmd_restore,
    "merge": write.cmd_merge,
    "config-git": maintenance.cmd_config_git,
    "squash": maintenance.cmd_squash,
    "purge": maintenance.cmd_purge,
    "recover": maintenance.cmd_recover,
    "mv": maintenance.cmd_mv,
    "git-merge-driver": maintenance.cmd_git_merge_driver,
    "git-diff-driver": maintenance.cmd_git_diff_driver,
    "git-textconv-history": maintenance.cmd_git_textconv,
}


def build_parser() -> argparse.ArgumentParser:
    """The ``jupyter crdt`` argument parser (``args.command`` names the subcommand)."""
    return _build_parser(CLI)


def main(argv: Sequence[str] | None = None) -> int:
    """Run ``jupyter crdt ARGV``; returns the exit status (errors are one line on stderr)."""
    args = build_parser().parse_args(argv)
    try:
        return int(COMMANDS[args.command](args) or 0)
    except CliError as e:
        print(f"jupyter crdt {args.command}: {e}", file=sys.stderr)
    except HistoryLockedError as e:
        print(f"jupyter crdt {args.command}: {locked_message(e.path)}", file=sys.stderr)
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
