"""The initial sync's creates of hub-only records, a page at a time (phase 3, S3, S8).

When the app holds none of the hub's records (the first initial sync into an empty
app, or the hub records no app record paired with), phase 3 is one create per hub
record: an entry committed as pending with the create's idempotency key, the create,
and the entry written again, synced. :func:`sync_creates` does that for a page of hub
records with plain lists, instead of the per-record ``Item``/``Decision`` pipeline of
:func:`~syncengine.engine.batch.process`, and hands every record it does not take back
to that general path, record by record.

When it applies. Per pass and object sync: a real pass (not a dry run, not the guard's
preflight, not a scale-out worker) that marks its records (the initial sync), no
filters, pipelines or stages, no links (``associations``, or another sync linking to
this one), and no creates whose settlement failed in this pass (on either side). Per
page: no merged records. Per hub record: a valid id met once in the page (not also
listed as deleted), with no index entry of its own (nor one this pass counted under its
entry id), whose identifiers no other record of the page holds and no index entry holds
(before the app's records added since its scan are indexed, ``catch_up``, which only
such a create triggers, as a create decided by the general path does; and after), and whose
decision is to create it in the app (:func:`~syncengine.plan.decide_new`: the decisions
of :func:`~syncengine.plan.decide`, the pure function of the general path; a record the
direction, a required identifier or a conversion keeps out is the general path's).
Its name is leased (S9; one another pass holds goes to the general path, which waits
for it).

What it does, as the general path does it: the entries of the page's creates, each
pending with a new idempotency key and the decision's copies, in one write; one
``create`` call per ``max_batch_size`` records (:func:`~syncengine.engine.ports.call_create`:
a call the app refuses as a whole is narrowed down, X1); then each created record's
entry synced (its keys, the copies, a ``synced`` history item, the pass's mark), and
each failed one's outcome by :func:`~syncengine.engine.execute.outcome_of` itself (a
create whose reply was lost stays pending with its key, to be settled, S8), in one
write, with the page's cursor when the page held nothing else.

Why that is safe. The records taken share no identifier with any other record of the
page or entry of the index, and have no entry of their own: matching each of them
(M1-M3) makes a new entry and nothing else, whatever the order of the page, so
processing them before the page's other records decides every record as processing
the page in one batch would. Their entries are the general path's, field for field:
the pending ones :func:`~syncengine.engine.execute.execute` writes before a create, so
that a process killed between that write and the create (or after it) leaves what the
general path leaves, and the next pass settles it the same way (S8); and the synced
ones :func:`~syncengine.engine.execute.outcome_of` makes of a create that landed,
counted once as the app's ``created``. ``tests/stateful/test_lean_creates.py`` runs
generated initial syncs with this path and without it (:data:`ENABLED`) and compares
the apps, the index and the reports, with kills, lost replies and refused values.
"""

from __future__ import annotations

from collections.abc import Mapping, Sequence
from datetime import datetime
from typing import Any

from syncengine import _passlog
from syncengine.engine.batch import held_back
from syncengine.engine.context import Core, Item, Pass, bad_id
from syncengine.engine.counts import settle_counts
from syncengine.engine.execute import outcome_of
from syncengine.engine.lean import page_keys, plain_pass
from syncengine.engine.leases import lease, unlease
from syncengine.engine.match import catch_up
from syncengine.engine.ports import call_create
from syncengine.engine.settle import announce_key
from syncengine.entry import CursorUpdate, Entry, HistoryItem
from syncengine.errors import AdapterError
from syncengine.index.base import Announced
from syncengine.plan import Apply, CreateIn, ObjectPlan, decide_new_parts
from syncengine.records import NewRecord, Page, Record, Side, WriteResult

__all__ = ["ENABLED", "applies", "sync_creates"]

#: Private switch: ``False`` sends every page to the general path (the differential
#: tests compare the two). Not public API.
ENABLED = True


def applies(core: Core, ctx: Pass, plan: ObjectPlan) -> bool:
    """Whether this pass may take the creates of ``plan``'s hub pages here (see the
    module docstring)."""
    return ENABLED and plain_pass(core, ctx, plan) and plan.sync.direction.flows_from(Side.HUB)


