"""The benchmark harness still runs: ``python -m benchmarks.run --quick`` prints its table and writes JSON.

Anchors that are not installed (pycrdt, Loro, Node's Yjs) show as n/a, which is fine here. Yjs is taken from
``benchmarks/node/node_modules`` if installed, else from the test oracle's ``tests/node/node_modules`` (same
pinned yjs); the test never runs ``npm install``.
"""

from __future__ import annotations

import json
import subprocess
import sys

import pytest

from tests.conftest import REPO_ROOT, missing, shared_dir

ROWS = [
    "local.automerge-paper", "local.seph-blog1", "local.sveltecomponent", "local.rustcode",
    "memory.peak_heap", "load.automerge-paper", "encode.automerge-paper", "size.automerge-paper",
    "concurrent.friendsforever", "notebook.build", "notebook.typing", "scaling.ratio",
]


@pytest.mark.timeout(420)
def test_quick_run_prints_table_and_writes_json(tmp_path):
    if not (shared_dir() / "data" / "traces").is_dir():
        missing(f"traces not found in {shared_dir() / 'data' / 'traces'}")
    out = tmp_path / "results.json"
    cmd = [sys.executable, "-m", "benchmarks.run", "--quick", "--json", str(out), "--no-install"]
    if not (REPO_ROOT / "benchmarks" / "node" / "node_modules" / "yjs").is_dir():
        oracle_modules = REPO_ROOT / "tests" / "node" / "node_modules"
        if (oracle_modules / "yjs").is_dir():
            cmd += ["--node-modules", str(oracle_modules)]
    proc = subprocess.run(cmd, cwd=REPO_ROOT, capture_output=True, text=True, timeout=400)
    assert proc.returncode == 0, f"exit {proc.returncode}\n{proc.stdout[-3000:]}\n{proc.stderr[-3000:]}"

    table = proc.stdout
    for heading in ("benchmark", "ours/Yjs", "[local editing]", "[concurrent]", "[notebook]", "[scaling]"):
        assert heading in table, heading
    assert "replay automerge-paper (2,000 edits)" in table
    assert "checks:" in table and "FAIL" not in table

    data = json.loads(out.read_text(encoding="utf-8"))
    assert data["config"]["quick"] is True
    rows = {row["id"]: row for row in data["rows"]}
    for rid in ROWS:
        assert rid in rows, rid
        value = rows[rid]["values"]["ours"]
        assert isinstance(value, (int, float)) and value >= 0, (rid, value)
        for engine, v in rows[rid]["values"].items():
            assert v is None or isinstance(v, (int, float)), (rid, engine, v)
    assert rows["memory.peak_heap"]["target_met"] is True
    assert data["checks"] and all(c["ok"] for c in data["checks"])
    for engine, info in data["engines"].items():
        assert "available" in info, engine
