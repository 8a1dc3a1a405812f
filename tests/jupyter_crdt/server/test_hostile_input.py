"""Done-when 6: hostile input closes only the connection that sent it (with a reason), or, for updates
stuck pending past the cap, reconciles that client; the room and every other client carry on and
nothing is lost."""

from __future__ import annotations

import random

from crdt.encoding import Encoder
from crdt.sync import encode_sync_update

from .client import CollabClient, wait_until
from .conftest import run


async def _pair(server, path):
    good = await CollabClient(server, path, token="user-good").connect()
    bad = await CollabClient(server, path, token="user-bad").connect()
    return good, bad


async def _still_works(server, path, good, marker):
    good.text.insert(len(good.text), marker)
    await wait_until(lambda: marker in (server.root / path).read_text(), what=f"{marker!r} to be saved")
    late = await CollabClient(server, path, token="user-late").connect()
    assert str(late.text) == str(good.text)
    await late.close()


def test_random_bytes_close_only_that_connection(server, unique_name):
    path = f"{unique_name}.txt"
    (server.root / path).write_text("start\n")

    async def main():
        good, bad = await _pair(server, path)
        good.text.insert(0, "before ")
        rnd = random.Random(7)
        junk = bytes([0x07]) + bytes(rnd.randrange(256) for _ in range(200))
        bad.send_raw(junk)
        await wait_until(lambda: bad.closed, what="the bad connection to close")
        assert bad.close_code == 1007 and bad.close_reason
        await _still_works(server, path, good, "after random bytes\n")
        assert "before start" in (server.root / path).read_text()
        await good.close()

    run(main())


def test_malformed_sync_and_text_frames(server, unique_name):
    path = f"{unique_name}.txt"
    (server.root / path).write_text("abc\n")

    async def main():
        good = await CollabClient(server, path, token="user-good").connect()
        for frame in (b"\x00\x07\x01\x02", b"\x00\x02\x90", b"", "a text frame", b"\x02\x04sa"):
            bad = await CollabClient(server, path, token="user-bad").connect()
            bad.send_raw(frame)
            await wait_until(lambda b=bad: b.closed, what=f"close after {frame!r}")
            assert bad.close_code in (1007, 1002), (frame, bad.close_code, bad.close_reason)
        await _still_works(server, path, good, "still here\n")
        await good.close()

    run(main())


def test_truncated_update_closes_with_reason(server, unique_name):
    path = f"{unique_name}.txt"
    (server.root / path).write_text("hello\n")

    async def main():
        good, bad = await _pair(server, path)
        import crdt

        other = crdt.Doc()
        other.apply_update(bad.doc.encode_state_as_update())
        other.get_text("source").insert(0, "a fairly long insertion that will be cut short ")
        update = other.encode_state_as_update(bad.doc.encode_state_vector())
        bad.send_raw(encode_sync_update(update[: len(update) // 2]))
        await wait_until(lambda: bad.closed, what="the connection to close")
        assert bad.close_code == 1007
        assert "malformed" in (bad.close_reason or "")
        await _still_works(server, path, good, "after truncated\n")
        assert "cut short" not in (server.root / path).read_text()
        await good.close()

    run(main())


def test_oversized_frame_closes_that_connection(server, unique_name):
    path = f"{unique_name}.txt"
    (server.root / path).write_text("small\n")

    async def main():
        good, bad = await _pair(server, path)
        enc = Encoder()
        enc.write_var_uint(0)
        enc.write_var_uint(2)
        enc.write_var_bytes(b"\x00" * (9 * 1024 * 1024))  # the test server's limit is 8 MiB
        bad.send_raw(enc.to_bytes())
        await wait_until(lambda: bad.closed, what="the oversized frame to be refused")
        assert bad.close_code == 1009, (bad.close_code, bad.close_reason)
        await _still_works(server, path, good, "after oversized\n")
        await good.close()

    run(main())


def test_flood_of_pending_updates_is_reconciled_not_closed(server, unique_name):
    path = f"{unique_name}.txt"
    (server.root / path).write_text("base line\n")

    async def main():
        good, flooder = await _pair(server, path)
        # The flooder's first edit never reaches the server, so everything after it stays pending.
        send = flooder.sync._send
        flooder.sync._send = lambda frame: None
        flooder.text.insert(0, "FIRST ")
        flooder.sync._send = send
        for i in range(120):  # ~120 KiB of dependent updates: past the 64 KiB cap of the test server
            flooder.text.insert(6, f"[flood {i:03d}]" + "y" * 1000)
            if i % 10 == 0:
                good.text.insert(len(good.text), f"good{i} ")
        await wait_until(lambda: str(good.text) == str(flooder.text), timeout=60,
                         what="the flooder to be reconciled and everyone to converge")
        assert not flooder.closed
        assert "passed the cap" in server.log()
        final = str(good.text)
        assert final.count("[flood ") == 120 and "FIRST " in final
        assert all(f"good{i} " in final for i in range(0, 120, 10))
        await wait_until(lambda: (server.root / path).read_text() == final, what="save")
        await good.close()
        await flooder.close()

    run(main())


def test_50_mb_notebook_opens_and_syncs_to_two_clients(fresh_server):
    """A big notebook (50 MB, mostly image outputs) fits the default 256 MiB message limit."""
    import base64
    import json
    import os as _os

    from .notebooks import cell_source, read_notebook

    server = fresh_server
    blob = base64.b64encode(_os.urandom(75_000)).decode()
    cells = [{"id": f"c{i}", "cell_type": "code", "metadata": {}, "execution_count": i,
              "source": f"plot({i})\n", "outputs": [{"output_type": "display_data", "metadata": {},
                                                     "data": {"image/png": blob, "text/plain": "<Figure>"}}]}
             for i in range(500)]
    nb = {"nbformat": 4, "nbformat_minor": 5, "metadata": {}, "cells": cells}
    (server.root / "big.ipynb").write_text(json.dumps(nb))
    assert (server.root / "big.ipynb").stat().st_size > 50_000_000
    server.start()

    async def main():
        a = await CollabClient(server, "big.ipynb", "notebook", token="user-alice").connect()
        b = await CollabClient(server, "big.ipynb", "notebook", token="user-bob").connect()
        assert len(a.doc.get_array("cells")) == len(b.doc.get_array("cells")) == 500
        a.doc.get_array("cells")[250]["source"].insert(0, "# edited\n")
        await wait_until(lambda: cell_source(b.doc, "c250").startswith("# edited"), what="the edit")
        await wait_until(lambda: read_notebook(server.root / "big.ipynb")["cells"][250]["source"]
                         .startswith("# edited"), timeout=60, what="the save")
        await a.close()
        await b.close()

    try:
        run(main())
    finally:
        server.stop()
