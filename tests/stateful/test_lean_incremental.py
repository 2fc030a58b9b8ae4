"""The incremental pass's lean path against the general path (differential).

``syncengine.engine.lean_changes`` takes the pages of one app's changes whose records are
plain synced pairs and syncs them with plain lists; everything unusual goes to the
general per-record path. Hypothesis generates a starting state (the initial sync of a hub
and an app holding shared and unshared people, e-mails spelled several ways, blanks,
invalid e-mails), then one to three rounds of users' edits, each followed by an
incremental pass: edits of one side or of both (conflicts), echoes (a write that sets the
value the index copy holds), blanks (a blank never overwrites), values changed and changed
back, touches, e-mail changes, creates and deletes on either side, records merged in the
hub (into a new id, as HubSpot merges), links between contacts and companies; config
variants (the hub wins, the app wins, the newer value wins, a callable policy, a one-way
field or sync, a propagated clear, a filter on either side, an association, the
mass-change guard, a short history); faults (an app or hub that refuses updates holding a
value, updates whose reply is lost after they landed, a fetch that fails, the process
killed between pages and the pass resumed, a dry pass first); page and batch sizes that
split the changes into several pages. The same scenario runs with the lean path switched
on and off: both must leave the same apps, the same index entries (state, ids, keys,
copies, history, marks, failures, links), the same cursors, leases, pass records, reports
and failed-record log lines, and the same result of a last pass.
"""

from __future__ import annotations

import contextlib
import logging
import re
from collections.abc import Iterable, Iterator, Mapping, Sequence
from datetime import UTC, datetime, timedelta
from typing import Any

import attrs
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st

from syncengine import (
    AdapterError,
    Condition,
    Direction,
    ErrorCategory,
    FieldMapping,
    Filter,
    MatchRule,
    ObjectSchema,
    ObjectSync,
    PropertySpec,
    Side,
    SyncConfig,
    SyncEngine,
    SyncReport,
)
from syncengine.adapters import InMemoryAdapter
from syncengine.conflicts import Conflict
from syncengine.engine import lean_changes
from syncengine.index import IndexStore, MemoryIndexStore, SQLiteIndexStore
from syncengine.records import Page, Record, RecordUpdate, WriteResult
from syncengine.report import SyncEvent
from syncengine.testing import Crash, FaultyAdapter

SYNC = "ldiff"
HUB_SCHEMAS = [
    ObjectSchema(
        "contacts",
        [
            PropertySpec("email", "string"),
            PropertySpec("firstname", "string"),
            PropertySpec("phone", "string"),
        ],
    ),
    ObjectSchema("companies", [PropertySpec("name", "string")]),
]
APP_SCHEMAS = [
    ObjectSchema(
        "people",
        [
            PropertySpec("mail", "string"),
            PropertySpec("first_name", "string"),
            PropertySpec("tel", "string"),
        ],
    ),
    ObjectSchema("accounts", [PropertySpec("company", "string")]),
]
#: (hub name, app name) of the contacts' fields.
FIELDS = (("email", "mail"), ("firstname", "first_name"), ("phone", "tel"))
TYPES = {Side.HUB: "contacts", Side.APP: "people"}
#: E-mails of a few people, spelled several ways each (the same key), and values that
#: are no e-mail or blank (no key).
EMAILS = (
    "ada@x.io",
    " ADA@x.io ",
    "ａｄａ@x.io",  # fullwidth: the same after NFKC
    "bob@x.io",
    "BOB@x.io",
    "cy@x.io",
    "dé@x.io",
    "eve@x.io",
    "fay@x.io",
    "gus@x.io",
    "hal@x.io",
    "ivy@x.io",
    "jo@x.io",
    "kim@x.io",
    "lou@x.io",
    "max@x.io",
    "ned@x.io",
    "not-an-email",
    "",
    None,
)
NAMES = ("Ada", "Bob", "Cy", "Dee", "", "  ", None)
PHONES = ("1", "2", "3", "", None)
VALUES = {"email": EMAILS, "firstname": NAMES, "phone": PHONES}
COMPANIES = ("Acme", "Initech", "Umbrella")
START = datetime(2026, 1, 1, tzinfo=UTC)

