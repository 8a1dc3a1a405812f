"""jupyter-crdt installed beside jupyter-collaboration (the reference), in a virtual environment of
their own: jupyter-collaboration's server extension (jupyter_server_ydoc) serves the collaboration
routes, ours says in one log line, without a traceback, that it does not load, and JupyterLab works
on the reference's stack: two windows typing in one notebook converge.

The environment gets jupyter-collaboration and our package's dependencies from the package index (a
minute or two, once per session); our package itself is this checkout (on ``PYTHONPATH``, with its
JupyterLab extension build linked, as in every browser test).
"""

from __future__ import annotations

import os
import subprocess
import sys
from collections.abc import Iterator
from pathlib import Path

import pytest

from tests.conftest import missing

from .lab_server import LabServer
from .scenario_runner import prerequisites, run_scenario
from .test_browser import code_cell, write_notebook

pytestmark = pytest.mark.slow

REPO_ROOT = Path(__file__).resolve().parents[2]

#: The reference, in the range that matches the JupyterLab our extension is built for (4.6).
REFERENCE = "jupyter-collaboration>=5.0.4,<6"


def project_dependencies() -> list[str]:
    """Our package's runtime dependencies, as the installed package declares them (``pyproject.toml``'s,
    without the extras)."""
    from importlib.metadata import requires

    return [r for r in requires("jupyter-crdt") or [] if "extra ==" not in r]


@pytest.fixture(scope="module")
def reference_python(tmp_path_factory: pytest.TempPathFactory) -> Path:
    """The Python of a fresh virtual environment with jupyter-collaboration and our dependencies."""
    venv = tmp_path_factory.mktemp("reference-venv")
    subprocess.run([sys.executable, "-m", "venv", str(venv)], check=True, timeout=300)
    python = venv / ("Scripts/python.exe" if os.name == "nt" else "bin/python")
    install = subprocess.run(
        [str(python), "-m", "pip", "install", "--quiet", "--disable-pip-version-check", REFERENCE,
         *project_dependencies()],
        capture_output=True, text=True, timeout=1200)
    if install.returncode != 0:
        missing(f"could not install {REFERENCE} in a fresh venv:\n{install.stderr[-3000:]}")
    return python


@pytest.fixture(scope="module")
def reference_lab(reference_python: Path, tmp_path_factory: pytest.TempPathFactory) -> Iterator[LabServer]:
    server = LabServer(tmp_path_factory.mktemp("reference-home"))
    server.python = str(reference_python)
    server.start()
    try:
        yield server
    finally:
        server.stop()


def test_one_error_line_and_the_reference_serves(reference_lab: LabServer) -> None:
    log = reference_lab.log()
    ours = [line for line in log.splitlines() if "jupyter_crdt" in line]
    errors = [line for line in ours if line.startswith("[E")]
    assert len(errors) == 1, ours
    assert "jupyter_crdt is not loaded" in errors[0] and "jupyter_server_ydoc" in errors[0]
    assert "Traceback" not in log, log
    assert not any("successfully loaded" in line for line in ours), ours
    (reference_lab.root / "a.txt").write_text("a")
    code, session = reference_lab.request("PUT", "/api/collaboration/session/a.txt",
                                          {"format": "text", "type": "file"})
    assert code in (200, 201) and session["fileId"], (code, session)
    code, _ = reference_lab.request("GET", "/api/crdt/document/a.txt")
    assert code == 404, "our routes are not served"


def test_two_windows_converge_on_the_reference_stack(reference_lab: LabServer) -> None:
    reason = prerequisites()
    if reason:
        missing(reason)
    if reference_lab.labextension is None:
        missing("jupyter_crdt/labextension is not built (pip install -e . builds it)")
    notebook = write_notebook(reference_lab, "reference.ipynb", [code_cell("first", "x = 1"),
                                                                 code_cell("second", "y = 2")])
    result = run_scenario("reference_typing", {"baseUrl": reference_lab.url, "path": notebook})

    typed = result["typed"]
    assert [c["source"] for c in result["apart"]] == ["x = 1" + typed["alice"], "y = 2" + typed["bob"]]
    first = result["together"][0]["source"]
    assert first.startswith(typed["together"]["bob"]) and first.endswith(typed["together"]["alice"]), first
    assert result["ourStatusItem"] == [False, False], "our plugins did not step aside"
    assert result["dialogs"] == []
