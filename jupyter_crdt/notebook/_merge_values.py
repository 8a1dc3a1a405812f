"""Three-way merge of plain JSON values, objects key by key, and the cell fields that travel as one unit.

Values compare with :func:`~jupyter_crdt.notebook.values.same` (``True`` is not ``1``). A value missing on a
side is :data:`MISSING`; :data:`CONFLICT` is what :func:`three_way` returns when both sides changed a value
differently (the caller decides, and reports).
"""

from __future__ import annotations

from collections.abc import Mapping
from typing import Any

from jupyter_crdt.notebook import schema as _schema
from jupyter_crdt.notebook.values import same


class _Missing:
    def __repr__(self) -> str:
        return "<missing>"


MISSING: Any = _Missing()
CONFLICT: Any = object()
# Fields that travel together: one side's outputs, execution count and execution timing.
UNIT = ("outputs", "execution_count")
TIMING = "execution"


def three_way(b: Any, lv: Any, rv: Any) -> Any:
    if same(lv, b):
        return rv
    if same(rv, b) or same(lv, rv):
        return lv
    return CONFLICT


def merge_dict(b: Any, lv: Any, rv: Any, path: list, conflicts: list, depth: int = 32) -> Any:
    """Three-way merge of two objects key by key (recursively); conflicts keep local's value."""
    if lv is MISSING or rv is MISSING or not isinstance(lv, Mapping) or not isinstance(rv, Mapping):
        v = three_way(b, lv, rv)
        if v is CONFLICT:
            conflicts.append((path, b, lv, rv))
            return lv
        return v
    if not isinstance(b, Mapping):
        b = {}
    out: dict = {}
    for k in ordered_keys(b, lv, rv):
        bk, lk, rk = b.get(k, MISSING), lv.get(k, MISSING), rv.get(k, MISSING)
        v = three_way(bk, lk, rk)
        if v is CONFLICT:
            if depth > 0 and isinstance(lk, Mapping) and isinstance(rk, Mapping):
                v = merge_dict(bk, lk, rk, [*path, k], conflicts, depth - 1)
            elif _string_set(bk) and _string_set(lk) and _string_set(rk):
                v = _merge_set(bk, lk, rk)
            else:
                conflicts.append(([*path, k], bk, lk, rk))
                v = lk
        if v is not MISSING:
            out[k] = v
    return out


def _string_set(v: Any) -> bool:
    return (v is MISSING or isinstance(v, list)) and (
        v is MISSING or (all(isinstance(x, str) for x in v) and len(set(v)) == len(v))
    )


def _merge_set(b: Any, lv: list, rv: list) -> list:
    bset = set() if b is MISSING else set(b)
    removed = (bset - set(lv)) | (bset - set(rv))
    out = [x for x in lv if x not in removed]
    out += [x for x in rv if x not in removed and x not in out]
    return out


def ordered_keys(*dicts: Any) -> list:
    seen: dict = {}
    for d in (dicts[1], dicts[2], dicts[0]):
        if isinstance(d, Mapping):
            for k in d:
                seen.setdefault(k, None)
    return list(seen)


def unit(c: Mapping) -> tuple:
    md = c.get("metadata")
    timing = md.get(TIMING, MISSING) if isinstance(md, Mapping) else MISSING
    return (c.get("outputs", MISSING), c.get("execution_count", MISSING), timing)


def edited(b: Mapping, c: Mapping) -> bool:
    """Whether ``c`` changed ``b`` beyond re-running it (outputs, count, timing) or renaming its id."""
    for f in set(b) | set(c):
        if f in UNIT or f == "id":
            continue
        bv, cv = b.get(f, MISSING), c.get(f, MISSING)
        if f == "source":
            bv, cv = (_schema.as_str(x) if isinstance(x, (str, list)) else x for x in (bv, cv))
        if f == "metadata" and isinstance(bv, Mapping) and isinstance(cv, Mapping):
            bv = {k: v for k, v in bv.items() if k != TIMING}
            cv = {k: v for k, v in cv.items() if k != TIMING}
        if not same(bv, cv):
            return True
    return False


def executed_at(c: Mapping) -> str | None:
    md = c.get("metadata")
    timing = md.get(TIMING) if isinstance(md, Mapping) else None
    if not isinstance(timing, Mapping):
        return None
    stamps = [v for v in timing.values() if isinstance(v, str)]
    return max(stamps) if stamps else None
