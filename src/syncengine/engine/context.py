"""The values a pass is made of: the engine's state (:class:`Core`), one running
pass (:class:`Pass`), one record on its way through a batch (:class:`Item`).

Imports only values (config, plan, records, report, the index's protocol); every other
module of :mod:`syncengine.engine` builds on this one.
"""

from __future__ import annotations

import itertools
from collections.abc import Callable, Iterator, Mapping, Sequence
from datetime import UTC, datetime
from typing import Any, Final, Protocol, final

import attrs

from syncengine._owner import new_owner
from syncengine._text import lone_surrogate
from syncengine.adapters.base import Adapter
from syncengine.config import SyncConfig
from syncengine.entry import Entry
from syncengine.errors import AdapterError, IndexStoreError
from syncengine.index._rowformat import store_where
from syncengine.index.base import IndexStore, PairView
from syncengine.plan import Decision, ObjectPlan
from syncengine.records import Record, Side
from syncengine.report import EventHandler, SyncEvent, SyncReport

__all__ = [
    "CHUNK",
    "QUEUED",
    "Clock",
    "Core",
    "Item",
    "Pass",
    "Queued",
    "bad_id",
    "chunks",
    "emit",
    "unrecorded_meta",
    "utcnow",
]


@final
class Core:
    """What every step of a pass reads: the adapters, the index, the compiled config and
    the injected clock, sleep and limits. One per :class:`~syncengine.SyncEngine`."""

    __slots__ = (
        "__weakref__",
        "adapters",
        "clock",
        "config",
        "history_size",
        "index",
        "lease_seconds",
        "linked_from",
        "on_event",
        "order",
        "partition",
        "plans",
        "preflight_store",
        "preflight_totals",
        "preflighting",
        "queue_wait",
        "sleep",
    )

    def __init__(
        self,
        adapters: dict[Side, Adapter],
        index: IndexStore,
        config: SyncConfig,
        *,
        on_event: EventHandler | Callable[[SyncEvent], None] | None,
        clock: Callable[[], datetime],
        history_size: int,
        lease_seconds: float,
        queue_wait: float,
        sleep: Callable[[float], None],
        partition: tuple[int, int] | None,
    ) -> None:
        self.adapters = adapters
        self.index = index
        self.config = config
        self.on_event = on_event
        self.clock = clock
        self.history_size = history_size
        self.lease_seconds = lease_seconds
        self.queue_wait = queue_wait
        self.sleep = sleep
        #: ``(k, n)``: this engine is worker ``k`` of ``n`` (docs/scale-out.md).
        self.partition = partition
        #: Whether a preflight dry run is running (see guard.preflight): silent, lists
        #: nothing.
        self.preflighting = False
        #: The index the last preflight's dry pass ended with, and the record counts per
        #: (object type, side) the next real pass measures its guard against.
        self.preflight_store: IndexStore | None = None
        self.preflight_totals: dict[tuple[str, Side], int] = {}
        #: The compiled object syncs by hub type, in link order, and who links to whom
        #: (set by setup.configure).
        self.plans: dict[str, ObjectPlan] = {}
        self.order: list[ObjectPlan] = []
        self.linked_from: dict[str, list[str]] = {}

    @property
    def sync_id(self) -> str:
        """The sync's id."""
        return self.config.sync_id

    @property
    def enabled(self) -> bool:
        """Whether the sync is on: setting ``enabled`` unset (on) or ``"0"`` (off), as
        :meth:`SyncEngine.enable` and :meth:`SyncEngine.disable` write it.

        Raises:
            IndexStoreError: The setting holds anything else (another program or a
                damaged disk wrote it): it is not taken for "on", which would start
                passes of a sync someone turned off.
        """
        text = self.index.get_meta(self.sync_id, "enabled")
        if text is None or text == "0":
            return text is None
        raise IndexStoreError(
            f"the {store_where(self.index)} is corrupt: setting 'enabled' of sync "
            f"{self.sync_id!r:.60} cannot be read: its value {text!r:.40} is neither '0' "
            "(off) nor unset (on); passes stop until it is repaired (it is not taken for "
            "on, which would run a sync someone turned off): turn the sync off or on "
            "again, which writes the setting anew (SyncEngine.disable() or "
            "SyncEngine.enable(), or the console's Actions page)"
        )

    @property
    def initial_sync_running(self) -> bool:
        """Whether an initial sync has started and not finished (or must restart)."""
        store = self.index
        run = store.get_meta(self.sync_id, "initial_run")
        return (
            run is None
            or store.get_meta(self.sync_id, "initial_done") != run
            or self.restart_requested()
        )

    def restart_requested(self, store: IndexStore | None = None) -> bool:
        """Whether a changed config asked the next initial sync to start over (setting
        ``initial_restart``: ``"1"``, or unset).

        ``store``: where to read it (a dry run's overlay), the engine's index by default.

        Raises:
            IndexStoreError: The setting holds anything else: it is not taken for "no
                restart", which would keep entries computed under the old settings.
        """
        text = (self.index if store is None else store).get_meta(self.sync_id, "initial_restart")
        if text is None or text == "1":
            return text is not None
        raise IndexStoreError(
            f"the {store_where(self.index)} is corrupt: setting 'initial_restart' of sync "
            f"{self.sync_id!r:.60} cannot be read: its value {text!r:.40} is neither '1' "
            "(restart the initial sync) nor unset; passes stop until it is repaired (it is "
            "not taken for no restart, which would keep entries computed under the old "
            "settings): start the initial sync over (SyncEngine.initial_sync(), which "
            "removes the setting), or restore the index from a backup"
        )


