"""The sync engine: :class:`SyncEngine` and the modules it is built from.

See docs/architecture.md for what each module owns and the path of one record through a
pass. Only the names below are public; the modules are the engine's own.
"""

from syncengine.engine.context import Clock as Clock
from syncengine.engine.facade import SyncEngine as SyncEngine
from syncengine.engine.operations import ObjectStatus as ObjectStatus

__all__ = ["Clock", "ObjectStatus", "SyncEngine"]
