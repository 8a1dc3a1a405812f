"""Differential tests against Yjs: random multi-peer scenarios must give what Yjs gives, byte for byte.

Each scenario (``tests/crdt/yjs_scenarios.py``) runs on our engine with 3-5 peers: text, array and map edits,
nested types, concurrent inserts at one position, concurrent sets of one key, deletes of content another peer
edits, Unicode (emoji, combining marks, CJK, RTL), updates delivered in random order with duplicates and gaps,
then everything to everyone. Checked per scenario:

- our replicas converge;
- Yjs replaying the same script with the same client ids emits byte-identical updates per transaction,
  and ends with the same documents, state vectors and (unless ``CRDT_STATE_BYTES=0``) full-state bytes;
- Yjs applying our updates (shuffled) reaches our document;
- our full-state updates load in Yjs, and Yjs's in our engine.

Environment: ``CRDT_SCENARIOS`` (default 2000) scenarios with seeds from ``CRDT_SEED_BASE`` (default 0);
``CRDT_SEED=S`` runs only seed S. A failure prints the failing seeds, a minimized reproduction and the
commands to rerun it.
"""

from __future__ import annotations

import os
import warnings

import pytest

from tests.crdt import yjs_scenarios as ys

N_SCENARIOS = int(os.environ.get("CRDT_SCENARIOS", "2000"))
SEED_BASE = int(os.environ.get("CRDT_SEED_BASE", "0"))
ONLY_SEED = os.environ.get("CRDT_SEED")
STATE_BYTES = os.environ.get("CRDT_STATE_BYTES", "1") != "0"
BATCH = 50

if ONLY_SEED is not None:
    BATCHES = [[int(ONLY_SEED)]]
else:
    seeds = list(range(SEED_BASE, SEED_BASE + N_SCENARIOS))
    BATCHES = [seeds[i : i + BATCH] for i in range(0, len(seeds), BATCH)]


def _batch_id(batch: list[int]) -> str:
    return f"seeds{batch[0]}-{batch[-1]}"


@pytest.mark.timeout(600)
@pytest.mark.parametrize("seeds", BATCHES, ids=[_batch_id(b) for b in BATCHES])
def test_random_scenarios_match_yjs(seeds, yjs_oracle):
    failures = []
    notes = []
    for seed in seeds:
        scenario, problems = ys.run_seed(seed, yjs_oracle, state_bytes=STATE_BYTES)
        if any(p.kind not in ys.NOTES for p in problems):
            failures.append((seed, scenario, problems))
        elif problems:
            notes.append(seed)
    if notes:
        warnings.warn(
            f"seeds {notes}: Yjs itself leaves structs pending for good here, and so do we (not a failure)",
            stacklevel=1,
        )
    if not failures:
        return
    lines = [f"{len(failures)} of {len(seeds)} scenarios differ from Yjs:"]
    for seed, _, problems in failures[:20]:
        lines.append(f"  seed {seed}: {', '.join(sorted({p.kind for p in problems}))}")
    seed, scenario, problems = failures[0]
    lines.append(f"\nfirst failing seed {seed}:")
    lines.append(ys.report(scenario, problems, yjs_oracle, budget=20.0, state_bytes=STATE_BYTES))
    lines.append("\nreproduce with:")
    lines.append(f"  CRDT_SEED={seed} pytest -q tests/crdt/test_yjs_differential.py")
    lines.append(f"  python -m tests.crdt.yjs_scenarios --seed {seed} --minimize --show")
    pytest.fail("\n".join(lines), pytrace=False)


def test_generator_is_deterministic():
    """Same seed, same scenario (what makes CRDT_SEED reproductions work)."""
    a, _ = ys.Generator(12345).generate()
    b, _ = ys.Generator(12345).generate()
    assert a.to_json() == b.to_json()
    assert len(a.clients) >= 3


# Nine updates of three clients (found by seed 8699 of an earlier generator), in an order that leaves Yjs
# 13.6.33 with structs pending for good although every struct has arrived: item (B, 5) waits for its parent
# (A, 0), but Yjs records A's later gap (A, 6) as what is missing, so (A, 0) arriving triggers no retry,
# and A's structs 1..6 then wait on the pending (B, 5). Our engine must do exactly what Yjs does, stuck
# state included.
STUCK_ORDER = [3, 5, 13, 4, 1, 6, 2, 0, 12]  # each update's transaction number in the original scenario
STUCK_UPDATES = [
    bytes.fromhex(h)
    for h in [
        "0101b0490004010174052036e2808e00",
        "0102b0490b84b049090af09f918df09f8fbd5a7b0400b0490a095c7df09f988030c3b800",
        "010191e4e3ba0107c4b0490cb0490d02660900",
        "0104b0490308010161017603013077014101317405a477ba8592023130760087b04903020400b049040734f09f80842022"
        "87b049040200",
        "01019d93c6b70400040101740364436600",
        "01029d93c6b70405010091e4e3ba010001889d93c6b704040277045ac3bc377c3f000000019d93c6b704010501",
        "01019d93c6b7040308010161027de2d2197df3c11600",
        "010191e4e3ba01002701016d01620000",
        "010391e4e3ba0101489d93c6b704050276020131760102c3a97b3fb999999999999a037820797db4dc107604013078013177"
        "08f09f87abf09f87b701327de7d5090231307ec791e4e3ba01029d93c6b7040500080091e4e3ba0103037d0277022e7b770b"
        "d7a9d79cd795d79defbbbf00",
    ]
]


def test_stuck_pending_order_matches_yjs(yjs_oracle):
    doc = ys.crdt.Doc()
    for update in STUCK_UPDATES:
        doc.apply_update(update)
    yjs = yjs_oracle.apply(STUCK_UPDATES, roots=ys.ROOTS)
    assert yjs["pending"] is True
    assert ys.doc_json(doc) == yjs["json"]
    assert doc.encode_state_as_update() == yjs["update"]
    assert doc.encode_state_vector() == yjs["state_vector"]
    # delivered again in transaction order, everything integrates, in both
    in_order = [u for _, u in sorted(zip(STUCK_ORDER, STUCK_UPDATES, strict=True))]
    for update in in_order:
        doc.apply_update(update)
    yjs_after = yjs_oracle.apply(STUCK_UPDATES + in_order, roots=ys.ROOTS)
    assert yjs_after["pending"] is False
    assert ys.doc_json(doc) == yjs_after["json"] == yjs_oracle.apply(in_order, roots=ys.ROOTS)["json"]
    assert doc.encode_state_as_update() == yjs_after["update"]
