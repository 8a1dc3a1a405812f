"""Round trip of the whole notebook corpus: file -> document -> notebook -> file.

Every file in ``tests/data/notebooks/`` (merge cases included) falls in exactly one group:

- byte-identical: nbformat itself writes the file back unchanged, and so must we (through the document);
- the same as nbformat's round trip: nbformat normalises the file (key order, lines of base64), we give
  exactly what nbformat gives;
- REPAIRED: nbformat repairs the cell ids (with a warning); we repair the same cells the same way, with
  the same warning, but derive the new ids from the content instead of drawing them at random;
- UPGRADED: older formats (v2, v3) upgraded through nbformat; same as nbformat's result except for the
  cell ids, which nbformat draws at random and we derive from the content;
- REJECTED: files nbformat rejects; we reject them with a NotebookFormatError naming the file and the problem.
"""

from __future__ import annotations

import json
import re
import warnings

import nbformat
import pytest
from nbformat.warnings import DuplicateCellId, MissingIDFieldWarning

import crdt
from jupyter_crdt.notebook import NotebookFormatError, doc_to_notebook, notebook_to_doc, read_notebook

from .conftest import rel

REJECTED = {
    "nbformat/invalid.ipynb": "'source' is a required property (at cells[0])",  # a v3 heading cell in v4
    "nbformat/test3_worksheet_with_no_cells.ipynb": "missing key 'cells'",
}
REPAIRED = {
    "nbformat/invalid_unique_cell_id.ipynb": DuplicateCellId,
    "jupyterlab/windowed_notebook.ipynb": DuplicateCellId,  # six cells share one id
    "nbformat/v4_5_no_cell_id.ipynb": MissingIDFieldWarning,
    "merge-cases/nbdime-cellids/base.ipynb": MissingIDFieldWarning,
}
UPGRADED = {"nbformat/test2.ipynb", "nbformat/test3.ipynb"}
CELL_ID = re.compile(r"^[a-zA-Z0-9-_]{1,64}$")


def nbformat_text(nb) -> str:
    """What ``nbformat.write`` puts in a file."""
    text = nbformat.writes(nb)
    return text if text.endswith("\n") else text + "\n"


def without_ids(text: str) -> dict:
    nb = json.loads(text)
    for cell in nb["cells"]:
        cell.pop("id", None)
    return nb


def test_groups_cover_the_corpus(notebook_files):
    names = {rel(p) for p in notebook_files}
    for group in (REJECTED, REPAIRED, UPGRADED):
        assert set(group) <= names


def test_round_trip(notebook_files):
    byte_identical = []
    for path in notebook_files:
        name = rel(path)
        raw = path.read_bytes().decode("utf-8")
        if name in REJECTED:
            with pytest.raises(NotebookFormatError) as err:
                read_notebook(path)
            assert str(path) in str(err.value) and REJECTED[name] in str(err.value), str(err.value)
            continue

        with warnings.catch_warnings(record=True) as nbformat_warnings:
            warnings.simplefilter("always")
            reference = nbformat_text(nbformat.reads(raw, as_version=4))
        with warnings.catch_warnings(record=True) as our_warnings:
            warnings.simplefilter("always")
            doc = notebook_to_doc(read_notebook(path), name=name)
        nb = doc_to_notebook(doc)
        nbformat.validate(nb)
        ours = nbformat_text(nb)

        expected_warning = REPAIRED.get(name)
        assert [w.category for w in our_warnings] == [w.category for w in nbformat_warnings], name
        if expected_warning:
            assert our_warnings and all(w.category is expected_warning for w in our_warnings)
        if name in REPAIRED or name in UPGRADED:
            assert ours != raw
            assert without_ids(ours) == without_ids(reference), name
            ids = [c["id"] for c in json.loads(ours)["cells"]]
            assert len(set(ids)) == len(ids) and all(CELL_ID.match(i) for i in ids)
            if name in REPAIRED:  # only the broken ids changed
                raw_ids = [c.get("id") for c in json.loads(raw)["cells"]]
                seen = set()
                for old, new in zip(raw_ids, ids, strict=True):
                    if old is not None and old not in seen:
                        assert old == new
                    seen.add(old)
            continue
        assert not our_warnings, name
        assert ours == reference, name
        if reference == raw:
            assert ours == raw, name
            byte_identical.append(name)
    # Most of the corpus is written back byte for byte (the rest is normalised by nbformat itself).
    assert len(byte_identical) >= 50, byte_identical


