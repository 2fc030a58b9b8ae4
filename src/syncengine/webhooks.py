"""HubSpot webhooks: verify a request's signature, turn its events into ChangeEvents.

Framework-free: callers hand in what any web framework has (method, the public URL,
headers, the raw body bytes) and get events out. Nothing here performs I/O besides what
:class:`WebhookReceiver` asks of the engine.

* :func:`verify_request` accepts a request only with a valid signature (rule X5):
  ``X-HubSpot-Signature-v3`` is HMAC-SHA256 of ``method + uri + body + timestamp`` with
  the app's client secret, base64-encoded, with ``X-HubSpot-Request-Timestamp`` (epoch
  ms) no older than five minutes (reference §5). The legacy ``X-HubSpot-Signature``
  (``v1``: SHA-256 of ``secret + body``; ``v2``: of ``secret + method + uri + body``, hex)
  carries no timestamp, so it cannot stop replays: it is accepted only with
  ``legacy=True``. Comparisons are constant-time; messages never include the secret or
  the expected signature.
* :func:`parse_events` turns HubSpot's JSON array of events into
  :class:`~syncengine.ChangeEvent` values, dropping duplicates (HubSpot delivers at least
  once, and out of order).
* :class:`WebhookReceiver` does both and keeps the events in the index's inbox, where
  the next pass (or :meth:`SyncEngine.drain_inbox <syncengine.SyncEngine.drain_inbox>`)
  processes them; the request is answered without reading any app (rule X5: accepted
  events are kept durably before the answer).
* :func:`asgi_app` serves a receiver as an ASGI application (any ASGI server).

.. versionadded:: 0.1
"""

from __future__ import annotations

import asyncio
import base64
import collections
import datetime as _dt
import hashlib
import hmac
import json
import logging
import re
import threading
import urllib.parse
from collections.abc import Awaitable, Callable, Mapping
from typing import TYPE_CHECKING, Any, Final, final

import attrs
from typing_extensions import override

from syncengine import _inbox
from syncengine._text import lone_surrogate
from syncengine.errors import AdapterError, IndexStoreError, SyncDisabledError, SyncEngineError
from syncengine.index.base import keeps_inbox
from syncengine.records import ChangeEvent, Side

if TYPE_CHECKING:
    from syncengine.engine import SyncEngine

__all__ = [
    "MAX_AGE",
    "MAX_BODY",
    "ASGIApp",
    "WebhookError",
    "WebhookReceiver",
    "asgi_app",
    "association_events",
    "events_of",
    "merge_events",
    "parse_events",
    "signature_v3",
    "verify_request",
]

logger = logging.getLogger("syncengine.webhooks")

#: How old a v3 request's timestamp may be (reference §5: five minutes).
MAX_AGE: Final = _dt.timedelta(minutes=5)
#: The largest body :class:`WebhookReceiver` reads by default, in bytes (1 MiB). HubSpot
#: sends at most 100 events a request, a few hundred bytes each.
MAX_BODY: Final = 1 << 20
_UTC: Final = _dt.UTC
# A timestamp is ASCII digits; more than this many is no time HubSpot can send.
_STAMP: Final = re.compile(r"[0-9]{1,20}")
_EPOCH: Final = _dt.datetime(1970, 1, 1, tzinfo=_UTC)

# The only escapes HubSpot decodes in the URI it signs (reference §5, step 3).
_DECODED: Final = {
    "%3A": ":",
    "%2F": "/",
    "%3F": "?",
    "%40": "@",
    "%21": "!",
    "%24": "$",
    "%27": "'",
    "%28": "(",
    "%29": ")",
    "%2A": "*",
    "%2C": ",",
    "%3B": ";",
}
_ESCAPE: Final = re.compile("|".join(_DECODED), re.IGNORECASE)

