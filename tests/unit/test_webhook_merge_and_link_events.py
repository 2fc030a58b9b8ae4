"""HubSpot's merge and associationChange events become the right ChangeEvents (issue 19).

Event shapes: developers.hubspot.com changelog "New subscription types for Webhooks"
(merge: primaryObjectId, mergedObjectIds, newObjectId; association change:
associationType, fromObjectId, toObjectId, associationRemoved) and "Public Beta: Generic
Webhook Subscriptions" (object.associationChange with fromObjectTypeId / toObjectTypeId).
"""

from __future__ import annotations

import json

from syncengine import ChangeEvent
from syncengine.webhooks import parse_events


def ids(events: list[ChangeEvent]) -> list[tuple[str, str, str]]:
    """(type, id, kind) of each change."""
    return [(e.object_type, e.record_id, e.kind) for e in events]


def events_of(event: dict) -> list[ChangeEvent]:
    """The changes of one event, delivered alone."""
    return parse_events(json.dumps([event]))


def test_a_merge_names_the_new_record_and_every_old_id():
    """The new record first, then the primary and the merged ids: reading them re-pairs."""
    event = {
        "subscriptionType": "contact.merge",
        "objectId": 103,
        "newObjectId": 103,
        "primaryObjectId": 101,
        "mergedObjectIds": [102],
        "numberOfPropertiesMoved": 2,
        "occurredAt": 1_700_000_000_000,
    }
    assert [
        ("contacts", "103", "updated"),
        ("contacts", "101", "updated"),
        ("contacts", "102", "updated"),
    ] == ids(events_of(event))


def test_the_generic_association_event_names_both_ends_by_type_id():
    """object.associationChange: fromObjectTypeId 0-1, toObjectTypeId 0-2 (main lost the
    company, and named the contact by the event's own type only)."""
    body = json.dumps(
        [
            {
                "subscriptionType": "object.associationChange",
                "objectTypeId": "0-1",
                "fromObjectTypeId": "0-1",
                "toObjectTypeId": "0-2",
                "fromObjectId": 101,
                "toObjectId": 201,
                "associationTypeId": 279,
                "associationCategory": "HUBSPOT_DEFINED",
                "associationRemoved": False,
            }
        ]
    )
    assert [("contacts", "101", "updated"), ("companies", "201", "updated")] == ids(
        parse_events(body)
    )


def test_association_types_with_a_label_suffix_name_both_ends():
    """CONTACT_TO_COMPANY_UNLABELED and LINE_ITEM_TO_DEAL: the ends are the leading words
    (main dropped the company of the first)."""
    first = {
        "subscriptionType": "contact.associationChange",
        "associationType": "CONTACT_TO_COMPANY_UNLABELED",
        "fromObjectId": 101,
        "toObjectId": 201,
    }
    second = {
        "subscriptionType": "line_item.associationChange",
        "associationType": "LINE_ITEM_TO_DEAL",
        "fromObjectId": 7,
        "toObjectId": 8,
    }
    assert [("contacts", "101", "updated"), ("companies", "201", "updated")] == ids(
        events_of(first)
    )
    assert [("line_items", "7", "updated"), ("deals", "8", "updated")] == ids(events_of(second))


def test_an_association_type_naming_no_known_end_keeps_the_events_own_record():
    """PARENT_TO_CHILD_COMPANY: the from end is the event's own company; the other end
    arrives in its own event."""
    event = {
        "subscriptionType": "company.associationChange",
        "associationType": "PARENT_TO_CHILD_COMPANY",
        "fromObjectId": 5,
        "toObjectId": 6,
    }
    assert [("companies", "5", "updated"), ("companies", "6", "updated")] == ids(events_of(event))


def test_one_stored_event_gives_what_its_delivery_gives():
    """events_of, for a store of verified events (the webhook inbox), agrees with
    parse_events."""
    from syncengine.webhooks import events_of as one

    event = {
        "subscriptionType": "company.merge",
        "objectId": 9,
        "newObjectId": 9,
        "primaryObjectId": 7,
        "mergedObjectIds": [8],
        "occurredAt": 1_700_000_000_000,
    }
    assert parse_events(json.dumps([event])) == one(event)
