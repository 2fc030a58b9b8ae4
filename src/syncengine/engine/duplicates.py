"""Duplicates (rule M3): the message that names the record that syncs instead,
and the duplicates whose identifier a forgotten record freed.
"""

from __future__ import annotations

from typing import Any

from syncengine.engine.context import Core, Item, Pass
from syncengine.engine.counts import count_outcome
from syncengine.entry import CorruptEntry, Entry
from syncengine.plan import ObjectPlan, is_owner
from syncengine.records import Side
from syncengine.states import RecordState
from syncengine.transitions import evolve

__all__ = ["dup_message", "free_duplicates"]


def dup_message(plan: ObjectPlan, side: Side, item: Any) -> str:
    holder: Entry | None = item.duplicate_of
    key: str | None = item.matched_by if isinstance(item, Item) else item.key
    holder_id = holder.id_on(side) if holder is not None else None
    what = plan.key_name(key) if key else "identifier"
    if holder_id is None and holder is not None:
        holder_id = holder.id_on(side.other)
        return f"same {what} as {side.other.value} record {holder_id}, already paired"
    return f"same {what} as {side.value} record {holder_id}, which syncs instead (rule M3)"


def free_duplicates(core: Core, ctx: Pass, plan: ObjectPlan, freed: set[str]) -> None:
    """Recheck duplicates of identifiers their owner no longer holds (M3).

    The first record with an identifier syncs and later ones are excluded; when the
    first one changes its identifier or is forgotten, the next in line syncs now: on
    each side where no record holds the identifier any more, the oldest duplicate is
    made an owner again (queued, until a recheck processes it), so that a duplicate
    on one side pairs with one on the other instead of both being created.

    The recheck waits until the pass has done its scans
    (:func:`~syncengine.engine.recheck.recheck_freed`):
    a record with the identifier on a page not read yet would otherwise find no
    owner on its side, and the duplicate of the other side would be created there
    next to it. Until then, the queued owner is what such a record pairs with (M1).
    """
    freed = {k for k in freed if not k.startswith("~")}
    if not freed:
        return
    found = ctx.store.by_keys(core.sync_id, plan.name, sorted(freed))
    waiting: dict[str, Entry] = {}
    promoted: dict[str, Entry] = {}
    now = core.clock()
    for entries in found.values():
        held = {
            side
            for e in entries
            if is_owner(e)
            for side in Side
            if e.id_on(side) is not None and e.deleted is not side
        }
        for e in entries:
            if is_owner(e) or e.entry_id in waiting or type(e) is CorruptEntry:
                continue  # (a CorruptEntry's record fails when it is met, named)
            waiting[e.entry_id] = e
            side = Side.HUB if e.hub_id is not None else Side.APP
            if side not in held:
                held.add(side)  # the first in line only
                promoted[e.entry_id] = evolve(
                    e,
                    state=RecordState.QUEUED,
                    reason=None,
                    message="its identifier is free again: it syncs next (rule M3)",
                    updated_at=now,
                )
    if promoted:
        # Written only on the entry as read: no lease is held on its record, and a pass
        # that holds it may have stored its outcome since (a lost update, S9). Such an
        # entry is left as that pass stored it; the recheck reads it as it is now.
        lost = ctx.store.replace_unchanged(
            core.sync_id, plan.name, [(waiting[i], e) for i, e in promoted.items()]
        )
        for entry in promoted.values():
            if entry.entry_id in lost:
                continue
            # Queued until the recheck decides it (its final outcome replaces this).
            side = Side.HUB if entry.hub_id is not None else Side.APP
            count_outcome(
                core, ctx, plan.name, entry, ((side, "queued"),), stored=waiting[entry.entry_id]
            )
    ctx.freed.setdefault(plan.name, {}).update(dict.fromkeys(waiting))
