"""IndexStore.entries_page: keyset paging (a late page costs what the first does), and the
default every other store inherits."""

from __future__ import annotations

from datetime import timedelta

import pytest

from syncengine import RecordState
from syncengine.index import MemoryIndexStore, SQLiteIndexStore
from syncengine.index._overlay import OverlayIndexStore
from syncengine.testing._index_kit import T0, A, _entry, check_entries_pages_follow_entries


def test_the_default_pages_a_store_that_does_not_override_it():
    """A store without its own entries_page (here the dry-run overlay) pages correctly."""
    assert "entries_page" not in OverlayIndexStore.__dict__
    check_entries_pages_follow_entries(OverlayIndexStore(MemoryIndexStore()))


def _fill(store, n: int) -> None:
    states = [RecordState.SYNCED] * 9 + [RecordState.FAILED]
    for start in range(0, n, 1000):
        store.write(
            [
                _entry(
                    f"e{i:07d}",
                    object_type="contacts" if i % 2 else "deals",
                    state=states[i % 10],
                    updated_at=T0 + timedelta(seconds=i),
                )
                for i in range(start, min(start + 1000, n))
            ]
        )


def _cost(store: SQLiteIndexStore, **query) -> int:
    """SQLite virtual-machine steps (in thousands) to read one page: deterministic."""
    steps = 0

    def count() -> int:
        nonlocal steps
        steps += 1
        return 0

    conn = store._connection()
    conn.set_progress_handler(count, 1000)
    try:
        store.entries_page(A, **query)
    finally:
        conn.set_progress_handler(None, 0)
    return steps


@pytest.mark.parametrize(
    "filters",
    [{}, {"object_type": "contacts"}, {"states": {RecordState.FAILED}}],
    ids=["all", "one type", "failed"],
)
def test_a_late_page_costs_what_the_first_does_in_sqlite(tmp_path, filters):
    """The last page of 20,000 entries reads no more rows than the first page (keyset
    paging, not OFFSET): SQLite's steps for both, counted, stay within a small bound."""
    store = SQLiteIndexStore(tmp_path / "index.db")
    _fill(store, 20_000)
    first, cursor = store.entries_page(A, **filters, limit=50)
    assert 50 == len(first)
    assert cursor is not None
    everything = list(store.entries(A, **filters))
    # The cursor of the page before the last 50 entries: one long page up to it.
    _, after = store.entries_page(A, **filters, limit=len(everything) - 50)
    assert after is not None
    late, _ = store.entries_page(A, **filters, after=after, limit=50)
    assert everything[-50:] == late
    first_cost = _cost(store, **filters, limit=50)
    late_cost = _cost(store, **filters, after=after, limit=50)
    # An OFFSET (or a filtered walk from the start) would read ~20,000 rows: hundreds of
    # thousands of steps. A keyset page reads ~50.
    assert late_cost <= first_cost + 20, (first_cost, late_cost)
    store.close()
