"""The JupyterLab extension as installed: its TypeScript unit tests (run by Node) and the installed build.

The unit tests (``labextension/test/``) check the acknowledgement bookkeeping behind the status bar's
count of unacknowledged edits on real Yjs transactions; they run on the ``lib/`` that ``pip install``
compiled. The browser tests are in ``tests/e2e``.
"""

from __future__ import annotations

import json
import shutil
import subprocess
from pathlib import Path

from tests.conftest import REPO_ROOT, missing

EXT = REPO_ROOT / "labextension"


def test_unit_tests_pass() -> None:
    node = shutil.which("node")
    if node is None or not (EXT / "node_modules" / "yjs").is_dir() or not (EXT / "lib").is_dir():
        missing("labextension not built (pip install -e . builds it; needs Node.js)")
    tests = sorted(str(p) for p in (EXT / "test").glob("*.mjs"))
    assert tests, "labextension/test/ holds no tests"
    proc = subprocess.run(
        [node, "--experimental-default-type=module", "--test", *tests],
        cwd=EXT, capture_output=True, text=True, timeout=120,
    )
    assert proc.returncode == 0, proc.stdout[-4000:] + proc.stderr[-2000:]
    assert "# fail 0" in proc.stdout


def test_extension_is_installed_and_enabled() -> None:
    jupyter = shutil.which("jupyter")
    if jupyter is None:
        missing("jupyter not on PATH")
    proc = subprocess.run([jupyter, "labextension", "list"], capture_output=True, text=True, timeout=120)
    listing = proc.stdout + proc.stderr
    line = next((x for x in listing.splitlines() if "jupyter-crdt" in x), "")
    assert "enabled" in line and "OK" in line, listing
    built = json.loads(Path(REPO_ROOT / "jupyter_crdt" / "labextension" / "package.json").read_text())
    assert built["name"] == "jupyter-crdt"
