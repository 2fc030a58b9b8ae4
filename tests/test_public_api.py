"""The public surface is pinned to DESIGN.md §3 (the contract other code imports)."""

from __future__ import annotations

import ast
import importlib
from pathlib import Path

import pytest

SRC = Path(__file__).resolve().parents[1] / "src" / "syncengine"

CONTRACT = {
    "syncengine": {
        "SyncEngine",
        "SyncConfig",
        "ObjectSync",
        "FieldMapping",
        "MatchRule",
        "PipelineMap",
        "Filter",
        "Condition",
        "Direction",
        "Side",
        "Record",
        "ChangeEvent",
        "SyncReport",
        "PropertyType",
        "PropertySpec",
        "ObjectSchema",
        "RecordState",
        "ErrorCategory",
        "ExcludeReason",
        "SyncEngineError",
        "ConfigError",
        "AdapterError",
    },
    "syncengine.adapters": {
        "Adapter",
        "Page",
        "NewRecord",
        "RecordUpdate",
        "WriteResult",
        "Pipeline",
        "Stage",
        "AssociationChange",
        "InMemoryAdapter",
        "SQLiteAdapter",
    },
    "syncengine.index": {"IndexStore", "MemoryIndexStore", "SQLiteIndexStore"},
    "syncengine.testing": {
        "AdapterTests",
        "IndexStoreTests",
        "check_adapter",
        "check_index_store",
        "FaultyAdapter",
    },
}

# Names we export beyond the contract, on purpose.
EXTRAS = {
    "syncengine": {
        "IndexStoreError",
        "SafetyStop",
        "SyncDisabledError",
        "UnsupportedCapability",
    },
    "syncengine.adapters": {"AdapterStats"},
    "syncengine.index": {"CursorUpdate", "Entry", "HistoryItem", "InboxItem"},
    "syncengine.testing": {"Crash"},
}


@pytest.mark.parametrize("module_name", sorted(CONTRACT))
def test_all_lists_exactly_the_contract_and_the_documented_extras(module_name):
    """Each public package's __all__ is the contract plus known extras, sorted."""
    module = importlib.import_module(module_name)
    assert CONTRACT[module_name] | EXTRAS[module_name] == set(module.__all__)
    assert sorted(module.__all__) == list(module.__all__)


@pytest.mark.parametrize("module_name", sorted(CONTRACT))
def test_every_public_name_imports(module_name):
    """`from package import name` works for every name of the contract."""
    module = importlib.import_module(module_name)
    for name in CONTRACT[module_name]:
        assert getattr(module, name) is not None


def test_star_import_gives_the_contract():
    """`from syncengine import *` binds exactly the public names."""
    namespace: dict[str, object] = {}
    exec("from syncengine import *", namespace)
    assert CONTRACT["syncengine"] <= set(namespace)


def test_error_tree():
    """Errors share one root; ConfigError is also a ValueError (STYLE §4)."""
    import syncengine as se

    for name in (
        "ConfigError",
        "AdapterError",
        "IndexStoreError",
        "SyncDisabledError",
        "SafetyStop",
        "UnsupportedCapability",
    ):
        assert issubclass(getattr(se, name), se.SyncEngineError)
    assert issubclass(se.ConfigError, ValueError)
    assert issubclass(se.UnsupportedCapability, NotImplementedError)


def imported_modules(path: Path) -> set[str]:
    tree = ast.parse(path.read_text(encoding="utf-8"))
    names: set[str] = set()
    for node in ast.walk(tree):
        if isinstance(node, ast.Import):
            names.update(alias.name for alias in node.names)
        elif isinstance(node, ast.ImportFrom) and node.module:
            names.add(node.module)
    return names


@pytest.mark.parametrize(
    "path",
    [
        SRC / "plan.py",
        *sorted((SRC / "conflicts").glob("*.py")),
        *sorted((SRC / "mapping").glob("*.py")),
        *sorted((SRC / "matching").glob("*.py")),
        SRC / "filters.py",
    ],
    ids=lambda p: p.name,
)
def test_the_decision_core_does_no_io(path):
    """The pure core imports no adapter, no store, no HTTP, no database, no clock (STYLE §2)."""
    forbidden = (
        "syncengine.adapters",
        "syncengine.index",  # all of it: its __init__ loads the stores (entries: syncengine.entry)
        "syncengine.engine",
        "httpx",
        "sqlite3",
        "time",
        "logging",
        "socket",
    )
    imported = imported_modules(path)
    assert not {m for m in imported if m.startswith(forbidden)}


def test_package_ships_type_information():
    """py.typed is there, so users' type checkers read our annotations."""
    assert (SRC / "py.typed").exists()
