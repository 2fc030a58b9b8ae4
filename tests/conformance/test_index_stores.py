"""The index stores that ship with syncengine pass the conformance kit, used as an
outside author would use it (syncengine.testing)."""

from __future__ import annotations

import itertools
from collections import Counter
from datetime import UTC, datetime

import attrs
import pytest

from syncengine import RecordState, Side
from syncengine.index import IndexStore, MemoryIndexStore, SQLiteIndexStore
from syncengine.index.base import PairView
from syncengine.testing import IndexStoreTests, check_index_store
from syncengine.testing._index_kit import (
    check_replace_unchanged_writes_only_unchanged_entries,
    check_write_built_writes_what_write_writes,
    check_write_matched_writes_what_write_built_writes,
    check_write_synced_rows_writes_what_write_synced_writes,
    check_write_synced_writes_what_write_built_writes,
    run_state_machine,
)


class TestMemoryIndexStore(IndexStoreTests):
    """MemoryIndexStore conforms."""

    @pytest.fixture
    def store(self):
        return MemoryIndexStore()


class TestSQLiteIndexStoreOnFile(IndexStoreTests):
    """SQLiteIndexStore on a file conforms."""

    @pytest.fixture
    def store(self, tmp_path):
        with SQLiteIndexStore(tmp_path / "index.db") as store:
            yield store


class TestSQLiteIndexStoreInMemory(IndexStoreTests):
    """SQLiteIndexStore on ":memory:" conforms."""

    @pytest.fixture
    def store(self):
        with SQLiteIndexStore(":memory:") as store:
            yield store


def test_check_index_store_passes_for_sqlite_files(tmp_path):
    """The plain check_index_store runner passes SQLiteIndexStore, one file per store."""
    paths = (tmp_path / f"index-{n}.db" for n in itertools.count())

    def factory() -> IndexStore:
        return SQLiteIndexStore(next(paths))

    check_index_store(factory, max_examples=10)


# ---- the kit fails stores that break the contract ---------------------------------------
class _Delegating(IndexStore):
    """A store that hands every call to a MemoryIndexStore; subclasses break one thing."""

    def __init__(self) -> None:
        self.inner = MemoryIndexStore()

    def get(self, sync_id, object_type, entry_ids):
        return self.inner.get(sync_id, object_type, entry_ids)

    def by_record_ids(self, sync_id, object_type, side, record_ids):
        return self.inner.by_record_ids(sync_id, object_type, side, record_ids)

    def by_keys(self, sync_id, object_type, keys):
        return self.inner.by_keys(sync_id, object_type, keys)

    def entries(self, sync_id, object_type=None, **filters):
        return self.inner.entries(sync_id, object_type, **filters)

    def counts(self, sync_id):
        return self.inner.counts(sync_id)

    def write(self, entries=(), *, delete=(), cursors=()):
        self.inner.write(entries, delete=delete, cursors=cursors)

    def cursor(self, sync_id, side, object_type, name="poll"):
        return self.inner.cursor(sync_id, side, object_type, name)

    def get_meta(self, sync_id, key):
        return self.inner.get_meta(sync_id, key)

    def set_meta(self, sync_id, key, value):
        self.inner.set_meta(sync_id, key, value)

    def acquire(self, sync_id, object_type, names, owner, *, until, now):
        return self.inner.acquire(sync_id, object_type, names, owner, until=until, now=now)

    def release(self, sync_id, owner, names=None, object_type=None):
        self.inner.release(sync_id, owner, names, object_type)

    def delete_sync(self, sync_id):
        self.inner.delete_sync(sync_id)


class _NonAtomicWrites(_Delegating):
    """Writes entries one by one: a failing entry leaves the ones before it stored."""

    def write(self, entries=(), *, delete=(), cursors=()):
        for entry in entries:
            self.inner.write([entry])
        self.inner.write(delete=delete, cursors=cursors)


