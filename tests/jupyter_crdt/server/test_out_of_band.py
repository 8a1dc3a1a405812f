"""Done-when 4: a change made to the file on disk while clients edit enters the document as a minimal
change, merged three-way against the version last saved: in-flight edits survive, untouched cells keep
their identity (so cursors stay), the change is recorded with author ``disk``, and a ``touch`` sends
nothing."""

from __future__ import annotations

import asyncio
import json
import os
import time

import pytest

from .client import CollabClient, http, wait_until
from .conftest import run
from .notebooks import cell_source, make_notebook, read_notebook, write_notebook
from .server import JupyterServer


@pytest.fixture(scope="module")
def oob_server(tmp_path_factory):
    srv = JupyterServer(tmp_path_factory.mktemp("oob-home"), document_save_delay=1.0,
                        file_poll_interval=0.1)
    srv.start()
    try:
        yield srv
    finally:
        srv.stop()


async def _status(server, path):
    code, status = await http(server, "GET", f"/api/crdt/status/{path}")
    assert code == 200
    return status


def _bump_mtime(path):
    """A new modification time even on coarse-grained file systems."""
    later = time.time() + 2
    os.utime(path, (later, later))


def test_disk_change_to_cell_7_merges_with_edits_in_cell_3(oob_server, unique_name):
    server = oob_server
    path = f"{unique_name}.ipynb"
    target = server.root / path
    write_notebook(target, make_notebook(9))

    async def main():
        a = await CollabClient(server, path, "notebook", token="user-alice").connect()
        b = await CollabClient(server, path, "notebook", token="user-bob").connect()
        cells_a = a.doc.get_array("cells")
        cell3_a = cells_a[3]["source"]
        cell3_b = b.doc.get_array("cells")[3]["source"]
        events = {"a": [], "b": []}
        cell3_a.observe(lambda e: events["a"].append(e.delta))
        cell3_b.observe(lambda e: events["b"].append(e.delta))

        # In-flight edits (not saved yet: the save delay is 1 s).
        cell3_a.insert(0, "# alice was here\n")
        cell3_b.insert(len(cell3_b), "# bob was here\n")
        on_disk = read_notebook(target)
        on_disk["cells"][7]["source"] = "changed_on_disk = True\n"
        target.write_text(json.dumps(on_disk, indent=1))
        _bump_mtime(target)

        def merged(doc):
            return (cell_source(doc, "code-7") == "changed_on_disk = True\n"
                    and "alice was here" in cell_source(doc, "code-3")
                    and "bob was here" in cell_source(doc, "code-3"))

        await wait_until(lambda: merged(a.doc) and merged(b.doc), what="both edits and the disk change")
        # Cell 3 kept its identity in both clients, and nothing in it was deleted or re-inserted.
        assert a.doc.get_array("cells")[3]["source"] is cell3_a
        assert b.doc.get_array("cells")[3]["source"] is cell3_b
        for deltas in events.values():
            assert all("delete" not in op for delta in deltas for op in delta), deltas
        await wait_until(lambda: merged_file(), what="the merged notebook to be saved")
        code, log = await http(server, "GET", f"/api/crdt/log/{path}")
        assert "disk" in {c["author"] for c in log["changes"][1:]}
        await a.close()
        await b.close()

    def merged_file():
        nb = read_notebook(target)
        srcs = {c["id"]: "".join(c["source"]) for c in nb["cells"]}
        return (srcs["code-7"] == "changed_on_disk = True\n" and "alice was here" in srcs["code-3"]
                and "bob was here" in srcs["code-3"])

    run(main())


def test_text_file_changed_on_disk_and_touch(oob_server, unique_name):
    server = oob_server
    path = f"{unique_name}.txt"
    target = server.root / path
    lines = [f"line {i}\n" for i in range(10)]
    target.write_text("".join(lines))

    async def main():
        a = await CollabClient(server, path, token="user-alice").connect()
        state = a.doc.get_map("state")
        first_hash = state.get("hash")
        deltas = []
        a.text.observe(lambda e: deltas.append(e.delta))
        line3 = sum(len(x) for x in lines[:3])
        a.text.insert(line3, "EDIT ")  # in flight in line 3
        changed = list(lines)
        changed[7] = "line 7 changed on disk\n"
        target.write_text("".join(changed))
        _bump_mtime(target)
        expected = "".join(lines[:3]) + "EDIT " + "".join(lines[3:7]) + changed[7] + "".join(lines[8:])
        await wait_until(lambda: str(a.text) == expected, what="the disk change to merge")
        # The change touched line 7 only: the first operation retains everything before it.
        remote = [d for d in deltas if d and "retain" in d[0]]
        assert remote and remote[-1][0]["retain"] >= len(expected.split("line 7")[0])
        await wait_until(lambda: target.read_text() == expected, what="save")

        # touch: a new modification time, the same content: nothing is sent.
        await wait_until(lambda: state.get("dirty") is False and state.get("hash") != first_hash,
                         what="the state of the merged file's save")
        before = a.updates_received
        seen = (await _status(server, path))["diskModified"]
        _bump_mtime(target)
        deadline = time.monotonic() + 30
        while (await _status(server, path))["diskModified"] == seen:
            assert time.monotonic() < deadline, "the server never noticed the touch"
            await asyncio.sleep(0.02)
        assert a.updates_received == before, a.update_frames[before:]
        assert target.read_text() == expected
        await a.close()

    run(main())
