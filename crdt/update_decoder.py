"""Decoding v1 updates and state vectors into structs that are not yet part of any document.

Everything is validated here, before a document is touched: a malformed update raises
:class:`~crdt.errors.DecodeError` and nothing has changed.
"""

from __future__ import annotations

from typing import Any

from .decoding import Decoder, var_uint_rest, var_uint_tail
from .delete_set import DeleteSet
from .encoding import MAX_SAFE_INTEGER
from .errors import DecodeError
from .structs.contents import ContentDeleted, ContentString, ContentType, read_content, utf16_len
from .structs.item import GC, Item, Skip

# A memoryview update at least this big is decoded in place, without a copy.
_MIN_VIEW = 1 << 20

# Builds a slotted object without running its __init__ (the decoder sets every slot itself).
_new_object = object.__new__


def read_update(data: bytes | bytearray | memoryview) -> tuple[dict[int, list], DeleteSet]:
    """Read a whole v1 update: structs per client (in clock order) and the delete set."""
    if not isinstance(data, (bytes, bytearray, memoryview)):
        raise TypeError("an update must be bytes")
    if isinstance(data, bytes) or (isinstance(data, memoryview) and len(data) >= _MIN_VIEW):
        dec = Decoder(data)
    else:
        # Small: a copy, so the hot loop indexes bytes (faster than a memoryview). A bytearray is copied
        # whatever its size (as Decoder would: only bytes and memoryviews of bytes are read in place).
        dec = Decoder(bytes(data))
    try:
        clients = _read_structs(dec)
        ds = DeleteSet.read(dec)
    except DecodeError:
        raise
    except (RecursionError, MemoryError, OverflowError) as e:  # pragma: no cover - defensive
        raise DecodeError(f"malformed update: {e}") from None
    return clients, ds


def _read_structs(dec: Decoder) -> dict[int, list]:
    try:
        return _read_structs_at(dec)
    except IndexError:
        # Every byte read below indexes ``data`` directly: running off its end lands here.
        raise DecodeError("unexpected end of data") from None


