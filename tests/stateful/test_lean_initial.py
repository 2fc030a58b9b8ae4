"""The initial sync's lean path for matched pairs against the general path (differential).

``syncengine.engine.lean`` takes phase 2's app records that pair with a hub record phase 1
indexed, a page at a time, and leaves everything unusual to the general per-record
path. Hypothesis generates a hub and an app (shared and unshared people, duplicates by
e-mail, e-mails spelled with other cases, spaces and NFKC forms, blanks, invalid e-mails,
conflicting values), optionally a filter, a one-way sync, an app that rejects updates
holding a value, an update whose reply is lost, a hub edit made between phase 1 and
phase 2, and a process killed between the phases or after a page and resumed; it runs
the same initial sync, and the next incremental pass, with the lean path and with it
switched off, and the two must leave the same apps, the same index entries (state, ids,
keys, copies, history, marks) and the same reports.
"""

from __future__ import annotations

import contextlib
from collections.abc import Iterator
from datetime import UTC, datetime
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
    RecordState,
    Side,
    SyncConfig,
    SyncEngine,
    SyncReport,
)
from syncengine.adapters import InMemoryAdapter
from syncengine.engine import lean
from syncengine.index import IndexStore, MemoryIndexStore
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
APP = ObjectSchema(
    "people",
    [
        PropertySpec("mail", "string"),
        PropertySpec("first_name", "string"),
        PropertySpec("tel", "string"),
    ],
)
#: E-mails of a few people, spelled several ways each (M6: the same key), and values
#: that are no e-mail or blank (no key, M4).
EMAILS = (
    "ada@x.io",
    " ADA@x.io ",
    "Ada@X.IO",
    "ａｄａ@x.io",  # fullwidth: the same after NFKC
    "bob@x.io",
    "BOB@x.io",
    "cy@x.io",
    "dé@x.io",
    "DÉ@x.io",
    "eve@x.io",
    "fay@x.io",
    "gus@x.io",
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


@st.composite
def scenarios(draw: st.DrawFn) -> dict[str, Any]:
    hub = draw(st.lists(people, max_size=14))
    # Records the app shares with the hub (the same person, perhaps spelled or valued
    # differently), and its own.
    shared = draw(st.lists(st.sampled_from(range(len(hub))), max_size=len(hub))) if hub else []
    app = []
    for i in shared:
        person = dict(hub[i])
        if draw(st.booleans()):
            person["firstname"] = draw(st.sampled_from(NAMES))
        if draw(st.booleans()):
            person["phone"] = draw(st.sampled_from(PHONES))
        if draw(st.booleans()) and isinstance(person["email"], str):
            person["email"] = draw(st.sampled_from((" ", ""))) + person["email"].upper()
        app.append(person)
    app += draw(st.lists(people, max_size=6))
    app = draw(st.permutations(app))
    return {
        "hub": hub,
        "app": app,
        "hub_page": draw(st.integers(1, 5)),
        "app_page": draw(st.integers(1, 5)),
        "batch": draw(st.integers(1, 4)),
        "filtered": draw(st.booleans()) and draw(st.booleans()),
        "one_way": draw(st.booleans()) and draw(st.booleans()),
        "refused": draw(st.sampled_from((None, "1", "Bob", "ada@x.io"))),
        "lost_reply": draw(st.booleans()) and draw(st.booleans()),
        "hub_edit": draw(st.none() | st.tuples(st.integers(0, 20), st.sampled_from(NAMES))),
        "kill": draw(st.sampled_from((None, None, "between_phases", "after_a_page"))),
    }


def make_config(scenario: dict[str, Any]) -> SyncConfig:
    return SyncConfig(
        "lean",
        [
            ObjectSync(
                "contacts",
                "people",
                [
                    FieldMapping("email", "mail"),
                    FieldMapping("firstname", "first_name"),
                    FieldMapping("phone", "tel"),
                ],
                match=MatchRule.email("email", "mail"),
                direction=Direction.TO_APP if scenario["one_way"] else Direction.TWO_WAY,
                app_filter=(
                    Filter.where(Condition("first_name", "neq", "Cy"))
                    if scenario["filtered"]
                    else None
                ),
            )
        ],
    )


def run(scenario: dict[str, Any], *, enabled: bool) -> tuple[Any, ...]:
    """The initial sync of ``scenario`` (resumed once if killed); what it left."""
    inner = {
        Side.HUB: InMemoryAdapter(
            [HUB],
            name="hub",
            id_prefix="h",
            page_size=scenario["hub_page"],
            max_batch_size=scenario["batch"],
        ),
        Side.APP: InMemoryAdapter(
            [APP],
            name="app",
            id_prefix="a",
            page_size=scenario["app_page"],
            max_batch_size=scenario["batch"],
        ),
    }
    for person in scenario["hub"]:
        inner[Side.HUB].put("contacts", **{k: v for k, v in person.items() if v is not None})
    for person in scenario["app"]:
        inner[Side.APP].put(
            "people",
            **{
                name: person[key]
                for key, name in (("email", "mail"), ("firstname", "first_name"), ("phone", "tel"))
                if person[key] is not None
            },
        )
    faulty = {side: FaultyAdapter(inner[side], seed=3) for side in Side}
    if scenario["refused"] is not None:
        value = scenario["refused"]
        faulty[Side.APP].fail_items(
            "update",
            lambda item: value in item.properties.values(),
            ErrorCategory.VALIDATION,
            f"value {value!r} refused",
        )
    if scenario["lost_reply"]:
        faulty[Side.APP].lose_confirmation(
            "update", AdapterError(ErrorCategory.UNAVAILABLE, "timeout after write")
        )
    index = MemoryIndexStore()
    hub_ids = [r.id for r in inner[Side.HUB].records("contacts")]

    done: set[str] = set()

    def on_event(event: SyncEvent) -> None:
        # A hub user's edit between phase 1 and phase 2: it must be merged, not lost.
        edit = scenario["hub_edit"]
        between = event.kind == "phase_finished" and event.phase == "index_hub"
        if edit is not None and hub_ids and between and "edit" not in done:
            done.add("edit")
            inner[Side.HUB].patch("contacts", hub_ids[edit[0] % len(hub_ids)], firstname=edit[1])
        # The process dies between the phases, or after phase 2's first page, and a new
        # one resumes the initial sync (S8). (Mid-page deaths are the convergence
        # machine's: there the two paths may stop at different writes of the page.)
        kill = scenario["kill"]
        if kill is not None and "kill" not in done:
            page = event.kind == "phase_progress" and event.phase == "index_app_and_sync"
            if (kill == "between_phases" and between) or (kill == "after_a_page" and page):
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
                reports.append(engine.initial_sync())
                break
            except Crash:
                continue
        faulty[Side.APP].clear()
        faulty[Side.HUB].clear()
        # The next pass: whatever phase 2 missed must reach the other app.
        reports.append(engine.incremental_sync())
    return (
        {
            side: {r.id: dict(r.properties) for r in inner[side].records(name)}
            for side, name in ((Side.HUB, "contacts"), (Side.APP, "people"))
        },
        entries(index),
        [summary(report) for report in reports],
    )


def entries(index: IndexStore) -> dict[str, tuple[Any, ...]]:
    """Every entry as a comparable tuple (everything but a create's random
    idempotency key)."""
    return {
        e.entry_id: (
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
            e.updated_at,
            tuple((h.at, h.action, h.detail) for h in e.history),
        )
        for e in index.entries("lean")
    }


def summary(report: SyncReport) -> tuple[Any, ...]:
    return (
        sorted((k[0], k[1].value, attrs.astuple(v)) for k, v in report.counts.items()),
        sorted(report.errors),
    )


@contextlib.contextmanager
def switched(enabled: bool) -> Iterator[None]:
    before = lean.ENABLED
    lean.ENABLED = enabled
    try:
        yield
    finally:
        lean.ENABLED = before


@settings(suppress_health_check=[HealthCheck.too_slow], deadline=None)
@given(scenarios())
def test_the_lean_path_leaves_what_the_general_path_leaves(scenario: dict[str, Any]) -> None:
    assert run(scenario, enabled=True) == run(scenario, enabled=False)


def test_the_lean_path_takes_the_matched_pairs(monkeypatch: Any) -> None:
    """The switch is live: with it on, phase 2's plain matched pairs go the lean way
    (and a hub edit made between phase 1 and phase 2 reaches the app)."""
    taken: list[str] = []
    sync_pairs = lean._sync_pairs

    def spy(*args: Any, **kwargs: Any) -> set[str] | None:
        got = sync_pairs(*args, **kwargs)
        taken.extend(sorted(got or ()))
        return got

    monkeypatch.setattr(lean, "_sync_pairs", spy)
    scenario = {
        "hub": [
            {"email": "ada@x.io", "firstname": "Ada", "phone": "1"},
            {"email": "bob@x.io", "firstname": "Bob", "phone": None},
            {"email": "cy@x.io", "firstname": "Cy", "phone": "3"},
        ],
        "app": [
            {"email": " ADA@x.io", "firstname": "Ad", "phone": "1"},
            {"email": "bob@x.io", "firstname": "Bob", "phone": "2"},
            {"email": "cy@x.io", "firstname": "Cy", "phone": "3"},
            {"email": "eve@x.io", "firstname": "Eve", "phone": None},
        ],
        "hub_page": 2,
        "app_page": 3,
        "batch": 2,
        "filtered": False,
        "one_way": False,
        "refused": None,
        "lost_reply": False,
        "hub_edit": (0, "Adele"),
        "kill": False,
    }
    apps, index, reports = run(scenario, enabled=True)
    assert taken == ["a1", "a2", "a3"]  # eve is the general path's: created in the hub
    assert apps[Side.APP]["a1"]["first_name"] == "Adele"
    assert index["h:h1"][2] is RecordState.SYNCED
    assert (apps, index, reports) == run(scenario, enabled=False)
    assert taken == ["a1", "a2", "a3"]  # the switch off: nothing more taken
