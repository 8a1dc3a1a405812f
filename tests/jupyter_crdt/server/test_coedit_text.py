"""Done-when 1 for text files: clients co-edit one file over real websockets and converge, and the
saved file holds the converged text."""

from __future__ import annotations

import asyncio
import random

import pytest

from .client import CollabClient, http, wait_until
from .conftest import run


def _random_edit(rnd: random.Random, text, tag: str) -> None:
    n = len(text)
    if n > 20 and rnd.random() < 0.3:
        pos = rnd.randrange(n)
        text.delete(pos, min(rnd.randint(1, 5), n - pos))
    else:
        text.insert(rnd.randint(0, n), f"<{tag}>")


@pytest.mark.parametrize("n_clients", [2, 5])
def test_clients_coedit_text_and_file_is_saved(server, unique_name, n_clients):
    path = f"{unique_name}.txt"
    (server.root / path).write_text("line one\nline two\nline three\n")

    async def main():
        clients = [await CollabClient(server, path, token=f"user-u{i}").connect() for i in range(n_clients)]
        assert all(str(c.text) == "line one\nline two\nline three\n" for c in clients)
        rnd = random.Random(n_clients)
        for step in range(40):
            for i, c in enumerate(clients):
                if rnd.random() < 0.7:
                    _random_edit(rnd, c.text, f"{i}.{step}")
            await asyncio.sleep(0.002)
        await wait_until(lambda: len({str(c.text) for c in clients}) == 1, what="convergence")
        final = str(clients[0].text)
        await wait_until(lambda: (server.root / path).read_text() == final, what="the file to be saved")
        # Every client's edits are acknowledged as durable.
        await wait_until(lambda: all(c.is_acked() for c in clients), what="durable acks")
        code, status = await http(server, "GET", f"/api/crdt/status/{path}")
        assert code == 200 and status["dirty"] is False
        for c in clients:
            await c.close()

    run(main())


def test_save_message_and_session_answers(server, unique_name):
    path = f"{unique_name}.txt"
    (server.root / path).write_text("abc")

    async def main():
        c = CollabClient(server, path, token="user-alice")
        info = await c.open_session()
        assert c.session_info is not None
        assert set(info) >= {"format", "type", "fileId", "sessionId", "readOnly"}
        assert info["readOnly"] is False
        again = await CollabClient(server, path, token="user-bob").open_session()
        assert again["fileId"] == info["fileId"] and again["sessionId"] == info["sessionId"]
        await c.connect()
        c.text.insert(3, "def")
        assert await c.save() == "success"
        assert (server.root / path).read_text() == "abcdef"
        code, _ = await http(server, "PUT", "/api/collaboration/session/missing.txt",
                             {"format": "text", "type": "file"})
        assert code == 404
        await c.close()

    run(main())


def test_unknown_file_id_closes_4404(server):
    async def main():
        c = CollabClient(server, "nothing.txt")
        c.session_info = {"format": "text", "type": "file", "fileId": "no-such-id", "sessionId": "x"}
        await c.connect(wait_synced=False)
        await wait_until(lambda: c.closed, what="close")
        assert c.close_code == 4404

    run(main())


def test_awareness_is_relayed_and_removed_on_disconnect(server, unique_name):
    path = f"{unique_name}.txt"
    (server.root / path).write_text("x")

    async def main():
        a = await CollabClient(server, path, token="user-alice").connect()
        b = await CollabClient(server, path, token="user-bob").connect()
        a.awareness.set_local_state({"user": {"name": "alice"}, "cursor": 1})
        await wait_until(lambda: b.awareness.states.get(a.doc.client_id, {}).get("cursor") == 1,
                         what="alice's cursor at bob")
        c = await CollabClient(server, path, token="user-carol").connect()
        await wait_until(lambda: a.doc.client_id in c.awareness.states, what="the states a newcomer gets")
        await a.close()
        await wait_until(lambda: a.doc.client_id not in b.awareness.states, what="alice's state removed")
        await b.close()
        await c.close()

    run(main())


