"""The initial sync's matched pairs, a page at a time (phase 2, S3).

Most of an initial sync between two apps that share records is phase 2 meeting, in each
app page, records that pair with a hub record phase 1 indexed: one key lookup, one
merge, one app update, one entry written. :func:`sync_matched` does that for a page with
plain lists and dicts, instead of the per-record ``Item``/``Decision`` pipeline of
:func:`~syncengine.engine.batch.process`, and hands every record it does not take back
to that general path, record by record.

When it applies. Per pass and object sync: a real pass (not a dry run, not the
guard's preflight, not a scale-out worker), no filters, pipelines or stages, no links
(``associations``, or another sync linking to this one), no creates whose settlement
failed in this pass, and the mass-change guard off. Per page: no merged records. Per app
record: a valid id met once in the page (not also listed as deleted), with identifiers,
no index entry of its own, and each of its keys held in the index by exactly one entry,
the same for all, which is a hub record indexed and nothing more (state ``initial``,
no app record, no create in flight, not deleted, not processed in this run, not counted
in this pass yet); and no other record of the page holds any of that entry's keys or
the record's. Then the pair is what :func:`~syncengine.plan.choose_match` would make
(M1-M3), alone in the page. The pair's two records are leased (S9; a record another pass
holds goes to the general path, which waits for it), and
:func:`~syncengine.plan.decide_pairs` merges the page's pairs (D2-D4: what
:func:`~syncengine.plan.decide`, the general path's pure function, decides, from a table
of the fields for plain text) with each hub record as phase 1 read it (while the hub
wins every conflict: phase 1 keeps the values of the properties the merge reads beside
each new entry in the index, :func:`keeping` and
:meth:`~syncengine.index.IndexStore.write_built` with ``kept``, and the page's key
lookup returns them, :meth:`~syncengine.index.IndexStore.by_keys_rows`) or, when
phase 1 did not keep them, as fetched now. A decision that writes nothing, or updates
the app record alone, is carried out here. One made with phase 1's record that would write to
the hub (or fail) is made again with the hub record fetched now, so that a hub user's
edit made since phase 1 is merged, not overwritten; one that fails, excludes or writes
to the hub is carried out by the general executor
(:func:`~syncengine.engine.execute.execute`). A pair whose hub record is gone or merged
goes to the general path.

Why phase 1's record is enough for a merge that writes nothing to the hub: the hub wins
every conflict, so the app gets the hub's values either way; a hub edit made since phase
1 is in the hub's changes after the poll cursor the initial sync leaves (taken when phase
1's scan began), and the next incremental pass finds the hub record changed against the
index copy and carries the edit to the app (``tests/stateful/test_lean_initial.py``
pins it). So does a hub record deleted (or merged) since phase 1: the pair is synced as
if the user had deleted it right after phase 2, and the next pass finds the deletion
(R6: the pair fails as deleted, the app record is kept), where the general path, which
reads the hub record again, would create the app record in the hub anew. Phase 2
indexes the hub's records added since phase 1 when it starts (``read_changes``): that
writes only the entries of new records and of records whose identifiers changed, and
a write drops what phase 1 kept beside an entry, so the values still kept are phase 1's
reads of records whose identifiers have not changed since, as above. Phase 1's values
are not used by another run than the one that kept them (a restarted initial sync
takes its poll cursor after them: only a resumed one may use them, its poll cursor
being the one taken before they were read); the entry's next write drops them from
the index.

Why that is safe. The records taken are independent of the rest of the page (no key in
common, no entry in common), so processing them before the others decides each record
as processing the page in one batch would. Their outcome is the one
:func:`~syncengine.engine.execute.outcome_of` computes for a new pair whose writes
landed: synced, the key it matched by, the copies of the decision, the keys both
records hold after the write (M3, M7), ``matched`` and ``synced`` history items, counted
once as the app's ``updated`` or ``unchanged``; an update that failed goes through
``read_back`` and ``outcome_of`` themselves. The entries are written in one transaction
with the page's cursor when the page holds nothing else, so a crash leaves the page to
be read again (S8), and the records it stored are skipped by their mark. The key lookup
returns each hub entry as a :class:`~syncengine.index.base.RowView` of its row, and the
synced pairs are written by :meth:`~syncengine.index.IndexStore.write_matched`: a bare
entry (phase 1's) is neither decoded nor built and encoded again where the store can
complete its row in place; it merges as a new pair (``decide`` of two records reads
only the entry's copies, and whether it is synced: a bare entry has no copies and is
not synced).
``tests/stateful/test_lean_initial.py`` runs generated initial syncs with this path and
without it (:data:`ENABLED`) and compares the apps, the index and the report.
"""

