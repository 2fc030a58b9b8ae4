"""Records an app merged into others: their entries follow the surviving record."""

from __future__ import annotations

from collections.abc import Iterable, Mapping

from syncengine._merges import repair
from syncengine.engine.context import Core, Pass, bad_id
from syncengine.engine.leases import lease, unlease
from syncengine.entry import CorruptEntry
from syncengine.plan import ObjectPlan
from syncengine.records import Record, Side
from syncengine.transitions import append_history, evolve

__all__ = ["apply_merges"]


def apply_merges(
    core: Core,
    ctx: Pass,
    plan: ObjectPlan,
    side: Side,
    moves: Mapping[str, str],
    records: Iterable[Record] = (),
) -> None:
    """Re-pair the entries of records that ``side`` merged into others (_merges)."""
    # The port left out the ids that are not text (ports.checked, ports.fetch_checked):
    # this check only keeps the index safe from a caller that did not come through it.
    moves = {
        o: n for o, n in (moves or {}).items() if o != n and bad_id(o) is None and bad_id(n) is None
    }
    if not moves:
        return
    prefix = f"{side.value}:"
    held = lease(core, ctx, plan, [f"{prefix}{i}" for i in {*moves, *moves.values()}])
    try:
        # A record another pass works on is left for later: its old id still reads
        # as the merged record, so the move is found again.
        moves = {o: n for o, n in moves.items() if {prefix + o, prefix + n} <= held}
        if not moves:
            return
        by_id = ctx.store.by_record_ids(
            core.sync_id, plan.name, side, list({*moves, *moves.values()})
        )
        # An entry whose row cannot be read is not moved: its record fails when met.
        moves = {
            o: n
            for o, n in moves.items()
            if type(by_id.get(o)) is not CorruptEntry and type(by_id.get(n)) is not CorruptEntry
        }
        now = core.clock()
        changes = repair(
            plan,
            side,
            moves,
            by_id,
            {r.id: r for r in records},
            now,
            lambda e, action, detail: evolve(
                e, history=append_history(core.history_size, e.history, now, action, detail)
            ),
        )
        if changes.write or changes.forget:
            ctx.store.write(
                changes.write, delete=[(core.sync_id, plan.name, i) for i in changes.forget]
            )
    finally:
        unlease(core, ctx, plan)
