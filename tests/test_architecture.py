"""The package's shape: layers that only import downwards, no import cycles, small modules.

Read from the source with `ast`, so a new module or import is checked the moment it exists.
"""

from __future__ import annotations

import ast
from pathlib import Path

PACKAGE = Path(__file__).resolve().parent.parent / "assistant"
# each package's layer; a module may import its own package and lower layers only
LAYERS = {
    "assistant": 0,  # the base: types, errors, config, text
    "assistant.audio": 1,
    "assistant.providers": 2,
    "assistant.conversation": 3,
    "assistant.history": 4,
    "assistant.tools": 5,  # timers, notes, the local matcher: above the history's db helpers
    "assistant.server": 6,  # serves the tools' routes and OpenAI tool calls
    "assistant.bench": 6,  # measures the local commands
    "assistant.wyoming": 6,  # the Home Assistant protocol server, beside the HTTP one
    "assistant.cli": 7,
    "assistant.__main__": 8,  # `python -m assistant`: the command line
}
MAX_LINES = 420


def _module_name(path: Path) -> str:
    parts = list(path.relative_to(PACKAGE.parent).with_suffix("").parts)
    return ".".join(parts[:-1] if parts[-1] == "__init__" else parts)


def _package(module: str, path: Path) -> str:
    return module if path.name == "__init__.py" else module.rpartition(".")[0]


def _imports() -> dict[str, set[str]]:
    """Every module of the package and the package modules it imports (anywhere in it)."""
    modules = {_module_name(p): p for p in PACKAGE.rglob("*.py")}
    found: dict[str, set[str]] = {}
    for module, path in modules.items():
        targets = set()
        for node in ast.walk(ast.parse(path.read_text(), str(path))):
            if isinstance(node, ast.ImportFrom):
                if node.level:
                    base = _package(module, path).split(".")
                    base = base[: len(base) - node.level + 1]
                    target = ".".join(base + ([node.module] if node.module else []))
                else:
                    target = node.module or ""
                names = [f"{target}.{alias.name}" for alias in node.names]
                targets.update(n for n in names if n in modules)  # `from . import module`
                if target in modules:
                    targets.add(target)
            elif isinstance(node, ast.Import):
                targets.update(alias.name for alias in node.names if alias.name in modules)
        found[module] = targets - {module}
    return found


def _layer(module: str) -> tuple[int, str]:
    package = module.rpartition(".")[0] if module.count(".") >= 1 else module
    if module in LAYERS:
        package = module
    while package not in LAYERS:
        package = package.rpartition(".")[0]
    return LAYERS[package], package


def test_no_module_imports_upwards_or_sideways():
    wrong = []
    for module, targets in _imports().items():
        level, package = _layer(module)
        for target in targets:
            target_level, target_package = _layer(target)
            sideways = target_level == level and target_package != package
            if target_level > level or sideways:
                wrong.append(f"{module} -> {target}")
    assert wrong == [], "imports against the layers: " + ", ".join(sorted(wrong))


def test_no_import_cycles():
    graph = _imports()
    cycles: list[list[str]] = []
    state: dict[str, int] = {}  # 1: on the current path, 2: done
    path: list[str] = []

    def visit(module: str) -> None:
        state[module] = 1
        path.append(module)
        for target in sorted(graph.get(module, ())):
            if state.get(target) == 1:
                cycles.append([*path[path.index(target) :], target])
            elif target not in state:
                visit(target)
        path.pop()
        state[module] = 2

    for module in sorted(graph):
        if module not in state:
            visit(module)
    assert cycles == [], "import cycles: " + "; ".join(" -> ".join(c) for c in cycles)


def test_modules_stay_small_and_say_their_job():
    for path in PACKAGE.rglob("*.py"):
        lines = path.read_text().splitlines()
        assert len(lines) <= MAX_LINES, f"{path.relative_to(PACKAGE)} has {len(lines)} lines"
        if path.name != "__main__.py" and lines:
            assert lines[0].startswith('"""'), (
                f"{path.relative_to(PACKAGE)} opens with no docstring"
            )
