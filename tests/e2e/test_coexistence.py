"""Our frontend follows our server extension: the pages it serves (JupyterLab and Jupyter Notebook 7)
say it runs and disable the plugins ours replace; where it does not load (jupyter-collaboration's
server extension enabled beside it), it says so in one log line and the pages keep the reference's
plugins. The same with the real jupyter-collaboration, in a venv of its own: ``tests/e2e/test_reference.py``.
"""

from __future__ import annotations

import importlib.util
import json
import re
from collections.abc import Iterator
from typing import Any

import pytest

from jupyter_crdt.server.app import PAGE_CONFIG_FLAG, REPLACED_PLUGINS, page_config_hook
from tests.conftest import missing
from tests.jupyter_crdt.server.server import JupyterServer

from .lab_server import LabServer

CONFIG_DATA = re.compile(r'<script id="jupyter-config-data" type="application/json">(.*?)</script>', re.S)

#: Enough of a jupyter_server_ydoc for jupyter_server to find, link and load it.
FAKE_REFERENCE = '''
def _jupyter_server_extension_points():
    return [{"module": "jupyter_server_ydoc"}]

def _load_jupyter_server_extension(serverapp):
    serverapp.log.info("fake jupyter_server_ydoc loaded")
'''


@pytest.fixture(scope="module")
def server(tmp_path_factory: pytest.TempPathFactory) -> Iterator[LabServer]:
    """A server with this checkout's build of our JupyterLab extension (as the browser tests)."""
    srv = LabServer(tmp_path_factory.mktemp("lab-home"))
    srv.start()
    try:
        yield srv
    finally:
        srv.stop()


def page_config(server: JupyterServer, path: str) -> dict[str, Any]:
    """The page config a browser gets with the page at ``path``."""
    code, html = server.request("GET", path)
    assert code == 200, (path, code)
    found = CONFIG_DATA.search(html)
    assert found, f"no page config in {path}"
    return json.loads(found.group(1))


@pytest.mark.parametrize("page", ["/lab", "/notebooks/page.ipynb", "/tree"])
def test_pages_say_our_server_extension_runs(server: JupyterServer, page: str) -> None:
    """JupyterLab's and Notebook 7's pages carry the flag our plugins start on, and disable the
    reference's document provider and JupyterLab's connection-lost dialog, which ours replace."""
    if importlib.util.find_spec("notebook") is None:
        missing("Jupyter Notebook 7 (the test extra) is not installed")
    (server.root / "page.ipynb").write_text(json.dumps(
        {"nbformat": 4, "nbformat_minor": 5, "metadata": {}, "cells": []}))
    config = page_config(server, page)
    assert config[PAGE_CONFIG_FLAG] == "true"
    for plugin in REPLACED_PLUGINS:
        assert plugin in config["disabledExtensions"], (page, config["disabledExtensions"])


def test_hook_keeps_what_others_disabled_and_the_reference_when_ours_is_off() -> None:
    previous_calls = []

    def previous(handler: object, config: dict) -> dict:
        previous_calls.append(handler)
        return {**config, "fromPrevious": True}

    hook = page_config_hook(previous)
    shared = {"disabledExtensions": ["some-extension:plugin"]}
    config = hook("handler", shared)
    assert previous_calls == ["handler"] and config["fromPrevious"] is True
    assert config["disabledExtensions"] == ["some-extension:plugin", *REPLACED_PLUGINS]
    assert shared["disabledExtensions"] == ["some-extension:plugin"], "the list it was given is not changed"

    # The user turned our JupyterLab extension off: nothing of the reference is disabled, no flag.
    config = page_config_hook()(None, {"disabledExtensions": ["jupyter-crdt"]})
    assert config == {"disabledExtensions": ["jupyter-crdt"]}

    # Only our document provider is off: the reference's provider stays, the dialog is still ours.
    config = page_config_hook()(None, {"disabledExtensions": {"jupyter-crdt:document-provider": True}})
    assert config["disabledExtensions"] == ["jupyter-crdt:document-provider",
                                            "@jupyterlab/hub-extension:connectionlost"]
    assert config[PAGE_CONFIG_FLAG] == "true"


def test_steps_aside_beside_jupyter_server_ydoc(tmp_path, monkeypatch) -> None:
    """Both would serve /api/collaboration: with jupyter_server_ydoc enabled, ours does not load and
    says why in one error line, without a traceback; the pages keep the reference's plugins."""
    fake = tmp_path / "fake"
    fake.mkdir()
    (fake / "jupyter_server_ydoc.py").write_text(FAKE_REFERENCE)
    monkeypatch.setenv("PYTHONPATH", str(fake))
    srv = LabServer(tmp_path / "home")
    enabled = '{"jupyter_crdt": True, "jupyter_server_fileid": True, "jupyter_server_ydoc": True}'
    srv.extra_args.append(f"--ServerApp.jpserver_extensions={enabled}")
    (srv.root / "a.txt").write_text("a")
    srv.start()
    try:
        code, _ = srv.request("PUT", "/api/collaboration/session/a.txt", {"format": "text", "type": "file"})
        assert code == 404
        code, _ = srv.request("GET", "/api/crdt/document/a.txt")
        assert code == 404
        config = page_config(srv, "/lab")
        assert PAGE_CONFIG_FLAG not in config
        assert not set(REPLACED_PLUGINS) & set(config["disabledExtensions"])
        log = srv.log()
        assert "fake jupyter_server_ydoc loaded" in log
        ours = [line for line in log.splitlines() if "jupyter_crdt" in line]
        errors = [line for line in ours if line.startswith("[E")]
        assert len(errors) == 1, ours
        assert "jupyter_crdt is not loaded" in errors[0] and "jupyter_server_ydoc" in errors[0]
        assert "jupyter server extension disable jupyter_server_ydoc" in errors[0]
        assert "Traceback" not in log, log
        assert not any("successfully loaded" in line for line in ours), ours
    finally:
        srv.stop()
