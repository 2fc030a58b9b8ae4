"""The index entry's values, kept importable from here: they live in :mod:`syncengine.entry`.

They moved out of :mod:`syncengine.index` so that the pure core (``plan``) can read entries
without importing the index package, whose ``__init__`` loads the stores (sqlite3).
"""

from syncengine.entry import FIELD_ORDER as FIELD_ORDER
from syncengine.entry import POSITIONAL as POSITIONAL
from syncengine.entry import CorruptEntry as CorruptEntry
from syncengine.entry import CursorUpdate as CursorUpdate
from syncengine.entry import Entry as Entry
from syncengine.entry import HistoryItem as HistoryItem
from syncengine.entry import InboxItem as InboxItem
from syncengine.entry import check_inbox_items as check_inbox_items
from syncengine.entry import make_entry as make_entry

__all__ = ["CorruptEntry", "CursorUpdate", "Entry", "HistoryItem", "InboxItem"]
