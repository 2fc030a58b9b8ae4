"""The index entry: what syncengine remembers of one record or matched pair.

A value module, no I/O: the pure core (plan, matching, merging) reads entries, the index
stores keep them, and neither side imports the other's package for it.
:mod:`syncengine.index` re-exports :class:`Entry`, :class:`HistoryItem`,
:class:`CursorUpdate` and :class:`InboxItem`, their public home.
"""

from __future__ import annotations

from collections.abc import Callable, Mapping
from datetime import datetime
from types import MappingProxyType
from typing import Any, Final

import attrs

from syncengine.records import RecordUpdate, Side
from syncengine.states import ErrorCategory, ExcludeReason, RecordState

__all__ = ["CorruptEntry", "CursorUpdate", "Entry", "HistoryItem", "InboxItem"]

# On Python 3.11 ``Side.HUB`` is a call through ``EnumType.__getattr__``'s lookup hook.
_HUB: Final = Side.HUB

#: An entry's links when it has none (``Entry.links``' default; one object, shared).
NO_LINKS: Final[Mapping[str, frozenset[str]]] = MappingProxyType({})


@attrs.frozen(slots=True)
class HistoryItem:
    """One thing the engine did to an entry, and why (rule R8).

    Args:
        at: When, timezone-aware UTC.
        action: A short verb: ``"indexed"``, ``"matched"``, ``"created"``, ``"updated"``,
            ``"excluded"``, ``"failed"``, ``"deleted"``, ``"restored"``, …
        detail: Why, or what, in a few words (a side, the fields written, the key that
            matched, the error message).

    .. versionadded:: 0.1
    """

    at: datetime
    action: str
    detail: str = ""


@attrs.frozen(slots=True)
class Entry:
    """One index entry: a record of one app, or a matched pair of records.

    Entries are values: the engine builds a changed copy (``attrs.evolve``) and writes it;
    an index store keeps and returns them unchanged. Stores must round-trip every field
    exactly, including the Python types inside ``hub_values``/``app_values``
    (``str, int, float, bool, None, datetime.date, datetime.datetime, frozenset[str],
    list, tuple``), and NaN and infinities in floats.

    Args:
        sync_id: The sync this entry belongs to (S1).
        object_type: The object sync's ``hub_type``.
        entry_id: Unique within (sync_id, object_type); chosen by the engine.
        hub_id: The hub record's id, once there is one.
        app_id: The app record's id, once there is one.
        state: See :class:`~syncengine.RecordState`.
        keys: The normalized identifier keys of the record(s), such as
            ``"0:ada@example.com"`` (key index, colon, normalized value). Lookups by key
            find entries through them (M1).
        matched_by: Which identifier paired the two records, when they were matched (M6).
        hub_values: The mapped hub values last synced, in the hub's own names and
            representation; ``None`` before the first sync (D6).
        app_values: The same for the app side.
        category: Why the entry failed (state ``failed``).
        reason: Why the entry is excluded (state ``excluded``).
        message: A message for humans about the failure or exclusion.
        pending: The side a create is in flight on, between the index commit that
            announced it and the one that records its result (S8).
        pending_key: The idempotency key of that create.
        attempts: How many times in a row the entry failed (reset when it syncs).
        mark: The id of the last full pass (initial sync or reconcile) that processed it.
        links: Links to other object types, as hub ids by hub type, last seen in sync (A1).
        deleted: The side whose record was deleted (with category ``deleted``, R6).
        updated_at: When the entry last changed, timezone-aware UTC.
        history: The last few things the engine did to the entry, oldest first (R8).

    .. versionadded:: 0.1
    """

    sync_id: str
    object_type: str
    entry_id: str
    updated_at: datetime
    hub_id: str | None = None
    app_id: str | None = None
    state: RecordState = RecordState.INITIAL
    keys: frozenset[str] = frozenset()
    matched_by: str | None = None
    hub_values: Mapping[str, Any] | None = None
    app_values: Mapping[str, Any] | None = None
    category: ErrorCategory | None = None
    reason: ExcludeReason | None = None
    message: str = ""
    pending: Side | None = None
    pending_key: str | None = None
    attempts: int = 0
    mark: str | None = None
    links: Mapping[str, frozenset[str]] = NO_LINKS
    deleted: Side | None = None
    history: tuple[HistoryItem, ...] = ()

    def id_on(self, side: Side) -> str | None:
        """The record id on ``side``."""
        return self.hub_id if side is _HUB else self.app_id

    def values_on(self, side: Side) -> Mapping[str, Any] | None:
        """The last synced values on ``side``."""
        return self.hub_values if side is _HUB else self.app_values


