"""The incremental pass's lean path (``syncengine.engine.lean_changes``): which pages and
records it takes, which it leaves to the general path, and that both end the same.

The differential property test (``tests/stateful/test_lean_incremental.py``) compares the
two paths over generated passes; these pin the path's conditions on hand-made ones.
"""

from __future__ import annotations

from collections.abc import Sequence
from typing import Any

import pytest

from syncengine import (
    Direction,
    ErrorCategory,
    FieldMapping,
    MatchRule,
    ObjectSchema,
    ObjectSync,
    PropertySpec,
    Side,
    SyncConfig,
    SyncEngine,
)
from syncengine.adapters import InMemoryAdapter
from syncengine.engine import batch, lean_changes
from syncengine.index import IndexStore, MemoryIndexStore, SQLiteIndexStore
from syncengine.records import RecordUpdate, WriteResult
from syncengine.states import RecordState

from .conftest import FakeClock

HUB = ObjectSchema(
    "contacts",
    [PropertySpec(n, "string") for n in ("email", "firstname", "lastname", "phone")],
)
APP = ObjectSchema(
    "people",
    [PropertySpec(n, "string") for n in ("mail", "first_name", "last_name", "tel")],
)
FIELDS = (
    ("email", "mail"),
    ("firstname", "first_name"),
    ("lastname", "last_name"),
    ("phone", "tel"),
)
PEOPLE = [
    ("ada@x.io", "Ada", "Lovelace", "1"),
    ("bob@x.io", "Bob", "Builder", "2"),
    ("cy@x.io", "Cy", "Young", "3"),
    ("dee@x.io", "Dee", "Dee", "4"),
    ("eve@x.io", "Eve", "Moneypenny", "5"),
    ("fay@x.io", "Fay", "Wray", "6"),
]


def contacts(**changes: Any) -> ObjectSync:
    fields: dict[str, Any] = {
        "hub_type": "contacts",
        "app_type": "people",
        "mappings": [FieldMapping(h, a) for h, a in FIELDS],
        "match": MatchRule.email("email", "mail"),
        **changes,
    }
    return ObjectSync(**fields)


class World:
    """Two in-memory apps holding the same six people, synced, echoes taken in."""

    def __init__(
        self,
        store: str,
        tmp_path: Any,
        sync: ObjectSync,
        page: int = 50,
        hub_only: Sequence[dict[str, Any]] = (),
    ) -> None:
        tmp_path.mkdir(parents=True, exist_ok=True)
        self.clock = FakeClock()
        self.hub = InMemoryAdapter([HUB], name="hub", clock=self.clock, id_prefix="h")
        self.app = InMemoryAdapter(
            [APP], name="app", clock=self.clock, id_prefix="a", page_size=page
        )
        self.index: IndexStore = (
            MemoryIndexStore() if store == "memory" else SQLiteIndexStore(tmp_path / "i.db")
        )
        for n, (email, first, last, tel) in enumerate(PEOPLE, 1):
            self.hub.put("contacts", id=f"h{n}", email=email, firstname=first, lastname=last)
            self.app.put("people", id=f"a{n}", mail=email, first_name=first, tel=tel)
        for n, properties in enumerate(hub_only, len(PEOPLE) + 1):
            self.hub.put("contacts", properties, id=f"h{n}")
        self.engine = SyncEngine(
            self.hub,
            self.app,
            self.index,
            SyncConfig("lean", [sync]),
            clock=self.clock,
            sleep=self.clock.advance,
        )
        self.engine.initial_sync()
        self.clock.advance()
        self.engine.incremental_sync()  # the echoes of the initial sync's writes
        self.clock.advance()

    def state(self) -> tuple[Any, ...]:
        apps = tuple(
            sorted((r.id, sorted(r.properties.items())) for r in adapter.records(kind))
            for adapter, kind in ((self.hub, "contacts"), (self.app, "people"))
        )
        entries = sorted(
            (
                e.hub_id or "",
                e.app_id or "",
                e.state,
                sorted(e.keys),
                e.hub_values,
                e.app_values,
                e.category,
                e.message,
                [(h.action, h.detail) for h in e.history],
                e.updated_at,
            )
            for e in self.index.entries("lean")
        )
        return apps, entries

    def close(self) -> None:
        self.index.close()


