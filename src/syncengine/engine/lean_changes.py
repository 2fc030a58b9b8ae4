"""The incremental pass's lean path for pages of changed synced pairs (S5, S6).

Work in progress (issue 18): this module will take the pages of one app's changes whose
records are all plain synced pairs and sync them with plain lists, leaving everything
else to the general per-record path of :func:`~syncengine.engine.batch.process`.

:data:`ENABLED` is the private switch the differential test
(``tests/stateful/test_lean_incremental.py``) turns off to compare both paths.
"""

from __future__ import annotations

__all__ = ["ENABLED"]

#: Private switch: ``False`` sends every page to the general path (the differential
#: tests compare the two). Not public API.
ENABLED = True
