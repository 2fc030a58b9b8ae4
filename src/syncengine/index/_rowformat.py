"""The row format the SQL index stores share, with its codes and the checks of what they
are asked to keep.

:class:`~syncengine.index.SQLiteIndexStore` and
:class:`~syncengine.index.postgres.PostgresIndexStore` store an entry as one row of the
same columns: interned sync and object type numbers, the entry id, both record ids, the
state and the side of a deletion as the small integers below, times as microseconds
since the epoch, the keys, and a ``data`` JSON array of the rest (:data:`DEFAULTS`).
The codes are part of both file formats: never renumber them. :class:`RowCodec` writes
and reads the ``data`` array and the keys column, the same for both stores; each store
gives it the two functions that reach its tables of interned texts (``shapes``, the field
names of value mappings; ``items``, history items). What differs between the two (SQL
dialect, escaping NUL for PostgreSQL) stays in each store.

The argument checks here are those of the :class:`~syncengine.index.IndexStore`
contract, so every store refuses the same things with the same
:class:`~syncengine.IndexStoreError` message (``MemoryIndexStore`` uses them too).
"""

from __future__ import annotations

import abc
import json
from collections.abc import Callable, Collection, Iterable, Iterator, Mapping, Sequence
from datetime import UTC, datetime, timedelta
from typing import Any, Final

import orjson
from typing_extensions import override

from syncengine.errors import IndexStoreError
from syncengine.history import PassRecord, UnreadablePass, decode_counts
from syncengine.index import _codec
from syncengine.index._entry import (
    FIELD_ORDER,
    POSITIONAL,
    CorruptEntry,
    CursorUpdate,
    Entry,
    HistoryItem,
    InboxItem,
    make_entry,
)
from syncengine.index.base import (
    IndexStore,
    PairView,
    RowView,
    check_page_limit,
    keyset_page,
    page_start,
)
from syncengine.records import Side
from syncengine.states import ErrorCategory, ExcludeReason, RecordState

