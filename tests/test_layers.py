"""The package's import graph: no cycles, and imports only point down the layers.

The layers are the subpackages (``docs/architecture.md`` draws them): a module may import from
its own package and from packages below it, never above. Every import is counted: lazy ones
inside functions (they run sooner or later) and, for cycles, type-only ones under
``if TYPE_CHECKING:`` too (a cycle of types is a cycle of ideas). A new top-level module or
subpackage must be given a layer here.
"""

from __future__ import annotations

import ast
from pathlib import Path

PACKAGE = Path(__file__).resolve().parents[1] / "forecaster"

#: Lower layers never import higher ones; within a layer, packages may import each other but the
#: modules must not cycle. A module belongs to the layer of its top-level package.
LAYERS: list[tuple[str, ...]] = [
    ("forecaster", "errors", "fs", "types"),
    ("config",),
    ("data",),
    ("models",),
    ("evaluation",),
    ("artifacts",),
    ("workflows",),
    ("registry",),
    ("serving",),
    ("cli", "api", "__main__"),
]

#: The root package re-exports the Python API and the errors lazily (PEP 562 ``__getattr__`` in
#: ``forecaster/__init__.py``): ``import forecaster`` imports neither, so these edges are a facade's
#: look-up, not a dependency of the bottom layer (whose modules import ``forecaster`` for its version).
FACADE: set[tuple[str, str]] = {("forecaster", "api")}

#: Upward imports still to be removed by the restructuring (issue 25), each named; empty when done.
KNOWN_UPWARD: set[tuple[str, str]] = set()


def _name(path: Path, package: Path) -> str:
    parts = list(path.relative_to(package.parent).with_suffix("").parts)
    if parts[-1] == "__init__":
        parts = parts[:-1]
    return ".".join(parts)


def _short(module: str) -> str:
    return module if module == "forecaster" else module.removeprefix("forecaster.")


def _imports(tree: ast.AST, modules: set[str], *, type_only: bool = False) -> set[str]:
    """The ``forecaster`` modules a parsed file imports (``TYPE_CHECKING`` blocks too when ``type_only``)."""
    found: set[str] = set()

    class Visitor(ast.NodeVisitor):
        def visit_If(self, node: ast.If) -> None:
            test = node.test
            if not type_only and (getattr(test, "id", None) == "TYPE_CHECKING"
                                  or getattr(test, "attr", None) == "TYPE_CHECKING"):
                for child in node.orelse:
                    self.visit(child)
                return
            self.generic_visit(node)

        def visit_Import(self, node: ast.Import) -> None:
            found.update(a.name for a in node.names if a.name.split(".")[0] == "forecaster")

        def visit_ImportFrom(self, node: ast.ImportFrom) -> None:
            if node.level == 0 and node.module and node.module.split(".")[0] == "forecaster":
                for a in node.names:  # `from forecaster.data import windows` imports a module
                    full = f"{node.module}.{a.name}"
                    found.add(full if full in modules else node.module)

    Visitor().visit(tree)
    return found


def import_graph(package: Path = PACKAGE, *, type_only: bool = False) -> dict[str, set[str]]:
    """Module -> the package modules it imports (short names: ``data.windows``, ``cli.main``)."""
    modules = {_name(p, package): p for p in package.rglob("*.py")}
    graph: dict[str, set[str]] = {}
    for module, path in modules.items():
        found = _imports(ast.parse(path.read_text(encoding="utf-8")), set(modules), type_only=type_only)
        graph[_short(module)] = {_short(m) for m in found} - {_short(module)} - {d for m, d in FACADE if m == _short(module)}
    return graph


def find_cycle(graph: dict[str, set[str]]) -> list[str] | None:
    """One import cycle as a path ``[a, b, ..., a]``, or ``None``.

    A package's ``__init__`` importing its own modules (a facade such as ``config``) is not a cycle
    with them: those edges are left out.
    """
    state: dict[str, int] = {}
    stack: list[str] = []

    def deps(node: str) -> list[str]:
        return sorted(d for d in graph.get(node, ()) if not d.startswith(node + ".") and (node, d) not in KNOWN_UPWARD)

    def visit(node: str) -> list[str] | None:
        state[node] = 1
        stack.append(node)
        for dep in deps(node):
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


def layer_of(module: str) -> int | None:
    """The layer of a module: that of its top-level package (``data.windows`` -> ``data``)."""
    top = module.split(".")[0]
    return next((i for i, layer in enumerate(LAYERS) if top in layer), None)


def upward_imports(graph: dict[str, set[str]]) -> list[str]:
    return [f"{m} (layer {layer_of(m)}) imports {d} (layer {layer_of(d)})"
            for m, deps in sorted(graph.items()) for d in sorted(deps)
            if layer_of(d) is not None and layer_of(m) is not None and layer_of(d) > layer_of(m)
            and (m, d) not in KNOWN_UPWARD]


def test_every_module_has_a_layer():
    graph = import_graph()
    assert sorted(m for m in graph if layer_of(m) is None) == [], "give each new package a layer in tests/test_layers.py"


#: A module longer than this is doing more than one thing: split it by what it owns (issue 25).
MAX_MODULE_LINES = 500


def test_no_module_is_over_500_lines():
    long = {p.relative_to(PACKAGE.parent).as_posix(): n for p in PACKAGE.rglob("*.py")
            if (n := len(p.read_text(encoding="utf-8").splitlines())) > MAX_MODULE_LINES}
    assert not long, f"modules over {MAX_MODULE_LINES} lines: {long}"


def test_no_import_cycle_not_even_of_types():
    assert find_cycle(import_graph()) is None
    assert find_cycle(import_graph(type_only=True)) is None


def test_no_upward_import():
    assert upward_imports(import_graph(type_only=True)) == []


def test_the_root_facade_is_lazy():
    """The one exempt edge stays a look-up inside ``__getattr__``, never an import at the top of the package."""
    tree = ast.parse((PACKAGE / "__init__.py").read_text(encoding="utf-8"))
    top = {a.name for node in tree.body if isinstance(node, ast.Import) for a in node.names}
    top |= {f"{node.module}.{a.name}" for node in tree.body if isinstance(node, ast.ImportFrom) and node.module
            for a in node.names}
    assert not [name for name in top if name.startswith("forecaster")]


def test_known_upward_imports_are_still_there():
    graph = import_graph(type_only=True)
    assert sorted(e for e in KNOWN_UPWARD if e[1] not in graph.get(e[0], set())) == [], "remove fixed ones"


def test_the_checks_fail_on_a_cycle_and_an_upward_import(tmp_path):
    pkg = tmp_path / "forecaster"
    (pkg / "cli").mkdir(parents=True)
    (pkg / "__init__.py").write_text("")
    (pkg / "cli" / "__init__.py").write_text("")
    (pkg / "errors.py").write_text("def f():\n    from forecaster.cli import main\n")  # lazy, still counted
    (pkg / "cli" / "main.py").write_text("from forecaster.errors import f\n"
                                         "from typing import TYPE_CHECKING\n"
                                         "if TYPE_CHECKING:\n    from forecaster.data import prepared\n")
    graph = import_graph(pkg)
    assert graph["errors"] == {"cli.main"} and graph["cli.main"] == {"errors"}  # the TYPE_CHECKING import left out
    assert import_graph(pkg, type_only=True)["cli.main"] == {"errors", "data"}
    assert find_cycle(graph) in (["cli.main", "errors", "cli.main"], ["errors", "cli.main", "errors"])
    assert upward_imports(graph) == ["errors (layer 0) imports cli.main (layer 9)"]
