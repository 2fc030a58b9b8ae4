"""Pass history: one :class:`PassRecord` per pass, kept by the index store.

The engine records every pass it runs (initial, incremental, events, reconcile, restore;
dry runs flagged) at its end, including passes that were skipped, stopped by a safety
guard or that raised; inbox drains and webhook batches only when they did something (an
idle worker loop would push every other pass out of the bounded history). The store
keeps the newest :data:`KEEP_PASSES` of each sync
(:meth:`~syncengine.index.IndexStore.add_pass`) and reads them back newest first
(:meth:`~syncengine.index.IndexStore.passes`)::

    for record in engine.index.passes(engine.sync_id, limit=10):
        print(record.number, record.kind, record.outcome, record.created, record.duration)

A store without a history (a third-party store written before it existed) raises
:class:`NotImplementedError` from both methods;
:func:`syncengine.index.base.keeps_history` tells. The engine then logs one warning and
runs its passes as before.

.. versionadded:: 0.2
"""

from __future__ import annotations

import json
from collections.abc import Mapping
from datetime import UTC, datetime, timedelta
from typing import Final

import attrs

from syncengine.errors import IndexStoreError
from syncengine.records import Side
from syncengine.report import SideCounts, SyncReport

__all__ = ["KEEP_PASSES", "OUTCOMES", "UNREADABLE", "PassRecord", "UnreadablePass", "check_pass"]

#: How many passes a store keeps per sync by default (the oldest are deleted).
KEEP_PASSES: Final = 1000

#: The outcomes of a pass: it ran to its end; it did nothing (the sync is off, …); a
#: safety guard stopped it (:class:`~syncengine.SafetyStop`); it raised.
OUTCOMES: Final[tuple[str, ...]] = ("completed", "skipped", "stopped", "failed")
#: The longest ``detail`` kept (longer ones are cut, ending in "…").
DETAIL_LIMIT: Final = 500


def _frozen_counts(
    counts: Mapping[str, Mapping[str, SideCounts]],
) -> Mapping[str, Mapping[str, SideCounts]]:
    """A private copy (SideCounts are mutable), object types and sides in sorted order."""
    return {
        str(obj): {str(side): SideCounts(**by_side[side].as_dict()) for side in sorted(by_side)}
        for obj, by_side in sorted(counts.items())
    }


def _utc(value: datetime) -> datetime:
    """An aware datetime in UTC (the same instant); anything else as given."""
    if isinstance(value, datetime) and value.utcoffset() is not None:
        return value.astimezone(UTC)
    return value


@attrs.frozen(slots=True)
class PassRecord:
    """What one pass did, as the pass history keeps it.

    Attributes:
        sync_id: The sync.
        kind: ``"initial"``, ``"incremental"``, ``"events"`` (webhook events, handed in or
            drained from the inbox), ``"reconcile"`` or ``"restore"``.
        started_at: When the pass started (aware; converted to UTC).
        finished_at: When it ended (aware; converted to UTC).
        outcome: ``"completed"``, ``"skipped"``, ``"stopped"`` (a safety guard, such as
            the mass-change guard) or ``"failed"`` (it raised).
        detail: ``""``, or why it was skipped, stopped or failed: one line, credentials
            hidden.
        counts: Per object type, per side (``"hub"``, ``"app"``): what the pass did.
        dry_run: Whether it was a dry run (nothing written to the apps).
        number: Its number within the sync (1, 2, 3…), given by the store; 0 before.

    .. versionadded:: 0.2
    """

    sync_id: str
    kind: str
    started_at: datetime = attrs.field(converter=_utc)
    finished_at: datetime = attrs.field(converter=_utc)
    outcome: str
    detail: str = ""
    counts: Mapping[str, Mapping[str, SideCounts]] = attrs.field(
        factory=dict, converter=_frozen_counts
    )
    dry_run: bool = False
    number: int = 0

    @classmethod
    def of(
        cls,
        report: SyncReport,
        started_at: datetime,
        finished_at: datetime,
        outcome: str,
        detail: str = "",
    ) -> PassRecord:
        """The record of a pass that produced ``report``."""
        counts: dict[str, dict[str, SideCounts]] = {}
        for (object_type, side), side_counts in report.counts.items():
            counts.setdefault(object_type, {})[Side(side).value] = side_counts
        return cls(
            sync_id=report.sync_id,
            kind=report.kind,
            started_at=started_at,
            finished_at=finished_at,
            outcome=outcome,
            detail=one_line(detail),
            counts=counts,
            dry_run=report.dry_run,
        )

    def total(self, counter: str) -> int:
        """One counter (``"created"``, ``"unchanged"``, …) added up over types and sides."""
        return sum(
            getattr(side_counts, counter)
            for by_side in self.counts.values()
            for side_counts in by_side.values()
        )

    @property
    def created(self) -> int:
        """Records created, on both sides."""
        return self.total("created")

    @property
    def updated(self) -> int:
        """Records updated, on both sides."""
        return self.total("updated")

    @property
    def failed(self) -> int:
        """Records that failed, on both sides."""
        return self.total("failed")

    @property
    def excluded(self) -> int:
        """Records excluded, on both sides."""
        return self.total("excluded")

    @property
    def duration(self) -> timedelta:
        """How long the pass ran."""
        return self.finished_at - self.started_at


