"""The initial sync's matched pages run with the cyclic garbage collector paused.

Phase 1 (the hub indexed) and the lean path of phase 2 (``syncengine.engine.lean``) hold
a page's records, entries and decisions for the whole page: thousands of container
objects that live through several automatic collections, which move them to the oldest
generation and so bring on full collections of the whole heap (~6 % of the instructions
of ``benchmarks/instructions.py --scenario initial_matched``). Nothing of a page forms a
reference cycle that outlives it, so the collector is paused while a page is worked on
and resumed after it, whatever the page did; a host that turned it off keeps it off.
"""

from __future__ import annotations

import gc
from collections.abc import Iterator, Sequence
from typing import Any

import pytest

from syncengine import (
    FieldMapping,
    IndexStoreError,
    MatchRule,
    ObjectSchema,
    ObjectSync,
    PropertySpec,
    SyncConfig,
    SyncEngine,
)
from syncengine.adapters import InMemoryAdapter
from syncengine.index import SQLiteIndexStore
from syncengine.records import NewRecord, RecordUpdate, WriteResult

from .conftest import FakeClock

HUB = ObjectSchema("contacts", [PropertySpec(n, "string") for n in ("email", "firstname")])
APP = ObjectSchema("people", [PropertySpec(n, "string") for n in ("mail", "first_name")])


class SpyApp(InMemoryAdapter):
    """Notes whether the collector was on at each update call."""

    def __init__(self, *args: Any, **kwargs: Any) -> None:
        super().__init__(*args, **kwargs)
        self.collecting: list[bool] = []

    def update(self, object_type: str, items: Sequence[RecordUpdate]) -> Sequence[WriteResult]:
        self.collecting.append(gc.isenabled())
        return super().update(object_type, items)

    def create(self, object_type: str, items: Sequence[NewRecord]) -> Sequence[WriteResult]:
        self.collecting.append(gc.isenabled())
        return super().create(object_type, items)


@pytest.fixture
def collector() -> Iterator[None]:
    """The collector on, as a test found it, and back as it was after."""
    was = gc.isenabled()
    gc.enable()
    try:
        yield
    finally:
        if was:
            gc.enable()
        else:
            gc.disable()


def world(
    tmp_path: Any, *, app_records: bool = True
) -> tuple[SyncEngine, SpyApp, SQLiteIndexStore, list[bool]]:
    clock = FakeClock()
    hub = InMemoryAdapter([HUB], name="hub", clock=clock, id_prefix="h")
    app = SpyApp([APP], name="app", clock=clock, id_prefix="a", page_size=2)
    for n in range(1, 6):
        hub.put("contacts", id=f"h{n}", email=f"p{n}@x.io", firstname=f"Hub {n}")
        if app_records:
            app.put("people", id=f"a{n}", mail=f"P{n}@X.io", first_name=f"App {n}")
    store = SQLiteIndexStore(tmp_path / "index.db")
    writes: list[bool] = []  # the collector's state at each write of built entries

    def spy(write: Any) -> Any:
        def spied(*args: Any, **kwargs: Any) -> None:
            writes.append(gc.isenabled())
            write(*args, **kwargs)

        return spied

    for name in (
        "write_built",
        "write_new",
        "write_created",
        "write_announced",
        "write_announced_created",
        "write_synced",
        "write_synced_rows",
        "write_matched",
        "write_indexed_new",
    ):
        setattr(store, name, spy(getattr(store, name)))
    sync = ObjectSync(
        "contacts",
        "people",
        [FieldMapping("email", "mail"), FieldMapping("firstname", "first_name")],
        match=MatchRule.email("email", "mail"),
    )
    engine = SyncEngine(hub, app, store, SyncConfig("gc", [sync]), clock=clock)
    return engine, app, store, writes


@pytest.mark.usefixtures("collector")
def test_pages_run_with_the_collector_paused(tmp_path: Any) -> None:
    engine, app, store, writes = world(tmp_path)
    report = engine.initial_sync(allow_mass_changes=True)
    assert report.failed == 0
    assert report.updated == 5  # every app record takes the hub's values: the lean path's
    assert len(writes) == 4  # phase 1's page, and phase 2's three pages of pairs
    assert not any(writes)
    assert len(app.collecting) == 3
    assert not any(app.collecting)
    assert gc.isenabled()
    store.close()


@pytest.mark.usefixtures("collector")
def test_phase_3_creates_run_with_the_collector_paused(tmp_path: Any) -> None:
    # An empty app: the initial sync goes straight to phase 3, which creates every hub
    # record in the app a page at a time (syncengine.engine.creates).
    engine, app, store, writes = world(tmp_path, app_records=False)
    report = engine.initial_sync(allow_mass_changes=True)
    assert report.failed == 0
    assert report.created == 5
    assert app.collecting
    assert not any(app.collecting)
    assert writes  # the announced creates and their outcomes
    assert not any(writes)
    assert gc.isenabled()
    store.close()


@pytest.mark.usefixtures("collector")
def test_a_host_that_turned_the_collector_off_keeps_it_off(tmp_path: Any) -> None:
    engine, _, store, _ = world(tmp_path)
    gc.disable()
    engine.initial_sync(allow_mass_changes=True)
    assert not gc.isenabled()
    store.close()


@pytest.mark.usefixtures("collector")
def test_the_collector_resumes_after_a_page_that_fails(tmp_path: Any) -> None:
    engine, _, store, _ = world(tmp_path)

    def broken(*args: Any, **kwargs: Any) -> None:
        raise IndexStoreError("the disk is full")

    store.write_built = broken  # type: ignore[method-assign]
    store.write_indexed_new = broken  # type: ignore[method-assign]  # phase 1's new entries
    with pytest.raises(IndexStoreError, match="the disk is full"):
        engine.initial_sync(allow_mass_changes=True)
    assert gc.isenabled()
    store.close()


@pytest.mark.usefixtures("collector")
def test_incremental_pages_run_with_the_collector_paused(tmp_path: Any) -> None:
    # An incremental pass holds each page's records, entries and outcomes until the
    # page is done, as the initial sync's pages do: the app's page indexed first, then
    # each side's changes, worked on with the collector paused.
    engine, app, store, writes = world(tmp_path)
    engine.initial_sync(allow_mass_changes=True)
    engine.incremental_sync()  # the echoes of the initial sync's app updates
    engine.hub.update("contacts", [RecordUpdate("h1", {"firstname": "Ada"})])
    app.update("people", [RecordUpdate("a2", {"first_name": "Bob"})])
    del writes[:], app.collecting[:]
    report = engine.incremental_sync()
    assert report.updated == 2  # the lean path's pairs: one write to each app
    assert writes  # write_synced, once per page
    assert not any(writes)
    assert app.collecting == [False]  # the pass's update of the app
    assert gc.isenabled()
    store.close()


@pytest.mark.usefixtures("collector")
def test_the_collector_resumes_after_an_incremental_page_that_fails(tmp_path: Any) -> None:
    engine, _, store, _ = world(tmp_path)
    engine.initial_sync(allow_mass_changes=True)
    engine.hub.update("contacts", [RecordUpdate("h1", {"firstname": "Ada"})])

    def broken(*args: Any, **kwargs: Any) -> None:
        raise IndexStoreError("the disk is full")

    store.write_synced = broken  # type: ignore[method-assign]
    store.write_synced_rows = broken  # type: ignore[method-assign]  # the lean path's
    with pytest.raises(IndexStoreError, match="the disk is full"):
        engine.incremental_sync()
    assert gc.isenabled()
    store.close()
