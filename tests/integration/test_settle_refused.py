"""A create that settlement sends again and the app refuses leaves what a create refused
the first time leaves (S8).

A create whose reply was lost stays pending with its idempotency key; the next pass asks
the app for the key, finds nothing and sends the create again. If the app refuses it now
(a value it rejects), the record was never created: its entry fails, holding the hub
record's id and no copies, exactly as when the app refuses the first send. An entry that
kept the copies it was announced with would look synced once (its filters no longer
applied, L2) though no app record ever held those values.
"""

from __future__ import annotations

from collections.abc import Sequence

import pytest

from syncengine import (
    AdapterError,
    Condition,
    ErrorCategory,
    Filter,
    RecordState,
    Side,
    SyncConfig,
    SyncEngine,
)
from syncengine.adapters import InMemoryAdapter
from syncengine.engine import lifecycle
from syncengine.index import IndexStore
from syncengine.records import NewRecord, WriteResult

from .conftest import CONTACTS_APP, CONTACTS_HUB, FakeClock, contacts_sync


class App(InMemoryAdapter):
    """An app whose first create call is lost before anything is written (the engine
    cannot tell: the outcome is unknown), when ``lose_first``; every create after that,
    or every create when not ``lose_first``, is refused as invalid. It looks up
    idempotency keys: settlement asks it, learns the create made nothing, and the
    record's create is decided again."""

    def __init__(self, clock: FakeClock, *, lose_first: bool) -> None:
        super().__init__([CONTACTS_APP], name="app", clock=clock, id_prefix="a")
        self.lose = lose_first

    def create(self, object_type: str, items: Sequence[NewRecord]) -> Sequence[WriteResult]:
        if self.lose:
            self.lose = False
            raise AdapterError(ErrorCategory.UNKNOWN, "the connection dropped")
        return [WriteResult.failed(ErrorCategory.VALIDATION, "mail refused") for _ in items]


class KeyedApp(App):
    """Takes idempotency keys but cannot look them up: settlement sends the create again
    with its key."""

    supports_idempotency_lookup = False


class UnkeyedApp(App):
    """Takes no idempotency keys: settlement finds no record holding the create's
    identifiers and takes the create for one that made nothing."""

    supports_idempotency_keys = False
    supports_idempotency_lookup = False


#: The three ways settlement settles a lost create (S8).
APPS = [
    pytest.param(App, id="looked up"),
    pytest.param(KeyedApp, id="sent again"),
    pytest.param(UnkeyedApp, id="unkeyed"),
]


def refused(
    index: IndexStore, *, lose_first: bool, app: type[App] = App
) -> tuple[SyncEngine, InMemoryAdapter]:
    """A hub contact whose create into the app is refused, after a lost first send when
    ``lose_first``; the engine and the hub."""
    clock = FakeClock()
    hub = InMemoryAdapter([CONTACTS_HUB], name="hub", clock=clock, id_prefix="h")
    hub.put("contacts", {"email": "ada@example.com", "firstname": "Ada", "lifecyclestage": "lead"})
    sync = contacts_sync(hub_filter=Filter.where(Condition("lifecyclestage", "eq", "lead")))
    engine = SyncEngine(
        hub,
        app(clock, lose_first=lose_first),
        index,
        SyncConfig("s", [sync]),
        clock=clock,
        sleep=clock.advance,
    )
    engine.initial_sync()
    if lose_first:
        (pending,) = index.entries("s", "contacts")
        assert pending.pending is not None
        assert pending.pending_key
        clock.advance(60)
        engine.incremental_sync()  # settlement, then the create is refused
    return engine, hub


#: The create is refused on its first send, or when settlement sends it again (the
#: announcement's idempotency key tells settlement it is a new record's create).
SENDS = [pytest.param(False, id="first send"), pytest.param(True, id="lost first")]


