"""IndexStore.write_synced stores exactly what write_built stores of synced_copy's
entries, in every bundled store: the SQLite store's rows in place (RowCodec.encode_synced)
byte for byte, the interned history items compared by their text; the other stores
entry by entry. Generated entries (synced pairs mostly, some not), copies (text mostly,
some not), histories, cut sizes and entries changed or deleted since they were read."""

from __future__ import annotations

import importlib.util
import json
import sqlite3
import sys
from collections.abc import Callable, Iterator
from datetime import UTC, datetime, timedelta
from pathlib import Path
from typing import Any

import attrs
import pytest
from hypothesis import given, settings
from hypothesis import strategies as st

from syncengine import IndexStoreError, RecordState, Side
from syncengine.index import CursorUpdate, Entry, HistoryItem, MemoryIndexStore, SQLiteIndexStore
from syncengine.index.base import IndexStore, synced_copy

T0 = datetime(2024, 1, 1, tzinfo=UTC)
TIMES = [T0 + timedelta(minutes=m) for m in range(4)]
S, TYPE = "s", "contacts"
IDS = [f"e{i}" for i in range(5)]
KEYS = ["0:a@x", "0:b@x", "1:acme", "[odd"]
NAMES = [("email", "name"), ("name", "email"), ("email",)]
TEXT = st.sampled_from(["", "a", "b", "Ærø", "x" * 30])
VALUE = TEXT | st.none() | st.integers(-2, 2) | st.sampled_from([1.5, True, ("t",)])


@st.composite
def values(draw: st.DrawFn, *, plain: bool) -> tuple[dict[str, Any], dict[str, Any]]:
    """Hub and app copies: the same values under two sets of names (as the engine's
    merge makes them), or some differing, or not text, or no copies at all."""
    names = draw(st.sampled_from(NAMES))
    kind = draw(st.sampled_from(["same", "same", "same names", "differ", "other", "empty"]))
    hub = {name: draw(TEXT if plain or kind != "other" else VALUE) for name in names}
    upper = kind != "same names"
    app = {name.upper() if upper else name: value for name, value in hub.items()}
    if kind == "differ":
        for name in draw(st.lists(st.sampled_from(sorted(app)), max_size=2)):
            app[name] = draw(VALUE)
    elif kind == "empty":
        return {}, app
    return hub, app


@st.composite
def stored(draw: st.DrawFn, entry_id: str) -> Entry:
    """An entry as a pass may find it: a plain synced pair mostly (the rows written in
    place), else anything."""
    keys = frozenset(draw(st.lists(st.sampled_from(KEYS), max_size=3)))
    plain = draw(st.integers(0, 4)) > 0
    hub, app = draw(values(plain=plain))
    if plain:
        return Entry(
            sync_id=S,
            object_type=TYPE,
            entry_id=entry_id,
            updated_at=draw(st.sampled_from(TIMES)),
            hub_id=f"h-{entry_id}",
            app_id=f"a-{entry_id}",
            state=RecordState.SYNCED,
            keys=keys,
            matched_by=draw(st.none() | st.sampled_from([*sorted(keys), "other"])),
            hub_values=hub or None,
            app_values=app,
            mark=draw(st.none() | st.sampled_from(["m1", "m2"])),
            history=tuple(draw(st.lists(items(), max_size=4))),
        )
    return Entry(
        sync_id=S,
        object_type=TYPE,
        entry_id=entry_id,
        updated_at=draw(st.sampled_from(TIMES)),
        hub_id=f"h-{entry_id}",
        app_id=draw(st.sampled_from([f"a-{entry_id}", f"a-{entry_id}", None])),
        state=draw(st.sampled_from([RecordState.SYNCED] * 4 + list(RecordState))),
        keys=keys,
        matched_by=draw(st.none() | st.sampled_from([*sorted(keys), "other"])),
        hub_values=hub or None,
        app_values=app,
        pending=draw(st.sampled_from([None, None, None, Side.APP])),
        mark=draw(st.none() | st.sampled_from(["m1", "m2"])),
        links=draw(st.sampled_from([{}, {}, {"companies": frozenset({"c1"})}])),
        history=tuple(draw(st.lists(items(), max_size=4))),
    )


