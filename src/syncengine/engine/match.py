"""Matching a batch against the index (rules M1–M3, M7), and indexing records
without syncing them (phase 1 of the initial sync, and the other side's new records before
a pass creates into it).
"""

from __future__ import annotations

from collections import Counter
from collections.abc import Iterable, Mapping, Sequence
from typing import Final, cast

from syncengine.engine.context import Core, Item, Pass, bad_id
from syncengine.engine.duplicates import dup_message
from syncengine.engine.ports import scan
from syncengine.entry import CorruptEntry, CursorUpdate, Entry, HistoryItem
from syncengine.index.base import indexed_entry
from syncengine.plan import (
    NO_MATCH,
    Apply,
    CreateIn,
    Decision,
    ObjectPlan,
    choose_match,
    identify,
    is_owner,
)
from syncengine.records import Record, Side
from syncengine.states import ExcludeReason, RecordState
from syncengine.transitions import evolve, excluded, with_id

__all__ = ["catch_up", "index_side", "match_batch", "new_entry", "read_changes", "stale_pairs"]


def index_side(
    core: Core,
    ctx: Pass,
    plan: ObjectPlan,
    side: Side,
    records: Sequence[Record],
    cursors: Sequence[CursorUpdate],
    *,
    keyed_only: bool = False,
    keep: tuple[str, tuple[str, ...]] | None = None,
) -> int:
    """Store each record's id and identifiers without syncing it (S3 phase 1); return
    how many records were left without an entry (bad ids, records a create in flight
    may have made, and with ``keyed_only`` records without identifiers).

    With ``keyed_only``, records without identifiers are left out: they match
    nothing, and their own processing (or another worker's) indexes them.

    The initial sync indexes the hub this way; incremental passes and reconcile index
    the app's new records this way before they process the hub, so that a record
    added to both apps between two passes is paired, not created twice (M1). Later
    records with an identifier already held on this side are duplicates (M3).

    ``keep``: a tag and property names. Each new entry of a record met once in the
    page keeps, beside it in the index, the record's text values of those properties
    (:meth:`~syncengine.index.IndexStore.write_built` with ``kept``, as
    :meth:`~syncengine.index.IndexStore.write_indexed` does, until the entry's next write):
    phase 1 keeps so the hub values phase 2's lean path merges with.
    """
    sid = core.sync_id
    store = ctx.store
    now = core.clock()
    left = 0
    if any(bad_id(r.id) for r in records):
        # Left out: process fails them, named in the report (X1).
        left = len(records)
        records = [r for r in records if not bad_id(r.id)]
        left -= len(records)
    keyed = [(r, identify(plan, side, r.properties)) for r in records]
    if keyed_only:
        left += len(keyed)
        keyed = [(r, keys) for r, keys in keyed if keys]
        left -= len(keyed)
    # Most records have an entry with the same keys, which is left alone: the entries
    # are read (built) only for records whose keys differ from their entry's.
    hot = store.record_keys(sid, plan.name, side, [r.id for r in records])
    done: set[str] = set()  # records whose entry stays as it is
    stale: set[str] = set()  # records whose entry's keys change
    for record, keys in keyed:
        seen = hot.get(record.id)
        if seen is None:
            continue
        if seen[1].issuperset(keys) if seen[0] is not None else seen[1] == frozenset(keys):
            done.add(record.id)
        else:
            stale.add(record.id)
    done -= stale  # a record listed twice, with different keys
    known = store.by_record_ids(sid, plan.name, side, stale) if stale else {}
    wanted = {
        k
        for r, keys in keyed
        if r.id not in done
        and ((e := known.get(r.id)) is None or (not is_owner(e) and e.keys != frozenset(keys)))
        for k in keys
    }
    candidates = store.by_keys(sid, plan.name, wanted) if wanted else {}
    # Entries earlier records of the page hold by key: built, or new ones' places in out.
    local: dict[str, list[Entry | int]] = {}
    out: list[Entry | _Parts] = []  # in order: entries built, and new entries' parts
    built: dict[int, Entry] = {}  # new entries' Entry, by their place in out, once built

    def entry_of(held: Entry | int) -> Entry:
        if type(held) is not int:
            return cast("Entry", held)
        found = built.get(held)
        if found is None:
            record_id, record_keys, _ = cast("_Parts", out[held])
            found = built[held] = indexed_entry(
                sid, plan.name, side, record_id, record_keys, now, indexed
            )
        return found

    once: set[str] | None = None
    if keep is not None:
        ids = [r.id for r, _ in keyed]
        once = set(ids)
        if len(once) != len(ids):  # a record listed twice: which read to keep is unclear
            once = {i for i, n in Counter(ids).items() if n == 1}
    indexed = (HistoryItem(now, "indexed", side.value),)  # a value: the page's entries share it
    for record, keys in keyed:
        if record.id in done:
            continue  # its entry holds the record's keys already: nothing to index
        entry = known.get(record.id)
        if type(entry) is CorruptEntry or (
            candidates and any(type(e) is CorruptEntry for k in keys for e in candidates.get(k, ()))
        ):
            # Its entry, or one holding its identifiers, cannot be read: nothing is
            # indexed over it; the record's own processing fails it, naming the row.
            left += 1
            continue
        if entry is not None and is_owner(entry):
            # Its keys are its records'. New ones are added now, so a new record with
            # them is its duplicate; processing it drops the ones its records no
            # longer hold, and frees them for their duplicates (M3, M7).
            if not entry.keys.issuperset(keys):
                out.append(evolve(entry, keys=entry.keys.union(keys), updated_at=now))
            continue
        pool: dict[str, list[Entry]] | None = None  # no entry holds its identifiers
        if (
            entry is not None
            or not local.keys().isdisjoint(keys)
            or not candidates.keys().isdisjoint(keys)
        ):
            pool = {k: [*candidates.get(k, ()), *map(entry_of, local.get(k, ()))] for k in keys}
        if entry is not None:
            assert pool is not None
            if frozenset(keys) == entry.keys:
                continue
            # A duplicate with another identifier: still one, or the first with it.
            if choose_match(side, record.id, keys, pool).duplicate_of is not None:
                out.append(evolve(entry, keys=frozenset(keys), updated_at=now))
                continue
            first = evolve(
                entry,
                keys=frozenset(keys),
                state=RecordState.INITIAL,
                reason=None,
                message="",
                updated_at=now,
            )
            for k in keys:
                local.setdefault(k, []).append(first)
            out.append(first)
            continue
        match = NO_MATCH if pool is None else choose_match(side, record.id, keys, pool)
        if match.entry is not None and (
            match.entry.pending is side or match.entry.id_on(side) == record.id
        ):
            # Perhaps the record a create in flight made (or one about to be recorded
            # by another worker): its settlement or its processing pairs it (S8). Or
            # another worker recorded it between this batch's two reads (S9).
            left += match.entry.id_on(side) != record.id
            continue
        if match.duplicate_of is not None:
            # Counted when the pass processes the record (indexing is not an outcome).
            new = indexed_entry(sid, plan.name, side, record.id, frozenset(keys), now, indexed)
            new = excluded(
                core.history_size, new, ExcludeReason.DUPLICATE, dup_message(plan, side, match), now
            )
            out.append(new)
            continue
        # A new entry: its parts only (write_indexed_new writes it from them); its
        # Entry is built when a later record of the page meets one of its keys.
        values = None
        if keep is not None and once is not None and record.id in once:
            values = kept_values(record.properties, keep[1])
        for k in keys:
            local.setdefault(k, []).append(len(out))
        out.append((record.id, frozenset(keys), values))
    tag = "" if keep is None else keep[0]
    if out and all(type(e) is tuple for e in out):
        # Every entry of the page is new: written from its parts.
        parts = cast("list[_Parts]", out)
        store.write_indexed_new(sid, plan.name, side, parts, at=now, tag=tag, cursors=cursors)
    elif out or cursors:
        entries: list[Entry] = []
        kept: dict[str, tuple[str, dict[str, str | None]]] = {}
        for i, held in enumerate(out):
            if isinstance(held, tuple):
                built_entry = entry_of(i)
                if held[2] is not None:
                    kept[built_entry.entry_id] = (tag, held[2])
                entries.append(built_entry)
            else:
                entries.append(held)
        store.write_built(entries, kept=kept, cursors=cursors)  # entries built here
    return left


