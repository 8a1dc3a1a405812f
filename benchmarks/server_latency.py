"""Server latency and CPU: N clients typing into one notebook, our server against jupyter-collaboration.

    python -m benchmarks.server_latency [--clients 20,50] [--seconds 30] [--servers ours,collab]
    python benchmarks/server_latency.py ...            (same thing)

For each N and each server, a fresh server (jupyter_server on 127.0.0.1, token auth, a temporary root
holding one notebook of max(N, 2) cells) gets N clients built on Yjs + y-protocols under Node
(``benchmarks/node/latency_clients.mjs``; the same clients for both servers). Once every client is synced,
client i types one character at the end of cell i's source ``--rate`` times a second for ``--seconds``;
every other client records when each edit became part of its document. Printed per run: the p50 / p99 /
max delay from an edit to its arrival at each other client, the server process's CPU seconds
(utime + stime from /proc, from the start of typing until every edit arrived everywhere), the clients'
CPU seconds, delivered / expected arrivals, and whether every client ended with the same notebook.

"ours" is jupyter_server with the jupyter_crdt extension from this environment. "collab" is
jupyter-collaboration 5.0.4 (it registers the same routes, so it never shares an environment with ours):
it runs from ``benchmarks/.venv-collab``, created with pip on first use (``--no-install``: n/a instead).
Both run with their default settings. The table also goes to JSON (``--json``). See docs/benchmarks.md.
"""

from __future__ import annotations

import argparse
import atexit
import datetime as _dt
import json
import math
import os
import queue
import shlex
import shutil
import signal
import subprocess
import sys
import tempfile
import threading
import time
import urllib.error
import urllib.request
from dataclasses import dataclass
from pathlib import Path
from typing import Any

REPO_ROOT = Path(__file__).resolve().parents[1]
BENCH_DIR = REPO_ROOT / "benchmarks"
NODE_DIR = BENCH_DIR / "node"
CLIENT_SCRIPT = NODE_DIR / "latency_clients.mjs"
NODE_PACKAGES = ("yjs", "y-protocols", "lib0", "ws")
COLLAB_VENV = BENCH_DIR / ".venv-collab"
COLLAB_REQUIREMENT = "jupyter-collaboration==5.0.4"
TOKEN = "bench-token"
NOTEBOOK = "bench.ipynb"
CLIENT_ID_BASE = 100_000
SERVERS = ("ours", "collab")
LABELS = {"ours": "ours (jupyter_crdt)", "collab": "jupyter-collaboration 5.0.4"}

# jupyter-collaboration 5.0.4 measured on this kind of machine (the issue's numbers), and the targets
REFERENCE = {20: {"p50": 4.0, "p99": 44.0, "cpu": 11.7}, 50: {"p50": 126.0, "p99": 643.0, "cpu": None}}
TARGET_RATIO_N20 = 0.5  # N=20: our p99 and our server CPU at most half of jupyter-collaboration's
TARGET_P99_N50_MS = 100.0

_T0 = time.perf_counter()


def log(msg: str) -> None:
    """Progress on stderr, with the seconds since start."""
    print(f"[{time.perf_counter() - _T0:6.1f}s] {msg}", file=sys.stderr, flush=True)


class Unavailable(Exception):
    """A server or the clients cannot run here (shown as n/a, with this reason)."""


# -- processes ---------------------------------------------------------------------------------------------

_LIVE: set[subprocess.Popen] = set()


def _kill_live() -> None:
    """Kill every process group this script started that still runs (at exit or on a signal)."""
    for proc in list(_LIVE):
        if proc.poll() is None:
            try:
                os.killpg(proc.pid, signal.SIGKILL)
            except OSError:
                pass
            try:
                proc.wait(10)
            except subprocess.TimeoutExpired:
                pass
        _LIVE.discard(proc)


def _on_signal(signum: int, _frame: Any) -> None:
    _kill_live()
    sys.exit(128 + signum)


