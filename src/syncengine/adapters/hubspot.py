"""HubSpotAdapter: syncengine's adapter for HubSpot's CRM API (reference §4).

This module owns the translation between the :class:`~syncengine.adapters.Adapter`
contract and HubSpot's CRM endpoints: which endpoint serves which method, cursors, batch
results, pipelines and associations. HTTP itself (pacing, retries, error bodies, the
token) lives in :mod:`syncengine.adapters._hubspot_http`, and property values in
:mod:`syncengine.adapters._hubspot_values`. It knows nothing about syncing.

Endpoints, by adapter method:

====================  =================================================================
``schema``            ``GET /crm/v3/properties/{type}`` (+ ``GET /crm/v3/schemas/{type}``
                      for custom objects' required properties)
``scan(since=None)``  one search to find the newest change, then
                      ``GET /crm/v3/objects/{type}?limit=100&after=…`` (when the
                      property list would make that URL too long: the same listing of
                      ids only, and ``POST …/batch/read`` with the properties in the body)
``scan(since=…)``     ``POST /crm/v3/objects/{type}/search`` on the last-modified
                      property, then ``GET /crm/v3/objects/{type}?archived=true``
                      (once every ``archived_sweep_every``)
``fetch``             ``POST /crm/v3/objects/{type}/batch/read``
``create``/``update`` ``POST /crm/v3/objects/{type}/batch/create|update`` (``batch/upsert``
                      for types with an idempotency property)
lookups (S8)          ``POST /crm/v3/objects/{type}/batch/read`` with ``idProperty``
``pipelines``         ``GET /crm/v3/pipelines/{type}``
``associate``         ``POST /crm/v4/associations/{from}/{to}/batch/create`` (or
                      ``batch/associate/default`` for pairs without a known type id)
associations          ``POST /crm/v4/associations/{from}/{to}/batch/read``
====================  =================================================================

.. versionadded:: 0.1
"""

from __future__ import annotations

import difflib
import json
import logging
import queue
import random
import threading
import time
from collections.abc import Callable, Generator, Iterable, Iterator, Mapping, Sequence
from datetime import timedelta
from types import MappingProxyType
from typing import Any, ClassVar, Final, final

import attrs
import httpx
from typing_extensions import override

from syncengine._redact import redact_dsn
from syncengine.adapters._hubspot_http import (
    ErrorBody,
    HttpClient,
    HubSpotOAuth,
    Reply,
    Secret,
    TokenProvider,
    category_of,
)
from syncengine.adapters._hubspot_values import (
    ConversionError,
    from_ms,
    lastmod_property,
    parse_ms,
    reader,
    spec_from_definition,
    to_hubspot,
)
from syncengine.adapters.base import Adapter
from syncengine.errors import AdapterError, ConfigError
from syncengine.records import (
    AssociationChange,
    ChangeEvent,
    NewRecord,
    Page,
    Pipeline,
    Record,
    RecordUpdate,
    Stage,
    WriteResult,
)
from syncengine.schema import ObjectSchema, PropertyType
from syncengine.states import ErrorCategory

__all__ = ["ASSOCIATION_TYPE_IDS", "HubSpotAdapter", "HubSpotOAuth", "TokenProvider"]

#: HubSpot-defined unlabeled association type ids, by (from type, to type) (reference §4).
#: Pairs not listed (custom objects) are linked with the v4 "default" association.
ASSOCIATION_TYPE_IDS: Final[Mapping[tuple[str, str], int]] = MappingProxyType(
    {
        ("contacts", "companies"): 279,
        ("companies", "contacts"): 280,
        ("deals", "companies"): 341,
        ("companies", "deals"): 342,
        ("deals", "contacts"): 3,
        ("contacts", "deals"): 4,
        ("invoices", "contacts"): 177,
        ("contacts", "invoices"): 178,
        ("invoices", "companies"): 179,
        ("companies", "invoices"): 180,
    }
)

# Object types HubSpot defines; any other name (``p_cars``, ``2-1234``) is a custom
# object whose required properties come from the schemas API.
_STANDARD_TYPES: Final = frozenset(
    {
        "contacts",
        "companies",
        "deals",
        "tickets",
        "invoices",
        "products",
        "line_items",
        "quotes",
        "calls",
        "emails",
        "meetings",
        "notes",
        "tasks",
        "communications",
        "postal_mail",
        "leads",
        "carts",
        "orders",
        "payments",
        "subscriptions",
        "discounts",
        "fees",
        "taxes",
        "goal_targets",
        "users",
    }
)
#: HubSpot's ids of its own object types (``objectTypeId`` in generic webhooks).
_STANDARD_TYPE_IDS: Final[Mapping[str, str]] = MappingProxyType(
    {
        "contacts": "0-1",
        "companies": "0-2",
        "deals": "0-3",
        "tickets": "0-5",
        "products": "0-7",
        "line_items": "0-8",
        "quotes": "0-14",
        "invoices": "0-53",
    }
)
_MAX_BATCH: Final = 100
logger = logging.getLogger("syncengine.adapters.hubspot")
_MAX_LIST_PAGE: Final = 100
_MAX_SEARCH_PAGE: Final = 200
_CURSOR_PREFIX: Final = "hs1."
# The longest GET request line the adapter sends; a longer property list goes in a body.
# HubSpot's front end has answered 414 from about 8 KB (see syncengine.testing.hubspot):
# half of that leaves room for proxies in between.
_MAX_REQUEST_LINE: Final = 4096
# The most ids a cursor remembers inside the consistency window (see _bounded).
_MAX_SEEN: Final = 2000
#: How often an incremental scan reads the archived listing by default, and at most.
DEFAULT_SWEEP: Final = timedelta(hours=24)
MAX_SWEEP: Final = timedelta(days=30)
# The ids merged into a record, ";"-separated (HubSpot's "Merged record IDs").
_MERGED_IDS: Final = "hs_merged_object_ids"


@attrs.frozen
class _Cursor:
    """Where a scan resumes; encoded as an opaque string for the engine.

    A *change cursor* (``full=False``) means: every record whose last-modified time is at
    or after ``since`` (epoch ms) has changed, except the ``seen`` ids at the times
    given; every record archived at or after ``deleted_since`` is deleted, except the
    ``deleted_seen`` ids, reported by the next sweep of the archived listing (the last
    one read at ``swept``). A *full-scan cursor* (``full=True``) resumes the list
    endpoint at ``after`` and carries the change cursor the full scan ends with.
    """

    full: bool
    since: int
    seen: Mapping[str, int]
    deleted_since: int
    deleted_seen: frozenset[str]
    after: str | None = None
    #: When the archived listing was last read (epoch ms), ``None`` if never: the
    #: deletions from ``deleted_since`` on are reported by the next sweep.
    swept: int | None = None
    #: Whether deletion webhooks of the type have reached the engine (the ``"auto"``
    #: sweep cadence slows down to a day once they have).
    hooked: bool = False

    def encode(self) -> str:
        data: dict[str, Any] = {
            "w": self.since,
            "s": dict(self.seen),
            "d": self.deleted_since,
            "x": sorted(self.deleted_seen),
        }
        if self.full:
            data["f"] = self.after
        if self.swept is not None:
            data["a"] = self.swept
        if self.hooked:
            data["h"] = 1
        return _CURSOR_PREFIX + json.dumps(data, separators=(",", ":"), sort_keys=True)

    @classmethod
    def decode(cls, text: str) -> _Cursor:
        problem = f"malformed HubSpot cursor {text[:80]!r}; pass a cursor that scan() returned"
        if not text.startswith(_CURSOR_PREFIX):
            raise ValueError(problem)
        try:
            data = json.loads(text[len(_CURSOR_PREFIX) :])
            seen = {str(k): int(v) for k, v in data["s"].items()}
            cursor = cls(
                full="f" in data,
                since=int(data["w"]),
                seen=seen,
                deleted_since=int(data["d"]),
                deleted_seen=frozenset(str(i) for i in data["x"]),
                after=None if data.get("f") is None else str(data["f"]),
                swept=None if data.get("a") is None else int(data["a"]),
                hooked=bool(data.get("h")),
            )
        except (ValueError, KeyError, TypeError, AttributeError) as exc:
            raise ValueError(problem) from exc
        if cursor.full and cursor.after is None:
            raise ValueError(problem)
        return cursor

    def changes(self) -> _Cursor:
        """The change cursor this one ends with."""
        return attrs.evolve(self, full=False, after=None)


