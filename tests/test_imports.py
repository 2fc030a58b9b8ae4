"""The package's import graph: no cycles, and a pure core that reaches no I/O.

Read statically from the source (every ``import`` statement, also those inside functions
and ``if TYPE_CHECKING:`` blocks), so an import hidden in a function counts too.
"""

from __future__ import annotations

import ast
from collections.abc import Iterator
from pathlib import Path

import pytest

SRC = Path(__file__).resolve().parents[1] / "src" / "syncengine"


def _module_name(path: Path) -> str:
    parts = list(path.relative_to(SRC.parent).with_suffix("").parts)
    if parts[-1] == "__init__":
        parts.pop()
    return ".".join(parts)


MODULES = {_module_name(path): path for path in sorted(SRC.rglob("*.py"))}


def _imports(name: str) -> Iterator[str]:
    """Every module named by an import statement of module ``name`` (``from p import x``
    names ``p.x`` when that is a module, else ``p``)."""
    path = MODULES[name]
    package = name if path.name == "__init__.py" else name.rpartition(".")[0]
    for node in ast.walk(ast.parse(path.read_text(encoding="utf-8"))):
        if isinstance(node, ast.Import):
            yield from (alias.name for alias in node.names)
        elif isinstance(node, ast.ImportFrom):
            base = node.module or ""
            if node.level:
                anchor = package.rsplit(".", node.level - 1)[0] if node.level > 1 else package
                base = f"{anchor}.{base}" if base else anchor
            for alias in node.names:
                yield f"{base}.{alias.name}" if f"{base}.{alias.name}" in MODULES else base


GRAPH = {name: sorted({m for m in _imports(name) if m in MODULES} - {name}) for name in MODULES}


def _cycles(graph: dict[str, list[str]]) -> list[list[str]]:
    """The import cycles of ``graph``: its strongly connected components of more than
    one module (Tarjan's algorithm, iterative)."""
    index: dict[str, int] = {}
    low: dict[str, int] = {}
    stack: list[str] = []
    on_stack: set[str] = set()
    found: list[list[str]] = []
    for root in graph:
        if root in index:
            continue
        work = [(root, iter(graph[root]))]
        index[root] = low[root] = len(index)
        stack.append(root)
        on_stack.add(root)
        while work:
            node, edges = work[-1]
            for nxt in edges:
                if nxt not in index:
                    index[nxt] = low[nxt] = len(index)
                    stack.append(nxt)
                    on_stack.add(nxt)
                    work.append((nxt, iter(graph[nxt])))
                    break
                if nxt in on_stack:
                    low[node] = min(low[node], index[nxt])
            else:
                work.pop()
                if work:
                    low[work[-1][0]] = min(low[work[-1][0]], low[node])
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
    return found


def test_the_cycle_finder_finds_a_cycle():
    """The check can fail: a made-up graph with a cycle is reported."""
    graph = {"a": ["b"], "b": ["c", "e"], "c": ["a"], "d": ["a"], "e": []}
    assert [["a", "b", "c"]] == _cycles(graph)
    assert [] == _cycles({"a": ["b"], "b": [], "c": ["a", "b"]})


def test_no_module_imports_itself_through_others():
    """No import cycles in src/syncengine (dependencies point one way): the command
    runs the demo, the demo prints with syncengine._console, never the other way."""
    assert [] == _cycles(GRAPH)


def _names_used(tree: ast.AST) -> set[str]:
    """The names module ``tree`` reads: bare, as attributes, or imported by name."""
    used: set[str] = set()
    for node in ast.walk(tree):
        if isinstance(node, ast.Name):
            used.add(node.id)
        elif isinstance(node, ast.Attribute):
            used.add(node.attr)
        elif isinstance(node, ast.ImportFrom):
            used.update(alias.name for alias in node.names)
    return used


def _exported(tree: ast.AST) -> list[str]:
    for node in ast.walk(tree):
        if isinstance(node, ast.Assign) and any(
            isinstance(t, ast.Name) and t.id == "__all__" for t in node.targets
        ):
            return list(ast.literal_eval(node.value))
    return []