def test_global_awareness_room(server):
    """JupyterLab's collaborators panel joins ``JupyterLab:globalAwareness``: presence only."""

    async def main():
        a = await CollabClient(server, "-", token="user-alice").connect(room="JupyterLab:globalAwareness")
        b = await CollabClient(server, "-", token="user-bob").connect(room="JupyterLab:globalAwareness")
        a.awareness.set_local_state({"user": {"name": "alice"}, "current": "notes.txt"})
        await wait_until(lambda: a.doc.client_id in b.awareness.states, what="presence")
        await a.close()
        await b.close()

    run(main())


def test_text_history_has_authors_and_the_cli_reads_it(server, unique_name):
    """Issue 6: a text file's history is kept in the notebook history format (``.NAME.EXT.crdt``), with
    each client's author, and `jupyter crdt log/show` read it while the room is live."""
    import json

    from crdt import HistoryFile

    from ..history.helpers import cli

    path = f"{unique_name}.txt"
    f = server.root / path
    f.write_text("shared\n")

    async def main():
        a = await CollabClient(server, path, token="user-alice").connect()
        b = await CollabClient(server, path, token="user-bob").connect()
        a.text.insert(len(a.text), "alice's line\n")
        await wait_until(lambda: "alice's line" in str(b.text), what="alice's line at bob")
        b.text.insert(len(b.text), "bob's line\n")
        await wait_until(lambda: a.is_acked() and b.is_acked(), what="acks")
        await wait_until(lambda: f.read_text() == "shared\nalice's line\nbob's line\n", what="the save")
        sidecar = server.root / f".{path}.crdt"
        assert sidecar.exists() and not (server.root / f".{path}.crdtlog").exists()
        r = await asyncio.to_thread(cli, "log", f, "--json")
        assert r.returncode == 0, r.stderr
        authors = [e["author"] for e in json.loads(r.stdout)]
        assert authors[:2] == ["bob", "alice"] and authors[-1] == "import"
        r = await asyncio.to_thread(cli, "show", f, "--at", "HEAD~1")
        assert r.returncode == 0 and r.stdout == "shared\nalice's line\n", r.stderr
        assert HistoryFile.read_header(sidecar)["session_id"] == a.session_info["sessionId"]
        await a.close()
        await b.close()

    run(main())


def test_an_old_text_log_is_converted_when_its_room_opens(server, unique_name):
    """A ``.NAME.crdtlog`` written by an earlier version: its room opens on the converted history, with the
    same session id and every edit (unsaved ones too) and author."""
    from ..history.test_text_history import write_old_log

    path = f"{unique_name}.txt"
    f = server.root / path
    f.write_text("base\n")
    session = write_old_log(f, [("ann", "saved "), ("ann", "unsaved")], saved_after=2)
    f.write_text("base\nsaved ")

    async def main():
        c = await CollabClient(server, path, token="user-carol").connect()
        assert c.session_info["sessionId"] == session
        assert str(c.text) == "base\nsaved unsaved"
        assert not (server.root / f".{path}.crdtlog").exists()
        await wait_until(lambda: f.read_text() == "base\nsaved unsaved", what="the unsaved edit to be saved")
        await c.close()

    run(main())


@pytest.fixture
def slow_save_server(tmp_path):
    """A server whose quiet save delay never passes while a client types every 0.1 s."""
    from .server import JupyterServer

    srv = JupyterServer(tmp_path / "home", document_save_delay=5.0, document_save_max_delay=0.5)
    srv.start()
    try:
        yield srv
    finally:
        srv.stop()


def test_file_is_saved_while_a_client_keeps_typing(slow_save_server, unique_name):
    """Someone typing without pause still gets the file saved, ``document_save_max_delay`` apart."""
    server = slow_save_server
    path = f"{unique_name}.txt"
    (server.root / path).write_text("start\n")

    async def main():
        c = await CollabClient(server, path, token="user-alice").connect()
        saved_while_typing: list[str] = []
        for k in range(150):  # 15 s at most; the file is saved after ~0.5 s
            c.text.insert(len(c.text), f"{k},")
            await asyncio.sleep(0.1)
            on_disk = (server.root / path).read_text()
            if on_disk != "start\n":
                saved_while_typing.append(on_disk)
                if len(saved_while_typing) >= 2 and saved_while_typing[-1] != saved_while_typing[0]:
                    break
        # Two different saves happened while the typing never paused for the 5 s quiet delay.
        assert len(set(saved_while_typing)) >= 2, saved_while_typing[:3]
        assert saved_while_typing[0].startswith("start\n0,")
        await c.close()

    run(main())
