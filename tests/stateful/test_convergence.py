"""Convergence under faults: a Hypothesis state machine over two apps and each index store.

Like vdirsyncer's ``SyncMachine`` (STYLE §8): rules play the apps' users (create, update and
delete contacts on either side, with e-mails that collide across and within apps, vanish
and change), inject faults through :class:`~syncengine.testing.FaultyAdapter` (whole calls
that fail, items that fail, lost confirmations, processes that die mid-pass, processes
killed mid-pass with their leases held, scans that end early, random faults), and run
initial, incremental, event-driven, reconcile and dry passes in any order. A ``Crash``
(the process dying) is caught and a new engine is built on the same apps and index, like
a restarted process.

What must hold after every step is checked by :func:`always` (as an ``@invariant``); what
must hold once the faults stop and passes run until one writes nothing is checked by
:func:`converged` (in the ``quiesce`` rule, and at the end of every run).

Profiles: CI runs the ``ci`` Hypothesis profile; ``SYNCENGINE_HYPOTHESIS_PROFILE=long`` is
the soak run (see ``tests/stateful/README.md``).
"""

from __future__ import annotations

import gc
import re
import shutil
import tempfile
from collections import Counter
from collections.abc import Callable, Iterable, Mapping, Sequence
from datetime import UTC, datetime, timedelta
from pathlib import Path
from typing import Any

import attrs
from hypothesis import HealthCheck, settings
from hypothesis import strategies as st
from hypothesis.stateful import (
    RuleBasedStateMachine,
    invariant,
    precondition,
    rule,
)

from syncengine import (
    AdapterError,
    ChangeEvent,
    ErrorCategory,
    ExcludeReason,
    FieldMapping,
    MatchRule,
    ObjectSchema,
    ObjectSync,
    PropertySpec,
    RecordState,
    Side,
    SyncConfig,
    SyncEngine,
    SyncReport,
)
from syncengine.adapters import InMemoryAdapter
from syncengine.index import Entry, IndexStore, MemoryIndexStore, SQLiteIndexStore
from syncengine.testing import Crash, FaultyAdapter

SYNC_ID = "convergence"
HUB_TYPE = "contacts"
APP_TYPE = "people"

HUB_SCHEMA = ObjectSchema(
    HUB_TYPE,
    [
        PropertySpec("email", "string"),
        PropertySpec("firstname", "string"),
        PropertySpec("phone", "string"),
    ],
)
APP_SCHEMA = ObjectSchema(
    APP_TYPE,
    [
        PropertySpec("mail", "string"),
        PropertySpec("first_name", "string"),
        PropertySpec("tel", "string"),
    ],
)
#: (hub property, app property) of every mapped field; the first is the identifier.
FIELDS = (("email", "mail"), ("firstname", "first_name"), ("phone", "tel"))
EMAIL = {Side.HUB: "email", Side.APP: "mail"}
TYPES = {Side.HUB: HUB_TYPE, Side.APP: APP_TYPE}
#: Companies, for the variant whose contacts keep links to them (no company records: the
#: contacts take the engine's path for object syncs that keep links).
COMPANY_SCHEMAS = {
    Side.HUB: ObjectSchema(
        "companies", [PropertySpec("name", "string"), PropertySpec("domain", "string")]
    ),
    Side.APP: ObjectSchema(
        "accounts", [PropertySpec("company", "string"), PropertySpec("website", "string")]
    ),
}


def make_config(*, linked: bool = False, **changes: Any) -> SyncConfig:
    """Two-way contacts ↔ people, matched by e-mail, default settings; with ``linked``,
    the contacts keep their links to companies (``associations``)."""
    obj = ObjectSync(
        HUB_TYPE,
        APP_TYPE,
        [FieldMapping(h, a) for h, a in FIELDS],
        match=MatchRule.email("email", "mail"),
        associations=("companies",) if linked else (),
    )
    if not linked:
        return SyncConfig(SYNC_ID, [obj], **changes)
    companies = ObjectSync(
        "companies",
        "accounts",
        [FieldMapping("name", "company"), FieldMapping("domain", "website")],
        match=MatchRule.company(("name", "company"), ("domain", "website")),
    )
    return SyncConfig(SYNC_ID, [companies, obj], **changes)


class FakeClock:
    """A clock that moves only when told (time is injected, DESIGN §4)."""

    def __init__(self) -> None:
        self.now = datetime(2024, 1, 1, tzinfo=UTC)

    def __call__(self) -> datetime:
        return self.now

    def advance(self, seconds: float = 1.0) -> None:
        self.now += timedelta(seconds=seconds)


_EMAIL = re.compile(r"[^@\s]+@[^@\s]+\.[a-z]+")


def identifier(value: object) -> str | None:
    """The normalized e-mail a test value stands for, or ``None`` (M4, M6).

    The test's values are few and plain (``"ada@x.io"``, ``" ADA@x.io "``,
    ``"not-an-email"``, ``""``), so a trim, a case-fold and a simple shape are enough; the
    engine's own normalizer is not used as its own oracle.
    """
    if not isinstance(value, str):
        return None
    text = value.strip().casefold()
    return text if _EMAIL.fullmatch(text) else None


def blank_to_none(value: object) -> object:
    """A string value as the engine compares it: blank text is ``None`` (D2, D4)."""
    if isinstance(value, str) and not value.strip():
        return None
    return value


def state_counts(entries: Iterable[Entry]) -> dict[RecordState, int]:
    """Entry counts by state, as the index's ``counts`` reports them."""
    return dict(Counter(e.state for e in entries))


def facts(index: IndexStore) -> list[tuple[Any, ...]]:
    """What the entries say, without the bookkeeping a pass always refreshes (marks, times)."""
    return sorted(
        (
            e.entry_id,
            e.hub_id,
            e.app_id,
            e.state,
            e.category,
            e.reason,
            sorted(e.keys),
            sorted((e.hub_values or {}).items(), key=repr),
            sorted((e.app_values or {}).items(), key=repr),
            e.pending,
        )
        for e in index.entries(SYNC_ID)
    )


