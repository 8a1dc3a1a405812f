"""Benchmark harness: our engine against Yjs (Node), pycrdt and Loro on the same work, in one run.

    python -m benchmarks.run [--quick] [--runs 3] [--json benchmarks/results/latest.json]
    python benchmarks/run.py ...            (same thing)

Prints a table (medians of ``--runs`` runs, ratios ours/anchor, the targets) on stdout, progress on stderr,
and writes every raw number to the JSON file. An anchor that is not installed shows "n/a". See
docs/benchmarks.md for what each row measures.
"""

from __future__ import annotations

import argparse
import datetime as _dt
import gc
import json
import os
import pickle
import platform
import subprocess
import sys
import tempfile
import time
import traceback
from pathlib import Path
from typing import Any

if __package__ in (None, ""):
    sys.path.insert(0, str(Path(__file__).resolve().parents[1]))
    __package__ = "benchmarks"

from benchmarks import yjs as yjs_driver  # noqa: E402
from benchmarks.engines import (  # noqa: E402
    ENGINES,
    SHORT_REPS,
    WARMUP_CALLS,
    collect_updates,
    run_concurrent,
    run_local,
    run_notebook,
    run_scaling,
)
from benchmarks.workloads import (  # noqa: E402
    CONCURRENT,
    REPO_ROOT,
    SEQUENTIAL,
    NotebookSpec,
    load_trace,
    median,
    sequential,
    sha256_text,
    traces_dir,
)

ALL_ENGINES = ("ours", "yjs", "pycrdt", "loro", "list")
ANCHORS = ("yjs", "pycrdt", "loro")
STATEFUL = ("ours", "yjs", "pycrdt", "loro")  # engines with a document (not the list baseline)
LABELS = {"ours": "ours", "yjs": "Yjs", "pycrdt": "pycrdt", "loro": "Loro", "list": "list"}
SCALING_TRACE = "automerge-paper"
MEMORY_TRACE = "automerge-paper"
HEAP_TARGET_MB = 16.0
QUICK_PATCHES = 2000
QUICK_TXNS = 2000


_T0 = time.perf_counter()


def log(msg: str) -> None:
    print(f"[{time.perf_counter() - _T0:6.1f}s] {msg}", file=sys.stderr, flush=True)


# -- machine and revision ----------------------------------------------------------------------------------


def _git(*args: str) -> str | None:
    try:
        out = subprocess.run(["git", *args], cwd=REPO_ROOT, capture_output=True, text=True, timeout=10)
    except (OSError, subprocess.TimeoutExpired):
        return None
    return out.stdout.strip() if out.returncode == 0 else None


def _cpu_model() -> str:
    try:
        with open("/proc/cpuinfo", encoding="utf-8") as f:
            for line in f:
                if line.startswith("model name"):
                    return line.split(":", 1)[1].strip()
    except OSError:
        pass
    return platform.processor() or platform.machine()


def _loadavg() -> list[float] | None:
    try:
        return [round(x, 2) for x in os.getloadavg()]
    except OSError:
        return None


def machine_meta() -> dict:
    status = _git("status", "--porcelain", "--untracked-files=no")
    return {
        "date": _dt.datetime.now(_dt.timezone.utc).isoformat(timespec="seconds"),
        "commit": _git("rev-parse", "--short", "HEAD"),
        "uncommitted_changes": bool(status) if status is not None else None,
        "python": platform.python_version(),
        "implementation": platform.python_implementation(),
        "platform": platform.platform(),
        "cpus": os.cpu_count(),
        "cpu_model": _cpu_model(),
        "loadavg_start": _loadavg(),
    }


# -- running -----------------------------------------------------------------------------------------------


