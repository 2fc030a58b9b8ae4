"""Regressions: the smallest scenarios of the bugs the convergence machine found.

Each test is the machine's shrunk failing sequence, rewritten by hand with the public API
(two in-memory apps, each index store, a ``FaultyAdapter`` on the app). A test marked
``xfail(strict=True)`` is a bug that is not fixed yet; the reason says what is wrong.
"""

from __future__ import annotations

import pytest
from hypothesis import example, given
from hypothesis import strategies as st

from syncengine import (
    AdapterError,
    ChangeEvent,
    ErrorCategory,
    ExcludeReason,
    FieldMapping,
    MatchRule,
    ObjectSchema,
    ObjectSync,
    PropertySpec,
    RecordState,
    Side,
    SyncConfig,
    SyncEngine,
)
from syncengine.adapters import InMemoryAdapter
from syncengine.index import Entry, MemoryIndexStore, SQLiteIndexStore
from syncengine.testing import Crash, FaultyAdapter


def mails(app):
    """The app's e-mails, sorted (one per record)."""
    return sorted(r.properties.get("mail", "") for r in app.records("people"))


def entry_of(index, side, record_id):
    """The index entry naming a record."""
    (entry,) = [e for e in index.entries("s") if e.id_on(side) == record_id]
    return entry


class TestLostCreateConfirmations:
    """S8: a create that happened remotely while its reply was lost makes no duplicate."""

    def test_a_lost_create_reply_is_settled_by_its_key_not_created_again(
        self, hub, app, faulty_app, make_engine
    ):
        """S8: the pending entry keeps the idempotency key of the create that was sent."""
        hub.put("contacts", email="ada@x.io", firstname="Ada")
        faulty_app.lose_confirmation("create", AdapterError(ErrorCategory.UNAVAILABLE, "timeout"))
        engine = make_engine()
        engine.initial_sync()
        engine.reconcile()
        assert ["ada@x.io"] == mails(app)

    def test_a_record_deleted_after_a_lost_create_reply_is_not_brought_back(
        self, hub, app, faulty_app, index, make_engine
    ):
        """R6, X3: the user's deletion stands; the engine does not re-create the record."""
        ada = hub.put("contacts", email="ada@x.io", firstname="Ada")
        faulty_app.lose_confirmation("create", AdapterError(ErrorCategory.UNAVAILABLE, "timeout"))
        engine = make_engine()
        engine.initial_sync()
        hub.remove("contacts", ada.id)
        engine.reconcile()
        assert [] == hub.records("contacts")
        (entry,) = index.entries("s")
        assert (RecordState.FAILED, ErrorCategory.DELETED) == (entry.state, entry.category)

    def test_an_event_for_a_record_whose_create_was_interrupted_creates_no_duplicate(
        self, hub, app, faulty_app, make_engine
    ):
        """S5, S8: webhooks settle creates in flight before they process records."""
        ada = hub.put("contacts", email="ada@x.io", firstname="Ada")
        faulty_app.lose_confirmation("create", Crash())
        with pytest.raises(Crash):
            make_engine().initial_sync()
        hub.patch("contacts", ada.id, firstname="Augusta")
        restarted = make_engine()
        report = restarted.handle_events(Side.HUB, [ChangeEvent("contacts", ada.id)])
        assert "initial sync" in (report.skipped or "")  # deferred to the initial sync (S3)
        restarted.initial_sync()
        restarted.incremental_sync()
        assert ["ada@x.io"] == mails(app)
        assert "Augusta" == app.records("people")[0].properties["first_name"]


class TestEventsBeforeTheInitialSync:
    """S3, S5: webhooks that arrive before the initial sync do not bypass its matching."""

    def test_an_event_before_the_initial_sync_creates_no_duplicate(self, hub, app, make_engine):
        """M1: the app's record with the same e-mail is matched, not duplicated."""
        app.put("people", mail="ada@x.io", first_name="Ada")
        ada = hub.put("contacts", email="ada@x.io", firstname="Ada")
        engine = make_engine()
        engine.handle_events(Side.HUB, [ChangeEvent("contacts", ada.id, "created")])
        engine.initial_sync()
        assert ["ada@x.io"] == mails(app)


class TestCreatesInFlightAndChangedMeanwhile:
    """S8, M7: a record made by a create in flight belongs to that create's entry."""

    def test_a_record_made_by_an_unsettled_create_is_not_synced_as_a_new_one(
        self, hub, app, faulty_app, index, make_engine
    ):
        """S8: the record waits for the settlement by key, then syncs as the pair."""
        hub.put("contacts", email="ada@x.io", firstname="Ada")
        faulty_app.lose_confirmation("create", AdapterError(ErrorCategory.UNAVAILABLE, "timeout"))
        engine = make_engine()
        engine.initial_sync()
        (person,) = app.records("people")
        app.patch("people", person.id, mail="bob@x.io")
        faulty_app.fail_next("create")  # the settlement fails too
        engine.incremental_sync()
        engine.incremental_sync()
        engine.reconcile()
        assert 1 == len(hub.records("contacts"))
        holders = [e.entry_id for e in index.entries("s") if e.app_id == person.id]
        assert 1 == len(holders)


class TestCreatesSettledTwice:
    """S8: a create whose settlement also lost its reply is not made again."""

    def test_a_create_is_not_repeated_in_the_pass_whose_settlement_failed(
        self, hub, app, faulty_hub, make_engine
    ):
        """S8: a record with a create in flight is created with the same key, or not at all."""
        app.put("people", mail="ada@x.io", first_name="Ada")
        faulty_hub.lose_confirmation("create", Crash())
        with pytest.raises(Crash):
            make_engine().initial_sync()
        faulty_hub.lose_confirmation("create", AdapterError(ErrorCategory.UNAVAILABLE, "timeout"))
        restarted = make_engine()
        restarted.initial_sync()
        restarted.incremental_sync()
        assert 1 == len(hub.records("contacts"))

    def test_a_source_deleted_while_its_create_was_in_flight_is_not_created_again(
        self, hub, app, faulty_hub, index, make_engine
    ):
        """R6, X3: the created record is kept and the entry fails as deleted."""
        person = app.put("people", mail="ada@x.io", first_name="Ada")
        faulty_hub.lose_confirmation("create", Crash())
        with pytest.raises(Crash):
            make_engine().initial_sync()
        app.remove("people", person.id)
        faulty_hub.lose_confirmation("create", AdapterError(ErrorCategory.UNAVAILABLE, "timeout"))
        restarted = make_engine()
        restarted.initial_sync()
        restarted.reconcile()
        assert [] == app.records("people")
        (contact,) = hub.records("contacts")
        entry = entry_of(index, Side.HUB, contact.id)
        assert (RecordState.FAILED, ErrorCategory.DELETED) == (entry.state, entry.category)


class TestDeletionsAreNeverMissed:
    """S6, R6: a deletion on one side always ends as a failed entry, the other record kept."""

    def test_reconcile_notices_a_deleted_app_record_whose_hub_record_did_not_change(
        self, hub, app, index, make_engine
    ):
        """S6: reconcile compares both apps in full, not only the side that changed."""
        hub.put("contacts", email="ada@x.io", firstname="Ada")
        engine = make_engine()
        engine.initial_sync()
        (person,) = app.records("people")
        app.remove("people", person.id)
        # The deletion was never reported: move the app cursor past it.
        cursor = index.cursor("s", Side.APP, "contacts")
        *_, last = app.scan("people", cursor)
        index.set_cursor("s", Side.APP, "contacts", last.cursor)
        engine.reconcile()
        (entry,) = index.entries("s")
        assert (RecordState.FAILED, ErrorCategory.DELETED) == (entry.state, entry.category)
        assert Side.APP is entry.deleted

    def test_a_deletion_made_while_the_initial_sync_was_interrupted_is_seen(
        self, hub, app, faulty_app, index, make_engine
    ):
        """S3, S8: a resumed phase processes the deletions its resumed scan reports."""
        hub.put("contacts", email="ada@x.io", firstname="Ada")
        person = app.put("people", mail="ada@x.io", first_name="Ada")
        faulty_app.truncate_scans(1)  # the app scan dies after its (only, last) page
        engine = make_engine()
        with pytest.raises(AdapterError):
            engine.initial_sync()
        faulty_app.clear()
        app.remove("people", person.id)
        engine.initial_sync()
        engine.incremental_sync()
        (entry,) = index.entries("s")
        assert (RecordState.FAILED, ErrorCategory.DELETED) == (entry.state, entry.category)


class TestWritesOfAPassThatStoppedHalfway:
    """S6, D6: a pass that wrote one app and stopped before the other's write keeps what
    it wrote in the index copy, so a user's later edit is not taken for the old value."""

    @pytest.mark.parametrize("crash", [True, False], ids=["crash", "error"])
    @pytest.mark.parametrize(
        ("edit", "back", "hub_change"),
        [
            (("mail", " ADA@x.io "), ("mail", "ada@x.io"), ("firstname", "Bob")),
            (("first_name", "Eve"), ("first_name", "Ada"), ("email", "ada2@x.io")),
        ],
        ids=["email-case", "name"],
    )
    def test_a_users_edit_after_a_half_written_pass_is_not_reverted(
        self, hub, app, faulty_app, index, make_engine, clock, crash, edit, back, hub_change
    ):
        """D6: the app user edits a field, the pass writes it to the hub and stops before
        the app's own update (the hub's change); the user then sets the field back. The
        index copy still held the value before the first edit, so the user's last edit
        looked like no change and the hub's copy of the first edit was written back over
        it (convergence seed 14: an e-mail re-typed with other case and spaces)."""
        ada = hub.put("contacts", email="ada@x.io", firstname="Ada")
        make_engine().initial_sync()
        (person,) = app.records("people")
        clock.advance()
        hub.patch("contacts", ada.id, **dict([hub_change]))
        app.patch("people", person.id, **dict([edit]))
        clock.advance()
        if crash:  # the process dies before the app's update
            faulty_app.fail_next("update", Crash())
            with pytest.raises(Crash):
                make_engine().reconcile()
        else:  # the app's update fails: the record fails, the pass goes on
            faulty_app.fail_next("update", AdapterError(ErrorCategory.UNAVAILABLE, "down"))
            assert 1 == make_engine().reconcile().failed
        to_hub = {"mail": "email", "first_name": "firstname"}
        assert edit[1] == hub.get("contacts", ada.id).properties[to_hub[edit[0]]]
        clock.advance()
        app.patch("people", person.id, **dict([back]))  # the user's last edit
        engine = make_engine()
        for _ in range(2):
            clock.advance()
            engine.reconcile()
        assert back[1] == hub.get("contacts", ada.id).properties[to_hub[back[0]]]
        assert back[1] == app.get("people", person.id).properties[back[0]]
        to_app = {h: a for a, h in to_hub.items()}
        assert hub_change[1] == app.get("people", person.id).properties[to_app[hub_change[0]]]

    def test_a_hub_users_edit_after_only_the_app_was_written_is_not_reverted(
        self, hub, app, faulty_hub, make_engine, clock
    ):
        """D6: the other way round: the hub's update fails, the app's lands (Bob); the hub
        user then sets the name back to Ada, and the app's Bob must not come back."""
        ada = hub.put("contacts", email="ada@x.io", firstname="Ada")
        make_engine().initial_sync()
        (person,) = app.records("people")
        clock.advance()
        hub.patch("contacts", ada.id, firstname="Bob")
        app.patch("people", person.id, mail="ada2@x.io")
        faulty_hub.fail_next("update", AdapterError(ErrorCategory.UNAVAILABLE, "down"))
        clock.advance()
        assert 1 == make_engine().reconcile().failed
        assert "Bob" == app.get("people", person.id).properties["first_name"]
        clock.advance()
        hub.patch("contacts", ada.id, firstname="Ada")  # the hub user's last edit
        engine = make_engine()
        for _ in range(2):
            clock.advance()
            engine.reconcile()
        assert "Ada" == hub.get("contacts", ada.id).properties["firstname"]
        assert "Ada" == app.get("people", person.id).properties["first_name"]
        assert "ada2@x.io" == hub.get("contacts", ada.id).properties["email"]


