"""How the ``%crdt`` magics show their results: HTML in JupyterLab, readable plain text elsewhere.

Every result is a :class:`Report`: IPython's display machinery picks ``_repr_html_`` where HTML is
shown (JupyterLab, the notebook) and ``repr`` (the plain text) in terminals and plain-text outputs.
Everything taken from the document (sources, names, summaries) is escaped before it goes into HTML.
"""

from __future__ import annotations

import html
import time
from collections.abc import Iterable, Mapping, Sequence
from typing import Any

_STYLE = ("<style>.crdt-magic table{border-collapse:collapse;font-size:90%}"
          ".crdt-magic td,.crdt-magic th{padding:2px 8px;text-align:left;vertical-align:top}"
          ".crdt-magic pre{margin:0;padding:2px 4px}"
          ".crdt-magic .add{background:#e6ffec}.crdt-magic .del{background:#ffebe9}"
          ".crdt-magic .hunk{color:#0550ae}</style>")


class Report:
    """One result of a magic: ``text`` for plain-text frontends, ``html`` for rich ones."""

    def __init__(self, text: str, html_body: str) -> None:
        self.text = text
        self.html = html_body

    def __repr__(self) -> str:
        return self.text

    def _repr_pretty_(self, printer: Any, cycle: bool) -> None:
        printer.text(self.text)

    def _repr_html_(self) -> str:
        return f'{_STYLE}<div class="crdt-magic">{self.html}</div>'


def esc(value: Any) -> str:
    """``value`` as HTML text."""
    return html.escape("" if value is None else str(value))


def when(t: Any) -> str:
    """A change time (seconds since the epoch) for people; 0 is the content imported from the file."""
    if not isinstance(t, (int, float)) or t <= 0:
        return "(file import)"
    return time.strftime("%Y-%m-%d %H:%M:%S", time.localtime(t))


def message(text: str) -> Report:
    """A one-paragraph result."""
    return Report(text, f"<p>{esc(text)}</p>")


def table(title: str, columns: Sequence[str], rows: Iterable[Sequence[Any]], *, empty: str = "(none)",
          note: str | None = None) -> Report:
    """A titled table; plain text aligns the columns."""
    rows = [["" if v is None else str(v) for v in row] for row in rows]
    widths = [max([len(c)] + [len(r[i]) for r in rows]) for i, c in enumerate(columns)]
    lines = [title]
    if rows:
        lines.append("  ".join(c.ljust(w) for c, w in zip(columns, widths, strict=True)).rstrip())
        for r in rows:
            lines.append("  ".join(v.ljust(w) for v, w in zip(r, widths, strict=True)).rstrip())
    else:
        lines.append(empty)
    if note:
        lines.append(note)
    head = "".join(f"<th>{esc(c)}</th>" for c in columns)
    body = "".join("<tr>" + "".join(f"<td>{esc(v)}</td>" for v in r) + "</tr>" for r in rows)
    html_body = f"<b>{esc(title)}</b>"
    html_body += f"<table><thead><tr>{head}</tr></thead><tbody>{body}</tbody></table>" if rows else \
        f"<p>{esc(empty)}</p>"
    if note:
        html_body += f"<p><i>{esc(note)}</i></p>"
    return Report("\n".join(lines), html_body)


def fields(title: str, pairs: Sequence[tuple[str, Any]], *, sections: Sequence[Report] = ()) -> Report:
    """A titled list of ``name: value`` lines, followed by other reports (tables)."""
    width = max((len(k) for k, _ in pairs), default=0)
    lines = [title] + [f"  {k.ljust(width)}  {v}" for k, v in pairs]
    rows = "".join(f"<tr><th>{esc(k)}</th><td>{esc(v)}</td></tr>" for k, v in pairs)
    html_body = f"<b>{esc(title)}</b><table>{rows}</table>"
    for s in sections:
        lines.append(s.text)
        html_body += s.html
    return Report("\n".join(lines), html_body)


