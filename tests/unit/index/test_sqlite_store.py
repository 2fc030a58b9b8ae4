"""SQLiteIndexStore specifics: migrations, several stores and processes on one file,
errors, query plans and the size of an entry on disk."""

from __future__ import annotations

import json
import multiprocessing
import re
import runpy
import sqlite3
import textwrap
from datetime import UTC, datetime, timedelta
from typing import ClassVar

import attrs
import pytest

from syncengine import ErrorCategory, IndexStoreError, RecordState, Side
from syncengine.entry import CorruptEntry
from syncengine.index import (
    CursorUpdate,
    Entry,
    HistoryItem,
    InboxItem,
    SQLiteIndexStore,
    _rowformat,
)
from syncengine.index import sqlite as sqlite_module

T0 = datetime(2024, 1, 1, tzinfo=UTC)
HOUR = timedelta(hours=1)


def contact(i: int, sync_id: str = "s", **fields) -> Entry:
    """A realistic contact entry: 8 mapped string fields per side, one e-mail key."""
    email = f"person.number{i}@example{i % 7}.com"
    values = [email, f"First{i % 50}", f"Last{i % 80}", f"+45 {20000000 + i}"]
    values += [f"Company {i % 300} ApS", "Engineer", "Copenhagen", "Denmark"]
    hub_names = [
        "email",
        "firstname",
        "lastname",
        "phone",
        "company",
        "jobtitle",
        "city",
        "country",
    ]
    app_names = ["Email", "FirstName", "LastName", "Phone", "Company", "Title", "City", "Country"]
    at = T0 + timedelta(seconds=i)
    defaults = {
        "hub_id": str(3_000_000_000 + i),
        "app_id": f"C-{i:08d}",
        "state": RecordState.SYNCED,
        "keys": frozenset({f"0:{email}"}),
        "matched_by": "0",
        "hub_values": dict(zip(hub_names, values, strict=True)),
        "app_values": dict(zip(app_names, values, strict=True)),
        "history": (HistoryItem(at, "created", "app"),),
    }
    return Entry(sync_id, "contacts", f"h{3_000_000_000 + i}", at, **{**defaults, **fields})


def old_schema(monkeypatch, version: int) -> None:
    """Make stores opened from now on create (and write) files of schema ``version``:
    its migrations only, and before version 6 no interned history items (the items
    table came with it; rows then held their history inline)."""
    monkeypatch.setattr(sqlite_module, "_MIGRATIONS", sqlite_module._MIGRATIONS[:version])
    if version < 6:
        intern = SQLiteIndexStore._intern_text

        def no_items(self, kind, text):
            return None if kind == _rowformat.ITEMS else intern(self, kind, text)

        monkeypatch.setattr(SQLiteIndexStore, "_intern_text", no_items)


def schema_version(path) -> int:
    with sqlite3.connect(path) as conn:
        version = conn.execute("SELECT version FROM schema_version").fetchone()[0]
    conn.close()
    return int(version)


class TestMigrations:
    """The schema is versioned and migrated in order."""

    def test_a_new_file_gets_the_latest_schema(self, tmp_path):
        """Opening a new file applies every migration and records the version."""
        SQLiteIndexStore(tmp_path / "index.db").close()
        assert len(sqlite_module._MIGRATIONS) == schema_version(tmp_path / "index.db")

    def test_reopening_a_file_keeps_everything(self, tmp_path):
        """Entries, cursors, settings and leases survive closing and reopening."""
        path = tmp_path / "index.db"
        with SQLiteIndexStore(path) as store:
            store.write([contact(1)], cursors=[CursorUpdate("s", Side.APP, "contacts", "c1")])
            store.set_meta("s", "enabled", "yes")
            store.acquire("s", "contacts", ["r1"], "pass-1", until=T0 + HOUR, now=T0)
        with SQLiteIndexStore(path) as store:
            assert (
                contact(1) == store.get("s", "contacts", [contact(1).entry_id])[contact(1).entry_id]
            )
            assert "c1" == store.cursor("s", Side.APP, "contacts")
            assert "yes" == store.get_meta("s", "enabled")
            assert set() == store.acquire("s", "contacts", ["r1"], "pass-2", until=T0, now=T0)
            assert {"contacts": {RecordState.SYNCED: 1}} == store.counts("s")

    def test_a_file_from_a_newer_version_is_refused_clearly(self, tmp_path):
        """A schema version this syncengine does not know raises IndexStoreError."""
        path = tmp_path / "index.db"
        SQLiteIndexStore(path).close()
        with sqlite3.connect(path) as conn:
            conn.execute("UPDATE schema_version SET version = 99")
        conn.close()
        with pytest.raises(IndexStoreError, match=r"schema version 99.*upgrade syncengine"):
            SQLiteIndexStore(path)

    def test_new_migrations_apply_in_order_to_an_existing_file(self, tmp_path, monkeypatch):
        """A file of the current version is brought to the next by a new step; data stays."""
        path = tmp_path / "index.db"
        with SQLiteIndexStore(path) as store:
            store.write([contact(1)])
        steps = (
            "CREATE TABLE added_in_v2 (x INTEGER)",
            "INSERT INTO added_in_v2 (x) SELECT count(*) FROM entries",
        )
        current = len(sqlite_module._MIGRATIONS)
        assert current == schema_version(path)
        monkeypatch.setattr(sqlite_module, "_MIGRATIONS", (*sqlite_module._MIGRATIONS, steps))
        with SQLiteIndexStore(path) as store:
            assert 1 == store.count("s")
        assert current + 1 == schema_version(path)
        with sqlite3.connect(path) as conn:
            assert (1,) == conn.execute("SELECT x FROM added_in_v2").fetchone()
        conn.close()

    def test_a_version_1_file_is_migrated_and_keeps_working(self, tmp_path, monkeypatch):
        """A file made by the first schema gets the current one: lookups, state queries
        and leases behave the same, and the indexes dropped by version 2 are gone."""
        path = tmp_path / "index.db"
        old_schema(monkeypatch, 1)
        with SQLiteIndexStore(path) as store:
            store.write([contact(1), contact(2, state=RecordState.FAILED)])
            store.acquire("s", "contacts", ["r1"], "pass-1", until=T0 + HOUR, now=T0)
        assert 1 == schema_version(path)
        monkeypatch.undo()
        with SQLiteIndexStore(path) as store:
            failed = store.entries("s", "contacts", states=[RecordState.FAILED])
            assert [contact(2, state=RecordState.FAILED)] == list(failed)
            assert set() == store.acquire(
                "s", "contacts", ["r1"], "pass-2", until=T0 + HOUR, now=T0
            )
            store.release("s", "pass-1", None, "contacts")
            assert {"r1"} == store.acquire(
                "s", "contacts", ["r1"], "pass-2", until=T0 + HOUR, now=T0
            )
        assert len(sqlite_module._MIGRATIONS) == schema_version(path)
        conn = sqlite3.connect(path)
        names = {row[0] for row in conn.execute("SELECT name FROM sqlite_master")}
        conn.close()
        assert "leases_by_owner" not in names
        assert "entries_by_state" in names

    def test_a_version_2_file_gets_the_webhook_inbox(self, tmp_path, monkeypatch):
        """Issue 19 item 7: a file made before the inbox (version 2) is migrated when it
        is opened; its entries stay and its inbox works (keeps, drops repeats, removes)."""
        path = tmp_path / "index.db"
        old_schema(monkeypatch, 2)
        with SQLiteIndexStore(path) as store:
            store.write([contact(1)])
        assert 2 == schema_version(path)
        monkeypatch.undo()
        with SQLiteIndexStore(path) as store:
            assert [contact(1)] == list(store.entries("s"))
            item = InboxItem("s", Side.HUB, "e:1", '{"record_id":"1"}', T0)
            assert 1 == store.inbox_add([item, item])
            (kept,) = store.inbox("s")
            assert attrs.evolve(item, seq=kept.seq) == kept
            store.inbox_remove("s", [kept.seq])
            assert 0 == store.inbox_count("s")
        assert 3 <= schema_version(path)

    def test_a_version_3_file_gets_the_pass_history(self, tmp_path, monkeypatch):
        """Issue 20 item 3: a file made before the pass history (version 3) is migrated
        when it is opened; its entries and inbox stay, and passes are kept and numbered."""
        from syncengine.history import PassRecord

        path = tmp_path / "index.db"
        old_schema(monkeypatch, 3)
        with SQLiteIndexStore(path) as store:
            store.write([contact(1)])
            store.inbox_add([InboxItem("s", Side.HUB, "e:1", "{}", T0)])
        assert 3 == schema_version(path)
        monkeypatch.undo()
        with SQLiteIndexStore(path) as store:
            assert [contact(1)] == list(store.entries("s"))
            assert 1 == store.inbox_count("s")
            first = store.add_pass(PassRecord("s", "initial", T0, T0 + HOUR, "completed"))
            second = store.add_pass(PassRecord("s", "incremental", T0, T0, "skipped", "off"))
            assert [second, first] == store.passes("s")
            assert (1, 2) == (first.number, second.number)
        assert 4 <= schema_version(path)

    def test_a_file_that_is_not_a_database_is_refused(self, tmp_path):
        """Opening garbage raises IndexStoreError with the cause chained."""
        path = tmp_path / "index.db"
        path.write_bytes(b"this is not a database, just some text" * 100)
        with pytest.raises(IndexStoreError, match="cannot open index") as raised:
            SQLiteIndexStore(path)
        assert isinstance(raised.value.__cause__, sqlite3.DatabaseError)


