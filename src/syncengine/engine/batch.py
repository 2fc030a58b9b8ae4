"""The one step every pass is built from: match, decide, write and record one batch.

:func:`process` takes a batch of one side's records (a page of a scan, a chunk of webhook
ids, a chunk of entries to retry): it leases them (S9), looks them up in the index, matches
the new ones (:mod:`.match`), fetches the counterparts of pairs (one call per
``max_batch_size`` ids), asks the pure core (:mod:`syncengine.plan`) for a decision per
record, and hands the decisions to :func:`~syncengine.engine.execute.execute`.
"""

from __future__ import annotations

from collections.abc import Mapping, Sequence
from typing import Final

from syncengine import _passlog
from syncengine.engine import lean_changes
from syncengine.engine.context import QUEUED, Core, Item, Pass, bad_id, unrecorded_meta
from syncengine.engine.counts import fail_corrupt, uncount
from syncengine.engine.duplicates import dup_message, free_duplicates
from syncengine.engine.execute import execute
from syncengine.engine.leases import lease, note_queued, unlease
from syncengine.engine.match import catch_up, match_batch, stale_pairs
from syncengine.engine.ports import as_adapter_error, fetch, fetch_others
from syncengine.engine.settle import defer, resend_deferred
from syncengine.entry import CorruptEntry, CursorUpdate, Entry
from syncengine.errors import AdapterError
from syncengine.index._rowformat import store_where
from syncengine.index.base import PairView, RowView
from syncengine.plan import (
    NO_CHANGE,
    Apply,
    CreateIn,
    Decision,
    Exclude,
    Fail,
    ObjectPlan,
    decide,
    identify,
    is_owner,
    unchanged_since_sync,
)
from syncengine.records import Record, Side
from syncengine.states import ErrorCategory, ExcludeReason, RecordState

__all__ = [
    "alone",
    "attempt",
    "decide_item",
    "find_heir",
    "held_back",
    "known_gone",
    "process",
    "process_leased",
]

# Enum members of the per-record path as module constants: on Python 3.11 each
# ``Side.HUB`` is a call through ``EnumType.__getattr__``'s lookup hook.
_HUB: Final = Side.HUB
_SYNCED: Final = RecordState.SYNCED
_MERGED: Final = ExcludeReason.MERGED


def process(
    core: Core,
    ctx: Pass,
    plan: ObjectPlan,
    side: Side,
    records: Sequence[Record],
    deleted: Sequence[str],
    cursors: Sequence[CursorUpdate],
    *,
    skip_marked: bool = False,
) -> None:
    """Match, decide, write and record one batch of ``side``'s records (see module doc)."""
    store = ctx.store
    # Last occurrence of an id wins within a batch; scans may repeat records.
    unique: dict[str, Record] = {}
    for record in records:
        unique[record.id] = record
    gone = [i for i in dict.fromkeys(deleted) if i not in unique]
    quiet = core.preflighting  # the guard's planning dry pass logs no batches
    _passlog.batch(ctx.report, plan.name, side, ctx.phase, len(unique), len(gone), quiet=quiet)
    bad = [i for i in (*unique, *gone) if bad_id(i)]
    if bad:
        # An id that is no valid text cannot be stored or written back (X1): that
        # record fails alone, named in the report; the rest of the batch goes on.
        counts = ctx.report.side(plan.name, side)
        for record_id in bad:
            counts.failed += 1
            ctx.report.errors.append(
                f"{plan.name}: {side.value} record {record_id!r} failed: {bad_id(record_id)}"
            )
            unique.pop(record_id, None)
        gone = [i for i in gone if i not in bad]
    if skip_marked and ctx.mark is not None and ctx.prefilter and unique:
        # Records this run already processed are skipped without a lease: their mark
        # cannot change back within the run. Reading first pays while most records
        # are marked (the hub rescan after a matched app, S3.3); otherwise leasing
        # first saves a read, so the share of the last batch decides for the next.
        # Only the marks are read: no entry is built for a record that is done.
        marked = store.marked(core.sync_id, plan.name, side, list(unique), ctx.mark)
        ctx.prefilter = 2 * len(marked) >= len(unique)
        for record_id in marked:
            del unique[record_id]
    cursors = held_back(ctx, plan, side, cursors)
    if not unique and not gone:
        if cursors:
            store.write((), cursors=cursors)
        return
    # S9: records another pass holds wait until it lets go (bounded by queue_wait),
    # then stay queued for a later pass.
    waiting = attempt(core, ctx, plan, side, unique, gone, cursors, skip_marked, final=False)
    waited, delay = 0.0, 0.01
    while waiting:
        final = waited >= core.queue_wait
        if not final:
            core.sleep(delay)
            waited += delay
            delay = min(delay * 2, 0.5)
        again = {i: unique[i] for i in waiting if i in unique}
        gone_again = [i for i in gone if i in waiting]
        waiting = attempt(core, ctx, plan, side, again, gone_again, (), skip_marked, final=final)
        if final:
            break


