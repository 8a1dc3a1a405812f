"""Yjs under Node: installs ``benchmarks/node`` when needed and runs ``yjs_bench.mjs`` on a JSON request."""

from __future__ import annotations

import json
import shutil
import subprocess
import tempfile
from pathlib import Path

NODE_DIR = Path(__file__).resolve().parent / "node"
SCRIPT = NODE_DIR / "yjs_bench.mjs"


class YjsUnavailable(Exception):
    pass


def prepare(node_modules: Path | None, install: bool, log) -> tuple[str, Path]:
    """(node executable, node_modules folder holding yjs); raises YjsUnavailable with the reason."""
    node = shutil.which("node")
    if node is None:
        raise YjsUnavailable("node is not installed")
    modules = node_modules or NODE_DIR / "node_modules"
    if not (modules / "yjs" / "package.json").is_file():
        if node_modules is not None or not install:
            raise YjsUnavailable(f"yjs not found in {modules} (run npm install in {NODE_DIR})")
        npm = shutil.which("npm")
        if npm is None:
            raise YjsUnavailable("npm is not installed")
        log(f"installing Yjs: npm install in {NODE_DIR} ...")
        try:
            proc = subprocess.run(
                [npm, "install", "--no-audit", "--no-fund", "--loglevel=error"],
                cwd=NODE_DIR, capture_output=True, text=True, timeout=300,
            )
        except subprocess.TimeoutExpired:
            raise YjsUnavailable("npm install timed out") from None
        if proc.returncode != 0 or not (modules / "yjs" / "package.json").is_file():
            raise YjsUnavailable(f"npm install failed: {(proc.stderr or proc.stdout).strip()[-300:]}")
    return node, modules


def run(node: str, modules: Path, request: dict, timeout: float, expose_gc: bool = True) -> dict:
    """Run one request; returns the script's answer (``results`` in task order, ``yjs``, ``node``)."""
    request = dict(request, node_modules=str(modules))
    with tempfile.NamedTemporaryFile("w", suffix=".json", delete=False) as f:
        json.dump(request, f)
        path = Path(f.name)
    try:
        cmd = [node] + (["--expose-gc"] if expose_gc else []) + [str(SCRIPT), str(path)]
        try:
            proc = subprocess.run(cmd, cwd=NODE_DIR, capture_output=True, text=True, timeout=timeout)
        except subprocess.TimeoutExpired:
            raise YjsUnavailable(f"the Yjs run took more than {timeout:.0f}s") from None
    finally:
        path.unlink(missing_ok=True)
    lines = [ln for ln in proc.stdout.splitlines() if ln.startswith("{")]
    if not lines:
        raise YjsUnavailable(f"yjs_bench.mjs failed (exit {proc.returncode}): {proc.stderr.strip()[-500:]}")
    answer = json.loads(lines[-1])
    if not answer.get("ok"):
        raise YjsUnavailable(f"yjs_bench.mjs failed: {answer.get('error', '')[-500:]}")
    return answer