def spawn(args: list[str], **kwargs: Any) -> subprocess.Popen:
    """Popen in a new process group, remembered so that it is killed however this script ends."""
    proc = subprocess.Popen(args, start_new_session=True, **kwargs)
    _LIVE.add(proc)
    return proc


def stop(proc: subprocess.Popen, timeout: float = 15.0) -> None:
    """SIGTERM the process group, SIGKILL it past ``timeout``."""
    if proc.poll() is None:
        try:
            os.killpg(proc.pid, signal.SIGTERM)
            proc.wait(timeout)
        except subprocess.TimeoutExpired:
            os.killpg(proc.pid, signal.SIGKILL)
            proc.wait(timeout)
        except OSError:
            pass
    _LIVE.discard(proc)


def cpu_seconds(pid: int) -> float:
    """utime + stime of a live process, from /proc/PID/stat."""
    with open(f"/proc/{pid}/stat", encoding="ascii") as f:
        fields = f.read().rsplit(")", 1)[1].split()
    # fields[0] is the state (field 3 of stat(5)); utime and stime are fields 14 and 15
    return (int(fields[11]) + int(fields[12])) / os.sysconf("SC_CLK_TCK")


def _loadavg() -> list[float]:
    return [round(x, 2) for x in os.getloadavg()]


# -- servers -----------------------------------------------------------------------------------------------


def free_port() -> int:
    import socket

    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return s.getsockname()[1]


def make_notebook(cells: int) -> dict:
    """An nbformat 4.5 notebook of ``cells`` short code cells (no "x" in them: clients type "x")."""
    return {
        "cells": [
            {"cell_type": "code", "execution_count": None, "id": f"cell-{i}", "metadata": {}, "outputs": [],
             "source": f"# cell {i}\n"}
            for i in range(cells)
        ],
        "metadata": {"kernelspec": {"display_name": "Python 3", "language": "python", "name": "python3"}},
        "nbformat": 4,
        "nbformat_minor": 5,
    }


def collab_python(install: bool) -> Path:
    """The Python of the jupyter-collaboration venv, created with pip on first use."""
    python = COLLAB_VENV / "bin" / "python"
    probe = [str(python), "-c", "import jupyter_server_ydoc, jupyter_server"]
    if python.is_file() and subprocess.run(probe, capture_output=True, timeout=60).returncode == 0:
        return python
    if not install:
        raise Unavailable(f"{COLLAB_VENV} has no {COLLAB_REQUIREMENT} (run without --no-install)")
    log(f"creating {COLLAB_VENV} with {COLLAB_REQUIREMENT} (first use) ...")
    try:
        subprocess.run([sys.executable, "-m", "venv", str(COLLAB_VENV)], check=True, timeout=120,
                       capture_output=True)
        (COLLAB_VENV / ".gitignore").write_text("*\n", encoding="utf-8")  # never committed
        proc = subprocess.run([str(python), "-m", "pip", "install", "-q", COLLAB_REQUIREMENT],
                              capture_output=True, text=True, timeout=900)
    except (OSError, subprocess.SubprocessError) as e:
        raise Unavailable(f"creating the venv failed: {e}") from None
    if proc.returncode != 0 or subprocess.run(probe, capture_output=True, timeout=60).returncode != 0:
        raise Unavailable(f"pip install {COLLAB_REQUIREMENT} failed: {(proc.stderr or proc.stdout)[-400:]}")
    return python