class Runner:
    def __init__(self, args: argparse.Namespace) -> None:
        self.args = args
        self.quick = args.quick
        self.runs = args.runs
        self.cap = args.cap
        self.limit = QUICK_PATCHES if self.quick else None
        self.txn_limit = QUICK_TXNS if self.quick else None
        self.spec = NotebookSpec(cells=50, keystrokes=10) if self.quick else NotebookSpec()
        self.selected = [e for e in ALL_ENGINES if e in args.engines]
        self.raw: dict[str, dict[str, Any]] = {e: {} for e in ALL_ENGINES}
        self.engine_info: dict[str, dict[str, Any]] = {}
        self.errors: list[str] = []  # failures of ours (make the exit code 1)
        self.python_engines: dict[str, Any] = {}

    # each task of each engine is guarded: a broken anchor becomes n/a, a broken "ours" fails the run
    def guard(self, engine: str, task: str, fn, *a) -> None:
        try:
            self.raw[engine][task] = fn(*a)
        except Exception as e:  # noqa: BLE001
            msg = f"{engine} {task}: {type(e).__name__}: {e}"
            log("  FAILED " + msg)
            self.raw[engine][task] = {"error": msg, "traceback": traceback.format_exc()}
            if engine == "ours":
                self.errors.append(msg)

    def setup(self) -> None:
        for key in ("ours", "pycrdt", "loro", "list"):
            if key not in self.selected:
                self.engine_info[key] = {"available": False, "reason": "not selected"}
                continue
            eng = ENGINES[key]()
            if eng.available():
                self.python_engines[key] = eng
                self.engine_info[key] = {"available": True, "version": eng.version()}
            else:
                self.engine_info[key] = {"available": False, "reason": eng.error}
                log(f"{LABELS[key]}: n/a ({eng.error})")
        self.node = None
        if "yjs" not in self.selected:
            self.engine_info["yjs"] = {"available": False, "reason": "not selected"}
            return
        try:
            modules = Path(self.args.node_modules).resolve() if self.args.node_modules else None
            self.node = yjs_driver.prepare(modules, not self.args.no_install, log)
            self.engine_info["yjs"] = {"available": True}
        except yjs_driver.YjsUnavailable as e:
            self.engine_info["yjs"] = {"available": False, "reason": str(e)}
            log(f"Yjs: n/a ({e})")

    def load_inputs(self) -> None:
        """Load and prepare every input up front, then hide it from the garbage collector, so that a
        collection during a timed replay (or gc.collect() between runs) does not walk the parsed traces."""
        log("loading traces")
        for name in SEQUENTIAL:
            trace = sequential(name, self.limit)
            if "pycrdt" in self.python_engines:
                trace.utf8_chunks()
            if trace.has_astral:
                log(f"  warning: {name} has characters outside the BMP: Yjs's UTF-16 indices will differ")
        load_trace(CONCURRENT)
        gc.collect()
        gc.freeze()

    def run_python(self) -> None:
        traces = {name: sequential(name, self.limit) for name in SEQUENTIAL}
        for key, eng in self.python_engines.items():
            for name, trace in traces.items():
                log(f"{LABELS[key]}: local replay {name} ({len(trace.patches):,} edits) x{self.runs}")
                self.guard(key, f"local:{name}", run_local, eng, trace, self.runs, self.cap)
            trace = traces[SCALING_TRACE]
            if self.raw[key].get(f"local:{SCALING_TRACE}", {}).get("capped"):
                self.raw[key][f"scaling:{SCALING_TRACE}"] = {"skipped": "the 1x replay was capped"}
            else:
                log(f"{LABELS[key]}: scaling, {SCALING_TRACE} typed twice x{self.runs}")
                self.guard(key, f"scaling:{SCALING_TRACE}", run_scaling, eng, trace, self.runs, self.cap)
            if not eng.has_state:
                continue
            conc = load_trace(CONCURRENT)
            txns = conc["txns"] if self.txn_limit is None else conc["txns"][: self.txn_limit]
            ascii_only = all(p[2].isascii() for t in txns for p in t["patches"])
            if key == "pycrdt" and not ascii_only:
                self.raw[key][f"concurrent:{CONCURRENT}"] = {"skipped": "non-ASCII (pycrdt indexes bytes)"}
            else:
                log(f"{LABELS[key]}: concurrent {CONCURRENT} ({len(txns):,} txns) x{self.runs}")
                self.guard(key, f"concurrent:{CONCURRENT}", run_concurrent, eng, txns, conc["numAgents"],
                           self.runs)
            log(f"{LABELS[key]}: notebook {self.spec.cells} cells, {self.spec.peers} peers x{self.runs}")
            self.guard(key, "notebook", run_notebook, eng, self.spec, self.runs)

    def run_yjs(self, updates_file: Path | None) -> None:
        if self.node is None:
            return
        node, modules = self.node
        tasks: list[dict] = [{"kind": "local", "trace": n, "limit": self.limit} for n in SEQUENTIAL]
        tasks.append({"kind": "scaling", "trace": SCALING_TRACE, "limit": self.limit})
        tasks.append({"kind": "concurrent", "trace": CONCURRENT, "limit": self.txn_limit})
        s = self.spec
        tasks.append({"kind": "notebook", "cells": s.cells, "lines": s.lines, "peers": s.peers,
                      "keystrokes": s.keystrokes})
        if updates_file is not None:
            tasks.append({"kind": "verify", "trace": SCALING_TRACE, "limit": self.limit,
                          "updates_file": str(updates_file)})
        request = {"traces_dir": str(traces_dir()), "runs": self.runs, "cap_seconds": self.cap,
                   "warmup_calls": WARMUP_CALLS, "tasks": tasks}
        log(f"Yjs: {len(tasks)} tasks under Node x{self.runs} ...")
        try:
            answer = yjs_driver.run(node, modules, request, timeout=120 if self.quick else 1200)
        except yjs_driver.YjsUnavailable as e:
            self.engine_info["yjs"] = {"available": False, "reason": str(e)}
            log(f"Yjs: n/a ({e})")
            return
        self.engine_info["yjs"].update(version=answer.get("yjs"), node=answer.get("node"))
        for task, res in zip(tasks, answer["results"], strict=True):
            tid = task["kind"] + (f":{task['trace']}" if "trace" in task and task["kind"] != "verify" else "")
            if "error" in res:
                log(f"  Yjs {tid} failed: {res['error'][:300]}")
            self.raw["yjs"][tid] = res

    def run_verify_updates(self) -> Path | None:
        """Collect our updates for automerge-paper (untimed) for Yjs to rebuild; returns the file."""
        if "ours" not in self.python_engines or self.node is None:
            return None
        trace = sequential(SCALING_TRACE, self.limit)
        log(f"ours: collecting the updates of one {SCALING_TRACE} replay for Yjs to rebuild")
        try:
            updates = collect_updates(trace)
        except Exception as e:  # noqa: BLE001
            self.errors.append(f"ours: collecting updates failed: {e}")
            return None
        f = tempfile.NamedTemporaryFile("wb", suffix=".bin", delete=False)
        with f:
            for u in updates:
                f.write(len(u).to_bytes(4, "little"))
                f.write(u)
        self.raw["ours"]["updates_sent"] = {"count": len(updates), "bytes": sum(map(len, updates))}
        return Path(f.name)

    def run_memory(self) -> None:
        trace = sequential(MEMORY_TRACE, self.limit)
        jobs: list[tuple[str, str]] = []
        for key in ("ours", "list"):
            if key in self.python_engines:
                jobs.append((key, "tracemalloc"))
        for key in ("ours", "pycrdt", "loro", "list"):
            if key in self.python_engines:
                jobs.append((key, "rss"))
        with tempfile.TemporaryDirectory() as tmp:
            patches_file = Path(tmp) / "patches.pickle"
            with open(patches_file, "wb") as f:
                pickle.dump((trace.patches, trace.expected), f, protocol=pickle.HIGHEST_PROTOCOL)
            for key, mode in jobs:
                log(f"{LABELS[key]}: memory of one {MEMORY_TRACE} replay ({mode}, separate process)")
                cmd = [sys.executable, "-m", "benchmarks.memory", key, MEMORY_TRACE, "--mode", mode,
                       "--patches-file", str(patches_file)]
                self.guard(key, f"memory:{mode}", self._subprocess_json, cmd)
        if self.node is not None and self.engine_info["yjs"].get("available"):
            node, modules = self.node
            log(f"Yjs: memory of one {MEMORY_TRACE} replay (separate process)")
            req = {"traces_dir": str(traces_dir()), "runs": 1, "cap_seconds": self.cap,
                   "tasks": [{"kind": "memory", "trace": MEMORY_TRACE, "limit": self.limit}]}
            try:
                self.raw["yjs"]["memory"] = yjs_driver.run(node, modules, req, timeout=300)["results"][0]
            except yjs_driver.YjsUnavailable as e:
                self.raw["yjs"]["memory"] = {"error": str(e)}

    @staticmethod
    def _subprocess_json(cmd: list[str]) -> dict:
        proc = subprocess.run(cmd, cwd=REPO_ROOT, capture_output=True, text=True, timeout=600)
        lines = [ln for ln in proc.stdout.splitlines() if ln.startswith("{")]
        if proc.returncode != 0 or not lines:
            raise RuntimeError(f"exit {proc.returncode}: {proc.stderr.strip()[-500:]}")
        out = json.loads(lines[-1])
        if "error" in out:
            raise RuntimeError(out["error"])
        return out


