"""Jupyter integration of the ``crdt`` engine: collaborative, mergeable notebooks.

Work in progress. The jupyter_server extension, the notebook schema, persistence, offline merge, the
command line, magics and widget support live here (see the project's design notes); the engine is ``crdt``.
"""

__version__ = "0.1.0"


def _jupyter_server_extension_points() -> list[dict]:
    """The jupyter_server extension (imported lazily: ``import jupyter_crdt`` stays light)."""
    from .app import CrdtExtension

    return [{"module": "jupyter_crdt", "app": CrdtExtension}]