# Event type prefixes (``contact.creation``) -> object type names of the HubSpot adapter.
_OBJECT_TYPES: Final[Mapping[str, str]] = {
    "contact": "contacts",
    "company": "companies",
    "deal": "deals",
    "ticket": "tickets",
    "product": "products",
    "line_item": "line_items",
    "invoice": "invoices",
    "quote": "quotes",
}
_TYPE_IDS: Final[Mapping[str, str]] = {
    "0-1": "contacts",
    "0-2": "companies",
    "0-3": "deals",
    "0-5": "tickets",
    "0-7": "products",
    "0-8": "line_items",
    "0-14": "quotes",
    "0-53": "invoices",
}
_KINDS: Final[Mapping[str, str]] = {
    "creation": "created",
    "deletion": "deleted",
    "privacyDeletion": "deleted",
    "propertyChange": "updated",
    "restore": "updated",
    "merge": "updated",
    "associationChange": "updated",
}


class WebhookError(SyncEngineError, ValueError):
    """A webhook request was refused: its signature, timestamp or body is not acceptable.

    The message says why, and never contains the secret or the expected signature.

    Attributes:
        reason: A short code: ``missing_signature``, ``bad_signature``,
            ``missing_timestamp`` (absent, or not ASCII digits), ``stale_timestamp``,
            ``legacy_signature`` or ``bad_body``.

    .. versionadded:: 0.1
    """

    def __init__(self, reason: str, message: str) -> None:
        self.reason = reason
        super().__init__(message)


def _text(value: object) -> str | None:
    """A header's name or value as text; bytes (as some frameworks hand them) as latin-1."""
    if isinstance(value, str):
        return value
    if isinstance(value, bytes | bytearray):
        return bytes(value).decode("latin-1")
    return None


def _header(headers: Mapping[str, str], name: str) -> str | None:
    lowered = name.lower()
    for key, value in headers.items():
        text = _text(key)
        if text is not None and text.lower() == lowered:
            return _text(value)
    return None


def _utf8(text: str) -> bytes:
    """``text`` as UTF-8; a lone surrogate (text decoded with ``surrogateescape``, or
    garbage) keeps its bytes instead of raising, so it is compared, not crashed on."""
    try:
        return text.encode("utf-8")
    except UnicodeEncodeError:
        try:
            return text.encode("utf-8", "surrogateescape")
        except UnicodeEncodeError:
            return text.encode("utf-8", "surrogatepass")


def _signed_uri(url: str) -> str:
    return _ESCAPE.sub(lambda m: _DECODED[m.group(0).upper()], url)


def _as_bytes(body: bytes | str) -> bytes:
    if isinstance(body, str):
        return _utf8(body)
    if isinstance(body, bytes | bytearray | memoryview):
        return bytes(body)
    raise WebhookError("bad_body", f"the webhook body must be bytes, got {type(body).__name__}")


def signature_v3(method: str, url: str, body: bytes | str, timestamp: str, secret: str) -> str:
    """HubSpot's v3 signature of a request: base64 HMAC-SHA256 (reference §5).

    Useful to sign requests in tests. ``timestamp`` is the
    ``X-HubSpot-Request-Timestamp`` header (epoch milliseconds, as text).
    """
    source = _utf8(method.upper()) + _utf8(_signed_uri(url)) + _as_bytes(body)
    source += _utf8(timestamp)
    digest = hmac.new(_utf8(secret), source, hashlib.sha256).digest()
    return base64.b64encode(digest).decode("ascii")


def _signature_legacy(version: str, method: str, url: str, body: bytes, secret: str) -> str:
    source = _utf8(secret)
    if version == "v2":
        source += _utf8(method.upper()) + _utf8(url)
    return hashlib.sha256(source + body).hexdigest()


def _now(now: _dt.datetime | None) -> _dt.datetime:
    if now is None:
        return _dt.datetime.now(_UTC)
    if now.utcoffset() is None:
        raise ValueError("now must be timezone-aware")
    return now


