"""The initial sync's lean path for creates against the general path (differential).

``syncengine.engine.creates`` takes phase 3's hub records that the app does not hold, a
page at a time, and creates them in the app; everything unusual goes to the general
per-record path. Hypothesis generates a hub (duplicates by e-mail, e-mails spelled with
other cases, spaces and NFKC forms, blanks, invalid e-mails), an app that is empty or
holds a few records (phase 3 then reads the unsynced hub records by id), optionally a
filter, a one-way sync, a required app field, an app that refuses creates holding a
value, creates whose reply is lost after they landed, an app record added while phase 3
runs (``catch_up`` pairs it), and a process killed after a page, before the create call
holding a given record, or after it, right after the write that announced its create
(before any create call of its page), or after its page's create calls but before the
write of its outcome (the entries announced as pending, S8), then resumed;
it runs the same initial sync, and the next incremental pass, with the lean path and with
it switched off. The two must leave the same apps and the same index entries (state,
ids, keys, copies, history, marks) and reports; a process killed in the middle of a
page stops at other writes on the two paths (the lean path creates its records before the
page's others), so there the apps, the entries but for their history, and the next
pass must be the same.
"""

from __future__ import annotations

import contextlib
from collections.abc import Iterator, Sequence
from datetime import UTC, datetime
from typing import Any

import attrs
from hypothesis import HealthCheck, example, given, settings
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
from syncengine.engine import creates
from syncengine.entry import CursorUpdate, Entry
from syncengine.index import IndexStore, MemoryIndexStore
from syncengine.records import NewRecord, WriteResult
from syncengine.report import SyncEvent
from syncengine.testing import Crash, FaultyAdapter

HUB = ObjectSchema(
    "contacts",
    [
        PropertySpec("email", "string"),
        PropertySpec("firstname", "string"),
        PropertySpec("phone", "string"),
    ],
)
EMAILS = (
    "ada@x.io",
    " ADA@x.io ",
    "ａｄａ@x.io",  # fullwidth: the same after NFKC
    "bob@x.io",
    "cy@x.io",
    "dé@x.io",
    "DÉ@x.io",
    "eve@x.io",
    "fay@x.io",
    "gus@x.io",
    "hal@x.io",
    "ivy@x.io",
    "not-an-email",
    "",
    None,
)
NAMES = ("Ada", "Bob", "Cy", "", "  ", None)
PHONES = ("1", "2", "3", "", None)
NOW = datetime(2026, 1, 1, tzinfo=UTC)

people = st.tuples(st.sampled_from(EMAILS), st.sampled_from(NAMES), st.sampled_from(PHONES)).map(
    lambda t: {"email": t[0], "firstname": t[1], "phone": t[2]}
)
KILLS = (
    None,
    None,
    "after_a_page",
    "before_create",
    "after_create",
    "after_announced",
    "before_stored",
)
#: The kills in the middle of a page: the two paths stop at different writes.
MID_PAGE = ("before_create", "after_create", "after_announced", "before_stored")


@st.composite
def scenarios(draw: st.DrawFn) -> dict[str, Any]:
    hub = draw(st.lists(people, max_size=16))
    return {
        "hub": hub,
        "app": draw(st.lists(people, max_size=3)) if draw(st.booleans()) else [],
        "hub_page": draw(st.integers(1, 6)),
        "batch": draw(st.integers(1, 4)),
        "filtered": draw(st.booleans()) and draw(st.booleans()),
        "direction": draw(
            st.sampled_from((Direction.TWO_WAY,) * 4 + (Direction.TO_APP, Direction.TO_HUB))
        ),
        "two_keys": draw(st.booleans()),
        "require": draw(st.booleans()),
        "required": draw(st.booleans()) and draw(st.booleans()),
        "refused": draw(st.sampled_from((None, "1", "Bob", "ada@x.io"))),
        "lost_replies": draw(st.sets(st.sampled_from(range(1, 17)), max_size=3)),
        "added": draw(st.none() | people),
        "kill": draw(st.sampled_from(KILLS)),
        "kill_at": draw(st.integers(1, 16)),
    }


