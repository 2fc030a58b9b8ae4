"""PostgresIndexStore passes the conformance kit and agrees with the other stores.

Needs a PostgreSQL server: ``SYNCENGINE_POSTGRES_DSN`` (``.ci/postgres.sh`` starts one and
sets it), or PostgreSQL binaries on this machine, from which these tests start a
throwaway server of their own (one per test process, removed at exit). Without either,
they skip and say why. Each test works in a fresh PostgreSQL schema, dropped afterwards.
"""

from __future__ import annotations

import importlib.util
import json
import re
import sys
import threading
from datetime import timedelta
from pathlib import Path

import attrs
import pytest
from hypothesis import HealthCheck, settings
from hypothesis import strategies as st
from hypothesis.stateful import rule

from syncengine import ErrorCategory, IndexStoreError, RecordState, Side
from syncengine.entry import CorruptEntry
from syncengine.index import Entry, MemoryIndexStore
from syncengine.testing import IndexStoreTests, check_index_store
from syncengine.testing._index_kit import T0


def _load_server_helper():
    """tests/postgres_server.py (a plain file: tests are not a package)."""
    name = "syncengine_tests_postgres_server"
    if name not in sys.modules:
        path = Path(__file__).parents[1] / "postgres_server.py"
        spec = importlib.util.spec_from_file_location(name, path)
        module = importlib.util.module_from_spec(spec)
        sys.modules[name] = module
        spec.loader.exec_module(module)
    return sys.modules[name]


pg = _load_server_helper()
_DSN, _REASON = pg.dsn_or_skip_reason()
pytestmark = pytest.mark.skipif(
    _DSN is None and bool(_REASON), reason=_REASON or "no PostgreSQL server"
)

if not _REASON:
    from syncengine.index.postgres import PostgresIndexStore

    # The differential machine of the SQLite store, with PostgreSQL in its place.
    _differential = importlib.util.spec_from_file_location(
        "syncengine_tests_index_differential",
        Path(__file__).with_name("test_index_differential.py"),
    )
    differential = importlib.util.module_from_spec(_differential)
    _differential.loader.exec_module(differential)


@pytest.fixture(scope="module")
def dsn():
    """The server's DSN (started here when the environment names none)."""
    found = pg.server_dsn()
    if found is None:
        pytest.skip(_REASON or "no PostgreSQL server")
    return found


@pytest.fixture
def schema(dsn):
    """A fresh PostgreSQL schema for one test, dropped afterwards."""
    name = pg.fresh_schema()
    yield name
    pg.drop_schema(dsn, name)


class TestPostgresIndexStore(IndexStoreTests):
    """PostgresIndexStore conforms."""

    @pytest.fixture
    def store(self, dsn, schema):
        with PostgresIndexStore(dsn, schema=schema) as store:
            yield store


def test_check_index_store_passes_for_postgres(dsn):
    """The plain check_index_store runner passes PostgresIndexStore, a schema per store."""
    schemas = []

    def factory():
        schemas.append(pg.fresh_schema())
        return PostgresIndexStore(dsn, schema=schemas[-1])

    try:
        check_index_store(factory, max_examples=10)
    finally:
        for name in schemas:
            pg.drop_schema(dsn, name)


def test_two_stores_on_one_schema_see_each_others_writes(dsn, schema):
    """Two stores (as two processes would) share entries, counts, cursors and leases."""
    first = PostgresIndexStore(dsn, schema=schema)
    second = PostgresIndexStore(dsn, schema=schema)
    try:
        first.write([Entry("s", "contacts", "e1", T0, hub_id="h1", keys=frozenset({"0:a@x"}))])
        second.write([Entry("s", "contacts", "e2", T0, app_id="a1", state=RecordState.SYNCED)])
        assert ["e1", "e2"] == [e.entry_id for e in second.entries("s", "contacts")]
        assert {"contacts": {RecordState.INITIAL: 1, RecordState.SYNCED: 1}} == first.counts("s")
        assert "h1" == second.by_keys("s", "contacts", ["0:a@x"])["0:a@x"][0].hub_id
        until = T0 + timedelta(minutes=5)
        assert {"n"} == first.acquire("s", "contacts", ["n"], "one", until=until, now=T0)
        assert set() == second.acquire("s", "contacts", ["n"], "two", until=until, now=T0)
    finally:
        first.close()
        second.close()


