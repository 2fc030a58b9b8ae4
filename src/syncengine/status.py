"""What a user sees of a sync: listings, exports, explanations and restore plans.

Views here are read-only values built from index entries (SPEC R4, R5, R6, R8). They
perform no I/O of their own, except :func:`write_export`, which writes to the file it is
given, row by row.
"""

from __future__ import annotations

import csv
import json
from collections.abc import Iterable, Iterator, Mapping, Sequence
from datetime import date, datetime
from typing import IO, Any, Final, Literal

import attrs
from typing_extensions import override

from syncengine.conflicts import Why
from syncengine.index._entry import Entry, HistoryItem
from syncengine.records import Side
from syncengine.states import ErrorCategory, ExcludeReason, RecordState

__all__ = [
    "COLUMNS",
    "EntryView",
    "Explanation",
    "FieldExplanation",
    "RestoreItem",
    "RestorePlan",
    "write_export",
]


@attrs.frozen(slots=True)
class EntryView:
    """One row of the record listing (SPEC R5).

    .. versionadded:: 0.1
    """

    object_type: str
    hub_id: str | None
    app_id: str | None
    state: RecordState
    category: ErrorCategory | None
    reason: ExcludeReason | None
    message: str
    hint: str
    updated_at: datetime
    matched_by: str | None = None
    attempts: int = 0
    entry_id: str = ""

    @classmethod
    def of(cls, entry: Entry, matched_by: str | None = None) -> EntryView:
        """The view of an index entry."""
        return cls(
            object_type=entry.object_type,
            hub_id=entry.hub_id,
            app_id=entry.app_id,
            state=entry.state,
            category=entry.category,
            reason=entry.reason,
            message=entry.message,
            hint=entry.category.hint if entry.category is not None else "",
            updated_at=entry.updated_at,
            matched_by=matched_by,
            attempts=entry.attempts,
            entry_id=entry.entry_id,
        )

    def as_dict(self) -> dict[str, Any]:
        """The row as plain JSON-able values."""
        return {name: _plain(getattr(self, name)) for name in COLUMNS}


#: Every column of the listing, in the default order of exports.
COLUMNS: Final = (
    "object_type",
    "hub_id",
    "app_id",
    "state",
    "category",
    "reason",
    "message",
    "hint",
    "updated_at",
    "matched_by",
    "attempts",
    "entry_id",
)


def _plain(value: Any) -> Any:
    if value is None or isinstance(value, bool | int | float | str):
        return value
    if isinstance(value, datetime | date):
        return value.isoformat()
    if isinstance(value, frozenset | set):
        return sorted(_plain(v) for v in value)
    if isinstance(value, Mapping):
        return {str(k): _plain(v) for k, v in value.items()}
    if isinstance(value, list | tuple):
        return [_plain(v) for v in value]
    return str(value)


_FORMULA_START: Final = ("=", "+", "-", "@", "\t", "\r")


def _cell(value: Any) -> str:
    """A CSV cell that no spreadsheet runs as a formula (CSV injection)."""
    text = "" if value is None else str(_plain(value))
    if text.startswith(_FORMULA_START):
        return "'" + text
    return text


def write_export(
    rows: Iterable[EntryView],
    out: IO[str],
    format: Literal["csv", "jsonl"] = "csv",
    columns: Sequence[str] | None = None,
) -> int:
    """Write rows to ``out`` one at a time (bounded memory); return how many.

    Raises:
        ValueError: for an unknown format or column.
    """
    cols = tuple(columns) if columns is not None else COLUMNS
    unknown = [c for c in cols if c not in COLUMNS]
    if unknown:
        raise ValueError(f"unknown column(s) {unknown}; expected some of {list(COLUMNS)}")
    count = 0
    if format == "csv":
        writer = csv.writer(out)
        writer.writerow(cols)
        for row in rows:
            writer.writerow([_cell(getattr(row, c)) for c in cols])
            count += 1
    elif format == "jsonl":
        for row in rows:
            out.write(json.dumps({c: _plain(getattr(row, c)) for c in cols}, ensure_ascii=False))
            out.write("\n")
            count += 1
    else:
        raise ValueError(f"unknown export format {format!r}; expected 'csv' or 'jsonl'")
    return count


@attrs.frozen(slots=True)
class FieldExplanation:
    """One mapped field of an explained entry (SPEC R8).

    Attributes:
        hub: The hub property.
        app: The app property.
        hub_value: The hub's current value (if the record could be read).
        app_value: The app's current value.
        hub_copy: The hub value in the index copy (what was last synced).
        app_copy: The app value in the index copy.
        why: How the engine decides this field now.
        source: The side whose value wins now, if any.
    """

    hub: str
    app: str
    hub_value: Any
    app_value: Any
    hub_copy: Any
    app_copy: Any
    why: Why
    source: Side | None


