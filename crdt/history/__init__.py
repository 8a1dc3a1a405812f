"""Histories: a document's past as a DAG of changes, its versions, branches, and the grouping of edits.

A :class:`Change` is ``{deps, author, time, kind, message, meta, update}`` plus ``hash``, the SHA-256 of
a canonical msgpack encoding of the rest (layout in ``docs/file-format.md``). ``update`` is a Yjs v1
update; ``deps`` are the hashes of the changes its author had seen (the heads at the time), so the
changes form a DAG and a hash names a change together with its whole past.

A :class:`History` holds changes. Its *heads* are the changes no other change depends on; a *version*
is a set of heads, and the document at a version is the union of the updates of its ancestors
(:meth:`History.doc_at`). Yjs updates commute and are idempotent, so two histories merge by union
(:meth:`History.merge`). Branches are named versions; ``"main"`` always exists.

Every change's deps also cover the changes holding the structs its update refers to (the previous
clock of its client, origins, parents, deleted ranges), so the update of any version applies to a
fresh document with nothing left pending. :meth:`History.record` computes such deps; :meth:`History.add`
takes a change made elsewhere and refuses one whose deps are missing.

A :class:`ChangeGrouper` turns a stream of small updates (keystrokes) into few changes: it joins
consecutive updates of one author and flushes on another author's update, an idle gap, a size cap or
on request. It never joins across another author's update, so it never reorders authors and never
creates a cycle.

Modules, one idea each: :mod:`.change` (a change and its hash), :mod:`.graph` (queries over the DAG),
:mod:`.index` (which change holds which struct), :mod:`.branches` (named versions), :mod:`.history`
(the history: changes, branches, documents), :mod:`.combine` (many updates into one), :mod:`.grouper`
(edits into changes).
"""

from .branches import MAIN, Branches
from .change import CHANGE_TAG, Change, MissingDependencyError
from .combine import combine_updates
from .grouper import DEFAULT_IDLE, DEFAULT_MAX_BYTES, ChangeGrouper
from .history import History, Version
from .index import MissingStructsError

__all__ = [
    "Change",
    "History",
    "ChangeGrouper",
    "MissingDependencyError",
    "MissingStructsError",
    "combine_updates",
    "CHANGE_TAG",
    "DEFAULT_IDLE",
    "DEFAULT_MAX_BYTES",
    "MAIN",
    "Branches",
    "Version",
]