#: A new entry of index_side: the record id, its keys, the values to keep (or None).
_Parts = tuple[str, frozenset[str], dict[str, str | None] | None]


def kept_values(
    properties: Mapping[str, object], names: Sequence[str]
) -> dict[str, str | None] | None:
    """The record's values of ``names`` (``None`` for those it lacks, as a merge reads
    them), when each is text or ``None``; else ``None`` (the record is read again)."""
    get = properties.get
    out = {name: get(name) for name in names}
    if not {*map(type, out.values())} <= _TEXT_OR_NONE:
        return None
    return out  # type: ignore[return-value]  # checked above


_TEXT_OR_NONE: Final = frozenset({str, type(None)})


def catch_up(
    core: Core, ctx: Pass, plan: ObjectPlan, other: Side, decided: Sequence[tuple[Item, Decision]]
) -> bool:
    """Index the other app's records added since the initial sync scanned it (S3, M1).

    Phases 2 and 3 of the initial sync pair records with the other side's index,
    which its scan built; a record added to both apps after that scan would be created
    a second time. Before the first create into ``other`` in the phase, the changes
    made there since its scan started are indexed (once per phase: that change scan
    includes the echoes of this sync's own writes). Whether it did so.

    A phase run in one process reads them when it starts instead (:func:`read_changes`,
    so that what pairs does not depend on the order of its records), and this finds
    them read; scale-out workers read them here.
    """
    if not ctx.catch_up or (plan.name, other) in ctx.caught_up:
        return False
    if not any(
        isinstance(decision, Apply) and isinstance(decision.write_on(other), CreateIn)
        for _, decision in decided
    ):
        return False
    return read_changes(core, ctx, plan, other)


