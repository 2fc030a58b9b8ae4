"""Merges and association-only changes in HubSpot reach the app (issue 19, items 5, 6).

The hub is the real :class:`HubSpotAdapter` over HTTP to :class:`FakeHubSpot`, which
merges as HubSpot does since its merge change (a new record with a new id) and moves no
last-modified time when records are re-linked. The app is an :class:`InMemoryAdapter`.
"""

from __future__ import annotations

import datetime as dt

import httpx
import pytest

from syncengine import (
    ChangeEvent,
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
from syncengine.adapters import InMemoryAdapter, RecordUpdate
from syncengine.adapters.hubspot import HubSpotAdapter
from syncengine.index import MemoryIndexStore
from syncengine.testing import FaultyAdapter
from syncengine.testing.hubspot import FakeHubSpot
from syncengine.webhooks import WebhookReceiver

FAST = (100_000, 1.0)
SECRET = "client-secret-for-merges"
URL = "https://sync.example.com/hubspot/webhook"
SYNC = "merges"

PEOPLE = ObjectSchema(
    "people",
    [
        PropertySpec("mail", "string", unique=True),
        PropertySpec("first_name", "string"),
        PropertySpec("last_name", "string"),
        PropertySpec("phone", "string"),
    ],
)
ACCOUNTS = ObjectSchema(
    "accounts", [PropertySpec("company", "string"), PropertySpec("website", "string")]
)


def contacts(**changes) -> ObjectSync:
    """contacts <-> people, matched by e-mail."""
    return ObjectSync(
        "contacts",
        "people",
        [
            FieldMapping("email", "mail"),
            FieldMapping("firstname", "first_name"),
            FieldMapping("lastname", "last_name"),
            FieldMapping("phone", "phone"),
        ],
        match=MatchRule.email("email", "mail"),
        **changes,
    )


def companies() -> ObjectSync:
    """companies <-> accounts, matched by name or domain."""
    return ObjectSync(
        "companies",
        "accounts",
        [FieldMapping("name", "company"), FieldMapping("domain", "website")],
        match=MatchRule.company(("name", "company"), ("domain", "website")),
    )


@pytest.fixture
def fake():
    """An empty local HubSpot, recording merge and association webhook events."""
    made = FakeHubSpot()
    made.subscribe(*SUBSCRIPTIONS)
    return made


@pytest.fixture
def hub(fake):
    """The HubSpot adapter on the local HubSpot."""
    adapter = HubSpotAdapter(
        fake.token,
        transport=httpx.MockTransport(fake.handle),
        rate_limit=FAST,
        search_rate=FAST,
        consistency_window=0.0,
    )
    yield adapter
    adapter.close()


@pytest.fixture
def app():
    """The connected app."""
    return InMemoryAdapter([PEOPLE, ACCOUNTS], name="app", id_prefix="a")


@pytest.fixture
def index():
    """The index."""
    return MemoryIndexStore()


def engine_for(hub, app, index, *objects) -> SyncEngine:
    """An engine over the local HubSpot and the app."""
    return SyncEngine(hub, app, index, SyncConfig(SYNC, list(objects)))


SUBSCRIPTIONS = (
    "contact.merge",
    "company.merge",
    "contact.associationChange",
    "company.associationChange",
)


def deliver(engine, fake, *, drain: bool = True) -> int:
    """POST the fake's recorded webhook events to a receiver as HubSpot does, then (with
    ``drain``) let the engine drain its inbox; return how many events the receiver kept."""
    now = dt.datetime.now(dt.UTC)
    receiver = WebhookReceiver(engine, SECRET, clock=lambda: now)
    kept = 0
    for request in fake.webhook_requests(URL, SECRET):
        status, count = receiver.handle(request.method, request.url, request.headers, request.body)
        assert 200 == status
        kept += count
    if drain:
        report = engine.drain_inbox()
        assert 0 == report.failed, report
    return kept


def people(app) -> dict[str, dict]:
    """The app's people by id, as plain dicts."""
    return {r.id: dict(r.properties) for r in app.records("people")}


def synced_pair(index, app_id):
    """The entry of an app record."""
    (entry,) = [e for e in index.entries(SYNC) if e.app_id == app_id]
    return entry


class TestAMergeInHubSpot:
    """Item 5: a merge re-pairs the primary's entry; nothing is deleted or re-created."""

    @pytest.fixture
    def merged(self, fake, hub, app, index):
        """Two synced contacts, then merged in HubSpot (Ada is the primary)."""
        ada = fake.put("contacts", email="ada@example.com", firstname="Ada")
        other = fake.put(
            "contacts",
            email="lovelace@example.com",
            firstname="Augusta",
            lastname="Lovelace",
            phone="+45 1",
        )
        engine = engine_for(hub, app, index, contacts())
        engine.initial_sync()
        ids = {p["mail"]: i for i, p in people(app).items()}
        new = fake.merge("contacts", ada, other)
        return engine, new, ids["ada@example.com"], ids["lovelace@example.com"]

    @pytest.mark.parametrize("learn", ["poll", "webhook", "reconcile"])
    def test_the_pair_follows_the_merged_record_and_values_converge(
        self, merged, fake, app, index, learn
    ):
        """Today's main: both entries fail as deleted and the merged record is a duplicate."""
        engine, new, ada_app, other_app = merged
        if learn == "poll":
            report = engine.incremental_sync()
        elif learn == "webhook":
            assert 3 == deliver(engine, fake)  # the new id and both old ones
            report = engine.incremental_sync()
        else:
            report = engine.reconcile()

        assert 0 == report.failed
        assert 2 == app.count("people")  # nothing deleted (X3)
        assert [new] == list(fake.records("contacts"))  # nothing re-created in HubSpot
        entry = synced_pair(index, ada_app)
        assert (new, RecordState.SYNCED) == (entry.hub_id, entry.state)
        ada = people(app)[ada_app]
        assert ("Ada", "Lovelace", "+45 1") == (
            ada["first_name"],
            ada["last_name"],
            ada["phone"],
        )
        left = synced_pair(index, other_app)
        assert (RecordState.EXCLUDED, ExcludeReason.MERGED) == (left.state, left.reason)
        assert new in left.message
        assert "Augusta" == people(app)[other_app]["first_name"]  # kept as it was
        again = engine.incremental_sync()
        assert 0 == again.created + again.updated + again.failed

    def test_the_left_out_record_is_never_created_again_nor_restorable(
        self, merged, fake, app, index
    ):
        """A change to the merged-away contact's app record creates nothing (M3, X3)."""
        engine, new, _, other_app = merged
        engine.incremental_sync()

        app.patch("people", other_app, first_name="Augusta Ada")
        report = engine.incremental_sync()

        assert 0 == report.created + report.failed
        assert [new] == list(fake.records("contacts"))
        assert ExcludeReason.MERGED == synced_pair(index, other_app).reason
        assert 0 == len(engine.plan_restore("contacts", Side.HUB))
        assert 0 == engine.reconcile().created

    def test_explain_says_why_the_other_record_is_out(self, merged, fake, app, index):
        """R8: the left-out record's explanation is the merge, not a planned update
        against the merged record its old id reads as."""
        engine, new, _, other_app = merged
        engine.incremental_sync()

        explained = engine.explain(Side.APP, "people", other_app)

        assert not explained.hub_found
        assert "merged" in explained.decision
        assert new in explained.decision

    @pytest.mark.parametrize("learn", ["poll", "webhook", "reconcile"])
    def test_explain_before_a_pass_reads_the_merge_says_what_that_pass_does(
        self, merged, fake, app, index, learn
    ):
        """R8: explained before any pass read the merge, neither pair reads as deleted
        (it said "fail (deleted): the hub record ... was deleted" for both, and no pass
        fails them): Ada's pair continues with the merged record, the other is left out,
        as the next pass then does; explaining reads, it writes nothing."""
        engine, new, ada_app, other_app = merged
        before = list(index.entries(SYNC))

        heir = engine.explain(Side.APP, "people", ada_app)
        left = engine.explain(Side.APP, "people", other_app)
        by_old_id = engine.explain(Side.HUB, "contacts", synced_pair(index, other_app).hub_id)

        assert before == list(index.entries(SYNC))
        assert "deleted" not in heir.decision, heir.decision
        assert heir.hub_found
        assert "Lovelace" == heir.as_dict()["fields"][2]["hub_value"]  # the merged record's
        for explained in (left, by_old_id):
            assert explained.decision.startswith("exclude (merged)"), explained.decision
            assert new in explained.decision
        if learn == "poll":
            engine.incremental_sync()
        elif learn == "webhook":
            deliver(engine, fake)
        else:
            engine.reconcile()
        assert (new, RecordState.SYNCED) == (
            synced_pair(index, ada_app).hub_id,
            synced_pair(index, ada_app).state,
        )
        assert ExcludeReason.MERGED == synced_pair(index, other_app).reason
        assert left.decision == engine.explain(Side.APP, "people", other_app).decision

    def test_the_merged_records_identifier_picks_the_pair_that_continues(
        self, fake, hub, app, index
    ):
        """The secondary named first: the entry sharing the merged e-mail still wins."""
        ada = fake.put("contacts", email="ada@example.com", firstname="Ada")
        other = fake.put("contacts", email="lovelace@example.com", lastname="Lovelace")
        engine = engine_for(hub, app, index, contacts())
        engine.initial_sync()
        ids = {p["mail"]: i for i, p in people(app).items()}

        new = fake.merge("contacts", other, ada)  # the primary is "other" this time
        engine.incremental_sync()

        assert new == synced_pair(index, ids["lovelace@example.com"]).hub_id
        assert ExcludeReason.MERGED == synced_pair(index, ids["ada@example.com"]).reason
        assert "Ada" == people(app)[ids["lovelace@example.com"]]["first_name"]

    def test_a_change_in_the_app_meanwhile_reaches_the_merged_record(
        self, merged, fake, app, index
    ):
        """D6 across the merge: the app's edit and the merge's values both survive."""
        engine, new, ada_app, _ = merged
        app.patch("people", ada_app, first_name="Augusta Ada")

        engine.incremental_sync()

        assert "Augusta Ada" == fake.get("contacts", new)["firstname"]
        assert "+45 1" == people(app)[ada_app]["phone"]

    def test_a_restore_never_brings_back_a_record_from_a_merged_id(self, fake, hub, app, index):
        """R6 sibling: the surviving HubSpot record of a deleted pair was merged away
        since; the restore plan leaves it to the next pass instead of copying the merged
        record into the app."""
        ada = fake.put("contacts", email="ada@example.com", firstname="Ada")
        other = fake.put("contacts", email="lovelace@example.com", lastname="Lovelace")
        engine = engine_for(hub, app, index, contacts())
        engine.initial_sync()
        ids = {p["mail"]: i for i, p in people(app).items()}
        app.remove("people", ids["ada@example.com"])
        engine.incremental_sync()
        assert 1 == len(engine.plan_restore("contacts", Side.APP))

        fake.merge("contacts", ada, other)

        assert 0 == len(engine.plan_restore("contacts", Side.APP))

    def test_the_pair_whose_app_record_lives_on_continues(self, fake, hub, app, index):
        """The primary's app record was deleted: the other pair follows the merge, and
        nothing is left out or failed."""
        ada = fake.put("contacts", email="ada@example.com", firstname="Ada")
        other = fake.put("contacts", email="lovelace@example.com", lastname="Lovelace")
        engine = engine_for(hub, app, index, contacts())
        engine.initial_sync()
        ids = {p["mail"]: i for i, p in people(app).items()}
        app.remove("people", ids["ada@example.com"])
        engine.incremental_sync()

        new = fake.merge("contacts", ada, other)
        report = engine.incremental_sync()

        assert 0 == report.failed + report.created
        (entry,) = index.entries(SYNC)
        assert (new, ids["lovelace@example.com"], RecordState.SYNCED) == (
            entry.hub_id,
            entry.app_id,
            entry.state,
        )
        assert "ada@example.com" == people(app)[ids["lovelace@example.com"]]["mail"]

    def test_a_merge_during_the_initial_sync_is_followed_by_it(self, fake, hub, app, index):
        """S3: HubSpot merges after phase 1 indexed both contacts; phase 3 meets the
        merged record and the initial sync ends with it in the app, nothing excluded."""
        ada = fake.put("contacts", email="ada@example.com", firstname="Ada")
        other = fake.put("contacts", email="lovelace@example.com", phone="+45 1")
        app.put("people", mail="alan@example.com", first_name="Alan")
        merged: list[str] = []

        def merge_once(event) -> None:
            if event.kind == "phase_started" and event.phase == "sync_hub" and not merged:
                merged.append(fake.merge("contacts", ada, other))

        engine = SyncEngine(hub, app, index, SyncConfig(SYNC, [contacts()]), on_event=merge_once)
        report = engine.initial_sync()

        assert merged
        assert 0 == report.excluded + report.failed
        (ada_app,) = [i for i, p in people(app).items() if p["mail"] == "ada@example.com"]
        assert "+45 1" == people(app)[ada_app]["phone"]
        assert merged[0] == synced_pair(index, ada_app).hub_id
        assert 2 == len(list(index.entries(SYNC)))

    def test_companies_merge_the_same_way(self, fake, hub, app, index):
        """company.merge: the primary's account follows the new company."""
        acme = fake.put("companies", name="Acme", domain="acme.example")
        twin = fake.put("companies", name="Acme Europe", domain="acme.eu")
        engine = engine_for(hub, app, index, companies())
        engine.initial_sync()
        accounts = {r.properties["company"]: r.id for r in app.records("accounts")}

        new = fake.merge("companies", acme, twin)
        assert 3 == deliver(engine, fake)

        assert new == synced_pair(index, accounts["Acme"]).hub_id
        assert ExcludeReason.MERGED == synced_pair(index, accounts["Acme Europe"]).reason
        assert 2 == app.count("accounts")
        assert [new] == list(fake.records("companies"))


class TestAnUpdateOfAMergedAwayId:
    """An update sent to a contact HubSpot merged away while the pass ran.

    HubSpot routes a merged-away id to the merged record (its changelog "Updated merge
    functionality for contacts and companies": both old ids "point to the resulting
    merged record"), so the update lands there and the reply names the merged record.
    The write landed: nothing fails, the pair follows the merge in the same pass (as
    ``Page.merged`` would have it) and the merged record's values reach the app.
    """

    @pytest.mark.parametrize("edited", ["primary", "other"])
    def test_the_update_lands_and_the_pair_follows_the_merge(self, fake, hub, app, index, edited):
        """Before: the update landed on the merged record but its pair failed
        ``unknown`` (an update answered with another record's id)."""
        ada = fake.put("contacts", email="ada@example.com", firstname="Ada")
        other = fake.put("contacts", email="lovelace@example.com", lastname="Lovelace")
        writes = FaultyAdapter(hub)
        engine = SyncEngine(writes, app, index, SyncConfig(SYNC, [contacts()]))
        engine.initial_sync()
        ids = {p["mail"]: i for i, p in people(app).items()}
        person = ids["ada@example.com" if edited == "primary" else "lovelace@example.com"]
        app.patch("people", person, phone="+45 99")
        merged: list[str] = []

        def merge_before_the_update(method: str, n: int, object_type: str | None) -> None:
            if method == "update" and object_type == "contacts" and not merged:
                merged.append(fake.merge("contacts", ada, other))

        writes.on_call(merge_before_the_update, with_type=True)
        report = engine.incremental_sync()

        assert merged, "the pass sent no update to HubSpot"
        (new,) = merged
        assert 0 == report.failed, report.errors
        assert "+45 99" == fake.get("contacts", new)["phone"]  # the update landed there
        assert [new] == list(fake.records("contacts"))  # nothing created in HubSpot
        assert 2 == app.count("people")  # nothing deleted (X3)
        heir = synced_pair(index, ids["ada@example.com"])  # the merge kept Ada's e-mail
        assert (new, RecordState.SYNCED) == (heir.hub_id, heir.state)
        left = synced_pair(index, ids["lovelace@example.com"])
        assert (RecordState.EXCLUDED, ExcludeReason.MERGED) == (left.state, left.reason)
        assert "+45 99" == people(app)[ids["ada@example.com"]]["phone"]
        assert "Lovelace" == people(app)[ids["ada@example.com"]]["last_name"]

        again = engine.incremental_sync()  # the merge seen by the scan changes nothing
        assert 0 == again.failed + again.created + again.updated
        assert heir == synced_pair(index, ids["ada@example.com"])


class TestAMergeMetByAFetch:
    """A HubSpot user merges two contacts while a pass runs, after it read its changes
    and before it fetches the counterpart of an app person's edit: the fetch of the old
    id answers with the merged record (HubSpot routes a merged-away id to it).

    The pass follows the merge itself: the pair whose contact shares the merged
    record's e-mail continues with it, the other is left out (``merged``), nothing
    fails, and the report counts each person once, in that final outcome.
    """

    @pytest.mark.parametrize("learn", ["poll", "webhook"])
    @pytest.mark.parametrize("edited", ["primary", "other"])
    def test_the_pair_follows_the_merge_in_the_same_pass(
        self, fake, hub, app, index, learn, edited
    ):
        """Before: the edited person failed ``unavailable`` ("the pair follows it on the
        next pass"); with the other person edited, the retry of the same pass re-paired
        it with the merged record on its own and it failed ``duplicate`` on every pass
        after (the app's e-mail is unique)."""
        ada = fake.put("contacts", email="ada@example.com", firstname="Ada")
        other = fake.put("contacts", email="lovelace@example.com", lastname="Lovelace")
        reads = FaultyAdapter(hub)
        engine = SyncEngine(reads, app, index, SyncConfig(SYNC, [contacts(winner="app")]))
        engine.initial_sync()
        engine.incremental_sync()
        ids = {p["mail"]: i for i, p in people(app).items()}
        person = ids["ada@example.com" if edited == "primary" else "lovelace@example.com"]
        app.patch("people", person, phone="+45 99")
        merged: list[str] = []

        def merge_before_the_fetch(method: str, n: int, object_type: str | None) -> None:
            if method == "fetch" and object_type == "contacts" and not merged:
                merged.append(fake.merge("contacts", ada, other))

        reads.on_call(merge_before_the_fetch, with_type=True)
        if learn == "poll":
            report = engine.incremental_sync()
        else:
            report = engine.handle_events(Side.APP, [ChangeEvent("people", person)])

        assert merged, "the pass fetched no contact"
        (new,) = merged
        assert 0 == report.failed, report.errors
        heir = synced_pair(index, ids["ada@example.com"])  # the merge kept Ada's e-mail
        assert (new, RecordState.SYNCED) == (heir.hub_id, heir.state)
        assert "Lovelace" == people(app)[ids["ada@example.com"]]["last_name"]
        if edited == "primary":
            assert "+45 99" == fake.get("contacts", new)["phone"]  # the edit reached it
            assert 1 == report.get("updated", "contacts", Side.HUB)
        else:
            left = synced_pair(index, ids["lovelace@example.com"])
            assert (RecordState.EXCLUDED, ExcludeReason.MERGED) == (left.state, left.reason)
            assert 1 == report.excluded  # counted once, as it ended
        assert [new] == list(fake.records("contacts"))  # nothing created in HubSpot
        assert 2 == app.count("people")  # nothing deleted (X3)

        again = engine.incremental_sync()  # its scan reads the merge: both pairs settle
        assert 0 == again.failed + again.created, again.errors
        left = synced_pair(index, ids["lovelace@example.com"])
        assert (RecordState.EXCLUDED, ExcludeReason.MERGED) == (left.state, left.reason)
        assert 0 == engine.incremental_sync().writes

    @pytest.mark.parametrize("learn", ["poll", "webhook", "reconcile"])
    def test_a_pair_sharing_no_identifier_with_the_merged_record_waits_for_its_own_read(
        self, fake, hub, app, index, learn
    ):
        """The read of the primary's old id tells that one move only, and the other
        contact shares no identifier with the merged record (its e-mail moved to
        ``hs_additional_emails``, which the sync does not map): nothing tells the pass
        that its id was merged too, so its pair stays synced under the old id until a
        pass reads that id or the merged record's page. Pinned: in between nothing is
        written through that pair (the app person's edit does not reach the merged
        record, whose values are the primary's pair's), and the pass that reads it
        leaves it out as any merge does: nothing fails, is created or is deleted."""
        ada = fake.put("contacts", email="ada@example.com", firstname="Ada")
        other = fake.put("contacts", email="lovelace@example.com", lastname="Lovelace")
        reads = FaultyAdapter(hub)
        engine = SyncEngine(reads, app, index, SyncConfig(SYNC, [contacts(winner="app")]))
        engine.initial_sync()
        ids = {p["mail"]: i for i, p in people(app).items()}
        app.patch("people", ids["ada@example.com"], phone="+45 99")
        merged: list[str] = []

        def merge_before_the_fetch(method: str, n: int, object_type: str | None) -> None:
            if method == "fetch" and object_type == "contacts" and not merged:
                merged.append(fake.merge("contacts", ada, other))

        reads.on_call(merge_before_the_fetch, with_type=True)
        first = engine.incremental_sync()
        (new,) = merged
        assert 0 == first.failed + first.excluded, first.errors
        assert (new, RecordState.SYNCED) == (
            synced_pair(index, ids["ada@example.com"]).hub_id,
            synced_pair(index, ids["ada@example.com"]).state,
        )
        waiting = synced_pair(index, ids["lovelace@example.com"])
        assert (other, RecordState.SYNCED) == (waiting.hub_id, waiting.state)

        app.patch("people", ids["lovelace@example.com"], first_name="Augusta")
        if learn == "poll":
            report = engine.incremental_sync()
        elif learn == "webhook":
            event = ChangeEvent("people", ids["lovelace@example.com"])
            report = engine.handle_events(Side.APP, [event])
        else:
            report = engine.reconcile()

        assert 0 == report.failed + report.created, report.errors
        left = synced_pair(index, ids["lovelace@example.com"])
        assert (RecordState.EXCLUDED, ExcludeReason.MERGED) == (left.state, left.reason)
        assert new in left.message
        assert "Ada" == fake.get("contacts", new)["firstname"]  # the edit stayed in the app
        assert "+45 99" == fake.get("contacts", new)["phone"]
        assert [new] == list(fake.records("contacts"))
        assert {"Ada", "Augusta"} == {p.get("first_name") for p in people(app).values()}
        assert 0 == engine.incremental_sync().writes


def test_the_adapter_answers_an_update_of_a_merged_away_id_with_the_merge(fake, hub):
    """The kit's rule holds (an update answers with the id sent) and the merge is told:
    every id the merged record lists, to that record's id; a merge merged again since
    moves them to the latest record."""
    ada = fake.put("contacts", email="ada@example.com", firstname="Ada")
    other = fake.put("contacts", email="lovelace@example.com")
    third = fake.put("contacts", email="byron@example.com")
    new = fake.merge("contacts", ada, other)

    (result,) = hub.update("contacts", [RecordUpdate(other, {"phone": "+45 2"})])

    assert (other, None) == (result.record_id, result.category)
    assert {ada: new, other: new} == dict(result.merged or {})
    assert "+45 2" == fake.get("contacts", new)["phone"]
    (plain,) = hub.update("contacts", [RecordUpdate(third, {"phone": "+45 3"})])
    assert (third, None) == (plain.record_id, plain.merged)

    latest = fake.merge("contacts", third, new)
    (again,) = hub.update("contacts", [RecordUpdate(ada, {"phone": "+45 4"})])

    assert (ada, None) == (again.record_id, again.category)
    assert dict.fromkeys((ada, other, new, third), latest) == dict(again.merged or {})
    assert "+45 4" == fake.get("contacts", latest)["phone"]


class TestAnAssociationOnlyChange:
    """Item 6: re-linking moves no last-modified time; webhooks or reconcile carry it."""

    @pytest.fixture
    def relinked(self, fake, hub, app, index):
        """A synced contact and two companies; then, in HubSpot only, a second link."""
        ada = fake.put("contacts", email="ada@example.com", firstname="Ada")
        acme = fake.put("companies", name="Acme", domain="acme.example")
        globex = fake.put("companies", name="Globex", domain="globex.example")
        fake.link("contacts", ada, "companies", acme)
        engine = engine_for(hub, app, index, companies(), contacts(associations=("companies",)))
        engine.initial_sync()
        engine.incremental_sync()  # the initial sync's own writes come back once
        fake.webhook_requests(URL, SECRET)  # delivered before: the links made so far
        fake.link("contacts", ada, "companies", globex)
        (person,) = app.records("people")
        accounts = {r.properties["company"]: r.id for r in app.records("accounts")}
        return engine, person.id, accounts

    def linked(self, app, person_id):
        """The accounts an app person is linked to."""
        (person,) = [p for p in app.records("people") if p.id == person_id]
        return set(person.associations.get("accounts", ()))

    def test_polling_alone_cannot_see_it(self, relinked, app):
        """The fake is faithful: no property changed, so no change scan finds the link."""
        engine, person_id, accounts = relinked
        engine.incremental_sync()
        assert {accounts["Acme"]} == self.linked(app, person_id)

    def test_the_association_change_webhook_syncs_the_link(self, relinked, fake, app):
        """contact.associationChange + company.associationChange reach the engine."""
        engine, person_id, accounts = relinked
        assert 2 == deliver(engine, fake, drain=False)  # kept in the inbox
        assert 0 == engine.incremental_sync().failed  # the next pass drains it
        assert {accounts["Acme"], accounts["Globex"]} == self.linked(app, person_id)

    def test_a_reconcile_syncs_the_link_without_the_webhook(self, relinked, app):
        """S6: the full comparison re-reads every record's links."""
        engine, person_id, accounts = relinked
        assert 0 == engine.reconcile().failed
        assert {accounts["Acme"], accounts["Globex"]} == self.linked(app, person_id)

    def test_an_unlink_in_hubspot_is_kept_out_of_the_app(self, relinked, fake, app, index):
        """X3: the webhook of a removed link re-reads it; the app keeps its link."""
        engine, person_id, accounts = relinked
        deliver(engine, fake)
        (contact,) = fake.records("contacts")
        (acme,) = [i for i, p in fake.records("companies").items() if p["name"] == "Acme"]

        fake.unlink("contacts", contact, "companies", acme)
        assert 2 == deliver(engine, fake)

        assert {accounts["Acme"], accounts["Globex"]} == self.linked(app, person_id)
        entry = synced_pair(index, person_id)
        assert any("unlinked in hub" in h.detail for h in entry.history)
