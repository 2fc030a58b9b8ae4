"""FakeHubSpot: a faithful local HubSpot CRM API, in process or on a loopback port.

It serves every endpoint :class:`~syncengine.adapters.hubspot.HubSpotAdapter` uses, with
HubSpot's request and response shapes (reference §2, §4) as the official client reads
them, so adapter tests run against the API's behaviour instead of mocks of it:

* objects: list with ``limit``/``after`` paging by id (``archived=true`` lists only
  archived records), single read/create/update/archive, and batch read/create/update/
  upsert/archive (at most 100 inputs) with 207 partial results where every input carries
  a unique ``objectWriteTraceId`` (without them one bad input fails the whole batch);
  batch read and upsert by a unique property (``idProperty``), strongly consistent;
* property validation like HubSpot's: unknown and read-only properties, numbers, bools,
  dates at midnight UTC, datetimes, enumeration *values*, ``;``-joined multi-selects, e-mail
  format, custom objects' required properties; unique values, and contacts' unique e-mail
  (409 "Contact already exists. Existing ID: N");
* search: filter groups (EQ, NEQ, LT, LTE, GT, GTE, BETWEEN, IN, NOT_IN, HAS_PROPERTY,
  NOT_HAS_PROPERTY, CONTAINS_TOKEN, NOT_CONTAINS_TOKEN; 5 groups, 6 filters each, 18 in
  all), one sort, ``limit`` ≤ 200, offset paging, the result cap (10,000 by default; 400
  when paging past it), optional eventual consistency (``search_delay``);
* the properties and schemas APIs, pipelines, associations v4 (batch create, read,
  archive, default associations) with HubSpot's association type ids;
* merges as HubSpot makes them since its merge change: a new record with a new id, the
  old ids archived and read as the merged record (``hs_merged_object_ids``), links moved,
  a ``<type>.merge`` webhook event (:meth:`FakeHubSpot.merge`);
* links that never move a record's last-modified time, with ``associationChange``
  webhook events (:meth:`FakeHubSpot.subscribe`);
* rate limits with HubSpot's 429 bodies (``policyName``) and ``X-HubSpot-RateLimit-*``
  headers, search's own limit, a daily limit; bearer-token auth (401), scopes (403
  ``MISSING_SCOPES``); configurable latency and injected faults (5xx, 423, 477, …),
  before the request is served or after it committed (a lost reply: a 502 or a timeout);
* a limit on the request line (414 past ``max_request_line``, 8 KB by default), as real
  portals with hundreds of properties hit when every property travels in a GET's query;
* OAuth apps (:meth:`FakeHubSpot.add_oauth_app`): ``POST /oauth/v3/token`` (or the
  deprecated ``/oauth/v1/token``, or ``/oauth/2026-03/token``) with a refresh token issues
  access tokens that expire (30 minutes by default), optionally with a new refresh token
  each time (``rotate=True``), and a request with an expired one gets HubSpot's 401
  ``EXPIRED_AUTHENTICATION``;
* webhooks: with :meth:`FakeHubSpot.subscribe`, every creation, property change,
  deletion and restore (by the test's users or through the API) becomes the event HubSpot
  would send, and :meth:`FakeHubSpot.webhook_requests` hands them out as v3-signed
  requests of at most 100 events, ready for a receiver.

Use it as a transport or as a server::

    fake = FakeHubSpot()
    adapter = HubSpotAdapter(fake.token, transport=httpx.MockTransport(fake.handle))

    with FakeHubSpot().serve() as url:        # http://127.0.0.1:<port>
        adapter = HubSpotAdapter("fake-token", base_url=url)

Test-side helpers (:meth:`FakeHubSpot.put`, :meth:`~FakeHubSpot.patch`,
:meth:`~FakeHubSpot.archive`, :meth:`~FakeHubSpot.link`, …) play HubSpot's users; they
bypass validation, limits and faults. The fake never opens a connection to anywhere: the
server listens on 127.0.0.1 only.

.. versionadded:: 0.1
"""

from __future__ import annotations

import bisect
import contextlib
import datetime as _dt
import fnmatch
import heapq
import http.server
import json
import re
import socket
import threading
import time
import uuid
from collections import deque
from collections.abc import Callable, Iterable, Iterator, Mapping, Sequence
from typing import Any, Final, final
from urllib.parse import parse_qs

import attrs
import httpx
from typing_extensions import override

from syncengine.records import Pipeline, Stage

__all__ = [
    "MERGED_IDS",
    "FakeHubSpot",
    "Fault",
    "ManualClock",
    "WebhookRequest",
    "property_definition",
]

_UTC: Final = _dt.UTC
_EPOCH: Final = _dt.datetime(1970, 1, 1, tzinfo=_UTC)
_EMAIL: Final = re.compile(r"[^@\s]+@[^@\s]+\.[^@\s]+")
_NUMBER: Final = re.compile(r"[+-]?(?:[0-9]+\.?[0-9]*|\.[0-9]+)(?:[eE][+-]?[0-9]+)?")
_DIGITS: Final = re.compile(r"-?[0-9]{1,16}")
_MAX_BATCH: Final = 100
_MAX_LIST: Final = 100
_MAX_SEARCH: Final = 200
_MAX_GROUPS: Final = 5
_MAX_FILTERS_PER_GROUP: Final = 6
_MAX_FILTERS: Final = 18
_ASSOCIATION_PAGE: Final = 500
# The longest request line ("GET /crm/v3/objects/contacts?properties=… HTTP/1.1") served.
# Public reports of HubSpot answering 414 "Request-URI Too Large" (an nginx page) when
# every property of a wide portal is listed in a GET's query: dlt-hub/verified-sources
# #305 and #311 (a property list longer than ~8,000 characters), airweave-ai/airweave
# #1064 ("exceeding the ~8KB URL length limit", 1,000+ properties), airbytehq/airbyte
# #33976 (~900 deal properties; nginx's 414 page quoted below) and PostHog/posthog#31617
# (~16.2k characters in their tests). nginx's default (large_client_header_buffers 4 8k)
# is the lowest of these: 8 KB.
_MAX_REQUEST_LINE: Final = 8192
_URI_TOO_LONG: Final = (
    b"<html>\r\n<head><title>414 Request-URI Too Large</title></head>\r\n<body>\r\n"
    b"<center><h1>414 Request-URI Too Large</h1></center>\r\n</body>\r\n</html>\r\n"
)
# OAuth (developers.hubspot.com/docs/api-reference/legacy/authentication/oauth-tokens/v1/
# refresh-oauth-token; HubSpot/hubspot-api-python hubspot/oauth/models/token_response_if.py):
# POST /oauth/v1/token, form-encoded grant_type=refresh_token, client_id, client_secret,
# refresh_token; the answer is {access_token, refresh_token, token_type, expires_in}.
# The v3 endpoint (changelog "New OAuth v3 API Endpoints and Standardized Error
# Responses"; reference .../auth-oauth-v3/public-token/post-oauth-v3-token) takes the same
# form in the body and answers the same; the v1 migration guide deprecates v1 on
# February 16, 2027 for the date-versioned /oauth/2026-03/token. Errors now carry RFC
# 6749's "error" and "error_description" next to HubSpot's "status" and "message" (the
# changelog's example: invalid_grant, "refresh token is invalid, expired or revoked").
# Access tokens live 30 minutes (expires_in 1800; airbytehq/airbyte#74726: "HubSpot OAuth
# tokens expire after 30 minutes"). A call with an expired one answers 401 with category
# EXPIRED_AUTHENTICATION, "The OAuth token used to make this call expired N second(s)
# ago." and context {"expire time": [...]} (the body quoted in airbytehq/airbyte#74726 and
# ToolJet/ToolJet#17192). A refresh token HubSpot does not know answers 400 with status
# BAD_REFRESH_TOKEN (secondary: client code that handles it, e.g. "missing or unknown
# refresh token").
_OAUTH_LIFETIME: Final = 1800.0
#: The token endpoint's paths the fake serves: v3, the deprecated v1, the date-versioned.
_TOKEN_PATHS: Final = frozenset({"/oauth/v3/token", "/oauth/v1/token", "/oauth/2026-03/token"})
#: HubSpot's token error statuses as RFC 6749 error codes.
_RFC6749_ERRORS: Final[Mapping[str, str]] = {
    "BAD_GRANT_TYPE": "unsupported_grant_type",
    "BAD_CLIENT_ID": "invalid_client",
    "BAD_CLIENT_SECRET": "invalid_client",
    "BAD_REFRESH_TOKEN": "invalid_grant",
}
#: The property listing the ids merged into a record.
MERGED_IDS: Final = "hs_merged_object_ids"
_OPERATORS: Final = frozenset(
    {
        "EQ",
        "NEQ",
        "LT",
        "LTE",
        "GT",
        "GTE",
        "BETWEEN",
        "IN",
        "NOT_IN",
        "HAS_PROPERTY",
        "NOT_HAS_PROPERTY",
        "CONTAINS_TOKEN",
        "NOT_CONTAINS_TOKEN",
    }
)

# (from, to) -> (type id, inverse type id): HubSpot-defined unlabeled associations.
_ASSOCIATION_TYPES: Final[Mapping[tuple[str, str], tuple[int, int]]] = {
    ("contacts", "companies"): (279, 280),
    ("deals", "companies"): (341, 342),
    ("deals", "contacts"): (3, 4),
    ("invoices", "contacts"): (177, 178),
    ("invoices", "companies"): (179, 180),
    ("contacts", "deals"): (4, 3),
    ("companies", "contacts"): (280, 279),
    ("companies", "deals"): (342, 341),
    ("contacts", "invoices"): (178, 177),
    ("companies", "invoices"): (180, 179),
}
_PRIMARY_TYPES: Final[Mapping[tuple[str, str], int]] = {
    ("contacts", "companies"): 1,
    ("companies", "contacts"): 2,
    ("deals", "companies"): 5,
    ("companies", "deals"): 6,
}


def _now_text(ms: int) -> str:
    moment = _EPOCH + _dt.timedelta(milliseconds=ms)
    return moment.strftime("%Y-%m-%dT%H:%M:%S.") + f"{moment.microsecond // 1000:03d}Z"


def _ms_of(text: str) -> int | None:
    """Epoch ms of an ISO date, datetime or epoch-ms text; ``None`` if it is none."""
    text = text.strip()
    if _DIGITS.fullmatch(text):
        return int(text)
    try:
        moment = _dt.datetime.fromisoformat(text)
    except ValueError:
        try:
            day = _dt.date.fromisoformat(text)
        except ValueError:
            return None
        moment = _dt.datetime(day.year, day.month, day.day)
    if moment.tzinfo is None:
        moment = moment.replace(tzinfo=_UTC)
    delta = moment - _EPOCH
    return (delta.days * 86_400 + delta.seconds) * 1000 + delta.microseconds // 1000


def property_definition(
    name: str,
    type: str = "string",
    field_type: str | None = None,
    *,
    label: str | None = None,
    options: Iterable[str | tuple[str, str]] = (),
    read_only: bool = False,
    calculated: bool = False,
    unique: bool = False,
    hidden: bool = False,
    hubspot_defined: bool = False,
    group: str = "contactinformation",
) -> dict[str, Any]:
    """A property as HubSpot's properties API describes it.

    Args:
        name: The internal name.
        type: ``string``, ``number``, ``bool``, ``date``, ``datetime``, ``enumeration`` or
            ``phone_number``.
        field_type: How HubSpot shows it (``text``, ``select``, ``checkbox`` for a
            multi-select, ``booleancheckbox``, …); derived from ``type`` when omitted.
        label: The label; derived from the name when omitted.
        options: Option values, or (value, label) pairs, of an enumeration.
        read_only: ``modificationMetadata.readOnlyValue``.
        calculated: A calculated property (read-only too).
        unique: ``hasUniqueValue``.
        hidden: Hidden in HubSpot's UI.
        hubspot_defined: A default property.
        group: The property group.
    """
    if field_type is None:
        field_type = {
            "number": "number",
            "bool": "booleancheckbox",
            "date": "date",
            "datetime": "date",
            "enumeration": "select",
            "phone_number": "phonenumber",
        }.get(type, "text")
    option_list = []
    for order, option in enumerate(options):
        value, text = option if isinstance(option, tuple) else (option, option.title())
        option_list.append({"label": text, "value": value, "displayOrder": order, "hidden": False})
    if type == "bool" and not option_list:
        option_list = [
            {"label": "Yes", "value": "true", "displayOrder": 0, "hidden": False},
            {"label": "No", "value": "false", "displayOrder": 1, "hidden": False},
        ]
    return {
        "name": name,
        "label": label or name.replace("_", " ").title(),
        "type": type,
        "fieldType": field_type,
        "description": "",
        "groupName": group,
        "options": option_list,
        "displayOrder": -1,
        "calculated": calculated,
        "externalOptions": False,
        "hasUniqueValue": unique,
        "hidden": hidden,
        "hubspotDefined": hubspot_defined,
        "modificationMetadata": {
            "archivable": not hubspot_defined,
            "readOnlyDefinition": hubspot_defined,
            "readOnlyValue": read_only or calculated,
        },
        "formField": not (read_only or calculated),
        "archived": False,
        "createdAt": "2020-01-01T00:00:00.000Z",
        "updatedAt": "2020-01-01T00:00:00.000Z",
    }


