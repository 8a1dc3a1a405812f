"""Text algorithms: the one diff engine, the one three-way text merge, the one way to rewrite a shared text.

Plain strings in and out, plus :class:`crdt.Text` for :func:`apply_text`; nothing here knows notebooks::

    from jupyter_crdt.text import apply_text, diff_text, merge_text
    diff_text("compute(alpha)", "compute(ALPHA)")          # [(8, 13, 8, 13)]: a[8:13] becomes b[8:13]
    text, conflicts = merge_text(base, local, remote)       # conflicts between git-style markers
    text, conflicts = merge_text(base, local, remote, strategy="union")   # both versions kept, no markers
    apply_text(doc.get_text("source"), new)                 # the smallest change (in one transaction)

Imports only the engine (``crdt``) and the standard library.
"""

from jupyter_crdt.text.apply import apply_text
from jupyter_crdt.text.diff import Granularity, Hunk, apply_hunks, diff_sequences, diff_text, similarity
from jupyter_crdt.text.merge import (
    LOCAL_MARKER,
    MIDDLE_MARKER,
    REMOTE_MARKER,
    MergeStrategy,
    TextConflict,
    TextMerge,
    merge_text,
)

__all__ = [
    "diff_text",
    "diff_sequences",
    "apply_hunks",
    "similarity",
    "Hunk",
    "Granularity",
    "merge_text",
    "TextMerge",
    "TextConflict",
    "MergeStrategy",
    "LOCAL_MARKER",
    "MIDDLE_MARKER",
    "REMOTE_MARKER",
    "apply_text",
]
