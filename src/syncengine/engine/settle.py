"""Creates in flight, settled (rule S8).

A create is announced in the index as *pending*, with an idempotency key, before it is
sent. One whose reply was lost (a crash, a timeout) is settled by the next pass, before
it processes anything: by asking the app which keys made a record (when the adapter can
tell), by pairing it with the record that holds its identifiers, or by sending it again
with its key; one that made nothing is plain again. Also here: what a batch does while a
side's settlement failed (:func:`defer`), and the entries a re-sent create absorbs.
"""

from __future__ import annotations

import itertools
import os
from collections.abc import Callable, Sequence
from datetime import datetime
from typing import Final

from syncengine import _passlog
from syncengine.engine.context import Core, Pass, bad_id, chunks
from syncengine.engine.counts import count_outcome, uncount
from syncengine.engine.leases import lease, unlease
from syncengine.engine.ports import as_adapter_error, call_create, created_records, scan
from syncengine.entry import CorruptEntry, Entry
from syncengine.errors import AdapterError
from syncengine.plan import Apply, CreateIn, Decision, Fail, ObjectPlan, identify
from syncengine.records import NewRecord, Record, Side, WriteResult
from syncengine.states import ErrorCategory, RecordState
from syncengine.transitions import add_history, evolve, with_id

__all__ = [
    "NEW_KEY",
    "absorb",
    "after_create",
    "announce_key",
    "defer",
    "has_landed",
    "is_new_create",
    "landed_key",
    "made_by",
    "made_nothing",
    "namesakes",
    "resend_deferred",
    "send_again",
    "settle_by_lookup",
    "settle_pending",
    "unannounced",
    "unclaimed",
]

#: What an idempotency key's last part starts with when its create is a new record's:
#: the entry held no copies before it was announced (not a hex digit, so never part of
#: the random tail of a key written before it existed).
NEW_KEY: Final = "n"


def announce_key(sync_id: str, object_type: str, entry_id: str, *, new: bool) -> str:
    """A new idempotency key for a create of entry ``entry_id``'s record, as announced
    (S8).

    The key also tells settlement what the entry was before its announcement: a new
    record's create (``new``: the entry held no copies) is marked, so that a create
    that made nothing, or that the app refuses when it is sent again, leaves the entry
    without the copies it was announced with (:func:`unannounced`), as a first refusal
    does; any other create (a restored pair, R6) keeps its copies.
    """
    tail = os.urandom(6).hex()
    return f"{sync_id}:{object_type}:{entry_id}:{NEW_KEY if new else ''}{tail}"


def is_new_create(key: str | None) -> bool:
    """Whether ``key`` is that of a new record's create (see :func:`announce_key`)."""
    return key is not None and key.rpartition(":")[2].startswith(NEW_KEY)


#: The end of the key of a create in flight known to have landed (see :func:`landed_key`).
LANDED: Final = "~landed"


def landed_key(key: str) -> str:
    """``key``, marked as that of a create that may have made a record no index can
    hold: the app answered it as done with an id that is no record id
    (:class:`~syncengine.engine.ports.LandedCreate`), or a record holding its
    identifiers was read with such an id. Only for an app without idempotency keys,
    which never reads the key. Settlement keeps such a create in flight until a record
    holding its identifiers is read with a text id: it is never read as one that made
    nothing (and sent again, making a second record)."""
    return key if key.endswith(LANDED) else f"{key}{LANDED}"


def has_landed(key: str | None) -> bool:
    """Whether ``key`` is marked by :func:`landed_key`."""
    return key is not None and key.endswith(LANDED)


def unannounced(entry: Entry, key: str | None = None) -> Entry:
    """``entry`` without the copies of a new record's create announced with ``key``
    (its own ``pending_key`` by default): what it held before the announcement. A
    create that never made a record leaves no copies of it (they hold the values sent,
    which no record of the app holds), so its filters still apply (L2)."""
    if is_new_create(key if key is not None else entry.pending_key) and (
        entry.hub_values is not None or entry.app_values is not None
    ):
        return evolve(entry, hub_values=None, app_values=None)
    return entry


