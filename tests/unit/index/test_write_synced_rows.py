"""IndexStore.by_record_ids_rows and write_synced_rows (the incremental pass's row round
trip) against the general way, by_record_ids and write_synced of the entries, in every
bundled store: each view says what its entry holds (a PairView exactly for the settled
synced pairs, its fields those of the entry), and the rows written from the views are
byte for byte those write_synced writes of the entries (SQLite: every row of every
table, the interned history items compared by their text; the other stores entry by
entry). Generated entries (synced pairs mostly, some not), copies, histories, cut sizes,
entries changed or deleted since they were read, and rows the short way cannot view
(tagged values, a mark or matched_by of the wrong type, the fields after the mark
stored, kept values, history items held inline, unknown numbers): those go the general
way, and read and write as it does."""

from __future__ import annotations

import importlib.util
import json
import sqlite3
import sys
from collections.abc import Callable
from datetime import UTC, datetime, timedelta
from pathlib import Path
from typing import Any

import attrs
import pytest
from hypothesis import given, settings
from hypothesis import strategies as st

from syncengine import RecordState, Side
from syncengine.entry import CorruptEntry
from syncengine.index import CursorUpdate, Entry, HistoryItem, MemoryIndexStore, SQLiteIndexStore
from syncengine.index.base import IndexStore, PairView, RowView, is_pair, synced_copy


def _load(name: str, path: Path) -> Any:
    """A test module beside this one (tests are not a package)."""
    if name not in sys.modules:
        spec = importlib.util.spec_from_file_location(name, path)
        assert spec is not None
        assert spec.loader is not None
        module = importlib.util.module_from_spec(spec)
        sys.modules[name] = module
        spec.loader.exec_module(module)
    return sys.modules[name]


# The generators of write_synced's own property test: the same entries and copies.
ws = _load("syncengine_tests_write_synced", Path(__file__).with_name("test_write_synced.py"))
S, TYPE, KEYS, TIMES, T0 = ws.S, ws.TYPE, ws.KEYS, ws.TIMES, ws.T0

#: Rows written over by another program after the entries: each one the short way
#: must not view (or must view as decode reads it). ``{…}`` is the stored data column's
#: JSON array, changed by the function.
ODD_ROWS: dict[str, Callable[[list[Any]], list[Any]]] = {
    "mark not text": lambda d: [*_pad(d, 4), 5],
    "mark false": lambda d: [*_pad(d, 4), False],
    "matched_by true": lambda d: [*d[:2], True, *d[3:]],
    "matched_by a list": lambda d: [*d[:2], ["0:a@x"], *d[3:]],
    "matched_by a number past the keys": lambda d: [*d[:2], 7, *d[3:]],
    "tagged value": lambda d: [[d[0][0], *({"$date": "2024-01-01"} for _ in d[0][1:])], *d[1:]],
    "a string starting with $": lambda d: [[d[0][0], *("$x" for _ in d[0][1:])], *d[1:]],
    "attempts stored": lambda d: [*_pad(d, 5), 1],
    "defaults stored": lambda d: [*_pad(d, 5), 0, "", None, None, None, {}, None],
    "attempts false": lambda d: [*_pad(d, 5), False, "", None, None, None, {}, None],
    "kept values": lambda d: [*_pad(d, 5), 0, "", None, None, None, {}, None, ["i1", {}]],
    "history inline": lambda d: [*d[:3], [0, [2, "inline"]], *d[4:]],
    "history unknown number": lambda d: [*d[:3], [0, 999], *d[4:]],
    "history odd length": lambda d: [*d[:3], [0], *d[4:]],
    "history offset not a number": lambda d: [*d[:3], ["0", 1], *d[4:]],
    "history a bool offset": lambda d: [*d[:3], [True, 1], *d[4:]],
    "history far back": lambda d: [*d[:3], [10**19, 1], *d[4:]],
    "history not a list": lambda d: [*d[:3], {"0": 1}, *d[4:]],
    "app values a mapping": lambda d: [d[0], {"EMAIL": "x"}, *d[2:]],
    "app values unknown shape": lambda d: [d[0], [999, "x"], *d[2:]],
    "app values too short": lambda d: [d[0], [abs(d[0][0]), *d[0][2:]], *d[2:]],
    "app mask not a number": lambda d: [d[0], [-abs(d[0][0]), "m", "x"], *d[2:]],
    "hub values too long": lambda d: [[*d[0], "extra"], *d[1:]],
    "hub shape not a number": lambda d: [["1", *d[0][1:]], *d[1:]],
    "not json": lambda d: "[[1,",
    "a value beyond 64 bits": lambda d: [[d[0][0], *(2**70 for _ in d[0][1:])], *d[1:]],
    "an app value beyond 64 bits": lambda d: [d[0], [abs(d[0][0]) + 1, -(2**65)], *d[2:]],
    "a float value": lambda d: [[d[0][0], *(1.5 for _ in d[0][1:])], *d[1:]],
    "a list value": lambda d: [[d[0][0], *([1, 2**70] for _ in d[0][1:])], *d[1:]],
    "an offset beyond 64 bits": lambda d: [*d[:3], [2**64, 1], *d[4:]],
    "a shape beyond 64 bits": lambda d: [[2**64, *d[0][1:]], *d[1:]],
    "text after the value": lambda d: json.dumps(d, separators=(",", ":")) + " x",
    "spaces in the value": lambda d: json.dumps(d),
    "a lone surrogate escaped": lambda d: json.dumps(
        [[d[0][0], *("\ud800" for _ in d[0][1:])], *d[1:]]
    ),
}


