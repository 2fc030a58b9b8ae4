"""Reconcile leaves the index true, and every report counts each record once (issue 16 §3)."""

from __future__ import annotations

import contextlib
import json
import sqlite3

import pytest
from click.testing import CliRunner

from syncengine import RecordState, Side
from syncengine.cli import main
from syncengine.index import SQLiteIndexStore


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
