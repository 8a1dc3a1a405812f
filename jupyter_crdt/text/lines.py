"""Minimal edits to a shared text, and the server's three-way merge of plain text documents.

:func:`text_edits` finds a small set of edits turning one string into another (lines matched first,
then characters inside lines changed one for one, with :mod:`._text_diff`); :func:`apply_text` applies
such edits to a shared :class:`crdt.Text` so that untouched characters keep their identity (cursors stay
where they are); :func:`merge_text` merges two versions of a common base: edits of different characters
combine, the same edit made on both sides counts once, and when both sides changed the same characters
differently both versions are kept (local first), so nothing is lost.
"""

from __future__ import annotations

from collections import Counter

from jupyter_crdt.text.diff import diff_sequences, diff_text

Edit = tuple[int, int, str]
"""``(start, end, replacement)``: replace ``a[start:end]`` by ``replacement`` (positions in the old text)."""


def text_edits(a: str, b: str) -> list[Edit]:
    """Edits turning ``a`` into ``b``, sorted, non-overlapping, in ``a``'s coordinates.

    Lines are matched first, so an inserted line is an edit at a line start (both sides of a merge then
    agree on where it goes); lines changed one for one are then diffed by characters, so edits of
    different words of a line merge.
    """
    if a == b:
        return []
    a_lines = a.splitlines(keepends=True)
    b_lines = b.splitlines(keepends=True)
    a_off = _offsets(a_lines)
    b_off = _offsets(b_lines)
    edits: list[Edit] = []
    for i1, i2, j1, j2 in diff_sequences(a_lines, b_lines):
        if i2 - i1 != j2 - j1:
            edits.append((a_off[i1], a_off[i2], b[b_off[j1] : b_off[j2]]))
            continue
        for k in range(i2 - i1):
            x, y, at = a_lines[i1 + k], b_lines[j1 + k], a_off[i1 + k]
            hunks = diff_text(x, y)
            changed = sum(h[1] - h[0] + h[3] - h[2] for h in hunks)
            if 2 * changed > len(x) + len(y):  # a different line, not an edited one
                edits.append((at, at + len(x), y))
            else:
                edits.extend((at + h[0], at + h[1], y[h[2] : h[3]]) for h in hunks)
    return edits


def _offsets(lines: list[str]) -> list[int]:
    out = [0]
    for line in lines:
        out.append(out[-1] + len(line))
    return out


def apply_edits(a: str, edits: list[Edit]) -> str:
    """``a`` with ``edits`` (sorted, non-overlapping) applied."""
    out: list[str] = []
    pos = 0
    for start, end, replacement in edits:
        out.append(a[pos:start])
        out.append(replacement)
        pos = end
    out.append(a[pos:])
    return "".join(out)


def apply_text(text, new: str) -> bool:
    """Make the shared ``text`` (a :class:`crdt.Text`) read ``new`` with a minimal change.

    Returns whether anything changed. Call inside a transaction to make it one update.
    """
    old = str(text)
    edits = text_edits(old, new)
    for start, end, replacement in reversed(edits):
        if end > start:
            text.delete(start, end - start)
        if replacement:
            text.insert(start, replacement)
    return bool(edits)


def merge_text(base: str, local: str, remote: str) -> str:
    """Three-way merge of two versions of ``base``.

    Edits to different places combine; an edit made identically on both sides is applied once; two
    different insertions at the same place are both kept (local first); overlapping different edits
    keep both replacements (local first, lines both have only once), so no side's text is lost.
    """
    if local == remote or remote == base:
        return local
    if local == base:
        return remote
    mine = text_edits(base, local)
    theirs = text_edits(base, remote)
    merged: list[Edit] = []
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
        cluster_mine: list[Edit] = []
        cluster_theirs: list[Edit] = []
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
        mine_text = apply_edits(segment, [(s - start, e - start, r) for s, e, r in cluster_mine])
        theirs_text = apply_edits(segment, [(s - start, e - start, r) for s, e, r in cluster_theirs])
        if mine_text == theirs_text:
            merged.append((start, end, mine_text))
        else:
            merged.append((start, end, _keep_both(mine_text, theirs_text)))
    return apply_edits(base, merged)


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


def _before(x: Edit, y: Edit) -> bool:
    """Whether edit ``x`` lies strictly before ``y`` (they can be applied independently)."""
    # Touching edits (one ends where the other starts) are merged together, as diff3 does: an insertion
    # right before a replaced range may repeat part of the replacement.
    return x[1] < y[0]


def _touches(e: Edit, start: int, end: int) -> bool:
    return e[0] <= end and e[1] >= start  # overlapping or touching (as in _before)
