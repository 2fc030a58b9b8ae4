"""Records read per side and per record: what a pass costs a rate-limited app (S3, S6).

Apps charge by the call and by the record, so each pass's reads are pinned here through
``InMemoryAdapter.stats()``. The minimum is one read of each record per side per pass:
an initial sync scans each app once (phase 3 works from what phase 1 kept, a matched
pair is not fetched again), and an incremental pass or a reconcile scans each side once.

Each bound below is the engine's count, with the minimum beside it: a pass that reads
more fails, and so does one that reads fewer records than the minimum (it skipped some).
When the engine reads less, lower the bound to the new count, toward the minimum.
"""

from __future__ import annotations

from collections import Counter
from typing import NamedTuple

import attrs
import pytest

from syncengine import Side, SyncConfig, SyncEngine
from syncengine.adapters import AdapterStats, InMemoryAdapter, NewRecord
from syncengine.engine import passes
from syncengine.index import MemoryIndexStore
from syncengine.states import RecordState

from .conftest import CONTACT_MAPPINGS, CONTACTS_APP, CONTACTS_HUB, FakeClock, contacts_sync

N = 40  # records per app
PAGE = 10  # records per scan page
HUB_CHANGES = 3  # hub records changed before the incremental pass
APP_CHANGES = 2  # other app records changed before it


class Bound(NamedTuple):
    """Records read on one side in one pass: the engine's count and the least possible."""

    today: int
    minimum: int