from __future__ import annotations

from collections.abc import Iterable, Mapping, Sequence
from typing import Any

from syncengine import _passlog
from syncengine.engine.context import Core, Item, Pass, bad_id, chunks
from syncengine.engine.counts import IN_SYNC, settle_counts
from syncengine.engine.execute import execute, outcome_of, read_back
from syncengine.engine.guard import guard
from syncengine.engine.leases import lease, unlease
from syncengine.engine.ports import call_update, fetch
from syncengine.entry import CursorUpdate, Entry, HistoryItem
from syncengine.errors import AdapterError
from syncengine.index.base import Matched, RowView
from syncengine.plan import (
    Apply,
    Decision,
    FieldOutcome,
    ObjectPlan,
    PlainPair,
    UpdateIn,
    decide_pairs,
    decide_pairs_parts,
    identify,
    pair_decision,
)
from syncengine.records import Page, Record, RecordUpdate, Side, WriteResult, make_record
from syncengine.states import RecordState
from syncengine.transitions import evolve

__all__ = [
    "ENABLED",
    "applies",
    "hub_wins",
    "keeping",
    "page_keys",
    "plain_pass",
    "sync_matched",
]

#: Private switch: ``False`` sends every page to the general path (the differential
#: tests compare the two). Not public API.
ENABLED = True


def applies(core: Core, ctx: Pass, plan: ObjectPlan) -> bool:
    """Whether this pass may take the matched pairs of ``plan``'s app pages here (see
    the module docstring)."""
    return (
        ENABLED
        and plain_pass(core, ctx, plan)
        and bool(plan.keys)
        and (core.config.max_change_ratio is None or not ctx.guarded)
    )


def plain_pass(core: Core, ctx: Pass, plan: ObjectPlan) -> bool:
    """Whether this pass of ``plan`` is one a lean path of the initial sync may serve:
    a real pass (not a dry run, not the guard's preflight, not a scale-out worker) that
    marks its records, with no links (``associations``, or another sync linking to
    this one), no filters, pipelines or stages, and no creates whose settlement failed
    in this pass on either side."""
    sync = plan.sync
    return (
        not ctx.dry_run
        and not core.preflighting
        and core.partition is None
        and ctx.mark is not None
        and not sync.associations
        and not core.linked_from.get(plan.name)
        and sync.hub_filter is None
        and sync.app_filter is None
        and not plan.gates
        and (plan.name, Side.HUB) not in ctx.unsettled
        and (plan.name, Side.APP) not in ctx.unsettled
    )


