"""Document types a room can hold: how a file's content becomes a shared document and back.

A :class:`DocumentModel` knows one schema. Rooms only ever use these six operations, so adding a
document type means adding a model:

- :meth:`~DocumentModel.load` fills an empty document from file content;
- :meth:`~DocumentModel.export` reads the content back out (what gets saved);
- :meth:`~DocumentModel.apply` changes a document to new content with a minimal change (untouched
  parts keep their identity, so cursors and concurrent edits survive);
- :meth:`~DocumentModel.merge` merges two versions of a common base (three-way, at content level);
- :meth:`~DocumentModel.to_contents` / :meth:`~DocumentModel.from_contents` convert between content
  and the contents manager's models.

Schemas are JupyterLab's (``@jupyter/ydoc``): a text file (``text:file``, YFile) is a root Text
``source`` and a root Map ``state``; a notebook (``json:notebook``, YNotebook) is root Map ``meta``,
root Array ``cells`` and root Map ``state`` (see :mod:`jupyter_crdt.notebook`).
"""

from __future__ import annotations

import hashlib
import importlib
import json
from typing import Any

import crdt
from jupyter_crdt.text import apply_text, merge_text


class DocumentModel:
    """One document schema (see the module docstring). Subclasses set :attr:`format` and :attr:`type`."""

    format: str = ""
    """The contents manager's format: ``"text"`` or ``"json"``."""
    type: str = ""
    """The collaboration type: ``"file"`` or ``"notebook"``."""
    contents_type: str = ""
    """The contents manager's type: ``"file"`` or ``"notebook"``."""

    def load(self, doc: crdt.Doc, content: Any) -> None:
        raise NotImplementedError

    def export(self, doc: crdt.Doc, problems: list[str] | None = None) -> Any:
        """The content of ``doc``; parts it cannot hold (hostile structure) are left out and described
        in ``problems`` when given (``docs/security.md``, *Bounds*)."""
        raise NotImplementedError

    def apply(self, doc: crdt.Doc, content: Any) -> bool:
        """Make ``doc`` hold ``content`` with a minimal change; returns whether anything changed."""
        raise NotImplementedError

    def merge(self, base: Any, local: Any, remote: Any) -> Any:
        raise NotImplementedError

    def to_contents(self, content: Any) -> Any:
        """The ``content`` field of a contents-manager model for saving ``content``."""
        return content

    def from_contents(self, content: Any) -> Any:
        """Content from the ``content`` field of a contents-manager model."""
        return content

    def digest(self, content: Any) -> str:
        """A stable hash of ``content`` (to tell a ``touch`` from a real change)."""
        raise NotImplementedError


class TextFileModel(DocumentModel):
    """A plain text file: root Text ``source`` (JupyterLab's YFile)."""

    format = "text"
    type = "file"
    contents_type = "file"

    def load(self, doc: crdt.Doc, content: str) -> None:
        with doc.transact():
            doc.get_text("source").insert(0, content)

    def export(self, doc: crdt.Doc, problems: list[str] | None = None) -> str:
        return str(doc.get_text("source"))

    def apply(self, doc: crdt.Doc, content: str) -> bool:
        with doc.transact():
            return apply_text(doc.get_text("source"), content, granularity="lines")

    def merge(self, base: str, local: str, remote: str) -> str:
        return merge_text(base, local, remote, strategy="union").text

    def digest(self, content: str) -> str:
        return hashlib.sha256(content.encode("utf-8", "surrogatepass")).hexdigest()


class NotebookModel(DocumentModel):
    """A notebook (JupyterLab's YNotebook), through :mod:`jupyter_crdt.notebook`."""

    format = "json"
    type = "notebook"
    contents_type = "notebook"

    def __init__(self) -> None:
        self._nb = importlib.import_module("jupyter_crdt.notebook")

    def load(self, doc: crdt.Doc, content: dict) -> None:
        self._nb.notebook_to_doc(content, doc)

    def export(self, doc: crdt.Doc, problems: list[str] | None = None) -> dict:
        return self._nb.doc_to_notebook(doc, problems=problems)

    def apply(self, doc: crdt.Doc, content: dict) -> bool:
        before = doc.state_vector()
        with doc.transact():
            self._nb.apply_notebook(doc, content)
        return doc.state_vector() != before

    def merge(self, base: dict, local: dict, remote: dict) -> dict:
        """:func:`jupyter_crdt.notebook.merge_notebooks` for the notebook's structure (cells, outputs,
        metadata), with every source that both sides hold merged as the server merges text
        (:func:`jupyter_crdt.text.merge_text`, strategy ``union``): the same line added on both sides (a stale
        client's copy of an edit the room already has) counts once, and a true conflict keeps both
        versions without conflict markers, which a room must never write into a notebook people are
        editing live."""
        merged, _report = self._nb.merge_notebooks(base, local, remote)
        merged = json.loads(json.dumps(merged))
        sources = [{c.get("id"): _source(c) for c in nb.get("cells", [])} for nb in (base, local, remote)]
        for cell in merged.get("cells", []):
            cid = cell.get("id")
            b, lo, r = (s.get(cid) for s in sources)
            if cid is None or lo is None or r is None:
                continue
            cell["source"] = merge_text(b if b is not None else "", lo, r, strategy="union").text
        return merged

    def to_contents(self, content: dict) -> dict:
        return content

    def from_contents(self, content: Any) -> dict:
        nb = json.loads(json.dumps(content))  # NotebookNode -> plain dicts
        # The contents manager marks cells "trusted" on reading; that is transient, never in the file.
        for cell in nb.get("cells", []):
            metadata = cell.get("metadata")
            if isinstance(metadata, dict):
                metadata.pop("trusted", None)
        return nb

    def digest(self, content: dict) -> str:
        text = json.dumps(content, sort_keys=True, ensure_ascii=False, separators=(",", ":"))
        return hashlib.sha256(text.encode("utf-8", "surrogatepass")).hexdigest()


def _source(cell: dict) -> str:
    source = cell.get("source", "")
    return source if isinstance(source, str) else "".join(source)


def notebooks_available() -> bool:
    """Whether the notebook schema module exists yet (it is written separately)."""
    try:
        importlib.import_module("jupyter_crdt.notebook")
    except ImportError:
        return False
    return True


def model_for(file_format: str, file_type: str) -> DocumentModel | None:
    """The model serving ``format:type`` rooms, or None if that type is not served."""
    if (file_format, file_type) == ("text", "file"):
        return TextFileModel()
    if (file_format, file_type) == ("json", "notebook") and notebooks_available():
        return NotebookModel()
    return None
