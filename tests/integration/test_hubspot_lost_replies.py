"""A create HubSpot committed but whose reply was lost makes no duplicate (S8, M3).

The hub is the real :class:`HubSpotAdapter` over HTTP to :class:`FakeHubSpot`, whose
search lags behind writes by default here, as HubSpot's does (search results are
eventually consistent: developers.hubspot.com, "Search the CRM"). The reply of a create
is lost *after* HubSpot committed it: a 502 from the load balancer, or a read timeout
(``Fault(after=True)``). The engine must settle such a create with a strongly consistent
read (a batch read by a unique property), not with the change scan, which does not show
the record yet.
"""

from __future__ import annotations

import datetime as dt
import logging

import httpx
import pytest

from syncengine import (
    ConfigError,
    FieldMapping,
    MatchRule,
    ObjectSchema,
    ObjectSync,
    PropertySpec,
    RecordState,
    SyncConfig,
    SyncEngine,
)
from syncengine.adapters import InMemoryAdapter
from syncengine.adapters.hubspot import HubSpotAdapter
from syncengine.errors import AdapterError
from syncengine.index import MemoryIndexStore
from syncengine.testing.hubspot import FakeHubSpot, ManualClock, property_definition

FAST = (100_000, 1.0)
#: Seconds before a write shows in HubSpot's search: on by default in these tests.
SEARCH_LAG = 60.0

ACCOUNTS = ObjectSchema("accounts", [PropertySpec("company", "string")])
PEOPLE = ObjectSchema(
    "people", [PropertySpec("mail", "string"), PropertySpec("first_name", "string")]
)


def companies_sync() -> ObjectSync:
    return ObjectSync(
        "companies",
        "accounts",
        [FieldMapping("name", "company")],
        match=MatchRule([("name", "company")], kinds=("text",)),
    )


def contacts_sync() -> ObjectSync:
    return ObjectSync(
        "contacts",
        "people",
        [FieldMapping("email", "mail"), FieldMapping("firstname", "first_name")],
        match=MatchRule.email("email", "mail"),
    )


@pytest.fixture
def clock():
    return ManualClock()


@pytest.fixture
def fake(clock):
    """A local HubSpot whose search shows writes a minute late, with a unique property
    for the sync's idempotency keys on companies."""
    fake = FakeHubSpot(clock=clock, sleep=clock.sleep, search_delay=SEARCH_LAG)
    fake.add_property("companies", property_definition("syncengine_key", unique=True))
    return fake


@pytest.fixture
def make_hub(fake, clock):
    made = []

    def make(**options):
        adapter = HubSpotAdapter(
            fake.token,
            transport=httpx.MockTransport(fake.handle),
            rate_limit=FAST,
            search_rate=FAST,
            clock=clock,
            sleep=clock.sleep,
            **options,
        )
        made.append(adapter)
        return adapter

    yield make
    for adapter in made:
        adapter.close()


@pytest.fixture
def app(clock):
    return InMemoryAdapter(
        [ACCOUNTS, PEOPLE],
        name="app",
        id_prefix="a",
        clock=lambda: dt.datetime.fromtimestamp(clock(), dt.UTC),
    )


def engine_of(hub, app, index, clock, *objects):
    return SyncEngine(
        hub,
        app,
        index,
        SyncConfig("s", list(objects)),
        clock=lambda: dt.datetime.fromtimestamp(clock(), dt.UTC),
        sleep=clock.sleep,
    )


def running(hub, app, index, clock, *objects):
    """An engine whose initial sync is done (on empty apps), a second later: the lost
    reply comes in an incremental pass, settled by the next one. (A repeated initial
    sync lists every record, which a lagging search does not blind.)"""
    engine = engine_of(hub, app, index, clock, *objects)
    engine.initial_sync()
    clock.advance(1)
    return engine


def lose_the_reply(fake, kind, object_type):
    """HubSpot commits the next write of ``object_type``, then its reply is lost."""
    if kind == "timeout":
        return fake.fail(0, path=f"/{object_type}/batch/", method="POST", after=True, timeout=True)
    return fake.fail(502, path=f"/{object_type}/batch/", method="POST", after=True)


def names(fake):
    return sorted(r["name"] for r in fake.records("companies").values())


