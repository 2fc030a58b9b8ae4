"""The calls into adapters during a pass: scans, fetches, writes (S8, X1).

Every error an adapter raises is mapped to an :class:`~syncengine.AdapterError` here
(:func:`as_adapter_error`), writes are sent in ``max_batch_size`` chunks and narrowed down
by halves when a chunk fails as a whole (:func:`batched`), and a dry run plans its writes
instead of making them (:func:`call_create`, :func:`call_update`, :func:`call_associate`).
Creates in flight are looked up by idempotency key here too (:func:`created_records`).

Every record id an adapter hands the engine is checked here, where it enters: a record
id is non-empty text (``str``) that is valid Unicode (:func:`~syncengine.engine.context.bad_id`).
A scanned record whose id is not (an ``int`` from a JSON API, ``None``, ``""``, bytes)
fails alone, named in the pass's report with the adapter and the value's ``repr``
(:func:`checked`), and never reaches the index; so does such an id among a page's
deleted or merged ids. A fetch answered with such an id fails the records asked for
(:func:`fetch_others`: those alone). A create answered with one fails its record with
:attr:`~syncengine.ErrorCategory.UNKNOWN` and stays in flight, as a create whose reply
was lost: it may have landed, so settlement finds the record it made, and it is never
sent as a new create again (S8). Ids are refused, never converted: ``str(123)`` would
pair a record with another app's ``"123"`` in one place and not in another.
"""

from __future__ import annotations

from collections.abc import Callable, Iterator, Mapping, Sequence
from typing import Any, Final

from syncengine._merges import redirects
from syncengine.adapters.base import Adapter
from syncengine.engine.context import Core, Item, Pass, bad_id, chunks
from syncengine.entry import Entry
from syncengine.errors import AdapterError, IndexStoreError
from syncengine.index._rowformat import refused_cursor, store_where
from syncengine.plan import ObjectPlan
from syncengine.records import (
    AssociationChange,
    ChangeEvent,
    NewRecord,
    Page,
    Record,
    RecordUpdate,
    Side,
    WriteResult,
    make_record,
)
from syncengine.report import PlannedWrite
from syncengine.states import ErrorCategory, RecordState

__all__ = [
    "ABOUT_THE_APP",
    "LOOKUP_UNSUPPORTED",
    "LandedCreate",
    "as_adapter_error",
    "batched",
    "call_associate",
    "call_create",
    "call_update",
    "checked",
    "created_records",
    "fetch",
    "fetch_others",
    "index_copy",
    "note_events",
    "scan",
]

# Enum members of the per-record path as module constants: on Python 3.11 each
# ``Side.HUB`` is a call through ``EnumType.__getattr__``'s lookup hook.
_SYNCED: Final = RecordState.SYNCED


#: What :func:`created_records` answers when the adapter cannot tell (settle by identifier).
LOOKUP_UNSUPPORTED: Final = None


def _sent(entry: Entry, side: Side) -> NewRecord:
    """The create ``entry`` announced on ``side``, as it was sent (and as a re-send sends it)."""
    values = entry.values_on(side) or {}
    return NewRecord({k: v for k, v in values.items() if v is not None}, entry.pending_key or "")


def created_records(
    adapter: Adapter, object_type: str, side: Side, pending: Sequence[Entry]
) -> dict[str, str] | None:
    """The record each pending create on ``side`` made, by entry id; ``None`` when the
    adapter cannot tell (no lookup, a type it cannot look up, or a create without a key).

    Entries missing from the answer made nothing (or a record deleted since). Asks the
    adapter in batches of its ``max_batch_size``.

    Raises:
        AdapterError: the lookup failed, or answered with something that is not an id.
    """
    if not adapter.supports_idempotency_lookup or any(not e.pending_key for e in pending):
        return LOOKUP_UNSUPPORTED
    made: dict[str, str] = {}
    size = max(1, adapter.max_batch_size)
    for start in range(0, len(pending), size):
        chunk = pending[start : start + size]
        found = adapter.lookup_idempotency_keys(object_type, [_sent(e, side) for e in chunk])
        if found is None:
            return LOOKUP_UNSUPPORTED
        for entry in chunk:
            record_id = found.get(entry.pending_key or "")
            if record_id is None:
                continue
            if type(record_id) is not str or not record_id:
                raise AdapterError(
                    ErrorCategory.UNKNOWN,
                    f"adapter {adapter.name!r}: lookup_idempotency_keys answered "
                    f"{record_id!r:.60} for a key; expected a record id (text)",
                )
            made[entry.entry_id] = record_id
    return made


