"""Links between synced records (rules A1–A2): completed, kept, never removed."""

from __future__ import annotations

from collections.abc import Mapping, Sequence
from datetime import datetime
from typing import TypeGuard

from syncengine import _passlog
from syncengine.engine.context import CHUNK, Core, Pass, bad_id, chunks
from syncengine.engine.counts import count_outcome
from syncengine.engine.ports import as_adapter_error, call_associate, fetch
from syncengine.entry import CorruptEntry, Entry
from syncengine.plan import ObjectPlan
from syncengine.records import AssociationChange, Record, Side, WriteResult
from syncengine.states import ErrorCategory, RecordState
from syncengine.transitions import append_history, evolve, failed

__all__ = ["complete_waiting", "sync_links"]


def _unusable(record_id: object, target: str, notes: list[str]) -> bool:
    """Whether a link's other end has an id that is no record id: not text (an ``int``
    from an adapter, ``None``, ``""``), or not valid Unicode (an app another program
    wrote bytes into that are not UTF-8). That record is never indexed (it fails in its
    own pass), so the link cannot wait for it; the entry's history says so."""
    problem = bad_id(record_id)
    if problem is None:
        return False
    notes.append(f"{target} {record_id!r:.60} not linked: {problem}")
    return True


def _ends(record: Record | None, type_name: str) -> tuple[object, ...] | None:
    """The other ends of ``record``'s links to ``type_name`` records, as the adapter gave
    them (each is checked as a record id where it is used); ``None`` when the adapter
    gave something that is no collection of ids (text, bytes, a mapping, a number,
    ``None``: text would be read as one link per character)."""
    if record is None:
        return ()
    links = record.associations
    if not isinstance(links, Mapping):
        return None
    value = links.get(type_name, ())
    if isinstance(value, (frozenset, set, tuple, list)):
        return tuple(value)
    return None


def _unreadable(plan: ObjectPlan, core: Core, side: Side, record: Record, type_name: str) -> str:
    """The failure of a record whose links to ``type_name`` are no collection of ids."""
    links = record.associations
    value = links.get(type_name) if isinstance(links, Mapping) else links
    return (
        f"the {side.value} adapter {core.adapters[side].name!r} gave the links of the "
        f"{plan.type_on(side)!r} record {record.id!r} to {type_name!r} records as "
        f"{value!r:.60}, not a collection of record ids (a list, tuple or set of text); "
        "its links are left as they are"
    )


def _pairs(end: Entry | None) -> TypeGuard[Entry]:
    """Whether a link's other end is a pair whose two ids are counterparts: neither
    record deleted, the entry not excluded (a merged-away record's, for one)."""
    return end is not None and end.deleted is None and end.state is not RecordState.EXCLUDED


