"""SQLiteIndexStore: the embedded index store, one SQLite file (or ``":memory:"``).

Theory of operation:

* **One connection, one lock.** Every call takes the store's lock; the connection runs
  in autocommit mode and every write is one explicit ``BEGIN IMMEDIATE … COMMIT``
  transaction, rolled back on any error (which is raised as
  :class:`~syncengine.IndexStoreError` with the cause chained). ``BEGIN IMMEDIATE`` takes
  SQLite's write lock up front, so read-then-write steps (upserts, leases) are atomic
  across processes sharing the file; a busy timeout makes writers queue, not fail.
* **WAL.** Readers never block the writer and see committed data only
  (``synchronous=NORMAL``: a power loss may lose the last commits, never corrupt).
* **Compact rows**, in the row format the SQL stores share
  (:class:`syncengine.index._rowformat.RowCodec`, which documents the layout).
  ``sync_id`` and ``object_type`` are interned into small integers in side tables, and
  so are the row format's texts: the field-name tuples of value mappings (``shapes``)
  and history items' actions and details (``items``, schema version 6); never pruned,
  so ids stay valid for every process holding them in a cache. Hot columns (entry id,
  record ids, state, ``updated_at`` in microseconds, pending, keys) are columns;
  everything else is one compact JSON array. ``app_values`` is stored as the marker
  ``1`` when it equals ``hub_values`` exactly, and values equal to the hub value at the
  same position are left out (the engine stores both sides' copies of the same synced
  values). A realistic contact entry takes about 365 bytes on disk, indexes included
  (``benchmarks/index_store.py``). A row that is not in the format (another program
  wrote it, or the file is damaged, text that is not UTF-8 included) is read as a
  :class:`~syncengine.entry.CorruptEntry` naming the entry and the file; the other rows of
  the same read are read as usual.
* **Keys** live in a ``WITHOUT ROWID`` table (sync, object type, key, entry rowid), only
  rewritten for entries whose keys changed.
* **Lookups** bind at most 900 parameters per statement (``IN (?, …)`` chunks: SQLite
  before 3.32 allows 999) and use an index each: by entry id, hub id, app id, key.
* **Counts** per (sync, object type, state) are kept in a table, adjusted inside the
  write transaction from the states read under the write lock, so
  :meth:`SQLiteIndexStore.counts` never reads entries.
* **Order.** An entry's rowid is its place in iteration order: assigned as
  ``max(rowid) + 1`` inside the write transaction, in the order of the batch, and kept
  when the entry is replaced. :meth:`SQLiteIndexStore.entries` pages with
  ``rowid > ? ORDER BY rowid LIMIT 500`` (keyset pagination), through the state or
  pending index when few entries match, else along the table (see ``_plan``). The state
  index holds only failed, excluded and queued entries (the states that stay few), so
  indexing and syncing entries write no state index entry.
* **Inbox.** Webhook events wait in ``inbox`` (one row per event, unique per sync and
  key, in ``seq`` order) until a pass processed them (:class:`~syncengine.index.InboxItem`).
* **Migrations.** ``schema_version`` holds the version; :data:`_MIGRATIONS` lists the
  steps in order (version 1 is the initial schema). A file of a newer version is refused;
  an older one is migrated when it is opened (version 3 added the inbox, version 4 the
  pass history, version 5 the numbers in the ``data`` column, version 6 the history
  items by number: see ``RowCodec.encode``).
* **Pass history.** ``passes`` holds one row per pass (:class:`~syncengine.history.PassRecord`),
  numbered per sync; :meth:`SQLiteIndexStore.add_pass` deletes the oldest beyond
  ``keep_passes`` in the same transaction.
"""

from __future__ import annotations

import contextlib
import json
import os
import sqlite3
import threading
from collections import Counter
from collections.abc import Callable, Iterable, Iterator, Mapping, Sequence
from datetime import datetime
from typing import Any, Final, final

import attrs
from typing_extensions import override

from syncengine._text import lone_surrogate
from syncengine.errors import IndexStoreError
from syncengine.history import KEEP_PASSES, PassRecord, check_pass, encode_counts
from syncengine.index import _codec, _rowformat
from syncengine.index._entry import (
    CursorUpdate,
    Entry,
    HistoryItem,
    InboxItem,
    check_inbox_items,
)
from syncengine.index.base import (
    Announced,
    Matched,
    PairView,
    RowView,
    SyncedCopy,
    SyncedRow,
    announced_entry,
    check_changes,
    created_entry,
    matched_entry,
    same_entry,
)
from syncengine.index.base import synced_copy as _synced_copy
from syncengine.records import Side
from syncengine.states import RecordState

__all__ = ["SQLiteIndexStore"]

#: The schema, one tuple of statements per version, applied in order. Never edit a
#: released step: append a new one.
_MIGRATIONS: Final[tuple[tuple[str, ...], ...]] = (
    # 1: the initial schema.
    (
        "CREATE TABLE syncs (id INTEGER PRIMARY KEY, name TEXT NOT NULL UNIQUE)",
        "CREATE TABLE object_types (id INTEGER PRIMARY KEY, name TEXT NOT NULL UNIQUE)",
        "CREATE TABLE shapes (id INTEGER PRIMARY KEY, fields TEXT NOT NULL UNIQUE)",
        """CREATE TABLE entries (
            id INTEGER PRIMARY KEY,
            sync INTEGER NOT NULL,
            ot INTEGER NOT NULL,
            entry_id TEXT NOT NULL,
            hub_id TEXT,
            app_id TEXT,
            state INTEGER NOT NULL,
            updated_at INTEGER NOT NULL,
            pending INTEGER,
            keys TEXT,
            data TEXT NOT NULL
        )""",
        "CREATE UNIQUE INDEX entries_by_entry_id ON entries (sync, ot, entry_id)",
        "CREATE INDEX entries_by_hub_id ON entries (sync, ot, hub_id) WHERE hub_id IS NOT NULL",
        "CREATE INDEX entries_by_app_id ON entries (sync, ot, app_id) WHERE app_id IS NOT NULL",
        "CREATE INDEX entries_by_state ON entries (sync, ot, state, updated_at)",
        "CREATE INDEX entries_pending ON entries (sync, ot) WHERE pending IS NOT NULL",
        """CREATE TABLE keys (
            sync INTEGER NOT NULL, ot INTEGER NOT NULL, key TEXT NOT NULL,
            entry INTEGER NOT NULL,
            PRIMARY KEY (sync, ot, key, entry)
        ) WITHOUT ROWID""",
        """CREATE TABLE counts (
            sync INTEGER NOT NULL, ot INTEGER NOT NULL, state INTEGER NOT NULL,
            n INTEGER NOT NULL,
            PRIMARY KEY (sync, ot, state)
        ) WITHOUT ROWID""",
        """CREATE TABLE cursors (
            sync INTEGER NOT NULL, side INTEGER NOT NULL, ot INTEGER NOT NULL,
            name TEXT NOT NULL, value TEXT NOT NULL,
            PRIMARY KEY (sync, side, ot, name)
        ) WITHOUT ROWID""",
        """CREATE TABLE meta (
            sync INTEGER NOT NULL, key TEXT NOT NULL, value TEXT NOT NULL,
            PRIMARY KEY (sync, key)
        ) WITHOUT ROWID""",
        """CREATE TABLE leases (
            sync INTEGER NOT NULL, ot INTEGER NOT NULL, name TEXT NOT NULL,
            owner TEXT NOT NULL, expires INTEGER NOT NULL,
            PRIMARY KEY (sync, ot, name)
        ) WITHOUT ROWID""",
        "CREATE INDEX leases_by_owner ON leases (sync, owner)",
    ),
    # 2: fewer index writes on the hot path. The state index leaves out updated_at, which
    # every write of an entry changes (pages of entries() sort by rowid, which the index
    # holds anyway), and holds only the states that stay few (failed, excluded, queued:
    # _PARTIAL), so syncing an entry writes no index entry for its state; leases lose
    # their index by owner: the table only holds the leases of running batches, and a
    # release by owner reads those of one object type.
    (
        "DROP INDEX entries_by_state",
        "CREATE INDEX entries_by_state ON entries (sync, ot, state) WHERE state >= 2",
        "DROP INDEX leases_by_owner",
    ),
    # 3: the webhook inbox (InboxItem): events kept from the moment a request is
    # verified until a pass processed them. AUTOINCREMENT: a seq is never reused, so a
    # removal by seq never removes a later event.
    (
        """CREATE TABLE inbox (
            seq INTEGER PRIMARY KEY AUTOINCREMENT,
            sync INTEGER NOT NULL,
            key TEXT NOT NULL,
            side INTEGER NOT NULL,
            received INTEGER NOT NULL,
            payload TEXT NOT NULL
        )""",
        "CREATE UNIQUE INDEX inbox_by_key ON inbox (sync, key)",
        "CREATE INDEX inbox_in_order ON inbox (sync, seq)",
    ),
    # 4: the pass history (PassRecord): one row per pass, numbered per sync, the newest
    # keep_passes kept. Counts are compact JSON (syncengine.history.encode_counts).
    (
        """CREATE TABLE passes (
            sync INTEGER NOT NULL,
            number INTEGER NOT NULL,
            kind TEXT NOT NULL,
            started INTEGER NOT NULL,
            finished INTEGER NOT NULL,
            outcome TEXT NOT NULL,
            detail TEXT NOT NULL,
            dry_run INTEGER NOT NULL,
            counts TEXT NOT NULL,
            PRIMARY KEY (sync, number)
        ) WITHOUT ROWID""",
    ),
    # 5: a more compact ``data`` column (see RowCodec.encode): ``matched_by`` stored as the
    # number of the key it names among the entry's sorted keys, and the engine's common
    # history actions as the numbers of _ACTIONS. Rows written before keep their text
    # and read the same: nothing to rewrite; the version tells older syncengines that
    # they cannot read the rows written since.
    ("SELECT 1",),
    # 6: history items by number (index._rowformat.RowCodec): each distinct action and
    # detail is interned once in ``items``, like the field names of value mappings in
    # ``shapes``; a history item in the ``data`` column is its time and that number.
    # Rows written before keep their history inline and read the same.
    ("CREATE TABLE items (id INTEGER PRIMARY KEY, item TEXT NOT NULL UNIQUE)",),
)

#: Stored codes of states and sides, shared with the other SQL store (index._rowformat).
_STATE_CODES: Final = _rowformat.STATE_CODES
_STATES: Final = _rowformat.STATES
#: The state codes the state index holds (its WHERE clause, repeated in queries using it).
_PARTIAL: Final = 2
_IN_STATE_INDEX: Final = f"e.state >= {_PARTIAL}"
_SIDE_CODES: Final = _rowformat.SIDE_CODES
_SIDES: Final = _rowformat.SIDES

_COLUMNS: Final = (
    "e.id, e.ot, e.entry_id, e.hub_id, e.app_id, e.state, e.updated_at, e.pending, e.keys, e.data"
)
_MAX_PARAMS: Final = 900  # per statement: SQLite < 3.32 allows 999
_CHUNK: Final = _rowformat.CHUNK  # rows per page of entries()
_RECENT: Final = 4096  # entries kept decoded (see SQLiteIndexStore._recent)
_ROWS: Final = 16_384  # rows whose hot columns are kept (see SQLiteIndexStore._rows)
#: The column of each table of interned texts (_rowformat.SHAPES, _rowformat.ITEMS).
_INTERNED: Final = {_rowformat.SHAPES: "fields", _rowformat.ITEMS: "item"}
#: (rowid, state, keys, hub_id, app_id, updated_at, pending) of a stored entry.
_Row = tuple[int, int, str | None, str | None, str | None, int, int | None]
#: The hot columns an UPDATE may leave out when they did not change, by bit.
_HOT: Final = ("hub_id", "app_id", "state", "updated_at", "pending", "keys")
_UPDATES: dict[int, str] = {}  # SQL of an UPDATE by the bits of the columns it sets
#: The positions, among an entry row's columns, of the hot columns that may be NULL
#: (hub_id, app_id, pending, keys), by bit (see _insert_sql).
_NULLABLE: Final = (4, 5, 8, 9)
_INSERTS: dict[int, str] = {}  # SQL of an INSERT by the bits of its NULL columns


def _count(conn: sqlite3.Connection, deltas: Counter[tuple[int, int, int]]) -> None:
    """Apply a write's changes of the entries counted per (sync, object type, state)."""
    changed = [(*where, n) for where, n in deltas.items() if n]
    if changed:
        conn.executemany(
            "INSERT INTO counts (sync, ot, state, n) VALUES (?, ?, ?, ?) "
            "ON CONFLICT (sync, ot, state) DO UPDATE SET n = n + excluded.n",
            changed,
        )
        conn.executemany(
            "DELETE FROM counts WHERE sync = ? AND ot = ? AND state = ? AND n <= 0",
            [row[:3] for row in changed if row[3] < 0],
        )


