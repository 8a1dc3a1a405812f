"""Branches over the server: a branch room edited while others edit main, then merged into main with
nothing duplicated and nothing lost; the .ipynb only ever holds main. Listing, deleting, and the errors."""

from __future__ import annotations

from urllib.parse import quote

from .client import CollabClient, http, wait_until
from .conftest import run
from .notebooks import (
    cell_index,
    cell_source,
    export,
    make_notebook,
    read_notebook,
    same_content,
    write_notebook,
)


def rerun(doc, cell_id: str, text: str, count: int) -> None:
    """What a kernel's re-run of a code cell does to it: outputs cleared, a new one, a new count."""
    from jupyter_crdt.notebook.schema import output_prelim

    cell = doc.get_array("cells")[cell_index(doc, cell_id)]
    with doc.transact():
        outputs = cell["outputs"]
        outputs.delete(0, len(outputs))
        outputs.insert(0, [output_prelim({"output_type": "stream", "name": "stdout", "text": text})])
        cell["execution_count"] = count


def outputs_of(nb: dict, cell_id: str) -> list:
    return next(c["outputs"] for c in nb["cells"] if c["id"] == cell_id)


def test_branch_edited_beside_main_then_merged(server, unique_name):
    path = f"{unique_name}.ipynb"
    write_notebook(server.root / path, make_notebook(3))
    api = quote(path)

    async def main():
        alice = await CollabClient(server, path, "notebook", token="user-alice").connect()
        code, made = await http(server, "POST", f"/api/crdt/branches/{api}", {"name": "draft"})
        assert code == 201, made
        file_id = alice.session_info["fileId"]
        assert made == {"name": "draft", "roomId": f"json:notebook:{file_id}@draft"}
        code, listed = await http(server, "GET", f"/api/crdt/branches/{api}")
        assert code == 200 and listed["path"] == path
        assert [b["name"] for b in listed["branches"]] == ["main", "draft"]
        assert listed["branches"][0]["roomId"] == f"json:notebook:{file_id}"
        assert all(isinstance(b["changes"], int) and b["changes"] >= 1 for b in listed["branches"])

        bob = await CollabClient(server, path, "notebook", token="user-bob").connect(room=made["roomId"])
        assert same_content(export(bob.doc), export(alice.doc))
        cells = bob.doc.get_array("cells")
        cells[cell_index(bob.doc, "code-0")]["source"].insert(0, "# draft\n")
        rerun(bob.doc, "code-1", "draft out\n", 10)
        # Meanwhile on main: another cell edited, and the same cell re-run.
        alice.doc.get_array("cells")[cell_index(alice.doc, "md-2")]["source"].insert(0, "meanwhile ")
        rerun(alice.doc, "code-1", "main out\n", 20)
        await wait_until(lambda: bob.is_acked() and alice.is_acked(), what="both sides durable")
        await wait_until(lambda: "meanwhile" in (server.root / path).read_text(), what="main saved")
        assert "# draft" not in (server.root / path).read_text()  # a branch is never written to the file

        code, draft_log = await http(server, "GET", f"/api/crdt/log/{api}?branch=draft")
        assert code == 200 and draft_log["branch"] == "draft"
        assert "bob" in [c["author"] for c in draft_log["changes"]]
        code, main_log = await http(server, "GET", f"/api/crdt/log/{api}")
        assert "bob" not in [c["author"] for c in main_log["changes"]]
        code, draft_doc = await http(server, "GET", f"/api/crdt/document/{api}?branch=draft")
        assert code == 200 and cell_source_of(draft_doc["content"], "code-0").startswith("# draft")

        code, merged = await http(server, "POST", f"/api/crdt/branches/{api}/merge", {"from": "draft"})
        assert code == 200, merged
        assert (merged["status"], merged["into"], merged["from"]) == ("merged", "main", "draft")

        def merged_live() -> bool:
            return cell_source(alice.doc, "code-0").startswith("# draft")

        await wait_until(merged_live, what="the merge to reach main's client")
        nb = export(alice.doc)
        assert [c["id"] for c in nb["cells"]] == ["code-0", "code-1", "md-2"]
        assert cell_source(alice.doc, "code-0").count("# draft") == 1
        assert cell_source(alice.doc, "md-2").startswith("meanwhile ")
        outs = outputs_of(nb, "code-1")
        assert len(outs) == 1 and outs[0]["text"] in ("draft out\n", "main out\n"), outs
        await wait_until(lambda: same_content(read_notebook(server.root / path), export(alice.doc)),
                         what="the .ipynb to hold the merged main")
        # Main goes on being edited as usual after the merge.
        alice.doc.get_array("cells")[cell_index(alice.doc, "code-0")]["source"].insert(0, "# after\n")
        await wait_until(lambda: "# after" in (server.root / path).read_text(), what="a save after the merge")
        await bob.close()
        await alice.close()

    run(main())


