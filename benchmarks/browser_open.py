"""Opening a big notebook in the browser: our JupyterLab extension against jupyter-collaboration 5.0.4.

    python -m benchmarks.browser_open [--size 10] [--runs 3] [--servers ours,collab] [--json PATH]

A ~10 MB notebook (``--size`` MB; made deterministically by :func:`big_notebook`) is opened at
``/lab/tree/big.ipynb`` in a fresh context of headless Debian Chromium
(``benchmarks/browser/open_notebook.mjs``, playwright-core from ``tests/e2e/node_modules``), on a cold
server each run (fresh home directory, fresh port). Times from the page's navigation start:

- visible: the notebook panel has a widget for every cell, and the first cell is on screen with its text;
- typed: a word typed into the first cell (click, End, keys) shows in its editor;
- saved: after Accel-S, the ``.ipynb`` on the server's disk holds that word (the edit reached the server).

"ours" is ``jupyter lab`` from this environment with the jupyter_crdt server extension and this checkout's
JupyterLab extension (``jupyter_crdt/labextension``). "collab" is jupyterlab with jupyter-collaboration 5.0.4
from ``benchmarks/.venv-collab`` (made by :func:`benchmarks.server_latency.collab_python`; it registers our
routes, so it never shares an environment with ours). Both: same notebook, same browser and flags, token
auth, default settings. Runs alternate between the servers; the table shows each median and ours/theirs.
Results go to ``benchmarks/results/browser_open.json``. See docs/benchmarks.md.
"""

from __future__ import annotations

import argparse
import atexit
import base64
import datetime as _dt
import json
import os
import random
import signal
import statistics
import struct
import subprocess
import sys
import zlib
from pathlib import Path

if __package__ in (None, ""):
    sys.path.insert(0, str(Path(__file__).resolve().parents[1]))

from benchmarks.server_latency import (  # noqa: E402
    COLLAB_VENV,
    LABELS,
    SERVERS,
    TOKEN,
    Server,
    Unavailable,
    _kill_live,
    _on_signal,
    collab_python,
    log,
    spawn,
    stop,
)

REPO_ROOT = Path(__file__).resolve().parents[1]
OPEN_SCRIPT = REPO_ROOT / "benchmarks" / "browser" / "open_notebook.mjs"
PLAYWRIGHT = REPO_ROOT / "tests" / "e2e" / "node_modules" / "playwright-core"
BUILT_LABEXTENSION = REPO_ROOT / "jupyter_crdt" / "labextension"
DEFAULT_JSON = REPO_ROOT / "benchmarks" / "results" / "browser_open.json"
NOTEBOOK = "big.ipynb"
FIRST_LINE = "opening_benchmark_first_cell = 0"
MARKER = "#Z!"  # three keystrokes; "#Z!" occurs nowhere in big_notebook() (checked in main)
PHASES = ("visible_ms", "typed_ms", "saved_ms")

# Off in both servers' pages: the news prompt, and (installed here only) nbdime's extension.
DISABLED_LAB_PLUGINS = ["@jupyterlab/apputils-extension:announcements", "nbdime-jupyterlab"]


# -- the notebook ------------------------------------------------------------------------------------------


def _png(width: int, height: int, rnd: random.Random) -> str:
    """A valid RGB PNG of noise (incompressible, so its size is predictable), base64 as in .ipynb."""
    rows = b"".join(b"\x00" + rnd.randbytes(width * 3) for _ in range(height))

    def chunk(kind: bytes, data: bytes) -> bytes:
        return struct.pack(">I", len(data)) + kind + data + struct.pack(">I", zlib.crc32(kind + data))

    header = struct.pack(">IIBBBBB", width, height, 8, 2, 0, 0, 0)
    png = b"\x89PNG\r\n\x1a\n" + chunk(b"IHDR", header) + chunk(b"IDAT", zlib.compress(rows, 1)) + \
        chunk(b"IEND", b"")
    return base64.b64encode(png).decode("ascii")


