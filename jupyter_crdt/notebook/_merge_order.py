"""Cell order in a notebook merge: a three-way merge of the cell sequences."""

from __future__ import annotations

from typing import Any

from jupyter_crdt.notebook._merge_values import edited, unit
from jupyter_crdt.notebook.merge_report import MergeConflict
from jupyter_crdt.notebook.values import same
from jupyter_crdt.text import diff_sequences

_END: Any = object()


def merge_order(b_order: list, l_order: list, r_order: list, cells: dict, cell_items: list) -> list:
    """The merged cell order: keys of ``cells`` (base cells ``("b", i)``, new ones ``("n", ...)``).

    Cells inserted by both sides at one place are all kept (local's first); a cell moved by both sides goes
    where local put it; a cell deleted on one side and edited on the other is kept where that side had it.
    What needs reporting is appended to ``cell_items`` as ``(cell key, MergeConflict, is_conflict)``.
    """
    both_inserted: list = []
    placed = merge_sequences(b_order, l_order, r_order, both_inserted)
    for mine, theirs in both_inserted:
        cell_items.append(
            (
                mine[0],
                MergeConflict(
                    "insert-insert",
                    f"both sides inserted cells at the same place; kept all, local's "
                    f"{len(mine)} first, then remote's {len(theirs)}",
                ),
                False,
            )
        )
    lset, rset = set(l_order), set(r_order)
    # One place per cell: where local put it when both sides moved it.
    where: dict[Any, int] = {}
    for n, (k, side) in enumerate(placed):
        if k not in where or side == "local":
            where[k] = n
    keep = []
    for k in b_order:
        in_l, in_r = k in lset, k in rset
        if in_l and in_r:
            continue
        b, lc, rc = cells[k]
        if not in_l and not in_r:
            where.pop(k, None)
            continue
        survivor, side, other = (rc, "remote", "local") if in_r else (lc, "local", "remote")
        if edited(b, survivor):
            keep.append((k, side))
            cell_items.append(
                (
                    k,
                    MergeConflict(
                        "delete-edit",
                        f"deleted on the {other} side, edited on the {side} side: kept, with the edit",
                        base=b.get("source"),
                    ),
                    True,
                )
            )
        else:
            where.pop(k, None)
            if not same(unit(b), unit(survivor)):
                cell_items.append(
                    (
                        None,
                        MergeConflict(
                            "delete-edit",
                            f"deleted on the {other} side; the {side} side had only re-run it: deleted",
                            cell_id=b.get("id"),
                            base=b.get("source"),
                        ),
                        False,
                    )
                )
    order = [k for n, (k, _) in enumerate(placed) if where.get(k) == n]
    present = set(order)
    missing_keys = {k: side for k, side in keep if k not in present}
    if not missing_keys:
        return order
    # Each kept cell goes right after the cell before it on the side that kept it (linear time).
    after: dict[Any, list] = {}
    for side in ("local", "remote"):
        last = None
        for k in l_order if side == "local" else r_order:
            if missing_keys.get(k) == side:
                after.setdefault(last, []).append(k)
                last = k
            elif k in present:
                last = k
    out: list = []
    stack = list(reversed(after.get(None, [])))
    for k in [*order, _END]:
        while stack:
            kept = stack.pop()
            out.append(kept)
            stack.extend(reversed(after.get(kept, [])))
        if k is not _END:
            out.append(k)
            stack = list(reversed(after.get(k, [])))
    return out


def merge_sequences(b: list, lv: list, rv: list, both_inserted: list | None = None) -> list[tuple[Any, str]]:
    """Three-way merge of key sequences: [(key, side it came from)] (a key may appear twice).

    Where both sides inserted different keys at one place, the keys each side inserted there are
    appended to ``both_inserted`` as a pair of lists.
    """
    hunks = [(i1, i2, lv[j1:j2], 0) for i1, i2, j1, j2 in diff_sequences(b, lv)]
    hunks += [(i1, i2, rv[j1:j2], 1) for i1, i2, j1, j2 in diff_sequences(b, rv)]
    hunks.sort(key=lambda h: (h[0], h[1], h[3]))
    out: list[tuple[Any, str]] = []
    pos = 0
    k = 0
    while k < len(hunks):
        group = [hunks[k]]
        k += 1
        while k < len(hunks) and any(_interact(hunks[k], g) for g in group if g[3] != hunks[k][3]):
            group.append(hunks[k])
            k += 1
        s = min(h[0] for h in group)
        e = max(h[1] for h in group)
        out.extend((x, "base") for x in b[pos:s])
        pos = e
        sides = {h[3] for h in group}
        lpart = _apply_seq(b, s, e, [h for h in group if h[3] == 0])
        rpart = _apply_seq(b, s, e, [h for h in group if h[3] == 1])
        if sides == {0}:
            out.extend((x, "local") for x in lpart)
        elif sides == {1}:
            out.extend((x, "remote") for x in rpart)
        elif lpart == rpart:
            out.extend((x, "both") for x in lpart)
        else:
            merged = _union(lpart, rpart)
            out.extend(merged)
            if both_inserted is not None:
                base_part = set(b[s:e])
                mine = [x for x, side in merged if side == "local" and x not in base_part]
                theirs = [x for x, side in merged if side == "remote" and x not in base_part]
                if mine and theirs:
                    both_inserted.append((mine, theirs))
    out.extend((x, "base") for x in b[pos:])
    return out


def _interact(a: tuple, c: tuple) -> bool:
    if a[0] < a[1] and c[0] < c[1]:
        return a[0] < c[1] and c[0] < a[1]
    if a[0] == a[1] and c[0] == c[1]:
        return a[0] == c[0]
    ins, rng = (a, c) if a[0] == a[1] else (c, a)
    return rng[0] <= ins[0] < rng[1] or ins[0] == rng[1]


def _apply_seq(b: list, s: int, e: int, hunks: list) -> list:
    out = []
    pos = s
    for h in hunks:
        out.extend(b[pos : h[0]])
        out.extend(h[2])
        pos = h[1]
    out.extend(b[pos:e])
    return out


def _union(lpart: list, rpart: list) -> list[tuple[Any, str]]:
    out: list[tuple[Any, str]] = []
    pos_l = 0
    for i1, i2, j1, j2 in diff_sequences(lpart, rpart):
        out.extend((x, "both") for x in lpart[pos_l:i1])
        out.extend((x, "local") for x in lpart[i1:i2])
        out.extend((x, "remote") for x in rpart[j1:j2])
        pos_l = i2
    out.extend((x, "both") for x in lpart[pos_l:])
    return out
