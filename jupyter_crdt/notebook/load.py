"""Deterministic import: the same notebook always becomes the same update bytes.

The import is one transaction made with a client id derived from a hash of the (repaired) notebook, so two
people who load the same file independently hold identical documents that merge as one. Afterwards the
document switches to a fresh random client id: any later edit made under the derived id would collide
with the same id's edits in every other copy of the import.
"""

from __future__ import annotations

import hashlib
import json
import math
import random
import struct
from collections.abc import Mapping
from typing import Any

from crdt import Doc
from jupyter_crdt.notebook import schema as _schema
from jupyter_crdt.notebook.normalize import NotebookFormatError, prepare

# Part of every content hash: change it whenever the layout of an imported document changes.
LAYOUT_VERSION = b"jupyter-crdt notebook layout 1 (@jupyter/ydoc 2.0.0 schema)\x00"
LOAD_ORIGIN = "jupyter_crdt.notebook_to_doc"
_MAX_CLIENT = (1 << 53) - 1


def notebook_to_doc(nb: Mapping, doc: Doc | None = None, *, name: str | None = None) -> Doc:
    """Load the nbformat notebook ``nb`` into a new document (or into ``doc``, which must be empty).

    Notebooks older than nbformat 4 are upgraded through nbformat; cells without an id, or with one
    another cell already has, get ids derived from their content and position (with nbformat's warnings).
    ``name`` (a file name) is used in error messages and warnings. Raises ``NotebookFormatError`` for a
    notebook the document cannot hold.
    """
    nb, _ = prepare(nb, name=name)
    if doc is None:
        doc = Doc()
    elif not _schema.is_empty(doc):
        raise ValueError("notebook_to_doc needs an empty document; use apply_notebook to change one")
    try:
        client = content_client_id(nb)
    except (TypeError, ValueError) as e:
        raise NotebookFormatError(f"not plain JSON data: {e}", name) from None
    doc.client_id = client
    try:
        with doc.transact(origin=LOAD_ORIGIN):
            _schema.load(doc, nb)
    except TypeError as e:
        raise NotebookFormatError(f"not plain JSON data: {e}", name) from None
    finally:
        doc.client_id = _fresh_client_id(client)
    return doc


def content_client_id(nb: Mapping) -> int:
    """The client id of the import of ``nb``: a hash of its content, below 2**53 (safe in JavaScript)."""
    h = hashlib.sha256(LAYOUT_VERSION)  # SHA-256: the fastest hashlib hash on CPUs with SHA instructions
    _feed(h, nb)
    return (int.from_bytes(h.digest()[:8], "little") & _MAX_CLIENT) or 1


def _fresh_client_id(avoid: int) -> int:
    while True:
        c = random.getrandbits(53)
        if c and c != avoid:
            return c


# A canonical, Python-version-independent serialization fed straight into the hash: a tag and a
# length before every value, so different values never feed the same bytes. Big strings (sources,
# images) go to the hash as they are; metadata trees full of small values go through json.dumps (C).
def _feed(h, v: Any) -> None:
    upd = h.update
    t = type(v)
    if t is str:
        b = v.encode("utf-8", "surrogatepass")
        upd(b"s%d:" % len(b))
        upd(b)
    elif isinstance(v, Mapping):
        upd(b"d%d:" % len(v))
        for k, x in v.items():
            if type(k) is not str:
                raise TypeError(f"object keys must be strings, not {type(k).__name__}")
            b = k.encode("utf-8", "surrogatepass")
            upd(b"k%d:" % len(b))
            upd(b)
            if k == "metadata" and isinstance(x, Mapping):
                _feed_json(h, x)
            else:
                _feed(h, x)
    elif t is list or t is tuple:
        upd(b"l%d:" % len(v))
        for x in v:
            _feed(h, x)
    elif v is None:
        upd(b"n")
    elif v is True:
        upd(b"t")
    elif v is False:
        upd(b"f")
    elif t is int:
        upd(b"i%d;" % v)
    elif t is float:
        upd(b"g" + (struct.pack("<d", v) if not math.isnan(v) else b"nan"))
    elif isinstance(v, (bytes, bytearray)):
        upd(b"b%d:" % len(v))
        upd(bytes(v))
    else:
        raise TypeError(f"cannot store a {t.__name__} in a notebook document")


def _feed_json(h, md: Mapping) -> None:
    try:
        text = json.dumps(md, ensure_ascii=True, separators=(",", ":"), check_circular=False, allow_nan=True)
    except (TypeError, ValueError):
        h.update(b"M")
        _feed(h, md)
        return
    b = text.encode("ascii")
    # json.dumps writes True as true and 1.0 as 1.0, 1 as 1: injective for JSON data.
    h.update(b"m%d:" % len(b))
    h.update(b)