class _KeysAcrossSyncs(_Delegating):
    """by_keys ignores the sync: it finds the keys of every sync it has seen."""

    def __init__(self) -> None:
        super().__init__()
        self.syncs: dict[str, None] = {}

    def write(self, entries=(), *, delete=(), cursors=()):
        for entry in entries:
            self.syncs[getattr(entry, "sync_id", "")] = None
        super().write(entries, delete=delete, cursors=cursors)

    def by_keys(self, sync_id, object_type, keys):
        keys = list(keys)
        found: dict = {}
        for sync in self.syncs:
            for key, hits in self.inner.by_keys(sync, object_type, keys).items():
                found.setdefault(key, []).extend(hits)
        return found


class _IntegralFloatsAsInts(_Delegating):
    """A lossy codec: hub values like 1.0 come back as 1."""

    def get(self, sync_id, object_type, entry_ids):
        found = self.inner.get(sync_id, object_type, entry_ids)
        for entry_id, entry in found.items():
            if entry.hub_values:
                values = {
                    name: int(v) if type(v) is float and v.is_integer() else v
                    for name, v in entry.hub_values.items()
                }
                found[entry_id] = attrs.evolve(entry, hub_values=values)
        return found


class _CountsIgnoreDeletes(_Delegating):
    """counts() only ever goes up."""

    def __init__(self) -> None:
        super().__init__()
        self.seen: dict[tuple, RecordState] = {}

    def write(self, entries=(), *, delete=(), cursors=()):
        super().write(entries, delete=delete, cursors=cursors)
        for e in entries:
            self.seen[(e.sync_id, e.object_type, e.entry_id)] = e.state

    def counts(self, sync_id):
        out: dict = {}
        for (sync, object_type, _), state in self.seen.items():
            if sync == sync_id:
                out.setdefault(object_type, Counter())[state] += 1
        return {t: dict(c) for t, c in out.items()}


class _LeasesNeverExpire(_Delegating):
    """acquire treats every lease as held forever."""

    def acquire(self, sync_id, object_type, names, owner, *, until, now):
        return self.inner.acquire(
            sync_id, object_type, names, owner, until=until, now=datetime(1970, 1, 1, tzinfo=UTC)
        )


class _LeasesOfEveryType(_Delegating):
    """leases lists the leases of the sync's every object type, not only the one asked."""

    def leases(self, sync_id, object_type):
        listed = {}
        for kind in ("contacts", "deals", "~queued/contacts", object_type):
            listed.update(self.inner.leases(sync_id, kind))
        return listed


class _PassesKeptForever(_Delegating):
    """A pass history that never deletes old passes (keep_passes ignored)."""

    def add_pass(self, record):
        return self.inner.add_pass(record)

    def passes(self, sync_id, *, limit=50, before=None):
        return self.inner.passes(sync_id, limit=limit, before=before)


class _PassesOldestFirst(_PassesKeptForever):
    """A pass history read oldest first."""

    def __init__(self) -> None:
        super().__init__()
        self.keep_passes = self.inner.keep_passes

    def add_pass(self, record):
        self.inner.keep_passes = self.keep_passes
        return self.inner.add_pass(record)

    def passes(self, sync_id, *, limit=50, before=None):
        return self.inner.passes(sync_id, limit=limit, before=before)[::-1]


class _KeptPastRewrite(_Delegating):
    """Keeps write_indexed's values in a dict of its own, never dropped."""

    def __init__(self) -> None:
        super().__init__()
        self.kept: dict = {}

    def write_indexed(self, entries, kept, *, cursors=()):
        self.inner.write(entries, cursors=cursors)
        for entry in entries:
            if entry.entry_id in kept:
                self.kept[(entry.sync_id, entry.object_type, entry.entry_id)] = kept[entry.entry_id]

    def indexed_values(self, sync_id, object_type, entry_ids, tag):
        found = {}
        for entry_id in entry_ids:
            got = self.kept.get((sync_id, object_type, entry_id))
            if got is not None and got[0] == tag:
                found[entry_id] = dict(got[1])
        return found


