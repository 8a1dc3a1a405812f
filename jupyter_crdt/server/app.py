"""The jupyter_server extension: settings, routes, and the rooms' lifetime.

Enabled on install by ``jupyter-config/jupyter_server_config.d/jupyter_crdt.json``. Every setting is a
traitlet of :class:`CrdtExtension` (``--CrdtExtension.document_save_delay=2`` on the command line, or
``c.CrdtExtension.…`` in a config file).
"""

from __future__ import annotations

import asyncio
import contextlib
import os
from collections.abc import Callable
from typing import TYPE_CHECKING, Any

from jupyter_server.extension.application import ExtensionApp
from traitlets import Bool, Float, Int, default

from crdt import UnsafeFileError
from crdt.limits import DEFAULT_DECOMPRESSION_RATIO, DEFAULT_MAX_DECOMPRESSED, DEFAULT_MAX_DEPTH
from crdt.limits import configure as configure_limits
from jupyter_crdt.history import copy_history, delete_history, log_path, move_history
from jupyter_crdt.history import sidecar_path as sidecar_path_of
from jupyter_crdt.server import merge_handler
from jupyter_crdt.server.events import RoomEvents, register_schemas
from jupyter_crdt.server.handlers import handlers
from jupyter_crdt.server.manager import RoomManager
from jupyter_crdt.server.models import notebooks_available
from jupyter_crdt.server.room import Room
from jupyter_crdt.server.state import RoomSettings
from jupyter_crdt.server.stores import (
    HistoryStore,
    MemoryStore,
    NotebookHistoryStore,
    SidecarHistoryStore,
    TextHistoryStore,
)

if TYPE_CHECKING:
    from jupyter_server.serverapp import ServerApp

#: jupyter_server's contents events (``ContentsManager.emit``): rename, copy, delete, save, get.
CONTENTS_EVENTS = "https://events.jupyter.org/jupyter_server/contents_service/v1"

#: tornado's own default is 10 MiB, which big notebooks exceed.
DEFAULT_MAX_MESSAGE_SIZE = 256 * 1024 * 1024


#: The server extension of jupyter-collaboration (the reference): it serves the same routes as ours.
REFERENCE_SERVER_EXTENSION = "jupyter_server_ydoc"

#: The page-config option that tells our JupyterLab extension this server extension runs
#: (``labextension/src/index.ts``: without it, its plugins stay off).
PAGE_CONFIG_FLAG = "jupyterCrdt"

#: Our JupyterLab extension's package name (its name in ``disabledExtensions`` disables all of it).
LABEXTENSION_NAME = "jupyter-crdt"

#: The frontend plugins ours replace, each with the plugin of ours that replaces it. They are disabled
#: through the page config only while this server extension runs, so a server without it (or with
#: jupyter-collaboration instead) keeps them.
REPLACED_PLUGINS = {
    "@jupyter/docprovider-extension:websocket-provider-document-factory": "jupyter-crdt:document-provider",
    "@jupyterlab/hub-extension:connectionlost": "jupyter-crdt:connection-lost",
}

PageConfigHook = Callable[[Any, dict], dict]