class TestErrors:
    """Failures are IndexStoreError with the cause chained, and roll back."""

    def test_a_failing_statement_rolls_back_the_whole_write(self, tmp_path):
        """A database error mid-write stores nothing and raises IndexStoreError."""
        path = tmp_path / "index.db"
        with SQLiteIndexStore(path) as store:
            store.write([contact(1)])
            with sqlite3.connect(path) as other:  # break the keys table behind its back
                other.execute("DROP TABLE keys")
            other.close()
            with pytest.raises(IndexStoreError, match="rolled back") as raised:
                store.write([contact(2)], cursors=[CursorUpdate("s", Side.HUB, "contacts", "c2")])
            assert isinstance(raised.value.__cause__, sqlite3.OperationalError)
            assert {} == store.get("s", "contacts", [contact(2).entry_id])
            assert store.cursor("s", Side.HUB, "contacts") is None

    def test_names_interned_by_a_refused_write_are_forgotten(self, tmp_path):
        """A rolled-back write that created a sync, a type and a shape leaves no trace."""
        path = tmp_path / "index.db"
        new = Entry("new-sync", "new-type", "e1", T0, hub_values={"brand": "new"})
        bad = Entry("new-sync", "new-type", "e2", T0, hub_values={"v": object()})
        with SQLiteIndexStore(path) as store:
            with pytest.raises(IndexStoreError):
                store.write([new, bad])
            store.write([Entry("other", "contacts", "x", T0, hub_values={"other": 1})])
            store.write([new])
            assert {"e1": new} == store.get("new-sync", "new-type", ["e1"])
        with SQLiteIndexStore(path) as store:
            assert {"e1": new} == store.get("new-sync", "new-type", ["e1"])

    def test_a_closed_store_raises(self, tmp_path):
        """Any call after close() raises IndexStoreError; closing twice is fine."""
        store = SQLiteIndexStore(tmp_path / "index.db")
        store.close()
        store.close()
        with pytest.raises(IndexStoreError, match="closed"):
            store.get("s", "contacts", ["e1"])
        with pytest.raises(IndexStoreError, match="closed"):
            store.write([contact(1)])