def test_nul_and_lone_surrogates_round_trip_everywhere(dsn, schema):
    """PostgreSQL text holds neither NUL nor lone surrogates: escaped, read back exactly."""
    odd = "a\x00b\x01c\x01\x01\x00\x03beef\ud800é"
    with PostgresIndexStore(dsn, schema=schema) as store:
        entry = Entry(
            odd, odd, odd, T0, hub_id=odd, keys=frozenset({odd}), message=odd, hub_values={odd: odd}
        )
        store.write([entry])
        store.set_cursor(odd, Side.APP, odd, odd, name=odd)
        store.set_meta(odd, odd, odd)
        assert entry == store.get(odd, odd, [odd])[odd]
        assert [entry] == store.by_keys(odd, odd, [odd])[odd]
        assert odd == store.cursor(odd, Side.APP, odd, name=odd)
        assert odd == store.get_meta(odd, odd)
        assert {odd} == store.acquire(odd, odd, [odd], odd, until=T0, now=T0)


def test_a_newer_schema_version_is_refused(dsn, schema):
    """A database written by a newer syncengine is not opened (no silent downgrade)."""
    import psycopg

    PostgresIndexStore(dsn, schema=schema).close()
    with psycopg.connect(dsn, autocommit=True) as conn:
        conn.execute(f'UPDATE "{schema}".schema_version SET version = 999')
    with pytest.raises(IndexStoreError, match="schema version 999"):
        PostgresIndexStore(dsn, schema=schema)


def test_stores_opened_at_once_migrate_a_new_schema_once(dsn, schema):
    """Processes opening a new database at once: the advisory lock lets one migrate."""
    errors: list[BaseException] = []
    stores = []

    def open_one():
        try:
            stores.append(PostgresIndexStore(dsn, schema=schema))
        except BaseException as error:
            errors.append(error)

    threads = [threading.Thread(target=open_one) for _ in range(6)]
    for thread in threads:
        thread.start()
    for thread in threads:
        thread.join()
    for store in stores:
        store.close()
    assert [] == errors
    assert 6 == len(stores)


def test_a_closed_store_refuses_calls(dsn, schema):
    """After close(), calls raise IndexStoreError instead of reconnecting."""
    store = PostgresIndexStore(dsn, schema=schema)
    store.close()
    with pytest.raises(IndexStoreError, match="closed"):
        store.get_meta("s", "k")


def test_the_repr_hides_the_password(dsn, schema):
    """X4: a password in the DSN never shows in the store's repr."""
    with PostgresIndexStore(f"{dsn} password=hunter2", schema=schema) as store:
        assert "hunter2" not in repr(store)


if not _REASON:

    class PostgresAgrees(differential.StoresAgree):
        """StoresAgree with PostgreSQL in the place of SQLite; reopening reconnects."""

        def __init__(self) -> None:
            self.dsn = pg.server_dsn()
            self.schema = pg.fresh_schema()
            super().__init__()
            self.sqlite.close()  # the parent's SQLite file: replaced by PostgreSQL
            self.sqlite = PostgresIndexStore(self.dsn, schema=self.schema)

        def teardown(self) -> None:
            """Close the store and drop its schema."""
            super().teardown()
            pg.drop_schema(self.dsn, self.schema)

        @rule()
        def reopen_the_file(self):
            """Close the PostgreSQL store and connect again: everything is still there."""
            self.sqlite.close()
            self.sqlite = PostgresIndexStore(self.dsn, schema=self.schema)

        @rule(
            sync_id=st.sampled_from(differential.SYNCS),
            object_type=st.sampled_from(differential.TYPES),
            names=st.lists(st.sampled_from(["n0", "n1", "n2"]), max_size=3),
        )
        def leases_survive_a_reconnect(self, sync_id, object_type, names):
            """A lease another connection took is refused to a new owner, as in memory."""
            until = differential.TIMES[-1] + timedelta(hours=1)
            now = differential.TIMES[0]
            granted = [
                store.acquire(sync_id, object_type, names, "o3", until=until, now=now)
                for store in self.stores
            ]
            assert granted[0] == granted[1]

    PostgresAgrees.TestCase.settings = settings(
        settings.default,
        deadline=None,
        stateful_step_count=30,
        suppress_health_check=[HealthCheck.too_slow],
    )
    TestPostgresAgreesWithMemory = PostgresAgrees.TestCase
    TestPostgresAgreesWithMemory.__doc__ = (
        "MemoryIndexStore and PostgresIndexStore agree on every read."
    )
    _ = MemoryIndexStore  # the reference the machine compares with


