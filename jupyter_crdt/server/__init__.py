"""The jupyter_server extension: serves notebooks and text files as live shared documents.

Its one job: keep each open document in a *room* (one :class:`crdt.Doc`, its peers, its history and its
file) and speak JupyterLab's collaboration protocol and our REST API over it. It may import every layer
below it (``jupyter_crdt.history``, ``.notebook``, ``.text``, ``crdt``) and jupyter_server, never the
command line, the magics or the client (``docs/architecture.md``).

- :class:`CrdtExtension` (``app``): the extension and its settings (traitlets, ``CrdtExtension.*`` in a
  Jupyter config), handed to the rooms as :class:`RoomSettings`; ``CrdtExtension.get_document`` gives other
  extensions a live document.
- :class:`RoomManager`, :class:`Room` (``rooms``): the rooms.
- :class:`HistoryStore` and the stores (``stores``, ``branches``): where a room's updates are kept.
- :func:`handlers` (``handlers``): the URL table; one module per API behind it.
"""

from jupyter_crdt.server.app import CrdtExtension
from jupyter_crdt.server.branches import BadBranchName, BranchExists, NoBranches, UnknownBranch
from jupyter_crdt.server.handlers import handlers
from jupyter_crdt.server.loaders import FileGone
from jupyter_crdt.server.manager import RoomManager
from jupyter_crdt.server.models import DocumentModel, NotebookModel, TextFileModel
from jupyter_crdt.server.room import Room
from jupyter_crdt.server.state import RoomSettings
from jupyter_crdt.server.stores import (
    HistoryStore,
    HistoryUnavailable,
    MemoryStore,
    NotebookHistoryStore,
    StoreLocked,
    TextHistoryStore,
)

__all__ = [
    "BadBranchName",
    "BranchExists",
    "CrdtExtension",
    "DocumentModel",
    "FileGone",
    "HistoryStore",
    "HistoryUnavailable",
    "MemoryStore",
    "NoBranches",
    "NotebookHistoryStore",
    "NotebookModel",
    "Room",
    "RoomManager",
    "RoomSettings",
    "StoreLocked",
    "TextFileModel",
    "TextHistoryStore",
    "UnknownBranch",
    "handlers",
]