@pytest.mark.parametrize("app", APPS)
@pytest.mark.parametrize("lose_first", SENDS)
def test_a_refused_create_leaves_a_failed_entry_without_copies(
    index: IndexStore, lose_first: bool, app: type[App]
) -> None:
    refused(index, lose_first=lose_first, app=app)
    (entry,) = index.entries("s", "contacts")
    assert entry.state is RecordState.FAILED
    assert entry.pending is None
    assert entry.pending_key is None
    assert entry.app_id is None
    assert (entry.hub_values, entry.app_values) == (None, None)
    assert "mail refused" in entry.message


@pytest.mark.parametrize("app", APPS)
@pytest.mark.parametrize("lose_first", SENDS)
def test_the_filter_still_applies_to_a_record_whose_create_was_refused(
    index: IndexStore, lose_first: bool, app: type[App]
) -> None:
    engine, hub = refused(index, lose_first=lose_first, app=app)
    # The record leaves the hub filter before it was ever synced: it is excluded (the
    # filter limits the initial entry, L2) and no create is tried again.
    (record,) = hub.records("contacts")
    hub.put("contacts", {**record.properties, "lifecyclestage": "customer"}, id=record.id)
    engine.incremental_sync()
    (entry,) = index.entries("s", "contacts")
    assert entry.state is RecordState.EXCLUDED, entry
    assert entry.app_id is None


def test_a_create_the_batch_sends_again_and_the_app_refuses_leaves_no_copies(
    index: IndexStore, monkeypatch: pytest.MonkeyPatch
) -> None:
    """A create still in flight when a batch meets its record again (settlement did not
    take it: say more creates were in flight than one settlement reads) is sent again by
    the batch with its key; refused, it leaves the entry without the copies it was
    announced with, as settlement and a first refusal do."""
    clock = FakeClock()
    hub = InMemoryAdapter([CONTACTS_HUB], name="hub", clock=clock, id_prefix="h")
    record = hub.put("contacts", {"email": "ada@example.com", "firstname": "Ada"})
    engine = SyncEngine(
        hub,
        KeyedApp(clock, lose_first=True),
        index,
        SyncConfig("s", [contacts_sync()]),
        clock=clock,
        sleep=clock.advance,
    )
    engine.initial_sync()
    (pending,) = index.entries("s", "contacts")
    assert pending.pending is not None
    assert pending.hub_values is not None  # announced with the values it sends
    monkeypatch.setattr(lifecycle, "settle_pending", lambda *args, **kwargs: None)
    clock.advance(60)
    hub.put("contacts", {**record.properties, "firstname": "Ada Lovelace"}, id=record.id)
    engine.incremental_sync()
    (entry,) = index.entries("s", "contacts")
    assert entry.state is RecordState.FAILED
    assert entry.pending is None
    assert entry.app_id is None
    assert (entry.hub_values, entry.app_values) == (None, None)
    assert "mail refused" in entry.message


class RestoringApp(App):
    """Creates normally until ``failing`` is set; then as :class:`KeyedApp`."""

    supports_idempotency_lookup = False

    def __init__(self, clock: FakeClock) -> None:
        super().__init__(clock, lose_first=True)
        self.failing = False

    def create(self, object_type: str, items: Sequence[NewRecord]) -> Sequence[WriteResult]:
        if not self.failing:
            return InMemoryAdapter.create(self, object_type, items)
        return super().create(object_type, items)