def verify_request(
    method: str,
    url: str,
    headers: Mapping[str, str],
    body: bytes | str,
    secret: str,
    *,
    now: _dt.datetime | None = None,
    legacy: bool = False,
) -> None:
    """Check that a webhook request comes from HubSpot (rule X5); raise if not.

    Args:
        method: The request's method (``POST``).
        url: The full public URL HubSpot called (scheme, host, path and query). Behind a
            proxy, rebuild it from the forwarded headers: HubSpot signs the URL it used.
        headers: The request's headers (any case).
        body: The raw body, exactly as received.
        secret: The app's client secret.
        now: The current time (injected in tests); the system clock by default.
        legacy: Also accept v1/v2 signatures, which carry no timestamp (replays of a
            captured request cannot be told apart). Private apps may sign only with v1.

    Raises:
        WebhookError: The request is unsigned, badly signed, too old (more than five
            minutes) or too far in the future, or signed the legacy way without
            ``legacy=True``.
    """
    raw = _as_bytes(body)
    signature = _header(headers, "X-HubSpot-Signature-v3")
    if signature is not None:
        stamp = (_header(headers, "X-HubSpot-Request-Timestamp") or "").strip()
        # ASCII digits only: str.isdigit() also admits "²" and "٣", which int() refuses.
        if not _STAMP.fullmatch(stamp):
            raise WebhookError(
                "missing_timestamp",
                "a v3-signed request needs an X-HubSpot-Request-Timestamp header (epoch ms, "
                "at most 20 ASCII digits)",
            )
        # Whole milliseconds as integers: no datetime overflow, whatever the digits say.
        age_ms = (_now(now) - _EPOCH) // _dt.timedelta(milliseconds=1) - int(stamp)
        limit_ms = MAX_AGE // _dt.timedelta(milliseconds=1)
        if age_ms > limit_ms:
            raise WebhookError(
                "stale_timestamp",
                f"the request's timestamp is {age_ms // 1000}s old; HubSpot "
                f"requests older than {limit_ms // 1000}s are refused (replay?)",
            )
        if -age_ms > limit_ms:
            raise WebhookError(
                "stale_timestamp",
                f"the request's timestamp is {-age_ms // 1000}s in the future; "
                f"check the server's clock",
            )
        expected = signature_v3(method, url, raw, stamp, secret)
        if not hmac.compare_digest(expected.encode(), _utf8(signature.strip())):
            raise WebhookError(
                "bad_signature",
                "the X-HubSpot-Signature-v3 does not match the request: check the client "
                "secret and that the URL is the public one HubSpot called",
            )
        return
    signature = _header(headers, "X-HubSpot-Signature")
    if signature is None:
        raise WebhookError(
            "missing_signature",
            "the request carries no X-HubSpot-Signature-v3 (or X-HubSpot-Signature) header",
        )
    version = (_header(headers, "X-HubSpot-Signature-Version") or "v1").strip().lower()
    if version not in ("v1", "v2"):
        raise WebhookError("bad_signature", f"unknown signature version {version[:10]!r}")
    if not legacy:
        raise WebhookError(
            "legacy_signature",
            f"the request is signed with {version}, which carries no timestamp; pass "
            f"legacy=True to accept it",
        )
    expected = _signature_legacy(version, method, url, raw, secret)
    if not hmac.compare_digest(expected.encode(), _utf8(signature.strip().lower())):
        raise WebhookError(
            "bad_signature", f"the {version} X-HubSpot-Signature does not match the request"
        )


def _scalar(value: Any) -> str | None:
    """An id or name from the body as text: strings and integers only.

    Anything else (a list, an object, a float, a boolean) names no record, and turning it
    into text could recurse as deep as the body nests.
    """
    if isinstance(value, str):
        # Text that is not valid Unicode (JSON's "\ud800" escape) names no record: no
        # app can be asked for it, and a pass fetching it failed whole, on every pass.
        return value if value and lone_surrogate(value) is None else None
    if isinstance(value, int) and not isinstance(value, bool):
        return str(value)
    return None


def _object_type(event: Mapping[str, Any], prefix: str) -> str | None:
    if prefix == "object":
        type_id = _scalar(event.get("objectTypeId"))
        return _TYPE_IDS.get(type_id, type_id) if type_id is not None else None
    return _OBJECT_TYPES.get(prefix)


def _occurred(event: Mapping[str, Any]) -> _dt.datetime | None:
    value = event.get("occurredAt")
    if isinstance(value, int | float) and not isinstance(value, bool):
        try:
            return _EPOCH + _dt.timedelta(milliseconds=int(value))
        except (OverflowError, ValueError):  # huge, or NaN / Infinity (json accepts them)
            return None
    return None


def _ids(value: Any) -> list[str]:
    values = value if isinstance(value, list) else [value]
    return [i for i in map(_scalar, values) if i is not None]