#: One create the lean path makes: the hub record, its keys, the properties to create,
#: the hub and app copies, and the decision (``None`` when decide_new_parts gave the
#: parts: built only if the create fails, see :func:`_decision`).
Create = tuple[
    Record, tuple[str, ...], Mapping[str, Any], Mapping[str, Any], Mapping[str, Any], Apply | None
]


def sync_creates(
    core: Core, ctx: Pass, plan: ObjectPlan, page: Page, cursors: Sequence[CursorUpdate]
) -> tuple[list[Record], Sequence[CursorUpdate]]:
    """Create in the app the hub-only records of one hub page of phase 3 (see the module
    docstring).

    Returns the records left for the general path and the cursors still to store
    (none when this wrote them: the page held nothing else).
    """
    records = page.records
    if page.merged or not records:
        return list(records), cursors
    hub = Side.HUB
    name = plan.name
    deleted = set(page.deleted)
    seen, keyed, holders = page_keys(plan, hub, records)
    counted = ctx.counted
    fit = [
        (record, keys)
        for record, keys in keyed
        if seen[record.id] == 1
        and record.id not in deleted
        and bad_id(record.id) is None
        and ((len(keys) == 1 and holders[keys[0]] == 1) or all(holders[k] == 1 for k in keys))
        and (not counted or (name, f"h:{record.id}") not in counted)
    ]
    if not fit:
        return list(records), cursors
    held = lease(core, ctx, plan, [f"hub:{r.id}" for r, _ in fit])
    try:
        taken = _create(core, ctx, plan, page, cursors, fit, held)
    finally:
        unlease(core, ctx, plan)
    if not taken:
        return list(records), cursors
    rest = [r for r in records if r.id not in taken]
    _passlog.batch(ctx.report, name, hub, ctx.phase, len(taken), 0, quiet=False)
    if not rest and not page.deleted:
        return rest, ()
    return rest, cursors


