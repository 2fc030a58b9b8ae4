"""A row of the index another program damaged fails its record alone (issue 18).

Every pass reads entries through the index store; a row it cannot decode (bad JSON, text
that is not UTF-8, unknown codes) comes back as a ``CorruptEntry`` naming the entry and
the file. The engine fails that entry's record (category ``index``, in the report and
the log), writes nothing over the row, and goes on with the rest of the page; the poll
cursor is held back, so the next pass meets the record again until the row is repaired.
"""

from __future__ import annotations

import sqlite3
from pathlib import Path

import pytest

from syncengine import AdapterError, ErrorCategory, RecordState, Side, SyncConfig, SyncEngine
from syncengine.adapters import InMemoryAdapter
from syncengine.entry import CorruptEntry
from syncengine.index import SQLiteIndexStore

from .conftest import CONTACTS_APP, CONTACTS_HUB, FakeClock, contacts_sync

#: What another program may leave in the row (SQL assignments to the entries table).
DAMAGE = {
    "not json": "data = 'not json'",
    "not utf-8": "data = CAST(X'5b315bff' AS TEXT)",
    "unknown state": "state = 17",
    "bad keys": "keys = '[\"0:'",
}


def people(n: int) -> list[dict[str, object]]:
    return [{"email": f"p{i}@example.com", "firstname": f"P{i}"} for i in range(n)]


class World:
    """Two in-memory apps in sync through a SQLite index."""

    def __init__(self, folder: Path, n: int = 6) -> None:
        self.clock = FakeClock()
        self.hub = InMemoryAdapter([CONTACTS_HUB], name="hub", clock=self.clock, id_prefix="h")
        self.app = InMemoryAdapter(
            [CONTACTS_APP], name="app", clock=self.clock, id_prefix="a", page_size=3
        )
        self.path = folder / "index.db"
        self.index = SQLiteIndexStore(self.path)
        self.hub_ids = [self.hub.put("contacts", p).id for p in people(n)]
        self.engine = SyncEngine(
            self.hub,
            self.app,
            self.index,
            SyncConfig("s", [contacts_sync()]),
            clock=self.clock,
            sleep=self.clock.advance,
        )

    def damage(self, hub_id: str, assignment: str) -> tuple[object, ...]:
        """Damage the row of ``hub_id``'s entry; return the row as it was (to repair it)."""
        with sqlite3.connect(self.path) as conn:
            (row,) = conn.execute(
                "SELECT state, keys, data FROM entries WHERE hub_id = ?", (hub_id,)
            ).fetchall()
            changed = conn.execute(
                f"UPDATE entries SET {assignment} WHERE hub_id = ?", (hub_id,)
            ).rowcount
        conn.close()
        assert 1 == changed
        return tuple(row)

    def repair(self, hub_id: str, row: tuple[object, ...]) -> None:
        """Put the row back as it was (what restoring a backup does)."""
        with sqlite3.connect(self.path) as conn:
            conn.execute(
                "UPDATE entries SET state = ?, keys = ?, data = ? WHERE hub_id = ?",
                (*row, hub_id),
            )
        conn.close()

    def edit(self, hub_id: str, first: str) -> None:
        self.clock.advance()
        self.hub.patch("contacts", hub_id, firstname=first)

    def app_first(self, hub_id: str) -> object:
        entry = self.index.by_record_ids("s", "contacts", Side.HUB, [hub_id])[hub_id]
        assert entry.app_id is not None
        record = self.app.get("people", entry.app_id)
        assert record is not None
        return record.properties["first_name"]


@pytest.fixture
def world(tmp_path):
    made = World(tmp_path)
    made.engine.initial_sync()
    yield made
    made.index.close()


def named(report, hub_id: str) -> list[str]:
    return [e for e in report.errors if f"hub record {hub_id!r} failed" in e]


