"""A record id an adapter gives that is not non-empty text fails its record alone (X1, S8).

A connector's adapter may hand the engine the ``int`` ``123`` from a JSON API, ``None``,
``""``, a float or bytes where a record id belongs. The engine checks every id where it
enters (its port to the adapters): the record fails alone, named in the report with the
adapter, its type and the value's ``repr``, and its neighbours sync. An id is refused,
never converted (``str(123)`` would pair ``123`` with another app's ``"123"`` in one
place and not in another). A create answered with such an id may have landed: it stays
in flight, and no later pass makes a second record.
"""

from __future__ import annotations

from collections.abc import Iterable, Mapping, Sequence
from typing import Any, ClassVar

import pytest

from syncengine import (
    AdapterError,
    ChangeEvent,
    ErrorCategory,
    RecordState,
    Side,
    SyncConfig,
    SyncEngine,
)
from syncengine.adapters import InMemoryAdapter
from syncengine.index import IndexStore
from syncengine.records import NewRecord, Page, Record, RecordUpdate, WriteResult

from .conftest import (
    COMPANIES_APP,
    COMPANIES_HUB,
    CONTACTS_APP,
    CONTACTS_HUB,
    FakeClock,
    companies_sync,
    contacts_sync,
)

#: Ids an adapter may hand out wrong, each with how the report shows it.
BAD_IDS: list[Any] = [123, None, "", 1.5, b"h2", ("h", 2)]


def _config() -> SyncConfig:
    return SyncConfig("ids", [contacts_sync()])


class Hub(InMemoryAdapter):
    """A hub whose scans and fetches give ``bad`` as the id of the record ``h2``."""

    def __init__(self, clock: FakeClock, bad: Any) -> None:
        super().__init__([CONTACTS_HUB], name="hub", clock=clock, id_prefix="h")
        self.bad = bad

    def _spoil(self, record: Record) -> Record:
        if record.id != "h2":
            return record
        return Record(self.bad, record.properties, record.updated_at, record.associations)

    def scan(self, object_type: str, since: str | None = None) -> Iterable[Page]:
        for page in super().scan(object_type, since):
            yield Page([self._spoil(r) for r in page.records], page.cursor, page.deleted)


def _hub_and_app(clock: FakeClock, hub: InMemoryAdapter | None = None, app: Any = None):
    hub = hub or InMemoryAdapter([CONTACTS_HUB], name="hub", clock=clock, id_prefix="h")
    app = app or InMemoryAdapter([CONTACTS_APP], name="app", clock=clock, id_prefix="a")
    for n in range(1, 5):
        hub.put("contacts", email=f"p{n}@x.io", firstname=f"P{n}")
    return hub, app


@pytest.mark.parametrize("bad", BAD_IDS, ids=repr)
def test_a_scanned_record_whose_id_is_not_text_fails_alone(index: IndexStore, clock, bad):
    """The initial sync and the passes after it: the record fails, named, once per pass;
    its neighbours sync; no entry holds it; nothing crashes."""
    hub, app = _hub_and_app(clock, Hub(clock, bad))
    engine = SyncEngine(hub, app, index, _config(), clock=clock)
    report = engine.initial_sync()
    named = [e for e in report.errors if repr(bad)[:60] in e and "'hub'" in e]
    assert len(named) == 1, report.errors
    assert "'contacts'" in named[0]
    if not isinstance(bad, str):
        assert "must give every record id as non-empty text (str)" in named[0]
    assert report.side("contacts", Side.HUB).failed == 1
    assert app.count("people") == 3
    entries = list(index.entries("ids"))
    assert sorted(e.hub_id or "" for e in entries) == ["h1", "h3", "h4"]
    assert all(e.state is RecordState.SYNCED for e in entries)
    clock.advance()
    hub.patch("contacts", "h2", firstname="Changed")
    hub.patch("contacts", "h3", firstname="Changed")
    report = engine.incremental_sync()
    assert [e for e in report.errors if repr(bad)[:60] in e], report.errors
    assert report.side("contacts", Side.HUB).failed == 1
    assert report.side("contacts", Side.APP).updated == 1
    report = engine.reconcile()
    assert report.side("contacts", Side.HUB).failed == 1
    assert app.count("people") == 3


