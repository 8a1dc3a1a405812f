"""Runs one Node browser scenario (``tests/e2e/run.mjs``) and returns what it reports.

The conversation is JSON lines (see ``lib/protocol.mjs``): the scenario may ask for steps only the test
can do (restart the server), then ends with ``{"result": ...}`` or ``{"error": ...}``. Every read has a
deadline; past it the Node process (and its Chromium) is killed and the test fails with both logs.
"""

from __future__ import annotations

import json
import os
import selectors
import shutil
import subprocess
import tempfile
import time
from collections.abc import Callable
from pathlib import Path
from typing import Any

E2E_DIR = Path(__file__).resolve().parent
RUNNER = E2E_DIR / "run.mjs"
CHROMIUM = os.environ.get("CHROMIUM", "/usr/bin/chromium")

StepHandler = Callable[[dict[str, Any]], dict[str, Any]]


class ScenarioFailed(AssertionError):
    """The scenario did not finish: its own error, a crash, or a deadline; with the Node log."""


def prerequisites() -> str | None:
    """Why the browser scenarios cannot run here, or None when they can."""
    if shutil.which("node") is None:
        return "node is not installed"
    if not (E2E_DIR / "node_modules" / "playwright-core").is_dir():
        return "playwright-core is not installed: run `npm ci` in tests/e2e (bash .ci/run does)"
    if not os.access(CHROMIUM, os.X_OK):
        return f"Chromium not found at {CHROMIUM}: `apt-get install chromium` (bash .ci/run does)"
    return None


def run_scenario(
    name: str,
    config: dict[str, Any],
    on_step: StepHandler | None = None,
    timeout: float = 240.0,
) -> dict[str, Any]:
    """Run scenario ``name`` with ``config`` (passed to it as JSON); return its ``result`` object."""
    command = [shutil.which("node") or "node", str(RUNNER), json.dumps({"scenario": name, **config})]
    env = dict(os.environ, CHROMIUM=CHROMIUM)
    with tempfile.TemporaryFile() as stderr:
        proc = subprocess.Popen(command, cwd=E2E_DIR, env=env, stdin=subprocess.PIPE,
                                stdout=subprocess.PIPE, stderr=stderr)
        try:
            return _converse(proc, on_step, time.monotonic() + timeout)
        except ScenarioFailed as failure:
            stderr.seek(0)
            tail = stderr.read()[-6000:].decode("utf-8", "replace")
            raise ScenarioFailed(f"{failure}\n--- node stderr ---\n{tail}") from None
        finally:
            if proc.poll() is None:
                proc.kill()
            proc.wait(30)
            proc.stdin.close()
            proc.stdout.close()


def _converse(proc: subprocess.Popen, on_step: StepHandler | None, deadline: float) -> dict[str, Any]:
    buffer = b""
    with selectors.DefaultSelector() as selector:
        selector.register(proc.stdout, selectors.EVENT_READ)
        while True:
            newline = buffer.find(b"\n")
            if newline < 0:
                left = deadline - time.monotonic()
                if left <= 0:
                    raise ScenarioFailed("the scenario did not finish before its deadline")
                if not selector.select(timeout=left):
                    continue
                chunk = os.read(proc.stdout.fileno(), 1 << 20)
                if not chunk:
                    raise ScenarioFailed(f"the scenario exited (code {proc.wait(30)}) without a result")
                buffer += chunk
                continue
            line, buffer = buffer[:newline], buffer[newline + 1:]
            try:
                message = json.loads(line)
            except ValueError:
                raise ScenarioFailed(f"the scenario printed a non-JSON line: {line[:300]!r}") from None
            if "result" in message:
                return message["result"]
            if "error" in message:
                raise ScenarioFailed(f"the scenario failed: {message['error']}")
            if "step" in message:
                if on_step is None:
                    raise ScenarioFailed(f"the scenario asked for step {message['step']!r}; none expected")
                answer = on_step(message)
                proc.stdin.write(json.dumps(answer).encode() + b"\n")
                proc.stdin.flush()
