"""SQLiteAdapter sees the changes any program makes to its file, not only its own.

An outside writer here is a plain ``sqlite3`` connection that knows nothing of the
adapter: raw ``INSERT``/``UPDATE``/``DELETE`` on the record tables, as a user would type
them in the ``sqlite3`` shell. The database's triggers number those changes from the
adapter's change counter, so incremental scans (and so the engine's incremental passes)
see them. Format-1 files, written before the triggers existed, are upgraded when opened.
"""

from __future__ import annotations

import re
import shutil
import sqlite3
import tempfile
import threading
from datetime import UTC, date, datetime
from pathlib import Path

import pytest
from hypothesis import given
from hypothesis import strategies as st

from syncengine import (
    ErrorCategory,
    FieldMapping,
    MatchRule,
    ObjectSchema,
    ObjectSync,
    PropertySpec,
    PropertyType,
    RecordState,
    SyncConfig,
    SyncEngine,
)
from syncengine.adapters import NewRecord, RecordUpdate, SQLiteAdapter
from syncengine.index import SQLiteIndexStore

HUB_CONTACTS = ObjectSchema(
    "contacts",
    [
        PropertySpec("email", PropertyType.STRING, unique=True),
        PropertySpec("name", PropertyType.STRING),
        PropertySpec("since", PropertyType.DATE),
    ],
)
APP_PEOPLE = ObjectSchema(
    "people",
    [
        PropertySpec("mail", PropertyType.STRING),
        PropertySpec("full_name", PropertyType.STRING, required=True),
        PropertySpec("since", PropertyType.DATE),
    ],
)
CONFIG = SyncConfig(
    "outside-writers",
    [
        ObjectSync(
            "contacts",
            "people",
            [
                FieldMapping("email", "mail"),
                FieldMapping("name", "full_name"),
                FieldMapping("since", "since"),
            ],
            match=MatchRule.email("email", "mail"),
        )
    ],
)

FORMAT_1 = Path(__file__).with_name("data") / "sqlite_format1.db"


def changed(adapter: SQLiteAdapter, object_type: str, since: str) -> tuple[list[str], list[str]]:
    """The ids an incremental scan from ``since`` yields: (changed, deleted)."""
    records: list[str] = []
    deleted: list[str] = []
    for page in adapter.scan(object_type, since):
        records.extend(r.id for r in page.records)
        deleted.extend(page.deleted)
    return records, deleted


def last_cursor(adapter: SQLiteAdapter, object_type: str, since: str | None = None) -> str:
    cursor = since
    for page in adapter.scan(object_type, since):
        cursor = page.cursor
    assert cursor is not None
    return cursor


@pytest.fixture
def synced(tmp_path):
    """A hub and an app file, synced once, with the engine and the hub's path."""
    hub = SQLiteAdapter(tmp_path / "hub.db", [HUB_CONTACTS], id_prefix="h", page_size=2)
    app = SQLiteAdapter(tmp_path / "app.db", [APP_PEOPLE], id_prefix="a", page_size=2)
    with hub.transaction():
        for n in range(5):
            hub.put("contacts", email=f"p{n}@x.io", name=f"Person {n}")
    index = SQLiteIndexStore(tmp_path / "index.db")
    engine = SyncEngine(hub, app, index, CONFIG)
    assert 5 == engine.initial_sync().created
    yield engine, hub, app, tmp_path / "hub.db"
    for closing in (hub, app, index):
        closing.close()


