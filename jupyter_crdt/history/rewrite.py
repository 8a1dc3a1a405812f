"""Rewriting a history: ``squash`` (many changes become one) and ``purge`` (a text gone from every version).

Both build a new :class:`crdt.History`; the caller replaces the sidecar with it (``HistoryWriter.compact``,
an atomic rewrite). Changes after the rewritten ones keep their updates, authors and times, but get new
hashes because their deps changed. Copies of the notebook made before keep their old history, and a later
union with one of them brings the old changes back; the command line says so.

**squash** replaces the changes of a version (default: ``main``) by one change holding that version's state
with deleted content garbage-collected (as Yjs does: deleted text keeps its ids but loses its characters,
the insides of deleted cells are dropped), so what was deleted before that version is gone from the file.

**purge** finds every place the text occurs, in any version: runs of characters of a Yjs text (sources and
stream outputs, deleted characters included, in document order) and plain values (outputs, metadata)
containing it. Matching characters become deleted content in the change that inserted them (same ids and
lengths, so every later change still applies); a plain value containing it has each such string replaced by
``"[purged]"`` (same id). Every version of the notebook then lacks the text, the current one included.
"""

from __future__ import annotations

from collections.abc import Iterable, Mapping
from dataclasses import dataclass, field
from typing import Any

from crdt import Change, History, SharedType
from crdt.inspect import (
    ContentAny,
    ContentBinary,
    ContentDeleted,
    ContentEmbed,
    ContentJSON,
    ContentString,
    DeleteSet,
    Item,
    decode_update,
    encode_update,
    iter_items,
    iter_structs,
)
from jupyter_crdt.progress import NoProgress, Progress

PURGED = "[purged]"
MAIN = "main"


@dataclass
class RewriteReport:
    changes_before: int = 0
    changes_after: int = 0
    rewritten: int = 0  # changes whose content changed (purge) or that were folded into one (squash)
    occurrences: int = 0  # purge: places the text was found
    remaining: int = 0  # purge: changes whose bytes still hold the text (should be 0)
    authors: list[str] = field(default_factory=list)


def _rebuild(history: History, replace: Mapping[str, Change | None], first: Iterable[Change] = (),
             folded: Mapping[str, str] | None = None, progress: Progress | None = None) -> History:
    """A new history: ``first`` changes, then every change of ``history`` not folded, with deps remapped.

    ``replace``: hash -> a change with new fields (its deps are remapped too). ``folded``: hash -> the hash
    of the change that now stands for it.
    """
    progress = progress or NoProgress()
    new = History()
    mapping: dict[str, str] = dict(folded or {})
    for c in first:
        new.add(c)
    for c in history.changes:
        progress.advance()
        if c.hash in mapping:
            continue
        src = replace.get(c.hash) or c
        deps = {mapping.get(d, d) for d in c.deps}
        nc = Change(tuple(deps), src.author, src.time, src.update, kind=src.kind, message=src.message,
                    meta=src.meta)
        new.add(nc, check=src is not c)
        mapping[c.hash] = nc.hash
    for name, heads in history.branches.items():
        new.set_branch(name, {mapping[h] for h in heads})
    progress.close()
    return new


# -- squash ---------------------------------------------------------------------------------------------


def squash(history: History, version: Iterable[str] | None = None, *, progress: Progress | None = None
           ) -> tuple[History, RewriteReport]:
    """Fold the changes of ``version`` (default: ``main``) into one ``squash`` change. See the module doc."""
    version = history.branch(MAIN) if version is None else history.heads_of(version)
    cut = history.ancestors(version)
    report = RewriteReport(changes_before=len(history), rewritten=len(cut))
    if len(cut) <= 1:
        report.changes_after = len(history)
        return history, report
    folded = [c for c in history.changes if c.hash in cut]
    authors = sorted({c.author for c in folded})
    doc = history.doc_at(version, gc=True)
    update = doc.encode_state_as_update()
    s = Change((), "squash", max(c.time for c in folded), update, kind="squash",
               message=f"{len(folded)} changes squashed", meta={"authors": authors, "squashed": len(folded)})
    new = _rebuild(history, {}, [s], {h: s.hash for h in cut}, progress)
    report.changes_after = len(new)
    report.authors = authors
    return new, report