@pytest.fixture(params=["memory", "sqlite"])
def store(request: Any) -> str:
    return str(request.param)


@pytest.fixture
def spies(monkeypatch: pytest.MonkeyPatch) -> dict[str, list[str]]:
    """What the lean path took (``lean``) and which records the general executor carried
    out (``general``), by ``side:id``."""
    seen: dict[str, list[str]] = {"lean": [], "general": []}
    select = lean_changes.select
    sync_pairs = lean_changes.sync_pairs
    execute = batch.execute

    def select_spy(core: Any, ctx: Any, plan: Any, side: Side, *rest: Any) -> Any:
        echoes, pairs = select(core, ctx, plan, side, *rest)
        seen["lean"].extend(f"{side.value}:{i}" for i in echoes)
        return echoes, pairs

    def pairs_spy(
        core: Any, ctx: Any, plan: Any, side: Side, items: Sequence[Any], *rest: Any
    ) -> Any:
        early, freed, built = sync_pairs(core, ctx, plan, side, items, *rest)
        back = {id(item) for item, _ in early}
        seen["lean"].extend(f"{side.value}:{i.record_id}" for i in items if id(i) not in back)
        return early, freed, built

    def general_spy(core: Any, ctx: Any, plan: Any, decided: Sequence[Any], *rest: Any) -> Any:
        seen["general"].extend(f"{item.side.value}:{item.record_id}" for item, _ in decided)
        return execute(core, ctx, plan, decided, *rest)

    monkeypatch.setattr(lean_changes, "select", select_spy)
    monkeypatch.setattr(lean_changes, "sync_pairs", pairs_spy)
    monkeypatch.setattr(batch, "execute", general_spy)
    return seen


@pytest.fixture
def switch(monkeypatch: pytest.MonkeyPatch) -> Any:
    def turn(on: bool) -> None:
        monkeypatch.setattr(lean_changes, "ENABLED", on)

    return turn


def edits(world: World) -> None:
    """One of each kind of change a plain pair meets in an incremental pass."""
    world.hub.patch("contacts", "h1", firstname="Adele")  # a hub edit: to the app
    world.app.patch("people", "a2", last_name="Bauer")  # an app edit: to the hub
    world.hub.patch("contacts", "h3", lastname="Younger")  # a conflict: the hub wins
    world.app.patch("people", "a3", last_name="Old")
    world.app.patch("people", "a4", first_name="Dee")  # an echo: the value the copy holds
    world.hub.patch("contacts", "h5", lastname="  ")  # a blank: refilled from the app
    world.app.patch("people", "a6", tel="66")  # a field the hub lacked: filled


def test_the_lean_path_takes_the_plain_changed_pairs(
    store: str, tmp_path: Any, spies: dict[str, list[str]], switch: Any
) -> None:
    """Every record of these pages is a plain synced pair: the lean path takes them all,
    the general executor sees none, and the end is the general path's."""
    ends = []
    reports = []
    for on in (True, False):
        switch(on)
        world = World(store, tmp_path / str(on), contacts())
        spies["lean"].clear()
        spies["general"].clear()
        edits(world)
        reports.append(world.engine.incremental_sync())
        if on:
            assert sorted(spies["lean"]) == [
                "app:a2",
                "app:a4",
                "app:a6",
                "hub:h1",
                "hub:h3",
                "hub:h5",
            ]
            assert spies["general"] == []
        else:
            assert spies["lean"] == []
        ends.append(world.state())
        world.close()
    assert ends[0] == ends[1]
    assert reports[0].counts == reports[1].counts
    assert reports[0].errors == reports[1].errors
    hub_end = dict(ends[0][0][0])
    app_end = dict(ends[0][0][1])
    assert dict(app_end["a1"])["first_name"] == "Adele"
    assert dict(hub_end["h2"])["lastname"] == "Bauer"
    assert dict(app_end["a3"])["last_name"] == "Younger"  # the hub won the conflict
    assert dict(hub_end["h5"])["lastname"] == "Moneypenny"  # refilled from the app (D4)
    assert dict(hub_end["h6"])["phone"] == "66"
    counts = reports[0].side("contacts", Side.APP)
    assert (counts.updated, counts.unchanged) == (2, 1)  # a1, a3; the echo a4
    assert reports[0].side("contacts", Side.HUB).updated == 3  # h2, h5 (refilled), h6