class _IndexedWritesNoCursors(_Delegating):
    """write_indexed writes the entries and forgets the cursors."""

    def write_indexed(self, entries, kept, *, cursors=()):
        self.inner.write_indexed(entries, kept)


class _BuiltNoCursors(_Delegating):
    """write_built writes the entries and forgets the cursors."""

    def write_built(self, entries, *, kept=None, cursors=()):
        self.inner.write_built(entries, kept=kept)


class _BuiltFirstWins(_Delegating):
    """write_built keeps the first of several writes of one entry."""

    def write_built(self, entries, *, kept=None, cursors=()):
        once = {}
        for entry in entries:
            once.setdefault((entry.sync_id, entry.object_type, entry.entry_id), entry)
        self.inner.write_built(list(once.values()), kept=kept, cursors=cursors)


class _NewSkipsStored(_Delegating):
    """write_new inserts only the entries the index does not hold (INSERT OR IGNORE):
    one stored already keeps its old row, silently."""

    def write_new(self, entries, *, cursors=()):
        found = {
            (e.sync_id, e.object_type, e.entry_id)
            for e in entries
            if self.inner.get(e.sync_id, e.object_type, [e.entry_id])
        }
        fresh = [e for e in entries if (e.sync_id, e.object_type, e.entry_id) not in found]
        self.inner.write_built(fresh, cursors=cursors)


class _NewNoCursors(_Delegating):
    """write_new writes the entries and forgets the cursors."""

    def write_new(self, entries, *, cursors=()):
        self.inner.write_new(entries)


class _IndexedNewDropsKept(_Delegating):
    """write_indexed_new writes the entries and cursors, and keeps no values, while the
    store keeps write_indexed's (phase 2 would read every hub record again)."""

    def write_built(self, entries, *, kept=None, cursors=()):
        self.inner.write_built(entries, kept=kept, cursors=cursors)

    def write_indexed(self, entries, kept, *, cursors=()):
        self.inner.write_indexed(entries, kept, cursors=cursors)

    def indexed_values(self, sync_id, object_type, entry_ids, tag):
        return self.inner.indexed_values(sync_id, object_type, entry_ids, tag)

    def write_indexed_new(self, sync_id, object_type, side, records, *, at, tag="", cursors=()):
        plain = [(r, k, None) for r, k, _ in records]
        self.inner.write_indexed_new(
            sync_id, object_type, side, plain, at=at, tag=tag, cursors=cursors
        )


class _IndexedNewFirstWins(_Delegating):
    """write_indexed_new writes a record given twice as its first mention."""

    def write_indexed_new(self, sync_id, object_type, side, records, *, at, tag="", cursors=()):
        seen: dict[str, tuple] = {}
        for record in records:
            seen.setdefault(record[0], record)
        self.inner.write_indexed_new(
            sync_id, object_type, side, list(seen.values()), at=at, tag=tag, cursors=cursors
        )


class _AnnouncedNoCursors(_Delegating):
    """write_announced writes the entries and forgets the cursors."""

    def write_announced(self, sync_id, object_type, side, creates, *, at, cursors=()):
        self.inner.write_announced(sync_id, object_type, side, creates, at=at)


class _AnnouncedFirstWins(_Delegating):
    """write_announced writes a record given twice as its first mention."""

    def write_announced(self, sync_id, object_type, side, creates, *, at, cursors=()):
        seen: dict[str, tuple] = {}
        for create in creates:
            seen.setdefault(create[0], create)
        self.inner.write_announced(
            sync_id, object_type, side, list(seen.values()), at=at, cursors=cursors
        )


class _AnnouncedCreatedLeftPending(_Delegating):
    """write_announced_created writes the other entries and cursors, and leaves the
    announced entries as they were (never completed)."""

    def write_announced_created(
        self, sync_id, object_type, side, created, *, at, mark, history, entries=(), cursors=()
    ):
        self.inner.write_built(entries, cursors=cursors)


