"""This kernel's notebook, the server serving it, and the kernel's connections to its rooms."""

from __future__ import annotations

import argparse
import contextlib
from pathlib import Path
from typing import Any

from jupyter_crdt.client import MAIN, NotebookSession, RoomClient, find_session
from jupyter_crdt.magics.parser import fail


class KernelConnection:
    """The session (found once, retried while offline) and one room client per branch, joined on first use.

    ``shell``: the IPython shell (its user namespace tells the notebook; its kernel the running cell)."""

    def __init__(self, shell: Any) -> None:
        self.shell = shell
        self._session: NotebookSession | None = None
        self.clients: dict[str, RoomClient] = {}

    def session(self, args: argparse.Namespace) -> NotebookSession:
        """This kernel's notebook and server (``--notebook`` overrides; an offline session is retried)."""
        if args.notebook:
            # The notebook asked for, never the one a cached (maybe failed) lookup found instead; the
            # cached session only when it is that notebook on the same server (it knows the branch).
            found = find_session(self.shell.user_ns, notebook=args.notebook)
            cached = self._session
            if (cached is not None and cached.online and found.online and cached.server == found.server
                    and cached.api_path == found.api_path):
                return cached
            return found
        if self._session is None or not self._session.online:
            branch = self._session.branch if self._session is not None else MAIN
            self._session = find_session(self.shell.user_ns)
            self._session.branch = branch if self._session.online else MAIN
        return self._session

    @staticmethod
    def local(args: argparse.Namespace, s: NotebookSession) -> Path:
        """The notebook file, for a command working offline (or the one-line reason there is none)."""
        if s.local_path is None or not s.local_path.exists():
            why = s.offline_reason if s.local_path is None else f"no notebook at {s.local_path}"
            fail(args.command, why)
        return s.local_path

    @staticmethod
    def need_server(args: argparse.Namespace, s: NotebookSession, what: str) -> None:
        if not s.online:
            fail(args.command, f"{what} needs the Jupyter server, and {s.offline_reason}")

    def client(self, s: NotebookSession) -> RoomClient:
        """This kernel's connection to the current branch's room (joined on first use)."""
        assert s.server is not None and s.api_path is not None
        client = self.clients.get(s.branch)
        if client is not None and (not client.alive or client.server != s.server):
            client.close()
            client = None
        if client is None:
            name = Path(s.api_path).name
            user = {"name": "kernel", "display_name": f"Kernel of {name}", "kernel": True}
            client = RoomClient(s.server, s.api_path, s.branch, user=user).start()
            self.clients[s.branch] = client
        cell = self.current_cell_id()
        if cell:
            with contextlib.suppress(Exception):
                client.set_local_field("cellId", cell)
        return client

    def current_cell_id(self) -> str | None:
        """The id of the cell being run (JupyterLab sends it in the request's metadata), if known."""
        kernel = getattr(self.shell, "kernel", None)
        parent: Any = None
        if kernel is not None and hasattr(kernel, "get_parent"):
            with contextlib.suppress(Exception):
                parent = kernel.get_parent()
        if not isinstance(parent, dict):
            parent = {}
        cell = (parent.get("metadata") or {}).get("cellId")
        return cell if isinstance(cell, str) and cell else None

    @staticmethod
    def log_entries(s: NotebookSession) -> list[dict]:
        """The server's log of the notebook (on the current branch), oldest first."""
        body = s.call("GET", "log")
        return list(body.get("changes", [])) if isinstance(body, dict) else []

    def close(self) -> None:
        """Leave every room."""
        for client in self.clients.values():
            client.close()
        self.clients.clear()
