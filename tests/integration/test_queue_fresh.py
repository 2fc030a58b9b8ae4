"""A pass that queues a record another pass holds never overwrites that pass's outcome
(S9).

A pass that cannot lease a record another live pass holds leaves it queued and marks
its entry so, for a later pass to retry the change it saw. The holder holds the lease,
not the entry's row: it stores its outcome when its writes return, at any time. The
mark was written with a read-then-write, so a holder that stored its outcome between
the read and the write had it overwritten with the copy read before (a lost update:
the record it created paired with nothing, the copies of the edit it synced gone).
These tests make that interleaving happen every time, with threads and events: the
queuing pass's write of the mark lets the holder go first, and waits until it stored
its outcome.
"""

from __future__ import annotations

import threading
from collections.abc import Sequence
from datetime import datetime
from pathlib import Path
from typing import Any

import pytest

from syncengine import (
    FieldMapping,
    MatchRule,
    ObjectSchema,
    ObjectSync,
    PropertySpec,
    RecordState,
    Side,
    SyncConfig,
    SyncEngine,
)
from syncengine.adapters import InMemoryAdapter
from syncengine.index import Entry, SQLiteIndexStore
from syncengine.index.base import SyncedCopy, SyncedRow, synced_copy
from syncengine.records import ChangeEvent
from syncengine.testing import FaultyAdapter

HUB = ObjectSchema("contacts", [PropertySpec("email", "string"), PropertySpec("name", "string")])
APP = ObjectSchema("people", [PropertySpec("mail", "string"), PropertySpec("nm", "string")])
CONFIG = SyncConfig(
    "fresh",
    [
        ObjectSync(
            "contacts",
            "people",
            [FieldMapping("email", "mail"), FieldMapping("name", "nm")],
            match=MatchRule.email("email", "mail"),
        )
    ],
)
#: How long a step waits for the other thread before the test fails (never reached
#: when the code is right: every wait is for an event the other thread sets).
TIMEOUT = 60.0


class Pause:
    """A hook for :meth:`FaultyAdapter.on_call <syncengine.testing.FaultyAdapter.on_call>`
    (``after=True``: the write landed, its reply not yet handed back): the next call of
    ``method`` waits there until the test lets it go."""

    def __init__(self) -> None:
        self.method: str | None = None
        self.sent = threading.Event()
        self.go = threading.Event()

    def __call__(self, method: str, n: int) -> None:
        if method == self.method:
            self.method = None
            self.sent.set()
            assert self.go.wait(TIMEOUT), f"the test never let the {method}'s reply go"


class HolderIndex(SQLiteIndexStore):
    """The holder's index: tells when the holder stored the outcome of ``hub_id``'s
    entry (a pair: no create in flight, both record ids)."""

    def __init__(self, path: Path, hub_id: str) -> None:
        super().__init__(path)
        self.hub_id = hub_id
        self.stored = threading.Event()

    def _note(self, entries: Sequence[Entry]) -> None:
        if any(
            e.hub_id == self.hub_id and e.app_id is not None and e.pending is None for e in entries
        ):
            self.stored.set()

    def write(self, entries: Sequence[Entry] = (), **kwargs: Any) -> None:
        super().write(entries, **kwargs)
        self._note(entries)

    def write_built(self, entries: Sequence[Entry], **kwargs: Any) -> None:
        # The engine's own entries (e.g. the incremental pass's lean path) are stored
        # through this method.
        super().write_built(entries, **kwargs)
        self._note(entries)

    def write_synced(
        self,
        copies: Sequence[SyncedCopy],
        updated_at: datetime,
        history_size: int,
        **kwargs: Any,
    ) -> None:
        # The new copies of the incremental pass's lean path are stored through this one.
        super().write_synced(copies, updated_at, history_size, **kwargs)
        self._note([synced_copy(*copy, updated_at, history_size) for copy in copies])

    def write_synced_rows(
        self,
        rows: Sequence[SyncedRow],
        updated_at: datetime,
        history_size: int,
        **kwargs: Any,
    ) -> None:
        # The lean path's new copies, from the views it read, are stored through this one.
        super().write_synced_rows(rows, updated_at, history_size, **kwargs)
        self._note([synced_copy(v.entry(), *rest, updated_at, history_size) for v, *rest in rows])


class QueuingIndex(SQLiteIndexStore):
    """The queuing pass's index: its first write of a queued mark on ``hub_id``'s entry
    first lets the holder store its outcome (the read of the entry is done by then);
    ``seen`` is the entry as stored once a queued mark is on it."""

    def __init__(self, path: Path, hub_id: str, pause: Pause, holder: HolderIndex) -> None:
        super().__init__(path)
        self.hub_id = hub_id
        self.pause = pause
        self.holder = holder
        self.armed = True
        self.seen: Entry | None = None

    def _holder_first(self, entries: Sequence[Entry]) -> None:
        if self.armed and any(e.hub_id == self.hub_id for e in entries):
            self.armed = False
            self.pause.go.set()
            assert self.holder.stored.wait(TIMEOUT), "the holder never stored its outcome"

    def _look(self) -> None:
        if not self.armed and self.seen is None:
            found = self.by_record_ids("fresh", "contacts", Side.HUB, [self.hub_id])
            if found[self.hub_id].state is RecordState.QUEUED:
                self.seen = found[self.hub_id]

    def write(self, entries: Sequence[Entry] = (), **kwargs: Any) -> None:
        self._holder_first([e for e in entries if e.state is RecordState.QUEUED])
        super().write(entries, **kwargs)
        self._look()

    def replace_unchanged(
        self, sync_id: str, object_type: str, changes: Sequence[tuple[Entry, Entry]]
    ) -> dict[str, Entry | None]:
        self._holder_first([new for _, new in changes])
        lost = super().replace_unchanged(sync_id, object_type, changes)
        self._look()
        return lost


