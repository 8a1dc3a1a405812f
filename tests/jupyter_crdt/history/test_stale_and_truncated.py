"""Stale, truncated and damaged histories (issue 12, row 5), and reads that never write.

A sidecar restored from a backup taken just before the last edits, or cut short, must not make the notebook
hold its newest text twice: the file's content wins and is recorded as a ``disk`` change. A file that holds
a version the history recorded (autosave off) keeps the later edits. A cut is reported, never silent.
Reading commands (``log``, ``show``, ``diff``, ``blame``) leave the sidecar byte for byte as it was.
"""

from __future__ import annotations

import json
import shutil
import subprocess

import nbformat
import pytest

from crdt import HistoryFile
from jupyter_crdt.history import NotebookHistory, sidecar_path
from tests.conftest import missing

from .helpers import cli, replace_in_source


def _notebook(path, sources: list[str]) -> None:
    nb = nbformat.v4.new_notebook()
    nb.cells = [nbformat.v4.new_code_cell(s, id=f"c{i}") for i, s in enumerate(sources)]
    path.write_text(nbformat.writes(nb), encoding="utf-8")


def _sources(path) -> list[str]:
    return [c["source"] if isinstance(c["source"], str) else "".join(c["source"])
            for c in json.loads(path.read_text())["cells"]]


def _type(nh: NotebookHistory, marker: str, old: str, new: str) -> None:
    with nh.edit("ann") as e:
        replace_in_source(e.doc, marker, old, new)


@pytest.fixture
def nb(tmp_path):
    p = tmp_path / "a.ipynb"
    _notebook(p, ["x = 1", "y = 2"])
    return p


def _stale_backup(nb) -> bytes:
    """Edits saved, a backup of the sidecar taken while more edits were unsaved, then those edits and more
    saved: returns the backup (its ``main`` has edits after its ``written``, the file has them all)."""
    with NotebookHistory.open(nb, author="ann") as nh:
        _type(nh, "x = 1", "x = 1", "x = 10")
        nh.write_notebook()
        _type(nh, "x = 10", "x = 10", "x = 10  # unsaved")
        nh.flush()
        backup = sidecar_path(nb).read_bytes()
        _type(nh, "unsaved", "unsaved", "unsaved, then saved")
        nh.write_notebook()
    return backup


def test_stale_backup_file_wins_without_duplicated_text(nb):
    backup = _stale_backup(nb)
    on_disk = _sources(nb)
    assert on_disk == ["x = 10  # unsaved, then saved", "y = 2"]
    sidecar_path(nb).write_bytes(backup)  # restored from the backup
    with NotebookHistory.open(nb, author="ann") as nh:
        assert [c["source"] for c in nh.notebook()["cells"]] == on_disk  # nothing applied twice
        assert any("never recorded" in n for n in nh.notes), nh.notes
        assert nh.history.get(next(iter(nh.main))).kind == "disk"  # recorded against what it held
        assert nh.written == nh.main
        nh.write_notebook()
    assert _sources(nb) == on_disk
    history = HistoryFile.read(sidecar_path(nb))
    assert [c["source"] for c in NotebookHistory.open(nb, writable=False).notebook()["cells"]] == on_disk
    assert len(history) > 0


def test_stale_backup_with_later_corrections_of_the_unsaved_text(nb):
    """After the backup, part of the unsaved text was deleted again and more typed: still the file's."""
    with NotebookHistory.open(nb, author="ann") as nh:
        _type(nh, "x = 1", "x = 1", "x = 1  # typed after the last save")
        nh.flush()
        backup = sidecar_path(nb).read_bytes()
        _type(nh, "after the", "after the last save", "after the save")
        _type(nh, "y = 2", "y = 2", "y = 2  # more")
        nh.write_notebook()
    on_disk = _sources(nb)
    sidecar_path(nb).write_bytes(backup)
    with NotebookHistory.open(nb, author="ann") as nh:
        assert [c["source"] for c in nh.notebook()["cells"]] == on_disk
        assert any("never recorded" in n for n in nh.notes), nh.notes


