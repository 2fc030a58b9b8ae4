"""Who holds a lease, and whether it is gone (S8, S9): only a holder certainly gone is.

A lease's owner names its pass's process (machine, boot, pid, start time). A pass takes
over at once the leases of an owner that is orphaned; every doubt counts as alive, since
taking a live pass's leases would let two passes work on one record.
"""

from __future__ import annotations

import gc
import subprocess
import sys
import threading

from syncengine import _owner


def owner_of(pid: int, start: str, *, machine: str | None = None, boot: str | None = None) -> str:
    return f"0123456789abcdef@{machine or _owner._MACHINE}:{boot or _owner._BOOT}:{pid}:{start}"


def test_a_process_that_no_longer_runs_is_orphaned_a_running_one_is_not():
    child = subprocess.Popen([sys.executable, "-c", "import sys; sys.stdin.read()"], stdin=-1)
    try:
        stat = _owner._stat(child.pid)
        start = stat[1] if stat else "-"
        owner = owner_of(child.pid, start)
        assert not _owner.is_orphaned(owner)
        assert not _owner.is_orphaned(owner + "/worker")
        # Another process that got the same pid later (another start time) is not it.
        assert _owner.is_orphaned(owner_of(child.pid, "1")) is (start != "-")
    finally:
        child.communicate(b"", timeout=30)
    assert _owner.is_orphaned(owner)
    assert _owner.is_orphaned(owner + "/worker")


def test_a_pass_of_this_machine_before_it_rebooted_is_orphaned():
    assert _owner.is_orphaned(owner_of(1, "-", boot="0" * 16)) is (_owner._BOOT != "-")


def test_another_machine_or_an_owner_named_otherwise_is_alive():
    assert not _owner.is_orphaned(owner_of(1, "-", machine="another-machine"))
    assert not _owner.is_orphaned("e14b911ea98b450491fde469413c1a93")  # an older name
    assert not _owner.is_orphaned("someone-else")
    assert not _owner.is_orphaned("x@a:b")


def test_a_pass_of_this_process_is_orphaned_once_it_is_over():
    class Pass:
        pass

    running = Pass()
    owner = _owner.new_owner(running)
    assert not _owner.is_orphaned(owner)
    assert not _owner.is_orphaned(owner + "/worker")
    _owner.finished(owner)
    assert _owner.is_orphaned(owner)
    dropped = Pass()
    other = _owner.new_owner(dropped)
    assert not _owner.is_orphaned(other)
    del dropped  # a pass that raised and was dropped is over
    gc.collect()
    assert _owner.is_orphaned(other)


def test_a_pass_whose_method_raised_is_over_even_while_its_error_is_kept():
    class Pass:
        pass

    made: list[tuple[str, Pass]] = []

    @_owner.ends_its_passes
    def run(fail: bool, inner: bool = False) -> str:
        state = Pass()
        owner = _owner.new_owner(state)
        made.append((owner, state))  # the pass's state stays referenced
        if inner:
            run(False)  # a nested pass (a dry run's preflight) ends with its own call
            assert _owner.is_orphaned(made[-1][0])
            assert not _owner.is_orphaned(owner)
        if fail:
            raise RuntimeError(owner)
        return owner

    try:
        run(True, inner=True)
    except RuntimeError as exc:
        kept = exc
    assert all(_owner.is_orphaned(owner) for owner, _ in made)
    assert str(kept) == made[0][0]
    assert _owner.is_orphaned(run(False))
    outside = _owner.new_owner()  # made outside any such call: runs until finished
    assert not _owner.is_orphaned(outside)
    _owner.finished(outside)


def test_a_pass_state_collected_while_an_owner_is_made_does_not_deadlock(monkeypatch):
    """A pass's state in a reference cycle is freed by the garbage collector, which can
    run at any allocation, also while this thread holds the owners' lock in
    ``new_owner``: the state's finalizer then ends its owner without waiting on that
    lock forever. Seen as a hang of the concurrent-passes machine (seed 21): a
    reconcile stuck in ``new_owner``, in ``finished`` called by a finalizer."""

    class Running(set[str]):
        def add(self, owner: str) -> None:
            gc.collect()  # the collection an allocation here may start
            super().add(owner)

    class State:
        pass

    def make() -> None:
        holder = State()
        holder.cycle = holder  # type: ignore[attr-defined]
        _owner.new_owner(holder)
        del holder  # garbage, freed only by a collection
        _owner.new_owner()

    monkeypatch.setattr(_owner, "_RUNNING", Running(_owner._RUNNING))
    gc.collect()
    thread = threading.Thread(target=make, daemon=True)
    thread.start()
    thread.join(30)
    assert not thread.is_alive(), "new_owner deadlocked in a finalizer"
