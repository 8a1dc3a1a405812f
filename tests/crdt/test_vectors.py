"""The 5,320 randomized Yjs conformance cases of ``yjs-vectors/small-test-dataset.bin`` (from y-crdt, MIT).

Layout (lib0): varuint number of cases; per case a varuint update count, the updates as varbytes, the expected
text of root Text ``text`` (varstring), the expected root Map ``map`` and root Array ``array`` (lib0 ``any``).
Every case's updates are applied in order to a fresh document and the three roots compared. Numbers compare by
value (an int equals the same float), booleans only with booleans.

``CRDT_VECTOR_CASE=i`` runs only case i.
"""

from __future__ import annotations

import math
import os
import traceback
from functools import cache
from pathlib import Path

import pytest

import crdt
from crdt.decoding import Decoder
from tests.conftest import DATA_DIR

N_CASES = 5320
CHUNK = 266  # 20 tests
ONLY_CASE = os.environ.get("CRDT_VECTOR_CASE")


def dataset_path() -> Path:
    return DATA_DIR / "yjs-vectors" / "small-test-dataset.bin"


@cache
def load_cases() -> list[tuple[list[bytes], str, object, object]]:
    dec = Decoder(dataset_path().read_bytes())
    cases = []
    for _ in range(dec.read_var_uint()):
        updates = [dec.read_var_bytes() for _ in range(dec.read_var_uint())]
        text = dec.read_var_string()
        expected_map = dec.read_any()
        expected_array = dec.read_any()
        cases.append((updates, text, expected_map, expected_array))
    assert not dec.has_content(), "trailing bytes after the last case"
    return cases


def same(expected, got) -> bool:
    """Structural equality; numbers by value, NaN equal to NaN, bool never equal to a number."""
    if isinstance(expected, bool) or isinstance(got, bool):
        return type(expected) is type(got) and expected == got
    if isinstance(expected, (int, float)) and isinstance(got, (int, float)):
        if (
            isinstance(expected, float)
            and isinstance(got, float)
            and math.isnan(expected)
            and math.isnan(got)
        ):
            return True
        return expected == got
    if isinstance(expected, dict) and isinstance(got, dict):
        return expected.keys() == got.keys() and all(same(expected[k], got[k]) for k in expected)
    if isinstance(expected, (list, tuple)) and isinstance(got, (list, tuple)):
        return len(expected) == len(got) and all(same(a, b) for a, b in zip(expected, got, strict=True))
    if isinstance(expected, (bytes, bytearray)) and isinstance(got, (bytes, bytearray)):
        return bytes(expected) == bytes(got)
    return type(expected) is type(got) and expected == got


def run_case(index: int) -> str | None:
    """None if case ``index`` passes, else what went wrong."""
    updates, text, expected_map, expected_array = load_cases()[index]
    doc = crdt.Doc()
    try:
        for update in updates:
            doc.apply_update(update)
        got_text = doc.get_text("text").to_py()
        got_map = doc.get_map("map").to_py()
        got_array = doc.get_array("array").to_py()
    except Exception:  # noqa: BLE001 - any engine failure is a finding
        return f"case {index} ({len(updates)} updates) raised:\n{traceback.format_exc(limit=8)}"
    wrong = []
    if not same(text, got_text) or str(doc.get_text("text")) != text:
        wrong.append(f"text: expected {text!r}\n        got      {got_text!r}")
    if not same(expected_map, got_map):
        wrong.append(f"map: expected {expected_map!r}\n       got      {got_map!r}")
    if not same(expected_array, got_array):
        wrong.append(f"array: expected {expected_array!r}\n         got      {got_array!r}")
    if wrong:
        return f"case {index} ({len(updates)} updates):\n  " + "\n  ".join(w[:2000] for w in wrong)
    return None


if ONLY_CASE is not None:
    CHUNKS = [[int(ONLY_CASE)]]
else:
    CHUNKS = [list(range(i, min(i + CHUNK, N_CASES))) for i in range(0, N_CASES, CHUNK)]


@pytest.fixture(scope="module")
def dataset():
    return load_cases()


def test_dataset_layout(dataset):
    assert len(dataset) == N_CASES
    assert sum(len(c[0]) for c in dataset) > N_CASES


@pytest.mark.parametrize("cases", CHUNKS, ids=[f"cases{c[0]}-{c[-1]}" for c in CHUNKS])
def test_yjs_vectors(cases, dataset):
    failures = [(i, f) for i, f in ((i, run_case(i)) for i in cases) if f is not None]
    if failures:
        head = (
            f"{len(failures)} of {len(cases)} cases fail: {[i for i, _ in failures][:50]}\n"
            f"rerun one with CRDT_VECTOR_CASE=i pytest -q tests/crdt/test_vectors.py\n"
        )
        pytest.fail(head + "\n".join(f for _, f in failures[:5]), pytrace=False)