class _CreatedLeftPending(_Delegating):
    """write_created writes the other entries and cursors, and leaves the announced
    entries as they were (never completed)."""

    def write_created(self, created, *, at, mark, history, entries=(), cursors=()):
        self.inner.write_built(entries, cursors=cursors)


class _CreatedOnTheWrongSide(_Delegating):
    """write_created stores each created id as the app's, whatever side the create was."""

    def write_created(self, created, *, at, mark, history, entries=(), cursors=()):
        done = [(attrs.evolve(e, pending=Side.APP), record_id) for e, record_id in created]
        self.inner.write_created(
            done, at=at, mark=mark, history=history, entries=entries, cursors=cursors
        )


class _BuiltDropsKept(_Delegating):
    """write_built ignores the values to keep, though write_indexed keeps them."""

    def write_indexed(self, entries, kept, *, cursors=()):
        self.inner.write_indexed(entries, kept, cursors=cursors)

    def indexed_values(self, sync_id, object_type, entry_ids, tag):
        return self.inner.indexed_values(sync_id, object_type, entry_ids, tag)

    def write_built(self, entries, *, kept=None, cursors=()):
        self.inner.write(entries, cursors=cursors)


class _SyncedDropsTheItem(_Delegating):
    """write_synced writes the new copies but not the history item."""

    def write_synced(self, copies, updated_at, history_size, *, cursors=()):
        kept = [(entry, hub, app, None) for entry, hub, app, _ in copies]
        self.inner.write_synced(kept, updated_at, history_size, cursors=cursors)


class _SyncedNoCursors(_Delegating):
    """write_synced writes the copies and forgets the cursors."""

    def write_synced(self, copies, updated_at, history_size, *, cursors=()):
        self.inner.write_synced(copies, updated_at, history_size)


class _SyncedFirstWins(_Delegating):
    """write_synced keeps the first of several copies of one entry."""

    def write_synced(self, copies, updated_at, history_size, *, cursors=()):
        once = {}
        for copy in copies:
            once.setdefault(copy[0].entry_id, copy)
        self.inner.write_synced(list(once.values()), updated_at, history_size, cursors=cursors)


class _SyncedAsRead(_Delegating):
    """write_synced writes the copies over what is stored now, not over the entry as
    read (the keys and state another pass stored since stay)."""

    def write_synced(self, copies, updated_at, history_size, *, cursors=()):
        found = (
            self.inner.get(
                copies[0][0].sync_id, copies[0][0].object_type, [c[0].entry_id for c in copies]
            )
            if copies
            else {}
        )
        now = [(found.get(c[0].entry_id, c[0]), *c[1:]) for c in copies]
        self.inner.write_synced(now, updated_at, history_size, cursors=cursors)


class _MatchedDropsTheItems(_Delegating):
    """write_matched syncs the pairs but appends nothing to their history."""

    def write_matched(self, matched, *, mark, updated_at, history_size, entries=(), cursors=()):
        self.inner.write_matched(
            [(*m[:6], ()) for m in matched],
            mark=mark,
            updated_at=updated_at,
            history_size=history_size,
            entries=entries,
            cursors=cursors,
        )


class _MatchedNoCursors(_Delegating):
    """write_matched writes the pairs and forgets the cursors."""

    def write_matched(self, matched, *, mark, updated_at, history_size, entries=(), cursors=()):
        self.inner.write_matched(
            matched, mark=mark, updated_at=updated_at, history_size=history_size, entries=entries
        )


class _RowsNeverBare(_Delegating):
    """by_keys_rows views every entry as one that is not bare."""

    def by_keys_rows(self, sync_id, object_type, keys, tag):
        found, kept = self.inner.by_keys_rows(sync_id, object_type, keys, tag)
        for held in found.values():
            for view in held:
                view.bare = False
        return found, kept


