"""Executing a batch's decisions: announce creates, write in batches, read back
what an unanswered update did, and store every entry's outcome with the scan cursor in one
transaction.
"""

from __future__ import annotations

from collections.abc import Iterable, Mapping, Sequence
from datetime import datetime
from typing import Final

from syncengine import _passlog
from syncengine._landed import landed, landed_copies
from syncengine.engine.context import Core, Item, Pass, Queued, chunks
from syncengine.engine.counts import IN_SYNC, count_outcome, settle_counts, uncount
from syncengine.engine.duplicates import free_duplicates
from syncengine.engine.guard import guard
from syncengine.engine.leases import store_marks
from syncengine.engine.links import complete_waiting, sync_links
from syncengine.engine.match import new_entry
from syncengine.engine.ports import LandedCreate, call_create, call_update, fetch
from syncengine.engine.settle import absorb, announce_key, landed_key, unannounced
from syncengine.entry import CursorUpdate, Entry
from syncengine.errors import AdapterError
from syncengine.plan import (
    Apply,
    CreateIn,
    Decision,
    Exclude,
    Fail,
    NoChange,
    ObjectPlan,
    UpdateIn,
    identify,
    is_owner,
    unchanged_since_sync,
)
from syncengine.records import NewRecord, Record, RecordUpdate, Side, WriteResult
from syncengine.report import PlannedWrite
from syncengine.states import ErrorCategory, RecordState
from syncengine.transitions import (
    after_write,
    append_history,
    evolve,
    excluded,
    failed,
    queued,
    rewrites_keys,
    synced,
    with_id,
)

__all__ = ["current_keys", "execute", "outcome_of", "queue_fresh", "read_back", "store_landed"]

# Enum members of the per-record path as module constants: on Python 3.11 each
# ``Side.HUB`` is a call through ``EnumType.__getattr__``'s lookup hook.
_HUB: Final = Side.HUB
_APP: Final = Side.APP
_SYNCED: Final = RecordState.SYNCED