def test_a_version_2_schema_gets_the_pass_history(dsn, schema, monkeypatch):
    """Issue 20 item 3: a database made before the pass history (version 2, with the
    inbox) is migrated when a store opens it; its entries stay and passes are kept."""
    from syncengine.history import PassRecord
    from syncengine.index import postgres as postgres_module

    monkeypatch.setattr(postgres_module, "_MIGRATIONS", postgres_module._MIGRATIONS[:2])
    with PostgresIndexStore(dsn, schema=schema) as store:
        store.write([Entry("s", "contacts", "e1", T0, hub_id="h1")])
    monkeypatch.undo()
    with PostgresIndexStore(dsn, schema=schema) as store:
        assert ["e1"] == [e.entry_id for e in store.entries("s")]
        kept = store.add_pass(PassRecord("s", "incremental", T0, T0, "completed"))
        assert [kept] == store.passes("s")
        assert 1 == kept.number


def test_stores_adding_passes_at_once_number_them_once_each(dsn, schema):
    """Two stores (two processes) recording passes of one sync at once: every number is
    given once, 1 to N, none lost (the advisory lock per sync orders them)."""
    from syncengine.history import PassRecord

    stores = [PostgresIndexStore(dsn, schema=schema) for _ in range(2)]
    barrier = threading.Barrier(2)
    numbers: list[int] = []

    def add(store):
        barrier.wait()
        for _ in range(15):
            record = store.add_pass(PassRecord("s", "events", T0, T0, "completed"))
            numbers.append(record.number)

    try:
        threads = [threading.Thread(target=add, args=(store,)) for store in stores]
        for thread in threads:
            thread.start()
        for thread in threads:
            thread.join()
        assert list(range(1, 31)) == sorted(numbers)
        assert list(range(30, 0, -1)) == [r.number for r in stores[0].passes("s", limit=100)]
    finally:
        for store in stores:
            store.close()


def _sql(dsn: str, schema: str, statement: str, params=()) -> list:
    """Run one statement in ``schema`` (as another program would); its rows, if any."""
    import psycopg

    with psycopg.connect(dsn, autocommit=True) as conn:
        conn.execute(f'SET search_path TO "{schema}"')
        cursor = conn.execute(statement, params)
        return cursor.fetchall() if cursor.description else []


@pytest.mark.parametrize(
    ("what", "assignment"),
    [
        ("invalid JSON", "data = 'not json'"),
        ("a truncated data column", "data = substr(data, 1, length(data) / 2)"),
        ("an unknown history action", """data = '[null,null,null,[[0,99,"hub"]]]'"""),
        ("an unknown history item", "data = '[null,null,null,[0,9999]]'"),
        ("an unknown shape", """data = '[[77,"x"]]'"""),
        ("a data column that is not an array", """data = '{"a":1}'"""),
        ("a matched key number beyond the keys", "data = '[null,null,3]'"),
        ("keys that are not JSON", "keys = '[\"0:ada@example.com'"),
        ("an unknown state", "state = 17"),
    ],
)
def test_a_row_another_program_wrote_is_named(dsn, schema, what, assignment):
    """Issue 18 item 2: every read of an entry whose row is not in the row format gives
    a CorruptEntry naming the entry and the schema, never a decoder's traceback, beside
    the other entries of the same read; writing the entry again replaces the row."""
    first = Entry(
        "s",
        "contacts",
        "e1",
        T0,
        hub_id="h1",
        app_id="a1",
        keys=frozenset({"0:ada@example.com", "1:+45"}),
        matched_by="0:ada@example.com",
        hub_values={"email": "Ada@example.com"},
    )
    second = Entry("s", "contacts", "e2", T0, hub_id="h2", hub_values={"email": "b@x"})
    named = f"PostgreSQL schema '{schema}' is corrupt: entry 'e1' of sync 's', type 'contacts'"
    with PostgresIndexStore(dsn, schema=schema) as store:
        store.write([first, second])
        _sql(dsn, schema, f"UPDATE entries SET {assignment} WHERE entry_id = 'e1'")
        read = [
            store.get("s", "contacts", ["e1", "e2"])["e1"],
            store.by_record_ids("s", "contacts", Side.HUB, ["h1", "h2"])["h1"],
            store.by_keys("s", "contacts", ["0:ada@example.com"])["0:ada@example.com"][0],
            next(iter(store.entries("s"))),
            store.entries_page("s", "contacts")[0][0],
        ]
        for entry in read:
            assert type(entry) is CorruptEntry
            assert named in entry.message
            assert (RecordState.FAILED, ErrorCategory.INDEX) == (entry.state, entry.category)
            assert ("e1", "h1", "a1") == (entry.entry_id, entry.hub_id, entry.app_id)
        assert [second] == list(store.entries("s"))[1:]
        other, keys = store.record_keys("s", "contacts", Side.HUB, ["h1"])["h1"]
        assert other == "a1"
        if assignment.startswith("keys"):  # none: reading the entry names the row
            assert frozenset() == keys
        with pytest.raises(IndexStoreError, match="CorruptEntry is not written back"):
            store.write([read[0]])
        assert {"e2": second} == store.get("s", "contacts", ["e2"])
        store.write([first])
        assert {"e1": first} == store.get("s", "contacts", ["e1"])
        assert [first] == store.by_keys("s", "contacts", ["0:ada@example.com"])["0:ada@example.com"]
        assert [first, second] == list(store.entries("s"))


