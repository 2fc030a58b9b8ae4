"""HubSpot webhooks: signatures (SPEC X5), events, and the receiver (issue 9)."""

from __future__ import annotations

import datetime as dt
import json
import logging

import pytest

from syncengine import (
    AdapterError,
    ChangeEvent,
    ErrorCategory,
    IndexStoreError,
    Side,
    SyncDisabledError,
    _inbox,
)
from syncengine.index import IndexStore, MemoryIndexStore
from syncengine.webhooks import (
    WebhookError,
    WebhookReceiver,
    parse_events,
    signature_v3,
    verify_request,
)

# The reference test vector (shared/reference/hubspot.md §5, from HubSpot's Python client).
SECRET = "yyyyyyyy-yyyy-yyyy-yyyy-yyyyyyyyyyyy"
URI = "https://www.example.com/webhook_uri"
BODY = "{'example_field':'example_value'}"
TIMESTAMP = "1693657560000"
SIGNATURE = "K36dawei4A+QBNolUOqo7s91KQDWQ5MXZ/QufNYuk/Y="
SENT = dt.datetime(2023, 9, 2, 12, 26, tzinfo=dt.UTC)  # = 1693657560000 ms


def v3_headers(signature=SIGNATURE, timestamp=TIMESTAMP):
    """The headers of a v3-signed request."""
    return {"X-HubSpot-Signature-v3": signature, "X-HubSpot-Request-Timestamp": timestamp}


class TestV3:
    """HMAC-SHA256 of method + URI + body + timestamp, base64, fresh (reference §5)."""

    def test_the_reference_test_vector_verifies(self):
        """The documented vector passes a minute after it was sent."""
        verify_request("POST", URI, v3_headers(), BODY, SECRET, now=SENT + dt.timedelta(minutes=1))

    def test_the_reference_test_vector_computes_the_documented_signature(self):
        """signature_v3 gives the documented value."""
        assert SIGNATURE == signature_v3("POST", URI, BODY.encode(), TIMESTAMP, SECRET)

    def test_the_official_clients_own_vector_computes_its_signature(self):
        """HubSpot's client test: timestamp 15000000 gives HPW73R…cQw=."""
        expected = "HPW73RUtKmcYoEDADG0s6MmGFWUzWJKAW07r8RDgcQw="
        assert expected == signature_v3("POST", URI, BODY, "15000000", SECRET)

    def test_a_request_older_than_five_minutes_is_refused(self):
        """X5: a replay of a captured request is stale after 5 minutes."""
        with pytest.raises(WebhookError) as caught:
            verify_request(
                "POST",
                URI,
                v3_headers(),
                BODY,
                SECRET,
                now=SENT + dt.timedelta(minutes=5, seconds=1),
            )
        assert "stale_timestamp" == caught.value.reason

    def test_a_timestamp_far_in_the_future_is_refused(self):
        """A timestamp more than 5 minutes ahead means a wrong clock or a forgery."""
        with pytest.raises(WebhookError) as caught:
            verify_request(
                "POST", URI, v3_headers(), BODY, SECRET, now=SENT - dt.timedelta(minutes=6)
            )
        assert "stale_timestamp" == caught.value.reason

    @pytest.mark.parametrize(
        ("method", "url", "body", "secret"),
        [
            ("POST", URI, BODY + " ", SECRET),
            ("PUT", URI, BODY, SECRET),
            ("POST", URI + "?x=1", BODY, SECRET),
            ("POST", URI, BODY, "another-secret"),
        ],
    )
    def test_anything_changed_breaks_the_signature(self, method, url, body, secret):
        """Body, method, URL and secret are all signed."""
        with pytest.raises(WebhookError) as caught:
            verify_request(method, url, v3_headers(), body, secret, now=SENT)
        assert "bad_signature" == caught.value.reason

    def test_the_message_never_holds_the_secret_or_the_expected_signature(self):
        """X4: a refusal says why, not what would have passed."""
        with pytest.raises(WebhookError) as caught:
            verify_request("POST", URI, v3_headers(signature="AAAA"), BODY, SECRET, now=SENT)
        assert SECRET not in str(caught.value)
        assert SIGNATURE not in str(caught.value)

    def test_the_uri_is_signed_with_the_documented_escapes_decoded(self):
        """%3A %2F %3F %40 %21 %24 %27 %28 %29 %2A %2C %3B are decoded before signing."""
        encoded = "https://www.example.com/hook%3Fa%3Db%40c%2Cd"
        decoded = "https://www.example.com/hook?a%3Db@c,d"
        signature = signature_v3("POST", decoded, BODY, TIMESTAMP, SECRET)
        verify_request("POST", encoded, v3_headers(signature=signature), BODY, SECRET, now=SENT)

    def test_header_names_are_case_insensitive_and_the_body_may_be_bytes(self):
        """Frameworks lower-case headers; the raw body arrives as bytes."""
        headers = {k.lower(): v for k, v in v3_headers().items()}
        verify_request("post", URI, headers, BODY.encode(), SECRET, now=SENT)

    def test_a_v3_signature_without_a_timestamp_is_refused(self):
        """No timestamp, no freshness: refused."""
        with pytest.raises(WebhookError) as caught:
            verify_request(
                "POST", URI, {"X-HubSpot-Signature-v3": SIGNATURE}, BODY, SECRET, now=SENT
            )
        assert "missing_timestamp" == caught.value.reason

    def test_an_unsigned_request_is_refused(self):
        """No signature header at all: refused."""
        with pytest.raises(WebhookError) as caught:
            verify_request("POST", URI, {}, BODY, SECRET, now=SENT)
        assert "missing_signature" == caught.value.reason


