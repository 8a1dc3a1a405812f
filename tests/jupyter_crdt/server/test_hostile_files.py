"""The server against a hostile or unlucky folder (issue #12, the filesystem rows): a linked sidecar is
refused and nothing is written outside the root (row 1), a path the contents API refuses creates no
sidecar and a sidecar is never more readable than its file (row 4), a directory is a 4xx (row 13),
saves write through a symlinked notebook (row 11), a deleted notebook's history goes to the trash with
it (row 15), and one writer per history across processes (row 9)."""

from __future__ import annotations

import os
import stat
import time
from pathlib import Path

import pytest

from .client import CollabClient, http, wait_until
from .conftest import run
from .notebooks import make_notebook, new_cell, read_notebook, write_notebook
from .server import JupyterServer

pytestmark = pytest.mark.skipif(os.name != "posix", reason="symbolic links and permission bits of POSIX")

SIDECAR_LINK = "symbolic link"


def _sidecar(path: Path) -> Path:
    return path.with_name(f".{path.name}.crdt")


def _mode(path: Path) -> int:
    return stat.S_IMODE(os.stat(path).st_mode)


def _sources(path: Path) -> list[str]:
    return ["".join(c["source"]) if isinstance(c["source"], list) else c["source"]
            for c in read_notebook(path)["cells"]]


def _add_cell(doc, text: str) -> None:
    cells = doc.get_array("cells")
    cells.insert(len(cells), [new_cell(text)])


def test_row1_a_linked_sidecar_is_refused_and_nothing_is_written_outside_the_root(server, unique_name,
                                                                                   tmp_path):
    outside = tmp_path / "home-of-victim"
    outside.mkdir()
    keys = outside / "authorized_keys"
    keys.write_bytes(b"ssh-ed25519 AAAA precious\n")
    text = server.root / f"{unique_name}.txt"
    text.write_text("hello\n")
    _sidecar(text).symlink_to(keys)
    nb = server.root / f"{unique_name}.ipynb"
    write_notebook(nb, make_notebook(2))
    _sidecar(nb).symlink_to(outside / "created-by-the-server")  # dangling: O_CREAT must not follow it

    async def main():
        code, status = await http(server, "GET", f"/api/crdt/status/{text.name}?type=file")
        assert code == 200, status
        assert SIDECAR_LINK in status["historyError"] and str(_sidecar(text)) in status["historyError"]
        code, status = await http(server, "GET", f"/api/crdt/status/{nb.name}")
        assert code == 200 and SIDECAR_LINK in status["historyError"]
        # the documents still open and save (without a history), and the links stay links; with no
        # history on disk an ack means the file holds the edit (it comes after the save, not before)
        a = await CollabClient(server, text.name, "file", token="user-alice").connect()
        a.text.insert(len(str(a.text)), "typed\n")
        await wait_until(lambda: a.is_acked(), what="ack")
        assert text.read_text() == "hello\ntyped\n"
        b = await CollabClient(server, nb.name, "notebook", token="user-bob").connect()
        _add_cell(b.doc, "notebook edit")
        await wait_until(lambda: b.is_acked(), what="ack")
        assert "notebook edit" in _sources(nb)
        await a.close()
        await b.close()

    run(main())
    assert keys.read_bytes() == b"ssh-ed25519 AAAA precious\n"
    assert sorted(p.name for p in outside.iterdir()) == ["authorized_keys"]
    assert _sidecar(text).is_symlink() and _sidecar(nb).is_symlink()
    assert f"{_sidecar(text)} is a symbolic link" in server.log()
    assert "opens without a history" in server.log()


def test_row4_a_hidden_file_gets_no_sidecar(server):
    aws = server.root / ".aws"
    aws.mkdir()
    creds = aws / "credentials"
    creds.write_text("[default]\naws_secret_access_key = hunter2\n")
    os.chmod(creds, 0o600)

    async def main():
        for what in ("document", "status", "log"):
            code, body = await http(server, "GET", f"/api/crdt/{what}/.aws/credentials?type=file")
            assert code == 404, (what, code, body)
        code, _ = await http(server, "PUT", "/api/collaboration/session/.aws%2Fcredentials",
                             {"format": "text", "type": "file"})
        assert code == 404

    run(main())
    assert sorted(p.name for p in aws.iterdir()) == ["credentials"]


