"""Delete sets: which clock ranges of which clients are deleted."""

from __future__ import annotations

from bisect import bisect_right

from .decoding import Decoder
from .encoding import Encoder
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
            ranges.sort(key=_first)
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
        ds = DeleteSet()
        n = dec.read_var_uint()
        if n > dec.remaining():
            raise DecodeError("delete set client count exceeds data")
        for _ in range(n):
            client = dec.read_var_uint()
            count = dec.read_var_uint()
            if count > dec.remaining():
                raise DecodeError("delete set range count exceeds data")
            ranges = ds.clients.setdefault(client, [])
            for _ in range(count):
                clock = dec.read_var_uint()
                length = dec.read_var_uint()
                if clock + length > 2**53 - 1:
                    raise DecodeError("delete range out of range")
                if length:
                    ranges.append([clock, length])
            if not ranges:
                del ds.clients[client]
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
