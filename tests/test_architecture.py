"""The architecture of `crdt` and `jupyter_crdt` (docs/architecture.md), checked from the source with `ast`.

- No import cycle, counting imports inside functions (they run, just later) and leaving out
  `if TYPE_CHECKING:` blocks (they never run). A cycle is printed module by module, with the line of each
  import.
- No module over 600 lines and no class over 300, except the allow-list in docs/architecture.md, which this
  test reads (so the doc and the test cannot disagree; a listed entry that is no longer over is stale).
- Outside `crdt/`, the engine is reached only through its public surface: `crdt`, `crdt.inspect`, `crdt.sync`,
  `crdt.limits`, `crdt.files`; no `_private` name of it is imported or read as an attribute.
- The engine imports nothing of Jupyter.

import-linter (in .ci/run) checks the layers; this test checks what it cannot: cycles inside a layer, sizes,
private attributes. Each checker is also run on a tiny synthetic package, so each can fail.
"""

from __future__ import annotations

import ast
import re
import sys
from collections import deque
from collections.abc import Iterable, Iterator
from dataclasses import dataclass, field
from pathlib import Path

ROOT = Path(__file__).resolve().parent.parent
PACKAGES = ("crdt", "jupyter_crdt")
ARCHITECTURE_DOC = ROOT / "docs" / "architecture.md"
# The heading of the allow-list's section in docs/architecture.md.
EXCEPTIONS_HEADING = "## Exceptions to the size limits"

MAX_MODULE_LINES = 600
MAX_CLASS_LINES = 300

ENGINE = "crdt"
# What code outside the engine may import from it (docs/architecture.md, "The engine boundary").
ENGINE_PUBLIC = frozenset({"crdt", "crdt.inspect", "crdt.sync", "crdt.limits", "crdt.files"})
# Top-level distributions of Jupyter: the engine imports none of them (not even for type checking).
JUPYTER = frozenset({
    "jupyter_crdt", "jupyter_server", "jupyter_core", "jupyter_client", "jupyter_events", "jupyter_ydoc",
    "jupyter_server_fileid", "jupyter_server_ydoc", "jupyter_collaboration", "jupyterlab", "notebook",
    "nbformat", "nbclient", "nbconvert", "nbdime", "IPython", "ipykernel", "ipywidgets", "traitlets",
    "tornado",
})
# What the engine may import besides itself and the standard library (docs/architecture.md).
ENGINE_THIRD_PARTY = frozenset({"msgpack"})


# ----------------------------------------------------------------------------------------------------------
# Reading the source


@dataclass(frozen=True)
class Import:
    """One import statement's target, as far as the source says."""

    importer: str  # the importing module, dotted
    target: str  # the imported module, or the package a name is taken from (dotted, absolute)
    names: tuple[str, ...]  # `from target import names` (empty for `import target`)
    line: int
    type_checking: bool  # inside an `if TYPE_CHECKING:` block (never runs)


@dataclass
class Module:
    name: str
    path: Path
    is_package: bool
    tree: ast.Module
    lines: int