def test_round_trip_through_update_bytes(notebook_files):
    """A peer that receives the document as an update exports the same notebook."""
    for path in notebook_files:
        if rel(path) in REJECTED:
            continue
        with warnings.catch_warnings():
            warnings.simplefilter("ignore")
            doc = notebook_to_doc(read_notebook(path))
        peer = crdt.Doc()
        peer.apply_update(doc.encode_state_as_update())
        assert doc_to_notebook(peer) == doc_to_notebook(doc), rel(path)


def test_rejects_garbage_with_a_clear_error(tmp_path):
    cases = {
        "notjson.ipynb": (b"{not json", "not valid JSON"),
        "latin1.ipynb": (b'{"a": "\xe9"}', "not UTF-8"),
        "list.ipynb": (b"[]", "a notebook is a JSON object"),
        "v5.ipynb": (b'{"nbformat": 5, "nbformat_minor": 0, "cells": [], "metadata": {}}', "nbformat 5"),
        "nocells.ipynb": (b'{"nbformat": 4, "nbformat_minor": 5, "metadata": {}}', "cells"),
    }
    for fname, (data, problem) in cases.items():
        p = tmp_path / fname
        p.write_bytes(data)
        with pytest.raises(NotebookFormatError) as err:
            read_notebook(p)
        assert fname in str(err.value) and problem in str(err.value), str(err.value)
    with pytest.raises(NotebookFormatError, match="cannot read"):
        read_notebook(tmp_path / "missing.ipynb")


def test_notebook_to_doc_rejects_what_it_cannot_store():
    with pytest.raises(NotebookFormatError, match=r"cells\[0\]"):
        notebook_to_doc({"nbformat": 4, "nbformat_minor": 5, "metadata": {}, "cells": [1]})
    with pytest.raises(NotebookFormatError, match="not plain JSON"):
        notebook_to_doc({"nbformat": 4, "nbformat_minor": 5, "metadata": {"x": object()}, "cells": []})


def test_load_uses_derived_then_fresh_client_id():
    nb = nbformat.v4.new_notebook(cells=[nbformat.v4.new_code_cell("x = 1", id="a")])
    one, two = notebook_to_doc(nb), notebook_to_doc(nb)
    assert one.encode_state_as_update() == two.encode_state_as_update()
    (derived,) = one.state_vector()
    assert derived == two.state_vector().popitem()[0]
    # Later edits never reuse the import's client id.
    assert one.client_id != derived and two.client_id != derived and one.client_id != two.client_id
    one.get_array("cells")[0]["source"].insert(0, "# ")
    assert set(one.state_vector()) == {derived, one.client_id}


def test_notebook_to_doc_needs_an_empty_doc():
    nb = nbformat.v4.new_notebook()
    doc = notebook_to_doc(nb)
    with pytest.raises(ValueError):
        notebook_to_doc(nb, doc)
    fresh = crdt.Doc(gc=False)
    assert notebook_to_doc(nb, fresh) is fresh


def test_export_is_a_copy():
    nb = nbformat.v4.new_notebook(cells=[nbformat.v4.new_code_cell("x", id="a", metadata={"tags": ["t"]})])
    doc = notebook_to_doc(nb)
    out = doc_to_notebook(doc)
    out.cells[0].metadata.tags.append("changed")
    assert doc_to_notebook(doc).cells[0].metadata.tags == ["t"]


def test_export_repairs_cells_a_merge_duplicated():
    """Two peers moving one cell at once leave two copies: the export keeps one (and warns)."""
    nb = nbformat.v4.new_notebook(cells=[nbformat.v4.new_markdown_cell(s, id=s) for s in "abc"])
    doc = notebook_to_doc(nb)
    peers = []
    for target in (0, 1):
        peer = crdt.Doc()
        peer.apply_update(doc.encode_state_as_update())
        cells = peer.get_array("cells")
        with peer.transact():
            cells.delete(2, 1)
            from jupyter_crdt.notebook.schema import cell_prelim

            cells.insert(target, [cell_prelim(nb.cells[2])])
        peers.append(peer)
    for peer in peers:
        doc.apply_update(peer.encode_state_as_update())
    assert [str(c["source"]) for c in doc.get_array("cells")].count("c") == 2
    with pytest.warns(DuplicateCellId):
        out = doc_to_notebook(doc)
    assert [c.source for c in out.cells].count("c") == 1
    nbformat.validate(out)
