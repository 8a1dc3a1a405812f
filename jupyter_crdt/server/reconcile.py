"""Foreign documents, merged at the content level, and updates refused to read-only peers.

A step 2 (or any update) whose new structs belong to clients the room has never seen, and that does
not hook into anything the room holds live, comes from a *foreign* document: typically a browser tab
that kept its document across a server restart that lost the history (jupyter-collaboration #594/#621),
or a client whose updates went missing. Merging it as CRDT data would duplicate every cell. Instead it
is **reconciled at the content level**: the peer's view is rebuilt in a scratch document, merged
three-way with the room's content against the content the room's history started from, the foreign
structs are absorbed into the room *as deleted* (so the peer's document and the room share every id
afterwards) and the merged content is applied as a minimal change. The peer then receives the room's
step 2, which deletes its foreign copies and brings in the merged content: nothing duplicated, no edit
lost. Updates the peer sent before it saw that step 2 are merged the same way (content level), until
the peer answers a fresh step 1 (a probe) sent after it; from then on the peer is in line.

**Permissions.** A read-only peer syncs and follows live; any update it sends is refused (not applied,
broadcast or saved) and it is told so with ``{"type": "error", "code": "read_only"}`` on the JSON
channel (message type 2).
"""

from __future__ import annotations

import contextlib
from typing import Any

import crdt
from crdt.inspect import (
    DeleteSet,
    Item,
    UpdateView,
    delete_update,
    deletes_live_items,
    drop_pending,
    pending_size,
    update_without_pending,
)
from crdt.sync import encode_sync_step1, encode_sync_step2, encode_sync_update
from jupyter_crdt.server.file_sync import FileSync
from jupyter_crdt.server.loaders import FileGone
from jupyter_crdt.server.protocol import EMPTY_UPDATE, encode_json_message
from jupyter_crdt.server.state import PeerState


