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
    """One definition of the codes and the data array, not a copy per store."""
    assert store._STATE_CODES is _rowformat.STATE_CODES
    assert store._SIDE_CODES is _rowformat.SIDE_CODES
    assert store._DEFAULTS is _rowformat.DEFAULTS
    assert store._micros is _rowformat.micros
    assert not hasattr(store, "_check_cursor")
    assert not hasattr(memory, "_check_cursor")


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