def _type_named(text: str) -> str | None:
    """The object type an association type's end names: ``COMPANY``, ``LINE_ITEM``, or
    the leading or trailing words of a longer name (``COMPANY_UNLABELED``,
    ``CHILD_COMPANY``); ``None`` when it names none (``PARENT``)."""
    words = text.lower().split("_")
    for n in range(len(words), 0, -1):
        for part in (words[:n], words[len(words) - n :]):
            found = _OBJECT_TYPES.get("_".join(part))
            if found is not None:
                return found
    return None


def _association_ends(event: Mapping[str, Any], object_type: str) -> tuple[str, str | None]:
    """The object types of an association change's ``fromObjectId`` and ``toObjectId``.

    The generic ``object.associationChange`` names them by ``fromObjectTypeId`` and
    ``toObjectTypeId``; the legacy events by ``associationType``, such as
    ``CONTACT_TO_COMPANY``, ``LINE_ITEM_TO_DEAL``. The event's own type is the from
    side when nothing else says.
    """
    ids = [_scalar(event.get(k)) for k in ("fromObjectTypeId", "toObjectTypeId")]
    ends: list[str | None] = [_TYPE_IDS.get(i, i) if i is not None else None for i in ids]
    text = (_scalar(event.get("associationType")) or "").upper()
    marker = text.find("_TO_")
    while marker > 0 and (ends[0] is None or ends[1] is None):
        left, right = _type_named(text[:marker]), _type_named(text[marker + 4 :])
        if right is not None:
            # An end naming no type (PARENT_TO_CHILD_COMPANY) is the event's own record.
            ends = [ends[0] or left or object_type, ends[1] or right]
            break
        marker = text.find("_TO_", marker + 1)
    return ends[0] or object_type, ends[1]


def association_events(
    event: Mapping[str, Any], object_type: str, occurred: _dt.datetime | None
) -> list[ChangeEvent]:
    """The records an ``associationChange`` event names, as ``"updated"`` changes.

    Re-linking records does not change their last-modified time, so no change scan
    (poll) finds it: the event is how an incremental sync learns of it. Both linked
    records are named; processing them re-reads their links (rule A1). A removed link
    (``associationRemoved``) is read the same way: the engine never removes the link
    in the other app (rule X3) and notes the difference in the entry's history.

    .. versionadded:: 0.2
    """
    from_type, to_type = _association_ends(event, object_type)
    found = [(from_type, i) for i in _ids(event.get("fromObjectId"))]
    if to_type is not None:
        found += [(to_type, i) for i in _ids(event.get("toObjectId"))]
    if not found:
        found = [(object_type, i) for i in _ids(event.get("objectId"))]
    return [ChangeEvent(t, i, "updated", occurred) for t, i in found]


def merge_events(
    event: Mapping[str, Any], object_type: str, occurred: _dt.datetime | None
) -> list[ChangeEvent]:
    """The records a ``merge`` event names (``objectId``, ``primaryObjectId``,
    ``newObjectId``, ``mergedObjectIds``), as ``"updated"`` changes.

    Since HubSpot's merge change, a merge makes a new record (``newObjectId``) and both
    old ids read as it. Fetching the old ids returns the merged record under its new id,
    which is how the engine learns the move and re-pairs the index (the merged-away
    records are not deletions).

    .. versionadded:: 0.2
    """
    found = [(object_type, i) for i in _ids(event.get("objectId"))]
    for key in ("newObjectId", "primaryObjectId", "mergedObjectIds"):
        found += [(object_type, i) for i in _ids(event.get(key))]
    return [ChangeEvent(t, i, "updated", occurred) for t, i in dict.fromkeys(found)]


def events_of(event: Mapping[str, Any]) -> list[ChangeEvent]:
    """One HubSpot webhook event (a decoded JSON object) as :class:`ChangeEvent` values.

    What :func:`parse_events` does for each event of a request, without the duplicate
    check across events: a store of verified events can keep them raw and turn them
    into changes when it hands them to the engine.

    .. versionadded:: 0.2
    """
    kind_text = _scalar(event.get("subscriptionType")) or _scalar(event.get("eventType")) or ""
    prefix, _, action = kind_text.partition(".")
    kind = _KINDS.get(action)
    object_type = _object_type(event, prefix)
    if kind is None or object_type is None:
        return []  # conversation.*, unknown types: not records the engine syncs
    occurred = _occurred(event)
    if action == "associationChange":
        return association_events(event, object_type, occurred)
    if action == "merge":
        return merge_events(event, object_type, occurred)
    return [ChangeEvent(object_type, i, kind, occurred) for i in _ids(event.get("objectId"))]