def attempt(
    core: Core,
    ctx: Pass,
    plan: ObjectPlan,
    side: Side,
    unique: Mapping[str, Record],
    gone: Sequence[str],
    cursors: Sequence[CursorUpdate],
    skip_marked: bool,
    *,
    final: bool,
) -> set[str]:
    """Process what this pass can claim; return the ids another pass holds."""
    prefix = f"{side.value}:"  # Side.value is a property: read it once per batch
    names = [f"{prefix}{i}" for i in (*unique, *gone)]
    held = lease(core, ctx, plan, names)
    try:
        return process_leased(
            core, ctx, plan, side, unique, gone, cursors, held, skip_marked, final
        )
    finally:
        unlease(core, ctx, plan)


def process_leased(
    core: Core,
    ctx: Pass,
    plan: ObjectPlan,
    side: Side,
    unique: Mapping[str, Record],
    gone: Sequence[str],
    cursors: Sequence[CursorUpdate],
    held: set[str],
    skip_marked: bool,
    final: bool = True,
) -> set[str]:
    sid = core.sync_id
    store = ctx.store
    other = side.other
    # The plain changed pairs of the page: the lean path counts the echoes and merges
    # and writes the other pairs once their counterparts are read with the rest. It
    # reads the page's entries as views (by_record_ids_rows); the entries of the
    # records it does not take are read whole from them.
    echoes: set[str] = set()
    lean: Mapping[str, tuple[str, ...]] = {}  # the changed pairs taken, with their keys
    views: Mapping[str, RowView] = {}
    if unique and not skip_marked and lean_changes.applies(core, ctx, plan):
        views = store.by_record_ids_rows(sid, plan.name, side, [*unique, *gone])
        echoes, lean = lean_changes.select(core, ctx, plan, side, unique, views, held)
        known = {i: v.entry() for i, v in views.items() if i not in echoes and i not in lean}
    else:
        known = store.by_record_ids(sid, plan.name, side, [*unique, *gone])
    if any(type(e) is CorruptEntry for e in known.values()):
        # An entry whose row cannot be read: its record fails alone (nothing written,
        # so the row stays for repair); the rest of the batch goes on.
        unique, gone, known = without_corrupt(core, ctx, plan, side, unique, gone, known)
        cursors = keep_unrecorded(core, ctx, plan, side, cursors)
    deletes: list[tuple[str, str, str]] = []
    items: list[Item] = []
    freed: set[str] = set()  # identifiers of the entries forgotten here
    for record_id in gone:
        entry = known.get(record_id)
        if entry is None:
            continue
        if entry.id_on(other) is None and entry.pending is None:
            deletes.append((sid, plan.name, entry.entry_id))  # forget a gone, unpaired record
            if is_owner(entry):
                freed.update(entry.keys)
            continue
        items.append(Item(side, None, entry, record_id))
    wanted: set[str] = set()
    skipped = 0
    for record in unique.values():
        if record.id in echoes:
            continue
        if record.id in lean:
            # A synced pair that changed (select): its entry is read when the general
            # path needs it (see below).
            view = views[record.id]
            assert isinstance(view, PairView)
            item = Item(side, record, None, record.id)
            item.view = view
            item.other_id = view.id_on(other)
            items.append(item)
            continue
        entry = known.get(record.id)
        if skip_marked and entry is not None and ctx.mark is not None and entry.mark == ctx.mark:
            skipped += 1
            continue
        item = Item(side, record, entry, record.id)
        if (
            entry is not None
            and entry.state is _SYNCED
            and entry.pending is None
            and entry.id_on(other) is not None
            and not plan.sync.associations
            # The initial sync recomputes every pair (S2); reconcile compares both apps
            # in full, so it reads the counterpart too: it may be gone (S6, R6).
            and not ctx.compare_all
            and unchanged_since_sync(plan, side, record, entry)
        ):
            item.settled = True  # our own write coming back, or no mapped change (S6)
        elif entry is not None and entry.id_on(other) is not None:
            item.other_id = entry.id_on(other)
        else:
            item.keys = identify(plan, side, record.properties)
            wanted.update(item.keys)
        items.append(item)
    if skip_marked and unique and not ctx.prefilter:
        ctx.prefilter = 2 * skipped >= len(unique)  # see process
    if not items:
        if deletes or cursors:
            uncount(core, ctx, plan.name, deletes)
            store.write((), delete=deletes, cursors=cursors)
        if freed:
            free_duplicates(core, ctx, plan, freed)
        return set()
    workers = core.partition is not None and not ctx.dry_run
    if workers and wanted:
        # Scale-out: workers lease the identifiers they look up too, so that two of
        # them never both create a record for one identifier (M1, M3, S9).
        held |= lease(core, ctx, plan, [f"key:{key}" for key in sorted(wanted)])
    candidates = store.by_keys(sid, plan.name, wanted) if wanted else {}
    if any(type(e) is CorruptEntry for held in candidates.values() for e in held):
        # A record whose identifier an unreadable entry holds could be that entry's
        # record: it fails (matching without that entry could create a duplicate).
        items, candidates = unmatchable(core, ctx, plan, items, candidates)
        cursors = keep_unrecorded(core, ctx, plan, side, cursors)
    match_batch(core, plan, side, items, candidates, deletes)
    # Claim the counterparts too, so a pass from the other side cannot work on the pair.
    mine, theirs = f"{side.value}:", f"{other.value}:"
    others = [f"{theirs}{i.other_id}" for i in items if i.other_id is not None]
    held |= lease(core, ctx, plan, others)
    stale = stale_pairs(core, ctx, plan, items) if workers else set()
    for item in items:
        if (
            f"{mine}{item.record_id}" not in held
            or (item.other_id is not None and f"{theirs}{item.other_id}" not in held)
            or (workers and not held.issuperset([f"key:{key}" for key in item.keys]))
            or (item.pair_with is not None and item.pair_with.entry_id in stale)
        ):
            item.queued = True
            if item.pair_with is not None:  # the pairing waits too
                item.pair_with = None
                item.other_id = None
                if item.entry is not None:
                    own = (sid, plan.name, item.entry.entry_id)
                    if own in deletes:
                        deletes.remove(own)
    fetched = fetch_others(core, ctx, plan, other, [i for i in items if not i.queued])
    now = core.clock()
    decided: list[tuple[Item, Decision]] = []
    if lean and all(i.record_id in lean and not i.queued for i in items):
        # The batch is the lean path's alone (its writes are the calls this path makes).
        early, gone_keys, (built, copies) = lean_changes.sync_pairs(
            core, ctx, plan, side, items, fetched, now, lean
        )
        if not early:
            freed |= gone_keys
            if built:
                store.write_built(built)  # the entries of the pairs whose update failed
            if not deletes and not freed:
                if copies or cursors:  # its cursors go with the entries
                    store.write_synced_rows(copies, now, core.history_size, cursors=cursors)
                return set()
            if copies:
                store.write_synced_rows(copies, now, core.history_size)  # rewritten in place
            items = []
    for item in items:
        if item.entry is None and item.view is not None:
            item.entry = item.view.entry()  # a lean pair the general path decides
    waiting: set[str] = set()
    noted: list[str] = []
    for item in items:
        if item.settled:
            decided.append((item, NO_CHANGE))
        elif not item.queued:
            decision = decide_item(core, plan, item, fetched, deletes)
            if ctx.compare_all or not known_gone(plan, item, decision):
                decided.append((item, decision))
            # else: a deletion the index knows already (the sweep after its webhook,
            # the scan and the inbox of one pass, the surviving record read again) is
            # a no-op: failed, counted and logged once, nothing written (S5, R6).
        elif not final:
            waiting.add(item.record_id)
        elif item.entry is not None:
            decided.append((item, QUEUED))
            claim(ctx, plan, item)
            # Noted for the holder before the mark is written (leases.note_queued).
            other_id = item.entry.id_on(other)
            names = (f"{mine}{item.record_id}", f"{theirs}{other_id}" if other_id else "")
            noted.extend(name for name in names if name and name not in held)
        else:
            # A new record the other pass is creating an entry for: writing one here
            # could overwrite its result, so only count it.
            ctx.report.side(plan.name, side).queued += 1
            claim(ctx, plan, item)
    if ctx.claimed and decided:
        decided = wait_for_claimed(ctx, plan, side, decided)
    unsettled = ctx.unsettled.get((plan.name, side))
    if unsettled is not None:
        decided = [(item, defer(side, unsettled, decision)) for item, decision in decided]
    unsent = ctx.unsettled.get((plan.name, other))
    if unsent is not None:
        decided = [
            (item, resend_deferred(item.pair_with or item.entry, other, unsent, decision))
            for item, decision in decided
        ]
    if any(i.queued and i.entry is None and i.record is not None for i in items):
        if ctx.initial and (plan.name, side) not in ctx.unrecorded:
            # Kept in the index: a pass that resumes this initial sync must not move
            # the poll cursor past the record either.
            store.set_meta(sid, unrecorded_meta(plan.name, side), "1")
        ctx.unrecorded.add((plan.name, side))
        cursors = held_back(ctx, plan, side, cursors)
    if catch_up(core, ctx, plan, other, decided):
        # Records added to the other app since its scan are indexed now: decide the
        # batch again, so that this batch's new records pair with them (M1).
        return process_leased(
            core, ctx, plan, side, unique, gone, cursors, held, skip_marked, final
        )
    note_queued(core, ctx, plan, noted)
    execute(core, ctx, plan, decided, deletes, cursors, now, freed)
    return waiting


