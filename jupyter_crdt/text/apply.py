"""The one way to make a shared text read a new string: the smallest change, by a diff.

Untouched characters keep their identity, so cursors stay where they are and concurrent edits elsewhere
in the text survive. Each granularity of :func:`~jupyter_crdt.text.diff.diff_text` comes with the order
in which it carries out a hunk, and that order is part of its contract: it decides where the new text is
anchored (a concurrent insertion at the border of a replaced run lands before or after it), so it decides
the update bytes, which histories hash into change ids and expect to stay the same from one version of
this package to the next.

- ``"chars"`` (notebook cell sources): insert the new text before the run it replaces, then delete the run.
- ``"lines"`` (plain text files): delete the run, then insert the new text where it was.
"""

from __future__ import annotations

from crdt import Text
from jupyter_crdt.text.diff import Granularity, diff_text


def apply_text(text: Text, new: str, *, granularity: Granularity = "chars") -> bool:
    """Make the shared ``text`` read ``new`` with a minimal change; returns whether anything changed.

    Call inside a transaction to make it one update (last hunk first, so indices hold).
    """
    old = str(text)
    if old == new:
        return False
    hunks = diff_text(old, new, granularity=granularity)
    if granularity == "lines":
        for i1, i2, j1, j2 in reversed(hunks):
            if i2 > i1:
                text.delete(i1, i2 - i1)
            if j2 > j1:
                text.insert(i1, new[j1:j2])
    else:
        for i1, i2, j1, j2 in reversed(hunks):
            if j2 > j1:
                text.insert(i1, new[j1:j2])
            if i2 > i1:
                text.delete(i1 + (j2 - j1), i2 - i1)
    return bool(hunks)
