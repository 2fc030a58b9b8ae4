"""A copy-on-write view of an index store, for dry runs (rule R9).

A dry run decides exactly as a real pass would, and a pass reads back what it wrote
earlier in the same pass (phase 2 of the initial sync reads the hub index phase 1 wrote).
:class:`OverlayIndexStore` lets it: reads go to the overlay first and then to the real
store; writes stay in the overlay and are thrown away with it. The real store is never
written. The overlay grows with what the dry run would have written.
"""

from __future__ import annotations

from collections.abc import Collection, Iterable, Iterator, Sequence
from datetime import datetime
from typing import final

from typing_extensions import override

from syncengine.index._entry import CursorUpdate, Entry, InboxItem
from syncengine.index.base import IndexStore, keeps_inbox
from syncengine.records import Side
from syncengine.states import RecordState

__all__ = ["OverlayIndexStore"]

_Key = tuple[str, str, str]


@final
class OverlayIndexStore(IndexStore):
    """Reads through to ``base``; keeps every write to itself."""

    def __init__(self, base: IndexStore) -> None:
        self._base = base
        self._entries: dict[_Key, Entry | None] = {}
        self._order: dict[_Key, int] = {}
        self._by_id: dict[tuple[str, str, Side, str], _Key] = {}
        self._by_key: dict[tuple[str, str, str], set[_Key]] = {}
        self._cursors: dict[tuple[str, Side, str, str], str | None] = {}
        self._meta: dict[tuple[str, str], str | None] = {}
        self._deltas: dict[tuple[str, str, RecordState], int] = {}
        self._side_deltas: dict[tuple[str, str, Side], int] = {}

    def _lookup(self, key: _Key) -> Entry | None:
        if key in self._entries:
            return self._entries[key]
        return self._base.get(key[0], key[1], [key[2]]).get(key[2])

    @override
    def get(self, sync_id: str, object_type: str, entry_ids: Iterable[str]) -> dict[str, Entry]:
        ids = list(entry_ids)
        missing = [i for i in ids if (sync_id, object_type, i) not in self._entries]
        found = self._base.get(sync_id, object_type, missing) if missing else {}
        for i in ids:
            key = (sync_id, object_type, i)
            if key in self._entries:
                entry = self._entries[key]
                if entry is not None:
                    found[i] = entry
        return found

    @override
    def by_record_ids(
        self, sync_id: str, object_type: str, side: Side, record_ids: Iterable[str]
    ) -> dict[str, Entry]:
        ids = list(record_ids)
        base = self._base.by_record_ids(sync_id, object_type, side, ids)
        result: dict[str, Entry] = {}
        for record_id, entry in base.items():
            key = (sync_id, object_type, entry.entry_id)
            if key not in self._entries:
                result[record_id] = entry
        for record_id in ids:
            mine = self._by_id.get((sync_id, object_type, side, record_id))
            if mine is not None:
                current = self._entries.get(mine)
                if current is not None and current.id_on(side) == record_id:
                    result[record_id] = current
        return result

    @override
    def by_keys(
        self, sync_id: str, object_type: str, keys: Iterable[str]
    ) -> dict[str, list[Entry]]:
        wanted = list(keys)
        base = self._base.by_keys(sync_id, object_type, wanted)
        result: dict[str, list[Entry]] = {}
        for k in wanted:
            entries = [
                e
                for e in base.get(k, [])
                if (sync_id, object_type, e.entry_id) not in self._entries
            ]
            for key in sorted(
                self._by_key.get((sync_id, object_type, k), ()), key=self._order.__getitem__
            ):
                entry = self._entries.get(key)
                if entry is not None and k in entry.keys:
                    entries.append(entry)
            if entries:
                result[k] = entries
        return result

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
        def wanted(entry: Entry) -> bool:
            return (
                (states is None or entry.state in states)
                and (since is None or entry.updated_at >= since)
                and (until is None or entry.updated_at < until)
                and (pending is None or (entry.pending is not None) == pending)
            )

        for entry in self._base.entries(sync_id, object_type):
            key = (sync_id, entry.object_type, entry.entry_id)
            current = self._entries.get(key, entry)
            if current is not None and wanted(current):
                yield current
        for key in list(self._order):
            if key[0] != sync_id or (object_type is not None and key[1] != object_type):
                continue
            if self._base.get(key[0], key[1], [key[2]]):
                continue  # yielded above
            current = self._entries.get(key)
            if current is not None and wanted(current):
                yield current

    @override
    def counts(self, sync_id: str) -> dict[str, dict[RecordState, int]]:
        counts = {t: dict(by_state) for t, by_state in self._base.counts(sync_id).items()}
        for (sid, object_type, state), delta in self._deltas.items():
            if sid == sync_id:
                by_state = counts.setdefault(object_type, {})
                by_state[state] = by_state.get(state, 0) + delta
        return {t: {s: n for s, n in by_state.items() if n} for t, by_state in counts.items()}

    @override
    def count_on(self, sync_id: str, object_type: str, side: Side) -> int:
        delta = self._side_deltas.get((sync_id, object_type, side), 0)
        return self._base.count_on(sync_id, object_type, side) + delta

    def _count(self, entry: Entry, delta: int) -> None:
        key = (entry.sync_id, entry.object_type, entry.state)
        self._deltas[key] = self._deltas.get(key, 0) + delta
        for side in Side:
            if entry.id_on(side) is not None:
                on = (entry.sync_id, entry.object_type, side)
                self._side_deltas[on] = self._side_deltas.get(on, 0) + delta

    @override
    def write(
        self,
        entries: Sequence[Entry] = (),
        *,
        delete: Sequence[tuple[str, str, str]] = (),
        cursors: Sequence[CursorUpdate] = (),
    ) -> None:
        for entry in entries:
            key = (entry.sync_id, entry.object_type, entry.entry_id)
            old = self._lookup(key)
            if old is not None:
                self._count(old, -1)
            self._count(entry, +1)
            self._order.setdefault(key, len(self._order))
            self._entries[key] = entry
            for side in Side:
                record_id = entry.id_on(side)
                if record_id is not None:
                    self._by_id[(entry.sync_id, entry.object_type, side, record_id)] = key
            for k in entry.keys:
                self._by_key.setdefault((entry.sync_id, entry.object_type, k), set()).add(key)
        for key in delete:
            old = self._lookup(key)
            if old is not None:
                self._count(old, -1)
            self._order.setdefault(key, len(self._order))
            self._entries[key] = None
        for cursor in cursors:
            self._cursors[(cursor.sync_id, cursor.side, cursor.object_type, cursor.name)] = (
                cursor.value
            )

    @override
    def cursor(self, sync_id: str, side: Side, object_type: str, name: str = "poll") -> str | None:
        key = (sync_id, side, object_type, name)
        if key in self._cursors:
            return self._cursors[key]
        return self._base.cursor(sync_id, side, object_type, name)

    @override
    def get_meta(self, sync_id: str, key: str) -> str | None:
        if (sync_id, key) in self._meta:
            return self._meta[(sync_id, key)]
        return self._base.get_meta(sync_id, key)

    @override
    def set_meta(self, sync_id: str, key: str, value: str | None) -> None:
        self._meta[(sync_id, key)] = value

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
        return self._base.acquire(sync_id, object_type, names, owner, until=until, now=now)

    @override
    def release(
        self,
        sync_id: str,
        owner: str,
        names: Iterable[str] | None = None,
        object_type: str | None = None,
    ) -> None:
        self._base.release(sync_id, owner, names, object_type)

    # A dry run reads the inbox and removes nothing from it: the real pass processes the
    # same events after it.
    @override
    def inbox_add(self, items: Sequence[InboxItem]) -> int:
        raise NotImplementedError("a dry run never adds webhook events")

    @override
    def inbox(self, sync_id: str, *, after: int = 0, limit: int = 500) -> list[InboxItem]:
        if not keeps_inbox(self._base):
            return []
        return self._base.inbox(sync_id, after=after, limit=limit)

    @override
    def inbox_remove(self, sync_id: str, seqs: Iterable[int]) -> None:
        return None

    @override
    def inbox_count(self, sync_id: str) -> int:
        return self._base.inbox_count(sync_id) if keeps_inbox(self._base) else 0

    @override
    def holders(self, sync_id: str, object_type: str, names: Iterable[str]) -> dict[str, str]:
        return self._base.holders(sync_id, object_type, names)

    @override
    def leases(self, sync_id: str, object_type: str) -> dict[str, tuple[str, datetime]]:
        return self._base.leases(sync_id, object_type)

    @override
    def delete_sync(self, sync_id: str) -> None:
        raise NotImplementedError("a dry run never deletes a sync")