class TestIdentifiersThatChange:
    """M3, M7: a pair keeps its records, and its identifiers as they are now count."""

    def test_a_new_record_with_the_new_email_of_a_pair_is_a_duplicate_not_created(
        self, hub, app, index, make_engine
    ):
        """M3: the engine never creates a second hub record with an e-mail the hub holds."""
        ada = hub.put("contacts", email="ada@x.io", firstname="Ada")
        engine = make_engine()
        engine.initial_sync()
        bob = app.put("people", mail="bob@x.io", first_name="Bob")
        hub.patch("contacts", ada.id, email="bob@x.io")
        engine.incremental_sync()
        assert ["bob@x.io"] == sorted(r.properties["email"] for r in hub.records("contacts"))
        entry = entry_of(index, Side.APP, bob.id)
        assert (RecordState.EXCLUDED, ExcludeReason.DUPLICATE) == (entry.state, entry.reason)

    def test_a_duplicate_syncs_once_the_record_it_duplicated_changes_its_email(
        self, hub, app, index, make_engine
    ):
        """M3: a record is a duplicate only while another record of its app holds its e-mail."""
        ada = hub.put("contacts", email="ada@x.io", firstname="Ada")
        second = hub.put("contacts", email="ada@x.io", firstname="Second")
        engine = make_engine()
        engine.initial_sync()
        hub.patch("contacts", ada.id, email="bob@x.io")
        engine.incremental_sync()
        engine.reconcile()
        assert ["ada@x.io", "bob@x.io"] == mails(app)
        assert RecordState.SYNCED is entry_of(index, Side.HUB, second.id).state

    def test_a_record_recreated_after_a_deletion_pairs_with_the_surviving_record(
        self, hub, app, index, make_engine
    ):
        """M3, R6: a deleted record owns nothing; the new one pairs with the survivor."""
        ada = hub.put("contacts", email="ada@x.io", firstname="Ada")
        engine = make_engine()
        engine.initial_sync()
        hub.remove("contacts", ada.id)
        engine.incremental_sync()
        again = hub.put("contacts", email="ada@x.io", firstname="Ada")
        engine.incremental_sync()
        (person,) = app.records("people")
        entry = entry_of(index, Side.HUB, again.id)
        assert (RecordState.SYNCED, person.id) == (entry.state, entry.app_id)


class TestBothRecordsOfAPairDeleted:
    """R6, M3: a pair whose two records are gone owns no identifier any more."""

    def test_a_new_record_syncs_after_both_records_of_its_pair_were_deleted(
        self, hub, app, index, make_engine
    ):
        """M3: the new record is created in the app; nothing says the old ones are kept."""
        ada = hub.put("contacts", email="ada@x.io", firstname="Ada")
        engine = make_engine()
        engine.initial_sync()
        (person,) = app.records("people")
        hub.remove("contacts", ada.id)
        app.remove("people", person.id)
        engine.incremental_sync()
        again = hub.put("contacts", email="ada@x.io", firstname="Ada")
        engine.incremental_sync()
        engine.reconcile()
        assert ["ada@x.io"] == mails(app)
        assert RecordState.SYNCED is entry_of(index, Side.HUB, again.id).state


class TestRecordsAddedInBothAppsBetweenPasses:
    """M1, M3: the same contact added in both apps between two passes is matched."""

    def test_a_contact_added_to_both_apps_between_polls_is_paired_not_duplicated(
        self, hub, app, index, make_engine
    ):
        """M1: incremental passes match new records across apps before creating any."""
        engine = make_engine()
        engine.initial_sync()
        app.put("people", mail="ada@x.io", first_name="Ada")
        hub.put("contacts", email="ada@x.io", firstname="Ada")
        engine.incremental_sync()
        assert ["ada@x.io"] == mails(app)
        assert 1 == len(hub.records("contacts"))

    def test_a_contact_added_to_both_apps_before_a_reconcile_is_paired_not_duplicated(
        self, hub, app, make_engine
    ):
        """M1, S6: a reconcile pass matches new records across apps before creating any."""
        engine = make_engine()
        engine.initial_sync()
        app.put("people", mail="ada@x.io", first_name="Ada")
        hub.put("contacts", email="ada@x.io", firstname="Ada")
        engine.reconcile()
        assert ["ada@x.io"] == mails(app)
        assert 1 == len(hub.records("contacts"))


class TestPairingWithARecordThatIsGone:
    """S6: a record matched to an entry whose other record is gone is treated as new."""

    def test_the_record_keeps_its_entry_when_its_match_turns_out_deleted(
        self, hub, app, faulty_hub, index, make_engine
    ):
        """M1, S8: its own entry is not dropped, so the record it creates is paired with it."""
        engine = make_engine()
        engine.initial_sync()
        person = app.put("people", mail="ada@x.io", first_name="Ada")
        faulty_hub.fail_items("create", lambda item: True, ErrorCategory.VALIDATION, "refused")
        ada = hub.put("contacts", email="not-an-email", firstname="Ada")
        engine.incremental_sync()  # the app record waits: its create in the hub failed
        faulty_hub.clear()
        app.remove("people", person.id)
        hub.patch("contacts", ada.id, email="ada@x.io")
        engine.incremental_sync()
        engine.incremental_sync()
        assert ["ada@x.io"] == [r.properties["email"] for r in hub.records("contacts")]
        assert ["ada@x.io"] == mails(app)
        (created,) = app.records("people")
        assert ada.id == entry_of(index, Side.APP, created.id).hub_id


class TestOversizedValues:
    """X1, F5: text longer than a string property holds (65,536 characters) fails the record."""

    def test_a_new_record_with_an_oversized_name_fails_naming_the_field(
        self, hub, app, index, make_engine
    ):
        """X1: the record fails with 'validation' naming the field; nothing is created."""
        ada = hub.put("contacts", email="ada@x.io", firstname="x" * 100_000)
        make_engine().initial_sync()
        assert [] == app.records("people")
        entry = entry_of(index, Side.HUB, ada.id)
        assert (RecordState.FAILED, ErrorCategory.VALIDATION) == (entry.state, entry.category)
        assert "'firstname'" in entry.message

    def test_an_oversized_name_in_a_synced_pair_fails_naming_the_field(
        self, hub, app, index, make_engine
    ):
        """X1: the pair fails with 'validation' naming the field; the app keeps its value."""
        ada = hub.put("contacts", email="ada@x.io", firstname="Ada")
        engine = make_engine()
        engine.initial_sync()
        hub.patch("contacts", ada.id, firstname="x" * 100_000)
        engine.incremental_sync()
        assert "Ada" == app.records("people")[0].properties["first_name"]
        entry = entry_of(index, Side.HUB, ada.id)
        assert (RecordState.FAILED, ErrorCategory.VALIDATION) == (entry.state, entry.category)
        assert "'firstname'" in entry.message


class TestTextThatIsNotUnicode:
    """X1: a value no app can encode never stops a pass."""

    def test_a_lone_surrogate_in_a_name_does_not_stop_the_pass(self, hub, app, tmp_path, clock):
        """X1: the record syncs or fails naming the field; the other records sync."""
        hub.put("contacts", email="ada@x.io", firstname="A\ud800")
        hub.put("contacts", email="bob@x.io", firstname="Bob")
        config = SyncConfig(
            "s",
            [
                ObjectSync(
                    "contacts",
                    "people",
                    [FieldMapping("email", "mail"), FieldMapping("firstname", "first_name")],
                    match=MatchRule.email("email", "mail"),
                )
            ],
        )
        with SQLiteIndexStore(tmp_path / "index.db") as index:
            SyncEngine(hub, app, index, config, clock=clock).initial_sync()
            assert "bob@x.io" in mails(app)


class TestRecreatedAfterBothWereDeleted:
    """M3, R6: once a pair's records are gone, new records with its e-mail sync once."""

    def test_two_new_hub_records_with_the_email_of_a_deleted_pair_create_one_app_record(
        self, hub, app, index, make_engine
    ):
        """M3: the first new record takes the pair's place; the second is its duplicate."""
        ada = hub.put("contacts", email="ada@x.io", firstname="Ada")
        engine = make_engine()
        engine.initial_sync()
        hub.remove("contacts", ada.id)
        app.remove("people", app.records("people")[0].id)
        engine.reconcile()
        hub.put("contacts", email="ada@x.io", firstname="Ada")
        hub.put("contacts", email="ada@x.io", firstname="Ada again")
        engine.initial_sync()  # a restarted initial sync (S2)
        assert ["ada@x.io"] == mails(app)

    def test_the_deleted_side_is_told_truthfully_after_a_record_took_a_deleted_ones_place(
        self, hub, app, faulty_app, index, make_engine
    ):
        """R6: the entry names the side whose record is gone, whatever failed on the way."""
        ada = hub.put("contacts", email="ada@x.io", firstname="Ada")
        engine = make_engine()
        engine.initial_sync()
        hub.remove("contacts", ada.id)
        app.remove("people", app.records("people")[0].id)
        engine.incremental_sync()
        again = hub.put("contacts", email="ada@x.io", firstname="Ada")
        faulty_app.fail_next("fetch")
        engine.incremental_sync()
        engine.reconcile()
        engine.reconcile()
        entry = entry_of(index, Side.HUB, again.id)
        assert RecordState.SYNCED is entry.state
        assert ["ada@x.io"] == mails(app)


class TestDryRunsOfPairsMadeAfterADeletedPair:
    """R9: a dry run lists and counts each write once, as the real pass makes it."""

    def test_a_dry_reconcile_lists_the_new_pairs_update_once(
        self, clock, hub, app, index, make_engine
    ):
        """Both records of a pair deleted, then one new record with its e-mail in each
        app: the dry run met the new app record from both scans and listed its update
        twice (the convergence machine, a random seed)."""
        ada = hub.put("contacts", email="bob@x.io", firstname="Ada")
        engine = make_engine()
        engine.initial_sync()
        hub.remove("contacts", ada.id)
        app.remove("people", app.records("people")[0].id)
        clock.advance(1)
        hub.put("contacts", email="bob@x.io", firstname="Ada")
        bob = app.put("people", mail="bob@x.io", first_name="")

        dry = engine.reconcile(dry_run=True)

        writes = [(w.side, w.action, w.record_id) for w in dry.planned]
        assert [(Side.APP, "update", bob.id)] == writes
        real = engine.reconcile()
        assert (dry.updated, dry.created, dry.failed) == (real.updated, real.created, real.failed)
        assert "Ada" == app.get("people", bob.id).properties["first_name"]


class TestWebhooksForRecordsAddedToBothApps:
    """M1, S5: a webhook for a new record does not bypass the other app's new records."""

    def test_a_contact_added_to_both_apps_is_paired_when_the_hub_webhook_comes_first(
        self, hub, app, make_engine
    ):
        """M1: the hub's event pairs the record with the app's, instead of creating it."""
        engine = make_engine()
        engine.initial_sync()
        app.put("people", mail="ada@x.io", first_name="Ada")
        ada = hub.put("contacts", email="ada@x.io", firstname="Ada")
        engine.handle_events(Side.HUB, [ChangeEvent("contacts", ada.id, "created")])
        engine.incremental_sync()
        assert ["ada@x.io"] == mails(app)


class TestNamesakesOfDeletedPairs:
    """M3, R6, S6: records that take the e-mail of a pair whose records are gone."""

    def test_reconcile_alone_lets_a_new_record_take_the_place_of_a_deleted_pair(
        self, hub, app, index, make_engine
    ):
        """S6, M3: a full comparison learns that both records are gone."""
        ada = hub.put("contacts", email="ada@x.io", firstname="Ada")
        engine = make_engine()
        engine.initial_sync()
        hub.remove("contacts", ada.id)
        app.remove("people", app.records("people")[0].id)
        again = app.put("people", mail="ada@x.io", first_name="Ada")
        engine.reconcile()
        engine.reconcile()
        assert ["ada@x.io"] == [r.properties["email"] for r in hub.records("contacts")]
        assert RecordState.SYNCED is entry_of(index, Side.APP, again.id).state

    def test_records_added_to_both_apps_after_a_pair_was_deleted_pair_up(
        self, hub, app, index, make_engine
    ):
        """M1, M3: the two new records pair; nothing is created."""
        ada = hub.put("contacts", email="ada@x.io", firstname="Ada")
        engine = make_engine()
        engine.initial_sync()
        app.remove("people", app.records("people")[0].id)
        engine.incremental_sync()
        hub.remove("contacts", ada.id)
        again = hub.put("contacts", email="ada@x.io", firstname="Ada")
        app.put("people", mail="ada@x.io", first_name="Ada")
        engine.initial_sync()  # a restarted initial sync (S2)
        assert [again.id] == [r.id for r in hub.records("contacts")]
        assert ["ada@x.io"] == mails(app)

    def test_two_hub_duplicates_left_without_their_holder_create_one_app_record(
        self, hub, app, make_engine
    ):
        """M3: once the holder's e-mail changes, the first duplicate syncs, the second waits."""
        ada = hub.put("contacts", email="ada@x.io", firstname="Ada")
        engine = make_engine()
        engine.initial_sync()
        app.remove("people", app.records("people")[0].id)
        hub.put("contacts", email="ada@x.io", firstname="Second")
        hub.put("contacts", email="ada@x.io", firstname="Third")
        hub.patch("contacts", ada.id, email="bob@x.io")
        engine.initial_sync()  # a restarted initial sync (S2)
        assert ["ada@x.io"] == mails(app)


