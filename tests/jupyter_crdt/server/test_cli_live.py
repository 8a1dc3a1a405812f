"""`jupyter crdt` while a server has the notebook open: the command finds the server (its runtime file and
the sidecar's lock), sends `restore` and `merge` through its REST API so every client gets the change,
and reads (`log`, `show`) from the sidecar, journal included. Also `POST /api/crdt/merge/{path}` itself."""

from __future__ import annotations

import asyncio
import base64
import json

from .client import CollabClient, http, wait_until
from .conftest import run
from .notebooks import make_notebook, new_cell, read_notebook, sources, write_notebook


def cli_for(server, *args):
    """The command line, as a user of that server's machine runs it (it finds the server's runtime file)."""
    from ..history.helpers import cli

    return cli(*args, env={"JUPYTER_RUNTIME_DIR": str(server.home / "runtime")})


def add_cell(doc, text: str) -> None:
    cells = doc.get_array("cells")
    cells.insert(len(cells), [new_cell(text)])


def disk_sources(path) -> list[str]:
    return ["".join(c["source"]) if isinstance(c["source"], list) else c["source"]
            for c in read_notebook(path)["cells"]]


def test_restore_goes_through_the_running_server(server, unique_name):
    from crdt import HistoryFile
    from jupyter_crdt.history import sidecar_path

    path = f"{unique_name}.ipynb"
    nb = server.root / path
    write_notebook(nb, make_notebook(2))

    async def main():
        a = await CollabClient(server, path, "notebook", token="user-alice").connect()
        b = await CollabClient(server, path, "notebook", token="user-bob").connect()
        add_cell(a.doc, "kept edit")
        await wait_until(a.is_acked, what="alice's ack")
        await wait_until(lambda: "kept edit" in sources(b.doc), what="alice's cell at bob")
        add_cell(b.doc, "edit to undo")  # another author: alice's change is closed and written
        await wait_until(b.is_acked, what="bob's ack")
        written = HistoryFile.read(sidecar_path(nb), journal=False)
        rev = next(c.hash for c in reversed(written.changes) if c.author == "alice")
        r = await asyncio.to_thread(cli_for, server, "restore", nb, rev[:12])
        assert r.returncode == 0, r.stderr
        assert "through the Jupyter server" in r.stdout and server.url in r.stdout
        for c in (a, b):  # the live room changed: both clients see it
            await wait_until(lambda c=c: "edit to undo" not in sources(c.doc), what="the restore to arrive")
            assert "kept edit" in sources(c.doc)
        await wait_until(lambda: "edit to undo" not in disk_sources(nb) and "kept edit" in disk_sources(nb),
                         what="the restored notebook to be saved")
        r = await asyncio.to_thread(cli_for, server, "log", nb, "--json")
        assert r.returncode == 0, r.stderr
        assert json.loads(r.stdout)[0]["author"] == "admin"  # the server's user (its token's) restored it
        await a.close()
        await b.close()

    run(main())


def test_merge_of_another_copy_goes_through_the_running_server(server, unique_name):
    from crdt import HistoryFile
    from jupyter_crdt.history import NotebookHistory, sidecar_path

    path = f"{unique_name}.ipynb"
    nb = server.root / path
    write_notebook(nb, make_notebook(2))

    async def main():
        a = await CollabClient(server, path, "notebook", token="user-alice").connect()
        add_cell(a.doc, "shared start")
        await wait_until(a.is_acked, what="ack")
        await wait_until(lambda: "shared start" in disk_sources(nb), what="save")
        code, model = await http(server, "POST", "/api/contents", {"copy_from": path})
        assert code == 201
        copy = server.root / model["path"]
        await wait_until(lambda: sidecar_path(copy).exists(), what="the copy's history")
        with NotebookHistory.open(copy, author="carol") as nh:  # the copy, edited offline
            with nh.edit() as e:
                cells = e.doc.get_array("cells")
                cells.insert(len(cells), [new_cell("from the copy")])
            nh.write_notebook()
        add_cell(a.doc, "live edit")  # meanwhile, in the live notebook
        await wait_until(a.is_acked, what="ack of the live edit")
        r = await asyncio.to_thread(cli_for, server, "merge", nb, copy)
        assert r.returncode == 0, r.stderr
        assert f"merged {copy} into {nb}" in r.stdout and "goes through it" in r.stderr
        await wait_until(lambda: "from the copy" in sources(a.doc), what="the merge to reach the client")
        assert sources(a.doc).count("shared start") == 1 and "live edit" in sources(a.doc)
        await wait_until(lambda: "from the copy" in disk_sources(nb) and "live edit" in disk_sources(nb),
                         what="the merged notebook to be saved")
        history = HistoryFile.read(sidecar_path(nb))
        assert "carol" in [c.author for c in history.changes]  # the copy's change, with its author
        r = await asyncio.to_thread(cli_for, server, "merge", nb, copy)
        assert r.returncode == 0 and "already up to date" in r.stdout, r.stderr
        await a.close()

    run(main())


def test_merge_endpoint_three_way_and_errors(server, unique_name):
    path = f"{unique_name}.ipynb"
    nb = server.root / path
    write_notebook(nb, make_notebook(2))

    async def main():
        a = await CollabClient(server, path, "notebook", token="user-alice").connect()
        theirs = read_notebook(nb)  # a plain copy (no history), one cell added
        theirs["cells"].append({"id": "added-cell", "cell_type": "markdown", "metadata": {},
                                "source": "added in a plain copy"})
        code, body = await http(server, "POST", f"/api/crdt/merge/{path}",
                                {"notebook": theirs, "history": None, "author": "dave"})
        assert code == 200, body
        assert body["status"] == "merged" and body["changes"] == 1 and body["threeWay"] is True
        await wait_until(lambda: "added in a plain copy" in sources(a.doc), what="the merge at the client")
        code, body = await http(server, "POST", f"/api/crdt/merge/{path}", {"notebook": theirs})
        assert code == 200 and body["changes"] == 0  # merged already
        bad = [({"history": "%%%"}, 400), ({"history": base64.b64encode(b"nonsense").decode()}, 400),
               ({"notebook": {"cells": 3}}, 400), ({}, 400), ([1, 2], 400)]
        for request, status in bad:
            code, _ = await http(server, "POST", f"/api/crdt/merge/{path}", request)
            assert code == status, request
        code, _ = await http(server, "POST", "/api/crdt/merge/missing.ipynb", {"notebook": theirs})
        assert code == 404
        code, _ = await http(server, "POST", f"/api/crdt/merge/{path}", {"notebook": theirs},
                             token="reader-erin")
        assert code == 403
        await a.close()

    run(main())


def test_a_lock_held_by_no_server_still_stops_write_commands(server, unique_name):
    from jupyter_crdt.history import NotebookHistory

    nb = server.root / f"{unique_name}.ipynb"  # served by the server, but its history is open here
    write_notebook(nb, make_notebook(2))
    with NotebookHistory.open(nb, author="me"):
        r = cli_for(server, "restore", nb, "HEAD")
        assert r.returncode == 2 and "open in a running Jupyter server" in r.stderr
        r = cli_for(server, "log", nb)
        assert r.returncode == 0 and "notebook imported" in r.stdout