class TestTwoStoresOnOneFile:
    """Two stores on one file behave like two processes sharing it."""

    def test_each_sees_the_others_writes(self, tmp_path):
        """Entries, keys, counts, cursors and settings written by one are read by the other."""
        path = tmp_path / "index.db"
        with SQLiteIndexStore(path) as first, SQLiteIndexStore(path) as second:
            first.write([contact(1)], cursors=[CursorUpdate("s", Side.HUB, "contacts", "c")])
            first.set_meta("s", "enabled", "yes")
            entry = contact(1)
            assert {"0:" + entry.hub_values["email"]: [entry]} == second.by_keys(
                "s", "contacts", entry.keys
            )
            assert "c" == second.cursor("s", Side.HUB, "contacts")
            assert "yes" == second.get_meta("s", "enabled")
            # New names and value shapes made by the second are understood by the first.
            deal = Entry("s", "deals", "d1", T0, hub_values={"amount": 5.0, "stage": "won"})
            second.write([deal, contact(2)])
            assert [contact(1), contact(2)] == list(first.entries("s", "contacts"))
            assert {"d1": deal} == first.get("s", "deals", ["d1"])
            assert {"contacts": {RecordState.SYNCED: 2}, "deals": {RecordState.INITIAL: 1}} == (
                first.counts("s")
            )
            first.delete_sync("s")
            assert [] == list(second.entries("s"))

    def test_leases_exclude_each_other(self, tmp_path):
        """A name one store holds is refused to the other until it expires or is released."""
        path = tmp_path / "index.db"
        with SQLiteIndexStore(path) as first, SQLiteIndexStore(path) as second:
            assert {"r1", "r2"} == first.acquire(
                "s", "contacts", ["r1", "r2"], "pass-1", until=T0 + HOUR, now=T0
            )
            assert {"r3"} == second.acquire(
                "s", "contacts", ["r1", "r3"], "pass-2", until=T0 + HOUR, now=T0
            )
            first.release("s", "pass-1", ["r1"])
            assert {"r1"} == second.acquire(
                "s", "contacts", ["r1", "r2"], "pass-2", until=T0 + HOUR, now=T0
            )
            assert {"r2"} == second.acquire(
                "s", "contacts", ["r2"], "pass-2", until=T0 + 2 * HOUR, now=T0 + HOUR
            )

    @pytest.mark.parametrize("json_functions", [True, False])
    def test_free_names_are_leased_in_one_statement(self, tmp_path, json_functions):
        """A batch no lease row holds (most of them) is leased with one insert, without
        reading the leases first (one insert of a JSON array, whatever the number of
        names; without SQLite's JSON functions, one per chunk of parameters); a batch
        meeting a held, expired or own lease reads them and decides each name as before,
        in the same transaction."""
        with SQLiteIndexStore(tmp_path / "index.db") as store:
            if not json_functions:
                store._json = False
            store.acquire("s", "contacts", ["warm"], "pass-0", until=T0 + HOUR, now=T0)
            statements: list[str] = []
            store._connection().set_trace_callback(statements.append)
            try:
                names = [f"hub:h{n}" for n in range(300)]
                assert set(names) == store.acquire(
                    "s", "contacts", names, "pass-1", until=T0 + HOUR, now=T0
                )
            finally:
                store._connection().set_trace_callback(None)
            touching = [s for s in statements if "leases" in s]
            assert len(touching) == 1, statements
            assert touching[0].startswith("INSERT")
            # More names than one statement takes: one insert per chunk, nothing read.
            statements.clear()
            store._connection().set_trace_callback(statements.append)
            try:
                many = [f"app:a{n}" for n in range(2000)]
                assert set(many) == store.acquire(
                    "s", "contacts", many, "pass-1", until=T0 + HOUR, now=T0
                )
            finally:
                store._connection().set_trace_callback(None)
            touching = [s for s in statements if "leases" in s]
            assert len(touching) == (1 if json_functions else 3), [s[:60] for s in statements]
            assert ("json_each" in touching[0]) is json_functions
            assert all(s.startswith("INSERT") for s in touching)
            store.release("s", "pass-1", many)
            # Held by another pass (refused), expired (taken), this owner's (extended).
            store.acquire("s", "contacts", ["old"], "pass-2", until=T0 + HOUR, now=T0)
            store.acquire("s", "contacts", ["held"], "pass-2", until=T0 + 3 * HOUR, now=T0)
            assert {"new", "old", "hub:h1"} == store.acquire(
                "s",
                "contacts",
                ["new", "old", "held", "hub:h1"],
                "pass-1",
                until=T0 + 4 * HOUR,
                now=T0 + 2 * HOUR,
            )
            assert {"new": "pass-1", "old": "pass-1", "held": "pass-2", "hub:h1": "pass-1"} == (
                store.holders("s", "contacts", ["new", "old", "held", "hub:h1"])
            )
            # Each lease granted runs to the new time: none is free at T0 + 3 hours.
            assert set() == store.acquire(
                "s",
                "contacts",
                ["new", "old", "hub:h1"],
                "pass-3",
                until=T0 + 5 * HOUR,
                now=T0 + 3 * HOUR,
            )


RACER = textwrap.dedent(
    """
    import json
    from datetime import UTC, datetime, timedelta
    from syncengine.index import SQLiteIndexStore

    T0 = datetime(2024, 1, 1, tzinfo=UTC)
    with SQLiteIndexStore(PATH) as store:
        granted, tried = set(), []
        for name in NAMES:
            BARRIER.wait()  # both claim this name at once, whatever the scheduling
            tried.append(name)
            granted |= store.acquire(
                "s", "contacts", [name], OWNER, until=T0 + timedelta(hours=1), now=T0
            )
    with open(OUT, "w") as out:
        json.dump({"granted": sorted(granted), "tried": tried}, out)
    """
)


def test_leases_exclude_each_other_across_two_processes(tmp_path):
    """Two processes racing for the same names never both get one (SPEC S9).

    They go in lockstep (a barrier before each name), so every name is claimed by both
    at once: which one wins is up to the machine, that exactly one does is not."""
    path = tmp_path / "index.db"
    SQLiteIndexStore(path).close()
    script = tmp_path / "racer.py"
    script.write_text(RACER)
    names = [f"r{i}" for i in range(150)]
    context = multiprocessing.get_context("spawn")
    barrier = context.Barrier(2, timeout=600)  # a dead racer fails the other, never hangs it

    def racer(owner: str, order: list[str]) -> dict:
        out = tmp_path / f"{owner}.json"
        return {
            "init_globals": {
                "PATH": str(path),
                "OWNER": owner,
                "NAMES": order,
                "BARRIER": barrier,
                "OUT": str(out),
            }
        }

    # runpy.run_path is importable in the child; a test function is not (importlib mode).
    child = context.Process(
        target=runpy.run_path, args=(str(script),), kwargs=racer("child", names)
    )
    child.start()
    try:
        runpy.run_path(str(script), **racer("parent", names))
    finally:
        child.join(timeout=60)
    assert 0 == child.exitcode
    parent = json.loads((tmp_path / "parent.json").read_text())
    child_out = json.loads((tmp_path / "child.json").read_text())
    assert names == parent["tried"] == child_out["tried"]  # every name contested
    parent_got, child_got = set(parent["granted"]), set(child_out["granted"])
    assert set() == parent_got & child_got
    assert set(names) == parent_got | child_got
    with SQLiteIndexStore(path) as store:
        assert set() == store.acquire("s", "contacts", names, "third", until=T0, now=T0)