def parse_events(body: bytes | str) -> list[ChangeEvent]:
    """HubSpot's webhook payload (a JSON array of events) as :class:`ChangeEvent` values.

    * The object type comes from the prefix of ``subscriptionType`` (or ``eventType``):
      ``contact`` → ``contacts``, ``company`` → ``companies``, ``deal`` → ``deals``,
      ``ticket``, ``product``, ``line_item``, ``invoice``; the generic ``object.*``
      events name it by ``objectTypeId`` (``0-1`` → ``contacts``, custom ids as they are).
    * ``creation`` is ``"created"``; ``deletion`` and ``privacyDeletion`` are
      ``"deleted"``; ``propertyChange``, ``restore``, ``merge`` and ``associationChange``
      are ``"updated"`` (a merge also names the primary and merged ids; an association
      change both linked records). Other events (``conversation.*``) are skipped.
    * ``occurredAt`` (epoch ms) becomes a timezone-aware UTC datetime.
    * Duplicates are dropped, keeping the first: the same object, type, kind and time
      (several property changes of one record at one moment are one change), and the
      same ``eventId`` for the same subscription and object (a retried delivery).
      ``eventId`` alone is not unique at HubSpot, so it is never used alone.

    Values that cannot name a record (an id that is a list of lists, a float or an
    object; a time that is NaN or out of range) are ignored.

    Raises:
        WebhookError: The body is not UTF-8 JSON, nests too deeply, or is not an array of
            objects (reason ``bad_body``).
    """
    try:
        data = json.loads(_as_bytes(body))
    except ValueError as exc:  # UnicodeDecodeError is one
        raise WebhookError("bad_body", f"the webhook body is not JSON: {exc}") from None
    except RecursionError:
        raise WebhookError("bad_body", "the webhook body nests too deeply") from None
    if not isinstance(data, list) or not all(isinstance(e, Mapping) for e in data):
        raise WebhookError("bad_body", "the webhook body must be a JSON array of event objects")
    events: list[ChangeEvent] = []
    seen: set[tuple[Any, ...]] = set()
    for raw in data:
        delivery = (
            _scalar(raw.get("eventId")),
            _scalar(raw.get("subscriptionType")) or _scalar(raw.get("eventType")),
            _scalar(raw.get("objectId")),
        )
        if delivery[0] is not None:
            if delivery in seen:
                continue
            seen.add(delivery)
        for event in events_of(raw):
            key = (event.object_type, event.record_id, event.kind, event.occurred_at)
            if key not in seen:
                seen.add(key)
                events.append(event)
    return events


def _type_aliases(engine: SyncEngine) -> dict[str, str]:
    """HubSpot's type ids of the sync's hub types that are named otherwise (custom
    objects: ``2-1234567`` -> ``p_cars``), from the hub adapter's schemas; read when the
    engine was built, so no request is sent."""
    hub, config = getattr(engine, "hub", None), getattr(engine, "config", None)
    type_id = getattr(hub, "object_type_id", None)
    if type_id is None or config is None:
        return {}
    aliases: dict[str, str] = {}
    for obj in config.objects:
        found = type_id(obj.hub_type)
        if isinstance(found, str) and found != obj.hub_type:
            aliases[found] = obj.hub_type
    return aliases


