"""Issue #12, Done-when: >= 1,000 hostile sidecars from a fixed seed (truncated, bit-flipped, bombs, deep
nesting, random bytes; see ``fuzz_sidecars.py``) thrown at ``jupyter crdt log``, ``jupyter crdt merge`` and
the server's open of the notebook. Every call runs in a process limited to 512 MiB of address space and
20 s (of CPU; 60 s of wall clock catch a wait that never ends, and leave room for a busy machine): only clear
errors (a nonzero exit with a one-line message, no traceback), no hang, and the ``.ipynb``
is never modified or lost. Many cases share one driver process (one call each, under its own alarm); a
case that kills its driver is reported and the rest go on in a new one. A few of them also go through
the real command line and a real server (whose memory stays under 300 MB for the 2 MB zlib bomb)."""

from __future__ import annotations

import hashlib
import json
import os
import resource
import shutil
import subprocess
import sys
import time
from pathlib import Path

import pytest

from . import fuzz_sidecars as fz

HERE = Path(__file__).resolve().parent
REPO = HERE.parents[2]
SEED = 20261207
N_RANDOM = 1000
AS_LIMIT = 512 << 20
#: The second line of the command line's answer to a damaged history (jupyter_crdt/cli.py).
RECOVERY_HINT = "the notebook file is not affected. To set the damaged history aside"


def _limit_memory() -> None:
    resource.setrlimit(resource.RLIMIT_AS, (AS_LIMIT, AS_LIMIT))


def _limit_call() -> None:
    """One call of the real command line: 512 MiB of address space, 20 s of CPU (then SIGXCPU)."""
    _limit_memory()
    resource.setrlimit(resource.RLIMIT_CPU, (fz.CALL_SECONDS, fz.CALL_SECONDS + 1))


def _env() -> dict:
    env = dict(os.environ)
    env["PYTHONPATH"] = os.pathsep.join([str(REPO), env.get("PYTHONPATH", "")])
    env.pop("NO_COLOR", None)
    return env


def _message_lines(err: str) -> list[str]:
    """The lines of an error answer that say what is wrong: one is expected. Notes, and the way out of a
    damaged history (``jupyter crdt recover``) on the line after, are not counted."""
    return [ln for ln in err.splitlines() if ln.strip() and not ln.startswith("note: ")
            and not ln.startswith(RECOVERY_HINT)]


def _digest(path: str) -> str | None:
    try:
        return hashlib.sha256(Path(path).read_bytes()).hexdigest()
    except FileNotFoundError:
        return None


def _is_notebook(path: str) -> bool:
    try:
        nb = json.loads(Path(path).read_text())
    except (OSError, ValueError):
        return False
    return isinstance(nb, dict) and nb.get("nbformat") == 4 and isinstance(nb.get("cells"), list)


@pytest.fixture(scope="module")
def bomb() -> bytes:
    return fz.zlib_bomb()


@pytest.fixture(scope="module")
def cases(tmp_path_factory, bomb):
    root = tmp_path_factory.mktemp("fuzz")
    made = fz.make_cases(root, N_RANDOM, SEED, bomb)
    assert len(made) >= 1000
    return made


def _drive(mode: str, cases: list[dict], tmp: Path) -> dict[int, dict]:
    """Every case through the driver, restarting it after a case that kills it."""
    results: dict[int, dict] = {}
    todo = list(cases)
    for attempt in range(len(cases) + 1):  # bounded: each round finishes or loses at least one case
        if not todo:
            break
        cases_file = tmp / f"{mode}-{attempt}.json"
        cases_file.write_text(json.dumps(todo))
        proc = subprocess.Popen(
            [sys.executable, str(HERE / "fuzz_sidecars.py"), mode, str(cases_file)],
            stdout=subprocess.PIPE, stderr=subprocess.PIPE, text=True, env=_env(), preexec_fn=_limit_memory,
        )
        # Each call has its own 20 s alarm; the whole driver gets that per case plus slack.
        try:
            out, err = proc.communicate(timeout=len(todo) * fz.CALL_WALL_SECONDS + 60)
        except subprocess.TimeoutExpired:
            proc.kill()
            out, err = proc.communicate()
        started = None
        for line in out.splitlines():
            rec = json.loads(line)
            if "start" in rec:
                started = rec["start"]
            else:
                results[rec["case"]] = rec
                started = None
        if started is not None:  # the driver died in this case
            results[started] = {"case": started, "exc": f"driver died ({proc.returncode}): {err[-500:]}"}
        elif proc.returncode != 0 and len(results) < len(cases):
            pytest.fail(f"the {mode} driver failed before any case: {err[-2000:]}")
        todo = [c for c in todo if c["case"] not in results]
    return results


