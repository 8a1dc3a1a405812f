"""What every handler of the extension shares: authorization on ``contents``, the room manager, and
finding the room of a document from a request.

Every handler authenticates, and authorizes on the ``contents`` resource: ``read`` to open a session,
sync and follow a document, ``write`` to change it (checked per connection; a read-only connection's
updates are refused by its room).
"""

from __future__ import annotations

from typing import Any

from jupyter_core.utils import ensure_async
from jupyter_server.base.handlers import APIHandler, JupyterHandler
from tornado import web

from jupyter_crdt.server.branches import MAIN, BadBranchName, NoBranches, UnknownBranch
from jupyter_crdt.server.loaders import FileGone
from jupyter_crdt.server.manager import RoomManager
from jupyter_crdt.server.room import Room
from jupyter_crdt.server.stores import StoreLocked

#: The jupyter_server authorization resource of every handler here.
AUTH_RESOURCE = "contents"


async def can(handler: JupyterHandler, action: str) -> bool:
    """Whether the request's user may ``action`` (``read``/``write``) on ``contents``."""
    user = handler.current_user
    if not user:
        return False
    return bool(await ensure_async(handler.authorizer.is_authorized(handler, user, action, AUTH_RESOURCE)))


def api_path(path: str) -> str:
    """A contents API path: relative, without a leading slash (JupyterLab's timeline sends one)."""
    return path.strip("/")


def user_name(handler: JupyterHandler) -> str:
    """The name changes made through this request are recorded under."""
    user = handler.current_user
    return getattr(user, "username", None) or str(user)


def int_argument(handler: JupyterHandler, name: str, default: int | None = None) -> int:
    """The query argument ``?name=N`` (400 when missing without a default, or not an integer)."""
    raw = handler.get_query_argument(name, None)
    if raw is None or raw == "":
        if default is None:
            raise web.HTTPError(400, f"expected ?{name}=N")
        return default
    try:
        return int(raw)
    except ValueError:
        raise web.HTTPError(400, f"?{name} must be an integer, not {raw!r}") from None


class ManagedHandler(APIHandler):
    """A REST handler over the rooms of :class:`~jupyter_crdt.server.manager.RoomManager`."""

    auth_resource = AUTH_RESOURCE

    def initialize(self, manager: RoomManager) -> None:
        self.manager = manager

    @property
    def file_id_manager(self) -> Any:
        return self.settings["file_id_manager"]


async def document_room(handler: ManagedHandler, path: str, branch: str | None = None) -> Room:
    """The room of the document at ``path`` (``?type=`` or its extension tells which kind), on ``branch``
    (default: the ``?branch=`` argument, else ``main``). HTTP errors: 404 no such file or branch, 400 a
    bad branch name or a document without branches, 409 a history another process holds."""
    path = api_path(path)
    if branch is None:
        branch = handler.get_query_argument("branch", MAIN) or MAIN
    file_type = handler.get_query_argument("type", "notebook" if path.endswith(".ipynb") else "file")
    file_format = "json" if file_type == "notebook" else "text"
    file_id = handler.file_id_manager.get_id(path) or handler.file_id_manager.index(path)
    if file_id is None:
        raise web.HTTPError(404, f"File {path!r} does not exist")
    try:
        return await handler.manager.get_branch(file_format, file_type, file_id, branch)
    except (FileGone, FileNotFoundError):
        raise web.HTTPError(404, f"File {path!r} does not exist") from None
    except StoreLocked as e:
        raise web.HTTPError(409, str(e)) from None
    except (BadBranchName, NoBranches) as e:
        raise web.HTTPError(400, str(e)) from None
    except UnknownBranch as e:
        raise web.HTTPError(404, str(e)) from None
    except LookupError as e:
        raise web.HTTPError(400, str(e)) from None