class TestInitialSyncResumedAfterRecordsWereAdded:
    """S3, M1: records added to both apps while an initial sync was stopped pair up."""

    @pytest.mark.parametrize("app_empty", [True, False], ids=["app-empty", "app-not-empty"])
    def test_a_contact_added_to_both_apps_before_phase_3_resumes_is_created_nowhere(
        self, hub, app, faulty_hub, make_engine, app_empty
    ):
        """S3: phase 3 indexes the app's records added since phase 2 before creating.

        With an empty app, phase 2 is the empty scan and phase 1 is skipped: the same
        holds, from the cursor of that scan. Phase 3 reads the hub (a scan after an
        empty app, else a fetch of the hub records still unsynced: Bob) when it stops."""
        hub.put("contacts", email="bob@x.io", firstname="Bob")
        if not app_empty:
            app.put("people", mail="zed@x.io", first_name="Zed")
        started: list[str | None] = []

        def stop_in_phase_3(method, n):
            if method in ("scan", "fetch") and started.count("sync_hub") == 1:  # the first run's
                raise AdapterError(ErrorCategory.UNAVAILABLE, "down")

        faulty_hub.on_call(stop_in_phase_3)
        engine = make_engine(
            on_event=lambda e: started.append(e.phase) if e.kind == "phase_started" else None
        )
        with pytest.raises(AdapterError):
            engine.initial_sync()
        assert engine.initial_sync_running
        assert "index_hub" not in started if app_empty else "index_hub" in started
        faulty_hub.clear()
        hub.put("contacts", email="ada@x.io", firstname="Ada")
        app.put("people", mail="ada@x.io", first_name="Ada")
        engine.initial_sync()
        assert ["ada@x.io", "bob@x.io"] + ([] if app_empty else ["zed@x.io"]) == mails(app)
        assert 2 + (not app_empty) == len(hub.records("contacts"))


class _AppWithoutKeys(InMemoryAdapter):
    """An app whose creates take no idempotency keys (as HubSpot's companies without a
    unique property): no lookup either."""

    supports_idempotency_keys = False
    supports_idempotency_lookup = False


class _AppWithoutLookup(InMemoryAdapter):
    """An app whose creates take idempotency keys, but that cannot look them up."""

    supports_idempotency_lookup = False


class _AppThatLooksUp(InMemoryAdapter):
    """An app whose creates take no idempotency keys, but that can say which creates
    happened (as HubSpot's contacts, by e-mail)."""

    supports_idempotency_keys = False


def _without_keys(hub, index, clock, app_class=_AppWithoutKeys):
    """The fixtures' sync with an app that takes no idempotency keys (or another
    ``app_class``): the app, its FaultyAdapter, and a function that starts an engine (a
    new process, each call)."""
    schema = ObjectSchema(
        "people", [PropertySpec("mail", "string"), PropertySpec("first_name", "string")]
    )
    app = app_class([schema], name="app", clock=clock, id_prefix="a")
    faulty_app = FaultyAdapter(app, seed=0)
    contacts = ObjectSync(
        "contacts",
        "people",
        [FieldMapping("email", "mail"), FieldMapping("firstname", "first_name")],
        match=MatchRule.email("email", "mail"),
    )
    config = SyncConfig("s", [contacts])

    def make_engine():
        return SyncEngine(hub, faulty_app, index, config, clock=clock, sleep=clock.advance)

    return app, faulty_app, make_engine


class _SettledInBetween:
    """The index as one pass sees it, while another pass works on the same index: right
    after this pass reads the creates in flight, and before it takes any lease, the other
    pass (``between``) runs. So the interleaving of two workers that made
    ``test_four_workers…`` count 1651 creates for 1600 happens every time, not once in
    many runs (86fe753)."""

    def __init__(self, index, between) -> None:
        self._index = index
        self._between = between
        self._armed = False
        self.ran: list[object] = []

    def __getattr__(self, attribute):
        return getattr(self._index, attribute)

    def entries(self, sync_id, object_type=None, **options):
        found = list(self._index.entries(sync_id, object_type, **options))
        if options.get("pending") and found and not self.ran:
            self._armed = True  # this pass has read the creates in flight
        return iter(found)

    def acquire(self, *args, **options):
        if self._armed:
            self._armed = False
            self.ran.append(self._between())  # the other pass settles them meanwhile
        return self._index.acquire(*args, **options)

    # The webhook inbox is looked up on the class (keeps_inbox).
    def inbox_add(self, items):
        return self._index.inbox_add(items)

    def inbox(self, sync_id, **options):
        return self._index.inbox(sync_id, **options)

    def inbox_remove(self, sync_id, seqs):
        return self._index.inbox_remove(sync_id, seqs)

    def inbox_count(self, sync_id):
        return self._index.inbox_count(sync_id)


class TestTwoPassesSettlingOneCreate:
    """S8, R4: a create another pass settled after this pass read it is not settled (and
    counted) again. Before 86fe753 this pass leased the stale copy it had read and
    settled it a second time."""

    @pytest.mark.parametrize("app_class", [InMemoryAdapter, _AppWithoutLookup, _AppWithoutKeys])
    def test_a_create_the_other_pass_settled_in_between_is_counted_once(
        self, hub, index, clock, app_class
    ):
        """Whichever way the app lets creates be settled (lookup, re-send with the key,
        namesakes): once in all, one record."""
        app, faulty_app, make_engine = _without_keys(hub, index, clock, app_class)
        hub.put("contacts", email="ada@x.io", firstname="Ada")
        faulty_app.lose_confirmation("create", AdapterError(ErrorCategory.UNAVAILABLE, "timeout"))
        make_engine().initial_sync()  # the app made Ada; the reply was lost: in flight
        assert 1 == len(list(index.entries("s", pending=True)))
        other = make_engine()
        after_theirs: list[Entry] = []

        def the_other_pass():
            report = other.incremental_sync()
            after_theirs.extend(index.entries("s"))
            return report

        seen = _SettledInBetween(index, the_other_pass)
        this = SyncEngine(hub, faulty_app, seen, other.config, clock=clock, sleep=clock.advance)

        report = this.incremental_sync()

        (theirs,) = seen.ran
        assert [] == list(index.entries("s", pending=True))
        assert ["ada@x.io"] == mails(app)
        # Settled once, by the other pass; this pass found nothing left in flight.
        assert [1, 0] == [_counted(r) for r in (theirs, report)], (
            theirs.summary(),
            report.summary(),
        )
        (entry,) = index.entries("s")
        assert RecordState.SYNCED == entry.state
        assert after_theirs == [entry]  # this pass changed nothing the other one stored


def _counted(report) -> int:
    """How many records a pass counted, whatever it counted them as (R4)."""
    return (
        sum((report.created, report.updated, report.unchanged, report.failed, report.excluded))
        + report.queued
    )


