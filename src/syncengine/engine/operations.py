"""What users ask of a sync besides passes: status counts (R4), the record
listing and its export (R5), explain (R8), restore (R6).
"""

from __future__ import annotations

import contextlib
import os
import uuid
from collections.abc import Iterable, Iterator, Sequence
from datetime import datetime
from typing import IO, Literal

import attrs

from syncengine import _passlog
from syncengine._merges import redirects, repair
from syncengine._owner import ends_its_passes
from syncengine.engine.context import CHUNK, Core, Item, chunks
from syncengine.engine.execute import execute
from syncengine.engine.lifecycle import begin, end
from syncengine.engine.merges import namesake_ids
from syncengine.engine.ports import fetch
from syncengine.engine.stored import corrupt_met
from syncengine.entry import CorruptEntry, Entry
from syncengine.errors import ConfigError, SyncDisabledError
from syncengine.plan import (
    Apply,
    CreateIn,
    Decision,
    Exclude,
    Fail,
    ObjectPlan,
    decide,
    decide_restore,
    identify,
)
from syncengine.records import Record, Side
from syncengine.report import SyncReport
from syncengine.states import ErrorCategory, ExcludeReason, RecordState
from syncengine.status import (
    EntryView,
    Explanation,
    RestoreItem,
    RestorePlan,
    explain_entry,
    export_columns,
    write_export,
)
from syncengine.transitions import evolve, with_id

__all__ = [
    "ObjectStatus",
    "describe",
    "entry_of",
    "explain",
    "export",
    "object_name",
    "plan_restore",
    "records",
    "restore",
    "status",
]


def status(core: Core) -> dict[str, ObjectStatus]:
    """Counts per object type from the index, without reading entries (rule R4) but
    the damaged ones passes met (counted as failed, as those passes counted them); an
    object type with such an entry whose row's state cannot be read is counted from its
    entries.

    What :meth:`SyncEngine.status <syncengine.SyncEngine.status>` does.
    """
    counts = core.index.counts(core.sync_id)
    running = core.initial_sync_running
    result = {}
    for obj in core.config.objects:
        by_state = dict(counts.get(obj.hub_type, {}))
        met = corrupt_met(core, obj.hub_type)
        damaged = [
            entry
            for entry in (core.index.get(core.sync_id, obj.hub_type, met).values() if met else ())
            if type(entry) is CorruptEntry
        ]
        if any(entry.stored_state is None for entry in damaged):
            # A row whose state code cannot be read: the store counts it under the
            # state it last wrote, which nothing can tell now. Counted from the entries
            # (this object type's only, and only while such a row is damaged).
            by_state = {}
            for entry in core.index.entries(core.sync_id, obj.hub_type):
                state = entry.state if type(entry) is not CorruptEntry else entry.stored_state
                if type(entry) is CorruptEntry and (entry.entry_id in met or state is None):
                    state = RecordState.FAILED
                assert state is not None
                by_state[state] = by_state.get(state, 0) + 1
            damaged = []
        for entry in damaged:
            # A damaged entry a pass met is counted as failed, as the pass counted it.
            stored = entry.stored_state
            if stored is not None and stored is not RecordState.FAILED and by_state.get(stored):
                by_state[stored] -= 1
                by_state[RecordState.FAILED] = by_state.get(RecordState.FAILED, 0) + 1
        result[obj.hub_type] = ObjectStatus(
            object_type=obj.hub_type,
            synced=by_state.get(RecordState.SYNCED, 0),
            failed=by_state.get(RecordState.FAILED, 0),
            excluded=by_state.get(RecordState.EXCLUDED, 0),
            queued=by_state.get(RecordState.QUEUED, 0),
            initial=by_state.get(RecordState.INITIAL, 0),
            initial_running=running,
        )
    return result