#: The outcome of an :class:`UnreadablePass` (not one of :data:`OUTCOMES`: no pass ends so).
UNREADABLE: Final = "unreadable"
_EPOCH: Final = datetime(1970, 1, 1, tzinfo=UTC)


@attrs.frozen(slots=True)
class UnreadablePass(PassRecord):
    """What a store's :meth:`~syncengine.index.IndexStore.passes` returns for a pass
    history row it cannot read (another program wrote it, or the file is damaged), in
    place of that pass: the listing goes on with the others.

    Its ``outcome`` is :data:`UNREADABLE`, its ``detail`` names the row, the index and
    what is wrong, its ``number`` is the row's (0 if that cannot be read either), its
    ``kind`` is ``"unknown"``, its times are the epoch and it counts nothing. Stores
    refuse to :meth:`~syncengine.index.IndexStore.add_pass` it.

    .. versionadded:: 0.3
    """

    @classmethod
    def of_row(cls, sync_id: str, number: object, reason: str) -> UnreadablePass:
        """The placeholder of pass row ``number`` of ``sync_id``, ``reason`` its detail."""
        return cls(
            sync_id=sync_id,
            kind="unknown",
            started_at=_EPOCH,
            finished_at=_EPOCH,
            outcome=UNREADABLE,
            detail=one_line(reason),
            number=number if type(number) is int else 0,
        )


def _encodable(text: object) -> bool:
    try:
        str(text).encode("utf-8")
    except UnicodeEncodeError:
        return False
    return True


def one_line(text: str, limit: int = DETAIL_LIMIT) -> str:
    """``text`` on one line (whitespace runs and control characters folded into one
    space, lone surrogates replaced), at most ``limit`` characters."""
    text = str(text).encode("utf-8", "replace").decode("utf-8")
    folded = " ".join("".join(c if c.isprintable() else " " for c in text).split())
    return folded if len(folded) <= limit else folded[: limit - 1] + "…"


def check_pass(record: object) -> PassRecord:
    """``record`` if a store can keep it; else raise :class:`~syncengine.IndexStoreError`
    naming what is wrong (stores call this before they write anything)."""
    if type(record) is not PassRecord:
        raise IndexStoreError(f"add_pass takes a PassRecord, got {record!r:.80}")
    problems = []
    if type(record.sync_id) is not str or type(record.kind) is not str or not record.kind:
        problems.append("sync_id and kind must be str (kind not empty)")
    for name in ("started_at", "finished_at"):
        value = getattr(record, name)
        if not isinstance(value, datetime) or value.utcoffset() is None:
            problems.append(f"{name} must be an aware datetime")
    if record.outcome not in OUTCOMES:
        problems.append(f"outcome must be one of {OUTCOMES}")
    if type(record.detail) is not str or type(record.dry_run) is not bool:
        problems.append("detail must be a str and dry_run a bool")
    elif not _encodable(record.kind) or not _encodable(record.detail):
        problems.append("kind and detail must be valid Unicode (no lone surrogates)")
    for object_type, by_side in record.counts.items():
        if not object_type or any(side not in ("hub", "app") for side in by_side):
            problems.append(f"counts of {object_type!r}: sides are 'hub' and 'app'")
    if problems:
        raise IndexStoreError(f"cannot keep pass record {record!r:.200}: {'; '.join(problems)}")
    return record


def encode_counts(counts: Mapping[str, Mapping[str, SideCounts]]) -> str:
    """A record's counts as compact JSON (counters that are 0 left out), for SQL stores."""
    data = {
        obj: {side: {k: v for k, v in c.as_dict().items() if v} for side, c in by_side.items()}
        for obj, by_side in counts.items()
    }
    return json.dumps(data, sort_keys=True, separators=(",", ":"))


def decode_counts(text: str) -> dict[str, dict[str, SideCounts]]:
    """Counts as :func:`encode_counts` wrote them."""
    data = json.loads(text)
    return {
        obj: {side: SideCounts(**values) for side, values in by_side.items()}
        for obj, by_side in data.items()
    }
