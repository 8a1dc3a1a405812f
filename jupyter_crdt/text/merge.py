"""Three-way merge of one text: :func:`merge_text`, with a named strategy for true conflicts.

Each side's edits are the hunks of a diff from the base (:mod:`jupyter_crdt.text.diff`). Edits of
different places both apply (``compute(alpha, beta)`` edited to ``ALPHA`` on one side and ``BETA`` on the
other merges to ``compute(ALPHA, BETA)``), and an edit both sides made counts once. Edits interact when
they change overlapping characters, or when both sides insert (or one inserts and the other replaces) at
one place, where no order of the two would be right. What happens to such a true conflict is the
strategy's job; the names are nbdime's:

``"inline"`` (notebook merges, for people)
    Character hunks. A group of interacting hunks is still no conflict when both sides made the same
    change, or when both only deleted (the union is deleted). A true conflict keeps the lines it touches
    in both versions between git-style markers::

        <<<<<<< local
        x = 2
        =======
        x = 3
        >>>>>>> remote

``"union"`` (the server's merges of live documents, where markers must never appear)
    Line-anchored hunks (an inserted line is an edit at a line start, so both sides agree where it goes).
    Two different insertions at one place are both kept (local first); overlapping different edits keep
    both versions, widened to whole lines of the base, with the lines both have only once, so no side's
    text is lost and a line both sides added (a stale client's copy of an edit) appears once.

Both return the merged text and the conflicts it met (:class:`TextMerge`): for ``"inline"`` the marked
regions, for ``"union"`` the regions kept both ways.
"""

from __future__ import annotations

from collections import Counter
from dataclasses import dataclass
from typing import Literal, NamedTuple

from jupyter_crdt.text.diff import diff_sequences, diff_text

LOCAL_MARKER = "<<<<<<< local"
MIDDLE_MARKER = "======="
REMOTE_MARKER = ">>>>>>> remote"

MergeStrategy = Literal["inline", "union"]
"""What :func:`merge_text` does with a true conflict (see the module docstring)."""


@dataclass
class TextConflict:
    """A region both sides changed differently: the base's text there and each side's version of it."""

    base: str
    local: str
    remote: str


class TextMerge(NamedTuple):
    """The result of :func:`merge_text` (a tuple: ``text, conflicts = merge_text(...)``)."""

    text: str
    conflicts: list[TextConflict]


def merge_text(base: str, local: str, remote: str, *, strategy: MergeStrategy = "inline") -> TextMerge:
    """Merge two versions of ``base``: the merged text and its true conflicts, resolved by ``strategy``."""
    if strategy not in ("inline", "union"):
        raise ValueError(f"unknown merge strategy {strategy!r}: 'inline' or 'union'")
    if local == remote or remote == base:
        return TextMerge(local, [])
    if local == base:
        return TextMerge(remote, [])
    if strategy == "union":
        return _merge_union(base, local, remote)
    return _merge_inline(base, local, remote)


# -- "inline": character hunks, markers around true conflicts ---------------------------------------------


@dataclass
class _Hunk:
    start: int  # base range [start, end)
    end: int
    text: str  # what this side put there
    side: int  # 0 local, 1 remote


