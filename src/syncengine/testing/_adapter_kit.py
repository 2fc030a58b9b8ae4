"""The adapter conformance kit: checks that an adapter keeps the :class:`Adapter` contract.

Two ways in, one set of checks:

* :func:`check_adapter` is a plain function (no pytest needed, like trio's ``check_*``
  functions): it runs every check against fresh adapters from a factory and raises
  :class:`AssertionError` naming the failed check.
* :class:`AdapterTests` is a pytest mixin (like vdirsyncer's ``StorageTests``): subclass
  it, provide the ``adapter`` and ``object_type`` fixtures, and every check becomes a test.

The kit writes only through the engine-facing methods (:meth:`~Adapter.create`,
:meth:`~Adapter.update`, :meth:`~Adapter.associate`), with values it generates from
:meth:`~Adapter.schema`. The engine-facing interface cannot delete, so deletion checks
need a hook (``remove_record``). Capability checks are skipped when the adapter's
``supports_*`` flag is false.

A Hypothesis state machine (as Hypothesis' ``run_conformance_test`` does for databases)
creates and updates records against a simple model and checks after every step that a
full scan equals the model and that an incremental scan from a saved cursor holds every
record changed since that cursor.

This module must not import pytest at import time: :func:`check_adapter` works without it.
"""

from __future__ import annotations

import functools
import itertools
import math
import string
import uuid
from collections import Counter
from collections.abc import Callable, Iterator, Mapping, Sequence
from datetime import UTC, date, datetime, timedelta
from typing import Any, ClassVar, Final, NoReturn, TypeVar

import attrs
from hypothesis import HealthCheck, settings
from hypothesis import strategies as st
from hypothesis.errors import Flaky, HypothesisException
from hypothesis.stateful import (
    RuleBasedStateMachine,
    initialize,
    invariant,
    precondition,
    rule,
    run_state_machine_as_test,
)
from typing_extensions import override

from syncengine.adapters.base import Adapter
from syncengine.records import (
    AssociationChange,
    NewRecord,
    Page,
    Pipeline,
    Record,
    RecordUpdate,
    Stage,
    WriteResult,
)
from syncengine.schema import ObjectSchema, PropertySpec, PropertyType
from syncengine.states import ErrorCategory

__all__ = ["AdapterTests", "check_adapter"]

#: ``remove_record(adapter, object_type, record_id)``: deletes a record the way the app's
#: users would (the engine-facing interface has no delete).
RemoveHook = Callable[[Adapter, str, str], None]
#: ``merge_records(adapter, object_type, primary_id, other_id)``: merges two records the
#: way the app's users would (for apps that merge); returns the merged record's id.
MergeHook = Callable[[Adapter, str, str, str], str]

_T = TypeVar("_T")
_F = TypeVar("_F", bound=Callable[..., Any])

_UNKNOWN_PROPERTY: Final = "syncengine_kit_no_such_property"
#: An id no app should hold; numeric so that apps with numeric ids accept its shape.
_MISSING_ID: Final = "987654321987654"
_DATE_BASE: Final = date(2021, 1, 1)
_DATETIME_BASE: Final = datetime(2021, 3, 4, 5, 6, 7, tzinfo=UTC)
_MULTI: Final = (frozenset, set, list, tuple)


class _Skip(Exception):
    """A check does not apply to this adapter (a capability it lacks)."""


# ---- values ---------------------------------------------------------------------------


def _limited_unique(spec: PropertySpec) -> bool:
    """A unique property with few possible values: the kit cannot give every record one."""
    return spec.unique and (
        spec.type is PropertyType.BOOL
        or (spec.type in (PropertyType.ENUM, PropertyType.MULTI_ENUM) and bool(spec.options))
    )


def _string_value(name: str, n: int) -> str:
    """A string that apps with format checks on common fields accept."""
    lowered = name.lower()
    if "email" in lowered:
        return f"kit{n}@example.com"
    if "domain" in lowered:
        return f"kit{n}.example.com"
    if "url" in lowered or "website" in lowered:
        return f"https://kit{n}.example.com"
    if "phone" in lowered:
        return f"+1555{n % 10_000_000:07d}"
    return f"kit value {n}"


def _example_value(spec: PropertySpec, n: int) -> Any:
    """The ``n``-th generated value of ``spec``.

    Distinct ``n`` give distinct values wherever the type has enough of them.
    """
    kind = spec.type
    if kind is PropertyType.STRING:
        return _string_value(spec.name, n)
    if kind is PropertyType.NUMBER:
        return n + 1
    if kind is PropertyType.BOOL:
        return n % 2 == 0
    if kind is PropertyType.DATE:
        return _DATE_BASE + timedelta(days=n)
    if kind is PropertyType.DATETIME:
        return _DATETIME_BASE + timedelta(minutes=n)
    if kind is PropertyType.ENUM:
        return spec.options[n % len(spec.options)] if spec.options else f"option{n}"
    return frozenset({spec.options[n % len(spec.options)] if spec.options else f"option{n}"})


def _is_blank(value: Any) -> bool:
    if value is None or (isinstance(value, str) and value == ""):
        return True
    return isinstance(value, _MULTI) and len(value) == 0


def _same_value(spec: PropertySpec | None, written: Any, read: Any) -> bool:
    """Whether ``read`` is what an app may return for ``written``.

    Tolerates what real apps do to values: blanks in any form, numbers read back as
    another numeric type, multi-selects in any collection, datetimes rounded to
    milliseconds.
    """
    if _is_blank(written) or _is_blank(read):
        return _is_blank(written) and _is_blank(read)
    kind = spec.type if spec is not None else None
    if kind is PropertyType.NUMBER and all(
        isinstance(v, int | float) and not isinstance(v, bool) for v in (written, read)
    ):
        return math.isclose(written, read, rel_tol=1e-9, abs_tol=1e-9)
    if kind is PropertyType.MULTI_ENUM and isinstance(written, _MULTI) and isinstance(read, _MULTI):
        return frozenset(written) == frozenset(read)
    if (
        kind is PropertyType.DATETIME
        and isinstance(written, datetime)
        and isinstance(read, datetime)
        and written.utcoffset() is not None
        and read.utcoffset() is not None
    ):
        return abs((written - read).total_seconds()) < 0.001
    return bool(written == read)


def _assert_values(schema: ObjectSchema, expected: Mapping[str, Any], record: Record) -> None:
    for name, value in expected.items():
        got = record.properties.get(name)
        assert _same_value(schema.get(name), value, got), (
            f"record {record.id!r}: property {name!r} is {got!r}, expected {value!r}"
        )


# ---- the shared context of the checks -------------------------------------------------