def test_file_lagging_behind_on_purpose_keeps_unsaved_edits(nb):
    """Autosave off: the file holds the version last written; later edits stay (nothing recorded)."""
    with NotebookHistory.open(nb, author="ann") as nh:
        _type(nh, "x = 1", "x = 1", "x = 5")
        nh.write_notebook()
        _type(nh, "x = 5", "x = 5", "x = 55")
        _type(nh, "y = 2", "y = 2", "y = 22")
    with NotebookHistory.open(nb, author="ann") as nh:
        assert [c["source"] for c in nh.notebook()["cells"]] == ["x = 55", "y = 22"]
        assert nh.notes == []


def test_file_at_a_recorded_unsaved_version_keeps_later_edits(nb):
    """The file holds a version recorded after ``written`` (the branch move was lost, e.g. a crash
    between writing the file and noting it): ``written`` moves there, the later edits are kept."""
    with NotebookHistory.open(nb, author="ann") as nh:
        _type(nh, "x = 1", "x = 1", "x = 5")
        nh.write_notebook()
        written = nh.written
        _type(nh, "x = 5", "x = 5", "x = 55")
        middle = nh.notebook()
        _type(nh, "y = 2", "y = 2", "y = 22")
        assert nh.written == written
    nb.write_text(nbformat.writes(nbformat.from_dict(middle)), encoding="utf-8")
    with NotebookHistory.open(nb, author="ann") as nh:
        assert [c["source"] for c in nh.notebook()["cells"]] == ["x = 55", "y = 22"]
        assert [c["source"] for c in nh.notebook(nh.written)["cells"]] == ["x = 55", "y = 2"]
        assert not any(c.kind == "disk" for c in nh.history.changes)


def test_edit_by_another_tool_still_merges_with_unsaved_edits(nb):
    """The rule does not take the file's side when another tool edited what was written: both edits stay."""
    with NotebookHistory.open(nb, author="ann") as nh:
        _type(nh, "x = 1", "x = 1", "x = 1  # mine, unsaved")
    _notebook(nb, ["x = 1", "y = 2  # theirs"])
    with NotebookHistory.open(nb, author="ann") as nh:
        assert [c["source"] for c in nh.notebook()["cells"]] == ["x = 1  # mine, unsaved", "y = 2  # theirs"]
        assert nh.notes == []


