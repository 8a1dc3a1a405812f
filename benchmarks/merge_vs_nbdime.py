"""Three-way merges of nbdime's own merge cases, by nbdime and by jupyter-crdt: which merge without
conflicts, and how long each takes. Prints the markdown table of ``docs/merge.md``.

    python benchmarks/merge_vs_nbdime.py [path/to/tests/data/notebooks/merge-cases]

Times are the best of 5 runs of the library call on already-parsed notebooks (nbdime's
``nbdime.merging.merge_notebooks`` with its default, inline strategy, as ``nbmerge`` uses;
``jupyter_crdt.notebook.merge_notebooks``).
"""

from __future__ import annotations

import logging
import sys
import time
import warnings
from pathlib import Path

ROOT = Path(__file__).resolve().parents[1]
sys.path.insert(0, str(ROOT))

from nbdime.merging import merge_notebooks as nbdime_merge  # noqa: E402

from jupyter_crdt.notebook import merge_notebooks, read_notebook  # noqa: E402


def best_of(fn, runs: int = 5) -> float:
    best = float("inf")
    for _ in range(runs):
        t = time.perf_counter()
        fn()
        best = min(best, time.perf_counter() - t)
    return best


def main(folder: Path) -> None:
    logging.disable(logging.WARNING)  # nbdime logs "Unhandled conflict strategy" for its own conflicts
    rows = []
    for case in sorted(p for p in folder.iterdir() if p.is_dir()):
        with warnings.catch_warnings():
            warnings.simplefilter("ignore")
            nbs = [read_notebook(case / f"{role}.ipynb") for role in ("base", "local", "remote")]
        _, decisions = nbdime_merge(*nbs)
        conflicted = sum(1 for d in decisions if d.conflict)
        _, report = merge_notebooks(*nbs)
        t_nbdime = best_of(lambda nbs=nbs: nbdime_merge(*nbs))
        t_ours = best_of(lambda nbs=nbs: merge_notebooks(*nbs))
        theirs = "clean" if not conflicted else f"{conflicted} conflict(s) of {len(decisions)} decisions"
        if report.clean:
            ours = "clean"
        else:
            markers = sum(1 for c in report.conflicts if c.markers)
            ours = f"{len(report.conflicts)} conflict(s)" + (
                f", {markers} marker block(s)" if markers else ""
            )
        if report.notes:
            ours += f" ({len(report.notes)} note(s))"
        rows.append((case.name, theirs, t_nbdime, ours, t_ours, conflicted == 0, report.clean))
    print("| case | nbdime | nbdime time | jupyter-crdt | jupyter-crdt time |")
    print("|---|---|---:|---|---:|")
    for name, theirs, tn, ours, to, _, _ in rows:
        print(f"| {name} | {theirs} | {tn * 1000:.1f} ms | {ours} | {to * 1000:.1f} ms |")
    n = len(rows)
    clean_theirs, clean_ours = sum(r[5] for r in rows), sum(r[6] for r in rows)
    total_theirs, total_ours = sum(r[2] for r in rows) * 1000, sum(r[4] for r in rows) * 1000
    print(
        f"| **merged cleanly** | **{clean_theirs} of {n}** | {total_theirs:.0f} ms "
        f"| **{clean_ours} of {n}** | {total_ours:.0f} ms |"
    )


if __name__ == "__main__":
    default = ROOT / "tests" / "data" / "notebooks" / "merge-cases"
    main(Path(sys.argv[1]) if len(sys.argv) > 1 else default)