@dataclass
class Source:
    """The modules of some packages under one root directory, parsed once."""

    root: Path
    modules: dict[str, Module] = field(default_factory=dict)

    @classmethod
    def read(cls, root: Path, packages: Iterable[str]) -> Source:
        source = cls(root)
        for package in packages:
            for path in sorted((root / package).rglob("*.py")):
                rel = path.relative_to(root)
                if any(not part.isidentifier() for part in rel.parts[:-1]):
                    continue  # not importable (a build output, node_modules, ...)
                parts = list(rel.with_suffix("").parts)
                is_package = parts[-1] == "__init__"
                if is_package:
                    parts.pop()
                text = path.read_text(encoding="utf-8")
                name = ".".join(parts)
                source.modules[name] = Module(
                    name, path, is_package, ast.parse(text, filename=str(path)), len(text.splitlines())
                )
        return source

    def rel(self, module: str) -> str:
        return self.modules[module].path.relative_to(self.root).as_posix()

    def imports(self, module: str) -> Iterator[Import]:
        """Every import in `module`, at any depth, with relative imports made absolute."""
        mod = self.modules[module]
        package = module if mod.is_package else module.rpartition(".")[0]
        for node, type_checking in _walk_imports(mod.tree, False):
            if isinstance(node, ast.Import):
                for alias in node.names:
                    yield Import(module, alias.name, (), node.lineno, type_checking)
                continue
            if node.level:
                base = package.split(".")
                if node.level > 1:
                    base = base[: len(base) - (node.level - 1)]
                target = ".".join(base + ([node.module] if node.module else []))
            else:
                target = node.module or ""
            yield Import(module, target, tuple(a.name for a in node.names), node.lineno, type_checking)

    def resolve(self, target: str) -> str | None:
        """The module of ours that importing `target` runs last: itself, or its closest known ancestor."""
        while target:
            if target in self.modules:
                return target
            target = target.rpartition(".")[0]
        return None

    def edges(self, imp: Import) -> list[str]:
        """The modules of ours an import depends on. `from pkg import mod` depends on `pkg.mod`, not on
        `pkg`'s `__init__` (as grimp and import-linter count it); `from pkg import name` depends on `pkg`."""
        if not imp.names:
            found = self.resolve(imp.target)
            return [found] if found else []
        out: list[str] = []
        for name in imp.names:
            sub = f"{imp.target}.{name}"
            if sub in self.modules:
                out.append(sub)
            else:
                found = self.resolve(imp.target)
                if found and found not in out:
                    out.append(found)
        return out


def _is_type_checking(test: ast.expr) -> bool:
    if isinstance(test, ast.Name):
        return test.id == "TYPE_CHECKING"
    return isinstance(test, ast.Attribute) and test.attr == "TYPE_CHECKING"


def _walk_imports(node: ast.AST, type_checking: bool) -> Iterator[tuple[ast.Import | ast.ImportFrom, bool]]:
    for child in ast.iter_child_nodes(node):
        if isinstance(child, (ast.Import, ast.ImportFrom)):
            yield child, type_checking
        elif isinstance(child, ast.If) and _is_type_checking(child.test):
            for stmt in child.body:
                yield from _walk_imports(ast.Module(body=[stmt], type_ignores=[]), True)
            for stmt in child.orelse:
                yield from _walk_imports(ast.Module(body=[stmt], type_ignores=[]), type_checking)
        else:
            yield from _walk_imports(child, type_checking)


# ----------------------------------------------------------------------------------------------------------
# (a) Cycles


def import_graph(source: Source) -> dict[str, dict[str, int]]:
    """module -> {module of ours it imports -> line of the first such import}; TYPE_CHECKING left out."""
    graph: dict[str, dict[str, int]] = {name: {} for name in source.modules}
    for name in source.modules:
        for imp in source.imports(name):
            if imp.type_checking:
                continue
            for target in source.edges(imp):
                if target != name:
                    graph[name].setdefault(target, imp.line)
    return graph


def strongly_connected(graph: dict[str, dict[str, int]]) -> list[list[str]]:
    """Tarjan's components with more than one module, iterative (no recursion limit on deep graphs)."""
    index: dict[str, int] = {}
    low: dict[str, int] = {}
    stack: list[str] = []
    on_stack: set[str] = set()
    found: list[list[str]] = []
    counter = 0
    for start in sorted(graph):
        if start in index:
            continue
        work: list[tuple[str, Iterator[str]]] = [(start, iter(sorted(graph[start])))]
        index[start] = low[start] = counter
        counter += 1
        stack.append(start)
        on_stack.add(start)
        while work:
            node, children = work[-1]
            child = next(children, None)
            if child is not None:
                if child not in index:
                    index[child] = low[child] = counter
                    counter += 1
                    stack.append(child)
                    on_stack.add(child)
                    work.append((child, iter(sorted(graph[child]))))
                elif child in on_stack:
                    low[node] = min(low[node], index[child])
                continue
            work.pop()
            if work:
                parent = work[-1][0]
                low[parent] = min(low[parent], low[node])
            if low[node] == index[node]:
                component = []
                while True:
                    member = stack.pop()
                    on_stack.discard(member)
                    component.append(member)
                    if member == node:
                        break
                if len(component) > 1:
                    found.append(sorted(component))
    return sorted(found)


