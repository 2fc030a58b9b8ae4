"""Hostile webhook requests: every one gets a status, none reaches the engine unsigned.

Rules X1 (bad input fails alone, never the receiver) and X4 (no secret in a message).

Issue 17 §4: ``WebhookReceiver.handle()`` raised ValueError / OverflowError on a
timestamp like ``²`` or thirty digits (before any signature check) and RecursionError /
TypeError on deeply nested or odd bodies. It now answers every request with a status:
413 (too large), 401 (unsigned, badly signed, stale), 400 (signed but not an event
array), 200 (processed).
"""

from __future__ import annotations

import datetime as dt
import json
import logging
import re

import pytest
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st

from syncengine import Side, _inbox
from syncengine.index import MemoryIndexStore
from syncengine.webhooks import (
    MAX_BODY,
    WebhookError,
    WebhookReceiver,
    signature_v3,
    verify_request,
)

HOOK = "https://sync.example.com/hubspot"
NOW = dt.datetime(2024, 6, 1, 12, tzinfo=dt.UTC)
STAMP = str(int(NOW.timestamp() * 1000))
SECRET = "s3cret-0123"


class Engine:
    """What reaches it: the events kept in its index's inbox (one call per event)."""

    sync_id = "hooks"

    def __init__(self) -> None:
        self.index = MemoryIndexStore()

    @property
    def calls(self) -> list[tuple[Side, list[object]]]:
        items = self.index.inbox(self.sync_id, limit=1 << 30)
        return [(item.side, [_inbox.decode(item.payload)]) for item in items]


def receiver(engine: Engine, **options: object) -> WebhookReceiver:
    """A receiver on the fixed clock."""
    return WebhookReceiver(engine, SECRET, clock=lambda: NOW, **options)  # type: ignore[arg-type]


def signed(body: bytes | str, stamp: str = STAMP, secret: str = SECRET) -> dict[str, str]:
    """Headers of a request signed with ``secret`` at ``stamp``."""
    return {
        "X-HubSpot-Signature-v3": signature_v3("POST", HOOK, body, stamp, secret),
        "X-HubSpot-Request-Timestamp": stamp,
    }


def contact(object_id: object = 1, **fields: object) -> dict[str, object]:
    """One contact event."""
    return {
        "eventId": 1,
        "subscriptionType": "contact.propertyChange",
        "objectId": object_id,
        "occurredAt": int(NOW.timestamp() * 1000),
        **fields,
    }


HOSTILE_STAMPS = [
    "²",  # str.isdigit() says yes, int() says no
    "١٧١٧٢٤٣٢٠٠٠٠٠",  # Arabic-Indic digits
    "9" * 30,  # overflows a timedelta
    "9" * 5000,  # more digits than int() converts
    "-1",
    "1e12",
    "",
    " ",
    "0x10",
    "1_000",
    "\x00",
    "\ud800",
]


@pytest.mark.parametrize("stamp", HOSTILE_STAMPS)
def test_a_hostile_timestamp_is_401_and_never_raises(stamp):
    """Even signed with the real secret, a timestamp that is no recent epoch-ms is 401."""
    engine = Engine()
    body = json.dumps([contact()])
    assert (401, 0) == receiver(engine).handle("POST", HOOK, signed(body, stamp), body)
    assert [] == engine.calls
    with pytest.raises(WebhookError) as caught:
        verify_request("POST", HOOK, signed(body, stamp), body, SECRET, now=NOW)
    assert caught.value.reason in ("missing_timestamp", "stale_timestamp")


