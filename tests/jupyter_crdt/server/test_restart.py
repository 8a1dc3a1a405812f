"""Done-when 3: the server is killed with SIGKILL while two clients edit, and restarted. Every
acknowledged edit is in the file; the clients, which kept editing offline, reconnect with their old
documents (and old session id, as JupyterLab's provider does); nothing is duplicated and no edit is
lost — also when the history sidecar was deleted in between (jupyter-collaboration #594/#621)."""

from __future__ import annotations

import asyncio
import random

import pytest

from .client import CollabClient, http, wait_until
from .conftest import run
from .notebooks import export, make_notebook, read_notebook, write_notebook


class Typist:
    """Types unique token lines into a client's document and remembers the clock of each."""

    def __init__(self, client: CollabClient, name: str, notebook: bool, seed: int) -> None:
        self.client = client
        self.name = name
        self.notebook = notebook
        self.rnd = random.Random(seed)
        self.tokens: list[tuple[str, int]] = []

    def type(self) -> str:
        token = f"<{self.name}{len(self.tokens)}>"
        doc = self.client.doc
        if self.notebook:
            cells = doc.get_array("cells")
            text = cells[self.rnd.randrange(len(cells))]["source"]
        else:
            text = doc.get_text("source")
        content = str(text)
        starts = [0] + [i + 1 for i, ch in enumerate(content) if ch == "\n"]
        text.insert(self.rnd.choice(starts), token + "\n")
        self.tokens.append((token, doc.state_vector()[doc.client_id]))
        return token

    def acked(self) -> list[str]:
        sv = self.client.acked_state_vector().get(self.client.doc.client_id, 0)
        return [t for t, clock in self.tokens if clock <= sv]


def _content(client: CollabClient, notebook: bool) -> str:
    if notebook:
        return "".join(str(c["source"]) for c in client.doc.get_array("cells"))
    return str(client.doc.get_text("source"))


def _file_content(server, path: str, notebook: bool) -> str:
    if notebook:
        return "".join("".join(c["source"]) for c in read_notebook(server.root / path)["cells"])
    return (server.root / path).read_text()


@pytest.mark.parametrize("notebook", [False, True], ids=["text", "notebook"])
@pytest.mark.parametrize("lose_history", [False, True], ids=["history-kept", "history-deleted"])
def test_sigkill_restart_and_stale_clients(fresh_server, notebook, lose_history):
    server = fresh_server
    path = "work.ipynb" if notebook else "work.txt"
    if notebook:
        write_notebook(server.root / path, make_notebook(4))
    else:
        (server.root / path).write_text("first line\nsecond line\n")
    file_type = "notebook" if notebook else "file"
    server.start()

    async def main():
        a = await CollabClient(server, path, file_type, token="user-alice").connect()
        b = await CollabClient(server, path, file_type, token="user-bob").connect()
        ta, tb = Typist(a, "a", notebook, 1), Typist(b, "b", notebook, 2)
        old_session = a.session_info["sessionId"]

        for _ in range(8):  # edits that get acknowledged
            ta.type()
            tb.type()
            await asyncio.sleep(0.01)
        await wait_until(lambda: ta.acked() and tb.acked() and len(ta.acked()) == 8 and len(tb.acked()) == 8,
                         what="acks")
        await wait_until(lambda: all(t in _file_content(server, path, notebook)
                                     for t, _ in ta.tokens + tb.tokens), what="a save")
        for _ in range(4):  # more edits, then the kill: some may never be acknowledged
            ta.type()
            tb.type()
        await asyncio.sleep(0)
        acked = set(ta.acked()) | set(tb.acked())
        server.kill()
        await wait_until(lambda: a.closed and b.closed, what="the clients to notice the kill")
        for _ in range(3):  # offline edits
            ta.type()
            tb.type()
        if lose_history:
            sidecars = [*server.root.glob(".*.crdtlog"), *server.root.glob(".*.crdt")]
            assert sidecars
            for sidecar in sidecars:
                sidecar.unlink()
        server.start()

        info = await CollabClient(server, path, file_type, token="user-carol").open_session()
        assert (info["sessionId"] == old_session) is (not lose_history)
        # The stale clients come back with their old documents and their old session id.
        await a.connect(session_id=old_session)
        await b.connect(session_id=old_session)
        try:
            await wait_until(lambda: _content(a, notebook) == _content(b, notebook), timeout=60,
                             what="the reconnected clients to converge")
        except AssertionError:
            print("A:", repr(_content(a, notebook)), a.closed, a.sync.synced)
            print("B:", repr(_content(b, notebook)), b.closed, b.sync.synced)
            raise
        final = _content(a, notebook)
        everything = [t for t, _ in ta.tokens + tb.tokens]
        missing = [t for t in everything if t not in final]
        doubled = [t for t in everything if final.count(t) > 1]
        assert not missing, f"lost edits: {missing}"
        assert not doubled, f"duplicated edits: {doubled}"
        assert acked <= {t for t in everything if t in final}
        if notebook:
            ids = [c["id"] for c in export(a.doc)["cells"]]
            assert len(ids) == len(set(ids)) == len(make_notebook(4)["cells"]), ids
        else:
            assert final.count("first line") == 1 and final.count("second line") == 1
        # A newcomer sees the same, and the file holds it.
        c = await CollabClient(server, path, file_type, token="user-carol").connect()
        assert _content(c, notebook) == final
        await wait_until(lambda: _file_content(server, path, notebook) == final, what="the file to be saved")
        code, _ = await http(server, "GET", f"/api/crdt/status/{path}")
        assert code == 200
        for client in (a, b, c):
            await client.close()

    try:
        run(main())
    except BaseException:
        print(server.log()[-6000:])
        raise
    finally:
        server.stop()


def test_room_unloads_after_last_client_and_reloads_from_history(fresh_server):
    """A room is unloaded (history flushed and unlocked, file saved) a while after its last client
    leaves; opening it again loads the same history and session."""
    from crdt.history_file import HistoryLockedError
    from jupyter_crdt.history import NotebookHistory

    server = fresh_server
    server.settings["document_cleanup_delay"] = 0.3
    write_notebook(server.root / "unload.ipynb", make_notebook(3))
    server.start()

    def history_free() -> bool:
        try:
            NotebookHistory.open(server.root / "unload.ipynb", sync=False).close()
        except HistoryLockedError:
            return False
        return True

    async def main():
        a = await CollabClient(server, "unload.ipynb", "notebook", token="user-alice").connect()
        session = a.session_info["sessionId"]
        a.doc.get_array("cells")[1]["source"].insert(0, "# kept\n")
        await wait_until(lambda: a.is_acked(), what="ack")
        assert not history_free()
        await a.close()
        await wait_until(history_free, what="the room to unload")
        assert "# kept" in "".join(read_notebook(server.root / "unload.ipynb")["cells"][1]["source"])
        b = await CollabClient(server, "unload.ipynb", "notebook", token="user-bob").connect()
        assert b.session_info["sessionId"] == session
        assert "# kept" in str(b.doc.get_array("cells")[1]["source"])
        await b.close()

    try:
        run(main())
    finally:
        server.stop()