@attrs.define
class _Kit:
    """One adapter under test, and helpers the checks share."""

    adapter: Adapter
    object_type: str
    remove: RemoveHook | None = None
    association_type: str | None = None
    record_count: int = 12
    merge: MergeHook | None = None
    _numbers: Iterator[int] = attrs.field(factory=lambda: itertools.count(1))
    _token: str = attrs.field(factory=lambda: uuid.uuid4().hex[:12])
    _schemas: dict[str, ObjectSchema] = attrs.Factory(dict)

    def schema(self, object_type: str | None = None) -> ObjectSchema:
        object_type = object_type or self.object_type
        if object_type not in self._schemas:
            self._schemas[object_type] = self.adapter.schema(object_type)
        return self._schemas[object_type]

    def writable(self, object_type: str | None = None) -> list[PropertySpec]:
        """The properties the kit writes.

        All but read-only ones, and unique ones it cannot keep unique unless required.
        """
        return [
            spec
            for spec in self.schema(object_type)
            if not spec.read_only and (spec.required or not _limited_unique(spec))
        ]

    def values(
        self, object_type: str | None = None, *, required_only: bool = False
    ) -> dict[str, Any]:
        """Fresh valid values for a new record."""
        n = next(self._numbers)
        return {
            spec.name: _example_value(spec, n)
            for spec in self.writable(object_type)
            if spec.required or not required_only
        }

    def changed_values(self, current: Mapping[str, Any]) -> dict[str, Any]:
        """Fresh valid values for every writable property.

        Each differs from its value in ``current`` wherever the type allows.
        """
        changes: dict[str, Any] = {}
        for spec in self.writable():
            old = current.get(spec.name)
            new = _example_value(spec, next(self._numbers))
            for _ in range(8):
                if not _same_value(spec, old, new):
                    break
                new = _example_value(spec, next(self._numbers))
            changes[spec.name] = new
        return changes

    def key(self) -> str:
        return f"syncengine-kit-{self._token}-{next(self._numbers)}"

    def create(self, count: int, object_type: str | None = None) -> dict[str, dict[str, Any]]:
        """Create ``count`` records in batches; their ids mapped to the values written."""
        object_type = object_type or self.object_type
        created: dict[str, dict[str, Any]] = {}
        batch = max(1, self.adapter.max_batch_size)
        for start in range(0, count, batch):
            items = [
                NewRecord(self.values(object_type), self.key())
                for _ in range(min(batch, count - start))
            ]
            results = self.adapter.create(object_type, items)
            _assert_results(results, items, "create")
            for item, result in zip(items, results, strict=True):
                what = f"creating a valid {object_type} record ({dict(item.properties)!r})"
                record_id = _ok_id(result, what)
                assert record_id not in created, (
                    f"create returned id {record_id!r} for two different records"
                )
                created[record_id] = dict(item.properties)
        return created

    def scan(self, since: str | None = None) -> list[Page]:
        pages = list(self.adapter.scan(self.object_type, since))
        where = "a full scan" if since is None else f"scan(since={since!r})"
        assert pages, f"{where} yielded no page; it must yield at least one, even if empty"
        for page in pages:
            assert isinstance(page, Page), f"{where} yielded {page!r}, not a Page"
            assert page.cursor is None or isinstance(page.cursor, str), (
                f"{where} yielded a page whose cursor {page.cursor!r} is not a str or None"
            )
            for record in page.records:
                assert isinstance(record, Record), f"{where} yielded {record!r}, not a Record"
                _assert_id(record.id, f"{where} yielded a record whose id")
            for record_id in page.deleted:
                _assert_id(record_id, f"{where} yielded a deleted id")
            for old, new in page.merged.items():
                _assert_id(old, f"{where} yielded a merged id")
                _assert_id(new, f"{where} yielded a merged id's new id")
        assert isinstance(pages[-1].cursor, str), (
            f"the last page of {where} carries no cursor; it must carry the cursor of the "
            f"next incremental scan"
        )
        return pages

    def _chunks(self, items: Sequence[_T]) -> list[Sequence[_T]]:
        """``items`` in calls of at most ``max_batch_size`` (the engine's promise)."""
        size = max(1, self.adapter.max_batch_size)
        return [items[i : i + size] for i in range(0, len(items), size)] or [items]

    def create_items(self, items: Sequence[NewRecord]) -> list[WriteResult]:
        """Create ``items`` in as few calls as the batch limit allows."""
        results: list[WriteResult] = []
        for chunk in self._chunks(items):
            chunk_results = self.adapter.create(self.object_type, chunk)
            _assert_results(chunk_results, chunk, "create")
            for result in chunk_results:
                if result.succeeded:
                    _assert_id(result.record_id, "create succeeded with the record id")
            results.extend(chunk_results)
        return results

    def update_items(self, items: Sequence[RecordUpdate]) -> list[WriteResult]:
        """Update ``items`` in as few calls as the batch limit allows."""
        results: list[WriteResult] = []
        for chunk in self._chunks(items):
            chunk_results = self.adapter.update(self.object_type, chunk)
            _assert_results(chunk_results, chunk, "update")
            for item, result in zip(chunk, chunk_results, strict=True):
                if result.succeeded:
                    _assert_id(result.record_id, "update succeeded with the record id")
                    assert result.record_id == item.id, (
                        f"an update of {item.id!r} succeeded with the record id "
                        f"{result.record_id!r:.60}: an update must answer with the id of "
                        "the record sent (the engine fails the record otherwise)"
                    )
                    if result.merged is not None:
                        new = result.merged.get(item.id)
                        _assert_id(new, f"an update of {item.id!r} answered as merged into")
                        assert new != item.id, (
                            f"an update of {item.id!r} was answered as merged "
                            f"({dict(result.merged)!r:.80}) without moving it to another "
                            "record: answer WriteResult.ok for a record that is itself"
                        )
                        for old, into in result.merged.items():
                            _assert_id(old, "an update's merge named the merged id")
                            _assert_id(into, "an update's merge named the new id")
            results.extend(chunk_results)
        return results

    def fetch(self, ids: Sequence[str]) -> Mapping[str, Record]:
        """Fetch ``ids`` in as few calls as the batch limit allows."""
        found: dict[str, Record] = {}
        for chunk in self._chunks(ids):
            found.update(self.adapter.fetch(self.object_type, chunk))
        for record_id, record in found.items():
            _assert_id(record_id, "fetch answered under the id")
            _assert_id(record.id, "fetch answered with a record whose id")
            assert record_id == record.id, (
                f"fetch returned record {record.id!r} under the id {record_id!r}"
            )
        return found


def _assert_results(results: Sequence[WriteResult], items: Sequence[object], method: str) -> None:
    assert len(results) == len(items), (
        f"{method} of {len(items)} items returned {len(results)} results; it must return "
        f"one per item, in order"
    )
    for result in results:
        assert isinstance(result, WriteResult), f"{method} returned {result!r}, not a WriteResult"


def _ok_id(result: WriteResult, what: str) -> str:
    """The record id of a result that must have succeeded."""
    assert result.succeeded, f"{what} failed: {result.category}: {result.message}"
    assert result.record_id is not None, f"{what} succeeded without a record id"
    _assert_id(result.record_id, f"{what} succeeded with the record id")
    return result.record_id


def _assert_id(record_id: object, where: str) -> None:
    """A record id an adapter gives must be non-empty text: the engine refuses any
    other (an ``int`` from a JSON API is never converted), so its record fails."""
    if not isinstance(record_id, str) or not record_id:
        raise AssertionError(
            f"{where} {record_id!r:.60} is {type(record_id).__name__}; a record id must be "
            "non-empty text (str): return str(id) from the app's own id, the engine refuses "
            "any other id and fails its record"
        )


def _ids(pages: Sequence[Page]) -> list[str]:
    return [record.id for page in pages for record in page.records]


def _latest(pages: Sequence[Page]) -> dict[str, Record]:
    """The last version of each record of an incremental scan (it may repeat records)."""
    return {record.id: record for page in pages for record in page.records}


def _deleted(pages: Sequence[Page]) -> set[str]:
    return {record_id for page in pages for record_id in page.deleted}


# ---- the checks -------------------------------------------------------------------------
# Each takes a _Kit around a fresh, empty adapter, raises AssertionError when the adapter
# breaks the contract and _Skip when the check does not apply.


def _check_schema_describes_the_object_type(kit: _Kit) -> None:
    schema = kit.adapter.schema(kit.object_type)
    assert isinstance(schema, ObjectSchema), f"schema() returned {schema!r}, not an ObjectSchema"
    assert schema.name == kit.object_type, (
        f"schema({kit.object_type!r}) is named {schema.name!r}; it must be named after the type"
    )
    for spec in schema:
        assert isinstance(spec, PropertySpec), f"schema property {spec!r} is not a PropertySpec"
        if spec.required:
            assert not spec.read_only, (
                f"property {spec.name!r} is required and read-only: no record can be created"
            )