class TestQueries:
    """Every lookup uses an index; counts never read entries; iteration pages."""

    @staticmethod
    def statements(store, action) -> list[str]:
        seen: list[str] = []
        store._conn.set_trace_callback(seen.append)
        try:
            action()
        finally:
            store._conn.set_trace_callback(None)
        return [s for s in seen if s.lstrip().upper().startswith("SELECT")]

    def test_lookups_use_indexes_and_counts_read_no_entries(self, tmp_path):
        """No lookup scans a table; counts() reads only the counts table."""
        with SQLiteIndexStore(tmp_path / "index.db") as store:
            store.write([contact(i) for i in range(50)])
            entry = contact(7)
            calls = [
                lambda: store.get("s", "contacts", [entry.entry_id]),
                lambda: store.by_record_ids("s", "contacts", Side.HUB, [entry.hub_id]),
                lambda: store.by_record_ids("s", "contacts", Side.APP, [entry.app_id]),
                lambda: store.by_keys("s", "contacts", entry.keys),
                lambda: store.marked("s", "contacts", Side.HUB, [entry.hub_id], "i1"),
                lambda: store.entries("s", "contacts", pending=True),
                lambda: list(store.entries("s", "contacts", states=[RecordState.FAILED])),
                lambda: store.cursor("s", Side.HUB, "contacts"),
                lambda: store.get_meta("s", "enabled"),
                lambda: store.write([entry]),
                lambda: store.write(delete=[("s", "contacts", entry.entry_id)]),
            ]
            for call in calls:
                for sql in self.statements(store, call):
                    plan = store._conn.execute("EXPLAIN QUERY PLAN " + sql).fetchall()
                    details = " | ".join(row[-1] for row in plan)
                    assert "SCAN entries" not in details, (sql, details)
                    assert "SCAN keys" not in details, (sql, details)
            for sql in self.statements(store, lambda: store.counts("s")):
                assert "entries" not in sql

    @pytest.mark.parametrize("json_functions", [True, False])
    def test_marked_reads_only_marks(self, tmp_path, json_functions):
        """marked() names the records whose entry carries the mark, on either side, with
        SQLite's JSON functions or without them, and agrees with the base class's
        default (built on by_record_ids)."""
        with SQLiteIndexStore(tmp_path / "index.db") as store:
            store.write([contact(i, mark="i2" if i % 3 else "i1") for i in range(30)])
            store.write([contact(30, mark=None), contact(31, mark='i1"')])
            if not json_functions:
                store._json = False
            entries = [contact(i) for i in range(32)]
            hub_ids = [e.hub_id for e in entries] + ["nobody"]
            app_ids = [e.app_id for e in entries]
            expected = {e.hub_id for e in entries[:30:3]}
            assert expected == store.marked("s", "contacts", Side.HUB, hub_ids, "i1")
            assert {e.app_id for e in entries[:30:3]} == store.marked(
                "s", "contacts", Side.APP, app_ids, "i1"
            )
            assert set() == store.marked("s", "contacts", Side.HUB, hub_ids, "i9")
            assert set() == store.marked("other", "contacts", Side.HUB, hub_ids, "i1")
            assert set() == store.marked("s", "contacts", Side.HUB, [], "i1")
            default = super(SQLiteIndexStore, store).marked
            for mark in ("i1", "i2", 'i1"'):
                assert default("s", "contacts", Side.HUB, hub_ids, mark) == store.marked(
                    "s", "contacts", Side.HUB, hub_ids, mark
                )

    def test_entries_reads_in_bounded_pages(self, tmp_path):
        """Iterating 1,200 entries runs several LIMIT-ed keyset queries, not one."""
        with SQLiteIndexStore(tmp_path / "index.db") as store:
            store.write([contact(i) for i in range(1200)])
            pages = [
                sql
                for sql in self.statements(store, lambda: list(store.entries("s")))
                if "FROM entries" in sql
            ]
            assert len(pages) >= 3
            assert all("LIMIT 500" in sql and "e.id >" in sql for sql in pages)


def test_an_entry_takes_little_room_on_disk(tmp_path):
    """5,000 realistic entries take less than 1,000 bytes each (the benchmark: ~360)."""
    path = tmp_path / "index.db"
    n = 5000
    with SQLiteIndexStore(path) as store:
        for start in range(0, n, 1000):
            store.write([contact(i) for i in range(start, start + 1000)])
    with sqlite3.connect(path) as conn:
        conn.execute("PRAGMA wal_checkpoint(TRUNCATE)")
        pages = conn.execute("PRAGMA page_count").fetchone()[0]
        free = conn.execute("PRAGMA freelist_count").fetchone()[0]
        size = conn.execute("PRAGMA page_size").fetchone()[0]
    conn.close()
    assert (pages - free) * size / n < 1000


def test_a_synced_pairs_entry_keeps_its_history_in_few_bytes(tmp_path):
    """Issue 18 item 3: the history items of a matched pair (indexed, matched, synced)
    are stored once in the items table and by number in each row: 5,000 such entries
    take under 410 bytes each on disk, indexes included (439 when every row held the
    items' text)."""
    path = tmp_path / "index.db"
    n = 5000

    def history(i: int) -> tuple[HistoryItem, ...]:
        at = T0 + timedelta(seconds=i)
        return (
            HistoryItem(at - timedelta(seconds=2), "indexed", "hub"),
            HistoryItem(at, "matched", "by email/Email"),
            HistoryItem(at, "synced", "updated app: Email"),
        )

    with SQLiteIndexStore(path) as store:
        for start in range(0, n, 1000):
            store.write([contact(i, history=history(i)) for i in range(start, start + 1000)])
    with sqlite3.connect(path) as conn:
        conn.execute("PRAGMA wal_checkpoint(TRUNCATE)")
        pages, free, size = (
            conn.execute(f"PRAGMA {name}").fetchone()[0]
            for name in ("page_count", "freelist_count", "page_size")
        )
    conn.close()
    assert (pages - free) * size / n < 410


