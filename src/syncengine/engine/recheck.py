"""Reading entries' records again: retries of failures and queued records (R7, S9),
the reconcile sweep (S6), the duplicates a pass freed (M3), and the records merged into
others that the pass's updates landed on.
"""

from __future__ import annotations

from collections.abc import Iterable, Sequence
from typing import Final

from syncengine._merges import redirects
from syncengine.engine.batch import process
from syncengine.engine.context import CHUNK, Core, Pass, chunks
from syncengine.engine.leases import requeue_orphaned
from syncengine.engine.merges import apply_merges, with_namesakes
from syncengine.engine.ports import as_adapter_error, fetch
from syncengine.entry import Entry
from syncengine.plan import ObjectPlan
from syncengine.records import Record, Side
from syncengine.states import RecordState

__all__ = [
    "RETRY_STATES",
    "read_sides",
    "recheck",
    "recheck_batch",
    "recheck_freed",
    "recheck_merged",
    "retry",
]


def retry(core: Core, ctx: Pass, plan: ObjectPlan, *, queued_only: bool = False) -> None:
    """Retry transient failures and queued entries even if nothing changed (R7, S9).

    With ``queued_only``, only queued entries (the end of an initial sync, whose scans
    may have passed them: a queued entry is never left for good).
    """
    ctx.phase = "retry"
    # First, the records left queued for holders that died before they read it.
    requeue_orphaned(core, ctx, plan)
    states = (RecordState.QUEUED,) if queued_only else RETRY_STATES
    due = (
        e
        for e in ctx.store.entries(core.sync_id, plan.name, states=states, pending=False)
        if e.entry_id not in ctx.queued
        and (e.state is RecordState.QUEUED or (e.category is not None and e.category.is_transient))
    )
    recheck(core, ctx, plan, due)


def recheck(
    core: Core, ctx: Pass, plan: ObjectPlan, entries: Iterable[Entry], *, both: bool = False
) -> None:
    """Fetch the records of some entries and process them as if a scan returned them.

    A pair is read from its hub record (processing it fetches the app's), unless the
    hub record is known to be gone; with ``both``, each side's record is read, so one
    pass learns that both are gone (the reconcile sweep, S6, R6).
    """
    batch: list[Entry] = []
    for entry in entries:
        batch.append(entry)
        if len(batch) >= CHUNK:
            recheck_batch(core, ctx, plan, batch, both)
            batch = []
    if batch:
        recheck_batch(core, ctx, plan, batch, both)


def recheck_batch(
    core: Core, ctx: Pass, plan: ObjectPlan, entries: Sequence[Entry], both: bool = False
) -> None:
    # A pair decided from its hub record was compared in full (deciding it reads the
    # app record too): it is not decided again from its app record, so it is written
    # and counted once. A gone hub record is no such decision: the app's is read.
    decided: set[str] = set()
    for side in Side:
        ids = [
            e.id_on(side)
            for e in entries
            if side in read_sides(e, both) and e.id_on(side.other) not in decided
        ]
        if not ids:
            continue
        adapter = core.adapters[side]
        records: dict[str, Record] = {}
        deleted: list[str] = []
        for chunk in chunks([i for i in ids if i is not None], adapter.max_batch_size):
            try:
                fetched = fetch(core, side, plan.type_on(side), chunk)
            except Exception as exc:
                ctx.report.errors.append(str(as_adapter_error(exc)))
                continue
            moves = redirects(chunk, fetched)
            if moves:
                # A fetch tells the moves of the ids asked: the others of the same merge
                # the index knows by the merged record's identifiers are moved with them.
                merged = {r.id: r for r in fetched.values()}
                moves = with_namesakes(core, ctx, plan, side, moves, merged)
            apply_merges(core, ctx, plan, side, moves, fetched.values())
            records.update((fetched[i].id, fetched[i]) for i in chunk if i in fetched)
            deleted.extend(i for i in chunk if i not in fetched)
        process(core, ctx, plan, side, list(records.values()), deleted, ())
        if side is Side.HUB:
            decided.update(records)


def recheck_merged(core: Core, ctx: Pass, plan: ObjectPlan) -> None:
    """Follow the merges the pass's updates met (``WriteResult.merged``, noted by
    ``ports.call_update``): the update landed on the record the sent one was merged
    into, and its outcome is stored under the sent id. Now that the batches are stored,
    the entries of the old ids are re-paired with the merged record and that record is
    processed, as a page whose ``merged`` named them would be (merges.apply_merges).

    A merged record that cannot be read now is left for later: the old ids still read
    as it, so the next pass finds the merge again (its scan, a fetch or a retry).
    """
    for side in Side:
        moves = ctx.write_merges.pop((plan.name, side), None)
        if not moves:
            continue
        ctx.phase = "merged"
        adapter = core.adapters[side]
        records: dict[str, Record] = {}
        deleted: list[str] = []
        for chunk in chunks(list(dict.fromkeys(moves.values())), adapter.max_batch_size):
            try:
                fetched = fetch(core, side, plan.type_on(side), chunk)
            except Exception as exc:
                ctx.report.errors.append(str(as_adapter_error(exc)))
                moves = {o: n for o, n in moves.items() if n not in chunk}
                continue
            # Merged again since: the old ids live on in the latest record.
            again = redirects(chunk, fetched)
            moves = {o: again.get(n, n) for o, n in moves.items()} | again
            records.update((fetched[i].id, fetched[i]) for i in chunk if i in fetched)
            deleted.extend(i for i in chunk if i not in fetched)
        moves = with_namesakes(core, ctx, plan, side, moves, records)
        apply_merges(core, ctx, plan, side, moves, records.values())
        process(core, ctx, plan, side, list(records.values()), deleted, ())


def recheck_freed(core: Core, ctx: Pass, plan: ObjectPlan) -> None:
    """Recheck the duplicates :func:`~syncengine.engine.duplicates.free_duplicates`
    found, as they are now (M3); rechecks that free more identifiers are followed up
    too."""
    while waiting := ctx.freed.pop(plan.name, None):
        found = ctx.store.get(core.sync_id, plan.name, list(waiting))
        recheck(core, ctx, plan, [found[i] for i in waiting if i in found])


RETRY_STATES: Final = frozenset({RecordState.FAILED, RecordState.QUEUED})


def read_sides(entry: Entry, both: bool) -> tuple[Side, ...]:
    """The sides whose record a recheck of ``entry`` fetches (see ``recheck``)."""
    present = tuple(side for side in Side if entry.id_on(side) is not None)
    if both or len(present) < 2:
        return present
    return (Side.APP,) if entry.deleted is Side.HUB else (Side.HUB,)
