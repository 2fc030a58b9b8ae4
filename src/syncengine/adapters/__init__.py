"""Adapters: how syncengine talks to apps."""

from syncengine.adapters._stats import AdapterStats as AdapterStats
from syncengine.adapters.base import Adapter as Adapter
from syncengine.adapters.memory import InMemoryAdapter as InMemoryAdapter
from syncengine.adapters.sqlite import SQLiteAdapter as SQLiteAdapter
from syncengine.records import AssociationChange as AssociationChange
from syncengine.records import NewRecord as NewRecord
from syncengine.records import Page as Page
from syncengine.records import Pipeline as Pipeline
from syncengine.records import RecordUpdate as RecordUpdate
from syncengine.records import Stage as Stage
from syncengine.records import WriteResult as WriteResult

__all__ = [
    "Adapter",
    "AdapterStats",
    "AssociationChange",
    "InMemoryAdapter",
    "NewRecord",
    "Page",
    "Pipeline",
    "RecordUpdate",
    "SQLiteAdapter",
    "Stage",
    "WriteResult",
]
