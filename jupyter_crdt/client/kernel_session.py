"""Where a kernel's notebook is, and which running Jupyter server (if any) serves it.

A kernel started by jupyter_server for a notebook gets the notebook's path in ``JPY_SESSION_NAME``
(ipykernel copies it into the user namespace as ``__session__``): the server's ``cwd_for_path`` joined
with the notebook's name, so usually an absolute file path, or the API path when the session was
created without a name. The server itself is found through its runtime information file
(``jupyter_server.serverapp.list_running_servers``: url, token, root_dir), which lives in the runtime
directory the kernel inherited from it. A server whose root contains the notebook and that answers is
the notebook's server; the kernel then talks to it as an ordinary client with the server's token.

Without such a server (nbconvert, papermill, plain IPython, a server that has gone away) the session is
*offline*: :attr:`KernelSession.server` is None and :attr:`KernelSession.offline_reason` says why.
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

#: Environment variable naming the notebook explicitly (wins over the session variables).
NOTEBOOK_ENV = "JUPYTER_CRDT_NOTEBOOK"
#: Seconds to wait for a server to answer a probe; the magics are interactive.
PROBE_TIMEOUT = 3.0
#: Seconds to wait for any other request.
REQUEST_TIMEOUT = 60.0


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
class ServerInfo:
    """A running Jupyter server, as its runtime information file describes it."""

    url: str  # with the base URL and a trailing slash
    token: Token = field(repr=False)  # never in a repr: see Token
    root_dir: Path

    def __post_init__(self) -> None:
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
            with urllib.request.urlopen(req, timeout=timeout) as resp:
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


def running_servers() -> list[ServerInfo]:
    """Every running Jupyter server of this runtime directory (their info files; none answered yet)."""
    try:
        from jupyter_server.serverapp import list_running_servers
    except ImportError:  # plain IPython without jupyter_server
        return []
    out = []
    try:
        for info in list_running_servers():
            url = str(info.get("url") or "")
            if not url:
                continue
            if not url.endswith("/"):
                url += "/"
            out.append(ServerInfo(url, Token(info.get("token") or ""), Path(info.get("root_dir") or "/")))
    except OSError:
        return []
    return out


def _api_path(hint: str, root: Path) -> str | None:
    """``hint`` as a path relative to ``root`` if the file is under it (None otherwise)."""
    candidate = Path(hint)
    if not candidate.is_absolute():
        candidate = root / candidate
    try:
        rel = candidate.resolve().relative_to(root.resolve())
    except ValueError:
        return None
    if not candidate.exists():
        return None
    return rel.as_posix()


@dataclass
class KernelSession:
    """The notebook of this kernel, and the server serving it (None when offline).

    ``local_path``: the notebook file (for offline commands). ``api_path``: its contents API path on the
    server. ``branch``: the branch the magics act on (``main`` until ``%crdt checkout``).
    """

    local_path: Path | None
    server: ServerInfo | None = None
    api_path: str | None = None
    branch: str = "main"
    offline_reason: str = ""
    servers_seen: list[str] = field(default_factory=list)

    @property
    def online(self) -> bool:
        return self.server is not None

    def crdt_api(self, method: str, what: str, body: Any = None, *, query: Mapping[str, Any] | None = None,
                 suffix: str = "", branch: bool = True) -> Any:
        """Call ``/api/crdt/{what}/{path}{suffix}`` for this notebook (on the current branch)."""
        if self.server is None or self.api_path is None:
            raise ServerError(0, self.offline_reason or "no Jupyter server")
        q = dict(query or {})
        if branch and self.branch != "main":
            q.setdefault("branch", self.branch)
        endpoint = f"api/crdt/{what}/{api_quote(self.api_path)}{suffix}"
        return self.server.request(method, endpoint, body, query=q)


def find_session(user_ns: Mapping[str, Any] | None = None, notebook: str | None = None) -> KernelSession:
    """Locate this kernel's notebook and its server. ``notebook`` overrides what the environment says."""
    hint = notebook or notebook_hint(user_ns)
    if not hint:
        why = ("this kernel does not know its notebook: no JPY_SESSION_NAME or __session__ "
               f"(pass --notebook PATH, or set ${NOTEBOOK_ENV})")
        return KernelSession(None, offline_reason=why)
    servers = running_servers()
    session = KernelSession(None)
    for server in servers:
        api_path = _api_path(hint, server.root_dir)
        session.servers_seen.append(server.url)
        if api_path is None:
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


__all__ = ["KernelSession", "ServerError", "ServerInfo", "Token", "find_session", "notebook_hint",
           "running_servers"]
