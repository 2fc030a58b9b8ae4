"""The conformance kit for adapter and index-store authors, and test doubles.

Plain checks that work without pytest::

    from syncengine.testing import check_adapter, check_index_store
    check_index_store(lambda: MyStore(...))

pytest mixins: subclass, provide one fixture, override single tests if you must::

    from syncengine.testing import IndexStoreTests

    class TestMyStore(IndexStoreTests):
        @pytest.fixture
        def store(self, tmp_path):
            return MyStore(tmp_path / "index.db")

The pytest mixins are imported lazily, so importing this package does not need pytest.
"""

from __future__ import annotations

from typing import TYPE_CHECKING, Any

__all__ = [
    "AdapterTests",
    "Crash",
    "FaultyAdapter",
    "IndexStoreTests",
    "check_adapter",
    "check_index_store",
]

from syncengine.testing._faulty import Crash as Crash
from syncengine.testing._faulty import FaultyAdapter as FaultyAdapter

if TYPE_CHECKING:
    from syncengine.testing._adapter_kit import AdapterTests as AdapterTests
    from syncengine.testing._adapter_kit import check_adapter as check_adapter
    from syncengine.testing._index_kit import IndexStoreTests as IndexStoreTests
    from syncengine.testing._index_kit import check_index_store as check_index_store

_LAZY = {
    "AdapterTests": "syncengine.testing._adapter_kit",
    "check_adapter": "syncengine.testing._adapter_kit",
    "IndexStoreTests": "syncengine.testing._index_kit",
    "check_index_store": "syncengine.testing._index_kit",
}


def __getattr__(name: str) -> Any:
    module_name = _LAZY.get(name)
    if module_name is None:
        raise AttributeError(f"module 'syncengine.testing' has no attribute {name!r}")
    import importlib

    value = getattr(importlib.import_module(module_name), name)
    globals()[name] = value
    return value
