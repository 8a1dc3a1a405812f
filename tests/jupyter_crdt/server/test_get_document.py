"""``CrdtExtension.get_document``, used as another server extension would: a change made to the returned
document reaches the connected clients, is saved to the file, and is in the history by its origin.

This module is also that other server extension: the test's server loads it (``jpserver_extensions``),
and it adds ``POST /test-get-document/edit`` with ``{"path", "text", "branch"?}``, which inserts ``text``
at the start of the first cell through ``get_document`` in a transaction whose origin is ``bot``.
"""

from __future__ import annotations

import json
from pathlib import Path

import pytest
from jupyter_server.base.handlers import APIHandler
from jupyter_server.utils import url_path_join
from tornado import web

from .client import CollabClient, http, wait_until
from .conftest import run
from .notebooks import cell_source, make_notebook, read_notebook, write_notebook
from .server import JupyterServer

BOT = "bot"


class _BotEditHandler(APIHandler):
    """Edits a notebook through ``get_document``, as a server-side tool (an AI assistant, a linter) would."""

    @web.authenticated
    async def post(self) -> None:
        body = json.loads(self.request.body)
        (crdt_app,) = self.serverapp.extension_manager.extension_apps["jupyter_crdt"]
        doc = await crdt_app.get_document(path=body["path"], content_type="notebook", file_format="json",
                                          branch=body.get("branch", "main"))
        with doc.transact(origin=BOT):
            doc.get_array("cells")[0]["source"].insert(0, body["text"])
        self.finish(json.dumps({"cells": len(doc.get_array("cells"))}))


def _jupyter_server_extension_points() -> list[dict]:
    return [{"module": __name__}]


def _load_jupyter_server_extension(serverapp) -> None:
    route = url_path_join(serverapp.base_url, "/test-get-document/edit")
    serverapp.web_app.add_handlers(".*$", [(route, _BotEditHandler)])


@pytest.fixture
def bot_server(tmp_path: Path):
    extensions = {"jupyter_crdt": True, "jupyter_server_fileid": True, __name__: True}
    srv = JupyterServer(tmp_path / "home", extra_args=[f"--ServerApp.jpserver_extensions={extensions!r}"])
    try:
        yield srv
    finally:
        srv.stop()


def test_change_through_get_document_reaches_clients_file_and_log(bot_server):
    path = "bot.ipynb"
    write_notebook(bot_server.root / path, make_notebook(2))
    bot_server.start()

    async def main():
        alice = await CollabClient(bot_server, path, "notebook", token="user-alice").connect()
        edit = "/test-get-document/edit"
        code, answer = await http(bot_server, "POST", edit, {"path": path, "text": "# bot\n"})
        assert code == 200 and answer == {"cells": 2}, answer
        await wait_until(lambda: cell_source(alice.doc, "code-0").startswith("# bot\n"),
                         what="the change to reach the client")
        await wait_until(lambda: "# bot" in (bot_server.root / path).read_text(), what="the save")
        code, log = await http(bot_server, "GET", f"/api/crdt/log/{path}")
        assert code == 200
        assert BOT in [c["author"] for c in log["changes"]]
        # With nobody connected the document is still the live one: edited, then saved.
        await alice.close()
        code, _ = await http(bot_server, "POST", edit, {"path": path, "text": "# again\n"})
        assert code == 200

        def saved_source() -> str:
            return "".join(read_notebook(bot_server.root / path)["cells"][0]["source"])

        await wait_until(lambda: saved_source().startswith("# again\n# bot\n"), what="the second save")

        # On a branch: recorded there, by the same origin, and never saved to the file.
        code, _ = await http(bot_server, "POST", f"/api/crdt/branches/{path}", {"name": "bot-draft"})
        assert code == 201
        on_branch = {"path": path, "text": "# draft\n", "branch": "bot-draft"}
        code, _ = await http(bot_server, "POST", edit, on_branch)
        assert code == 200
        code, doc = await http(bot_server, "GET", f"/api/crdt/document/{path}?branch=bot-draft")
        assert "".join(doc["content"]["cells"][0]["source"]).startswith("# draft\n# again\n")
        code, log = await http(bot_server, "GET", f"/api/crdt/log/{path}?branch=bot-draft")
        assert log["changes"][-1]["author"] == BOT
        code, _ = await http(bot_server, "POST", f"/api/crdt/save/{path}")
        assert code == 200
        assert not saved_source().startswith("# draft")

    run(main())
