"""Workers sharing one initial sync (docs/scale-out.md): units of work per phase,
each a partition of the records, and the barrier between phases.
"""

from __future__ import annotations

import zlib
from collections.abc import Sequence

import attrs

from syncengine.engine.batch import process
from syncengine.engine.context import Core, Pass, emit
from syncengine.engine.leases import WAIT, WORKERS, claim_lease, worker_owner
from syncengine.engine.match import index_side
from syncengine.engine.ports import scan
from syncengine.engine.stored import phase_of
from syncengine.entry import CursorUpdate
from syncengine.plan import ObjectPlan
from syncengine.records import Record, Side

__all__ = [
    "Unit",
    "forget_units",
    "in_unit",
    "run_unit",
    "run_units",
    "set_phase",
    "unit_batch",
    "unit_of",
]


def unit_of(run: int, plan: ObjectPlan, phase: int, part: int, parts: int) -> Unit:
    tag = f"{plan.name}.{phase}.{part}/{parts}@{run}"
    cursor = f"initial_scan.{phase}.{part}/{parts}@{run}"
    return Unit(plan.name, part, parts, tag, cursor, f"unit:{tag}")


def run_units(
    core: Core, ctx: Pass, plan: ObjectPlan, run: int, phase: int, workers: tuple[int, int]
) -> None:
    """The phases of one object sync, shared by the workers of a scaled-out sync.

    Phase 1 is one unit of work (indexing the hub writes only the index, and M3's
    "first record wins" needs one order); phases 2 and 3 are one unit per partition
    of the records. A worker works on its own unit first, then on any unit no worker
    holds (one that is not started yet, or whose worker died: its lease expired), and
    waits until every unit of a phase is done before the next phase starts: phase 2
    matches app records against the whole hub index (S3).
    """
    own, count = workers
    store = ctx.store
    sid = core.sync_id
    steps = (
        (1, Side.HUB, "index_hub", 1),
        (2, Side.APP, "index_app_and_sync", count),
        (3, Side.HUB, "sync_hub", count),
    )
    for number, side, name, parts in steps:
        if phase > number:
            continue
        units = [unit_of(run, plan, number, (own + i) % parts, parts) for i in range(parts)]
        while True:
            todo = [unit for unit in units if store.get_meta(sid, unit.done) is None]
            if not todo:
                break
            worked = False
            for unit in todo:
                if not claim_lease(core, ctx, unit.lease):
                    continue  # another worker is on it
                worked = True
                try:
                    if store.get_meta(sid, unit.done) is None and run_unit(
                        core, ctx, plan, side, name, unit, index_only=number == 1
                    ):
                        store.set_meta(sid, unit.done, "1")
                finally:
                    store.release(sid, worker_owner(ctx), [unit.lease], WORKERS)
            if not worked:
                core.sleep(WAIT)  # the barrier: others are still at this phase
        if phase_of(core, store, plan.name) <= number:
            set_phase(core, ctx, plan, number + 1)


def run_unit(
    core: Core, ctx: Pass, plan: ObjectPlan, side: Side, phase: str, unit: Unit, *, index_only: bool
) -> bool:
    """One worker's unit of a phase: scan everything, process the unit's records.

    The unit's records are gathered over pages into batches as large as a page, so a
    worker makes as few adapter calls per record as a lone engine does (the calls are
    what a latency-bound pass waits for). The unit's lease is renewed before each
    batch; returns ``False`` when another worker took the unit over meanwhile (this
    one was slower than ``lease_seconds``), ``True`` when the unit is done.
    """
    ctx.phase = phase
    ctx.processed = 0
    ctx.prefilter = True
    emit(core, ctx, "phase_started", plan.name)
    sid = core.sync_id
    store = ctx.store
    remember_poll = store.cursor(sid, side, plan.name, "initial_poll") is None
    last: str | None = None
    size = 1
    records: list[Record] = []
    deleted: list[str] = []
    for page in scan(core, ctx, side, plan, store.cursor(sid, side, plan.name, unit.cursor)):
        size = max(size, len(page.records) + len(page.deleted))
        records.extend(r for r in page.records if in_unit(side, r.id, unit))
        deleted.extend(i for i in page.deleted if in_unit(side, i, unit))
        last = page.cursor or last
        ctx.processed += len(page.records)
        if len(records) + len(deleted) >= size:
            if not unit_batch(core, ctx, plan, side, unit, records, deleted, last, index_only):
                return False
            records, deleted = [], []
        emit(core, ctx, "phase_progress", plan.name)
    if not unit_batch(core, ctx, plan, side, unit, records, deleted, last, index_only):
        return False
    # The first worker to finish a scan of this side keeps its cursor for polling.
    if (
        remember_poll
        and last is not None
        and store.cursor(sid, side, plan.name, "initial_poll") is None
    ):
        store.write(cursors=[CursorUpdate(sid, side, plan.name, last, "initial_poll")])
    emit(core, ctx, "phase_finished", plan.name)
    return True


def unit_batch(
    core: Core,
    ctx: Pass,
    plan: ObjectPlan,
    side: Side,
    unit: Unit,
    records: Sequence[Record],
    deleted: Sequence[str],
    cursor: str | None,
    index_only: bool,
) -> bool:
    if not claim_lease(core, ctx, unit.lease):
        return False
    cursors = (
        [] if cursor is None else [CursorUpdate(core.sync_id, side, plan.name, cursor, unit.cursor)]
    )
    if index_only:
        index_side(core, ctx, plan, side, records, cursors)
    else:
        process(core, ctx, plan, side, records, deleted, cursors, skip_marked=True)
    return True


def forget_units(core: Core, ctx: Pass, run: int, workers: tuple[int, int]) -> None:
    """Remove the finished initial sync's unit cursors and markers from the index."""
    units = [
        (side, unit_of(run, plan, number, part, parts))
        for plan in core.order
        for number, side, parts in (
            (1, Side.HUB, 1),
            (2, Side.APP, workers[1]),
            (3, Side.HUB, workers[1]),
        )
        for part in range(parts)
    ]
    ctx.store.write(
        cursors=[
            CursorUpdate(core.sync_id, side, unit.plan, None, unit.cursor) for side, unit in units
        ]
    )
    for _, unit in units:
        ctx.store.set_meta(core.sync_id, unit.done, None)


def set_phase(core: Core, ctx: Pass, plan: ObjectPlan, phase: int) -> None:
    ctx.store.write(
        cursors=[
            CursorUpdate(core.sync_id, Side.HUB, plan.name, str(phase), "initial_phase"),
            CursorUpdate(core.sync_id, Side.HUB, plan.name, None, "initial_scan"),
            CursorUpdate(core.sync_id, Side.APP, plan.name, None, "initial_scan"),
        ]
    )


@attrs.frozen(slots=True)
class Unit:
    """A worker's unit of work in a phase of a scaled-out initial sync (docs/scale-out.md).

    The records of ``plan`` whose partition (:func:`in_unit`) is ``part`` of ``parts``;
    a worker holds the coordination lease ``lease`` while it works on them, its scan
    resumes from the cursor named ``cursor``, and the setting ``done`` marks it finished.
    """

    plan: str
    part: int
    parts: int
    lease: str
    cursor: str
    done: str


def in_unit(side: Side, record_id: str, unit: Unit) -> bool:
    """Whether a record belongs to ``unit``: a stable hash of (side, id), modulo ``parts``."""
    if unit.parts == 1:
        return True
    key = f"{side.value}:{record_id}".encode("utf-8", "surrogatepass")
    return zlib.crc32(key) % unit.parts == unit.part