def test_raw_insert_update_and_delete_reach_the_next_incremental_pass(synced):
    """The three kinds of change a user makes with the sqlite3 shell are synced by the next
    incremental pass, with no reconcile: the insert is created in the app, the update
    updates it, the delete fails the pair as deleted (the app keeps its copy)."""
    engine, hub, app, path = synced
    by_email = {r.properties["email"]: r.id for r in hub.records("contacts")}
    outside = sqlite3.connect(path)
    with outside:
        outside.execute("INSERT INTO contacts (email, name) VALUES ('new@x.io', 'Newcomer')")
    with outside:
        outside.execute("UPDATE contacts SET name = 'Renamed' WHERE email = 'p1@x.io'")
    with outside:
        outside.execute("DELETE FROM contacts WHERE email = 'p3@x.io'")
    outside.close()

    report = engine.incremental_sync()

    people = {r.properties["mail"]: r.properties["full_name"] for r in app.records("people")}
    assert "Newcomer" == people["new@x.io"]
    assert "Renamed" == people["p1@x.io"]
    assert "Person 3" == people["p3@x.io"]  # deletions are not propagated (R6)
    (gone,) = engine.records(state=RecordState.FAILED)
    assert (ErrorCategory.DELETED, by_email["p3@x.io"]) == (gone.category, gone.hub_id)
    assert (1, 1) == (report.created, report.updated)
    assert 0 == engine.incremental_sync().writes


def test_an_outside_insert_gets_an_id_a_time_and_a_number(synced):
    """A row inserted without the bookkeeping columns gets the next id (with the adapter's
    id_prefix), SQLite's current time and the next change number."""
    _, hub, _, path = synced
    cursor = last_cursor(hub, "contacts", "c:0")
    before = datetime.now(UTC).replace(microsecond=0)
    outside = sqlite3.connect(path)
    with outside:
        outside.execute("INSERT INTO contacts (email) VALUES ('a@x.io'), ('b@x.io')")
    outside.close()
    records, deleted = changed(hub, "contacts", cursor)
    assert ([], 2) == (deleted, len(records))
    assert ["h6", "h7"] == records
    new = hub.get("contacts", "h6")
    assert new is not None
    assert before <= new.updated_at <= datetime.now(UTC)
    assert {"email": "a@x.io"} == dict(new.properties)
    # The adapter's own next id is after them: ids are never reused.
    (made,) = hub.create("contacts", [NewRecord({"email": "c@x.io"}, "")])
    assert "h8" == made.record_id


def test_an_outside_insert_with_its_own_id_brings_a_deleted_id_back(synced):
    """An INSERT that names a deleted id resurrects it: the tombstone goes."""
    _, hub, _, path = synced
    (victim,) = [r.id for r in hub.records("contacts") if r.properties["email"] == "p0@x.io"]
    hub.remove("contacts", victim)
    cursor = last_cursor(hub, "contacts", "c:0")
    outside = sqlite3.connect(path)
    with outside:
        outside.execute(
            "INSERT INTO contacts (__id, email) VALUES (?, 'back@x.io')",
            (victim,),
        )
    outside.close()
    assert ([victim], []) == changed(hub, "contacts", cursor)
    assert [victim] == changed(hub, "contacts", "c:0")[0][-1:]
    assert [] == changed(hub, "contacts", "c:0")[1]


def test_outside_link_changes_touch_the_linked_record(tmp_path):
    """Adding or removing a row of the link table changes the record the link is of."""
    with SQLiteAdapter(tmp_path / "a.db", [HUB_CONTACTS]) as hub:
        ada = hub.put("contacts", email="ada@x.io").id
        cursor = last_cursor(hub, "contacts", "c:0")
        outside = sqlite3.connect(tmp_path / "a.db")
        with outside:
            outside.execute(
                "INSERT INTO _syncengine_links VALUES ('contacts', ?, 'companies', 'co1')", (ada,)
            )
        assert ([ada], []) == changed(hub, "contacts", cursor)
        assert {"companies": frozenset({"co1"})} == hub.get("contacts", ada).associations
        cursor = last_cursor(hub, "contacts", cursor)
        with outside:
            outside.execute("DELETE FROM _syncengine_links")
        outside.close()
        assert ([ada], []) == changed(hub, "contacts", cursor)
        assert {} == hub.get("contacts", ada).associations


def test_a_changed_id_is_a_delete_and_an_insert(tmp_path):
    """An UPDATE that renames a row's id leaves a tombstone for the old id."""
    with SQLiteAdapter(tmp_path / "a.db", [HUB_CONTACTS]) as hub:
        old = hub.put("contacts", email="ada@x.io").id
        cursor = last_cursor(hub, "contacts", "c:0")
        outside = sqlite3.connect(tmp_path / "a.db")
        with outside:
            outside.execute("UPDATE contacts SET __id = 'renamed'")
        outside.close()
        assert (["renamed"], [old]) == changed(hub, "contacts", cursor)


