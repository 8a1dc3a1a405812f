"""``/api/crdt/{what}/{path}``: a document's history over REST (``docs/rest-api.md``).

``GET``: ``log`` (the changes of the room's branch, with what each did in words), ``document`` (the live
content), ``status`` (peers, dirty, read-only, the history's health), ``show?seq=N`` (the content after
change N), ``diff?from=N&to=M`` and ``blame?cell=ID`` (notebooks with a history on disk). ``POST``:
``save``, ``restore`` with ``{"seq": N}`` (a new change that makes the document version N again).
``?branch=NAME`` works on a branch of a notebook's history instead of ``main``.
"""

from __future__ import annotations

import hashlib
import json
from typing import Any

from jupyter_server.auth.decorator import authorized
from tornado import web

from crdt import History
from crdt.inspect import decode_update
from jupyter_crdt.history.blame import CellNotFound, blame_cell
from jupyter_crdt.history.log import summarize
from jupyter_crdt.history.text import text_log
from jupyter_crdt.notebook.diff import diff_notebooks
from jupyter_crdt.server.branches import NoBranches
from jupyter_crdt.server.handler_base import ManagedHandler, api_path, document_room, int_argument, user_name
from jupyter_crdt.server.room import Room

#: The reference's word for a diff status, where it differs from ours.
_DIFF_STATUS = {"deleted": "removed"}


def _notebook_history(room: Room) -> History | None:
    """The :class:`crdt.History` a notebook room's changes are in (after closing the open change), or
    None for a document without one (a text file, or a history kept in memory)."""
    try:
        nh = room.store.notebook_history
    except NoBranches:
        raise web.HTTPError(404, "the notebook's history is closed (the notebook was deleted?)") from None
    if nh is None:
        return None
    room.store.flush_edits()  # the history holds every accepted edit
    return nh.history


def _log_entries(room: Room) -> list[dict]:
    """The changes of the room's branch, oldest first, with their hash and what each did in words."""
    history = _notebook_history(room)
    if history is not None:
        return [{"seq": i + 1, "id": s.change.hash, "author": s.change.author, "time": s.change.time,
                 "size": len(s.change.update), "kind": s.change.kind, "summary": s.text()}
                for i, s in enumerate(summarize(history, room.store.position()))]
    text_history = room.store.text_history
    if text_history is not None:  # a text file's history, in the notebook format: changes have hashes
        return [{"seq": i + 1, "id": t.change.hash, "author": t.change.author, "time": t.change.time,
                 "size": len(t.change.update), "kind": t.change.kind, "summary": t.text()}
                for i, t in enumerate(text_log(text_history.history, room.store.position()))]
    # a history kept in memory: its updates, as the room accepted them
    return [{"seq": i + 1, "id": hashlib.sha256(r.update).hexdigest(), "author": r.author,
             "time": r.time, "size": len(r.update), "summary": _update_summary(r.update, i == 0)}
            for i, r in enumerate(room.store.records())]


def _update_summary(update: bytes, first: bool) -> str:
    """One line for an update: characters inserted and deleted."""
    view = decode_update(update)
    inserted, deleted = view.inserted_length(), view.deleted_length()
    if first:
        return f"loaded ({inserted} characters)"
    return f"+{inserted}/-{deleted} characters"


def _notebook_only(room: Room, what: str) -> History:
    history = _notebook_history(room) if room.model.type == "notebook" else None
    if history is None:
        raise web.HTTPError(400, f"{what} is available for notebooks with a history on disk")
    return history


