"""MemoryIndexStore and SQLiteIndexStore agree on every read after the same operations.

A Hypothesis state machine drives both stores through identical random writes, deletes,
cursors, settings, leases and reopenings of the SQLite file, and compares every read
(after Hypothesis' ``tests/nocover/test_database_agreement.py``).
"""

from __future__ import annotations

import shutil
import tempfile
from datetime import timedelta
from pathlib import Path

from hypothesis import HealthCheck, settings
from hypothesis import strategies as st
from hypothesis.stateful import RuleBasedStateMachine, invariant, rule

from syncengine import IndexStoreError, RecordState, Side
from syncengine.index import Entry, IndexStore, MemoryIndexStore, SQLiteIndexStore
from syncengine.testing._index_kit import (
    T0,
    cursor_strategy,
    entry_difference,
    entry_strategy,
)

SYNCS = ("diff-a", "diff-b")
TYPES = ("contacts", "deals")
IDS = tuple(f"e{i}" for i in range(6))
RECORD_IDS = ("r0", "r1", "r2", "r3")
KEYS = ("0:a@x", "0:b@x", "1:acme", "1:globex", "9:none")
TIMES = tuple(T0 + timedelta(minutes=m) for m in range(4))


def assert_same_entries(memory: list[Entry], sqlite: list[Entry], what: str) -> None:
    """Both lists hold the same entries, exactly, in the same order."""
    assert [e.entry_id for e in memory] == [e.entry_id for e in sqlite], what
    for expected, actual in zip(memory, sqlite, strict=True):
        assert entry_difference(expected, actual) == "", what