def test_the_adapter_own_writes_are_numbered_once(tmp_path):
    """The triggers stay out of the adapter's own transactions: one number per change."""
    with SQLiteAdapter(tmp_path / "a.db", [HUB_CONTACTS]) as hub:
        (made,) = hub.create("contacts", [NewRecord({"email": "a@x.io"}, "")])
        hub.update("contacts", [RecordUpdate(made.record_id, {"name": "A"})])
        hub.link("contacts", made.record_id, "companies", "co1")
        hub.remove("contacts", made.record_id)
        assert "c:4" == last_cursor(hub, "contacts")
        marker = sqlite3.connect(tmp_path / "a.db").execute(
            "SELECT count(*) FROM _syncengine_meta WHERE key = 'writer'"
        )
        assert (0,) == marker.fetchone()


def test_recursive_triggers_on_the_writer_side_do_not_loop(tmp_path):
    """A writer with recursive_triggers on still numbers its change once."""
    with SQLiteAdapter(tmp_path / "a.db", [HUB_CONTACTS]) as hub:
        hub.put("contacts", email="a@x.io")
        cursor = last_cursor(hub, "contacts", "c:0")
        outside = sqlite3.connect(tmp_path / "a.db")
        outside.execute("PRAGMA recursive_triggers = ON")
        with outside:
            outside.execute("UPDATE contacts SET name = 'A'")
            outside.execute("INSERT INTO contacts (email) VALUES ('b@x.io')")
            outside.execute("DELETE FROM contacts WHERE email = 'b@x.io'")
        outside.close()
        (_, seq) = cursor.split(":")
        assert f"c:{int(seq) + 3}" == last_cursor(hub, "contacts", cursor)


def test_the_change_counter_cannot_go_back(tmp_path):
    """A writer that would set the counter lower (and so reuse numbers) is refused."""
    with SQLiteAdapter(tmp_path / "a.db", [HUB_CONTACTS]) as hub:
        hub.put("contacts", email="a@x.io")
    outside = sqlite3.connect(tmp_path / "a.db")
    with pytest.raises(sqlite3.IntegrityError, match="never goes back"):
        outside.execute("UPDATE _syncengine_meta SET value = '0' WHERE key = 'seq'")
    with pytest.raises(sqlite3.IntegrityError, match="never goes back"):
        outside.execute("INSERT OR REPLACE INTO _syncengine_meta VALUES ('seq', '0')")
    outside.close()


def test_scan_inside_an_open_transaction_is_refused(tmp_path):
    """Its counter would include uncommitted numbers, which a rollback hands out again;
    so are the pages of a scan read while a transaction is open."""
    with SQLiteAdapter(tmp_path / "a.db", [HUB_CONTACTS], page_size=1) as hub:
        with hub.transaction():
            hub.put("contacts", email="a@x.io")
            with pytest.raises(RuntimeError, match="inside an open transaction"):
                hub.scan("contacts", "c:0")
        hub.put("contacts", email="b@x.io")
        for since in (None, "c:0"):
            pages = iter(hub.scan("contacts", since))
            next(pages)
            with hub.transaction(), pytest.raises(RuntimeError, match="open transaction"):
                next(pages)


