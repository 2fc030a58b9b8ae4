"""The index store interface.

An index store keeps, per sync, one :class:`Entry` per record or matched pair, the
cursors of each side's scans, a few settings, and leases. The engine is its only caller.

Terminology:

* **sync_id**: every call names the sync; entries, cursors, settings and leases of
  different syncs never mix (rule S1).
* **object_type**: the object sync's ``hub_type``.
* **entry_id**: the engine's name for an entry, unique within (sync_id, object_type).
* **key**: a normalized identifier (``"0:ada@example.com"``); an entry has a few.
* **lease**: a claim by one pass (``owner``) on a name until a time, so that two passes
  never work on the same record at once (rule S9).

Required methods: :meth:`~IndexStore.get`, :meth:`~IndexStore.by_record_ids`,
:meth:`~IndexStore.by_keys`, :meth:`~IndexStore.write`, :meth:`~IndexStore.entries`,
:meth:`~IndexStore.counts`, :meth:`~IndexStore.cursor`, :meth:`~IndexStore.get_meta`,
:meth:`~IndexStore.acquire`, :meth:`~IndexStore.release`,
:meth:`~IndexStore.delete_sync`.

Optional methods: :meth:`~IndexStore.set_cursor` and :meth:`~IndexStore.set_meta`
(defaults built on :meth:`~IndexStore.write`), :meth:`~IndexStore.marked` and
:meth:`~IndexStore.record_keys` (built on :meth:`~IndexStore.by_record_ids`),
:meth:`~IndexStore.entries_page` (built on :meth:`~IndexStore.entries`; stores override
it with keyset paging), :meth:`~IndexStore.write_indexed`, :meth:`~IndexStore.indexed_values` and
:meth:`~IndexStore.by_keys_indexed` (values kept beside entries until they are next
written; the defaults keep nothing), :meth:`~IndexStore.write_built` and
:meth:`~IndexStore.write_created` (the engine's own entries; the defaults call
:meth:`~IndexStore.write`), :meth:`~IndexStore.write_announced` and
:meth:`~IndexStore.write_announced_created` (creates announced and completed from their
parts; the defaults call :meth:`~IndexStore.write_new` and
:meth:`~IndexStore.write_created`), :meth:`~IndexStore.replace_unchanged` (a
compare-and-set write; the default, built on :meth:`~IndexStore.get` and
:meth:`~IndexStore.write`, is not atomic), :meth:`~IndexStore.holders` (without it, the
leases of a pass that died are taken over only when they expire),
:meth:`~IndexStore.close`; the webhook inbox
(:meth:`~IndexStore.inbox_add`, :meth:`~IndexStore.inbox`, :meth:`~IndexStore.inbox_remove`,
:meth:`~IndexStore.inbox_count`): a store without it cannot back a webhook receiver
(:func:`keeps_inbox` tells), and is refused when one is built; the pass history
(:meth:`~IndexStore.add_pass`, :meth:`~IndexStore.passes`): without it
(:func:`keeps_history` tells) the engine logs one warning and records no passes.

Every store passes the conformance kit in :mod:`syncengine.testing`.
"""

from __future__ import annotations

import abc
import itertools
from collections.abc import Collection, Iterable, Iterator, Mapping, Sequence
from datetime import datetime
from types import TracebackType
from typing import TYPE_CHECKING, Any

from typing_extensions import override

from syncengine.entry import NO_LINKS
from syncengine.errors import IndexStoreError
from syncengine.index._entry import CursorUpdate, Entry, HistoryItem, InboxItem, make_entry
from syncengine.records import Side
from syncengine.states import RecordState

if TYPE_CHECKING:
    from syncengine.history import PassRecord

#: One pair's new copies for :meth:`IndexStore.write_synced`: the entry as read, the hub
#: and app copies, and the history item to append (or ``None``).
SyncedCopy = tuple[Entry, Mapping[str, Any], Mapping[str, Any], HistoryItem | None]
#: One create for :meth:`IndexStore.write_announced`: the id of the record to create (a
#: record of the other side than the one created on), its keys, the hub and app copies,
#: and the create's idempotency key.
Announced = tuple[str, frozenset[str], Mapping[str, Any] | None, Mapping[str, Any] | None, str]


class RowView:
    """A stored entry's hot fields, read without building the entry
    (:meth:`IndexStore.by_keys_rows`): its ids, state, pending side, keys and mark, and
    whether it is ``bare``: it holds nothing else but its history (no copies, no
    ``matched_by``, no failure, reason, message, attempts, pending create, links or
    deletion; an entry the initial sync's phase 1 indexed is one). :meth:`entry` is the
    whole entry, read when it is asked for.

    A store may subclass it to keep what it needs to write the row again without
    building the entry (see :meth:`IndexStore.write_matched`).

    .. versionadded:: 0.3
    """

    __slots__ = (
        "_entry",
        "app_id",
        "bare",
        "entry_id",
        "hub_id",
        "keys",
        "mark",
        "object_type",
        "pending",
        "state",
        "sync_id",
    )

    def __init__(
        self,
        sync_id: str,
        object_type: str,
        entry_id: str,
        hub_id: str | None,
        app_id: str | None,
        state: RecordState,
        pending: Side | None,
        keys: frozenset[str],
        mark: str | None,
        bare: bool,
        entry: Entry | None = None,
    ) -> None:
        self.sync_id = sync_id
        self.object_type = object_type
        self.entry_id = entry_id
        self.hub_id = hub_id
        self.app_id = app_id
        self.state = state
        self.pending = pending
        self.keys = keys
        self.mark = mark
        self.bare = bare
        self._entry = entry

    @classmethod
    def of(cls, entry: Entry) -> RowView:
        """The view of an entry read whole."""
        return cls(
            entry.sync_id,
            entry.object_type,
            entry.entry_id,
            entry.hub_id,
            entry.app_id,
            entry.state,
            entry.pending,
            entry.keys,
            entry.mark,
            is_bare(entry),
            entry,
        )

    def entry(self) -> Entry:
        """The whole entry (a :class:`~syncengine.entry.CorruptEntry` for a row that
        cannot be read)."""
        entry = self._entry
        assert entry is not None  # a subclass that reads it lazily overrides entry()
        return entry

    @override
    def __repr__(self) -> str:
        return (
            f"RowView({self.sync_id!r}, {self.object_type!r}, {self.entry_id!r}, "
            f"hub_id={self.hub_id!r}, app_id={self.app_id!r}, state={self.state!r}, "
            f"bare={self.bare!r})"
        )


