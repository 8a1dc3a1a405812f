"""What each change of a notebook history did, in words: the ``log`` of the command line and the server.

The changes are replayed in order into one document; each change's structs (what it inserted) and delete
set (what it deleted) are located in that document: which root (``cells``, ``meta``, ``state``), which
cell, which field of the cell. That gives, per change: cells added and deleted, fields edited per cell
(with characters inserted and deleted in sources), notebook metadata keys changed, and whether the change
only touched bookkeeping (the ``state`` map and the cells' ``execution_state``, which are not part of the
file); ``log`` hides those.
"""

from __future__ import annotations

from collections.abc import Iterable, Sequence
from dataclasses import dataclass, field
from typing import Any

from crdt import Change, Doc, History, SharedType
from crdt.inspect import (
    ContentAny,
    ContentString,
    ContentType,
    DeleteSet,
    Item,
    decode_update,
    find_item,
    iter_items,
    map_item,
    root_key,
    structs_between,
    type_item,
)
from jupyter_crdt.notebook import schema as _schema
from jupyter_crdt.progress import NoProgress, Progress

BOOKKEEPING_FIELDS = frozenset({_schema.EXECUTION_STATE})


@dataclass
class CellEdit:
    """What one change did to one cell that existed before it."""

    id: str | None
    cell_type: str | None
    index: int | None  # in the notebook right after the change (None if deleted since)
    fields: set[str] = field(default_factory=set)
    inserted: int = 0  # source characters
    deleted: int = 0

    def to_dict(self) -> dict:
        return {"id": self.id, "cell_type": self.cell_type, "index": self.index,
                "fields": sorted(self.fields), "inserted": self.inserted, "deleted": self.deleted}


@dataclass
class ChangeSummary:
    """One change and what it did."""

    change: Change
    added: list[tuple[str | None, str | None, int | None]] = field(default_factory=list)  # id, type, index
    deleted: list[tuple[str | None, str | None]] = field(default_factory=list)  # id, type
    edited: dict[Any, CellEdit] = field(default_factory=dict)
    notebook: set[str] = field(default_factory=set)  # notebook fields / metadata keys changed
    bookkeeping_only: bool = True

    @property
    def visible(self) -> bool:
        return not self.bookkeeping_only

    def text(self) -> str:
        """A one-line summary: ``+1 cell (code), cell 3 source +12/-3, cell 5 outputs``."""
        c = self.change
        if c.kind == "import":
            return f"notebook imported ({len(self.added)} cells)"
        if c.kind == "squash":
            return f"{c.message or 'changes squashed'} ({len(self.added)} cells)"
        parts = []
        moved = {cid for cid, _ in self.deleted} & {cid for cid, _, _ in self.added}
        moved.discard(None)
        for cid, ctype, index in self.added:
            if cid in moved:
                parts.append(f"moved cell {index} ({ctype})")
            else:
                parts.append(f"added cell {index} ({ctype})"
                             if index is not None else f"added a {ctype} cell")
        for cid, ctype in self.deleted:
            if cid not in moved:
                parts.append(f"deleted a {ctype} cell" + (f" ({cid})" if cid else ""))
        for e in self.edited.values():
            where = f"cell {e.index}" if e.index is not None else f"cell {e.id}"
            bits = []
            for f in sorted(e.fields):
                if f == _schema.SOURCE:
                    bits.append(f"source +{e.inserted}/-{e.deleted}")
                else:
                    bits.append(f)
            parts.append(f"{where} {', '.join(bits)}")
        if self.notebook:
            parts.append("notebook " + ", ".join(sorted(self.notebook)))
        if not parts:
            parts.append("bookkeeping only" if self.bookkeeping_only else "no visible change")
        text = "; ".join(parts)
        if c.message and c.kind != "edit":
            text = f"{c.message}: {text}"
        elif c.message:
            text = f"{c.message} ({text})"
        return text

    def to_dict(self) -> dict:
        c = self.change
        return {
            "hash": c.hash, "deps": list(c.deps), "author": c.author, "time": c.time, "kind": c.kind,
            "message": c.message, "summary": self.text(), "bookkeeping_only": self.bookkeeping_only,
            "added": [{"id": i, "cell_type": t, "index": x} for i, t, x in self.added],
            "deleted": [{"id": i, "cell_type": t} for i, t in self.deleted],
            "edited": [e.to_dict() for e in self.edited.values()],
            "notebook": sorted(self.notebook),
        }


def summarize(history: History, version: Iterable[str] | str | None = None, *,
              progress: Progress | None = None) -> list[ChangeSummary]:
    """A summary of every change of ``version`` (default: everything), oldest first (topological order)."""
    ids = history.ancestors(version)
    changes = [c for c in history.changes if c.hash in ids]
    progress = progress or NoProgress()
    progress.total = len(changes)
    doc = Doc(gc=False)
    out = []
    for c in changes:
        view = decode_update(c.update)
        inserted = _inserted(view.structs)  # read before applying: the view's structs become the doc's
        doc.apply_update(view)
        out.append(_summarize_one(doc, c, inserted, view.delete_set))
        progress.advance()
    progress.close()
    return out