_P = property_definition

_LIFECYCLE: Final = (
    "subscriber",
    "lead",
    "marketingqualifiedlead",
    "salesqualifiedlead",
    "opportunity",
    "customer",
    "evangelist",
    "other",
)


def _standard_properties(object_type: str, lastmod: str, created: str) -> list[dict[str, Any]]:
    common = _standard_properties_common(lastmod, created)
    own: dict[str, list[dict[str, Any]]] = {
        "contacts": [
            _P("email", hubspot_defined=True, label="Email"),
            _P("firstname", hubspot_defined=True, label="First Name"),
            _P("lastname", hubspot_defined=True, label="Last Name"),
            _P("phone", "string", "phonenumber", hubspot_defined=True, label="Phone Number"),
            _P("company", hubspot_defined=True, label="Company Name"),
            _P("website", hubspot_defined=True, label="Website URL"),
            _P("jobtitle", hubspot_defined=True, label="Job Title"),
            _P("city", hubspot_defined=True),
            _P("country", hubspot_defined=True),
            _P("lifecyclestage", "enumeration", options=_LIFECYCLE, hubspot_defined=True),
            _P(
                "hs_buying_role",
                "enumeration",
                "checkbox",
                options=("BUDGET_HOLDER", "CHAMPION", "DECISION_MAKER", "END_USER", "OTHER"),
                hubspot_defined=True,
                label="Buying Role",
            ),
            _P("hs_email_optout", "bool", hubspot_defined=True, label="Unsubscribed"),
            _P("num_associated_deals", "number", calculated=True, hubspot_defined=True),
            # A merge keeps the secondary contact's address here (knowledge.hubspot.com
            # "Merge records"; Insycle's HubSpot merge notes).
            _P("hs_additional_emails", read_only=True, hubspot_defined=True),
        ],
        "companies": [
            _P("name", hubspot_defined=True, group="companyinformation"),
            _P("domain", hubspot_defined=True, group="companyinformation"),
            _P("phone", "string", "phonenumber", hubspot_defined=True),
            _P("city", hubspot_defined=True),
            _P("country", hubspot_defined=True),
            _P(
                "industry",
                "enumeration",
                options=("COMPUTER_SOFTWARE", "RETAIL", "BANKING", "HOSPITAL_HEALTH_CARE"),
                hubspot_defined=True,
            ),
            _P("numberofemployees", "number", hubspot_defined=True),
            _P("annualrevenue", "number", hubspot_defined=True),
            _P("is_public", "bool", hubspot_defined=True),
            _P("description", "string", "textarea", hubspot_defined=True),
            _P("num_associated_contacts", "number", calculated=True, hubspot_defined=True),
            _P("hs_additional_domains", read_only=True, hubspot_defined=True),
        ],
        "deals": [
            _P("dealname", hubspot_defined=True, group="dealinformation"),
            _P("amount", "number", hubspot_defined=True),
            _P("closedate", "datetime", hubspot_defined=True),
            _P("pipeline", "enumeration", options=(), hubspot_defined=True),
            _P("dealstage", "enumeration", options=(), hubspot_defined=True),
            _P(
                "dealtype",
                "enumeration",
                options=("newbusiness", "existingbusiness"),
                hubspot_defined=True,
            ),
            _P(
                "hs_priority",
                "enumeration",
                options=("low", "medium", "high"),
                hubspot_defined=True,
            ),
        ],
        "invoices": [
            _P(
                "hs_currency",
                "enumeration",
                options=("USD", "EUR", "DKK", "GBP"),
                hubspot_defined=True,
            ),
            _P("hs_invoice_date", "date", hubspot_defined=True),
            _P("hs_due_date", "date", hubspot_defined=True),
            _P("hs_purchase_order_number", hubspot_defined=True),
            _P("hs_comments", "string", "textarea", hubspot_defined=True),
            _P(
                "hs_invoice_status",
                "enumeration",
                options=("draft", "open", "paid", "voided"),
                hubspot_defined=True,
            ),
            _P("hs_amount_billed", "number", calculated=True, hubspot_defined=True),
        ],
        "tickets": [
            _P("subject", hubspot_defined=True),
            _P("content", "string", "textarea", hubspot_defined=True),
            _P("hs_pipeline", "enumeration", options=(), hubspot_defined=True),
            _P("hs_pipeline_stage", "enumeration", options=(), hubspot_defined=True),
        ],
    }
    return [*own[object_type], *common]


_STANDARD: Final = (
    ("contacts", "0-1", "CONTACT", ("firstname", "lastname", "email")),
    ("companies", "0-2", "COMPANY", ("name", "domain")),
    ("deals", "0-3", "DEAL", ("dealname", "amount", "closedate", "pipeline", "dealstage")),
    ("tickets", "0-5", "TICKET", ("subject", "content", "hs_pipeline", "hs_pipeline_stage")),
    ("invoices", "0-53", "INVOICE", ("hs_currency", "hs_invoice_date")),
)
_SEARCHABLE: Final[Mapping[str, tuple[str, ...]]] = {
    "contacts": ("email", "firstname", "lastname", "phone", "company"),
    "companies": ("name", "domain", "phone", "website"),
    "deals": ("dealname",),
}
_DEFAULT_DEAL_STAGES: Final = (
    ("appointmentscheduled", "Appointment Scheduled", "0.2"),
    ("qualifiedtobuy", "Qualified To Buy", "0.4"),
    ("presentationscheduled", "Presentation Scheduled", "0.6"),
    ("decisionmakerboughtin", "Decision Maker Bought-In", "0.8"),
    ("contractsent", "Contract Sent", "0.9"),
    ("closedwon", "Closed Won", "1.0"),
    ("closedlost", "Closed Lost", "0.0"),
)


@final
class ManualClock:
    """Time that moves only when something sleeps or a test advances it (thread-safe).

    Pass it as both ``clock`` and ``sleep`` to :class:`FakeHubSpot` and to
    :class:`~syncengine.adapters.hubspot.HubSpotAdapter`: rate limits, back-off and
    timestamps then run on it, and tests never really wait::

        clock = ManualClock()
        fake = FakeHubSpot(clock=clock, sleep=clock.sleep, rate_limit=(50, 1.0))
        adapter = HubSpotAdapter(fake.token, transport=httpx.MockTransport(fake.handle),
                                 clock=clock, sleep=clock.sleep)

    Args:
        start: The initial time, in epoch seconds.
    """

    def __init__(self, start: float = 1_700_000_000.0) -> None:
        """Start at ``start``."""
        self._now = start
        self._lock = threading.Lock()
        #: Every wait asked of :meth:`sleep`, in order.
        self.slept: list[float] = []

    def __call__(self) -> float:
        """The current time, in epoch seconds."""
        with self._lock:
            return self._now

    def sleep(self, seconds: float) -> None:
        """Move time forward by ``seconds`` (negative waits count as none)."""
        with self._lock:
            self.slept.append(seconds)
            self._now += max(0.0, seconds)

    def advance(self, seconds: float) -> None:
        """Move time forward without recording a wait."""
        with self._lock:
            self._now += seconds


#: Legacy webhook prefixes (``contact.deletion``) of the types that have them; every type
#: has the generic ``object.*`` events, which name it by ``objectTypeId``
#: (developers.hubspot.com/changelog/public-beta-generic-webhook-subscriptions).
_WEBHOOK_PREFIXES: Final[Mapping[str, str]] = {
    "contacts": "contact",
    "companies": "company",
    "deals": "deal",
    "tickets": "ticket",
    "products": "product",
    "line_items": "line_item",
}
_WEBHOOK_ACTIONS: Final = frozenset(
    {"creation", "deletion", "propertyChange", "restore", "merge", "associationChange"}
)
_WEBHOOK_BATCH: Final = 100  # HubSpot sends at most 100 events a request


@attrs.frozen
class WebhookRequest:
    """A webhook request as HubSpot sends it: hand it to a receiver's ``handle``::

        for request in fake.webhook_requests(url, secret):
            receiver.handle(request.method, request.url, request.headers, request.body)

    .. versionadded:: 0.2
    """

    method: str
    url: str
    headers: Mapping[str, str]
    body: bytes

    @property
    def events(self) -> list[dict[str, Any]]:
        """The events the body holds."""
        events: list[dict[str, Any]] = json.loads(self.body)
        return events


@attrs.define(eq=False)
class _Object:
    id: str
    properties: dict[str, str]
    created_ms: int
    updated_ms: int
    archived_ms: int | None = None


@attrs.define(eq=False)
class _Type:
    name: str
    type_id: str
    singular: str
    properties: dict[str, dict[str, Any]]
    defaults: tuple[str, ...]
    required: tuple[str, ...] = ()
    custom: bool = False
    fully_qualified: str = ""
    live: dict[str, _Object] = attrs.Factory(dict)
    archived: dict[str, _Object] = attrs.Factory(dict)
    #: Ids (as ints) of live records, sorted: the list endpoint's order.
    order: list[int] = attrs.Factory(list)
    archived_order: list[int] = attrs.Factory(list)
    #: Search's view of the records when search lags (search_delay > 0).
    indexed: dict[str, _Object] = attrs.Factory(dict)
    #: (unique property, lower-cased value) -> id of the live record holding it.
    unique: dict[tuple[str, str], str] = attrs.Factory(dict)
    #: Writes search does not show yet: a heap of (visible at, write number, id, copy).
    backlog: list[tuple[int, int, str, _Object | None]] = attrs.Factory(list)
    #: The write number search shows, per record id.
    shown: dict[str, int] = attrs.Factory(dict)
    pipelines: list[dict[str, Any]] | None = None
    #: Merged-away id -> the id of the record it was merged into (see FakeHubSpot.merge).
    merged_into: dict[str, str] = attrs.Factory(dict)

    def resolve(self, record_id: str) -> _Object | None:
        """The live record ``record_id`` names: itself, or the record it was merged into."""
        seen = 0
        while record_id not in self.live and record_id in self.merged_into and seen < 1000:
            record_id = self.merged_into[record_id]
            seen += 1
        return self.live.get(record_id)

    @property
    def lastmod(self) -> str:
        return "lastmodifieddate" if self.name == "contacts" else "hs_lastmodifieddate"

    @property
    def created(self) -> str:
        return "createdate" if self.name in ("contacts", "companies", "deals") else "hs_createdate"

    @property
    def scope(self) -> str:
        return "custom" if self.custom else self.name


@attrs.define
class Fault:
    """A failure the fake answers with instead of serving a request.

    Args:
        status: The HTTP status (500, 502, 503, 423, 477, 429, …).
        times: How many matching requests fail.
        method: Only requests with this method (any when ``None``).
        path: Only requests whose path contains this text (any when ``None``).
        retry_after: A ``Retry-After`` header, in seconds.
        body: The JSON body; a HubSpot-like error body when omitted.
        policy: For a 429: the ``policyName`` (``TEN_SECONDLY_ROLLING``, ``DAILY``, …).
        after: Serve the request first (its writes are committed), then lose its reply:
            answer the fault instead. HubSpot's "Error handling" page
            (developers.hubspot.com/docs/api-reference/error-handling) lists 502, 504 and
            the Cloudflare 52x timeouts as transient errors to retry; a gateway that
            times out (RFC 9110 §15.6.5, 504) or a client whose read times out cannot
            know whether the CRM behind it committed the write, and often it did. Only
            writes keyed by a unique property (``batch/upsert`` with ``idProperty``:
            ".../crm/objects/companies/batch/upsert-companies" in HubSpot's API
            reference) can be retried without making a second record.
        timeout: Answer with no reply at all: the client's read times out
            (``httpx.ReadTimeout``; on the loopback server the connection is closed).
    """

    status: int
    times: int = 1
    method: str | None = None
    path: str | None = None
    retry_after: float | None = None
    body: Any = None
    policy: str | None = None
    after: bool = False
    timeout: bool = False


class _Problem(Exception):
    """One item's failure: an error body, and the status of the whole call if alone."""

    def __init__(
        self,
        status: int,
        category: str,
        message: str,
        *,
        code: str | None = None,
        context: Mapping[str, Sequence[str]] | None = None,
        errors: Sequence[Mapping[str, Any]] = (),
        sub_category: str | None = None,
    ) -> None:
        super().__init__(message)
        self.status = status
        self.category = category
        self.message = message
        self.code = code
        self.context: dict[str, list[str]] = {k: list(v) for k, v in (context or {}).items()}
        self.errors = list(errors)
        self.sub_category = sub_category

    def body(self, correlation_id: str, trace: str | None = None) -> dict[str, Any]:
        context = dict(self.context)
        if trace is not None:
            context["objectWriteTraceId"] = [trace]
        data: dict[str, Any] = {
            "status": "error",
            "message": self.message,
            "correlationId": correlation_id,
            "category": self.category,
        }
        if context:
            data["context"] = context
        if self.errors:
            data["errors"] = self.errors
        if self.sub_category:
            data["subCategory"] = self.sub_category
        return data


