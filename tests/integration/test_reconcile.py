"""Reconcile leaves the index true (rule S6), and every report counts each record once, as
status does (rule R4) (issue 16 §3)."""

from __future__ import annotations

import contextlib
import json
import sqlite3

import pytest
from click.testing import CliRunner

from syncengine import AdapterError, ErrorCategory, RecordState, Side
from syncengine.cli import main
from syncengine.index import SQLiteIndexStore
from syncengine.testing import FaultyAdapter


def by_email(adapter, object_type, field):
    """An app's records keyed by their (lower-cased) e-mail."""
    return {r.properties[field].strip().lower(): r for r in adapter.records(object_type)}


def drift(index, adapter, side: Side, object_type: str, **props) -> None:
    """Change a record behind the engine's back: no event, and the cursor moves past it."""
    adapter.patch(object_type, props.pop("record_id"), **props)
    last = None
    for page in adapter.scan(object_type, index.cursor("sync-1", side, "contacts")):
        last = page.cursor or last
    index.set_cursor("sync-1", side, "contacts", last)


@pytest.fixture(params=["plain", "linked"])
def linked_engine(request, make_engine, contacts_sync, companies_sync, hub, clock):
    """Ada, synced, with and without links kept (``associations``): links took the other
    path through the engine, which dropped the outcome of a pass whose links stayed."""
    if request.param == "plain":
        engine = make_engine(contacts_sync())
    else:
        engine = make_engine(companies_sync(), contacts_sync(associations=("companies",)))
    hub.put("contacts", email="ada@example.com", firstname="Ada", lastname="Lovelace")
    engine.initial_sync()
    clock.advance()
    return engine


class TestReconcileKeepsTheIndexTrue:
    """A repair is a write like any other: it updates both copies and adds history."""

    def test_a_repaired_drift_updates_the_copies_and_history_and_a_revert_survives(
        self, linked_engine, hub, app, index, clock
    ):
        ada_hub = by_email(hub, "contacts", "email")["ada@example.com"]
        ada_app = by_email(app, "people", "mail")["ada@example.com"]
        drift(index, app, Side.APP, "people", record_id=ada_app.id, first_name="Augusta")
        assert 0 == linked_engine.incremental_sync().writes  # nobody reported the change
        report = linked_engine.reconcile()
        assert 1 == report.updated
        assert "Augusta" == hub.get("contacts", ada_hub.id).properties["firstname"]

        explained = linked_engine.explain(Side.HUB, "contacts", ada_hub.id)
        first = next(f for f in explained.fields if f.hub == "firstname")
        assert ("Augusta", "Augusta") == (first.hub_copy, first.app_copy)
        assert ("synced", "updated hub: firstname") == (
            explained.history[-1].action,
            explained.history[-1].detail,
        )

        # The user reverts the hub: the revert is the newest change and must win.
        clock.advance()
        hub.patch("contacts", ada_hub.id, firstname="Ada")
        linked_engine.reconcile()
        assert "Ada" == hub.get("contacts", ada_hub.id).properties["firstname"]
        assert "Ada" == app.get("people", ada_app.id).properties["first_name"]

    def test_a_copy_that_disagrees_with_both_apps_is_refreshed(
        self, linked_engine, hub, app, index, clock
    ):
        """Both apps hold a value the index copy does not (a write whose index commit was
        lost): reconcile refreshes the copy, so a later change on one side wins."""
        ada_hub = by_email(hub, "contacts", "email")["ada@example.com"]
        ada_app = by_email(app, "people", "mail")["ada@example.com"]
        drift(index, app, Side.APP, "people", record_id=ada_app.id, last_name="Byron")
        drift(index, hub, Side.HUB, "contacts", record_id=ada_hub.id, lastname="Byron")
        report = linked_engine.reconcile()
        assert 0 == report.writes
        entry = index.by_record_ids("sync-1", "contacts", Side.HUB, [ada_hub.id])[ada_hub.id]
        assert "Byron" == entry.hub_values["lastname"] == entry.app_values["last_name"]
        clock.advance()
        hub.patch("contacts", ada_hub.id, lastname="Lovelace")
        linked_engine.incremental_sync()
        assert "Lovelace" == app.get("people", ada_app.id).properties["last_name"]

    def test_an_incremental_pass_with_links_stores_its_outcome(
        self, linked_engine, hub, app, index, clock
    ):
        """The same lost update through an incremental pass: the copy follows the write."""
        ada_hub = by_email(hub, "contacts", "email")["ada@example.com"]
        ada_app = by_email(app, "people", "mail")["ada@example.com"]
        app.patch("people", ada_app.id, tel="+45 1")
        assert 1 == linked_engine.incremental_sync().updated
        entry = index.by_record_ids("sync-1", "contacts", Side.HUB, [ada_hub.id])[ada_hub.id]
        assert "+45 1" == entry.hub_values["phone"] == entry.app_values["tel"]
        clock.advance()
        hub.patch("contacts", ada_hub.id, phone="+45 2")
        linked_engine.incremental_sync()
        assert "+45 2" == app.get("people", ada_app.id).properties["tel"]