def always(
    index: IndexStore,
    live: Mapping[Side, Mapping[str, Any]],
    ever: Mapping[Side, set[str]],
    deleted_by_test: Mapping[Side, set[str]],
    made_by_test: Mapping[Side, set[str]],
) -> list[Entry]:
    """Check what holds after every step, faults or not; return the entries.

    * X3: every record that ever existed and the test did not delete still exists.
    * No record belongs to two entries (a pair is never made twice).
    * ``index.counts`` equals what the entries say (R4).
    * States tell the truth: failed has a category, excluded a reason, synced is a pair
      without a create in flight (R1–R3).
    * Entries name only records that exist, or that the test deleted.
    * The engine never created a record that ended up excluded (a duplicate it made), nor
      a pair of two records it created; records it created and no entry names are covered
      by creates in flight (S8). A record the engine created and the test then gave
      another e-mail counts as the test's (``update``).
    """
    entries = list(index.entries(SYNC_ID))
    for side in Side:
        vanished = ever[side] - deleted_by_test[side] - set(live[side])
        assert not vanished, f"X3: the engine deleted {side} records {sorted(vanished)}"
    counts = index.counts(SYNC_ID).get(HUB_TYPE, {})
    assert state_counts(entries) == {s: n for s, n in counts.items() if n}, "R4: counts"
    holders: dict[tuple[Side, str], str] = {}
    for entry in entries:
        for side in Side:
            rid = entry.id_on(side)
            if rid is None:
                continue
            other = holders.setdefault((side, rid), entry.entry_id)
            assert other == entry.entry_id, (
                f"{side} record {rid} is in two entries: {other} and {entry.entry_id}"
            )
            assert rid in live[side] or rid in deleted_by_test[side], (
                f"entry {entry.entry_id} names {side} record {rid}, which never existed"
            )
        if entry.state is RecordState.FAILED:
            assert entry.category is not None, f"R2: failed entry {entry} has no category"
            assert entry.message, f"R2: failed entry {entry.entry_id} has no message"
        if entry.state is RecordState.EXCLUDED:
            assert entry.reason is not None, f"R3: excluded entry {entry} has no reason"
            assert entry.message, f"R3: excluded entry {entry.entry_id} has no message"
        if entry.state is RecordState.SYNCED:
            assert None not in (entry.hub_id, entry.app_id), f"synced, not a pair: {entry}"
            assert entry.pending is None, f"synced entry {entry.entry_id} has a create in flight"
            assert (None, None) == (entry.category, entry.reason), f"synced with a cause: {entry}"
        made = [
            s for s in Side if entry.id_on(s) is not None and entry.id_on(s) not in made_by_test[s]
        ]
        if entry.state is RecordState.EXCLUDED:
            assert not made, (
                f"the engine created {made[0]} record {entry.id_on(made[0])}, now excluded "
                f"({entry.reason}): a duplicate it made ({entry})"
            )
        assert len(made) < 2, f"a pair of two records the engine created: {entry}"
    for side in Side:
        named = {e.id_on(side) for e in entries}
        orphans = {rid for rid in live[side] if rid not in made_by_test[side] and rid not in named}
        in_flight = sum(1 for e in entries if e.pending is side)
        assert len(orphans) <= in_flight, (
            f"S8: {side} records {sorted(orphans)} were created by the engine and no entry "
            f"names them ({in_flight} creates in flight)"
        )
    return entries


def converged(
    entries: list[Entry],
    live: Mapping[Side, Mapping[str, Any]],
    deleted_by_test: Mapping[Side, set[str]],
    made_by_test: Mapping[Side, set[str]],
) -> int:
    """Check a sync that has quiesced (no faults, a pass that wrote nothing).

    Returns how many records were checked.

    * Nothing is in flight, initial, queued, or failed for any reason but a deletion.
    * Every live record is named by exactly one entry.
    * A synced pair's mapped fields agree on both sides (D2–D4: with two-way sync and the
      default winner, values end equal; blanks are filled) and the index copy is exact.
    * A failed entry is a deletion the test made (R6), the other record kept (X3).
    * An excluded record is truthfully so: no identifier means no valid e-mail (M5); a
      duplicate means another live record of its app holds the same e-mail and syncs (M3).
    * Every record the engine created is paired with a record the test created.
    """
    by_id: dict[tuple[Side, str], Entry] = {}
    for entry in entries:
        assert entry.pending is None, f"S8: a create still in flight: {entry}"
        assert entry.state not in (RecordState.INITIAL, RecordState.QUEUED), f"stuck: {entry}"
        for side in Side:
            rid = entry.id_on(side)
            if rid is not None:
                by_id[(side, rid)] = entry
        if entry.state is RecordState.FAILED:
            assert entry.category is ErrorCategory.DELETED, (
                f"R7: after the faults stopped, {entry.entry_id} still fails: "
                f"{entry.category}: {entry.message}"
            )
            gone = [s for s in Side if entry.id_on(s) is not None and entry.id_on(s) not in live[s]]
            assert gone, f"R6: failed as deleted, but both records exist: {entry}"
            for side in gone:
                assert entry.id_on(side) in deleted_by_test[side], f"X3: {entry}"
            assert entry.deleted in gone, f"R6: entry names the wrong deleted side: {entry}"
    checked = 0
    for side in Side:
        for rid, record in live[side].items():
            checked += 1
            entry = by_id.get((side, rid))
            assert entry is not None, (
                f"S6: live {side} record {rid} {dict(record.properties)} has no entry"
            )
            other = side.other
            other_id = entry.id_on(other)
            if rid not in made_by_test[side]:
                assert other_id in made_by_test[other], (
                    f"the engine created {side} record {rid}, not paired with a record of the "
                    f"test: {entry}"
                )
            if entry.state is RecordState.SYNCED:
                counterpart = live[other].get(other_id or "")
                assert counterpart is not None, f"synced with a missing record: {entry}"
                _fields_agree(entry, side, record, counterpart)
            elif entry.state is RecordState.EXCLUDED:
                _truly_excluded(entry, side, record, live, by_id)
    return checked


