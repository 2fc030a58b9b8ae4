"""The row format the SQL index stores share (syncengine.index._rowformat).

The codes are part of both file formats: a store written by one version is read by the
next, so a renumbered code would silently change every stored state.
"""

from __future__ import annotations

from datetime import datetime

import pytest

from syncengine import IndexStoreError, RecordState, Side
from syncengine.index import CursorUpdate, _rowformat, memory, postgres, sqlite


def test_the_stored_codes_never_change():
    """The state and side codes, and the data array's defaults, as files hold them."""
    assert {
        RecordState.INITIAL: 0,
        RecordState.SYNCED: 1,
        RecordState.FAILED: 2,
        RecordState.EXCLUDED: 3,
        RecordState.QUEUED: 4,
    } == dict(_rowformat.STATE_CODES)
    assert {Side.HUB: 0, Side.APP: 1} == dict(_rowformat.SIDE_CODES)
    assert [RecordState(s) for s in ("initial", "synced", "failed", "excluded", "queued")] == list(
        _rowformat.STATES
    )
    assert (None, None, None, [], None, 0, "", None, None, None, {}, None) == _rowformat.DEFAULTS
    assert 12 == _rowformat.FIELDS


@pytest.mark.parametrize("store", [sqlite, postgres], ids=["sqlite", "postgres"])
def test_both_sql_stores_use_the_one_row_format(store):
    """One definition of the codes, the data array and its encoding (RowCodec), not a
    copy per store (issue 18 item 1: the two stores wrote different rows)."""
    assert store._STATE_CODES is _rowformat.STATE_CODES
    assert store._SIDE_CODES is _rowformat.SIDE_CODES
    assert store._micros is _rowformat.micros
    assert not hasattr(store, "_check_cursor")
    assert not hasattr(memory, "_check_cursor")
    for name in ("_DEFAULTS", "_FIELDS", "_ACTIONS", "_SAME_AS_HUB", "_data_json", "_loads"):
        assert not hasattr(store, name), name
    cls = store.SQLiteIndexStore if store is sqlite else store.PostgresIndexStore
    for name in ("_encode", "_history", "_delta", "_matched_key", "_action", "_shape"):
        assert not hasattr(cls, name), name
    assert {"shapes": "fields", "items": "item"} == store._INTERNED


def test_a_row_reads_back_exactly_through_the_codec():
    """RowCodec on a dict of interned texts: what it encodes, it decodes (the SQL
    stores' conformance runs hold both stores to the same through their tables)."""
    from datetime import UTC, date

    from syncengine.index import Entry, HistoryItem

    tables: dict[str, list[str]] = {"shapes": [], "items": []}

    def intern(kind, text):
        if text not in tables[kind]:
            tables[kind].append(text)
        return tables[kind].index(text) + 1

    def interned(kind, number):
        return tables[kind][number - 1] if 0 < number <= len(tables[kind]) else None

    codec = _rowformat.RowCodec("index 'test'", intern, interned)
    at = datetime(2024, 1, 2, tzinfo=UTC)
    entry = Entry(
        "s",
        "contacts",
        "e1",
        at,
        hub_id="h1",
        state=RecordState.FAILED,
        keys=frozenset({"0:a", "1:b"}),
        matched_by="1:b",
        hub_values={"a": "x", "n": 1.0, "d": date(2024, 1, 2), "t": (1, "2")},
        app_values={"a": "x", "n": 1, "d": date(2024, 1, 2)},
        history=(HistoryItem(at, "failed", "HTTP 500"), HistoryItem(at, "odd", "")),
        message="boom",
        attempts=2,
    )
    updated = _rowformat.micros("at", at)
    data = codec.encode(entry, updated, entry.keys)
    keys = _rowformat.keys_text(entry.keys)
    state = _rowformat.STATE_CODES[entry.state]
    assert entry == codec.decode(
        "s", "contacts", "e1", "h1", None, state, updated, None, keys, data
    )
    assert 2 == len(tables["items"])
    with pytest.raises(IndexStoreError, match="index 'test' is corrupt: entry 'e1'"):
        codec.decode("s", "contacts", "e1", "h1", None, state, updated, None, keys, data[:-2])


def test_the_checks_refuse_what_no_store_can_keep():
    """write()'s arguments and entries()' filters, refused with the message every store
    gives (IndexStoreError naming what is wrong)."""
    with pytest.raises(IndexStoreError, match="delete takes"):
        _rowformat.check_deletes([("s", "contacts")])
    with pytest.raises(IndexStoreError, match="not a valid CursorUpdate"):
        _rowformat.check_cursors([CursorUpdate("s", Side.HUB, "contacts", 7)])  # type: ignore[arg-type]
    with pytest.raises(IndexStoreError, match="since"):
        _rowformat.entry_filters(None, datetime(2024, 1, 1), None)  # naive
    assert {("s", "t"): {"a": None, "b": None}} == _rowformat.check_deletes(
        [("s", "t", "a"), ("s", "t", "b"), ("s", "t", "a")]
    )
    assert ([1, 2], None, None) == _rowformat.entry_filters(
        [RecordState.FAILED, RecordState.SYNCED, RecordState.FAILED], None, None
    )
