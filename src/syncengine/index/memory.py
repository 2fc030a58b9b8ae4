"""MemoryIndexStore: the reference index store, kept in process memory.

It is both the reference implementation of :class:`~syncengine.index.IndexStore` (the
simplest code that passes the conformance kit) and the test double for the engine's own
tests. It keeps no copies: entries are frozen values and are handed out as written.

Every lookup costs O(batch) through secondary indexes (by hub id, by app id, by key);
:meth:`MemoryIndexStore.counts` reads maintained counters. One lock guards everything.
"""

from __future__ import annotations

import bisect
import itertools
import threading
from collections import Counter
from collections.abc import Collection, Iterable, Iterator, Mapping, Sequence
from datetime import datetime
from typing import Final, final

import attrs
from typing_extensions import override

from syncengine.errors import IndexStoreError
from syncengine.history import KEEP_PASSES, PassRecord, check_pass
from syncengine.index import _codec, _rowformat
from syncengine.index._entry import (
    CursorUpdate,
    Entry,
    HistoryItem,
    InboxItem,
    check_inbox_items,
)
from syncengine.index.base import (
    IndexStore,
    check_changes,
    check_page_limit,
    created_entry,
    keyset_page,
    page_start,
    same_entry,
)
from syncengine.records import Side
from syncengine.states import RecordState

__all__ = ["MemoryIndexStore"]

_CHUNK: Final = 256

_Id = tuple[str, str]  # (object_type, entry_id)
_Name = tuple[str, str]  # (object_type, record id / key / lease name)


def _add(index: dict[_Name, dict[str, None]], name: _Name, entry_id: str) -> None:
    index.setdefault(name, {})[entry_id] = None


def _discard(index: dict[_Name, dict[str, None]], name: _Name, entry_id: str) -> None:
    holders = index.get(name)
    if holders is not None:
        holders.pop(entry_id, None)
        if not holders:
            del index[name]


@attrs.define
class _Sync:
    """Everything one sync keeps: entries, their order and indexes, cursors, leases."""

    #: Entries and the sequence number of their first write.
    entries: dict[_Id, tuple[int, Entry]] = attrs.Factory(dict)
    #: Sequence numbers in increasing order and the entry written then (``None`` once
    #: deleted), so that an iterator resumes after the last number it saw.
    seqs: list[int] = attrs.Factory(list)
    order: list[_Id | None] = attrs.Factory(list)
    dead: int = 0
    by_hub: dict[_Name, dict[str, None]] = attrs.Factory(dict)
    by_app: dict[_Name, dict[str, None]] = attrs.Factory(dict)
    by_key: dict[_Name, dict[str, None]] = attrs.Factory(dict)
    counts: dict[str, Counter[RecordState]] = attrs.Factory(dict)
    cursors: dict[tuple[Side, str, str], str] = attrs.Factory(dict)
    meta: dict[str, str] = attrs.Factory(dict)
    #: Values kept beside entries (write_indexed) until their next write or deletion.
    kept: dict[_Id, tuple[str, dict[str, str | None]]] = attrs.Factory(dict)
    leases: dict[_Name, tuple[str, datetime]] = attrs.Factory(dict)
    #: The webhook inbox: items by seq (in arrival order), and the keys held.
    inbox: dict[int, InboxItem] = attrs.Factory(dict)
    inbox_keys: dict[str, int] = attrs.Factory(dict)
    #: The pass history, oldest first (numbered 1, 2, 3… in order).
    passes: list[PassRecord] = attrs.Factory(list)

    def index(self, entry: Entry, sign: int) -> None:
        """Add (``sign=1``) or remove (``sign=-1``) ``entry`` from indexes and counters."""
        ot, eid = entry.object_type, entry.entry_id
        change = _add if sign > 0 else _discard
        if entry.hub_id is not None:
            change(self.by_hub, (ot, entry.hub_id), eid)
        if entry.app_id is not None:
            change(self.by_app, (ot, entry.app_id), eid)
        for key in entry.keys:
            change(self.by_key, (ot, key), eid)
        counter = self.counts.setdefault(ot, Counter())
        counter[entry.state] += sign
        if counter[entry.state] <= 0:
            del counter[entry.state]
            if not counter:
                del self.counts[ot]

    def forget(self, seq: int) -> None:
        """Mark the order slot of ``seq`` dead and compact when half are dead."""
        pos = bisect.bisect_left(self.seqs, seq)
        self.order[pos] = None
        self.dead += 1
        if self.dead > 64 and self.dead * 2 > len(self.order):
            live = [(s, i) for s, i in zip(self.seqs, self.order, strict=True) if i is not None]
            self.seqs = [s for s, _ in live]
            self.order = [i for _, i in live]
            self.dead = 0