def sync_links(
    core: Core,
    ctx: Pass,
    plan: ObjectPlan,
    work: Sequence[tuple[Entry, Record | None, Record | None]],
    now: datetime,
) -> list[Entry]:
    """Keep the links of synced pairs the same on both sides (rule A1, X3).

    A link the app refuses fails its entry, and the pass's report counts that failure
    on the side that refused, in place of what the pass counted for the record before
    (see :func:`~syncengine.engine.counts.count_outcome`), so that the report and
    :meth:`~syncengine.SyncEngine.status` agree.

    A link present on one side whose other end is synced is created on the other side.
    A link whose other end is not synced yet waits: the entry gets a key
    ``~<type>:<side>:<id>`` so that syncing that end finds it without a rescan. A link
    that was in sync and is now gone on one side is not deleted on the other (X3); the
    entry's history records the difference.
    """
    sid = core.sync_id
    entries = [e for e, _, _ in work]
    changes: dict[Side, list[tuple[int, AssociationChange, str, str]]] = {
        Side.HUB: [],
        Side.APP: [],
    }
    links: list[dict[str, frozenset[str]]] = [dict(e.links) for e in entries]
    waiting: list[set[str]] = [set() for _ in entries]
    notes: list[list[str]] = [[] for _ in entries]
    failures: dict[int, tuple[ErrorCategory, str, Side]] = {}
    for target in plan.sync.associations:
        tplan = core.plans[target]
        hub_type, app_type = tplan.type_on(Side.HUB), tplan.type_on(Side.APP)
        ends: list[tuple[tuple[object, ...], tuple[object, ...]] | None] = []
        for n, (_, hub, app) in enumerate(work):
            hub_ends, app_ends = _ends(hub, hub_type), _ends(app, app_type)
            if hub_ends is None or app_ends is None:
                # Links an adapter gave as no collection of ids: the record fails
                # alone (unknown: read again next pass), its links as they were.
                side = Side.HUB if hub_ends is None else Side.APP
                record = hub if hub_ends is None else app
                assert record is not None
                message = _unreadable(plan, core, side, record, tplan.type_on(side))
                failures.setdefault(n, (ErrorCategory.UNKNOWN, message, side))
                ends.append(None)
            else:
                ends.append((hub_ends, app_ends))
        # An end whose id is not text is never indexed: no lookup (it is noted below).
        hub_ids = {i for e in ends if e for i in e[0] if type(i) is str and bad_id(i) is None}
        app_ids = {i for e in ends if e for i in e[1] if type(i) is str and bad_id(i) is None}
        by_hub = ctx.store.by_record_ids(sid, target, Side.HUB, hub_ids) if hub_ids else {}
        by_app = ctx.store.by_record_ids(sid, target, Side.APP, app_ids) if app_ids else {}
        if any(type(e) is CorruptEntry for e in (*by_hub.values(), *by_app.values())):
            # An end whose entry cannot be read is as one not synced: the link waits
            # for it (its own record fails, named, until the row is repaired).
            by_hub = {i: e for i, e in by_hub.items() if type(e) is not CorruptEntry}
            by_app = {i: e for i, e in by_app.items() if type(e) is not CorruptEntry}
        for n, entry in enumerate(entries):
            both = ends[n]
            if both is None:
                continue
            old = entry.links.get(target, frozenset())
            hub_side: dict[str, str | None] = {}  # hub id -> app id (None: end not synced)
            # An end whose record was deleted on either side is as one not synced: the
            # link waits (a restore completes it), it is never made to the survivor
            # of a record deleted in the app that links to it, nor to a deleted record.
            # So is an end left out of the sync (excluded: e.g. the counterpart of a
            # record merged away in HubSpot, whose links moved to the merged record):
            # its other id is no counterpart, a link made to it would name a record
            # merged away (and fail on every pass) or one the sync does not keep.
            for h in both[0]:
                if not isinstance(h, str):
                    _unusable(h, target, notes[n])  # never a key: it may be unhashable
                    continue
                end = by_hub.get(h)
                hub_side[h] = end.app_id if _pairs(end) and end.hub_id == h else None
            app_side: dict[str, str] = {}  # hub id -> app id, for app links with a synced end
            for a in both[1]:
                if not isinstance(a, str):
                    _unusable(a, target, notes[n])
                    continue
                end = by_app.get(a)
                if _pairs(end) and end.hub_id is not None and end.app_id == a:
                    app_side[end.hub_id] = a
                elif _unusable(a, target, notes[n]):
                    continue
                else:
                    waiting[n].add(f"~{target}:app:{a}")
            in_sync = {h for h, a in hub_side.items() if a is not None and h in app_side}
            for h, app_end in hub_side.items():
                if app_end is None and _unusable(h, target, notes[n]):
                    continue
                if app_end is None:
                    waiting[n].add(f"~{target}:hub:{h}")
                elif h not in app_side and h not in old:
                    change = AssociationChange(
                        plan.type_on(Side.APP), entry.app_id or "", app_type, app_end
                    )
                    changes[Side.APP].append((n, change, h, target))
                elif h not in app_side:
                    notes[n].append(f"{target} {h} unlinked in app; kept in hub (rule X3)")
            for h in app_side:
                if h not in hub_side and h not in old:
                    change = AssociationChange(
                        plan.type_on(Side.HUB), entry.hub_id or "", hub_type, h
                    )
                    changes[Side.HUB].append((n, change, h, target))
                elif h not in hub_side:
                    notes[n].append(f"{target} {h} unlinked in hub; kept in app (rule X3)")
            # Remember links removed on one side only, so they are never re-created.
            kept = {h for h in old if (h in hub_side) != (h in app_side)}
            links[n][target] = frozenset(in_sync | kept)
    for side in Side:
        if not changes[side]:
            continue
        results = call_associate(core, ctx, side, [c for _, c, _, _ in changes[side]])
        for (n, change, h, target), result in zip(changes[side], results, strict=True):
            if isinstance(result, WriteResult) and result.succeeded:
                links[n][target] = links[n][target] | {h}
                notes[n].append(f"linked {change.to_type} {change.to_id} on {side.value}")
            else:
                category = (
                    result.category if result.category is not None else ErrorCategory.ASSOCIATION
                )
                message = result.message
                failures.setdefault(
                    n,
                    (
                        category,
                        f"link to {change.to_type} {change.to_id} in the {side.value}: {message}",
                        side,
                    ),
                )
    out = []
    for n, entry in enumerate(entries):
        keys = frozenset(k for k in entry.keys if not k.startswith("~")) | frozenset(waiting[n])
        history = entry.history
        for note in notes[n]:
            history = append_history(core.history_size, history, now, "linked", note)
        updated = evolve(entry, links=links[n], keys=keys, history=history)
        if n in failures:
            category, message, refused_by = failures[n]
            _passlog.record_failed(
                core.sync_id, updated, category, message, quiet=core.preflighting
            )
            updated = failed(core.history_size, updated, category, message, now, updated.mark, keys)
            # The record fails: the report says so, as status() does.
            count_outcome(core, ctx, plan.name, entry, ((refused_by, "failed"),))
        if updated != entry or n in failures:
            out.append(updated)
    return out


