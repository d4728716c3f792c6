"""Every bench script still reaches the package: it imports, and every ``forecaster`` name it uses exists.

The bench scripts (``bench/``) are not run by the suite (they take minutes), so a refactor that moves
or renames a module used to leave them broken until someone ran them. Two checks keep them honest:

- each script imports, without running its ``main``, and without importing TensorFlow (its
  module level must stay cheap: heavy imports belong inside the functions that train);
- every ``forecaster`` import in it, including the lazy ones inside functions, names a module that
  exists and a name that module defines, and every ``module.attribute`` used through such an import
  exists (read from the package's source, so nothing heavy is imported). An import in the
  ``except ImportError`` branch of a ``try`` is an older checkout's fallback (``bench/learning.py``,
  ``bench/_compare_probe.py`` run older checkouts too) and is not checked; the ``try`` branch is.
"""

from __future__ import annotations

import ast
import importlib
import sys
from pathlib import Path

import pytest

ROOT = Path(__file__).resolve().parents[1]
BENCH = ROOT / "bench"
SCRIPTS = sorted(p.stem for p in BENCH.glob("*.py"))
#: Never imported at a bench script's module level (seconds each, and a GPU probe for TensorFlow).
HEAVY = ("tensorflow", "keras", "torch", "neuralforecast", "ray")


def _module_file(module: str) -> Path | None:
    base = ROOT.joinpath(*module.split("."))
    for candidate in (base.with_suffix(".py"), base / "__init__.py"):
        if candidate.is_file():
            return candidate
    return None


_DEFINED: dict[str, set[str]] = {}


def _defined(module: str) -> set[str]:
    """Names a module of the package binds at its top level (defs, classes, assignments, imports)."""
    if module not in _DEFINED:
        names: set[str] = set()

        def walk(body: list[ast.stmt]) -> None:
            for node in body:
                if isinstance(node, (ast.FunctionDef, ast.AsyncFunctionDef, ast.ClassDef)):
                    names.add(node.name)
                elif isinstance(node, (ast.Assign, ast.AnnAssign, ast.AugAssign)):
                    targets = node.targets if isinstance(node, ast.Assign) else [node.target]
                    names.update(n.id for t in targets for n in ast.walk(t) if isinstance(n, ast.Name))
                elif isinstance(node, (ast.Import, ast.ImportFrom)):
                    names.update((a.asname or a.name).split(".")[0] for a in node.names)
                elif isinstance(node, (ast.If, ast.Try, ast.With)):
                    walk(node.body)
                    walk(getattr(node, "orelse", []))
                    walk(getattr(node, "finalbody", []))
                    for handler in getattr(node, "handlers", []):
                        walk(handler.body)

        path = _module_file(module)
        assert path is not None, module
        walk(ast.parse(path.read_text(encoding="utf-8")).body)
        _DEFINED[module] = names
    return _DEFINED[module]


def _fallbacks(tree: ast.AST) -> set[int]:
    """Nodes inside an ``except`` handler: an older layout's imports, tried only when the current ones fail."""
    return {id(n) for t in ast.walk(tree) if isinstance(t, ast.Try) for h in t.handlers for n in ast.walk(h)}


def _is_package(name: str) -> bool:
    return name == "forecaster" or name.startswith("forecaster.")


