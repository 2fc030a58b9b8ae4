"""SQLiteAdapter: a local SQLite database as an app.

This module owns an app that lives in one SQLite file: one table per object type, its
schema declared in the database, a change counter for cursors, tombstones for deleted ids,
idempotency keys, pipelines and associations. It is how the demo's two apps live on disk,
and how a user syncs a local database with any other adapter. Its semantics are those of
:class:`~syncengine.adapters.InMemoryAdapter` (the reference adapter), kept on disk.

It must not know anything about syncing: it is an app, like any other adapter.
The test-side helpers (:meth:`SQLiteAdapter.put` and friends) play the
users of that app; the engine never calls them.

Theory of operation
-------------------
* **Layout.** A record table per object type, named after it, with four internal columns
  (``__id``, ``__pos``, ``__seq``, ``__updated_at``) and one column per declared
  property, without a declared type, so SQLite stores each value as it is given (no type
  affinity conversions). Side tables, all prefixed ``_syncengine_``, hold the declared
  schemas (``types``), the counters (``meta``), tombstones, idempotency keys, links and
  pipelines. Names starting with ``__`` (properties) or ``_syncengine_``/``sqlite_``
  (object types) are reserved.
* **Values** are stored per Python type and read back per :class:`PropertyType`:
  ``str`` and numbers as themselves, ``bool`` as 0/1, dates and timezone-aware datetimes
  as ISO 8601 text (the offset kept), multi-selects as a sorted JSON array. ``None`` is
  never stored (NULL means absent). A value that does not fit its property's type (put
  there by :meth:`~SQLiteAdapter.put`, or by another program) is read back as stored.
  Text that is not valid UTF-8 (which another program can store) is read with each bad
  byte as a lone surrogate (Python's ``surrogateescape``), so one bad row never fails a
  scan: the engine fails that record alone when it cannot be written elsewhere.
* **One change counter** (``meta.seq``) numbers every change of every type, inside the
  write transaction that makes it; each row keeps the number of its latest change in
  ``__seq`` and each tombstone the number of the deletion. A record's ``__pos`` is the
  number of the change that inserted it, never moved by later changes, so full scans page
  by ``__pos > ?`` (keyset pagination) and incremental scans by ``__seq`` ranges.
* **Outside writers.** Any program may write the record tables (the ``sqlite3`` shell, an
  app of the user's own): triggers on every record table number its inserts, updates and
  deletes from the same counter (a delete leaves a tombstone, a change of the link table
  touches the linked record), so incremental scans see them like the adapter's own
  changes. The adapter numbers its own writes itself, faster: while one of its write
  transactions is open it holds a marker row (``meta.writer``) that the triggers skip on;
  the row is deleted before the commit, so no other connection ever sees it. A row
  inserted without ``__id`` gets the next id of the id counter (prefixed with the
  file's ``id_prefix``, kept in ``meta``), and an outside change sets
  ``__updated_at`` to SQLite's clock. A trigger on ``meta`` refuses to move the counter
  back (a writer that would reuse numbers, such as a format-1 adapter still running).
* **Why no change is skipped** (the cursor of a scan is the counter when it starts): a
  change takes its number inside its write transaction, and SQLite lets one write
  transaction run at a time per file, across connections and processes. So numbers are
  handed out in commit order: when a reader sees the counter at ``n``, the transactions
  that took the numbers up to ``n`` have all committed (the counter is committed with
  them) and are in the reader's snapshot, and a transaction still open (even one that
  has numbered rows already) holds numbers above ``n`` that nobody can see yet; if it
  rolls back, its numbers are handed out again, still above ``n``. A cursor ``"c:<n>"``
  is thus never taken in the middle of a transaction, unlike a cursor by timestamp or by
  a sequence that is assigned outside the transaction. The one way to break it is to
  scan inside an open write transaction of the same connection, where the counter
  includes uncommitted numbers: :meth:`SQLiteAdapter.scan` refuses that.
* **Formats.** The file's ``meta.format`` is ``"2"``. A format-1 file (written before
  outside writers were seen) is upgraded in place when it is opened, in one transaction:
  each record table is rebuilt without ``NOT NULL`` on its bookkeeping columns (so an
  ``INSERT`` may leave them out) and gets its triggers; values, ids, positions, change
  numbers, tombstones and the counter are kept, so a cursor issued before the upgrade
  means the same after it. Changes outside writers made *before* the upgrade were never
  numbered: a reconcile finds them.
* **Cursors** follow :class:`~syncengine.adapters.InMemoryAdapter`: ``"f:<pos>:<seq>"``
  resumes a full scan after position ``<pos>`` (the scan started at change ``<seq>``);
  its last page carries ``"c:<seq>"``; ``"c:<n>"`` yields what changed after change
  ``<n>``.
* **Transactions and processes.** One connection per adapter in autocommit mode, guarded
  by one lock; every write is one ``BEGIN IMMEDIATE … COMMIT`` (SQLite's write lock taken
  up front, so the counter is read and bumped atomically across processes). WAL lets
  readers run beside the writer; a busy timeout makes writers queue. SQLite errors from
  the engine-facing methods are raised as :class:`~syncengine.AdapterError`
  (``UNAVAILABLE``, transient).

.. versionadded:: 0.1
"""

from __future__ import annotations

import contextlib
import json
import os
import re
import sqlite3
import threading
from collections import Counter
from collections.abc import Callable, Iterable, Iterator, Mapping, Sequence
from datetime import UTC, date, datetime
from pathlib import Path
from types import MappingProxyType, TracebackType
from typing import Any, ClassVar, Final, Self, final

import attrs
from typing_extensions import override

# The value rules are shared with the reference adapter, so both apps validate alike.
from syncengine._text import lone_surrogate
from syncengine.adapters._values import MULTI_TYPES, check_values, merged, unknown_property
from syncengine.adapters.base import Adapter
from syncengine.errors import AdapterError, ConfigError
from syncengine.records import (
    AssociationChange,
    NewRecord,
    Page,
    Pipeline,
    Record,
    RecordUpdate,
    Stage,
    WriteResult,
)
from syncengine.schema import ObjectSchema, PropertySpec, PropertyType
from syncengine.states import ErrorCategory

__all__ = ["SQLiteAdapter"]

_CURSOR: Final = re.compile(r"c:(?P<seq>\d+)|f:(?P<pos>\d+):(?P<fseq>\d+)")
_FORMAT_VERSION: Final = "2"
_P: Final = "_syncengine_"
_SETUP: Final = (
    f"CREATE TABLE IF NOT EXISTS {_P}meta (key TEXT PRIMARY KEY, value TEXT NOT NULL)",
    f"""CREATE TABLE IF NOT EXISTS {_P}types (
        name TEXT PRIMARY KEY, position INTEGER NOT NULL, schema TEXT NOT NULL)""",
    f"""CREATE TABLE IF NOT EXISTS {_P}tombstones (
        object_type TEXT NOT NULL, id TEXT NOT NULL, seq INTEGER NOT NULL,
        PRIMARY KEY (object_type, id)) WITHOUT ROWID""",
    f"CREATE INDEX IF NOT EXISTS {_P}tombstones_seq ON {_P}tombstones (object_type, seq)",
    f"""CREATE TABLE IF NOT EXISTS {_P}keys (
        object_type TEXT NOT NULL, key TEXT NOT NULL, record_id TEXT NOT NULL,
        PRIMARY KEY (object_type, key)) WITHOUT ROWID""",
    f"""CREATE TABLE IF NOT EXISTS {_P}links (
        from_type TEXT NOT NULL, from_id TEXT NOT NULL, to_type TEXT NOT NULL,
        to_id TEXT NOT NULL, PRIMARY KEY (from_type, from_id, to_type, to_id)) WITHOUT ROWID""",
    f"""CREATE TABLE IF NOT EXISTS {_P}pipelines (
        object_type TEXT NOT NULL, position INTEGER NOT NULL, id TEXT NOT NULL,
        label TEXT NOT NULL, stages TEXT NOT NULL, PRIMARY KEY (object_type, position))""",
)
_INTERNAL: Final = ("__id", "__pos", "__seq", "__updated_at")
#: The largest ``page_size``: a page is read into memory at once (and past 2**63 - 2,
#: SQLite's ``LIMIT`` could not even be given).
_MAX_PAGE_SIZE: Final = 1_000_000
# No NOT NULL: a row an outside writer inserts without them gets them from its trigger.
_BOOKKEEPING: Final = "__id TEXT PRIMARY KEY, __pos INTEGER, __seq INTEGER, __updated_at TEXT"
_UPGRADING: Final = f"{_P}upgrading"