def test_a_page_with_a_new_record_goes_to_the_general_path_whole(
    store: str, tmp_path: Any, spies: dict[str, list[str]], switch: Any
) -> None:
    """A record without an entry is matched against the index as its page found it, and
    the updates of a page go out in one call per side whoever decides them: a page with
    any record that is not a plain synced pair is the general path's, every record of it
    but the echoes, which are counted unchanged either way. (The app's new records are
    indexed before the pass processes them, M1: such a record has its own entry.)"""
    switch(True)
    world = World(store, tmp_path, contacts())
    spies["lean"].clear()
    spies["general"].clear()
    edits(world)
    world.hub.put("contacts", id="h7", email="gus@x.io", firstname="Gus")
    world.app.put("people", id="a7", mail="hal@x.io", first_name="Hal")
    world.engine.incremental_sync()
    assert spies["lean"] == ["app:a4"]  # the echo
    general = {"hub:h1", "hub:h3", "hub:h5", "hub:h7", "app:a2", "app:a6", "app:a7"}
    assert general <= set(spies["general"])
    assert world.index.by_record_ids("lean", "contacts", Side.APP, ["a7"])["a7"].hub_id
    assert world.index.by_record_ids("lean", "contacts", Side.HUB, ["h7"])["h7"].app_id
    world.close()


def test_records_that_are_not_plain_pairs_go_to_the_general_path(
    store: str, tmp_path: Any, spies: dict[str, list[str]], switch: Any
) -> None:
    """A value the app refuses fails its record alone on the lean path, by the general
    path's own steps (read back, outcome). Next pass, that failed pair and a pair whose
    identifier changes are the general path's, and so is the plain pair in their page.
    Both paths end the same."""
    ends = []
    for on in (True, False):
        switch(on)
        world = World(store, tmp_path / str(on), contacts())
        update = world.app.update

        def refusing(kind: str, items: Sequence[RecordUpdate], app: Any = update) -> Any:
            results = list(app(kind, [i for i in items if i.properties.get("first_name") != "X"]))
            out: list[WriteResult] = []
            for item in items:
                if item.properties.get("first_name") == "X":
                    out.append(WriteResult.failed(ErrorCategory.VALIDATION, "no X, please"))
                else:
                    out.append(results.pop(0))
            return out

        world.app.update = refusing  # type: ignore[method-assign]
        spies["lean"].clear()
        spies["general"].clear()
        world.hub.patch("contacts", "h1", firstname="X")  # refused by the app
        world.hub.patch("contacts", "h3", firstname="Cyrus")  # plain
        first = world.engine.incremental_sync()
        if on:
            assert sorted(spies["lean"]) == ["hub:h1", "hub:h3"]
            assert spies["general"] == []
        entry = world.index.by_record_ids("lean", "contacts", Side.HUB, ["h1"])["h1"]
        assert entry.state is RecordState.FAILED
        assert "no X, please" in entry.message
        assert first.side("contacts", Side.APP).failed == 1
        world.clock.advance()
        spies["lean"].clear()
        spies["general"].clear()
        world.hub.patch("contacts", "h1", lastname="Byron")  # a failed pair
        world.hub.patch("contacts", "h2", email="robert@x.io")  # an identifier
        world.hub.patch("contacts", "h4", firstname="Dora")  # plain, in their page
        report = world.engine.incremental_sync()
        if on:
            assert spies["lean"] == ["app:a3"]  # the echo of the first pass's write
            assert sorted(spies["general"]) == ["hub:h1", "hub:h2", "hub:h4"]
        assert report.side("contacts", Side.APP).failed == 1  # h1 holds X still
        ends.append((world.state(), first.counts, first.errors, report.counts, report.errors))
        world.close()
    assert ends[0] == ends[1]


