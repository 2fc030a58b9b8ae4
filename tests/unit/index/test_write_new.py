"""IndexStore.write_new: the SQLite store's insert without looking stores byte for byte
what the general way (write_built) stores (issue 18).

The engine announces its lean creates (S8) with write_new: entries it believes new. The
SQLite store inserts them without reading stored rows of the same ids first; when one is
stored (written by this store, or by another process: the unique index refuses it), the
insert is rolled back and done by write_built. These tests write generated entries, some
stored before (by the same store or another connection), then one write_new call, both
ways into two fresh files, and compare every row of every table.
"""

from __future__ import annotations

import importlib.util
import sqlite3
import sys
from datetime import UTC, datetime, timedelta
from pathlib import Path

import attrs
import pytest
from hypothesis import given, settings
from hypothesis import strategies as st

from syncengine import Side
from syncengine.index import CursorUpdate, Entry, HistoryItem, MemoryIndexStore, SQLiteIndexStore
from syncengine.testing._index_kit import values_strategy

T0 = datetime(2026, 1, 2, 3, 4, 5, 6789, tzinfo=UTC)
TABLES = ("entries", "keys", "counts", "cursors", "shapes", "items")
_text = st.text(max_size=6)


@st.composite
def _entry(draw: st.DrawFn, n: int) -> Entry:
    """An entry as the engine announces a create (pending on a side, a unique key), some
    with more fields."""
    side = draw(st.sampled_from([Side.APP, Side.APP, Side.HUB]))
    plain = draw(st.booleans())
    keys = draw(st.frozensets(st.sampled_from(["0:a@x.io", "0:b@x.io", "1:c", f"0:{n}@y"])))
    hub_values = draw(st.none() | values_strategy(light=True))
    return Entry(
        "s",
        draw(st.sampled_from(["contacts", "contacts", "deals"])),
        f"h:{n}",
        T0 + timedelta(microseconds=draw(st.integers(0, 3))),
        hub_id=None if side is Side.HUB else f"{n}",
        app_id=None if side is Side.APP else f"a{n}",
        keys=keys,
        hub_values=hub_values,
        app_values=draw(st.none() | st.just(hub_values) | values_strategy(light=True)),
        pending=side,
        pending_key=f"s:contacts:h:{n}:n{draw(_text)}",
        mark=None if plain else draw(st.none() | _text),
        history=()
        if plain
        else tuple(draw(st.lists(st.builds(HistoryItem, st.just(T0), _text, _text), max_size=2))),
    )


@st.composite
def _calls(draw: st.DrawFn) -> tuple[list[Entry], list[Entry], list[Entry], dict[str, object]]:
    """Entries stored before by the same store, stored before by another connection, and
    the arguments of one write_new call (new entries, and some of those stored)."""
    entries = [draw(_entry(n)) for n in range(draw(st.integers(1, 6)))]
    mine: list[Entry] = []
    theirs: list[Entry] = []
    call: list[Entry] = []
    for entry in entries:
        fate = draw(st.sampled_from(["new"] * 4 + ["mine", "theirs"]))
        if fate == "mine":
            mine.append(entry)
        elif fate == "theirs":
            theirs.append(entry)
        if fate == "new" or draw(st.booleans()):
            # Written again (another key), or the stored one only differs in its key.
            call.append(attrs.evolve(entry, pending_key=f"{entry.pending_key}-2"))
    if call and draw(st.booleans()):
        call.append(call[0])  # the same entry twice: the last wins, in the first's place
    cursors = [CursorUpdate("s", Side.HUB, "contacts", "c1", "page")] if draw(st.booleans()) else []
    return mine, theirs, call, {"cursors": cursors}


def _rows(path: str) -> dict[str, list[tuple[object, ...]]]:
    conn = sqlite3.connect(path)
    try:
        return {t: sorted(conn.execute(f"SELECT * FROM {t}").fetchall(), key=repr) for t in TABLES}
    finally:
        conn.close()


def _sqlite_rows(tmp: str, name: str, fast: bool, calls: tuple[list, list, list, dict]) -> dict:
    mine, theirs, call, options = calls
    path = f"{tmp}/{name}-{'fast' if fast else 'general'}.db"
    store = SQLiteIndexStore(path)
    try:
        store.write_built(mine)
        if theirs:
            other = SQLiteIndexStore(path)
            other.write_built(theirs)
            other.close()
        if fast:
            store.write_new(call, **options)  # type: ignore[arg-type]
        else:
            store.write_built(call, **options)  # type: ignore[arg-type]
        entries = list(store.entries("s"))
    finally:
        store.close()
    return {"rows": _rows(path), "entries": [repr(e) for e in entries]}


_names = iter(range(10**9))


@settings(deadline=None)
@given(calls=_calls())
def test_sqlite_write_new_stores_what_write_built_stores(calls, tmp_path_factory):
    """Every row of every table the same, byte for byte, after either way."""
    tmp = str(tmp_path_factory.getbasetemp())
    name = f"wn{next(_names)}"
    assert _sqlite_rows(tmp, name, True, calls) == _sqlite_rows(tmp, name, False, calls)


@settings(deadline=None)
@given(calls=_calls())
def test_memory_store_write_new_stores_what_write_built_stores(calls):
    mine, theirs, call, options = calls
    stores = [MemoryIndexStore(), MemoryIndexStore()]
    for store in stores:
        store.write_built([*mine, *theirs])
    stores[0].write_new(call, **options)  # type: ignore[arg-type]
    stores[1].write_built(call, **options)  # type: ignore[arg-type]
    assert [repr(e) for e in stores[0].entries("s")] == [repr(e) for e in stores[1].entries("s")]
    assert stores[0].counts("s") == stores[1].counts("s")


