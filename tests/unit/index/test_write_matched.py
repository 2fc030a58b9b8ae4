"""IndexStore.by_keys_rows views the entries by_keys_indexed reads, and
IndexStore.write_matched stores exactly what write_built stores of matched_entry's
entries, in every bundled store: the SQLite store's rows viewed without building the
entries (RowCodec.view) and completed in place (RowCodec.encode_matched) byte for byte,
the interned history items compared by their text; the other stores entry by entry.
Generated entries (bare ones indexed with kept values mostly, as phase 1 writes them;
some not bare), pairs (the keys kept or not, text copies mostly, some not), histories,
cut sizes, entries changed or deleted since they were read, an entry given twice."""

from __future__ import annotations

import json
import sqlite3
from collections.abc import Callable, Iterator
from datetime import UTC, datetime, timedelta
from typing import Any

import attrs
import pytest
from hypothesis import given, settings
from hypothesis import strategies as st

from syncengine import RecordState, Side
from syncengine.index import CursorUpdate, Entry, HistoryItem, MemoryIndexStore, SQLiteIndexStore
from syncengine.index.base import IndexStore, RowView, is_bare, matched_entry

T0 = datetime(2024, 1, 1, tzinfo=UTC)
TIMES = [T0 + timedelta(minutes=m) for m in range(4)]
S, TYPE = "s", "contacts"
IDS = [f"e{i}" for i in range(5)]
SHARED = ["0:shared@x", "[odd"]
TAG = "i1"
HUB_NAMES = ("email", "name")
APP_NAMES = ("EMAIL", "NAME")
TEXT = st.sampled_from(["", "a", "b", "Ærø", "x" * 30])
VALUE = TEXT | st.none() | st.integers(-2, 2) | st.sampled_from([1.5, True, ("t",)])


def items() -> st.SearchStrategy[HistoryItem]:
    return st.builds(
        HistoryItem,
        st.sampled_from([*TIMES, T0 + timedelta(hours=2)]),
        st.sampled_from(["synced", "matched", "indexed", "odd"]),
        st.sampled_from(["", "updated app: email", "by email", "hub", "ü"]),
    )


@st.composite
def stored(draw: st.DrawFn, entry_id: str) -> Entry:
    """An entry as phase 2 may find it: a bare hub entry mostly (phase 1's), else
    anything."""
    keys = frozenset(
        [f"0:{entry_id}@x", *draw(st.lists(st.sampled_from(SHARED), max_size=2, unique=True))]
    )
    base = Entry(
        sync_id=S,
        object_type=TYPE,
        entry_id=entry_id,
        updated_at=draw(st.sampled_from(TIMES)),
        hub_id=f"h-{entry_id}",
        keys=keys,
        mark=draw(st.sampled_from([None, None, "m0"])),
        history=tuple(draw(st.lists(items(), max_size=3))),
    )
    if draw(st.integers(0, 3)) > 0:
        return base
    change = draw(
        st.sampled_from(
            [
                {"hub_values": {"email": "a"}, "app_values": {"EMAIL": "a"}},
                {"matched_by": sorted(keys)[0]},
                {"state": RecordState.FAILED, "message": "no", "attempts": 1},
                {"app_id": f"a-{entry_id}", "state": RecordState.SYNCED},
                {"pending": Side.APP, "pending_key": "k"},
                {"links": {"companies": frozenset({"c1"})}},
                {"deleted": Side.HUB},
                {"state": RecordState.QUEUED},
            ]
        )
    )
    return attrs.evolve(base, **change)


@st.composite
def pair(draw: st.DrawFn) -> tuple[dict[str, Any], dict[str, Any]]:
    kind = draw(st.sampled_from(["same", "same", "differ", "other", "empty"]))
    hub = {name: draw(VALUE if kind == "other" else TEXT) for name in HUB_NAMES}
    app = {name.upper(): value for name, value in hub.items()}
    if kind == "differ":
        for name in draw(st.lists(st.sampled_from(APP_NAMES), max_size=2)):
            app[name] = draw(VALUE)
    elif kind == "empty":
        return {}, app
    return hub, app


