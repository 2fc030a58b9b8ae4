"""PostgresIndexStore: the index in PostgreSQL, shared by many processes and machines.

Install the extra (``pip install syncengine-hub[postgres]``, psycopg 3). It is what several
workers of one sync share when they split a pass between them (``docs/scale-out.md``).

Theory of operation:

* **Connections.** One connection per thread (created on first use, all closed by
  :meth:`PostgresIndexStore.close`), in autocommit mode: a read is one statement and sees
  what was committed before it; a write is one explicit transaction, rolled back on any
  error, which is raised as :class:`~syncengine.IndexStoreError` with the cause chained.
  A broken connection is dropped and the next call opens a new one.
* **Round trips per batch, not per entry.** Lookups send all ids of a batch as one array
  (``entry_id = ANY(%s)``); a write sends each kind of change as arrays that one
  statement ``unnest``s (``INSERT … SELECT FROM unnest(…)``, ``UPDATE … FROM
  unnest(…)``). Every lookup and every row a write touches goes through a b-tree index,
  so a batch costs the same with ten entries in the index or ten million.
* **Concurrency.** A write first locks the stored rows it replaces (``SELECT … ORDER BY
  id FOR UPDATE``, always in the same order), then writes. Two writers inserting the
  same new entry, or deadlocking on rows of a different order, make PostgreSQL abort one
  transaction (unique violation, deadlock, serialization failure); the store retries it
  from the start (nothing of it was stored), a few times, with a short random pause.
* **Leases** are one statement: ``INSERT … ON CONFLICT (sync, ot, name) DO UPDATE …
  WHERE leases.expires <= now OR leases.owner = owner RETURNING name``. PostgreSQL locks
  the conflicting row and re-checks the condition on its latest version, so a name is
  never granted to two owners, across threads, processes and machines (S9).
* **Counts** per (sync, object type, state) are kept in ``counts``, adjusted in the write
  transaction from the states it read under its row locks. Each store writes its own
  shard of the counters (a random one of :data:`_SHARDS`), so concurrent writers rarely
  wait for each other; :meth:`PostgresIndexStore.counts` sums the shards.
* **Compact rows.** ``sync_id`` and ``object_type`` are interned into small integers
  (table ``names``; interned in their own committed statement, never removed, so the
  ids cached by every process stay valid). Hot columns (entry id, record ids, state,
  ``updated_at`` in microseconds, pending, keys) are columns; the rest is one compact
  JSON array, in the row format of the SQLite store
  (:class:`syncengine.index._rowformat.RowCodec`; schema version 4 converted the rows of
  earlier versions): the field names of value mappings and history items are interned
  in ``shapes`` and ``items`` like names (outside the write that needs them, never
  removed). A row that is not in the format is read as a
  :class:`~syncengine.entry.CorruptEntry` naming the entry and the schema.
* **Order.** An entry's ``id`` (from the sequence ``entry_order``, taken in batch order
  when the entry is first written and kept when it is replaced) is its place in
  iteration order; :meth:`PostgresIndexStore.entries` pages with ``id > %s ORDER BY id
  LIMIT 500`` (keyset pagination), each page one statement.
* **Text.** PostgreSQL text cannot hold NUL characters: identifiers, cursors and
  settings containing ``"\\x00"`` (or the escape character ``"\\x01"``) are stored
  escaped, and read back exactly (:func:`_esc`). JSON text escapes NUL itself.
* **Statistics.** PostgreSQL plans a batch lookup by the statistics autovacuum last
  gathered; while a table grows from empty, they say "tiny" and the planner walks the
  whole table instead of the b-tree, once per batch. So a store runs ``ANALYZE`` itself
  each time the entries it inserted reach the number the statistics knew (and 2,000 at
  least): ``log2(N)`` times while a table grows to N rows, a fraction of a second each.
* **Migrations.** ``schema_version`` holds the version; :data:`_MIGRATIONS` lists the
  steps in order. Opening a store takes an advisory transaction lock first, so that
  processes opening a new database at once apply the migrations once. A database of a
  newer version is refused (version 2 added the inbox, version 3 the pass history,
  version 4 the shared row format).
* **Pass history.** ``passes`` holds one row per pass, numbered per sync (``max + 1``
  in the inserting transaction, which first takes an advisory lock per sync, so that
  processes adding at once queue instead of colliding); the oldest beyond
  ``keep_passes`` are deleted in the same transaction.
* **Schema.** All tables live in one PostgreSQL schema (``"syncengine"`` by default;
  pass ``schema=`` to keep several indexes in one database, as the tests do).

.. versionadded:: 0.1
"""

from __future__ import annotations

import contextlib
import random
import re
import threading
import time
from collections import Counter
from collections.abc import Callable, Iterable, Iterator, Mapping, Sequence
from datetime import datetime
from typing import Any, Final, TypeVar, final

import attrs
from typing_extensions import override

from syncengine._redact import REDACTED, redact_dsn, scrub_dsn
from syncengine.errors import IndexStoreError
from syncengine.history import KEEP_PASSES, PassRecord, check_pass, encode_counts
from syncengine.index import _codec, _rowformat
from syncengine.index._entry import (
    CorruptEntry,
    CursorUpdate,
    Entry,
    HistoryItem,
    InboxItem,
    check_inbox_items,
)
from syncengine.index.base import SyncedCopy, check_changes, created_entry, same_entry, synced_copy
from syncengine.records import Side
from syncengine.states import RecordState

try:
    import psycopg
    from psycopg import errors as pg_errors
    from psycopg import sql
except ImportError as error:  # pragma: no cover - depends on the environment
    raise ImportError(
        "PostgresIndexStore needs psycopg 3: `pip install 'psycopg[binary]>=3.1'` "
        "(or install syncengine-hub with its `postgres` extra)"
    ) from error

__all__ = ["PostgresIndexStore"]

_T = TypeVar("_T")

#: The schema, one tuple of statements per version, applied in order. Never edit a
#: released step: append a new one. Identifiers and keys use the "C" collation: they are
#: only ever compared for equality, and byte comparison is the fastest.
_MIGRATIONS: Final[tuple[tuple[str, ...], ...]] = (
    # 1: the initial schema.
    (
        """CREATE TABLE names (
            id serial PRIMARY KEY,
            kind smallint NOT NULL,
            name text COLLATE "C" NOT NULL,
            UNIQUE (kind, name)
        )""",
        "CREATE SEQUENCE entry_order",
        """CREATE TABLE entries (
            id bigint PRIMARY KEY,
            sync integer NOT NULL,
            ot integer NOT NULL,
            entry_id text COLLATE "C" NOT NULL,
            hub_id text COLLATE "C",
            app_id text COLLATE "C",
            state smallint NOT NULL,
            updated_at bigint NOT NULL,
            pending smallint,
            keys text,
            data text NOT NULL
        )""",
        "CREATE UNIQUE INDEX entries_by_entry_id ON entries (sync, ot, entry_id)",
        "CREATE INDEX entries_by_hub_id ON entries (sync, ot, hub_id) WHERE hub_id IS NOT NULL",
        "CREATE INDEX entries_by_app_id ON entries (sync, ot, app_id) WHERE app_id IS NOT NULL",
        "CREATE INDEX entries_in_order ON entries (sync, ot, id)",
        "CREATE INDEX entries_by_state ON entries (sync, ot, state, id)",
        "CREATE INDEX entries_pending ON entries (sync, ot, id) WHERE pending IS NOT NULL",
        """CREATE TABLE keys (
            sync integer NOT NULL, ot integer NOT NULL, key text COLLATE "C" NOT NULL,
            entry bigint NOT NULL,
            PRIMARY KEY (sync, ot, key, entry)
        )""",
        """CREATE TABLE counts (
            sync integer NOT NULL, ot integer NOT NULL, state smallint NOT NULL,
            shard smallint NOT NULL, n bigint NOT NULL,
            PRIMARY KEY (sync, ot, state, shard)
        )""",
        """CREATE TABLE cursors (
            sync integer NOT NULL, side smallint NOT NULL, ot integer NOT NULL,
            name text COLLATE "C" NOT NULL, value text NOT NULL,
            PRIMARY KEY (sync, side, ot, name)
        )""",
        """CREATE TABLE meta (
            sync integer NOT NULL, key text COLLATE "C" NOT NULL, value text NOT NULL,
            PRIMARY KEY (sync, key)
        )""",
        """CREATE TABLE leases (
            sync integer NOT NULL, ot integer NOT NULL, name text COLLATE "C" NOT NULL,
            owner text COLLATE "C" NOT NULL, expires bigint NOT NULL,
            PRIMARY KEY (sync, ot, name)
        )""",
        "CREATE INDEX leases_by_owner ON leases (sync, owner)",
    ),
    # 2: the webhook inbox (InboxItem): events kept from the moment a request is
    # verified until a pass processed them; seq comes from an identity, never reused.
    (
        """CREATE TABLE inbox (
            seq bigint GENERATED ALWAYS AS IDENTITY PRIMARY KEY,
            sync integer NOT NULL,
            key text COLLATE "C" NOT NULL,
            side smallint NOT NULL,
            received bigint NOT NULL,
            payload text NOT NULL,
            UNIQUE (sync, key)
        )""",
        "CREATE INDEX inbox_in_order ON inbox (sync, seq)",
    ),
    # 3: the pass history (PassRecord): one row per pass, numbered per sync, the newest
    # keep_passes kept. Counts are compact JSON (syncengine.history.encode_counts).
    (
        """CREATE TABLE passes (
            sync integer NOT NULL,
            number bigint NOT NULL,
            kind text NOT NULL,
            started bigint NOT NULL,
            finished bigint NOT NULL,
            outcome text NOT NULL,
            detail text NOT NULL,
            dry_run boolean NOT NULL,
            counts text NOT NULL,
            PRIMARY KEY (sync, number)
        )""",
    ),
    # 4: the row format of the SQLite store (index._rowformat.RowCodec): value mappings
    # by the number of their field names (``shapes``), history items by the number of
    # their action and detail (``items``), the key that matched by its number among the
    # entry's keys, and a lone key as itself in the keys column. Existing rows are
    # converted (_convert_rows).
    (
        'CREATE TABLE shapes (id serial PRIMARY KEY, fields text COLLATE "C" NOT NULL UNIQUE)',
        'CREATE TABLE items (id serial PRIMARY KEY, item text COLLATE "C" NOT NULL UNIQUE)',
        "CONVERT ROWS",
    ),
)
#: The step of a migration that converts the rows to the current row format in Python.
_CONVERT: Final = "CONVERT ROWS"
#: The column of each table of interned texts (_rowformat.SHAPES, _rowformat.ITEMS).
_INTERNED: Final = {_rowformat.SHAPES: "fields", _rowformat.ITEMS: "item"}

