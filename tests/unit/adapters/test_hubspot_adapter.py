"""HubSpotAdapter against the local HubSpot: schema, scans, batches, pipelines, links."""

from __future__ import annotations

import datetime as dt
import json

import httpx
import pytest

from syncengine import AdapterError, ConfigError, ErrorCategory, PropertyType
from syncengine.adapters import AssociationChange, NewRecord, Pipeline, RecordUpdate, Stage
from syncengine.testing.hubspot import property_definition

TOKEN = "pat-na1-test-token"


def ADAPTER_DEFAULTS() -> dict[str, object]:
    """This module's adapters see every change at once (no consistency window)."""
    return {"consistency_window": 0.0}


@pytest.fixture
def adapter(make_adapter):
    """A default adapter."""
    return make_adapter()


def pages_of(adapter, object_type="contacts", since=None):
    """The pages of a scan."""
    return list(adapter.scan(object_type, since))


def ids_of(pages):
    """The record ids of some pages, in order."""
    return [r.id for page in pages for r in page.records]


def without_trace_ids(fake, *, answers_too=False):
    """A transport that strips objectWriteTraceId from requests (and answers): old clients."""

    def handle(request: httpx.Request) -> httpx.Response:
        if request.url.path.endswith(("/batch/create", "/batch/update")):
            body = json.loads(request.content)
            for item in body["inputs"]:
                item.pop("objectWriteTraceId", None)
            request = httpx.Request(request.method, request.url, headers=request.headers, json=body)
        response = fake.handle(request)
        if answers_too and response.content:
            data = json.loads(response.content)
            for item in data.get("results", ()):
                if isinstance(item, dict):
                    item.pop("objectWriteTraceId", None)
            return httpx.Response(response.status_code, json=data, headers=response.headers)
        return response

    return httpx.MockTransport(handle)


class TestSchema:
    """The properties API becomes an ObjectSchema (SPEC F4)."""

    def test_hubspot_types_become_property_types_with_options_read_only_and_unique(
        self, adapter, fake
    ):
        """type/fieldType, option values, readOnlyValue/calculated and hasUniqueValue."""
        fake.add_property("contacts", property_definition("birthday", "date"))
        fake.add_property("contacts", property_definition("member_no", unique=True))
        schema = adapter.schema("contacts")
        assert PropertyType.STRING == schema["firstname"].type
        assert PropertyType.STRING == schema["phone"].type
        assert PropertyType.DATE == schema["birthday"].type
        assert PropertyType.DATETIME == schema["lastmodifieddate"].type
        assert PropertyType.NUMBER == schema["hs_object_id"].type
        assert PropertyType.BOOL == schema["hs_email_optout"].type
        assert PropertyType.ENUM == schema["lifecyclestage"].type
        assert "customer" in schema["lifecyclestage"].options
        assert PropertyType.MULTI_ENUM == schema["hs_buying_role"].type
        assert schema["lastmodifieddate"].read_only
        assert schema["num_associated_deals"].read_only  # calculated
        assert not schema["firstname"].read_only
        assert schema["member_no"].unique
        assert schema["email"].unique  # HubSpot keeps contacts' e-mail unique
        assert not schema["firstname"].unique

    def test_custom_objects_have_the_required_properties_of_their_schema(self, adapter, fake):
        """requiredProperties of /crm/v3/schemas make properties required."""
        fake.add_object_type(
            "p_cars",
            [property_definition("name"), property_definition("year", "number")],
            required=["name"],
        )
        schema = adapter.schema("p_cars")
        assert ("name",) == schema.required
        assert "p_cars" == schema.name

    def test_an_unknown_object_type_is_not_found(self, adapter):
        """HubSpot cannot infer the type: NOT_FOUND."""
        with pytest.raises(AdapterError) as caught:
            adapter.schema("spaceships")
        assert ErrorCategory.NOT_FOUND == caught.value.category

    def test_properties_option_restricts_what_is_read_and_listed(self, make_adapter, fake):
        """properties={type: names} keeps list URLs short; the schema lists only those."""
        adapter = make_adapter(properties={"contacts": ["email", "firstname"]})
        assert ["email", "firstname"] == [s.name for s in adapter.schema("contacts")]
        fake.put("contacts", email="a@example.com", firstname="Ada", lastname="L")
        (record,) = [r for p in pages_of(adapter) for r in p.records]
        assert {"email": "a@example.com", "firstname": "Ada"} == dict(record.properties)
        with pytest.raises(ConfigError, match=r"^properties: .*'nope'") as caught:
            make_adapter(properties={"contacts": ["nope"]}).schema("contacts")
        assert "properties" == caught.value.path


