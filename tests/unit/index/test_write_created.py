"""IndexStore.write_created: the stores' fast completion of announced creates stores
byte for byte what the general way (the base class's write_built of created_entry)
stores (issue 18).

The SQLite store completes an announced row in place (its record id, state, times and
the end of its ``data`` column); these tests write generated announced entries, then
their outcomes both ways, into two fresh stores, and compare every row of every table.
Rows written again since their announcement, entries never announced, failed outcomes
in the same call and repeated entries take the general way, and must come out the same.
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

from syncengine import ErrorCategory, RecordState, Side
from syncengine.index import (
    CursorUpdate,
    Entry,
    HistoryItem,
    IndexStore,
    MemoryIndexStore,
    SQLiteIndexStore,
)
from syncengine.index.base import created_entry
from syncengine.testing._index_kit import values_strategy

T0 = datetime(2026, 1, 2, 3, 4, 5, 6789, tzinfo=UTC)
TABLES = ("entries", "keys", "counts", "cursors", "shapes", "items")
_text = st.text(max_size=6)


@st.composite
def _announced(draw: st.DrawFn, n: int) -> Entry:
    """An announced create: pending on a side, with a unique key; most as the engine
    writes them (no history, mark or failure), some with more."""
    side = draw(st.sampled_from([Side.APP, Side.APP, Side.HUB]))
    plain = draw(st.booleans())
    keys = draw(st.frozensets(st.sampled_from(["0:a@x.io", "0:b@x.io", "1:c", f"0:{n}@y"])))
    hub_values = draw(st.none() | values_strategy(light=True))
    app_values = draw(st.none() | st.just(hub_values) | values_strategy(light=True))
    return Entry(
        "s",
        "contacts",
        f"e{n}",
        T0 + timedelta(microseconds=draw(st.integers(0, 3))),
        hub_id=None if side is Side.HUB else f"h{n}",
        app_id=None if side is Side.APP else f"a{n}",
        keys=keys,
        hub_values=hub_values,
        app_values=app_values,
        pending=side,
        pending_key=f"s:contacts:e{n}:n{draw(_text)}",
        matched_by=None if plain else draw(st.none() | st.sampled_from(sorted(keys) or ["k"])),
        mark=None if plain else draw(st.none() | _text),
        message="" if plain else draw(_text),
        attempts=0 if plain else draw(st.integers(0, 2)),
        history=()
        if plain
        else tuple(draw(st.lists(st.builds(HistoryItem, st.just(T0), _text, _text), max_size=2))),
    )


@st.composite
def _calls(draw: st.DrawFn) -> tuple[list[Entry], list[Entry], dict[str, object]]:
    """Announced entries (what is written first), entries written since, and the
    arguments of one write_created call."""
    announced = [draw(_announced(n)) for n in range(draw(st.integers(1, 6)))]
    written = list(announced)
    since: list[Entry] = []
    created: list[tuple[Entry, str]] = []
    failed: list[Entry] = []
    for entry in announced:
        fate = draw(st.sampled_from(["created"] * 4 + ["rewritten", "unwritten", "failed"]))
        if fate == "unwritten":
            written.remove(entry)
        if fate == "rewritten":  # written again since: another key, or more
            since.append(attrs.evolve(entry, pending_key=f"{entry.pending_key}-2", message="x"))
        if fate == "failed":
            failed.append(
                attrs.evolve(
                    entry,
                    state=RecordState.FAILED,
                    category=ErrorCategory.VALIDATION,
                    message="refused",
                    history=(HistoryItem(T0, "failed", draw(st.sampled_from(["v", "w"]))),),
                )
            )
        else:
            created.append((entry, f"new-{entry.entry_id}"))
    if created and draw(st.booleans()):
        created.append(created[0])  # the same entry twice: the last wins
    if failed and draw(st.booleans()):
        # An entry among the other entries and completed too: the completion wins.
        announced_as = next(e for e in announced if e.entry_id == failed[0].entry_id)
        created.append((announced_as, f"new-{announced_as.entry_id}"))
    at = T0 + timedelta(seconds=draw(st.integers(0, 2)))
    history = tuple(
        draw(
            st.lists(
                st.builds(
                    HistoryItem,
                    st.sampled_from([at, T0]),
                    st.sampled_from(["synced", "other"]),
                    st.sampled_from(["created on app", "created on hub", ""]),
                ),
                max_size=2,
            )
        )
    )
    cursors = [CursorUpdate("s", Side.HUB, "contacts", "c1", "page")] if draw(st.booleans()) else []
    call = {
        "created": created,
        "at": at,
        "mark": draw(st.none() | st.sampled_from(["i1", "r2"])),
        "history": history,
        "entries": failed,
        "cursors": cursors,
    }
    return written, since, call


def _rows(path: str) -> dict[str, list[tuple[object, ...]]]:
    conn = sqlite3.connect(path)
    try:
        return {t: sorted(conn.execute(f"SELECT * FROM {t}").fetchall(), key=repr) for t in TABLES}
    finally:
        conn.close()


def _sqlite_rows(tmp: str, name: str, fast: bool, calls: tuple[list, list, dict]) -> dict:
    written, since, call = calls
    path = f"{tmp}/{name}-{'fast' if fast else 'general'}.db"
    store = SQLiteIndexStore(path)
    try:
        store.write_built(written)
        if since:
            store.write(since)
        if fast:
            store.write_created(**call)  # type: ignore[arg-type]
        else:
            IndexStore.write_created(store, **call)  # type: ignore[arg-type]
        entries = list(store.entries("s"))
    finally:
        store.close()
    return {"rows": _rows(path), "entries": [repr(e) for e in entries]}


_names = iter(range(10**9))


@settings(deadline=None)
@given(calls=_calls())
def test_sqlite_completes_rows_as_the_general_way_writes_them(calls, tmp_path_factory):
    """Every row of every table the same, byte for byte, after either way."""
    tmp = str(tmp_path_factory.getbasetemp())
    name = f"wc{next(_names)}"
    fast = _sqlite_rows(tmp, name, True, calls)
    general = _sqlite_rows(tmp, name, False, calls)
    assert fast == general


@settings(deadline=None)
@given(calls=_calls())
def test_memory_store_writes_what_the_general_way_writes(calls):
    written, since, call = calls
    stores = [MemoryIndexStore(), MemoryIndexStore()]
    for store in stores:
        store.write_built(written)
        if since:
            store.write(since)
    stores[0].write_created(**call)  # type: ignore[arg-type]
    IndexStore.write_created(stores[1], **call)  # type: ignore[arg-type]
    assert [repr(e) for e in stores[0].entries("s")] == [repr(e) for e in stores[1].entries("s")]
    assert stores[0].counts("s") == stores[1].counts("s")


def test_the_engines_creates_are_completed_in_place(tmp_path, monkeypatch):
    """The common case takes the fast way: announced as the engine announces, completed
    without encoding an entry again, and the row reads back as created_entry's."""
    path = str(tmp_path / "one.db")
    store = SQLiteIndexStore(path)
    values = {"email": "ada@example.com", "name": "Ada"}
    announced = [
        Entry(
            "s",
            "contacts",
            f"h:{n}",
            T0,
            hub_id=str(n),
            keys=frozenset({f"0:{n}@example.com"}),
            hub_values=values,
            app_values={"Email": "ada@example.com", "Name": "Ada"},
            pending=Side.APP,
            pending_key=f"s:contacts:h:{n}:nabc{n}",
        )
        for n in range(3)
    ]
    store.write_built(announced)
    encoded: list[str] = []
    codec = store._codec
    original = codec.encode
    monkeypatch.setattr(codec, "encode", lambda *a: encoded.append(a[0].entry_id) or original(*a))
    history = (HistoryItem(T0, "synced", "created on app"),)
    store.write_created(
        [(e, f"a{n}") for n, e in enumerate(announced)], at=T0, mark="i1", history=history
    )
    assert encoded == []
    got = store.get("s", "contacts", [e.entry_id for e in announced])
    for n, entry in enumerate(announced):
        assert got[entry.entry_id] == created_entry(entry, f"a{n}", T0, "i1", history)
    assert store.counts("s") == {"contacts": {RecordState.SYNCED: 3}}
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