@attrs.frozen(slots=True)
class CorruptEntry(Entry):
    """What an index store returns for an entry whose stored row it cannot read (another
    program wrote it, or the file is damaged), in place of the entry: the read goes on
    with the other entries, and the engine fails the record(s) of this one alone.

    It is in state ``failed`` with category :attr:`~syncengine.ErrorCategory.INDEX`; its
    ``message`` names the entry, the index and what is wrong, and ``hub_id``/``app_id``
    are the row's record ids where they could be read. It holds nothing else of the row:
    the engine never writes it back (stores refuse to), so the row stays as it is until
    it is repaired or the index is rebuilt, and every pass that meets it fails its
    record again.

    ``stored_state`` is the state its row holds, where that can be read (``None`` if
    not): :meth:`SyncEngine.status <syncengine.SyncEngine.status>` counts a damaged
    entry a pass met as failed instead of under that state.

    .. versionadded:: 0.3
    """

    stored_state: RecordState | None = None


#: Entry's fields in the order of its ``__init__``. The hot paths (the engine's entry
#: copies, the stores' row decoding) build entries positionally in this order, which skips
#: attrs's per-keyword work; they check :data:`POSITIONAL` and fall back to keywords.
FIELD_ORDER: Final = (
    "sync_id",
    "object_type",
    "entry_id",
    "updated_at",
    "hub_id",
    "app_id",
    "state",
    "keys",
    "matched_by",
    "hub_values",
    "app_values",
    "category",
    "reason",
    "message",
    "pending",
    "pending_key",
    "attempts",
    "mark",
    "links",
    "deleted",
    "history",
)
#: Entry takes exactly :data:`FIELD_ORDER` positionally (no private names, no
#: ``init=False`` fields). A test keeps this true.
POSITIONAL: Final = (
    all(field.init and field.alias == field.name for field in attrs.fields(Entry))
    and tuple(field.name for field in attrs.fields(Entry)) == FIELD_ORDER
)


def _plain_init(cls: type[Any]) -> bool:
    """Whether ``cls``'s ``__init__`` only sets each field to its argument: no default
    factory, validator, converter or ``__attrs_post_init__`` (:func:`make_entry`
    skips them). A test keeps this true."""
    return not hasattr(cls, "__attrs_post_init__") and all(
        field.validator is None
        and field.converter is None
        and not isinstance(field.default, attrs.Factory)  # type: ignore[arg-type]
        for field in attrs.fields(cls)
    )


def _fast_constructor(cls: type[Any], fields: tuple[str, ...]) -> Callable[..., Any]:
    """A constructor of ``cls`` taking ``fields`` positionally: the object made with
    ``object.__new__`` and each slot set through its member descriptor, one line per
    field. A frozen attrs ``__init__`` sets each field with ``object.__setattr__`` (a
    lookup of the name through the class for each): this costs about 40 % less per
    entry, and entries are made two or three times per record on every pass (row
    decoding, ``evolve``, ``synced``)."""
    lines = [f"def make({', '.join(fields)}):", "    made = _new(cls)"]
    setters: dict[str, Any] = {"_new": object.__new__, "cls": cls}
    for n, name in enumerate(fields):
        setters[f"_set{n}"] = cls.__dict__[name].__set__
        lines.append(f"    _set{n}(made, {name})")
    lines.append("    return made")
    exec("\n".join(lines), setters)  # made from field names only, no input
    made: Callable[..., Any] = setters["make"]
    return made