class TestCreatesInFlightWithNamesakes:
    """S8, M1: a create in flight settles against records that share its identifier."""

    def test_a_create_that_never_happened_pairs_with_a_namesake_added_meanwhile(
        self, hub, app, faulty_hub, make_engine
    ):
        """S8: the crash came before the create; the hub's new Ada pairs, none is made."""
        app.put("people", mail="ada@x.io", first_name="Ada")
        faulty_hub.fail_next("create", Crash())
        with pytest.raises(Crash):
            make_engine().initial_sync()
        hub.put("contacts", email="ada@x.io", firstname="Ada")
        make_engine().initial_sync()
        assert ["ada@x.io"] == [r.properties["email"] for r in hub.records("contacts")]

    def test_a_namesake_whose_fetch_fails_is_not_created_next_to(
        self, hub, app, faulty_hub, make_engine
    ):
        """S8: the create is not re-sent while its namesake could not be paired yet."""
        app.put("people", mail="ada@x.io", first_name="Ada")
        bob = hub.put("contacts", email="bob@x.io", firstname="Bob")
        faulty_hub.fail_next("create", Crash())
        with pytest.raises(Crash):
            make_engine().initial_sync()
        hub.patch("contacts", bob.id, email="ada@x.io")
        faulty_hub.fail_next("fetch")
        engine = make_engine()
        engine.initial_sync()
        engine.incremental_sync()
        assert [bob.id] == [r.id for r in hub.records("contacts")]

    def test_the_record_a_resent_create_returns_is_that_creates_not_a_namesakes(
        self, hub, app, faulty_app, index, make_engine
    ):
        """S8: Bob's create made a2; a2 took Ada's e-mail; Ada's own record is gone."""
        hub.put("contacts", email="ada@x.io", firstname="Ada")
        hub.put("contacts", email="bob@x.io", firstname="Bob")
        faulty_app.lose_confirmation("create", AdapterError(ErrorCategory.UNAVAILABLE, "timeout"))
        engine = make_engine()
        engine.initial_sync()
        first, second = app.records("people")
        app.remove("people", first.id)
        app.patch("people", second.id, mail="ada@x.io")
        engine.incremental_sync()
        engine.reconcile()
        holders = [e.entry_id for e in index.entries("s") if e.app_id == second.id]
        assert 1 == len(holders)
        assert 2 == len(hub.records("contacts"))

    def test_of_two_identical_namesakes_the_resent_create_names_its_own(
        self, hub, app, faulty_app, index, make_engine
    ):
        """S8: the user's copy of the created record stays the duplicate (M3)."""
        ada = hub.put("contacts", email="ada@x.io", firstname="Ada")
        faulty_app.lose_confirmation("create", AdapterError(ErrorCategory.UNAVAILABLE, "timeout"))
        engine = make_engine()
        engine.initial_sync()
        (made,) = app.records("people")
        app.put("people", mail="ada@x.io", first_name="Ada")
        engine.incremental_sync()
        engine.incremental_sync()
        assert made.id == entry_of(index, Side.HUB, ada.id).app_id

    def test_a_create_that_never_happened_is_not_made_next_to_two_namesakes_added_meanwhile(
        self, hub, app, faulty_hub, make_engine, clock
    ):
        """S8, M3: Bob's create into the hub failed; the user then added Bob twice to the
        hub. Without the failure, Bob's record would have been made first; with it, the
        engine must not make a third Bob next to the two. The hub's adapter looks the
        create's key up (``lookup_idempotency_keys``): it made nothing, so Bob is decided
        anew and pairs with the first of the namesakes. (It was sent again with its key,
        and an app that never made it made it then; convergence seed 555.)"""
        app.put("people", mail="bob@x.io", first_name="Bob")
        faulty_hub.fail_next("create", AdapterError(ErrorCategory.UNAVAILABLE, "refused"))
        engine = make_engine()
        engine.initial_sync()
        clock.advance()
        hub.put("contacts", email="bob@x.io", firstname="Bob")
        hub.put("contacts", email="bob@x.io", firstname="Bob")
        engine.initial_sync()  # a restarted initial sync (S2)
        assert 2 == len(hub.records("contacts"))

    def test_a_record_indexed_while_its_create_was_unsettled_is_in_one_entry(
        self, hub, app, faulty_app, index, make_engine
    ):
        """S8: the create's record is not indexed as a new one next to its pending entry."""
        hub.put("contacts", email="ada@x.io", firstname="Ada")
        faulty_app.lose_confirmation("create", AdapterError(ErrorCategory.UNAVAILABLE, "timeout"))
        engine = make_engine()
        engine.initial_sync()
        faulty_app.lose_confirmation("create", AdapterError(ErrorCategory.UNAVAILABLE, "timeout"))
        engine.incremental_sync()
        engine.incremental_sync()
        engine.initial_sync()  # a restarted initial sync (S2)
        (person,) = app.records("people")
        holders = [e.entry_id for e in index.entries("s") if e.app_id == person.id]
        assert 1 == len(holders)

    @pytest.mark.parametrize("happened", [False, True], ids=["refused", "reply-lost"])
    def test_a_pairs_record_that_took_the_email_of_a_create_in_flight_does_not_settle_it(
        self, hub, index, clock, happened
    ):
        """S8, M3: Cy's create failed (it may have happened); then the user gave Ada's app
        record Cy's e-mail. That record is Ada's pair's, not what Cy's create made (it
        used to settle with Ada's record, so Cy's entry stayed pending for ever;
        convergence seed 333). On an app that takes keys but cannot look them up: a
        create that happened left its record, which settles it, and the sync ends as it
        would have without the failure; one that was refused left none, and is not sent
        again next to Ada's record: Cy is its duplicate (convergence seed 14)."""
        app, faulty_app, make_engine = _without_keys(hub, index, clock, _AppWithoutLookup)
        ada_hub = hub.put("contacts", email="ada@x.io", firstname="Ada")
        engine = make_engine()
        engine.initial_sync()
        cy = hub.put("contacts", email="cy@x.io", firstname="Ada")
        if happened:
            faulty_app.lose_confirmation("create", AdapterError(ErrorCategory.UNAVAILABLE, "lost"))
        else:
            faulty_app.fail_next("create", AdapterError(ErrorCategory.UNAVAILABLE, "refused"))
        engine.initial_sync()  # a restarted initial sync (S2): Cy's create fails
        (ada,) = [r for r in app.records("people") if r.properties["mail"] == "ada@x.io"]
        app.patch("people", ada.id, mail="cy@x.io")
        clock.advance()
        engine.reconcile()
        engine.reconcile()
        assert all(e.pending is None for e in index.entries("s"))
        assert ada_hub.id == entry_of(index, Side.APP, ada.id).hub_id
        entry = entry_of(index, Side.HUB, cy.id)
        if happened:
            assert ["cy@x.io", "cy@x.io"] == mails(app)
            assert entry.app_id not in (None, ada.id)
        else:
            assert ["cy@x.io"] == mails(app)
            assert (RecordState.EXCLUDED, ExcludeReason.DUPLICATE) == (entry.state, entry.reason)

    def test_a_create_the_app_says_never_happened_is_dropped_for_the_duplicate(
        self, hub, app, faulty_app, index, make_engine, clock
    ):
        """S8, M3: the same story on an app that looks keys up: Cy's create made nothing
        (the app says so), so Cy is decided anew against the apps as they are now: a
        duplicate of Ada's pair, which holds Cy's e-mail. Nothing is sent again."""
        hub.put("contacts", email="ada@x.io", firstname="Ada")
        engine = make_engine()
        engine.initial_sync()
        cy = hub.put("contacts", email="cy@x.io", firstname="Ada")
        faulty_app.fail_next("create", AdapterError(ErrorCategory.UNAVAILABLE, "refused"))
        engine.initial_sync()
        (ada,) = app.records("people")
        app.patch("people", ada.id, mail="cy@x.io")
        clock.advance()
        creates = app.calls["create"]
        engine.reconcile()
        engine.reconcile()
        assert app.calls["create"] == creates
        assert all(e.pending is None for e in index.entries("s"))
        assert ["cy@x.io"] == mails(app)
        entry = entry_of(index, Side.HUB, cy.id)
        assert (RecordState.EXCLUDED, ExcludeReason.DUPLICATE) == (entry.state, entry.reason)

    def test_without_idempotency_keys_such_a_create_is_dropped_for_the_duplicate(
        self, hub, index, clock
    ):
        """S8, M3: the same story with an app that takes no idempotency keys (HubSpot's
        case): the settlement finds no record Cy's create made (only the pair's), so the
        create did not happen, and Cy, now a duplicate of the pair, is excluded with no
        create left in flight. (It stayed pending for ever.)"""
        app, faulty_app, make_engine = _without_keys(hub, index, clock)
        engine = make_engine()
        hub.put("contacts", email="ada@x.io", firstname="Ada")
        engine.initial_sync()
        cy = hub.put("contacts", email="cy@x.io", firstname="Ada")
        faulty_app.fail_next("create", AdapterError(ErrorCategory.UNAVAILABLE, "refused"))
        engine.initial_sync()
        (ada,) = app.records("people")
        app.patch("people", ada.id, mail="cy@x.io")
        clock.advance()
        engine.reconcile()
        engine.reconcile()
        assert all(e.pending is None for e in index.entries("s"))
        assert ["cy@x.io"] == mails(app)
        entry = entry_of(index, Side.HUB, cy.id)
        assert (RecordState.EXCLUDED, ExcludeReason.DUPLICATE) == (entry.state, entry.reason)

    def test_without_idempotency_keys_a_failed_create_is_retried_by_the_next_pass(
        self, hub, index, clock
    ):
        """S8, R7: Cy's create into an app without keys failed; no record with Cy's e-mail
        turned up, so it made nothing, and the next incremental pass retries it (it used to
        wait, in flight, for a reconcile)."""
        app, faulty_app, make_engine = _without_keys(hub, index, clock)
        engine = make_engine()
        cy = hub.put("contacts", email="cy@x.io", firstname="Cy")
        engine.initial_sync()
        engine.incremental_sync()
        faulty_app.fail_next("create", AdapterError(ErrorCategory.UNAVAILABLE, "refused"))
        hub.put("contacts", email="dee@x.io", firstname="Dee")
        clock.advance()
        engine.incremental_sync()
        assert ["cy@x.io"] == mails(app)
        clock.advance()
        engine.incremental_sync()
        assert ["cy@x.io", "dee@x.io"] == mails(app)
        assert all(e.pending is None for e in index.entries("s"))
        assert entry_of(index, Side.HUB, cy.id).state is RecordState.SYNCED

    def test_without_idempotency_keys_a_create_that_never_happened_is_forgotten_with_its_source(
        self, hub, index, clock
    ):
        """S8, R6: the process died before Ada's create reached an app without keys; then
        Ada was deleted from the hub. Nothing was made, so the entry goes with its record,
        instead of waiting for ever for a create to settle. (Convergence, apps without
        keys, seed 1.)"""
        app, faulty_app, make_engine = _without_keys(hub, index, clock)
        ada = hub.put("contacts", email="ada@x.io", firstname="Ada")
        faulty_app.fail_next("create", Crash())
        with pytest.raises(Crash):
            make_engine().initial_sync()
        hub.remove("contacts", ada.id)
        engine = make_engine()
        for _ in range(3):
            clock.advance()
            engine.reconcile()
        assert [] == mails(app)
        assert all(e.pending is None for e in index.entries("s"))

    @pytest.mark.parametrize(
        "app_class",
        [InMemoryAdapter, _AppWithoutLookup, _AppWithoutKeys],
        ids=["lookup", "keys-without-lookup", "no-keys"],
    )
    def test_a_create_that_never_happened_is_not_sent_again_next_to_a_pair_that_took_its_email(
        self, hub, index, clock, app_class
    ):
        """S8, M3: the process died just before Bob's create; then the user gave Ada's
        paired app record Bob's e-mail. Bob is a duplicate of that pair now: no create is
        sent again next to it, on any kind of app. (An app that takes idempotency keys
        but cannot look them up had the create re-sent, which made a second Bob;
        convergence seed 14.)"""
        app, faulty_app, make_engine = _without_keys(hub, index, clock, app_class)
        hub.put("contacts", email="ada@x.io", firstname="Ada")
        make_engine().initial_sync()
        clock.advance()
        hub.put("contacts", email="ada@x.io", firstname="Ada")  # Ada's duplicate (M3)
        bob = hub.put("contacts", email="bob@x.io", firstname="Ada")
        faulty_app.fail_next("create", Crash())
        with pytest.raises(Crash):
            make_engine().initial_sync()  # a restarted initial sync (S2)
        (ada,) = app.records("people")
        clock.advance()
        app.patch("people", ada.id, mail="bob@x.io")
        engine = make_engine()
        engine.initial_sync()
        assert ["bob@x.io"] == mails(app)
        clock.advance()
        engine.reconcile()
        # Ada's hub duplicate takes the e-mail the pair freed; Bob is made nowhere.
        assert ["ada@x.io", "bob@x.io"] == mails(app)
        assert all(e.pending is None for e in index.entries("s"))
        entry = entry_of(index, Side.HUB, bob.id)
        assert (RecordState.EXCLUDED, ExcludeReason.DUPLICATE) == (entry.state, entry.reason)