# ---- the triggers that number outside writers' changes (see the module docstring) ------
#
# They fire for every connection, but do nothing while the adapter's own write
# transaction holds its marker row (the adapter numbers its changes itself). Each one
# takes a new number from ``meta.seq`` per row, so no two changes share a number (scans
# page by number). ``rowid`` identifies the row: record tables are rowid tables.
_OUTSIDE: Final = f"NOT EXISTS (SELECT 1 FROM {_P}meta WHERE key = 'writer')"
_SEQ: Final = f"(SELECT CAST(value AS INTEGER) FROM {_P}meta WHERE key = 'seq')"
_BUMP: Final = f"UPDATE {_P}meta SET value = CAST(value AS INTEGER) + 1 WHERE key = 'seq'"
_NOW: Final = "(strftime('%Y-%m-%dT%H:%M:%f', 'now') || '+00:00')"
_GONE_BACK: Final = (
    "'SQLiteAdapter: the change counter (meta.seq) never goes back: "
    "is an older syncengine writing this file?'"
)
_GUARDS: Final = (
    f"""CREATE TRIGGER IF NOT EXISTS {_P}meta_seq_insert BEFORE INSERT ON {_P}meta
    WHEN NEW.key = 'seq' AND CAST(NEW.value AS INTEGER) < coalesce({_SEQ}, 0)
    BEGIN SELECT RAISE(ABORT, {_GONE_BACK}); END""",
    f"""CREATE TRIGGER IF NOT EXISTS {_P}meta_seq_update BEFORE UPDATE ON {_P}meta
    WHEN OLD.key = 'seq' AND (NEW.key IS NOT 'seq'
        OR CAST(NEW.value AS INTEGER) < CAST(OLD.value AS INTEGER))
    BEGIN SELECT RAISE(ABORT, {_GONE_BACK}); END""",
)


def _literal(text: str) -> str:
    """Quote an SQL string literal."""
    return "'" + text.replace("'", "''") + "'"


def _triggers(object_type: str) -> list[str]:
    """The statements that create ``object_type``'s triggers (when missing)."""
    table, kind = _q(object_type), _literal(object_type)

    def name(event: str) -> str:
        return _q(f"{_P}{object_type}_{event}")

    touch = f"UPDATE {table} SET __seq = __seq WHERE __id ="  # fires the update trigger
    renamed = "OLD.__id IS NOT NEW.__id"
    return [
        # An insert: a new number for its position and its change, an id if it has none,
        # and its id's tombstone (if it had been deleted) goes.
        f"""CREATE TRIGGER IF NOT EXISTS {name("insert")} AFTER INSERT ON {table}
        WHEN {_OUTSIDE} BEGIN
            {_BUMP};
            UPDATE {_P}meta SET value = CAST(value AS INTEGER) + 1
                WHERE key = 'next_id' AND NEW.__id IS NULL;
            UPDATE {table} SET
                __id = coalesce(__id, coalesce((SELECT value FROM {_P}meta
                    WHERE key = 'id_prefix'), '') || (SELECT value FROM {_P}meta
                    WHERE key = 'next_id')),
                __pos = {_SEQ}, __seq = {_SEQ}, __updated_at = {_NOW}
                WHERE rowid = NEW.rowid;
            DELETE FROM {_P}tombstones WHERE object_type = {kind}
                AND id = (SELECT __id FROM {table} WHERE rowid = NEW.rowid);
        END""",
        # An update: a new number. Its own UPDATE would fire it again (with recursive
        # triggers on): a row whose number was just taken is skipped. A changed id
        # deletes the old one (a tombstone, with a number of its own).
        f"""CREATE TRIGGER IF NOT EXISTS {name("update")} AFTER UPDATE ON {table}
        WHEN {_OUTSIDE} AND NOT (NEW.__seq IS {_SEQ} AND NEW.__seq IS NOT OLD.__seq) BEGIN
            {_BUMP} AND {renamed};
            INSERT OR REPLACE INTO {_P}tombstones
                SELECT {kind}, OLD.__id, {_SEQ} WHERE {renamed} AND OLD.__id IS NOT NULL;
            DELETE FROM {_P}links WHERE from_type = {kind} AND from_id = OLD.__id
                AND {renamed};
            {_BUMP};
            UPDATE {table} SET __seq = {_SEQ}, __updated_at = {_NOW} WHERE rowid = NEW.rowid;
            DELETE FROM {_P}tombstones WHERE object_type = {kind} AND id = NEW.__id
                AND {renamed};
        END""",
        # A delete: a tombstone with a new number; the record's own links go with it.
        f"""CREATE TRIGGER IF NOT EXISTS {name("delete")} AFTER DELETE ON {table}
        WHEN {_OUTSIDE} AND OLD.__id IS NOT NULL BEGIN
            {_BUMP};
            INSERT OR REPLACE INTO {_P}tombstones VALUES ({kind}, OLD.__id, {_SEQ});
            DELETE FROM {_P}links WHERE from_type = {kind} AND from_id = OLD.__id;
        END""",
        # A link added, changed or removed changes the record it is a link of.
        f"""CREATE TRIGGER IF NOT EXISTS {name("link_insert")} AFTER INSERT ON {_P}links
        WHEN {_OUTSIDE} AND NEW.from_type = {kind} BEGIN {touch} NEW.from_id; END""",
        f"""CREATE TRIGGER IF NOT EXISTS {name("link_update")} AFTER UPDATE ON {_P}links
        WHEN {_OUTSIDE} AND (OLD.from_type = {kind} OR NEW.from_type = {kind}) BEGIN
            UPDATE {table} SET __seq = __seq
                WHERE (__id = OLD.from_id AND OLD.from_type = {kind})
                   OR (__id = NEW.from_id AND NEW.from_type = {kind});
        END""",
        f"""CREATE TRIGGER IF NOT EXISTS {name("link_delete")} AFTER DELETE ON {_P}links
        WHEN {_OUTSIDE} AND OLD.from_type = {kind} BEGIN {touch} OLD.from_id; END""",
    ]


_INT64: Final = 2**63
_EMPTY_LINKS: Final[Mapping[str, frozenset[str]]] = MappingProxyType({})


def _utc_now() -> datetime:
    return datetime.now(UTC)


def _q(name: str) -> str:
    """Quote an SQL identifier."""
    return '"' + name.replace('"', '""') + '"'


def _marks(count: int) -> str:
    return ",".join("?" * count)


# ---- values ---------------------------------------------------------------------------


def _check_text(object_type: str, record_id: str | None, values: Mapping[str, Any]) -> None:
    """Refuse what :meth:`SQLiteAdapter.put` cannot store: text with a lone surrogate."""
    texts: list[tuple[str, object]] = [("id", record_id)]
    for name, value in values.items():
        items = value if isinstance(value, (list, tuple, set, frozenset)) else (value,)
        texts.extend((f"property {name!r}", item) for item in items)
    for what, text in texts:
        why = lone_surrogate(text) if isinstance(text, str) else None
        if why is not None:
            raise ValueError(f"{object_type}: the {what} {why}; a SQLite app stores UTF-8 text")


def _text(data: bytes) -> str:
    """A TEXT value as read: UTF-8, with bytes that are not read as lone surrogates."""
    return str(data, "utf-8", "surrogateescape")


def _id_param(record_id: str) -> str | bytes:
    """``record_id`` as a query parameter: its bytes when it was read with bytes that are
    not UTF-8 (lone surrogates, see :func:`_text`), which no ``str`` parameter can carry."""
    if record_id.isascii():
        return record_id
    try:
        record_id.encode("utf-8")
    except UnicodeEncodeError:
        return record_id.encode("utf-8", "surrogateescape")
    return record_id


