"""The passes after the initial sync: incremental (S5, S6), webhook events and
the inbox (S5), and reconcile (S6).
"""

from __future__ import annotations

from collections.abc import Sequence

from syncengine import _inbox, _passlog
from syncengine._merges import redirects
from syncengine.engine.batch import process
from syncengine.engine.context import Core, Pass, chunks, emit
from syncengine.engine.guard import preflight
from syncengine.engine.initial import initial_sync
from syncengine.engine.lifecycle import begin, end, settle, skipped
from syncengine.engine.match import index_side
from syncengine.engine.merges import apply_merges
from syncengine.engine.ports import as_adapter_error, scan
from syncengine.engine.recheck import recheck, recheck_freed, retry
from syncengine.errors import (
    SyncDisabledError,
)
from syncengine.index._entry import CursorUpdate
from syncengine.records import (
    ChangeEvent,
    Side,
)
from syncengine.report import SyncReport

__all__ = ["drain", "drain_inbox", "handle", "handle_events", "incremental_sync", "reconcile"]


@_passlog.recorded("incremental")
def incremental_sync(
    core: Core, dry_run: bool = False, *, allow_mass_changes: bool = False
) -> SyncReport:
    """Process what changed since the last pass, from each app's cursor (S5, S6, R7).

    Only changed records are read; entries whose last attempt failed transiently (or
    that were queued) are retried; then the webhook events kept in the index's inbox
    are processed and removed (see :meth:`drain_inbox`). Before the initial sync has
    completed, this resumes the initial sync instead.

    Args:
        dry_run: Decide, write nothing, and list the planned writes (R9).
        allow_mass_changes: Let the pass update more than ``max_change_ratio`` of a
            side's records (see :class:`~syncengine.SafetyStop`).
    """
    if not core.enabled:
        return skipped(core, "incremental", dry_run, "the sync is disabled")
    if core.initial_sync_running:
        return initial_sync(core, dry_run, allow_mass_changes=allow_mass_changes)
    if not dry_run and not allow_mass_changes:
        preflight(core, lambda: incremental_sync(core, dry_run=True), "incremental")
    ctx = begin(core, "incremental", dry_run)
    ctx.guarded = not allow_mass_changes
    sid = core.sync_id
    for plan in core.order:
        settle(core, ctx, plan)
    for plan in core.order:
        # Index the app's new records first, so a record added to both apps since the
        # last pass pairs instead of being created twice (M1, as S3's phase 1 does).
        ctx.phase = "index_app"
        for page in scan(core, Side.APP, plan, ctx.store.cursor(sid, Side.APP, plan.name)):
            apply_merges(core, ctx, plan, Side.APP, page.merged, page.records)
            index_side(core, ctx, plan, Side.APP, page.records, ())
        for side in Side:
            ctx.phase = f"poll_{side.value}"
            ctx.processed = 0
            since = ctx.store.cursor(sid, side, plan.name)
            for page in scan(core, side, plan, since):
                apply_merges(core, ctx, plan, side, page.merged, page.records)
                cursors = (
                    [CursorUpdate(sid, side, plan.name, page.cursor)]
                    if page.cursor is not None
                    else []
                )
                process(core, ctx, plan, side, page.records, page.deleted, cursors)
                ctx.processed += len(page.records) + len(page.deleted)
                emit(core, ctx, "phase_progress", plan.name)
        recheck_freed(core, ctx, plan)
        retry(core, ctx, plan)
    drain(core, ctx)  # webhook events kept since the last pass (docs/how-to/hubspot.md)
    return end(core, ctx)


@_passlog.recorded("events")
def handle_events(
    core: Core, side: Side, events: Sequence[ChangeEvent], *, allow_mass_changes: bool = False
) -> SyncReport:
    """Process changes pushed by an app (webhooks), without scanning (S5).

    Events name the object type the way ``side`` names it. Duplicated and out-of-order
    events are fine: each record is fetched as it is now. Events of types that no
    object sync covers are ignored (noted in ``report.errors``).

    Before the records are processed, the other app's records changed since its last
    poll are indexed (one change scan per object type, cursor unmoved), so that a
    record added to both apps pairs instead of being created twice (M1). Batch
    events, and keep incremental passes running so that this scan stays short.

    Raises:
        SyncDisabledError: when the sync is off, so a webhook receiver can answer with a
            retryable status and lose nothing.
    """
    side = Side(side)
    if not core.enabled:
        raise SyncDisabledError(f"sync {core.sync_id!r} is disabled; events not processed")
    if core.initial_sync_running:
        # The initial sync reads every record and its poll cursors cover changes made
        # meanwhile; processing an event now would bypass its matching (S3).
        return skipped(
            core,
            "events",
            False,
            "the initial sync is running; it and the next incremental pass pick these changes up",
        )
    ctx = begin(core, "events", dry_run=False)
    ctx.guarded = not allow_mass_changes
    handle(core, ctx, side, events)
    return end(core, ctx)