def _cell(i: int, rnd: random.Random) -> dict:
    """Cell ``i``: every 10th a markdown cell; the others code with 30 lines of source, a 50-line stdout
    and, every 5th, a 100x70 image."""
    if i % 10 == 9:
        text = "".join(f"Paragraph {i}.{k}: the results above, explained in a sentence or two.\n"
                       for k in range(12))
        return {"cell_type": "markdown", "id": f"md-{i}", "metadata": {}, "source": f"## Section {i}\n{text}"}
    source = FIRST_LINE + "\n" if i == 0 else ""
    source += "".join(f"value_{i}_{k} = compute({i}, {k}, scale={rnd.randint(1, 999)})  # step {k}\n"
                      for k in range(30))
    outputs: list[dict] = [{"output_type": "stream", "name": "stdout", "text": "".join(
        f"step {k:3d} of cell {i:4d}: {rnd.random():.12f} {rnd.random():.12f}\n" for k in range(50))}]
    if i % 5 == 1:
        outputs.append({"output_type": "display_data", "metadata": {},
                        "data": {"image/png": _png(100, 70, rnd), "text/plain": "<Figure size 100x70>"}})
    return {"cell_type": "code", "id": f"code-{i}", "metadata": {}, "execution_count": i + 1,
            "outputs": outputs, "source": source.rstrip("\n")}


def big_notebook(size_mb: float) -> dict:
    """A deterministic notebook of about ``size_mb`` MB (as JSON): cells of :func:`_cell` until the size
    is reached. Its first cell is a code cell whose first line is :data:`FIRST_LINE`."""
    rnd = random.Random(20261126)
    cells: list[dict] = []
    total = 0
    while total < size_mb * 1_000_000:
        cells.append(_cell(len(cells), rnd))
        total += len(json.dumps(cells[-1])) + 2
    return {"nbformat": 4, "nbformat_minor": 5, "cells": cells, "metadata": {"kernelspec": {
        "name": "python3", "display_name": "Python 3", "language": "python"}}}


# -- servers -----------------------------------------------------------------------------------------------


def collab_lab_python(install: bool) -> Path:
    """The jupyter-collaboration venv's Python, with JupyterLab (the UI) in it as well."""
    python = collab_python(install)
    probe = [str(python), "-c", "import jupyterlab, jupyter_server_ydoc"]
    if subprocess.run(probe, capture_output=True, timeout=60).returncode == 0:
        return python
    if not install:
        raise Unavailable(f"{COLLAB_VENV} has no jupyterlab (run without --no-install)")
    import jupyterlab  # the same version as ours

    log(f"installing jupyterlab=={jupyterlab.__version__} into {COLLAB_VENV} ...")
    requirement = f"jupyterlab=={jupyterlab.__version__}"
    proc = subprocess.run([str(python), "-m", "pip", "install", "-q", requirement],
                          capture_output=True, text=True, timeout=900)
    if proc.returncode != 0:
        raise Unavailable(f"pip install jupyterlab failed: {(proc.stderr or proc.stdout)[-400:]}")
    return python


class LabServer(Server):
    """:class:`benchmarks.server_latency.Server` serving JupyterLab too, with the big notebook in its root."""

    def __init__(self, kind: str, python: Path, notebook_json: str) -> None:
        super().__init__(kind, python, cells=1)
        (self.root / NOTEBOOK).write_text(notebook_json, encoding="utf-8")
        if kind == "ours":
            self._link_labextension()

    def _link_labextension(self) -> None:
        """This checkout's build of our JupyterLab extension, linked into the server's own data folder
        (given as an extra labextensions path in :meth:`_config`), as tests/e2e/lab_server.py does."""
        name = json.loads((BUILT_LABEXTENSION / "package.json").read_text())["name"]
        link = self.home / "data" / "labextensions" / name
        link.parent.mkdir(parents=True, exist_ok=True)
        link.symlink_to(BUILT_LABEXTENSION, target_is_directory=True)

    def _config(self) -> dict:
        # Server.start() calls this once the config folder exists, before starting the server: the moment
        # to put JupyterLab's page config beside the server's.
        labconfig = self.home / "config" / "labconfig"
        labconfig.mkdir(parents=True, exist_ok=True)
        disabled = {name: True for name in DISABLED_LAB_PLUGINS}
        (labconfig / "page_config.json").write_text(json.dumps({"disabledExtensions": disabled}))
        config = super()._config()
        config["ServerApp"]["jpserver_extensions"].update({"jupyterlab": True, "nbdime": False})
        config["LabApp"] = {"news_url": None, "expose_app_in_browser": True,
                            "check_for_updates_class": "jupyterlab.NeverCheckForUpdate"}
        if self.kind == "ours":
            # In a virtualenv jupyter_core puts the env's share/jupyter (an installed, maybe older build)
            # before the user's data folder: an extra path comes before both.
            config["LabServerApp"] = {"extra_labextensions_path": [str(self.home / "data" / "labextensions")]}
        return config


