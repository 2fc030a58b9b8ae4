"""syncengine: keep the records of two apps in sync, two-way or one-way.

This module holds only re-exports: the public API.
"""

from syncengine.config import Direction as Direction
from syncengine.config import FieldMapping as FieldMapping
from syncengine.config import MatchRule as MatchRule
from syncengine.config import ObjectSync as ObjectSync
from syncengine.config import PipelineMap as PipelineMap
from syncengine.config import SyncConfig as SyncConfig
from syncengine.engine import SyncEngine as SyncEngine
from syncengine.errors import AdapterError as AdapterError
from syncengine.errors import ConfigError as ConfigError
from syncengine.errors import IndexStoreError as IndexStoreError
from syncengine.errors import SafetyStop as SafetyStop
from syncengine.errors import SyncDisabledError as SyncDisabledError
from syncengine.errors import SyncEngineError as SyncEngineError
from syncengine.errors import UnsupportedCapability as UnsupportedCapability
from syncengine.filters import Condition as Condition
from syncengine.filters import Filter as Filter
from syncengine.records import ChangeEvent as ChangeEvent
from syncengine.records import Record as Record
from syncengine.records import Side as Side
from syncengine.report import SyncReport as SyncReport
from syncengine.schema import ObjectSchema as ObjectSchema
from syncengine.schema import PropertySpec as PropertySpec
from syncengine.schema import PropertyType as PropertyType
from syncengine.states import ErrorCategory as ErrorCategory
from syncengine.states import ExcludeReason as ExcludeReason
from syncengine.states import RecordState as RecordState

__version__ = "0.1.0.dev0"

__all__ = [
    "AdapterError",
    "ChangeEvent",
    "Condition",
    "ConfigError",
    "Direction",
    "ErrorCategory",
    "ExcludeReason",
    "FieldMapping",
    "Filter",
    "IndexStoreError",
    "MatchRule",
    "ObjectSchema",
    "ObjectSync",
    "PipelineMap",
    "PropertySpec",
    "PropertyType",
    "Record",
    "RecordState",
    "SafetyStop",
    "Side",
    "SyncConfig",
    "SyncDisabledError",
    "SyncEngine",
    "SyncEngineError",
    "SyncReport",
    "UnsupportedCapability",
]