def _check_create_returns_one_result_per_item_and_records_can_be_fetched(kit: _Kit) -> None:
    created = kit.create(3)
    minimal = NewRecord(kit.values(required_only=True), kit.key())
    results = kit.adapter.create(kit.object_type, [minimal])
    _assert_results(results, [minimal], "create")
    minimal_id = _ok_id(results[0], "creating a record with only the required properties")
    created[minimal_id] = dict(minimal.properties)
    found = kit.fetch(list(created))
    assert set(found) == set(created), (
        f"fetch of just-created records returned {sorted(found)}, expected {sorted(created)}"
    )
    for record_id, values in created.items():
        _assert_values(kit.schema(), values, found[record_id])


def _check_bad_item_fails_alone_with_the_right_category(kit: _Kit) -> None:
    before = len(_ids(kit.scan()))
    bad_values = {**kit.values(), _UNKNOWN_PROPERTY: "x"}
    cases: list[tuple[dict[str, Any], ErrorCategory, str]] = [
        (bad_values, ErrorCategory.VALIDATION, _UNKNOWN_PROPERTY)
    ]
    for name in kit.schema().required:
        values = kit.values()
        del values[name]
        cases.append((values, ErrorCategory.REQUIRED_FIELD_MISSING, name))
    good_count = 0
    for values, category, field in cases:
        items = [
            NewRecord(kit.values(), kit.key()),
            NewRecord(values, kit.key()),
            NewRecord(kit.values(), kit.key()),
        ]
        results = kit.create_items(items)
        kind = "an unknown" if field == _UNKNOWN_PROPERTY else "no required"
        what = f"a create item with {kind} property {field!r}"
        assert not results[1].succeeded, f"{what} succeeded; it must fail"
        assert results[1].category == category, (
            f"{what} failed with {results[1].category}, expected {category}"
        )
        assert field in results[1].message, (
            f"the failure message of {what} does not name the field: {results[1].message!r}"
        )
        for neighbour in (results[0], results[2]):
            assert neighbour.succeeded, (
                f"a valid item next to {what} failed too ({neighbour.category}: "
                f"{neighbour.message}); a bad item must fail only itself"
            )
        good_count += 2
        good_ids = [r.record_id for r in (results[0], results[2]) if r.record_id is not None]
        assert set(kit.fetch(good_ids)) == set(good_ids), (
            f"the valid items next to {what} cannot be fetched"
        )
    after = len(_ids(kit.scan()))
    assert after == before + good_count, (
        f"a full scan holds {after - before} new records after {good_count} valid and "
        f"{len(cases)} failed creates: failed items must create nothing"
    )


def _check_lone_surrogate_fails_its_item_alone(kit: _Kit) -> None:
    """A text value holding a lone surrogate (no valid Unicode) fails its item alone.

    It is a ``VALIDATION`` failure naming the property, on create and on update, and the
    valid items of the same batch are written: no UTF-8 app can store the value, and an
    adapter that lets its encoder raise fails the whole batch instead (rule X1).
    """
    texts = [
        spec
        for spec in kit.writable()
        if spec.type is PropertyType.STRING and not spec.unique and not spec.options
    ]
    if not texts:
        raise _Skip("the object type has no writable, non-unique string property")
    spec = texts[0]
    bad_text = "cut mid-emoji \ud83d"
    bad = {**kit.values(), spec.name: bad_text}
    items = [
        NewRecord(kit.values(), kit.key()),
        NewRecord(bad, kit.key()),
        NewRecord(kit.values(), kit.key()),
    ]
    what = f"a create item whose {spec.name!r} holds a lone surrogate"
    results = kit.create_items(items)
    assert not results[1].succeeded, f"{what} succeeded; it must fail (VALIDATION)"
    assert results[1].category is ErrorCategory.VALIDATION, (
        f"{what} failed with {results[1].category}, expected validation"
    )
    assert spec.name in results[1].message, (
        f"the failure message of {what} does not name the property: {results[1].message!r}"
    )
    results[1].message.encode("utf-8")  # the message itself must be storable text
    good_ids = []
    for neighbour in (results[0], results[2]):
        assert neighbour.succeeded, (
            f"a valid item next to {what} failed too ({neighbour.category}: "
            f"{neighbour.message}); a bad item must fail only itself"
        )
        good_ids.append(_ok_id(neighbour, "a valid create next to a bad one"))
    assert set(kit.fetch(good_ids)) == set(good_ids), (
        f"the valid items next to {what} cannot be fetched"
    )
    changes = [{spec.name: f"changed {n}"} for n in range(2)]
    updates = [
        RecordUpdate(good_ids[0], changes[0]),
        RecordUpdate(good_ids[1], {spec.name: bad_text}),
    ]
    results = list(kit.adapter.update(kit.object_type, updates))
    _assert_results(results, updates, "update")
    what = f"an update item setting {spec.name!r} to text with a lone surrogate"
    assert not results[1].succeeded, f"{what} succeeded; it must fail (VALIDATION)"
    assert results[1].category is ErrorCategory.VALIDATION, (
        f"{what} failed with {results[1].category}, expected validation"
    )
    assert results[0].succeeded, (
        f"a valid update next to {what} failed too ({results[0].category}: "
        f"{results[0].message}); a bad item must fail only itself"
    )
    found = kit.fetch(good_ids)
    assert found[good_ids[0]].properties.get(spec.name) == "changed 0"
    assert found[good_ids[1]].properties.get(spec.name) != bad_text


def _check_update_changes_only_the_named_properties(kit: _Kit) -> None:
    created = kit.create(3)
    ids = list(created)
    changes = kit.changed_values(created[ids[0]])
    # Leave one property alone, to see that properties not named are kept.
    kept = next(iter(changes), None)
    if kept is not None and len(changes) > 1:
        del changes[kept]
    other_changes = kit.changed_values(created[ids[2]])
    items = [
        RecordUpdate(ids[0], changes),
        RecordUpdate(_MISSING_ID, kit.changed_values({})),
        RecordUpdate(ids[2], other_changes),
    ]
    results = kit.update_items(items)
    assert results[0].succeeded, (
        f"a valid update failed: {results[0].category}: {results[0].message}"
    )
    assert results[1].category in (ErrorCategory.NOT_FOUND, ErrorCategory.DELETED), (
        f"an update of an unknown id returned {results[1]!r}; expected NOT_FOUND or DELETED"
    )
    assert results[2].succeeded, (
        f"an update next to one of an unknown id failed: {results[2].category}: "
        f"{results[2].message}; a bad item must fail only itself"
    )
    found = kit.fetch(ids)
    _assert_values(kit.schema(), {**created[ids[0]], **changes}, found[ids[0]])
    _assert_values(kit.schema(), created[ids[1]], found[ids[1]])
    _assert_values(kit.schema(), {**created[ids[2]], **other_changes}, found[ids[2]])
    clearable = [spec.name for spec in kit.writable() if not spec.required and spec.name in changes]
    if clearable:
        (cleared,) = kit.update_items([RecordUpdate(ids[0], {clearable[0]: None})])
        _ok_id(cleared, f"clearing {clearable[0]!r} with None")
        value = kit.fetch([ids[0]])[ids[0]].properties.get(clearable[0])
        assert _is_blank(value), f"{clearable[0]!r} is {value!r} after an update set it to None"


def _check_full_scan_is_stable_and_complete(kit: _Kit) -> None:
    before = set(_ids(kit.scan()))
    created = kit.create(kit.record_count)
    first, second = kit.scan(), kit.scan()
    ids = _ids(first)
    repeated = sorted(i for i, n in Counter(ids).items() if n > 1)
    assert not repeated, f"a full scan yielded records {repeated} more than once"
    missing = sorted(set(created) - set(ids))
    assert not missing, f"a full scan left out created records {missing}"
    extra = sorted(set(ids) - set(created) - before)
    assert not extra, f"a full scan yielded records {extra} that nobody created"
    assert _ids(second) == ids, (
        "two full scans without a change in between yielded records in different orders; "
        "the order must be stable"
    )
    for page in first:
        for record in page.records:
            if record.id in created:
                _assert_values(kit.schema(), created[record.id], record)