#: A crowd: few e-mails, so that records share identifiers (duplicates, M3) and edits
#: move identifiers between them.
CROWDED = ("ada@x.io", " ADA@x.io ", "bob@x.io", "cy@x.io", None)


def persons(emails: Sequence[str | None]) -> st.SearchStrategy[dict[str, Any]]:
    return st.tuples(st.sampled_from(emails), st.sampled_from(NAMES), st.sampled_from(PHONES)).map(
        lambda t: {"email": t[0], "firstname": t[1], "phone": t[2]}
    )


sides = st.sampled_from((Side.HUB, Side.APP))
hub_fields = st.sampled_from(("email", "firstname", "phone"))
#: Which record of a side an edit meets: an index into its live records (mod their number).
which = st.integers(0, 30)


#: The kinds of edits, weighted.
KINDS = (
    *("edit",) * 8,
    *("conflict",) * 2,
    *("bulk",) * 2,
    *("echo",) * 2,
    "back",
    "touch",
    "blank",
    "create",
    "delete",
    "merge",
    "link",
)


@st.composite
def edits(draw: st.DrawFn, emails: Sequence[str | None]) -> tuple[Any, ...]:
    """One user's edit (applied to whichever records exist when the round runs)."""
    values_of = {**VALUES, "email": emails}
    kind = draw(st.sampled_from(KINDS))
    field = draw(hub_fields)
    if kind == "edit":  # mostly the hub's: the hub wins most scenarios
        side = draw(st.sampled_from((Side.HUB, Side.HUB, Side.APP)))
        return (kind, side, draw(which), field, draw(st.sampled_from(values_of[field])))
    if kind == "bulk":  # one value set on several records of a side, one after another
        side = draw(st.sampled_from((Side.HUB, Side.HUB, Side.APP)))
        value = draw(st.sampled_from(values_of[field]))
        return (kind, side, draw(st.lists(which, min_size=2, max_size=4)), field, value)
    if kind == "conflict":  # both sides change one pair's field
        values = st.sampled_from(values_of[field])
        return (kind, Side.HUB, draw(which), field, draw(values), draw(values))
    if kind in ("echo", "back", "blank"):
        return (kind, draw(sides), draw(which), field, draw(st.sampled_from(values_of[field])))
    if kind == "touch":
        return (kind, draw(sides), draw(which))
    if kind == "create":
        return (kind, draw(sides), draw(persons(emails)))
    if kind == "delete":
        return (kind, draw(sides), draw(which))
    if kind == "merge":
        return (kind, Side.HUB, draw(which), draw(which))
    return (kind, draw(sides), draw(which), draw(st.integers(0, len(COMPANIES) - 1)))


@st.composite
def faults(draw: st.DrawFn) -> dict[str, Any]:
    """What goes wrong in one round's pass."""
    plain = draw(st.booleans())
    return {
        "refused": None if plain else draw(st.sampled_from((None, "1", "Bob", "ada@x.io", "Dee"))),
        "refused_side": draw(sides),
        "lost": set() if plain else draw(st.sets(st.integers(1, 20), max_size=3)),
        "fetch": None if plain else draw(st.sampled_from((None, None, Side.HUB, Side.APP))),
        "kill": None if plain else draw(st.sampled_from((None, None, 1, 2, 3))),
        "dry_first": draw(st.booleans()) and draw(st.booleans()),
        "allow_mass": draw(st.booleans()) or draw(st.booleans()),
    }


