"""Index stores: where syncengine keeps its index (DESIGN §3)."""

from syncengine.index._entry import CursorUpdate as CursorUpdate
from syncengine.index._entry import Entry as Entry
from syncengine.index._entry import HistoryItem as HistoryItem
from syncengine.index.base import IndexStore as IndexStore
from syncengine.index.memory import MemoryIndexStore as MemoryIndexStore
from syncengine.index.sqlite import SQLiteIndexStore as SQLiteIndexStore

__all__ = [
    "CursorUpdate",
    "Entry",
    "HistoryItem",
    "IndexStore",
    "MemoryIndexStore",
    "SQLiteIndexStore",
]
