"""Three-way merge of one text, character by character, with git-style markers for true conflicts.

Each side's edits are the hunks of a character diff from the base. Hunks from the two sides that touch
different characters both apply (``compute(alpha, beta)`` edited to ``ALPHA`` on one side and ``BETA`` on
the other merges to ``compute(ALPHA, BETA)``). Hunks interact when they change overlapping characters,
when one side inserts inside what the other replaced, or when both insert (or one inserts and the other
replaces) at the same place, where no order of the two would be right. A group of interacting hunks is
still no conflict when both sides made the same change, or when both only deleted (the union is deleted).
Otherwise it is a true conflict: the lines it touches are kept in both versions between markers::

    <<<<<<< local
    x = 2
    =======
    x = 3
    >>>>>>> remote
"""

from __future__ import annotations

from dataclasses import dataclass

from jupyter_crdt.text.diff import diff_text

LOCAL_MARKER = "<<<<<<< local"
MIDDLE_MARKER = "======="
REMOTE_MARKER = ">>>>>>> remote"


@dataclass
class TextConflict:
    base: str
    local: str
    remote: str


@dataclass
class _Hunk:
    start: int  # base range [start, end)
    end: int
    text: str  # what this side put there
    side: int  # 0 local, 1 remote


def merge_text(base: str, local: str, remote: str) -> tuple[str, list[TextConflict]]:
    """The merged text and its true conflicts (each one marked in the text)."""
    if local == remote or remote == base:
        return local, []
    if local == base:
        return remote, []
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
    return "".join(out), conflicts


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