# -- one run -----------------------------------------------------------------------------------------------


def open_once(kind: str, python: Path, notebook_json: str, expected_cells: int, timeout_s: float) -> dict:
    """A cold server of ``kind``, the notebook opened once in a fresh browser: the times (ms) and cells."""
    server = LabServer(kind, python, notebook_json)
    try:
        server.start()
        config = {
            "url": f"{server.http}/lab/tree/{NOTEBOOK}?token={TOKEN}", "path": NOTEBOOK,
            "firstLine": FIRST_LINE, "marker": MARKER, "savedFile": str(server.root / NOTEBOOK),
            "timeoutMs": int(timeout_s * 1000), "crdtStatus": kind == "ours",
        }
        config_path = server.home / "open.json"
        config_path.write_text(json.dumps(config), encoding="utf-8")
        proc = spawn(["node", str(OPEN_SCRIPT), str(config_path)], stdout=subprocess.PIPE,
                     stderr=subprocess.PIPE, text=True, cwd=OPEN_SCRIPT.parent)
        try:
            out, err = proc.communicate(timeout=timeout_s * 3 + 60)
        finally:
            stop(proc)
        lines = [line for line in out.splitlines() if line.startswith("{")]
        result = json.loads(lines[-1]) if lines else {"error": f"no result from node: {err[-1500:]}"}
        if "error" in result:
            raise RuntimeError(f"{result['error']}\nserver log: {server.log()[-1500:]}")
        if result["cells"] != expected_cells:
            raise RuntimeError(f"the page showed {result['cells']} cells, the notebook has {expected_cells}")
        return result
    finally:
        server.close()


# -- report ------------------------------------------------------------------------------------------------


def medians(runs: list[dict]) -> dict:
    """The median of each phase over the successful runs (None when there are none)."""
    ok = [r for r in runs if "error" not in r]
    result = {}
    for phase in (*PHASES, "synced_ms"):
        values = [r[phase] for r in ok if r.get(phase) is not None]
        result[phase] = statistics.median(values) if values else None
    return result


def render(summary: dict[str, dict], runs: dict[str, list[dict]], meta: dict) -> str:
    """The table: per phase, each server's median (s) and the ratio ours/theirs."""
    names = {"visible_ms": "visible (all cells, first shown)", "typed_ms": "typed text shown",
             "saved_ms": "typed text saved on the server"}
    lines = [f"Opening {NOTEBOOK} ({meta['notebook_mb']:.1f} MB, {meta['cells']} cells) in Chromium; "
             f"median of {meta['runs']} cold runs; seconds from navigation start",
             f"{'':34s} {'ours':>9s} {'collab':>9s} {'ours/collab':>12s}"]
    for phase in PHASES:
        values = [summary.get(kind, {}).get(phase) for kind in ("ours", "collab")]
        cells = [f"{v / 1000:8.2f}s" if v is not None else "      n/a" for v in values]
        ratio = f"{values[0] / values[1]:11.2f}x" if None not in values else "        n/a"
        lines.append(f"{names[phase]:34s} {cells[0]} {cells[1]} {ratio}")
    for kind, kind_runs in runs.items():
        failed = [r["error"].splitlines()[0] for r in kind_runs if "error" in r]
        detail = ", ".join("/".join(f"{r[phase] / 1000:.2f}" for phase in PHASES)
                           for r in kind_runs if "error" not in r)
        lines.append(f"{LABELS[kind]}: runs (visible/typed/saved s): {detail or '-'}"
                     + (f"; {len(failed)} failed: {failed[0][:200]}" if failed else ""))
    if summary.get("ours", {}).get("synced_ms") is not None:
        synced = summary["ours"]["synced_ms"] / 1000
        lines.append(f"ours: status item connected, nothing pending after typing: {synced:.2f}s")
    return "\n".join(lines)