def _pad(data: list[Any], size: int) -> list[Any]:
    """The data array padded with the defaults to ``size`` fields."""
    defaults = [None, None, None, [], None]
    return [*data, *defaults[len(data) : size]]


@st.composite
def scenario(draw: st.DrawFn) -> dict[str, Any]:
    case: dict[str, Any] = draw(ws.scenario())
    ids = [e.entry_id for e in case["first"]]
    case["odd"] = draw(
        st.dictionaries(st.sampled_from(ids), st.sampled_from(sorted(ODD_ROWS)), max_size=2)
    )
    case["side"] = draw(st.sampled_from([Side.HUB, Side.APP]))
    return case


def _spoil(path: Path, odd: dict[str, str]) -> None:
    """Write over the data column of the rows ``odd`` names (as another program would)."""
    conn = sqlite3.connect(path)
    try:
        for entry_id, how in odd.items():
            got = conn.execute("SELECT data FROM entries WHERE entry_id = ?", (entry_id,))
            row = got.fetchone()
            if row is None:
                continue
            data = json.loads(row[0])
            if type(data[0]) is not list or type(data[1]) not in (list, int) or len(data) < 2:
                continue  # the change needs a list of hub values and app values
            try:
                changed = ODD_ROWS[how](data)
            except (IndexError, TypeError):
                continue
            text = changed if type(changed) is str else json.dumps(changed, separators=(",", ":"))
            conn.execute("UPDATE entries SET data = ? WHERE entry_id = ?", (text, entry_id))
        conn.commit()
    finally:
        conn.close()


def _rows(path: Path) -> list[Any]:
    """Every row of the index file, the history items of data columns by their text
    (rows the short way cannot read, left as they are: see test_write_synced.rows)."""
    conn = sqlite3.connect(path)
    try:
        texts = dict(conn.execute("SELECT id, item FROM items"))
        out: list[Any] = []
        for table in ("entries", "keys", "counts", "cursors", "shapes"):
            for row in sorted(conn.execute(f"SELECT * FROM {table}"), key=repr):
                if table != "entries":
                    out.append((table, *row))
                    continue
                data: Any = row[-1]
                try:
                    data = json.loads(data)
                    if len(data) > 3 and data[3] and type(data[3][0]) is int:
                        data[3] = [
                            texts[ref] if n % 2 and type(ref) is int else ref
                            for n, ref in enumerate(data[3])
                        ]
                except (ValueError, KeyError, TypeError):
                    pass  # a row another program wrote: compared as it is
                out.append((table, *row[:-1], data))
        return out
    finally:
        conn.close()


