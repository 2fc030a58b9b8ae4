"""The incremental pass's changed synced pairs, a page at a time (S5, S6, D2-D6).

Most of an incremental pass is a page of one app's changes whose records are each one
half of a synced pair: the echo of the engine's own write (S6), or a user's edit to
merge with the other record and write across. This module does that for the plain pairs
of a page with plain dicts and lists, instead of the per-record ``decide`` /
``execute`` / ``outcome_of`` pipeline, from inside
:func:`~syncengine.engine.batch.process_leased`: once the page is leased and its entries
read, :func:`select` counts the echoes (nothing read or written) and picks the changed
pairs; these stay in the batch while it leases their counterparts and reads them with
the rest of the page (:func:`~syncengine.engine.ports.fetch_others`: the kept scan
pages, the index copy of a record its side did not change, one call per
``max_batch_size``); and when every record of the batch is such a pair,
:func:`sync_pairs` merges and writes them.

When it applies. Per pass and object sync (:func:`applies`): a real incremental pass
or webhook batch (not a dry run, not the guard's preflight or a pass the guard watches,
not a scale-out worker, no mark: not the initial sync or reconcile, which compare
every pair in full), no filters, pipelines or stages, no links (``associations``, or
another sync linking to this one), no creates whose settlement failed in this pass, and
every mapped field plain text both ways (no options, transforms, one-way fields or
``propagate_clears``), conflicts going to the sync's winner (no ``"newest"`` or
callable policy). Per page: every record has an entry (a new record's matching reads
the index as its page found it). Per record: leased by this pass, its entry a synced
pair (no create in flight, no deletion, no reason), not counted yet in this pass (a
pair met twice is counted by the general path's ledger), and, unless it is an echo, its
identifiers all held by its entry (a record that took a new one is seen by the general
path's matching of the page, M3, M7). Per batch: every record of it is such a pair, its
counterpart leased (else it waits, queued, as on the general path) and read (not failed,
gone or merged), its mapped values and the record's plain text or absent, and its merge
writing at most one side and leaving the pair's identifier keys as they are; else the
general path decides the whole batch, as it would without this module (the echoes are
counted either way). The updates of a batch then go out in the calls the general path
would make: one per side and ``max_batch_size``, the hub's first.

What it does, as the general path does. An echo (the record equals its side's index
copy, :func:`~syncengine.plan.unchanged_since_sync`) is counted unchanged. Each changed
pair is merged field by field from the table of :func:`table` (:func:`merge`: what
``decide``'s three-way merge decides for plain text: a change on one side wins, a blank
never overwrites and is filled, the winner takes a conflict or a drift, D2-D6), the
updates are sent (:func:`~syncengine.engine.ports.call_update`; a bad record fails
alone), and each outcome is the entry :func:`~syncengine.engine.execute.outcome_of`
makes of it: synced, the merge's copies, one ``synced`` history item for the side
written, counted once (``updated`` on the side written, else ``unchanged``); a merge
whose copies equal the entry's writes nothing. An update that failed goes through
``read_back`` and ``outcome_of`` themselves. The batch stores the outcomes after the
apps' writes: the entries of failed updates (:meth:`~syncengine.index.IndexStore.write_built`),
then the new copies of the others with the page's cursors, in one transaction
(:meth:`~syncengine.index.IndexStore.write_synced_rows`, which stores the entry
``synced`` makes of each, :func:`~syncengine.index.base.synced_copy`, and may rewrite
its row in place from what the view read). The page's entries are read as views
(:meth:`~syncengine.index.IndexStore.by_record_ids_rows`): this path works on the
settled pairs' views (:class:`~syncengine.index.base.PairView`: ids, keys, copies), and
the general path gets the whole entry of any record it decides.

Why that is safe. The batch holds nothing but these pairs: each has its own entry, which
no record of the page can be matched to (a synced pair is full), and keeps its
identifier keys, so nothing else of the pass reads what it changes before the general
path would have. A crash before the entries are stored leaves the page to be read
again: the writes that landed are echoes then (S6).
``tests/stateful/test_lean_incremental.py`` runs generated incremental passes with this
path and without it (:data:`ENABLED`) and compares the apps, the adapters' calls, the
index, the reports and the next pass; ``tests/integration/test_lean_changes.py`` pins
which records it takes.
"""

from __future__ import annotations

from collections.abc import Mapping, Sequence
from datetime import datetime
from typing import Any, Final

