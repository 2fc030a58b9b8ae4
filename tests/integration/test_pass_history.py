"""The pass history (issue 20, item 3): the engine records every pass in the index store.

One :class:`~syncengine.history.PassRecord` per pass, at its end, whatever the outcome:
completed, skipped (the sync is off), stopped by the mass-change guard, or failed (it
raised: the detail is the error on one line, credentials hidden). A pass that resumes
another (an incremental pass running the initial sync) or plans itself first (the guard's
dry pass) is one record. A store that cannot keep records never breaks a pass.
"""

from __future__ import annotations

import logging

import pytest

from syncengine import (
    ChangeEvent,
    SafetyStop,
    Side,
    SyncConfig,
    SyncDisabledError,
    SyncEngine,
    _inbox,
)
from syncengine.history import PassRecord
from syncengine.index import IndexStore, MemoryIndexStore
from syncengine.report import SideCounts

from .conftest import contacts_sync


def seed(hub, count=3):
    for i in range(count):
        hub.put("contacts", email=f"p{i}@example.com", firstname=f"Hub{i}", lastname="L")


def ticking(clock, adapter, seconds=2.0):
    """Each scan of ``adapter`` takes ``seconds`` of the fake clock (pass durations)."""
    scan = adapter.scan

    def slow_scan(object_type, since=None):
        clock.advance(seconds)
        return scan(object_type, since)

    adapter.scan = slow_scan


def test_each_pass_is_recorded_with_its_counts_and_times(make_engine, hub, app, index, clock):
    """Initial then incremental passes: numbered, newest first, counts as the report's."""
    seed(hub)
    ticking(clock, hub)
    engine = make_engine()
    first = engine.initial_sync()
    hub.patch("contacts", hub.records("contacts")[0].id, firstname="Changed")
    clock.advance(60)
    second = engine.incremental_sync()
    records = index.passes("sync-1")
    assert [2, 1] == [r.number for r in records]
    assert ["incremental", "initial"] == [r.kind for r in records]
    assert ["completed", "completed"] == [r.outcome for r in records]
    newest, oldest = records
    assert oldest.started_at == first.started_at
    assert oldest.finished_at == first.finished_at
    assert newest.started_at == second.started_at
    assert oldest.duration.total_seconds() >= 2.0  # the hub scan took 2 s of the clock
    assert (3, 0, 0) == (oldest.created, oldest.updated, oldest.failed)
    assert {"contacts": {"app": SideCounts(created=3)}} == {
        obj: {side: c for side, c in by_side.items() if c.created}
        for obj, by_side in oldest.counts.items()
    }
    assert (0, 1) == (newest.created, newest.updated)
    assert newest.counts["contacts"]["app"].updated == 1
    assert not newest.dry_run
    assert newest.detail == ""


def test_dry_runs_are_flagged_and_a_guarded_pass_is_one_record(
    hub, app, index, clock, contacts_sync
):
    """The guard's planning dry pass is part of the pass; a user's dry run is flagged."""
    seed(hub, 12)
    config = SyncConfig("sync-1", [contacts_sync()], max_change_ratio=0.9)
    engine = SyncEngine(hub, app, index, config, clock=clock, sleep=clock.advance)
    engine.initial_sync()
    engine.incremental_sync(True)  # positional dry_run
    engine.incremental_sync()
    records = index.passes("sync-1")
    assert [("incremental", False), ("incremental", True), ("initial", False)] == [
        (r.kind, r.dry_run) for r in records
    ]