def sync_matched(
    core: Core, ctx: Pass, plan: ObjectPlan, page: Page, cursors: Sequence[CursorUpdate]
) -> tuple[list[Record], Sequence[CursorUpdate]]:
    """Sync the matched pairs of one app page of phase 2 (see the module docstring).

    Returns the records left for the general path and the cursors still to store
    (none when this wrote them: the page held nothing else).
    """
    records = page.records
    if page.merged or not records:
        return list(records), cursors
    app = Side.APP
    sid = core.sync_id
    store = ctx.store
    deleted = set(page.deleted)
    seen, keyed, holders = page_keys(plan, app, records)
    fit = [
        (record, keys)
        for record, keys in keyed
        if keys
        and seen[record.id] == 1
        and record.id not in deleted
        and bad_id(record.id) is None
        and (holders[keys[0]] == 1 if len(keys) == 1 else all(holders[k] == 1 for k in keys))
    ]
    if not fit:
        return list(records), cursors
    own = store.record_keys(sid, plan.name, app, [r.id for r, _ in fit])
    fit = [(r, keys) for r, keys in fit if r.id not in own]
    # The hub values phase 1 kept beside the entries come with the key lookup, and the
    # entries as views of their rows (phase 1's bare entries are not read whole).
    keep = _kept(core, ctx, plan)
    kept: dict[str, dict[str, str | None]] = {}
    wanted = {k for _, keys in fit for k in keys}
    found: dict[str, list[RowView]] = {}
    if fit:
        found, kept = store.by_keys_rows(sid, plan.name, wanted, "" if keep is None else keep[0])
        if keep is None:
            kept = {}
    mark = ctx.mark
    counted = ctx.counted
    pairs: list[tuple[Record, tuple[str, ...], RowView]] = []
    for record, keys in fit:
        first = found.get(keys[0])
        if first is None or len(first) != 1:
            continue
        entry = first[0]
        if (
            entry.state is not RecordState.INITIAL
            or entry.hub_id is None
            or entry.app_id is not None
            or entry.pending is not None
            or (not entry.bare and entry.entry().deleted is not None)
            or entry.mark == mark
            or (plan.name, entry.entry_id) in counted
            or (
                len(keys) > 1
                and not all(
                    (held := found.get(k)) is not None and len(held) == 1 and held[0] is entry
                    for k in keys[1:]
                )
            )
            # No other record of the page holds one of the entry's keys (each of the
            # record's own is held by it alone, above).
            or (
                not (len(entry.keys) == len(keys) and entry.keys.issuperset(keys))
                and not all(holders.get(k, 0) == (k in keys) for k in entry.keys)
            )
        ):
            continue
        pairs.append((record, keys, entry))
    if not pairs:
        return list(records), cursors
    names = [f"app:{r.id}" for r, _, _ in pairs] + [f"hub:{e.hub_id}" for _, _, e in pairs]
    leased = lease(core, ctx, plan, names)
    try:
        taken = _sync_pairs(core, ctx, plan, page, cursors, pairs, names, leased, kept, keep)
    finally:
        unlease(core, ctx, plan)
    if taken is None:
        return list(records), cursors
    rest = [r for r in records if r.id not in taken]
    if taken:
        _passlog.batch(ctx.report, plan.name, app, ctx.phase, len(taken), 0, quiet=False)
    if not rest and not page.deleted:
        return rest, ()
    return rest, cursors


def page_keys(
    plan: ObjectPlan, side: Side, records: Sequence[Record]
) -> tuple[dict[str, int], list[tuple[Record, tuple[str, ...]]], dict[str, int]]:
    """What a lean path asks of a page first: how many times it lists each record id,
    each record with its identifiers (:func:`~syncengine.plan.identify`, once per
    record), and how many of its records hold each identifier."""
    seen: dict[str, int] = {}
    for record in records:
        seen[record.id] = seen.get(record.id, 0) + 1
    keyed: list[tuple[Record, tuple[str, ...]]] = []
    holders: dict[str, int] = {}
    for record in records:
        keys = identify(plan, side, record.properties)
        keyed.append((record, keys))
        for key in keys:
            holders[key] = holders.get(key, 0) + 1
    return seen, keyed, holders