def _bounded(since: int, seen: Mapping[str, int], ceiling: int) -> tuple[int, dict[str, int]]:
    """A cursor's watermark and seen ids, at most ``_MAX_SEEN`` of them if it can.

    Under a burst of changes the consistency window can hold many ids; the watermark
    then moves up to the oldest time that keeps the cursor small (the window shrinks for
    that cursor only), but never past ``ceiling``: the time up to which every change
    visible to search has been yielded.
    """
    kept = {i: ms for i, ms in seen.items() if ms >= since}
    if len(kept) <= _MAX_SEEN:
        return since, kept
    stamps = sorted(kept.values(), reverse=True)
    since = min(ceiling, max(since, stamps[_MAX_SEEN - 1] + 1))
    return since, {i: ms for i, ms in kept.items() if ms >= since}


def _read_ahead(pages: Generator[Page, None, None]) -> Iterator[Page]:
    """Yield ``pages``, producing the next one in a thread while the caller works.

    Errors of the producer are raised here, in order. When the caller stops early, the
    producer stops after the page it is working on, and closes ``pages``.
    """
    ready: queue.Queue[tuple[str, Any]] = queue.Queue(maxsize=1)
    stop = threading.Event()

    def offer(item: tuple[str, Any]) -> bool:
        while not stop.is_set():
            try:
                ready.put(item, timeout=0.05)
            except queue.Full:
                continue
            time.sleep(0)  # let the waiting consumer take the GIL now, not 5 ms later
            return True
        return False

    def produce() -> None:
        try:
            for page in pages:
                if not offer(("page", page)):
                    return
            offer(("end", None))
        except BaseException as exc:  # handed to the consumer, raised there
            offer(("error", exc))
        finally:
            pages.close()

    thread = threading.Thread(target=produce, name="hubspot-scan", daemon=True)
    thread.start()
    try:
        while True:
            kind, item = ready.get()
            if kind == "page":
                yield item
            elif kind == "error":
                raise item
            else:
                return
    finally:
        stop.set()


def _results(reply: Reply) -> list[Mapping[str, Any]]:
    data = reply.data if isinstance(reply.data, Mapping) else {}
    return [r for r in data.get("results") or () if isinstance(r, Mapping)]


# The HTTP status a batch item's error category stands for (items say "status": "error").
_ITEM_STATUS: Final[Mapping[str, int]] = {
    "CONFLICT": 409,
    "OBJECT_NOT_FOUND": 404,
    "MISSING_SCOPES": 403,
    "RATE_LIMITS": 429,
}


def _errors(reply: Reply) -> list[ErrorBody]:
    data = reply.data if isinstance(reply.data, Mapping) else {}
    out = []
    for item in data.get("errors") or ():
        if not isinstance(item, Mapping):
            continue
        status = item.get("status")
        if isinstance(status, int) or (isinstance(status, str) and status.isdigit()):
            code = int(status)
        else:
            code = _ITEM_STATUS.get(str(item.get("category") or "").upper(), 400)
        out.append(ErrorBody.parse(code, item, reply.correlation_id, item=True))
    return out


def _merged_ids(data: Mapping[str, Any]) -> list[str]:
    """The ids HubSpot merged into a record (``hs_merged_object_ids``), oldest first."""
    raw = data.get("properties")
    text = raw.get(_MERGED_IDS) if isinstance(raw, Mapping) else None
    if not isinstance(text, str):
        return []
    return [i.strip() for i in text.split(";") if i.strip()]


def _merges(results: Iterable[Mapping[str, Any]]) -> dict[str, str]:
    """Old id -> merged record's id, for every id merged into one of ``results``."""
    out: dict[str, str] = {}
    for result in results:
        record_id = str(result.get("id"))
        for old in _merged_ids(result):
            if old != record_id:
                out[old] = record_id
    return out


def _next_after(reply: Reply) -> str | None:
    data = reply.data if isinstance(reply.data, Mapping) else {}
    paging = data.get("paging")
    if isinstance(paging, Mapping):
        nxt = paging.get("next")
        if isinstance(nxt, Mapping) and nxt.get("after") not in (None, ""):
            return str(nxt["after"])
    return None


