"""IndexStore.write_indexed_new: the SQLite store's rows written from their parts are,
byte for byte, what the general way (write_built of indexed_entry's entries, with the
values kept) stores (issue 18).

Phase 1 of the initial sync indexes a page of new hub records with write_indexed_new: a
record id, its keys and the values to keep per record. The SQLite store writes the rows
from a data text made once per page and the kept values, and inserts them without looking
for stored rows; when an id is stored (by this store or another connection) or a record
is given twice, it is written the general way. These tests make generated calls, some
over stored entries, both ways into two fresh files, and compare every row of every table.
"""

from __future__ import annotations

import sqlite3
from datetime import UTC, datetime, timedelta

from hypothesis import given, settings
from hypothesis import strategies as st

from syncengine import IndexStoreError, Side
from syncengine.index import (
    CursorUpdate,
    Entry,
    HistoryItem,
    IndexStore,
    MemoryIndexStore,
    SQLiteIndexStore,
)
from syncengine.index.base import indexed_entry

T0 = datetime(2026, 1, 2, 3, 4, 5, 6789, tzinfo=UTC)
TABLES = ("entries", "keys", "counts", "cursors", "shapes", "items")
_text = st.text(max_size=4)  # lone surrogates included: the JSON fallback
_keys = st.frozensets(st.sampled_from(["0:a@x.io", "0:b@x.io", "1:c", "[x", "0:d"]), max_size=3)
_values = st.none() | st.dictionaries(
    st.sampled_from(["email", "firstname", "lastname", "k"]), st.none() | _text, max_size=3
)

Record = tuple[str, frozenset[str], dict[str, str | None] | None]


@st.composite
def _calls(draw: st.DrawFn) -> tuple[list[Entry], list[Entry], dict[str, object]]:
    """Entries stored before by the same store and by another connection, and the
    arguments of one write_indexed_new call."""
    side = draw(st.sampled_from([Side.HUB, Side.HUB, Side.APP]))
    ot = draw(st.sampled_from(["contacts", "deals"]))
    at = T0 + timedelta(microseconds=draw(st.integers(0, 2)))
    ids = (
        st.sampled_from(["1", "2", "3", "4", "5", "6", "\ud800"])
        if draw(st.booleans())
        else st.text(min_size=1, max_size=3)
    )
    records: list[Record] = draw(st.lists(st.tuples(ids, _keys, _values), max_size=6))
    mine: list[Entry] = []
    theirs: list[Entry] = []
    for n in range(draw(st.integers(0, 3))):
        record_id = draw(ids.filter(lambda i: i != "\ud800"))  # stored: a storable id
        stored = indexed_entry(
            "s",
            ot,
            draw(st.sampled_from([side, side.other])),
            record_id,
            draw(_keys),
            T0 - timedelta(seconds=n),
            draw(st.sampled_from([(), (HistoryItem(T0, "synced", "x"),)])),
        )
        (mine if draw(st.booleans()) else theirs).append(stored)
    cursors = [CursorUpdate("s", Side.HUB, ot, "c1", "page")] if draw(st.booleans()) else []
    call = {
        "sync_id": "s",
        "object_type": ot,
        "side": side,
        "records": records,
        "at": at,
        "tag": draw(_text),
        "cursors": cursors,
    }
    return mine, theirs, call


def _rows(path: str) -> dict[str, list[tuple[object, ...]]]:
    conn = sqlite3.connect(path)
    conn.text_factory = bytes  # byte for byte, lone surrogates too
    try:
        return {t: sorted(conn.execute(f"SELECT * FROM {t}").fetchall(), key=repr) for t in TABLES}
    finally:
        conn.close()


def _sqlite_rows(tmp: str, name: str, fast: bool, calls: tuple[list, list, dict]) -> dict:
    mine, theirs, call = calls
    path = f"{tmp}/{name}-{'fast' if fast else 'general'}.db"
    store = SQLiteIndexStore(path)
    try:
        store.write_built(mine)
        if theirs:
            other = SQLiteIndexStore(path)
            other.write_built(theirs)
            other.close()
        try:
            if fast:
                store.write_indexed_new(**call)  # type: ignore[arg-type]
            else:
                IndexStore.write_indexed_new(store, **call)  # type: ignore[arg-type]
        except IndexStoreError as error:  # refused both ways (a lone surrogate in an id)
            refused = str(error).replace(path, "PATH")
        else:
            refused = ""
        entries = list(store.entries("s"))
        ids = [e.entry_id for e in entries]
        tag = call["tag"]
        kept = {ot: store.indexed_values("s", ot, ids, tag) for ot in ("contacts", "deals")}
    finally:
        store.close()
    return {
        "refused": refused,
        "rows": _rows(path),
        "entries": [repr(e) for e in entries],
        "kept": repr(kept),
    }


