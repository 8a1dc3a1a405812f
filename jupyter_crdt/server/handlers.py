"""The extension's URL table: which handler serves which path. The handlers are thin shells over the
rooms (:mod:`jupyter_crdt.server.room`), one module per API:

- :mod:`~jupyter_crdt.server.room_handler`: ``/api/collaboration/room/…``, the websocket of a room's peer
  (y-protocols sync and awareness, the JSON channel, close codes).
- :mod:`~jupyter_crdt.server.collaboration`: the REST side of JupyterLab's reference server
  (``/api/collaboration/session/…``, ``fork/…``, ``timeline/…``, ``undo_redo/…``).
- :mod:`~jupyter_crdt.server.history_api`: our own API of a document's history (``/api/crdt/log/…``,
  ``document``, ``status``, ``show``, ``diff``, ``blame``, ``save``, ``restore``).
- :mod:`~jupyter_crdt.server.branch_handler`: ``/api/crdt/branches/…``.
- :mod:`~jupyter_crdt.server.merge_handler`: ``/api/crdt/merge/…`` (registered by the app).

``docs/rest-api.md`` describes them all; :mod:`~jupyter_crdt.server.handler_base` has what they share
(authorization on ``contents``, finding a document's room).
"""

from __future__ import annotations

from jupyter_crdt.server.branch_handler import BranchesHandler
from jupyter_crdt.server.collaboration import ForkHandler, SessionHandler, TimelineHandler, UndoRedoHandler
from jupyter_crdt.server.history_api import CrdtApiHandler
from jupyter_crdt.server.manager import RoomManager
from jupyter_crdt.server.room_handler import RoomHandler

__all__ = ["handlers"]


def handlers(manager: RoomManager) -> list[tuple[str, type, dict]]:
    """The URL patterns of the extension (relative to the server's base URL)."""
    kw = {"manager": manager}
    return [
        (r"/api/collaboration/session/(.*)", SessionHandler, kw),
        (r"/api/collaboration/room/(.*)", RoomHandler, kw),
        (r"/api/collaboration/fork/(.*)", ForkHandler, kw),
        (r"/api/collaboration/timeline/(.*)", TimelineHandler, kw),
        (r"/api/collaboration/undo_redo/(.*)", UndoRedoHandler, kw),
        (r"/api/crdt/branches/(.*)", BranchesHandler, kw),
        (r"/api/crdt/(log|document|status|save|restore|show|diff|blame)/(.*)", CrdtApiHandler, kw),
    ]