class TestCompactRows:
    """Schema version 5 (issue 18 item 4): the ``data`` column names the key that matched
    by its number among the entry's sorted keys, and the engine's common history actions
    by their numbers, instead of repeating their text in every row."""

    KEY = "0:person.number1@example1.com"

    def entry(self, **fields) -> Entry:
        history = (
            HistoryItem(T0, "indexed", "hub"),
            HistoryItem(T0 + HOUR, "matched", "by email/Email"),
            HistoryItem(T0 + HOUR, "synced", "updated app: Email"),
            HistoryItem(T0 + HOUR, "restored", "by hand"),
        )
        keys = frozenset({self.KEY, "1:+4520000001"})
        return contact(1, **{"keys": keys, "matched_by": self.KEY, "history": history, **fields})

    @staticmethod
    def data(path) -> list:
        with sqlite3.connect(path) as conn:
            (text,) = conn.execute("SELECT data FROM entries").fetchone()
        conn.close()
        return json.loads(text)

    @staticmethod
    def set_data(path, record: list) -> None:
        with sqlite3.connect(path) as conn:
            conn.execute("UPDATE entries SET data = ?", (json.dumps(record),))
        conn.close()

    def read_back(self, path, entry: Entry) -> Entry:
        with SQLiteIndexStore(path) as store:  # a fresh store: nothing cached
            return store.get("s", "contacts", [entry.entry_id])[entry.entry_id]

    @staticmethod
    def items(path) -> dict[int, list]:
        with sqlite3.connect(path) as conn:
            rows = conn.execute("SELECT id, item FROM items").fetchall()
        conn.close()
        return {number: json.loads(text) for number, text in rows}

    def test_the_matched_key_and_history_items_are_stored_as_numbers(self, tmp_path):
        path = tmp_path / "index.db"
        entry = self.entry()
        with SQLiteIndexStore(path) as store:
            store.write([entry])
        record = self.data(path)
        assert 0 == record[2]  # "0:…" sorts before "1:…"
        # Schema version 6: [offset, item, offset, item, …], each item a number of the
        # items table, which holds each distinct action and detail once.
        history = record[3]
        assert all(type(part) is int for part in history)
        items = self.items(path)
        assert [
            ["indexed", "hub"],
            ["matched", "by email/Email"],
            ["synced", "updated app: Email"],
            ["restored", "by hand"],
        ] == [items[number] for number in history[1::2]]
        # Times as microseconds before updated_at (T0 + 1 s).
        assert [1_000_000, -3_599_000_000, -3_599_000_000, -3_599_000_000] == history[::2]
        assert self.KEY not in json.dumps(record[2:])
        assert entry == self.read_back(path, entry)
        # The other key matched: its number, and it reads back as that key.
        other = attrs.evolve(entry, matched_by="1:+4520000001")
        with SQLiteIndexStore(path) as store:
            store.write([other, contact(2, history=entry.history)])
        assert 1 == self.data(path)[2]
        assert other == self.read_back(path, other)
        assert 4 == len(self.items(path))  # the second entry's items were interned already

    def test_items_beyond_the_interned_limit_are_stored_inline(self, tmp_path, monkeypatch):
        """A full items table (MAX_INTERNED distinct items) loses nothing: the items
        are kept in the row, the common actions by their numbers."""
        monkeypatch.setattr(_rowformat, "MAX_INTERNED", 2)
        path = tmp_path / "index.db"
        entry = self.entry()
        with SQLiteIndexStore(path) as store:
            store.write([entry])
        history = self.data(path)[3]
        assert [1, 2] == history[1:4:2]
        assert [[2, "updated app: Email"], ["restored", "by hand"]] == history[5::2]
        assert entry == self.read_back(path, entry)

    def test_a_rolled_back_write_forgets_the_items_it_interned(self, tmp_path):
        """The items table is written in the write's transaction: a write that fails
        takes its items with it, and the next write interns them again."""
        path = tmp_path / "index.db"
        entry = self.entry()
        bad = contact(2, hub_values={"x": object()})
        with SQLiteIndexStore(path) as store:
            with pytest.raises(IndexStoreError):
                store.write([entry, bad])
            assert {} == self.items(path)
            store.write([entry])
            assert entry == store.get("s", "contacts", [entry.entry_id])[entry.entry_id]
        assert entry == self.read_back(path, entry)

    def test_matched_by_is_a_number_only_when_it_names_one_of_the_keys(self, tmp_path):
        """Keys follow the records (M3): the key that matched may be gone since."""
        path = tmp_path / "index.db"
        for keys in (frozenset({self.KEY}), frozenset()):
            entry = self.entry(keys=keys, matched_by="0:old@example.com")
            with SQLiteIndexStore(path) as store:
                store.write([entry])
            assert "0:old@example.com" == self.data(path)[2]
            assert entry == self.read_back(path, entry)
        for key in (self.KEY, "[a key that looks like JSON", ""):
            one = self.entry(keys=frozenset({key}), matched_by=key)
            with SQLiteIndexStore(path) as store:
                store.write([one])
            assert 0 == self.data(path)[2]
            assert one == self.read_back(path, one)

    @staticmethod
    def nested_history(record: list, actions: bool) -> list:
        """An inline history of version 6 (``[offset, [action, detail], …]``) as
        versions 4 and 5 wrote it: ``[[offset, action, detail], …]``, the common actions
        as text (version 4) or as their numbers (``actions``: version 5)."""
        flat = record[3]
        out = []
        for offset, (action, *detail) in zip(flat[::2], flat[1::2], strict=True):
            if not actions and type(action) is int:
                action = _rowformat.ACTIONS[action]
            out.append([offset, action, *detail])
        return out

    def test_a_version_4_file_is_migrated_and_its_rows_read_the_same(self, tmp_path, monkeypatch):
        """Rows written before version 5 hold the text; they are read as they were."""
        path = tmp_path / "index.db"
        entry = self.entry()
        old_schema(monkeypatch, 4)
        with SQLiteIndexStore(path) as store:
            store.write([entry])
        record = self.data(path)
        record[2] = self.KEY
        record[3] = self.nested_history(record, actions=False)
        assert ["indexed", "matched", "synced", "restored"] == [item[1] for item in record[3]]
        self.set_data(path, record)  # the text a version 4 syncengine wrote
        assert 4 == schema_version(path)
        monkeypatch.undo()
        assert entry == self.read_back(path, entry)
        assert 6 <= schema_version(path)

    def test_a_version_5_file_is_migrated_and_its_rows_read_the_same(self, tmp_path, monkeypatch):
        """Version 6 interns history items; rows written before hold them inline, the
        common actions as numbers, and read as they were; new writes intern them."""
        path = tmp_path / "index.db"
        entry = self.entry()
        old_schema(monkeypatch, 5)
        with SQLiteIndexStore(path) as store:
            store.write([entry])
        record = self.data(path)
        record[3] = self.nested_history(record, actions=True)
        assert [0, 1, 2, "restored"] == [item[1] for item in record[3]]
        self.set_data(path, record)  # the text a version 5 syncengine wrote
        assert 5 == schema_version(path)
        monkeypatch.undo()
        assert entry == self.read_back(path, entry)
        assert 6 == schema_version(path)
        with SQLiteIndexStore(path) as store:
            store.write([entry])
        assert 4 == len(self.items(path))
        assert entry == self.read_back(path, entry)

    def test_a_stored_number_that_names_nothing_is_corruption(self, tmp_path):
        path = tmp_path / "index.db"
        entry = self.entry()
        with SQLiteIndexStore(path) as store:
            store.write([entry])
        good = self.data(path)
        for bad in (
            [*good[:2], 2, *good[3:]],  # two keys: numbers 0 and 1
            [*good[:2], -1, *good[3:]],
            [*good[:3], [[0, 99, "hub"]], *good[4:]],  # an unknown common action
            [*good[:3], [0, 99], *good[4:]],  # an unknown interned item
            [*good[:3], [0], *good[4:]],  # an item without its time
        ):
            self.set_data(path, bad)
            read = self.read_back(path, entry)
            assert type(read) is CorruptEntry
            assert "corrupt" in read.message