def _read_structs_at(dec: Decoder) -> dict[int, list]:
    # The hot loop of every remote load: it keeps the read position in a local, reads one-byte var
    # uints inline and builds items without Item.__init__ (whose argument passing and content checks
    # cost more than the stores). What it builds is exactly what Item(...) would.
    out: dict[int, list] = {}
    # Or a memoryview of bytes: both index to ints and slice alike (no cast(): a call on every decode).
    data: bytes = dec.data  # type: ignore[assignment]
    end = dec.end
    tail = var_uint_tail
    utf8 = bytes.decode if data.__class__ is bytes else str
    pos = dec.pos
    last_ro = (-1, -1)
    n_clients = data[pos]
    pos += 1
    if n_clients >= 0x80:
        n_clients, pos = tail(data, pos, n_clients)
    if n_clients > end - pos:
        raise DecodeError("client count exceeds data")
    for _ in range(n_clients):
        n_structs = data[pos]
        pos += 1
        if n_structs >= 0x80:
            n_structs, pos = tail(data, pos, n_structs)
        if n_structs > end - pos:
            raise DecodeError("struct count exceeds data")
        client = data[pos]
        pos += 1
        if client >= 0x80:
            client, pos = tail(data, pos, client)
        clock = data[pos]
        pos += 1
        if clock >= 0x80:
            clock, pos = tail(data, pos, clock)
        structs = out.get(client)
        if structs is None:
            structs = out[client] = []
        elif structs and structs[-1].clock + structs[-1].length > clock:
            raise DecodeError(f"client {client} appears twice with overlapping structs")
        append = structs.append
        for _ in range(n_structs):
            info = data[pos]
            pos += 1
            ref = info & 0x1F
            if ref == 0 or ref == 10:
                length = data[pos]
                pos += 1
                if length >= 0x80:
                    length, pos = tail(data, pos, length)
                if length == 0:
                    raise DecodeError("empty struct")
                append((GC if ref == 0 else Skip)(client, clock, length))
                clock += length
                continue
            if info & 0x80:
                oc = data[pos]
                pos += 1
                if oc >= 0x80:
                    oc, pos = tail(data, pos, oc)
                ok = data[pos]
                pos += 1
                if ok >= 0x80:
                    # Clocks of long documents take two or three bytes: read those inline too.
                    b = data[pos]
                    pos += 1
                    ok = (ok & 0x7F) | ((b & 0x7F) << 7)
                    if b >= 0x80:
                        b = data[pos]
                        pos += 1
                        ok |= (b & 0x7F) << 14
                        if b >= 0x80:
                            ok, pos = var_uint_rest(data, pos, ok, 21)
                if oc == client and ok >= clock:
                    raise DecodeError("item's origin is not before it")
                origin = (oc, ok)
            else:
                origin = None
            if info & 0x40:
                rc = data[pos]
                pos += 1
                if rc >= 0x80:
                    rc, pos = tail(data, pos, rc)
                rk = data[pos]
                pos += 1
                if rk >= 0x80:
                    # Clocks of long documents take two or three bytes: read those inline too.
                    b = data[pos]
                    pos += 1
                    rk = (rk & 0x7F) | ((b & 0x7F) << 7)
                    if b >= 0x80:
                        b = data[pos]
                        pos += 1
                        rk |= (b & 0x7F) << 14
                        if b >= 0x80:
                            rk, pos = var_uint_rest(data, pos, rk, 21)
                if rc == client and rk >= clock:
                    raise DecodeError("item's right origin is not before it")
                if rk != last_ro[1] or rc != last_ro[0]:
                    last_ro = (rc, rk)
                # Typing at one place gives runs of items with one right origin: they share the tuple.
                right_origin = last_ro
            else:
                right_origin = None
            parent: str | tuple[int, int] | None = None
            parent_sub = None
            if not info & 0xC0:
                dec.pos = pos
                if dec.read_var_uint() == 1:
                    parent = dec.read_var_string()
                else:
                    parent = (dec.read_var_uint(), dec.read_var_uint())
                    if parent[0] == client and parent[1] >= clock:
                        raise DecodeError("item is its own ancestor")
                if info & 0x20:
                    parent_sub = dec.read_var_string()
                pos = dec.pos
            deleted = False
            if ref == 4:
                # Strings are most of what documents hold: read them inline.
                n = data[pos]
                pos += 1
                if n >= 0x80:
                    n, pos = tail(data, pos, n)
                stop = pos + n
                if stop > end:
                    raise DecodeError("unexpected end of data")
                try:
                    text = utf8(data[pos:stop], "utf-8")
                except UnicodeDecodeError as e:
                    raise DecodeError(f"invalid UTF-8 in string: {e.reason}") from None
                pos = stop
                vlen = len(text)
                length = n if n == vlen else utf16_len(text)
                if length == 0:
                    raise DecodeError("empty string content")
                content: Any = _new_object(ContentString)
                content.s = text
            elif ref == 1:
                # Deleted content: what a full state holds for every deleted run.
                length = data[pos]
                pos += 1
                if length >= 0x80:
                    length, pos = tail(data, pos, length)
                if length == 0:
                    raise DecodeError("empty deleted content")
                content = _new_object(ContentDeleted)
                content.len = length
                deleted = True
                vlen = 0
            else:
                dec.pos = pos
                content, length = read_content(dec, ref)
                pos = dec.pos
                if not content.countable:
                    vlen = 0
                elif content.__class__ is ContentType:
                    vlen = 1
                else:
                    vlen = length
            item = _new_object(Item)
            item.client = client
            item.clock = clock
            item.length = length
            item.origin = origin
            item.right_origin = right_origin
            item.left = None
            item.right = None
            item.parent = parent
            item.parent_sub = parent_sub
            item.content = content
            item.deleted = deleted
            item.keep = False
            item.redone = None
            item.vlen = vlen
            append(item)
            clock += length
        if clock > MAX_SAFE_INTEGER:
            raise DecodeError("clock out of range")
    dec.pos = pos
    return out