def shortest_cycle(graph: dict[str, dict[str, int]], component: list[str]) -> list[str]:
    """A shortest cycle through the component's first module, staying inside the component."""
    inside = set(component)
    start = component[0]
    came_from: dict[str, str] = {}
    queue = deque([start])
    while queue:
        node = queue.popleft()
        for child in sorted(graph[node]):
            if child not in inside:
                continue
            if child == start:
                path = [node]
                while path[-1] != start:
                    path.append(came_from[path[-1]])
                return [*reversed(path), start]
            if child not in came_from:
                came_from[child] = node
                queue.append(child)
    raise AssertionError(f"no cycle through {start} in {component}")  # a component always has one


def cycles(source: Source) -> list[str]:
    """One line per cycle: `a (l.3) -> b (l.12) -> a`, then how many modules its component holds."""
    graph = import_graph(source)
    out = []
    for component in strongly_connected(graph):
        path = shortest_cycle(graph, component)
        hops = " -> ".join(f"{a} (l.{graph[a][b]})" for a, b in zip(path, path[1:], strict=False))
        extra = f"  [one of the cycles among {len(component)} modules: {', '.join(component)}]"
        out.append(f"{hops} -> {path[-1]}" + (extra if len(component) > len(path) - 1 else ""))
    return out


# ----------------------------------------------------------------------------------------------------------
# (b) Sizes


def size_exceptions(doc: Path) -> dict[str, str]:
    """The allow-list in the doc: a table under EXCEPTIONS_HEADING whose first column is `path` (a module) or
    `path::Class` (a class), and last column the reason."""
    text = doc.read_text(encoding="utf-8")
    start = text.find(EXCEPTIONS_HEADING + "\n")
    assert start >= 0, f"{doc} has no section {EXCEPTIONS_HEADING!r}"
    section = text[start + len(EXCEPTIONS_HEADING) :]
    following = re.search(r"^#{1,2} ", section, re.MULTILINE)
    section = section[: following.start()] if following else section
    out: dict[str, str] = {}
    rows = [line for line in section.splitlines() if line.startswith("|")]
    for row in rows[2:]:  # after the header and its --- line
        cells = [cell.strip() for cell in row.strip().strip("|").split("|")]
        key = cells[0].strip("`")
        reason = cells[-1]
        assert len(cells) >= 2 and reason, f"{doc}: an exception without a reason: {row}"
        assert key not in out, f"{doc}: {key} listed twice"
        out[key] = reason
    return out


def oversized(source: Source) -> dict[str, int]:
    """`path` -> lines of each module over the limit, `path::Class` -> lines of each class over the limit
    (nested classes named `Outer.Inner`; a class counts from its first decorator to its last line)."""
    out: dict[str, int] = {}
    for name, mod in source.modules.items():
        rel = source.rel(name)
        if mod.lines > MAX_MODULE_LINES:
            out[rel] = mod.lines
        for qualname, node in _classes(mod.tree, ""):
            first = min([node.lineno, *(d.lineno for d in node.decorator_list)])
            length = (node.end_lineno or node.lineno) - first + 1
            if length > MAX_CLASS_LINES:
                out[f"{rel}::{qualname}"] = length
    return out


def _classes(node: ast.AST, prefix: str) -> Iterator[tuple[str, ast.ClassDef]]:
    for child in ast.iter_child_nodes(node):
        if isinstance(child, ast.ClassDef):
            qualname = prefix + child.name
            yield qualname, child
            yield from _classes(child, qualname + ".")
        else:
            yield from _classes(child, prefix)


def size_problems(source: Source, allowed: dict[str, str]) -> list[str]:
    found = oversized(source)
    problems = [
        f"{key}: {lines} lines (limit {MAX_CLASS_LINES if '::' in key else MAX_MODULE_LINES})"
        for key, lines in sorted(found.items())
        if key not in allowed
    ]
    problems += [
        f"{key}: listed as an exception but within the limit now (or gone): remove it from the list"
        for key in sorted(allowed)
        if key not in found
    ]
    return problems