def _check_incremental_scan_right_after_a_full_scan_is_empty(kit: _Kit) -> None:
    kit.create(3)
    cursor = kit.scan()[-1].cursor
    assert cursor is not None
    pages = kit.scan(cursor)
    assert not _ids(pages), (
        f"scan(since=<last cursor of a full scan>) right after it yielded {_ids(pages)}; "
        f"nothing changed in between"
    )
    assert not _deleted(pages), f"... and deleted ids {sorted(_deleted(pages))}"


def _check_incremental_scan_yields_updated_and_created_records(kit: _Kit) -> None:
    created = kit.create(max(4, kit.record_count))
    cursor = kit.scan()[-1].cursor
    assert cursor is not None
    ids = list(created)
    # Without writable properties an update cannot change anything.
    changed = ids[::2] if kit.writable() else []
    items = [RecordUpdate(i, kit.changed_values(created[i])) for i in changed]
    failed = [r for r in kit.update_items(items) if not r.succeeded]
    assert not failed, f"valid updates failed: {failed[:3]!r}"
    new = kit.create(1)
    pages = kit.scan(cursor)
    latest = _latest(pages)
    missing = sorted(set(changed) - set(latest))
    assert not missing, f"scan(since=cursor) left out records {missing} updated after the cursor"
    missing_new = sorted(set(new) - set(latest))
    assert not missing_new, (
        f"scan(since=cursor) left out records {missing_new} created after the cursor"
    )
    for item in items:
        _assert_values(kit.schema(), {**created[item.id], **item.properties}, latest[item.id])
    for record_id, values in new.items():
        _assert_values(kit.schema(), values, latest[record_id])
    gone = _deleted(pages) & (set(changed) | set(new))
    assert not gone, f"scan(since=cursor) reported live records {sorted(gone)} as deleted"
    again = kit.scan(pages[-1].cursor)
    assert not _ids(again), (
        f"scan(since=<last cursor of an incremental scan>) right after it yielded "
        f"{_ids(again)}; nothing changed in between"
    )


def _check_full_scan_page_cursor_resumes_the_scan(kit: _Kit) -> None:
    kit.create(kit.record_count)
    pages = kit.scan()
    resumable = [(i, page.cursor) for i, page in enumerate(pages[:-1]) if page.cursor is not None]
    if not resumable:
        raise _Skip(
            f"the full scan of {kit.record_count} records yielded no page cursor before the "
            f"last page; give the adapter under test a small page size to check resuming"
        )
    for index, cursor in resumable:
        resumed = kit.scan(cursor)
        after = _ids(pages[index + 1 :])
        skipped = sorted(set(after) - set(_ids(resumed)))
        assert not skipped, (
            f"resuming a full scan from the cursor of page {index} ({cursor!r}) skipped "
            f"records {skipped}"
        )
    # The resumed scan's last cursor works as a change cursor, like any last cursor.
    end = kit.scan(resumable[-1][1])[-1].cursor
    (target,) = kit.create(1)
    assert target in _ids(kit.scan(end)), (
        f"after a resumed full scan, scan(since=its last cursor {end!r}) left out record "
        f"{target!r}, created after it"
    )


def _check_fetch_leaves_out_unknown_ids(kit: _Kit) -> None:
    created = kit.create(2)
    ids = list(created)
    found = kit.fetch([ids[0], _MISSING_ID, ids[1]])
    assert set(found) == set(ids), (
        f"fetch of two records and an unknown id returned {sorted(found)}; an unknown id "
        f"must be absent (absent means deleted), the others present"
    )
    for record_id in ids:
        _assert_values(kit.schema(), created[record_id], found[record_id])
    assert dict(kit.fetch([])) == {}, "fetch of no ids must return nothing"


def _check_removed_records_are_reported_deleted(kit: _Kit) -> None:
    if kit.remove is None:
        raise _Skip("adapter cannot remove records in tests (provide a remove_record hook)")
    ids = list(kit.create(3))
    cursor = kit.scan()[-1].cursor
    assert cursor is not None
    kit.remove(kit.adapter, kit.object_type, ids[1])
    found = kit.fetch(ids)
    assert ids[1] not in found, f"fetch still returns removed record {ids[1]!r}"
    assert set(found) == {ids[0], ids[2]}, f"fetch lost records next to a removed one: {found}"
    pages = kit.scan(cursor)
    assert ids[1] in _deleted(pages), (
        f"scan(since=cursor) does not list record {ids[1]!r}, removed after the cursor, "
        f"in Page.deleted"
    )
    assert ids[1] not in _latest(pages), (
        f"scan(since=cursor) yields removed record {ids[1]!r} as a live record"
    )
    assert ids[1] not in _ids(kit.scan()), f"a full scan still yields removed record {ids[1]!r}"


def _check_merged_records_are_reported_as_moves(kit: _Kit) -> None:
    if kit.merge is None:
        raise _Skip("adapter cannot merge records in tests (provide a merge_records hook)")
    created = kit.create(3)
    ids = list(created)
    cursor = kit.scan()[-1].cursor
    assert cursor is not None
    new = kit.merge(kit.adapter, kit.object_type, ids[0], ids[1])
    _assert_id(new, "merge_records returned the merged record's id")
    olds = [i for i in ids[:2] if i != new]
    found = kit.adapter.fetch(kit.object_type, ids)
    for old in olds:
        got = found.get(old)
        assert (got.id if got is not None else None) == new, (
            f"fetch of the merged id {old!r} returned {got!r}; it must return the merged "
            f"record {new!r} (absent would mean deleted)"
        )
    pages = kit.scan(cursor)
    moves = {o: n for page in pages for o, n in page.merged.items()}
    for old in olds:
        assert moves.get(old) == new, (
            f"scan(since=cursor) does not report {old!r}, merged into {new!r} after the "
            f"cursor, in Page.merged (it reported {moves!r})"
        )
        assert old not in _deleted(pages), (
            f"scan(since=cursor) lists the merged id {old!r} in Page.deleted; a merged "
            "record is a move (Page.merged), not a deletion"
        )
    # An update sent to a merged-away id: refused as gone, or landed on the merged
    # record and answered with the id sent and the merge (WriteResult.merged_into).
    old = olds[0]
    values = kit.changed_values(created[old])
    (result,) = kit.update_items([RecordUpdate(old, values)])
    if not result.succeeded:
        assert result.category in (ErrorCategory.NOT_FOUND, ErrorCategory.DELETED), (
            f"an update of the merged id {old!r} failed {result.category}: {result.message}; "
            "refuse it as NOT_FOUND or DELETED, or answer it landed on the merged record"
        )
        return
    assert (result.merged or {}).get(old) == new, (
        f"an update of the merged id {old!r} succeeded with {result!r}; one that landed on "
        f"the merged record {new!r} must say so: WriteResult.merged_into({old!r}, "
        f"{{{old!r}: {new!r}, ...}})"
    )
    _assert_values(kit.schema(), values, kit.fetch([new])[new])


def _check_batches_of_max_batch_size_work(kit: _Kit) -> None:
    size = kit.adapter.max_batch_size
    assert isinstance(size, int), f"max_batch_size is {size!r}; it must be an int"
    assert size >= 1, f"max_batch_size is {size!r}; it must be at least 1"
    items = [NewRecord(kit.values(), kit.key()) for _ in range(size)]
    results = kit.adapter.create(kit.object_type, items)
    _assert_results(results, items, "create")
    failed = [r for r in results if not r.succeeded]
    assert not failed, f"a create of max_batch_size={size} valid items had failures: {failed[:3]}"
    ids = [r.record_id for r in results if r.record_id is not None]
    assert len(set(ids)) == size, f"a create of {size} items returned {len(set(ids))} distinct ids"
    found = kit.fetch(ids)
    assert set(found) == set(ids), f"a fetch of max_batch_size={size} ids lost some"
    updates = [
        RecordUpdate(i, kit.changed_values(item.properties))
        for i, item in zip(ids, items, strict=True)
    ]
    results = kit.adapter.update(kit.object_type, updates)
    _assert_results(results, updates, "update")
    failed = [r for r in results if not r.succeeded]
    assert not failed, f"an update of max_batch_size={size} valid items had failures: {failed[:3]}"