def _merge_inline(base: str, local: str, remote: str) -> TextMerge:
    hunks = [_Hunk(i1, i2, local[j1:j2], 0) for i1, i2, j1, j2 in diff_text(base, local)]
    hunks += [_Hunk(i1, i2, remote[j1:j2], 1) for i1, i2, j1, j2 in diff_text(base, remote)]
    hunks.sort(key=lambda h: (h.start, h.end, h.side))

    # Group interacting hunks; decide which groups are true conflicts.
    groups: list[tuple[list[_Hunk], bool]] = []
    k = 0
    while k < len(hunks):
        group = [hunks[k]]
        k += 1
        while k < len(hunks) and any(_interact(hunks[k], g) for g in group if g.side != hunks[k].side):
            group.append(hunks[k])
            k += 1
        groups.append((group, _is_conflict(base, group)))

    # A conflict covers whole lines: widen it, swallowing whatever else those lines hold.
    regions: list[list] = []  # [start, end, hunks, conflict]
    for group, conflict in groups:
        s, e = _span(group)
        last = regions[-1] if regions else None
        if not conflict:
            if last is not None and last[3] and _inside(group[0], last[0], last[1], base):
                last[2].extend(group)
                last[0], last[1] = _line_bounds(base, last[0], max(last[1], e), last[2])
            else:
                regions.append([s, e, group, False])
            continue
        members = list(group)
        s, e = _line_bounds(base, s, e, members)
        while regions:
            ps, pe, pm, pc = regions[-1]
            if pc:  # conflicts on touching lines make one block
                if pe < s:
                    break
            elif not (pe > s or _inside(pm[-1], s, e, base)) or _lines_before(pm, s):
                break
            regions.pop()
            members = pm + members
            s, e = _line_bounds(base, min(s, ps), max(e, pe), members)
        regions.append([s, e, members, True])

    out: list[str] = []
    conflicts: list[TextConflict] = []
    pos = 0
    for s, e, members, conflict in regions:
        out.append(base[pos:s])
        pos = e
        lv = _apply(base, s, e, [h for h in members if h.side == 0])
        rv = _apply(base, s, e, [h for h in members if h.side == 1])
        if not conflict:
            sides = {h.side for h in members}
            if len(sides) == 1 or lv == rv:
                out.append(lv if 0 in sides else rv)
            else:  # only deletions on both sides: delete the union
                out.append(_delete_union(base, s, e, members))
            continue
        if lv == rv:
            out.append(lv)
            continue
        conflicts.append(TextConflict(base[s:e], lv, rv))
        out.append(_markers(lv, rv, trailing_newline=e < len(base) or base[s:e].endswith("\n")))
    out.append(base[pos:])
    return TextMerge("".join(out), conflicts)


def _interact(a: _Hunk, b: _Hunk) -> bool:
    if a.start < a.end and b.start < b.end:
        return a.start < b.end and b.start < a.end
    if a.start == a.end and b.start == b.end:
        return a.start == b.start
    ins, rng = (a, b) if a.start == a.end else (b, a)
    p = ins.start
    return rng.start < p < rng.end or (p == rng.start and rng.text != "")


def _is_conflict(base: str, group: list[_Hunk]) -> bool:
    if len({h.side for h in group}) == 1:
        return False
    s, e = _span(group)
    lv = _apply(base, s, e, [h for h in group if h.side == 0])
    rv = _apply(base, s, e, [h for h in group if h.side == 1])
    if lv == rv:
        return False
    return any(h.text for h in group)


def _span(group: list[_Hunk]) -> tuple[int, int]:
    return min(h.start for h in group), max(h.end for h in group)


def _inside(h: _Hunk, s: int, e: int, base: str) -> bool:
    """Whether hunk ``h`` falls on the lines ``[s, e)`` of a conflict."""
    if s == e:
        return h.start == h.end == s
    if h.start < e and (h.end > s or h.start >= s):
        return True
    return h.start == e == len(base) and not base.endswith("\n")


def _lines_before(hunks: list[_Hunk], s: int) -> bool:
    """Whole lines inserted right where a conflict's lines start: they go before its markers."""
    return all(h.start == h.end == s and h.text.endswith("\n") for h in hunks)


def _line_bounds(base: str, s: int, e: int, members: list[_Hunk]) -> tuple[int, int]:
    s2 = base.rfind("\n", 0, s) + 1
    if s == e and s == s2 and all(h.start == h.end and h.text.endswith("\n") for h in members):
        return s, s  # whole new lines inserted at a line start: the conflict is just those lines
    if e > s and base[e - 1] == "\n":
        return s2, e
    j = base.find("\n", e)
    return s2, (len(base) if j < 0 else j + 1)


def _apply(base: str, s: int, e: int, hunks: list[_Hunk]) -> str:
    parts = []
    pos = s
    for h in sorted(hunks, key=lambda h: (h.start, h.end)):
        parts.append(base[pos : h.start])
        parts.append(h.text)
        pos = h.end
    parts.append(base[pos:e])
    return "".join(parts)


def _delete_union(base: str, s: int, e: int, hunks: list[_Hunk]) -> str:
    gone = [False] * (e - s)
    for h in hunks:
        for p in range(h.start, h.end):
            gone[p - s] = True
    return "".join(base[p] for p in range(s, e) if not gone[p - s])


def _markers(local: str, remote: str, trailing_newline: bool) -> str:
    parts = [LOCAL_MARKER, "\n", local]
    if local and not local.endswith("\n"):
        parts.append("\n")
    parts += [MIDDLE_MARKER, "\n", remote]
    if remote and not remote.endswith("\n"):
        parts.append("\n")
    parts.append(REMOTE_MARKER)
    if trailing_newline:
        parts.append("\n")
    return "".join(parts)


# -- "union": line-anchored edits, both versions kept -----------------------------------------------------