def test_a_change_committed_during_a_scan_is_left_to_the_next_scan(tmp_path):
    """A scan ends at the counter it started with; an outside change committed while it
    pages (or open, uncommitted, when it started) comes in the next scan, never lost."""
    with SQLiteAdapter(tmp_path / "a.db", [HUB_CONTACTS], page_size=1) as hub:
        ids = [hub.put("contacts", email=f"p{n}@x.io").id for n in range(4)]
        outside = sqlite3.connect(tmp_path / "a.db", isolation_level=None)
        outside.execute("BEGIN IMMEDIATE")  # open, numbering, not committed
        outside.execute("UPDATE contacts SET name = 'early' WHERE __id = ?", (ids[3],))
        pages = iter(hub.scan("contacts", "c:0"))
        first = next(pages)
        outside.execute("UPDATE contacts SET name = 'late' WHERE __id = ?", (ids[0],))
        outside.execute("COMMIT")
        rest = list(pages)
        cursor = rest[-1].cursor
        assert "c:4" == cursor
        # ids[3] took number 5 when its change committed: past this scan's end (4).
        assert ids[:3] == [r.id for p in [first, *rest] for r in p.records]
        again, _ = changed(hub, "contacts", cursor)
        assert sorted([ids[3], ids[0]]) == sorted(again)
        assert {"early", "late"} == {hub.get("contacts", i).properties["name"] for i in again}
        outside.close()


def test_concurrent_outside_and_adapter_writers_skip_nothing(tmp_path):
    """Two outside threads and the adapter write while a reader follows the cursor: every
    change is seen by the reader at least once after it was committed."""
    path = tmp_path / "a.db"
    SQLiteAdapter(path, [HUB_CONTACTS]).close()
    stop = threading.Event()
    errors: list[BaseException] = []

    def outside(worker: int) -> None:
        try:
            conn = sqlite3.connect(path, timeout=30)
            for n in range(60):
                with conn:
                    conn.execute(
                        "INSERT INTO contacts (email, name) VALUES (?, 'x')", (f"o{worker}-{n}",)
                    )
                    conn.execute(
                        "UPDATE contacts SET name = ? WHERE email = ?",
                        (f"v{n}", f"o{worker}-{n // 2}"),
                    )
            conn.close()
        except BaseException as exc:  # pragma: no cover - reported below
            errors.append(exc)

    def adapter_writer() -> None:
        try:
            with SQLiteAdapter(path) as own:
                for n in range(60):
                    own.create("contacts", [NewRecord({"email": f"a-{n}"}, "")])
        except BaseException as exc:  # pragma: no cover - reported below
            errors.append(exc)

    threads = [threading.Thread(target=outside, args=(w,)) for w in range(2)]
    threads.append(threading.Thread(target=adapter_writer))
    reader = SQLiteAdapter(path, page_size=7)
    latest: dict[str, str | None] = {}
    cursor = "c:0"
    for thread in threads:
        thread.start()
    while not stop.is_set():
        alive = any(t.is_alive() for t in threads)
        for page in reader.scan("contacts", cursor):
            for record in page.records:
                latest[record.id] = record.properties.get("name")
            cursor = page.cursor or cursor
        if not alive:
            stop.set()
    for thread in threads:
        thread.join()
    assert [] == errors
    final = {r.id: r.properties.get("name") for r in reader.records("contacts")}
    assert final == latest
    assert 180 == len(final)
    reader.close()


# ---- format 1 ---------------------------------------------------------------------------


