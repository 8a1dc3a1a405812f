"""Done-when 5 of the history issue through a real server room: alice and bob, two websocket clients, type
into the same line of one cell alternately, keystroke by keystroke; every version the sidecar records
rebuilds with nothing pending and is what had been typed by then, and blame names each character's author.
"""

from __future__ import annotations

import json

from .client import CollabClient, wait_until
from .conftest import run
from .notebooks import write_notebook

CELL = "typed-cell"
LINE = 'print("hello")'


def notebook() -> dict:
    cells = [
        {"id": "before", "cell_type": "markdown", "metadata": {}, "source": "# Typing together"},
        {"id": CELL, "cell_type": "code", "metadata": {}, "execution_count": None, "outputs": [],
         "source": LINE},
    ]
    return {"nbformat": 4, "nbformat_minor": 5, "metadata": {}, "cells": cells}


def source(doc):
    for m in doc.get_array("cells"):
        if m.get("id") == CELL:
            return m.get("source")
    raise AssertionError("the typed cell is missing")


def test_alice_and_bob_type_one_line_alternately_through_a_room(server, unique_name):
    from crdt import HistoryFile
    from jupyter_crdt.history import sidecar_path

    from ..history.helpers import cli

    path = f"{unique_name}.ipynb"
    nb = server.root / path
    write_notebook(nb, notebook())
    keys = {"alice": "ALICE-TYPES", "bob": "bob~types~"}
    expected: list[tuple[str, str]] = []  # (author, the line after the keystroke)

    async def main():
        clients = {name: await CollabClient(server, path, "notebook", token=f"user-{name}").connect()
                   for name in keys}

        async def keystroke(author: str, ch: str) -> None:
            text = source(clients[author].doc)
            text.insert(len(str(text)), ch)  # the end of the line: both type into it
            now = str(text)
            expected.append((author, now))
            other = clients["bob" if author == "alice" else "alice"]
            # the other one sees the keystroke before typing the next: strictly alternating edits
            await wait_until(lambda: str(source(other.doc)) == now, what=f"{author}'s {ch!r} to arrive")

        for a, b in zip(keys["alice"], keys["bob"], strict=False):
            await keystroke("alice", a)
            await keystroke("bob", b)
        await keystroke("alice", keys["alice"][-1])
        await wait_until(lambda: all(c.is_acked() for c in clients.values()), what="durable acks")
        for c in clients.values():
            await c.close()

    run(main())
    sidecar = sidecar_path(nb)

    def written() -> bool:  # the room writes the last (open) change once the grouper's idle gap passes
        return not HistoryFile.read_journal(sidecar)

    run(wait_until(written, timeout=60, what="the last change to be written", interval=0.1))
    history = HistoryFile.read(sidecar, journal=False)  # the changes themselves, as written
    typed = [c for c in history.changes if c.author in keys]
    assert [c.author for c in typed] == [a for a, _ in expected]  # one change per keystroke, in order
    for c, (author, line) in zip(typed, expected, strict=True):
        doc = history.doc_at(c.hash)
        assert not doc.pending, f"version {c.short} left structs pending"
        assert str(source(doc)) == line and c.author == author
    for version in (history.heads, history.branch("main")):
        assert not history.doc_at(version).pending

    r = cli("blame", nb, CELL, "--json")
    assert r.returncode == 0, r.stderr
    runs = json.loads(r.stdout)["lines"][-1]["runs"]
    chars = [(ch, run_["author"]) for run_ in runs for ch in run_["text"]]
    assert chars[: len(LINE)] == [(ch, "import") for ch in LINE]
    assert chars[len(LINE):] == [(line[-1], author) for author, line in expected]
    r = cli("log", nb, "--json")
    assert r.returncode == 0, r.stderr
    logged = [e["author"] for e in json.loads(r.stdout) if e["author"] in keys]
    assert logged == [a for a, _ in reversed(expected)]  # newest first