@final
class HubSpotAdapter(Adapter):
    """An :class:`~syncengine.adapters.Adapter` for HubSpot's CRM: contacts, companies,
    deals, invoices, tickets and custom objects.

    Object types are named as HubSpot's API names them: ``"contacts"``, ``"companies"``,
    ``"deals"``, ``"invoices"``, or a custom object's ``"p_cars"`` / ``"2-1234567"``.

    Behaviour, per method:

    * :meth:`schema` reads the properties API: ``type``/``fieldType`` give the
      :class:`~syncengine.PropertyType` (``enumeration`` + ``checkbox`` is a multi-select,
      ``booleancheckbox`` a bool), option *values* the options, ``readOnlyValue`` or
      ``calculated`` make a property read-only, ``hasUniqueValue`` unique (and a contact's
      ``email``, which HubSpot keeps unique). Custom objects' ``requiredProperties`` are
      required.
    * :meth:`scan` with ``since=None`` lists every record by id, ``page_size`` per page;
      each page's cursor resumes the listing. Before listing, one search finds the newest
      modification time: the last page's cursor starts there, so the next incremental scan
      covers every change made after the full scan started.
    * :meth:`scan` with a change cursor searches the last-modified property
      (``lastmodifieddate`` on contacts, ``hs_lastmodifieddate`` elsewhere), ascending.
      Every page is a *new* search from the last time seen, with the ids already seen at
      that time skipped, so records modified during the scan never shift a page and the
      10,000-result cap of one search never applies; more records at one millisecond
      than a page holds are paged by ``hs_object_id``. Changes younger than
      ``consistency_window`` stay inside the next cursor's range (with their ids, so they
      are not yielded twice): search results are eventually consistent, and a change the
      index showed late is still found. Deleted ids come from the archived listing
      (``archivedAt`` after the cursor), in the last page. HubSpot cannot filter that
      listing, so it is read whole (5,000 archived records: 50 requests) only once every
      ``archived_sweep_every`` (a *sweep*). By default (``"auto"``) every scan sweeps
      until a deletion webhook of the type has reached the engine, then once every 24
      hours; between sweeps, deletions reach the engine through HubSpot's deletion
      webhooks (:mod:`syncengine.webhooks`), and a deletion whose webhook was lost is
      reported by the next sweep.
    * :meth:`fetch`, :meth:`create` and :meth:`update` use the batch endpoints (at most
      100 items). Every create and update input carries an ``objectWriteTraceId``, so
      HubSpot answers 207 with per-item errors and one bad item fails only itself. If
      HubSpot fails a whole batch anyway, the batch is split and re-sent until the bad
      items are isolated.
    * A contact create whose e-mail address exists already fails with ``DUPLICATE`` and
      HubSpot's message, which names the existing id ("Contact already exists. Existing
      ID: 123"). It is *not* reported as a success with that id: the existing contact
      may be another record the sync must not take over (M3); a create whose reply was
      lost is settled by the lookup below instead (S8).
    * HubSpot has no idempotency keys (``supports_idempotency_keys`` is false). A plain
      create is therefore retried only when HubSpot cannot have processed it (429, 423,
      477, 503, connection refused); after a timeout or another 5xx it fails with
      ``UNAVAILABLE``: HubSpot may have committed it, and the engine settles it on its
      next pass with :meth:`lookup_idempotency_keys` (S8), a batch read by a unique
      property, which is strongly consistent (search lags behind writes, so the change
      scan may not show the record yet). Contacts are looked up by e-mail
      (``idProperty=email``), records of other types by a unique text property they
      carry (``hasUniqueValue``), if any. Types without one need an *idempotency property*
      (``idempotency_properties``): a single-line text property with unique values
      (``hasUniqueValue``) that you create in HubSpot, which holds each created record's
      idempotency key. Creates of such a type go through ``batch/upsert`` keyed by it,
      so a create sent twice makes one record (and is retried after a timeout or a
      5xx like any idempotent request), and lookups read it back. Without one, a
      create of a company, deal or custom object whose reply was lost is settled by
      identifier from the change scan, and search lag can make it look unmade: it is
      then made again (a duplicate).
    * :meth:`pipelines` reads ``/crm/v3/pipelines/{type}``; a 403 raises
      :class:`~syncengine.AdapterError` ``PERMISSION`` naming the type, never an empty list
      (A5). A type without pipelines has none (``()``).
    * :meth:`associate` creates links with the v4 batch endpoint and the HubSpot-defined
      type ids of :data:`ASSOCIATION_TYPE_IDS`. Records carry the links to the types the
      engine asks for (:meth:`include_associations`, from ``ObjectSync.associations``)
      and to those named for their type in ``associations``, read with the v4 batch read
      endpoint.

    Requests are paced under ``rate_limit`` (HubSpot's ten-second burst limit; adopt your
    tier's: 100 per 10 s on Free/Starter, 190 on Professional/Enterprise) and search's own
    ``search_rate``, and HubSpot's ``X-HubSpot-RateLimit-*`` headers tighten them when the
    account's limit is lower or shared. 429s wait for their window (``DAILY`` gives up);
    5xx, 423, 477 and timeouts are retried with jittered exponential back-off, at most
    ``max_retries`` times; then :class:`~syncengine.AdapterError` (``RATE_LIMITED`` or
    ``UNAVAILABLE``) is raised. 401 and missing scopes raise ``PERMISSION`` at once.

    The adapter is thread-safe: the engine may keep several batches in flight. The token
    never appears in ``repr``, logs or messages (rule X4).

    Tokens: a private app's token is sent as it is. An OAuth app's access token expires
    after 30 minutes; pass a :class:`HubSpotOAuth` (client id, client secret, refresh
    token) and the adapter renews it before ``expires_in`` runs out and once when HubSpot
    answers 401, so a sync that outlives a token goes on. A callable ``token`` (your own
    token source) is called for the first request and again once after a 401.

    Properties read: every property of the schema, unless the engine announces the ones
    its mappings, match keys, filters and pipeline fields need
    (:meth:`include_properties`, called when a :class:`~syncengine.SyncEngine` is built),
    or ``properties`` restricts them. When the list would make a list request's URL
    longer than 4 KB (portals with hundreds of properties), the listing asks for ids only
    and the records are read with ``batch/read``, the properties in the request body.

    Args:
        token: A private app's access token; a :class:`HubSpotOAuth`; or a callable
            returning the current access token.
        base_url: HubSpot's API, or a local fake (:mod:`syncengine.testing.hubspot`).
        transport: An ``httpx`` transport, e.g. ``httpx.MockTransport(fake.handle)``.
        rate_limit: (requests, seconds) of the burst limit.
        search_rate: (requests, seconds) of search's limit (5 per second at HubSpot).
        timeout: Seconds before one request times out.
        max_retries: Retries of one request before giving up.
        backoff: (first, longest) delay of the exponential back-off, in seconds.
        page_size: Records per page of a full scan (at most 100).
        search_page_size: Records per search request (at most 200).
        properties: Per object type, the properties to read and write (all by default),
            e.g. ``{"contacts": ["email", "firstname"]}``; the schema then lists only
            these (and the type's required ones). A name the account lacks is a
            :class:`~syncengine.ConfigError` naming ``properties`` when the schema is first
            read (the engine reads it when it is built).
        associations: Per object type, more types whose links its records carry, e.g.
            ``{"contacts": ["companies"]}``. Not needed for a sync: the engine asks for
            the links its object syncs keep (``ObjectSync.associations``) through
            :meth:`include_associations`. Each linked type costs one request per page
            read.
        consistency_window: Seconds of search lag that incremental scans allow for.
        archived_sweep_every: How often incremental scans read the archived listing
            for deletions, in seconds or as a ``timedelta`` (at most 30 days, as HubSpot
            keeps archived records 90 days), or ``"auto"`` (the default): on every scan
            of a type until the engine has received a deletion webhook of that type
            (:meth:`note_events`), then once every 24 hours. ``0`` reads it on every
            scan; a fixed cadence without deletion webhooks delays deletions by up to
            that long.
        idempotency_properties: Per object type, the name of a unique text property
            (``hasUniqueValue``) that holds each created record's idempotency key, e.g.
            ``{"companies": "syncengine_key", "deals": "syncengine_key"}``; create the
            property in HubSpot first. Creates of these types become idempotent
            (``batch/upsert``) and a create whose reply was lost is found by it (S8).
            The property is the adapter's own: it is left out of :meth:`schema`, so no
            mapping can write it. Building an engine refuses a property that is missing,
            not unique or not text.
        read_ahead: Fetch a scan's next page in a thread while the engine works on the
            current one (at most three pages in memory), so HubSpot's response time
            overlaps the engine's work.
        clock: Monotonic seconds, for pacing.
        now: Epoch seconds, for the archived sweep's cadence (kept in the cursor).
        sleep: How to wait (injected, so tests never sleep).
        rng: The random source of the back-off's jitter.
        name: A short name for logs and reports.

    Example::

        hub = HubSpotAdapter(os.environ["HUBSPOT_TOKEN"], rate_limit=(190, 10.0))
        engine = SyncEngine(hub, app, SQLiteIndexStore("index.db"), config)

    .. versionadded:: 0.1
    """

    supports_idempotency_keys: ClassVar[bool] = False
    supports_idempotency_lookup: ClassVar[bool] = True
    supports_pipelines: ClassVar[bool] = True
    supports_associations: ClassVar[bool] = True

    def __init__(
        self,
        token: str | HubSpotOAuth | TokenProvider,
        *,
        base_url: str = "https://api.hubapi.com",
        transport: httpx.BaseTransport | None = None,
        rate_limit: tuple[int, float] = (100, 10.0),
        search_rate: tuple[int, float] = (5, 1.0),
        timeout: float = 30.0,
        max_retries: int = 5,
        backoff: tuple[float, float] = (0.5, 30.0),
        page_size: int = 100,
        search_page_size: int = 200,
        properties: Mapping[str, Sequence[str]] | None = None,
        associations: Mapping[str, Sequence[str]] | None = None,
        consistency_window: float = 30.0,
        archived_sweep_every: float | timedelta | str = "auto",
        idempotency_properties: Mapping[str, str] | None = None,
        read_ahead: bool = True,
        clock: Callable[[], float] = time.monotonic,
        now: Callable[[], float] = time.time,
        sleep: Callable[[float], None] = time.sleep,
        rng: random.Random | None = None,
        name: str = "hubspot",
    ) -> None:
        """Configure the adapter; see the class docstring for the arguments."""
        if not 1 <= page_size <= _MAX_LIST_PAGE:
            raise ValueError(f"page_size must be within 1..{_MAX_LIST_PAGE}, got {page_size}")
        if not 1 <= search_page_size <= _MAX_SEARCH_PAGE:
            raise ValueError(
                f"search_page_size must be within 1..{_MAX_SEARCH_PAGE}, got {search_page_size}"
            )
        if consistency_window < 0:
            raise ValueError(f"consistency_window must be >= 0, got {consistency_window}")
        self._sweep_auto = archived_sweep_every == "auto"
        if self._sweep_auto:
            sweep = DEFAULT_SWEEP.total_seconds()
        elif isinstance(archived_sweep_every, str):
            raise ValueError(
                'archived_sweep_every must be "auto", a number of seconds or a timedelta, '
                f"got {archived_sweep_every!r:.40}"
            )
        else:
            sweep = (
                archived_sweep_every.total_seconds()
                if isinstance(archived_sweep_every, timedelta)
                else float(archived_sweep_every)
            )
        if not 0 <= sweep <= MAX_SWEEP.total_seconds():
            raise ValueError(
                f"archived_sweep_every must be within 0 s..30 days, got {archived_sweep_every}"
            )
        self._sweep_ms = round(sweep * 1000)
        #: The object types whose deletion webhooks reached the engine (note_events).
        self._hooked: set[str] = set()
        self._now = now
        self.name = name
        self.max_batch_size = _MAX_BATCH
        self.page_size = page_size
        self.search_page_size = search_page_size
        self._http = HttpClient(
            Secret(token) if isinstance(token, str) else token,
            base_url=base_url,
            transport=transport,
            timeout=timeout,
            rate_limit=rate_limit,
            search_rate=search_rate,
            max_retries=max_retries,
            backoff=backoff,
            clock=clock,
            sleep=sleep,
            rng=rng if rng is not None else random.Random(),
        )
        self._properties = _names_option("properties", properties, "property names")
        #: Per object type, the properties the engine reads (include_properties).
        self._reads: dict[str, frozenset[str]] = {}
        self._associations = _names_option("associations", associations, "object type names")
        self._lag_ms = round(consistency_window * 1000)
        self._idempotency = dict(idempotency_properties or {})
        self._warned: set[str] = set()
        for object_type, name in self._idempotency.items():
            if not isinstance(object_type, str) or not isinstance(name, str) or not name:
                raise ValueError(
                    f"idempotency_properties maps object types to property names; got "
                    f"{object_type!r:.40}: {name!r:.40}"
                )
        self._read_ahead = read_ahead
        self._lock = threading.Lock()
        self._schemas: dict[str, ObjectSchema] = {}
        self._type_ids: dict[str, str] = {}  # custom object types' ids (see object_type_id)
        self._reader_cache: dict[str, tuple[ObjectSchema, Mapping[str, Callable[[str], Any]]]] = {}

    @override
    def __repr__(self) -> str:
        return f"<HubSpotAdapter {self.name!r} {redact_dsn(self._http.base_url)}>"

    @property
    def requests(self) -> int:
        """How many HTTP requests the adapter has sent (retries included)."""
        return self._http.requests

    @override
    def close(self) -> None:
        """Close the HTTP connection pool."""
        self._http.close()

    @override
    def include_associations(self, object_type: str, to_types: Sequence[str]) -> None:
        """Read the links of ``object_type``'s records to ``to_types`` from now on (A1).

        The engine calls this for each object sync with ``associations``, so
        ``ObjectSync(associations=...)`` is the one declaration needed; the types add to
        those of the ``associations`` argument.
        """
        with self._lock:
            known = self._associations.get(object_type, ())
            self._associations[object_type] = known + tuple(
                t for t in dict.fromkeys(to_types) if t not in known
            )

    @override
    def include_properties(self, object_type: str, names: Sequence[str]) -> None:
        """Read only ``names`` of ``object_type``'s properties (and the modification time).

        The engine calls this when it is built, with the properties its object syncs
        need (mappings, match keys, filters, pipeline fields); calls add up, so an
        adapter shared by several engines reads what any of them needs. Without a call
        every property of the schema is read.

        .. versionadded:: 0.3
        """
        with self._lock:
            self._reads[object_type] = self._reads.get(object_type, frozenset()) | frozenset(
                str(n) for n in names
            )

    # ---- schema ---------------------------------------------------------------------

    @override
    def schema(self, object_type: str) -> ObjectSchema:
        """The properties of ``object_type`` from HubSpot's properties API (read fresh).

        Raises:
            AdapterError: ``NOT_FOUND`` for an unknown type, ``PERMISSION`` without the
                schema scope.
            ConfigError: at ``properties`` when the ``properties`` argument names a
                property the type does not have (all such names, with suggestions).
        """
        reply = self._http.request(
            "GET",
            f"/crm/v3/properties/{object_type}",
            params={"archived": "false"},
            accept=(400,),
            what=f"read the properties of {object_type!r}",
        )
        if reply.status == 400:
            raise AdapterError(
                ErrorCategory.NOT_FOUND,
                f"read the properties of {object_type!r}: {reply.error().describe()}",
            )
        required: frozenset[str] = frozenset()
        if object_type not in _STANDARD_TYPES and not object_type.startswith("0-"):
            required = self._required(object_type)
        specs = [
            spec_from_definition(object_type, d, required=str(d.get("name")) in required)
            for d in _results(reply)
            if d.get("name") and not d.get("archived")
        ]
        key_property = self._idempotency.get(object_type)
        if key_property is not None:
            self._check_key_property(object_type, key_property, _results(reply))
            specs = [s for s in specs if s.name != key_property]
        elif object_type != "contacts" and not any(
            s.unique and s.type is PropertyType.STRING for s in specs
        ):
            self._warn_unsettled(object_type)  # contacts are looked up by e-mail
        wanted = self._properties.get(object_type)
        if wanted is not None:
            known = {s.name for s in specs}
            unknown = [p for p in wanted if p not in known]
            if unknown:
                hints = []
                for name in unknown:
                    close = difflib.get_close_matches(name, sorted(known), n=1)
                    if close:
                        hints.append(f"{name!r}: did you mean {close[0]!r}?")
                raise ConfigError(
                    "properties",
                    f"the HubSpot account's {object_type!r} has no "
                    f"propert{'y' if len(unknown) == 1 else 'ies'} "
                    f"{', '.join(repr(n) for n in unknown)}"
                    + (f" ({'; '.join(hints)})" if hints else "")
                    + f"; properties[{object_type!r}] may name only properties the account "
                    "has (the properties API lists them)",
                )
            keep = set(wanted) | {s.name for s in specs if s.required}
            specs = [s for s in specs if s.name in keep]
        schema = ObjectSchema(object_type, specs)
        with self._lock:
            self._schemas[object_type] = schema
        return schema

    def _warn_unsettled(self, object_type: str) -> None:
        """Say once that lost create replies of ``object_type`` can make duplicates (S8)."""
        with self._lock:
            if object_type in self._warned:
                return
            self._warned.add(object_type)
        logger.warning(
            "%s: %r has no idempotency property: a create whose reply is lost (a timeout, "
            "a 5xx after HubSpot committed it) is settled from search results, which lag, "
            "and may be made twice; create a unique single-line text property in HubSpot "
            "and pass idempotency_properties={%r: <its name>} (see 'Idempotency properties' "
            "in the HubSpot how-to)",
            self.name,
            object_type,
            object_type,
        )

    @staticmethod
    def _check_key_property(
        object_type: str, name: str, definitions: Sequence[Mapping[str, Any]]
    ) -> None:
        """Refuse an idempotency property HubSpot does not have as unique text."""
        found = [d for d in definitions if d.get("name") == name and not d.get("archived")]
        problem = ""
        if not found:
            problem = "does not exist"
        elif not found[0].get("hasUniqueValue"):
            problem = "does not require unique values (hasUniqueValue)"
        elif found[0].get("type") != "string":
            problem = f"is of type {found[0].get('type')!r}, not a text ('string') property"
        if problem:
            raise AdapterError(
                ErrorCategory.VALIDATION,
                f"{object_type!r}: the idempotency property {name!r} "
                f"(HubSpotAdapter(idempotency_properties=…)) {problem}; create it in HubSpot "
                f"as a single-line text property that requires unique values",
            )

    def _required(self, object_type: str) -> frozenset[str]:
        reply = self._http.request(
            "GET",
            f"/crm/v3/schemas/{object_type}",
            accept=(400, 404),
            what=f"read the schema of {object_type!r}",
        )
        data = reply.data if isinstance(reply.data, Mapping) and reply.status < 300 else {}
        type_id = data.get("objectTypeId")
        if isinstance(type_id, str) and type_id:
            with self._lock:
                self._type_ids[object_type] = type_id
        return frozenset(str(p) for p in data.get("requiredProperties") or ())

    def object_type_id(self, object_type: str) -> str | None:
        """HubSpot's id of an object type (``contacts``: ``0-1``; a custom object's
        ``2-1234567``, known once its schema was read), or ``None`` if not known.

        Generic webhooks (``object.deletion``) name types by these ids.

        .. versionadded:: 0.2
        """
        with self._lock:
            found = self._type_ids.get(object_type)
        return found if found is not None else _STANDARD_TYPE_IDS.get(object_type)

    def _schema(self, object_type: str) -> ObjectSchema:
        with self._lock:
            schema = self._schemas.get(object_type)
        return schema if schema is not None else self.schema(object_type)

    def _names(self, schema: ObjectSchema) -> list[str]:
        """The properties to read: what the engine needs, or all of the schema.

        The merged ids are always read: they tell a merged record's old ids (HubSpot
        ignores a property a type does not have).
        """
        with self._lock:
            reads = self._reads.get(schema.name)
        names = [s.name for s in schema if reads is None or s.name in reads]
        for extra in (lastmod_property(schema.name), _MERGED_IDS):
            if extra not in names:
                names.append(extra)
        return names

    # ---- records --------------------------------------------------------------------

    def _readers(self, schema: ObjectSchema) -> Mapping[str, Callable[[str], Any]]:
        with self._lock:
            cached = self._reader_cache.get(schema.name)
            if cached is not None and cached[0] is schema:
                return cached[1]
        readers = {spec.name: reader(spec) for spec in schema}
        with self._lock:
            self._reader_cache[schema.name] = (schema, readers)
        return readers

    def _record(self, schema: ObjectSchema, data: Mapping[str, Any]) -> Record:
        raw = data.get("properties")
        properties: dict[str, Any] = {}
        if isinstance(raw, Mapping):
            readers = self._readers(schema)
            for name, text in raw.items():
                if text is None or text == "":
                    continue
                read = readers.get(name)
                if read is None:
                    continue
                value = read(text if isinstance(text, str) else str(text))
                if value is not None:
                    properties[name] = value
        lastmod = raw.get(lastmod_property(schema.name)) if isinstance(raw, Mapping) else None
        stamp = lastmod or data.get("updatedAt")
        ms = parse_ms(str(stamp)) if stamp else None
        updated_at = from_ms(ms) if ms is not None else None
        return Record(str(data["id"]), MappingProxyType(properties), updated_at)

    def _stamp(self, object_type: str, data: Mapping[str, Any]) -> int:
        raw = data.get("properties")
        text = raw.get(lastmod_property(object_type)) if isinstance(raw, Mapping) else None
        ms = parse_ms(str(text or data.get("updatedAt") or ""))
        return ms if ms is not None else 0

    def _linked(self, object_type: str, records: list[Record]) -> list[Record]:
        """``records`` with their links to the types configured in ``associations``."""
        with self._lock:
            targets = self._associations.get(object_type, ())
        if not targets or not records:
            return records
        links: dict[str, dict[str, set[str]]] = {r.id: {} for r in records}
        for target in targets:
            pending: list[dict[str, str]] = [{"id": r.id} for r in records]
            while pending:
                batch, pending = pending[:_MAX_BATCH], pending[_MAX_BATCH:]
                reply = self._http.request(
                    "POST",
                    f"/crm/v4/associations/{object_type}/{target}/batch/read",
                    json_body={"inputs": batch},
                    accept=(404,),
                    what=f"read the {target} linked to {object_type}",
                )
                for result in _results(reply):
                    source = result.get("from")
                    from_id = str(source.get("id")) if isinstance(source, Mapping) else ""
                    if from_id not in links:
                        continue
                    found = links[from_id].setdefault(target, set())
                    for item in result.get("to") or ():
                        if isinstance(item, Mapping) and item.get("toObjectId") is not None:
                            found.add(str(item["toObjectId"]))
                    more = _next_after(Reply(200, result))
                    if more is not None:
                        pending.append({"id": from_id, "after": more})
        return [
            attrs.evolve(
                r,
                associations=MappingProxyType(
                    {t: frozenset(ids) for t, ids in links[r.id].items()}
                ),
            )
            for r in records
        ]

    # ---- scans ----------------------------------------------------------------------

    def note_events(self, events: Iterable[ChangeEvent]) -> None:
        """Learn from the webhook events the engine received for this app.

        The engine calls it with the events it processes (drained from the webhook inbox,
        or passed to :meth:`~syncengine.SyncEngine.handle_events`). A deletion event of a
        type shows that HubSpot's deletion webhooks reach the sync: with
        ``archived_sweep_every="auto"``, that type's incremental scans then read the
        archived listing once every 24 hours instead of on every scan. Scan cursors keep
        this, so a restarted process keeps the slower cadence.

        .. versionadded:: 0.3
        """
        deleted = {e.object_type for e in events if e.kind == "deleted"}
        if deleted:
            with self._lock:
                self._hooked.update(deleted)

    def _has_hooks(self, object_type: str) -> bool:
        """Whether deletion webhooks of ``object_type`` have reached the engine."""
        with self._lock:
            return object_type in self._hooked

    @override
    def scan(self, object_type: str, since: str | None = None) -> Iterable[Page]:
        """Yield the records of ``object_type`` in pages; see the class docstring.

        The cursor is checked when ``scan`` is called.

        Raises:
            ValueError: ``since`` is not a cursor of this adapter.
            AdapterError: HubSpot failed for good (see the class docstring).
        """
        if since is None:
            pages = self._full_scan(object_type, None)
        else:
            cursor = _Cursor.decode(since)
            if cursor.full:
                pages = self._full_scan(object_type, cursor)
            else:
                pages = self._incremental_scan(object_type, cursor)
        return _read_ahead(pages) if self._read_ahead else pages

    def _search(
        self,
        object_type: str,
        filters: list[dict[str, Any]],
        sort: tuple[str, str],
        properties: list[str],
        limit: int,
    ) -> list[Mapping[str, Any]]:
        body = {
            "filterGroups": [{"filters": filters}] if filters else [],
            "sorts": [{"propertyName": sort[0], "direction": sort[1]}],
            "properties": properties,
            "limit": limit,
        }
        reply = self._http.request(
            "POST",
            f"/crm/v3/objects/{object_type}/search",
            json_body=body,
            search=True,
            what=f"search {object_type}",
        )
        return _results(reply)

    def _start(self, object_type: str) -> _Cursor:
        """The change cursor of a full scan that starts now (one search, newest first)."""
        lastmod = lastmod_property(object_type)
        newest = self._search(
            object_type, [], (lastmod, "DESCENDING"), [lastmod], self.search_page_size
        )
        stamps = {str(r["id"]): self._stamp(object_type, r) for r in newest}
        hooked = self._has_hooks(object_type)
        if not stamps:
            return _Cursor(False, 0, {}, 0, frozenset(), hooked=hooked)
        since = max(0, max(stamps.values()) - self._lag_ms)
        seen = {i: ms for i, ms in stamps.items() if ms >= since}
        return _Cursor(False, since, seen, since, frozenset(), hooked=hooked)

    def _full_scan(self, object_type: str, resume: _Cursor | None) -> Generator[Page, None, None]:
        schema = self._schema(object_type)
        end = resume.changes() if resume is not None else self._start(object_type)
        after = resume.after if resume is not None else None
        path = f"/crm/v3/objects/{object_type}"
        names = self._names(schema)
        params = {
            "limit": str(self.page_size),
            "properties": ",".join(names),
            "archived": "false",
        }
        # A wide list (hundreds of long names) would make the URL too long (414): list
        # ids only, and read each page's records with the properties in a body.
        in_body = self._request_line("GET", path, {**params, "after": "9" * 20}) > (
            _MAX_REQUEST_LINE
        )
        if in_body:
            params["properties"] = "hs_object_id"
        while True:
            if after is not None:
                params["after"] = after
            reply = self._http.request("GET", path, params=params, what=f"list {object_type}")
            results = _results(reply)
            if in_body:
                results = self._read(object_type, [str(r["id"]) for r in results], names)
            records = self._linked(object_type, [self._record(schema, r) for r in results])
            merged = _merges(results)
            after = _next_after(reply)
            if after is None:
                yield Page(tuple(records), end.encode(), merged=merged)
                return
            yield Page(
                tuple(records), attrs.evolve(end, full=True, after=after).encode(), merged=merged
            )

    def _request_line(self, method: str, path: str, params: Mapping[str, str]) -> int:
        """The length of the request line a GET with ``params`` would have."""
        url = httpx.URL(self._http.base_url + path, params=dict(params))
        return len(method) + 1 + len(url.raw_path) + len(" HTTP/1.1")

    def _read(
        self, object_type: str, ids: Sequence[str], names: list[str]
    ) -> list[Mapping[str, Any]]:
        """Batch-read ``ids`` (at most 100) with ``names``; in ``ids`` order, live ones only."""
        found = {str(r.get("id")): r for r in self._read_all(object_type, ids, names)}
        return [found[i] for i in ids if i in found]

    def _read_all(
        self, object_type: str, ids: Sequence[str], names: list[str]
    ) -> list[Mapping[str, Any]]:
        """Batch-read ``ids`` (at most 100): every result, merged records under an old
        id included (their ids are new)."""
        if not ids:
            return []
        reply = self._http.request(
            "POST",
            f"/crm/v3/objects/{object_type}/batch/read",
            json_body={"inputs": [{"id": i} for i in ids], "properties": names},
            accept=(404,),
            what=f"read {object_type}",
        )
        if reply.status == 404 and reply.error().category not in ("", "OBJECT_NOT_FOUND"):
            raise AdapterError(category_of(reply.error()), reply.error().describe())
        return _results(reply)

    def _incremental_scan(self, object_type: str, cursor: _Cursor) -> Generator[Page, None, None]:
        # rule S5: only what changed since the cursor. Each request is a new search from
        # the last time seen (see the class docstring for why).
        schema = self._schema(object_type)
        lastmod = lastmod_property(object_type)
        names = self._names(schema)
        size = self.search_page_size
        seen = dict(cursor.seen)
        low = cursor.since
        top = cursor.since

        def page_cursor(edge: int) -> str:
            since, kept = _bounded(max(cursor.since, edge - self._lag_ms), seen, edge)
            return attrs.evolve(cursor, since=since, seen=kept).encode()

        merged: dict[str, str] = {}

        def fresh(results: list[Mapping[str, Any]]) -> list[Record]:
            nonlocal top
            out, raw = [], []
            for result in results:
                record_id, ms = str(result["id"]), self._stamp(object_type, result)
                top = max(top, ms)
                if seen.get(record_id) != ms:
                    seen[record_id] = ms
                    out.append(self._record(schema, result))
                    raw.append(result)
            # A merged record names the ids it replaces: the page says so (Page.merged).
            merged.clear()
            merged.update(_merges(raw))
            return self._linked(object_type, out)

        def page(records: list[Record], cursor_text: str) -> Page:
            return Page(tuple(records), cursor_text, merged=dict(merged))

        while True:
            results = self._search(
                object_type,
                [{"propertyName": lastmod, "operator": "GTE", "value": str(low)}],
                (lastmod, "ASCENDING"),
                names,
                size,
            )
            records = fresh(results)
            newest = max((self._stamp(object_type, r) for r in results), default=low)
            if len(results) < size:
                if records:
                    yield page(records, page_cursor(low))
                break
            if newest <= low:
                # A full page at one millisecond: page through it by id, then go past it.
                if records:
                    yield page(records, page_cursor(low))
                yield from self._same_time(object_type, low, names, fresh, page_cursor, page)
                low += 1
            else:
                low = newest
                if records:
                    yield page(records, page_cursor(low))
            # Forget what no later search can return again.
            floor = low - self._lag_ms
            for record_id in [i for i, ms in seen.items() if ms < floor]:
                del seen[record_id]
        now = round(self._now() * 1000)
        deleted: list[str] = []
        deleted_since, deleted_seen, swept = cursor.deleted_since, cursor.deleted_seen, cursor.swept
        # rule S5: the archived listing is read whole (HubSpot cannot filter it), so only
        # every archived_sweep_every; deletion webhooks cover the time between (the
        # engine drains them from its inbox). A clock that went back sweeps at once.
        hooked = cursor.hooked or self._has_hooks(object_type)
        # "auto": every scan until deletion webhooks of the type have come, then daily.
        every = self._sweep_ms if hooked or not self._sweep_auto else 0
        if swept is None or not 0 <= now - swept < every:
            deleted, deleted_since, deleted_seen = self._deletions(object_type, cursor)
            swept = now
        # HubSpot archives the records a merge replaces: those are no deletions.
        deleted, moved = self._merged_away(object_type, deleted)
        since, kept = _bounded(max(cursor.since, top - self._lag_ms), seen, top + 1)
        final = _Cursor(False, since, kept, deleted_since, deleted_seen, swept=swept, hooked=hooked)
        yield Page((), final.encode(), tuple(deleted), merged=moved)

    def _same_time(
        self,
        object_type: str,
        ms: int,
        names: list[str],
        fresh: Callable[[list[Mapping[str, Any]]], list[Record]],
        page_cursor: Callable[[int], str],
        page: Callable[[list[Record], str], Page],
    ) -> Iterator[Page]:
        lastmod = lastmod_property(object_type)
        last_id: str | None = None
        while True:
            filters: list[dict[str, Any]] = [
                {"propertyName": lastmod, "operator": "EQ", "value": str(ms)}
            ]
            if last_id is not None:
                filters.append({"propertyName": "hs_object_id", "operator": "GT", "value": last_id})
            results = self._search(
                object_type, filters, ("hs_object_id", "ASCENDING"), names, self.search_page_size
            )
            records = fresh(results)
            if records:
                yield page(records, page_cursor(ms))
            if len(results) < self.search_page_size:
                return
            last_id = str(results[-1]["id"])

    def _deletions(
        self, object_type: str, cursor: _Cursor
    ) -> tuple[list[str], int, frozenset[str]]:
        """Ids archived at or after the cursor and not reported yet, and the next state.

        The archived listing holds every archived record (HubSpot keeps them 90 days) in
        id order, so it is read whole; the watermark trails the newest ``archivedAt`` by
        the consistency window, like the search's.
        """
        since, reported = cursor.deleted_since, cursor.deleted_seen
        recent: dict[str, int] = {}
        params = {"limit": str(_MAX_LIST_PAGE), "archived": "true", "properties": "hs_object_id"}
        while True:
            reply = self._http.request(
                "GET",
                f"/crm/v3/objects/{object_type}",
                params=params,
                what=f"list archived {object_type}",
            )
            for result in _results(reply):
                ms = parse_ms(str(result.get("archivedAt") or ""))
                if ms is not None and ms >= since:
                    recent[str(result["id"])] = ms
            after = _next_after(reply)
            if after is None:
                break
            params["after"] = after
        deleted = [i for i in recent if i not in reported]
        edge = max(since, max(recent.values(), default=since) - self._lag_ms)
        return deleted, edge, frozenset(i for i, ms in recent.items() if ms >= edge)

    def _merged_away(self, object_type: str, ids: list[str]) -> tuple[list[str], dict[str, str]]:
        """Split archived ids into deletions and merges (old id -> merged record's id).

        HubSpot archives both records of a merge and makes a new one; a read of an old id
        returns the merged record. Each archived id is read once (batch read), so a merge
        never looks like a deletion.
        """
        if not ids:
            return ids, {}
        moved: dict[str, str] = {}
        for chunk, record_id, olds in self._read_merged_ids(object_type, ids, "archived"):
            asked = set(chunk)
            for old in olds:
                if old in asked and old != record_id:
                    moved[old] = record_id
        return [i for i in ids if i not in moved], moved

    def _read_merged_ids(
        self, object_type: str, ids: Sequence[str], what: str
    ) -> Iterator[tuple[Sequence[str], str, list[str]]]:
        """Read ``ids`` in batches with their ``hs_merged_object_ids``: per record read,
        the batch of ids asked, the id the record reads as now, and the ids merged into
        it (a merged-away id reads as the record it was merged into)."""
        for start in range(0, len(ids), _MAX_BATCH):
            chunk = ids[start : start + _MAX_BATCH]
            reply = self._http.request(
                "POST",
                f"/crm/v3/objects/{object_type}/batch/read",
                json_body={"inputs": [{"id": i} for i in chunk], "properties": [_MERGED_IDS]},
                accept=(404,),
                what=f"read {what} {object_type}",
            )
            for result in _results(reply):
                yield chunk, str(result.get("id")), _merged_ids(result)

    # ---- fetch and writes -------------------------------------------------------------

    def _check_batch(self, method: str, size: int) -> None:
        if size > self.max_batch_size:
            raise AdapterError(
                ErrorCategory.VALIDATION,
                f"{self.name}: {method} got {size} items; HubSpot takes at most "
                f"{self.max_batch_size} per batch",
            )

    @override
    def fetch(self, object_type: str, ids: Sequence[str]) -> Mapping[str, Record]:
        """The live records among ``ids`` (batch read); archived and unknown ids are absent.

        An id HubSpot merged into another record (since HubSpot's merge change the merged
        record has a new id, and a read of an old id returns it) maps to that record,
        whose ``id`` is the new one; its ``hs_merged_object_ids`` tells which asked ids
        it answers for.
        """
        self._check_batch("fetch", len(ids))
        wanted = list(dict.fromkeys(str(i) for i in ids))
        if not wanted:
            return {}
        schema = self._schema(object_type)
        asked = set(wanted)
        answers: list[tuple[list[str], Mapping[str, Any]]] = []
        answered: set[str] = set()
        for result in self._read_all(object_type, wanted, self._names(schema)):
            record_id = str(result.get("id"))
            names = [record_id] if record_id in asked else []
            names += [i for i in _merged_ids(result) if i in asked and i != record_id]
            names = [i for i in names if i not in answered]
            if names:
                answered.update(names)
                answers.append((names, result))
        records = self._linked(object_type, [self._record(schema, r) for _, r in answers])
        return {
            i: record for (names, _), record in zip(answers, records, strict=True) for i in names
        }

    def _inputs(
        self, schema: ObjectSchema, values: Mapping[str, Any]
    ) -> tuple[dict[str, str] | None, WriteResult | None]:
        properties: dict[str, str] = {}
        for name, value in values.items():
            spec = schema.get(name)
            try:
                properties[name] = to_hubspot(value, spec)
            except ConversionError as exc:
                return None, WriteResult.failed(
                    ErrorCategory.VALIDATION, f"property {name!r}: {exc}"
                )
        return properties, None

    @override
    def create(self, object_type: str, items: Sequence[NewRecord]) -> Sequence[WriteResult]:
        """Create records with one batch create; one result per item, in order.

        HubSpot keeps no idempotency keys. For a type with an idempotency property
        (``idempotency_properties``), items with a key are upserted by it instead
        (``batch/upsert`` with ``idProperty``): a create sent again answers with the
        record it made. Elsewhere the key is not sent (see the class docstring for what
        happens to interrupted creates).
        """
        self._check_batch("create", len(items))
        schema = self._schema(object_type)
        key_property = self._idempotency.get(object_type)
        results: list[WriteResult | None] = [None] * len(items)
        inputs: dict[int, dict[str, Any]] = {}
        upserts: dict[int, dict[str, Any]] = {}
        for n, item in enumerate(items):
            properties, failure = self._inputs(schema, item.properties)
            if failure is not None or properties is None:
                results[n] = failure
            elif key_property is not None and item.idempotency_key:
                key = item.idempotency_key
                upserts[n] = {
                    "idProperty": key_property,
                    "id": key,
                    "properties": {**properties, key_property: key},
                    "objectWriteTraceId": str(n),
                }
            else:
                inputs[n] = {"properties": properties, "objectWriteTraceId": str(n)}
        for operation, batch in (("create", inputs), ("upsert", upserts)):
            if batch:
                for n, result in self._write(object_type, operation, batch).items():
                    results[n] = result
        return [r if r is not None else _no_answer() for r in results]

    @override
    def lookup_idempotency_keys(
        self, object_type: str, items: Sequence[NewRecord]
    ) -> Mapping[str, str] | None:
        """The records these creates made, by idempotency key, read by a unique property.

        A type with an idempotency property is read by it. Otherwise, by a unique text
        property every item carries (a contact's ``email``, a custom object's property
        with ``hasUniqueValue``): the record holding the item's value was made by the
        create, or made the create fail, since HubSpot refuses a second record with the
        value. Batch reads by ``idProperty`` are strongly consistent, unlike search.
        ``None`` (cannot tell) when there is no such property.
        """
        self._check_batch("lookup_idempotency_keys", len(items))
        key_property = self._idempotency.get(object_type)
        by_key: dict[str, str] = {}  # idempotency key -> the unique value to read
        if key_property is not None:
            by_key = {i.idempotency_key: i.idempotency_key for i in items if i.idempotency_key}
        else:
            key_property = self._carried_unique(object_type, items)
            if key_property is None:
                return None
            by_key = {
                i.idempotency_key: str(i.properties[key_property]).strip()
                for i in items
                if i.idempotency_key
            }
        # Sent as they were written (whether HubSpot compares a custom unique property
        # with case is not documented); answers are matched without case (e-mails).
        values = list({v.lower(): v for v in by_key.values()}.values())
        if not values:
            return {}
        reply = self._http.request(
            "POST",
            f"/crm/v3/objects/{object_type}/batch/read",
            json_body={
                "idProperty": key_property,
                "inputs": [{"id": v} for v in values],
                "properties": [key_property],
            },
            accept=(404,),
            what=f"look up created {object_type} by {key_property}",
        )
        if reply.status == 404 and reply.error().category not in ("", "OBJECT_NOT_FOUND"):
            raise AdapterError(category_of(reply.error()), reply.error().describe())
        found: dict[str, str] = {}
        for result in _results(reply):
            props = result.get("properties")
            value = props.get(key_property) if isinstance(props, Mapping) else None
            if isinstance(value, str) and value and result.get("id") is not None:
                found[value.lower()] = str(result["id"])
        return {key: found[v.lower()] for key, v in by_key.items() if v.lower() in found}

    def _carried_unique(self, object_type: str, items: Sequence[NewRecord]) -> str | None:
        """A unique text property every item holds a value of (``email`` first), or None."""
        schema = self._schema(object_type)
        names = sorted(
            (s.name for s in schema if s.unique and s.type is PropertyType.STRING),
            key=lambda name: name != "email",
        )
        for name in names:
            values = [i.properties.get(name) for i in items]
            if all(isinstance(v, str) and v.strip() for v in values):
                return name
        return None

    @override
    def update(self, object_type: str, items: Sequence[RecordUpdate]) -> Sequence[WriteResult]:
        """Change properties with batch updates; one result per item, in order.

        A ``None`` value clears the property (sent as ``""``). Unknown and archived ids
        fail with ``NOT_FOUND``.

        An id HubSpot merged into another record names that record (HubSpot's merge
        change: "both of the previous IDs will point to the resulting merged record"):
        the update lands there and HubSpot answers with the merged record's id. Such an
        item is answered :meth:`WriteResult.merged_into` with the id sent and the ids
        the merged record lists in ``hs_merged_object_ids`` (read once per batch), so
        the engine re-pairs them as it does for ``Page.merged``. An answer under an id
        that does not list the id sent fails ``UNKNOWN``: which record took the update
        is not known.
        """
        self._check_batch("update", len(items))
        schema = self._schema(object_type)
        results: list[WriteResult | None] = [None] * len(items)
        # HubSpot refuses a batch naming one id twice: such items go in later waves.
        waves: list[dict[int, dict[str, Any]]] = []
        for n, item in enumerate(items):
            properties, failure = self._inputs(schema, item.properties)
            if failure is not None:
                results[n] = failure
                continue
            entry = {"id": str(item.id), "properties": properties, "objectWriteTraceId": str(n)}
            for wave in waves:
                if all(e["id"] != entry["id"] for e in wave.values()):
                    wave[n] = entry
                    break
            else:
                waves.append({n: entry})
        for wave in waves:
            for n, result in self._write(object_type, "update", wave).items():
                results[n] = result
        moved = {
            n: r.record_id
            for n, r in enumerate(results)
            if r is not None and r.succeeded and r.record_id != items[n].id
        }
        if moved:
            self._landed_on_merged(object_type, items, results, moved)
        return [r if r is not None else _no_answer() for r in results]

    def _landed_on_merged(
        self,
        object_type: str,
        items: Sequence[RecordUpdate],
        results: list[WriteResult | None],
        moved: Mapping[int, str | None],
    ) -> None:
        """Answer the updates HubSpot answered under another id (by item position) as
        landed on the record their id was merged into, or as failed when the record
        answered does not list their id among its merged ids."""
        # Each answered id -> (the record it reads as now, the ids merged into that).
        merges: dict[str, tuple[str, list[str]]] = {}
        answered = list(dict.fromkeys(str(i) for i in moved.values()))
        failure: AdapterError | None = None
        try:
            for chunk, record_id, olds in self._read_merged_ids(object_type, answered, "merged"):
                for asked in chunk:
                    if asked == record_id or asked in olds:  # merged again since
                        merges[asked] = (record_id, olds)
        except AdapterError as exc:
            failure = exc
        for n, new in moved.items():
            sent = str(items[n].id)
            latest, olds = merges.get(str(new), ("", []))
            if failure is None and new is not None and sent in olds:
                results[n] = WriteResult.merged_into(
                    sent, {old: latest for old in olds if old != latest}
                )
                continue
            why = (
                f"reading it failed ({failure})"
                if failure is not None
                else f"its {_MERGED_IDS} do not list {sent!r}"
            )
            results[n] = WriteResult.failed(
                ErrorCategory.UNKNOWN,
                f"{self.name}: HubSpot answered the update of {object_type} {sent!r} with "
                f"the record {new!r}, but {why}; which record took the update is unknown",
            )

    def _write(
        self, object_type: str, operation: str, inputs: dict[int, dict[str, Any]]
    ) -> dict[int, WriteResult]:
        """One batch create/update of ``inputs`` (by item position); results by position."""
        reply = self._http.request(
            "POST",
            f"/crm/v3/objects/{object_type}/batch/{operation}",
            json_body={"inputs": list(inputs.values())},
            idempotent=operation != "create",
            accept=(400, 404, 409),
            what=f"{operation} {object_type}",
        )
        if reply.status >= 300 and reply.status != 207:
            return self._whole_batch_failed(object_type, operation, inputs, reply.error())
        by_trace = {entry["objectWriteTraceId"]: n for n, entry in inputs.items()}
        by_id = {entry["id"]: n for n, entry in inputs.items() if "id" in entry}
        out: dict[int, WriteResult] = {}
        untraced: list[str] = []
        for result in _results(reply):
            record_id = str(result.get("id"))
            n = by_trace.get(str(result.get("objectWriteTraceId")))
            if n is None:
                n = by_id.get(record_id)
            if n is None:
                untraced.append(record_id)
            else:
                out[n] = WriteResult.ok(record_id)
        unplaced: list[ErrorBody] = []
        for error in _errors(reply):
            named = [
                by_trace[t] for t in error.context.get("objectWriteTraceId", ()) if t in by_trace
            ]
            named += [by_id[i] for i in error.context.get("ids", ()) if i in by_id]
            if not named:
                unplaced.append(error)
            for n in named:
                out[n] = WriteResult.failed(category_of(error), error.describe())
        missing = [n for n in inputs if n not in out]
        if untraced and not unplaced and len(untraced) == len(missing):
            # No trace ids in the answer: HubSpot answers in input order.
            for n, record_id in zip(missing, untraced, strict=True):
                out[n] = WriteResult.ok(record_id)
        elif missing and len(missing) == len(unplaced) == 1 and not untraced:
            out[missing[0]] = WriteResult.failed(category_of(unplaced[0]), unplaced[0].describe())
        return out

    def _whole_batch_failed(
        self,
        object_type: str,
        operation: str,
        inputs: dict[int, dict[str, Any]],
        error: ErrorBody,
    ) -> dict[int, WriteResult]:
        """HubSpot failed a whole batch (400/404/409): find the bad items, write the rest.

        A failed batch wrote nothing, so re-sending parts of it is safe, creates included.
        """
        category = category_of(error)
        if len(inputs) == 1:
            (n,) = inputs
            return {n: WriteResult.failed(category, error.describe())}
        named = {
            n
            for n, entry in inputs.items()
            if entry["objectWriteTraceId"] in error.context.get("objectWriteTraceId", ())
            or entry.get("id") in error.context.get("ids", ())
        }
        out = {n: WriteResult.failed(category, error.describe()) for n in named}
        rest = [n for n in inputs if n not in named]
        if named:
            parts = [rest] if rest else []
        else:
            middle = len(rest) // 2
            parts = [rest[:middle], rest[middle:]]
        for part in parts:
            out.update(self._write(object_type, operation, {n: inputs[n] for n in part}))
        return out

    # ---- pipelines and associations ---------------------------------------------------

    @override
    def pipelines(self, object_type: str) -> Sequence[Pipeline]:
        """The pipelines of ``object_type`` with their stages, in HubSpot's display order.

        Raises:
            AdapterError: ``PERMISSION`` when the token may not read them (A5).
        """
        reply = self._http.request(
            "GET",
            f"/crm/v3/pipelines/{object_type}",
            accept=(400, 404),
            what=f"read the pipelines of {object_type!r}",
        )
        if reply.status >= 300:
            return ()

        def order(item: Mapping[str, Any]) -> int:
            value = item.get("displayOrder")
            return value if isinstance(value, int) else 0

        pipelines = []
        for data in sorted(_results(reply), key=order):
            if data.get("archived"):
                continue
            stages = [
                Stage(str(s["id"]), str(s.get("label") or s["id"]))
                for s in sorted(
                    (s for s in data.get("stages") or () if isinstance(s, Mapping)), key=order
                )
                if not s.get("archived")
            ]
            pipelines.append(
                Pipeline(str(data["id"]), str(data.get("label") or data["id"]), stages)
            )
        return tuple(pipelines)

    @override
    def associate(self, pairs: Sequence[AssociationChange]) -> Sequence[WriteResult]:
        """Link records with v4 batch creates; one result per pair, ``ok(from_id)``.

        Linking an existing link succeeds. A missing record fails its pair with
        ``NOT_FOUND``; other refusals (a limit reached, a bad type) with ``ASSOCIATION``.
        """
        self._check_batch("associate", len(pairs))
        groups: dict[tuple[str, str], dict[int, AssociationChange]] = {}
        for n, pair in enumerate(pairs):
            groups.setdefault((pair.from_type, pair.to_type), {})[n] = pair
        results: dict[int, WriteResult] = {}
        for (from_type, to_type), group in groups.items():
            results.update(self._link(from_type, to_type, group))
        return [results.get(n, _no_answer()) for n in range(len(pairs))]

    def _link(
        self, from_type: str, to_type: str, group: dict[int, AssociationChange]
    ) -> dict[int, WriteResult]:
        type_id = ASSOCIATION_TYPE_IDS.get((from_type, to_type))
        inputs: list[dict[str, Any]]
        if type_id is None:
            path = f"/crm/v4/associations/{from_type}/{to_type}/batch/associate/default"
            inputs = [{"from": {"id": p.from_id}, "to": {"id": p.to_id}} for p in group.values()]
        else:
            path = f"/crm/v4/associations/{from_type}/{to_type}/batch/create"
            types = [{"associationCategory": "HUBSPOT_DEFINED", "associationTypeId": type_id}]
            inputs = [
                {"from": {"id": p.from_id}, "to": {"id": p.to_id}, "types": types}
                for p in group.values()
            ]
        reply = self._http.request(
            "POST",
            path,
            json_body={"inputs": inputs},
            accept=(400, 404),
            what=f"link {from_type} to {to_type}",
        )
        if reply.status >= 300 and reply.status != 207:
            error = reply.error()
            if len(group) == 1:
                (n,) = group
                return {n: WriteResult.failed(_link_category(error), error.describe())}
            items = list(group.items())
            middle = len(items) // 2
            out = self._link(from_type, to_type, dict(items[:middle]))
            out.update(self._link(from_type, to_type, dict(items[middle:])))
            return out
        linked = set()
        for result in _results(reply):
            linked.add((str(result.get("fromObjectId")), str(result.get("toObjectId"))))
            source, target = result.get("from"), result.get("to")
            if isinstance(source, Mapping) and isinstance(target, Mapping):
                linked.add((str(source.get("id")), str(target.get("id"))))
        errors = _errors(reply)
        out = {}
        for n, pair in group.items():
            if (pair.from_id, pair.to_id) in linked:
                out[n] = WriteResult.ok(pair.from_id)
                continue
            mine = [
                e
                for e in errors
                if pair.from_id in _context_ids(e) or pair.to_id in _context_ids(e)
            ] or errors
            if mine:
                out[n] = WriteResult.failed(_link_category(mine[0]), mine[0].describe())
        return out