class NumberedApp(InMemoryAdapter):
    """An app whose creates answer with the new record's id as an int (a JSON API's),
    or as ``made``'s value when given; its scans and fetches give text ids unless
    ``scans_bad``."""

    def __init__(self, clock: FakeClock, made: Any = None, *, scans_bad: bool = False) -> None:
        super().__init__([CONTACTS_APP], name="app", clock=clock, id_prefix="a")
        self.made = made
        self.scans_bad = scans_bad

    def _bad(self, record_id: str) -> Any:
        return int(record_id[1:]) if self.made is None else self.made

    def create(self, object_type: str, items: Sequence[NewRecord]) -> Sequence[WriteResult]:
        return [
            WriteResult(self._bad(r.record_id)) if r.succeeded and r.record_id else r
            for r in super().create(object_type, items)
        ]

    def scan(self, object_type: str, since: str | None = None) -> Iterable[Page]:
        for page in super().scan(object_type, since):
            if self.scans_bad:
                records = [Record(self._bad(r.id), r.properties) for r in page.records]
                page = Page(records, page.cursor, page.deleted)
            yield page


class KeyedNumberedApp(NumberedApp):
    """As :class:`NumberedApp`, taking idempotency keys but unable to look them up:
    settlement sends the creates again with their keys."""

    supports_idempotency_lookup: ClassVar[bool] = False


class UnkeyedNumberedApp(NumberedApp):
    """As :class:`NumberedApp`, without idempotency keys: settled by identifier only."""

    supports_idempotency_keys: ClassVar[bool] = False
    supports_idempotency_lookup: ClassVar[bool] = False


def _pending(index: IndexStore) -> list:
    return [e for e in index.entries("ids") if e.pending is not None]


@pytest.mark.parametrize("made", [None, "", 7.0, b"a1"], ids=repr)
@pytest.mark.parametrize("app_class", [NumberedApp, KeyedNumberedApp, UnkeyedNumberedApp])
def test_a_create_answered_with_an_id_that_is_not_text_stays_in_flight(
    index: IndexStore, clock, made, app_class
):
    """S8: the create may have landed; the record fails (unknown, retried), its entry
    keeps the create in flight, and no later pass makes a second record."""
    hub, app = _hub_and_app(clock, app=app_class(clock, made))
    engine = SyncEngine(hub, app, index, _config(), clock=clock)
    report = engine.initial_sync()
    assert app.count("people") == 4
    assert report.side("contacts", Side.APP).failed == 4
    entries = list(index.entries("ids"))
    assert len(entries) == 4
    for entry in entries:
        assert entry.state is RecordState.FAILED
        assert entry.category is ErrorCategory.UNKNOWN
        assert entry.pending is Side.APP
        assert entry.app_id is None
        assert "'app'" in entry.message
        assert "'people'" in entry.message
        assert "stays in flight" in entry.message
    for run in (engine.incremental_sync, engine.reconcile, engine.incremental_sync):
        clock.advance()
        run()
        # The records the creates made are found (by identifier: the app's scans give
        # text ids) or the creates stay in flight; never made a second time.
        assert app.count("people") == 4
    # Settled by its key's lookup (which gives text ids), or by identifier (the app's
    # scans give text ids): each pending create pairs with the record it made.
    synced = {e.hub_id: e.app_id for e in index.entries("ids")}
    assert sorted(synced.values()) == ["a1", "a2", "a3", "a4"]
    assert not _pending(index)
    assert all(e.state is RecordState.SYNCED for e in index.entries("ids"))


@pytest.mark.parametrize("app_class", [KeyedNumberedApp, UnkeyedNumberedApp])
def test_a_create_whose_record_scans_with_an_id_that_is_not_text_is_never_made_twice(
    index: IndexStore, clock, app_class
):
    """The app gives the created record's id as an int in its answer and in its scans:
    settlement cannot pair the record, and the create is never sent as a new one
    next to it (the record that holds its identifiers may be the one it made)."""
    hub, app = _hub_and_app(clock, app=app_class(clock, scans_bad=True))
    engine = SyncEngine(hub, app, index, _config(), clock=clock)
    engine.initial_sync()
    assert app.count("people") == 4
    for _ in range(3):
        clock.advance()
        report = engine.incremental_sync()
        assert app.count("people") == 4, report.errors
    assert len(_pending(index)) == 4
    assert all(e.state is RecordState.FAILED for e in index.entries("ids"))


