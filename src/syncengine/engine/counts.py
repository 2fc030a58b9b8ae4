"""The report's counts: each record counted once, in its final outcome (R4).

A record a pass decides again (a retry, a pair both of whose records changed, a settled
create compared again) replaces its earlier status; writes that happened stay counted.
"""

from __future__ import annotations

from collections.abc import Mapping, Sequence
from typing import Final

from syncengine import _passlog
from syncengine.engine.context import Core, Pass
from syncengine.engine.stored import note_corrupt
from syncengine.entry import CorruptEntry, Entry
from syncengine.records import Side
from syncengine.report import PlannedWrite
from syncengine.states import RecordState

__all__ = [
    "IN_SYNC",
    "SYNCED_EARLIER",
    "UNCHANGED_EARLIER",
    "WRITES",
    "count_outcome",
    "counted_earlier",
    "fail_corrupt",
    "settle_counts",
    "take_back",
    "unchanged_side",
    "uncount",
]


def fail_corrupt(core: Core, ctx: Pass, object_type: str, side: Side, entry: CorruptEntry) -> None:
    """A record whose entry's row cannot be read (a :class:`CorruptEntry`) fails alone:
    counted failed and named in the report (once a pass), and logged; nothing is written,
    so the row stays as it is and the next pass meets it again."""
    message = f"{object_type}: {side.value} record {entry.id_on(side)!r} failed: {entry.message}"
    if message in ctx.report.errors:
        return
    ctx.report.side(object_type, side).failed += 1
    ctx.report.errors.append(message)
    note_corrupt(core, ctx, object_type, entry)
    _passlog.record_failed(
        core.sync_id, entry, entry.category, entry.message, quiet=core.preflighting
    )


def count_outcome(
    core: Core,
    ctx: Pass,
    object_type: str,
    base: Entry,
    outcome: tuple[tuple[Side, str], ...],
    planned: Mapping[Side, PlannedWrite] | None = None,
    stored: Entry | None = None,
) -> None:
    """Count an entry's outcome in the report: each record once, in its final outcome.

    ``outcome`` is what happened, as (side, counter) pairs: one write per side written
    (``created``, ``updated``, or ``failed`` for a write that failed), or one status
    (``unchanged``, ``failed``, ``excluded``, ``queued``). A record a pass decides
    again (a retry of this pass's failure, a pair both of whose records changed, a
    settled create compared again) replaces its earlier status: a write that failed
    and then succeeded is one update. Writes that happened stay counted, once per
    side, and nothing that follows them in the pass is counted as unchanged (a record
    that ends unchanged after a write is counted by the write alone: a failure counted
    in between, by a retry that could not read the record, is taken back). A dry
    run lists each planned write once (``planned``, by side). ``stored``: the entry
    as the index held it when the batch read it (``base`` by default).
    """
    key = (object_type, base.entry_id)
    before = ctx.counted.pop(key, None)
    if before is None:
        before = counted_earlier(ctx, stored if stored is not None else base)
        if before is UNCHANGED_EARLIER:
            before = ((unchanged_side(ctx, object_type, outcome[0][0]), "unchanged"),)
    report = ctx.report
    if before is None and not planned and len(outcome) == 1:
        # The common case, a record counted once: its one counter, in the ledger.
        side, counter = outcome[0]
        counts = report.side(object_type, side)
        setattr(counts, counter, getattr(counts, counter) + 1)
        ctx.counted[key] = outcome
        ctx.batch_counted[key] = counter in _DROPPABLE or (
            counter == "excluded"
            and base.id_on(side.other) is None
            and base.id_on(side) is not None
        )
        return
    kept: list[tuple[Side, str]] = []
    if before is not None:
        writes = tuple(c for c in before if c[1] in WRITES)
        if outcome[0][1] == "unchanged" and (writes or before is SYNCED_EARLIER):
            if before is not SYNCED_EARLIER:
                # The writes stand and nothing since is counted as unchanged; a status
                # counted between them and this outcome (a failed retry) is replaced.
                take_back(ctx, object_type, before)
                ctx.counted[key] = writes
            return
        kept.extend(writes)
        take_back(ctx, object_type, before)
    written = {side for side, counter in kept if counter in WRITES}
    for side, counter in outcome:
        if counter in WRITES and side in written:
            continue  # the record was written already in this pass: counted
        counts = report.side(object_type, side)
        setattr(counts, counter, getattr(counts, counter) + 1)
        kept.append((side, counter))
        if planned and counter in WRITES and not core.preflighting:
            write = planned.get(side)
            if write is not None:
                report.planned.append(write)
    ctx.counted[key] = result = tuple(kept)
    droppable = all(c in WRITES or c == "unchanged" for _, c in result)
    if not droppable and len(result) == 1 and result[0][1] == "excluded":
        # A lone record excluded: its mark and state tell (see counted_earlier).
        lone = [s for s in Side if base.id_on(s) is not None]
        droppable = lone == [result[0][0]]
    ctx.batch_counted[key] = droppable