def settle_pending(
    core: Core,
    ctx: Pass,
    plan: ObjectPlan,
    process: Callable[[Side, list[Record]], None],
    recheck: Callable[[list[Entry]], None],
) -> None:
    """Finish creates a crash or a lost reply left in flight (S8).

    A create in flight either happened (its reply was lost) or not (a crash came
    first). The side's records changed since its last scan are read first: a pending
    entry with one record sharing its identifiers (or one of several that holds what
    was sent) pairs with it (M1), whether the create made it or someone added it
    meanwhile, so no second record is made next to it. The other creates are sent
    again with their idempotency keys: an app that made the record answers with it,
    one that did not makes it now. Adapters without idempotency keys are settled by
    identifier only: a create none of whose identifiers the side's changed records
    hold made nothing, and its entry is plain again (its record is decided anew).
    """
    pending = list(
        itertools.islice(ctx.store.entries(core.sync_id, plan.name, pending=True), 10_000)
    )
    settled: list[Entry] = []
    for side in Side:
        mine = unclaimed(core, ctx, plan, side, [e for e in pending if e.pending is side])
        if not mine:
            unlease(core, ctx, plan)
            continue
        pair: dict[str, Record] = {}  # the records that pair with a pending entry
        try:
            looked_up = settle_by_lookup(core, ctx, plan, side, mine)
            if looked_up is not None:  # the app said which creates happened
                settled.extend(looked_up)
                continue
            adapter = core.adapters[side]
            keyed = adapter.supports_idempotency_keys
            taken: set[str] = set()  # entries whose identifier a pair's record holds
            blocked: set[str] = set()  # ... or a record whose id is not text holds
            scanned = namesakes(core, ctx, plan, side, mine, taken, blocked)
            found = scanned or {}
            resend: list[Entry] = []
            unmade: list[Entry] = []
            if not keyed and scanned is not None:
                # A create the app answered as done (with an id no index can hold) made
                # a record, whether or not a changed record holds its identifiers now.
                blocked.update(
                    e.entry_id
                    for e in mine
                    if has_landed(e.pending_key) and not found.get(e.entry_id)
                )
            if blocked:
                # That record may be the one the create made (its reply, too, may have
                # held no usable id): the create stays in flight, never sent as a new
                # one next to it, and the side's new records wait (as for a failed
                # lookup) until the adapter gives the record a text id. On an app
                # without idempotency keys this is kept (the key marked as landed's):
                # the next passes' change scans no longer hold that record, and must
                # not read the create as one that made nothing.
                if not keyed:
                    marks = [
                        evolve(e, pending_key=landed_key(e.pending_key))
                        for e in mine
                        if e.entry_id in blocked
                        and e.pending_key is not None
                        and not has_landed(e.pending_key)
                    ]
                    if marks:
                        ctx.store.write(marks)
                ctx.unsettled.setdefault(
                    (plan.name, side),
                    AdapterError(
                        ErrorCategory.UNKNOWN,
                        f"a {side.value} record holding the identifiers of a create in "
                        "flight has an id that is not text (see the report's errors)",
                    ),
                )
            for entry in mine:
                if entry.entry_id in blocked:
                    continue
                chosen = made_by(side, entry, found.get(entry.entry_id, ()), keyed)
                if chosen is not None:
                    pair[chosen.id] = chosen
                elif keyed and entry.entry_id in taken and not found.get(entry.entry_id):
                    # Re-sent, a create that never happened would be made next to a
                    # pair that took its identifier meanwhile (M3): decided anew.
                    unmade.append(entry)
                elif keyed and entry.pending_key is not None:
                    resend.append(entry)
                elif not keyed and scanned is not None:
                    unmade.append(entry)
            if unmade:
                # No record of an app without idempotency keys shares their identifiers:
                # their creates made nothing.
                made_nothing(core, ctx, side, unmade)
            returned: set[str] = set()
            if resend:
                made = send_again(core, ctx, plan, side, resend)
                settled.extend(made)
                returned = {rid for e in made if (rid := e.id_on(side)) is not None}
            if returned.intersection(pair):
                # A record a re-sent create returned is that create's: the entries that
                # would have paired with it choose again, or send their create again.
                pair = {}
                again: list[Entry] = []
                sent = {e.entry_id for e in resend}
                for entry in mine:
                    if entry.entry_id in sent:
                        continue
                    left = [r for r in found.get(entry.entry_id, ()) if r.id not in returned]
                    chosen = made_by(side, entry, left, keyed)
                    if chosen is not None:
                        pair[chosen.id] = chosen
                    elif entry.entry_id in taken and not left:
                        made_nothing(core, ctx, side, [entry])  # as above (M3)
                    elif keyed and entry.pending_key is not None:
                        again.append(entry)
                settled.extend(send_again(core, ctx, plan, side, again))
        finally:
            unlease(core, ctx, plan)
        if pair:
            process(side, list(pair.values()))
    if settled:
        # A settled record may have changed since its create was sent (and been seen
        # then as a new record): compare both records with the copy now.
        recheck(settled)


