"""benchmarks/floor.py does the work of the engine's scenarios: a fair floor.

The floor's loops leave both synthetic apps holding exactly what the engine leaves there
(same creates, same merged values, same conflict winners), so its figures are the cost
of the same writes without the engine (benchmarks/README.md, "The floor").
"""

from __future__ import annotations

import importlib.util
import sqlite3
import sys
from pathlib import Path

import pytest

from syncengine import (
    ErrorCategory,
    FieldMapping,
    MatchRule,
    ObjectSync,
    Side,
    SyncConfig,
    SyncEngine,
)
from syncengine.adapters import WriteResult
from syncengine.index import MemoryIndexStore

BENCHMARKS = Path(__file__).resolve().parents[2] / "benchmarks"


def _load(name: str, filename: str):
    """A benchmarks module loaded from its file; sys.path is left as it was (the
    benchmarks directory on it would shadow packages: hubspot.py)."""
    saved = list(sys.path)
    try:
        spec = importlib.util.spec_from_file_location(name, BENCHMARKS / filename)
        assert spec is not None
        assert spec.loader is not None
        module = importlib.util.module_from_spec(spec)
        sys.modules.setdefault(name, module)  # attrs looks classes up here
        spec.loader.exec_module(module)
        return sys.modules[name]
    finally:
        sys.path[:] = saved


_synthetic = _load("_synthetic", "_synthetic.py")  # the module floor.py imports by name
floor = _load("_benchmarks_floor", "floor.py")


def _config() -> SyncConfig:
    """run.py's configuration: 8 mapped fields, matched by e-mail, the hub wins."""
    names = zip(_synthetic.HUB_NAMES, _synthetic.APP_NAMES, strict=True)
    mappings = [FieldMapping(hub, app) for hub, app in names]
    contacts = ObjectSync(
        _synthetic.TYPE, _synthetic.TYPE, mappings, match=MatchRule([("email", "Email")])
    )
    return SyncConfig("bench", [contacts])


def _contents(adapter) -> dict[str, dict[str, object]]:
    """Every record of an app by id, as its properties."""
    return {
        record.id: dict(record.properties)
        for page in adapter.scan(_synthetic.TYPE)
        for record in page.records
    }


def _connect(tmp_path: Path, name: str) -> sqlite3.Connection:
    return floor.connect(str(tmp_path / f"{name}.db"))


@pytest.mark.parametrize("matched", [False, True], ids=["one_sided", "matched"])
def test_the_floor_writes_what_the_engine_writes(tmp_path, matched):
    """initial_one_sided and initial_matched (S3): the same app records, created or
    merged (D2, D3), by the floor's loop and by the engine."""
    n = 240
    by_floor = floor.adapters(n, n if matched else 0)
    by_engine = floor.adapters(n, n if matched else 0)
    conn = _connect(tmp_path, "floor")
    written = floor.matched(*by_floor, conn)[0] if matched else floor.one_sided(*by_floor, conn)
    SyncEngine(*by_engine, MemoryIndexStore(), _config()).initial_sync()

    assert written == n
    assert _contents(by_floor[1]) == _contents(by_engine[1])
    assert _contents(by_floor[0]) == _contents(by_engine[0])
    assert len(_contents(by_floor[1])) == n


@pytest.mark.parametrize("scenario", ["incremental_1pct", "conflict_1pct"])
def test_the_floor_passes_write_what_the_engine_writes(tmp_path, scenario):
    """An incremental pass (S5, S6, D6): the echoes of the initial sync cost no write, a
    change on one side flows to the other, a conflict goes to the hub (D3)."""
    n = 500
    by_floor = floor.adapters(n, n)
    by_engine = floor.adapters(n, n)
    conn = _connect(tmp_path, "floor")
    cursors = floor.matched(*by_floor, conn)[1]
    echoes = floor.incremental(*by_floor, conn, cursors)
    engine = SyncEngine(*by_engine, MemoryIndexStore(), _config())
    engine.initial_sync()
    engine.incremental_sync()

    assert echoes == {"echoes": n, "hub": 0, "app": 0}
    hub_changes, app_changes = _synthetic.scenario_changes(scenario, *by_floor, n)
    _synthetic.scenario_changes(scenario, *by_engine, n)
    counts = floor.incremental(*by_floor, conn, cursors)
    report = engine.incremental_sync()

    assert counts["app"] == len(hub_changes) == report.side(_synthetic.TYPE, Side.APP).updated
    assert counts["hub"] == report.side(_synthetic.TYPE, Side.HUB).updated
    assert counts["hub"] == (0 if scenario == "conflict_1pct" else len(app_changes))
    for side in (0, 1):
        assert _contents(by_floor[side]) == _contents(by_engine[side])


def _refusing(adapter, method: str):
    """Make ``adapter``'s ``method`` refuse every item, as an app that rejects a batch."""

    def refuse(object_type, items):
        return [WriteResult.failed(ErrorCategory.VALIDATION, "refused") for _ in items]

    setattr(adapter, method, refuse)


@pytest.mark.parametrize("matched", [False, True], ids=["one_sided", "matched"])
def test_the_floor_fails_when_an_app_refuses_its_writes(tmp_path, matched):
    """The floor's checks can fail: a refused create or update stops it, so a broken
    floor cannot print a figure (its check used to read ``result.ok``, a classmethod,
    which is always true)."""
    hub, app = floor.adapters(50, 50 if matched else 0)
    _refusing(app, "update" if matched else "create")
    conn = _connect(tmp_path, "floor")
    with pytest.raises(AssertionError, match="items failed"):
        floor.matched(hub, app, conn) if matched else floor.one_sided(hub, app, conn)


def test_the_floor_incremental_pass_fails_when_an_app_refuses_its_writes(tmp_path):
    """The same for an incremental pass's updates."""
    n = 200
    hub, app = floor.adapters(n, n)
    conn = _connect(tmp_path, "floor")
    cursors = floor.matched(hub, app, conn)[1]
    floor.incremental(hub, app, conn, cursors)
    _synthetic.scenario_changes("incremental_1pct", hub, app, n)
    _refusing(app, "update")
    with pytest.raises(AssertionError, match="items failed"):
        floor.incremental(hub, app, conn, cursors)


@pytest.mark.parametrize("matched", [False, True], ids=["one_sided", "matched"])
def test_the_floor_reads_each_record_once_per_side(tmp_path, matched):
    """No re-reads (S3): the floor's initial sync reads each app's records once: no fetch
    of a matched counterpart, no rescan of the hub."""
    n = 240
    hub, app = floor.adapters(n, n if matched else 0)
    if matched:
        floor.matched(hub, app, _connect(tmp_path, "floor"))
    else:
        floor.one_sided(hub, app, _connect(tmp_path, "floor"))
    assert n == hub.stats().records_read()
    assert (n if matched else 0) == app.stats().records_read()
    assert 0 == hub.stats().count_calls("fetch") + app.stats().count_calls("fetch")