def _fields_agree(entry: Entry, side: Side, record: Any, counterpart: Any) -> None:
    hub, app = (record, counterpart) if side is Side.HUB else (counterpart, record)
    for hub_name, app_name in FIELDS:
        hub_value = blank_to_none(hub.properties.get(hub_name))
        app_value = blank_to_none(app.properties.get(app_name))
        assert hub_value == app_value, (
            f"D2/D6: {hub_name}/{app_name} differ after quiescence: hub {hub.id} "
            f"{hub_value!r}, app {app.id} {app_value!r} ({entry})"
        )
        assert (entry.hub_values or {}).get(hub_name) == hub_value, (
            f"S6: the index copy of hub {hub_name} is stale: {entry}"
        )
        assert (entry.app_values or {}).get(app_name) == app_value, (
            f"S6: the index copy of app {app_name} is stale: {entry}"
        )


def _truly_excluded(
    entry: Entry,
    side: Side,
    record: Any,
    live: Mapping[Side, Mapping[str, Any]],
    by_id: Mapping[tuple[Side, str], Entry],
) -> None:
    assert entry.id_on(side.other) is None, f"an excluded pair: {entry}"
    email = identifier(record.properties.get(EMAIL[side]))
    if entry.reason is ExcludeReason.NO_IDENTIFIER:
        assert email is None, f"M5: excluded as without identifier but has {email!r}: {entry}"
        return
    assert entry.reason is ExcludeReason.DUPLICATE, f"unexpected exclusion: {entry}"
    assert email is not None, f"M3: a duplicate without an e-mail: {entry}"
    holders = [
        other
        for other_id, other in live[side].items()
        if other_id != record.id
        and identifier(other.properties.get(EMAIL[side])) == email
        and by_id[(side, other_id)].state is not RecordState.EXCLUDED
    ]
    assert holders, (
        f"M3: {side} record {record.id} ({email}) is excluded as a duplicate, but no other "
        f"{side} record with that e-mail syncs: {entry.message!r}"
    )


# --------------------------------------------------------------------------------------
# The machine
# --------------------------------------------------------------------------------------
#: E-mails that collide across and within apps (" ADA@x.io " is ada@x.io), and ones that
#: are no identifier at all (M4).
EMAILS = ("ada@x.io", " ADA@x.io ", "bob@x.io", "cy@x.io", "not-an-email", "", None)
NAMES = ("Ada", "Bob", "Cy", "", None)
PHONES = ("1", "2", None)
POOLS = (EMAILS, NAMES, PHONES)
sides = st.sampled_from(Side)
WRITE_METHODS = ("create", "update")
#: Lookups of creates in flight (S8) fail and crash like any call.
CALL_METHODS = ("scan", "fetch", "create", "update", "lookup_idempotency_keys")
CALL_CATEGORIES = (
    ErrorCategory.UNAVAILABLE,
    ErrorCategory.RATE_LIMITED,
    ErrorCategory.UNKNOWN,
    ErrorCategory.PERMISSION,
)
#: Passes run until one writes nothing; more than this many means no convergence.
MAX_QUIESCE_PASSES = 6
#: The engine's default ``lease_seconds``.
LEASE_SECONDS = 300


@attrs.frozen
class PassStart:
    """What a pass's checks compare its outcome with (:meth:`ConvergenceMachine.before_pass`):
    the records' identifiers, how many creates each app had seen, each entry's attempts."""

    identifiers: dict[Side, dict[str, str | None]]
    created: dict[Side, int]
    attempts: dict[str, int]


class _Killable:
    """The index as one process reaches it. Once the process is killed (``SIGKILL``),
    nothing it does reaches the index: it releases no lease and writes nothing more.

    A process ``elsewhere`` runs on another machine: its leases name that machine, so
    no other process can tell whether it runs, and they are free only once they expire.
    """

    def __init__(self, store: IndexStore) -> None:
        self.store = store
        self.dead = False
        self.elsewhere = False

    def __getattr__(self, name: str) -> Any:
        found = getattr(self.store, name)
        if not callable(found):
            return found
        at = {"acquire": 3, "release": 1}.get(name)  # the position of the lease's owner

        def call(*args: Any, **kwargs: Any) -> Any:
            if self.dead:
                raise Crash
            if self.elsewhere and at is not None:
                args = (*args[:at], args[at].replace("@", "@elsewhere-", 1), *args[at + 1 :])
            return found(*args, **kwargs)

        return call

    # The webhook inbox is looked up on the class (``keeps_inbox``): passed through too.
    def inbox_add(self, *args: Any, **kwargs: Any) -> Any:
        return self.__getattr__("inbox_add")(*args, **kwargs)

    def inbox(self, *args: Any, **kwargs: Any) -> Any:
        return self.__getattr__("inbox")(*args, **kwargs)

    def inbox_remove(self, *args: Any, **kwargs: Any) -> Any:
        return self.__getattr__("inbox_remove")(*args, **kwargs)

    def inbox_count(self, *args: Any, **kwargs: Any) -> Any:
        return self.__getattr__("inbox_count")(*args, **kwargs)

    # The pass history is looked up on the class too (``keeps_history``).
    def add_pass(self, *args: Any, **kwargs: Any) -> Any:
        return self.__getattr__("add_pass")(*args, **kwargs)

    def passes(self, *args: Any, **kwargs: Any) -> Any:
        return self.__getattr__("passes")(*args, **kwargs)


