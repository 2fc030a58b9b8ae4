"""End-to-end: the engine over two in-memory apps and each index store, public API only."""

from __future__ import annotations

import pytest

from syncengine import (
    AdapterError,
    ChangeEvent,
    Condition,
    ConfigError,
    Direction,
    ErrorCategory,
    ExcludeReason,
    FieldMapping,
    Filter,
    MatchRule,
    RecordState,
    Side,
    SyncConfig,
    SyncEngine,
)
from syncengine.testing import Crash, FaultyAdapter


def by_email(adapter, object_type, field):
    """An app's records keyed by their (lower-cased) e-mail."""
    return {r.properties[field].strip().lower(): r for r in adapter.records(object_type)}


def entries(index, state=None):
    """The entries of sync-1, optionally in one state."""
    return list(index.entries("sync-1", states=None if state is None else {state}))


class TestInitialSync:
    """SPEC S3, S4: the three phases of the initial two-way sync."""

    def test_matched_records_merge_and_the_rest_is_created_both_ways(
        self, hub, app, index, make_engine
    ):
        """S3, D2, D3: matches merge; hub-only and app-only records are created across."""
        hub.put("contacts", email="ada@example.com", firstname="Ada", lastname=None)
        hub.put("contacts", email="grace@example.com", firstname="Grace", lastname="Hopper")
        app.put("people", mail=" ADA@example.com", first_name="Augusta", last_name="Lovelace")
        app.put("people", mail="alan@example.com", first_name="Alan", last_name="Turing")
        report = make_engine().initial_sync()

        hubs = by_email(hub, "contacts", "email")
        apps = by_email(app, "people", "mail")
        assert {"ada@example.com", "grace@example.com", "alan@example.com"} == set(hubs)
        assert set(hubs) == set(apps)
        # D3: the hub is the default winner; D2: the hub's blank is filled from the app.
        assert "Ada" == apps["ada@example.com"].properties["first_name"]
        assert "Lovelace" == hubs["ada@example.com"].properties["lastname"]
        assert 2 == report.created
        assert {RecordState.SYNCED} == {e.state for e in entries(index)}
        assert 3 == len(entries(index))

    def test_completion_event_is_emitted_once(self, hub, app, make_engine):
        """S4: the engine announces the end of the initial sync, with progress before."""
        hub.put("contacts", email="a@example.com", lastname="A")
        app.put("people", mail="b@example.com", last_name="B")
        seen = []
        engine = make_engine(on_event=seen.append)
        engine.initial_sync()
        kinds = [e.kind for e in seen]
        assert 1 == kinds.count("initial_sync_completed")
        phases = [e.phase for e in seen if e.kind == "phase_started"]
        assert ["index_hub", "index_app_and_sync", "sync_hub"] == phases
        engine.incremental_sync()
        assert 1 == [e.kind for e in seen].count("initial_sync_completed")

    def test_empty_app_skips_the_hub_index(self, hub, app, index, make_engine):
        """S3: with nothing in the app to pair with, the hub is not indexed first; the
        app phase is the empty scan, and the hub phase creates and matches (M3)."""
        hub.put("contacts", email="a@example.com", lastname="A")
        hub.put("contacts", email=" A@Example.com", lastname="Twin")
        hub.put("contacts", email="b@example.com", lastname="B")
        seen = []
        report = make_engine(on_event=seen.append).initial_sync()
        started = [e.phase for e in seen if e.kind == "phase_started"]
        finished = [(e.phase, e.processed) for e in seen if e.kind == "phase_finished"]
        assert ["index_app_and_sync", "sync_hub"] == started
        assert [("index_app_and_sync", 0), ("sync_hub", 3)] == finished
        assert 2 == report.side("contacts", Side.APP).created
        assert 1 == report.excluded  # the later record with a's e-mail (M3)
        assert {"a@example.com", "b@example.com"} == set(by_email(app, "people", "mail"))
        states = sorted(e.state.value for e in entries(index))
        assert ["excluded", "synced", "synced"] == states

    def test_one_way_to_app_copies_hub_values_and_never_the_app_only_records(
        self, hub, app, index, make_engine, contacts_sync
    ):
        """D1, D5: to_app creates and overwrites in the app, and leaves the hub alone."""
        hub.put("contacts", email="ada@example.com", firstname="Ada", lastname="L")
        app.put("people", mail="ada@example.com", first_name="Augusta", last_name="L")
        app.put("people", mail="only@app.io", first_name="Only", last_name="App")
        make_engine(contacts_sync(direction=Direction.TO_APP, winner=Side.APP)).initial_sync()
        assert 1 == hub.count("contacts")
        assert "Ada" == by_email(app, "people", "mail")["ada@example.com"].properties["first_name"]
        excluded = entries(index, RecordState.EXCLUDED)
        assert [ExcludeReason.DIRECTION] == [e.reason for e in excluded]

    def test_companies_match_on_name_or_domain(self, hub, app, make_engine, companies_sync):
        """M1, M2, M6: name or domain, normalized, is enough to pair two companies."""
        hub.put("companies", name="Acme, Inc.", domain="acme.com")
        hub.put("companies", name="Globex", domain="globex.com")
        app.put("accounts", company="ACME", website="https://www.acme-corp.example/")
        app.put("accounts", company="Globex Corporation Ltd", website="http://www.globex.com/x")
        make_engine(companies_sync()).initial_sync()
        assert 2 == hub.count("companies")
        assert 2 == app.count("accounts")

    def test_duplicates_in_one_app_are_excluded_and_not_created(self, hub, app, index, make_engine):
        """M3: the first record with an identifier syncs; later ones are duplicates."""
        hub.put("contacts", email="ada@example.com", lastname="L")
        app.put("people", mail="ada@example.com", first_name="First", last_name="L")
        app.put("people", mail="Ada@Example.com", first_name="Second", last_name="L")
        make_engine().initial_sync()
        assert 1 == hub.count("contacts")
        (dup,) = entries(index, RecordState.EXCLUDED)
        assert ExcludeReason.DUPLICATE is dup.reason
        assert "email" in dup.message

    def test_contacts_without_email_are_excluded_unless_allowed(
        self, hub, app, index, make_engine, contacts_sync
    ):
        """M4, M5: no valid e-mail → excluded; require=False lets them sync, unmatched."""
        hub.put("contacts", email="not an email", firstname="X", lastname="Y")
        make_engine().initial_sync()
        (entry,) = entries(index)
        assert (RecordState.EXCLUDED, ExcludeReason.NO_IDENTIFIER) == (entry.state, entry.reason)
        assert 0 == app.count("people")

    def test_contacts_without_email_sync_when_not_required(
        self, hub, app, make_engine, contacts_sync
    ):
        """M4: the option lets contacts without e-mail sync (created, never matched)."""
        hub.put("contacts", firstname="X", lastname="Y")
        make_engine(
            contacts_sync(match=MatchRule.email("email", "mail", require=False))
        ).initial_sync()
        assert 1 == app.count("people")

    def test_no_matching_creates_everything_on_the_other_side(
        self, hub, app, make_engine, contacts_sync
    ):
        """M7: with no match rule, records are never paired, only created."""
        hub.put("contacts", email="a@example.com", lastname="A")
        app.put("people", mail="a@example.com", last_name="A")
        make_engine(contacts_sync(match=MatchRule.none())).initial_sync()
        assert 2 == hub.count("contacts")
        assert 2 == app.count("people")

    def test_filters_limit_which_records_enter(self, hub, app, index, make_engine, contacts_sync):
        """L1: only customers go to the app; others are excluded as filtered."""
        hub.put("contacts", email="c@example.com", lastname="C", lifecyclestage="customer")
        hub.put("contacts", email="l@example.com", lastname="L", lifecyclestage="lead")
        make_engine(
            contacts_sync(hub_filter=Filter.where(Condition("lifecyclestage", "eq", "customer")))
        ).initial_sync()
        assert ["c@example.com"] == [r.properties["mail"] for r in app.records("people")]
        (excluded,) = entries(index, RecordState.EXCLUDED)
        assert ExcludeReason.FILTERED is excluded.reason

    def test_a_record_leaving_a_lifetime_filter_keeps_its_edit(
        self, hub, app, index, make_engine, contacts_sync
    ):
        """L2: with filter_lifetime, a hub record a user edits out of its filter is
        excluded; the app's old values never overwrite the edit (they did: the app,
        with no filter of its own, still flowed into the hub record)."""
        record = hub.put("contacts", email="c@example.com", lastname="C", lifecyclestage="customer")
        engine = make_engine(
            contacts_sync(
                hub_filter=Filter.where(Condition("lifecyclestage", "eq", "customer")),
                filter_lifetime=True,
            )
        )
        engine.initial_sync()
        hub.patch("contacts", record.id, lifecyclestage="lead", lastname="Changed")
        report = engine.incremental_sync()
        kept = hub.get("contacts", record.id)
        assert kept is not None
        assert (kept.properties["lifecyclestage"], kept.properties["lastname"]) == (
            "lead",
            "Changed",
        )
        (person,) = app.records("people")
        assert person.properties["last_name"] == "C"
        (excluded,) = entries(index, RecordState.EXCLUDED)
        assert ExcludeReason.FILTERED is excluded.reason
        assert "hub record" in excluded.message
        assert report.side("contacts", Side.HUB).updated == 0

    def test_bad_records_fail_alone_and_the_pass_goes_on(self, hub, app, index, make_engine):
        """X1: a bad value fails its record with a category naming the field; others sync."""
        hub.put("contacts", email="ok@example.com", lastname="Ok")
        app.put("people", mail="bad@example.com", last_name="Bad", age="forty")
        app.put("people", mail="fine@example.com", last_name="Fine")
        make_engine().initial_sync()
        (failed,) = entries(index, RecordState.FAILED)
        assert ErrorCategory.VALIDATION is failed.category
        assert "'age'" in failed.message
        assert 2 == hub.count("contacts")

    def test_dry_run_writes_nothing_and_lists_the_plan(self, hub, app, index, make_engine):
        """R9: a dry run returns the planned writes; apps and index stay untouched."""
        hub.put("contacts", email="ada@example.com", firstname="Ada", lastname="L")
        app.put("people", mail="ada@example.com", first_name="Augusta", last_name="L")
        app.put("people", mail="alan@example.com", last_name="T")
        engine = make_engine()
        report = engine.initial_sync(dry_run=True)
        assert report.dry_run
        planned = {(p.side, p.action) for p in report.planned}
        assert {(Side.APP, "update"), (Side.HUB, "create")} == planned
        assert 1 == hub.count("contacts")
        assert [] == entries(index)
        assert engine.initial_sync_running
        # The real pass does what the dry run said.
        real = engine.initial_sync()
        assert len(report.planned) == real.created + real.updated


