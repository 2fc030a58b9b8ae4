"""The row format the SQL index stores share, with its codes and the checks of what they
are asked to keep.

:class:`~syncengine.index.SQLiteIndexStore` and
:class:`~syncengine.index.postgres.PostgresIndexStore` store an entry as one row of the
same columns: interned sync and object type numbers, the entry id, both record ids, the
state and the side of a deletion as the small integers below, times as microseconds
since the epoch, the keys, and a ``data`` JSON array of the rest (:data:`DEFAULTS`).
The codes are part of both file formats: never renumber them. What differs between the
two (SQL dialect, escaping for PostgreSQL, SQLite's value shapes) stays in each store.

The argument checks here are those of the :class:`~syncengine.index.IndexStore`
contract, so every store refuses the same things with the same
:class:`~syncengine.IndexStoreError` message (``MemoryIndexStore`` uses them too).
"""

from __future__ import annotations

from collections.abc import Collection, Iterable, Mapping
from datetime import datetime
from typing import Any, Final

from syncengine.entry import CursorUpdate, Entry
from syncengine.errors import IndexStoreError
from syncengine.index import _codec
from syncengine.records import Side
from syncengine.states import RecordState

__all__ = [
    "DEFAULTS",
    "FIELDS",
    "SIDES",
    "SIDE_CODES",
    "STATES",
    "STATE_CODES",
    "check_cursors",
    "check_deletes",
    "check_entries",
    "check_schema_version",
    "entry_filters",
    "micros",
]

#: Stored codes of states: part of the file formats, never renumber.
STATE_CODES: Final[Mapping[RecordState, int]] = {
    RecordState.INITIAL: 0,
    RecordState.SYNCED: 1,
    RecordState.FAILED: 2,
    RecordState.EXCLUDED: 3,
    RecordState.QUEUED: 4,
}
#: The state of each code.
STATES: Final = tuple(sorted(STATE_CODES, key=STATE_CODES.__getitem__))
#: Stored codes of sides (``data``'s ``deleted``, cursors): never renumber.
SIDE_CODES: Final[Mapping[Side, int]] = {Side.HUB: 0, Side.APP: 1}
#: The side of each code.
SIDES: Final = (Side.HUB, Side.APP)

#: The ``data`` JSON array: hub_values, app_values, matched_by, history, mark, attempts,
#: message, category, reason, pending_key, links, deleted, with the value of each when
#: the entry has none. Trailing defaults are cut, so the fields most entries set come
#: first; a reader pads a short array with these.
DEFAULTS: Final[tuple[Any, ...]] = (None, None, None, [], None, 0, "", None, None, None, {}, None)
#: The length of a full ``data`` array.
FIELDS: Final = len(DEFAULTS)


def micros(name: str, value: datetime) -> int:
    """``value`` as microseconds since the epoch; :class:`IndexStoreError` naming the
    argument ``name`` when it is not a timezone-aware datetime."""
    try:
        return _codec.to_micros(value)
    except _codec.CodecError as error:
        raise IndexStoreError(f"{name}: {error}") from None


def check_schema_version(current: int, known: int) -> None:
    """Refuse an index of a newer schema version than this syncengine knows."""
    if current > known:
        raise IndexStoreError(
            f"the index has schema version {current}, but this syncengine knows "
            f"versions up to {known}: upgrade syncengine to open it"
        )


def check_entries(
    entries: Iterable[Entry], *, deep: bool = False
) -> dict[tuple[str, str, str], Entry]:
    """The entries of a ``write`` by (sync id, object type, entry id): the last of
    several writes of one entry wins and keeps the first one's place. Each is checked
    (``deep``: its values too, for a store that keeps them as they are)."""
    batch: dict[tuple[str, str, str], Entry] = {}
    try:
        for entry in entries:
            _codec.check_entry(entry, deep=deep)
            batch[(entry.sync_id, entry.object_type, entry.entry_id)] = entry
    except _codec.CodecError as error:
        raise IndexStoreError(str(error)) from error
    return batch


def check_deletes(delete: Iterable[object]) -> dict[tuple[str, str], dict[str, None]]:
    """The ``delete`` triples of a ``write``, as the entry ids to remove per (sync id,
    object type), in order and without repeats."""
    removals: dict[tuple[str, str], dict[str, None]] = {}
    for triple in delete:
        if (
            type(triple) is not tuple
            or len(triple) != 3
            or not all(type(part) is str for part in triple)
        ):
            raise IndexStoreError(
                f"delete takes (sync_id, object_type, entry_id) str triples, got {triple!r:.80}"
            )
        removals.setdefault((triple[0], triple[1]), {})[triple[2]] = None
    return removals


def check_cursors(cursors: Iterable[object]) -> list[CursorUpdate]:
    """The ``cursors`` of a ``write``; refuses one a store could not keep."""
    checked: list[CursorUpdate] = []
    for update in cursors:
        if (
            type(update) is not CursorUpdate
            or type(update.sync_id) is not str
            or not isinstance(update.side, Side)
            or type(update.object_type) is not str
            or type(update.name) is not str
            or (update.value is not None and type(update.value) is not str)
        ):
            raise IndexStoreError(f"not a valid CursorUpdate: {update!r:.120}")
        checked.append(update)
    return checked


def entry_filters(
    states: Collection[RecordState] | None, since: datetime | None, until: datetime | None
) -> tuple[list[int] | None, int | None, int | None]:
    """The filters of ``entries()`` as stored values: the sorted state codes (``None``:
    any state), and ``since`` and ``until`` in microseconds (``None``: unbounded)."""
    since_us = None if since is None else micros("since", since)
    until_us = None if until is None else micros("until", until)
    codes = None
    if states is not None:
        codes = sorted({STATE_CODES[RecordState(state)] for state in states})
    return codes, since_us, until_us


def check_keep_passes(keep_passes: object) -> int:
    """A store's ``keep_passes`` argument, checked: a whole number of at least 1."""
    if type(keep_passes) is not int or keep_passes < 1:
        raise ValueError(f"keep_passes must be an int of at least 1, got {keep_passes!r}")
    return keep_passes


def before(number: int | None) -> int:
    """``passes(before=…)`` as a bound for ``number < ?`` (no bound: above any number)."""
    if number is None:
        return 2**62
    if type(number) is not int:
        raise IndexStoreError(f"before must be an int or None, got {number!r:.80}")
    return number
