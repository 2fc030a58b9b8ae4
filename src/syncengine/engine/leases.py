"""Record leases and the workers' coordination leases (S9, docs/scale-out.md).

A pass holds a lease on every record of the batch it works on, and lets go after the
batch; a lease held by a pass whose process is gone is taken over at once. A pass that
leaves a record another pass holds queued notes it (:func:`note_queued`); the holder
reads the note when it lets go, and marks the record queued again on its own outcome.
"""

from __future__ import annotations

import contextlib
from collections.abc import Callable, Iterator, Mapping, Sequence
from datetime import timedelta
from typing import Final

from syncengine._owner import is_orphaned
from syncengine.engine.context import Core, Pass
from syncengine.entry import CorruptEntry, Entry
from syncengine.errors import IndexStoreError
from syncengine.plan import ObjectPlan
from syncengine.records import Side
from syncengine.states import RecordState
from syncengine.transitions import queued

__all__ = [
    "WAIT",
    "WORKERS",
    "acquire",
    "claim_lease",
    "exclusive",
    "lease",
    "note_queued",
    "requeue_orphaned",
    "store_marks",
    "unlease",
    "worker_owner",
]


def worker_owner(ctx: Pass) -> str:
    """The owner of this pass's coordination leases (never released with a batch's)."""
    return f"{ctx.owner}/worker"


def claim_lease(core: Core, ctx: Pass, name: str) -> bool:
    """Take (or renew) a coordination lease for ``lease_seconds``; whether it is held."""
    return name in acquire(core, ctx, WORKERS, [name], worker_owner(ctx))


def acquire(core: Core, ctx: Pass, object_type: str, names: Sequence[str], owner: str) -> set[str]:
    """Claim names for ``owner`` for ``lease_seconds``; return those it holds (S9).

    A name held by a pass whose process is gone (killed, crashed: see
    :func:`~syncengine._owner.is_orphaned`) is taken over at once, with every other
    lease of that pass, instead of when the lease expires (S8): the new pass redoes
    its work (its cursors were not moved past it, its creates are pending). A live
    holder, or one this process cannot judge (another machine), keeps its leases.
    """
    sid = core.sync_id
    now = core.clock()
    until = now + timedelta(seconds=core.lease_seconds)
    held = ctx.store.acquire(sid, object_type, names, owner, until=until, now=now)
    # Held, every one (the usual answer): nothing to look up name by name.
    missing = [] if len(held) >= len(names) else [name for name in names if name not in held]
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
def exclusive(core: Core, ctx: Pass, workers: tuple[int, int] | None, name: str) -> Iterator[None]:
    """Run the block while no other worker runs it (nothing to do without workers).

    The lock is a lease in the index: a worker that dies holding it blocks the others
    for ``lease_seconds`` at most.
    """
    if workers is None:
        yield
        return
    while not claim_lease(core, ctx, name):
        core.sleep(WAIT)
    try:
        yield
    finally:
        ctx.store.release(core.sync_id, worker_owner(ctx), [name], WORKERS)


def lease(core: Core, ctx: Pass, plan: ObjectPlan, names: Sequence[str]) -> set[str]:
    """Claim names for this pass; return those it holds (S9)."""
    if ctx.dry_run or not names:
        return set(names)
    held = acquire(core, ctx, plan.name, names, ctx.owner)
    ctx.leased.update(held)
    return held


def unlease(core: Core, ctx: Pass, plan: ObjectPlan) -> None:
    if ctx.leased:
        sid = core.sync_id
        # ctx.leased is every lease this pass holds (leases never outlive a batch),
        # so releasing all of the owner's leases of the type is the same, in one
        # statement instead of one per name.
        ctx.store.release(sid, ctx.owner, None, plan.name)
        # Read after letting go: a note written before is seen here, and one written
        # after comes before its pass's queued mark, which then lands on this pass's
        # outcome (stored before the release). No note was ever written: no query.
        noted = ctx.store.holders(sid, notes_type(plan), ctx.leased)
        ctx.leased.clear()
        if noted:
            requeue(core, ctx, plan, noted)


def notes_type(plan: ObjectPlan) -> str:
    """The lease "object type" of the notes of ``plan``'s records left queued."""
    return f"{NOTES}{plan.name}"


def note_queued(core: Core, ctx: Pass, plan: ObjectPlan, names: Sequence[str]) -> None:
    """Note for the passes that hold the records ``names`` that this pass leaves them
    queued (S9); called before this pass writes their queued marks.

    A holder stores its outcome with a plain write when its work returns (it holds the
    records, not their entries' rows): written after a mark, it would erase it, and with
    it the change this pass saw (its cursor moves past that change). The holder reads
    the notes addressed to it when it lets go of its records (:func:`unlease`) and
    marks them queued again. A note is a lease of the name, owned by the holder's owner
    with :data:`NOTE_OWNER` after it; one left for a holder gone since (never read) is
    replaced. A name no pass holds now needs no note: its holder stored its outcome
    before it let go, so this pass's mark comes after it.
    """
    if not names or ctx.dry_run:
        return
    sid = core.sync_id
    holders = {
        name: f"{holder}{NOTE_OWNER}"
        for name, holder in ctx.store.holders(sid, plan.name, names).items()
        if holder != ctx.owner
    }
    if not holders:
        return
    kind = notes_type(plan)
    for name, owner in ctx.store.holders(sid, kind, list(holders)).items():
        if owner != holders[name]:
            ctx.store.release(sid, owner, [name], kind)
    now = core.clock()
    until = now + timedelta(seconds=core.lease_seconds)
    addressed: dict[str, list[str]] = {}
    for name, owner in holders.items():
        addressed.setdefault(owner, []).append(name)
    for owner, mine in addressed.items():
        # Granted, or extended if another pass noted it for the same holder already.
        ctx.store.acquire(sid, kind, mine, owner, until=until, now=now)