@pytest.mark.parametrize(
    ("holds", "queuing"),
    [("create", "incremental"), ("update", "incremental"), ("update", "reconcile")],
)
def test_a_queued_mark_keeps_the_holders_outcome(tmp_path: Path, holds: str, queuing: str) -> None:
    hub = InMemoryAdapter([HUB], id_prefix="h")
    app = InMemoryAdapter([APP], id_prefix="a")
    pause = Pause()
    paused = FaultyAdapter(app)
    paused.on_call(pause, after=True)
    path = tmp_path / "index.db"
    for i in range(4):
        hub.put("contacts", email=f"p{i}@x.io", name=f"P{i}")
    first = SQLiteIndexStore(path)
    SyncEngine(hub, paused, first, CONFIG).initial_sync()
    first.close()
    if holds == "create":
        # The holder creates a new hub record in the app.
        target = hub.put("contacts", email="bea@x.io", name="Bea").id
        synced = "Bea"
    else:
        # The holder syncs an edit of a hub record to the app.
        target = next(r.id for r in hub.records("contacts") if r.properties["name"] == "P0")
        hub.patch("contacts", target, name="P0 two")
        synced = "P0 two"
    pause.method = holds
    holder_index = HolderIndex(path, target)
    failures: list[BaseException] = []

    def holder() -> None:
        try:
            SyncEngine(hub, paused, holder_index, CONFIG).incremental_sync()
        except BaseException as exc:  # reported by the main thread
            failures.append(exc)
            pause.sent.set()
            holder_index.stored.set()

    thread = threading.Thread(target=holder)
    thread.start()
    index = QueuingIndex(path, target, pause, holder_index)
    try:
        assert pause.sent.wait(TIMEOUT)
        assert not failures, failures
        # The holder's write landed; it holds the record until it stores the outcome.
        # The record changes again: the holder read it before, so the queuing pass
        # must leave this change for a later pass.
        hub.patch("contacts", target, name="Latest")
        engine = SyncEngine(hub, paused, index, CONFIG, queue_wait=0.0, sleep=lambda _: None)
        if queuing == "incremental":
            engine.incremental_sync()
        else:
            engine.reconcile(allow_mass_changes=True)
        thread.join(TIMEOUT)
        assert not thread.is_alive()
        assert not failures, failures
        entry = index.seen
        assert entry is not None, "the queuing pass never marked the held record queued"
        history = [(h.action, h.detail) for h in entry.history]
        # The holder's outcome, with the mark on it.
        assert entry.pending is None, history
        assert entry.app_id is not None, history
        made = app.get("people", entry.app_id)
        assert made is not None
        assert made.properties["mail"] == hub.get("contacts", target).properties["email"]  # type: ignore[union-attr]
        assert entry.hub_values is not None
        assert entry.app_values is not None
        # The queuing pass noted the record for the holder before it marked it
        # (leases.note_queued): a holder that reads the note as it lets go marks the
        # record queued itself, and its pass's retry may sync the change the queuing
        # pass saw before that pass's mark lands; the copies are then that change's.
        retried = ("queued", "another pass held it (rule S9)") in history[:-1]
        assert entry.hub_values["name"] == ("Latest" if retried else synced), history
        assert entry.app_values["nm"] == entry.hub_values["name"], history
        assert history[-1][0] == "queued"
        # A later pass retries the queued record: the change the queuing pass saw
        # reaches the app, and the holder's record is the one it updates.
        SyncEngine(hub, paused, index, CONFIG).incremental_sync()
        entry = index.by_record_ids("fresh", "contacts", Side.HUB, [target])[target]
        assert (entry.state, entry.pending) == (RecordState.SYNCED, None)
        assert entry.app_id == made.id
        assert app.get("people", made.id).properties["nm"] == "Latest"  # type: ignore[union-attr]
        mails = [r.properties["mail"] for r in app.records("people")]
        assert sorted(mails) == sorted(set(mails))
        assert len(mails) == len(hub.records("contacts"))
    finally:
        pause.go.set()
        holder_index.stored.set()
        thread.join(TIMEOUT)
        index.close()
        holder_index.close()


