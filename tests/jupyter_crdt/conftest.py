"""Fixtures for the notebook tests: the notebook corpus and the @jupyter/ydoc oracle (Node).

The oracle needs ``node`` and ``npm ci`` run in ``tests/jupyter_crdt/node`` (``.ci/run`` does both).
"""

from __future__ import annotations

import base64
import json
import shutil
import subprocess
from pathlib import Path

import pytest

from tests.conftest import DATA_DIR, missing

NODE_DIR = Path(__file__).resolve().parent / "node"
ORACLE = NODE_DIR / "ynotebook_oracle.mjs"


def corpus(data_dir: Path) -> list[Path]:
    return sorted((data_dir / "notebooks").rglob("*.ipynb"))


def rel(path: Path) -> str:
    """A corpus file's name relative to ``tests/data/notebooks`` (whatever folders the clone lives in)."""
    return path.relative_to(DATA_DIR / "notebooks").as_posix()


@pytest.fixture(scope="session")
def notebook_files(data_dir) -> list[Path]:
    files = corpus(data_dir)
    if not files:
        missing(f"no notebooks under {data_dir / 'notebooks'}")
    return files


class YNotebookOracle:
    """Runs ``ynotebook_oracle.mjs`` on a batch of requests (see the script for the protocol)."""

    def run(self, forward: dict[str, bytes] | None = None, reverse: dict[str, dict] | None = None) -> dict:
        request = {
            "forward": [
                {"name": k, "update": base64.b64encode(v).decode()} for k, v in (forward or {}).items()
            ],
            "reverse": [{"name": k, "notebook": v} for k, v in (reverse or {}).items()],
        }
        proc = subprocess.run(
            [shutil.which("node"), str(ORACLE)],
            input=json.dumps(request).encode(),
            capture_output=True,
            cwd=str(NODE_DIR),
            timeout=240,
        )
        if proc.returncode != 0:
            raise RuntimeError(
                f"ynotebook oracle failed ({proc.returncode}):\n{proc.stderr.decode()[-3000:]}"
            )
        answer = json.loads(proc.stdout)
        out = {"forward": {}, "reverse": {}}
        for a in answer["forward"]:
            out["forward"][a["name"]] = a
        for a in answer["reverse"]:
            if a.get("update"):
                a["update"] = base64.b64decode(a["update"])
            out["reverse"][a["name"]] = a
        return out


@pytest.fixture(scope="session")
def ynotebook_oracle() -> YNotebookOracle:
    if shutil.which("node") is None:
        missing("node is not installed")
    if not (NODE_DIR / "node_modules" / "@jupyter" / "ydoc").is_dir():
        missing("@jupyter/ydoc is not installed: run `npm ci` in tests/jupyter_crdt/node (bash .ci/run does)")
    return YNotebookOracle()