class TestIdentifiersThatMoveBetweenRecords:
    """M3, M7: a pair's new identifier is held before a new record can take it."""

    def test_a_new_app_record_with_a_pairs_new_email_is_its_duplicate_after_a_restart(
        self, hub, app, make_engine
    ):
        """M3: the restarted initial sync learns the hub record's new e-mail first."""
        ada = hub.put("contacts", email="ada@x.io", firstname="Ada")
        engine = make_engine()
        engine.initial_sync()
        app.put("people", mail="bob@x.io", first_name="Bob")
        hub.patch("contacts", ada.id, email="bob@x.io")
        engine.initial_sync()  # a restarted initial sync (S2)
        assert [ada.id] == [r.id for r in hub.records("contacts")]

    def test_duplicates_on_both_sides_of_a_freed_email_pair_with_each_other(
        self, hub, app, make_engine
    ):
        """M3: the first in line on each side syncs, as a pair, once the holder moves."""
        ada = hub.put("contacts", email="ada@x.io", firstname="Ada")
        engine = make_engine()
        engine.initial_sync()
        app.remove("people", app.records("people")[0].id)
        second = hub.put("contacts", email="ada@x.io", firstname="Second")
        app.put("people", mail="ada@x.io", first_name="Other")
        hub.patch("contacts", ada.id, email="bob@x.io")
        engine.initial_sync()  # a restarted initial sync (S2)
        assert {ada.id, second.id} == {r.id for r in hub.records("contacts")}
        assert ["ada@x.io"] == mails(app)

    def test_a_pair_whose_app_record_was_not_read_keeps_its_old_email(
        self, hub, app, faulty_app, make_engine
    ):
        """M3: the app record still holds the old e-mail, so a new hub record with it is
        the pair's duplicate until the update that moves it lands."""
        ada = hub.put("contacts", email="bob@x.io", firstname="Ada")
        engine = make_engine()
        engine.initial_sync()
        second = hub.put("contacts", email="ada@x.io", firstname="Second")
        hub.put("contacts", email="ada@x.io", firstname="Third")
        faulty_app.fail_next("fetch", AdapterError(ErrorCategory.UNAVAILABLE, "down"))
        hub.patch("contacts", ada.id, email="ada@x.io")
        hub.patch("contacts", second.id, email="bob@x.io")
        engine.incremental_sync()
        assert len(set(mails(app))) == len(mails(app))
        for _ in range(3):
            engine.incremental_sync()
        assert ["ada@x.io", "bob@x.io"] == mails(app)

    def test_a_duplicate_syncs_once_the_pair_it_waited_for_moves_away(self, hub, app, make_engine):
        """M3, M7: the pair's app record takes the hub record's new e-mail in the same
        pass that frees the old one for the duplicate: one record per e-mail."""
        ada = hub.put("contacts", email="ada@x.io", firstname="Ada")
        engine = make_engine()
        engine.initial_sync()
        hub.put("contacts", email="ada@x.io", firstname="Second")
        hub.patch("contacts", ada.id, email="bob@x.io")
        engine.initial_sync()  # a restarted initial sync (S2)
        engine.incremental_sync()
        assert ["ada@x.io", "bob@x.io"] == mails(app)

    def test_a_freed_duplicate_waits_for_the_rest_of_the_scan_before_it_is_created(self, clock):
        """M1, M3: the app's duplicate whose e-mail a pair frees pairs with the hub's new
        record with that e-mail on a later page of the same scan, not created beside it."""
        from syncengine import ObjectSchema, PropertySpec
        from syncengine.adapters import InMemoryAdapter
        from syncengine.index import MemoryIndexStore

        def person(name, field):
            return ObjectSchema(name, [PropertySpec(field, "string")])

        hub = InMemoryAdapter([person("contacts", "email")], clock=clock, page_size=2)
        app = InMemoryAdapter([person("people", "mail")], clock=clock, page_size=2)
        obj = ObjectSync(
            "contacts",
            "people",
            [FieldMapping("email", "mail")],
            match=MatchRule.email("email", "mail"),
        )
        engine = SyncEngine(hub, app, MemoryIndexStore(), SyncConfig("s", [obj]), clock=clock)
        ada = hub.put("contacts", email="ada@x.io")
        engine.initial_sync()
        app.put("people", mail="ada@x.io")  # a duplicate of the pair's app record
        clock.advance()
        hub.put("contacts", email="bob@x.io")
        hub.patch("contacts", ada.id, email="bob@x.io")  # frees ada@x.io
        hub.put("contacts", email="ada@x.io")  # on the scan's second page
        engine.incremental_sync()
        assert ["ada@x.io", "bob@x.io", "bob@x.io"] == sorted(
            r.properties["email"] for r in hub.records("contacts")
        )
        assert ["ada@x.io", "bob@x.io"] == sorted(
            r.properties["mail"] for r in app.records("people")
        )

    def test_a_duplicate_that_takes_a_free_email_pairs_with_the_app_record_holding_it(
        self, hub, app, make_engine
    ):
        """M1, M3: re-indexed with its new e-mail, a duplicate is the first with it."""
        hub.put("contacts", email="ada@x.io", firstname="Ada")
        engine = make_engine()
        engine.initial_sync()
        second = hub.put("contacts", email="ada@x.io", firstname="Second")
        engine.incremental_sync()  # the second is a duplicate
        app.put("people", mail="bob@x.io", first_name="Bob")
        hub.patch("contacts", second.id, email="bob@x.io")
        engine.initial_sync()  # a restarted initial sync (S2)
        assert ["ada@x.io", "bob@x.io"] == sorted(
            r.properties["email"] for r in hub.records("contacts")
        )
        assert ["ada@x.io", "bob@x.io"] == mails(app)

    def test_a_duplicate_whose_create_was_interrupted_keeps_the_record_it_made(
        self, hub, app, faulty_app, index, make_engine
    ):
        """S8, M3: a create in flight holds its e-mail, so the record it made is not
        paired with another hub record that took the e-mail meanwhile."""
        hub.put("contacts", email="ada@x.io", firstname="Ada")
        make_engine().initial_sync()
        second = hub.put("contacts", email="ada@x.io", firstname="Second")
        make_engine().incremental_sync()  # the second is a duplicate
        hub.patch("contacts", second.id, email="bob@x.io")
        faulty_app.lose_confirmation("create", Crash())
        with pytest.raises(Crash):
            make_engine().initial_sync()  # a restarted initial sync (S2), killed
        hub.put("contacts", email="bob@x.io", firstname="Third")
        engine = make_engine()
        engine.incremental_sync()  # resumes the initial sync
        engine.reconcile()
        assert ["ada@x.io", "bob@x.io"] == mails(app)
        (made,) = [r for r in app.records("people") if r.properties["mail"] == "bob@x.io"]
        assert second.id == entry_of(index, Side.APP, made.id).hub_id
        assert all(e.pending is None for e in index.entries("s"))

    def test_a_record_taking_a_deleted_ones_place_waits_for_its_create_in_flight(self, clock):
        """M3, R6, S8: the create of a deleted hub record is still in flight when a new
        hub record with its e-mail arrives (on a later page): the new record takes its
        place, and the record that create made is its counterpart, not a reason to create
        a second one."""
        from syncengine import ObjectSchema, PropertySpec
        from syncengine.adapters import InMemoryAdapter
        from syncengine.index import MemoryIndexStore
        from syncengine.testing import FaultyAdapter

        def person(name, *fields):
            return ObjectSchema(name, [PropertySpec(field, "string") for field in fields])

        hub = InMemoryAdapter([person("contacts", "email", "name")], clock=clock, page_size=1)
        app = InMemoryAdapter([person("people", "mail", "nm")], clock=clock, id_prefix="a")
        faulty = FaultyAdapter(app, seed=0)
        obj = ObjectSync(
            "contacts",
            "people",
            [FieldMapping("email", "mail"), FieldMapping("name", "nm")],
            match=MatchRule.email("email", "mail"),
        )
        index = MemoryIndexStore()

        def engine():
            return SyncEngine(hub, faulty, index, SyncConfig("s", [obj]), clock=clock)

        engine().initial_sync()
        ada = hub.put("contacts", email="ada@x.io", name="Ada")
        faulty.fail_next("create", Crash())  # before the create: nothing made
        with pytest.raises(Crash):
            engine().incremental_sync()
        faulty.lose_confirmation("create", AdapterError(ErrorCategory.UNAVAILABLE, "timeout"))
        hub.remove("contacts", ada.id)
        clock.advance()
        newer = hub.put("contacts", email="ada@x.io", name="Newer")
        engine().incremental_sync()
        assert ["ada@x.io"] == [r.properties["mail"] for r in app.records("people")]
        engine().reconcile()
        (made,) = app.records("people")
        (entry,) = [e for e in index.entries("s") if e.app_id == made.id]
        assert newer.id == entry.hub_id


class TestReadsRacingAnotherWorker:
    """S9: a worker's two reads of a batch may straddle another worker's commit."""

    def test_a_record_recorded_between_the_id_read_and_the_key_read_is_not_indexed_again(
        self, hub, app, clock
    ):
        """A record an entry already names gets no second entry (no record is named by
        two entries), though the read by record id came before that entry was written."""
        from syncengine.index import MemoryIndexStore

        class Stale(MemoryIndexStore):
            """Answers one read by app record id as it was before a worker's commit."""

            stale_once = False

            def by_record_ids(self, sync_id, object_type, side, record_ids):
                if self.stale_once and side is Side.APP:
                    self.stale_once = False
                    return {}
                return super().by_record_ids(sync_id, object_type, side, record_ids)

        index = Stale()
        obj = ObjectSync(
            "contacts",
            "people",
            [FieldMapping("email", "mail"), FieldMapping("firstname", "first_name")],
            match=MatchRule.email("email", "mail"),
        )
        engine = SyncEngine(hub, app, index, SyncConfig("s", [obj]), clock=clock)
        hub.put("contacts", email="ada@x.io", firstname="Ada")
        engine.initial_sync()
        (person,) = app.records("people")
        index.stale_once = True  # the app's change scan returns the create's echo
        engine.incremental_sync()
        assert [person.id] == [e.app_id for e in index.entries("s") if e.app_id is not None]
        assert 1 == len(list(index.entries("s")))


def _states(engine):
    """status() of the contacts, as (synced, failed, excluded, queued)."""
    s = engine.status()["contacts"]
    return s.synced, s.failed, s.excluded, s.queued


class TestReportsCountFinalOutcomes:
    """Issue 16: a report counts each record once, in its final outcome (found by the
    machine's count check, in the variant whose contacts keep links)."""

    def test_entries_the_pass_counted_then_forgot_are_not_counted(
        self, hub, app, faulty_hub, index, make_engine, clock
    ):
        """Both records of a pair are deleted and namesakes take their place: the pass
        counts the pair and the duplicates, then forgets or merges their entries; the
        report kept counting them (more exclusions than status() shows)."""
        ada = hub.put("contacts", email="ada@x.io", firstname="Ada")
        engine = make_engine()
        engine.reconcile()
        hub.remove("contacts", ada.id)
        for _ in range(3):
            app.put("people", mail="ada@x.io", first_name="Ada")
        hub.put("contacts", email="ada@x.io", firstname="Ada")
        hub.put("contacts", email="ada@x.io", firstname="Ada")
        faulty_hub.fail_items(
            "create",
            lambda item: "ada@x.io" in item.properties.values(),
            ErrorCategory.VALIDATION,
            "refused (injected)",
        )
        app.remove("people", app.records("people")[0].id)
        clock.advance()
        report = engine.incremental_sync()
        _, failed, excluded, _ = _states(engine)
        assert report.failed <= failed, (report.summary(), _states(engine))
        assert report.excluded <= excluded, (report.summary(), _states(engine))

    def test_a_duplicate_made_next_in_line_and_not_rechecked_counts_as_queued(
        self, hub, app, faulty_hub, index, make_engine, clock
    ):
        """A duplicate whose identifier is freed waits, queued, for a recheck; when the
        recheck cannot read it, the report says queued, as status() does, not excluded."""
        hub.put("contacts", email="ada@x.io", firstname="Ada")
        engine = make_engine()
        engine.reconcile()
        clock.advance()
        dup = hub.put("contacts", email="ada@x.io", firstname="Ada")
        engine.incremental_sync()
        assert (1, 0, 1, 0) == _states(engine)
        clock.advance()
        (first,) = [r for r in hub.records("contacts") if r.id != dup.id]
        hub.patch("contacts", first.id, email="bob@x.io")
        # The recheck of the freed duplicate (and the retry after it) cannot read it.
        faulty_hub.fail_next("fetch", AdapterError(ErrorCategory.UNAVAILABLE, "down"), times=5)
        report = engine.incremental_sync()
        _, _, excluded, queued = _states(engine)
        assert (report.excluded, report.queued) == (excluded, queued), (
            report.summary(),
            _states(engine),
        )

    def test_a_pair_counted_unchanged_then_deleted_mid_pass_is_counted_once(
        self, hub, app, faulty_app, index, make_engine
    ):
        """An initial sync pairs two equal records (unchanged); the app's user deletes
        the app record while phase 2 runs, and phase 2's scan, going on from the probe's
        page, meets the deletion: the pair fails (R6). The report counted it unchanged
        and failed, one record twice (test_concurrent.py's count check, with users
        editing mid-pass)."""
        ada = app.put("people", {"mail": "ada@x.io", "first_name": "Ada"})
        app.put("people", {"mail": "bob@x.io", "first_name": "Bob"})
        hub.put("contacts", {"email": "ada@x.io", "firstname": "Ada"})

        def delete(method: str, n: int) -> None:
            # Phase 2 goes on from the probe's page: the deletion happens just before.
            if method == "scan" and n == 2:
                app.remove("people", ada.id)

        faulty_app.on_call(delete)
        report = make_engine().initial_sync()

        synced, failed, excluded, queued = _states(make_engine())
        assert (synced, failed, excluded, queued) == (1, 1, 0, 0)
        assert (report.created, report.unchanged, report.failed) == (1, 0, 1), report.summary()
        assert 1 == report.get("failed", "contacts", Side.APP)

    def test_a_synced_pair_deleted_as_a_rerun_initial_sync_starts_is_counted_once(
        self, hub, app, faulty_hub, index, make_engine, clock
    ):
        """A completed initial sync is run again (a worker's ``initial_sync`` on a sync
        another process completed); the app's user deletes the pair's app record after
        the pass began, before it reads the hub. The pair fails (R6), counted unchanged
        and failed: one record twice (test_concurrent.py's count check, seed 7311,
        memory and SQLite indexes: "more unchanged counted than synced")."""
        hub.put("contacts", {"email": "ada@x.io", "firstname": "Ada"})
        make_engine().initial_sync()
        clock.advance()
        (person,) = app.records("people")

        def delete(method: str, n: int) -> None:
            if method == "scan" and app.get("people", person.id) is not None:
                app.remove("people", person.id)  # as the pass's first hub scan starts

        faulty_hub.on_call(delete)
        report = make_engine().initial_sync()

        states = _states(make_engine())
        assert (report.unchanged, report.failed) == (0, 1), (report.summary(), states)
        assert (0, 1, 0, 0) == states

    def test_a_failure_retried_to_no_change_after_a_write_is_not_counted(self, index, clock):
        """A new hub record and a new app record with one e-mail pair up in an incremental
        pass: the app's record is updated, the hub's update happens but its reply is lost,
        and the retry that reads the hub record back fails once; the next retry finds
        nothing left to write. The pair ends synced, but the report counted it as updated
        and failed: a final "unchanged" kept the pass's earlier failure next to its write
        (the convergence machine's count check, SQLite variant)."""
        fields = (("email", "mail"), ("firstname", "first_name"), ("phone", "tel"))
        schemas = {
            Side.HUB: ObjectSchema("contacts", [PropertySpec(h, "string") for h, _ in fields]),
            Side.APP: ObjectSchema("people", [PropertySpec(a, "string") for _, a in fields]),
        }
        inner = {
            side: InMemoryAdapter(
                [schemas[side]],
                name=side.value,
                clock=clock,
                id_prefix=side.value[0],
                page_size=2 if side is Side.HUB else 3,
                max_batch_size=2,
            )
            for side in Side
        }
        faulty = {side: FaultyAdapter(inner[side], seed=7, sleep=clock.advance) for side in Side}
        obj = ObjectSync(
            "contacts",
            "people",
            [FieldMapping(h, a) for h, a in fields],
            match=MatchRule.email("email", "mail"),
        )
        engine = SyncEngine(
            faulty[Side.HUB],
            faulty[Side.APP],
            index,
            SyncConfig("s", [obj]),
            clock=clock,
            sleep=clock.advance,
        )
        engine.reconcile()
        clock.advance()
        faulty[Side.HUB].lose_confirmation(
            "update", AdapterError(ErrorCategory.UNAVAILABLE, "timeout after write")
        )
        clock.advance()
        inner[Side.HUB].put("contacts", {"email": "ada@x.io", "firstname": "", "phone": "1"})
        faulty[Side.HUB].fail_items(
            "create",
            lambda item: "ada@x.io" in item.properties.values(),
            ErrorCategory.VALIDATION,
            "refused (injected)",
        )
        faulty[Side.HUB].fail_next("fetch", AdapterError(ErrorCategory.UNAVAILABLE, "down"))
        clock.advance()
        inner[Side.APP].put("people", {"mail": "ada@x.io", "first_name": "Ada", "tel": "2"})
        clock.advance()
        report = engine.incremental_sync()
        assert (1, 0, 0, 0) == _states(engine)
        assert (report.updated, report.failed, report.unchanged) == (1, 0, 0), report.summary()


