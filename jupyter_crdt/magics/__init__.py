"""``%crdt``: the notebook's collaboration history and shared values, from inside its kernel.

``%load_ext jupyter_crdt`` registers the line magic. Subcommands (each with ``--help``; see
``docs/magics.md``): ``status``, ``log``, ``diff``, ``show``, ``restore``, ``blame``, ``branch``,
``checkout``, ``merge``, ``merge-file``, ``share``, ``get``.

A thin shell over the library, like the command line (their arguments are defined together in
:mod:`jupyter_crdt.args`). With a running Jupyter server serving the notebook (:func:`jupyter_crdt.client.
find_session` finds it) the commands go through the server's ``/api/crdt/`` API and the kernel's own room
connection (:class:`jupyter_crdt.client.RoomClient`), so they see and change the live notebook everyone is
editing. Without one, ``log``, ``diff``, ``show``, ``restore``, ``blame`` and ``merge-file`` work on the
notebook file and its history sidecar through :mod:`jupyter_crdt.history`, and the others say why they
cannot. Bad input raises IPython's ``UsageError`` with one line naming what was wrong.

REV: a change number (``3``, as ``%crdt log`` numbers them), ``HEAD``, ``HEAD~N`` or a change hash
prefix (4+ hex digits).

Importing this loads IPython but nothing of the server stack, nor nbformat (until a command works offline).
"""

from __future__ import annotations

from typing import Any

from jupyter_crdt.magics.core import CrdtMagics
from jupyter_crdt.magics.parser import build_parser, resolve_seq

__all__ = ["CrdtMagics", "build_parser", "load_ipython_extension", "resolve_seq", "unload_ipython_extension"]


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