PLAIN: dict[str, Any] = {
    "one_way_field": None,
    "direction": Direction.TWO_WAY,
    "clears": False,
    "filtered": None,
    "associations": False,
    "guard": False,
}
variants = st.fixed_dictionaries(
    {
        "policy": st.sampled_from(("hub", "app", "newest", "callable")),
        "one_way_field": st.sampled_from((None, None, Direction.TO_APP, Direction.TO_HUB)),
        "direction": st.sampled_from(
            (Direction.TWO_WAY,) * 4 + (Direction.TO_APP, Direction.TO_HUB)
        ),
        "clears": st.booleans(),
        "filtered": st.sampled_from((None, Side.HUB, Side.APP)),
        "associations": st.booleans(),
        "guard": st.booleans(),
    }
)


@st.composite
def scenarios(draw: st.DrawFn) -> dict[str, Any]:
    emails = draw(st.sampled_from((EMAILS, EMAILS, CROWDED)))
    hub = draw(st.lists(persons(emails), min_size=1, max_size=12))
    # Records the app shares with the hub (the same person, perhaps valued differently),
    # most of them: the pairs are the lean path's; and the app's own.
    share = draw(st.sampled_from((0.5, 0.8, 1.0)))
    app = []
    for person in hub:
        if not draw(st.sampled_from((True,) * int(10 * share) + (False,) * (10 - int(10 * share)))):
            continue
        person = dict(person)
        if draw(st.booleans()) and draw(st.booleans()):
            person["firstname"] = draw(st.sampled_from(NAMES))
        if draw(st.booleans()) and draw(st.booleans()):
            person["phone"] = draw(st.sampled_from(PHONES))
        app.append(person)
    app += draw(st.lists(persons(emails), max_size=4))
    app = draw(st.permutations(app))
    rounds = draw(st.integers(1, 3))
    return {
        "policy": draw(st.sampled_from(("hub", "hub", "app"))),
        "hub": hub,
        "app": app,
        "rounds": [
            (draw(st.lists(edits(emails), min_size=1, max_size=10)), draw(faults()))
            for _ in range(rounds)
        ],
        "hub_page": draw(st.integers(1, 5)),
        "app_page": draw(st.integers(1, 5)),
        "batch": draw(st.integers(1, 4)),
        # The hub wins most scenarios: the lean path's case.
        # The lean path's configs in most scenarios (the hub or the app winning, every
        # field plain text both ways), the others (which it must leave to the general
        # path) in the rest.
        **draw(
            st.sampled_from((PLAIN,) * 3 + (None,)).flatmap(lambda p: st.just(p) if p else variants)
        ),
        "history": draw(st.sampled_from((10, 10, 2))),
        "store": draw(st.sampled_from(("memory", "sqlite"))),
    }


class App(InMemoryAdapter):
    """An app whose users may merge records into a new id (as HubSpot does) and that may
    lose the reply of an update holding one of some records (the update lands, the
    caller hears an unknown failure; per record, so it happens to the same records
    whatever else a call holds)."""

    def __init__(self, *args: Any, **kwargs: Any) -> None:
        super().__init__(*args, **kwargs)
        self.lose: set[str] = set()
        #: Merged-away id -> the id of the record it was merged into.
        self.merged_into: dict[str, str] = {}

    def merge(self, object_type: str, first: str, second: str) -> Record:
        """Merge two live records into a new one (the first's values, blanks filled from
        the second's); both old ids then read as it."""
        a, b = self.get(object_type, first), self.get(object_type, second)
        assert a is not None
        assert b is not None
        values = dict(b.properties)
        values.update({k: v for k, v in a.properties.items() if v not in (None, "")})
        links = {
            t: a.associations.get(t, frozenset()) | b.associations.get(t, frozenset())
            for t in {*a.associations, *b.associations}
        }
        new = self.put(object_type, values, associations=links)
        self.remove(object_type, first)
        self.remove(object_type, second)
        for old, into in self.merged_into.items():
            if into in (first, second):
                self.merged_into[old] = new.id
        self.merged_into[first] = self.merged_into[second] = new.id
        return new

    def _live_target(self, object_type: str, record_id: str) -> Record | None:
        into = self.merged_into.get(record_id)
        return None if into is None else self.get(object_type, into)

    def scan(self, object_type: str, since: str | None = None) -> Iterable[Page]:
        pages = super().scan(object_type, since)
        return (self._merged_page(object_type, page) for page in pages)

    def _merged_page(self, object_type: str, page: Page) -> Page:
        held = {r.id for r in page.records}
        merged = {
            old: into
            for old, into in self.merged_into.items()
            if into in held and self._live_target(object_type, old) is not None
        }
        deleted = tuple(i for i in page.deleted if self._live_target(object_type, i) is None)
        return attrs.evolve(page, deleted=deleted, merged=merged)

    def fetch(self, object_type: str, ids: Sequence[str]) -> Mapping[str, Record]:
        found = dict(super().fetch(object_type, ids))
        for i in ids:
            if i not in found and (target := self._live_target(object_type, i)) is not None:
                found[i] = target
        return found

    def update(self, object_type: str, items: Sequence[RecordUpdate]) -> Sequence[WriteResult]:
        results = super().update(object_type, items)
        if any(item.id in self.lose for item in items):
            raise AdapterError(ErrorCategory.UNKNOWN, "reply lost after the write")
        return results


