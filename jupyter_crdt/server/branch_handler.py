"""``/api/crdt/branches/{path}``: the branches of a notebook's history over REST (``docs/rest-api.md``);
the operations themselves are :mod:`jupyter_crdt.server.branches`'."""

from __future__ import annotations

import contextlib
import json
from collections.abc import Iterator

from jupyter_server.auth.decorator import authorized
from tornado import web

from jupyter_crdt.server import branches as branches_api
from jupyter_crdt.server.branches import MAIN, BadBranchName, BranchExists, NoBranches, UnknownBranch
from jupyter_crdt.server.handler_base import ManagedHandler, api_path, document_room


class BranchesHandler(ManagedHandler):
    """``/api/crdt/branches/{path}``: the branches of a notebook's history (``docs/rest-api.md``).

    ``GET`` lists them, ``POST`` with ``{"name", "from"}`` makes one, ``POST …/merge`` with ``{"from",
    "into"}`` merges one into another, ``DELETE ?name=`` forgets one. Branch rooms are joined at
    ``/api/collaboration/room/{format}:{type}:{fileId}@{branch}``.
    """

    @web.authenticated
    @authorized("read")
    async def get(self, path: str) -> None:
        main = await document_room(self, path, MAIN)
        with self._errors():
            branches = branches_api.list_branches(self.manager, main)
        self.finish(json.dumps({"path": api_path(path), "branches": branches}))

    @web.authenticated
    @authorized("write")
    async def post(self, path: str) -> None:
        path = api_path(path)
        merging = path.endswith("/merge")
        if merging:
            path = path[: -len("/merge")]
        body = self.get_json_body() or {}
        if not isinstance(body, dict):
            raise web.HTTPError(400, "expected a JSON object")
        main = await document_room(self, path, MAIN)
        with self._errors():
            if merging:
                source = body.get("from")
                if not isinstance(source, str) or not source:
                    raise web.HTTPError(400, 'expected {"from": BRANCH, "into": BRANCH}')
                target = body.get("into") or MAIN
                vm = await branches_api.merge_branch(self.manager, main, source, str(target))
                self.finish(json.dumps({"status": "merged", "into": target, "from": source,
                                        **branches_api.merge_report(vm)}))
                return
            name = branches_api.check_name(body.get("name"))
            source = body.get("from") or MAIN
            room_id = branches_api.create_branch(self.manager, main, name, str(source))
        self.set_status(201)
        self.finish(json.dumps({"name": name, "roomId": room_id}))

    @web.authenticated
    @authorized("write")
    async def delete(self, path: str) -> None:
        name = self.get_query_argument("name", "")
        if not name:
            raise web.HTTPError(400, "expected ?name=BRANCH")
        main = await document_room(self, path, MAIN)
        with self._errors():
            await branches_api.delete_branch(self.manager, main, name)
        self.set_status(204)
        self.finish()

    @contextlib.contextmanager
    def _errors(self) -> Iterator[None]:
        """The branch operations' errors as HTTP errors."""
        try:
            yield
        except (BadBranchName, NoBranches) as e:
            raise web.HTTPError(400, str(e)) from None
        except UnknownBranch as e:
            raise web.HTTPError(404, str(e)) from None
        except BranchExists as e:
            raise web.HTTPError(409, str(e)) from None