def _create(
    core: Core,
    ctx: Pass,
    plan: ObjectPlan,
    page: Page,
    cursors: Sequence[CursorUpdate],
    fit: list[tuple[Record, tuple[str, ...]]],
    held: set[str],
) -> set[str]:
    """Decide, announce, create and store the leased records; the ids taken."""
    hub, app = Side.HUB, Side.APP
    sid = core.sync_id
    name = plan.name
    store = ctx.store
    if len(held) < len(fit):  # another pass holds some: the general path waits for them
        fit = [(r, keys) for r, keys in fit if f"hub:{r.id}" in held]
    if not fit:
        return set()
    own = store.record_keys(sid, name, hub, [r.id for r, _ in fit])
    if own:
        fit = [(r, keys) for r, keys in fit if r.id not in own]
    work: list[Create] = []
    for (record, keys), decision in zip(fit, decide_new_parts(plan, hub, fit), strict=True):
        if type(decision) is tuple:  # decide_new's Apply of one create in the app, as parts
            work.append((record, keys, *decision, None))
            continue
        if type(decision) is not Apply or len(decision.writes) != 1:
            continue  # excluded, failed: the general path's
        write = decision.writes[0]
        if not isinstance(write, CreateIn) or write.side is not app:
            continue
        props = write.properties
        work.append((record, keys, props, decision.hub_values, decision.app_values, decision))
    work = _unheld(ctx, sid, name, work)
    if not work:
        return set()
    if ctx.catch_up and (name, app) not in ctx.caught_up:
        # The app's records added since its scan are indexed before the phase's first
        # create into it (M1), as the general path does; one of them may hold a key.
        # Only for a record the general path would create too: one whose identifier an
        # entry holds already is matched there (paired, or a duplicate, M3), not
        # created, and triggers no catch-up, so the app's records added since stay
        # unindexed until a create needs them (or the next pass indexes them).
        first = work[0]
        item = Item(hub, first[0], None, first[0].id)
        if catch_up(core, ctx, plan, app, [(item, _decision(first))]):
            work = _unheld(ctx, sid, name, work)
            if not work:
                return set()
    now = core.clock()
    # What execute announces for a new record's create (S8), as its parts: the store
    # writes the entries announced_entry makes of them (write_announced), without an
    # Entry per create here.
    announced: list[Announced] = []
    sent: list[NewRecord] = []
    for record, keys, properties, hub_values, app_values, _ in work:
        key = announce_key(sid, name, f"h:{record.id}", new=True)
        announced.append((record.id, frozenset(keys), hub_values, app_values, key))
        sent.append(NewRecord(dict(properties), key))
    # Parts built here (ids the port checked, values the decision mapped): written
    # without write's per-entry checks, as the lean path for matched pairs does; new
    # (no entry holds their records, checked above), so the store may insert them
    # without looking for stored ones (one it finds, it writes as write_built would).
    store.write_announced(sid, name, app, announced, at=now)
    results = call_create(core, ctx, app, plan, sent, planned=False)
    history = (HistoryItem(now, "synced", "created on app"),)[-core.history_size :]
    failed: list[Entry] = []
    done: list[tuple[Announced, str]] = []
    for create, parts, result in zip(work, announced, results, strict=True):
        if isinstance(result, AdapterError) or not result.succeeded:
            record, keys = create[0], create[1]
            decision = _decision(create)
            failed.append(_failed(core, ctx, plan, record, keys, decision, parts[4], now, result))
        else:
            # A created record's id is text: the port refused any other
            # (ports.call_create). The store completes the announced entry: the id,
            # synced, the pass's mark, a ``synced`` history item.
            done.append((parts, result.record_id))  # type: ignore[arg-type]
    if done:
        ctx.report.side(name, app).created += len(done)
    alone = len(work) == len(page.records) and not page.deleted
    store.write_announced_created(
        sid,
        name,
        app,
        done,
        at=now,
        mark=ctx.mark,
        history=history,
        entries=failed,
        cursors=held_back(ctx, plan, hub, cursors) if alone else (),
    )
    settle_counts(ctx)
    return {w[0].id for w in work}


def _decision(create: Create) -> Apply:
    """The decision of ``create``: decide_new's ``Apply`` of its parts when
    decide_new_parts gave them."""
    decision = create[5]
    if decision is None:
        return Apply((CreateIn(Side.APP, create[2]),), create[3], create[4])
    return decision


def _unheld(ctx: Pass, sid: str, name: str, work: list[Create]) -> list[Create]:
    """The creates of ``work`` none of whose identifiers an index entry holds (the
    others are the general path's: it matches them), nor an app record this pass left
    queued (the general path leaves them queued too: ``batch.wait_for_claimed``)."""
    wanted = {k for w in work for k in w[1]}
    if not wanted:
        return work
    claimed = ctx.claimed.get((name, Side.APP)) if ctx.claimed else None
    if claimed:
        work = [w for w in work if claimed.isdisjoint(w[1])]
    found = ctx.store.by_keys(sid, name, wanted)
    if not found:
        return work
    return [w for w in work if not any(k in found for k in w[1])]


def _failed(
    core: Core,
    ctx: Pass,
    plan: ObjectPlan,
    record: Record,
    keys: tuple[str, ...],
    decision: Apply,
    key: str,
    now: datetime,
    result: WriteResult | AdapterError,
) -> Entry:
    """The outcome of a create announced with idempotency ``key`` at ``now`` that
    failed, by the general path's own step (a create whose reply was lost stays pending
    with its key, S8)."""
    # The new entry match_batch makes for the record: execute's base.
    base = Entry(
        core.sync_id,
        plan.name,
        f"h:{record.id}",
        now,
        hub_id=record.id,
        keys=frozenset(keys),
    )
    item = Item(Side.HUB, record, None, record.id, keys=keys, new=base)
    entry = outcome_of(
        core,
        ctx,
        plan,
        item,
        decision,
        base,
        [(Side.APP, "create", result)],
        now,
        key,
    )
    assert entry is not None
    return entry
