"""Two revisions side by side: the engine benchmarks and the server's latency and CPU, old against new.

    python -m benchmarks.compare_revisions --old main~1 --new HEAD            # the full comparison
    python -m benchmarks.compare_revisions --old main --new h/lint --quick    # a quick look (minutes)

Each revision is checked out with ``git worktree add --detach`` into a temporary directory (removed at the
end). Each is measured with its own code, harness included: ``python -m benchmarks.run --engines ours`` and
``python -m benchmarks.server_latency --servers ours --clients 20``, run from its worktree with only that
worktree on ``PYTHONPATH``. They share this interpreter (its venv) and this checkout's ``node_modules``
(linked into each worktree, and no npm run). The rounds alternate old and new (old-new, new-old, ...), so a
machine that gets busier or quieter during the run weighs on both alike. At least 5 rounds are needed for the
issue's bar (5 is the default).

Printed: per metric, the median over the rounds of each revision's value (each value is already that
harness's own median), new/old, and the spread of the rounds (the wider side's (max - min) / median: a
difference smaller than it is noise). A time more than 5% slower (``--tolerance``) is flagged, and so are
more memory and a changed size in bytes. The last line says whether the server's CPU seconds with 20
typists went down. Exit code: 0 when nothing is flagged and the CPU went down, 1 otherwise, 2 when a
measurement failed. The JSON (``--json``) keeps every round's values. Network: 127.0.0.1 only (the
harnesses' own servers and clients).
"""

from __future__ import annotations

import argparse
import contextlib
import datetime as _dt
import json
import os
import signal
import statistics
import subprocess
import sys
import tempfile
import time
from collections.abc import Iterator
from dataclasses import dataclass, field
from pathlib import Path

REPO_ROOT = Path(__file__).resolve().parents[1]
# node_modules folders of this checkout that the revisions' harnesses look for (ignored by git, so a fresh
# worktree has none); linked into each worktree.
NODE_MODULES = ("benchmarks/node/node_modules", "tests/node/node_modules",
                "tests/jupyter_crdt/server/node/node_modules")
# The latency clients' packages: benchmarks/node's own install, else the server tests' (same packages).
LATENCY_MODULES = ("benchmarks/node/node_modules", "tests/jupyter_crdt/server/node/node_modules")
TIME_UNITS = {"s": 1.0, "ms": 1e-3, "us": 1e-6}
LATENCY_FIELDS = {"p50_ms": "ms", "p99_ms": "ms", "mean_ms": "ms", "server_cpu_s": "s"}
CPU_METRIC = "latency N={n}: server CPU"


def log(message: str) -> None:
    print(f"[compare] {message}", file=sys.stderr, flush=True)


class Failed(RuntimeError):
    """A git command or a measurement failed: the comparison cannot go on."""


# ----------------------------------------------------------------------------------------------------------
# Worktrees


def git(*args: str, cwd: Path = REPO_ROOT) -> str:
    done = subprocess.run(["git", *args], cwd=cwd, capture_output=True, text=True, timeout=300)
    if done.returncode != 0:
        raise Failed(f"git {' '.join(args)}: {done.stderr.strip() or done.returncode}")
    return done.stdout.strip()


def resolve(rev: str, repo: Path = REPO_ROOT) -> str:
    try:
        return git("rev-parse", "--verify", "--quiet", f"{rev}^{{commit}}", cwd=repo)
    except Failed:
        raise Failed(f"{rev!r} is not a revision of {repo}") from None


@contextlib.contextmanager
def worktree(sha: str, parent: Path, name: str, repo: Path = REPO_ROOT) -> Iterator[Path]:
    """A detached checkout of `sha`, with the node_modules of `repo` linked in; removed afterwards."""
    path = parent / name
    git("worktree", "add", "--detach", str(path), sha, cwd=repo)
    try:
        for rel in NODE_MODULES:
            source = (repo / rel).resolve()
            target = path / rel
            if source.is_dir() and target.parent.is_dir() and not os.path.lexists(target):
                target.symlink_to(source, target_is_directory=True)
        yield path
    finally:
        try:
            git("worktree", "remove", "--force", str(path), cwd=repo)
        except (Failed, subprocess.TimeoutExpired) as e:
            log(f"could not remove the worktree {path}: {e} (git worktree remove --force {path})")


# ----------------------------------------------------------------------------------------------------------
# Running a harness