class _SyncedRowsDropTheItem(_Delegating):
    """write_synced_rows writes the new copies but not the history item."""

    def write_synced_rows(self, rows, updated_at, history_size, *, cursors=()):
        kept = [(view.entry(), hub, app, None) for view, hub, app, _ in rows]
        self.inner.write_synced(kept, updated_at, history_size, cursors=cursors)


class _SyncedRowsNoCursors(_Delegating):
    """write_synced_rows writes the copies and forgets the cursors."""

    def write_synced_rows(self, rows, updated_at, history_size, *, cursors=()):
        self.inner.write_synced_rows(rows, updated_at, history_size)


class _SyncedRowsAsStoredNow(_Delegating):
    """write_synced_rows writes the copies over what is stored now, not over the entry
    as read (the keys and state another pass stored since stay)."""

    def write_synced_rows(self, rows, updated_at, history_size, *, cursors=()):
        found = (
            self.inner.get(
                rows[0][0].sync_id, rows[0][0].object_type, [r[0].entry_id for r in rows]
            )
            if rows
            else {}
        )
        now = [(found.get(r[0].entry_id) or r[0].entry(), *r[1:]) for r in rows]
        self.inner.write_synced(now, updated_at, history_size, cursors=cursors)


class _RowsEveryPair(_Delegating):
    """by_record_ids_rows views every synced entry with copies as a settled pair (one
    that failed once too)."""

    def by_record_ids_rows(self, sync_id, object_type, side, record_ids):
        out = {}
        for record_id, entry in self.inner.by_record_ids(
            sync_id, object_type, side, record_ids
        ).items():
            if entry.state is RecordState.SYNCED and entry.hub_values is not None:
                entry_ = attrs.evolve(entry, attempts=0, message="", category=None)
                out[record_id] = PairView.of(entry_)
                out[record_id]._entry = entry
            else:
                out[record_id] = PairView.of(entry)
        return out


class _RowsStaleCopies(_Delegating):
    """by_record_ids_rows gives each pair's copies as the other side's."""

    def by_record_ids_rows(self, sync_id, object_type, side, record_ids):
        found = self.inner.by_record_ids_rows(sync_id, object_type, side, record_ids)
        for view in found.values():
            if isinstance(view, PairView):
                view.hub_values, view.app_values = view.app_values, view.hub_values
        return found


class _ReplaceIgnoresTheRead(_Delegating):
    """replace_unchanged writes every new entry, whatever is stored now: the lost update
    it exists to prevent."""

    def replace_unchanged(self, sync_id, object_type, changes):
        self.inner.write([new for _, new in changes])
        return {}


class _ReplaceNeverWrites(_Delegating):
    """replace_unchanged answers that every entry changed, and writes none."""

    def replace_unchanged(self, sync_id, object_type, changes):
        ids = [read.entry_id for read, _ in changes]
        found = self.inner.get(sync_id, object_type, ids)
        return {i: found.get(i) for i in ids}


class _ReplaceAnswersNothing(_Delegating):
    """replace_unchanged writes what it should but answers as if it wrote everything
    (the caller never learns which marks to build again)."""

    def replace_unchanged(self, sync_id, object_type, changes):
        self.inner.replace_unchanged(sync_id, object_type, changes)
        return {}


