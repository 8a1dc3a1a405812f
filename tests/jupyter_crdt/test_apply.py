"""``apply_notebook``: the document ends up exporting the new notebook, with the smallest change, and what a
concurrent peer did to cells and characters the change leaves alone survives the merge."""

from __future__ import annotations

import copy
import warnings

import nbformat
import pytest
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st

import crdt
from jupyter_crdt.notebook import apply_notebook, doc_to_notebook, notebook_to_doc, read_notebook
from jupyter_crdt.text import apply_hunks, diff_text

MARK = "§"  # only the peer types it
TEXT = st.text(alphabet="ab \n=é😀", max_size=12)
META_VALUES = st.one_of(
    st.integers(-3, 3), st.booleans(), st.sampled_from(["x", "y"]), st.lists(st.integers(0, 2), max_size=2)
)


def outputs():
    stream = st.builds(lambda t: {"output_type": "stream", "name": "stdout", "text": t}, TEXT)
    result = st.builds(
        lambda t, n: {
            "output_type": "execute_result",
            "data": {"text/plain": t},
            "metadata": {},
            "execution_count": n,
        },
        TEXT,
        st.integers(1, 9),
    )
    return st.lists(st.one_of(stream, result), max_size=2)


@st.composite
def cells(draw, cid: str):
    kind = draw(st.sampled_from(["code", "markdown", "raw"]))
    cell = {
        "id": cid,
        "cell_type": kind,
        "source": draw(TEXT),
        "metadata": draw(st.dictionaries(st.sampled_from("abc"), META_VALUES, max_size=2)),
    }
    if kind == "code":
        cell["outputs"] = draw(outputs())
        cell["execution_count"] = draw(st.one_of(st.none(), st.integers(1, 9)))
    return cell


@st.composite
def notebooks(draw):
    n = draw(st.integers(0, 6))
    return {
        "nbformat": 4,
        "nbformat_minor": 5,
        "metadata": draw(st.dictionaries(st.sampled_from("kl"), META_VALUES)),
        "cells": [draw(cells(f"c{i}")) for i in range(n)],
    }


@st.composite
def edited(draw, nb: dict, moves: bool):
    new = copy.deepcopy(nb)
    fresh = 0
    for _ in range(draw(st.integers(0, 6))):
        op = draw(
            st.sampled_from(
                ["source", "source", "meta", "outputs", "delete", "insert", "nbmeta", "type"]
                + (["move"] if moves else [])
            )
        )
        cs = new["cells"]
        if op == "insert" or not cs:
            cs.insert(draw(st.integers(0, len(cs))), draw(cells(f"new{fresh}")))
            fresh += 1
            continue
        c = cs[draw(st.integers(0, len(cs) - 1))]
        if op == "source":
            s = c["source"]
            i = draw(st.integers(0, len(s)))
            j = draw(st.integers(i, len(s)))
            c["source"] = s[:i] + draw(TEXT) + s[j:]
        elif op == "meta":
            k = draw(st.sampled_from("abc"))
            if k in c["metadata"] and draw(st.booleans()):
                del c["metadata"][k]
            else:
                c["metadata"][k] = draw(META_VALUES)
        elif op == "outputs" and c["cell_type"] == "code":
            c["outputs"] = draw(outputs())
            c["execution_count"] = draw(st.one_of(st.none(), st.integers(1, 9)))
        elif op == "delete":
            cs.remove(c)
        elif op == "nbmeta":
            new["metadata"][draw(st.sampled_from("kl"))] = draw(META_VALUES)
        elif op == "type":
            c2 = draw(cells(c["id"]))
            c2["source"] = c["source"]
            cs[cs.index(c)] = c2
        elif op == "move":
            cs.remove(c)
            cs.insert(draw(st.integers(0, len(cs))), c)
    return new


def fork(doc: crdt.Doc) -> crdt.Doc:
    peer = crdt.Doc()
    peer.apply_update(doc.encode_state_as_update())
    return peer


def sync(a: crdt.Doc, b: crdt.Doc) -> None:
    ua = a.encode_state_as_update(b.encode_state_vector())
    ub = b.encode_state_as_update(a.encode_state_vector())
    b.apply_update(ua)
    a.apply_update(ub)


def strip_peer(nb: dict) -> dict:
    nb = copy.deepcopy(nb)
    nb["cells"] = [c for c in nb["cells"] if not c["id"].startswith("peer")]
    for c in nb["cells"]:
        c["source"] = c["source"].replace(MARK, "")
        c["metadata"].pop("peer", None)
    return nb


@settings(max_examples=150, deadline=None, suppress_health_check=[HealthCheck.too_slow])
@given(st.data())
def test_apply_with_a_concurrent_peer(data):
    nb = data.draw(notebooks())
    new = data.draw(edited(nb, moves=data.draw(st.booleans())))
    doc = notebook_to_doc(nb)
    before = {c["id"]: c for c in doc.get_array("cells")}

    # The peer edits the original concurrently: characters in sources, a metadata key, a new cell.
    peer = fork(doc)
    marked: dict[str, int] = {}
    peer_cells = list(peer.get_array("cells"))
    for m in data.draw(st.lists(st.sampled_from(peer_cells), max_size=4)) if peer_cells else []:
        text = m["source"]
        text.insert(data.draw(st.integers(0, len(text))), MARK)
        marked[m["id"]] = marked.get(m["id"], 0) + 1
        m["metadata"]["peer"] = 1
    peer_new = data.draw(st.booleans())
    if peer_new:
        from jupyter_crdt.notebook.schema import cell_prelim

        arr = peer.get_array("cells")
        arr.insert(
            data.draw(st.integers(0, len(arr))),
            [
                cell_prelim(
                    {"id": "peer-new", "cell_type": "markdown", "source": "from the peer", "metadata": {}}
                )
            ],
        )

    apply_notebook(doc, new)
    assert doc_to_notebook(doc) == new  # before the merge: exactly the new notebook
    sync(doc, peer)
    merged = doc_to_notebook(doc)
    assert merged == doc_to_notebook(peer)
    nbformat.validate(merged)

    # Take the peer's edits out again: exactly the new notebook.
    assert strip_peer(merged) == new
    # The peer's edits survive in every cell the change kept in place (moved or retyped cells are new copies).
    kept = {c["id"] for c in doc.get_array("cells") if before.get(c["id"]) is c}
    by_id = {c["id"]: c for c in merged["cells"]}
    for cid, count in marked.items():
        if cid in kept:
            assert by_id[cid]["source"].count(MARK) == count
            assert by_id[cid]["metadata"]["peer"] == 1
    if peer_new:  # a cell the peer inserted always survives
        assert by_id["peer-new"]["source"] == "from the peer"


