"""crdt.inspect: the public item and update helpers tools use (decode once, pending accounting, items)."""

from __future__ import annotations

import pytest

import crdt
from crdt import inspect as ci


def _doc(client: int) -> crdt.Doc:
    return crdt.Doc(client_id=client)


def _text_doc(client: int, s: str) -> tuple[crdt.Doc, bytes]:
    doc = _doc(client)
    doc.get_text("t").insert(0, s)
    return doc, doc.encode_state_as_update()


# -- UpdateView ------------------------------------------------------------------------------------------


def test_view_of_an_insert_and_a_delete():
    a, first = _text_doc(1, "hello")
    sv = a.state_vector()
    updates = []
    a.observe_updates(lambda u, _o: updates.append(u))
    with a.transact():
        t = a.get_text("t")
        t.delete(1, 2)
        t.insert(3, "XYZ")
    (update,) = updates
    view = ci.decode_update(update)
    assert view.update == update
    assert view.clients() == {1}
    assert view.item_ranges() == {1: (5, 8)}
    assert view.item_ranges(sv) == {1: (5, 8)}
    assert view.item_ranges({1: 6}) == {1: (6, 8)}
    assert view.item_ranges({1: 8}) == {}
    assert view.inserted_length() == 3
    assert view.deleted_length() == 2
    assert view.delete_set.clients == {1: [[1, 2]]}
    assert view.has_content() and not view.is_empty()
    full = ci.decode_update(first)
    assert full.item_ranges() == {1: (0, 5)} and full.inserted_length() == 5 and full.deleted_length() == 0
    assert 1 in full.structs and all(s.client == 1 for s in full.structs[1])


def test_view_of_a_deletion_only_and_of_nothing():
    a, first = _text_doc(3, "abcdef")
    b = _doc(4)
    b.apply_update(first)
    updates = []
    b.observe_updates(lambda u, _o: updates.append(u))
    b.get_text("t").delete(0, 6)
    view = ci.decode_update(updates[0])
    assert not view.has_content() and not view.is_empty()
    assert view.clients() == set() and view.item_ranges() == {}
    assert view.inserted_length() == 0 and view.deleted_length() == 6
    empty = ci.decode_update(b"\x00\x00")
    assert empty.is_empty() and not empty.has_content() and empty.clients() == set()
    assert ci.decode_update(crdt.Doc().encode_state_as_update()).is_empty()


def test_inserted_length_counts_utf16_units_and_array_elements():
    doc = _doc(9)
    doc.get_text("t").insert(0, "a😀")  # the emoji is two UTF-16 units
    doc.get_array("a").extend([1, "two", 3])
    assert ci.decode_update(doc.encode_state_as_update()).inserted_length() == 3 + 3


def test_decode_update_refuses_malformed_and_deep_input():
    with pytest.raises(crdt.DecodeError):
        ci.decode_update(b"\x01\x05")
    with pytest.raises(TypeError):
        ci.decode_update("not bytes")  # type: ignore[arg-type]
    from tests.crdt.test_decode_limits import _any_body, _update

    with pytest.raises(crdt.DecodeError, match="nested deeper than 64 levels"):
        ci.decode_update(_update(8, _any_body(65)))
    assert ci.decode_update(_update(8, _any_body(64))).has_content()


def test_applying_a_view_gives_the_same_document_as_the_bytes():
    a, first = _text_doc(1, "hello world")
    a.get_map("m")["k"] = [1, 2]
    updates = [a.encode_state_as_update()]
    a.observe_updates(lambda u, _o: updates.append(u))
    a.get_text("t").delete(0, 6)
    a.get_text("t").insert(0, "brave new ")
    for into_empty in (True, False):
        by_bytes, by_view = _doc(7), _doc(7)
        if not into_empty:
            for d in (by_bytes, by_view):
                d.get_text("other").insert(0, "x")
        for u in updates:
            by_bytes.apply_update(u)
            by_view.apply_update(ci.decode_update(u))
        assert by_view.to_py() == by_bytes.to_py()
        assert by_view.encode_state_as_update() == by_bytes.encode_state_as_update()


def test_a_view_is_not_decoded_again_and_survives_being_applied(monkeypatch):
    a, first = _text_doc(1, "hello")
    view = ci.decode_update(first)
    ranges = view.item_ranges()
    import crdt.update_decoder as ud

    calls = []
    real = ud.read_update
    monkeypatch.setattr(ud, "read_update", lambda data: calls.append(1) or real(data))
    import crdt.doc as cd

    monkeypatch.setattr(cd, "read_update", ud.read_update)
    b = _doc(2)
    b.apply_update(view)
    assert calls == [] and b.get_text("t").to_py() == "hello"
    # the structs now belong to b: reading the view again decodes afresh, and answers the same
    assert view.item_ranges() == ranges and view.inserted_length() == 5
    assert len(calls) == 1
    # applying the same view to a second document works (from the bytes again) and leaves b alone
    c = _doc(3)
    c.apply_update(view)
    c.get_text("t").insert(5, "!")
    assert c.get_text("t").to_py() == "hello!" and b.get_text("t").to_py() == "hello"