class TestLegacySignatures:
    """v1 and v2: hex SHA-256 without HMAC or timestamp (reference §5)."""

    DOCS_V1 = "232db2615f3d666fe21a8ec971ac7b5402d33b9a925784df3ca654d05f4817de"
    DOCS_BODY = (
        '[{"eventId":1,"subscriptionId":12345,"portalId":62515,"occurredAt":1564113600000,'
        '"subscriptionType":"contact.creation","attemptNumber":0,"objectId":123,'
        '"changeSource":"CRM","changeFlag":"NEW","appId":54321}]'
    )

    def test_the_documented_v1_example_verifies_with_legacy(self):
        """The docs' sample body signs to 232db261…17de."""
        headers = {
            "X-HubSpot-Signature": self.DOCS_V1,
            "X-HubSpot-Signature-Version": "v1",
        }
        verify_request("POST", URI, headers, self.DOCS_BODY, SECRET, legacy=True)

    @pytest.mark.parametrize(
        ("method", "body", "signature"),
        [
            ("POST", BODY, "4fe4e3a7d3cf09db53be39d0a58130e2aaba074ec123a9e355b876a689a1c383"),
            ("GET", "", "eee2dddcc73c94d699f5e395f4b9d454a069a6855fbfa152e91e88823087200e"),
        ],
    )
    def test_the_documented_v2_examples_verify_with_legacy(self, method, body, signature):
        """The official client's v2 vectors (POST with a body, GET without)."""
        headers = {"X-HubSpot-Signature": signature, "X-HubSpot-Signature-Version": "v2"}
        verify_request(method, URI, headers, body, SECRET, legacy=True)

    def test_legacy_signatures_are_refused_unless_asked_for(self):
        """X5: without a timestamp a replay cannot be told apart, so v1 needs legacy=True."""
        headers = {"X-HubSpot-Signature": self.DOCS_V1}
        with pytest.raises(WebhookError) as caught:
            verify_request("POST", URI, headers, self.DOCS_BODY, SECRET)
        assert "legacy_signature" == caught.value.reason

    def test_a_wrong_v1_signature_is_refused(self):
        """A v1 signature of another body fails."""
        headers = {"X-HubSpot-Signature": "0" * 64, "X-HubSpot-Signature-Version": "v1"}
        with pytest.raises(WebhookError) as caught:
            verify_request("POST", URI, headers, self.DOCS_BODY, SECRET, legacy=True)
        assert "bad_signature" == caught.value.reason


