"""Who holds a lease, and whether that holder is gone (rules S8, S9).

Every pass takes its leases as a new **owner** whose name says where it runs::

    <nonce>@<machine>:<boot>:<pid>:<start>

``nonce`` is random per pass; ``machine`` is a digest of the host name, the network
address (:func:`uuid.getnode`) and the process-id namespace, so that two containers, or
two hosts with one name, never look like one machine; ``boot`` tells the machine's boots
apart (Linux's boot id); ``pid`` and ``start`` (the process's start time in clock ticks
since boot, where ``/proc`` tells it) name the process.

A holder is **orphaned** when it is certain that it no longer runs: it ran on this
machine, and either the machine has booted since, or no process with its pid is running,
or the process with that pid started at another time (the pid was reused), or it is a
zombie (killed, not yet reaped); or it ran in this process and its pass is over (it
ended, or raised, without releasing every lease: see :func:`ends_its_passes`). Anything else counts
as alive: a holder on another machine, one whose name is in another (older) format. Its leases
are then taken over only when they expire (``lease_seconds``). Judging a live holder
dead would let two passes work on one record, so every doubt counts as alive.
"""

from __future__ import annotations

import functools
import hashlib
import os
import socket
import threading
import uuid
import weakref
from collections.abc import Callable
from typing import Final, ParamSpec, TypeVar

__all__ = ["ends_its_passes", "finished", "is_orphaned", "new_owner"]

_P = ParamSpec("_P")
_R = TypeVar("_R")


def _read(path: str) -> str | None:
    try:
        with open(path, encoding="ascii", errors="replace") as f:
            return f.read().strip()
    except OSError:
        return None


def _machine() -> str:
    try:
        pidns = os.readlink("/proc/self/ns/pid")
    except OSError:
        pidns = ""
    parts = (socket.gethostname(), str(uuid.getnode()), pidns)
    return hashlib.sha256("\0".join(parts).encode("utf-8", "surrogatepass")).hexdigest()[:16]


def _boot() -> str:
    boot = _read("/proc/sys/kernel/random/boot_id")
    return boot.replace("-", "")[:16] if boot else "-"


def _stat(pid: int) -> tuple[str, str] | None:
    """(state, start time) of a process from ``/proc``; ``None`` if it cannot be read."""
    text = _read(f"/proc/{pid}/stat")
    if not text or ")" not in text:
        return None
    # The command name (field 2) may hold spaces and parentheses: fields after the last
    # ")" are the state (field 3) onwards, the start time is field 22.
    fields = text.rsplit(")", 1)[1].split()
    if len(fields) < 20:
        return None
    return fields[0], fields[19]


_MACHINE: Final = _machine()
_BOOT: Final = _boot()
_PROC: Final = os.path.isdir("/proc/self")


def _process() -> str:
    pid = os.getpid()
    stat = _stat(pid) if _PROC else None
    return f"{_MACHINE}:{_BOOT}:{pid}:{stat[1] if stat else '-'}"


#: The owners of this process's passes that are running (see :func:`new_owner`).
_RUNNING: set[str] = set()
#: Reentrant: a pass's state freed by the garbage collector, which can run at any
#: allocation (also while this lock is held), ends its owner in its finalizer.
_LOCK: Final = threading.RLock()
#: Per thread, the owners made in each call of :func:`ends_its_passes` that is running.
_CALLS: Final = threading.local()


def new_owner(holder: object | None = None) -> str:
    """A new owner name for one pass, naming this process (see the module doc).

    The owner runs until :func:`finished` is called, or until ``holder`` (the pass's
    state) is garbage: a pass that raised is over once nothing refers to it.
    """
    owner = f"{uuid.uuid4().hex[:16]}@{_process()}"
    with _LOCK:
        _RUNNING.add(owner)
    calls: list[list[str]] | None = getattr(_CALLS, "owners", None)
    if calls:
        calls[-1].append(owner)
    if holder is not None:
        weakref.finalize(holder, finished, owner)
    return owner


def ends_its_passes(method: Callable[_P, _R]) -> Callable[_P, _R]:
    """``method``, whose passes are over once it returns or raises.

    The owners :func:`new_owner` makes (in this thread) while ``method`` runs are
    :func:`finished` when it exits, however it exits: leases a pass that raised could
    not release (the index failed, the process is being killed) are orphaned at once,
    not once the pass's state is garbage, which a traceback kept by the caller (a log
    record, ``sys.last_value``, a test's ``pytest.raises``) can put off for good.
    """

    @functools.wraps(method)
    def run(*args: _P.args, **kwargs: _P.kwargs) -> _R:
        calls: list[list[str]] | None = getattr(_CALLS, "owners", None)
        if calls is None:
            calls = _CALLS.owners = []
        calls.append([])
        try:
            return method(*args, **kwargs)
        finally:
            for owner in calls.pop():
                finished(owner)

    return run


def finished(owner: str) -> None:
    """The pass named ``owner`` is over: leases it still holds are orphaned."""
    with _LOCK:
        _RUNNING.discard(owner)


def _gone(pid: int, start: str) -> bool:
    """Whether the process ``pid`` (started at ``start``) certainly no longer runs."""
    if pid <= 0:
        return False
    if _PROC:
        stat = _stat(pid)
        if stat is None:
            # No /proc entry: gone, unless /proc could not be read for another reason.
            return not os.path.exists(f"/proc/{pid}")
        state, started = stat
        return state in ("Z", "X", "x") or (start != "-" and started != start)
    try:
        os.kill(pid, 0)
    except ProcessLookupError:
        return True
    except OSError:
        return False  # e.g. PermissionError: a process of another user runs with this pid
    return False


def _start_is_ours(start: str) -> bool:
    """Whether ``start`` is this process's start time (read once per pid: a fork is new)."""
    global _OURS
    pid = os.getpid()
    if _OURS is None or _OURS[0] != pid:
        stat = _stat(pid) if _PROC else None
        _OURS = (pid, stat[1] if stat else "-")
    return start == _OURS[1]


_OURS: tuple[int, str] | None = None


def is_orphaned(owner: str) -> bool:
    """Whether the pass named ``owner`` (a name from :func:`new_owner`, perhaps with a
    ``/suffix``) certainly no longer runs; ``False`` whenever that cannot be told."""
    _, at, where = owner.split("/", 1)[0].partition("@")
    if not at:
        return False
    parts = where.split(":")
    if len(parts) != 4 or parts[0] != _MACHINE:
        return False  # another machine (or another format): only its expiry tells
    _, boot, pid_text, start = parts
    if boot != _BOOT:
        return boot != "-" and _BOOT != "-"  # the machine booted since it ran
    try:
        pid = int(pid_text)
    except ValueError:
        return False
    if pid == os.getpid() and _start_is_ours(start):
        with _LOCK:
            return owner.split("/", 1)[0] not in _RUNNING
    return _gone(pid, start)