def _check_idempotency_key_replays_the_first_create(kit: _Kit) -> None:
    if not kit.adapter.supports_idempotency_keys:
        raise _Skip("adapter does not support idempotency keys")
    before = len(_ids(kit.scan()))
    item = NewRecord(kit.values(), kit.key())
    (first,) = kit.adapter.create(kit.object_type, [item])
    assert first.succeeded, f"a valid create failed: {first.category}: {first.message}"
    (again,) = kit.adapter.create(kit.object_type, [item])
    assert again.record_id == first.record_id, (
        f"repeating a create with the same idempotency key returned {again!r}; expected "
        f"the id of the first create, {first.record_id!r}"
    )
    other = NewRecord(kit.values(), kit.key())
    results = kit.create_items([item, other])
    assert results[0].record_id == first.record_id, (
        f"a repeated key in a batch returned {results[0]!r}, expected {first.record_id!r}"
    )
    other_id = _ok_id(results[1], "a create with a new key next to a repeated one")
    assert other_id != first.record_id, (
        f"a new key next to a repeated one returned {other_id!r}, the id of the first create"
    )
    after = len(_ids(kit.scan()))
    assert after == before + 2, (
        f"a full scan holds {after - before} new records after one repeated and two "
        f"distinct creates; a repeated key must create nothing"
    )


def _check_idempotency_lookup_finds_committed_creates(kit: _Kit) -> None:
    """S8: ``lookup_idempotency_keys`` names the record each committed create made, at
    once (strongly consistent), and nothing for a key never used or a create that failed.

    The kit plays a lost reply: it creates records and ignores the answers, then asks
    which of those creates happened, as the engine does after a timeout.
    """
    adapter = kit.adapter
    if not adapter.supports_idempotency_lookup:
        note = ""
        own = getattr(type(adapter), "lookup_idempotency_keys", None)
        if own is not Adapter.lookup_idempotency_keys:
            note = (
                f" ({type(adapter).__name__} defines lookup_idempotency_keys() but "
                f"supports_idempotency_lookup is False: if it works, set it to True, or the "
                f"engine settles lost creates from the change scan instead)"
            )
        raise _Skip("adapter does not support idempotency key lookups" + note)
    made = [NewRecord(kit.values(), kit.key()) for _ in range(2)]
    never = NewRecord(kit.values(), kit.key())
    failed = NewRecord({**kit.values(), _UNKNOWN_PROPERTY: "x"}, kit.key())
    results = kit.create_items([*made, failed])  # the replies are "lost": only ids kept
    ids = [_ok_id(r, "a valid create") for r in results[:2]]
    assert not results[2].succeeded, "a create with an unknown property succeeded"
    asked = [*made, never, failed]
    answer = adapter.lookup_idempotency_keys(kit.object_type, asked)
    if answer is None:
        raise _Skip(f"adapter cannot look up creates of {kit.object_type!r} (it answers None)")
    assert isinstance(answer, Mapping), (
        f"lookup_idempotency_keys returned {answer!r:.80}; expected a mapping (key -> id) or None"
    )
    for item, record_id in zip(made, ids, strict=True):
        assert answer.get(item.idempotency_key) == record_id, (
            f"lookup_idempotency_keys right after a committed create answered "
            f"{answer.get(item.idempotency_key)!r} for its key, expected {record_id!r}: the "
            f"lookup must be strongly consistent (no search index that lags behind writes)"
        )
    for item, what in ((never, "a key no create used"), (failed, "the key of a failed create")):
        assert item.idempotency_key not in answer, (
            f"lookup_idempotency_keys named {answer[item.idempotency_key]!r} for {what}; "
            f"a create that made nothing must be left out"
        )
    again = adapter.lookup_idempotency_keys(kit.object_type, [never])
    assert again is not None, "lookup_idempotency_keys answered None for a key never used"
    assert not again, (
        f"lookup_idempotency_keys of {never.idempotency_key!r} alone (never used) answered "
        f"{again!r}; expected an empty mapping"
    )


def _defined(kit: _Kit, method: str) -> str:
    """A note for a skip: the class defines ``method`` although its flag is False."""
    if getattr(type(kit.adapter), method, None) is getattr(Adapter, method):
        return ""
    flag = "supports_pipelines" if method == "pipelines" else "supports_associations"
    return (
        f" ({type(kit.adapter).__name__} defines {method}() but {flag} is False: if it "
        f"works, set {flag} = True, or engines with this capability configured refuse it)"
    )


def _check_pipelines_have_stages(kit: _Kit) -> None:
    if not kit.adapter.supports_pipelines:
        raise _Skip("adapter does not support pipelines" + _defined(kit, "pipelines"))
    pipelines = kit.adapter.pipelines(kit.object_type)
    assert not isinstance(pipelines, str | bytes), f"pipelines() returned {pipelines!r}"
    pipeline_ids: set[str] = set()
    for pipeline in pipelines:
        assert isinstance(pipeline, Pipeline), f"pipelines() yielded {pipeline!r}, not a Pipeline"
        assert pipeline.id not in pipeline_ids, f"pipeline id {pipeline.id!r} appears twice"
        pipeline_ids.add(pipeline.id)
        assert pipeline.stages, f"pipeline {pipeline.id!r} has no stages"
        stage_ids: set[str] = set()
        for stage in pipeline.stages:
            assert isinstance(stage, Stage), f"pipeline {pipeline.id!r} has {stage!r}, not a Stage"
            assert stage.id not in stage_ids, (
                f"stage id {stage.id!r} appears twice in pipeline {pipeline.id!r}"
            )
            stage_ids.add(stage.id)


def _check_associate_links_records(kit: _Kit) -> None:
    if not kit.adapter.supports_associations:
        raise _Skip("adapter does not support associations" + _defined(kit, "associate"))
    to_type = kit.association_type or kit.object_type
    (source,) = kit.create(1)
    (target,) = kit.create(1, to_type)
    pair = AssociationChange(kit.object_type, source, to_type, target)
    results = kit.adapter.associate([pair])
    _assert_results(results, [pair], "associate")
    assert results[0].succeeded, f"associate failed: {results[0].category}: {results[0].message}"
    record = kit.fetch([source])[source]
    linked = record.associations.get(to_type, frozenset())
    assert target in linked, (
        f"after associate, record {source!r} has associations {dict(record.associations)!r}; "
        f"expected {target!r} among {to_type!r}"
    )
    (again,) = kit.adapter.associate([pair])
    assert again.succeeded, (
        f"associating an existing link failed ({again.category}: {again.message}); it must succeed"
    )


_Check = Callable[[_Kit], None]

#: The checks, by name; the mixin's tests are ``test_<name>``.
_CHECKS: Final[dict[str, _Check]] = {
    "schema_describes_the_object_type": _check_schema_describes_the_object_type,
    "create_returns_one_result_per_item_and_records_can_be_fetched": (
        _check_create_returns_one_result_per_item_and_records_can_be_fetched
    ),
    "bad_item_fails_alone_with_the_right_category": (
        _check_bad_item_fails_alone_with_the_right_category
    ),
    "lone_surrogate_fails_its_item_alone": _check_lone_surrogate_fails_its_item_alone,
    "update_changes_only_the_named_properties": _check_update_changes_only_the_named_properties,
    "full_scan_is_stable_and_complete": _check_full_scan_is_stable_and_complete,
    "incremental_scan_right_after_a_full_scan_is_empty": (
        _check_incremental_scan_right_after_a_full_scan_is_empty
    ),
    "incremental_scan_yields_updated_and_created_records": (
        _check_incremental_scan_yields_updated_and_created_records
    ),
    "full_scan_page_cursor_resumes_the_scan": _check_full_scan_page_cursor_resumes_the_scan,
    "fetch_leaves_out_unknown_ids": _check_fetch_leaves_out_unknown_ids,
    "removed_records_are_reported_deleted": _check_removed_records_are_reported_deleted,
    "merged_records_are_reported_as_moves": _check_merged_records_are_reported_as_moves,
    "batches_of_max_batch_size_work": _check_batches_of_max_batch_size_work,
    "idempotency_key_replays_the_first_create": _check_idempotency_key_replays_the_first_create,
    "idempotency_lookup_finds_committed_creates": (
        _check_idempotency_lookup_finds_committed_creates
    ),
    "pipelines_have_stages": _check_pipelines_have_stages,
    "associate_links_records": _check_associate_links_records,
}