class PausingHolderIndex(SQLiteIndexStore):
    """The holder's index: its announcement of a create for ``hub_id`` (the entry
    pending) waits until the test lets it go; ``stored`` tells when the create's
    outcome is stored."""

    def __init__(self, path: Path, hub_id: str) -> None:
        super().__init__(path)
        self.hub_id = hub_id
        self.paused = threading.Event()
        self.go = threading.Event()
        self.stored = threading.Event()

    def write(self, entries: Sequence[Entry] = (), **kwargs: Any) -> None:
        mine = [e for e in entries if e.hub_id == self.hub_id]
        if any(e.pending is not None for e in mine) and not self.paused.is_set():
            self.paused.set()
            assert self.go.wait(TIMEOUT), "the test never let the holder go on"
        super().write(entries, **kwargs)
        if any(e.app_id is not None and e.pending is None for e in mine):
            self.stored.set()


class LateIndex(SQLiteIndexStore):
    """The other pass's index: its first write of ``hub_id``'s entry queued lets the
    holder go on first, and waits until it stored its outcome."""

    def __init__(self, path: Path, hub_id: str, holder: PausingHolderIndex) -> None:
        super().__init__(path)
        self.hub_id = hub_id
        self.holder = holder
        self.met = False

    def _holder_first(self, entries: Sequence[Entry]) -> None:
        if not self.met and any(
            e.hub_id == self.hub_id and e.state is RecordState.QUEUED for e in entries
        ):
            self.met = True
            self.holder.go.set()
            assert self.holder.stored.wait(TIMEOUT), "the holder never stored its outcome"

    def write(self, entries: Sequence[Entry] = (), **kwargs: Any) -> None:
        self._holder_first(entries)
        super().write(entries, **kwargs)

    def replace_unchanged(
        self, sync_id: str, object_type: str, changes: Sequence[tuple[Entry, Entry]]
    ) -> dict[str, Entry | None]:
        self._holder_first([new for _, new in changes])
        return super().replace_unchanged(sync_id, object_type, changes)


def test_a_duplicate_made_an_owner_again_keeps_the_holders_outcome(tmp_path: Path) -> None:
    """M3, S9: a pass frees an identifier and makes the duplicate that waited for it an
    owner again (queued) from the duplicate's entry as it read it; another pass holds
    that duplicate meanwhile (its e-mail changed: it creates it in the app) and stores
    the pair first. The duplicate's entry keeps that pair: written over, the created
    record paired with nothing and the next pass created it a second time."""
    hub = InMemoryAdapter([HUB], id_prefix="h")
    app = InMemoryAdapter([APP], id_prefix="a")
    path = tmp_path / "index.db"
    first_id = hub.put("contacts", email="ann@x.io", name="Ann").id
    second_id = hub.put("contacts", email="ann@x.io", name="Ann Two").id
    with SQLiteIndexStore(path) as index:
        SyncEngine(hub, app, index, CONFIG).initial_sync()
        duplicate = index.by_record_ids("fresh", "contacts", Side.HUB, [second_id])[second_id]
        assert duplicate.state is RecordState.EXCLUDED  # the duplicate (M3)
    # The duplicate gets an e-mail of its own: the holder creates it in the app.
    hub.patch("contacts", second_id, email="bo@x.io")
    holder_index = PausingHolderIndex(path, second_id)
    failures: list[BaseException] = []

    def holder() -> None:
        try:
            SyncEngine(hub, app, holder_index, CONFIG).incremental_sync()
        except BaseException as exc:  # reported by the main thread
            failures.append(exc)
            holder_index.paused.set()
            holder_index.stored.set()

    thread = threading.Thread(target=holder)
    thread.start()
    index = LateIndex(path, second_id, holder_index)
    try:
        assert holder_index.paused.wait(TIMEOUT)
        assert not failures, failures
        # The first record leaves the e-mail: a webhook pass processes it and frees the
        # e-mail; the duplicate's entry (read now) still holds it.
        hub.patch("contacts", first_id, email="zed@x.io")
        engine = SyncEngine(hub, app, index, CONFIG, queue_wait=0.0, sleep=lambda _: None)
        engine.handle_events(Side.HUB, [ChangeEvent("contacts", first_id)])
        thread.join(TIMEOUT)
        assert not thread.is_alive()
        assert not failures, failures
        assert index.met, "the pass never made the duplicate an owner again"
        entry = index.by_record_ids("fresh", "contacts", Side.HUB, [second_id])[second_id]
        history = [(h.action, h.detail) for h in entry.history]
        assert entry.app_id is not None, history
        made = app.get("people", entry.app_id)
        assert made is not None
        assert made.properties["mail"] == "bo@x.io"
        # The next passes create nothing more: one app record per hub record.
        SyncEngine(hub, app, index, CONFIG).incremental_sync()
        SyncEngine(hub, app, index, CONFIG).incremental_sync()
        mails = sorted(r.properties["mail"] for r in app.records("people"))
        assert mails == ["bo@x.io", "zed@x.io"]
        entry = index.by_record_ids("fresh", "contacts", Side.HUB, [second_id])[second_id]
        assert (entry.state, entry.app_id) == (RecordState.SYNCED, made.id)
    finally:
        holder_index.go.set()
        thread.join(TIMEOUT)
        index.close()
        holder_index.close()
