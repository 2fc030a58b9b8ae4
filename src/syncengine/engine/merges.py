"""Records an app merged into others: their entries follow the surviving record."""

from __future__ import annotations

from collections.abc import Container, Iterable, Mapping

from syncengine._merges import redirects, repair
from syncengine.engine.context import Core, Pass, bad_id, chunks
from syncengine.engine.counts import count_outcome, uncount
from syncengine.engine.leases import lease, unlease
from syncengine.engine.ports import as_adapter_error, fetch
from syncengine.entry import CorruptEntry, Entry
from syncengine.plan import ObjectPlan, identify
from syncengine.records import Record, Side
from syncengine.states import RecordState
from syncengine.transitions import append_history, evolve

__all__ = ["apply_merges", "namesake_ids", "with_namesakes"]


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
            deletes = [(core.sync_id, plan.name, i) for i in changes.forget]
            ctx.store.write(changes.write, delete=deletes)
            recount(core, ctx, plan, side, changes.write, deletes)
    finally:
        unlease(core, ctx, plan)


def recount(
    core: Core,
    ctx: Pass,
    plan: ObjectPlan,
    side: Side,
    written: Iterable[Entry],
    deletes: list[tuple[str, str, str]],
) -> None:
    """Count as they end the entries of this merge that the pass counted already (a
    pair failed because its counterpart's fetch met the merge): a forgotten one has no
    outcome of its own, one left out by the merge is excluded (its record on the other
    side is kept, out of the sync). The heir is decided again when the merged record is
    processed, and counted then. An entry the pass did not count stays uncounted, as a
    merge a scan reads is no outcome of the pass."""
    uncount(core, ctx, plan.name, [d for d in deletes if (plan.name, d[2]) in ctx.counted])
    for entry in written:
        if entry.state is RecordState.EXCLUDED and (plan.name, entry.entry_id) in ctx.counted:
            count_outcome(core, ctx, plan.name, entry, ((side.other, "excluded"),))


def with_namesakes(
    core: Core,
    ctx: Pass,
    plan: ObjectPlan,
    side: Side,
    moves: Mapping[str, str],
    records: Mapping[str, Record],
) -> dict[str, str]:
    """``moves`` (old id -> merged record's id) with the other ids merged into the same
    records that the index knows by the merged records' identifiers.

    A fetch that answers an old id with the merged record tells that one move only, yet
    the entry that continues as the merged record is chosen among all of them (the one
    sharing its identifiers, _merges): the entries holding a merged record's identifiers
    are read, and their records of ``side`` that read as a merged record now are moved
    too. Without that, the entry fetched first would take the merged record, and the one
    whose record it continues (its e-mail, its domain) would be left out. A read that
    fails adds nothing: such an entry's own read finds the merge later.
    """
    out = dict(moves)
    targets = set(out.values())
    keys = {
        k
        for new in targets
        if new in records
        for k in identify(plan, side, records[new].properties)
    }
    if not keys:
        return out
    ask = namesake_ids(ctx.store.by_keys(core.sync_id, plan.name, keys), side, (out, targets))
    adapter = core.adapters[side]
    for chunk in chunks(ask, adapter.max_batch_size):
        try:
            fetched = fetch(core, side, plan.type_on(side), chunk)
        except Exception as exc:
            ctx.report.errors.append(str(as_adapter_error(exc)))
            continue
        out.update((old, new) for old, new in redirects(chunk, fetched).items() if new in targets)
    return out


def namesake_ids(
    found: Mapping[str, Iterable[Entry]], side: Side, skip: Iterable[Container[str]]
) -> list[str]:
    """The ``side`` record ids of the entries ``found`` (an index read by key), once
    each, in order: those the index can read (no corrupt entry, no unusable id) and in
    none of ``skip``. The ids whose records a merge may have made one with the merged
    record (:func:`with_namesakes`, and ``explain``'s read-only forecast of it)."""
    skipped = tuple(skip)
    return list(
        dict.fromkeys(
            record_id
            for held in found.values()
            for entry in held
            if type(entry) is not CorruptEntry
            and (record_id := entry.id_on(side)) is not None
            and not any(record_id in ids for ids in skipped)
            and bad_id(record_id) is None
        )
    )