# -- rows --------------------------------------------------------------------------------------------------


def _ok(res: dict | None) -> bool:
    return bool(res) and "error" not in res and "skipped" not in res


class Table:
    """Rows of per-engine values (None: n/a) with ratios ours/anchor and a target."""

    def __init__(self, runner: Runner) -> None:
        self.r = runner
        self.rows: list[dict] = []
        self.checks: list[dict] = []
        self.notes: list[str] = []

    def avail(self, engine: str) -> bool:
        return bool(self.r.engine_info.get(engine, {}).get("available"))

    def add(self, section: str, rid: str, label: str, unit: str, values: dict, *, display=None,
            target: str = "", met: bool | None = None, ratios: bool = True, runs: dict | None = None,
            engines: tuple[str, ...] = ALL_ENGINES) -> dict:
        """One row; engines outside ``engines`` take no part in it (shown as "-")."""
        row = {
            "section": section, "id": rid, "label": label, "unit": unit, "engines": list(engines),
            "values": {e: values.get(e) for e in ALL_ENGINES},
            "display": display or {},
            "runs": runs or {},
            "ratios": {},
            "target": target, "target_met": met,
        }
        ours = values.get("ours")
        if ratios:
            for a in ANCHORS:
                v = values.get(a)
                row["ratios"][a] = ours / v if ours is not None and v else None
        self.rows.append(row)
        return row

    def check(self, what: str, ok: bool | None, detail: str = "") -> None:
        self.checks.append({"check": what, "ok": ok, "detail": detail})

    def timed(self, task: str, field: str = "times", scale: float = 1.0, stat=median):
        """values, runs and display marks for one timed field of one task across engines (``stat``: the
        median, or ``min`` for the best call)."""
        values, runs, display = {}, {}, {}
        for e in ALL_ENGINES:
            res = self.r.raw[e].get(task)
            if not _ok(res) or field not in res:
                if res and "skipped" in res:
                    display[e] = "skip"
                continue
            runs[e] = res[field]
            if res.get("capped") and field in ("times", "cpu_times"):
                display[e] = f">{self.r.cap:.0f}*"
                done = res.get("done")
                extra = f" after {done:,}/{res['patches']:,} edits" if done is not None else ""
                self.notes.append(f"* {LABELS[e]} {task}: capped at {self.r.cap:.0f} s{extra}")
                continue
            values[e] = stat(res[field]) * scale
        return values, runs, display

    def build(self) -> None:
        r = self.r
        raw = r.raw
        # local editing
        for name in SEQUENTIAL:
            trace = sequential(name, r.limit)
            values, runs, display = self.timed(f"local:{name}")
            target, met = "", None
            if name == "automerge-paper":
                target = "<=1.0x Yjs, <=0.25x pycrdt (stretch <=1.0x Loro)"
                rat = {a: values["ours"] / values[a] if "ours" in values and values.get(a) else None
                       for a in ANCHORS}
                if rat["yjs"] is not None and rat["pycrdt"] is not None:
                    met = rat["yjs"] <= 1.0 and rat["pycrdt"] <= 0.25
            elif name == "seph-blog1":
                target = "<=1.0x Yjs"
                if "ours" in values and values.get("yjs"):
                    met = values["ours"] / values["yjs"] <= 1.0
            self.add("local editing", f"local.{name}", f"replay {name} ({len(trace.patches):,} edits)", "s",
                     values, display=display, target=target, met=met, runs=runs)
            for e in ALL_ENGINES:
                res = raw[e].get(f"local:{name}")
                if e == "yjs" and _ok(res):
                    ok = res.get("capped") or res["text_sha256"] == sha256_text(trace.expected)
                    self.check(f"Yjs ends {name} at the expected text", ok)
                elif _ok(res):
                    self.check(f"{LABELS[e]} ends {name} at the expected text", res["text_ok"])
                    if "loaded_ok" in res:
                        self.check(f"{LABELS[e]} loads its own {name} full state", res["loaded_ok"])
        # the same replays in CPU seconds of the replaying process: much less sensitive to other load on the
        # machine than wall time (Yjs's figure includes V8's helper threads)
        for name in SEQUENTIAL:
            trace = sequential(name, r.limit)
            values, runs, display = self.timed(f"local:{name}", "cpu_times")
            self.add("local editing, CPU time (less affected by other load on the machine)", f"cpu.{name}",
                     f"replay {name}", "s", values, display=display, runs=runs)
        # memory (separate processes)
        mb = 1 / (1 << 20)
        tm = {e: raw[e]["memory:tracemalloc"]["peak_bytes"] * mb for e in ("ours", "list")
              if _ok(raw[e].get("memory:tracemalloc"))}
        met = tm["ours"] <= HEAP_TARGET_MB if "ours" in tm else None
        msec = f"memory: one {MEMORY_TRACE} replay, each in a process of its own"
        self.add(msec, "memory.peak_heap", "peak Python heap (tracemalloc)", "MB", tm,
                 target=f"<={HEAP_TARGET_MB:.0f} MB", met=met, ratios=False, engines=("ours", "list"))
        retained = {e: raw[e]["memory:tracemalloc"]["retained_bytes"] * mb for e in ("ours", "list")
                    if _ok(raw[e].get("memory:tracemalloc"))}
        ym = raw["yjs"].get("memory")
        if _ok(ym) and ym.get("heap_retained") is not None:
            retained["yjs"] = ym["heap_retained"] * mb
        self.add(msec, "memory.retained", "heap kept by the final doc (Yjs: V8 heap)", "MB", retained,
                 engines=("ours", "yjs", "list"))
        rss = {e: raw[e]["memory:rss"]["rss_growth"] * mb for e in ("ours", "pycrdt", "loro", "list")
               if _ok(raw[e].get("memory:rss")) and raw[e]["memory:rss"].get("rss_growth") is not None}
        self.add(msec, "memory.rss", "peak RSS growth during the replay", "MB", rss,
                 engines=("ours", "pycrdt", "loro", "list"))
        # remote load, encode, size: each engine warmed up by WARMUP_CALLS untimed calls, then the median
        # (which the targets use) and the best of its timed calls
        reps = max(r.runs, SHORT_REPS)
        calls = f"{reps} calls after {WARMUP_CALLS} untimed"
        load_sec = f"remote load: full-state v1 update applied to a fresh doc; median of {calls}"
        enc = f"encode: full-state v1 update (Loro: snapshot); median of {calls}"
        for name in SEQUENTIAL:
            values, runs, display = self.timed(f"local:{name}", "load_times", 1000)
            target, met = "", None
            if name == "automerge-paper":
                target = "<=2.0x Yjs (medians)"
                if "ours" in values and values.get("yjs"):
                    met = values["ours"] / values["yjs"] <= 2.0
            self.add(load_sec, f"load.{name}", f"load {name}", "ms",
                     values, display=display, target=target, met=met, runs=runs, engines=STATEFUL)
            values, runs, display = self.timed(f"local:{name}", "load_times", 1000, stat=min)
            self.add(load_sec, f"load_best.{name}", "  best call", "ms",
                     values, display=display, runs=runs, engines=STATEFUL)
        for name in SEQUENTIAL:
            values, runs, display = self.timed(f"local:{name}", "encode_times", 1000)
            self.add(enc, f"encode.{name}", f"encode {name}", "ms", values, display=display, runs=runs,
                     engines=STATEFUL)
            values, runs, display = self.timed(f"local:{name}", "encode_times", 1000, stat=min)
            self.add(enc, f"encode_best.{name}", "  best call", "ms", values, display=display, runs=runs,
                     engines=STATEFUL)
        for name in SEQUENTIAL:
            sizes = {e: raw[e][f"local:{name}"]["update_size"] for e in ALL_ENGINES
                     if _ok(raw[e].get(f"local:{name}")) and "update_size" in raw[e][f"local:{name}"]}
            ours_res, yjs_res = raw["ours"].get(f"local:{name}"), raw["yjs"].get(f"local:{name}")
            equal = None
            if _ok(ours_res) and _ok(yjs_res) and "update_sha256" in ours_res and "update_sha256" in yjs_res:
                equal = ours_res["update_sha256"] == yjs_res["update_sha256"]
                self.check(f"full state of {name}: our bytes == Yjs's bytes", equal,
                           f"{ours_res['update_size']:,} vs {yjs_res['update_size']:,} bytes")
            target = "== Yjs (same bytes)" if name == "automerge-paper" else ""
            self.add(enc, f"size.{name}", f"size of {name}", "bytes", sizes, target=target,
                     met=equal if name == "automerge-paper" else None, engines=STATEFUL)
        # concurrent
        conc = load_trace(CONCURRENT)
        ntx = len(conc["txns"]) if r.txn_limit is None else min(r.txn_limit, len(conc["txns"]))
        values, runs, display = self.timed(f"concurrent:{CONCURRENT}")
        self.add("concurrent", f"concurrent.{CONCURRENT}",
                 f"{CONCURRENT} ({conc['numAgents']} agents, {ntx:,} txns)", "s", values,
                 display=display, runs=runs, engines=STATEFUL)
        expected = sha256_text(conc["endContent"]) if r.txn_limit is None else None
        for e in ALL_ENGINES:
            res = raw[e].get(f"concurrent:{CONCURRENT}")
            if _ok(res):
                ok = res["converged"] and (expected is None or res["text_sha256"] == expected)
                self.check(f"{LABELS[e]}: every {CONCURRENT} agent ends at "
                           + ("endContent" if expected else "the same text"), ok)
        # notebook
        s = r.spec
        nb = {e: raw[e].get("notebook") for e in ALL_ENGINES}
        for field, rid, label in (
            ("build_times", "notebook.build", f"build {s.cells:,} cells x {s.lines} lines (1 txn)"),
            ("encode_times", "notebook.encode", "encode its full state"),
            ("load_times", "notebook.load", "load its full state into a fresh doc"),
        ):
            values, runs, display = self.timed("notebook", field, 1000)
            self.add("notebook", rid, label, "ms", values, display=display, runs=runs, engines=STATEFUL)
        sizes = {e: v["update_size"] for e, v in nb.items() if _ok(v)}
        self.add("notebook", "notebook.size", "its full-state size (Loro: snapshot)", "bytes", sizes,
                 engines=STATEFUL)
        per_edit = {}
        typing_runs = {}
        for e, v in nb.items():
            if _ok(v):
                typing_runs[e] = v["typing_times"]
                per_edit[e] = median(v["typing_times"]) / v["edits"] * 1e6
        self.add("notebook", "notebook.typing",
                 f"{s.peers} peers x {s.keystrokes} keys: per edit, to {s.peers - 1} peers",
                 "us", per_edit, runs=typing_runs, engines=STATEFUL)
        for e, v in nb.items():
            if _ok(v):
                self.check(f"{LABELS[e]}: notebook peers converge", v["converged"])
        if _ok(nb["ours"]) and _ok(nb["yjs"]):
            self.check("notebook full state: our bytes == Yjs's bytes",
                       nb["ours"]["update_sha256"] == nb["yjs"]["update_sha256"],
                       f"{nb['ours']['update_size']:,} vs {nb['yjs']['update_size']:,} bytes")
        # scaling
        two, runs2, display2 = self.timed(f"scaling:{SCALING_TRACE}")
        self.add("scaling", "scaling.2x", f"{SCALING_TRACE} typed twice (2x)", "s", two,
                 display=display2, runs=runs2)
        ratio, ratio_runs = {}, {}
        for e in ALL_ENGINES:
            res = raw[e].get(f"scaling:{SCALING_TRACE}")
            if _ok(res) and res.get("ratios"):
                ratio_runs[e] = res["ratios"]
                ratio[e] = median(res["ratios"])
        self.add("scaling", "scaling.ratio", "time(2x) / time(1x), paired runs", "x", ratio, runs=ratio_runs,
                 target="<=2.0 (ours)", met=ratio["ours"] <= 2.0 if "ours" in ratio else None, ratios=False)
        passes, pass_runs = {}, {}
        for e in ALL_ENGINES:
            res = raw[e].get(f"scaling:{SCALING_TRACE}")
            if _ok(res) and res.get("pass_ratios"):
                pass_runs[e] = res["pass_ratios"]
                passes[e] = median(res["pass_ratios"])
        self.add("scaling", "scaling.passes", "2x run: time(2nd pass) / time(1st pass)", "x", passes,
                 runs=pass_runs, ratios=False)
        for e in ALL_ENGINES:
            res = raw[e].get(f"scaling:{SCALING_TRACE}")
            if _ok(res) and "text_ok" in res:
                self.check(f"{LABELS[e]}: {SCALING_TRACE} typed twice ends at its text twice", res["text_ok"])
        # Yjs rebuilds our updates
        ver = raw["yjs"].get("verify")
        if _ok(ver):
            trace = sequential(SCALING_TRACE, r.limit)
            sent = raw["ours"].get("updates_sent", {})
            self.check(f"Yjs rebuilds {SCALING_TRACE} from our {sent.get('count', 0):,} emitted updates",
                       ver["text_sha256"] == sha256_text(trace.expected))
        elif ver:
            self.check(f"Yjs rebuilds {SCALING_TRACE} from our emitted updates", False, ver.get("error", ""))