def _aware(name: str, value: datetime | None) -> int | None:
    if value is None:
        return None
    try:
        return _codec.to_micros(value)
    except _codec.CodecError as error:
        raise IndexStoreError(f"{name}: {error}") from None


@final
class MemoryIndexStore(IndexStore):
    """An index store in process memory: the reference implementation and test double.

    Nothing survives the process. Thread-safe (one lock). Entries are yielded and
    returned as they were written (they are frozen values).

    Args:
        keep_passes: How many pass records :meth:`add_pass` keeps per sync (the newest).

    Example::

        store = MemoryIndexStore()
        engine = SyncEngine(hub, app, store, config)

    .. versionadded:: 0.1
    """

    def __init__(self, *, keep_passes: int = KEEP_PASSES) -> None:
        self.keep_passes = _rowformat.check_keep_passes(keep_passes)
        self._lock = threading.RLock()
        self._syncs: dict[str, _Sync] = {}
        self._seq = 0
        self._inbox_seq = 0

    def _sync(self, sync_id: str) -> _Sync:
        sync = self._syncs.get(sync_id)
        if sync is None:
            sync = self._syncs[sync_id] = _Sync()
        return sync

    # ---- lookups ------------------------------------------------------------------
    @override
    def get(self, sync_id: str, object_type: str, entry_ids: Iterable[str]) -> dict[str, Entry]:
        with self._lock:
            sync = self._syncs.get(sync_id)
            if sync is None:
                return {}
            found: dict[str, Entry] = {}
            for entry_id in entry_ids:
                slot = sync.entries.get((object_type, entry_id))
                if slot is not None:
                    found[entry_id] = slot[1]
            return found

    @override
    def by_record_ids(
        self, sync_id: str, object_type: str, side: Side, record_ids: Iterable[str]
    ) -> dict[str, Entry]:
        with self._lock:
            sync = self._syncs.get(sync_id)
            if sync is None:
                return {}
            index = sync.by_hub if side is Side.HUB else sync.by_app
            found: dict[str, Entry] = {}
            for record_id in record_ids:
                holders = index.get((object_type, record_id))
                if holders:
                    found[record_id] = sync.entries[(object_type, next(iter(holders)))][1]
            return found

    @override
    def by_keys(
        self, sync_id: str, object_type: str, keys: Iterable[str]
    ) -> dict[str, list[Entry]]:
        with self._lock:
            sync = self._syncs.get(sync_id)
            if sync is None:
                return {}
            found: dict[str, list[Entry]] = {}
            for key in keys:
                holders = sync.by_key.get((object_type, key))
                if holders:
                    slots = sorted(sync.entries[(object_type, eid)] for eid in holders)
                    found[key] = [entry for _, entry in slots]
            return found

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
        # Checked now, not at the first next(): a bad argument fails where it is passed.
        _aware("since", since)
        _aware("until", until)
        wanted = None if states is None else frozenset(states)
        rows = self._entries(sync_id, object_type, wanted, since, until, pending)
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
        # Keyset paging: the cursor is the last sequence number shown.
        start = page_start(after)
        check_page_limit(limit)
        _aware("since", since)
        _aware("until", until)
        wanted = None if states is None else frozenset(states)
        rows = self._entries(sync_id, object_type, wanted, since, until, None, start)
        return keyset_page(rows, limit)

    def _entries(
        self,
        sync_id: str,
        object_type: str | None,
        states: frozenset[RecordState] | None,
        since: datetime | None,
        until: datetime | None,
        pending: bool | None,
        start: int = 0,
    ) -> Iterator[tuple[int, Entry]]:
        """Matching entries after sequence number ``start``, each with its number."""
        last = start
        while True:
            chunk: list[tuple[int, Entry]] = []
            with self._lock:
                sync = self._syncs.get(sync_id)
                if sync is None:
                    return
                pos = bisect.bisect_right(sync.seqs, last)
                end = len(sync.seqs)
                while pos < end and len(chunk) < _CHUNK:
                    ident = sync.order[pos]
                    last = sync.seqs[pos]
                    pos += 1
                    if ident is None:
                        continue
                    entry = sync.entries[ident][1]
                    if (
                        (object_type is None or entry.object_type == object_type)
                        and (states is None or entry.state in states)
                        and (since is None or entry.updated_at >= since)
                        and (until is None or entry.updated_at < until)
                        and (pending is None or (entry.pending is not None) is pending)
                    ):
                        chunk.append((last, entry))
                exhausted = pos >= end
            yield from chunk
            if exhausted:
                return

    @override
    def counts(self, sync_id: str) -> dict[str, dict[RecordState, int]]:
        with self._lock:
            sync = self._syncs.get(sync_id)
            if sync is None:
                return {}
            return {ot: dict(counter) for ot, counter in sync.counts.items()}

    # ---- writes -------------------------------------------------------------------
    @override
    def write(
        self,
        entries: Sequence[Entry] = (),
        *,
        delete: Sequence[tuple[str, str, str]] = (),
        cursors: Sequence[CursorUpdate] = (),
    ) -> None:
        self._write_all(entries, delete, cursors, None)

    @override
    def write_indexed(
        self,
        entries: Sequence[Entry],
        kept: Mapping[str, tuple[str, Mapping[str, str | None]]],
        *,
        cursors: Sequence[CursorUpdate] = (),
    ) -> None:
        self._write_all(entries, (), cursors, _rowformat.check_kept(kept))

    @override
    def write_built(
        self,
        entries: Sequence[Entry],
        *,
        kept: Mapping[str, tuple[str, Mapping[str, str | None]]] | None = None,
        cursors: Sequence[CursorUpdate] = (),
    ) -> None:
        # Entries the engine built: without write's per-entry checks (encoding still
        # refuses what it cannot store).
        self._write_all(entries, (), cursors, kept or None, built=True)

    @override
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
        # Entries are kept as objects: the created ones are built and written in one
        # batch with the others, without write's per-entry checks (as write_built).
        done = [created_entry(e, record_id, at, mark, history) for e, record_id in created]
        self._write_all([*entries, *done], (), cursors, None, built=True)

    @override
    def replace_unchanged(
        self, sync_id: str, object_type: str, changes: Sequence[tuple[Entry, Entry]]
    ) -> dict[str, Entry | None]:
        pairs = check_changes(sync_id, object_type, changes)
        with self._lock:  # the comparison and the write under one lock: atomic
            sync = self._syncs.get(sync_id)
            lost: dict[str, Entry | None] = {}
            written: list[Entry] = []
            for entry_id, (read, new) in pairs.items():
                slot = None if sync is None else sync.entries.get((object_type, entry_id))
                if slot is not None and same_entry(read, slot[1]):
                    written.append(new)
                else:
                    lost[entry_id] = None if slot is None else slot[1]
            if written:
                self._write_all(written, (), (), None)
            return lost

    @override
    def indexed_values(
        self, sync_id: str, object_type: str, entry_ids: Iterable[str], tag: str
    ) -> dict[str, dict[str, str | None]]:
        with self._lock:
            sync = self._syncs.get(sync_id)
            found: dict[str, dict[str, str | None]] = {}
            if sync is None or not sync.kept:
                return found
            for entry_id in entry_ids:
                got = sync.kept.get((object_type, entry_id))
                if got is not None and got[0] == tag:
                    found[entry_id] = dict(got[1])
            return found

    def _write_all(
        self,
        entries: Sequence[Entry],
        delete: Sequence[tuple[str, str, str]],
        cursors: Sequence[CursorUpdate],
        kept: Mapping[str, tuple[str, Mapping[str, str | None]]] | None,
        *,
        built: bool = False,
    ) -> None:
        # Validate everything first, then apply: applying cannot fail, so a batch is
        # stored whole or not at all.
        entries = list(entries)
        delete = list(delete)
        cursors = list(cursors)
        try:
            for entry in [] if built else entries:
                _codec.check_entry(entry)
        except _codec.CodecError as error:
            raise IndexStoreError(str(error)) from error
        _rowformat.check_deletes(delete)
        _rowformat.check_cursors(cursors)
        with self._lock:
            for entry in entries:
                self._put(entry)
                sync = self._syncs[entry.sync_id]
                ident = (entry.object_type, entry.entry_id)
                got = kept.get(entry.entry_id) if kept else None
                if got is not None:
                    sync.kept[ident] = (got[0], dict(got[1]))  # the caller's dict may change
                elif sync.kept:
                    sync.kept.pop(ident, None)
            for sync_id, object_type, entry_id in delete:
                self._delete(sync_id, object_type, entry_id)
            for update in cursors:
                sync = self._sync(update.sync_id)
                where = (update.side, update.object_type, update.name)
                if update.value is None:
                    sync.cursors.pop(where, None)
                else:
                    sync.cursors[where] = update.value

    def _put(self, entry: Entry) -> None:
        sync = self._sync(entry.sync_id)
        ident = (entry.object_type, entry.entry_id)
        slot = sync.entries.get(ident)
        if slot is None:
            self._seq += 1
            seq = self._seq
            sync.seqs.append(seq)
            sync.order.append(ident)
        else:
            seq = slot[0]
            sync.index(slot[1], -1)
        sync.entries[ident] = (seq, entry)
        sync.index(entry, 1)

    def _delete(self, sync_id: str, object_type: str, entry_id: str) -> None:
        sync = self._syncs.get(sync_id)
        if sync is None:
            return
        slot = sync.entries.pop((object_type, entry_id), None)
        sync.kept.pop((object_type, entry_id), None)
        if slot is not None:
            sync.index(slot[1], -1)
            sync.forget(slot[0])

    # ---- cursors and settings -------------------------------------------------------
    @override
    def cursor(self, sync_id: str, side: Side, object_type: str, name: str = "poll") -> str | None:
        with self._lock:
            sync = self._syncs.get(sync_id)
            return None if sync is None else sync.cursors.get((side, object_type, name))

    @override
    def get_meta(self, sync_id: str, key: str) -> str | None:
        with self._lock:
            sync = self._syncs.get(sync_id)
            return None if sync is None else sync.meta.get(key)

    @override
    def set_meta(self, sync_id: str, key: str, value: str | None) -> None:
        if value is not None and not isinstance(value, str):
            raise IndexStoreError(f"meta values are str or None, got {value!r:.80}")
        with self._lock:
            if value is None:
                sync = self._syncs.get(sync_id)
                if sync is not None:
                    sync.meta.pop(key, None)
            else:
                self._sync(sync_id).meta[key] = value

    # ---- leases -------------------------------------------------------------------
    @override
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
        _aware("until", until)
        _aware("now", now)
        with self._lock:
            leases = self._sync(sync_id).leases
            granted: set[str] = set()
            for name in names:
                held = leases.get((object_type, name))
                if held is None or held[1] <= now or held[0] == owner:
                    leases[(object_type, name)] = (owner, until)
                    granted.add(name)
            return granted

    @override
    def release(
        self,
        sync_id: str,
        owner: str,
        names: Iterable[str] | None = None,
        object_type: str | None = None,
    ) -> None:
        with self._lock:
            sync = self._syncs.get(sync_id)
            if sync is None:
                return
            wanted = None if names is None else set(names)
            for where, (holder, _) in list(sync.leases.items()):
                if (
                    holder == owner
                    and (object_type is None or where[0] == object_type)
                    and (wanted is None or where[1] in wanted)
                ):
                    del sync.leases[where]

    # ---- the webhook inbox ------------------------------------------------------------
    @override
    def inbox_add(self, items: Sequence[InboxItem]) -> int:
        checked = check_inbox_items(items)
        added = 0
        with self._lock:
            for item in checked:
                sync = self._sync(item.sync_id)
                if item.key in sync.inbox_keys:
                    continue
                self._inbox_seq += 1
                sync.inbox[self._inbox_seq] = attrs.evolve(item, seq=self._inbox_seq)
                sync.inbox_keys[item.key] = self._inbox_seq
                added += 1
        return added

    @override
    def inbox(self, sync_id: str, *, after: int = 0, limit: int = 500) -> list[InboxItem]:
        with self._lock:
            sync = self._syncs.get(sync_id)
            if sync is None or limit < 1:
                return []
            # Seqs are added in increasing order and dicts keep insertion order.
            return list(itertools.islice((i for s, i in sync.inbox.items() if s > after), limit))

    @override
    def inbox_remove(self, sync_id: str, seqs: Iterable[int]) -> None:
        with self._lock:
            sync = self._syncs.get(sync_id)
            if sync is None:
                return
            for seq in seqs:
                item = sync.inbox.pop(seq, None)
                if item is not None:
                    del sync.inbox_keys[item.key]

    @override
    def inbox_count(self, sync_id: str) -> int:
        with self._lock:
            sync = self._syncs.get(sync_id)
            return 0 if sync is None else len(sync.inbox)

    # ---- the pass history ---------------------------------------------------------------
    @override
    def add_pass(self, record: PassRecord) -> PassRecord:
        check_pass(record)
        with self._lock:
            kept = self._sync(record.sync_id).passes
            number = kept[-1].number + 1 if kept else 1
            record = attrs.evolve(record, number=number)
            kept.append(record)
            del kept[: max(0, len(kept) - self.keep_passes)]
            return record

    @override
    def passes(
        self, sync_id: str, *, limit: int = 50, before: int | None = None
    ) -> list[PassRecord]:
        with self._lock:
            sync = self._syncs.get(sync_id)
            if sync is None or limit < 1:
                return []
            bound = _rowformat.before(before)
            kept = sync.passes
            kept = kept[: bisect.bisect_left([r.number for r in kept], bound)]
            return kept[-limit:][::-1]

    @override
    def holders(self, sync_id: str, object_type: str, names: Iterable[str]) -> dict[str, str]:
        with self._lock:
            sync = self._syncs.get(sync_id)
            if sync is None:
                return {}
            return {
                name: held[0]
                for name in names
                if (held := sync.leases.get((object_type, name))) is not None
            }

    @override
    def leases(self, sync_id: str, object_type: str) -> dict[str, tuple[str, datetime]]:
        with self._lock:
            sync = self._syncs.get(sync_id)
            if sync is None or not sync.leases:
                return {}
            return {name: held for (kind, name), held in sync.leases.items() if kind == object_type}

    # ---- lifecycle ----------------------------------------------------------------
    @override
    def delete_sync(self, sync_id: str) -> None:
        with self._lock:
            self._syncs.pop(sync_id, None)
