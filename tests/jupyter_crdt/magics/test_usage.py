"""Bad input to ``%crdt`` gives one line naming what was wrong (in-process IPython, no server)."""

from __future__ import annotations

from pathlib import Path

import pytest
from IPython.core.error import UsageError
from IPython.core.interactiveshell import InteractiveShell

from .histories import notebook_with_history


@pytest.fixture
def shell(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> InteractiveShell:
    """IPython with the extension loaded, for a notebook with a history, and no server anywhere."""
    monkeypatch.setenv("JUPYTER_RUNTIME_DIR", str(tmp_path / "runtime"))
    monkeypatch.delenv("JPY_SESSION_NAME", raising=False)
    monkeypatch.delenv("JUPYTER_CRDT_NOTEBOOK", raising=False)
    notebook_with_history(tmp_path / "nb.ipynb")
    monkeypatch.setenv("JUPYTER_CRDT_NOTEBOOK", str(tmp_path / "nb.ipynb"))
    sh = InteractiveShell.instance()
    sh.run_line_magic("load_ext", "jupyter_crdt")
    yield sh
    sh.run_line_magic("unload_ext", "jupyter_crdt")


def usage_error(shell: InteractiveShell, line: str) -> str:
    with pytest.raises(UsageError) as e:
        shell.run_line_magic("crdt", line)
    message = str(e.value)
    assert "\n" not in message, message
    return message


def test_unknown_subcommand_is_named(shell: InteractiveShell) -> None:
    message = usage_error(shell, "frobnicate")
    assert "frobnicate" in message and "invalid choice" in message


def test_unknown_option_and_missing_argument(shell: InteractiveShell) -> None:
    assert "--bogus" in usage_error(shell, "log --bogus")
    assert "REV" in usage_error(shell, "show")
    assert "invalid int value: 'many'" in usage_error(shell, "log -n many")


@pytest.mark.parametrize("rev", ["99", "HEAD~7", "deadbeef", "no-such-thing"])
def test_unknown_revisions_are_named(shell: InteractiveShell, rev: str) -> None:
    message = usage_error(shell, f"show {rev}")
    assert message.startswith("%crdt show: unknown revision") and rev in message


def test_unknown_cell_is_named(shell: InteractiveShell) -> None:
    assert "'nope'" in usage_error(shell, "blame nope")


def test_blame_without_a_cell_outside_a_notebook_says_so(shell: InteractiveShell) -> None:
    assert "give a cell id" in usage_error(shell, "blame")


def test_server_only_commands_say_why_offline(shell: InteractiveShell) -> None:
    for line in ("branch draft", "checkout draft", "merge draft", "share x", "get x"):
        message = usage_error(shell, line)
        assert "needs the Jupyter server" in message and "no Jupyter server is running" in message, message


def test_help_prints_and_returns_nothing(shell: InteractiveShell, capsys: pytest.CaptureFixture) -> None:
    assert shell.run_line_magic("crdt", "log --help") is None
    assert "--author" in capsys.readouterr().out