# ---- the state machine ------------------------------------------------------------------


def _value_strategy(spec: PropertySpec) -> st.SearchStrategy[Any]:
    token = st.text(string.ascii_letters + string.digits, min_size=1, max_size=10)
    kind = spec.type
    if kind is PropertyType.STRING:
        lowered = spec.name.lower()
        if "phone" in lowered:
            return st.integers(0, 9_999_999).map(lambda n: f"+1555{n:07d}")
        if any(word in lowered for word in ("email", "domain", "url", "website")):
            return st.integers(0, 10**9).map(lambda n: _string_value(spec.name, n))
        return token
    if kind is PropertyType.NUMBER:
        return st.integers(-(10**6), 10**6)
    if kind is PropertyType.BOOL:
        return st.booleans()
    if kind is PropertyType.DATE:
        return st.dates(date(2000, 1, 1), date(2099, 12, 31))
    if kind is PropertyType.DATETIME:
        return st.datetimes(datetime(2000, 1, 1), datetime(2099, 1, 1), timezones=st.just(UTC)).map(
            lambda d: d.replace(microsecond=0)
        )
    options = st.sampled_from(spec.options) if spec.options else token
    if kind is PropertyType.ENUM:
        return options
    return st.frozensets(options, min_size=1, max_size=3)


def _run_state_machine(
    get_adapter: Callable[[], Adapter],
    object_type: str,
    *,
    probe: Adapter,
    remove: RemoveHook | None,
    max_examples: int,
    step_count: int,
    close_each: bool,
    replay_saved: bool = True,
) -> None:
    """Drive adapters from ``get_adapter`` against a model with Hypothesis.

    ``get_adapter`` is called once per example; it may return the same adapter each time
    (pytest builds the ``adapter`` fixture once for all the examples), in which case
    ``close_each`` must be false. ``probe`` is an adapter of the same kind, read for its
    schema and capabilities only.

    Each example draws only from what it made itself: Hypothesis replays an example by
    its choices, so what the machine draws (the rules it may run, the records it picks)
    must not depend on records an earlier example left in a shared adapter. Those are
    kept apart, in ``found``, and checked to stay as they were; unique values never
    repeat across examples.

    ``replay_saved``: whether Hypothesis first replays the failing examples its database
    saved (of any adapter: the machine's source, hence its database key, is the same for
    all); false, the run is only what it generates, as on a clean checkout.

    A failure that depends on what earlier examples left does not happen again when
    Hypothesis replays its example to shrink it, and Hypothesis then reports its replay as
    flaky; the kit reports the failure itself instead, with the steps of its example.
    """
    schema = probe.schema(object_type)
    idempotent = probe.supports_idempotency_keys
    batch_limit = max(1, probe.max_batch_size)
    writable = [
        spec
        for spec in schema
        if not spec.read_only and (spec.required or not _limited_unique(spec))
    ]
    unique = [spec for spec in writable if spec.unique]
    numbers = itertools.count(1)
    token = uuid.uuid4().hex[:12]
    new_values = st.fixed_dictionaries(
        {spec.name: _value_strategy(spec) for spec in writable if spec.required},
        optional={spec.name: _value_strategy(spec) for spec in writable if not spec.required},
    )
    changes = st.fixed_dictionaries(
        {},
        optional={
            spec.name: (
                _value_strategy(spec) if spec.required else st.none() | _value_strategy(spec)
            )
            for spec in writable
        },
    ).filter(bool)
    # A value (not a blank) for every writable property.
    every_value = st.fixed_dictionaries({spec.name: _value_strategy(spec) for spec in writable})

    def uniquify(values: dict[str, Any]) -> dict[str, Any]:
        # Unique properties get values no record ever had: duplicates are not what this
        # machine tests (and the adapter may hold records of earlier examples).
        for spec in unique:
            if values.get(spec.name) is not None:
                values[spec.name] = _example_value(spec, 10**6 + next(numbers))
        return values

    # The first failure of the run and the steps of its example, reported in place of a
    # Flaky error of Hypothesis (see above).
    first_failure: list[tuple[Exception, list[str]]] = []

    def noted(method: _F) -> _F:
        """``method``, noting the first failure of the run."""

        @functools.wraps(method)
        def run(self: Any, *args: Any, **kwargs: Any) -> Any:
            try:
                return method(self, *args, **kwargs)
            except Exception as exc:
                if not first_failure and not isinstance(exc, HypothesisException):
                    first_failure.append((exc, list(self.steps)))
                raise

        return run  # type: ignore[return-value]

    class AdapterMachine(RuleBasedStateMachine):
        """Creates and updates records; the model is what every scan must agree with."""

        def __init__(self) -> None:
            super().__init__()
            self.adapter = get_adapter()
            # The live records this example created, in the order it created them: the
            # only records it draws from (their ids differ from run to run, their order
            # does not).
            self.model: dict[str, dict[str, Any]] = {}
            # What earlier examples left in a shared adapter: never drawn from, never
            # written; every full scan must still hold it as it was.
            self.found: dict[str, Record] = {}
            self.cursor = ""
            self.at_cursor: set[str] = set()
            self.changed: set[str] = set()
            self.removed: set[str] = set()
            self.sent: list[tuple[NewRecord, str]] = []
            self.steps: list[str] = []  # what this example did, for a failure report

        @override
        def teardown(self) -> None:
            if close_each:
                self.adapter.close()

        def _scan(self, since: str | None) -> list[Page]:
            return _Kit(self.adapter, object_type).scan(since)

        def _save(self, cursor: str | None) -> None:
            assert cursor is not None
            self.cursor = cursor
            self.at_cursor = set(self.model)
            self.changed.clear()
            self.removed.clear()

        @initialize(
            batch=st.lists(new_values, min_size=1, max_size=min(3, batch_limit)),
            values=every_value,
        )
        @noted
        def start_with_records_of_its_own(
            self, batch: list[dict[str, Any]], values: dict[str, Any]
        ) -> None:
            """Note what earlier examples left, then create records and update one of
            them in every writable property.

            Every example does so before its random steps: Hypothesis turns rules off at
            random per example (swarm testing) and a program that never updates would
            never meet an update that writes the wrong record or drops a value; the
            records earlier examples left are each example's witnesses of such writes
            (and a table that evicts old records is met within a few examples).
            """
            self.steps.append("a full scan")
            pages = self._scan(None)
            self.found = {record.id: record for page in pages for record in page.records}
            self.steps[-1] += f": {len(self.found)} records left by earlier examples"
            self._save(pages[-1].cursor)
            self.create(batch)
            if values:
                self._update(next(iter(self.model)), uniquify(dict(values)))

        @rule(batch=st.lists(new_values, min_size=1, max_size=min(3, batch_limit)))
        @noted
        def create(self, batch: list[dict[str, Any]]) -> None:
            items = [
                NewRecord(uniquify(dict(values)), f"syncengine-kit-{token}-{next(numbers)}")
                for values in batch
            ]
            self.steps.append(f"create {[dict(item.properties) for item in items]!r}")
            results = self.adapter.create(object_type, items)
            _assert_results(results, items, "create")
            for item, result in zip(items, results, strict=True):
                record_id = _ok_id(result, f"a valid create ({dict(item.properties)!r})")
                existing = record_id in self.model or record_id in self.found
                assert not existing, f"create returned the id {record_id!r} of an existing record"
                self.model[record_id] = dict(item.properties)
                self.changed.add(record_id)
                self.sent.append((item, record_id))
            self.steps[-1] += f": ids {[r.record_id for r in results]!r}"

        @precondition(lambda self: bool(self.model) and bool(writable))
        @rule(data=st.data())
        @noted
        def update(self, data: st.DataObject) -> None:
            record_id = data.draw(st.sampled_from(list(self.model)), label="record id")
            self._update(record_id, uniquify(data.draw(changes, label="changes")))

        def _update(self, record_id: str, values: dict[str, Any]) -> None:
            self.steps.append(f"update {record_id!r} with {values!r}")
            current = self.adapter.fetch(object_type, [record_id]).get(record_id)
            assert current is not None, f"fetch lost live record {record_id!r}"
            (result,) = self.adapter.update(object_type, [RecordUpdate(record_id, values)])
            assert result.succeeded, (
                f"a valid update of {record_id!r} failed: {result.category}: "
                f"{result.message} (values: {values!r})"
            )
            # An update that changes no value need not count as a change.
            if any(
                not _same_value(schema.get(n), v, current.properties.get(n))
                for n, v in values.items()
            ):
                self.changed.add(record_id)
            self.model[record_id].update(values)

        if remove is not None:

            @precondition(lambda self: bool(self.model))
            @rule(data=st.data())
            @noted
            def remove_a_record(self, data: st.DataObject) -> None:
                record_id = data.draw(st.sampled_from(list(self.model)), label="record id")
                self.steps.append(f"remove_record {record_id!r}")
                assert remove is not None
                remove(self.adapter, object_type, record_id)
                del self.model[record_id]
                self.changed.discard(record_id)
                if record_id in self.at_cursor:
                    self.removed.add(record_id)

        if idempotent:

            @precondition(lambda self: any(rid in self.model for _, rid in self.sent))
            @rule(data=st.data())
            @noted
            def replay_a_create(self, data: st.DataObject) -> None:
                live = [(item, rid) for item, rid in self.sent if rid in self.model]
                item, record_id = data.draw(st.sampled_from(live), label="create")
                self.steps.append(f"create again with key {item.idempotency_key!r}")
                (result,) = self.adapter.create(object_type, [item])
                assert result.record_id == record_id, (
                    f"repeating a create with key {item.idempotency_key!r} returned "
                    f"{result!r}; expected the first create's id {record_id!r}"
                )

        @rule()
        @noted
        def save_the_cursor_of_a_full_scan(self) -> None:
            self.steps.append("save the cursor of a full scan")
            self._save(self._scan(None)[-1].cursor)

        @rule()
        @noted
        def save_the_cursor_of_an_incremental_scan(self) -> None:
            self.steps.append(f"save the cursor of scan(since={self.cursor!r})")
            self._save(self._scan(self.cursor)[-1].cursor)

        @invariant()
        @noted
        def a_full_scan_equals_the_model(self) -> None:
            pages = self._scan(None)
            ids = _ids(pages)
            repeated = sorted(i for i, n in Counter(ids).items() if n > 1)
            assert not repeated, f"a full scan yielded records {repeated} more than once"
            missing = sorted(set(self.model) - set(ids))
            assert not missing, f"a full scan left out records {missing}"
            lost = sorted(set(self.found) - set(ids))
            assert not lost, (
                f"a full scan left out records {lost} that were there when this example "
                f"started (created by an earlier one; nothing has written them since)"
            )
            extra = sorted(set(ids) - set(self.model) - set(self.found))
            assert not extra, f"a full scan yielded records {extra} that are not live"
            for record in (r for page in pages for r in page.records):
                if record.id in self.model:
                    _assert_values(schema, self.model[record.id], record)
                else:
                    found = self.found[record.id]
                    _assert_values(
                        schema,
                        {spec.name: found.properties.get(spec.name) for spec in writable},
                        record,
                    )

        @invariant()
        @noted
        def an_incremental_scan_holds_every_change_since_the_cursor(self) -> None:
            pages = self._scan(self.cursor)
            latest = _latest(pages)
            missing = sorted(self.changed - set(latest))
            assert not missing, (
                f"scan(since={self.cursor!r}) left out records {missing} changed after it"
            )
            for record_id in self.changed:
                _assert_values(schema, self.model[record_id], latest[record_id])
            unreported = sorted(self.removed - _deleted(pages))
            assert not unreported, (
                f"scan(since={self.cursor!r}) does not list records {unreported}, removed "
                f"after it, in Page.deleted"
            )
            resurrected = sorted(self.removed & set(latest))
            assert not resurrected, (
                f"scan(since={self.cursor!r}) yields removed records {resurrected}"
            )

    chosen = settings(
        max_examples=max_examples,
        stateful_step_count=step_count,
        deadline=None,
        suppress_health_check=[HealthCheck.too_slow, HealthCheck.filter_too_much],
    )
    try:
        run_state_machine_as_test(
            AdapterMachine,
            settings=chosen if replay_saved else settings(chosen, database=None),
        )
    except Flaky as flaky:
        if not first_failure:
            raise
        failure, steps = first_failure[0]
        what = (
            str(failure)
            if isinstance(failure, AssertionError)
            else f"the adapter raised {type(failure).__name__}: {failure}"
        )
        listing = "\n".join(f"  {n}. {step}" for n, step in enumerate(steps, 1))
        raise AssertionError(
            f"{what}\n\nThe same steps did not fail again when Hypothesis replayed them "
            f"(it reported {type(flaky).__name__}), so it could not shrink this example: "
            f"the adapter answered differently the second time. The records earlier "
            f"examples left in it (every example of the state machine runs on the one "
            f"adapter of the 'adapter' fixture) are the usual cause, or an app that "
            f"changes on its own. The steps of the example that failed:\n{listing}"
        ) from failure