def object_name(core: Core, object_type: str | None, side: Side | None = None) -> str | None:
    """Accept an object sync by its hub type, or by its name on ``side`` (or either)."""
    if object_type is None or (side is not Side.APP and object_type in core.plans):
        return object_type
    obj = None
    for s in (side,) if side is not None else (Side.HUB, Side.APP):
        obj = obj or core.config.object_for(s, object_type)
    if obj is None and object_type in core.plans:
        return object_type  # the hub type names the object sync on either side
    if obj is None:
        known = ", ".join(
            name if plan.sync.app_type == name else f"{name} (in the app: {plan.sync.app_type})"
            for name, plan in sorted(core.plans.items())
        )
        raise KeyError(f"{object_type!r} is not a synced object type (known: {known})")
    return obj.hub_type


def records(
    core: Core,
    object_type: str | None = None,
    state: RecordState | str | Iterable[RecordState | str] | None = None,
    since: datetime | None = None,
    until: datetime | None = None,
) -> Iterator[EntryView]:
    """Stream the record listing, filtered by object type, state and time frame (R5).

    What :meth:`SyncEngine.records <syncengine.SyncEngine.records>` does.
    """
    states: set[RecordState] | None = None
    if state is not None:
        raw = [state] if isinstance(state, str | RecordState) else list(state)
        states = {RecordState(s) for s in raw}
    name = object_name(core, object_type)
    # A damaged entry a pass met is listed as failed, as status counts it (its row's
    # state may be another, or unreadable): with the failed ones, not with those of its
    # row's state. The store filters by the row's state, so while there are such
    # entries a listing by state reads every entry (of the time frame) and filters
    # here; the time frame is the row's, as the store reads it.
    met = (
        {t: met for t in ([name] if name is not None else core.plans) if (met := _met(core, t))}
        if states is not None
        else {}
    )
    for entry in core.index.entries(
        core.sync_id, name, states=None if met else states, since=since, until=until
    ):
        if met:
            assert states is not None
            shown: RecordState | None = entry.state
            if type(entry) is CorruptEntry and entry.entry_id not in met.get(entry.object_type, ()):
                shown = entry.stored_state  # (unreadable: listed under no state)
            if shown not in states:
                continue
        plan = core.plans.get(entry.object_type)
        matched = plan.key_name(entry.matched_by) if plan and entry.matched_by else None
        yield EntryView.of(entry, matched)


def _met(core: Core, object_type: str) -> set[str]:
    """The damaged entries of ``object_type`` passes met that are damaged still."""
    met = corrupt_met(core, object_type)
    found = core.index.get(core.sync_id, object_type, met).values() if met else ()
    return {e.entry_id for e in found if type(e) is CorruptEntry}


def export(
    core: Core,
    file_or_path: str | os.PathLike[str] | IO[str],
    format: Literal["csv", "jsonl"] = "csv",
    *,
    object_type: str | None = None,
    state: RecordState | str | Iterable[RecordState | str] | None = None,
    since: datetime | None = None,
    until: datetime | None = None,
    columns: Sequence[str] | None = None,
) -> int:
    """Write the listing to a CSV or JSON-lines file, streaming; return the row count.

    What :meth:`SyncEngine.export <syncengine.SyncEngine.export>` does.
    """
    export_columns(columns)  # an unknown column fails before the file is created
    if format not in ("csv", "jsonl"):
        raise ValueError(f"unknown export format {format!r}; expected 'csv' or 'jsonl'")
    rows = records(core, object_type, state, since, until)
    if not isinstance(file_or_path, str | os.PathLike):
        return write_export(rows, file_or_path, format, columns)
    target = os.fspath(file_or_path)
    folder, name = os.path.split(target)
    if folder and not os.path.isdir(folder):
        raise FileNotFoundError(2, "no such folder", target)
    temporary = os.path.join(folder, f".{name}.{uuid.uuid4().hex[:12]}.tmp")
    try:
        with open(temporary, "x", encoding="utf-8", errors="backslashreplace", newline="") as out:
            count = write_export(rows, out, format, columns)
        os.replace(temporary, target)
    except BaseException:
        with contextlib.suppress(OSError):
            os.unlink(temporary)
        raise
    return count


