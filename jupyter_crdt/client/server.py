"""The running Jupyter servers, the one that serves a notebook, and the REST client to it.

A Jupyter server describes itself in its runtime information file (``jupyter_server.serverapp.
list_running_servers``: the runtime directory's ``jpserver-*.json``, with ``url``, ``token``, ``root_dir``,
``pid``). :func:`running_servers` reads them; :class:`Server` is one of them and the one REST client of
this package (:meth:`Server.request`: JSON in and out, the token in an ``Authorization`` header, an error
answer raised as :class:`ServerError` with the server's own message).

A notebook is served by a server whose root holds it and that answers; :class:`NotebookSession` is that
pair (the notebook's contents API path on it, and the branch commands act on), or says why there is none.
Two ways to find it:

- :func:`find_session`, for a kernel: the notebook is what the environment says (``$JUPYTER_CRDT_NOTEBOOK``,
  else ``JPY_SESSION_NAME``, which jupyter_server sets to the notebook's path, else the ``__session__``
  variable ipykernel copies it into), and the server any that holds it and answers. Without one (nbconvert,
  papermill, plain IPython, a server that has gone away) the session is *offline*: its ``server`` is None
  and ``offline_reason`` says why.
- :func:`find_server`, for the command line: a server with ``jupyter_crdt`` holds the lock on the sidecar of
  every notebook whose room is open, so a write command that finds the sidecar locked looks for that
  process (``/proc/locks`` on Linux, :func:`lock_holders`) among the servers whose root holds the notebook
  and which answer ``/api/crdt/status`` for it, and sends the change through its REST API
  (``docs/rest-api.md``).

The token never appears in a repr: reprs end up in tracebacks, and a kernel's tracebacks in shared
notebook outputs and their history (:class:`Token`).
"""

from __future__ import annotations

import json
import os
import urllib.error
import urllib.parse
import urllib.request
from collections.abc import Mapping
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

__all__ = ["MAIN", "NOTEBOOK_ENV", "NotebookSession", "Server", "ServerError", "Token", "api_quote",
           "find_server", "find_session", "lock_holders", "notebook_hint", "running_servers"]

#: Environment variable naming the notebook explicitly (wins over the session variables).
NOTEBOOK_ENV = "JUPYTER_CRDT_NOTEBOOK"
#: Seconds a kernel waits for a server to answer a probe; the magics are interactive.
PROBE_TIMEOUT = 3.0
#: Seconds to wait for any other request (a restore or merge of a big notebook takes a while).
REQUEST_TIMEOUT = 120.0
#: The branch of a notebook that is its file (the server's other branch rooms hold drafts).
MAIN = "main"


class Token(str):
    """A server's token: a ``str`` (sent as is) whose ``repr`` hides it.

    Reprs end up in tracebacks (IPython's verbose mode shows the values on the failing line), and a
    kernel's tracebacks end up in shared notebook outputs and their history: the token must not."""

    __slots__ = ()

    def __repr__(self) -> str:
        return "'<token hidden>'" if self else "''"


class ServerError(Exception):
    """A request to the server failed: ``status`` (0 when it could not be reached) and its message."""

    def __init__(self, status: int, message: str) -> None:
        super().__init__(message)
        self.status = status
        self.message = message


@dataclass(frozen=True)
class Server:
    """A running Jupyter server, as its runtime information file describes it, and the client to it."""

    url: str  # with the base URL and a trailing slash
    token: Token = field(repr=False)  # never in a repr: see Token
    root_dir: Path
    pid: int | None = None

    def __post_init__(self) -> None:
        if not self.url.endswith("/"):
            object.__setattr__(self, "url", self.url + "/")
        if not isinstance(self.token, Token):  # whoever built it, the token's repr stays hidden
            object.__setattr__(self, "token", Token(self.token))

    @property
    def ws_url(self) -> str:
        """The websocket URL prefix matching :attr:`url`."""
        return "ws" + self.url[len("http"):]

    def request(self, method: str, endpoint: str, body: Any = None, *, query: Mapping[str, Any] | None = None,
                timeout: float = REQUEST_TIMEOUT) -> Any:
        """Send one HTTP request to ``endpoint`` (relative to the base URL) and return its JSON answer.

        Raises :class:`ServerError` for an error status (with the server's message) or no connection.
        """
        url = self.url + endpoint.lstrip("/")
        if query:
            url += "?" + urllib.parse.urlencode({k: v for k, v in query.items() if v is not None})
        data = None if body is None else json.dumps(body).encode()
        req = urllib.request.Request(url, data=data, method=method)
        if self.token:
            req.add_header("Authorization", f"token {self.token}")
        if data is not None:
            req.add_header("Content-Type", "application/json")
        try:
            with urllib.request.urlopen(req, timeout=timeout) as resp:  # noqa: S310 - a local server's URL
                raw = resp.read()
        except urllib.error.HTTPError as e:
            raise ServerError(e.code, _error_message(e.read(), e.code, e.reason)) from None
        except (urllib.error.URLError, OSError) as e:
            reason = getattr(e, "reason", e)
            raise ServerError(0, f"cannot reach the Jupyter server at {self.url} ({reason})") from None
        if not raw:
            return None
        try:
            return json.loads(raw)
        except ValueError:
            return raw.decode("utf-8", "replace")

    def api_path(self, path: str | os.PathLike) -> str | None:
        """``path`` (absolute, or relative to the root) as a contents API path, if it is under the root."""
        candidate = Path(path)
        if not candidate.is_absolute():
            candidate = self.root_dir / candidate
        try:
            return candidate.resolve().relative_to(self.root_dir.resolve()).as_posix()
        except ValueError:
            return None


