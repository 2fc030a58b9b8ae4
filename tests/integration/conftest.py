"""Fixtures for end-to-end tests: two in-memory apps and each index store."""

from __future__ import annotations

from datetime import UTC, datetime, timedelta
from typing import Any

import httpx
import pytest

from syncengine import (
    FieldMapping,
    MatchRule,
    ObjectSchema,
    ObjectSync,
    PropertySpec,
    SyncConfig,
    SyncEngine,
)
from syncengine.adapters import InMemoryAdapter
from syncengine.adapters.hubspot import HubSpotAdapter
from syncengine.index import MemoryIndexStore, SQLiteIndexStore
from syncengine.testing.hubspot import FakeHubSpot, ManualClock


class FakeClock:
    """A clock that moves only when told (time is injected, DESIGN §4)."""

    def __init__(self) -> None:
        self.now = datetime(2024, 1, 1, tzinfo=UTC)

    def __call__(self) -> datetime:
        return self.now

    def advance(self, seconds: float = 1.0) -> None:
        self.now += timedelta(seconds=seconds)


@pytest.fixture(params=["memory", "sqlite"])
def index(request, tmp_path):
    """Each index store in turn."""
    if request.param == "memory":
        store = MemoryIndexStore()
    else:
        store = SQLiteIndexStore(tmp_path / "index.db")
    yield store
    store.close()


@pytest.fixture
def clock():
    """A controllable clock."""
    return FakeClock()


CONTACTS_HUB = ObjectSchema(
    "contacts",
    [
        PropertySpec("email", "string"),
        PropertySpec("firstname", "string"),
        PropertySpec("lastname", "string"),
        PropertySpec("phone", "string"),
        PropertySpec("age", "number"),
        PropertySpec("lifecyclestage", "enum", options=("lead", "customer")),
    ],
)
CONTACTS_APP = ObjectSchema(
    "people",
    [
        PropertySpec("mail", "string"),
        PropertySpec("first_name", "string"),
        PropertySpec("last_name", "string"),
        PropertySpec("tel", "string"),
        PropertySpec("age", "number"),
        PropertySpec("stage", "enum", options=("Lead", "Customer")),
    ],
)
COMPANIES_HUB = ObjectSchema(
    "companies", [PropertySpec("name", "string"), PropertySpec("domain", "string")]
)
COMPANIES_APP = ObjectSchema(
    "accounts", [PropertySpec("company", "string"), PropertySpec("website", "string")]
)

CONTACT_MAPPINGS = (
    FieldMapping("email", "mail"),
    FieldMapping("firstname", "first_name"),
    FieldMapping("lastname", "last_name"),
    FieldMapping("phone", "tel"),
    FieldMapping("age", "age"),
    FieldMapping("lifecyclestage", "stage", options={"lead": "Lead", "customer": "Customer"}),
)


def contacts_sync(**changes) -> ObjectSync:
    """The contacts ↔ people object sync used across these tests."""
    fields = {
        "hub_type": "contacts",
        "app_type": "people",
        "mappings": CONTACT_MAPPINGS,
        "match": MatchRule.email("email", "mail"),
        **changes,
    }
    return ObjectSync(**fields)


def companies_sync(**changes) -> ObjectSync:
    """The companies ↔ accounts object sync (name or domain match, M2)."""
    fields = {
        "hub_type": "companies",
        "app_type": "accounts",
        "mappings": (FieldMapping("name", "company"), FieldMapping("domain", "website")),
        "match": MatchRule.company(("name", "company"), ("domain", "website")),
        **changes,
    }
    return ObjectSync(**fields)


@pytest.fixture
def hub(clock):
    """The hub app: contacts and companies."""
    return InMemoryAdapter([CONTACTS_HUB, COMPANIES_HUB], name="hub", clock=clock, id_prefix="h")


@pytest.fixture
def app(clock):
    """The connected app: people and accounts."""
    return InMemoryAdapter(
        [CONTACTS_APP, COMPANIES_APP], name="app", clock=clock, id_prefix="a", page_size=7
    )


@pytest.fixture
def make_engine(hub, app, index, clock):
    """Build an engine over the fixtures' apps and index with a given config."""

    def make(*objects: ObjectSync, sync_id: str = "sync-1", **kwargs) -> SyncEngine:
        config = SyncConfig(sync_id, list(objects) or [contacts_sync()])
        kwargs.setdefault("sleep", clock.advance)  # waiting moves the fake clock only
        return SyncEngine(
            kwargs.pop("hub", hub), kwargs.pop("app", app), index, config, clock=clock, **kwargs
        )

    return make


@pytest.fixture(name="contacts_sync")
def contacts_sync_fixture():
    """The builder of the contacts object sync."""
    return contacts_sync


@pytest.fixture(name="companies_sync")
def companies_sync_fixture():
    """The builder of the companies object sync."""
    return companies_sync


# ---- the HubSpot and webhook tests ---------------------------------------------------------

#: The app of the HubSpot and webhook tests: people with an e-mail and a first name.
MAIL_PEOPLE = ObjectSchema(
    "people", [PropertySpec("mail", "string"), PropertySpec("first", "string")]
)


def email_first_config(sync_id: str) -> SyncConfig:
    """HubSpot's contacts ↔ the app's people (:data:`MAIL_PEOPLE`), matched by e-mail,
    with the first name: the sync of the HubSpot and webhook tests."""
    return SyncConfig(
        sync_id,
        [
            ObjectSync(
                "contacts",
                "people",
                [FieldMapping("email", "mail"), FieldMapping("firstname", "first")],
                match=MatchRule.email("email", "mail"),
            )
        ],
    )


def hubspot_on(
    fake: FakeHubSpot,
    clock: ManualClock,
    transport: httpx.BaseTransport | None = None,
    **options: Any,
) -> HubSpotAdapter:
    """A HubSpotAdapter on the local HubSpot (through ``transport``, by default straight
    to it), unpaced, on injected time (``clock`` as its clock, sleep and ``now``), reading
    no page ahead so that the order of requests is the test's; ``options`` add to these."""
    return HubSpotAdapter(
        fake.token,
        transport=transport if transport is not None else httpx.MockTransport(fake.handle),
        rate_limit=(100_000, 1.0),
        search_rate=(100_000, 1.0),
        clock=clock,
        sleep=clock.sleep,
        now=clock,
        read_ahead=False,
        **options,
    )
