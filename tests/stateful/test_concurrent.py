"""Passes running at once: the convergence machine with more processes on one index.

``test_convergence.py``'s machine runs one pass at a time, to its end (a killed pass
stops for good). Here two more processes (``workers``), each with its own engine and its
own connection to the index (SQLite), run passes that stop half-way: a worker's pass
runs in a thread of its own that hands control back at **pause points** (before and
after every call to an app, before every index write), and a rule lets it run on to its
``k``-th next pause point, or to its end. Between the steps of a paused pass, the apps'
users edit, add and delete records, faults come and go, the machine's own engine runs
whole passes, and the other worker runs its own pass a step further: every
interleaving of two or three passes the rules can draw, at the granularity of calls.

Never do two threads run at once: the machine's thread waits while a worker runs, a
worker waits while anything else does. A run is as deterministic as the one-pass
machine: Hypothesis replays and shrinks it.

Each worker's leases last longer than any run (a live pass is never overtaken by the
expiry of its leases: a pass stalled beyond ``lease_seconds`` is not modelled); the
machine's own engine keeps the default (300 s) and its ``kill`` rule's processes
killed on another machine are taken over when those expire, on the injected clock.

What is checked: everything ``test_convergence.py`` checks after every step
(:func:`always`: nothing lost, the index tells the truth, no duplicate made) holds
while passes are paused; each pass's creates are no duplicates of records that held
their e-mail when it started (M3); a pass's counts are checked when no other pass ran
meanwhile; and once every paused pass is run to its end and the faults stop, the sync
converges (:func:`converged`), nothing stays queued (S8, S9) and no update is lost.
"""

from __future__ import annotations

import gc
import importlib.util
import sys
import threading
from collections.abc import Callable
from pathlib import Path
from types import ModuleType
from typing import Any

from hypothesis import strategies as st
from hypothesis.stateful import initialize, precondition, rule

from syncengine import AdapterError, ChangeEvent, RecordState, Side, SyncEngine, SyncReport
from syncengine.index import IndexStore, SQLiteIndexStore
from syncengine.testing import Crash


def _convergence() -> ModuleType:
    """tests/stateful/test_convergence.py (a plain file: tests are not a package)."""
    name = "syncengine_tests_stateful_convergence"
    if name not in sys.modules:
        path = Path(__file__).with_name("test_convergence.py")
        spec = importlib.util.spec_from_file_location(name, path)
        assert spec is not None
        assert spec.loader is not None
        module = importlib.util.module_from_spec(spec)
        sys.modules[name] = module
        spec.loader.exec_module(module)
    return sys.modules[name]


conv = _convergence()
SYNC_ID = conv.SYNC_ID
sides = conv.sides

#: The workers' ``lease_seconds``: longer than any run (see the module doc).
WORKER_LEASE_SECONDS = 10**7
#: Index store methods that write: a worker's pass pauses before each.
INDEX_WRITES = frozenset(
    {
        "write",
        "write_indexed",
        "write_built",
        "write_new",
        "write_created",
        "write_announced",
        "write_announced_created",
        "write_synced",
        "write_synced_rows",
        "replace_unchanged",
        "set_cursor",
        "set_meta",
        "acquire",
        "release",
        "add_pass",
        "inbox_add",
        "inbox_remove",
    }
)
#: How long the machine waits for a worker to pause or end: a worker that does neither
#: within this time waits for the machine (a deadlock of the test, or of the engine).
HANDOFF_SECONDS = 120.0
#: Pause points a pass runs past (0: to its end), mostly few.
STEPS = st.one_of(st.integers(1, 4), st.integers(0, 30))
#: The passes a worker runs.
WORKER_PASSES = ("initial", "incremental", "reconcile", "events")