# ----------------------------------------------------------------------------------------------------------
# (c) The engine boundary


def _private(name: str) -> bool:
    return name.startswith("_") and not (name.startswith("__") and name.endswith("__"))


def engine_private_attributes(source: Source, engine: str = ENGINE) -> set[str]:
    """The `_private` attribute names the engine defines (methods, class attributes, `self._x = ...`) and the
    rest of the code does not define for itself: reading one of these on an object outside the engine is
    reading the engine's private state."""

    def defined(prefix: str, inside: bool) -> set[str]:
        names: set[str] = set()
        for name, mod in source.modules.items():
            if (name == prefix or name.startswith(prefix + ".")) != inside:
                continue
            for node in ast.walk(mod.tree):
                if isinstance(node, ast.ClassDef):
                    for stmt in node.body:
                        if isinstance(stmt, (ast.FunctionDef, ast.AsyncFunctionDef, ast.ClassDef)):
                            names.add(stmt.name)
                        elif isinstance(stmt, ast.Assign):
                            names.update(t.id for t in stmt.targets if isinstance(t, ast.Name))
                        elif isinstance(stmt, ast.AnnAssign) and isinstance(stmt.target, ast.Name):
                            names.add(stmt.target.id)
                    for slot in _slots(node):
                        names.add(slot)
                targets: list[ast.expr] = []
                if isinstance(node, ast.Assign):
                    targets = list(node.targets)
                elif isinstance(node, (ast.AnnAssign, ast.AugAssign)):
                    targets = [node.target]
                for target in targets:
                    if isinstance(target, ast.Attribute):
                        names.add(target.attr)
        return {n for n in names if _private(n)}

    return defined(engine, True) - defined(engine, False)


def _slots(node: ast.ClassDef) -> list[str]:
    for stmt in node.body:
        if (
            isinstance(stmt, ast.Assign)
            and any(isinstance(t, ast.Name) and t.id == "__slots__" for t in stmt.targets)
            and isinstance(stmt.value, (ast.Tuple, ast.List))
        ):
            elts = stmt.value.elts
            return [e.value for e in elts if isinstance(e, ast.Constant) and isinstance(e.value, str)]
    return []


def boundary_problems(
    source: Source, engine: str = ENGINE, public: frozenset[str] = ENGINE_PUBLIC
) -> list[str]:
    """Imports of the engine's non-public modules or `_private` names, and reads of its private attributes,
    from every module outside the engine (TYPE_CHECKING imports included: they are still the boundary)."""
    problems: list[str] = []
    private_attributes = engine_private_attributes(source, engine)
    for name in sorted(source.modules):
        if name == engine or name.startswith(engine + "."):
            continue
        rel = source.rel(name)
        for imp in source.imports(name):
            if imp.target != engine and not imp.target.startswith(engine + "."):
                continue
            where = f"{rel}:{imp.line}"
            if any(_private(part) for part in imp.target.split(".")):
                problems.append(f"{where}: imports the private module {imp.target}")
            elif imp.target not in public:
                problems.append(f"{where}: imports {imp.target}, not a public module of {engine}")
            for imported in imp.names:
                sub = f"{imp.target}.{imported}"
                if _private(imported):
                    problems.append(f"{where}: imports the private name {imported} from {imp.target}")
                elif sub in source.modules and sub not in public:
                    problems.append(f"{where}: imports {sub}, not a public module of {engine}")
        for node in ast.walk(source.modules[name].tree):
            if isinstance(node, ast.Attribute):
                owner = node.value
                if isinstance(owner, ast.Name) and owner.id == engine:
                    # `crdt.store.X` after `import crdt`: a module reached through the package's attributes
                    sub = f"{engine}.{node.attr}"
                    if sub in source.modules and sub not in public:
                        problems.append(f"{rel}:{node.lineno}: uses {sub}, not a public module of {engine}")
                elif node.attr in private_attributes and not (
                    isinstance(owner, ast.Name) and owner.id in {"self", "cls"}
                ):
                    problems.append(f"{rel}:{node.lineno}: reads {node.attr}, private state of {engine}")
                elif node.attr == "store" and _names_a_doc(owner):
                    # a document's struct store is the engine's inside (crdt.inspect answers questions on it)
                    problems.append(f"{rel}:{node.lineno}: reads a document's store, engine state")
            elif (
                isinstance(node, ast.Call)
                and isinstance(node.func, ast.Name)
                and node.func.id in {"getattr", "setattr", "hasattr", "delattr"}
                and len(node.args) >= 2
                and isinstance(node.args[1], ast.Constant)
                and node.args[1].value in private_attributes
            ):
                problems.append(f"{rel}:{node.lineno}: reads {node.args[1].value}, private state of {engine}")
    # by file and line (stable: one line's problems stay in the order found)
    return sorted(problems, key=lambda p: (p.split(":")[0], int(p.split(":")[1])))


