"""The reference server's events on jupyter_server's event bus (issue #12), the awareness ``autosave``
flag, and the fork registry (row 18).

Events are read as JupyterLab reads them: a websocket to ``/api/events/subscribe``. Each one is validated
against the schema the reference server (jupyter-collaboration) publishes, kept as test data in
``tests/data/reference_events/``; the fork events also drive the real ``@jupyter/docprovider``
``ForkManager`` (in Node, ``node/forks.mjs``).
"""

from __future__ import annotations

import asyncio
import contextlib
import json
import logging
import shutil
import subprocess
import time
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import jsonschema
import pytest
import yaml
from tornado.websocket import websocket_connect

from tests.conftest import missing

from .client import CollabClient, http, wait_until
from .conftest import run
from .server import JupyterServer

REFERENCE = Path(__file__).resolve().parents[2] / "data" / "reference_events"
NODE_DIR = Path(__file__).parent / "node"
SESSION = "https://schema.jupyter.org/jupyter_collaboration/session/v1"
AWARENESS = "https://schema.jupyter.org/jupyter_collaboration/awareness/v1"
FORK = "https://schema.jupyter.org/jupyter_collaboration/fork/v1"


def _reference_schemas() -> dict[str, dict]:
    schemas = {}
    for name in ("session", "awareness", "fork"):
        schema = yaml.safe_load((REFERENCE / f"{name}.yaml").read_text())
        schemas[schema["$id"]] = schema
    return schemas


SCHEMAS = _reference_schemas()


@pytest.fixture(scope="module")
def server(tmp_path_factory: pytest.TempPathFactory) -> Iterator[JupyterServer]:
    """Rooms unload 0.3 s after their last client leaves (the ``clean`` event comes quickly)."""
    srv = JupyterServer(tmp_path_factory.mktemp("events-home"), document_cleanup_delay=0.3)
    srv.start()
    try:
        yield srv
    finally:
        srv.stop()


class EventStream:
    """The server's event bus, as JupyterLab subscribes to it; every event is checked against the
    reference's schema of its id as it arrives."""

    def __init__(self, server: JupyterServer) -> None:
        self.server = server
        self.events: list[dict] = []
        self.invalid: list[str] = []
        self._ws: Any = None
        self._reader: asyncio.Task | None = None

    async def __aenter__(self) -> EventStream:
        url = f"{self.server.ws_url}/api/events/subscribe?token=user-admin"
        self._ws = await websocket_connect(url)
        self._reader = asyncio.ensure_future(self._read())
        # Subscribed once an event posted to the bus comes back through this socket.
        probe = {"roomid": f"probe-{id(self)}", "username": "probe", "action": "join"}
        deadline = time.monotonic() + 20
        while not self.find(AWARENESS, roomid=probe["roomid"]):
            assert time.monotonic() < deadline, "the event subscription never delivered the probe"
            code, _ = await http(self.server, "POST", "/api/events",
                                 {"schema_id": AWARENESS, "version": "1", "data": probe})
            assert code == 204
            with contextlib.suppress(AssertionError):  # not yet subscribed: post another probe
                await wait_until(lambda: bool(self.find(AWARENESS, roomid=probe["roomid"])), 0.5)
        return self

    async def __aexit__(self, *exc: object) -> None:
        self._ws.close()
        if self._reader is not None:
            self._reader.cancel()

    async def _read(self) -> None:
        while True:
            text = await self._ws.read_message()
            if text is None:
                return
            event = json.loads(text)
            schema = SCHEMAS.get(event.get("schema_id"))
            if schema is not None:
                data = {k: v for k, v in event.items() if k != "schema_id"}
                try:
                    jsonschema.Draft7Validator(schema).validate(data)
                except jsonschema.ValidationError as e:
                    self.invalid.append(f"{event}: {e.message}")
                unknown = set(data) - set(schema["properties"])
                if unknown:
                    self.invalid.append(f"{event}: fields the reference does not have: {sorted(unknown)}")
            self.events.append(event)

    def find(self, schema_id: str, **fields: Any) -> list[dict]:
        return [e for e in self.events if e.get("schema_id") == schema_id
                and all(e.get(k) == v for k, v in fields.items())]

    async def wait(self, schema_id: str, what: str, **fields: Any) -> dict:
        try:
            await wait_until(lambda: bool(self.find(schema_id, **fields)), what=what)
        except AssertionError as e:
            raise AssertionError(f"{e}; events seen: {self.events}") from None
        return self.find(schema_id, **fields)[0]


