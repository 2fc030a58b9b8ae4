"""The mass-change guard: stop a pass that would update too large a share of a side.

A guarded pass is first planned as a silent dry run (:func:`preflight`); the real pass
checks again batch by batch (:func:`guard`), as a backstop for changes made in between.
"""

from __future__ import annotations

from collections.abc import Callable

from syncengine.engine.context import Core, Pass
from syncengine.errors import SafetyStop
from syncengine.plan import ObjectPlan
from syncengine.records import Side
from syncengine.report import SyncReport

__all__ = ["guard", "preflight"]


def preflight(core: Core, dry_pass: Callable[[], SyncReport], kind: str) -> None:
    """Plan a guarded pass as a dry run first; stop it before it writes anything.

    With ``SyncConfig.max_change_ratio`` set, a pass is decided in full without
    writing (as ``dry_run=True`` does, silently and without listing the writes), and
    when it would update more than that share of one side's records (and at least
    10), :class:`~syncengine.SafetyStop` is raised before the real pass starts. The
    guard in :func:`guard` stays as a backstop for changes made in between.
    """
    ratio = core.config.max_change_ratio
    if ratio is None:
        return
    core.preflighting = True
    try:
        report = dry_pass()
    finally:
        core.preflighting = False
    # The share is of the records of the app being changed: the entries holding one of
    # its records once the dry pass has indexed everything it read.
    store = core.preflight_store or core.index
    core.preflight_store = None
    totals = {
        (plan.name, side): store.count_on(core.sync_id, plan.name, side)
        for plan in core.order
        for side in Side
    }
    for (object_type, side), counts in sorted(report.counts.items()):
        planned = counts.updated
        total = totals.get((object_type, side), 0)
        if planned < 10 or planned <= ratio * total:
            continue
        why = (
            "Check the apps (was one emptied, or is its API returning blanks?)"
            if kind != "initial"
            else "An initial sync over an app that holds records overwrites what the "
            "other side wins: if the index file was lost, restore it from a backup "
            "instead; if this sync is meant to merge the two apps"
        )
        raise SafetyStop(
            f"the {kind} pass would update {planned} of the {total} {object_type} "
            f"records in the {side.value} (more than {ratio:.0%}); nothing was "
            f"written. {why}, then run the pass with allow_mass_changes=True if the "
            "changes are intended",
            object_type=object_type,
            side=side.value,
            planned=planned,
            total=total,
        )
    core.preflight_totals = totals


def guard(core: Core, ctx: Pass, plan: ObjectPlan, side: Side, updates: int) -> None:
    """Stop a pass before it updates too large a share of one side (the mass-change
    guard; vdirsyncer's StorageEmpty idea).

    Counts the updates a pass has planned for one object type and side so far; when
    they pass ``SyncConfig.max_change_ratio`` of that side's records (the entries
    holding one, as the preflight counted them, else as the index holds them now; and
    at least 10 records), the pass stops before writing this batch.
    """
    ratio = core.config.max_change_ratio
    key = (plan.name, side)
    ctx.planned_updates[key] = ctx.planned_updates.get(key, 0) + updates
    if ratio is None or not ctx.guarded or ctx.dry_run or ctx.planned_updates[key] < 10:
        return
    if key not in ctx.totals:
        ctx.totals[key] = core.index.count_on(core.sync_id, plan.name, side)
    planned, total = ctx.planned_updates[key], ctx.totals[key]
    if planned > ratio * total:
        raise SafetyStop(
            f"the {ctx.report.kind} pass would update {planned} of {total} {plan.name} records "
            f"in the {side.value} (more than {ratio:.0%}); nothing more was written. "
            "Check the apps (was one emptied, or is its API returning blanks?), then run "
            "the pass with allow_mass_changes=True if the changes are intended",
            object_type=plan.name,
            side=side.value,
            planned=planned,
            total=total,
        )
