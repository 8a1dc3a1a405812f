"""Done-when 5: a read-only user syncs and follows live; its updates are refused, with a reason on the
JSON channel, and the file is unchanged. A file not writable on disk is read-only for everyone."""

from __future__ import annotations

import os
import stat

from .client import CollabClient, http, wait_until
from .conftest import run


def test_reader_follows_live_but_cannot_write(server, unique_name):
    path = f"{unique_name}.txt"
    (server.root / path).write_text("shared text\n")

    async def main():
        writer = await CollabClient(server, path, token="user-alice").connect()
        reader = CollabClient(server, path, token="reader-bob")
        info = await reader.open_session()
        assert info["readOnly"] is True
        await reader.connect()
        assert str(reader.text) == "shared text\n"
        writer.text.insert(0, "live: ")
        await wait_until(lambda: str(reader.text) == "live: shared text\n", what="the reader to follow")
        await wait_until(lambda: (server.root / path).read_text() == "live: shared text\n", what="save")

        reader.text.insert(0, "EVIL ")
        await wait_until(lambda: reader.errors(), what="the refusal")
        assert reader.errors()[0]["code"] == "read_only"
        assert not reader.closed
        # Nothing reached the room: the writer's next edit is all that arrives, and the file stays clean.
        writer.text.insert(len(writer.text), "end\n")
        await wait_until(lambda: str(reader.text).endswith("end\n"), what="the reader to keep following")
        await wait_until(lambda: (server.root / path).read_text() == "live: shared text\nend\n",
                         what="save after the writer's edit")
        assert "EVIL" not in str(writer.text)
        code, doc = await http(server, "GET", f"/api/crdt/document/{path}")
        assert code == 200 and "EVIL" not in doc["content"]
        # A reader cannot save either.
        assert await reader.save() == "failed"
        await reader.close()
        await writer.close()

    run(main())


def test_refused_edit_is_taken_back_on_the_readers_side(server, unique_name):
    """What a reader typed is deleted again in the reader's document (the room sends the delete set of
    its refused structs), so its editor shows the room's content; a refused deletion cannot be undone in
    place, so the refusal asks for a reload, after which the reader sees the room's content."""
    path = f"{unique_name}.txt"
    (server.root / path).write_text("shared text\n")

    async def main():
        writer = await CollabClient(server, path, token="user-alice").connect()
        reader = await CollabClient(server, path, token="reader-bob").connect()
        reader.text.insert(6, " EVIL")
        await wait_until(lambda: reader.errors(), what="the refusal")
        await wait_until(lambda: str(reader.text) == "shared text\n", what="the edit to be taken back")
        assert "reload" not in reader.errors()[0]
        assert not reader.closed
        # In line with the room again: the writer's edits arrive where they belong.
        writer.text.insert(6, " (ok)")
        await wait_until(lambda: str(reader.text) == "shared (ok) text\n", what="the reader to follow")
        reader.text.delete(0, 7)
        await wait_until(lambda: len(reader.errors()) == 2, what="the second refusal")
        assert reader.errors()[1]["reload"] is True
        code, doc = await http(server, "GET", f"/api/crdt/document/{path}")
        assert doc["content"] == "shared (ok) text\n" == str(writer.text)
        await reader.close()
        again = await CollabClient(server, path, token="reader-bob").connect()
        assert str(again.text) == "shared (ok) text\n"
        await again.close()
        await writer.close()

    run(main())


def test_refused_cell_insert_is_taken_back_in_a_notebook(server, unique_name):
    from .notebooks import export, make_notebook, new_cell, same_content, write_notebook

    path = f"{unique_name}.ipynb"
    write_notebook(server.root / path, make_notebook(2))

    async def main():
        writer = await CollabClient(server, path, "notebook", token="user-alice").connect()
        reader = await CollabClient(server, path, "notebook", token="reader-bob").connect()
        cells = reader.doc.get_array("cells")
        cells.insert(1, [new_cell("evil = True\n")])
        cells[0]["source"].insert(0, "# evil\n")
        await wait_until(lambda: len(reader.errors()) >= 2, what="the refusals")
        await wait_until(lambda: same_content(export(reader.doc), export(writer.doc)),
                         what="the reader's notebook to be the room's again")
        assert len(reader.doc.get_array("cells")) == 2
        await reader.close()
        await writer.close()

    run(main())


def test_reader_cannot_use_write_endpoints(server, unique_name):
    path = f"{unique_name}.txt"
    (server.root / path).write_text("x")

    async def main():
        code, _ = await http(server, "POST", f"/api/crdt/save/{path}", {}, token="reader-bob")
        assert code == 403
        code, _ = await http(server, "GET", f"/api/crdt/log/{path}", token="reader-bob")
        assert code == 200
        code, _ = await http(server, "GET", f"/api/crdt/log/{path}", token="nobody")
        assert code == 403

    run(main())


def test_file_not_writable_on_disk_is_read_only(server, unique_name):
    path = f"{unique_name}.txt"
    target = server.root / path
    target.write_text("locked\n")
    os.chmod(target, stat.S_IRUSR | stat.S_IRGRP | stat.S_IROTH)

    async def main():
        alice = CollabClient(server, path, token="user-alice")
        info = await alice.open_session()
        assert info["readOnly"] is True
        await alice.connect()
        alice.text.insert(0, "changed ")
        await wait_until(lambda: alice.errors(), what="the refusal")
        assert alice.errors()[0]["code"] == "read_only"
        assert target.read_text() == "locked\n"
        await alice.close()

    try:
        run(main())
    finally:
        os.chmod(target, 0o644)