def visible_log(summaries: Sequence[ChangeSummary]) -> list[ChangeSummary]:
    return [s for s in summaries if s.visible]


# -- locating structs -----------------------------------------------------------------------------------


def _locate(item: Any) -> tuple[str | None, Any, Any]:
    """(root name, the item directly under the root, the item directly under that one or None)."""
    chain: list[Any] = []
    node = item
    while True:
        parent = node.parent
        if not isinstance(parent, SharedType):
            return None, None, None
        pitem = type_item(parent)
        if pitem is None:
            return root_key(parent), node, (chain[-1] if chain else None)
        chain.append(node)
        node = pitem


def _map_value(t: SharedType, key: str) -> Any:
    """The last value set for ``key`` in Map ``t``, deleted or not (content is kept in histories)."""
    it = map_item(t, key)
    if it is None or not isinstance(it, Item):
        return None
    content = it.content
    if isinstance(content, ContentAny) and content.arr:
        return content.arr[-1]
    if isinstance(content, ContentString):
        return content.s
    return None


class _CellIndex:
    """Index of live cells in the cells array, computed once per change when needed."""

    def __init__(self, doc: Doc) -> None:
        self.doc = doc
        self._index: dict[int, int] | None = None

    def of(self, item: Item) -> int | None:
        if item.deleted:
            return None
        if self._index is None:
            self._index = {}
            arr = self.doc.share.get(_schema.CELLS)
            n = 0
            for it in iter_items(arr, include_deleted=False) if arr is not None else ():
                if it.countable:
                    self._index[id(it)] = n
                    n += it.length
        return self._index.get(id(item))


def _inserted(structs: dict[int, list]) -> list[tuple[int, int, int]]:
    """(client, clock, characters of text) of each decoded item."""
    return [(client, st.clock, len(st.content.s) if isinstance(st.content, ContentString) else 0)
            for client, lst in structs.items() for st in lst if isinstance(st, Item)]


def _summarize_one(doc: Doc, change: Change, inserted: list[tuple[int, int, int]],
                   ds: DeleteSet) -> ChangeSummary:
    s = ChangeSummary(change)
    cells_index = _CellIndex(doc)
    created_cells: set[int] = set()
    # (integrated item, inserted chars, deleted chars, whether this change inserted it)
    touched: list[tuple[Item, int, int, bool]] = []

    for client, clock, n in inserted:
        it = find_item(doc, client, clock)
        if isinstance(it, Item):
            touched.append((it, n, 0, True))
    for client, ranges in ds.clients.items():
        for clock, length in ranges:
            end = clock + length
            for it in structs_between(doc, client, clock, end):
                if isinstance(it, Item):
                    overlap = min(end, it.clock + it.length) - max(clock, it.clock)
                    touched.append((it, 0, overlap, False))

    # cells added or deleted first: their contents are part of that, not edits
    for it, _ins, dels, was_inserted in touched:
        root, top, _ = _locate(it)
        if root == _schema.CELLS and top is it and isinstance(it.content, ContentType):
            t = it.content.type
            if was_inserted:
                created_cells.add(id(it))
                s.added.append((_map_value(t, "id"), _map_value(t, "cell_type"), cells_index.of(it)))
            elif dels:
                s.deleted.append((_map_value(t, "id"), _map_value(t, "cell_type")))
            s.bookkeeping_only = False
    deleted_cells = {cid for cid, _ in s.deleted}
    for it, ins, dels, _st in touched:
        root, top, sub = _locate(it)
        if root is None:
            continue
        if root == _schema.CELLS:
            if top is it or id(top) in created_cells or not isinstance(top.content, ContentType):
                continue
            t = top.content.type
            cid = _map_value(t, "id")
            if cid in deleted_cells and top.deleted:
                continue
            fld = sub.parent_sub if sub is not None else None
            if fld is None or fld in BOOKKEEPING_FIELDS:
                continue
            s.bookkeeping_only = False
            e = s.edited.get(id(top))
            if e is None:
                e = s.edited[id(top)] = CellEdit(cid, _map_value(t, "cell_type"), cells_index.of(top))
            e.fields.add(fld)
            if fld == _schema.SOURCE:
                e.inserted += ins
                e.deleted += dels
        elif root == _schema.META:
            s.bookkeeping_only = False
            key = top.parent_sub
            if key == _schema.METADATA and sub is not None and sub.parent_sub:
                s.notebook.add(f"metadata.{sub.parent_sub}")
            elif key:
                s.notebook.add(key)
        elif root == _schema.STATE:
            continue
        else:
            s.bookkeeping_only = False
            s.notebook.add(root)
    return s