class TestIncrementalSync:
    """SPEC S5, S6, D6, R7: passes after the initial sync."""

    @pytest.fixture
    def synced(self, hub, app, make_engine):
        hub.put("contacts", email="ada@example.com", firstname="Ada", lastname="Lovelace")
        app.put("people", mail="alan@example.com", first_name="Alan", last_name="Turing")
        engine = make_engine()
        engine.initial_sync()
        engine.incremental_sync()  # our own writes come back once; they are no change
        hub.reset_calls()
        app.reset_calls()
        return engine

    def test_a_pass_without_changes_writes_nothing_and_scans_nothing_in_full(
        self, synced, hub, app
    ):
        """S5: cost follows the changes: no write, no full scan, no fetch."""
        report = synced.incremental_sync()
        assert 0 == report.writes
        for adapter in (hub, app):
            assert 0 == adapter.calls["scan_full"]
            assert 0 == adapter.calls["create"] + adapter.calls["update"]
            assert 0 == adapter.calls["fetch"]

    def test_the_engines_own_writes_come_back_without_a_fetch_or_a_write(
        self, hub, app, make_engine
    ):
        """S5, S6: echoes of the initial sync's writes are recognized by the index copy."""
        for i in range(20):
            hub.put("contacts", email=f"h{i}@example.com", firstname="H", lastname=f"{i}")
            app.put("people", mail=f"a{i}@example.com", first_name="A", last_name=f"{i}")
        engine = make_engine()
        engine.initial_sync()
        hub.reset_calls()
        app.reset_calls()
        report = engine.incremental_sync()
        assert 0 == report.writes
        assert 40 == report.unchanged
        assert 0 == hub.calls["fetch"] + app.calls["fetch"]

    def test_a_change_on_the_losing_side_flows_to_the_winner(self, synced, hub, app):
        """D6: a field changed only in the app reaches the hub although the hub wins."""
        alan = by_email(hub, "contacts", "email")["alan@example.com"]
        person = by_email(app, "people", "mail")["alan@example.com"]
        app.patch("people", person.id, first_name="Alan M.")
        synced.incremental_sync()
        assert "Alan M." == hub.get("contacts", alan.id).properties["firstname"]

    def test_new_records_on_either_side_are_created_on_the_other(self, synced, hub, app):
        """S5: records created after the initial sync sync too."""
        hub.put("contacts", email="new@hub.io", lastname="H")
        app.put("people", mail="new@app.io", last_name="A")
        report = synced.incremental_sync()
        assert 2 == report.created
        assert "new@hub.io" in by_email(app, "people", "mail")
        assert "new@app.io" in by_email(hub, "contacts", "email")

    def test_pairs_stay_paired_when_the_identifier_changes(self, synced, hub, app, index):
        """M7: once paired, records stay paired even if the e-mail changes."""
        ada = by_email(hub, "contacts", "email")["ada@example.com"]
        hub.patch("contacts", ada.id, email="ada@lovelace.org")
        synced.incremental_sync()
        assert 2 == app.count("people")
        assert "ada@lovelace.org" in by_email(app, "people", "mail")

    def test_a_deleted_record_is_not_deleted_on_the_other_side(self, synced, hub, app, index):
        """R6, X3: deleting in the hub fails the entry as deleted; the app keeps its record."""
        ada = by_email(hub, "contacts", "email")["ada@example.com"]
        hub.remove("contacts", ada.id)
        synced.incremental_sync()
        assert 2 == app.count("people")
        (failed,) = entries(index, RecordState.FAILED)
        assert ErrorCategory.DELETED is failed.category

    def test_transient_failures_are_retried_without_a_change(self, hub, app, index, make_engine):
        """R7, S6: an update that failed with 'unavailable' is retried on the next pass."""
        faulty = FaultyAdapter(app)
        hub.put("contacts", email="ada@example.com", firstname="Ada", lastname="L")
        app.put("people", mail="ada@example.com", first_name="Augusta", last_name="L")
        engine = make_engine(app=faulty)
        faulty.fail_next("update", AdapterError(ErrorCategory.UNAVAILABLE, "503 from app"))
        engine.initial_sync()
        (failed,) = entries(index, RecordState.FAILED)
        assert ErrorCategory.UNAVAILABLE is failed.category
        engine.incremental_sync()
        assert "Ada" == app.records("people")[0].properties["first_name"]
        assert [] == entries(index, RecordState.FAILED)

    def test_permanent_failures_wait_for_a_change(self, hub, app, index, make_engine):
        """R7: a validation failure is not retried in a loop; a fix makes it sync."""
        bad = app.put("people", mail="bad@example.com", last_name="B", age="x")
        engine = make_engine()
        engine.initial_sync()
        assert 1 == len(entries(index, RecordState.FAILED))
        app.reset_calls()
        hub.reset_calls()
        engine.incremental_sync()
        assert 0 == hub.calls["create"] + app.calls["fetch"] + hub.calls["fetch"]
        app.patch("people", bad.id, age=41)
        engine.incremental_sync()
        assert [] == entries(index, RecordState.FAILED)
        assert 41 == hub.records("contacts")[0].properties["age"]

    def test_events_sync_changes_without_scanning(self, synced, hub, app):
        """S5: pushed change events are processed by fetching only the named records."""
        person = by_email(app, "people", "mail")["ada@example.com"]
        app.patch("people", person.id, tel="+45 1234")
        report = synced.handle_events(Side.APP, [ChangeEvent("people", person.id)] * 3)
        assert 1 == report.updated
        assert 0 == app.calls["scan_full"] + app.calls["scan_since"]
        ada = by_email(hub, "contacts", "email")["ada@example.com"]
        assert "+45 1234" == ada.properties["phone"]

    def test_reconcile_recovers_what_no_cursor_reported(self, synced, hub, app, index):
        """S6: a full comparison repairs a record whose change was never seen."""
        ada_app = by_email(app, "people", "mail")["ada@example.com"]
        app.patch("people", ada_app.id, first_name="Augusta")
        # Pretend the change was lost: move the app cursor past it.
        for page in app.scan("people", index.cursor("sync-1", Side.APP, "contacts")):
            last = page.cursor
        index.set_cursor("sync-1", Side.APP, "contacts", last)
        assert 0 == synced.incremental_sync().writes
        report = synced.reconcile()
        assert 1 == report.updated
        ada_hub = by_email(hub, "contacts", "email")["ada@example.com"]
        assert "Augusta" == ada_hub.properties["firstname"]