def execute(
    core: Core,
    ctx: Pass,
    plan: ObjectPlan,
    decided: Sequence[tuple[Item, Decision]],
    deletes: list[tuple[str, str, str]],
    cursors: Sequence[CursorUpdate],
    now: datetime,
    forgotten: Iterable[str] = (),
) -> None:
    sid = core.sync_id
    # Base entry per item: the pair it joins, its own entry, or a new one.
    bases: list[Entry] = []
    for item, _ in decided:
        base = item.pair_with or item.entry
        if base is None:
            base = item.new or new_entry(core, plan, item.side, item.record_id, item.keys)
        elif base.id_on(item.side) != item.record_id:
            claim = item.claim
            # match_batch made this very entry already when it paired the record.
            if claim is not None and claim[0] is base:
                base = claim[1]
            else:
                base = with_id(base, item.side, item.record_id)
            if base.pending is item.side and item.pair_with is not None:
                # The record a create in flight made was found: the create is settled.
                base = evolve(base, pending=None, pending_key=None)
        bases.append(base)

    # Announce creates as pending before making them (S8).
    creates: dict[Side, list[tuple[int, CreateIn, str]]] = {_HUB: [], _APP: []}
    updates: dict[Side, list[tuple[int, UpdateIn]]] = {_HUB: [], _APP: []}
    pending: list[Entry] = []
    sent_keys: dict[int, str] = {}  # the idempotency key of each create, by item
    resent: set[int] = set()  # the items whose create re-sends a key (S8)
    for n, ((item, decision), base) in enumerate(zip(decided, bases, strict=True)):
        if not isinstance(decision, Apply):
            continue
        for write in decision.writes:
            if isinstance(write, CreateIn):
                if base.pending is write.side and base.pending_key is not None:
                    # A create of this record may be in flight already: the same key
                    # makes an idempotent app answer with that record (S8).
                    key = base.pending_key
                    resent.add(n)
                else:
                    key = announce_key(
                        sid,
                        plan.name,
                        base.entry_id,
                        new=base.hub_values is None and base.app_values is None,
                    )
                creates[write.side].append((n, write, key))
                sent_keys[n] = key
                keys = base.keys | frozenset(item.keys)
                if not is_owner(base):  # a duplicate whose identifier is free now (M3)
                    base = evolve(base, state=RecordState.INITIAL, reason=None, message="")
                pending.append(
                    evolve(
                        base,
                        keys=keys,
                        pending=write.side,
                        pending_key=key,
                        hub_values=decision.hub_values,
                        app_values=decision.app_values,
                        updated_at=now,
                    )
                )
            else:
                updates[write.side].append((n, write))
    for side in Side:
        if updates[side]:
            guard(core, ctx, plan, side, len(updates[side]))
    if pending:
        ctx.store.write(pending)

    results: dict[int, list[tuple[Side, str, WriteResult | AdapterError]]] = {}
    for side in Side:
        if side is _APP and (creates[side] or updates[side]) and not ctx.dry_run:
            # The hub's updates landed: recorded before the app's writes, so a process
            # that dies in between leaves true copies (S6, D6).
            store_landed(core, ctx, plan, decided, bases, updates[_HUB], results, now)
        if creates[side]:
            items = [NewRecord(dict(w.properties), key) for _, w, key in creates[side]]
            outcome = call_create(core, ctx, side, plan, items, planned=False)
            for (n, _, _), result in zip(creates[side], outcome, strict=True):
                results.setdefault(n, []).append((side, "create", result))
        if updates[side]:
            ups = [RecordUpdate(w.record_id, dict(w.properties)) for _, w in updates[side]]
            outcome = call_update(core, ctx, side, plan, ups, planned=False)
            for (n, _), result in zip(updates[side], outcome, strict=True):
                results.setdefault(n, []).append((side, "update", result))
            if not ctx.dry_run:
                read_back(core, ctx, plan, side, decided, bases, updates[side], results)

    out: list[Entry] = []
    linked: list[tuple[Entry, Record | None, Record | None]] = []
    changed: dict[str, Entry] = {}  # linked entries to store, by entry id
    freed: set[str] = set(forgotten)  # identifiers entries no longer hold
    returned: dict[Side, list[Entry]] = {}  # entries of records re-sent creates returned
    for n, ((item, decision), base) in enumerate(zip(decided, bases, strict=True)):
        entry = outcome_of(
            core, ctx, plan, item, decision, base, results.get(n, []), now, sent_keys.get(n)
        )
        if n in resent and entry is not None and entry.pending is None:
            returned.setdefault(item.side.other, []).append(entry)
        current = entry if entry is not None else base
        if entry is not None and item.entry is not None and entry.keys != item.entry.keys:
            freed.update(k for k in item.entry.keys - entry.keys if not k.startswith("~"))
        freed.update(item.freed)
        if (
            plan.sync.associations
            and item.record is not None
            and current.state is _SYNCED
            and current.hub_id is not None
            and current.app_id is not None
        ):
            other = item.counterpart
            if other is None and isinstance(decision, Apply):
                made = decision.write_on(item.side.other)
                if isinstance(made, CreateIn):  # the record this pass created
                    other = Record(current.id_on(item.side.other) or "", made.properties)
            pair = (item.record, other) if item.side is _HUB else (other, item.record)
            linked.append((current, *pair))
            if entry is not None:
                # The outcome (copies, history, state) is stored whether or not its
                # links change: sync_links returns only the entries it changed.
                changed[current.entry_id] = current
        elif entry is not None:
            out.append(entry)
    if linked:
        for linked_entry in sync_links(core, ctx, plan, linked, now):
            changed[linked_entry.entry_id] = linked_entry
        out.extend(changed.values())
    for made_on, entries in returned.items():
        deletes.extend(absorb(core, ctx, plan, made_on, entries))
    out = queue_fresh(core, ctx, plan, decided, out, now)
    uncount(core, ctx, plan.name, deletes)
    ctx.store.write(out, delete=deletes, cursors=cursors)
    settle_counts(ctx)
    if core.linked_from.get(plan.name) and not ctx.dry_run:
        complete_waiting(core, ctx, plan, out, now)
    if freed:
        free_duplicates(core, ctx, plan, freed)