class TestARevertAfterALostUpdateReply:
    """D2, S8: a user's value after an update whose reply was lost (found by the convergence
    machine over SQLite, ``ci`` profile, seed 141448314947710150145259419522958161460)."""

    def test_an_app_value_set_back_after_a_lost_update_reply_is_kept(
        self, hub, app, faulty_hub, index, make_engine, clock
    ):
        """The app's user set Ada, then Bob again; the engine's write of Ada into the hub
        lost its reply. The user's last value, Bob, must end on both sides. (The index
        copy kept the old value, Bob, so the user's Bob looked like no change and the
        engine's own Ada like a hub change; a failed update is now read back, X9.)"""
        hub.put("contacts", email="ada@x.io", firstname="Bob")
        engine = make_engine()
        engine.initial_sync()
        (person,) = app.records("people")
        clock.advance()
        app.patch("people", person.id, first_name="Ada")
        faulty_hub.lose_confirmation("update", AdapterError(ErrorCategory.UNAVAILABLE, "timeout"))
        engine.initial_sync()  # restarted (S2): Ada written into the hub, its reply lost
        assert "Ada" == hub.records("contacts")[0].properties["firstname"]
        clock.advance()
        app.patch("people", person.id, first_name="Bob")
        for _ in range(3):
            clock.advance()
            engine.incremental_sync()
        engine.reconcile()
        assert ["Bob", "Bob"] == [
            hub.records("contacts")[0].properties["firstname"],
            app.records("people")[0].properties["first_name"],
        ]


class TestKilledPassesAndFailedSettlements:
    """S8, S9, M3: what the convergence machine's ``kill`` rule found (``ci`` profile,
    seed 17): processes killed with their leases held, and creates in flight whose
    settlement failed."""

    def test_a_create_whose_settlement_failed_is_not_sent_again_next_to_a_namesake(
        self, hub, app, faulty_app, index, make_engine
    ):
        """M3, S8: the crash came before the create; the app's user then added Ada. The
        next pass cannot look the create up (the lookup fails): the create stays in flight
        instead of being sent again next to the user's Ada, and the pass after pairs."""
        hub.put("contacts", email="ada@x.io", firstname="Ada")
        faulty_app.fail_next("create", Crash())
        with pytest.raises(Crash):
            make_engine().initial_sync()
        app.put("people", mail="ada@x.io", first_name="Ada")
        faulty_app.fail_next(
            "lookup_idempotency_keys", AdapterError(ErrorCategory.UNAVAILABLE, "down")
        )
        engine = make_engine()
        engine.initial_sync()  # resumed
        assert ["ada@x.io"] == mails(app)
        (entry,) = index.entries("s")
        assert entry.pending is Side.APP  # still in flight: the next pass settles it
        engine.incremental_sync()
        engine.reconcile()
        assert ["ada@x.io"] == mails(app)
        (entry,) = index.entries("s")
        assert (RecordState.SYNCED, None) == (entry.state, entry.pending)

    def test_a_pass_killed_with_its_leases_held_is_taken_over_while_its_error_is_kept(
        self, hub, app, faulty_hub, faulty_app, index, clock
    ):
        """S8, S9: a process is killed before an app create, its lease on Ada held (nothing
        it does reaches the index after). The next pass of this process takes the lease
        over at once and leaves nothing queued, even though the caller kept the killed
        pass's error (and with it the pass's frames): a pass that raised is over."""
        config = SyncConfig(
            "s",
            [
                ObjectSync(
                    "contacts",
                    "people",
                    [FieldMapping("email", "mail"), FieldMapping("firstname", "first_name")],
                    match=MatchRule.email("email", "mail"),
                )
            ],
        )
        hub.put("contacts", email="ada@x.io", firstname="Ada")
        killed = _Killable(index)

        def kill(method, _):
            if method == "create" and not killed.dead:
                killed.dead = True
                raise Crash

        faulty_app.on_call(kill)
        engine = SyncEngine(
            faulty_hub, faulty_app, killed, config, clock=clock, sleep=clock.advance
        )
        with pytest.raises(Crash) as error:  # kept: it refers to the killed pass
            engine.initial_sync()
        assert index.holders("s", "contacts", ["hub:h1"])  # the lease outlived its process
        clock.advance()
        again = SyncEngine(faulty_hub, faulty_app, index, config, clock=clock, sleep=clock.advance)
        report = again.initial_sync()
        assert 0 == report.queued, report.summary()
        assert ["ada@x.io"] == mails(app)
        (entry,) = index.entries("s")
        assert (RecordState.SYNCED, None) == (entry.state, entry.pending)
        assert error.value is not None

    @pytest.mark.parametrize(
        "app_class",
        [InMemoryAdapter, _AppWithoutKeys, _AppWithoutLookup, _AppThatLooksUp],
        ids=["keys-and-lookup", "no-keys", "keys-no-lookup", "lookup-no-keys"],
    )
    @pytest.mark.parametrize("first", ["initial", "incremental"])
    def test_a_holder_killed_between_a_create_and_its_commit_is_settled_once_its_lease_expires(
        self, hub, index, clock, app_class, first
    ):
        """S8, S9, M3, the double fault: a process on another machine holds the lease on
        a new hub record and is killed between the app create and the index commit of
        its outcome. This process cannot tell whether it runs: the record is queued until
        the lease expires; the first pass after takes it over and settles the create,
        with the record it made (no duplicate), and leaves nothing queued."""
        app, faulty_app, make_engine = _without_keys(hub, index, clock, app_class)
        if first == "incremental":
            make_engine().initial_sync()
        clock.advance()
        hub.put("contacts", email="ada@x.io", firstname="Ada")
        elsewhere = _Killable(index, owner_prefix="elsewhere-")

        def kill(method, _):
            if method == "create" and not elsewhere.dead:
                elsewhere.dead = True
                raise Crash

        faulty_app.on_call(kill, after=True)  # the create happened; its reply is never read
        killed = SyncEngine(
            hub, faulty_app, elsewhere, make_engine().config, clock=clock, sleep=clock.advance
        )
        with pytest.raises(Crash):
            killed.incremental_sync() if first == "incremental" else killed.initial_sync()
        assert ["ada@x.io"] == mails(app)
        (lease,) = index.holders("s", "contacts", ["hub:h1"]).values()
        assert "@elsewhere-" in lease
        clock.advance()
        assert make_engine().incremental_sync().queued  # its holder may still run (S9)
        clock.advance(301)  # the lease expired (lease_seconds: 300)
        report = make_engine().incremental_sync()
        assert 0 == report.queued, report.summary()
        assert ["ada@x.io"] == mails(app)
        assert all(e.pending is None for e in index.entries("s"))
        (ada,) = [e for e in index.entries("s") if e.hub_id is not None]
        (person,) = app.records("people")
        assert (RecordState.SYNCED, person.id) == (ada.state, ada.app_id)

    @pytest.mark.parametrize("crash", [False, True])
    def test_a_record_a_restarted_initial_sync_left_queued_is_read_again(
        self, hub, index, clock, crash
    ):
        """S8, S9, M3: as above (an app without idempotency keys), then the initial sync
        is run again before the lease expires: its scan of the app meets the record the
        killed create made and leaves it queued (its pair is held). The poll cursor the
        initial sync sets at its end must not pass that record, even when the pass that
        met it died and another one finished the initial sync: once the lease expires,
        the settlement finds it, and nothing is created twice."""
        app, faulty_app, make_engine = _without_keys(hub, index, clock)
        make_engine().initial_sync()
        clock.advance()
        hub.put("contacts", email="ada@x.io", firstname="Ada")
        elsewhere = _Killable(index, owner_prefix="elsewhere-")

        def kill(method, _):
            if method == "create" and not elsewhere.dead:
                elsewhere.dead = True
                raise Crash

        faulty_app.on_call(kill, after=True)
        killed = SyncEngine(
            hub, faulty_app, elsewhere, make_engine().config, clock=clock, sleep=clock.advance
        )
        with pytest.raises(Crash):
            killed.incremental_sync()
        clock.advance()
        if crash:

            def die(event):
                if event.kind == "phase_finished" and event.phase == "index_app_and_sync":
                    raise Crash  # the app's scan is done: the next pass resumes after it

            dying = SyncEngine(
                hub,
                faulty_app,
                index,
                killed.config,
                clock=clock,
                sleep=clock.advance,
                on_event=die,
            )
            with pytest.raises(Crash):
                dying.initial_sync()
        make_engine().initial_sync()  # run again (S2), or resumed
        assert ["ada@x.io"] == mails(app)
        clock.advance(301)  # the lease expired (lease_seconds: 300)
        report = make_engine().incremental_sync()
        assert 0 == report.queued, report.summary()
        make_engine().reconcile()
        assert ["ada@x.io"] == mails(app)
        assert all(e.pending is None for e in index.entries("s"))