def test_the_command_reconciles_a_drifted_field_and_keeps_a_revert(tmp_path):
    """The demo's apps edited with plain SQL: ``run --reconcile`` repairs the field,
    ``explain`` shows the new copy and a history item, and the user's revert survives."""
    folder = tmp_path / "demo"
    config = str(folder / "syncengine.toml")
    runner = CliRunner()
    built = runner.invoke(main, ["demo", "--dir", str(folder), "--contacts", "60"])
    assert 0 == built.exit_code, built.output
    with SQLiteIndexStore(folder / "index.db") as index:
        entry = next(iter(index.entries("crm-sales", "contacts", states={RecordState.SYNCED})))
    hub_id, app_id = entry.hub_id, entry.app_id
    before = entry.app_values["title"]

    def sql(database: str, statement: str, *args: object) -> None:
        with contextlib.closing(sqlite3.connect(folder / database)) as db, db:
            db.execute(statement, args)

    def explain() -> dict:
        result = runner.invoke(main, ["explain", config, "hub", "contacts", hub_id, "--json"])
        assert 0 == result.exit_code, result.output
        return json.loads(result.output)

    def title(database: str, table: str, column: str, record_id: str) -> object:
        with contextlib.closing(sqlite3.connect(folder / database)) as db:
            query = f'SELECT "{column}" FROM "{table}" WHERE __id = ?'
            return db.execute(query, (record_id,)).fetchone()[0]

    sql("sales.db", "UPDATE people SET title = ? WHERE __id = ?", "Chief Drift Officer", app_id)
    result = runner.invoke(main, ["run", config, "--reconcile"])
    assert 0 == result.exit_code, result.output
    assert "Chief Drift Officer" == title("crm.db", "contacts", "jobtitle", hub_id)
    shown = explain()
    field = next(f for f in shown["fields"] if f["hub"] == "jobtitle")
    assert ("Chief Drift Officer", "Chief Drift Officer") == (field["hub_copy"], field["app_copy"])
    assert {"action": "synced", "detail": "updated hub: jobtitle"}.items() <= (
        shown["history"][-1].items()
    )

    sql("sales.db", "UPDATE people SET title = ? WHERE __id = ?", before, app_id)
    result = runner.invoke(main, ["run", config, "--reconcile"])
    assert 0 == result.exit_code, result.output
    assert before == title("sales.db", "people", "title", app_id)
    assert before == title("crm.db", "contacts", "jobtitle", hub_id)


def totals(report) -> int:
    """Every counter of a report added up: the records it counted."""
    return sum(getattr(report, name) for name in _COUNTERS)


_COUNTERS = ("created", "updated", "unchanged", "failed", "excluded", "queued")