def _update_sql(mask: int) -> str:
    """``UPDATE entries SET <the hot columns of mask>, data = ? WHERE id = ?``: bit ``i``
    of ``mask`` sets column ``_HOT[i]`` to a parameter, bit ``i + 6`` sets it to
    ``NULL`` (no parameter: see :func:`_insert_sql`)."""
    sql = _UPDATES.get(mask)
    if sql is None:
        columns = [
            f"{name} = ?" if mask >> bit & 1 else f"{name} = NULL"
            for bit, name in enumerate(_HOT)
            if mask >> bit & 65
        ]
        sql = _UPDATES[mask] = (
            f"UPDATE entries SET {', '.join([*columns, 'data = ?'])} WHERE id = ?"
        )
    return sql


def _insert_sql(nulls: int) -> str:
    """``INSERT INTO entries … VALUES (…)`` with ``NULL`` in place of a parameter for
    each column of :data:`_NULLABLE` whose bit is set in ``nulls``.

    A ``None`` bound as a parameter costs Python's sqlite3 module a failed adapter
    lookup (an ``AttributeError`` made and cleared, ~1.7k instructions), more than the
    rest of binding a row; an insert or update leaves its ``None`` values out of the
    parameters and writes ``NULL`` in the statement instead."""
    sql = _INSERTS.get(nulls)
    if sql is None:
        values = ["?"] * 11
        for bit, column in enumerate(_NULLABLE):
            if nulls >> bit & 1:
                values[column] = "NULL"
        sql = _INSERTS[nulls] = (
            "INSERT INTO entries (id, sync, ot, entry_id, hub_id, app_id, state, "
            f"updated_at, pending, keys, data) VALUES ({', '.join(values)})"
        )
    return sql


def _chunks(values: Sequence[Any], size: int) -> Iterator[Sequence[Any]]:
    for start in range(0, len(values), size):
        yield values[start : start + size]


def _marks(count: int) -> str:
    return ",".join("?" * count)


def _rows(count: int) -> str:
    """``(?),(?),…``: the rows of a one-column ``VALUES`` list."""
    return ",".join(("(?)",) * count)


#: No (sync, ot) numbers looked up yet (see _complete_matched).
_NO_SCOPE: Final = (-1, -1)
#: write_created's completion of announced rows, in _write's transaction (see _complete).
_Complete = Callable[
    [
        sqlite3.Connection,
        dict[tuple[str, str, str], Entry],
        "Counter[tuple[int, int, int]]",
        dict[tuple[int, int, str], _Row],
    ],
    None,
]


class _NotAnnounced(IndexStoreError):
    """A row write_created would complete in place is not its announced entry's: the
    write is rolled back and done whole."""


class _Taken(IndexStoreError):
    """An entry write_new would insert is stored already: the write is rolled back and
    done as write_built does it."""


_keys_text: Final = _rowformat.keys_text
_SYNCED_CODE: Final = _STATE_CODES[RecordState.SYNCED]
_keys_of: Final = _rowformat.keys_of
_EMPTY: Final[frozenset[str]] = frozenset()
_dumps: Final = _codec.to_json
_micros: Final = _rowformat.micros
_before: Final = _rowformat.before
#: The tables holding rows of one sync (delete_sync empties them).
_PER_SYNC_TABLES: Final = (
    "keys",
    "entries",
    "counts",
    "cursors",
    "meta",
    "leases",
    "inbox",
    "passes",
)


def _completed(
    conn: sqlite3.Connection,
    sync: int,
    ot: int,
    rows: dict[int, list[tuple[Any, ...]]],
    done: list[tuple[str, _Row]],
    states: Counter[int],
    deltas: Counter[tuple[int, int, int]],
    written: dict[tuple[int, int, str], _Row],
) -> None:
    """Complete announced rows in place (write_created's and write_announced_created's
    statements): ``rows`` by the code of the side created on, each ``(record_id,
    updated, suffix size in bytes, tail, rowid, state, suffix)``; ``done`` the rows
    known after, ``states`` the completed rows' states before. :class:`_NotAnnounced`
    when a row is not as announced (the caller's transaction is rolled back)."""
    synced = _SYNCED_CODE
    for code, params in rows.items():
        if params:
            # The data column cut and checked as bytes (CAST AS BLOB reads the text's
            # bytes as they are): substr and length of text count its characters,
            # which walks the whole UTF-8 text three times per row. The result of ||
            # is text, the same bytes as before.
            column = "hub_id" if code == 0 else "app_id"
            changed = conn.executemany(
                f"UPDATE entries SET {column} = ?1, state = {synced}, updated_at = ?2, "
                "pending = NULL, "
                "data = substr(CAST(data AS BLOB), 1, length(CAST(data AS BLOB)) - ?3) || ?4 "
                f"WHERE id = ?5 AND state = ?6 AND pending = {code} "
                "AND substr(CAST(data AS BLOB), -?3) = CAST(?7 AS BLOB)",
                params,
            ).rowcount
            if changed != len(params):
                raise _NotAnnounced("a row is not its announced entry's")
    for entry_id, completed in done:
        written[(sync, ot, entry_id)] = completed
    for state, n in states.items():
        if state != synced:
            deltas[(sync, ot, state)] -= n
            deltas[(sync, ot, synced)] += n