def _sync_pairs(
    core: Core,
    ctx: Pass,
    plan: ObjectPlan,
    page: Page,
    cursors: Sequence[CursorUpdate],
    pairs: list[tuple[Record, tuple[str, ...], RowView]],
    leases: Sequence[str],
    held: set[str],
    kept: Mapping[str, Mapping[str, str | None]],
    keep: tuple[str, tuple[str, ...]] | None,
) -> set[str] | None:
    """Fetch, decide, write and store the pairs whose two records' ``leases`` this
    pass ``held``; the app record ids taken (None when the hub's fetch failed: the
    general path fails those records)."""
    app = Side.APP
    if len(held) != len(leases) or not held.issuperset(leases):  # (all held: usually)
        pairs = [p for p in pairs if f"app:{p[0].id}" in held and f"hub:{p[2].hub_id}" in held]
    if not pairs:
        return None
    # The hub records as phase 1 read them, where it kept their values beside their
    # entries; the others fetched.
    hubs: dict[str, Record] = {}
    if keep is not None and kept:
        names = keep[1]
        for _, _, entry in pairs:
            values = kept.get(entry.entry_id)
            # Kept for the properties this merge reads: else (a mapping changed since
            # phase 1, in a resumed initial sync) the hub record is read again.
            if values is not None and entry.hub_id is not None and tuple(values) == names:
                hubs[entry.hub_id] = make_record(entry.hub_id, values)
    fresh = _fetch(core, plan, [e.hub_id for _, _, e in pairs if e.hub_id not in hubs])
    if fresh is None:
        return None  # the general path reads them again and fails them alone
    now = core.clock()
    # (record, keys, entry, hub record, decision, the app update or None, hub keys)
    work: list[Pair] = []
    general: list[tuple[Item, Decision]] = []
    again: list[tuple[Record, tuple[str, ...], RowView]] = []
    first: list[tuple[Record, tuple[str, ...], RowView, Record]] = []
    read: list[tuple[Record, tuple[str, ...], RowView, Record]] = []
    for record, keys, entry in pairs:
        hub_id = entry.hub_id
        assert hub_id is not None
        hub = hubs.get(hub_id)
        if hub is not None:
            first.append((record, keys, entry, hub))
            continue
        hub = fresh.get(hub_id)
        if hub is None or hub.id != hub_id:
            continue  # gone or merged since phase 1: the general path decides
        read.append((record, keys, entry, hub))
    # Phase 1's values: good for a pair that writes nothing to the hub (a hub edit made
    # since is the next pass's change, S3); one that writes to the hub is merged again
    # with the hub record read fresh (no lost update).
    for (record, keys, entry, hub), made in zip(
        first, decide_pairs_parts(plan, [(_merged(e), h, r) for r, _, e, h in first]), strict=True
    ):
        if isinstance(made, tuple):
            # Decided from the table: its parts, no Apply (built only if the update fails).
            if made[0]:
                again.append((record, keys, entry))  # writes to the hub
            else:
                work.append((record, keys, entry, hub, made, entry.keys))
        elif _app_only(made):
            work.append(_pair(record, keys, entry, hub, made, entry.keys))
        else:
            again.append((record, keys, entry))
    if again:
        got = _fetch(core, plan, [e.hub_id for _, _, e in again])
        for record, keys, entry in again:
            hub = None if got is None else got.get(entry.hub_id or "")
            if hub is None or hub.id != entry.hub_id:
                continue  # unread, gone or merged: the general path decides
            read.append((record, keys, entry, hub))
    _classify(plan, read, work, general)
    taken = {w[0].id for w in work} | {i.record_id for i, _ in general}
    if general:
        execute(core, ctx, plan, general, [], (), now)
    updates = [(n, w[0].id, w[4][1]) for n, w in enumerate(work) if w[4][1]]
    results: dict[int, WriteResult | AdapterError] = {}
    if updates:
        guard(core, ctx, plan, app, len(updates))
        sent = [RecordUpdate(record_id, dict(changes)) for _, record_id, changes in updates]
        for (n, _, _), result in zip(
            updates, call_update(core, ctx, app, plan, sent, planned=False), strict=True
        ):
            results[n] = result
    size_h = core.history_size
    # The history items of the page's pairs, made once each (values: one time, one
    # action, one detail; shared by the entries as their other values are).
    matched_items: dict[str, HistoryItem] = {}  # "matched", "by email", by key number
    synced_items: dict[tuple[str, ...], HistoryItem] = {}  # by the properties updated
    in_sync = HistoryItem(now, "synced", IN_SYNC)
    done_pairs: list[Matched] = []
    failed: list[int] = []
    wrote = unchanged = 0
    app_keys = [key.app for key in plan.keys]
    for n, (record, keys, entry, hub, made, hub_keys) in enumerate(work):
        _, to_app, hub_values, app_values, _ = made
        outcome = results.get(n)
        if outcome is not None and (isinstance(outcome, AdapterError) or not outcome.succeeded):
            failed.append(n)
            continue
        key = keys[0]
        number = key[: key.find(":")]
        matched = matched_items.get(number)
        if matched is None:
            matched = matched_items[number] = HistoryItem(
                now, "matched", f"by {plan.key_name(key)}"[:200]
            )
        if to_app:
            wrote += 1
            names = tuple(to_app)
            done = synced_items.get(names)
            if done is None:
                done = synced_items[names] = HistoryItem(
                    now, "synced", f"updated app: {', '.join(sorted(names))}"[:200]
                )
            if any(name in to_app for name in app_keys):  # the update rewrites a key
                keys = _keys_after(plan, record.properties, to_app, hub, hub_keys)
        else:
            unchanged += 1
            done = in_sync
        if hub_keys is entry.keys:
            # The keys phase 1 indexed for the hub record (its "~" keys among them).
            own = entry.keys
            held_keys = own if own.issuperset(keys) else own.union(keys)
        else:
            held = set(keys)
            held.update(hub_keys)
            held.update(k for k in entry.keys if k.startswith("~"))
            held_keys = frozenset(held)
        # Synced (transitions.synced), with the two items appended to its history: by
        # write_matched, which completes a bare entry's row without reading it whole.
        done_pairs.append(
            (
                entry,
                record.id,
                held_keys,
                key,
                hub_values,
                app_values,
                (matched, done),
            )
        )
    # Counted as count_outcome counts a record met once in the pass: one counter, which
    # the entry's mark tells later batches (so it is not kept in the ledger).
    if wrote or unchanged:
        counts = ctx.report.side(plan.name, app)
        counts.updated += wrote
        counts.unchanged += unchanged
    out = _failed(core, ctx, plan, work, failed, results, now) if failed else []
    alone = len(taken) == len(page.records) and not page.deleted
    if done_pairs or out or alone:
        ctx.store.write_matched(
            done_pairs,
            mark=ctx.mark,
            updated_at=now,
            history_size=size_h,
            entries=out,  # entries built here
            cursors=cursors if alone else (),
        )
    settle_counts(ctx)
    return taken