def _room_id(client: CollabClient) -> str:
    info = client.session_info
    return f"{info['format']}:{info['type']}:{info['fileId']}"


def test_session_awareness_and_fork_events_with_the_reference_schemas(server, unique_name):
    path = f"{unique_name}.txt"
    (server.root / path).write_text("first line\n")

    async def main():
        async with EventStream(server) as bus:
            alice = await CollabClient(server, path, token="user-alice").connect()
            room = _room_id(alice)
            await bus.wait(SESSION, "load", room=room, path=path, action="load", level="INFO")
            await bus.wait(SESSION, "initialize", room=room, path=path, action="initialize")
            await bus.wait(AWARENESS, "alice's join", roomid=room, username="alice", action="join")

            alice.text.insert(len(alice.text), "typed\n")
            await bus.wait(SESSION, "save", room=room, path=path, action="save")
            assert (server.root / path).read_text() == "first line\ntyped\n"

            (server.root / path).write_text("first line\ntyped\nwritten on disk\n")
            await bus.wait(SESSION, "overwrite", room=room, path=path, action="overwrite")
            await wait_until(lambda: "written on disk" in str(alice.text), what="the disk change")

            code, fork = await http(server, "PUT", f"/api/collaboration/fork/{room}",
                                    {"title": "draft", "description": "an idea", "synchronize": True},
                                    token="user-bob")
            assert code == 201
            fork_id = fork["fork_roomid"]
            fork_info = {"root_roomid": room, "synchronize": True, "title": "draft", "description": "an idea"}
            created = await bus.wait(FORK, "fork created", fork_roomid=fork_id, action="create")
            assert created["fork_info"] == fork_info and created["username"] == "bob"
            code, _ = await http(server, "DELETE", f"/api/collaboration/fork/{fork_id}?merge=false",
                                 token="user-carol")
            assert code == 200
            deleted = await bus.wait(FORK, "fork deleted", fork_roomid=fork_id, action="delete")
            assert deleted["fork_info"] == fork_info and deleted["username"] == "carol"

            await alice.close()
            await bus.wait(AWARENESS, "alice's leave", roomid=room, username="alice", action="leave")
            await bus.wait(SESSION, "clean", room=room, path=path, action="clean")
            assert bus.invalid == []
            # Every event of those ids came from this room, the fork, or the probe.
            for e in bus.find(SESSION):
                assert e["room"] == room and e["path"] == path
            assert {e["roomid"] for e in bus.find(AWARENESS)} <= {room, *(
                e["roomid"] for e in bus.find(AWARENESS, username="probe"))}

    run(main())


def test_read_only_and_global_awareness_connections(server, unique_name):
    """A reader's connection joins and leaves like anyone's; JupyterLab's presence room (every tab has
    one) emits nothing, as in the reference."""
    path = f"{unique_name}.txt"
    (server.root / path).write_text("text\n")

    async def main():
        async with EventStream(server) as bus:
            presence = await CollabClient(server, path, token="user-dave").connect(
                room="JupyterLab:globalAwareness")
            reader = await CollabClient(server, path, token="reader-erin").connect()
            room = _room_id(reader)
            await bus.wait(AWARENESS, "the reader's join", roomid=room, username="reader-erin", action="join")
            await reader.close()
            await bus.wait(AWARENESS, "the reader's leave", roomid=room, username="reader-erin",
                           action="leave")
            await presence.close()
            assert not bus.find(AWARENESS, roomid="JupyterLab:globalAwareness")
            assert not bus.find(AWARENESS, username="dave")
            assert bus.invalid == []

    run(main())


