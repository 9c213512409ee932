"""The package's shape (issue 34): no private name is used across modules, and the modules'
top-level imports form no cycle. Read from the sources with ast: nothing is imported."""

from __future__ import annotations

import ast
from pathlib import Path

PACKAGE = Path(__file__).resolve().parent.parent / "pip_offline_fallback"
NAME = PACKAGE.name


def _modules() -> dict[str, Path]:
    found = {}
    for path in sorted(PACKAGE.rglob("*.py")):
        parts = path.relative_to(PACKAGE.parent).with_suffix("").parts
        if parts[-1] == "__init__":
            parts = parts[:-1]
        found[".".join(parts)] = path
    return found


def _absolute(node: ast.ImportFrom, module: str, path: Path) -> str:
    if not node.level:
        return node.module or ""
    base = module if path.name == "__init__.py" else module.rpartition(".")[0]
    for _ in range(node.level - 1):
        base = base.rpartition(".")[0]
    return f"{base}.{node.module}" if node.module else base


def _private(name: str) -> bool:
    return name.startswith("_") and not name.startswith("__")


def test_no_private_name_is_used_across_modules() -> None:
    modules = _modules()
    used = []
    for module, path in modules.items():
        aliases: dict[str, str] = {}  # a local name -> the pip-ff module it is
        for node in ast.walk(ast.parse(path.read_text())):
            if isinstance(node, ast.ImportFrom):
                source = _absolute(node, module, path)
                if not source.startswith(NAME):
                    continue
                for alias in node.names:
                    full = f"{source}.{alias.name}"
                    if full in modules:
                        aliases[alias.asname or alias.name] = full
                    elif _private(alias.name) and source != module:
                        used.append(f"{module} imports {full}")
            elif isinstance(node, ast.Import):
                for alias in node.names:
                    if alias.name.startswith(NAME) and alias.asname:
                        aliases[alias.asname] = alias.name
            elif isinstance(node, ast.Attribute) and isinstance(node.value, ast.Name):
                target = aliases.get(node.value.id)
                if target and target != module and _private(node.attr):
                    used.append(f"{module} uses {target}.{node.attr}")
    assert not used, used


def test_the_modules_top_level_imports_form_no_cycle() -> None:
    """Imports inside functions (the lazy ones) and under TYPE_CHECKING don't count: only what
    importing a module imports at once."""
    modules = _modules()
    graph: dict[str, set[str]] = {module: set() for module in modules}
    for module, path in modules.items():
        for node in ast.parse(path.read_text()).body:
            if isinstance(node, ast.ImportFrom):
                source = _absolute(node, module, path)
                for alias in node.names:
                    full = f"{source}.{alias.name}"
                    graph[module].add(full if full in modules else source)
            elif isinstance(node, ast.Import):
                graph[module].update(alias.name for alias in node.names)
    state: dict[str, int] = {}  # 1: on the current path, 2: done
    cycles: list[list[str]] = []

    def visit(module: str, path: list[str]) -> None:
        state[module] = 1
        path.append(module)
        for imported in sorted(graph[module]):
            if imported not in graph or imported == module:
                continue
            if state.get(imported) == 1:
                cycles.append([*path[path.index(imported) :], imported])
            elif imported not in state:
                visit(imported, path)
        path.pop()
        state[module] = 2

    for module in sorted(graph):
        if module not in state:
            visit(module, [])
    assert not cycles, cycles