@final
class SQLiteIndexStore(_rowformat.RowStore):
    """An index store in one SQLite file, shared safely by threads and processes.

    Args:
        path: The database file (created if missing), or ``":memory:"`` for a private
            in-memory database.
        timeout: Seconds to wait for another process's write lock before failing.
        keep_passes: How many pass records :meth:`add_pass` keeps per sync (the newest).

    Raises:
        IndexStoreError: The file is not a database, or was written by a newer
            syncengine (its schema version is unknown here).

    Example::

        with SQLiteIndexStore("sync-index.db") as index:
            engine = SyncEngine(hub, app, index, config)

    .. versionadded:: 0.1
    """

    def __init__(
        self,
        path: str | os.PathLike[str],
        *,
        timeout: float = 30.0,
        keep_passes: int = KEEP_PASSES,
    ) -> None:
        self.keep_passes = _rowformat.check_keep_passes(keep_passes)
        self._path = os.fspath(path)
        self._lock = threading.RLock()
        self._sync_ids: dict[str, int] = {}
        self._ot_ids: dict[str, int] = {}
        self._ot_names: dict[int, str] = {}
        self._codec = _rowformat.RowCodec(
            f"index {self._path!r}", self._intern_text, self._interned_text
        )
        # Entries decoded by by_record_ids and get, by rowid, with the row they came from:
        # the engine reads an entry by record id and then again (by key, or in the next
        # phase of a pass), and an unchanged row decodes to an equal entry (rows are
        # compared whole).
        self._recent: dict[int, tuple[tuple[Any, ...], Entry]] = {}
        # The hot columns of rows this connection read or wrote, by (sync, ot, entry_id):
        # (rowid, state, keys, hub_id, app_id, updated_at, pending). Valid while no other
        # connection commits: PRAGMA data_version tells (checked in each write).
        self._rows: dict[tuple[int, int, str], _Row] = {}
        self._version: int | None = None
        # Whether this SQLite has its JSON functions (None: not tried yet; see marked).
        self._json: bool | None = None
        try:
            conn = sqlite3.connect(
                self._path,
                timeout=timeout,
                isolation_level=None,
                check_same_thread=False,
                cached_statements=256,
            )
        except sqlite3.Error as error:
            raise IndexStoreError(f"cannot open index {self._path!r}: {error}") from error
        self._conn: sqlite3.Connection | None = conn
        try:
            conn.execute(f"PRAGMA busy_timeout = {int(timeout * 1000)}")
            conn.execute("PRAGMA journal_mode = WAL")
            conn.execute("PRAGMA synchronous = NORMAL")
            conn.execute("PRAGMA cache_size = -65536")  # KiB: 64 MiB of page cache
            # Checkpoint less often than every 1000 pages: big batches dirty many random
            # key pages, and a page dirtied by several commits is then copied back once.
            conn.execute("PRAGMA wal_autocheckpoint = 10000")
            conn.execute("PRAGMA journal_size_limit = 67108864")
            conn.execute("PRAGMA temp_store = MEMORY")
            self._migrate(conn)
            # What other connections had committed when this one opened: the hot columns
            # read from now on stay valid until the first write sees another value (a
            # store's first write does not have to read its rows again).
            self._version = conn.execute("PRAGMA data_version").fetchone()[0]
        except BaseException as error:
            conn.close()
            self._conn = None
            if isinstance(error, IndexStoreError):
                raise
            if isinstance(error, sqlite3.Error):
                raise IndexStoreError(f"cannot open index {self._path!r}: {error}") from error
            raise

    @override
    def __repr__(self) -> str:
        return f"SQLiteIndexStore({self._path!r})"

    @staticmethod
    def _migrate(conn: sqlite3.Connection) -> None:
        conn.execute("BEGIN IMMEDIATE")
        try:
            conn.execute("CREATE TABLE IF NOT EXISTS schema_version (version INTEGER NOT NULL)")
            current = conn.execute("SELECT max(version) FROM schema_version").fetchone()[0] or 0
            known = len(_MIGRATIONS)
            _rowformat.check_schema_version(current, known)
            for steps in _MIGRATIONS[current:]:
                for statement in steps:
                    conn.execute(statement)
            if current < known:
                conn.execute("DELETE FROM schema_version")
                conn.execute("INSERT INTO schema_version (version) VALUES (?)", (known,))
            conn.execute("COMMIT")
        except BaseException:
            conn.execute("ROLLBACK")
            raise

    # ---- plumbing -------------------------------------------------------------------
    def _connection(self) -> sqlite3.Connection:
        if self._conn is None:
            raise IndexStoreError(f"{self!r} is closed")
        return self._conn

    @contextlib.contextmanager
    def _reading(self) -> Iterator[sqlite3.Connection]:
        with self._lock:
            conn = self._connection()
            try:
                yield conn
            except sqlite3.Error as error:
                raise IndexStoreError(f"reading the {self._codec.where} failed: {error}") from error

    @contextlib.contextmanager
    def _transaction(self) -> Iterator[sqlite3.Connection]:
        with self._lock:
            conn = self._connection()
            try:
                conn.execute("BEGIN IMMEDIATE")
            except sqlite3.Error as error:
                raise IndexStoreError(
                    f"cannot start a write to the {self._codec.where}: {error}"
                ) from error
            try:
                yield conn
                conn.execute("COMMIT")
            except BaseException as error:
                with contextlib.suppress(sqlite3.Error):
                    conn.execute("ROLLBACK")
                # Names interned by the rolled-back transaction are gone: forget them all.
                self._forget_names()
                if isinstance(error, IndexStoreError) or not isinstance(error, Exception):
                    raise
                raise IndexStoreError(
                    f"the write to the {self._codec.where} was rolled back, nothing was "
                    f"stored: {error}"
                ) from error

    def _forget_names(self) -> None:
        self._sync_ids.clear()
        self._ot_ids.clear()
        self._ot_names.clear()
        self._codec.forget()

    def _intern(
        self, conn: sqlite3.Connection, table: str, cache: dict[str, int], name: str, create: bool
    ) -> int | None:
        found = cache.get(name)
        if found is not None:
            return found
        row = conn.execute(f"SELECT id FROM {table} WHERE name = ?", (name,)).fetchone()
        if row is not None:
            found = int(row[0])
        elif self._unreadable_name(conn, table, name):  # raises: it may be this one's row
            raise AssertionError("unreachable")  # pragma: no cover
        elif create:
            found = conn.execute(f"INSERT INTO {table} (name) VALUES (?)", (name,)).lastrowid
            assert found is not None
        else:
            return None
        cache[name] = found
        return found

    def _unreadable_name(self, conn: sqlite3.Connection, table: str, name: str) -> bool:
        """Raise :class:`~syncengine.IndexStoreError` if a name of ``table`` (``syncs``
        or ``object_types``) is not UTF-8 text, as ``name``, not found, may be its row:
        a sync or object type never taken for one with nothing stored (its records
        would be synced as new, or a new initial sync started); ``False`` otherwise.
        Asked only when a name is not found (the tables hold a few rows)."""
        conn.text_factory = bytes
        try:
            rows = conn.execute(f"SELECT id, name FROM {table} ORDER BY id").fetchall()
        finally:
            conn.text_factory = str
        for number, raw in rows:
            if type(raw) is bytes:
                try:
                    raw.decode()
                except UnicodeDecodeError:
                    raise IndexStoreError(
                        _rowformat.unreadable_name(
                            self._codec.where, self._path, table, int(number), name
                        )
                    ) from None
        return False

    def _sync(self, conn: sqlite3.Connection, name: str, create: bool = False) -> int | None:
        return self._intern(conn, "syncs", self._sync_ids, name, create)

    def _ot(self, conn: sqlite3.Connection, name: str, create: bool = False) -> int | None:
        found = self._intern(conn, "object_types", self._ot_ids, name, create)
        if found is not None:
            self._ot_names[found] = name
        return found

    def _scope(
        self, conn: sqlite3.Connection, sync_id: str, object_type: str
    ) -> tuple[int, int] | None:
        """The ids of a sync and an object type; ``None`` if either was never stored
        (then nothing of theirs is either)."""
        sync = self._sync(conn, sync_id)
        ot = self._ot(conn, object_type)
        return None if sync is None or ot is None else (sync, ot)

    def _ot_name(self, conn: sqlite3.Connection, ot: int) -> str:
        name = self._ot_names.get(ot)
        if name is None:
            conn.text_factory = bytes
            try:
                row = conn.execute("SELECT name FROM object_types WHERE id = ?", (ot,)).fetchone()
            finally:
                conn.text_factory = str
            if row is None:
                raise IndexStoreError(
                    f"the {self._codec.where} is corrupt: unknown object type id {ot}"
                )
            try:
                name = self._ot_names[ot] = bytes(row[0]).decode()
            except UnicodeDecodeError:
                raise IndexStoreError(
                    _rowformat.unreadable_name(
                        self._codec.where, self._path, "object_types", ot, None
                    )
                ) from None
        return name

    def _intern_text(self, kind: str, text: str) -> int | None:
        """The number of an interned text of the row format, interning it (inside a
        write, under the write lock); ``None`` when the table is full."""
        conn = self._connection()
        table, column = kind, _INTERNED[kind]
        row = conn.execute(f"SELECT id FROM {table} WHERE {column} = ?", (text,)).fetchone()
        if row is not None:
            return int(row[0])
        last = conn.execute(f"SELECT max(id) FROM {table}").fetchone()[0] or 0
        if last >= _rowformat.MAX_INTERNED:
            return None
        found = conn.execute(f"INSERT INTO {table} ({column}) VALUES (?)", (text,)).lastrowid
        assert found is not None
        return found

    def _interned_text(self, kind: str, number: int) -> str | None:
        """The text of an interned number, ``None`` if there is none.

        A text that is not UTF-8 (another program wrote it) raises a
        :class:`~._rowformat.Corrupt` naming its row: only the entries that use it
        become :class:`~syncengine.entry.CorruptEntry` items, each failing alone."""
        try:
            row = (
                self._connection()
                .execute(f"SELECT {_INTERNED[kind]} FROM {kind} WHERE id = ?", (number,))
                .fetchone()
            )
        except sqlite3.OperationalError as error:
            if "decode" not in str(error):
                raise
            what = "field names" if kind == _rowformat.SHAPES else "history item"
            raise _rowformat.Corrupt(
                f"its {what} (row {number} of table {kind!r}) are not UTF-8 text"
                if kind == _rowformat.SHAPES
                else f"its {what} (row {number} of table {kind!r}) is not UTF-8 text"
            ) from None
        return None if row is None else str(row[0])

    def _fetch(
        self,
        conn: sqlite3.Connection,
        sql: str,
        params: Sequence[Any],
        sync_id: str,
        object_type: str | None,
        at: int,
    ) -> list[Any]:
        """The rows of a query of entries of a sync, whose entry id is column ``at``.

        A row with a text column that is not UTF-8 (another program wrote it) does not
        fail the query: its entry id is read with the bytes escaped, each other column
        that is not UTF-8 becomes a :class:`~._rowformat.NotText`, and so does its
        ``data`` column (column 9 of a row of entries), so that decoding it makes a
        :class:`~syncengine.entry.CorruptEntry` naming it; the other rows are read as
        usual."""
        try:
            return conn.execute(sql, params).fetchall()
        except sqlite3.OperationalError as error:
            if "decode" not in str(error):
                raise
        conn.text_factory = bytes
        try:
            raw = conn.execute(sql, params).fetchall()
        finally:
            conn.text_factory = str
        rows: list[Any] = []
        for row in raw:
            values = list(row)
            bad = False
            for i, value in enumerate(values):
                if type(value) is bytes:
                    try:
                        values[i] = value.decode()
                    except UnicodeDecodeError:
                        bad = True
                        values[i] = (
                            value.decode(errors="backslashreplace")
                            if i == at
                            else _rowformat.NotText()
                        )
            if bad and at == 2 and len(values) >= 10:
                values[9] = _rowformat.NotText()
            rows.append(tuple(values))
        return rows

    # ---- lookups ------------------------------------------------------------------
    def _select(
        self,
        sync_id: str,
        object_type: str,
        column: str,
        wanted: Iterable[str],
    ) -> Iterator[tuple[str, Entry]]:
        """(value of ``column``, entry) for entries whose ``column`` is in ``wanted``."""
        found: list[tuple[str, Entry]] = []
        index = {"entry_id": 2, "hub_id": 3, "app_id": 4}[column]
        recent = self._recent
        rows = self._rows

        def read(conn: sqlite3.Connection, sync: int, ot: int, chunk: Sequence[str]) -> None:
            sql = (
                f"SELECT {_COLUMNS} FROM entries e "
                f"WHERE e.sync = ? AND e.ot = ? AND e.{column} IN ({_marks(len(chunk))})"
            )
            for row in self._fetch(conn, sql, (sync, ot, *chunk), sync_id, object_type, 2):
                seen = recent.get(row[0])
                if (
                    seen is not None
                    and seen[0] == row
                    and seen[1].sync_id == sync_id
                    and seen[1].object_type == object_type
                ):
                    entry = seen[1]
                else:
                    entry = self._codec.decode(sync_id, object_type, row)
                    recent[row[0]] = (row, entry)
                rows[(sync, ot, row[2])] = (*row[:1], row[5], row[8], *row[3:5], *row[6:8])
                found.append((row[index], entry))

        with self._lock:  # the caches are trimmed around the read, under the same lock
            if len(recent) > _RECENT:
                recent.clear()
            if len(rows) > _ROWS:
                rows.clear()
            self._by_chunks(sync_id, object_type, wanted, 2, read)
            # A read of more than the caches hold: keep them bounded (at most twice their
            # size: a page's entries stay for the reads that follow it).
            if len(recent) > 2 * _RECENT:
                recent.clear()
            if len(rows) > 2 * _ROWS:
                rows.clear()
        yield from found

    @override
    def get(self, sync_id: str, object_type: str, entry_ids: Iterable[str]) -> dict[str, Entry]:
        return dict(self._select(sync_id, object_type, "entry_id", entry_ids))

    @override
    def by_record_ids(
        self, sync_id: str, object_type: str, side: Side, record_ids: Iterable[str]
    ) -> dict[str, Entry]:
        column = "hub_id" if side is Side.HUB else "app_id"
        return dict(self._select(sync_id, object_type, column, record_ids))

    @override
    def by_record_ids_rows(
        self, sync_id: str, object_type: str, side: Side, record_ids: Iterable[str]
    ) -> dict[str, RowView]:
        # _select's read, each row viewed (RowCodec.pair_view): a synced pair's row is
        # not decoded, and keeps what write_synced_rows needs to write it again.
        found: dict[str, RowView] = {}
        index = 3 if side is Side.HUB else 4
        column = "hub_id" if side is Side.HUB else "app_id"
        rows = self._rows
        view = self._codec.pair_view

        def read(conn: sqlite3.Connection, sync: int, ot: int, chunk: Sequence[str]) -> None:
            sql = (
                f"SELECT {_COLUMNS} FROM entries e "
                f"WHERE e.sync = ? AND e.ot = ? AND e.{column} IN ({_marks(len(chunk))})"
            )
            for row in self._fetch(conn, sql, (sync, ot, *chunk), sync_id, object_type, 2):
                rows[(sync, ot, row[2])] = (*row[:1], row[5], row[8], *row[3:5], *row[6:8])
                found[row[index]] = view(sync_id, object_type, row)

        with self._lock:  # the cache is trimmed around the read, under the same lock
            if len(rows) > _ROWS:
                rows.clear()
            self._by_chunks(sync_id, object_type, record_ids, 2, read)
            if len(rows) > 2 * _ROWS:  # a read larger than the cache: keep it bounded
                rows.clear()
        return found

    @override
    def marked(
        self, sync_id: str, object_type: str, side: Side, record_ids: Iterable[str], mark: str
    ) -> set[str]:
        # The mark is item 4 of the data array: read by SQLite's JSON functions where it
        # has them (no entry is built, nothing is decoded in Python), else parsed here.
        column = "hub_id" if side is Side.HUB else "app_id"
        found: set[str] = set()
        if type(mark) is not str:
            return found

        def read(conn: sqlite3.Connection, sync: int, ot: int, chunk: Sequence[str]) -> None:
            where = f"sync = ? AND ot = ? AND {column} IN ({_marks(len(chunk))})"
            if self._json is not False:
                try:
                    rows = conn.execute(
                        f"SELECT {column} FROM entries WHERE {where} "
                        "AND json_extract(data, '$[4]') = ?",
                        (sync, ot, *chunk, mark),
                    ).fetchall()
                except sqlite3.OperationalError as error:
                    # Built without JSON: parse in Python from now on. A row that is not
                    # JSON (another program wrote it): parse this chunk in Python, which
                    # passes over that row (reading its entry names it).
                    if "no such function" in str(error):
                        self._json = False
                else:
                    self._json = True
                    found.update(row[0] for row in rows)
                    return
            needle = _dumps(mark)
            for record_id, data in self._fetch(
                conn,
                f"SELECT {column}, data FROM entries WHERE {where}",
                (sync, ot, *chunk),
                sync_id,
                object_type,
                0,
            ):
                if type(data) is str and needle in data:  # (not UTF-8: a NotText)
                    try:
                        record = json.loads(data)
                    except ValueError:
                        continue  # not this pass's mark; a read of the entry names it
                    if type(record) is list and len(record) > 4 and record[4] == mark:
                        found.add(record_id)

        self._by_chunks(sync_id, object_type, record_ids, 3, read)
        return found

    @override
    def record_keys(
        self, sync_id: str, object_type: str, side: Side, record_ids: Iterable[str]
    ) -> dict[str, tuple[str | None, frozenset[str]]]:
        # Hot columns only: no entry is built, the data column is not read.
        column, other = ("hub_id", "app_id") if side is Side.HUB else ("app_id", "hub_id")
        found: dict[str, tuple[str | None, frozenset[str]]] = {}
        row_keys = self._codec.keys

        def read(conn: sqlite3.Connection, sync: int, ot: int, chunk: Sequence[str]) -> None:
            for record_id, other_id, keys, entry_id in self._fetch(
                conn,
                f"SELECT {column}, {other}, keys, entry_id FROM entries "
                f"WHERE sync = ? AND ot = ? AND {column} IN ({_marks(len(chunk))})",
                (sync, ot, *chunk),
                sync_id,
                object_type,
                3,
            ):
                if type(keys) is not str or type(other_id) not in (str, type(None)):
                    # Not UTF-8 (see _fetch): no keys; reading the entry names the row.
                    found[record_id] = (other_id if type(other_id) is str else None, _EMPTY)
                elif keys[:1] != "[":
                    found[record_id] = (other_id, _keys_of(keys))
                else:
                    found[record_id] = (other_id, row_keys(sync_id, object_type, entry_id, keys))

        self._by_chunks(sync_id, object_type, record_ids, 2, read)
        return found

    def _by_chunks(
        self,
        sync_id: str,
        object_type: str,
        wanted: Iterable[str],
        fixed: int,
        read: Callable[[sqlite3.Connection, int, int, Sequence[str]], None],
    ) -> None:
        """Call ``read(connection, sync, ot, chunk)`` for each chunk of the distinct
        ``wanted`` values that fits one statement beside ``fixed`` other parameters, all
        within one read (its errors raised as IndexStoreError); not at all when the sync
        or type has no entries."""
        # A value that is not valid Unicode (an id another program wrote with bytes that
        # are not UTF-8, read as lone surrogates) names no entry: none is stored under one,
        # and no query parameter can carry it.
        values = [v for v in dict.fromkeys(wanted) if v.isascii() or lone_surrogate(v) is None]
        if not values:
            return
        with self._reading() as conn:
            scope = self._scope(conn, sync_id, object_type)
            if scope is None:
                return
            for chunk in _chunks(values, _MAX_PARAMS - fixed):
                read(conn, *scope, chunk)

    @override
    def by_keys(
        self, sync_id: str, object_type: str, keys: Iterable[str]
    ) -> dict[str, list[Entry]]:
        return self._by_keys(sync_id, object_type, keys, None)

    @override
    def by_keys_indexed(
        self, sync_id: str, object_type: str, keys: Iterable[str], tag: str
    ) -> tuple[dict[str, list[Entry]], dict[str, dict[str, str | None]]]:
        # The kept values are read from the rows by_keys decodes, in the same pass.
        kept: dict[str, dict[str, str | None]] = {}
        found = self._by_keys(sync_id, object_type, keys, (tag, kept) if type(tag) is str else None)
        return found, kept

    def _by_keys(
        self,
        sync_id: str,
        object_type: str,
        keys: Iterable[str],
        kept: tuple[str, dict[str, dict[str, str | None]]] | None,
    ) -> dict[str, list[Entry]]:
        wanted = list(dict.fromkeys(keys))
        found: dict[str, list[Entry]] = {}
        if not wanted:
            return found
        shared: set[str] = set()  # keys held by several entries: sorted by rowid at the end
        with self._reading() as conn:
            scope = self._scope(conn, sync_id, object_type)
            if scope is None:
                return found
            sync, ot = scope
            decode = self._codec.decode
            recent = self._recent
            rows = self._rows
            if len(rows) > _ROWS:
                rows.clear()
            decoded: dict[int, Entry] = {}
            for chunk in _chunks(wanted, _MAX_PARAMS - 2):
                sql = (
                    f"SELECT {_COLUMNS}, k.key FROM keys k JOIN entries e ON e.id = k.entry "
                    f"WHERE k.sync = ? AND k.ot = ? AND k.key IN ({_marks(len(chunk))})"
                )
                for row in self._fetch(conn, sql, (sync, ot, *chunk), sync_id, object_type, 2):
                    rowid = row[0]
                    entry = decoded.get(rowid)
                    if entry is None:
                        seen = recent.get(rowid)
                        if (
                            seen is not None
                            and seen[0] == row[:10]
                            and seen[1].sync_id == sync_id
                            and seen[1].object_type == object_type
                        ):
                            entry = decoded[rowid] = seen[1]
                            if kept is not None:
                                values = self._codec.kept(row[9], kept[0])
                                if values is not None:
                                    kept[1][row[2]] = values
                        else:
                            entry = decoded[rowid] = decode(sync_id, object_type, row, kept)
                        rows[(sync, ot, row[2])] = (rowid, row[5], row[8], *row[3:5], *row[6:8])
                    key = row[10]
                    holders = found.get(key)
                    if holders is None:
                        found[key] = [entry]
                    else:
                        holders.append(entry)
                        shared.add(key)
            if len(rows) > 2 * _ROWS:  # a read larger than the cache: keep it bounded
                rows.clear()
            if shared:
                rowids = {id(entry): rowid for rowid, entry in decoded.items()}
                for key in shared:
                    found[key].sort(key=lambda entry: rowids[id(entry)])
        return found

    @override
    def by_keys_rows(
        self, sync_id: str, object_type: str, keys: Iterable[str], tag: str
    ) -> tuple[dict[str, list[RowView]], dict[str, dict[str, str | None]]]:
        # _by_keys' read, with each row viewed (RowCodec.view): a bare entry's row is
        # not decoded, and keeps what write_matched needs to complete it in place.
        kept: dict[str, dict[str, str | None]] = {}
        wanted = list(dict.fromkeys(keys))
        found: dict[str, list[RowView]] = {}
        if not wanted:
            return found, kept
        tagged = (tag, kept) if type(tag) is str else None
        shared: set[str] = set()  # keys held by several entries: sorted by rowid at the end
        with self._reading() as conn:
            scope = self._scope(conn, sync_id, object_type)
            if scope is None:
                return found, kept
            sync, ot = scope
            view = self._codec.view
            rows = self._rows
            if len(rows) > _ROWS:
                rows.clear()
            viewed: dict[int, RowView] = {}
            for chunk in _chunks(wanted, _MAX_PARAMS - 2):
                sql = (
                    f"SELECT {_COLUMNS}, k.key FROM keys k JOIN entries e ON e.id = k.entry "
                    f"WHERE k.sync = ? AND k.ot = ? AND k.key IN ({_marks(len(chunk))})"
                )
                for row in self._fetch(conn, sql, (sync, ot, *chunk), sync_id, object_type, 2):
                    rowid = row[0]
                    got = viewed.get(rowid)
                    if got is None:
                        got = viewed[rowid] = view(sync_id, object_type, row, tagged)
                        rows[(sync, ot, row[2])] = (rowid, row[5], row[8], *row[3:5], *row[6:8])
                    key = row[10]
                    holders = found.get(key)
                    if holders is None:
                        found[key] = [got]
                    else:
                        holders.append(got)
                        shared.add(key)
            if len(rows) > 2 * _ROWS:  # a read larger than the cache: keep it bounded
                rows.clear()
            if shared:
                rowids = {id(got): rowid for rowid, got in viewed.items()}
                for key in shared:
                    found[key].sort(key=lambda got: rowids[id(got)])
        return found, kept

    @override
    def _entries(
        self,
        sync_id: str,
        object_type: str | None,
        codes: list[int] | None,
        since: int | None,
        until: int | None,
        pending: bool | None,
        start: int = 0,
        chunk_size: int = _CHUNK,
    ) -> Iterator[tuple[int, Entry]]:
        """Matching entries after row id ``start``, each with its row id."""
        if codes is not None and not codes:
            return
        with self._reading() as conn:
            sync = self._sync(conn, sync_id)
            ot = None if object_type is None else self._ot(conn, object_type)
            if sync is None or (object_type is not None and ot is None):
                return
            hint = self._plan(conn, sync, ot, codes, pending)
        where, params = _rowformat.entry_where(
            sync, ot, codes, since, until, pending, mark="?", array=False
        )
        if "entries_by_state" in hint:
            where.append(_IN_STATE_INDEX)  # a partial index needs its WHERE in the query
        sql = (
            f"SELECT {_COLUMNS} FROM entries e {hint} WHERE {' AND '.join(where)} "
            f"AND e.id > ? ORDER BY e.id LIMIT {chunk_size}"
        )
        last = start
        while True:
            with self._reading() as conn:
                rows = self._fetch(conn, sql, (*params, last), sync_id, None, 2)
                chunk = [
                    (row[0], self._codec.decode(sync_id, self._ot_name(conn, row[1]), row))
                    for row in rows
                ]
            yield from chunk
            if len(rows) < chunk_size:
                return
            last = rows[-1][0]

    @staticmethod
    def _plan(
        conn: sqlite3.Connection,
        sync: int,
        ot: int | None,
        codes: list[int] | None,
        pending: bool | None,
    ) -> str:
        """Which index pages of :meth:`entries` should use.

        Paging in rowid order through an index on other columns sorts every match once
        per page, so an index only pays when few entries match; otherwise the pages walk
        the table in rowid order.
        """
        if ot is None:
            return "NOT INDEXED"
        if pending:
            # Small, and in rowid order within (sync, ot): no sort at all.
            return "INDEXED BY entries_pending"
        if codes is None or min(codes) < _PARTIAL:
            return "NOT INDEXED"  # the state index holds only the states that stay few
        matching = conn.execute(
            f"SELECT coalesce(sum(n), 0) FROM counts "
            f"WHERE sync = ? AND ot = ? AND state IN ({_marks(len(codes))})",
            (sync, ot, *codes),
        ).fetchone()[0]
        total = conn.execute("SELECT coalesce(sum(n), 0) FROM counts").fetchone()[0]
        if matching * matching <= 2500 * max(total, 1):
            return "INDEXED BY entries_by_state"
        return "NOT INDEXED"

    @override
    def counts(self, sync_id: str) -> dict[str, dict[RecordState, int]]:
        found: dict[str, dict[RecordState, int]] = {}
        with self._reading() as conn:
            sync = self._sync(conn, sync_id)
            if sync is None:
                return found
            rows = conn.execute(
                "SELECT ot, state, n FROM counts WHERE sync = ? AND n > 0", (sync,)
            ).fetchall()
            for ot, state, n in rows:
                found.setdefault(self._ot_name(conn, ot), {})[_STATES[state]] = n
        return found

    @override
    def count_on(self, sync_id: str, object_type: str, side: Side) -> int:
        column = "hub_id" if side is Side.HUB else "app_id"
        with self._reading() as conn:
            scope = self._scope(conn, sync_id, object_type)
            if scope is None:
                return 0
            row = conn.execute(
                f"SELECT count(*) FROM entries WHERE sync = ? AND ot = ? AND {column} IS NOT NULL",
                scope,
            ).fetchone()
        return int(row[0])

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
        # Kept in the row's data column, after the entry (_rowformat.KEPT): the entry's
        # next write encodes the entry alone, which drops them.
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
    def write_synced(
        self,
        copies: Sequence[SyncedCopy],
        updated_at: datetime,
        history_size: int,
        *,
        cursors: Sequence[CursorUpdate] = (),
    ) -> None:
        # A row stored as its entry was read (the hot columns this connection knows)
        # gets its data column and time rewritten in place (RowCodec.encode_synced);
        # the others are written whole, as write_built writes synced_copy's entries.
        if not (copies or cursors):
            return

        def rewrite(
            conn: sqlite3.Connection,
            batch: dict[tuple[str, str, str], Entry],
            deltas: Counter[tuple[int, int, int]],
            written: dict[tuple[int, int, str], _Row],
        ) -> None:
            self._rewrite_synced(conn, batch, written, copies, updated_at, history_size)

        self._write_all((), (), cursors, None, built=True, complete=rewrite)

    @override
    def write_synced_rows(
        self,
        rows: Sequence[SyncedRow],
        updated_at: datetime,
        history_size: int,
        *,
        cursors: Sequence[CursorUpdate] = (),
    ) -> None:
        # write_synced's way, each row written from its view (RowCodec.encode_synced_row:
        # a view this store read, from its stored history, without the entry).
        if not (rows or cursors):
            return

        def rewrite(
            conn: sqlite3.Connection,
            batch: dict[tuple[str, str, str], Entry],
            deltas: Counter[tuple[int, int, int]],
            written: dict[tuple[int, int, str], _Row],
        ) -> None:
            self._rewrite_synced(conn, batch, written, rows, updated_at, history_size)

        self._write_all((), (), cursors, None, built=True, complete=rewrite)

    def _rewrite_synced(
        self,
        conn: sqlite3.Connection,
        batch: dict[tuple[str, str, str], Entry],
        written: dict[tuple[int, int, str], _Row],
        copies: Sequence[SyncedCopy] | Sequence[SyncedRow],
        updated_at: datetime,
        history_size: int,
    ) -> None:
        """write_synced's rows, in _write's transaction: rewritten in place when stored
        as read, else added to ``batch`` (written whole by _upsert)."""
        last: dict[tuple[str, str, str], SyncedCopy | SyncedRow] = {}
        for copy in copies:
            entry = copy[0]
            last[(entry.sync_id, entry.object_type, entry.entry_id)] = copy  # the last wins
        updated = _codec.to_micros(updated_at)
        known = self._rows
        encode = self._codec.encode_synced
        encode_row = self._codec.encode_synced_row  # a view's (write_synced_rows)
        # The stored hot columns of each entry: known, or read now (in _Row order).
        scopes: dict[tuple[str, str], tuple[int, int]] = {}
        unknown: dict[tuple[str, str], list[str]] = {}
        for sync_id, object_type, entry_id in last:
            scope = scopes.get((sync_id, object_type))
            if scope is None:
                sync = self._sync(conn, sync_id, create=True)
                ot = self._ot(conn, object_type, create=True)
                assert sync is not None
                assert ot is not None
                scope = scopes[(sync_id, object_type)] = (sync, ot)
            if (*scope, entry_id) not in known:
                unknown.setdefault((sync_id, object_type), []).append(entry_id)
        found: dict[tuple[int, int, str], _Row] = {}
        for (sync_id, object_type), entry_ids in unknown.items():
            sync, ot = scopes[(sync_id, object_type)]
            existing = self._existing(conn, (sync_id, object_type, sync, ot), entry_ids)
            for entry_id, stored in existing.items():
                found[(sync, ot, entry_id)] = stored
        moved: list[tuple[int, str, int]] = []
        stayed: list[tuple[str, int]] = []
        whole: list[Entry] = []
        for (sync_id, object_type, entry_id), (entry, hub, app, item) in last.items():
            where = (*scopes[(sync_id, object_type)], entry_id)
            old = known.get(where) or found.get(where)
            data = (
                None
                if old is None
                or old[1] != _SYNCED_CODE
                or old[6] is not None
                or old[3] != entry.hub_id
                or old[4] != entry.app_id
                or old[2] != _keys_text(entry.keys)
                else encode_row(entry, hub, app, item, updated_at, updated, history_size)
                if isinstance(entry, PairView)
                else encode(entry, hub, app, item, updated_at, updated, history_size)
            )
            if data is None or old is None:
                base = entry.entry() if isinstance(entry, PairView) else entry
                whole.append(_synced_copy(base, hub, app, item, updated_at, history_size))
                continue
            rowid = old[0]
            if updated != old[5]:
                moved.append((updated, data, rowid))
            else:
                stayed.append((data, rowid))
            written[where] = (rowid, _SYNCED_CODE, old[2], old[3], old[4], updated, None)
        if moved:
            conn.executemany(_update_sql(8), moved)
        if stayed:
            conn.executemany(_update_sql(0), stayed)
        batch.update(_rowformat.built_entries(whole))

    @override
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
        # The rows of bare entries viewed by by_keys_rows, completed in place
        # (RowCodec.encode_matched); the others written whole, as the default does.
        if not matched:
            self._write_all(entries, (), cursors, None, built=True)  # as write_built
            return

        def complete(
            conn: sqlite3.Connection,
            batch: dict[tuple[str, str, str], Entry],
            deltas: Counter[tuple[int, int, int]],
            written: dict[tuple[int, int, str], _Row],
        ) -> None:
            self._complete_matched(
                conn, batch, deltas, written, matched, mark, updated_at, history_size
            )

        try:
            self._write_all(entries, (), cursors, None, built=True, complete=complete)
        except _NotAnnounced:
            # A row is not as it was read, or the call is not a plain one: all whole.
            super().write_matched(
                matched,
                mark=mark,
                updated_at=updated_at,
                history_size=history_size,
                entries=entries,
                cursors=cursors,
            )

    def _complete_matched(
        self,
        conn: sqlite3.Connection,
        batch: dict[tuple[str, str, str], Entry],
        deltas: Counter[tuple[int, int, int]],
        written: dict[tuple[int, int, str], _Row],
        matched: Sequence[Matched],
        mark: str | None,
        updated_at: datetime,
        history_size: int,
    ) -> None:
        """write_matched's rows, in _write's transaction: each row a StoredRowView of
        this store read, whose keys stay, completed in place (one UPDATE that checks
        the row is still as read: its data column and hot columns); the others written
        whole, before ``batch`` (the default's order: its entries follow). Raises
        _NotAnnounced when an UPDATE finds a row changed, or an entry is written twice
        in the call (the caller then writes all of it whole)."""
        updated = _micros("updated_at", updated_at)
        encode = self._codec.encode_matched
        whole: dict[tuple[str, str, str], Entry] = {}
        params: list[tuple[Any, ...]] = []
        done: list[tuple[tuple[int, int, str], _Row, int]] = []
        scopes: dict[tuple[str, str], tuple[int, int] | None] = {}  # (sync, ot) numbers
        seen: set[tuple[str, str, str]] = set()
        synced = _SYNCED_CODE
        for view, app_id, keys, matched_by, hub_values, app_values, items in matched:
            where = (view.sync_id, view.object_type, view.entry_id)
            if where in seen or where in batch:
                raise _NotAnnounced(f"entry {view.entry_id!r:.80} is written twice")
            seen.add(where)
            data = None
            if (
                type(view) is _rowformat.StoredRowView
                and view._codec is self._codec
                and keys == view.keys
                and type(app_id) is str
            ):
                data = encode(
                    view,
                    keys,
                    matched_by,
                    hub_values,
                    app_values,
                    items,
                    mark,
                    updated_at,
                    updated,
                    history_size,
                )
            scope = None
            if data is not None:
                names = where[:2]
                scope = scopes.get(names, _NO_SCOPE)
                if scope is _NO_SCOPE:
                    scope = scopes[names] = self._scope(conn, *names)
            if data is None or scope is None:
                whole[where] = matched_entry(
                    view.entry(),
                    app_id,
                    keys,
                    matched_by,
                    hub_values,
                    app_values,
                    items,
                    mark,
                    updated_at,
                    history_size,
                )
                continue
            assert isinstance(view, _rowformat.StoredRowView)
            row = view.row
            rowid, state, keys_text = row[0], row[5], row[8]
            params.append((app_id, updated, data, rowid, state, view.hub_id, keys_text, row[9]))
            done.append(
                (
                    (*scope, view.entry_id),
                    (rowid, synced, keys_text, view.hub_id, app_id, updated, None),
                    state,
                )
            )
        if params:
            changed = conn.executemany(
                f"UPDATE entries SET app_id = ?, state = {synced}, updated_at = ?, data = ? "
                "WHERE id = ? AND state = ? AND hub_id IS ? AND app_id IS NULL "
                "AND pending IS NULL AND keys IS ? AND data = ?",
                params,
            ).rowcount
            if changed != len(params):
                raise _NotAnnounced("a row is not as it was read")
        moved: Counter[tuple[int, int, int]] = Counter()  # rows by the state they leave
        for (sync, ot, entry_id), completed, state in done:
            written[(sync, ot, entry_id)] = completed
            if state != synced:
                moved[(sync, ot, state)] += 1
        for (sync, ot, state), n in moved.items():
            deltas[(sync, ot, state)] -= n
            deltas[(sync, ot, synced)] += n
        if whole:
            # The default writes [*done, *entries]: the whole ones come first.
            rest = dict(batch)
            batch.clear()
            batch.update(whole)
            batch.update(rest)

    @override
    def write_new(self, entries: Sequence[Entry], *, cursors: Sequence[CursorUpdate] = ()) -> None:
        # Inserted without looking for stored rows of the same ids (_upsert's ``fresh``):
        # the unique index on entry ids refuses one that is stored; then the write is
        # rolled back (with what it interned) and done by write_built, which looks.
        try:
            self._write_all(entries, (), cursors, None, built=True, fresh=True)
        except _Taken:
            self.write_built(entries, cursors=cursors)

    @override
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
        # The rows from their parts: one data text for the page (the history item's
        # number interned first, as encoding the first entry would), the kept values
        # per record. Inserted without looking for stored rows (as write_new): a taken
        # id (or a record id given twice) rolls it back and the default writes it.
        ids = [r[0] for r in records]
        if not records or len(set(ids)) != len(ids):
            super().write_indexed_new(
                sync_id, object_type, side, records, at=at, tag=tag, cursors=cursors
            )
            return
        updated = _micros("at", at)

        def insert(
            conn: sqlite3.Connection,
            batch: dict[tuple[str, str, str], Entry],
            deltas: Counter[tuple[int, int, int]],
            written: dict[tuple[int, int, str], _Row],
        ) -> None:
            self._insert_indexed(
                conn, sync_id, object_type, side, records, updated, tag, deltas, written
            )

        try:
            self._write_all((), (), cursors, None, complete=insert)
        except _Taken:
            super().write_indexed_new(
                sync_id, object_type, side, records, at=at, tag=tag, cursors=cursors
            )

    def _insert_indexed(
        self,
        conn: sqlite3.Connection,
        sync_id: str,
        object_type: str,
        side: Side,
        records: Sequence[tuple[str, frozenset[str], Mapping[str, str | None] | None]],
        updated: int,
        tag: str,
        deltas: Counter[tuple[int, int, int]],
        written: dict[tuple[int, int, str], _Row],
    ) -> None:
        """Insert write_indexed_new's rows (see there); :class:`_Taken` when an entry id
        is stored."""
        sync = self._sync(conn, sync_id, create=True)
        ot = self._ot(conn, object_type, create=True)
        assert sync is not None
        assert ot is not None
        known = self._rows
        hub = side is Side.HUB
        prefix = "h:" if hub else "a:"
        codec = self._codec
        plain, head = codec.indexed_data(side.value)
        kept_json = codec.kept_json
        state = _STATE_CODES[RecordState.INITIAL]
        next_id = (conn.execute("SELECT max(id) FROM entries").fetchone()[0] or 0) + 1
        inserts: list[tuple[Any, ...]] = []
        key_rows: list[tuple[int, int, str, int]] = []
        for record_id, keys, values in records:
            entry_id = f"{prefix}{record_id}"
            if (sync, ot, entry_id) in known:
                raise _Taken(f"entry {entry_id!r:.80} is stored")
            data = plain if values is None else f"{head}{kept_json(tag, values)}]"
            keys_text = _keys_text(keys)
            hub_id = record_id if hub else None
            app_id = None if hub else record_id
            rowid = next_id
            next_id += 1
            inserts.append(
                (rowid, sync, ot, entry_id, hub_id, app_id, state, updated, None, keys_text, data)
            )
            for key in keys:
                key_rows.append((sync, ot, key, rowid))
            written[(sync, ot, entry_id)] = (rowid, state, keys_text, hub_id, app_id, updated, None)
        deltas[(sync, ot, state)] += len(inserts)
        try:
            conn.executemany(
                "INSERT INTO entries (id, sync, ot, entry_id, hub_id, app_id, state, "
                "updated_at, pending, keys, data) VALUES (?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?)",
                inserts,
            )
        except sqlite3.IntegrityError as error:
            raise _Taken(f"an entry write_indexed_new would insert is stored: {error}") from error
        if key_rows:
            conn.executemany(
                "INSERT INTO keys (sync, ot, key, entry) VALUES (?, ?, ?, ?)", key_rows
            )

    @override
    def replace_unchanged(
        self, sync_id: str, object_type: str, changes: Sequence[tuple[Entry, Entry]]
    ) -> dict[str, Entry | None]:
        pairs = check_changes(sync_id, object_type, changes)
        lost: dict[str, Entry | None] = {}

        def compare(batch: dict[tuple[str, str, str], Entry]) -> None:
            # In the write's IMMEDIATE transaction (this connection, under self._lock).
            stored = self.get(sync_id, object_type, list(pairs))
            for entry_id, (read, _) in pairs.items():
                current = stored.get(entry_id)
                if current is None or not same_entry(read, current):
                    lost[entry_id] = current
                    del batch[(sync_id, object_type, entry_id)]

        self._write_all([new for _, new in pairs.values()], (), (), None, compare=compare)
        return lost

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
        if not created:
            self.write_built(entries, cursors=cursors)
            return

        def complete(
            conn: sqlite3.Connection,
            batch: dict[tuple[str, str, str], Entry],
            deltas: Counter[tuple[int, int, int]],
            written: dict[tuple[int, int, str], _Row],
        ) -> None:
            self._complete(conn, batch, deltas, written, created, at, mark, history)

        try:
            self._write_all(entries, (), cursors, None, built=True, complete=complete)
        except _NotAnnounced:
            # A row is not its announced entry's (or not known here): write them whole.
            super().write_created(
                created, at=at, mark=mark, history=history, entries=entries, cursors=cursors
            )

    def _complete(
        self,
        conn: sqlite3.Connection,
        batch: dict[tuple[str, str, str], Entry],
        deltas: Counter[tuple[int, int, int]],
        written: dict[tuple[int, int, str], _Row],
        created: Sequence[tuple[Entry, str]],
        at: datetime,
        mark: str | None,
        history: tuple[HistoryItem, ...],
    ) -> None:
        """Complete in place the rows of write_created's announced entries that this
        store wrote and knows (``_rows``): the record id, the state, ``updated_at``, no
        longer pending, and the end of the ``data`` column after the values, which is
        all that differs between the announced entry's ``data`` and the created one's.
        Each UPDATE checks that the row still ends as the announced entry's does (its
        idempotency key is unique), and is in the state and pending on the side known;
        if one is not, the transaction is rolled back (``_NotAnnounced``) and the
        caller writes every entry whole. The others are added to ``batch``."""
        if batch and any((e.sync_id, e.object_type, e.entry_id) in batch for e, _ in created):
            # An entry both written and completed: the completion replaces it, so its
            # history items would be interned here though write_built never encodes it.
            raise _NotAnnounced("an entry of the other entries is also completed")
        first, first_id = created[0]
        sync_id, object_type = first.sync_id, first.object_type
        scope = self._scope(conn, sync_id, object_type)
        codec = self._codec
        updated = _micros("at", at)
        # The other entries come first in write_built's order: their history items are
        # numbered first, as they would be there.
        codec.intern_history(batch.values())
        tail = codec.created_tail(created_entry(first, first_id, at, mark, history), updated)
        known = self._rows if scope is not None and tail is not None else {}
        sync, ot = scope or (0, 0)
        synced = _STATE_CODES[RecordState.SYNCED]
        side_codes = _SIDE_CODES
        suffix_of = codec.pending_suffix
        rows: dict[int, list[tuple[Any, ...]]] = {0: [], 1: []}
        done: list[tuple[str, _Row]] = []
        states: Counter[int] = Counter()  # the completed rows' states before
        for announced, record_id in created:
            side = announced.pending
            key = announced.pending_key
            entry_id = announced.entry_id
            row = (
                known.get((sync, ot, entry_id))
                if side is not None
                and type(key) is str
                and type(record_id) is str
                and announced.sync_id == sync_id
                and announced.object_type == object_type
                and (not batch or (sync_id, object_type, entry_id) not in batch)
                else None
            )
            if (
                row is None
                or side is None
                or key is None
                or row[6] != side_codes[side]
                or row[3] != announced.hub_id
                or row[4] != announced.app_id
            ):
                entry = created_entry(announced, record_id, at, mark, history)
                batch[(entry.sync_id, entry.object_type, entry.entry_id)] = entry
                continue
            rowid, state, keys_text, hub_id, app_id, _, _ = row
            code = side_codes[side]
            suffix = suffix_of(key)
            # Its length in bytes: the statement cuts the column as bytes (see below).
            size = len(suffix) if suffix.isascii() else len(suffix.encode())
            rows[code].append((record_id, updated, size, tail, rowid, state, suffix))
            if code == 0:
                done.append(
                    (entry_id, (rowid, synced, keys_text, record_id, app_id, updated, None))
                )
            else:
                done.append(
                    (entry_id, (rowid, synced, keys_text, hub_id, record_id, updated, None))
                )
            states[state] += 1
        _completed(conn, sync, ot, rows, done, states, deltas, written)

    @override
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
        # The rows from their parts (RowCodec.announced_data: no Entry, no encode per
        # create), inserted without looking for stored rows (as write_new): a taken id
        # (or a record given twice) rolls it back and the default writes it.
        ids = [c[0] for c in creates]
        if not creates or len(set(ids)) != len(ids):
            super().write_announced(sync_id, object_type, side, creates, at=at, cursors=cursors)
            return

        def insert(
            conn: sqlite3.Connection,
            batch: dict[tuple[str, str, str], Entry],
            deltas: Counter[tuple[int, int, int]],
            written: dict[tuple[int, int, str], _Row],
        ) -> None:
            self._insert_announced(conn, sync_id, object_type, side, creates, at, deltas, written)

        try:
            self._write_all((), (), cursors, None, complete=insert)
        except _Taken:
            super().write_announced(sync_id, object_type, side, creates, at=at, cursors=cursors)

    def _insert_announced(
        self,
        conn: sqlite3.Connection,
        sync_id: str,
        object_type: str,
        side: Side,
        creates: Sequence[Announced],
        at: datetime,
        deltas: Counter[tuple[int, int, int]],
        written: dict[tuple[int, int, str], _Row],
    ) -> None:
        """Insert write_announced's rows (see there), as _upsert inserts the
        announced entries; :class:`_Taken` when an entry id is stored."""
        sync = self._sync(conn, sync_id, create=True)
        ot = self._ot(conn, object_type, create=True)
        assert sync is not None
        assert ot is not None
        updated = _codec.to_micros(at)  # as _upsert: an aware time (the engine's clock)
        known = self._rows
        hub = side is Side.APP  # the records are the hub's
        prefix = "h:" if hub else "a:"
        pending = _SIDE_CODES[side]
        codec = self._codec
        data_of = codec.announced_data
        state = _STATE_CODES[RecordState.INITIAL]
        next_id = (conn.execute("SELECT max(id) FROM entries").fetchone()[0] or 0) + 1
        inserts: dict[int, list[tuple[Any, ...]]] = {}  # rows by their NULL columns
        key_rows: list[tuple[int, int, str, int]] = []
        # No None parameter (see _insert_sql): the record id on the other side, and the
        # keys when there are none, are NULL in the statement.
        base = 2 if hub else 1
        for record_id, keys, hub_values, app_values, key in creates:
            entry_id = f"{prefix}{record_id}"
            if (sync, ot, entry_id) in known:
                raise _Taken(f"entry {entry_id!r:.80} is stored")
            data = data_of(hub_values, app_values, key)
            if data is None:
                entry = announced_entry(
                    sync_id, object_type, side, record_id, keys, hub_values, app_values, key, at
                )
                data = codec.encode(entry, updated, keys)
            keys_text = _keys_text(keys)
            rowid = next_id
            next_id += 1
            if keys_text is None:
                nulls = base | 8
                row: tuple[Any, ...] = (rowid, sync, ot, entry_id, record_id, state, updated)
                row += (pending, data)
            else:
                nulls = base
                row = (rowid, sync, ot, entry_id, record_id, state, updated, pending)
                row += (keys_text, data)
            rows_of = inserts.get(nulls)
            if rows_of is None:
                inserts[nulls] = [row]
            else:
                rows_of.append(row)
            for k in keys:
                key_rows.append((sync, ot, k, rowid))
            if hub:
                written[(sync, ot, entry_id)] = (
                    rowid,
                    state,
                    keys_text,
                    record_id,
                    None,
                    updated,
                    pending,
                )
            else:
                written[(sync, ot, entry_id)] = (
                    rowid,
                    state,
                    keys_text,
                    None,
                    record_id,
                    updated,
                    pending,
                )
        deltas[(sync, ot, state)] += len(creates)
        try:
            for nulls, rows_of in inserts.items():
                conn.executemany(_insert_sql(nulls), rows_of)
        except sqlite3.IntegrityError as error:
            raise _Taken(f"an entry write_announced would insert is stored: {error}") from error
        if key_rows:
            conn.executemany(
                "INSERT INTO keys (sync, ot, key, entry) VALUES (?, ?, ?, ?)", key_rows
            )

    @override
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
        if not created:
            self.write_built(entries, cursors=cursors)
            return

        def complete(
            conn: sqlite3.Connection,
            batch: dict[tuple[str, str, str], Entry],
            deltas: Counter[tuple[int, int, int]],
            written: dict[tuple[int, int, str], _Row],
        ) -> None:
            self._complete_announced(
                conn,
                batch,
                deltas,
                written,
                (sync_id, object_type, side),
                created,
                at,
                mark,
                history,
            )

        try:
            self._write_all(entries, (), cursors, None, built=True, complete=complete)
        except _NotAnnounced:
            # A row is not its announced entry's (or not known here): the default
            # builds the entries, and write_created writes them whole.
            super().write_announced_created(
                sync_id,
                object_type,
                side,
                created,
                at=at,
                mark=mark,
                history=history,
                entries=entries,
                cursors=cursors,
            )

    def _complete_announced(
        self,
        conn: sqlite3.Connection,
        batch: dict[tuple[str, str, str], Entry],
        deltas: Counter[tuple[int, int, int]],
        written: dict[tuple[int, int, str], _Row],
        where: tuple[str, str, Side],
        created: Sequence[tuple[Announced, str]],
        at: datetime,
        mark: str | None,
        history: tuple[HistoryItem, ...],
    ) -> None:
        """:meth:`_complete` from the parts write_announced was given: each row this
        store wrote and knows, pending on ``side`` with the announced record id, is
        completed in place (the same statements, the same checks of the stored row);
        any other is written whole (``created_entry`` of ``announced_entry``)."""
        sync_id, object_type, side = where
        prefix = "h:" if side is Side.APP else "a:"
        if batch and any((sync_id, object_type, f"{prefix}{c[0]}") in batch for c, _ in created):
            raise _NotAnnounced("an entry of the other entries is also completed")  # see _complete
        scope = self._scope(conn, sync_id, object_type)
        codec = self._codec
        updated = _micros("at", at)
        # The other entries come first in write_built's order (see _complete).
        codec.intern_history(batch.values())
        first, first_id = created[0]
        model = announced_entry(sync_id, object_type, side, *first, at)
        tail = codec.created_tail(created_entry(model, first_id, at, mark, history), updated)
        known = self._rows if scope is not None and tail is not None else {}
        sync, ot = scope or (0, 0)
        synced = _SYNCED_CODE
        code = _SIDE_CODES[side]
        hub = side is Side.APP  # the records are the hub's
        suffix_of = codec.pending_suffix
        params: list[tuple[Any, ...]] = []
        done: list[tuple[str, _Row]] = []
        states: Counter[int] = Counter()  # the completed rows' states before
        for parts, record_id in created:
            origin = parts[0]
            key = parts[4]
            entry_id = f"{prefix}{origin}"
            row = (
                known.get((sync, ot, entry_id))
                if type(key) is str
                and type(record_id) is str
                and (not batch or (sync_id, object_type, entry_id) not in batch)
                else None
            )
            if (
                row is None
                or row[6] != code
                or row[3] != (origin if hub else None)
                or row[4] != (None if hub else origin)
            ):
                entry = announced_entry(sync_id, object_type, side, *parts, at)
                batch[(sync_id, object_type, entry_id)] = created_entry(
                    entry, record_id, at, mark, history
                )
                continue
            rowid, state, keys_text, hub_id, app_id, _, _ = row
            suffix = suffix_of(key)
            # Its length in bytes: the statement cuts the column as bytes.
            size = len(suffix) if suffix.isascii() else len(suffix.encode())
            params.append((record_id, updated, size, tail, rowid, state, suffix))
            if hub:
                done.append(
                    (entry_id, (rowid, synced, keys_text, hub_id, record_id, updated, None))
                )
            else:
                done.append(
                    (entry_id, (rowid, synced, keys_text, record_id, app_id, updated, None))
                )
            states[state] += 1
        _completed(conn, sync, ot, {code: params}, done, states, deltas, written)

    @override
    def indexed_values(
        self, sync_id: str, object_type: str, entry_ids: Iterable[str], tag: str
    ) -> dict[str, dict[str, str | None]]:
        wanted = list(dict.fromkeys(entry_ids))
        found: dict[str, dict[str, str | None]] = {}
        if not wanted or type(tag) is not str:
            return found
        kept_of = self._codec.kept
        with self._reading() as conn:
            scope = self._scope(conn, sync_id, object_type)
            if scope is None:
                return found
            for chunk in _chunks(wanted, _MAX_PARAMS - 2):
                sql = (
                    f"SELECT entry_id, data FROM entries WHERE sync = ? AND ot = ? "
                    f"AND entry_id IN ({_marks(len(chunk))})"
                )
                for entry_id, data in self._fetch(
                    conn, sql, (*scope, *chunk), sync_id, object_type, 0
                ):
                    values = kept_of(data, tag)
                    if values is not None:
                        found[entry_id] = values
        return found

    def _write_all(
        self,
        entries: Sequence[Entry],
        delete: Sequence[tuple[str, str, str]],
        cursors: Sequence[CursorUpdate],
        kept: Mapping[str, tuple[str, Mapping[str, str | None]]] | None,
        *,
        built: bool = False,
        compare: Callable[[dict[tuple[str, str, str], Entry]], None] | None = None,
        complete: _Complete | None = None,
        fresh: bool = False,
    ) -> None:
        # The last of several writes of one entry wins; it keeps the first one's place.
        batch = _rowformat.built_entries(entries) if built else _rowformat.check_entries(entries)
        removals = _rowformat.check_deletes(delete)
        cursors = _rowformat.check_cursors(cursors)
        if not (batch or removals or cursors or complete):
            return
        written: dict[tuple[int, int, str], _Row] = {}
        try:
            self._write(batch, removals, cursors, written, kept, compare, complete, fresh)
        except BaseException:
            self._rows.clear()
            raise
        rows = self._rows
        if len(rows) + len(written) > _ROWS:  # bounded, like every cache here
            rows.clear()
        if len(written) <= _ROWS:
            rows.update(written)

    def _write(
        self,
        batch: dict[tuple[str, str, str], Entry],
        removals: dict[tuple[str, str], dict[str, None]],
        cursors: Sequence[CursorUpdate],
        written: dict[tuple[int, int, str], _Row],
        kept: Mapping[str, tuple[str, Mapping[str, str | None]]] | None = None,
        compare: Callable[[dict[tuple[str, str, str], Entry]], None] | None = None,
        complete: _Complete | None = None,
        fresh: bool = False,
    ) -> None:
        with self._transaction() as conn:
            # Another connection committed since the last write: what is known of rows
            # may be stale (the write lock is held from here on, so it stays valid).
            version = conn.execute("PRAGMA data_version").fetchone()[0]
            if version != self._version:
                self._rows.clear()
                self._version = version
            if compare is not None:
                # replace_unchanged: the entries are read and compared under the write
                # lock, so no other write comes between the comparison and the write.
                compare(batch)
            deltas: Counter[tuple[int, int, int]] = Counter()
            if complete is not None:
                # write_created: announced rows completed in place; the others join batch.
                complete(conn, batch, deltas, written)
            if batch:
                self._upsert(conn, batch, deltas, written, kept, fresh)
            if removals:  # rows go away: forget what is known of rows
                self._rows.clear()
                written.clear()
            for (sync_id, object_type), ids in removals.items():
                self._delete(conn, sync_id, object_type, list(ids), deltas)
            self._set_cursors(conn, cursors)
            _count(conn, deltas)

    def _existing(
        self,
        conn: sqlite3.Connection,
        scope: tuple[str, str, int, int],
        entry_ids: Sequence[str],
    ) -> dict[str, _Row]:
        """The hot columns (see ``_Row``) of the stored entries among ``entry_ids`` of
        (sync id, object type, their ids)."""
        existing: dict[str, _Row] = {}
        sync_id, object_type, sync, ot = scope
        for chunk in _chunks(entry_ids, _MAX_PARAMS - 2):
            rows = self._fetch(
                conn,
                f"SELECT entry_id, id, state, keys, hub_id, app_id, updated_at, pending "
                f"FROM entries WHERE sync = ? AND ot = ? AND entry_id IN ({_marks(len(chunk))})",
                (sync, ot, *chunk),
                sync_id,
                object_type,
                0,
            )
            for entry_id, *stored in rows:
                existing[entry_id] = tuple(stored)
        return existing

    def _upsert(
        self,
        conn: sqlite3.Connection,
        batch: dict[tuple[str, str, str], Entry],
        deltas: Counter[tuple[int, int, int]],
        written: dict[tuple[int, int, str], _Row],
        kept: Mapping[str, tuple[str, Mapping[str, str | None]]] | None = None,
        fresh: bool = False,
    ) -> None:
        # Look up what exists, per (sync, object type); then write in the batch's order,
        # so that new entries get rowids (their place in iteration order) in that order.
        # ``fresh`` (write_new): none should exist; none is looked up, the INSERT's
        # unique index checks it, and one found raises _Taken.
        groups: dict[tuple[str, str], list[str]] = {}
        for sync_id, object_type, entry_id in batch:
            groups.setdefault((sync_id, object_type), []).append(entry_id)
        names: dict[tuple[str, str], tuple[int, int]] = {}
        existing: dict[tuple[int, int, str], _Row] = {}
        known = self._rows
        for (sync_id, object_type), entry_ids in groups.items():
            sync = self._sync(conn, sync_id, create=True)
            ot = self._ot(conn, object_type, create=True)
            assert sync is not None
            assert ot is not None
            names[(sync_id, object_type)] = (sync, ot)
            unknown = []
            for entry_id in entry_ids:
                row = known.get((sync, ot, entry_id))
                if row is None:
                    unknown.append(entry_id)
                elif fresh:
                    raise _Taken(f"entry {entry_id!r:.80} is stored")
                else:
                    existing[(sync, ot, entry_id)] = row
            if fresh:
                continue
            scope = (sync_id, object_type, sync, ot)
            for entry_id, stored in self._existing(conn, scope, unknown).items():
                existing[(sync, ot, entry_id)] = stored
        inserts: dict[int, list[tuple[Any, ...]]] = {}  # rows by their NULL columns
        updates: dict[int, list[tuple[Any, ...]]] = {}
        key_rows: list[tuple[int, int, str, int]] = []
        stale_keys: list[tuple[int, int, str, int]] = []
        inserted: list[tuple[int, int, int]] = []
        next_id = 0
        encode = self._codec.encode
        state_codes = _STATE_CODES
        # The engine stamps a batch with one time: its microseconds are worked out once.
        last_at: datetime | None = None
        updated = 0
        for (sync_id, object_type, entry_id), entry in batch.items():
            sync, ot = names[(sync_id, object_type)]
            state = state_codes[entry.state]
            keys = entry.keys
            keys_text = _keys_text(keys)
            side = entry.pending
            pending = None if side is None else _SIDE_CODES[side]
            at = entry.updated_at
            if at is not last_at:
                updated = _codec.to_micros(at)  # aware: checked in write()
                last_at = at
            data = encode(entry, updated, keys, kept.get(entry_id) if kept else None)
            old = existing.get((sync, ot, entry_id))
            if old is None:
                if not next_id:
                    next_id = (conn.execute("SELECT max(id) FROM entries").fetchone()[0] or 0) + 1
                rowid = next_id
                next_id += 1
                hub_id = entry.hub_id
                app_id = entry.app_id
                # No None parameter (see _insert_sql): the columns that are None are
                # left out of the row (the common cases spelled out: a comprehension
                # costs more than the None it saves).
                nulls = 0 if hub_id is not None else 1
                if app_id is None:
                    nulls |= 2
                if pending is None:
                    nulls |= 4
                if keys_text is None:
                    nulls |= 8
                values_row: tuple[Any, ...]
                if nulls == 2:  # a record of the hub, announced or indexed, unpaired
                    values_row = (
                        rowid,
                        sync,
                        ot,
                        entry_id,
                        hub_id,
                        state,
                        updated,
                        pending,
                        keys_text,
                        data,
                    )
                elif nulls == 6:
                    values_row = (
                        rowid,
                        sync,
                        ot,
                        entry_id,
                        hub_id,
                        state,
                        updated,
                        keys_text,
                        data,
                    )
                elif not nulls:
                    values_row = (
                        rowid,
                        sync,
                        ot,
                        entry_id,
                        hub_id,
                        app_id,
                        state,
                        updated,
                        pending,
                        keys_text,
                        data,
                    )
                else:
                    values_row = tuple(
                        [
                            value
                            for value in (
                                rowid,
                                sync,
                                ot,
                                entry_id,
                                hub_id,
                                app_id,
                                state,
                                updated,
                                pending,
                                keys_text,
                                data,
                            )
                            if value is not None
                        ]
                    )
                rows_of = inserts.get(nulls)
                if rows_of is None:
                    inserts[nulls] = [values_row]
                else:
                    rows_of.append(values_row)
                for key in keys:
                    key_rows.append((sync, ot, key, rowid))
                inserted.append((sync, ot, state))
            else:
                rowid, old_state, old_keys, old_hub, old_app, old_updated, old_pending = old
                # Only the hot columns that changed: each one is in an index.
                mask = 0
                values: list[Any] = []
                # A column set to None is set to NULL by the statement (see _insert_sql).
                if entry.hub_id != old_hub:
                    if entry.hub_id is None:
                        mask |= 64
                    else:
                        mask |= 1
                        values.append(entry.hub_id)
                if entry.app_id != old_app:
                    if entry.app_id is None:
                        mask |= 128
                    else:
                        mask |= 2
                        values.append(entry.app_id)
                if state != old_state:
                    mask |= 4
                    values.append(state)
                if updated != old_updated:
                    mask |= 8
                    values.append(updated)
                if pending != old_pending:
                    if pending is None:
                        mask |= 1024
                    else:
                        mask |= 16
                        values.append(pending)
                if keys_text != old_keys:
                    if keys_text is None:
                        mask |= 2048
                    else:
                        mask |= 32
                        values.append(keys_text)
                values.append(data)
                values.append(rowid)
                updates.setdefault(mask, []).append(tuple(values))
                if old_keys != keys_text:
                    before = self._old_keys(conn, sync, ot, rowid, old_keys)
                    stale_keys.extend((sync, ot, key, rowid) for key in before - keys)
                    key_rows.extend((sync, ot, key, rowid) for key in keys - before)
                if old_state != state:
                    deltas[(sync, ot, old_state)] -= 1
                    deltas[(sync, ot, state)] += 1
            written[(sync, ot, entry_id)] = (
                rowid,
                state,
                keys_text,
                entry.hub_id,
                entry.app_id,
                updated,
                pending,
            )
        deltas.update(inserted)
        if inserts:
            try:
                for nulls, rows_of in inserts.items():
                    conn.executemany(_insert_sql(nulls), rows_of)
            except sqlite3.IntegrityError as error:
                if not fresh:
                    raise
                raise _Taken(f"an entry write_new would insert is stored: {error}") from error
        for mask, rows in updates.items():
            conn.executemany(_update_sql(mask), rows)
        if stale_keys:
            conn.executemany(
                "DELETE FROM keys WHERE sync = ? AND ot = ? AND key = ? AND entry = ?",
                stale_keys,
            )
        if key_rows:
            conn.executemany(
                "INSERT INTO keys (sync, ot, key, entry) VALUES (?, ?, ?, ?)", key_rows
            )

    @staticmethod
    def _old_keys(
        conn: sqlite3.Connection, sync: int, ot: int, rowid: int, text: str | None
    ) -> frozenset[str]:
        """The keys of a stored row a write replaces or deletes. When they cannot be read
        (a row another program wrote), every key row of the entry is deleted now (a
        scan of the sync's keys: only then) and none is returned."""
        try:
            return _keys_of(text)
        except (ValueError, TypeError):  # TypeError: a NotText (not UTF-8, see _fetch)
            conn.execute(
                "DELETE FROM keys WHERE sync = ? AND ot = ? AND entry = ?", (sync, ot, rowid)
            )
            return _EMPTY

    def _delete(
        self,
        conn: sqlite3.Connection,
        sync_id: str,
        object_type: str,
        entry_ids: list[str],
        deltas: Counter[tuple[int, int, int]],
    ) -> None:
        scope = self._scope(conn, sync_id, object_type)
        if scope is None:
            return
        sync, ot = scope
        existing = self._existing(conn, (sync_id, object_type, sync, ot), entry_ids)
        if not existing:
            return
        stale_keys: list[tuple[int, int, str, int]] = []
        for rowid, state, keys, *_ in existing.values():
            deltas[(sync, ot, state)] -= 1
            if keys:
                before = self._old_keys(conn, sync, ot, rowid, keys)
                stale_keys.extend((sync, ot, key, rowid) for key in before)
        conn.executemany(
            "DELETE FROM keys WHERE sync = ? AND ot = ? AND key = ? AND entry = ?", stale_keys
        )
        conn.executemany(
            "DELETE FROM entries WHERE id = ?", [(row[0],) for row in existing.values()]
        )

    def _set_cursors(self, conn: sqlite3.Connection, cursors: Sequence[CursorUpdate]) -> None:
        for update in cursors:
            side = _SIDE_CODES[update.side]
            if update.value is None:
                sync = self._sync(conn, update.sync_id)
                ot = self._ot(conn, update.object_type)
                if sync is not None and ot is not None:
                    conn.execute(
                        "DELETE FROM cursors WHERE sync = ? AND side = ? AND ot = ? AND name = ?",
                        (sync, side, ot, update.name),
                    )
            else:
                sync = self._sync(conn, update.sync_id, create=True)
                ot = self._ot(conn, update.object_type, create=True)
                conn.execute(
                    "INSERT INTO cursors (sync, side, ot, name, value) VALUES (?, ?, ?, ?, ?) "
                    "ON CONFLICT (sync, side, ot, name) DO UPDATE SET value = excluded.value",
                    (sync, side, ot, update.name, update.value),
                )

    # ---- cursors and settings -------------------------------------------------------
    @override
    def cursor(self, sync_id: str, side: Side, object_type: str, name: str = "poll") -> str | None:
        with self._reading() as conn:
            scope = self._scope(conn, sync_id, object_type)
            if scope is None:
                return None
            sync, ot = scope
            rows = self._fetch(
                conn,
                "SELECT value FROM cursors WHERE sync = ? AND side = ? AND ot = ? AND name = ?",
                (sync, _SIDE_CODES[Side(side)], ot, name),
                sync_id,
                object_type,
                -1,
            )
        if not rows:
            return None
        if type(rows[0][0]) is not str:  # a NotText (see _fetch): never "no cursor"
            raise IndexStoreError(
                _rowformat.unreadable_cursor(self._codec.where, sync_id, side, object_type, name)
            )
        return str(rows[0][0])

    @override
    def get_meta(self, sync_id: str, key: str) -> str | None:
        with self._reading() as conn:
            sync = self._sync(conn, sync_id)
            if sync is None:
                return None
            rows = self._fetch(
                conn,
                "SELECT value FROM meta WHERE sync = ? AND key = ?",
                (sync, key),
                sync_id,
                None,
                -1,
            )
        if not rows:
            return None
        if type(rows[0][0]) is not str:  # a NotText (see _fetch): never "not set"
            raise IndexStoreError(_rowformat.unreadable_meta(self._codec.where, sync_id, key))
        return str(rows[0][0])

    @override
    def set_meta(self, sync_id: str, key: str, value: str | None) -> None:
        if value is not None and not isinstance(value, str):
            raise IndexStoreError(f"meta values are str or None, got {value!r:.80}")
        with self._transaction() as conn:
            if value is None:
                sync = self._sync(conn, sync_id)
                if sync is not None:
                    conn.execute("DELETE FROM meta WHERE sync = ? AND key = ?", (sync, key))
            else:
                sync = self._sync(conn, sync_id, create=True)
                conn.execute(
                    "INSERT INTO meta (sync, key, value) VALUES (?, ?, ?) "
                    "ON CONFLICT (sync, key) DO UPDATE SET value = excluded.value",
                    (sync, key, str(value)),
                )

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
        until_us = _micros("until", until)
        now_us = _micros("now", now)
        given = names if type(names) is list else list(names)
        granted: set[str] = set()
        if not given:
            return granted
        # BEGIN IMMEDIATE holds the write lock from the read to the write: no other
        # process can grant the same name in between (S9).
        with self._transaction() as conn:
            sync = self._sync(conn, sync_id, create=True)
            ot = self._ot(conn, object_type, create=True)
            if self._all_free(conn, sync, ot, given, owner, until_us):
                return set(given)  # each name inserted: none was given twice
            wanted = list(dict.fromkeys(given))
            held: dict[str, tuple[str, int]] = {}
            for chunk in _chunks(wanted, _MAX_PARAMS - 2):
                rows = conn.execute(
                    f"SELECT name, owner, expires FROM leases "
                    f"WHERE sync = ? AND ot = ? AND name IN ({_marks(len(chunk))})",
                    (sync, ot, *chunk),
                )
                for name, holder, expires in rows:
                    held[name] = (holder, expires)
            claim: list[str] = []
            for name in wanted:
                lease = held.get(name)
                if lease is None or lease[1] <= now_us or lease[0] == owner:
                    claim.append(name)
            # One statement per chunk, one parameter per name: a page of leases costs
            # about half what one INSERT per name does.
            for chunk in _chunks(claim, _MAX_PARAMS - 4):
                conn.execute(
                    "INSERT INTO leases (sync, ot, name, owner, expires) "
                    f"SELECT ?1, ?2, column1, ?3, ?4 FROM (VALUES {_rows(len(chunk))}) "
                    "WHERE true ON CONFLICT (sync, ot, name) DO UPDATE SET "
                    "owner = excluded.owner, expires = excluded.expires",
                    (sync, ot, owner, until_us, *chunk),
                )
            granted.update(claim)
        return granted

    def _all_free(
        self,
        conn: sqlite3.Connection,
        sync: int | None,
        ot: int | None,
        names: list[str],
        owner: str,
        until_us: int,
    ) -> bool:
        """Lease every one of ``names`` that no lease row holds, in one statement
        (inside :meth:`acquire`'s transaction); whether that was every one of them.

        Most batches meet no lease at all (only running batches hold any), and then
        this is the whole of :meth:`acquire`: one insert instead of a read of the names
        and an upsert, about a third of the instructions. When some name has a row (held
        by another pass, expired, or this owner's), the names inserted here are this
        owner's already, and :meth:`acquire`'s read and upsert decide the rest as
        before, in the same transaction.

        The names go in as one JSON array read by ``json_each``: one statement of one
        text parameter, the same for every batch, compiled once (a ``VALUES`` list of
        one parameter per name is a new statement for each batch size, and compiling
        the one of 200 rows costs as much as leasing some 170 names). A batch with a
        name JSON would escape (a quote, a backslash, a control character), or that is
        not printable, is never sent that way: the text goes as is and SQLite returns
        each name as it was given. Such a batch, or any without SQLite's JSON
        functions, takes one ``VALUES`` statement per chunk, stopping at the first
        chunk where some name had a row. A name given twice is inserted once: not
        every name was, and :meth:`acquire` goes on with the names read."""
        joined = '","'.join(names)
        if (
            self._json is not False
            and joined.count('"') == 2 * len(names) - 2  # the separators' alone
            and "\\" not in joined
            and joined.isprintable()
        ):
            try:
                inserted = conn.execute(
                    "INSERT INTO leases (sync, ot, name, owner, expires) "
                    "SELECT ?1, ?2, value, ?3, ?4 FROM json_each(?5) "
                    "WHERE true ON CONFLICT (sync, ot, name) DO NOTHING",
                    (sync, ot, owner, until_us, f'["{joined}"]'),
                ).rowcount
            except sqlite3.OperationalError as error:
                if "json_each" not in str(error):
                    raise
                self._json = False  # built without JSON: VALUES from now on
            else:
                return bool(inserted == len(names))
        for chunk in _chunks(names, _MAX_PARAMS - 4):
            inserted = conn.execute(
                "INSERT INTO leases (sync, ot, name, owner, expires) "
                f"SELECT ?1, ?2, column1, ?3, ?4 FROM (VALUES {_rows(len(chunk))}) "
                "WHERE true ON CONFLICT (sync, ot, name) DO NOTHING",
                (sync, ot, owner, until_us, *chunk),
            ).rowcount
            if inserted != len(chunk):
                return False
        return True

    @override
    def holders(self, sync_id: str, object_type: str, names: Iterable[str]) -> dict[str, str]:
        given = list(names)
        found: dict[str, str] = {}
        if not given:
            return found
        with self._reading() as conn:
            sync = self._sync(conn, sync_id)
            ot = self._ot(conn, object_type)
            if sync is None or ot is None:
                return found
            # The engine asks after each batch for the notes left for it (no lease of
            # their type, mostly): one probe, not a lookup per name.
            if not conn.execute(
                "SELECT EXISTS (SELECT 1 FROM leases WHERE sync = ? AND ot = ?)", (sync, ot)
            ).fetchone()[0]:
                return found
            wanted = list(dict.fromkeys(given))
            for chunk in _chunks(wanted, _MAX_PARAMS - 2):
                rows = conn.execute(
                    f"SELECT name, owner FROM leases "
                    f"WHERE sync = ? AND ot = ? AND name IN ({_marks(len(chunk))})",
                    (sync, ot, *chunk),
                )
                found.update((str(name), str(holder)) for name, holder in rows)
        return found

    @override
    def leases(self, sync_id: str, object_type: str) -> dict[str, tuple[str, datetime]]:
        with self._reading() as conn:
            sync = self._sync(conn, sync_id)
            if sync is None:
                return {}
            ot = self._ot_ids.get(object_type)
            # One statement either way: an object type never leased (no note ever
            # written, the usual case) is not interned, and looking it up alone would
            # cost a second one.
            rows = (
                conn.execute(
                    "SELECT name, owner, expires FROM leases WHERE sync = ? AND ot = ?",
                    (sync, ot),
                )
                if ot is not None
                else conn.execute(
                    "SELECT l.name, l.owner, l.expires FROM object_types AS o "
                    "JOIN leases AS l ON l.sync = ? AND l.ot = o.id WHERE o.name = ?",
                    (sync, object_type),
                )
            )
            return {
                str(name): (str(owner), _codec.from_micros(expires))
                for name, owner, expires in rows
            }

    @override
    def release(
        self,
        sync_id: str,
        owner: str,
        names: Iterable[str] | None = None,
        object_type: str | None = None,
    ) -> None:
        wanted = None if names is None else list(dict.fromkeys(names))
        if wanted is not None and not wanted:
            return
        with self._transaction() as conn:
            sync = self._sync(conn, sync_id)
            ot = None if object_type is None else self._ot(conn, object_type)
            if sync is None or (object_type is not None and ot is None):
                return
            if wanted is None:
                if ot is None:
                    conn.execute("DELETE FROM leases WHERE sync = ? AND owner = ?", (sync, owner))
                elif self._only_leases(conn, sync, ot, owner):
                    # Every lease row is one of these: the table is emptied at once.
                    conn.execute("DELETE FROM leases")
                else:
                    conn.execute(
                        "DELETE FROM leases WHERE sync = ? AND owner = ? AND ot = ?",
                        (sync, owner, ot),
                    )
            elif ot is None:
                conn.executemany(
                    "DELETE FROM leases WHERE sync = ? AND owner = ? AND name = ?",
                    [(sync, owner, name) for name in wanted],
                )
            else:
                conn.executemany(
                    "DELETE FROM leases WHERE sync = ? AND ot = ? AND name = ? AND owner = ?",
                    [(sync, ot, name, owner) for name in wanted],
                )

    @staticmethod
    def _only_leases(conn: sqlite3.Connection, sync: int, ot: int, owner: str) -> bool:
        """Whether every row of the leases table is ``owner``'s in ``sync`` and ``ot``
        (inside :meth:`release`'s transaction).

        Usually it is when a pass lets go of its batch: only running batches hold
        leases, and a process runs one at a time. Then ``DELETE FROM leases`` without a
        ``WHERE`` empties the table with SQLite's truncate optimization (its pages
        freed, no row deleted one by one, each delete rebalancing the tree): with this
        scan, about half the instructions of deleting a page's leases row by row. The
        scan stops at the first row of another sync, type or owner."""
        other = conn.execute(
            "SELECT 1 FROM leases WHERE sync != ?1 OR ot != ?2 OR owner != ?3 LIMIT 1",
            (sync, ot, owner),
        ).fetchone()
        return other is None

    # ---- the webhook inbox ------------------------------------------------------------
    @override
    def inbox_add(self, items: Sequence[InboxItem]) -> int:
        checked = check_inbox_items(items)
        rows = [
            (
                i.sync_id,
                i.key,
                _SIDE_CODES[i.side],
                _micros("received_at", i.received_at),
                i.payload,
            )
            for i in checked
        ]
        if not rows:
            return 0
        added = 0
        with self._transaction() as conn:
            for sync_id, key, side, received, payload in rows:
                sync = self._sync(conn, sync_id, create=True)
                added += conn.execute(
                    "INSERT INTO inbox (sync, key, side, received, payload) "
                    "VALUES (?, ?, ?, ?, ?) ON CONFLICT (sync, key) DO NOTHING",
                    (sync, key, side, received, payload),
                ).rowcount
        return added

    @override
    def inbox(self, sync_id: str, *, after: int = 0, limit: int = 500) -> list[InboxItem]:
        with self._reading() as conn:
            sync = self._sync(conn, sync_id)
            if sync is None or limit < 1:
                return []
            rows = self._fetch(  # a row that is not UTF-8: see _fetch and inbox_item
                conn,
                "SELECT seq, key, side, received, payload FROM inbox "
                "WHERE sync = ? AND seq > ? ORDER BY seq LIMIT ?",
                (sync, int(after), int(limit)),
                sync_id,
                None,
                0,
            )
        item = self._codec.inbox_item
        return [item(sync_id, *row) for row in rows]

    @override
    def inbox_remove(self, sync_id: str, seqs: Iterable[int]) -> None:
        wanted = sorted({int(seq) for seq in seqs})
        if not wanted:
            return
        with self._transaction() as conn:
            sync = self._sync(conn, sync_id)
            if sync is None:
                return
            for chunk in _chunks(wanted, 900):
                conn.execute(
                    f"DELETE FROM inbox WHERE sync = ? AND seq IN ({_marks(len(chunk))})",
                    (sync, *chunk),
                )

    @override
    def inbox_count(self, sync_id: str) -> int:
        with self._reading() as conn:
            sync = self._sync(conn, sync_id)
            if sync is None:
                return 0
            return int(
                conn.execute("SELECT count(*) FROM inbox WHERE sync = ?", (sync,)).fetchone()[0]
            )

    # ---- the pass history ---------------------------------------------------------------
    @override
    def add_pass(self, record: PassRecord) -> PassRecord:
        check_pass(record)
        row = (
            record.kind,
            _micros("started_at", record.started_at),
            _micros("finished_at", record.finished_at),
            record.outcome,
            record.detail,
            int(record.dry_run),
            encode_counts(record.counts),
        )
        with self._transaction() as conn:
            sync = self._sync(conn, record.sync_id, create=True)
            last = conn.execute("SELECT max(number) FROM passes WHERE sync = ?", (sync,))
            number = int(last.fetchone()[0] or 0) + 1
            conn.execute(
                "INSERT INTO passes (sync, number, kind, started, finished, outcome, detail, "
                "dry_run, counts) VALUES (?, ?, ?, ?, ?, ?, ?, ?, ?)",
                (sync, number, *row),
            )
            conn.execute(
                "DELETE FROM passes WHERE sync = ? AND number <= ?",
                (sync, number - self.keep_passes),
            )
        return attrs.evolve(record, number=number)

    @override
    def passes(
        self, sync_id: str, *, limit: int = 50, before: int | None = None
    ) -> list[PassRecord]:
        with self._reading() as conn:
            sync = self._sync(conn, sync_id)
            if sync is None or limit < 1:
                return []
            rows = self._fetch(  # a column that is not UTF-8: a NotText, see pass_record
                conn,
                "SELECT number, kind, started, finished, outcome, detail, dry_run, counts "
                "FROM passes WHERE sync = ? AND number < ? ORDER BY number DESC LIMIT ?",
                (sync, _before(before), int(limit)),
                sync_id,
                None,
                -1,
            )
        record = self._codec.pass_record
        return [
            record(sync_id, number, kind, times, outcome, detail, dry, counts)
            for number, kind, *times, outcome, detail, dry, counts in rows
        ]

    # ---- lifecycle ----------------------------------------------------------------
    @override
    def delete_sync(self, sync_id: str) -> None:
        self._rows.clear()
        with self._transaction() as conn:
            sync = self._sync(conn, sync_id)
            if sync is None:
                return
            # The interned name stays: other processes may hold its id in their caches.
            for table in _PER_SYNC_TABLES:
                conn.execute(f"DELETE FROM {table} WHERE sync = ?", (sync,))

    @override
    def close(self) -> None:
        """Close the database connection; the store cannot be used afterwards."""
        with self._lock:
            if self._conn is not None:
                self._conn.close()
                self._conn = None
