"""End-to-end: operating a sync — status, listings, export, restore, on/off, accounts,
explain, queued (SPEC S1, S2, S7, S9, R4–R6, R8)."""

from __future__ import annotations

import csv
import io
import json
import threading
import time
from datetime import timedelta

import attrs
import pytest

from syncengine import (
    ErrorCategory,
    FieldMapping,
    RecordState,
    Side,
    SyncConfig,
    SyncDisabledError,
    SyncEngine,
)
from syncengine.adapters import InMemoryAdapter


@pytest.fixture
def synced(hub, app, make_engine):
    """Two contacts in each app, one of them shared, after the initial sync."""
    hub.put("contacts", email="ada@example.com", firstname="Ada", lastname="Lovelace")
    hub.put("contacts", email="grace@example.com", firstname="Grace", lastname="Hopper")
    app.put("people", mail="ada@example.com", first_name="Augusta", last_name="Lovelace")
    app.put("people", mail="alan@example.com", first_name="Alan", last_name="Turing")
    app.put("people", mail="bad@example.com", last_name="Bad", age="old")
    engine = make_engine()
    engine.initial_sync()
    return engine


def app_id_of(app, email):
    """The app record id holding an e-mail."""
    return next(r.id for r in app.records("people") if r.properties["mail"] == email)


class TestStatusAndListings:
    """R4, R5."""

    def test_status_counts_per_object_type(self, synced, make_engine, hub):
        """R4: in sync, failed, excluded, queued and whether the initial sync runs."""
        status = synced.status()["contacts"]
        assert (3, 1, 0, 0, False) == (
            status.synced,
            status.failed,
            status.excluded,
            status.queued,
            status.initial_running,
        )
        fresh = make_engine(sync_id="other")
        assert fresh.status()["contacts"].initial_running

    def test_records_filter_by_state_and_time_frame(self, synced, clock):
        """R5: the listing filters by object type, state and time frame."""
        failed = list(synced.records("contacts", state="failed"))
        assert 1 == len(failed)
        row = failed[0]
        assert (ErrorCategory.VALIDATION, ErrorCategory.VALIDATION.hint) == (row.category, row.hint)
        assert [] == list(synced.records(since=clock.now + timedelta(seconds=1)))
        assert 4 == len(list(synced.records(until=clock.now + timedelta(seconds=1))))
        assert 4 == len(list(synced.records("people")))  # the app's name works too

    def test_export_csv_with_chosen_columns_neutralizes_formulas(self, synced, app, clock):
        """R5: export to CSV with a chosen set and order of columns, safe for spreadsheets."""
        bad = app_id_of(app, "bad@example.com")
        app.patch("people", bad, age="=HYPERLINK(1)")
        clock.advance()
        synced.incremental_sync()
        out = io.StringIO()
        count = synced.export(out, "csv", state=RecordState.FAILED, columns=["app_id", "message"])
        rows = list(csv.reader(io.StringIO(out.getvalue())))
        assert 1 == count
        assert ["app_id", "message"] == rows[0]
        assert bad == rows[1][0]
        assert not any(cell.startswith("=") for row in rows for cell in row)

    def test_export_jsonl_to_a_path(self, synced, tmp_path):
        """R5: export to JSON lines, one object per entry."""
        path = tmp_path / "records.jsonl"
        assert 4 == synced.export(path, "jsonl")
        lines = [json.loads(line) for line in path.read_text().splitlines()]
        assert {"synced": 3, "failed": 1} == {
            s: sum(1 for x in lines if x["state"] == s) for s in ("synced", "failed")
        }


