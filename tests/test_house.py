"""The house rules of zoo's source, held by tests: no import cycle among zoo modules (counting every import:
module level, inside functions, under ``if TYPE_CHECKING:``), no module over 400 lines, no function over 60
(wherever it is defined, module-level ``if``/``try`` included), at most 8 loose modules in zoo/, and the
registry fetched in at most 4 files (docs/architecture.md). Read from the source with ``ast``, so the tests
import nothing and see every module, registered or not."""

from __future__ import annotations

import ast
from pathlib import Path

import pytest

ROOT = Path(__file__).resolve().parent.parent / "zoo"
MAX_MODULE_LINES = 400
MAX_FUNCTION_LINES = 60
# (module, qualified function) -> why it may be longer; keep this empty unless a split would hurt reading
LONG_FUNCTIONS: dict[tuple[str, str], str] = {}
LONG_MODULES: dict[str, str] = {}


def _modules() -> dict[str, Path]:
    """Dotted module name -> file, for every module of the zoo package."""
    out = {}
    for path in sorted(ROOT.rglob("*.py")):
        parts = path.relative_to(ROOT.parent).with_suffix("").parts
        out[".".join(parts[:-1] if parts[-1] == "__init__" else parts)] = path
    return out


def _imported(tree: ast.AST, module: str, known: set[str]) -> set[str]:
    """The zoo modules ``module`` imports anywhere: module level, inside functions, under ``if TYPE_CHECKING:``
    (a circle that only type checkers walk is still a circle a reader walks). ``from a import b`` counts
    ``a.b`` when it is a module."""
    found: set[str] = set()
    package = module if (ROOT.parent / module.replace(".", "/") / "__init__.py").exists() else module.rpartition(".")[0]
    stack = [tree]
    while stack:
        node = stack.pop()
        stack.extend(ast.iter_child_nodes(node))
        if isinstance(node, ast.Import):
            found.update(alias.name for alias in node.names)
        elif isinstance(node, ast.ImportFrom):
            base = node.module or ""
            if node.level:  # relative: from the package this module lives in
                anchor = package.split(".")[: len(package.split(".")) - node.level + 1]
                base = ".".join([*anchor, *([base] if base else [])])
            found.add(base)
            found.update(f"{base}.{alias.name}" for alias in node.names)
    return {name for name in found if name in known and name != module}


def import_graph() -> dict[str, set[str]]:
    modules = _modules()
    return {name: _imported(ast.parse(path.read_text()), name, set(modules)) for name, path in modules.items()}


def cycles(graph: dict[str, set[str]]) -> list[list[str]]:
    """The strongly connected components with more than one module (Tarjan), each sorted."""
    index: dict[str, int] = {}
    low: dict[str, int] = {}
    stack: list[str] = []
    on_stack: set[str] = set()
    found: list[list[str]] = []

    def visit(v: str) -> None:
        index[v] = low[v] = len(index)
        stack.append(v)
        on_stack.add(v)
        for w in sorted(graph[v]):
            if w not in index:
                visit(w)
                low[v] = min(low[v], low[w])
            elif w in on_stack:
                low[v] = min(low[v], index[w])
        if low[v] == index[v]:
            component = []
            while True:
                w = stack.pop()
                on_stack.discard(w)
                component.append(w)
                if w == v:
                    break
            if len(component) > 1:
                found.append(sorted(component))

    for v in sorted(graph):
        if v not in index:
            visit(v)
    return found


def _is_package_export(graph: dict[str, set[str]], component: list[str]) -> bool:
    """A package whose ``__init__`` re-exports its submodules, and submodules that import each other
    through their full names, form a cycle only through the package itself: Python imports the package
    first, so that is no cycle at run time (``zoo.train`` and ``zoo.train.loop``). Anything else is."""
    packages = [m for m in component if any(o.startswith(m + ".") for o in component)]
    rest = [m for m in component if m not in packages]
    sub = {m: graph[m] & set(rest) for m in rest}
    return bool(packages) and not cycles(sub)


