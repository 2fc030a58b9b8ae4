"""keeps_inbox and keeps_history tell which optional parts a store implements, for any
store: a subclass of IndexStore, or a duck-typed object lacking the methods (which used
to raise AttributeError from keeps_inbox instead of answering False)."""

from __future__ import annotations

from syncengine.index import MemoryIndexStore, SQLiteIndexStore
from syncengine.index.base import IndexStore, keeps_history, keeps_inbox


class _Duck:
    """A store passed by duck typing (as tests and wrappers do), without inbox/history."""

    def __getattr__(self, name):
        return getattr(MemoryIndexStore(), name)


class _HalfHistory(IndexStore):
    """add_pass without passes (the abstract lookups are never called here)."""

    def add_pass(self, record):
        return record


_HalfHistory.__abstractmethods__ = frozenset()


def test_the_shipped_stores_keep_both():
    with SQLiteIndexStore(":memory:") as store:
        assert keeps_inbox(store)
        assert keeps_history(store)
    assert keeps_inbox(MemoryIndexStore())
    assert keeps_history(MemoryIndexStore())


def test_a_duck_typed_store_without_them_keeps_neither():
    assert not keeps_inbox(_Duck())
    assert not keeps_history(_Duck())


def test_a_store_with_only_part_of_the_history_does_not_keep_it():
    assert not keeps_history(_HalfHistory())
