"""benchmarks/compare_revisions.py: its worktrees, its reading of the harnesses' JSON, and its verdict.

The whole comparison takes minutes (two harnesses, two revisions, five rounds); docs/benchmarks.md records a
run. These tests check the parts that decide what it prints, on made-up numbers, and the worktree handling on
a small git repository.
"""

from __future__ import annotations

import argparse
import json
import subprocess
from pathlib import Path

import pytest

from benchmarks import compare_revisions as cr


def _args(**overrides: object) -> argparse.Namespace:
    args = cr.parse_args(["--old", "a", "--new", "b"])
    for key, value in overrides.items():
        setattr(args, key, value)
    return args


def _metric(name: str, unit: str, old: list[float], new: list[float]) -> cr.Metric:
    metric = cr.Metric(name, unit)
    metric.values["old"] += old
    metric.values["new"] += new
    return metric


def test_flags_only_what_is_worse_beyond_the_tolerance() -> None:
    assert _metric("t", "s", [1.0, 1.0, 9.0], [1.05, 1.04, 0.1]).flag(0.05) == ""  # medians 1.0 and 1.04
    assert _metric("t", "ms", [1.0, 1.0, 1.0], [1.2, 1.06, 1.06]).flag(0.05) == "SLOWER by 6%"
    assert _metric("t", "us", [2.0], [1.0]).flag(0.05) == ""  # faster
    assert _metric("m", "MB", [10.0], [11.0]).flag(0.05) == "MORE MEMORY by 10%"
    assert _metric("b", "bytes", [100.0], [101.0]).flag(0.05) == "SIZE CHANGED"
    assert _metric("r", "x", [1.0], [2.0]).flag(0.05) == ""  # a ratio is shown, not judged
    assert _metric("t", "s", [1.0], []).flag(0.05) == "missing on one side"
    # the spread: how much the rounds of the noisier side disagreed
    assert _metric("t", "s", [1.0, 2.0, 3.0], [1.0, 1.0, 1.0]).spread() == 1.0
    assert _metric("t", "s", [], []).spread() is None


def test_verdict_needs_no_flag_and_server_cpu_down() -> None:
    cpu = cr.CPU_METRIC.format(n=20)
    same = {"t": _metric("t", "s", [1.0], [1.0])}
    text, good = cr.render({**same, cpu: _metric(cpu, "s", [4.0, 5.0, 6.0], [3.0, 4.0, 9.0])}, _args(), {
        "old": "1" * 40, "new": "2" * 40})
    assert good and "server CPU with 20 typists: old 5 s, new 4 s: went DOWN" in text
    assert "latency N=20: server CPU" in text and "150%" in text  # new's spread: (9 - 3) / 4
    text, good = cr.render({**same, cpu: _metric(cpu, "s", [4.0], [4.0])}, _args(), {"old": "1", "new": "2"})
    assert not good and "did NOT go down" in text
    slower = {"t": _metric("t", "s", [1.0], [1.5]), cpu: _metric(cpu, "s", [4.0], [3.0])}
    text, good = cr.render(slower, _args(), {"old": "1", "new": "2"})
    assert not good and "1 flagged" in text and "t: SLOWER by 50%" in text
    _, good = cr.render(same, _args(skip_latency=True), {"old": "1", "new": "2"})
    assert good  # the CPU was not asked for


def test_reads_the_harnesses_json(tmp_path: Path) -> None:
    engine = tmp_path / "engine.json"
    engine.write_text(json.dumps({"rows": [
        {"id": "local.x", "unit": "s", "values": {"ours": 0.5, "yjs": 0.4}},
        {"id": "load.x", "unit": "ms", "values": {"ours": None}},  # not measured: left out
    ]}), encoding="utf-8")
    assert cr.engine_values(engine) == {("engine local.x", "s"): 0.5}
    latency = tmp_path / "latency.json"
    result = {"server": "ours", "n": 20, "p50_ms": 1.0, "p99_ms": 3.0, "mean_ms": 1.5, "server_cpu_s": 4.0,
              "converged": True, "delivered": 10, "expected": 10}
    latency.write_text(json.dumps({"results": [result, {"server": "collab", "n": 20}]}), encoding="utf-8")
    assert cr.latency_values(latency)[(cr.CPU_METRIC.format(n=20), "s")] == 4.0
    assert cr.latency_values(latency)[("latency N=20: p99", "ms")] == 3.0
    # a run that lost edits is a failure, not a fast number
    latency.write_text(json.dumps({"results": [dict(result, delivered=9)]}), encoding="utf-8")
    with pytest.raises(cr.Failed, match="delivered 9 of 10"):
        cr.latency_values(latency)


def test_worktree_is_the_revision_and_is_removed(tmp_path: Path) -> None:
    repo = tmp_path / "repo"
    repo.mkdir()

    def git(*args: str) -> str:
        command = ["git", "-c", "user.name=t", "-c", "user.email=t@t", *args]
        done = subprocess.run(command, cwd=repo, check=True, capture_output=True, text=True, timeout=60)
        return done.stdout.strip()

    git("init", "-q")
    (repo / "f.txt").write_text("old\n", encoding="utf-8")
    git("add", "f.txt")
    git("commit", "-qm", "old")
    (repo / "f.txt").write_text("new\n", encoding="utf-8")
    git("commit", "-qam", "new")
    old = cr.resolve("HEAD~1", repo)
    assert old != cr.resolve("HEAD", repo)
    with pytest.raises(cr.Failed, match="not a revision"):
        cr.resolve("no-such-branch", repo)
    scratch = tmp_path / "scratch"
    scratch.mkdir()
    with cr.worktree(old, scratch, "old", repo) as path:
        assert (path / "f.txt").read_text(encoding="utf-8") == "old\n"
        assert str(path) in git("worktree", "list")
    assert not path.exists()
    assert str(path) not in git("worktree", "list")
    assert (repo / "f.txt").read_text(encoding="utf-8") == "new\n"  # the checkout itself untouched
