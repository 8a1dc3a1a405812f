"""Naming versions of a history on the command line: ``REV``.

- ``HEAD`` (or ``@``): the ``main`` branch; any branch name (``main``, ``written``, ...): that branch;
- a change hash or a prefix of one (at least 4 hex digits): that change and everything before it;
- ``REV~N``: the N-th visible change before ``REV``, counted in ``log``'s order (bookkeeping-only changes,
  which ``log`` hides, are not counted): ``HEAD~1`` is the version before the newest change in ``log``.
"""

from __future__ import annotations

import re
from collections.abc import Callable

from crdt import History
from jupyter_crdt.history.document import MAIN
from jupyter_crdt.history.log import summarize, visible_log

__all__ = ["RevisionError", "resolve"]

_TILDE = re.compile(r"^(.*?)~(\d*)$")


class RevisionError(ValueError):
    """A REV that names no version of the history."""


def resolve(history: History, rev: str | None, *, visible: Callable[[frozenset[str]], list] | None = None
            ) -> frozenset[str]:
    """The version (a set of heads) ``rev`` names. ``visible(version)``: the hashes ``log`` shows for it."""
    if rev is None or rev in ("", "HEAD", "@"):
        return history.branch(MAIN)
    m = _TILDE.match(rev)
    if m:
        base = resolve(history, m.group(1) or "HEAD", visible=visible)
        n = int(m.group(2) or 1)
        if visible is None:

            def visible(v: frozenset[str]) -> list:  # noqa: F811 - the default
                return [s.change.hash for s in visible_log(summarize(history, v))]

        shown = visible(base)
        if n >= len(shown):
            raise RevisionError(f"{rev}: the history has only {len(shown)} visible change(s) before it")
        # the version just after the (len - n)-th visible change: it and everything before it
        return frozenset((shown[len(shown) - 1 - n],))
    branches = history.branches
    if rev in branches:
        return branches[rev]
    if re.fullmatch(r"[0-9a-fA-F]+", rev):
        try:
            return frozenset((history.resolve(rev),))
        except (KeyError, ValueError) as e:
            raise RevisionError(str(e).strip("'\"")) from None
    raise RevisionError(f"{rev!r} names no change or branch (give a hash prefix, a branch, HEAD or HEAD~N)")