_WHY_TEXT: Final[Mapping[Why, str]] = {
    Why.IN_SYNC: "in sync",
    Why.CHANGED: "changed on {source} only → flows to {other} (D6)",
    Why.FILL_BLANK: "blank on {other} → filled from {source} (D2)",
    Why.REFILL: "cleared on {other} → refilled from {source} (D4)",
    Why.CLEARED: "cleared on {source} → clear propagates (D4)",
    Why.WINNER: "conflict → {source} wins as the default app (D3)",
    Why.NEWEST: "conflict → {source} changed last (D6 newest)",
    Why.POLICY: "conflict → the field's policy chose {source} (D6)",
    Why.DIRECTION: "one-way → {source} always wins (D5)",
    Why.KEPT: "nothing flows",
}


@attrs.frozen(slots=True)
class Explanation:
    """Why an entry is as it is: matching, fields, failure, history (SPEC R8).

    Render it with ``str()`` for humans or :meth:`as_dict` for tools.

    .. versionadded:: 0.1
    """

    entry: EntryView
    matched_by: str | None
    decision: str
    fields: tuple[FieldExplanation, ...]
    history: tuple[HistoryItem, ...]

    def as_dict(self) -> dict[str, Any]:
        """The explanation as plain JSON-able data."""
        return {
            "entry": self.entry.as_dict(),
            "matched_by": self.matched_by,
            "decision": self.decision,
            "fields": [
                {
                    "hub": f.hub,
                    "app": f.app,
                    "hub_value": _plain(f.hub_value),
                    "app_value": _plain(f.app_value),
                    "hub_copy": _plain(f.hub_copy),
                    "app_copy": _plain(f.app_copy),
                    "why": f.why.value,
                    "source": f.source.value if f.source else None,
                }
                for f in self.fields
            ],
            "history": [
                {"at": h.at.isoformat(), "action": h.action, "detail": h.detail}
                for h in self.history
            ],
        }

    @override
    def __str__(self) -> str:
        e = self.entry
        lines = [
            f"{e.object_type}: hub {e.hub_id or '-'} ↔ app {e.app_id or '-'} — {e.state.value}",
        ]
        if e.category is not None:
            lines.append(f"  failed ({e.category.value}): {e.message}")
            lines.append(f"  hint: {e.hint}")
        if e.reason is not None:
            lines.append(f"  excluded ({e.reason.value}): {e.message}")
        lines.append(
            f"  matched by: {self.matched_by}" if self.matched_by else "  matched by: (not matched)"
        )
        lines.append(f"  now: {self.decision}")
        for f in self.fields:
            text = _WHY_TEXT[f.why].format(
                source=f.source.value if f.source else "-",
                other=f.source.other.value if f.source else "-",
            )
            lines.append(f"  {f.hub} ↔ {f.app}: hub={f.hub_value!r} app={f.app_value!r} — {text}")
        if self.history:
            lines.append("  history:")
            for h in self.history:
                lines.append(f"    {h.at.isoformat()} {h.action}: {h.detail}")
        return "\n".join(lines)


@attrs.frozen(slots=True)
class RestoreItem:
    """One record a restore re-creates (SPEC R6).

    Attributes:
        entry_id: The index entry.
        source: The side whose record survived (the values come from it).
        source_id: That record's id (``None`` when it is gone too).
        properties: The values the destination record is created with, in the
            destination's names.
        from_index_copy: ``True`` when both records are gone and the values come from the
            index copy.
    """

    entry_id: str
    source: Side
    source_id: str | None
    properties: Mapping[str, Any]
    from_index_copy: bool = False


@attrs.frozen(slots=True)
class RestorePlan:
    """A reviewable list of records to re-create in ``destination`` (SPEC R6).

    Iterate it, take its ``len()``, then pass it to ``engine.restore(plan)``.

    .. versionadded:: 0.1
    """

    sync_id: str
    object_type: str
    destination: Side
    items: tuple[RestoreItem, ...]

    def __iter__(self) -> Iterator[RestoreItem]:
        return iter(self.items)

    def __len__(self) -> int:
        return len(self.items)

    @override
    def __str__(self) -> str:
        lines = [
            f"Restore {len(self)} {self.object_type} record(s) into the {self.destination.value}:"
        ]
        for item in self.items:
            origin = (
                "index copy (both records are gone)"
                if item.from_index_copy
                else f"{item.source.value} record {item.source_id}"
            )
            lines.append(f"  {item.entry_id}: from {origin}: {dict(item.properties)}")
        return "\n".join(lines)