def test_sidecar_cut_in_half_is_reported_and_file_wins(nb):
    with NotebookHistory.open(nb, author="ann") as nh:
        for i in range(6):
            _type(nh, "x = 1", "x = 1", f"x = 1{i}")
            nh.flush()
            if i == 1:
                nh.write_notebook()
        nh.write_notebook()
    on_disk = _sources(nb)
    sc = sidecar_path(nb)
    data = sc.read_bytes()
    sc.write_bytes(data[: len(data) // 2 + 5])
    with NotebookHistory.open(nb, writable=False) as nh:  # a reader: reported, file untouched
        assert any("ends at byte" in n and "cut short" in n for n in nh.notes), nh.notes
        assert [c["source"] for c in nh.notebook()["cells"]] == on_disk
    assert sc.read_bytes() == data[: len(data) // 2 + 5]
    with NotebookHistory.open(nb, author="ann") as nh:  # a writer: cut off, and still reported
        assert any("ends at byte" in n and "cut off" in n for n in nh.notes), nh.notes
        assert [c["source"] for c in nh.notebook()["cells"]] == on_disk
        nh.write_notebook()
    assert _sources(nb) == on_disk


def test_torn_tail_describes_the_cut_record(nb):
    with NotebookHistory.open(nb, author="ann") as nh:
        _type(nh, "x = 1", "x = 1", "x = 1 + 1")
    sc = sidecar_path(nb)
    data = sc.read_bytes()
    with NotebookHistory.open(nb, author="ann") as nh:
        _type(nh, "y = 2", "y = 2", "y = 3")
    full = sc.read_bytes()
    sc.write_bytes(full[: len(data) + 20])  # the next record's 12-byte frame header and 8 payload bytes
    history, tail = HistoryFile.load(sc)
    assert tail is not None and tail.offset == len(data) and tail.size == 20
    assert tail.record is not None and tail.record > 20 and not tail.zeros
    assert [c.hash for c in HistoryFile.read(sc).changes] == [c.hash for c in history.changes]
    sc.write_bytes(data + bytes(40))  # a crash grew the file but never wrote it
    _, tail = HistoryFile.load(sc)
    assert tail is not None and tail.zeros and "crash" in tail.describe(sc)
    sc.write_bytes(data)
    assert HistoryFile.load(sc)[1] is None


# -- the command line ---------------------------------------------------------------------------------------


def _git(cwd, *args: str) -> str:
    return subprocess.run(["git", *args], cwd=cwd, check=True, capture_output=True, text=True,
                          env={"GIT_AUTHOR_NAME": "t", "GIT_AUTHOR_EMAIL": "t@example.org",
                               "GIT_COMMITTER_NAME": "t", "GIT_COMMITTER_EMAIL": "t@example.org",
                               "HOME": str(cwd), "PATH": "/usr/bin:/bin"}).stdout


def test_reads_never_write_and_show_a_pending_disk_change(nb):
    if shutil.which("git") is None:
        missing("git is not installed")
    root = nb.parent
    with NotebookHistory.open(nb, author="ann") as nh:
        _type(nh, "x = 1", "x = 1", "x = 2")
        nh.write_notebook()
    _git(root, "init", "-q")
    _git(root, "add", "-A")
    _git(root, "commit", "-qm", "start")
    sc = sidecar_path(nb)
    before = sc.read_bytes()
    _notebook(nb, ["x = 2", "y = 2  # edited in vim"])  # outside Jupyter
    _git(root, "add", nb.name)
    r = cli("log", nb)
    assert r.returncode == 0, r.stderr
    assert "disk" in r.stdout and "pending" in r.stdout
    assert "changed outside Jupyter" in r.stderr
    r = cli("log", nb, "--json")
    entries = json.loads(r.stdout)
    assert entries[0]["kind"] == "disk" and entries[0]["pending"] is True
    assert cli("show", nb).stdout.count("edited in vim") == 1
    assert cli("diff", nb).returncode == 0
    assert cli("blame", nb, "c1").returncode == 0
    assert sc.read_bytes() == before
    assert _git(root, "status", "--porcelain", "--", sc.name) == ""
    with NotebookHistory.open(nb, author="ann") as nh:  # the next write records it
        assert nh.history.get(next(iter(nh.main))).kind == "disk"
    assert sc.read_bytes() != before


def test_cli_reports_a_cut_sidecar_and_keeps_it(nb):
    with NotebookHistory.open(nb, author="ann") as nh:
        for i in range(4):
            _type(nh, "x = 1", "x = 1", f"x = 1{i}")
            nh.flush()
        nh.write_notebook()
    sc = sidecar_path(nb)
    data = sc.read_bytes()
    sc.write_bytes(data[: len(data) * 2 // 3])
    cut = sc.read_bytes()
    r = cli("log", nb)
    assert r.returncode == 0
    assert "warning:" in r.stderr and str(sc) in r.stderr and "cut short" in r.stderr, r.stderr
    assert sc.read_bytes() == cut
    assert cli("show", nb).stdout.count("x = 13") == 1


# -- damaged (corrupt) histories ---------------------------------------------------------------------------


def _damaged(nb) -> tuple[bytes, list[str]]:
    """A history with edits by ann, then bytes flipped in its last third; returns the damaged bytes and
    the hashes of the changes before the damage."""
    with NotebookHistory.open(nb, author="ann") as nh:
        for old, new in (("x = 1", "x = 2"), ("x = 2", "x = 3")):
            _type(nh, old, old, new)
            nh.flush()
        nh.write_notebook()
        early = [c.hash for c in nh.history.changes]
        for old, new in (("x = 3", "x = 4"), ("x = 4", "x = 5")):
            _type(nh, old, old, new)
            nh.flush()
        nh.write_notebook()
    sc = sidecar_path(nb)
    data = bytearray(sc.read_bytes())
    for k in range(len(data) - 30, len(data) - 22):
        data[k] ^= 0xFF
    sc.write_bytes(bytes(data))
    return bytes(data), early


def test_damaged_sidecar_read_names_the_recovery_command_and_recover_keeps_what_it_holds(nb):
    damaged, early = _damaged(nb)
    sc = sidecar_path(nb)
    r = cli("log", nb)
    assert r.returncode == 2
    assert str(sc) in r.stderr and f"jupyter crdt recover {nb}" in r.stderr, r.stderr
    assert sc.read_bytes() == damaged  # a read changes nothing, not even a damaged file
    history, damage = HistoryFile.salvage(sc)
    assert damage is not None and set(early) <= {c.hash for c in history.changes}
    r = cli("recover", nb)
    assert r.returncode == 0, r.stderr
    aside = [p for p in nb.parent.iterdir() if p.name.startswith(f"{sc.name}.corrupt-")]
    assert len(aside) == 1 and aside[0].read_bytes() == damaged  # set aside, never deleted
    with NotebookHistory.open(nb, writable=False) as nh:
        assert set(early) <= {c.hash for c in nh.history.changes}
        assert [c["source"] for c in nh.notebook()["cells"]] == ["x = 5", "y = 2"]  # the file's content
    assert _sources(nb) == ["x = 5", "y = 2"]
    assert cli("log", nb).returncode == 0


def test_recover_after_the_server_set_the_history_aside(nb):
    """The server's open sets a damaged history aside and starts a new one; edits follow; ``recover``
    then joins the old history's readable part, keeps the file's content, and keeps the new history
    as a copy."""
    from jupyter_crdt.server.stores import NotebookHistoryStore

    damaged, early = _damaged(nb)
    store = NotebookHistoryStore(str(nb))
    loaded = store.load()
    assert any("jupyter crdt recover" in n for n in loaded.notes), loaded.notes
    store.close()
    assert not (sidecar_path(nb).read_bytes() == damaged)
    with NotebookHistory.open(nb, author="bob") as nh:  # edits made since, in the new history
        _type(nh, "y = 2", "y = 2", "y = 20")
        nh.write_notebook()
    r = cli("recover", nb)
    assert r.returncode == 0, r.stderr
    assert "replaced-" in r.stderr
    with NotebookHistory.open(nb, writable=False) as nh:
        assert set(early) <= {c.hash for c in nh.history.changes}
        assert [c["source"] for c in nh.notebook()["cells"]] == ["x = 5", "y = 20"]
    assert _sources(nb) == ["x = 5", "y = 20"]
    names = [p.name for p in nb.parent.iterdir()]
    assert any(".corrupt-" in n for n in names) and any(".replaced-" in n for n in names)


def test_a_damaged_history_that_cannot_be_set_aside_is_refused_with_the_way_out(nb, monkeypatch):
    """(A read-only folder, say.) The server's open refuses with the reason, naming the recovery command,
    and leaves the damaged file where it was; the session handler answers 409 with that text."""
    from crdt import HistoryFileError
    from jupyter_crdt.server import stores
    from jupyter_crdt.server.stores import NotebookHistoryStore

    damaged, _ = _damaged(nb)

    def refuse(path, why="corrupt"):
        raise PermissionError(13, "Permission denied")

    monkeypatch.setattr(stores, "set_aside", refuse)  # the server's set-aside of a damaged history
    with pytest.raises(HistoryFileError) as info:
        NotebookHistoryStore(str(nb)).load()
    message = str(info.value)
    assert "could not be moved aside" in message and "jupyter crdt recover a.ipynb" in message
    assert sidecar_path(nb).read_bytes() == damaged


def test_text_file_stale_history_file_wins(tmp_path):
    """The same rule for a text file's history (``TextHistory``)."""
    from jupyter_crdt.history.text import TextHistory

    f = tmp_path / "notes.txt"
    f.write_text("start\n")

    def type_at_end(th: TextHistory, text: str) -> None:
        with th.edit("ann") as e:
            source = e.doc.get_text("source")
            source.insert(len(str(source)), text)

    with TextHistory.open(f, author="ann") as th:
        type_at_end(th, "typed, not yet saved\n")
        th.flush()
        backup = sidecar_path(f).read_bytes()
        type_at_end(th, "and more\n")
        th.write_file()
    assert f.read_text() == "start\ntyped, not yet saved\nand more\n"
    sidecar_path(f).write_bytes(backup)
    with TextHistory.open(f, author="ann") as th:
        assert th.text() == "start\ntyped, not yet saved\nand more\n"
        assert any("never recorded" in n for n in th.notes), th.notes
    r = cli("show", f)
    assert r.stdout == "start\ntyped, not yet saved\nand more\n", r.stderr
