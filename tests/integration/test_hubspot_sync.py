"""End-to-end: a two-way sync between the local HubSpot (hub) and an in-memory app (issue 9).

The hub is the real :class:`HubSpotAdapter` talking HTTP (through ``httpx.MockTransport``)
to :class:`FakeHubSpot`; the app is an :class:`InMemoryAdapter`. Contacts, companies and
deals with pipelines and links, initial and incremental passes, webhooks, and restores.
"""

from __future__ import annotations

import datetime as dt
import json

import httpx
import pytest

from syncengine import (
    ErrorCategory,
    ExcludeReason,
    FieldMapping,
    MatchRule,
    ObjectSchema,
    ObjectSync,
    PipelineMap,
    PropertySpec,
    RecordState,
    SyncConfig,
    SyncEngine,
)
from syncengine.adapters import InMemoryAdapter, Pipeline, Stage
from syncengine.adapters.hubspot import HubSpotAdapter
from syncengine.index import MemoryIndexStore
from syncengine.testing.hubspot import FakeHubSpot, property_definition
from syncengine.webhooks import WebhookReceiver, signature_v3

FAST = (100_000, 1.0)
SECRET = "client-secret-for-tests"

PEOPLE = ObjectSchema(
    "people",
    [
        PropertySpec("mail", "string", unique=True),
        PropertySpec("first_name", "string"),
        PropertySpec("last_name", "string"),
        # HubSpot's other lifecycle stages under their own names: every stage a contact
        # can have fits (a stage the app lacked and the mapping left out is refused).
        PropertySpec(
            "stage",
            "enum",
            options=(
                "Lead",
                "Customer",
                "subscriber",
                "marketingqualifiedlead",
                "salesqualifiedlead",
                "opportunity",
                "evangelist",
                "other",
            ),
        ),
        PropertySpec("opted_out", "bool"),
    ],
)
ACCOUNTS = ObjectSchema(
    "accounts",
    [
        PropertySpec("company", "string"),
        PropertySpec("website", "string"),
        PropertySpec("staff", "number"),
        PropertySpec("vat", "string"),
    ],
)
OPPORTUNITIES = ObjectSchema(
    "opportunities",
    [
        PropertySpec("title", "string"),
        PropertySpec("value", "number"),
        PropertySpec("closes", "datetime"),
        PropertySpec("pipeline", "string"),
        PropertySpec("stage", "string"),
    ],
)
APP_PIPELINES = [
    Pipeline(
        "main",
        "Main",
        [
            Stage("s1", "Appointment scheduled"),
            Stage("s2", "Closed won"),
            Stage("s3", "Closed lost"),
        ],
    )
]


def contacts_sync(**changes) -> ObjectSync:
    """contacts ↔ people, matched by e-mail, linked to companies."""
    fields = {
        "hub_type": "contacts",
        "app_type": "people",
        "mappings": [
            FieldMapping("email", "mail"),
            FieldMapping("firstname", "first_name"),
            FieldMapping("lastname", "last_name"),
            FieldMapping(
                "lifecyclestage", "stage", options={"lead": "Lead", "customer": "Customer"}
            ),
            FieldMapping("hs_email_optout", "opted_out"),
        ],
        "match": MatchRule.email("email", "mail"),
        **changes,
    }
    return ObjectSync(**fields)


def companies_sync() -> ObjectSync:
    """companies ↔ accounts, matched by name or domain (M2)."""
    return ObjectSync(
        "companies",
        "accounts",
        [
            FieldMapping("name", "company"),
            FieldMapping("domain", "website"),
            FieldMapping("numberofemployees", "staff"),
        ],
        match=MatchRule.company(("name", "company"), ("domain", "website")),
    )


