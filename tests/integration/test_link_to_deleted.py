"""A link to a company whose record was deleted on either side (issue 18, found by the
hostile link ids machine, tests/stateful/test_hostile_links.py).

A link whose other end's pair lost a record waits, as a link to an end not synced yet
does: it is never made to the surviving record of a company deleted in the app that
links to it, and it never fails the contact (which syncs as usual). Restoring the
deleted record completes it.
"""

from __future__ import annotations

from syncengine import RecordState, Side, SyncConfig, SyncEngine
from syncengine.adapters import InMemoryAdapter
from syncengine.index import MemoryIndexStore

from .conftest import (
    COMPANIES_APP,
    COMPANIES_HUB,
    CONTACTS_APP,
    CONTACTS_HUB,
    FakeClock,
    companies_sync,
    contacts_sync,
)


class World:
    def __init__(self) -> None:
        self.clock = FakeClock()
        self.hub = InMemoryAdapter(
            [CONTACTS_HUB, COMPANIES_HUB], name="hub", clock=self.clock, id_prefix="h"
        )
        self.app = InMemoryAdapter(
            [CONTACTS_APP, COMPANIES_APP], name="app", clock=self.clock, id_prefix="a"
        )
        self.index = MemoryIndexStore()
        config = SyncConfig("s", [companies_sync(), contacts_sync(associations=("companies",))])
        self.engine = SyncEngine(
            self.hub, self.app, self.index, config, clock=self.clock, sleep=self.clock.advance
        )
        self.company = self.hub.put("companies", {"name": "Gone", "domain": "gone.com"}).id
        self.contact = self.hub.put("contacts", {"email": "b@x.io", "firstname": "B"}).id
        assert not self.engine.initial_sync().errors
        self.account = self.pair("companies", self.company)
        self.person = self.pair("contacts", self.contact)

    def pair(self, object_type: str, hub_id: str) -> str:
        entry = self.index.by_record_ids("s", object_type, Side.HUB, [hub_id])[hub_id]
        assert entry.app_id is not None
        return entry.app_id

    def links_in_app(self) -> frozenset[str]:
        record = self.app.get("people", self.person)
        assert record is not None
        return frozenset(record.associations.get("accounts", ()))

    def contact_state(self) -> RecordState:
        return self.index.by_record_ids("s", "contacts", Side.HUB, [self.contact])[
            self.contact
        ].state


def test_a_link_to_a_company_deleted_in_its_own_app_is_not_made_to_the_survivor():
    """The hub links a contact to a company deleted in the hub: the app's contact was
    linked to the company's surviving copy in the app."""
    world = World()
    world.hub.remove("companies", world.company)
    world.clock.advance()
    world.engine.reconcile()
    gone = world.index.by_record_ids("s", "companies", Side.HUB, [world.company])
    assert Side.HUB is gone[world.company].deleted  # its entry failed: deleted in the hub
    world.clock.advance()
    world.hub.link("contacts", world.contact, "companies", world.company)
    report = world.engine.incremental_sync()
    assert not [e for e in report.errors if e.startswith("contacts")], report.errors
    assert frozenset() == world.links_in_app()
    assert RecordState.SYNCED is world.contact_state()


def test_a_link_to_a_company_whose_counterpart_was_deleted_waits_and_restore_completes_it():
    """The hub links a contact to a live company whose copy in the app was deleted: the
    contact failed (not_found, "accounts record … was deleted") on every pass; it syncs,
    the link waits, and restoring the company makes it."""
    world = World()
    world.app.remove("accounts", world.account)
    world.clock.advance()
    world.engine.reconcile()
    gone = world.index.by_record_ids("s", "companies", Side.HUB, [world.company])
    assert Side.APP is gone[world.company].deleted
    world.clock.advance()
    world.hub.link("contacts", world.contact, "companies", world.company)
    report = world.engine.incremental_sync()
    assert not [e for e in report.errors if e.startswith("contacts")], report.errors
    assert RecordState.SYNCED is world.contact_state()
    assert frozenset() == world.links_in_app()
    world.engine.restore(world.engine.plan_restore("companies", Side.APP))
    restored = world.pair("companies", world.company)
    assert restored != world.account
    world.clock.advance()
    world.engine.incremental_sync()
    assert frozenset({restored}) == world.links_in_app()