class App(InMemoryAdapter):
    """The app: creates of some hub records (named in their idempotency keys) lose their
    reply after they landed (so the engine narrows the call down and keeps the record's
    create pending, S8), and the process dies before or after the create call holding
    another one. Per record, not per call, so it happens to the same records whatever
    else a call holds."""

    def __init__(self, lose: set[str], kill: tuple[str, str] | None, **kwargs: Any) -> None:
        super().__init__(**kwargs)
        self.lose = lose
        self.kill = kill

    def create(self, object_type: str, items: Sequence[NewRecord]) -> Sequence[WriteResult]:
        holds = {_hub_id(item) for item in items}
        if self.kill is not None and self.kill[1] in holds and self.kill[0] == "before_create":
            self.kill = None
            raise Crash
        results = super().create(object_type, items)
        if self.kill is not None and self.kill[1] in holds:
            self.kill = None
            raise Crash
        if holds & self.lose:
            raise AdapterError(ErrorCategory.UNKNOWN, "reply lost after the write")
        return results


def _hub_id(item: NewRecord) -> str:
    """The hub record a create comes from, by its idempotency key (``sync:type:h:<id>:…``)."""
    parts = (item.idempotency_key or "").split(":")
    return parts[3] if len(parts) > 4 else ""


def make_config(scenario: dict[str, Any]) -> SyncConfig:
    keys = [("email", "mail"), ("phone", "tel")] if scenario["two_keys"] else [("email", "mail")]
    kinds = ("email", "text") if scenario["two_keys"] else ("email",)
    return SyncConfig(
        "creates",
        [
            ObjectSync(
                "contacts",
                "people",
                [
                    FieldMapping("email", "mail"),
                    FieldMapping("firstname", "first_name"),
                    FieldMapping("phone", "tel"),
                ],
                match=MatchRule(keys, kinds=kinds, require=scenario["require"]),
                direction=scenario["direction"],
                hub_filter=(
                    Filter.where(Condition("firstname", "neq", "Cy"))
                    if scenario["filtered"]
                    else None
                ),
            )
        ],
    )


def run(scenario: dict[str, Any], *, enabled: bool) -> tuple[Any, ...]:
    """The initial sync of ``scenario`` (resumed once if killed); what it left."""
    kill = scenario["kill"]
    app_schema = ObjectSchema(
        "people",
        [
            PropertySpec("mail", "string"),
            PropertySpec("first_name", "string", required=scenario["required"]),
            PropertySpec("tel", "string"),
        ],
    )
    inner = {
        Side.HUB: InMemoryAdapter(
            [HUB],
            name="hub",
            id_prefix="h",
            page_size=scenario["hub_page"],
            max_batch_size=scenario["batch"],
        ),
        Side.APP: App(
            {f"h{n}" for n in scenario["lost_replies"]},
            (kill, f"h{scenario['kill_at']}")
            if kill in ("before_create", "after_create")
            else None,
            schemas=[app_schema],
            name="app",
            id_prefix="a",
            page_size=3,
            max_batch_size=scenario["batch"],
        ),
    }
    for person in scenario["hub"]:
        inner[Side.HUB].put("contacts", **{k: v for k, v in person.items() if v is not None})
    for person in scenario["app"]:
        inner[Side.APP].put("people", **_app_values(person))
    faulty = {side: FaultyAdapter(inner[side], seed=3) for side in Side}
    if scenario["refused"] is not None:
        value = scenario["refused"]
        faulty[Side.APP].fail_items(
            "create",
            lambda item: value in item.properties.values(),
            ErrorCategory.VALIDATION,
            f"value {value!r} refused",
        )
    index = KillingStore(
        (kill, f"h:h{scenario['kill_at']}")
        if kill in ("after_announced", "before_stored")
        else None
    )
    done: set[str] = set()

    def on_event(event: SyncEvent) -> None:
        # An app user adds a record while phase 3 runs: phase 3 indexes it before its
        # first create (catch_up), and a hub record with its e-mail pairs with it.
        added = scenario["added"]
        if (
            added is not None
            and event.kind == "phase_started"
            and event.phase == "sync_hub"
            and "added" not in done
        ):
            done.add("added")
            inner[Side.APP].put("people", **_app_values(added))
        page = event.kind == "phase_progress" and event.phase == "sync_hub"
        if kill == "after_a_page" and page and "kill" not in done:
            done.add("kill")
            raise Crash

    reports: list[SyncReport] = []
    with switched(enabled):
        for _ in range(2):
            engine = SyncEngine(
                faulty[Side.HUB],
                faulty[Side.APP],
                index,
                make_config(scenario),
                clock=lambda: NOW,
                sleep=lambda _: None,
                on_event=on_event,
            )
            try:
                reports.append(engine.initial_sync(allow_mass_changes=True))
                break
            except Crash:
                continue
        faulty[Side.APP].clear()
        inner[Side.APP].lose = set()
        index.kill = None  # the kill is the initial sync's
        # The next pass: settles the creates left pending, and must find nothing else.
        reports.append(engine.incremental_sync())
        reports.append(engine.incremental_sync())
    return apps(inner), entries(index, inner[Side.APP]), [summary(r) for r in reports]