def page_config_hook(previous: PageConfigHook | None = None) -> PageConfigHook:
    """A jupyterlab_server / notebook ``page_config_hook`` that says our server extension runs and
    disables the plugins ours replace, unless the user disabled ours; runs ``previous`` first."""

    def hook(handler: Any, page_config: dict) -> dict:
        if previous is not None:
            page_config = previous(handler, page_config)
        disabled = page_config.get("disabledExtensions") or []
        if isinstance(disabled, dict):  # {name: bool} before jupyterlab_server flattens it
            disabled = [name for name, off in disabled.items() if off]
        disabled = list(disabled)  # a new list: the page config dict is shared between requests
        if LABEXTENSION_NAME in disabled:
            return page_config  # our JupyterLab extension is off: the reference's plugins stay on
        for theirs, ours in REPLACED_PLUGINS.items():
            if ours not in disabled and theirs not in disabled:
                disabled.append(theirs)
        page_config["disabledExtensions"] = disabled
        page_config[PAGE_CONFIG_FLAG] = "true"
        return page_config

    return hook


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
    document_save_max_delay = Float(
        10.0,
        config=True,
        help="Seconds at most between a change and the save that writes it to the file, even while "
        "clients keep editing (the quiet document_save_delay may never come). Negative: no bound.",
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
        help="Keep each document's history in a sidecar file beside it (.NAME.crdt). Without it, "
        "histories live in memory and a restart gives documents a new session.",
    )
    history_flush_delay = Float(
        0.05,
        config=True,
        help="Seconds to gather accepted updates before syncing them to the history (one fdatasync per "
        "flush) and acknowledging them. Shorter: acks sooner, more CPU under many typists.",
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
    room_pending_cap = Int(
        16 << 20,
        config=True,
        help="Bytes of updates waiting for missing updates in one room, whoever sent them (each waiting "
        "struct counts 384 bytes more, its cost in memory), before they are dropped and the connected "
        "clients that sent some are reconciled at content level. None of them was acknowledged.",
    )
    outgoing_cap = Int(
        32 << 20,
        config=True,
        help="Bytes queued for one websocket connection and not yet written to its socket before the "
        "connection is closed (code 1008: the client does not read what it is sent).",
    )
    fork_cap = Int(
        32,
        config=True,
        help="Forks (/api/collaboration/fork) open at once on this server. Each holds a copy of its "
        "document until a client deletes it, so a new one past the cap is refused (429).",
    )

    max_nesting_depth = Int(
        DEFAULT_MAX_DEPTH,
        config=True,
        help="Levels of nesting accepted in a value (arrays/objects in an update, a history record) and "
        "exported from a document; deeper input is refused, deeper document parts are left out of saves.",
    )
    max_decompression_ratio = Int(
        DEFAULT_DECOMPRESSION_RATIO,
        config=True,
        help="Bytes a compressed history record may decompress to per compressed byte (zlib bombs).",
    )
    max_decompressed_size = Int(
        DEFAULT_MAX_DECOMPRESSED,
        config=True,
        help="Bytes one compressed value may decompress to at most, whatever its size.",
    )

    @default("max_message_size")
    def _default_max_message_size(self) -> int:
        return DEFAULT_MAX_MESSAGE_SIZE

    _conflict: str | None = None

    def _link_jupyter_server_extension(self, serverapp: Any) -> None:
        super()._link_jupyter_server_extension(serverapp)
        self._conflict = self._find_conflict()
        if self._conflict:
            # One line, no traceback (a raised exception would log both), and the extension manager
            # then skips loading us, so it does not report a load that did not happen.
            self.log.error(self._conflict)
            package = getattr(serverapp.extension_manager, "extensions", {}).get(self.name)
            if package is not None and hasattr(package, "enabled"):
                package.enabled = False

    def initialize(self) -> None:  # type: ignore[override]  # ExtensionApp's takes no argv either
        if self._conflict is None:
            self._conflict = self._find_conflict()
            if self._conflict:
                self.log.error(self._conflict)
        if self._conflict:
            return  # no settings, no routes, no page config hook: the frontend keeps the reference's stack
        super().initialize()

    @property
    def _server(self) -> ServerApp:
        """The server this extension is linked to (it is, before any of the methods below runs)."""
        assert self.serverapp is not None
        return self.serverapp

    def initialize_settings(self) -> None:
        # In this extension's settings, which are copied onto the web application's after this method.
        self.settings["page_config_hook"] = page_config_hook(self.settings.get("page_config_hook"))
        web_settings = self._server.web_app.settings
        web_settings["websocket_max_message_size"] = self.max_message_size
        configure_limits(
            max_depth=self.max_nesting_depth,
            decompression_ratio=self.max_decompression_ratio,
            max_decompressed=self.max_decompressed_size,
        )
        self.room_settings = RoomSettings(
            save_delay=self.document_save_delay,
            save_max_delay=self.document_save_max_delay,
            cleanup_delay=self.document_cleanup_delay,
            poll_interval=self.file_poll_interval,
            flush_delay=self.history_flush_delay,
            pending_cap=self.pending_cap,
            room_pending_cap=self.room_pending_cap,
            outgoing_cap=self.outgoing_cap,
            fork_cap=self.fork_cap,
        )
        event_logger = getattr(self.serverapp, "event_logger", None)
        if event_logger is not None:
            # The reference's session, awareness and fork events, under its schema ids (server/events.py).
            register_schemas(event_logger)
        self.manager = RoomManager(
            self._server.contents_manager,
            lambda: web_settings["file_id_manager"],
            self.room_settings,
            self._make_store,
            self.log,
            RoomEvents(event_logger, self.log),
        )
        self.settings["jupyter_crdt_manager"] = self.manager
        web_settings["jupyter_crdt_manager"] = self.manager
        if event_logger is not None:
            event_logger.add_listener(schema_id=CONTENTS_EVENTS, listener=self._on_contents_event)

    def initialize_handlers(self) -> None:
        self.handlers.extend(handlers(self.manager))
        self.handlers.append(merge_handler.route(self.manager))

    def _find_conflict(self) -> str | None:
        """Why this extension must not load here (jupyter-collaboration's server is enabled), or None."""
        manager = getattr(self.serverapp, "extension_manager", None)
        if manager is not None:
            # Enabled and importable: one enabled in the config but not installed serves nothing.
            package = manager.extensions.get(REFERENCE_SERVER_EXTENSION)
            if package is None or not package.enabled:
                return None
        elif not (getattr(self.serverapp, "jpserver_extensions", None) or {}).get(REFERENCE_SERVER_EXTENSION):
            return None
        return (
            f"jupyter_crdt is not loaded: {REFERENCE_SERVER_EXTENSION} (jupyter-collaboration) is enabled "
            "and serves the same /api/collaboration routes; JupyterLab runs on jupyter-collaboration. "
            "To use jupyter-crdt: `jupyter server extension disable jupyter_server_ydoc` "
            "(or `pip uninstall jupyter-collaboration jupyter-server-ydoc`)."
        )

    def _make_store(self, os_path: str | None, doc_type: str) -> HistoryStore:
        if not self.history_enabled or os_path is None or not os.path.isdir(os.path.dirname(os_path) or "."):
            return MemoryStore()
        if doc_type == "notebook" and notebooks_available():
            return NotebookHistoryStore(os_path)
        if doc_type == "notebook":
            return MemoryStore()  # never write a text history under a notebook's sidecar name
        return TextHistoryStore(os_path)

    async def get_document(self, *, path: str, content_type: str, file_format: str, branch: str = "main"):
        """The live shared document of ``path`` (a :class:`crdt.Doc` in JupyterLab's schema), for
        other server extensions; changes made to it (inside ``doc.transact(origin=...)``) reach
        every client, are recorded in the history and saved, like any other change.

        ``branch``: the document of that branch of a notebook's history instead (its branch room:
        changes are recorded on the branch, never saved to the file); ``LookupError`` if there is no
        such branch.

        Compatible in spirit with jupyter-collaboration's ``get_document``: this is the document
        itself, not a copy.
        """
        file_id_manager = self._server.web_app.settings["file_id_manager"]
        file_id = file_id_manager.index(path)
        room = await self.manager.get_branch(file_format, content_type, file_id, branch)
        return room.doc

    # -- histories follow their files (renames, copies, deletions made through Jupyter) ------------

    async def _on_contents_event(self, logger: object, schema_id: str, data: dict) -> None:
        """A file was renamed, copied or deleted through the contents manager (the contents API):
        its history sidecar follows it. Open rooms keep their file id, so a renamed document's room
        stays live (its history reopened beside the new path); a deleted document's room is closed."""
        action = data.get("action")
        if not self.history_enabled or action not in ("rename", "copy", "delete"):
            return
        await asyncio.sleep(0)  # let jupyter-server-fileid record it first (its listener is a task too)
        get_os_path = getattr(self._server.contents_manager, "_get_os_path", None)
        if get_os_path is None:
            return  # not a contents manager of plain files: no sidecars
        try:
            os_path = get_os_path(data["path"])
            if action == "delete":
                await self._follow_delete(os_path)
            elif action == "rename":
                self._follow_rename(get_os_path(data["source_path"]), os_path)
            else:
                await self._follow_copy(get_os_path(data["source_path"]), os_path)
        except UnsafeFileError as e:  # a sidecar that is a link: left alone, said why
            self.log.warning("jupyter_crdt: the history did not follow %s of %s: %s", action,
                             data.get("path"), e)
        except Exception:  # noqa: BLE001 - never break the contents API over a sidecar
            self.log.exception("jupyter_crdt: the history did not follow %s of %s", action, data.get("path"))

    def _open_rooms_at(self, os_path: str) -> list[tuple[Room, str]]:
        """Open rooms whose file is ``os_path`` or lies under the directory ``os_path``, with their file."""
        found = []
        for room in list(self.manager.rooms.values()):
            file = _store_file(room.store)
            if file is None or room.closed:
                continue
            if file == os_path or file.startswith(os_path + os.sep):
                found.append((room, file))
        return found

    def _follow_rename(self, old: str, new: str) -> None:
        for room, file in self._open_rooms_at(old):
            # Synchronous: no update is appended between closing the old sidecar and reopening the moved one.
            store = room.store
            if isinstance(store, SidecarHistoryStore):  # what _store_file found a file for
                store.relocate(new + file[len(old):])
            room.set_state()  # the document's state.path: the new path
        if os.path.isfile(new):
            move_history(old, new)  # False: nothing to move (no history, or moved with its room above)
            old_log, new_log = log_path(old), log_path(new)
            if os.path.exists(old_log):
                os.replace(old_log, new_log)

    async def _follow_copy(self, source: str, copy: str) -> None:
        if not os.path.isfile(copy):
            return
        for room, file in self._open_rooms_at(source):
            if file == source:
                await room.flush()  # every accepted edit of the source is in its sidecar
        copy_history(source, copy)  # a notebook's or a text file's: the copy gets its own session id

    async def _follow_delete(self, os_path: str) -> None:
        for room, _file in self._open_rooms_at(os_path):
            await room.close()  # the file is gone, so nothing is saved; releases the sidecar's lock
            self.manager.forget(room)
        # Where the file went, its history goes: to the trash with it when jupyter_server trashes files.
        to_trash = bool(getattr(self._server.contents_manager, "delete_to_trash", False))
        try:
            delete_history(os_path, to_trash=to_trash)
        except OSError as e:  # kept rather than deleted for good: the notebook itself is in the trash
            self.log.warning("jupyter_crdt: the history of %s could not be moved to the trash (%s); it is "
                             "kept at %s", os_path, e, sidecar_path_of(os_path))
        with contextlib.suppress(FileNotFoundError):
            os.unlink(log_path(os_path))

    async def stop_extension(self) -> None:
        manager = getattr(self, "manager", None)
        if manager is not None:
            await asyncio.wait_for(manager.close_all(), timeout=10)


def _store_file(store: HistoryStore) -> str | None:
    """The path of the file whose history ``store`` keeps on disk (None: kept in memory)."""
    if isinstance(store, SidecarHistoryStore):
        return store.path
    return None
