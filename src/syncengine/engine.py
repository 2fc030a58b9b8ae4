"""The driver: runs passes, streams pages, batches lookups and writes.

Theory of operation
-------------------
:class:`SyncEngine` is the only place that calls an :class:`~syncengine.adapters.Adapter`
or an :class:`~syncengine.index.IndexStore`. Every pass is built from one step,
:meth:`SyncEngine._process`, applied to a *batch* of records of one side (a page of a
scan, a chunk of webhook ids, a chunk of entries to retry):

1. look the batch's records up in the index by id, and the unpaired ones by identifier
   key (one store call each);
2. match new records against the index and against earlier records of the same batch,
   in order (M1–M3: the first record with an identifier wins, later ones are duplicates);
3. fetch the counterparts of paired records from the other side (one adapter call per
   ``max_batch_size`` ids);
4. ask the pure core (:mod:`syncengine.plan`) for a decision per record;
5. announce creates in the index as *pending*, with an idempotency key, in one transaction
   (S8: a crash after the create can be settled without a duplicate);
6. perform the writes in adapter batches;
7. store the outcome of every record, and the scan cursor, in one transaction.

Memory is bounded by the batch size; nothing holds all records. A failure of one item is
data (the entry fails with a category); an :class:`~syncengine.AdapterError` from a whole
call fails the records of that call and the pass goes on; the engine deletes nothing in
an app, ever (X3).
"""

from __future__ import annotations

import contextlib
import itertools
import operator
import os
import time
import uuid
import zlib
from collections.abc import Callable, Iterable, Iterator, Mapping, Sequence
from datetime import UTC, datetime, timedelta
from typing import IO, Any, Final, Literal, Protocol, final

import attrs

from syncengine import _inbox, _passlog
from syncengine._landed import landed, landed_copies
from syncengine._merges import redirects, repair
from syncengine._owner import ends_its_passes, finished, is_orphaned, new_owner
from syncengine._reads import announce_reads
from syncengine._settle import created_records, resend_deferred
from syncengine._text import lone_surrogate
from syncengine.adapters.base import CAPABILITY_FLAGS, Adapter
from syncengine.config import ObjectSync, PipelineMap, SyncConfig
from syncengine.errors import (
    AdapterError,
    ConfigError,
    SafetyStop,
    SyncDisabledError,
    UnsupportedCapability,
)
from syncengine.index._entry import FIELD_ORDER, POSITIONAL, CursorUpdate, Entry, HistoryItem
from syncengine.index._overlay import OverlayIndexStore
from syncengine.index.base import IndexStore
from syncengine.plan import (
    NO_CHANGE,
    Apply,
    CreateIn,
    Decision,
    Exclude,
    Fail,
    NoChange,
    ObjectPlan,
    UpdateIn,
    choose_match,
    compile_object,
    decide,
    decide_restore,
    identify,
    is_owner,
    unchanged_since_sync,
)
from syncengine.records import (
    AssociationChange,
    ChangeEvent,
    NewRecord,
    Pipeline,
    Record,
    RecordUpdate,
    Side,
    WriteResult,
)
from syncengine.report import EventHandler, PlannedWrite, SyncEvent, SyncReport
from syncengine.schema import ObjectSchema
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

__all__ = ["Clock", "ObjectStatus", "SyncEngine"]

_RETRY_STATES: Final = frozenset({RecordState.FAILED, RecordState.QUEUED})
#: Report counters of writes (see SyncEngine._count).
_WRITES: Final = frozenset({"created", "updated"})
#: An entry a pass with a mark counted earlier, and that ended synced (see _count).
_SYNCED_EARLIER: Final[tuple[tuple[Side, str], ...]] = ((Side.HUB, "synced"),)
_CHUNK: Final = 100
#: Scale-out (docs/scale-out.md): the lease "object type" of the workers' coordination
#: leases, and how long a worker waiting for the others sleeps between looks.
_WORKERS: Final = "~workers"
_WAIT: Final = 0.2


class Clock(Protocol):
    """What ``clock`` must be: a callable returning the current time, timezone-aware."""

    def __call__(self) -> datetime:
        """Return now, timezone-aware UTC."""


def _utcnow() -> datetime:
    return datetime.now(UTC)


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


@attrs.define(slots=True)
class _Pass:
    """The state of one running pass."""

    kind: str
    report: SyncReport
    store: IndexStore
    dry_run: bool
    mark: str | None = None
    phase: str | None = None
    processed: int = 0
    fake_ids: Iterator[int] = attrs.field(factory=lambda: itertools.count(1))
    #: Names this pass's process, so a later pass can tell it is gone (see _owner).
    owner: str = attrs.field(default=attrs.Factory(new_owner, takes_self=True))
    guarded: bool = False
    planned_updates: dict[tuple[str, Side], int] = attrs.field(factory=dict)
    totals: dict[tuple[str, Side], int] = attrs.field(factory=dict)
    leased: set[str] = attrs.field(factory=set)
    queued: set[str] = attrs.field(factory=set)
    #: Whether the next batch of a phase that skips marked records reads the index
    #: before leasing (cheaper while most records are marked; see _process).
    prefilter: bool = True
    #: (object type, side) pairs whose changes since their initial scan this initial
    #: sync has indexed (see SyncEngine._catch_up).
    caught_up: set[tuple[str, Side]] = attrs.field(factory=set)
    #: (object type, side) pairs with creates in flight whose settlement failed in this
    #: pass: the side's new records are not created elsewhere yet (see _settle_pending).
    unsettled: dict[tuple[str, Side], AdapterError] = attrs.field(factory=dict)
    #: (object type, side) pairs whose changes this pass met a new record of and left it
    #: queued without an entry: its poll cursor stays, so the next pass reads the record
    #: again (see SyncEngine._held_back).
    unrecorded: set[tuple[str, Side]] = attrs.field(factory=set)
    #: Duplicates whose identifier was freed, by object type: rechecked once the pass
    #: has scanned what it scans (see SyncEngine._free_duplicates).
    freed: dict[str, dict[str, None]] = attrs.field(factory=dict)
    #: What the report counts for each entry this pass counted, by (object type, entry
    #: id): a record is counted once, in its final outcome (see SyncEngine._count). In
    #: a pass with a mark, entries whose mark and state tell what was counted (synced,
    #: or a lone record excluded) are dropped after their batch, so this holds a batch
    #: and the pass's failures and queued records, not every record of a full scan.
    counted: dict[tuple[str, str], tuple[tuple[Side, str], ...]] = attrs.field(factory=dict)
    #: The keys ``counted`` got in the batch being executed: whether each may be dropped.
    batch_counted: dict[tuple[str, str], bool] = attrs.field(factory=dict)


@attrs.define(slots=True)
class _Item:
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
    #: (the entry paired with, that entry with this record's id set), made by _match.
    claim: tuple[Entry, Entry] | None = None
    #: The entries holding each of the record's keys when _match paired it (M3).
    pool: Mapping[str, Sequence[Entry]] | None = None
    #: Identifiers of entries the batch forgets because of this item (M3).
    freed: frozenset[str] = frozenset()
    #: The new entry _match made for a record without one: its base in _execute.
    new: Entry | None = None


def _unrecorded_meta(object_type: str, side: Side) -> str:
    """The index meta key telling that the running initial sync left a new record of
    ``side`` queued without an entry (see SyncEngine._held_back)."""
    return f"initial_unrecorded:{object_type}:{side.value}"


class _Queued(Decision):
    """Another pass holds the record: leave it queued for a later pass (S9)."""

    __slots__ = ()


_QUEUED: Final = _Queued()


@attrs.frozen(slots=True)
class _Unit:
    """A worker's unit of work in a phase of a scaled-out initial sync (docs/scale-out.md).

    The records of ``plan`` whose partition (:func:`_in_unit`) is ``part`` of ``parts``;
    a worker holds the coordination lease ``lease`` while it works on them, its scan
    resumes from the cursor named ``cursor``, and the setting ``done`` marks it finished.
    """

    plan: str
    part: int
    parts: int
    lease: str
    cursor: str
    done: str


def _in_unit(side: Side, record_id: str, unit: _Unit) -> bool:
    """Whether a record belongs to ``unit``: a stable hash of (side, id), modulo ``parts``."""
    if unit.parts == 1:
        return True
    key = f"{side.value}:{record_id}".encode("utf-8", "surrogatepass")
    return zlib.crc32(key) % unit.parts == unit.part


def _read_sides(entry: Entry, both: bool) -> tuple[Side, ...]:
    """The sides whose record a recheck of ``entry`` fetches (see ``_recheck``)."""
    present = tuple(side for side in Side if entry.id_on(side) is not None)
    if both or len(present) < 2:
        return present
    return (Side.APP,) if entry.deleted is Side.HUB else (Side.HUB,)


def _made_by(side: Side, entry: Entry, namesakes: Sequence[Record], keyed: bool) -> Record | None:
    """The record that settles ``entry``'s create in flight by identifier, if one does.

    One namesake: that one (the create's record, or one added meanwhile while the create
    never happened: pairing it makes no second record either way). Several: when the app
    takes idempotency keys, none (sending the create again names the record it made, and
    the others are duplicates, M3); otherwise the first.
    """
    if not namesakes or (keyed and len(namesakes) > 1):
        return None
    return namesakes[0]


def _bad_id(record_id: Any) -> str | None:
    """Why ``record_id`` cannot be stored as a record id, or None (it is valid text)."""
    if type(record_id) is not str or record_id.isascii():
        return None  # the common case, at C speed
    problem = lone_surrogate(record_id)
    return None if problem is None else f"its id {problem}"


def _chunks(items: Sequence[Any], size: int) -> Iterator[Sequence[Any]]:
    size = max(1, size)
    for start in range(0, len(items), size):
        yield items[start : start + size]


def _order_objects(plans: Iterable[ObjectPlan]) -> list[ObjectSync]:
    """Object syncs with the ends of links first (companies before contacts before deals).

    An object that keeps links to others (``associations``) syncs after them, so the
    links can be completed in the same pass; a cycle falls back to the given order (the
    links are then completed by a later pass, A1).
    """
    remaining = [plan.sync for plan in plans]
    ordered: list[ObjectSync] = []
    done: set[str] = set()
    while remaining:
        for obj in remaining:
            if all(dep in done for dep in obj.associations):
                break
        else:
            obj = remaining[0]
        remaining.remove(obj)
        ordered.append(obj)
        done.add(obj.hub_type)
    return ordered


def _linked_from(plans: Mapping[str, ObjectPlan]) -> dict[str, list[str]]:
    """For each object sync, the object syncs that keep links to it (A1)."""
    result: dict[str, list[str]] = {}
    for plan in plans.values():
        for target in plan.sync.associations:
            result.setdefault(target, []).append(plan.name)
    return result


def _with_defaults(obj: ObjectSync, config: SyncConfig, links: bool) -> ObjectSync:
    """Invoices link to contacts by default; links to companies are the user's call (A2).

    The default applies when both adapters can link (``links``): it is not something the
    user configured, so it is never a reason to refuse a config (X6).
    """
    hub_types = {o.hub_type for o in config.objects}
    if obj.hub_type == "invoices" and not obj.associations and "contacts" in hub_types and links:
        return attrs.evolve(obj, associations=("contacts",))
    return obj


def _implements(adapter: Adapter, method: str) -> bool:
    """Whether ``adapter``'s class overrides the base class's ``method``."""
    return getattr(type(adapter), method, None) is not getattr(Adapter, method)


#: Paths of errors in an adapter's own options (``hub.properties``), not an object sync's.
_ADAPTER_PATHS: Final = tuple(f"{side.value}." for side in Side)


def _in_object(exc: ConfigError, i: int, sync_id: str, obj: ObjectSync) -> ConfigError:
    """``exc`` (found checking object sync ``i`` against the schemas) naming the sync and it."""
    where = exc.within(f"objects[{i}]")
    if where.problem.startswith(f"sync {sync_id!r}"):  # it says so already
        return where
    return ConfigError(
        where.path,
        f"{where.problem} (sync {sync_id!r}, object sync {obj.hub_type} ↔ {obj.app_type})",
    )