def read_changes(core: Core, ctx: Pass, plan: ObjectPlan, other: Side) -> bool:
    """Index ``other``'s records added since the initial sync scanned it, once per phase
    (see :func:`catch_up`); whether it indexed any.

    Phases 2 and 3 call it when they start, before they decide any record: what the
    other app holds then pairs whatever the order the phase reads its side in (M1); a
    record added later is the first incremental pass's.
    """
    if not ctx.catch_up or (plan.name, other) in ctx.caught_up:
        return False
    ctx.caught_up.add((plan.name, other))
    since = ctx.store.cursor(core.sync_id, other, plan.name, "initial_poll")
    if since is None:
        return False
    indexed = False
    for page in scan(core, ctx, other, plan, since):
        if page.records:
            # Records other workers are creating right now show up here too; those
            # without identifiers are left to them (they could pair with nothing).
            index_side(core, ctx, plan, other, page.records, (), keyed_only=True)
            indexed = True
    return indexed


def stale_pairs(core: Core, ctx: Pass, plan: ObjectPlan, items: Sequence[Item]) -> set[str]:
    """Entries a batch pairs with that another pass changed since they were read.

    A worker reads its candidates, then leases the counterparts; another worker may
    have paired the same entry in between (matched by another identifier). Those
    items wait and are matched again from a fresh read (S9, M1).
    """
    seen = {i.pair_with.entry_id: i.pair_with for i in items if i.pair_with is not None}
    if not seen:
        return set()
    now = ctx.store.get(core.sync_id, plan.name, list(seen))
    return {
        entry_id
        for entry_id, entry in seen.items()
        if (fresh := now.get(entry_id)) is None
        or (fresh.hub_id, fresh.app_id, fresh.pending, fresh.updated_at)
        != (entry.hub_id, entry.app_id, entry.pending, entry.updated_at)
    }


