"""The shape of the package itself: no import circle, no module over the size bound.

Imports are read from the source (``ast``), those inside functions included: a lazy import still
ties two modules together, so it counts for a circle as much as one at the top of a file.
"""

from __future__ import annotations

import ast
from pathlib import Path

PACKAGE = Path(__file__).resolve().parent.parent / "swbatch"
#: the bound on a module's length, in lines: one concern fits in it
MAX_LINES = 300


def _module_name(path: Path) -> str:
    parts = list(path.relative_to(PACKAGE.parent).with_suffix("").parts)
    return ".".join(parts[:-1] if parts[-1] == "__init__" else parts)


def _imports(path: Path, name: str, modules: set[str]) -> set[str]:
    """The modules of the package that ``path`` imports (anywhere in it)."""
    package = name if path.name == "__init__.py" else name.rpartition(".")[0]
    found = set()
    for node in ast.walk(ast.parse(path.read_text(encoding="utf-8"))):
        if isinstance(node, ast.ImportFrom):
            parts = package.split(".")
            base = parts[: len(parts) - node.level + 1] if node.level else []
            stem = ".".join([*base, node.module] if node.module else base)
            for alias in node.names:
                target = f"{stem}.{alias.name}"
                found.add(target if target in modules else stem)
        elif isinstance(node, ast.Import):
            found.update(alias.name for alias in node.names)
    return {m for m in found if m in modules and m != name}


def import_graph() -> dict[str, set[str]]:
    files = {_module_name(p): p for p in PACKAGE.rglob("*.py")}
    return {name: _imports(path, name, set(files)) for name, path in files.items()}


def find_cycle(graph: dict[str, set[str]]) -> list[str] | None:
    """One import circle as a path (first module repeated at its end), or None."""
    state: dict[str, int] = {}  # 1: on the current path, 2: finished
    path: list[str] = []

    def visit(node: str) -> list[str] | None:
        state[node] = 1
        path.append(node)
        for nxt in sorted(graph[node]):
            if state.get(nxt) == 1:
                return [*path[path.index(nxt) :], nxt]
            if nxt not in state and (cycle := visit(nxt)):
                return cycle
        path.pop()
        state[node] = 2
        return None

    for start in sorted(graph):
        if start not in state and (cycle := visit(start)):
            return cycle
    return None


def test_the_walker_sees_a_circle():
    """The check itself: a made-up circle is found, a chain is not."""
    assert find_cycle({"a": {"b"}, "b": {"c"}, "c": {"a"}}) == ["a", "b", "c", "a"]
    assert find_cycle({"a": {"b"}, "b": {"c"}, "c": set()}) is None
    graph = import_graph()
    assert "swbatch.lock" in graph["swbatch.verify"], "relative imports are resolved"
    assert "swbatch.plan" in graph["swbatch.pipeline.discover"], "lazy imports count"


def test_no_import_circle():
    cycle = find_cycle(import_graph())
    assert cycle is None, "import circle: " + " -> ".join(cycle or [])


def test_no_module_imports_the_package_face():
    """``swbatch/__init__.py`` is the Python API and imports the stages; nothing imports it back."""
    users = sorted(name for name, deps in import_graph().items() if "swbatch" in deps)
    assert users == [], f"these import the package face (use swbatch.version): {users}"


def test_no_module_over_the_bound():
    sizes = {
        str(p.relative_to(PACKAGE)): len(p.read_text(encoding="utf-8").splitlines())
        for p in PACKAGE.rglob("*.py")
    }
    over = {name: n for name, n in sizes.items() if n > MAX_LINES}
    assert not over, f"modules over {MAX_LINES} lines: {over}"


def test_shard_arithmetic_imports_nothing_above_it():
    """The split is arithmetic: shard.py knows no job, file or plan (the plan builds on it)."""
    assert import_graph()["swbatch.shard"] <= {"swbatch.errors"}