@pytest.mark.parametrize(
    "sync",
    [
        contacts(
            mappings=[FieldMapping(h, a) for h, a in FIELDS[:3]]
            + [FieldMapping("phone", "tel", direction=Direction.TO_APP)]
        ),
        contacts(mappings=[FieldMapping(h, a, policy="newest") for h, a in FIELDS]),
        contacts(mappings=[FieldMapping(h, a, propagate_clears=True) for h, a in FIELDS]),
    ],
    ids=["one-way field", "newest", "propagated clears"],
)
def test_an_object_sync_that_is_not_plain_takes_the_general_path(
    sync: ObjectSync, tmp_path: Any, spies: dict[str, list[str]], switch: Any
) -> None:
    switch(True)
    world = World("memory", tmp_path, sync)
    spies["lean"].clear()
    world.hub.patch("contacts", "h1", firstname="Adele")
    world.engine.incremental_sync()
    assert spies["lean"] == []
    assert "hub:h1" in spies["general"]
    assert dict(world.app.get("people", "a1").properties)["first_name"] == "Adele"  # type: ignore[union-attr]
    world.close()


def test_a_pair_that_takes_a_new_identifier_holds_it_for_the_rest_of_its_page(
    store: str, tmp_path: Any, spies: dict[str, list[str]], switch: Any
) -> None:
    """h7 is h1's duplicate (the same e-mail, excluded, M3). Both change their e-mail to
    the same new one in one page: h1's pair holds it first, so h7 stays h1's duplicate
    and is not created in the app. The record whose identifier changed goes down the
    general path, whose matching of the page sees it (found by the differential test)."""
    ends = []
    for on in (True, False):
        switch(on)
        dup = {"email": "ada@x.io", "firstname": "Ada", "lastname": "Byron"}
        world = World(store, tmp_path / str(on), contacts(), hub_only=[dup])
        spies["lean"].clear()
        spies["general"].clear()
        world.hub.patch("contacts", "h1", email="ada@y.io")
        world.hub.patch("contacts", "h7", email="ada@y.io")
        world.hub.patch("contacts", "h2", firstname="Bobby")  # plain, in their page
        report = world.engine.incremental_sync()
        if on:
            assert spies["lean"] == []
            assert {"hub:h1", "hub:h2", "hub:h7"} <= set(spies["general"])
        assert sorted(r.properties["mail"] for r in world.app.records("people")) == sorted(
            ["ada@y.io", *(p[0] for p in PEOPLE[1:])]
        )
        entry = world.index.by_record_ids("lean", "contacts", Side.HUB, ["h7"])["h7"]
        assert entry.state is RecordState.EXCLUDED
        ends.append((world.state(), report.counts, report.errors))
        world.close()
    assert ends[0] == ends[1]


def test_a_changed_pair_is_identified_once_per_record(
    store: str, tmp_path: Any, monkeypatch: pytest.MonkeyPatch, spies: dict[str, list[str]]
) -> None:
    """``select`` finds a changed record's identifier keys, and the check that the merge
    keeps the pair's keys reuses them: the lean path identifies each record's values
    once (the counterpart's, read after ``select``, once too). A merge that writes the
    record's own identifier is checked with the written values (the refill of a blank
    e-mail, whose keys ``select`` could not know)."""
    world = World(store, tmp_path, contacts())
    calls: list[tuple[Side, Any]] = []  # the values themselves: their ids stay unique
    identify = lean_changes.identify

    def identify_spy(plan: Any, side: Side, properties: Any) -> tuple[str, ...]:
        calls.append((side, properties))
        return identify(plan, side, properties)

    monkeypatch.setattr(lean_changes, "identify", identify_spy)
    spies["lean"].clear()
    edits(world)
    world.hub.patch("contacts", "h4", email=" ")  # blank: refilled from the app
    world.engine.incremental_sync()
    # a4's echo was counted as h4's counterpart, in the hub's page.
    assert sorted(spies["lean"]) == ["app:a2", "app:a6", "hub:h1", "hub:h3", "hub:h4", "hub:h5"]
    once = {(side, id(properties)) for side, properties in calls}
    assert len(once) == len(calls), "a record's values were identified twice"
    # Each record once in select, each counterpart once, and h4 again with its refilled
    # e-mail (a new dict).
    assert len(calls) == 6 + 6 + 1
    world.close()