def match_batch(
    core: Core,
    plan: ObjectPlan,
    side: Side,
    items: Sequence[Item],
    candidates: Mapping[str, Sequence[Entry]],
    deletes: list[tuple[str, str, str]],
) -> None:
    """Pair new records with index entries, in batch order (M1–M3, M7)."""
    taken: dict[str, Entry] = {}  # entry_id -> the entry as this batch has changed it
    local: dict[str, list[Entry]] = {}  # key -> entries claimed earlier in the batch
    contested = any(item.keys for item in items)  # a new record with identifiers
    for item in items if contested else ():
        if item.record is not None and item.entry is not None and item.other_id is not None:
            # A pair whose record took a new identifier holds it from this batch on
            # (M3, M7): a new record of the batch with it is the pair's duplicate,
            # not a record to create beside it.
            for key in identify(plan, side, item.record.properties):
                if key not in item.entry.keys:
                    local.setdefault(key, []).append(item.entry)
    for item in items:
        if item.record is None or item.other_id is not None or item.settled:
            continue  # deleted, paired, or a pair unchanged since its sync (S6)
        pool: dict[str, list[Entry]] = {}
        for key in item.keys:
            seen: set[str] = set()
            merged = []
            for entry in (*candidates.get(key, ()), *local.get(key, ())):
                if entry.entry_id in seen:
                    continue
                seen.add(entry.entry_id)
                merged.append(taken.get(entry.entry_id, entry))
            pool[key] = merged
        match = choose_match(side, item.record_id, item.keys, pool)
        item.pool = pool
        claim: Entry | None = None
        if match.duplicate_of is not None and item.entry is None and in_flight(side, item, pool):
            # A new record that a create in flight may have made (its settlement has not
            # decided it: another pass holds it, or the app could not be asked) is not
            # another record's duplicate: it waits for that settlement (S8, M3).
            item.queued = True
        elif match.duplicate_of is not None:
            item.duplicate_of = match.duplicate_of
            item.matched_by = match.key
        elif match.entry is not None:
            target = match.entry
            item.pair_with = target
            item.matched_by = match.key
            item.other_id = target.id_on(side.other)
            claim = with_id(target, side, item.record_id)
            if claim.deleted is side:
                # This record takes the deleted one's place (M3, R6): the pair's record
                # on this side is live again, so later records of the batch are its
                # duplicates instead of taking the same place too.
                claim = evolve(claim, deleted=None)
            item.claim = (target, claim)
            if item.entry is not None and item.entry.entry_id != target.entry_id:
                # The record's own unpaired entry is merged into the pair.
                deletes.append((core.sync_id, plan.name, item.entry.entry_id))
        else:
            claim = item.entry
            if claim is None:
                claim = item.new = new_entry(core, plan, side, item.record_id, item.keys)
            keys = frozenset(item.keys)
            if claim.keys != keys or not is_owner(claim):
                # A duplicate whose identifier is free now syncs: later records of
                # the batch with that identifier are its duplicates (M3).
                claim = evolve(
                    claim, keys=keys, state=RecordState.SYNCED, reason=None, category=None
                )
        if claim is not None:
            taken[claim.entry_id] = claim
            for key in item.keys:
                local.setdefault(key, []).append(claim)


def in_flight(side: Side, item: Item, pool: Mapping[str, Sequence[Entry]]) -> bool:
    """Whether an entry with one of ``item``'s identifiers has a create in flight to
    ``side`` (paired with a record there by this batch at most, not by its settlement):
    the record may be the one it made."""
    return any(e.pending is side for k in item.keys for e in pool.get(k, ()))


def new_entry(
    core: Core, plan: ObjectPlan, side: Side, record_id: str, keys: Iterable[str]
) -> Entry:
    hub = side is Side.HUB
    return Entry(
        sync_id=core.sync_id,
        object_type=plan.name,
        entry_id=f"{'h' if hub else 'a'}:{record_id}",
        updated_at=core.clock(),
        hub_id=record_id if hub else None,
        app_id=None if hub else record_id,
        keys=frozenset(keys),
    )