# -- printing ----------------------------------------------------------------------------------------------


def fmt(value: float | None, unit: str) -> str:
    if value is None:
        return "n/a"
    if unit == "bytes":
        return f"{value:,.0f}"
    if unit == "x":
        return f"{value:.2f}"
    if abs(value) >= 100:
        return f"{value:,.0f}"
    return f"{value:.3g}"  # three significant digits


def fmt_ratio(v: float | None, unit: str) -> str:
    if v is None:
        return "n/a"
    return f"{v:.3f}x" if unit == "bytes" else f"{v:.2f}x"


def render(table: Table, meta: dict, runner: Runner) -> str:
    info = runner.engine_info
    lines = []
    mode = "QUICK (tiny inputs: numbers not comparable with the targets)" if runner.quick else "full"
    lines.append(f"jupyter-crdt benchmarks -- {mode}; median of {runner.runs} runs (loads and encodes: of "
                 f"{max(runner.runs, SHORT_REPS)} calls after {WARMUP_CALLS} untimed); times from each "
                 f"engine's own timer")
    rev = f"{meta['commit']}{' + uncommitted changes' if meta['uncommitted_changes'] else ''}"
    lines.append(f"commit {rev}; {meta['date']}; {meta['cpus']} CPUs ({meta['cpu_model']}); "
                 f"Python {meta['python']}")
    lines.append(f"load average (1, 5, 15 min): {meta['loadavg_start']} at start, "
                 f"{meta.get('loadavg_end')} at end")
    vers = []
    for e in ALL_ENGINES:
        i = info.get(e, {})
        if i.get("available"):
            v = i.get("version") or ""
            if e == "yjs":
                v = f"{v} (Node {i.get('node')})"
            vers.append(f"{LABELS[e]} {v}".strip())
        else:
            vers.append(f"{LABELS[e]} n/a ({i.get('reason')})")
    lines.append("engines: " + "; ".join(vers))
    lines.append("")
    cols = [LABELS[e] for e in ALL_ENGINES] + [f"ours/{LABELS[a]}" for a in ANCHORS]
    w_label = max(len(row["label"]) for row in table.rows) + 4
    head = f"{'benchmark':<{w_label}}{'unit':<6}" + "".join(f"{c:>12}" for c in cols) + "  target"
    lines.append(head)
    lines.append("-" * len(head))
    section = None
    for row in table.rows:
        if row["section"] != section:
            section = row["section"]
            lines.append(f"[{section}]")
        cells = []
        for e in ALL_ENGINES:
            if e not in row["engines"]:
                cells.append("-")
            else:
                cells.append(row["display"].get(e) or fmt(row["values"].get(e), row["unit"]))
        for a in ANCHORS:
            if not row["ratios"]:
                cells.append("")
            elif a not in row["engines"]:
                cells.append("-")
            else:
                cells.append(fmt_ratio(row["ratios"].get(a), row["unit"]))
        target = row["target"]
        if target:
            met = row["target_met"]
            target += "  " + ("[met]" if met else "[MISSED]" if met is False else "[?]")
        lines.append(f"{'  ' + row['label']:<{w_label}}{row['unit']:<6}" + "".join(f"{c:>12}" for c in cells)
                     + ("  " + target if target else ""))
    lines.append("")
    for note in dict.fromkeys(table.notes):
        lines.append(note)
    failed = [c for c in table.checks if c["ok"] is False]
    lines.append(f"checks: {sum(1 for c in table.checks if c['ok'])} passed, {len(failed)} failed")
    for c in table.checks:
        mark = "ok " if c["ok"] else "FAIL"
        lines.append(f"  [{mark}] {c['check']}" + (f" ({c['detail']})" if c["detail"] else ""))
    if runner.errors:
        lines.append("errors in ours:")
        lines.extend(f"  {e}" for e in runner.errors)
    return "\n".join(lines)