# ---- the two ways in --------------------------------------------------------------------


def check_adapter(
    factory: Callable[[], Adapter],
    object_type: str,
    *,
    max_examples: int = 20,
    remove_record: RemoveHook | None = None,
    association_type: str | None = None,
    record_count: int = 12,
    merge_records: MergeHook | None = None,
) -> None:
    """Check that adapters made by ``factory`` keep the :class:`Adapter` contract.

    Every check gets a fresh adapter; the state machine gets one per example. Checks of
    capabilities the adapter does not claim (``supports_*``), and the deletion check
    without ``remove_record``, are skipped. Works without pytest.

    Args:
        factory: Returns a fresh adapter whose ``object_type`` holds no records. Give it a
            small page size, so that scans of ``record_count`` records span pages.
        object_type: The object type to check; the kit writes values it generates from
            the adapter's schema.
        max_examples: How many examples the Hypothesis state machine runs.
        remove_record: ``remove_record(adapter, object_type, record_id)`` deletes a
            record the way the app's users would; enables the deletion checks.
        association_type: The type to link records to in the association check; the
            object type itself by default.
        record_count: How many records the scan checks create.
        merge_records: ``merge_records(adapter, object_type, primary_id, other_id)``
            merges two records the way the app's users would and returns the merged
            record's id; enables the merge check (for apps that merge records).

    Raises:
        AssertionError: A check failed; the message starts with the check's name, and
            an exception the adapter raised is chained as the cause.

    .. versionadded:: 0.1
    .. versionchanged:: 0.3 ``merge_records``.
    """
    for name, check in _CHECKS.items():
        kit = _Kit(
            factory(), object_type, remove_record, association_type, record_count, merge_records
        )
        try:
            _run_plain(name, lambda: check(kit))  # noqa: B023 - called right away
        finally:
            kit.adapter.close()
    probe = factory()
    try:
        _run_plain(
            "state_machine",
            lambda: _run_state_machine(
                factory,
                object_type,
                probe=probe,
                remove=remove_record,
                max_examples=max_examples,
                step_count=record_count + 8,
                close_each=True,
            ),
        )
    finally:
        probe.close()


