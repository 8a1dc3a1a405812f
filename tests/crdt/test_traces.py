"""Real editing traces (``tests/data/traces``, CC BY 4.0) replayed into a Text, one transaction per txn.

Sequential traces: patches ``[pos, del, ins]`` (code point positions) applied with splice semantics must end
at ``endContent``. Along the way the text is compared with a plain Python list replay at intervals (so a
failure names the first bad stretch). At the end, the full-state update must be byte-identical to the one
Yjs produces replaying the same trace with the same client id, and must load back into a fresh document.
``CRDT_TRACE_LIMIT=n`` replays only the first n txns of each sequential trace (for quick runs).

The concurrent trace (friendsforever) runs each agent on its own document; a txn applies to the state after
its parents, reached by applying the updates of the parents' missing ancestors. Every replica ends at
``endContent``, and Yjs reads the same text from the updates.
"""

from __future__ import annotations

import gzip
import json
import os
import time
from functools import cache
from pathlib import Path

import pytest

import crdt
from tests.conftest import DATA_DIR, unb64

LIMIT = int(os.environ["CRDT_TRACE_LIMIT"]) if os.environ.get("CRDT_TRACE_LIMIT") else None
CHECK_EVERY = 5_000


def trace_path(name: str) -> Path:
    return DATA_DIR / "traces" / f"{name}.json.gz"


@cache
def load_trace(name: str) -> dict:
    path = trace_path(name)
    with gzip.open(path, "rt", encoding="utf-8") as f:
        return json.load(f)


def apply_patches(text: crdt.Text, patches: list) -> None:
    for pos, delete, insert in patches:
        if delete:
            text.delete(pos, delete)
        if insert:
            text.insert(pos, insert)


def list_replay(start: str, txns: list) -> list[str]:
    chars = list(start)
    for txn in txns:
        for pos, delete, insert in txn["patches"]:
            chars[pos : pos + delete] = insert
    return chars


@pytest.mark.timeout(600)
@pytest.mark.parametrize("name", ["sveltecomponent", "rustcode", "seph-blog1", "automerge-paper"])
def test_sequential_trace(name, yjs_oracle):
    trace = load_trace(name)
    txns = trace["txns"]
    if LIMIT is not None:
        txns = txns[:LIMIT]
    expected = trace["endContent"] if LIMIT is None else "".join(list_replay(trace["startContent"], txns))
    # Yjs counts UTF-16 units: the trace's code point positions are the same only for BMP-only text
    assert all(ord(c) < 0x10000 for c in trace["endContent"])

    doc = crdt.Doc(client_id=1)
    text = doc.get_text("text")
    if trace["startContent"]:
        text.insert(0, trace["startContent"])
    mirror = list(trace["startContent"])
    started = time.monotonic()
    for n, txn in enumerate(txns, 1):
        with doc.transact():
            apply_patches(text, txn["patches"])
        for pos, delete, insert in txn["patches"]:
            mirror[pos : pos + delete] = insert
        if n % CHECK_EVERY == 0 and str(text) != "".join(mirror):
            pytest.fail(
                f"{name}: text differs from a list replay after txn {n} "
                f"(somewhere in txns {n - CHECK_EVERY + 1}..{n})",
                pytrace=False,
            )
    elapsed = time.monotonic() - started
    assert str(text) == expected
    assert len(text) == len(expected)

    update = doc.encode_state_as_update()
    yjs = yjs_oracle.request(
        {"kind": "replay_trace", "path": str(trace_path(name)), "client_id": 1, "limit": LIMIT},
        timeout=120,
    )
    assert yjs["text"] == expected
    yjs_update = unb64(yjs["update"])
    if update != yjs_update:
        first = next((i for i, (a, b) in enumerate(zip(update, yjs_update, strict=False)) if a != b), None)
        pytest.fail(
            f"{name}: full-state update differs from Yjs's ({len(update)} vs {len(yjs_update)} bytes, "
            f"first difference at byte {first})",
            pytrace=False,
        )
    assert doc.encode_state_vector() == unb64(yjs["state_vector"])
    again = crdt.Doc()
    again.apply_update(update)
    assert str(again.get_text("text")) == expected
    print(f"{name}: {len(txns)} txns in {elapsed:.1f}s, full state {len(update)} bytes (as Yjs)")


@pytest.mark.timeout(600)
def test_concurrent_trace_friendsforever(yjs_oracle):
    trace = load_trace("friendsforever")
    assert trace["kind"] == "concurrent"
    txns = trace["txns"]
    n_agents = trace["numAgents"]
    docs = [crdt.Doc(client_id=agent + 1) for agent in range(n_agents)]
    texts = [d.get_text("text") for d in docs]
    known: list[set[int]] = [set() for _ in docs]  # txns integrated into each doc (closed under ancestors)
    updates: list[bytes | None] = [None] * len(txns)
    captured: list[bytes] = []
    for d in docs:
        d.observe_updates(lambda update, origin: captured.append(bytes(update)))

    def bring_up_to(agent: int, parents: list[int]) -> None:
        missing_txns = []
        stack = [p for p in parents if p not in known[agent]]
        seen = set(stack)
        while stack:
            t = stack.pop()
            missing_txns.append(t)
            for p in txns[t]["parents"]:
                if p not in known[agent] and p not in seen:
                    seen.add(p)
                    stack.append(p)
        if not missing_txns:
            return
        missing_txns.sort()
        batch = [updates[t] for t in missing_txns if updates[t] is not None]
        captured.clear()
        if len(batch) == 1:
            docs[agent].apply_update(batch[0], origin="remote")
        elif batch:
            docs[agent].apply_update(crdt.merge_updates(batch), origin="remote")
        known[agent].update(missing_txns)

    for i, txn in enumerate(txns):
        assert all(p < i for p in txn["parents"]), "txns must come after their parents"
        agent = txn["agent"]
        bring_up_to(agent, txn["parents"])
        captured.clear()
        with docs[agent].transact():
            apply_patches(texts[agent], txn["patches"])
        assert len(captured) <= 1
        updates[i] = captured[0] if captured else None
        known[agent].add(i)

    everything = [u for u in updates if u is not None]
    for agent in range(n_agents):
        bring_up_to(agent, list(range(len(txns))))
        assert str(texts[agent]) == trace["endContent"], f"agent {agent} ends elsewhere"
    fresh = crdt.Doc()
    fresh.apply_update(crdt.merge_updates(everything))
    assert str(fresh.get_text("text")) == trace["endContent"]
    ans = yjs_oracle.apply(everything, roots={"text": "text"})
    assert ans["json"]["text"] == trace["endContent"]
    # Yjs's full state loads in ours
    loaded = crdt.Doc()
    loaded.apply_update(ans["update"])
    assert str(loaded.get_text("text")) == trace["endContent"]