class CrdtApiHandler(ManagedHandler):
    """``/api/crdt/{what}/{path}``: our own API (``docs/rest-api.md``)."""

    @web.authenticated
    @authorized("read")
    async def get(self, what: str, path: str) -> None:
        room = await document_room(self, path)
        path = api_path(path)
        if what == "log":
            self.finish(json.dumps({"path": path, "sessionId": room.session_id, "branch": room.branch,
                                    "changes": _log_entries(room)}))
        elif what == "document":
            content = room.model.export(room.doc)
            self.finish(json.dumps({"path": path, "branch": room.branch, "content": content}))
        elif what == "status":
            self.finish(json.dumps({
                "path": path,
                "branch": room.branch,
                "roomId": room.room_id,
                "sessionId": room.session_id,
                "peers": [getattr(p, "author", "") for p in room.peers],
                "changes": len(room.store.records()),
                "dirty": bool(room.doc.get_map("state").get("dirty")),
                "readOnly": room.read_only_on_disk,
                "diskModified": str(room.loader.disk.last_modified) if room.loader else None,
                "historyError": room.history_error,
                "historyWarnings": room.history_notes,
            }))
        elif what == "show":
            seq = int_argument(self, "seq")
            self.finish(json.dumps({"path": path, "seq": seq, "content": self._content_at(room, seq)}))
        elif what == "diff":
            self.finish(json.dumps(self._diff(room, path)))
        elif what == "blame":
            self.finish(json.dumps(self._blame(room, path)))
        else:
            raise web.HTTPError(404, f"unknown endpoint {what!r}")

    @staticmethod
    def _content_at(room: Room, seq: int) -> Any:
        try:
            return room.content_at(seq)
        except ValueError:
            raise web.HTTPError(404, f"no change {seq} (see /api/crdt/log for the changes)") from None

    def _diff(self, room: Room, path: str) -> dict:
        _notebook_only(room, "diff")
        start = int_argument(self, "from")
        end = int_argument(self, "to", 0) if self.get_query_argument("to", "") else None
        before = self._content_at(room, start)
        after = room.model.export(room.doc) if end is None else self._content_at(room, end)
        cells = []
        for d in diff_notebooks(before, after).cells:
            entry: dict[str, Any] = {"id": d.id, "status": _DIFF_STATUS.get(d.op, d.op),
                                     "diff": "\n".join(d.source), "cell_type": d.cell_type}
            if d.fields:
                entry["fields"] = d.fields
            if d.outputs is not None:
                entry["outputs"] = {"before": d.outputs[0], "after": d.outputs[1]}
            cells.append(entry)
        return {"path": path, "from": start, "to": end, "cells": cells}

    def _blame(self, room: Room, path: str) -> dict:
        history = _notebook_only(room, "blame")
        spec = self.get_query_argument("cell", "")
        if not spec:
            raise web.HTTPError(400, "expected ?cell=ID (a cell id, a prefix of one, or an index from 0)")
        try:
            index, info, lines = blame_cell(history, room.doc, spec)
        except CellNotFound as e:
            raise web.HTTPError(404, str(e)) from None
        out = []
        for line in lines:
            d = line.to_dict()
            d.pop("runs", None)
            out.append(d)
        return {"path": path, "cell": info.get("id"), "index": index, "lines": out}

    @web.authenticated
    @authorized("write")
    async def post(self, what: str, path: str) -> None:
        room = await document_room(self, path)
        if what == "save":
            status = await room.save()
            reply: dict[str, Any] = {"status": status}
            if room.save_problems:
                reply["problems"] = room.save_problems  # what the file lacks (docs/security.md)
            self.finish(json.dumps(reply))
        elif what == "restore":
            body = self.get_json_body() or {}
            try:
                seq = int(body["seq"])
            except (KeyError, TypeError, ValueError):
                raise web.HTTPError(400, "expected {\"seq\": N}") from None
            before = room.model.digest(room.model.export(room.doc))
            try:
                room.restore(seq, user_name(self))
            except ValueError:
                raise web.HTTPError(404, f"no change {seq} (see /api/crdt/log for the changes)") from None
            # False: the document already was that version, so nothing happened (the panel says so)
            changed = room.model.digest(room.model.export(room.doc)) != before
            self.finish(json.dumps({"status": "restored", "seq": seq, "branch": room.branch,
                                    "changed": changed}))
        else:
            raise web.HTTPError(404, f"unknown endpoint {what!r}")

