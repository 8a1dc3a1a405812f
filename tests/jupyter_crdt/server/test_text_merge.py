"""The server's text merge (used for text files changed on disk and for reconciling stale clients):
each side's lines are kept exactly once, and edits made by both sides count once."""

from __future__ import annotations

import random

import crdt
from jupyter_crdt.text import apply_hunks, apply_text, diff_text
from jupyter_crdt.text import merge_text as _merge_text


def merge_text(base: str, local: str, remote: str) -> str:
    return _merge_text(base, local, remote, strategy="union").text


def test_examples():
    assert merge_text("a\nb\n", "a\nT\nA\nb\n", "a\nT\nB\nb\n") == "a\nT\nA\nB\nb\n"
    assert merge_text("hello world", "hello big world", "hello world!") == "hello big world!"
    assert merge_text("abc", "abXc", "abXc") == "abXc"
    assert merge_text("x\n", "x\n", "y\n") == "y\n"


def test_random_line_edits_keep_every_line_once():
    for seed in range(1500):
        rnd = random.Random(seed)
        base = [f"base{i} {'x' * rnd.randint(0, 3)}\n" for i in range(rnd.randint(0, 6))]
        common = list(base)
        for i in range(rnd.randint(0, 4)):
            common.insert(rnd.randint(0, len(common)), f"<c{i}>\n")
        local, remote = list(common), list(common)
        deleted = set()
        for side in (local, remote):
            if base and rnd.random() < 0.4:
                line = rnd.choice(base)
                if line in side:
                    side.remove(line)
                    deleted.add(line)
        for i in range(rnd.randint(0, 5)):
            local.insert(rnd.randint(0, len(local)), f"<L{i}>\n")
        for i in range(rnd.randint(0, 5)):
            remote.insert(rnd.randint(0, len(remote)), f"<R{i}>\n")
        b = "".join(base if rnd.random() < 0.5 else common[: len(common) // 2])
        out = merge_text(b, "".join(local), "".join(remote))
        for token in set(local) | set(remote):
            if token.startswith("<"):
                assert out.count(token) == 1, (seed, token, out)
        for line in base:
            if line not in deleted:
                assert out.count(line) <= 1, (seed, line, out)


def test_apply_text_is_minimal_and_exact():
    rnd = random.Random(5)
    doc = crdt.Doc()
    text = doc.get_text("source")
    text.insert(0, "line one\nline two\nline three\n")
    for _ in range(200):
        old = str(text)
        chars = list(old)
        for _ in range(rnd.randint(1, 3)):
            pos = rnd.randint(0, len(chars))
            if chars and rnd.random() < 0.4:
                del chars[min(pos, len(chars) - 1)]
            else:
                chars.insert(pos, rnd.choice("ab\n"))
        new = "".join(chars)
        assert apply_hunks(old, new, diff_text(old, new, granularity="lines")) == new
        apply_text(text, new, granularity="lines")
        assert str(text) == new