class ConvergenceMachine(RuleBasedStateMachine):
    """Two in-memory apps behind FaultyAdapters, one index store, one engine at a time."""

    #: The apps' class: in-memory apps take idempotency keys (S8's re-sent creates).
    app_class: type[InMemoryAdapter] = InMemoryAdapter
    #: Whether the contacts keep links to companies (the engine's other path for pairs).
    linked: bool = False
    #: Whether users changed records while the pass being checked ran (check_counts).
    edited_mid_pass: bool = False

    def __init__(self) -> None:
        super().__init__()
        self.clock = FakeClock()
        self.inner: dict[Side, InMemoryAdapter] = {}
        self.faulty: dict[Side, FaultyAdapter] = {}
        self.made: dict[Side, set[str]] = {s: set() for s in Side}
        self.deleted: dict[Side, set[str]] = {s: set() for s in Side}
        self.ever: dict[Side, set[str]] = {s: set() for s in Side}
        self.events: dict[Side, list[ChangeEvent]] = {s: [] for s in Side}
        self.restarts = 0
        #: Mapped fields the users changed since the last quiescence, by (side, record id):
        #: field index -> the value last written (see :meth:`check_no_lost_update`).
        self.edits: dict[tuple[Side, str], dict[int, Any]] = {}
        #: The synced pairs at the last quiescence.
        self.pairs: set[tuple[str, str]] = set()
        self.busy = False  # a step or check is running; teardown skips after a failure
        # Small pages and batches, so that passes span several of each.
        for side, prefix, page in ((Side.HUB, "h", 2), (Side.APP, "a", 3)):
            inner = self.app_class(
                [HUB_SCHEMA if side is Side.HUB else APP_SCHEMA]
                + ([COMPANY_SCHEMAS[side]] if self.linked else []),
                name=side.value,
                clock=self.clock,
                id_prefix=prefix,
                page_size=page,
                max_batch_size=2,
            )
            self.inner[side] = inner
            self.faulty[side] = FaultyAdapter(inner, seed=7, sleep=self.clock.advance)
            self.faulty[side].on_call(self.killer(side, after=False))
            self.faulty[side].on_call(self.killer(side, after=True), after=True)
        #: (side, method, after) of the call before (or after) which the process is
        #: killed (see ``kill``).
        self.kill_at: tuple[Side, str, bool] | None = None
        #: Whether a process on another machine was killed since the last quiescence:
        #: its leases are free once they expire (``lease_seconds``).
        self.killed_elsewhere = False
        self.process: _Killable | None = None
        self.tmp = Path(tempfile.mkdtemp(prefix="syncengine-convergence-"))
        self.index = self.open_index()
        self.engine = self.new_engine()

    # ---- plumbing ---------------------------------------------------------------------
    def open_index(self) -> IndexStore:
        """A fresh (or, after a crash, reopened) index store."""
        raise NotImplementedError

    def reopen_index(self) -> IndexStore:
        """The index a restarted process sees."""
        return self.index

    def new_engine(self) -> SyncEngine:
        """An engine over the apps and the index, as a (re)started process builds it."""
        self.process = _Killable(self.index)
        return SyncEngine(
            self.faulty[Side.HUB],
            self.faulty[Side.APP],
            self.process,  # type: ignore[arg-type]
            make_config(linked=self.linked),
            clock=self.clock,
            sleep=self.clock.advance,
        )

    def killer(self, side: Side, *, after: bool) -> Callable[[str, int], None]:
        """A hook that kills the process before (or after) the call ``kill`` chose,
        leases held."""

        def hook(method: str, _: int) -> None:
            process = self.running_process()
            if self.kill_at == (side, method, after) and process is not None:
                self.kill_at = None
                process.dead = True
                self.killed_elsewhere |= process.elsewhere
                raise Crash

        return hook

    def running_process(self) -> _Killable | None:
        """The process whose pass makes the current call."""
        return self.process

    def restart(self) -> None:
        """The process died: a new one opens the index and builds a new engine."""
        self.restarts += 1
        # The killed process's passes are over (nothing of it runs any more).
        gc.collect()
        self.index = self.reopen_index()
        self.engine = self.new_engine()

    def live(self) -> dict[Side, dict[str, Any]]:
        """The live records of both apps by id (read from the apps, not through faults)."""
        return {s: {r.id: r for r in self.inner[s].records(TYPES[s])} for s in Side}

    def live_ids(self, side: Side) -> list[str]:
        return sorted(r.id for r in self.inner[side].records(TYPES[side]))

    def identifiers(self) -> dict[Side, dict[str, str | None]]:
        return {
            s: {rid: identifier(r.properties.get(EMAIL[s])) for rid, r in records.items()}
            for s, records in self.live().items()
        }

    def run(self, action: Callable[[SyncEngine], SyncReport]) -> SyncReport | None:
        """Run a pass; an app that fails a whole call stops it, a crash restarts the process.

        Checks what :meth:`check_pass` checks.
        """
        before = self.before_pass()
        report = None
        try:
            report = action(self.engine)
        except AdapterError:
            pass
        except Crash:
            self.restart()
        self.check_pass(before, report)
        return report

    def before_pass(self) -> PassStart:
        """What :meth:`check_pass` compares a pass's outcome with, read as it starts."""
        return PassStart(
            self.identifiers(),
            {s: len(self.faulty[s].created) for s in Side},
            {e.entry_id: e.attempts for e in self.index.entries(SYNC_ID)},
        )

    def check_pass(
        self,
        start: PassStart,
        report: SyncReport | None,
        created: Mapping[Side, Sequence[tuple[str, str, Mapping[str, Any]]]] | None = None,
        *,
        alone: bool = True,
    ) -> None:
        """Check a pass that started at ``start`` and ended with ``report`` (``None``: it
        stopped on an error or a crash).

        Checks that every record the engine created during the pass was not a duplicate:
        no other record of its app held that e-mail both when the pass started and when
        it ended (a pair whose hub record moved to another e-mail has its app record
        moved too, which frees the old one within the pass), and the pass created no
        other record with it (M3, S8). ``created`` is what the pass created (by default,
        every create since ``start``). Unless another pass ran while it did (not
        ``alone``), its report's counts are checked too (:meth:`check_counts`).
        """
        before = start.identifiers
        tries = start.attempts
        if alone and report is not None and not report.dry_run:
            # R4: a record this pass failed is counted as failed by its report, as
            # status() counts it (a failure can only add attempts).
            failed_now = [
                e.entry_id
                for e in self.index.entries(SYNC_ID, states={RecordState.FAILED})
                if e.attempts > tries.get(e.entry_id, 0)
            ]
            assert len(failed_now) <= report.failed, (
                f"R4: the pass failed {len(failed_now)} records but its report says "
                f"{report.failed} failed: {report.summary()}"
            )
        after = self.identifiers()
        if alone and report is not None:
            self.check_counts(report)
        for side in Side:
            new = (
                self.faulty[side].created[start.created[side] :]
                if created is None
                else created[side]
            )
            made_now: dict[str, str] = {}
            for _, rid, properties in new:
                email = identifier(properties.get(EMAIL[side]))
                # Webhooks fire for the engine's own writes too.
                self.events[side].append(ChangeEvent(TYPES[side], rid, "created"))
                if email is None:
                    continue
                holders = sorted(
                    o
                    for o, e in before[side].items()
                    if e == email and o != rid and after[side].get(o) == email
                )
                assert not holders, (
                    f"M3: the engine created {side} record {rid} ({email}) while {side} "
                    f"records {holders} already held that e-mail: a duplicate"
                )
                assert email not in made_now, (
                    f"M3: one pass created {side} records {made_now[email]} and {rid}, both {email}"
                )
                made_now[email] = rid

    def others_running(self) -> bool:
        """Whether a pass of another process is under way (held records are queued)."""
        return False

    def check_counts(self, report: SyncReport) -> None:
        """A report counts each record once, in its final outcome (issue 16).

        After any pass, its failures and exclusions are entries that now fail or are
        excluded (no more: a record counted twice, or a failure a retry of the pass
        repaired, would exceed them). After a complete reconcile (no call failed as a
        whole), which decides every entry once: the pass's failed and excluded counts
        equal status()'s, and each synced entry is counted once, as unchanged or by its
        writes (one per side written).
        """
        if report.dry_run or report.skipped is not None:
            return
        states = self.index.counts(SYNC_ID).get(HUB_TYPE, {})
        synced, failed, excluded, queued = (
            states.get(s, 0)
            for s in (
                RecordState.SYNCED,
                RecordState.FAILED,
                RecordState.EXCLUDED,
                RecordState.QUEUED,
            )
        )
        summary = f"{report.summary()}; status: {dict(states)}"
        got = {n: report.get(n, HUB_TYPE) for n in ("failed", "excluded", "unchanged", "queued")}
        writes = report.get("created", HUB_TYPE) + report.get("updated", HUB_TYPE)
        assert got["failed"] <= failed, f"more failures counted than entries fail: {summary}"
        assert got["excluded"] <= excluded, f"more exclusions counted than exist: {summary}"
        assert got["unchanged"] <= synced, f"more unchanged counted than synced: {summary}"
        if report.kind != "reconcile" or report.errors or self.others_running():
            return
        if self.edited_mid_pass:
            return  # a record a user added or deleted meanwhile: status() knows more
        assert (got["failed"], got["excluded"]) == (failed, excluded), (
            f"a complete reconcile counts every failed and excluded entry once: {summary}"
        )
        # Every record is named by an entry, but the records made by creates in flight
        # this pass settles (at most one per entry, S8: the next pass names its record;
        # this one counted the entry's failure when the reply was lost again, not a
        # queue), and the records another pass holds or is creating an entry for: one
        # killed on another machine, whose leases have not expired. The reconcile counts
        # each of those queued without writing an entry for it (that could overwrite
        # the other pass's result), so status() does not count it; a record made by a
        # create that pass holds is one of them. The create in flight that pass holds is
        # counted queued too, once (as an entry queued already), whether or not its
        # record was made or its source is still there: the reconcile leaves it to its
        # holder without a write (settle.queue_held). A process killed on this machine
        # is taken over at once: then no record is left unnamed.
        entries = list(self.index.entries(SYNC_ID))
        named = {(s, e.id_on(s)) for e in entries for s in Side}
        flying = [e for e in entries if e.pending is not None]
        sources = {
            e.entry_id: f"{e.pending.other.value}:{e.id_on(e.pending.other)}" for e in flying
        }
        holders = self.index.holders(SYNC_ID, HUB_TYPE, sorted(set(sources.values())))
        held_flying = sum(  # those queued already are counted among ``queued``
            1
            for e in flying
            if "@elsewhere-" in holders.get(sources[e.entry_id], "")
            and e.state is not RecordState.QUEUED
        )
        in_flight = Counter(  # the creates in flight no other pass holds
            e.pending for e in flying if "@elsewhere-" not in holders.get(sources[e.entry_id], "")
        )
        unnamed = sum(
            max(0, sum(1 for rid in records if (s, rid) not in named) - in_flight[s])
            for s, records in self.live().items()
        )
        if not self.killed_elsewhere:
            assert 0 == unnamed, f"a complete reconcile left {unnamed} records unnamed: {summary}"
            assert 0 == held_flying, f"a create in flight held by no live pass: {summary}"
        assert got["queued"] == queued + unnamed + held_flying, (
            f"a complete reconcile counts every queued entry, every create in flight "
            f"another pass holds ({held_flying}), and every record held by another pass "
            f"without an entry ({unnamed}), once: {summary}"
        )
        assert got["unchanged"] <= synced <= got["unchanged"] + writes, (
            f"a complete reconcile counts every synced entry once: {summary}"
        )

    # ---- the apps' users ---------------------------------------------------------------
    @rule(
        side=sides,
        email=st.sampled_from(EMAILS),
        name=st.sampled_from(NAMES),
        phone=st.sampled_from(PHONES),
    )
    def create(self, side: Side, email: str | None, name: str | None, phone: str | None) -> None:
        """A user adds a contact in one app."""
        self.clock.advance()
        names = [f[0] if side is Side.HUB else f[1] for f in FIELDS]
        record = self.inner[side].put(
            TYPES[side], dict(zip(names, (email, name, phone), strict=True))
        )
        self.made[side].add(record.id)
        self.events[side].append(ChangeEvent(TYPES[side], record.id, "created"))

    @precondition(lambda self: any(self.inner[s].count(TYPES[s]) for s in self.inner))
    @rule(side=sides, pick=st.integers(0, 99), field=st.integers(0, 2), data=st.data())
    def update(self, side: Side, pick: int, field: int, data: st.DataObject) -> None:
        """A user changes (or clears) one mapped field of a record, the e-mail included."""
        rid = self.edit(side, pick, field, data)
        if rid is not None:
            self.events[side].append(ChangeEvent(TYPES[side], rid, "updated"))

    @precondition(lambda self: any(self.inner[s].count(TYPES[s]) for s in self.inner))
    @rule(side=sides, pick=st.integers(0, 99), field=st.integers(1, 2), data=st.data())
    def drift(self, side: Side, pick: int, field: int, data: st.DataObject) -> None:
        """A field changes behind the engine's back: no webhook, and the change feed never
        reports it (the poll cursor moves past it, as after a lost page of changes). Only
        a reconcile finds it, and its repair must leave the index copy true (S6).

        Only that change is hidden: not while the side has changes the engine has not
        read (a record added unseen is one a pass may create again, M1). Not the e-mail:
        a record that took another's e-mail unseen is a duplicate no pass but a
        reconcile can know of (M3). Not while a create is in flight: an app without
        idempotency keys is settled by the changes since the cursor (S8).
        """
        cursor = self.index.cursor(SYNC_ID, side, HUB_TYPE)
        if cursor is None or any(e.pending is not None for e in self.index.entries(SYNC_ID)):
            return
        if any(p.records or p.deleted for p in self.inner[side].scan(TYPES[side], cursor)):
            return
        if self.edit(side, pick, field, data) is None:
            return
        for page in self.inner[side].scan(TYPES[side], cursor):
            cursor = page.cursor or cursor
        self.index.set_cursor(SYNC_ID, side, HUB_TYPE, cursor)

    def edit(self, side: Side, pick: int, field: int, data: st.DataObject) -> str | None:
        """Change one mapped field of a record as its app's user; the record's id."""
        ids = self.live_ids(side)
        if not ids:
            return None
        self.clock.advance()
        rid = ids[pick % len(ids)]
        name = FIELDS[field][0 if side is Side.HUB else 1]
        value = data.draw(st.sampled_from(POOLS[field]), label="value")
        if name == EMAIL[side]:
            before = self.inner[side].get(TYPES[side], rid)
            assert before is not None
            if identifier(before.properties.get(name)) != identifier(value):
                # A record whose identity the user redefines is the user's from now on,
                # even one the engine created: a contact the user re-addressed is a new
                # contact to sync, not an engine duplicate.
                self.made[side].add(rid)
        self.inner[side].patch(TYPES[side], rid, **{name: value})
        self.edits.setdefault((side, rid), {})[field] = value
        return rid

    @precondition(lambda self: any(self.inner[s].count(TYPES[s]) for s in self.inner))
    @rule(side=sides, pick=st.integers(0, 99))
    def delete(self, side: Side, pick: int) -> None:
        """A user deletes a record (one the test or the engine created)."""
        ids = self.live_ids(side)
        if not ids:
            return
        self.clock.advance()
        rid = ids[pick % len(ids)]
        self.inner[side].remove(TYPES[side], rid)
        self.deleted[side].add(rid)
        self.events[side].append(ChangeEvent(TYPES[side], rid, "deleted"))

    # ---- faults -------------------------------------------------------------------------
    @rule(
        side=sides,
        method=st.sampled_from(CALL_METHODS),
        category=st.sampled_from(CALL_CATEGORIES),
        times=st.integers(1, 3),
    )
    def fail_calls(self, side: Side, method: str, category: ErrorCategory, times: int) -> None:
        """The next calls of a method fail as a whole (down, throttled, refused)."""
        if category is ErrorCategory.RATE_LIMITED:
            self.faulty[side].rate_limit(method, retry_after=30.0, times=times)
        else:
            error = AdapterError(category, f"{method} refused (injected)")
            self.faulty[side].fail_next(method, error, times=times)

    @rule(
        side=sides,
        method=st.sampled_from(WRITE_METHODS),
        value=st.sampled_from([v for pool in POOLS for v in pool if v]),
        category=st.sampled_from(ErrorCategory),
    )
    def fail_items(self, side: Side, method: str, value: str, category: ErrorCategory) -> None:
        """Writes of items holding a value fail, with any category."""
        self.faulty[side].fail_items(
            method,
            lambda item: value in item.properties.values(),
            category,
            f"value {value!r} refused (injected)",
        )

    @rule(side=sides, method=st.sampled_from(WRITE_METHODS), crash=st.booleans())
    def lose_confirmation(self, side: Side, method: str, crash: bool) -> None:
        """The next write happens remotely, then its reply is lost or the process dies."""
        error: BaseException = (
            Crash() if crash else AdapterError(ErrorCategory.UNAVAILABLE, "timeout after write")
        )
        self.faulty[side].lose_confirmation(method, error)

    @rule(side=sides, method=st.sampled_from(CALL_METHODS))
    def crash_before(self, side: Side, method: str) -> None:
        """The process dies just before a call."""
        self.faulty[side].fail_next(method, Crash())

    @rule(
        side=sides,
        method=st.sampled_from(CALL_METHODS),
        after=st.booleans(),
        elsewhere=st.booleans(),
    )
    def kill(self, side: Side, method: str, after: bool, elsewhere: bool) -> None:
        """The process is killed (SIGKILL) just before a call, or just after it, before
        it reads the reply: its leases stay in the index (S8, S9: the next pass takes
        them over at once, and leaves nothing queued). Killed after a ``create`` of a
        new record, it dies between the remote create and the index commit of its
        outcome: the next pass settles that create without a duplicate (S8, M3).

        A process on another machine (``elsewhere``) cannot be told dead: its records
        stay queued until its leases expire; the first pass after takes them over."""
        self.kill_at = (side, method, after)
        if self.process is not None and elsewhere:
            self.process.elsewhere = True

    @rule(side=sides, pages=st.sampled_from([0, 1, 2, None]))
    def truncate_scans(self, side: Side, pages: int | None) -> None:
        """Scans of an app die after a few pages (or work again)."""
        self.faulty[side].truncate_scans(pages)

    @rule(side=sides, rate=st.sampled_from([0.1, 0.3]))
    def random_faults(self, side: Side, rate: float) -> None:
        """A share of calls fails at random, with every kind of fault (seeded)."""
        self.faulty[side].random_faults(
            rate,
            CALL_METHODS,
            kinds=("unavailable", "rate_limited", "lost_confirmation", "items"),
        )

    @rule(side=sides)
    def clear_faults(self, side: Side) -> None:
        """An app behaves again."""
        self.faulty[side].clear()

    # ---- passes -------------------------------------------------------------------------
    @rule(kind=st.sampled_from(["initial", "incremental", "reconcile"]))
    def sync(self, kind: str) -> None:
        """Run a pass."""
        self.clock.advance()
        if kind == "initial":
            self.run(lambda engine: engine.initial_sync())
        elif kind == "incremental":
            self.run(lambda engine: engine.incremental_sync())
        else:
            self.run(lambda engine: engine.reconcile())

    @rule(side=sides, lost=st.integers(0, 2))
    def deliver_events(self, side: Side, lost: int) -> None:
        """Webhooks arrive duplicated and out of order, a few never arrive (S5, S6)."""
        self.clock.advance()
        events = self.faulty[side].scramble_events(self.events[side])
        delivered = events[lost:]
        report = self.run(lambda engine: engine.handle_events(side, delivered))
        if report is not None:
            self.events[side] = []

    @rule(kind=st.sampled_from(["initial", "incremental", "reconcile"]))
    def dry_run(self, kind: str) -> None:
        """A dry run writes nothing to either app or the index (R9)."""
        self.clock.advance()
        before = (self.live(), list(self.index.entries(SYNC_ID)))
        if kind == "initial":
            report = self.run(lambda engine: engine.initial_sync(dry_run=True))
        elif kind == "incremental":
            report = self.run(lambda engine: engine.incremental_sync(dry_run=True))
        else:
            report = self.run(lambda engine: engine.reconcile(dry_run=True))
        after = (self.live(), list(self.index.entries(SYNC_ID)))
        assert before == after, "R9: a dry run wrote something"
        if report is not None:
            # Each planned write is listed once: one update per record, one create per
            # source record (issue 16: reconcile listed the same write four times).
            targets = [
                (w.side, w.action, w.record_id if w.action == "update" else w.source_id)
                for w in report.planned
            ]
            repeated = sorted({t for t in targets if targets.count(t) > 1}, key=repr)
            assert not repeated, f"R9: a dry run listed a write more than once: {repeated}"

    @rule()
    def quiesce(self) -> None:
        """Faults stop; passes run until one writes nothing; then the sync has converged."""
        self.busy = True
        self.settle_and_check()
        self.busy = False

    def settle_and_check(self) -> None:
        for faulty in self.faulty.values():
            faulty.clear()
        self.kill_at = None
        if self.process is not None:
            self.process.elsewhere = False
        if self.killed_elsewhere:
            # The leases of the process killed on another machine expire.
            self.clock.advance(LEASE_SECONDS + 1)
            self.killed_elsewhere = False
        # S8, S9: once the faults stop, one pass leaves no entry queued (a killed pass's
        # leases are taken over at once; a queued entry is retried), before any reconcile.
        self.clock.advance()
        first = self.engine.incremental_sync()
        queued = [
            (e.hub_id, e.app_id, e.history[-2:])
            for e in self.index.entries(SYNC_ID, states={RecordState.QUEUED})
        ]
        assert not queued, f"S9: queued after the faults stopped: {queued} ({first.summary()})"
        reports = []
        for _ in range(MAX_QUIESCE_PASSES):
            self.clock.advance()
            before = facts(self.index)
            report = self.engine.reconcile()
            reports.append(report.summary())
            if report.kind == "reconcile" and report.writes == 0 and before == facts(self.index):
                break
        else:
            raise AssertionError(f"no convergence after {MAX_QUIESCE_PASSES} passes: {reports}")
        self.clock.advance()
        again = self.engine.incremental_sync()
        assert 0 == again.writes, f"S6: a pass after convergence wrote: {again.summary()}"
        live = self.live()
        entries = always(self.index, live, self.ever, self.deleted, self.made)
        converged(entries, live, self.deleted, self.made)
        self.check_no_lost_update(entries, live)

    def check_no_lost_update(self, entries: list[Entry], live: Mapping[Side, Any]) -> None:
        """A field one side's users changed since the last quiescence ends with their
        value on both sides (D2; issue 16: a reconcile's repair left the old index copy,
        so a user's revert of the repaired field was overwritten).

        Checked for the pairs synced at both quiescences, and fields changed on exactly
        one side to a value that is not blank (a blank may be filled from the other side).
        """
        pairs = {
            (e.hub_id, e.app_id)
            for e in entries
            if e.state is RecordState.SYNCED and e.hub_id is not None and e.app_id is not None
        }
        for hub_id, app_id in sorted(pairs & self.pairs):
            hub, app = live[Side.HUB][hub_id], live[Side.APP][app_id]
            hub_edits = self.edits.get((Side.HUB, hub_id), {})
            app_edits = self.edits.get((Side.APP, app_id), {})
            for n, (hub_name, _) in enumerate(FIELDS):
                if (n in hub_edits) == (n in app_edits):
                    continue  # untouched, or a conflict (the winner decides)
                side, edits = (Side.HUB, hub_edits) if n in hub_edits else (Side.APP, app_edits)
                wanted = blank_to_none(edits[n])
                if wanted is None:
                    continue
                final = blank_to_none(hub.properties.get(hub_name))
                assert final == wanted, (
                    f"lost update: {side} user set {FIELDS[n]} of pair {hub_id} ↔ {app_id} "
                    f"to {wanted!r}, the only change since the last quiescence; both now "
                    f"hold {final!r} (hub {dict(hub.properties)}, app {dict(app.properties)})"
                )
        self.pairs = pairs
        self.edits = {}

    # ---- invariants ---------------------------------------------------------------------
    @invariant()
    def nothing_lost_and_the_index_tells_the_truth(self) -> None:
        """X3, R1–R4, S8: see :func:`always`."""
        self.busy = True
        live = self.live()
        for side in Side:
            self.ever[side].update(live[side])
        always(self.index, live, self.ever, self.deleted, self.made)
        self.busy = False

    def teardown(self) -> None:
        """The final quiesce step (skipped when a step already failed), then clean up."""
        try:
            if not self.busy:
                self.busy = True
                self.settle_and_check()
                self.busy = False
        finally:
            self.stop_processes()
            self.index.close()
            shutil.rmtree(self.tmp, ignore_errors=True)

    def stop_processes(self) -> None:
        """Stop the passes still under way before the index closes (none here)."""