def test_new_entries_are_inserted_without_looking_for_stored_rows(tmp_path, monkeypatch):
    """The engine's common case takes the fast way: no read of stored rows by entry id;
    an entry stored by another connection is found by the insert and written whole."""
    path = str(tmp_path / "one.db")
    store = SQLiteIndexStore(path)
    looked: list[list[str]] = []
    original = store._existing
    monkeypatch.setattr(
        store,
        "_existing",
        lambda conn, scope, ids: looked.append(list(ids)) or original(conn, scope, ids),
    )
    entries = [
        Entry(
            "s",
            "contacts",
            f"h:{n}",
            T0,
            hub_id=str(n),
            keys=frozenset({f"0:{n}@example.com"}),
            hub_values={"email": f"{n}@example.com"},
            app_values={"Email": f"{n}@example.com"},
            pending=Side.APP,
            pending_key=f"s:contacts:h:{n}:nabc",
        )
        for n in range(3)
    ]
    store.write_new(entries[:2])
    assert looked == []
    assert store.get("s", "contacts", ["h:0", "h:1"]) == {e.entry_id: e for e in entries[:2]}
    other = SQLiteIndexStore(path)
    stored = attrs.evolve(entries[2], keys=frozenset({"0:old@example.com"}))
    other.write_built([stored])
    other.close()
    store.write_new([entries[2]])
    assert looked == [["h:2"]]  # refused by the unique index, then written by write_built
    assert store.get("s", "contacts", ["h:2"]) == {"h:2": entries[2]}
    assert store.by_keys("s", "contacts", ["0:old@example.com"]) == {}
    store.close()


# ---- PostgreSQL: the same property, when a server can be had ------------------------


def _load_server_helper():
    """tests/postgres_server.py (a plain file: tests are not a package)."""
    name = "syncengine_tests_postgres_server"
    if name not in sys.modules:
        path = Path(__file__).parents[2] / "postgres_server.py"
        spec = importlib.util.spec_from_file_location(name, path)
        module = importlib.util.module_from_spec(spec)
        sys.modules[name] = module
        spec.loader.exec_module(module)
    return sys.modules[name]


pg = _load_server_helper()
_PG_DSN, _PG_REASON = pg.dsn_or_skip_reason()


@pytest.fixture(scope="module")
def pg_dsn():
    """The server's DSN (started here when the environment names none)."""
    found = None if _PG_REASON else pg.server_dsn()
    if found is None:
        pytest.skip(_PG_REASON or "no PostgreSQL server")
    return found


def _pg_rows(dsn: str, fast: bool, calls: tuple[list, list, list, dict]) -> dict:
    from syncengine.index.postgres import PostgresIndexStore

    mine, theirs, call, options = calls
    schema = pg.fresh_schema()
    try:
        with PostgresIndexStore(dsn, schema=schema) as store:
            store.write_built(mine)
            if theirs:
                with PostgresIndexStore(dsn, schema=schema) as other:
                    other.write_built(theirs)
            if fast:
                store.write_new(call, **options)  # type: ignore[arg-type]
            else:
                store.write_built(call, **options)  # type: ignore[arg-type]
            entries = list(store.entries("s"))
        return {"rows": pg.stored_rows(dsn, schema), "entries": [repr(e) for e in entries]}
    finally:
        pg.drop_schema(dsn, schema)


@settings(deadline=None, max_examples=40)
@given(calls=_calls())
def test_postgres_write_new_stores_what_write_built_stores(calls, pg_dsn):
    """Every row the same after either way (ids by their order: see stored_rows)."""
    assert _pg_rows(pg_dsn, True, calls) == _pg_rows(pg_dsn, False, calls)


def test_postgres_inserts_new_entries_without_locking_stored_rows(pg_dsn, monkeypatch):
    """PostgreSQL: no locking read of stored rows by entry id for new entries; one
    stored by another connection is refused by the unique index, the transaction rolled
    back and the entry written by write_built."""
    from syncengine.index.postgres import PostgresIndexStore

    schema = pg.fresh_schema()
    try:
        with PostgresIndexStore(pg_dsn, schema=schema) as store:
            looked: list[list[str]] = []
            original = store._lock_rows
            monkeypatch.setattr(
                store,
                "_lock_rows",
                lambda conn, where, items: (
                    looked.append([item[0] for item in items]) or original(conn, where, items)
                ),
            )
            entries = [
                Entry(
                    "s",
                    "contacts",
                    f"h:{n}",
                    T0,
                    hub_id=str(n),
                    keys=frozenset({f"0:{n}@example.com"}),
                    hub_values={"email": f"{n}@example.com"},
                    app_values={"Email": f"{n}@example.com"},
                    pending=Side.APP,
                    pending_key=f"s:contacts:h:{n}:nabc",
                )
                for n in range(3)
            ]
            store.write_new(entries[:2])
            assert looked == []
            assert store.get("s", "contacts", ["h:0", "h:1"]) == {
                e.entry_id: e for e in entries[:2]
            }
            with PostgresIndexStore(pg_dsn, schema=schema) as other:
                other.write_built([attrs.evolve(entries[2], keys=frozenset({"0:old@example.com"}))])
            store.write_new([entries[2]])
            assert looked == [["h:2"]]  # refused by the unique index, then write_built
            assert store.get("s", "contacts", ["h:2"]) == {"h:2": entries[2]}
            assert store.by_keys("s", "contacts", ["0:old@example.com"]) == {}
    finally:
        pg.drop_schema(pg_dsn, schema)
