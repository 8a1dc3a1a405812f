"""Joining two versions of a notebook's history: the union of their changes, then the notebook rules.

Yjs merges two versions by union, which is right for sources (every character edit once) but not for
everything in a notebook: both sides' new outputs of one cell end up concatenated, a cell deleted on one
side loses the other side's edit, one metadata value wins by client id. So after the union the notebook
is worked out again by ``merge_notebooks``'s rules from the common version and the two sides, with the
sources taken from the union, and the difference is recorded as one ``merge`` change.

That change must be the same wherever it is computed (merging A into B or B into A, on two machines, in a
git merge driver), or a later union of those copies would hold it twice: so the two sides are ordered
canonically (by their head hashes), the change is made with a client id derived from the merged version,
and its author, time and message are derived from the merged version too. Identical changes have
identical hashes and merge as one.
"""

from __future__ import annotations

import hashlib
import secrets
import warnings
from collections.abc import Iterable, Mapping
from dataclasses import dataclass, field
from typing import Any

from crdt import Array, Change, Doc, History, Map
from jupyter_crdt.notebook import apply_notebook, merge_notebooks, same
from jupyter_crdt.notebook import schema as _schema

MERGE_AUTHOR = "merge"
MERGE_KIND = "merge"
MERGE_ORIGIN = "jupyter_crdt.history_merge"
_MAX_CLIENT = (1 << 53) - 1


class NoCommonHistory(ValueError):
    """Two versions share no change: they are not copies of one notebook's history."""


@dataclass
class VersionMerge:
    """The result of :func:`merge_versions`."""

    heads: frozenset[str]
    """The merged version (the merge change, or the union's heads when no change was needed)."""
    change: Change | None = None
    """The ``merge`` change that applied the notebook rules, if one was needed."""
    conflicts: list[str] = field(default_factory=list)
    """What a person should look at (both sides changed the same characters, a cell deleted on one side
    and edited on the other, one metadata key set to two values)."""
    notes: list[str] = field(default_factory=list)
    """Decisions taken (e.g. whose outputs a cell kept)."""
    fast_forward: bool = False
    """One version already held the other: nothing was merged."""

    @property
    def clean(self) -> bool:
        return not self.conflicts


def derived_client_id(tag: str, parts: Iterable[str | bytes]) -> int:
    """A Yjs client id (1 .. 2**53-1) that is a hash of ``tag`` and ``parts``."""
    h = hashlib.sha256(tag.encode() + b"\0")
    for p in parts:
        h.update(p.encode() if isinstance(p, str) else p)
        h.update(b"\0")
    return (int.from_bytes(h.digest()[:8], "big") & _MAX_CLIENT) or 1


def record_on(
    history: History, version: Iterable[str], update: bytes, author: str, *, kind: str, time: float,
    message: str | None = None, meta: Mapping[str, Any] | None = None,
) -> Change | None:
    """Record ``update`` as a change built on ``version`` (no branch moves). None if it holds nothing new."""
    tmp = f"\x00tmp-{secrets.token_hex(8)}"
    history.set_branch(tmp, frozenset(version))
    try:
        return history.record(update, author, time=time, kind=kind, message=message, meta=meta, branch=tmp)
    finally:
        history.delete_branch(tmp)


def capture(doc: Doc, origin: Any, fn, *args: Any) -> bytes | None:
    """Run ``fn(*args)`` in one transaction on ``doc``; the update it made (None if nothing changed)."""
    out: list[bytes] = []
    handler = doc.observe_updates(lambda u, o: out.append(u))
    try:
        with doc.transact(origin=origin):
            fn(*args)
    finally:
        doc.unobserve_updates(handler)
    return out[0] if out else None


def notebook_at(history: History, version: Iterable[str] | None, **kw: Any) -> Any:
    """The notebook of ``version`` with every cell id kept (the form merges and diffs work on)."""
    return _schema.export(history.doc_at(version, **kw), keep_ids=True)


