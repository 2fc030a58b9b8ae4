"""The initial sync (S3): index the hub, index the app and sync it, sync the hub.

Resumable page by page (S8); scaled out over workers by :mod:`.scaleout`.
"""

from __future__ import annotations

import contextlib
import gc
import itertools
import json
from collections.abc import Iterable, Iterator
from typing import Final

from syncengine import _passlog
from syncengine._merges import redirects
from syncengine._owner import ends_its_passes
from syncengine.engine import creates, lean
from syncengine.engine.batch import process
from syncengine.engine.context import CHUNK, Core, Pass, chunks, emit, unrecorded_meta
from syncengine.engine.guard import preflight
from syncengine.engine.leases import exclusive
from syncengine.engine.lifecycle import begin, end, settle, skipped
from syncengine.engine.match import index_side, read_changes
from syncengine.engine.merges import apply_merges
from syncengine.engine.ports import as_adapter_error, fetch, scan
from syncengine.engine.recheck import recheck_freed, recheck_merged, retry
from syncengine.engine.scaleout import forget_units, run_units, set_phase
from syncengine.engine.stored import meta_number, phase_of
from syncengine.entry import CursorUpdate
from syncengine.plan import ObjectPlan
from syncengine.records import Page, Side
from syncengine.report import SyncReport
from syncengine.states import RecordState

__all__ = [
    "UNSYNCED",
    "indexed_meta",
    "initial_sync",
    "paused_collector",
    "probe_app",
    "run_phase",
    "sync_unsynced_hub",
]