class KillingStore(MemoryIndexStore):
    """The index: the process dies right after the write that announces a given entry's
    create (pending, S8) is committed, or right before the write of its outcome (the
    create landed or failed; nothing of it stored), once."""

    def __init__(self, kill: tuple[str, str] | None) -> None:
        super().__init__()
        self.kill = kill

    def write(
        self,
        entries: Sequence[Entry] = (),
        *,
        delete: Sequence[tuple[str, str, str]] = (),
        cursors: Sequence[CursorUpdate] = (),
    ) -> None:
        kill = self.kill
        if kill is None:
            super().write(entries, delete=delete, cursors=cursors)
            return
        when, entry_id = kill
        held = [e for e in entries if e.entry_id == entry_id]
        announced = any(e.pending is not None for e in held)
        if when == "before_stored" and held and not announced:
            before = self.get(entries[0].sync_id, entries[0].object_type, [entry_id])
            if (stored := before.get(entry_id)) is not None and stored.pending is not None:
                self.kill = None
                raise Crash
        super().write(entries, delete=delete, cursors=cursors)
        if when == "after_announced" and announced:
            self.kill = None
            raise Crash


def _app_values(person: dict[str, Any]) -> dict[str, Any]:
    return {
        name: person[key]
        for key, name in (("email", "mail"), ("firstname", "first_name"), ("phone", "tel"))
        if person[key] is not None
    }


def apps(inner: dict[Side, InMemoryAdapter]) -> dict[Side, Any]:
    """The hub's records by id; the app's as a sorted list of their values (the order
    of creates, so the app's ids, may differ: the lean path creates its records before
    the page's others)."""
    return {
        Side.HUB: {r.id: dict(r.properties) for r in inner[Side.HUB].records("contacts")},
        Side.APP: sorted(sorted(r.properties.items()) for r in inner[Side.APP].records("people")),
    }


def entries(index: IndexStore, app: InMemoryAdapter) -> dict[str, tuple[Any, ...]]:
    """Every entry as a comparable tuple: its app record by its values (see :func:`apps`),
    and everything but a create's random idempotency key."""
    held = {r.id: tuple(sorted(r.properties.items())) for r in app.records("people")}
    return {
        e.entry_id: (
            e.hub_id,
            None if e.app_id is None else held.get(e.app_id, e.app_id),
            e.state,
            e.keys,
            e.matched_by,
            None if e.hub_values is None else dict(e.hub_values),
            None if e.app_values is None else dict(e.app_values),
            e.category,
            e.reason,
            e.message,
            e.pending,
            e.mark,
            e.deleted,
            e.attempts,
            e.updated_at,
            tuple((h.at, h.action, h.detail) for h in e.history),
        )
        for e in index.entries("creates")
    }


def summary(report: SyncReport) -> tuple[Any, ...]:
    return (
        sorted((k[0], k[1].value, attrs.astuple(v)) for k, v in report.counts.items()),
        sorted(report.errors),
    )


@contextlib.contextmanager
def switched(enabled: bool) -> Iterator[None]:
    before = creates.ENABLED
    creates.ENABLED = enabled
    try:
        yield
    finally:
        creates.ENABLED = before


#: A record without an identifier whose create landed before the process died: once
#: settled (S8), the resumed scan meets it again with an entry of its own, which no key
#: tells the lean path of.
KEYLESS_KILLED = {
    "hub": [{"email": "not-an-email", "firstname": "Ada", "phone": "1"}],
    "app": [],
    "hub_page": 1,
    "batch": 1,
    "filtered": False,
    "direction": Direction.TWO_WAY,
    "two_keys": False,
    "require": False,
    "required": False,
    "refused": None,
    "lost_replies": set(),
    "added": None,
    "kill": "after_create",
    "kill_at": 1,
}


