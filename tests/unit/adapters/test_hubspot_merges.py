"""Merges and association-only changes, as HubSpot makes them (issue 19, items 5 and 6).

The local HubSpot learns HubSpot's merge since its merge change (a new record with a new
id, old ids read as it, both old records archived) and that a link moves no record's
last-modified time; the adapter reports merged ids as merges, never as deletions.
"""

from __future__ import annotations

import httpx
import pytest

from syncengine.testing.hubspot import MERGED_IDS, FakeHubSpot

TOKEN = "pat-na1-merge-token"


@pytest.fixture
def adapter(make_adapter):
    """The adapter on the local HubSpot."""
    return make_adapter(consistency_window=0.0, read_ahead=False)


def call(fake, method, path, **options):
    """One request to the local HubSpot."""
    with httpx.Client(transport=httpx.MockTransport(fake.handle), base_url="https://x") as http:
        return http.request(method, path, headers={"Authorization": f"Bearer {TOKEN}"}, **options)


def two_contacts(fake):
    """Ada (primary to be) and a second contact with values Ada lacks."""
    ada = fake.put("contacts", email="ada@example.com", firstname="Ada")
    other = fake.put("contacts", email="lovelace@example.com", firstname="Augusta", phone="+45 1")
    return ada, other


class TestTheFakeMerges:
    """What HubSpot does since its merge change (changelog: "Updated merge
    functionality for contacts and companies")."""

    def test_a_merge_makes_a_new_record_that_takes_the_primarys_values(self, fake):
        """A new id; the primary's values win, the other's fill the blanks."""
        ada, other = two_contacts(fake)

        merged = fake.merge("contacts", ada, other)

        assert merged not in (ada, other)
        record = fake.get("contacts", merged)
        assert "ada@example.com" == record["email"]
        assert "Ada" == record["firstname"]
        assert "+45 1" == record["phone"]
        assert "lovelace@example.com" == record["hs_additional_emails"]
        assert f"{ada};{other}" == record[MERGED_IDS]
        assert {merged} == set(fake.records("contacts"))

    def test_old_ids_read_as_the_merged_record_single_and_batch(self, fake):
        """GET and batch read of an old id answer the merged record under its new id."""
        ada, other = two_contacts(fake)
        merged = fake.merge("contacts", ada, other)

        single = call(fake, "GET", f"/crm/v3/objects/contacts/{other}")
        batch = call(
            fake,
            "POST",
            "/crm/v3/objects/contacts/batch/read",
            json={"inputs": [{"id": ada}, {"id": other}], "properties": [MERGED_IDS]},
        )

        assert 200 == single.status_code
        assert merged == single.json()["id"]
        assert 200 == batch.status_code
        assert [merged] == [r["id"] for r in batch.json()["results"]]
        assert f"{ada};{other}" == batch.json()["results"][0]["properties"][MERGED_IDS]

    def test_old_ids_are_archived_and_search_shows_only_the_merged_record(self, fake):
        """The archived listing holds both old ids; search finds the new one only."""
        ada, other = two_contacts(fake)
        merged = fake.merge("contacts", ada, other)

        archived = call(fake, "GET", "/crm/v3/objects/contacts", params={"archived": "true"})
        found = call(fake, "POST", "/crm/v3/objects/contacts/search", json={"limit": 10})

        assert {ada, other} == {r["id"] for r in archived.json()["results"]}
        assert [merged] == [r["id"] for r in found.json()["results"]]

    def test_links_move_to_the_merged_record(self, fake):
        """Both records' companies are the merged record's; the companies point back."""
        ada, other = two_contacts(fake)
        acme = fake.put("companies", name="Acme")
        globex = fake.put("companies", name="Globex")
        fake.link("contacts", ada, "companies", acme)
        fake.link("contacts", other, "companies", globex)

        merged = fake.merge("contacts", ada, other)

        assert {acme, globex} == fake.links("contacts", merged, "companies")
        assert {merged} == fake.links("companies", acme, "contacts")
        assert {merged} == fake.links("companies", globex, "contacts")

    def test_the_merge_endpoint_answers_the_official_client(self, fake):
        """POST /crm/v3/objects/contacts/merge, through hubspot-api-client."""
        hubspot = pytest.importorskip("hubspot", reason="the official client is test-only")
        from hubspot.crm.contacts import PublicMergeInput

        ada, other = two_contacts(fake)
        with fake.serve() as url:
            client = hubspot.Client.create(access_token=TOKEN, host=url)
            answer = client.crm.contacts.basic_api.merge(
                PublicMergeInput(primary_object_id=ada, object_id_to_merge=other)
            )
        assert answer.id not in (ada, other)
        assert "ada@example.com" == answer.properties["email"]

    def test_a_merge_records_hubspots_merge_webhook_event(self, fake):
        """contact.merge with primaryObjectId, mergedObjectIds and newObjectId; not the
        deletions and the creation the merge is made of."""
        ada, other = two_contacts(fake)
        fake.subscribe("contact.merge", "contact.deletion", "contact.creation")
        merged = fake.merge("contacts", ada, other)

        (event,) = fake.webhook_events()

        assert "contact.merge" == event["subscriptionType"]
        assert int(merged) == event["objectId"] == event["newObjectId"]
        assert int(ada) == event["primaryObjectId"]
        assert [int(other)] == event["mergedObjectIds"]