DEEP = 100_000
HOSTILE_BODIES = [
    b"[" * DEEP + b"]" * DEEP,  # RecursionError in json
    ("[" * DEEP + "]" * DEEP).encode(),
    json.dumps([contact(object_id=[[[[[1]]]]])]).encode(),
    b'[{"eventId": [1], "subscriptionType": "contact.creation", "objectId": 1}]',
    b'[{"eventId": {"a": 1}, "subscriptionType": ["x"], "objectId": {"b": 2}}]',
    b'[{"subscriptionType": "contact.creation", "objectId": 1, "occurredAt": NaN}]',
    b'[{"subscriptionType": "contact.creation", "objectId": 1, "occurredAt": -Infinity}]',
    b'[{"subscriptionType": "contact.creation", "objectId": 1, "occurredAt": 1e400}]',
    b'[{"subscriptionType": "object.creation", "objectTypeId": [[]], "objectId": 1}]',
    b'[{"subscriptionType": "contact.associationChange", "associationType": {"x": 1}}]',
    b'"a string"',
    b"null",
    b"\xff\xfe\xfd",  # not UTF-8
    b'[{"objectId": "\xed\xa0\x80"}]',  # an encoded surrogate
    b"",
]


@pytest.mark.parametrize("body", HOSTILE_BODIES, ids=range(len(HOSTILE_BODIES)))
def test_a_signed_but_odd_body_gets_a_status_and_never_raises(body):
    """Deep nesting, non-array JSON, ids that are lists or objects, NaN, invalid UTF-8."""
    engine = Engine()
    status, _count = receiver(engine).handle("POST", HOOK, signed(body), body)
    assert status in (200, 400)
    for _side, events in engine.calls:
        assert all(isinstance(e.record_id, str) for e in events)  # type: ignore[attr-defined]


def test_an_id_that_is_not_valid_unicode_names_no_record():
    """A signed event whose objectId is JSON's "\\ud800" escape was kept, and every later
    pass stopped fetching it (the HubSpot adapter cannot send it): it is skipped, like any
    id that names no record, and the valid event beside it is kept."""
    engine = Engine()
    body = json.dumps([contact("\ud800"), contact(7), contact("2-\udc80", eventId=2)])
    assert (200, 1) == receiver(engine).handle("POST", HOOK, signed(body), body)
    ((_side, (event,)),) = engine.calls
    assert "7" == event.record_id


def test_a_text_body_with_a_lone_surrogate_is_compared_not_crashed_on():
    """A framework that decoded the body with surrogateescape hands in lone surrogates."""
    engine = Engine()
    body = b'[{"objectId": "\xff"}]'.decode("utf-8", "surrogateescape")
    assert (400, 0) == receiver(engine).handle("POST", HOOK, signed(body), body)
    assert (401, 0) == receiver(engine).handle("POST", HOOK, signed("x"), body)


def test_a_body_over_the_limit_is_413_before_anything_else(caplog):
    """max_body (1 MiB by default) bounds what is hashed and parsed."""
    engine = Engine()
    body = json.dumps([contact(padding="x" * 2000)])
    small = receiver(engine, max_body=1000)
    with caplog.at_level(logging.WARNING):
        assert (413, 0) == small.handle("POST", HOOK, signed(body), body)
    assert "max_body" in caplog.text
    assert (200, 1) == receiver(engine).handle("POST", HOOK, signed(body), body)
    big = b"[" + b" " * MAX_BODY + b"]"
    assert (413, 0) == receiver(engine).handle("POST", HOOK, signed(big), big)
    assert 1 == len(engine.calls)
    with pytest.raises(ValueError, match="max_body"):
        receiver(engine, max_body=0)


def test_a_secret_read_with_a_newline_still_verifies():
    """The newline of a secret read from a file would make every signature mismatch."""
    engine = Engine()
    body = json.dumps([contact()])
    hook = WebhookReceiver(engine, SECRET + "\n", clock=lambda: NOW)  # type: ignore[arg-type]
    assert (200, 1) == hook.handle("POST", HOOK, signed(body), body)
    with pytest.raises(ValueError, match="whitespace") as caught:
        WebhookReceiver(engine, "s3cret\nmore", clock=lambda: NOW)  # type: ignore[arg-type]
    assert "s3cret" not in str(caught.value)