class TestRestore:
    """R6: deleted records are not deleted on the other side, and can be restored."""

    def test_restore_recreates_from_the_surviving_copy_and_repairs(self, synced, hub, app, index):
        """R6: review the plan, restore all, and the pair syncs again."""
        ada = app_id_of(app, "ada@example.com")
        app.remove("people", ada)
        synced.incremental_sync()
        assert 3 == hub.count("contacts") - 0  # the hub record is kept (X3)
        (failed,) = [e for e in synced.records(state="failed") if e.category == "deleted"]
        assert failed.app_id == ada

        plan = synced.plan_restore("contacts", Side.APP)
        assert 1 == len(plan)
        (item,) = plan
        assert (Side.HUB, False) == (item.source, item.from_index_copy)
        assert "ada@example.com" == item.properties["mail"]
        assert "restore 1 contacts" in str(plan).lower()

        report = synced.restore(plan)
        assert 1 == report.created
        restored = [r for r in app.records("people") if r.properties["mail"] == "ada@example.com"]
        assert 1 == len(restored)
        assert "Ada" == restored[0].properties["first_name"]
        assert [] == [e for e in synced.records(state="failed") if e.category == "deleted"]
        assert [] == list(synced.plan_restore("contacts", Side.APP))
        # The restored pair keeps syncing.
        hub_ada = next(
            r for r in hub.records("contacts") if r.properties["email"] == "ada@example.com"
        )
        hub.patch("contacts", hub_ada.id, firstname="Ada L.")
        synced.incremental_sync()
        assert "Ada L." == app.get("people", restored[0].id).properties["first_name"]

    def test_restore_from_the_index_copy_when_both_are_gone(self, synced, hub, app):
        """R6: with both records gone, the index copy is used and the plan says so."""
        ada_app = app_id_of(app, "ada@example.com")
        ada_hub = next(
            r.id for r in hub.records("contacts") if r.properties["email"] == "ada@example.com"
        )
        app.remove("people", ada_app)
        synced.incremental_sync()
        hub.remove("contacts", ada_hub)
        plan = synced.plan_restore("contacts", Side.APP)
        (item,) = plan
        assert item.from_index_copy
        assert "index copy" in str(plan)
        synced.restore(plan)
        assert any(r.properties["mail"] == "ada@example.com" for r in app.records("people"))


class TestOnOffDelete:
    """S7: off, on, delete."""

    def test_disabled_sync_writes_nothing_and_catches_up_when_enabled(
        self, synced, hub, app, index
    ):
        """S7: while off no pass writes or moves a cursor; after enable the change syncs."""
        synced.disable()
        assert not synced.enabled
        hub.put("contacts", email="new@example.com", lastname="New")
        cursor = index.cursor("sync-1", Side.HUB, "contacts")
        report = synced.incremental_sync()
        assert "disabled" in (report.skipped or "")
        assert cursor == index.cursor("sync-1", Side.HUB, "contacts")
        with pytest.raises(SyncDisabledError):
            synced.handle_events(Side.HUB, [])
        synced.enable()
        synced.incremental_sync()
        assert any(r.properties["mail"] == "new@example.com" for r in app.records("people"))

    def test_delete_removes_the_index_and_nothing_in_the_apps(self, synced, hub, app, index):
        """S7, X3: deleting a sync forgets its entries and cursors only."""
        before = (hub.count("contacts"), app.count("people"))
        synced.delete()
        assert 0 == index.count("sync-1")
        assert index.cursor("sync-1", Side.HUB, "contacts") is None
        assert before == (hub.count("contacts"), app.count("people"))


