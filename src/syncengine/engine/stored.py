"""What the engine keeps in the index as text about itself: the run counters (settings),
the initial sync's phase of each object type (a cursor), and the damaged entries its
passes met (:func:`note_corrupt`, for :func:`~syncengine.engine.operations.status`).

A number another program (or a damaged disk) left that is not such a number raises
:class:`~syncengine.IndexStoreError` naming the index, the sync, the setting or cursor
(with its side and object type) and how to repair it. It is never read as "not set":
that would start the initial sync, or a phase of it, over without a word.
"""

from __future__ import annotations

import json
from typing import Final

from syncengine.engine.context import Core, Pass
from syncengine.entry import CorruptEntry
from syncengine.errors import IndexStoreError
from syncengine.index._rowformat import not_a_number, store_where
from syncengine.index.base import IndexStore
from syncengine.records import Side

__all__ = ["LAST_PHASE", "corrupt_met", "meta_number", "note_corrupt", "phase_of"]

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


#: At most this many damaged entries of an object type are remembered (each is read
#: again by ``status``); more are counted under the state their rows hold.
MAX_CORRUPT: Final = 1000


def _corrupt_key(object_type: str) -> str:
    return f"corrupt:{object_type}"


def corrupt_met(core: Core, object_type: str) -> list[str]:
    """The entry ids of the damaged entries of ``object_type`` that passes met (some
    may have been repaired since: read them to know)."""
    text = core.index.get_meta(core.sync_id, _corrupt_key(object_type))
    if text is None:
        return []
    try:
        ids = json.loads(text)
    except ValueError:
        return []  # only a note for status: a damaged note is no note
    return [i for i in ids if type(i) is str] if type(ids) is list else []


def note_corrupt(core: Core, ctx: Pass, object_type: str, entry: CorruptEntry) -> None:
    """Remember that a pass met ``entry`` (a row that cannot be read), so that status
    counts it as failed, as the pass did; repaired ones are forgotten here."""
    if ctx.dry_run or core.preflighting:
        return
    met = corrupt_met(core, object_type)
    if entry.entry_id in met:
        return
    met.append(entry.entry_id)
    if len(met) > MAX_CORRUPT // 2:  # forget those repaired or gone since
        found = core.index.get(core.sync_id, object_type, met)
        met = [i for i in met if type(found.get(i)) is CorruptEntry]
    core.index.set_meta(core.sync_id, _corrupt_key(object_type), json.dumps(met[:MAX_CORRUPT]))
