"""Done-when 2: a Node client made of JupyterLab's published pieces (y-websocket's provider, the
version @jupyter/docprovider bundles, and @jupyter/ydoc's YNotebook; Yjs and y-protocols underneath)
edits a notebook together with a Python client; both converge and the saved file is right."""

from __future__ import annotations

import asyncio
import contextlib
import json
import random
import shutil
import time
from pathlib import Path

from tests.conftest import missing

from .client import CollabClient, wait_until
from .conftest import run
from .notebooks import export, make_notebook, random_edit, read_notebook, write_notebook

NODE_DIR = Path(__file__).parent / "node"


def _node_ready() -> None:
    if shutil.which("node") is None:
        missing("node is not installed")
    if not (NODE_DIR / "node_modules" / "y-websocket").is_dir():
        missing(f"run `npm ci` in {NODE_DIR}")


def test_node_yjs_client_and_python_client_converge(server, unique_name):
    _node_ready()
    path = f"{unique_name}.ipynb"
    write_notebook(server.root / path, make_notebook(5))

    async def main():
        py = await CollabClient(server, path, "notebook", token="user-python").connect()
        info = py.session_info
        room = f"{info['format']}:{info['type']}:{info['fileId']}"
        proc = await asyncio.create_subprocess_exec(
            "node", str(NODE_DIR / "client.mjs"), f"{server.ws_url}/api/collaboration/room", room,
            info["sessionId"], "user-node", "node", "40",
            stdin=asyncio.subprocess.PIPE, stdout=asyncio.subprocess.PIPE, stderr=asyncio.subprocess.PIPE,
            cwd=str(NODE_DIR),
        )
        events: list[dict] = []

        async def read_events():
            while True:
                line = await proc.stdout.readline()
                if not line:
                    return
                events.append(json.loads(line))

        reader = asyncio.ensure_future(read_events())
        try:
            def node_synced() -> bool:
                return proc.returncode is not None or any(e["event"] == "synced" for e in events)

            await wait_until(node_synced, what="the Node client to sync")
            assert any(e["event"] == "synced" and e["cells"] == 5 for e in events), events
            rnd = random.Random(3)
            for i in range(40):
                random_edit(rnd, py.doc, f"py{i}")
                await asyncio.sleep(0.005)
            await wait_until(lambda: any(e["event"] == "edited" for e in events), what="the Node edits")

            async def node_notebook() -> dict:
                count = len(events)
                proc.stdin.write(b"dump\n")
                await proc.stdin.drain()
                await wait_until(lambda: len(events) > count, what="a dump")
                return next(e for e in reversed(events) if e["event"] == "dump")["notebook"]

            def shape(nb: dict) -> list:
                return [(c.get("id"), c["cell_type"], "".join(c["source"]),
                         {k: v for k, v in c.get("metadata", {}).items() if k != "trusted"})
                        for c in nb["cells"]]

            deadline = time.monotonic() + 60
            while True:
                theirs = await node_notebook()
                if shape(theirs) == shape(export(py.doc)):
                    break
                assert time.monotonic() < deadline, "the Node and Python clients never converged"
                await asyncio.sleep(0.05)
            final = export(py.doc)
            text = "".join("".join(c["source"]) for c in final["cells"])
            assert text.count("<node") >= 20 and "<py" in text
            await wait_until(lambda: shape(read_notebook(server.root / path)) == shape(final),
                             what="the saved file to hold the converged notebook")
        finally:
            if proc.returncode is None:
                with contextlib.suppress(Exception):
                    proc.stdin.write(b"exit\n")
                    await proc.stdin.drain()
                try:
                    await asyncio.wait_for(proc.wait(), 10)
                except asyncio.TimeoutError:
                    proc.kill()
            reader.cancel()
            await py.close()

    run(main())