class TestTheFakesLinks:
    """A link is not a property change (airbytehq/airbyte issues 14390, 27199)."""

    def test_a_link_moves_no_records_last_modified_time(self, fake, clock):
        """Search on lastmodifieddate cannot see an association-only change."""
        ada, _ = two_contacts(fake)
        acme = fake.put("companies", name="Acme")
        before = fake.get("contacts", ada)["lastmodifieddate"]
        clock.advance(60)

        fake.link("contacts", ada, "companies", acme)
        fake.unlink("contacts", ada, "companies", acme)

        assert before == fake.get("contacts", ada)["lastmodifieddate"]

    def test_links_record_association_change_events_for_both_records(self, fake):
        """One contact.associationChange and one company.associationChange per change."""
        ada, _ = two_contacts(fake)
        acme = fake.put("companies", name="Acme")
        fake.subscribe("contact.associationChange", "company.associationChange")

        fake.link("contacts", ada, "companies", acme)
        fake.unlink("contacts", ada, "companies", acme)

        events = fake.webhook_events()
        kinds = [
            (e["subscriptionType"], e["associationType"], e["associationRemoved"]) for e in events
        ]
        assert [
            ("contact.associationChange", "CONTACT_TO_COMPANY", False),
            ("company.associationChange", "COMPANY_TO_CONTACT", False),
            ("contact.associationChange", "CONTACT_TO_COMPANY", True),
            ("company.associationChange", "COMPANY_TO_CONTACT", True),
        ] == kinds
        assert (int(ada), int(acme)) == (events[0]["fromObjectId"], events[0]["toObjectId"])

    def test_both_events_of_one_link_carry_one_time(self):
        """One link is one change: its two events have one ``occurredAt``, however the
        clock moves while the fake records them (a receiver keys duplicates on it, so a
        millisecond tick between them once made a delivery count four events, not two)."""
        ticks = iter(range(1_700_000_000_000, 1_800_000_000_000))
        fake = FakeHubSpot(token=TOKEN, clock=lambda: next(ticks) / 1000)
        ada, _ = two_contacts(fake)
        acme = fake.put("companies", name="Acme")
        fake.subscribe("contact.associationChange", "company.associationChange")

        fake.link("contacts", ada, "companies", acme)
        fake.unlink("contacts", ada, "companies", acme)

        linked, unlinked = fake.webhook_events()[:2], fake.webhook_events()[2:]
        assert 1 == len({e["occurredAt"] for e in linked})
        assert 1 == len({e["occurredAt"] for e in unlinked})
        assert linked[0]["occurredAt"] < unlinked[0]["occurredAt"]


class TestTheAdapterMapsMergesBack:
    """Item 5: a merged id is a move to the merged record, never a deletion."""

    def test_fetch_of_an_old_id_yields_the_merged_record(self, fake, adapter):
        """fetch([old]) -> {old: Record(id=new)}: the adapter reports the mapping."""
        ada, other = two_contacts(fake)
        merged = fake.merge("contacts", ada, other)

        found = adapter.fetch("contacts", [ada, other, "999999"])

        assert {ada, other} == set(found)
        assert merged == found[ada].id == found[other].id
        assert "+45 1" == found[ada].properties["phone"]

    def test_an_incremental_scan_reports_a_merge_not_two_deletions(self, fake, adapter, clock):
        """The merged record's page names the old ids; the archived ids are no deletions."""
        ada, other = two_contacts(fake)
        gone = fake.put("contacts", email="gone@example.com")
        cursor = list(adapter.scan("contacts"))[-1].cursor
        clock.advance(5)
        merged = fake.merge("contacts", ada, other)
        fake.archive("contacts", gone)

        pages = list(adapter.scan("contacts", cursor))

        assert [merged] == [r.id for p in pages for r in p.records]
        assert [gone] == [i for p in pages for i in p.deleted]
        moves = {}
        for page in pages:
            moves.update(page.merged)
        assert {ada: merged, other: merged} == moves

    def test_a_full_scan_names_the_ids_merged_into_each_record(self, fake, adapter):
        """Page.merged of a full scan, from hs_merged_object_ids."""
        ada, other = two_contacts(fake)
        merged = fake.merge("contacts", ada, other)

        (page,) = list(adapter.scan("contacts"))

        assert {ada: merged, other: merged} == dict(page.merged)