@final
class WebhookReceiver:
    """Receives HubSpot's webhook requests for one sync: verify, parse, keep.

    Wire :meth:`handle` into any web framework, or serve :func:`asgi_app` (see
    ``docs/how-to/hubspot.md``); answer HubSpot with the status it returns.

    By default the verified events go into the inbox of the engine's index store, in one
    transaction, and the request is answered at once: no app is read and no pass runs
    in the request, so it takes milliseconds, far inside HubSpot's 5-second timeout.
    The next :meth:`~syncengine.SyncEngine.incremental_sync` (or
    :meth:`~syncengine.SyncEngine.drain_inbox`) processes them, and removes them only
    once processed. A delivery already waiting in the inbox is dropped (HubSpot delivers
    at least once). Events are kept while the sync is off, and processed once it is on.

    With ``inline=True`` the receiver instead processes the events in the request
    (:meth:`SyncEngine.handle_events <syncengine.SyncEngine.handle_events>`), as
    before 0.2: only for small volumes, or an index store without an inbox.

    HubSpot retries any non-2xx answer (up to 10 times in 24 hours), so a refused or
    failed request loses nothing that a retry or the next incremental pass does not
    bring back.

    Args:
        engine: The sync whose hub is the HubSpot account.
        secret: The app's client secret.
        legacy: Also accept v1/v2 signatures (see :func:`verify_request`).
        clock: Returns now, timezone-aware (injected in tests).
        remember: How many recent events to remember, to drop deliveries seen already
            without touching the store.
        max_body: The largest body accepted, in bytes (:data:`MAX_BODY`, 1 MiB, by
            default); a larger one is answered 413 before its signature is computed.
            Limit the size in the web server too: :meth:`handle` only sees bodies that
            were read.
        inline: Process the events in the request instead of keeping them.

    Raises:
        ValueError: The secret is empty or has whitespace inside, ``max_body`` is not
            positive, or the engine's index store keeps no inbox (and ``inline`` is
            false).

    .. versionadded:: 0.1
    .. versionchanged:: 0.2
       Events are kept in the index's inbox and processed by the next pass; ``inline``.
    """

    def __init__(
        self,
        engine: SyncEngine,
        secret: str,
        *,
        legacy: bool = False,
        clock: Callable[[], _dt.datetime] | None = None,
        remember: int = 10_000,
        max_body: int = MAX_BODY,
        inline: bool = False,
    ) -> None:
        """Set up the receiver; see the class docstring for the arguments."""
        # A secret read from a file ends with a newline, which would make every
        # signature mismatch: strip it; one with whitespace inside is a copying mistake.
        secret = secret.strip()
        if not secret:
            raise ValueError("a webhook secret must not be empty")
        if any(c.isspace() or not c.isprintable() for c in secret):
            raise ValueError(
                f"the webhook secret ({len(secret)} characters) has whitespace or control "
                "characters inside: check how it was copied"
            )
        if max_body < 1:
            raise ValueError(f"max_body must be >= 1, got {max_body}")
        if not inline and not keeps_inbox(engine.index):
            raise ValueError(
                f"the index store {type(engine.index).__name__} keeps no webhook inbox "
                "(inbox_add, inbox, inbox_remove, inbox_count): implement them, or pass "
                "inline=True to process events in the request"
            )
        self._max_body = max_body
        self._engine = engine
        self._secret = secret
        self._legacy = legacy
        self._clock = clock
        self._inline = inline
        self._lock = threading.Lock()
        self._recent: collections.OrderedDict[tuple[Any, ...], None] = collections.OrderedDict()
        self._remember = remember
        self._aliases = _type_aliases(engine)

    @property
    def max_body(self) -> int:
        """The largest body accepted, in bytes."""
        return self._max_body

    @override
    def __repr__(self) -> str:
        mode = " inline" if self._inline else ""
        return f"<WebhookReceiver secret=[redacted] legacy={self._legacy}{mode}>"

    def _fresh(self, events: list[ChangeEvent]) -> list[ChangeEvent]:
        out = []
        with self._lock:
            for event in events:
                key = (event.object_type, event.record_id, event.kind, event.occurred_at)
                if event.occurred_at is not None and key in self._recent:
                    continue
                out.append(event)
                self._recent[key] = None
                if len(self._recent) > self._remember:
                    self._recent.popitem(last=False)
        return out

    def _now(self) -> _dt.datetime:
        return _now(self._clock() if self._clock is not None else None)

    def handle(
        self, method: str, url: str, headers: Mapping[str, str], body: bytes | str
    ) -> tuple[int, int]:
        """Handle one webhook request; return (HTTP status for HubSpot, events kept).

        Every request gets a status, whatever its headers and body hold; it never raises.
        The checks run in this order, and nothing is kept before all pass:

        * 413: the body is larger than ``max_body`` (checked first, before hashing it).
        * 401: the signature or timestamp is missing or not acceptable (checked on the
          raw bytes, before the body is parsed).
        * 400: the signature is valid but the body is not a JSON array of events (not
          UTF-8, not JSON, nested too deeply, not an array of objects).
        * 503: the index store could not keep the events (with ``inline=True``: the
          sync is disabled, or HubSpot or the app is unavailable); HubSpot will retry.
        * 500: anything else went wrong; HubSpot will retry.
        * 200: the events are kept (with ``inline=True``: processed). The count leaves
          out deliveries kept already.
        """
        try:
            raw = _as_bytes(body)
        except WebhookError as exc:
            logger.warning("refused a webhook request (%s): %s", exc.reason, exc)
            return 400, 0
        if len(raw) > self._max_body:
            logger.warning(
                "refused a webhook request (too_large): its body has %d bytes; at most %d "
                "are accepted (max_body)",
                len(raw),
                self._max_body,
            )
            return 413, 0
        try:
            verify_request(
                str(method),
                str(url),
                headers,
                raw,
                self._secret,
                now=self._clock() if self._clock is not None else None,
                legacy=self._legacy,
            )
        except WebhookError as exc:
            logger.warning("refused a webhook request (%s): %s", exc.reason, exc)
            return 401, 0
        except Exception:  # a bug here must still answer, and must not let it through
            logger.exception("refused a webhook request: its signature could not be checked")
            return 500, 0
        try:
            events = self._fresh([self._named(e) for e in parse_events(raw)])
        except WebhookError as exc:
            logger.warning("refused a webhook request (%s): %s", exc.reason, exc)
            return 400, 0
        except Exception:
            logger.exception("webhook body not processed")
            return 500, 0
        if not events:
            return 200, 0
        if not self._inline:
            return self._keep(events)
        try:
            self._engine.handle_events(Side.HUB, events)
        except SyncDisabledError:
            self._forget(events)
            return 503, 0
        except AdapterError as exc:
            self._forget(events)
            logger.warning("webhook events not processed: %s", exc)
            return (503 if exc.category.is_transient else 500), 0
        except Exception:
            self._forget(events)
            logger.exception("webhook events not processed")
            return 500, 0
        return 200, len(events)

    def _named(self, event: ChangeEvent) -> ChangeEvent:
        """A generic event (``object.*``) of a custom object names its type by id
        (``2-1234567``); the sync names it ``p_cars``."""
        name = self._aliases.get(event.object_type)
        return event if name is None else attrs.evolve(event, object_type=name)

    def _keep(self, events: list[ChangeEvent]) -> tuple[int, int]:
        """Add the events to the inbox in one transaction (rule X5)."""
        try:
            now = self._now()
            sync_id = self._engine.sync_id
            items = [_inbox.item_of(sync_id, Side.HUB, event, now) for event in events]
            added = self._engine.index.inbox_add(items)
        except IndexStoreError as exc:
            self._forget(events)
            logger.warning("webhook events not kept (HubSpot will retry): %s", exc)
            return 503, 0
        except Exception:
            self._forget(events)
            logger.exception("webhook events not kept (HubSpot will retry)")
            return 500, 0
        return 200, added

    def _forget(self, events: list[ChangeEvent]) -> None:
        """Let a retried delivery of these events through again."""
        with self._lock:
            for event in events:
                self._recent.pop(
                    (event.object_type, event.record_id, event.kind, event.occurred_at), None
                )