#: Half of a UTF-16 surrogate pair: text that is not valid Unicode.
_SURROGATE: Final = re.compile("[\ud800-\udfff]")


def _invalid(errors: list[tuple[str, str, str]]) -> _Problem:
    """A VALIDATION_ERROR for property problems: (name, code, message) each."""
    listed = json.dumps(
        [
            {"isValid": False, "message": message, "error": code, "name": name}
            for name, code, message in errors
        ],
        separators=(",", ":"),
    )
    return _Problem(
        400,
        "VALIDATION_ERROR",
        f"Property values were not valid: {listed}",
        errors=[
            {"message": message, "code": code, "context": {"propertyName": [name]}}
            for name, code, message in errors
        ],
    )


def _reply(
    status: int, data: Any = None, headers: Mapping[str, str] | None = None
) -> httpx.Response:
    content = b"" if data is None else json.dumps(data, separators=(",", ":")).encode()
    all_headers = {"Content-Type": "application/json;charset=utf-8", **(headers or {})}
    return httpx.Response(status, content=content, headers=all_headers)


@final
class FakeHubSpot:
    """A local HubSpot CRM account behind HubSpot's API (see the module docstring).

    Args:
        token: The bearer token requests must carry (others get 401).
        portal_id: The account's id.
        rate_limit: (requests, seconds) of the burst limit, counted on arrival, e.g.
            ``(100, 10.0)`` as on HubSpot's Free tier or ``(50, 1.0)``; ``None`` for none.
        daily_limit: Requests per day; ``None`` for none.
        search_rate: (requests, seconds) of search's own limit (HubSpot: ``(5, 1.0)``);
            ``None`` for none.
        search_cap: The most results one search query pages through (HubSpot: 10,000).
        search_delay: Seconds before a write shows in search results (eventual
            consistency; HubSpot's "Search the CRM" guide warns that new and changed
            records take a few moments to appear); 0 shows it at once. Reads by id or
            by ``idProperty`` never lag.
        latency: Seconds every request takes before it is served.
        clock: Epoch seconds; drives timestamps, rate windows and token expiry.
        sleep: How latency waits.
        max_request_line: The longest request line (method, path and query) served;
            longer ones get 414 "Request-URI Too Large" (8 KB, the lowest limit public
            reports of HubSpot show); ``None`` for none.

            .. versionadded:: 0.3

    .. versionadded:: 0.1
    """

    def __init__(
        self,
        *,
        token: str = "fake-token",
        portal_id: int = 12345678,
        rate_limit: tuple[int, float] | None = None,
        daily_limit: int | None = None,
        search_rate: tuple[int, float] | None = None,
        search_cap: int = 10_000,
        search_delay: float = 0.0,
        latency: float = 0.0,
        clock: Callable[[], float] = time.time,
        sleep: Callable[[float], None] = time.sleep,
        max_request_line: int | None = _MAX_REQUEST_LINE,
    ) -> None:
        """Create an empty account with HubSpot's standard objects and a sales pipeline."""
        self.token = token
        self.max_request_line = max_request_line
        #: OAuth apps: client id -> (client secret, refresh tokens, access-token lifetime).
        self._oauth_apps: dict[str, tuple[str, set[str], float]] = {}
        #: Access tokens issued: token -> epoch seconds it expires at.
        self._access_tokens: dict[str, float] = {}
        #: How many access tokens the token endpoint has issued.
        self.tokens_issued = 0
        #: The token endpoint's paths, one per request (v1, v3 or date-versioned).
        self.token_paths: list[str] = []
        #: OAuth apps whose refresh tokens rotate (add_oauth_app(rotate=True)).
        self._rotating: set[str] = set()
        self.portal_id = portal_id
        self.rate_limit = rate_limit
        self.daily_limit = daily_limit
        self.search_rate = search_rate
        self.search_cap = search_cap
        self.search_delay = search_delay
        self.latency = latency
        self._clock = clock
        self._sleep = sleep
        self._lock = threading.RLock()
        self._types: dict[str, _Type] = {}
        self._aliases: dict[str, str] = {}
        self._next_id = 100
        self._next_type = 0
        self._links: dict[tuple[str, str, str], dict[str, set[int]]] = {}
        self._custom_association_types: dict[tuple[str, str], tuple[int, int]] = {}
        self._revoked: set[str] = set()
        self._faults: list[Fault] = []
        self._writes = 0
        self._window: deque[float] = deque()
        self._search_window: deque[float] = deque()
        self._daily = 0
        #: Every request served or refused, as (method, path, status), for assertions; a
        #: request answered by a timeout (``Fault(timeout=True)``) has status 0.
        self.log: list[tuple[str, str, int]] = []
        self._subscriptions: set[str] = set()
        self._webhook_events: list[dict[str, Any]] = []
        self._next_event = 0
        self._creating = False
        self._merging = False
        for name, type_id, singular, defaults in _STANDARD:
            kind = _Type(name, type_id, singular, {}, defaults)
            kind.properties = {
                p["name"]: p for p in _standard_properties(name, kind.lastmod, kind.created)
            }
            self._register(kind)
        self.set_pipelines(
            "deals",
            [
                Pipeline(
                    "default", "Sales Pipeline", [Stage(s, t) for s, t, _ in _DEFAULT_DEAL_STAGES]
                )
            ],
        )
        self.set_pipelines(
            "tickets",
            [Pipeline("0", "Support Pipeline", [Stage("1", "New"), Stage("4", "Closed")])],
        )

    @override
    def __repr__(self) -> str:
        with self._lock:
            counts = ", ".join(f"{t.name}={len(t.live)}" for t in self._types.values() if t.live)
        return f"<FakeHubSpot portal {self.portal_id} ({counts})>"

    # ---- configuration ------------------------------------------------------------

    def _register(self, kind: _Type) -> None:
        self._types[kind.name] = kind
        for alias in (kind.name, kind.type_id, kind.fully_qualified):
            if alias:
                self._aliases[alias] = kind.name

    def add_object_type(
        self,
        name: str,
        properties: Iterable[Mapping[str, Any]],
        *,
        required: Sequence[str] = (),
        singular: str | None = None,
    ) -> str:
        """Define a custom object type; return its object type id (``2-…``).

        Requests may name it ``name``, its id, or ``p<portal>_<name without p_>``.

        Args:
            name: The name, e.g. ``"p_cars"``.
            properties: Its properties (see :func:`property_definition`).
            required: Names of properties every create must set.
            singular: Its singular label in messages.
        """
        with self._lock:
            self._next_type += 1
            type_id = f"2-{1000 + self._next_type}"
            bare = name[2:] if name.startswith("p_") else name
            kind = _Type(
                name,
                type_id,
                (singular or bare).upper(),
                {},
                tuple(required),
                required=tuple(required),
                custom=True,
                fully_qualified=f"p{self.portal_id}_{bare}",
            )
            props = [dict(p) for p in properties]
            kind.properties = {
                p["name"]: p
                for p in [*props, *_standard_properties_common(kind.lastmod, kind.created)]
            }
            unknown = [r for r in required if r not in kind.properties]
            if unknown:
                raise ValueError(f"required properties {unknown} are not among the properties")
            self._register(kind)
            return type_id

    def add_property(self, object_type: str, definition: Mapping[str, Any]) -> None:
        """Add (or replace) a property of a type (see :func:`property_definition`)."""
        with self._lock:
            self._type(object_type).properties[str(definition["name"])] = dict(definition)

    def set_pipelines(self, object_type: str, pipelines: Sequence[Pipeline]) -> None:
        """Replace the pipelines of ``object_type`` (and the options of its stage fields)."""
        with self._lock:
            kind = self._type(object_type)
            stamp = "2020-01-01T00:00:00.000Z"
            kind.pipelines = [
                {
                    "id": p.id,
                    "label": p.label,
                    "displayOrder": order,
                    "archived": False,
                    "createdAt": stamp,
                    "updatedAt": stamp,
                    "stages": [
                        {
                            "id": s.id,
                            "label": s.label,
                            "displayOrder": n,
                            "archived": False,
                            "metadata": {"probability": "0.5", "isClosed": "false"},
                            "writePermissions": "CRUD_ALL",
                            "createdAt": stamp,
                            "updatedAt": stamp,
                        }
                        for n, s in enumerate(p.stages)
                    ],
                }
                for order, p in enumerate(pipelines)
            ]
            fields = {
                "deals": ("pipeline", "dealstage"),
                "tickets": ("hs_pipeline", "hs_pipeline_stage"),
            }
            if kind.name in fields:
                pipeline_field, stage_field = fields[kind.name]
                kind.properties[pipeline_field]["options"] = [
                    {"label": p.label, "value": p.id, "displayOrder": n, "hidden": False}
                    for n, p in enumerate(pipelines)
                ]
                kind.properties[stage_field]["options"] = [
                    {"label": s.label, "value": s.id, "displayOrder": n, "hidden": False}
                    for n, s in enumerate(s for p in pipelines for s in p.stages)
                ]

    def revoke(self, scope: str) -> None:
        """Take a scope from the token (``"crm.objects.deals.read"``): 403 where it is needed.

        Scopes: ``crm.objects.<type>.read|write`` (records, search, associations,
        pipelines; ``custom`` for custom objects) and ``crm.schemas.<type>.read``
        (properties and schemas).
        """
        with self._lock:
            self._revoked.add(scope)

    def grant(self, scope: str) -> None:
        """Give a revoked scope back."""
        with self._lock:
            self._revoked.discard(scope)

    def add_oauth_app(
        self,
        client_id: str,
        client_secret: str,
        *,
        refresh_token: str | None = None,
        lifetime: float = _OAUTH_LIFETIME,
        rotate: bool = False,
    ) -> str:
        """Install an OAuth app in the account; return a refresh token for it.

        ``POST /oauth/v3/token`` (or ``/oauth/v1/token``, ``/oauth/2026-03/token``) then
        exchanges the refresh token (with the app's client id and secret) for an access
        token that expires after ``lifetime`` seconds. With ``rotate``, each exchange
        answers a new refresh token and the one used stops working (rotation, as OAuth
        2.1 recommends); the paths served are in :attr:`token_paths`.

        .. versionadded:: 0.3
        """
        with self._lock:
            token = refresh_token or f"rt-{uuid.uuid4()}"
            known = self._oauth_apps.get(client_id, (client_secret, set(), lifetime))[1]
            self._oauth_apps[client_id] = (client_secret, {*known, token}, lifetime)
            if rotate:
                self._rotating.add(client_id)
            else:
                self._rotating.discard(client_id)
            return token

    def expire_tokens(self) -> None:
        """Expire every OAuth access token issued so far, now (e.g. a clock skew).

        .. versionadded:: 0.3
        """
        with self._lock:
            now = self._clock()
            self._access_tokens = {t: min(at, now) for t, at in self._access_tokens.items()}

    def fail(self, status: int, **options: Any) -> Fault:
        """Answer the next matching request(s) with ``status`` (see :class:`Fault`)."""
        fault = Fault(status, **options)
        with self._lock:
            self._faults.append(fault)
        return fault

    # ---- webhooks -----------------------------------------------------------------------

    def subscribe(self, *subscription_types: str) -> None:
        """Record the events of these subscriptions from now on, as HubSpot would send
        them (developers.hubspot.com/docs/api/webhooks: the event fields,
        ``occurredAt`` in epoch ms, one event per changed property).

        Types are legacy (``"contact.deletion"``, ``"company.propertyChange"``) or
        generic (``"object.deletion"``: every object type, named by ``objectTypeId``);
        actions are ``creation``, ``deletion``, ``propertyChange``, ``restore``,
        ``merge`` (see :meth:`merge`) and ``associationChange`` (one event per linked
        record for each link made or removed, with ``associationType`` such as
        ``CONTACT_TO_COMPANY``, ``fromObjectId``, ``toObjectId``,
        ``associationRemoved``; a link moves no record's last-modified time). Changes
        made through the API are events too, as at HubSpot.

        Raises:
            ValueError: An unknown subscription type.
        """
        for name in subscription_types:
            prefix, _, action = name.partition(".")
            known = prefix == "object" or prefix in _WEBHOOK_PREFIXES.values()
            if not known or action not in _WEBHOOK_ACTIONS:
                raise ValueError(f"unknown webhook subscription type {name!r}")
        with self._lock:
            self._subscriptions.update(subscription_types)

    def webhook_events(self) -> list[dict[str, Any]]:
        """The events recorded and not handed out yet, oldest first."""
        with self._lock:
            return [dict(e) for e in self._webhook_events]

    def webhook_requests(
        self, url: str, secret: str, *, batch: int = _WEBHOOK_BATCH
    ) -> list[WebhookRequest]:
        """Hand out the recorded events as HubSpot's webhook requests, oldest first: at
        most ``batch`` (100) events each, a JSON array signed with v3 (HMAC-SHA256 of
        ``POST`` + ``url`` + body + timestamp with the app's ``secret``, the timestamp
        the fake's clock in epoch ms). The events are handed out once: drop a request
        to play a lost delivery.
        """
        from syncengine.webhooks import signature_v3

        if not 1 <= batch <= _WEBHOOK_BATCH:
            raise ValueError(f"batch must be within 1..{_WEBHOOK_BATCH}, got {batch}")
        with self._lock:
            events, self._webhook_events = self._webhook_events, []
            stamp = str(self._now())
        requests = []
        for start in range(0, len(events), batch):
            body = json.dumps(events[start : start + batch]).encode()
            headers = {
                "Content-Type": "application/json",
                "X-HubSpot-Request-Timestamp": stamp,
                "X-HubSpot-Signature-v3": signature_v3("POST", url, body, stamp, secret),
            }
            requests.append(WebhookRequest("POST", url, headers, body))
        return requests

    def _event(self, kind: _Type, action: str, record_id: str, **fields: Any) -> None:
        """Record the events of one change for the subscriptions that cover it."""
        if not self._subscriptions or (self._merging and action != "merge"):
            return
        legacy = _WEBHOOK_PREFIXES.get(kind.name)
        types = [
            (name, {"objectTypeId": kind.type_id} if name.startswith("object.") else {})
            for name in (f"{legacy}.{action}" if legacy else None, f"object.{action}")
            if name is not None and name in self._subscriptions
        ]
        occurred = fields.pop("occurredAt", None)
        if occurred is None:
            occurred = self._now()  # one change, one time, in every subscription's event
        for name, extra in types:
            self._next_event += 1
            self._webhook_events.append(
                {
                    "eventId": self._next_event,
                    "subscriptionId": sorted(self._subscriptions).index(name) + 1,
                    "portalId": self.portal_id,
                    "appId": 1160452,
                    "occurredAt": occurred,
                    "subscriptionType": name,
                    "attemptNumber": 0,
                    "objectId": _int(record_id, 0),
                    "changeSource": "CRM",
                    **extra,
                    **fields,
                }
            )

    # ---- the account's users (test side: no validation, limits or faults) ------------

    def _type(self, object_type: str) -> _Type:
        name = self._aliases.get(object_type)
        if name is None:
            raise KeyError(f"unknown object type {object_type!r}")
        return self._types[name]

    def _now(self) -> int:
        return int(self._clock() * 1000)

    @staticmethod
    def _text(value: Any) -> str:
        if value is None:
            return ""
        if isinstance(value, bool):
            return "true" if value else "false"
        if isinstance(value, _dt.datetime):
            return _now_text(_ms_of(value.isoformat()) or 0)
        if isinstance(value, _dt.date):
            return value.isoformat()
        if isinstance(value, frozenset | set | list | tuple):
            return ";".join(sorted(str(v) for v in value))
        return str(value)

    def put(
        self,
        object_type: str,
        properties: Mapping[str, Any] | None = None,
        /,
        *,
        id: str | None = None,
        **props: Any,
    ) -> str:
        """Create a record as a HubSpot user would (no validation); return its id.

        Python values are stored in HubSpot's string forms (bools, dates, datetimes,
        sets of options); ``None`` values are dropped.
        """
        with self._lock:
            kind = self._type(object_type)
            values = {
                k: self._text(v)
                for k, v in {**(properties or {}), **props}.items()
                if v is not None
            }
            record_id = id if id is not None else self._new_id()
            self._next_id = max(self._next_id, _int(record_id, 0))
            self._store_new(kind, record_id, values)
            return record_id

    def patch(self, object_type: str, id: str, /, **props: Any) -> None:
        """Change a live record's properties as a user would (no validation).

        Raises:
            KeyError: There is no live record ``id``.
        """
        with self._lock:
            kind = self._type(object_type)
            obj = kind.live[id]
            changes = {k: self._text(v) for k, v in props.items()}
            self._apply(kind, obj, changes, touch=True)

    def archive(self, object_type: str, id: str, /) -> None:
        """Archive (delete) a record as a user would.

        Raises:
            KeyError: There is no live record ``id``.
        """
        with self._lock:
            kind = self._type(object_type)
            self._archive(kind, kind.live[id])

    def get(self, object_type: str, id: str, /) -> dict[str, str] | None:
        """A live record's stored properties (HubSpot's strings), or ``None``."""
        with self._lock:
            obj = self._type(object_type).live.get(id)
            return None if obj is None else dict(obj.properties)

    def records(self, object_type: str) -> dict[str, dict[str, str]]:
        """Every live record's stored properties, by id, in id order."""
        with self._lock:
            kind = self._type(object_type)
            return {str(i): dict(kind.live[str(i)].properties) for i in kind.order}

    def count(self, object_type: str) -> int:
        """How many live records ``object_type`` has."""
        with self._lock:
            return len(self._type(object_type).live)

    def link(self, from_type: str, from_id: str, to_type: str, to_id: str) -> None:
        """Associate two records (both ways) as a user would."""
        with self._lock:
            source, target = self._type(from_type), self._type(to_type)
            self._link(source, from_id, target, to_id, self._types_for(source, target)[0])

    def links(self, object_type: str, id: str, to_type: str) -> set[str]:
        """The ids of ``to_type`` records linked to a record."""
        with self._lock:
            source, target = self._type(object_type), self._type(to_type)
            return set(self._links.get((source.name, id, target.name), {}))

    def unlink(self, from_type: str, from_id: str, to_type: str, to_id: str) -> None:
        """Remove the link between two records (both ways) as a user would."""
        with self._lock:
            source, target = self._type(from_type), self._type(to_type)
            self._unlink(source, from_id, target, to_id)

    def merge(self, object_type: str, primary_id: str, merged_id: str, /) -> str:
        """Merge two live records as a HubSpot user would; return the merged record's id.

        As HubSpot does since its merge change (developers.hubspot.com/changelog
        "Updated merge functionality for contacts and companies"): the result is a *new*
        record with a new id; it takes the primary's values and keeps the other's where
        the primary has none; both old records are archived (they are listed with
        ``archived=true``, as third-party reports say: "both originals are archived",
        cleanupcrm.com; Whalesync's HubSpot notes), and a read of either old id (single
        or batch) returns the merged record under its new id, whose
        ``hs_merged_object_ids`` lists the old ids. Search shows only the new record.
        Links of both records move to the new one. The merged-away contact's e-mail
        moves to ``hs_additional_emails`` (a company's domain to
        ``hs_additional_domains``). For a ``<type>.merge`` subscription (see
        :meth:`subscribe`) one event is recorded, with ``primaryObjectId``,
        ``mergedObjectIds``, ``newObjectId`` and ``numberOfPropertiesMoved``
        (developers.hubspot.com changelog "New subscription types for Webhooks"), not
        the deletions and the creation the merge is made of.

        Raises:
            KeyError: A record is not live, or both ids are the same.
        """
        with self._lock:
            kind = self._type(object_type)
            return self._merge(kind, primary_id, merged_id).id

    # ---- storage ----------------------------------------------------------------------

    def _new_id(self) -> str:
        self._next_id += 1
        return str(self._next_id)

    def _store_new(self, kind: _Type, record_id: str, values: Mapping[str, str]) -> _Object:
        now = self._now()  # one create, one time: created, modified and its event
        restored = kind.archived.pop(record_id, None) is not None  # put again: a restore
        if restored:
            kind.archived_order.remove(int(record_id))
        obj = kind.live.get(record_id)
        created = obj is None
        if obj is None:
            obj = _Object(record_id, {}, now, now - 1)
            kind.live[record_id] = obj
            bisect.insort(kind.order, int(record_id))
        else:
            self._apply(kind, obj, dict.fromkeys(obj.properties, ""), touch=False, now=now)
        self._creating = created
        try:
            self._apply(kind, obj, values, touch=True, now=now)
        finally:
            self._creating = False
        if created:
            self._event(kind, "restore" if restored else "creation", record_id, occurredAt=now)
        return obj

    def _apply(
        self,
        kind: _Type,
        obj: _Object,
        changes: Mapping[str, str],
        *,
        touch: bool,
        now: int | None = None,
    ) -> bool:
        """Set values ("" clears); a change (or ``touch``) moves the modification time.

        The time moves forward by 1 ms at least, so every change of a record has its own
        time, as a search on the last-modified property needs. The clock is read once
        (or ``now`` given): one change has one time in all its webhook events (a receiver
        keys duplicates on ``occurredAt``: a millisecond passing between two readings
        made one change count as two).
        """
        if now is None:
            now = self._now()
        changed = False
        for name, value in changes.items():
            old = obj.properties.get(name, "")
            if old == value:
                continue
            changed = True
            unique = self._unique(kind, name)
            if unique and old:
                kind.unique.pop((name, old.lower()), None)
            if value == "":
                del obj.properties[name]
            else:
                obj.properties[name] = value
                if unique:
                    kind.unique[(name, value.lower())] = obj.id
            if not self._creating:
                self._event(
                    kind,
                    "propertyChange",
                    obj.id,
                    propertyName=name,
                    propertyValue=value,
                    occurredAt=now,
                )
        if changed or touch:
            obj.updated_ms = max(now, obj.updated_ms + 1)
            self._system(kind, obj)
            self._reindex(kind, obj, now=now)
        return changed

    def _system(self, kind: _Type, obj: _Object) -> None:
        obj.properties["hs_object_id"] = obj.id
        obj.properties[kind.created] = _now_text(obj.created_ms)
        obj.properties[kind.lastmod] = _now_text(obj.updated_ms)

    def _reindex(
        self, kind: _Type, obj: _Object | None, record_id: str | None = None, *, now: int
    ) -> None:
        """Hand a write made at ``now`` to search: at once, or ``search_delay`` seconds later."""
        self._writes += 1
        key = record_id if obj is None else obj.id
        snapshot = None if obj is None else attrs.evolve(obj, properties=dict(obj.properties))
        delay = int(self.search_delay * 1000)
        if delay <= 0 and not kind.backlog:
            self._show(kind, key, self._writes, snapshot)
        else:
            heapq.heappush(kind.backlog, (now + delay, self._writes, key or "", snapshot))

    def _show(self, kind: _Type, record_id: str | None, write: int, obj: _Object | None) -> None:
        if record_id is None or kind.shown.get(record_id, 0) > write:
            return  # a later write of the record is shown already
        kind.shown[record_id] = write
        if obj is None:
            kind.indexed.pop(record_id, None)
        else:
            kind.indexed[record_id] = obj

    def _archive(self, kind: _Type, obj: _Object) -> None:
        for name, value in obj.properties.items():
            if self._unique(kind, name) and kind.unique.get((name, value.lower())) == obj.id:
                del kind.unique[(name, value.lower())]
        del kind.live[obj.id]
        kind.order.pop(bisect.bisect_left(kind.order, int(obj.id)))
        now = self._now()  # one deletion, one time: archivedAt and its events
        obj.archived_ms = max(now, obj.updated_ms)
        kind.archived[obj.id] = obj
        bisect.insort(kind.archived_order, int(obj.id))
        self._reindex(kind, None, obj.id, now=now)
        self._event(kind, "deletion", obj.id, occurredAt=obj.archived_ms)

    def _searchable(self, kind: _Type) -> Iterable[_Object]:
        """What search shows now: the writes whose indexing time has come."""
        now = self._now()
        while kind.backlog and kind.backlog[0][0] <= now:
            _, write, record_id, snapshot = heapq.heappop(kind.backlog)
            self._show(kind, record_id, write, snapshot)
        return kind.indexed.values()

    def _types_for(self, source: _Type, target: _Type) -> tuple[int, int]:
        known = _ASSOCIATION_TYPES.get((source.name, target.name))
        if known is not None:
            return known
        pair = (source.name, target.name)
        if pair not in self._custom_association_types:
            base = 1000 + 2 * len(self._custom_association_types)
            self._custom_association_types[pair] = (base, base + 1)
            self._custom_association_types[(target.name, source.name)] = (base + 1, base)
        return self._custom_association_types[pair]

    def _link(self, source: _Type, from_id: str, target: _Type, to_id: str, type_id: int) -> None:
        # A link does not touch either record: their last-modified time stays, so a
        # change scan never sees an association-only change. HubSpot's association
        # writes go through the separate v4 associations API and do not count as a
        # property change (airbytehq/airbyte issues 14390, 27199: incremental syncs
        # miss association changes); associationChange webhooks report them.
        if from_id not in source.live:
            raise KeyError(f"{source.name} record {from_id!r} does not exist")
        if to_id not in target.live:
            raise KeyError(f"{target.name} record {to_id!r} does not exist")
        forward, backward = self._types_for(source, target)
        chosen_back = backward if type_id == forward else _inverse_primary(source, target, type_id)
        known = to_id in self._links.get((source.name, from_id, target.name), {})
        self._links.setdefault((source.name, from_id, target.name), {}).setdefault(
            to_id, set()
        ).add(type_id)
        self._links.setdefault((target.name, to_id, source.name), {}).setdefault(
            from_id, set()
        ).add(chosen_back)
        if not known:
            self._association_events(source, from_id, target, to_id, removed=False)

    def _unlink(self, source: _Type, from_id: str, target: _Type, to_id: str) -> None:
        found = self._links.get((source.name, from_id, target.name), {}).pop(to_id, None)
        self._links.get((target.name, to_id, source.name), {}).pop(from_id, None)
        if found is not None:
            self._association_events(source, from_id, target, to_id, removed=True)

    def _association_events(
        self, source: _Type, from_id: str, target: _Type, to_id: str, *, removed: bool
    ) -> None:
        # One link is one change at one moment: both ends' events carry its time (a
        # receiver that keys duplicates on occurredAt must see the same change twice,
        # not two changes a millisecond apart).
        occurred = self._now()
        for kind, other, one, two in (
            (source, target, from_id, to_id),
            (target, source, to_id, from_id),
        ):
            extra: dict[str, Any] = {
                "fromObjectId": _int(one, 0),
                "toObjectId": _int(two, 0),
                "associationRemoved": removed,
                "isPrimaryAssociation": False,
                # The generic object.associationChange names the ends by type id
                # (changelog "Public Beta: Generic Webhook Subscriptions").
                "fromObjectTypeId": kind.type_id,
                "toObjectTypeId": other.type_id,
            }
            if not (kind.custom or other.custom):
                extra["associationType"] = f"{kind.singular}_TO_{other.singular}"
            self._event(kind, "associationChange", one, occurredAt=occurred, **extra)

    def _merge(self, kind: _Type, primary_id: str, merged_id: str) -> _Object:
        primary, merged = kind.live.get(primary_id), kind.live.get(merged_id)
        if primary is None or merged is None or primary is merged:
            raise KeyError(
                f"cannot merge {kind.name} {primary_id!r} and {merged_id!r}: both must be "
                "live, and different"
            )
        system = {"hs_object_id", kind.created, kind.lastmod, MERGED_IDS}
        values = {k: v for k, v in merged.properties.items() if k not in system}
        moved = sum(1 for k in values if not primary.properties.get(k))
        values.update({k: v for k, v in primary.properties.items() if k not in system and v})
        extra = {
            "contacts": ("email", "hs_additional_emails"),
            "companies": ("domain", "hs_additional_domains"),
        }
        if kind.name in extra:
            name, more = extra[kind.name]
            kept = [v for v in values.get(more, "").split(";") if v]
            lost = merged.properties.get(name, "")
            if lost and lost.lower() != values.get(name, "").lower() and lost not in kept:
                kept.append(lost)
            if kept:
                values[more] = ";".join(kept)
        ids: list[str] = []
        for obj in (primary, merged):
            ids += [i for i in obj.properties.get(MERGED_IDS, "").split(";") if i]
            ids.append(obj.id)
        values[MERGED_IDS] = ";".join(dict.fromkeys(ids))
        # One merge event, not the deletions and the creation it is made of.
        self._merging = True
        try:
            self._archive(kind, primary)
            self._archive(kind, merged)
            new = self._store_new(kind, self._new_id(), values)
        finally:
            self._merging = False
        for old in (primary.id, merged.id):
            kind.merged_into[old] = new.id
        # The links of both records move to the merged one (the primary's first).
        for (name, record_id, target_name), linked in list(self._links.items()):
            if name != kind.name or record_id not in (primary.id, merged.id):
                continue
            del self._links[(name, record_id, target_name)]
            mine = self._links.setdefault((name, new.id, target_name), {})
            for to_id, types in linked.items():
                mine.setdefault(to_id, set()).update(types)
                back = self._links.get((target_name, to_id, name), {})
                if record_id in back:
                    back.setdefault(new.id, set()).update(back.pop(record_id))
        self._event(
            kind,
            "merge",
            new.id,
            primaryObjectId=_int(primary.id, 0),
            mergedObjectIds=[_int(merged.id, 0)],
            newObjectId=_int(new.id, 0),
            numberOfPropertiesMoved=moved,
            occurredAt=new.created_ms,  # the merge's one time
        )
        return new

    # ---- HTTP -------------------------------------------------------------------------

    def handle(self, request: httpx.Request) -> httpx.Response:
        """Serve one request (use as ``httpx.MockTransport(fake.handle)``)."""
        if self.latency > 0:
            self._sleep(self.latency)
        method = request.method.upper()
        with self._lock:
            line = len(method) + len(request.url.raw_path) + len(" HTTP/1.1") + 1
            if self.max_request_line is not None and line > self.max_request_line:
                # The front end refuses it before HubSpot's API sees it: an HTML page.
                response = httpx.Response(
                    414, content=_URI_TOO_LONG, headers={"Content-Type": "text/html"}
                )
            elif method == "POST" and request.url.path in _TOKEN_PATHS:
                response = self._token(request, str(uuid.uuid4()))
            else:
                try:
                    response = self._serve_one(request, method, str(uuid.uuid4()))
                except httpx.TimeoutException:
                    self.log.append((method, request.url.path, 0))
                    raise
            self.log.append((method, request.url.path, response.status_code))
        return response

    def _token(self, request: httpx.Request, correlation: str) -> httpx.Response:
        """``POST /oauth/v3/token`` (and v1, 2026-03): a refresh token (and the app's
        credentials) for an access token (see ``_OAUTH_LIFETIME`` for the public sources)."""
        self.token_paths.append(request.url.path)
        if request.url.query:
            # v3 takes its parameters in the body only (the changelog's point: secrets
            # must not reach URLs and logs).
            return _reply(
                400,
                {
                    "error": "invalid_request",
                    "error_description": "parameters must be in the form-encoded body",
                    "status": "BAD_REQUEST",
                    "message": "parameters must be in the form-encoded body",
                    "correlationId": correlation,
                },
                {"X-HubSpot-Correlation-Id": correlation},
            )
        form = {k: v[-1] for k, v in parse_qs(request.content.decode("utf-8", "replace")).items()}

        def refused(status: str, message: str) -> httpx.Response:
            data = {
                "error": _RFC6749_ERRORS.get(status, "invalid_request"),
                "error_description": message,
                "status": status,
                "message": message,
                "correlationId": correlation,
            }
            return _reply(400, data, {"X-HubSpot-Correlation-Id": correlation})

        if "application/x-www-form-urlencoded" not in request.headers.get("content-type", ""):
            return refused("BAD_REQUEST", "the request body must be form-encoded")
        if form.get("grant_type") != "refresh_token":
            return refused("BAD_GRANT_TYPE", "grant_type must be refresh_token")
        app = self._oauth_apps.get(form.get("client_id", ""))
        if app is None:
            return refused("BAD_CLIENT_ID", "missing or unknown client id")
        secret, refresh_tokens, lifetime = app
        if form.get("client_secret") != secret:
            return refused("BAD_CLIENT_SECRET", "missing or invalid client secret")
        refresh_token = form.get("refresh_token", "")
        if refresh_token not in refresh_tokens:
            return refused("BAD_REFRESH_TOKEN", "missing or unknown refresh token")
        access = f"oauth-{uuid.uuid4().hex}"
        self._access_tokens[access] = self._clock() + lifetime
        self.tokens_issued += 1
        if form.get("client_id", "") in self._rotating:
            refresh_tokens.discard(refresh_token)
            refresh_token = f"rt-{uuid.uuid4()}"
            refresh_tokens.add(refresh_token)
        return _reply(
            200,
            {
                "token_type": "bearer",
                "refresh_token": refresh_token,
                "access_token": access,
                "expires_in": int(lifetime),
            },
            {"X-HubSpot-Correlation-Id": correlation},
        )

    def statuses(self, path: str | None = None) -> list[int]:
        """The statuses of the requests served so far (whose path contains ``path``)."""
        with self._lock:
            return [status for _, p, status in self.log if path is None or path in p]

    def _serve_one(self, request: httpx.Request, method: str, correlation: str) -> httpx.Response:
        path = request.url.path
        auth = request.headers.get("authorization", "")
        bearer = auth[len("Bearer ") :] if auth.startswith("Bearer ") else ""
        expires_at = self._access_tokens.get(bearer)
        if expires_at is not None and self._clock() >= expires_at:
            ago = int(self._clock() - expires_at)
            return _reply(
                401,
                {
                    "status": "error",
                    "message": f"The OAuth token used to make this call expired {ago} "
                    "second(s) ago.",
                    "correlationId": correlation,
                    "category": "EXPIRED_AUTHENTICATION",
                    "context": {"expire time": [_now_text(int(expires_at * 1000))]},
                },
                {"X-HubSpot-Correlation-Id": correlation},
            )
        if auth != f"Bearer {self.token}" and expires_at is None:
            return _reply(
                401,
                {
                    "status": "error",
                    "message": "Authentication credentials not found. This API supports "
                    "OAuth 2.0 authentication and you can find more details at "
                    "https://developers.hubspot.com/docs/methods/auth/oauth-overview",
                    "correlationId": correlation,
                    "category": "INVALID_AUTHENTICATION",
                },
                {"X-HubSpot-Correlation-Id": correlation},
            )
        search = method == "POST" and path.endswith("/search")
        limited = self._limits(search, correlation)
        if limited is not None:
            return limited
        headers = {"X-HubSpot-Correlation-Id": correlation, **self._rate_headers(search)}
        fault = self._fault(method, path)
        if fault is not None and not fault.after:
            return self._fault_reply(fault, correlation, headers, request)
        try:
            status, data = self._route(request, method, path, correlation)
        except _Problem as problem:
            status, data = problem.status, problem.body(correlation)
        if fault is not None:  # served and committed; the reply is lost
            return self._fault_reply(fault, correlation, headers, request)
        return _reply(status, data, headers)

    def _limits(self, search: bool, correlation: str) -> httpx.Response | None:
        now = self._clock()
        if search:
            if self.search_rate is not None:
                limit, seconds = self.search_rate
                window = self._search_window
                while window and window[0] <= now - seconds:
                    window.popleft()
                if len(window) >= limit:
                    return _reply(
                        429,
                        {
                            "status": "error",
                            "message": "You have reached your secondly limit.",
                            "errorType": "RATE_LIMIT",
                            "correlationId": correlation,
                            "policyName": "SECONDLY",
                        },
                        {"X-HubSpot-Correlation-Id": correlation},
                    )
                window.append(now)
            return None
        if self.daily_limit is not None and self._daily >= self.daily_limit:
            return _reply(
                429,
                {
                    "status": "error",
                    "message": "You have reached your daily limit.",
                    "errorType": "RATE_LIMIT",
                    "correlationId": correlation,
                    "policyName": "DAILY",
                },
                {"X-HubSpot-Correlation-Id": correlation, **self._rate_headers(False)},
            )
        if self.rate_limit is not None:
            limit, seconds = self.rate_limit
            window = self._window
            while window and window[0] <= now - seconds:
                window.popleft()
            if len(window) >= limit:
                policy = "TEN_SECONDLY_ROLLING" if seconds == 10 else "SECONDLY_ROLLING"
                return _reply(
                    429,
                    {
                        "status": "error",
                        "message": f"You have reached your {policy.lower()} limit.",
                        "errorType": "RATE_LIMIT",
                        "correlationId": correlation,
                        "policyName": policy,
                        "groupName": f"publicapi:app-private:{self.portal_id}",
                    },
                    {"X-HubSpot-Correlation-Id": correlation, **self._rate_headers(False)},
                )
            window.append(now)
        self._daily += 1
        return None

    def _rate_headers(self, search: bool) -> dict[str, str]:
        if search:
            return {}
        headers: dict[str, str] = {}
        if self.rate_limit is not None:
            limit, seconds = self.rate_limit
            headers["X-HubSpot-RateLimit-Max"] = str(limit)
            headers["X-HubSpot-RateLimit-Remaining"] = str(max(0, limit - len(self._window)))
            headers["X-HubSpot-RateLimit-Interval-Milliseconds"] = str(int(seconds * 1000))
        if self.daily_limit is not None:
            headers["X-HubSpot-RateLimit-Daily"] = str(self.daily_limit)
            headers["X-HubSpot-RateLimit-Daily-Remaining"] = str(
                max(0, self.daily_limit - self._daily)
            )
        return headers

    def _fault(self, method: str, path: str) -> Fault | None:
        for fault in self._faults:
            if fault.times <= 0:
                continue
            if fault.method is not None and fault.method.upper() != method:
                continue
            if fault.path is not None and fault.path not in path:
                continue
            fault.times -= 1
            return fault
        return None

    def _fault_reply(
        self, fault: Fault, correlation: str, headers: Mapping[str, str], request: httpx.Request
    ) -> httpx.Response:
        if fault.timeout:
            raise httpx.ReadTimeout("timed out (injected by FakeHubSpot)", request=request)
        extra = dict(headers)
        if fault.retry_after is not None:
            extra["Retry-After"] = f"{fault.retry_after:g}"
        body = fault.body
        if body is None:
            if fault.status == 429:
                policy = fault.policy or "TEN_SECONDLY_ROLLING"
                body = {
                    "status": "error",
                    "message": f"You have reached your {policy.lower()} limit.",
                    "errorType": "RATE_LIMIT",
                    "correlationId": correlation,
                    "policyName": policy,
                }
            else:
                messages = {
                    423: "Locked by a concurrent bulk write; retry after 2 seconds.",
                    477: "This account is being migrated between data centers.",
                }
                body = {
                    "status": "error",
                    "message": messages.get(fault.status, "internal error"),
                    "correlationId": correlation,
                    "category": "LOCKED" if fault.status == 423 else "INTERNAL_ERROR",
                }
        return _reply(fault.status, body, extra)

    def _need(self, scope: str) -> None:
        if scope in self._revoked:
            raise _Problem(
                403,
                "MISSING_SCOPES",
                "This app hasn't been granted all required scopes to make this call. Read "
                "more about required scopes here: https://developers.hubspot.com/scopes.",
                errors=[
                    {
                        "message": "One or more of the following scopes are required.",
                        "context": {"requiredGranularScopes": [scope]},
                    }
                ],
            )

    def _kind(self, object_type: str) -> _Type:
        name = self._aliases.get(object_type)
        if name is None:
            raise _Problem(
                400, "VALIDATION_ERROR", f"Unable to infer object type from: {object_type}"
            )
        return self._types[name]

    def _route(
        self, request: httpx.Request, method: str, path: str, correlation: str
    ) -> tuple[int, Any]:
        query = {k: v[-1] for k, v in parse_qs(request.url.query.decode()).items()}
        multi = parse_qs(request.url.query.decode())
        body: Any = None
        if request.content:
            try:
                body = json.loads(request.content)
            except ValueError as exc:
                raise _Problem(400, "VALIDATION_ERROR", "Invalid input JSON on line 1") from exc
        parts = [p for p in path.split("/") if p]
        if parts[:3] == ["crm", "v3", "objects"] and len(parts) >= 4:
            kind = self._kind(parts[3])
            rest = parts[4:]
            if not rest:
                if method == "GET":
                    self._need(f"crm.objects.{kind.scope}.read")
                    return 200, self._list(kind, query, multi)
                if method == "POST":
                    self._need(f"crm.objects.{kind.scope}.write")
                    return self._create_one(kind, body, correlation)
            elif rest == ["merge"] and method == "POST":
                self._need(f"crm.objects.{kind.scope}.write")
                return 200, self._merge_api(kind, body)
            elif rest == ["search"] and method == "POST":
                self._need(f"crm.objects.{kind.scope}.read")
                return 200, self._search(kind, body)
            elif len(rest) == 2 and rest[0] == "batch" and method == "POST":
                operation = rest[1]
                write = operation != "read"
                self._need(f"crm.objects.{kind.scope}.{'write' if write else 'read'}")
                return self._batch(kind, operation, body, query, correlation)
            elif len(rest) == 1:
                return self._one(kind, rest[0], method, body, query, correlation)
        if parts[:3] == ["crm", "v3", "properties"] and len(parts) == 4 and method == "GET":
            kind = self._kind(parts[3])
            self._need(f"crm.schemas.{kind.scope}.read")
            return 200, {"results": list(kind.properties.values())}
        if parts[:3] == ["crm", "v3", "schemas"] and len(parts) == 4 and method == "GET":
            kind = self._kind(parts[3])
            self._need(f"crm.schemas.{kind.scope}.read")
            if not kind.custom:
                raise _Problem(404, "OBJECT_NOT_FOUND", f"Unable to find schema for {parts[3]}")
            return 200, self._schema(kind)
        if parts[:3] == ["crm", "v3", "pipelines"] and len(parts) == 4 and method == "GET":
            kind = self._kind(parts[3])
            self._need(f"crm.objects.{kind.scope}.read")
            if kind.pipelines is None:
                raise _Problem(
                    400,
                    "VALIDATION_ERROR",
                    f"Object type {kind.type_id} does not support pipelines.",
                )
            return 200, {"results": kind.pipelines}
        if parts[:3] == ["crm", "v4", "associations"] and len(parts) >= 7 and parts[5] == "batch":
            source, target = self._kind(parts[3]), self._kind(parts[4])
            operation = "/".join(parts[6:])
            write = operation != "read"
            self._need(f"crm.objects.{source.scope}.{'write' if write else 'read'}")
            return self._associations(source, target, operation, body)
        raise _Problem(404, "OBJECT_NOT_FOUND", f"No route for {method} {path}")

    # ---- objects ------------------------------------------------------------------------

    def _schema(self, kind: _Type) -> dict[str, Any]:
        return {
            "id": kind.type_id.split("-")[1],
            "name": kind.name,
            "objectTypeId": kind.type_id,
            "fullyQualifiedName": kind.fully_qualified,
            "labels": {"singular": kind.singular.title(), "plural": kind.name},
            "requiredProperties": list(kind.required),
            "searchableProperties": list(kind.required),
            "primaryDisplayProperty": kind.required[0] if kind.required else "hs_object_id",
            "secondaryDisplayProperties": [],
            "properties": list(kind.properties.values()),
            "associations": [],
            "archived": False,
            "createdAt": "2020-01-01T00:00:00.000Z",
            "updatedAt": "2020-01-01T00:00:00.000Z",
        }

    def _json(
        self,
        kind: _Type,
        obj: _Object,
        names: Sequence[str] | None,
        *,
        trace: str | None = None,
        associations: Sequence[_Type] = (),
    ) -> dict[str, Any]:
        wanted = list(names) if names else list(kind.defaults)
        for system in ("hs_object_id", kind.created, kind.lastmod):
            if system not in wanted:
                wanted.append(system)
        properties = {n: obj.properties.get(n) for n in wanted if n in kind.properties}
        data: dict[str, Any] = {
            "id": obj.id,
            "properties": properties,
            "createdAt": _now_text(obj.created_ms),
            "updatedAt": _now_text(obj.updated_ms),
            "archived": obj.archived_ms is not None,
        }
        if obj.archived_ms is not None:
            data["archivedAt"] = _now_text(obj.archived_ms)
        if trace is not None:
            data["objectWriteTraceId"] = trace
        if associations:
            linked: dict[str, Any] = {}
            for target in associations:
                ids = self._links.get((kind.name, obj.id, target.name), {})
                if ids:
                    label = f"{kind.singular.lower()}_to_{target.singular.lower()}"
                    linked[target.name] = {
                        "results": [{"id": i, "type": label} for i in sorted(ids, key=int)]
                    }
            if linked:
                data["associations"] = linked
        return data

    def _names(self, multi: Mapping[str, list[str]]) -> list[str] | None:
        raw = multi.get("properties")
        if not raw:
            return None
        return [n for value in raw for n in value.split(",") if n]

    def _list(
        self, kind: _Type, query: Mapping[str, str], multi: Mapping[str, list[str]]
    ) -> dict[str, Any]:
        limit = _int(query.get("limit"), 10)
        if not 1 <= limit <= _MAX_LIST:
            raise _Problem(400, "VALIDATION_ERROR", f"limit must be between 1 and {_MAX_LIST}")
        archived = query.get("archived", "false").lower() == "true"
        order, table = (kind.archived_order, kind.archived) if archived else (kind.order, kind.live)
        start = 0
        if query.get("after"):
            after = _int(query["after"], -1)
            if after < 0:
                raise _Problem(400, "VALIDATION_ERROR", f"Invalid after: {query['after']}")
            start = bisect.bisect_left(order, after)
        names = self._names(multi)
        associated = [self._kind(t) for t in (query.get("associations") or "").split(",") if t]
        page = order[start : start + limit]
        data: dict[str, Any] = {
            "results": [
                self._json(kind, table[str(i)], names, associations=associated) for i in page
            ]
        }
        if start + limit < len(order):
            nxt = str(order[start + limit])
            data["paging"] = {
                "next": {
                    "after": nxt,
                    "link": f"https://api.hubapi.com/crm/v3/objects/{kind.name}?after={nxt}",
                }
            }
        return data

    def _one(
        self,
        kind: _Type,
        record_id: str,
        method: str,
        body: Any,
        query: Mapping[str, str],
        correlation: str,
    ) -> tuple[int, Any]:
        if method == "GET":
            self._need(f"crm.objects.{kind.scope}.read")
            archived = query.get("archived", "false").lower() == "true"
            # A merged-away id reads as the record it was merged into (see merge()).
            obj = kind.archived.get(record_id) if archived else kind.resolve(record_id)
            if obj is None:
                raise _Problem(
                    404, "OBJECT_NOT_FOUND", "Object not found.  objectId are usually numeric."
                )
            names = [n for n in (query.get("properties") or "").split(",") if n]
            return 200, self._json(kind, obj, names or None)
        self._need(f"crm.objects.{kind.scope}.write")
        if method == "DELETE":
            obj = kind.live.get(record_id)
            if obj is not None:
                self._archive(kind, obj)
            return 204, None
        if method == "PATCH":
            status, data = self._batch(
                kind,
                "update",
                {"inputs": [{"id": record_id, **(body if isinstance(body, dict) else {})}]},
                query,
                correlation,
            )
            if status >= 300 and status != 207:
                return status, data
            if data.get("errors"):
                error = data["errors"][0]
                return int(error.get("status") or 400), {
                    k: v for k, v in error.items() if k != "status"
                } | {"status": "error"}
            return 200, data["results"][0]
        raise _Problem(405, "VALIDATION_ERROR", f"{method} is not allowed here")

    def _merge_api(self, kind: _Type, body: Any) -> dict[str, Any]:
        """``POST /crm/v3/objects/{type}/merge``: see :meth:`merge`."""
        data = body if isinstance(body, dict) else {}
        primary, other = data.get("primaryObjectId"), data.get("objectIdToMerge")
        if primary in (None, "") or other in (None, ""):
            raise _Problem(
                400,
                "VALIDATION_ERROR",
                "Invalid input JSON: primaryObjectId and objectIdToMerge are required",
            )
        primary, other = str(primary), str(other)
        for record_id in (primary, other):
            if record_id not in kind.live:
                raise _Problem(
                    404, "OBJECT_NOT_FOUND", f"{kind.singular.title()} {record_id} does not exist."
                )
        if primary == other:
            raise _Problem(400, "VALIDATION_ERROR", "Cannot merge a record with itself.")
        return self._json(kind, self._merge(kind, primary, other), None)

    def _create_one(self, kind: _Type, body: Any, correlation: str) -> tuple[int, Any]:
        status, data = self._batch(
            kind,
            "create",
            {"inputs": [body if isinstance(body, dict) else {}]},
            {},
            correlation,
        )
        if status >= 300:
            return status, data
        return 201, data["results"][0]

    def _inputs(self, body: Any) -> list[dict[str, Any]]:
        inputs = body.get("inputs") if isinstance(body, dict) else None
        if not isinstance(inputs, list) or not all(isinstance(i, dict) for i in inputs):
            raise _Problem(400, "VALIDATION_ERROR", "Invalid input JSON: 'inputs' must be a list")
        if len(inputs) > _MAX_BATCH:
            raise _Problem(
                400,
                "VALIDATION_ERROR",
                f"Batch input must contain at most {_MAX_BATCH} inputs, got {len(inputs)}.",
            )
        return inputs

    def _batch(
        self,
        kind: _Type,
        operation: str,
        body: Any,
        query: Mapping[str, str],
        correlation: str,
    ) -> tuple[int, Any]:
        inputs = self._inputs(body)
        started = _now_text(self._now())
        if operation == "read":
            archived = query.get("archived", "false").lower() == "true"
            names = body.get("properties") or None
            # idProperty: read by a unique property's value instead of the record id
            # (BatchReadInputSimplePublicObjectId.id_property in HubSpot's Python client).
            # Strongly consistent, unlike search: a record is found the moment it is made.
            id_property = body.get("idProperty") or None
            if id_property is not None:
                self._check_id_property(kind, id_property)
            found, missing = [], []
            shown: set[str] = set()
            for item in inputs:
                record_id = str(item.get("id"))
                if id_property is not None:
                    holder = self._holder(kind, id_property, record_id) or ""
                    obj = kind.archived.get(holder) if archived else kind.live.get(holder)
                else:
                    # A merged-away id reads as the merged record, under its new id; a
                    # record two inputs name is returned once.
                    obj = kind.archived.get(record_id) if archived else kind.resolve(record_id)
                if obj is None:
                    missing.append(record_id)
                elif obj.id not in shown:
                    shown.add(obj.id)
                    found.append(self._json(kind, obj, names))
            data: dict[str, Any] = {
                "status": "COMPLETE",
                "results": found,
                "startedAt": started,
                "completedAt": _now_text(self._now()),
            }
            if not missing:
                return 200, data
            data["numErrors"] = 1
            data["errors"] = [
                {
                    "status": "error",
                    "category": "OBJECT_NOT_FOUND",
                    "message": f"Could not get some {kind.singular} objects, they may be "
                    f"deleted or not exist. Check that ids are valid.",
                    "context": {"ids": missing},
                }
            ]
            return 207, data
        if operation == "archive":
            for item in inputs:
                obj = kind.live.get(str(item.get("id")))
                if obj is not None:
                    self._archive(kind, obj)
            return 204, None
        if operation not in ("create", "update", "upsert"):
            raise _Problem(404, "OBJECT_NOT_FOUND", f"No batch operation {operation!r}")
        traces = [i.get("objectWriteTraceId") for i in inputs]
        traced = all(isinstance(t, str) and t for t in traces) and len(set(traces)) == len(traces)
        # Upsert (POST …/batch/upsert, SimplePublicObjectBatchInputUpsert): each input
        # names a unique property (idProperty) and its value (id); the record holding the
        # value is updated, or one is created with it. Each result carries "new". So a
        # create sent again after a lost reply finds the record it made.
        operations = [operation] * len(inputs)
        if operation == "upsert":
            inputs, operations = self._upserts(kind, inputs)
        if operation == "update":
            ids = [str(i.get("id")) for i in inputs]
            duplicates = sorted({i for i in ids if ids.count(i) > 1})
            if duplicates:
                raise _Problem(
                    400, "VALIDATION_ERROR", f"Duplicate IDs found in batch input: {duplicates}"
                )
        # Validate every input against the account as it is, plus the earlier inputs.
        plans: list[tuple[dict[str, str], _Object | None] | _Problem] = []
        taken: dict[tuple[str, str], str] = {}
        for n, item in enumerate(inputs):
            try:
                plan = self._plan(kind, operations[n], item, taken)
            except _Problem as problem:
                plans.append(problem)
                continue
            plans.append(plan)
            for name, value in plan[0].items():
                if value and self._unique(kind, name):
                    taken[(name, value.lower())] = f"input {n}"
        problems = [p for p in plans if isinstance(p, _Problem)]
        if problems and not traced:
            # Without trace ids HubSpot fails the whole batch on the first bad input.
            raise problems[0]
        results: list[dict[str, Any]] = []
        errors: list[dict[str, Any]] = []
        for n, entry in enumerate(plans):
            trace = traces[n] if traced else None
            if isinstance(entry, _Problem):
                errors.append(entry.body(correlation, trace) | {"status": "error"})
                continue
            values, existing = entry
            if existing is None:
                obj = self._store_new(kind, self._new_id(), values)
            else:
                obj = existing
                self._apply(kind, obj, values, touch=False)
            names = list(values) if operations[n] == "update" else list(values) or None
            result = self._json(kind, obj, names, trace=trace)
            if operation == "upsert":
                result["new"] = existing is None
            results.append(result)
        data = {
            "status": "COMPLETE",
            "results": results,
            "startedAt": started,
            "completedAt": _now_text(self._now()),
        }
        if errors:
            data["numErrors"] = len(errors)
            data["errors"] = errors
            return 207, data
        return (201 if operation == "create" else 200), data

    def _check_id_property(self, kind: _Type, name: Any) -> None:
        """Refuse an ``idProperty`` that is not a unique property of ``kind`` (400)."""
        if not isinstance(name, str) or name not in kind.properties or not self._unique(kind, name):
            raise _Problem(
                400,
                "VALIDATION_ERROR",
                f"{name!r} is not a unique value property of {kind.singular.lower()}s; "
                f"idProperty must name a property with hasUniqueValue",
            )

    def _upserts(
        self, kind: _Type, inputs: list[dict[str, Any]]
    ) -> tuple[list[dict[str, Any]], list[str]]:
        """Each upsert input as the update or the create it is, with its operation."""
        values = [str(i.get("id")).lower() for i in inputs]
        repeated = sorted({v for v in values if values.count(v) > 1})
        if repeated:
            raise _Problem(
                400, "VALIDATION_ERROR", f"Duplicate IDs found in batch input: {repeated}"
            )
        items: list[dict[str, Any]] = []
        operations: list[str] = []
        for item in inputs:
            name = item.get("idProperty")
            self._check_id_property(kind, name)
            value = item.get("id")
            if not isinstance(value, str) or not value:
                raise _Problem(400, "VALIDATION_ERROR", "Invalid input JSON: 'id' is required")
            raw = item.get("properties")
            properties = dict(raw) if isinstance(raw, dict) else raw
            holder = self._holder(kind, str(name), value)
            if holder is None:
                if isinstance(properties, dict):
                    properties.setdefault(str(name), value)
                items.append({**item, "properties": properties})
                operations.append("create")
            else:
                items.append({**item, "id": holder, "properties": properties})
                operations.append("update")
        return items, operations

    def _unique(self, kind: _Type, name: str) -> bool:
        definition = kind.properties.get(name) or {}
        return bool(definition.get("hasUniqueValue")) or (
            kind.name == "contacts" and name == "email"
        )

    def _plan(
        self,
        kind: _Type,
        operation: str,
        item: Mapping[str, Any],
        taken: Mapping[tuple[str, str], str],
    ) -> tuple[dict[str, str], _Object | None]:
        existing: _Object | None = None
        if operation == "update":
            record_id = str(item.get("id"))
            # A merged-away id names the merged record: the update lands there and the
            # reply carries the merged record's id. HubSpot's changelog "Updated merge
            # functionality for contacts and companies": both previous ids "point to the
            # resulting merged record"; old ids "are still routable via aliasing"
            # (cleanupcrm.com, "HubSpot Merge Records Explained"). HubSpot documents no
            # update-specific rule; reads of an old id answer under the new id
            # (community.hubspot.com "Question about using batch read API").
            existing = kind.resolve(record_id)
            if existing is None:
                raise _Problem(
                    404,
                    "OBJECT_NOT_FOUND",
                    f"Object not found. objectId are usually numeric. "
                    f"({kind.singular} {record_id})",
                    context={"ids": [record_id]},
                )
        raw = item.get("properties")
        if raw is None:
            raw = {}
        if not isinstance(raw, dict):
            raise _Problem(
                400, "VALIDATION_ERROR", "Invalid input JSON: 'properties' must be an object"
            )
        values, problems = self._validate(kind, raw, existing)
        if problems:
            raise _invalid(problems)
        if operation == "create":
            missing = [r for r in kind.required if not values.get(r)]
            if missing:
                raise _invalid(
                    [
                        (r, "REQUIRED_PROPERTY", f'Required property "{r}" is missing.')
                        for r in missing
                    ]
                )
        for name, value in values.items():
            if not value or not self._unique(kind, name):
                continue
            holder = self._holder(kind, name, value)
            if holder is not None and (existing is None or holder != existing.id):
                if kind.name == "contacts" and name == "email":
                    message = f"Contact already exists. Existing ID: {holder}"
                else:
                    message = (
                        f"A {kind.singular.lower()} with the unique value {value!r} for "
                        f"property {name!r} already exists. Existing ID: {holder}"
                    )
                raise _Problem(409, "CONFLICT", message)
            if (name, value.lower()) in taken:
                raise _Problem(
                    409,
                    "CONFLICT",
                    f"Duplicate unique value {value!r} for property {name!r} within the batch "
                    f"({taken[(name, value.lower())]}).",
                )
        return values, existing

    def _holder(self, kind: _Type, name: str, value: str) -> str | None:
        return kind.unique.get((name, value.lower()))

    def _validate(
        self, kind: _Type, raw: Mapping[str, Any], existing: _Object | None
    ) -> tuple[dict[str, str], list[tuple[str, str, str]]]:
        values: dict[str, str] = {}
        problems: list[tuple[str, str, str]] = []
        for name, given in raw.items():
            definition = kind.properties.get(name)
            if definition is None:
                problems.append(
                    (name, "PROPERTY_DOESNT_EXIST", f'Property "{name}" does not exist')
                )
                continue
            if definition["modificationMetadata"]["readOnlyValue"]:
                problems.append(
                    (
                        name,
                        "READ_ONLY_VALUE",
                        f"{name} is a read only property; its value cannot be set.",
                    )
                )
                continue
            if given is None:
                text = ""
            elif isinstance(given, bool):
                text = "true" if given else "false"
            elif isinstance(given, int | float | str):
                text = str(given)
            else:
                problems.append((name, "INVALID_VALUE", f"{given!r} is not a valid value"))
                continue
            if text == "":
                values[name] = ""
                continue
            if not text.isascii() and _SURROGATE.search(text):
                # JSON may escape one ("\\ud83d"), but it is no character: refused, as
                # text that is not UTF-8 would be.
                problems.append(
                    (name, "INVALID_STRING", f"{text!r} is not valid Unicode (a lone surrogate)")
                )
                continue
            try:
                values[name] = self._normalize(kind, definition, text, existing)
            except ValueError as exc:
                code, _, message = str(exc).partition(":")
                problems.append((name, code, message.strip()))
        return values, problems

    def _normalize(
        self, kind: _Type, definition: Mapping[str, Any], text: str, existing: _Object | None
    ) -> str:
        name = definition["name"]
        hs_type, field_type = definition["type"], definition["fieldType"]
        options = [o["value"] for o in definition.get("options") or ()]
        if kind.name == "contacts" and name == "email":
            if not _EMAIL.fullmatch(text.strip()):
                raise ValueError(f"INVALID_EMAIL: Email address {text} is invalid")
            return text.strip()
        if hs_type == "number":
            if not _NUMBER.fullmatch(text.strip()):
                raise ValueError(f"INVALID_DECIMAL: {text} was not a valid number.")
            return text.strip()
        if hs_type == "bool" or field_type == "booleancheckbox":
            if text.lower() not in ("true", "false"):
                raise ValueError(
                    f"INVALID_BOOLEAN: {text} was not a valid boolean (true or false)."
                )
            return text.lower()
        if hs_type == "date":
            ms = _ms_of(text)
            if ms is None:
                raise ValueError(f"INVALID_DATE: {text} is not a valid date.")
            if ms % 86_400_000:
                raise ValueError(
                    f"INVALID_DATE: {text} is at {_now_text(ms)[11:23]} UTC; a date must be "
                    f"at midnight UTC."
                )
            return _now_text(ms)[:10]
        if hs_type == "datetime":
            ms = _ms_of(text)
            if ms is None:
                raise ValueError(f"INVALID_DATETIME: {text} is not a valid datetime.")
            return _now_text(ms)
        if hs_type == "enumeration":
            if field_type == "checkbox":
                append = text.startswith(";")
                parts = [p for p in text.split(";") if p]
                bad = [p for p in parts if p not in options]
                if bad:
                    raise ValueError(
                        f"INVALID_OPTION: {bad[0]} was not one of the allowed options: {options}"
                    )
                if append and existing is not None:
                    current = [p for p in existing.properties.get(name, "").split(";") if p]
                    parts = current + [p for p in parts if p not in current]
                return ";".join(parts)
            if text not in options:
                raise ValueError(
                    f"INVALID_OPTION: {text} was not one of the allowed options: {options}"
                )
            return text
        if len(text) > 65_536:
            raise ValueError(f"INVALID_STRING_LENGTH: {name} is longer than 65536 characters")
        return text

    # ---- search -------------------------------------------------------------------------

    def _search(self, kind: _Type, body: Any) -> dict[str, Any]:
        if not isinstance(body, dict):
            raise _Problem(400, "VALIDATION_ERROR", "Invalid input JSON: expected an object")
        groups = body.get("filterGroups") or []
        sorts = body.get("sorts") or []
        limit = _int(body.get("limit"), 10)
        offset = _int(body.get("after"), 0) if body.get("after") not in (None, "") else 0
        if len(groups) > _MAX_GROUPS:
            raise _Problem(
                400,
                "VALIDATION_ERROR",
                f"Too many filter groups ({len(groups)}); max {_MAX_GROUPS}.",
            )
        total_filters = 0
        for group in groups:
            filters = group.get("filters") or []
            if len(filters) > _MAX_FILTERS_PER_GROUP:
                raise _Problem(
                    400,
                    "VALIDATION_ERROR",
                    f"Too many filters in a group ({len(filters)}); max {_MAX_FILTERS_PER_GROUP}.",
                )
            total_filters += len(filters)
            for f in filters:
                if f.get("operator") not in _OPERATORS:
                    raise _Problem(
                        400, "VALIDATION_ERROR", f"Invalid operator: {f.get('operator')}"
                    )
                if f.get("propertyName") not in kind.properties:
                    raise _Problem(
                        400,
                        "VALIDATION_ERROR",
                        f"There was a problem with the request. Property "
                        f"{f.get('propertyName')!r} does not exist.",
                    )
        if total_filters > _MAX_FILTERS:
            raise _Problem(
                400, "VALIDATION_ERROR", f"Too many filters ({total_filters}); max {_MAX_FILTERS}."
            )
        if len(sorts) > 1:
            raise _Problem(400, "VALIDATION_ERROR", "Only one sort is allowed.")
        if not 1 <= limit <= _MAX_SEARCH:
            raise _Problem(400, "VALIDATION_ERROR", f"limit must be between 1 and {_MAX_SEARCH}.")
        if offset >= self.search_cap:
            raise _Problem(
                400,
                "VALIDATION_ERROR",
                f"The search endpoint cannot page past {self.search_cap} results; "
                f"narrow the query.",
            )
        query = str(body.get("query") or "").lower()
        searchable = _SEARCHABLE.get(kind.name) or tuple(
            n for n, d in kind.properties.items() if d["type"] == "string"
        )
        matches = [
            obj
            for obj in self._searchable(kind)
            if (not groups or any(self._group(kind, obj, g) for g in groups))
            and (not query or any(query in obj.properties.get(n, "").lower() for n in searchable))
        ]
        total = len(matches)
        if sorts:
            name = sorts[0].get("propertyName")
            if name not in kind.properties:
                raise _Problem(400, "VALIDATION_ERROR", f"Property {name!r} does not exist.")
            descending = str(sorts[0].get("direction", "ASCENDING")).upper() == "DESCENDING"
            definition = kind.properties[name]
            present = [o for o in matches if o.properties.get(name, "") != ""]
            absent = [o for o in matches if o.properties.get(name, "") == ""]

            def key(obj: _Object) -> tuple[Any, int]:
                return (_sort_key(definition, obj.properties[name]), int(obj.id))

            end = min(offset + limit, self.search_cap)
            if descending:
                ordered = (
                    heapq.nlargest(end, present, key=key)
                    if end < len(present)
                    else sorted(present, key=key, reverse=True)
                )
            else:
                ordered = (
                    heapq.nsmallest(end, present, key=key)
                    if end < len(present)
                    else sorted(present, key=key)
                )
            matches = ordered + sorted(absent, key=lambda o: int(o.id))
        else:
            matches.sort(key=lambda o: int(o.id))
        end = min(offset + limit, self.search_cap, total)
        names = body.get("properties") or None
        data: dict[str, Any] = {
            "total": total,
            "results": [self._json(kind, o, names) for o in matches[offset:end]],
        }
        if end < min(total, self.search_cap):
            data["paging"] = {"next": {"after": str(end)}}
        return data

    def _group(self, kind: _Type, obj: _Object, group: Mapping[str, Any]) -> bool:
        return all(self._filter(kind, obj, f) for f in group.get("filters") or ())

    def _filter(self, kind: _Type, obj: _Object, f: Mapping[str, Any]) -> bool:
        name = f["propertyName"]
        operator = f["operator"]
        definition = kind.properties[name]
        stored = obj.properties.get(name, "")
        if operator == "HAS_PROPERTY":
            return stored != ""
        if operator == "NOT_HAS_PROPERTY":
            return stored == ""
        multi = definition["fieldType"] == "checkbox"
        if operator in ("IN", "NOT_IN"):
            values = [str(v) for v in f.get("values") or ()]
            hit = any(_equal(definition, stored, v, multi) for v in values) if stored else False
            return hit if operator == "IN" else not hit
        if operator in ("CONTAINS_TOKEN", "NOT_CONTAINS_TOKEN"):
            pattern = str(f.get("value", "")).lower()
            words = [w for w in re.split(r"[^0-9a-z@._-]+", stored.lower()) if w]
            hit = any(fnmatch.fnmatchcase(w, pattern) for w in words)
            return hit if operator == "CONTAINS_TOKEN" else not hit
        value = str(f.get("value", ""))
        if operator == "EQ":
            return bool(stored) and _equal(definition, stored, value, multi)
        if operator == "NEQ":
            return not (bool(stored) and _equal(definition, stored, value, multi))
        if not stored:
            return False
        left = _sort_key(definition, stored)
        right = _sort_key(definition, value)
        if operator == "BETWEEN":
            high = _sort_key(definition, str(f.get("highValue", "")))
            return _compare(left, right) >= 0 and _compare(left, high) <= 0
        order = _compare(left, right)
        return {"LT": order < 0, "LTE": order <= 0, "GT": order > 0, "GTE": order >= 0}[operator]

    # ---- associations -------------------------------------------------------------------

    def _associations(
        self, source: _Type, target: _Type, operation: str, body: Any
    ) -> tuple[int, Any]:
        inputs = self._inputs(body)
        started = _now_text(self._now())
        results: list[dict[str, Any]] = []
        errors: list[dict[str, Any]] = []
        if operation == "read":
            for item in inputs:
                record_id = str(item.get("id"))
                linked = self._links.get((source.name, record_id, target.name), {})
                ids = sorted(linked, key=int)
                after = _int(item.get("after"), 0) if item.get("after") else 0
                page = ids[after : after + _ASSOCIATION_PAGE]
                if not page:
                    errors.append(
                        {
                            "status": "error",
                            "category": "OBJECT_NOT_FOUND",
                            "subCategory": "crm.associations.NO_ASSOCIATIONS_FOUND",
                            "message": f"No {target.singular.lower()} is associated with "
                            f"{source.singular.lower()} {record_id}.",
                            "context": {"fromObjectId": [record_id]},
                        }
                    )
                    continue
                result: dict[str, Any] = {
                    "from": {"id": record_id},
                    "to": [
                        {
                            "toObjectId": int(i),
                            "associationTypes": [
                                {"category": "HUBSPOT_DEFINED", "typeId": t, "label": None}
                                for t in sorted(linked[i])
                            ],
                        }
                        for i in page
                    ],
                }
                if after + _ASSOCIATION_PAGE < len(ids):
                    result["paging"] = {"next": {"after": str(after + _ASSOCIATION_PAGE)}}
                results.append(result)
        elif operation in ("create", "associate/default"):
            forward, _ = self._types_for(source, target)
            allowed = {forward, _PRIMARY_TYPES.get((source.name, target.name), forward)}
            for item in inputs:
                from_id = str((item.get("from") or {}).get("id"))
                to_id = str((item.get("to") or {}).get("id"))
                type_id = forward
                if operation == "create":
                    types = item.get("types") or []
                    given = {
                        _int(t.get("associationTypeId"), -1) for t in types if isinstance(t, dict)
                    }
                    bad = sorted(t for t in given if t not in allowed)
                    if not given or bad:
                        errors.append(
                            {
                                "status": "error",
                                "category": "VALIDATION_ERROR",
                                "message": f"invalid association type id {bad or None} from "
                                f"{source.type_id} to {target.type_id}",
                                "context": {"fromObjectId": [from_id], "toObjectId": [to_id]},
                            }
                        )
                        continue
                    type_id = min(given)
                missing = [
                    (k, i) for k, i in ((source, from_id), (target, to_id)) if i not in k.live
                ]
                if missing:
                    k, i = missing[0]
                    errors.append(
                        {
                            "status": "error",
                            "category": "OBJECT_NOT_FOUND",
                            "message": f"{k.singular.title()} {i} does not exist.",
                            "context": {"fromObjectId": [from_id], "toObjectId": [to_id]},
                        }
                    )
                    continue
                self._link(source, from_id, target, to_id, type_id)
                results.append(
                    {
                        "fromObjectTypeId": source.type_id,
                        "fromObjectId": int(from_id),
                        "toObjectTypeId": target.type_id,
                        "toObjectId": int(to_id),
                        "labels": [],
                    }
                )
        elif operation == "archive":
            for item in inputs:
                from_id = str((item.get("from") or {}).get("id"))
                for to in item.get("to") or ():
                    self._unlink(source, from_id, target, str(to.get("id")))
            return 204, None
        else:
            raise _Problem(404, "OBJECT_NOT_FOUND", f"No association operation {operation!r}")
        data: dict[str, Any] = {
            "status": "COMPLETE",
            "results": results,
            "startedAt": started,
            "completedAt": _now_text(self._now()),
        }
        if errors:
            data["numErrors"] = len(errors)
            data["errors"] = errors
            return 207, data
        return (200 if operation == "read" else 201), data

    # ---- the loopback server ------------------------------------------------------------

    @contextlib.contextmanager
    def serve(self, port: int = 0) -> Iterator[str]:
        """Serve the fake on ``127.0.0.1`` in a thread; yield its base URL.

        Every request is answered by :meth:`handle`, so the official HubSpot client (or
        curl) can talk to it. The server stops when the block ends.
        """
        fake = self
        base: list[str] = []

        class Handler(http.server.BaseHTTPRequestHandler):
            protocol_version = "HTTP/1.1"

            @override
            def setup(self) -> None:
                super().setup()
                # Headers and body go out in two writes: without this, Nagle's algorithm
                # and the client's delayed ACK add 40 ms to every response.
                self.connection.setsockopt(socket.IPPROTO_TCP, socket.TCP_NODELAY, 1)

            def _serve(self) -> None:
                length = int(self.headers.get("Content-Length") or 0)
                content = self.rfile.read(length) if length else b""
                request = httpx.Request(
                    self.command,
                    base[0] + self.path,
                    headers=list(self.headers.items()),
                    content=content,
                )
                try:
                    response = fake.handle(request)
                except httpx.TimeoutException:
                    self.close_connection = True  # no reply: the client's read fails
                    return
                payload = response.content
                self.send_response(response.status_code)
                for key, value in response.headers.items():
                    if key.lower() not in ("content-length", "transfer-encoding", "connection"):
                        self.send_header(key, value)
                self.send_header("Content-Length", str(len(payload)))
                self.end_headers()
                if payload:
                    self.wfile.write(payload)

            do_GET = do_POST = do_PATCH = do_PUT = do_DELETE = _serve

            @override
            def log_message(self, format: str, *args: Any) -> None:
                return

        server = http.server.ThreadingHTTPServer(("127.0.0.1", port), Handler)
        server.daemon_threads = True
        thread = threading.Thread(
            target=server.serve_forever, args=(0.05,), name="FakeHubSpot", daemon=True
        )
        thread.start()
        base.append(f"http://127.0.0.1:{server.server_port}")
        try:
            yield base[0]
        finally:
            server.shutdown()
            server.server_close()
            thread.join(timeout=5)


