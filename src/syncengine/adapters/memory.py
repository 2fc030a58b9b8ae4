"""InMemoryAdapter: the reference adapter, and the test double users drive their tests with.

This module owns an app that lives in a Python dict: records per object type, a change
sequence for cursors, tombstones for deleted ids, idempotency keys, pipelines and
associations. It validates writes the way a strict app would (rule F4, X1), so engine bugs
show up as failed records instead of silently stored garbage.

It must not know anything about syncing: it is an app, like any other adapter.
The test-side helpers (:meth:`InMemoryAdapter.put` and friends) play the
user of that app; the engine never calls them.

.. versionadded:: 0.1
"""

from __future__ import annotations

import bisect
import re
import threading
from collections import Counter
from collections.abc import Callable, Iterable, Iterator, Mapping, Sequence
from datetime import UTC, datetime
from types import MappingProxyType
from typing import Any, ClassVar, Final, final

import attrs
from typing_extensions import override

from syncengine.adapters._stats import AdapterStats
from syncengine.adapters._values import check_values, is_blank, merged
from syncengine.adapters.base import Adapter
from syncengine.errors import AdapterError
from syncengine.records import (
    AssociationChange,
    NewRecord,
    Page,
    Pipeline,
    Record,
    RecordUpdate,
    WriteResult,
)
from syncengine.schema import ObjectSchema, PropertySpec
from syncengine.states import ErrorCategory

__all__ = ["AdapterStats", "InMemoryAdapter"]

# Cursor grammar (opaque to the engine, documented for tests and for readers):
#   "c:<seq>"        a change cursor: everything changed after change number <seq>.
#   "f:<pos>:<seq>"  resume a full scan at slot <pos>; the full scan started when the change
#                    sequence stood at <seq>, so it ends with the change cursor "c:<seq>".
_CURSOR: Final = re.compile(r"c:(?P<seq>\d+)|f:(?P<pos>\d+):(?P<fseq>\d+)")

_EMPTY_ASSOCIATIONS: Final[Mapping[str, frozenset[str]]] = MappingProxyType({})


def _utc_now() -> datetime:
    return datetime.now(UTC)


@attrs.define(eq=False)
class _Table:
    """The records of one object type and the bookkeeping that makes cursors work."""

    schema: ObjectSchema
    #: Live records by id, in insertion order.
    rows: dict[str, Record] = attrs.Factory(dict)
    #: Insertion slots: the id inserted at each position, or None once it is removed.
    #: Full-scan cursors are positions in this list, so removals never shift them.
    slots: list[str | None] = attrs.Factory(list)
    slot_of: dict[str, int] = attrs.Factory(dict)
    #: The change log, in sequence order: (seq, id). An entry is current when
    #: ``latest[id] == seq``; older entries of the same id are skipped by scans.
    log: list[tuple[int, str]] = attrs.Factory(list)
    latest: dict[str, int] = attrs.Factory(dict)
    #: Deleted ids and the sequence number of their deletion.
    tombstones: dict[str, int] = attrs.Factory(dict)
    #: Idempotency key -> id of the record made by the first create with it.
    keys: dict[str, str] = attrs.Factory(dict)
    #: Unique property -> non-blank value -> ids of the live records holding it.
    unique: dict[str, dict[Any, set[str]]] = attrs.Factory(dict)

    def index_unique(self, record: Record, *, add: bool) -> None:
        for spec in self.schema.properties:
            if not spec.unique:
                continue
            value = record.properties.get(spec.name)
            if is_blank(spec, value):
                continue
            try:
                holders = self.unique.setdefault(spec.name, {}).setdefault(value, set())
            except TypeError:  # an unhashable value stored by put(): never indexed
                continue
            if add:
                holders.add(record.id)
            else:
                holders.discard(record.id)

    def holders(self, name: str, value: Any) -> set[str]:
        try:
            return self.unique.get(name, {}).get(value, set())
        except TypeError:
            return set()

    def reindex(self) -> None:
        self.unique = {}
        for record in self.rows.values():
            self.index_unique(record, add=True)