def test_docprovider_fork_manager_sees_forks_come_and_go(server, unique_name):
    if shutil.which("node") is None:
        missing("node is not installed")
    if not (NODE_DIR / "node_modules" / "@jupyter" / "docprovider").is_dir():
        missing(f"run `npm ci` in {NODE_DIR}")
    path = f"{unique_name}.txt"
    (server.root / path).write_text("root\n")

    async def main():
        alice = await CollabClient(server, path, token="user-alice").connect()
        room = _room_id(alice)
        proc = await asyncio.create_subprocess_exec(
            "node", str(NODE_DIR / "forks.mjs"), server.url, "user-frank", room,
            cwd=NODE_DIR, stdout=subprocess.PIPE, stderr=subprocess.PIPE)
        try:
            out, err = await asyncio.wait_for(proc.communicate(), 90)
        finally:
            if proc.returncode is None:
                proc.kill()
                await proc.wait()
        assert proc.returncode == 0, err.decode(errors="replace")
        lines = [json.loads(line) for line in out.decode().splitlines() if line.strip()]
        steps = {line["event"]: line for line in lines if line["event"] != "listed"}
        listed = [line["forks"] for line in lines if line["event"] == "listed"]
        fork_id = steps["created"]["response"]["fork_roomid"]
        fork_info = {"root_roomid": room, "synchronize": True, "title": "my fork",
                     "description": "made by ForkManager"}
        added, deleted = steps["forkAdded"]["emission"], steps["forkDeleted"]["emission"]
        assert added["schema_id"] == deleted["schema_id"] == FORK
        assert added["fork_roomid"] == deleted["fork_roomid"] == fork_id
        assert added["fork_info"] == deleted["fork_info"] == fork_info
        assert added["username"] == deleted["username"] == "frank"
        assert listed == [{fork_id: fork_info}, {}]
        await alice.close()

    run(main())


def test_autosave_false_in_every_awareness_state_leaves_the_file_until_a_save(server, unique_name):
    path = f"{unique_name}.txt"
    file = server.root / path
    file.write_text("saved\n")
    save_delay = server.settings["document_save_delay"]

    async def main():
        async with EventStream(server) as bus:
            alice = CollabClient(server, path, token="user-alice")
            bob = CollabClient(server, path, token="user-bob")
            for client in (alice, bob):
                client.awareness.set_local_state({"user": {"name": client.name}, "autosave": False})
                await client.connect()
            room = _room_id(alice)
            alice.text.insert(len(alice.text), "unsaved 1\n")
            await wait_until(lambda: alice.is_acked() and "unsaved 1" in str(bob.text), what="the edit")
            # A negative can only be watched for a while: ten save delays, and the file never changes.
            deadline = time.monotonic() + 10 * save_delay
            while time.monotonic() < deadline:
                assert file.read_text() == "saved\n", "autosaved although every client has autosave off"
                await asyncio.sleep(save_delay / 4)
            assert not bus.find(SESSION, room=room, action="save")

            assert await bob.save() == "success"  # an explicit save still saves
            assert file.read_text() == "saved\nunsaved 1\n"

            alice.text.insert(len(alice.text), "unsaved 2\n")
            await wait_until(lambda: alice.is_acked(), what="the ack")
            assert file.read_text() == "saved\nunsaved 1\n"
            # One client turning autosave on is enough (the reference's rule): the file catches up.
            bob.awareness.set_local_state({"user": {"name": bob.name}, "autosave": True})
            await wait_until(lambda: file.read_text() == "saved\nunsaved 1\nunsaved 2\n", what="autosave")

            # Off again; everyone leaves: the room unloads without saving, and the edit is kept in
            # the history, so the document still has it when it is opened again.
            bob.awareness.set_local_state({"user": {"name": bob.name}, "autosave": False})
            await wait_until(lambda: not alice.awareness.states.get(bob.doc.client_id, {}).get("autosave", 1),
                             what="bob's awareness to reach alice")
            alice.text.insert(len(alice.text), "unsaved 3\n")
            await wait_until(lambda: alice.is_acked(), what="the ack")
            cleans = len(bus.find(SESSION, room=room, action="clean"))
            await alice.close()
            await bob.close()
            await wait_until(lambda: len(bus.find(SESSION, room=room, action="clean")) > cleans,
                             what="the room to unload")
            assert file.read_text() == "saved\nunsaved 1\nunsaved 2\n"
            carol = await CollabClient(server, path, token="user-carol").connect()
            assert str(carol.text) == "saved\nunsaved 1\nunsaved 2\nunsaved 3\n"
            await carol.close()

    run(main())


