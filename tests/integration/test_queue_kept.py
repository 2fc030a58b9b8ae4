"""The holder's outcome keeps the queued mark another pass wrote while it held the
record (S9).

A pass that cannot lease a record another live pass holds marks its entry queued, for
a later pass to retry the change it saw, and moves its cursor past that change. The
holder stores its own outcome (decided from the record as it read it, before that
change) with a plain write when its work returns. Written after the mark, that outcome
erased it: the change was lost whenever nothing brought the record back into a scan —
a failure that is not retried, an exclusion, or an update whose write comes back to the
next pass as the engine's own echo. These tests make that interleaving happen every
time, with threads and events: the holder's outcome write waits until the other pass
marked the record queued.
"""

from __future__ import annotations

import threading
from collections.abc import Sequence
from datetime import datetime
from pathlib import Path
from typing import Any

import pytest

from syncengine import (
    Condition,
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
)
from syncengine.adapters import InMemoryAdapter
from syncengine.index import Entry, SQLiteIndexStore
from syncengine.index.base import SyncedCopy, SyncedRow
from syncengine.records import RecordUpdate
from syncengine.testing import FaultyAdapter

HUB = ObjectSchema("contacts", [PropertySpec("email", "string"), PropertySpec("name", "string")])
APP = ObjectSchema("people", [PropertySpec("mail", "string"), PropertySpec("nm", "string")])
#: How long a step waits for the other thread before the test fails (never reached
#: when the code is right: every wait is for an event the other thread sets).
TIMEOUT = 60.0


def config(filtered: bool) -> SyncConfig:
    return SyncConfig(
        "kept",
        [
            ObjectSync(
                "contacts",
                "people",
                [FieldMapping("email", "mail"), FieldMapping("name", "nm")],
                match=MatchRule.email("email", "mail"),
                # Filters for life: a hub record named "xhidden" leaves the sync (L2).
                hub_filter=Filter.where(Condition("name", "neq", "xhidden")) if filtered else None,
                filter_lifetime=filtered,
            )
        ],
    )


class HoldingIndex(SQLiteIndexStore):
    """The holder's index: its first write of ``hub_id``'s entry (the outcome of the
    pass) waits until the test lets it go."""

    def __init__(self, path: Path, hub_id: str) -> None:
        super().__init__(path)
        self.hub_id = hub_id
        self.paused = threading.Event()
        self.go = threading.Event()

    def _hold(self, entries: Sequence[Entry]) -> None:
        if not self.paused.is_set() and any(e.hub_id == self.hub_id for e in entries):
            self.paused.set()
            assert self.go.wait(TIMEOUT), "the test never let the holder store its outcome"

    def write(self, entries: Sequence[Entry] = (), **kwargs: Any) -> None:
        self._hold(entries)
        super().write(entries, **kwargs)

    def write_built(self, entries: Sequence[Entry], **kwargs: Any) -> None:
        self._hold(entries)  # the incremental pass's lean path stores through this
        super().write_built(entries, **kwargs)

    def write_synced(
        self,
        copies: Sequence[SyncedCopy],
        updated_at: datetime,
        history_size: int,
        **kwargs: Any,
    ) -> None:
        # The lean path's new copies of synced pairs are stored through this one.
        self._hold([copy[0] for copy in copies])
        super().write_synced(copies, updated_at, history_size, **kwargs)

    def write_synced_rows(
        self,
        rows: Sequence[SyncedRow],
        updated_at: datetime,
        history_size: int,
        **kwargs: Any,
    ) -> None:
        # The lean path's new copies, from the views it read, are stored through this one.
        self._hold([row[0].entry() for row in rows])
        super().write_synced_rows(rows, updated_at, history_size, **kwargs)


@pytest.mark.parametrize("outcome", ["failed", "excluded", "synced"])
def test_the_holders_outcome_keeps_a_queued_mark(tmp_path: Path, outcome: str) -> None:
    hub = InMemoryAdapter([HUB], id_prefix="h")
    app = InMemoryAdapter([APP], id_prefix="a")
    faulty = FaultyAdapter(app)
    cfg = config(outcome == "excluded")
    path = tmp_path / "index.db"
    for i in range(4):
        hub.put("contacts", email=f"p{i}@x.io", name=f"P{i}")
    with SQLiteIndexStore(path) as first:
        SyncEngine(hub, faulty, first, cfg).initial_sync()
    target = next(r.id for r in hub.records("contacts") if r.properties["name"] == "P0")
    # The holder's change of the record, and what it makes of it.
    if outcome == "failed":
        hub.patch("contacts", target, name="P0 refused")
        faulty.fail_items(
            "update",
            lambda item: (
                isinstance(item, RecordUpdate) and item.properties.get("nm") == "P0 refused"
            ),
            ErrorCategory.VALIDATION,
            "nm: not accepted",
        )
        held = ("failed", "nm: not accepted")
    elif outcome == "excluded":
        hub.patch("contacts", target, name="xhidden")
        held = ("excluded", "the hub record no longer passes its filter (rule L2)")
    else:
        hub.patch("contacts", target, name="P0 two")
        held = ("synced", "updated app: nm")
    holder_index = HoldingIndex(path, target)
    failures: list[BaseException] = []

    def holder() -> None:
        try:
            SyncEngine(hub, faulty, holder_index, cfg).incremental_sync()
        except BaseException as exc:  # reported by the main thread
            failures.append(exc)
            holder_index.paused.set()

    thread = threading.Thread(target=holder)
    thread.start()
    index = SQLiteIndexStore(path)
    try:
        assert holder_index.paused.wait(TIMEOUT)
        assert not failures, failures
        # The holder decided from the record as it read it; the record changes again,
        # and another pass sees that change while the holder still holds the record.
        hub.patch("contacts", target, name="Latest")
        engine = SyncEngine(hub, faulty, index, cfg, queue_wait=0.0, sleep=lambda _: None)
        report = engine.incremental_sync()
        assert sum(report.side("contacts", side).queued for side in Side) == 1
        entry = index.by_record_ids("kept", "contacts", Side.HUB, [target])[target]
        assert entry.state is RecordState.QUEUED
        # Now the holder stores its outcome.
        holder_index.go.set()
        thread.join(TIMEOUT)
        assert not thread.is_alive()
        assert not failures, failures
        entry = index.by_record_ids("kept", "contacts", Side.HUB, [target])[target]
        history = [(h.action, h.detail) for h in entry.history]
        # The holder's outcome is in the entry's history, and the mark after it (the
        # holder's pass may have retried the record since, at its end).
        assert held in history, history
        assert [a for a, _ in history[history.index(held) + 1 :]][:1] == ["queued"], history
        # A later pass retries the record: the change the other pass saw reaches the app.
        faulty.clear()
        SyncEngine(hub, faulty, index, cfg).incremental_sync()
        entry = index.by_record_ids("kept", "contacts", Side.HUB, [target])[target]
        history = [(h.action, h.detail) for h in entry.history]
        assert entry.state is RecordState.SYNCED, history
        assert entry.app_id is not None
        assert app.get("people", entry.app_id).properties["nm"] == "Latest", history  # type: ignore[union-attr]
        assert len(app.records("people")) == 4
    finally:
        holder_index.go.set()
        thread.join(TIMEOUT)
        index.close()
        holder_index.close()
