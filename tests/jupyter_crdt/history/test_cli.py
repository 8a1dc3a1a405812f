"""The command line itself: help, reading without creating sidecars, the progress bar, the console script."""

from __future__ import annotations

import io
import shutil
import subprocess

import pytest

from jupyter_crdt import cli as cli_module
from jupyter_crdt.history import sidecar_path
from jupyter_crdt.progress import Progress

from .helpers import cli, copy_notebook

COMMANDS = ["log", "show", "diff", "restore", "blame", "merge", "config-git", "squash", "purge", "mv"]


@pytest.mark.parametrize("command", COMMANDS)
def test_help_on_each_command(command, capsys):
    with pytest.raises(SystemExit) as e:
        cli_module.main([command, "--help"])
    assert e.value.code == 0
    out = capsys.readouterr().out
    assert out.startswith(f"usage: jupyter crdt {command}")


def test_console_script_and_jupyter_subcommand():
    exe = shutil.which("jupyter-crdt")
    if exe is None:
        pytest.skip("the package is not installed with its console script")
    r = subprocess.run([exe, "--help"], capture_output=True, text=True, timeout=120)
    assert r.returncode == 0 and all(c in r.stdout for c in COMMANDS)
    if shutil.which("jupyter"):
        r = subprocess.run(["jupyter", "crdt", "--version"], capture_output=True, text=True, timeout=120)
        assert r.returncode == 0 and r.stdout.startswith("jupyter-crdt ")


def test_reading_a_plain_notebook_creates_no_sidecar(tmp_path, data_dir):
    nb = copy_notebook(data_dir, "jupyterlab/example.ipynb", tmp_path)
    before = nb.read_bytes()
    r = cli("log", nb)
    assert r.returncode == 0 and "notebook imported (6 cells)" in r.stdout
    assert cli("show", nb).stdout.encode() == before  # nbformat writes this file back unchanged
    assert cli("blame", nb, "0").returncode == 0
    assert cli("diff", nb, "--no-color").returncode == 0
    assert not sidecar_path(nb).exists() and nb.read_bytes() == before
    r = cli("log", tmp_path / "missing.ipynb")
    assert r.returncode == 2 and "no notebook" in r.stderr
    r = cli("show", nb, "--at", "HEAD~5")
    assert r.returncode == 2 and "visible change" in r.stderr


def test_progress_bar_only_on_a_terminal():
    class Stream(io.StringIO):
        def __init__(self, tty: bool) -> None:
            super().__init__()
            self.tty = tty

        def isatty(self) -> bool:
            return self.tty

    quiet = Stream(False)
    with Progress(100, "work", stream=quiet) as p:
        for _ in range(100):
            p.advance()
    assert quiet.getvalue() == ""
    loud = Stream(True)
    with Progress(100, "work", stream=loud) as p:
        p._start -= 10  # long work: past the half second before a bar appears
        for _ in range(100):
            p.advance()
            p._drawn = 0
    out = loud.getvalue()
    assert "\rwork [" in out and "100.0%" in out and out.endswith("\n")
