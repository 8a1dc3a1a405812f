"""``scripts/lab.sh`` on a clean clone: open and edit the demo notebook, stop, and the checkout is unchanged.

The script runs with ``LAB_VENV`` set to the test's own virtualenv (nothing is installed), on a free port
of 127.0.0.1, with Jupyter's config, data and runtime folders in the test's folder.
"""

from __future__ import annotations

import asyncio
import os
import shutil
import signal
import subprocess
import sys
import time
import urllib.error
import urllib.request
from pathlib import Path
from types import SimpleNamespace

import pytest

from tests.conftest import REPO_ROOT, missing
from tests.jupyter_crdt.server.client import CollabClient, http, wait_until
from tests.jupyter_crdt.server.notebooks import new_cell, read_notebook
from tests.jupyter_crdt.server.server import free_port

TOKEN = "lab-script-test-token"
START_TIMEOUT = 120.0


def git(repo: Path, *args: str) -> str:
    r = subprocess.run(["git", *args], cwd=repo, capture_output=True, text=True, timeout=120)
    assert r.returncode == 0, f"git {' '.join(args)}: {r.stderr}"
    return r.stdout


def wait_for_server(url: str, proc: subprocess.Popen, log: Path) -> None:
    deadline = time.monotonic() + START_TIMEOUT
    while time.monotonic() < deadline:
        if proc.poll() is not None:
            pytest.fail(f"scripts/lab.sh exited {proc.returncode}:\n{log.read_text()[-4000:]}")
        try:
            with urllib.request.urlopen(f"{url}/api/status?token={TOKEN}", timeout=5) as r:
                if r.status == 200:
                    return
        except (urllib.error.URLError, OSError):
            pass
        time.sleep(0.2)
    pytest.fail(f"JupyterLab did not answer within {START_TIMEOUT:.0f}s:\n{log.read_text()[-4000:]}")


def stop(proc: subprocess.Popen) -> None:
    """SIGTERM to the script's process group (JupyterLab shuts down), SIGKILL if it hangs."""
    if proc.poll() is not None:
        return
    os.killpg(proc.pid, signal.SIGTERM)
    try:
        proc.wait(timeout=30)
    except subprocess.TimeoutExpired:
        os.killpg(proc.pid, signal.SIGKILL)
        proc.wait(timeout=30)


async def open_and_edit(url: str, root: Path) -> None:
    server = SimpleNamespace(url=url, ws_url=url.replace("http://", "ws://"))
    client = CollabClient(server, "demo.ipynb", "notebook", token=TOKEN, name="alice")
    await client.connect()
    try:
        cells = client.doc.get_array("cells")
        assert len(cells) > 0, "the demo notebook opened empty"
        cells.insert(len(cells), [new_cell("print('typed through scripts/lab.sh')")])
        assert await client.save() == "success"
        await wait_until(lambda: "typed through scripts/lab.sh" in (root / "demo.ipynb").read_text(),
                         what="the edit to be saved")
        # a checkpoint, as JupyterLab's save makes one
        code, _ = await http(server, "POST", "/api/contents/demo.ipynb/checkpoints", token=TOKEN)
        assert code == 201, code
    finally:
        await client.close()


@pytest.mark.slow  # starts a whole JupyterLab (about half a minute on a busy machine)
@pytest.mark.timeout(300)
def test_lab_script_leaves_a_clean_clone_clean(tmp_path):
    if shutil.which("git") is None:
        missing("git is not installed")
    if sys.prefix == sys.base_prefix:
        missing("the tests must run in a virtualenv (scripts/lab.sh reuses it through LAB_VENV)")
    clone = tmp_path / "clone"
    git(tmp_path, "clone", "-q", str(REPO_ROOT), str(clone))
    assert git(clone, "status", "--porcelain") == ""
    home = tmp_path / "home"
    port = free_port()
    env = dict(os.environ)
    env.update({
        "LAB_VENV": sys.prefix,
        "LAB_PORT": str(port),
        "JUPYTER_CONFIG_DIR": str(home / "config"),
        "JUPYTER_DATA_DIR": str(home / "data"),
        "JUPYTER_RUNTIME_DIR": str(home / "runtime"),
        "JUPYTER_PLATFORM_DIRS": "1",
        # the server runs this checkout's code whatever the venv has installed
        "PYTHONPATH": os.pathsep.join([str(REPO_ROOT), env.get("PYTHONPATH", "")]),
    })
    env.pop("LAB_IP", None)
    env.pop("LAB_FRESH", None)
    log = tmp_path / "lab.log"
    with open(log, "wb") as out:
        command = ["bash", "scripts/lab.sh", "--no-browser", f"--IdentityProvider.token={TOKEN}"]
        proc = subprocess.Popen(command, cwd=clone, env=env, stdout=out, stderr=subprocess.STDOUT,
                                start_new_session=True)
    url = f"http://127.0.0.1:{port}"
    try:
        wait_for_server(url, proc, log)
        root = clone / ".lab" / "examples"
        asyncio.run(asyncio.wait_for(open_and_edit(url, root), 120))
    finally:
        stop(proc)
    text = log.read_text()
    assert f"{url}/lab" in text, text[-4000:]  # it listened where it was told (127.0.0.1 by default)
    # everything the session made is in the scratch copy...
    assert (root / ".demo.ipynb.crdt").is_file()
    assert (root / ".ipynb_checkpoints").is_dir()
    sources = ["".join(c["source"]) for c in read_notebook(root / "demo.ipynb")["cells"]]
    assert "print('typed through scripts/lab.sh')" in sources
    # ...and the checkout is as it was cloned
    assert git(clone, "status", "--porcelain") == ""
    assert "typed through" not in (clone / "examples" / "demo.ipynb").read_text()
