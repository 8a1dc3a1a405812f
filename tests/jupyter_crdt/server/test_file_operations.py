"""A notebook's history sidecar follows the notebook through the contents API: renamed (while a client
edits it: the room stays live, later edits land in the renamed file and its history), copied (the copy
gets its own copy of the history) and deleted (the sidecar goes too)."""

from __future__ import annotations

from .client import CollabClient, http, wait_until
from .conftest import run
from .notebooks import make_notebook, new_cell, read_notebook, write_notebook


def authors(notebook) -> list[str]:
    from jupyter_crdt.history import NotebookHistory

    nh = NotebookHistory.open(notebook, writable=False, create=False)
    try:
        return [c.author for c in nh.history.changes]
    finally:
        nh.close()


def add_cell(doc, text: str) -> None:
    cells = doc.get_array("cells")
    cells.insert(len(cells), [new_cell(text)])


def sources_on_disk(path) -> list[str]:
    return ["".join(c["source"]) if isinstance(c["source"], list) else c["source"]
            for c in read_notebook(path)["cells"]]


def test_rename_while_connected_moves_the_history_and_the_room_follows(server, unique_name):
    from jupyter_crdt.history import sidecar_path

    old, new = f"{unique_name}.ipynb", f"{unique_name}-renamed.ipynb"
    write_notebook(server.root / old, make_notebook(2))

    async def main():
        a = await CollabClient(server, old, "notebook", token="user-alice").connect()
        add_cell(a.doc, "before the rename")
        await wait_until(lambda: a.is_acked(), what="ack")
        await wait_until(lambda: "before the rename" in sources_on_disk(server.root / old), what="save")
        code, model = await http(server, "PATCH", f"/api/contents/{old}", {"path": new})
        assert code == 200 and model["path"] == new
        await wait_until(lambda: sidecar_path(server.root / new).exists(), what="the sidecar to move")
        assert not sidecar_path(server.root / old).exists()
        assert not (server.root / old).exists()
        await wait_until(lambda: a.doc.get_map("state").get("path") == new, what="state.path")
        add_cell(a.doc, "after the rename")
        await wait_until(lambda: a.is_acked(), what="ack after the rename")
        await wait_until(lambda: "after the rename" in sources_on_disk(server.root / new),
                         what="the edit to be saved to the renamed file")
        assert not (server.root / old).exists()
        assert not sidecar_path(server.root / old).exists()
        await a.close()
        code, log = await http(server, "GET", f"/api/crdt/log/{new}")
        assert code == 200 and [c["author"] for c in log["changes"]].count("alice") >= 1
        # Another client of the renamed file joins the same document.
        b = await CollabClient(server, new, "notebook", token="user-bob").connect()
        srcs = [str(c["source"]) for c in b.doc.get_array("cells")]
        assert "before the rename" in srcs and "after the rename" in srcs
        await b.close()

    run(main())
    assert "alice" in authors(server.root / new)


def test_copy_gives_the_copy_its_own_history(server, unique_name):
    from jupyter_crdt.history import sidecar_path

    path = f"{unique_name}.ipynb"
    write_notebook(server.root / path, make_notebook(2))

    async def main():
        a = await CollabClient(server, path, "notebook", token="user-alice").connect()
        add_cell(a.doc, "in the original")
        await wait_until(lambda: a.is_acked(), what="ack")
        await wait_until(lambda: "in the original" in sources_on_disk(server.root / path), what="save")
        code, model = await http(server, "POST", "/api/contents", {"copy_from": path})
        assert code == 201, model
        copy = model["path"]
        await wait_until(lambda: sidecar_path(server.root / copy).exists(), what="the copied sidecar")
        assert sidecar_path(server.root / path).exists()
        c = await CollabClient(server, copy, "notebook", token="user-bob").connect()
        assert c.session_info["sessionId"] != a.session_info["sessionId"]  # two files, two sessions
        assert "in the original" in [str(x["source"]) for x in c.doc.get_array("cells")]
        add_cell(c.doc, "only in the copy")
        await wait_until(lambda: c.is_acked(), what="ack in the copy")
        await wait_until(lambda: "only in the copy" in sources_on_disk(server.root / copy), what="copy saved")
        assert "only in the copy" not in [str(x["source"]) for x in a.doc.get_array("cells")]
        await a.close()
        await c.close()
        code, log = await http(server, "GET", f"/api/crdt/log/{copy}")
        assert code == 200
        got = [ch["author"] for ch in log["changes"]]
        assert "alice" in got and "bob" in got

    run(main())
    assert "bob" not in authors(server.root / path)


