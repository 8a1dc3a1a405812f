"""Fixtures for the magics tests: a real jupyter_server (``tests/jupyter_crdt/server/server.py``)."""

from __future__ import annotations

from collections.abc import Iterator

import pytest

from tests.jupyter_crdt.server.server import JupyterServer


@pytest.fixture(scope="session")
def server(tmp_path_factory: pytest.TempPathFactory) -> Iterator[JupyterServer]:
    """One server for the magics tests (each test uses notebooks of its own)."""
    srv = JupyterServer(tmp_path_factory.mktemp("jupyter-home"))
    srv.start()
    try:
        yield srv
    finally:
        srv.stop()