def test_view_applies_inside_a_transaction():
    _, first = _text_doc(1, "abc")
    b = _doc(2)
    with b.transact() as tr:
        b.get_text("u").insert(0, "x")
        b.apply_update(ci.decode_update(first))
        assert tr is not None
    assert b.get_text("t").to_py() == "abc" and b.get_text("u").to_py() == "x"


# -- state vectors, delete updates ----------------------------------------------------------------------


def test_decode_state_vector():
    a, _ = _text_doc(11, "abc")
    assert ci.decode_state_vector(a.encode_state_vector()) == {11: 3}
    assert ci.decode_state_vector(b"\x00") == {}
    for bad in (b"", b"\x05\x01", b"\x01\x80", "text"):
        with pytest.raises(crdt.DecodeError):
            ci.decode_state_vector(bad)  # type: ignore[arg-type]


def test_delete_update_deletes_the_ranges():
    a, first = _text_doc(1, "hello")
    b = _doc(2)
    b.apply_update(first)
    b.get_text("t").insert(5, " world")
    doc = _doc(3)
    doc.apply_update(b.encode_state_as_update())
    update = ci.delete_update({1: (1, 3), 2: (0, 6), 99: (4, 4)})
    view = ci.decode_update(update)
    assert not view.has_content() and view.delete_set.clients == {2: [[0, 6]], 1: [[1, 2]]}
    assert ci.deletes_live_items(doc, view.delete_set)
    doc.apply_update(update)
    assert doc.get_text("t").to_py() == "hlo"
    assert not ci.deletes_live_items(doc, view.delete_set)
    assert ci.delete_update({}) == b"\x00\x00"


def test_delete_update_matches_yjs(yjs_oracle):
    """Yjs deleting the same ranges writes the same bytes, and applying ours in Yjs deletes them."""
    ans = yjs_oracle.request({
        "kind": "script", "clients": [7, 300], "gc": True, "roots": {"t": "text"},
        "steps": [
            {"peer": 0, "ops": [{"path": ["t"], "action": "text_insert", "index": 0, "content": "abcdef"}]},
            {"deliver": 0, "to": 1},
            {"peer": 1, "ops": [{"path": ["t"], "action": "text_insert", "index": 6, "content": "XYZ"}]},
            {"deliver": 1, "to": 0},
            {"peer": 0, "ops": [{"path": ["t"], "action": "text_delete", "index": 2, "length": 6}]},
        ],
    })
    import base64

    updates = [base64.b64decode(u) for u in ans["updates"]]
    ours = ci.delete_update({7: (2, 6), 300: (0, 2)})
    assert ours == updates[2]
    applied = yjs_oracle.apply(updates[:2] + [ours], {"t": "text"})
    assert applied["json"] == {"t": "abZ"} and not applied["pending"]


def test_deletes_live_items_ignores_unknown_and_deleted_ranges():
    a, first = _text_doc(1, "abcdef")
    a.get_text("t").delete(0, 2)
    ds = ci.decode_update(ci.delete_update({1: (0, 2), 2: (0, 5)})).delete_set
    assert not ci.deletes_live_items(a, ds)
    assert ci.deletes_live_items(a, ci.decode_update(ci.delete_update({1: (1, 3)})).delete_set)
    assert not ci.deletes_live_items(a, ci.decode_update(ci.delete_update({1: (6, 10)})).delete_set)


# -- pending ----------------------------------------------------------------------------------------------


def _pending_doc() -> tuple[crdt.Doc, crdt.Doc, list[bytes]]:
    a = _doc(1)
    updates: list[bytes] = []
    a.observe_updates(lambda u, _o: updates.append(u))
    t = a.get_text("t")
    t.insert(0, "abc")
    t.insert(3, "def")
    t.delete(0, 1)
    b = _doc(2)
    b.get_text("t").insert(0, "mine")
    return a, b, updates


def test_pending_size_drop_and_update_without_pending():
    a, b, updates = _pending_doc()
    assert ci.pending_size(b) == 0
    b.apply_update(updates[1])  # depends on updates[0]: pending
    assert b.pending and ci.pending_size(b) == 1
    with_pending = b.encode_state_as_update()
    without = ci.update_without_pending(b)
    assert with_pending != without
    fresh = _doc(5)
    fresh.apply_update(without)
    assert not fresh.pending and fresh.get_text("t").to_py() == "mine"
    assert ci.update_without_pending(b, a.encode_state_vector()) == b.encode_state_as_update(
        a.encode_state_vector()) or b.pending
    assert b.encode_state_as_update() == with_pending  # the pending structs are still there
    b.apply_update(updates[2])  # a deletion of a range b does not know yet: one more pending range
    assert ci.pending_size(b) == 2
    ci.drop_pending(b)
    assert not b.pending and ci.pending_size(b) == 0
    assert b.encode_state_as_update() == ci.update_without_pending(b)
    b.apply_update(updates[0])  # what was dropped never arrives
    assert b.get_text("t").to_py() in ("abcmine", "mineabc")


