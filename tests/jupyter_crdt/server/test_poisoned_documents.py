"""Issue #12 rows 2 and 3, through a real server: a writer's hostile structure never makes a notebook
unsavable or unopenable.

Row 2: Y.Maps nested 1,500 deep in a cell's metadata and a bare string in the root ``cells`` array (both
valid Yjs, so accepted): every save leaves out just those parts and says where they are (log and the
save's answer), the rest of the notebook (a later edit included) is saved, ``GET /api/crdt/document``
answers, the notebook opens again after a restart, and ``jupyter crdt log`` prints no traceback.
Row 3: one Any value nested 10,000 deep is refused at the depth limit (the connection is closed with a
reason), and the room keeps serving everyone else.
"""

from __future__ import annotations

import asyncio

import pytest

import crdt
from crdt.sync import encode_sync_update

from ..history.fuzz_sidecars import deep_any_update
from .client import CollabClient, http, wait_until
from .conftest import run
from .notebooks import make_notebook, read_notebook, sources, write_notebook


def _disk_sources(path) -> list[str]:
    return ["".join(c["source"]) if isinstance(c["source"], list) else c["source"]
            for c in read_notebook(path)["cells"]]


def _poison(doc: crdt.Doc) -> None:
    cells = doc.get_array("cells")
    with doc.transact():
        cur = cells[0]["metadata"]
        for _ in range(1500):
            cur["deep"] = crdt.Map()
            cur = cur["deep"]
        cur["leaf"] = 1
        cells.insert(len(cells), ["a bare string"])


def test_deep_maps_and_a_bare_string_cell_leave_the_notebook_savable(fresh_server):
    from ..history.helpers import cli

    server = fresh_server
    path = "poisoned.ipynb"
    nb_path = server.root / path
    write_notebook(nb_path, make_notebook(2))
    server.start()

    async def main():
        mallory = await CollabClient(server, path, "notebook", token="user-mallory").connect()
        _poison(mallory.doc)
        await wait_until(mallory.is_acked, what="the hostile update's ack")
        alice = await CollabClient(server, path, "notebook", token="user-alice").connect()
        src = alice.doc.get_array("cells")[1]["source"]
        src.insert(0, "# still saved\n")
        await wait_until(alice.is_acked, what="alice's ack")
        await wait_until(lambda: _disk_sources(nb_path)[1].startswith("# still saved"), timeout=30,
                         what="the save of alice's edit")
        on_disk = read_notebook(nb_path)
        assert len(on_disk["cells"]) == 2  # the bare string is not a cell: left out
        assert "deep" not in on_disk["cells"][0]["metadata"]
        assert on_disk["cells"][0]["metadata"].get("tags") == []  # the rest of that metadata is kept

        code, reply = await http(server, "POST", f"/api/crdt/save/{path}")
        assert code == 200 and reply["status"] == "success", reply
        problems = "\n".join(reply["problems"])
        assert "cells[0].metadata.deep: value nested deeper than 64 levels" in problems
        assert "cells[2]: not a cell (a stored str)" in problems
        code, doc = await http(server, "GET", f"/api/crdt/document/{path}?type=notebook")
        assert code == 200, doc
        await mallory.close()
        await alice.close()

    run(main())
    assert "cells[0].metadata.deep" in server.log()
    server.stop()
    server.start()

    async def reopen():
        bob = await CollabClient(server, path, "notebook", token="user-bob").connect()
        assert "# still saved" in str(bob.doc.get_array("cells")[1]["source"])
        assert bob.doc.get_array("cells")[2] == "a bare string"  # kept in the document and its history
        bob.doc.get_array("cells")[0]["source"].insert(0, "# after the restart\n")
        await wait_until(lambda: _disk_sources(nb_path)[0].startswith("# after the restart"), timeout=30,
                         what="a save after the restart")
        await bob.close()

    run(reopen())
    server.stop()
    r = cli("log", nb_path)
    assert r.returncode == 0, r.stderr
    assert "Traceback" not in r.stderr + r.stdout
    r = cli("show", nb_path)
    assert "Traceback" not in r.stderr + r.stdout


def test_a_value_nested_10000_deep_is_refused_and_the_room_keeps_working(server, unique_name):
    path = f"{unique_name}.ipynb"
    nb_path = server.root / path
    write_notebook(nb_path, make_notebook(2))

    async def main():
        alice = await CollabClient(server, path, "notebook", token="user-alice").connect()
        mallory = await CollabClient(server, path, "notebook", token="user-mallory").connect()
        mallory.send_raw(encode_sync_update(deep_any_update(10_000, client_id=424242)))
        await wait_until(lambda: mallory.closed, what="the hostile connection to close")
        assert "nested deeper than 64 levels" in (mallory.close_reason or "")
        assert "deep" not in alice.doc.get_map("meta").keys()
        # The room still serves: a new peer joins and sees alice's edit, which is saved.
        alice.doc.get_array("cells")[0]["source"].insert(0, "# fine\n")
        await wait_until(alice.is_acked, what="alice's ack")
        carol = await asyncio.wait_for(
            CollabClient(server, path, "notebook", token="user-carol").connect(), 20)
        assert sources(carol.doc)[0].startswith("# fine")
        await wait_until(lambda: _disk_sources(nb_path)[0].startswith("# fine"), timeout=30, what="the save")
        for c in (alice, carol):
            await c.close()

    run(main())


