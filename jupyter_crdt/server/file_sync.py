"""A room and its file: loading the history and the file, saving, and changes made on disk.

The file is saved through the contents manager (:class:`~jupyter_crdt.server.loaders.FileLoader`) one
idle ``save_delay`` after the last change, unless every client's awareness state says ``autosave: false``
(then only an explicit save saves). When it changes on disk, the change is merged three-way against the
version last saved and applied as a minimal change with author ``disk``; a ``touch`` (same content)
changes nothing. A file changed while no server watched it is reconciled with the history when the
room opens.
"""

from __future__ import annotations

import asyncio
import time
from typing import Any

import crdt
from jupyter_crdt.history import UNEXPLAINED_NOTE, file_is_newer
from jupyter_crdt.server.durability import Durability
from jupyter_crdt.server.loaders import FileGone
from jupyter_crdt.server.state import AUTHOR_DISK
from jupyter_crdt.server.stores import HistoryUnavailable, MemoryStore, StoreLocked

#: How long a room waits for another process (``jupyter crdt``) to release the document's history.
LOCK_WAIT = 2.0


class FileSync(Durability):
    """Loading, saving and following the room's file (see the module docstring)."""

    async def _load_store(self) -> Any:
        """What the store holds. Another process holding the history (``jupyter crdt`` writing it, or a
        second server on the folder) is waited for a little, then :class:`StoreLocked` is raised: never a
        history in memory while edits are acknowledged as durable. A sidecar that may not be used (a link)
        gives a history in memory, with :attr:`history_error` saying why."""
        deadline = time.monotonic() + LOCK_WAIT
        while True:
            try:
                return self.store.load()
            except StoreLocked:
                if time.monotonic() >= deadline:
                    raise
            except HistoryUnavailable as e:
                self.history_error = str(e)
                self.log.warning("jupyter_crdt: %s: %s; this document opens without a history (its changes "
                                 "are kept in memory only)", self.room_id, e)
                self.store.close()
                self.store = MemoryStore()
                return self.store.load()
            await asyncio.sleep(0.05)

    def _disk_at_open(self, saved: Any, current: Any, content: Any, digest: str, known_saved: bool) -> Any:
        """What to apply for a file that changed while no server watched it (None: nothing), by the rules
        of ``histories.sync_notebook``: a version recorded after the saved one keeps the later edits; a
        file that already holds the unsaved edits (a stale or cut-short history) wins as it is, so
        nothing is applied twice; another tool's edit is merged three-way with the unsaved edits."""
        find = self.store.recorded_position
        if known_saved:
            position = find(lambda doc: self.model.digest(self.model.export(doc)) == digest)
            if position is not None:
                self.store.mark_saved(position, digest)
                return None
        if known_saved and file_is_newer(saved, current, content):
            self.history_notes.append(UNEXPLAINED_NOTE)
            return content
        return self.model.merge(saved, current, content)

    def _content_at(self, seq: int) -> Any:
        doc = crdt.Doc()
        for rec in self.store.records()[:seq]:
            doc.apply_update(rec.update)
        return self.model.export(doc)

    def content_at(self, seq: int) -> Any:
        """The content right after change ``seq`` (1-based, as ``/api/crdt/log`` numbers them);
        ``ValueError`` if there is no such change."""
        if not 1 <= seq <= len(self.store.records()):
            raise ValueError(f"no change {seq}")
        return self._content_at(seq)

    def restore(self, seq: int, author: str) -> None:
        """Make the content what it was after change ``seq``.

        A new change: the ones after ``seq`` stay in the history."""
        records = self.store.records()
        if not 1 <= seq <= len(records):
            raise ValueError(f"no change {seq}")
        content = self._content_at(seq)
        with self.doc.transact(origin=author):
            self.model.apply(self.doc, content)

    def _schedule_save(self) -> None:
        if self.loader is None or self.settings.save_delay < 0 or self.closed or not self._autosave:
            return
        now = time.monotonic()
        if self._unsaved_since is None:
            self._unsaved_since = now
        delay = self.settings.save_delay
        if self.settings.save_max_delay >= 0:
            delay = max(0.0, min(delay, self._unsaved_since + self.settings.save_max_delay - now))
        if self._save_task is not None and not self._save_task.done():
            self._save_task.cancel()
        self._save_task = asyncio.ensure_future(self._save_after(delay))

    async def _save_after(self, delay: float) -> None:
        try:
            await asyncio.sleep(delay)
        except asyncio.CancelledError:
            return
        await asyncio.shield(self.save())

    async def save(self) -> str:
        """Save now if the content differs from the file: ``"success"`` (the file holds the current
        content) or ``"failed"``."""
        if self.loader is None:
            return "failed"
        async with self._disk_lock:
            try:
                self._changed_since_save = False
                self._unsaved_since = None
                disk = await self.loader.stat()
                if disk.last_modified != self.loader.disk.last_modified:
                    await self._merge_disk_change()
                if not disk.writable:
                    self.read_only_on_disk = True
                    return "failed"
                problems: list[str] = []
                content = self.model.export(self.doc, problems)
                self._report_export_problems(problems)
                digest = self.model.digest(content)
                if digest == self._saved_digest:
                    self.set_state(dirty=False)
                    self._on_disk(self.store.position())
                    return "success"
                position = self.store.position()
                await self.flush()
                disk = await self.loader.save(content)
                self._on_disk(position)
                self._saved_content = content
                self._saved_digest = digest
                self.store.mark_saved(position, digest)
                if self.model.digest(self.model.export(self.doc)) == digest:
                    self.set_state(dirty=False, hash=disk.hash)
                self._schedule_flush()
                self._session_event("save", "Content saved.")
                return "success"
            except FileGone:
                return "failed"
            except Exception as e:  # noqa: BLE001
                self.log.exception("jupyter_crdt: %s: saving failed", self.room_id)
                self._session_event(None, f"Saving failed: {type(e).__name__}", "ERROR")
                return "failed"

    def _report_export_problems(self, problems: list[str]) -> None:
        # Parts of a hostile document no file can hold are left out of the save (docs/security.md,
        # "Bounds"); each is logged once per room, and every save answers with the current list.
        self.save_problems = problems
        for p in problems:
            if p not in self._logged_problems:
                self._logged_problems.add(p)
                self.log.warning("jupyter_crdt: %s: %s", self.room_id, p)

    async def _on_disk_change(self) -> None:
        if self._disk_lock.locked():
            return
        async with self._disk_lock:
            await self._merge_disk_change()

    async def _merge_disk_change(self) -> None:
        assert self.loader is not None
        content, disk = await self.loader.load()
        self.read_only_on_disk = not disk.writable
        digest = self.model.digest(content)
        if digest == self._saved_digest:
            return  # a touch: nothing changed
        ours = self.model.export(self.doc)
        merged = self.model.merge(self._saved_content, ours, content)
        self.log.info("jupyter_crdt: %s: merging a change made on disk", self.room_id)
        with self.doc.transact(origin=AUTHOR_DISK):
            self.model.apply(self.doc, merged)
        self._session_event("overwrite", "Out-of-band changes merged into the room.")
        self._saved_content = content
        self._saved_digest = digest
        if self.model.digest(merged) == digest:
            # Nothing unsaved: the document is what the file holds. (Otherwise the save that follows
            # marks it; until then the previous mark stays the base of a merge after a crash.)
            self.store.mark_saved(self.store.position(), digest)
            self.set_state(dirty=False, hash=disk.hash)
        self._schedule_flush()

    def _update_autosave(self) -> None:
        """The reference's rule: no autosave while every client's awareness state says ``autosave:
        false`` (any other value counts as on; a client without the field is on). With no client
        states at all the last value stays, so the file does not get saved behind the backs of the
        clients that just left."""
        states = [s for s in self.awareness.states.values() if s]
        if not states:
            return
        autosave = any(not isinstance(s, dict) or bool(s.get("autosave", True)) for s in states)
        if autosave == self._autosave:
            return
        self._autosave = autosave
        if not autosave:
            if self._save_task is not None and not self._save_task.done():
                self._save_task.cancel()
            self._unsaved_since = None
        elif self._changed_since_save:
            self._schedule_save()  # someone turned autosave on: the file catches up