class Server:
    """One jupyter_server subprocess on a fresh temporary home: ``start()``, ``pid``, ``close()``."""

    def __init__(self, kind: str, python: Path, cells: int, extra_args: list[str] | None = None) -> None:
        self.kind = kind
        self.python = python
        self.home = Path(tempfile.mkdtemp(prefix=f"bench-{kind}-"))
        self.root = self.home / "root"
        self.root.mkdir()
        (self.root / NOTEBOOK).write_text(json.dumps(make_notebook(cells), indent=1), encoding="utf-8")
        self.extra_args = list(extra_args or [])
        self.port = free_port()
        self.proc: subprocess.Popen | None = None
        self.log_path = self.home / "server.log"

    @property
    def http(self) -> str:
        return f"http://127.0.0.1:{self.port}"

    @property
    def pid(self) -> int:
        assert self.proc is not None
        return self.proc.pid

    def _config(self) -> dict:
        extensions = {"jupyter_server_fileid": True}
        extensions["jupyter_crdt" if self.kind == "ours" else "jupyter_server_ydoc"] = True
        return {"ServerApp": {"jpserver_extensions": extensions}, "IdentityProvider": {"token": TOKEN}}

    def start(self, timeout: float = 90.0) -> None:
        config_dir = self.home / "config"
        config_dir.mkdir()
        (config_dir / "jupyter_server_config.json").write_text(json.dumps(self._config()), encoding="utf-8")
        env = dict(os.environ)
        env.update({
            "JUPYTER_CONFIG_DIR": str(config_dir),
            "JUPYTER_DATA_DIR": str(self.home / "data"),
            "JUPYTER_RUNTIME_DIR": str(self.home / "runtime"),
            "JUPYTER_PLATFORM_DIRS": "1",
        })
        # ours: this checkout first (a PYTHONPATH of the caller stays after it); collab: nothing of ours
        inherited = env.pop("PYTHONPATH", "")
        if self.kind == "ours":
            env["PYTHONPATH"] = os.pathsep.join(p for p in (str(REPO_ROOT), inherited) if p)
        args = [
            str(self.python), "-m", "jupyter_server", "--no-browser", "--allow-root",
            f"--ServerApp.port={self.port}", "--ServerApp.port_retries=0", "--ServerApp.ip=127.0.0.1",
            f"--ServerApp.root_dir={self.root}", "--ServerApp.log_level=WARN", *self.extra_args,
        ]
        with open(self.log_path, "ab") as out:
            self.proc = spawn(args, env=env, stdout=out, stderr=subprocess.STDOUT, cwd=self.home)
        deadline = time.monotonic() + timeout
        while True:
            if self.proc.poll() is not None:
                raise Unavailable(f"{self.kind} server exited with {self.proc.returncode}: "
                                  f"{self.log()[-1500:]}")
            try:
                req = urllib.request.Request(self.http + "/api/status",
                                             headers={"Authorization": f"token {TOKEN}"})
                with urllib.request.urlopen(req, timeout=5) as resp:
                    if resp.status == 200:
                        return
            except (urllib.error.URLError, OSError):
                pass
            if time.monotonic() > deadline:
                raise Unavailable(f"{self.kind} server did not start in {timeout:.0f}s: {self.log()[-1500:]}")
            time.sleep(0.1)

    def log(self) -> str:
        try:
            return self.log_path.read_text(errors="replace")
        except OSError:
            return ""

    def close(self) -> None:
        if self.proc is not None:
            stop(self.proc)
        shutil.rmtree(self.home, ignore_errors=True)


# -- clients -----------------------------------------------------------------------------------------------


def node_modules(explicit: str | None, install: bool) -> Path:
    """A node_modules folder holding the clients' packages (npm ci in benchmarks/node on first use)."""
    if shutil.which("node") is None:
        raise Unavailable("node is not installed")
    modules = Path(explicit).resolve() if explicit else NODE_DIR / "node_modules"

    def complete() -> bool:
        return all((modules / p / "package.json").is_file() for p in NODE_PACKAGES)

    if complete():
        return modules
    if explicit or not install:
        raise Unavailable(f"{', '.join(NODE_PACKAGES)} not all in {modules} (npm ci in {NODE_DIR})")
    npm = shutil.which("npm")
    if npm is None:
        raise Unavailable("npm is not installed")
    log(f"npm ci in {NODE_DIR} ...")
    proc = subprocess.run([npm, "ci", "--no-audit", "--no-fund", "--loglevel=error"], cwd=NODE_DIR,
                          capture_output=True, text=True, timeout=300)
    if proc.returncode != 0 or not complete():
        raise Unavailable(f"npm ci failed: {(proc.stderr or proc.stdout)[-400:]}")
    return modules