def complete_waiting(
    core: Core, ctx: Pass, plan: ObjectPlan, written: Sequence[Entry], now: datetime
) -> None:
    """Complete links that waited for these entries to sync (A1), without a rescan."""
    ends = [e for e in written if e.state is RecordState.SYNCED and e.hub_id and e.app_id]
    if not ends:
        return
    keys = [f"~{plan.name}:hub:{e.hub_id}" for e in ends] + [
        f"~{plan.name}:app:{e.app_id}" for e in ends
    ]
    for source in core.linked_from[plan.name]:
        splan = core.plans[source]
        found = ctx.store.by_keys(core.sync_id, source, keys)
        waiting = {e.entry_id: e for entries in found.values() for e in entries}
        ready = [
            e
            for e in waiting.values()
            if e.state is RecordState.SYNCED and e.hub_id is not None and e.app_id is not None
        ]
        for chunk in chunks(ready, CHUNK):
            records: dict[Side, Mapping[str, Record]] = {}
            for side in Side:
                adapter = core.adapters[side]
                ids = [e.id_on(side) or "" for e in chunk]
                got: dict[str, Record] = {}
                try:
                    for part in chunks(ids, adapter.max_batch_size):
                        # A record merged into another is re-paired by its next read.
                        got.update(
                            (i, r)
                            for i, r in fetch(core, side, splan.type_on(side), part).items()
                            if r.id == i
                        )
                except Exception as exc:
                    ctx.report.errors.append(str(as_adapter_error(exc)))
                    return
                records[side] = got
            work = [
                (
                    e,
                    records[Side.HUB].get(e.hub_id or ""),
                    records[Side.APP].get(e.app_id or ""),
                )
                for e in chunk
            ]
            # Written only on the entries as read: their records are not leased, and a
            # pass that holds one may have stored its outcome since (a lost update,
            # S9). Such an entry is left as that pass stored it: the links it made
            # are in both apps, and its next sync finds them there.
            linked = sync_links(core, ctx, splan, work, now)
            ctx.store.replace_unchanged(
                core.sync_id, source, [(waiting[e.entry_id], e) for e in linked]
            )
