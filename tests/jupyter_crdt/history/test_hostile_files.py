"""History files against a hostile or unlucky filesystem (issue #12, files): links are never followed,
a history is never more readable than its file, saves write through a symlinked notebook, and the
portable paths (no ``fcntl``, no ``os.pread``) lock and read/write as the POSIX ones do."""

from __future__ import annotations

import errno
import os
import stat
from pathlib import Path

import pytest

from crdt import files as _fileio
from crdt.history_file import HistoryFile, HistoryLockedError, UnsafeFileError
from jupyter_crdt.history.sidecar import NotebookHistory, copy_history, sidecar_path  # noqa: E402

from ..server.notebooks import make_notebook, read_notebook, write_notebook  # noqa: E402
from .helpers import cli  # noqa: E402

posix_only = pytest.mark.skipif(os.name != "posix", reason="symbolic links and permission bits of POSIX")


def _mode(path: Path) -> int:
    return stat.S_IMODE(os.stat(path).st_mode)


@posix_only
def test_history_file_is_never_opened_through_a_link(tmp_path):
    outside = tmp_path / "outside"
    outside.mkdir()
    target = outside / "authorized_keys"
    target.write_bytes(b"ssh-ed25519 AAAA precious\n")
    served = tmp_path / "root"
    served.mkdir()
    link = served / ".notes.txt.crdt"
    link.symlink_to(target)
    dangling = served / ".other.txt.crdt"
    dangling.symlink_to(outside / "new-file")
    for path in (link, dangling):
        with pytest.raises(UnsafeFileError, match="symbolic link"):
            HistoryFile.open(path)
        with pytest.raises(UnsafeFileError):
            HistoryFile.read(path)
        with pytest.raises(UnsafeFileError):
            HistoryFile.read_header(path)
        assert path.is_symlink()
    assert target.read_bytes() == b"ssh-ed25519 AAAA precious\n"
    assert not (outside / "new-file").exists()


@posix_only
def test_notebook_with_a_linked_sidecar_refuses_and_the_cli_says_why(tmp_path):
    outside = tmp_path / "outside.bin"
    outside.write_bytes(b"not yours")
    nb = tmp_path / "a.ipynb"
    write_notebook(nb, make_notebook(2))
    sidecar_path(nb).symlink_to(outside)
    with pytest.raises(UnsafeFileError):
        NotebookHistory.open(nb)
    with pytest.raises(UnsafeFileError):
        NotebookHistory.open(nb, writable=False)
    # a copy never reads through the link either (no history is copied, nothing is created)
    with pytest.raises(UnsafeFileError):
        copy_history(nb, tmp_path / "b.ipynb")
    assert [p.name for p in tmp_path.iterdir() if ".b.ipynb" in p.name] == []
    proc = cli("log", nb)
    assert proc.returncode != 0
    assert "symbolic link" in proc.stderr and "Traceback" not in proc.stderr
    assert outside.read_bytes() == b"not yours"


@posix_only
def test_a_history_is_never_more_readable_than_its_notebook(tmp_path):
    nb = tmp_path / "private.ipynb"
    write_notebook(nb, make_notebook(2))
    os.chmod(nb, 0o600)
    NotebookHistory.open(nb).close()
    assert _mode(sidecar_path(nb)) == 0o600
    # an existing sidecar wider than its file is narrowed when opened for writing
    os.chmod(sidecar_path(nb), 0o644)
    with NotebookHistory.open(nb) as h:
        h.writer.compact()  # a rewrite keeps the narrowed mode
    assert _mode(sidecar_path(nb)) == 0o600
    # a copy of the history gets the copy's mode
    copy = tmp_path / "copy.ipynb"
    write_notebook(copy, make_notebook(2))
    os.chmod(copy, 0o640)
    assert copy_history(nb, copy)
    assert _mode(sidecar_path(copy)) & ~0o640 == 0


@posix_only
def test_writing_a_symlinked_notebook_keeps_the_link(tmp_path):
    real = tmp_path / "real"
    real.mkdir()
    target = real / "target.ipynb"
    write_notebook(target, make_notebook(2))
    os.chmod(target, 0o640)
    link = tmp_path / "link.ipynb"
    link.symlink_to(Path("real") / "target.ipynb")
    with NotebookHistory.open(link) as h:
        nb = h.notebook()
        nb["cells"][0]["source"] = "written through the link"
        h.apply_notebook(nb)
        assert h.write_notebook()
    assert link.is_symlink() and os.readlink(link) == os.path.join("real", "target.ipynb")
    assert read_notebook(target)["cells"][0]["source"] == "written through the link"
    assert _mode(target) == 0o640
    assert sorted(p.name for p in real.iterdir()) == ["target.ipynb"]  # no temporary file left


class _FakeMsvcrt:
    """``msvcrt.locking``'s contract (a byte-range lock per open file, EACCES when taken), kept in a
    table, so the Windows path of the lock runs on Linux."""

    LK_NBLCK = 2
    LK_UNLCK = 0

    def __init__(self) -> None:
        self.held: dict[tuple[int, int, int], int] = {}
        self.calls = 0

    def locking(self, fd: int, mode: int, nbytes: int) -> None:
        self.calls += 1
        st = os.fstat(fd)
        key = (st.st_dev, st.st_ino, os.lseek(fd, 0, os.SEEK_CUR))
        assert key[2] == _fileio.MSVCRT_LOCK_OFFSET and nbytes == 1
        if mode == self.LK_UNLCK:
            assert self.held.pop(key) == fd
        elif key in self.held:
            raise OSError(errno.EACCES, "Permission denied")
        else:
            self.held[key] = fd


def test_history_files_without_fcntl_or_pread(tmp_path, monkeypatch):
    """The portable paths: locking through msvcrt's contract, positioned I/O by seek + read/write."""
    fake = _FakeMsvcrt()
    monkeypatch.setattr(_fileio, "fcntl", None)
    monkeypatch.setattr(_fileio, "msvcrt", fake)
    monkeypatch.setattr(_fileio, "HAVE_PREAD", False)
    nb = tmp_path / "portable.ipynb"
    write_notebook(nb, make_notebook(3))
    h = NotebookHistory.open(nb)
    try:
        with pytest.raises(HistoryLockedError):
            NotebookHistory.open(nb)
        for i in range(5):
            content = h.notebook()
            content["cells"][0]["source"] = f"edit {i}"
            h.apply_notebook(content, "alice")
            h.flush()
        h.writer.compact()  # the rewritten file is locked before the old one is released
        assert len(fake.held) == 1
        with pytest.raises(HistoryLockedError):
            HistoryFile.open(sidecar_path(nb))
        expected = [c.hash for c in h.history.changes]
    finally:
        h.close()
    assert fake.held == {}
    assert fake.calls > 0
    reopened = NotebookHistory.open(nb, sync=False)
    try:
        assert [c.hash for c in reopened.history.changes] == expected
        assert reopened.notebook()["cells"][0]["source"] == "edit 4"
    finally:
        reopened.close()


def test_without_any_file_lock_writing_is_refused(tmp_path, monkeypatch):
    monkeypatch.setattr(_fileio, "fcntl", None)
    monkeypatch.setattr(_fileio, "msvcrt", None)
    with pytest.raises(_fileio.NoLockingError, match="no file locking"):
        HistoryFile.open(tmp_path / ".x.crdt")
    assert list(tmp_path.iterdir()) == []  # refused before anything was created
