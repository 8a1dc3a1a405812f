"""Two users, alice and bob, in a real headless Chromium against a real JupyterLab with jupyter_crdt.

Each test writes a notebook, runs one Node scenario (``scenarios/NAME.mjs``, driving Debian's Chromium
with playwright-core) that reports what each user's JupyterLab showed, and asserts on that and on the
``.ipynb`` the server saved. Screenshots of scenarios 1, 6 and 7 go to ``docs/images/``.
"""

from __future__ import annotations

import importlib.util
import json
import time
from collections.abc import Callable, Iterator
from pathlib import Path
from typing import Any

import pytest

from tests.conftest import missing

from .lab_server import LabServer
from .scenario_runner import StepHandler, prerequisites, run_scenario
from .users import USER_COLORS

REPO_ROOT = Path(__file__).resolve().parents[2]
SCREENSHOTS = REPO_ROOT / "docs" / "images"


@pytest.fixture(scope="module")
def lab(tmp_path_factory: pytest.TempPathFactory) -> Iterator[LabServer]:
    """One JupyterLab for the module; each test uses its own notebook."""
    reason = prerequisites()
    if reason:
        missing(reason)
    server = LabServer(tmp_path_factory.mktemp("lab-home"))
    server.start()
    try:
        yield server
    finally:
        server.stop()


def css_rgb(hex_color: str) -> str:
    """``#c2185b`` as the browser's computed style writes it: ``rgb(194, 24, 91)``."""
    r, g, b = (int(hex_color[i:i + 2], 16) for i in (1, 3, 5))
    return f"rgb({r}, {g}, {b})"


def code_cell(cell_id: str, source: str) -> dict[str, Any]:
    return {"id": cell_id, "cell_type": "code", "metadata": {}, "execution_count": None,
            "outputs": [], "source": source}


def write_notebook(lab: LabServer, name: str, cells: list[dict[str, Any]]) -> str:
    """Write ``name`` (nbformat 4.5) into the served folder; return its path. It names its kernel:
    without one, JupyterLab opens it with a modal "Select Kernel" dialog in the users' way."""
    notebook = {"nbformat": 4, "nbformat_minor": 5, "cells": cells, "metadata": {"kernelspec": {
        "name": "python3", "display_name": "Python 3", "language": "python"}}}
    (lab.root / name).write_text(json.dumps(notebook, indent=1) + "\n")
    return name


def saved_cells(lab: LabServer, name: str) -> list[dict[str, Any]] | None:
    try:
        notebook = json.loads((lab.root / name).read_text())
    except (OSError, ValueError):
        return None  # not there yet, or caught mid-write
    return [{"id": c["id"], "type": c["cell_type"],
             "source": c["source"] if isinstance(c["source"], str) else "".join(c["source"])}
            for c in notebook["cells"]]


def wait_saved(lab: LabServer, name: str, accept: Callable[[list[dict[str, Any]]], bool],
               timeout: float = 30.0) -> list[dict[str, Any]]:
    """The cells of the saved ``.ipynb`` once ``accept`` holds for them (the server saves after a
    short quiet delay); fails with what the file held at the deadline."""
    deadline = time.monotonic() + timeout
    while True:
        cells = saved_cells(lab, name)
        if cells is not None and accept(cells):
            return cells
        if time.monotonic() > deadline:
            pytest.fail(f"{name} on disk never matched; it holds: {json.dumps(cells, indent=1)}")
        time.sleep(0.1)


def scenario(lab: LabServer, name: str, notebook: str, on_step: StepHandler | None = None,
             **config: Any) -> dict[str, Any]:
    """Run browser scenario ``name`` on ``notebook``; screenshots go to ``docs/images/``."""
    SCREENSHOTS.mkdir(parents=True, exist_ok=True)
    config = {"baseUrl": lab.url, "path": notebook, "screenshots": str(SCREENSHOTS), **config}
    return run_scenario(name, config, on_step=on_step)


