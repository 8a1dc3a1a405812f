"""Real kernels for the magics tests: started by a real jupyter_server for a notebook, or on their own.

:class:`Kernel` runs code as JupyterLab does (an ``execute_request`` whose metadata names the cell) and
collects what the kernel showed: plain text and HTML of every display, stdout, and the error, if any.
Every wait has a deadline.
"""

from __future__ import annotations

import asyncio
import os
import queue
import time
from collections.abc import Callable
from dataclasses import dataclass, field
from pathlib import Path

from jupyter_client import BlockingKernelClient, KernelManager

from tests.jupyter_crdt.server.server import REPO_ROOT, JupyterServer

TIMEOUT = 60.0


@dataclass
class Output:
    """What one execution produced."""

    text: list[str] = field(default_factory=list)  # text/plain of each display and result
    html: list[str] = field(default_factory=list)
    stdout: str = ""
    stderr: str = ""
    error: tuple[str, str] | None = None  # (ename, evalue)

    @property
    def all_text(self) -> str:
        return "\n".join(self.text) + self.stdout


class Kernel:
    """A kernel client (and the manager, for a kernel started here rather than by the server)."""

    def __init__(self, client: BlockingKernelClient, manager: KernelManager | None = None) -> None:
        self.client = client
        self.manager = manager

    @classmethod
    def attach(cls, connection_file: Path) -> Kernel:
        client = BlockingKernelClient(connection_file=str(connection_file))
        client.load_connection_file()
        client.start_channels(hb=False)
        _wait_for_ready(client)
        return cls(client)

    @classmethod
    def start(cls, env: dict[str, str], cwd: Path) -> Kernel:
        """A kernel of our own (this Python), with ``env`` added to the environment."""
        manager = KernelManager(kernel_name="python3")
        full = dict(os.environ)
        full["PYTHONPATH"] = os.pathsep.join([str(REPO_ROOT), full.get("PYTHONPATH", "")])
        full.update(env)
        manager.start_kernel(env=full, cwd=str(cwd))
        client = manager.client()
        client.start_channels(hb=False)
        _wait_for_ready(client)
        return cls(client, manager)

    def run(self, code: str, cell_id: str | None = None, timeout: float = TIMEOUT) -> Output:
        """Execute ``code`` (as cell ``cell_id``) and return what it produced."""
        content = {"code": code, "silent": False, "store_history": True, "user_expressions": {},
                   "allow_stdin": False, "stop_on_error": True}
        msg = self.client.session.msg("execute_request", content,
                                      metadata={"cellId": cell_id} if cell_id else {})
        self.client.shell_channel.send(msg)
        msg_id = msg["header"]["msg_id"]
        out = Output()
        deadline = time.monotonic() + timeout
        while True:
            remaining = deadline - time.monotonic()
            if remaining <= 0:
                raise AssertionError(f"no answer to {code!r} within {timeout}s")
            try:
                m = self.client.get_iopub_msg(timeout=remaining)
            except queue.Empty:
                continue
            if m["parent_header"].get("msg_id") != msg_id:
                continue
            kind, c = m["msg_type"], m["content"]
            if kind in ("display_data", "execute_result"):
                out.text.append(c["data"].get("text/plain", ""))
                if "text/html" in c["data"]:
                    out.html.append(c["data"]["text/html"])
            elif kind == "stream":
                if c.get("name") == "stdout":
                    out.stdout += c["text"]
                else:
                    out.stderr += c["text"]
            elif kind == "error":
                out.error = (c["ename"], c["evalue"])
            elif kind == "status" and c["execution_state"] == "idle":
                break
        # IPython shows a UsageError on stderr, not as an error message: the reply names it
        while True:
            reply = self.client.get_shell_msg(timeout=max(0.1, deadline - time.monotonic()))
            if reply["parent_header"].get("msg_id") == msg_id:
                break
        c = reply["content"]
        if c.get("status") == "error" and out.error is None:
            out.error = (c.get("ename", ""), c.get("evalue", ""))
        return out

    def ok(self, code: str, cell_id: str | None = None) -> Output:
        """Run ``code``; fail the test if it raised."""
        out = self.run(code, cell_id)
        assert out.error is None, f"{code!r} failed: {out.error}"
        return out

    def stop(self) -> None:
        self.client.stop_channels()
        if self.manager is not None:
            self.manager.shutdown_kernel(now=True)


def _wait_for_ready(client: BlockingKernelClient) -> None:
    """Until the kernel answers ``kernel_info`` (jupyter_client's own wait trusts heartbeats, which a
    loaded machine misses while a kernel starts)."""
    deadline = time.monotonic() + TIMEOUT
    while True:
        assert time.monotonic() < deadline, f"the kernel did not answer kernel_info within {TIMEOUT}s"
        client.kernel_info()
        try:
            reply = client.get_shell_msg(timeout=1)
        except queue.Empty:
            continue
        if reply["msg_type"] == "kernel_info_reply":  # any of our requests: the kernel is up
            break
    while True:  # what the kernel published while starting
        try:
            client.get_iopub_msg(timeout=0.2)
        except queue.Empty:
            return


def server_kernel(server: JupyterServer, path: str) -> tuple[Kernel, str]:
    """A kernel started by ``server`` for the notebook ``path`` (the sessions API); and its id."""
    status, body = server.request("POST", "/api/sessions", {
        "path": path, "name": Path(path).name, "type": "notebook", "kernel": {"name": "python3"}})
    assert status == 201, (status, body)
    kernel_id = body["kernel"]["id"]
    connection = server.home / "runtime" / f"kernel-{kernel_id}.json"
    deadline = time.monotonic() + TIMEOUT
    while not connection.exists():
        assert time.monotonic() < deadline, f"no connection file for kernel {kernel_id}"
        time.sleep(0.05)
    return Kernel.attach(connection), kernel_id


def own_kernel_for(server: JupyterServer, path: str) -> Kernel:
    """A second kernel for ``path``, started here as the server would (JPY_SESSION_NAME, its runtime)."""
    notebook = server.root / path
    env = {"JPY_SESSION_NAME": str(notebook), "JUPYTER_RUNTIME_DIR": str(server.home / "runtime")}
    return Kernel.start(env, notebook.parent)


DEADLINE = 30.0


def run(coro):  # noqa: ANN001, ANN201 - a test's async main
    return asyncio.run(asyncio.wait_for(coro, 180))


async def in_thread(fn: Callable, *args):  # noqa: ANN202 - the kernel client blocks
    return await asyncio.to_thread(fn, *args)


async def kernel_until(kernel: Kernel, code: str, cond: Callable[[str], bool], what: str) -> str:
    """Run ``code`` until its text satisfies ``cond`` (another kernel's update is on its way)."""
    deadline = time.monotonic() + DEADLINE
    while True:
        out = await in_thread(kernel.run, code)
        text = out.all_text
        if out.error is None and cond(text):
            return text
        if time.monotonic() > deadline:
            raise AssertionError(f"timed out waiting for {what}; last output: {text!r} {out.error}")
        await asyncio.sleep(0.1)