def _check(mode: str, cases: list[dict], results: dict[int, dict], digests: dict[int, str | None]) -> None:
    bad = []
    for c in cases:
        r = results.get(c["case"])
        what = f"case {c['case']} ({c['kind']}, {mode})"
        if r is None:
            bad.append(f"{what}: no result")
            continue
        if r.get("exc"):
            bad.append(f"{what}: {r['exc']}")
            continue
        text = r["out"] + r["err"]
        if "Traceback" in text:
            bad.append(f"{what}: a traceback: {text[-300:]}")
        if r["rc"] != 0:
            if len(_message_lines(r["err"])) != 1:
                bad.append(f"{what}: exit {r['rc']} without a one-line message: {r['err'][-300:]!r}")
        if r["cpu_seconds"] > fz.CALL_SECONDS or r["seconds"] > fz.CALL_WALL_SECONDS:
            bad.append(f"{what}: took {r['cpu_seconds']} s of CPU, {r['seconds']} s")
        if mode == "open" and r["rc"] == 0:
            # Opened: closing the room saved what its history holds (the driver checked that the open
            # itself changed nothing); the file must still be a notebook.
            if not _is_notebook(c["nb"]):
                bad.append(f"{what}: the .ipynb was lost or broken")
        elif _digest(c["nb"]) != digests[c["case"]]:
            bad.append(f"{what}: the .ipynb was modified or lost")
        if mode == "merge" and _digest(c["other"]) != digests["other"]:
            bad.append(f"{what}: the other notebook was modified")
    assert not bad, f"{len(bad)} bad of {len(cases)}:\n" + "\n".join(bad[:40])


def _copies(cases: list[dict], root: Path) -> list[dict]:
    """The cases copied under ``root`` (the server's open sets a damaged history aside: the other tests
    keep the originals)."""
    out = []
    for c in cases:
        d = root / Path(c["dir"]).name
        shutil.copytree(c["dir"], d)
        out.append({**c, "dir": str(d), "nb": str(d / "nb.ipynb")})
    return out


def _set_aside(case: dict) -> list[Path]:
    return sorted(Path(case["dir"]).glob(".nb.ipynb.crdt.corrupt-*"))


@pytest.mark.parametrize("mode", ["log", "merge", "open"])
def test_hostile_sidecars_give_only_clear_errors(cases, mode, tmp_path):
    if mode == "open":
        cases = _copies(cases, tmp_path / "copies")
    digests: dict = {c["case"]: _digest(c["nb"]) for c in cases}
    digests["other"] = _digest(cases[0]["other"])
    sidecars = {c["case"]: _digest(str(Path(c["dir"]) / ".nb.ipynb.crdt")) for c in cases}
    t0 = time.monotonic()
    results = _drive(mode, cases, tmp_path)
    _check(mode, cases, results, digests)
    refused = sum(1 for r in results.values() if r.get("rc"))
    if mode == "open":
        # The server opens a notebook whose history is damaged from its file, the history set aside
        # (kept byte for byte, for `jupyter crdt recover`): that is its refusal of the history.
        aside = [c for c in cases if not results[c["case"]].get("rc") and _set_aside(c)]
        for c in aside:
            kept = _set_aside(c)
            assert len(kept) == 1 and _digest(str(kept[0])) == sidecars[c["case"]], c
        refused += len(aside)
    # The corpus is hostile enough to matter: most cases are refused, the valid ones still open.
    assert refused > len(cases) // 3, f"only {refused} refusals: the fuzz corpus is too tame"
    assert refused < len(cases), "not one case opened: the fuzz driver itself is broken"
    print(f"{mode}: {len(cases)} sidecars, {refused} refused, {time.monotonic() - t0:.1f} s")


#: Runs argv[1:] as its child and prints the child's peak RSS (KiB) on its stdout: a process forked from
#: pytest counts pytest's pages as its own until it execs (ru_maxrss keeps them), a child of this small
#: launcher only the launcher's few.
_LAUNCHER = (
    "import os, subprocess, sys\n"
    "p = subprocess.Popen(sys.argv[1:], stdout=subprocess.DEVNULL)\n"
    "_, status, usage = os.wait4(p.pid, 0)\n"
    "print(usage.ru_maxrss)\n"
    "sys.exit(os.waitstatus_to_exitcode(status))\n"
)