def items() -> st.SearchStrategy[HistoryItem]:
    return st.builds(
        HistoryItem,
        st.sampled_from(TIMES),
        st.sampled_from(["synced", "matched", "indexed", "odd"]),
        st.sampled_from(["", "updated app: email", "by email", "ü"]),
    )


@st.composite
def scenario(draw: st.DrawFn) -> dict[str, Any]:
    ids = draw(st.lists(st.sampled_from(IDS), min_size=1, max_size=5, unique=True))
    first = [draw(stored(entry_id)) for entry_id in ids]
    when = draw(st.sampled_from(TIMES) | st.just(T0 + timedelta(hours=2)))
    copies = []
    since: list[Entry] = []
    deleted: list[str] = []
    for entry_id in [*ids, *draw(st.lists(st.sampled_from(ids), max_size=3))]:
        hub, app = draw(values(plain=draw(st.booleans())))
        item = draw(st.none() | items() | st.just(HistoryItem(when, "synced", "updated hub: name")))
        copies.append((entry_id, hub, app, item))
    for entry in first:
        what = draw(st.sampled_from(["as read"] * 3 + ["written", "changed", "changed", "deleted"]))
        if what == "written":  # another entry in its place
            since.append(draw(stored(entry.entry_id)))
        elif what == "changed":  # one hot column or the history changed
            change = draw(
                st.sampled_from(
                    [
                        {"keys": frozenset({"0:new"})},
                        {"keys": frozenset()},
                        {"state": RecordState.FAILED},
                        {"app_id": "a-other"},
                        {"hub_id": None},
                        {"pending": Side.HUB},
                        {"history": (HistoryItem(T0, "synced", "since"),)},
                        {"updated_at": TIMES[-1]},
                    ]
                )
            )
            since.append(attrs.evolve(entry, **change))
        elif what == "deleted":
            deleted.append(entry.entry_id)
    return {
        "first": first,
        "since": since,
        "deleted": deleted,
        "copies": copies,
        "when": when,
        "size": draw(st.integers(1, 4)),
        "cursor": draw(st.booleans()),
        "reopen": draw(st.booleans()),
    }


def run(
    store: IndexStore,
    case: dict[str, Any],
    *,
    synced: bool,
    reopen: Callable[[IndexStore], IndexStore] = lambda store: store,
) -> IndexStore:
    """The case through write_synced (``synced``) or write_built of synced_copy; with
    ``case["reopen"]``, on the store ``reopen`` opens in place of the one that read the
    entries (which knows nothing of the rows)."""
    store.write(case["first"])
    read = store.get(S, TYPE, [e.entry_id for e in case["first"]])
    store.write(case["since"], delete=[(S, TYPE, i) for i in case["deleted"]])
    if case["reopen"]:
        store = reopen(store)
    copies = [(read[entry_id], hub, app, item) for entry_id, hub, app, item in case["copies"]]
    cursors = [CursorUpdate(S, Side.HUB, TYPE, "c1")] if case["cursor"] else []
    if synced:
        store.write_synced(copies, case["when"], case["size"], cursors=cursors)
    else:
        built = [synced_copy(*copy, case["when"], case["size"]) for copy in copies]
        store.write_built(built, cursors=cursors)
    return store


def rows(path: str) -> Iterator[Any]:
    """Every row of the index file, the history items of data columns by their text."""
    conn = sqlite3.connect(path)
    try:
        texts = dict(conn.execute("SELECT id, item FROM items"))
        for table in ("entries", "keys", "counts", "cursors", "shapes"):
            for row in sorted(conn.execute(f"SELECT * FROM {table}"), key=repr):
                if table == "entries":
                    data = json.loads(row[-1])
                    if len(data) > 3 and data[3] and type(data[3][0]) is int:
                        data[3] = [
                            texts[ref] if n % 2 and type(ref) is int else ref
                            for n, ref in enumerate(data[3])
                        ]
                    yield (table, *row[:-1], data)
                else:
                    yield (table, *row)
    finally:
        conn.close()