class Reconciler(FileSync):
    """Classifies what peers send (in line, or foreign) and merges foreign documents (module docstring)."""

    def _empty_content(self) -> Any:
        return self.model.export(crdt.Doc())

    def _first_sync_read_only(self, ps: PeerState, update: UpdateView) -> None:
        foreign = self._foreign_clients(update)
        if foreign:
            # Bring the follower back in line without taking its content: delete its foreign copy.
            view = crdt.Doc()
            view.apply_update(update)
            ps.peer.send(encode_sync_update(delete_update(self._new_ranges(view, foreign))))
        elif update.update != EMPTY_UPDATE and update.has_content():
            self._refuse(ps, update)
        ps.phase = "live"
        ps.peer.send(encode_sync_step2(update_without_pending(self.doc, ps.their_sv)))

    def _foreign_clients(self, update: UpdateView) -> set[int]:
        """The clients of a foreign document in ``update``, or the empty set.

        Structs the room already holds are left aside. If any new struct hooks into something the
        room holds live (its origin, right origin or parent is a known struct that is not a dead
        copy), the update is in line with the room: it merges as CRDT data. Otherwise the new
        structs form a document of their own, or extend dead copies: a foreign document.
        """
        sv = self.doc.state_vector()
        new_clients: set[int] = set()
        new_structs = []
        for client, structs in update.structs.items():
            known = sv.get(client, 0)
            for s in structs:
                if s.clock + s.length > known and isinstance(s, Item):
                    new_clients.add(client)
                    new_structs.append(s)
        if not new_structs:
            return set()
        for s in new_structs:
            for ref in (s.origin, s.right_origin, s.parent if isinstance(s.parent, tuple) else None):
                if ref is None:
                    continue
                c, clock = ref
                if clock < sv.get(c, 0) and not self._is_dead(c, clock):
                    return set()  # hooks into what the room holds: in line
        return new_clients

    def _is_dead(self, client: int, clock: int) -> bool:
        return any(start <= clock < end for start, end in self._absorbed.get(client, ()))

    def _new_ranges(self, view: crdt.Doc, clients: set[int]) -> dict[int, tuple[int, int]]:
        """For each of ``clients``, the clock range ``view`` holds beyond the room's state."""
        sv = self.doc.state_vector()
        view_sv = view.state_vector()
        return {c: (sv.get(c, 0), view_sv[c]) for c in clients if view_sv.get(c, 0) > sv.get(c, 0)}

    def _reconcile(self, ps: PeerState, foreign: set[int]) -> None:
        """Merge a peer holding a foreign document at the content level (module docstring)."""
        view = ps.view
        assert view is not None
        their = self.model.export(view)
        ours = self.model.export(self.doc)
        merged = self.model.merge(self._base_content, ours, their)
        ranges = self._new_ranges(view, foreign)
        self.log.info("jupyter_crdt: %s: reconciling %s at content level (%d foreign clients)",
                      self.room_id, ps.author, len(ranges))
        with self.doc.transact(origin=ps):
            self.doc.apply_update(view.encode_state_as_update())
            self.doc.apply_update(delete_update(ranges))
            if self.model.export(self.doc) != merged:
                self.model.apply(self.doc, merged)
            self._repair_state()
        drop_pending(self.doc)
        ps.dead = ranges
        for c, r in ranges.items():
            self._absorbed.setdefault(c, []).append(r)
        self.store.set_meta("absorbed", {str(c): [list(r) for r in rs] for c, rs in self._absorbed.items()})
        # ps.view stays the peer's own document as it was (without the step 2 below): updates the peer
        # made before applying that step 2 integrate into it, later ones do not (see _merge_through_view).
        ps.their_sv = ps.their_sv or view.encode_state_vector()
        ps.peer.send(encode_sync_step2(update_without_pending(self.doc, ps.their_sv)))
        # Probe: the peer's answer tells us it has applied the step 2 above.
        ps.phase = "reconciling"
        ps.pending_bytes = 0  # counted its updates before the step 2 (merged above)
        ps.peer.send(encode_sync_step1(self.doc.encode_state_vector()))

    def _merge_through_view(self, ps: PeerState, update: UpdateView) -> None:
        """An update from a peer that may not have applied its reconciliation yet.

        If it integrates into the peer's pre-reconciliation document, it was made there: its effect on
        that document's content is merged into the room (three-way). Otherwise it was made after the
        peer caught up, and is merged as CRDT data.
        """
        view = ps.view
        if view is None:
            self._apply_counting_pending(ps, update)
            return
        if _overlaps(update.delete_set, ps.dead):
            # It deletes the foreign copies we deleted: the peer has applied its reconciliation.
            self._apply_counting_pending(ps, update)
            return
        before = self.model.export(view)
        pending_before = pending_size(view)
        # Applied to two documents: the second decodes it again (decoded structs become one document's).
        view.apply_update(update)
        if pending_size(view) > pending_before:
            self._apply_counting_pending(ps, update)
            return
        after = self.model.export(view)
        with self.doc.transact(origin=ps):
            ours = self.model.export(self.doc)
            merged = self.model.merge(before, ours, after) if before != after else ours
            self.doc.apply_update(update)
            if self.model.export(self.doc) != merged:
                self.model.apply(self.doc, merged)
            self._repair_state()
        drop_pending(self.doc)

    def _repair_state(self) -> None:
        state = self.doc.get_map("state")
        if "dirty" not in state:
            state["dirty"] = True
        if self.loader is not None:
            with contextlib.suppress(FileGone):
                if state.get("path") != self.loader.path:
                    state["path"] = self.loader.path

    def _refuse(self, ps: PeerState, update: UpdateView) -> None:
        """Tell a read-only peer its ``update`` was refused, and take it back on the peer's side: what it
        inserted is deleted there (a delete set of its new structs, sent as an ordinary update), so its
        editor shows the room's content again.

        Content the peer deleted cannot come back in its document (a Yjs deletion is final; the room
        holds the items, but the peer's copy of them stays deleted): the refusal then says
        ``"reload": true``, and reopening the document shows the room's content."""
        inserted = update.item_ranges(self.doc.state_vector())
        if inserted:
            ps.peer.send(encode_sync_update(delete_update(inserted)))
        message: dict[str, Any] = {
            "type": "error",
            "code": "read_only",
            "message": "This document is read-only for you: your change was not applied.",
        }
        if deletes_live_items(self.doc, update.delete_set):
            message["reload"] = True
        ps.peer.send(encode_json_message(message))


def _overlaps(ds: DeleteSet, ranges: dict[int, tuple[int, int]]) -> bool:
    """Whether the delete set ``ds`` deletes anything in ``ranges`` (client -> [start, end))."""
    for client, (start, end) in ranges.items():
        for clock, length in ds.clients.get(client, ()):
            if clock < end and clock + length > start:
                return True
    return False
