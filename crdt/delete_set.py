"""Delete sets: which clock ranges of which clients are deleted."""

from __future__ import annotations

from bisect import bisect_right

from .decoding import Decoder, var_uint_tail
from .encoding import MAX_SAFE_INTEGER, Encoder
from .errors import DecodeError


class DeleteSet:
    """client -> list of [clock, length] ranges (sorted and merged after :meth:`sort_and_merge`)."""

    __slots__ = ("clients",)

    def __init__(self) -> None:
        self.clients: dict[int, list[list[int]]] = {}

    def add(self, client: int, clock: int, length: int) -> None:
        ranges = self.clients.get(client)
        if ranges is None:
            self.clients[client] = [[clock, length]]
        else:
            last = ranges[-1]
            if last[0] + last[1] == clock:
                last[1] += length
            else:
                ranges.append([clock, length])

    def sort_and_merge(self) -> None:
        for ranges in self.clients.values():
            if len(ranges) < 2:
                continue
            # Lists compare by clock first; equal clocks merge to the same range in either order.
            ranges.sort()
            out = [ranges[0]]
            for r in ranges[1:]:
                last = out[-1]
                if last[0] + last[1] >= r[0]:
                    last[1] = max(last[1], r[0] + r[1] - last[0])
                else:
                    out.append(r)
            ranges[:] = out

    def contains(self, client: int, clock: int) -> bool:
        ranges = self.clients.get(client)
        if not ranges:
            return False
        i = bisect_right(ranges, clock, key=_first) - 1
        return i >= 0 and clock < ranges[i][0] + ranges[i][1]

    def is_empty(self) -> bool:
        return not self.clients

    def merge(self, other: DeleteSet) -> None:
        for client, ranges in other.clients.items():
            mine = self.clients.setdefault(client, [])
            mine.extend([list(r) for r in ranges])
        self.sort_and_merge()

    def write(self, enc: Encoder) -> None:
        clients = self.clients
        enc.write_var_uint(len(clients))
        for client in sorted(clients, reverse=True):
            ranges = clients[client]
            enc.write_var_uint(client)
            enc.write_var_uint(len(ranges))
            for clock, length in ranges:
                enc.write_var_uint(clock)
                enc.write_var_uint(length)

    @staticmethod
    def read(dec: Decoder) -> DeleteSet:
        try:
            return DeleteSet._read(dec)
        except IndexError:
            raise DecodeError("unexpected end of data") from None

    @staticmethod
    def _read(dec: Decoder) -> DeleteSet:
        # A full state holds a range per deleted run: the var uints are read inline (one byte each,
        # mostly), with the position in a local.
        ds = DeleteSet()
        data = dec.data
        pos = dec.pos
        end = dec.end
        n = data[pos]
        pos += 1
        if n >= 0x80:
            n, pos = var_uint_tail(data, pos, n)
        if n > end - pos:
            raise DecodeError("delete set client count exceeds data")
        for _ in range(n):
            client = data[pos]
            pos += 1
            if client >= 0x80:
                client, pos = var_uint_tail(data, pos, client)
            count = data[pos]
            pos += 1
            if count >= 0x80:
                count, pos = var_uint_tail(data, pos, count)
            if count > end - pos:
                raise DecodeError("delete set range count exceeds data")
            ranges = ds.clients.setdefault(client, [])
            append = ranges.append
            for _ in range(count):
                clock = data[pos]
                pos += 1
                if clock >= 0x80:
                    clock, pos = var_uint_tail(data, pos, clock)
                length = data[pos]
                pos += 1
                if length >= 0x80:
                    length, pos = var_uint_tail(data, pos, length)
                if clock + length > MAX_SAFE_INTEGER:
                    raise DecodeError("delete range out of range")
                if length:
                    append([clock, length])
            if not ranges:
                del ds.clients[client]
        dec.pos = pos
        return ds

    @staticmethod
    def from_store(store) -> DeleteSet:
        """Every deleted struct of the store (GC included), adjacent ranges joined."""
        ds = DeleteSet()
        for client, structs in store.clients.items():
            ranges = []
            start = -1
            end = -1
            for s in structs:
                if s.deleted:
                    if s.clock == end:
                        end += s.length
                    else:
                        if start >= 0:
                            ranges.append([start, end - start])
                        start = s.clock
                        end = s.clock + s.length
            if start >= 0:
                ranges.append([start, end - start])
            if ranges:
                ds.clients[client] = ranges
        return ds


def _first(r: list[int]) -> int:
    return r[0]
