"""The passes after the initial sync: incremental (S5, S6), webhook events and
the inbox (S5), and reconcile (S6).
"""

from __future__ import annotations

from collections.abc import Iterable, Sequence
from typing import Final

import attrs

from syncengine import _inbox, _passlog
from syncengine._merges import redirects
from syncengine._owner import ends_its_passes
from syncengine.engine.batch import process
from syncengine.engine.context import Core, Pass, chunks, emit
from syncengine.engine.initial import initial_sync, paused_collector
from syncengine.engine.lifecycle import end, open_pass, settle, skipped
from syncengine.engine.match import index_side
from syncengine.engine.merges import apply_merges
from syncengine.engine.ports import as_adapter_error, fetch, note_events, scan
from syncengine.engine.recheck import recheck, recheck_freed, recheck_merged, retry
from syncengine.entry import CursorUpdate
from syncengine.errors import SyncDisabledError
from syncengine.plan import ObjectPlan
from syncengine.records import ChangeEvent, Page, Side
from syncengine.report import SyncReport

__all__ = [
    "KEEP_LIMIT",
    "drain",
    "drain_inbox",
    "handle",
    "handle_events",
    "incremental_sync",
    "keeps_reads",
    "reconcile",
    "scan_sides",
]


@ends_its_passes
@_passlog.recorded("incremental")
def incremental_sync(
    core: Core, dry_run: bool = False, *, allow_mass_changes: bool = False
) -> SyncReport:
    """Process what changed since the last pass, from each app's cursor (S5, S6, R7).

    What :meth:`SyncEngine.incremental_sync <syncengine.SyncEngine.incremental_sync>` does.
    """
    if not core.enabled:
        return skipped(core, "incremental", dry_run, "the sync is disabled")
    if core.initial_sync_running:
        return initial_sync(core, dry_run, allow_mass_changes=allow_mass_changes)
    ctx = open_pass(
        core,
        "incremental",
        dry_run,
        allow_mass_changes,
        lambda: incremental_sync(core, dry_run=True),
    )
    for plan in core.order:
        scan_sides(core, ctx, plan, full=False)
        recheck_merged(core, ctx, plan)
        recheck_freed(core, ctx, plan)
        retry(core, ctx, plan)
    drain(core, ctx)  # webhook events kept since the last pass (docs/how-to/hubspot.md)
    return end(core, ctx)