def _unused_engine_exports() -> list[str]:
    trees = {name: ast.parse(path.read_text(encoding="utf-8")) for name, path in MODULES.items()}
    used = {name: _names_used(tree) for name, tree in trees.items()}
    return [
        f"{module}.{name}"
        for module, tree in trees.items()
        if module.startswith("syncengine.engine.")
        for name in _exported(tree)
        if not any(name in names for names in used.values())
    ]


def test_every_function_an_engine_module_exports_is_used():
    """No dead code in the engine's modules: each name a module exports is read
    somewhere in the package (``guard.restart_pending`` was left behind when every
    initial sync became guarded, and answered a question nothing asked)."""
    assert [] == _unused_engine_exports()


PURE_CORE = (
    "syncengine.plan",
    "syncengine.filters",
    "syncengine.conflicts",
    "syncengine.mapping",
    "syncengine.matching",
    "syncengine.transitions",
    "syncengine.entry",
    "syncengine._landed",
    "syncengine._merges",
)
#: What the pure core may not reach, directly or through the modules it imports.
NO_IO = (
    "syncengine.adapters",
    "syncengine.index",
    "syncengine.engine",
    "syncengine.status",
    "syncengine.cli",
    "syncengine.configfile",
    "syncengine.webhooks",
)
NO_IO_LIBRARIES = ("httpx", "sqlite3", "psycopg", "time", "logging", "socket", "os", "click")


def _reached(start: str) -> set[str]:
    seen = {start}
    todo = [start]
    while todo:
        for nxt in GRAPH[todo.pop()]:
            if nxt not in seen:
                seen.add(nxt)
                todo.append(nxt)
    return seen


@pytest.mark.parametrize("core", PURE_CORE)
def test_the_pure_core_reaches_no_io(core):
    """The decision core (plan, filters, conflicts, mapping, matching, the entry and its
    transitions) and every module it imports, transitively, import no adapter, no part of
    the index package, no engine, and no I/O library."""
    reached = _reached(core)
    assert [] == sorted(m for m in reached if m.startswith(NO_IO))
    libraries = {
        (name, imported)
        for name in reached
        for imported in _imports(name)
        if imported.split(".")[0] in NO_IO_LIBRARIES
    }
    assert set() == libraries


#: The web libraries of the ``server`` extra: only the console imports them.
WEB_LIBRARIES = ("starlette", "uvicorn", "jinja2", "multipart", "selenium")


def test_only_the_console_imports_the_web_libraries():
    """starlette, uvicorn and Jinja2 (the ``server`` extra) are imported by
    syncengine.server alone, and by the command's ``serve`` (inside the function, so
    that the other commands run without the extra); nothing else imports
    syncengine.server."""
    importers = {
        (name, imported.split(".")[0])
        for name in MODULES
        for imported in _imports(name)
        if imported.split(".")[0] in WEB_LIBRARIES
    }
    assert {n for n, _ in importers} <= {
        m for m in MODULES if m.startswith("syncengine.server")
    } | {"syncengine.cli"}
    assert {("syncengine.cli", "uvicorn")} == {
        (n, lib) for n, lib in importers if n == "syncengine.cli"
    }
    users = {
        name
        for name in MODULES
        if not name.startswith("syncengine.server")
        and any(m.startswith("syncengine.server") for m in GRAPH[name])
    }
    assert {"syncengine.cli"} == users


def test_importing_the_library_and_the_command_loads_no_web_library():
    """``import syncengine`` (and the command, the config files, the webhooks) loads none
    of the server extra's libraries: the core has no web dependency."""
    import subprocess
    import sys

    code = (
        "import sys, syncengine, syncengine.cli, syncengine.configfile, syncengine.webhooks, "
        "syncengine.index, syncengine.testing\n"
        f"print(sorted(m for m in sys.modules if m.split('.')[0] in {WEB_LIBRARIES!r}))"
    )
    found = subprocess.run(
        [sys.executable, "-c", code], capture_output=True, text=True, check=True
    ).stdout.strip()
    assert "[]" == found
