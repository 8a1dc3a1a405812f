"""The one diff engine: the hunks that turn one string (or list) into another.

A hunk ``(i1, i2, j1, j2)`` replaces ``a[i1:i2]`` by ``b[j1:j2]``; hunks are sorted and disjoint. Everything
is Myers' O(ND) algorithm (:func:`diff_sequences` on lists, :func:`diff_text` on strings), bounded in edits
and work so a hostile pair of texts costs a bounded time (past the bound a block is replaced whole).

:func:`diff_text` has two granularities:

- ``"chars"`` (the default): characters, after trimming the common prefix and suffix. When the texts differ
  too much for that to stay cheap, the lines are diffed first and each changed block of lines is then
  diffed by characters. A light semantic cleanup folds short equal runs squeezed between two larger edits
  into one edit (never across a line break), so ``alpha -> gamma`` is one replacement rather than a
  scatter of single letters. Hunks are never adjacent.
- ``"lines"``: lines are matched first, so an inserted line is a hunk at a line start (both sides of a
  merge then agree on where it goes); lines changed one for one are then diffed by characters (a line more
  than half changed is replaced whole), so edits of different words of a line stay apart. Hunks may touch.

:func:`similarity` is the share of two sequences a diff keeps (what cell matching compares).
"""

from __future__ import annotations

from collections import Counter
from collections.abc import Sequence
from typing import Literal

Hunk = tuple[int, int, int, int]
"""``(i1, i2, j1, j2)``: ``a[i1:i2]`` becomes ``b[j1:j2]``."""

Granularity = Literal["chars", "lines"]
"""How :func:`diff_text` cuts a text into hunks (see the module docstring)."""

# Character-level Myers gives up beyond this many edits and falls back to lines first.
_MAX_CHAR_EDITS = 400
# Line-level Myers gives up beyond this many changed lines (then the block is replaced whole).
_MAX_LINE_EDITS = 2000
# Past this many characters (after trimming) with line breaks about, lines are diffed first (then the
# changed lines by characters): much cheaper than characters throughout, and as good for code.
_LINES_FIRST = 200
# Myers does O((n + m) * d) steps; past about this many it gives up.
_MAX_WORK = 1_000_000
_MAX_REFINE_WORK = 30_000


def diff_text(a: str, b: str, *, granularity: Granularity = "chars") -> list[Hunk]:
    """The hunks turning ``a`` into ``b`` (indices count code points, like ``str``)."""
    if a == b:
        return []
    if granularity == "lines":
        return _diff_line_anchored(a, b)
    if granularity != "chars":
        raise ValueError(f"unknown granularity {granularity!r}: 'chars' or 'lines'")
    hunks = _diff_chars(a, b, 0, len(a), 0, len(b))
    return _cleanup(a, b, hunks)


def _diff_line_anchored(a: str, b: str) -> list[Hunk]:
    a_lines = a.splitlines(keepends=True)
    b_lines = b.splitlines(keepends=True)
    a_off = _offsets(a_lines)
    b_off = _offsets(b_lines)
    hunks: list[Hunk] = []
    for i1, i2, j1, j2 in diff_sequences(a_lines, b_lines):
        if i2 - i1 != j2 - j1:
            hunks.append((a_off[i1], a_off[i2], b_off[j1], b_off[j2]))
            continue
        for k in range(i2 - i1):
            x, y = a_lines[i1 + k], b_lines[j1 + k]
            at, bt = a_off[i1 + k], b_off[j1 + k]
            line_hunks = diff_text(x, y)
            changed = sum(h[1] - h[0] + h[3] - h[2] for h in line_hunks)
            if 2 * changed > len(x) + len(y):  # a different line, not an edited one
                hunks.append((at, at + len(x), bt, bt + len(y)))
            else:
                hunks.extend((at + h[0], at + h[1], bt + h[2], bt + h[3]) for h in line_hunks)
    return hunks


def _offsets(lines: list[str]) -> list[int]:
    out = [0]
    for line in lines:
        out.append(out[-1] + len(line))
    return out


