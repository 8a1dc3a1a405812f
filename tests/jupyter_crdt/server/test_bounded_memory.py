"""Issue 12, rows 7, 8 and 10: what a room and its connections hold in memory is bounded.

Measured as the server process's resident memory (``VmRSS`` of the jupyter_server subprocess), never
more than 64 MB of growth per case, while the room and every other client keep working and nothing
acknowledged is lost.
"""

from __future__ import annotations

import time
from pathlib import Path
from typing import Any

import pytest
from tornado.websocket import websocket_connect

import crdt
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
            msg = await ws.read_message()
            assert msg is not None, f"session {session} closed: {ws.close_code} {ws.close_reason}"
            if msg[:1] == b"\x01":
                break
            assert time.monotonic() < deadline
        ws.close()


def _pending_flood_case(server: JupyterServer, path: str, update: Any, log_line: str) -> None:
    (server.root / path).write_text("base\n")

    async def main():
        good = await CollabClient(server, path, token="user-good").connect()
        good.text.insert(len(good.text), "acked before\n")
        await wait_until(good.is_acked, what="the good client's ack")
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
            while await ws.read_message() is not None:
                assert time.monotonic() < deadline, "the stuck peer's connection did not end"
            assert ws.close_code == 1008 and "not reading" in (ws.close_reason or "")
        await wait_until(good.is_acked, what="the big edits acknowledged")
        await wait_until(lambda: "".join(read_notebook(server.root / path)["cells"][0]["source"])
                         == source(good), timeout=60, what="the big edits to be saved")
        assert not good.closed
        await good.close()

    run(main())