class _LineReader:
    """The JSON lines of a process's stdout, read by a thread, taken with a deadline."""

    def __init__(self, proc: subprocess.Popen) -> None:
        self.lines: queue.Queue[str | None] = queue.Queue()
        self.thread = threading.Thread(target=self._read, args=(proc,), daemon=True)
        self.thread.start()

    def _read(self, proc: subprocess.Popen) -> None:
        assert proc.stdout is not None
        for line in proc.stdout:
            self.lines.put(line)
        self.lines.put(None)

    def event(self, name: str, timeout: float) -> dict:
        deadline = time.monotonic() + timeout
        while True:
            left = deadline - time.monotonic()
            if left <= 0:
                raise TimeoutError(f'no "{name}" from the clients in {timeout:.0f}s')
            try:
                line = self.lines.get(timeout=left)
            except queue.Empty:
                continue
            if line is None:
                raise RuntimeError(f'the clients exited before "{name}"')
            if line.startswith("{"):
                msg = json.loads(line)
                if msg.get("event") == name:
                    return msg


@dataclass
class ClientGroup:
    """One Node process running some of the N clients."""

    proc: subprocess.Popen
    reader: _LineReader
    config_path: Path
    stderr_path: Path
    results_path: Path
    workdir: Path | None = None

    def stderr(self) -> str:
        try:
            return self.stderr_path.read_text(errors="replace")[-1500:]
        except OSError:
            return ""


def start_clients(server: Server, n: int, procs: int, rate: float, edits: int, modules: Path,
                  tmp: Path) -> list[ClientGroup]:
    """``procs`` Node processes sharing the N clients round-robin."""
    groups = []
    script = CLIENT_SCRIPT
    workdir = None
    if modules.resolve() != (NODE_DIR / "node_modules").resolve():
        # Node resolves packages from the script's folder: run a copy beside a link to ``modules``
        workdir = tmp / "node"
        workdir.mkdir(exist_ok=True)
        script = workdir / CLIENT_SCRIPT.name
        shutil.copy(CLIENT_SCRIPT, script)
        if not (workdir / "node_modules").exists():
            (workdir / "node_modules").symlink_to(modules, target_is_directory=True)
    for g in range(procs):
        indices = list(range(g, n, procs))
        if not indices:
            continue
        config = {
            "http": server.http, "ws": server.http.replace("http://", "ws://"), "token": TOKEN,
            "path": NOTEBOOK, "total": n, "indices": indices, "client_id_base": CLIENT_ID_BASE,
            "rate": rate, "edits": edits, "connect_timeout": 60, "drain_timeout": 60,
            "results_path": str(tmp / f"clients-{g}.out.json"),
        }
        config_path = tmp / f"clients-{g}.json"
        config_path.write_text(json.dumps(config), encoding="utf-8")
        stderr_path = tmp / f"clients-{g}.err"
        with open(stderr_path, "wb") as err:
            proc = spawn(["node", str(script), str(config_path)], stdin=subprocess.PIPE,
                         stdout=subprocess.PIPE, stderr=err, text=True, cwd=script.parent)
        groups.append(ClientGroup(proc, _LineReader(proc), config_path, stderr_path,
                                  Path(config["results_path"]), workdir))
    return groups


def start_py_spy(binary: str, pid: int, seconds: float, out: Path) -> subprocess.Popen:
    """py-spy sampling ``pid`` for ``seconds`` (without pausing it), collapsed stacks into ``out``."""
    args = [binary, "record", "-p", str(pid), "-d", str(max(1, round(seconds))), "-r", "100",
            "--nonblocking", "-f", "raw", "-o", str(out)]
    return spawn(args, stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL)