class TestCrashSafety:
    """SPEC S8: resumable initial sync, no duplicates after a crash."""

    def test_crash_between_create_and_index_commit_creates_no_duplicate(
        self, hub, app, index, make_engine
    ):
        """S8: the create happened, the process died; the next pass settles it by key."""
        faulty = FaultyAdapter(app)
        for i in range(5):
            hub.put("contacts", email=f"p{i}@example.com", lastname=f"L{i}")
        engine = make_engine(app=faulty)
        faulty.lose_confirmation("create", Crash())
        with pytest.raises(Crash):
            engine.initial_sync()
        assert 5 == app.count("people")  # created remotely, not yet recorded
        make_engine(app=faulty).initial_sync()
        assert 5 == app.count("people")
        assert {RecordState.SYNCED} == {e.state for e in entries(index)}

    def test_crash_mid_scan_resumes_without_redoing_or_duplicating(
        self, hub, app, index, make_engine
    ):
        """S8: a pass killed during a phase resumes from its last committed page."""
        for i in range(30):
            hub.put("contacts", email=f"h{i}@example.com", lastname=f"H{i}")
            app.put("people", mail=f"a{i}@example.com", last_name=f"A{i}")
        faulty = FaultyAdapter(app)
        engine = make_engine(app=faulty)
        faulty.truncate_scans(2)  # the app scan dies after two pages
        with pytest.raises(AdapterError):
            engine.initial_sync()
        faulty.clear()
        done_before = hub.count("contacts")
        assert 30 < done_before < 60
        faulty.inner.reset_calls()
        make_engine(app=faulty).initial_sync()
        assert 60 == hub.count("contacts")
        assert 60 == app.count("people")
        assert 60 == len(entries(index, RecordState.SYNCED))