class MemoryIndexMachine(ConvergenceMachine):
    """The machine over a MemoryIndexStore (a restarted process keeps it: same object)."""

    def open_index(self) -> IndexStore:
        return MemoryIndexStore()


class SQLiteIndexMachine(ConvergenceMachine):
    """The machine over a SQLiteIndexStore in a temp file, reopened after every crash."""

    def open_index(self) -> IndexStore:
        return SQLiteIndexStore(self.tmp / "index.db")

    def reopen_index(self) -> IndexStore:
        self.index.close()
        return self.open_index()


class LinkedContactsMachine(MemoryIndexMachine):
    """The machine with contacts that keep links to companies (``associations``): pairs
    take the engine's path for links, which once dropped a pass's new copies (issue 16)."""

    linked = True


class _AppWithoutKeys(InMemoryAdapter):
    """An in-memory app whose creates take no idempotency keys and that cannot look them
    up, as HubSpot's companies without a unique property."""

    supports_idempotency_keys = False
    supports_idempotency_lookup = False


class AppsWithoutKeysMachine(MemoryIndexMachine):
    """The machine over apps without idempotency keys: creates in flight are settled by
    identifier only (S8), as with HubSpot and every adapter that does not claim keys."""

    app_class = _AppWithoutKeys


class _AppWithKeysWithoutLookup(InMemoryAdapter):
    """An in-memory app whose creates take idempotency keys, but that cannot say which
    creates happened: creates in flight are settled by identifier, or sent again with
    their key (S8)."""

    supports_idempotency_lookup = False