def test_the_import_graph_has_no_cycle() -> None:
    graph = import_graph()
    assert "zoo.train.loop" in graph and "zoo.config.spec" in graph["zoo.data.prepare"]  # the walk sees real edges
    bad = [c for c in cycles(graph) if not _is_package_export(graph, c)]
    assert not bad, "import cycles among zoo modules: " + "; ".join(" <-> ".join(c) for c in bad)


def test_the_cycle_finder_finds_cycles() -> None:
    graph = {"a": {"b"}, "b": {"c"}, "c": {"a"}, "d": {"a"}, "p": {"p.x"}, "p.x": {"p"}}
    assert cycles(graph) == [["a", "b", "c"], ["p", "p.x"]]
    assert _is_package_export(graph, ["p", "p.x"]) and not _is_package_export(graph, ["a", "b", "c"])


def _long_functions(tree: ast.AST, prefix: str = "") -> list[tuple[str, int]]:
    """Functions over the limit, found at any depth: in classes, in functions, and under module-level control
    flow (``if``, ``try``, ``with``), where a walk of direct children alone would miss them."""
    out = []
    for node in ast.iter_child_nodes(tree):
        if isinstance(node, (ast.FunctionDef, ast.AsyncFunctionDef, ast.ClassDef)):
            name = f"{prefix}{node.name}"
            if not isinstance(node, ast.ClassDef):
                first = min([node.lineno, *(d.lineno for d in node.decorator_list)])
                if node.end_lineno - first + 1 > MAX_FUNCTION_LINES:
                    out.append((name, node.end_lineno - first + 1))
            out += _long_functions(node, f"{name}.")
        else:
            out += _long_functions(node, prefix)
    return out


@pytest.mark.parametrize("module", sorted(_modules()))
def test_modules_and_functions_stay_small(module: str) -> None:
    source = _modules()[module].read_text()
    lines = len(source.splitlines())
    if module not in LONG_MODULES:
        assert lines <= MAX_MODULE_LINES, f"{module} has {lines} lines (at most {MAX_MODULE_LINES}): split it"
    long = [(f, n) for f, n in _long_functions(ast.parse(source)) if (module, f) not in LONG_FUNCTIONS]
    assert not long, f"{module}: functions over {MAX_FUNCTION_LINES} lines: {long}"


def test_the_walk_sees_type_checking_imports_and_functions_under_control_flow() -> None:
    tree = ast.parse("from typing import TYPE_CHECKING\nif TYPE_CHECKING:\n    import zoo.b\n")
    assert _imported(tree, "zoo.a", {"zoo.a", "zoo.b"}) == {"zoo.b"}
    body = "\n".join(f"        x{i} = {i}" for i in range(MAX_FUNCTION_LINES))
    hidden = ast.parse(f"try:\n    import x\nexcept ImportError:\n    def fallback():\n{body}\n")
    assert [name for name, _ in _long_functions(hidden)] == ["fallback"]


MAX_LOOSE_MODULES = 8  # zoo/*.py; everything else lives in a package named for its concept (docs/architecture.md)
MAX_REGISTRY_FETCHERS = 4  # files that call get_registry(): the edges (CLI, Python API, plugin loader, a worker)


def test_few_loose_modules() -> None:
    loose = sorted(p.name for p in ROOT.glob("*.py"))
    assert len(loose) <= MAX_LOOSE_MODULES, f"{len(loose)} loose modules in zoo/ (at most {MAX_LOOSE_MODULES}): {loose}"


def test_the_registry_is_handed_not_fetched() -> None:
    fetchers = sorted(str(p.relative_to(ROOT.parent)) for p in ROOT.rglob("*.py")
                      if any(isinstance(n, ast.Call) and ast.unparse(n.func).endswith("get_registry")
                             for n in ast.walk(ast.parse(p.read_text()))))
    assert len(fetchers) <= MAX_REGISTRY_FETCHERS, f"get_registry() is called in {len(fetchers)} files: {fetchers}"
