"""The adapter conformance kit run against HubSpotAdapter and the local HubSpot (issue 9)."""

from __future__ import annotations

import httpx
import pytest

from syncengine.adapters.hubspot import HubSpotAdapter, HubSpotOAuth
from syncengine.testing import AdapterTests, check_adapter
from syncengine.testing.hubspot import FakeHubSpot, ManualClock, property_definition

FAST = (100_000, 1.0)


def make_fake() -> FakeHubSpot:
    """A local HubSpot whose contacts have a property of every type, and a custom object."""
    fake = FakeHubSpot()
    for definition in (
        property_definition("score", "number"),
        property_definition("birthday", "date"),
        property_definition("last_seen", "datetime"),
        property_definition("vip", "bool"),
        property_definition("interests", "enumeration", "checkbox", options=("a", "b", "c")),
    ):
        fake.add_property("contacts", definition)
    fake.add_object_type(
        "p_cars",
        [
            property_definition("name"),
            property_definition("vin", unique=True),
            property_definition("year", "number"),
            property_definition("color", "enumeration", "radio", options=("red", "blue")),
            property_definition("syncengine_key", unique=True),
        ],
        required=["name"],
    )
    return fake


def make_adapter(fake: FakeHubSpot) -> HubSpotAdapter:
    """An adapter on the fake with small pages, so the kit crosses page boundaries.

    The kit holds every incremental scan to listing the deletions after its cursor, so
    the archived listing is swept on every scan here; with the default cadence a scan
    between sweeps leaves deletions to webhooks and the next sweep (tested in
    tests/integration/test_hubspot_deletions.py).
    """
    return HubSpotAdapter(
        fake.token,
        base_url="https://api.hubapi.com",
        transport=httpx.MockTransport(fake.handle),
        rate_limit=FAST,
        search_rate=FAST,
        page_size=5,
        search_page_size=7,
        associations={"contacts": ["companies"], "p_cars": ["contacts"]},
        archived_sweep_every=0,
        idempotency_properties={"p_cars": "syncengine_key"},
    )


class TestHubSpotContacts(AdapterTests):
    max_examples = 15
    association_type = "companies"

    @pytest.fixture
    def fake(self):
        return make_fake()

    @pytest.fixture
    def adapter(self, fake):
        adapter = make_adapter(fake)
        yield adapter
        adapter.close()

    @pytest.fixture
    def object_type(self):
        return "contacts"

    @pytest.fixture(autouse=True)
    def _remember_fake(self, fake):
        self._fake = fake

    def remove_record(self, adapter, object_type, record_id):
        self._fake.archive(object_type, record_id)

    def merge_records(self, adapter, object_type, primary_id, other_id):
        return self._fake.merge(object_type, primary_id, other_id)


class TestHubSpotCustomObject(TestHubSpotContacts):
    association_type = "contacts"

    @pytest.fixture
    def object_type(self):
        return "p_cars"


def test_check_adapter_passes_for_the_hubspot_adapter_on_the_local_hubspot():
    """check_adapter runs every check against fresh local HubSpots, deletions and
    merges included."""
    fakes: dict[int, FakeHubSpot] = {}

    def factory() -> HubSpotAdapter:
        fake = make_fake()
        adapter = make_adapter(fake)
        fakes[id(adapter)] = fake
        return adapter

    def remove(adapter, object_type, record_id):
        fakes[id(adapter)].archive(object_type, record_id)

    def merge(adapter, object_type, primary_id, other_id):
        return fakes[id(adapter)].merge(object_type, primary_id, other_id)

    check_adapter(
        factory,
        "contacts",
        max_examples=5,
        remove_record=remove,
        association_type="companies",
        merge_records=merge,
    )


class TestHubSpotOAuthOnAWidePortal(TestHubSpotContacts):
    """The whole kit with OAuth tokens that expire every 30 requests, on a portal whose
    120 long property names make every full scan read its pages with ``batch/read``
    (issue 19 §2, §3). Time is a ManualClock: each request takes 0.1 s, deterministically.
    """

    @pytest.fixture
    def fake(self):
        fake = make_fake()
        clock = ManualClock()
        fake._clock, fake._sleep, fake.latency = clock, clock.sleep, 0.1
        for i in range(120):  # 5.5 KB of names: more than a list URL may carry
            fake.add_property(
                "contacts", property_definition(f"wide_custom_property_with_long_name_{i:04d}")
            )
        self._clock = clock
        return fake

    @pytest.fixture
    def adapter(self, fake):
        fake.add_oauth_app("kit-client", "kit-secret", refresh_token="kit-refresh", lifetime=3)
        adapter = HubSpotAdapter(
            HubSpotOAuth("kit-client", "kit-secret", "kit-refresh"),
            base_url="https://api.hubapi.com",
            transport=httpx.MockTransport(fake.handle),
            rate_limit=FAST,
            search_rate=FAST,
            page_size=5,
            search_page_size=7,
            associations={"contacts": ["companies"], "p_cars": ["contacts"]},
            archived_sweep_every=0,  # the kit wants deletions on every scan (make_adapter)
            clock=self._clock,
            sleep=self._clock.sleep,
        )
        yield adapter
        adapter.close()
        assert 414 not in fake.statuses()