def counted_earlier(ctx: Pass, stored: Entry) -> tuple[tuple[Side, str], ...] | None:
    """What a pass with a mark counted for an entry it dropped from its ledger.

    Its mark says whether this pass counted it; its state what as: a lone record
    excluded (perhaps queued since as the next in line for a freed identifier, M3),
    or synced: unchanged (:data:`UNCHANGED_EARLIER`) when this pass stored the entry
    (its time is the pass's, or the pass began the run: a pair the pass found in sync
    keeps its time when the pass marks it) and its history holds no write since the
    pass began, else written, or unchanged by another process of the same run (a
    resumed initial sync shares the crashed one's mark, and that process's report
    counted it): :data:`SYNCED_EARLIER`.
    """
    if ctx.mark is None or stored.mark != ctx.mark:
        return None
    lone = [s for s in Side if stored.id_on(s) is not None]
    if stored.state in (RecordState.EXCLUDED, RecordState.QUEUED) and len(lone) == 1:
        return ((lone[0], "excluded"),)
    began = ctx.report.started_at
    if (
        stored.state is RecordState.SYNCED
        and (ctx.own_mark or stored.updated_at >= began)
        and not any(
            item.at >= began and item.action == "synced" and item.detail != IN_SYNC
            for item in stored.history
        )
    ):
        return UNCHANGED_EARLIER
    return SYNCED_EARLIER


def unchanged_side(ctx: Pass, object_type: str, side: Side) -> Side:
    """The side whose ``unchanged`` counter holds an entry this pass counted unchanged
    and dropped from its ledger (:data:`UNCHANGED_EARLIER`): ``side``, the side it is
    decided from again (the pass counted it from its scan of that side, as a record
    deleted or changed since is met again there), unless that side counted none."""
    counts = ctx.report.counts.get((object_type, side))
    return side if counts is not None and counts.unchanged > 0 else side.other


def uncount(
    core: Core, ctx: Pass, object_type: str, deletes: Sequence[tuple[str, str, str]]
) -> None:
    """Take back what the pass counted for entries it now deletes (forgotten, or merged
    into a pair): they have no outcome of their own. Writes that happened stay."""
    if not deletes:
        return
    unknown: list[str] = []
    for _, type_name, entry_id in deletes:
        key = (type_name, entry_id)
        ctx.batch_counted.pop(key, None)
        before = ctx.counted.pop(key, None)
        if before is not None:
            take_back(ctx, type_name, before)
        elif ctx.mark is not None:
            unknown.append(entry_id)
    if unknown:
        for entry in ctx.store.get(core.sync_id, object_type, unknown).values():
            before = counted_earlier(ctx, entry)
            if before is UNCHANGED_EARLIER:
                before = ((unchanged_side(ctx, object_type, Side.APP), "unchanged"),)
            if before is not None:
                take_back(ctx, object_type, before)


def take_back(ctx: Pass, object_type: str, counted: tuple[tuple[Side, str], ...]) -> None:
    """Subtract the statuses (not the writes) of an earlier count from the report.

    Never below zero: a resumed initial sync shares its mark with the process that
    crashed, whose counts are in that process's report, not this one's.
    """
    for side, counter in counted:
        if counter not in WRITES and counter != "synced":
            counts = ctx.report.side(object_type, side)
            setattr(counts, counter, max(0, getattr(counts, counter) - 1))


def settle_counts(ctx: Pass) -> None:
    """After a batch: in a pass with a mark, drop from the ledger the entries whose
    mark and state tell what was counted (see ``Pass.counted``).

    A dry run keeps its whole ledger: it stores no entry, so no mark can tell later
    batches what it counted, and a record it meets again (a pair it would make, seen
    from the other side's scan) would be counted and listed twice (R9)."""
    if ctx.mark is not None and not ctx.dry_run:
        counted = ctx.counted
        for key, droppable in ctx.batch_counted.items():
            if droppable:
                counted.pop(key, None)
    ctx.batch_counted.clear()


#: Report counters of writes (see count_outcome).
WRITES: Final = frozenset({"created", "updated"})
#: Counters an entry's mark and state tell once the batch is stored (see count_outcome).
_DROPPABLE: Final = frozenset({"created", "updated", "unchanged"})


#: An entry a pass with a mark counted earlier, and that ended synced (see count_outcome).
SYNCED_EARLIER: Final[tuple[tuple[Side, str], ...]] = ((Side.HUB, "synced"),)
#: An entry a pass with a mark counted unchanged earlier, on a side count_outcome finds
#: (see counted_earlier, unchanged_side).
UNCHANGED_EARLIER: Final[tuple[tuple[Side, str], ...]] = ((Side.HUB, "unchanged"),)
#: The detail of the history item of a pair synced with nothing to write.
IN_SYNC: Final = "already in sync"