def run_harness(checkout: Path, module: str, args: list[str], timeout: float) -> None:
    """`python -m module args` in `checkout`, with only that checkout on PYTHONPATH. Its own process group:
    on timeout the group gets SIGTERM (the harnesses then kill their servers), then SIGKILL."""
    env = dict(os.environ, PYTHONPATH=str(checkout), PYTHONDONTWRITEBYTECODE="1")
    command = [sys.executable, "-m", module, *args]
    proc = subprocess.Popen(command, cwd=checkout, env=env, stdout=subprocess.PIPE, stderr=subprocess.STDOUT,
                            text=True, start_new_session=True)
    try:
        output, _ = proc.communicate(timeout=timeout)
    except subprocess.TimeoutExpired:
        stop(proc)
        raise Failed(f"{module} in {checkout.name} still running after {timeout:.0f} s: stopped") from None
    except BaseException:  # Ctrl-C or a signal: its servers must not outlive us
        stop(proc)
        raise
    if proc.returncode != 0:
        tail = "\n".join(output.splitlines()[-25:])
        raise Failed(f"{module} in {checkout.name} exited with {proc.returncode}:\n{tail}")


def stop(proc: subprocess.Popen) -> None:
    for sig, grace in ((signal.SIGTERM, 30), (signal.SIGKILL, 10)):
        with contextlib.suppress(ProcessLookupError):
            os.killpg(proc.pid, sig)
        try:
            proc.communicate(timeout=grace)
            return
        except subprocess.TimeoutExpired:
            continue


def check_imports(checkout: Path) -> None:
    """The revision's own code must be what runs, not the editable install of another checkout."""
    env = dict(os.environ, PYTHONPATH=str(checkout))
    code = "import benchmarks as b, crdt as c, jupyter_crdt as j; print(b.__file__, c.__file__, j.__file__)"
    out = subprocess.run([sys.executable, "-c", code], cwd=checkout, env=env, capture_output=True, text=True,
                         timeout=120)
    files = out.stdout.split()
    if out.returncode != 0 or len(files) != 3:
        raise Failed(f"cannot import the code of {checkout.name}: {out.stderr.strip()[-500:]}")
    for file in files:
        if not Path(file).resolve().is_relative_to(checkout.resolve()):
            raise Failed(f"{checkout.name}: {file} is imported from outside the worktree")


# ----------------------------------------------------------------------------------------------------------
# Metrics


@dataclass
class Metric:
    name: str
    unit: str
    values: dict[str, list[float]] = field(default_factory=lambda: {"old": [], "new": []})

    def median(self, side: str) -> float | None:
        return statistics.median(self.values[side]) if self.values[side] else None

    def spread(self) -> float | None:
        """The wider of the two sides' (max - min) / median: how much the rounds disagreed (the noise)."""
        spreads = []
        for values in self.values.values():
            middle = statistics.median(values) if values else 0
            if middle:
                spreads.append((max(values) - min(values)) / abs(middle))
        return max(spreads) if spreads else None

    def ratio(self) -> float | None:
        old, new = self.median("old"), self.median("new")
        if old is None or new is None or old == 0:
            return None
        return new / old

    def flag(self, tolerance: float) -> str:
        ratio = self.ratio()
        if ratio is None:
            return "" if self.values["old"] and self.values["new"] else "missing on one side"
        if self.unit in TIME_UNITS and ratio > 1 + tolerance:
            return f"SLOWER by {100 * (ratio - 1):.0f}%"
        if self.unit == "MB" and ratio > 1 + tolerance:
            return f"MORE MEMORY by {100 * (ratio - 1):.0f}%"
        if self.unit == "bytes" and ratio != 1:
            return "SIZE CHANGED"
        return ""


def engine_values(path: Path) -> dict[tuple[str, str], float]:
    """(metric, unit) -> our engine's value, from a `benchmarks.run` JSON."""
    data = json.loads(path.read_text(encoding="utf-8"))
    out = {}
    for row in data["rows"]:
        value = row.get("values", {}).get("ours")
        if isinstance(value, (int, float)):
            out[(f"engine {row['id']}", row["unit"])] = float(value)
    return out