@pytest.mark.parametrize("damage", sorted(DAMAGE))
def test_an_incremental_pass_fails_the_record_alone_and_meets_it_again(world, damage):
    bad, good = world.hub_ids[1], world.hub_ids[2]
    row = world.damage(bad, DAMAGE[damage])
    world.edit(bad, "Bad")
    world.edit(good, "Good")
    report = world.engine.incremental_sync()
    # The neighbour synced; the damaged record failed alone, named with the file.
    assert "Good" == world.app_first(good)
    assert 1 == report.get("failed", side=Side.HUB)
    (error,) = named(report, bad)
    assert f"index {str(world.path)!r} is corrupt" in error
    assert "until the row is repaired" in error
    # Nothing was written over the row: it still reads as a CorruptEntry.
    stored = world.index.by_record_ids("s", "contacts", Side.HUB, [bad])[bad]
    assert type(stored) is CorruptEntry
    assert (RecordState.FAILED, ErrorCategory.INDEX) == (stored.state, stored.category)
    # The next pass meets it again (the poll cursor did not pass it).
    again = world.engine.incremental_sync()
    assert named(again, bad)
    assert 1 == again.get("failed", side=Side.HUB)
    # The pass history records the failure.
    assert 1 == world.index.passes("s")[0].counts["contacts"]["hub"].failed
    # Once the row is repaired, the next pass syncs the edit the failed passes held.
    world.repair(bad, row)
    repaired = world.engine.incremental_sync()
    assert not repaired.errors
    assert "Bad" == world.app_first(bad)
    assert RecordState.SYNCED is world.engine.explain(Side.HUB, "contacts", bad).entry.state


def test_a_resumed_initial_sync_fails_the_damaged_entries_alone(tmp_path):
    """Phase 1 indexed the hub, then the app scan died. Two hub entries are damaged:
    one an app record pairs with by e-mail (phase 2 finds it by key), one the hub alone
    holds (phase 3 reads it). The resumed initial sync completes: both records fail,
    named; the app record that would pair is neither paired nor created in the hub
    (no duplicate); everything else syncs."""
    from syncengine.testing import FaultyAdapter

    world = World(tmp_path, n=0)
    for i in range(12):
        world.hub.put("contacts", email=f"p{i}@example.com", firstname=f"H{i}")
    for i in [*range(12, 18), *range(6, 12)]:  # p6…p11 on both sides, scanned last
        world.app.put("people", mail=f"p{i}@example.com", first_name=f"A{i}")
    faulty = FaultyAdapter(world.app)
    config = SyncConfig("s", [contacts_sync()])
    engine = SyncEngine(
        world.hub, faulty, world.index, config, clock=world.clock, sleep=world.clock.advance
    )
    faulty.truncate_scans(1)  # phase 2 dies after its first page
    with pytest.raises(AdapterError, match="scan ended early"):
        engine.initial_sync()
    faulty.clear()

    def number(key: str) -> int:  # "0:p7@example.com" -> 7
        return int(key.split(":", 1)[1][1:].split("@")[0])

    paired = {k for e in world.index.entries("s") if e.app_id is not None for k in e.keys}
    initial = {
        next(iter(e.keys)): e.hub_id
        for e in world.index.entries("s", states={RecordState.INITIAL})
        if e.hub_id is not None and e.app_id is None
    }
    shared = sorted(k for k in initial if k not in paired and number(k) >= 6)
    alone = sorted(k for k in initial if number(k) < 6)
    assert shared
    assert alone
    both_id, hub_only_id = initial[shared[0]], initial[alone[0]]
    world.damage(both_id, DAMAGE["not json"])
    world.damage(hub_only_id, DAMAGE["unknown state"])
    report = engine.initial_sync()
    assert named(report, hub_only_id)
    assert [e for e in report.errors if "identifier is held by an entry that cannot" in e]
    # No duplicate: the shared e-mail is held once per app.
    email = shared[0].split(":", 1)[1]
    assert 1 == sum(r.properties.get("email") == email for r in world.hub.records("contacts"))
    assert 1 == sum(r.properties.get("mail") == email for r in world.app.records("people"))
    # Everything else synced: the app's six new people were created in the hub; the
    # hub's six, but for the damaged one, in the app.
    assert 18 == world.hub.count("contacts")
    assert 17 == world.app.count("people")
    listed = list(engine.records())
    assert 2 == sum(v.category is ErrorCategory.INDEX for v in listed)


def test_reconcile_explain_records_and_export_name_the_damaged_entry(world, tmp_path):
    bad = world.hub_ids[3]
    world.damage(bad, DAMAGE["not utf-8"])
    world.edit(world.hub_ids[4], "Other")
    report = world.engine.reconcile()
    assert "Other" == world.app_first(world.hub_ids[4])
    # Both records of the pair fail (a reconcile reads both sides), and nothing else.
    assert named(report, bad)
    assert 2 == len(report.errors)
    assert all(f"entry 'h:{bad}'" in e for e in report.errors)
    assert 1 == report.get("failed", side=Side.HUB) == report.get("failed", side=Side.APP)
    # explain: the pass's decision for it, with the message.
    explanation = world.engine.explain(Side.HUB, "contacts", bad)
    assert ErrorCategory.INDEX is explanation.entry.category
    assert "not UTF-8" in explanation.decision
    # The listing and the export show it among the others, as failed.
    listed = list(world.engine.records())
    assert 6 == len(listed)
    (shown,) = [v for v in listed if v.category is ErrorCategory.INDEX]
    assert (bad, RecordState.FAILED) == (shown.hub_id, shown.state)
    assert f"index {str(world.path)!r} is corrupt" in shown.message
    out = tmp_path / "export.csv"
    assert 6 == world.engine.export(out)
    assert "index" in out.read_text()