def claim(ctx: Pass, plan: ObjectPlan, item: Item) -> None:
    """Note the identifiers of ``item``'s record, left queued because another pass
    holds it, as this pass read it (``Pass.claimed``): its holder read it earlier, so
    the index may hold other identifiers for it until a later pass processes it."""
    if item.record is not None:
        keys = identify(plan, item.side, item.record.properties)
        if keys:
            ctx.claimed.setdefault((plan.name, item.side), set()).update(keys)


def wait_for_claimed(
    ctx: Pass, plan: ObjectPlan, side: Side, decided: list[tuple[Item, Decision]]
) -> list[tuple[Item, Decision]]:
    """``decided`` with each create into the other app of a record that holds an
    identifier of a record of that app this pass left queued (``Pass.claimed``) left
    queued too: that record may be its match, or make it a duplicate, once the pass
    that holds it lets go (M1, M3, S9). Creating it now would make a second record with
    the identifier next to it. A record without an entry stays without one (counted
    queued; its side's poll cursor stays before it, see :func:`held_back`)."""
    claimed = ctx.claimed.get((plan.name, side.other))
    if not claimed:
        return decided
    kept: list[tuple[Item, Decision]] = []
    for item, decision in decided:
        if (
            type(decision) is Apply
            and isinstance(decision.write_on(side.other), CreateIn)
            and item.record is not None
            and not claimed.isdisjoint(item.keys or identify(plan, side, item.record.properties))
        ):
            item.queued = True
            if item.entry is not None:
                kept.append((item, QUEUED))
            else:
                ctx.report.side(plan.name, side).queued += 1
            continue
        kept.append((item, decision))
    return kept