def _error_message(raw: bytes, status: int, reason: str) -> str:
    """The server's own message for an error answer (jupyter_server sends ``{"message": ...}``)."""
    try:
        body = json.loads(raw)
    except ValueError:
        body = None
    if isinstance(body, dict):
        for key in ("message", "error", "reason"):
            if body.get(key):
                return str(body[key])
    return f"{status} {reason}"


def api_quote(path: str) -> str:
    """A contents API path for a URL (slashes kept, everything else escaped)."""
    return urllib.parse.quote(path.strip("/"), safe="/")


def running_servers() -> list[Server]:
    """Every running Jupyter server of this runtime directory (their info files; none asked yet)."""
    try:
        # jupyter_server is heavy and absent from a kernel-only install: looked up only when needed
        from jupyter_server.serverapp import list_running_servers
    except ImportError:  # plain IPython without jupyter_server
        return []
    out = []
    try:
        for info in list_running_servers():
            url = str(info.get("url") or "")
            root = info.get("root_dir") or info.get("notebook_dir")
            if not url or not root:
                continue
            pid = info.get("pid")
            out.append(Server(url, Token(info.get("token") or ""), Path(root).expanduser(),
                              pid if isinstance(pid, int) else None))
    except OSError:
        return []
    return out


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


@dataclass
class NotebookSession:
    """A notebook and the server serving it (None when offline).

    ``local_path``: the notebook file (for offline commands). ``api_path``: its contents API path on the
    server. ``branch``: the branch commands act on (``main`` until the magics' ``checkout``).
    """

    local_path: Path | None
    server: Server | None = None
    api_path: str | None = None
    branch: str = MAIN
    offline_reason: str = ""
    servers_seen: list[str] = field(default_factory=list)

    @property
    def online(self) -> bool:
        return self.server is not None

    def call(self, method: str, what: str, body: Any = None, *, query: Mapping[str, Any] | None = None,
             suffix: str = "", branch: bool = True, timeout: float = REQUEST_TIMEOUT) -> Any:
        """``METHOD /api/crdt/{what}/{path}{suffix}`` for this notebook (on the current branch); its answer.

        Raises :class:`ServerError` (an offline session: status 0, the reason it is offline)."""
        if self.server is None or self.api_path is None:
            raise ServerError(0, self.offline_reason or "no Jupyter server")
        q = dict(query or {})
        if branch and self.branch != MAIN:
            q.setdefault("branch", self.branch)
        endpoint = f"api/crdt/{what}/{api_quote(self.api_path)}{suffix}"
        return self.server.request(method, endpoint, body, query=q, timeout=timeout)


def notebook_hint(user_ns: Mapping[str, Any] | None = None) -> str | None:
    """The notebook this kernel runs for, as the environment tells it (None if nothing tells).

    ``$JUPYTER_CRDT_NOTEBOOK`` first, then ``$JPY_SESSION_NAME`` (jupyter_server), then the
    ``__session__`` and ``__vsc_ipynb_file__`` variables of the user namespace.
    """
    for value in (os.environ.get(NOTEBOOK_ENV), os.environ.get("JPY_SESSION_NAME")):
        if value:
            return value
    ns = user_ns or {}
    for key in ("__session__", "__vsc_ipynb_file__"):
        value = ns.get(key)
        if isinstance(value, str) and value:
            return value
    return None


def find_session(user_ns: Mapping[str, Any] | None = None, notebook: str | None = None) -> NotebookSession:
    """Locate this kernel's notebook and its server. ``notebook`` overrides what the environment says."""
    hint = notebook or notebook_hint(user_ns)
    if not hint:
        why = ("this kernel does not know its notebook: no JPY_SESSION_NAME or __session__ "
               f"(pass --notebook PATH, or set ${NOTEBOOK_ENV})")
        return NotebookSession(None, offline_reason=why)
    servers = running_servers()
    session = NotebookSession(None)
    for server in servers:
        api_path = server.api_path(hint)
        session.servers_seen.append(server.url)
        if api_path is None or not (server.root_dir / api_path).exists():
            continue
        try:
            server.request("GET", "api/status", timeout=PROBE_TIMEOUT)
        except ServerError:
            continue
        session.server, session.api_path = server, api_path
        session.local_path = server.root_dir / api_path
        return session
    local = Path(hint)
    if local.is_absolute() or local.exists():
        session.local_path = local.resolve()
    if not local.exists() and not any((server.root_dir / hint).exists() for server in servers):
        # The file itself is missing: say so, rather than blame a server for not serving it.
        where = " or under a running Jupyter server's root" if servers else ""
        session.offline_reason = f"no notebook at {hint} (no such file in {Path.cwd()}{where})"
    elif not servers:
        session.offline_reason = "no Jupyter server is running for this kernel (no server information found)"
    else:
        session.offline_reason = (f"no running Jupyter server serving {hint} answered "
                                  f"(checked {len(servers)} server(s))")
    return session


def find_server(notebook: str | os.PathLike, sidecar: str | os.PathLike | None = None
                ) -> NotebookSession | None:
    """The running server with ``jupyter_crdt`` that serves ``notebook`` (see the module docstring), as a
    session of it, or None. ``sidecar``: the file whose lock holder is preferred (the notebook's history)."""
    target = Path(notebook).resolve()
    holders = lock_holders(sidecar) if sidecar is not None else set()
    candidates = []
    for server in running_servers():
        api_path = server.api_path(target)
        if api_path is not None:
            candidates.append(NotebookSession(target, server, api_path))
    if holders:  # known: only the holder has the notebook's room open (another process: no server)
        candidates = [s for s in candidates if s.server is not None and s.server.pid in holders]
    for session in candidates:
        try:
            session.call("GET", "status")
        except ServerError:
            continue
        return session
    return None