from syncengine.engine.context import Core, Item, Pass
from syncengine.engine.counts import settle_counts
from syncengine.engine.execute import outcome_of, read_back
from syncengine.engine.guard import guard
from syncengine.engine.ports import call_update
from syncengine.entry import Entry, HistoryItem, make_history_item, make_record_update
from syncengine.errors import AdapterError
from syncengine.index.base import PairView, RowView, SyncedRow
from syncengine.plan import Apply, Decision, ObjectPlan, UpdateIn, identify
from syncengine.plan import unchanged_since_sync as _unchanged
from syncengine.records import Record, Side, WriteResult
from syncengine.states import RecordState

__all__ = ["ENABLED", "applies", "merge", "select", "sync_pairs", "table"]

#: Private switch: ``False`` sends every page to the general path (the differential
#: tests compare the two). Not public API.
ENABLED = True

# Enum members as module constants (see batch.py).
_HUB: Final = Side.HUB
_APP: Final = Side.APP
_SYNCED: Final = RecordState.SYNCED
#: The longest text the merge takes as plain (plan._MAX_TEXT: longer values are read
#: by ``decide``'s general code).
_MAX_TEXT: Final = 65_536

#: A plan's merge table (see :func:`table`), by ``id(plan)``, with the plan itself.
_TABLES: dict[int, tuple[ObjectPlan, Table | None]] = {}

#: The mapped (hub, app) property names of a plan whose every field is plain text both
#: ways with the winner's policy; the hub and app properties of its identifiers; and
#: the winner.
Table = tuple[tuple[tuple[str, str], ...], frozenset[str], frozenset[str], Side]


def table(plan: ObjectPlan) -> Table | None:
    """What :func:`merge` needs of ``plan``, or None when its fields are not all plain
    text flowing both ways with the winner's policy and no ``propagate_clears``."""
    got = _TABLES.get(id(plan))
    if got is not None and got[0] is plan:
        return got[1]
    sync = plan.sync
    made: Table | None = None
    if (
        sync.direction.flows_from(_HUB)
        and sync.direction.flows_from(_APP)
        and all(
            f.plain
            and f.to_app
            and f.to_hub
            and f.mapping.policy in (None, "winner")
            and not f.mapping.propagate_clears
            for f in plan.fields
        )
        and len({f.hub.name for f in plan.fields}) == len(plan.fields)
        and len({f.app.name for f in plan.fields}) == len(plan.fields)
    ):
        made = (
            tuple((f.hub.name, f.app.name) for f in plan.fields),
            frozenset(k.hub for k in plan.keys),
            frozenset(k.app for k in plan.keys),
            sync.winner,
        )
    if len(_TABLES) >= 64:
        _TABLES.clear()
    _TABLES[id(plan)] = (plan, made)
    return made


def applies(core: Core, ctx: Pass, plan: ObjectPlan) -> bool:
    """Whether this pass may take the plain changed pairs of ``plan``'s pages here (see
    the module docstring)."""
    sync = plan.sync
    return (
        ENABLED
        and not ctx.dry_run
        and ctx.mark is None
        and not ctx.compare_all
        and not ctx.catch_up
        and not ctx.initial
        and (core.config.max_change_ratio is None or not ctx.guarded)
        and not core.preflighting
        and core.partition is None
        and not sync.associations
        and not core.linked_from.get(plan.name)
        and sync.hub_filter is None
        and sync.app_filter is None
        and not plan.gates
        and (plan.name, _HUB) not in ctx.unsettled
        and (plan.name, _APP) not in ctx.unsettled
        and table(plan) is not None
    )


#: The outcomes of a batch: the entries of the pairs whose update failed, and the new
#: copies of the others (see :func:`sync_pairs`).
Outcomes = tuple[list[Entry], list[SyncedRow]]

#: The one update of a merged pair: the side written, the record's id there and the
#: values to set (an :class:`~syncengine.plan.UpdateIn`'s fields, as a plain tuple:
#: the attrs class costs ~4,500 instructions to make; the general path's steps get one,
#: see :func:`_failed`).
Update = tuple[Side, str, dict[str, Any]]

#: A merged pair: the hub and app copies, and the one update (or None).
Merged = tuple[dict[str, Any], dict[str, Any], Update | None]