class TestCompanies:
    """Companies with an idempotency property: upserted by key, looked up by key."""

    @pytest.mark.parametrize("kind", ["502", "timeout"])
    def test_a_company_whose_create_reply_was_lost_is_made_once(
        self, fake, make_hub, app, clock, kind
    ):
        """Initech's create is committed, its reply lost, and search lags: one Initech.

        (Before: the settlement read the search-backed change scan, which did not show
        Initech yet, so the create counted as never made and was sent again: two.)"""
        hub = make_hub(idempotency_properties={"companies": "syncengine_key"}, max_retries=0)
        index = MemoryIndexStore()
        engine = running(hub, app, index, clock, companies_sync())
        app.put("accounts", company="Initech")
        lose_the_reply(fake, kind, "companies")
        engine.incremental_sync()
        assert ["Initech"] == names(fake)  # committed, though the engine never heard
        clock.advance(1)
        engine.incremental_sync()
        clock.advance(1)
        engine.incremental_sync()

        assert ["Initech"] == names(fake)
        (entry,) = index.entries("s")
        (company_id,) = fake.records("companies")
        assert (RecordState.SYNCED, company_id, None) == (entry.state, entry.hub_id, entry.pending)

    def test_a_retried_upsert_after_a_502_makes_one_company(self, fake, make_hub, app, clock):
        """With retries on (the default), the adapter itself sends the upsert again after
        the 502: idempotent by key, so HubSpot answers with the company it made."""
        hub = make_hub(idempotency_properties={"companies": "syncengine_key"})
        index = MemoryIndexStore()
        engine = running(hub, app, index, clock, companies_sync())
        app.put("accounts", company="Initech")
        lose_the_reply(fake, "502", "companies")
        engine.incremental_sync()

        assert ["Initech"] == names(fake)
        (entry,) = index.entries("s")
        assert (RecordState.SYNCED, None) == (entry.state, entry.pending)
        assert [502, 200] == fake.statuses("/companies/batch/upsert")

    def test_the_key_is_the_adapters_own_property_and_not_in_the_schema(self, make_hub):
        hub = make_hub(idempotency_properties={"companies": "syncengine_key"})
        assert "syncengine_key" not in {s.name for s in hub.schema("companies")}

    @pytest.mark.parametrize(
        ("definition", "problem"),
        [
            (None, "does not exist"),
            (property_definition("syncengine_key"), "does not require unique values"),
            (property_definition("syncengine_key", "number", unique=True), "not a text"),
        ],
    )
    def test_an_idempotency_property_hubspot_lacks_is_refused_when_the_engine_is_built(
        self, clock, app, definition, problem
    ):
        fake = FakeHubSpot(clock=clock, sleep=clock.sleep)
        if definition is not None:
            fake.add_property("companies", definition)
        hub = HubSpotAdapter(
            fake.token,
            transport=httpx.MockTransport(fake.handle),
            idempotency_properties={"companies": "syncengine_key"},
        )
        with pytest.raises((AdapterError, ConfigError)) as caught:
            engine_of(hub, app, MemoryIndexStore(), clock, companies_sync())
        message = str(caught.value)
        assert "syncengine_key" in message
        assert "idempotency_properties" in message
        assert problem in message


class TestWithoutAnIdempotencyProperty:
    """What a company's lost create reply costs without the option: documented."""

    def test_without_the_property_a_lost_company_create_is_made_again(
        self, fake, make_hub, app, clock
    ):
        """The limit the how-to names: the change scan does not show the record yet, so
        the engine cannot know it was made. (This is why the option exists.)"""
        hub = make_hub(max_retries=0)
        engine = running(hub, app, MemoryIndexStore(), clock, companies_sync())
        app.put("accounts", company="Initech")
        lose_the_reply(fake, "502", "companies")
        engine.incremental_sync()
        clock.advance(1)
        engine.incremental_sync()
        assert ["Initech", "Initech"] == names(fake)