#: An ASGI application: ``await app(scope, receive, send)``.
ASGIApp = Callable[
    [
        dict[str, Any],
        Callable[[], Awaitable[dict[str, Any]]],
        Callable[[dict[str, Any]], Awaitable[None]],
    ],
    Awaitable[None],
]


def _scope_url(scope: Mapping[str, Any], public_url: str | None) -> str:
    """The URL HubSpot called, as it signed it."""
    query = scope.get("query_string") or b""
    tail = "?" + bytes(query).decode("latin-1") if query else ""
    if public_url is not None:
        return public_url + tail
    raw_path = scope.get("raw_path")
    path = (
        bytes(raw_path).decode("latin-1")
        if raw_path
        else urllib.parse.quote(str(scope.get("root_path", "")) + str(scope.get("path", "/")))
    )
    host = ""
    for name, value in scope.get("headers") or ():
        if bytes(name).lower() == b"host":
            host = bytes(value).decode("latin-1")
            break
    if not host and scope.get("server"):
        server_host, server_port = scope["server"]
        host = f"{server_host}:{server_port}" if server_port else str(server_host)
    return f"{scope.get('scheme', 'http')}://{host}{path}{tail}"


def asgi_app(
    receiver: WebhookReceiver, *, public_url: str | None = None, path: str | None = None
) -> ASGIApp:
    """An ASGI application that answers HubSpot's webhook requests with ``receiver``.

    Pure ASGI (no web framework): serve it with any asyncio ASGI server, e.g.
    ``uvicorn module:app``, or mount it in an application that speaks ASGI (Starlette,
    FastAPI, Django's ASGI handler). Each ``POST`` is verified and its events kept (see
    :meth:`WebhookReceiver.handle`); the answer is the status, with an empty body. The
    receiver's work (one index write) runs in a worker thread, off the event loop.

    * Bodies are read up to ``max_body`` and no further: a larger one (or a
      ``Content-Length`` that says so) is answered 413 without reading the rest.
    * Methods other than ``POST`` get 405; with ``path``, other paths get 404.
    * ``lifespan`` events are acknowledged, so servers that send them start cleanly.

    Args:
        receiver: The receiver of one sync.
        public_url: The target URL configured in HubSpot (``https://sync.example.com/
            hubspot/webhook``). HubSpot signs the URL it called; behind a proxy or a load
            balancer, the URL the server sees differs, and signatures only match with
            this set. Without it the URL is rebuilt from the request (scheme, ``Host``
            header, path and query as received).
        path: Only answer requests to this path (e.g. ``"/hubspot/webhook"``).

    Raises:
        ValueError: ``public_url`` is not an ``http(s)`` URL, or has a query.

    .. versionadded:: 0.2
    """
    if public_url is not None:
        parts = urllib.parse.urlsplit(public_url)
        if parts.scheme not in ("http", "https") or not parts.netloc or parts.query:
            raise ValueError(
                f"public_url must be the http(s) URL HubSpot calls, without a query; got "
                f"{public_url[:100]!r}"
            )

    async def respond(send: Callable[[dict[str, Any]], Awaitable[None]], status: int) -> None:
        await send(
            {
                "type": "http.response.start",
                "status": status,
                "headers": [(b"content-type", b"text/plain"), (b"content-length", b"0")],
            }
        )
        await send({"type": "http.response.body", "body": b""})

    async def app(
        scope: dict[str, Any],
        receive: Callable[[], Awaitable[dict[str, Any]]],
        send: Callable[[dict[str, Any]], Awaitable[None]],
    ) -> None:
        kind = scope.get("type")
        if kind == "lifespan":
            while True:
                message = await receive()
                if message.get("type") == "lifespan.startup":
                    await send({"type": "lifespan.startup.complete"})
                elif message.get("type") == "lifespan.shutdown":
                    await send({"type": "lifespan.shutdown.complete"})
                    return
        if kind != "http":
            return  # websockets: not ours; the server closes the connection
        if path is not None and scope.get("path") != path:
            await respond(send, 404)
            return
        method = str(scope.get("method", "")).upper()
        if method != "POST":
            await respond(send, 405)
            return
        limit = receiver.max_body
        headers: dict[str, str] = {}
        for name, value in scope.get("headers") or ():
            headers[bytes(name).decode("latin-1")] = bytes(value).decode("latin-1")
        declared = _header(headers, "Content-Length") or ""
        if declared.strip().isascii() and declared.strip().isdigit() and int(declared) > limit:
            await respond(send, 413)
            return
        chunks: list[bytes] = []
        size = 0
        while True:
            message = await receive()
            if message.get("type") == "http.disconnect":
                return
            chunk = bytes(message.get("body") or b"")
            size += len(chunk)
            if size > limit:
                await respond(send, 413)
                return
            chunks.append(chunk)
            if not message.get("more_body"):
                break
        url = _scope_url(scope, public_url)
        status, _kept = await asyncio.to_thread(
            receiver.handle, method, url, headers, b"".join(chunks)
        )
        await respond(send, status)

    return app