def test_a_link_to_a_record_whose_entry_is_damaged_waits_and_completes_once_repaired(
    tmp_path,
):
    """A contact linked (in the hub) to a company whose entry is damaged: the contact
    syncs, its link waits for that end (it is not made from the row's unread columns),
    the pass goes on; once the row is repaired, the link is made in the app."""
    from .conftest import COMPANIES_APP, COMPANIES_HUB, companies_sync

    clock = FakeClock()
    hub = InMemoryAdapter([CONTACTS_HUB, COMPANIES_HUB], name="hub", clock=clock, id_prefix="h")
    app = InMemoryAdapter([CONTACTS_APP, COMPANIES_APP], name="app", clock=clock, id_prefix="a")
    index = SQLiteIndexStore(tmp_path / "index.db")
    config = SyncConfig("s", [companies_sync(), contacts_sync(associations=("companies",))])
    engine = SyncEngine(hub, app, index, config, clock=clock, sleep=clock.advance)
    try:
        acme = hub.put("companies", name="Acme", domain="acme.io").id
        ada = hub.put("contacts", email="ada@x.io", firstname="Ada").id
        assert not engine.initial_sync().errors
        with sqlite3.connect(tmp_path / "index.db") as conn:
            (row,) = conn.execute("SELECT data FROM entries WHERE hub_id = ?", (acme,)).fetchall()
            conn.execute("UPDATE entries SET data = 'garbage' WHERE hub_id = ?", (acme,))
        conn.close()
        clock.advance()
        hub.link("contacts", ada, "companies", acme)
        hub.patch("contacts", ada, firstname="Ada L.")
        report = engine.incremental_sync()
        contact = index.by_record_ids("s", "contacts", Side.HUB, [ada])[ada]
        assert contact.app_id is not None
        copy = app.get("people", contact.app_id)
        assert copy is not None
        assert "Ada L." == copy.properties["first_name"]
        assert not copy.associations.get("accounts")  # the link waits for its end
        assert all("is corrupt" in e for e in report.errors)
        with sqlite3.connect(tmp_path / "index.db") as conn:
            conn.execute("UPDATE entries SET data = ? WHERE hub_id = ?", (row[0], acme))
        conn.close()
        engine.reconcile()
        copy = app.get("people", contact.app_id)
        assert copy is not None
        (account,) = copy.associations["accounts"]
        assert account == index.by_record_ids("s", "companies", Side.HUB, [acme])[acme].app_id
    finally:
        index.close()


@pytest.mark.parametrize("damage", sorted(DAMAGE))
def test_status_counts_a_damaged_entry_a_pass_met_as_failed_as_the_report_does(world, damage):
    """`status` (and the console's counts, which are the same) counted a damaged entry
    under the state its row holds (synced), while every pass counted its record failed:
    once a pass met it, status counts it as failed too, until the row is repaired."""
    bad = world.hub_ids[1]
    before = world.engine.status()["contacts"]
    assert (6, 0) == (before.synced, before.failed)
    row = world.damage(bad, DAMAGE[damage])
    world.edit(bad, "Bad")
    report = world.engine.incremental_sync()
    assert 1 == report.get("failed", side=Side.HUB)
    shown = world.engine.status()["contacts"]
    assert (5, 1) == (shown.synced, shown.failed)
    # The listings agree: with the failed ones (category index), not with the synced.
    (failed,) = world.engine.records(state="failed")
    assert (bad, ErrorCategory.INDEX) == (failed.hub_id, failed.category)
    assert bad not in [v.hub_id for v in world.engine.records(state="synced")]
    assert 5 == len(list(world.engine.records(state="synced")))
    assert 6 == len(list(world.engine.records()))
    dry = world.engine.incremental_sync(dry_run=True)  # a dry run changes nothing
    assert 1 == dry.get("failed", side=Side.HUB)
    assert (5, 1) == (world.engine.status()["contacts"].synced, shown.failed)
    # Repaired: counted under its state again at once, then synced by the next pass.
    world.repair(bad, row)
    shown = world.engine.status()["contacts"]
    assert (6, 0) == (shown.synced, shown.failed)
    assert [] == list(world.engine.records(state="failed"))
    assert 6 == len(list(world.engine.records(state=["synced", "failed"])))
    assert not world.engine.incremental_sync().errors
    shown = world.engine.status()["contacts"]
    assert (6, 0) == (shown.synced, shown.failed)