def merge(tab: Table, entry: Entry | PairView, hub: Record, app: Record) -> Merged | bool:
    """``decide(plan, entry, hub, app)`` for a synced pair of plain text (see
    :func:`table`): the copies and the one update it makes; ``True`` when it makes no
    change (``NoChange``); ``False`` when ``decide`` must decide (a value that is not
    plain text, or updates on both sides)."""
    hub_old = entry.hub_values
    app_old = entry.app_values
    if hub_old is None or app_old is None:
        return False
    fields, _, _, winner = tab
    hub_props, app_props = hub.properties, app.properties
    hub_values: dict[str, Any] = {}
    app_values: dict[str, Any] = {}
    to_hub: dict[str, Any] = {}
    to_app: dict[str, Any] = {}
    for hub_name, app_name in fields:
        h = hub_props.get(hub_name)
        a = app_props.get(app_name)
        if h == a and type(h) is str and type(a) is str and len(h) <= _MAX_TEXT and h.strip():
            # In sync (most fields of a pair), plain text and not blank: the values are
            # the copies. The checks below, in the order that costs least for this case.
            hub_values[hub_name] = app_values[app_name] = h
            continue
        if h is not None:
            if type(h) is not str or len(h) > _MAX_TEXT:
                return False
            if not h.strip():
                h = None
        if a is not None:
            if type(a) is not str or len(a) > _MAX_TEXT:
                return False
            if not a.strip():
                a = None
        if h == a:  # in sync: the values are the copies
            hub_values[hub_name] = h
            app_values[app_name] = a
            continue
        # resolve_field of two differing plain values flowing both ways (D2-D6).
        hub_changed = h != hub_old.get(hub_name)
        app_changed = a != app_old.get(app_name)
        if hub_changed != app_changed:
            # One side changed: its value wins, a blank is refilled from the other (D4).
            if hub_changed:
                source = _HUB if h is not None else _APP
            else:
                source = _APP if a is not None else _HUB
        elif h is None:
            source = _APP  # a blank is filled (D2)
        elif a is None:
            source = _HUB
        else:
            source = winner  # a conflict, or a drift (D3)
        if source is _HUB:
            to_app[app_name] = h
            hub_values[hub_name] = app_values[app_name] = h
        else:
            to_hub[hub_name] = a
            hub_values[hub_name] = app_values[app_name] = a
    if to_hub:
        if to_app:
            return False
        return hub_values, app_values, (_HUB, hub.id, to_hub)
    if to_app:
        return hub_values, app_values, (_APP, app.id, to_app)
    if (
        entry.state is _SYNCED
        and entry.hub_id == hub.id
        and entry.app_id == app.id
        and len(hub_old) == len(hub_values)
        and len(app_old) == len(app_values)
        and all(v == hub_old.get(k, None) for k, v in hub_values.items())
        and all(v == app_old.get(k, None) for k, v in app_values.items())
    ):
        return True
    return hub_values, app_values, None


def select(
    core: Core,
    ctx: Pass,
    plan: ObjectPlan,
    side: Side,
    unique: Mapping[str, Record],
    known: Mapping[str, RowView],
    held: set[str],
) -> tuple[set[str], dict[str, tuple[str, ...]]]:
    """The records of a leased page of ``side`` this path takes (see the module
    docstring): the echoes, counted here (nothing more is done with them), and the
    changed pairs with their identifier keys (:func:`~syncengine.plan.identify`, for
    :func:`sync_pairs` to reuse), which the general path leases and reads the
    counterparts of with the rest of the page before :func:`sync_pairs` merges and
    writes them. ``known`` holds
    the page's entries as :meth:`~syncengine.index.IndexStore.by_record_ids_rows` views
    them: only a settled synced pair's (a :class:`~syncengine.index.base.PairView`) is
    taken."""
    name = plan.name
    mine = f"{side.value}:"
    counted = ctx.counted
    echoes: set[str] = set()
    pairs: dict[str, tuple[str, ...]] = {}
    if any(record_id not in known for record_id in unique):
        return echoes, pairs  # a new record: the page goes on whole
    unchanged: list[PairView] = []
    tab = table(plan)
    assert tab is not None  # applies() checked it
    names = tuple(hub if side is _HUB else app for hub, app in tab[0])
    for record_id, record in unique.items():
        entry = known[record_id]
        if (
            not isinstance(entry, PairView)  # synced, both copies, nothing pending
            or (name, entry.entry_id) in counted
            or f"{mine}{record_id}" not in held
        ):
            continue
        echo = _echo(names, record.properties, entry.values_on(side))
        if echo is True or (echo is None and _unchanged(plan, side, record, entry)):
            # Our own write coming back, or no mapped change (S6).
            echoes.add(record_id)
            unchanged.append(entry)
        elif entry.keys.issuperset(keys := identify(plan, side, record.properties)):
            pairs[record_id] = keys
        # else the record took a new identifier: the general path's matching of the
        # page's new records sees it held by this pair from now on (M3, M7).
    if unchanged:
        counts = ctx.report.side(name, side)
        counts.unchanged += len(unchanged)
        outcome = ((side, "unchanged"),)
        for entry in unchanged:
            counted[(name, entry.entry_id)] = outcome
    return echoes, pairs