def emit(core: Core, ctx: Pass, kind: str, object_type: str | None = None) -> None:
    if core.on_event is not None and not core.preflighting:
        core.on_event(
            SyncEvent(
                kind=kind,
                sync_id=core.sync_id,
                object_type=object_type,
                phase=ctx.phase,
                processed=ctx.processed,
                report=ctx.report,
            )
        )


CHUNK: Final = 100


class Clock(Protocol):
    """What ``clock`` must be: a callable returning the current time, timezone-aware."""

    def __call__(self) -> datetime:
        """Return now, timezone-aware UTC."""


def utcnow() -> datetime:
    return datetime.now(UTC)


@attrs.define(slots=True)
class Pass:
    """The state of one running pass.

    What kind of pass it is, is said by flags (``dry_run``, ``compare_all``,
    ``catch_up``, ``mark``, ``guarded``), set when it begins; the report's ``kind`` is
    only its name. The other fields are each written by one module, named below, and
    read by the modules after it.
    """

    report: SyncReport
    #: The index: the engine's, or an overlay of it in a dry run (nothing is written).
    store: IndexStore
    dry_run: bool
    #: Whether the pass reads both records of every pair it processes, even a pair
    #: unchanged since its sync: the initial sync recomputes every pair (S2), reconcile
    #: compares both apps in full (S6, R6).
    compare_all: bool = False
    #: Whether the pass indexes the other app's records added since its scan before it
    #: first creates into it (the initial sync's phases: see match.catch_up).
    catch_up: bool = False
    #: Whether this is the initial sync: what it leaves for its end (a side whose poll
    #: cursor must stay) is kept in the index too, for a pass that resumes it.
    initial: bool = False
    #: The run a full scan marks its records with (``i3``: the third initial sync,
    #: ``r7``: the 7th reconcile), so a record is processed once per run.
    mark: str | None = None
    #: Whether this pass began the run its ``mark`` names (no other process of the run
    #: stored an entry with it before this pass: not a resumed initial sync, nor a
    #: worker of a scale-out), so an entry with the mark is one this pass counted
    #: (counts.counted_earlier).
    own_mark: bool = False
    #: Progress, for events (written by the passes).
    phase: str | None = None
    processed: int = 0
    #: Ids a dry run gives the records it would create (ports).
    fake_ids: Iterator[int] = attrs.field(factory=lambda: itertools.count(1))
    #: Names this pass's process, so a later pass can tell it is gone (see _owner).
    owner: str = attrs.field(default=attrs.Factory(new_owner, takes_self=True))
    #: The mass-change guard (guard): whether it is on, the updates planned so far and
    #: the record counts they are measured against, per (object type, side).
    guarded: bool = False
    planned_updates: dict[tuple[str, Side], int] = attrs.field(factory=dict)
    totals: dict[tuple[str, Side], int] = attrs.field(factory=dict)
    #: The leases this pass holds now (leases): never more than a batch's.
    leased: set[str] = attrs.field(factory=set)
    #: Entries this pass left queued (execute): not retried again in the same pass.
    queued: set[str] = attrs.field(factory=set)
    #: Whether the next batch of a phase that skips marked records reads the index
    #: before leasing (cheaper while most records are marked; see batch.process).
    prefilter: bool = True
    #: (object type, side) pairs whose changes since their initial scan this initial
    #: sync has indexed (see match.catch_up).
    caught_up: set[tuple[str, Side]] = attrs.field(factory=set)
    #: (object type, side) pairs with creates in flight whose settlement failed in this
    #: pass: the side's new records are not created elsewhere yet (settle; read by
    #: batch.process_leased).
    unsettled: dict[tuple[str, Side], AdapterError] = attrs.field(factory=dict)
    #: (object type, side) pairs whose changes this pass met a new record of and left it
    #: queued without an entry: its poll cursor stays, so the next pass reads the record
    #: again (batch; see batch.held_back).
    unrecorded: set[tuple[str, Side]] = attrs.field(factory=set)
    #: (object type, side) pairs -> the identifiers of the records of that side this
    #: pass left queued because another pass held them, as it read them (batch): the
    #: index may not hold them yet (the holder read the record before a user gave it
    #: them), so this pass creates no record holding one in that side (M3, S9).
    claimed: dict[tuple[str, Side], set[str]] = attrs.field(factory=dict)
    #: The records of a side read by the pass's one scan of its changes and not compared
    #: yet, by id (passes.scan_sides): a pair's counterpart is taken from here instead
    #: of fetched (ports.fetch_others), once.
    kept: dict[Side, dict[str, Record]] = attrs.field(factory=dict)
    #: The ids of a side's records compared in full as counterparts while ``kept`` was
    #: held (ports.fetch_others): not processed again from that side's kept changes.
    compared: dict[Side, set[str]] = attrs.field(factory=dict)
    #: The ids (records and deletions) a completed scan of a side's changes returned in
    #: this pass (passes.scan_sides): a pair's counterpart on that side that is not
    #: among them is unchanged since that side's cursor, and its index copy serves as
    #: the counterpart (D6; ports.fetch_others).
    changed: dict[Side, set[str]] = attrs.field(factory=dict)
    #: Records merged into others that this pass's updates landed on, by (object type,
    #: side): old id -> the merged record's id (ports.call_update, from
    #: ``WriteResult.merged``); their entries follow the merge once the pass has
    #: scanned what it scans (read by recheck.recheck_merged).
    write_merges: dict[tuple[str, Side], dict[str, str]] = attrs.field(factory=dict)
    #: Duplicates whose identifier was freed, by object type: rechecked once the pass
    #: has scanned what it scans (duplicates; read by recheck.recheck_freed).
    freed: dict[str, dict[str, None]] = attrs.field(factory=dict)
    #: What the report counts for each entry this pass counted, by (object type, entry
    #: id): a record is counted once, in its final outcome (counts). In a pass with a
    #: mark, entries whose mark and state tell what was counted (synced, or a lone
    #: record excluded) are dropped after their batch, so this holds a batch and the
    #: pass's failures and queued records, not every record of a full scan.
    counted: dict[tuple[str, str], tuple[tuple[Side, str], ...]] = attrs.field(factory=dict)
    #: The keys ``counted`` got in the batch being executed: whether each may be dropped.
    batch_counted: dict[tuple[str, str], bool] = attrs.field(factory=dict)