def fetch(core: Core, side: Side, type_name: str, ids: Sequence[str]) -> Mapping[str, Record]:
    """``side``'s records of ``type_name`` with these ids (one adapter call: the caller
    chunks by ``max_batch_size`` and decides what a failure means for its records).

    Raises:
        AdapterError: the answer holds an id that is not a record id (see
            :func:`fetch_checked`): the call fails as a whole, naming the value.
    """
    got, error, _ = fetch_checked(core, side, type_name, ids)
    if error is not None:
        raise error
    return got


def fetch_checked(
    core: Core, side: Side, type_name: str, ids: Sequence[str]
) -> tuple[Mapping[str, Record], AdapterError | None, set[str]]:
    """``side``'s records with these ids, as :func:`fetch`, and what the answer held
    that is not a record: an error naming it, and the ids asked for that the answer
    does not give as a record with a valid id (none when the answer is sound).

    Such an answer cannot say which records are gone: an id missing from it is not
    read as deleted, but as not read (a failure of its record, ``UNKNOWN``: retried).
    """
    got = core.adapters[side].fetch(type_name, ids)
    for key, record in got.items():
        record_id = record.id
        if (
            type(key) is not str
            or type(record_id) is not str
            or not (key.isascii() and record_id.isascii() and key and record_id)
        ):
            break
    else:
        return got, None, set()
    good: dict[str, Record] = {}
    error: AdapterError | None = None
    for key, record in got.items():
        why = bad_id(key) or bad_id(getattr(record, "id", None))
        if why is None:
            good[key] = record
        elif error is None:
            shown = key if bad_id(key) else getattr(record, "id", None)
            error = AdapterError(
                ErrorCategory.UNKNOWN,
                f"the {side.value} adapter {core.adapters[side].name!r} answered a fetch "
                f"of {type_name!r} with the record id {shown!r:.60}: {why}"
                f"{_TEXT_IDS if not isinstance(shown, str) or not shown else ''}",
            )
    if error is None:
        return got, None, set()
    return good, error, {i for i in ids if i not in good}


#: What a connector author is told when an adapter hands the engine an id that is not text.
_TEXT_IDS: Final = "; an adapter must give every record id as non-empty text (str)"


def checked(
    core: Core,
    ctx: Pass,
    plan: ObjectPlan,
    side: Side,
    page: Page,
    refused: list[Record] | None = None,
) -> Page:
    """``page`` without the record ids that are no record ids (:func:`bad_id`): its
    records with such an id, and such ids among its deleted and merged ids.

    Each fails alone: the pass's report counts it failed on ``side`` once and names it
    (adapter, object type, the value's ``repr``), however many scans of the pass meet
    it. The records left out are added to ``refused``, when given (settlement reads
    them: a create in flight may have made one).
    """
    for record in page.records:
        record_id = record.id
        if type(record_id) is not str or not record_id or not record_id.isascii():
            break
    else:
        if not page.deleted and not page.merged:
            return page  # the common case: only the records' ids to check
        if all(bad_id(i) is None for i in page.deleted) and all(
            bad_id(o) is None and bad_id(n) is None for o, n in page.merged.items()
        ):
            return page
    records: list[Record] = []
    for record in page.records:
        if bad_id(record.id) is None:
            records.append(record)
            continue
        refuse(core, ctx, plan, side, record.id, "record")
        if refused is not None:
            refused.append(record)
    deleted: list[str] = []
    for record_id in page.deleted:
        if bad_id(record_id) is None:
            deleted.append(record_id)
        else:
            refuse(core, ctx, plan, side, record_id, "deleted record")
    merged: dict[str, str] = {}
    for old, new in page.merged.items():
        if bad_id(old) is None and bad_id(new) is None:
            merged[old] = new
        else:
            refuse(core, ctx, plan, side, old if bad_id(old) else new, "merged record")
    return Page(records, page.cursor, deleted, merged)