#: Stored codes of states and sides, shared with the other SQL store (index._rowformat).
_STATE_CODES: Final = _rowformat.STATE_CODES
_STATES: Final = _rowformat.STATES
_SIDE_CODES: Final = _rowformat.SIDE_CODES
_SIDES: Final = _rowformat.SIDES
_SYNC: Final = 0  # kinds of interned names
_OBJECT_TYPE: Final = 1


_COLUMNS: Final = "id, ot, entry_id, hub_id, app_id, state, updated_at, pending, keys, data"
#: replace_unchanged's comparison, run in the write's transaction: the prepared rows
#: (by sync and object type) that are still to be written.
_Compare = Callable[
    ["psycopg.Connection[Any]", Mapping[tuple[int, int], list[tuple[Any, ...]]]],
    dict[tuple[int, int], list[tuple[Any, ...]]],
]
_CHUNK: Final = _rowformat.CHUNK  # rows per page of entries()
_SHARDS: Final = 16  # counter shards (see the module docstring)
_RETRIES: Final = 8  # attempts of a transaction PostgreSQL aborted for concurrency
_ANALYZE_AFTER: Final = 2000  # inserted rows before a store first refreshes statistics
_SCHEMA_NAME: Final = re.compile(r"^[A-Za-z_][A-Za-z0-9_]{0,62}$")
#: What PostgreSQL aborts for concurrency, and a retry may get past.
_RETRYABLE: Final = (
    pg_errors.DeadlockDetected,
    pg_errors.SerializationFailure,
    pg_errors.UniqueViolation,
    pg_errors.LockNotAvailable,
)

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


_SURROGATE: Final = re.compile("[\ud800-\udfff]")
_ESCAPED: Final = re.compile("\x01(\x01|\x02|\x03[0-9a-f]{4})")


def _esc(text: str) -> str:
    """``text`` as PostgreSQL can store it, reversibly: NUL and lone surrogates (which are
    not UTF-8) escaped, with ``\\x01`` as the escape character."""
    if "\x00" in text or "\x01" in text:
        text = text.replace("\x01", "\x01\x02").replace("\x00", "\x01\x01")
    if not text.isascii() and _SURROGATE.search(text):
        text = _SURROGATE.sub(lambda found: f"\x01\x03{ord(found[0]):04x}", text)
    return text


def _unescaped(found: re.Match[str]) -> str:
    token = found[1]
    if token == "\x01":
        return "\x00"
    if token == "\x02":
        return "\x01"
    return chr(int(token[1:], 16))


def _unesc(text: str) -> str:
    """The text :func:`_esc` escaped."""
    if "\x01" in text:
        return _ESCAPED.sub(_unescaped, text)
    return text


def _opt_esc(text: str | None) -> str | None:
    return None if text is None else _esc(text)


def _opt_unesc(text: str | None) -> str | None:
    return None if text is None else _unesc(text)


_micros: Final = _rowformat.micros


def _keys_text(keys: frozenset[str]) -> str | None:
    """The ``keys`` column (:func:`_rowformat.keys_text`), escaped (a lone key may hold NUL)."""
    text = _rowformat.keys_text(keys)
    return None if text is None else _esc(text)


def _redacted(dsn: str) -> str:
    """The DSN without its passwords (X4), for reprs and messages."""
    try:
        params = psycopg.conninfo.conninfo_to_dict(dsn)
    except (psycopg.Error, ValueError):  # malformed: redacted without libpq's help
        return redact_dsn(dsn)
    for key in ("password", "sslpassword"):
        if key in params:
            params[key] = REDACTED
    # redact_dsn again: a dbname may hold a whole connection string, password included.
    return redact_dsn(" ".join(f"{key}={value}" for key, value in sorted(params.items())))


class _NotAnnounced(IndexStoreError):
    """A row write_created would complete in place is not its announced entry's: the
    write is rolled back and done whole."""


class _NotAsRead(IndexStoreError):
    """A row write_synced would rewrite in place is no longer its entry's as read (its
    keys, its state, or gone): the write is rolled back and done whole."""


class _Taken(IndexStoreError):
    """An entry write_new would insert is stored already: the write is rolled back and
    done as write_built does it."""


#: write_created's completion of announced rows, in _write's transaction: applies its
#: count changes to the deltas it is given (see PostgresIndexStore._completion).
_Complete = Callable[[psycopg.Connection[Any], Counter[tuple[int, int, int]]], None]


class _Row:
    """What a write needs to know of one stored entry it replaces or deletes."""

    __slots__ = ("id", "keys", "state")

    def __init__(self, id: int, state: int, keys: str | None) -> None:
        self.id = id
        self.state = state
        self.keys = keys


