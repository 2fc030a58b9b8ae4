"""The adapter interface: how syncengine talks to an app.

An adapter knows one app and nothing about syncing. Connector authors subclass
:class:`Adapter`; the engine is its only caller.
"""

from __future__ import annotations

import abc
from collections.abc import Iterable, Mapping, Sequence
from typing import ClassVar, Final

from syncengine.errors import UnsupportedCapability
from syncengine.records import (
    AssociationChange,
    NewRecord,
    Page,
    Pipeline,
    Record,
    RecordUpdate,
    WriteResult,
)
from syncengine.schema import ObjectSchema

__all__ = ["CAPABILITY_FLAGS", "Adapter"]

#: The capability flags of :class:`Adapter`, each ``True`` or ``False``.
CAPABILITY_FLAGS: Final = (
    "supports_idempotency_keys",
    "supports_pipelines",
    "supports_associations",
    "supports_idempotency_lookup",
)


class Adapter(abc.ABC):
    """The base class of every app connector.

    Terminology:

    * **object type**: a kind of record in the app (``"contacts"``), named the app's way.
    * **record**: a :class:`~syncengine.Record`: an id, property values as Python values of
      the schema's :class:`~syncengine.PropertyType`, a modification time, associations.
    * **cursor**: an opaque string the adapter makes up and the engine stores; given back
      as ``since`` it resumes a scan.

    Required methods (abstract; a subclass that misses one fails when it is built):
    :meth:`schema`, :meth:`scan`, :meth:`fetch`, :meth:`create`, :meth:`update`.

    Optional methods, with defaults that say "not supported" and a ``supports_*`` flag the
    engine reads up front: :meth:`pipelines` (``supports_pipelines``), :meth:`associate`
    (``supports_associations``). The flag is what counts, and it must agree with the
    method: when a config uses a capability (``ObjectSync(associations=...)``, a
    ``PipelineMap`` without ``stages``), building the :class:`~syncengine.SyncEngine`
    raises :class:`~syncengine.ConfigError` naming the sync, the object type and the flag
    unless both adapters set the flag to ``True`` *and* implement the method (rule X6).
    An adapter that implements :meth:`associate` but forgets ``supports_associations =
    True`` is therefore refused, with a message that says so, instead of syncing no links.
    ``supports_idempotency_keys`` is not tied to a method and never refuses a config: it
    says how the engine settles interrupted creates. ``supports_idempotency_lookup``
    says that :meth:`lookup_idempotency_keys` is implemented (an adapter that sets it
    without the method is refused); the engine then settles creates whose reply it never
    saw by asking the app instead of scanning it (rule S8). Every flag must be ``True`` or
    ``False``, and ``max_batch_size`` a whole number >= 1, or the engine is refused too.

    Errors. A failure of one item of a batch is a ``WriteResult.failed(category,
    message)``; name the field in the message. A failure of a whole call (the app is down,
    throttled, or refuses the credentials) raises :class:`~syncengine.AdapterError` with a
    category: ``RATE_LIMITED`` (with ``retry_after`` when the app says),
    ``UNAVAILABLE`` (5xx, timeouts, connection errors), ``PERMISSION`` (auth, scopes).
    The engine retries transient categories on the next pass and goes on with the rest of
    the pass meanwhile. Any other exception is treated as ``UNKNOWN``. Never put secrets
    in a message (rule X4).

    What the engine promises in return: it never asks for more than
    :attr:`max_batch_size` items in one call, never deletes anything, and passes only
    properties that :meth:`schema` lists.

    Minimal example::

        class NotesApp(Adapter):
            name = "notes"

            def schema(self, object_type):
                return ObjectSchema(object_type, [PropertySpec("email", "string")])

            def scan(self, object_type, since=None):
                rows, cursor = self.client.changes(object_type, since)
                yield Page([Record(r["id"], r["fields"]) for r in rows], cursor)

            ...

    .. versionadded:: 0.1
    """

    #: A short name for logs, reports and config files.
    name: str = "adapter"
    #: The most items the engine passes to one fetch/create/update/associate call.
    max_batch_size: int = 100
    #: Whether :meth:`create` honours ``NewRecord.idempotency_key``: a retried create with
    #: a key it has seen returns the record it made then instead of making another.
    #: Without it, the engine settles interrupted creates by identifier (S8).
    supports_idempotency_keys: ClassVar[bool] = False
    #: Whether :meth:`lookup_idempotency_keys` is implemented: the app can say, strongly
    #: consistently, which creates happened. The engine then settles a create whose reply
    #: was lost (a timeout, a 5xx after the commit, a crash) by that lookup before it
    #: sends anything again (S8).
    supports_idempotency_lookup: ClassVar[bool] = False
    #: Whether :meth:`pipelines` is implemented.
    supports_pipelines: ClassVar[bool] = False
    #: Whether :meth:`associate` is implemented and records carry ``associations`` (to
    #: the types :meth:`include_associations` names).
    supports_associations: ClassVar[bool] = False

    @abc.abstractmethod
    def schema(self, object_type: str) -> ObjectSchema:
        """Describe the properties of ``object_type``.

        Called when an engine is built, to check mappings against types (F4). Raise
        :class:`~syncengine.AdapterError` with ``PERMISSION`` if the account may not read
        it, or ``NOT_FOUND`` if the type does not exist.
        """

    @abc.abstractmethod
    def scan(self, object_type: str, since: str | None = None) -> Iterable[Page]:
        """Yield the records of ``object_type`` in pages.

        With ``since=None``: every record, in a stable order, each exactly once.
        With ``since=cursor``: the records changed (created or updated) after that cursor,
        and in ``Page.deleted`` the ids deleted after it. A record may appear more than once
        (the engine is idempotent), but no change may be skipped.

        ``page.cursor`` is where to resume after that page (the engine stores it once the
        page is processed and passes it back as ``since`` after a crash), or ``None`` when
        the app can only resume after the last page. The last page always carries a cursor;
        it becomes the ``since`` of the next incremental scan, so it must cover every change
        made after the scan started. Yield at least one page, even if it is empty.

        The engine's own writes show up in later scans like any change; the index copy is
        how the engine tells them apart.
        """

    @abc.abstractmethod
    def fetch(self, object_type: str, ids: Sequence[str]) -> Mapping[str, Record]:
        """Read records by id. Ids missing from the result are taken as deleted."""

    @abc.abstractmethod
    def create(self, object_type: str, items: Sequence[NewRecord]) -> Sequence[WriteResult]:
        """Create records; return one result per item, in order.

        Check required properties (``REQUIRED_FIELD_MISSING``), types and unknown
        properties (``VALIDATION``) and unique values (``DUPLICATE``) per item, so that one
        bad item fails only itself.
        """

    @abc.abstractmethod
    def update(self, object_type: str, items: Sequence[RecordUpdate]) -> Sequence[WriteResult]:
        """Change the given properties of existing records; one result per item, in order.

        A record that no longer exists is ``NOT_FOUND`` (or ``DELETED`` if the app knows it
        was deleted). Properties not named are left as they are; a value of ``None``
        clears a property.
        """

    def lookup_idempotency_keys(
        self, object_type: str, items: Sequence[NewRecord]
    ) -> Mapping[str, str] | None:
        """Which of these creates happened: the record each made, by idempotency key (S8).

        ``items`` are creates as the engine sent them (``create`` got the same properties
        and ``idempotency_key``), but their replies were lost. Return, for each item whose
        create made a record, ``{item.idempotency_key: record id}``; leave out the items
        whose create made nothing. The answer must be *strongly consistent*: a create the
        app committed is found the instant after it committed, however its reply was lost
        (so no search index that lags behind writes). Return ``None`` when the app cannot
        tell for ``object_type``: the engine then settles those creates by identifier,
        from the records the side's change scan shows.

        A record made by one of these creates and deleted since may be named (the engine
        then sees it deleted) or left out. An app that keys creates by a unique property
        instead of keeping idempotency keys (HubSpot's contacts by e-mail) may name the
        record holding the item's value: a create of that item made it or could not make
        another. The engine pairs a named record with its create unless another pair holds
        it. At most :attr:`max_batch_size` items per call. Raise
        :class:`~syncengine.AdapterError` as for a fetch; the creates stay in flight and
        are looked up again by the next pass.
        """
        raise UnsupportedCapability(
            f"adapter {self.name!r} does not support idempotency key lookups"
        )

    def pipelines(self, object_type: str) -> Sequence[Pipeline]:
        """The pipelines (with their stages) of ``object_type``, if the app has any (A3).

        Raise :class:`~syncengine.AdapterError` with ``PERMISSION`` if the account may not
        read them: never return an empty list for that (A5).
        """
        raise UnsupportedCapability(f"adapter {self.name!r} does not support pipelines")

    def associate(self, pairs: Sequence[AssociationChange]) -> Sequence[WriteResult]:
        """Create links between records (A1); one result per pair, in order.

        Creating a link that already exists succeeds. A made link is
        ``WriteResult.ok(pair.from_id)``, and from then on the from-record, fetched or
        scanned, carries ``pair.to_id`` in ``associations[pair.to_type]`` (see
        :class:`~syncengine.Record`). A link that cannot be made is
        ``WriteResult.failed(category, message)`` (``NOT_FOUND`` when an end is missing).
        """
        raise UnsupportedCapability(f"adapter {self.name!r} does not support associations")

    def include_associations(  # noqa: B027 - optional hook, a no-op by default
        self, object_type: str, to_types: Sequence[str]
    ) -> None:
        """Make the records of ``object_type`` carry their links to ``to_types`` (A1).

        Called when a :class:`~syncengine.SyncEngine` is built (and on ``update_config``)
        for each object sync with ``associations``, with this app's names of the types:
        from then on, the records :meth:`scan` and :meth:`fetch` return for
        ``object_type`` must list in ``Record.associations`` their links to each of
        ``to_types``. Calls add up (an adapter shared by several engines reads what any of
        them needs). The default does nothing, which is right for an adapter whose records
        always carry all their links; override it when reading links costs something, as
        :class:`~syncengine.adapters.hubspot.HubSpotAdapter` does (one request per linked
        type and page).
        """

    def include_properties(  # noqa: B027 - optional hook, a no-op by default
        self, object_type: str, names: Sequence[str]
    ) -> None:
        """The properties of ``object_type`` a sync reads: an adapter may read only these.

        Called when a :class:`~syncengine.SyncEngine` is built (and on ``update_config``)
        for each object sync, with this app's names of the properties its mappings, match
        keys, filters and pipeline fields need. Calls add up (an adapter shared by several
        engines reads what any of them needs). Records may still carry more properties;
        the engine ignores them. The default does nothing; override it when reading every
        property costs something, as
        :class:`~syncengine.adapters.hubspot.HubSpotAdapter` does (a wide account's list
        requests grow with each property).

        .. versionadded:: 0.3
        """

    def close(self) -> None:  # noqa: B027 - optional hook, a no-op by default
        """Release connections. Optional."""