def refuse(
    core: Core, ctx: Pass, plan: ObjectPlan, side: Side, record_id: object, what: str
) -> None:
    """Fail a record whose id an adapter gave is no record id: counted failed on
    ``side`` and named in the report, once per pass (it has no entry: no index can hold
    it, X1)."""
    why = bad_id(record_id)
    hint = _TEXT_IDS if not isinstance(record_id, str) or not record_id else ""
    message = (
        f"{plan.name}: {side.value} {what} {record_id!r:.80} failed: {why} "
        f"(the {side.value} adapter {core.adapters[side].name!r}, type "
        f"{plan.type_on(side)!r}){hint}"
    )
    if message in ctx.report.errors:
        return  # met by another scan of this pass: counted once (R4)
    ctx.report.errors.append(message)
    ctx.report.side(plan.name, side).failed += 1


def note_events(core: Core, side: Side, events: Sequence[ChangeEvent]) -> None:
    """Tell ``side``'s adapter about the events it was sent, if it listens (an optional
    ``note_events`` method: HubSpot's deletion webhooks slow its "auto" archived sweep)."""
    note = getattr(core.adapters[side], "note_events", None)
    if callable(note):
        note(events)


def scan(
    core: Core,
    ctx: Pass,
    side: Side,
    plan: ObjectPlan,
    since: str | None,
    refused: list[Record] | None = None,
) -> Iterator[Page]:
    """The pages of a scan from ``since``, their ids checked (:func:`checked`: a record
    whose id is no record id fails alone, and is added to ``refused`` when given).

    A cursor the adapter refuses before its first page (a ``ValueError``: not one of its
    cursors) is a damaged cursor of the index, raised as
    :class:`~syncengine.IndexStoreError` naming it, never an app failure."""
    started = False
    pages = None
    try:
        pages = core.adapters[side].scan(plan.type_on(side), since)
        for page in pages:
            started = True
            yield checked(core, ctx, plan, side, page, refused)
    except AdapterError:
        raise
    except ValueError as exc:
        if since is None or started:
            raise as_adapter_error(exc) from exc
        where = store_where(core.index)
        name = plan.type_on(Side.HUB)
        raise IndexStoreError(
            refused_cursor(where, core.sync_id, side, name, since, str(exc))
        ) from exc
    except Exception as exc:
        raise as_adapter_error(exc) from exc
    finally:
        close = getattr(pages, "close", None)
        if close is not None:
            close()


def fetch_others(
    core: Core, ctx: Pass, plan: ObjectPlan, other: Side, items: Sequence[Item]
) -> dict[str, Record]:
    """Fetch the counterparts of a batch; a failed call fails only those records.

    A counterpart the pass's scan of ``other`` read already (``ctx.kept``) is taken from
    there, once, instead of fetched: that scan read it in this pass, and no write of
    this pass went to it since (a record is taken out of ``kept`` when its pair is
    compared, before any write to it). While ``kept`` is held, the counterparts
    compared are noted (``ctx.compared``): their pairs are decided, so their own
    changes are not processed again.
    """
    ids = list(dict.fromkeys(i.other_id for i in items if i.other_id is not None))
    adapter = core.adapters[other]
    fetched: dict[str, Record] = {}
    kept = ctx.kept.get(other)
    compared = ctx.compared.get(other, set())
    changed = None if ctx.compare_all else ctx.changed.get(other)
    if changed is not None:
        # D6: a counterpart its side's changes (read in full this pass) do not hold is
        # as the pair's last sync left it: its index copy is what a fetch would return.
        # A counterpart that changed is read (kept, or fetched): both records are then
        # known fresh, as a conflict needs (the policy sees both current values).
        for item in items:
            other_id = item.other_id
            if other_id is None or other_id in changed or other_id in compared:
                continue
            copy = index_copy(item, other_id)
            if copy is not None:
                fetched[other_id] = copy
    if kept is not None:
        ctx.compared.setdefault(other, set()).update(ids)
        for record_id in ids:
            record = kept.pop(record_id, None)
            if record is not None:
                fetched[record_id] = record
    ids = [i for i in ids if i not in fetched]
    for chunk in chunks(ids, adapter.max_batch_size):
        try:
            got, error, failed = fetch_checked(core, other, plan.type_on(other), chunk)
        except Exception as exc:
            error, failed, got = as_adapter_error(exc), set(chunk), {}
        if error is not None:
            # Those records alone: an answer holding an id that is not text says
            # nothing about them (not gone, not merged).
            for item in items:
                if item.other_id in failed:
                    item.other_error = error
            if not got:
                continue
        moved = redirects(chunk, got)
        fetched.update((i, r) for i, r in got.items() if i not in moved)
        if moved:
            # Merged into another record: not this pair's counterpart as it stands. The
            # merge is followed once the batch is stored, in this pass, as one an update
            # met (recheck.recheck_merged: the entries re-paired, the merged record
            # processed, the record decided again and counted as it ends); the failure
            # stored meanwhile is retried if the pass cannot read the merged record.
            ctx.write_merges.setdefault((plan.name, other), {}).update(moved)
        for item in items:
            if item.other_id in moved:
                item.other_error = AdapterError(
                    ErrorCategory.UNAVAILABLE,
                    f"the {other.value} record {item.other_id} was merged into "
                    f"{moved[item.other_id]}; the pair follows it when the pass has "
                    "read the merged record",
                )
    return fetched