@st.composite
def scenario(draw: st.DrawFn) -> dict[str, Any]:
    ids = draw(st.lists(st.sampled_from(IDS), min_size=1, max_size=5, unique=True))
    first = [draw(stored(entry_id)) for entry_id in ids]
    kept = {
        e.entry_id: (draw(st.sampled_from([TAG, TAG, "i0"])), {"email": "a", "name": None})
        for e in first
        if draw(st.booleans())
    }
    when = draw(st.sampled_from(TIMES) | st.just(T0 + timedelta(hours=2)))
    matched = []
    for entry_id in [*ids, *draw(st.lists(st.sampled_from(ids), max_size=1))]:
        hub, app = draw(pair())
        new_keys = draw(st.sampled_from(["same", "same", "more"]))
        by = draw(st.sampled_from(["own", "own", "other"]))
        added = (HistoryItem(when, "matched", "by email"),) * draw(st.integers(0, 1))
        extra = draw(st.lists(items(), max_size=1))
        matched.append((entry_id, new_keys, by, hub, app, (*added, *extra)))
    since: list[Entry] = []
    deleted: list[str] = []
    for entry in first:
        what = draw(st.sampled_from(["as read"] * 4 + ["written", "changed", "deleted"]))
        if what == "written":
            since.append(draw(stored(entry.entry_id)))
        elif what == "changed":
            change = draw(
                st.sampled_from(
                    [
                        {"keys": frozenset({"0:new"})},
                        {"state": RecordState.FAILED},
                        {"app_id": "a-other"},
                        {"pending": Side.HUB},
                        {"history": (HistoryItem(T0, "synced", "since"),)},
                        {"updated_at": TIMES[-1]},
                        {"mark": "m9"},
                    ]
                )
            )
            since.append(attrs.evolve(entry, **change))
        elif what == "deleted":
            deleted.append(entry.entry_id)
    others = [
        attrs.evolve(draw(stored(entry_id)), message="other")
        for entry_id in draw(st.lists(st.sampled_from(["x1", "x2", *IDS[:1]]), max_size=2))
    ]
    return {
        "first": first,
        "kept": kept,
        "warm": draw(st.booleans()),
        "since": since,
        "deleted": deleted,
        "matched": matched,
        "others": others,
        "when": when,
        "mark": draw(st.sampled_from([None, "m1"])),
        "size": draw(st.integers(1, 4)),
        "cursor": draw(st.booleans()),
        "reopen": draw(st.booleans()),
    }


def warm_entry(when: datetime) -> Entry:
    """An entry whose write interns the field names and history items the pairs use, so
    that the SQLite store completes rows in place (the pass's second page onwards)."""
    return Entry(
        sync_id=S,
        object_type="warm",
        entry_id="w",
        updated_at=when,
        hub_values={"email": "a", "name": "b"},
        app_values={"EMAIL": "a", "NAME": "c"},
        history=(HistoryItem(when, "matched", "by email"),),
    )


def run(
    store: IndexStore,
    case: dict[str, Any],
    *,
    matched: bool,
    reopen: Callable[[IndexStore], IndexStore] = lambda store: store,
) -> tuple[IndexStore, Any]:
    """The case through write_matched (``matched``) or write_built of matched_entry."""
    if case["warm"]:
        store.write([warm_entry(case["when"])])
    store.write_indexed(case["first"], case["kept"])
    keys = {k for e in case["first"] for k in e.keys}
    views, kept = store.by_keys_rows(S, TYPE, keys, TAG)
    read = {v.entry_id: v for held in views.values() for v in held}
    store.write(case["since"], delete=[(S, TYPE, i) for i in case["deleted"]])
    if case["reopen"]:
        store = reopen(store)
    pairs = []
    for entry_id, new_keys, by, hub, app, added in case["matched"]:
        view = read[entry_id]
        keys = view.keys if new_keys == "same" else view.keys | {"0:more@x"}
        matched_by = sorted(keys)[0] if by == "own" else "other"
        pairs.append((view, f"a-{entry_id}", keys, matched_by, hub, app, added))
    cursors = [CursorUpdate(S, Side.HUB, TYPE, "c1")] if case["cursor"] else []
    others = case["others"]
    at, mark, size = case["when"], case["mark"], case["size"]
    if matched:
        store.write_matched(
            pairs, mark=mark, updated_at=at, history_size=size, entries=others, cursors=cursors
        )
    else:
        done = [matched_entry(p[0].entry(), *p[1:], mark, at, size) for p in pairs]
        store.write_built([*done, *others], cursors=cursors)
    return store, (read, kept)


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
    keys = [f"0:{i}@x" for i in IDS] + SHARED + ["0:more@x"]
    return list(store.entries(S)), store.counts(S), store.by_keys(S, TYPE, keys)


def check_views(case: dict[str, Any], read: dict[str, RowView], kept: Any) -> None:
    """Each view says what its entry holds, and the values kept come as by_keys_indexed
    returns them."""
    assert sorted(read) == sorted(e.entry_id for e in case["first"])
    for entry in case["first"]:
        view = read[entry.entry_id]
        whole = view.entry()
        assert whole == entry
        assert (view.sync_id, view.object_type, view.entry_id) == (S, TYPE, entry.entry_id)
        assert (view.hub_id, view.app_id, view.state, view.pending) == (
            entry.hub_id,
            entry.app_id,
            entry.state,
            entry.pending,
        )
        assert (view.keys, view.mark, view.bare) == (entry.keys, entry.mark, is_bare(entry))
    want = {i: dict(v) for i, (tag, v) in case["kept"].items() if tag == TAG}
    assert kept == want