def parse_args(argv: list[str] | None) -> argparse.Namespace:
    ap = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    ap.add_argument("--size", type=float, default=10.0, help="notebook size in MB (default 10)")
    ap.add_argument("--runs", type=int, default=3, help="cold opens per server (default 3)")
    ap.add_argument("--servers", type=lambda s: s.split(","), default=list(SERVERS),
                    help="ours,collab (default both)")
    ap.add_argument("--timeout", type=float, default=400.0, help="deadline of each wait, seconds")
    ap.add_argument("--json", default=str(DEFAULT_JSON), help=f"where to write the results ({DEFAULT_JSON})")
    ap.add_argument("--no-install", action="store_true", help="never create or fill the collab venv")
    args = ap.parse_args(argv)
    if not args.servers or set(args.servers) - set(SERVERS):
        ap.error(f"--servers: a subset of {','.join(SERVERS)}")
    if args.runs < 1 or args.size <= 0 or args.timeout <= 0:
        ap.error("--runs, --size and --timeout must be positive")
    return args


def main(argv: list[str] | None = None) -> int:
    args = parse_args(argv)
    atexit.register(_kill_live)
    signal.signal(signal.SIGTERM, _on_signal)
    signal.signal(signal.SIGINT, _on_signal)
    for needed, what in ((PLAYWRIGHT, "playwright-core (npm ci in tests/e2e)"),
                         (BUILT_LABEXTENSION / "package.json", "our JupyterLab extension build")):
        if not needed.exists():
            log(f"cannot run: {what} is missing ({needed})")
            return 2
    nb = big_notebook(args.size)
    notebook_json = json.dumps(nb, indent=1) + "\n"
    if MARKER in notebook_json:
        raise AssertionError(f"{MARKER!r} must not be in the notebook before it is typed")
    meta = {"date": _dt.datetime.now(_dt.timezone.utc).isoformat(timespec="seconds"), "cpus": os.cpu_count(),
            "loadavg_start": [round(x, 2) for x in os.getloadavg()], "runs": args.runs,
            "notebook_mb": len(notebook_json) / 1e6, "cells": len(nb["cells"])}
    pythons: dict[str, Path | Exception] = {"ours": Path(sys.executable)}
    if "collab" in args.servers:
        try:
            pythons["collab"] = collab_lab_python(not args.no_install)
        except Unavailable as e:
            log(f"jupyter-collaboration: n/a ({e})")
            pythons["collab"] = e
    runs: dict[str, list[dict]] = {kind: [] for kind in args.servers}
    for i in range(args.runs):
        for kind in args.servers:  # alternating, so slow drift of the machine's load hits both alike
            python = pythons[kind]
            if isinstance(python, Exception):
                runs[kind].append({"error": f"n/a: {python}"})
                continue
            log(f"{kind}: run {i + 1}/{args.runs}")
            try:
                result = open_once(kind, python, notebook_json, len(nb["cells"]), args.timeout)
            except Exception as e:  # noqa: BLE001 - one failed run is reported, the others still run
                log(f"{kind}: run {i + 1} FAILED: {e}")
                result = {"error": str(e)}
            else:
                log(f"{kind}: " + ", ".join(f"{p} {result[p]:.0f}" for p in PHASES))
            runs[kind].append(result)
    meta["loadavg_end"] = [round(x, 2) for x in os.getloadavg()]
    summary = {kind: medians(kind_runs) for kind, kind_runs in runs.items()}
    text = render(summary, runs, meta)
    print(text, flush=True)
    path = Path(args.json)
    path.parent.mkdir(parents=True, exist_ok=True)
    out = {"meta": meta, "median_ms": summary, "runs": runs, "table": text}
    path.write_text(json.dumps(out, indent=1) + "\n", encoding="utf-8")
    log(f"results written to {path}")
    return 1 if any("error" in r for r in runs.get("ours", [])) else 0


if __name__ == "__main__":
    sys.exit(main())