def deals_sync() -> ObjectSync:
    """deals ↔ opportunities in mapped pipelines, linked to companies."""
    return ObjectSync(
        "deals",
        "opportunities",
        [
            FieldMapping("dealname", "title"),
            FieldMapping("amount", "value"),
            FieldMapping("closedate", "closes"),
        ],
        match=MatchRule([("dealname", "title")], kinds=("text",)),
        pipelines=[PipelineMap("default", "main")],
        pipeline_fields=("pipeline", "pipeline"),
        stage_fields=("dealstage", "stage"),
        associations=("companies",),
    )


@pytest.fixture
def fake():
    """An empty local HubSpot."""
    return FakeHubSpot()


@pytest.fixture
def hub(fake):
    """The HubSpot adapter on the local HubSpot, reading the links the syncs keep."""
    adapter = HubSpotAdapter(
        fake.token,
        transport=httpx.MockTransport(fake.handle),
        rate_limit=FAST,
        search_rate=FAST,
        page_size=10,
        search_page_size=10,
        associations={"contacts": ["companies"], "deals": ["companies"]},
        consistency_window=0.0,
    )
    yield adapter
    adapter.close()


@pytest.fixture
def app():
    """The connected app: people, accounts and opportunities."""
    return InMemoryAdapter(
        [PEOPLE, ACCOUNTS, OPPORTUNITIES],
        name="app",
        id_prefix="a",
        page_size=7,
        pipelines={"opportunities": APP_PIPELINES},
    )


@pytest.fixture
def index():
    """The index."""
    return MemoryIndexStore()


def make_engine(hub, app, index, *objects) -> SyncEngine:
    """An engine over the local HubSpot and the app."""
    return SyncEngine(hub, app, index, SyncConfig("hubspot-sync", list(objects)))


def by(records, field):
    """Records (InMemory ``Record``s or the fake's property dicts) keyed by a field."""
    out = {}
    for record in records:
        properties = record.properties if hasattr(record, "properties") else record
        out[properties[field].lower()] = record
    return out