def _pg_rows(dsn: str, fast: bool, calls: tuple[list, list, dict]) -> dict:
    from syncengine.index.postgres import PostgresIndexStore

    written, since, call = calls
    schema = pg.fresh_schema()
    try:
        with PostgresIndexStore(dsn, schema=schema) as store:
            store.write_built(written)
            if since:
                store.write(since)
            if fast:
                store.write_created(**call)  # type: ignore[arg-type]
            else:
                IndexStore.write_created(store, **call)  # type: ignore[arg-type]
            entries = list(store.entries("s"))
        return {"rows": pg.stored_rows(dsn, schema), "entries": [repr(e) for e in entries]}
    finally:
        pg.drop_schema(dsn, schema)


@settings(deadline=None, max_examples=40)
@given(calls=_calls())
def test_postgres_completes_rows_as_the_general_way_writes_them(calls, pg_dsn):
    """Every row the same after either way (ids by their order: see stored_rows)."""
    assert _pg_rows(pg_dsn, True, calls) == _pg_rows(pg_dsn, False, calls)


def test_postgres_completes_the_engines_creates_in_place(pg_dsn, monkeypatch):
    """The engine's common case takes the fast way: no entry is encoded whole."""
    from syncengine.index.postgres import PostgresIndexStore

    schema = pg.fresh_schema()
    try:
        with PostgresIndexStore(dsn=pg_dsn, schema=schema) as store:
            announced = [
                Entry(
                    "s",
                    "contacts",
                    f"h:{n}",
                    T0,
                    hub_id=str(n),
                    keys=frozenset([f"0:{n}@x.io"]),
                    hub_values={"email": f"{n}@x.io"},
                    app_values={"Email": f"{n}@x.io"},
                    pending=Side.APP,
                    pending_key=f"s:contacts:h:{n}:n{n}",
                )
                for n in range(3)
            ]
            store.write_new(announced)
            encoded: list[Entry] = []
            encode = store._codec.encode

            def spy(entry, *args, **kwargs):
                encoded.append(entry)
                return encode(entry, *args, **kwargs)

            monkeypatch.setattr(store._codec, "encode", spy)
            store.write_created(
                [(e, f"a{e.hub_id}") for e in announced],
                at=T0,
                mark="i1",
                history=(HistoryItem(T0, "synced", "created on app"),),
            )
            assert encoded == []
            got = store.get("s", "contacts", [e.entry_id for e in announced])
            assert {e.entry_id: (e.app_id, e.state, e.pending) for e in got.values()} == {
                e.entry_id: (f"a{e.hub_id}", RecordState.SYNCED, None) for e in announced
            }
    finally:
        pg.drop_schema(pg_dsn, schema)