def latency_values(path: Path) -> dict[tuple[str, str], float]:
    """(metric, unit) -> value for our server, from a `benchmarks.server_latency` JSON; a run that lost
    edits or did not converge is a failure, not a number."""
    data = json.loads(path.read_text(encoding="utf-8"))
    out = {}
    for result in data["results"]:
        if result.get("server") != "ours":
            continue
        n = result["n"]
        if "error" in result:
            raise Failed(f"server latency N={n}: {result['error']}")
        if not result.get("converged") or result.get("delivered") != result.get("expected"):
            raise Failed(f"server latency N={n}: delivered {result.get('delivered')} of "
                         f"{result.get('expected')}, converged {result.get('converged')}")
        for key, unit in LATENCY_FIELDS.items():
            label = CPU_METRIC.format(n=n) if key == "server_cpu_s" else f"latency N={n}: {key[:-3]}"
            out[(label, unit)] = float(result[key])
    return out


# ----------------------------------------------------------------------------------------------------------
# The comparison


def parse_args(argv: list[str] | None) -> argparse.Namespace:
    ap = argparse.ArgumentParser(prog="python -m benchmarks.compare_revisions",
                                 description=(__doc__ or "").split("\n")[0])
    ap.add_argument("--old", default="HEAD~1", help="the old revision (default HEAD~1)")
    ap.add_argument("--new", default="HEAD", help="the new revision (default HEAD)")
    ap.add_argument("--rounds", type=int, default=5, help="rounds, each measuring both revisions (default 5)")
    ap.add_argument("--quick", action="store_true",
                    help="small inputs: benchmarks.run --quick --runs 3 --no-memory, 5 s of typing")
    ap.add_argument("--clients", type=int, default=20, help="typists for the server latency run (default 20)")
    ap.add_argument("--seconds", type=float, help="typing time per latency run (default 30; --quick: 5)")
    ap.add_argument("--runs", type=int, help="benchmarks.run --runs (default 3)")
    ap.add_argument("--skip-engine", action="store_true", help="leave out benchmarks.run")
    ap.add_argument("--skip-latency", action="store_true", help="leave out benchmarks.server_latency")
    ap.add_argument("--tolerance", type=float, default=0.05, help="flag above this slowdown (0.05)")
    ap.add_argument("--timeout", type=float, help="seconds per harness run (default 1800; --quick: 600)")
    ap.add_argument("--json", default=str(REPO_ROOT / "benchmarks" / "results" / "compare_revisions.json"),
                    help="where the results go")
    args = ap.parse_args(argv)
    if args.rounds < 1 or args.clients < 2:
        ap.error("--rounds must be >= 1 and --clients >= 2")
    if args.skip_engine and args.skip_latency:
        ap.error("nothing to measure")
    if args.seconds is None:
        args.seconds = 5.0 if args.quick else 30.0
    if args.timeout is None:
        args.timeout = 600.0 if args.quick else 1800.0
    if args.runs is None:
        args.runs = 3
    return args


def engine_args(args: argparse.Namespace, out: Path) -> list[str]:
    extra = ["--quick", "--no-memory"] if args.quick else []
    return ["--engines", "ours", "--no-install", "--runs", str(args.runs), "--json", str(out), *extra]


def latency_args(args: argparse.Namespace, out: Path) -> list[str]:
    modules = next((REPO_ROOT / rel for rel in LATENCY_MODULES if (REPO_ROOT / rel / "yjs").is_dir()), None)
    if modules is None:
        raise Failed("no node_modules with the latency clients' packages (npm ci in "
                     "tests/jupyter_crdt/server/node or benchmarks/node)")
    return ["--servers", "ours", "--clients", str(args.clients), "--seconds", str(args.seconds),
            "--no-install", "--node-modules", str(modules.resolve()), "--json", str(out)]


def measure(args: argparse.Namespace, checkouts: dict[str, Path], scratch: Path) -> dict[str, Metric]:
    metrics: dict[str, Metric] = {}
    for round_no in range(args.rounds):
        order = ("old", "new") if round_no % 2 == 0 else ("new", "old")
        for side in order:
            checkout = checkouts[side]
            found: dict[tuple[str, str], float] = {}
            if not args.skip_engine:
                out = scratch / f"engine-{side}-{round_no}.json"
                log(f"round {round_no + 1}/{args.rounds}: {side}: benchmarks.run")
                run_harness(checkout, "benchmarks.run", engine_args(args, out), args.timeout)
                found.update(engine_values(out))
            if not args.skip_latency:
                out = scratch / f"latency-{side}-{round_no}.json"
                log(f"round {round_no + 1}/{args.rounds}: {side}: server_latency, N={args.clients}")
                run_harness(checkout, "benchmarks.server_latency", latency_args(args, out), args.timeout)
                found.update(latency_values(out))
            for (name, unit), value in found.items():
                metrics.setdefault(name, Metric(name, unit)).values[side].append(value)
    return metrics


