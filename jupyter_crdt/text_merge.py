"""Character-level text diffs and three-way merges, for plain text documents.

:func:`text_edits` finds a small set of edits turning one string into another (common prefix and suffix
trimmed, then lines matched, then characters matched inside changed line blocks), :func:`apply_text`
applies such edits to a shared :class:`crdt.Text` so that untouched characters keep their identity
(cursors stay where they are), and :func:`merge_text` merges two versions of a common base: edits of
different characters combine, the same edit made on both sides counts once, and when both sides changed
the same characters differently both versions are kept (local first), so nothing is lost.
"""

from __future__ import annotations

from collections import Counter
from difflib import SequenceMatcher

#: Changed line blocks larger than this (in characters, both sides added) are replaced whole instead of
#: being matched character by character (character matching is quadratic in the worst case).
CHAR_DIFF_LIMIT = 20_000

Edit = tuple[int, int, str]
"""``(start, end, replacement)``: replace ``a[start:end]`` by ``replacement`` (positions in the old text)."""


def text_edits(a: str, b: str) -> list[Edit]:
    """Edits turning ``a`` into ``b``, sorted, non-overlapping, in ``a``'s coordinates."""
    if a == b:
        return []
    # Trim what both share, at line boundaries (so the line diff below sees whole lines).
    prefix = _common_prefix(a, b)
    prefix = a.rfind("\n", 0, prefix) + 1
    suffix = _common_suffix(a, b, prefix)
    while suffix and not (suffix == len(a) - prefix or a[len(a) - suffix - 1] == "\n") \
            or suffix and not (suffix == len(b) - prefix or b[len(b) - suffix - 1] == "\n"):
        cut = a.find("\n", len(a) - suffix)
        suffix = 0 if cut < 0 else len(a) - cut - 1
    a_mid = a[prefix : len(a) - suffix]
    b_mid = b[prefix : len(b) - suffix]
    if not a_mid or not b_mid:
        return [(prefix, prefix + len(a_mid), b_mid)]
    edits: list[Edit] = []
    a_lines = a_mid.splitlines(keepends=True)
    b_lines = b_mid.splitlines(keepends=True)
    a_off = _offsets(a_lines)
    b_off = _offsets(b_lines)
    matcher = SequenceMatcher(None, a_lines, b_lines, autojunk=False)
    for tag, i1, i2, j1, j2 in matcher.get_opcodes():
        if tag == "equal":
            continue
        a_start, a_end = a_off[i1], a_off[i2]
        b_start, b_end = b_off[j1], b_off[j2]
        old, new = a_mid[a_start:a_end], b_mid[b_start:b_end]
        if tag == "replace" and i2 - i1 == j2 - j1 and len(old) + len(new) <= CHAR_DIFF_LIMIT:
            # Changed lines, one for one: diff each pair by characters (edits of different words of a
            # line then merge). Blocks of different sizes are replaced whole.
            for k in range(i2 - i1):
                off = a_off[i1 + k]
                x, y = a_lines[i1 + k], b_lines[j1 + k]
                matcher = SequenceMatcher(None, x, y, autojunk=False)
                if matcher.ratio() < 0.5:  # a different line, not an edited one
                    edits.append((prefix + off, prefix + off + len(x), y))
                    continue
                for tag2, x1, x2, y1, y2 in matcher.get_opcodes():
                    if tag2 != "equal":
                        edits.append((prefix + off + x1, prefix + off + x2, y[y1:y2]))
        else:
            edits.append((prefix + a_start, prefix + a_end, new))
    return edits


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
        prefix = _common_prefix(mine, theirs)
        if prefix == len(mine) or prefix == len(theirs):  # one extends the other
            return mine if len(mine) >= len(theirs) else theirs
        return mine + theirs
    # Each line appears as often as the version that has it most: a line both sides added (the same
    # edit, seen by both) is kept once even where the two versions order their lines differently.
    extra = Counter(b) - Counter(a)
    out: list[str] = []
    for tag, i1, i2, j1, j2 in SequenceMatcher(None, a, b, autojunk=False).get_opcodes():
        out.extend(a[i1:i2])
        if tag != "equal":
            for line in b[j1:j2]:
                if extra[line] > 0:
                    extra[line] -= 1
                    out.append(line)
    return "".join(out)


def _before(x: Edit, y: Edit) -> bool:
    """Whether edit ``x`` lies strictly before ``y`` (they can be applied independently)."""
    # Touching edits (one ends where the other starts) are merged together, as diff3 does: an insertion
    # right before a replaced range may repeat part of the replacement.
    return x[1] < y[0]


def _touches(e: Edit, start: int, end: int) -> bool:
    return e[0] <= end and e[1] >= start  # overlapping or touching (as in _before)


def _char_edits(a: str, b: str) -> list[Edit]:
    matcher = SequenceMatcher(None, a, b, autojunk=False)
    return [(i1, i2, b[j1:j2]) for tag, i1, i2, j1, j2 in matcher.get_opcodes() if tag != "equal"]


def _offsets(lines: list[str]) -> list[int]:
    out = [0]
    for line in lines:
        out.append(out[-1] + len(line))
    return out


def _common_prefix(a: str, b: str) -> int:
    n = min(len(a), len(b))
    lo, hi = 0, n
    while lo < hi:  # binary search on slices: fast for long equal prefixes
        mid = (lo + hi + 1) // 2
        if a[:mid] == b[:mid]:
            lo = mid
        else:
            hi = mid - 1
    return lo


def _common_suffix(a: str, b: str, prefix: int) -> int:
    n = min(len(a), len(b)) - prefix
    lo, hi = 0, n
    while lo < hi:
        mid = (lo + hi + 1) // 2
        if a[len(a) - mid :] == b[len(b) - mid :]:
            lo = mid
        else:
            hi = mid - 1
    return lo
