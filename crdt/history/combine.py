"""Combining updates: many small updates (keystrokes) into one compact update of the same meaning."""

from __future__ import annotations

from collections.abc import Sequence

from ..structs.contents import ContentString
from ..structs.item import Item
from ..update_decoder import read_update
from ..updates import encode_refs, merge_updates


def _coalesce(update: bytes) -> bytes:
    """The same update with runs of typed text joined into single structs (smaller, same meaning).

    Two string items are joined when the second continues the first: same client, next clock, its
    origin is the first's last character and both have the same right origin. Integrating the joined
    item splits it back exactly there when needed, which is why Yjs's own store joins such items too.
    """
    refs, ds = read_update(update)
    for client, structs in refs.items():
        out: list = []
        for s in structs:
            if out and s.__class__ is Item and s.content.__class__ is ContentString:
                a = out[-1]
                if (
                    a.__class__ is Item
                    and a.content.__class__ is ContentString
                    and s.clock == a.clock + a.length
                    and s.origin == (client, s.clock - 1)
                    and s.right_origin == a.right_origin
                ):
                    a.content.merge(s.content)
                    a.length += s.length
                    continue
            out.append(s)
        refs[client] = out
    ds.sort_and_merge()
    return encode_refs(refs, ds)


def combine_updates(updates: Sequence[bytes]) -> bytes:
    """One compact update equivalent to all of ``updates`` (merged, consecutive typed text joined)."""
    if not updates:
        raise ValueError("no updates to combine")
    merged = updates[0] if len(updates) == 1 else merge_updates(updates)
    return _coalesce(merged)
