"""Loading the same file gives the same update bytes: in this process, and in two fresh ones with
different hash seeds (so no set or dict ordering can leak into the document)."""

from __future__ import annotations

import hashlib
import json
import os
import subprocess
import sys
import warnings

from jupyter_crdt.notebook import notebook_to_doc, read_notebook

from .conftest import rel
from .test_roundtrip import REJECTED

SCRIPT = r"""
import hashlib, json, sys, warnings
warnings.simplefilter("ignore")
from jupyter_crdt.notebook import notebook_to_doc, read_notebook
out = {}
for path in json.loads(sys.argv[1]):
    out[path] = hashlib.sha256(notebook_to_doc(read_notebook(path)).encode_state_as_update()).hexdigest()
print(json.dumps(out))
"""


def digests_here(paths: list[str]) -> dict[str, str]:
    with warnings.catch_warnings():
        warnings.simplefilter("ignore")
        return {
            p: hashlib.sha256(notebook_to_doc(read_notebook(p)).encode_state_as_update()).hexdigest()
            for p in paths
        }


def start_subprocess(paths: list[str], seed: str, repo_root) -> subprocess.Popen:
    env = {**os.environ, "PYTHONHASHSEED": seed, "PYTHONPATH": str(repo_root)}
    return subprocess.Popen(
        [sys.executable, "-c", SCRIPT, json.dumps(paths)],
        stdout=subprocess.PIPE,
        text=True,
        env=env,
        cwd=str(repo_root),
    )


def test_same_bytes_in_two_processes(notebook_files, repo_root):
    paths = [str(p) for p in notebook_files if rel(p) not in REJECTED]
    procs = [start_subprocess(paths, seed, repo_root) for seed in ("1", "2")]
    here = digests_here(paths)
    results = []
    for proc in procs:
        out, _ = proc.communicate(timeout=300)
        assert proc.returncode == 0
        results.append(json.loads(out))
    assert results[0] == results[1] == here
    assert len(set(here.values())) == len(set(here)) - _identical_files(paths)


def _identical_files(paths: list[str]) -> int:
    """Corpus files that are byte-identical copies of another one (same content, so same document)."""
    seen: dict[bytes, str] = {}
    dup = 0
    for p in paths:
        with open(p, "rb") as f:
            data = f.read()
        if data in seen:
            dup += 1
        seen[data] = p
    return dup