class PairView(RowView):
    """A :class:`RowView` of a settled synced pair, with its copies
    (:meth:`IndexStore.by_record_ids_rows`): its entry is synced, holds both record ids
    and both copies (``hub_values``, ``app_values``), and nothing failed, excluded,
    pending or deleted (no category, reason, message, attempts, pending create, links
    or deletion). It holds ``matched_by`` too; the history is read only with
    :meth:`entry`, the whole entry.

    The incremental pass merges such a pair from the view and stores its new copies
    with :meth:`IndexStore.write_synced_rows`. A store may subclass it to keep what it
    needs to write the row again without building the entry.

    .. versionadded:: 0.3
    """

    __slots__ = ("app_values", "hub_values", "matched_by")

    hub_id: str
    app_id: str

    def __init__(
        self,
        sync_id: str,
        object_type: str,
        entry_id: str,
        hub_id: str,
        app_id: str,
        keys: frozenset[str],
        matched_by: str | None,
        hub_values: Mapping[str, Any],
        app_values: Mapping[str, Any],
        mark: str | None,
        entry: Entry | None = None,
    ) -> None:
        self.sync_id = sync_id
        self.object_type = object_type
        self.entry_id = entry_id
        self.hub_id = hub_id
        self.app_id = app_id
        self.state = RecordState.SYNCED
        self.pending = None
        self.keys = keys
        self.mark = mark
        self.bare = False
        self._entry = entry
        self.matched_by = matched_by
        self.hub_values = hub_values
        self.app_values = app_values

    @classmethod
    @override
    def of(cls, entry: Entry) -> RowView:
        """The view :meth:`IndexStore.by_record_ids_rows` gives of an entry read whole:
        a :class:`PairView` of a settled synced pair (:func:`is_pair`), else a
        :class:`RowView`."""
        if not is_pair(entry):
            return RowView.of(entry)
        assert entry.hub_id is not None
        assert entry.app_id is not None
        assert entry.hub_values is not None
        assert entry.app_values is not None
        return cls(
            entry.sync_id,
            entry.object_type,
            entry.entry_id,
            entry.hub_id,
            entry.app_id,
            entry.keys,
            entry.matched_by,
            entry.hub_values,
            entry.app_values,
            entry.mark,
            entry,
        )

    def id_on(self, side: Side) -> str:
        """The record id on ``side``."""
        return self.hub_id if side is Side.HUB else self.app_id

    def values_on(self, side: Side) -> Mapping[str, Any]:
        """The copy of ``side``."""
        return self.hub_values if side is Side.HUB else self.app_values


#: One pair for :meth:`IndexStore.write_synced_rows`: the pair's view as read, the hub
#: and app copies, and the history item to append (or ``None``).
SyncedRow = tuple[PairView, Mapping[str, Any], Mapping[str, Any], HistoryItem | None]


#: One pair for :meth:`IndexStore.write_matched`: the hub entry's row as read, the app
#: record id, the keys, ``matched_by``, the hub and app copies, and the history items to
#: append.
Matched = tuple[
    RowView, str, frozenset[str], str, Mapping[str, Any], Mapping[str, Any], tuple[HistoryItem, ...]
]

__all__ = [
    "Announced",
    "IndexStore",
    "Matched",
    "PairView",
    "RowView",
    "SyncedRow",
    "announced_entry",
    "check_changes",
    "check_page_limit",
    "created_entry",
    "indexed_entry",
    "is_bare",
    "is_pair",
    "keeps_history",
    "keeps_inbox",
    "keyset_page",
    "matched_entry",
    "page_start",
    "same_entry",
    "synced_copy",
]