def test_a_restore_refused_when_sent_again_keeps_the_pairs_copies(index: IndexStore) -> None:
    """A restored pair's create (R6) is no new record's: refused when settlement sends it
    again, its entry keeps the copies of the pair it restores, as a restore refused on
    its first send does; only a new record's create leaves none."""
    clock = FakeClock()
    hub = InMemoryAdapter([CONTACTS_HUB], name="hub", clock=clock, id_prefix="h")
    hub.put("contacts", {"email": "ada@example.com", "firstname": "Ada"})
    app = RestoringApp(clock)
    engine = SyncEngine(
        hub, app, index, SyncConfig("s", [contacts_sync()]), clock=clock, sleep=clock.advance
    )
    engine.initial_sync()
    (pair,) = index.entries("s", "contacts")
    assert pair.app_id is not None
    app.remove(CONTACTS_APP.name, pair.app_id)
    clock.advance(60)
    engine.incremental_sync()
    (deleted,) = index.entries("s", "contacts")
    assert deleted.deleted is Side.APP
    app.failing = True  # the restore's create is lost, then refused when sent again
    engine.restore(engine.plan_restore("contacts", Side.APP))
    (pending,) = index.entries("s", "contacts")
    assert pending.pending is Side.APP
    clock.advance(60)
    engine.incremental_sync()
    (entry,) = index.entries("s", "contacts")
    assert entry.state is RecordState.FAILED
    assert entry.pending is None
    assert entry.app_id is None
    assert entry.hub_values == pair.hub_values
    assert entry.app_values is not None
    assert "mail refused" in entry.message


@pytest.mark.parametrize("lose_first", SENDS)
def test_a_refused_restore_keeps_the_copies_as_documented_and_a_reconcile_restores_it(
    index: IndexStore, lose_first: bool
) -> None:
    """What docs/operating.md says of a restore whose create the app refuses: refused on
    its first send, the entry keeps the copies it held before; refused when settlement
    sends it again, it keeps the copies it was announced with (the hub's copy, and the
    values sent as the app's): settlement cannot tell the copies before the
    announcement, which the row does not keep. Either way the entry fails (no longer
    `deleted`, so no longer offered by plan_restore), and a reconcile once the app
    takes the values again creates the record with the hub's current values and leaves
    the same entry."""
    clock = FakeClock()
    hub = InMemoryAdapter([CONTACTS_HUB], name="hub", clock=clock, id_prefix="h")
    ada = hub.put("contacts", {"email": "ada@example.com", "firstname": "Ada"}).id
    app = RestoringApp(clock)
    engine = SyncEngine(
        hub, app, index, SyncConfig("s", [contacts_sync()]), clock=clock, sleep=clock.advance
    )
    engine.initial_sync()
    (pair,) = index.entries("s", "contacts")
    assert pair.app_id is not None
    app.remove(CONTACTS_APP.name, pair.app_id)
    clock.advance(60)
    engine.incremental_sync()
    clock.advance(60)
    hub.patch("contacts", ada, firstname="Ada L.")  # changed while the pair was broken
    clock.advance(60)
    engine.incremental_sync()
    (deleted,) = index.entries("s", "contacts")
    assert (deleted.deleted, deleted.category) == (Side.APP, ErrorCategory.DELETED)
    plan = engine.plan_restore("contacts", Side.APP)
    (item,) = plan.items
    sent = {"mail": "ada@example.com", "first_name": "Ada L."}
    assert sent == dict(item.properties)
    app.failing = True
    app.lose = lose_first
    engine.restore(plan)
    if lose_first:
        clock.advance(60)
        engine.incremental_sync()  # settlement sends it again; the app refuses it
    (entry,) = index.entries("s", "contacts")
    assert (entry.state, entry.category) == (RecordState.FAILED, ErrorCategory.VALIDATION)
    assert (entry.app_id, entry.deleted, entry.pending) == (None, None, None)
    assert entry.hub_values == deleted.hub_values
    assert entry.app_values == (sent if lose_first else deleted.app_values)
    assert () == engine.plan_restore("contacts", Side.APP).items
    app.failing = False
    clock.advance(60)
    assert not engine.reconcile().errors
    (restored,) = index.entries("s", "contacts")
    assert restored.state is RecordState.SYNCED
    assert restored.app_id is not None
    assert [sent] == [dict(r.properties) for r in app.records(CONTACTS_APP.name)]
    assert restored.hub_values is not None
    assert "Ada L." == restored.hub_values["firstname"]
    assert restored.app_values is not None
    assert "Ada L." == restored.app_values["first_name"]
