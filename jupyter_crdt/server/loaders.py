"""File I/O for rooms, through jupyter_server's contents manager: load, atomic save, change polling.

A :class:`FileLoader` serves one file, found by its stable file id (jupyter-server-fileid), so a
rename made while the room is open is followed. It never touches document state: rooms decide what a
change on disk means; the loader only reads, writes and notices.

Saves are atomic: the new content goes to a temporary file that is renamed over the old one (see
:meth:`FileLoader.save`); a file that is a symbolic link keeps being one (its target is replaced).
A file is read-only for the room when the contents manager says it is not writable, or when it has
no write permission bits at all (root ignores permission bits, so the bits are checked as well).
"""

from __future__ import annotations

import asyncio
import contextlib
import logging
import os
import stat
from collections.abc import Awaitable, Callable
from dataclasses import dataclass
from typing import Any

from jupyter_core.utils import ensure_async

from crdt import files as _fileio
from jupyter_crdt.server.models import DocumentModel


class FileGone(Exception):
    """The file no longer exists (or its id is unknown)."""


@dataclass
class DiskState:
    """What the loader last saw of the file on disk."""

    last_modified: Any = None
    hash: str | None = None
    writable: bool = True


class FileLoader:
    """Reads, writes and watches the file behind one file id."""

    def __init__(
        self,
        file_id: str,
        file_id_manager: Any,
        contents_manager: Any,
        model: DocumentModel,
        log: logging.Logger | None = None,
    ) -> None:
        self.file_id = file_id
        self._fim = file_id_manager
        self._cm = contents_manager
        self._model = model
        self.log = log or logging.getLogger(__name__)
        self.disk = DiskState()
        self._poller: asyncio.Task | None = None
        self._lock = asyncio.Lock()

    # -- where ---------------------------------------------------------------------------------

    @property
    def path(self) -> str:
        """The file's current API path (follows renames)."""
        path = self._fim.get_path(self.file_id)
        if path is None:
            raise FileGone(self.file_id)
        return path

    def os_path(self) -> str | None:
        """The file's path on disk, if the contents manager keeps files on disk."""
        get = getattr(self._cm, "_get_os_path", None)
        if get is None:
            return None
        try:
            return get(self.path)
        except Exception:  # noqa: BLE001 - any failure means "not a plain file"
            return None

    # -- reading -------------------------------------------------------------------------------

    async def stat(self) -> DiskState:
        """The file's modification time and writability, without its content."""
        try:
            m = await ensure_async(self._cm.get(self.path, content=False, type=self._model.contents_type))
        except FileGone:
            raise
        except Exception as e:
            if getattr(e, "status_code", None) == 404:
                raise FileGone(self.file_id) from None
            raise
        return DiskState(m.get("last_modified"), None, self._writable(m))

    async def load(self) -> tuple[Any, DiskState]:
        """The file's content (in the model's form) and what it looks like on disk."""
        async with self._lock:
            try:
                m = await ensure_async(
                    self._cm.get(
                        self.path,
                        content=True,
                        type=self._model.contents_type,
                        format=self._model.format if self._model.contents_type == "file" else None,
                    )
                )
            except FileGone:
                raise
            except Exception as e:
                if getattr(e, "status_code", None) == 404:
                    raise FileGone(self.file_id) from None
                raise
            content = self._model.from_contents(m["content"])
            state = DiskState(m.get("last_modified"), await self._hash(), self._writable(m))
            self.disk = state
            return content, state

    async def _hash(self) -> str | None:
        try:
            m = await ensure_async(
                self._cm.get(self.path, content=False, type=self._model.contents_type, require_hash=True)
            )
        except TypeError:  # contents managers older than jupyter_server 2.11
            return None
        except Exception:  # noqa: BLE001
            return None
        return m.get("hash")

    def _writable(self, m: dict) -> bool:
        if not m.get("writable", True):
            return False
        os_path = self.os_path()
        if os_path is not None:
            with contextlib.suppress(OSError):
                if not os.stat(os_path).st_mode & (stat.S_IWUSR | stat.S_IWGRP | stat.S_IWOTH):
                    return False
        return True

    # -- writing -------------------------------------------------------------------------------

    async def save(self, content: Any) -> DiskState:
        """Write ``content`` atomically; returns the new disk state.

        For a contents manager that keeps files on disk, the file is written as the contents manager
        would write it (its pre- and post-save hooks, notebook signing, nbformat's writer), but to a
        temporary file beside it that is then renamed over it, so a reader never sees a partial file
        (the contents manager's own ``atomic_writing`` rewrites the file in place). Other contents
        managers save through ``ContentsManager.save``.
        """
        async with self._lock:
            path = self.path
            model = {
                "type": self._model.contents_type,
                "format": self._model.format,
                "content": self._model.to_contents(content),
            }
            os_path = self.os_path()
            hooks = getattr(self._cm, "run_pre_save_hooks", None)
            if os_path is None or hooks is None or not os.path.exists(os_path):
                m = await ensure_async(self._cm.save(model, path))
            else:
                hooks(model=model, path=path)
                data = self._serialize(model, path)
                await asyncio.to_thread(_replace_atomically, os_path, data)
                self._cm.run_post_save_hooks(model=model, os_path=os_path)
                m = await ensure_async(self._cm.get(path, content=False, type=self._model.contents_type))
            state = DiskState(m.get("last_modified"), await self._hash(), self._writable(m))
            self.disk = state
            return state

    def _serialize(self, model: dict, path: str) -> bytes:
        if model["type"] == "notebook":
            import nbformat

            nb = nbformat.from_dict(model["content"])
            check_and_sign = getattr(self._cm, "check_and_sign", None)
            if check_and_sign is not None:
                check_and_sign(nb, path)
            text = nbformat.writes(nb, version=nbformat.NO_CONVERT)
            if not text.endswith("\n"):
                text += "\n"
            return text.encode("utf-8")
        return model["content"].encode("utf-8", "surrogateescape")

    # -- watching ------------------------------------------------------------------------------

    def watch(self, interval: float, on_change: Callable[[], Awaitable[None]]) -> None:
        """Poll every ``interval`` seconds; call ``on_change`` when the modification time moved."""
        if interval <= 0 or self._poller is not None:
            return
        self._poller = asyncio.ensure_future(self._poll(interval, on_change))

    async def _poll(self, interval: float, on_change: Callable[[], Awaitable[None]]) -> None:
        while True:
            await asyncio.sleep(interval)
            try:
                if self._lock.locked():
                    continue
                now = await self.stat()
                if now.last_modified != self.disk.last_modified:
                    await on_change()
                else:
                    self.disk.writable = now.writable
            except asyncio.CancelledError:
                raise
            except FileGone:
                continue
            except Exception:  # noqa: BLE001 - keep polling whatever happens
                self.log.exception("jupyter_crdt: polling %s failed", self.file_id)

    def stop(self) -> None:
        if self._poller is not None:
            self._poller.cancel()
            self._poller = None


def _replace_atomically(os_path: str, data: bytes) -> None:
    """Write ``data`` to a temporary file beside ``os_path``, sync it, and rename it over ``os_path``; a
    symlinked file stays a link and the file it points to is replaced (as jupyter_server's save does)."""
    _fileio.replace_file(os_path, data)
