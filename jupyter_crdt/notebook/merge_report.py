"""What a notebook merge reports: the conflicts a person should look at and the decisions it made."""

from __future__ import annotations

from dataclasses import dataclass, field
from typing import Any

from crdt import Doc


@dataclass
class MergeConflict:
    """Something in the merged notebook a person should look at."""

    kind: str  # source, metadata, notebook-metadata, cell_type, attachments, field, delete-edit, outputs,
    # id, insert-insert
    detail: str
    cell_id: str | None = None
    cell_index: int | None = None  # in the merged notebook
    key: str | None = None  # metadata key path or field name
    base: Any = None
    local: Any = None
    remote: Any = None
    markers: bool = False  # the merged source holds conflict markers for it

    def to_dict(self) -> dict:
        return {k: v for k, v in self.__dict__.items() if v is not None and k != "_cell_key"}


@dataclass
class MergeReport:
    """What ``merge_notebooks`` could not decide by itself (``conflicts``) and what it decided (``notes``)."""

    conflicts: list[MergeConflict] = field(default_factory=list)
    notes: list[MergeConflict] = field(default_factory=list)
    doc: Doc | None = field(default=None, repr=False, compare=False)  # the merged document

    @property
    def clean(self) -> bool:
        """No true conflicts: nothing needs a person's decision."""
        return not self.conflicts

    @property
    def has_markers(self) -> bool:
        return any(c.markers for c in self.conflicts)

    def to_dict(self) -> dict:
        return {
            "clean": self.clean,
            "conflicts": [c.to_dict() for c in self.conflicts],
            "notes": [c.to_dict() for c in self.notes],
        }

    def __str__(self) -> str:
        if not self.conflicts and not self.notes:
            return "merged cleanly"
        lines = [f"{len(self.conflicts)} conflict(s), {len(self.notes)} note(s)"]
        for tag, items in (("conflict", self.conflicts), ("note", self.notes)):
            for c in items:
                where = f"cell {c.cell_index} ({c.cell_id})" if c.cell_index is not None else "notebook"
                lines.append(f"- {tag}: {where}: {c.detail}")
        return "\n".join(lines)