def _names_a_doc(node: ast.expr) -> bool:
    """Whether ``node`` reads as a document: ``doc``, ``view_doc``, ``x.doc``."""
    name = node.id if isinstance(node, ast.Name) else node.attr if isinstance(node, ast.Attribute) else ""
    return name == "doc" or name.endswith("_doc")


# ----------------------------------------------------------------------------------------------------------
# (d) The engine without Jupyter


def _imports_of(source: Source, package: str) -> Iterator[tuple[str, Import]]:
    for name in sorted(source.modules):
        if name == package or name.startswith(package + "."):
            for imp in source.imports(name):
                yield source.rel(name), imp


def foreign_imports(source: Source, package: str, forbidden: frozenset[str]) -> list[str]:
    """Every import in `package` of a top-level package in `forbidden`, wherever it is (TYPE_CHECKING too)."""
    return [
        f"{rel}:{imp.line}: imports {imp.target}"
        for rel, imp in _imports_of(source, package)
        if imp.target.partition(".")[0] in forbidden
    ]


def unlisted_imports(source: Source, package: str, allowed: frozenset[str]) -> list[str]:
    """Every import in `package` of something not in the standard library, `package` or `allowed`."""
    everything = frozenset(sys.stdlib_module_names) | allowed | {package, "__future__"}
    return [
        f"{rel}:{imp.line}: imports {imp.target}"
        for rel, imp in _imports_of(source, package)
        if imp.target.partition(".")[0] not in everything
    ]


# ----------------------------------------------------------------------------------------------------------
# The checks on this repository


_SOURCE: Source | None = None


def repository() -> Source:
    global _SOURCE
    if _SOURCE is None:
        _SOURCE = Source.read(ROOT, PACKAGES)
    return _SOURCE


def _report(title: str, problems: list[str]) -> str:
    return f"{title} ({len(problems)}):\n  " + "\n  ".join(problems)


def test_no_import_cycle() -> None:
    found = cycles(repository())
    assert not found, _report("import cycles (imports in functions included, TYPE_CHECKING left out)", found)


def test_module_and_class_sizes() -> None:
    problems = size_problems(repository(), size_exceptions(ARCHITECTURE_DOC))
    assert not problems, _report(
        f"modules over {MAX_MODULE_LINES} lines, classes over {MAX_CLASS_LINES} lines, not in "
        f"{ARCHITECTURE_DOC.relative_to(ROOT)} ({EXCEPTIONS_HEADING[3:]})",
        problems,
    )


def test_engine_reached_only_through_its_public_surface() -> None:
    problems = boundary_problems(repository())
    assert not problems, _report(
        f"outside crdt/, only {', '.join(sorted(ENGINE_PUBLIC))} and their public names", problems
    )


def test_engine_imports_nothing_of_jupyter() -> None:
    problems = foreign_imports(repository(), ENGINE, JUPYTER)
    assert not problems, _report("Jupyter imported by the engine", problems)


def test_engine_imports_only_the_standard_library_and_msgpack() -> None:
    problems = unlisted_imports(repository(), ENGINE, ENGINE_THIRD_PARTY)
    assert not problems, _report("the engine imports beyond the standard library and msgpack", problems)


