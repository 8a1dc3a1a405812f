"""The REST side: ``/api/crdt/…`` over a room's history, and the reference frontend's fork,
timeline and undo_redo endpoints (so JupyterLab's timeline slider and fork API work, never 404)."""

from __future__ import annotations

from .client import CollabClient, http, wait_until
from .conftest import run


def test_log_document_status_and_restore(server, unique_name):
    path = f"{unique_name}.txt"
    (server.root / path).write_text("version one\n")

    async def main():
        a = await CollabClient(server, path, token="user-alice").connect()
        a.text.insert(len(a.text), "alice line\n")
        await wait_until(lambda: a.is_acked(), what="ack")
        code, log = await http(server, "GET", f"/api/crdt/log/{path}")
        assert code == 200
        authors = [c["author"] for c in log["changes"]]
        assert authors[0] == "import" and "alice" in authors
        code, doc = await http(server, "GET", f"/api/crdt/document/{path}")
        assert code == 200 and doc["content"] == "version one\nalice line\n"
        code, _ = await http(server, "POST", f"/api/crdt/restore/{path}", {"seq": 1}, token="user-bob")
        assert code == 200
        await wait_until(lambda: str(a.text) == "version one\n", what="the restore to reach the client")
        await wait_until(lambda: (server.root / path).read_text() == "version one\n", what="save")
        code, log = await http(server, "GET", f"/api/crdt/log/{path}")
        assert log["changes"][-1]["author"] in ("bob", "server")
        code, _ = await http(server, "GET", f"/api/crdt/nothing/{path}")
        assert code == 404
        await a.close()

    run(main())


def test_fork_edit_and_merge_back(server, unique_name):
    path = f"{unique_name}.txt"
    (server.root / path).write_text("root text\n")

    async def main():
        a = await CollabClient(server, path, token="user-alice").connect()
        info = a.session_info
        root_id = f"{info['format']}:{info['type']}:{info['fileId']}"
        code, fork = await http(server, "PUT", f"/api/collaboration/fork/{root_id}",
                                {"title": "draft", "description": "", "synchronize": False})
        assert code == 201
        fork_id = fork["fork_roomid"]
        code, forks = await http(server, "GET", f"/api/collaboration/fork/{root_id}")
        assert code == 200 and fork_id in forks
        f = await CollabClient(server, path, token="user-bob").connect(room=fork_id,
                                                                       session_id=fork["sessionId"])
        assert str(f.text) == "root text\n"
        f.text.insert(0, "draft: ")
        a.text.insert(len(a.text), "meanwhile\n")
        await wait_until(lambda: "meanwhile" in (server.root / path).read_text(), what="root save")
        assert "draft" not in (server.root / path).read_text()
        code, _ = await http(server, "DELETE", f"/api/collaboration/fork/{fork_id}?merge=true")
        assert code == 200
        await wait_until(lambda: str(a.text) == "draft: root text\nmeanwhile\n", what="the merge")
        code, _ = await http(server, "DELETE", f"/api/collaboration/fork/{fork_id}?merge=true")
        assert code == 404
        await a.close()
        await f.close()

    run(main())


def test_timeline_undo_redo_and_restore(server, unique_name):
    path = f"{unique_name}.txt"
    (server.root / path).write_text("v0\n")

    async def main():
        a = await CollabClient(server, path, token="user-alice").connect()
        from crdt import HistoryFile

        for i in range(1, 4):
            a.text.insert(len(a.text), f"v{i}\n")
            await wait_until(lambda: a.is_acked(), what="ack")
            # one version each: an author's keystrokes are one change until the history's idle gap
            await wait_until(lambda: not HistoryFile.read_journal(server.root / f".{path}.crdt"),
                             what="the change to be written")
        code, tl = await http(server, "GET", f"/api/collaboration/timeline/{path}?format=text&type=file")
        assert code == 200
        assert set(tl) == {"roomId", "timestamps", "forkRoom", "sessionId"}
        assert len(tl["timestamps"]) >= 4
        viewer = await CollabClient(server, path, token="user-alice").connect(room=tl["forkRoom"])
        assert str(viewer.text) == "v0\nv1\nv2\nv3\n"
        room_id = tl["roomId"]

        def undo_redo(action: str, steps: int) -> str:
            query = f"action={action}&steps={steps}&forkRoom={tl['forkRoom']}"
            return f"/api/collaboration/undo_redo/{room_id}?{query}"

        code, answer = await http(server, "PUT", undo_redo("undo", 2))
        assert code == 200 and answer["status"] == "undone"
        await wait_until(lambda: str(viewer.text) == "v0\nv1\n", what="the timeline to go back")
        # The timeline room is read-only: edits there are refused, and taken back on the viewer's side.
        viewer.text.insert(0, "x")
        await wait_until(lambda: viewer.errors(), what="refusal")
        await wait_until(lambda: str(viewer.text) == "v0\nv1\n", what="the refused edit to be taken back")
        code, answer = await http(server, "PUT", undo_redo("redo", 1))
        assert answer["status"] == "redone"
        await wait_until(lambda: str(viewer.text) == "v0\nv1\nv2\n", what="redo")
        code, answer = await http(server, "PUT", undo_redo("restore", 0))
        assert code == 200 and answer["code"] == 200
        await wait_until(lambda: str(a.text) == "v0\nv1\nv2\n", what="the restored version")
        await a.close()
        await viewer.close()

    run(main())