@ends_its_passes
@_passlog.recorded("events", frequent=True)
def handle_events(
    core: Core, side: Side, events: Sequence[ChangeEvent], *, allow_mass_changes: bool = False
) -> SyncReport:
    """Process changes pushed by an app (webhooks), without scanning (S5).

    What :meth:`SyncEngine.handle_events <syncengine.SyncEngine.handle_events>` does.
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
    ctx = open_pass(core, "events", False, allow_mass_changes, None, settle_first=False)
    handle(core, ctx, side, events)
    return end(core, ctx)


@ends_its_passes
@_passlog.recorded("events", frequent=True)
def drain_inbox(core: Core, *, allow_mass_changes: bool = False) -> SyncReport:
    """Process the webhook events kept in the index's inbox, without scanning (S5).

    What :meth:`SyncEngine.drain_inbox <syncengine.SyncEngine.drain_inbox>` does.
    """
    if not core.enabled:
        return skipped(core, "events", False, "the sync is disabled")
    if core.initial_sync_running:
        return skipped(core, "events", False, "the initial sync is running")
    ctx = open_pass(core, "events", False, allow_mass_changes, None, settle_first=False)
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
    if not ctx.dry_run:
        note_events(core, side, events)
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
        for page in scan(core, ctx, side.other, plan, since) if since is not None else ():
            index_side(core, ctx, plan, side.other, page.records, ())
        ctx.phase = "events"
        adapter = core.adapters[side]
        for chunk in chunks(list(ids), adapter.max_batch_size):
            try:
                fetched = fetch(core, side, plan.type_on(side), chunk)
            except Exception as exc:
                ctx.report.errors.append(str(as_adapter_error(exc)))
                raise as_adapter_error(exc) from exc
            # An id merged into another record reads as that record: re-pair first.
            apply_merges(core, ctx, plan, side, redirects(chunk, fetched), fetched.values())
            records = list({fetched[i].id: fetched[i] for i in chunk if i in fetched}.values())
            deleted = [i for i in chunk if i not in fetched]
            process(core, ctx, plan, side, records, deleted, ())
            ctx.processed += len(chunk)


@ends_its_passes
@_passlog.recorded("reconcile")
def reconcile(core: Core, dry_run: bool = False, *, allow_mass_changes: bool = False) -> SyncReport:
    """Compare both apps in full against the index and repair what differs (S6).

    What :meth:`SyncEngine.reconcile <syncengine.SyncEngine.reconcile>` does.
    """
    if not core.enabled:
        return skipped(core, "reconcile", dry_run, "the sync is disabled")
    if core.initial_sync_running:
        return initial_sync(core, dry_run, allow_mass_changes=allow_mass_changes)
    ctx = open_pass(
        core,
        "reconcile",
        dry_run,
        allow_mass_changes,
        lambda: reconcile(core, dry_run=True),
        compare_all=True,
        mark="reconcile_run",
    )
    sid = core.sync_id
    for plan in core.order:
        scan_sides(core, ctx, plan, full=True)
        # Entries neither scan saw: their records are gone on a side.
        ctx.phase = "reconcile_sweep"
        unseen = (
            e for e in ctx.store.entries(sid, plan.name) if e.mark != ctx.mark and e.pending is None
        )
        recheck(core, ctx, plan, unseen, both=True)
    return end(core, ctx)


#: The most records (and deletions) of the app's changes a pass keeps in memory from its
#: one scan of them (about 1 KB each): above it, the app's changes are scanned again for
#: its poll, as they were indexed (a pass reads more, but holds no more than this).
KEEP_LIMIT: Final = 10_000


def scan_sides(core: Core, ctx: Pass, plan: ObjectPlan, *, full: bool) -> None:
    """Index the app's new records, then process each side's changes (S5), or with
    ``full`` each side's every record (S6).

    The app is indexed first so that a record added to both apps since the last pass
    pairs instead of being created twice (M1, as the initial sync's phase 1 does). A
    full scan moves no cursor and reports no deletions (the sweep finds those); it
    skips the records the pass processed already: a pair processed from the hub's scan
    was compared in full (both records read), so it is decided, written and counted
    once.

    The app is read once: the pages its scan returned are kept (up to ``KEEP_LIMIT``
    records) and serve twice, as the counterparts of the hub's pairs (instead of a
    fetch, :func:`~syncengine.engine.ports.fetch_others`) and as the app's own changes,
    processed after the hub's. A pair the hub's changes compared in full is not
    processed again from its app record, and in an incremental pass a hub pair whose
    app record is not among the app's changes takes its index copy as the counterpart
    (D6), unread. Above the limit, or when :func:`keeps_reads` says the app must be read
    fresh, the app is scanned again, as it was indexed, and each counterpart fetched.
    """
    sid = core.sync_id
    ctx.phase = "index_app"
    since = None if full else ctx.store.cursor(sid, Side.APP, plan.name)
    kept: list[Page] | None = [] if keeps_reads(core, plan) else None
    held = 0
    for page in scan(core, ctx, Side.APP, plan, since):
        with paused_collector():  # as the initial sync's pages (initial.paused_collector)
            apply_merges(core, ctx, plan, Side.APP, page.merged, page.records)
            index_side(core, ctx, plan, Side.APP, page.records, ())
        if kept is not None:
            held += len(page.records) + len(page.deleted)
            if held <= KEEP_LIMIT:
                kept.append(page)
            else:
                kept = None
    if kept is not None:
        ctx.kept[Side.APP] = {r.id: r for page in kept for r in page.records}
        if not full:
            ctx.changed[Side.APP] = {
                i for page in kept for i in (*(r.id for r in page.records), *page.deleted)
            }
    try:
        for side in Side:
            ctx.phase = f"reconcile_{side.value}" if full else f"poll_{side.value}"
            ctx.processed = 0
            if side is Side.APP and kept is not None:
                ctx.kept.pop(Side.APP, None)  # the hub's scan is done: no counterpart more
                ctx.changed.pop(Side.APP, None)
                compared = ctx.compared.pop(Side.APP, set())
                pages: Iterable[Page] = (
                    attrs.evolve(page, records=[r for r in page.records if r.id not in compared])
                    for page in kept
                )
            else:
                since = None if full else ctx.store.cursor(sid, side, plan.name)
                pages = scan(core, ctx, side, plan, since)
            for page in pages:
                with paused_collector():
                    if side is Side.HUB or kept is None:
                        apply_merges(core, ctx, plan, side, page.merged, page.records)
                    if full:
                        process(core, ctx, plan, side, page.records, (), (), skip_marked=True)
                        ctx.processed += len(page.records)
                    else:
                        cursors = (
                            [CursorUpdate(sid, side, plan.name, page.cursor)]
                            if page.cursor is not None
                            else []
                        )
                        process(core, ctx, plan, side, page.records, page.deleted, cursors)
                        ctx.processed += len(page.records) + len(page.deleted)
                emit(core, ctx, "phase_progress", plan.name)
    finally:
        ctx.kept.clear()
        ctx.compared.clear()
        ctx.changed.clear()


def keeps_reads(core: Core, plan: ObjectPlan) -> bool:
    """Whether a pass may keep what it read of the app for ``plan`` (see
    :func:`scan_sides`): the hub wins every conflict of the object sync, and no object
    sync keeps links (A1).

    A kept app record (or an index copy of one that did not change) may be older than
    the record is when the pass writes: a user's edit after the app's scan (or one a
    lagging change feed does not show yet) is not seen. With the hub winning every
    conflict, that changes nothing the policy would not (the hub's change is written
    either way, and an app edit the hub did not overwrite is the next pass's change).
    When the app or the newer value may win, or a policy callable decides, the
    counterpart must be known fresh: the app is read again and each counterpart
    fetched. A link written to one app record while another pair is processed would
    make a kept record stale too.
    """
    if plan.sync.winner is not Side.HUB or any(
        field.mapping.policy not in (None, "winner") for field in plan.fields
    ):
        return False
    return not any(p.sync.associations for p in core.order) and not any(core.linked_from.values())