def event(**fields):
    """One webhook event with defaults."""
    base = {
        "eventId": 1,
        "subscriptionId": 25,
        "portalId": 33,
        "appId": 1160452,
        "occurredAt": 1462216307945,
        "subscriptionType": "contact.propertyChange",
        "attemptNumber": 0,
        "objectId": 1246965,
    }
    base.update(fields)
    return base


def payload(*events):
    """A webhook body."""
    return json.dumps(list(events)).encode()


OCCURRED = dt.datetime(2016, 5, 2, 19, 11, 47, 945000, tzinfo=dt.UTC)


class TestParseEvents:
    """Payloads become ChangeEvents (SPEC S5)."""

    @pytest.mark.parametrize(
        ("subscription", "object_type", "kind"),
        [
            ("contact.creation", "contacts", "created"),
            ("contact.propertyChange", "contacts", "updated"),
            ("contact.deletion", "contacts", "deleted"),
            ("contact.privacyDeletion", "contacts", "deleted"),
            ("contact.restore", "contacts", "updated"),
            ("company.creation", "companies", "created"),
            ("deal.propertyChange", "deals", "updated"),
            ("ticket.deletion", "tickets", "deleted"),
            ("line_item.creation", "line_items", "created"),
        ],
    )
    def test_the_subscription_type_gives_the_object_type_and_kind(
        self, subscription, object_type, kind
    ):
        """Prefix → HubSpot object type, action → created/updated/deleted."""
        (change,) = parse_events(payload(event(subscriptionType=subscription)))
        assert ChangeEvent(object_type, "1246965", kind, OCCURRED) == change

    def test_event_type_is_accepted_where_subscription_type_is_missing(self):
        """The docs table calls it eventType; real payloads say subscriptionType."""
        raw = event(eventType="company.creation")
        del raw["subscriptionType"]
        assert ["companies"] == [e.object_type for e in parse_events(payload(raw))]

    def test_occurred_at_becomes_an_aware_utc_datetime(self):
        """Epoch milliseconds → timezone-aware UTC."""
        (change,) = parse_events(payload(event()))
        assert OCCURRED == change.occurred_at
        assert dt.UTC == change.occurred_at.tzinfo

    def test_duplicates_are_dropped(self):
        """Same object, type, kind and time (two property changes) once; a retry once."""
        body = payload(
            event(eventId=1, propertyName="firstname"),
            event(eventId=2, propertyName="lastname"),
            event(eventId=1, propertyName="firstname", attemptNumber=1),
            event(eventId=3, occurredAt=1462216307999),
        )
        changes = parse_events(body)
        assert 2 == len(changes)
        assert [OCCURRED, OCCURRED + dt.timedelta(milliseconds=54)] == [
            c.occurred_at for c in changes
        ]

    def test_the_same_event_id_for_another_object_is_kept(self):
        """eventId is not unique at HubSpot: it never drops another object's change."""
        changes = parse_events(payload(event(eventId=7, objectId=1), event(eventId=7, objectId=2)))
        assert ["1", "2"] == [c.record_id for c in changes]

    def test_a_merge_names_the_primary_and_the_merged_records(self):
        """merge → updated, for every id involved (fetching them tells what is left)."""
        raw = event(
            subscriptionType="contact.merge",
            objectId=10,
            primaryObjectId=10,
            mergedObjectIds=[11, 12],
            newObjectId=10,
        )
        assert {"10", "11", "12"} == {c.record_id for c in parse_events(payload(raw))}
        assert {"updated"} == {c.kind for c in parse_events(payload(raw))}

    def test_an_association_change_updates_both_linked_records(self):
        """associationChange → updated, for the from and the to record, by their types."""
        raw = event(
            subscriptionType="contact.associationChange",
            associationType="CONTACT_TO_COMPANY",
            fromObjectId=5,
            toObjectId=9,
        )
        del raw["objectId"]
        changes = parse_events(payload(raw))
        assert {("contacts", "5"), ("companies", "9")} == {
            (c.object_type, c.record_id) for c in changes
        }

    def test_generic_object_events_use_the_object_type_id(self):
        """object.* events carry objectTypeId: 0-1 is contacts, custom ids stay ids."""
        body = payload(
            event(subscriptionType="object.creation", objectTypeId="0-1", objectId=1),
            event(subscriptionType="object.propertyChange", objectTypeId="2-3456", objectId=2),
        )
        assert [("contacts", "created"), ("2-3456", "updated")] == [
            (c.object_type, c.kind) for c in parse_events(body)
        ]

    def test_events_that_are_not_records_are_skipped(self):
        """conversation.* events are not CRM records the engine syncs."""
        assert [] == parse_events(payload(event(subscriptionType="conversation.creation")))

    @pytest.mark.parametrize("body", [b"not json", b'{"eventId": 1}', b"[1, 2]"])
    def test_a_body_that_is_not_an_array_of_events_is_refused(self, body):
        """Malformed payloads raise WebhookError('bad_body')."""
        with pytest.raises(WebhookError) as caught:
            parse_events(body)
        assert "bad_body" == caught.value.reason