def index_copy(item: Item, other_id: str) -> Record | None:
    """The counterpart ``other_id`` of ``item``'s pair as its index copy holds it, when
    the pair is synced and settled (no create in flight, nothing deleted); else None."""
    entry = item.pair_with or item.entry
    view = item.view
    if entry is None and view is not None:  # a settled synced pair, read as a view
        if view.id_on(item.side) != item.record_id or view.id_on(item.side.other) != other_id:
            return None
        return make_record(other_id, view.values_on(item.side.other))
    if (
        entry is None
        or entry.state is not _SYNCED
        or entry.pending is not None
        or entry.deleted is not None
        or entry.id_on(item.side) != item.record_id
        or entry.id_on(item.side.other) != other_id
    ):
        return None
    values = entry.values_on(item.side.other)
    return None if values is None else make_record(other_id, values)


def call_associate(
    core: Core, ctx: Pass, side: Side, pairs: Sequence[AssociationChange]
) -> list[WriteResult | AdapterError]:
    adapter = core.adapters[side]
    if ctx.dry_run:
        return [WriteResult.ok(p.from_id) for p in pairs]
    if not adapter.supports_associations:  # refused when built; a flag changed since
        return [
            AdapterError(
                ErrorCategory.ASSOCIATION,
                f"the {side.value} adapter {adapter.name!r} has supports_associations = "
                "False, so the link was not made",
            )
        ] * len(pairs)
    return batched(adapter, pairs, adapter.associate)


def call_create(
    core: Core,
    ctx: Pass,
    side: Side,
    plan: ObjectPlan,
    items: Sequence[NewRecord],
    *,
    planned: bool = True,
    sources: Sequence[str | None] = (),
) -> list[WriteResult | AdapterError]:
    """Create records; a dry run lists them (``planned``) unless the caller does, each
    with the id of the record it comes from (``sources``, in the order of ``items``)."""
    if ctx.dry_run:
        if planned and not core.preflighting:
            for n, item in enumerate(items):
                source = sources[n] if n < len(sources) else None
                ctx.report.planned.append(
                    PlannedWrite(plan.name, side, "create", None, item.properties, source)
                )
        return [WriteResult.ok(f"dry-run-{next(ctx.fake_ids)}") for _ in items]
    adapter = core.adapters[side]
    results = batched(
        adapter,
        items,
        lambda chunk: adapter.create(plan.type_on(side), chunk),
        resend_unknown=adapter.supports_idempotency_keys is True,
    )
    for n, result in enumerate(results):
        if not isinstance(result, AdapterError) and result.category is None:
            made = result.record_id
            if type(made) is not str or not made or (not made.isascii() and bad_id(made)):
                results[n] = _unusable_create(adapter, side, plan, made)
    return results


