"""``jupyter_crdt.text``: one diff (two granularities), one three-way merge (two strategies), one apply."""

from __future__ import annotations

import random

import pytest

import crdt
from jupyter_crdt.text import (
    LOCAL_MARKER,
    REMOTE_MARKER,
    TextConflict,
    apply_hunks,
    apply_text,
    diff_text,
    merge_text,
    similarity,
)


def test_line_granularity_anchors_an_inserted_line_at_a_line_start():
    a = "one\ntwo\n"
    b = "one\nnew\ntwo\n"
    # By characters the shortest diff may start mid-line; by lines the new line is inserted whole.
    assert diff_text(a, b, granularity="lines") == [(4, 4, 4, 8)]
    assert apply_hunks(a, b, diff_text(a, b)) == b


def test_line_granularity_keeps_word_edits_of_one_line_apart():
    a = "x = compute(alpha, gamma, beta)\n"
    b = "x = compute(ALPHA, gamma, BETA)\n"
    hunks = diff_text(a, b, granularity="lines")
    assert len(hunks) == 2 and apply_hunks(a, b, hunks) == b


def test_unknown_granularity_and_strategy_are_refused():
    with pytest.raises(ValueError, match="granularity"):
        diff_text("a", "b", granularity="words")  # type: ignore[arg-type]
    with pytest.raises(ValueError, match="strategy"):
        merge_text("a", "b", "c", strategy="ours")  # type: ignore[arg-type]


def test_one_conflict_two_strategies():
    base, local, remote = "a\nx = 1\nb\n", "a\nx = 2\nb\n", "a\nx = 3\nb\n"
    inline = merge_text(base, local, remote, strategy="inline")
    assert inline.text == f"a\n{LOCAL_MARKER}\nx = 2\n=======\nx = 3\n{REMOTE_MARKER}\nb\n"
    assert inline.conflicts == [TextConflict("x = 1\n", "x = 2\n", "x = 3\n")]
    union = merge_text(base, local, remote, strategy="union")
    assert union.text == "a\nx = 2\nx = 3\nb\n"  # both versions, no markers, local first
    assert union.conflicts == [TextConflict("x = 1\n", "x = 2\n", "x = 3\n")]
    text, conflicts = merge_text(base, local, base, strategy="union")  # a tuple, like before
    assert (text, conflicts) == (local, [])


def test_union_without_overlap_reports_no_conflict():
    merged = merge_text("a\nb\nc\n", "A\nb\nc\n", "a\nb\nC\n", strategy="union")
    assert merged == ("A\nb\nC\n", [])


@pytest.mark.parametrize("granularity", ["chars", "lines"])
def test_apply_text_reaches_the_new_text_and_says_whether_it_changed(granularity):
    rnd = random.Random(3)
    doc = crdt.Doc()
    text = doc.get_text("source")
    text.insert(0, "alpha beta\ngamma\n")
    updates: list[bytes] = []
    doc.observe_updates(lambda u, _o: updates.append(u))
    with doc.transact():
        assert apply_text(text, str(text), granularity=granularity) is False
    assert updates == []
    for _ in range(100):
        chars = list(str(text))
        for _ in range(rnd.randint(1, 4)):
            pos = rnd.randint(0, len(chars))
            if chars and rnd.random() < 0.4:
                del chars[min(pos, len(chars) - 1)]
            else:
                chars.insert(pos, rnd.choice("xy\n"))
        new = "".join(chars)
        updates.clear()
        with doc.transact():
            changed = apply_text(text, new, granularity=granularity)
        assert str(text) == new
        assert changed is bool(updates) and len(updates) <= 1


def test_apply_text_keeps_untouched_characters_for_a_concurrent_edit():
    a = crdt.Doc(client_id=1)
    a.get_text("s").insert(0, "hello world\n")
    b = crdt.Doc(client_id=2)
    b.apply_update(a.encode_state_as_update())
    with a.transact():
        apply_text(a.get_text("s"), "hello big world\n")
    b.get_text("s").insert(11, "!")
    a.apply_update(b.encode_state_as_update())
    assert str(a.get_text("s")) == "hello big world!\n"


def test_similarity():
    assert similarity("", "") == 1.0
    assert similarity("abcd", "abcd") == 1.0
    assert similarity("abcd", "wxyz") == 0.0
    assert similarity("abcd", "abxd") == pytest.approx(0.75)
    assert similarity(["a\n", "b\n"], ["a\n", "c\n"]) == pytest.approx(0.5)
    # Below the floor the answer is 0, whichever bound tells it first.
    assert similarity("abcd", "abxd", 0.8) == 0.0
    assert similarity("a", "abcdefgh", 0.5) == 0.0
    assert similarity("abcdef", "fedcba", 0.5) == 0.0


@pytest.mark.parametrize("granularity", ["chars", "lines"])
def test_apply_text_counts_code_points_past_astral_characters(granularity):
    # Text indices are code points; a character outside the BMP before the edit must not shift it.
    doc = crdt.Doc()
    text = doc.get_text("s")
    text.insert(0, "😀 a\n🎉 b\n")
    for new in ("😀 x\n🎉 b\n", "😀 x\n🎉 b🎉\n", "😀\n"):
        with doc.transact():
            assert apply_text(text, new, granularity=granularity)
        assert str(text) == new