class FakeEngine:
    """Records handle_events calls (inline receivers); can be told to fail. Its index's
    inbox holds what other receivers keep."""

    sync_id = "hooks"

    def __init__(self, error=None):
        self.calls = []
        self.error = error
        self.index = MemoryIndexStore()

    def kept(self):
        """The events kept in the inbox, as (side, event)."""
        return [
            (item.side, _inbox.decode(item.payload))
            for item in self.index.inbox(self.sync_id, limit=10_000)
        ]

    def handle_events(self, side, events):
        self.calls.append((side, list(events)))
        if self.error is not None:
            raise self.error


HOOK = "https://sync.example.com/hubspot"
NOW = dt.datetime(2024, 6, 1, 12, tzinfo=dt.UTC)


def signed(body, secret="s3cret", now=NOW):
    """The headers of a request HubSpot signed now."""
    stamp = str(int(now.timestamp() * 1000))
    return {
        "X-HubSpot-Signature-v3": signature_v3("POST", HOOK, body, stamp, secret),
        "X-HubSpot-Request-Timestamp": stamp,
    }


class TestWebhookReceiver:
    """verify → parse → keep in the inbox (or, inline, engine.handle_events), with
    HubSpot-friendly statuses."""

    def test_a_signed_delivery_is_kept_for_the_hub(self):
        """200 and the number of events; the hub's contacts wait in the inbox, and the
        engine is not called in the request (X5: kept durably before the answer)."""
        engine = FakeEngine()
        receiver = WebhookReceiver(engine, "s3cret", clock=lambda: NOW)
        body = payload(event(objectId=1), event(objectId=2))
        assert (200, 2) == receiver.handle("POST", HOOK, signed(body), body)
        assert [] == engine.calls
        kept = engine.kept()
        assert [Side.HUB, Side.HUB] == [side for side, _ in kept]
        assert ["1", "2"] == [e.record_id for _, e in kept]
        assert all(e.occurred_at is not None for _, e in kept)

    def test_a_signed_delivery_reaches_the_engine_inline(self):
        """inline=True: processed in the request, as before."""
        engine = FakeEngine()
        receiver = WebhookReceiver(engine, "s3cret", clock=lambda: NOW, inline=True)
        body = payload(event(objectId=1), event(objectId=2))
        assert (200, 2) == receiver.handle("POST", HOOK, signed(body), body)
        ((side, events),) = engine.calls
        assert Side.HUB == side
        assert ["1", "2"] == [e.record_id for e in events]
        assert [] == engine.kept()

    def test_a_redelivery_is_not_kept_twice(self):
        """HubSpot retries deliveries; the receiver remembers recent events, and the
        inbox drops a delivery it holds already, even for a receiver started anew."""
        engine = FakeEngine()
        receiver = WebhookReceiver(engine, "s3cret", clock=lambda: NOW)
        body = payload(event(objectId=1))
        receiver.handle("POST", HOOK, signed(body), body)
        assert (200, 0) == receiver.handle("POST", HOOK, signed(body), body)
        restarted = WebhookReceiver(engine, "s3cret", clock=lambda: NOW)
        assert (200, 0) == restarted.handle("POST", HOOK, signed(body), body)
        assert 1 == len(engine.kept())

    def test_a_bad_signature_is_401_and_logs_no_secret(self, caplog):
        """X5: nothing is kept; the log says why without the secret."""
        engine = FakeEngine()
        receiver = WebhookReceiver(engine, "s3cret", clock=lambda: NOW)
        body = payload(event())
        with caplog.at_level(logging.WARNING):
            assert (401, 0) == receiver.handle("POST", HOOK, signed(body, "wrong"), body)
        assert [] == engine.kept()
        assert "bad_signature" in caplog.text
        assert "s3cret" not in caplog.text
        assert "s3cret" not in repr(receiver)

    def test_a_malformed_body_is_400(self):
        """A signed body that is not an event array."""
        receiver = WebhookReceiver(FakeEngine(), "s3cret", clock=lambda: NOW)
        body = b'{"not": "an array"}'
        assert (400, 0) == receiver.handle("POST", HOOK, signed(body), body)

    def test_a_store_that_cannot_keep_the_events_answers_503(self):
        """The index is down: 503, nothing kept, and HubSpot's retry is kept later."""
        engine = FakeEngine()
        receiver = WebhookReceiver(engine, "s3cret", clock=lambda: NOW)
        body = payload(event())
        add = engine.index.inbox_add

        def broken(items):
            raise IndexStoreError("disk full")

        engine.index.inbox_add = broken
        assert (503, 0) == receiver.handle("POST", HOOK, signed(body), body)
        engine.index.inbox_add = add
        assert (200, 1) == receiver.handle("POST", HOOK, signed(body), body)

    def test_a_store_without_an_inbox_is_refused_when_built(self):
        """A custom index store without the inbox: a clear error, unless inline."""

        class NoInbox(FakeEngine):
            def __init__(self):
                super().__init__()
                self.index = _StoreWithoutInbox()

        with pytest.raises(ValueError, match=r"keeps no webhook inbox.*inline=True"):
            WebhookReceiver(NoInbox(), "s3cret")
        WebhookReceiver(NoInbox(), "s3cret", inline=True)

    @pytest.mark.parametrize(
        ("error", "status"),
        [
            (SyncDisabledError("off"), 503),
            (AdapterError(ErrorCategory.UNAVAILABLE, "down"), 503),
            (AdapterError(ErrorCategory.PERMISSION, "revoked"), 500),
            (RuntimeError("bug"), 500),
        ],
    )
    def test_failures_answer_a_status_that_makes_hubspot_retry(self, error, status):
        """Inline: disabled or unavailable: 503; other failures 500; the delivery may
        come again."""
        engine = FakeEngine(error)
        receiver = WebhookReceiver(engine, "s3cret", clock=lambda: NOW, inline=True)
        body = payload(event())
        assert (status, 0) == receiver.handle("POST", HOOK, signed(body), body)
        engine.error = None
        assert (200, 1) == receiver.handle("POST", HOOK, signed(body), body)


class _StoreWithoutInbox(IndexStore):
    """An index store written before the inbox existed (its other methods are unused)."""

    get = by_record_ids = by_keys = entries = counts = write = cursor = None
    get_meta = set_meta = acquire = release = delete_sync = None
