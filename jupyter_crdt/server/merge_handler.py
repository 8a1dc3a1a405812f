"""``POST /api/crdt/merge/{path}``: merge another copy of a notebook into the live notebook.

Body: ``{"notebook": <nbformat JSON> | null, "history": "<base64 of the copy's sidecar bytes>" | null,
"author": "…" (optional), "name": "…" (optional, names the copy in the merge change), "base": <nbformat
JSON> (optional, the common ancestor: forces a three-way merge of the notebooks)}``; at least one of
``notebook`` and ``history``. The merge is ``jupyter crdt merge``'s
(:mod:`jupyter_crdt.history.merge_copy`): the union of the two histories when they share one, else a
three-way merge of the notebooks. It is made on the history of the notebook's main room, so every client
receives it at once, it is recorded (the other copy's changes with their own authors, the merge as a
``merge`` change) and the file is saved.

Answers 200 ``{"status": "merged", "changes": N, "upToDate", "threeWay", "conflicts": [...],
"notes": [...]}`` (``changes``: how many changes the live notebook gained); 400 a malformed body,
notebook or history, a path that is not a notebook, or a three-way merge without any base to go on; 404
no such notebook; 409 a notebook whose history is not kept on disk (history disabled, or held by another
process).
"""

from __future__ import annotations

import base64
import binascii
import json
from typing import Any

from jupyter_server.auth.decorator import authorized
from nbformat import NotebookNode
from tornado import web

from crdt import DecodeError, History, HistoryFile, HistoryFileError, merge_updates
from jupyter_crdt.history import NoMergeBase
from jupyter_crdt.history import merge as merge_copy
from jupyter_crdt.notebook import NotebookFormatError, reads_notebook
from jupyter_crdt.server.branches import MAIN
from jupyter_crdt.server.handler_base import ManagedHandler, api_path, document_room
from jupyter_crdt.server.manager import RoomManager

__all__ = ["MergeHandler", "route"]


class MergeHandler(ManagedHandler):
    """See the module docstring."""

    @web.authenticated
    @authorized("write")
    async def post(self, path: str) -> None:
        path = api_path(path)
        if not path.endswith(".ipynb"):
            raise web.HTTPError(400, "merging another copy is for notebooks (.ipynb)")
        body = self.get_json_body()
        if not isinstance(body, dict):
            raise web.HTTPError(400, 'expected a JSON object {"notebook": …, "history": …}')
        theirs = _notebook(body.get("notebook"), "notebook")
        base = _notebook(body.get("base"), "base")
        their_history = _history(body.get("history"))
        if theirs is None and their_history is None:
            raise web.HTTPError(400, "give the other copy's notebook, its history, or both")
        author = body.get("author") or getattr(self.current_user, "username", None) or "server"
        label = body.get("name") or "a copy"
        if not isinstance(author, str) or not isinstance(label, str):
            raise web.HTTPError(400, "author and name are strings")
        room = await document_room(self, path, MAIN)
        nh = room.store.notebook_history
        if nh is None or nh.writer is None:
            raise web.HTTPError(409, f"the history of {path!r} is not kept on disk by this server")
        # From here to the update of the live room nothing awaits: no edit can slip in between.
        nh.flush_edits()  # the change being grouped goes in first
        nh.drop_doc()  # the room's document is the live one; the history's own copy may lag
        before = nh.main
        try:
            result = merge_copy(nh, theirs, their_history, base=base, label=label, author=author)
        except (NoMergeBase, DecodeError) as e:
            # DecodeError: the copy's history holds an update beyond the decoding bounds (docs/security.md).
            raise web.HTTPError(400, str(e)) from None
        finally:
            nh.drop_doc()
        added = nh.history.log(nh.main, since=before)
        nh.writer.append()  # durable before the clients see it
        if added:
            room.apply_recorded(merge_updates([c.update for c in added]))
            await room.save()
        self.finish(json.dumps({
            "status": "merged",
            "changes": len(added),
            "upToDate": result.up_to_date,
            "threeWay": result.three_way,
            "conflicts": result.conflicts,
            "notes": ([f"{label} shares no history with this notebook: merged the files three-way"]
                      if result.unrelated else []) + result.notes,
        }))

def _notebook(value: Any, what: str) -> NotebookNode | None:
    if value is None:
        return None
    if not isinstance(value, dict):
        raise web.HTTPError(400, f"{what} must be a notebook (nbformat JSON)")
    try:
        return reads_notebook(json.dumps(value), name=f"the request's {what}")
    except NotebookFormatError as e:
        raise web.HTTPError(400, str(e)) from None


def _history(value: Any) -> History | None:
    if value is None:
        return None
    if not isinstance(value, str):
        raise web.HTTPError(400, "history must be the base64 of a history file")
    try:
        data = base64.b64decode(value, validate=True)
    except (binascii.Error, ValueError):
        raise web.HTTPError(400, "history is not valid base64") from None
    try:
        return HistoryFile.parse(data, "the request's history")
    except HistoryFileError as e:
        raise web.HTTPError(400, f"not a history file: {e.reason}") from None


def route(manager: RoomManager) -> tuple[str, type, dict]:
    """The URL pattern of the endpoint (relative to the server's base URL)."""
    return (r"/api/crdt/merge/(.*)", MergeHandler, {"manager": manager})