class TestContactsAndCompanies:
    """S3, S5, D2, D3, A1 across HTTP."""

    def test_initial_sync_merges_matches_and_creates_the_rest_both_ways(
        self, fake, hub, app, index
    ):
        """S3: matched pairs merge; hub-only and app-only records are created across."""
        ada = fake.put("contacts", email="ada@example.com", firstname="Ada", lifecyclestage="lead")
        fake.put("contacts", email="grace@example.com", firstname="Grace", lastname="Hopper")
        app.put("people", mail="ADA@example.com", first_name="Augusta", last_name="Lovelace")
        app.put("people", mail="alan@example.com", first_name="Alan", opted_out=True)
        acme = fake.put("companies", name="Acme Inc", domain="acme.example", numberofemployees=40)
        app.put("accounts", company="Globex", website="globex.example", staff=12)

        report = make_engine(hub, app, index, companies_sync(), contacts_sync()).initial_sync()

        hubs = by(fake.records("contacts").values(), "email")
        apps = by(app.records("people"), "mail")
        assert {"ada@example.com", "grace@example.com", "alan@example.com"} == set(hubs)
        assert set(hubs) == set(apps)
        assert "Ada" == apps["ada@example.com"].properties["first_name"]  # D3: hub wins
        assert "Lovelace" == hubs["ada@example.com"]["lastname"]  # D2: blank filled
        assert "Lead" == apps["ada@example.com"].properties["stage"]  # option mapped
        assert "true" == hubs["alan@example.com"]["hs_email_optout"]  # bool on the wire
        assert 40 == by(app.records("accounts"), "company")["acme inc"].properties["staff"]
        assert "12" == by(fake.records("companies").values(), "name")["globex"]["numberofemployees"]
        assert ada in fake.records("contacts")
        assert acme in fake.records("companies")
        assert 0 == report.failed
        assert {RecordState.SYNCED} == {e.state for e in index.entries("hubspot-sync")}

    def test_incremental_sync_carries_changes_made_in_hubspot_and_in_the_app(
        self, fake, hub, app, index
    ):
        """S5: changes found by search (hub) and by cursor (app) flow across."""
        ada = fake.put("contacts", email="ada@example.com", firstname="Ada")
        app.put("people", mail="grace@example.com", first_name="Grace")
        engine = make_engine(hub, app, index, contacts_sync())
        engine.initial_sync()
        fake.patch("contacts", ada, firstname="Augusta")
        grace = by(app.records("people"), "mail")["grace@example.com"]
        app.patch("people", grace.id, last_name="Hopper")
        fake.put("contacts", email="new@example.com", firstname="Newcomer")

        report = engine.incremental_sync()

        apps = by(app.records("people"), "mail")
        hubs = by(fake.records("contacts").values(), "email")
        assert "Augusta" == apps["ada@example.com"].properties["first_name"]
        assert "Hopper" == hubs["grace@example.com"]["lastname"]
        assert "Newcomer" == apps["new@example.com"].properties["first_name"]
        assert 0 == report.failed
        again = engine.incremental_sync()
        assert 0 == again.created + again.updated

    def test_a_contact_deleted_in_hubspot_fails_as_deleted_and_nothing_is_deleted(
        self, fake, hub, app, index
    ):
        """R6, X3: the archived listing reports the deletion; the app keeps its record."""
        ada = fake.put("contacts", email="ada@example.com", firstname="Ada")
        engine = make_engine(hub, app, index, contacts_sync())
        engine.initial_sync()
        fake.archive("contacts", ada)

        engine.incremental_sync()

        (entry,) = list(index.entries("hubspot-sync"))
        assert RecordState.FAILED == entry.state
        assert ErrorCategory.DELETED == entry.category
        assert 1 == app.count("people")

    def test_a_record_hubspot_refuses_fails_alone_with_hubspots_message(
        self, fake, hub, app, index
    ):
        """X1, 207: HubSpot refuses one company of a batch; the others are created."""
        fake.add_property("companies", property_definition("vat_number", unique=True))
        app.put("accounts", company="Acme", website="acme.example", vat="DK1")
        app.put("accounts", company="Globex", website="globex.example", vat="DK2")
        app.put("accounts", company="Acme Twin", website="twin.example", vat="DK1")
        sync = ObjectSync(
            "companies",
            "accounts",
            [FieldMapping("name", "company"), FieldMapping("vat_number", "vat")],
            match=MatchRule.company(("name", "company"), ("domain", "website")),
        )

        make_engine(hub, app, index, sync).initial_sync()

        names = {p["name"] for p in fake.records("companies").values()}
        assert {"Acme", "Globex"} == names
        (failed,) = index.entries("hubspot-sync", states={RecordState.FAILED})
        assert ErrorCategory.DUPLICATE == failed.category
        assert "vat_number" in failed.message
        assert "correlationId" in failed.message

    def test_links_between_contacts_and_companies_are_created_on_both_sides(
        self, fake, hub, app, index
    ):
        """A1: a HubSpot link reaches the app, an app link reaches HubSpot (type 279)."""
        ada = fake.put("contacts", email="ada@example.com", firstname="Ada")
        acme = fake.put("companies", name="Acme", domain="acme.example")
        fake.link("contacts", ada, "companies", acme)
        globex = app.put("accounts", company="Globex", website="globex.example")
        grace = app.put("people", mail="grace@example.com", associations={"accounts": [globex.id]})
        engine = make_engine(
            hub, app, index, companies_sync(), contacts_sync(associations=("companies",))
        )

        engine.initial_sync()

        app_ada = by(app.records("people"), "mail")["ada@example.com"]
        app_acme = by(app.records("accounts"), "company")["acme"]
        assert {app_acme.id} == set(app_ada.associations.get("accounts", ()))
        contact_ids = {p["email"]: i for i, p in fake.records("contacts").items()}
        company_ids = {p["name"]: i for i, p in fake.records("companies").items()}
        hub_grace = contact_ids[grace.properties["mail"]]
        assert {company_ids["Globex"]} == fake.links("contacts", hub_grace, "companies")
        assert {hub_grace} == fake.links("companies", company_ids["Globex"], "contacts")