class TestValues:
    """Python values travel as HubSpot's strings and come back as Python values."""

    def test_every_type_round_trips_through_hubspots_strings(self, adapter, fake):
        """Numbers, bools, dates, datetimes, options and multi-selects (reference §3)."""
        fake.add_property("contacts", property_definition("score", "number"))
        fake.add_property("contacts", property_definition("birthday", "date"))
        fake.add_property("contacts", property_definition("seen", "datetime"))
        values = {
            "email": "ada@example.com",
            "score": 12.5,
            "hs_email_optout": True,
            "birthday": dt.date(1815, 12, 10),
            "seen": dt.datetime(
                2024, 3, 4, 5, 6, 7, 891000, tzinfo=dt.timezone(dt.timedelta(hours=2))
            ),
            "lifecyclestage": "customer",
            "hs_buying_role": frozenset({"CHAMPION", "END_USER"}),
        }
        (result,) = adapter.create("contacts", [NewRecord(values, "k")])
        stored = fake.get("contacts", result.record_id)
        assert "12.5" == stored["score"]
        assert "true" == stored["hs_email_optout"]
        assert "1815-12-10" == stored["birthday"]
        assert "2024-03-04T03:06:07.891Z" == stored["seen"]
        assert "CHAMPION;END_USER" == stored["hs_buying_role"]
        record = adapter.fetch("contacts", [result.record_id])[result.record_id]
        expected = dict(values, seen=values["seen"].astimezone(dt.UTC))
        assert expected == {k: record.properties[k] for k in values}

    def test_a_value_of_the_wrong_type_fails_its_item_without_a_request(self, adapter, fake):
        """F5, X1: VALIDATION naming the property; the other items are written."""
        adapter.schema("contacts")
        before = len(fake.log)
        results = adapter.create(
            "contacts",
            [
                NewRecord({"email": "a@example.com", "lifecyclestage": "not-an-option"}, "1"),
                NewRecord({"email": "b@example.com"}, "2"),
            ],
        )
        assert ErrorCategory.VALIDATION == results[0].category
        assert "lifecyclestage" in results[0].message
        assert results[1].succeeded
        assert 1 == len(fake.log) - before

    def test_none_clears_a_property(self, adapter, fake):
        """An update to None sends "" and HubSpot clears the value."""
        record_id = fake.put("contacts", email="a@example.com", firstname="Ada")
        (result,) = adapter.update("contacts", [RecordUpdate(record_id, {"firstname": None})])
        assert result.succeeded
        assert "firstname" not in fake.get("contacts", record_id)


class TestFullScan:
    """scan(since=None): the list endpoint, by id, resumable."""

    def test_pages_follow_after_and_a_page_cursor_resumes_the_listing(self, make_adapter, fake):
        """Every record once, in id order; a page's cursor resumes after that page."""
        ids = [fake.put("contacts", email=f"c{i}@example.com") for i in range(23)]
        adapter = make_adapter(page_size=10)
        pages = pages_of(adapter)
        assert [10, 10, 3] == [len(p.records) for p in pages]
        assert ids == ids_of(pages)
        resumed = pages_of(adapter, since=pages[0].cursor)
        assert ids[10:] == ids_of(resumed)
        assert pages[-1].cursor == resumed[-1].cursor

    def test_a_change_made_during_a_full_scan_is_in_the_next_incremental_scan(
        self, make_adapter, fake, clock
    ):
        """The last cursor starts when the scan started: nothing changed meanwhile is lost."""
        ids = [fake.put("contacts", email=f"c{i}@example.com") for i in range(6)]
        adapter = make_adapter(page_size=2, read_ahead=False)
        pages = adapter.scan("contacts")
        first = next(iter(pages))
        clock.advance(1)
        fake.patch("contacts", ids[0], firstname="Changed after it was listed")
        rest = list(pages)
        changes = pages_of(adapter, since=rest[-1].cursor)
        assert [ids[0]] == ids_of(changes)
        assert ids[:2] == [r.id for r in first.records]

    def test_an_incremental_scan_right_after_a_full_scan_of_records_changed_at_once_is_empty(
        self, make_adapter, fake
    ):
        """Records sharing the newest millisecond are not yielded again."""
        for i in range(5):
            fake.put("contacts", email=f"c{i}@example.com")  # the clock does not move
        adapter = make_adapter(page_size=2)
        cursor = pages_of(adapter)[-1].cursor
        assert [] == ids_of(pages_of(adapter, since=cursor))

    def test_a_malformed_cursor_is_refused_when_scan_is_called(self, adapter):
        """Cursors are checked at once, with a message saying what is expected."""
        with pytest.raises(ValueError, match="cursor"):
            adapter.scan("contacts", "c:17")