def _peak_rss_of(argv: list[str], cwd: Path | None = None) -> tuple[int, str, int]:
    """Run ``argv`` (512 MiB address space); its exit code, stderr, and peak RSS in bytes."""
    proc = subprocess.Popen([sys.executable, "-c", _LAUNCHER, *argv], stdout=subprocess.PIPE,
                            stderr=subprocess.PIPE, env=_env(), preexec_fn=_limit_call, cwd=cwd)
    try:
        out, err = proc.communicate(timeout=fz.CALL_WALL_SECONDS)
    except subprocess.TimeoutExpired:
        proc.kill()
        proc.communicate()
        raise AssertionError(f"{argv} hung") from None
    return proc.returncode, err.decode(), int(out.decode().split()[-1]) * 1024


@pytest.mark.parametrize("name", ["bomb-change-2MB", "bomb-journal-2MB"])
def test_cli_log_of_the_2mb_zlib_bomb_stays_under_300mb(cases, name):
    case = next(c for c in cases if c["kind"] == name)
    before = _digest(case["nb"])
    rc, err, peak = _peak_rss_of([sys.executable, "-m", "jupyter_crdt.cli", "log", case["nb"]])
    assert rc != 0 and "Traceback" not in err
    assert "decompresses to more than" in err and len(_message_lines(err)) == 1, err
    assert peak < 300 << 20, f"peak RSS {peak >> 20} MB"
    assert _digest(case["nb"]) == before


def test_a_handful_through_the_real_cli(cases):
    picked = [c for c in cases if c["kind"] in ("deep-any-10000", "deep-meta-1000", "huge-frame-length",
                                                 "poisoned-structure")]
    picked += cases[len(cases) - 6:]
    for c in picked:
        before = _digest(c["nb"])
        r = subprocess.run([sys.executable, "-m", "jupyter_crdt.cli", "log", c["nb"]], capture_output=True,
                           text=True, env=_env(), preexec_fn=_limit_call, timeout=fz.CALL_WALL_SECONDS)
        assert r.returncode >= 0, (c["kind"], f"killed by signal {-r.returncode}")
        assert "Traceback" not in r.stdout + r.stderr, (c["kind"], r.stderr)
        if r.returncode != 0:
            assert len(_message_lines(r.stderr)) == 1, (c["kind"], r.stderr)
        assert _digest(c["nb"]) == before


def _vm_hwm(pid: int) -> int:
    for line in Path(f"/proc/{pid}/status").read_text().splitlines():
        if line.startswith("VmHWM:"):
            return int(line.split()[1]) * 1024
    raise AssertionError("no VmHWM")


def test_a_handful_through_a_real_server(cases, tmp_path):
    """The server opens notebooks whose sidecars are bombs, deep, random or broken: it answers each
    within 20 s, stays under 300 MB (peak) with the 2 MB bomb, never changes the .ipynb, and keeps
    serving (a clean notebook opens after them)."""
    import shutil

    from ..server.server import JupyterServer

    kinds = ["bomb-change-2MB", "bomb-journal-2MB", "deep-any-10000", "deep-json-10000", "deep-meta-1000",
             "huge-frame-length", "part-bomb", "not-an-update"]
    picked = [next(c for c in cases if c["kind"] == k) for k in kinds]
    picked += [c for c in cases if c["kind"] in ("random-bytes", "bit-flips")][:4]
    server = JupyterServer(tmp_path / "home")
    for c in picked:
        d = server.root / f"c{c['case']}"
        d.mkdir()
        shutil.copy(c["nb"], d / "nb.ipynb")
        shutil.copy(Path(c["dir"]) / ".nb.ipynb.crdt", d / ".nb.ipynb.crdt")
    shutil.copy(cases[0]["other"], server.root / "clean.ipynb")
    server.start()
    try:
        for c in picked:
            path = f"c{c['case']}/nb.ipynb"
            before = _digest(str(server.root / path))
            t0 = time.monotonic()
            status, body = server.request("PUT", f"/api/collaboration/session/{path}",
                                          {"format": "json", "type": "notebook"})
            assert time.monotonic() - t0 < fz.CALL_WALL_SECONDS, c["kind"]
            assert status not in (200, 201) or body.get("sessionId"), (c["kind"], status, body)
            print(f"{c['kind']}: {status} {str(body)[:200]}")
            assert _digest(str(server.root / path)) == before, c["kind"]
            assert server.proc.poll() is None, f"the server died on {c['kind']}"
        peak = _vm_hwm(server.proc.pid)
        assert peak < 300 << 20, f"server peak RSS {peak >> 20} MB"
        status, body = server.request("PUT", "/api/collaboration/session/clean.ipynb",
                                      {"format": "json", "type": "notebook"})
        assert status in (200, 201) and body.get("sessionId"), (status, body)
    finally:
        server.stop()