class TestContacts:
    """Contacts need no option: they are looked up by e-mail, which HubSpot keeps unique."""

    @pytest.mark.parametrize("kind", ["502", "timeout"])
    def test_a_contact_whose_create_reply_was_lost_is_paired_not_failed(
        self, fake, make_hub, app, clock, kind
    ):
        """(Before: the create was sent again and HubSpot refused it, 409 "Contact
        already exists": the record failed as a duplicate of the contact it made.)"""
        hub = make_hub(max_retries=0)
        index = MemoryIndexStore()
        engine = running(hub, app, index, clock, contacts_sync())
        app.put("people", mail="ada@x.io", first_name="Ada")
        lose_the_reply(fake, kind, "contacts")
        engine.incremental_sync()
        clock.advance(1)
        engine.incremental_sync()

        (contact_id,) = fake.records("contacts")
        (entry,) = index.entries("s")
        assert (RecordState.SYNCED, contact_id, None) == (entry.state, entry.hub_id, entry.pending)
        assert 409 not in fake.statuses("/contacts/batch/")

    def test_a_contact_another_pair_holds_is_not_taken_over(self, fake, make_hub, app, clock):
        """M3: Cy's create into HubSpot failed before it was served; then Ada's contact
        took Cy's address in HubSpot. The lookup by e-mail finds Ada's contact, which
        Ada's pair holds: Cy's create made nothing, and Cy is a duplicate now."""
        app.put("people", mail="ada@x.io", first_name="Ada")
        hub = make_hub(max_retries=0)
        index = MemoryIndexStore()
        engine = engine_of(hub, app, index, clock, contacts_sync())
        engine.initial_sync()
        (ada_id,) = fake.records("contacts")
        cy = app.put("people", mail="cy@x.io", first_name="Cy")
        fake.fail(503, path="/contacts/batch/create", method="POST")
        clock.advance(1)
        engine.incremental_sync()
        fake.patch("contacts", ada_id, email="cy@x.io")
        clock.advance(1)
        engine.incremental_sync()
        clock.advance(120)
        engine.incremental_sync()

        assert [ada_id] == list(fake.records("contacts"))
        assert all(e.pending is None for e in index.entries("s"))
        (cy_entry,) = [e for e in index.entries("s") if e.app_id == cy.id]
        assert cy_entry.hub_id is None


class TestCustomObjectsWithAUniqueProperty:
    """A custom object with a mapped unique property needs no idempotency property."""

    def test_a_car_whose_create_reply_was_lost_is_found_by_its_vin(self, fake, make_hub, clock):
        fake.add_object_type(
            "p_cars",
            [property_definition("name"), property_definition("vin", unique=True)],
            required=["name"],
        )
        cars = ObjectSchema("cars", [PropertySpec("name", "string"), PropertySpec("vin", "string")])
        app = InMemoryAdapter([cars], name="app", id_prefix="a")
        sync = ObjectSync(
            "p_cars",
            "cars",
            [FieldMapping("name", "name"), FieldMapping("vin", "vin")],
            match=MatchRule([("vin", "vin")], kinds=("text",)),
        )
        hub = make_hub(max_retries=0)
        index = MemoryIndexStore()
        engine = running(hub, app, index, clock, sync)
        app.put("cars", name="Beetle", vin="WVWZZZ1JZXW000001")
        lose_the_reply(fake, "timeout", "p_cars")
        engine.incremental_sync()
        clock.advance(1)
        engine.incremental_sync()

        (car_id,) = fake.records("p_cars")
        (entry,) = index.entries("s")
        assert (RecordState.SYNCED, car_id, None) == (entry.state, entry.hub_id, entry.pending)


class TestTheLimitIsNotSilent:
    """A type whose lost creates can only be settled from search says so, once."""

    def test_a_type_without_an_idempotency_property_is_warned_about_once(self, clock, caplog):
        fake = FakeHubSpot(clock=clock, sleep=clock.sleep)  # no unique company property
        hub = HubSpotAdapter(fake.token, transport=httpx.MockTransport(fake.handle))
        with caplog.at_level(logging.WARNING, logger="syncengine.adapters.hubspot"):
            hub.schema("companies")
            hub.schema("companies")
            hub.schema("contacts")  # looked up by e-mail
        hub.close()
        (warning,) = [r.getMessage() for r in caplog.records]
        assert "'companies'" in warning
        assert "idempotency_properties" in warning

    def test_no_warning_with_the_property(self, make_hub, caplog):
        hub = make_hub(idempotency_properties={"companies": "syncengine_key"})
        with caplog.at_level(logging.WARNING, logger="syncengine.adapters.hubspot"):
            hub.schema("companies")
        assert [] == caplog.records
