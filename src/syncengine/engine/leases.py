"""Record leases and the workers' coordination leases (S9, docs/scale-out.md).

A pass holds a lease on every record of the batch it works on, and lets go after the
batch; a lease held by a pass whose process is gone is taken over at once.
"""

from __future__ import annotations

import contextlib
from collections.abc import Iterator, Sequence
from datetime import timedelta
from typing import Final

from syncengine._owner import is_orphaned
from syncengine.engine.context import Core, Pass
from syncengine.plan import ObjectPlan

__all__ = [
    "WAIT",
    "WORKERS",
    "acquire",
    "claim_lease",
    "exclusive",
    "lease",
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
        # ctx.leased is every lease this pass holds (leases never outlive a batch),
        # so releasing all of the owner's leases of the type is the same, in one
        # statement instead of one per name.
        ctx.store.release(core.sync_id, ctx.owner, None, plan.name)
        ctx.leased.clear()


#: Scale-out (docs/scale-out.md): the lease "object type" of the workers' coordination
#: leases, and how long a worker waiting for the others sleeps between looks.
WORKERS: Final = "~workers"


WAIT: Final = 0.2