def _diff_line_html(line: str) -> str:
    cls = {"+": "add", "-": "del", "@": "hunk"}.get(line[:1], "")
    return f'<pre class="{cls}">{esc(line)}</pre>' if cls else f"<pre>{esc(line)}</pre>"


def diff_report(title: str, cells: Sequence[Mapping[str, Any]], *, extra: Sequence[str] = ()) -> Report:
    """Cells added, removed, moved and modified, each with its line-level source diff.

    ``cells``: ``{"id", "status", "diff"}`` (``diff`` a unified diff, as a string or lines), optionally
    ``"cell_type"``, ``"index"`` and ``"notes"``; unchanged cells are left out.
    """
    changed = [c for c in cells if c.get("status") != "unchanged"]
    lines = [title]
    parts = [f"<b>{esc(title)}</b>"]
    if not changed and not extra:
        lines.append("(no differences)")
        parts.append("<p>(no differences)</p>")
    for c in changed:
        where = f"cell {c['index']}" if c.get("index") is not None else "cell"
        kind = f" [{c['cell_type']}]" if c.get("cell_type") else ""
        head = f"{where}{kind} {c.get('id') or ''} {c.get('status')}".replace("  ", " ")
        notes = c.get("notes") or []
        if notes:
            head += f" ({', '.join(notes)})"
        diff = c.get("diff") or []
        diff_lines = diff.splitlines() if isinstance(diff, str) else list(diff)
        diff_lines = [d for d in diff_lines if not d.startswith(("---", "+++"))]
        lines.append(f"## {head}")
        lines.extend(diff_lines)
        parts.append(f"<div><b>{esc(head)}</b>{''.join(_diff_line_html(d) for d in diff_lines)}</div>")
    for e in extra:
        lines.append(f"## {e}")
        parts.append(f"<p><b>{esc(e)}</b></p>")
    return Report("\n".join(lines), "".join(parts))


def blame_report(title: str, lines: Sequence[Mapping[str, Any]]) -> Report:
    """Each line of a cell with its author and time: ``{"number", "text", "author", "time"}``."""
    width = max((len(str(ln.get("author") or "")) for ln in lines), default=0)
    out = [title]
    rows = []
    for ln in lines:
        author = str(ln.get("author") or "")
        t = when(ln.get("time")) if ln.get("author") else ""
        out.append(f"{author.ljust(width)}  {t.ljust(19)}  {ln.get('number', ''):>4}| {ln.get('text', '')}")
        rows.append(f"<tr><td>{esc(author)}</td><td>{esc(t)}</td><td>{esc(ln.get('number', ''))}</td>"
                    f"<td><pre>{esc(ln.get('text', ''))}</pre></td></tr>")
    if not lines:
        out.append("(empty cell)")
    html_body = (f"<b>{esc(title)}</b><table><thead><tr><th>author</th><th>time</th><th>line</th>"
                 f"<th>source</th></tr></thead><tbody>{''.join(rows)}</tbody></table>")
    return Report("\n".join(out), html_body)


def notebook_report(title: str, nb: Mapping[str, Any]) -> Report:
    """A notebook's cells (type, id, source), as ``%crdt show`` prints a version."""
    out = [title]
    parts = [f"<b>{esc(title)}</b>"]
    for i, cell in enumerate(nb.get("cells", [])):
        src = cell.get("source", "")
        src = src if isinstance(src, str) else "".join(src)
        n_out = len(cell.get("outputs") or [])
        head = f"cell {i} [{cell.get('cell_type')}] {cell.get('id') or ''}".rstrip()
        if n_out:
            head += f" ({n_out} output{'s' if n_out != 1 else ''})"
        out.append(f"## {head}")
        out.extend(src.splitlines() or [""])
        parts.append(f"<div><b>{esc(head)}</b><pre>{esc(src)}</pre></div>")
    if not nb.get("cells"):
        out.append("(no cells)")
        parts.append("<p>(no cells)</p>")
    return Report("\n".join(out), "".join(parts))


__all__ = ["Report", "blame_report", "diff_report", "fields", "message", "notebook_report", "table", "when"]