_Edit = tuple[int, int, str]  # replace base[start:end] by the text


def _edits(base: str, side: str) -> list[_Edit]:
    return [(i1, i2, side[j1:j2]) for i1, i2, j1, j2 in diff_text(base, side, granularity="lines")]


def _merge_union(base: str, local: str, remote: str) -> TextMerge:
    mine = _edits(base, local)
    theirs = _edits(base, remote)
    merged: list[_Edit] = []
    conflicts: list[TextConflict] = []
    i = j = 0
    while i < len(mine) or j < len(theirs):
        if j >= len(theirs):
            merged.append(mine[i])
            i += 1
            continue
        if i >= len(mine):
            merged.append(theirs[j])
            j += 1
            continue
        m, t = mine[i], theirs[j]
        if m == t:
            merged.append(m)
            i += 1
            j += 1
            continue
        if _before(m, t):
            merged.append(m)
            i += 1
            continue
        if _before(t, m):
            merged.append(t)
            j += 1
            continue
        # Overlap (or two insertions at one point): gather every edit of both sides in the cluster,
        # widened to whole lines of the base so both versions are kept line by line.
        start = base.rfind("\n", 0, min(m[0], t[0])) + 1
        if merged:  # never widen over an edit already placed
            start = max(start, merged[-1][1])
        end = max(m[1], t[1])
        cluster_mine: list[_Edit] = []
        cluster_theirs: list[_Edit] = []
        grew = True
        while grew:
            grew = False
            if end > start and base[end - 1] != "\n":
                nl = base.find("\n", end)
                end = len(base) if nl < 0 else nl + 1
            while i < len(mine) and _touches(mine[i], start, end):
                cluster_mine.append(mine[i])
                end = max(end, mine[i][1])
                i += 1
                grew = True
            while j < len(theirs) and _touches(theirs[j], start, end):
                cluster_theirs.append(theirs[j])
                end = max(end, theirs[j][1])
                j += 1
                grew = True
        if not cluster_mine and not cluster_theirs:  # cannot happen; never loop forever
            cluster_mine.append(m)
            cluster_theirs.append(t)
            i += 1
            j += 1
            start, end = min(m[0], t[0]), max(m[1], t[1])
        segment = base[start:end]
        mine_text = _apply_edits(segment, [(s - start, e - start, r) for s, e, r in cluster_mine])
        theirs_text = _apply_edits(segment, [(s - start, e - start, r) for s, e, r in cluster_theirs])
        if mine_text == theirs_text:
            merged.append((start, end, mine_text))
        else:
            conflicts.append(TextConflict(segment, mine_text, theirs_text))
            merged.append((start, end, _keep_both(mine_text, theirs_text)))
    return TextMerge(_apply_edits(base, merged), conflicts)


def _apply_edits(a: str, edits: list[_Edit]) -> str:
    out: list[str] = []
    pos = 0
    for start, end, replacement in edits:
        out.append(a[pos:start])
        out.append(replacement)
        pos = end
    out.append(a[pos:])
    return "".join(out)


def _keep_both(mine: str, theirs: str) -> str:
    """Both versions of a conflicting region, their common lines once (a line-level union)."""
    if not mine or not theirs:
        return mine or theirs
    a = mine.splitlines(keepends=True)
    b = theirs.splitlines(keepends=True)
    if len(a) == 1 and len(b) == 1:
        if mine.startswith(theirs) or theirs.startswith(mine):  # one extends the other
            return mine if len(mine) >= len(theirs) else theirs
        return mine + theirs
    # Each line appears as often as the version that has it most: a line both sides added (the same
    # edit, seen by both) is kept once even where the two versions order their lines differently.
    extra = Counter(b) - Counter(a)
    out: list[str] = []
    pos = 0
    for _i1, i2, j1, j2 in diff_sequences(a, b):
        out.extend(a[pos:i2])
        pos = i2
        for line in b[j1:j2]:
            if extra[line] > 0:
                extra[line] -= 1
                out.append(line)
    out.extend(a[pos:])
    return "".join(out)


def _before(x: _Edit, y: _Edit) -> bool:
    """Whether edit ``x`` lies strictly before ``y`` (they can be applied independently)."""
    # Touching edits (one ends where the other starts) are merged together, as diff3 does: an insertion
    # right before a replaced range may repeat part of the replacement.
    return x[1] < y[0]


def _touches(e: _Edit, start: int, end: int) -> bool:
    return e[0] <= end and e[1] >= start  # overlapping or touching (as in _before)