class TestIncrementalScan:
    """scan(since=cursor): search on the last-modified property, and archived records."""

    def test_changes_past_the_search_cap_are_all_yielded_once(self, make_adapter, fake, clock):
        """A new search from the last time seen per page: HubSpot's cap never bites."""
        fake.search_cap = 50
        ids = [fake.put("contacts", email=f"c{i}@example.com") for i in range(500)]
        adapter = make_adapter(search_page_size=20)
        cursor = pages_of(adapter)[-1].cursor
        for n, record_id in enumerate(ids):
            clock.advance(0.001 * (n % 3))
            fake.patch("contacts", record_id, firstname=f"v{n}")

        changed = ids_of(pages_of(adapter, since=cursor))

        assert sorted(ids) == sorted(changed)
        assert len(ids) == len(changed)
        assert 400 not in fake.statuses("/search")

    def test_more_records_at_one_millisecond_than_a_page_holds_are_paged_by_id(
        self, make_adapter, fake, clock
    ):
        """450 changes in one millisecond: paged by hs_object_id, never looping."""
        cursor = pages_of(make_adapter())[-1].cursor
        clock.advance(1)
        ids = [fake.put("contacts", email=f"c{i}@example.com") for i in range(450)]
        adapter = make_adapter(search_page_size=100)

        changed = ids_of(pages_of(adapter, since=cursor))

        assert sorted(ids, key=int) == sorted(changed, key=int)
        assert len(changed) == len(set(changed))
        assert len(fake.statuses("/search")) < 15

    def test_a_record_changed_while_the_scan_pages_is_not_skipped(self, make_adapter, fake, clock):
        """Changing an already-yielded record never shifts a later one out of the scan."""
        ids = [fake.put("contacts", email=f"c{i}@example.com") for i in range(3)]
        adapter = make_adapter(search_page_size=5, read_ahead=False)
        cursor = pages_of(adapter)[-1].cursor
        later = []
        for n in range(12):
            clock.advance(0.01)
            later.append(fake.put("contacts", email=f"new{n}@example.com"))
        pages = iter(adapter.scan("contacts", cursor))
        first = next(pages)
        clock.advance(0.01)
        fake.patch("contacts", first.records[0].id, firstname="again")
        rest = list(pages)
        seen = ids_of([first, *rest])
        assert set(later) == set(seen)
        assert first.records[0].id in ids_of(rest)
        assert not set(ids) & set(seen)

    def test_deleted_records_are_reported_once_from_the_archived_listing(
        self, make_adapter, fake, clock
    ):
        """archivedAt after the cursor: in Page.deleted once, never as a live record."""
        ids = [fake.put("contacts", email=f"c{i}@example.com") for i in range(3)]
        adapter = make_adapter()
        cursor = pages_of(adapter)[-1].cursor
        clock.advance(1)
        fake.archive("contacts", ids[1])

        pages = pages_of(adapter, since=cursor)
        assert [ids[1]] == [i for p in pages for i in p.deleted]
        assert ids[1] not in ids_of(pages)
        again = pages_of(adapter, since=pages[-1].cursor)
        assert [] == [i for p in again for i in p.deleted]

    def test_the_consistency_window_finds_a_change_search_showed_late(
        self, make_adapter, fake, clock
    ):
        """Search is eventually consistent; a cursor trailing by the window still finds it."""
        early = fake.put("contacts", email="early@example.com")
        clock.advance(10)
        patient = make_adapter(consistency_window=30.0)
        hasty = make_adapter(consistency_window=0.0)
        cursors = {a: pages_of(a)[-1].cursor for a in (patient, hasty)}
        clock.advance(1)
        fake.search_delay = 20.0
        late = fake.put("contacts", email="late@example.com")  # indexed 20 s from now
        fake.search_delay = 0.0
        clock.advance(1)
        fake.put("contacts", email="quick@example.com")  # newer, and indexed at once
        clock.advance(1)
        for a in (patient, hasty):
            cursors[a] = pages_of(a, since=cursors[a])[-1].cursor
        clock.advance(30)

        assert [late] == ids_of(pages_of(patient, since=cursors[patient]))
        assert [] == ids_of(pages_of(hasty, since=cursors[hasty]))  # lost without the window
        assert early not in ids_of(pages_of(patient, since=cursors[patient]))

    def test_a_burst_of_changes_keeps_the_cursor_small_and_loses_nothing(
        self, make_adapter, fake, clock
    ):
        """2,500 changes inside the consistency window: the cursor remembers ≤ 2,000 ids."""
        adapter = make_adapter(consistency_window=30.0, search_page_size=200)
        cursor = pages_of(adapter)[-1].cursor
        ids = []
        for n in range(2500):
            if n % 100 == 0:
                clock.advance(0.01)
            ids.append(fake.put("contacts", email=f"c{n}@example.com"))

        pages = pages_of(adapter, since=cursor)

        assert sorted(ids, key=int) == sorted(ids_of(pages), key=int)
        assert len(json.loads(pages[-1].cursor[4:])["s"]) <= 2000
        assert [] == ids_of(pages_of(adapter, since=pages[-1].cursor))
        clock.advance(1)
        later = fake.put("contacts", email="later@example.com")
        assert [later] == ids_of(pages_of(adapter, since=pages[-1].cursor))


