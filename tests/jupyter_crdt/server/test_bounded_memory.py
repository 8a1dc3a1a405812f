"""Issue 12, rows 7, 8 and 10: what a room and its connections hold in memory is bounded.

Measured as the server process's resident memory (``VmRSS`` of the jupyter_server subprocess), never
more than 64 MB of growth per case, while the room and every other client keep working and nothing
acknowledged is lost.
"""

from __future__ import annotations

import asyncio
import json
import time
from pathlib import Path
from typing import Any

import pytest
from tornado.websocket import websocket_connect

from crdt.encoding import Encoder
from crdt.sync import encode_query_awareness, encode_sync_step1, encode_sync_step2, encode_sync_update

from .client import CollabClient, http, wait_until
from .conftest import run
from .server import JupyterServer

MB = 1 << 20
#: Most the server's resident memory may grow in one case.
RSS_BUDGET = 64 * MB


def rss(server: JupyterServer) -> int:
    """The server process's resident memory, in bytes."""
    assert server.proc is not None
    for line in Path(f"/proc/{server.proc.pid}/status").read_text().splitlines():
        if line.startswith("VmRSS:"):
            return int(line.split()[1]) * 1024
    raise AssertionError("no VmRSS line")


@pytest.fixture(scope="module")
def big_server(tmp_path_factory: pytest.TempPathFactory) -> Any:
    """A server with the default pending caps (the shared test server lowers them); a 4 MB outgoing cap
    (default 32 MB) so that a test reaches it quickly."""
    srv = JupyterServer(tmp_path_factory.mktemp("bounded-home"), document_cleanup_delay=0.5,
                        outgoing_cap=4 * MB)
    srv.start()
    try:
        yield srv
    finally:
        srv.stop()


async def _raw_socket(server: JupyterServer, room: str, token: str) -> Any:
    url = f"{server.ws_url}/api/collaboration/room/{room}?token={token}"
    return await websocket_connect(url, max_message_size=1 << 30)


#: A client the room never hears from: items inserted after its text wait for it forever.
ABSENT_CLIENT = 4_000_000_001


async def _read(ws: Any, deadline: float) -> Any:
    """The next message of ``ws`` (None: closed); TimeoutError past ``deadline`` (monotonic)."""
    return await asyncio.wait_for(ws.read_message(), max(0.01, deadline - time.monotonic()))


def _dangling_update(client: int, count: int, size: int) -> bytes:
    """An update of ``client`` holding ``count`` string items of ``size`` characters, each inserted
    after a character of :data:`ABSENT_CLIENT`: none of them can ever be integrated."""
    item = Encoder()
    item.write_u8(0x84)  # an item with an origin (0x80) and string content (4)
    item.write_var_uint(ABSENT_CLIENT)
    item.write_var_uint(0)
    item.write_var_string("p" * size)
    head = Encoder()
    head.write_var_uint(1)  # one client
    head.write_var_uint(count)
    head.write_var_uint(client)
    head.write_var_uint(0)  # first clock
    return head.to_bytes() + item.to_bytes() * count + b"\x00"  # no deletions


async def _leave_pending(server: JupyterServer, room: str, sessions: int, update: Any) -> None:
    """``sessions`` connections one after the other, each sending ``update(session)`` (updates whose
    dependencies never arrive) and going away."""
    for session in range(sessions):
        ws = await _raw_socket(server, room, "user-flood")
        ws.write_message(encode_sync_step1(b"\x00") + encode_sync_step2(b"\x00\x00"), binary=True)
        frame = encode_sync_update(update(session))
        assert 800_000 < len(frame) < 900_000
        ws.write_message(frame, binary=True)
        # Handled in order: the answer to this query comes once the flood was taken in.
        ws.write_message(encode_query_awareness(), binary=True)
        deadline = time.monotonic() + 30
        while True:
            msg = await _read(ws, deadline)
            assert msg is not None, f"session {session} closed: {ws.close_code} {ws.close_reason}"
            if msg[:1] == b"\x01":
                break
        ws.close()


