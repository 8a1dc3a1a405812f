"""Merging two copies of a notebook and its history: one entry point, :func:`merge`, with named strategies.

**Strategies** (:data:`STRATEGIES`):

- ``"union"``: the two copies' histories share a change (one was copied from the other, or both from a
  third): the union of their changes, then the notebook rules as one ``merge`` change
  (:func:`merge_histories`, :func:`merge_versions`). Every change keeps its author; nothing is typed twice.
- ``"three-way"``: a three-way merge of the notebooks' contents (``merge_notebooks``), from ``base`` or,
  without one, from the version of a history most like the other side (:func:`closest_version`),
  recorded as one ``merge`` change.
- ``"auto"`` (the default): ``union`` when the other copy comes with a history that shares one with this
  notebook and no base is given; ``three-way`` otherwise.

Who merges: ``jupyter crdt merge`` and the ``%crdt merge`` magic (:func:`merge` into an open
:class:`~jupyter_crdt.history.notebook.NotebookHistory`), the server's ``POST /api/crdt/merge/{path}`` (the
same, on the live notebook's history), the git merge drivers (:func:`merge_histories` of the two sides'
histories), the server's branch merges and a file edited outside Jupyter (:func:`merge_versions` of two
versions of one history).

**The union strategy.** Yjs merges two versions by union, which is right for sources (every character edit
once) but not for everything in a notebook: both sides' new outputs of one cell end up concatenated, a
cell deleted on one side loses the other side's edit, one metadata value wins by client id. So after the
union the notebook is worked out again by ``merge_notebooks``'s rules from the common version and the two
sides, with the sources taken from the union, and the difference is recorded as one ``merge`` change.

That change must be the same wherever it is computed (merging A into B or B into A, on two machines, in a
git merge driver), or a later union of those copies would hold it twice: so the two sides are ordered
canonically (by their head hashes), the change is made with a client id derived from the merged version,
and its author, time and message are derived from the merged version too. Identical changes have
identical hashes and merge as one.
"""

from __future__ import annotations

import warnings
from collections.abc import Iterable, Mapping
from dataclasses import dataclass, field
from typing import TYPE_CHECKING, Any, Literal

from crdt import Array, Change, Doc, History, Map
from jupyter_crdt.history.changes import capture, derived_client_id, notebook_at, record_on
from jupyter_crdt.history.document import MAIN, WRITTEN
from jupyter_crdt.notebook import schema as _schema
from jupyter_crdt.notebook.apply import apply_notebook
from jupyter_crdt.notebook.merge import merge_notebooks
from jupyter_crdt.notebook.values import same
from jupyter_crdt.progress import Progress

if TYPE_CHECKING:  # the merge of an open notebook works on it; it merges through this module
    from jupyter_crdt.history.notebook import NotebookHistory

__all__ = [
    "Strategy",
    "STRATEGIES",
    "merge",
    "MergeResult",
    "NoMergeBase",
    "NoCommonHistory",
    "merge_histories",
    "merge_versions",
    "VersionMerge",
    "closest_version",
    "MERGE_AUTHOR",
    "MERGE_KIND",
]

Strategy = Literal["auto", "union", "three-way"]
STRATEGIES: tuple[Strategy, ...] = ("auto", "union", "three-way")

MERGE_AUTHOR = "merge"
MERGE_KIND = "merge"
MERGE_ORIGIN = "jupyter_crdt.history_merge"


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


def merge_histories(ours: History, theirs: History) -> VersionMerge:
    """The union strategy for two histories: add ``theirs``'s changes to ``ours``, then merge the two
    ``main`` versions (:func:`merge_versions`); ``ours``'s ``main`` moves to the result.

    Other branches are merged as :meth:`crdt.History.merge` does; ``written`` stays ``ours``'s. Raises
    :class:`NoCommonHistory` (changing nothing) when the two ``main`` versions share no change (an empty
    ``main`` of ``theirs`` has nothing to merge: up to date).
    """
    mine, other = ours.branch(MAIN), theirs.branch(MAIN)
    if other and ours.ancestors(mine).isdisjoint(theirs.ancestors(other)):
        raise NoCommonHistory("the two histories share no change")
    branches = ours.branches
    ours.merge(theirs)
    ours.set_branch(MAIN, mine)
    if WRITTEN in branches:
        ours.set_branch(WRITTEN, branches[WRITTEN])
    vm = merge_versions(ours, mine, other)
    ours.set_branch(MAIN, vm.heads)
    return vm


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


# -- the entry point ------------------------------------------------------------------------------------


class NoMergeBase(ValueError):
    """Neither side has a history to find the common version in, and no base was given."""