def entry_of(core: Core, side: Side, object_type: str, record_id: str) -> tuple[ObjectPlan, Entry]:
    side = Side(side)
    name = object_name(core, object_type, side)
    assert name is not None
    plan = core.plans[name]
    entry = core.index.by_record_ids(core.sync_id, name, side, [record_id]).get(record_id)
    if entry is None:
        raise KeyError(f"no index entry for {side.value} {object_type} record {record_id!r}")
    return plan, entry


def explain(core: Core, side: Side, object_type: str, record_id: str) -> Explanation:
    """How an entry matched, how each field is decided now and why, and its history (R8).

    What :meth:`SyncEngine.explain <syncengine.SyncEngine.explain>` does.
    """
    plan, entry = entry_of(core, side, object_type, record_id)
    current: dict[Side, Record | None] = {}
    for s in Side:
        rid = entry.id_on(s)
        current[s] = fetch(core, s, plan.type_on(s), [rid]).get(rid) if rid is not None else None
    # The entry as the pass that reads a merge of its record leaves it (its record was
    # merged into another one and no pass has read that yet): the pair continuing with
    # the merged record, or left out.
    merged: Entry | None = None
    for s in Side:
        found = current[s]
        if found is not None and found.id != entry.id_on(s):
            if merged is None and type(entry) is Entry:
                merged = as_merged(core, plan, s, entry, found)
            if merged is None or merged.id_on(s) != found.id:
                current[s] = None  # merged into another record: not this entry's any more
    hub, app = current[Side.HUB], current[Side.APP]
    keys: tuple[str, ...] = ()
    if hub is None or app is None:
        alone = hub or app
        if alone is not None:
            keys = identify(plan, Side.HUB if hub else Side.APP, alone.properties)
    decision: Decision
    if type(entry) is CorruptEntry:  # its row cannot be read: a pass fails the record
        decision = Fail(ErrorCategory.INDEX, entry.message)
    elif entry.reason is ExcludeReason.MERGED:
        decision = Exclude(ExcludeReason.MERGED, entry.message)
    elif merged is not None and merged.reason is ExcludeReason.MERGED:
        decision = Exclude(ExcludeReason.MERGED, merged.message)
    else:
        decision = decide(plan, merged or entry, hub, app, keys=keys)
    return explain_entry(plan, entry, hub, app, decision, describe(decision))


def as_merged(
    core: Core, plan: ObjectPlan, side: Side, entry: Entry, record: Record
) -> Entry | None:
    """``entry`` as the pass that reads the merge of its ``side`` record into ``record``
    will leave it (merges.apply_merges, with_namesakes), read only: the pair moved to
    ``record`` (it continues with it), or left out (excluded, reason ``merged``);
    ``None`` when that pass forgets it or leaves it as it is.

    The other ids merged into ``record`` that the index knows by its identifiers are
    read as the pass reads them (one that cannot be read is not counted in), so the
    pair that shares the merged record's identifiers is the one that continues.
    """
    old, new = entry.id_on(side), record.id
    if old is None:
        return None
    moves = {old: new}
    keys = identify(plan, side, record.properties)
    held = core.index.by_keys(core.sync_id, plan.name, keys) if keys else {}
    ask = namesake_ids(held, side, [(old, new)])
    for chunk in chunks(ask, core.adapters[side].max_batch_size):
        try:
            fetched = fetch(core, side, plan.type_on(side), chunk)
        except Exception:
            continue  # as the pass (with_namesakes): that id's own read finds it later
        moves.update((o, n) for o, n in redirects(chunk, fetched).items() if n == new)
    by_id = {
        record_id: found
        for record_id, found in core.index.by_record_ids(
            core.sync_id, plan.name, side, [*moves, new]
        ).items()
        if type(found) is not CorruptEntry
    }
    changes = repair(plan, side, moves, by_id, {new: record}, core.clock(), lambda e, _a, _d: e)
    return next((e for e in changes.write if e.entry_id == entry.entry_id), None)