def py_spy_top(collapsed: Path, count: int = 15) -> list[dict]:
    """The functions with the most samples of their own, from py-spy's collapsed stacks."""
    own: dict[str, int] = {}
    inclusive: dict[str, int] = {}
    total = 0
    try:
        lines = collapsed.read_text(encoding="utf-8", errors="replace").splitlines()
    except OSError:
        return []
    for line in lines:
        stack, _, samples = line.rpartition(" ")
        if not stack or not samples.isdigit():
            continue
        frames = stack.split(";")
        total += int(samples)
        own[frames[-1]] = own.get(frames[-1], 0) + int(samples)
        for frame in set(frames):
            inclusive[frame] = inclusive.get(frame, 0) + int(samples)
    top = sorted(own.items(), key=lambda kv: -kv[1])[:count]
    return [{"function": f, "self": c / total, "inclusive": inclusive[f] / total} for f, c in top]


# -- one run -----------------------------------------------------------------------------------------------


def percentile(sorted_values: list[float], q: float) -> float | None:
    """Nearest-rank percentile (q in 0..100) of an ascending list."""
    if not sorted_values:
        return None
    rank = max(1, math.ceil(q / 100 * len(sorted_values)))
    return sorted_values[rank - 1]


def _histogram(values: list[float], width: float, top: float = 100.0) -> dict[str, int]:
    """How many values fall in each ``width``-ms bucket below ``top`` (keys: the bucket's lower edge), and
    how many at or above it (key ``">=top"``): the shape of a tail that p99 alone hides."""
    counts: dict[str, int] = {}
    for v in values:
        key = f">={top:g}" if v >= top else f"{math.floor(v / width) * width:g}"
        counts[key] = counts.get(key, 0) + 1
    return counts


def summarize(n: int, edits: int, done: list[dict], t0_ms: float, period_ms: float) -> dict:
    """Delays (ms) of every (edit, other client) pair, joined across the client processes; and how late
    the clients typed (an edit sent well after its due time means the clients were short of CPU)."""
    sends: dict[int, list[float]] = {}
    for d in done:
        sends.update({int(i): t for i, t in d["sends"].items()})
    lags = sorted(t - (t0_ms + (i / n + k) * period_ms) for i, ts in sends.items() for k, t in enumerate(ts))
    delays: list[float] = []
    for d in done:
        for by_sender in d["arrivals"].values():
            for sender, times in by_sender.items():
                sent = sends[int(sender)]
                delays.extend(t - s for t, s in zip(times, sent, strict=True) if t is not None)
    delays.sort()
    digests = {h for d in done for h in d["digests"].values()}
    expected = n * (n - 1) * edits
    return {
        "p50_ms": percentile(delays, 50), "p99_ms": percentile(delays, 99),
        "max_ms": delays[-1] if delays else None, "mean_ms": sum(delays) / len(delays) if delays else None,
        "histogram_5ms": _histogram(delays, 5.0),
        "delivered": len(delays), "expected": expected,
        "converged": len(digests) == 1,
        "typing_s": max(d["typing_ms"] for d in done) / 1000,
        "drain_s": max(d["drain_ms"] for d in done) / 1000,
        "client_cpu_s": sum(d["cpu_s"] for d in done),
        "drained": all(d["drained"] for d in done),
        "send_lag_p99_ms": percentile(lags, 99), "send_lag_max_ms": lags[-1] if lags else None,
    }


