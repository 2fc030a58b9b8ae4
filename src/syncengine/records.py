"""The values that cross the adapter boundary: records, pages, writes and their results.

Every value here is a frozen attrs class. Adapters build them, the engine reads them;
nothing here performs I/O.
"""

from __future__ import annotations

import enum
from collections.abc import Callable, Mapping, Sequence
from datetime import datetime
from types import MappingProxyType
from typing import Any, Final

import attrs

from syncengine.states import ErrorCategory

__all__ = [
    "AssociationChange",
    "ChangeEvent",
    "NewRecord",
    "Page",
    "Pipeline",
    "Record",
    "RecordUpdate",
    "Side",
    "Stage",
    "WriteResult",
]

_EMPTY: Final[Mapping[str, Any]] = MappingProxyType({})


class Side(enum.StrEnum):
    """One of the two apps of a sync: the hub (indexed first) or the connected app.

    .. versionadded:: 0.1
    """

    HUB = "hub"
    APP = "app"

    @property
    def other(self) -> Side:
        """The opposite side."""
        return _APP if self is _HUB else _HUB


# Module constants for the properties and methods of the hot path: on Python 3.11 each
# ``Side.HUB`` is a call through ``EnumType.__getattr__``'s lookup hook.
_HUB: Final = Side.HUB
_APP: Final = Side.APP


def _check_aware(name: str, value: datetime | None) -> None:
    if value is not None and (value.tzinfo is None or value.utcoffset() is None):
        raise ValueError(f"{name} must be timezone-aware (UTC), got naive {value!r}")


@attrs.frozen(slots=True)
class Record:
    """One record of one object type in one app.

    Args:
        id: The app's own id of the record.
        properties: Property values in the app's own names, as Python values
            (``str``, ``int``/``float``, ``bool``, ``datetime.date``, timezone-aware
            ``datetime``, and a ``frozenset``/``list`` of option values for multi-selects).
            ``None`` and ``""`` mean blank.
        updated_at: When the app last modified the record, timezone-aware, if it knows.
        associations: The record's links to other records of the same app: a mapping from
            the linked object type, named as this app names it, to a ``frozenset`` of the
            linked records' ids in this app, e.g. ``{"companies": frozenset({"17"})}``. A
            type with no links may be left out; an adapter without associations leaves the
            mapping empty. The engine reads the links of the types an object sync lists in
            ``associations`` (a contact's ``"companies"``), from the records of that sync.

    .. versionadded:: 0.1
    """

    id: str
    properties: Mapping[str, Any] = _EMPTY
    updated_at: datetime | None = None
    associations: Mapping[str, frozenset[str]] = _EMPTY

    def __attrs_post_init__(self) -> None:
        _check_aware("Record.updated_at", self.updated_at)


def _record_maker() -> Callable[[str, Mapping[str, Any]], Record]:
    """``make_record``: the object made with ``object.__new__`` and its four slots set
    through their member descriptors (``tests/unit/test_make_record.py`` keeps the
    conditions: no validators, converters or factories, a post-init that checks only
    ``updated_at``)."""
    new = object.__new__
    slots = Record.__dict__
    set_id = slots["id"].__set__
    set_properties = slots["properties"].__set__
    set_updated_at = slots["updated_at"].__set__
    set_associations = slots["associations"].__set__

    def make_record(record_id: str, properties: Mapping[str, Any]) -> Record:
        made: Record = new(Record)
        set_id(made, record_id)
        set_properties(made, properties)
        set_updated_at(made, None)
        set_associations(made, _EMPTY)
        return made

    return make_record


#: ``make_record(record_id, properties)`` is ``Record(record_id, properties)``, cheaper
#: (an index copy made a record, once per changed pair of an incremental pass).
make_record: Final = _record_maker()


_EVENT_KINDS: Final = frozenset({"created", "updated", "deleted"})


@attrs.frozen(slots=True)
class ChangeEvent:
    """A change pushed to the engine, typically from a webhook (rule S5).

    Args:
        object_type: The type's name in the app that sent the event.
        record_id: The id of the changed record in that app: non-empty text (an id that
            is not, such as the ``int`` ``123``, raises ``ValueError``; pass ``"123"``).
        kind: ``"created"``, ``"updated"`` or ``"deleted"``.
        occurred_at: When it happened, timezone-aware, if known.

    .. versionadded:: 0.1
    .. versionchanged:: 0.3
       A ``record_id`` that is not non-empty text raises ``ValueError``.
    """

    object_type: str
    record_id: str
    kind: str = "updated"
    occurred_at: datetime | None = None

    def __attrs_post_init__(self) -> None:
        record_id = self.record_id
        if not isinstance(record_id, str) or not record_id:
            # Refused, never converted: str(123) would pair the record with another
            # app's "123" in one place and not in another.
            raise ValueError(
                f"ChangeEvent.record_id must be non-empty text (str), got {record_id!r:.60}"
            )
        if self.kind not in _EVENT_KINDS:
            raise ValueError(
                f"ChangeEvent.kind must be one of 'created', 'updated', 'deleted', "
                f"got {self.kind!r}"
            )
        _check_aware("ChangeEvent.occurred_at", self.occurred_at)