def _pending_flood_case(server: JupyterServer, path: str, update: Any, log_line: str) -> None:
    (server.root / path).write_text("base\n")

    async def main():
        good = await CollabClient(server, path, token="user-good").connect()
        good.text.insert(len(good.text), "acked before\n")
        await wait_until(good.is_acked, what="the good client's ack")
        # A connected client whose first edit got lost on the way: its next one waits in the room's
        # pending updates, and is among those dropped; it comes back through a reconciliation.
        slow = await CollabClient(server, path, token="user-slow").connect()
        send = slow.sync._send
        slow.sync._send = lambda frame: None
        slow.text.insert(0, "SLOW FIRST ")
        slow.sync._send = send
        slow.text.insert(len(slow.text), "slow second\n")
        # Warm up: one join, so the allocator's first growth is not counted.
        probe = await CollabClient(server, path, token="user-probe").connect()
        await probe.close()
        before = rss(server)
        room = f"text:file:{good.session_info['fileId']}"

        def session_update(session: int) -> bytes:
            good.text.insert(len(good.text), f"edit {session}\n")
            return update(session)

        await _leave_pending(server, room, 30, session_update)
        started = time.monotonic()
        late = await CollabClient(server, path, token="user-late").connect()
        joined = time.monotonic() - started
        grown = rss(server) - before
        assert joined < 0.2, f"a new peer took {joined:.2f}s to join after the flood"
        assert grown <= RSS_BUDGET, f"server grew {grown / MB:.0f} MB"
        assert log_line in server.log()
        assert not late.doc.pending, "the room sent its pending structs to a joining peer"
        await wait_until(lambda: str(late.text) == str(good.text), what="the late peer to converge")
        assert "ppp" not in str(late.text)
        await wait_until(lambda: "slow second" in str(good.text) and str(slow.text) == str(good.text),
                         what="the slow client's dropped edits to come back")
        assert str(good.text).startswith("SLOW FIRST ")
        await slow.close()
        await wait_until(good.is_acked, what="every edit acknowledged")
        expected = str(good.text)
        assert "acked before\n" in expected and all(f"edit {i}\n" in expected for i in range(30))
        await wait_until(lambda: (server.root / path).read_text() == expected, what="the file to be saved")
        await late.close()
        await good.close()

    run(main())


def test_pending_flood_from_reconnecting_sessions_is_capped_room_wide(big_server):
    """Row 7: 30 sessions each leave ~850 KB of updates that never integrate, under the per-connection
    cap: the room-wide cap drops them, a new peer joins at once and memory stays bounded."""
    _pending_flood_case(big_server, "pending_flood.txt", lambda s: _dangling_update(1000 + s, 17, 50_000),
                        "room-wide pending updates passed")


def test_pending_flood_of_small_items_counts_their_memory(big_server):
    """Row 7 with the costliest shape: ~8,500 small items per session (~30 times their wire size in
    memory): they count what they cost, so one session already passes its connection's cap."""
    _pending_flood_case(big_server, "pending_small.txt", lambda s: _dangling_update(2000 + s, 8_500, 96),
                        "pending updates from flood passed the cap")


def test_a_peer_that_stops_reading_holds_no_copies_and_is_closed(big_server):
    """Row 8: a read-only user (and a writer) send one small frame of 300 sync step 1 messages on a
    1 MB notebook and stop reading. Replies are made as the socket drains, so the server holds about
    one of them, not 300; the room keeps serving everyone; once broadcasts for a peer that still does
    not read pass the outgoing cap, it is closed with code 1008 and a reason."""
    from .notebooks import make_notebook, read_notebook, write_notebook

    server = big_server
    path = "one_mb.ipynb"
    write_notebook(server.root / path, make_notebook(40, 25_000))
    assert (server.root / path).stat().st_size > 1_000_000

    async def main():
        good = await CollabClient(server, path, "notebook", token="user-good").connect()
        probe = await CollabClient(server, path, "notebook", token="user-probe").connect()
        await probe.close()
        before = rss(server)
        room = f"json:notebook:{good.session_info['fileId']}"
        frame = encode_sync_step2(b"\x00\x00") + encode_sync_step1(b"\x00") * 300
        assert len(frame) < 1300
        stuck = []
        for token in ("reader-mallory", "user-mallory"):
            ws = await _raw_socket(server, room, token)
            ws.write_message(frame, binary=True)
            stuck.append(ws)  # never read from again (tornado's client stops reading its socket)

        def source(client: CollabClient) -> str:
            return str(client.doc.get_array("cells")[0]["source"])

        # Everyone else is served meanwhile: an edit is acknowledged and saved, a new peer joins.
        source_text = good.doc.get_array("cells")[0]["source"]
        source_text.insert(0, "# while they do not read\n")
        await wait_until(good.is_acked, what="the good client's ack")
        await wait_until(lambda: "".join(read_notebook(server.root / path)["cells"][0]["source"])
                         == source(good), what="the edit to be saved")
        late = await CollabClient(server, path, "notebook", token="user-late").connect()
        assert source(late) == source(good)
        await late.close()
        grown = rss(server) - before
        assert grown <= RSS_BUDGET, f"server grew {grown / MB:.0f} MB"
        assert not any(ws.close_code for ws in stuck)

        # Broadcasts keep coming for them: past the outgoing cap (4 MB here) they are closed.
        for i in range(8):
            source_text.insert(len(source_text), f"\n# block {i}\n" + "z" * 3_000_000)
        await wait_until(lambda: server.log().count("not reading") >= 2, timeout=60,
                         what="both stuck peers to be closed")
        for ws in stuck:
            deadline = time.monotonic() + 30
            while await _read(ws, deadline) is not None:
                pass
            assert ws.close_code == 1008 and "not reading" in (ws.close_reason or "")
        await wait_until(good.is_acked, what="the big edits acknowledged")
        await wait_until(lambda: "".join(read_notebook(server.root / path)["cells"][0]["source"])
                         == source(good), timeout=60, what="the big edits to be saved")
        assert not good.closed
        await good.close()

    run(main())