def test_notebook_history_is_the_projects_sidecar(server, unique_name):
    """Notebook rooms keep their history in ``.NAME.crdt`` (jupyter_crdt.history.sidecar): the command line
    sees the server's changes, and restoring through the API works on it."""

    from crdt import HistoryFile

    from .notebooks import cell_source, make_notebook, write_notebook

    path = f"{unique_name}.ipynb"
    write_notebook(server.root / path, make_notebook(3))

    async def main():
        a = await CollabClient(server, path, "notebook", token="user-alice").connect()
        a.doc.get_array("cells")[0]["source"].insert(0, "# alice\n")
        await wait_until(lambda: a.is_acked(), what="ack")  # journaled in the sidecar by now
        sidecar = server.root / f".{path}.crdt"
        assert b"alice" in sidecar.read_bytes()
        # her keystrokes become a change once the grouper's idle gap has passed
        await wait_until(lambda: "alice" in [c.author for c in HistoryFile.read(sidecar).changes],
                         what="alice's change")
        authors = [c.author for c in HistoryFile.read(sidecar).changes]
        assert authors[0] == "import" and "alice" in authors
        code, log = await http(server, "GET", f"/api/crdt/log/{path}")
        assert code == 200 and log["sessionId"] == a.session_info["sessionId"]
        code, body = await http(server, "POST", f"/api/crdt/restore/{path}", {"seq": 1})
        assert code == 200 and body["changed"] is True
        await wait_until(lambda: not cell_source(a.doc, "code-0").startswith("# alice"), what="restore")
        # again: the document already is that version, and the answer says nothing changed
        code, body = await http(server, "POST", f"/api/crdt/restore/{path}", {"seq": 1})
        assert code == 200 and body["changed"] is False
        await a.close()

    run(main())