def made_nothing(core: Core, ctx: Pass, side: Side, entries: Sequence[Entry]) -> None:
    """Creates in flight that made nothing: their entries are plain again, a new
    record's without the copies it was announced with (:func:`unannounced`).

    A record that still needs its create gets a new one, one that is deleted or now a
    duplicate (M3) is forgotten or excluded like any other (S8, R6).
    """
    now = core.clock()
    ctx.store.write(
        [
            evolve(
                unannounced(e),
                pending=None,
                pending_key=None,
                updated_at=now,
                history=add_history(
                    core.history_size, e, now, "settled", f"nothing made on {side.value}"
                ),
            )
            for e in entries
        ]
    )


def settle_by_lookup(
    core: Core, ctx: Pass, plan: ObjectPlan, side: Side, pending: Sequence[Entry]
) -> list[Entry] | None:
    """Settle creates in flight by asking the app which of them happened (S8).

    The settled entries; ``None`` when the adapter cannot tell (see
    :mod:`syncengine._settle`). A create that made a record is created, with that
    record, unless another pair holds it (that pair's record, M3); the others made
    nothing, for sure: their entries are plain again, so no create is re-sent next to
    namesakes added meanwhile. A failed lookup leaves them in flight, and the side's
    new records wait for them (``ctx.unsettled``).
    """
    try:
        made = created_records(core.adapters[side], plan.type_on(side), side, pending)
    except Exception as exc:  # any adapter failure defers the settlement
        ctx.unsettled.setdefault((plan.name, side), as_adapter_error(exc))
        return []
    if made is None:
        return None
    held = ctx.store.by_record_ids(core.sync_id, plan.name, side, list(set(made.values())))
    now = core.clock()
    created: list[Entry] = []
    unmade: list[Entry] = []
    taken: set[str] = set()
    for entry in pending:
        record_id = made.get(entry.entry_id)
        holder = held.get(record_id) if record_id is not None else None
        if type(holder) is CorruptEntry:
            continue  # stays pending: settled once the holder's row is repaired
        if (
            record_id is None
            or record_id in taken
            or bad_id(record_id)
            or (
                holder is not None
                and holder.entry_id != entry.entry_id
                and holder.id_on(side.other) is not None
            )
        ):
            unmade.append(entry)
            continue
        taken.add(record_id)
        created.append(after_create(core, entry, side, WriteResult.ok(record_id), now, ctx))
    if unmade:
        made_nothing(core, ctx, side, unmade)
    if created:
        absorbed = absorb(core, ctx, plan, side, created)
        uncount(core, ctx, plan.name, absorbed)
        ctx.store.write(created, delete=absorbed)
    return created


def unclaimed(
    core: Core, ctx: Pass, plan: ObjectPlan, side: Side, pending: Sequence[Entry]
) -> list[Entry]:
    """The pending entries no other pass is working on, leased for this one (S9).

    A create is in flight while the pass that sent it holds its record's lease; only
    creates whose pass is gone (a crash, or a lost reply in a finished pass) are
    settled here. The others are that pass's to finish.
    """
    if not pending:
        return []
    names = {
        f"{side.other.value}:{source}": e
        for e in pending
        if (source := e.id_on(side.other)) is not None
    }
    held = lease(core, ctx, plan, list(names))
    leased = [
        e
        for e in pending
        if (s := e.id_on(side.other)) is None or f"{side.other.value}:{s}" in held
    ]
    if ctx.compare_all and len(leased) < len(pending):
        mine = {e.entry_id for e in leased}
        queue_held(core, ctx, plan, side.other, [e for e in pending if e.entry_id not in mine])
    if not leased:
        return []
    # The pass that sent a create may have finished it between the read of the pending
    # entries and this lease (it released the lease after storing the outcome): only
    # what is still in flight now, as stored now, is this pass's to settle. A stale
    # copy would settle a finished create again and count it twice (R4).
    fresh = ctx.store.get(core.sync_id, plan.name, [e.entry_id for e in leased])
    return [f for e in leased if (f := fresh.get(e.entry_id)) is not None and f.pending is side]