class LosesThenMisnumbers(UnkeyedNumberedApp):
    """An app without idempotency keys whose first create call's reply is lost after
    the records are made, and whose scans give those records an int id while
    ``scans_bad``."""

    def __init__(self, clock: FakeClock) -> None:
        super().__init__(clock)
        self.lose = True

    def create(self, object_type: str, items: Sequence[NewRecord]) -> Sequence[WriteResult]:
        results = InMemoryAdapter.create(self, object_type, items)
        if self.lose:
            self.lose = False
            raise AdapterError(ErrorCategory.UNKNOWN, "the reply was lost")
        return results


def test_a_lost_create_whose_record_scanned_with_an_id_that_is_not_text_is_not_sent_again(
    index: IndexStore, clock
):
    """An app without idempotency keys: a create's reply is lost; the next pass's change
    scan gives its record an int id (it cannot pair); the pass after reads no change.
    The create stays in flight: never read as one that made nothing and sent again
    (found by the hostile-input property test)."""
    app = LosesThenMisnumbers(clock)
    hub, app = _hub_and_app(clock, app=app)
    engine = SyncEngine(hub, app, index, _config(), clock=clock)
    engine.initial_sync()
    assert app.count("people") == 4
    assert len(_pending(index)) == 4
    app.scans_bad = True
    clock.advance()
    engine.incremental_sync()
    app.scans_bad = False
    for _ in range(2):
        clock.advance()
        report = engine.incremental_sync()
        assert app.count("people") == 4, report.errors
    assert len(_pending(index)) == 4
    # Once the app's changes hold the records with text ids, they pair.
    for record in app.records("people"):
        app.patch("people", record.id, first_name="Seen")
    clock.advance()
    engine.incremental_sync()
    assert app.count("people") == 4
    assert not _pending(index)
    assert sorted(e.app_id or "" for e in index.entries("ids")) == ["a1", "a2", "a3", "a4"]


class FetchesBadId(InMemoryAdapter):
    """An app whose fetches give ``a2``'s record with the int id ``2``."""

    def fetch(self, object_type: str, ids: Sequence[str]) -> Mapping[str, Record]:
        found = dict(super().fetch(object_type, ids))
        if "a2" in found:
            found["a2"] = Record(2, found["a2"].properties)
        return found


def test_a_fetched_counterpart_whose_id_is_not_text_fails_its_pair_alone(index, clock):
    """The pair's record fails (unknown: retried), it is not read as deleted or merged,
    and the rest of the batch syncs."""
    hub, app = _hub_and_app(
        clock, app=FetchesBadId([CONTACTS_APP], name="app", clock=clock, id_prefix="a")
    )
    engine = SyncEngine(hub, app, index, _config(), clock=clock)
    engine.initial_sync()
    pairs = {e.hub_id: e.app_id for e in index.entries("ids")}
    assert len(pairs) == 4
    clock.advance()
    for hub_id in pairs:
        hub.patch("contacts", hub_id or "", firstname="New")
    # Events: the counterparts are fetched (an incremental pass or a reconcile would
    # take them from its scan of the app, or from the index copy).
    events = [ChangeEvent("contacts", hub_id or "") for hub_id in pairs]
    report = engine.handle_events(Side.HUB, events)
    by_app = {e.app_id: e for e in index.entries("ids")}
    failed = by_app["a2"]
    assert failed.state is RecordState.FAILED, failed
    assert failed.category is ErrorCategory.UNKNOWN
    assert failed.deleted is None
    assert "'app'" in failed.message
    assert "not text (str)" in failed.message
    for app_id in ("a1", "a3", "a4"):
        assert by_app[app_id].state is RecordState.SYNCED
        assert app.get("people", app_id).properties["first_name"] == "New"
    assert report.side("contacts", Side.APP).updated == 3