# -- main --------------------------------------------------------------------------------------------------


def parse_args(argv: list[str] | None) -> argparse.Namespace:
    ap = argparse.ArgumentParser(prog="python -m benchmarks.run", description=__doc__.split("\n\n")[0])
    ap.add_argument("--quick", action="store_true",
                    help=f"tiny inputs: first {QUICK_PATCHES:,} patches of each trace, 50 cells (seconds)")
    ap.add_argument("--runs", type=int, default=3, help="runs per measurement; the median is shown (>= 3)")
    ap.add_argument("--json", default=str(REPO_ROOT / "benchmarks" / "results" / "latest.json"),
                    help="where to write the results (default: benchmarks/results/latest.json)")
    ap.add_argument("--cap", type=float, default=60.0,
                    help="seconds after which one replay is stopped and shown as capped (default 60)")
    ap.add_argument("--engines", default=",".join(ALL_ENGINES),
                    help=f"comma-separated subset of {','.join(ALL_ENGINES)}")
    ap.add_argument("--no-install", action="store_true", help="never run npm install (Yjs is n/a without it)")
    ap.add_argument("--node-modules", help="a node_modules folder holding yjs (default: benchmarks/node's)")
    ap.add_argument("--no-memory", action="store_true", help="skip the separate memory runs")
    args = ap.parse_args(argv)
    args.engines = {e.strip() for e in args.engines.split(",") if e.strip()}
    unknown = args.engines - set(ALL_ENGINES)
    if unknown:
        ap.error(f"unknown engines: {', '.join(sorted(unknown))}")
    if args.runs < 1:
        ap.error("--runs must be >= 1")
    return args


