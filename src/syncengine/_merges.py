"""Merges: an app merged records into one, under a new id; re-pair the index (R6, X3, M7).

HubSpot (since its merge change) merges two contacts or companies into a *new* record
with a new id; both old ids then read as the merged record. An adapter reports such
moves as old id -> new id (:attr:`Page.merged <syncengine.adapters.Page.merged>`, or a
:meth:`~syncengine.adapters.Adapter.fetch` result under an old id whose record has
another id). The engine turns them into index changes before it processes the records,
so that nothing looks deleted and nothing is created twice:

* the **heir**: one entry of the merged ids takes the new id and keeps its pairing
  (M7: paired records stay paired). It is the entry whose counterpart still exists and
  that shares an identifier with the merged record (the merge keeps the primary
  record's e-mail or domain); failing that, the first such entry in the order the
  adapter names the old ids. The merged record is
  then compared with its copy as any changed record is (D6): the values the merge
  brought flow to the heir's counterpart.
* every **other** entry of the merged ids whose counterpart exists keeps that record
  untouched (X3: nothing is deleted) and becomes excluded with reason ``merged``: its
  counterpart no longer syncs, and it is not created again where the merge removed it.
  An entry whose counterpart is gone (or never was) is forgotten.
* an entry that held the new id alone (the merged record seen before the merge was
  known) is forgotten: the heir holds that record now.

This module decides; the engine reads and writes the index.
"""

from __future__ import annotations

from collections.abc import Callable, Mapping, Sequence
from datetime import datetime
from typing import Final

import attrs

from syncengine.entry import Entry
from syncengine.plan import ObjectPlan, identify
from syncengine.records import Record, Side
from syncengine.states import ExcludeReason, RecordState

__all__ = ["MergeChanges", "redirects", "repair"]

#: History note of a re-paired entry and of an entry left out by a merge.
REPAIRED: Final = "merged"


@attrs.frozen
class MergeChanges:
    """What a merge does to the index: entries to write, entry ids to forget."""

    write: tuple[Entry, ...] = ()
    forget: tuple[str, ...] = ()


def redirects(asked: Sequence[str], fetched: Mapping[str, Record]) -> dict[str, str]:
    """The ids among ``asked`` that a fetch answered with another record: old -> new."""
    out: dict[str, str] = {}
    for record_id in asked:
        record = fetched.get(record_id)
        if record is not None and record.id != record_id:
            out[record_id] = record.id
    return out


def repair(
    plan: ObjectPlan,
    side: Side,
    moves: Mapping[str, str],
    by_id: Mapping[str, Entry],
    records: Mapping[str, Record],
    now: datetime,
    note: Callable[[Entry, str, str], Entry],
) -> MergeChanges:
    """The index changes that ``moves`` (old id -> new id, on ``side``) make.

    Args:
        plan: The object sync.
        side: The side whose records were merged.
        moves: Old id -> the id of the record it was merged into, in the adapter's order.
        by_id: The entries of ``side`` by record id, for the old and the new ids.
        records: The merged records by id, where known (to find the heir by identifier).
        now: The time of the change.
        note: ``note(entry, action, detail)``: the entry with a history line added.
    """
    groups: dict[str, list[str]] = {}
    for old, new in moves.items():
        if old != new:
            groups.setdefault(new, []).append(old)
    write: dict[str, Entry] = {}
    forget: list[str] = []
    other = side.other
    for new, olds in groups.items():
        entries: list[Entry] = []
        for old in olds:
            entry = by_id.get(old)
            if (
                entry is not None
                and entry.id_on(side) == old
                and entry.pending is None
                and not _left_out(entry)
                and all(e.entry_id != entry.entry_id for e in entries)
            ):
                entries.append(entry)
        if not entries:
            continue
        holder = by_id.get(new)
        if holder is not None and holder.id_on(side) != new:
            holder = None
        if holder is not None and (holder.id_on(other) is not None or holder.pending is not None):
            heir = holder  # the new id syncs already: every old entry is left out
            replaced = None
        else:
            heir = _heir(plan, side, entries, records.get(new))
            replaced = holder
        if heir is not holder:
            if replaced is not None and replaced.entry_id != heir.entry_id:
                forget.append(replaced.entry_id)
            others = ", ".join(o for o in olds if o != heir.id_on(side))
            detail = (
                f"{side.value} record {heir.id_on(side)} was merged into {new}"
                f"{f' with {others}' if others else ''}; the pair continues with {new}"
            )
            moved = _with_id(heir, side, new)
            write[heir.entry_id] = note(moved, REPAIRED, detail)
        partner = write.get(heir.entry_id, heir).id_on(other)
        for entry in entries:
            if entry.entry_id == heir.entry_id:
                continue
            kept = entry.id_on(other)
            if kept is None or not _has_counterpart(entry, side):
                forget.append(entry.entry_id)  # nothing left to keep out of the sync
                continue
            message = (
                f"the {side.value} record {entry.id_on(side)} was merged into {new}, which "
                f"syncs with {other.value} record {partner or '(none yet)'}; this "
                f"{other.value} record {kept} is kept and no longer syncs: merge or remove "
                "it there"
            )
            left = attrs.evolve(
                entry,
                state=RecordState.EXCLUDED,
                reason=ExcludeReason.MERGED,
                category=None,
                message=message,
                deleted=None,
                updated_at=now,
            )
            write[entry.entry_id] = note(left, "excluded", message)
    return MergeChanges(tuple(write.values()), tuple(dict.fromkeys(forget)))


def _has_counterpart(entry: Entry, side: Side) -> bool:
    """Whether the entry pairs with a record of the other side that is not deleted."""
    return entry.id_on(side.other) is not None and entry.deleted is not side.other


def _left_out(entry: Entry) -> bool:
    """Whether an earlier merge left the entry out already."""
    return entry.state is RecordState.EXCLUDED and entry.reason is ExcludeReason.MERGED


def _heir(plan: ObjectPlan, side: Side, entries: Sequence[Entry], merged: Record | None) -> Entry:
    """The entry that continues as the merged record (see the module docstring)."""
    keys = set(identify(plan, side, merged.properties)) if merged is not None else set()

    def rank(n: int) -> tuple[bool, bool, int]:
        entry = entries[n]
        return (not _has_counterpart(entry, side), not (keys and keys & entry.keys), n)

    return entries[min(range(len(entries)), key=rank)]


def _with_id(entry: Entry, side: Side, record_id: str) -> Entry:
    if side is Side.HUB:
        return attrs.evolve(entry, hub_id=record_id)
    return attrs.evolve(entry, app_id=record_id)