def entries(store: IndexStore) -> Any:
    return list(store.entries(S)), store.counts(S), store.by_keys(S, TYPE, KEYS)


@settings(max_examples=300, deadline=None)
@given(case=scenario())
def test_sqlite_rows_are_those_write_built_stores(tmp_path_factory: Any, case: Any) -> None:
    where = tmp_path_factory.mktemp("synced")
    for synced in (True, False):
        path = where / f"{synced}.db"

        def reopen(store: IndexStore, path: Any = path) -> IndexStore:
            store.close()
            return SQLiteIndexStore(path)

        with run(SQLiteIndexStore(path), case, synced=synced, reopen=reopen) as store:
            got = entries(store)
        if synced:
            fast, fast_entries = list(rows(str(where / f"{synced}.db"))), got
    assert list(rows(str(where / "False.db"))) == fast
    assert got == fast_entries


@settings(max_examples=100, deadline=None)
@given(case=scenario())
def test_memory_entries_are_those_write_built_stores(case: Any) -> None:
    fast, general = MemoryIndexStore(), MemoryIndexStore()
    run(fast, case, synced=True)
    run(general, case, synced=False)
    assert entries(fast) == entries(general)


def test_a_row_read_and_written_in_place_reads_back_as_synced_copy(tmp_path: Any) -> None:
    """The common case, spelled out: a synced pair of text read, then its new copies
    written in place (the UPDATE of the data and time alone) read back whole."""
    first = Entry(
        sync_id=S,
        object_type=TYPE,
        entry_id="e1",
        updated_at=T0,
        hub_id="h1",
        app_id="a1",
        state=RecordState.SYNCED,
        keys=frozenset({"0:a@x"}),
        matched_by="0:a@x",
        hub_values={"email": "a@x", "name": "Ada"},
        app_values={"EMAIL": "a@x", "NAME": "Ada"},
        mark="m1",
        history=(HistoryItem(T0, "matched", "by email"),),
    )
    when = T0 + timedelta(hours=1)
    item = HistoryItem(when, "synced", "updated app: NAME")
    with SQLiteIndexStore(tmp_path / "one.db") as store:
        store.write([first])
        read = store.get(S, TYPE, ["e1"])["e1"]
        statements: list[str] = []
        store._connection().set_trace_callback(statements.append)
        store.write_synced(
            [(read, {"email": "a@x", "name": "Ada L"}, {"EMAIL": "a@x", "NAME": "Ada L"}, item)],
            when,
            10,
        )
        store._connection().set_trace_callback(None)
        want = attrs.evolve(
            first,
            hub_values={"email": "a@x", "name": "Ada L"},
            app_values={"EMAIL": "a@x", "NAME": "Ada L"},
            updated_at=when,
            history=(*first.history, item),
        )
        assert store.get(S, TYPE, ["e1"])["e1"] == want
        # The history item's text is interned (items); no other row is read or written.
        touched = [s for s in statements if "entries" in s or "keys" in s or "counts" in s]
        assert len(touched) == 1
        assert touched[0].startswith("UPDATE entries SET updated_at = ")