@settings(max_examples=300, deadline=None)
@given(case=scenario())
def test_sqlite_rows_are_those_write_built_stores(tmp_path_factory: Any, case: Any) -> None:
    where = tmp_path_factory.mktemp("matched")
    for matched in (True, False):
        path = where / f"{matched}.db"

        def reopen(store: IndexStore, path: Any = path) -> IndexStore:
            store.close()
            return SQLiteIndexStore(path)

        store, (read, kept) = run(SQLiteIndexStore(path), case, matched=matched, reopen=reopen)
        with store:
            check_views(case, read, kept)
            got = entries(store)
        if matched:
            fast, fast_entries = list(rows(str(path))), got
    assert list(rows(str(where / "False.db"))) == fast
    assert got == fast_entries


@settings(max_examples=100, deadline=None)
@given(case=scenario())
def test_memory_entries_are_those_write_built_stores(case: Any) -> None:
    fast, fast_read = run(MemoryIndexStore(), case, matched=True)
    general, _ = run(MemoryIndexStore(), case, matched=False)
    check_views(case, *fast_read)
    assert entries(fast) == entries(general)


def test_a_bare_row_is_viewed_without_its_entry_and_completed_in_place(tmp_path: Any) -> None:
    """The common case, spelled out: phase 1's bare entry with its kept values, viewed
    (no entry built), then completed in place by one UPDATE, read back whole."""
    indexed = HistoryItem(T0, "indexed", "hub")
    first = Entry(
        sync_id=S,
        object_type=TYPE,
        entry_id="h:1",
        updated_at=T0,
        hub_id="1",
        keys=frozenset({"0:a@x"}),
        history=(indexed,),
    )
    when = T0 + timedelta(hours=1)
    added = (HistoryItem(when, "matched", "by email"), HistoryItem(when, "synced", "in sync"))
    with SQLiteIndexStore(tmp_path / "one.db") as store:
        store.write(
            [warm_entry(when), attrs.evolve(warm_entry(when), entry_id="w2", history=added)]
        )
        store.write_indexed([first], {"h:1": (TAG, {"email": "a@x", "name": "Ada"})})
        views, kept = store.by_keys_rows(S, TYPE, ["0:a@x"], TAG)
        (view,) = views["0:a@x"]
        assert kept == {"h:1": {"email": "a@x", "name": "Ada"}}
        assert view.bare
        assert view._entry is None  # not read whole
        statements: list[str] = []
        store._connection().set_trace_callback(statements.append)
        hub, app = {"email": "a@x", "name": "Ada"}, {"EMAIL": "a@x", "NAME": "Ada"}
        store.write_matched(
            [(view, "a1", view.keys, "0:a@x", hub, app, added)],
            mark="m1",
            updated_at=when,
            history_size=10,
        )
        store._connection().set_trace_callback(None)
        want = attrs.evolve(
            first,
            app_id="a1",
            state=RecordState.SYNCED,
            matched_by="0:a@x",
            hub_values=hub,
            app_values=app,
            mark="m1",
            updated_at=when,
            history=(indexed, *added),
        )
        assert store.get(S, TYPE, ["h:1"])["h:1"] == want
        assert store.counts(S)[TYPE] == {RecordState.SYNCED: 1}
        touched = [s for s in statements if "entries" in s or "keys" in s]
        assert len(touched) == 1
        assert touched[0].startswith("UPDATE entries SET app_id = ")


@pytest.mark.parametrize("size", [1, 2, 5])
def test_the_history_is_cut_as_matched_entry_cuts_it(tmp_path: Any, size: int) -> None:
    old = tuple(HistoryItem(t, "indexed", "hub") for t in TIMES[:3])
    first = Entry(
        sync_id=S,
        object_type=TYPE,
        entry_id="h:1",
        updated_at=T0,
        hub_id="1",
        keys=frozenset({"0:a@x"}),
        history=old,
    )
    when = T0 + timedelta(hours=1)
    added = (HistoryItem(when, "matched", "by email"),)
    with SQLiteIndexStore(tmp_path / "cut.db") as store:
        store.write([warm_entry(when)])
        store.write([first])
        views, _ = store.by_keys_rows(S, TYPE, ["0:a@x"], TAG)
        (view,) = views["0:a@x"]
        store.write_matched(
            [(view, "a1", view.keys, "0:a@x", {}, {}, added)],
            mark=None,
            updated_at=when,
            history_size=size,
        )
        got = store.get(S, TYPE, ["h:1"])["h:1"]
        assert got.history == (*old, *added)[-size:]