class TestWrites:
    """Batch create and update with objectWriteTraceId, 207 partial results."""

    def test_one_bad_item_fails_alone_with_hubspots_message(self, adapter, fake):
        """207: VALIDATION naming the property; the neighbours are created."""
        results = adapter.create(
            "contacts",
            [
                NewRecord({"email": "a@example.com"}, "1"),
                NewRecord({"email": "b@example.com", "no_such_property": "x"}, "2"),
                NewRecord({"email": "c@example.com"}, "3"),
            ],
        )
        assert [True, False, True] == [r.succeeded for r in results]
        assert ErrorCategory.VALIDATION == results[1].category
        assert "no_such_property" in results[1].message
        assert "correlationId" in results[1].message
        assert 2 == fake.count("contacts")

    def test_a_contact_with_an_existing_email_is_a_duplicate_naming_the_existing_id(
        self, adapter, fake
    ):
        """409 CONFLICT: DUPLICATE with "Existing ID: N", not a success (class docstring)."""
        existing = fake.put("contacts", email="ada@example.com")
        (result,) = adapter.create("contacts", [NewRecord({"email": "ADA@example.com"}, "k")])
        assert ErrorCategory.DUPLICATE == result.category
        assert f"Existing ID: {existing}" in result.message
        assert 1 == fake.count("contacts")

    def test_a_missing_required_property_of_a_custom_object_is_required_field_missing(
        self, adapter, fake
    ):
        """REQUIRED_PROPERTY errors become REQUIRED_FIELD_MISSING naming the property."""
        fake.add_object_type("p_cars", [property_definition("name")], required=["name"])
        (result,) = adapter.create("p_cars", [NewRecord({}, "k")])
        assert ErrorCategory.REQUIRED_FIELD_MISSING == result.category
        assert "name" in result.message

    def test_a_whole_failed_batch_is_split_until_the_bad_item_is_found(self, make_adapter, fake):
        """Without trace ids HubSpot fails the batch; the adapter isolates the bad item."""
        adapter = make_adapter(transport=without_trace_ids(fake))
        items = [NewRecord({"email": f"c{i}@example.com"}, str(i)) for i in range(8)]
        items[5] = NewRecord({"email": "c5@example.com", "bogus": "1"}, "5")

        results = adapter.create("contacts", items)

        assert [i != 5 for i in range(8)] == [r.succeeded for r in results]
        assert "bogus" in results[5].message
        assert 7 == fake.count("contacts")
        assert len(fake.statuses("/batch/create")) <= 7

    def test_answers_without_trace_ids_are_matched_in_input_order(self, make_adapter, fake):
        """An answer that does not echo objectWriteTraceId maps results in input order."""
        adapter = make_adapter(transport=without_trace_ids(fake, answers_too=True))
        results = adapter.create(
            "contacts", [NewRecord({"email": f"c{i}@example.com"}, str(i)) for i in range(3)]
        )
        stored = {fake.get("contacts", r.record_id)["email"] for r in results}
        assert [f"c{i}@example.com" for i in range(3)] == [
            fake.get("contacts", r.record_id)["email"] for r in results
        ]
        assert 3 == len(stored)

    def test_an_update_of_an_unknown_id_fails_alone_as_not_found(self, adapter, fake):
        """OBJECT_NOT_FOUND: NOT_FOUND; the other items are updated."""
        a = fake.put("contacts", email="a@example.com")
        b = fake.put("contacts", email="b@example.com")
        fake.archive("contacts", b)
        results = adapter.update(
            "contacts",
            [
                RecordUpdate(a, {"firstname": "Ada"}),
                RecordUpdate(b, {"firstname": "Gone"}),
                RecordUpdate("987654321", {"firstname": "Never"}),
            ],
        )
        assert [True, False, False] == [r.succeeded for r in results]
        assert {ErrorCategory.NOT_FOUND} == {results[1].category, results[2].category}
        assert "Ada" == fake.get("contacts", a)["firstname"]

    def test_two_updates_of_one_record_in_a_call_are_sent_in_order(self, adapter, fake):
        """HubSpot refuses a batch naming an id twice: the second goes in a later request."""
        a = fake.put("contacts", email="a@example.com")
        results = adapter.update(
            "contacts",
            [RecordUpdate(a, {"firstname": "One"}), RecordUpdate(a, {"lastname": "Two"})],
        )
        assert all(r.succeeded for r in results)
        assert ("One", "Two") == (
            fake.get("contacts", a)["firstname"],
            fake.get("contacts", a)["lastname"],
        )

    def test_more_than_100_items_are_refused(self, adapter):
        """The engine never sends more than max_batch_size; a caller that does is told."""
        with pytest.raises(AdapterError) as caught:
            adapter.create("contacts", [NewRecord({}, str(i)) for i in range(101)])
        assert ErrorCategory.VALIDATION == caught.value.category

    def test_fetch_leaves_out_archived_and_unknown_ids(self, adapter, fake):
        """Batch read: archived and unknown ids are absent (absent means deleted)."""
        a = fake.put("contacts", email="a@example.com", firstname="Ada")
        b = fake.put("contacts", email="b@example.com")
        fake.archive("contacts", b)
        found = adapter.fetch("contacts", [a, b, "987654321"])
        assert [a] == list(found)
        assert "Ada" == found[a].properties["firstname"]
        assert found[a].updated_at is not None