def test_a_rolled_back_write_synced_leaves_no_history_item_behind(tmp_path: Any) -> None:
    """A write_synced refused whole (an entry it cannot store) interned a new history
    item in its rolled-back transaction: the next write numbers items again, and every
    entry reads back with its own items."""
    first = [
        Entry(
            sync_id=S,
            object_type=TYPE,
            entry_id=f"e{i}",
            updated_at=T0,
            hub_id=f"h{i}",
            app_id=f"a{i}",
            state=RecordState.SYNCED,
            keys=frozenset({f"0:{i}@x"}),
            hub_values={"email": f"{i}@x"},
            app_values={"EMAIL": f"{i}@x"},
        )
        for i in range(2)
    ]
    when = T0 + timedelta(hours=1)
    lost = HistoryItem(when, "synced", "updated app: EMAIL (rolled back)")
    kept = HistoryItem(when, "synced", "updated hub: email")
    with SQLiteIndexStore(tmp_path / "back.db") as store:
        store.write(first)
        one, two = (store.get(S, TYPE, ["e0", "e1"])[i] for i in ("e0", "e1"))
        text = {"email": "new"}, {"EMAIL": "new"}
        with pytest.raises(IndexStoreError):
            store.write_synced([(one, *text, lost), (two, {"email": object()}, {}, None)], when, 5)
        assert store.get(S, TYPE, ["e0", "e1"]) == {"e0": one, "e1": two}
        store.write(
            [attrs.evolve(first[0], entry_id="e2", hub_id="h2", app_id="a2", keys=frozenset())]
        )
        store.write_synced([(two, *text, kept), (one, *text, lost)], when, 5)
        got = store.get(S, TYPE, ["e0", "e1"])
        assert got["e0"].history == (lost,)
        assert got["e1"].history == (kept,)
    with SQLiteIndexStore(tmp_path / "back.db") as again:  # nothing cached
        got = again.get(S, TYPE, ["e0", "e1"])
        assert got["e0"].history == (lost,)
        assert got["e1"].history == (kept,)


def _pair(entry_id: str) -> Entry:
    return Entry(
        sync_id=S,
        object_type=TYPE,
        entry_id=entry_id,
        updated_at=T0,
        hub_id=f"h-{entry_id}",
        app_id=f"a-{entry_id}",
        state=RecordState.SYNCED,
        keys=frozenset({f"0:{entry_id}@x"}),
        matched_by=f"0:{entry_id}@x",
        hub_values={"email": f"{entry_id}@x", "name": "Ada"},
        app_values={"EMAIL": f"{entry_id}@x", "NAME": "Ada"},
        history=(HistoryItem(T0, "matched", "by email"),),
    )


def test_a_fresh_stores_first_write_synced_reads_no_row_again(tmp_path: Any) -> None:
    """A store opened on a file (a new process: a pass run from the command line) reads
    its pairs by record id and writes their copies: the first write rewrites the rows
    it read in place, without reading their hot columns again (nothing else committed
    since the store opened)."""
    path = tmp_path / "fresh.db"
    with SQLiteIndexStore(path) as first:
        first.write([_pair("e1"), _pair("e2")])
    when = T0 + timedelta(hours=1)
    item = HistoryItem(when, "synced", "updated app: NAME")
    with SQLiteIndexStore(path) as store:
        read = store.by_record_ids(S, TYPE, Side.HUB, ["h-e1", "h-e2"])
        statements: list[str] = []
        store._connection().set_trace_callback(statements.append)
        copies = [
            (
                entry,
                {**(entry.hub_values or {}), "name": "Bo"},
                {**entry.app_values, "NAME": "Bo"},
                item,
            )
            for entry in read.values()
        ]
        store.write_synced(copies, when, 10)
        store._connection().set_trace_callback(None)
        got = store.get(S, TYPE, ["e1", "e2"])
        assert got == {copy[0].entry_id: synced_copy(*copy, when, 10) for copy in copies}
    selects = [s for s in statements if s.startswith("SELECT") and "entries" in s]
    assert selects == []