def test_packages_ship_type_information() -> None:
    # PEP 561: without py.typed, mypy in a project that uses ours ignores our annotations
    missing = [p for p in PACKAGES if not (ROOT / p / "py.typed").is_file()]
    assert not missing, f"no py.typed in {', '.join(missing)}"


def test_every_package_is_read() -> None:
    # the checks above pass vacuously on nothing: make sure they saw the code
    source = repository()
    expected = {"crdt", "crdt.sync", "jupyter_crdt", "jupyter_crdt.server", "jupyter_crdt.cli"}
    assert expected <= set(source.modules)
    assert any(imp.target.startswith("jupyter_crdt.") for imp in source.imports("jupyter_crdt.cli"))
    assert any(imp.target.startswith("crdt") for imp in source.imports("jupyter_crdt.notebook"))


# ----------------------------------------------------------------------------------------------------------
# The checkers on a synthetic package, so each is seen to fail


def _package(tmp_path: Path, files: dict[str, str]) -> Source:
    for rel, text in files.items():
        path = tmp_path / rel
        path.parent.mkdir(parents=True, exist_ok=True)
        path.write_text(text, encoding="utf-8")
    return Source.read(tmp_path, sorted({rel.split("/")[0] for rel in files}))


def test_checker_finds_a_cycle_through_a_function_level_import(tmp_path: Path) -> None:
    source = _package(tmp_path, {
        "eng/__init__.py": "",
        "eng/a.py": "from . import b\n",  # `from pkg import module` is an edge to the module
        "eng/b.py": "def f():\n    from eng.c import g\n    return g\n",  # runs later, still a cycle
        "eng/c.py": "import os\n\n\nfrom .a import x\n",
    })
    assert cycles(source) == ["eng.a (l.1) -> eng.b (l.2) -> eng.c (l.4) -> eng.a"]


def test_checker_leaves_out_type_checking_and_resolves_relative_imports(tmp_path: Path) -> None:
    source = _package(tmp_path, {
        "eng/__init__.py": "from .sub import thing\n",
        "eng/sub/__init__.py": "from ..util import helper\nfrom .leaf import thing\n",
        "eng/sub/leaf.py": (
            "from typing import TYPE_CHECKING\nimport typing\nif TYPE_CHECKING:\n    from eng import Thing\n"
            "if typing.TYPE_CHECKING:\n    from eng.sub import x\nelse:\n    import eng.util\n"
        ),
        "eng/util.py": "helper = 1\n",
    })
    graph = import_graph(source)
    assert graph["eng.sub"] == {"eng.util": 1, "eng.sub.leaf": 2}
    assert graph["eng.sub.leaf"] == {"eng.util": 8}  # the `else:` of TYPE_CHECKING runs
    assert graph["eng"] == {"eng.sub": 1}
    assert cycles(source) == []
    # the same import outside TYPE_CHECKING is a cycle eng -> eng.sub -> eng.sub.leaf -> eng
    (tmp_path / "eng/sub/leaf.py").write_text("def f():\n    from eng import Thing\n", encoding="utf-8")
    assert cycles(Source.read(tmp_path, ["eng"])) == [
        "eng (l.1) -> eng.sub (l.2) -> eng.sub.leaf (l.2) -> eng"
    ]


def test_checker_finds_an_oversized_module_and_class(tmp_path: Path) -> None:
    big_class = "class Big:\n" + "    x = 1\n" * MAX_CLASS_LINES  # MAX_CLASS_LINES + 1 lines
    source = _package(tmp_path, {
        "eng/__init__.py": "",
        "eng/long.py": "x = 1\n" * (MAX_MODULE_LINES + 1),
        "eng/exact.py": "x = 1\n" * MAX_MODULE_LINES,
        "eng/classes.py": big_class + "class Small:\n    class Inner:\n" + "        y = 2\n" * 10,
    })
    assert oversized(source) == {
        "eng/long.py": MAX_MODULE_LINES + 1,
        "eng/classes.py::Big": MAX_CLASS_LINES + 1,
    }
    assert size_problems(source, {"eng/long.py": "a fast path", "eng/gone.py": "was big"}) == [
        f"eng/classes.py::Big: {MAX_CLASS_LINES + 1} lines (limit {MAX_CLASS_LINES})",
        "eng/gone.py: listed as an exception but within the limit now (or gone): remove it from the list",
    ]