@pytest.mark.parametrize(
    ("broken", "failing_check"),
    [
        (_ReplaceIgnoresTheRead, "check_replace_unchanged_writes_only_unchanged_entries"),
        (_ReplaceNeverWrites, "check_replace_unchanged_writes_only_unchanged_entries"),
        (_ReplaceAnswersNothing, "check_replace_unchanged_writes_only_unchanged_entries"),
        (_MatchedDropsTheItems, "check_write_matched_writes_what_write_built_writes"),
        (_MatchedNoCursors, "check_write_matched_writes_what_write_built_writes"),
        (_RowsNeverBare, "check_write_matched_writes_what_write_built_writes"),
        (_SyncedRowsDropTheItem, "check_write_synced_rows_writes_what_write_synced_writes"),
        (_SyncedRowsNoCursors, "check_write_synced_rows_writes_what_write_synced_writes"),
        (_SyncedRowsAsStoredNow, "check_write_synced_rows_writes_what_write_synced_writes"),
        (_RowsEveryPair, "check_write_synced_rows_writes_what_write_synced_writes"),
        (_RowsStaleCopies, "check_write_synced_rows_writes_what_write_synced_writes"),
        (_SyncedDropsTheItem, "check_write_synced_writes_what_write_built_writes"),
        (_SyncedNoCursors, "check_write_synced_writes_what_write_built_writes"),
        (_SyncedFirstWins, "check_write_synced_writes_what_write_built_writes"),
        (_SyncedAsRead, "check_write_synced_writes_what_write_built_writes"),
        (_BuiltNoCursors, "check_write_built_writes_what_write_writes"),
        (_BuiltFirstWins, "check_write_built_writes_what_write_writes"),
        (_BuiltDropsKept, "check_write_built_writes_what_write_writes"),
        (_NewSkipsStored, "check_write_new_writes_what_write_built_writes"),
        (_NewNoCursors, "check_write_new_writes_what_write_built_writes"),
        (_IndexedNewDropsKept, "check_write_indexed_new_writes_what_write_built_writes"),
        (_IndexedNewFirstWins, "check_write_indexed_new_writes_what_write_built_writes"),
        (_CreatedLeftPending, "check_write_created_writes_what_write_built_writes"),
        (_AnnouncedNoCursors, "check_write_announced_writes_what_write_new_writes"),
        (_AnnouncedFirstWins, "check_write_announced_writes_what_write_new_writes"),
        (_AnnouncedCreatedLeftPending, "check_write_announced_writes_what_write_new_writes"),
        (_CreatedOnTheWrongSide, "check_write_created_writes_what_write_built_writes"),
        (_KeptPastRewrite, "check_write_indexed_writes_what_write_writes"),
        (_IndexedWritesNoCursors, "check_write_indexed_writes_what_write_writes"),
        (_PassesKeptForever, "check_pass_history_keeps_the_newest_passes_in_order"),
        (_PassesOldestFirst, "check_pass_history_keeps_the_newest_passes_in_order"),
        (_NonAtomicWrites, "check_failed_write_stores_nothing"),
        (_KeysAcrossSyncs, "check_sync_ids_are_isolated"),
        (_IntegralFloatsAsInts, "check_write_then_get_round_trips_every_field"),
        (_CountsIgnoreDeletes, "check_delete_removes_the_entry_and_its_keys"),
        (_LeasesNeverExpire, "check_leases_grant_refuse_extend_expire_release"),
        (_LeasesOfEveryType, "check_leases_list_one_object_type"),
    ],
)
def test_check_index_store_fails_a_broken_store_naming_the_check(broken, failing_check):
    """check_index_store raises AssertionError naming the check a broken store fails."""
    with pytest.raises(AssertionError, match=failing_check):
        check_index_store(broken, max_examples=5)