class StoresAgree(RuleBasedStateMachine):
    """The same operations on both stores; every read compared."""

    def __init__(self) -> None:
        super().__init__()
        self.directory = Path(tempfile.mkdtemp(prefix="syncengine-diff-"))
        self.path = self.directory / "index.db"
        self.memory = MemoryIndexStore()
        self.sqlite = SQLiteIndexStore(self.path)

    def teardown(self) -> None:
        """Close the file and remove it."""
        self.sqlite.close()
        shutil.rmtree(self.directory, ignore_errors=True)

    @property
    def stores(self) -> tuple[IndexStore, IndexStore]:
        return (self.memory, self.sqlite)

    @rule(
        entries=st.lists(entry_strategy(SYNCS), max_size=6),
        delete=st.lists(
            st.tuples(st.sampled_from(SYNCS), st.sampled_from(TYPES), st.sampled_from(IDS)),
            max_size=3,
        ),
        cursors=st.lists(cursor_strategy(SYNCS), max_size=2),
    )
    def write(self, entries, delete, cursors):
        """Write the same batch to both."""
        for store in self.stores:
            store.write(entries, delete=delete, cursors=cursors)

    @rule(entries=st.lists(entry_strategy(SYNCS), min_size=1, max_size=4), bad=st.integers(0, 3))
    def write_a_bad_batch(self, entries, bad):
        """Both refuse a batch with an unstorable value, and store nothing of it."""
        position = bad % len(entries)
        entries[position] = Entry(
            entries[position].sync_id, "contacts", "bad", T0, hub_values={"v": object()}
        )
        refused = []
        for store in self.stores:
            try:
                store.write(entries)
            except IndexStoreError:
                refused.append(store)
        assert refused == list(self.stores)

    @rule()
    def reopen_the_file(self):
        """Close the SQLite store and open the file again: everything is still there."""
        self.sqlite.close()
        self.sqlite = SQLiteIndexStore(self.path)

    @rule(sync_id=st.sampled_from(SYNCS))
    def delete_sync(self, sync_id):
        """Delete a sync in both."""
        for store in self.stores:
            store.delete_sync(sync_id)

    @rule(
        sync_id=st.sampled_from(SYNCS),
        key=st.sampled_from(["enabled", "run"]),
        value=st.none() | st.text(max_size=3),
    )
    def set_meta(self, sync_id, key, value):
        """Set or remove a setting in both, and read it back."""
        for store in self.stores:
            store.set_meta(sync_id, key, value)
        assert self.memory.get_meta(sync_id, key) == self.sqlite.get_meta(sync_id, key)

    @rule(
        sync_id=st.sampled_from(SYNCS),
        object_type=st.sampled_from(TYPES),
        names=st.lists(st.sampled_from(["n0", "n1", "n2"]), max_size=3),
        owner=st.sampled_from(["o1", "o2"]),
        now=st.sampled_from(TIMES),
        minutes=st.integers(0, 2),
    )
    def acquire(self, sync_id, object_type, names, owner, now, minutes):
        """Both grant the same names."""
        until = now + timedelta(minutes=minutes)
        granted = [
            store.acquire(sync_id, object_type, names, owner, until=until, now=now)
            for store in self.stores
        ]
        assert granted[0] == granted[1]

    @rule(
        sync_id=st.sampled_from(SYNCS),
        owner=st.sampled_from(["o1", "o2"]),
        names=st.none() | st.lists(st.sampled_from(["n0", "n1", "n2"]), max_size=2),
        object_type=st.none() | st.sampled_from(TYPES),
    )
    def release(self, sync_id, owner, names, object_type):
        """Release the same leases in both."""
        for store in self.stores:
            store.release(sync_id, owner, names, object_type)

    @rule(
        sync_id=st.sampled_from(SYNCS),
        object_type=st.sampled_from(TYPES),
        ids=st.lists(st.sampled_from([*IDS, "missing"]), max_size=6),
    )
    def get(self, sync_id, object_type, ids):
        """get agrees."""
        memory, sqlite = (store.get(sync_id, object_type, ids) for store in self.stores)
        assert sorted(memory) == sorted(sqlite)
        for entry_id, entry in memory.items():
            assert entry_difference(entry, sqlite[entry_id]) == ""

    @rule(
        sync_id=st.sampled_from(SYNCS),
        object_type=st.sampled_from(TYPES),
        side=st.sampled_from(Side),
        ids=st.lists(st.sampled_from(RECORD_IDS), max_size=4),
    )
    def by_record_ids(self, sync_id, object_type, side, ids):
        """by_record_ids agrees (either may pick any of several holders of one id)."""
        memory, sqlite = (
            store.by_record_ids(sync_id, object_type, side, ids) for store in self.stores
        )
        assert sorted(memory) == sorted(sqlite)
        holders = list(self.memory.entries(sync_id, object_type))
        for record_id, entry in sqlite.items():
            candidates = [e for e in holders if e.id_on(side) == record_id]
            assert any(entry_difference(e, entry) == "" for e in candidates)

    @rule(
        sync_id=st.sampled_from(SYNCS),
        object_type=st.sampled_from(TYPES),
        keys=st.lists(st.sampled_from(KEYS), max_size=4),
    )
    def by_keys(self, sync_id, object_type, keys):
        """by_keys agrees, lists in the same order."""
        memory, sqlite = (store.by_keys(sync_id, object_type, keys) for store in self.stores)
        assert sorted(memory) == sorted(sqlite)
        for key, entries in memory.items():
            assert_same_entries(entries, sqlite[key], f"by_keys({key!r})")

    @rule(
        sync_id=st.sampled_from(SYNCS),
        object_type=st.none() | st.sampled_from(TYPES),
        states=st.none() | st.frozensets(st.sampled_from(RecordState)),
        since=st.none() | st.sampled_from(TIMES),
        until=st.none() | st.sampled_from(TIMES),
        pending=st.none() | st.booleans(),
    )
    def entries(self, sync_id, object_type, states, since, until, pending):
        """entries() agrees for any filter."""
        memory, sqlite = (
            list(
                store.entries(
                    sync_id, object_type, states=states, since=since, until=until, pending=pending
                )
            )
            for store in self.stores
        )
        assert_same_entries(memory, sqlite, "entries()")

    @rule(
        sync_id=st.sampled_from(SYNCS),
        side=st.sampled_from(Side),
        object_type=st.sampled_from(TYPES),
        name=st.sampled_from(["poll", "other"]),
    )
    def cursor(self, sync_id, side, object_type, name):
        """cursor agrees."""
        memory, sqlite = (store.cursor(sync_id, side, object_type, name) for store in self.stores)
        assert memory == sqlite

    @invariant()
    def counts_agree(self):
        """counts agree (zeros and empty object types aside)."""
        for sync_id in SYNCS:
            memory, sqlite = (
                {t: {s: n for s, n in c.items() if n} for t, c in store.counts(sync_id).items()}
                for store in self.stores
            )
            assert {t: c for t, c in memory.items() if c} == {t: c for t, c in sqlite.items() if c}


StoresAgree.TestCase.settings = settings(
    settings.default,
    deadline=None,
    stateful_step_count=30,
    suppress_health_check=[HealthCheck.too_slow],
)
TestStoresAgree = StoresAgree.TestCase
TestStoresAgree.__doc__ = "MemoryIndexStore and SQLiteIndexStore agree on every read."
