"""Dependencies point one way, read from the source (every import statement, also those inside functions).

- No import cycles among the repository's modules (``app``, ``chalicelib``, ``streaming``, ``devstack``,
  ``parley_infra``, ``cli``).
- Production code (``app``, ``chalicelib``, ``streaming``, ``parley_infra``) never imports ``devstack`` or ``tests``.
- ``chalicelib`` imports Chalice only in ``chalicelib/api/``; the rest of it (the core) never imports the API
  layer nor ``app``.
- The streaming service imports only the core of ``chalicelib``: not ``chalicelib.api``, ``chalicelib.workers``
  (the Lambda event handlers), ``app`` nor Chalice.
"""
from __future__ import annotations

import ast
from collections.abc import Iterator
from dataclasses import dataclass
from pathlib import Path

import pytest

REPO = Path(__file__).resolve().parents[1]
PACKAGE_DIRS = {
    "chalicelib": REPO / "chalicelib",
    "streaming": REPO / "streaming-fargate" / "streaming",
    "devstack": REPO / "devstack",
    "parley_infra": REPO / "infra" / "parley_infra",
    "cli": REPO / "cli",
}
PRODUCTION = ("app", "chalicelib", "streaming", "parley_infra")


@dataclass(frozen=True)
class Import:
    importer: str
    imported: str  # the module as written, or ``module.name`` for ``from module import name``
    line: int


def _modules() -> dict[str, Path]:
    found = {"app": REPO / "app.py"}
    for package, directory in PACKAGE_DIRS.items():
        for path in sorted(directory.rglob("*.py")):
            parts = [package, *path.relative_to(directory).with_suffix("").parts]
            if parts[-1] == "__init__":
                parts.pop()
            found[".".join(parts)] = path
    return found


MODULES = _modules()


def _imports(module: str, path: Path) -> Iterator[Import]:
    package = module if path.name == "__init__.py" else module.rpartition(".")[0]
    for node in ast.walk(ast.parse(path.read_text(), str(path))):
        if isinstance(node, ast.Import):
            for alias in node.names:
                yield Import(module, alias.name, node.lineno)
        elif isinstance(node, ast.ImportFrom):
            base = node.module or ""
            if node.level:
                anchor = package.split(".")
                anchor = anchor[: len(anchor) - (node.level - 1)]
                base = ".".join([*anchor, base] if base else anchor)
            for alias in node.names:
                yield Import(module, f"{base}.{alias.name}", node.lineno)
            yield Import(module, base, node.lineno)


IMPORTS = [imp for module, path in MODULES.items() for imp in _imports(module, path)]


def _resolve(name: str) -> str | None:
    """The repository module an import loads (its longest known prefix), or None for third-party ones."""
    while name:
        if name in MODULES:
            return name
        name = name.rpartition(".")[0]
    return None


def _within(name: str, *prefixes: str) -> bool:
    return any(name == prefix or name.startswith(prefix + ".") for prefix in prefixes)


def _graph() -> dict[str, set[str]]:
    graph: dict[str, set[str]] = {module: set() for module in MODULES}
    for imp in IMPORTS:
        target = _resolve(imp.imported)
        if target is not None and target != imp.importer and not _within(imp.importer, target):
            graph[imp.importer].add(target)  # a module's own package (its __init__) is not a dependency
    return graph


def _cycles(graph: dict[str, set[str]]) -> list[list[str]]:
    """Strongly connected components of more than one module (Tarjan), each sorted."""
    index: dict[str, int] = {}
    low: dict[str, int] = {}
    stack: list[str] = []
    on_stack: set[str] = set()
    found: list[list[str]] = []

    def visit(node: str) -> None:
        index[node] = low[node] = len(index)
        stack.append(node)
        on_stack.add(node)
        for nxt in sorted(graph[node]):
            if nxt not in index:
                visit(nxt)
                low[node] = min(low[node], low[nxt])
            elif nxt in on_stack:
                low[node] = min(low[node], index[nxt])
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

    for node in sorted(graph):
        if node not in index:
            visit(node)
    return found


def _violations(importers: tuple[str, ...], forbidden: tuple[str, ...],
                exempt: tuple[str, ...] = ()) -> list[str]:
    return sorted({f"{imp.importer}:{imp.line} imports {imp.imported}" for imp in IMPORTS
                   if _within(imp.importer, *importers) and not _within(imp.importer, *exempt)
                   and _within(imp.imported, *forbidden)})


def test_the_graph_sees_the_repository() -> None:
    graph = _graph()
    assert {"app", "chalicelib.domain.call_state", "streaming.server", "devstack.runner"} <= set(graph)
    assert "chalicelib.api.openapi" in graph["app"]
    assert "chalicelib.db.models" in graph["chalicelib.domain.call_state"]


def test_no_import_cycles() -> None:
    assert _cycles(_graph()) == []


def test_cycle_finder_finds_a_cycle() -> None:
    assert _cycles({"a": {"b"}, "b": {"c"}, "c": {"a"}, "d": {"a"}}) == [["a", "b", "c"]]


def test_production_code_never_imports_devstack_or_tests() -> None:
    assert _violations(PRODUCTION, ("devstack", "tests")) == []


def test_chalicelib_imports_chalice_only_in_its_api_layer() -> None:
    assert _violations(("chalicelib",), ("chalice",), exempt=("chalicelib.api",)) == []


def test_chalicelib_core_never_imports_the_api_layer_or_the_app() -> None:
    assert _violations(("chalicelib",), ("chalicelib.api", "app"), exempt=("chalicelib.api",)) == []


@pytest.mark.parametrize("forbidden", ["chalicelib.api", "chalicelib.workers", "app", "chalice"])
def test_streaming_imports_only_the_core_of_chalicelib(forbidden: str) -> None:
    assert _violations(("streaming",), (forbidden,)) == []
