"""The numbers the engine keeps in the index as text: run counters (settings) and the
initial sync's phase of each object type (a cursor).

A value another program (or a damaged disk) left that is not such a number raises
:class:`~syncengine.IndexStoreError` naming the index, the sync, the setting or cursor
(with its side and object type) and how to repair it. It is never read as "not set":
that would start the initial sync, or a phase of it, over without a word.
"""

from __future__ import annotations

from typing import Final

from syncengine.engine.context import Core
from syncengine.errors import IndexStoreError
from syncengine.index._rowformat import not_a_number, store_where
from syncengine.index.base import IndexStore
from syncengine.records import Side

__all__ = ["LAST_PHASE", "meta_number", "phase_of"]

#: The initial sync's phases of an object type: 1 to 3, and 4 once all three are done.
LAST_PHASE: Final = 4

#: At most this many digits: more is no counter the engine wrote.
_DIGITS: Final = 18


def _number(text: str, low: int, high: int | None) -> int | None:
    if not (text.isascii() and text.isdigit()) or len(text) > _DIGITS:
        return None
    number = int(text)
    return number if low <= number and (high is None or number <= high) else None


def meta_number(core: Core, key: str, store: IndexStore | None = None) -> int | None:
    """The run counter in setting ``key`` (a whole number from 0), ``None`` if not set.

    ``store``: where to read it (a dry run's overlay), the engine's index by default.
    """
    text = (core.index if store is None else store).get_meta(core.sync_id, key)
    if text is None:
        return None
    number = _number(text, 0, None)
    if number is None:
        raise IndexStoreError(
            not_a_number(store_where(core.index), core.sync_id, key, text, "a whole number")
        )
    return number


def phase_of(core: Core, store: IndexStore, object_type: str) -> int:
    """The initial sync's phase of ``object_type`` (1 when it has not started)."""
    text = store.cursor(core.sync_id, Side.HUB, object_type, "initial_phase")
    if text is None:
        return 1
    number = _number(text, 1, LAST_PHASE)
    if number is None:
        raise IndexStoreError(
            not_a_number(
                store_where(core.index),
                core.sync_id,
                "initial_phase",
                text,
                f"a phase of the initial sync (1 to {LAST_PHASE})",
                side=Side.HUB,
                object_type=object_type,
            )
        )
    return number