class _Pausing(conv._Killable):  # type: ignore[misc,name-defined]
    """The index as a worker reaches it: killable, and pausing before every write."""

    def __init__(self, store: IndexStore, pause: Callable[[], None]) -> None:
        super().__init__(store)
        self.pause = pause
        #: The record leases the process holds, by (owner, object sync): to pause while
        #: it holds some.
        self.held: dict[tuple[str, str], set[str]] = {}
        #: The index write the process is about to make (its name and arguments), while
        #: it pauses before it.
        self.calling: tuple[str, tuple[Any, ...], dict[str, Any]] | None = None

    def __getattr__(self, name: str) -> Any:
        found = super().__getattr__(name)
        if name not in INDEX_WRITES or not callable(found):
            return found

        def call(*args: Any, **kwargs: Any) -> Any:
            self.calling = (name, args, kwargs)
            try:
                self.pause()
            finally:
                self.calling = None
            result = found(*args, **kwargs)
            if name == "acquire" and not args[1].startswith("~"):
                self.held.setdefault((args[3], args[1]), set()).update(result)
            elif name == "release":
                owner, names, object_type = [*args[1:4], None, None][:3]
                for key in [k for k in self.held if k[0] == owner]:
                    if object_type is None or (key[1] == object_type and names is None):
                        del self.held[key]
                    elif key[1] == object_type:
                        self.held[key].difference_update(names)
            return result

        return call

    @property
    def holding(self) -> bool:
        return any(self.held.values())

    @property
    def letting_go(self) -> bool:
        """Whether the process is about to release record leases (a batch's, after
        its outcome is stored), not coordination leases or notes."""
        if self.calling is None or self.calling[0] != "release":
            return False
        args, kwargs = self.calling[1:]
        object_type = args[3] if len(args) > 3 else kwargs.get("object_type")
        return object_type is not None and not object_type.startswith("~")


class _Aborted(Crash):
    """A worker's pass stopped for good at a pause point (the test ended)."""