class IndexStore(abc.ABC):
    """Where syncengine keeps its index.

    Implementations must be safe to call from several threads (one lock is enough), and a
    store on a shared database must be usable by several processes at once.
    All datetimes are timezone-aware UTC.

    .. versionadded:: 0.1
    """

    # ---- lookups ------------------------------------------------------------------
    @abc.abstractmethod
    def get(self, sync_id: str, object_type: str, entry_ids: Iterable[str]) -> dict[str, Entry]:
        """Entries by entry id; ids without an entry are absent from the result."""

    @abc.abstractmethod
    def by_record_ids(
        self, sync_id: str, object_type: str, side: Side, record_ids: Iterable[str]
    ) -> dict[str, Entry]:
        """Entries by their record id on ``side``, keyed by that record id.

        If (against the engine's own rules) several entries hold one record id, any one
        of them is returned.
        """

    def marked(
        self, sync_id: str, object_type: str, side: Side, record_ids: Iterable[str], mark: str
    ) -> set[str]:
        """The record ids on ``side`` whose entry's ``mark`` is ``mark``.

        The engine asks this of every page of a phase that skips what the running pass
        already processed; a store may answer without building the entries. The default
        reads them with :meth:`by_record_ids`.

        .. versionadded:: 0.1
        """
        found = self.by_record_ids(sync_id, object_type, side, record_ids)
        return {record_id for record_id, entry in found.items() if entry.mark == mark}

    def record_keys(
        self, sync_id: str, object_type: str, side: Side, record_ids: Iterable[str]
    ) -> dict[str, tuple[str | None, frozenset[str]]]:
        """For each record id on ``side`` that has an entry: that entry's record id on the
        other side (``None`` if it has none) and its keys, keyed by the record id.

        The engine asks this of every page of records it indexes before processing them
        (incremental passes index the app's new records first); most of them have an
        entry whose keys are unchanged, so a store may answer from its hot columns
        without building the entries. The default reads them with :meth:`by_record_ids`.

        .. versionadded:: 0.1
        """
        found = self.by_record_ids(sync_id, object_type, side, record_ids)
        other = side.other
        return {record_id: (entry.id_on(other), entry.keys) for record_id, entry in found.items()}

    @abc.abstractmethod
    def by_keys(
        self, sync_id: str, object_type: str, keys: Iterable[str]
    ) -> dict[str, list[Entry]]:
        """Entries holding each key, keyed by key, each list in the order the entries were
        first written. Keys no entry holds are absent from the result."""

    @abc.abstractmethod
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
        """Stream entries in the order they were first written.

        Args:
            sync_id: The sync.
            object_type: Only this object type, or all.
            states: Only entries in one of these states.
            since: Only entries with ``updated_at >= since``.
            until: Only entries with ``updated_at < until``.
            pending: ``True``: only entries with a create in flight; ``False``: only
                those without; ``None``: both.

        Memory stays bounded however many entries match (read in chunks), and entries may
        be written while the iterator is open: an entry is then yielded at most once.
        """

    @abc.abstractmethod
    def counts(self, sync_id: str) -> dict[str, dict[RecordState, int]]:
        """Entry counts by object type and state, without reading every entry."""

    # ---- writes -------------------------------------------------------------------
    @abc.abstractmethod
    def write(
        self,
        entries: Sequence[Entry] = (),
        *,
        delete: Sequence[tuple[str, str, str]] = (),
        cursors: Sequence[CursorUpdate] = (),
    ) -> None:
        """Upsert entries, delete entries and set cursors in **one transaction**.

        Args:
            entries: Inserted, or replacing the entry with the same (sync_id,
                object_type, entry_id). An entry keeps its place in iteration order when it
                is replaced.
            delete: (sync_id, object_type, entry_id) of entries to remove from the index
                (never anything in an app).
            cursors: Cursors to set (or remove, with ``value=None``).

        Either all of it is stored or none of it; raise :class:`~syncengine.IndexStoreError`
        when it cannot be.
        """

    def write_indexed(
        self,
        entries: Sequence[Entry],
        kept: Mapping[str, tuple[str, Mapping[str, str | None]]],
        *,
        cursors: Sequence[CursorUpdate] = (),
    ) -> None:
        """Write ``entries`` and ``cursors`` as :meth:`write` does, and keep beside
        each entry whose id is in ``kept`` a tag and a mapping of text values, until the
        entry is next written or deleted (:meth:`indexed_values` reads them).

        Phase 1 of the initial sync keeps this way the hub values of the records it
        indexes, tagged with the run, so that phase 2 merges a matched pair without
        reading its hub record again and without holding the records in memory. The
        values are never part of the entry: :meth:`get`, :meth:`entries` and every
        other read return the entries exactly as :meth:`write` would have stored them.

        A store may keep nothing: this default writes the entries with :meth:`write`
        and keeps no values (the engine then reads the hub records again).

        Args:
            entries: As for :meth:`write`.
            kept: By entry id (of an entry in ``entries``): a tag (text) and values
                (property names to text or ``None``).
            cursors: As for :meth:`write`.

        .. versionadded:: 0.3
        """
        self.write(entries, cursors=cursors)

    def write_built(
        self,
        entries: Sequence[Entry],
        *,
        kept: Mapping[str, tuple[str, Mapping[str, str | None]]] | None = None,
        cursors: Sequence[CursorUpdate] = (),
    ) -> None:
        """Write a batch of entries the engine built, with ``cursors``, as :meth:`write`
        does (or :meth:`write_indexed`, with ``kept``), in one transaction.

        The engine calls this for the entries it makes itself on the hot path of a sync
        (the entries of the initial sync's phase 1 and of its matched pairs): each is an
        :class:`~syncengine.index.Entry` whose fields hold the types the class documents,
        and ``kept`` holds text or ``None``. A store may therefore leave out the checks
        :meth:`write` makes of each entry it is handed (the bundled stores do); what it
        cannot store (a value its encoding refuses) still raises
        :class:`~syncengine.IndexStoreError` and stores none of the call. What is
        stored, and what every read returns, is exactly what :meth:`write` (or
        :meth:`write_indexed`) would have stored.

        This default calls :meth:`write_indexed` when ``kept`` is given (and not
        empty), else :meth:`write`, so a store that does not override it works
        unchanged.

        .. versionadded:: 0.3
        """
        if kept:
            self.write_indexed(entries, kept, cursors=cursors)
        else:
            self.write(entries, cursors=cursors)

    def write_indexed_new(
        self,
        sync_id: str,
        object_type: str,
        side: Side,
        records: Sequence[tuple[str, frozenset[str], Mapping[str, str | None] | None]],
        *,
        at: datetime,
        tag: str = "",
        cursors: Sequence[CursorUpdate] = (),
    ) -> None:
        """Store a new entry for each of ``records`` (a record id on ``side``, its
        keys, and values to keep beside the entry or ``None``), with ``cursors``, in one
        transaction, as :meth:`write_built` would store :func:`indexed_entry` of each,
        with the values kept (tagged ``tag``) as :meth:`write_indexed` keeps them.

        The engine calls this for phase 1 of the initial sync (S3) when every entry a
        page of records makes is new: each has the record's keys, the ``indexed``
        history item and nothing else, so a store may write the rows from these parts
        (one text for the page, the keys and the values per record) instead of building
        and encoding an :class:`~syncengine.index.Entry` per record. What it stores,
        and what every read returns, must be exactly what :meth:`write_built` stores,
        whatever is stored now (an entry already stored under one of the ids is
        replaced, as :meth:`write_built` replaces it; a record id given twice is written
        once, the last in the first one's place). This default builds the entries and
        calls :meth:`write_built`.

        .. versionadded:: 0.3
        """
        history = (HistoryItem(at, "indexed", side.value),)
        entries: list[Entry] = []
        kept: dict[str, tuple[str, Mapping[str, str | None]]] = {}
        for record_id, keys, values in records:
            entry = indexed_entry(sync_id, object_type, side, record_id, keys, at, history)
            entries.append(entry)
            if values is not None:
                kept[entry.entry_id] = (tag, values)
            else:
                kept.pop(entry.entry_id, None)
        self.write_built(entries, kept=kept or None, cursors=cursors)

    def write_new(self, entries: Sequence[Entry], *, cursors: Sequence[CursorUpdate] = ()) -> None:
        """Write a batch of entries the engine built and believes new, with ``cursors``,
        as :meth:`write_built` does, in one transaction.

        The engine calls this to announce creates (S8): each entry is pending a create,
        with an entry id it found no entry under. A store may therefore insert the
        entries without first looking for stored rows of the same ids. It must store
        exactly what :meth:`write_built` would, whatever the index holds: an entry the
        index does hold (another process wrote it since, say) is written as
        :meth:`write_built` writes it, never refused, never lost. The bundled SQLite
        and PostgreSQL stores insert the rows, and when one id is taken roll the insert
        back and call :meth:`write_built`; this default calls :meth:`write_built`.

        .. versionadded:: 0.3
        """
        self.write_built(entries, cursors=cursors)

    def write_created(
        self,
        created: Sequence[tuple[Entry, str]],
        *,
        at: datetime,
        mark: str | None,
        history: tuple[HistoryItem, ...],
        entries: Sequence[Entry] = (),
        cursors: Sequence[CursorUpdate] = (),
    ) -> None:
        """Store the outcome of creates that landed, with other entries and ``cursors``,
        in one transaction, as :meth:`write_built` would store ``[*entries, *done]``,
        where ``done`` holds :func:`created_entry` of each ``(announced, record_id)``.

        The engine announces a create (S8) by writing its entry pending, with the
        create's idempotency key (:meth:`write_built`), makes the create, then calls
        this with each announced entry, exactly as it wrote it, and the id the app gave
        the new record. Each announced entry is what the index holds for it: the caller
        holds its record's lease, so nothing wrote it since. A store may therefore
        complete the stored row in place (the id, the state, the mark, the history)
        instead of encoding the whole entry again, and must store exactly what
        :meth:`write_built` would; an entry the index does not hold is written whole.
        The bundled SQLite and PostgreSQL stores complete rows in place, after
        checking what they can of each (its state, the side it is pending on, its
        record ids, its idempotency key), and write whole any entry whose row fails a
        check (PostgreSQL: the whole call); this default calls :meth:`write_built`.

        Args:
            created: Each announced entry (pending on the side it was created on) and
                the id of its new record there.
            at: The entries' ``updated_at``.
            mark: Their ``mark``.
            history: Their whole ``history``.
            entries: Other entries to write in the same transaction (the outcomes of
                the creates that failed), as for :meth:`write_built`.
            cursors: As for :meth:`write`.

        .. versionadded:: 0.3
        """
        done = [created_entry(e, record_id, at, mark, history) for e, record_id in created]
        self.write_built([*entries, *done], cursors=cursors)

    def write_announced(
        self,
        sync_id: str,
        object_type: str,
        side: Side,
        creates: Sequence[Announced],
        *,
        at: datetime,
        cursors: Sequence[CursorUpdate] = (),
    ) -> None:
        """Announce creates on ``side`` (S8) from their parts, with ``cursors``, in one
        transaction: store :func:`announced_entry` of each ``(record_id, keys,
        hub_values, app_values, key)`` of ``creates`` (a record of the other side, to be
        created on ``side`` with the idempotency key ``key``) exactly as
        :meth:`write_new` stores those entries.

        The engine calls this for the initial sync's creates of records no entry holds
        (phase 3), a page at a time: each entry is new, pending, with the decision's
        copies and nothing else, so a store may write the rows from these parts instead
        of building and encoding an :class:`~syncengine.index.Entry` per create.
        What it stores, and what every read returns, must be exactly what
        :meth:`write_new` stores, whatever the index holds (an entry stored under one
        of the ids is written over as :meth:`write_built` writes it; a record given
        twice is written once, the last in the first one's place). This default builds
        the entries and calls :meth:`write_new`; the bundled SQLite store writes the
        rows from the parts.

        .. versionadded:: 0.3
        """
        self.write_new(
            [announced_entry(sync_id, object_type, side, *create, at) for create in creates],
            cursors=cursors,
        )

    def write_announced_created(
        self,
        sync_id: str,
        object_type: str,
        side: Side,
        created: Sequence[tuple[Announced, str]],
        *,
        at: datetime,
        mark: str | None,
        history: tuple[HistoryItem, ...],
        entries: Sequence[Entry] = (),
        cursors: Sequence[CursorUpdate] = (),
    ) -> None:
        """Store the outcome of creates announced by :meth:`write_announced` that
        landed, with other entries and ``cursors``, in one transaction: exactly what
        :meth:`write_created` stores of each ``(announced_entry(...), record_id)``,
        where ``record_id`` is the id ``side`` gave the new record and the parts are
        those the create was announced with.

        The engine calls this right after the creates of a page announced with
        :meth:`write_announced` (the caller still holds their records' leases), so a
        store may complete the stored rows in place from the parts, as
        :meth:`write_created` completes them from the entries. This default builds the
        announced entries (``at`` as their time: :func:`created_entry` does not keep
        it) and calls :meth:`write_created`.

        .. versionadded:: 0.3
        """
        self.write_created(
            [
                (announced_entry(sync_id, object_type, side, *create, at), record_id)
                for create, record_id in created
            ],
            at=at,
            mark=mark,
            history=history,
            entries=entries,
            cursors=cursors,
        )

    def write_synced(
        self,
        copies: Sequence[SyncedCopy],
        updated_at: datetime,
        history_size: int,
        *,
        cursors: Sequence[CursorUpdate] = (),
    ) -> None:
        """Store new copies of synced pairs, with ``cursors``, in one transaction: for
        each ``(entry, hub_values, app_values, item)`` of ``copies``, exactly the entry
        :func:`synced_copy` makes of it (``entry`` as read from this store, with these
        copies, ``updated_at``, and ``item`` appended to its history, which keeps the
        last ``history_size`` items; ``item`` ``None`` leaves the history as it is).

        The engine calls this for most of an incremental pass: the pairs it merged and
        wrote across, whose ids, state, keys, ``matched_by`` and mark stay as they were.
        A store may rewrite such a row in place (only its copies, history and time
        change) instead of building and encoding a whole entry; what it stores, and
        what every read returns, must be exactly what :meth:`write_built` of the
        :func:`synced_copy` entries stores, whatever is stored now (a row changed or
        deleted since it was read is written whole, as :meth:`write_built` would).
        What it cannot store raises :class:`~syncengine.IndexStoreError` and stores
        none of the call.

        The bundled SQLite store rewrites in place the rows stored as read; the PostgreSQL
        store rewrites the rows with one ``UPDATE`` when each still holds the keys and
        state of the entry as read (else it writes the call whole). This default calls
        :meth:`write_built` with the :func:`synced_copy` entries, so a store that does
        not override it works unchanged.

        .. versionadded:: 0.3
        """
        self.write_built(
            [synced_copy(*copy, updated_at, history_size) for copy in copies], cursors=cursors
        )

    def by_record_ids_rows(
        self, sync_id: str, object_type: str, side: Side, record_ids: Iterable[str]
    ) -> dict[str, RowView]:
        """:meth:`by_record_ids`, each entry as a view: a :class:`PairView` of a settled
        synced pair (its ids, keys, ``matched_by``, mark and copies; the whole entry read
        only when :meth:`RowView.entry` asks for it), a :class:`RowView` of any other
        entry.

        The incremental pass reads a page's entries this way: most are synced pairs,
        which it merges from the view and stores with :meth:`write_synced_rows`. This
        default makes a view of each entry :meth:`by_record_ids` returns
        (:meth:`PairView.of`); the SQLite store reads the pairs' views from the rows,
        without building the entries.

        .. versionadded:: 0.3
        """
        of = PairView.of
        return {
            record_id: of(entry)
            for record_id, entry in self.by_record_ids(
                sync_id, object_type, side, record_ids
            ).items()
        }

    def write_synced_rows(
        self,
        rows: Sequence[SyncedRow],
        updated_at: datetime,
        history_size: int,
        *,
        cursors: Sequence[CursorUpdate] = (),
    ) -> None:
        """:meth:`write_synced`, each pair given as the :class:`PairView`
        :meth:`by_record_ids_rows` read: for each ``(view, hub_values, app_values,
        item)`` of ``rows``, store exactly the entry :func:`synced_copy` makes of
        ``(view.entry(), hub_values, app_values, item)``, with ``cursors``, in one
        transaction.

        A store may write the row from what its view kept (the stored history, its time
        moved to ``updated_at``) instead of building and encoding the entry; what it
        stores, and what every read returns, must be exactly what :meth:`write_synced`
        of the views' entries stores, whatever is stored now. The bundled SQLite store
        does so for the views it read; this default calls :meth:`write_synced` with the
        views' entries.

        .. versionadded:: 0.3
        """
        self.write_synced(
            [(view.entry(), hub, app, item) for view, hub, app, item in rows],
            updated_at,
            history_size,
            cursors=cursors,
        )

    def replace_unchanged(
        self, sync_id: str, object_type: str, changes: Sequence[tuple[Entry, Entry]]
    ) -> dict[str, Entry | None]:
        """Write each ``(read, new)`` pair's ``new`` only if the entry stored now is still
        ``read`` (a compare-and-set), in one transaction: no other write of those
        entries may come between the comparison and the write.

        The engine writes this way what it must change in an entry it does not hold
        (another pass holds its record's lease, rule S9): it read the entry, and the
        holder may store its own outcome at any time. An entry the holder changed
        since is not written; the engine reads the answer, builds its change again on
        what is stored now, and calls again.

        Args:
            sync_id: The sync of every entry of ``changes``.
            object_type: Their object type.
            changes: Pairs of one entry as it was read (from this store) and the entry
                to write in its place, both with the same entry id, in ``sync_id`` and
                ``object_type``.

        Returns:
            By entry id, each entry not written and what is stored now in its place
            (``None`` if nothing is). An empty dict: every ``new`` was written.

        Stored means equal (:func:`same_entry`) to ``read``. Raise
        :class:`~syncengine.IndexStoreError` when an entry cannot be stored (then none
        of the call is). This default compares with :meth:`get` and writes with
        :meth:`write`: it is **not atomic** (a write of another process between the two
        is lost); the bundled stores override it with one transaction, and a store
        shared by several passes must too.

        .. versionadded:: 0.3
        """
        pairs = check_changes(sync_id, object_type, changes)
        stored = self.get(sync_id, object_type, list(pairs))
        lost: dict[str, Entry | None] = {}
        written: list[Entry] = []
        for entry_id, (read, new) in pairs.items():
            current = stored.get(entry_id)
            if current is not None and same_entry(read, current):
                written.append(new)
            else:
                lost[entry_id] = current
        if written:
            self.write(written)
        return lost

    def by_keys_indexed(
        self, sync_id: str, object_type: str, keys: Iterable[str], tag: str
    ) -> tuple[dict[str, list[Entry]], dict[str, dict[str, str | None]]]:
        """:meth:`by_keys`, and :meth:`indexed_values` with ``tag`` of the entries it
        found, in one call (a store may read both from the same rows). This default
        makes the two calls.

        .. versionadded:: 0.3
        """
        found = self.by_keys(sync_id, object_type, keys)
        ids = {entry.entry_id: None for held in found.values() for entry in held}
        return found, self.indexed_values(sync_id, object_type, ids, tag) if ids else {}

    def indexed_values(
        self, sync_id: str, object_type: str, entry_ids: Iterable[str], tag: str
    ) -> dict[str, dict[str, str | None]]:
        """The values :meth:`write_indexed` kept with ``tag`` beside these entries, by
        entry id, for the entries not written or deleted since. Entries with no such
        values (kept with another tag, or none, or whose values cannot be read) are
        absent: the caller reads the records instead.

        This default keeps nothing, so it finds nothing.

        .. versionadded:: 0.3
        """
        return {}

    def by_keys_rows(
        self, sync_id: str, object_type: str, keys: Iterable[str], tag: str
    ) -> tuple[dict[str, list[RowView]], dict[str, dict[str, str | None]]]:
        """:meth:`by_keys_indexed`, with each entry found as a :class:`RowView` (one view
        per entry, however many of ``keys`` it holds): its hot fields, the whole entry
        read only when :meth:`RowView.entry` asks for it.

        Phase 2 of the initial sync looks up a page's keys this way: most of what it
        finds are bare entries of hub records (phase 1's), which it completes with
        :meth:`write_matched` without reading them whole. This default makes a view of
        each entry :meth:`by_keys_indexed` returns; the SQLite store reads the views from
        the rows, without building the entries.

        .. versionadded:: 0.3
        """
        found, kept = self.by_keys_indexed(sync_id, object_type, keys, tag)
        views: dict[int, RowView] = {}
        out: dict[str, list[RowView]] = {}
        for key, held in found.items():
            row: list[RowView] = []
            for entry in held:
                view = views.get(id(entry))
                if view is None:
                    view = views[id(entry)] = RowView.of(entry)
                row.append(view)
            out[key] = row
        return out, kept

    def write_matched(
        self,
        matched: Sequence[Matched],
        *,
        mark: str | None,
        updated_at: datetime,
        history_size: int,
        entries: Sequence[Entry] = (),
        cursors: Sequence[CursorUpdate] = (),
    ) -> None:
        """Store matched pairs synced, with other entries and ``cursors``, in one
        transaction, as :meth:`write_built` would store ``[*done, *entries]``, where
        ``done`` holds :func:`matched_entry` of each ``(row, app_id, keys, matched_by,
        hub_values, app_values, items)`` of ``matched`` (with ``mark``, ``updated_at`` and
        ``history_size``).

        The engine calls this for the pairs phase 2 of the initial sync matched with a
        bare hub entry (:attr:`RowView.bare`) read by :meth:`by_keys_rows`, whose records
        it holds the leases of. A store may complete such a row in place (the app id,
        the state, the time, the copies, the history) instead of building and encoding
        the whole entry; what it stores, and what every read returns, must be exactly
        what :meth:`write_built` of the :func:`matched_entry` entries stores, whatever
        is stored now (a row changed since it was read is written whole). What it
        cannot store raises :class:`~syncengine.IndexStoreError` and stores none of the
        call. This default calls :meth:`write_built`.

        .. versionadded:: 0.3
        """
        done = [
            matched_entry(m[0].entry(), *m[1:], mark, updated_at, history_size) for m in matched
        ]
        self.write_built([*done, *entries], cursors=cursors)

    # ---- cursors and settings -------------------------------------------------------
    @abc.abstractmethod
    def cursor(self, sync_id: str, side: Side, object_type: str, name: str = "poll") -> str | None:
        """A stored cursor, or ``None``."""

    def set_cursor(
        self, sync_id: str, side: Side, object_type: str, value: str | None, name: str = "poll"
    ) -> None:
        """Set (or with ``None`` remove) one cursor."""
        self.write(cursors=[CursorUpdate(sync_id, side, object_type, value, name)])

    @abc.abstractmethod
    def get_meta(self, sync_id: str, key: str) -> str | None:
        """A per-sync setting (the engine keeps its on/off switch and run ids here)."""

    @abc.abstractmethod
    def set_meta(self, sync_id: str, key: str, value: str | None) -> None:
        """Set (or with ``None`` remove) a per-sync setting."""

    # ---- leases -------------------------------------------------------------------
    @abc.abstractmethod
    def acquire(
        self,
        sync_id: str,
        object_type: str,
        names: Iterable[str],
        owner: str,
        *,
        until: datetime,
        now: datetime,
    ) -> set[str]:
        """Claim names for ``owner`` until ``until``; return the names now held by it.

        A name is granted when it is free, when its lease expired (``expires <= now``), or
        when ``owner`` already holds it (the lease is then extended). Atomic across
        threads and processes sharing the store.
        """

    @abc.abstractmethod
    def release(
        self,
        sync_id: str,
        owner: str,
        names: Iterable[str] | None = None,
        object_type: str | None = None,
    ) -> None:
        """Give up leases held by ``owner``: the given names (of ``object_type``), or all."""

    # ---- the webhook inbox ------------------------------------------------------------
    def inbox_add(self, items: Sequence[InboxItem]) -> int:
        """Keep events until a pass processed them, in **one transaction**; return how
        many were added.

        Items whose ``(sync_id, key)`` the inbox holds already (a redelivery) are dropped,
        and so is a later item of the same call with a key seen earlier in it. Each added
        item gets the next ``seq`` (never reused, even after removals). Raise
        :class:`~syncengine.IndexStoreError` when they cannot be stored (then none is).

        .. versionadded:: 0.2
        """
        raise NotImplementedError(f"{type(self).__name__} keeps no webhook inbox")

    def inbox(self, sync_id: str, *, after: int = 0, limit: int = 500) -> list[InboxItem]:
        """At most ``limit`` of a sync's kept events with ``seq > after``, oldest first.

        .. versionadded:: 0.2
        """
        raise NotImplementedError(f"{type(self).__name__} keeps no webhook inbox")

    def inbox_remove(self, sync_id: str, seqs: Iterable[int]) -> None:
        """Remove processed events by ``seq``; seqs no longer kept are ignored.

        .. versionadded:: 0.2
        """
        raise NotImplementedError(f"{type(self).__name__} keeps no webhook inbox")

    def inbox_count(self, sync_id: str) -> int:
        """How many events a sync's inbox holds.

        .. versionadded:: 0.2
        """
        raise NotImplementedError(f"{type(self).__name__} keeps no webhook inbox")

    # ---- the pass history ---------------------------------------------------------------
    #: How many passes :meth:`add_pass` keeps per sync (the newest); stores that keep a
    #: history take it as the ``keep_passes`` argument of their constructor.
    keep_passes: int = 1000

    def add_pass(self, record: PassRecord) -> PassRecord:
        """Keep the record of one pass; return it with its ``number`` (the sync's last
        number plus one, starting at 1; the record's own ``number`` is ignored).

        In the same transaction, the sync's oldest records beyond the newest
        :attr:`keep_passes` are deleted. Raise :class:`~syncengine.IndexStoreError` when
        the record cannot be stored (:func:`syncengine.history.check_pass` tells what a
        store must refuse).

        The default raises :class:`NotImplementedError`: a store without a pass history
        still syncs (the engine logs one warning), but ``syncengine status`` and the
        console show no passes.

        .. versionadded:: 0.2
        """
        raise NotImplementedError(f"{type(self).__name__} keeps no pass history")

    def passes(
        self, sync_id: str, *, limit: int = 50, before: int | None = None
    ) -> list[PassRecord]:
        """At most ``limit`` of a sync's kept pass records, newest (highest number) first;
        with ``before``, only those numbered below it (the next page: pass the last
        number of the previous one).

        .. versionadded:: 0.2
        """
        raise NotImplementedError(f"{type(self).__name__} keeps no pass history")

    def holders(self, sync_id: str, object_type: str, names: Iterable[str]) -> dict[str, str]:
        """The owner of each of ``names`` that has a lease (expired or not), by name.

        The engine asks this about names another owner holds, to take over at once the
        leases of a pass whose process is gone (a crash, ``kill -9``) instead of waiting
        for them to expire (rules S8, S9). The default knows no holder: such leases are
        then taken over when they expire.

        .. versionadded:: 0.2
        """
        return {}

    def leases(self, sync_id: str, object_type: str) -> dict[str, tuple[str, datetime]]:
        """Every lease of one object type of a sync (expired or not): by name, its
        owner and when it expires (``until``, as acquired; timezone-aware).

        The engine lists this way the notes a pass leaves for the holder of a record
        it leaves queued (rule S9): they are leases of an object type of their own,
        ``~queued/<object sync>``, few, and kept only while a holder's pass runs. A
        note whose holder died before it read it is turned into a queued mark by the
        next incremental pass. Asked once per object sync and pass, when there is
        mostly none: keep that case cheap (one indexed read of ``(sync, object type)``).
        The default lists none: such notes are then read only by a pass that leases
        their record again (a reconcile finds the change they were about).

        .. versionadded:: 0.3
        """
        return {}

    # ---- lifecycle ----------------------------------------------------------------
    @abc.abstractmethod
    def delete_sync(self, sync_id: str) -> None:
        """Remove every entry, cursor, setting, lease, inbox event and pass record of one
        sync (rule S7)."""

    def close(self) -> None:  # noqa: B027 - optional hook, a no-op by default
        """Release resources (connections, files). Optional."""

    def __enter__(self) -> IndexStore:
        return self

    def __exit__(
        self,
        exc_type: type[BaseException] | None,
        exc: BaseException | None,
        tb: TracebackType | None,
    ) -> None:
        self.close()

    # ---- derived conveniences -----------------------------------------------------
    def count(self, sync_id: str, object_type: str | None = None) -> int:
        """The number of entries of one sync (and object type)."""
        counts = self.counts(sync_id)
        if object_type is not None:
            return sum(counts.get(object_type, {}).values())
        return sum(sum(by_state.values()) for by_state in counts.values())

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
        """One page of :meth:`entries` (same filters, same order) and where the next starts.

        Pass the returned cursor as ``after`` for the next page; ``None`` means there is no
        next page. A cursor is opaque text, valid for this store and these filters.

        This default skips the earlier entries one by one (a late page costs as much as
        reading up to it); the stores syncengine ships override it with keyset paging, so
        that a page deep in a million entries costs what the first does.

        Raises:
            ValueError: ``after`` is not a cursor of this store, or ``limit`` is below 1.

        .. versionadded:: 0.2
        """
        skip = page_start(after, "+")
        check_page_limit(limit)
        found = list(
            itertools.islice(
                self.entries(sync_id, object_type, states=states, since=since, until=until),
                skip,
                skip + limit + 1,
            )
        )
        more = len(found) > limit
        return found[:limit], f"+{skip + limit}" if more else None

    def count_on(self, sync_id: str, object_type: str, side: Side) -> int:
        """The number of entries of one object type holding a record of ``side``: how
        many of that app's records the index knows (the mass-change guard's measure).

        This default reads every entry of the type; stores override it with a count.

        .. versionadded:: 0.2
        """
        column = "hub_id" if side is Side.HUB else "app_id"
        return sum(
            1 for entry in self.entries(sync_id, object_type) if getattr(entry, column) is not None
        )