def test_concurrent_typing_in_one_cell(lab: LabServer) -> None:
    """1. alice and bob type hundreds of keys each into the same cell at the same time: both see the
    same text, each one's typing is intact in it, and the saved notebook holds exactly that."""
    notebook = write_notebook(lab, "typing.ipynb", [code_cell("shared", "# alice\n# bob")])
    result = scenario(lab, "concurrent_typing", notebook)

    typed = result["typed"]
    assert min(len(typed["alice"]), len(typed["bob"])) >= 200, "hundreds of keystrokes each"
    expected = "# alice" + typed["alice"] + "\n# bob" + typed["bob"]
    assert result["cells"][0]["source"] == expected
    assert result["editors"]["alice"][0] == expected, "alice's editor shows what the model holds"
    assert result["editors"]["bob"][0] == expected, "bob's editor shows what the model holds"
    saved = wait_saved(lab, notebook, lambda cells: cells[0]["source"] == expected)
    assert [c["id"] for c in saved] == ["shared"]


def test_remote_cursors(lab: LabServer) -> None:
    """6. Each user sees the other's cursor and name in the cell the other is editing."""
    notebook = write_notebook(lab, "cursors.ipynb", [code_cell("first", "x = 1\ny = 2"),
                                                     code_cell("second", "z = 3")])
    result = scenario(lab, "remote_cursors", notebook)

    # alice edits the first cell (index 0), bob the second (index 1).
    seen = result["seen"]
    assert seen["alice"] == [{"cell": 1, "color": css_rgb(USER_COLORS["bob"]), "name": "bob"}], seen
    assert seen["bob"] == [{"cell": 0, "color": css_rgb(USER_COLORS["alice"]), "name": "alice"}], seen
    assert [c["source"] for c in result["cells"]] == ["x = 1\ny = 2 + 10", "z = 3 * 2"]


def test_structure_changes_while_typing(lab: LabServer) -> None:
    """2. alice adds, moves and deletes cells while bob types in a cell: both converge to alice's
    structure with bob's text, and reloading (and the saved file) shows the same notebook."""
    notebook = write_notebook(lab, "structure.ipynb", [
        code_cell(name, f"cell {name}") for name in ("zero", "one", "two", "three", "four")])
    result = scenario(lab, "structure_while_typing", notebook)

    added, typed = result["added"], result["typed"]
    expected = [
        (added["above"], "alice added this above zero"),
        ("zero", "cell zero"),
        (added["below"], "alice added this below zero"),
        ("one", "cell one" + typed),
        (added["last"], "alice added this at the end"),
        ("three", "cell three"),
    ]
    assert [(c["id"], c["source"]) for c in result["cells"]] == expected
    assert result["reloaded"]["alice"] == result["cells"], "alice's reload shows the same notebook"
    assert result["reloaded"]["bob"] == result["cells"], "bob's reload shows the same notebook"
    wait_saved(lab, notebook, lambda cells: [(c["id"], c["source"]) for c in cells] == expected)


def test_typing_stays_in_its_cell_when_a_cell_above_moves(lab: LabServer) -> None:
    """2b. bob keeps typing after alice moved a cell above his, then his own cell: his words stay in
    his cell, at his cursor (jupyter-crdt's extension keeps the active cell and the editor's focus)."""
    notebook = write_notebook(lab, "focus.ipynb", [
        code_cell(name, f"cell {name}") for name in ("zero", "one", "two", "three")])
    result = scenario(lab, "focus_after_remote_move", notebook)

    assert [c["id"] for c in result["cells"]] == ["one", "zero", "two", "three"]
    sources = {c["id"]: c["source"] for c in result["cells"]}
    assert sources["two"] == "cell two" + result["first"] + result["then"], (
        f"bob's focus had moved to cell {result['focusBefore']!r}: {sources}")
    assert result["focusBefore"] == "two"

    # alice then moved bob's cell itself (its widget and editor are new): his cursor came along.
    assert [c["id"] for c in result["final"]] == ["one", "two", "zero", "three"]
    sources = {c["id"]: c["source"] for c in result["final"]}
    assert sources["two"] == "cell two" + result["first"] + result["then"] + result["last"], (
        f"bob's focus had moved to cell {result['focusAfterOwnMove']!r}: {sources}")
    assert result["focusAfterOwnMove"] == "two"
    wait_saved(lab, notebook, lambda cells: [(c["id"], c["source"]) for c in cells]
               == [(c["id"], c["source"]) for c in result["final"]])