def _id_marks(ids: Sequence[str]) -> str:
    """Placeholders for :func:`_id_param` of ``ids``: bytes are compared as TEXT."""
    if all(record_id.isascii() for record_id in ids):
        return _marks(len(ids))
    return ", ".join("CAST(? AS TEXT)" for _ in ids)


def _encode(value: Any) -> Any:
    """The SQLite value that stores ``value`` (``None`` for blank-as-absent)."""
    if value is None or isinstance(value, str | int | float):
        return value  # bool is an int: SQLite stores 0/1
    if isinstance(value, datetime | date):
        return value.isoformat()
    if isinstance(value, MULTI_TYPES):
        return json.dumps(sorted(value, key=str), ensure_ascii=False)
    raise TypeError(f"cannot store a {type(value).__name__} in SQLite: {value!r}")


def _decode(spec: PropertySpec, stored: Any) -> Any:
    """The Python value of ``stored`` for ``spec``'s type; as stored if it does not fit."""
    kind = spec.type
    if kind is PropertyType.BOOL and stored in (0, 1) and not isinstance(stored, float):
        return bool(stored)
    if not isinstance(stored, str):
        return stored
    try:
        if kind is PropertyType.DATE:
            return date.fromisoformat(stored)
        if kind is PropertyType.DATETIME:
            parsed = datetime.fromisoformat(stored)
            return parsed if parsed.utcoffset() is not None else stored
        if kind is PropertyType.MULTI_ENUM:
            items = json.loads(stored)
            if isinstance(items, list) and all(isinstance(i, str) for i in items):
                return frozenset(items)
    except ValueError:
        pass
    return stored


def _too_large(spec: PropertySpec, value: Any) -> str | None:
    """Why a well-typed value cannot be stored in SQLite (its integers have 64 bits), or None.

    Non-finite floats never get here: :func:`~syncengine.adapters._values.type_problem`
    refuses them (rule X1).
    """
    if isinstance(value, int) and not -_INT64 <= value < _INT64:
        return f"property {spec.name!r}: {value} is too large for SQLite (64-bit integers)"
    return None


def _schema_json(schema: ObjectSchema) -> str:
    return json.dumps(
        {
            "name": schema.name,
            "properties": [
                {
                    "name": p.name,
                    "type": p.type.value,
                    "required": p.required,
                    "options": list(p.options),
                    "read_only": p.read_only,
                    "unique": p.unique,
                }
                for p in schema.properties
            ],
        },
        ensure_ascii=False,
    )


def _schema_of(text: str) -> ObjectSchema:
    data = json.loads(text)
    return ObjectSchema(data["name"], [PropertySpec(**p) for p in data["properties"]])


#: Names SQLite gives every table's row id: a column of one of these names hides it (and
#: the adapter's triggers find rows by it), whatever its case.
_ROWID_NAMES: Final = frozenset({"rowid", "oid", "_rowid_"})


_ASCII_LOWER: Final = str.maketrans("ABCDEFGHIJKLMNOPQRSTUVWXYZ", "abcdefghijklmnopqrstuvwxyz")


def _fold_name(name: str) -> str:
    """``name`` as SQLite compares names: ASCII letters without case, the rest as is."""
    return name.translate(_ASCII_LOWER)


def _name_problem(name: str) -> str | None:
    """Why ``name`` cannot name a SQLite table or column, or None."""
    if "\x00" in name:
        return "holds a NUL character, which SQLite cannot take in a name"
    return lone_surrogate(name)


def _check_names(schema: ObjectSchema) -> None:
    if not schema.name:
        raise ConfigError("name", "an object type needs a non-empty name")
    if _fold_name(schema.name).startswith((_P, "sqlite_")):
        raise ConfigError(
            "name", f"object type name {schema.name!r} is reserved (starts with {_P!r}/'sqlite_')"
        )
    problem = _name_problem(schema.name)
    if problem is not None:
        raise ConfigError("name", f"object type name {schema.name!r} {problem}")
    seen: dict[str, str] = {}
    for i, spec in enumerate(schema.properties):
        path = f"{schema.name}.properties[{i}]"
        if spec.name.startswith("__"):
            raise ConfigError(
                path,
                f"property name {spec.name!r} is reserved: names starting with '__' are the "
                "adapter's own columns",
            )
        folded = _fold_name(spec.name)
        if folded in _ROWID_NAMES:
            raise ConfigError(
                path,
                f"property name {spec.name!r} is reserved: SQLite names each row's id so "
                "(rename the property in the schema and its field mappings)",
            )
        problem = _name_problem(spec.name)
        if problem is not None:
            raise ConfigError(path, f"property name {spec.name!r} {problem}")
        if folded in seen:
            raise ConfigError(
                path,
                f"property names {seen[folded]!r} and {spec.name!r} differ only in case: "
                "SQLite's column names ignore case, so one table cannot hold both",
            )
        seen[folded] = spec.name


@attrs.define(eq=False)
class _Tx:
    """The counters of one write transaction, written back when it commits."""

    seq: int
    next_id: int