#: An app record added while phase 3 runs, that a hub record failing alone (its first
#: name is blank, and the app's is required) reaches by its second identifier (phone)
#: and the next hub record by its first (e-mail): the next hub record pairs with it
#: (M1, identifiers in the configured order), on both paths.
ADDED_BY_PHONE = {
    **KEYLESS_KILLED,
    "hub": [
        {"email": "ada@x.io", "firstname": "", "phone": "1"},
        {"email": "bob@x.io", "firstname": "Ada", "phone": "1"},
    ],
    "two_keys": True,
    "required": True,
    "added": {"email": "bob@x.io", "firstname": "Ada", "phone": "1"},
    "kill": None,
}


@settings(suppress_health_check=[HealthCheck.too_slow], deadline=None)
@given(scenarios())
@example(ADDED_BY_PHONE)
@example(KEYLESS_KILLED)
@example({**KEYLESS_KILLED, "kill": "before_create"})
@example({**KEYLESS_KILLED, "kill": "after_announced"})
@example({**KEYLESS_KILLED, "kill": "before_stored"})
def test_the_lean_path_leaves_what_the_general_path_leaves(scenario: dict[str, Any]) -> None:
    lean_run, general_run = run(scenario, enabled=True), run(scenario, enabled=False)
    if scenario["kill"] in MID_PAGE:
        assert_same_end(lean_run, general_run, scenario["kill"])
    else:
        assert lean_run == general_run


#: Few values, so that the hub's records share identifiers (M3) with each other and with
#: the record added to the app while phase 3 runs.
crowded = st.tuples(
    st.sampled_from(("ada@x.io", "bob@x.io", "cy@x.io", None)),
    st.sampled_from(("Ada", "", None)),
    st.sampled_from(("1", "2", None)),
).map(lambda t: {"email": t[0], "firstname": t[1], "phone": t[2]})


@st.composite
def added_scenarios(draw: st.DrawFn) -> dict[str, Any]:
    hub = draw(st.lists(crowded, min_size=1, max_size=5))
    return {
        **KEYLESS_KILLED,
        "hub": hub,
        "hub_page": draw(st.integers(1, 3)),
        "batch": draw(st.integers(1, 2)),
        "two_keys": True,
        "require": draw(st.booleans()),
        "required": draw(st.booleans()),
        # A record added to the app while phase 3 runs: often one of the hub's own.
        "added": draw(st.sampled_from(hub) | crowded),
        "kill": None,
    }


@settings(suppress_health_check=[HealthCheck.too_slow], deadline=None)
@given(added_scenarios())
def test_a_record_added_during_phase_3_pairs_alike_on_either_path(
    scenario: dict[str, Any],
) -> None:
    """An app record added while phase 3 runs, whose identifiers the hub's records hold
    (some by their first, some by their second identifier, some duplicates of each
    other, some failing): the lean path indexes it (``catch_up``) only where the general
    path does, before a create the general path makes too, so the two pair it with the
    same hub record and leave the same apps, index and reports."""
    assert run(scenario, enabled=True) == run(scenario, enabled=False)


def assert_same_end(lean_run: tuple[Any, ...], general_run: tuple[Any, ...], kill: str) -> None:
    """A process killed in the middle of a page: the apps and the entries (state, ids,
    keys, how a pair matched, copies, failure, pending create, marks) end the same, and
    the pass after the resumed initial sync has nothing left to do on either path. The
    history (a create settled, or made anew) and the resumed run's counts may tell
    another story: the two paths stop at different writes of the page. The copies are
    the same in any state: a create that settlement sends again (S8) and the app refuses
    leaves none, as one refused on its first send does.

    A kill at an index write (``after_announced``, ``before_stored``) may also stop the
    general path after its updates of the page's pairs landed in the app and the lean
    path before them (it creates its records first): the resumed run then meets an app
    record holding other identifiers on the two paths, and pairs it with the same hub
    record by another of them (``matched_by``, like the history, tells how)."""
    assert lean_run[0] == general_run[0]
    at_write = kill in ("after_announced", "before_stored")

    def end(run: tuple[Any, ...]) -> dict[str, tuple[Any, ...]]:
        return {
            k: (*v[:4], *(() if at_write else v[4:5]), *v[5:9], *v[10:13])
            for k, v in run[1].items()
        }

    assert end(lean_run) == end(general_run)
    assert lean_run[2][-1] == general_run[2][-1]


