"""Who wrote each character (and line) of a cell's source: ``blame``.

Every character of a Yjs text is an item with an id ``(client, clock)``; the change that holds that struct
(:meth:`crdt.History.owner`) inserted it, and its author and time are the character's. A line is
attributed to the newest change among its characters, and lists every author who wrote part of it; its
newline does not count (whoever split a line in two did not write the first half), unless it is all there is.
"""

from __future__ import annotations

from collections.abc import Mapping
from dataclasses import dataclass, field
from typing import Any

from crdt import Doc, History, Map, Text
from crdt.inspect import ContentString, iter_items
from jupyter_crdt.notebook import schema as _schema


class CellNotFound(LookupError):
    pass


@dataclass
class Run:
    """Consecutive characters of one line written by one change."""

    text: str
    change: str | None  # hash (None: no change holds it, e.g. a history missing its start)
    author: str
    time: float

    def to_dict(self) -> dict:
        return {"text": self.text, "change": self.change, "author": self.author, "time": self.time}


@dataclass
class Line:
    number: int  # 1-based
    text: str  # without the newline
    runs: list[Run] = field(default_factory=list)

    def _content(self) -> list[Run]:
        """The runs without the line's newline (whoever split a line did not write its text)."""
        runs = [r for r in self.runs if r.text != "\n"]
        return runs or self.runs

    @property
    def newest(self) -> Run | None:
        """The run of the newest change among the line's characters (the line's attribution)."""
        return max(self._content(), key=lambda r: r.time, default=None)

    @property
    def authors(self) -> list[str]:
        """Everyone who wrote part of the line (newline aside), in order of appearance."""
        seen: dict[str, None] = {}
        for r in self._content():
            seen.setdefault(r.author, None)
        return list(seen)

    def to_dict(self) -> dict:
        newest = self.newest
        return {
            "line": self.number, "text": self.text, "authors": self.authors,
            "change": newest.change if newest else None, "author": newest.author if newest else None,
            "time": newest.time if newest else None, "runs": [r.to_dict() for r in self.runs],
        }


def find_cell(doc: Doc, spec: str) -> tuple[int, Map]:
    """The cell ``spec`` names: an index (0-based), a cell id, or a unique prefix of one."""
    cells = [c for c in doc.get_array(_schema.CELLS)]
    ids = [c.get("id") if isinstance(c, Map) else None for c in cells]
    if spec in ids:
        i = ids.index(spec)
        return i, cells[i]
    if spec.lstrip("-").isdigit():  # an index (an id equal to it was taken above)
        i = int(spec)
        if -len(cells) <= i < len(cells):
            i %= len(cells)
            return i, cells[i]
        raise CellNotFound(f"no cell {spec}: the notebook has {len(cells)} cell(s) (indices start at 0)")
    found = [i for i, cid in enumerate(ids) if isinstance(cid, str) and cid.startswith(spec)]
    if len(found) == 1:
        return found[0], cells[found[0]]
    if len(found) > 1:
        raise CellNotFound(f"cell id prefix {spec!r} is ambiguous ({len(found)} cells)")
    raise CellNotFound(f"no cell with id {spec!r} (give a cell id, a prefix of one, or an index from 0)")


def blame_text(history: History, text: Text) -> list[Line]:
    """The lines of ``text`` (a Text of a document built from ``history``) with who wrote them."""
    cache: dict[str, tuple[str, float]] = {}
    lines: list[Line] = [Line(1, "")]

    def info(h: str | None) -> tuple[str, float]:
        if h is None:
            return "?", 0.0
        got = cache.get(h)
        if got is None:
            c = history.get(h)
            got = cache[h] = (c.author, c.time)
        return got

    def add(ch: str, owner: str | None) -> None:
        line = lines[-1]
        runs = line.runs
        if runs and runs[-1].change == owner:
            runs[-1].text += ch
        else:
            author, t = info(owner)
            runs.append(Run(ch, owner, author, t))
        if ch == "\n":
            lines.append(Line(line.number + 1, ""))
        else:
            line.text += ch

    for item in iter_items(text, include_deleted=False):
        if isinstance(item.content, ContentString):
            clock = item.clock
            client = item.client
            for ch in item.content.s:
                add(ch, history.owner(client, clock))
                clock += 2 if ord(ch) > 0xFFFF else 1  # clocks count UTF-16 units
    if not lines[-1].runs and len(lines) > 1:
        lines.pop()
    return lines


def blame_cell(history: History, doc: Doc, spec: str) -> tuple[int, Mapping[str, Any], list[Line]]:
    """Blame the source of the cell ``spec`` names in ``doc``: (index, cell info, lines)."""
    index, cell = find_cell(doc, spec)
    src = cell.get(_schema.SOURCE)
    info = {"index": index, "id": cell.get("id"), "cell_type": cell.get("cell_type")}
    if not isinstance(src, Text):
        text = _schema.text_of(src) or ""
        return index, info, [Line(i + 1, t) for i, t in enumerate(text.split("\n"))] if text else []
    return index, info, blame_text(history, src)
