"""A waiting link completed by one pass never overwrites the outcome of another pass
that holds the linking record (A1, S9).

A contact linked in the hub to a company not synced yet waits for it; the pass that
syncs the company completes the link and writes the contact's entry, without a lease
on the contact (it reads the entry, makes the link in the app, writes the entry). A
pass that holds the contact meanwhile (it syncs an edit of it) may store its outcome
in between: the link's write used to overwrite it with the copy read before, so the
contact's index copy went back to the value before the edit. This test makes that
interleaving happen every time, with threads and events.
"""

from __future__ import annotations

import threading
from collections.abc import Sequence
from pathlib import Path
from typing import Any

from syncengine import ChangeEvent, RecordState, Side, SyncConfig, SyncEngine
from syncengine.adapters import InMemoryAdapter
from syncengine.index import Entry, SQLiteIndexStore
from syncengine.testing import FaultyAdapter

from .conftest import (
    COMPANIES_APP,
    COMPANIES_HUB,
    CONTACTS_APP,
    CONTACTS_HUB,
    companies_sync,
    contacts_sync,
)

CONFIG = SyncConfig("links", [companies_sync(), contacts_sync(associations=("companies",))])
#: How long a step waits for the other thread before the test fails (never reached
#: when the code is right: every wait is for an event the other thread sets).
TIMEOUT = 60.0


class Pause:
    """A hook for :meth:`FaultyAdapter.on_call <syncengine.testing.FaultyAdapter.on_call>`
    (``after=True, with_type=True``: the write landed, its reply not yet handed back):
    the next update of people waits there until the test lets it go, once ``armed``."""

    def __init__(self) -> None:
        self.armed = False
        self.sent = threading.Event()
        self.go = threading.Event()

    def __call__(self, method: str, n: int, object_type: str | None) -> None:
        if self.armed and method == "update" and object_type == "people":
            self.armed = False
            self.sent.set()
            assert self.go.wait(TIMEOUT), "the test never let the update's reply go"


class HolderIndex(SQLiteIndexStore):
    """The holder's index: tells when the contact's entry holds the edit's copy."""

    def __init__(self, path: Path, hub_id: str) -> None:
        super().__init__(path)
        self.hub_id = hub_id
        self.stored = threading.Event()

    def write(self, entries: Sequence[Entry] = (), **kwargs: Any) -> None:
        super().write(entries, **kwargs)
        if any(
            e.hub_id == self.hub_id and (e.hub_values or {}).get("firstname") == "Cy"
            for e in entries
        ):
            self.stored.set()


class LinkingIndex(SQLiteIndexStore):
    """The linking pass's index: its first write of the contact's entry lets the holder
    store its outcome first."""

    def __init__(self, path: Path, hub_id: str, pause: Pause, holder: HolderIndex) -> None:
        super().__init__(path)
        self.hub_id = hub_id
        self.pause = pause
        self.holder = holder
        self.met = False

    def _holder_first(self, entries: Sequence[Entry]) -> None:
        if not self.met and any(e.hub_id == self.hub_id for e in entries):
            self.met = True
            self.pause.go.set()
            assert self.holder.stored.wait(TIMEOUT), "the holder never stored its outcome"

    def write(self, entries: Sequence[Entry] = (), **kwargs: Any) -> None:
        self._holder_first(entries)
        super().write(entries, **kwargs)

    def replace_unchanged(
        self, sync_id: str, object_type: str, changes: Sequence[tuple[Entry, Entry]]
    ) -> dict[str, Entry | None]:
        self._holder_first([new for _, new in changes])
        return super().replace_unchanged(sync_id, object_type, changes)


def test_a_completed_link_keeps_the_outcome_of_the_pass_holding_the_contact(
    tmp_path: Path,
) -> None:
    hub = InMemoryAdapter([CONTACTS_HUB, COMPANIES_HUB], id_prefix="h")
    people = InMemoryAdapter([CONTACTS_APP, COMPANIES_APP], id_prefix="a")
    app = FaultyAdapter(people)
    pause = Pause()
    app.on_call(pause, after=True, with_type=True)
    path = tmp_path / "index.db"
    contact = hub.put("contacts", email="c@x.io", firstname="C").id
    with SQLiteIndexStore(path) as index:
        engine = SyncEngine(hub, app, index, CONFIG)
        engine.initial_sync()
        # A company the sync has not met yet; the contact links to it: the link waits.
        company = hub.put("companies", name="Kay", domain="kay.io").id
        hub.link("contacts", contact, "companies", company)
        engine.handle_events(Side.HUB, [ChangeEvent("contacts", contact)])
        entry = index.by_record_ids("links", "contacts", Side.HUB, [contact])[contact]
        assert f"~companies:hub:{company}" in entry.keys  # waiting for the company
    # The holder syncs an edit of the contact; its update landed, its outcome waits.
    hub.patch("contacts", contact, firstname="Cy")
    pause.armed = True
    holder_index = HolderIndex(path, contact)
    failures: list[BaseException] = []

    def holder() -> None:
        try:
            SyncEngine(hub, app, holder_index, CONFIG).handle_events(
                Side.HUB, [ChangeEvent("contacts", contact)]
            )
        except BaseException as exc:  # reported by the main thread
            failures.append(exc)
            pause.sent.set()
            holder_index.stored.set()

    thread = threading.Thread(target=holder)
    thread.start()
    index = LinkingIndex(path, contact, pause, holder_index)
    try:
        assert pause.sent.wait(TIMEOUT)
        assert not failures, failures
        # Another pass syncs the company: it completes the contact's waiting link.
        engine = SyncEngine(hub, app, index, CONFIG, queue_wait=0.0, sleep=lambda _: None)
        engine.handle_events(Side.HUB, [ChangeEvent("companies", company)])
        thread.join(TIMEOUT)
        assert not thread.is_alive()
        assert not failures, failures
        assert index.met, "the company's pass never completed the contact's link"
        entry = index.by_record_ids("links", "contacts", Side.HUB, [contact])[contact]
        history = [(h.action, h.detail) for h in entry.history]
        # The holder's outcome stands: the copy of the edit it synced.
        assert entry.hub_values is not None
        assert entry.hub_values["firstname"] == "Cy", history
        assert entry.app_values is not None
        assert entry.app_values["first_name"] == "Cy", history
        assert entry.app_id is not None
        person = people.get("people", entry.app_id)
        assert person is not None
        assert person.properties["first_name"] == "Cy"
        account = index.by_record_ids("links", "companies", Side.HUB, [company])[company]
        assert account.app_id is not None
        assert account.app_id in person.associations.get("accounts", ())  # the link made
        # The next pass finds the link in both apps and records it; nothing else moves.
        SyncEngine(hub, app, index, CONFIG).incremental_sync()
        entry = index.by_record_ids("links", "contacts", Side.HUB, [contact])[contact]
        assert entry.state is RecordState.SYNCED
        assert entry.hub_values is not None
        assert entry.hub_values["firstname"] == "Cy"
        person = people.get("people", entry.app_id or "")
        assert person is not None
        assert person.properties["first_name"] == "Cy"
    finally:
        pause.go.set()
        holder_index.stored.set()
        thread.join(TIMEOUT)
        index.close()
        holder_index.close()