class Deletes(InMemoryAdapter):
    """An app whose incremental scans list an int among their deleted ids and merged
    ids (old -> new), beside the real ones."""

    def scan(self, object_type: str, since: str | None = None) -> Iterable[Page]:
        for page in super().scan(object_type, since):
            if since is not None:
                page = Page(page.records, page.cursor, [*page.deleted, 77], {88: "a1", "a9": 99})
            yield page


def test_deleted_and_merged_ids_that_are_not_text_are_named_and_left_out(index, clock):
    hub, app = _hub_and_app(
        clock, app=Deletes([CONTACTS_APP], name="app", clock=clock, id_prefix="a")
    )
    engine = SyncEngine(hub, app, index, _config(), clock=clock)
    engine.initial_sync()
    clock.advance()
    app.remove("people", "a3")
    app.patch("people", "a4", first_name="Four")
    report = engine.incremental_sync()
    errors = "\n".join(report.errors)
    assert "deleted record 77 failed" in errors
    assert "merged record 88 failed" in errors
    assert "merged record 99 failed" in errors
    by_app = {e.app_id: e for e in index.entries("ids")}
    assert by_app["a3"].category is ErrorCategory.DELETED  # the real deletion is read
    assert hub.get("contacts", by_app["a4"].hub_id or "").properties["firstname"] == "Four"
    assert by_app["a1"].state is RecordState.SYNCED  # no merge made of 88 -> a1


def test_a_change_event_whose_record_id_is_not_text_is_refused_when_made():
    """Refused where it is built, naming the value (never read as the id "123")."""
    for bad in (123, None, "", b"1"):
        with pytest.raises(ValueError, match="record_id must be non-empty text"):
            ChangeEvent("contacts", bad)


class LinksInts(InMemoryAdapter):
    """A hub whose records link to companies with an int id."""

    def scan(self, object_type: str, since: str | None = None) -> Iterable[Page]:
        for page in super().scan(object_type, since):
            records = [
                Record(r.id, r.properties, r.updated_at, {"companies": frozenset({5})})
                for r in page.records
            ]
            yield Page(records, page.cursor, page.deleted)


def test_a_link_to_an_id_that_is_not_text_is_noted_not_made(index, clock):
    """A contact's link to a company whose id is an int: the contact syncs, the link is
    not made, and its history says why (no crash, no lookup of the int)."""
    hub = LinksInts([CONTACTS_HUB, COMPANIES_HUB], name="hub", clock=clock, id_prefix="h")
    app = InMemoryAdapter([CONTACTS_APP, COMPANIES_APP], name="app", clock=clock, id_prefix="a")
    for n in range(1, 4):
        hub.put("contacts", email=f"p{n}@x.io")
    config = SyncConfig("ids", [companies_sync(), contacts_sync(associations=("companies",))])
    engine = SyncEngine(hub, app, index, config, clock=clock)
    report = engine.initial_sync()
    entries = list(index.entries("ids", "contacts"))
    assert len(entries) == 3, report.errors
    for entry in entries:
        assert entry.state is RecordState.SYNCED
        notes = " ".join(h.detail for h in entry.history)
        assert "companies 5 not linked: its id is int, not text (str)" in notes
    assert app.count("people") == 3


class AnswersUpdatesWith(InMemoryAdapter):
    """An app whose update replies answer the record ``a2`` as done with ``bad`` as its
    id, without changing it (it changed some other record, or nothing)."""

    def __init__(self, clock: FakeClock, bad: Any) -> None:
        super().__init__([CONTACTS_APP], name="app", clock=clock, id_prefix="a")
        self.bad = bad

    def update(self, object_type: str, items: Sequence[RecordUpdate]) -> Sequence[WriteResult]:
        done = iter(super().update(object_type, [i for i in items if i.id != "a2"]))
        return [WriteResult(self.bad) if i.id == "a2" else next(done) for i in items]