class TestOneDeclarationOfLinks:
    """A1: ``ObjectSync(associations=...)`` is enough; HubSpotAdapter reads what the
    engine asks for, without its own ``associations=`` repeating it."""

    def test_links_reach_both_sides_without_the_adapters_own_list(self, fake, app, index):
        """Today's main: the contact's link to its company never reaches the app."""
        hub = HubSpotAdapter(
            fake.token,
            transport=httpx.MockTransport(fake.handle),
            rate_limit=FAST,
            search_rate=FAST,
            consistency_window=0.0,
        )
        ada = fake.put("contacts", email="ada@example.com", firstname="Ada")
        acme = fake.put("companies", name="Acme", domain="acme.example")
        fake.link("contacts", ada, "companies", acme)
        globex = app.put("accounts", company="Globex", website="globex.example")
        app.put("people", mail="grace@example.com", associations={"accounts": [globex.id]})
        engine = make_engine(
            hub, app, index, companies_sync(), contacts_sync(associations=("companies",))
        )

        report = engine.initial_sync()

        assert 0 == report.failed
        app_ada = by(app.records("people"), "mail")["ada@example.com"]
        app_acme = by(app.records("accounts"), "company")["acme"]
        assert {app_acme.id} == set(app_ada.associations.get("accounts", ()))
        contact_ids = {p["email"]: i for i, p in fake.records("contacts").items()}
        company_ids = {p["name"]: i for i, p in fake.records("companies").items()}
        grace = contact_ids["grace@example.com"]
        assert {company_ids["Globex"]} == fake.links("contacts", grace, "companies")
        # A link made later in HubSpot is read by an incremental pass too.
        fake.link("contacts", grace, "companies", acme)
        assert 0 == engine.incremental_sync().failed
        app_grace = by(app.records("people"), "mail")["grace@example.com"]
        assert {globex.id, app_acme.id} == set(app_grace.associations["accounts"])
        hub.close()

    def test_the_hubspot_kind_of_a_config_file_needs_no_associations_option(
        self, fake, tmp_path, monkeypatch
    ):
        """The ``hubspot`` kind, served over HTTP: only the object sync names the link."""
        from syncengine.configfile import load

        ada = fake.put("contacts", email="ada@example.com", firstname="Ada")
        acme = fake.put("companies", name="Acme", domain="acme.example")
        fake.link("contacts", ada, "companies", acme)
        monkeypatch.setenv("FAKE_HUBSPOT_TOKEN", fake.token)
        with fake.serve() as url:
            path = tmp_path / "crm-shop.toml"
            path.write_text(
                f"""
sync_id = "crm-shop"
[hub]
kind = "hubspot"
token_env = "FAKE_HUBSPOT_TOKEN"
base_url = "{url}"
[app]
kind = "memory"
schemas.people.properties = [{{ name = "mail" }}, {{ name = "first_name" }}]
schemas.accounts.properties = [{{ name = "company" }}, {{ name = "website" }}]
[index]
kind = "memory"
[objects.companies]
app_type = "accounts"
match = {{ keys = [["name", "company"], ["domain", "website"]] }}
mappings = [["name", "company"], ["domain", "website"]]
[objects.contacts]
app_type = "people"
match = {{ keys = [["email", "mail"]] }}
mappings = [["email", "mail"], ["firstname", "first_name"]]
associations = ["companies"]
""",
                encoding="utf-8",
            )
            with load(path) as setup:
                assert 0 == setup.engine().initial_sync().failed
                (app_ada,) = setup.app.records("people")
                (app_acme,) = setup.app.records("accounts")
        assert {app_acme.id} == set(app_ada.associations.get("accounts", ()))


