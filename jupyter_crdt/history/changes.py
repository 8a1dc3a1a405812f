"""Making changes that are the same wherever they are made.

Two copies of a history that record the same edit (the import of one file, the same edit of the file
found on two machines, the merge rules applied to the same two versions) must record the *same change*
(same structs, same hash), or a later union of the copies would hold the edit twice. Such changes are
made with a client id derived from what they are made from (:func:`derived_client_id`), on the version
they are made from (:func:`record_on`), as the one update of one transaction (:func:`capture`).
"""

from __future__ import annotations

import hashlib
import secrets
from collections.abc import Callable, Iterable, Mapping
from typing import Any

from crdt import Change, Doc, History
from jupyter_crdt.notebook import schema as _schema

__all__ = ["derived_client_id", "record_on", "capture", "notebook_at"]

_MAX_CLIENT = (1 << 53) - 1


def derived_client_id(tag: str, parts: Iterable[str | bytes]) -> int:
    """A Yjs client id (1 .. 2**53-1) that is a hash of ``tag`` and ``parts``."""
    h = hashlib.sha256(tag.encode() + b"\0")
    for p in parts:
        h.update(p.encode() if isinstance(p, str) else p)
        h.update(b"\0")
    return (int.from_bytes(h.digest()[:8], "big") & _MAX_CLIENT) or 1


def record_on(
    history: History, version: Iterable[str], update: bytes, author: str, *, kind: str, time: float,
    message: str | None = None, meta: Mapping[str, Any] | None = None,
) -> Change | None:
    """Record ``update`` as a change built on ``version`` (no branch moves). None if it holds nothing new."""
    tmp = f"\x00tmp-{secrets.token_hex(8)}"
    history.set_branch(tmp, frozenset(version))
    try:
        return history.record(update, author, time=time, kind=kind, message=message, meta=meta, branch=tmp)
    finally:
        history.delete_branch(tmp)


def capture(doc: Doc, origin: Any, fn: Callable[..., object], *args: Any) -> bytes | None:
    """Run ``fn(*args)`` in one transaction on ``doc``; the update it made (None if nothing changed)."""
    out: list[bytes] = []
    handler = doc.observe_updates(lambda u, o: out.append(u))
    try:
        with doc.transact(origin=origin):
            fn(*args)
    finally:
        doc.unobserve_updates(handler)
    return out[0] if out else None


def notebook_at(history: History, version: Iterable[str] | None, **kw: Any) -> Any:
    """The notebook of ``version`` with every cell id kept (the form merges and diffs work on)."""
    return _schema.export(history.doc_at(version, **kw), keep_ids=True)