def test_a_format_1_file_is_upgraded_in_place_keeping_records_and_cursors(tmp_path):
    """The fixture was written by the format-1 code (data/make_sqlite_format1.py). Opening
    it upgrades it: records, ids, times, links, tombstones, keys and pipelines are kept; a
    cursor issued before the upgrade still means "after change n": nothing is re-yielded,
    and changes made after the upgrade, by anyone, are."""
    path = tmp_path / "app.db"
    shutil.copy(FORMAT_1, path)
    old = sqlite3.connect(path)
    (seq,) = old.execute("SELECT value FROM _syncengine_meta WHERE key = 'seq'").fetchone()
    rows = old.execute("SELECT * FROM contacts ORDER BY __pos").fetchall()
    old.close()
    cursor_before = f"c:{seq}"  # the last cursor format-1 code handed out

    with SQLiteAdapter(path, id_prefix="c") as app:  # format 1 did not keep it
        assert ["contacts", "companies"] == app.object_types()
        assert ([], []) == changed(app, "contacts", cursor_before)
        assert cursor_before == last_cursor(app, "contacts")
        contacts = app.records("contacts")
        assert ["c1", "c2", "c4", "c5", "c6"] == [r.id for r in contacts]
        assert datetime(2024, 1, 1, 0, 9, tzinfo=UTC) == contacts[1].updated_at
        assert frozenset({"vip"}) == contacts[1].properties["tags"]
        assert {"companies": frozenset({"c7"})} == contacts[0].associations
        assert (["c2"], ["c3"]) == changed(app, "contacts", "c:9")
        assert (
            "DELETED"
            == app.update("contacts", [RecordUpdate("c3", {"name": "x"})])[0].category.name
        )
        (replayed,) = app.create("contacts", [NewRecord({"email": "again@x.io"}, "k0")])
        assert "c1" == replayed.record_id
        assert ["Sales"] == [p.label for p in app.pipelines("contacts")]

    upgraded = sqlite3.connect(path)
    assert rows == upgraded.execute("SELECT * FROM contacts ORDER BY __pos").fetchall()
    (version,) = upgraded.execute(
        "SELECT value FROM _syncengine_meta WHERE key = 'format'"
    ).fetchone()
    assert "2" == version
    with upgraded:
        upgraded.execute("INSERT INTO contacts (email) VALUES ('new@x.io')")
        upgraded.execute("UPDATE contacts SET name = 'Renamed' WHERE __id = 'c4'")
        upgraded.execute("DELETE FROM contacts WHERE __id = 'c5'")
    upgraded.close()
    with SQLiteAdapter(path) as app:  # the file kept the prefix "c"
        assert (["c8", "c4"], ["c5"]) == changed(app, "contacts", cursor_before)
        assert "c:11" == cursor_before
        assert "c:14" == last_cursor(app, "contacts", cursor_before)


def v1_layout(path: Path) -> None:
    """Turn a format-2 file back into format 1's layout (what the old code wrote)."""
    conn = sqlite3.connect(path, isolation_level=None)
    conn.execute("BEGIN IMMEDIATE")
    for (name,) in conn.execute("SELECT name FROM sqlite_master WHERE type = 'trigger'").fetchall():
        conn.execute(f'DROP TRIGGER "{name}"')
    for (table,) in conn.execute("SELECT name FROM _syncengine_types").fetchall():
        columns = [row[1] for row in conn.execute(f'PRAGMA table_info("{table}")')]
        indexes = [
            sql
            for (sql,) in conn.execute(
                "SELECT sql FROM sqlite_master WHERE type = 'index' AND tbl_name = ? "
                "AND sql IS NOT NULL",
                (table,),
            )
        ]
        props = "".join(f', "{c}"' for c in columns[4:])
        conn.execute(
            'CREATE TABLE "old" (__id TEXT PRIMARY KEY, __pos INTEGER NOT NULL, __seq INTEGER '
            f"NOT NULL, __updated_at TEXT NOT NULL{props})"
        )
        conn.execute(f'INSERT INTO "old" SELECT * FROM "{table}"')
        conn.execute(f'DROP TABLE "{table}"')
        conn.execute(f'ALTER TABLE "old" RENAME TO "{table}"')
        for sql in indexes:
            conn.execute(sql)
    conn.execute("DELETE FROM _syncengine_meta WHERE key = 'id_prefix'")
    conn.execute("UPDATE _syncengine_meta SET value = '1' WHERE key = 'format'")
    conn.execute("COMMIT")
    conn.close()