_names = iter(range(10**9))


@settings(deadline=None)
@given(calls=_calls())
def test_sqlite_write_indexed_new_stores_what_write_built_stores(calls, tmp_path_factory):
    """Every row of every table the same, byte for byte, after either way."""
    tmp = str(tmp_path_factory.getbasetemp())
    name = f"win{next(_names)}"
    assert _sqlite_rows(tmp, name, True, calls) == _sqlite_rows(tmp, name, False, calls)


@settings(deadline=None)
@given(calls=_calls())
def test_memory_store_write_indexed_new_stores_what_write_built_stores(calls):
    """The default (the Memory store's) writes indexed_entry's entries, the values kept."""
    mine, theirs, call = calls
    stores = [MemoryIndexStore(), MemoryIndexStore()]
    for store in stores:
        store.write_built([*mine, *theirs])
    stores[0].write_indexed_new(**call)  # type: ignore[arg-type]
    history = (HistoryItem(call["at"], "indexed", call["side"].value),)  # type: ignore[arg-type]
    entries = []
    kept: dict[str, tuple[str, dict[str, str | None]]] = {}
    for record_id, keys, values in call["records"]:  # type: ignore[attr-defined]
        entry = indexed_entry(
            "s", call["object_type"], call["side"], record_id, keys, call["at"], history
        )  # type: ignore[arg-type]
        entries.append(entry)
        if values is None:
            kept.pop(entry.entry_id, None)
        else:
            kept[entry.entry_id] = (call["tag"], values)  # type: ignore[assignment]
    stores[1].write_built(entries, kept=kept, cursors=call["cursors"])  # type: ignore[arg-type]
    assert [repr(e) for e in stores[0].entries("s")] == [repr(e) for e in stores[1].entries("s")]
    assert stores[0].counts("s") == stores[1].counts("s")
    ot = call["object_type"]
    ids = [e.entry_id for e in stores[1].entries("s")]
    tag = call["tag"]
    found = [store.indexed_values("s", ot, ids, tag) for store in stores]  # type: ignore[arg-type]
    assert found[0] == found[1]


def test_a_page_of_new_records_is_written_without_entries_or_lookups(tmp_path, monkeypatch):
    """The engine's common case takes the fast way: no encoding of entries, no read of
    stored rows by entry id; a stored id is found by the insert and written whole."""
    path = str(tmp_path / "one.db")
    store = SQLiteIndexStore(path)
    looked: list[list[str]] = []
    original = store._existing
    monkeypatch.setattr(
        store,
        "_existing",
        lambda conn, scope, ids: looked.append(list(ids)) or original(conn, scope, ids),
    )
    encoded: list[Entry] = []
    encode = store._codec.encode
    monkeypatch.setattr(
        store._codec, "encode", lambda entry, *a: encoded.append(entry) or encode(entry, *a)
    )
    records = [(str(n), frozenset({f"0:{n}@x.io"}), {"email": f"{n}@x.io"}) for n in range(3)]
    store.write_indexed_new("s", "contacts", Side.HUB, records[:2], at=T0, tag="run1")
    assert looked == []
    assert encoded == []
    history = (HistoryItem(T0, "indexed", "hub"),)
    want = {
        f"h:{n}": indexed_entry("s", "contacts", Side.HUB, str(n), keys, T0, history)
        for n, (_, keys, _) in enumerate(records)
    }
    assert store.get("s", "contacts", ["h:0", "h:1"]) == {k: want[k] for k in ("h:0", "h:1")}
    assert store.indexed_values("s", "contacts", ["h:0"], "run1") == {"h:0": {"email": "0@x.io"}}
    other = SQLiteIndexStore(path)
    other.write_built([indexed_entry("s", "contacts", Side.HUB, "2", frozenset({"0:o"}), T0, ())])
    other.close()
    store.write_indexed_new("s", "contacts", Side.HUB, records[2:], at=T0, tag="run1")
    assert looked == [["h:2"]]  # refused by the unique index, then written by write_built
    assert store.get("s", "contacts", ["h:2"]) == {"h:2": want["h:2"]}
    assert store.by_keys("s", "contacts", ["0:o"]) == {}
    store.close()