def _diff_chars(a: str, b: str, i1: int, i2: int, j1: int, j2: int, lines: bool = True) -> list[Hunk]:
    # Trim the common prefix and suffix (C-speed comparisons on slices of doubling size).
    p = _common_prefix(a, b, i1, i2, j1, j2)
    i1 += p
    j1 += p
    s = _common_suffix(a, b, i1, i2, j1, j2)
    i2 -= s
    j2 -= s
    if i1 == i2 or j1 == j2:
        return [] if i1 == i2 and j1 == j2 else [(i1, i2, j1, j2)]
    has_lines = lines and ("\n" in a[i1:i2] or "\n" in b[j1:j2])
    if has_lines and (i2 - i1) + (j2 - j1) > _LINES_FIRST:
        return _diff_lines(a, b, i1, i2, j1, j2)
    # Refining a block of changed lines: cheap, or not at all (the block is then replaced whole).
    snakes = _myers(a, b, i1, i2, j1, j2, _MAX_CHAR_EDITS, 0 if lines else _MAX_REFINE_WORK)
    if snakes is not None:
        return _hunks_from_snakes(snakes, i1, i2, j1, j2)
    if has_lines:
        return _diff_lines(a, b, i1, i2, j1, j2)
    return [(i1, i2, j1, j2)]


def _diff_lines(a: str, b: str, i1: int, i2: int, j1: int, j2: int) -> list[Hunk]:
    """Diff by lines, then refine each changed block of lines by characters."""
    la, oa = _lines(a, i1, i2)
    lb, ob = _lines(b, j1, j2)
    codes: dict[str, int] = {}
    ca = [codes.setdefault(x, len(codes)) for x in la]
    cb = [codes.setdefault(x, len(codes)) for x in lb]
    snakes = _myers(ca, cb, 0, len(ca), 0, len(cb), _MAX_LINE_EDITS)
    if snakes is None:
        return [(i1, i2, j1, j2)]
    out: list[Hunk] = []
    for x1, x2, y1, y2 in _hunks_from_snakes(snakes, 0, len(ca), 0, len(cb)):
        out.extend(_diff_chars(a, b, oa[x1], oa[x2], ob[y1], ob[y2], lines=False))
    return out


def _lines(s: str, start: int, end: int) -> tuple[list[str], list[int]]:
    """The lines of ``s[start:end]`` (with their newlines) and the offset of each line start (plus end)."""
    lines = s[start:end].splitlines(keepends=True)
    offsets = [start]
    pos = start
    for line in lines:
        pos += len(line)
        offsets.append(pos)
    return lines, offsets


