"""``%crdt`` in a kernel started by a real jupyter_server for a notebook, beside a websocket client of the
same room: status sees the client and its cell, log its edits, restore changes its document, and values
shared by one kernel are read (and followed) by a second kernel of the same notebook."""

from __future__ import annotations

import json

from tests.jupyter_crdt.server.client import CollabClient, http, wait_until
from tests.jupyter_crdt.server.notebooks import cell_index, cell_source, make_notebook, write_notebook
from tests.jupyter_crdt.server.server import JupyterServer

from .kernels import in_thread, kernel_until, own_kernel_for, run, server_kernel


def cursor_in(doc, cell_id: str) -> dict:  # noqa: ANN001
    """An awareness cursor in a cell's source, as JupyterLab's editor publishes it (relative positions
    whose ``type`` is the source Text's id)."""
    text = doc.get_array("cells")[cell_index(doc, cell_id)]["source"]
    item = text._item
    pos = {"type": {"client": item.client, "clock": item.clock}, "tname": None, "item": None, "assoc": 0}
    return {"anchor": pos, "head": pos}


def test_status_log_restore_and_shared_values(server: JupyterServer) -> None:
    path = "live.ipynb"
    write_notebook(server.root / path, make_notebook(3))

    async def main() -> None:
        kernel, _ = await in_thread(server_kernel, server, path)
        second = None
        alice = await CollabClient(server, path, "notebook", token="user-alice").connect()
        try:
            await in_thread(kernel.ok, "%load_ext jupyter_crdt")
            alice.awareness.set_local_state({"user": {"name": "alice", "display_name": "Alice A."},
                                             "cursors": [cursor_in(alice.doc, "code-1")]})
            cells = alice.doc.get_array("cells")
            cells[cell_index(alice.doc, "code-0")]["source"].insert(0, "# alice was here\n")
            await wait_until(alice.is_acked, what="alice's edit to be durable")

            # status: the client, where she is, and that the kernel reached the server
            out = await in_thread(kernel.ok, "%crdt status")
            text = out.all_text
            assert "reached http://127.0.0.1" in text
            connected = next(ln for ln in text.splitlines() if "connected" in ln)
            assert "alice" in connected
            assert any("Alice A." in ln and "cell 1 (code-1)" in ln for ln in text.splitlines()), text
            assert "Alice A." in out.html[0]

            # log: her edit, with her name, newest first
            text = (await in_thread(kernel.ok, "%crdt log -n 3")).all_text
            newest = [ln for ln in text.splitlines() if ln[:1].isdigit()][0]
            assert "alice" in newest and "cell 0 source" in newest
            assert "alice" in (await in_thread(kernel.ok, "%crdt log --author alice")).all_text
            assert "alice" in (await in_thread(kernel.ok, "%crdt log --cell code-0")).all_text
            assert "alice" not in (await in_thread(kernel.ok, "%crdt log --cell md-2")).all_text

            # diff, blame (of the running cell by default) and show, through the server
            diff = await in_thread(kernel.ok, "%crdt diff")
            assert "+# alice was here" in diff.all_text and 'class="add"' in diff.html[0]
            blame = (await in_thread(kernel.ok, "%crdt blame", "code-0")).all_text
            first = next(ln for ln in blame.splitlines() if "|" in ln)
            assert first.startswith("alice") and first.endswith("# alice was here"), blame
            assert "# alice was here" not in (await in_thread(kernel.ok, "%crdt show 1")).all_text

            # shared values: kernel 1 shares, kernel 2 (its own process, same notebook) reads and follows
            await in_thread(kernel.ok, "x = {'a': [1, 2]}\n%crdt share x")
            second = await in_thread(own_kernel_for, server, path)
            await in_thread(second.ok, "%load_ext jupyter_crdt")
            got = await in_thread(second.ok, "%crdt get x")
            assert got.text == ["{'a': [1, 2]}"]
            await in_thread(kernel.ok, "x = {'a': 3}")  # the new value is sent after the cell
            await kernel_until(second, "print(x)", lambda t: "{'a': 3}" in t, "kernel 2 to follow x")
            await in_thread(kernel.ok, "t = 'hello'\n%crdt share t --text")
            await kernel_until(second, "%crdt get t", lambda s: "hello" in s, "kernel 2 to see t")
            await in_thread(second.ok, "t = %crdt get t\nt.insert(5, ' world')")
            await kernel_until(kernel, "print(t)", lambda s: "hello world" in s, "kernel 1 to see the text")
            missing = await in_thread(second.run, "%crdt get nothing_here")
            assert missing.error and missing.error[0] == "UsageError" and "nothing_here" in missing.error[1]

            # restore: the notebook as it was at change 1, live in the client's document
            await in_thread(kernel.ok, "%crdt restore 1")
            await wait_until(lambda: not cell_source(alice.doc, "code-0").startswith("# alice"),
                             what="the restore to reach the client")
            await wait_until(lambda: "# alice" not in (server.root / path).read_text(),
                             what="the restore saved")
            on_disk = json.loads((server.root / path).read_text())
            assert "crdt:shared" not in json.dumps(on_disk)  # shared values are not part of the file
            # merge-file: an offline copy (no history) edited elsewhere, merged into the live notebook
            code, body = await http(server, "GET", f"/api/crdt/document/{path}")
            copy = body["content"]
            next(c for c in copy["cells"] if c["id"] == "md-2")["source"] = "# edited offline\n"
            (server.home / "offline-copy.ipynb").write_text(json.dumps(copy))
            merged = await in_thread(kernel.ok, f"%crdt merge-file {server.home / 'offline-copy.ipynb'}")
            assert "merged" in merged.all_text and "conflict" not in merged.all_text
            await wait_until(lambda: cell_source(alice.doc, "md-2") == "# edited offline\n",
                             what="the merged copy to reach the client")

            bad = await in_thread(kernel.run, "%crdt restore 999")
            assert bad.error and bad.error[0] == "UsageError" and "999" in bad.error[1]
        finally:
            await alice.close()
            await in_thread(kernel.stop)
            if second is not None:
                await in_thread(second.stop)

    run(main())