def test_a_commit_of_another_connection_before_the_first_write_is_seen(tmp_path: Any) -> None:
    """What a store read before another connection's commit is not trusted by its first
    write: a row deleted (or changed) by the other connection since is written whole,
    as write_built writes it, never updated in place as it was read."""
    path = tmp_path / "other.db"
    with SQLiteIndexStore(path) as first:
        first.write([_pair("e1")])
    when = T0 + timedelta(hours=1)
    with SQLiteIndexStore(path) as store, SQLiteIndexStore(path) as other:
        read = store.get(S, TYPE, ["e1"])["e1"]
        gone = attrs.evolve(read, hub_id="h-moved", keys=frozenset({"0:moved@x"}))
        other.write([gone])
        store.write_synced([(read, {"email": "n@x"}, {"EMAIL": "n@x"}, None)], when, 10)
        got = store.get(S, TYPE, ["e1"])["e1"]
        assert got == synced_copy(read, {"email": "n@x"}, {"EMAIL": "n@x"}, None, when, 10)
        # The keys index holds what the entry holds (the row was written whole).
        assert set(store.by_keys(S, TYPE, ["0:e1@x", "0:moved@x"])) == {"0:e1@x"}


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


def _pg_rows(dsn: str, schema: str) -> dict[str, Any]:
    """stored_rows, the history items of data columns by their text (as rows() does)."""
    found = pg.stored_rows(dsn, schema)
    texts = dict(found.pop("items"))
    resolved = []
    for row in found["entries"]:
        data = json.loads(row[-1])
        if len(data) > 3 and data[3] and type(data[3][0]) is int:
            data[3] = [
                texts[ref] if n % 2 and type(ref) is int else ref for n, ref in enumerate(data[3])
            ]
        resolved.append((*row[:-1], data))
    found["entries"] = resolved
    return found


@settings(max_examples=40, deadline=None)
@given(case=scenario())
def test_postgres_rows_are_those_write_built_stores(pg_dsn: str, case: Any) -> None:
    from syncengine.index.postgres import PostgresIndexStore

    got = []
    for synced in (True, False):
        schema = pg.fresh_schema()
        try:

            def reopen(store: IndexStore, schema: str = schema) -> IndexStore:
                store.close()
                return PostgresIndexStore(pg_dsn, schema=schema)

            with run(
                PostgresIndexStore(pg_dsn, schema=schema), case, synced=synced, reopen=reopen
            ) as store:
                got.append((entries(store), _pg_rows(pg_dsn, schema)))
        finally:
            pg.drop_schema(pg_dsn, schema)
    assert got[0] == got[1]


def test_postgres_rewrites_a_synced_pair_in_place(pg_dsn: str, monkeypatch: Any) -> None:
    """The common case takes the fast way: no entry is built and encoded whole, one
    UPDATE, and the entry reads back as synced_copy makes it."""
    from syncengine.index.postgres import PostgresIndexStore

    schema = pg.fresh_schema()
    try:
        with PostgresIndexStore(pg_dsn, schema=schema) as store:
            first = Entry(
                S,
                TYPE,
                "e0",
                T0,
                hub_id="h0",
                app_id="a0",
                state=RecordState.SYNCED,
                keys=frozenset({"0:a@x"}),
                hub_values={"email": "a@x", "name": "A"},
                app_values={"email": "a@x", "name": "A"},
                history=(HistoryItem(T0, "synced", "paired"),),
            )
            store.write([first])
            read = store.get(S, TYPE, ["e0"])["e0"]
            encoded: list[Entry] = []
            encode = store._codec.encode

            def spy(entry: Entry, *args: Any, **kwargs: Any) -> str:
                encoded.append(entry)
                return encode(entry, *args, **kwargs)

            monkeypatch.setattr(store._codec, "encode", spy)
            item = HistoryItem(TIMES[1], "synced", "updated app")
            copy = (read, {"email": "a@x", "name": "B"}, {"email": "a@x", "name": "B"}, item)
            store.write_synced([copy], TIMES[1], 10)
            assert encoded == []
            assert store.get(S, TYPE, ["e0"])["e0"] == synced_copy(*copy, TIMES[1], 10)
    finally:
        pg.drop_schema(pg_dsn, schema)