def run_one(kind: str, python: Path, n: int, args: argparse.Namespace, modules: Path) -> dict:
    """One server, N clients typing for ``args.seconds``: the row's numbers."""
    edits = max(1, round(args.seconds * args.rate))
    server = Server(kind, python, max(n, 2), shlex.split(args.ours_args) if kind == "ours" else None)
    tmp = Path(tempfile.mkdtemp(prefix="bench-clients-"))
    groups: list[ClientGroup] = []
    spy: subprocess.Popen | None = None
    try:
        log(f"{kind}, N={n}: starting the server")
        server.start()
        procs = max(1, min(args.client_procs, n))
        groups = start_clients(server, n, procs, args.rate, edits, modules, tmp)
        try:
            for g in groups:
                g.reader.event("ready", 90)
        except (TimeoutError, RuntimeError) as e:
            raise RuntimeError(f"{e}: {' | '.join(g.stderr() for g in groups)}") from None
        log(f"{kind}, N={n}: {n} clients synced; typing {edits} edits each at {args.rate}/s")
        spy_out = tmp / "py-spy.txt"
        spy = start_py_spy(args.py_spy, server.pid, args.seconds + 2, spy_out) if args.py_spy else None
        cpu0 = cpu_seconds(server.pid)
        t0_ms = time.monotonic_ns() / 1e6 + 500  # the clients' process.hrtime is the same CLOCK_MONOTONIC
        for g in groups:
            assert g.proc.stdin is not None
            g.proc.stdin.write(f"go {t0_ms:.3f}\n")
            g.proc.stdin.flush()
        try:
            for g in groups:
                g.reader.event("done", args.seconds + 120)
            cpu1 = cpu_seconds(server.pid)
            done = [json.loads(g.results_path.read_text(encoding="utf-8")) for g in groups]
        except (TimeoutError, RuntimeError, OSError, ValueError) as e:
            raise RuntimeError(f"{e}: {' | '.join(g.stderr() for g in groups)}") from None
        result = summarize(n, edits, done, t0_ms, 1000 / args.rate)
        result.update(server_cpu_s=cpu1 - cpu0, n=n, server=kind, edits_per_client=edits)
        if spy is not None:
            try:
                spy.wait(args.seconds + 30)
            except subprocess.TimeoutExpired:
                pass
            result["py_spy_top"] = py_spy_top(spy_out)
            if spy_out.is_file():  # kept beside the JSON, for flame graphs or a closer look
                kept = Path(args.json).resolve().parent / f"py-spy-{kind}-n{n}.txt"
                kept.parent.mkdir(parents=True, exist_ok=True)
                shutil.copy(spy_out, kept)
                result["py_spy_stacks"] = str(kept)
            log(f"{kind}, N={n}: py-spy, share of the server's samples (all threads, idle ones left out):\n"
                + "\n".join(
                f"    {row['self']:6.1%} self {row['inclusive']:6.1%} incl.  {row['function']}"
                for row in result["py_spy_top"]))
        log(f"{kind}, N={n}: p50 {_f(result['p50_ms'])} ms, p99 {_f(result['p99_ms'])} ms, "
            f"server CPU {result['server_cpu_s']:.2f} s, "
            f"delivered {result['delivered']}/{result['expected']}")
        return result
    finally:
        for g in groups:
            stop(g.proc, 5)
        server.close()
        shutil.rmtree(tmp, ignore_errors=True)
        if spy is not None:
            stop(spy, 5)


# -- table -------------------------------------------------------------------------------------------------


def _f(v: float | None, digits: int = 1) -> str:
    return "n/a" if v is None else f"{v:,.{digits}f}"


def targets(results: dict[tuple[int, str], dict]) -> list[dict]:
    """The issue's targets, judged on this run."""
    out = []
    ours20, collab20 = results.get((20, "ours")), results.get((20, "collab"))
    if ours20 and collab20 and "error" not in ours20 and "error" not in collab20:
        for key, what in (("p99_ms", "p99"), ("server_cpu_s", "server CPU")):
            ratio = ours20[key] / collab20[key] if collab20[key] else None
            out.append({"target": f"N=20 {what}: ours <= {TARGET_RATIO_N20} x jupyter-collaboration's",
                        "value": ratio, "met": ratio is not None and ratio <= TARGET_RATIO_N20,
                        "detail": f"{_f(ours20[key], 2)} vs {_f(collab20[key], 2)}"})
    ours50 = results.get((50, "ours"))
    if ours50 and "error" not in ours50:
        out.append({"target": f"N=50 p99: ours <= {TARGET_P99_N50_MS:.0f} ms", "value": ours50["p99_ms"],
                    "met": ours50["p99_ms"] is not None and ours50["p99_ms"] <= TARGET_P99_N50_MS,
                    "detail": f"{_f(ours50['p99_ms'])} ms"})
    return out


