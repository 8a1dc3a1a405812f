"""The subcommands of ``jupyter crdt`` and ``%crdt`` and their arguments, defined once for both shells.

The command line (:mod:`jupyter_crdt.cli`) and the magics (:mod:`jupyter_crdt.magics`) share ``log``,
``diff``, ``show``, ``restore`` and ``blame`` (and merging a copy: ``merge`` / ``merge-file``); each
subcommand is defined here once, with the arguments of both shells, and :func:`build_parser` builds the
parser of one shell from the table. What differs between them is only what a shell can know: the
command line names the notebook as its first argument, a kernel knows its own (``--notebook`` overrides);
the command line prints JSON and colours, the magics display tables; the magics' REV may be a change
number, as ``%crdt log`` numbers them.

Imports only the standard library and the version (the magics load it in a light kernel).
"""

from __future__ import annotations

import argparse
from collections.abc import Callable
from dataclasses import dataclass
from typing import Literal

from jupyter_crdt.version import __version__

__all__ = ["CLI", "COMMANDS", "MAGIC", "Shell", "build_parser"]

Shell = Literal["cli", "magic"]
CLI: Shell = "cli"
MAGIC: Shell = "magic"
BOTH: tuple[Shell, ...] = (CLI, MAGIC)

Adder = Callable[[argparse.ArgumentParser, Shell], None]


@dataclass(frozen=True)
class Command:
    """One subcommand: its name, one-line help, longer description, arguments and the shells having it."""

    name: str
    help: str
    add_arguments: Adder
    shells: tuple[Shell, ...] = BOTH
    description: str | None = None
    hidden: bool = False  # not listed in the top-level help (the git drivers)


def _notebook(p: argparse.ArgumentParser, shell: Shell, help: str | None = None) -> None:
    """The notebook acted on: the command line's first argument, the kernel's own notebook otherwise."""
    if shell == CLI:
        p.add_argument("notebook", help=help)
    else:
        p.add_argument("--notebook", default=None, metavar="PATH",
                       help="the notebook (default: the one this kernel runs for)")


def _author(p: argparse.ArgumentParser, help: str | None = None) -> None:
    p.add_argument("--author", default=None, help=help)


def _confirm(p: argparse.ArgumentParser) -> None:
    p.add_argument("-y", "--yes", action="store_true", help="do not ask for confirmation")


# -- the subcommands both shells have -------------------------------------------------------------------


def _log(p: argparse.ArgumentParser, shell: Shell) -> None:
    _notebook(p, shell, "the .ipynb file (or a text file: its history is kept the same way)")
    if shell == CLI:
        p.add_argument("--rev", default=None, help="show the history of this version (default: HEAD)")
        p.add_argument("--group", nargs="?", type=float, const=30.0, default=None, metavar="MINUTES",
                       help="join consecutive changes of one author at most MINUTES apart (default 30)")
    p.add_argument("--all", action="store_true", help="also list the changes touching only bookkeeping")
    p.add_argument("-n", "--max-count", type=int, default=None, metavar="N", help="the N newest changes")
    if shell == CLI:
        p.add_argument("--json", action="store_true", help="machine-readable output")
    else:
        p.add_argument("--author", default=None, help="only changes by this author")
        p.add_argument("--cell", default=None, metavar="ID", help="only changes touching this cell")


def _diff(p: argparse.ArgumentParser, shell: Shell) -> None:
    _notebook(p, shell)
    p.add_argument("rev1", nargs="?", default=None, metavar="REV1")
    p.add_argument("rev2", nargs="?", default=None, metavar="REV2")
    if shell == CLI:
        p.add_argument("--json", action="store_true", help="machine-readable output")
        p.add_argument("--color", dest="color", action="store_true", default=None, help="colour the output")
        p.add_argument("--no-color", dest="color", action="store_false", help="never colour the output")


def _show(p: argparse.ArgumentParser, shell: Shell) -> None:
    _notebook(p, shell)
    if shell == CLI:
        p.add_argument("--at", default=None, metavar="REV", help="the version (default: HEAD)")
        p.add_argument("-o", "--output", default=None, help="write to this file instead of stdout")
    else:
        p.add_argument("rev", metavar="REV")


def _restore(p: argparse.ArgumentParser, shell: Shell) -> None:
    _notebook(p, shell)
    p.add_argument("rev", metavar="REV")
    if shell == CLI:
        p.add_argument("-m", "--message", default=None)
        _author(p, "default: $JUPYTER_CRDT_AUTHOR, git's user.name, login")