def decode_state_vector(data: bytes) -> dict[int, int]:
    """Decode a v1 state vector (client -> next expected clock)."""
    dec = Decoder(bytes(data))
    n = dec.read_var_uint()
    if n > dec.remaining():
        raise DecodeError("state vector count exceeds data")
    sv = {}
    for _ in range(n):
        client = dec.read_var_uint()
        sv[client] = dec.read_var_uint()
    return sv


class UpdateView:
    """A v1 update decoded once: its bytes, structs per client and delete set, with the questions tools ask
    of an update (what it inserts, what it deletes, beyond which state). Made by
    :func:`crdt.inspect.decode_update`.

    Give it to :meth:`crdt.Doc.apply_update` to apply it without decoding it again. Applying a view hands
    its structs to the document (they become the document's items, and change there): reading
    :attr:`structs` afterwards decodes :attr:`update` again, so read what you need first. Answers of the
    methods are from the structs as decoded; the delete set is never changed by applying.
    """

    __slots__ = ("update", "_structs", "delete_set")

    def __init__(self, update: bytes | memoryview, structs: dict[int, list], delete_set: DeleteSet) -> None:
        #: The update's bytes: a big update read from a frame stays a read-only memoryview into it (no copy).
        self.update = update
        self._structs: dict[int, list] | None = structs
        self.delete_set = delete_set

    @classmethod
    def decode(cls, update: bytes | bytearray | memoryview) -> UpdateView:
        structs, ds = read_update(update)
        # A bytearray could change under the view: copied. A memoryview is kept (a big frame is not copied).
        return cls(bytes(update) if isinstance(update, bytearray) else update, structs, ds)

    @property
    def structs(self) -> dict[int, list]:
        """client -> structs in clock order (``Item``, ``GC``, ``Skip``), as the decoder yields them."""
        structs = self._structs
        if structs is None:
            # Applied already: those structs belong to a document now. Decode a fresh set.
            structs = self._structs = read_update(self.update)[0]
        return structs

    def take(self) -> tuple[dict[int, list], DeleteSet]:
        """The decoded structs and delete set, for applying them: the view lets go of the structs."""
        structs = self.structs
        self._structs = None
        return structs, self.delete_set

    def clients(self) -> set[int]:
        """The clients this update carries structs of (clients it only deletes from are not included)."""
        return {c for c, structs in self.structs.items() if structs}

    def item_ranges(self, known: dict[int, int] | None = None) -> dict[int, tuple[int, int]]:
        """Per client, the ``[start, end)`` clock span of the update's items beyond state vector ``known``
        (GC and skipped ranges do not count; a client with no item beyond it is left out)."""
        known = known or {}
        ranges: dict[int, tuple[int, int]] = {}
        for client, structs in self.structs.items():
            floor = known.get(client, 0)
            start = end = -1
            for s in structs:
                if s.__class__ is not Item:
                    continue
                s_end = s.clock + s.length
                if s_end <= floor:
                    continue
                if start < 0:
                    start = max(s.clock, floor)
                end = s_end
            if start >= 0:
                ranges[client] = (start, end)
        return ranges

    def inserted_length(self) -> int:
        """Clock units of the update's items: characters (UTF-16 units) of text, elements of arrays and
        maps' values, including items that arrive deleted."""
        return sum(s.length for structs in self.structs.values() for s in structs if s.__class__ is Item)

    def deleted_length(self) -> int:
        """Clock units the delete set deletes (ranges as written: some may be deleted already)."""
        return sum(length for runs in self.delete_set.clients.values() for _clock, length in runs)

    def has_content(self) -> bool:
        """Whether the update carries at least one item (not only GC, skips and deletions)."""
        return any(s.__class__ is Item for structs in self.structs.values() for s in structs)

    def is_empty(self) -> bool:
        """Whether applying it could change nothing: no structs and no deletions."""
        return not any(self.structs.values()) and not self.delete_set.clients

    def __len__(self) -> int:
        """The update's size in bytes."""
        return len(self.update)

    def __repr__(self) -> str:
        return f"UpdateView({len(self.update)} bytes, clients={sorted(self.clients())})"
