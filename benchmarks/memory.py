"""Memory of one replay, measured in a process of its own (run by ``benchmarks/run.py``).

    python -m benchmarks.memory ENGINE TRACE [--limit N] [--mode tracemalloc|rss]

Prints one JSON object. The trace is loaded (and its patches prepared) before anything is measured.
``tracemalloc``: peak and retained Python heap of the replay (tracemalloc started after loading; it sees
only allocations made through Python's allocator, so it is meaningful for ours and the list baseline).
Given ``--patches-file`` (the harness does), the patches come from a pickle instead of the parsed trace.
``rss``: growth of the process' resident set during the replay, peak over the replay minus the value just
before it (the kernel's high-water mark is reset first where Linux allows it; otherwise RSS is sampled
between chunks of patches). It covers native heaps too, so it compares every engine.
"""

from __future__ import annotations

import argparse
import gc
import json
import pickle
import sys
import tracemalloc
from pathlib import Path

if __package__ in (None, ""):
    sys.path.insert(0, str(Path(__file__).resolve().parents[1]))
    __package__ = "benchmarks"

from benchmarks.engines import ENGINES  # noqa: E402
from benchmarks.workloads import Trace, load_trace, now, sequential, sha256_text  # noqa: E402


def _status(field: str) -> int | None:
    try:
        with open("/proc/self/status", encoding="ascii") as f:
            for line in f:
                if line.startswith(field + ":"):
                    return int(line.split()[1]) * 1024
    except OSError:
        return None
    return None


def _reset_peak() -> bool:
    try:
        with open("/proc/self/clear_refs", "w", encoding="ascii") as f:
            f.write("5")
        return True
    except OSError:
        return False


def _trim() -> None:
    """Give freed heap back to the OS (glibc), so the replay does not reuse what loading the trace freed."""
    try:
        import ctypes

        ctypes.CDLL(None).malloc_trim(0)
    except (OSError, AttributeError):
        pass


def main(argv: list[str] | None = None) -> int:
    ap = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    ap.add_argument("engine", choices=sorted(ENGINES))
    ap.add_argument("trace")
    ap.add_argument("--limit", type=int, default=None)
    ap.add_argument("--patches-file", help="pickle of (patches, expected text), written by the harness")
    ap.add_argument("--mode", choices=("tracemalloc", "rss"), default="tracemalloc")
    args = ap.parse_args(argv)

    engine = ENGINES[args.engine]()
    if not engine.available():
        print(json.dumps({"error": engine.error}))
        return 0
    if args.patches_file:
        # prepared by the harness: no big parsed trace has been freed in this process, so the replay
        # cannot hide in memory that loading left behind
        with open(args.patches_file, "rb") as f:
            patches, expected = pickle.load(f)
        trace = Trace(args.trace, patches, len(patches), expected)
    else:
        trace = sequential(args.trace, args.limit)
        load_trace.cache_clear()
    chunks = engine.chunks_for(trace)
    out: dict = {"engine": args.engine, "trace": args.trace, "mode": args.mode, "patches": len(trace.patches)}
    gc.collect()
    if args.mode == "tracemalloc":
        tracemalloc.start()
        doc, text, count = engine.text_doc(1)
        t0 = now()
        engine.replay(text, chunks, 0, float("inf"))
        out["seconds"] = now() - t0
        current, peak = tracemalloc.get_traced_memory()
        tracemalloc.stop()
        out.update(peak_bytes=peak, retained_bytes=current)
    else:
        _trim()
        before = _status("VmRSS")
        hwm_reset = _reset_peak()
        peak = before or 0
        doc, text, count = engine.text_doc(1)
        t0 = now()
        if hwm_reset:
            engine.replay(text, chunks, 0, float("inf"))
        else:
            for chunk in chunks:
                engine.replay(text, [chunk], 0, float("inf"))
                peak = max(peak, _status("VmRSS") or 0)
        out["seconds"] = now() - t0
        if hwm_reset:
            peak = max(peak, _status("VmHWM") or 0)
        peak = max(peak, _status("VmRSS") or 0)
        out.update(rss_before=before, rss_growth=None if before is None else peak - before,
                   method="VmHWM after clear_refs" if hwm_reset else "VmRSS sampled per chunk")
    out["text_ok"] = engine.text_str(text) == trace.expected
    out["text_sha256"] = sha256_text(engine.text_str(text))
    print(json.dumps(out))
    return 0


if __name__ == "__main__":
    sys.exit(main())