def test_undo_removes_only_own_edit(lab: LabServer) -> None:
    """8. Undo in alice's page removes alice's last edit and not bob's concurrent one."""
    notebook = write_notebook(lab, "undo.ipynb", [code_cell("shared", "first = 1\nsecond = 2")])
    result = scenario(lab, "undo_own_edit", notebook)

    typed = result["typed"]
    assert result["typedCells"][0]["source"] == f"first = 1{typed['alice']}\nsecond = 2{typed['bob']}"
    after_undo = f"first = 1\nsecond = 2{typed['bob']}"
    assert result["undoneCells"][0]["source"] == after_undo
    assert result["editors"]["alice"] == [after_undo]
    assert result["editors"]["bob"] == [after_undo]
    wait_saved(lab, notebook, lambda cells: cells[0]["source"] == after_undo)


def test_server_restart_with_pages_open(lab: LabServer) -> None:
    """5. The server restarts while both pages are open (and both keep typing while it is down):
    afterwards no cell is duplicated and no edit is lost, on both pages, after a reload, and on disk."""
    notebook = write_notebook(lab, "restart.ipynb", [code_cell("first", "a = 1"),
                                                     code_cell("second", "b = 2")])

    def on_step(message: dict[str, Any]) -> dict[str, Any]:
        if message["step"] == "stop-server":
            lab.stop()
        elif message["step"] == "start-server":
            lab.start()
        else:
            pytest.fail(f"unexpected step {message}")
        return {"done": message["step"]}

    try:
        result = scenario(lab, "server_restart", notebook, on_step=on_step)
    finally:
        lab.ensure_running()  # for the next tests, whatever happened here

    typed = result["typed"]
    expected = [("first", "a = 1" + "".join(typed["alice"])), ("second", "b = 2" + "".join(typed["bob"]))]
    assert [(c["id"], c["source"]) for c in result["cells"]] == expected
    assert result["editors"]["alice"] == result["editors"]["bob"] == [source for _, source in expected]
    assert result["reloaded"]["alice"] == result["reloaded"]["bob"] == result["cells"]
    wait_saved(lab, notebook, lambda cells: [(c["id"], c["source"]) for c in cells] == expected)


def test_history_panel_and_restore(lab: LabServer) -> None:
    """7. The history panel lists both users' changes; restoring an earlier version (the one after
    alice's change, before bob's) shows up for both users, and in the saved file. A restore that fails
    (the server's answer replaced by a 500) says so in the panel, as an error; one that changes nothing
    says that."""
    if lab.labextension is None:
        missing("jupyter_crdt/labextension is not built (pip install -e . builds it)")
    notebook = write_notebook(lab, "history.ipynb", [code_cell("only", "x = 1")])
    result = scenario(lab, "history_restore", notebook)

    authors = {row["author"] for row in result["listed"]}
    assert {"alice", "bob"} <= authors, result["listed"]
    assert result["target"]["author"] == "alice"
    assert [text.strip() for text in result["versionCells"]] == ["x = 1 + 1"]
    seq = result["target"]["seq"]
    assert result["failedMessage"] == f"Restore of change #{seq} failed: the disk is on fire"
    assert result["failedShown"], "the failure is shown as an error"
    assert result["restoredMessage"] == f"Restored the version after change #{seq}."
    assert result["againMessage"] == ("Nothing to restore: the document already is what it was after "
                                      f"change #{seq}.")
    assert [(c["id"], c["source"]) for c in result["restored"]] == [("only", "x = 1 + 1")]
    wait_saved(lab, notebook, lambda cells: [c["source"] for c in cells] == ["x = 1 + 1"])


def test_offline_edits_merge_on_reconnect(lab: LabServer) -> None:
    """3. bob's connection is cut; both edit the same cell and cells of their own; it returns: every
    edit is present exactly once, and bob's status bar showed offline, his pending edits, then synced."""
    if lab.labextension is None:
        missing("jupyter_crdt/labextension is not built (pip install -e . builds it)")
    notebook = write_notebook(lab, "offline.ipynb", [code_cell("shared", "s = 0\nt = 0"),
                                                     code_cell("alices", "a = 0"),
                                                     code_cell("bobs", "b = 0")])
    result = scenario(lab, "offline_edits", notebook)

    alice, bob = result["typed"]["alice"], result["typed"]["bob"]
    expected = [("shared", f"s = 0{alice['shared']}\nt = 0{bob['shared']}"),
                ("alices", f"a = 0{alice['own']}"),
                ("bobs", f"b = 0{bob['own']}")]
    assert [(c["id"], c["source"]) for c in result["cells"]] == expected
    bob_while_cut = "\n".join(c["source"] for c in result["whileCut"]["bob"])
    assert alice["shared"] not in bob_while_cut, "bob was really cut off"
    log = result["statusLog"]
    offline_pending = [i for i, s in enumerate(log) if s["state"] == "offline" and s["pending"] > 0]
    assert offline_pending, f"bob's status bar never showed offline with pending edits: {log}"
    assert log[-1] == {"state": "connected", "pending": 0}, log
    assert log.index(log[-1], offline_pending[0]) > offline_pending[0], log
    wait_saved(lab, notebook, lambda cells: [(c["id"], c["source"]) for c in cells] == expected)


