"""Done-when 1: two and five websocket clients (built on our ``crdt``) co-edit a notebook with random
concurrent edits to sources, cell inserts, moves and deletes, and metadata; every client and the saved
``.ipynb`` converge."""

from __future__ import annotations

import asyncio
import json
import random

import pytest

from .client import CollabClient, wait_until
from .conftest import run
from .notebooks import export, make_notebook, read_notebook, same_content, write_notebook


@pytest.mark.parametrize("n_clients", [2, 5])
def test_clients_coedit_notebook_and_file_converges(server, unique_name, n_clients):
    from .notebooks import random_edit

    path = f"{unique_name}.ipynb"
    original = make_notebook(8)
    write_notebook(server.root / path, original)

    async def main():
        clients = [await CollabClient(server, path, "notebook", token=f"user-u{i}").connect()
                   for i in range(n_clients)]
        for c in clients:
            assert same_content(export(c.doc), original)
        rnd = random.Random(1000 + n_clients)
        done = {}
        for step in range(30):
            for i, c in enumerate(clients):
                if rnd.random() < 0.6:
                    kind = random_edit(rnd, c.doc, f"{i}.{step}")
                    done[kind] = done.get(kind, 0) + 1
            await asyncio.sleep(0.003)
        assert {"type", "insert", "metadata"} <= set(done), done
        # Compared as canonical JSON: a map's key order follows the order its keys arrived in, which
        # differs between peers (as in Yjs); the content, and the saved file (sorted keys), do not.
        await wait_until(lambda: len({json.dumps(export(c.doc), sort_keys=True) for c in clients}) == 1,
                         what="convergence")
        final = export(clients[0].doc)
        await wait_until(lambda: same_content(read_notebook(server.root / path), final),
                         what="the .ipynb to hold the converged notebook")
        await wait_until(lambda: all(c.is_acked() for c in clients), what="durable acks")
        for c in clients:
            await c.close()

    run(main())