# -- purge ----------------------------------------------------------------------------------------------


def _contains(v: Any, text: str) -> bool:
    if isinstance(v, str):
        return text in v
    if isinstance(v, (bytes, bytearray)):
        return text.encode() in v
    if isinstance(v, Mapping):
        return any(_contains(k, text) or _contains(x, text) for k, x in v.items())
    if isinstance(v, (list, tuple)):
        return any(_contains(x, text) for x in v)
    return False


def _redact(v: Any, text: str) -> Any:
    if isinstance(v, str):
        return PURGED if text in v else v
    if isinstance(v, (bytes, bytearray)):
        return b"" if text.encode() in v else v
    if isinstance(v, Mapping):
        return {(_redact(k, text) if isinstance(k, str) else k): _redact(x, text) for k, x in v.items()}
    if isinstance(v, list):
        return [_redact(x, text) for x in v]
    return v


class _Ranges:
    """Clock ranges per client (unsorted while collecting)."""

    def __init__(self) -> None:
        self.by_client: dict[int, list[tuple[int, int]]] = {}

    def add(self, client: int, start: int, end: int) -> None:
        self.by_client.setdefault(client, []).append((start, end))

    def finish(self) -> None:
        for client, rs in self.by_client.items():
            rs.sort()
            out: list[tuple[int, int]] = []
            for s, e in rs:
                if out and out[-1][1] >= s:
                    out[-1] = (out[-1][0], max(out[-1][1], e))
                else:
                    out.append((s, e))
            self.by_client[client] = out

    def overlaps(self, client: int, start: int, end: int) -> list[tuple[int, int]]:
        ranges = self.by_client.get(client, ())
        return [(max(s, start), min(e, end)) for s, e in ranges if s < end and e > start]


def _find(history: History, text: str) -> tuple[_Ranges, set[tuple[int, int]], int]:
    """Where ``text`` occurs: character ranges of texts, and (client, clock) of plain values holding it."""
    doc = history.doc_at(None)
    chars = _Ranges()
    values: set[tuple[int, int]] = set()
    count = 0
    parents: dict[int, SharedType] = {}
    for it in iter_structs(doc):
        if not isinstance(it, Item):
            continue
        content = it.content
        if isinstance(content, ContentString):
            if isinstance(it.parent, SharedType):
                parents[id(it.parent)] = it.parent
        elif isinstance(content, (ContentAny, ContentJSON, ContentEmbed, ContentBinary)):
            for k, v in enumerate(content.values()):
                if _contains(v, text):
                    values.add((it.client, it.clock + k))
                    count += 1
    for t in parents.values():
        run: list[str] = []
        ids: list[tuple[int, int, int]] = []  # per character: client, clock, utf-16 units
        for it in iter_items(t):
            if isinstance(it.content, ContentString):
                clock = it.clock
                for ch in it.content.s:
                    units = 2 if ord(ch) > 0xFFFF else 1
                    run.append(ch)
                    ids.append((it.client, clock, units))
                    clock += units
            elif not isinstance(it.content, ContentDeleted):  # purged or collected text does not break a run
                count += _search(run, ids, text, chars)
                run, ids = [], []
        count += _search(run, ids, text, chars)
    chars.finish()
    return chars, values, count


def _search(run: list[str], ids: list[tuple[int, int, int]], text: str, chars: _Ranges) -> int:
    """Add the characters of every occurrence of ``text`` in ``run`` to ``chars``; returns how many."""
    found = 0
    s = "".join(run)
    pos = s.find(text)
    while pos >= 0:
        for client, clock, units in ids[pos : pos + len(text)]:
            chars.add(client, clock, clock + units)
        found += 1
        pos = s.find(text, pos + len(text))
    return found


