"""One engine boundary (issue 14): ``jupyter_crdt`` uses only the public API of ``crdt``.

Allowed: ``import crdt`` and names ``crdt`` exports, and the public modules ``crdt.inspect``, ``crdt.sync``,
``crdt.limits``, ``crdt.files``. Not allowed: any other ``crdt`` module, a name ``crdt`` does not export, and
the engine's private state (``._start``, ``._item``, ``._map``, ``._name``, ``doc.store``).
"""

from __future__ import annotations

import ast
import re
from pathlib import Path

import crdt

ROOT = Path(__file__).resolve().parents[2] / "jupyter_crdt"
PUBLIC_MODULES = {"crdt", "crdt.inspect", "crdt.sync", "crdt.limits", "crdt.files"}
# Engine state that is private: read through crdt.inspect instead.
PRIVATE_STATE = re.compile(
    r"\.(_start|_item|_map|_name|_nests|_length|_prelim)\b|\bdoc\.store\b|\.store\.(clients|pending)")

# Modules still crossing the boundary, converted on another branch (the server's); the second test makes
# sure each entry still needs to be here, so the list only shrinks.
NOT_YET_CONVERTED: set[str] = set()


def _violations(path: Path) -> list[str]:
    source = path.read_text(encoding="utf-8")
    tree = ast.parse(source)
    out = []
    for node in ast.walk(tree):
        if isinstance(node, ast.Import):
            for alias in node.names:
                if alias.name.split(".")[0] == "crdt" and alias.name not in PUBLIC_MODULES:
                    out.append(f"line {node.lineno}: import {alias.name}")
        elif isinstance(node, ast.ImportFrom) and node.module and node.module.split(".")[0] == "crdt":
            if node.module not in PUBLIC_MODULES:
                out.append(f"line {node.lineno}: from {node.module} import ...")
            elif node.module == "crdt":
                for alias in node.names:
                    if alias.name not in crdt.__all__:
                        out.append(f"line {node.lineno}: from crdt import {alias.name} (not exported)")
    # Private attributes of engine objects (the package's own classes may use their own privates: self./cls.)
    for lineno, line in enumerate(source.splitlines(), 1):
        code = line.split("#", 1)[0]
        for m in PRIVATE_STATE.finditer(code):
            before = code[: m.start()]
            if before.endswith(("self", "cls")):
                continue
            out.append(f"line {lineno}: {m.group(0)}")
    return out


def _modules() -> list[Path]:
    return sorted(p for p in ROOT.rglob("*.py") if "labextension" not in p.parts)


def test_jupyter_crdt_uses_only_the_public_engine_api():
    problems = {}
    for path in _modules():
        rel = path.relative_to(ROOT).as_posix()
        if rel in NOT_YET_CONVERTED:
            continue
        found = _violations(path)
        if found:
            problems[rel] = found
    assert not problems, f"private crdt API used outside crdt: {problems}"


def test_the_not_yet_converted_list_is_current():
    stale = [rel for rel in sorted(NOT_YET_CONVERTED) if not _violations(ROOT / rel)]
    assert not stale, f"these use only the public API now: remove them from NOT_YET_CONVERTED: {stale}"


def test_the_check_sees_a_violation(tmp_path):
    bad = tmp_path / "bad.py"
    bad.write_text("from crdt.store import find_index\nfrom crdt import History, Item\nx = t._start\n"
                   "import crdt.update_decoder\nn = doc.store.clients\nok = self._start\n")
    found = _violations(bad)
    assert len(found) == 5, found