def policy(conflict: Conflict) -> Side:
    """A callable conflict policy: the longer value wins, the app on a tie."""
    hub, app = str(conflict.hub_value or ""), str(conflict.app_value or "")
    return Side.HUB if len(hub) > len(app) else Side.APP


def make_config(scenario: dict[str, Any]) -> SyncConfig:
    name_policy: Any = {"newest": "newest", "callable": policy}.get(scenario["policy"])
    syncs = [
        ObjectSync(
            "contacts",
            "people",
            [
                FieldMapping("email", "mail"),
                FieldMapping(
                    "firstname",
                    "first_name",
                    policy=name_policy,
                    propagate_clears=scenario["clears"],
                ),
                FieldMapping(
                    "phone",
                    "tel",
                    direction=(
                        scenario["one_way_field"]
                        if scenario["direction"] is Direction.TWO_WAY and scenario["one_way_field"]
                        else Direction.TWO_WAY
                    ),
                ),
            ],
            match=MatchRule.email("email", "mail"),
            direction=scenario["direction"],
            winner=Side.APP if scenario["policy"] == "app" else Side.HUB,
            hub_filter=(
                Filter.where(Condition("firstname", "neq", "Cy"))
                if scenario["filtered"] is Side.HUB
                else None
            ),
            app_filter=(
                Filter.where(Condition("first_name", "neq", "Cy"))
                if scenario["filtered"] is Side.APP
                else None
            ),
            associations=("companies",) if scenario["associations"] else (),
        )
    ]
    if scenario["associations"]:
        syncs.insert(
            0,
            ObjectSync(
                "companies",
                "accounts",
                [FieldMapping("name", "company")],
                match=MatchRule([("name", "company")], kinds=("text",)),
            ),
        )
    return SyncConfig(SYNC, syncs, max_change_ratio=0.5 if scenario["guard"] else None)


class Clock:
    """The time of the engine and the apps: moves only when the test moves it."""

    def __init__(self) -> None:
        self.now = START

    def __call__(self) -> datetime:
        return self.now

    def tick(self) -> None:
        self.now += timedelta(seconds=1)


class Lines(logging.Handler):
    """The failed-record lines and the batch lines a run logs."""

    def __init__(self) -> None:
        super().__init__(logging.DEBUG)
        self.failed: list[str] = []
        self.batches: dict[tuple[str, ...], int] = {}

    def emit(self, record: logging.LogRecord) -> None:
        if record.name == "syncengine.engine.records":
            self.failed.append(record.getMessage())
        elif record.name == "syncengine.engine.batches":
            # The records and deletions each (pass, object, side, phase) processed: the
            # lean path may cut a page into other batches than the general path does.
            words = dict(re.findall(r"(\w+)=(\S+)", record.getMessage()))
            dry = "dry" in record.getMessage().split("kind=", 1)[1].split(" object=")[0]
            key = (words["kind"], str(dry), words["object"], words["side"], words["phase"])
            self.batches[key] = (
                self.batches.get(key, 0) + int(words["records"]) + int(words["deleted"])
            )


