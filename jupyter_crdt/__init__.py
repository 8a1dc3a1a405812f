"""Jupyter integration of the ``crdt`` engine: collaborative, mergeable notebooks.

Work in progress. The jupyter_server extension, the notebook schema, persistence, offline merge, the
command line, magics and widget support live here (see the project's design notes); the engine is ``crdt``.
"""

from typing import Any

__version__ = "0.1.0"


def _jupyter_server_extension_points() -> list[dict]:
    """The jupyter_server extension (imported lazily: ``import jupyter_crdt`` stays light)."""
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