class LandedCreate(AdapterError):
    """A create an app without idempotency keys answered as done, with an id that is no
    record id: it landed, for sure. Settlement never reads it as one that made nothing
    (and sends it again, making a second record), even when no changed record holds its
    identifiers (S8); it stays in flight until a record of the app that holds them is
    read with a text id, and pairs with it then."""


def _unusable_create(adapter: Adapter, side: Side, plan: ObjectPlan, made: object) -> AdapterError:
    """A create the adapter says succeeded, answered with an id that is no record id.

    The create landed, but no index can hold that id: it fails with ``UNKNOWN`` and
    stays in flight, as one whose reply was lost, so settlement finds the record it made
    (by its idempotency key, or by its identifiers) instead of a new create making a
    second one (S8). On an app without idempotency keys it is a :class:`LandedCreate`.
    """
    why = bad_id(made) or "its id is not text (str)"
    hint = _TEXT_IDS if not isinstance(made, str) or not made else ""
    kind = AdapterError if adapter.supports_idempotency_keys is True else LandedCreate
    return kind(
        ErrorCategory.UNKNOWN,
        f"the {side.value} adapter {adapter.name!r} answered a create of a "
        f"{plan.type_on(side)!r} record as done with the id {made!r:.60}, but {why}{hint}; "
        "the create may have "
        "landed, so it stays in flight and the next pass settles it (rule S8)",
    )


def call_update(
    core: Core,
    ctx: Pass,
    side: Side,
    plan: ObjectPlan,
    items: Sequence[RecordUpdate],
    *,
    planned: bool = True,
) -> list[WriteResult | AdapterError]:
    """Update records; a dry run lists them (``planned``) unless the caller does."""
    if ctx.dry_run:
        for item in () if core.preflighting or not planned else items:
            ctx.report.planned.append(
                PlannedWrite(plan.name, side, "update", item.id, item.properties)
            )
        return [WriteResult.ok(item.id) for item in items]
    adapter = core.adapters[side]
    results = batched(adapter, items, lambda chunk: adapter.update(plan.type_on(side), chunk))
    for n, (item, result) in enumerate(zip(items, results, strict=True)):
        if isinstance(result, AdapterError) or result.category is not None:
            continue
        if result.record_id != item.id:
            results[n] = _unusable_update(adapter, side, plan, item.id, result.record_id)
        elif result.merged is not None:
            moves = _merge_of(result.merged, item.id)
            if moves is None:
                results[n] = _unusable_update(
                    adapter, side, plan, item.id, result.record_id, result.merged
                )
            else:
                # Landed on the merged record: the entries follow it once the batch is
                # stored (recheck.recheck_merged, at the end of the pass's scans).
                ctx.write_merges.setdefault((plan.name, side), {}).update(moves)
    return results


def _merge_of(merged: object, sent: str) -> dict[str, str] | None:
    """The moves (old id -> new id) of an update answered as landed on the record
    ``sent`` was merged into (``WriteResult.merged``), or None when they are unusable:
    not a mapping of record ids, or without ``sent`` moved to another record."""
    if not isinstance(merged, Mapping):
        return None
    moves: dict[str, str] = {}
    for old, new in merged.items():
        if bad_id(old) is not None or bad_id(new) is not None:
            return None
        if old != new:
            moves[old] = new
    return moves if sent in moves else None


def _unusable_update(
    adapter: Adapter,
    side: Side,
    plan: ObjectPlan,
    sent: str,
    answered: object,
    merged: object = None,
) -> WriteResult:
    """An update the adapter says succeeded, answered with an id that is not the id of
    the record sent: not text, or another record's (an app may answer an update of a
    merged-away record with the id of the record it was merged into: an adapter says so
    with ``WriteResult.merged_into``), or with a merge that does not move that record
    to another (``merged``).

    Nothing says which record took the update: its record fails ``UNKNOWN`` (retried,
    rule R7), and the next pass reads the record again (finding a merge, if it was one).
    Not an :class:`AdapterError`: ``read_back`` settles only calls that failed as a
    whole, by the record sent, and this reply names another one.
    """
    why = bad_id(answered)
    if why is None:
        why = f"the update was sent to {sent!r}"
    hint = _TEXT_IDS if not isinstance(answered, str) or not answered else ""
    said = f"with the id {answered!r:.60}, but {why}{hint}"
    if merged is not None:
        said = (
            f"on the record {sent!r} was merged into, with the merge {merged!r:.80}, but "
            f"it does not map {sent!r} to another record id (text ids only)"
        )
    return WriteResult.failed(
        ErrorCategory.UNKNOWN,
        f"the {side.value} adapter {adapter.name!r} answered an update of the "
        f"{plan.type_on(side)!r} record {sent!r} as done {said}; which record took it "
        "is unknown, so the record is read and decided again on the next pass",
    )