#: scenario -> side -> Bound, in records read (scans and fetches). Per record: over N,
#: and for the incremental scenarios over the records changed on that side.
EXPECTED = {
    # Both apps hold the same N people; the app holds phones the hub lacks. Hub: twice
    # per record (phase 1's scan, and the fetch of each matched counterpart in phase 2:
    # a pair whose merge writes to the hub reads its hub record fresh before the pair is
    # written, so a hub user's edit made since phase 1 is not overwritten; phase 3 finds
    # no hub record unsynced and reads nothing). App: once
    # (the probe's first page is phase 2's first page). Minimum: 1 per side.
    "initial_matched": {Side.HUB: Bound(2 * N, N), Side.APP: Bound(N, N)},
    # Both apps hold the same N people, and the hub holds every value the app holds
    # (the app spells the e-mails its way and lacks the phones: the hub wins, nothing is
    # written to the hub). Hub: once (phase 1's scan; phase 2 merges each pair with the
    # values phase 1 read, and a hub edit made since is the next pass's change). At the
    # minimum.
    "initial_matched_hub_full": {Side.HUB: Bound(N, N), Side.APP: Bound(N, N)},
    # Half the people on each side are the same (N/2 pairs), the other halves differ.
    # Hub: phase 1's scan (N), the fetch of the N/2 matched counterparts, the catch-up
    # scan before phase 2's first create into the hub (the hub's changes since phase 1:
    # the N/2 updates phase 2 wrote so far, M1), and phase 3's read by id of the N/2
    # hub records still unsynced (2.5 per record). App: its scan (N) and the catch-up
    # before phase 3's first create into the app (the N/2 updates phase 2 wrote there;
    # 1.5 per record).
    "initial_half_matched": {
        Side.HUB: Bound(N + 3 * (N // 2), N),
        Side.APP: Bound(N + N // 2, N),
    },
    # An empty app: the probe finds it empty, phase 3 creates every hub record as it
    # reads it. At the minimum.
    "initial_hub_only": {Side.HUB: Bound(N, N), Side.APP: Bound(0, 0)},
    # An empty hub: phase 1 reads nothing, phase 2 reads the app once and creates each
    # record in the hub, and phase 3 finds nothing unsynced (no rescan of the hub's new
    # records). At the minimum: 1 per record on the app, 0 on the hub.
    "initial_app_only": {Side.HUB: Bound(0, 0), Side.APP: Bound(N, N)},
    # After the pass that takes in the echoes of the initial sync's writes, a few
    # records change on each side. Each side's changes are scanned once (the app's are
    # kept for the hub's pairs and for the app's own processing). App: its changes
    # only; the hub's changed pairs take their app counterpart's index copy (D6), as the
    # app did not change them and the hub wins a conflict. Hub: its changes, and a fetch
    # of each app change's hub counterpart (5 for 3 changes): the hub would win a
    # conflict, so its record is read fresh (a change a lagging feed does not show yet
    # must not be overwritten). Minimum: each side's changed records, once.
    "incremental": {
        Side.HUB: Bound(HUB_CHANGES + APP_CHANGES, HUB_CHANGES),
        Side.APP: Bound(APP_CHANGES, APP_CHANGES),
    },
    # Only app records changed (the hub holds N synced records): the app's changes
    # once, and the fetch of their hub counterparts (as above). Minimum: 0 on the hub.
    "incremental_app_only": {
        Side.HUB: Bound(APP_CHANGES, 0),
        Side.APP: Bound(APP_CHANGES, APP_CHANGES),
    },
    # A reconcile of N synced pairs: each side scanned once; the app's scan is kept and
    # serves as the counterparts of the hub's pairs. At the minimum.
    "reconcile": {Side.HUB: Bound(N, N), Side.APP: Bound(N, N)},
    # The same after changes on both sides (updates written each way): still once.
    "reconcile_changed": {Side.HUB: Bound(N, N), Side.APP: Bound(N, N)},
}


def _build(
    hub_records: int, app_records: int, *, app_offset: int = 0
) -> tuple[InMemoryAdapter, InMemoryAdapter]:
    clock = FakeClock()
    hub = InMemoryAdapter([CONTACTS_HUB], name="hub", clock=clock, id_prefix="h", page_size=PAGE)
    app = InMemoryAdapter([CONTACTS_APP], name="app", clock=clock, id_prefix="a", page_size=PAGE)
    for i in range(hub_records):
        hub.put("contacts", email=f"p{i}@example.com", firstname=f"F{i}", lastname="L")
    for i in range(app_offset, app_offset + app_records):  # spelled the app's way, a phone
        app.put("people", mail=f" P{i}@Example.com", first_name=f"F{i}", last_name="L", tel=f"{i}")
    return hub, app


def _engine(hub: InMemoryAdapter, app: InMemoryAdapter, index, **sync) -> SyncEngine:
    return SyncEngine(hub, app, index, SyncConfig("reads", [contacts_sync(**sync)]))


def _used(adapter: InMemoryAdapter, before: AdapterStats, object_type: str) -> tuple[int, int]:
    used = adapter.stats() - before
    return used.records_read(object_type), used.count_calls(object_type=object_type)


def _changes(hub: InMemoryAdapter, app: InMemoryAdapter, scenario: str) -> None:
    """The users' edits before the measured pass of ``scenario``."""
    if scenario in ("incremental", "reconcile_changed"):
        for record in hub.records("contacts")[:HUB_CHANGES]:
            hub.patch("contacts", record.id, lastname="Hub edit")
    if scenario in ("incremental", "incremental_app_only", "reconcile_changed"):
        for record in app.records("people")[-APP_CHANGES:]:
            app.patch("people", record.id, last_name="App edit")


def _measure(scenario: str, index, **sync) -> dict[Side, int]:
    """Run ``scenario``; return the records each side read during its pass."""
    sizes = {"initial_hub_only": (N, 0), "initial_app_only": (0, N)}
    hub, app = _build(
        *sizes.get(scenario, (N, N)), app_offset=N // 2 if scenario == "initial_half_matched" else 0
    )
    if scenario == "initial_matched_hub_full":
        for hub_record, app_record in zip(
            hub.records("contacts"), app.records("people"), strict=True
        ):
            app.patch("people", app_record.id, tel=None)
            hub.patch("contacts", hub_record.id, phone=app_record.properties["tel"])
    engine = _engine(hub, app, index, **sync)
    initial = scenario.startswith("initial")
    if not initial:
        engine.initial_sync()
        echo = engine.incremental_sync()  # takes in the echoes of the initial writes
        assert 0 == echo.writes
        _changes(hub, app, scenario)
    hub_before, app_before = hub.stats(), app.stats()
    if scenario.startswith("reconcile"):
        report = engine.reconcile()
    elif not initial:
        report = engine.incremental_sync()
    else:
        report = engine.initial_sync()
    assert 0 == report.failed
    hub_changed = HUB_CHANGES if scenario in ("incremental", "reconcile_changed") else 0
    app_changed = 0 if initial or scenario == "reconcile" else APP_CHANGES
    if not initial:
        assert hub_changed == report.side("contacts", Side.APP).updated
        assert app_changed == report.side("contacts", Side.HUB).updated
        _synced(hub, app)
    return {
        Side.HUB: _used(hub, hub_before, "contacts")[0],
        Side.APP: _used(app, app_before, "people")[0],
    }


def _synced(hub: InMemoryAdapter, app: InMemoryAdapter) -> None:
    """Both apps hold the same last names, pair by pair (by e-mail)."""
    hub_names = {
        r.properties["email"].strip().lower(): r.properties["lastname"]
        for r in hub.records("contacts")
    }
    app_names = {
        r.properties["mail"].strip().lower(): r.properties["last_name"]
        for r in app.records("people")
    }
    assert hub_names == app_names


@pytest.mark.parametrize("scenario", sorted(EXPECTED))
def test_records_read_per_side_stay_within_todays_count(scenario, index):
    """S3, S6: no pass reads more records of a side than today, nor fewer than each
    record once (see EXPECTED for the per-record figures and the minimum)."""
    read = _measure(scenario, index)
    for side, bound in EXPECTED[scenario].items():
        assert bound.minimum <= read[side], f"{scenario}, {side}: skipped records"
        assert read[side] <= bound.today, f"{scenario}, {side}: reads grew ({read[side]})"


def test_stats_count_calls_pages_and_records_per_method_and_type():
    """InMemoryAdapter.stats(): calls, scan pages and records per (method, type);
    snapshots subtract, and test-side helpers are not counted."""
    hub, app = _build(N, 0)
    before = hub.stats()
    pages = list(hub.scan("contacts"))
    hub.fetch("contacts", ["h1", "h2", "missing"])
    hub.update("contacts", [])
    hub.lookup_idempotency_keys("contacts", [NewRecord({}, "k1"), NewRecord({}, "k2")])
    hub.put("contacts", email="helper@example.com")  # a test-side helper: not counted
    used = hub.stats() - before
    assert N // PAGE == len(pages) == used.count_pages("scan_full", "contacts")
    assert 1 == used.count_calls("scan_full") == used.count_calls("fetch", "contacts")
    assert N == used.count_records("scan_full")
    assert 2 == used.count_records("fetch")  # the records returned, not the ids asked
    assert N + 2 == used.records_read("contacts") == used.records_read()
    assert N // PAGE + 1 == used.reads()
    assert 0 == used.records_read("companies") == app.stats().count_calls()
    assert {
        "contacts": {
            "scan_full": {"calls": 1, "pages": N // PAGE, "records": N},
            "fetch": {"calls": 1, "records": 2},
            "update": {"calls": 1},
            "lookup": {"calls": 1, "records": 2},
        }
    } == used.as_dict()
    hub.reset_calls()
    assert AdapterStats() == hub.stats()


class _CountingIndex(MemoryIndexStore):
    """A memory index that counts how often each entry is written."""

    def __init__(self) -> None:
        super().__init__()
        self.written: Counter[str] = Counter()

    def write(self, entries=(), *, delete=(), cursors=()):
        self.written.update(e.entry_id for e in entries)
        super().write(entries, delete=delete, cursors=cursors)


def test_a_pair_with_only_a_hub_update_is_written_once_beside_app_writes():
    """One write per entry: a batch that updates one pair in the hub and another in the
    app stores the first pair once, with the batch's outcomes; only a pair with an app
    write to come has its landed hub copy stored before the app's writes (D6)."""
    hub, app = _build(2, 2)
    index = _CountingIndex()
    engine = _engine(hub, app, index)
    engine.initial_sync()
    engine.incremental_sync()  # the echoes
    (h1, h2), (a1, a2) = hub.records("contacts"), app.records("people")
    app.patch("people", a1.id, last_name="App edit")  # pair 1: a hub update only
    hub.patch("contacts", h2.id, lastname="Hub edit")  # pair 2: an app update only
    pair_1 = index.by_record_ids("reads", "contacts", Side.HUB, [h1.id])[h1.id].entry_id
    index.written.clear()
    report = engine.reconcile()  # the hub's scan decides both pairs in one batch
    assert (
        1 == report.side("contacts", Side.HUB).updated == report.side("contacts", Side.APP).updated
    )
    assert "App edit" == hub.get("contacts", h1.id).properties["lastname"]
    assert "Hub edit" == app.get("people", a2.id).properties["last_name"]
    assert 1 == index.written[pair_1]


#: Reads with the app's changes above ``passes.KEEP_LIMIT`` (1 here), or when the app
#: may win a conflict: the app's changes scanned again for its own processing, and each
#: counterpart fetched (read fresh).
#: Incremental, app: the change scan twice (2 + 2, the second with the echoes of the
#: hub's 3 writes) and the 3 hub changes' counterparts; hub: its changes and the 2 app
#: changes' counterparts. Reconcile, app: two full scans and each pair's fetch.
ABOVE_LIMIT = {
    "incremental": {
        Side.HUB: HUB_CHANGES + APP_CHANGES,
        Side.APP: 2 * APP_CHANGES + 2 * HUB_CHANGES,
    },
    "reconcile_changed": {Side.HUB: N, Side.APP: 3 * N},
}


@pytest.mark.parametrize("scenario", sorted(ABOVE_LIMIT))
def test_changes_above_the_keep_limit_are_read_again_and_synced_alike(scenario, index, monkeypatch):
    """A pass whose app changes exceed what it keeps in memory reads them again (and
    fetches every counterpart), and syncs the same (see ``_measure``'s checks)."""
    monkeypatch.setattr(passes, "KEEP_LIMIT", 1)
    assert ABOVE_LIMIT[scenario] == _measure(scenario, index)


@pytest.mark.parametrize(
    "sync",
    [
        {"winner": Side.APP},
        {"mappings": [attrs.evolve(m, policy="newest") for m in CONTACT_MAPPINGS]},
    ],
    ids=["app-wins", "newest-wins"],
)
@pytest.mark.parametrize("scenario", sorted(ABOVE_LIMIT))
def test_when_the_app_may_win_a_conflict_its_records_are_read_fresh(scenario, sync, index):
    """D6: when the app's value (or the newer one) may win a conflict, a pass does not
    decide from what it read of the app earlier, nor from an index copy: the app's
    changes are read again for their own processing and each counterpart is fetched."""
    assert ABOVE_LIMIT[scenario] == _measure(scenario, index, **sync)


class _Killed(Exception):
    """The process dies (raised from an event handler)."""


def test_a_resumed_initial_sync_merges_with_the_hub_values_phase_1_kept_in_the_index(index):
    """S3: phase 1 keeps each hub record's values beside its entry in the index (not
    in the process's memory, which held at most 100,000 records), so the matched pairs
    of phase 2 are merged without reading the hub again at any size, and even in a new
    process that resumes the initial sync after phase 1: the hub is read once."""
    hub, app = _build(N, N)
    for hub_record, app_record in zip(hub.records("contacts"), app.records("people"), strict=True):
        app.patch("people", app_record.id, tel=None)  # nothing for the hub: it wins
        hub.patch("contacts", hub_record.id, phone=app_record.properties["tel"])
    config = SyncConfig("reads", [contacts_sync()])

    def die_after_phase_1(event):
        if event.kind == "phase_finished" and event.phase == "index_hub":
            raise _Killed

    before = hub.stats()
    with pytest.raises(_Killed):
        SyncEngine(hub, app, index, config, on_event=die_after_phase_1).initial_sync()
    report = _engine(hub, app, index).initial_sync()
    assert (0, N) == (report.failed, report.side("contacts", Side.APP).updated)
    assert N == _used(hub, before, "contacts")[0]  # phase 1's scan, nothing after it
    _synced(hub, app)
    assert all(e.state is RecordState.SYNCED for e in index.entries("reads"))
