"""Which notebook ``%crdt`` acts on, what it says when it cannot, and secrets: the server's token never in a
repr, and ``%crdt share`` refusing names that look like secrets (shared values are kept in the history).

In-process IPython, against the real server of ``conftest.py`` (found through its runtime directory, as a
kernel started by it finds it) or against no server at all.
"""

from __future__ import annotations

import os
from collections.abc import Iterator
from pathlib import Path

import pytest
from IPython.core.error import UsageError
from IPython.core.interactiveshell import InteractiveShell

from jupyter_crdt.client import find_server, find_session
from jupyter_crdt.history import sidecar_path
from tests.jupyter_crdt.server.notebooks import make_notebook, write_notebook
from tests.jupyter_crdt.server.server import ADMIN_TOKEN, JupyterServer

from .histories import notebook_with_history


def _shell(monkeypatch: pytest.MonkeyPatch, runtime: Path, cwd: Path) -> Iterator[InteractiveShell]:
    """IPython with the extension loaded, in ``cwd``, seeing the servers of ``runtime``; no notebook known."""
    monkeypatch.setenv("JUPYTER_RUNTIME_DIR", str(runtime))
    monkeypatch.delenv("JPY_SESSION_NAME", raising=False)
    monkeypatch.delenv("JUPYTER_CRDT_NOTEBOOK", raising=False)
    monkeypatch.chdir(cwd)
    sh = InteractiveShell.instance()
    sh.user_ns.pop("__session__", None)
    sh.run_line_magic("load_ext", "jupyter_crdt")
    try:
        yield sh
    finally:
        sh.run_line_magic("unload_ext", "jupyter_crdt")


@pytest.fixture
def offline_shell(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> Iterator[InteractiveShell]:
    """No server anywhere; ``nb.ipynb`` (with a history) in the working directory."""
    notebook_with_history(tmp_path / "nb.ipynb")
    yield from _shell(monkeypatch, tmp_path / "runtime", tmp_path)


@pytest.fixture
def online_shell(server: JupyterServer, tmp_path: Path,
                 monkeypatch: pytest.MonkeyPatch) -> Iterator[InteractiveShell]:
    """The test server running; the working directory is not its root."""
    yield from _shell(monkeypatch, server.home / "runtime", tmp_path)


def usage_error(shell: InteractiveShell, line: str) -> str:
    with pytest.raises(UsageError) as e:
        shell.run_line_magic("crdt", line)
    return str(e.value)


def test_notebook_option_wins_after_a_failed_lookup(offline_shell: InteractiveShell,
                                                    capsys: pytest.CaptureFixture) -> None:
    assert "pass --notebook PATH" in usage_error(offline_shell, "log")
    offline_shell.run_line_magic("crdt", "log --notebook nb.ipynb")
    assert "alice" in capsys.readouterr().out
    message = usage_error(offline_shell, "log --notebook missing.ipynb")
    assert "no notebook at missing.ipynb" in message and "--notebook PATH" not in message, message
    # and the lookup that failed first is still what a bare %crdt says
    assert "pass --notebook PATH" in usage_error(offline_shell, "log")


def test_a_missing_notebook_is_blamed_not_the_server(online_shell: InteractiveShell, server: JupyterServer,
                                                     capsys: pytest.CaptureFixture) -> None:
    write_notebook(server.root / "served.ipynb", make_notebook(2))
    assert "pass --notebook PATH" in usage_error(online_shell, "log")
    for line in ("log --notebook missing.ipynb", f"log --notebook {server.root / 'missing.ipynb'}",
                 "show 1 --notebook missing.ipynb"):
        message = usage_error(online_shell, line)
        assert "no notebook at" in message and "missing.ipynb" in message, message
        assert "server" not in message.split("(")[0], message
    # a path relative to the served folder reaches the server (the working directory is elsewhere)
    online_shell.run_line_magic("crdt", "log --notebook served.ipynb")
    out = capsys.readouterr().out
    assert "crdt log: served.ipynb" in out and "(offline)" not in out, out


def test_the_token_is_in_no_repr(server: JupyterServer, monkeypatch: pytest.MonkeyPatch) -> None:
    write_notebook(server.root / "secret.ipynb", make_notebook(1))
    monkeypatch.setenv("JUPYTER_RUNTIME_DIR", str(server.home / "runtime"))
    session = find_session(notebook=str(server.root / "secret.ipynb"))
    assert session.online, session.offline_reason  # the token was sent, and worked
    assert session.server is not None and session.server.token == ADMIN_TOKEN
    for text in (repr(session), str(session), repr(session.server), str(session.server),
                 repr(session.server.token), repr([session.server.token]), f"{session!r}"):
        assert ADMIN_TOKEN not in text, text
    live = find_server(server.root / "secret.ipynb")
    if live is None:  # no room open: the CLI talks to the server only while it holds the history
        server.request("GET", "/api/crdt/status/secret.ipynb")
        live = find_server(server.root / "secret.ipynb")
    assert live is not None and live.call("GET", "status")["path"] == "secret.ipynb"
    assert ADMIN_TOKEN not in repr(live) and ADMIN_TOKEN not in repr(vars(live))


def test_share_refuses_names_that_look_like_secrets(online_shell: InteractiveShell, server: JupyterServer,
                                                    capsys: pytest.CaptureFixture) -> None:
    path = server.root / "shared.ipynb"
    write_notebook(path, make_notebook(1))
    secret = "sk-live-" + os.urandom(8).hex()
    online_shell.user_ns.update({"api_key": secret, "DB_Password": secret, "my_token": secret,
                                 "SECRET": secret, "answer": 42})
    for name in ("api_key", "DB_Password", "my_token", "SECRET"):
        message = usage_error(online_shell, f"share {name} --notebook shared.ipynb")
        assert "looks like a secret" in message and "history" in message and "--force" in message, message
    online_shell.run_line_magic("crdt", "share answer --notebook shared.ipynb")
    assert "shared answer" in capsys.readouterr().out
    # "shared" means acknowledged, so in the history on disk: the shared value is, the refused ones not
    assert b"answer" in sidecar_path(path).read_bytes()
    assert secret.encode() not in sidecar_path(path).read_bytes()
    # forced: shared, and so kept in the history, as the help says
    online_shell.run_line_magic("crdt", "share api_key --force --notebook shared.ipynb")
    assert secret.encode() in sidecar_path(path).read_bytes()


def test_share_help_says_values_are_kept_in_the_history(offline_shell: InteractiveShell,
                                                        capsys: pytest.CaptureFixture) -> None:
    assert offline_shell.run_line_magic("crdt", "share --help") is None
    text = " ".join(capsys.readouterr().out.split())
    assert "stored in the notebook's history" in text and "--force" in text