def _common_prefix(a: str, b: str, i1: int, i2: int, j1: int, j2: int) -> int:
    n = min(i2 - i1, j2 - j1)
    lo, step = 0, 64
    # Gallop with growing blocks, then finish character by character.
    while lo < n:
        k = min(step, n - lo)
        if a[i1 + lo : i1 + lo + k] == b[j1 + lo : j1 + lo + k]:
            lo += k
            step *= 2
        elif k > 8:
            step = max(8, k // 4)
        else:
            while lo < n and a[i1 + lo] == b[j1 + lo]:
                lo += 1
            break
    return lo


def _common_suffix(a: str, b: str, i1: int, i2: int, j1: int, j2: int) -> int:
    n = min(i2 - i1, j2 - j1)
    lo, step = 0, 64
    while lo < n:
        k = min(step, n - lo)
        if a[i2 - lo - k : i2 - lo] == b[j2 - lo - k : j2 - lo]:
            lo += k
            step *= 2
        elif k > 8:
            step = max(8, k // 4)
        else:
            while lo < n and a[i2 - lo - 1] == b[j2 - lo - 1]:
                lo += 1
            break
    return lo


def _myers(a: Sequence, b: Sequence, i1: int, i2: int, j1: int, j2: int, max_d: int, max_work: int = 0):
    """Myers' greedy LCS on ``a[i1:i2]`` vs ``b[j1:j2]``: the snakes (runs of equal elements) of a
    shortest edit script as ``(x, y, length)`` in absolute indices, or None past ``max_d`` edits."""
    n = i2 - i1
    m = j2 - j1
    # Bound the work, O((n + m) * d), as well as the number of edits.
    limit = min(max_d, n + m, (max_work or _MAX_WORK) // (n + m) + 16)
    off = limit + 1
    v = [0] * (2 * limit + 3)
    trace: list[list[int]] = []
    for d in range(limit + 1):
        trace.append(v[:])
        for k in range(-d, d + 1, 2):
            kk = k + off
            if k == -d or (k != d and v[kk - 1] < v[kk + 1]):
                x = v[kk + 1]
            else:
                x = v[kk - 1] + 1
            y = x - k
            while x < n and y < m and a[i1 + x] == b[j1 + y]:
                x += 1
                y += 1
            v[kk] = x
            if x >= n and y >= m:
                return _backtrack(trace, v, d, off, n, m, i1, j1)
    return None


def _backtrack(trace, v_last, d_end, off, n, m, i1, j1):
    snakes = []
    x, y = n, m
    for d in range(d_end, 0, -1):
        v = trace[d]  # the state before step d (i.e. after step d - 1)
        k = x - y
        kk = k + off
        if k == -d or (k != d and v[kk - 1] < v[kk + 1]):
            pk = k + 1
        else:
            pk = k - 1
        px = v[pk + off]
        py = px - pk
        # From (px, py) one edit reaches (sx, sy), then a snake reaches (x, y).
        sx, sy = (px, py + 1) if pk == k + 1 else (px + 1, py)
        if x > sx:
            snakes.append((i1 + sx, j1 + sy, x - sx))
        x, y = px, py
    if x > 0:
        snakes.append((i1, j1, x))
    snakes.reverse()
    return snakes


def _hunks_from_snakes(snakes, i1: int, i2: int, j1: int, j2: int) -> list[Hunk]:
    hunks = []
    x, y = i1, j1
    for sx, sy, length in snakes:
        if sx > x or sy > y:
            hunks.append((x, sx, y, sy))
        x, y = sx + length, sy + length
    if x < i2 or y < j2:
        hunks.append((x, i2, y, j2))
    return hunks


def _cleanup(a: str, b: str, hunks: list[Hunk]) -> list[Hunk]:
    """Fold an equal run into its neighbouring edits when it is no longer than either of them.

    A run holding a line break is never folded: edits stay on their own lines, so a conflict on one line
    does not reach into the next.
    """
    if len(hunks) < 2:
        return hunks
    changed = True
    while changed:
        changed = False
        out = [hunks[0]]
        for h in hunks[1:]:
            p = out[-1]
            gap = h[0] - p[1]
            if (
                gap <= max(p[1] - p[0], p[3] - p[2])
                and gap <= max(h[1] - h[0], h[3] - h[2])
                and "\n" not in a[p[1] : h[0]]
            ):
                out[-1] = (p[0], h[1], p[2], h[3])
                changed = True
            else:
                out.append(h)
        hunks = out
    return hunks


def apply_hunks(a: str, b: str, hunks: list[Hunk]) -> str:
    """Rebuild ``b`` from ``a`` and the hunks (a check used by tests)."""
    parts = []
    pos = 0
    for i1, i2, j1, j2 in hunks:
        parts.append(a[pos:i1])
        parts.append(b[j1:j2])
        pos = i2
    parts.append(a[pos:])
    return "".join(parts)


def diff_sequences(a: Sequence, b: Sequence) -> list[Hunk]:
    """The hunks turning the list ``a`` into ``b`` (elements compared with ``==``; no cleanup)."""
    n, m = len(a), len(b)
    p = 0
    while p < n and p < m and a[p] == b[p]:
        p += 1
    s = 0
    while s < n - p and s < m - p and a[n - 1 - s] == b[m - 1 - s]:
        s += 1
    i2, j2 = n - s, m - s
    if p == i2 or p == j2:
        return [] if p == i2 and p == j2 else [(p, i2, p, j2)]
    snakes = _myers(a, b, p, i2, p, j2, _MAX_LINE_EDITS)
    if snakes is None:
        return [(p, i2, p, j2)]
    return _hunks_from_snakes(snakes, p, i2, p, j2)


def similarity(a: Sequence, b: Sequence, floor: float = 0.0) -> float:
    """How much of ``a`` and ``b`` a shortest diff keeps: ``2 * kept / (len(a) + len(b))``, 1.0 for equal
    sequences (two empty ones included), 0.0 for nothing in common.

    Below ``floor`` the answer is 0.0 (cheap bounds answer first: the lengths, then the shared elements),
    and so is a pair too big to diff within the work bound.
    """
    n, m = len(a), len(b)
    total = n + m
    if total == 0:
        return 1.0
    if 2 * min(n, m) < floor * total:
        return 0.0
    if floor > 0 and 2 * sum((Counter(a) & Counter(b)).values()) < floor * total:
        return 0.0
    p = 0
    while p < n and p < m and a[p] == b[p]:
        p += 1
    s = 0
    while s < n - p and s < m - p and a[n - 1 - s] == b[m - 1 - s]:
        s += 1
    kept = p + s
    if p + s < min(n, m):
        # A diff of d edits keeps (total - d) / 2 elements: past this many it is below the floor.
        max_d = int((1.0 - floor) * total)
        snakes = _myers(a, b, p, n - s, p, m - s, max_d)
        if snakes is None:
            return 0.0
        kept += sum(length for _, _, length in snakes)
    ratio = 2.0 * kept / total
    return ratio if ratio >= floor else 0.0