def render(metrics: dict[str, Metric], args: argparse.Namespace, revs: dict[str, str]) -> tuple[str, bool]:
    """The table and the verdict; True when nothing is flagged and the server CPU went down."""
    lines = [
        f"old {args.old} ({revs['old'][:10]})  new {args.new} ({revs['new'][:10]})  rounds {args.rounds}"
        + ("  --quick" if args.quick else ""),
        "",
        f"{'metric':<48} {'unit':>5} {'old':>12} {'new':>12} {'new/old':>8} {'spread':>7}  flag",
    ]
    flagged = []
    for name in metrics:
        metric = metrics[name]
        old, new, ratio = metric.median("old"), metric.median("new"), metric.ratio()
        flag = metric.flag(args.tolerance)
        if flag:
            flagged.append(f"{name}: {flag}")
        lines.append(
            f"{name:<48} {metric.unit:>5} {_num(old):>12} {_num(new):>12} "
            f"{(f'{ratio:.3f}' if ratio is not None else '-'):>8} "
            f"{(f'{100 * spread:.0f}%' if (spread := metric.spread()) is not None else '-'):>7}  {flag}"
        )
    lines.append("")
    lines.append(f"{len(flagged)} flagged (more than {100 * args.tolerance:.0f}% slower, more memory, or a "
                 "changed size)" + (":" if flagged else ""))
    lines += [f"  {item}" for item in flagged]
    cpu = metrics.get(CPU_METRIC.format(n=args.clients))
    cpu_ratio = cpu.ratio() if cpu is not None else None
    went_down = None
    if cpu is not None and cpu_ratio is not None:
        went_down = cpu_ratio < 1
        lines.append(
            f"server CPU with {args.clients} typists: old {_num(cpu.median('old'))} s, new "
            f"{_num(cpu.median('new'))} s: {'went DOWN' if went_down else 'did NOT go down'}"
        )
    elif not args.skip_latency:
        lines.append("server CPU: not measured")
    if args.rounds < 5:
        lines.append(f"note: {args.rounds} rounds; the issue's bar is medians of at least 5")
    return "\n".join(lines), not flagged and went_down is not False


def _num(value: float | None) -> str:
    if value is None:
        return "-"
    if value == int(value) and abs(value) < 1e12:
        return str(int(value))  # sizes in bytes, counts
    return f"{value:.4g}" if abs(value) < 1e5 else f"{value:.0f}"


def main(argv: list[str] | None = None) -> int:
    args = parse_args(argv)
    try:
        revs = {"old": resolve(args.old), "new": resolve(args.new)}
    except Failed as e:
        log(str(e))
        return 2
    started = time.monotonic()
    with tempfile.TemporaryDirectory(prefix="crdt-compare-") as tmp:
        scratch = Path(tmp)
        try:
            with worktree(revs["old"], scratch, "old") as old, worktree(revs["new"], scratch, "new") as new:
                checkouts = {"old": old, "new": new}
                for checkout in checkouts.values():
                    check_imports(checkout)
                metrics = measure(args, checkouts, scratch)
        except Failed as e:
            log(f"FAILED: {e}")
            return 2
    text, good = render(metrics, args, revs)
    print(text, flush=True)
    out = {
        "meta": {
            "date": _dt.datetime.now(_dt.timezone.utc).isoformat(timespec="seconds"),
            "old": {"rev": args.old, "commit": revs["old"]}, "new": {"rev": args.new, "commit": revs["new"]},
            "rounds": args.rounds, "quick": args.quick, "clients": args.clients, "seconds": args.seconds,
            "tolerance": args.tolerance, "elapsed_s": round(time.monotonic() - started, 1),
            "loadavg_end": list(os.getloadavg()), "cpus": os.cpu_count(),
        },
        "metrics": [
            {"name": m.name, "unit": m.unit, "old": m.values["old"], "new": m.values["new"],
             "old_median": m.median("old"), "new_median": m.median("new"), "ratio": m.ratio(),
             "spread": m.spread(), "flag": m.flag(args.tolerance)}
            for m in metrics.values()
        ],
        "table": text,
    }
    path = Path(args.json)
    path.parent.mkdir(parents=True, exist_ok=True)
    path.write_text(json.dumps(out, indent=1) + "\n", encoding="utf-8")
    log(f"results written to {path}")
    return 0 if good else 1


if __name__ == "__main__":
    sys.exit(main())