class Worker:
    """Another process: its own engine over the apps and its own index connection. Its
    passes run in a thread that stops at every pause point the machine asks it to."""

    def __init__(self, machine: ConcurrentMachine, number: int) -> None:
        self.machine = machine
        self.number = number
        self.index = machine.worker_index()
        self.process: Any = None
        self.engine = self.new_engine()
        self.thread: threading.Thread | None = None
        self.go = threading.Event()
        self.stopped = threading.Event()
        self.budget = 0  # pause points to pass before the next pause (0: run to the end)
        self.holding = False  # count only the pause points where the pass holds leases
        self.aborting = False
        #: The pass runs on to its next release of record leases, and pauses there.
        self.to_release = False
        #: The process dies at the pause point it is stopped at (``SIGKILL``).
        self.dying = False
        self.report: SyncReport | None = None
        self.error: BaseException | None = None
        self.kind = ""
        self.start: Any = None  # the PassStart of the pass under way
        self.created: dict[Side, list[tuple[str, str, Any]]] = {s: [] for s in Side}
        #: Another pass ran while this one was under way (its counts are not checked).
        self.overlapped = False
        #: Users changed records while this pass was paused: its counts are checked all
        #: the same (each record once, in its final outcome), but not as a complete
        #: reconcile's (a record added meanwhile has no entry yet).
        self.edited = False
        self.seen: Any = None  # the apps' records when the pass paused
        self.events: tuple[Side, list[ChangeEvent]] | None = None

    @property
    def busy(self) -> bool:
        return self.thread is not None

    def new_engine(self) -> SyncEngine:
        """The worker's engine, as its (re)started process builds it."""
        self.process = _Pausing(self.index, self.pause)
        m = self.machine
        return SyncEngine(
            m.faulty[Side.HUB],
            m.faulty[Side.APP],
            self.process,
            conv.make_config(linked=m.linked),
            clock=m.clock,
            sleep=m.clock.advance,
            lease_seconds=WORKER_LEASE_SECONDS,
        )

    def restart(self) -> None:
        """The worker's process died: a new one opens the index and builds an engine."""
        gc.collect()
        if self.index is not self.machine.index:
            self.index.close()
            self.index = self.machine.worker_index()
        self.engine = self.new_engine()

    # ---- in the worker's thread --------------------------------------------------------
    def pause(self) -> None:
        """A pause point: stop here if the machine said so, until it says go."""
        if threading.current_thread() is not self.thread:
            return
        if self.aborting:
            raise _Aborted
        if self.to_release:
            if not self.process.letting_go:
                return
            self.to_release = False
        elif self.budget == 0 or (self.holding and not self.process.holding):
            return
        else:
            self.budget -= 1
            if self.budget > 0:
                return
        self.go.clear()
        self.stopped.set()
        self.go.wait()
        if self.aborting:
            raise _Aborted
        if self.dying:
            raise Crash

    def body(self, action: Callable[[SyncEngine], SyncReport]) -> None:
        try:
            self.report = action(self.engine)
        except BaseException as error:  # handed to the machine's thread
            self.error = error
        finally:
            self.stopped.set()

    # ---- in the machine's thread -------------------------------------------------------
    def begin(
        self, kind: str, action: Callable[[SyncEngine], SyncReport], steps: int, holding: bool
    ) -> None:
        """Start a pass and run it to its ``steps``-th pause point (0: to its end); with
        ``holding``, count only the points where it holds record leases."""
        self.kind = kind
        self.report = self.error = None
        self.created = {s: [] for s in Side}
        self.overlapped = False
        self.edited = False
        self.start = self.machine.before_pass()
        self.thread = threading.Thread(
            target=self.body, args=(action,), name=f"worker-{self.number}", daemon=True
        )
        self.stopped.clear()
        self.budget, self.holding = steps, holding
        self.to_release = self.dying = False
        marks = self.marks()
        self.machine.overlap(self)
        self.thread.start()
        self.wait(marks)

    def resume(self, steps: int, holding: bool = False) -> None:
        """Run the paused pass on to its ``steps``-th next pause point (0: to its end)."""
        assert self.thread is not None
        self.budget, self.holding = steps, holding
        marks = self.marks()
        self.machine.overlap(self)
        # The apps' users changed records while the pass was paused: its report counts
        # what it met, the index holds more (a record added, deleted meanwhile).
        self.edited |= self.seen != self.machine.records()
        self.stopped.clear()
        self.go.set()
        self.wait(marks)

    def die(self, letting_go: bool) -> None:
        """The paused pass's process dies (``SIGKILL``) at its pause point, before an
        index write: nothing more of it reaches the index. With ``letting_go``, it runs
        on first to its next release of record leases (a batch's outcome stored, the
        notes left for it unread), if it makes one before its end."""
        assert self.thread is not None
        if letting_go:
            self.to_release = True
            self.resume(0)
            if self.thread is None:
                return  # the pass ended first
        self.process.dead = True
        self.dying = True
        self.resume(0)

    def marks(self) -> dict[Side, int]:
        return {s: len(self.machine.faulty[s].created) for s in Side}

    def wait(self, marks: dict[Side, int]) -> None:
        """Wait until the pass pauses or ends; note its creates, and finish it if done."""
        assert self.thread is not None
        if not self.stopped.wait(HANDOFF_SECONDS):
            raise AssertionError(
                f"worker {self.number}'s {self.kind} pass neither paused nor ended in "
                f"{HANDOFF_SECONDS} s: a deadlock"
            )
        for side in Side:
            self.created[side].extend(self.machine.faulty[side].created[marks[side] :])
        if self.thread.is_alive() and self.error is None and not self.done():
            self.seen = self.machine.records()
            return
        self.thread.join(HANDOFF_SECONDS)
        assert not self.thread.is_alive(), f"worker {self.number} does not end"
        self.thread = None
        self.finish()

    def done(self) -> bool:
        return self.report is not None or self.error is not None

    def finish(self) -> None:
        """The pass ended: restart the process if it died, then check the pass."""
        error, report = self.error, self.report
        if isinstance(error, _Aborted):
            return
        if self.events is not None:
            side, events = self.events
            self.events = None
            if report is None:  # not delivered: the webhooks are sent again
                self.machine.events[side][:0] = events
        if isinstance(error, Crash):
            self.restart()
        elif error is not None and not isinstance(error, AdapterError):
            raise error
        self.machine.edited_mid_pass = self.edited
        try:
            self.machine.check_pass(self.start, report, self.created, alone=not self.overlapped)
        finally:
            self.machine.edited_mid_pass = False

    def abort(self) -> None:
        """Stop a paused pass for good (the test ended): it dies at its pause point."""
        if self.thread is None:
            return
        self.process.dead = True
        self.aborting = True
        self.go.set()
        self.thread.join(HANDOFF_SECONDS)
        self.thread = None

    def close(self) -> None:
        if self.index is not self.machine.index:
            self.index.close()