def test_the_first_pass_after_an_upgrade_misses_nothing_and_rewrites_nothing(tmp_path):
    """An engine whose cursors were issued by format-1 files: after the upgrade its next
    incremental pass writes nothing; outside changes made after it are synced."""
    hub = SQLiteAdapter(tmp_path / "hub.db", [HUB_CONTACTS], id_prefix="h", page_size=2)
    app = SQLiteAdapter(tmp_path / "app.db", [APP_PEOPLE], id_prefix="a", page_size=2)
    with hub.transaction():
        for n in range(6):
            hub.put("contacts", email=f"p{n}@x.io", name=f"Person {n}", since=date(2024, 1, 1))
    index = SQLiteIndexStore(tmp_path / "index.db")
    assert 6 == SyncEngine(hub, app, index, CONFIG).initial_sync().created
    hub.patch("contacts", hub.records("contacts")[0].id, name="Changed before")
    for closing in (hub, app):
        closing.close()
    v1_layout(tmp_path / "hub.db")
    v1_layout(tmp_path / "app.db")

    hub = SQLiteAdapter(tmp_path / "hub.db", id_prefix="h", page_size=2)
    app = SQLiteAdapter(tmp_path / "app.db", id_prefix="a", page_size=2)
    engine = SyncEngine(hub, app, index, CONFIG)
    hub.reset_calls()
    report = engine.incremental_sync()
    assert 1 == report.updated  # the change made before the upgrade, by the adapter
    assert 0 == engine.incremental_sync().writes
    outside = sqlite3.connect(tmp_path / "app.db")
    with outside:
        outside.execute("UPDATE people SET full_name = 'From the app' WHERE mail = 'p4@x.io'")
    outside.close()
    assert 1 == engine.incremental_sync().updated
    assert "From the app" == next(
        r.properties["name"] for r in hub.records("contacts") if r.properties["email"] == "p4@x.io"
    )
    for closing in (hub, app, index):
        closing.close()


def test_a_future_format_is_refused(tmp_path):
    """A file of a later format is refused, naming the file and both formats."""
    SQLiteAdapter(tmp_path / "a.db", [HUB_CONTACTS]).close()
    conn = sqlite3.connect(tmp_path / "a.db")
    with conn:
        conn.execute("UPDATE _syncengine_meta SET value = '3' WHERE key = 'format'")
    conn.close()
    with pytest.raises(ValueError, match=r"a\.db.*format '3'.*reads '2'"):
        SQLiteAdapter(tmp_path / "a.db")


# ---- the property: any sequence of outside and own writes is seen -----------------------

OPS = st.lists(
    st.tuples(
        st.sampled_from(
            [
                "raw_insert",
                "raw_update",
                "raw_delete",
                "raw_replace",
                "raw_upsert",
                "raw_delete_all",
                "raw_transaction",
                "create",
                "update",
                "remove",
                "scan",
            ]
        ),
        st.integers(0, 20),
    ),
    max_size=25,
)


@given(OPS)
def test_an_incremental_reader_ends_with_the_database_as_it_is(ops):
    """Whatever mix of raw and adapter writes happens between scans, a reader that keeps a
    copy from incremental scans alone (changes and deletions) ends equal to the table."""
    with tempfile.TemporaryDirectory() as folder:
        path = Path(folder) / "a.db"
        hub = SQLiteAdapter(path, [HUB_CONTACTS], page_size=3)
        outside = sqlite3.connect(path, isolation_level=None)
        copy: dict[str, str | None] = {}
        cursor = "c:0"

        def follow() -> str:
            for page in hub.scan("contacts", cursor):
                for record in page.records:
                    copy[record.id] = record.properties.get("name")
                for gone in page.deleted:
                    copy.pop(gone, None)
            return page.cursor or cursor

        for n, (op, pick) in enumerate(ops):
            ids = [r.id for r in hub.records("contacts")]
            target = ids[pick % len(ids)] if ids else None
            if op == "raw_insert":
                outside.execute("INSERT INTO contacts (email, name) VALUES (?, ?)", (n, f"r{n}"))
            elif op == "raw_update" and target:
                outside.execute("UPDATE contacts SET name = ? WHERE __id = ?", (f"u{n}", target))
            elif op == "raw_delete" and target:
                outside.execute("DELETE FROM contacts WHERE __id = ?", (target,))
            elif op == "raw_replace" and target:  # deletes the old row without a trigger
                outside.execute(
                    "INSERT OR REPLACE INTO contacts (__id, email, name) VALUES (?, ?, ?)",
                    (target, f"x{n}", f"p{n}"),
                )
            elif op == "raw_upsert":
                outside.execute(
                    "INSERT INTO contacts (__id, email, name) VALUES (?, ?, ?) "
                    "ON CONFLICT (__id) DO UPDATE SET name = excluded.name",
                    (target or f"up{n}", f"y{n}", f"s{n}"),
                )
            elif op == "raw_delete_all":  # no WHERE: SQLite's truncate shortcut
                outside.execute("DELETE FROM contacts")
            elif op == "raw_transaction":  # several changes, one commit
                outside.execute("BEGIN")
                outside.execute("INSERT INTO contacts (email, name) VALUES (?, ?)", (n, f"t{n}"))
                outside.execute("UPDATE contacts SET name = ? WHERE __id = ?", (f"t{n}", target))
                outside.execute("COMMIT")
            elif op == "remove" and target:
                hub.remove("contacts", target)
            elif op == "create":
                hub.create("contacts", [NewRecord({"email": f"e{n}", "name": f"c{n}"}, "")])
            elif op == "update" and target:
                hub.update("contacts", [RecordUpdate(target, {"name": f"a{n}"})])
            elif op == "scan":
                cursor = follow()
        cursor = follow()
        assert {r.id: r.properties.get("name") for r in hub.records("contacts")} == copy
        outside.close()
        hub.close()