@pytest.mark.parametrize("run", ["incremental_sync", "reconcile"])
@pytest.mark.parametrize("bad", [*BAD_IDS, "a3"], ids=repr)
def test_an_update_answered_with_an_id_that_is_not_the_records_fails_alone(
    index: IndexStore, clock, bad, run
):
    """An update reply names the record it updated: one that names another id (not
    text, or another record's) says nothing sure about the record sent. Its pair fails
    (unknown: retried), named with the side, the adapter, the object type and the
    value's repr; the rest of the batch syncs; nothing crashes."""
    hub, app = _hub_and_app(clock, app=AnswersUpdatesWith(clock, bad))
    engine = SyncEngine(hub, app, index, _config(), clock=clock)
    engine.initial_sync()
    pairs = {e.hub_id: e.app_id for e in index.entries("ids")}
    assert sorted(pairs.values()) == ["a1", "a2", "a3", "a4"]
    clock.advance()
    for hub_id in pairs:
        hub.patch("contacts", hub_id or "", firstname="New")
    report = getattr(engine, run)()
    assert (
        report.side("contacts", Side.APP).updated + report.side("contacts", Side.HUB).updated == 3
    ), report
    by_app = {e.app_id: e for e in index.entries("ids")}
    failed = by_app["a2"]
    assert failed.state is RecordState.FAILED, failed
    assert failed.category is ErrorCategory.UNKNOWN
    for part in ("'app'", "'people'", repr(bad)[:40], "'a2'"):
        assert part in failed.message, failed.message
    for app_id in ("a1", "a3", "a4"):
        assert by_app[app_id].state is RecordState.SYNCED, by_app[app_id]
        assert app.get("people", app_id).properties["first_name"] == "New"
    assert app.get("people", "a2").properties["first_name"] != "New"  # type: ignore[union-attr]
    # Retried by the next pass (unknown is transient), failing again while the app
    # answers so; no record is made or lost.
    clock.advance()
    engine.incremental_sync()
    assert index.by_record_ids("ids", "contacts", Side.APP, ["a2"])["a2"].state is (
        RecordState.FAILED
    )
    assert app.count("people") == 4


class AnswersUpdatesMerged(InMemoryAdapter):
    """An app whose update replies answer the record ``a2`` as landed on a merged
    record with the merge ``merged``, without changing anything."""

    def __init__(self, clock: FakeClock, merged: Any) -> None:
        super().__init__([CONTACTS_APP], name="app", clock=clock, id_prefix="a")
        self.merged = merged

    def update(self, object_type: str, items: Sequence[RecordUpdate]) -> Sequence[WriteResult]:
        done = iter(super().update(object_type, [i for i in items if i.id != "a2"]))
        return [
            WriteResult("a2", merged=self.merged) if i.id == "a2" else next(done) for i in items
        ]


@pytest.mark.parametrize(
    "merged",
    [{"a2": "a2"}, {"a3": "a9"}, {"a2": 5}, {"a2": ""}, {7: "a9", "a2": "a9"}, ["a2"]],
    ids=repr,
)
def test_an_update_answered_with_a_merge_that_moves_nothing_fails_alone(
    index: IndexStore, clock, merged
):
    """``WriteResult.merged`` must move the record sent to another record id (text): an
    answer that does not says nothing sure about which record took the update. Its
    pair fails (unknown: retried), named; the rest of the batch syncs; no entry moves."""
    hub, app = _hub_and_app(clock, app=AnswersUpdatesMerged(clock, merged))
    engine = SyncEngine(hub, app, index, _config(), clock=clock)
    engine.initial_sync()
    pairs = {e.hub_id: e.app_id for e in index.entries("ids")}
    clock.advance()
    for hub_id in pairs:
        hub.patch("contacts", hub_id or "", firstname="New")
    report = engine.incremental_sync()
    assert report.side("contacts", Side.APP).updated == 3, report
    by_app = {e.app_id: e for e in index.entries("ids")}
    assert sorted(by_app) == ["a1", "a2", "a3", "a4"]
    failed = by_app["a2"]
    assert (failed.state, failed.category) == (RecordState.FAILED, ErrorCategory.UNKNOWN)
    for part in ("'app'", "'people'", "'a2'", "merge"):
        assert part in failed.message, failed.message
    assert app.count("people") == 4
