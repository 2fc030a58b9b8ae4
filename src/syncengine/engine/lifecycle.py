"""A pass's start and end: its report and index (:func:`begin`), the one preamble of the
passes after the initial sync (:func:`open_pass`: preflight, guard, settling the creates in
flight), and the end-of-pass rechecks (:func:`end`).
"""

from __future__ import annotations

from collections.abc import Callable

from syncengine import _passlog
from syncengine._owner import finished
from syncengine.engine.batch import process
from syncengine.engine.context import Core, Pass, emit
from syncengine.engine.guard import preflight
from syncengine.engine.recheck import recheck, recheck_freed, recheck_merged
from syncengine.engine.settle import settle_pending
from syncengine.engine.stored import meta_number
from syncengine.index._overlay import OverlayIndexStore
from syncengine.index.base import IndexStore
from syncengine.plan import ObjectPlan
from syncengine.report import SyncReport

__all__ = ["begin", "end", "open_pass", "settle", "skipped"]


def begin(
    core: Core,
    kind: str,
    dry_run: bool,
    *,
    compare_all: bool = False,
    catch_up: bool = False,
    initial: bool = False,
) -> Pass:
    """Start a pass: its report, its index (an overlay in a dry run), the guard's totals."""
    report = SyncReport(kind=kind, sync_id=core.sync_id, started_at=core.clock(), dry_run=dry_run)
    store: IndexStore = OverlayIndexStore(core.index) if dry_run else core.index
    ctx = Pass(
        report=report,
        store=store,
        dry_run=dry_run,
        compare_all=compare_all,
        catch_up=catch_up,
        initial=initial,
    )
    if not core.preflighting:
        _passlog.began(core, report)  # the pass history and the log (_passlog)
    if core.preflighting:
        core.preflight_store = store
    elif not dry_run:
        ctx.totals, core.preflight_totals = core.preflight_totals, {}
    emit(core, ctx, "pass_started")
    return ctx


def end(core: Core, ctx: Pass) -> SyncReport:
    """Finish a pass: recheck the duplicates it freed, and hand back its report."""
    for plan in core.order:
        recheck_merged(core, ctx, plan)
        recheck_freed(core, ctx, plan)
    finished(ctx.owner)
    ctx.report.finished_at = core.clock()
    emit(core, ctx, "pass_finished")
    return ctx.report


def skipped(core: Core, kind: str, dry_run: bool, why: str) -> SyncReport:
    """The report of a pass that did not run, and why."""
    now = core.clock()
    return SyncReport(
        kind=kind,
        sync_id=core.sync_id,
        started_at=now,
        finished_at=now,
        dry_run=dry_run,
        skipped=why,
    )


def settle(core: Core, ctx: Pass, plan: ObjectPlan) -> None:
    """Settle ``plan``'s creates in flight (S8), as every pass does before anything else:
    the records that pair with them are processed, the settled pairs compared again."""
    settle_pending(
        core,
        ctx,
        plan,
        lambda side, records: process(core, ctx, plan, side, records, (), ()),
        lambda entries: recheck(core, ctx, plan, entries, both=True),
    )


def open_pass(
    core: Core,
    kind: str,
    dry_run: bool,
    allow_mass_changes: bool,
    dry_pass: Callable[[], SyncReport] | None,
    *,
    compare_all: bool = False,
    mark: str | None = None,
    settle_first: bool = True,
) -> Pass:
    """The preamble of every pass after the initial sync (which has its own, as it
    resumes and coordinates workers: :func:`~syncengine.engine.initial.initial_sync`).

    A pass that may update many records is planned first as a silent dry run
    (``dry_pass``, the mass-change guard) unless ``allow_mass_changes``; it is guarded
    batch by batch either way. ``mark``: the name of the run counter whose next value
    marks the records this pass processes (a full scan skips what it did already).
    With ``settle_first``, the creates left in flight are settled before anything else
    (S8; events settle per object type, before their records).
    """
    if dry_pass is not None and not dry_run and not allow_mass_changes:
        preflight(core, dry_pass, kind)
    ctx = begin(core, kind, dry_run, compare_all=compare_all)
    ctx.guarded = not allow_mass_changes
    if mark is not None:
        run = (meta_number(core, mark, ctx.store) or 0) + 1
        if not dry_run:
            ctx.store.set_meta(core.sync_id, mark, str(run))
        ctx.mark = f"{mark[0]}{run}"
        ctx.own_mark = True
    if settle_first:
        for plan in core.order:
            settle(core, ctx, plan)
    return ctx