def _piece(st: Item, offset: int, length: int, deleted: bool) -> Item:
    """Clocks ``[offset, offset + length)`` of decoded item ``st`` as an item of their own."""
    if deleted:
        content: Any = ContentDeleted(length)
    else:
        content = st.content.copy()
        if offset:
            content = content.splice(offset)
        if length < st.length - offset:
            content.splice(length)
    client = st.client
    origin = st.origin if offset == 0 else (client, st.clock + offset - 1)
    parent = st.parent if offset == 0 else None
    return Item(client, st.clock + offset, length, origin, st.right_origin, None, None, parent, st.parent_sub,
                content)


def _purge_update(update: bytes, text: str, chars: _Ranges, values: set[tuple[int, int]]) -> bytes | None:
    view = decode_update(update)
    refs, ds = view.structs, view.delete_set
    changed = False
    blanked = DeleteSet()
    for client, structs in refs.items():
        out = []
        for st in structs:
            if not isinstance(st, Item):
                out.append(st)
                continue
            content = st.content
            if isinstance(content, ContentString):
                hits = chars.overlaps(client, st.clock, st.clock + st.length)
                if not hits:
                    out.append(st)
                    continue
                changed = True
                pos = st.clock
                for s, e in hits:
                    if s > pos:
                        out.append(_piece(st, pos - st.clock, s - pos, False))
                    out.append(_piece(st, s - st.clock, e - s, True))
                    blanked.add(client, s, e - s)
                    pos = e
                end = st.clock + st.length
                if pos < end:
                    out.append(_piece(st, pos - st.clock, end - pos, False))
                continue
            if isinstance(content, (ContentAny, ContentJSON, ContentEmbed)):
                vals = content.values()
                if any((client, st.clock + k) in values for k in range(len(vals))):
                    new_vals = [_redact(v, text) if (client, st.clock + k) in values else v
                                for k, v in enumerate(vals)]
                    if isinstance(content, ContentEmbed):
                        new_content: Any = ContentEmbed(new_vals[0])
                    else:
                        new_content = type(content)(new_vals)
                    st.content = new_content
                    changed = True
            elif isinstance(content, ContentBinary) and (client, st.clock) in values:
                st.content = ContentBinary(b"")
                changed = True
            out.append(st)
        refs[client] = out
    if not changed:
        return None
    ds.merge(blanked)
    return encode_update(refs, ds)


def purge(history: History, text: str, *, progress: Progress | None = None) -> tuple[History, RewriteReport]:
    """Remove ``text`` from every version of ``history`` (see the module docstring)."""
    if not text:
        raise ValueError("purge needs a non-empty text")
    chars, values, count = _find(history, text)
    report = RewriteReport(changes_before=len(history), occurrences=count)
    replace: dict[str, Change | None] = {}
    needle = text.encode("utf-8")
    for c in history.changes:
        msg_hit = c.message is not None and text in c.message
        meta_hit = _contains(c.plain_meta(), text)
        new_update = None
        if needle in c.update or chars.by_client or values:
            new_update = _purge_update(c.update, text, chars, values)
        if new_update is None and not msg_hit and not meta_hit:
            continue
        replace[c.hash] = Change(
            c.deps, c.author, c.time, new_update if new_update is not None else c.update, kind=c.kind,
            message=PURGED if msg_hit else c.message,
            meta=_redact(c.plain_meta(), text) if meta_hit else c.meta,
        )
        report.rewritten += 1
    if not replace:
        report.changes_after = len(history)
        return history, report
    new = _rebuild(history, replace, progress=progress)
    report.changes_after = len(new)
    report.remaining = sum(1 for c in new.changes if needle in c.update or (c.message and text in c.message))
    return new, report

