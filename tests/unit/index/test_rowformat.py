"""The row format the SQL index stores share (syncengine.index._rowformat).

The codes are part of both file formats: a store written by one version is read by the
next, so a renumbered code would silently change every stored state.
"""

from __future__ import annotations

import json
from datetime import UTC, datetime

import pytest
from hypothesis import given, settings
from hypothesis import strategies as st

from syncengine import IndexStoreError, RecordState, Side
from syncengine.entry import CorruptEntry
from syncengine.index import CursorUpdate, Entry, HistoryItem, _rowformat, memory, postgres, sqlite


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
    row = (1, 1, "e1", "h1", None, state, updated, None, keys, data)
    assert entry == codec.decode("s", "contacts", row)
    assert 2 == len(tables["items"])
    cut = codec.decode("s", "contacts", (*row[:9], data[:-2]))
    assert type(cut) is CorruptEntry
    assert "index 'test' is corrupt: entry 'e1'" in cut.message


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


_JSON = st.recursive(
    st.none()
    | st.booleans()
    | st.integers(min_value=-(2**70), max_value=2**70)
    | st.floats(allow_nan=False, allow_infinity=False)
    | st.text(max_size=6),
    lambda inner: (
        st.lists(inner, max_size=5) | st.dictionaries(st.text(max_size=4), inner, max_size=3)
    ),
    max_leaves=16,
)


@settings(max_examples=300)
@given(
    data=st.one_of(_JSON.map(json.dumps), st.text(max_size=40)),
    keys=st.none()
    | st.text(max_size=12)
    | st.lists(st.text(max_size=4), max_size=3).map(json.dumps),
    cut=st.integers(min_value=0, max_value=200),
    state=st.integers(min_value=-2, max_value=7),
    pending=st.none() | st.integers(min_value=-1, max_value=3),
)
def test_any_row_decodes_or_names_its_entry(data, keys, cut, state, pending):
    """Issue 18 item 2: whatever another program left in a row (any JSON, any text, a
    valid row cut short), decoding gives an Entry or a CorruptEntry naming the entry:
    never a decoder's own exception."""
    codec = _rowformat.RowCodec(
        "index 'fuzz'",
        lambda kind, text: None,
        lambda kind, number: '["a","b"]' if number == 1 else None,
    )
    valid = '[[1,"x","y"],[-1,1,"z"],0,[5,[0,"hub"],0,[2]],"i1",1,"m",null,null,"k",{"t":["h"]},1]'
    for text in (data, valid[:cut]):
        row = (1, 1, "e1", "h1", None, state, 1_700_000_000_000_000, pending, keys, text)
        result: Entry | str = codec.decode("s", "contacts", row)
        if type(result) is CorruptEntry:
            result = result.message
        if isinstance(result, str):
            assert "index 'fuzz' is corrupt: entry 'e1' of sync 's', type 'contacts'" in result
        else:
            assert isinstance(result, Entry)
            assert 0 <= state < 5
            assert pending in (None, 0, 1)


@settings(max_examples=200)
@given(
    keys=st.frozensets(st.text(min_size=1, max_size=6), max_size=3),
    pick=st.integers(min_value=0, max_value=3),
    mark=st.none() | st.text(max_size=4),
    values=st.lists(st.text(max_size=5), min_size=1, max_size=3),
    tail=st.booleans(),
)
def test_a_short_row_decodes_to_its_entry(keys, pick, mark, values, tail):
    """The common row (a synced entry: the data array ends at its mark) and a full
    one decode to the entry they were encoded from, ``matched_by`` the one key, one of
    several or a text that is none of them, whatever the keys column looks like."""
    tables: dict[str, list[str]] = {"shapes": [], "items": []}

    def intern(kind, text):
        if text not in tables[kind]:
            tables[kind].append(text)
        return tables[kind].index(text) + 1

    def interned(kind, number):
        return tables[kind][number - 1] if 0 < number <= len(tables[kind]) else None

    codec = _rowformat.RowCodec("index 'test'", intern, interned)
    at = datetime(2024, 1, 2, tzinfo=UTC)
    ordered = sorted(keys)
    matched_by = ordered[pick] if pick < len(ordered) else ("other" if pick == 3 else None)
    hub = {f"f{i}": v for i, v in enumerate(values)}
    entry = Entry(
        "s",
        "contacts",
        "e1",
        at,
        hub_id="h1",
        app_id="a1",
        state=RecordState.SYNCED,
        keys=keys,
        matched_by=matched_by,
        hub_values=hub,
        app_values=dict(hub),
        mark=mark,
        history=(HistoryItem(at, "synced", "updated app: city"),),
        attempts=1 if tail else 0,
    )
    updated = _rowformat.micros("at", at)
    data = codec.encode(entry, updated, entry.keys)
    assert (len(json.loads(data)) == 5) is (not tail and mark is not None)
    row = (1, 1, "e1", "h1", "a1", 1, updated, None, _rowformat.keys_text(keys), data)
    assert codec.decode("s", "contacts", row) == entry