# -- the export rule, in the library (no server) ---------------------------------------------------------


def _poisoned_doc() -> crdt.Doc:
    from jupyter_crdt.notebook import notebook_to_doc

    doc = notebook_to_doc(make_notebook(3))
    _poison(doc)
    cells = doc.get_array("cells")
    with doc.transact():
        outputs = cells[1]["outputs"]
        cur = outputs[0]
        cur["data"] = crdt.Map()
        cur = cur["data"]
        for _ in range(100):
            cur["x"] = crdt.Map()
            cur = cur["x"]
        doc.get_map("meta")["metadata"]["deep_top"] = crdt.Map()
        cur = doc.get_map("meta")["metadata"]["deep_top"]
        for _ in range(70):
            cur["y"] = crdt.Map()
            cur = cur["y"]
    return doc


def test_export_leaves_out_only_the_offending_parts_and_names_them():
    import nbformat

    from jupyter_crdt.notebook import doc_to_notebook

    doc = _poisoned_doc()
    problems: list[str] = []
    nb = doc_to_notebook(doc, problems=problems)
    kept = "; left out of the file (kept in the history)"
    too_deep = "value nested deeper than 64 levels" + kept
    assert problems == [
        f"metadata.deep_top: {too_deep}",
        f"cells[0].metadata.deep: {too_deep}",
        f"cells[1].outputs[0].data: {too_deep}",
        f"cells[3]: not a cell (a stored str){kept}",
    ]
    assert [c["id"] for c in nb["cells"]] == ["code-0", "code-1", "md-2"]
    assert nb["cells"][0]["metadata"] == {"tags": []}
    assert nb["cells"][1]["outputs"][0]["text"] == "out 1\n"  # the output's other fields stay
    assert "kernelspec" in nb["metadata"] and "deep_top" not in nb["metadata"]
    nbformat.validate(nb)
    nbformat.writes(nb)
    # Without a list to fill, the same is a warning.
    with pytest.warns(UserWarning, match=r"cells\[3\]: not a cell"):
        doc_to_notebook(doc)


def test_applying_a_file_over_a_poisoned_document_replaces_the_deep_value():
    from jupyter_crdt.notebook import apply_notebook, doc_to_notebook

    doc = _poisoned_doc()
    nb = doc_to_notebook(doc, problems=[])
    nb["cells"][0]["metadata"]["deep"] = {"now": "shallow"}
    apply_notebook(doc, nb)
    problems: list[str] = []
    again = doc_to_notebook(doc, problems=problems)
    assert again["cells"][0]["metadata"]["deep"] == {"now": "shallow"}
    assert not any("cells[0]" in p for p in problems)


def test_a_zlib_bomb_posted_to_the_merge_endpoint_is_refused_with_bounded_memory(server, unique_name):
    """Row 6 through ``POST /api/crdt/merge``: a 2 MB history holding a 2 GiB zlib bomb is a 400 naming the
    bound; the server's peak RSS stays under 300 MB and the notebook is untouched."""
    import base64

    import msgpack

    from crdt.history_file import codec as hf

    from ..history.fuzz_sidecars import zlib_bomb

    path = f"{unique_name}.ipynb"
    nb_path = server.root / path
    write_notebook(nb_path, make_notebook(2))
    before = nb_path.read_bytes()
    record = [hf.CHANGE, [], "mallory", 1.0, "edit", None, {}, zlib_bomb(), hf.ZLIB]
    sidecar = hf.header_bytes("bomb") + hf.frame(msgpack.packb(record, use_bin_type=True))
    assert len(sidecar) < 2_200_000

    async def main():
        body = {"notebook": None, "history": base64.b64encode(sidecar).decode()}
        code, reply = await http(server, "POST", f"/api/crdt/merge/{path}", body)
        assert code == 400, reply
        assert "decompresses to more than" in reply["message"], reply
        # The room still works.
        alice = await CollabClient(server, path, "notebook", token="user-alice").connect()
        await alice.close()

    run(main())
    assert nb_path.read_bytes() == before
    hwm = next(int(ln.split()[1]) * 1024 for ln in open(f"/proc/{server.proc.pid}/status")
               if ln.startswith("VmHWM:"))
    assert hwm < 300 << 20, f"server peak RSS {hwm >> 20} MB"
