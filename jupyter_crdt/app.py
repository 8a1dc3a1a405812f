"""The jupyter_server extension: settings, routes, and the rooms' lifetime.

Enabled on install by ``jupyter-config/jupyter_server_config.d/jupyter_crdt.json``. Every setting is a
traitlet of :class:`CrdtExtension` (``--CrdtExtension.document_save_delay=2`` on the command line, or
``c.CrdtExtension.…`` in a config file).
"""

from __future__ import annotations

import asyncio
import os

from jupyter_server.extension.application import ExtensionApp
from traitlets import Bool, Float, Int, default

from .handlers import handlers
from .models import notebooks_available
from .rooms import RoomManager, RoomSettings
from .stores import HistoryStore, LogStore, MemoryStore, NotebookHistoryStore, sidecar_path

#: tornado's own default is 10 MiB, which big notebooks exceed.
DEFAULT_MAX_MESSAGE_SIZE = 256 * 1024 * 1024


class ConflictingExtension(RuntimeError):
    """jupyter_server_ydoc (the reference collaboration server) is enabled: it serves the same routes."""


class CrdtExtension(ExtensionApp):
    """Real-time collaboration rooms that speak JupyterLab's collaboration protocol."""

    name = "jupyter_crdt"
    app_name = "jupyter-crdt"
    description = "Real-time, mergeable collaboration on notebooks and text files."

    document_save_delay = Float(
        1.0,
        config=True,
        help="Seconds of quiet after a change before the file is saved. Negative: no autosave "
        "(files are then saved only when a client asks).",
    )
    document_cleanup_delay = Float(
        60.0, config=True, help="Seconds a document stays loaded after its last client disconnected."
    )
    file_poll_interval = Float(
        1.0,
        config=True,
        help="Seconds between checks for changes made to open files on disk (0: never check).",
    )
    history_enabled = Bool(
        True,
        config=True,
        help="Keep each document's history in a sidecar file beside it (.NAME.crdtlog). Without it, "
        "histories live in memory and a restart gives documents a new session.",
    )
    history_flush_delay = Float(
        0.01,
        config=True,
        help="Seconds to gather accepted updates before writing and syncing them to the history.",
    )
    max_message_size = Int(
        DEFAULT_MAX_MESSAGE_SIZE,
        config=True,
        help="Largest websocket message accepted, in bytes (tornado's websocket_max_message_size). "
        "A bigger frame closes that connection with code 1009.",
    )
    pending_cap = Int(
        1 << 20,
        config=True,
        help="Bytes of one client's updates that wait for missing updates before that client is "
        "reconciled at content level.",
    )

    @default("max_message_size")
    def _default_max_message_size(self) -> int:
        return DEFAULT_MAX_MESSAGE_SIZE

    def initialize_settings(self) -> None:
        self._check_conflicts()
        web_settings = self.serverapp.web_app.settings
        web_settings["websocket_max_message_size"] = self.max_message_size
        self.room_settings = RoomSettings(
            save_delay=self.document_save_delay,
            cleanup_delay=self.document_cleanup_delay,
            poll_interval=self.file_poll_interval,
            flush_delay=self.history_flush_delay,
            pending_cap=self.pending_cap,
        )
        self.manager = RoomManager(
            self.serverapp.contents_manager,
            lambda: web_settings["file_id_manager"],
            self.room_settings,
            self._make_store,
            self.log,
        )
        self.settings["jupyter_crdt_manager"] = self.manager
        web_settings["jupyter_crdt_manager"] = self.manager

    def initialize_handlers(self) -> None:
        self.handlers.extend(handlers(self.manager))

    def _check_conflicts(self) -> None:
        enabled = getattr(self.serverapp, "jpserver_extensions", {}) or {}
        if enabled.get("jupyter_server_ydoc"):
            msg = (
                "jupyter_crdt and jupyter_server_ydoc (jupyter-collaboration) both serve "
                "/api/collaboration/…; disable one of them, e.g. "
                "`jupyter server extension disable jupyter_server_ydoc`."
            )
            self.log.error(msg)
            raise ConflictingExtension(msg)

    def _make_store(self, os_path: str | None, doc_type: str) -> HistoryStore:
        if not self.history_enabled or os_path is None or not os.path.isdir(os.path.dirname(os_path) or "."):
            return MemoryStore()
        if doc_type == "notebook" and notebooks_available():
            return NotebookHistoryStore(os_path)
        if doc_type == "notebook":
            return MemoryStore()  # never write a text-format log under a notebook's sidecar name
        return LogStore(sidecar_path(os_path))

    async def get_document(self, *, path: str, content_type: str, file_format: str):
        """The live shared document of ``path`` (a :class:`crdt.Doc` in JupyterLab's schema), for
        other server extensions; changes made to it (inside ``doc.transact(origin=...)``) reach
        every client, are recorded in the history and saved, like any other change.

        Compatible in spirit with jupyter-collaboration's ``get_document``: this is the document
        itself, not a copy.
        """
        file_id_manager = self.serverapp.web_app.settings["file_id_manager"]
        file_id = file_id_manager.index(path)
        room = await self.manager.get(file_format, content_type, file_id)
        return room.doc

    async def stop_extension(self) -> None:
        manager = getattr(self, "manager", None)
        if manager is not None:
            await asyncio.wait_for(manager.close_all(), timeout=10)