def as_adapter_error(exc: Exception) -> AdapterError:
    """Map anything an adapter raised to an AdapterError (the one place that does it)."""
    if isinstance(exc, AdapterError):
        return exc
    return AdapterError(ErrorCategory.UNKNOWN, f"{type(exc).__name__}: {str(exc)[:200]}")


#: Whole-call failures that say nothing about the items of the call (the app is down,
#: throttled, or refuses the credentials): never narrowed down, retried on a later pass.
ABOUT_THE_APP: Final = frozenset(
    {ErrorCategory.RATE_LIMITED, ErrorCategory.UNAVAILABLE, ErrorCategory.PERMISSION}
)


def batched(
    adapter: Adapter,
    items: Sequence[Any],
    call: Callable[[Sequence[Any]], Sequence[WriteResult]],
    *,
    resend_unknown: bool = True,
) -> list[WriteResult | AdapterError]:
    """Call a write method in ``max_batch_size`` chunks; one result per item, in order.

    A chunk the adapter rejects as a whole (it raises, or returns a wrong number of
    results) is narrowed down by halves (X1): each half is sent again, and the halves of
    a half that fails, until the items that make the call fail are alone. So one bad
    record fails itself and its neighbours are written, for about ``2 * log2(n)`` extra
    calls per bad record, and never more than ``2 * n - 2`` (when every item fails; as
    many as writing them one by one, twice). Failures that are
    about the app, not the items (``RATE_LIMITED``, ``UNAVAILABLE``, ``PERMISSION``),
    fail the whole chunk at once and are retried on a later pass; so are ``UNKNOWN``
    failures when ``resend_unknown`` is false (a create on an app without idempotency
    keys: an unknown failure may have created records, and a re-send would duplicate
    them; the engine settles such creates by identifier instead, S8).
    """
    out: list[WriteResult | AdapterError] = []
    for chunk in chunks(items, adapter.max_batch_size):
        out.extend(_narrowed(adapter, chunk, call, resend_unknown, None))
    return out


def _call_once(
    adapter: Adapter, chunk: Sequence[Any], call: Callable[[Sequence[Any]], Sequence[WriteResult]]
) -> list[WriteResult] | AdapterError:
    try:
        results = list(call(chunk))
    except Exception as exc:
        return as_adapter_error(exc)
    if len(results) != len(chunk):
        return AdapterError(
            ErrorCategory.UNKNOWN,
            f"adapter {adapter.name!r} returned {len(results)} results for {len(chunk)} items",
        )
    return results


def _narrowed(
    adapter: Adapter,
    chunk: Sequence[Any],
    call: Callable[[Sequence[Any]], Sequence[WriteResult]],
    resend_unknown: bool,
    known: AdapterError | None,
) -> list[WriteResult | AdapterError]:
    """The results of ``chunk`` (``known``: how a call of it failed already), narrowed."""
    outcome = known if known is not None else _call_once(adapter, chunk, call)
    if not isinstance(outcome, AdapterError):
        return list(outcome)
    if (
        len(chunk) == 1
        or outcome.category in ABOUT_THE_APP
        or (outcome.category is ErrorCategory.UNKNOWN and not resend_unknown)
    ):
        return [outcome] * len(chunk)
    middle = len(chunk) // 2
    halves = (chunk[:middle], chunk[middle:])
    tried = [_call_once(adapter, half, call) for half in halves]
    out: list[WriteResult | AdapterError] = []
    for half, result in zip(halves, tried, strict=True):
        if isinstance(result, AdapterError):
            out.extend(_narrowed(adapter, half, call, resend_unknown, result))
        else:
            out.extend(result)
    return out