def _echo(names: tuple[str, ...], properties: Mapping[str, Any], copy: Any) -> bool | None:
    """:func:`~syncengine.plan.unchanged_since_sync` for a record whose mapped values
    (``names``, every field plain text: :func:`table`) are all text: whether each equals
    its index copy (``copy``), a blank one as ``None``; ``None`` when a value is not
    text (absent, another type, longer than plain text), for ``unchanged_since_sync``
    itself to decide."""
    if copy is None:
        return False
    for name in names:
        value = properties.get(name)
        if type(value) is not str or len(value) > _MAX_TEXT:
            return None
        stored = copy.get(name)
        if (value == stored) if value.strip() else (stored is None):
            continue
        return False
    return True


def sync_pairs(
    core: Core,
    ctx: Pass,
    plan: ObjectPlan,
    side: Side,
    items: Sequence[Item],
    fetched: Mapping[str, Record],
    now: datetime,
    keys: Mapping[str, tuple[str, ...]] | None = None,
) -> tuple[list[tuple[Item, Decision | None]], set[str], Outcomes]:
    """Merge and write the changed pairs :func:`select` took, once the general path
    leased them with their counterparts and read those (``fetched``): ``items`` is the
    whole batch, so the updates go out in the calls the general path would make.
    Returns the pairs left to the general path to decide (all of them, with nothing done,
    when one is not plain: its counterpart failed, is gone or merged, a value is not
    plain text, or the merge writes both sides or changes the pair's identifiers), the
    identifier keys the outcomes no longer hold, and the outcomes, for the caller to
    store: the entries of the pairs whose update failed (``write_built``) and the new
    copies of the others (:meth:`~syncengine.index.IndexStore.write_synced_rows`).
    ``keys`` holds the records' identifier keys as :func:`select` found them (else
    they are found again)."""
    tab = table(plan)
    assert tab is not None  # applies() checked it
    work: list[tuple[Item, Merged]] = []
    same: list[PairView] = []
    for item in items:
        counterpart = None if item.other_error is not None else fetched.get(item.other_id or "")
        base = item.view
        if counterpart is None or base is None or item.record is None:
            return [(i, None) for i in items], set(), ([], [])  # failed, gone or merged
        hub, app = (item.record, counterpart) if side is _HUB else (counterpart, item.record)
        merged = merge(tab, base, hub, app)
        if merged is True:
            same.append(base)
        elif merged is False or not _keeps_keys(
            plan, tab, item, counterpart, merged, None if keys is None else keys.get(item.record_id)
        ):
            return [(i, None) for i in items], set(), ([], [])  # decide's to decide
        else:
            item.counterpart = counterpart
            work.append((item, merged))
    name = plan.name
    counted = ctx.counted
    sides = _Sides(ctx, name)
    if same:
        sides[side].unchanged += len(same)
        outcome = ((side, "unchanged"),)
        for entry in same:
            counted[(name, entry.entry_id)] = outcome
    freed: set[str] = set()
    out = _carry_out(core, ctx, plan, side, work, sides, freed, now) if work else ([], [])
    settle_counts(ctx)
    return [], freed, out


class _Sides:
    """The report's counts of the object sync's sides, each made when first counted
    (the report lists no side nothing happened to)."""

    __slots__ = ("_ctx", "_got", "_name")

    def __init__(self, ctx: Pass, name: str) -> None:
        self._ctx = ctx
        self._name = name
        self._got: dict[Side, Any] = {}

    def __getitem__(self, side: Side) -> Any:
        got = self._got.get(side)
        if got is None:
            got = self._got[side] = self._ctx.report.side(self._name, side)
        return got


def _keeps_keys(
    plan: ObjectPlan,
    tab: Table,
    item: Item,
    counterpart: Record,
    merged: Merged,
    known: tuple[str, ...] | None = None,
) -> bool:
    """Whether the pair holds the identifier keys its entry holds once the merge's
    update landed (what ``current_keys`` would store; else the general path stores the
    new ones and frees the old, M3, M7). ``known``: the record's keys as it was read
    (:func:`select`'s), used unless the update writes one of its identifiers."""
    update = merged[2]
    record, entry = item.record, item.view
    assert record is not None
    assert entry is not None
    side = item.side
    mine, theirs = record.properties, counterpart.properties
    if update is not None:
        written, _, values = update
        names = tab[1] if written is _HUB else tab[2]
        if not names.isdisjoint(values):
            if written is side:
                mine = {**mine, **values}
                known = None
            else:
                theirs = {**theirs, **values}
    if known is None:
        known = identify(plan, side, mine)
    keys = {*known, *identify(plan, side.other, theirs)}
    held = entry.keys
    if len(held) == len(keys) and held.issuperset(keys):
        return True
    return keys.union(k for k in held if k.startswith("~")) == held