@final
class InMemoryAdapter(Adapter):
    """An app that lives in memory: the reference adapter and a test double.

    It is what :class:`httpx.MockTransport` is to httpx: a complete, strict implementation
    of the :class:`~syncengine.adapters.Adapter` contract to build and test syncs against,
    with helpers that play the app's users (:meth:`put`, :meth:`patch`, :meth:`remove`,
    :meth:`link`) and counters that show what the engine asked of it (:attr:`calls`, and
    per object type with the records read and written: :meth:`stats`).

    Behaviour, per engine-facing method:

    * Records are kept per object type in insertion order. Ids are
      ``f"{id_prefix}{n}"`` with ``n`` counting up across all types of the adapter;
      an id is never reused, not even after :meth:`remove`.
    * Every change (create, update, associate, and the test-side put, patch, remove and
      link) takes the next number of one change sequence and sets ``updated_at`` from
      ``clock``. An update whose values equal the stored ones is a no-op: no new number,
      so idempotent re-writes do not churn cursors.
    * Cursors: a full scan's pages carry ``"f:<position>:<seq>"`` (resume the full scan
      after that page) and its last page carries ``"c:<seq>"``, where ``<seq>`` is the
      change number when the full scan started. ``scan(since="c:<n>")`` yields the records
      changed after change ``n`` in change order, and deleted ids in ``Page.deleted``.
      Malformed or unknown cursors raise :class:`ValueError`.
    * Writes are validated like a strict app: unknown and read-only properties and values
      of the wrong Python type fail with ``VALIDATION``, missing required properties with
      ``REQUIRED_FIELD_MISSING``, a ``unique`` value held by another live record with
      ``DUPLICATE``. ``None`` or ``""`` is blank; ``None`` is never stored (a property set
      to ``None`` is absent from the record). Multi-select values are stored as frozensets.
    * More than :attr:`max_batch_size` items in one call raise
      :class:`~syncengine.AdapterError` with ``VALIDATION``. An undeclared object type
      raises it with ``NOT_FOUND``.
    * The adapter is thread-safe (one lock); scans take it once per page, so writes may
      happen between the pages of a scan.

    Example::

        contacts = ObjectSchema("contacts", [
            PropertySpec("email", PropertyType.STRING, required=True, unique=True),
            PropertySpec("name", PropertyType.STRING),
        ])
        app = InMemoryAdapter([contacts], name="crm", id_prefix="c")
        ada = app.put("contacts", email="ada@example.com", name="Ada")   # a user adds one
        ...  # run the engine against ``app``
        assert app.get("contacts", ada.id).properties["name"] == "Ada"
        assert app.calls["scan_full"] == 1 and app.calls["create"] == 0

    Args:
        schemas: The object types the app has.
        name: A short name for logs and reports.
        max_batch_size: The most items one fetch/create/update/associate call accepts.
        page_size: The most records (plus deleted ids) in one page of a scan.
        pipelines: The pipelines of each object type that has any (rule A3).
        clock: Returns the current time, timezone-aware; ``datetime.now(UTC)`` by default.
        id_prefix: Put in front of every generated id (``"h"`` gives ``"h1"``, ``"h2"``…).

    .. versionadded:: 0.1
    """

    supports_idempotency_keys: ClassVar[bool] = True
    supports_idempotency_lookup: ClassVar[bool] = True
    supports_pipelines: ClassVar[bool] = True
    supports_associations: ClassVar[bool] = True

    def __init__(
        self,
        schemas: Iterable[ObjectSchema] = (),
        *,
        name: str = "memory",
        max_batch_size: int = 100,
        page_size: int = 100,
        pipelines: Mapping[str, Sequence[Pipeline]] | None = None,
        clock: Callable[[], datetime] | None = None,
        id_prefix: str = "",
    ) -> None:
        """Declare the app's types and settings; see the class docstring for the arguments."""
        if max_batch_size < 1:
            raise ValueError(f"max_batch_size must be at least 1, got {max_batch_size}")
        if page_size < 1:
            raise ValueError(f"page_size must be at least 1, got {page_size}")
        self.name = name
        self.max_batch_size = max_batch_size
        #: The most records (plus deleted ids) in one page of a scan.
        self.page_size = page_size
        #: Returns the current time; replace it to move time in a test.
        self.clock: Callable[[], datetime] = clock if clock is not None else _utc_now
        #: Put in front of every generated id.
        self.id_prefix = id_prefix
        #: How often each engine-facing method was called, for assertions in tests.
        #: Keys: ``"schema"``, ``"scan_full"`` (``since=None`` or a full-scan page cursor),
        #: ``"scan_since"`` (a change cursor), ``"fetch"``, ``"create"``, ``"update"``,
        #: ``"associate"``, ``"pipelines"``, ``"lookup"`` (idempotency key lookups), and
        #: ``"items_written"``: the number of items passed to create, update and
        #: associate (failed and no-op ones included).
        #: Missing keys read as 0. Test-side helpers are not counted.
        self.calls: Counter[str] = Counter()
        # The counts behind stats(), keyed by (method, object type).
        self._calls: Counter[tuple[str, str]] = Counter()
        self._pages: Counter[tuple[str, str]] = Counter()
        self._records: Counter[tuple[str, str]] = Counter()
        self._lock = threading.RLock()
        self._tables: dict[str, _Table] = {}
        self._pipelines: dict[str, tuple[Pipeline, ...]] = {
            t: tuple(p) for t, p in (pipelines or {}).items()
        }
        self._denied_pipelines: set[str] = set()
        self._seq = 0
        self._next_id = 0
        for schema in schemas:
            self.add_schema(schema)

    @override
    def __repr__(self) -> str:
        with self._lock:
            counts = ", ".join(f"{t}={len(tb.rows)}" for t, tb in self._tables.items())
        return f"<InMemoryAdapter {self.name!r} ({counts})>"

    # ---- configuration ----------------------------------------------------------------

    def add_schema(self, schema: ObjectSchema) -> None:
        """Declare an object type, or replace the schema of a declared one.

        Records of a replaced type are kept as they are (they are not re-validated).
        """
        with self._lock:
            table = self._tables.get(schema.name)
            if table is None:
                self._tables[schema.name] = _Table(schema)
            else:
                table.schema = schema
                table.reindex()

    def set_pipelines(self, object_type: str, pipelines: Sequence[Pipeline]) -> None:
        """Set the pipelines :meth:`pipelines` returns for ``object_type``."""
        with self._lock:
            self._pipelines[object_type] = tuple(pipelines)

    def deny_pipelines(self, object_type: str, denied: bool = True) -> None:
        """Simulate an account without permission to read pipelines (rule A5).

        While denied, :meth:`pipelines` raises :class:`~syncengine.AdapterError` with
        ``PERMISSION`` for ``object_type``. Pass ``denied=False`` to allow it again.
        """
        with self._lock:
            if denied:
                self._denied_pipelines.add(object_type)
            else:
                self._denied_pipelines.discard(object_type)

    # ---- the engine-facing interface --------------------------------------------------

    @override
    def schema(self, object_type: str) -> ObjectSchema:
        """The schema declared for ``object_type``; ``NOT_FOUND`` if there is none."""
        with self._lock:
            self._count("schema", object_type)
            return self._table(object_type).schema

    @override
    def scan(self, object_type: str, since: str | None = None) -> Iterable[Page]:
        """Yield the records of ``object_type`` in pages of :attr:`page_size`.

        The cursor is checked when ``scan`` is called, not when iteration starts.

        Raises:
            ValueError: ``since`` is malformed, or is not a cursor of this adapter.
            AdapterError: ``object_type`` is not declared (``NOT_FOUND``).
        """
        with self._lock:
            table = self._table(object_type)
            if since is None:
                self._count("scan_full", object_type)
                return self._full_scan(table, object_type, 0, self._seq)
            match = _CURSOR.fullmatch(since)
            if match is None:
                raise ValueError(
                    f"{self.name}: malformed cursor {since!r} for {object_type!r}; expected "
                    f"'c:<seq>' or 'f:<position>:<seq>' as returned by scan()"
                )
            if match["seq"] is not None:
                seq = self._check_seq(since, int(match["seq"]))
                self._count("scan_since", object_type)
                return self._incremental_scan(table, object_type, seq)
            seq = self._check_seq(since, int(match["fseq"]))
            position = int(match["pos"])
            if position > len(table.slots):
                raise ValueError(
                    f"{self.name}: unknown cursor {since!r}: {object_type!r} has only "
                    f"{len(table.slots)} positions (a cursor of another adapter or type?)"
                )
            self._count("scan_full", object_type)
            return self._full_scan(table, object_type, position, seq)

    @override
    def fetch(self, object_type: str, ids: Sequence[str]) -> Mapping[str, Record]:
        """The live records among ``ids``; missing and deleted ids are absent."""
        with self._lock:
            table = self._table(object_type)
            self._check_batch("fetch", len(ids))
            self._count("fetch", object_type)
            found = {i: table.rows[i] for i in ids if i in table.rows}
            self._records["fetch", object_type] += len(found)
            return found

    @override
    def create(self, object_type: str, items: Sequence[NewRecord]) -> Sequence[WriteResult]:
        """Create records, validating each item on its own; one result per item.

        An idempotency key seen before returns the id of the record made then, without
        creating anything (even if that record was removed since).
        """
        with self._lock:
            table = self._table(object_type)
            self._check_batch("create", len(items))
            self._count("create", object_type, len(items))
            results: list[WriteResult] = []
            for item in items:
                key = item.idempotency_key
                if key and key in table.keys:
                    results.append(WriteResult.ok(table.keys[key]))
                    continue
                failure = self._validate(table, item.properties, record_id=None)
                if failure is not None:
                    results.append(failure)
                    continue
                record = Record(
                    self._new_id(table),
                    MappingProxyType(merged({}, table.schema, item.properties)),
                    self._now(),
                    _EMPTY_ASSOCIATIONS,
                )
                self._store(table, record)
                if key:
                    table.keys[key] = record.id
                results.append(WriteResult.ok(record.id))
            return results

    @override
    def lookup_idempotency_keys(
        self, object_type: str, items: Sequence[NewRecord]
    ) -> Mapping[str, str]:
        """The id of the record each key's create made (even if removed since), by key."""
        with self._lock:
            table = self._table(object_type)
            self._check_batch("lookup_idempotency_keys", len(items))
            self._count("lookup", object_type)
            self._records["lookup", object_type] += len(items)
            return {
                key: table.keys[key]
                for item in items
                if (key := item.idempotency_key) and key in table.keys
            }

    @override
    def update(self, object_type: str, items: Sequence[RecordUpdate]) -> Sequence[WriteResult]:
        """Change the named properties of records; one result per item.

        Unknown ids fail with ``NOT_FOUND``, removed ones with ``DELETED``. An update that
        changes no value succeeds without counting as a change.
        """
        with self._lock:
            table = self._table(object_type)
            self._check_batch("update", len(items))
            self._count("update", object_type, len(items))
            results: list[WriteResult] = []
            for item in items:
                current = table.rows.get(item.id)
                if current is None:
                    results.append(self._missing(table, object_type, item.id))
                    continue
                failure = self._validate(table, item.properties, record_id=item.id)
                if failure is not None:
                    results.append(failure)
                    continue
                values = merged(current.properties, table.schema, item.properties)
                if values != dict(current.properties):
                    self._store(
                        table,
                        attrs.evolve(
                            current, properties=MappingProxyType(values), updated_at=self._now()
                        ),
                    )
                results.append(WriteResult.ok(item.id))
            return results

    @override
    def pipelines(self, object_type: str) -> Sequence[Pipeline]:
        """The configured pipelines of ``object_type``; ``()`` if it has none.

        Raises:
            AdapterError: ``PERMISSION`` after :meth:`deny_pipelines` (rule A5).
        """
        with self._lock:
            self._count("pipelines", object_type)
            if object_type in self._denied_pipelines:
                raise AdapterError(
                    ErrorCategory.PERMISSION,
                    f"{self.name}: the account may not read the pipelines of {object_type!r}",
                )
            return self._pipelines.get(object_type, ())

    @override
    def associate(self, pairs: Sequence[AssociationChange]) -> Sequence[WriteResult]:
        """Link records; one result per pair, ``ok(from_id)`` when it succeeds.

        The from-record gets ``to_id`` in ``associations[to_type]``; if ``to_type`` is
        declared here, the to-record must exist and gets the reverse link. A missing
        record fails the pair with ``NOT_FOUND``. An existing link succeeds as a no-op.
        """
        with self._lock:
            self._check_batch("associate", len(pairs))
            self.calls["associate"] += 1
            self.calls["items_written"] += len(pairs)
            for from_type, n in Counter(pair.from_type for pair in pairs).items():
                self._calls["associate", from_type] += 1
                self._records["associate", from_type] += n
            results: list[WriteResult] = []
            for pair in pairs:
                failure = self._check_link_ends(pair)
                if failure is not None:
                    results.append(failure)
                    continue
                self._add_link(pair.from_type, pair.from_id, pair.to_type, pair.to_id)
                if pair.to_type in self._tables:
                    self._add_link(pair.to_type, pair.to_id, pair.from_type, pair.from_id)
                results.append(WriteResult.ok(pair.from_id))
            return results

    # ---- test-side helpers: the app's users, not the engine -----------------------------
    #
    # These are for tests. They bypass validation (a test may store what the app's own
    # users could, or what a sloppy app would) and are not counted in ``calls``. Every one
    # that modifies a record counts as a change, even when the values stay the same.

    def put(
        self,
        object_type: str,
        properties: Mapping[str, Any] | None = None,
        /,
        *,
        id: str | None = None,
        updated_at: datetime | None = None,
        associations: Mapping[str, Iterable[str]] | None = None,
        **props: Any,
    ) -> Record:
        """For tests: create a record, or replace the one with ``id``, without validation.

        Properties come from ``properties`` and keyword arguments (keywords win); ``None``
        values are dropped. A replaced record keeps its position in full scans. A removed
        id may be put again, which brings it back.

        Args:
            object_type: A declared object type.
            properties: Property values, for names that are not Python identifiers.
            id: The record's id; a new id is generated when omitted.
            updated_at: Its modification time; the clock's time when omitted.
            associations: Its links by object type (only this record's side is set);
                when omitted, a replaced record keeps its links and a new one has none.
            **props: More property values.

        Returns:
            The stored record.
        """
        with self._lock:
            table = self._table(object_type)
            values = merged({}, table.schema, {**(properties or {}), **props})
            record_id = id if id is not None else self._new_id(table)
            existing = table.rows.get(record_id)
            if associations is not None:
                links: Mapping[str, frozenset[str]] = MappingProxyType(
                    {t: frozenset(ids) for t, ids in associations.items()}
                )
            elif existing is not None:
                links = existing.associations
            else:
                links = _EMPTY_ASSOCIATIONS
            record = Record(
                record_id,
                MappingProxyType(values),
                updated_at if updated_at is not None else self._now(),
                links,
            )
            self._store(table, record)
            return record

    def patch(self, object_type: str, id: str, /, **props: Any) -> Record:
        """For tests: change some properties of a live record, without validation.

        A ``None`` value clears the property. It counts as a change even if no value
        differs (use ``patch(type, id)`` to touch a record).

        Raises:
            KeyError: There is no live record ``id``.
        """
        with self._lock:
            table = self._table(object_type)
            current = self._live(table, object_type, id)
            values = merged(current.properties, table.schema, props)
            record = attrs.evolve(
                current, properties=MappingProxyType(values), updated_at=self._now()
            )
            self._store(table, record)
            return record

    def remove(self, object_type: str, id: str, /) -> None:
        """For tests: delete a record, as the app's user would; the engine never deletes.

        The id is left as a tombstone: later incremental scans list it in
        ``Page.deleted``, :meth:`fetch` leaves it out, and :meth:`update` fails it with
        ``DELETED``. Links to it from other records are left as they are.

        Raises:
            KeyError: There is no live record ``id``.
        """
        with self._lock:
            table = self._table(object_type)
            record = self._live(table, object_type, id)
            table.index_unique(record, add=False)
            del table.rows[id]
            table.slots[table.slot_of.pop(id)] = None
            table.tombstones[id] = self._bump(table, id)

    def link(self, from_type: str, from_id: str, to_type: str, to_id: str) -> None:
        """For tests: link two records, as :meth:`associate` does, without counting a call.

        The from-record always counts as changed; the reverse link is added when
        ``to_type`` is declared and ``to_id`` is live there.

        Raises:
            KeyError: There is no live record ``from_id`` of ``from_type``.
        """
        with self._lock:
            self._live(self._table(from_type), from_type, from_id)
            self._add_link(from_type, from_id, to_type, to_id, always=True)
            to_table = self._tables.get(to_type)
            if to_table is not None and to_id in to_table.rows:
                self._add_link(to_type, to_id, from_type, from_id)

    def get(self, object_type: str, id: str, /) -> Record | None:
        """For tests: the live record ``id``, or ``None``."""
        with self._lock:
            return self._table(object_type).rows.get(id)

    def records(self, object_type: str) -> list[Record]:
        """For tests: the live records of ``object_type``, in insertion order."""
        with self._lock:
            return list(self._table(object_type).rows.values())

    def count(self, object_type: str) -> int:
        """For tests: how many live records ``object_type`` has."""
        with self._lock:
            return len(self._table(object_type).rows)

    def stats(self) -> AdapterStats:
        """What the engine asked of this app so far: calls, scan pages and records, per
        method and object type (see :class:`~syncengine.adapters.AdapterStats`).

        A snapshot: subtract an earlier one to measure one pass::

            before = app.stats()
            engine.initial_sync()
            used = app.stats() - before
            used.records_read("contacts")   # records its scans and fetches returned

        Test-side helpers are not counted; :meth:`reset_calls` starts the counts over.

        .. versionadded:: 0.1
        """
        with self._lock:
            return AdapterStats(self._calls, self._pages, self._records)

    def reset_calls(self) -> None:
        """For tests: set every :attr:`calls` counter and the :meth:`stats` back to zero."""
        with self._lock:
            self.calls.clear()
            self._calls.clear()
            self._pages.clear()
            self._records.clear()

    # ---- internals --------------------------------------------------------------------

    def _table(self, object_type: str) -> _Table:
        table = self._tables.get(object_type)
        if table is None:
            declared = ", ".join(repr(t) for t in self._tables) or "none"
            raise AdapterError(
                ErrorCategory.NOT_FOUND,
                f"{self.name}: unknown object type {object_type!r} (declared: {declared}; "
                f"declare it with add_schema())",
            )
        return table

    def _live(self, table: _Table, object_type: str, record_id: str) -> Record:
        record = table.rows.get(record_id)
        if record is None:
            state = "was removed" if record_id in table.tombstones else "does not exist"
            raise KeyError(f"{object_type} record {record_id!r} {state}")
        return record

    def _now(self) -> datetime:
        return self.clock()

    def _count(self, method: str, object_type: str, items: int = 0) -> None:
        """Count a call of ``method``, with ``items`` written (create and update)."""
        self.calls[method] += 1
        self._calls[method, object_type] += 1
        if items:
            self.calls["items_written"] += items
            self._records[method, object_type] += items

    def _page(self, method: str, object_type: str, records: int) -> None:
        with self._lock:
            self._pages[method, object_type] += 1
            self._records[method, object_type] += records

    def _check_seq(self, cursor: str, seq: int) -> int:
        if seq > self._seq:
            raise ValueError(
                f"{self.name}: unknown cursor {cursor!r}: this adapter has made only "
                f"{self._seq} changes (a cursor of another adapter?)"
            )
        return seq

    def _check_batch(self, method: str, size: int) -> None:
        if size > self.max_batch_size:
            raise AdapterError(
                ErrorCategory.VALIDATION,
                f"{self.name}: {method} got {size} items; max_batch_size is {self.max_batch_size}",
            )

    def _new_id(self, table: _Table) -> str:
        while True:
            self._next_id += 1
            record_id = f"{self.id_prefix}{self._next_id}"
            # put() may have used this id explicitly: never hand it out again.
            if record_id not in table.rows and record_id not in table.tombstones:
                return record_id

    def _bump(self, table: _Table, record_id: str) -> int:
        self._seq += 1
        table.latest[record_id] = self._seq
        table.log.append((self._seq, record_id))
        return self._seq

    def _store(self, table: _Table, record: Record) -> None:
        """Insert or replace ``record`` and count it as a change."""
        previous = table.rows.get(record.id)
        if previous is not None:
            table.index_unique(previous, add=False)
        else:
            table.tombstones.pop(record.id, None)
            table.slot_of[record.id] = len(table.slots)
            table.slots.append(record.id)
        table.rows[record.id] = record
        table.index_unique(record, add=True)
        self._bump(table, record.id)

    def _missing(self, table: _Table, object_type: str, record_id: str) -> WriteResult:
        if record_id in table.tombstones:
            return WriteResult.failed(
                ErrorCategory.DELETED, f"{object_type} record {record_id!r} was deleted"
            )
        return WriteResult.failed(
            ErrorCategory.NOT_FOUND, f"{object_type} record {record_id!r} does not exist"
        )

    def _validate(
        self, table: _Table, values: Mapping[str, Any], *, record_id: str | None
    ) -> WriteResult | None:
        """The failure of one create (``record_id=None``) or update item, or None."""

        def holder(spec: PropertySpec, value: Any) -> str | None:
            others = table.holders(spec.name, value) - {record_id}
            return min(others) if others else None

        return check_values(table.schema, values, creating=record_id is None, holder=holder)

    def _check_link_ends(self, pair: AssociationChange) -> WriteResult | None:
        for object_type, record_id, must_be_declared in (
            (pair.from_type, pair.from_id, True),
            (pair.to_type, pair.to_id, False),
        ):
            table = self._tables.get(object_type)
            if table is None:
                if must_be_declared:
                    return WriteResult.failed(
                        ErrorCategory.NOT_FOUND, f"unknown object type {object_type!r}"
                    )
                continue
            if record_id not in table.rows:
                state = "was deleted" if record_id in table.tombstones else "does not exist"
                return WriteResult.failed(
                    ErrorCategory.NOT_FOUND, f"{object_type} record {record_id!r} {state}"
                )
        return None

    def _add_link(
        self, from_type: str, from_id: str, to_type: str, to_id: str, *, always: bool = False
    ) -> None:
        table = self._tables[from_type]
        record = table.rows[from_id]
        linked = record.associations.get(to_type, frozenset())
        if to_id in linked and not always:
            return
        links = dict(record.associations)
        links[to_type] = linked | {to_id}
        self._store(
            table,
            attrs.evolve(record, associations=MappingProxyType(links), updated_at=self._now()),
        )

    def _full_scan(
        self, table: _Table, object_type: str, position: int, start_seq: int
    ) -> Iterator[Page]:
        # rule S8: pages are computed one at a time under the lock, so a scan streams and
        # writes may happen between pages. Slots never move, so every record present
        # during the whole scan is yielded exactly once; the last cursor is the change
        # cursor of the moment the scan started, so changes made during it are not lost.
        while True:
            with self._lock:
                records: list[Record] = []
                slots = table.slots
                while position < len(slots) and len(records) < self.page_size:
                    record_id = slots[position]
                    position += 1
                    if record_id is not None:
                        records.append(table.rows[record_id])
                while position < len(slots) and slots[position] is None:
                    position += 1
                last = position >= len(slots)
            self._page("scan_full", object_type, len(records))
            if last:
                yield Page(tuple(records), f"c:{start_seq}")
                return
            yield Page(tuple(records), f"f:{position}:{start_seq}")

    def _incremental_scan(self, table: _Table, object_type: str, since: int) -> Iterator[Page]:
        # Changes up to the sequence number at scan start; a record changed again during
        # the scan moves past ``end`` and is left to the next scan (whose ``since`` is
        # ``end``), so nothing is skipped and the scan always terminates.
        with self._lock:
            end = self._seq
        done = since
        while True:
            with self._lock:
                log = table.log
                i = bisect.bisect_right(log, done, key=lambda entry: entry[0])
                records: list[Record] = []
                deleted: list[str] = []
                while i < len(log) and log[i][0] <= end:
                    if len(records) + len(deleted) >= self.page_size:
                        break
                    seq, record_id = log[i]
                    i += 1
                    done = seq
                    if table.latest.get(record_id) != seq:
                        continue  # changed again later: yielded at its later entry
                    if record_id in table.rows:
                        records.append(table.rows[record_id])
                    else:
                        deleted.append(record_id)
                while (
                    i < len(log) and log[i][0] <= end and table.latest.get(log[i][1]) != log[i][0]
                ):
                    i += 1
                last = i >= len(log) or log[i][0] > end
            self._page("scan_since", object_type, len(records))
            if last:
                yield Page(tuple(records), f"c:{end}", tuple(deleted))
                return
            yield Page(tuple(records), f"c:{done}", tuple(deleted))