def render(results: dict[tuple[int, str], dict], meta: dict, checks: list[dict]) -> str:
    lines = [
        f"server latency: N clients x {meta['rate']:g} edits/s into one notebook for {meta['seconds']:g} s; "
        f"clients: Yjs + y-protocols under Node ({meta['client_procs']} process(es))",
        f"commit {meta['commit']}; {meta['date']}; {meta['cpus']} CPUs; load average {meta['loadavg_start']} "
        f"at start, {meta.get('loadavg_end')} at end",
        "",
    ]
    head = (f"{'N':>4}  {'server':<28}{'p50 ms':>9}{'p99 ms':>9}{'max ms':>9}{'server CPU s':>14}"
            f"{'client CPU s':>14}{'send lag ms':>13}{'delivered/expected':>21}  converged")
    lines += [head, "-" * len(head)]
    for (n, kind), r in results.items():
        if "error" in r:
            lines.append(f"{n:>4}  {LABELS[kind]:<28}n/a ({' '.join(r['error'].split())[:200]})")
            continue
        lines.append(
            f"{n:>4}  {LABELS[kind]:<28}{_f(r['p50_ms']):>9}{_f(r['p99_ms']):>9}{_f(r['max_ms']):>9}"
            f"{_f(r['server_cpu_s'], 2):>14}{_f(r['client_cpu_s'], 2):>14}{_f(r['send_lag_p99_ms']):>13}"
            f"{r['delivered']:>11,}/{r['expected']:<9,}  {'yes' if r['converged'] else 'NO'}")
    lines.append("send lag: p99 of how late the clients sent their edits (high: the clients were short of "
                 "CPU, which inflates every delay)")
    ref = "; ".join(f"N={n}: p50 {v['p50']:g} ms, p99 {v['p99']:g} ms, "
                    + (f"server CPU {v['cpu']:g} s" if v["cpu"] else "server CPU-bound")
                    for n, v in REFERENCE.items())
    lines.append(f"reference (jupyter-collaboration 5.0.4 measured for the issue): {ref}")
    for c in checks:
        mark = "met" if c["met"] else "MISSED"
        value = "n/a" if c["value"] is None else f"{c['value']:.2f}"
        lines.append(f"  target {c['target']}: {value} ({c['detail']}) [{mark}]")
    return "\n".join(lines)


# -- main --------------------------------------------------------------------------------------------------


def _git_commit() -> str | None:
    try:
        out = subprocess.run(["git", "rev-parse", "--short", "HEAD"], cwd=REPO_ROOT, capture_output=True,
                             text=True, timeout=10)
    except (OSError, subprocess.SubprocessError):
        return None
    return out.stdout.strip() or None