def run(
    store: IndexStore,
    case: dict[str, Any],
    *,
    fast: bool,
    spoil: Callable[[], None] = lambda: None,
    reopen: Callable[[IndexStore], IndexStore] = lambda store: store,
) -> tuple[IndexStore, dict[str, Any]]:
    """The case read by record id and written back: with ``fast``, as views through
    by_record_ids_rows and write_synced_rows (the pairs viewed as PairViews); else as
    entries through by_record_ids and write_synced (the pairs whose entry is_pair).
    Returns the store and what was read, by record id."""
    store.write(case["first"])
    spoil()
    if case["reopen"]:
        store = reopen(store)  # a fresh store reads the rows: nothing decoded or known
    side = case["side"]
    record_ids = [e.id_on(side) or f"none-{e.entry_id}" for e in case["first"]]
    read: dict[str, Any]
    if fast:
        read = store.by_record_ids_rows(S, TYPE, side, iter([*record_ids, "nobody"]))
        pairs = {v.entry_id: v for v in read.values() if isinstance(v, PairView)}
    else:
        read = store.by_record_ids(S, TYPE, side, [*record_ids, "nobody"])
        pairs = {e.entry_id: e for e in read.values() if is_pair(e)}
    store.write(case["since"], delete=[(S, TYPE, i) for i in case["deleted"]])
    copies = [
        (pairs[entry_id], hub, app, item)
        for entry_id, hub, app, item in case["copies"]
        if entry_id in pairs
    ]
    cursors = [CursorUpdate(S, Side.HUB, TYPE, "c1")] if case["cursor"] else []
    if fast:
        store.write_synced_rows(copies, case["when"], case["size"], cursors=cursors)
    else:
        store.write_synced(copies, case["when"], case["size"], cursors=cursors)
    return store, read


def check_views(views: dict[str, RowView], entries: dict[str, Entry]) -> None:
    """Each view is its entry's: the same fields, a PairView exactly for a settled pair."""
    assert sorted(views) == sorted(entries)
    for record_id, entry in entries.items():
        view = views[record_id]
        whole = view.entry()
        assert type(whole) is type(entry)
        if type(entry) is CorruptEntry:
            # The same message, but for the index's name (each way has its own file).
            assert (
                whole.message.split(" is corrupt: ")[1] == entry.message.split(" is corrupt: ")[1]
            )
            assert not isinstance(view, PairView)
            continue
        assert whole == entry
        assert repr(whole) == repr(entry)  # the values' types too
        ids = (view.sync_id, view.object_type, view.entry_id, view.hub_id, view.app_id)
        assert ids == (entry.sync_id, entry.object_type, entry.entry_id, entry.hub_id, entry.app_id)
        assert (view.state, view.pending, view.keys, view.mark) == (
            entry.state,
            entry.pending,
            entry.keys,
            entry.mark,
        )
        assert isinstance(view, PairView) == is_pair(entry)
        if isinstance(view, PairView):
            assert view.matched_by == entry.matched_by
            assert repr(view.hub_values) == repr(entry.hub_values)
            assert repr(view.app_values) == repr(entry.app_values)
            assert view.values_on(Side.HUB) is view.hub_values
            assert view.id_on(Side.APP) == entry.app_id


def _entries(store: IndexStore) -> Any:
    return ws.entries(store)


@settings(max_examples=300, deadline=None)
@given(case=scenario())
def test_sqlite_rows_are_those_write_synced_stores(tmp_path_factory: Any, case: Any) -> None:
    where = tmp_path_factory.mktemp("rows")
    got: dict[bool, Any] = {}
    read: dict[bool, Any] = {}
    for fast in (True, False):
        path = where / f"{fast}.db"

        def reopen(store: IndexStore, path: Path = path) -> IndexStore:
            store.close()
            return SQLiteIndexStore(path)

        def spoil(path: Path = path) -> None:
            _spoil(path, case["odd"])

        store, read[fast] = run(SQLiteIndexStore(path), case, fast=fast, spoil=spoil, reopen=reopen)
        with store:
            # A CorruptEntry's message names its file: the same name for both ways.
            got[fast] = repr(_entries(store)).replace(str(path), "index.db")
    check_views(read[True], read[False])
    assert _rows(where / "True.db") == _rows(where / "False.db")
    assert got[True] == got[False]