def test_update_without_pending_of_a_doc_without_pending_is_the_state():
    a, _ = _text_doc(1, "xyz")
    assert ci.update_without_pending(a) == a.encode_state_as_update()
    sv = crdt.Doc().encode_state_vector()
    assert ci.update_without_pending(a, sv) == a.encode_state_as_update(sv)


# -- items ------------------------------------------------------------------------------------------------


def test_find_item_and_structs_between():
    a, _ = _text_doc(1, "hello")
    a.get_text("t").insert(5, " you")
    item = ci.find_item(a, 1, 6)
    assert isinstance(item, ci.Item) and item.clock <= 6 < item.clock + item.length
    assert isinstance(item.content, ci.ContentString)
    assert ci.find_item(a, 1, 9) is None and ci.find_item(a, 2, 0) is None and ci.find_item(a, 1, -1) is None
    got = list(ci.structs_between(a, 1, 2, 7))
    assert got and got[0].clock <= 2 and got[-1].clock < 7
    assert sum(s.length for s in ci.structs_between(a, 1, 0, 100)) == 9
    assert list(ci.structs_between(a, 1, 3, 3)) == [] and list(ci.structs_between(a, 8, 0, 3)) == []
    assert sum(s.length for s in ci.iter_structs(a)) == 9


def test_iter_items_in_list_order_with_and_without_deleted():
    doc = crdt.Doc(client_id=1, gc=False)
    t = doc.get_text("t")
    t.insert(0, "world")
    t.insert(0, "hello ")
    t.delete(0, 2)
    items = list(ci.iter_items(t))
    text = "".join(i.content.s for i in items if isinstance(i.content, ci.ContentString))
    assert text == "hello world"
    live = list(ci.iter_items(t, include_deleted=False))
    assert "".join(i.content.s for i in live) == "llo world"
    assert all(not i.deleted for i in live) and any(i.deleted for i in items)


def test_map_item_type_item_and_root_key():
    doc = crdt.Doc(client_id=1, gc=False)
    cells = doc.get_array("cells")
    cell = crdt.Map({"id": "c1", "source": crdt.Text("x = 1")})
    cells.append(cell)
    cell = cells[0]
    src = cell["source"]
    assert ci.root_key(cells) == "cells" and ci.root_key(cell) == "cells" and ci.root_key(src) == "cells"
    assert ci.type_item(cells) is None
    holder = ci.type_item(cell)
    assert isinstance(holder, ci.Item) and isinstance(holder.content, ci.ContentType)
    assert holder.content.type is cell and ci.root_key(holder) == "cells"
    first_char = next(ci.iter_items(src))
    assert ci.root_key(first_char) == "cells"
    entry = ci.map_item(cell, "id")
    assert isinstance(entry, ci.Item) and isinstance(entry.content, ci.ContentAny)
    assert entry.content.arr[-1] == "c1"
    del cell["id"]
    entry = ci.map_item(cell, "id")
    assert entry is not None and entry.deleted and entry.content.arr[-1] == "c1"
    assert ci.map_item(cell, "nope") is None
    doc.get_map("meta")["k"] = 1
    assert ci.root_key(ci.map_item(doc.get_map("meta"), "k")) == "meta"
    # decoded structs are in no document
    view = ci.decode_update(doc.encode_state_as_update())
    assert all(ci.root_key(s) is None for structs in view.structs.values() for s in structs)
    assert ci.root_key(crdt.Text("prelim")) is None


def test_encode_update_round_trips_decoded_structs():
    a, first = _text_doc(1, "abc")
    a.get_text("t").delete(1, 1)
    update = a.encode_state_as_update()
    view = ci.decode_update(update)
    again = ci.encode_update(view.structs, view.delete_set)
    d = crdt.Doc()
    d.apply_update(again)
    assert d.get_text("t").to_py() == "ac"


def test_nests_says_which_types_are_plain_containers():
    doc = crdt.Doc()
    assert ci.nests(doc.get_map("m")) == "map" and ci.nests(doc.get_array("a")) == "list"
    assert ci.nests(doc.get_text("t")) is None and ci.nests(crdt.XmlFragment()) is None


def test_a_view_of_a_big_memoryview_keeps_it_and_applies():
    doc = crdt.Doc(client_id=4)
    doc.get_text("t").insert(0, "x" * (1 << 20))
    frame = b"\x07" + doc.encode_state_as_update()
    payload = memoryview(frame)[1:].toreadonly()
    view = ci.decode_update(payload)
    assert isinstance(view.update, memoryview) and view.update.obj is frame  # not copied
    assert view.inserted_length() == 1 << 20
    other = crdt.Doc()
    other.apply_update(view)
    assert len(other.get_text("t")) == 1 << 20
    small = ci.decode_update(bytearray(doc.encode_state_as_update()))
    assert type(small.update) is bytes