def test_timelines_hold_no_copy_until_joined_and_are_freed(big_server):
    """Row 10: 60 timeline requests on a big notebook keep no copy of it each; a joined timeline
    works (undo, redo) and is unloaded like a document room after its last client left (this server:
    0.5 s); one nobody joined is forgotten after the same delay."""
    from .notebooks import make_notebook, write_notebook

    server = big_server
    path = "big.ipynb"
    write_notebook(server.root / path, make_notebook(40, 100_000))
    assert (server.root / path).stat().st_size > 4_000_000
    url = f"/api/collaboration/timeline/{path}?format=json&type=notebook"

    def source(client: CollabClient) -> str:
        return str(client.doc.get_array("cells")[0]["source"])

    async def main():
        good = await CollabClient(server, path, "notebook", token="user-good").connect()
        good.doc.get_array("cells")[0]["source"].insert(0, "# version 2\n")
        await wait_until(good.is_acked, what="the edit acknowledged")
        code, first = await http(server, "GET", url)  # warm-up (the allocator's first growth)
        assert code == 200
        before = rss(server)
        answers = []
        for _ in range(60):
            code, answer = await http(server, "GET", url)
            assert code == 200 and len(answer["timestamps"]) >= 2
            answers.append(answer)
        grown = rss(server) - before
        assert grown <= RSS_BUDGET, f"server grew {grown / MB:.0f} MB"

        # A timeline someone joins works: it shows the current version, undo goes one back.
        last = answers[-1]
        viewer = CollabClient(server, path, "notebook", token="user-viewer")
        viewer.session_info = {"sessionId": last["sessionId"]}
        await viewer.connect(room=last["forkRoom"])
        assert source(viewer) == source(good)
        undo = (f"/api/collaboration/undo_redo/{last['roomId']}"
                f"?action=undo&steps=1&forkRoom={last['forkRoom']}")
        code, answer = await http(server, "PUT", undo, {})
        assert code == 200 and answer == {"status": "undone"}
        await wait_until(lambda: not source(viewer).startswith("# version 2"), what="the timeline to go back")
        await viewer.close()

        def gone(answer: dict) -> bool:
            query = f"action=redo&steps=1&forkRoom={answer['forkRoom']}"
            code, _ = server.request("PUT", f"/api/collaboration/undo_redo/{answer['roomId']}?{query}", {})
            return code == 404

        # Unloaded once its last client left, and the never-joined ones forgotten.
        await wait_until(lambda: gone(last) and gone(answers[0]) and gone(first), timeout=20,
                         interval=0.2, what="the timelines to be freed")
        assert source(good).startswith("# version 2")
        await good.close()

    run(main())