@ends_its_passes
@_passlog.recorded("initial")
def initial_sync(
    core: Core, dry_run: bool = False, *, allow_mass_changes: bool = False
) -> SyncReport:
    """Run (or resume) the initial sync: index hub, index app and sync, sync hub (S3).

    What :meth:`SyncEngine.initial_sync <syncengine.SyncEngine.initial_sync>` does.
    """
    if not core.enabled:
        return skipped(core, "initial", dry_run, "the sync is disabled")
    if not dry_run and not allow_mass_changes and core.partition is None:
        # An initial sync is guarded: a restarted one (a bad mapping must not overwrite
        # everything), and a first one over an app that holds records (a lost index or
        # a mistyped sync must not overwrite the user's edits, S2).
        preflight(core, lambda: initial_sync(core, dry_run=True), "initial")
    ctx = begin(core, "initial", dry_run, compare_all=True, catch_up=True, initial=True)
    store = ctx.store
    sid = core.sync_id
    workers = None if dry_run else core.partition
    # Scale-out: workers decide one at a time whether to join the running initial sync
    # or start one, so that they all run the same one (docs/scale-out.md).
    with exclusive(core, ctx, workers, "initial_start"):
        run_text = store.get_meta(sid, "initial_run")
        stored_run = meta_number(core, "initial_run", store)
        in_progress = (
            run_text is not None
            and store.get_meta(sid, "initial_done") != run_text
            and not core.restart_requested(store)
        )
        if in_progress:
            assert stored_run is not None
            run = stored_run
        elif workers is not None and run_text is not None and not core.initial_sync_running:
            # A worker never starts a finished initial sync again on its own: the
            # other workers may have finished it a moment ago.
            ctx.report.skipped = "the initial sync has completed"
            return end(core, ctx)
        else:
            run = (stored_run or 0) + 1
            store.write(
                cursors=[
                    CursorUpdate(sid, side, plan.name, None, name)
                    for plan in core.order
                    for side in Side
                    for name in ("initial_phase", "initial_scan", "initial_poll")
                ]
            )
            store.set_meta(sid, "initial_run", str(run))
            store.set_meta(sid, "initial_restart", None)
    ctx.mark = f"i{run}"
    ctx.own_mark = workers is None and not in_progress
    # An initial sync is guarded (S2): updates of existing records are measured against
    # the records of the app they change (the preflight counted them). Workers of a
    # first initial sync are not: no worker sees the whole of it.
    ctx.guarded = not allow_mass_changes and (workers is None or run > 1)
    for plan in core.order:
        settle(core, ctx, plan)
    for plan in core.order:
        phase = phase_of(core, store, plan.name)
        if workers is not None:
            run_units(core, ctx, plan, run, phase, workers)
            continue
        first: Page | None = None
        if phase <= 1:
            first = probe_app(core, ctx, plan)
            if first is None:
                # Nothing in the app could pair with a hub record: the hub index of
                # phase 1 would never be read. Phase 3 scans the hub and matches its
                # records among themselves as it goes (M3), and indexes what the app
                # gains meanwhile (catch_up).
                set_phase(core, ctx, plan, 3)
                phase = 3
        if phase <= 1:
            run_phase(core, ctx, plan, Side.HUB, "index_hub", index_only=True)
            set_phase(core, ctx, plan, 2)
        if phase <= 2:
            run_phase(core, ctx, plan, Side.APP, "index_app_and_sync", first=first)
            set_phase(core, ctx, plan, 3)
        if phase <= 3:
            if store.get_meta(sid, indexed_meta(plan.name)) == str(run):
                # Phase 1 indexed every hub record: phase 3 reads only those still
                # unsynced, by id, instead of scanning the hub again.
                sync_unsynced_hub(core, ctx, plan, first_run=run == 1)
            else:
                run_phase(core, ctx, plan, Side.HUB, "sync_hub")
            set_phase(core, ctx, plan, 4)
    for plan in core.order:
        # Entries left queued, by this run or a killed one, are retried now that the
        # scans are done: the scans may have passed them (S8, S9).
        recheck_merged(core, ctx, plan)
        recheck_freed(core, ctx, plan)
        retry(core, ctx, plan, queued_only=True)
    with exclusive(core, ctx, workers, "initial_finish"):
        if workers is not None and store.get_meta(sid, "initial_done") == str(run):
            ctx.phase = None  # another worker completed it
            return end(core, ctx)
        # The poll cursors were taken when each side's first scan started, so changes
        # made during the initial sync are picked up by the first incremental pass. A
        # side whose scan left a new record queued without an entry keeps its poll
        # cursor (before that record): the first incremental pass reads it again.
        unrecorded = {
            (plan.name, side)
            for plan in core.order
            for side in Side
            if store.get_meta(sid, unrecorded_meta(plan.name, side)) is not None
        }
        store.write(
            cursors=[
                c
                for plan in core.order
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
            store.set_meta(sid, unrecorded_meta(plan_name, side), None)
        if workers is not None:
            forget_units(core, ctx, run, workers)
        store.set_meta(sid, "initial_done", str(run))
    ctx.phase = None
    emit(core, ctx, "initial_sync_completed")
    return end(core, ctx)


def run_phase(
    core: Core,
    ctx: Pass,
    plan: ObjectPlan,
    side: Side,
    phase: str,
    *,
    index_only: bool = False,
    first: Page | None = None,
) -> None:
    """One scan of the initial sync, resumable page by page (S3, S8).

    ``first``: the scan's first page, read already (by :func:`probe_app`); the scan
    goes on from its cursor. Phase 1 (``index_only``) that indexes every hub record it
    reads records so, for phase 3 to read only the hub records still unsynced.
    """
    ctx.phase = phase
    ctx.processed = 0
    ctx.prefilter = True
    emit(core, ctx, "phase_started", plan.name)
    if phase == "sync_hub":
        read_changes_at_start(core, ctx, plan, Side.APP)
    elif phase == "index_app_and_sync":
        read_changes_at_start(core, ctx, plan, Side.HUB)
    sid = core.sync_id
    store = ctx.store
    since = store.cursor(sid, side, plan.name, "initial_scan")
    remember_poll = store.cursor(sid, side, plan.name, "initial_poll") is None
    run = store.get_meta(sid, "initial_run")
    skipped_meta = f"initial_unindexed:{plan.name}"
    if index_only and since is None:
        store.set_meta(sid, skipped_meta, None)  # a new scan: nothing skipped yet
    pages: Iterable[Page]
    # The probe's records, while no page after the probe's has held one of them (see
    # below); None once one has, or when the scan did not start with the probe's page.
    probed: set[str] | None = None
    probe_cursor: str | None = None
    if first is not None and since is None and first.cursor is not None:
        pages = itertools.chain((first,), scan(core, ctx, side, plan, first.cursor))
        probed, probe_cursor = {record.id for record in first.records}, first.cursor
    else:
        pages = scan(core, ctx, side, plan, since)  # an app that can only resume at the end
    last: str | None = None
    poll: str | None = None  # the probe page's cursor, once the scan went past it
    # The probe's records and cursor are kept in the index until the phase ends: a
    # process that resumes the phase after the probe's page compares the pages it reads
    # with them as this one would (the probe is read only when the sync begins).
    probe_meta = probe_meta_key(plan.name)
    kept_probe = side is Side.APP and not index_only and remember_poll
    if kept_probe and probed is not None:
        store.set_meta(sid, probe_meta, json.dumps([probe_cursor, sorted(probed)]))
    elif kept_probe and first is None and since is not None:
        probed, probe_cursor = resumed_probe(store.get_meta(sid, probe_meta))
    # Phase 1 keeps the hub values phase 2's lean path merges with, beside the entries.
    keep = lean.keeping(core, ctx, plan) if index_only else None
    for page in pages:
        apply_merges(core, ctx, plan, side, page.merged, page.records)
        cursors = []
        if (
            probed is not None
            and page is not first
            and any(record.id in probed for record in page.records)
        ):
            # A full scan yields each record once: a page after the probe's that holds
            # one of its records is no page of that scan but one of the changes made
            # since its last page, the probe's (its cursor covers every change made
            # after the full scan started). The records this run marked are skipped
            # here, an edit made since phase 2 read them too: the probe page's cursor
            # stays the poll cursor, so the first incremental pass reads that edit (S5);
            # written now, so a process that resumes the phase keeps it.
            poll, probed = probe_cursor, None
            if remember_poll:
                store.write(cursors=[CursorUpdate(sid, side, plan.name, poll, "initial_poll")])
        if page.cursor is not None:
            last = page.cursor
            cursors.append(CursorUpdate(sid, side, plan.name, page.cursor, "initial_scan"))
        if index_only:
            with paused_collector():
                unindexed = index_side(core, ctx, plan, side, page.records, cursors, keep=keep)
            if unindexed:
                # A record left without an entry (a bad id, or perhaps a create in
                # flight's): phase 3 must find it by scanning the hub again.
                store.set_meta(sid, skipped_meta, "1")
        elif side is Side.HUB and creates.applies(core, ctx, plan):
            # Phase 3's hub-only records with nothing unusual about them are created in
            # the app a page at a time; the rest as below.
            with paused_collector():
                rest, left = creates.sync_creates(core, ctx, plan, page, cursors)
            if rest or page.deleted or left:
                process(core, ctx, plan, side, rest, page.deleted, left, skip_marked=True)
        elif side is Side.APP and lean.applies(core, ctx, plan):
            # The page's matched pairs with nothing unusual about them, a page at a
            # time; the rest as below.
            with paused_collector():
                rest, left = lean.sync_matched(core, ctx, plan, page, cursors)
            if rest or page.deleted or left:
                process(core, ctx, plan, side, rest, page.deleted, left, skip_marked=True)
        else:
            # A phase resumed from the last page's cursor reads only what changed since:
            # deletions included (S8, R6).
            process(core, ctx, plan, side, page.records, page.deleted, cursors, skip_marked=True)
        ctx.processed += len(page.records)
        emit(core, ctx, "phase_progress", plan.name)
    if remember_poll and poll is None and last is not None:
        store.write(cursors=[CursorUpdate(sid, side, plan.name, last, "initial_poll")])
    if kept_probe:
        store.set_meta(sid, probe_meta, None)
    if index_only and store.get_meta(sid, skipped_meta) is None and run is not None:
        store.set_meta(sid, indexed_meta(plan.name), run)
    store.set_meta(sid, skipped_meta, None)
    emit(core, ctx, "phase_finished", plan.name)


def probe_meta_key(object_type: str) -> str:
    """The index meta key keeping the probe's cursor and records of ``object_type``'s
    initial sync while its phase 2 runs (see :func:`run_phase`)."""
    return f"initial_probe:{object_type}"


def resumed_probe(kept: str | None) -> tuple[set[str] | None, str | None]:
    """The probe's records and cursor a phase 2 that another process began kept in the
    index (see :func:`run_phase`), for the process that resumes it; (None, None) when
    none is kept or what is kept is not such a value (the phase then goes on without
    the probe's comparison, as a phase that did not begin with the probe)."""
    try:
        cursor, ids = json.loads(kept) if kept is not None else (None, None)
    except (ValueError, TypeError):
        return None, None
    if not isinstance(cursor, str) or not isinstance(ids, list):
        return None, None
    return {i for i in ids if isinstance(i, str)}, cursor


@contextlib.contextmanager
def paused_collector() -> Iterator[None]:
    """Pause Python's cyclic garbage collector while one page of phase 1, or of phase
    2's lean path, is worked on; resume it after, whatever the page did.

    Such a page holds its records, entries and decisions until it is done: thousands
    of container objects that live through several automatic collections, which move
    them to the oldest generation and so bring on full collections of the whole heap
    (about 6 % of the instructions of an initial sync of matched records). Reference
    counting frees what a page made once it is done; the few cycles it may make (an
    exception caught with its traceback) are collected once the collector resumes, so
    pausing holds no memory beyond the page's. A collector the host turned off stays
    off; one another thread's page paused is resumed by that page.
    """
    if not gc.isenabled():
        yield
        return
    gc.disable()
    try:
        yield
    finally:
        gc.enable()


def indexed_meta(object_type: str) -> str:
    """The index meta key naming the initial sync run whose phase 1 indexed every hub
    record of ``object_type`` it read (see :func:`sync_unsynced_hub`)."""
    return f"initial_indexed:{object_type}"


def sync_unsynced_hub(core: Core, ctx: Pass, plan: ObjectPlan, *, first_run: bool) -> None:
    """Phase 3 after a phase 1 that indexed every hub record: the hub records that are
    still unsynced (no entry this run processed) are read by id and processed, instead
    of a second scan of the whole hub (S3).

    Each record is read fresh, so what phase 3 creates in the app is the record as it is
    now; a record deleted since phase 1 is not read (the first incremental pass, which
    polls the hub from before phase 1, sees its deletion), and one added since is that
    pass's too, unless phase 2 indexed it first (it reads the hub's changes when it
    starts: a record added before then is read here).

    In the first initial sync every synced entry is one this run processed (and marked),
    so only the entries in other states are read from the index (synced ones, most of
    a matched sync, are not decoded); a later run also rereads the pairs an earlier run
    synced whose app record phase 2 did not meet (gone: R6).
    """
    ctx.phase = "sync_hub"
    ctx.processed = 0
    ctx.prefilter = True
    emit(core, ctx, "phase_started", plan.name)
    sid = core.sync_id
    adapter = core.adapters[Side.HUB]
    states = UNSYNCED if first_run else None
    ids = [
        e.hub_id
        for e in ctx.store.entries(sid, plan.name, states=states)
        if e.hub_id is not None and e.mark != ctx.mark and e.deleted is not Side.HUB
    ]
    if ids:
        read_changes_at_start(core, ctx, plan, Side.APP)
    for chunk in chunks(list(dict.fromkeys(ids)), max(1, min(CHUNK, adapter.max_batch_size))):
        try:
            fetched = fetch(core, Side.HUB, plan.type_on(Side.HUB), chunk)
        except Exception as exc:  # the phase stops here, as a failed scan would (S8)
            raise as_adapter_error(exc) from exc
        apply_merges(core, ctx, plan, Side.HUB, redirects(chunk, fetched), fetched.values())
        records = list({fetched[i].id: fetched[i] for i in chunk if i in fetched}.values())
        process(core, ctx, plan, Side.HUB, records, (), (), skip_marked=True)
        ctx.processed += len(records)
        emit(core, ctx, "phase_progress", plan.name)
    emit(core, ctx, "phase_finished", plan.name)


def read_changes_at_start(core: Core, ctx: Pass, plan: ObjectPlan, other: Side) -> None:
    """Index ``other``'s records added since the initial sync scanned it, as the phase
    that may create records in it starts: phase 2 reads the hub's (added since phase 1
    scanned it), phase 3 the app's (added since phase 2 scanned it, or since the probe
    found it empty). The phase then pairs its records with what ``other`` holds now,
    whatever the order it reads them in (M1, S3). Read once, before any record is
    decided (instead of before the phase's first create, which made the pairing of a
    record added meanwhile depend on whether the records read before it needed a
    create); a record added later is the first incremental pass's, as any change made
    after the initial sync."""
    if plan.sync.direction.flows_from(other.other):
        read_changes(core, ctx, plan, other)


#: Every state but synced (see :func:`sync_unsynced_hub`).
UNSYNCED: Final = frozenset(RecordState) - {RecordState.SYNCED}


def probe_app(core: Core, ctx: Pass, plan: ObjectPlan) -> Page | None:
    """The first page of a full scan of the app that holds a record, or ``None`` when
    the scan finds no record of the type (S3, phase 2 early).

    Run before phase 1, when phase 2 has not begun. The page found is phase 2's first
    page: phase 2 goes on from its cursor, so no page is read twice. An empty scan is
    phase 2 done: its cursor becomes the app's poll cursor, as phase 2's would, and the
    phase is reported (started and finished, nothing processed).
    """
    sid = core.sync_id
    store = ctx.store
    last: str | None = None
    for page in scan(core, ctx, Side.APP, plan, None):
        if page.records or page.deleted:
            return page
        if page.cursor is not None:
            last = page.cursor
    ctx.phase = "index_app_and_sync"
    ctx.processed = 0
    emit(core, ctx, "phase_started", plan.name)
    if last is not None and store.cursor(sid, Side.APP, plan.name, "initial_poll") is None:
        store.write(cursors=[CursorUpdate(sid, Side.APP, plan.name, last, "initial_poll")])
    emit(core, ctx, "phase_finished", plan.name)
    return None