def _as_adapter_error(exc: Exception) -> AdapterError:
    """Map anything an adapter raised to an AdapterError (the one place that does it)."""
    if isinstance(exc, AdapterError):
        return exc
    return AdapterError(ErrorCategory.UNKNOWN, f"{type(exc).__name__}: {str(exc)[:200]}")


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
        self._partition = partition
        self._adapters: dict[Side, Adapter] = {Side.HUB: hub, Side.APP: app}
        self._index = index
        self._on_event = on_event
        #: Whether a preflight dry run is running (see _preflight): silent, lists nothing.
        self._preflighting = False
        #: The index the last preflight's dry pass ended with, and the record counts per
        #: (object type, side) the next real pass measures its guard against.
        self._preflight_store: IndexStore | None = None
        self._preflight_totals: dict[tuple[str, Side], int] = {}
        self._clock: Callable[[], datetime] = clock or _utcnow
        self._history_size = max(1, history_size)
        self._lease_seconds = lease_seconds
        self._queue_wait = queue_wait
        self._sleep = sleep
        self._config = config
        self._plans = self._compile(config)
        self._order = [self._plans[o.hub_type] for o in _order_objects(self._plans.values())]
        self._linked_from = _linked_from(self._plans)
        self._announce_links()
        announce_reads(self._adapters, self._plans.values())

    # ---- configuration ------------------------------------------------------------
    def _compile(self, config: SyncConfig) -> dict[str, ObjectPlan]:
        self._check_adapters(config.sync_id)
        plans: dict[str, ObjectPlan] = {}
        for i, obj in enumerate(config.objects):
            try:
                hub_schema = self._schema_of(Side.HUB, obj.hub_type)
                app_schema = self._schema_of(Side.APP, obj.app_type)
                defaulted = _with_defaults(obj, config, self._links_supported())
                self._check_capabilities(config.sync_id, defaulted)
                resolved = self._resolve_pipelines(defaulted)
                self._check_stage_maps(resolved)
                plans[obj.hub_type] = compile_object(resolved, hub_schema, app_schema)
            except ConfigError as exc:
                if exc.path.startswith(_ADAPTER_PATHS):  # an adapter's option, not the object's
                    raise
                raise _in_object(exc, i, config.sync_id, obj) from None
        return plans

    def _schema_of(self, side: Side, type_name: str) -> ObjectSchema:
        """The schema of ``type_name`` on ``side``; a type the app lacks is a ConfigError (X2).

        Raises:
            ConfigError: at ``hub_type``/``app_type`` when the adapter says ``NOT_FOUND``.
            AdapterError: when the schema cannot be read for another reason.
        """
        adapter = self._adapters[side]
        try:
            return adapter.schema(type_name)
        except ConfigError as exc:  # an adapter option the app refuses (HubSpot's properties)
            raise ConfigError(
                f"{side.value}.{exc.path}" if exc.path else side.value,
                f"the {side.value} adapter {adapter.name!r}: {exc.problem}",
            ) from None
        except AdapterError as exc:
            if exc.category is not ErrorCategory.NOT_FOUND:
                raise
            raise ConfigError(
                f"{side.value}_type",
                f"the {side.value} ({adapter.name!r}) has no object type {type_name!r}: "
                f"{exc.message}",
            ) from None

    # ---- capabilities (rule X6): what is configured works, or is refused here ----------
    def _check_adapters(self, sync_id: str) -> None:
        """Refuse adapters whose capability flags or batch size are not what they say.

        Raises:
            ConfigError: naming the sync, the side and the attribute.
        """
        for side in Side:
            adapter = self._adapters[side]
            who = f"sync {sync_id!r}: the {side.value} adapter {adapter.name!r}"
            for flag in CAPABILITY_FLAGS:
                value = getattr(adapter, flag, False)
                if type(value) is not bool:
                    raise ConfigError(
                        f"{side.value}.{flag}",
                        f"{who} has {flag} = {value!r:.60}; expected True or False",
                    )
            if adapter.supports_idempotency_lookup and not _implements(
                adapter, "lookup_idempotency_keys"
            ):
                raise ConfigError(
                    f"{side.value}.supports_idempotency_lookup",
                    f"{who} has supports_idempotency_lookup = True but does not implement "
                    f"lookup_idempotency_keys(); implement it or set the flag to False",
                )
            size = adapter.max_batch_size
            if type(size) is not int or size < 1:
                raise ConfigError(
                    f"{side.value}.max_batch_size",
                    f"{who} has max_batch_size = {size!r:.60}; expected a whole number >= 1",
                )

    def _links_supported(self) -> bool:
        """Whether both adapters declare links, and implement them."""
        return all(
            self._adapters[side].supports_associations
            and _implements(self._adapters[side], "associate")
            for side in Side
        )

    def _check_capabilities(self, sync_id: str, obj: ObjectSync) -> None:
        """Refuse an object sync that needs a capability an adapter does not declare (X6).

        An adapter says what it can do with its ``supports_*`` flags; the flag, not the
        presence of a method, is what counts, and the two must agree for what the config
        uses: links (``associations``) need ``supports_associations`` and
        :meth:`~syncengine.adapters.Adapter.associate` on both sides; auto-mapped stages
        (a ``PipelineMap`` without ``stages``) need ``supports_pipelines`` and
        :meth:`~syncengine.adapters.Adapter.pipelines` on both sides.

        Raises:
            ConfigError: naming the sync id, the object type, the side and the flag.
        """
        needs: list[tuple[str, str, str, str, str]] = []
        if obj.associations:
            needs.append(
                (
                    "associations",
                    "supports_associations",
                    "associate",
                    "keeps links to " + ", ".join(repr(t) for t in obj.associations),
                    "leave 'associations' out of this object sync",
                )
            )
        if any(p.stages is None for p in obj.pipelines):
            needs.append(
                (
                    "pipelines",
                    "supports_pipelines",
                    "pipelines",
                    "auto-maps pipeline stages",
                    "map the stages explicitly (PipelineMap(..., stages={...}))",
                )
            )
        for path, flag, method, what, otherwise in needs:
            for side in Side:
                adapter = self._adapters[side]
                declared = bool(getattr(adapter, flag, False))
                implemented = _implements(adapter, method)
                if declared and implemented:
                    continue
                cls = type(adapter).__name__
                if implemented:
                    why = (
                        f"{cls} defines {method}() but leaves {flag} = False; if {method}() "
                        f"works, set {flag} = True on the class"
                    )
                elif declared:
                    why = (
                        f"{cls} sets {flag} = True but does not implement {method}(); "
                        f"implement it, or set {flag} = False and {otherwise}"
                    )
                else:
                    why = f"{cls} has {flag} = False; {otherwise}"
                raise ConfigError(
                    path,
                    f"sync {sync_id!r}, object {obj.hub_type!r} {what}, which the "
                    f"{side.value} adapter {adapter.name!r} does not support: {why}",
                )

    def _announce_links(self) -> None:
        """Tell each adapter which links its records must carry (rule A1).

        One declaration, ``ObjectSync(associations=...)``, is enough: the engine passes it
        on through :meth:`~syncengine.adapters.Adapter.include_associations`.
        """
        for plan in self._plans.values():
            targets = plan.sync.associations
            if not targets:
                continue
            for side in Side:
                self._adapters[side].include_associations(
                    plan.type_on(side), [self._plans[t].type_on(side) for t in targets]
                )

    def _check_stage_maps(self, obj: ObjectSync) -> None:
        """Refuse pipeline and stage ids a pipeline map names that an app lacks (A3, X6).

        Checked against each app that lists its pipelines; an app that cannot (it does not
        declare ``supports_pipelines``, or may not read them, A5) is taken at its word.

        Raises:
            ConfigError: at ``pipelines[i].hub_pipeline``/``app_pipeline`` or
                ``pipelines[i].stages[...]``, naming the id and the ones there are.
        """
        if not obj.pipelines:
            return
        for side in Side:
            type_name = obj.hub_type if side is Side.HUB else obj.app_type
            if not self._adapters[side].supports_pipelines:
                continue
            try:
                known = {p.id: p for p in self._adapters[side].pipelines(type_name)}
            except (UnsupportedCapability, AdapterError):
                continue
            for i, pipeline_map in enumerate(obj.pipelines):
                pid = pipeline_map.hub_pipeline if side is Side.HUB else pipeline_map.app_pipeline
                pipeline = known.get(pid)
                if pipeline is None:
                    raise ConfigError(
                        f"pipelines[{i}].{side.value}_pipeline",
                        f"the {side.value} has no pipeline {pid!r} of {type_name!r} "
                        f"(known: {', '.join(sorted(known)) or 'none'})",
                    )
                stage_ids = [s.id for s in pipeline.stages]
                for hub_stage, app_stage in (pipeline_map.stages or {}).items():
                    stage = hub_stage if side is Side.HUB else app_stage
                    if stage_ids and stage not in stage_ids:
                        raise ConfigError(
                            f"pipelines[{i}].stages[{hub_stage!r}]",
                            f"the {side.value} pipeline {pid!r} has no stage {stage!r} "
                            f"(its stages: {', '.join(stage_ids)})",
                        )

    def _resolve_pipelines(self, obj: ObjectSync) -> ObjectSync:
        """Auto-map the stages of pipeline maps that leave them out (rule A3–A5).

        Raises:
            ConfigError: naming the pipeline when an app cannot say its stages: it lacks
                the permission, has no such pipeline, or has no stages (A5). Never an
                empty mapping.
        """
        if all(p.stages is not None for p in obj.pipelines):
            return obj
        found: dict[Side, dict[str, Pipeline]] = {}
        for side in Side:
            adapter = self._adapters[side]
            type_name = obj.hub_type if side is Side.HUB else obj.app_type
            try:
                found[side] = {p.id: p for p in adapter.pipelines(type_name)}
            except UnsupportedCapability:
                raise ConfigError(
                    "pipelines",
                    f"the {side.value} adapter {adapter.name!r} cannot list pipelines; "
                    "map the stages explicitly",
                ) from None
            except AdapterError as exc:
                raise ConfigError(
                    "pipelines",
                    f"cannot read the {side.value}'s pipelines of {type_name!r} "
                    f"({exc.category.value}: {exc.message}); check the account's permissions",
                ) from exc
        maps = []
        for i, pipeline_map in enumerate(obj.pipelines):
            if pipeline_map.stages is not None:
                maps.append(pipeline_map)
                continue
            ends = {}
            for side, pid in (
                (Side.HUB, pipeline_map.hub_pipeline),
                (Side.APP, pipeline_map.app_pipeline),
            ):
                pipeline = found[side].get(pid)
                if pipeline is None:
                    raise ConfigError(
                        f"pipelines[{i}].{side.value}_pipeline",
                        f"the {side.value} has no pipeline {pid!r} "
                        f"(known: {', '.join(sorted(found[side])) or 'none'})",
                    )
                if not pipeline.stages:
                    raise ConfigError(
                        f"pipelines[{i}].{side.value}_pipeline",
                        f"the {side.value} pipeline {pid!r} shows no stages: the account may "
                        "lack permission to read them, or the app has no stage-based process",
                    )
                ends[side] = pipeline
            maps.append(
                PipelineMap.auto(
                    pipeline_map.hub_pipeline,
                    pipeline_map.app_pipeline,
                    ends[Side.HUB].stages,
                    ends[Side.APP].stages,
                )
            )
        return attrs.evolve(obj, pipelines=maps)

    @property
    def config(self) -> SyncConfig:
        """The current configuration."""
        return self._config

    @property
    def sync_id(self) -> str:
        """The sync's id."""
        return self._config.sync_id

    @property
    def hub(self) -> Adapter:
        """The hub's adapter."""
        return self._adapters[Side.HUB]

    @property
    def app(self) -> Adapter:
        """The app's adapter."""
        return self._adapters[Side.APP]

    @property
    def index(self) -> IndexStore:
        """The index store."""
        return self._index

    def plan_for(self, object_type: str) -> ObjectPlan:
        """The compiled object sync of a hub type (for tools and tests)."""
        return self._plans[object_type]

    def update_config(self, config: SyncConfig) -> None:
        """Change the settings; the next pass restarts the initial sync (rule S2).

        The new config is checked first; on error nothing changes. Entries and pairs stay;
        the restarted initial sync recomputes every entry under the new mappings, filters
        and directions.
        """
        plans = self._compile(config)
        if config.sync_id != self._config.sync_id:
            raise ConfigError("sync_id", "a sync's id cannot change; build another engine")
        self._config = config
        self._plans = plans
        self._order = [plans[o.hub_type] for o in _order_objects(plans.values())]
        self._linked_from = _linked_from(plans)
        self._announce_links()
        announce_reads(self._adapters, plans.values())
        self._index.set_meta(self.sync_id, "initial_restart", "1")

    # ---- on / off / delete (S7) ---------------------------------------------------------
    @property
    def enabled(self) -> bool:
        """Whether the sync is on."""
        return self._index.get_meta(self.sync_id, "enabled") != "0"

    def enable(self) -> None:
        """Turn the sync on; changes made while it was off sync on the next pass."""
        self._index.set_meta(self.sync_id, "enabled", None)

    def disable(self) -> None:
        """Turn the sync off: passes write nothing and cursors stay where they are."""
        self._index.set_meta(self.sync_id, "enabled", "0")

    def delete(self) -> None:
        """Remove the sync's entries, cursors and settings from the index (nothing else)."""
        self._index.delete_sync(self.sync_id)

    # ---- status -------------------------------------------------------------------
    def status(self) -> dict[str, ObjectStatus]:
        """Counts per object type from the index, without reading entries (rule R4)."""
        counts = self._index.counts(self.sync_id)
        running = self.initial_sync_running
        result = {}
        for obj in self._config.objects:
            by_state = counts.get(obj.hub_type, {})
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

    @property
    def initial_sync_running(self) -> bool:
        """Whether an initial sync has started and not finished (or must restart)."""
        store = self._index
        run = store.get_meta(self.sync_id, "initial_run")
        return (
            run is None
            or store.get_meta(self.sync_id, "initial_done") != run
            or store.get_meta(self.sync_id, "initial_restart") == "1"
        )

    @property
    def started(self) -> bool:
        """Whether this sync's initial sync has ever started in this index.

        ``False`` for a new sync, and for an index that lost it (a deleted or replaced
        file, a mistyped path or ``sync_id``): ``syncengine run`` then refuses to start a
        new initial sync unless asked to (``--new``).

        .. versionadded:: 0.2
        """
        return self._index.get_meta(self.sync_id, "initial_run") is not None

    # ---- listings, export, explain (R5, R8) ------------------------------------------
    def _object_name(self, object_type: str | None, side: Side | None = None) -> str | None:
        """Accept an object sync by its hub type, or by its name on ``side`` (or either)."""
        if object_type is None or (side is not Side.APP and object_type in self._plans):
            return object_type
        obj = None
        for s in (side,) if side is not None else (Side.HUB, Side.APP):
            obj = obj or self._config.object_for(s, object_type)
        if obj is None and object_type in self._plans:
            return object_type  # the hub type names the object sync on either side
        if obj is None:
            known = ", ".join(
                name if plan.sync.app_type == name else f"{name} (in the app: {plan.sync.app_type})"
                for name, plan in sorted(self._plans.items())
            )
            raise KeyError(f"{object_type!r} is not a synced object type (known: {known})")
        return obj.hub_type

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
        states: set[RecordState] | None = None
        if state is not None:
            raw = [state] if isinstance(state, str | RecordState) else list(state)
            states = {RecordState(s) for s in raw}
        name = self._object_name(object_type)
        for entry in self._index.entries(
            self.sync_id, name, states=states, since=since, until=until
        ):
            plan = self._plans.get(entry.object_type)
            matched = plan.key_name(entry.matched_by) if plan and entry.matched_by else None
            yield EntryView.of(entry, matched)

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
        export_columns(columns)  # an unknown column fails before the file is created
        if format not in ("csv", "jsonl"):
            raise ValueError(f"unknown export format {format!r}; expected 'csv' or 'jsonl'")
        rows = self.records(object_type, state, since, until)
        if not isinstance(file_or_path, str | os.PathLike):
            return write_export(rows, file_or_path, format, columns)
        target = os.fspath(file_or_path)
        folder, name = os.path.split(target)
        if folder and not os.path.isdir(folder):
            raise FileNotFoundError(2, "no such folder", target)
        temporary = os.path.join(folder, f".{name}.{uuid.uuid4().hex[:12]}.tmp")
        try:
            with open(
                temporary, "x", encoding="utf-8", errors="backslashreplace", newline=""
            ) as out:
                count = write_export(rows, out, format, columns)
            os.replace(temporary, target)
        except BaseException:
            with contextlib.suppress(OSError):
                os.unlink(temporary)
            raise
        return count

    def _entry_of(self, side: Side, object_type: str, record_id: str) -> tuple[ObjectPlan, Entry]:
        side = Side(side)
        name = self._object_name(object_type, side)
        assert name is not None
        plan = self._plans[name]
        entry = self._index.by_record_ids(self.sync_id, name, side, [record_id]).get(record_id)
        if entry is None:
            raise KeyError(f"no index entry for {side.value} {object_type} record {record_id!r}")
        return plan, entry

    def explain(self, side: Side, object_type: str, record_id: str) -> Explanation:
        """How an entry matched, how each field is decided now and why, and its history (R8).

        Reads the current records from both apps (nothing is written) and runs the
        decision core on them.

        Raises:
            KeyError: when the index has no entry for that record.
        """
        plan, entry = self._entry_of(side, object_type, record_id)
        current: dict[Side, Record | None] = {}
        for s in Side:
            rid = entry.id_on(s)
            current[s] = (
                self._adapters[s].fetch(plan.type_on(s), [rid]).get(rid)
                if rid is not None
                else None
            )
        for s in Side:
            found = current[s]
            if found is not None and found.id != entry.id_on(s):
                current[s] = None  # merged into another record: not this entry's any more
        hub, app = current[Side.HUB], current[Side.APP]
        keys: tuple[str, ...] = ()
        if hub is None or app is None:
            alone = hub or app
            if alone is not None:
                keys = identify(plan, Side.HUB if hub else Side.APP, alone.properties)
        decision: Decision = (
            Exclude(ExcludeReason.MERGED, entry.message)
            if entry.reason is ExcludeReason.MERGED
            else decide(plan, entry, hub, app, keys=keys)
        )
        return explain_entry(plan, entry, hub, app, decision, _describe(decision))

    # ---- restore (R6) -------------------------------------------------------------
    def plan_restore(self, object_type: str, destination: Side) -> RestorePlan:
        """List the records deleted in ``destination`` that can be re-created (R6).

        Each item says where its values come from: the surviving record, or, when both
        records are gone, the index copy. Review it, then pass it to :meth:`restore`.
        """
        destination = Side(destination)
        name = self._object_name(object_type)
        assert name is not None
        plan = self._plans[name]
        source = destination.other
        items: list[RestoreItem] = []
        batch: list[Entry] = []

        def flush() -> None:
            ids = [e.id_on(source) for e in batch if e.id_on(source) is not None]
            adapter = self._adapters[source]
            found: dict[str, Record] = {}
            for chunk in _chunks([i for i in ids if i is not None], adapter.max_batch_size):
                found.update(adapter.fetch(plan.type_on(source), chunk))
            for entry in batch:
                sid = entry.id_on(source)
                record = found.get(sid) if sid is not None else None
                if record is not None and record.id != sid:
                    continue  # merged into another record: the next pass re-pairs it
                if record is not None:
                    decision = decide_restore(plan, source, record)
                    props = (
                        dict(decision.writes[0].properties) if isinstance(decision, Apply) else {}
                    )
                    items.append(RestoreItem(entry.entry_id, source, sid, props))
                else:
                    copy = entry.values_on(destination) or {}
                    props = {k: v for k, v in copy.items() if v is not None}
                    items.append(RestoreItem(entry.entry_id, source, None, props, True))
            batch.clear()

        for entry in self._index.entries(self.sync_id, name, states={RecordState.FAILED}):
            if entry.category is ErrorCategory.DELETED and entry.deleted is destination:
                batch.append(entry)
                if len(batch) >= _CHUNK:
                    flush()
        if batch:
            flush()
        return RestorePlan(self.sync_id, name, destination, tuple(items))

    @ends_its_passes
    @_passlog.recorded("restore")
    def restore(self, plan: RestorePlan) -> SyncReport:
        """Re-create the planned records in the destination and re-pair them (R6)."""
        if plan.sync_id != self.sync_id:
            raise ConfigError("plan", f"the plan belongs to sync {plan.sync_id!r}")
        if not self.enabled:
            raise SyncDisabledError(f"sync {self.sync_id!r} is disabled")
        ctx = self._begin("restore", dry_run=False)
        ctx.phase = "restore"
        object_plan = self._plans[plan.object_type]
        destination = plan.destination
        for chunk in _chunks(list(plan.items), _CHUNK):
            entries = self._index.get(self.sync_id, plan.object_type, [i.entry_id for i in chunk])
            decided: list[tuple[_Item, Decision]] = []
            for item in chunk:
                entry = entries.get(item.entry_id)
                if entry is None or entry.deleted is not destination:
                    continue  # restored meanwhile, or changed: skip
                cleared = _with_id(_evolve(entry, deleted=None), destination, None)
                source_id = entry.id_on(destination.other) or ""
                values = dict(item.properties)
                copies = (
                    (entry.hub_values or {}, values)
                    if destination is Side.APP
                    else (values, entry.app_values or {})
                )
                decision = Apply((CreateIn(destination, values),), copies[0], copies[1])
                restore_item = _Item(destination.other, None, cleared, source_id)
                decided.append((restore_item, decision))
            if decided:
                self._execute(ctx, object_plan, decided, [], [], self._clock())
        return self._end(ctx)

    # ---- passes -------------------------------------------------------------------
    def _begin(self, kind: str, dry_run: bool) -> _Pass:
        report = SyncReport(
            kind=kind, sync_id=self.sync_id, started_at=self._clock(), dry_run=dry_run
        )
        store: IndexStore = OverlayIndexStore(self._index) if dry_run else self._index
        ctx = _Pass(kind=kind, report=report, store=store, dry_run=dry_run)
        if not self._preflighting:
            _passlog.began(self, report)  # the pass history and the log (_passlog)
        if self._preflighting:
            self._preflight_store = store
        elif not dry_run:
            ctx.totals, self._preflight_totals = self._preflight_totals, {}
        self._emit(ctx, "pass_started")
        return ctx

    def _end(self, ctx: _Pass) -> SyncReport:
        for plan in self._order:
            self._recheck_freed(ctx, plan)
        finished(ctx.owner)
        ctx.report.finished_at = self._clock()
        self._emit(ctx, "pass_finished")
        return ctx.report

    def _emit(self, ctx: _Pass, kind: str, object_type: str | None = None) -> None:
        if self._on_event is not None and not self._preflighting:
            self._on_event(
                SyncEvent(
                    kind=kind,
                    sync_id=self.sync_id,
                    object_type=object_type,
                    phase=ctx.phase,
                    processed=ctx.processed,
                    report=ctx.report,
                )
            )

    def _skipped(self, kind: str, dry_run: bool, why: str) -> SyncReport:
        now = self._clock()
        return SyncReport(
            kind=kind,
            sync_id=self.sync_id,
            started_at=now,
            finished_at=now,
            dry_run=dry_run,
            skipped=why,
        )

    @ends_its_passes
    @_passlog.recorded("initial")
    def initial_sync(
        self, dry_run: bool = False, *, allow_mass_changes: bool = False
    ) -> SyncReport:
        """Run (or resume) the initial sync: index hub, index app and sync, sync hub (S3).

        A crashed initial sync resumes where it stopped, without redoing finished pages or
        creating duplicates (S8). When it completes, ``on_event`` receives
        ``initial_sync_completed`` (S4). With ``dry_run=True`` nothing is written to the
        apps or the index; ``report.planned`` lists what would be (R9).
        """
        if not self.enabled:
            return self._skipped("initial", dry_run, "the sync is disabled")
        if not dry_run and not allow_mass_changes and self._partition is None:
            # An initial sync is guarded: a restarted one (a bad mapping must not overwrite
            # everything), and a first one over an app that holds records (a lost index or
            # a mistyped sync must not overwrite the user's edits, S2).
            self._preflight(lambda: self.initial_sync(dry_run=True), "initial")
        ctx = self._begin("initial", dry_run)
        store = ctx.store
        sid = self.sync_id
        workers = None if dry_run else self._partition
        # Scale-out: workers decide one at a time whether to join the running initial sync
        # or start one, so that they all run the same one (docs/scale-out.md).
        with self._exclusive(ctx, workers, "initial_start"):
            run_text = store.get_meta(sid, "initial_run")
            in_progress = (
                run_text is not None
                and store.get_meta(sid, "initial_done") != run_text
                and store.get_meta(sid, "initial_restart") != "1"
            )
            if in_progress:
                assert run_text is not None
                run = int(run_text)
            elif workers is not None and run_text is not None and not self.initial_sync_running:
                # A worker never starts a finished initial sync again on its own: the
                # other workers may have finished it a moment ago.
                ctx.report.skipped = "the initial sync has completed"
                return self._end(ctx)
            else:
                run = int(run_text or 0) + 1
                store.write(
                    cursors=[
                        CursorUpdate(sid, side, plan.name, None, name)
                        for plan in self._order
                        for side in Side
                        for name in ("initial_phase", "initial_scan", "initial_poll")
                    ]
                )
                store.set_meta(sid, "initial_run", str(run))
                store.set_meta(sid, "initial_restart", None)
        ctx.mark = f"i{run}"
        # An initial sync is guarded (S2): updates of existing records are measured against
        # the records of the app they change (the preflight counted them). Workers of a
        # first initial sync are not: no worker sees the whole of it.
        ctx.guarded = not allow_mass_changes and (workers is None or run > 1)
        for plan in self._order:
            self._settle_pending(ctx, plan)
        for plan in self._order:
            phase = int(store.cursor(sid, Side.HUB, plan.name, "initial_phase") or 1)
            if workers is not None:
                self._run_units(ctx, plan, run, phase, workers)
                continue
            if phase <= 1 and self._app_is_empty(ctx, plan):
                # Nothing in the app could pair with a hub record: the hub index of phase 1
                # would never be read. Phase 3 matches the hub's records among themselves
                # as it goes (M3), and indexes what the app gains meanwhile (_catch_up).
                self._set_phase(ctx, plan, 3)
                phase = 3
            if phase <= 1:
                self._run_phase(ctx, plan, Side.HUB, "index_hub", index_only=True)
                self._set_phase(ctx, plan, 2)
            if phase <= 2:
                self._run_phase(ctx, plan, Side.APP, "index_app_and_sync")
                self._set_phase(ctx, plan, 3)
            if phase <= 3:
                self._run_phase(ctx, plan, Side.HUB, "sync_hub")
                self._set_phase(ctx, plan, 4)
        for plan in self._order:
            # Entries left queued, by this run or a killed one, are retried now that the
            # scans are done: the scans may have passed them (S8, S9).
            self._recheck_freed(ctx, plan)
            self._retry(ctx, plan, queued_only=True)
        with self._exclusive(ctx, workers, "initial_finish"):
            if workers is not None and store.get_meta(sid, "initial_done") == str(run):
                ctx.phase = None  # another worker completed it
                return self._end(ctx)
            # The poll cursors were taken when each side's first scan started, so changes
            # made during the initial sync are picked up by the first incremental pass. A
            # side whose scan left a new record queued without an entry keeps its poll
            # cursor (before that record): the first incremental pass reads it again.
            unrecorded = {
                (plan.name, side)
                for plan in self._order
                for side in Side
                if store.get_meta(sid, _unrecorded_meta(plan.name, side)) is not None
            }
            store.write(
                cursors=[
                    c
                    for plan in self._order
                    for side in Side
                    for c in (
                        CursorUpdate(
                            sid, side, plan.name, store.cursor(sid, side, plan.name, "initial_poll")
                        ),
                        CursorUpdate(sid, side, plan.name, None, "initial_poll"),
                    )
                    if c.name != "poll" or (plan.name, side) not in unrecorded
                ]
            )
            for plan_name, side in unrecorded:
                store.set_meta(sid, _unrecorded_meta(plan_name, side), None)
            if workers is not None:
                self._forget_units(ctx, run, workers)
            store.set_meta(sid, "initial_done", str(run))
        ctx.phase = None
        self._emit(ctx, "initial_sync_completed")
        return self._end(ctx)

    # ---- scale-out: workers sharing one initial sync (docs/scale-out.md) -----------------
    def _worker(self, ctx: _Pass) -> str:
        """The owner of this pass's coordination leases (never released with a batch's)."""
        return f"{ctx.owner}/worker"

    def _claim(self, ctx: _Pass, name: str) -> bool:
        """Take (or renew) a coordination lease for ``lease_seconds``; whether it is held."""
        return name in self._acquire(ctx, _WORKERS, [name], self._worker(ctx))

    def _acquire(self, ctx: _Pass, object_type: str, names: Sequence[str], owner: str) -> set[str]:
        """Claim names for ``owner`` for ``lease_seconds``; return those it holds (S9).

        A name held by a pass whose process is gone (killed, crashed: see
        :func:`~syncengine._owner.is_orphaned`) is taken over at once, with every other
        lease of that pass, instead of when the lease expires (S8): the new pass redoes
        its work (its cursors were not moved past it, its creates are pending). A live
        holder, or one this process cannot judge (another machine), keeps its leases.
        """
        sid = self.sync_id
        now = self._clock()
        until = now + timedelta(seconds=self._lease_seconds)
        held = ctx.store.acquire(sid, object_type, names, owner, until=until, now=now)
        missing = [name for name in names if name not in held]
        if missing:
            holders = set(ctx.store.holders(sid, object_type, missing).values())
            dead = {h.split("/", 1)[0] for h in holders if h != owner and is_orphaned(h)}
            for gone in sorted(dead):
                ctx.store.release(sid, gone)
                ctx.store.release(sid, f"{gone}/worker")
            if dead:
                held |= ctx.store.acquire(sid, object_type, missing, owner, until=until, now=now)
        return held

    @contextlib.contextmanager
    def _exclusive(self, ctx: _Pass, workers: tuple[int, int] | None, name: str) -> Iterator[None]:
        """Run the block while no other worker runs it (nothing to do without workers).

        The lock is a lease in the index: a worker that dies holding it blocks the others
        for ``lease_seconds`` at most.
        """
        if workers is None:
            yield
            return
        while not self._claim(ctx, name):
            self._sleep(_WAIT)
        try:
            yield
        finally:
            ctx.store.release(self.sync_id, self._worker(ctx), [name], _WORKERS)

    def _unit(self, run: int, plan: ObjectPlan, phase: int, part: int, parts: int) -> _Unit:
        tag = f"{plan.name}.{phase}.{part}/{parts}@{run}"
        cursor = f"initial_scan.{phase}.{part}/{parts}@{run}"
        return _Unit(plan.name, part, parts, tag, cursor, f"unit:{tag}")

    def _run_units(
        self, ctx: _Pass, plan: ObjectPlan, run: int, phase: int, workers: tuple[int, int]
    ) -> None:
        """The phases of one object sync, shared by the workers of a scaled-out sync.

        Phase 1 is one unit of work (indexing the hub writes only the index, and M3's
        "first record wins" needs one order); phases 2 and 3 are one unit per partition
        of the records. A worker works on its own unit first, then on any unit no worker
        holds (one that is not started yet, or whose worker died: its lease expired), and
        waits until every unit of a phase is done before the next phase starts: phase 2
        matches app records against the whole hub index (S3).
        """
        own, count = workers
        store = ctx.store
        sid = self.sync_id
        steps = (
            (1, Side.HUB, "index_hub", 1),
            (2, Side.APP, "index_app_and_sync", count),
            (3, Side.HUB, "sync_hub", count),
        )
        for number, side, name, parts in steps:
            if phase > number:
                continue
            units = [self._unit(run, plan, number, (own + i) % parts, parts) for i in range(parts)]
            while True:
                todo = [unit for unit in units if store.get_meta(sid, unit.done) is None]
                if not todo:
                    break
                worked = False
                for unit in todo:
                    if not self._claim(ctx, unit.lease):
                        continue  # another worker is on it
                    worked = True
                    try:
                        if store.get_meta(sid, unit.done) is None and self._run_unit(
                            ctx, plan, side, name, unit, index_only=number == 1
                        ):
                            store.set_meta(sid, unit.done, "1")
                    finally:
                        store.release(sid, self._worker(ctx), [unit.lease], _WORKERS)
                if not worked:
                    self._sleep(_WAIT)  # the barrier: others are still at this phase
            if int(store.cursor(sid, Side.HUB, plan.name, "initial_phase") or 1) <= number:
                self._set_phase(ctx, plan, number + 1)

    def _run_unit(
        self, ctx: _Pass, plan: ObjectPlan, side: Side, phase: str, unit: _Unit, *, index_only: bool
    ) -> bool:
        """One worker's unit of a phase: scan everything, process the unit's records.

        The unit's records are gathered over pages into batches as large as a page, so a
        worker makes as few adapter calls per record as a lone engine does (the calls are
        what a latency-bound pass waits for). The unit's lease is renewed before each
        batch; returns ``False`` when another worker took the unit over meanwhile (this
        one was slower than ``lease_seconds``), ``True`` when the unit is done.
        """
        ctx.phase = phase
        ctx.processed = 0
        ctx.prefilter = True
        self._emit(ctx, "phase_started", plan.name)
        sid = self.sync_id
        store = ctx.store
        remember_poll = store.cursor(sid, side, plan.name, "initial_poll") is None
        last: str | None = None
        size = 1
        records: list[Record] = []
        deleted: list[str] = []
        for page in self._scan(side, plan, store.cursor(sid, side, plan.name, unit.cursor)):
            size = max(size, len(page.records) + len(page.deleted))
            records.extend(r for r in page.records if _in_unit(side, r.id, unit))
            deleted.extend(i for i in page.deleted if _in_unit(side, i, unit))
            last = page.cursor or last
            ctx.processed += len(page.records)
            if len(records) + len(deleted) >= size:
                if not self._unit_batch(ctx, plan, side, unit, records, deleted, last, index_only):
                    return False
                records, deleted = [], []
            self._emit(ctx, "phase_progress", plan.name)
        if not self._unit_batch(ctx, plan, side, unit, records, deleted, last, index_only):
            return False
        # The first worker to finish a scan of this side keeps its cursor for polling.
        if (
            remember_poll
            and last is not None
            and store.cursor(sid, side, plan.name, "initial_poll") is None
        ):
            store.write(cursors=[CursorUpdate(sid, side, plan.name, last, "initial_poll")])
        self._emit(ctx, "phase_finished", plan.name)
        return True

    def _unit_batch(
        self,
        ctx: _Pass,
        plan: ObjectPlan,
        side: Side,
        unit: _Unit,
        records: Sequence[Record],
        deleted: Sequence[str],
        cursor: str | None,
        index_only: bool,
    ) -> bool:
        if not self._claim(ctx, unit.lease):
            return False
        cursors = (
            []
            if cursor is None
            else [CursorUpdate(self.sync_id, side, plan.name, cursor, unit.cursor)]
        )
        if index_only:
            self._index_side(ctx, plan, side, records, cursors)
        else:
            self._process(ctx, plan, side, records, deleted, cursors, skip_marked=True)
        return True

    def _forget_units(self, ctx: _Pass, run: int, workers: tuple[int, int]) -> None:
        """Remove the finished initial sync's unit cursors and markers from the index."""
        units = [
            (side, self._unit(run, plan, number, part, parts))
            for plan in self._order
            for number, side, parts in (
                (1, Side.HUB, 1),
                (2, Side.APP, workers[1]),
                (3, Side.HUB, workers[1]),
            )
            for part in range(parts)
        ]
        ctx.store.write(
            cursors=[
                CursorUpdate(self.sync_id, side, unit.plan, None, unit.cursor)
                for side, unit in units
            ]
        )
        for _, unit in units:
            ctx.store.set_meta(self.sync_id, unit.done, None)

    def _set_phase(self, ctx: _Pass, plan: ObjectPlan, phase: int) -> None:
        ctx.store.write(
            cursors=[
                CursorUpdate(self.sync_id, Side.HUB, plan.name, str(phase), "initial_phase"),
                CursorUpdate(self.sync_id, Side.HUB, plan.name, None, "initial_scan"),
                CursorUpdate(self.sync_id, Side.APP, plan.name, None, "initial_scan"),
            ]
        )

    def _run_phase(
        self, ctx: _Pass, plan: ObjectPlan, side: Side, phase: str, *, index_only: bool = False
    ) -> None:
        """One scan of the initial sync, resumable page by page (S3, S8)."""
        ctx.phase = phase
        ctx.processed = 0
        ctx.prefilter = True
        self._emit(ctx, "phase_started", plan.name)
        sid = self.sync_id
        since = ctx.store.cursor(sid, side, plan.name, "initial_scan")
        remember_poll = ctx.store.cursor(sid, side, plan.name, "initial_poll") is None
        last: str | None = None
        for page in self._scan(side, plan, since):
            self._apply_merges(ctx, plan, side, page.merged, page.records)
            cursors = []
            if page.cursor is not None:
                last = page.cursor
                cursors.append(CursorUpdate(sid, side, plan.name, page.cursor, "initial_scan"))
            if index_only:
                self._index_side(ctx, plan, side, page.records, cursors)
            else:
                # A phase resumed from the last page's cursor reads only what changed since:
                # deletions included (S8, R6).
                self._process(
                    ctx, plan, side, page.records, page.deleted, cursors, skip_marked=True
                )
            ctx.processed += len(page.records)
            self._emit(ctx, "phase_progress", plan.name)
        if remember_poll and last is not None:
            ctx.store.write(cursors=[CursorUpdate(sid, side, plan.name, last, "initial_poll")])
        self._emit(ctx, "phase_finished", plan.name)

    def _app_is_empty(self, ctx: _Pass, plan: ObjectPlan) -> bool:
        """Whether a full scan of the app finds no record of the type (S3, phase 2 early).

        Run before phase 1, when phase 2 has not begun. An empty scan is phase 2 done:
        its cursor becomes the app's poll cursor, as phase 2's would, and the phase is
        reported (started and finished, nothing processed). A scan that finds a record
        stops at its first page, and the phases run in their order.
        """
        sid = self.sync_id
        store = ctx.store
        last: str | None = None
        for page in self._scan(Side.APP, plan, None):
            if page.records or page.deleted:
                return False
            if page.cursor is not None:
                last = page.cursor
        ctx.phase = "index_app_and_sync"
        ctx.processed = 0
        self._emit(ctx, "phase_started", plan.name)
        if last is not None and store.cursor(sid, Side.APP, plan.name, "initial_poll") is None:
            store.write(cursors=[CursorUpdate(sid, Side.APP, plan.name, last, "initial_poll")])
        self._emit(ctx, "phase_finished", plan.name)
        return True

    def _scan(self, side: Side, plan: ObjectPlan, since: str | None) -> Iterator[Any]:
        try:
            yield from self._adapters[side].scan(plan.type_on(side), since)
        except AdapterError:
            raise
        except Exception as exc:
            raise _as_adapter_error(exc) from exc

    @ends_its_passes
    @_passlog.recorded("incremental")
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
        if not self.enabled:
            return self._skipped("incremental", dry_run, "the sync is disabled")
        if self.initial_sync_running:
            return self.initial_sync(dry_run, allow_mass_changes=allow_mass_changes)
        if not dry_run and not allow_mass_changes:
            self._preflight(lambda: self.incremental_sync(dry_run=True), "incremental")
        ctx = self._begin("incremental", dry_run)
        ctx.guarded = not allow_mass_changes
        sid = self.sync_id
        for plan in self._order:
            self._settle_pending(ctx, plan)
        for plan in self._order:
            # Index the app's new records first, so a record added to both apps since the
            # last pass pairs instead of being created twice (M1, as S3's phase 1 does).
            ctx.phase = "index_app"
            for page in self._scan(Side.APP, plan, ctx.store.cursor(sid, Side.APP, plan.name)):
                self._apply_merges(ctx, plan, Side.APP, page.merged, page.records)
                self._index_side(ctx, plan, Side.APP, page.records, ())
            for side in Side:
                ctx.phase = f"poll_{side.value}"
                ctx.processed = 0
                since = ctx.store.cursor(sid, side, plan.name)
                for page in self._scan(side, plan, since):
                    self._apply_merges(ctx, plan, side, page.merged, page.records)
                    cursors = (
                        [CursorUpdate(sid, side, plan.name, page.cursor)]
                        if page.cursor is not None
                        else []
                    )
                    self._process(ctx, plan, side, page.records, page.deleted, cursors)
                    ctx.processed += len(page.records) + len(page.deleted)
                    self._emit(ctx, "phase_progress", plan.name)
            self._recheck_freed(ctx, plan)
            self._retry(ctx, plan)
        self._drain(ctx)  # webhook events kept since the last pass (docs/how-to/hubspot.md)
        return self._end(ctx)

    @ends_its_passes
    @_passlog.recorded("events", frequent=True)
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
        side = Side(side)
        if not self.enabled:
            raise SyncDisabledError(f"sync {self.sync_id!r} is disabled; events not processed")
        if self.initial_sync_running:
            # The initial sync reads every record and its poll cursors cover changes made
            # meanwhile; processing an event now would bypass its matching (S3).
            return self._skipped(
                "events",
                False,
                "the initial sync is running; it and the next incremental "
                "pass pick these changes up",
            )
        ctx = self._begin("events", dry_run=False)
        ctx.guarded = not allow_mass_changes
        self._handle(ctx, side, events)
        return self._end(ctx)

    @ends_its_passes
    @_passlog.recorded("events", frequent=True)
    def drain_inbox(self, *, allow_mass_changes: bool = False) -> SyncReport:
        """Process the webhook events kept in the index's inbox, without scanning (S5).

        Incremental passes drain the inbox too; call this between them (a worker loop,
        every few seconds) for changes to sync within seconds of the webhook. Events are
        removed only once processed; a crash or an unavailable app leaves them for the
        next drain (at least once). While the sync is off, or its initial sync runs,
        nothing is drained and the events stay.

        .. versionadded:: 0.2
        """
        if not self.enabled:
            return self._skipped("events", False, "the sync is disabled")
        if self.initial_sync_running:
            return self._skipped("events", False, "the initial sync is running")
        ctx = self._begin("events", dry_run=False)
        ctx.guarded = not allow_mass_changes
        self._drain(ctx)
        return self._end(ctx)

    def _drain(self, ctx: _Pass) -> None:
        """Process the inbox's events in this pass; remove them once processed."""
        _inbox.drain(
            ctx.store,
            self.sync_id,
            lambda side, events: self._handle(ctx, side, events),
            remove=not ctx.dry_run,
            errors=ctx.report.errors,
        )

    def _handle(self, ctx: _Pass, side: Side, events: Sequence[ChangeEvent]) -> None:
        ctx.phase = "events"
        # An adapter may learn from the events it is sent (HubSpot: its deletion webhooks
        # arrive, so its "auto" archived sweep slows down).
        note = getattr(self._adapters[side], "note_events", None)
        if callable(note) and not ctx.dry_run:
            note(events)
        by_type: dict[str, dict[str, None]] = {}
        for event in events:
            by_type.setdefault(event.object_type, {})[event.record_id] = None
        for type_name, ids in by_type.items():
            obj = self._config.object_for(side, type_name)
            if obj is None:
                ctx.report.errors.append(f"{side.value} type {type_name!r} is not synced")
                continue
            plan = self._plans[obj.hub_type]
            # Creates a crash or a lost reply left in flight are settled first, as every
            # pass does: an event for their record must not create it again (S8).
            self._settle_pending(ctx, plan)
            # The other app's records added since its last poll are indexed first (as an
            # incremental pass does), so an event for a record added to both apps pairs
            # it instead of creating it a second time (M1). The cursor is not moved: the
            # next poll still processes those records.
            ctx.phase = f"index_{side.other.value}"
            since = ctx.store.cursor(self.sync_id, side.other, plan.name)
            for page in self._scan(side.other, plan, since) if since is not None else ():
                self._index_side(ctx, plan, side.other, page.records, ())
            ctx.phase = "events"
            adapter = self._adapters[side]
            for chunk in _chunks(list(ids), adapter.max_batch_size):
                try:
                    fetched = adapter.fetch(plan.type_on(side), chunk)
                except Exception as exc:
                    ctx.report.errors.append(str(_as_adapter_error(exc)))
                    raise _as_adapter_error(exc) from exc
                # An id merged into another record reads as that record: re-pair first.
                self._apply_merges(ctx, plan, side, redirects(chunk, fetched), fetched.values())
                records = list({fetched[i].id: fetched[i] for i in chunk if i in fetched}.values())
                deleted = [i for i in chunk if i not in fetched]
                self._process(ctx, plan, side, records, deleted, ())
                ctx.processed += len(chunk)

    @ends_its_passes
    @_passlog.recorded("reconcile")
    def reconcile(self, dry_run: bool = False, *, allow_mass_changes: bool = False) -> SyncReport:
        """Compare both apps in full against the index and repair what differs (S6).

        Recovers lost webhooks, dropped requests and deletions that no cursor reported.
        Costs a full scan of both apps.
        """
        if not self.enabled:
            return self._skipped("reconcile", dry_run, "the sync is disabled")
        if self.initial_sync_running:
            return self.initial_sync(dry_run, allow_mass_changes=allow_mass_changes)
        if not dry_run and not allow_mass_changes:
            self._preflight(lambda: self.reconcile(dry_run=True), "reconcile")
        ctx = self._begin("reconcile", dry_run)
        ctx.guarded = not allow_mass_changes
        sid = self.sync_id
        run = int(ctx.store.get_meta(sid, "reconcile_run") or 0) + 1
        if not dry_run:
            ctx.store.set_meta(sid, "reconcile_run", str(run))
        ctx.mark = f"r{run}"
        for plan in self._order:
            self._settle_pending(ctx, plan)
        for plan in self._order:
            ctx.phase = "index_app"  # as in incremental_sync: new app records pair (M1)
            for page in self._scan(Side.APP, plan, None):
                self._apply_merges(ctx, plan, Side.APP, page.merged, page.records)
                self._index_side(ctx, plan, Side.APP, page.records, ())
            for side in Side:
                ctx.phase = f"reconcile_{side.value}"
                ctx.processed = 0
                for page in self._scan(side, plan, None):
                    self._apply_merges(ctx, plan, side, page.merged, page.records)
                    # A pair processed from the hub's scan was compared in full (both
                    # records read): its app record is skipped, so it is decided, written
                    # and counted once.
                    self._process(ctx, plan, side, page.records, (), (), skip_marked=True)
                    ctx.processed += len(page.records)
                    self._emit(ctx, "phase_progress", plan.name)
            # Entries neither scan saw: their records are gone on a side.
            ctx.phase = "reconcile_sweep"
            unseen = (
                e
                for e in ctx.store.entries(sid, plan.name)
                if e.mark != ctx.mark and e.pending is None
            )
            self._recheck(ctx, plan, unseen, both=True)
        return self._end(ctx)

    def _apply_merges(
        self,
        ctx: _Pass,
        plan: ObjectPlan,
        side: Side,
        moves: Mapping[str, str],
        records: Iterable[Record] = (),
    ) -> None:
        """Re-pair the entries of records that ``side`` merged into others (_merges)."""
        moves = {
            str(o): str(n)
            for o, n in (moves or {}).items()
            if o != n and _bad_id(o) is None and _bad_id(n) is None
        }
        if not moves:
            return
        prefix = f"{side.value}:"
        held = self._lease(ctx, plan, [f"{prefix}{i}" for i in {*moves, *moves.values()}])
        try:
            # A record another pass works on is left for later: its old id still reads
            # as the merged record, so the move is found again.
            moves = {o: n for o, n in moves.items() if {prefix + o, prefix + n} <= held}
            if not moves:
                return
            by_id = ctx.store.by_record_ids(
                self.sync_id, plan.name, side, list({*moves, *moves.values()})
            )
            now = self._clock()
            changes = repair(
                plan,
                side,
                moves,
                by_id,
                {r.id: r for r in records},
                now,
                lambda e, action, detail: _evolve(
                    e, history=self._append(e.history, now, action, detail)
                ),
            )
            if changes.write or changes.forget:
                ctx.store.write(
                    changes.write, delete=[(self.sync_id, plan.name, i) for i in changes.forget]
                )
        finally:
            self._unlease(ctx, plan)

    # ---- retries and pending creates -------------------------------------------------
    def _retry(self, ctx: _Pass, plan: ObjectPlan, *, queued_only: bool = False) -> None:
        """Retry transient failures and queued entries even if nothing changed (R7, S9).

        With ``queued_only``, only queued entries (the end of an initial sync, whose scans
        may have passed them: a queued entry is never left for good).
        """
        ctx.phase = "retry"
        states = (RecordState.QUEUED,) if queued_only else _RETRY_STATES
        due = (
            e
            for e in ctx.store.entries(self.sync_id, plan.name, states=states, pending=False)
            if e.entry_id not in ctx.queued
            and (
                e.state is RecordState.QUEUED
                or (e.category is not None and e.category.is_transient)
            )
        )
        self._recheck(ctx, plan, due)

    def _recheck(
        self, ctx: _Pass, plan: ObjectPlan, entries: Iterable[Entry], *, both: bool = False
    ) -> None:
        """Fetch the records of some entries and process them as if a scan returned them.

        A pair is read from its hub record (processing it fetches the app's), unless the
        hub record is known to be gone; with ``both``, each side's record is read, so one
        pass learns that both are gone (the reconcile sweep, S6, R6).
        """
        batch: list[Entry] = []
        for entry in entries:
            batch.append(entry)
            if len(batch) >= _CHUNK:
                self._recheck_batch(ctx, plan, batch, both)
                batch = []
        if batch:
            self._recheck_batch(ctx, plan, batch, both)

    def _recheck_batch(
        self, ctx: _Pass, plan: ObjectPlan, entries: Sequence[Entry], both: bool = False
    ) -> None:
        # A pair decided from its hub record was compared in full (deciding it reads the
        # app record too): it is not decided again from its app record, so it is written
        # and counted once. A gone hub record is no such decision: the app's is read.
        decided: set[str] = set()
        for side in Side:
            ids = [
                e.id_on(side)
                for e in entries
                if side in _read_sides(e, both) and e.id_on(side.other) not in decided
            ]
            if not ids:
                continue
            adapter = self._adapters[side]
            records: dict[str, Record] = {}
            deleted: list[str] = []
            for chunk in _chunks([i for i in ids if i is not None], adapter.max_batch_size):
                try:
                    fetched = adapter.fetch(plan.type_on(side), chunk)
                except Exception as exc:
                    ctx.report.errors.append(str(_as_adapter_error(exc)))
                    continue
                self._apply_merges(ctx, plan, side, redirects(chunk, fetched), fetched.values())
                records.update((fetched[i].id, fetched[i]) for i in chunk if i in fetched)
                deleted.extend(i for i in chunk if i not in fetched)
            self._process(ctx, plan, side, list(records.values()), deleted, ())
            if side is Side.HUB:
                decided.update(records)

    def _settle_pending(self, ctx: _Pass, plan: ObjectPlan) -> None:
        """Finish creates a crash or a lost reply left in flight (S8).

        A create in flight either happened (its reply was lost) or not (a crash came
        first). The side's records changed since its last scan are read first: a pending
        entry with one record sharing its identifiers (or one of several that holds what
        was sent) pairs with it (M1), whether the create made it or someone added it
        meanwhile, so no second record is made next to it. The other creates are sent
        again with their idempotency keys: an app that made the record answers with it,
        one that did not makes it now. Adapters without idempotency keys are settled by
        identifier only: a create none of whose identifiers the side's changed records
        hold made nothing, and its entry is plain again (its record is decided anew).
        """
        pending = list(
            itertools.islice(ctx.store.entries(self.sync_id, plan.name, pending=True), 10_000)
        )
        settled: list[Entry] = []
        for side in Side:
            mine = self._unclaimed(ctx, plan, side, [e for e in pending if e.pending is side])
            if not mine:
                self._unlease(ctx, plan)
                continue
            pair: dict[str, Record] = {}  # the records that pair with a pending entry
            try:
                looked_up = self._settle_by_lookup(ctx, plan, side, mine)
                if looked_up is not None:  # the app said which creates happened
                    settled.extend(looked_up)
                    continue
                adapter = self._adapters[side]
                keyed = adapter.supports_idempotency_keys
                taken: set[str] = set()  # entries whose identifier a pair's record holds
                scanned = self._namesakes(ctx, plan, side, mine, taken)
                found = scanned or {}
                resend: list[Entry] = []
                unmade: list[Entry] = []
                for entry in mine:
                    chosen = _made_by(side, entry, found.get(entry.entry_id, ()), keyed)
                    if chosen is not None:
                        pair[chosen.id] = chosen
                    elif keyed and entry.entry_id in taken and not found.get(entry.entry_id):
                        # Re-sent, a create that never happened would be made next to a
                        # pair that took its identifier meanwhile (M3): decided anew.
                        unmade.append(entry)
                    elif keyed and entry.pending_key is not None:
                        resend.append(entry)
                    elif not keyed and scanned is not None:
                        unmade.append(entry)
                if unmade:
                    # No record of an app without idempotency keys shares their identifiers:
                    # their creates made nothing.
                    self._made_nothing(ctx, side, unmade)
                returned: set[str] = set()
                if resend:
                    made = self._resend(ctx, plan, side, resend)
                    settled.extend(made)
                    returned = {rid for e in made if (rid := e.id_on(side)) is not None}
                if returned.intersection(pair):
                    # A record a re-sent create returned is that create's: the entries that
                    # would have paired with it choose again, or send their create again.
                    pair = {}
                    again: list[Entry] = []
                    sent = {e.entry_id for e in resend}
                    for entry in mine:
                        if entry.entry_id in sent:
                            continue
                        left = [r for r in found.get(entry.entry_id, ()) if r.id not in returned]
                        chosen = _made_by(side, entry, left, keyed)
                        if chosen is not None:
                            pair[chosen.id] = chosen
                        elif entry.entry_id in taken and not left:
                            self._made_nothing(ctx, side, [entry])  # as above (M3)
                        elif keyed and entry.pending_key is not None:
                            again.append(entry)
                    settled.extend(self._resend(ctx, plan, side, again))
            finally:
                self._unlease(ctx, plan)
            if pair:
                self._process(ctx, plan, side, list(pair.values()), (), ())
        if settled:
            # A settled record may have changed since its create was sent (and been seen
            # then as a new record): compare both records with the copy now.
            self._recheck(ctx, plan, settled, both=True)

    def _made_nothing(self, ctx: _Pass, side: Side, entries: Sequence[Entry]) -> None:
        """Creates in flight that made nothing: their entries are plain again.

        A record that still needs its create gets a new one, one that is deleted or now a
        duplicate (M3) is forgotten or excluded like any other (S8, R6).
        """
        now = self._clock()
        ctx.store.write(
            [
                _evolve(
                    e,
                    pending=None,
                    pending_key=None,
                    updated_at=now,
                    history=self._history(e, now, "settled", f"nothing made on {side.value}"),
                )
                for e in entries
            ]
        )

    def _settle_by_lookup(
        self, ctx: _Pass, plan: ObjectPlan, side: Side, pending: Sequence[Entry]
    ) -> list[Entry] | None:
        """Settle creates in flight by asking the app which of them happened (S8).

        The settled entries; ``None`` when the adapter cannot tell (see
        :mod:`syncengine._settle`). A create that made a record is created, with that
        record, unless another pair holds it (that pair's record, M3); the others made
        nothing, for sure: their entries are plain again, so no create is re-sent next to
        namesakes added meanwhile. A failed lookup leaves them in flight, and the side's
        new records wait for them (``ctx.unsettled``).
        """
        try:
            made = created_records(self._adapters[side], plan.type_on(side), side, pending)
        except Exception as exc:  # any adapter failure defers the settlement
            ctx.unsettled.setdefault((plan.name, side), _as_adapter_error(exc))
            return []
        if made is None:
            return None
        held = ctx.store.by_record_ids(self.sync_id, plan.name, side, list(set(made.values())))
        now = self._clock()
        created: list[Entry] = []
        unmade: list[Entry] = []
        taken: set[str] = set()
        for entry in pending:
            record_id = made.get(entry.entry_id)
            holder = held.get(record_id) if record_id is not None else None
            if (
                record_id is None
                or record_id in taken
                or _bad_id(record_id)
                or (
                    holder is not None
                    and holder.entry_id != entry.entry_id
                    and holder.id_on(side.other) is not None
                )
            ):
                unmade.append(entry)
                continue
            taken.add(record_id)
            created.append(self._after_create(entry, side, WriteResult.ok(record_id), now, ctx))
        if unmade:
            self._made_nothing(ctx, side, unmade)
        if created:
            absorbed = self._absorb(ctx, plan, side, created)
            self._uncount(ctx, plan.name, absorbed)
            ctx.store.write(created, delete=absorbed)
        return created

    def _unclaimed(
        self, ctx: _Pass, plan: ObjectPlan, side: Side, pending: Sequence[Entry]
    ) -> list[Entry]:
        """The pending entries no other pass is working on, leased for this one (S9).

        A create is in flight while the pass that sent it holds its record's lease; only
        creates whose pass is gone (a crash, or a lost reply in a finished pass) are
        settled here. The others are that pass's to finish.
        """
        if not pending:
            return []
        names = {
            f"{side.other.value}:{source}": e
            for e in pending
            if (source := e.id_on(side.other)) is not None
        }
        held = self._lease(ctx, plan, list(names))
        leased = [
            e
            for e in pending
            if (s := e.id_on(side.other)) is None or f"{side.other.value}:{s}" in held
        ]
        if not leased:
            return []
        # The pass that sent a create may have finished it between the read of the pending
        # entries and this lease (it released the lease after storing the outcome): only
        # what is still in flight now, as stored now, is this pass's to settle. A stale
        # copy would settle a finished create again and count it twice (R4).
        fresh = ctx.store.get(self.sync_id, plan.name, [e.entry_id for e in leased])
        return [f for e in leased if (f := fresh.get(e.entry_id)) is not None and f.pending is side]

    def _resend(
        self, ctx: _Pass, plan: ObjectPlan, side: Side, entries: Sequence[Entry]
    ) -> list[Entry]:
        """Send pending creates again with their idempotency keys; the settled entries."""
        settled: list[Entry] = []
        for chunk in _chunks(entries, self._adapters[side].max_batch_size):
            items = [
                NewRecord(
                    {k: v for k, v in (e.values_on(side) or {}).items() if v is not None},
                    e.pending_key or "",
                )
                for e in chunk
            ]
            results = self._call_create(ctx, side, plan, items)
            now = self._clock()
            updated = []
            for entry, result in zip(chunk, results, strict=True):
                updated.append(self._after_create(entry, side, result, now, ctx))
                if isinstance(result, AdapterError):
                    ctx.unsettled.setdefault((plan.name, side), result)
            absorbed = self._absorb(ctx, plan, side, updated)
            self._uncount(ctx, plan.name, absorbed)
            ctx.store.write(updated, delete=absorbed)
            settled.extend(
                e for e in updated if e.pending is None and e.state is RecordState.SYNCED
            )
        return settled

    def _namesakes(
        self,
        ctx: _Pass,
        plan: ObjectPlan,
        side: Side,
        pending: Sequence[Entry],
        taken: set[str] | None = None,
    ) -> dict[str, list[Record]] | None:
        """``side``'s records changed since its last scan that share identifiers with each
        pending entry, by entry id (in scan order); ``None`` when the side was never
        scanned (its first scan pairs them).

        A record another entry pairs with is left out: it is that pair's record, not one
        this create made, even when it took the create's identifier meanwhile (S8, M3).
        The ids of the entries such a record shares identifiers with are added to
        ``taken``.
        """
        sid = self.sync_id
        since = None
        if self.initial_sync_running:
            since = ctx.store.cursor(sid, side, plan.name, "initial_poll")
        since = since or ctx.store.cursor(sid, side, plan.name)
        if since is None:
            return None  # the side was never scanned: its scan pairs them
        by_key: dict[str, list[str]] = {}
        for entry in pending:
            for key in entry.keys:
                if not key.startswith("~"):
                    by_key.setdefault(key, []).append(entry.entry_id)
        found: dict[str, dict[str, Record]] = {}
        for page in self._scan(side, plan, since):
            for record in page.records:
                if _bad_id(record.id):
                    continue  # no entry can hold it (X1): never the record a create made
                for key in identify(plan, side, record.properties):
                    for entry_id in by_key.get(key, ()):
                        found.setdefault(entry_id, {})[record.id] = record
        ids = {record_id for records in found.values() for record_id in records}
        known = ctx.store.by_record_ids(sid, plan.name, side, list(ids)) if ids else {}
        other = side.other
        if taken is not None:
            taken.update(
                entry_id
                for entry_id, records in found.items()
                for record_id in records
                if (held := known.get(record_id)) is not None
                and held.entry_id != entry_id
                and held.id_on(other) is not None
            )
        return {
            entry_id: [
                record
                for record_id, record in records.items()
                if (held := known.get(record_id)) is None
                or held.entry_id == entry_id
                or held.id_on(other) is None
            ]
            for entry_id, records in found.items()
        }

    def _absorb(
        self, ctx: _Pass, plan: ObjectPlan, side: Side, made: Sequence[Entry]
    ) -> list[tuple[str, str, str]]:
        """The other entries of records a re-sent create returned, to delete (S8).

        A create sent again with the key of one whose reply was lost answers with the
        record made then, which a scan may have indexed meanwhile as a new, unpaired
        record; that entry is merged into the pair (its identifiers are the pair's).
        """
        ids = {rid: e.entry_id for e in made if (rid := e.id_on(side)) is not None}
        if not ids:
            return []
        known = ctx.store.by_record_ids(self.sync_id, plan.name, side, list(ids))
        return [
            (self.sync_id, plan.name, e.entry_id)
            for record_id, e in known.items()
            if e.entry_id != ids[record_id] and e.id_on(side.other) is None and e.pending is None
        ]

    def _after_create(
        self,
        entry: Entry,
        side: Side,
        result: WriteResult | AdapterError,
        now: datetime,
        ctx: _Pass,
    ) -> Entry:
        if isinstance(result, WriteResult) and result.succeeded and result.record_id:
            self._count(ctx, entry.object_type, entry, ((side, "created"),))
            return _evolve(
                _with_id(entry, side, result.record_id),
                state=RecordState.SYNCED,
                pending=None,
                pending_key=None,
                category=None,
                reason=None,
                message="",
                attempts=0,
                updated_at=now,
                history=self._history(entry, now, "created", f"on {side.value} (settled)"),
            )
        self._count(ctx, entry.object_type, entry, ((side, "failed"),))
        _passlog.record_failed(
            self.sync_id, entry, result.category, result.message, quiet=self._preflighting
        )
        if isinstance(result, AdapterError):
            return _evolve(
                entry,
                state=RecordState.FAILED,
                category=result.category,
                message=result.message,
                attempts=entry.attempts + 1,
                updated_at=now,
            )
        return _evolve(
            entry,
            state=RecordState.FAILED,
            pending=None,
            pending_key=None,
            category=result.category,
            message=result.message,
            attempts=entry.attempts + 1,
            updated_at=now,
            history=self._history(entry, now, "failed", result.message),
        )

    # ---- phase 1: index the hub (S3.1) --------------------------------------------------
    def _index_side(
        self,
        ctx: _Pass,
        plan: ObjectPlan,
        side: Side,
        records: Sequence[Record],
        cursors: Sequence[CursorUpdate],
        *,
        keyed_only: bool = False,
    ) -> None:
        """Store each record's id and identifiers without syncing it (S3 phase 1).

        With ``keyed_only``, records without identifiers are left out: they match
        nothing, and their own processing (or another worker's) indexes them.

        The initial sync indexes the hub this way; incremental passes and reconcile index
        the app's new records this way before they process the hub, so that a record
        added to both apps between two passes is paired, not created twice (M1). Later
        records with an identifier already held on this side are duplicates (M3).
        """
        sid = self.sync_id
        store = ctx.store
        now = self._clock()
        if any(_bad_id(r.id) for r in records):
            # Left out: _process fails them, named in the report (X1).
            records = [r for r in records if not _bad_id(r.id)]
        keyed = [(r, identify(plan, side, r.properties)) for r in records]
        if keyed_only:
            keyed = [(r, keys) for r, keys in keyed if keys]
        # Most records have an entry with the same keys, which is left alone: the entries
        # are read (built) only for records whose keys differ from their entry's.
        hot = store.record_keys(sid, plan.name, side, [r.id for r in records])
        done: set[str] = set()  # records whose entry stays as it is
        stale: set[str] = set()  # records whose entry's keys change
        for record, keys in keyed:
            seen = hot.get(record.id)
            if seen is None:
                continue
            if seen[1].issuperset(keys) if seen[0] is not None else seen[1] == frozenset(keys):
                done.add(record.id)
            else:
                stale.add(record.id)
        done -= stale  # a record listed twice, with different keys
        known = store.by_record_ids(sid, plan.name, side, stale) if stale else {}
        wanted = {
            k
            for r, keys in keyed
            if r.id not in done
            and ((e := known.get(r.id)) is None or (not is_owner(e) and e.keys != frozenset(keys)))
            for k in keys
        }
        candidates = store.by_keys(sid, plan.name, wanted) if wanted else {}
        local: dict[str, list[Entry]] = {}
        out: list[Entry] = []
        for record, keys in keyed:
            if record.id in done:
                continue  # its entry holds the record's keys already: nothing to index
            entry = known.get(record.id)
            if entry is not None and is_owner(entry):
                # Its keys are its records'. New ones are added now, so a new record with
                # them is its duplicate; processing it drops the ones its records no
                # longer hold, and frees them for their duplicates (M3, M7).
                if not entry.keys.issuperset(keys):
                    out.append(_evolve(entry, keys=entry.keys.union(keys), updated_at=now))
                continue
            pool = {k: [*candidates.get(k, ()), *local.get(k, ())] for k in keys}
            if entry is not None:
                if frozenset(keys) == entry.keys:
                    continue
                # A duplicate with another identifier: still one, or the first with it.
                if choose_match(side, record.id, keys, pool).duplicate_of is not None:
                    out.append(_evolve(entry, keys=frozenset(keys), updated_at=now))
                    continue
                first = _evolve(
                    entry,
                    keys=frozenset(keys),
                    state=RecordState.INITIAL,
                    reason=None,
                    message="",
                    updated_at=now,
                )
                for k in keys:
                    local.setdefault(k, []).append(first)
                out.append(first)
                continue
            match = choose_match(side, record.id, keys, pool)
            if match.entry is not None and (
                match.entry.pending is side or match.entry.id_on(side) == record.id
            ):
                # Perhaps the record a create in flight made (or one about to be recorded
                # by another worker): its settlement or its processing pairs it (S8). Or
                # another worker recorded it between this batch's two reads (S9).
                continue
            hub = side is Side.HUB
            new = Entry(
                sync_id=sid,
                object_type=plan.name,
                entry_id=f"{'h' if hub else 'a'}:{record.id}",
                updated_at=now,
                hub_id=record.id if hub else None,
                app_id=None if hub else record.id,
                keys=frozenset(keys),
                history=(HistoryItem(now, "indexed", side.value),),
            )
            if match.duplicate_of is not None:
                # Counted when the pass processes the record (indexing is not an outcome).
                new = self._excluded(
                    new, ExcludeReason.DUPLICATE, self._dup_message(plan, side, match), now
                )
            else:
                for k in keys:
                    local.setdefault(k, []).append(new)
            out.append(new)
        if out or cursors:
            store.write(out, cursors=cursors)

    # ---- the one step every pass is built from -----------------------------------------
    def _process(
        self,
        ctx: _Pass,
        plan: ObjectPlan,
        side: Side,
        records: Sequence[Record],
        deleted: Sequence[str],
        cursors: Sequence[CursorUpdate],
        *,
        skip_marked: bool = False,
    ) -> None:
        """Match, decide, write and record one batch of ``side``'s records (see module doc)."""
        store = ctx.store
        # Last occurrence of an id wins within a batch; scans may repeat records.
        unique: dict[str, Record] = {}
        for record in records:
            unique[record.id] = record
        gone = [i for i in dict.fromkeys(deleted) if i not in unique]
        quiet = self._preflighting  # the guard's planning dry pass logs no batches
        _passlog.batch(ctx.report, plan.name, side, ctx.phase, len(unique), len(gone), quiet=quiet)
        bad = [i for i in (*unique, *gone) if _bad_id(i)]
        if bad:
            # An id that is no valid text cannot be stored or written back (X1): that
            # record fails alone, named in the report; the rest of the batch goes on.
            counts = ctx.report.side(plan.name, side)
            for record_id in bad:
                counts.failed += 1
                ctx.report.errors.append(
                    f"{plan.name}: {side.value} record {record_id!r} failed: {_bad_id(record_id)}"
                )
                unique.pop(record_id, None)
            gone = [i for i in gone if i not in bad]
        if skip_marked and ctx.mark is not None and ctx.prefilter and unique:
            # Records this run already processed are skipped without a lease: their mark
            # cannot change back within the run. Reading first pays while most records
            # are marked (the hub rescan after a matched app, S3.3); otherwise leasing
            # first saves a read, so the share of the last batch decides for the next.
            # Only the marks are read: no entry is built for a record that is done.
            marked = store.marked(self.sync_id, plan.name, side, list(unique), ctx.mark)
            ctx.prefilter = 2 * len(marked) >= len(unique)
            for record_id in marked:
                del unique[record_id]
        cursors = self._held_back(ctx, plan, side, cursors)
        if not unique and not gone:
            if cursors:
                store.write((), cursors=cursors)
            return
        # S9: records another pass holds wait until it lets go (bounded by queue_wait),
        # then stay queued for a later pass.
        waiting = self._attempt(ctx, plan, side, unique, gone, cursors, skip_marked, final=False)
        waited, delay = 0.0, 0.01
        while waiting:
            final = waited >= self._queue_wait
            if not final:
                self._sleep(delay)
                waited += delay
                delay = min(delay * 2, 0.5)
            again = {i: unique[i] for i in waiting if i in unique}
            gone_again = [i for i in gone if i in waiting]
            waiting = self._attempt(
                ctx, plan, side, again, gone_again, (), skip_marked, final=final
            )
            if final:
                break

    def _attempt(
        self,
        ctx: _Pass,
        plan: ObjectPlan,
        side: Side,
        unique: Mapping[str, Record],
        gone: Sequence[str],
        cursors: Sequence[CursorUpdate],
        skip_marked: bool,
        *,
        final: bool,
    ) -> set[str]:
        """Process what this pass can claim; return the ids another pass holds."""
        prefix = f"{side.value}:"  # Side.value is a property: read it once per batch
        names = [f"{prefix}{i}" for i in (*unique, *gone)]
        held = self._lease(ctx, plan, names)
        try:
            return self._process_leased(
                ctx, plan, side, unique, gone, cursors, held, skip_marked, final
            )
        finally:
            self._unlease(ctx, plan)

    def _lease(self, ctx: _Pass, plan: ObjectPlan, names: Sequence[str]) -> set[str]:
        """Claim names for this pass; return those it holds (S9)."""
        if ctx.dry_run or not names:
            return set(names)
        held = self._acquire(ctx, plan.name, names, ctx.owner)
        ctx.leased.update(held)
        return held

    def _unlease(self, ctx: _Pass, plan: ObjectPlan) -> None:
        if ctx.leased:
            # ctx.leased is every lease this pass holds (leases never outlive a batch),
            # so releasing all of the owner's leases of the type is the same, in one
            # statement instead of one per name.
            ctx.store.release(self.sync_id, ctx.owner, None, plan.name)
            ctx.leased.clear()

    def _process_leased(
        self,
        ctx: _Pass,
        plan: ObjectPlan,
        side: Side,
        unique: Mapping[str, Record],
        gone: Sequence[str],
        cursors: Sequence[CursorUpdate],
        held: set[str],
        skip_marked: bool,
        final: bool = True,
    ) -> set[str]:
        sid = self.sync_id
        store = ctx.store
        other = side.other
        known = store.by_record_ids(sid, plan.name, side, [*unique, *gone])
        deletes: list[tuple[str, str, str]] = []
        items: list[_Item] = []
        freed: set[str] = set()  # identifiers of the entries forgotten here
        for record_id in gone:
            entry = known.get(record_id)
            if entry is None:
                continue
            if entry.id_on(other) is None and entry.pending is None:
                deletes.append((sid, plan.name, entry.entry_id))  # forget a gone, unpaired record
                if is_owner(entry):
                    freed.update(entry.keys)
                continue
            items.append(_Item(side, None, entry, record_id))
        wanted: set[str] = set()
        skipped = 0
        for record in unique.values():
            entry = known.get(record.id)
            if (
                skip_marked
                and entry is not None
                and ctx.mark is not None
                and entry.mark == ctx.mark
            ):
                skipped += 1
                continue
            item = _Item(side, record, entry, record.id)
            if (
                entry is not None
                and entry.state is RecordState.SYNCED
                and entry.pending is None
                and entry.id_on(other) is not None
                and not plan.sync.associations
                # The initial sync recomputes every pair (S2); reconcile compares both apps
                # in full, so it reads the counterpart too: it may be gone (S6, R6).
                and ctx.kind not in ("initial", "reconcile")
                and unchanged_since_sync(plan, side, record, entry)
            ):
                item.settled = True  # our own write coming back, or no mapped change (S6)
            elif entry is not None and entry.id_on(other) is not None:
                item.other_id = entry.id_on(other)
            else:
                item.keys = identify(plan, side, record.properties)
                wanted.update(item.keys)
            items.append(item)
        if skip_marked and unique and not ctx.prefilter:
            ctx.prefilter = 2 * skipped >= len(unique)  # see _process
        if not items:
            if deletes or cursors:
                self._uncount(ctx, plan.name, deletes)
                store.write((), delete=deletes, cursors=cursors)
            if freed:
                self._free_duplicates(ctx, plan, freed)
            return set()
        workers = self._partition is not None and not ctx.dry_run
        if workers and wanted:
            # Scale-out: workers lease the identifiers they look up too, so that two of
            # them never both create a record for one identifier (M1, M3, S9).
            held |= self._lease(ctx, plan, [f"key:{key}" for key in sorted(wanted)])
        candidates = store.by_keys(sid, plan.name, wanted) if wanted else {}
        self._match(plan, side, items, candidates, deletes)
        # Claim the counterparts too, so a pass from the other side cannot work on the pair.
        mine, theirs = f"{side.value}:", f"{other.value}:"
        others = [f"{theirs}{i.other_id}" for i in items if i.other_id is not None]
        held |= self._lease(ctx, plan, others)
        stale = self._stale_pairs(ctx, plan, items) if workers else set()
        for item in items:
            if (
                f"{mine}{item.record_id}" not in held
                or (item.other_id is not None and f"{theirs}{item.other_id}" not in held)
                or (workers and not held.issuperset([f"key:{key}" for key in item.keys]))
                or (item.pair_with is not None and item.pair_with.entry_id in stale)
            ):
                item.queued = True
                if item.pair_with is not None:  # the pairing waits too
                    item.pair_with = None
                    item.other_id = None
                    if item.entry is not None:
                        own = (sid, plan.name, item.entry.entry_id)
                        if own in deletes:
                            deletes.remove(own)
        fetched = self._fetch_others(ctx, plan, other, [i for i in items if not i.queued])
        now = self._clock()
        decided: list[tuple[_Item, Decision]] = []
        waiting: set[str] = set()
        for item in items:
            if item.settled:
                decided.append((item, NO_CHANGE))
            elif not item.queued:
                decided.append((item, self._decide(plan, item, fetched, deletes)))
            elif not final:
                waiting.add(item.record_id)
            elif item.entry is not None:
                decided.append((item, _QUEUED))
            else:
                # A new record the other pass is creating an entry for: writing one here
                # could overwrite its result, so only count it.
                ctx.report.side(plan.name, side).queued += 1
        unsettled = ctx.unsettled.get((plan.name, side))
        if unsettled is not None:
            decided = [(item, self._defer(side, unsettled, decision)) for item, decision in decided]
        unsent = ctx.unsettled.get((plan.name, other))
        if unsent is not None:
            decided = [
                (item, resend_deferred(item.pair_with or item.entry, other, unsent, decision))
                for item, decision in decided
            ]
        if any(i.queued and i.entry is None and i.record is not None for i in items):
            if ctx.kind == "initial" and (plan.name, side) not in ctx.unrecorded:
                # Kept in the index: a pass that resumes this initial sync must not move
                # the poll cursor past the record either.
                store.set_meta(sid, _unrecorded_meta(plan.name, side), "1")
            ctx.unrecorded.add((plan.name, side))
            cursors = self._held_back(ctx, plan, side, cursors)
        if self._catch_up(ctx, plan, other, decided):
            # Records added to the other app since its scan are indexed now: decide the
            # batch again, so that this batch's new records pair with them (M1).
            return self._process_leased(
                ctx, plan, side, unique, gone, cursors, held, skip_marked, final
            )
        self._execute(ctx, plan, decided, deletes, cursors, now, freed)
        return waiting

    @staticmethod
    def _held_back(
        ctx: _Pass, plan: ObjectPlan, side: Side, cursors: Sequence[CursorUpdate]
    ) -> Sequence[CursorUpdate]:
        """``cursors`` without the poll cursor of ``side`` once this pass left a new record
        of it queued with no entry (another pass held it or its pair): no entry remembers
        that record, so the cursor must not pass it (S9: queued is never terminal). Its
        pass may die: the settlement of its creates in flight reads the changes since
        that cursor (S8)."""
        if (plan.name, side) not in ctx.unrecorded:
            return cursors
        return [c for c in cursors if c.name != "poll" or c.side is not side]

    @staticmethod
    def _defer(side: Side, error: AdapterError, decision: Decision) -> Decision:
        """A create into the other side, postponed while ``side`` has unsettled creates.

        A record a create in flight made, changed since so that it matches nothing, would
        otherwise be created back in the other app (S8). It fails with the settlement's
        transient error and is retried on the next pass, once the creates are settled.
        """
        if isinstance(decision, Apply) and isinstance(decision.write_on(side.other), CreateIn):
            return Fail(
                error.category,
                f"waits for the creates in flight on the {side.value} side to settle "
                f"(rule S8): {error.message}",
            )
        return decision

    def _catch_up(
        self, ctx: _Pass, plan: ObjectPlan, other: Side, decided: Sequence[tuple[_Item, Decision]]
    ) -> bool:
        """Index the other app's records added since the initial sync scanned it (S3, M1).

        Phases 2 and 3 of the initial sync pair records with the other side's index,
        which its scan built; a record added to both apps after that scan would be created
        a second time. Before the first create into ``other`` in the phase, the changes
        made there since its scan started are indexed (once per phase: that change scan
        includes the echoes of this sync's own writes). Whether it did so.
        """
        if ctx.kind != "initial" or (plan.name, other) in ctx.caught_up:
            return False
        if not any(
            isinstance(decision, Apply) and isinstance(decision.write_on(other), CreateIn)
            for _, decision in decided
        ):
            return False
        ctx.caught_up.add((plan.name, other))
        since = ctx.store.cursor(self.sync_id, other, plan.name, "initial_poll")
        if since is None:
            return False
        indexed = False
        for page in self._scan(other, plan, since):
            if page.records:
                # Records other workers are creating right now show up here too; those
                # without identifiers are left to them (they could pair with nothing).
                self._index_side(ctx, plan, other, page.records, (), keyed_only=True)
                indexed = True
        return indexed

    def _stale_pairs(self, ctx: _Pass, plan: ObjectPlan, items: Sequence[_Item]) -> set[str]:
        """Entries a batch pairs with that another pass changed since they were read.

        A worker reads its candidates, then leases the counterparts; another worker may
        have paired the same entry in between (matched by another identifier). Those
        items wait and are matched again from a fresh read (S9, M1).
        """
        seen = {i.pair_with.entry_id: i.pair_with for i in items if i.pair_with is not None}
        if not seen:
            return set()
        now = ctx.store.get(self.sync_id, plan.name, list(seen))
        return {
            entry_id
            for entry_id, entry in seen.items()
            if (fresh := now.get(entry_id)) is None
            or (fresh.hub_id, fresh.app_id, fresh.pending, fresh.updated_at)
            != (entry.hub_id, entry.app_id, entry.pending, entry.updated_at)
        }

    def _match(
        self,
        plan: ObjectPlan,
        side: Side,
        items: Sequence[_Item],
        candidates: Mapping[str, Sequence[Entry]],
        deletes: list[tuple[str, str, str]],
    ) -> None:
        """Pair new records with index entries, in batch order (M1–M3, M7)."""
        taken: dict[str, Entry] = {}  # entry_id -> the entry as this batch has changed it
        local: dict[str, list[Entry]] = {}  # key -> entries claimed earlier in the batch
        contested = any(item.keys for item in items)  # a new record with identifiers
        for item in items if contested else ():
            if item.record is not None and item.entry is not None and item.other_id is not None:
                # A pair whose record took a new identifier holds it from this batch on
                # (M3, M7): a new record of the batch with it is the pair's duplicate,
                # not a record to create beside it.
                for key in identify(plan, side, item.record.properties):
                    if key not in item.entry.keys:
                        local.setdefault(key, []).append(item.entry)
        for item in items:
            if item.record is None or item.other_id is not None or item.settled:
                continue  # deleted, paired, or a pair unchanged since its sync (S6)
            pool: dict[str, list[Entry]] = {}
            for key in item.keys:
                seen: set[str] = set()
                merged = []
                for entry in (*candidates.get(key, ()), *local.get(key, ())):
                    if entry.entry_id in seen:
                        continue
                    seen.add(entry.entry_id)
                    merged.append(taken.get(entry.entry_id, entry))
                pool[key] = merged
            match = choose_match(side, item.record_id, item.keys, pool)
            item.pool = pool
            claim: Entry | None = None
            if match.duplicate_of is not None:
                item.duplicate_of = match.duplicate_of
                item.matched_by = match.key
            elif match.entry is not None:
                target = match.entry
                item.pair_with = target
                item.matched_by = match.key
                item.other_id = target.id_on(side.other)
                claim = _with_id(target, side, item.record_id)
                if claim.deleted is side:
                    # This record takes the deleted one's place (M3, R6): the pair's record
                    # on this side is live again, so later records of the batch are its
                    # duplicates instead of taking the same place too.
                    claim = _evolve(claim, deleted=None)
                item.claim = (target, claim)
                if item.entry is not None and item.entry.entry_id != target.entry_id:
                    # The record's own unpaired entry is merged into the pair.
                    deletes.append((self.sync_id, plan.name, item.entry.entry_id))
            else:
                claim = item.entry
                if claim is None:
                    claim = item.new = self._new_entry(plan, side, item.record_id, item.keys)
                keys = frozenset(item.keys)
                if claim.keys != keys or not is_owner(claim):
                    # A duplicate whose identifier is free now syncs: later records of
                    # the batch with that identifier are its duplicates (M3).
                    claim = _evolve(
                        claim, keys=keys, state=RecordState.SYNCED, reason=None, category=None
                    )
            if claim is not None:
                taken[claim.entry_id] = claim
                for key in item.keys:
                    local.setdefault(key, []).append(claim)

    def _new_entry(
        self, plan: ObjectPlan, side: Side, record_id: str, keys: Iterable[str]
    ) -> Entry:
        hub = side is Side.HUB
        return Entry(
            sync_id=self.sync_id,
            object_type=plan.name,
            entry_id=f"{'h' if hub else 'a'}:{record_id}",
            updated_at=self._clock(),
            hub_id=record_id if hub else None,
            app_id=None if hub else record_id,
            keys=frozenset(keys),
        )

    def _fetch_others(
        self, ctx: _Pass, plan: ObjectPlan, other: Side, items: Sequence[_Item]
    ) -> dict[str, Record]:
        """Fetch the counterparts of a batch; a failed call fails only those records."""
        ids = list(dict.fromkeys(i.other_id for i in items if i.other_id is not None))
        adapter = self._adapters[other]
        fetched: dict[str, Record] = {}
        for chunk in _chunks(ids, adapter.max_batch_size):
            try:
                got = adapter.fetch(plan.type_on(other), chunk)
            except Exception as exc:
                error = _as_adapter_error(exc)
                failed = set(chunk)
                for item in items:
                    if item.other_id in failed:
                        item.other_error = error
                continue
            moved = redirects(chunk, got)
            fetched.update((i, r) for i, r in got.items() if i not in moved)
            for item in items:
                if item.other_id in moved:
                    # Merged into another record: not this pair's counterpart as it
                    # stands. The entry is re-paired when its record is read (retried).
                    item.other_error = AdapterError(
                        ErrorCategory.UNAVAILABLE,
                        f"the {other.value} record {item.other_id} was merged into "
                        f"{moved[item.other_id]}; the pair follows it on the next pass",
                    )
        return fetched

    def _decide(
        self,
        plan: ObjectPlan,
        item: _Item,
        fetched: Mapping[str, Record],
        deletes: list[tuple[str, str, str]],
    ) -> Decision:
        side = item.side
        entry = item.entry
        if entry is not None and entry.reason is ExcludeReason.MERGED:
            # Its counterpart was merged into a record that syncs with another: this
            # record stays as it is, out of the sync (X3), and is never created again.
            return Exclude(ExcludeReason.MERGED, entry.message)
        if item.record is None:
            return Fail(
                ErrorCategory.DELETED,
                f"the {side.value} record {item.record_id} was deleted; the "
                f"{side.other.value} record is kept",
            )
        if item.duplicate_of is not None:
            return Exclude(ExcludeReason.DUPLICATE, self._dup_message(plan, side, item))
        if item.other_error is not None:
            return Fail(item.other_error.category, item.other_error.message)
        if item.other_id is not None:
            counterpart = fetched.get(item.other_id)
            if counterpart is None:
                if item.pair_with is not None and item.pair_with.pending is side:
                    # This record is the one a create in flight made (S8): it settles that
                    # create, and the record it was made from is gone (R6, X3).
                    return decide(plan, item.pair_with, *self._alone(side, item.record))
                if item.pair_with is not None:
                    # The index knew a record that is gone on the other side: forget that
                    # entry and treat this record as new.
                    forgotten = item.pair_with
                    deletes.append((self.sync_id, plan.name, forgotten.entry_id))
                    item.freed = forgotten.keys
                    own = (
                        None
                        if item.entry is None
                        else (self.sync_id, plan.name, item.entry.entry_id)
                    )
                    if own is not None and own in deletes:
                        # _match merged the record's own entry into the pair: it stays.
                        deletes.remove(own)
                    heir = self._heir(plan, item, forgotten)
                    if isinstance(heir, AdapterError):
                        return Fail(heir.category, heir.message)
                    if heir is not None:
                        # A record of the other side waited as the forgotten record's
                        # duplicate: it is next in line (M3), and pairs with this one.
                        entry, counterpart, key = heir
                        item.pair_with = entry
                        item.other_id = entry.id_on(side.other)
                        item.matched_by = key
                        item.claim = None
                        item.counterpart = counterpart
                        if own is not None and own[2] != entry.entry_id:
                            deletes.append(own)
                        hub, app = (
                            (item.record, counterpart)
                            if side is Side.HUB
                            else (counterpart, item.record)
                        )
                        return decide(plan, entry, hub, app)
                    item.pair_with = None
                    item.other_id = None
                    item.matched_by = None
                    item.keys = item.keys or identify(plan, side, item.record.properties)
                    return decide(plan, item.entry, *self._alone(side, item.record), keys=item.keys)
                return decide(plan, item.entry, *self._alone(side, item.record))
            item.counterpart = counterpart
            hub, app = (
                (item.record, counterpart) if side is Side.HUB else (counterpart, item.record)
            )
            return decide(plan, item.pair_with or item.entry, hub, app)
        if item.pair_with is not None and item.pair_with.pending is side.other:
            # It takes the place of a deleted record whose create is in flight (M3, R6):
            # the record that create makes is its counterpart, once settled (S8).
            return Fail(
                ErrorCategory.UNAVAILABLE,
                f"waits for the create in flight from {side.value} record "
                f"{item.pair_with.id_on(side)} (deleted), whose place it takes, to settle "
                "(rule S8)",
            )
        return decide(plan, item.entry, *self._alone(side, item.record), keys=item.keys)

    def _heir(
        self, plan: ObjectPlan, item: _Item, forgotten: Entry
    ) -> tuple[Entry, Record, str] | AdapterError | None:
        """The other side's oldest live duplicate of a forgotten pair, for ``item`` (M3).

        When the pair a record matched turns out to have lost its counterpart, a record of
        the other side that was excluded as a duplicate of that counterpart takes its
        place, instead of the record being created a second time.
        """
        side, other = item.side, item.side.other
        seen: set[str] = {forgotten.entry_id}
        adapter = self._adapters[other]
        for key in item.keys:
            for entry in (item.pool or {}).get(key, ()):
                if entry.entry_id in seen:
                    continue
                seen.add(entry.entry_id)
                other_id = entry.id_on(other)
                if is_owner(entry) or entry.id_on(side) is not None or other_id is None:
                    continue
                try:
                    found = adapter.fetch(plan.type_on(other), [other_id]).get(other_id)
                except Exception as exc:
                    return _as_adapter_error(exc)
                if found is not None and found.id == other_id:  # not merged into another
                    return entry, found, key
        return None

    @staticmethod
    def _alone(side: Side, record: Record) -> tuple[Record | None, Record | None]:
        return (record, None) if side is Side.HUB else (None, record)

    def _dup_message(self, plan: ObjectPlan, side: Side, item: Any) -> str:
        holder: Entry | None = item.duplicate_of
        key: str | None = item.matched_by if isinstance(item, _Item) else item.key
        holder_id = holder.id_on(side) if holder is not None else None
        what = plan.key_name(key) if key else "identifier"
        if holder_id is None and holder is not None:
            holder_id = holder.id_on(side.other)
            return f"same {what} as {side.other.value} record {holder_id}, already paired"
        return f"same {what} as {side.value} record {holder_id}, which syncs instead (rule M3)"

    # ---- executing decisions ------------------------------------------------------------
    def _execute(
        self,
        ctx: _Pass,
        plan: ObjectPlan,
        decided: Sequence[tuple[_Item, Decision]],
        deletes: list[tuple[str, str, str]],
        cursors: Sequence[CursorUpdate],
        now: datetime,
        forgotten: Iterable[str] = (),
    ) -> None:
        sid = self.sync_id
        # Base entry per item: the pair it joins, its own entry, or a new one.
        bases: list[Entry] = []
        for item, _ in decided:
            base = item.pair_with or item.entry
            if base is None:
                base = item.new or self._new_entry(plan, item.side, item.record_id, item.keys)
            elif base.id_on(item.side) != item.record_id:
                claim = item.claim
                # _match made this very entry already when it paired the record.
                if claim is not None and claim[0] is base:
                    base = claim[1]
                else:
                    base = _with_id(base, item.side, item.record_id)
                if base.pending is item.side and item.pair_with is not None:
                    # The record a create in flight made was found: the create is settled.
                    base = _evolve(base, pending=None, pending_key=None)
            bases.append(base)

        # Announce creates as pending before making them (S8).
        creates: dict[Side, list[tuple[int, CreateIn, str]]] = {Side.HUB: [], Side.APP: []}
        updates: dict[Side, list[tuple[int, UpdateIn]]] = {Side.HUB: [], Side.APP: []}
        pending: list[Entry] = []
        sent_keys: dict[int, str] = {}  # the idempotency key of each create, by item
        resent: set[int] = set()  # the items whose create re-sends a key (S8)
        for n, ((item, decision), base) in enumerate(zip(decided, bases, strict=True)):
            if not isinstance(decision, Apply):
                continue
            for write in decision.writes:
                if isinstance(write, CreateIn):
                    if base.pending is write.side and base.pending_key is not None:
                        # A create of this record may be in flight already: the same key
                        # makes an idempotent app answer with that record (S8).
                        key = base.pending_key
                        resent.add(n)
                    else:
                        key = f"{sid}:{plan.name}:{base.entry_id}:{os.urandom(6).hex()}"
                    creates[write.side].append((n, write, key))
                    sent_keys[n] = key
                    keys = base.keys | frozenset(item.keys)
                    if not is_owner(base):  # a duplicate whose identifier is free now (M3)
                        base = _evolve(base, state=RecordState.INITIAL, reason=None, message="")
                    pending.append(
                        _evolve(
                            base,
                            keys=keys,
                            pending=write.side,
                            pending_key=key,
                            hub_values=decision.hub_values,
                            app_values=decision.app_values,
                            updated_at=now,
                        )
                    )
                else:
                    updates[write.side].append((n, write))
        for side in Side:
            if updates[side]:
                self._guard(ctx, plan, side, len(updates[side]))
        if pending:
            ctx.store.write(pending)

        results: dict[int, list[tuple[Side, str, WriteResult | AdapterError]]] = {}
        for side in Side:
            if side is Side.APP and (creates[side] or updates[side]) and not ctx.dry_run:
                # The hub's updates landed: recorded before the app's writes, so a process
                # that dies in between leaves true copies (S6, D6).
                self._store_landed(ctx, plan, decided, bases, updates[Side.HUB], results, now)
            if creates[side]:
                items = [NewRecord(dict(w.properties), key) for _, w, key in creates[side]]
                outcome = self._call_create(ctx, side, plan, items, planned=False)
                for (n, _, _), result in zip(creates[side], outcome, strict=True):
                    results.setdefault(n, []).append((side, "create", result))
            if updates[side]:
                ups = [RecordUpdate(w.record_id, dict(w.properties)) for _, w in updates[side]]
                outcome = self._call_update(ctx, side, plan, ups, planned=False)
                for (n, _), result in zip(updates[side], outcome, strict=True):
                    results.setdefault(n, []).append((side, "update", result))
                if not ctx.dry_run:
                    self._read_back(ctx, plan, side, decided, bases, updates[side], results)

        out: list[Entry] = []
        linked: list[tuple[Entry, Record | None, Record | None]] = []
        changed: dict[str, Entry] = {}  # linked entries to store, by entry id
        freed: set[str] = set(forgotten)  # identifiers entries no longer hold
        returned: dict[Side, list[Entry]] = {}  # entries of records re-sent creates returned
        for n, ((item, decision), base) in enumerate(zip(decided, bases, strict=True)):
            entry = self._outcome(
                ctx, plan, item, decision, base, results.get(n, []), now, sent_keys.get(n)
            )
            if n in resent and entry is not None and entry.pending is None:
                returned.setdefault(item.side.other, []).append(entry)
            current = entry if entry is not None else base
            if entry is not None and item.entry is not None and entry.keys != item.entry.keys:
                freed.update(k for k in item.entry.keys - entry.keys if not k.startswith("~"))
            freed.update(item.freed)
            if (
                plan.sync.associations
                and item.record is not None
                and current.state is RecordState.SYNCED
                and current.hub_id is not None
                and current.app_id is not None
            ):
                other = item.counterpart
                if other is None and isinstance(decision, Apply):
                    made = decision.write_on(item.side.other)
                    if isinstance(made, CreateIn):  # the record this pass created
                        other = Record(current.id_on(item.side.other) or "", made.properties)
                pair = (item.record, other) if item.side is Side.HUB else (other, item.record)
                linked.append((current, *pair))
                if entry is not None:
                    # The outcome (copies, history, state) is stored whether or not its
                    # links change: _sync_links returns only the entries it changed.
                    changed[current.entry_id] = current
            elif entry is not None:
                out.append(entry)
        if linked:
            for linked_entry in self._sync_links(ctx, plan, linked, now):
                changed[linked_entry.entry_id] = linked_entry
            out.extend(changed.values())
        for made_on, entries in returned.items():
            deletes.extend(self._absorb(ctx, plan, made_on, entries))
        out = self._queue_fresh(ctx, plan, decided, out, now)
        self._uncount(ctx, plan.name, deletes)
        ctx.store.write(out, delete=deletes, cursors=cursors)
        self._settle_counts(ctx)
        if self._linked_from.get(plan.name) and not ctx.dry_run:
            self._complete_waiting(ctx, plan, out, now)
        if freed:
            self._free_duplicates(ctx, plan, freed)

    def _queue_fresh(
        self,
        ctx: _Pass,
        plan: ObjectPlan,
        decided: Sequence[tuple[_Item, Decision]],
        out: list[Entry],
        now: datetime,
    ) -> list[Entry]:
        """Put the queued marks on the queued records' entries as they are now (S9).

        Their entries were read while another pass held them; that pass may have stored
        its outcome since (a pair, a record it created). The mark is set on that outcome,
        which it would otherwise overwrite with the copy read before; an entry the other
        pass forgot is not written back.
        """
        read = {
            item.entry.entry_id: item.entry
            for item, decision in decided
            if isinstance(decision, _Queued) and item.entry is not None
        }
        if not read or ctx.dry_run:
            return out
        fresh = ctx.store.get(self.sync_id, plan.name, list(read))
        kept: list[Entry] = []
        for entry in out:
            before = read.get(entry.entry_id)
            if before is None or entry.state is not RecordState.QUEUED:
                kept.append(entry)
                continue
            current = fresh.get(entry.entry_id)
            if current is None:
                continue
            if current != before:
                entry = _evolve(
                    current,
                    state=RecordState.QUEUED,
                    updated_at=now,
                    history=self._append(
                        current.history, now, "queued", "another pass held it (rule S9)"
                    ),
                )
            kept.append(entry)
        return kept

    def _read_back(
        self,
        ctx: _Pass,
        plan: ObjectPlan,
        side: Side,
        decided: Sequence[tuple[_Item, Decision]],
        bases: Sequence[Entry],
        written: Sequence[tuple[int, UpdateIn]],
        results: dict[int, list[tuple[Side, str, WriteResult | AdapterError]]],
    ) -> None:
        """Settle updates whose call failed as a whole by reading their records (X9).

        A failed call may have happened (its reply was lost): a record that now holds
        what the decision's copy says of it took the update, which is then counted as
        landed, so the copy is stored and the engine's own write is not taken for a
        change of that app's users. A read that fails leaves them failed.
        """
        lost = {
            w.record_id: n
            for n, w in written
            if isinstance(results[n][-1][2], AdapterError) and results[n][-1][0] is side
        }
        if not lost:
            return
        adapter = self._adapters[side]
        for chunk in _chunks(list(lost), adapter.max_batch_size):
            try:
                got = adapter.fetch(plan.type_on(side), chunk)
            except Exception:  # the records stay failed; the next pass decides again
                continue
            for record_id in chunk:
                record = got.get(record_id)
                n = lost[record_id]
                decision = decided[n][1]
                if record is None or record.id != record_id or not isinstance(decision, Apply):
                    continue
                copy = _evolve(
                    bases[n], hub_values=decision.hub_values, app_values=decision.app_values
                )
                if unchanged_since_sync(plan, side, record, copy):
                    results[n][-1] = (side, "update", WriteResult.ok(record_id))

    def _store_landed(
        self,
        ctx: _Pass,
        plan: ObjectPlan,
        decided: Sequence[tuple[_Item, Decision]],
        bases: Sequence[Entry],
        written: Sequence[tuple[int, UpdateIn]],
        results: Mapping[int, list[tuple[Side, str, WriteResult | AdapterError]]],
        now: datetime,
    ) -> None:
        """Store the copies of the pairs whose hub update landed, before the app's writes."""
        out: list[Entry] = []
        for n, _ in written:
            ((_, _, result),) = results[n]
            if isinstance(result, AdapterError) or not result.succeeded:
                continue
            item, decision = decided[n]
            assert isinstance(decision, Apply)
            copies = landed_copies(plan, decision, bases[n], (Side.APP,))
            if copies is not None:
                keys = self._current_keys(plan, item, bases[n], landed(decision, (Side.HUB,)))
                out.append(
                    _evolve(
                        bases[n],
                        hub_values=copies[0],
                        app_values=copies[1],
                        keys=keys | bases[n].keys,  # frees nothing until the outcome
                        updated_at=now,
                    )
                )
        if out:
            ctx.store.write(out)

    def _free_duplicates(self, ctx: _Pass, plan: ObjectPlan, freed: set[str]) -> None:
        """Recheck duplicates of identifiers their owner no longer holds (M3).

        The first record with an identifier syncs and later ones are excluded; when the
        first one changes its identifier or is forgotten, the next in line syncs now: on
        each side where no record holds the identifier any more, the oldest duplicate is
        made an owner again (queued, until a recheck processes it), so that a duplicate
        on one side pairs with one on the other instead of both being created.

        The recheck waits until the pass has done its scans (:meth:`_recheck_freed`):
        a record with the identifier on a page not read yet would otherwise find no
        owner on its side, and the duplicate of the other side would be created there
        next to it. Until then, the queued owner is what such a record pairs with (M1).
        """
        freed = {k for k in freed if not k.startswith("~")}
        if not freed:
            return
        found = ctx.store.by_keys(self.sync_id, plan.name, sorted(freed))
        waiting: dict[str, Entry] = {}
        promoted: dict[str, Entry] = {}
        now = self._clock()
        for entries in found.values():
            held = {
                side
                for e in entries
                if is_owner(e)
                for side in Side
                if e.id_on(side) is not None and e.deleted is not side
            }
            for e in entries:
                if is_owner(e) or e.entry_id in waiting:
                    continue
                waiting[e.entry_id] = e
                side = Side.HUB if e.hub_id is not None else Side.APP
                if side not in held:
                    held.add(side)  # the first in line only
                    promoted[e.entry_id] = _evolve(
                        e,
                        state=RecordState.QUEUED,
                        reason=None,
                        message="its identifier is free again: it syncs next (rule M3)",
                        updated_at=now,
                    )
        if promoted:
            for entry in promoted.values():
                # Queued until the recheck decides it (its final outcome replaces this).
                side = Side.HUB if entry.hub_id is not None else Side.APP
                self._count(
                    ctx, plan.name, entry, ((side, "queued"),), stored=waiting[entry.entry_id]
                )
            ctx.store.write(list(promoted.values()))
        ctx.freed.setdefault(plan.name, {}).update(dict.fromkeys(waiting))

    def _recheck_freed(self, ctx: _Pass, plan: ObjectPlan) -> None:
        """Recheck the duplicates :meth:`_free_duplicates` found, as they are now (M3);
        rechecks that free more identifiers are followed up too."""
        while waiting := ctx.freed.pop(plan.name, None):
            found = ctx.store.get(self.sync_id, plan.name, list(waiting))
            self._recheck(ctx, plan, [found[i] for i in waiting if i in found])

    # ---- associations (A1, A2) ---------------------------------------------------------
    def _sync_links(
        self,
        ctx: _Pass,
        plan: ObjectPlan,
        work: Sequence[tuple[Entry, Record | None, Record | None]],
        now: datetime,
    ) -> list[Entry]:
        """Keep the links of synced pairs the same on both sides (rule A1, X3).

        A link the app refuses fails its entry, and the pass's report counts that failure
        on the side that refused, in place of what the pass counted for the record before
        (see :meth:`_count`), so that the report and :meth:`status` agree.

        A link present on one side whose other end is synced is created on the other side.
        A link whose other end is not synced yet waits: the entry gets a key
        ``~<type>:<side>:<id>`` so that syncing that end finds it without a rescan. A link
        that was in sync and is now gone on one side is not deleted on the other (X3); the
        entry's history records the difference.
        """
        sid = self.sync_id
        entries = [e for e, _, _ in work]
        changes: dict[Side, list[tuple[int, AssociationChange, str, str]]] = {
            Side.HUB: [],
            Side.APP: [],
        }
        links: list[dict[str, frozenset[str]]] = [dict(e.links) for e in entries]
        waiting: list[set[str]] = [set() for _ in entries]
        notes: list[list[str]] = [[] for _ in entries]
        for target in plan.sync.associations:
            tplan = self._plans[target]
            hub_type, app_type = tplan.type_on(Side.HUB), tplan.type_on(Side.APP)
            hub_ids = {
                i for _, h, _ in work if h is not None for i in h.associations.get(hub_type, ())
            }
            app_ids = {
                i for _, _, a in work if a is not None for i in a.associations.get(app_type, ())
            }
            by_hub = ctx.store.by_record_ids(sid, target, Side.HUB, hub_ids) if hub_ids else {}
            by_app = ctx.store.by_record_ids(sid, target, Side.APP, app_ids) if app_ids else {}
            for n, (entry, hub, app) in enumerate(work):
                old = entry.links.get(target, frozenset())
                hub_side: dict[str, str | None] = {}  # hub id -> app id (None: end not synced)
                for h in hub.associations.get(hub_type, ()) if hub is not None else ():
                    end = by_hub.get(h)
                    hub_side[h] = end.app_id if end is not None and end.hub_id == h else None
                app_side: dict[str, str] = {}  # hub id -> app id, for app links with a synced end
                for a in app.associations.get(app_type, ()) if app is not None else ():
                    end = by_app.get(a)
                    if end is not None and end.hub_id is not None and end.app_id == a:
                        app_side[end.hub_id] = a
                    else:
                        waiting[n].add(f"~{target}:app:{a}")
                in_sync = {h for h, a in hub_side.items() if a is not None and h in app_side}
                for h, app_end in hub_side.items():
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
        failures: dict[int, tuple[ErrorCategory, str, Side]] = {}
        for side in Side:
            if not changes[side]:
                continue
            results = self._call_associate(ctx, side, [c for _, c, _, _ in changes[side]])
            for (n, change, h, target), result in zip(changes[side], results, strict=True):
                if isinstance(result, WriteResult) and result.succeeded:
                    links[n][target] = links[n][target] | {h}
                    notes[n].append(f"linked {change.to_type} {change.to_id} on {side.value}")
                else:
                    category = (
                        result.category
                        if result.category is not None
                        else ErrorCategory.ASSOCIATION
                    )
                    message = result.message
                    failures.setdefault(
                        n,
                        (
                            category,
                            f"link to {change.to_type} {change.to_id} in the {side.value}: "
                            f"{message}",
                            side,
                        ),
                    )
        out = []
        for n, entry in enumerate(entries):
            keys = frozenset(k for k in entry.keys if not k.startswith("~")) | frozenset(waiting[n])
            history = entry.history
            for note in notes[n]:
                history = self._append(history, now, "linked", note)
            updated = _evolve(entry, links=links[n], keys=keys, history=history)
            if n in failures:
                category, message, refused_by = failures[n]
                updated = self._failed(updated, category, message, now, updated.mark, keys)
                # The record fails: the report says so, as status() does.
                self._count(ctx, plan.name, entry, ((refused_by, "failed"),))
            if updated != entry or n in failures:
                out.append(updated)
        return out

    def _call_associate(
        self, ctx: _Pass, side: Side, pairs: Sequence[AssociationChange]
    ) -> list[WriteResult | AdapterError]:
        adapter = self._adapters[side]
        if ctx.dry_run:
            return [WriteResult.ok(p.from_id) for p in pairs]
        if not adapter.supports_associations:  # refused when built; a flag changed since
            return [
                AdapterError(
                    ErrorCategory.ASSOCIATION,
                    f"the {side.value} adapter {adapter.name!r} has supports_associations = "
                    "False, so the link was not made",
                )
            ] * len(pairs)
        return _batched(adapter, pairs, adapter.associate)

    def _complete_waiting(
        self, ctx: _Pass, plan: ObjectPlan, written: Sequence[Entry], now: datetime
    ) -> None:
        """Complete links that waited for these entries to sync (A1), without a rescan."""
        ends = [e for e in written if e.state is RecordState.SYNCED and e.hub_id and e.app_id]
        if not ends:
            return
        keys = [f"~{plan.name}:hub:{e.hub_id}" for e in ends] + [
            f"~{plan.name}:app:{e.app_id}" for e in ends
        ]
        for source in self._linked_from[plan.name]:
            splan = self._plans[source]
            found = ctx.store.by_keys(self.sync_id, source, keys)
            waiting = {e.entry_id: e for entries in found.values() for e in entries}
            ready = [
                e
                for e in waiting.values()
                if e.state is RecordState.SYNCED and e.hub_id is not None and e.app_id is not None
            ]
            for chunk in _chunks(ready, _CHUNK):
                records: dict[Side, Mapping[str, Record]] = {}
                for side in Side:
                    adapter = self._adapters[side]
                    ids = [e.id_on(side) or "" for e in chunk]
                    got: dict[str, Record] = {}
                    try:
                        for part in _chunks(ids, adapter.max_batch_size):
                            # A record merged into another is re-paired by its next read.
                            got.update(
                                (i, r)
                                for i, r in adapter.fetch(splan.type_on(side), part).items()
                                if r.id == i
                            )
                    except Exception as exc:
                        ctx.report.errors.append(str(_as_adapter_error(exc)))
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
                ctx.store.write(self._sync_links(ctx, splan, work, now))

    def _restart_pending(self) -> bool:
        """Whether the next initial_sync() call runs a restarted (guarded) initial sync."""
        if self._partition is not None:
            return False  # workers are guarded batch by batch only
        sid = self.sync_id
        run = self._index.get_meta(sid, "initial_run")
        if run is None:
            return False
        running = (
            self._index.get_meta(sid, "initial_done") != run
            and self._index.get_meta(sid, "initial_restart") != "1"
        )
        return int(run) > 1 if running else True

    def _preflight(self, dry_pass: Callable[[], SyncReport], kind: str) -> None:
        """Plan a guarded pass as a dry run first; stop it before it writes anything.

        With ``SyncConfig.max_change_ratio`` set, a pass is decided in full without
        writing (as ``dry_run=True`` does, silently and without listing the writes), and
        when it would update more than that share of one side's records (and at least
        10), :class:`~syncengine.SafetyStop` is raised before the real pass starts. The
        guard in :meth:`_guard` stays as a backstop for changes made in between.
        """
        ratio = self._config.max_change_ratio
        if ratio is None:
            return
        self._preflighting = True
        try:
            report = dry_pass()
        finally:
            self._preflighting = False
        # The share is of the records of the app being changed: the entries holding one of
        # its records once the dry pass has indexed everything it read.
        store = self._preflight_store or self._index
        self._preflight_store = None
        totals = {
            (plan.name, side): store.count_on(self.sync_id, plan.name, side)
            for plan in self._order
            for side in Side
        }
        for (object_type, side), counts in sorted(report.counts.items()):
            planned = counts.updated
            total = totals.get((object_type, side), 0)
            if planned < 10 or planned <= ratio * total:
                continue
            why = (
                "Check the apps (was one emptied, or is its API returning blanks?)"
                if kind != "initial"
                else "An initial sync over an app that holds records overwrites what the "
                "other side wins: if the index file was lost, restore it from a backup "
                "instead; if this sync is meant to merge the two apps"
            )
            raise SafetyStop(
                f"the {kind} pass would update {planned} of the {total} {object_type} "
                f"records in the {side.value} (more than {ratio:.0%}); nothing was "
                f"written. {why}, then run the pass with allow_mass_changes=True if the "
                "changes are intended",
                object_type=object_type,
                side=side.value,
                planned=planned,
                total=total,
            )
        self._preflight_totals = totals

    def _guard(self, ctx: _Pass, plan: ObjectPlan, side: Side, updates: int) -> None:
        """Stop a pass before it updates too large a share of one side (the mass-change
        guard; vdirsyncer's StorageEmpty idea).

        Counts the updates a pass has planned for one object type and side so far; when
        they pass ``SyncConfig.max_change_ratio`` of that side's records (the entries
        holding one, as the preflight counted them, else as the index holds them now; and
        at least 10 records), the pass stops before writing this batch.
        """
        ratio = self._config.max_change_ratio
        key = (plan.name, side)
        ctx.planned_updates[key] = ctx.planned_updates.get(key, 0) + updates
        if ratio is None or not ctx.guarded or ctx.dry_run or ctx.planned_updates[key] < 10:
            return
        if key not in ctx.totals:
            ctx.totals[key] = self._index.count_on(self.sync_id, plan.name, side)
        planned, total = ctx.planned_updates[key], ctx.totals[key]
        if planned > ratio * total:
            raise SafetyStop(
                f"the {ctx.kind} pass would update {planned} of {total} {plan.name} records "
                f"in the {side.value} (more than {ratio:.0%}); nothing more was written. "
                "Check the apps (was one emptied, or is its API returning blanks?), then run "
                "the pass with allow_mass_changes=True if the changes are intended",
                object_type=plan.name,
                side=side.value,
                planned=planned,
                total=total,
            )

    def _call_create(
        self,
        ctx: _Pass,
        side: Side,
        plan: ObjectPlan,
        items: Sequence[NewRecord],
        *,
        planned: bool = True,
    ) -> list[WriteResult | AdapterError]:
        """Create records; a dry run lists them (``planned``) unless the caller does."""
        if ctx.dry_run:
            for item in () if self._preflighting or not planned else items:
                ctx.report.planned.append(
                    PlannedWrite(plan.name, side, "create", None, item.properties)
                )
            return [WriteResult.ok(f"dry-run-{next(ctx.fake_ids)}") for _ in items]
        adapter = self._adapters[side]
        return _batched(
            adapter,
            items,
            lambda chunk: adapter.create(plan.type_on(side), chunk),
            resend_unknown=adapter.supports_idempotency_keys is True,
        )

    def _call_update(
        self,
        ctx: _Pass,
        side: Side,
        plan: ObjectPlan,
        items: Sequence[RecordUpdate],
        *,
        planned: bool = True,
    ) -> list[WriteResult | AdapterError]:
        """Update records; a dry run lists them (``planned``) unless the caller does."""
        if ctx.dry_run:
            for item in () if self._preflighting or not planned else items:
                ctx.report.planned.append(
                    PlannedWrite(plan.name, side, "update", item.id, item.properties)
                )
            return [WriteResult.ok(item.id) for item in items]
        adapter = self._adapters[side]
        return _batched(adapter, items, lambda chunk: adapter.update(plan.type_on(side), chunk))

    def _outcome(
        self,
        ctx: _Pass,
        plan: ObjectPlan,
        item: _Item,
        decision: Decision,
        base: Entry,
        results: Sequence[tuple[Side, str, WriteResult | AdapterError]],
        now: datetime,
        sent_key: str | None = None,
    ) -> Entry | None:
        """The entry after a decision and its writes; counts what happened.

        ``sent_key`` is the idempotency key of the create this decision made, if any: a
        create whose reply was lost stays pending with it, to be settled by it (S8).
        """
        side = item.side
        stored = item.pair_with or item.entry  # as the batch read it (see _count)
        mark = ctx.mark if ctx.mark is not None else base.mark
        if item.matched_by is not None and item.pair_with is not None:
            # The pair is made whatever the decision: a pair that fails (or is excluded) on
            # its first sync still says how it matched, for explain (R8).
            base = _evolve(
                base,
                matched_by=item.matched_by,
                history=self._append(
                    base.history, now, "matched", f"by {plan.key_name(item.matched_by)}"
                ),
            )
        # An Apply's keys depend on whether its writes land: computed below, once.
        keys = base.keys if isinstance(decision, Apply) else self._current_keys(plan, item, base)
        if isinstance(decision, _Queued):
            ctx.queued.add(base.entry_id)
            self._count(ctx, plan.name, base, ((side, "queued"),), stored=stored)
            if base.state is RecordState.QUEUED and item.entry is base:
                return None
            return _evolve(
                base,
                state=RecordState.QUEUED,
                updated_at=now,
                history=self._append(base.history, now, "queued", "another pass held it (rule S9)"),
            )
        if isinstance(decision, NoChange):
            self._count(ctx, plan.name, base, ((side, "unchanged"),), stored=stored)
            if base.state is RecordState.SYNCED and base.mark == mark and item.entry is base:
                return None
            return _evolve(
                base,
                state=RecordState.SYNCED,
                category=None,
                reason=None,
                message="",
                attempts=0,
                mark=mark,
                keys=keys,
                deleted=None,
                updated_at=now if base.state is not RecordState.SYNCED else base.updated_at,
            )
        if isinstance(decision, Exclude):
            self._count(ctx, plan.name, base, ((side, "excluded"),), stored=stored)
            return _evolve(
                self._excluded(base, decision.reason, decision.message, now), mark=mark, keys=keys
            )
        if isinstance(decision, Fail):
            self._count(ctx, plan.name, base, ((side, "failed"),), stored=stored)
            shown = [r.properties for r in (item.record, item.counterpart) if r is not None]
            entry = self._failed(base, decision.category, decision.message, now, mark, keys, shown)
            if decision.category is ErrorCategory.DELETED:
                # R6: remember which side lost its record, for restore.
                lost = side if item.record is None else side.other
                if base.deleted is not None and base.deleted is not lost:
                    # Both records are gone: the entry keeps the index copy for a restore,
                    # but no longer owns their identifiers (M3).
                    entry = _evolve(entry, keys=frozenset(), deleted=base.deleted)
                else:
                    entry = _evolve(entry, deleted=lost)
            return entry
        assert isinstance(decision, Apply)
        failure: tuple[ErrorCategory, str, Side] | None = None
        created_id: str | None = None
        created_side: Side | None = None
        lost_create = False
        written: list[str] = []
        counted: list[tuple[Side, str]] = []
        planned: dict[Side, PlannedWrite] = {}
        for write_side, action, result in results:
            write = decision.write_on(write_side)
            if isinstance(result, AdapterError) or not result.succeeded:
                if failure is None:  # the record fails once, as status() counts it
                    counted.append((write_side, "failed"))
                category = result.category or ErrorCategory.UNKNOWN
                failure = failure or (category, result.message, write_side)
                if isinstance(result, AdapterError):
                    lost_create = lost_create or action == "create"
            elif action == "create":
                counted.append((write_side, "created"))
                created_id, created_side = result.record_id, write_side
                written.append(f"created on {write_side.value}")
            else:
                counted.append((write_side, "updated"))
                fields = ", ".join(sorted(write.properties)) if write is not None else ""
                written.append(f"updated {write_side.value}: {fields}")
            if ctx.dry_run and write is not None:
                planned[write_side] = PlannedWrite(
                    plan.name,
                    write_side,
                    "create" if isinstance(write, CreateIn) else "update",
                    write.record_id if isinstance(write, UpdateIn) else None,
                    dict(write.properties),
                    item.record_id if isinstance(write, CreateIn) else None,
                )
        self._count(ctx, plan.name, base, tuple(counted) or ((side, "unchanged"),), planned, stored)
        if failure is not None:
            category, message, _ = failure
            keys = self._current_keys(plan, item, base)
            entry = self._failed(
                base, category, message, now, mark, keys, (decision.hub_values, decision.app_values)
            )
            if lost_create:
                # The create may have happened remotely: keep it pending for settlement.
                write = next(w for w in decision.writes if isinstance(w, CreateIn))
                return _evolve(
                    entry,
                    pending=write.side,
                    pending_key=sent_key or entry.pending_key,
                    hub_values=decision.hub_values,
                    app_values=decision.app_values,
                )
            wrote = {s for s, counter in counted if counter == "updated"}
            copies = landed_copies(plan, decision, base, set(Side) - wrote) if wrote else None
            if copies is not None:  # what did land is in the copies (S6, D6)
                keys = self._current_keys(plan, item, base, landed(decision, wrote))
                entry = _evolve(entry, hub_values=copies[0], app_values=copies[1], keys=keys)
            return _evolve(entry, pending=None, pending_key=None)
        rewritten = bool(written) and _rewrites_keys(plan, decision)
        keys = self._current_keys(plan, item, base, decision if rewritten else None)
        hub_id, app_id = base.hub_id, base.app_id
        if created_id is not None and created_side is not None:
            if created_side is Side.HUB:
                hub_id = created_id
            else:
                app_id = created_id
        history = base.history
        for text in written:
            history = self._append(history, now, "synced", text)
        if not written and base.state is not RecordState.SYNCED:
            history = self._append(history, now, "synced", "already in sync")
        return _synced(
            base,
            hub_id=hub_id,
            app_id=app_id,
            keys=keys,
            matched_by=base.matched_by,
            hub_values=decision.hub_values,
            app_values=decision.app_values,
            mark=mark,
            updated_at=now,
            history=history,
        )

    def _count(
        self,
        ctx: _Pass,
        object_type: str,
        base: Entry,
        outcome: tuple[tuple[Side, str], ...],
        planned: Mapping[Side, PlannedWrite] | None = None,
        stored: Entry | None = None,
    ) -> None:
        """Count an entry's outcome in the report: each record once, in its final outcome.

        ``outcome`` is what happened, as (side, counter) pairs: one write per side written
        (``created``, ``updated``, or ``failed`` for a write that failed), or one status
        (``unchanged``, ``failed``, ``excluded``, ``queued``). A record a pass decides
        again (a retry of this pass's failure, a pair both of whose records changed, a
        settled create compared again) replaces its earlier status: a write that failed
        and then succeeded is one update. Writes that happened stay counted, once per
        side, and nothing that follows them in the pass is counted as unchanged (a record
        that ends unchanged after a write is counted by the write alone: a failure counted
        in between, by a retry that could not read the record, is taken back). A dry
        run lists each planned write once (``planned``, by side). ``stored``: the entry
        as the index held it when the batch read it (``base`` by default).
        """
        key = (object_type, base.entry_id)
        before = ctx.counted.pop(key, None)
        if before is None:
            before = self._counted_earlier(ctx, stored if stored is not None else base)
        report = ctx.report
        kept: list[tuple[Side, str]] = []
        if before is not None:
            writes = tuple(c for c in before if c[1] in _WRITES)
            if outcome[0][1] == "unchanged" and (writes or before is _SYNCED_EARLIER):
                if before is not _SYNCED_EARLIER:
                    # The writes stand and nothing since is counted as unchanged; a status
                    # counted between them and this outcome (a failed retry) is replaced.
                    self._take_back(ctx, object_type, before)
                    ctx.counted[key] = writes
                return
            kept.extend(writes)
            self._take_back(ctx, object_type, before)
        written = {side for side, counter in kept if counter in _WRITES}
        for side, counter in outcome:
            if counter in _WRITES and side in written:
                continue  # the record was written already in this pass: counted
            counts = report.side(object_type, side)
            setattr(counts, counter, getattr(counts, counter) + 1)
            kept.append((side, counter))
            if planned and counter in _WRITES and not self._preflighting:
                write = planned.get(side)
                if write is not None:
                    report.planned.append(write)
        ctx.counted[key] = result = tuple(kept)
        lone = [s for s in Side if base.id_on(s) is not None]
        ctx.batch_counted[key] = all(c in _WRITES or c == "unchanged" for _, c in result) or (
            len(lone) == 1 and result == ((lone[0], "excluded"),)
        )

    @staticmethod
    def _counted_earlier(ctx: _Pass, stored: Entry) -> tuple[tuple[Side, str], ...] | None:
        """What a pass with a mark counted for an entry it dropped from its ledger.

        Its mark says whether this pass counted it; its state what as: a lone record
        excluded (perhaps queued since as the next in line for a freed identifier, M3),
        or synced (unchanged or written: :data:`_SYNCED_EARLIER`).
        """
        if ctx.mark is None or stored.mark != ctx.mark:
            return None
        lone = [s for s in Side if stored.id_on(s) is not None]
        if stored.state in (RecordState.EXCLUDED, RecordState.QUEUED) and len(lone) == 1:
            return ((lone[0], "excluded"),)
        return _SYNCED_EARLIER

    def _uncount(
        self, ctx: _Pass, object_type: str, deletes: Sequence[tuple[str, str, str]]
    ) -> None:
        """Take back what the pass counted for entries it now deletes (forgotten, or merged
        into a pair): they have no outcome of their own. Writes that happened stay."""
        if not deletes:
            return
        unknown: list[str] = []
        for _, type_name, entry_id in deletes:
            key = (type_name, entry_id)
            ctx.batch_counted.pop(key, None)
            before = ctx.counted.pop(key, None)
            if before is not None:
                self._take_back(ctx, type_name, before)
            elif ctx.mark is not None:
                unknown.append(entry_id)
        if unknown:
            for entry in ctx.store.get(self.sync_id, object_type, unknown).values():
                before = self._counted_earlier(ctx, entry)
                if before is not None:
                    self._take_back(ctx, object_type, before)

    @staticmethod
    def _take_back(ctx: _Pass, object_type: str, counted: tuple[tuple[Side, str], ...]) -> None:
        """Subtract the statuses (not the writes) of an earlier count from the report.

        Never below zero: a resumed initial sync shares its mark with the process that
        crashed, whose counts are in that process's report, not this one's.
        """
        for side, counter in counted:
            if counter not in _WRITES and counter != "synced":
                counts = ctx.report.side(object_type, side)
                setattr(counts, counter, max(0, getattr(counts, counter) - 1))

    def _settle_counts(self, ctx: _Pass) -> None:
        """After a batch: in a pass with a mark, drop from the ledger the entries whose
        mark and state tell what was counted (see ``_Pass.counted``)."""
        if ctx.mark is not None:
            counted = ctx.counted
            for key, droppable in ctx.batch_counted.items():
                if droppable:
                    counted.pop(key, None)
        ctx.batch_counted.clear()

    def _current_keys(
        self, plan: ObjectPlan, item: _Item, base: Entry, written: Apply | None = None
    ) -> frozenset[str]:
        """The entry's identifier keys as its records hold them now (M3, M7).

        Pairs stay paired whatever their identifiers become, but their keys follow the
        records, so a new record with a pair's new e-mail is seen as its duplicate and an
        old e-mail is free again. Waiting-link keys (``~…``) are kept. ``written``: a
        decision whose writes succeeded, so the counterpart holds what it wrote.
        """
        if item.record is None or item.settled or item.queued:
            return base.keys
        if written is None or not isinstance(written.write_on(item.side), UpdateIn):
            keys = set(item.keys or identify(plan, item.side, item.record.properties))
        else:
            keys = set(identify(plan, item.side, _after(written, item.side, item.record)))
        if item.counterpart is not None:
            other = item.side.other
            keys.update(identify(plan, other, _after(written, other, item.counterpart)))
        elif item.other_error is not None:
            # The counterpart could not be read: it still holds what it held, as far as
            # anyone knows, so a new record with its identifier stays its duplicate.
            keys.update(base.keys)
        keys.update(k for k in base.keys if k.startswith("~"))
        return frozenset(keys)

    def _failed(
        self,
        base: Entry,
        category: ErrorCategory,
        message: str,
        now: datetime,
        mark: str | None,
        keys: frozenset[str],
        shown: Sequence[Mapping[str, Any] | None] = (),
    ) -> Entry:
        same = (
            base.state is RecordState.FAILED
            and base.category is category
            and base.message == message
        )
        # The log masks the values of the record (shown: those the failed pass held).
        quiet = self._preflighting
        _passlog.record_failed(self.sync_id, base, category, message, shown, quiet=quiet)
        return _evolve(
            base,
            state=RecordState.FAILED,
            category=category,
            reason=None,
            message=message,
            attempts=base.attempts + 1,
            mark=mark,
            keys=keys,
            updated_at=now,
            history=base.history if same else self._append(base.history, now, "failed", message),
        )

    def _excluded(self, base: Entry, reason: ExcludeReason, message: str, now: datetime) -> Entry:
        same = base.state is RecordState.EXCLUDED and base.reason is reason
        return _evolve(
            base,
            state=RecordState.EXCLUDED,
            reason=reason,
            category=None,
            message=message,
            updated_at=now if not same else base.updated_at,
            history=base.history if same else self._append(base.history, now, "excluded", message),
        )

    def _history(
        self, entry: Entry, now: datetime, action: str, detail: str
    ) -> tuple[HistoryItem, ...]:
        return self._append(entry.history, now, action, detail)

    def _append(
        self, history: tuple[HistoryItem, ...], now: datetime, action: str, detail: str
    ) -> tuple[HistoryItem, ...]:
        return (*history, HistoryItem(now, action, detail[:200]))[-self._history_size :]


