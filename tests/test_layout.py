"""Package layout: imports point down the pipeline, no cycles, small modules and functions."""

from __future__ import annotations

import ast
from pathlib import Path

import pytest

import vmeb

PACKAGE = Path(vmeb.__file__).resolve().parent

#: Pipeline layers, lowest first. A module may import modules of its own layer or of lower ones.
LAYERS = (
    ("vmeb.errors", "vmeb.species", "vmeb.files", "vmeb.config", "vmeb"),
    ("vmeb.plots",),
    ("vmeb.structure",),
    ("vmeb.data",),
    ("vmeb.lammps",),
    ("vmeb.csro",),
    ("vmeb.neb",),
    ("vmeb.learn",),
    ("vmeb.spectra",),
    ("vmeb.study",),
    ("vmeb.active",),
    ("vmeb.pipeline", "vmeb.testing"),
    ("vmeb.cli",),
)
MAX_MODULE_LINES = 800
MAX_FUNCTION_LINES = 80


def _module_name(path: Path) -> str:
    parts = path.relative_to(PACKAGE.parent).with_suffix("").parts
    return ".".join(parts[:-1] if parts[-1] == "__init__" else parts)


def _modules() -> dict[str, Path]:
    return {_module_name(p): p for p in sorted(PACKAGE.rglob("*.py"))}


def _layer(module: str) -> int:
    best, depth = -1, -1
    for i, prefixes in enumerate(LAYERS):
        for prefix in prefixes:
            if (module == prefix or module.startswith(prefix + ".")) and len(prefix) > depth:
                best, depth = i, len(prefix)
    assert best >= 0, f"{module} is in no layer of LAYERS"
    return best


def _imports(path: Path, modules: dict[str, Path]) -> set[str]:
    """The vmeb modules that ``path`` imports: at run time, inside functions and under
    ``if TYPE_CHECKING:`` alike (an import for annotations only still ties the two modules)."""
    return _imported(ast.parse(path.read_text()), modules)


def _imported(tree: ast.AST, modules: dict[str, Path] | set[str]) -> set[str]:
    found: set[str] = set()
    for node in ast.walk(tree):
        if isinstance(node, ast.Import):
            found.update(a.name for a in node.names if a.name.startswith("vmeb"))
        elif isinstance(node, ast.ImportFrom) and node.module and node.module.startswith("vmeb"):
            for alias in node.names:
                sub = f"{node.module}.{alias.name}"
                found.add(sub if sub in modules else node.module)
    return {m for m in found if m in modules}


@pytest.fixture(scope="module")
def graph() -> dict[str, set[str]]:
    modules = _modules()
    return {name: _imports(path, modules) - {name} for name, path in modules.items()}


def test_imports_point_down_the_pipeline(graph):
    upward = [
        f"{a} -> {b}" for a, targets in graph.items() for b in targets if _layer(b) > _layer(a)
    ]
    assert not upward, "upward imports:\n" + "\n".join(upward)


def _cycles(graph: dict[str, set[str]]) -> list[str]:
    """Every import cycle found by a depth-first walk, as ``a -> b -> a``."""
    state: dict[str, int] = {}
    cycles: list[str] = []

    def walk(node: str, stack: list[str]) -> None:
        state[node] = 1
        for nxt in sorted(graph[node]):
            if state.get(nxt) == 1:
                cycles.append(" -> ".join([*stack[stack.index(nxt) :], nxt]))
            elif nxt not in state:
                walk(nxt, [*stack, nxt])
        state[node] = 2

    for module in sorted(graph):
        if module not in state:
            walk(module, [module])
    return cycles


def test_no_import_cycles(graph):
    cycles = _cycles(graph)
    assert not cycles, "import cycles:\n" + "\n".join(cycles)


def test_type_checking_imports_count_as_cycles():
    """The check itself can fail: a back-import for annotations only is a cycle too."""
    names = {"vmeb.a", "vmeb.b"}
    back = "from typing import TYPE_CHECKING\nif TYPE_CHECKING:\n    from vmeb.a import A\n"
    graph = {
        "vmeb.a": _imported(ast.parse("from vmeb.b import B\n"), names),
        "vmeb.b": _imported(ast.parse(back), names),
    }
    assert graph["vmeb.b"] == {"vmeb.a"}
    assert _cycles(graph) == ["vmeb.a -> vmeb.b -> vmeb.a"]


def test_modules_and_functions_stay_small():
    long_modules, long_functions = [], []
    for name, path in _modules().items():
        text = path.read_text()
        if text.count("\n") > MAX_MODULE_LINES:
            long_modules.append(f"{name}: {text.count(chr(10))} lines")
        for node in ast.walk(ast.parse(text)):
            if isinstance(node, ast.FunctionDef | ast.AsyncFunctionDef):
                length = node.end_lineno - node.lineno + 1
                if length > MAX_FUNCTION_LINES:
                    long_functions.append(f"{name}.{node.name}: {length} lines")
    assert not long_modules, "modules too long:\n" + "\n".join(long_modules)
    assert not long_functions, "functions too long:\n" + "\n".join(long_functions)


def test_layer_table_catches_an_upward_import():
    """The check itself can fail: a structure module importing the learning stage is upward."""
    assert _layer("vmeb.learn.sdm") > _layer("vmeb.structure.build")
    assert _layer("vmeb.cli.main") == len(LAYERS) - 1


def _test_files() -> list[Path]:
    return sorted(Path(__file__).resolve().parent.rglob("*.py"))


def test_no_test_imports_another_test_file():
    """Shared helpers live in `vmeb.testing` and fixtures in conftest, never in a test file."""
    local = {p.stem for p in _test_files()} | {"tests", "conftest"}
    offenders = []
    for path in _test_files():
        for node in ast.walk(ast.parse(path.read_text())):
            if isinstance(node, ast.ImportFrom):
                names = [node.module or ""] if node.level == 0 else ["<relative>"]
            elif isinstance(node, ast.Import):
                names = [alias.name for alias in node.names]
            else:
                continue
            for name in names:
                if name == "<relative>" or name.split(".")[0] in local:
                    offenders.append(f"{path.name}:{node.lineno} imports {name}")
    assert not offenders, "test files importing test files:\n" + "\n".join(offenders)