def test_skipped_stopped_and_failed_passes_are_recorded(make_engine, hub, app, index, clock):
    """Off: skipped; the mass-change guard: stopped; an app that raises: failed, with what
    the pass had done by then and the error on one line, its password hidden. (A webhook
    batch refused while the sync is off did nothing, and is not recorded.)"""
    seed(hub, 20)
    engine = make_engine(contacts_sync())
    engine.initial_sync()
    engine.disable()
    engine.incremental_sync()
    with pytest.raises(SyncDisabledError):
        engine.handle_events(Side.HUB, [ChangeEvent("contacts", "h1", "updated")])
    engine.enable()
    guarded = SyncEngine(
        hub,
        app,
        index,
        SyncConfig("sync-1", [contacts_sync()], max_change_ratio=0.2),
        clock=clock,
    )
    for person in app.records("people"):
        app.patch("people", person.id, first_name="N/A")
    clock.advance()
    with pytest.raises(SafetyStop):
        guarded.incremental_sync()
    for contact in hub.records("contacts")[:3]:
        hub.patch("contacts", contact.id, lastname="Again")
    real_scan = hub.scan

    def failing_scan(object_type, since=None):
        pages = real_scan(object_type, since)

        def dropped():  # the hub's changes are processed, then the connection drops
            yield from pages
            raise RuntimeError("cannot reach postgresql://sync:hunter2@db/app\nretry later")

        return dropped()

    hub.scan = failing_scan
    clock.advance()
    with pytest.raises(Exception, match="cannot reach"):
        engine.incremental_sync(allow_mass_changes=True)
    # (The webhook batch refused while the sync was off did nothing: not recorded.)
    failed, stopped, skipped, _initial = index.passes("sync-1")
    assert ("skipped", "incremental", "the sync is disabled") == (
        skipped.outcome,
        skipped.kind,
        skipped.detail,
    )
    assert ("stopped", "incremental") == (stopped.outcome, stopped.kind)
    assert "would update 20 of the 20 contacts records in the hub" in stopped.detail
    assert "failed" == failed.outcome
    assert "hunter2" not in failed.detail
    assert "\n" not in failed.detail
    assert "cannot reach postgresql://sync:[redacted]@db/app retry later" in failed.detail
    assert failed.counts["contacts"]["app"].updated == 3  # done before the scan failed


def test_events_drains_restores_and_reconciles_are_recorded(make_engine, hub, app, index, clock):
    """Every kind of pass leaves one record: events, inbox drains, reconcile, restore."""
    seed(hub)
    engine = make_engine()
    engine.initial_sync()
    contact = hub.records("contacts")[0]
    hub.patch("contacts", contact.id, firstname="Pushed")
    engine.handle_events(Side.HUB, [ChangeEvent("contacts", contact.id, "updated")])
    hub.patch("contacts", contact.id, firstname="Kept")
    event = ChangeEvent("contacts", contact.id, "updated", occurred_at=contact.updated_at)
    index.inbox_add([_inbox.item_of("sync-1", Side.HUB, event, contact.updated_at)])
    engine.drain_inbox()
    engine.reconcile()
    app.remove("people", app.records("people")[0].id)
    engine.incremental_sync()
    engine.restore(engine.plan_restore("contacts", Side.APP))
    kinds = [(r.kind, r.outcome) for r in reversed(index.passes("sync-1"))]
    assert [
        ("initial", "completed"),
        ("events", "completed"),
        ("events", "completed"),
        ("reconcile", "completed"),
        ("incremental", "completed"),
        ("restore", "completed"),
    ] == kinds
    restored = index.passes("sync-1", limit=1)[0]
    assert restored.created == 1


def test_an_incremental_pass_resuming_the_initial_sync_is_one_record(make_engine, hub, app, index):
    """incremental_sync before the initial sync completed runs it: one record, initial."""
    seed(hub)
    make_engine().incremental_sync()
    (only,) = index.passes("sync-1")
    assert ("initial", "completed", 3) == (only.kind, only.outcome, only.created)


def test_an_inbox_drain_that_found_nothing_is_not_recorded(make_engine, hub, index, caplog):
    """drain_inbox runs every few seconds: one that found no event (or that the sync was
    off for) is neither recorded nor logged above DEBUG; one that processed events is."""
    seed(hub)
    engine = make_engine()
    engine.initial_sync()
    caplog.set_level(logging.DEBUG, logger="syncengine")
    engine.drain_inbox()
    engine.disable()
    engine.drain_inbox()
    engine.enable()
    assert ["initial"] == [r.kind for r in index.passes("sync-1")]
    idle = [r for r in caplog.records if r.name == "syncengine.engine"]
    assert 3 == len(idle)  # start and end of the empty drain, end of the skipped one
    assert {logging.DEBUG} == {r.levelno for r in idle}
    contact = hub.records("contacts")[0]
    hub.patch("contacts", contact.id, firstname="Pushed")
    event = ChangeEvent("contacts", contact.id, "updated", occurred_at=contact.updated_at)
    index.inbox_add([_inbox.item_of("sync-1", Side.HUB, event, contact.updated_at)])
    caplog.clear()
    engine.drain_inbox()
    newest = index.passes("sync-1", limit=1)[0]
    assert ("events", "completed", 1) == (newest.kind, newest.outcome, newest.updated)
    ends = [r for r in caplog.records if r.getMessage().startswith("pass completed")]
    assert [logging.INFO] == [r.levelno for r in ends]