@attrs.frozen(slots=True)
class Page:
    """One page of a scan.

    Args:
        records: The records of this page, in the scan's stable order.
        cursor: Where to resume after this page (an opaque string), or ``None`` when the
            app can only resume after the last page. The last page always carries one;
            it is the ``since`` of the next incremental scan.
        deleted: Ids deleted after the ``since`` cursor (incremental scans only).
        merged: Ids that no longer exist as themselves because the app merged them
            into another record: old id -> the id of the record it lives on in. An
            adapter may report a record's merged ids with every page that holds it; the
            engine re-pairs the index entries of old ids before it processes the page
            (an id listed here is not a deletion).

    .. versionadded:: 0.1
    .. versionchanged:: 0.2
       ``merged``.
    """

    records: Sequence[Record]
    cursor: str | None
    deleted: Sequence[str] = ()
    merged: Mapping[str, str] = attrs.field(factory=dict)


@attrs.frozen(slots=True)
class NewRecord:
    """A record the engine asks an adapter to create.

    Args:
        properties: The values to create it with, in the adapter's own names.
        idempotency_key: A key unique to this create. An adapter that can store it makes a
            retried create with the same key return the record it already made, so a crash
            between the create and the index commit never leaves a duplicate (S8).

    .. versionadded:: 0.1
    """

    properties: Mapping[str, Any]
    idempotency_key: str


@attrs.frozen(slots=True)
class RecordUpdate:
    """Changed values for one existing record; properties not named are left as they are.

    .. versionadded:: 0.1
    """

    id: str
    properties: Mapping[str, Any]


@attrs.frozen(slots=True)
class WriteResult:
    """The result of one item of a ``create``, ``update`` or ``associate`` call.

    Build it with :meth:`ok` or :meth:`failed`.

    Attributes:
        merged: For an update that landed on the record the app merged the sent record
            into (see :meth:`merged_into`): old id -> the id of the record it lives on
            in, as :attr:`Page.merged`; ``None`` otherwise.

    .. versionadded:: 0.1
    .. versionchanged:: 0.3
       ``merged`` (:meth:`merged_into`).
    """

    record_id: str | None
    category: ErrorCategory | None = None
    message: str = ""
    # Not hashed (a mapping is not hashable): a result stays usable in a set.
    merged: Mapping[str, str] | None = attrs.field(default=None, hash=False)

    @classmethod
    def ok(cls, record_id: str) -> WriteResult:
        """The item succeeded; ``record_id`` is the id of the record it wrote.

        For ``create``, the id of the new record (or, for a repeated idempotency key, of
        the record made the first time); for ``update``, the id of the updated record. For
        ``associate``, the ``from_id`` of the :class:`AssociationChange`: the engine reads
        only whether a link succeeded, so ``WriteResult.ok(pair.from_id)`` is the rule.
        """
        return cls(record_id, None, "")

    @classmethod
    def merged_into(cls, record_id: str, merged: Mapping[str, str]) -> WriteResult:
        """An update of ``record_id`` that landed on the record the app merged it into.

        Some apps (HubSpot) keep a merged-away id as an alias of the record it was merged
        into: an update sent to it changes that record. Answer such an item with the id
        sent and the merge, never with the other record's id alone (the engine fails an
        update answered with an id it did not send). ``merged`` maps ``record_id`` to the
        id of the record it lives on in, plus any other id merged into that record the
        adapter knows of, as :attr:`Page.merged` does. The engine counts the update as
        landed, then re-pairs the entries of the old ids with the merged record and
        processes that record in the same pass, as it does for ``Page.merged``.

        .. versionadded:: 0.3
        """
        return cls(record_id, None, "", MappingProxyType(dict(merged)))

    @classmethod
    def failed(cls, category: ErrorCategory, message: str) -> WriteResult:
        """The item failed; say why with a category and a message naming the field."""
        return cls(None, ErrorCategory(category), message)

    @property
    def succeeded(self) -> bool:
        """Whether the item succeeded."""
        return self.category is None


@attrs.frozen(slots=True)
class Stage:
    """A stage of a pipeline (rule A3).

    .. versionadded:: 0.1
    """

    id: str
    label: str


@attrs.frozen(slots=True)
class Pipeline:
    """A pipeline of deals (or tickets) with its ordered stages (rule A3).

    .. versionadded:: 0.1
    """

    id: str
    label: str
    stages: Sequence[Stage] = ()


@attrs.frozen(slots=True)
class AssociationChange:
    """A link from one record to another, to be created in one app (rule A1).

    Types and ids are those of the app that gets the link: ``from_type``/``from_id`` is
    the record of the object sync that lists ``to_type`` in its ``associations`` (a
    contact), ``to_type``/``to_id`` the record it links to (its company). After the link
    is made, the from-record's :attr:`Record.associations` holds ``to_id`` under
    ``to_type``. The result of each change is ``WriteResult.ok(from_id)`` or
    :meth:`WriteResult.failed`.

    .. versionadded:: 0.1
    """

    from_type: str
    from_id: str
    to_type: str
    to_id: str