def indexed_entry(
    sync_id: str,
    object_type: str,
    side: Side,
    record_id: str,
    keys: frozenset[str],
    at: datetime,
    history: tuple[HistoryItem, ...],
) -> Entry:
    """The entry phase 1 of the initial sync makes for a new record of ``side`` (see
    :meth:`IndexStore.write_indexed_new`): its entry id is ``h:`` or ``a:`` and the
    record id, it holds the record id and ``keys``, is ``initial``, updated ``at``, with
    ``history`` (the ``indexed`` item), and every other field at its default.

    .. versionadded:: 0.3
    """
    hub = side is Side.HUB
    return make_entry(
        sync_id,
        object_type,
        f"{'h' if hub else 'a'}:{record_id}",
        at,
        record_id if hub else None,
        None if hub else record_id,
        RecordState.INITIAL,
        keys,
        None,
        None,
        None,
        None,
        None,
        "",
        None,
        None,
        0,
        None,
        NO_LINKS,
        None,
        history,
    )


def announced_entry(
    sync_id: str,
    object_type: str,
    side: Side,
    record_id: str,
    keys: frozenset[str],
    hub_values: Mapping[str, Any] | None,
    app_values: Mapping[str, Any] | None,
    key: str,
    at: datetime,
) -> Entry:
    """The entry the engine announces before it creates on ``side`` the record
    ``record_id`` of the other side (see :meth:`IndexStore.write_announced`): its entry
    id is ``h:`` or ``a:`` and the record id, it holds that id and ``keys``, is
    ``initial``, updated ``at``, with the copies ``hub_values`` and ``app_values``,
    pending on ``side`` with the idempotency key ``key``, and every other field at its
    default.

    .. versionadded:: 0.3
    """
    hub = side is Side.APP  # the record is the hub's
    return make_entry(
        sync_id,
        object_type,
        f"{'h' if hub else 'a'}:{record_id}",
        at,
        record_id if hub else None,
        None if hub else record_id,
        RecordState.INITIAL,
        keys,
        None,
        hub_values,
        app_values,
        None,
        None,
        "",
        side,
        key,
        0,
        None,
        NO_LINKS,
        None,
        (),
    )