#: ``make_entry(*values)`` is ``Entry(*values)`` (values in :data:`FIELD_ORDER`), cheaper;
#: ``Entry`` itself where its ``__init__`` does more than set the fields.
make_entry: Final[Callable[..., Entry]] = (
    _fast_constructor(Entry, FIELD_ORDER) if POSITIONAL and _plain_init(Entry) else Entry
)
#: ``make_history_item(at, action, detail)`` is ``HistoryItem(at, action, detail)``,
#: cheaper (one per record and pass); ``HistoryItem`` itself where its ``__init__``
#: does more than set the fields.
make_history_item: Final[Callable[[datetime, str, str], HistoryItem]] = (
    _fast_constructor(HistoryItem, ("at", "action", "detail"))
    if _plain_init(HistoryItem)
    and tuple(field.name for field in attrs.fields(HistoryItem)) == ("at", "action", "detail")
    else HistoryItem
)
#: ``make_record_update(record_id, properties)`` is ``RecordUpdate(record_id,
#: properties)``, cheaper (one per record an incremental pass writes across);
#: ``RecordUpdate`` itself where its ``__init__`` does more than set the fields.
make_record_update: Final[Callable[[str, Mapping[str, Any]], RecordUpdate]] = (
    _fast_constructor(RecordUpdate, ("id", "properties"))
    if _plain_init(RecordUpdate)
    and tuple(field.name for field in attrs.fields(RecordUpdate)) == ("id", "properties")
    else RecordUpdate
)


@attrs.frozen(slots=True)
class CursorUpdate:
    """A cursor to store together with a batch of entries (one transaction).

    ``value=None`` removes the cursor.

    .. versionadded:: 0.1
    """

    sync_id: str
    side: Side
    object_type: str
    value: str | None
    name: str = "poll"


@attrs.frozen(slots=True)
class InboxItem:
    """One change event kept in a sync's inbox until a pass has processed it.

    A webhook receiver adds items the moment a request is verified, and the next pass
    (:meth:`SyncEngine.incremental_sync <syncengine.SyncEngine.incremental_sync>` or
    :meth:`SyncEngine.drain_inbox <syncengine.SyncEngine.drain_inbox>`) processes them and
    only then removes them: a crash in between delivers them again (at least once).

    Args:
        sync_id: The sync the event is for.
        side: The app that sent it.
        key: What makes two deliveries the same event: an item whose key the inbox
            holds already is dropped (HubSpot delivers at least once).
        payload: The event, as text the store keeps as it is (ASCII JSON).
        received_at: When it was received, timezone-aware.
        seq: Its place in arrival order, assigned by the store (``0`` until then);
            never reused, so removing by ``seq`` never removes a later event.

    .. versionadded:: 0.2
    """

    sync_id: str
    side: Side
    key: str
    payload: str
    received_at: datetime
    seq: int = 0


def check_inbox_items(items: object) -> list[InboxItem]:
    """``items`` as a list of inbox items a store can keep; raise
    :class:`~syncengine.IndexStoreError` naming the first one it cannot."""
    from syncengine.errors import IndexStoreError

    if isinstance(items, str | bytes) or not hasattr(items, "__iter__"):
        raise IndexStoreError(f"inbox_add takes a sequence of InboxItem, got {items!r:.80}")
    out = list(items)
    for item in out:
        if (
            type(item) is not InboxItem
            or type(item.sync_id) is not str
            or not isinstance(item.side, Side)
            or type(item.key) is not str
            or not item.key
            or type(item.payload) is not str
            or not isinstance(item.received_at, datetime)
            or item.received_at.utcoffset() is None
        ):
            raise IndexStoreError(
                f"an inbox item needs str sync_id, key (not empty) and payload, a Side and "
                f"an aware received_at; got {item!r:.200}"
            )
    return out