def cell_source_of(nb: dict, cell_id: str) -> str:
    source = next(c["source"] for c in nb["cells"] if c["id"] == cell_id)
    return source if isinstance(source, str) else "".join(source)


def test_merge_when_main_room_is_not_open_and_branch_from_branch(server, unique_name):
    path = f"{unique_name}.ipynb"
    write_notebook(server.root / path, make_notebook(2))
    api = quote(path)

    async def main():
        code, made = await http(server, "POST", f"/api/crdt/branches/{api}", {"name": "a"})
        assert code == 201
        carol = await CollabClient(server, path, "notebook", token="user-carol").connect(room=made["roomId"])
        carol.doc.get_array("cells")[0]["source"].insert(0, "# from a\n")
        await wait_until(carol.is_acked, what="carol's edit durable")
        code, made_b = await http(server, "POST", f"/api/crdt/branches/{api}", {"name": "b.2", "from": "a"})
        assert code == 201 and made_b["roomId"].endswith("@b.2")
        code, doc_b = await http(server, "GET", f"/api/crdt/document/{api}?branch=b.2")
        assert cell_source_of(doc_b["content"], "code-0").startswith("# from a")
        await carol.close()
        code, merged = await http(server, "POST", f"/api/crdt/branches/{api}/merge",
                                  {"from": "b.2", "into": "main"})
        assert code == 200 and merged["status"] == "merged"
        await wait_until(lambda: "# from a" in (server.root / path).read_text(), what="main saved")
        code, listed = await http(server, "GET", f"/api/crdt/branches/{api}")
        assert [b["name"] for b in listed["branches"]] == ["main", "a", "b.2"]

    run(main())


def test_branch_errors_and_delete(server, unique_name):
    path = f"{unique_name}.ipynb"
    write_notebook(server.root / path, make_notebook(2))
    (server.root / f"{unique_name}.txt").write_text("plain\n")
    api = quote(path)

    async def main():
        url = f"/api/crdt/branches/{api}"
        for bad in ("bad name", "-dash", "written", "x" * 65, "", "a/b"):
            code, body = await http(server, "POST", url, {"name": bad})
            assert code == 400 and body["message"], (bad, code, body)
        code, _ = await http(server, "POST", url, {"name": "main"})
        assert code == 409
        code, _ = await http(server, "POST", url, {"name": "draft"})
        assert code == 201
        code, body = await http(server, "POST", url, {"name": "draft"})
        assert code == 409 and "draft" in body["message"]
        code, body = await http(server, "POST", url, {"name": "other", "from": "nope"})
        assert code == 404
        code, body = await http(server, "POST", f"{url}/merge", {"from": "nope"})
        assert code == 404 and "nope" in body["message"]
        code, _ = await http(server, "POST", f"{url}/merge", {"from": "draft", "into": "nope"})
        assert code == 404
        code, _ = await http(server, "GET", f"/api/crdt/log/{api}?branch=nope")
        assert code == 404
        code, _ = await http(server, "GET", f"/api/crdt/log/{api}?branch=bad%20name")
        assert code == 400
        code, _ = await http(server, "GET", "/api/crdt/branches/no-such.ipynb")
        assert code == 404
        code, _ = await http(server, "POST", "/api/crdt/branches/no-such.ipynb", {"name": "x"})
        assert code == 404
        code, _ = await http(server, "POST", f"/api/crdt/branches/{unique_name}.txt", {"name": "x"})
        assert code == 400  # text files keep no branches
        code, _ = await http(server, "POST", url, {"name": "by-reader"}, token="reader-bob")
        assert code == 403
        code, _ = await http(server, "GET", url, token="reader-bob")
        assert code == 200
        code, _ = await http(server, "DELETE", f"{url}?name=main")
        assert code == 400
        code, _ = await http(server, "DELETE", f"{url}?name=nope")
        assert code == 404

        dave = await CollabClient(server, path, "notebook", token="user-dave").connect(
            room=f"json:notebook:{(await file_id(server, path))}@draft")
        code, _ = await http(server, "DELETE", f"{url}?name=draft")
        assert code == 204
        await wait_until(lambda: dave.closed, what="the branch room to close")
        code, listed = await http(server, "GET", url)
        assert [b["name"] for b in listed["branches"]] == ["main"]
        gone = CollabClient(server, path, "notebook", token="user-dave")
        await gone.connect(room=f"json:notebook:{(await file_id(server, path))}@draft", wait_synced=False)
        await wait_until(lambda: gone.closed, what="the deleted branch's room to refuse")
        assert gone.close_code == 4404

    run(main())