class TestReportsCountEachRecordOnce:
    """A report counts each record once, in its final outcome (issue 16 §3)."""

    @pytest.fixture
    def five(self, make_engine, contacts_sync, companies_sync, hub, clock):
        """Five synced pairs, with links kept (the path that dropped outcomes)."""
        engine = make_engine(companies_sync(), contacts_sync(associations=("companies",)))
        for i in range(5):
            hub.put("contacts", email=f"p{i}@example.com", firstname=f"P{i}")
        engine.initial_sync()
        clock.advance()
        engine.incremental_sync()  # the initial sync's creates come back once: read them
        clock.advance()
        return engine

    def test_reconcile_and_its_dry_run_count_each_pair_once_and_list_a_write_once(
        self, five, app, index
    ):
        person = by_email(app, "people", "mail")["p0@example.com"]
        drift(index, app, Side.APP, "people", record_id=person.id, first_name="Drift")
        dry = five.reconcile(dry_run=True)
        assert [("hub", "update", {"firstname": "Drift"})] == [
            (w.side.value, w.action, dict(w.properties)) for w in dry.planned
        ]
        real = five.reconcile()
        for report in (dry, real):
            assert (1, 4, 5) == (report.updated, report.unchanged, totals(report)), report.summary()
        assert (0, 5, 5) == (
            (again := five.reconcile()).updated,
            again.unchanged,
            totals(again),
        )

    def test_a_write_that_failed_then_succeeded_on_the_pass_retry_is_one_update(
        self, hub, app, index, make_engine, clock
    ):
        """The poll's update fails transiently, the retry at the end of the pass lands."""
        faulty = FaultyAdapter(hub)
        engine = make_engine(hub=faulty)
        app.put("people", mail="ada@example.com", first_name="Ada")
        engine.initial_sync()
        clock.advance()
        person = by_email(app, "people", "mail")["ada@example.com"]
        app.patch("people", person.id, tel="+45 1")
        faulty.fail_next("update", AdapterError(ErrorCategory.UNAVAILABLE, "down"))
        report = engine.incremental_sync()
        assert "+45 1" == by_email(hub, "contacts", "email")["ada@example.com"].properties["phone"]
        assert (1, 0, 1) == (report.updated, report.failed, totals(report)), report.summary()
        assert 0 == engine.status()["contacts"].failed

    def test_an_echo_of_the_pass_own_write_is_not_counted_again(self, five, hub, app, clock):
        """Both records of a pair changed: the pair is decided once from each change feed,
        and the second look (our own write coming back) adds nothing to the counts."""
        ada_hub = by_email(hub, "contacts", "email")["p0@example.com"]
        ada_app = by_email(app, "people", "mail")["p0@example.com"]
        hub.patch("contacts", ada_hub.id, firstname="Ada")
        app.patch("people", ada_app.id, tel="+45 1")
        report = five.incremental_sync()
        assert (2, 0, 2) == (report.updated, report.unchanged, totals(report)), report.summary()

    def test_a_duplicate_is_counted_once_by_every_pass(self, hub, app, make_engine, clock):
        """Indexing a duplicate is not an outcome: processing it counts it, once."""
        engine = make_engine()
        hub.put("contacts", email="ada@example.com", firstname="Ada")
        hub.put("contacts", email="ADA@example.com", firstname="Ada 2")
        app.put("people", mail="bob@example.com", first_name="Bob")
        app.put("people", mail="bob@example.com", first_name="Bob 2")
        initial = engine.initial_sync()
        assert (2, 2, 4) == (initial.created, initial.excluded, totals(initial)), initial.summary()
        clock.advance()
        engine.incremental_sync()  # the initial sync's creates come back once: read them
        clock.advance()
        app.put("people", mail="ada@example.com", first_name="Ada 3")
        incremental = engine.incremental_sync()
        assert (1, 1) == (incremental.excluded, totals(incremental)), incremental.summary()
        clock.advance()
        reconcile = engine.reconcile()
        assert (2, 3, 5) == (reconcile.unchanged, reconcile.excluded, totals(reconcile)), (
            reconcile.summary()
        )

    def test_a_settled_create_is_counted_once(self, hub, app, index, make_engine, clock):
        """A create whose reply was lost is settled by the next pass: one record, counted
        once (the pass finds it made, and has nothing more to do)."""
        faulty = FaultyAdapter(app)
        engine = make_engine(app=faulty)
        hub.put("contacts", email="ada@example.com", firstname="Ada")
        faulty.lose_confirmation("create", AdapterError(ErrorCategory.UNAVAILABLE, "timeout"))
        first = engine.initial_sync()
        assert (0, 1) == (first.created, first.failed), first.summary()
        clock.advance()
        second = engine.incremental_sync()
        assert 1 == app.count("people")
        assert (0, 1) == (second.failed, totals(second)), second.summary()
        assert 0 == engine.status()["contacts"].failed


def test_the_command_passes_allow_mass_changes_to_reconcile(tmp_path):
    """``run --reconcile --allow-mass-changes`` lets an intended mass repair through; the
    flag was dropped for reconcile, so the safety stop refused it every time."""
    folder = tmp_path / "demo"
    config = folder / "syncengine.toml"
    runner = CliRunner()
    built = runner.invoke(main, ["demo", "--dir", str(folder), "--contacts", "60"])
    assert 0 == built.exit_code, built.output
    config.write_text("max_change_ratio = 0.1\n" + config.read_text())
    with contextlib.closing(sqlite3.connect(folder / "sales.db")) as db, db:
        db.execute("UPDATE people SET title = 'Renamed'")
    stopped = runner.invoke(main, ["run", str(config), "--reconcile"])
    assert 0 != stopped.exit_code
    assert "allow_mass_changes" in stopped.output + str(stopped.exception)
    allowed = runner.invoke(main, ["run", str(config), "--reconcile", "--allow-mass-changes"])
    assert 0 == allowed.exit_code, allowed.output
    with contextlib.closing(sqlite3.connect(folder / "crm.db")) as db:
        titles = {
            row[0] for row in db.execute("SELECT jobtitle FROM contacts WHERE email LIKE '%@%'")
        }
    assert "Renamed" in titles