def queue_fresh(
    core: Core,
    ctx: Pass,
    plan: ObjectPlan,
    decided: Sequence[tuple[Item, Decision]],
    out: list[Entry],
    now: datetime,
) -> list[Entry]:
    """Store the queued marks of the batch's queued records (S9); the other entries of
    ``out`` are returned, for the batch's write.

    Another pass holds these records, not their entries' rows: it may store its outcome
    (a pair, a record it created, an edit it synced) at any time, and a mark written
    over it with the copy read before would lose that outcome. So each mark is written
    only on the entry as it was read (:meth:`IndexStore.replace_unchanged
    <syncengine.index.IndexStore.replace_unchanged>`, a compare-and-set); an entry
    changed since gets the mark on what is stored now (the change this pass saw must
    still be retried), until it is stored. An entry the other pass forgot, or whose row
    cannot be read now, is left as it is.
    """
    read = {
        item.entry.entry_id: item
        for item, decision in decided
        if isinstance(decision, Queued) and item.entry is not None
    }
    if not read or ctx.dry_run:
        return out
    kept: list[Entry] = []
    marks: dict[str, tuple[Entry, Entry]] = {}
    for entry in out:
        item = read.get(entry.entry_id)
        if item is None or item.entry is None or entry.state is not RecordState.QUEUED:
            kept.append(entry)
        else:
            marks[entry.entry_id] = (item.entry, entry)

    def rebase(entry_id: str, current: Entry) -> Entry | None:
        item = read[entry_id]
        keys = current.keys.union(item.keys) if item.record is not None else current.keys
        if current.state is RecordState.QUEUED and keys == current.keys:
            return None  # marked already (by another pass that met it)
        return queued(core.history_size, current, now, keys)

    store_marks(core, ctx, plan, marks, rebase)
    return kept


def read_back(
    core: Core,
    ctx: Pass,
    plan: ObjectPlan,
    side: Side,
    decided: Sequence[tuple[Item, Decision]],
    bases: Sequence[Entry],
    written: Sequence[tuple[int, UpdateIn]],
    results: dict[int, list[tuple[Side, str, WriteResult | AdapterError]]],
) -> None:
    """Settle updates whose call failed as a whole by reading their records (X9).

    A failed call may have happened (its reply was lost): a record that now holds
    what the decision's copy says of it took the update, which is then counted as
    landed, so the copy is stored and the engine's own write is not taken for a
    change of that app's users. A read that fails leaves them failed.
    """
    lost = {
        w.record_id: n
        for n, w in written
        if isinstance(results[n][-1][2], AdapterError) and results[n][-1][0] is side
    }
    if not lost:
        return
    adapter = core.adapters[side]
    for chunk in chunks(list(lost), adapter.max_batch_size):
        try:
            got = fetch(core, side, plan.type_on(side), chunk)
        except Exception:  # the records stay failed; the next pass decides again
            continue
        for record_id in chunk:
            record = got.get(record_id)
            n = lost[record_id]
            decision = decided[n][1]
            if record is None or record.id != record_id or not isinstance(decision, Apply):
                continue
            copy = evolve(bases[n], hub_values=decision.hub_values, app_values=decision.app_values)
            if unchanged_since_sync(plan, side, record, copy):
                results[n][-1] = (side, "update", WriteResult.ok(record_id))


def store_landed(
    core: Core,
    ctx: Pass,
    plan: ObjectPlan,
    decided: Sequence[tuple[Item, Decision]],
    bases: Sequence[Entry],
    written: Sequence[tuple[int, UpdateIn]],
    results: Mapping[int, list[tuple[Side, str, WriteResult | AdapterError]]],
    now: datetime,
) -> None:
    """Store the copies of the pairs whose hub update landed and that have an app write
    to come, before the app's writes (a process that dies in between leaves true copies).

    A pair with nothing to write on the app is stored once, with the batch's outcomes:
    its hub update is all it writes, as in a batch without app writes.
    """
    out: list[Entry] = []
    merged: list[tuple[str, str, str]] = []
    for n, _ in written:
        ((_, _, result),) = results[n]
        if isinstance(result, AdapterError) or not result.succeeded:
            continue
        item, decision = decided[n]
        assert isinstance(decision, Apply)
        if decision.write_on(Side.APP) is None:
            continue
        copies = landed_copies(plan, decision, bases[n], (Side.APP,))
        if copies is not None:
            keys = current_keys(plan, item, bases[n], landed(decision, (Side.HUB,)))
            out.append(
                evolve(
                    bases[n],
                    hub_values=copies[0],
                    app_values=copies[1],
                    keys=keys | bases[n].keys,  # frees nothing until the outcome
                    updated_at=now,
                )
            )
            own = item.entry
            if own is not None and own.entry_id != bases[n].entry_id:
                # The record's own entry merges into the pair (match_batch): gone with
                # the first write that names the record in the pair, or a process that
                # dies before the app's writes leaves it in two entries. The batch's
                # write deletes it again (a no-op) and counts it.
                merged.append((core.sync_id, plan.name, own.entry_id))
    if out:
        ctx.store.write(out, delete=merged)


