"""Fixtures for the server tests: a real jupyter_server subprocess (see ``server.py``)."""

from __future__ import annotations

import asyncio
import itertools
from collections.abc import Iterator
from pathlib import Path

import pytest

from .server import JupyterServer

_names = itertools.count(1)


@pytest.fixture(scope="module")
def server(tmp_path_factory: pytest.TempPathFactory) -> Iterator[JupyterServer]:
    """One server for a test module (tests use distinct file names)."""
    srv = JupyterServer(tmp_path_factory.mktemp("jupyter-home"), pending_cap=64 * 1024,
                        max_message_size=8 * 1024 * 1024)
    srv.start()
    try:
        yield srv
    finally:
        srv.stop()


@pytest.fixture
def fresh_server(tmp_path: Path) -> Iterator[JupyterServer]:
    """A server of the test's own (for restarts and kills); started by the test."""
    srv = JupyterServer(tmp_path / "home")
    try:
        yield srv
    finally:
        srv.kill()


@pytest.fixture
def unique_name() -> str:
    return f"doc{next(_names)}"


def run(coro, timeout: float = 240.0):
    """Run a test coroutine with an overall deadline."""
    return asyncio.run(asyncio.wait_for(coro, timeout))
