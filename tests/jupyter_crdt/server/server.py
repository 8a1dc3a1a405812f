"""A real jupyter_server in a subprocess, on 127.0.0.1 and a free port, for the server tests.

Its home (config, data and runtime folders, and the folder it serves) is a directory the test owns, so
a test can kill the server (SIGKILL included), start it again on the same home, and find the same
file ids and histories. Identities come from :mod:`tests.jupyter_crdt.server.auth`: the token
``user-NAME`` is user NAME, ``reader-NAME`` a read-only user.
"""

from __future__ import annotations

import json
import os
import signal
import socket
import subprocess
import sys
import time
import urllib.error
import urllib.request
from pathlib import Path
from typing import Any

REPO_ROOT = Path(__file__).resolve().parents[3]
ADMIN_TOKEN = "user-admin"


def free_port() -> int:
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return s.getsockname()[1]


class JupyterServer:
    """``start()``, ``stop()``, ``kill()``; ``url``, ``root`` (the served folder), ``request()``."""

    def __init__(self, home: Path, extra_args: list[str] | None = None, **settings: Any) -> None:
        self.home = home
        self.root = home / "root"
        self.root.mkdir(parents=True, exist_ok=True)
        self.extra_args = list(extra_args or [])
        self.settings = {
            "document_save_delay": 0.2,
            "document_cleanup_delay": 60.0,
            "file_poll_interval": 0.2,
        }
        self.settings.update(settings)
        self.proc: subprocess.Popen | None = None
        self.python = sys.executable  # another environment's Python runs the server in that environment
        self.port = 0
        self.log_path = home / "server.log"

    @property
    def url(self) -> str:
        return f"http://127.0.0.1:{self.port}"

    @property
    def ws_url(self) -> str:
        return f"ws://127.0.0.1:{self.port}"

    def start(self, timeout: float = 60.0) -> None:
        self.port = free_port()
        config_dir = self.home / "config"
        config_dir.mkdir(exist_ok=True)
        config = {
            "ServerApp": {
                "jpserver_extensions": {"jupyter_crdt": True, "jupyter_server_fileid": True},
                "identity_provider_class": "tests.jupyter_crdt.server.auth.TokenUsers",
                "authorizer_class": "tests.jupyter_crdt.server.auth.ReadersReadOnly",
            },
            "IdentityProvider": {"token": ADMIN_TOKEN},
            "CrdtExtension": self.settings,
        }
        (config_dir / "jupyter_server_config.json").write_text(json.dumps(config))
        env = dict(os.environ)
        env.update({
            "JUPYTER_CONFIG_DIR": str(config_dir),
            "JUPYTER_DATA_DIR": str(self.home / "data"),
            "JUPYTER_RUNTIME_DIR": str(self.home / "runtime"),
            "JUPYTER_PLATFORM_DIRS": "1",
            "JUPYTER_NO_CONFIG": "",
            "PYTHONPATH": os.pathsep.join([str(REPO_ROOT), env.get("PYTHONPATH", "")]),
        })
        args = [
            self.python, "-m", "jupyter_server",
            "--no-browser",
            "--allow-root",
            f"--ServerApp.port={self.port}",
            "--ServerApp.port_retries=0",
            "--ServerApp.ip=127.0.0.1",
            f"--ServerApp.root_dir={self.root}",
            "--ServerApp.open_browser=False",
            *self.extra_args,
        ]
        log = open(self.log_path, "ab")  # noqa: SIM115 - closed with the process
        self.proc = subprocess.Popen(args, env=env, stdout=log, stderr=subprocess.STDOUT, cwd=self.home)
        log.close()
        deadline = time.monotonic() + timeout
        while True:
            if self.proc.poll() is not None:
                raise RuntimeError(f"jupyter server exited with {self.proc.returncode}:\n{self.log()}")
            try:
                status, _ = self.request("GET", "/api/status")
                if status == 200:
                    return
            except (urllib.error.URLError, ConnectionError, OSError):
                pass
            if time.monotonic() > deadline:
                self.kill()
                raise TimeoutError(f"jupyter server did not start in {timeout}s:\n{self.log()}")
            time.sleep(0.05)

    def log(self) -> str:
        try:
            return self.log_path.read_text(errors="replace")[-20000:]
        except OSError:
            return ""

    def request(self, method: str, path: str, body: Any = None, token: str = ADMIN_TOKEN,
                timeout: float = 30.0) -> tuple[int, Any]:
        data = None if body is None else json.dumps(body).encode()
        req = urllib.request.Request(self.url + path, data=data, method=method)
        req.add_header("Authorization", f"token {token}")
        if data is not None:
            req.add_header("Content-Type", "application/json")
        try:
            with urllib.request.urlopen(req, timeout=timeout) as resp:
                raw = resp.read()
                status = resp.status
        except urllib.error.HTTPError as e:
            raw = e.read()
            status = e.code
        try:
            return status, json.loads(raw) if raw else None
        except ValueError:
            return status, raw.decode(errors="replace")

    def stop(self, timeout: float = 20.0) -> None:
        """A clean shutdown (SIGTERM, then SIGKILL past the deadline)."""
        if self.proc is None or self.proc.poll() is not None:
            return
        self.proc.send_signal(signal.SIGTERM)
        try:
            self.proc.wait(timeout)
        except subprocess.TimeoutExpired:
            self.proc.kill()
            self.proc.wait(timeout)

    def kill(self) -> None:
        """SIGKILL: no shutdown code runs."""
        if self.proc is None or self.proc.poll() is not None:
            return
        self.proc.kill()
        self.proc.wait(20)