def test_row4_with_allow_hidden_a_hidden_file_opens_but_a_history_never_does(fresh_server):
    fresh_server.extra_args.append("--ContentsManager.allow_hidden=True")
    aws = fresh_server.root / ".aws"
    aws.mkdir()
    creds = aws / "credentials"
    creds.write_text("[default]\n")
    os.chmod(creds, 0o600)
    fresh_server.start()
    try:
        async def main():
            code, body = await http(fresh_server, "GET", "/api/crdt/document/.aws/credentials?type=file")
            assert code == 200 and body["content"] == "[default]\n"
            sidecar = _sidecar(creds)
            assert _mode(sidecar) == 0o600  # as private as the file
            before = sidecar.read_bytes()
            code, body = await http(fresh_server, "GET", f"/api/crdt/document/.aws/{sidecar.name}?type=file")
            assert code == 400 and "history, not a document" in body["message"], (code, body)
            assert sidecar.read_bytes() == before
            assert sorted(p.name for p in aws.iterdir()) == sorted(["credentials", sidecar.name])

        run(main())
    finally:
        fresh_server.stop()


def test_row4_a_sidecar_is_never_more_readable_than_its_file(server, unique_name):
    private = server.root / f"{unique_name}-private.txt"
    private.write_text("mine\n")
    os.chmod(private, 0o600)
    nb = server.root / f"{unique_name}-group.ipynb"
    write_notebook(nb, make_notebook(2))
    os.chmod(nb, 0o640)

    async def main():
        for path, kind in ((private, "file"), (nb, "notebook")):
            code, status = await http(server, "GET", f"/api/crdt/status/{path.name}?type={kind}")
            assert code == 200 and status["historyError"] is None, status

    run(main())
    assert _mode(_sidecar(private)) == 0o600
    assert _mode(_sidecar(nb)) & ~0o640 == 0


def test_row13_a_directory_is_a_4xx_with_a_reason(server, unique_name):
    sub = server.root / f"{unique_name}-sub"
    sub.mkdir()
    (sub / "inside.txt").write_text("x")

    async def main():
        for what in ("document", "status"):
            code, body = await http(server, "GET", f"/api/crdt/{what}/{sub.name}?type=file")
            assert code == 400, (code, body)
            assert "directory" in body["message"]

    run(main())
    assert not _sidecar(sub).exists()
    assert sorted(p.name for p in sub.iterdir()) == ["inside.txt"]


def test_row11_saving_writes_through_a_symlinked_notebook(server, unique_name):
    real = server.root / f"{unique_name}-real"
    real.mkdir()
    target = real / "target.ipynb"
    write_notebook(target, make_notebook(2))
    link = server.root / f"{unique_name}-link.ipynb"
    link.symlink_to(Path(real.name) / "target.ipynb")

    async def main():
        a = await CollabClient(server, link.name, "notebook", token="user-alice").connect()
        _add_cell(a.doc, "through the link")
        await wait_until(lambda: a.is_acked(), what="ack")
        await wait_until(lambda: "through the link" in _sources(target), what="the target to be saved")
        await a.close()

    run(main())
    assert link.is_symlink() and os.readlink(link) == os.path.join(real.name, "target.ipynb")
    assert sorted(p.name for p in real.iterdir()) == ["target.ipynb"]