def _failed(
    core: Core,
    ctx: Pass,
    plan: ObjectPlan,
    work: Sequence[Pair],
    failed: Sequence[int],
    results: dict[int, WriteResult | AdapterError],
    now: Any,
) -> list[Entry]:
    """The outcomes of the pairs whose app update failed, by the general path's own
    steps: an update whose call failed may have landed (``read_back``), the rest fail
    (``outcome_of``)."""
    app = Side.APP
    decided: list[tuple[Item, Decision]] = []
    bases: list[Entry] = []
    written: list[tuple[int, UpdateIn]] = []
    got: dict[int, list[tuple[Side, str, WriteResult | AdapterError]]] = {}
    for m, n in enumerate(failed):
        record, keys, entry, hub, made, _ = work[n]
        assert hub.id == entry.hub_id
        decision = pair_decision(made, hub.id, record.id)
        update = decision.write_on(app)
        assert isinstance(update, UpdateIn)
        item = _item(record, keys, entry.entry(), hub)
        assert item.claim is not None
        base = item.claim[1]
        decided.append((item, decision))
        bases.append(base)
        written.append((m, update))
        got[m] = [(app, "update", results[n])]
    read_back(core, ctx, plan, app, decided, bases, written, got)
    out: list[Entry] = []
    for m, ((item, chosen), base) in enumerate(zip(decided, bases, strict=True)):
        after = outcome_of(core, ctx, plan, item, chosen, base, got[m], now)
        if after is not None:
            out.append(after)
    return out


def _item(record: Record, keys: tuple[str, ...], entry: Entry, hub: Record) -> Item:
    """The app record as the general path holds it once matched with ``entry`` (what
    ``match_batch`` and ``fetch_others`` make of it), for the general executor."""
    return Item(
        Side.APP,
        record,
        None,
        record.id,
        keys=keys,
        other_id=entry.hub_id,
        pair_with=entry,
        matched_by=keys[0],
        counterpart=hub,
        claim=(entry, evolve(entry, app_id=record.id)),
    )


#: One pair the lean path carries out: the app record, its keys, the hub entry, the hub
#: record, the decision as its parts (:data:`~syncengine.plan.PlainPair`: no update of
#: the hub; the app's update, empty when none), and the keys the hub record holds.
Pair = tuple[Record, tuple[str, ...], RowView, Record, PlainPair, Iterable[str]]


def _app_only(decision: Decision) -> bool:
    """Whether ``decision`` is one the lean path carries out: it writes nothing, or
    updates the app record alone."""
    if type(decision) is not Apply:
        return False
    writes = decision.writes
    return not writes or (len(writes) == 1 and writes[0].side is Side.APP)


def _pair(
    record: Record,
    keys: tuple[str, ...],
    entry: RowView,
    hub: Record,
    decision: Decision,
    hub_keys: Iterable[str],
) -> Pair:
    assert isinstance(decision, Apply)
    update = decision.writes[0] if decision.writes else None
    assert update is None or isinstance(update, UpdateIn)
    to_app = {} if update is None else dict(update.properties)
    fields: tuple[FieldOutcome, ...] = decision.fields
    made: PlainPair = ({}, to_app, dict(decision.hub_values), dict(decision.app_values), fields)
    return (record, keys, entry, hub, made, hub_keys)