def test_offline_edits_survive_a_closed_tab(lab: LabServer) -> None:
    """4. bob edits while cut off and closes the tab; the connection returns and he opens the notebook
    again: his edits arrive, once, from the browser's local store."""
    if lab.labextension is None:
        missing("jupyter_crdt/labextension is not built (pip install -e . builds it)")
    notebook = write_notebook(lab, "closed_tab.ipynb", [code_cell("bobs", "b = 0"),
                                                        code_cell("alices", "a = 0")])
    result = scenario(lab, "offline_closed_tab", notebook)

    typed = result["typed"]
    assert typed["bob"] not in "".join(c["source"] for c in result["aliceBeforeBobReturns"]), \
        "bob's edit must not reach alice while he is cut off"
    expected = [("bobs", "b = 0" + typed["bob"]), ("alices", "a = 0" + typed["alice"])]
    assert [(c["id"], c["source"]) for c in result["settled"]] == expected
    wait_saved(lab, notebook, lambda cells: [(c["id"], c["source"]) for c in cells] == expected)


def test_read_only_notebook_refuses_every_change(lab: LabServer) -> None:
    """9. A reader tries `dd`, Escape+`x`, Ctrl+Shift+Down, `v`, Shift+M, `m`, Clear Cell Output, Clear
    All Outputs and Ctrl+Shift+- (split) on a cell with an output: her view (cells, sources, outputs on
    screen, prompts) stays as it was, so do the writer's and the file on disk, and the reader still
    follows the writer's edits."""
    if lab.labextension is None:
        missing("jupyter_crdt/labextension is not built (pip install -e . builds it)")
    output = {"output_type": "stream", "name": "stdout", "text": "hello\n"}
    with_output = {**code_cell("second", "print('hello')"), "execution_count": 1, "outputs": [output]}
    notebook = write_notebook(lab, "read_only.ipynb", [code_cell("first", "a = 1"), with_output,
                                                       code_cell("third", "c = 3")])
    result = scenario(lab, "read_only_structure", notebook)

    original = [{"id": "first", "type": "code", "source": "a = 1"},
                {"id": "second", "type": "code", "source": "print('hello')"},
                {"id": "third", "type": "code", "source": "c = 3"}]
    assert result["before"] == original
    initial = result["initial"]
    assert [{k: c[k] for k in ("id", "type", "source")} for c in initial] == original
    assert [c["editor"] for c in initial] == [c["source"] for c in original]
    assert initial[1]["outputs"] == [output] and "hello" in initial[1]["shownOutputs"]
    assert "1" in initial[1]["prompt"]
    assert result["refusedOnOpening"] == 0, "opening the notebook was refused a change: a needless note"
    assert list(result["tries"]) == ["dd", "cut", "move", "paste", "merge", "markdown", "clearOutput",
                                     "clearAll", "split"]
    for name, tried in result["tries"].items():
        assert tried["refused"] >= 1, f"{name} was not refused"
        assert tried["view"] == initial, f"{name} changed the reader's view"
    assert result["dialogs"] == []

    expected = [("first", "a = 1"), ("second", "print('hello')" + result["typed"]), ("third", "c = 3")]
    assert [(c["id"], c["source"]) for c in result["cells"]] == expected
    final = result["final"]
    assert [(c["id"], c["editor"]) for c in final] == expected, "carol's editors do not show alice's edit"
    assert final[1]["outputs"] == [output] and "hello" in final[1]["shownOutputs"]
    wait_saved(lab, notebook, lambda cells: [(c["id"], c["source"]) for c in cells] == expected)
    saved = json.loads((lab.root / notebook).read_text())["cells"]
    assert [(c["cell_type"], c["execution_count"]) for c in saved] == [("code", None), ("code", 1),
                                                                      ("code", None)]
    saved_output = dict(saved[1]["outputs"][0])
    if isinstance(saved_output["text"], list):
        saved_output["text"] = "".join(saved_output["text"])
    assert [saved_output] == [output] and len(saved[1]["outputs"]) == 1