def created_entry(
    announced: Entry,
    record_id: str,
    at: datetime,
    mark: str | None,
    history: tuple[HistoryItem, ...],
) -> Entry:
    """The entry of a create that landed (see :meth:`IndexStore.write_created`):
    ``announced``, pending on the side it was created on, with ``record_id`` as its
    record id on that side, synced (no longer pending, its key and failure fields
    cleared), updated ``at``, with ``mark`` and ``history``.

    Raises:
        IndexStoreError: ``announced`` is not pending a create.

    .. versionadded:: 0.3
    """
    side = announced.pending
    if side is None:
        raise IndexStoreError(
            f"write_created: entry {announced.entry_id!r:.80} is not pending a create"
        )
    hub = side is Side.HUB
    return Entry(
        announced.sync_id,
        announced.object_type,
        announced.entry_id,
        at,
        record_id if hub else announced.hub_id,
        announced.app_id if hub else record_id,
        RecordState.SYNCED,
        announced.keys,
        announced.matched_by,
        announced.hub_values,
        announced.app_values,
        mark=mark,
        links=announced.links,
        deleted=announced.deleted,
        history=history,
    )


def synced_copy(
    entry: Entry,
    hub_values: Mapping[str, Any],
    app_values: Mapping[str, Any],
    item: HistoryItem | None,
    updated_at: datetime,
    history_size: int,
) -> Entry:
    """The entry :meth:`IndexStore.write_synced` stores for one copy: ``entry`` (a
    synced pair) with the copies ``hub_values`` and ``app_values``, ``updated_at``, and
    ``item`` appended to its history (the last ``history_size`` items kept; ``None``:
    the history as it is); its ids, keys, ``matched_by``, mark and links as they are,
    and nothing failed, excluded, pending or deleted."""
    history = entry.history if item is None else (*entry.history, item)[-history_size:]
    return make_entry(
        entry.sync_id,
        entry.object_type,
        entry.entry_id,
        updated_at,
        entry.hub_id,
        entry.app_id,
        RecordState.SYNCED,
        entry.keys,
        entry.matched_by,
        hub_values,
        app_values,
        None,
        None,
        "",
        None,
        None,
        0,
        entry.mark,
        entry.links,
        None,
        history,
    )


