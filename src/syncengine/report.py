"""What a pass did: :class:`SyncReport`, its counters, planned writes and progress events."""

from __future__ import annotations

from collections.abc import Iterator, Mapping
from datetime import datetime
from typing import Any, Literal, Protocol

import attrs

from syncengine.records import Side

__all__ = ["EventHandler", "PlannedWrite", "SideCounts", "SyncEvent", "SyncReport"]

_COUNTERS = ("created", "updated", "unchanged", "failed", "excluded", "queued")


@attrs.define(slots=True)
class SideCounts:
    """What a pass did to one object type on one side.

    Attributes:
        created: Records created on this side.
        updated: Records updated on this side.
        unchanged: Records of this side processed with nothing to do.
        failed: Records of this side (or writes to it) that failed.
        excluded: Records of this side excluded from the sync.
        queued: Records of this side left for another pass that held them (S9).
    """

    created: int = 0
    updated: int = 0
    unchanged: int = 0
    failed: int = 0
    excluded: int = 0
    queued: int = 0

    def as_dict(self) -> dict[str, int]:
        """The counters as a plain dict."""
        return {name: getattr(self, name) for name in _COUNTERS}


@attrs.frozen(slots=True)
class PlannedWrite:
    """A write a pass performed, or would perform in a dry run (rule R9).

    Attributes:
        object_type: The object sync (its ``hub_type``).
        side: Where the write goes.
        action: ``"create"`` or ``"update"``.
        record_id: The record updated (``None`` for a create).
        properties: The values written, in that side's names.
        source_id: The id of the record the values come from, on the other side.
    """

    object_type: str
    side: Side
    action: Literal["create", "update"]
    record_id: str | None
    properties: Mapping[str, Any]
    source_id: str | None = None


@attrs.define(slots=True)
class SyncReport:
    """The outcome of one pass.

    Counters are kept per (object type, side); the properties :attr:`created`,
    :attr:`updated`, … add them up, and :meth:`get` reads one. ``planned`` lists the writes
    of a dry run (rule R9). ``errors`` lists problems that stopped part of the pass (a scan
    that failed), as messages.

    .. versionadded:: 0.1
    """

    kind: str
    sync_id: str
    started_at: datetime
    finished_at: datetime | None = None
    dry_run: bool = False
    skipped: str | None = None
    counts: dict[tuple[str, Side], SideCounts] = attrs.field(factory=dict)
    planned: list[PlannedWrite] = attrs.field(factory=list)
    errors: list[str] = attrs.field(factory=list)

    def side(self, object_type: str, side: Side) -> SideCounts:
        """The counters of one object type on one side (created on first use)."""
        key = (object_type, side)
        counts = self.counts.get(key)
        if counts is None:
            counts = self.counts[key] = SideCounts()
        return counts

    def get(self, counter: str, object_type: str | None = None, side: Side | None = None) -> int:
        """Add up one counter over the object types and sides given (all by default)."""
        if counter not in _COUNTERS:
            raise ValueError(f"unknown counter {counter!r}; expected one of {_COUNTERS}")
        return sum(
            getattr(counts, counter)
            for (obj, s), counts in self.counts.items()
            if (object_type is None or obj == object_type) and (side is None or s is side)
        )

    @property
    def created(self) -> int:
        """Records created, on both sides."""
        return self.get("created")

    @property
    def updated(self) -> int:
        """Records updated, on both sides."""
        return self.get("updated")

    @property
    def unchanged(self) -> int:
        """Records processed with nothing to do."""
        return self.get("unchanged")

    @property
    def failed(self) -> int:
        """Records that failed."""
        return self.get("failed")

    @property
    def excluded(self) -> int:
        """Records excluded."""
        return self.get("excluded")

    @property
    def queued(self) -> int:
        """Records left queued for another pass."""
        return self.get("queued")

    @property
    def writes(self) -> int:
        """Creates and updates, on both sides."""
        return self.created + self.updated

    def merge(self, other: SyncReport) -> None:
        """Add another report's counters, planned writes and errors to this one."""
        for (obj, side), counts in other.counts.items():
            mine = self.side(obj, side)
            for name in _COUNTERS:
                setattr(mine, name, getattr(mine, name) + getattr(counts, name))
        self.planned.extend(other.planned)
        self.errors.extend(other.errors)

    def __iter__(self) -> Iterator[tuple[str, Side, SideCounts]]:
        for (obj, side), counts in sorted(self.counts.items()):
            yield obj, side, counts

    def summary(self) -> str:
        """One line for humans."""
        text = (
            f"{self.kind}{' (dry run)' if self.dry_run else ''}: {self.created} created, "
            f"{self.updated} updated, {self.unchanged} unchanged, {self.failed} failed, "
            f"{self.excluded} excluded, {self.queued} queued"
        )
        if self.skipped:
            text += f" — skipped: {self.skipped}"
        return text


@attrs.frozen(slots=True)
class SyncEvent:
    """A progress event handed to ``on_event`` (rule S4, S8).

    Attributes:
        kind: ``"pass_started"``, ``"phase_started"``, ``"phase_progress"``,
            ``"phase_finished"``, ``"initial_sync_completed"``, ``"pass_finished"``.
        sync_id: The sync.
        object_type: The object sync concerned, if any.
        phase: ``"index_hub"``, ``"index_app_and_sync"``, ``"sync_hub"`` (initial sync),
            ``"poll_hub"``, ``"poll_app"``, ``"retry"``, ``"events"``, ``"reconcile_hub"``,
            ``"reconcile_app"``, …
        processed: Records processed so far in this phase.
        report: The pass's report so far (for counts).
    """

    kind: str
    sync_id: str
    object_type: str | None = None
    phase: str | None = None
    processed: int = 0
    report: SyncReport | None = None


class EventHandler(Protocol):
    """What ``on_event`` must be: a callable taking a :class:`SyncEvent`."""

    def __call__(self, event: SyncEvent, /) -> None:
        """Receive one event. Exceptions it raises stop the pass."""