def plan_restore(core: Core, object_type: str, destination: Side) -> RestorePlan:
    """List the records deleted in ``destination`` that can be re-created (R6).

    What :meth:`SyncEngine.plan_restore <syncengine.SyncEngine.plan_restore>` does.
    """
    destination = Side(destination)
    name = object_name(core, object_type)
    assert name is not None
    plan = core.plans[name]
    source = destination.other
    items: list[RestoreItem] = []
    batch: list[Entry] = []

    def flush() -> None:
        ids = [e.id_on(source) for e in batch if e.id_on(source) is not None]
        adapter = core.adapters[source]
        found: dict[str, Record] = {}
        for chunk in chunks([i for i in ids if i is not None], adapter.max_batch_size):
            found.update(fetch(core, source, plan.type_on(source), chunk))
        for entry in batch:
            sid = entry.id_on(source)
            record = found.get(sid) if sid is not None else None
            if record is not None and record.id != sid:
                continue  # merged into another record: the next pass re-pairs it
            if record is not None:
                decision = decide_restore(plan, source, record)
                props = dict(decision.writes[0].properties) if isinstance(decision, Apply) else {}
                items.append(RestoreItem(entry.entry_id, source, sid, props))
            else:
                copy = entry.values_on(destination) or {}
                props = {k: v for k, v in copy.items() if v is not None}
                items.append(RestoreItem(entry.entry_id, source, None, props, True))
        batch.clear()

    for entry in core.index.entries(core.sync_id, name, states={RecordState.FAILED}):
        if entry.category is ErrorCategory.DELETED and entry.deleted is destination:
            batch.append(entry)
            if len(batch) >= CHUNK:
                flush()
    if batch:
        flush()
    return RestorePlan(core.sync_id, name, destination, tuple(items))


@ends_its_passes
@_passlog.recorded("restore")
def restore(core: Core, plan: RestorePlan) -> SyncReport:
    """Re-create the planned records in the destination and re-pair them (R6).

    What :meth:`SyncEngine.restore <syncengine.SyncEngine.restore>` does.
    """
    if plan.sync_id != core.sync_id:
        raise ConfigError("plan", f"the plan belongs to sync {plan.sync_id!r}")
    if not core.enabled:
        raise SyncDisabledError(f"sync {core.sync_id!r} is disabled")
    ctx = begin(core, "restore", dry_run=False)
    ctx.phase = "restore"
    object_plan = core.plans[plan.object_type]
    destination = plan.destination
    for chunk in chunks(list(plan.items), CHUNK):
        entries = core.index.get(core.sync_id, plan.object_type, [i.entry_id for i in chunk])
        decided: list[tuple[Item, Decision]] = []
        for item in chunk:
            entry = entries.get(item.entry_id)
            if entry is None or entry.deleted is not destination:
                continue  # restored meanwhile, or changed: skip
            cleared = with_id(evolve(entry, deleted=None), destination, None)
            source_id = entry.id_on(destination.other) or ""
            values = dict(item.properties)
            copies = (
                (entry.hub_values or {}, values)
                if destination is Side.APP
                else (values, entry.app_values or {})
            )
            decision = Apply((CreateIn(destination, values),), copies[0], copies[1])
            restore_item = Item(destination.other, None, cleared, source_id)
            decided.append((restore_item, decision))
        if decided:
            execute(core, ctx, object_plan, decided, [], [], core.clock())
    return end(core, ctx)


@attrs.frozen(slots=True)
class ObjectStatus:
    """The status overview of one object type (rule R4).

    .. versionadded:: 0.1
    """

    object_type: str
    synced: int
    failed: int
    excluded: int
    queued: int
    initial: int
    initial_running: bool


def describe(decision: Decision) -> str:
    """A decision in a few words, for explain."""
    if isinstance(decision, Apply):
        if not decision.writes:
            return "nothing to write; the copies would be refreshed"
        parts = []
        for write in decision.writes:
            if isinstance(write, CreateIn):
                parts.append(f"create on {write.side.value}")
            else:
                parts.append(f"update {write.side.value}: {', '.join(sorted(write.properties))}")
        return "; ".join(parts)
    if isinstance(decision, Exclude):
        return f"exclude ({decision.reason.value}): {decision.message}"
    if isinstance(decision, Fail):
        return f"fail ({decision.category.value}): {decision.message}"
    return "nothing to do: both sides and the index agree"
