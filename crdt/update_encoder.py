"""Encoding documents (or parts of them) as v1 updates and state vectors."""

from __future__ import annotations

from .encoding import Encoder
from .store import StructStore, find_index


def write_structs(enc: Encoder, store: StructStore, sv: dict[int, int]) -> None:
    """Write every struct the holder of state vector ``sv`` is missing, clients in descending order."""
    clients = store.clients
    todo = []
    for client, structs in clients.items():
        if not structs:
            continue
        known = sv.get(client, 0)
        last = structs[-1]
        if last.clock + last.length > known:
            todo.append((client, known))
    enc.write_var_uint(len(todo))
    todo.sort(reverse=True)
    for client, clock in todo:
        structs = clients[client]
        clock = max(clock, structs[0].clock)
        start = find_index(structs, clock)
        enc.write_var_uint(len(structs) - start)
        enc.write_var_uint(client)
        enc.write_var_uint(clock)
        first = structs[start]
        first.write(enc, clock - first.clock)
        for i in range(start + 1, len(structs)):
            structs[i].write(enc, 0)


def encode_state_vector(sv: dict[int, int]) -> bytes:
    """A v1 state vector, clients in descending order."""
    enc = Encoder()
    enc.write_var_uint(len(sv))
    for client in sorted(sv, reverse=True):
        enc.write_var_uint(client)
        enc.write_var_uint(sv[client])
    return enc.to_bytes()