class TestPipelinesAndAssociations:
    """SPEC A1, A3, A5 through HubSpot's pipelines and associations v4 APIs."""

    def test_pipelines_come_with_their_stages_in_display_order(self, adapter, fake):
        """GET /crm/v3/pipelines/deals: pipelines and stages in HubSpot's order."""
        fake.set_pipelines(
            "deals",
            [
                Pipeline("default", "Sales", [Stage("a", "New"), Stage("b", "Won")]),
                Pipeline("renewals", "Renewals", [Stage("r1", "Open")]),
            ],
        )
        pipelines = adapter.pipelines("deals")
        assert ["default", "renewals"] == [p.id for p in pipelines]
        assert [Stage("a", "New"), Stage("b", "Won")] == list(pipelines[0].stages)

    def test_a_token_that_may_not_read_pipelines_raises_permission_naming_the_type(
        self, adapter, fake
    ):
        """A5: 403 is PERMISSION naming 'deals', never an empty list."""
        fake.revoke("crm.objects.deals.read")
        with pytest.raises(AdapterError) as caught:
            adapter.pipelines("deals")
        assert ErrorCategory.PERMISSION == caught.value.category
        assert "'deals'" in caught.value.message

    def test_a_type_without_pipelines_has_none(self, adapter):
        """Contacts have no pipelines: an empty tuple, not an error."""
        assert () == tuple(adapter.pipelines("contacts"))

    def test_associate_uses_hubspots_type_ids_and_records_carry_their_links(
        self, make_adapter, fake
    ):
        """contact→company is type 279; links read back through v4 batch read, both ways."""
        adapter = make_adapter(associations={"contacts": ["companies"], "companies": ["contacts"]})
        ada = fake.put("contacts", email="ada@example.com")
        acme = fake.put("companies", name="Acme")
        sent = []
        original = fake.handle

        def spy(request: httpx.Request) -> httpx.Response:
            if request.url.path.endswith("/batch/create"):
                sent.append(json.loads(request.content))
            return original(request)

        adapter = make_adapter(
            transport=httpx.MockTransport(spy),
            associations={"contacts": ["companies"], "companies": ["contacts"]},
        )
        results = adapter.associate(
            [
                AssociationChange("contacts", ada, "companies", acme),
                AssociationChange("contacts", ada, "companies", "987654321"),
            ]
        )
        assert results[0].succeeded
        assert ErrorCategory.NOT_FOUND == results[1].category
        assert 279 == sent[0]["inputs"][0]["types"][0]["associationTypeId"]
        assert {acme} == set(adapter.fetch("contacts", [ada])[ada].associations["companies"])
        companies = pages_of(adapter, "companies")
        assert {ada} == set(companies[0].records[0].associations["contacts"])
        (again,) = adapter.associate([AssociationChange("contacts", ada, "companies", acme)])
        assert again.succeeded

    def test_custom_objects_are_linked_with_the_default_association(self, adapter, fake):
        """Pairs without a known type id use batch/associate/default."""
        fake.add_object_type("p_cars", [property_definition("name")])
        car = fake.put("p_cars", name="Beetle")
        ada = fake.put("contacts", email="ada@example.com")
        (result,) = adapter.associate([AssociationChange("p_cars", car, "contacts", ada)])
        assert result.succeeded
        assert {ada} == fake.links("p_cars", car, "contacts")
        assert "/crm/v4/associations/p_cars/contacts/batch/associate/default" in {
            p for _, p, _ in fake.log
        }