def _blame(p: argparse.ArgumentParser, shell: Shell) -> None:
    _notebook(p, shell)
    if shell == CLI:
        p.add_argument("cell", help="a cell id, a unique prefix of one, or an index (from 0)")
        p.add_argument("--at", default=None, metavar="REV")
        p.add_argument("--json", action="store_true", help="per line, runs of characters with their change")
    else:
        p.add_argument("cell", nargs="?", default=None, metavar="CELL",
                       help="a cell id, a prefix, or an index (default: the cell running this)")


def _merge_copy(p: argparse.ArgumentParser, shell: Shell) -> None:
    if shell == CLI:
        p.add_argument("notebook")
        p.add_argument("other")
        p.add_argument("-o", "--output", default=None, help="write the result (and its history) here instead")
        p.add_argument("--base", default=None,
                       help="the common ancestor (forces a three-way merge of the files)")
        _author(p)
        p.add_argument("--json", action="store_true")
    else:
        _notebook(p, shell)
        p.add_argument("path", metavar="PATH")


# -- the command line's own -----------------------------------------------------------------------------


def _config_git(p: argparse.ArgumentParser, shell: Shell) -> None:
    p.add_argument("--disable", action="store_true", help="remove them again")
    p.add_argument("--path", default=None, help="a directory inside the repository (default: here)")


def _squash(p: argparse.ArgumentParser, shell: Shell) -> None:
    p.add_argument("notebook")
    p.add_argument("--before", default=None, metavar="REV")
    _confirm(p)
    _author(p)


def _purge(p: argparse.ArgumentParser, shell: Shell) -> None:
    p.add_argument("notebook")
    p.add_argument("--text", required=True)
    _confirm(p)
    _author(p)


def _recover(p: argparse.ArgumentParser, shell: Shell) -> None:
    p.add_argument("notebook")
    p.add_argument("damaged", nargs="?", default=None)
    _author(p)


def _mv(p: argparse.ArgumentParser, shell: Shell) -> None:
    p.add_argument("source")
    p.add_argument("dest")


def _git_merge_driver(p: argparse.ArgumentParser, shell: Shell) -> None:
    p.add_argument("kind", choices=["notebook", "history"])
    for name in ("base", "ours", "theirs", "path"):
        p.add_argument(name)


def _git_diff_driver(p: argparse.ArgumentParser, shell: Shell) -> None:
    p.add_argument("args", nargs="*")


def _git_textconv(p: argparse.ArgumentParser, shell: Shell) -> None:
    p.add_argument("file")


# -- the magics' own ------------------------------------------------------------------------------------


def _only_notebook(p: argparse.ArgumentParser, shell: Shell) -> None:
    _notebook(p, shell)


def _name(optional: bool = False) -> Adder:
    def add(p: argparse.ArgumentParser, shell: Shell) -> None:
        _notebook(p, shell)
        p.add_argument("name", nargs="?" if optional else None, default=None, metavar="NAME")

    return add


def _share(p: argparse.ArgumentParser, shell: Shell) -> None:
    _name()(p, shell)
    p.add_argument("--text", action="store_true", help="share it as a collaborative text")
    p.add_argument("--force", action="store_true",
                   help="share it even if its name looks like a secret's (it is kept in the history)")


# -- the table ------------------------------------------------------------------------------------------

_C, _M = (CLI,), (MAGIC,)