def test_row15_deleting_a_notebook_moves_its_history_to_the_trash(fresh_server, monkeypatch):
    xdg = fresh_server.home / "xdg"  # send2trash's home trash, beside the served folder (same device)
    monkeypatch.setenv("XDG_DATA_HOME", str(xdg))
    fresh_server.extra_args.append("--FileContentsManager.delete_to_trash=True")
    nb = fresh_server.root / "doomed.ipynb"
    write_notebook(nb, make_notebook(2))
    fresh_server.start()
    try:
        async def main():
            a = await CollabClient(fresh_server, nb.name, "notebook", token="user-alice").connect()
            _add_cell(a.doc, "remember me")
            await wait_until(lambda: a.is_acked(), what="ack")
            assert _sidecar(nb).exists()
            code, _ = await http(fresh_server, "DELETE", f"/api/contents/{nb.name}")
            assert code == 204
            trash = xdg / "Trash" / "files"
            await wait_until(lambda: (trash / _sidecar(nb).name).exists(), what="the history in the trash")
            assert (trash / nb.name).exists()
            assert not nb.exists() and not _sidecar(nb).exists()
            await a.close()

        run(main())
    finally:
        fresh_server.stop()
    from jupyter_crdt.history import NotebookHistory

    trash = xdg / "Trash" / "files"
    h = NotebookHistory.open(trash / nb.name, writable=False)  # restored from the trash: with its history
    assert "alice" in [c.author for c in h.history.changes]


def test_row9_two_servers_on_one_folder_lose_no_acknowledged_edit(tmp_path):
    home = tmp_path / "home"
    first = JupyterServer(home, document_cleanup_delay=0.3)
    second = JupyterServer(home, document_cleanup_delay=0.3)
    nb = first.root / "shared.ipynb"
    write_notebook(nb, make_notebook(2))
    first.start()
    second.start()
    try:
        async def main():
            a = await CollabClient(first, nb.name, "notebook", token="user-alice").connect()
            _add_cell(a.doc, "edit on the first server")
            await wait_until(lambda: a.is_acked(), what="ack from the first server")
            # the second server refuses, with a reason, rather than acknowledging edits it cannot keep
            code, body = await http(second, "PUT", f"/api/collaboration/session/{nb.name}",
                                    {"format": "json", "type": "notebook"})
            assert code == 409, (code, body)
            assert "another" in body["message"] and str(_sidecar(nb)) in body["message"]
            code, body = await http(second, "GET", f"/api/crdt/status/{nb.name}")
            assert code == 409
            await a.close()
            # once the first server let go of it (room unloaded), the second one opens it with its history
            deadline = time.monotonic() + 30
            while True:
                code, _ = await http(second, "PUT", f"/api/collaboration/session/{nb.name}",
                                     {"format": "json", "type": "notebook"})
                if code != 409 or time.monotonic() > deadline:
                    break
            assert code in (200, 201)
            b = await CollabClient(second, nb.name, "notebook", token="user-bob").connect()
            assert "edit on the first server" in [str(c.get("source")) for c in b.doc.get_array("cells")]
            _add_cell(b.doc, "edit on the second server")
            await wait_until(lambda: b.is_acked(), what="ack from the second server")
            await wait_until(lambda: "edit on the second server" in _sources(nb), what="the save")
            await b.close()

        run(main())
    finally:
        first.stop()
        second.stop()
    assert {"edit on the first server", "edit on the second server"} <= set(_sources(nb))
    assert "keeping this room's history in memory" not in first.log() + second.log()


def test_row9_the_server_waits_for_the_command_line_then_refuses_with_a_reason(server, unique_name):
    from jupyter_crdt.history import NotebookHistory

    nb = server.root / f"{unique_name}.ipynb"
    write_notebook(nb, make_notebook(2))
    held = NotebookHistory.open(nb, author="cli")  # what `jupyter crdt` holds while it writes

    async def main():
        start = time.monotonic()
        code, body = await http(server, "GET", f"/api/crdt/status/{nb.name}")
        assert code == 409 and "jupyter crdt" in body["message"], (code, body)
        assert time.monotonic() - start >= 1.5  # it waited for the lock before refusing
        content = held.notebook()
        content["cells"][0]["source"] = "written by the command line"
        held.apply_notebook(content)
        held.write_notebook()
        held.close()
        a = await CollabClient(server, nb.name, "notebook", token="user-alice").connect()
        cells = a.doc.get_array("cells")
        assert str(cells[0].get("source")) == "written by the command line"
        _add_cell(a.doc, "after the command line")
        await wait_until(lambda: a.is_acked(), what="ack")
        await wait_until(lambda: "after the command line" in _sources(nb), what="the save")
        await a.close()

    try:
        run(main())
    finally:
        held.close()
    assert _sources(nb)[0] == "written by the command line"