def _standard_properties_common(lastmod: str, created: str) -> list[dict[str, Any]]:
    return [
        _P("hs_object_id", "number", read_only=True, hubspot_defined=True, label="Record ID"),
        _P(created, "datetime", read_only=True, hubspot_defined=True, label="Create Date"),
        _P(lastmod, "datetime", read_only=True, hubspot_defined=True, label="Last Modified Date"),
        # The ids merged into a record, ";"-separated ("Merged [record] IDs" in
        # knowledge.hubspot.com "Merge records"; hubspot-api-nodejs issue 6).
        _P(
            MERGED_IDS,
            read_only=True,
            calculated=True,
            hubspot_defined=True,
            label="Merged record IDs",
        ),
    ]


def _inverse_primary(source: _Type, target: _Type, type_id: int) -> int:
    primary = _PRIMARY_TYPES.get((source.name, target.name))
    if primary is not None and type_id == primary:
        return _PRIMARY_TYPES[(target.name, source.name)]
    return type_id


def _int(value: Any, default: int) -> int:
    if value is None or value == "":
        return default
    try:
        return int(str(value))
    except ValueError:
        return default


def _sort_key(definition: Mapping[str, Any], text: str) -> Any:
    hs_type = definition["type"]
    if hs_type in ("date", "datetime"):
        ms = _ms_of(text)
        return float(ms) if ms is not None else text.lower()
    if hs_type == "number":
        try:
            return float(text)
        except ValueError:
            return text.lower()
    return text.lower()


def _compare(left: Any, right: Any) -> int:
    if type(left) is not type(right):
        left, right = str(left), str(right)
    return int(left > right) - int(left < right)


def _equal(definition: Mapping[str, Any], stored: str, value: str, multi: bool) -> bool:
    hs_type = definition["type"]
    if multi:
        return value in stored.split(";")
    if hs_type == "enumeration":
        return stored == value
    if hs_type in ("number", "date", "datetime"):
        return _compare(_sort_key(definition, stored), _sort_key(definition, value)) == 0
    return stored.lower() == value.lower()