def test_updates_before_sync_step_2_are_capped_per_connection(big_server):
    """A writer that sends update after update without ever sending its sync step 2 (held aside until
    then, for classifying its document) is asked for its whole document once they pass the
    connection's pending cap; its step 2 then brings everything in: nothing it wrote is lost."""
    import crdt

    server = big_server
    path = "before_step2.txt"
    (server.root / path).write_text("base\n")

    async def main():
        good = await CollabClient(server, path, token="user-good").connect()
        room = f"text:file:{good.session_info['fileId']}"
        ws = await _raw_socket(server, room, "user-eager")
        doc = crdt.Doc()
        doc.apply_update(good.doc.encode_state_as_update())  # its tab had the document already
        text = doc.get_text("source")
        for i in range(6):  # 6 x 300 KB, past the 1 MiB cap
            sv = doc.encode_state_vector()
            text.insert(len(text), f"<eager {i}>" + "e" * 300_000)
            ws.write_message(encode_sync_update(doc.encode_state_as_update(sv)), binary=True)
        ask_whole = encode_sync_step1(b"\x00")
        deadline = time.monotonic() + 30
        while (msg := await _read(ws, deadline)) != ask_whole:
            assert msg is not None, f"closed: {ws.close_code} {ws.close_reason}"
        assert "before its sync step 2 passed the cap" in server.log()
        ws.write_message(encode_sync_step2(doc.encode_state_as_update()), binary=True)
        await wait_until(lambda: "<eager 5>" in str(good.text), what="the eager writer's text in the room")
        assert all(f"<eager {i}>" in str(good.text) for i in range(6)) and "base\n" in str(good.text)
        ws.close()
        await good.close()

    run(main())


def test_deletions_of_unknown_ranges_count_against_the_cap(big_server):
    """Deletions of ranges the room has never seen wait too (as in Yjs): they are counted per range, so
    a flood of them for one absent client reaches the cap instead of growing unseen."""
    server = big_server
    path = "unknown_deletes.txt"
    (server.root / path).write_text("keep me\n")

    def deletions(first: int, count: int) -> bytes:
        enc = Encoder()
        enc.write_var_uint(0)  # no structs
        enc.write_var_uint(1)  # deletions of one client
        enc.write_var_uint(ABSENT_CLIENT)
        enc.write_var_uint(count)
        for i in range(first, first + count):
            enc.write_var_uint(10 * i)  # apart: no two ranges merge
            enc.write_var_uint(1)
        return enc.to_bytes()

    async def main():
        good = await CollabClient(server, path, token="user-good").connect()
        room = f"text:file:{good.session_info['fileId']}"
        ws = await _raw_socket(server, room, "user-ranges")
        ws.write_message(encode_sync_step1(b"\x00") + encode_sync_step2(b"\x00\x00"), binary=True)
        frame = b"".join(encode_sync_update(deletions(200 * n, 200)) for n in range(20))
        assert len(frame) < 100_000  # 4,000 ranges: ~1.5 MB counted, over the 1 MiB cap
        ws.write_message(frame + encode_query_awareness(), binary=True)
        await wait_until(lambda: "pending updates from ranges passed the cap" in server.log(),
                         what="the deletions to reach the cap")
        good.text.insert(len(good.text), "still editing\n")
        await wait_until(lambda: (server.root / path).read_text() == "keep me\nstill editing\n",
                         what="the room to keep saving")
        late = await CollabClient(server, path, token="user-late").connect()
        assert str(late.text) == str(good.text) and not late.doc.pending
        ws.close()
        await late.close()
        await good.close()

    run(main())


def test_forks_past_the_cap_are_refused_with_a_reason(tmp_path):
    """A writer cannot make the server hold a copy of a document per request without bound: forks live
    until a client deletes them (a joined one holds someone's edits), so past ``fork_cap`` a new one is
    refused (429, saying how to free one); deleting one makes room again."""
    srv = JupyterServer(tmp_path / "home", fork_cap=3)
    srv.start()
    try:
        path = "forked.txt"
        (srv.root / path).write_text("some text\n")

        async def main():
            alice = await CollabClient(srv, path).connect()
            info = alice.session_info
            room = f"{info['format']}:{info['type']}:{info['fileId']}"
            body = {"title": "t", "description": "d", "synchronize": False}
            created = []
            for _ in range(3):
                code, fork = await http(srv, "PUT", f"/api/collaboration/fork/{room}", body)
                assert code == 201
                created.append(fork["fork_roomid"])
            code, refused = await http(srv, "PUT", f"/api/collaboration/fork/{room}", body)
            assert code == 429
            assert "fork_cap" in json.dumps(refused) and "DELETE" in json.dumps(refused)
            code, listed = await http(srv, "GET", f"/api/collaboration/fork/{room}")
            assert code == 200 and sorted(listed) == sorted(created)
            code, _ = await http(srv, "DELETE", f"/api/collaboration/fork/{created[0]}")
            assert code == 200
            code, fork = await http(srv, "PUT", f"/api/collaboration/fork/{room}", body)
            assert code == 201
            await alice.close()

        run(main())
    finally:
        srv.stop()