def _names_option(
    option: str, value: Mapping[str, Sequence[str]] | None, what: str
) -> dict[str, tuple[str, ...]]:
    """``properties`` or ``associations``, checked: per object type, a list of names.

    Raises:
        ConfigError: at ``option`` (a bare string would be read letter by letter).
    """
    if value is None:
        return {}
    if not isinstance(value, Mapping):
        raise ConfigError(
            option,
            f"expected a mapping of object type to {what}, such as "
            f"{{'contacts': [...]}}, got {type(value).__name__}",
        )
    out: dict[str, tuple[str, ...]] = {}
    for object_type, names in value.items():
        if (
            not isinstance(object_type, str)
            or isinstance(names, str | bytes)
            or not isinstance(names, Sequence | frozenset | set)
            or not all(isinstance(n, str) and n.strip() for n in names)
        ):
            raise ConfigError(
                f"{option}[{object_type!r}]",
                f"expected a list of {what} (non-empty strings), got "
                f"{type(names).__name__} {names!r:.80}",
            )
        out[object_type] = tuple(dict.fromkeys(n.strip() for n in names))
    return out


def _context_ids(error: ErrorBody) -> set[str]:
    ids: set[str] = set()
    for values in error.context.values():
        ids.update(values)
    text = error.message
    ids.update(word.strip(".,:;()[]'\"") for word in text.split())
    return ids


def _link_category(error: ErrorBody) -> ErrorCategory:
    category = category_of(error)
    if category in (ErrorCategory.NOT_FOUND, ErrorCategory.PERMISSION) or category.is_transient:
        return category
    return ErrorCategory.ASSOCIATION


def _no_answer() -> WriteResult:
    return WriteResult.failed(
        ErrorCategory.UNKNOWN, "HubSpot's answer did not say what became of this item"
    )