def _carry_out(
    core: Core,
    ctx: Pass,
    plan: ObjectPlan,
    side: Side,
    work: list[tuple[Item, Merged]],
    sides: _Sides,
    freed: set[str],
    now: datetime,
) -> Outcomes:
    """Send the merged pairs' updates (the hub's first) and make their outcomes: the
    entries of the pairs whose update failed, and the new copies of the others."""
    results: dict[int, WriteResult | AdapterError] = {}
    for write_side in (_HUB, _APP):
        updates = [
            (n, u) for n, (_, (_, _, u)) in enumerate(work) if u is not None and u[0] is write_side
        ]
        if not updates:
            continue
        guard(core, ctx, plan, write_side, len(updates))
        sent = [make_record_update(u[1], dict(u[2])) for _, u in updates]
        replies = call_update(core, ctx, write_side, plan, sent, planned=False)
        for (n, _), result in zip(updates, replies, strict=True):
            results[n] = result
    name = plan.name
    counted = ctx.counted
    copies: list[SyncedRow] = []
    texts: dict[tuple[Side, tuple[str, ...]], HistoryItem] = {}
    failed: list[int] = []
    unchanged = ((side, "unchanged"),)
    written = {_HUB: ((_HUB, "updated"),), _APP: ((_APP, "updated"),)}
    for n, (item, (hub_values, app_values, update)) in enumerate(work):
        entry = item.view
        assert entry is not None
        done: HistoryItem | None = None
        if update is None:
            sides[side].unchanged += 1
            counted[(name, entry.entry_id)] = unchanged
        else:
            result = results[n]
            if isinstance(result, AdapterError) or not result.succeeded:
                failed.append(n)
                continue
            write_side = update[0]
            sides[write_side].updated += 1
            counted[(name, entry.entry_id)] = written[write_side]
            names = tuple(update[2])
            done = texts.get((write_side, names))
            if done is None:
                # outcome_of's text: "updated app: email, name" (a StrEnum's value).
                text = f"updated {write_side}: {', '.join(sorted(names))}"
                done = texts[(write_side, names)] = make_history_item(now, "synced", text[:200])
        # The entry synced(entry, …) makes with these copies, updated_at=now and done
        # appended to its history (write_synced_rows: synced_copy), written in place.
        copies.append((entry, hub_values, app_values, done))
    built = _failed(core, ctx, plan, work, failed, results, freed, now) if failed else []
    return built, copies


def _failed(
    core: Core,
    ctx: Pass,
    plan: ObjectPlan,
    work: Sequence[tuple[Item, Merged]],
    failed: Sequence[int],
    results: Mapping[int, WriteResult | AdapterError],
    freed: set[str],
    now: datetime,
) -> list[Entry]:
    """The outcomes of the pairs whose update failed, by the general path's own steps:
    an update whose call failed may have landed (``read_back``), the rest fail
    (``outcome_of``)."""
    out: list[Entry] = []
    for write_side in (_HUB, _APP):
        decided: list[tuple[Item, Decision]] = []
        bases: list[Entry] = []
        written: list[tuple[int, UpdateIn]] = []
        got: dict[int, list[tuple[Side, str, WriteResult | AdapterError]]] = {}
        for n in failed:
            item, (hub_values, app_values, update) = work[n]
            assert update is not None
            assert item.view is not None
            if item.entry is None:
                item.entry = item.view.entry()  # the general path's steps read it whole
            if update[0] is not write_side:
                continue
            m = len(decided)
            planned = UpdateIn(*update)
            decided.append((item, Apply((planned,), hub_values, app_values)))
            bases.append(item.entry)
            written.append((m, planned))
            got[m] = [(write_side, "update", results[n])]
        if not decided:
            continue
        read_back(core, ctx, plan, write_side, decided, bases, written, got)
        for m, ((item, decision), base) in enumerate(zip(decided, bases, strict=True)):
            after = outcome_of(core, ctx, plan, item, decision, base, got[m], now)
            if after is not None:
                freed.update(k for k in base.keys - after.keys if not k.startswith("~"))
                out.append(after)
    return out