class AppsWithKeysWithoutLookupMachine(MemoryIndexMachine):
    """The machine over apps that take idempotency keys but cannot look them up (a
    re-sent create was once made next to a pair that took its identifier, seed 14)."""

    app_class = _AppWithKeysWithoutLookup


class _AppThatLooksUpCreates(InMemoryAdapter):
    """An in-memory app whose creates take no idempotency keys, but that can say which
    creates happened: HubSpot's contacts (by e-mail) and the types with an idempotency
    property."""

    supports_idempotency_keys = False


class AppsThatLookUpCreatesMachine(MemoryIndexMachine):
    """The machine over apps that settle creates in flight by lookup only (S8)."""

    app_class = _AppThatLooksUpCreates


def _settings(share: float) -> settings:
    """The profile's settings, with ``share`` of its examples and 30 steps per example."""
    profile = settings.default
    return settings(
        profile,
        max_examples=max(5, int(profile.max_examples * share)),
        stateful_step_count=30,
        deadline=None,
        suppress_health_check=[HealthCheck.too_slow, HealthCheck.filter_too_much],
    )


# With the ``ci`` profile (100 examples): 1,000 runs over the memory index and 500 over
# SQLite, 30 steps each; 20-60 ms a run, about 45 s on one core. ``long`` (2,000): 20,000
# and 10,000 runs.
MemoryIndexMachine.TestCase.settings = _settings(10.0)
SQLiteIndexMachine.TestCase.settings = _settings(5.0)
TestConvergenceWithMemoryIndex = MemoryIndexMachine.TestCase
AppsWithoutKeysMachine.TestCase.settings = _settings(5.0)
TestConvergenceWithSQLiteIndex = SQLiteIndexMachine.TestCase
TestConvergenceWithAppsWithoutKeys = AppsWithoutKeysMachine.TestCase
AppsWithKeysWithoutLookupMachine.TestCase.settings = _settings(5.0)
TestConvergenceWithAppsWithKeysWithoutLookup = AppsWithKeysWithoutLookupMachine.TestCase
AppsThatLookUpCreatesMachine.TestCase.settings = _settings(5.0)
TestConvergenceWithAppsThatLookUpCreates = AppsThatLookUpCreatesMachine.TestCase
LinkedContactsMachine.TestCase.settings = _settings(5.0)
TestConvergenceWithLinkedContacts = LinkedContactsMachine.TestCase