@settings(max_examples=100, deadline=None)
@given(case=scenario())
def test_memory_entries_are_those_write_synced_stores(case: Any) -> None:
    fast, views = run(MemoryIndexStore(), case, fast=True)
    general, entries = run(MemoryIndexStore(), case, fast=False)
    check_views(views, entries)
    assert _entries(fast) == _entries(general)


def _pair(entry_id: str, **changes: Any) -> Entry:
    entry = Entry(
        sync_id=S,
        object_type=TYPE,
        entry_id=entry_id,
        updated_at=T0,
        hub_id=f"h-{entry_id}",
        app_id=f"a-{entry_id}",
        state=RecordState.SYNCED,
        keys=frozenset({f"0:{entry_id}@x", "1:acme"}),
        matched_by=f"0:{entry_id}@x",
        hub_values={"email": f"{entry_id}@x", "name": "Ada"},
        app_values={"EMAIL": f"{entry_id}@x", "NAME": "Ada"},
        mark="m1",
        history=(
            HistoryItem(T0 - timedelta(days=1), "matched", "by email"),
            HistoryItem(T0, "synced", "updated app: NAME"),
        ),
    )
    return attrs.evolve(entry, **changes)


def test_a_fresh_store_views_its_pairs_and_writes_them_in_place(tmp_path: Any) -> None:
    """The common case, spelled out: a store opened on a file (a new process) views the
    synced pairs of a page without building their entries, and writes their new copies
    in place (one UPDATE of the data and time per row, no row read again); the rows
    read back as synced_copy's entries."""
    path = tmp_path / "fresh.db"
    with SQLiteIndexStore(path) as first:
        first.write([_pair("e1"), _pair("e2", app_values={"EMAIL": "e2@x", "NAME": "Bo"})])
    when = datetime(2024, 1, 2, tzinfo=UTC)
    item = HistoryItem(when, "synced", "updated app: NAME")
    with SQLiteIndexStore(path) as store:
        views = store.by_record_ids_rows(S, TYPE, Side.APP, ["a-e1", "a-e2"])
        assert all(type(v).__name__ == "StoredPairView" for v in views.values())
        assert all(v._entry is None for v in views.values())  # type: ignore[attr-defined]
        statements: list[str] = []
        store._connection().set_trace_callback(statements.append)
        rows = [
            (view, {**view.hub_values, "name": "Cy"}, {**view.app_values, "NAME": "Cy"}, item)
            for view in views.values()
            if isinstance(view, PairView)
        ]
        store.write_synced_rows(rows, when, 2)
        store._connection().set_trace_callback(None)
        assert all(v._entry is None for v in views.values())  # type: ignore[attr-defined]
        got = store.get(S, TYPE, ["e1", "e2"])
        want = {v.entry_id: synced_copy(v.entry(), h, a, i, when, 2) for v, h, a, i in rows}
        assert got == want
        assert got["e1"].history == (_pair("e1").history[1], item)
    touched = [s for s in statements if "entries" in s or "keys" in s or "counts" in s]
    assert [s.split(" = ")[0] for s in touched] == ["UPDATE entries SET updated_at"] * 2


# ---- PostgreSQL: the defaults, when a server can be had ------------------------------


@pytest.fixture(scope="module")
def pg_dsn() -> str:
    """The server's DSN (started here when the environment names none)."""
    found = None if ws._PG_REASON else ws.pg.server_dsn()
    if found is None:
        pytest.skip(ws._PG_REASON or "no PostgreSQL server")
    return str(found)


@settings(max_examples=40, deadline=None)
@given(case=scenario())
def test_postgres_rows_are_those_write_synced_stores(pg_dsn: str, case: Any) -> None:
    from syncengine.index.postgres import PostgresIndexStore

    got = []
    read = []
    for fast in (True, False):
        schema = ws.pg.fresh_schema()
        try:

            def reopen(store: IndexStore, schema: str = schema) -> IndexStore:
                store.close()
                return PostgresIndexStore(pg_dsn, schema=schema)

            store, found = run(
                PostgresIndexStore(pg_dsn, schema=schema), case, fast=fast, reopen=reopen
            )
            with store:
                read.append(found)
                got.append((_entries(store), ws._pg_rows(pg_dsn, schema)))
        finally:
            ws.pg.drop_schema(pg_dsn, schema)
    check_views(read[0], read[1])
    assert got[0] == got[1]