@contextlib.contextmanager
def captured() -> Iterator[Lines]:
    lines = Lines()
    loggers = [
        logging.getLogger(n) for n in ("syncengine.engine.records", "syncengine.engine.batches")
    ]
    levels = [lg.level for lg in loggers]
    for lg in loggers:
        lg.addHandler(lines)
        lg.setLevel(logging.DEBUG)
    try:
        yield lines
    finally:
        for lg, level in zip(loggers, levels, strict=True):
            lg.removeHandler(lines)
            lg.setLevel(level)


@contextlib.contextmanager
def switched(enabled: bool) -> Iterator[None]:
    before = lean_changes.ENABLED
    lean_changes.ENABLED = enabled
    try:
        yield
    finally:
        lean_changes.ENABLED = before


def _values(side: Side, person: Mapping[str, Any]) -> dict[str, Any]:
    names = dict(FIELDS) if side is Side.APP else {h: h for h, _ in FIELDS}
    return {names[k]: v for k, v in person.items() if v is not None}


class World:
    """One run of a scenario: the two apps (behind fault injectors), the index, the
    engine, and what the passes reported."""

    def __init__(self, scenario: dict[str, Any]) -> None:
        self.scenario = scenario
        self.clock = Clock()
        self.inner = {
            Side.HUB: App(
                HUB_SCHEMAS,
                name="hub",
                id_prefix="h",
                page_size=scenario["hub_page"],
                max_batch_size=scenario["batch"],
                clock=self.clock,
            ),
            Side.APP: App(
                APP_SCHEMAS,
                name="app",
                id_prefix="a",
                page_size=scenario["app_page"],
                max_batch_size=scenario["batch"],
                clock=self.clock,
            ),
        }
        for side, key in ((Side.HUB, "hub"), (Side.APP, "app")):
            for person in scenario[key]:
                self.inner[side].put(TYPES[side], **_values(side, person))
        if scenario["associations"]:
            for name in COMPANIES[:2]:
                self.inner[Side.HUB].put("companies", name=name)
            self.inner[Side.APP].put("accounts", company=COMPANIES[0])
        self.faulty = {side: FaultyAdapter(self.inner[side], seed=3) for side in Side}
        self.index: IndexStore = (
            SQLiteIndexStore(":memory:") if scenario["store"] == "sqlite" else MemoryIndexStore()
        )
        self.config = make_config(scenario)
        self.kill_at: int | None = None
        self.pages = 0
        self.results: list[Any] = []
        self.engine = self.new_engine()

    def new_engine(self) -> SyncEngine:
        return SyncEngine(
            self.faulty[Side.HUB],
            self.faulty[Side.APP],
            self.index,
            self.config,
            on_event=self.on_event,
            clock=self.clock,
            history_size=self.scenario["history"],
            sleep=lambda _: None,
        )

    def on_event(self, event: SyncEvent) -> None:
        # The process dies after the k-th page of a poll (between pages) and a new one
        # resumes the pass.
        if event.kind == "phase_progress" and (event.phase or "").startswith("poll_"):
            self.pages += 1
            if self.kill_at is not None and self.pages >= self.kill_at:
                self.kill_at = None
                raise Crash

    def outcome(self, call: Any) -> None:
        try:
            report = call()
        except Crash:
            raise
        except Exception as exc:  # a pass that raises: the same on both paths
            self.results.append(("raised", type(exc).__name__, str(exc)))
        else:
            self.results.append(summary(report))

    # ---- the users ---------------------------------------------------------------------

    def live(self, side: Side) -> list[Record]:
        return self.inner[side].records(TYPES[side])

    def pick(self, side: Side, n: int) -> Record | None:
        records = self.live(side)
        return records[n % len(records)] if records else None

    def copy(self, side: Side, record: Record, field: str) -> Any:
        """The value the index copy holds for ``record``'s ``field`` (hub name)."""
        found = self.index.by_record_ids(SYNC, "contacts", side, [record.id]).get(record.id)
        copies = getattr(found, "hub_values" if side is Side.HUB else "app_values", None)
        if not copies:
            return None
        return copies.get(field if side is Side.HUB else dict(FIELDS)[field])

    def set(self, side: Side, record: Record, field: str, value: Any) -> None:
        name = field if side is Side.HUB else dict(FIELDS)[field]
        self.inner[side].patch(TYPES[side], record.id, **{name: value})

    def counterpart(self, record: Record) -> Record | None:
        """The app record paired with hub ``record``, if any."""
        found = self.index.by_record_ids(SYNC, "contacts", Side.HUB, [record.id]).get(record.id)
        app_id = getattr(found, "app_id", None)
        return None if app_id is None else self.inner[Side.APP].get("people", app_id)

    def apply(self, edit: tuple[Any, ...]) -> None:
        self.clock.tick()
        kind, side = edit[0], edit[1]
        if kind == "create":
            self.inner[side].put(TYPES[side], **_values(side, edit[2]))
            return
        if kind == "bulk":
            for n in edit[2]:
                if (record := self.pick(side, n)) is not None:
                    self.set(side, record, edit[3], edit[4])
            return
        record = self.pick(side, edit[2])
        if record is None:
            return
        if kind == "edit":
            self.set(side, record, edit[3], edit[4])
        elif kind == "conflict":
            self.set(Side.HUB, record, edit[3], edit[4])
            other = self.counterpart(record)
            if other is not None:
                self.clock.tick()
                self.set(Side.APP, other, edit[3], edit[5])
        elif kind == "echo":  # the value the index copy holds
            self.set(side, record, edit[3], self.copy(side, record, edit[3]))
        elif kind == "back":  # changed, then changed back to what it was
            name = edit[3] if side is Side.HUB else dict(FIELDS)[edit[3]]
            before = record.properties.get(name)
            self.set(side, record, edit[3], edit[4])
            self.clock.tick()
            self.set(side, record, edit[3], before)
        elif kind == "blank":
            self.set(side, record, edit[3], "" if edit[4] else None)
        elif kind == "touch":
            self.inner[side].patch(TYPES[side], record.id)
        elif kind == "delete":
            self.inner[side].remove(TYPES[side], record.id)
        elif kind == "merge":
            second = self.pick(side, edit[3])
            if second is not None and second.id != record.id:
                self.inner[side].merge(TYPES[side], record.id, second.id)
        elif kind == "link" and self.scenario["associations"]:
            company = "companies" if side is Side.HUB else "accounts"
            targets = self.inner[side].records(company)
            if targets:
                target = targets[edit[3] % len(targets)]
                self.inner[side].link(TYPES[side], record.id, company, target.id)

    # ---- the passes --------------------------------------------------------------------

    def initial(self) -> None:
        self.outcome(lambda: self.engine.initial_sync(allow_mass_changes=True))

    def round(self, edits: Sequence[tuple[Any, ...]], fault: dict[str, Any]) -> None:
        for edit in edits:
            self.apply(edit)
        self.clock.tick()
        if fault["refused"] is not None:
            value = fault["refused"]
            self.faulty[fault["refused_side"]].fail_items(
                "update",
                lambda item: value in item.properties.values(),
                ErrorCategory.VALIDATION,
                f"value {value!r} refused",
            )
        for inner, prefix in ((self.inner[Side.HUB], "h"), (self.inner[Side.APP], "a")):
            inner.lose = {f"{prefix}{n}" for n in fault["lost"]}
        if fault["fetch"] is not None:
            self.faulty[fault["fetch"]].fail_next(
                "fetch", AdapterError(ErrorCategory.UNAVAILABLE, "fetch failed")
            )
        if fault["dry_first"]:
            self.outcome(lambda: self.engine.incremental_sync(dry_run=True))
        self.pages = 0
        self.kill_at = fault["kill"]
        allow = fault["allow_mass"]
        try:
            self.outcome(lambda: self.engine.incremental_sync(allow_mass_changes=allow))
        except Crash:
            self.results.append(("killed", self.pages))
            self.engine = self.new_engine()  # a new process resumes
            self.outcome(lambda: self.engine.incremental_sync(allow_mass_changes=allow))
        self.kill_at = None
        for side in Side:
            self.faulty[side].clear()
            self.inner[side].lose = set()

    def left(self) -> dict[str, Any]:
        """Everything the runs left, comparable."""
        names = [
            f"{side.value}:{i}"
            for side in Side
            for i in range(1, 80)
            for i in (f"{'h' if side is Side.HUB else 'a'}{i}",)
        ]
        types = ["companies", "contacts"] if self.scenario["associations"] else ["contacts"]
        return {
            "apps": {
                (side, name): {
                    r.id: (
                        dict(r.properties),
                        {t: sorted(ids) for t, ids in r.associations.items()},
                    )
                    for r in self.inner[side].records(name)
                }
                for side, names_ in (
                    (Side.HUB, ("contacts", "companies")),
                    (Side.APP, ("people", "accounts")),
                )
                for name in names_
            },
            "entries": entries(self.index),
            "cursors": {
                (side, t): self.index.cursor(SYNC, side, t) for side in Side for t in types
            },
            "leases": {t: sorted(self.index.holders(SYNC, t, names)) for t in types},
            "passes": [
                (
                    p.kind,
                    p.outcome,
                    p.detail,
                    p.dry_run,
                    p.number,
                    p.started_at,
                    p.finished_at,
                    {t: {s: attrs.astuple(c) for s, c in v.items()} for t, v in p.counts.items()},
                )
                for p in self.index.passes(SYNC, limit=1000)
            ],
            "results": self.results,
        }