def test_the_file_keeps_its_id_prefix(tmp_path):
    """Reopened without id_prefix, a file goes on with the prefix it was given."""
    SQLiteAdapter(tmp_path / "a.db", [HUB_CONTACTS], id_prefix="x").close()
    with SQLiteAdapter(tmp_path / "a.db") as again:
        assert "x" == again.id_prefix
        assert again.put("contacts", email="a@x.io").id.startswith("x")
    with SQLiteAdapter(tmp_path / "a.db", id_prefix="y") as other:
        assert other.put("contacts", email="b@x.io").id.startswith("y")


def test_the_demo_apps_edited_with_sqlite3_are_synced_by_syncengine_run(tmp_path):
    """The user story: build the demo, edit crm.db as its output suggests (and insert and
    delete a contact), run `syncengine run`: the sales app has the changes."""
    from click.testing import CliRunner

    from syncengine.cli import main

    folder = tmp_path / "demo"
    built = CliRunner().invoke(main, ["demo", "--dir", str(folder), "--contacts", "120"])
    assert 0 == built.exit_code, built.output
    flat = " ".join(built.output.split())
    assert "changes any program makes to it (inserts, updates, deletes) are synced" in flat
    (email,) = re.findall(r"UPDATE contacts SET jobtitle = 'CTO' WHERE email = '([^']+)'", flat)
    crm = sqlite3.connect(folder / "crm.db")
    sales = sqlite3.connect(folder / "sales.db")
    (person,) = sales.execute(  # another person, paired with a contact
        "SELECT __id FROM people WHERE lower(trim(mail)) != ? AND __id LIKE 's%' "
        "ORDER BY __pos LIMIT 1",
        (email,),
    ).fetchone()
    with crm:
        crm.execute("UPDATE contacts SET jobtitle = 'CTO' WHERE email = ?", (email,))
        crm.execute(
            "INSERT INTO contacts (email, firstname, lastname, lifecyclestage) "
            "VALUES ('new.person@example.com', 'Newton', 'Person', 'lead')"
        )
    with sales:
        sales.execute("DELETE FROM people WHERE __id = ?", (person,))

    ran = CliRunner().invoke(main, ["run", str(folder / "syncengine.toml")])
    assert 0 == ran.exit_code, ran.output
    rows = sales.execute(
        "SELECT first_name FROM people WHERE mail = 'new.person@example.com'"
    ).fetchall()
    assert [("Newton",)] == rows, ran.output
    (title,) = sales.execute(
        "SELECT title FROM people WHERE lower(trim(mail)) = ?", (email,)
    ).fetchone()
    assert "CTO" == title
    assert "incremental: 1 created, 1 updated" in ran.output
    # The person deleted in the sales app is a pair failed as deleted, not re-created.
    assert [] == sales.execute("SELECT 1 FROM people WHERE __id = ?", (person,)).fetchall()
    listed = CliRunner().invoke(
        main, ["records", str(folder / "syncengine.toml"), "--state", "failed"]
    )
    assert person in listed.output
    crm.close()
    sales.close()