def main(argv: list[str] | None = None) -> int:
    args = parse_args(argv)
    if not traces_dir().is_dir():
        log(f"traces not found in {traces_dir()}")
        return 2
    meta = machine_meta()
    runner = Runner(args)
    runner.setup()
    runner.load_inputs()
    runner.run_python()
    updates_file = runner.run_verify_updates()
    try:
        runner.run_yjs(updates_file)
    finally:
        if updates_file is not None:
            updates_file.unlink(missing_ok=True)
    if not args.no_memory:
        runner.run_memory()
    meta["loadavg_end"] = _loadavg()
    table = Table(runner)
    table.build()
    text = render(table, meta, runner)
    print(text, flush=True)
    out = {
        "meta": meta,
        "config": {
            "quick": args.quick, "runs": args.runs, "cap_seconds": args.cap,
            "patch_limit": runner.limit, "txn_limit": runner.txn_limit, "notebook": vars(runner.spec),
        },
        "engines": runner.engine_info,
        "rows": table.rows,
        "checks": table.checks,
        "notes": list(dict.fromkeys(table.notes)),
        "errors": runner.errors,
        "raw": runner.raw,
        "table": text,
    }
    path = Path(args.json)
    path.parent.mkdir(parents=True, exist_ok=True)
    path.write_text(json.dumps(out, indent=1, default=str) + "\n", encoding="utf-8")
    log(f"results written to {path}")
    failed = [c for c in table.checks if c["ok"] is False]
    ours_failed = any(c["check"].startswith(("ours", "Yjs rebuilds")) for c in failed)
    return 1 if runner.errors or ours_failed else 0


if __name__ == "__main__":
    sys.exit(main())
