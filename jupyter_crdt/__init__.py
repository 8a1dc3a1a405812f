"""Jupyter integration of the ``crdt`` engine: collaborative, mergeable notebooks.

The top level holds only the extension hooks (jupyter_server, JupyterLab, IPython) and the version; the
work is in the layers below it (``docs/architecture.md``): ``notebook`` and ``text`` (documents),
``history`` (sidecars and their operations), ``server`` (the extension), ``client`` (talking to a running
server), and the two shells over them, ``cli`` (``jupyter crdt``) and ``magics`` (``%crdt``).
"""

from typing import Any

from jupyter_crdt.version import __version__

__all__ = ["__version__", "load_ipython_extension", "unload_ipython_extension"]


def _jupyter_server_extension_points() -> list[dict]:
    """The jupyter_server extension (imported only here: the server stack is heavy, and absent from a
    kernel-only install; ``import jupyter_crdt`` stays light)."""
    from jupyter_crdt.server.app import CrdtExtension

    return [{"module": "jupyter_crdt", "app": CrdtExtension}]


def _jupyter_labextension_paths() -> list[dict]:
    """The JupyterLab extension built from ``labextension/`` (for ``jupyter labextension develop``)."""
    return [{"src": "labextension", "dest": "jupyter-crdt"}]


def load_ipython_extension(ipython: Any) -> None:
    """``%load_ext jupyter_crdt``: the ``%crdt`` magics (IPython is imported only here)."""
    from jupyter_crdt.magics import load_ipython_extension as load

    load(ipython)


def unload_ipython_extension(ipython: Any) -> None:
    """``%unload_ext jupyter_crdt``: the kernel leaves the rooms it joined."""
    from jupyter_crdt.magics import unload_ipython_extension as unload

    unload(ipython)
