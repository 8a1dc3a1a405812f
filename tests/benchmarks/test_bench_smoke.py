"""The benchmark harness still runs: ``python -m benchmarks.run --quick`` prints its table and writes JSON.

Anchors that are not installed (pycrdt, Loro, Node's Yjs) show as n/a, which is fine here. Yjs is taken from
``benchmarks/node/node_modules`` if installed, else from the test oracle's ``tests/node/node_modules`` (same
pinned yjs); the test never runs ``npm install``.
"""

from __future__ import annotations

import json
import os
import shutil
import subprocess
import sys
from pathlib import Path

import pytest

from tests.conftest import REPO_ROOT, missing

ROWS = [
    "local.automerge-paper", "local.seph-blog1", "local.sveltecomponent", "local.rustcode",
    "memory.peak_heap", "load.automerge-paper", "encode.automerge-paper", "size.automerge-paper",
    "concurrent.friendsforever", "notebook.build", "notebook.typing", "scaling.ratio",
    "load_best.automerge-paper", "encode_best.automerge-paper", "scaling.passes",
]


@pytest.mark.timeout(420)
def test_quick_run_prints_table_and_writes_json(tmp_path):
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
    # Loads and encodes: the best call is one of the timed calls, so never above their median.
    for rid in ("load.automerge-paper", "encode.automerge-paper"):
        best = rows[rid.replace(".", "_best.", 1)]
        for engine, v in rows[rid]["values"].items():
            if v is not None:
                assert best["values"][engine] <= v, (rid, engine)
                assert len(rows[rid]["runs"][engine]) >= 5, (rid, engine)
    assert data["checks"] and all(c["ok"] for c in data["checks"])
    for engine, info in data["engines"].items():
        assert "available" in info, engine


LATENCY_PACKAGES = ("yjs", "y-protocols", "lib0", "ws")


def _latency_node_modules() -> list[str]:
    """--node-modules for the latency clients: benchmarks/node's if installed, else the server tests'."""
    for modules in (REPO_ROOT / "benchmarks" / "node" / "node_modules",
                    REPO_ROOT / "tests" / "jupyter_crdt" / "server" / "node" / "node_modules"):
        if all((modules / p / "package.json").is_file() for p in LATENCY_PACKAGES):
            return ["--node-modules", str(modules)]
    missing("no node_modules with yjs, y-protocols, lib0 and ws (npm ci in benchmarks/node)")
    return []


@pytest.mark.timeout(300)
def test_server_latency_tiny_run_measures_every_arrival(tmp_path):
    """Three clients typing for two seconds into our server (and jupyter-collaboration's when its venv
    exists): every edit reaches every other client, the clients converge, and the numbers are sane."""
    if shutil.which("node") is None:
        missing("node is not installed")
    out = tmp_path / "latency.json"
    cmd = [sys.executable, "-m", "benchmarks.server_latency", "--clients", "3", "--seconds", "2",
           "--servers", "ours,collab", "--no-install", "--json", str(out), *_latency_node_modules()]
    proc = subprocess.run(cmd, cwd=REPO_ROOT, capture_output=True, text=True, timeout=280)
    assert proc.returncode == 0, f"exit {proc.returncode}\n{proc.stdout[-3000:]}\n{proc.stderr[-3000:]}"
    assert "p99 ms" in proc.stdout and "ours (jupyter_crdt)" in proc.stdout

    data = json.loads(out.read_text(encoding="utf-8"))
    rows = {r["server"]: r for r in data["results"]}
    assert set(rows) == {"ours", "collab"}
    collab_venv_missing = rows["collab"].get("error", "").startswith("n/a")
    for server, row in rows.items():
        if server == "collab" and collab_venv_missing:
            continue
        assert "error" not in row, (server, row)
        assert row["n"] == 3 and row["edits_per_client"] == 10
        assert row["expected"] == 3 * 2 * 10 and row["delivered"] == row["expected"], (server, row)
        assert row["converged"] is True, server
        assert 0 < row["p50_ms"] <= row["p99_ms"] <= row["max_ms"] < 10_000, (server, row)
        assert row["server_cpu_s"] > 0, (server, row)  # the server did the broadcasting


@pytest.mark.timeout(120)
def test_browser_open_tiny_notebook_ours(tmp_path):
    """benchmarks/browser_open.py on a 0.1 MB notebook, ours only, one run: the page showed every cell,
    the typed text showed and reached the saved file, in that order, and the table and JSON say so."""
    if shutil.which("node") is None:
        missing("node is not installed")
    for needed, what in (
        (REPO_ROOT / "tests" / "e2e" / "node_modules" / "playwright-core", "npm ci in tests/e2e"),
        (REPO_ROOT / "jupyter_crdt" / "labextension" / "package.json", "the JupyterLab extension build"),
        (Path(os.environ.get("CHROMIUM", "/usr/bin/chromium")), "Chromium"),
    ):
        if not needed.exists():
            missing(f"{what} is missing ({needed})")
    out = tmp_path / "browser_open.json"
    cmd = [sys.executable, "-m", "benchmarks.browser_open", "--servers", "ours", "--runs", "1",
           "--size", "0.1", "--timeout", "40", "--no-install", "--json", str(out)]
    proc = subprocess.run(cmd, cwd=REPO_ROOT, capture_output=True, text=True, timeout=110)
    assert proc.returncode == 0, f"exit {proc.returncode}\n{proc.stdout[-3000:]}\n{proc.stderr[-3000:]}"
    assert "typed text saved on the server" in proc.stdout and "ours/collab" in proc.stdout

    data = json.loads(out.read_text(encoding="utf-8"))
    (run,) = data["runs"]["ours"]
    assert "error" not in run, run
    assert run["cells"] == data["meta"]["cells"] > 5
    assert 0 < run["visible_ms"] < run["typed_ms"] <= run["saved_ms"] < 40_000, run
    assert run["synced_ms"] is not None and run["synced_ms"] >= run["typed_ms"], run
    assert data["median_ms"]["ours"]["visible_ms"] == run["visible_ms"]
