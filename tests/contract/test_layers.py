"""The layers stay honest: who may import whom, no import cycles, few and explained lazy imports.

    farm/          the application: use cases, executors, CLI, Celery side     may import anything
    workers/       what runs on devices            -> orchestrator, models
    models/        the zoo                         -> orchestrator
    dashboards/    reports and the site            -> orchestrator
    orchestrator/  the kernel                      -> nothing of the above
    migrations/    Alembic                         -> orchestrator

Read from the source with ``ast``, so an import hidden inside a function counts like any other.
"""

from __future__ import annotations

import ast
from pathlib import Path

import pytest

ROOT = Path(__file__).resolve().parents[2]
LAYERS = ("farm", "orchestrator", "workers", "models", "dashboards", "migrations")
ALLOWED = {
    "farm": set(LAYERS),
    "workers": {"workers", "orchestrator", "models"},
    "models": {"models", "orchestrator"},
    "dashboards": {"dashboards", "orchestrator"},
    "orchestrator": {"orchestrator"},
    "migrations": {"migrations", "orchestrator"},
}
#: third-party packages a layer must not touch: the kernel knows no broker, phone, CLI or chart;
#: the device layer no broker
FORBIDDEN = {
    "orchestrator": {"celery", "kombu", "redis", "adbutils", "typer", "rich", "plotly"},
    "workers": {"celery", "kombu", "typer"},
    "models": {"celery", "kombu", "redis", "adbutils", "typer"},
    "dashboards": {"celery", "kombu", "redis", "adbutils", "typer"},
}
#: the TensorFlow-side scripts run in the converter's own environment, not the farm's
SEPARATE = ROOT / "models" / "converter" / "inside"
#: import statements inside functions, each explained where it is: LiteRT inside the host
#: runner's own process, and the heavy imports kept off `farm submit`'s way to its first session
#: (Celery, Alembic, the flatbuffer schema and numpy, the report's Plotly, otava;
#: benchmarks/overhead.py's startup_s). The issue that set it asked for at most 10.
MAX_LAZY_IMPORTS = 10


def _module_name(path: Path) -> str:
    parts = list(path.relative_to(ROOT).with_suffix("").parts)
    return ".".join(parts[:-1] if parts[-1] == "__init__" else parts)


def _sources() -> dict[str, Path]:
    return {_module_name(path): path for layer in LAYERS for path in (ROOT / layer).rglob("*.py")
            if SEPARATE not in path.parents}


SOURCES = _sources()


def _imports(path: Path) -> list[tuple[str, ast.stmt, bool]]:
    """(imported module, statement, whether it sits inside a function or class) of a file."""
    tree = ast.parse(path.read_text(), str(path))
    found: list[tuple[str, ast.stmt, bool]] = []

    def visit(node: ast.AST, nested: bool) -> None:
        for child in ast.iter_child_nodes(node):
            inner = nested or isinstance(child, ast.FunctionDef | ast.AsyncFunctionDef | ast.ClassDef)
            if isinstance(child, ast.Import):
                found.extend((alias.name, child, nested) for alias in child.names)
            elif isinstance(child, ast.ImportFrom) and child.module and child.level == 0:
                # `from package import module` depends on the module itself
                found.extend((f"{child.module}.{alias.name}"
                              if f"{child.module}.{alias.name}" in SOURCES else child.module,
                              child, nested) for alias in child.names)
            visit(child, inner)

    visit(tree, False)
    return found


def test_every_layer_imports_only_what_lies_below_it() -> None:
    wrong = []
    for module, path in SOURCES.items():
        layer = module.split(".")[0]
        for imported, statement, _nested in _imports(path):
            top = imported.split(".")[0]
            if top in LAYERS and top not in ALLOWED[layer]:
                wrong.append(f"{path.relative_to(ROOT)}:{statement.lineno} imports {imported}")
            if top in FORBIDDEN.get(layer, ()):
                wrong.append(f"{path.relative_to(ROOT)}:{statement.lineno} imports {imported}")
    assert wrong == []


def _cycles(graph: dict[str, set[str]]) -> list[list[str]]:
    """Tarjan's strongly connected components: a component of more than one module is a cycle."""
    index: dict[str, int] = {}
    low: dict[str, int] = {}
    stack: list[str] = []
    cycles: list[list[str]] = []

    def connect(node: str) -> None:
        index[node] = low[node] = len(index)
        stack.append(node)
        for other in graph.get(node, ()):
            if other not in index:
                connect(other)
                low[node] = min(low[node], low[other])
            elif other in stack:
                low[node] = min(low[node], index[other])
        if low[node] == index[node]:
            component = []
            while True:
                member = stack.pop()
                component.append(member)
                if member == node:
                    break
            if len(component) > 1:
                cycles.append(sorted(component))

    for node in graph:
        if node not in index:
            connect(node)
    return cycles


def test_modules_import_each_other_without_cycles() -> None:
    graph = {module: {imported for imported, _, nested in _imports(path)
                      if imported in SOURCES and imported != module and not nested}
             for module, path in SOURCES.items()}
    assert sum(map(len, graph.values())) > 100  # the graph was read at all
    assert _cycles(graph) == []
    assert _cycles({"a": {"b"}, "b": {"c"}, "c": {"a"}, "d": {"a"}}) == [["a", "b", "c"]]


def test_lazy_imports_are_few_and_say_why() -> None:
    lazy: dict[str, bool] = {}  # one entry per statement: `from a import b, c` is one import
    for path in SOURCES.values():
        lines = path.read_text().splitlines()
        for _imported, statement, nested in _imports(path):
            if nested:
                above = "\n".join(lines[max(0, statement.lineno - 4):statement.lineno - 1])
                lazy[f"{path.relative_to(ROOT)}:{statement.lineno}"] = "Lazy" in above
    assert 0 < len(lazy) <= MAX_LAZY_IMPORTS, lazy
    assert [where for where, explained in lazy.items() if not explained] == []


@pytest.mark.parametrize("layer", ["orchestrator", "workers", "models", "dashboards"])
def test_the_rules_have_teeth(layer: str, tmp_path: Path) -> None:
    """An upward import written into a module of the layer is caught."""
    upward = {"orchestrator": "workers.service", "workers": "farm.executors",
              "models": "workers.service", "dashboards": "farm.reports"}[layer]
    probe = tmp_path / "probe.py"
    probe.write_text(f"def f():\n    import {upward}\n")
    (imported, _, nested), = _imports(probe)
    assert nested and imported.split(".")[0] not in ALLOWED[layer]


def test_farm_submit_does_not_load_what_only_other_commands_need() -> None:
    """None of these is on the path from `farm submit` (embedded) to its first session:
    scipy and otava (the nightly's statistics; scipy.stats alone takes 0.6 s to import), Celery
    and kombu (the distributed executor's), Alembic (migrations), numpy and the flatbuffer schema
    (building and parsing model files; a session runs the tool in its own process)."""
    import subprocess
    import sys

    heavy = ("scipy", "otava", "celery", "kombu", "alembic", "numpy",
             "ai_edge_litert.schema_py_generated")
    loaded = subprocess.run(
        [sys.executable, "-c", "import sys, farm.cli.submit; "
                               f"print(sorted(m for m in {heavy!r} if m in sys.modules))"],
        capture_output=True, text=True, check=True, cwd=ROOT).stdout.strip()
    assert loaded == "[]"