def test_delete_removes_the_history_and_closes_the_room(server, unique_name):
    from jupyter_crdt.history import sidecar_path

    path = f"{unique_name}.ipynb"
    write_notebook(server.root / path, make_notebook(2))

    async def main():
        a = await CollabClient(server, path, "notebook", token="user-alice").connect()
        add_cell(a.doc, "doomed")
        await wait_until(lambda: a.is_acked(), what="ack")
        assert sidecar_path(server.root / path).exists()
        code, _ = await http(server, "DELETE", f"/api/contents/{path}")
        assert code == 204
        await wait_until(lambda: not sidecar_path(server.root / path).exists(), what="the sidecar to go")
        assert not (server.root / path).exists()
        await a.close()
        # A new notebook at the same path starts a fresh history.
        write_notebook(server.root / path, make_notebook(1))
        b = await CollabClient(server, path, "notebook", token="user-bob").connect()
        assert "doomed" not in [str(x["source"]) for x in b.doc.get_array("cells")]
        await b.close()

    run(main())


def test_rename_a_text_file_while_connected_moves_its_history(server, unique_name):
    old, new = f"{unique_name}.txt", f"{unique_name}-renamed.txt"
    (server.root / old).write_text("one\n")

    async def main():
        a = await CollabClient(server, old, token="user-alice").connect()
        a.text.insert(len(a.text), "two\n")
        await wait_until(lambda: a.is_acked(), what="ack")
        code, _ = await http(server, "PATCH", f"/api/contents/{old}", {"path": new})
        assert code == 200
        await wait_until(lambda: (server.root / f".{new}.crdt").exists(), what="the history to move")
        assert not (server.root / f".{old}.crdt").exists()
        a.text.insert(len(a.text), "three\n")
        await wait_until(lambda: a.is_acked(), what="ack after the rename")
        renamed = server.root / new
        await wait_until(lambda: renamed.exists() and renamed.read_text() == "one\ntwo\nthree\n",
                         what="the edit to reach the renamed file")
        assert not (server.root / old).exists()
        code, log = await http(server, "GET", f"/api/crdt/log/{new}")
        assert code == 200 and [c["author"] for c in log["changes"]].count("alice") == 2
        await a.close()

    run(main())


def test_deleting_a_folder_closes_the_rooms_inside_and_deletes_their_histories(server, unique_name):
    from jupyter_crdt.history import sidecar_path

    folder = server.root / f"{unique_name}-dir"
    (folder / "sub").mkdir(parents=True)
    nb, txt = f"{folder.name}/sub/n.ipynb", f"{folder.name}/t.txt"
    write_notebook(server.root / nb, make_notebook(2))
    (server.root / txt).write_text("one\n")

    async def main():
        a = await CollabClient(server, nb, "notebook", token="user-alice").connect()
        t = await CollabClient(server, txt, token="user-bob").connect()
        old_sessions = {a.session_info["sessionId"], t.session_info["sessionId"]}
        add_cell(a.doc, "doomed cell")
        t.text.insert(len(t.text), "doomed line\n")
        await wait_until(lambda: a.is_acked() and t.is_acked(), what="acks")
        await wait_until(lambda: "doomed line" in (server.root / txt).read_text(), what="the text saved")
        assert sidecar_path(server.root / nb).exists()
        code, body = await http(server, "DELETE", f"/api/contents/{folder.name}")
        assert code == 204, body
        await wait_until(lambda: a.closed and t.closed, what="the rooms inside the folder to close")
        assert a.close_code == t.close_code == 1001
        assert not folder.exists()  # the files and their sidecars are gone (no room wrote them back)
        # The same paths again: new documents with new histories, nothing of the deleted ones.
        (folder / "sub").mkdir(parents=True)
        write_notebook(server.root / nb, make_notebook(1))
        (server.root / txt).write_text("fresh\n")
        b = await CollabClient(server, nb, "notebook", token="user-bob").connect()
        u = await CollabClient(server, txt, token="user-alice").connect()
        assert "doomed cell" not in [str(x["source"]) for x in b.doc.get_array("cells")]
        assert str(u.text) == "fresh\n"
        assert not {b.session_info["sessionId"], u.session_info["sessionId"]} & old_sessions
        await b.close()
        await u.close()

    run(main())