@_passlog.recorded("events")
def drain_inbox(core: Core, *, allow_mass_changes: bool = False) -> SyncReport:
    """Process the webhook events kept in the index's inbox, without scanning (S5).

    Incremental passes drain the inbox too; call this between them (a worker loop,
    every few seconds) for changes to sync within seconds of the webhook. Events are
    removed only once processed; a crash or an unavailable app leaves them for the
    next drain (at least once). While the sync is off, or its initial sync runs,
    nothing is drained and the events stay.

    .. versionadded:: 0.2
    """
    if not core.enabled:
        return skipped(core, "events", False, "the sync is disabled")
    if core.initial_sync_running:
        return skipped(core, "events", False, "the initial sync is running")
    ctx = begin(core, "events", dry_run=False)
    ctx.guarded = not allow_mass_changes
    drain(core, ctx)
    return end(core, ctx)


def drain(core: Core, ctx: Pass) -> None:
    """Process the inbox's events in this pass; remove them once processed."""
    _inbox.drain(
        ctx.store,
        core.sync_id,
        lambda side, events: handle(core, ctx, side, events),
        remove=not ctx.dry_run,
        errors=ctx.report.errors,
    )


def handle(core: Core, ctx: Pass, side: Side, events: Sequence[ChangeEvent]) -> None:
    ctx.phase = "events"
    by_type: dict[str, dict[str, None]] = {}
    for event in events:
        by_type.setdefault(event.object_type, {})[event.record_id] = None
    for type_name, ids in by_type.items():
        obj = core.config.object_for(side, type_name)
        if obj is None:
            ctx.report.errors.append(f"{side.value} type {type_name!r} is not synced")
            continue
        plan = core.plans[obj.hub_type]
        # Creates a crash or a lost reply left in flight are settled first, as every
        # pass does: an event for their record must not create it again (S8).
        settle(core, ctx, plan)
        # The other app's records added since its last poll are indexed first (as an
        # incremental pass does), so an event for a record added to both apps pairs
        # it instead of creating it a second time (M1). The cursor is not moved: the
        # next poll still processes those records.
        ctx.phase = f"index_{side.other.value}"
        since = ctx.store.cursor(core.sync_id, side.other, plan.name)
        for page in scan(core, side.other, plan, since) if since is not None else ():
            index_side(core, ctx, plan, side.other, page.records, ())
        ctx.phase = "events"
        adapter = core.adapters[side]
        for chunk in chunks(list(ids), adapter.max_batch_size):
            try:
                fetched = adapter.fetch(plan.type_on(side), chunk)
            except Exception as exc:
                ctx.report.errors.append(str(as_adapter_error(exc)))
                raise as_adapter_error(exc) from exc
            # An id merged into another record reads as that record: re-pair first.
            apply_merges(core, ctx, plan, side, redirects(chunk, fetched), fetched.values())
            records = list({fetched[i].id: fetched[i] for i in chunk if i in fetched}.values())
            deleted = [i for i in chunk if i not in fetched]
            process(core, ctx, plan, side, records, deleted, ())
            ctx.processed += len(chunk)


@_passlog.recorded("reconcile")
def reconcile(core: Core, dry_run: bool = False, *, allow_mass_changes: bool = False) -> SyncReport:
    """Compare both apps in full against the index and repair what differs (S6).

    Recovers lost webhooks, dropped requests and deletions that no cursor reported.
    Costs a full scan of both apps.
    """
    if not core.enabled:
        return skipped(core, "reconcile", dry_run, "the sync is disabled")
    if core.initial_sync_running:
        return initial_sync(core, dry_run, allow_mass_changes=allow_mass_changes)
    if not dry_run and not allow_mass_changes:
        preflight(core, lambda: reconcile(core, dry_run=True), "reconcile")
    ctx = begin(core, "reconcile", dry_run, compare_all=True)
    ctx.guarded = not allow_mass_changes
    sid = core.sync_id
    run = int(ctx.store.get_meta(sid, "reconcile_run") or 0) + 1
    if not dry_run:
        ctx.store.set_meta(sid, "reconcile_run", str(run))
    ctx.mark = f"r{run}"
    for plan in core.order:
        settle(core, ctx, plan)
    for plan in core.order:
        ctx.phase = "index_app"  # as in incremental_sync: new app records pair (M1)
        for page in scan(core, Side.APP, plan, None):
            apply_merges(core, ctx, plan, Side.APP, page.merged, page.records)
            index_side(core, ctx, plan, Side.APP, page.records, ())
        for side in Side:
            ctx.phase = f"reconcile_{side.value}"
            ctx.processed = 0
            for page in scan(core, side, plan, None):
                apply_merges(core, ctx, plan, side, page.merged, page.records)
                # A pair processed from the hub's scan was compared in full (both
                # records read): its app record is skipped, so it is decided, written
                # and counted once.
                process(core, ctx, plan, side, page.records, (), (), skip_marked=True)
                ctx.processed += len(page.records)
                emit(core, ctx, "phase_progress", plan.name)
        # Entries neither scan saw: their records are gone on a side.
        ctx.phase = "reconcile_sweep"
        unseen = (
            e for e in ctx.store.entries(sid, plan.name) if e.mark != ctx.mark and e.pending is None
        )
        recheck(core, ctx, plan, unseen, both=True)
    return end(core, ctx)