class TestSettingsAndAccounts:
    """S1, S2."""

    def test_changed_settings_restart_the_initial_sync(self, synced, hub, app, contacts_sync):
        """S2: new mappings apply to every existing pair after the restart."""
        mappings = [
            FieldMapping("email", "mail"),
            FieldMapping("firstname", "first_name"),
            FieldMapping("lastname", "last_name"),
            FieldMapping("phone", "tel"),
        ]
        ada_hub = next(
            r for r in hub.records("contacts") if r.properties["email"] == "ada@example.com"
        )
        hub.patch("contacts", ada_hub.id, phone="+45 11")
        synced.update_config(
            SyncConfig("sync-1", [contacts_sync(mappings=mappings, winner=Side.APP)])
        )
        assert synced.initial_sync_running
        synced.incremental_sync()  # resumes as the restarted initial sync
        assert not synced.initial_sync_running
        ada_app = app.get("people", app_id_of(app, "ada@example.com"))
        assert "+45 11" == ada_app.properties["tel"]

    def test_two_accounts_share_one_hub_and_one_index_without_mixing(
        self, hub, index, clock, contacts_sync, app
    ):
        """S1: two syncs with their own ids over one hub and one index never mix."""
        other_app = InMemoryAdapter(
            [app.schema("people")], name="second", clock=clock, id_prefix="b"
        )
        hub.put("contacts", email="ada@example.com", lastname="L")
        app.put("people", mail="one@example.com", last_name="One")
        other_app.put("people", mail="two@example.com", last_name="Two")
        first = SyncEngine(hub, app, index, SyncConfig("acct-1", [contacts_sync()]), clock=clock)
        second = SyncEngine(
            hub, other_app, index, SyncConfig("acct-2", [contacts_sync()]), clock=clock
        )
        first.initial_sync()
        second.initial_sync()
        first.incremental_sync()
        second.incremental_sync()
        # The hub gathers both accounts' people; each account gets the hub's contacts.
        emails = {"ada@example.com", "one@example.com", "two@example.com"}
        assert emails == {r.properties["email"] for r in hub.records("contacts")}
        assert 3 == hub.count("contacts")
        assert emails == {r.properties["mail"] for r in app.records("people")}
        assert emails == {r.properties["mail"] for r in other_app.records("people")}
        # Entries, cursors and counts stay per sync.
        assert 3 == first.status()["contacts"].synced == second.status()["contacts"].synced
        for sync_id, adapter in (("acct-1", app), ("acct-2", other_app)):
            app_ids = {e.app_id for e in index.entries(sync_id)}
            assert {r.id for r in adapter.records("people")} == app_ids
        first.disable()
        assert second.enabled