def queue_held(
    core: Core, ctx: Pass, plan: ObjectPlan, side: Side, entries: Sequence[Entry]
) -> None:
    """A reconcile meets every entry once: the creates in flight another pass still
    holds (it runs, or died on another machine and its leases have not expired) are
    counted queued, as the batch step counts the records it cannot lease (S9, R4). No
    scan may meet them: their record, on ``side``, may be gone.

    Nothing is written to their entries: the holder stores the create's outcome itself,
    and a mark written here, read before and written after, would overwrite that
    outcome with the pending copy read before (a lost update: the entry pending again,
    its created record paired with nothing). An entry its holder leaves in flight (it
    died) is settled by the next pass that can lease it, as every pending entry is.
    """
    for entry in entries:
        count_outcome(core, ctx, plan.name, entry, ((side, "queued"),))
        ctx.queued.add(entry.entry_id)


def send_again(
    core: Core, ctx: Pass, plan: ObjectPlan, side: Side, entries: Sequence[Entry]
) -> list[Entry]:
    """Send pending creates again with their idempotency keys; the settled entries."""
    settled: list[Entry] = []
    for chunk in chunks(entries, core.adapters[side].max_batch_size):
        items = [
            NewRecord(
                {k: v for k, v in (e.values_on(side) or {}).items() if v is not None},
                e.pending_key or "",
            )
            for e in chunk
        ]
        sources = [e.id_on(side.other) for e in chunk]
        results = call_create(core, ctx, side, plan, items, sources=sources)
        now = core.clock()
        updated = []
        for entry, result in zip(chunk, results, strict=True):
            updated.append(after_create(core, entry, side, result, now, ctx))
            if isinstance(result, AdapterError):
                ctx.unsettled.setdefault((plan.name, side), result)
        absorbed = absorb(core, ctx, plan, side, updated)
        uncount(core, ctx, plan.name, absorbed)
        ctx.store.write(updated, delete=absorbed)
        settled.extend(e for e in updated if e.pending is None and e.state is RecordState.SYNCED)
    return settled


def namesakes(
    core: Core,
    ctx: Pass,
    plan: ObjectPlan,
    side: Side,
    pending: Sequence[Entry],
    taken: set[str] | None = None,
    blocked: set[str] | None = None,
) -> dict[str, list[Record]] | None:
    """``side``'s records changed since its last scan that share identifiers with each
    pending entry, by entry id (in scan order); ``None`` when the side was never
    scanned (its first scan pairs them).

    A record another entry pairs with is left out: it is that pair's record, not one
    this create made, even when it took the create's identifier meanwhile (S8, M3).
    The ids of the entries such a record shares identifiers with are added to
    ``taken``; those of the entries a record whose id is not text shares identifiers
    with (it fails alone, X1, but may be the record the create made) to ``blocked``.
    """
    sid = core.sync_id
    since = None
    if core.initial_sync_running:
        since = ctx.store.cursor(sid, side, plan.name, "initial_poll")
    since = since or ctx.store.cursor(sid, side, plan.name)
    if since is None:
        return None  # the side was never scanned: its scan pairs them
    by_key: dict[str, list[str]] = {}
    for entry in pending:
        for key in entry.keys:
            if not key.startswith("~"):
                by_key.setdefault(key, []).append(entry.entry_id)
    found: dict[str, dict[str, Record]] = {}
    refused: list[Record] = []
    for page in scan(core, ctx, side, plan, since, refused):
        for record in page.records:
            if bad_id(record.id):
                continue  # no entry can hold it (X1): never the record a create made
            for key in identify(plan, side, record.properties):
                for entry_id in by_key.get(key, ()):
                    found.setdefault(entry_id, {})[record.id] = record
    if blocked is not None:
        for record in refused:
            for key in identify(plan, side, record.properties):
                blocked.update(by_key.get(key, ()))
    ids = {record_id for records in found.values() for record_id in records}
    known = ctx.store.by_record_ids(sid, plan.name, side, list(ids)) if ids else {}
    other = side.other
    if taken is not None:
        taken.update(
            entry_id
            for entry_id, records in found.items()
            for record_id in records
            if (held := known.get(record_id)) is not None
            and held.entry_id != entry_id
            and held.id_on(other) is not None
        )
    return {
        entry_id: [
            record
            for record_id, record in records.items()
            if (held := known.get(record_id)) is None
            or held.entry_id == entry_id
            or held.id_on(other) is None
        ]
        for entry_id, records in found.items()
    }