@pytest.fixture
def derandomized(monkeypatch):
    """The kit's machine runs a fixed sequence of programs (``derandomize``, a public
    setting), so a run is the same each time.

    The sequence still shifts with the code base: Hypothesis now and then draws a
    literal it collected from the local modules imported so far (its "local
    constants"), so it changes with any string added to the code, and with the modules
    an ``-n 2`` worker happened to import first. The tests below therefore do not rest
    on one sequence: the machine meets each of these bugs in a large share of its
    programs (the sync-blind ``by_keys`` in about two programs of five, through its rule
    that writes the same record to both syncs; the unbounded pass history in about one
    in four: measured over 60 unseeded runs of five programs each, 56 and 47 met it),
    so 200 programs miss it with a chance below 1e-20 whatever the sequence. Hypothesis
    itself is left as it is (no internal patched).

    Derandomized programs are not independent draws, though: the ``write_matched``
    rule met a store dropping its history items in about one program of twenty, and
    200 derandomized programs missed it outright after a worker had imported
    ``syncengine.index.postgres`` and ``syncengine.testing.hubspot`` first. Its rule and
    ``write_synced``'s now start from a stored entry half the time, which meets those
    bugs in about one program of six (25 and 13 of 40 unseeded runs of five programs);
    the sequence that missed catches it now."""
    from hypothesis import settings

    from syncengine.testing import _index_kit

    made = _index_kit._machine_settings
    monkeypatch.setattr(
        _index_kit, "_machine_settings", lambda *args: settings(made(*args), derandomize=True)
    )


@pytest.mark.usefixtures("derandomized")
def test_the_state_machine_alone_catches_a_broken_store():
    """The kit's state machine finds a broken store without the hand-written checks."""
    with pytest.raises(AssertionError, match="by_keys"):
        run_state_machine(_KeysAcrossSyncs, max_examples=200, shrink=False)


@pytest.mark.usefixtures("derandomized")
def test_the_state_machine_alone_catches_a_pass_history_that_grows_without_bound():
    """The machine's pass-history rules find a store that ignores keep_passes."""
    with pytest.raises(AssertionError, match=r"add_pass|passes"):
        run_state_machine(_PassesKeptForever, max_examples=200, shrink=False)


def test_write_built_default_passes_its_check():
    """A store that does not override write_built (one written for an earlier version)
    passes its check: the default writes with write, or write_indexed with kept values."""
    check_write_built_writes_what_write_writes(_Delegating())


def test_write_synced_default_passes_its_check():
    """A store that does not override write_synced (one written for an earlier version)
    passes its check: the default writes synced_copy's entries with write_built."""
    check_write_synced_writes_what_write_built_writes(_Delegating())


def test_write_synced_rows_default_passes_its_check():
    """A store that does not override by_record_ids_rows and write_synced_rows (one
    written for an earlier version) passes their check: the defaults view by_record_ids'
    entries and write the views' entries with write_synced."""
    check_write_synced_rows_writes_what_write_synced_writes(_Delegating())


def test_write_matched_default_passes_its_check():
    """A store that does not override by_keys_rows and write_matched (one written for an
    earlier version) passes their check: the defaults view by_keys_indexed's entries
    and write matched_entry's entries with write_built."""
    check_write_matched_writes_what_write_built_writes(_Delegating())


@pytest.mark.usefixtures("derandomized")
def test_the_state_machine_alone_catches_a_write_synced_that_drops_the_item():
    """The machine's write_synced rule finds a store that leaves the history as it was."""
    with pytest.raises(AssertionError, match="get"):
        run_state_machine(_SyncedDropsTheItem, max_examples=200, shrink=False)


def test_replace_unchanged_default_passes_its_check():
    """A store that does not override replace_unchanged (one written for an earlier
    version) passes its check: the default compares with get and writes with write."""
    check_replace_unchanged_writes_only_unchanged_entries(_Delegating())


@pytest.mark.usefixtures("derandomized")
def test_the_state_machine_alone_catches_a_replace_that_ignores_the_read():
    """The machine's replace_unchanged rule finds a store that writes over an entry
    written since it was read."""
    with pytest.raises(AssertionError, match="replace_unchanged"):
        run_state_machine(_ReplaceIgnoresTheRead, max_examples=200, shrink=False)


@pytest.mark.usefixtures("derandomized")
def test_the_state_machine_alone_catches_a_write_matched_that_drops_the_items():
    """The machine's write_matched rule finds a store that appends nothing to the
    history of the pairs it syncs."""
    with pytest.raises(AssertionError, match="get"):
        run_state_machine(_MatchedDropsTheItems, max_examples=200, shrink=False)