def test_status_counts_each_damaged_entry_once_over_many_passes(world):
    bad = world.hub_ids[:3]
    for hub_id in bad:
        world.damage(hub_id, DAMAGE["not json"])
    for first in ("A", "B", "C"):
        for hub_id in bad:
            world.edit(hub_id, first)
        assert 3 == world.engine.incremental_sync().get("failed", side=Side.HUB)
        world.engine.reconcile()
        shown = world.engine.status()["contacts"]
        assert (3, 3) == (shown.synced, shown.failed)


def test_a_record_held_up_by_a_damaged_entry_is_logged_with_its_own_id_alone(world, caplog):
    """batch.unmatchable failed a new record whose identifier a damaged entry holds
    (counted, named in the report) but wrote no log line, as every other failure does:
    one WARNING names the new record and the identifier, not the damaged entry's
    records (another pair's ids, which would point at the wrong records)."""
    import logging

    bad = world.hub_ids[1]
    world.damage(bad, DAMAGE["not json"])
    held = world.index.by_record_ids("s", "contacts", Side.HUB, [bad])[bad]
    world.clock.advance()
    new = world.app.put("people", {"mail": "p1@example.com", "first_name": "Twin"}).id
    with caplog.at_level(logging.WARNING, logger="syncengine"):
        report = world.engine.incremental_sync()
    assert [e for e in report.errors if f"app record {new!r} failed: its identifier" in e]
    lines = [r.getMessage() for r in caplog.records if "record failed" in r.getMessage()]
    (line,) = [line for line in lines if f"app_id={new} " in line]
    assert line.startswith("record failed: sync=s object=contacts hub_id=- app_id=")
    assert "category=index" in line
    assert "its identifier email/mail is held by an entry of the index" in line
    assert "entry of the index '" in line  # (its path masked, as every long word)
    assert bad not in line
    assert (held.app_id or "?") not in line.split("message=", 1)[1]
    assert "p1@example.com" not in line  # the identifier's value is not logged
    # Once a pass, as the report: a second pass logs it again, once.
    caplog.clear()
    with caplog.at_level(logging.WARNING, logger="syncengine"):
        world.engine.reconcile()
    assert 1 == sum(f"app_id={new} " in r.getMessage() for r in caplog.records)


@pytest.mark.parametrize("damage", sorted(DAMAGE))
def test_a_listing_in_a_time_frame_agrees_with_status_on_a_damaged_entry(world, damage):
    """`records --since/--until` with a state left out the damaged entries passes met
    (the listing by state added them only without a time frame), and an entry whose
    row's state code is unknown was in no state's listing while status counted it under
    the state its row last had. All agree now: failed (category index), in the time
    frame of its row."""
    from datetime import timedelta

    start = world.clock() - timedelta(days=1)  # before the initial sync wrote the rows
    bad = world.hub_ids[1]
    world.damage(bad, DAMAGE[damage])
    world.edit(bad, "Bad")
    world.edit(world.hub_ids[2], "Good")
    assert 1 == world.engine.incremental_sync().get("failed", side=Side.HUB)
    shown = world.engine.status()["contacts"]
    assert (5, 1) == (shown.synced, shown.failed)
    later = world.clock() + timedelta(days=1)
    for frame in ({"since": start}, {"until": later}, {"since": start, "until": later}):
        (failed,) = world.engine.records(state="failed", **frame)
        assert (bad, ErrorCategory.INDEX) == (failed.hub_id, failed.category), frame
        synced = [v.hub_id for v in world.engine.records(state="synced", **frame)]
        assert 5 == len(synced), frame
        assert bad not in synced
        assert 6 == len(list(world.engine.records(state=["synced", "failed"], **frame)))
        assert 6 == len(list(world.engine.records(**frame)))
    # A frame that leaves the row out leaves the entry out.
    assert [] == list(world.engine.records(state="failed", since=later))
    assert [] == list(world.engine.records(state="failed", until=start))
