"""PostgresIndexStore passes the conformance kit and agrees with the other stores.

Needs a PostgreSQL server: ``SYNCENGINE_POSTGRES_DSN`` (``.ci/postgres.sh`` starts one and
sets it), or PostgreSQL binaries on this machine, from which these tests start a
throwaway server of their own (one per test process, removed at exit). Without either,
they skip and say why. Each test works in a fresh PostgreSQL schema, dropped afterwards.
"""

from __future__ import annotations

import importlib.util
import sys
import threading
from datetime import timedelta
from pathlib import Path

import pytest
from hypothesis import HealthCheck, settings
from hypothesis import strategies as st
from hypothesis.stateful import rule

from syncengine import IndexStoreError, RecordState, Side
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