def _classify(
    plan: ObjectPlan,
    read: Sequence[tuple[Record, tuple[str, ...], RowView, Record]],
    work: list[Pair],
    general: list[tuple[Item, Decision]],
) -> None:
    """Decide pairs with their hub records read fresh; each carried out here, or by the
    general executor when it fails or writes to the hub (hub first, the copies that
    landed stored before the app's write)."""
    if not read:
        return
    decisions = decide_pairs(plan, [(_merged(e), h, r) for r, _, e, h in read])
    for (record, keys, entry, hub), decision in zip(read, decisions, strict=True):
        if _app_only(decision):
            work.append(
                _pair(record, keys, entry, hub, decision, identify(plan, Side.HUB, hub.properties))
            )
        else:
            general.append((_item(record, keys, entry.entry(), hub), decision))


def _merged(entry: RowView) -> Entry | None:
    """The entry a pair's merge reads (:func:`~syncengine.plan.decide` of two records
    reads only its copies, and whether it is synced): none for a bare entry (no
    copies, not synced), which decides as a new pair; else the entry, read whole."""
    return None if entry.bare else entry.entry()


def _fetch(core: Core, plan: ObjectPlan, ids: Sequence[str | None]) -> dict[str, Record] | None:
    """The hub records with these ids, one call per ``max_batch_size``; None when a
    call fails."""
    wanted = [i for i in ids if i is not None]
    type_name = plan.type_on(Side.HUB)
    out: dict[str, Record] = {}
    for chunk in chunks(wanted, core.adapters[Side.HUB].max_batch_size):
        try:
            out.update(fetch(core, Side.HUB, type_name, chunk))
        except Exception:
            return None  # as fetch_others: the general path fails those records alone
    return out


def _keys_after(
    plan: ObjectPlan,
    properties: Mapping[str, Any],
    changes: Mapping[str, Any],
    hub: Record,
    hub_keys: Iterable[str],
) -> tuple[str, ...]:
    """The app record's keys once its update landed (its ``properties`` with
    ``changes``): where its identifier now holds the hub record's value (the hub's value
    won), the hub's key for it, normalized once already (one normalizer per identifier,
    M6); else normalized here."""
    hub_props = hub.properties
    out: list[str] = []
    for key in plan.keys:
        name = key.app
        value = changes[name] if name in changes else properties.get(name)
        if type(value) is not str or value != hub_props.get(key.hub):
            return identify(plan, Side.APP, {**properties, **changes})
        prefix = f"{key.index}:"
        out.extend(k for k in hub_keys if k.startswith(prefix))
    return tuple(out)


def hub_wins(plan: ObjectPlan) -> bool:
    """Whether the hub wins every conflict of ``plan`` (its winner, no per-field policy):
    then a merge that writes nothing to the hub is the same with the hub's values of
    phase 1 as with its values now, but for the hub's edits since, which the next pass
    carries (the hub's poll cursor was taken when phase 1 began)."""
    return plan.sync.winner is Side.HUB and all(
        field.mapping.policy in (None, "winner") for field in plan.fields
    )


def keeping(core: Core, ctx: Pass, plan: ObjectPlan) -> tuple[str, tuple[str, ...]] | None:
    """What phase 1 keeps of each hub record it indexes, beside its entry, for
    :func:`sync_matched`: a tag (the run) and the hub properties the merge and the
    keys read (see the module docstring); ``None`` when phase 2 could not use them."""
    if not applies(core, ctx, plan) or not hub_wins(plan):
        return None
    assert ctx.mark is not None  # applies() checked it
    names = tuple(dict.fromkeys([f.hub.name for f in plan.fields] + [k.hub for k in plan.keys]))
    return ctx.mark, names


def _kept(core: Core, ctx: Pass, plan: ObjectPlan) -> tuple[str, tuple[str, ...]] | None:
    """The tag of the hub values phase 1 kept. Phase 2's reading of the hub's changes
    when it starts (``read_changes``) rewrites, and so drops the kept values of, the
    entries whose identifiers changed since phase 1; the others keep phase 1's read,
    which the module docstring shows is safe to merge with. A resumed phase 2 takes the
    values its run's phase 1 kept (the tag names the run: a restarted initial sync
    fetches, as does one whose mapping changed since)."""
    return keeping(core, ctx, plan)