class ConcurrentMachine(conv.MemoryIndexMachine):  # type: ignore[misc,name-defined]
    """The convergence machine (one engine run pass by pass, memory index) with two
    more processes whose passes pause half-way (see the module doc)."""

    def __init__(self) -> None:
        self.workers: list[Worker] = []
        #: Whether ``drift`` hid a change since the last quiescence.
        self.drifted = False
        #: Whether a user edited a record while a pass other than an initial sync was
        #: under way before the side had a poll cursor, since the last quiescence: such
        #: an edit can wait for a reconcile (a first-ever reconcile's cursor passes it).
        self.edited_unpolled = False
        super().__init__()
        for side in Side:
            self.faulty[side].on_call(self.pause_point(before=True))
            self.faulty[side].on_call(self.pause_point(before=False), after=True)
        self.workers = [Worker(self, n) for n in range(2)]

    # ---- plumbing ------------------------------------------------------------------------
    def worker_index(self) -> IndexStore:
        """The index as a worker's process opens it (the memory store is one object)."""
        return self.index  # type: ignore[no-any-return]

    def current_worker(self) -> Worker | None:
        thread = threading.current_thread()
        return next((w for w in self.workers if w.thread is thread), None)

    def pause_point(self, *, before: bool) -> Callable[[str, int], None]:
        def hook(method: str, _: int) -> None:
            worker = self.current_worker()
            if worker is not None:
                worker.pause()

        return hook

    def killer(self, side: Side, *, after: bool) -> Callable[[str, int], None]:
        """The one-pass machine's ``kill``, whichever process makes the call: a worker's
        dies on this machine (the order to die elsewhere was the machine's engine's)."""
        hook = super().killer(side, after=after)

        def kill(method: str, n: int) -> None:
            try:
                hook(method, n)
            except Crash:
                if self.current_worker() is not None and self.process is not None:
                    self.process.elsewhere = False
                raise

        return kill  # type: ignore[no-any-return]

    def running_process(self) -> Any:
        worker = self.current_worker()
        return self.process if worker is None else worker.process

    def others_running(self) -> bool:
        return any(w.busy for w in self.workers)

    def records(self) -> dict[Side, dict[str, dict[str, Any]]]:
        """The apps' records, by side and id: their properties."""
        return {s: {i: dict(r.properties) for i, r in rs.items()} for s, rs in self.live().items()}

    def overlap(self, running: Worker | None = None) -> None:
        """A pass runs (``running``'s, or the machine's engine's): every other pass
        under way overlaps with it (its counts are not checked)."""
        for worker in self.workers:
            worker.overlapped |= worker.busy and worker is not running

    def run(self, action: Callable[[SyncEngine], SyncReport]) -> SyncReport | None:
        self.overlap()
        return super().run(action)  # type: ignore[no-any-return]

    def stop_processes(self) -> None:
        for worker in self.workers:
            worker.abort()
            worker.close()

    @initialize(
        records=st.lists(
            st.tuples(
                sides,
                st.sampled_from(conv.EMAILS),
                st.sampled_from(conv.NAMES),
                st.sampled_from(conv.PHONES),
            ),
            max_size=5,
        ),
        synced=st.booleans(),
    )
    def seed(self, records: list[tuple[Side, Any, Any, Any]], synced: bool) -> None:
        """Users start with a few contacts, synced already or not: passes have records
        to hold from the first step on."""
        for side, email, name, phone in records:
            self.create(side, email, name, phone)
        if synced:
            self.sync("initial")

    # ---- the workers' passes ---------------------------------------------------------------
    @rule(
        number=st.integers(0, 1),
        kind=st.sampled_from(WORKER_PASSES),
        side=sides,
        steps=STEPS,
        holding=st.booleans(),
    )
    def start(self, number: int, kind: str, side: Side, steps: int, holding: bool) -> None:
        """A worker starts a pass and runs it to its ``steps``-th pause point (0: to its
        end); with ``holding``, to its ``steps``-th point where it holds leases on
        records (a batch under way), where other passes meet them held."""
        worker = self.workers[number]
        if worker.busy:
            return
        self.clock.advance()
        action: Callable[[SyncEngine], SyncReport]
        if kind == "initial":
            action = lambda engine: engine.initial_sync()  # noqa: E731
        elif kind == "incremental":
            action = lambda engine: engine.incremental_sync()  # noqa: E731
        elif kind == "reconcile":
            action = lambda engine: engine.reconcile()  # noqa: E731
        else:
            events = self.faulty[side].scramble_events(self.events[side])
            self.events[side] = []
            worker.events = (side, events)
            action = lambda engine: engine.handle_events(side, events)  # noqa: E731
        worker.begin(kind, action, steps, holding)

    @precondition(lambda self: any(w.busy for w in self.workers))
    @rule(number=st.integers(0, 1), steps=STEPS, holding=st.booleans())
    def resume(self, number: int, steps: int, holding: bool) -> None:
        """A paused pass runs on to its ``steps``-th next pause point (0: to its end;
        ``holding``: as in :meth:`start`)."""
        busy = [w for w in self.workers if w.busy]
        worker = busy[number % len(busy)]
        worker.resume(steps, holding)

    @precondition(lambda self: any(w.busy for w in self.workers))
    @rule(number=st.integers(0, 1), letting_go=st.booleans())
    def die(self, number: int, letting_go: bool) -> None:
        """A paused pass's process dies (``SIGKILL``) at its pause point, between two
        index writes (or before a call to an app); with ``letting_go``, once it ran on
        to its next release of record leases: its outcome is stored, and it never reads
        the notes other passes left for it (TestAHolderKilledBeforeItReadsItsNotes).
        Its leases are taken over at once (it ran on this machine)."""
        busy = [w for w in self.workers if w.busy]
        busy[number % len(busy)].die(letting_go)

    @precondition(lambda self: any(w.busy and w.process.holding for w in self.workers))
    @rule(
        pick=st.integers(0, 99),
        field=st.integers(0, 2),
        data=st.data(),
        kind=st.sampled_from(["incremental", "events", "reconcile"]),
        holder_dies=st.booleans(),
    )
    def contend(
        self, pick: int, field: int, data: st.DataObject, kind: str, holder_dies: bool
    ) -> None:
        """A user edits a record a paused pass holds (read already, its outcome not
        stored yet), and the machine's engine runs a pass at once: it meets the record
        held, leaves it queued and moves on (S9). The holder's outcome, stored later,
        must not erase that change (the interleaving of test_queue_kept.py and its
        kin, drawn here among all the others). With ``holder_dies``, the holder then
        runs on to its next release of record leases and its process dies there: its
        outcome stored, the note the engine's pass left for it unread
        (TestAHolderKilledBeforeItReadsItsNotes)."""
        held = sorted(
            (name, worker.number)
            for worker in self.workers
            if worker.busy
            for names in worker.process.held.values()
            for name in names
            if name.partition(":")[0] in {s.value for s in Side}
        )
        if not held:
            return
        name, number = held[pick % len(held)]
        side_name, _, record_id = name.partition(":")
        side = Side(side_name)
        ids = self.live_ids(side)
        if record_id not in ids:
            return  # deleted since
        self.edit(side, ids.index(record_id), field, data)
        self.events[side].append(ChangeEvent(conv.TYPES[side], record_id, "updated"))
        if kind == "events":
            self.deliver_events(side, 0)
        else:
            self.sync(kind)
        holder = self.workers[number]
        if holder_dies and holder.busy:
            holder.die(letting_go=True)

    @precondition(lambda self: any(self.inner[s].count(conv.TYPES[s]) for s in self.inner))
    @rule(side=sides, pick=st.integers(0, 99), field=st.integers(1, 2), data=st.data())
    def drift(self, side: Side, pick: int, field: int, data: st.DataObject) -> None:
        """As in the one-pass machine, while no worker's pass is under way (a paused pass
        reads the change and moves the poll cursor back before it)."""
        if not self.others_running():
            self.drifted = True
            super().drift(side, pick, field, data)

    def edit(self, side: Side, pick: int, field: int, data: st.DataObject) -> str | None:
        """As in the one-pass machine; an edit while a pass other than an initial sync is
        under way before the side has a poll cursor is noted (see
        :meth:`check_incremental`)."""
        busy = any(w.busy and w.kind != "initial" for w in self.workers)
        self.edited_unpolled |= busy and self.index.cursor(SYNC_ID, side, conv.HUB_TYPE) is None
        return super().edit(side, pick, field, data)  # type: ignore[no-any-return]

    def settle_and_check(self) -> None:
        """Every paused pass runs to its end (the faults stopped); incremental passes
        alone then bring every synced pair together (:meth:`check_incremental`); then
        the sync settles as in the one-pass machine (reconciles)."""
        for faulty in self.faulty.values():
            faulty.clear()
        self.kill_at = None
        self.process.elsewhere = False
        for worker in self.workers:
            if worker.busy:
                worker.resume(0)
        if not (self.drifted or self.edited_unpolled):
            self.check_incremental()
        self.drifted = self.edited_unpolled = False
        super().settle_and_check()

    def check_incremental(self) -> None:
        """With no change hidden from the change feeds (no ``drift``), incremental
        passes alone, run until one writes nothing, leave nothing queued and every
        synced pair equal on both sides and in the index copy (S6, S9): a change a pass
        saw and left queued for the holder of its record is never lost, nor waits for a
        reconcile (the queued marks, the holder's notes).

        Not checked after an edit made while a pass other than an initial sync was under
        way before the side had a poll cursor (a first-ever reconcile: its scan's cursor
        can pass the edit); the reconciles after find it. An edit made while an initial
        sync runs is checked: the first incremental pass reads it
        (``TestEditsMadeWhileAnInitialSyncRuns``)."""
        if self.killed_elsewhere:
            # The leases of the process killed on another machine expire.
            self.clock.advance(conv.LEASE_SECONDS + 1)
            self.killed_elsewhere = False
        reports = []
        for _ in range(conv.MAX_QUIESCE_PASSES):
            self.clock.advance()
            before = conv.facts(self.index)
            report = self.engine.incremental_sync()
            reports.append(report.summary())
            # An incremental pass that finishes an initial sync another process left
            # is that sync's end (its report's kind says so): the first pass after it
            # reads what the sync left for it.
            if report.writes == 0 and before == conv.facts(self.index) and report.kind != "initial":
                break
        else:
            raise AssertionError(f"incremental passes do not settle: {reports}")
        live = self.live()
        for entry in self.index.entries(SYNC_ID):
            assert entry.state is not RecordState.QUEUED, f"S9: still queued: {entry}"
            if entry.state is not RecordState.SYNCED:
                continue
            hub = live[Side.HUB].get(entry.hub_id)
            app = live[Side.APP].get(entry.app_id)
            if hub is None or app is None:
                continue  # a deletion: the reconcile's business (R6)
            conv._fields_agree(entry, Side.HUB, hub, app)


class ConcurrentSQLiteMachine(ConcurrentMachine):
    """The machine over a SQLite index file: every process its own connection."""

    def open_index(self) -> IndexStore:
        return SQLiteIndexStore(self.tmp / "index.db")

    def reopen_index(self) -> IndexStore:
        self.index.close()
        return self.open_index()

    def worker_index(self) -> IndexStore:
        return self.open_index()


# With the ``ci`` profile: 200 runs over the memory index and 100 over SQLite, 30 steps
# each, random as every other machine's (a failure is replayed with its seed).
ConcurrentMachine.TestCase.settings = conv._settings(2.0)
ConcurrentSQLiteMachine.TestCase.settings = conv._settings(1.0)
TestConcurrentPassesWithMemoryIndex = ConcurrentMachine.TestCase
TestConcurrentPassesWithSQLiteIndex = ConcurrentSQLiteMachine.TestCase