def is_bare(entry: Entry) -> bool:
    """Whether ``entry`` holds nothing but its ids, state, keys, mark and history (see
    :attr:`RowView.bare`)."""
    return (
        entry.hub_values is None
        and entry.app_values is None
        and entry.matched_by is None
        and entry.category is None
        and entry.reason is None
        and entry.message == ""
        and entry.pending is None
        and entry.pending_key is None
        and entry.attempts == 0
        and not entry.links
        and entry.deleted is None
    )


def is_pair(entry: Entry) -> bool:
    """Whether ``entry`` is a settled synced pair (see :class:`PairView`)."""
    return (
        type(entry) is Entry
        and entry.state is RecordState.SYNCED
        and type(entry.hub_id) is str
        and type(entry.app_id) is str
        and entry.hub_values is not None
        and entry.app_values is not None
        and entry.pending is None
        and entry.deleted is None
        and entry.category is None
        and entry.reason is None
        and entry.message == ""
        and entry.pending_key is None
        and entry.attempts == 0
        and not entry.links
    )


def matched_entry(
    entry: Entry,
    app_id: str,
    keys: frozenset[str],
    matched_by: str,
    hub_values: Mapping[str, Any],
    app_values: Mapping[str, Any],
    items: tuple[HistoryItem, ...],
    mark: str | None,
    updated_at: datetime,
    history_size: int,
) -> Entry:
    """The entry :meth:`IndexStore.write_matched` stores for one pair: ``entry`` (a hub
    record's) synced with the app record ``app_id``: these keys, ``matched_by``,
    copies, ``mark`` and ``updated_at``, ``items`` appended to its history (the last
    ``history_size`` items kept); nothing failed, excluded, pending or deleted; its
    links as they are.

    .. versionadded:: 0.3
    """
    return make_entry(
        entry.sync_id,
        entry.object_type,
        entry.entry_id,
        updated_at,
        entry.hub_id,
        app_id,
        RecordState.SYNCED,
        keys,
        matched_by,
        hub_values,
        app_values,
        None,
        None,
        "",
        None,
        None,
        0,
        mark,
        entry.links,
        None,
        (*entry.history, *items)[-history_size:],
    )


