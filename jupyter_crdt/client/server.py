"""The running Jupyter server that has a notebook's history open, and asking it to change the notebook.

A server with ``jupyter_crdt`` holds the lock on the sidecar of every notebook whose room is open, so the
command line cannot write that history itself. :func:`find_server` finds that server among the running
ones (``jupyter_server.serverapp.list_running_servers``: the runtime directory's ``jpserver-*.json``, with
``url``, ``token``, ``root_dir``, ``pid``): one whose root holds the notebook, that is the process holding
the sidecar's lock when that is known (``/proc/locks`` on Linux), and that answers ``/api/crdt/status``
for it. Write
commands then go through its REST API (``docs/rest-api.md``): ``restore`` and ``merge``.
"""

from __future__ import annotations

import json
import os
import urllib.error
import urllib.request
from pathlib import Path
from typing import Any
from urllib.parse import quote

from jupyter_crdt.client.kernel_session import Token

__all__ = ["LiveServer", "LiveServerError", "find_server", "lock_holders"]

_TIMEOUT = 120.0


class LiveServerError(RuntimeError):
    """The server refused or failed a request (the message says what it answered)."""


class LiveServer:
    """One running server and the API path of one notebook in it."""

    def __init__(self, url: str, token: str, path: str, pid: int | None = None) -> None:
        self.url = url if url.endswith("/") else url + "/"
        self.token = Token(token)  # its repr is hidden (tracebacks show reprs)
        self.path = path
        self.pid = pid

    def request(self, method: str, endpoint: str, body: Any = None) -> tuple[int, Any]:
        """``METHOD {url}api/crdt/{endpoint}/{path}``; returns (status, the decoded JSON answer)."""
        data = None if body is None else json.dumps(body).encode("utf-8")
        req = urllib.request.Request(f"{self.url}api/crdt/{endpoint}/{quote(self.path)}", data=data,
                                     method=method)
        if self.token:
            req.add_header("Authorization", f"token {self.token}")
        if data is not None:
            req.add_header("Content-Type", "application/json")
        try:
            with urllib.request.urlopen(req, timeout=_TIMEOUT) as resp:  # noqa: S310 - a local server's URL
                status, raw = resp.status, resp.read()
        except urllib.error.HTTPError as e:
            status, raw = e.code, e.read()
        except (urllib.error.URLError, OSError) as e:
            raise LiveServerError(f"the Jupyter server at {self.url} did not answer ({e})") from None
        try:
            return status, json.loads(raw) if raw else None
        except ValueError:
            return status, raw.decode("utf-8", "replace")

    def call(self, method: str, endpoint: str, body: Any = None) -> Any:
        """:meth:`request`, raising :class:`LiveServerError` unless the answer is a 2xx."""
        status, answer = self.request(method, endpoint, body)
        if not 200 <= status < 300:
            reason = answer.get("message") or answer.get("reason") if isinstance(answer, dict) else answer
            raise LiveServerError(f"the Jupyter server at {self.url} answered {status}: {reason or 'error'}")
        return answer

    def __repr__(self) -> str:
        return f"<LiveServer {self.url} {self.path}>"


def lock_holders(path: str | os.PathLike) -> set[int]:
    """The processes holding a lock on the file at ``path`` (Linux ``/proc/locks``; empty elsewhere)."""
    try:
        inode = os.stat(path).st_ino
        with open("/proc/locks", encoding="ascii", errors="replace") as f:
            lines = f.read().splitlines()
    except OSError:
        return set()
    pids = set()
    for line in lines:
        fields = line.split()
        if len(fields) < 6 or fields[1] == "->":  # "->": a process waiting for the lock, not holding it
            continue
        try:
            pid, where = int(fields[4]), fields[5]
            if int(where.rsplit(":", 1)[1]) == inode:
                pids.add(pid)
        except (ValueError, IndexError):
            continue
    return pids


def _running_servers() -> list[dict]:
    try:
        from jupyter_server.serverapp import list_running_servers
    except ImportError:  # pragma: no cover - jupyter_server is a dependency
        return []
    try:
        return list(list_running_servers())
    except OSError:
        return []


def find_server(notebook: str | os.PathLike, sidecar: str | os.PathLike | None = None) -> LiveServer | None:
    """The running server with ``jupyter_crdt`` that serves ``notebook`` (see the module docstring), or
    None. ``sidecar``: the file whose lock holder is preferred (the notebook's history)."""
    target = Path(notebook).resolve()
    holders = lock_holders(sidecar) if sidecar is not None else set()
    candidates = []
    for info in _running_servers():
        root = info.get("root_dir") or info.get("notebook_dir")
        url = info.get("url")
        if not root or not url:
            continue
        try:
            rel = target.relative_to(Path(root).expanduser().resolve())
        except ValueError:
            continue
        candidates.append(LiveServer(url, info.get("token") or "", rel.as_posix(), info.get("pid")))
    if holders:  # known: only the holder has the notebook's room open (another process: no server)
        candidates = [s for s in candidates if s.pid in holders]
    for server in candidates:
        try:
            status, _ = server.request("GET", "status")
        except LiveServerError:
            continue
        if status == 200:
            return server
    return None
