"""Clients of a running Jupyter server with ``jupyter_crdt``: finding the server that serves a notebook,
its REST API (one client, :class:`Server`), and a kernel's own connection to the notebook's room
(:class:`RoomClient`).

Imports nothing of the server stack at load (a kernel stays light): ``jupyter_server`` is read only to list
the running servers, ``tornado`` only to open a room's websocket.
"""

from jupyter_crdt.client.room import SHARED_ROOT, RoomClient, RoomClientError, SharedText
from jupyter_crdt.client.server import (
    MAIN,
    NOTEBOOK_ENV,
    NotebookSession,
    Server,
    ServerError,
    Token,
    api_quote,
    find_server,
    find_session,
    lock_holders,
    notebook_hint,
    running_servers,
)

__all__ = [
    "MAIN",
    "NOTEBOOK_ENV",
    "SHARED_ROOT",
    "NotebookSession",
    "RoomClient",
    "RoomClientError",
    "Server",
    "ServerError",
    "SharedText",
    "Token",
    "api_quote",
    "find_server",
    "find_session",
    "lock_holders",
    "notebook_hint",
    "running_servers",
]