class TestRecordsHeldByAProcessKilledElsewhere:
    """S9, R4, M1, M3: what the soak of 2026-12-07 found (``ci`` profile, seed 1002, every
    machine variant): a process on another machine is killed before the hub create of
    an app-only record, its lease held until it expires (300 s)."""

    @staticmethod
    def _killed_elsewhere(faulty_hub, faulty_app, index, clock, make_engine, at="create"):
        """A process on another machine runs an initial sync and is killed before its
        first call ``at`` (the hub's create, or the app's lookup), its leases held."""
        elsewhere = _Killable(index, owner_prefix="elsewhere-")

        def kill(method, _):
            if method == at and not elsewhere.dead:
                elsewhere.dead = True
                raise Crash

        (faulty_hub if at == "create" else faulty_app).on_call(kill)
        killed = SyncEngine(
            faulty_hub,
            faulty_app,
            elsewhere,
            make_engine().config,
            clock=clock,
            sleep=clock.advance,
        )
        with pytest.raises(Crash):
            killed.initial_sync()
        clock.advance()

    def test_a_reconcile_counts_a_create_in_flight_another_pass_holds_as_queued(
        self, hub, app, faulty_hub, faulty_app, index, clock, make_engine
    ):
        """R4, S9: the record whose create is in flight is deleted from the app, so no
        scan meets it, and its entry waits for the holder's lease. A complete reconcile
        counts it queued, as status() does (it counted nothing: 0 against 1)."""
        app.put("people", mail="ada@x.io", first_name="Ada")
        self._killed_elsewhere(faulty_hub, faulty_app, index, clock, make_engine)
        make_engine().initial_sync()  # run again: Ada is held, queued
        (ada,) = app.records("people")
        app.remove("people", ada.id)
        engine = make_engine()
        report = engine.reconcile()
        assert not report.errors
        assert (1, 1) == (report.queued, engine.status()["contacts"].queued), report.summary()
        clock.advance(301)  # the lease expired (lease_seconds: 300)
        engine.reconcile()
        assert [] == [r.properties.get("email") for r in hub.records("contacts")]
        assert 0 == engine.status()["contacts"].queued

    def test_a_new_record_waits_for_a_held_record_that_took_its_e_mail(
        self, hub, app, faulty_hub, faulty_app, index, clock, make_engine
    ):
        """M1, M3: while Ada's record is held, the app's user gives it the e-mail
        cy@x.io, and the hub's user adds Cy. The pass meets both: it must not create Cy
        in the app next to the held record that holds that e-mail (it did: a duplicate),
        but leave Cy waiting; once the lease expires, the two pair."""
        app.put("people", mail="ada@x.io", first_name="Ada")
        self._killed_elsewhere(faulty_hub, faulty_app, index, clock, make_engine)
        (ada,) = app.records("people")
        app.patch("people", ada.id, mail="cy@x.io")
        hub.put("contacts", email="cy@x.io", firstname="Cy")
        clock.advance()
        make_engine().initial_sync()  # resumed: Ada's record is held
        assert ["cy@x.io"] == mails(app), "a duplicate of the held record"
        make_engine().incremental_sync()
        assert ["cy@x.io"] == mails(app)
        clock.advance(301)  # the lease expired (lease_seconds: 300)
        engine = make_engine()
        engine.incremental_sync()
        engine.reconcile()
        hub_mails = [r.properties.get("email") for r in hub.records("contacts")]
        assert (["cy@x.io"], ["cy@x.io"]) == (hub_mails, mails(app))
        (entry,) = index.entries("s")
        assert (RecordState.SYNCED, None) == (entry.state, entry.pending)

    @pytest.mark.parametrize("pause", [False, True])
    def test_a_record_a_held_create_made_is_not_taken_for_a_namesakes_duplicate(
        self, hub, app, faulty_hub, faulty_app, index, clock, make_engine, pause
    ):
        """S8, M3 (the soak's seed 19615): both app creates of an initial sync happen but
        their replies are lost; a process on another machine that settles them is killed
        while it asks the app which happened, holding both. The hub's user then gives
        Ada's contact Bob's e-mail. The next pass met Bob's app record (made by Bob's
        create in flight) and excluded it as a duplicate of Ada's pair, which now holds
        that e-mail: a record the engine made, ended excluded. It waits for the
        settlement instead, and once the leases expire each create pairs its record."""
        hub.put("contacts", email="ada@x.io", firstname="Ada")
        hub.put("contacts", email="bob@x.io", firstname="Bob")
        faulty_app.lose_confirmation("create", AdapterError(ErrorCategory.UNAVAILABLE, "lost"))
        make_engine().initial_sync()
        assert ["ada@x.io", "bob@x.io"] == mails(app)
        self._killed_elsewhere(
            faulty_hub, faulty_app, index, clock, make_engine, at="lookup_idempotency_keys"
        )
        ada = next(r for r in hub.records("contacts") if r.properties["email"] == "ada@x.io")
        hub.patch("contacts", ada.id, email="bob@x.io")
        if pause:  # the edit and the next pass a second apart (each order failed)
            clock.advance()
        make_engine().initial_sync()
        assert not [e for e in index.entries("s") if e.state is RecordState.EXCLUDED]
        clock.advance(301)  # the lease expired (lease_seconds: 300)
        engine = make_engine()
        engine.incremental_sync()
        engine.reconcile()
        assert 2 == len(app.records("people"))
        assert all(e.pending is None for e in index.entries("s"))


class _Killable:
    """The index as one process reaches it: once ``dead`` (killed), every call raises
    ``Crash`` and nothing reaches the index (no lease is released). With an
    ``owner_prefix``, its leases name another machine (whose process this one cannot
    judge: only their expiry frees them)."""

    def __init__(self, store, owner_prefix=None):
        self.store = store
        self.dead = False
        self.owner_prefix = owner_prefix

    def __getattr__(self, name):
        found = getattr(self.store, name)
        if not callable(found):
            return found
        # The owner is acquire's fourth argument and release's second.
        at = {"acquire": 3, "release": 1}.get(name) if self.owner_prefix else None

        def call(*args, **kwargs):
            if self.dead:
                raise Crash
            if at is not None:
                args = list(args)
                args[at] = args[at].replace("@", f"@{self.owner_prefix}", 1)
            return found(*args, **kwargs)

        return call

    # The pass history is looked up on the class (``keeps_history``): passed through too.
    def add_pass(self, *args, **kwargs):
        return self.__getattr__("add_pass")(*args, **kwargs)

    def passes(self, *args, **kwargs):
        return self.__getattr__("passes")(*args, **kwargs)


class TestEditsMadeWhileAnInitialSyncRuns:
    """Found by ``test_concurrent.py`` (a user's edit while a worker's initial sync was
    paused; incremental passes after it never brought the edit across, only a reconcile
    did)."""

    def test_an_edit_made_after_phase_2_read_the_record_reaches_the_hub(
        self, make_engine, hub, app, faulty_hub
    ):
        record = app.put("people", {"mail": "ada@x.io", "first_name": "Ada"})

        def edit(method: str, n: int) -> None:
            # Phase 2 creates the app record's hub copy; the app's user then edits it.
            if method == "create" and n == 1:
                app.patch("people", record.id, first_name="Bob")

        faulty_hub.on_call(edit, after=True)
        engine = make_engine()
        engine.initial_sync()
        engine.incremental_sync()
        (contact,) = hub.records("contacts")
        assert contact.properties["firstname"] == "Bob"

    def test_a_process_resuming_phase_2_after_the_edit_was_read_keeps_the_poll_cursor(
        self, make_engine, hub, app, faulty_hub, faulty_app
    ):
        record = app.put("people", {"mail": "ada@x.io", "first_name": "Ada"})

        def edit(method: str, n: int) -> None:
            if method == "create" and n == 1:
                app.patch("people", record.id, first_name="Bob")

        def crash(method: str, n: int) -> None:
            # The engine asks for the page after the changes read since the probe's
            # page (the edit among them): the process dies there.
            if method == "page" and n == 2:
                raise Crash

        faulty_hub.on_call(edit, after=True)
        faulty_app.on_call(crash, after=True)
        with pytest.raises(Crash):
            make_engine().initial_sync()
        faulty_app.clear()
        engine = make_engine()
        engine.initial_sync()
        engine.incremental_sync()
        (contact,) = hub.records("contacts")
        assert contact.properties["firstname"] == "Bob"

    def test_a_process_dying_after_the_probe_page_keeps_the_poll_cursor(
        self, make_engine, hub, app, faulty_hub, faulty_app
    ):
        """The process dies once phase 2 stored the probe's page (the app's only page of
        its full scan), before it reads the page after: the resumed phase has no probe
        to compare with, and before the fix it skipped the edited record (marked by this
        run) and moved the poll cursor past the edit, which waited for a reconcile."""
        record = app.put("people", {"mail": "ada@x.io", "first_name": "Ada"})

        def edit(method: str, n: int) -> None:
            if method == "create" and n == 1:
                app.patch("people", record.id, first_name="Bob")

        def crash(method: str, n: int) -> None:
            # The page after the probe's (the changes since, the edit among them) is
            # about to reach the engine: the process dies first.
            if method == "page" and n == 2:
                raise Crash

        faulty_hub.on_call(edit, after=True)
        faulty_app.on_call(crash)
        with pytest.raises(Crash):
            make_engine().initial_sync()
        faulty_app.clear()
        engine = make_engine()
        engine.initial_sync()
        engine.incremental_sync()
        (contact,) = hub.records("contacts")
        assert contact.properties["firstname"] == "Bob"

    @pytest.mark.parametrize("rerun", [False, True])
    @pytest.mark.parametrize("edit", [{"first_name": "Bob"}, {"mail": " ADA@x.io "}])
    def test_a_process_resuming_phase_2_before_the_edit_was_read_keeps_the_poll_cursor(
        self, make_engine, hub, app, faulty_hub, faulty_app, clock, rerun, edit
    ):
        """The concurrent machine's seed 105, shrunk: phase 2 reads a record and holds
        it (its hub copy being created, or with ``rerun`` an initial sync run again,
        its pair being compared) when the app's user edits it (another spelling of its
        e-mail, or a name); the process dies as it goes on with the scan, before it
        reads the edit. The process that resumes phase 2 reads the edit among the
        changes since, skips the record (this run did it already), and the end of its
        scan became the poll cursor: incremental passes never brought the edit across,
        only a reconcile did."""
        record = app.put("people", {"mail": "ada@x.io", "first_name": "Ada"})
        if rerun:
            hub.put("contacts", {"email": "ada@x.io", "firstname": "Ada"})
            make_engine().initial_sync()
            clock.advance()
        holding = "fetch" if rerun else "create"  # phase 2 holds the record then
        scans = 0

        def meanwhile(method: str, n: int) -> None:
            if method == holding and n == 1:
                app.patch("people", record.id, **edit)

        def crash(method: str, n: int) -> None:
            nonlocal scans
            scans += method == "scan"
            if method == "scan" and scans == 2:  # phase 2's scan goes on after its probe
                raise Crash

        faulty_hub.on_call(meanwhile)
        faulty_app.on_call(crash)
        with pytest.raises(Crash):
            make_engine().initial_sync()
        faulty_app.clear()
        engine = make_engine()
        engine.initial_sync()
        clock.advance()
        engine.incremental_sync()
        (contact,) = hub.records("contacts")
        (person,) = app.records("people")
        assert (contact.properties["email"], contact.properties["firstname"]) == (
            person.properties["mail"],
            person.properties["first_name"],
        )

    @given(
        app_page=st.integers(1, 3),
        matched=st.integers(0, 3),
        unmatched=st.integers(0, 3),
        every=st.integers(1, 6),
        pick=st.integers(0, 5),
        edit_hub=st.booleans(),
        crash_page=st.integers(0, 4),
    )
    # Found by the long profile before the fix: the process dies after the probe page.
    @example(app_page=1, matched=0, unmatched=1, every=2, pick=0, edit_hub=False, crash_page=2)
    def test_an_edit_at_any_call_of_an_initial_sync_reaches_the_other_app_by_the_next_pass(
        self, app_page, matched, unmatched, every, pick, edit_hub, crash_page
    ):
        """One app's user edits a record after every few calls of an initial sync (a
        scan's page, a read, a write), with the app's scan of one page or several: the
        first incremental pass after it leaves every pair equal, the edits on both
        sides. With ``crash_page``, the process dies as that page of the app's scans is
        about to reach the engine, and another resumes the initial sync."""
        from tests.stateful.conftest import Clock

        clock = Clock()
        hub = InMemoryAdapter(
            [
                ObjectSchema(
                    "contacts",
                    [PropertySpec("email", "string"), PropertySpec("firstname", "string")],
                )
            ],
            name="hub",
            clock=clock,
            id_prefix="h",
        )
        app = InMemoryAdapter(
            [
                ObjectSchema(
                    "people",
                    [PropertySpec("mail", "string"), PropertySpec("first_name", "string")],
                )
            ],
            name="app",
            clock=clock,
            id_prefix="a",
            page_size=app_page,
        )
        for i in range(matched + unmatched):
            app.put("people", {"mail": f"p{i}@x.io", "first_name": f"P{i}"})
            if i < matched:
                hub.put("contacts", {"email": f"p{i}@x.io", "firstname": f"P{i}"})
        calls = 0
        running = True

        def edit(method: str, n: int) -> None:
            nonlocal calls
            calls += 1
            if calls % every or not running:
                return  # an edit made during the incremental pass is the next one's
            if edit_hub:
                records = sorted(hub.records("contacts"), key=lambda r: r.id)
                if records:
                    record = records[(pick + calls) % len(records)]
                    hub.patch("contacts", record.id, firstname=f"Edited {calls}")
            else:
                people = sorted(app.records("people"), key=lambda r: r.id)
                if people:
                    person = people[(pick + calls) % len(people)]
                    app.patch("people", person.id, first_name=f"Edited {calls}")

        def crash(method: str, n: int) -> None:
            if method == "page" and n == crash_page and running:
                raise Crash

        faulty_hub, faulty_app = FaultyAdapter(hub, seed=0), FaultyAdapter(app, seed=0)
        faulty_hub.on_call(edit, after=True)
        faulty_app.on_call(edit, after=True)
        faulty_app.on_call(crash)
        obj = ObjectSync(
            "contacts",
            "people",
            [FieldMapping("email", "mail"), FieldMapping("firstname", "first_name")],
            match=MatchRule.email("email", "mail"),
        )
        index = MemoryIndexStore()

        def make() -> SyncEngine:
            return SyncEngine(
                faulty_hub,
                faulty_app,
                index,
                SyncConfig("s", [obj]),
                clock=clock,
                sleep=clock.advance,
            )

        engine = make()
        try:
            engine.initial_sync()
        except Crash:
            engine = make()  # another process resumes it
            engine.initial_sync()
        running = False
        clock.advance()
        engine.incremental_sync()
        names = {r.properties["email"]: r.properties["firstname"] for r in hub.records("contacts")}
        people = {r.properties["mail"]: r.properties["first_name"] for r in app.records("people")}
        assert names == people