def test_a_version_3_schema_is_converted_to_the_shared_row_format(dsn, schema, monkeypatch):
    """Issue 18 item 1: version 4 stores entries in the row format the SQLite store uses
    (index._rowformat); the migration converts the rows a version 3 store wrote, which
    read the same before and after, and leaves a row it cannot read as it is."""
    from datetime import date

    from syncengine.index import HistoryItem
    from syncengine.index import postgres as postgres_module

    at = T0 + timedelta(seconds=1)
    history = (
        HistoryItem(T0, "indexed", "hub"),
        HistoryItem(at, "matched", "by email/Email"),
        HistoryItem(at, "restored", "by hand"),
    )
    values = {"email": "Ada@x.org", "n": 1.0, "d": date(2024, 1, 2)}
    kept = [
        Entry(
            "s",
            "contacts",
            "e1",
            at,
            hub_id="h1",
            app_id="a1",
            state=RecordState.SYNCED,
            keys=frozenset({"0:ada@x.org", "1:+45"}),
            matched_by="0:ada@x.org",
            hub_values=values,
            app_values=dict(values),
            history=history,
            mark="i1",
        ),
        Entry(
            "s",
            "contacts",
            "e2",
            at,
            hub_id="h2",
            keys=frozenset({"0:b\x00@x.org"}),
            matched_by="0:b\x00@x.org",
            hub_values={"email": "b@x.org"},
            app_values={"mail": "B@x.org"},
        ),
    ]
    # The text a version 3 store wrote: values as tagged JSON objects, app values equal
    # to the hub's as 1, the matched key and the history's actions as text, the keys
    # column a JSON array.
    old = {
        "e1": (
            '["0:ada@x.org","1:+45"]',
            '[{"email":"Ada@x.org","n":1.0,"d":{"$d":"2024-01-02"}},1,"0:ada@x.org",'
            '[[1000000,"indexed","hub"],[0,"matched","by email/Email"],'
            '[0,"restored","by hand"]],"i1"]',
        ),
        "e2": (
            '["0:b\\u0000@x.org"]',
            '[{"email":"b@x.org"},{"mail":"B@x.org"},"0:b\\u0000@x.org"]',
        ),
        "e3": (None, "not JSON: left as it is"),
    }
    monkeypatch.setattr(postgres_module, "_MIGRATIONS", postgres_module._MIGRATIONS[:3])
    with PostgresIndexStore(dsn, schema=schema) as store:
        # The hot columns as the entries have them; keys and data follow below.
        plain = [
            attrs.evolve(
                e,
                keys=frozenset(),
                matched_by=None,
                hub_values=None,
                app_values=None,
                history=(),
                mark=None,
            )
            for e in kept
        ]
        store.write([*plain, Entry("s", "contacts", "e3", at)])
    for entry_id, (keys, data) in old.items():
        _sql(
            dsn,
            schema,
            "UPDATE entries SET keys = %s, data = %s WHERE entry_id = %s",
            (keys, data, entry_id),
        )
        for key in [] if keys is None else json.loads(keys):
            _sql(
                dsn,
                schema,
                "INSERT INTO keys (sync, ot, key, entry) SELECT sync, ot, %s, id FROM entries "
                "WHERE entry_id = %s",
                (key.replace("\x00", "\x01\x01"), entry_id),  # the store's escape of NUL
            )
    assert [(3,)] == _sql(dsn, schema, "SELECT version FROM schema_version")
    monkeypatch.undo()
    with PostgresIndexStore(dsn, schema=schema) as store:
        assert [(4,)] == _sql(dsn, schema, "SELECT version FROM schema_version")
        rows = dict(_sql(dsn, schema, "SELECT entry_id, data FROM entries ORDER BY id"))
        first = json.loads(rows["e1"])
        assert type(first[0][0]) is int  # the values by the number of their field names
        assert [-first[0][0], 1] == first[1][:2]  # the hub's names; its equal string left out
        assert 0 == first[2]  # the key that matched, by its number
        assert all(type(part) is int for part in first[3])  # items by number
        assert [(1,)] == _sql(
            dsn, schema, "SELECT count(*) FROM shapes WHERE id = %s", (first[0][0],)
        )
        assert "not JSON: left as it is" == rows["e3"]
        lone = _sql(dsn, schema, "SELECT keys FROM entries WHERE entry_id = 'e2'")
        assert [("0:b\x01\x01@x.org",)] == lone  # a lone key as itself, escaped
        assert {entry.entry_id: entry for entry in kept} == store.get("s", "contacts", ["e1", "e2"])
        assert kept[1:] == store.by_keys("s", "contacts", ["0:b\x00@x.org"])["0:b\x00@x.org"]
        unread = store.get("s", "contacts", ["e3"])["e3"]
        assert type(unread) is CorruptEntry
        assert "entry 'e3'" in unread.message


