"""The struct store: every struct of a document, per client, in clock order with no gaps."""

from __future__ import annotations

from bisect import bisect_right
from operator import attrgetter

_clock_of = attrgetter("clock")


class StructStore:
    """Structs per client, plus what is waiting for missing dependencies."""

    __slots__ = ("clients", "pending", "pending_missing", "pending_ds")

    def __init__(self) -> None:
        self.clients: dict[int, list] = {}
        # Structs that arrived before what they depend on: client -> structs in clock order.
        self.pending: dict[int, list] | None = None
        # client -> lowest clock that must arrive before the pending structs are retried.
        self.pending_missing: dict[int, int] = {}
        # Deletions of ranges not known yet: client -> [[clock, len], ...].
        self.pending_ds: dict[int, list] | None = None

    def get_state(self, client: int) -> int:
        structs = self.clients.get(client)
        if not structs:
            return 0
        last = structs[-1]
        return last.clock + last.length

    def state_vector(self) -> dict[int, int]:
        return {c: s[-1].clock + s[-1].length for c, s in self.clients.items() if s}

    def add_struct(self, struct) -> None:
        structs = self.clients.get(struct.client)
        if structs is None:
            self.clients[struct.client] = [struct]
        else:
            last = structs[-1]
            if last.clock + last.length != struct.clock:
                raise AssertionError("struct store out of order")
            structs.append(struct)

    def get_item(self, client: int, clock: int):
        """The struct containing (client, clock)."""
        structs = self.clients[client]
        return structs[find_index(structs, clock)]


def find_index(structs: list, clock: int) -> int:
    """Index of the struct containing ``clock`` (binary search; the last struct is checked first)."""
    last = structs[-1]
    if last.clock <= clock:
        return len(structs) - 1
    return bisect_right(structs, clock, key=_clock_of) - 1


def find_index_near(structs: list, clock: int, guess: int) -> int:
    """:func:`find_index`, trying a few steps from ``guess`` (the index of a nearby clock) first.

    Walking a sorted delete set, the next range is usually a struct or two away from the last one.
    """
    n = len(structs)
    if 0 <= guess < n:
        if structs[guess].clock <= clock:
            for _ in range(4):
                nxt = guess + 1
                if nxt == n or structs[nxt].clock > clock:
                    return guess
                guess = nxt
        else:
            for _ in range(4):
                guess -= 1
                if guess < 0:
                    break
                if structs[guess].clock <= clock:
                    return guess
    return find_index(structs, clock)