class TestConfiguration:
    """SPEC X2, F4: the engine checks the config against the apps' schemas."""

    def test_unknown_property_is_a_config_error_with_the_path(self, hub, app, index, contacts_sync):
        """X2: the error names objects[0].mappings[1].app."""
        obj = contacts_sync(
            mappings=[FieldMapping("email", "mail"), FieldMapping("lastname", "surname")]
        )
        with pytest.raises(ConfigError, match=r"objects\[0\]\.mappings\[1\]\.app"):
            SyncEngine(hub, app, index, SyncConfig("s", [obj]))

    def test_config_with_a_one_way_type_pair_is_narrowed(self, hub, app, index, contacts_sync):
        """F4: number → number stays two-way; the engine compiles the mapping."""
        engine = SyncEngine(hub, app, index, SyncConfig("s", [contacts_sync()]))
        plan = engine.plan_for("contacts")
        assert all(f.to_app and f.to_hub for f in plan.fields)

    def test_mapping_to_app_only_flows_one_way(self, hub, app, index, make_engine, contacts_sync):
        """F3: a to_app mapping never carries app values to the hub."""
        mappings = [
            FieldMapping("email", "mail"),
            FieldMapping("lastname", "last_name"),
            FieldMapping("firstname", "first_name", direction=Direction.TO_APP),
        ]
        hub.put("contacts", email="a@example.com", lastname="L")
        app.put("people", mail="a@example.com", last_name="L", first_name="AppOnly")
        make_engine(contacts_sync(mappings=mappings)).initial_sync()
        assert hub.records("contacts")[0].properties.get("firstname") in (None, "")