COMMANDS: tuple[Command, ...] = (
    Command("status", "who is connected and where, unsaved state, history size, branch, server",
            _only_notebook, _M),
    Command("log", "who changed the notebook, when, and what (newest first)", _log, description=(
        "List the changes of the notebook's history, newest first: hash, time, author, kind and a summary "
        "of what changed. Changes that only touch bookkeeping (the server's state) are hidden.")),
    Command("show", "print the notebook as it was at a version", _show, description=(
        "Print (or write with -o) the notebook at REV as an .ipynb file (a text file: its text at REV).")),
    Command("diff", "what changed between two versions", _diff, description=(
        "Cells added, deleted, moved and modified (line-level source diffs) between REV1 and REV2. "
        "Without revisions: the newest change; with one: from REV1 to HEAD.")),
    Command("restore", "make the notebook what it was at a version (as a new change)", _restore, description=(
        "Record a new change that makes the notebook equal to REV; nothing is rewritten, the versions "
        "after REV stay in the history.")),
    Command("blame", "who wrote each line of a cell", _blame, description=(
        "Author and time of each line of a cell's source (the newest change among the line's "
        "characters; other authors of the line in parentheses).")),
    Command("branch", "list the branches, or create NAME from the current branch", _name(optional=True), _M),
    Command("checkout", "make this kernel's magics and shared values act on branch NAME", _name(), _M),
    Command("merge", "merge branch NAME into the current branch", _name(), _M),
    Command("merge", "merge another copy of the notebook into this one", _merge_copy, _C, description=(
        "Merge OTHER into NOTEBOOK. When both have a history: the union of their changes (every edit "
        "once; a cell whose outputs changed on both sides keeps one side's). Otherwise a three-way "
        "merge of the files, with --base or the common version found in the history. Exit 0 when "
        "merged cleanly, 1 on true conflicts.")),
    Command("merge-file", "merge an offline copy of this notebook (with or without history) into it",
            _merge_copy, _M),
    Command("share", "share the variable NAME's value with every collaborator's kernel. The value is "
            "stored in the notebook's history (the .NAME.ipynb.crdt sidecar, often committed with the "
            "notebook): never share a secret. Names that look like one (containing key, token, secret "
            "or password) are refused unless --force", _share, _M),
    Command("get", "the value shared as NAME (and keep the variable NAME in step with it)", _name(), _M),
    Command("config-git", "set up git merge and diff drivers for notebooks and histories", _config_git, _C,
            description="In the current repository: merge and diff drivers for *.ipynb and a merge driver "
            "for the history sidecars (.git/config and .gitattributes)."),
    Command("squash", "fold old changes into one (rewrites the history)", _squash, _C, description=(
        "Replace the changes before REV (default: all) by one change; deleted content is dropped from "
        "the history file. Copies elsewhere keep their history.")),
    Command("purge", "remove a text (a secret, a huge output) from every version", _purge, _C, description=(
        "Remove every occurrence of TEXT from every version in the history file: characters of "
        "sources and streams are deleted, output and metadata strings holding it become \"[purged]\". "
        "Copies elsewhere keep their history.")),
    Command("recover", "bring back what a damaged history still holds", _recover, _C, description=(
        "Read the changes a damaged history file still holds (every record before the damage) into the "
        "notebook's history, keeping what the notebook file holds now as the newest version. DAMAGED: "
        "a history set aside by the server (default: the newest .NAME.crdt.corrupt-*), or the sidecar "
        "itself when it is damaged (it is set aside first). Nothing is deleted.")),
    Command("mv", "rename or move a notebook together with its history", _mv, _C, description=(
        "Move NOTEBOOK to DEST (a file or a directory) with its history sidecar; uses git mv for files "
        "git tracks.")),
    Command("git-merge-driver", "(used by git) merge driver", _git_merge_driver, _C, hidden=True),
    Command("git-diff-driver", "(used by git) diff driver", _git_diff_driver, _C, hidden=True),
    Command("git-textconv-history", "(used by git) history as text", _git_textconv, _C, hidden=True),
)


def build_parser(shell: Shell, parser_class: type[argparse.ArgumentParser] = argparse.ArgumentParser
                 ) -> argparse.ArgumentParser:
    """The argument parser of ``shell``: one subparser per subcommand it has (``args.command`` names it).

    ``parser_class``: the class of the parser and every subparser (the magics' reports errors as a
    ``UsageError`` instead of exiting the kernel)."""
    if shell == CLI:
        p = parser_class(
            prog="jupyter crdt",
            description="Notebook histories: every change of a notebook, kept in a hidden sidecar file "
            "(.NAME.crdt) beside it. Versions, diffs, blame, offline merges and a git merge driver.",
            epilog="REV: HEAD (main), a branch name, a change hash prefix (4+ hex digits), or REV~N (N "
            "visible changes before REV). See docs/cli.md.",
        )
        p.add_argument("--version", action="version", version=f"jupyter-crdt {__version__}")
    else:
        p = parser_class(prog="crdt", description="The notebook's collaboration history, branches and shared "
                         "values.", epilog="REV: a change number (as %crdt log shows), HEAD, HEAD~N, or a "
                         "change hash prefix.")
    sub = p.add_subparsers(dest="command", metavar="COMMAND", parser_class=parser_class)
    sub.required = True
    for command in COMMANDS:
        if shell not in command.shells:
            continue
        description = command.description if shell == CLI and command.description else command.help
        if command.hidden:
            sp = sub.add_parser(command.name, description=description)
        else:
            sp = sub.add_parser(command.name, description=description, help=command.help)
        command.add_arguments(sp, shell)
    return p