# ---- arbitrary requests ---------------------------------------------------------------
_json_leaf = st.one_of(
    st.none(),
    st.booleans(),
    st.integers(min_value=-(10**30), max_value=10**30),
    st.floats(allow_nan=True, allow_infinity=True),
    st.text(max_size=8),
    # JSON's "\ud800" escape: text that is not valid Unicode, as an id or a type.
    st.text(st.characters(categories=["Cs"]) | st.sampled_from("1-2"), min_size=1, max_size=4),
)
_json = st.recursive(
    _json_leaf,
    lambda inner: st.lists(inner, max_size=4) | st.dictionaries(st.text(max_size=6), inner),
    max_leaves=12,
)
_field_names = st.sampled_from(
    [
        "eventId",
        "subscriptionType",
        "eventType",
        "objectId",
        "objectTypeId",
        "occurredAt",
        "associationType",
        "fromObjectId",
        "toObjectId",
        "mergedObjectIds",
        "primaryObjectId",
    ]
)
_kinds = st.sampled_from(
    ["contact.creation", "deal.merge", "object.propertyChange", "contact.associationChange"]
)
_events = st.lists(
    st.dictionaries(_field_names, _json | _kinds, max_size=6)
    | st.just(contact())
    | st.builds(contact, _json_leaf)
    | _json,
    max_size=4,
)


def _deep(depth: int, open_: str, close: str) -> bytes:
    return (open_ * depth + close * depth).encode()


_bodies = st.one_of(
    _events.map(lambda e: json.dumps(e, allow_nan=True).encode()),
    _json.map(lambda e: json.dumps(e, allow_nan=True).encode()),
    st.binary(max_size=64),
    st.integers(min_value=1, max_value=200_000).map(lambda d: _deep(d, "[", "]")),
    st.integers(min_value=1, max_value=200_000).map(lambda d: _deep(d, '{"a":', "}")[:-1]),
    st.text(max_size=32).map(lambda t: t.encode("utf-8", "surrogatepass")),
)
_unicode_digits = st.text(st.characters(whitelist_categories=["Nd", "No"]), min_size=1, max_size=30)
_stamps = st.one_of(
    st.just(STAMP),
    st.integers(min_value=-(10**40), max_value=10**40).map(str),
    _unicode_digits,
    st.text(max_size=30),
    st.integers(min_value=21, max_value=6000).map(lambda n: "9" * n),
)
_ASCII_STAMP = re.compile("[0-9]{1,20}")
_signing = st.sampled_from(["valid", "wrong_secret", "garbage", "none", "legacy"])


@settings(suppress_health_check=[HealthCheck.too_slow, HealthCheck.data_too_large])
@given(
    body=_bodies,
    as_text=st.booleans(),
    stamp=_stamps,
    signing=_signing,
    garbage=st.text(max_size=40),
    extra=st.dictionaries(st.text(max_size=12), st.text(max_size=20), max_size=3),
    method=st.sampled_from(["POST", "GET", "post", "", "\ud800"]),
)
def test_any_request_gets_a_status_and_only_signed_ones_reach_the_engine(
    body, as_text, stamp, signing, garbage, extra, method
):
    """Arbitrary headers, bodies and timestamps: a documented status, never an exception."""
    sent: bytes | str = body.decode("utf-8", "surrogateescape") if as_text else body
    headers = dict(extra)
    if signing == "valid":
        headers.update(signed(sent, stamp))
        headers["X-HubSpot-Signature-v3"] = signature_v3(method, HOOK, sent, stamp, SECRET)
    elif signing == "wrong_secret":
        headers.update(signed(sent, stamp, "not-the-secret"))
    elif signing == "garbage":
        headers.update({"X-HubSpot-Signature-v3": garbage, "X-HubSpot-Request-Timestamp": stamp})
    elif signing == "legacy":
        headers.update({"X-HubSpot-Signature": garbage, "X-HubSpot-Signature-Version": garbage})
    engine = Engine()
    status, count = receiver(engine).handle(method, HOOK, headers, sent)
    assert status in (200, 400, 401, 413)
    fresh = _ASCII_STAMP.fullmatch(stamp.strip()) and abs(int(stamp) - int(STAMP)) <= 300_000
    if signing != "valid" or not fresh:
        assert 401 == status or (413 == status and len(body) > MAX_BODY)
        assert [] == engine.calls
    if status != 200:
        assert [] == engine.calls
        assert 0 == count
    else:
        assert count == sum(len(events) for _side, events in engine.calls)