__all__ = [
    "DEFAULTS",
    "FIELDS",
    "SIDES",
    "SIDE_CODES",
    "STATES",
    "STATE_CODES",
    "built_entries",
    "check_cursors",
    "check_deletes",
    "check_entries",
    "check_kept",
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
#: The same as dicts: a stored code that is not one (say -1) is a KeyError, not a state.
_STATE_OF: Final = dict(enumerate(STATES))
_SIDE_OF: Final = dict(enumerate(SIDES))

#: The ``data`` JSON array: hub_values, app_values, matched_by, history, mark, attempts,
#: message, category, reason, pending_key, links, deleted, with the value of each when
#: the entry has none. Trailing defaults are cut, so the fields most entries set come
#: first; a reader pads a short array with these.
DEFAULTS: Final[tuple[Any, ...]] = (None, None, None, [], None, 0, "", None, None, None, {}, None)
#: The length of a full ``data`` array.
FIELDS: Final = len(DEFAULTS)
#: The length of the most common ``data`` array (up to ``mark``), and the defaults of
#: the fields after it (see :meth:`RowCodec.decode`).
_SHORT: Final = 5
_TAIL: Final = DEFAULTS[_SHORT:]
#: A full array may hold one more element, not part of the entry: ``[tag, shape,
#: value, …]`` (or ``[tag, {values}]`` when they have no shape),
#: values :meth:`IndexStore.write_indexed <syncengine.index.IndexStore.write_indexed>`
#: kept beside it (dropped by the entry's next write, which encodes the entry alone).
KEPT: Final = FIELDS


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


_TEXT_OR_NONE: Final = frozenset({str, type(None)})


def check_kept(
    kept: Mapping[str, tuple[str, Mapping[str, str | None]]],
) -> dict[str, tuple[str, dict[str, str | None]]]:
    """The ``kept`` argument of :meth:`IndexStore.write_indexed
    <syncengine.index.IndexStore.write_indexed>` as plain dicts; :class:`IndexStoreError`
    naming the first entry whose tag or values are not text."""
    out: dict[str, tuple[str, dict[str, str | None]]] = {}
    for entry_id, item in kept.items():
        try:
            tag, values = item
            if type(values) is not dict:
                values = dict(values)
        except (TypeError, ValueError):
            values = None
            tag = None
        if (
            type(entry_id) is not str
            or type(tag) is not str
            or values is None
            or not {*map(type, values)} <= {str}
            or not {*map(type, values.values())} <= _TEXT_OR_NONE
        ):
            raise IndexStoreError(
                f"write_indexed: the values kept for entry {entry_id!r:.60} must be a tag "
                f"(str) and a mapping of str to str or None, got {item!r:.80}"
            )
        out[entry_id] = (tag, values)
    return out


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


def built_entries(entries: Iterable[Entry]) -> dict[tuple[str, str, str], Entry]:
    """The entries of a ``write_built`` by (sync id, object type, entry id), as
    :func:`check_entries` gives them, without its checks: the engine built them."""
    return {(e.sync_id, e.object_type, e.entry_id): e for e in entries}


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


# ---- the data column ------------------------------------------------------------------
#: ``app_values`` stored as this number: it equals ``hub_values`` exactly.
SAME_AS_HUB: Final = 1
#: History actions stored as their number (schema version 5 of SQLite, 4 of PostgreSQL;
#: part of the file formats: append only, never reorder). Other actions are stored as text.
ACTIONS: Final = ("indexed", "matched", "synced", "failed", "excluded", "queued", "linked")
ACTION_CODES: Final[Mapping[str, int]] = {action: code for code, action in enumerate(ACTIONS)}
#: The interned texts of the row format (tables of the same names): the field names of
#: value mappings, and history items (action and detail).
SHAPES: Final = "shapes"
ITEMS: Final = "items"
#: At most this many texts of each kind are interned; beyond, rows hold them inline.
MAX_INTERNED: Final = 10_000
_SCALARS: Final = frozenset({str, int, bool, type(None)})
_ONLY_STR: Final = {str}
_SHARED: Final = 4096  # decoded times and history items kept for reuse
_EMPTY_KEYS: Final[frozenset[str]] = frozenset()
_EPOCH: Final = datetime(1970, 1, 1, tzinfo=UTC)
#: The microseconds since the epoch of the first and last times a datetime can hold.
_MIN_US: Final = (datetime.min.replace(tzinfo=UTC) - _EPOCH) // timedelta(microseconds=1)
_MAX_US: Final = (datetime.max.replace(tzinfo=UTC) - _EPOCH) // timedelta(microseconds=1)
#: The start of the ``data`` column of a bare entry (see :meth:`RowCodec.view`).
_BARE_START: Final = "[null,null,null,["
#: At most this many of indexed_data's heads are known to a codec (see RowCodec.view).
_HEADS: Final = 16
#: The fields of a padded ``data`` array after ``mark``, at their defaults, as a list.
_TAIL_LIST: Final = list(DEFAULTS[_SHORT:])
#: The stored code of a synced entry's state, and the state.
_SYNCED_CODE: Final = STATE_CODES[RecordState.SYNCED]
_SYNCED: Final = RecordState.SYNCED
_loads: Final = json.JSONDecoder().decode
#: The C scanner behind json.loads, without the wrapper's whitespace handling: the hot
#: path of every read. Text it cannot read raises (ValueError, StopIteration).
_scan_once: Callable[[str, int], tuple[Any, int]] = json.JSONDecoder().scan_once  # type: ignore[attr-defined]
_orjson_dumps: Final = orjson.dumps
_orjson_loads: Final = orjson.loads


def _entry_by_keywords(*values: Any) -> Entry:
    return Entry(**dict(zip(FIELD_ORDER, values, strict=True)))


_make_entry: Final[Callable[..., Entry]] = make_entry if POSITIONAL else _entry_by_keywords


def moved(history: Sequence[int], shift: int) -> list[int]:
    """A row's stored history (offset, number, offset, number, ...) with each offset
    moved by ``shift`` microseconds: the same items for a row stamped that much later."""
    out: list[int] = []
    for i in range(0, len(history), 2):
        out += (history[i] + shift, history[i + 1])
    return out


def trimmed(record: list[Any]) -> list[Any]:
    """``record`` without its trailing fields that hold their defaults (the short form
    the row keeps)."""
    size = len(record)
    while size and record[size - 1] == DEFAULTS[size - 1]:
        size -= 1
    return record[:size] if size < len(record) else record


def data_json(record: list[Any]) -> str:
    """The ``data`` column's JSON text of an encoded entry (see :meth:`RowCodec.encode`).

    orjson writes the same compact JSON about ten times faster than the standard
    library; the standard encoder (with :func:`_codec.utf8_json`) takes what orjson
    refuses (a lone surrogate in a string, an integer beyond 64 bits) and refuses what
    no JSON can hold. Every value that is not a ``str``, ``int``, ``bool`` or ``None``
    has been through :func:`_codec.encode_value` (non-finite floats are tagged, so
    orjson never writes its ``null`` for them)."""
    try:
        return _orjson_dumps(record).decode()
    except orjson.JSONEncodeError:
        return _codec.utf8_json(_codec.to_json(record))


def keys_text(keys: frozenset[str]) -> str | None:
    """The ``keys`` column: ``NULL``, the one key itself, or a JSON array."""
    if not keys:
        return None
    if len(keys) == 1:
        (key,) = keys
        if key[:1] not in ("[", ""):
            return key
    return _codec.utf8_json(_codec.to_json(sorted(keys)))


def keys_of(text: str | None) -> frozenset[str]:
    """The keys of a ``keys`` column (:func:`keys_text`).

    Raises:
        ValueError: the text is not what :func:`keys_text` writes.
    """
    if text is None:
        return _EMPTY_KEYS
    if text[:1] == "[":
        try:
            keys = _loads(text)
        except ValueError:
            raise ValueError(f"its keys column is not JSON: {text!r:.80}") from None
        if type(keys) is not list or not all(type(key) is str for key in keys):
            raise ValueError(f"keys column {text!r:.80} is not a JSON array of strings")
        return frozenset(keys)
    return frozenset((text,))


#: How to repair a row that cannot be read (the end of a :class:`CorruptEntry`'s message).
REPAIR: Final = (
    "its record fails on every pass until the row is repaired: restore the index from a "
    "backup (then run a reconcile), or rebuild the index from the apps (a new initial sync)"
)


#: The one key of the payload of an inbox row that cannot be read (see ``inbox_item``).
UNREADABLE: Final = "$unreadable"


def unreadable_payload(reason: str) -> str:
    """The payload of an inbox item standing for a row that cannot be read: no event
    (the drain drops it), and the reason, which the drain reports."""
    return json.dumps({UNREADABLE: reason}, ensure_ascii=True)


def unreadable_cursor(where: str, sync_id: str, side: Side, object_type: str, name: str) -> str:
    """The message of a cursor whose stored value cannot be read (a pass stops on it:
    a cursor that cannot be read is never taken for "no cursor", which would skip the
    changes since it)."""
    advice = (
        "remove the poll cursors (in a SQLite index: DELETE FROM cursors WHERE name = "
        "'poll'; the next pass then reads every record again, nothing is skipped), or "
        "restore the index from a backup (then run `syncengine run CONFIG --reconcile`)"
        if name == "poll"
        else "restore the index from a backup, or rebuild it from the apps (move it away "
        "and run `syncengine run CONFIG --new`)"
    )
    return (
        f"the {where} is corrupt: the {Side(side).value} cursor {name!r:.40} of sync "
        f"{sync_id!r:.60}, type {object_type!r:.60} cannot be read: its value is not UTF-8 "
        f"text; passes that need it stop until it is repaired (it is not taken for a "
        f"missing cursor, which could skip changes): {advice}"
    )


def unreadable_meta(where: str, sync_id: str, key: str) -> str:
    """The message of a setting (meta value) whose stored value cannot be read."""
    return (
        f"the {where} is corrupt: setting {key!r:.60} of sync {sync_id!r:.60} cannot be "
        "read: its value is not UTF-8 text; passes that need it stop until it is "
        "repaired: restore the index from a backup (then run `syncengine run CONFIG "
        "--reconcile`), or rebuild the index from the apps (move the file away and run "
        "`syncengine run CONFIG --new`)"
    )


def unreadable_name(where: str, path: object, table: str, number: int, wanted: str | None) -> str:
    """The message of a sync's or object type's name (a row of table ``syncs`` or
    ``object_types`` of a SQLite index) that is not UTF-8 text. ``wanted``: the name a
    read looked for and did not find (it may have been this row's)."""
    what = "sync" if table == "syncs" else "object type"
    looked = (
        f"; {what} {wanted!r:.60} is not found, and this row may be its own"
        if wanted is not None
        else ""
    )
    example = wanted if wanted is not None else "NAME"
    return (
        f"the {where} is corrupt: the name of {what} {number} (row {number} of table "
        f"{table!r}) cannot be read: it is not UTF-8 text{looked}; passes stop until it "
        f"is repaired (it is not taken for {'a sync' if table == 'syncs' else 'an object type'} "
        "with nothing stored, whose records "
        "would be synced as new): restore the index from a backup (then run `syncengine "
        "run CONFIG --reconcile`), or, if you know the name the row held, write it back "
        f"(sqlite3 {str(path)!r} \"UPDATE {table} SET name = '{example}' WHERE id = "
        f'{number}")'
    )


def refused_cursor(
    where: str, sync_id: str, side: Side, object_type: str, value: str, reason: str
) -> str:
    """The message of a cursor the index holds that its app refuses (another program
    wrote it, or the index was used with another app)."""
    return (
        f"the {where} is corrupt: the {Side(side).value} cursor of sync {sync_id!r:.60}, "
        f"type {object_type!r:.60} holds {value!r:.60}, which the {Side(side).value}'s "
        f"adapter refuses ({reason:.200}); passes that need it stop until it is repaired "
        "(it is not taken for a missing cursor, which could skip changes): remove the poll "
        "cursors (in a SQLite index: DELETE FROM cursors WHERE name = 'poll'; the next "
        "pass then reads "
        "every record again, nothing is skipped), or restore the index from a backup "
        "(then run `syncengine run CONFIG --reconcile`)"
    )


def store_where(store: object) -> str:
    """The index ``store`` in messages: ``index 'sync.db'`` for the SQL stores (the
    file or schema), the class name for another store."""
    codec = getattr(store, "_codec", None)
    if isinstance(codec, RowCodec):
        return codec.where
    return f"index ({type(store).__name__})"


def not_a_number(
    where: str,
    sync_id: str,
    key: str,
    value: str,
    expected: str,
    *,
    side: Side | None = None,
    object_type: str | None = None,
) -> str:
    """The message of a setting or cursor the engine keeps a number in, whose stored
    value is not one (never read as "not set", which would start the work over)."""
    what = (
        f"setting {key!r:.60} of sync {sync_id!r:.60}"
        if side is None
        else f"the {Side(side).value} cursor {key!r:.40} of sync {sync_id!r:.60}, type "
        f"{object_type!r:.60}"
    )
    return (
        f"the {where} is corrupt: {what} cannot be read: its value {value!r:.40} is not "
        f"{expected}; passes that need it stop until it is repaired (it is not taken for "
        "a missing value, which would start the work over): restore the index from a "
        "backup (then run `syncengine run CONFIG --reconcile`), or rebuild the index from "
        "the apps (move the file away and run `syncengine run CONFIG --new`)"
    )


class Corrupt(ValueError):
    """A stored row that is not in the row format (raised as IndexStoreError)."""


class NotText:
    """Put by a store in place of a row's ``data`` column when a text column of the row
    is not UTF-8 (written by another program): :meth:`RowCodec.decode` makes the row a
    :class:`CorruptEntry` saying so."""

    __slots__ = ()

    @override
    def __str__(self) -> str:
        return "a column of its row is not UTF-8 text"


class _Stamped:
    """What :meth:`RowCodec._history` reads of an entry: its history and its time."""

    __slots__ = ("history", "updated_at")

    def __init__(self, history: tuple[HistoryItem, ...], updated_at: datetime) -> None:
        self.history = history
        self.updated_at = updated_at


#: intern(kind, text): the number of an interned text, interning it; ``None`` when the
#: kind holds :data:`MAX_INTERNED` texts already.
Intern = Callable[[str, str], "int | None"]
#: interned(kind, number): the text of an interned number, ``None`` if there is none.
Interned = Callable[[str, int], "str | None"]


class StoredRowView(RowView):
    """A :class:`~syncengine.index.base.RowView` of a bare entry read from a row
    (:meth:`RowCodec.view`): the row kept, for :meth:`entry` (decoded when asked) and
    for a store's :meth:`~syncengine.index.IndexStore.write_matched`, which completes
    the row from its stored history (``history``: the ``data`` array's offsets and item
    numbers; ``updated``: the row's ``updated_at`` in microseconds)."""

    __slots__ = ("_codec", "history", "row", "updated")

    def __init__(
        self,
        codec: RowCodec,
        row: Sequence[Any],
        sync_id: str,
        object_type: str,
        state: RecordState,
        keys: frozenset[str],
        mark: str | None,
        history: list[int],
    ) -> None:
        # RowView.__init__'s fields, set here (one call less per row read).
        self.sync_id = sync_id
        self.object_type = object_type
        self.entry_id = row[2]
        self.hub_id = row[3]
        self.app_id = row[4]
        self.state = state
        self.pending = None
        self.keys = keys
        self.mark = mark
        self.bare = True
        self._entry = None
        self._codec = codec
        self.row = row
        self.history = history
        self.updated: int = row[6]

    @override
    def entry(self) -> Entry:
        entry = self._entry
        if entry is None:
            entry = self._entry = self._codec.decode(self.sync_id, self.object_type, self.row)
        return entry


class StoredPairView(PairView):
    """A :class:`~syncengine.index.base.PairView` read from a row
    (:meth:`RowCodec.pair_view`): the row kept, for :meth:`entry` (decoded when asked)
    and for a store's :meth:`~syncengine.index.IndexStore.write_synced_rows`, which
    writes the row again from its stored history (``history``: the ``data`` array's
    offsets and item numbers, each checked to be what encoding the item writes;
    ``updated``: the row's ``updated_at`` in microseconds)."""

    __slots__ = ("_codec", "history", "row", "updated")

    def __init__(
        self,
        codec: RowCodec,
        row: Sequence[Any],
        sync_id: str,
        object_type: str,
        keys: frozenset[str],
        matched_by: str | None,
        hub_values: dict[str, Any],
        app_values: dict[str, Any],
        mark: str | None,
        history: list[int],
    ) -> None:
        # PairView.__init__'s fields, set here (one call less per row read).
        self.sync_id = sync_id
        self.object_type = object_type
        self.entry_id = row[2]
        self.hub_id = row[3]
        self.app_id = row[4]
        self.state = _SYNCED
        self.pending = None
        self.keys = keys
        self.mark = mark
        self.bare = False
        self._entry = None
        self.matched_by = matched_by
        self.hub_values = hub_values
        self.app_values = app_values
        self._codec = codec
        self.row = row
        self.history = history
        self.updated: int = row[6]

    @override
    def entry(self) -> Entry:
        entry = self._entry
        if entry is None:
            entry = self._entry = self._codec.decode(self.sync_id, self.object_type, self.row)
        return entry


class RowCodec:
    """Entries to rows and back, the same for every SQL store: each store makes one and
    gives it the two functions that reach its tables of interned texts.

    A row is the hot columns (entry id, record ids, state, ``updated_at`` in
    microseconds, pending, :func:`keys_text`) and the ``data`` JSON array of the rest
    (:data:`DEFAULTS`), written by :meth:`encode`, read by :meth:`decode`. The codec
    keeps what it interned and decoded; :meth:`forget` drops it (after a rolled-back
    write, whose interned texts are gone).

    Args:
        where: The index, for messages (``"index 'sync.db'"``).
        intern: Interns a text of a kind (see :data:`Intern`).
        interned: Reads an interned text back (see :data:`Interned`).
    """

    def __init__(self, where: str, intern: Intern, interned: Interned) -> None:
        self.where = where
        self._intern = intern
        self._interned = interned
        self._shape_ids: dict[tuple[str, ...], int] = {}
        self._shape_fields: dict[int, tuple[str, ...]] = {}
        self._item_ids: dict[tuple[str, str], int] = {}
        self._item_pairs: dict[int, tuple[str, str]] = {}
        self._full: set[str] = set()  # kinds found full: not asked again until forget()
        # Decoded times and history items by value (see decode).
        self._times: dict[int, datetime] = {}
        self._items: dict[tuple[int, Any, str | None], HistoryItem] = {}
        self._micros_of: dict[datetime, int] = {}  # encoded times (see _history)
        # History items' microseconds and numbers, by the item (see _history_known).
        self._item_codes: dict[int, tuple[HistoryItem, int, int]] = {}
        # The heads indexed_data made, with their history item's number (see view).
        self._heads: dict[str, int] = {}

    def forget(self) -> None:
        """Forget every interned number (a write that interned some was rolled back)."""
        self._shape_ids.clear()
        self._shape_fields.clear()
        self._item_ids.clear()
        self._item_pairs.clear()
        self._item_codes.clear()
        self._full.clear()

    # ---- interned texts -------------------------------------------------------------
    def _shape(self, fields: tuple[str, ...]) -> int | None:
        """The number of a tuple of field names, interning it (``None``: inline)."""
        found = self._shape_ids.get(fields)
        if found is not None or SHAPES in self._full:
            return found
        for field in fields:
            if type(field) is not str:
                raise _codec.CodecError(f"cannot store a dict with a non-str key: {field!r:.80}")
        found = self._intern(SHAPES, _codec.utf8_json(_codec.to_json(fields)))
        if found is None:
            self._full.add(SHAPES)
            return None
        self._shape_ids[fields] = found
        self._shape_fields[found] = fields
        return found

    def _fields(self, shape: Any) -> tuple[str, ...]:
        fields = self._shape_fields.get(shape) if type(shape) is int else None
        if fields is None:
            text = self._interned(SHAPES, shape) if type(shape) is int else None
            if text is None:
                raise Corrupt(f"unknown shape {shape!r:.40}")
            fields = tuple(_loads(text))
            self._shape_fields[shape] = fields
            self._shape_ids[fields] = shape
        return fields

    def _item(self, action: str, detail: str) -> int | None:
        """The number of a history item's action and detail, interning it."""
        pair = (action, detail)
        found = self._item_ids.get(pair)
        if found is not None or ITEMS in self._full:
            return found
        found = self._intern(ITEMS, _codec.utf8_json(_codec.to_json(pair)))
        if found is None:
            self._full.add(ITEMS)
            return None
        self._item_ids[pair] = found
        self._item_pairs[found] = pair
        return found

    def _pair(self, number: int) -> tuple[str, str]:
        pair = self._item_pairs.get(number)
        if pair is None:
            text = self._interned(ITEMS, number)
            if text is None:
                raise Corrupt(f"unknown history item {number}")
            action, detail = _loads(text)
            if type(action) is not str or type(detail) is not str:
                raise Corrupt(f"history item {number} is not two strings")
            pair = self._item_pairs[number] = (action, detail)
            self._item_ids[pair] = number
        return pair

    # ---- encoding -------------------------------------------------------------------
    @staticmethod
    def _delta(shape: int, app_list: list[Any], hub_list: list[Any]) -> list[Any]:
        """App values, leaving out those equal (type and value) to the hub value at the
        same position: ``[-shape, mask, …the others]``, or ``[shape, …all]``."""
        encode = _codec.encode_value
        mask = 0
        rest: list[Any] = []
        size = len(hub_list)
        for i, value in enumerate(app_list):
            kind = type(value)
            if i < size and kind in _SCALARS and type(hub_list[i]) is kind and hub_list[i] == value:
                mask |= 1 << i
            else:
                rest.append(value if kind is str else encode(value))
        if not mask:
            return [shape, *rest]
        if not rest and len(app_list) == size:
            return [-shape]
        return [-shape, mask, *rest]

    def _history(self, entry: Entry, updated: int) -> list[Any]:
        """The history as ``[offset, item, offset, item, …]``: each item's time as
        microseconds before ``updated_at``, then the number of its interned action and
        detail, or ``[action]``/``[action, detail]`` inline (the action as its number in
        :data:`ACTIONS` where it has one). The engine stamps a batch with one time, so the
        microseconds of other times are looked up (``_micros_of``)."""
        out: list[Any] = []
        micros_of = self._micros_of
        if len(micros_of) > _SHARED:
            micros_of.clear()
        item_ids = self._item_ids
        for item in entry.history:
            if (
                type(item) is not HistoryItem
                or type(item.action) is not str
                or type(item.detail) is not str
            ):
                _codec.encode_history(entry.history)  # raises, naming the item
            at = item.at
            if at is entry.updated_at:
                offset = 0
            else:
                utc = type(at) is datetime and at.tzinfo is UTC  # hashing cannot fail
                micros = micros_of.get(at) if utc else None
                if micros is None:
                    micros = _codec.to_micros(at)  # checks, raises
                    if utc:
                        micros_of[at] = micros
                offset = updated - micros
            number = item_ids.get((item.action, item.detail))
            if number is None:
                number = self._item(item.action, item.detail)
            if number is None:
                action: str | int = ACTION_CODES.get(item.action, item.action)
                out += (offset, [action, item.detail] if item.detail else [action])
            else:
                out += (offset, number)
        return out

    def encode(
        self,
        entry: Entry,
        updated: int,
        keys: frozenset[str],
        kept: tuple[str, Mapping[str, str | None]] | None = None,
    ) -> str:
        """The ``data`` column of an entry: everything but the hot columns and keys.

        Value mappings are ``[shape, v1, v2, …]``, or a JSON object when they have no
        shape (empty, or too many shapes). ``app_values`` is ``1`` when it equals
        ``hub_values`` exactly, or ``[-shape, mask, …]`` when some of its values equal the
        hub value at the same position (bit ``i`` of ``mask``); only the others follow.
        The history is written by :meth:`_history`. ``matched_by`` is stored as the
        number of the key it names among the sorted ``keys`` when it is one of them (the
        common case: the key that matched), else as text. ``kept`` (a tag and text
        values, see :data:`KEPT`) follows a full array.

        Raises:
            CodecError: a value cannot be stored exactly.
        """
        encode = _codec.encode_value
        hub = entry.hub_values
        hub_enc: Any = None
        hub_list: list[Any] | None = None
        hub_str = False
        shapes = self._shape_ids
        if hub is not None:
            shape = (shapes.get(tuple(hub)) or self._shape(tuple(hub))) if hub else None
            if shape is None:
                hub_enc = encode(dict(hub))
            else:
                hub_list = list(hub.values())
                hub_str = {*map(type, hub_list)} == _ONLY_STR  # the common case, at C speed
                hub_enc = [shape, *hub_list] if hub_str else [shape, *map(encode, hub_list)]
        app = entry.app_values
        app_enc: Any = None
        if app is not None:
            shape = (shapes.get(tuple(app)) or self._shape(tuple(app))) if app else None
            if shape is None:
                app_enc = encode(dict(app))
            else:
                app_list = list(app.values())
                if hub_list is None:
                    app_enc = [shape, *map(encode, app_list)]
                elif hub_str and app_list == hub_list:
                    # Only a str (or a str subclass, stored as str) equals a str.
                    app_enc = SAME_AS_HUB if shape == hub_enc[0] else [-shape]
                else:
                    app_enc = self._delta(shape, app_list, hub_list)
        matched_by: str | int | None = entry.matched_by
        if matched_by is not None and matched_by in keys:
            # The key it names, by its number among the sorted keys (the keys column).
            matched_by = 0 if len(keys) == 1 else sorted(keys).index(matched_by)
        record: list[Any] = [
            hub_enc,
            app_enc,
            matched_by,
            self._history(entry, updated) if entry.history else [],
            entry.mark,
        ]
        # The fields after mark are their defaults in most entries: only the ones up to
        # the last that is not are stored (the reader pads with DEFAULTS).
        category = entry.category
        reason = entry.reason
        deleted = entry.deleted
        links = entry.links
        pending_key = entry.pending_key
        if (
            deleted is not None
            or links
            or pending_key is not None
            or reason is not None
            or category is not None
            or entry.message != ""
            or entry.attempts != 0
        ):
            record += (
                entry.attempts,
                entry.message,
                None if category is None else category.value,
                None if reason is None else reason.value,
                pending_key,
                _codec.encode_links(links) if links else {},
                None if deleted is None else SIDE_CODES[deleted],
            )
        if kept is not None:
            tag, values = kept
            names = tuple(values)
            shape = (shapes.get(names) or self._shape(names)) if names else None
            if len(record) < FIELDS:
                record += DEFAULTS[len(record) :]
            record.append([tag, dict(values)] if shape is None else [tag, shape, *values.values()])
            return data_json(record)
        return data_json(trimmed(record))

    @staticmethod
    def pending_suffix(key: str) -> str:
        """The end of the ``data`` column, after the values, of an entry whose other
        fields after them hold their defaults but its ``pending_key``, ``key`` (an
        announced create's entry, see
        :meth:`IndexStore.write_created <syncengine.index.IndexStore.write_created>`)."""
        return f',null,[],null,0,"",null,null,{data_json([key])[1:]}'

    def indexed_data(self, side: str) -> tuple[str, str]:
        """The ``data`` column :meth:`encode` writes for
        :func:`~syncengine.index.base.indexed_entry` of a record of ``side`` (its
        value, ``"hub"`` or ``"app"``), interning its history item as that would: the
        whole text without kept values, and the text before the kept values
        (:meth:`kept_json`, then ``]``) with them."""
        number = self._item_ids.get(("indexed", side))
        if number is None:
            number = self._item("indexed", side)
        item: Any = number if number is not None else [ACTION_CODES["indexed"], side]
        plain = data_json([None, None, None, [0, item]])
        full = data_json([None, None, None, [0, item], *DEFAULTS[_SHORT - 1 :]])
        head = f"{full[:-1]},"
        if type(number) is int:
            heads = self._heads
            if len(heads) >= _HEADS:
                heads.clear()
            heads[head] = number
        return plain, head

    def kept_json(self, tag: str, values: Mapping[str, str | None]) -> str:
        """The kept values' element of a ``data`` array (see :data:`KEPT`), interning
        their field names as :meth:`encode` does."""
        names = tuple(values)
        shape = (self._shape_ids.get(names) or self._shape(names)) if names else None
        return data_json([tag, dict(values)] if shape is None else [tag, shape, *values.values()])

    def intern_history(self, entries: Iterable[Entry]) -> None:
        """Intern the history items of ``entries`` in order, as encoding them would: a
        row completed after them numbers its items as the whole encoding would have."""
        item_ids = self._item_ids
        for entry in entries:
            for item in entry.history:
                if (
                    type(item) is HistoryItem
                    and type(item.action) is str
                    and type(item.detail) is str
                    and (item.action, item.detail) not in item_ids
                ):
                    self._item(item.action, item.detail)

    def created_tail(self, entry: Entry, updated: int) -> str | None:
        """The end of the ``data`` column, after the values, of ``entry``, whose
        ``matched_by`` is ``None`` and whose fields after ``mark`` hold their defaults
        (a created entry, see :meth:`pending_suffix`), with ``updated_at`` as ``updated``
        microseconds; ``None`` when the array would end before it (no history, no mark):
        the values then end the array and the whole entry is encoded."""
        record: list[Any] = [
            None,
            self._history(entry, updated) if entry.history else [],
            entry.mark,
        ]
        if record[2] is None and not record[1]:
            return None
        if record[2] is None:
            record.pop()
        return f",{data_json(record)[1:]}"

    def announced_data(
        self,
        hub_values: Mapping[str, Any] | None,
        app_values: Mapping[str, Any] | None,
        key: str,
    ) -> str | None:
        """The ``data`` column :meth:`encode` writes for
        :func:`~syncengine.index.base.announced_entry` of these copies and idempotency
        ``key``, without building it, interning the copies' field names as that would;
        ``None`` when this short way does not apply (the caller encodes the entry):
        copies that are empty, not all text, or of field names that cannot be interned."""
        if not hub_values or not app_values:
            return None
        shapes = self._shape_ids
        names = tuple(hub_values)
        hub_shape = shapes.get(names) or self._shape(names)
        if hub_shape is None:
            return None
        hub_list = list(hub_values.values())
        if {*map(type, hub_list)} != _ONLY_STR:
            return None
        names = tuple(app_values)
        app_shape = shapes.get(names) or self._shape(names)
        if app_shape is None:
            return None
        app_list = list(app_values.values())
        if {*map(type, app_list)} != _ONLY_STR:
            return None
        app_enc: Any
        if app_list == hub_list:
            app_enc = SAME_AS_HUB if app_shape == hub_shape else [-app_shape]
        else:
            app_enc = self._delta(app_shape, app_list, hub_list)
        # encode's array: matched_by, history and mark empty, the fields after mark at
        # their defaults up to pending_key (links and deleted left out as defaults).
        return data_json([[hub_shape, *hub_list], app_enc, None, [], None, 0, "", None, None, key])

    def encode_synced(
        self,
        entry: Entry,
        hub_values: Mapping[str, Any],
        app_values: Mapping[str, Any],
        item: HistoryItem | None,
        updated_at: datetime,
        updated: int,
        history_size: int,
    ) -> str | None:
        """The ``data`` column :meth:`encode` writes for the entry
        :func:`~syncengine.index.base.synced_copy` makes of these arguments (``updated``:
        ``updated_at`` in microseconds), without building it; ``None`` when this short
        way does not apply (the caller encodes the entry): copies that are not all text
        or of field names not interned yet, or links kept in the entry."""
        if entry.links:
            return None
        copies = self._text_copies(hub_values, app_values)
        if copies is None:
            return None
        keys = entry.keys
        matched_by: str | int | None = entry.matched_by
        if matched_by is not None and matched_by in keys:
            matched_by = 0 if len(keys) == 1 else sorted(keys).index(matched_by)
        history = entry.history if item is None else (*entry.history, item)[-history_size:]
        items = self._history_known(history, updated) if history else []
        if items is None:
            items = self._history(_Stamped(history, updated_at), updated)  # type: ignore[arg-type]
        record: list[Any] = [*copies, matched_by, items, entry.mark]
        return data_json(trimmed(record))

    def _text_copies(
        self, hub_values: Mapping[str, Any], app_values: Mapping[str, Any]
    ) -> tuple[list[Any], Any] | None:
        """The two copies as :meth:`encode` writes them (the hub's shape and values, the
        app's as the hub's, its shape or a delta) when both are non-empty, of field
        names interned already and the hub's values all text; else ``None``."""
        if not hub_values or not app_values:
            return None
        shapes = self._shape_ids
        hub_shape = shapes.get(tuple(hub_values))
        app_shape = shapes.get(tuple(app_values))
        if not hub_shape or not app_shape:
            return None
        hub_list = list(hub_values.values())
        if {*map(type, hub_list)} != _ONLY_STR:
            return None
        app_list = list(app_values.values())
        if app_list == hub_list:  # only a str equals a str (see encode)
            return [hub_shape, *hub_list], SAME_AS_HUB if app_shape == hub_shape else [-app_shape]
        return [hub_shape, *hub_list], self._delta(app_shape, app_list, hub_list)

    def encode_matched(
        self,
        view: StoredRowView,
        keys: frozenset[str],
        matched_by: str,
        hub_values: Mapping[str, Any],
        app_values: Mapping[str, Any],
        items: tuple[HistoryItem, ...],
        mark: str | None,
        updated_at: datetime,
        updated: int,
        history_size: int,
    ) -> str | None:
        """The ``data`` column :meth:`encode` writes for the entry
        :func:`~syncengine.index.base.matched_entry` makes of ``view``'s entry and these
        arguments (``updated``: ``updated_at`` in microseconds), from the row's stored
        history, without building the entry; ``None`` when this short way does not
        apply (the caller encodes the entry): field names or history items not interned
        yet (this interns nothing, so rows written whole around it number what they
        intern as they would alone), an item that is not a plain one of a UTC time, or
        a value the encoding refuses."""
        shapes = self._shape_ids
        encode = _codec.encode_value
        try:
            hub_enc: Any
            hub_list: list[Any] | None = None
            hub_str = False
            if hub_values:
                shape = shapes.get(tuple(hub_values))
                if shape is None:
                    return None
                hub_list = list(hub_values.values())
                hub_str = {*map(type, hub_list)} == _ONLY_STR
                hub_enc = [shape, *hub_list] if hub_str else [shape, *map(encode, hub_list)]
            else:
                hub_enc = encode(dict(hub_values))
            app_enc: Any
            if app_values:
                shape = shapes.get(tuple(app_values))
                if shape is None:
                    return None
                app_list = list(app_values.values())
                if hub_list is None:
                    app_enc = [shape, *map(encode, app_list)]
                elif hub_str and app_list == hub_list:
                    app_enc = SAME_AS_HUB if shape == hub_enc[0] else [-shape]
                else:
                    app_enc = self._delta(shape, app_list, hub_list)
            else:
                app_enc = encode(dict(app_values))
        except _codec.CodecError:
            return None
        matched: str | int = matched_by
        if matched_by in keys:
            matched = 0 if len(keys) == 1 else sorted(keys).index(matched_by)
        # The new items: none interned here (see the docstring).
        new = self._history_known(items, updated, intern=False)
        if new is None:
            return None
        out = moved(view.history, updated - view.updated) + new
        record: list[Any] = [hub_enc, app_enc, matched, out[-2 * history_size :], mark]
        return data_json(trimmed(record))

    def encode_synced_row(
        self,
        view: PairView,
        hub_values: Mapping[str, Any],
        app_values: Mapping[str, Any],
        item: HistoryItem | None,
        updated_at: datetime,
        updated: int,
        history_size: int,
    ) -> str | None:
        """:meth:`encode_synced` of ``view``'s entry and these arguments. A
        :class:`StoredPairView` this codec read is written from its stored history (each
        item's offset moved by the new time, its number as stored, ``item`` appended)
        without building the entry; any other view is written from its entry. ``None``
        when the short way of :meth:`encode_synced` does not apply (the caller encodes
        the entry)."""
        if type(view) is not StoredPairView or view._codec is not self:
            return self.encode_synced(
                view.entry(), hub_values, app_values, item, updated_at, updated, history_size
            )
        copies = self._text_copies(hub_values, app_values)
        if copies is None:
            return None
        keys = view.keys
        matched_by: str | int | None = view.matched_by
        if matched_by is not None and matched_by in keys:
            matched_by = 0 if len(keys) == 1 else sorted(keys).index(matched_by)
        # The stored items (their numbers are what encoding them writes: checked when
        # the row was read).
        items = moved(view.history, updated - view.updated)
        if item is not None:
            new = self._history_known((item,), updated)  # interned if need be
            if new is None:
                return None
            items = (items + new)[-2 * history_size :]  # as synced_copy's [-history_size:]
        record: list[Any] = [*copies, matched_by, items, view.mark]
        return data_json(trimmed(record))

    def _history_known(
        self, history: Iterable[HistoryItem], updated: int, *, intern: bool = True
    ) -> list[Any] | None:
        """What :meth:`_history` writes of ``history`` for an entry stamped ``updated``
        (microseconds), each item's time and number found by the item itself (decoded
        items are shared, see :meth:`decode`); ``None`` when an item is not a plain
        one of a UTC time and an action and detail interned (or, unless ``intern`` is
        false, that can be interned now; ``_history`` writes it)."""
        codes = self._item_codes
        if len(codes) > _SHARED:
            codes.clear()
        out: list[Any] = []
        for item in history:
            got = codes.get(id(item))
            if got is None or got[0] is not item:  # (the item kept there keeps its id)
                at = item.at
                if (
                    type(item) is not HistoryItem
                    or type(item.action) is not str
                    or type(item.detail) is not str
                    or type(at) is not datetime
                    or at.tzinfo is not UTC
                ):
                    return None
                number = self._item_ids.get((item.action, item.detail))
                if number is None and intern:
                    number = self._item(item.action, item.detail)
                if number is None:
                    return None
                got = codes[id(item)] = (item, _codec.to_micros(at), number)
            out += (updated - got[1], got[2])
        return out

    def kept(self, data: object, tag: str) -> dict[str, str | None] | None:
        """The values kept with ``tag`` in a ``data`` column (see :data:`KEPT`), or
        ``None``: none, another tag, or not readable (the caller reads the record
        instead, so a damaged row costs a read, never a wrong value)."""
        if type(data) is not str or not data.endswith("]]") or tag not in data:
            return None
        try:
            record = _scan_once(data, 0)[0]
        except (ValueError, StopIteration, RecursionError):
            return None
        if type(record) is not list or len(record) != FIELDS + 1:
            return None
        return self._kept_of(record[KEPT], tag)

    def _kept_of(self, found: object, tag: str) -> dict[str, str | None] | None:
        """The values of a ``data`` array's kept element, if kept with ``tag``."""
        if type(found) is not list or len(found) < 2 or found[0] != tag:
            return None
        shape = found[1]
        if type(shape) is dict:
            if len(found) != 2 or not {*map(type, shape.values())} <= _TEXT_OR_NONE:
                return None
            return shape
        fields = self._shape_fields.get(shape) if type(shape) is int else None
        if fields is None:
            try:
                fields = self._fields(shape)
            except (IndexStoreError, ValueError, TypeError):
                return None
        values = found[2:]
        if len(fields) != len(values) or not {*map(type, values)} <= _TEXT_OR_NONE:
            return None
        return dict(zip(fields, values, strict=False))  # lengths checked

    def view(
        self,
        sync_id: str,
        object_type: str,
        row: Sequence[Any],
        kept: tuple[str, dict[str, dict[str, str | None]]] | None = None,
    ) -> RowView:
        """The :class:`~syncengine.index.base.RowView` of a row (columns as for
        :meth:`decode`), and its kept values added to ``kept`` as :meth:`decode` adds
        them. A bare entry's row whose history holds only items by number this codec
        knows is read without building the entry (a :class:`StoredRowView`); any other
        row is decoded, and viewed whole."""
        data = row[9]
        if type(data) is str and data.startswith(_BARE_START):
            for head, number in self._heads.items():
                if data.startswith(head):
                    # Phase 1's text (indexed_data's head, kept values, "]"): only the
                    # kept values are scanned.
                    try:
                        found = self._indexed(
                            sync_id, object_type, row, data, len(head), number, kept
                        )
                    except (
                        ValueError,
                        TypeError,
                        KeyError,
                        IndexError,
                        StopIteration,
                        RecursionError,
                    ):
                        found = None
                    if found is not None:
                        return found
                    break
            try:
                found = self._bare(sync_id, object_type, row, data, kept)
            except (ValueError, TypeError, KeyError, IndexError, StopIteration, RecursionError):
                found = None
            if found is not None:
                return found
        return RowView.of(self.decode(sync_id, object_type, row, kept))

    def _indexed(
        self,
        sync_id: str,
        object_type: str,
        row: Sequence[Any],
        data: str,
        start: int,
        number: int,
        kept: tuple[str, dict[str, dict[str, str | None]]] | None,
    ) -> StoredRowView | None:
        """:meth:`_bare` of a ``data`` text that is one of :meth:`indexed_data`'s heads
        (whose history holds one item, ``number``, at offset 0), one JSON value from
        ``start``, and ``]``: what :meth:`_bare` makes of it, scanning only that value;
        ``None`` when the text is not so (:meth:`_bare` reads it)."""
        _, _, _, hub_id, app_id, state, updated, pending, keys, _ = row[:10]
        if (
            type(hub_id) not in _TEXT_OR_NONE
            or type(app_id) not in _TEXT_OR_NONE
            or pending is not None
            or type(updated) is not int
            or not _MIN_US <= updated <= _MAX_US
        ):
            return None
        extra, end = _scan_once(data, start)
        if end != len(data) - 1 or data[end] != "]":
            return None
        pairs = self._item_pairs
        if number not in pairs or self._item_ids.get(pairs[number]) != number:
            return None
        if keys is None:
            key_set = _EMPTY_KEYS
        elif type(keys) is str and keys[:1] != "[":
            key_set = frozenset((keys,))
        else:
            key_set = keys_of(keys)
        view = StoredRowView(
            self, row, sync_id, object_type, _STATE_OF[state], key_set, None, [0, number]
        )
        if kept is not None:
            values = self._kept_of(extra, kept[0])
            if values is not None:
                kept[1][row[2]] = values
        return view

    def _bare(
        self,
        sync_id: str,
        object_type: str,
        row: Sequence[Any],
        data: str,
        kept: tuple[str, dict[str, dict[str, str | None]]] | None,
    ) -> StoredRowView | None:
        """:meth:`view`'s short way, or ``None`` (the row is decoded): every check
        :meth:`decode` makes of such a row, so that the view says what the entry holds."""
        _, _, _, hub_id, app_id, state, updated, pending, keys, _ = row[:10]
        if (
            type(hub_id) not in _TEXT_OR_NONE
            or type(app_id) not in _TEXT_OR_NONE
            or pending is not None
            or type(updated) is not int
            or not _MIN_US <= updated <= _MAX_US
        ):
            return None
        record = _scan_once(data, 0)[0]
        size = len(record)
        if size == _SHORT or size == 4:
            extra = None
        elif size == FIELDS + 1 and record[_SHORT:FIELDS] == _TAIL_LIST:
            extra = record[FIELDS]
        elif size == FIELDS and record[_SHORT:] == _TAIL_LIST:
            extra = None
        else:
            return None
        if size > _SHORT and type(record[_SHORT]) is not int:  # attempts: 0, not false
            return None
        if record[0] is not None or record[1] is not None or record[2] is not None:
            return None
        mark = record[4] if size > 4 else None
        if mark is not None and type(mark) is not str:
            return None
        history = record[3]
        if len(history) & 1:
            return None
        pairs = self._item_pairs
        item_ids = self._item_ids
        for i in range(0, len(history), 2):
            offset = history[i]
            ref = history[i + 1]
            if (
                type(offset) is not int
                or type(ref) is not int
                or ref not in pairs
                or item_ids.get(pairs[ref]) != ref  # encoding numbers the item so
                or not _MIN_US <= updated - offset <= _MAX_US
            ):
                return None
        if keys is None:
            key_set = _EMPTY_KEYS
        elif type(keys) is str and keys[:1] != "[":
            key_set = frozenset((keys,))
        else:
            key_set = keys_of(keys)
        view = StoredRowView(
            self, row, sync_id, object_type, _STATE_OF[state], key_set, mark, history
        )
        if kept is not None and extra is not None:
            values = self._kept_of(extra, kept[0])
            if values is not None:
                kept[1][row[2]] = values
        return view

    def pair_view(self, sync_id: str, object_type: str, row: Sequence[Any]) -> RowView:
        """The view :meth:`~syncengine.index.IndexStore.by_record_ids_rows` gives of a
        row (columns as for :meth:`decode`). A settled synced pair's row in the short
        form (the fields after ``mark`` at their defaults, no kept values), whose values
        are all a str, int, bool or None (what a tagged value is not: those are
        objects, see ``_codec.encode_value``, and decoding gives any other value back as
        it is) and whose history holds only items by number this codec knows, is read
        without building the entry (a :class:`StoredPairView`); any other row is
        decoded, and viewed whole (:meth:`PairView.of`)."""
        data = row[9]
        if type(data) is str and data.startswith("[["):
            try:
                found = self._pair_row(sync_id, object_type, row, data)
            except (ValueError, TypeError, KeyError, IndexError, StopIteration, RecursionError):
                found = None
            if found is not None:
                return found
        return PairView.of(self.decode(sync_id, object_type, row))

    def _pair_row(
        self, sync_id: str, object_type: str, row: Sequence[Any], data: str
    ) -> StoredPairView | None:
        """:meth:`pair_view`'s short way, or ``None`` (the row is decoded): every check
        :meth:`decode` makes of such a row, so that the view says what the entry holds
        (``data`` starts a list of values: see :meth:`decode`)."""
        _, _, _, hub_id, app_id, state, updated, pending, keys, _ = row[:10]
        if (
            type(hub_id) is not str
            or type(app_id) is not str
            or type(state) is not int
            or state != _SYNCED_CODE
            or pending is not None
            or type(updated) is not int
            or not _MIN_US <= updated <= _MAX_US
        ):
            return None
        # orjson reads what the scanner reads but for integers beyond 64 bits (floats
        # here: the values are taken only when every one is a str, int, bool or None,
        # the other numbers checked as ints) and text after the value (refused here,
        # ignored by the scanner: such a row is decoded). ``data`` starts with "[[", so
        # no whitespace comes first.
        record = _orjson_loads(data)
        size = len(record)
        if not 2 <= size <= _SHORT:
            return None  # the fields after mark are stored, or kept values follow
        hub_raw = record[0]
        fields = self._shape_fields.get(hub_raw[0]) or self._fields(hub_raw[0])
        hub_list = hub_raw[1:]
        if len(hub_list) != len(fields) or not {*map(type, hub_list)} <= _SCALARS:
            return None
        hub_values = dict(zip(fields, hub_list))  # noqa: B905 (lengths checked)
        app_raw = record[1]
        if type(app_raw) is list:
            shape = app_raw[0]
            if type(shape) is not int:
                return None
            if shape > 0:
                fields = self._shape_fields.get(shape) or self._fields(shape)
                app_list = app_raw[1:]
            else:
                fields = self._shape_fields.get(-shape) or self._fields(-shape)
                if len(app_raw) == 1:
                    app_list = hub_list
                else:
                    mask = app_raw[1]
                    rest = iter(app_raw[2:])
                    app_list = [
                        hub_list[i] if mask >> i & 1 else next(rest, None)
                        for i in range(len(fields))
                    ]
            if len(app_list) != len(fields) or (
                app_list is not hub_list and not {*map(type, app_list)} <= _SCALARS
            ):
                return None
            app_values = dict(zip(fields, app_list))  # noqa: B905 (lengths checked)
        elif app_raw == SAME_AS_HUB and type(app_raw) is int:
            app_values = dict(hub_values)
        else:
            return None
        matched_by = record[2] if size > 2 else None
        if type(matched_by) is int:  # the number of a key (see encode)
            if matched_by == 0 and type(keys) is str and keys[:1] != "[":
                matched_by = keys
            else:
                matched_by = self._matched_key(keys, matched_by)
        elif matched_by is not None and type(matched_by) is not str:
            return None
        history = record[3] if size > 3 else []
        if type(history) is not list or len(history) & 1:
            return None
        pairs = self._item_pairs
        item_ids = self._item_ids
        for i in range(0, len(history), 2):
            offset = history[i]
            ref = history[i + 1]
            if type(ref) is int and ref not in pairs:
                self._pair(ref)  # read once (raises when the number names none)
            if (
                type(offset) is not int
                or type(ref) is not int
                or item_ids.get(pairs[ref]) != ref  # encoding numbers the item so
                or not _MIN_US <= updated - offset <= _MAX_US
            ):
                return None
        mark = record[4] if size > 4 else None
        if mark is not None and type(mark) is not str:
            return None
        if keys is None:
            key_set = _EMPTY_KEYS
        elif type(keys) is str and keys[:1] != "[":
            key_set = frozenset((keys,))
        else:
            key_set = keys_of(keys)
        return StoredPairView(
            self,
            row,
            sync_id,
            object_type,
            key_set,
            matched_by,
            hub_values,
            app_values,
            mark,
            history,
        )

    # ---- decoding -------------------------------------------------------------------
    def decode(
        self,
        sync_id: str,
        object_type: str,
        row: Sequence[Any],
        kept: tuple[str, dict[str, dict[str, str | None]]] | None = None,
    ) -> Entry:
        """The entry of a row: its columns as stored, in the order (row id, object type
        id, entry id, hub id, app id, state, updated_at, pending, keys, data).

        A row that is not in the row format (written by another program, or damaged)
        gives a :class:`CorruptEntry` naming the entry and the index (:meth:`placeholder`).

        ``kept``: a tag and a dict, which gets the values kept with that tag beside
        the entry (see :data:`KEPT`), by entry id, if the row holds readable ones.
        """
        entry_id = row[2]
        try:
            # The hot path of every read: written for speed, one function, few calls.
            _, _, _, hub_id, app_id, state, updated, pending, keys, data = row[:10]
            if type(data) is not str:  # NotText: the store could not read it as UTF-8
                raise Corrupt(str(data) if isinstance(data, NotText) else "no data column")
            record = _scan_once(data, 0)[0]
            if type(record) is not list:
                raise Corrupt("its data column is not a JSON array")
            extra: Any = None
            if len(record) == _SHORT:
                # The common row: a synced entry with a mark, the fields after it at
                # their defaults (encode leaves them out).
                hub_raw, app_raw, matched_by, history, mark = record
                attempts, message, category, reason, pending_key, links, deleted = _TAIL
            else:
                if len(record) < FIELDS:
                    record += DEFAULTS[len(record) :]
                elif len(record) == FIELDS + 1:
                    extra = record.pop()  # values kept beside the entry, not part of it
                (
                    hub_raw,
                    app_raw,
                    matched_by,
                    history,
                    mark,
                    attempts,
                    message,
                    category,
                    reason,
                    pending_key,
                    links,
                    deleted,
                ) = record
            if type(matched_by) is int:  # the number of a key (see encode)
                if matched_by == 0 and type(keys) is str and keys[:1] != "[":
                    matched_by = keys  # the one key (_matched_key, inlined)
                else:
                    matched_by = self._matched_key(keys, matched_by)
            tagged = '"$' in data  # _codec.may_have_tags, inlined
            decode = _codec.decode_value
            hub_values: Any = None
            hub_list: list[Any] = []
            if type(hub_raw) is list:
                fields = self._shape_fields.get(hub_raw[0]) or self._fields(hub_raw[0])
                hub_list = [decode(v) for v in hub_raw[1:]] if tagged else hub_raw[1:]
                if len(hub_list) != len(fields):
                    raise Corrupt(f"hub values do not fit {fields}")
                # Lengths checked: zip without its keyword (parsing it costs more than the pairs).
                hub_values = dict(zip(fields, hub_list))  # noqa: B905
            elif hub_raw is not None:
                hub_values = decode(hub_raw) if tagged else hub_raw
                if type(hub_values) is not dict:
                    raise Corrupt(f"hub values are not a mapping: {hub_raw!r:.60}")
            app_values: Any = None
            if type(app_raw) is list:
                shape = app_raw[0]
                if shape > 0:
                    fields = self._shape_fields.get(shape) or self._fields(shape)
                    app_list = [decode(v) for v in app_raw[1:]] if tagged else app_raw[1:]
                else:
                    fields = self._shape_fields.get(-shape) or self._fields(-shape)
                    if len(app_raw) == 1:
                        app_list = hub_list
                    else:
                        mask = app_raw[1]
                        rest = iter([decode(v) for v in app_raw[2:]] if tagged else app_raw[2:])
                        app_list = [
                            hub_list[i] if mask >> i & 1 else next(rest, None)
                            for i in range(len(fields))
                        ]
                if len(app_list) != len(fields):
                    raise Corrupt(f"app values do not fit {fields}")
                app_values = dict(zip(fields, app_list))  # noqa: B905 (lengths checked)
            elif app_raw is not None:
                if app_raw == SAME_AS_HUB and type(app_raw) is int:
                    app_values = None if hub_values is None else dict(hub_values)
                else:
                    app_values = decode(app_raw) if tagged else app_raw
                    if type(app_values) is not dict:
                        raise Corrupt(f"app values are not a mapping: {app_raw!r:.60}")
            # Times and history items are values, and the engine stamps a whole batch with
            # one time: equal ones are made once and shared (_codec.decode_history, inlined).
            times = self._times
            updated_at = times.get(updated)
            if updated_at is None:
                if len(times) > _SHARED:
                    times.clear()
                    self._items.clear()
                updated_at = times[updated] = _EPOCH + timedelta(microseconds=updated)
            if not history:
                history = ()
            elif type(history[0]) is int and not len(history) & 1:
                # [offset, item, …], items by number: found in the shared ones at once.
                items = self._items
                if len(items) > 4 * _SHARED:
                    items.clear()
                made = []
                for offset, ref in zip(history[::2], history[1::2]):  # noqa: B905 (even length)
                    found = items.get((updated - offset, ref, None)) if type(ref) is int else None
                    if found is None:
                        found = self._history_item(offset, ref, updated, updated_at)
                    made.append(found)
                history = tuple(made)
            else:
                history = self._old_history(history, updated, updated_at)
            if (
                type(message) is not str
                or type(attempts) is not int
                or (mark is not None and type(mark) is not str)
                or (pending_key is not None and type(pending_key) is not str)
                or (matched_by is not None and type(matched_by) is not str)
            ):
                raise Corrupt("a field holds a value of the wrong type")
            entry = _make_entry(
                sync_id,
                object_type,
                entry_id,
                updated_at,
                hub_id,
                app_id,
                _STATE_OF[state],
                # keys_of, inlined for no key and one key
                _EMPTY_KEYS
                if keys is None
                else frozenset((keys,))
                if type(keys) is str and keys[:1] != "["
                else keys_of(keys),
                matched_by,
                hub_values,
                app_values,
                None if category is None else ErrorCategory(category),
                None if reason is None else ExcludeReason(reason),
                message,
                None if pending is None else _SIDE_OF[pending],
                pending_key,
                attempts,
                mark,
                _codec.decode_links(links) if links else {},
                None if deleted is None else _SIDE_OF[deleted],
                history,
            )
            if kept is not None and extra is not None:  # only an entry read whole
                values = self._kept_of(extra, kept[0])
                if values is not None:
                    kept[1][entry_id] = values
            return entry
        except (ValueError, TypeError, KeyError, IndexError, StopIteration, OverflowError) as error:
            return self.placeholder(sync_id, object_type, row, error)

    def placeholder(
        self, sync_id: str, object_type: str, row: Sequence[Any], error: BaseException | str
    ) -> CorruptEntry:
        """The :class:`CorruptEntry` of a row that cannot be read, in place of its entry:
        a read goes on with the other rows, and the engine fails this entry's record(s)
        alone. The record ids are kept where they are text."""
        entry_id, hub_id, app_id, code = row[2], row[3], row[4], row[5]
        return CorruptEntry(
            sync_id,
            object_type,
            entry_id if type(entry_id) is str else repr(entry_id),
            _EPOCH,
            hub_id if type(hub_id) is str else None,
            app_id if type(app_id) is str else None,
            RecordState.FAILED,
            category=ErrorCategory.INDEX,
            message=f"{self.corrupt(sync_id, object_type, entry_id, error)}; {REPAIR}",
            stored_state=STATES[code] if type(code) is int and 0 <= code < len(STATES) else None,
        )

    def keys(
        self, sync_id: str, object_type: str, entry_id: object, text: str | None
    ) -> frozenset[str]:
        """The keys of a row's ``keys`` column (``record_keys``); none if they cannot be
        read: reading the entry makes a :class:`CorruptEntry` that names the row."""
        try:
            return keys_of(text)
        except ValueError:
            return _EMPTY_KEYS

    def corrupt(
        self, sync_id: str, object_type: str, entry_id: object, error: BaseException | str
    ) -> IndexStoreError:
        """The error of an entry whose row cannot be read."""
        detail = str(error) or type(error).__name__
        if isinstance(error, StopIteration):  # the scanner found no JSON value at all
            detail = "its data column is not JSON"
        elif isinstance(error, json.JSONDecodeError):
            detail = f"its data column is not JSON ({detail})"
        return IndexStoreError(
            f"the {self.where} is corrupt: entry {entry_id!r:.80} of sync {sync_id!r:.60}, "
            f"type {object_type!r:.60} cannot be read: {detail}"
        )

    def _old_history(
        self, history: list[Any], updated: int, updated_at: datetime
    ) -> tuple[HistoryItem, ...]:
        """The history of rows written before items were interned (``[[offset, action,
        detail], …]``), or one with an item held inline (see :meth:`_history`)."""
        if len(self._items) > 4 * _SHARED:
            self._items.clear()
        if type(history[0]) is list:
            pairs: Iterable[tuple[Any, Any]] = (
                (item[0], item[1:] if type(item) is list and len(item) > 1 else None)
                for item in history
            )
        else:
            if len(history) & 1:
                raise Corrupt("a history item has no time")
            pairs = zip(history[::2], history[1::2], strict=True)
        return tuple(self._history_item(offset, ref, updated, updated_at) for offset, ref in pairs)

    def _history_item(
        self, offset: Any, ref: Any, updated: int, updated_at: datetime
    ) -> HistoryItem:
        """One history item, made (and kept for reuse) from its stored offset and its
        number, or its ``[action]``/``[action, detail]`` held inline."""
        if type(offset) is not int:
            raise Corrupt(f"a history time is not a number: {offset!r:.40}")
        at = updated_at if offset == 0 else _EPOCH + timedelta(microseconds=updated - offset)
        if type(ref) is int:
            pair = self._pair(ref)
            made = self._items[(updated - offset, ref, None)] = HistoryItem(at, *pair)
            return made  # (None in its key: no inline detail)
        if type(ref) is not list or not 1 <= len(ref) <= 2:
            raise Corrupt(f"a history item is not in the row format: {ref!r:.40}")
        key = (updated - offset, ref[0], ref[1] if len(ref) > 1 else "")
        found = self._items.get(key)
        if found is None:
            action = key[1]
            if type(action) is int:  # a common action, by its number
                action = self._action(action)
            if type(action) is not str or type(key[2]) is not str:
                raise Corrupt(f"a history item is not text: {ref!r:.40}")
            found = self._items[key] = HistoryItem(at, action, key[2])
        return found

    # ---- the other tables ---------------------------------------------------------
    def inbox_item(
        self, sync_id: str, seq: int, key: str, side: int, received: int, payload: str
    ) -> InboxItem:
        """An inbox row as an item. A row that cannot be read gives an item whose payload
        is :func:`unreadable_payload` naming it: the drain drops it and reports why, and
        the events after it are not held up."""
        try:
            if type(payload) is not str or type(key) is not str:
                raise ValueError("a column of its row is not UTF-8 text")
            return InboxItem(
                sync_id, _SIDE_OF[side], key, payload, _codec.from_micros(received), seq
            )
        except (ValueError, TypeError, KeyError, OverflowError) as error:
            reason = (
                f"the {self.where} is corrupt: inbox event {seq!r:.40} of sync "
                f"{sync_id!r:.60} cannot be read: {error}"
            )
            return InboxItem(sync_id, Side.HUB, "", unreadable_payload(reason), _EPOCH, seq)

    def pass_record(
        self,
        sync_id: str,
        number: int,
        kind: str,
        times: tuple[int, int],
        outcome: str,
        detail: str,
        dry_run: object,
        counts: str,
    ) -> PassRecord:
        """A pass history row as a record; a row that cannot be read gives an
        :class:`~syncengine.history.UnreadablePass` naming it and what is wrong (the
        listing goes on with the other rows)."""
        try:
            if not all(type(text) is str for text in (kind, outcome, detail, counts)):
                raise ValueError("a column of its row is not UTF-8 text")
            return PassRecord(
                sync_id=sync_id,
                kind=kind,
                started_at=_codec.from_micros(times[0]),
                finished_at=_codec.from_micros(times[1]),
                outcome=outcome,
                detail=detail,
                counts=decode_counts(counts),
                dry_run=bool(dry_run),
                number=int(number),
            )
        except (ValueError, TypeError, KeyError, AttributeError, OverflowError) as error:
            return UnreadablePass.of_row(
                sync_id,
                number,
                f"the {self.where} is corrupt: pass {number!r:.40} of sync {sync_id!r:.60} "
                f"cannot be read: {error}; the other passes are listed as usual (the row "
                "stays until the index is restored from a backup or rebuilt)",
            )

    @staticmethod
    def _matched_key(keys: str | None, number: int) -> str:
        """The key a stored ``matched_by`` number names (see :meth:`encode`)."""
        if keys is not None:
            if keys[:1] != "[":
                if number == 0:
                    return keys
            else:
                try:
                    listed = _loads(keys)
                except ValueError:
                    raise Corrupt(f"its keys column is not JSON: {keys!r:.80}") from None
                if 0 <= number < len(listed):
                    return str(listed[number])
        raise Corrupt(f"matched_by names key {number} of {keys!r:.80}")

    @staticmethod
    def _action(code: int) -> str:
        """The history action a stored number names."""
        if 0 <= code < len(ACTIONS):
            return ACTIONS[code]
        raise Corrupt(f"unknown history action {code}")


#: Rows per page of ``entries()`` in the SQL stores.
CHUNK: Final = 500


def entry_where(
    sync: int,
    ot: int | None,
    codes: list[int] | None,
    since: int | None,
    until: int | None,
    pending: bool | None,
    *,
    mark: str,
    array: bool,
) -> tuple[list[str], list[Any]]:
    """The conditions (on columns of ``entries`` aliased ``e``) and parameters of an
    ``entries()`` query: ``mark`` is the dialect's parameter mark; with ``array`` the
    state codes are one array parameter (PostgreSQL), else one parameter each."""
    where = [f"e.sync = {mark}"]
    params: list[Any] = [sync]
    if ot is not None:
        where.append(f"e.ot = {mark}")
        params.append(ot)
    # A row whose state is no known code reads as a CorruptEntry, in state failed: it is
    # listed with the failed ones (the retries, phase 3 of the initial sync meet it).
    unknown = (
        f" OR e.state NOT BETWEEN 0 AND {len(STATES) - 1}"
        if codes is not None and STATE_CODES[RecordState.FAILED] in codes
        else ""
    )
    if codes is not None and array:
        where.append(f"(e.state = ANY({mark}::smallint[]){unknown})")
        params.append(codes)
    elif codes is not None:
        where.append(f"(e.state IN ({','.join([mark] * len(codes))}){unknown})")
        params.extend(codes)
    if since is not None:
        where.append(f"e.updated_at >= {mark}")
        params.append(since)
    if until is not None:
        where.append(f"e.updated_at < {mark}")
        params.append(until)
    if pending is not None:
        where.append("e.pending IS NOT NULL" if pending else "e.pending IS NULL")
    return where, params


class RowStore(IndexStore):
    """What the SQL stores share above their SQL: ``entries()`` and ``entries_page()``
    read in keyset pages (``WHERE id > ? ORDER BY id LIMIT …``) by :meth:`_entries`,
    which each store writes in its dialect."""

    @abc.abstractmethod
    def _entries(
        self,
        sync_id: str,
        object_type: str | None,
        codes: list[int] | None,
        since: int | None,
        until: int | None,
        pending: bool | None,
        start: int = 0,
        chunk_size: int = CHUNK,
    ) -> Iterator[tuple[int, Entry]]:
        """Matching entries after row id ``start``, each with its row id, read
        ``chunk_size`` rows a statement (filters as :func:`entry_filters` gives them)."""

    @override
    def entries(
        self,
        sync_id: str,
        object_type: str | None = None,
        *,
        states: Collection[RecordState] | None = None,
        since: datetime | None = None,
        until: datetime | None = None,
        pending: bool | None = None,
    ) -> Iterator[Entry]:
        # Arguments are checked now, not at the first next().
        codes, since_us, until_us = entry_filters(states, since, until)
        rows = self._entries(sync_id, object_type, codes, since_us, until_us, pending)
        return (entry for _, entry in rows)

    @override
    def entries_page(
        self,
        sync_id: str,
        object_type: str | None = None,
        *,
        states: Collection[RecordState] | None = None,
        since: datetime | None = None,
        until: datetime | None = None,
        after: str | None = None,
        limit: int = 50,
    ) -> tuple[list[Entry], str | None]:
        # Keyset paging: the cursor is the last row id shown, so a late page costs what
        # the first does.
        start = page_start(after)
        check_page_limit(limit)
        codes, since_us, until_us = entry_filters(states, since, until)
        rows = self._entries(
            sync_id, object_type, codes, since_us, until_us, None, start, min(limit + 1, CHUNK)
        )
        return keyset_page(rows, limit)