@settings(max_examples=100, deadline=None)
@given(st.data())
def test_apply_without_ids_matches_by_content(data):
    """nbformat < 4.5 has no ids: cells are matched by content and keep the document's ids."""
    nb = data.draw(notebooks())
    new = data.draw(edited(nb, moves=True))
    for x in (nb, new):
        x["nbformat_minor"] = 4
        for c in x["cells"]:
            del c["id"]
    doc = notebook_to_doc(nb)
    apply_notebook(doc, new)
    assert doc_to_notebook(doc) == new
    ids = [c["id"] for c in doc.get_array("cells")]
    assert len(set(ids)) == len(ids)


@settings(max_examples=300, deadline=None)
@given(TEXT, TEXT)
def test_text_diff_rebuilds_the_new_text(a, b):
    hunks = diff_text(a, b)
    assert apply_hunks(a, b, hunks) == b
    for (_, i2, _, j2), nxt in zip(hunks, hunks[1:], strict=False):
        assert i2 < nxt[0] and j2 < nxt[2]


def test_one_character_edit_in_a_big_notebook_is_a_tiny_update(data_dir):
    with warnings.catch_warnings():
        warnings.simplefilter("ignore")
        nb = read_notebook(data_dir / "notebooks" / "ipywidgets" / "Layout_Templates.ipynb")
    doc = notebook_to_doc(nb)
    new = copy.deepcopy(nb)
    code = next(i for i, c in enumerate(new.cells) if c.cell_type == "code" and c.outputs)
    new.cells[code].source = new.cells[code].source + "!"
    updates = []
    doc.observe_updates(lambda u, origin: updates.append(u))
    apply_notebook(doc, new)
    assert len(updates) == 1 and len(updates[0]) < 60
    assert doc_to_notebook(doc) == new
    updates.clear()
    apply_notebook(doc, new)  # nothing to do: no update at all
    assert updates == []


def test_outputs_replaced_only_where_they_changed():
    cells = [
        nbformat.v4.new_code_cell(
            f"x{i}", id=f"c{i}", outputs=[nbformat.v4.new_output("stream", name="stdout", text=f"out {i}\n")]
        )
        for i in range(3)
    ]
    nb = nbformat.v4.new_notebook(cells=cells)
    doc = notebook_to_doc(nb)
    outputs_before = [c["outputs"][0] for c in doc.get_array("cells")]
    new = copy.deepcopy(nb)
    new.cells[1].outputs = [nbformat.v4.new_output("stream", name="stdout", text="changed\n")]
    apply_notebook(doc, new)
    after = [c["outputs"][0] for c in doc.get_array("cells")]
    assert (
        after[0] is outputs_before[0] and after[2] is outputs_before[2] and after[1] is not outputs_before[1]
    )
    assert doc_to_notebook(doc) == new


def test_moved_cell_is_reinserted_and_others_stay():
    nb = nbformat.v4.new_notebook(cells=[nbformat.v4.new_markdown_cell(s, id=s) for s in "abcdef"])
    doc = notebook_to_doc(nb)
    before = list(doc.get_array("cells"))
    new = copy.deepcopy(nb)
    new.cells.insert(4, new.cells.pop(1))  # b moves after e
    apply_notebook(doc, new)
    after = list(doc.get_array("cells"))
    assert [c["id"] for c in after] == list("acdebf")
    assert sum(1 for c in after if any(c is b for b in before)) == 5
    assert doc_to_notebook(doc) == new


def test_type_change_replaces_the_cell():
    nb = nbformat.v4.new_notebook(cells=[nbformat.v4.new_code_cell("# title", id="x")])
    doc = notebook_to_doc(nb)
    new = copy.deepcopy(nb)
    new.cells[0] = nbformat.v4.new_markdown_cell("# title", id="x")
    apply_notebook(doc, new)
    assert doc_to_notebook(doc) == new


@pytest.mark.parametrize("minor", [4, 5])
def test_regenerated_ids_match_by_similarity(minor):
    nb = nbformat.v4.new_notebook(
        cells=[
            nbformat.v4.new_code_cell("import numpy as np\nx = np.arange(10)", id="old1"),
            nbformat.v4.new_markdown_cell("# Results", id="old2"),
        ]
    )
    doc = notebook_to_doc(nb)
    text = doc.get_array("cells")[0]["source"]
    new = copy.deepcopy(nb)
    new.cells[0].source = "import numpy as np\nx = np.arange(20)"
    new.cells[0].id = "new1"
    new.nbformat_minor = minor
    if minor == 4:
        for c in new.cells:
            del c["id"]
    apply_notebook(doc, new)
    assert doc.get_array("cells")[0]["source"] is text  # edited in place, not replaced
    assert str(text) == new.cells[0].source
    assert doc_to_notebook(doc) == new
