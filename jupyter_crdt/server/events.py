"""The reference collaboration server's events, on jupyter_server's event bus (``jupyter_events``).

JupyterLab's collaboration frontend (``@jupyter/docprovider``) and loggers listen for the reference
server's (jupyter-collaboration) events by their schema ids; we emit the same events under the same ids,
with the same fields (``docs/rest-api.md``, "Events"):

- session (``SESSION_EVENTS``): ``{"level", "room", "path", "action", "msg"}``, ``action`` one of
  ``initialize``, ``load``, ``save``, ``overwrite``, ``clean``;
- awareness (``AWARENESS_EVENTS``): ``{"roomid", "username", "action": "join" | "leave"}``;
- fork (``FORK_EVENTS``): ``{"fork_roomid", "fork_info": {"root_roomid", "synchronize", "title",
  "description"}, "username", "action": "create" | "delete"}`` (``ForkManager``'s ``forkAdded`` and
  ``forkDeleted`` signals).

The schemas are package data (``event_schemas/*.yaml``). Emitting never raises: an event that cannot be
emitted is logged and the room goes on. ``jupyter_events`` does nothing for an event nobody listens to.
"""

from __future__ import annotations

import logging
from pathlib import Path
from typing import Any

SESSION_EVENTS = "https://schema.jupyter.org/jupyter_collaboration/session/v1"
AWARENESS_EVENTS = "https://schema.jupyter.org/jupyter_collaboration/awareness/v1"
FORK_EVENTS = "https://schema.jupyter.org/jupyter_collaboration/fork/v1"

SCHEMA_DIR = Path(__file__).parent / "event_schemas"
#: Schema id -> its file.
SCHEMAS: dict[str, Path] = {
    SESSION_EVENTS: SCHEMA_DIR / "session.yaml",
    AWARENESS_EVENTS: SCHEMA_DIR / "awareness.yaml",
    FORK_EVENTS: SCHEMA_DIR / "fork.yaml",
}


def register_schemas(event_logger: Any) -> None:
    """Register the three schemas with ``event_logger`` (a ``jupyter_events.EventLogger``); an id it
    knows already (registered by an earlier extension instance in this process) is left as it is."""
    for schema_id, path in SCHEMAS.items():
        if schema_id not in event_logger.schemas:
            event_logger.register_event_schema(path)


class RoomEvents:
    """Emits the events of one server's rooms on its event bus (``None``: emits nothing)."""

    def __init__(self, event_logger: Any = None, log: logging.Logger | None = None) -> None:
        self._logger = event_logger
        self._log = log or logging.getLogger(__name__)

    def session(self, room_id: str, path: str, action: str | None, msg: str | None = None,
                level: str = "INFO") -> None:
        """A room of a document: ``action`` (None for an error without one, as the reference does)."""
        data: dict[str, Any] = {"level": level, "room": room_id, "path": path}
        if action:
            data["action"] = action
        if msg:
            data["msg"] = msg
        self._emit(SESSION_EVENTS, data)

    def awareness(self, room_id: str, username: str, action: str) -> None:
        """A connection of ``username`` joined or left a room."""
        self._emit(AWARENESS_EVENTS, {"roomid": room_id, "username": username, "action": action})

    def fork(self, fork_id: str, info: dict[str, Any], username: str, action: str) -> None:
        """A fork was created or deleted (``info``: root_roomid, synchronize, title, description)."""
        fork_info = {
            "root_roomid": str(info["root_roomid"]),
            "synchronize": bool(info["synchronize"]),
            "title": str(info["title"]),
            "description": str(info["description"]),
        }
        self._emit(FORK_EVENTS, {"fork_roomid": fork_id, "fork_info": fork_info, "username": username,
                                 "action": action})

    def _emit(self, schema_id: str, data: dict[str, Any]) -> None:
        if self._logger is None:
            return
        try:
            self._logger.emit(schema_id=schema_id, data=data)
        except Exception:  # noqa: BLE001 - an event never takes a room or a request down
            self._log.warning("jupyter_crdt: could not emit %s event %r", schema_id, data, exc_info=True)


#: Emits nothing (rooms made outside a server, e.g. by tests and the CLI).
NO_EVENTS = RoomEvents()