def test_the_lean_path_takes_the_plain_creates(monkeypatch: Any) -> None:
    """The switch is live: with it on, phase 3's plain hub-only records are created the
    lean way, one create call per batch; a record sharing its e-mail with another of its
    page is the general path's (the first is created, the second excluded)."""
    taken: list[str] = []
    create = creates._create

    def spy(*args: Any, **kwargs: Any) -> set[str]:
        got = create(*args, **kwargs)
        taken.extend(sorted(got))
        return got

    monkeypatch.setattr(creates, "_create", spy)
    scenario = {
        "hub": [
            {"email": "ada@x.io", "firstname": "Ada", "phone": "1"},
            {"email": "bob@x.io", "firstname": "Bob", "phone": None},
            {"email": " BOB@x.io", "firstname": "Bobby", "phone": None},
            {"email": None, "firstname": "Cy", "phone": "3"},
        ],
        "app": [],
        "hub_page": 4,
        "batch": 3,
        "filtered": False,
        "direction": Direction.TWO_WAY,
        "two_keys": False,
        "require": False,
        "required": False,
        "refused": None,
        "lost_replies": set(),
        "added": None,
        "kill": None,
        "kill_at": 1,
    }
    lean_run = run(scenario, enabled=True)
    assert taken == ["h1", "h4"]
    apps_left, index, reports = lean_run
    assert len(apps_left[Side.APP]) == 3
    assert index["h:h3"][2].value == "excluded"
    # Three created in the app; the hub's second bob excluded as a duplicate (M3).
    assert reports[0][0] == [
        ("contacts", "app", (3, 0, 0, 0, 0, 0)),
        ("contacts", "hub", (0, 0, 0, 0, 1, 0)),
    ]
    assert lean_run == run(scenario, enabled=False)
    assert taken == ["h1", "h4"]  # the switch off: nothing more taken


def test_a_record_another_pass_holds_waits_on_either_path(monkeypatch: Any) -> None:
    """A hub record whose lease another live pass holds (S9) is the general path's: it
    waits for it and leaves it queued (counted, no entry), and the page's other records
    are created the lean way. Both paths leave the same apps, index and reports."""
    taken: list[str] = []
    create = creates._create

    def spy(*args: Any, **kwargs: Any) -> set[str]:
        got = create(*args, **kwargs)
        taken.extend(sorted(got))
        return got

    monkeypatch.setattr(creates, "_create", spy)
    acquire = MemoryIndexStore.acquire

    def held_elsewhere(self: MemoryIndexStore, *args: Any, **kwargs: Any) -> set[str]:
        # Another pass took h2's lease first, until after these passes.
        acquire(self, "creates", "contacts", ["hub:h2"], "another-pass", until=LATER, now=NOW)
        return acquire(self, *args, **kwargs)

    monkeypatch.setattr(MemoryIndexStore, "acquire", held_elsewhere)
    scenario = {
        **KEYLESS_KILLED,
        "hub": [
            {"email": "ada@x.io", "firstname": "Ada", "phone": "1"},
            {"email": "bob@x.io", "firstname": "Bob", "phone": None},
            {"email": "cy@x.io", "firstname": "Cy", "phone": "3"},
        ],
        "hub_page": 3,
        "batch": 3,
        "kill": None,
    }
    lean_run = run(scenario, enabled=True)
    assert taken == ["h1", "h3"]
    # A new record another pass holds has no entry of this pass's (that pass may be
    # writing one): it is counted queued, and read again by a later pass.
    assert "h:h2" not in lean_run[1]
    assert lean_run[2][0][0] == [
        ("contacts", "app", (2, 0, 0, 0, 0, 0)),
        ("contacts", "hub", (0, 0, 0, 0, 0, 1)),
    ]
    assert len(lean_run[0][Side.APP]) == 2
    assert lean_run == run(scenario, enabled=False)
    assert taken == ["h1", "h3"]


LATER = datetime(2026, 1, 2, tzinfo=UTC)