@attrs.define(slots=True)
class Item:
    """One record (or deletion) of a batch, on its way through a pass."""

    side: Side
    record: Record | None
    entry: Entry | None
    record_id: str
    keys: tuple[str, ...] = ()
    other_id: str | None = None
    pair_with: Entry | None = None
    matched_by: str | None = None
    duplicate_of: Entry | None = None
    other_error: AdapterError | None = None
    queued: bool = False
    counterpart: Record | None = None
    settled: bool = False
    #: (the entry paired with, that entry with this record's id set), made by match_batch.
    claim: tuple[Entry, Entry] | None = None
    #: The entries holding each of the record's keys when match_batch paired it (M3).
    pool: Mapping[str, Sequence[Entry]] | None = None
    #: Identifiers of entries the batch forgets because of this item (M3).
    freed: frozenset[str] = frozenset()
    #: The new entry match_batch made for a record without one: its base in execute.
    new: Entry | None = None
    #: A synced pair the lean path took, as read (lean_changes.select): ``entry`` is
    #: ``None`` until the general path needs it (``view.entry()``).
    view: PairView | None = None


def unrecorded_meta(object_type: str, side: Side) -> str:
    """The index meta key telling that the running initial sync left a new record of
    ``side`` queued without an entry (see batch.held_back)."""
    return f"initial_unrecorded:{object_type}:{side.value}"


class Queued(Decision):
    """Another pass holds the record: leave it queued for a later pass (S9)."""

    __slots__ = ()


QUEUED: Final = Queued()


def bad_id(record_id: Any) -> str | None:
    """Why ``record_id`` cannot be stored as a record id, or None (it is valid text).

    A record id is non-empty text (``str``) that is valid Unicode. Anything else (an
    ``int`` from a JSON API, ``None``, ``""``, bytes, a float) is refused, never
    converted: ``str(123)`` would pair the record with another app's ``"123"`` in one
    place and not in another.
    """
    if type(record_id) is str and record_id.isascii():
        return None if record_id else "its id is empty text"  # the common case first
    if not isinstance(record_id, str):
        return f"its id is {type(record_id).__name__}, not text (str)"
    if not record_id:
        return "its id is empty text"
    problem = lone_surrogate(record_id)
    return None if problem is None else f"its id {problem}"


def chunks(items: Sequence[Any], size: int) -> Iterator[Sequence[Any]]:
    size = max(1, size)
    for start in range(0, len(items), size):
        yield items[start : start + size]