def test_saving_offline_opens_no_dialog(lab: LabServer) -> None:
    """10. Offline, bob saves with the toolbar's Save button, File > Save Notebook and Accel S: no
    dialog opens, his status bar says the save waits for the connection; once it is back, the saved
    notebook holds his offline edit."""
    if lab.labextension is None:
        missing("jupyter_crdt/labextension is not built (pip install -e . builds it)")
    notebook = write_notebook(lab, "offline_save.ipynb", [code_cell("only", "x = 1")])
    result = scenario(lab, "offline_save", notebook)

    assert result["dialogsAfterToolbar"] == [] and result["dialogsAfterMenu"] == [], result
    assert result["dialogs"] == [], "a dialog opened while offline"
    assert "saves when back online" in result["statusWhileWaiting"], result["statusWhileWaiting"]
    notes = [toast["text"] for toast in result["toasts"] if "saved when the connection" in toast["text"]]
    assert len(notes) == 1, result["toasts"]
    assert not any("preparing" in toast["text"] for toast in result["toasts"]), "the warm-up showed"
    assert result["typed"] not in result["whileCut"][0]["source"], "bob was really cut off"
    expected = [("only", "x = 1" + result["typed"])]
    assert [(c["id"], c["source"]) for c in result["cells"]] == expected
    wait_saved(lab, notebook, lambda cells: [(c["id"], c["source"]) for c in cells] == expected)


def test_notebook7_coedit_offline_and_history(lab: LabServer) -> None:
    """11. Jupyter Notebook 7 (no status bar): alice and bob co-edit in its notebook page; the sync
    status shows beside the menu bar; bob's cut connection is shown (status and a notification), his
    offline edit and save wait without a dialog and merge when he is back (told so); the history panel
    lists both users' changes."""
    if importlib.util.find_spec("notebook") is None:
        missing("Jupyter Notebook 7 (the test extra) is not installed")
    if lab.labextension is None:
        missing("jupyter_crdt/labextension is not built (pip install -e . builds it)")
    notebook = write_notebook(lab, "notebook7.ipynb", [code_cell("first", "x = 1"),
                                                       code_cell("second", "y = 2")])
    result = scenario(lab, "notebook7", notebook)

    assert all("/notebooks/notebook7.ipynb" in url for url in result["urls"].values()), result["urls"]
    for user, shown in result["shown"].items():
        assert shown is not None and shown["visible"], f"{user} sees no sync status: {shown}"
        assert shown["state"] == "connected" and shown["text"].startswith("Connected"), (user, shown)
        assert not shown["statusBar"], "this is Notebook 7's page, which has no status bar"
    typed = result["typed"]
    assert [c["source"] for c in result["live"]] == ["x = 1" + typed["live"]["alice"],
                                                    "y = 2" + typed["live"]["bob"]]
    assert result["offline"]["state"] == "offline" and "saves when back online" in result["offline"]["text"]
    assert result["dialogsWhileCut"] == [] and result["dialogs"] == [], "a dialog opened"
    assert typed["offline"]["bob"] not in result["whileCut"]["alice"][1]["source"], "bob was really cut off"
    assert typed["offline"]["alice"] not in result["whileCut"]["bob"][0]["source"], "bob was really cut off"
    types = [toast["type"] for toast in result["toasts"]]
    assert types.count("warning") == 1 and "success" in types, result["toasts"]
    assert not any("preparing" in toast["text"] for toast in result["toasts"]), "the warm-up showed"
    states = [entry["state"] for entry in result["statusLog"]]
    assert "offline" in states and states[-1] == "connected", result["statusLog"]
    assert {"alice", "bob"} <= set(result["historyAuthors"]), result["historyAuthors"]
    expected = [("first", "x = 1" + typed["live"]["alice"] + typed["offline"]["alice"]),
                ("second", "y = 2" + typed["live"]["bob"] + typed["offline"]["bob"])]
    assert [(c["id"], c["source"]) for c in result["cells"]] == expected
    wait_saved(lab, notebook, lambda cells: [(c["id"], c["source"]) for c in cells] == expected)