def test_checker_reads_the_exceptions_from_the_doc(tmp_path: Path) -> None:
    doc = tmp_path / "architecture.md"
    doc.write_text(
        f"# A\n\n{EXCEPTIONS_HEADING}\n\nText.\n\n| Module or class | Lines | Reason |\n|---|---|---|\n"
        "| `eng/long.py` | 700 | the one-pass load |\n| `eng/x.py::Y` | 320 | the inlined loop |\n\n"
        "## Next\n\n| `not/this.py` | 1 | other table |\n",
        encoding="utf-8",
    )
    assert size_exceptions(doc) == {"eng/long.py": "the one-pass load", "eng/x.py::Y": "the inlined loop"}
    doc.write_text(f"{EXCEPTIONS_HEADING}\n\n| a | b |\n|---|---|\n| `eng/long.py` | |\n", encoding="utf-8")
    try:
        size_exceptions(doc)
    except AssertionError as error:
        assert "without a reason" in str(error)
    else:
        raise AssertionError("an exception without a reason was accepted")


def test_checker_finds_boundary_crossings(tmp_path: Path) -> None:
    source = _package(tmp_path, {
        "crdt/__init__.py": "from .doc import Doc\n",
        "crdt/doc.py": (
            "class Doc:\n    def __init__(self):\n        self._start = None\n"
            "    def _walk(self):\n        return self._start\n"
        ),
        "crdt/inspect.py": "def _helper():\n    pass\n",
        "crdt/_fast/__init__.py": "",
        "app/__init__.py": "",
        "app/ok.py": "import crdt\nfrom crdt import Doc\nfrom crdt.inspect import decode_update\n"
                     "class Mine:\n    def __init__(self):\n        self._own = 1\n    def f(self, d):\n"
                     "        return self._own, d.walk\n",
        "app/bad.py": (
            "from crdt.doc import Doc\nfrom crdt import _fast\nfrom crdt.inspect import _helper\n"
            "from crdt import doc\nimport crdt._fast\n"
            "def f(d):\n    return d._start, getattr(d, '_walk')\n"
            "def g():\n    return crdt.doc.Doc(), crdt.inspect\n"
            "def h(room):\n    return room.doc.store.clients, room.store\n"
        ),
    })
    assert boundary_problems(source) == [
        "app/bad.py:1: imports crdt.doc, not a public module of crdt",
        "app/bad.py:2: imports the private name _fast from crdt",
        "app/bad.py:3: imports the private name _helper from crdt.inspect",
        "app/bad.py:4: imports crdt.doc, not a public module of crdt",
        "app/bad.py:5: imports the private module crdt._fast",
        "app/bad.py:7: reads _start, private state of crdt",
        "app/bad.py:7: reads _walk, private state of crdt",
        "app/bad.py:9: uses crdt.doc, not a public module of crdt",
        "app/bad.py:11: reads a document's store, engine state",
    ]


def test_checker_finds_jupyter_in_the_engine(tmp_path: Path) -> None:
    source = _package(tmp_path, {
        "crdt/__init__.py": "import json\n",
        "crdt/types.py": "from typing import TYPE_CHECKING\nif TYPE_CHECKING:\n    import nbformat\n"
                         "def f():\n    from jupyter_server.utils import url_path_join\n",
    })
    assert foreign_imports(source, "crdt", JUPYTER) == [
        "crdt/types.py:3: imports nbformat",
        "crdt/types.py:5: imports jupyter_server.utils",
    ]
    (tmp_path / "crdt/wire.py").write_text("import msgpack\nimport zlib\nimport requests\n", encoding="utf-8")
    assert unlisted_imports(Source.read(tmp_path, ["crdt"]), "crdt", frozenset({"msgpack"})) == [
        "crdt/types.py:3: imports nbformat",
        "crdt/types.py:5: imports jupyter_server.utils",
        "crdt/wire.py:3: imports requests",
    ]