def merge_versions(history: History, a: Iterable[str], b: Iterable[str]) -> VersionMerge:
    """Merge versions ``a`` and ``b`` of ``history``: union, then the notebook rules as a ``merge`` change.

    Returns the merged version (the caller moves a branch to it). Raises :class:`NoCommonHistory` when
    the two share no change.
    """
    va, vb = history.heads_of(a), history.heads_of(b)
    anc_a, anc_b = history.ancestors(va), history.ancestors(vb)
    if anc_b <= anc_a:
        return VersionMerge(va, fast_forward=True)
    if anc_a <= anc_b:
        return VersionMerge(vb, fast_forward=True)
    common = anc_a & anc_b
    if not common:
        raise NoCommonHistory("the two versions share no change (they are not copies of one history)")
    union = history.heads_of(va | vb)
    local, remote = sorted((va, vb), key=sorted)
    base_nb = notebook_at(history, history.heads_of(common))
    local_nb = notebook_at(history, local)
    remote_nb = notebook_at(history, remote)
    client = derived_client_id("jupyter-crdt merge", sorted(union))
    udoc = history.doc_at(union, client_id=client)
    update, conflicts, notes = apply_rules(udoc, base_nb, local_nb, remote_nb)
    if conflicts or notes:  # say who "local" and "remote" are (the canonical order of the two sides)
        who = [", ".join(sorted({history.get(h).author for h in side} - {MERGE_AUTHOR})) or "merges"
               for side in (history.ancestors(local) - common, history.ancestors(remote) - common)]
        notes.insert(0, f"local side: changes by {who[0]}; remote side: changes by {who[1]}")
    result = VersionMerge(union, conflicts=conflicts, notes=notes)
    if update is not None:
        when = max(history.get(h).time for h in union)
        message = "notebook merge rules" + (": " + "; ".join(notes[1:]) if len(notes) > 1 else "")
        change = record_on(history, union, update, MERGE_AUTHOR, kind=MERGE_KIND, time=when, message=message)
        if change is None:  # the same rules were applied before (an identical change is here already)
            change = next((c for c in reversed(history.changes) if c.update == update), None)
        if change is not None:
            result.change = change
            result.heads = history.heads_of(union | {change.hash})
    return result


def apply_rules(udoc: Doc, base_nb: Mapping, local_nb: Mapping, remote_nb: Mapping
                ) -> tuple[bytes | None, list, list]:
    """Edit the union document ``udoc`` to follow the merge rules: (update or None, conflicts, notes)."""
    try:
        with warnings.catch_warnings():
            warnings.simplefilter("ignore")
            _, report = merge_notebooks(base_nb, local_nb, remote_nb)
            if report.doc is None:
                raise ValueError("merge_notebooks gave no merged document")
            target = _schema.export(report.doc, keep_ids=True)
            union_nb = _schema.export(udoc, keep_ids=True)
    except Exception as e:  # the union stands; say why the rules were not applied
        return None, [], [f"notebook merge rules not applied ({type(e).__name__}: {e})"]
    conflicts = [_describe(c, conflict=True) for c in report.conflicts]
    notes = [_describe(c, conflict=False) for c in report.notes]
    sources = {c.get("id"): c.get("source") for c in union_nb["cells"] if isinstance(c, Mapping)}
    for cell in target["cells"]:
        cid = cell.get("id")
        if cid in sources and sources[cid] is not None:
            cell["source"] = sources[cid]  # the CRDT's character merge, never conflict markers
    if same(target, union_nb):
        return None, conflicts, notes
    with warnings.catch_warnings():
        warnings.simplefilter("ignore")
        update = capture(udoc, MERGE_ORIGIN, _follow, udoc, target)
    return update, conflicts, notes


def _follow(doc: Doc, target: Mapping) -> None:
    _trim_outputs(doc, target)
    apply_notebook(doc, target, origin=MERGE_ORIGIN)


def _trim_outputs(doc: Doc, target: Mapping) -> None:
    """Where a cell holds both sides' outputs, delete the other side's (the kept ones keep their authors)."""
    wanted = {c.get("id"): c.get("outputs") for c in target["cells"] if isinstance(c, Mapping)}
    for m in doc.get_array(_schema.CELLS):
        if not isinstance(m, Map):
            continue
        want = wanted.get(m.get("id"))
        cur = m.get(_schema.OUTPUTS)
        if not want or not isinstance(cur, Array) or not isinstance(want, list):
            continue
        have = [_schema.output_to_py(o, copy=False) for o in cur]
        if same(have, want):
            continue
        keep, j = [], 0
        for i, o in enumerate(have):
            if j < len(want) and same(o, _joined(want[j])):
                keep.append(i)
                j += 1
        if j < len(want):
            continue  # not a subsequence: apply_notebook replaces the outputs
        kept = set(keep)
        i = len(have) - 1
        while i >= 0:
            if i in kept:
                i -= 1
                continue
            end = i
            while i >= 0 and i not in kept:
                i -= 1
            cur.delete(i + 1, end - i)


def _joined(o: Any) -> Any:
    if isinstance(o, Mapping) and o.get("output_type") == "stream" and isinstance(o.get("text"), list):
        return {**o, "text": "".join(o["text"])}
    return o


def _describe(c: Any, *, conflict: bool) -> str:
    where = f"cell {c.cell_index}" if c.cell_index is not None else "notebook"
    if c.cell_id:
        where += f" ({c.cell_id})"
    if c.kind == "source" and conflict:
        return f"{where}: both sides changed the same characters of the source; both edits kept, review it"
    return f"{where}: {c.detail}"
