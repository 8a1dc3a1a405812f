"""Load + export of big notebooks: jupyter-crdt vs jupyter_ydoc (pycrdt, Rust) in the same run.

    python benchmarks/notebook_load.py [--runs N] [--size MB]

Measures, from already-parsed notebook dicts (JSON parsing and validation excluded):

- ours:   ``notebook_to_doc(nb)`` + ``doc_to_notebook(doc)`` (pure Python, deterministic import included)
- theirs: ``jupyter_ydoc.YNotebook().set(nb)`` + ``.get()`` (pycrdt; ``pip install jupyter-ydoc``, the
  ``bench`` extra)

on a ~10 MB notebook made by repeating the cells of the largest corpus notebooks (with the kernelspec
metadata of the first; targets: <= 0.5 s and <= 1.0x jupyter_ydoc), on the same cells with the 2.8 MB
ipywidgets widget state of ``Layout_Templates.ipynb`` as notebook metadata, and on each large corpus file.
Each figure is the best of N runs. Reads the corpus in ``tests/data/notebooks``.
"""

from __future__ import annotations

import argparse
import copy
import gc
import json
import sys
import time
import warnings
from pathlib import Path

ROOT = Path(__file__).resolve().parents[1]
sys.path.insert(0, str(ROOT))

from jupyter_crdt.notebook import doc_to_notebook, notebook_to_doc, read_notebook  # noqa: E402

LARGEST = [
    "ipywidgets/Layout_Templates.ipynb",
    "myst-nb/interactive.ipynb",
    "ipython/Image_Processing.ipynb",
    "notebook/example.ipynb",
    "ipython/SymPy.ipynb",
    "ipython/Rich_Output.ipynb",
]


def corpus_dir() -> Path:
    return ROOT / "tests" / "data" / "notebooks"


def load(name: str) -> dict:
    with warnings.catch_warnings():
        warnings.simplefilter("ignore")
        return json.loads(json.dumps(read_notebook(corpus_dir() / name)))  # plain dicts, as parsed


def repeated(notebooks: list[dict], size: int, metadata: dict) -> dict:
    """Cells of ``notebooks`` repeated in order (fresh ids) until the notebook's JSON is about ``size`` bytes
    (a cell that would overshoot by more than 2% is skipped)."""
    pool = [(c, len(json.dumps(c))) for nb in notebooks for c in nb["cells"]]
    cells: list[dict] = []
    total = len(json.dumps(metadata))
    misses = 0
    k = 0
    while total < size * 0.98 and misses < len(pool):
        cell, n = pool[k % len(pool)]
        k += 1
        if total + n > size * 1.02:
            misses += 1
            continue
        misses = 0
        cell = copy.deepcopy(cell)
        cell["id"] = f"cell-{len(cells)}"
        cells.append(cell)
        total += n
    return {"nbformat": 4, "nbformat_minor": 5, "metadata": metadata, "cells": cells}


def best(fn, runs: int) -> float:
    times = []
    for _ in range(runs):
        gc.collect()
        t = time.perf_counter()
        fn()
        times.append(time.perf_counter() - t)
    return min(times)


def ours(nb: dict) -> None:
    doc_to_notebook(notebook_to_doc(nb))


def theirs_factory():
    try:
        from jupyter_ydoc import YNotebook
    except ImportError:
        return None

    def theirs(nb: dict) -> None:
        ynb = YNotebook()
        ynb.set(nb)
        ynb.get()

    return theirs


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--runs", type=int, default=5)
    parser.add_argument("--size", type=float, default=10.0, help="size of the big notebook in MB")
    args = parser.parse_args()
    theirs = theirs_factory()

    notebooks = {name: load(name) for name in LARGEST}
    kernelspec = {k: v for k, v in notebooks[LARGEST[0]]["metadata"].items() if k != "widgets"}
    size = int(args.size * 1_000_000)
    cases = [
        (f"{args.size:g} MB of repeated cells", repeated(list(notebooks.values()), size, kernelspec)),
        ("same cells + 2.8 MB widget state", None),
    ]
    cases[1] = (cases[1][0], {**cases[0][1], "metadata": notebooks[LARGEST[0]]["metadata"]})
    cases += [(name, nb) for name, nb in notebooks.items()]

    print(f"{'notebook':40s} {'MB':>6s} {'cells':>6s} {'ours':>9s} {'jupyter_ydoc':>13s} {'ratio':>7s}")
    verdicts = []
    for label, nb in cases:
        mb = len(json.dumps(nb)) / 1e6
        t_ours = best(lambda nb=nb: ours(nb), args.runs)
        if theirs is not None:
            t_theirs = best(lambda nb=nb: theirs(nb), args.runs)
            ratio = f"{t_ours / t_theirs:6.2f}x"
            theirs_s = f"{t_theirs * 1000:10.0f} ms"
        else:
            t_theirs, ratio, theirs_s = None, "   n/a", "  not installed"
        print(f"{label:40s} {mb:6.1f} {len(nb['cells']):6d} {t_ours * 1000:6.0f} ms {theirs_s} {ratio}")
        if label == cases[0][0]:
            verdicts.append(("<= 0.5 s", t_ours <= 0.5))
            if t_theirs is not None:
                verdicts.append(("<= 1.0x jupyter_ydoc", t_ours <= t_theirs))
    print()
    for what, ok in verdicts:
        print(f"target {what} on the {args.size:g} MB notebook: {'met' if ok else 'NOT met'}")


if __name__ == "__main__":
    main()