def entries(index: IndexStore) -> dict[tuple[str, str], tuple[Any, ...]]:
    """Every entry as a comparable tuple (everything but a create's random
    idempotency key)."""
    return {
        (e.object_type, e.entry_id): (
            e.hub_id,
            e.app_id,
            e.state,
            e.keys,
            e.matched_by,
            None if e.hub_values is None else dict(e.hub_values),
            None if e.app_values is None else dict(e.app_values),
            e.category,
            e.reason,
            e.message,
            e.pending,
            e.attempts,
            e.mark,
            e.deleted,
            e.links,
            e.updated_at,
            tuple((h.at, h.action, h.detail) for h in e.history),
        )
        for e in index.entries(SYNC)
    }


def summary(report: SyncReport) -> tuple[Any, ...]:
    return (
        report.kind,
        report.dry_run,
        report.skipped,
        sorted((k[0], k[1].value, attrs.astuple(v)) for k, v in report.counts.items()),
        sorted(str(attrs.astuple(p)) for p in report.planned),
        sorted(report.errors),
    )


def run(scenario: dict[str, Any], *, enabled: bool) -> dict[str, Any]:
    """The scenario's initial sync, rounds and last pass; what they left."""
    with switched(enabled), captured() as lines:
        world = World(scenario)
        world.initial()
        for edits_, fault in scenario["rounds"]:
            world.round(edits_, fault)
        # The next pass, with nothing changed and nothing failing: what the rounds left
        # undone (a failure to retry, a reply lost) it does, alike on both paths.
        world.clock.tick()
        world.outcome(lambda: world.engine.incremental_sync(allow_mass_changes=True))
        left = world.left()
    world.index.close()
    left["failed_lines"] = sorted(lines.failed)
    left["batches"] = lines.batches
    return left


@settings(suppress_health_check=[HealthCheck.too_slow], deadline=None)
@given(scenarios())
def test_the_lean_path_leaves_what_the_general_path_leaves(scenario: dict[str, Any]) -> None:
    lean_run, general_run = run(scenario, enabled=True), run(scenario, enabled=False)
    for key in general_run:
        assert lean_run[key] == general_run[key], key