@final
class SQLiteAdapter(Adapter):
    """A local SQLite database as an app: the demo's apps, and a way to sync local data.

    Its behaviour is :class:`~syncengine.adapters.InMemoryAdapter`'s, kept in one file
    that several threads and processes may use at once:

    * Records are kept per object type in insertion order. Ids are ``f"{id_prefix}{n}"``
      with ``n`` counting up across all types of the database; an id is never reused.
    * Every change (create, update, associate, and the test-side put, patch, remove and
      link) takes the next number of one change counter and sets ``updated_at`` from
      ``clock``. An update whose values equal the stored ones is a no-op.
    * Cursors: full-scan pages carry ``"f:<position>:<seq>"``, the last page
      ``"c:<seq>"``; ``scan(since="c:<n>")`` yields the records changed after change
      ``n`` in change order, and deleted ids in ``Page.deleted``. Malformed or unknown
      cursors raise :class:`ValueError`.
    * Writes are validated per item: unknown and read-only properties and values of the
      wrong type fail with ``VALIDATION``, missing required properties with
      ``REQUIRED_FIELD_MISSING``, a ``unique`` value held by another record with
      ``DUPLICATE``. More than :attr:`max_batch_size` items raise
      :class:`~syncengine.AdapterError` (``VALIDATION``); an undeclared object type raises
      it with ``NOT_FOUND``.
    * Other programs may write the file (the ``sqlite3`` shell, another app): their
      inserts, updates and deletes on a type's table, and their changes to links, are
      numbered by triggers in the file and seen by incremental scans like the adapter's
      own. A row inserted without ``__id`` gets the next id. A format-1 file (written
      before this) is upgraded when opened, keeping its cursors valid.
    * Several adapters (threads, processes) may share one file. Each reads the declared
      schemas when it opens (and again when asked for a type it does not know): reopen it
      to see properties another process added.

    Example::

        contacts = ObjectSchema("contacts", [
            PropertySpec("email", PropertyType.STRING, required=True, unique=True),
            PropertySpec("name", PropertyType.STRING),
        ])
        app = SQLiteAdapter("crm.db", [contacts], name="crm")   # creates the table
        with app.transaction():                                  # one commit for many
            app.put("contacts", email="ada@example.com", name="Ada")
        app.close()
        again = SQLiteAdapter("crm.db")                          # reopens it, schema and all

    Args:
        path: The database file (created when missing), or ``":memory:"``.
        schemas: Object types to declare; a declared type's schema is replaced and new
            properties get columns. Types declared earlier in the file stay declared.
        name: A short name for logs and reports.
        max_batch_size: The most items one fetch/create/update/associate call accepts.
        page_size: The most records (plus deleted ids) in one page of a scan, 1 to
            1,000,000 (a page is read into memory at once).
        pipelines: Pipelines to store, per object type (replacing stored ones) (rule A3).
        clock: Returns the current time, timezone-aware; ``datetime.now(UTC)`` by default.
        id_prefix: Put in front of every generated id, the adapter's and those of rows
            another program inserts without an ``__id``. The file keeps it: when omitted,
            the prefix stored in the file (``""`` for a new file).
        timeout: Seconds a write waits for another process's write to finish.

    Raises:
        ConfigError: A schema uses a reserved name.

    .. versionadded:: 0.1
    """

    supports_idempotency_keys: ClassVar[bool] = True
    supports_idempotency_lookup: ClassVar[bool] = True
    supports_pipelines: ClassVar[bool] = True
    supports_associations: ClassVar[bool] = True

    def __init__(
        self,
        path: str | os.PathLike[str],
        schemas: Iterable[ObjectSchema] = (),
        *,
        name: str = "sqlite",
        max_batch_size: int = 100,
        page_size: int = 100,
        pipelines: Mapping[str, Sequence[Pipeline]] | None = None,
        clock: Callable[[], datetime] | None = None,
        id_prefix: str | None = None,
        timeout: float = 30.0,
    ) -> None:
        """Open (or create) the database; see the class docstring for the arguments."""
        if max_batch_size < 1:
            raise ValueError(f"max_batch_size must be at least 1, got {max_batch_size}")
        if not 1 <= page_size <= _MAX_PAGE_SIZE:
            raise ValueError(f"page_size must be from 1 to {_MAX_PAGE_SIZE:,}, got {page_size:,}")
        self.name = name
        self.max_batch_size = max_batch_size
        #: The most records (plus deleted ids) in one page of a scan.
        self.page_size = page_size
        #: Returns the current time; replace it to move time in a test.
        self.clock: Callable[[], datetime] = clock if clock is not None else _utc_now
        #: Put in front of every generated id.
        self.id_prefix = id_prefix or ""
        #: The database file.
        self.path = str(path)
        #: How often each engine-facing method was called (as InMemoryAdapter.calls).
        self.calls: Counter[str] = Counter()
        self._lock = threading.RLock()
        self._tx: _Tx | None = None
        self._denied_pipelines: set[str] = set()
        self._schemas: dict[str, ObjectSchema] = {}
        self._columns: dict[str, set[str]] = {}
        conn = sqlite3.connect(
            self.path, timeout=timeout, isolation_level=None, check_same_thread=False
        )
        # Text another program stored that is not UTF-8 is read with its bad bytes as lone
        # surrogates (U+DC80 to U+DCFF) instead of failing the whole read: the record it
        # is in fails alone when written elsewhere, named, as a value no UTF-8 app can
        # store (X1).
        conn.text_factory = _text
        self._conn = conn
        try:
            conn.execute(f"PRAGMA busy_timeout = {int(timeout * 1000)}")
            if self.path != ":memory:":
                conn.execute("PRAGMA journal_mode = WAL")
            conn.execute("PRAGMA synchronous = NORMAL")
            conn.execute("BEGIN IMMEDIATE")
            for statement in _SETUP:
                conn.execute(statement)
            conn.execute("COMMIT")
            with self._writing():
                version = self._meta("format")
                if version is None:
                    conn.execute(f"INSERT INTO {_P}meta VALUES ('format', ?)", (_FORMAT_VERSION,))
                elif version == "1":
                    self._upgrade_from_1()
                elif version != _FORMAT_VERSION:
                    raise ValueError(
                        f"{self.path}: SQLiteAdapter database format {version!r} is not "
                        f"supported (this version reads {_FORMAT_VERSION!r} and upgrades '1')"
                    )
                for statement in _GUARDS:
                    conn.execute(statement)
                if id_prefix is None:
                    self.id_prefix = self._meta("id_prefix") or ""
                conn.execute(
                    f"INSERT OR REPLACE INTO {_P}meta VALUES ('id_prefix', ?)", (self.id_prefix,)
                )
                for schema in schemas:
                    self._declare(schema)
                # Every declared type has its triggers, even if someone dropped them.
                for (declared,) in conn.execute(f"SELECT name FROM {_P}types").fetchall():
                    for statement in _triggers(declared):
                        conn.execute(statement)
                for object_type, found in (pipelines or {}).items():
                    self._store_pipelines(object_type, found)
            self._load_schemas()
        except BaseException:
            conn.close()
            raise

    @classmethod
    def from_config(cls, options: Mapping[str, Any], *, base_dir: Path) -> SQLiteAdapter:
        """Build an adapter from a config file's options (see ``docs/how-to/config-files.md``).

        Options: ``path`` (required; relative to ``base_dir``), ``name``, ``page_size``,
        ``max_batch_size``, ``id_prefix``, ``schemas`` (object types to declare, each
        ``{properties = [{name = …, type = …}, …]}`` keyed by type name) and ``pipelines``
        (stored, replacing the stored ones of the types named). A database that
        does not exist is created only when ``schemas`` are given, so a mistyped path is an
        error rather than an empty app.

        Raises:
            ConfigError: naming the option (``path``, ``schemas.contacts.properties[1]``).
        """
        from syncengine.plugins import (
            AdapterOptions,
            pipelines_from_options,
            schemas_from_options,
        )

        opts = AdapterOptions(options, base_dir=base_dir)
        path = opts.get_path("path")
        name = opts.get_str("name", "sqlite")
        page_size = opts.get_int("page_size", 100, minimum=1, maximum=_MAX_PAGE_SIZE)
        max_batch_size = opts.get_int("max_batch_size", 100, minimum=1)
        # Left out, the file keeps its own prefix (None).
        id_prefix: str | None = opts.get_str("id_prefix", None)
        schemas = schemas_from_options(opts.get_any("schemas", None), "schemas")
        pipelines = pipelines_from_options(opts.get_any("pipelines", None))
        opts.finish()
        if not schemas and not path.exists():
            raise ConfigError(
                "path",
                f"database {str(path)!r} does not exist (declare `schemas` to create a new one)",
            )
        try:
            return cls(
                path,
                schemas,
                name=name,
                page_size=page_size,
                max_batch_size=max_batch_size,
                pipelines=pipelines,
                id_prefix=id_prefix,
            )
        except sqlite3.Error as exc:
            raise ConfigError("path", f"cannot open database {str(path)!r}: {exc}") from exc

    @override
    def __repr__(self) -> str:
        return f"<SQLiteAdapter {self.name!r} at {self.path!r}>"

    def __enter__(self) -> Self:
        return self

    def __exit__(
        self,
        exc_type: type[BaseException] | None,
        exc: BaseException | None,
        tb: TracebackType | None,
    ) -> None:
        self.close()

    @override
    def close(self) -> None:
        """Close the database connection."""
        with self._lock:
            self._conn.close()

    # ---- configuration ----------------------------------------------------------------

    def add_schema(self, schema: ObjectSchema) -> None:
        """Declare an object type, or replace the schema of a declared one.

        New properties get columns; columns of properties left out stay in the table,
        unread. Stored records are not re-validated.

        Raises:
            ConfigError: The type or a property uses a reserved name.
        """
        with self._writing():
            self._declare(schema)
        self._load_schemas()

    def object_types(self) -> list[str]:
        """The declared object types, in the order they were first declared."""
        with self._lock:
            self._load_schemas()
            return list(self._schemas)

    def set_pipelines(self, object_type: str, pipelines: Sequence[Pipeline]) -> None:
        """Store the pipelines :meth:`pipelines` returns for ``object_type``."""
        with self._writing():
            self._store_pipelines(object_type, pipelines)

    def deny_pipelines(self, object_type: str, denied: bool = True) -> None:
        """Simulate an account without permission to read pipelines (rule A5).

        While denied (in this adapter object only), :meth:`pipelines` raises
        :class:`~syncengine.AdapterError` with ``PERMISSION`` for ``object_type``.
        """
        with self._lock:
            if denied:
                self._denied_pipelines.add(object_type)
            else:
                self._denied_pipelines.discard(object_type)

    @contextlib.contextmanager
    def transaction(self) -> Iterator[None]:
        """Group writes into one transaction: one commit, all or nothing.

        Use it around many :meth:`put` calls when seeding a database. Nested uses join
        the outer transaction.
        """
        with self._writing():
            yield

    # ---- the engine-facing interface --------------------------------------------------

    @override
    def schema(self, object_type: str) -> ObjectSchema:
        """The schema declared for ``object_type``; ``NOT_FOUND`` if there is none."""
        with self._lock:
            self.calls["schema"] += 1
            return self._schema(object_type)

    @override
    def scan(self, object_type: str, since: str | None = None) -> Iterable[Page]:
        """Yield the records of ``object_type`` in pages of :attr:`page_size`.

        The cursor is checked when ``scan`` is called, not when iteration starts.

        Raises:
            ValueError: ``since`` is malformed, or is not a cursor of this database.
            AdapterError: ``object_type`` is not declared (``NOT_FOUND``), or the
                database cannot be read (``UNAVAILABLE``).
        """
        with self._lock, self._guard():
            self._refuse_in_transaction()
            schema = self._schema(object_type)
            # Every change numbered up to ``current`` is committed: numbers are taken
            # inside write transactions, one at a time per file, so in commit order (see
            # "Why no change is skipped" in the module docstring). Outside writers too:
            # their triggers number in their transaction.
            current = self._current_seq()
            if since is None:
                self.calls["scan_full"] += 1
                return self._full_scan(schema, 0, current)
            match = _CURSOR.fullmatch(since)
            if match is None:
                raise ValueError(
                    f"{self.name}: malformed cursor {since!r} for {object_type!r}; expected "
                    f"'c:<seq>' or 'f:<position>:<seq>' as returned by scan()"
                )
            if match["seq"] is not None:
                seq = self._check_seq(since, int(match["seq"]), current)
                self.calls["scan_since"] += 1
                return self._incremental_scan(schema, seq, current)
            seq = self._check_seq(since, int(match["fseq"]), current)
            position = self._check_seq(since, int(match["pos"]), current)
            self.calls["scan_full"] += 1
            return self._full_scan(schema, position, seq)

    @override
    def fetch(self, object_type: str, ids: Sequence[str]) -> Mapping[str, Record]:
        """The live records among ``ids``; missing and deleted ids are absent."""
        with self._lock, self._guard():
            schema = self._schema(object_type)
            self._check_batch("fetch", len(ids))
            self.calls["fetch"] += 1
            if not ids:
                return {}
            with self._reading():
                rows = self._conn.execute(
                    f"SELECT {self._select(schema)} FROM {_q(schema.name)} "
                    f"WHERE __id IN ({_marks(len(ids))})",
                    list(ids),
                ).fetchall()
                records = self._records(schema, rows)
            return {r.id: r for r in records}

    @override
    def create(self, object_type: str, items: Sequence[NewRecord]) -> Sequence[WriteResult]:
        """Create records, validating each item on its own; one result per item.

        An idempotency key seen before returns the id of the record made then, without
        creating anything (even if that record was removed since).
        """
        with self._lock, self._guard():
            schema = self._schema(object_type)
            self._check_batch("create", len(items))
            self.calls["create"] += 1
            self.calls["items_written"] += len(items)
            results: list[WriteResult] = []
            with self._writing() as tx:
                for item in items:
                    key = item.idempotency_key
                    if key:
                        row = self._conn.execute(
                            f"SELECT record_id FROM {_P}keys WHERE object_type = ? AND key = ?",
                            (object_type, key),
                        ).fetchone()
                        if row is not None:
                            results.append(WriteResult.ok(row[0]))
                            continue
                    failure = self._validate(schema, item.properties, record_id=None)
                    if failure is not None:
                        results.append(failure)
                        continue
                    record_id = self._new_id(tx, schema.name)
                    values = merged({}, schema, item.properties)
                    self._insert(tx, schema, record_id, values)
                    if key:
                        self._conn.execute(
                            f"INSERT INTO {_P}keys VALUES (?, ?, ?)", (object_type, key, record_id)
                        )
                    results.append(WriteResult.ok(record_id))
            return results

    @override
    def lookup_idempotency_keys(
        self, object_type: str, items: Sequence[NewRecord]
    ) -> Mapping[str, str]:
        """The id of the record each key's create made (even if removed since), by key.

        Read in one transaction from the table ``create`` writes the keys to with its
        records, so a committed create is always found.
        """
        with self._lock, self._guard():
            self._schema(object_type)
            self._check_batch("lookup_idempotency_keys", len(items))
            self.calls["lookup"] += 1
            keys = list({k for item in items if (k := item.idempotency_key)})
            if not keys:
                return {}
            with self._reading():
                rows = self._conn.execute(
                    f"SELECT key, record_id FROM {_P}keys "
                    f"WHERE object_type = ? AND key IN ({_marks(len(keys))})",
                    [object_type, *keys],
                ).fetchall()
            return {str(key): str(record_id) for key, record_id in rows}

    @override
    def update(self, object_type: str, items: Sequence[RecordUpdate]) -> Sequence[WriteResult]:
        """Change the named properties of records; one result per item.

        Unknown ids fail with ``NOT_FOUND``, removed ones with ``DELETED``. An update that
        changes no value succeeds without counting as a change.
        """
        with self._lock, self._guard():
            schema = self._schema(object_type)
            self._check_batch("update", len(items))
            self.calls["update"] += 1
            self.calls["items_written"] += len(items)
            results: list[WriteResult] = []
            with self._writing() as tx:
                for item in items:
                    current = self._get(schema, item.id)
                    if current is None:
                        results.append(self._missing(object_type, item.id))
                        continue
                    failure = self._validate(schema, item.properties, record_id=item.id)
                    if failure is not None:
                        results.append(failure)
                        continue
                    values = merged(current.properties, schema, item.properties)
                    if values != dict(current.properties):
                        self._replace(tx, schema, item.id, values)
                    results.append(WriteResult.ok(item.id))
            return results

    @override
    def pipelines(self, object_type: str) -> Sequence[Pipeline]:
        """The stored pipelines of ``object_type``; ``()`` if it has none.

        Raises:
            AdapterError: ``PERMISSION`` after :meth:`deny_pipelines` (rule A5).
        """
        with self._lock, self._guard():
            self.calls["pipelines"] += 1
            if object_type in self._denied_pipelines:
                raise AdapterError(
                    ErrorCategory.PERMISSION,
                    f"{self.name}: the account may not read the pipelines of {object_type!r}",
                )
            rows = self._conn.execute(
                f"SELECT id, label, stages FROM {_P}pipelines WHERE object_type = ? "
                "ORDER BY position",
                (object_type,),
            ).fetchall()
            return tuple(
                Pipeline(pid, label, tuple(Stage(s, t) for s, t in json.loads(stages)))
                for pid, label, stages in rows
            )

    @override
    def associate(self, pairs: Sequence[AssociationChange]) -> Sequence[WriteResult]:
        """Link records; one result per pair, ``ok(from_id)`` when it succeeds.

        The from-record gets ``to_id`` in ``associations[to_type]``; if ``to_type`` is
        declared here, the to-record must exist and gets the reverse link. A missing
        record fails the pair with ``NOT_FOUND``. An existing link succeeds as a no-op.
        """
        with self._lock, self._guard():
            self._check_batch("associate", len(pairs))
            self.calls["associate"] += 1
            self.calls["items_written"] += len(pairs)
            results: list[WriteResult] = []
            with self._writing() as tx:
                for pair in pairs:
                    failure = self._check_link_ends(pair)
                    if failure is not None:
                        results.append(failure)
                        continue
                    self._add_link(tx, pair.from_type, pair.from_id, pair.to_type, pair.to_id)
                    if pair.to_type in self._schemas:
                        self._add_link(tx, pair.to_type, pair.to_id, pair.from_type, pair.from_id)
                    results.append(WriteResult.ok(pair.from_id))
            return results

    # ---- test-side helpers: the app's users, not the engine -----------------------------
    #
    # They bypass validation of types (a test or a demo may store what a sloppy app would)
    # and are not counted in ``calls``; every one that modifies a record counts as a change.

    def put(
        self,
        object_type: str,
        properties: Mapping[str, Any] | None = None,
        /,
        *,
        id: str | None = None,
        updated_at: datetime | None = None,
        associations: Mapping[str, Iterable[str]] | None = None,
        **props: Any,
    ) -> Record:
        """For tests and demos: create a record, or replace the one with ``id``.

        Values are not validated, but every property must be declared (the table has a
        column per declared property). ``None`` values are dropped. A replaced record keeps
        its position in full scans; a removed id may be put again, which brings it back.

        Args:
            object_type: A declared object type.
            properties: Property values, for names that are not Python identifiers.
            id: The record's id; a new id is generated when omitted.
            updated_at: Its modification time; the clock's time when omitted.
            associations: Its links by object type (only this record's side is set);
                when omitted, a replaced record keeps its links and a new one has none.
            **props: More property values.

        Returns:
            The stored record.

        Raises:
            KeyError: A property is not declared.
            ValueError: The id or a text value holds a lone surrogate, which no UTF-8
                file can store (a record of the app's own never does: see the module's
                notes on text that is not UTF-8).
        """
        with self._lock, self._writing() as tx:
            schema = self._schema(object_type)
            values = merged({}, schema, {**(properties or {}), **props})
            self._check_declared(schema, values)
            _check_text(object_type, id, values)
            record_id = id if id is not None else self._new_id(tx, object_type)
            if self._get(schema, record_id) is not None:
                self._replace(tx, schema, record_id, values, updated_at=updated_at)
            else:
                self._insert(tx, schema, record_id, values, updated_at=updated_at)
            if associations is not None:
                self._conn.execute(
                    f"DELETE FROM {_P}links WHERE from_type = ? AND from_id = ?",
                    (object_type, record_id),
                )
                self._conn.executemany(
                    f"INSERT OR IGNORE INTO {_P}links VALUES (?, ?, ?, ?)",
                    [
                        (object_type, record_id, to_type, to_id)
                        for to_type, ids in associations.items()
                        for to_id in ids
                    ],
                )
            record = self._get(schema, record_id)
            assert record is not None
            return record

    def patch(self, object_type: str, id: str, /, **props: Any) -> Record:
        """For tests and demos: change some properties of a live record, without validation.

        A ``None`` value clears the property. It counts as a change even if no value
        differs (use ``patch(type, id)`` to touch a record).

        Raises:
            KeyError: There is no live record ``id``, or a property is not declared.
        """
        with self._lock, self._writing() as tx:
            schema = self._schema(object_type)
            current = self._live(schema, id)
            self._check_declared(schema, props)
            values = merged(current.properties, schema, props)
            self._replace(tx, schema, id, values)
            record = self._get(schema, id)
            assert record is not None
            return record

    def remove(self, object_type: str, id: str, /) -> None:
        """For tests and demos: delete a record, as the app's user would.

        The id is left as a tombstone: later incremental scans list it in
        ``Page.deleted``, :meth:`fetch` leaves it out, and :meth:`update` fails it with
        ``DELETED``. Links to it from other records are left as they are.

        Raises:
            KeyError: There is no live record ``id``.
        """
        with self._lock, self._writing() as tx:
            schema = self._schema(object_type)
            self._live(schema, id)
            self._conn.execute(f"DELETE FROM {_q(object_type)} WHERE __id = ?", (id,))
            self._conn.execute(
                f"DELETE FROM {_P}links WHERE from_type = ? AND from_id = ?", (object_type, id)
            )
            tx.seq += 1
            self._conn.execute(
                f"INSERT OR REPLACE INTO {_P}tombstones VALUES (?, ?, ?)",
                (object_type, id, tx.seq),
            )

    def link(self, from_type: str, from_id: str, to_type: str, to_id: str) -> None:
        """For tests and demos: link two records, as :meth:`associate` does.

        The from-record always counts as changed; the reverse link is added when
        ``to_type`` is declared and ``to_id`` is live there.

        Raises:
            KeyError: There is no live record ``from_id`` of ``from_type``.
        """
        with self._lock, self._writing() as tx:
            self._live(self._schema(from_type), from_id)
            self._add_link(tx, from_type, from_id, to_type, to_id, always=True)
            to_schema = self._schemas.get(to_type)
            if to_schema is not None and self._get(to_schema, to_id) is not None:
                self._add_link(tx, to_type, to_id, from_type, from_id)

    def get(self, object_type: str, id: str, /) -> Record | None:
        """For tests: the live record ``id``, or ``None``."""
        with self._lock, self._reading():
            return self._get(self._schema(object_type), id)

    def records(self, object_type: str) -> list[Record]:
        """For tests: the live records of ``object_type``, in insertion order."""
        with self._lock, self._reading():
            schema = self._schema(object_type)
            rows = self._conn.execute(
                f"SELECT {self._select(schema)} FROM {_q(schema.name)} ORDER BY __pos"
            ).fetchall()
            return self._records(schema, rows)

    def count(self, object_type: str) -> int:
        """For tests: how many live records ``object_type`` has."""
        with self._lock:
            schema = self._schema(object_type)
            (n,) = self._conn.execute(f"SELECT count(*) FROM {_q(schema.name)}").fetchone()
            return int(n)

    def reset_calls(self) -> None:
        """For tests: set every :attr:`calls` counter back to zero."""
        with self._lock:
            self.calls.clear()

    # ---- internals: transactions ------------------------------------------------------

    @contextlib.contextmanager
    def _writing(self) -> Iterator[_Tx]:
        """One write transaction (joined when one is open), its counters in a :class:`_Tx`."""
        with self._lock:
            if self._tx is not None:
                yield self._tx
                return
            self._conn.execute("BEGIN IMMEDIATE")
            try:
                # The marker that tells the triggers this adapter numbers its changes
                # itself; deleted before the commit, so no other connection sees it.
                self._conn.execute(f"INSERT OR REPLACE INTO {_P}meta VALUES ('writer', 'adapter')")
                tx = _Tx(int(self._meta("seq") or 0), int(self._meta("next_id") or 0))
                self._tx = tx
                yield tx
                self._conn.executemany(
                    f"INSERT OR REPLACE INTO {_P}meta VALUES (?, ?)",
                    [("seq", str(tx.seq)), ("next_id", str(tx.next_id))],
                )
                self._conn.execute(f"DELETE FROM {_P}meta WHERE key = 'writer'")
                self._conn.execute("COMMIT")
            except BaseException:
                if self._conn.in_transaction:
                    self._conn.execute("ROLLBACK")
                raise
            finally:
                self._tx = None

    @contextlib.contextmanager
    def _reading(self) -> Iterator[None]:
        """A consistent snapshot for several reads (joined when a transaction is open)."""
        with self._lock:
            if self._conn.in_transaction:
                yield
                return
            self._conn.execute("BEGIN")
            try:
                yield
            finally:
                if self._conn.in_transaction:
                    self._conn.execute("COMMIT")

    @contextlib.contextmanager
    def _guard(self) -> Iterator[None]:
        """Raise SQLite's own errors as transient :class:`AdapterError` (the app is busy)."""
        try:
            yield
        except sqlite3.Error as exc:
            raise AdapterError(
                ErrorCategory.UNAVAILABLE, f"{self.name}: database error: {exc}"
            ) from exc

    def _refuse_in_transaction(self) -> None:
        """Refuse to scan inside this adapter's open :meth:`transaction`.

        Its counter and rows include uncommitted changes, whose numbers a rollback hands
        out again: a cursor taken there could skip the changes that get them next.
        """
        if self._tx is not None:
            raise RuntimeError(
                f"{self.name}: scan() inside an open transaction(): a cursor taken there "
                "could skip changes; scan after the transaction"
            )

    def _meta(self, key: str) -> str | None:
        row = self._conn.execute(f"SELECT value FROM {_P}meta WHERE key = ?", (key,)).fetchone()
        return None if row is None else str(row[0])

    def _current_seq(self) -> int:
        if self._tx is not None:
            return self._tx.seq
        return int(self._meta("seq") or 0)

    # ---- internals: schemas -----------------------------------------------------------

    def _declare(self, schema: ObjectSchema) -> None:
        _check_names(schema)
        conn = self._conn
        table = _q(schema.name)
        exists = conn.execute(f"SELECT 1 FROM {_P}types WHERE name = ?", (schema.name,)).fetchone()
        for (other,) in conn.execute(
            f"SELECT name FROM {_P}types WHERE lower(name) = lower(?) AND name != ?",
            (schema.name, schema.name),
        ):
            raise ConfigError(
                "name",
                f"object type names {other!r} and {schema.name!r} differ only in case: "
                "SQLite's table names ignore case, so both would share one table",
            )
        self._check_width(schema, exists is not None)
        if exists is None:
            (position,) = conn.execute(f"SELECT count(*) FROM {_P}types").fetchone()
            # All columns at once: one ALTER TABLE per property rewrites the schema each
            # time (minutes for a thousand properties).
            definitions = [_BOOKKEEPING, *(_q(spec.name) for spec in schema.properties)]
            conn.execute(f"CREATE TABLE IF NOT EXISTS {table} ({', '.join(definitions)})")
            for statement in _triggers(schema.name):
                conn.execute(statement)
            conn.execute(
                f"CREATE UNIQUE INDEX IF NOT EXISTS {_q(schema.name + '__pos')} ON {table} (__pos)"
            )
            conn.execute(
                f"CREATE INDEX IF NOT EXISTS {_q(schema.name + '__seq')} ON {table} (__seq)"
            )
            conn.execute(
                f"INSERT INTO {_P}types VALUES (?, ?, ?)",
                (schema.name, position, _schema_json(schema)),
            )
        else:
            conn.execute(
                f"UPDATE {_P}types SET schema = ? WHERE name = ?",
                (_schema_json(schema), schema.name),
            )
        columns = {row[1] for row in conn.execute(f"PRAGMA table_info({table})")}
        for spec in schema.properties:
            if spec.name not in columns:
                conn.execute(f"ALTER TABLE {table} ADD COLUMN {_q(spec.name)}")
            if spec.unique:
                conn.execute(
                    f"CREATE INDEX IF NOT EXISTS {_q(schema.name + '__u_' + spec.name)} "
                    f"ON {table} ({_q(spec.name)})"
                )

    def _check_width(self, schema: ObjectSchema, exists: bool) -> None:
        """Refuse a schema whose table would have more columns than SQLite allows.

        SQLite's own error ("too many columns on sqlite_altertab_…") names neither the
        object type nor the limit; this one does, before anything is changed.
        """
        limit = self._conn.getlimit(sqlite3.SQLITE_LIMIT_COLUMN)
        columns = set(_INTERNAL)
        if exists:
            columns.update(
                row[1] for row in self._conn.execute(f"PRAGMA table_info({_q(schema.name)})")
            )
        kept = len(columns) - len(_INTERNAL)
        columns.update(spec.name for spec in schema.properties)
        if len(columns) > limit:
            room = limit - len(_INTERNAL)
            earlier = (
                f" (with {kept} columns of properties declared before, which are kept)"
                if exists and kept
                else ""
            )
            raise ConfigError(
                schema.name,
                f"object type {schema.name!r} declares {len(schema.properties)} properties"
                f"{earlier}: a SQLite app holds at most {room} properties per object type "
                f"(SQLite's column limit is {limit}, and the adapter keeps {len(_INTERNAL)} "
                "columns of its "
                "own); split the type or declare fewer properties",
            )

    def _upgrade_from_1(self) -> None:
        """Upgrade a format-1 file in place (in the open write transaction).

        Each record table is rebuilt as format 2 declares it (no ``NOT NULL`` on the
        bookkeeping columns, which format 1 had), rows copied as they are, indexes
        re-created; :meth:`__init__` then adds the triggers. Nothing is renumbered, so
        the counter, ``__pos``, ``__seq`` and tombstones mean what they meant: a cursor
        issued before the upgrade resumes where it was, and the first scan from it yields
        only what changed after it.
        """
        conn = self._conn
        temp = _q(_UPGRADING)
        for (name,) in conn.execute(f"SELECT name FROM {_P}types ORDER BY position").fetchall():
            table = _q(name)
            columns = [row[1] for row in conn.execute(f"PRAGMA table_info({table})")]
            indexes = [
                sql
                for (sql,) in conn.execute(
                    "SELECT sql FROM sqlite_master WHERE type = 'index' AND tbl_name = ? "
                    "AND sql IS NOT NULL",
                    (name,),
                )
            ]
            properties = [_q(c) for c in columns if c not in _INTERNAL]
            conn.execute(f"DROP TABLE IF EXISTS {temp}")
            conn.execute(f"CREATE TABLE {temp} ({', '.join([_BOOKKEEPING, *properties])})")
            listed = ", ".join(_q(c) for c in columns)
            conn.execute(
                f"INSERT INTO {temp} ({listed}) SELECT {listed} FROM {table} ORDER BY rowid"
            )
            conn.execute(f"DROP TABLE {table}")
            conn.execute(f"ALTER TABLE {temp} RENAME TO {table}")
            for sql in indexes:
                conn.execute(sql)
        conn.execute(f"UPDATE {_P}meta SET value = ? WHERE key = 'format'", (_FORMAT_VERSION,))

    def _load_schemas(self) -> None:
        with self._lock:
            rows = self._conn.execute(f"SELECT schema FROM {_P}types ORDER BY position").fetchall()
            self._schemas = {s.name: s for s in (_schema_of(text) for (text,) in rows)}

    def _schema(self, object_type: str) -> ObjectSchema:
        schema = self._schemas.get(object_type)
        if schema is None:
            self._load_schemas()  # another process may have declared it meanwhile
            schema = self._schemas.get(object_type)
        if schema is None:
            declared = ", ".join(repr(t) for t in self._schemas) or "none"
            raise AdapterError(
                ErrorCategory.NOT_FOUND,
                f"{self.name}: unknown object type {object_type!r} (declared: {declared}; "
                f"declare it with add_schema())",
            )
        return schema

    def _store_pipelines(self, object_type: str, pipelines: Sequence[Pipeline]) -> None:
        self._conn.execute(f"DELETE FROM {_P}pipelines WHERE object_type = ?", (object_type,))
        self._conn.executemany(
            f"INSERT INTO {_P}pipelines VALUES (?, ?, ?, ?, ?)",
            [
                (
                    object_type,
                    i,
                    p.id,
                    p.label,
                    json.dumps([[s.id, s.label] for s in p.stages], ensure_ascii=False),
                )
                for i, p in enumerate(pipelines)
            ],
        )

    # ---- internals: rows and records --------------------------------------------------

    @staticmethod
    def _select(schema: ObjectSchema) -> str:
        return ", ".join([*_INTERNAL, *(_q(p.name) for p in schema.properties)])

    def _records(self, schema: ObjectSchema, rows: Sequence[Sequence[Any]]) -> list[Record]:
        """Records from rows of :meth:`_select`, with their links (one query per call)."""
        if not rows:
            return []
        links: dict[str, dict[str, set[str]]] = {}
        ids = [row[0] for row in rows]
        for start in range(0, len(ids), 500):
            chunk = ids[start : start + 500]
            for from_id, to_type, to_id in self._conn.execute(
                f"SELECT from_id, to_type, to_id FROM {_P}links "
                f"WHERE from_type = ? AND from_id IN ({_id_marks(chunk)})",
                [schema.name, *map(_id_param, chunk)],
            ):
                links.setdefault(from_id, {}).setdefault(to_type, set()).add(to_id)
        specs = schema.properties
        offset = len(_INTERNAL)
        records = []
        for row in rows:
            properties = {
                spec.name: _decode(spec, row[offset + i])
                for i, spec in enumerate(specs)
                if row[offset + i] is not None
            }
            linked = links.get(row[0])
            records.append(
                Record(
                    row[0],
                    MappingProxyType(properties),
                    datetime.fromisoformat(row[3]),
                    MappingProxyType({t: frozenset(i) for t, i in linked.items()})
                    if linked
                    else _EMPTY_LINKS,
                )
            )
        return records

    def _get(self, schema: ObjectSchema, record_id: str) -> Record | None:
        rows = self._conn.execute(
            f"SELECT {self._select(schema)} FROM {_q(schema.name)} WHERE __id = ?", (record_id,)
        ).fetchall()
        found = self._records(schema, rows)
        return found[0] if found else None

    def _live(self, schema: ObjectSchema, record_id: str) -> Record:
        record = self._get(schema, record_id)
        if record is None:
            state = "was removed" if self._tombstone(schema.name, record_id) else "does not exist"
            raise KeyError(f"{schema.name} record {record_id!r} {state}")
        return record

    def _tombstone(self, object_type: str, record_id: str) -> bool:
        row = self._conn.execute(
            f"SELECT 1 FROM {_P}tombstones WHERE object_type = ? AND id = ?",
            (object_type, record_id),
        ).fetchone()
        return row is not None

    def _now(self, updated_at: datetime | None = None) -> str:
        return (updated_at if updated_at is not None else self.clock()).isoformat()

    def _insert(
        self,
        tx: _Tx,
        schema: ObjectSchema,
        record_id: str,
        values: Mapping[str, Any],
        *,
        updated_at: datetime | None = None,
    ) -> None:
        tx.seq += 1
        names = list(values)
        self._conn.execute(
            f"INSERT INTO {_q(schema.name)} "
            f"({', '.join([*_INTERNAL, *(_q(n) for n in names)])}) "
            f"VALUES ({_marks(len(_INTERNAL) + len(names))})",
            [
                record_id,
                tx.seq,
                tx.seq,
                self._now(updated_at),
                *(_encode(values[n]) for n in names),
            ],
        )
        self._conn.execute(
            f"DELETE FROM {_P}tombstones WHERE object_type = ? AND id = ?",
            (schema.name, record_id),
        )

    def _replace(
        self,
        tx: _Tx,
        schema: ObjectSchema,
        record_id: str,
        values: Mapping[str, Any],
        *,
        updated_at: datetime | None = None,
    ) -> None:
        """Set every declared property of a live record (absent ones to NULL): a change."""
        tx.seq += 1
        names = [p.name for p in schema.properties]
        assignments = ", ".join(f"{_q(n)} = ?" for n in names)
        self._conn.execute(
            f"UPDATE {_q(schema.name)} SET __seq = ?, __updated_at = ?"
            f"{', ' if names else ''}{assignments} WHERE __id = ?",
            [tx.seq, self._now(updated_at), *(_encode(values.get(n)) for n in names), record_id],
        )

    def _touch(self, tx: _Tx, object_type: str, record_id: str) -> None:
        tx.seq += 1
        self._conn.execute(
            f"UPDATE {_q(object_type)} SET __seq = ?, __updated_at = ? WHERE __id = ?",
            (tx.seq, self._now(), record_id),
        )

    def _new_id(self, tx: _Tx, object_type: str) -> str:
        while True:
            tx.next_id += 1
            record_id = f"{self.id_prefix}{tx.next_id}"
            # put() may have used this id explicitly: never hand it out again.
            schema = self._schemas[object_type]
            if self._get(schema, record_id) is None and not self._tombstone(object_type, record_id):
                return record_id

    @staticmethod
    def _check_declared(schema: ObjectSchema, values: Mapping[str, Any]) -> None:
        for name in values:
            if name not in schema:
                raise KeyError(
                    f"{unknown_property(schema, name)}; declare it with add_schema() first"
                )

    # ---- internals: validation --------------------------------------------------------

    def _check_seq(self, cursor: str, seq: int, current: int) -> int:
        if seq > current:
            raise ValueError(
                f"{self.name}: unknown cursor {cursor!r}: this database has made only "
                f"{current} changes (a cursor of another adapter?)"
            )
        return seq

    def _check_batch(self, method: str, size: int) -> None:
        if size > self.max_batch_size:
            raise AdapterError(
                ErrorCategory.VALIDATION,
                f"{self.name}: {method} got {size} items; max_batch_size is {self.max_batch_size}",
            )

    def _missing(self, object_type: str, record_id: str) -> WriteResult:
        if self._tombstone(object_type, record_id):
            return WriteResult.failed(
                ErrorCategory.DELETED, f"{object_type} record {record_id!r} was deleted"
            )
        return WriteResult.failed(
            ErrorCategory.NOT_FOUND, f"{object_type} record {record_id!r} does not exist"
        )

    def _validate(
        self, schema: ObjectSchema, values: Mapping[str, Any], *, record_id: str | None
    ) -> WriteResult | None:
        """The failure of one create (``record_id=None``) or update item, or None."""

        def holder(spec: PropertySpec, value: Any) -> str | None:
            row = self._conn.execute(
                f"SELECT __id FROM {_q(schema.name)} WHERE {_q(spec.name)} = ? AND __id IS NOT ? "
                "ORDER BY __id LIMIT 1",
                (_encode(value), record_id),
            ).fetchone()
            return None if row is None else str(row[0])

        return check_values(
            schema, values, creating=record_id is None, holder=holder, extra_problem=_too_large
        )

    # ---- internals: links -------------------------------------------------------------

    def _check_link_ends(self, pair: AssociationChange) -> WriteResult | None:
        for object_type, record_id, must_be_declared in (
            (pair.from_type, pair.from_id, True),
            (pair.to_type, pair.to_id, False),
        ):
            schema = self._schemas.get(object_type)
            if schema is None:
                if must_be_declared:
                    return WriteResult.failed(
                        ErrorCategory.NOT_FOUND, f"unknown object type {object_type!r}"
                    )
                continue
            if self._get(schema, record_id) is None:
                gone = self._tombstone(object_type, record_id)
                state = "was deleted" if gone else "does not exist"
                return WriteResult.failed(
                    ErrorCategory.NOT_FOUND, f"{object_type} record {record_id!r} {state}"
                )
        return None

    def _add_link(
        self,
        tx: _Tx,
        from_type: str,
        from_id: str,
        to_type: str,
        to_id: str,
        *,
        always: bool = False,
    ) -> None:
        cursor = self._conn.execute(
            f"INSERT OR IGNORE INTO {_P}links VALUES (?, ?, ?, ?)",
            (from_type, from_id, to_type, to_id),
        )
        if cursor.rowcount or always:
            self._touch(tx, from_type, from_id)

    # ---- internals: scans -------------------------------------------------------------

    def _full_scan(self, schema: ObjectSchema, position: int, start_seq: int) -> Iterator[Page]:
        # rule S8: pages are read one at a time, so a scan streams and writes may happen
        # between pages. Positions never move, so every record present during the whole
        # scan is yielded exactly once; the last cursor is the change cursor of the moment
        # the scan started, so changes made during it are left to the next scan.
        table = _q(schema.name)
        while True:
            with self._lock, self._guard(), self._reading():
                self._refuse_in_transaction()
                rows = self._conn.execute(
                    f"SELECT {self._select(schema)} FROM {table} WHERE __pos > ? "
                    "ORDER BY __pos LIMIT ?",
                    (position, self.page_size + 1),
                ).fetchall()
                last = len(rows) <= self.page_size
                rows = rows[: self.page_size]
                records = self._records(schema, rows)
            if last:
                yield Page(tuple(records), f"c:{start_seq}")
                return
            position = rows[-1][1]
            yield Page(tuple(records), f"f:{position}:{start_seq}")

    def _incremental_scan(self, schema: ObjectSchema, since: int, end: int) -> Iterator[Page]:
        # Changes up to the counter at scan start; a record changed again during the scan
        # moves past ``end`` and is left to the next scan (whose ``since`` is ``end``), so
        # nothing is skipped and the scan always terminates.
        table = _q(schema.name)
        done = since
        while True:
            with self._lock, self._guard(), self._reading():
                self._refuse_in_transaction()
                # Live rows are read back by position, not by id: an id another program wrote
                # with bytes that are not UTF-8 is read as lone surrogates, which no query
                # parameter can carry (rule X1: that record fails alone, not the scan).
                changes = self._conn.execute(
                    f"SELECT __seq, __id, __pos FROM {table} WHERE __seq > ? AND __seq <= ? "
                    f"UNION ALL SELECT seq, id, NULL FROM {_P}tombstones "
                    "WHERE object_type = ? AND seq > ? AND seq <= ? ORDER BY 1 LIMIT ?",
                    (done, end, schema.name, done, end, self.page_size + 1),
                ).fetchall()
                last = len(changes) <= self.page_size
                changes = changes[: self.page_size]
                live = [pos for _, _, pos in changes if pos is not None]
                deleted = tuple(record_id for _, record_id, pos in changes if pos is None)
                rows = (
                    self._conn.execute(
                        f"SELECT {self._select(schema)} FROM {table} "
                        f"WHERE __pos IN ({_marks(len(live))}) ORDER BY __seq",
                        live,
                    ).fetchall()
                    if live
                    else []
                )
                records = self._records(schema, rows)
            if last:
                yield Page(tuple(records), f"c:{end}", deleted)
                return
            done = changes[-1][0]
            yield Page(tuple(records), f"c:{done}", deleted)
