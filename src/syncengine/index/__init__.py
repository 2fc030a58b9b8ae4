"""Index stores: where syncengine keeps its index.

:class:`PostgresIndexStore` (``syncengine.index.postgres``) needs the extra
``syncengine-hub[postgres]`` (psycopg 3). It is imported on first use, so importing this
package never needs psycopg, and it is left out of ``__all__`` so that
``from syncengine.index import *`` does not either.
"""

from typing import TYPE_CHECKING, Any

from syncengine.index._entry import CursorUpdate as CursorUpdate
from syncengine.index._entry import Entry as Entry
from syncengine.index._entry import HistoryItem as HistoryItem
from syncengine.index._entry import InboxItem as InboxItem
from syncengine.index.base import IndexStore as IndexStore
from syncengine.index.memory import MemoryIndexStore as MemoryIndexStore
from syncengine.index.sqlite import SQLiteIndexStore as SQLiteIndexStore

if TYPE_CHECKING:
    from syncengine.index.postgres import PostgresIndexStore as PostgresIndexStore

__all__ = [
    "CursorUpdate",
    "Entry",
    "HistoryItem",
    "InboxItem",
    "IndexStore",
    "MemoryIndexStore",
    "SQLiteIndexStore",
]


def __getattr__(name: str) -> Any:
    """Import :class:`PostgresIndexStore` on first use (it needs psycopg)."""
    if name == "PostgresIndexStore":
        from syncengine.index.postgres import PostgresIndexStore

        globals()[name] = PostgresIndexStore
        return PostgresIndexStore
    raise AttributeError(f"module 'syncengine.index' has no attribute {name!r}")
