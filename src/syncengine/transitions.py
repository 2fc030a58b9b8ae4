"""Pure changes of an index entry: evolve, synced, failed, excluded, history.

No I/O and no engine state: every function takes an :class:`~syncengine.entry.Entry`
and returns a new one (entries are frozen). Entries are copied several times per record
on the hot path of every pass, so the copies are positional (``evolve``, ``synced``).
"""

from __future__ import annotations

import operator
from collections.abc import Mapping
from datetime import datetime
from typing import Any, Final

import attrs

from syncengine.entry import (
    FIELD_ORDER,
    POSITIONAL,
    Entry,
    HistoryItem,
    make_entry,
    make_history_item,
)
from syncengine.plan import Apply, ObjectPlan, UpdateIn
from syncengine.records import Record, Side
from syncengine.states import ErrorCategory, ExcludeReason, RecordState

__all__ = [
    "add_history",
    "after_write",
    "append_history",
    "evolve",
    "excluded",
    "failed",
    "queued",
    "rewrites_keys",
    "synced",
    "with_id",
]

# Enum members of the per-record path as module constants: on Python 3.11 each
# ``Side.HUB`` is a call through ``EnumType.__getattr__``'s lookup hook.
_HUB: Final = Side.HUB
_SYNCED: Final = RecordState.SYNCED


def queued(size: int, base: Entry, now: datetime, keys: frozenset[str] | None = None) -> Entry:
    """``base`` left queued: another pass held it (S9); ``keys`` replace its keys."""
    return evolve(
        base,
        keys=base.keys if keys is None else keys,
        state=RecordState.QUEUED,
        updated_at=now,
        history=append_history(size, base.history, now, "queued", "another pass held it (rule S9)"),
    )


def failed(
    size: int,
    base: Entry,
    category: ErrorCategory,
    message: str,
    now: datetime,
    mark: str | None,
    keys: frozenset[str],
) -> Entry:
    same = (
        base.state is RecordState.FAILED and base.category is category and base.message == message
    )
    return evolve(
        base,
        state=RecordState.FAILED,
        category=category,
        reason=None,
        message=message,
        attempts=base.attempts + 1,
        mark=mark,
        keys=keys,
        updated_at=now,
        history=base.history
        if same
        else append_history(size, base.history, now, "failed", message),
    )


def excluded(size: int, base: Entry, reason: ExcludeReason, message: str, now: datetime) -> Entry:
    same = base.state is RecordState.EXCLUDED and base.reason is reason
    return evolve(
        base,
        state=RecordState.EXCLUDED,
        reason=reason,
        category=None,
        message=message,
        updated_at=now if not same else base.updated_at,
        history=base.history
        if same
        else append_history(size, base.history, now, "excluded", message),
    )


def add_history(
    size: int, entry: Entry, now: datetime, action: str, detail: str
) -> tuple[HistoryItem, ...]:
    return append_history(size, entry.history, now, action, detail)


def append_history(
    size: int, history: tuple[HistoryItem, ...], now: datetime, action: str, detail: str
) -> tuple[HistoryItem, ...]:
    return (*history, make_history_item(now, action, detail[:200]))[-size:]


def rewrites_keys(plan: ObjectPlan, decision: Apply) -> bool:
    """Whether the decision updates an identifier property of a record."""
    for write in decision.writes:
        if isinstance(write, UpdateIn):
            hub = write.side is _HUB
            properties = write.properties
            for key in plan.keys:
                if (key.hub if hub else key.app) in properties:
                    return True
    return False


def after_write(written: Apply | None, side: Side, record: Record) -> Mapping[str, Any]:
    """A record's properties once a decision's successful update of it is applied."""
    update = written.write_on(side) if written is not None else None
    if isinstance(update, UpdateIn) and update.properties:
        return {**record.properties, **update.properties}
    return record.properties


def with_id(entry: Entry, side: Side, record_id: str | None) -> Entry:
    """The entry with its record id on ``side`` set (or cleared)."""
    if side is _HUB:
        return evolve(entry, hub_id=record_id)
    return evolve(entry, app_id=record_id)


_ENTRY_INDEX: Final = {name: i for i, name in enumerate(FIELD_ORDER)}


_entry_values: Final = operator.attrgetter(*FIELD_ORDER)


def synced(
    base: Entry,
    *,
    hub_id: str | None,
    app_id: str | None,
    keys: frozenset[str],
    matched_by: str | None,
    hub_values: Mapping[str, Any],
    app_values: Mapping[str, Any],
    mark: str | None,
    updated_at: datetime,
    history: tuple[HistoryItem, ...],
) -> Entry:
    """``base`` synced with these copies: no failure, reason, message or pending create."""
    if not POSITIONAL:  # pragma: no cover - Entry takes FIELD_ORDER positionally
        return evolve(
            base,
            hub_id=hub_id,
            app_id=app_id,
            state=_SYNCED,
            keys=keys,
            matched_by=matched_by,
            hub_values=hub_values,
            app_values=app_values,
            category=None,
            reason=None,
            message="",
            pending=None,
            pending_key=None,
            attempts=0,
            mark=mark,
            deleted=None,
            updated_at=updated_at,
            history=history,
        )
    return make_entry(
        base.sync_id,
        base.object_type,
        base.entry_id,
        updated_at,
        hub_id,
        app_id,
        _SYNCED,
        keys,
        matched_by,
        hub_values,
        app_values,
        None,
        None,
        "",
        None,
        None,
        0,
        mark,
        base.links,
        None,  # synced: neither record is deleted (R6)
        history,
    )


def evolve(entry: Entry, **changes: Any) -> Entry:
    """``attrs.evolve(entry, **changes)``, faster: entries are copied several times per
    record on the hot path of every pass."""
    if not POSITIONAL:  # pragma: no cover - Entry takes FIELD_ORDER positionally
        return attrs.evolve(entry, **changes)
    values = list(_entry_values(entry))
    index = _ENTRY_INDEX
    for name, value in changes.items():
        values[index[name]] = value
    return make_entry(*values)