def unresolved(source: str) -> list[str]:
    """What a script's source names in ``forecaster`` that the package does not have, one line each."""
    tree = ast.parse(source)
    skip = _fallbacks(tree)
    nodes = [n for n in ast.walk(tree) if id(n) not in skip]
    problems: list[str] = []
    aliases: dict[str, set[str]] = {}  # a local name -> the package modules it is bound to somewhere in the file
    for node in nodes:
        if isinstance(node, ast.ImportFrom) and node.level == 0 and node.module and _is_package(node.module):
            if _module_file(node.module) is None:
                problems.append(f"line {node.lineno}: no module {node.module}")
                continue
            for a in node.names:
                sub = f"{node.module}.{a.name}"
                if _module_file(sub) is not None:
                    aliases.setdefault(a.asname or a.name, set()).add(sub)
                elif a.name not in _defined(node.module):
                    problems.append(f"line {node.lineno}: {node.module} has no {a.name}")
        elif isinstance(node, ast.Import):
            for a in node.names:
                if _is_package(a.name):
                    if _module_file(a.name) is None:
                        problems.append(f"line {node.lineno}: no module {a.name}")
                    elif a.asname:
                        aliases.setdefault(a.asname, set()).add(a.name)
    for node in nodes:
        if not isinstance(node, ast.Attribute):
            continue
        chain, base = [], node
        while isinstance(base, ast.Attribute):
            chain.append(base.attr)
            base = base.value
        if not isinstance(base, ast.Name) or (base.id != "forecaster" and base.id not in aliases):
            continue
        chain.reverse()
        if base.id == "forecaster":  # forecaster.a.b.name: walk down the packages, then one name
            module = "forecaster"
            for part in chain:
                if part.startswith("__"):
                    break
                if _module_file(f"{module}.{part}") is not None:
                    module = f"{module}.{part}"
                    continue
                if part not in _defined(module):
                    problems.append(f"line {node.lineno}: {module} has no {part}")
                break
        else:
            part, modules = chain[0], aliases[base.id]
            if not part.startswith("__") and not any(
                    _module_file(f"{m}.{part}") is not None or part in _defined(m) for m in modules):
                problems.append(f"line {node.lineno}: {' or '.join(sorted(modules))} has no {part}")
    return sorted(set(problems))


def test_every_script_is_checked() -> None:
    assert {"run_all", "train_throughput", "gpu_throughput", "accuracy", "peers", "common"} <= set(SCRIPTS)


@pytest.mark.parametrize("script", SCRIPTS)
def test_bench_script_names_exist(script: str) -> None:
    assert unresolved((BENCH / f"{script}.py").read_text(encoding="utf-8")) == []


@pytest.mark.parametrize("script", SCRIPTS)
def test_bench_script_imports_light(script: str, monkeypatch: pytest.MonkeyPatch) -> None:
    """Importing a script runs nothing: no main, no TensorFlow (checked here only while this process has
    not loaded it for another test; the module-level imports are checked statically either way)."""
    tree = ast.parse((BENCH / f"{script}.py").read_text(encoding="utf-8"))
    top = [a.name for n in tree.body if isinstance(n, ast.Import) for a in n.names]
    top += [n.module for n in tree.body if isinstance(n, ast.ImportFrom) and n.module]
    assert [m for m in top if m.split(".")[0] in HEAVY] == []

    monkeypatch.setattr(sys, "path", [str(BENCH), *sys.path])  # restored after: the scripts add bench/ themselves
    monkeypatch.setattr(sys, "argv", ["pytest"])
    before = set(sys.modules)
    try:
        module = importlib.import_module(script)
        assert Path(module.__file__ or "").resolve().parent == BENCH
        assert callable(getattr(module, "main", None)) or script == "common"
        loaded = set(sys.modules) - before
        assert [m for m in loaded if m.split(".")[0] in HEAVY] == []
    finally:  # leave no bench module (common, memory, intervals...) importable by those names to later tests
        for name in set(sys.modules) - before:
            if Path(getattr(sys.modules[name], "__file__", None) or "/").resolve().parent == BENCH:
                del sys.modules[name]


def test_unresolved_finds_a_moved_name() -> None:
    """The check fails on what a refactor breaks (and not on an older checkout's fallback)."""
    source = '''
def f():
    from forecaster.workflows import pipeline
    from forecaster.models.network import training
    from forecaster.models.network.training import seed_everything
    training.use_jit(None, 1, "lstm")
    training.fit_inputs
    forecaster.evaluation.metrics.nothing_here
    try:
        from forecaster.workflows.train import train_cell
    except ImportError:
        from forecaster.network import train_cell
'''
    assert unresolved(source) == [
        "line 3: forecaster.workflows has no pipeline",
        "line 5: forecaster.models.network.training has no seed_everything",
        "line 6: forecaster.models.network.training has no use_jit",
        "line 8: forecaster.evaluation.metrics has no nothing_here",
    ]