def test_log_show_diff_and_blame_of_a_notebook(server, unique_name):
    """Each logged change has its hash and a one-line summary; ``show`` gives the notebook right after a
    change, ``diff`` what changed per cell since one, ``blame`` who wrote each line of a cell."""
    import re

    from .notebooks import cell_index, make_notebook, new_cell, write_notebook

    path = f"{unique_name}.ipynb"
    write_notebook(server.root / path, make_notebook(3))

    async def main():
        a = await CollabClient(server, path, "notebook", token="user-alice").connect()
        cells = a.doc.get_array("cells")
        cells[cell_index(a.doc, "code-0")]["source"].insert(0, "# alice\n")
        with a.doc.transact():
            cells.delete(cell_index(a.doc, "md-2"), 1)
            cells.insert(len(cells), [new_cell("added = 1\n")])
        await wait_until(lambda: a.is_acked(), what="ack")
        code, log = await http(server, "GET", f"/api/crdt/log/{path}")
        assert code == 200
        changes = log["changes"]
        assert [c["seq"] for c in changes] == list(range(1, len(changes) + 1))
        assert all(re.fullmatch(r"[0-9a-f]{64}", c["id"]) for c in changes)
        assert len({c["id"] for c in changes}) == len(changes)
        assert changes[0]["author"] == "import" and "imported" in changes[0]["summary"]
        mine = [c for c in changes if c["author"] == "alice"]
        assert mine and all(isinstance(c["summary"], str) and "\n" not in c["summary"] for c in mine)
        assert any("source +8" in c["summary"] for c in mine), mine

        code, shown = await http(server, "GET", f"/api/crdt/show/{path}?seq=1")
        assert code == 200 and shown["seq"] == 1 and shown["path"] == path
        assert [c["id"] for c in shown["content"]["cells"]] == ["code-0", "code-1", "md-2"]
        assert not "".join(shown["content"]["cells"][0]["source"]).startswith("# alice")
        last = changes[-1]["seq"]
        code, shown = await http(server, "GET", f"/api/crdt/show/{path}?seq={last}")
        assert "".join(shown["content"]["cells"][0]["source"]).startswith("# alice")
        code, body = await http(server, "GET", f"/api/crdt/show/{path}?seq=100000")
        assert code == 404 and "no change 100000" in body["message"]
        code, _ = await http(server, "GET", f"/api/crdt/show/{path}?seq=0")
        assert code == 404
        code, _ = await http(server, "GET", f"/api/crdt/show/{path}")
        assert code == 400

        code, diff = await http(server, "GET", f"/api/crdt/diff/{path}?from=1")
        assert code == 200 and (diff["from"], diff["to"]) == (1, None)
        status = {c["id"]: c["status"] for c in diff["cells"]}
        assert status["code-0"] == "modified" and status["code-1"] == "unchanged"
        assert status["md-2"] == "removed"
        added = [c for c in diff["cells"] if c["status"] == "added"]
        assert len(added) == 1 and "+added = 1" in added[0]["diff"]
        code0 = next(c for c in diff["cells"] if c["id"] == "code-0")
        assert "+# alice" in code0["diff"].splitlines()
        assert next(c for c in diff["cells"] if c["id"] == "code-1")["diff"] == ""
        code, same = await http(server, "GET", f"/api/crdt/diff/{path}?from=1&to=1")
        assert code == 200 and all(c["status"] == "unchanged" for c in same["cells"])
        code, _ = await http(server, "GET", f"/api/crdt/diff/{path}?from=1&to=999")
        assert code == 404

        code, blame = await http(server, "GET", f"/api/crdt/blame/{path}?cell=code-0")
        assert code == 200 and blame["cell"] == "code-0"
        lines = blame["lines"]
        assert [ln["line"] for ln in lines] == list(range(1, len(lines) + 1))
        assert (lines[0]["author"], lines[0]["text"]) == ("alice", "# alice")
        assert lines[1]["author"] == "import" and all(isinstance(ln["time"], float) for ln in lines)
        code, body = await http(server, "GET", f"/api/crdt/blame/{path}?cell=no-such-cell")
        assert code == 404 and "no-such-cell" in body["message"]
        await a.close()

    run(main())


def test_text_file_log_has_ids_and_summaries(server, unique_name):
    path = f"{unique_name}.txt"
    (server.root / path).write_text("abc\n")

    async def main():
        a = await CollabClient(server, path, token="user-alice").connect()
        a.text.insert(0, "hello ")
        await wait_until(lambda: a.is_acked(), what="ack")
        code, log = await http(server, "GET", f"/api/crdt/log/{path}")
        assert code == 200
        assert len({c["id"] for c in log["changes"]}) == len(log["changes"])
        assert any(c["summary"].startswith("+6") for c in log["changes"] if c["author"] == "alice"), log
        assert "4 characters" in log["changes"][0]["summary"]
        code, shown = await http(server, "GET", f"/api/crdt/show/{path}?seq=1")
        assert code == 200 and shown["content"] == "abc\n"
        code, _ = await http(server, "GET", f"/api/crdt/blame/{path}?cell=0")
        assert code == 400
        await a.close()

    run(main())


def test_log_of_a_history_kept_in_memory_counts_characters(server, unique_name, tmp_path):
    """A document whose history cannot be kept on disk (its sidecar is a link) still has a log: the
    updates its room accepted, each said in characters inserted and deleted."""
    text = server.root / f"{unique_name}.txt"
    text.write_text("hello\n")
    text.with_name(f".{text.name}.crdt").symlink_to(tmp_path / "elsewhere")

    async def main():
        a = await CollabClient(server, text.name, "file", token="user-alice").connect()
        a.text.insert(len(a.text), "typed\n")
        await wait_until(lambda: a.is_acked(), what="ack")
        a.text.delete(0, 2)
        await wait_until(lambda: a.is_acked(), what="ack")
        code, log = await http(server, "GET", f"/api/crdt/log/{text.name}?type=file")
        assert code == 200, log
        summaries = [(c["author"], c["summary"]) for c in log["changes"]]
        assert summaries[0][1] == "loaded (6 characters)", summaries
        assert ("alice", "+6/-0 characters") in summaries, summaries
        assert ("alice", "+0/-2 characters") in summaries, summaries
        assert str(a.text) == "llo\ntyped\n"
        await a.close()

    run(main())