def keep_unrecorded(
    core: Core, ctx: Pass, plan: ObjectPlan, side: Side, cursors: Sequence[CursorUpdate]
) -> Sequence[CursorUpdate]:
    """``cursors`` held back (:func:`held_back`) for a record this batch left without
    recording it (its entry cannot be read): the poll cursor must not pass it, so the
    next pass reads it again, until its row is repaired."""
    if ctx.initial and (plan.name, side) not in ctx.unrecorded:
        ctx.store.set_meta(core.sync_id, unrecorded_meta(plan.name, side), "1")
    ctx.unrecorded.add((plan.name, side))
    return held_back(ctx, plan, side, cursors)


def without_corrupt(
    core: Core,
    ctx: Pass,
    plan: ObjectPlan,
    side: Side,
    unique: Mapping[str, Record],
    gone: Sequence[str],
    known: dict[str, Entry],
) -> tuple[dict[str, Record], list[str], dict[str, Entry]]:
    """The batch without the records whose entry is a :class:`CorruptEntry`, each
    failed alone (:func:`fail_corrupt`)."""
    for entry in known.values():
        if type(entry) is CorruptEntry:
            fail_corrupt(core, ctx, plan.name, side, entry)
    keep = {i: e for i, e in known.items() if type(e) is not CorruptEntry}
    return (
        {i: r for i, r in unique.items() if i not in known or i in keep},
        [i for i in gone if i not in known or i in keep],
        keep,
    )