@pytest.mark.parametrize(
    ("table", "assignment", "named"),
    [
        ("passes", "counts = 'not json'", "pass 1 of sync 's'"),
        ("inbox", "side = 7", "inbox event 1 of sync 's'"),
    ],
)
def test_a_pass_record_or_inbox_event_is_named_too(dsn, schema, table, assignment, named):
    """The other tables the store decodes: the pass history and the webhook inbox."""
    from syncengine.history import PassRecord
    from syncengine.index import InboxItem

    with PostgresIndexStore(dsn, schema=schema) as store:
        store.add_pass(PassRecord("s", "initial", T0, T0, "completed"))
        store.inbox_add([InboxItem("s", Side.HUB, "e:1", "{}", T0)])
        _sql(dsn, schema, f"UPDATE {table} SET {assignment}")
        expected = f"schema '{schema}' is corrupt: {named}"
        if table == "passes":  # an UnreadablePass in its place (see the test below)
            (unread,) = store.passes("s")
            assert expected in unread.detail
        else:  # an item the drain drops, naming it (the events after it go on)
            from syncengine import _inbox

            (item,) = store.inbox("s")
            with pytest.raises(ValueError, match=re.escape(expected)):
                _inbox.decode(item.payload)


@pytest.mark.parametrize(
    "assignment",
    [
        "counts = 'not json'",
        """counts = '{"contacts":{"hub":{"nonsense":1}}}'""",
        "started = 9223372036854775807",
    ],
)
def test_a_pass_row_that_cannot_be_read_is_listed_as_unreadable_alone(dsn, schema, assignment):
    """One pass history row that cannot be read made passes() raise (so `status` and
    the console's pass list failed as a whole): it is an UnreadablePass naming the row,
    in its place, and the other passes read as usual."""
    from syncengine.history import UNREADABLE, PassRecord, UnreadablePass

    with PostgresIndexStore(dsn, schema=schema) as store:
        kept = [
            store.add_pass(PassRecord("s", kind, T0, T0, "completed"))
            for kind in ("initial", "incremental", "reconcile")
        ]
        _sql(dsn, schema, f"UPDATE passes SET {assignment} WHERE number = 2")
        newest, bad, oldest = store.passes("s")
        assert (kept[2], kept[0]) == (newest, oldest)
        assert type(bad) is UnreadablePass
        assert (2, UNREADABLE, 0) == (bad.number, bad.outcome, bad.created)
        assert bad.detail.startswith(
            f"the index in PostgreSQL schema '{schema}' is corrupt: "
            "pass 2 of sync 's' cannot be read: "
        )
        assert [bad] == store.passes("s", limit=1, before=3)
        with pytest.raises(IndexStoreError, match="add_pass takes a PassRecord"):
            store.add_pass(bad)