@pytest.mark.parametrize(
    "record",
    [
        [[1, "ada@example.com", "Ærø 東京 🚀", 'say "$t" \\ \n\t'], [-2], 0, [[5, 0, "hub"]]],
        [[1, 2**63 - 1, -(2**63), 0.1, -0.0, 1e16, True, None], 1, None, [], "i1", 3, "x"],
        [[1, 2**64], None, "0:a"],  # beyond 64 bits: orjson refuses, the standard encoder writes
        [[1, "lone \ud800 surrogate"], {"$s": ["\udfff"]}],  # escaped as \\uXXXX (X1)
    ],
)
def test_the_data_column_is_the_json_the_standard_encoder_writes(record):
    """The data column's JSON is written with orjson (issue 18 item 4), and the text is
    the one the standard library's encoder writes: what orjson refuses (a lone surrogate,
    an integer beyond 64 bits) is written by the standard encoder."""
    from syncengine.index import _codec

    assert _codec.utf8_json(_codec.to_json(record)) == _rowformat.data_json(record)


def _rows_of_another_program():
    """(what, SQL setting one column of entry e1's row): rows no syncengine wrote."""
    return [
        ("invalid JSON", "data = 'not json'"),
        ("a truncated data column", "data = substr(data, 1, length(data) / 2)"),
        ("data that is not UTF-8", "data = CAST(X'5b315bff' AS TEXT)"),
        ("an unknown history action", """data = '[null,null,null,[[0,99,"hub"]]]'"""),
        ("an unknown history item", "data = '[null,null,null,[0,9999]]'"),
        ("an unknown shape", """data = '[[77,"x"]]'"""),
        ("a data column that is not an array", """data = '{"a":1}'"""),
        ("a matched key number beyond the keys", "data = '[null,null,3]'"),
        ("keys that are not JSON", "keys = '[\"0:ada@example.com'"),
        ("keys that are not UTF-8", "keys = CAST(X'5bff' AS TEXT)"),
        ("an unknown state", "state = 17"),
    ]