def unmatchable(
    core: Core,
    ctx: Pass,
    plan: ObjectPlan,
    items: list[Item],
    candidates: dict[str, list[Entry]],
) -> tuple[list[Item], dict[str, list[Entry]]]:
    """The items left when those with an identifier a :class:`CorruptEntry` holds fail
    (named in the report with that entry's message), and the candidates without it."""
    corrupt = {
        key: next(e for e in held if type(e) is CorruptEntry)
        for key, held in candidates.items()
        if any(type(e) is CorruptEntry for e in held)
    }
    kept: list[Item] = []
    for item in items:
        key = next((k for k in item.keys if k in corrupt), None)
        if key is None:
            kept.append(item)
            continue
        hit = corrupt[key]
        counts = ctx.report.side(plan.name, item.side)
        message = (
            f"{plan.name}: {item.side.value} record {item.record_id!r} failed: its "
            f"identifier is held by an entry that cannot be read: {hit.message}"
        )
        if message not in ctx.report.errors:
            counts.failed += 1
            ctx.report.errors.append(message)
            # Logged with this record's id alone: the damaged entry's ids are another
            # record's (the report's message names that entry).
            hub = item.side is Side.HUB
            _passlog.record_failed(
                core.sync_id,
                Entry(
                    core.sync_id,
                    plan.name,
                    "",
                    hit.updated_at,
                    hub_id=item.record_id if hub else None,
                    app_id=None if hub else item.record_id,
                ),
                ErrorCategory.INDEX,
                f"its identifier {plan.key_name(key)} is held by an entry of the "
                f"{store_where(core.index)} that cannot be read; the record fails on every "
                "pass until that row is repaired (it could be that entry's record, so it is "
                "neither paired nor created)",
                quiet=core.preflighting,
            )
    return kept, {
        key: [e for e in held if type(e) is not CorruptEntry] for key, held in candidates.items()
    }


def known_gone(plan: ObjectPlan, item: Item, decision: Decision) -> bool:
    """Whether ``decision`` fails ``item`` for a deletion its entry failed for already
    (R6), with nothing new to learn: the same record of the same side gone, and the
    surviving record (if read) as the index holds it. A surviving record that changed
    is decided again, so that the entry keeps its identifiers. Reconcile decides it
    too, so that its report counts every failed record as ``status()`` does."""
    entry = item.pair_with if item.pair_with is not None else item.entry
    if entry is None or not isinstance(decision, Fail):
        return False
    lost = item.side if item.record is None else item.side.other
    return (
        decision.category is ErrorCategory.DELETED
        and entry.state is RecordState.FAILED
        and entry.category is ErrorCategory.DELETED
        and entry.deleted is lost
        and entry.pending is None
        and entry.id_on(lost) is not None
        and (item.record is None or unchanged_since_sync(plan, item.side, item.record, entry))
    )


def held_back(
    ctx: Pass, plan: ObjectPlan, side: Side, cursors: Sequence[CursorUpdate]
) -> Sequence[CursorUpdate]:
    """``cursors`` without the poll cursor of ``side`` once this pass left a new record
    of it queued with no entry (another pass held it or its pair): no entry remembers
    that record, so the cursor must not pass it (S9: queued is never terminal). Its
    pass may die: the settlement of its creates in flight reads the changes since
    that cursor (S8)."""
    if (plan.name, side) not in ctx.unrecorded:
        return cursors
    return [c for c in cursors if c.name != "poll" or c.side is not side]