def outcome_of(
    core: Core,
    ctx: Pass,
    plan: ObjectPlan,
    item: Item,
    decision: Decision,
    base: Entry,
    results: Sequence[tuple[Side, str, WriteResult | AdapterError]],
    now: datetime,
    sent_key: str | None = None,
) -> Entry | None:
    """The entry after a decision and its writes; counts what happened.

    ``sent_key`` is the idempotency key of the create this decision made, if any: a
    create whose reply was lost stays pending with it, to be settled by it (S8).
    """
    side = item.side
    stored = item.pair_with or item.entry  # as the batch read it (see count_outcome)
    mark = ctx.mark if ctx.mark is not None else base.mark
    matched_by, history = base.matched_by, base.history
    if item.matched_by is not None and item.pair_with is not None:
        # The pair is made whatever the decision: a pair that fails (or is excluded) on
        # its first sync still says how it matched, for explain (R8). A pair that
        # syncs gets both in its synced entry below, without a copy in between.
        matched_by = item.matched_by
        history = append_history(
            core.history_size, history, now, "matched", f"by {plan.key_name(matched_by)}"
        )
        if not isinstance(decision, Apply):
            base = evolve(base, matched_by=matched_by, history=history)
    # An Apply's keys depend on whether its writes land: computed below, once.
    keys = base.keys if isinstance(decision, Apply) else current_keys(plan, item, base)
    if isinstance(decision, Queued):
        ctx.queued.add(base.entry_id)
        count_outcome(core, ctx, plan.name, base, ((side, "queued"),), stored=stored)
        # The record's identifiers as read now join its entry's: a new record of the
        # other app that holds one waits for it (M1, M3) instead of being created next
        # to it while another pass holds it. Processing it later drops the stale ones.
        held_keys = base.keys.union(item.keys) if item.record is not None else base.keys
        if base.state is RecordState.QUEUED and item.entry is base and held_keys == base.keys:
            return None
        return queued(core.history_size, base, now, held_keys)
    if isinstance(decision, NoChange):
        count_outcome(core, ctx, plan.name, base, ((side, "unchanged"),), stored=stored)
        if base.state is _SYNCED and base.mark == mark and item.entry is base:
            return None
        return evolve(
            base,
            state=_SYNCED,
            category=None,
            reason=None,
            message="",
            attempts=0,
            mark=mark,
            keys=keys,
            deleted=None,
            updated_at=now if base.state is not _SYNCED else base.updated_at,
        )
    if isinstance(decision, Exclude):
        count_outcome(core, ctx, plan.name, base, ((side, "excluded"),), stored=stored)
        return evolve(
            excluded(core.history_size, base, decision.reason, decision.message, now),
            mark=mark,
            keys=keys,
        )
    if isinstance(decision, Fail):
        count_outcome(core, ctx, plan.name, base, ((side, "failed"),), stored=stored)
        shown = [r.properties for r in (item.record, item.counterpart) if r is not None]
        _passlog.record_failed(
            core.sync_id, base, decision.category, decision.message, shown, quiet=core.preflighting
        )
        entry = failed(
            core.history_size, base, decision.category, decision.message, now, mark, keys
        )
        if decision.category is ErrorCategory.DELETED:
            # R6: remember which side lost its record, for restore.
            lost = side if item.record is None else side.other
            if base.deleted is not None and base.deleted is not lost:
                # Both records are gone: the entry keeps the index copy for a restore,
                # but no longer owns their identifiers (M3).
                entry = evolve(entry, keys=frozenset(), deleted=base.deleted)
            else:
                entry = evolve(entry, deleted=lost)
        return entry
    assert isinstance(decision, Apply)
    failure: tuple[ErrorCategory, str, Side] | None = None
    created_id: str | None = None
    created_side: Side | None = None
    lost_create = False
    landed_create = False  # a create answered as done, with an id no index can hold
    written: list[str] = []
    counted: list[tuple[Side, str]] = []
    planned: dict[Side, PlannedWrite] = {}
    for write_side, action, result in results:
        write = decision.write_on(write_side)
        if isinstance(result, AdapterError) or not result.succeeded:
            if failure is None:  # the record fails once, as status() counts it
                counted.append((write_side, "failed"))
            category = result.category or ErrorCategory.UNKNOWN
            failure = failure or (category, result.message, write_side)
            if isinstance(result, AdapterError):
                lost_create = lost_create or action == "create"
                landed_create = landed_create or type(result) is LandedCreate
        elif action == "create":
            counted.append((write_side, "created"))
            created_id, created_side = result.record_id, write_side
            written.append(f"created on {write_side}")  # a StrEnum: its value
        else:
            counted.append((write_side, "updated"))
            fields = ", ".join(sorted(write.properties)) if write is not None else ""
            written.append(f"updated {write_side}: {fields}")
        if ctx.dry_run and write is not None:
            planned[write_side] = PlannedWrite(
                plan.name,
                write_side,
                "create" if isinstance(write, CreateIn) else "update",
                write.record_id if isinstance(write, UpdateIn) else None,
                dict(write.properties),
                item.record_id if isinstance(write, CreateIn) else None,
            )
    count_outcome(
        core, ctx, plan.name, base, tuple(counted) or ((side, "unchanged"),), planned, stored
    )
    if failure is not None:
        if history is not base.history:
            base = evolve(base, matched_by=matched_by, history=history)
        category, message, _ = failure
        keys = current_keys(plan, item, base)
        _passlog.record_failed(
            core.sync_id,
            base,
            category,
            message,
            (decision.hub_values, decision.app_values),
            quiet=core.preflighting,
        )
        entry = failed(core.history_size, base, category, message, now, mark, keys)
        if lost_create:
            # The create may have happened remotely: keep it pending for settlement.
            write = next(w for w in decision.writes if isinstance(w, CreateIn))
            key = sent_key or entry.pending_key
            return evolve(
                entry,
                pending=write.side,
                pending_key=landed_key(key) if landed_create and key is not None else key,
                hub_values=decision.hub_values,
                app_values=decision.app_values,
            )
        # A new record's create re-sent with its key and refused made nothing: the
        # entry drops the copies it was announced with, as on a first send (S8).
        entry = unannounced(entry, sent_key)
        wrote = {s for s, counter in counted if counter == "updated"}
        copies = landed_copies(plan, decision, base, set(Side) - wrote) if wrote else None
        if copies is not None:  # what did land is in the copies (S6, D6)
            keys = current_keys(plan, item, base, landed(decision, wrote))
            entry = evolve(entry, hub_values=copies[0], app_values=copies[1], keys=keys)
        return evolve(entry, pending=None, pending_key=None)
    rewritten = bool(written) and rewrites_keys(plan, decision)
    keys = current_keys(plan, item, base, decision if rewritten else None)
    hub_id, app_id = base.hub_id, base.app_id
    if created_id is not None and created_side is not None:
        if created_side is _HUB:
            hub_id = created_id
        else:
            app_id = created_id
    for text in written:
        history = append_history(core.history_size, history, now, "synced", text)
    if not written and base.state is not _SYNCED:
        history = append_history(core.history_size, history, now, "synced", IN_SYNC)
    return synced(
        base,
        hub_id=hub_id,
        app_id=app_id,
        keys=keys,
        matched_by=matched_by,
        hub_values=decision.hub_values,
        app_values=decision.app_values,
        mark=mark,
        updated_at=now,
        history=history,
    )


def current_keys(
    plan: ObjectPlan, item: Item, base: Entry, written: Apply | None = None
) -> frozenset[str]:
    """The entry's identifier keys as its records hold them now (M3, M7).

    Pairs stay paired whatever their identifiers become, but their keys follow the
    records, so a new record with a pair's new e-mail is seen as its duplicate and an
    old e-mail is free again. Waiting-link keys (``~…``) are kept. ``written``: a
    decision whose writes succeeded, so the counterpart holds what it wrote.
    """
    if item.record is None or item.settled or item.queued:
        return base.keys
    if written is None or not isinstance(written.write_on(item.side), UpdateIn):
        keys = set(item.keys or identify(plan, item.side, item.record.properties))
    else:
        keys = set(identify(plan, item.side, after_write(written, item.side, item.record)))
    if item.counterpart is not None:
        other = item.side.other
        keys.update(identify(plan, other, after_write(written, other, item.counterpart)))
    elif item.other_error is not None:
        # The counterpart could not be read: it still holds what it held, as far as
        # anyone knows, so a new record with its identifier stays its duplicate.
        keys.update(base.keys)
    keys.update(k for k in base.keys if k.startswith("~"))
    return frozenset(keys)