class TestAFreedDuplicateTakingADeletedRecordsPlace:
    """Found by ``test_concurrent.py`` (seed 11, SQLite index; the one-pass machine's
    rules alone reproduce it on both stores): no two passes at once are needed."""

    def test_a_crash_before_the_update_leaves_no_record_in_two_entries(
        self, make_engine, hub, faulty_app, index
    ):
        first = hub.put("contacts", {"email": " ADA@x.io ", "firstname": "Ada"})
        hub.put("contacts", {"email": "ada@x.io", "firstname": ""})
        make_engine().initial_sync()  # the first pairs with a new app record; a duplicate
        faulty_app.fail_next("update", Crash())
        hub.remove("contacts", first.id)
        with pytest.raises(Crash):
            make_engine().initial_sync()
        named = [
            (side, entry.id_on(side))
            for entry in index.entries("s")
            for side in Side
            if entry.id_on(side) is not None
        ]
        assert len(named) == len(set(named)), sorted(named)


class _Holding:
    """The index as one process reaches it: the first time its pass takes the lease of
    ``name`` (it read the record and holds it, its outcome not stored yet),
    ``meanwhile`` runs before the pass goes on, as another process would."""

    def __init__(self, index, name, meanwhile) -> None:
        self._index = index
        self._name = name
        self._meanwhile = meanwhile

    def __getattr__(self, attribute):
        return getattr(self._index, attribute)

    def acquire(self, *args, **options):
        held = self._index.acquire(*args, **options)
        if self._name in held and self._meanwhile is not None:
            meanwhile, self._meanwhile = self._meanwhile, None
            meanwhile()
        return held

    # The pass history and the webhook inbox are looked up on the class: passed through.
    def add_pass(self, *args, **kwargs):
        return self._index.add_pass(*args, **kwargs)

    def passes(self, *args, **kwargs):
        return self._index.passes(*args, **kwargs)

    def inbox_add(self, items):
        return self._index.inbox_add(items)

    def inbox(self, sync_id, **options):
        return self._index.inbox(sync_id, **options)

    def inbox_remove(self, sync_id, seqs):
        return self._index.inbox_remove(sync_id, seqs)

    def inbox_count(self, sync_id):
        return self._index.inbox_count(sync_id)


class TestAnIdentifierTakenWhileAnInitialSyncHoldsItsRecord:
    """M3 with two processes (the concurrent-passes machine, seed 21, shrunk): a hub
    contact and an app person with another e-mail; one process's initial sync reads
    the person and holds it (phase 2, its outcome not stored yet) when the person's user
    gives it the contact's e-mail and another process runs a pass. That pass meets the
    person held and leaves it queued, with no index entry to hold its new e-mail; it
    then created the contact in the app next to the person (a second person with the
    e-mail, which later passes exclude as the engine's own duplicate). The pass now
    remembers the identifiers of the records it left queued, and creates nothing that
    holds one: the contact waits queued, and once the holder lets go it is the
    duplicate of the person's pair, as it would be without the second process."""

    def test_no_record_created_next_to_one_held_with_its_email(
        self, hub, app, faulty_hub, faulty_app, index, clock, make_engine
    ):
        ada = hub.put("contacts", email="ada@x.io", firstname="Ada")
        bob = app.put("people", mail="bob@x.io", first_name="Ada")
        other = make_engine()
        reports = []

        def meanwhile() -> None:
            clock.advance()
            app.patch("people", bob.id, mail="ada@x.io")
            reports.append(other.incremental_sync())  # the initial sync, resumed

        holding = _Holding(index, f"app:{bob.id}", meanwhile)
        obj = ObjectSync(
            "contacts",
            "people",
            [FieldMapping("email", "mail"), FieldMapping("firstname", "first_name")],
            match=MatchRule.email("email", "mail"),
        )
        initial = SyncEngine(
            faulty_hub,
            faulty_app,
            holding,
            SyncConfig("s", [obj]),
            clock=clock,
            sleep=clock.advance,
        )
        initial.initial_sync()
        (during,) = reports
        assert ["ada@x.io"] == mails(app), "a second person with the e-mail"
        assert 0 == during.created
        for _ in range(2):
            clock.advance()
            make_engine().incremental_sync()
        assert ["ada@x.io"] == mails(app)
        assert [] == faulty_app.created
        assert RecordState.QUEUED not in {e.state for e in index.entries("s")}
        contact = entry_of(index, Side.HUB, ada.id)
        assert (RecordState.EXCLUDED, ExcludeReason.DUPLICATE) == (contact.state, contact.reason)
        (pair,) = [e for e in index.entries("s") if e.app_id == bob.id]
        assert RecordState.SYNCED is pair.state
        assert "ada@x.io" == hub.get("contacts", pair.hub_id).properties["email"]


class _DiesLettingGo(_Holding):
    """``_Holding``, and once ``meanwhile`` ran the process dies as it lets go of its
    leases (the first ``release`` after it): its outcome stored, its notes unread."""

    def __init__(self, index, name, meanwhile) -> None:
        super().__init__(index, name, meanwhile)
        self._armed = False

    def acquire(self, *args, **options):
        ran = self._meanwhile is None
        held = super().acquire(*args, **options)
        self._armed |= not ran and self._meanwhile is None
        return held

    def release(self, *args, **options):
        if self._armed:
            self._armed = False
            raise Crash
        return self._index.release(*args, **options)


class _DiesElsewhereLettingGo(_DiesLettingGo):
    """``_DiesLettingGo`` on another machine: its leases name that machine, so no other
    process can tell whether it runs (they are free once they expire)."""

    def acquire(self, sync_id, object_type, names, owner, **options):
        owner = owner.replace("@", "@elsewhere-", 1)
        return super().acquire(sync_id, object_type, names, owner, **options)


#: The engines' default ``lease_seconds``.
LEASE_SECONDS = 300


class TestAHolderKilledBeforeItReadsItsNotes:
    """S9, found by reading ``leases.py`` (the concurrent machine killed processes at
    app calls only, never between an index write and the release after it): a reconcile
    holds a pair when the app's user edits the person, and another process's
    incremental pass leaves the person queued (its note for the holder, then its mark;
    its cursor moves past the edit). The holder stores its outcome (the pair as it read
    it: the mark erased) and dies before it lets go, so it never reads the note that
    would mark the pair queued again. No later pass reads the person again (their
    cursors are past the edit), and a note addressed to a dead holder was read only by
    a pass that leased the record: the edit waited for a reconcile. Now the next
    incremental pass lists the notes left for holders that are gone and marks their
    records queued again (``leases.requeue_orphaned``)."""

    def test_an_edit_left_queued_for_a_holder_that_dies_reaches_the_hub(
        self, hub, app, faulty_hub, faulty_app, index, clock, make_engine
    ):
        self.holder_dies(
            hub, app, faulty_hub, faulty_app, _DiesLettingGo, index, clock, make_engine
        )
        for _ in range(2):
            clock.advance()
            make_engine().incremental_sync()
        (contact,) = hub.records("contacts")
        assert "Augusta" == contact.properties["firstname"]

    def test_a_note_for_a_holder_on_another_machine_is_read_once_it_expires(
        self, hub, app, faulty_hub, faulty_app, index, clock, make_engine
    ):
        """A holder on another machine may still run (no process here can tell): its
        notes are left to it until they expire, as its leases are (``lease_seconds``);
        then the next incremental pass marks their records queued again."""
        self.holder_dies(
            hub, app, faulty_hub, faulty_app, _DiesElsewhereLettingGo, index, clock, make_engine
        )
        clock.advance()
        make_engine().incremental_sync()
        (contact,) = hub.records("contacts")
        assert "Ada" == contact.properties["firstname"]  # the holder may run: not yet
        clock.advance(LEASE_SECONDS)
        for _ in range(2):
            clock.advance()
            make_engine().incremental_sync()
        (contact,) = hub.records("contacts")
        assert "Augusta" == contact.properties["firstname"]

    @staticmethod
    def holder_dies(hub, app, faulty_hub, faulty_app, dies, index, clock, make_engine) -> None:
        """A reconcile holds the pair when the person is edited and another pass leaves
        it queued; the reconcile stores its outcome and dies as it lets go (``dies``)."""
        hub.put("contacts", email="ada@x.io", firstname="Ada")
        person = app.put("people", mail="ada@x.io", first_name="Ada")
        make_engine().initial_sync()
        clock.advance()
        other = make_engine()
        reports = []

        def meanwhile() -> None:
            clock.advance()
            app.patch("people", person.id, first_name="Augusta")
            reports.append(other.incremental_sync())

        dying = dies(index, f"app:{person.id}", meanwhile)
        obj = ObjectSync(
            "contacts",
            "people",
            [FieldMapping("email", "mail"), FieldMapping("firstname", "first_name")],
            match=MatchRule.email("email", "mail"),
        )
        holder = SyncEngine(
            faulty_hub, faulty_app, dying, SyncConfig("s", [obj]), clock=clock, sleep=clock.advance
        )
        with pytest.raises(Crash):
            holder.reconcile()
        (during,) = reports
        assert 1 == during.queued  # the person, held: left queued, noted for the holder


class _AppRunningMeanwhile(FaultyAdapter):
    """The app as one process reaches it: once its first create is sent (the app made
    the record, the pass's outcome not stored yet), ``meanwhile`` runs before the pass
    goes on, as another process would."""

    def __init__(self, app, meanwhile) -> None:
        super().__init__(app, seed=0)
        self._meanwhile = meanwhile

    def create(self, object_type, items):
        results = super().create(object_type, items)
        if self._meanwhile is not None:
            meanwhile, self._meanwhile = self._meanwhile, None
            meanwhile()
        return results


class TestARecordCreatedInFlightWhoseIdentifierChanges:
    """M3/S8 with two processes (found by the concurrent-passes machine with its
    ``contend(holder_dies=True)`` rule): two hub contacts share an e-mail. One
    process's initial sync creates the first in the app and holds it (the create sent,
    its outcome not stored: the entry pending with no app id yet) when the person's
    user changes its e-mail and another process runs a pass. That pass meets the new
    person: no entry holds its new e-mail, so it is not taken for the record of the
    create in flight: it is created in the hub (a third contact) and its entry names
    the person next to the holder's pair."""

    @pytest.mark.xfail(
        strict=True,
        reason="open: a pass meeting a record made by another pass's create in flight, "
        "whose identifier changed since, takes it for a new record; a fix that holds every "
        "new record of a side back while any create into it is in flight was tried and "
        "not landed (it may starve new records under steady creates with workers)",
    )
    def test_the_person_is_named_by_one_entry(
        self, hub, app, faulty_hub, faulty_app, index, clock, make_engine
    ):
        hub.put("contacts", email="ada@x.io", firstname="Ada")
        hub.put("contacts", email="ada@x.io", firstname="Ada")
        other = make_engine()
        reports = []

        def meanwhile() -> None:
            clock.advance()
            reports.append(other.initial_sync())
            clock.advance()
            (person,) = app.records("people")
            app.patch("people", person.id, mail="bob@x.io")
            reports.append(make_engine().incremental_sync())

        obj = ObjectSync(
            "contacts",
            "people",
            [FieldMapping("email", "mail"), FieldMapping("firstname", "first_name")],
            match=MatchRule.email("email", "mail"),
        )
        holder = SyncEngine(
            faulty_hub,
            _AppRunningMeanwhile(app, meanwhile),
            index,
            SyncConfig("s", [obj]),
            clock=clock,
            sleep=clock.advance,
        )
        holder.initial_sync()
        assert 2 == len(reports)
        for _ in range(3):
            clock.advance()
            make_engine().incremental_sync()
        for person in app.records("people"):
            named = [e.entry_id for e in index.entries("s") if e.app_id == person.id]
            assert 1 == len(named), f"person {person.id} is in entries {named}"
        assert 2 == len(hub.records("contacts")), "a contact created for the person"
        assert ["ada@x.io", "bob@x.io"] == mails(app)