def _describe(decision: Decision) -> str:
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


def _rewrites_keys(plan: ObjectPlan, decision: Apply) -> bool:
    """Whether the decision updates an identifier property of a record."""
    for write in decision.writes:
        if isinstance(write, UpdateIn):
            hub = write.side is Side.HUB
            properties = write.properties
            for key in plan.keys:
                if (key.hub if hub else key.app) in properties:
                    return True
    return False


def _after(written: Apply | None, side: Side, record: Record) -> Mapping[str, Any]:
    """A record's properties once a decision's successful update of it is applied."""
    update = written.write_on(side) if written is not None else None
    if isinstance(update, UpdateIn) and update.properties:
        return {**record.properties, **update.properties}
    return record.properties


def _with_id(entry: Entry, side: Side, record_id: str | None) -> Entry:
    """The entry with its record id on ``side`` set (or cleared)."""
    if side is Side.HUB:
        return _evolve(entry, hub_id=record_id)
    return _evolve(entry, app_id=record_id)


_ENTRY_INDEX: Final = {name: i for i, name in enumerate(FIELD_ORDER)}
_entry_values: Final = operator.attrgetter(*FIELD_ORDER)


def _synced(
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
        return _evolve(
            base,
            hub_id=hub_id,
            app_id=app_id,
            state=RecordState.SYNCED,
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
    return Entry(
        base.sync_id,
        base.object_type,
        base.entry_id,
        updated_at,
        hub_id,
        app_id,
        RecordState.SYNCED,
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


def _evolve(entry: Entry, **changes: Any) -> Entry:
    """``attrs.evolve(entry, **changes)``, faster: entries are copied several times per
    record on the hot path of every pass."""
    if not POSITIONAL:  # pragma: no cover - Entry takes FIELD_ORDER positionally
        return attrs.evolve(entry, **changes)
    values = list(_entry_values(entry))
    index = _ENTRY_INDEX
    for name, value in changes.items():
        values[index[name]] = value
    return Entry(*values)


#: Whole-call failures that say nothing about the items of the call (the app is down,
#: throttled, or refuses the credentials): never narrowed down, retried on a later pass.
_ABOUT_THE_APP: Final = frozenset(
    {ErrorCategory.RATE_LIMITED, ErrorCategory.UNAVAILABLE, ErrorCategory.PERMISSION}
)


def _batched(
    adapter: Adapter,
    items: Sequence[Any],
    call: Callable[[Sequence[Any]], Sequence[WriteResult]],
    *,
    resend_unknown: bool = True,
) -> list[WriteResult | AdapterError]:
    """Call a write method in ``max_batch_size`` chunks; one result per item, in order.

    A chunk the adapter rejects as a whole (it raises, or returns a wrong number of
    results) is narrowed down by halves (X1): each half is sent again, and the halves of
    a half that fails, until the items that make the call fail are alone. So one bad
    record fails itself and its neighbours are written, for about ``2 * log2(n)`` extra
    calls per bad record, and never more than ``2 * n - 2`` (when every item fails; as
    many as writing them one by one, twice). Failures that are
    about the app, not the items (``RATE_LIMITED``, ``UNAVAILABLE``, ``PERMISSION``),
    fail the whole chunk at once and are retried on a later pass; so are ``UNKNOWN``
    failures when ``resend_unknown`` is false (a create on an app without idempotency
    keys: an unknown failure may have created records, and a re-send would duplicate
    them; the engine settles such creates by identifier instead, S8).
    """
    out: list[WriteResult | AdapterError] = []
    for chunk in _chunks(items, adapter.max_batch_size):
        out.extend(_narrowed(adapter, chunk, call, resend_unknown, None))
    return out


def _call_once(
    adapter: Adapter, chunk: Sequence[Any], call: Callable[[Sequence[Any]], Sequence[WriteResult]]
) -> list[WriteResult] | AdapterError:
    try:
        results = list(call(chunk))
    except Exception as exc:
        return _as_adapter_error(exc)
    if len(results) != len(chunk):
        return AdapterError(
            ErrorCategory.UNKNOWN,
            f"adapter {adapter.name!r} returned {len(results)} results for {len(chunk)} items",
        )
    return results


def _narrowed(
    adapter: Adapter,
    chunk: Sequence[Any],
    call: Callable[[Sequence[Any]], Sequence[WriteResult]],
    resend_unknown: bool,
    known: AdapterError | None,
) -> list[WriteResult | AdapterError]:
    """The results of ``chunk`` (``known``: how a call of it failed already), narrowed."""
    outcome = known if known is not None else _call_once(adapter, chunk, call)
    if not isinstance(outcome, AdapterError):
        return list(outcome)
    if (
        len(chunk) == 1
        or outcome.category in _ABOUT_THE_APP
        or (outcome.category is ErrorCategory.UNKNOWN and not resend_unknown)
    ):
        return [outcome] * len(chunk)
    middle = len(chunk) // 2
    halves = (chunk[:middle], chunk[middle:])
    tried = [_call_once(adapter, half, call) for half in halves]
    out: list[WriteResult | AdapterError] = []
    for half, result in zip(halves, tried, strict=True):
        if isinstance(result, AdapterError):
            out.extend(_narrowed(adapter, half, call, resend_unknown, result))
        else:
            out.extend(result)
    return out
