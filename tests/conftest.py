"""Session-wide fixtures: where the test data lives, and the Yjs oracle (one Node process per session).

The test data (traces, Yjs vectors, notebooks, merge cases) is in ``tests/data`` (see its README).
The Yjs oracle needs ``node`` and ``npm ci`` run in ``tests/node``; ``.ci/run`` does both.
Outside CI a missing prerequisite skips the tests that need it; under CI (``CI=true``) it fails them.
"""

from __future__ import annotations

import base64
import itertools
import json
import os
import selectors
import shutil
import subprocess
import tempfile
import time
from pathlib import Path
from typing import Any

import pytest

REPO_ROOT = Path(__file__).resolve().parents[1]
NODE_DIR = REPO_ROOT / "tests" / "node"
ORACLE_SCRIPT = NODE_DIR / "yjs_oracle.mjs"
# Read-only inputs of the tests and benchmarks, with their sources and licenses (tests/data/README.md).
DATA_DIR = REPO_ROOT / "tests" / "data"
IN_CI = os.environ.get("CI", "").lower() in ("1", "true", "yes")


def missing(reason: str) -> None:
    """Skip (locally) or fail (in CI) a test whose prerequisite is absent."""
    if IN_CI:
        pytest.fail(reason, pytrace=False)
    pytest.skip(reason)


@pytest.fixture(scope="session")
def repo_root() -> Path:
    return REPO_ROOT


@pytest.fixture(scope="session")
def data_dir() -> Path:
    """``tests/data`` (read-only inputs, see its README): part of the repository, never skipped."""
    return DATA_DIR


def b64(data: bytes) -> str:
    return base64.b64encode(data).decode("ascii")


def unb64(text: str) -> bytes:
    return base64.b64decode(text)


class OracleError(RuntimeError):
    """Yjs (or the oracle process) refused or failed a request."""


class YjsOracle:
    """A long-lived ``node tests/node/yjs_oracle.mjs`` speaking JSON lines (protocol: top of that script).

    Every read has a deadline, so a hung or crashed Node fails the calling test instead of hanging it;
    after such a failure the process is restarted on the next request.
    """

    def __init__(self, timeout: float = 60.0, command: list[str] | None = None) -> None:
        self.timeout = timeout
        self.command = command
        self._ids = itertools.count(1)
        self._proc: subprocess.Popen | None = None
        self._stderr = None
        self._buf = b""
        self._sel: selectors.BaseSelector | None = None

    # -- process management -------------------------------------------------------------------
    def _start(self) -> None:
        command = self.command
        if command is None:
            node = shutil.which("node")
            if node is None:
                raise OracleError("node is not installed")
            command = [node, str(ORACLE_SCRIPT)]
        self._stderr = tempfile.TemporaryFile()
        self._proc = subprocess.Popen(
            command,
            cwd=str(NODE_DIR),
            stdin=subprocess.PIPE,
            stdout=subprocess.PIPE,
            stderr=self._stderr,
        )
        os.set_blocking(self._proc.stdout.fileno(), False)
        self._sel = selectors.DefaultSelector()
        self._sel.register(self._proc.stdout, selectors.EVENT_READ)
        self._buf = b""

    def close(self) -> None:
        proc, self._proc = self._proc, None
        if proc is None:
            return
        try:
            proc.stdin.close()
        except OSError:
            pass
        try:
            proc.wait(timeout=5)
        except subprocess.TimeoutExpired:
            proc.kill()
            proc.wait()
        if self._sel is not None:
            self._sel.close()
            self._sel = None
        proc.stdout.close()

    def _stderr_tail(self) -> str:
        if self._stderr is None:
            return ""
        self._stderr.seek(0)
        return self._stderr.read()[-4000:].decode("utf-8", "replace")

    def _fail(self, message: str) -> OracleError:
        tail = self._stderr_tail()
        proc = self._proc
        if proc is not None:
            proc.kill()
            proc.wait()
            self._proc = None
        return OracleError(message + (f"\n--- node stderr ---\n{tail}" if tail else ""))

    def _read_line(self, deadline: float) -> bytes:
        while True:
            nl = self._buf.find(b"\n")
            if nl >= 0:
                line, self._buf = self._buf[:nl], self._buf[nl + 1 :]
                return line
            left = deadline - time.monotonic()
            if left <= 0:
                raise self._fail(f"Yjs oracle did not answer within {self.timeout:.0f}s")
            if not self._sel.select(timeout=left):
                continue
            chunk = os.read(self._proc.stdout.fileno(), 1 << 20)
            if not chunk:
                raise self._fail(f"Yjs oracle exited (code {self._proc.poll()})")
            self._buf += chunk

    # -- requests -----------------------------------------------------------------------------
    def request(self, req: dict[str, Any], *, timeout: float | None = None, check: bool = True) -> dict:
        """Send one request, return its answer. ``check`` raises :class:`OracleError` when ``ok`` is false."""
        if self._proc is None or self._proc.poll() is not None:
            self._start()
        req = dict(req)
        req["id"] = next(self._ids)
        line = json.dumps(req, ensure_ascii=True).encode("ascii") + b"\n"
        try:
            self._proc.stdin.write(line)
            self._proc.stdin.flush()
        except BrokenPipeError:
            raise self._fail("Yjs oracle closed its input") from None
        deadline = time.monotonic() + (self.timeout if timeout is None else timeout)
        raw = self._read_line(deadline)
        try:
            answer = json.loads(raw)
        except ValueError:
            raise self._fail(f"Yjs oracle wrote a non-JSON line: {raw[:200]!r}") from None
        if answer.get("id") != req["id"]:
            raise self._fail(f"Yjs oracle answered request {answer.get('id')}, expected {req['id']}")
        if check and not answer.get("ok"):
            raise OracleError(f"Yjs refused {req.get('kind')}: {answer.get('error')}")
        return answer

    def batch(self, requests: list[dict[str, Any]], *, timeout: float | None = None) -> list[dict]:
        """Several requests in one round trip; each answer has its own ``ok`` (not checked here)."""
        return self.request({"kind": "batch", "requests": requests}, timeout=timeout)["answers"]

    # Convenience wrappers (bytes in, bytes out) -------------------------------------------------
    def apply(self, updates: list[bytes], roots: dict[str, str], gc: bool = True) -> dict:
        """Apply ``updates`` to a fresh Y.Doc: returns json, update (bytes), state_vector (bytes), pending."""
        ans = self.request({"kind": "apply", "updates": [b64(u) for u in updates], "roots": roots, "gc": gc})
        ans["update"] = unb64(ans["update"])
        ans["state_vector"] = unb64(ans["state_vector"])
        return ans

    def describe(self, update: bytes) -> str:
        """Yjs's reading of an update, one struct a line (for failure messages)."""
        ans = self.request({"kind": "describe", "update": b64(update)}, check=False)
        if not ans.get("ok"):
            return f"(Yjs cannot decode it: {ans.get('error')})"
        lines = list(ans["structs"])
        lines.append(f"delete set: {ans['delete_set']}")
        return "\n".join(lines)


def _oracle_prerequisites() -> str | None:
    if shutil.which("node") is None:
        return "node is not installed"
    if not (NODE_DIR / "node_modules" / "yjs").is_dir():
        return "Yjs is not installed: run `npm ci` in tests/node (bash .ci/run does)"
    return None


@pytest.fixture(scope="session")
def yjs_oracle():
    """The session's Yjs oracle (see :class:`YjsOracle`)."""
    reason = _oracle_prerequisites()
    if reason:
        missing(reason)
    oracle = YjsOracle()
    try:
        yield oracle
    finally:
        oracle.close()