# ---- through a real engine ------------------------------------------------------------
def _real_sync():
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
    from syncengine.index import MemoryIndexStore

    class Utf8Hub(InMemoryAdapter):
        """An app behind a UTF-8 API, as HubSpot is: an id that is not valid Unicode
        cannot even be sent (the HTTP client raises for the whole call)."""

        def fetch(self, object_type, ids):
            for record_id in ids:
                record_id.encode("utf-8")
            return super().fetch(object_type, ids)

    hub = Utf8Hub(
        [ObjectSchema("contacts", [PropertySpec("email", "string"), PropertySpec("n", "string")])],
        name="hub",
    )
    app = InMemoryAdapter(
        [ObjectSchema("people", [PropertySpec("mail", "string"), PropertySpec("n", "string")])],
        name="app",
    )
    config = SyncConfig(
        "hooks",
        [
            ObjectSync(
                "contacts",
                "people",
                [FieldMapping("email", "mail"), FieldMapping("n", "n")],
                match=MatchRule([("email", "mail")]),
            )
        ],
    )
    engine = SyncEngine(hub, app, MemoryIndexStore(), config)
    ada = hub.put("contacts", email="ada@example.com", n="1")
    engine.initial_sync()
    return engine, hub, app, ada.id


@settings(suppress_health_check=[HealthCheck.too_slow, HealthCheck.data_too_large])
@given(
    stamp=_stamps,
    signing=_signing,
    garbage=st.text(max_size=40),
    tail=_json | _events,
)
def test_an_engine_behind_the_receiver_changes_only_on_a_valid_signature(
    stamp, signing, garbage, tail
):
    """A real sync: a change in the hub reaches the app only through a signed request."""
    engine, hub, app, ada = _real_sync()
    hub.patch("contacts", ada, n="2")
    body = json.dumps([contact(object_id=ada), tail], allow_nan=True).encode()
    headers: dict[str, str] = {}
    if signing == "valid":
        headers.update(signed(body, stamp))
    elif signing == "wrong_secret":
        headers.update(signed(body, stamp, "not-the-secret"))
    elif signing == "garbage":
        headers.update({"X-HubSpot-Signature-v3": garbage, "X-HubSpot-Request-Timestamp": stamp})
    hook = WebhookReceiver(engine, SECRET, clock=lambda: NOW)
    status, _count = hook.handle("POST", HOOK, headers, body)
    engine.drain_inbox()  # what the next pass does: never stopped by what a body held
    fresh = _ASCII_STAMP.fullmatch(stamp.strip()) and abs(int(stamp) - int(STAMP)) <= 300_000
    (copy,) = app.records("people")
    if signing == "valid" and fresh:
        assert status in (200, 400)
        assert ("2" if status == 200 else "1") == copy.properties["n"]
    else:
        assert 401 == status
        assert "1" == copy.properties["n"]


@settings(suppress_health_check=[HealthCheck.too_slow, HealthCheck.data_too_large])
@given(events=_events)
def test_no_signed_body_stops_the_passes_after_it(events):
    """Whatever a signed, fresh body holds besides a valid event, that event is synced
    and the next pass runs: nothing kept in the inbox stops a pass for good."""
    engine, hub, app, ada = _real_sync()
    hub.patch("contacts", ada, n="2")
    body = json.dumps([*events, contact(object_id=ada)], allow_nan=True).encode()
    hook = WebhookReceiver(engine, SECRET, clock=lambda: NOW)
    status, _count = hook.handle("POST", HOOK, signed(body), body)
    assert status in (200, 400)
    engine.drain_inbox()
    (copy,) = app.records("people")
    assert ("2" if status == 200 else "1") == copy.properties["n"]
    assert [] == engine.incremental_sync().errors
