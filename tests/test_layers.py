"""The package's import graph: no cycles, and imports only point down the layers.

Every import is counted, lazy ones inside functions too (they run sooner or later); imports
under ``if TYPE_CHECKING:`` are not (they never run). A new module must be given a layer here.
"""

from __future__ import annotations

import ast
from pathlib import Path

import pytest

PACKAGE = Path(__file__).resolve().parents[1] / "forecaster"

#: Lower layers never import higher ones. Same-layer imports are allowed (but must not cycle).
LAYERS: list[tuple[str, ...]] = [
    ("forecaster", "errors", "contract", "_runtime", "strategies", "metrics", "intervals", "artifacts.layout"),
    ("windows", "data", "baselines", "architectures", "config", "tracking"),
    ("inference", "prepared", "panel", "artifacts.io", "training"),
    ("artifacts.runtime", "artifacts.run", "artifacts.cell", "artifacts", "checkpoint", "scoring"),
    ("network", "statistical", "lineup", "export", "serving", "predict"),
    ("pipeline", "panels"),
    ("backtest", "report", "executor"),
    ("compare", "registry"),
    ("schedule",),
    ("cli", "__main__"),
]


def _name(path: Path, package: Path) -> str:
    parts = list(path.relative_to(package.parent).with_suffix("").parts)
    if parts[-1] == "__init__":
        parts = parts[:-1]
    return ".".join(parts)


def _short(module: str) -> str:
    return module if module == "forecaster" else module.removeprefix("forecaster.")


def _imports(tree: ast.AST, modules: set[str]) -> set[str]:
    """The ``forecaster`` modules a parsed file imports (``TYPE_CHECKING`` blocks left out)."""
    found: set[str] = set()

    class Visitor(ast.NodeVisitor):
        def visit_If(self, node: ast.If) -> None:
            test = node.test
            if getattr(test, "id", None) == "TYPE_CHECKING" or getattr(test, "attr", None) == "TYPE_CHECKING":
                for child in node.orelse:
                    self.visit(child)
                return
            self.generic_visit(node)

        def visit_Import(self, node: ast.Import) -> None:
            found.update(a.name for a in node.names if a.name.split(".")[0] == "forecaster")

        def visit_ImportFrom(self, node: ast.ImportFrom) -> None:
            if node.level == 0 and node.module and node.module.split(".")[0] == "forecaster":
                for a in node.names:  # `from forecaster import pipeline` imports a module
                    full = f"{node.module}.{a.name}"
                    found.add(full if full in modules else node.module)

    Visitor().visit(tree)
    return found


def import_graph(package: Path = PACKAGE) -> dict[str, set[str]]:
    """Module -> the package modules it imports (short names: ``artifacts.io``, ``pipeline``)."""
    modules = {_name(p, package): p for p in package.rglob("*.py")}
    graph: dict[str, set[str]] = {}
    for module, path in modules.items():
        found = _imports(ast.parse(path.read_text(encoding="utf-8")), set(modules))
        graph[_short(module)] = {_short(m) for m in found} - {_short(module)}
    return graph


def find_cycle(graph: dict[str, set[str]]) -> list[str] | None:
    """One import cycle as a path ``[a, b, ..., a]``, or ``None``."""
    state: dict[str, int] = {}
    stack: list[str] = []

    def visit(node: str) -> list[str] | None:
        state[node] = 1
        stack.append(node)
        for dep in sorted(graph.get(node, ())):
            if state.get(dep) == 1:
                return stack[stack.index(dep):] + [dep]
            if dep not in state and (cycle := visit(dep)):
                return cycle
        stack.pop()
        state[node] = 2
        return None

    for node in sorted(graph):
        if node not in state and (cycle := visit(node)):
            return cycle
    return None


def upward_imports(graph: dict[str, set[str]]) -> list[str]:
    level = {m: i for i, layer in enumerate(LAYERS) for m in layer}
    return [f"{m} (layer {level[m]}) imports {d} (layer {level[d]})"
            for m, deps in sorted(graph.items()) for d in sorted(deps)
            if d in level and m in level and level[d] > level[m]]


def test_every_module_has_a_layer():
    graph = import_graph()
    layered = {m for layer in LAYERS for m in layer}
    assert sorted(set(graph) - layered) == [], "give each new module a layer in tests/test_layers.py"


def test_no_import_cycle():
    assert find_cycle(import_graph()) is None


def test_no_upward_import():
    assert upward_imports(import_graph()) == []


def test_the_checks_fail_on_a_cycle_and_an_upward_import(tmp_path):
    pkg = tmp_path / "forecaster"
    pkg.mkdir()
    (pkg / "__init__.py").write_text("")
    (pkg / "errors.py").write_text("def f():\n    from forecaster import cli\n")  # lazy, still counted
    (pkg / "cli.py").write_text("from forecaster.errors import f\n"
                                "from typing import TYPE_CHECKING\n"
                                "if TYPE_CHECKING:\n    from forecaster import pipeline\n")
    graph = import_graph(pkg)
    assert graph["errors"] == {"cli"} and graph["cli"] == {"errors"}  # the TYPE_CHECKING import is not counted
    assert find_cycle(graph) in (["cli", "errors", "cli"], ["errors", "cli", "errors"])
    assert upward_imports(graph) == ["errors (layer 0) imports cli (layer 9)"]


@pytest.mark.parametrize("old, new", [("export", "artifacts"), ("serving", "artifacts")])
def test_old_import_paths_still_work(old, new):
    import importlib

    module = importlib.import_module(f"forecaster.{old}")
    assert all(getattr(module, name) is not None for name in module.__all__)
