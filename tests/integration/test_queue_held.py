"""A pass that meets a create another pass has in flight never overwrites its outcome
(S8, S9).

A reconcile, or an initial sync (a scale-out worker that starts late), settles the
creates left in flight before anything else. A create whose pass still runs is not its
to settle: that pass holds the record's lease and stores the create's outcome itself.
The other pass once marked such entries queued with a read-then-write, so a holder that
stored its outcome in between had it overwritten with the copy read before: the entry
was pending and queued again, the create's record paired with nothing, and the end of
the initial sync left it queued (``benchmarks/scale_out.py --smoke`` failed that way on
a loaded machine: "synced=340, queued=20"). These tests make that interleaving happen
every time, with threads and events.
"""

from __future__ import annotations

import threading
import time
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
    transitions,
)
from syncengine.adapters import InMemoryAdapter
from syncengine.engine import settle
from syncengine.index import SQLiteIndexStore
from syncengine.testing import FaultyAdapter

HUB = ObjectSchema("contacts", [PropertySpec("email", "string"), PropertySpec("name", "string")])
APP = ObjectSchema("people", [PropertySpec("mail", "string"), PropertySpec("nm", "string")])
CONFIG = SyncConfig(
    "held",
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


@pytest.mark.parametrize("other_pass", ["reconcile", "worker"])
def test_a_create_in_flight_keeps_its_outcome_when_another_pass_meets_it(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch, other_pass: str
) -> None:
    hub = InMemoryAdapter([HUB], id_prefix="h")
    app = InMemoryAdapter([APP], id_prefix="a")
    pause = Pause()
    paused = FaultyAdapter(app)
    paused.on_call(pause, after=True)
    path = tmp_path / "index.db"
    people = [hub.put("contacts", email=f"p{i}@x.io", name=f"P{i}").id for i in range(6)]
    if other_pass == "reconcile":
        # A pass after the initial sync creates a new hub record in the app; a
        # reconcile starts while that create is in flight.
        first = SQLiteIndexStore(path)
        SyncEngine(hub, paused, first, CONFIG).initial_sync()
        first.close()
        people = [hub.put("contacts", email="bea@x.io", name="Bea").id]
    # else: two workers share the initial sync; the second starts while the first has
    # a create of phase 3 in flight.
    pause.method = "create"
    failures: list[BaseException] = []

    def holder() -> None:
        index = SQLiteIndexStore(path)
        try:
            if other_pass == "reconcile":
                SyncEngine(hub, paused, index, CONFIG).incremental_sync()
            else:
                SyncEngine(hub, paused, index, CONFIG, partition=(0, 2)).initial_sync()
        except BaseException as exc:  # reported by the main thread
            failures.append(exc)
            pause.sent.set()
        finally:
            index.close()

    thread = threading.Thread(target=holder)
    thread.start()
    assert pause.sent.wait(TIMEOUT)
    index = SQLiteIndexStore(path)
    sent = [i for i in people if _pending(index, i)]
    assert sent, "the holder's create is in flight"
    # The holder's create is in flight: it holds the hub record's lease. The other pass
    # reads the pending entry; before it writes anything, the holder stores its outcome.
    real = transitions.queued

    def late(*args: Any, **kwargs: Any) -> Any:
        pause.go.set()
        waited = 0.0
        while any(_pending(index, i) for i in sent):
            assert waited < TIMEOUT, "the holder never stored its create's outcome"
            time.sleep(0.01)
            waited += 0.01
        return real(*args, **kwargs)

    # (The code before the fix read the entries, then wrote a queued mark on each: this
    # lets the holder store its outcome in between. The fixed code writes no mark.)
    monkeypatch.setattr(settle, "queued", late, raising=False)

    def sleep(seconds: float) -> None:
        # The other pass waits (for a lease, or for the holder's unit of work at a
        # barrier between the phases): the holder's create may return now.
        pause.go.set()
        time.sleep(seconds)

    try:
        if other_pass == "reconcile":
            engine = SyncEngine(hub, paused, index, CONFIG, sleep=sleep)
            engine.reconcile(allow_mass_changes=True)
        else:
            engine = SyncEngine(hub, paused, index, CONFIG, partition=(1, 2), sleep=sleep)
            engine.initial_sync()
        pause.go.set()
        thread.join(TIMEOUT)
        assert not thread.is_alive()
        assert not failures, failures
        for record_id in people:
            entry = index.by_record_ids("held", "contacts", Side.HUB, [record_id])[record_id]
            assert (entry.pending, entry.state) == (None, RecordState.SYNCED), [
                (h.action, h.detail) for h in entry.history
            ]
        mails = [r.properties["mail"] for r in app.records("people")]
        assert sorted(mails) == sorted(set(mails))
        assert len(mails) == len(people) + (6 if other_pass == "reconcile" else 0)
    finally:
        pause.go.set()
        thread.join(TIMEOUT)
        index.close()


def _pending(index: SQLiteIndexStore, record_id: str) -> bool:
    entry = index.by_record_ids("held", "contacts", Side.HUB, [record_id]).get(record_id)
    return entry is not None and entry.pending is not None