def parse_args(argv: list[str] | None) -> argparse.Namespace:
    ap = argparse.ArgumentParser(prog="python -m benchmarks.server_latency",
                                 description=__doc__.split("\n\n")[0])
    ap.add_argument("--clients", default="20,50", help="comma-separated client counts N (default 20,50)")
    ap.add_argument("--seconds", type=float, default=30.0, help="typing time (default 30)")
    ap.add_argument("--rate", type=float, default=5.0, help="edits per second per client (default 5)")
    ap.add_argument("--servers", default="ours,collab", help="comma-separated subset of ours,collab")
    ap.add_argument("--client-procs", type=int, default=1,
                    help="Node processes sharing the clients (default 1: one event loop, one clock)")
    ap.add_argument("--json", default=str(BENCH_DIR / "results" / "server_latency.json"),
                    help="where to write the results (default benchmarks/results/server_latency.json)")
    ap.add_argument("--no-install", action="store_true",
                    help="never create the jupyter-collaboration venv nor run npm ci (n/a instead)")
    ap.add_argument("--node-modules", help="a node_modules folder holding yjs, y-protocols, lib0 and ws")
    ap.add_argument("--ours-args", default="",
                    help="extra command-line arguments for our server (note the =), e.g. "
                         "--ours-args='--CrdtExtension.history_enabled=False'")
    ap.add_argument("--py-spy", metavar="BIN",
                    help="sample each server with this py-spy while the clients type (wall clock, so time "
                         "blocked in system calls shows too); the top functions go to stderr and the JSON")
    args = ap.parse_args(argv)
    try:
        args.clients = [int(x) for x in args.clients.split(",") if x.strip()]
    except ValueError:
        ap.error("--clients takes integers, e.g. 20,50")
    if not args.clients or min(args.clients) < 2:
        ap.error("--clients: each N must be >= 2")
    args.servers = [s.strip() for s in args.servers.split(",") if s.strip()]
    if not args.servers or set(args.servers) - set(SERVERS):
        ap.error(f"--servers: a subset of {','.join(SERVERS)}")
    if args.seconds <= 0 or args.rate <= 0 or args.client_procs < 1:
        ap.error("--seconds, --rate and --client-procs must be positive")
    return args


def main(argv: list[str] | None = None) -> int:
    args = parse_args(argv)
    atexit.register(_kill_live)
    signal.signal(signal.SIGTERM, _on_signal)
    signal.signal(signal.SIGINT, _on_signal)
    meta = {
        "date": _dt.datetime.now(_dt.timezone.utc).isoformat(timespec="seconds"), "commit": _git_commit(),
        "cpus": os.cpu_count(), "loadavg_start": _loadavg(), "seconds": args.seconds, "rate": args.rate,
        "client_procs": args.client_procs, "python": sys.version.split()[0],
    }
    try:
        modules = node_modules(args.node_modules, not args.no_install)
    except Unavailable as e:
        log(f"clients unavailable: {e}")
        return 2
    pythons: dict[str, Path | Exception] = {"ours": Path(sys.executable)}
    if "collab" in args.servers:
        try:
            pythons["collab"] = collab_python(not args.no_install)
        except Unavailable as e:
            log(f"jupyter-collaboration: n/a ({e})")
            pythons["collab"] = e
    results: dict[tuple[int, str], dict] = {}
    errors = []
    for n in args.clients:
        for kind in args.servers:
            python = pythons[kind]
            if isinstance(python, Exception):
                results[(n, kind)] = {"error": f"n/a: {python}", "n": n, "server": kind}
                continue
            try:
                results[(n, kind)] = run_one(kind, python, n, args, modules)
            except Exception as e:  # noqa: BLE001 - one failed run is a row, the others still run
                log(f"{kind}, N={n}: FAILED: {e}")
                results[(n, kind)] = {"error": str(e), "n": n, "server": kind}
                if kind == "ours":
                    errors.append(f"N={n}: {e}")
    meta["loadavg_end"] = _loadavg()
    checks = targets(results)
    text = render(results, meta, checks)
    print(text, flush=True)
    path = Path(args.json)
    path.parent.mkdir(parents=True, exist_ok=True)
    out = {"meta": meta, "results": list(results.values()), "targets": checks, "table": text}
    path.write_text(json.dumps(out, indent=1) + "\n", encoding="utf-8")
    log(f"results written to {path}")
    bad = [r for (_, kind), r in results.items() if kind == "ours" and "error" not in r
           and (not r["converged"] or r["delivered"] != r["expected"])]
    return 1 if errors or bad else 0


if __name__ == "__main__":
    if __package__ in (None, ""):
        sys.path.insert(0, str(REPO_ROOT))
    sys.exit(main())