def test_the_fork_registry_belongs_to_one_server_and_goes_with_its_rooms(server, unique_name):
    path = f"{unique_name}.txt"
    (server.root / path).write_text("root\n")

    async def main():
        from jupyter_crdt.server.manager import RoomManager
        from jupyter_crdt.server.models import TextFileModel
        from jupyter_crdt.server.room import Room
        from jupyter_crdt.server.state import RoomSettings
        from jupyter_crdt.server.stores import MemoryStore

        # Two servers' managers in one process (as two ServerApps in one test process would have).
        def manager() -> RoomManager:
            return RoomManager(None, lambda: None, RoomSettings(), lambda _p, _t: MemoryStore(),
                               logging.getLogger("test"))

        first, second = manager(), manager()
        root = Room("text:file:abc", TextFileModel(), None, MemoryStore(), RoomSettings())
        await root.initialize()
        info = {"root_roomid": root.room_id, "synchronize": False, "title": "", "description": ""}
        await first.fork(root, "f1", False, info).initialize()
        assert first.forks_of(root.room_id) == {"f1": info}
        assert second.forks_of(root.room_id) == {}
        await first.close_all()
        assert first.forks_of(root.room_id) == {} and first.fork_infos == {}
        await root.close()

        # Over HTTP: a deleted fork is listed no more.
        alice = await CollabClient(server, path, token="user-alice").connect()
        room = _room_id(alice)
        code, fork = await http(server, "PUT", f"/api/collaboration/fork/{room}", {"title": "x"})
        assert code == 201
        code, forks = await http(server, "GET", f"/api/collaboration/fork/{room}")
        assert code == 200 and list(forks) == [fork["fork_roomid"]]
        code, _ = await http(server, "DELETE", f"/api/collaboration/fork/{fork['fork_roomid']}")
        assert code == 200
        code, forks = await http(server, "GET", f"/api/collaboration/fork/{room}")
        assert code == 200 and forks == {}
        code, body = await http(server, "PUT", f"/api/collaboration/fork/{room}", {"title": 5})
        assert code == 400
        await alice.close()

    run(main())


def test_autosave_off_without_a_history_on_disk_still_saves_when_the_room_unloads(tmp_path):
    """Never lose an edit: with histories kept in memory only, a room unloading with autosave off
    saves what it holds (otherwise the edit would exist nowhere); until then the edit is not
    acknowledged (an ack means "on disk")."""
    srv = JupyterServer(tmp_path / "home", history_enabled=False, document_cleanup_delay=0.3)
    srv.start()
    try:
        file = srv.root / "memo.txt"
        file.write_text("saved\n")

        async def main():
            async with EventStream(srv) as bus:
                alice = CollabClient(srv, "memo.txt", token="user-alice")
                alice.awareness.set_local_state({"user": {"name": "alice"}, "autosave": False})
                await alice.connect()
                room = _room_id(alice)
                alice.text.insert(len(alice.text), "typed\n")

                async def room_has_it() -> bool:
                    code, body = await http(srv, "GET", "/api/crdt/document/memo.txt?type=file")
                    return code == 200 and body["content"] == "saved\ntyped\n"

                deadline = time.monotonic() + 30
                while not await room_has_it():
                    assert time.monotonic() < deadline, "the room never got the edit"
                    await asyncio.sleep(0.05)
                # not on disk yet (autosave off, no history on disk): so not acknowledged either
                assert file.read_text() == "saved\n"
                assert not alice.is_acked()
                await alice.close()
                await bus.wait(SESSION, "the room to unload", room=room, action="clean")
                assert file.read_text() == "saved\ntyped\n"
                assert bus.find(SESSION, room=room, action="save")

        run(main())
    finally:
        srv.stop()