class TestThreads:
    """The adapter is thread-safe: the engine may keep several batches in flight."""

    def test_concurrent_creates_from_threads_all_land_once(self, make_adapter, fake):
        """Eight threads creating at once: every contact once, no lost results."""
        from concurrent.futures import ThreadPoolExecutor

        adapter = make_adapter()

        def create(n: int) -> list[str]:
            items = [NewRecord({"email": f"t{n}-{i}@example.com"}, f"{n}-{i}") for i in range(20)]
            return [r.record_id for r in adapter.create("contacts", items)]

        with ThreadPoolExecutor(8) as pool:
            created = [i for ids in pool.map(create, range(8)) for i in ids]
        assert 160 == len(set(created))
        assert 160 == fake.count("contacts")

    def test_read_ahead_yields_the_same_pages_and_stops_cleanly_when_abandoned(
        self, make_adapter, fake
    ):
        """Pages read in a thread are the same; leaving a scan early stops the reader."""
        ids = [fake.put("contacts", email=f"c{i}@example.com") for i in range(30)]
        ahead = make_adapter(page_size=4, read_ahead=True)
        plain = make_adapter(page_size=4, read_ahead=False)
        assert ids_of(pages_of(plain)) == ids_of(pages_of(ahead))
        scan = iter(ahead.scan("contacts"))
        next(scan)
        scan.close()
        assert ids == ids_of(pages_of(ahead))

    def test_read_ahead_raises_the_readers_error_in_order(self, make_adapter, fake):
        """An error of a later page is raised after the earlier pages were yielded.

        The third page's request fails, however far the reader thread got when the test
        looks (a fault set after the first page once raced the reader: under load it
        had read every page before the fault was there)."""
        for i in range(9):
            fake.put("contacts", email=f"c{i}@example.com")
        listed: list[httpx.Request] = []

        def handle(request: httpx.Request) -> httpx.Response:
            if request.method == "GET" and request.url.path == "/crm/v3/objects/contacts":
                listed.append(request)
                if len(listed) == 3:
                    fake.fail(500, path="/objects/contacts")
            return fake.handle(request)

        adapter = make_adapter(
            page_size=4, read_ahead=True, max_retries=0, transport=httpx.MockTransport(handle)
        )
        adapter.schema("contacts")
        yielded = []
        scan = iter(adapter.scan("contacts"))
        yielded.append(next(scan))
        yielded.append(next(scan))
        with pytest.raises(AdapterError):
            next(scan)
        assert [4, 4] == [len(page.records) for page in yielded]
        assert 3 == len(listed)


def test_the_token_is_not_in_the_fakes_or_the_adapters_repr(make_adapter, fake):
    """X4: the adapter's repr names the service, never the token."""
    adapter = make_adapter()
    assert TOKEN not in repr(adapter)
    assert "api.hubapi.com" in repr(adapter)