async def file_id(server, path: str) -> str:
    info = await CollabClient(server, path, "notebook").open_session()
    return info["fileId"]


def test_acknowledged_branch_edits_survive_a_crash(fresh_server):
    """Branch edits are in the notebook's sidecar once acknowledged: after a SIGKILL and a restart the
    branch room holds them, and the file still holds only main."""
    path = "crash.ipynb"
    write_notebook(fresh_server.root / path, make_notebook(2))
    fresh_server.start()
    api = quote(path)

    async def before_crash() -> str:
        code, made = await http(fresh_server, "POST", f"/api/crdt/branches/{api}", {"name": "wip"})
        assert code == 201
        erin = CollabClient(fresh_server, path, "notebook", token="user-erin")
        await erin.connect(room=made["roomId"])
        erin.doc.get_array("cells")[0]["source"].insert(0, "# kept\n")
        await wait_until(erin.is_acked, what="the branch edit to be durable")
        return made["roomId"]

    async def after_restart(room_id: str) -> None:
        code, listed = await http(fresh_server, "GET", f"/api/crdt/branches/{api}")
        assert code == 200 and [b["name"] for b in listed["branches"]] == ["main", "wip"]
        assert listed["branches"][1]["ahead"] >= 1
        erin = await CollabClient(fresh_server, path, "notebook", token="user-erin").connect(room=room_id)
        assert cell_source(erin.doc, "code-0").startswith("# kept\n")
        code, log = await http(fresh_server, "GET", f"/api/crdt/log/{api}?branch=wip")
        assert "erin" in [c["author"] for c in log["changes"]]
        assert "# kept" not in (fresh_server.root / path).read_text()
        await erin.close()

    room_id = run(before_crash())
    fresh_server.kill()
    fresh_server.start()
    run(after_restart(room_id))


def test_status_and_restore_on_a_branch(server, unique_name):
    """``?branch=`` on the existing endpoints: a branch's status, and restoring an earlier version of the
    branch (a new change on the branch, seen live in its room) while main is left alone."""
    path = f"{unique_name}.ipynb"
    write_notebook(server.root / path, make_notebook(2))
    api = quote(path)

    async def main():
        code, made = await http(server, "POST", f"/api/crdt/branches/{api}", {"name": "try"})
        assert code == 201
        fay = await CollabClient(server, path, "notebook", token="user-fay").connect(room=made["roomId"])
        fay.doc.get_array("cells")[0]["source"].insert(0, "# try\n")
        await wait_until(fay.is_acked, what="fay's edit durable")
        code, status = await http(server, "GET", f"/api/crdt/status/{api}?branch=try")
        assert code == 200 and status["branch"] == "try" and status["roomId"] == made["roomId"]
        assert status["peers"] == ["fay"]
        code, restored = await http(server, "POST", f"/api/crdt/restore/{api}?branch=try", {"seq": 1})
        assert code == 200 and restored["branch"] == "try"
        await wait_until(lambda: not cell_source(fay.doc, "code-0").startswith("# try"),
                         what="the restore to reach the branch room")
        code, log = await http(server, "GET", f"/api/crdt/log/{api}?branch=try")
        assert log["changes"][-1]["kind"] == "edit" and log["changes"][-1]["author"] == "admin"
        code, main_log = await http(server, "GET", f"/api/crdt/log/{api}")
        assert "admin" not in [c["author"] for c in main_log["changes"]]
        code, _ = await http(server, "POST", f"/api/crdt/restore/{api}?branch=try", {"seq": 999})
        assert code == 404
        await fay.close()

    run(main())