def same_entry(read: Entry, stored: Entry) -> bool:
    """Whether ``stored`` is the entry ``read`` (for :meth:`IndexStore.replace_unchanged`):
    equal, of the same class, and (values holding NaN, which equals nothing) of the
    same representation.

    .. versionadded:: 0.3
    """
    if type(read) is not type(stored):
        return False
    return read == stored or repr(read) == repr(stored)


def check_changes(
    sync_id: str, object_type: str, changes: Iterable[tuple[Entry, Entry]]
) -> dict[str, tuple[Entry, Entry]]:
    """The pairs of a :meth:`IndexStore.replace_unchanged` call by entry id; refuses a
    pair that is not two entries of ``sync_id`` and ``object_type`` with one entry id,
    or an entry id given twice."""
    pairs: dict[str, tuple[Entry, Entry]] = {}
    for change in changes:
        if (
            type(change) is not tuple
            or len(change) != 2
            or not all(isinstance(e, Entry) for e in change)
        ):
            raise IndexStoreError(
                f"replace_unchanged takes (read, new) pairs of entries, got {change!r:.80}"
            )
        read, new = change
        for entry in change:
            if (entry.sync_id, entry.object_type, entry.entry_id) != (
                sync_id,
                object_type,
                read.entry_id,
            ):
                raise IndexStoreError(
                    f"replace_unchanged of ({sync_id!r}, {object_type!r}): the pair of entry "
                    f"{read.entry_id!r:.80} holds entry ({entry.sync_id!r:.80}, "
                    f"{entry.object_type!r:.80}, {entry.entry_id!r:.80})"
                )
        if read.entry_id in pairs:
            raise IndexStoreError(
                f"replace_unchanged: entry {read.entry_id!r:.80} is given twice in one call"
            )
        pairs[read.entry_id] = (read, new)
    return pairs


