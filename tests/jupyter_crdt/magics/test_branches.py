"""The branch workflow from a kernel: ``%crdt branch draft``, edits on the draft while a websocket client
edits main, ``%crdt merge draft``: main holds both, a cell re-run on both sides keeps one side's outputs,
and the .ipynb on disk is the merged main. Unknown branches are named in a one-line error."""

from __future__ import annotations

import json
from urllib.parse import quote

from tests.jupyter_crdt.server.client import CollabClient, http, wait_until
from tests.jupyter_crdt.server.notebooks import (
    cell_index,
    cell_source,
    make_notebook,
    read_notebook,
    write_notebook,
)
from tests.jupyter_crdt.server.server import JupyterServer

from .kernels import in_thread, run, server_kernel


def rerun(doc, cell_id: str, text: str, count: int) -> None:  # noqa: ANN001
    """What a kernel's re-run of a code cell does to it: outputs cleared, a new one, a new count."""
    from jupyter_crdt.notebook.schema import output_prelim

    cell = doc.get_array("cells")[cell_index(doc, cell_id)]
    with doc.transact():
        outputs = cell["outputs"]
        outputs.delete(0, len(outputs))
        outputs.insert(0, [output_prelim({"output_type": "stream", "name": "stdout", "text": text})])
        cell["execution_count"] = count


def cell_of(nb: dict, cell_id: str) -> dict:
    return next(c for c in nb["cells"] if c["id"] == cell_id)


def source(cell: dict) -> str:
    return "".join(cell["source"])


def test_branch_edit_merge_from_the_kernel(server: JupyterServer) -> None:
    path = "branchy.ipynb"
    write_notebook(server.root / path, make_notebook(3))

    async def main() -> None:
        kernel, _ = await in_thread(server_kernel, server, path)
        alice = await CollabClient(server, path, "notebook", token="user-alice").connect()
        bob = None
        try:
            await in_thread(kernel.ok, "%load_ext jupyter_crdt")
            made = (await in_thread(kernel.ok, "%crdt branch draft")).all_text
            assert "created branch draft from main" in made
            listed = (await in_thread(kernel.ok, "%crdt branch")).all_text
            assert "draft" in listed and "* main" in " ".join(listed.split())

            # bob edits the draft's room; alice edits main meanwhile; both re-run cell code-1
            file_id = alice.session_info["fileId"]
            bob = await CollabClient(server, path, "notebook", token="user-bob").connect(
                room=f"json:notebook:{file_id}@draft")
            bob.doc.get_array("cells")[cell_index(bob.doc, "code-0")]["source"].insert(0, "# draft\n")
            rerun(bob.doc, "code-1", "draft out\n", 10)
            alice.doc.get_array("cells")[cell_index(alice.doc, "md-2")]["source"].insert(0, "meanwhile ")
            rerun(alice.doc, "code-1", "main out\n", 20)
            await wait_until(lambda: bob.is_acked() and alice.is_acked(), what="both sides durable")

            # checkout: this kernel's magics act on the draft (its log has bob's change, main's has not)
            await in_thread(kernel.ok, "%crdt checkout draft")
            assert "bob" in (await in_thread(kernel.ok, "%crdt log")).all_text
            status = (await in_thread(kernel.ok, "%crdt status")).all_text
            assert any(ln.split()[:2] == ["branch", "draft"] for ln in status.splitlines()), status
            await in_thread(kernel.ok, "%crdt checkout main")
            assert "bob" not in (await in_thread(kernel.ok, "%crdt log")).all_text

            merged = (await in_thread(kernel.ok, "%crdt merge draft")).all_text
            assert "merged branch draft into main" in merged

            code, body = await http(server, "GET", f"/api/crdt/document/{quote(path)}")
            assert code == 200
            nb = body["content"]
            assert source(cell_of(nb, "code-0")).startswith("# draft\n")
            assert source(cell_of(nb, "md-2")).startswith("meanwhile ")
            outputs = cell_of(nb, "code-1")["outputs"]
            assert len(outputs) == 1 and "".join(outputs[0]["text"]) in ("draft out\n", "main out\n")
            # alice, live on main, sees the merge
            await wait_until(lambda: cell_source(alice.doc, "code-0").startswith("# draft"),
                             what="the merge to reach main's clients")

            def saved() -> bool:
                try:
                    disk = read_notebook(server.root / path)
                except (OSError, ValueError):
                    return False  # caught mid-write
                return json.dumps(disk["cells"], sort_keys=True) == json.dumps(nb["cells"], sort_keys=True)

            await wait_until(saved, what="the merged main on disk")

            for line, name in (("%crdt checkout nope", "nope"), ("%crdt merge ghost", "ghost")):
                bad = await in_thread(kernel.run, line)
                assert bad.error and bad.error[0] == "UsageError", bad
                assert f"no branch {name!r}" in bad.error[1] and "\n" not in bad.error[1]
            itself = await in_thread(kernel.run, "%crdt merge main")
            assert itself.error and "into itself" in itself.error[1]
        finally:
            await alice.close()
            if bob is not None:
                await bob.close()
            await in_thread(kernel.stop)

    run(main())