@dataclass
class MergeResult:
    """What :func:`merge` did."""

    up_to_date: bool = False
    """This notebook held the other copy already: nothing changed."""
    three_way: bool = False
    """Merged by the three-way strategy (the files) rather than by the union of the histories."""
    unrelated: bool = False
    """The other copy's history shares no change with this one (so the files were merged)."""
    conflicts: list[str] = field(default_factory=list)
    notes: list[str] = field(default_factory=list)


def merge(nh: NotebookHistory, theirs: Mapping | None = None, their_history: History | None = None, *,
          strategy: Strategy = "auto", base: Mapping | None = None, label: str = "the other copy",
          author: str | None = None) -> MergeResult:
    """Merge another copy (its notebook ``theirs`` and/or its ``their_history``) into ``nh``'s ``main``.

    ``strategy``: ``"union"``, ``"three-way"`` or ``"auto"`` (see the module docstring). ``base``: the
    common ancestor for a three-way merge (given with ``"auto"``, it chooses the three-way merge).
    ``label`` names the other copy in a three-way merge change's message; ``author``: its author.
    ``main`` moves to the result; writing the ``.ipynb`` is the caller's business.

    Raises :class:`NoCommonHistory` (nothing changed) when ``"union"`` finds the two histories share no
    change; :class:`NoMergeBase` when a three-way merge has no base to go on (no ``base``, ``nh``'s history
    is only the import of its file, just made, and no ``their_history``); ``ValueError`` for a strategy
    that does not apply (``"union"`` without the other history, or with a base).
    """
    if strategy not in STRATEGIES:
        raise ValueError(f"unknown merge strategy {strategy!r} (one of {', '.join(STRATEGIES)})")
    if theirs is None and their_history is None:
        raise ValueError("a merge needs the other copy's notebook or its history")
    out = MergeResult()
    if strategy == "union" and (their_history is None or base is not None):
        raise ValueError("the union strategy merges histories: give the other copy's history, and no base")
    if strategy == "union" or (strategy == "auto" and their_history is not None and base is None):
        assert their_history is not None
        before = nh.main
        try:
            vm = nh.merge_history(their_history)
        except NoCommonHistory:
            if strategy == "union":
                raise
            out.unrelated = True
        else:
            out.up_to_date = nh.main == before
            out.conflicts, out.notes = list(vm.conflicts), list(vm.notes)
            return out
    out.three_way = True
    with warnings.catch_warnings():
        warnings.simplefilter("ignore")
        if theirs is None:
            assert their_history is not None
            theirs = notebook_at(their_history, their_history.branch(MAIN))
        if base is None:
            if not nh.created or len(nh.history) > 1:  # this notebook's history holds more than
                # its file's import: its version closest to the other copy
                base = closest_version(nh.history, theirs)
            elif their_history is not None:  # the other copy's history: its version closest to ours
                base = closest_version(their_history, nh.notebook())
            else:
                raise NoMergeBase("neither copy has a history: give the common ancestor (a base notebook)")
        ours = notebook_at(nh.history, nh.main)
        merged, report = merge_notebooks(base, ours, theirs)
    nh.apply_notebook(merged, author, kind="merge", message=f"merged {label} (three-way)")
    out.conflicts = [f"{_where(c)}: {c.detail}" for c in report.conflicts]
    out.notes = [f"{_where(c)}: {c.detail}" for c in report.notes]
    return out


def _where(c: Any) -> str:
    return f"cell {c.cell_index}" if c.cell_index is not None else "notebook"


def closest_version(history: History, nb: Any) -> Any:
    """The notebook of ``history``'s main branch most like ``nb`` (the likely common ancestor of a plain
    copy).

    Replays main's changes once, scoring the notebook after each of the last 200 (cells of ``nb`` found
    unchanged count for it, cells ``nb`` lacks against it); the newest best one wins.
    """
    changes = history.log(history.branch(MAIN))
    want = {(c.get("cell_type"), _src(c)) for c in nb.get("cells", [])}
    best, best_score = None, None
    doc = Doc(gc=False)
    with Progress(len(changes), "finding the common version") as p:
        for i, c in enumerate(changes):
            doc.apply_update(c.update)
            p.advance()
            if i < len(changes) - 200:
                continue
            with warnings.catch_warnings():
                warnings.simplefilter("ignore")
                cand = _schema.export(doc, keep_ids=True)
            have = [(x.get("cell_type"), _src(x)) for x in cand.get("cells", [])]
            score = sum(1 for k in have if k in want) - 0.5 * sum(1 for k in have if k not in want)
            if best_score is None or score >= best_score:
                best, best_score = cand, score
    return best


def _src(c: Any) -> str:
    s = c.get("source", "")
    return s if isinstance(s, str) else "".join(s)