def page_start(after: str | None, prefix: str = "") -> int:
    """The position a page cursor of :meth:`IndexStore.entries_page` names (0: none).

    Raises:
        ValueError: ``after`` is not ``prefix`` followed by ASCII digits.

    .. versionadded:: 0.2
    """
    if after is None:
        return 0
    digits = after.removeprefix(prefix) if prefix and after.startswith(prefix) else None
    if prefix == "":
        digits = after
    if digits is None or not (digits.isascii() and digits.isdigit()) or len(digits) > 20:
        raise ValueError(f"{after[:40]!r} is not a page cursor of this index store")
    return int(digits)


def keyset_page(rows: Iterable[tuple[int, Entry]], limit: int) -> tuple[list[Entry], str | None]:
    """The page of :meth:`IndexStore.entries_page` that ``rows`` start (each entry with
    its position, in order): at most ``limit`` entries, and the cursor of the next page
    (the last position shown), or ``None`` when no entry follows.
    """
    found = list(itertools.islice(rows, limit + 1))
    more = len(found) > limit
    return [e for _, e in found[:limit]], str(found[limit - 1][0]) if more else None


def check_page_limit(limit: int) -> None:
    """Refuse a page size below 1 (or not an integer).

    .. versionadded:: 0.2
    """
    if isinstance(limit, bool) or not isinstance(limit, int) or limit < 1:
        raise ValueError(f"a page holds at least 1 entry; got limit={limit!r}")


def keeps_inbox(store: IndexStore) -> bool:
    """Whether ``store`` implements the webhook inbox (every store syncengine ships does).

    .. versionadded:: 0.2
    """
    return _implements(store, ("inbox_add", "inbox", "inbox_remove", "inbox_count"))


def keeps_history(store: IndexStore) -> bool:
    """Whether ``store`` implements the pass history (every store syncengine ships does).

    .. versionadded:: 0.2
    """
    return _implements(store, ("add_pass", "passes"))


def _implements(store: object, names: tuple[str, ...]) -> bool:
    """Whether ``store``'s class defines each of ``names`` itself (not the base's
    ``NotImplementedError`` default; a duck-typed store may lack them altogether)."""
    kind = type(store)
    for name in names:
        found = getattr(kind, name, None)
        if found is None or found is getattr(IndexStore, name):
            return False
    return True
