"""The engine's front: :class:`SyncEngine`, what users build and call.

Each method hands its work to the module that owns it (see docs/architecture.md): the
passes to :mod:`.initial` and :mod:`.passes`, listings, export, explain and restore to
:mod:`.operations`, the checks of a new config to :mod:`.setup`. The engine's state is one
:class:`~syncengine.engine.context.Core`, shared by those modules.
"""

from __future__ import annotations

import os
import time
from collections.abc import Callable, Iterable, Iterator, Sequence
from datetime import datetime
from typing import IO, Literal, final

from syncengine.adapters.base import Adapter
from syncengine.config import SyncConfig
from syncengine.engine import initial, operations, passes, setup
from syncengine.engine.context import Clock, Core, utcnow
from syncengine.engine.operations import ObjectStatus
from syncengine.errors import ConfigError
from syncengine.index.base import IndexStore
from syncengine.plan import ObjectPlan
from syncengine.records import ChangeEvent, Side
from syncengine.report import EventHandler, SyncEvent, SyncReport
from syncengine.states import RecordState
from syncengine.status import EntryView, Explanation, RestorePlan

__all__ = ["SyncEngine"]


@final
class SyncEngine:
    """Keeps the records of a hub and an app in sync.

    Args:
        hub: The hub's adapter.
        app: The connected app's adapter.
        index: Where the index lives; several engines (syncs) may share one (S1).
        config: What syncs and how. Checked against both adapters' schemas now.
        on_event: Called with a :class:`~syncengine.report.SyncEvent` for phases and
            progress, and ``initial_sync_completed`` once per initial sync (S4).
        clock: Returns now (timezone-aware); injected so tests never sleep.
        history_size: How many history items each entry keeps (R8).
        lease_seconds: How long a pass may hold a record before another pass may take it
            over (S9); longer than the slowest batch.
        queue_wait: How long a pass waits for records another pass holds before leaving
            them queued for a later pass (S9).
        sleep: How to wait (injected, so tests never really sleep).
        partition: ``(k, n)``: this engine is worker ``k`` of ``n`` sharing one index
            (``0 <= k < n``). Its initial sync then processes the records whose stable
            hash falls in partition ``k``, takes over the partitions of workers that
            died, and waits for the others between phases (docs/scale-out.md).

    Raises:
        ConfigError: when the config does not fit the apps' schemas (X2), naming the field
            path (``objects[0].mappings[2].app``), or ``partition`` is not ``(k, n)`` with
            ``0 <= k < n``.
        AdapterError: when a schema cannot be read.

    .. versionadded:: 0.1
    """

    def __init__(
        self,
        hub: Adapter,
        app: Adapter,
        index: IndexStore,
        config: SyncConfig,
        on_event: EventHandler | Callable[[SyncEvent], None] | None = None,
        *,
        clock: Clock | Callable[[], datetime] | None = None,
        history_size: int = 10,
        lease_seconds: float = 300.0,
        queue_wait: float = 5.0,
        sleep: Callable[[float], None] = time.sleep,
        partition: tuple[int, int] | None = None,
    ) -> None:
        if not isinstance(config, SyncConfig):
            raise ConfigError("config", f"expected a SyncConfig, got {type(config).__name__}")
        if partition is not None and not (
            isinstance(partition, tuple)
            and len(partition) == 2
            and all(type(n) is int for n in partition)
            and 0 <= partition[0] < partition[1]
        ):
            raise ConfigError("partition", f"expected (k, n) with 0 <= k < n, got {partition!r}")
        self._core = core = Core(
            {Side.HUB: hub, Side.APP: app},
            index,
            config,
            on_event=on_event,
            clock=clock or utcnow,
            history_size=max(1, history_size),
            lease_seconds=lease_seconds,
            queue_wait=queue_wait,
            sleep=sleep,
            partition=partition,
        )
        setup.configure(core, config, setup.compile_plans(core, config))

    @property
    def config(self) -> SyncConfig:
        """The current configuration."""
        return self._core.config

    @property
    def sync_id(self) -> str:
        """The sync's id."""
        return self._core.sync_id

    @property
    def hub(self) -> Adapter:
        """The hub's adapter."""
        return self._core.adapters[Side.HUB]

    @property
    def app(self) -> Adapter:
        """The app's adapter."""
        return self._core.adapters[Side.APP]

    @property
    def index(self) -> IndexStore:
        """The index store."""
        return self._core.index

    def plan_for(self, object_type: str) -> ObjectPlan:
        """The compiled object sync of a hub type (for tools and tests)."""
        return self._core.plans[object_type]

    def update_config(self, config: SyncConfig) -> None:
        """Change the settings; the next pass restarts the initial sync (rule S2).

        The new config is checked first; on error nothing changes. Entries and pairs stay;
        the restarted initial sync recomputes every entry under the new mappings, filters
        and directions.
        """
        plans = setup.compile_plans(self._core, config)
        if config.sync_id != self._core.config.sync_id:
            raise ConfigError("sync_id", "a sync's id cannot change; build another engine")
        setup.configure(self._core, config, plans)
        self._core.index.set_meta(self.sync_id, "initial_restart", "1")

    @property
    def enabled(self) -> bool:
        """Whether the sync is on."""
        return self._core.enabled

    def enable(self) -> None:
        """Turn the sync on; changes made while it was off sync on the next pass."""
        self._core.index.set_meta(self.sync_id, "enabled", None)

    def disable(self) -> None:
        """Turn the sync off: passes write nothing and cursors stay where they are."""
        self._core.index.set_meta(self.sync_id, "enabled", "0")

    def delete(self) -> None:
        """Remove the sync's entries, cursors and settings from the index (nothing else)."""
        self._core.index.delete_sync(self.sync_id)

    def status(self) -> dict[str, ObjectStatus]:
        """Counts per object type from the index, without reading entries (rule R4)."""
        return operations.status(self._core)

    @property
    def initial_sync_running(self) -> bool:
        """Whether an initial sync has started and not finished (or must restart)."""
        return self._core.initial_sync_running

    @property
    def started(self) -> bool:
        """Whether this sync's initial sync has ever started in this index.

        ``False`` for a new sync, and for an index that lost it (a deleted or replaced
        file, a mistyped path or ``sync_id``): ``syncengine run`` then refuses to start a
        new initial sync unless asked to (``--new``).

        .. versionadded:: 0.2
        """
        return self._core.index.get_meta(self.sync_id, "initial_run") is not None

    def records(
        self,
        object_type: str | None = None,
        state: RecordState | str | Iterable[RecordState | str] | None = None,
        since: datetime | None = None,
        until: datetime | None = None,
    ) -> Iterator[EntryView]:
        """Stream the record listing, filtered by object type, state and time frame (R5).

        ``since``/``until`` bound the time the entry last changed. Memory stays bounded.
        """
        return operations.records(self._core, object_type, state, since, until)

    def export(
        self,
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

        Columns default to :data:`syncengine.status.COLUMNS`; pass ``columns`` to choose
        a set and order, by the names ``syncengine records`` shows (``object_type``,
        ``why``, …; :func:`syncengine.status.export_columns`). CSV cells a spreadsheet
        would run as formulas are neutralized (:func:`~syncengine.status.write_export`).
        Secrets never appear: entries hold none (X4).

        Given a path, the export is written to a temporary file in the same folder and
        renamed over ``file_or_path`` only when complete: an export that fails half-way
        (an index error, Ctrl-C) leaves the earlier file as it was, and no partial one.
        Text that is not valid Unicode (a lone surrogate in an id) is written escaped
        (``\\ud800``), never stopping the export.

        Raises:
            ValueError: for an unknown column or format, before the file is opened.
        """
        return operations.export(
            self._core,
            file_or_path,
            format,
            object_type=object_type,
            state=state,
            since=since,
            until=until,
            columns=columns,
        )

    def explain(self, side: Side, object_type: str, record_id: str) -> Explanation:
        """How an entry matched, how each field is decided now and why, and its history (R8).

        Reads the current records from both apps (nothing is written) and runs the
        decision core on them.

        Raises:
            KeyError: when the index has no entry for that record.
        """
        return operations.explain(self._core, side, object_type, record_id)

    def plan_restore(self, object_type: str, destination: Side) -> RestorePlan:
        """List the records deleted in ``destination`` that can be re-created (R6).

        Each item says where its values come from: the surviving record, or, when both
        records are gone, the index copy. Review it, then pass it to :meth:`restore`.
        """
        return operations.plan_restore(self._core, object_type, destination)

    def restore(self, plan: RestorePlan) -> SyncReport:
        """Re-create the planned records in the destination and re-pair them (R6)."""
        return operations.restore(self._core, plan)

    def initial_sync(
        self, dry_run: bool = False, *, allow_mass_changes: bool = False
    ) -> SyncReport:
        """Run (or resume) the initial sync: index hub, index app and sync, sync hub (S3).

        A crashed initial sync resumes where it stopped, without redoing finished pages or
        creating duplicates (S8). When it completes, ``on_event`` receives
        ``initial_sync_completed`` (S4). With ``dry_run=True`` nothing is written to the
        apps or the index; ``report.planned`` lists what would be (R9).
        """
        return initial.initial_sync(self._core, dry_run, allow_mass_changes=allow_mass_changes)

    def incremental_sync(
        self, dry_run: bool = False, *, allow_mass_changes: bool = False
    ) -> SyncReport:
        """Process what changed since the last pass, from each app's cursor (S5, S6, R7).

        Only changed records are read; entries whose last attempt failed transiently (or
        that were queued) are retried; then the webhook events kept in the index's inbox
        are processed and removed (see :meth:`drain_inbox`). Before the initial sync has
        completed, this resumes the initial sync instead.

        Args:
            dry_run: Decide, write nothing, and list the planned writes (R9).
            allow_mass_changes: Let the pass update more than ``max_change_ratio`` of a
                side's records (see :class:`~syncengine.SafetyStop`).
        """
        return passes.incremental_sync(self._core, dry_run, allow_mass_changes=allow_mass_changes)

    def handle_events(
        self, side: Side, events: Sequence[ChangeEvent], *, allow_mass_changes: bool = False
    ) -> SyncReport:
        """Process changes pushed by an app (webhooks), without scanning (S5).

        Events name the object type the way ``side`` names it. Duplicated and out-of-order
        events are fine: each record is fetched as it is now. Events of types that no
        object sync covers are ignored (noted in ``report.errors``).

        Before the records are processed, the other app's records changed since its last
        poll are indexed (one change scan per object type, cursor unmoved), so that a
        record added to both apps pairs instead of being created twice (M1). Batch
        events, and keep incremental passes running so that this scan stays short.

        Raises:
            SyncDisabledError: when the sync is off, so a webhook receiver can answer with a
                retryable status and lose nothing.
        """
        return passes.handle_events(self._core, side, events, allow_mass_changes=allow_mass_changes)

    def drain_inbox(self, *, allow_mass_changes: bool = False) -> SyncReport:
        """Process the webhook events kept in the index's inbox, without scanning (S5).

        Incremental passes drain the inbox too; call this between them (a worker loop,
        every few seconds) for changes to sync within seconds of the webhook. Events are
        removed only once processed; a crash or an unavailable app leaves them for the
        next drain (at least once). While the sync is off, or its initial sync runs,
        nothing is drained and the events stay.

        .. versionadded:: 0.2
        """
        return passes.drain_inbox(self._core, allow_mass_changes=allow_mass_changes)

    def reconcile(self, dry_run: bool = False, *, allow_mass_changes: bool = False) -> SyncReport:
        """Compare both apps in full against the index and repair what differs (S6).

        Recovers lost webhooks, dropped requests and deletions that no cursor reported.
        Costs a full scan of both apps.
        """
        return passes.reconcile(self._core, dry_run, allow_mass_changes=allow_mass_changes)