def requeue(core: Core, ctx: Pass, plan: ObjectPlan, noted: Mapping[str, str]) -> None:
    """Mark queued again the entries of the records other passes noted for this pass
    (see :func:`note_queued`), on what is stored now, then drop the notes (and those
    left for passes gone since, which this pass leased after them).

    The mark is written only on the entry as read (a compare-and-set, as every write of
    an entry this pass no longer holds), read again until it is stored. An entry
    queued already keeps its mark; one forgotten or unreadable is left as it is.
    """
    mine = f"{ctx.owner}{NOTE_OWNER}"
    # A note left for a pass gone since is dropped: this pass read the record itself.
    mark_queued(core, ctx, plan, [name for name, owner in noted.items() if owner == mine])
    drop_notes(core, ctx, plan, noted)


def mark_queued(core: Core, ctx: Pass, plan: ObjectPlan, names: Sequence[str]) -> None:
    """Mark queued the entries of the records ``names`` (``<side>:<record id>``) on
    what is stored now (see :func:`requeue`)."""
    if not names:
        return
    sid = core.sync_id
    now = core.clock()
    ids: dict[Side, list[str]] = {}
    for name in names:
        side, _, record_id = name.partition(":")
        if side in _SIDES and record_id:
            ids.setdefault(Side(side), []).append(record_id)
    marks: dict[str, tuple[Entry, Entry]] = {}
    for side, record_ids in ids.items():
        for entry in ctx.store.by_record_ids(sid, plan.name, side, record_ids).values():
            if type(entry) is not CorruptEntry and entry.state is not RecordState.QUEUED:
                marks[entry.entry_id] = (entry, queued(core.history_size, entry, now))
    store_marks(
        core,
        ctx,
        plan,
        marks,
        lambda _, current: (
            None if current.state is RecordState.QUEUED else queued(core.history_size, current, now)
        ),
    )


def drop_notes(core: Core, ctx: Pass, plan: ObjectPlan, noted: Mapping[str, str]) -> None:
    """Release the notes ``noted`` (name: owner) of ``plan``'s records."""
    owners: dict[str, list[str]] = {}
    for name, owner in noted.items():
        owners.setdefault(owner, []).append(name)
    for owner, names in owners.items():
        ctx.store.release(core.sync_id, owner, names, notes_type(plan))


def requeue_orphaned(core: Core, ctx: Pass, plan: ObjectPlan) -> None:
    """Mark queued the records of the notes left for holders that are gone (S9).

    A holder that dies after it stored its outcome and before it read its notes
    (:func:`unlease`) leaves them unread, and its outcome erased the queued marks they
    were about; the passes that left them moved their cursors past the changes. A note
    whose holder is gone (:func:`~syncengine._owner.is_orphaned`), or that expired (its
    holder, on another machine, held its records longer than ``lease_seconds``: it
    counts as gone, as its leases do), is read here instead: its record is marked
    queued again on what is stored now, and the note dropped. A note for a live holder
    is left to it. One read of the notes of ``plan`` (there is mostly none); called by
    every pass that retries queued entries, before it lists them.
    """
    if ctx.dry_run:
        return
    notes = ctx.store.leases(core.sync_id, notes_type(plan))
    if not notes:
        return
    now = core.clock()
    gone = {
        name: owner for name, (owner, until) in notes.items() if until <= now or is_orphaned(owner)
    }
    if gone:
        mark_queued(core, ctx, plan, list(gone))
        drop_notes(core, ctx, plan, gone)


def store_marks(
    core: Core,
    ctx: Pass,
    plan: ObjectPlan,
    marks: Mapping[str, tuple[Entry, Entry]],
    rebase: Callable[[str, Entry], Entry | None],
) -> None:
    """Store queued marks on entries this pass does not hold (S9): each ``entry_id:
    (read, marked)`` is written only on the entry as read (a compare-and-set,
    :meth:`IndexStore.replace_unchanged <syncengine.index.IndexStore.replace_unchanged>`).
    An entry changed since gets ``rebase(entry_id, current)`` written on what is stored
    now (``None``: it needs no mark any more), read again until it is stored; an entry
    forgotten, or whose row cannot be read now, is left as it is.
    """
    for _ in range(_MARK_ROUNDS):
        if not marks:
            return
        lost = ctx.store.replace_unchanged(core.sync_id, plan.name, list(marks.values()))
        again: dict[str, tuple[Entry, Entry]] = {}
        for entry_id, current in lost.items():
            if current is None or type(current) is CorruptEntry:
                continue
            marked = rebase(entry_id, current)
            if marked is not None:
                again[entry_id] = (current, marked)
        marks = again
    if marks:
        raise IndexStoreError(
            f"{ctx.store!r} did not store the queued mark of {len(marks)} entries of "
            f"{plan.name!r} (e.g. {next(iter(marks))!r}) in {_MARK_ROUNDS} attempts: "
            f"replace_unchanged answered each time that the entry had changed since it "
            f"was read"
        )


#: The notes of records left queued: the lease "object type" prefix (followed by the
#: object sync's name) and the suffix of their owner (the holder's owner before).
NOTES: Final = "~queued/"
NOTE_OWNER: Final = "/queued"
_SIDES: Final = frozenset(side.value for side in Side)
#: How many times :func:`store_marks` writes a mark whose entry changed since it was
#: read (each time, another pass stored the entry in between).
_MARK_ROUNDS: Final = 20


#: Scale-out (docs/scale-out.md): the lease "object type" of the workers' coordination
#: leases, and how long a worker waiting for the others sleeps between looks.
WORKERS: Final = "~workers"


WAIT: Final = 0.2