class _BrokenHistory(MemoryIndexStore):
    """A store whose pass history fails (a full disk, a lost connection)."""

    def add_pass(self, record: PassRecord) -> PassRecord:
        raise OSError("disk full")


class _NoHistory(IndexStore):
    """A third-party store written before the pass history: no add_pass, no passes."""

    def __init__(self) -> None:
        self.inner = MemoryIndexStore()

    def get(self, sync_id, object_type, entry_ids):
        return self.inner.get(sync_id, object_type, entry_ids)

    def by_record_ids(self, sync_id, object_type, side, record_ids):
        return self.inner.by_record_ids(sync_id, object_type, side, record_ids)

    def by_keys(self, sync_id, object_type, keys):
        return self.inner.by_keys(sync_id, object_type, keys)

    def entries(self, sync_id, object_type=None, **filters):
        return self.inner.entries(sync_id, object_type, **filters)

    def counts(self, sync_id):
        return self.inner.counts(sync_id)

    def write(self, entries=(), *, delete=(), cursors=()):
        self.inner.write(entries, delete=delete, cursors=cursors)

    def cursor(self, sync_id, side, object_type, name="poll"):
        return self.inner.cursor(sync_id, side, object_type, name)

    def get_meta(self, sync_id, key):
        return self.inner.get_meta(sync_id, key)

    def set_meta(self, sync_id, key, value):
        self.inner.set_meta(sync_id, key, value)

    def acquire(self, sync_id, object_type, names, owner, *, until, now):
        return self.inner.acquire(sync_id, object_type, names, owner, until=until, now=now)

    def release(self, sync_id, owner, names=None, object_type=None):
        self.inner.release(sync_id, owner, names, object_type)

    def delete_sync(self, sync_id):
        self.inner.delete_sync(sync_id)


@pytest.mark.parametrize("store_class", [_BrokenHistory, _NoHistory])
def test_a_store_that_cannot_keep_the_history_never_breaks_a_pass(
    hub, app, clock, caplog, store_class
):
    """The pass runs and returns its report; one WARNING says why it was not recorded
    (once per engine for a store without a history)."""
    seed(hub)
    store = store_class()
    engine = SyncEngine(hub, app, store, SyncConfig("sync-1", [contacts_sync()]), clock=clock)
    with caplog.at_level(logging.WARNING, logger="syncengine"):
        assert 3 == engine.initial_sync().created
        hub.patch("contacts", hub.records("contacts")[0].id, firstname="X")
        assert 1 == engine.incremental_sync().updated
    warnings = [r.getMessage() for r in caplog.records if r.name == "syncengine.engine"]
    if store_class is _BrokenHistory:
        assert 2 == len(warnings)
        assert all("not recorded in the pass history: OSError: disk full" in w for w in warnings)
    else:
        assert 1 == len(warnings)
        assert "keeps no pass history" in warnings[0]


@pytest.mark.parametrize("keep", [0, -1, 1.5, "10", True])
def test_keep_passes_must_be_a_positive_int(keep, tmp_path):
    """A store built to keep no passes (or a non-number) is refused when it is built."""
    from syncengine.index import SQLiteIndexStore

    with pytest.raises(ValueError, match="keep_passes"):
        MemoryIndexStore(keep_passes=keep)
    with pytest.raises(ValueError, match="keep_passes"):
        SQLiteIndexStore(tmp_path / "index.db", keep_passes=keep)


def test_a_pass_the_history_could_not_keep_says_so_in_its_report(hub, app, clock):
    """An embedding program that configures no logging reads the report: a pass whose
    record the store could not keep says so in ``report.errors`` (before: only a WARNING,
    which such a program never sees)."""
    seed(hub)
    engine = SyncEngine(
        hub, app, _BrokenHistory(), SyncConfig("sync-1", [contacts_sync()]), clock=clock
    )
    report = engine.initial_sync()
    assert 3 == report.created
    assert [
        "the initial pass was not recorded in the pass history: OSError: disk full"
    ] == report.errors
