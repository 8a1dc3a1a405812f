"""Damaged histories on a real server (issue 12, rows 5 and 12).

A corrupt sidecar (flipped bytes) must not keep the notebook from opening: the session is granted, the
room holds the ``.ipynb``'s content, the damaged history is set aside (kept, never deleted), and the reason
(naming the file and the ``jupyter crdt recover`` command) is in the session reply, the status endpoint and
the log. A sidecar restored from a stale backup, or cut in half, opens on the file's content with nothing
duplicated, and the cut is reported.
"""

from __future__ import annotations

import asyncio
import json

import nbformat

from crdt import HistoryFile
from jupyter_crdt.history import NotebookHistory, sidecar_path

from ..history.helpers import replace_in_source
from .client import CollabClient, http, wait_until
from .conftest import run
from .notebooks import sources


def _notebook(path, texts: list[str]) -> None:
    nb = nbformat.v4.new_notebook()
    nb.cells = [nbformat.v4.new_code_cell(s, id=f"c{i}") for i, s in enumerate(texts)]
    path.write_text(nbformat.writes(nb), encoding="utf-8")


def _file_sources(path) -> list[str]:
    return [c["source"] if isinstance(c["source"], str) else "".join(c["source"])
            for c in json.loads(path.read_text())["cells"]]


def _type(nh: NotebookHistory, old: str, new: str) -> None:
    with nh.edit("ann") as e:
        replace_in_source(e.doc, old, old, new)


def test_corrupt_sidecar_is_set_aside_and_the_notebook_opens(fresh_server):
    server = fresh_server
    nb = server.root / "bad.ipynb"
    _notebook(nb, ["a = 1", "b = 2"])
    with NotebookHistory.open(nb, author="ann") as nh:
        for old, new in (("a = 1", "a = 2"), ("a = 2", "a = 3"), ("a = 3", "a = 4")):
            _type(nh, old, new)
            nh.flush()
        nh.write_notebook()
    sc = sidecar_path(nb)
    data = bytearray(sc.read_bytes())
    for k in range(len(data) // 2, len(data) // 2 + 8):
        data[k] ^= 0x5A
    sc.write_bytes(bytes(data))
    file_before = nb.read_bytes()
    server.start()

    async def main():
        c = CollabClient(server, "bad.ipynb", "notebook")
        info = await c.open_session()
        warnings = info.get("warnings") or []
        assert any(sc.name in w and "jupyter crdt recover" in w and "damaged" in w for w in warnings), info
        assert str(server.root) not in json.dumps(info)
        await c.connect()
        assert sources(c.doc) == _file_sources(nb) == ["a = 4", "b = 2"]
        code, status = await http(server, "GET", "/api/crdt/status/bad.ipynb")
        assert code == 200 and any("jupyter crdt recover" in w for w in status["historyWarnings"]), status
        aside = [p for p in server.root.iterdir() if p.name.startswith(f"{sc.name}.corrupt-")]
        assert len(aside) == 1 and aside[0].read_bytes() == bytes(data)  # kept as it was
        assert len(HistoryFile.read(sc)) >= 1  # a new, sound history
        c.doc.get_array("cells")[1]["source"].insert(5, "0")  # and it can be edited and saved
        await wait_until(lambda: _file_sources(nb) == ["a = 4", "b = 20"], what="the edit saved")
        assert "jupyter crdt recover" in server.log()
        await c.close()

    try:
        run(main())
    except BaseException:
        print(server.log()[-6000:])
        raise
    assert file_before != nb.read_bytes()  # the edit; the file itself was never damaged


def _stale_backup(nb) -> bytes:
    with NotebookHistory.open(nb, author="ann") as nh:
        _type(nh, "a = 1", "a = 10")
        nh.write_notebook()
        _type(nh, "a = 10", "a = 10  # typed after the last save")
        nh.flush()
        backup = sidecar_path(nb).read_bytes()
        _type(nh, "after the last save", "after the save")  # corrected after the backup
        nh.write_notebook()
    return backup


def test_stale_and_cut_sidecars_open_on_the_file_without_duplicates(fresh_server):
    server = fresh_server
    stale, cut = server.root / "stale.ipynb", server.root / "cut.ipynb"
    for nb in (stale, cut):
        _notebook(nb, ["a = 1", "b = 2"])
    sidecar_path(stale).write_bytes(_stale_backup(stale))  # restored from the backup
    _stale_backup(cut)
    data = sidecar_path(cut).read_bytes()
    sidecar_path(cut).write_bytes(data[: len(data) // 2])
    expected = ["a = 10  # typed after the save", "b = 2"]
    assert _file_sources(stale) == _file_sources(cut) == expected
    server.start()

    async def main():
        for nb in (stale, cut):
            c = await CollabClient(server, nb.name, "notebook").connect()
            assert sources(c.doc) == expected, nb.name
            code, status = await http(server, "GET", f"/api/crdt/status/{nb.name}")
            assert code == 200
            if nb is cut:
                assert any("ends at byte" in w for w in status["historyWarnings"]), status
            assert str(server.root) not in json.dumps(status)  # names only: no server paths for clients
            code, _ = await http(server, "POST", f"/api/crdt/save/{nb.name}")
            assert code == 200
            await asyncio.sleep(0)
            await wait_until(lambda nb=nb: _file_sources(nb) == expected, what="the file unchanged")
            await c.close()
        assert "never recorded" in server.log()

    try:
        run(main())
    except BaseException:
        print(server.log()[-6000:])
        raise
    for nb in (stale, cut):
        assert _file_sources(nb) == expected
        with NotebookHistory.open(nb, writable=False) as nh:
            assert [c["source"] for c in nh.notebook()["cells"]] == expected