@final
class PostgresIndexStore(_rowformat.RowStore):
    """An index store in PostgreSQL, shared safely by threads, processes and machines.

    Args:
        dsn: A libpq connection string or URI (``"host=/run/postgresql dbname=sync"``,
            ``"postgresql://sync@db.internal/sync"``). The password is never shown in
            reprs or errors.
        schema: The PostgreSQL schema holding the tables (created if missing); several
            indexes can share one database under different schemas.
        connect_timeout: Seconds to wait for a connection.
        keep_passes: How many pass records :meth:`add_pass` keeps per sync (the newest).

    Raises:
        IndexStoreError: The server cannot be reached, or the database was written by a
            newer syncengine (its schema version is unknown here).

    Example::

        with PostgresIndexStore("host=/run/postgresql dbname=sync") as index:
            engine = SyncEngine(hub, app, index, config)

    .. versionadded:: 0.1
    """

    def __init__(
        self,
        dsn: str,
        *,
        schema: str = "syncengine",
        connect_timeout: float = 30.0,
        keep_passes: int = KEEP_PASSES,
    ) -> None:
        self.keep_passes = _rowformat.check_keep_passes(keep_passes)
        if not _SCHEMA_NAME.match(schema):
            raise ValueError(f"schema must be a plain identifier, got {schema!r}")
        self._dsn = dsn
        self._schema = schema
        self._timeout = connect_timeout
        self._lock = threading.Lock()
        self._local = threading.local()
        self._connections: list[psycopg.Connection[Any]] = []
        self._closed = False
        self._shard = random.randrange(_SHARDS)
        self._ids: tuple[dict[str, int], dict[str, int]] = ({}, {})
        self._ot_names: dict[int, str] = {}
        self._codec = _rowformat.RowCodec(
            f"index in PostgreSQL schema {schema!r}", self._intern_text, self._interned_text
        )
        self._known_rows = 0  # rows of `entries` in the statistics (see _refresh_statistics)
        self._inserted = 0  # rows this store inserted since
        conn = self._connection()
        try:
            self._migrate(conn)
            self._known_rows = self._statistics_rows(conn)
        except BaseException:
            self.close()
            raise

    @override
    def __repr__(self) -> str:
        return f"PostgresIndexStore({_redacted(self._dsn)!r}, schema={self._schema!r})"

    # ---- connections ----------------------------------------------------------------
    def _connection(self) -> psycopg.Connection[Any]:
        conn: psycopg.Connection[Any] | None = getattr(self._local, "conn", None)
        if conn is not None and not conn.closed and not conn.broken:
            return conn
        if self._closed:
            raise IndexStoreError(f"{self!r} is closed")
        try:
            conn = psycopg.connect(
                self._dsn,
                autocommit=True,
                connect_timeout=max(1, round(self._timeout)),
                application_name="syncengine",
            )
        except (psycopg.Error, ValueError) as error:
            # libpq quotes what it cannot parse, the password included: scrubbed, and
            # not chained (the cause's text would show it).
            detail = scrub_dsn(str(error).strip(), self._dsn)
            raise IndexStoreError(
                f"cannot connect to PostgreSQL ({_redacted(self._dsn)}): {detail}"
            ) from None
        try:
            # The schema is checked to be a plain identifier; quoted all the same.
            conn.execute(sql.SQL("SET search_path TO {}").format(sql.Identifier(self._schema)))
        except BaseException:
            conn.close()
            raise
        self._local.conn = conn
        with self._lock:
            self._connections = [c for c in self._connections if not c.closed]
            self._connections.append(conn)
        return conn

    def _migrate(self, conn: psycopg.Connection[Any]) -> None:
        try:
            with conn.transaction():
                # One process migrates at a time; the others then find the schema ready.
                conn.execute("SELECT pg_advisory_xact_lock(hashtext('syncengine:migrate'))")
                conn.execute(
                    sql.SQL("CREATE SCHEMA IF NOT EXISTS {}").format(sql.Identifier(self._schema))
                )
                conn.execute("CREATE TABLE IF NOT EXISTS schema_version (version integer NOT NULL)")
                row = conn.execute("SELECT max(version) FROM schema_version").fetchone()
                current = (row[0] if row else None) or 0
                known = len(_MIGRATIONS)
                _rowformat.check_schema_version(current, known)
                for steps in _MIGRATIONS[current:]:
                    for statement in steps:
                        if statement == _CONVERT:
                            self._convert_rows(conn)
                        else:
                            conn.execute(statement)
                if current < known:
                    conn.execute("DELETE FROM schema_version")
                    conn.execute("INSERT INTO schema_version (version) VALUES (%s)", (known,))
        except psycopg.Error as error:
            raise IndexStoreError(f"cannot prepare the index schema: {error}") from error

    @staticmethod
    def _statistics_rows(conn: psycopg.Connection[Any]) -> int:
        row = conn.execute(
            "SELECT reltuples FROM pg_class WHERE oid = 'entries'::regclass"
        ).fetchone()
        return max(0, int(row[0])) if row is not None else 0

    def _refresh_statistics(self, inserted: int) -> None:
        """ANALYZE once the table grew past what the statistics know (module docstring)."""
        self._inserted += inserted
        if self._inserted < max(_ANALYZE_AFTER, self._known_rows):
            return
        self._inserted = 0
        try:
            conn = self._connection()
            conn.execute("ANALYZE entries, keys")
            self._known_rows = self._statistics_rows(conn)
        except psycopg.Error:  # only a plan at stake (a permission, a busy table): go on
            self._known_rows = max(self._known_rows * 2, _ANALYZE_AFTER)

    def _read(self, work: Callable[[psycopg.Connection[Any]], _T]) -> _T:
        """Run ``work`` on this thread's connection (autocommit: one snapshot per statement)."""
        conn = self._connection()
        try:
            return work(conn)
        except psycopg.Error as error:
            raise IndexStoreError(f"reading the index failed: {error}") from error

    def _transact(self, work: Callable[[psycopg.Connection[Any]], _T]) -> _T:
        """Run ``work`` in one transaction, retried when PostgreSQL aborts it for concurrency."""
        for attempt in range(_RETRIES):
            conn = self._connection()
            try:
                with conn.transaction():
                    return work(conn)
            except _RETRYABLE as error:
                if attempt == _RETRIES - 1:
                    raise IndexStoreError(
                        f"the write was rolled back, nothing was stored (gave up after "
                        f"{_RETRIES} attempts): {error}"
                    ) from error
                time.sleep(random.uniform(0, 0.005 * 2**attempt))
            except IndexStoreError:
                raise
            except psycopg.Error as error:
                raise IndexStoreError(
                    f"the write was rolled back, nothing was stored: {error}"
                ) from error
        raise AssertionError("unreachable")  # pragma: no cover

    # ---- interned names ---------------------------------------------------------------
    def _name_id(self, kind: int, name: str, create: bool) -> int | None:
        """The id of a sync (``kind=_SYNC``) or object type name; interned if ``create``."""
        cache = self._ids[kind]
        found = cache.get(name)
        if found is not None:
            return found
        stored = _esc(name)

        def look(conn: psycopg.Connection[Any]) -> int | None:
            if create:
                row = conn.execute(
                    "INSERT INTO names (kind, name) VALUES (%s, %s) "
                    "ON CONFLICT (kind, name) DO NOTHING RETURNING id",
                    (kind, stored),
                ).fetchone()
                if row is not None:
                    return int(row[0])
            row = conn.execute(
                "SELECT id FROM names WHERE kind = %s AND name = %s", (kind, stored)
            ).fetchone()
            return None if row is None else int(row[0])

        # Outside any transaction: an interned name stays even if the write that needed
        # it fails, so every cached id is valid for good.
        found = self._read(look)
        if found is not None:
            cache[name] = found
            if kind == _OBJECT_TYPE:
                self._ot_names[found] = name
        return found

    def _sync(self, name: str, create: bool = False) -> int | None:
        return self._name_id(_SYNC, name, create)

    def _ot(self, name: str, create: bool = False) -> int | None:
        return self._name_id(_OBJECT_TYPE, name, create)

    def _ot_name(self, ot: int) -> str:
        name = self._ot_names.get(ot)
        if name is None:
            row = self._read(
                lambda conn: conn.execute(
                    "SELECT name FROM names WHERE kind = %s AND id = %s", (_OBJECT_TYPE, ot)
                ).fetchone()
            )
            if row is None:
                raise IndexStoreError(f"the index is corrupt: unknown object type id {ot}")
            name = self._ot_names[ot] = _unesc(row[0])
        return name

    # ---- the row format -------------------------------------------------------------
    def _intern_text(self, kind: str, text: str) -> int | None:
        """The number of an interned text of the row format, interning it in its own
        statement (outside any write: the number stays valid for good, like interned
        names); ``None`` when the table is full. In a migration, inside its transaction."""
        conn = self._connection()
        table, column = kind, _INTERNED[kind]
        try:
            row = conn.execute(f"SELECT id FROM {table} WHERE {column} = %s", (text,)).fetchone()
            if row is None:
                last = conn.execute(f"SELECT coalesce(max(id), 0) FROM {table}").fetchone()
                if last is not None and last[0] >= _rowformat.MAX_INTERNED:
                    return None
                row = conn.execute(
                    f"INSERT INTO {table} ({column}) VALUES (%s) ON CONFLICT ({column}) "
                    f"DO UPDATE SET {column} = EXCLUDED.{column} RETURNING id",
                    (text,),
                ).fetchone()
        except psycopg.Error as error:
            raise IndexStoreError(f"writing the index failed: {error}") from error
        assert row is not None
        return int(row[0])

    def _interned_text(self, kind: str, number: int) -> str | None:
        """The text of an interned number, ``None`` if there is none."""
        row = self._read(
            lambda conn: conn.execute(
                f"SELECT {_INTERNED[kind]} FROM {kind} WHERE id = %s", (number,)
            ).fetchone()
        )
        return None if row is None else str(row[0])

    def _decode(
        self,
        sync_id: str,
        object_type: str,
        row: Sequence[Any],
        kept: tuple[str, dict[str, dict[str, str | None]]] | None = None,
    ) -> Entry:
        """The entry of a row of ``_COLUMNS`` (a CorruptEntry naming it if it is corrupt;
        ``kept``: see :meth:`_rowformat.RowCodec.decode`)."""
        return self._codec.decode(
            sync_id,
            object_type,
            (
                row[0],
                row[1],
                _unesc(row[2]),
                _opt_unesc(row[3]),
                _opt_unesc(row[4]),
                row[5],
                row[6],
                row[7],
                _opt_unesc(row[8]),
                row[9],
            ),
            kept,
        )

    def _convert_rows(self, conn: psycopg.Connection[Any]) -> None:
        """Rewrite every entry's ``keys`` and ``data`` in the current row format (a
        migration step, in its transaction). A row that cannot be read is left as it is:
        reading it names it (a CorruptEntry), and writing its entry again replaces it."""
        names = {
            (kind, number): _unesc(name)
            for kind, number, name in conn.execute("SELECT kind, id, name FROM names")
        }
        last = 0
        while True:
            rows = conn.execute(
                f"SELECT {_COLUMNS}, sync FROM entries WHERE id > %s ORDER BY id LIMIT 1000",
                (last,),
            ).fetchall()
            if not rows:
                return
            last = rows[-1][0]
            converted: list[tuple[int, str | None, str]] = []
            for row in rows:
                sync_id = names.get((_SYNC, row[10]), str(row[10]))
                object_type = names.get((_OBJECT_TYPE, row[1]), str(row[1]))
                entry = self._decode(sync_id, object_type, row)
                if type(entry) is CorruptEntry:
                    continue  # left as it is: reading it names it
                try:
                    data = self._codec.encode(entry, row[6], entry.keys)
                except _codec.CodecError:
                    continue
                converted.append((row[0], _keys_text(entry.keys), data))
            if converted:
                conn.execute(
                    "UPDATE entries e SET keys = u.keys, data = u.data FROM unnest(%s::bigint[], "
                    "%s::text[], %s::text[]) AS u(id, keys, data) WHERE e.id = u.id",
                    [list(column) for column in zip(*converted, strict=True)],
                )

    @staticmethod
    def _old_keys(text: str | None) -> frozenset[str] | None:
        """The keys of a stored row a write replaces or deletes (escaped, as the keys
        table holds them); ``None`` when they cannot be read (a row another program
        wrote): the write then replaces all of the entry's key rows."""
        try:
            keys = _rowformat.keys_of(_opt_unesc(text))
        except ValueError:
            return None
        return frozenset(_esc(key) for key in keys)

    # ---- lookups ------------------------------------------------------------------
    def _scope(
        self, sync_id: str, object_type: str, wanted: Iterable[str]
    ) -> tuple[int, int, list[str]] | None:
        """The ids of a sync and object type, and the escaped values to look up; ``None``
        when there is nothing to find."""
        values = [_esc(value) for value in dict.fromkeys(wanted)]
        if not values:
            return None
        sync = self._sync(sync_id)
        ot = self._ot(object_type)
        if sync is None or ot is None:
            return None
        return sync, ot, values

    def _select(
        self, sync_id: str, object_type: str, column: str, wanted: Iterable[str]
    ) -> dict[str, Entry]:
        scope = self._scope(sync_id, object_type, wanted)
        if scope is None:
            return {}
        sync, ot, values = scope
        index = {"entry_id": 2, "hub_id": 3, "app_id": 4}[column]
        query = (
            f"SELECT {_COLUMNS} FROM entries "
            f"WHERE sync = %s AND ot = %s AND {column} = ANY(%s::text[])"
        )
        rows = self._read(lambda conn: conn.execute(query, (sync, ot, values)).fetchall())
        decode = self._decode
        return {_unesc(row[index]): decode(sync_id, object_type, row) for row in rows}

    @override
    def get(self, sync_id: str, object_type: str, entry_ids: Iterable[str]) -> dict[str, Entry]:
        return self._select(sync_id, object_type, "entry_id", entry_ids)

    @override
    def by_record_ids(
        self, sync_id: str, object_type: str, side: Side, record_ids: Iterable[str]
    ) -> dict[str, Entry]:
        column = "hub_id" if side is Side.HUB else "app_id"
        return self._select(sync_id, object_type, column, record_ids)

    @override
    def record_keys(
        self, sync_id: str, object_type: str, side: Side, record_ids: Iterable[str]
    ) -> dict[str, tuple[str | None, frozenset[str]]]:
        # Hot columns only: no entry is built, the data column is not read.
        column, other = ("hub_id", "app_id") if side is Side.HUB else ("app_id", "hub_id")
        scope = self._scope(sync_id, object_type, record_ids)
        if scope is None:
            return {}
        sync, ot, values = scope
        query = (
            f"SELECT {column}, {other}, keys, entry_id FROM entries "
            f"WHERE sync = %s AND ot = %s AND {column} = ANY(%s::text[])"
        )
        rows = self._read(lambda conn: conn.execute(query, (sync, ot, values)).fetchall())
        found: dict[str, tuple[str | None, frozenset[str]]] = {}
        for record_id, other_id, keys, entry_id in rows:
            found[_unesc(record_id)] = (
                _opt_unesc(other_id),
                self._codec.keys(sync_id, object_type, _unesc(entry_id), _opt_unesc(keys)),
            )
        return found

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
        wanted = [_esc(key) for key in dict.fromkeys(keys)]
        found: dict[str, list[Entry]] = {}
        if not wanted:
            return found
        sync = self._sync(sync_id)
        ot = self._ot(object_type)
        if sync is None or ot is None:
            return found
        query = (
            "SELECT e.id, e.ot, e.entry_id, e.hub_id, e.app_id, e.state, e.updated_at, "
            "e.pending, e.keys, e.data, k.key FROM keys k JOIN entries e ON e.id = k.entry "
            "WHERE k.sync = %s AND k.ot = %s AND k.key = ANY(%s::text[]) ORDER BY e.id"
        )
        rows = self._read(lambda conn: conn.execute(query, (sync, ot, wanted)).fetchall())
        decoded: dict[int, Entry] = {}
        for row in rows:
            entry = decoded.get(row[0])
            if entry is None:
                entry = decoded[row[0]] = self._decode(sync_id, object_type, row, kept)
            found.setdefault(_unesc(row[10]), []).append(entry)
        return found

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
        sync = self._sync(sync_id)
        ot = None if object_type is None else self._ot(object_type)
        if sync is None or (object_type is not None and ot is None):
            return
        where, params = _rowformat.entry_where(
            sync, ot, codes, since, until, pending, mark="%s", array=True
        )
        query = (
            f"SELECT {_COLUMNS} FROM entries e WHERE {' AND '.join(where)} "
            f"AND e.id > %s ORDER BY e.id LIMIT {chunk_size}"
        )
        last = start
        while True:
            after = last
            rows = self._read(
                lambda conn: conn.execute(query, (*params, after)).fetchall()  # noqa: B023 - used at once
            )
            names = object_type
            chunk = [
                (
                    row[0],
                    self._decode(
                        sync_id, names if names is not None else self._ot_name(row[1]), row
                    ),
                )
                for row in rows
            ]
            yield from chunk
            if len(rows) < chunk_size:
                return
            last = rows[-1][0]

    @override
    def counts(self, sync_id: str) -> dict[str, dict[RecordState, int]]:
        found: dict[str, dict[RecordState, int]] = {}
        sync = self._sync(sync_id)
        if sync is None:
            return found
        rows = self._read(
            lambda conn: conn.execute(
                "SELECT ot, state, sum(n) FROM counts WHERE sync = %s "
                "GROUP BY ot, state HAVING sum(n) > 0",
                (sync,),
            ).fetchall()
        )
        for ot, state, n in rows:
            found.setdefault(self._ot_name(ot), {})[_STATES[state]] = int(n)
        return found

    @override
    def count_on(self, sync_id: str, object_type: str, side: Side) -> int:
        column = "hub_id" if side is Side.HUB else "app_id"
        sync, ot = self._sync(sync_id), self._ot(object_type)
        if sync is None or ot is None:
            return 0
        row = self._read(
            lambda conn: conn.execute(
                f"SELECT count(*) FROM entries WHERE sync = %s AND ot = %s "
                f"AND {column} IS NOT NULL",
                (sync, ot),
            ).fetchone()
        )
        return int(row[0]) if row is not None else 0

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
    def write_new(self, entries: Sequence[Entry], *, cursors: Sequence[CursorUpdate] = ()) -> None:
        # Inserted without locking or reading stored rows of the same ids (_write's
        # ``fresh``): the unique index on entry ids refuses one that is stored; then the
        # transaction is rolled back and write_built writes them, looking. (The ids the
        # rolled-back insert took from the sequence are skipped, as after any rolled-back
        # write: ids keep the order of the writes, not a count.)
        try:
            self._write_all(entries, (), cursors, None, built=True, fresh=True)
        except _Taken:
            self.write_built(entries, cursors=cursors)

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
        # The announced rows completed in place (one UPDATE for the call, each row
        # checked), the other entries written as write_built writes them, in one
        # transaction; when a row fails its check, the transaction is rolled back and
        # the call done whole (the base class's write_built of created_entry).
        prepare = self._completion(created, at, mark, history, entries) if created else None
        if prepare is None:
            super().write_created(
                created, at=at, mark=mark, history=history, entries=entries, cursors=cursors
            )
            return
        try:
            self._write_all(entries, (), cursors, None, built=True, complete=prepare)
        except _NotAnnounced:
            super().write_created(
                created, at=at, mark=mark, history=history, entries=entries, cursors=cursors
            )

    def _completion(
        self,
        created: Sequence[tuple[Entry, str]],
        at: datetime,
        mark: str | None,
        history: tuple[HistoryItem, ...],
        entries: Sequence[Entry],
    ) -> Callable[[], _Complete] | None:
        """What completes write_created's announced rows in place (see write_created):
        a function called once the other entries are encoded (their history items are
        numbered first, as write_built numbers them), which returns the step run in the
        write's transaction; ``None`` when the call is not one this way takes (entries
        of several syncs or types, an entry met twice or among ``entries``, one not
        pending, no history and no mark, nothing stored for the sync or type)."""
        first, first_id = created[0]
        sync_id, object_type = first.sync_id, first.object_type
        others = {(e.sync_id, e.object_type, e.entry_id) for e in entries}
        seen: set[str] = set()
        for announced, record_id in created:
            if (
                announced.sync_id != sync_id
                or announced.object_type != object_type
                or announced.pending is None
                or type(announced.pending_key) is not str
                or type(record_id) is not str
                or announced.entry_id in seen
                or (sync_id, object_type, announced.entry_id) in others
            ):
                return None
            seen.add(announced.entry_id)
        sync = self._sync(sync_id)
        ot = self._ot(object_type)
        if sync is None or ot is None:
            return None
        updated = _micros("at", at)
        synced = _STATE_CODES[RecordState.SYNCED]
        codec = self._codec

        def prepare() -> _Complete:
            tail = codec.created_tail(created_entry(first, first_id, at, mark, history), updated)
            if tail is None:
                raise _NotAnnounced("a created entry without history or mark")
            columns: tuple[list[Any], ...] = ([], [], [], [], [], [], [], [])
            for announced, record_id in created:
                suffix = codec.pending_suffix(announced.pending_key)  # type: ignore[arg-type]
                for column, value in zip(
                    columns,
                    (
                        _esc(announced.entry_id),
                        _esc(record_id),
                        _SIDE_CODES[announced.pending],  # type: ignore[index]
                        _opt_esc(announced.hub_id),
                        _opt_esc(announced.app_id),
                        _STATE_CODES[announced.state],
                        len(suffix),
                        suffix,
                    ),
                    strict=True,
                ):
                    column.append(value)

            def complete(
                conn: psycopg.Connection[Any], deltas: Counter[tuple[int, int, int]]
            ) -> None:
                # Each row checked as SQLiteIndexStore checks it: pending on the side
                # created on, in the announced state, with the announced record ids,
                # and its data column ending as the announced entry's (its idempotency
                # key is unique); right() and left() count characters, as len() does.
                rows = conn.execute(
                    "UPDATE entries e SET "
                    "hub_id = CASE WHEN u.side = 0 THEN u.record_id ELSE e.hub_id END, "
                    "app_id = CASE WHEN u.side = 1 THEN u.record_id ELSE e.app_id END, "
                    f"state = {synced}, updated_at = %s, pending = NULL, "
                    "data = left(e.data, -u.n) || %s "
                    "FROM unnest(%s::text[], %s::text[], %s::smallint[], %s::text[], "
                    "%s::text[], %s::smallint[], %s::int[], %s::text[]) "
                    "AS u(entry_id, record_id, side, hub_id, app_id, state, n, suffix) "
                    "WHERE e.sync = %s AND e.ot = %s AND e.entry_id = u.entry_id "
                    "AND e.pending = u.side AND e.state = u.state "
                    "AND e.hub_id IS NOT DISTINCT FROM u.hub_id "
                    "AND e.app_id IS NOT DISTINCT FROM u.app_id "
                    "AND right(e.data, u.n) = u.suffix "
                    "RETURNING u.state",
                    (updated, tail, *columns, sync, ot),
                ).fetchall()
                if len(rows) != len(created):
                    raise _NotAnnounced("a row is not its announced entry's")
                for (state,) in rows:
                    if state != synced:
                        deltas[(sync, ot, state)] -= 1
                        deltas[(sync, ot, synced)] += 1

            return complete

        return prepare

    @override
    def write_synced(
        self,
        copies: Sequence[SyncedCopy],
        updated_at: datetime,
        history_size: int,
        *,
        cursors: Sequence[CursorUpdate] = (),
    ) -> None:
        # Each row rewritten by one UPDATE per sync and type: its data column (made
        # by RowCodec.encode_synced, or encoded from synced_copy's entry), time, ids,
        # state and pending, when it still holds the keys and state of the entry as
        # read (so its key rows and counts stay as they are); when a row does not, the
        # transaction is rolled back and the call written whole (the default).
        if not (copies or cursors):
            return
        try:
            self._write_all(
                (),
                (),
                cursors,
                None,
                built=True,
                complete=lambda: self._rewrite(copies, updated_at, history_size),
            )
        except _NotAsRead:
            super().write_synced(copies, updated_at, history_size, cursors=cursors)

    def _rewrite(
        self, copies: Sequence[SyncedCopy], updated_at: datetime, history_size: int
    ) -> _Complete:
        """write_synced's rows, encoded in the order write_built encodes them (the last
        copy of an entry wins, in the first one's place); the step that rewrites them
        in the write's transaction."""
        last: dict[tuple[str, str, str], SyncedCopy] = {}
        for copy in copies:
            entry = copy[0]
            last[(entry.sync_id, entry.object_type, entry.entry_id)] = copy
        updated = _micros("updated_at", updated_at)
        codec = self._codec
        synced = _STATE_CODES[RecordState.SYNCED]
        groups: dict[tuple[int, int], tuple[list[Any], ...]] = {}
        for (sync_id, object_type, entry_id), (entry, hub, app, item) in last.items():
            data = codec.encode_synced(entry, hub, app, item, updated_at, updated, history_size)
            if data is None:
                whole = synced_copy(entry, hub, app, item, updated_at, history_size)
                data = codec.encode(whole, updated, whole.keys)
            sync = self._sync(sync_id)
            ot = self._ot(object_type)
            if sync is None or ot is None:
                raise _NotAsRead(f"no entries of {sync_id!r:.40}, {object_type!r:.40}")
            columns = groups.setdefault((sync, ot), ([], [], [], [], []))
            for column, value in zip(
                columns,
                (
                    _esc(entry_id),
                    _opt_esc(entry.hub_id),
                    _opt_esc(entry.app_id),
                    _keys_text(entry.keys),
                    data,
                ),
                strict=True,
            ):
                column.append(value)

        def rewrite(conn: psycopg.Connection[Any], deltas: Counter[tuple[int, int, int]]) -> None:
            for (sync, ot), columns in sorted(groups.items()):
                rows = conn.execute(
                    "UPDATE entries e SET hub_id = u.hub_id, app_id = u.app_id, "
                    f"state = {synced}, updated_at = %s, pending = NULL, data = u.data "
                    "FROM unnest(%s::text[], %s::text[], %s::text[], %s::text[], %s::text[]) "
                    "AS u(entry_id, hub_id, app_id, keys, data) "
                    "WHERE e.sync = %s AND e.ot = %s AND e.entry_id = u.entry_id "
                    f"AND e.state = {synced} AND e.keys IS NOT DISTINCT FROM u.keys "
                    "RETURNING e.id",
                    (updated, *columns, sync, ot),
                ).fetchall()
                if len(rows) != len(columns[0]):
                    raise _NotAsRead("a row is not its entry's as read")

        return rewrite

    @override
    def replace_unchanged(
        self, sync_id: str, object_type: str, changes: Sequence[tuple[Entry, Entry]]
    ) -> dict[str, Entry | None]:
        pairs = check_changes(sync_id, object_type, changes)
        lost: dict[str, Entry | None] = {}

        def compare(
            conn: psycopg.Connection[Any], groups: Mapping[tuple[int, int], list[tuple[Any, ...]]]
        ) -> dict[tuple[int, int], list[tuple[Any, ...]]]:
            lost.clear()  # the transaction may be run again
            if not groups:
                return {}
            ((where, items),) = groups.items()  # one sync and object type
            rows = conn.execute(
                f"SELECT {_COLUMNS} FROM entries WHERE sync = %s AND ot = %s "
                f"AND entry_id = ANY(%s::text[]) ORDER BY id FOR UPDATE",
                (*where, [item[0] for item in items]),
            ).fetchall()
            stored = {_unesc(row[2]): self._decode(sync_id, object_type, row) for row in rows}
            kept: list[tuple[Any, ...]] = []
            for item in items:
                entry_id = _unesc(item[0])
                current = stored.get(entry_id)
                if current is not None and same_entry(pairs[entry_id][0], current):
                    kept.append(item)
                else:
                    lost[entry_id] = current
            return {where: kept} if kept else {}

        self._write_all([new for _, new in pairs.values()], (), (), None, compare=compare)
        return lost

    @override
    def indexed_values(
        self, sync_id: str, object_type: str, entry_ids: Iterable[str], tag: str
    ) -> dict[str, dict[str, str | None]]:
        found: dict[str, dict[str, str | None]] = {}
        scope = self._scope(sync_id, object_type, entry_ids)
        if scope is None or type(tag) is not str:
            return found
        sync, ot, values = scope
        query = (
            "SELECT entry_id, data FROM entries "
            "WHERE sync = %s AND ot = %s AND entry_id = ANY(%s::text[])"
        )
        rows = self._read(lambda conn: conn.execute(query, (sync, ot, values)).fetchall())
        kept_of = self._codec.kept
        for entry_id, data in rows:
            got = kept_of(data, tag)
            if got is not None:
                found[_unesc(entry_id)] = got
        return found

    def _write_all(
        self,
        entries: Sequence[Entry],
        delete: Sequence[tuple[str, str, str]],
        cursors: Sequence[CursorUpdate],
        kept: Mapping[str, tuple[str, Mapping[str, str | None]]] | None,
        *,
        built: bool = False,
        compare: _Compare | None = None,
        fresh: bool = False,
        complete: Callable[[], _Complete] | None = None,
    ) -> None:
        # The last of several writes of one entry wins; it keeps the first one's place.
        batch = _rowformat.built_entries(entries) if built else _rowformat.check_entries(entries)
        removals = _rowformat.check_deletes(delete)
        cursors = _rowformat.check_cursors(cursors)
        if not (batch or removals or cursors or complete):
            return
        # Encode everything before the transaction: an unstorable value fails the call
        # before anything is sent.
        groups: dict[tuple[int, int], list[tuple[Any, ...]]] = {}
        try:
            for position, ((sync_id, object_type, entry_id), entry) in enumerate(batch.items()):
                sync = self._sync(sync_id, create=True)
                ot = self._ot(object_type, create=True)
                assert sync is not None
                assert ot is not None
                updated = _codec.to_micros(entry.updated_at)
                side = entry.pending
                groups.setdefault((sync, ot), []).append(
                    (
                        _esc(entry_id),
                        _opt_esc(entry.hub_id),
                        _opt_esc(entry.app_id),
                        _STATE_CODES[entry.state],
                        updated,
                        None if side is None else _SIDE_CODES[side],
                        _keys_text(entry.keys),
                        self._codec.encode(
                            entry, updated, entry.keys, kept.get(entry_id) if kept else None
                        ),
                        [_esc(key) for key in entry.keys],
                        position,
                    )
                )
            # write_created: its rows' tail encoded after the other entries.
            completion = None if complete is None else complete()
        except _codec.CodecError as error:
            raise IndexStoreError(str(error)) from error
        doomed: dict[tuple[int, int], list[str]] = {}
        for (sync_id, object_type), ids in removals.items():
            sync = self._sync(sync_id)
            ot = self._ot(object_type)
            if sync is not None and ot is not None:
                doomed.setdefault((sync, ot), []).extend(_esc(i) for i in ids)
        # The last update of a cursor in the call wins.
        final: dict[tuple[int, int, int, str], str | None] = {}
        for update in cursors:
            create = update.value is not None
            sync = self._sync(update.sync_id, create=create)
            ot = self._ot(update.object_type, create=create)
            if sync is None or ot is None:
                continue
            where = (sync, _SIDE_CODES[update.side], ot, _esc(update.name))
            final[where] = None if update.value is None else _esc(update.value)
        if compare is None:
            inserted = self._transact(
                lambda conn: self._write(conn, groups, doomed, final, fresh, completion)
            )
        else:
            # replace_unchanged: the rows are locked and compared in the write's
            # transaction (FOR UPDATE), so no other write comes between the two.
            inserted = self._transact(
                lambda conn: self._write(conn, compare(conn, groups), doomed, final)
            )
        if inserted:
            self._refresh_statistics(inserted)

    def _write(
        self,
        conn: psycopg.Connection[Any],
        groups: Mapping[tuple[int, int], list[tuple[Any, ...]]],
        doomed: Mapping[tuple[int, int], list[str]],
        cursors: Mapping[tuple[int, int, int, str], str | None],
        fresh: bool = False,
        complete: _Complete | None = None,
    ) -> int:
        """Write the prepared call in the open transaction; return how many rows it
        inserted. ``fresh`` (write_new): no stored row is looked for, and one the
        insert finds raises _Taken; ``complete`` (write_created) runs first."""
        deltas: Counter[tuple[int, int, int]] = Counter()
        if complete is not None:
            complete(conn, deltas)
        # Groups in a fixed order, rows locked in id order: concurrent writers lock in
        # the same order, which keeps deadlocks rare (and they are retried).
        existing = {
            where: {} if fresh else self._lock_rows(conn, where, groups[where])
            for where in sorted(groups)
        }
        # New entries take their places in the order of the whole batch.
        new = sorted(
            item[9]
            for where, items in groups.items()
            for item in items
            if item[0] not in existing[where]
        )
        places: dict[int, int] = {}
        if new:
            ids = sorted(
                row[0]
                for row in conn.execute(
                    "SELECT nextval('entry_order') FROM generate_series(1, %s)", (len(new),)
                )
            )
            places = dict(zip(new, ids, strict=True))
        for where in sorted(groups):
            try:
                self._upsert(conn, where, groups[where], existing[where], places, deltas)
            except pg_errors.UniqueViolation as error:
                if not fresh:
                    raise
                raise _Taken(f"an entry write_new would insert is stored: {error}") from error
        for where in sorted(doomed):
            self._delete(conn, where, doomed[where], deltas)
        if cursors:
            gone = [where for where, value in cursors.items() if value is None]
            kept = sorted((where, value) for where, value in cursors.items() if value is not None)
            if gone:
                conn.execute(
                    "DELETE FROM cursors c USING unnest(%s::int[], %s::smallint[], %s::int[], "
                    "%s::text[]) AS u(sync, side, ot, name) WHERE c.sync = u.sync "
                    "AND c.side = u.side AND c.ot = u.ot AND c.name = u.name",
                    [list(column) for column in zip(*gone, strict=True)],
                )
            if kept:
                conn.execute(
                    "INSERT INTO cursors (sync, side, ot, name, value) SELECT * FROM "
                    "unnest(%s::int[], %s::smallint[], %s::int[], %s::text[], %s::text[]) "
                    "ON CONFLICT (sync, side, ot, name) DO UPDATE SET value = EXCLUDED.value",
                    [
                        *[list(column) for column in zip(*(w for w, _ in kept), strict=True)],
                        [value for _, value in kept],
                    ],
                )
        changed = sorted((*where, n) for where, n in deltas.items() if n)
        if changed:
            conn.execute(
                "INSERT INTO counts (sync, ot, state, shard, n) "
                "SELECT u.sync, u.ot, u.state, %s, u.n FROM "
                "unnest(%s::int[], %s::int[], %s::smallint[], %s::bigint[]) "
                "AS u(sync, ot, state, n) "
                "ON CONFLICT (sync, ot, state, shard) DO UPDATE SET n = counts.n + EXCLUDED.n",
                [self._shard, *[list(column) for column in zip(*changed, strict=True)]],
            )
        return len(new)

    @staticmethod
    def _lock_rows(
        conn: psycopg.Connection[Any], where: tuple[int, int], items: list[tuple[Any, ...]]
    ) -> dict[str, _Row]:
        """Lock and return the stored rows the batch replaces, by (escaped) entry id."""
        return {
            entry_id: _Row(rowid, state, keys)
            for entry_id, rowid, state, keys in conn.execute(
                "SELECT entry_id, id, state, keys FROM entries WHERE sync = %s AND ot = %s "
                "AND entry_id = ANY(%s::text[]) ORDER BY id FOR UPDATE",
                (*where, [item[0] for item in items]),
            )
        }

    def _upsert(
        self,
        conn: psycopg.Connection[Any],
        where: tuple[int, int],
        items: list[tuple[Any, ...]],
        existing: Mapping[str, _Row],
        places: Mapping[int, int],
        deltas: Counter[tuple[int, int, int]],
    ) -> None:
        sync, ot = where
        rows: list[tuple[Any, ...]] = []  # (id, *columns) of every written entry
        stale_keys: list[tuple[str, int]] = []
        fresh_keys: list[tuple[str, int]] = []
        inserted: list[tuple[Any, ...]] = []
        for item in items:
            entry_id, _, _, state, _, _, keys_text, _, keys, position = item
            old = existing.get(entry_id)
            if old is None:
                rowid = places[position]
                inserted.append((rowid, *item[:8]))
                fresh_keys.extend((key, rowid) for key in keys)
                deltas[(sync, ot, state)] += 1
                continue
            rows.append((old.id, *item[1:8]))
            if old.keys != keys_text:
                after = set(keys)
                before = self._old_keys(old.keys)
                if before is None:  # unreadable: replace all of the entry's key rows
                    self._drop_entry_keys(conn, sync, ot, old.id)
                    before = frozenset()
                stale_keys.extend((key, old.id) for key in before - after)
                fresh_keys.extend((key, old.id) for key in after - before)
            if old.state != state:
                deltas[(sync, ot, old.state)] -= 1
                deltas[(sync, ot, state)] += 1
        if inserted:
            conn.execute(
                "INSERT INTO entries (id, sync, ot, entry_id, hub_id, app_id, state, updated_at, "
                "pending, keys, data) SELECT u.id, %s, %s, u.entry_id, u.hub_id, u.app_id, "
                "u.state, u.updated_at, u.pending, u.keys, u.data FROM unnest(%s::bigint[], "
                "%s::text[], %s::text[], %s::text[], %s::smallint[], %s::bigint[], "
                "%s::smallint[], %s::text[], %s::text[]) AS u(id, entry_id, hub_id, app_id, "
                "state, updated_at, pending, keys, data)",
                [sync, ot, *[list(column) for column in zip(*inserted, strict=True)]],
            )
        if rows:
            conn.execute(
                "UPDATE entries e SET hub_id = u.hub_id, app_id = u.app_id, state = u.state, "
                "updated_at = u.updated_at, pending = u.pending, keys = u.keys, data = u.data "
                "FROM unnest(%s::bigint[], %s::text[], %s::text[], %s::smallint[], "
                "%s::bigint[], %s::smallint[], %s::text[], %s::text[]) AS u(id, hub_id, "
                "app_id, state, updated_at, pending, keys, data) WHERE e.id = u.id",
                [list(column) for column in zip(*rows, strict=True)],
            )
        if stale_keys:
            self._drop_keys(conn, sync, ot, stale_keys)
        if fresh_keys:
            conn.execute(
                "INSERT INTO keys (sync, ot, key, entry) SELECT %s, %s, u.key, u.entry "
                "FROM unnest(%s::text[], %s::bigint[]) AS u(key, entry)",
                [sync, ot, *[list(column) for column in zip(*fresh_keys, strict=True)]],
            )

    @staticmethod
    def _drop_entry_keys(conn: psycopg.Connection[Any], sync: int, ot: int, rowid: int) -> None:
        """Delete every key row of one entry (its keys column could not be read)."""
        conn.execute(
            "DELETE FROM keys WHERE sync = %s AND ot = %s AND entry = %s", (sync, ot, rowid)
        )

    @staticmethod
    def _drop_keys(
        conn: psycopg.Connection[Any], sync: int, ot: int, keys: list[tuple[str, int]]
    ) -> None:
        conn.execute(
            "DELETE FROM keys k USING unnest(%s::text[], %s::bigint[]) AS u(key, entry) "
            "WHERE k.sync = %s AND k.ot = %s AND k.key = u.key AND k.entry = u.entry",
            [*[list(column) for column in zip(*keys, strict=True)], sync, ot],
        )

    def _delete(
        self,
        conn: psycopg.Connection[Any],
        where: tuple[int, int],
        entry_ids: list[str],
        deltas: Counter[tuple[int, int, int]],
    ) -> None:
        sync, ot = where
        gone = conn.execute(
            "DELETE FROM entries WHERE id IN (SELECT id FROM entries WHERE sync = %s "
            "AND ot = %s AND entry_id = ANY(%s::text[]) ORDER BY id FOR UPDATE) "
            "RETURNING id, state, keys",
            (sync, ot, entry_ids),
        ).fetchall()
        stale: list[tuple[str, int]] = []
        for rowid, state, keys in gone:
            deltas[(sync, ot, state)] -= 1
            before = self._old_keys(keys)
            if before is None:
                self._drop_entry_keys(conn, sync, ot, rowid)
            else:
                stale.extend((key, rowid) for key in before)
        if stale:
            self._drop_keys(conn, sync, ot, stale)

    # ---- cursors and settings -------------------------------------------------------
    @override
    def cursor(self, sync_id: str, side: Side, object_type: str, name: str = "poll") -> str | None:
        sync = self._sync(sync_id)
        ot = self._ot(object_type)
        if sync is None or ot is None:
            return None
        code = _SIDE_CODES[Side(side)]
        row = self._read(
            lambda conn: conn.execute(
                "SELECT value FROM cursors WHERE sync = %s AND side = %s AND ot = %s AND name = %s",
                (sync, code, ot, _esc(name)),
            ).fetchone()
        )
        return None if row is None else _unesc(row[0])

    @override
    def get_meta(self, sync_id: str, key: str) -> str | None:
        sync = self._sync(sync_id)
        if sync is None:
            return None
        row = self._read(
            lambda conn: conn.execute(
                "SELECT value FROM meta WHERE sync = %s AND key = %s", (sync, _esc(key))
            ).fetchone()
        )
        return None if row is None else _unesc(row[0])

    @override
    def set_meta(self, sync_id: str, key: str, value: str | None) -> None:
        if value is not None and not isinstance(value, str):
            raise IndexStoreError(f"meta values are str or None, got {value!r:.80}")
        sync = self._sync(sync_id, create=value is not None)
        if sync is None:
            return
        if value is None:
            self._transact(
                lambda conn: conn.execute(
                    "DELETE FROM meta WHERE sync = %s AND key = %s", (sync, _esc(key))
                )
            )
        else:
            self._transact(
                lambda conn: conn.execute(
                    "INSERT INTO meta (sync, key, value) VALUES (%s, %s, %s) "
                    "ON CONFLICT (sync, key) DO UPDATE SET value = EXCLUDED.value",
                    (sync, _esc(key), _esc(str(value))),
                )
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
        wanted = sorted({_esc(name) for name in names})
        if not wanted:
            return set()
        sync = self._sync(sync_id, create=True)
        ot = self._ot(object_type, create=True)
        # One statement: PostgreSQL locks each conflicting row and re-checks the WHERE
        # on its latest version, so no name is granted to two owners (S9). Names go in
        # sorted order, so that concurrent calls lock rows in the same order.
        rows = self._transact(
            lambda conn: conn.execute(
                "INSERT INTO leases AS l (sync, ot, name, owner, expires) "
                "SELECT %s, %s, u.name, %s, %s FROM unnest(%s::text[]) AS u(name) "
                "ORDER BY u.name "
                "ON CONFLICT (sync, ot, name) DO UPDATE "
                "SET owner = EXCLUDED.owner, expires = EXCLUDED.expires "
                "WHERE l.expires <= %s OR l.owner = EXCLUDED.owner RETURNING l.name",
                (sync, ot, _esc(owner), until_us, wanted, now_us),
            ).fetchall()
        )
        return {_unesc(row[0]) for row in rows}

    @override
    def holders(self, sync_id: str, object_type: str, names: Iterable[str]) -> dict[str, str]:
        wanted = sorted({_esc(name) for name in names})
        sync = self._sync(sync_id)
        ot = self._ot(object_type)
        if not wanted or sync is None or ot is None:
            return {}
        rows = self._read(
            lambda conn: conn.execute(
                "SELECT name, owner FROM leases "
                "WHERE sync = %s AND ot = %s AND name = ANY(%s::text[])",
                (sync, ot, wanted),
            ).fetchall()
        )
        return {_unesc(name): _unesc(holder) for name, holder in rows}

    @override
    def leases(self, sync_id: str, object_type: str) -> dict[str, tuple[str, datetime]]:
        sync = self._sync(sync_id)
        if sync is None:
            return {}
        ot = self._ids[_OBJECT_TYPE].get(object_type)
        # One statement either way: an object type never leased (no note ever written,
        # the usual case) is not interned, and looking it up alone would cost a second.
        if ot is not None:
            query = "SELECT name, owner, expires FROM leases WHERE sync = %s AND ot = %s"
            params: tuple[Any, ...] = (sync, ot)
        else:
            query = (
                "SELECT l.name, l.owner, l.expires FROM names AS n "
                "JOIN leases AS l ON l.sync = %s AND l.ot = n.id "
                "WHERE n.kind = %s AND n.name = %s"
            )
            params = (sync, _OBJECT_TYPE, _esc(object_type))
        rows = self._read(lambda conn: conn.execute(query, params).fetchall())
        return {
            _unesc(name): (_unesc(owner), _codec.from_micros(expires))
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
        wanted = None if names is None else sorted({_esc(name) for name in names})
        if wanted is not None and not wanted:
            return
        sync = self._sync(sync_id)
        ot = None if object_type is None else self._ot(object_type)
        if sync is None or (object_type is not None and ot is None):
            return
        where = ["sync = %s", "owner = %s"]
        params: list[Any] = [sync, _esc(owner)]
        if ot is not None:
            where.append("ot = %s")
            params.append(ot)
        if wanted is not None:
            where.append("name = ANY(%s::text[])")
            params.append(wanted)
        query = f"DELETE FROM leases WHERE {' AND '.join(where)}"
        self._transact(lambda conn: conn.execute(query, params))

    # ---- the webhook inbox ------------------------------------------------------------
    @override
    def inbox_add(self, items: Sequence[InboxItem]) -> int:
        checked = check_inbox_items(items)
        if not checked:
            return 0
        syncs = [self._sync(i.sync_id, create=True) for i in checked]
        columns: tuple[list[Any], ...] = ([], [], [], [], [])
        for sync, item in zip(syncs, checked, strict=True):
            columns[0].append(sync)
            columns[1].append(_esc(item.key))
            columns[2].append(_SIDE_CODES[item.side])
            columns[3].append(_micros("received_at", item.received_at))
            columns[4].append(_esc(item.payload))

        def work(conn: psycopg.Connection[Any]) -> int:
            # WITH ORDINALITY keeps the call's order (seqs in arrival order); a key
            # repeated inside the call is added once (ON CONFLICT cannot touch a row the
            # same statement inserted).
            cursor = conn.execute(
                "INSERT INTO inbox (sync, key, side, received, payload) "
                "SELECT d.sync, d.key, d.side, d.received, d.payload FROM ("
                "SELECT DISTINCT ON (u.sync, u.key) u.* FROM unnest(%s::integer[], "
                "%s::text[], %s::smallint[], %s::bigint[], %s::text[]) WITH ORDINALITY "
                "AS u(sync, key, side, received, payload, n) ORDER BY u.sync, u.key, u.n"
                ") AS d ORDER BY d.n "
                "ON CONFLICT (sync, key) DO NOTHING",
                columns,
            )
            return cursor.rowcount

        return self._transact(work)

    @override
    def inbox(self, sync_id: str, *, after: int = 0, limit: int = 500) -> list[InboxItem]:
        sync = self._sync(sync_id)
        if sync is None or limit < 1:
            return []
        rows = self._read(
            lambda conn: conn.execute(
                "SELECT seq, key, side, received, payload FROM inbox "
                "WHERE sync = %s AND seq > %s ORDER BY seq LIMIT %s",
                (sync, int(after), int(limit)),
            ).fetchall()
        )
        item = self._codec.inbox_item
        return [
            item(sync_id, seq, _unesc(key), side, received, _unesc(payload))
            for seq, key, side, received, payload in rows
        ]

    @override
    def inbox_remove(self, sync_id: str, seqs: Iterable[int]) -> None:
        wanted = sorted({int(seq) for seq in seqs})
        sync = self._sync(sync_id)
        if not wanted or sync is None:
            return
        self._transact(
            lambda conn: conn.execute(
                "DELETE FROM inbox WHERE sync = %s AND seq = ANY(%s::bigint[])", (sync, wanted)
            )
        )

    @override
    def inbox_count(self, sync_id: str) -> int:
        sync = self._sync(sync_id)
        if sync is None:
            return 0
        row = self._read(
            lambda conn: conn.execute(
                "SELECT count(*) FROM inbox WHERE sync = %s", (sync,)
            ).fetchone()
        )
        return 0 if row is None else int(row[0])

    # ---- the pass history ---------------------------------------------------------------
    @override
    def add_pass(self, record: PassRecord) -> PassRecord:
        check_pass(record)
        row = (
            _esc(record.kind),
            _micros("started_at", record.started_at),
            _micros("finished_at", record.finished_at),
            record.outcome,
            _esc(record.detail),
            record.dry_run,
            encode_counts(record.counts),
        )
        sync = self._sync(record.sync_id, create=True)
        keep = self.keep_passes

        def work(conn: psycopg.Connection[Any]) -> int:
            # Adders of one sync's passes queue on an advisory lock (released at commit),
            # so each reads the max the previous one wrote: no two take the same number.
            conn.execute("SELECT pg_advisory_xact_lock(hashtext('syncengine:passes'), %s)", (sync,))
            found = conn.execute(
                "SELECT coalesce(max(number), 0) FROM passes WHERE sync = %s", (sync,)
            ).fetchone()
            number = int(found[0] if found is not None else 0) + 1
            conn.execute(
                "INSERT INTO passes (sync, number, kind, started, finished, outcome, detail, "
                "dry_run, counts) VALUES (%s, %s, %s, %s, %s, %s, %s, %s, %s)",
                (sync, number, *row),
            )
            conn.execute(
                "DELETE FROM passes WHERE sync = %s AND number <= %s", (sync, number - keep)
            )
            return number

        return attrs.evolve(record, number=self._transact(work))

    @override
    def passes(
        self, sync_id: str, *, limit: int = 50, before: int | None = None
    ) -> list[PassRecord]:
        bound = _rowformat.before(before)
        sync = self._sync(sync_id)
        if sync is None or limit < 1:
            return []
        rows = self._read(
            lambda conn: conn.execute(
                "SELECT number, kind, started, finished, outcome, detail, dry_run, counts "
                "FROM passes WHERE sync = %s AND number < %s ORDER BY number DESC LIMIT %s",
                (sync, bound, int(limit)),
            ).fetchall()
        )
        record = self._codec.pass_record
        return [
            record(sync_id, number, _unesc(kind), times, outcome, _unesc(detail), dry, counts)
            for number, kind, *times, outcome, detail, dry, counts in rows
        ]

    # ---- lifecycle ----------------------------------------------------------------
    @override
    def delete_sync(self, sync_id: str) -> None:
        sync = self._sync(sync_id)
        if sync is None:
            return

        def work(conn: psycopg.Connection[Any]) -> None:
            # The interned name stays: other processes may hold its id in their caches.
            for table in _PER_SYNC_TABLES:
                conn.execute(
                    sql.SQL("DELETE FROM {} WHERE sync = %s").format(sql.Identifier(table)),
                    (sync,),
                )

        self._transact(work)

    @override
    def close(self) -> None:
        """Close every connection of the store; it cannot be used afterwards."""
        with self._lock:
            self._closed = True
            connections, self._connections = self._connections, []
        for conn in connections:
            with contextlib.suppress(psycopg.Error):
                conn.close()