def decide_item(
    core: Core,
    plan: ObjectPlan,
    item: Item,
    fetched: Mapping[str, Record],
    deletes: list[tuple[str, str, str]],
) -> Decision:
    side = item.side
    entry = item.entry
    if entry is not None and entry.reason is _MERGED:
        # Its counterpart was merged into a record that syncs with another: this
        # record stays as it is, out of the sync (X3), and is never created again.
        return Exclude(_MERGED, entry.message)
    if item.record is None:
        return Fail(
            ErrorCategory.DELETED,
            f"the {side.value} record {item.record_id} was deleted; the "
            f"{side.other.value} record is kept",
        )
    if item.duplicate_of is not None:
        return Exclude(ExcludeReason.DUPLICATE, dup_message(plan, side, item))
    if item.other_error is not None:
        return Fail(item.other_error.category, item.other_error.message)
    if item.other_id is not None:
        counterpart = fetched.get(item.other_id)
        if counterpart is None:
            if item.pair_with is not None and item.pair_with.pending is side:
                # This record is the one a create in flight made (S8): it settles that
                # create, and the record it was made from is gone (R6, X3).
                return decide(plan, item.pair_with, *alone(side, item.record))
            if item.pair_with is not None:
                # The index knew a record that is gone on the other side: forget that
                # entry and treat this record as new.
                forgotten = item.pair_with
                deletes.append((core.sync_id, plan.name, forgotten.entry_id))
                item.freed = forgotten.keys
                own = None if item.entry is None else (core.sync_id, plan.name, item.entry.entry_id)
                if own is not None and own in deletes:
                    # match_batch merged the record's own entry into the pair: it stays.
                    deletes.remove(own)
                heir = find_heir(core, plan, item, forgotten)
                if isinstance(heir, AdapterError):
                    return Fail(heir.category, heir.message)
                if heir is not None:
                    # A record of the other side waited as the forgotten record's
                    # duplicate: it is next in line (M3), and pairs with this one.
                    entry, counterpart, key = heir
                    item.pair_with = entry
                    item.other_id = entry.id_on(side.other)
                    item.matched_by = key
                    item.claim = None
                    item.counterpart = counterpart
                    if own is not None and own[2] != entry.entry_id:
                        deletes.append(own)
                    hub, app = (
                        (item.record, counterpart) if side is _HUB else (counterpart, item.record)
                    )
                    return decide(plan, entry, hub, app)
                item.pair_with = None
                item.other_id = None
                item.matched_by = None
                item.keys = item.keys or identify(plan, side, item.record.properties)
                return decide(plan, item.entry, *alone(side, item.record), keys=item.keys)
            return decide(plan, item.entry, *alone(side, item.record))
        item.counterpart = counterpart
        hub, app = (item.record, counterpart) if side is _HUB else (counterpart, item.record)
        return decide(plan, item.pair_with or item.entry, hub, app)
    if item.pair_with is not None and item.pair_with.pending is side.other:
        # It takes the place of a deleted record whose create is in flight (M3, R6):
        # the record that create makes is its counterpart, once settled (S8).
        return Fail(
            ErrorCategory.UNAVAILABLE,
            f"waits for the create in flight from {side.value} record "
            f"{item.pair_with.id_on(side)} (deleted), whose place it takes, to settle "
            "(rule S8)",
        )
    return decide(plan, item.entry, *alone(side, item.record), keys=item.keys)


def find_heir(
    core: Core, plan: ObjectPlan, item: Item, forgotten: Entry
) -> tuple[Entry, Record, str] | AdapterError | None:
    """The other side's oldest live duplicate of a forgotten pair, for ``item`` (M3).

    When the pair a record matched turns out to have lost its counterpart, a record of
    the other side that was excluded as a duplicate of that counterpart takes its
    place, instead of the record being created a second time.
    """
    side, other = item.side, item.side.other
    seen: set[str] = {forgotten.entry_id}
    for key in item.keys:
        for entry in (item.pool or {}).get(key, ()):
            if entry.entry_id in seen:
                continue
            seen.add(entry.entry_id)
            other_id = entry.id_on(other)
            if is_owner(entry) or entry.id_on(side) is not None or other_id is None:
                continue
            try:
                found = fetch(core, other, plan.type_on(other), [other_id]).get(other_id)
            except Exception as exc:
                return as_adapter_error(exc)
            if found is not None and found.id == other_id:  # not merged into another
                return entry, found, key
    return None


def alone(side: Side, record: Record) -> tuple[Record | None, Record | None]:
    return (record, None) if side is _HUB else (None, record)