class TestRowsWrittenByAnotherProgram:
    """Issue 18 item 2: a row another program wrote (or a damaged file) is read as a
    CorruptEntry naming the entry and the file, never a decoder's traceback, and never
    stops the read: the other entries of the same read come back as before, and writing
    the entry again replaces it."""

    @staticmethod
    def entries() -> list[Entry]:
        good = contact(1, keys=frozenset({"0:ada@example.com", "1:+45"}))
        return [attrs.evolve(good, entry_id="e1", hub_id="h1", app_id="a1"), contact(2)]

    @pytest.mark.parametrize(("what", "assignment"), _rows_of_another_program())
    def test_every_read_names_the_entry_and_the_file(self, tmp_path, what, assignment):
        path = tmp_path / "index.db"
        first, second = self.entries()
        with SQLiteIndexStore(path) as store:
            store.write([first, second])
        with sqlite3.connect(path) as conn:
            conn.execute(f"UPDATE entries SET {assignment} WHERE entry_id = 'e1'")
        conn.close()
        named = r"index '.*index\.db' is corrupt: entry 'e1' of sync 's', type 'contacts'"

        def corrupt(entry: Entry) -> None:
            assert type(entry) is CorruptEntry, entry
            assert re.search(named, entry.message), entry.message
            assert "until the row is repaired" in entry.message
            assert (RecordState.FAILED, ErrorCategory.INDEX) == (entry.state, entry.category)
            assert ("e1", "h1", "a1") == (entry.entry_id, entry.hub_id, entry.app_id)

        with SQLiteIndexStore(path) as store:
            # Each read gives the placeholder beside the other entry (one read of both).
            both = store.get("s", "contacts", ["e1", second.entry_id])
            corrupt(both["e1"])
            assert second == both[second.entry_id]
            both = store.by_record_ids("s", "contacts", Side.HUB, ["h1", second.hub_id])
            corrupt(both["h1"])
            assert second == both[second.hub_id]
            corrupt(store.by_record_ids("s", "contacts", Side.APP, ["a1"])["a1"])
            (held,) = store.by_keys("s", "contacts", ["0:ada@example.com"])["0:ada@example.com"]
            corrupt(held)
            for listed in (
                list(store.entries("s")),
                list(store.entries("s", "contacts")),
                store.entries_page("s", "contacts")[0],
            ):
                assert 2 == len(listed)
                corrupt(listed[0])
                assert second == listed[1]
            # The hot columns alone: keys that cannot be read are none (reading the
            # entry names the row).
            other, keys = store.record_keys("s", "contacts", Side.HUB, ["h1"])["h1"]
            assert other == "a1"
            if assignment.startswith("keys"):
                assert frozenset() == keys
            # The placeholder is never written back.
            with pytest.raises(IndexStoreError, match="CorruptEntry is not written back"):
                store.write([held])
            # Writing the entry again replaces the row.
            store.write([first])
            assert {"e1": first} == store.get("s", "contacts", ["e1"])
            assert [first] == store.by_keys("s", "contacts", ["0:ada@example.com"])[
                "0:ada@example.com"
            ]
            assert [first, second] == list(store.entries("s"))

    @pytest.mark.parametrize("column", ["entry_id", "hub_id", "app_id"])
    def test_an_id_that_is_not_utf8_names_the_row_and_spares_the_others(self, tmp_path, column):
        path = tmp_path / "index.db"
        first, second = self.entries()
        with SQLiteIndexStore(path) as store:
            store.write([first, second])
        with sqlite3.connect(path) as conn:
            conn.execute(
                f"UPDATE entries SET {column} = CAST(X'65ff' AS TEXT) WHERE entry_id = 'e1'"
            )
        conn.close()
        with SQLiteIndexStore(path) as store:
            listed = list(store.entries("s"))
            assert second == listed[1]
            (bad,) = [e for e in listed if type(e) is CorruptEntry]
            assert "a column of its row is not UTF-8 text" in bad.message
            assert (bad.entry_id == "e\\xff") is (column == "entry_id")
            assert (bad.hub_id is None) is (column == "hub_id")
            assert (bad.app_id is None) is (column == "app_id")

    @pytest.mark.parametrize(
        "data", ["'not json'", """'[null,null,null,[],"i1"'""", "CAST(X'5b6931ff' AS TEXT)"]
    )
    def test_marked_passes_over_such_a_row_and_keeps_sqlites_json(self, tmp_path, data):
        """marked() answers for the other records, and a row that is not JSON does not
        make the store give up SQLite's JSON functions for good (it took it for a
        SQLite built without them, and parsed every later row in Python)."""
        path = tmp_path / "index.db"
        entries = [contact(i, mark="i1") for i in range(3)]
        with SQLiteIndexStore(path) as store:
            store.write(entries)
        with sqlite3.connect(path) as conn:
            conn.execute(
                f"UPDATE entries SET data = {data} WHERE entry_id = ?", (entries[1].entry_id,)
            )
        conn.close()
        with SQLiteIndexStore(path) as store:
            ids = [e.hub_id for e in entries]
            assert {ids[0], ids[2]} == store.marked("s", "contacts", Side.HUB, ids, "i1")
            assert store._json is not False
            assert {ids[0]} == store.marked("s", "contacts", Side.HUB, ids[:1], "i1")
            assert store._json is True

    @pytest.mark.parametrize(
        "assignment",
        [
            "counts = 'not json'",
            """counts = '{"contacts":{"hub":{"nonsense":1}}}'""",
            "started = 1e300",
            "kind = CAST(X'69ff' AS TEXT)",
            "detail = CAST(X'78ff' AS TEXT)",
            "counts = CAST(X'7bff' AS TEXT)",
        ],
    )
    def test_a_pass_row_that_cannot_be_read_is_listed_as_unreadable_alone(
        self, tmp_path, assignment
    ):
        """One pass history row that cannot be read made passes() raise (so `status`
        and the console's pass list failed as a whole): it is an UnreadablePass naming
        the row, in its place, and the other passes read as usual."""
        from syncengine.history import UNREADABLE, PassRecord, UnreadablePass

        path = tmp_path / "index.db"
        with SQLiteIndexStore(path) as store:
            kept = [
                store.add_pass(PassRecord("s", kind, T0, T0 + HOUR, "completed"))
                for kind in ("initial", "incremental", "reconcile")
            ]
        with sqlite3.connect(path) as conn:
            conn.execute(f"UPDATE passes SET {assignment} WHERE number = 2")
        conn.close()
        with SQLiteIndexStore(path) as store:
            newest, bad, oldest = store.passes("s")
            assert (kept[2], kept[0]) == (newest, oldest)
            assert type(bad) is UnreadablePass
            assert (2, UNREADABLE, 0) == (bad.number, bad.outcome, bad.created)
            assert re.match(
                r"the index '.*' is corrupt: pass 2 of sync 's' cannot be read: ", bad.detail
            )
            assert [bad] == store.passes("s", limit=1, before=3)
            with pytest.raises(IndexStoreError, match="add_pass takes a PassRecord"):
                store.add_pass(bad)

    @pytest.mark.parametrize(
        ("table", "read"),
        [
            ("cursors", lambda store: store.cursor("s", Side.APP, "contacts")),
            ("meta", lambda store: store.get_meta("s", "initial_run")),
        ],
    )
    def test_a_cursor_or_setting_that_is_not_utf8_is_named_never_taken_for_none(
        self, tmp_path, table, read
    ):
        """A cursor or setting whose value is not UTF-8 failed with SQLite's bare
        "Could not decode" error; it names the sync, type, side, name and index and how
        to recover, and is never read as "no cursor" (which would skip changes)."""
        path = tmp_path / "sync.db"
        with SQLiteIndexStore(path) as store:
            store.write(cursors=[CursorUpdate("s", Side.APP, "contacts", "2024-01-01")])
            store.set_meta("s", "initial_run", "1")
            store.set_meta("s", "other", "kept")
        with sqlite3.connect(path) as conn:
            conn.execute(f"UPDATE {table} SET value = CAST(X'32ff' AS TEXT)")
            conn.execute("UPDATE meta SET value = 'kept' WHERE key = 'other'")
        conn.close()
        with SQLiteIndexStore(path) as store:
            with pytest.raises(IndexStoreError) as raised:
                read(store)
            assert "kept" == store.get_meta("s", "other")
        message = str(raised.value)
        assert f"the index '{path}' is corrupt: " in message
        if table == "cursors":
            assert "the app cursor 'poll' of sync 's', type 'contacts' cannot be read" in message
            assert "DELETE FROM cursors WHERE name = 'poll'" in message
            assert "not taken for a missing cursor" in message
        else:
            assert "setting 'initial_run' of sync 's' cannot be read" in message
            assert "restore the index from a backup" in message
        assert "not UTF-8" in message

    @pytest.mark.parametrize(
        "assignment",
        [
            "side = 7",
            "received = 1e300",
            "payload = CAST(X'7bff' AS TEXT)",
            "key = CAST(X'65ff' AS TEXT)",
        ],
    )
    def test_an_inbox_row_that_cannot_be_read_is_dropped_alone_and_named(
        self, tmp_path, assignment
    ):
        """A row of the webhook inbox that cannot be read held up every event after it
        (each drain raised IndexStoreError): it is read as an item the drain drops,
        naming it, and the events around it are handled."""
        from syncengine import _inbox
        from syncengine.records import ChangeEvent

        path = tmp_path / "index.db"
        events = [ChangeEvent("contacts", f"h{n}", occurred_at=T0) for n in range(3)]
        with SQLiteIndexStore(path) as store:
            store.inbox_add([_inbox.item_of("s", Side.HUB, e, T0) for e in events])
        with sqlite3.connect(path) as conn:
            conn.execute(f"UPDATE inbox SET {assignment} WHERE seq = 2")
        conn.close()
        handled: list[ChangeEvent] = []
        errors: list[str] = []
        with SQLiteIndexStore(path) as store:
            read = _inbox.drain(
                store, "s", lambda side, got: handled.extend(got), remove=True, errors=errors
            )
            assert 3 == read
            assert [events[0], events[2]] == handled
            (error,) = errors
            assert re.search(
                r"inbox event 2 is not an event and was dropped: the index '.*' "
                r"is corrupt: inbox event 2 of sync 's' cannot be read",
                error,
            )
            assert 0 == store.inbox_count("s")