def _run_plain(name: str, check: Callable[[], None]) -> None:
    try:
        check()
    except _Skip:
        pass
    except AssertionError as exc:
        raise AssertionError(f"adapter check {name!r} failed: {exc}") from exc
    except Exception as exc:
        raise AssertionError(
            f"adapter check {name!r} failed: the adapter raised {type(exc).__name__}: {exc}"
        ) from exc


def _pytest_skip(reason: str) -> NoReturn:
    import pytest  # the mixin alone needs pytest: check_adapter must work without it

    pytest.skip(reason)


class AdapterTests:
    """A pytest mixin that turns every conformance check into a test.

    Subclass it and provide two fixtures: ``adapter`` (a fresh adapter whose object type
    holds no records; give it a small page size) and ``object_type``. Override
    :meth:`remove_record` to enable the deletion checks, and any ``test_*`` method to
    replace a single check. Capability tests skip when the adapter's ``supports_*``
    flag is false. Example::

        class TestNotesAdapter(AdapterTests):
            @pytest.fixture
            def adapter(self, tmp_path):
                return NotesAdapter(tmp_path / "notes.json", page_size=5)

            @pytest.fixture
            def object_type(self):
                return "notes"

            def remove_record(self, adapter, object_type, record_id):
                adapter.client.delete(object_type, record_id)

    .. versionadded:: 0.1
    """

    #: How many records the scan checks create.
    record_count: ClassVar[int] = 12
    #: How many examples :meth:`test_state_machine` runs.
    max_examples: ClassVar[int] = 20
    #: The type to link records to in the association test (the object type by default).
    association_type: ClassVar[str | None] = None

    @override
    def __init_subclass__(cls, **kwargs: Any) -> None:
        super().__init_subclass__(**kwargs)
        if hasattr(cls, "new_adapter"):
            raise TypeError(
                f"{cls.__qualname__}.new_adapter is no longer called: test_state_machine "
                f"runs every example on the adapter of the 'adapter' fixture, and each "
                f"example works only on the records it creates; delete the method"
            )

    def remove_record(self, adapter: Adapter, object_type: str, record_id: str) -> None:
        """Delete a record as the app's users would; override to enable deletion tests."""
        _pytest_skip("adapter cannot remove records in tests")

    def merge_records(
        self, adapter: Adapter, object_type: str, primary_id: str, other_id: str
    ) -> str:
        """Merge two records as the app's users would and return the merged record's id;
        override to enable the merge test (for apps that merge records).

        .. versionadded:: 0.3
        """
        _pytest_skip("adapter cannot merge records in tests")

    def _kit(self, adapter: Adapter, object_type: str) -> _Kit:
        overridden = type(self).remove_record is not AdapterTests.remove_record
        merges = type(self).merge_records is not AdapterTests.merge_records
        return _Kit(
            adapter,
            object_type,
            self.remove_record if overridden else None,
            self.association_type,
            self.record_count,
            self.merge_records if merges else None,
        )

    def _run(self, name: str, adapter: Adapter, object_type: str) -> None:
        try:
            _CHECKS[name](self._kit(adapter, object_type))
        except _Skip as skip:
            _pytest_skip(str(skip))

    def test_schema_describes_the_object_type(self, adapter: Adapter, object_type: str) -> None:
        """The schema is an ObjectSchema named after the type, with writable required fields."""
        self._run("schema_describes_the_object_type", adapter, object_type)

    def test_create_returns_one_result_per_item_and_records_can_be_fetched(
        self, adapter: Adapter, object_type: str
    ) -> None:
        """Create returns one result per item, and fetch returns the written values."""
        self._run(
            "create_returns_one_result_per_item_and_records_can_be_fetched", adapter, object_type
        )

    def test_bad_item_fails_alone_with_the_right_category(
        self, adapter: Adapter, object_type: str
    ) -> None:
        """An unknown or missing required property fails only its item, naming the field."""
        self._run("bad_item_fails_alone_with_the_right_category", adapter, object_type)

    def test_lone_surrogate_fails_its_item_alone(self, adapter: Adapter, object_type: str) -> None:
        """Text with a lone surrogate fails only its item, as validation naming the property."""
        self._run("lone_surrogate_fails_its_item_alone", adapter, object_type)

    def test_update_changes_only_the_named_properties(
        self, adapter: Adapter, object_type: str
    ) -> None:
        """Update changes the named properties, keeps the others, and fails unknown ids alone."""
        self._run("update_changes_only_the_named_properties", adapter, object_type)

    def test_full_scan_is_stable_and_complete(self, adapter: Adapter, object_type: str) -> None:
        """A full scan yields every record exactly once, in the same order every time."""
        self._run("full_scan_is_stable_and_complete", adapter, object_type)

    def test_incremental_scan_right_after_a_full_scan_is_empty(
        self, adapter: Adapter, object_type: str
    ) -> None:
        """scan(since=last cursor) right after a full scan yields nothing."""
        self._run("incremental_scan_right_after_a_full_scan_is_empty", adapter, object_type)

    def test_incremental_scan_yields_updated_and_created_records(
        self, adapter: Adapter, object_type: str
    ) -> None:
        """scan(since=cursor) yields the records updated or created after the cursor."""
        self._run("incremental_scan_yields_updated_and_created_records", adapter, object_type)

    def test_full_scan_page_cursor_resumes_the_scan(
        self, adapter: Adapter, object_type: str
    ) -> None:
        """A full scan resumed from a page's cursor skips no record after that page."""
        self._run("full_scan_page_cursor_resumes_the_scan", adapter, object_type)

    def test_fetch_leaves_out_unknown_ids(self, adapter: Adapter, object_type: str) -> None:
        """Fetch returns the known records and leaves unknown ids out."""
        self._run("fetch_leaves_out_unknown_ids", adapter, object_type)

    def test_removed_records_are_reported_deleted(self, adapter: Adapter, object_type: str) -> None:
        """A removed record is absent from fetch and listed in Page.deleted."""
        self._run("removed_records_are_reported_deleted", adapter, object_type)

    def test_merged_records_are_reported_as_moves(self, adapter: Adapter, object_type: str) -> None:
        """A merged id reads as the merged record, is a move in Page.merged (no deletion),
        and an update sent to it is refused as gone or answered as the merge."""
        self._run("merged_records_are_reported_as_moves", adapter, object_type)

    def test_batches_of_max_batch_size_work(self, adapter: Adapter, object_type: str) -> None:
        """Create, fetch and update accept max_batch_size items in one call."""
        self._run("batches_of_max_batch_size_work", adapter, object_type)

    def test_idempotency_key_replays_the_first_create(
        self, adapter: Adapter, object_type: str
    ) -> None:
        """A create repeated with the same key returns the first id and creates nothing."""
        self._run("idempotency_key_replays_the_first_create", adapter, object_type)

    def test_idempotency_lookup_finds_committed_creates(
        self, adapter: Adapter, object_type: str
    ) -> None:
        """The lookup names the record a create made at once, and nothing for other keys."""
        self._run("idempotency_lookup_finds_committed_creates", adapter, object_type)

    def test_pipelines_have_stages(self, adapter: Adapter, object_type: str) -> None:
        """Every pipeline has distinct stages."""
        self._run("pipelines_have_stages", adapter, object_type)

    def test_associate_links_records(self, adapter: Adapter, object_type: str) -> None:
        """Associate links two records and the link shows in fetched associations."""
        self._run("associate_links_records", adapter, object_type)

    def test_state_machine(self, adapter: Adapter, object_type: str) -> None:
        """Random creates and updates always agree with full and incremental scans.

        Every example runs on the one ``adapter`` of the fixture and works only on the
        records it creates; the records earlier examples left must stay as they are.
        """
        kit = self._kit(adapter, object_type)
        _run_state_machine(
            lambda: adapter,
            object_type,
            probe=adapter,
            remove=kit.remove,
            max_examples=self.max_examples,
            step_count=self.record_count + 8,
            close_each=False,
        )