class TestDeals:
    """A3–A5 against HubSpot's pipelines API."""

    def test_deals_sync_in_mapped_stages_and_are_excluded_in_unmapped_ones(
        self, fake, hub, app, index
    ):
        """A3, A4: stages auto-map by label; a deal in an unmapped stage is excluded."""
        acme = fake.put("companies", name="Acme", domain="acme.example")
        won = fake.put(
            "deals",
            dealname="Big one",
            amount="1000.5",
            pipeline="default",
            dealstage="closedwon",
            closedate="2024-05-01T12:00:00.000Z",
        )
        fake.link("deals", won, "companies", acme)
        fake.put("deals", dealname="Stalled", pipeline="default", dealstage="contractsent")
        app.put("opportunities", title="From app", value=5, pipeline="main", stage="s1")
        engine = make_engine(hub, app, index, companies_sync(), deals_sync())

        engine.initial_sync()

        apps = by(app.records("opportunities"), "title")
        assert {"big one", "from app"} == set(apps)
        assert "s2" == apps["big one"].properties["stage"]
        assert 1000.5 == apps["big one"].properties["value"]
        assert dt.datetime(2024, 5, 1, 12, tzinfo=dt.UTC) == apps["big one"].properties["closes"]
        app_acme = by(app.records("accounts"), "company")["acme"]
        assert {app_acme.id} == set(apps["big one"].associations.get("accounts", ()))
        hubs = by(fake.records("deals").values(), "dealname")
        assert "appointmentscheduled" == hubs["from app"]["dealstage"]
        assert "default" == hubs["from app"]["pipeline"]
        excluded = list(index.entries("hubspot-sync", states={RecordState.EXCLUDED}))
        assert [ExcludeReason.UNMAPPED_STAGE] == [e.reason for e in excluded]

    def test_a_token_that_may_not_read_pipelines_is_a_clear_error(self, fake, hub, app, index):
        """A5: a 403 from the pipelines API stops the engine's build, naming the pipelines."""
        from syncengine import ConfigError

        fake.revoke("crm.objects.deals.read")
        with pytest.raises(ConfigError, match="pipelines"):
            make_engine(hub, app, index, companies_sync(), deals_sync())


class TestWebhooks:
    """S5 by push: HubSpot's webhook reaches the engine through WebhookReceiver."""

    def test_a_signed_webhook_syncs_the_changed_contact(self, fake, hub, app, index):
        """X5, S5: a v3-signed propertyChange event makes the engine fetch and sync."""
        ada = fake.put("contacts", email="ada@example.com", firstname="Ada")
        engine = make_engine(hub, app, index, contacts_sync())
        engine.initial_sync()
        fake.patch("contacts", ada, firstname="Augusta")
        now = dt.datetime(2024, 1, 1, tzinfo=dt.UTC)
        stamp = str(int(now.timestamp() * 1000))
        body = json.dumps(
            [
                {
                    "eventId": 1,
                    "subscriptionType": "contact.propertyChange",
                    "objectId": int(ada),
                    "occurredAt": int(stamp),
                    "propertyName": "firstname",
                    "propertyValue": "Augusta",
                }
            ]
        ).encode()
        url = "https://sync.example.com/hubspot/webhook"
        headers = {
            "X-HubSpot-Signature-v3": signature_v3("POST", url, body, stamp, SECRET),
            "X-HubSpot-Request-Timestamp": stamp,
        }
        receiver = WebhookReceiver(engine, SECRET, clock=lambda: now)

        assert (200, 1) == receiver.handle("POST", url, headers, body)
        engine.drain_inbox()  # what the next pass does
        assert (
            "Augusta"
            == by(app.records("people"), "mail")["ada@example.com"].properties["first_name"]
        )
        assert (401, 0) == receiver.handle("POST", url + "?x", headers, body)