class TestInternedNamesNotUtf8:
    """Issue 18: a row of the index's tables of names (field names, history items,
    syncs, object types) that another program left not UTF-8 failed every read with
    SQLite's bare "Could not decode to UTF-8 column 'fields'" (every record of the
    sync), or made the store take a sync or type for one with nothing stored (its
    records synced as new into a second copy of the type)."""

    @staticmethod
    def damage(path, sql: str) -> None:
        with sqlite3.connect(path) as conn:
            assert 1 == conn.execute(sql).rowcount
        conn.close()

    @pytest.mark.parametrize(
        ("table", "match", "named"),
        [
            ("shapes", "fields = '[\"rare\"]'", "its field names (row {} of table 'shapes') are"),
            ("items", "item LIKE '%rare-action%'", "its history item (row {} of table 'items') is"),
        ],
    )
    def test_only_the_entries_that_use_the_name_fail_each_alone(
        self, tmp_path, table, match, named
    ):
        path = tmp_path / "index.db"
        plain = contact(2)
        rare = attrs.evolve(
            contact(1),
            hub_values={"rare": "1"},
            app_values={"rare": "1"},
            history=(HistoryItem(T0, "rare-action", "app"),),
        )
        with SQLiteIndexStore(path) as store:
            store.write([rare, plain])
        with sqlite3.connect(path) as conn:
            (row,) = conn.execute(f"SELECT id FROM {table} WHERE {match}").fetchone()
        conn.close()
        self.damage(
            path,
            f"UPDATE {table} SET {'fields' if table == 'shapes' else 'item'} = "
            f"CAST(X'5bff' AS TEXT) WHERE id = {row}",
        )
        with SQLiteIndexStore(path) as store:
            for read in (
                lambda: store.get("s", "contacts", [rare.entry_id, plain.entry_id]),
                lambda: {e.entry_id: e for e in store.entries("s")},
            ):
                both = read()
                assert plain == both[plain.entry_id]
                bad = both[rare.entry_id]
                assert type(bad) is CorruptEntry
                assert (RecordState.FAILED, ErrorCategory.INDEX) == (bad.state, bad.category)
                assert (
                    f"entry {rare.entry_id!r} of sync 's', type 'contacts' cannot be read: "
                    f"{named.format(row)} not UTF-8 text" in bad.message
                ), bad.message
                assert "until the row is repaired" in bad.message
            store.write([rare])  # writing the entry again interns its names anew
            assert rare == store.get("s", "contacts", [rare.entry_id])[rare.entry_id]

    @pytest.mark.parametrize("table", ["object_types", "syncs"])
    def test_a_sync_or_type_whose_name_is_not_utf8_is_named_never_taken_for_a_new_one(
        self, tmp_path, table
    ):
        path = tmp_path / "index.db"
        company = attrs.evolve(contact(3), object_type="companies", entry_id="c3")
        with SQLiteIndexStore(path) as store:
            store.write([contact(1), company])
            store.set_meta("s", "initial_run", "1")
        with sqlite3.connect(path) as conn:
            name = "contacts" if table == "object_types" else "s"
            (row,) = conn.execute(f"SELECT id FROM {table} WHERE name = ?", (name,)).fetchone()
            rows = conn.execute(f"SELECT count(*) FROM {table}").fetchone()[0]
        conn.close()
        self.damage(path, f"UPDATE {table} SET name = CAST(X'63ff' AS TEXT) WHERE id = {row}")
        what = "object type" if table == "object_types" else "sync"
        with SQLiteIndexStore(path) as store:
            for call in (
                lambda: store.get("s", "contacts", ["h:1"]),
                lambda: store.by_record_ids("s", "contacts", Side.HUB, ["1"]),
                lambda: store.cursor("s", Side.HUB, "contacts"),
                lambda: list(store.entries("s")),
                lambda: store.counts("s"),
                lambda: store.write([contact(4)]),
            ):
                with pytest.raises(IndexStoreError) as raised:
                    call()
                message = " ".join(str(raised.value).split())
                assert message.startswith(
                    f"the index '{path}' is corrupt: the name of {what} {row} (row {row} of "
                    f"table '{table}') cannot be read: it is not UTF-8 text"
                ), message
                assert "restore the index from a backup" in message
                assert f"UPDATE {table} SET name = '" in message
            if table == "syncs":
                with pytest.raises(IndexStoreError, match="the name of sync"):
                    store.get_meta("s", "initial_run")
            else:  # the other type reads as before
                assert ["c3"] == list(store.get("s", "companies", ["c3"]))
        with sqlite3.connect(path) as conn:  # nothing was added in its place
            assert rows == conn.execute(f"SELECT count(*) FROM {table}").fetchone()[0]
        conn.close()
        # The repair the message advises, when the name is known, reads it all again.
        self.damage(path, f"UPDATE {table} SET name = '{name}' WHERE id = {row}")
        with SQLiteIndexStore(path) as store:
            assert (
                contact(1) == store.get("s", "contacts", [contact(1).entry_id])[contact(1).entry_id]
            )
            assert "1" == store.get_meta("s", "initial_run")


class TestValuesKeptBesideEntries:
    """write_indexed keeps values as one more element of the row's data array: the
    entry reads back as written, and a kept element that cannot be read is not used
    (the engine reads the record instead); it never fails the entry."""

    VALUES: ClassVar = {"email": "ada@x.io", "firstname": None, "phone": "1"}

    def _written(self, tmp_path):
        path = tmp_path / "index.db"
        store = SQLiteIndexStore(path)
        entry = contact(1, state=RecordState.INITIAL, app_id=None, hub_values=None)
        entry = attrs.evolve(entry, app_values=None, matched_by=None)
        store.write_indexed([entry, contact(2)], {entry.entry_id: ("i1", self.VALUES)})
        return path, store, entry

    def test_kept_values_come_back_with_the_key_lookup_and_go_with_the_next_write(self, tmp_path):
        _, store, entry = self._written(tmp_path)
        (key,) = entry.keys
        found, kept = store.by_keys_indexed("s", "contacts", [key], "i1")
        assert found[key] == [entry]
        assert kept == {entry.entry_id: self.VALUES}
        assert store.get("s", "contacts", [entry.entry_id]) == {entry.entry_id: entry}
        store.write([attrs.evolve(entry, state=RecordState.SYNCED)])
        assert ({}, {}) == (
            store.indexed_values("s", "contacts", [entry.entry_id], "i1"),
            store.by_keys_indexed("s", "contacts", [key], "i1")[1],
        )
        store.close()

    @pytest.mark.parametrize(
        ("old", "new"),
        [
            ('"i1",', '"i1",999999,'),  # a shape the index does not know
            ('"i1",', '"i1",{"email":5},'),  # not text
            ('"i1",', "7,"),  # not a tag
        ],
    )
    def test_a_damaged_kept_element_is_not_used_and_the_entry_reads(self, tmp_path, old, new):
        path, store, entry = self._written(tmp_path)
        store.close()
        with sqlite3.connect(path) as conn:
            (data,) = conn.execute(
                "SELECT data FROM entries WHERE entry_id = ?", (entry.entry_id,)
            ).fetchone()
            assert old in data
            conn.execute(
                "UPDATE entries SET data = ? WHERE entry_id = ?",
                (data.replace(old, new, 1), entry.entry_id),
            )
        store = SQLiteIndexStore(path)
        (key,) = entry.keys
        assert store.get("s", "contacts", [entry.entry_id]) == {entry.entry_id: entry}
        assert store.by_keys_indexed("s", "contacts", [key], "i1") == ({key: [entry]}, {})
        assert {} == store.indexed_values("s", "contacts", [entry.entry_id], "i1")
        store.close()

    def test_values_that_are_not_text_are_refused_and_nothing_is_stored(self, tmp_path):
        store = SQLiteIndexStore(tmp_path / "index.db")
        entry = contact(1)
        with pytest.raises(IndexStoreError, match="write_indexed"):
            store.write_indexed([entry], {entry.entry_id: ("i1", {"phone": 5})})
        assert {} == store.get("s", "contacts", [entry.entry_id])
        store.close()