def absorb(
    core: Core, ctx: Pass, plan: ObjectPlan, side: Side, made: Sequence[Entry]
) -> list[tuple[str, str, str]]:
    """The other entries of records a re-sent create returned, to delete (S8).

    A create sent again with the key of one whose reply was lost answers with the
    record made then, which a scan may have indexed meanwhile as a new, unpaired
    record; that entry is merged into the pair (its identifiers are the pair's).
    """
    ids = {rid: e.entry_id for e in made if (rid := e.id_on(side)) is not None}
    if not ids:
        return []
    known = ctx.store.by_record_ids(core.sync_id, plan.name, side, list(ids))
    return [
        (core.sync_id, plan.name, e.entry_id)
        for record_id, e in known.items()
        if e.entry_id != ids[record_id]
        and e.id_on(side.other) is None
        and e.pending is None
        and type(e) is not CorruptEntry  # left as it is, until repaired
    ]


def after_create(
    core: Core,
    entry: Entry,
    side: Side,
    result: WriteResult | AdapterError,
    now: datetime,
    ctx: Pass,
) -> Entry:
    if isinstance(result, WriteResult) and result.succeeded and result.record_id:
        count_outcome(core, ctx, entry.object_type, entry, ((side, "created"),))
        return evolve(
            with_id(entry, side, result.record_id),
            state=RecordState.SYNCED,
            pending=None,
            pending_key=None,
            category=None,
            reason=None,
            message="",
            attempts=0,
            updated_at=now,
            history=add_history(
                core.history_size, entry, now, "created", f"on {side.value} (settled)"
            ),
        )
    count_outcome(core, ctx, entry.object_type, entry, ((side, "failed"),))
    _passlog.record_failed(
        core.sync_id, entry, result.category, result.message, quiet=core.preflighting
    )
    if isinstance(result, AdapterError):
        return evolve(
            entry,
            state=RecordState.FAILED,
            category=result.category,
            message=result.message,
            attempts=entry.attempts + 1,
            updated_at=now,
        )
    return evolve(
        unannounced(entry),  # refused: the create made nothing, as when first sent
        state=RecordState.FAILED,
        pending=None,
        pending_key=None,
        category=result.category,
        message=result.message,
        attempts=entry.attempts + 1,
        updated_at=now,
        history=add_history(core.history_size, entry, now, "failed", result.message),
    )


def defer(side: Side, error: AdapterError, decision: Decision) -> Decision:
    """A create into the other side, postponed while ``side`` has unsettled creates.

    A record a create in flight made, changed since so that it matches nothing, would
    otherwise be created back in the other app (S8). It fails with the settlement's
    transient error and is retried on the next pass, once the creates are settled.
    """
    if isinstance(decision, Apply) and isinstance(decision.write_on(side.other), CreateIn):
        return Fail(
            error.category,
            f"waits for the creates in flight on the {side.value} side to settle "
            f"(rule S8): {error.message}",
        )
    return decision


def resend_deferred(
    base: Entry | None, into: Side, error: AdapterError, decision: Decision
) -> Decision:
    """``decision``, unless it sends again a create in flight into ``into`` whose
    settlement failed in this pass (``error``): then a failure with that transient error.

    The settlement is what tells whether that create made a record, and whether a record
    the side gained meanwhile holds its identifier (M3); a create sent again outside it,
    next to such a namesake, would make a duplicate of it. The entry stays in flight and
    the next pass settles it.
    """
    if (
        base is not None
        and base.pending is into
        and isinstance(decision, Apply)
        and isinstance(decision.write_on(into), CreateIn)
    ):
        return Fail(
            error.category,
            f"waits for its create in flight on the {into.value} side to settle "
            f"(rule S8): {error.message}",
        )
    return decision


def made_by(side: Side, entry: Entry, namesakes: Sequence[Record], keyed: bool) -> Record | None:
    """The record that settles ``entry``'s create in flight by identifier, if one does.

    One namesake: that one (the create's record, or one added meanwhile while the create
    never happened: pairing it makes no second record either way). Several: when the app
    takes idempotency keys, none (sending the create again names the record it made, and
    the others are duplicates, M3); otherwise the first.
    """
    if not namesakes or (keyed and len(namesakes) > 1):
        return None
    return namesakes[0]