class TestQueuedAndExplain:
    """S9, R8."""

    def test_a_record_held_by_another_pass_is_queued_then_processed(
        self, synced, hub, app, index, clock
    ):
        """S9: the later pass queues a held record; it syncs once the lease is released."""
        ada_hub = next(
            r for r in hub.records("contacts") if r.properties["email"] == "ada@example.com"
        )
        hub.patch("contacts", ada_hub.id, firstname="Adah")
        held = index.acquire(
            "sync-1",
            "contacts",
            [f"hub:{ada_hub.id}"],
            "someone-else",
            until=clock.now + timedelta(minutes=5),
            now=clock.now,
        )
        assert {f"hub:{ada_hub.id}"} == held
        report = synced.incremental_sync()
        assert 1 == report.queued
        assert 1 == synced.status()["contacts"].queued
        index.release("sync-1", "someone-else")
        synced.incremental_sync()
        assert 0 == synced.status()["contacts"].queued
        assert (
            "Adah" == app.get("people", app_id_of(app, "ada@example.com")).properties["first_name"]
        )

    def test_a_queued_mark_keeps_what_the_holder_stored_meanwhile(
        self, synced, hub, app, index, clock
    ):
        """S9: a pass reads the entry of a record another pass holds, and queues it; if the
        holder stores its outcome in between, the queued mark goes on that outcome. It
        used to be written on the copy read before, undoing the holder's work (a pair it
        made, a record it created: created again by the next pass)."""
        grace = next(
            r for r in hub.records("contacts") if r.properties["email"] == "grace@example.com"
        )
        hub.patch("contacts", grace.id, firstname="Gracie")
        until = clock.now + timedelta(minutes=5)
        index.acquire(
            "sync-1", "contacts", [f"hub:{grace.id}"], "other", until=until, now=clock.now
        )
        reads: list[list[str]] = []
        marks: list[object] = []

        def holder_stores_its_outcome() -> None:
            # What the other pass stores once done with Grace: its new copy.
            entry = index.by_record_ids("sync-1", "contacts", Side.HUB, [grace.id])[grace.id]
            done = attrs.evolve(
                entry,
                hub_values={**(entry.hub_values or {}), "firstname": "Gracie"},
                app_values={**(entry.app_values or {}), "first_name": "Gracie"},
            )
            index.write([done])
            index.release("sync-1", "other")

        class Store:
            """The index; the other pass finishes right after this pass's last read of
            Grace, and this pass's queued marks are noted."""

            def __getattr__(self, attribute):
                return getattr(index, attribute)

            def by_record_ids(self, sync_id, object_type, side, record_ids):
                ids = list(record_ids)
                found = index.by_record_ids(sync_id, object_type, side, ids)
                if side is Side.HUB and grace.id in ids:
                    reads.append(ids)
                    if len(reads) == 2:  # the final attempt (queue_wait=0)
                        holder_stores_its_outcome()
                return found

            def write(self, entries=(), **changes):
                marks.extend(e for e in entries if e.state is RecordState.QUEUED)
                return index.write(entries, **changes)

            def replace_unchanged(self, sync_id, object_type, changes):
                # (Where the marks are written: only on the entries as they were read.)
                lost = index.replace_unchanged(sync_id, object_type, changes)
                marks.extend(
                    e
                    for _, e in changes
                    if e.entry_id not in lost and e.state is RecordState.QUEUED
                )
                return lost

            # The webhook inbox is looked up on the class (keeps_inbox).
            def inbox_add(self, items):
                return index.inbox_add(items)

            def inbox(self, sync_id, **options):
                return index.inbox(sync_id, **options)

            def inbox_remove(self, sync_id, seqs):
                return index.inbox_remove(sync_id, seqs)

            def inbox_count(self, sync_id):
                return index.inbox_count(sync_id)

        engine = SyncEngine(hub, app, Store(), synced.config, clock=clock, queue_wait=0.0)
        # (No preflight dry run: its reads would count.)
        engine.incremental_sync(allow_mass_changes=True)
        assert [grace.id] == [m.hub_id for m in marks]
        # The mark is on the holder's outcome, not on the copy read before it.
        assert ("Gracie", "Gracie") == (
            marks[0].hub_values["firstname"],
            marks[0].app_values["first_name"],
        )

    def test_concurrent_passes_never_duplicate(self, hub, app, index, make_engine):
        """S9: two passes of one sync at once create each record exactly once."""
        for i in range(40):
            hub.put("contacts", email=f"h{i}@example.com", lastname=f"H{i}")
        make_engine().initial_sync()
        for i in range(40):
            app.put("people", mail=f"a{i}@example.com", last_name=f"A{i}")
        engines = [make_engine(sleep=time.sleep), make_engine(sleep=time.sleep)]
        threads = [threading.Thread(target=e.incremental_sync) for e in engines]
        for t in threads:
            t.start()
        for t in threads:
            t.join()
        make_engine().incremental_sync()
        emails = [r.properties["email"] for r in hub.records("contacts")]
        assert len(emails) == len(set(emails)) == 80
        assert 80 == app.count("people")

    def test_explain_tells_how_it_matched_and_who_won(self, synced, app):
        """R8: explain shows the matching identifier, each field's rule, and the history."""
        ada = app_id_of(app, "ada@example.com")
        app.patch("people", ada, first_name="Augusta")
        explanation = synced.explain(Side.APP, "people", ada)
        assert "email/mail" == explanation.matched_by
        first = next(f for f in explanation.fields if f.hub == "firstname")
        assert (Side.APP, "changed") == (first.source, first.why.value)
        text = str(explanation)
        assert "matched by: email" in text
        assert "D6" in text
        assert any(h.action == "matched" for h in explanation.history)
        data = explanation.as_dict()
        assert "update hub: firstname" == data["decision"]
        json.dumps(data)

    def test_explain_a_failed_record_gives_category_and_hint(self, synced, app):
        """R2, R8: a failed entry is explained with its category, message and hint."""
        bad = app_id_of(app, "bad@example.com")
        text = str(synced.explain(Side.APP, "people", bad))
        assert "failed (validation)" in text
        assert "hint:" in text
