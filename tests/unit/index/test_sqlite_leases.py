"""SQLiteIndexStore's leases: a batch of free names inserted as one JSON array read by
SQLite's ``json_each`` (the usual way) against the ``VALUES`` statements it takes without
SQLite's JSON functions. Generated batches of names (quotes, backslashes, control
characters, other scripts, names given twice, lone surrogates), over leases stored
before (held by another owner, expired, this owner's): both ways grant the same names,
raise for the same batches, and leave the same rows in the leases table, byte for byte."""

from __future__ import annotations

import sqlite3
from datetime import UTC, datetime, timedelta
from pathlib import Path
from typing import Any

import pytest
from hypothesis import given
from hypothesis import strategies as st

from syncengine import IndexStoreError
from syncengine.index import SQLiteIndexStore

T0 = datetime(2024, 1, 1, tzinfo=UTC)
MINUTE = timedelta(minutes=1)
TYPES = ("contacts", "deals")
OWNERS = ("pass-a@host:1", "pass-b@host:2")

#: Names as the engine makes them (``hub:…``, ``app:…``, ``key:…``), and printable text
#: of other scripts and with quotes and backslashes (the characters of theirs JSON
#: escapes).
PRINTABLE = st.one_of(
    st.sampled_from(["hub:h1", "hub:h2", "app:a1", "key:0:a@x.org", "r1", ""]),
    st.text(st.sampled_from('ab:"\\ é中😀'), max_size=6),
)
#: Any name: also what JSON escapes or is not printable, and (rarely) a lone surrogate,
#: which SQLite cannot store.
NAMES = st.one_of(
    PRINTABLE,
    st.text(st.sampled_from("ab\\\n\x00\x7f\u2028"), max_size=4),
    st.text(max_size=8),
    st.text(st.characters(codec="utf-8"), max_size=4),
    st.builds(lambda s: f"app:{s}\ud800", st.text(max_size=2)),
)
#: (object type, owner, names, minutes from T0 the lease runs to, minutes from T0 now).
CALLS = st.lists(
    st.tuples(
        st.sampled_from(TYPES),
        st.sampled_from(OWNERS),
        st.lists(PRINTABLE, max_size=12) | st.lists(NAMES, max_size=12),
        st.integers(1, 30),
        st.integers(0, 20),
    ),
    min_size=1,
    max_size=6,
)


def _rows(path: Path) -> list[tuple[Any, ...]]:
    """Every row of the leases table as stored (names as their bytes)."""
    conn = sqlite3.connect(path)
    try:
        return conn.execute(
            "SELECT sync, ot, CAST(name AS BLOB), owner, expires FROM leases ORDER BY 1, 2, 3"
        ).fetchall()
    finally:
        conn.close()


def _run(store: SQLiteIndexStore, calls: list[Any]) -> list[Any]:
    """What each acquire answered (the names granted, or that it raised)."""
    answers: list[Any] = []
    for object_type, owner, names, until, now in calls:
        try:
            got = store.acquire(
                "s", object_type, names, owner, until=T0 + until * MINUTE, now=T0 + now * MINUTE
            )
        except IndexStoreError:
            answers.append("raised")
        else:
            answers.append(sorted(got))
    return answers


@given(calls=CALLS)
def test_json_and_values_lease_the_same(tmp_path_factory: pytest.TempPathFactory, calls) -> None:
    """Both ways answer each acquire alike and store the same lease rows."""
    base = tmp_path_factory.mktemp("leases")
    fast, plain = base / "json.db", base / "values.db"
    with SQLiteIndexStore(fast) as one, SQLiteIndexStore(plain) as other:
        other._json = False
        assert _run(other, calls) == _run(one, calls)
        assert one._json is not False
    assert _rows(plain) == _rows(fast)


def test_names_json_would_escape_take_the_values_statement(tmp_path: Path) -> None:
    """A batch holding a name JSON escapes goes as ``VALUES``; a plain batch, other scripts
    included, as one JSON array; both store each name exactly as given."""
    with SQLiteIndexStore(tmp_path / "index.db") as store:
        statements: list[str] = []
        store._connection().set_trace_callback(statements.append)
        plain = ["hub:é", "app:中文", "key:😀", "app:a b"]
        escaped = ['app:"quoted"', "app:back\\slash", "app:new\nline"]
        assert set(plain) == store.acquire("s", "contacts", plain, "o", until=T0 + MINUTE, now=T0)
        assert set(escaped) == store.acquire(
            "s", "contacts", escaped, "o", until=T0 + MINUTE, now=T0
        )
        store._connection().set_trace_callback(None)
        inserts = [s for s in statements if s.startswith("INSERT INTO leases")]
        assert 2 == len(inserts)
        assert "json_each" in inserts[0]
        assert "VALUES" in inserts[1]
        held = store.holders("s", "contacts", [*plain, *escaped])
        assert dict.fromkeys([*plain, *escaped], "o") == held


def test_a_name_given_twice_is_leased_once(tmp_path: Path) -> None:
    """A batch naming a record twice is granted, each name once."""
    with SQLiteIndexStore(tmp_path / "index.db") as store:
        names = ["hub:h1", "hub:h2", "hub:h1"]
        assert {"hub:h1", "hub:h2"} == store.acquire(
            "s", "contacts", names, "o", until=T0 + MINUTE, now=T0
        )
        assert {"hub:h1", "hub:h2"} == store.acquire(
            "s", "contacts", ["hub:h2", "hub:h1", "hub:h2"], "o", until=T0 + 2 * MINUTE, now=T0
        )
        assert 2 == len(_rows(tmp_path / "index.db"))


#: Leases taken before a release: (sync, object type, owner, names).
TAKEN = st.lists(
    st.tuples(
        st.sampled_from(["s", "t"]),
        st.sampled_from(TYPES),
        st.sampled_from(OWNERS),
        st.lists(PRINTABLE, max_size=8),
    ),
    max_size=5,
)


@given(taken=TAKEN, owner=st.sampled_from(OWNERS), object_type=st.sampled_from(TYPES))
def test_releasing_a_type_deletes_exactly_the_owners_rows(
    tmp_path_factory: pytest.TempPathFactory, taken, owner, object_type
) -> None:
    """release(sync, owner, object_type=…) deletes the owner's leases of that type in that
    sync and keeps every other row as it was, whether those were the only rows (the
    table emptied at once) or not."""
    path = tmp_path_factory.mktemp("release") / "index.db"
    with SQLiteIndexStore(path) as store:
        for sync_id, kind, holder, names in taken:
            store.acquire(sync_id, kind, names, holder, until=T0 + MINUTE, now=T0)
        store.acquire("s", object_type, ["mine"], owner, until=T0 + MINUTE, now=T0)
        conn = store._connection()
        ids = {
            name: number
            for table in ("syncs", "object_types")
            for number, name in conn.execute(f"SELECT id, name FROM {table}")
        }
        before = _rows(path)
        store.release("s", owner, None, object_type)
    gone = (ids["s"], ids[object_type], owner)
    assert [r for r in before if (r[0], r[1], r[3]) != gone] == _rows(path)


def test_a_pass_alone_empties_the_table_at_once(tmp_path: Path) -> None:
    """When the owner's leases of the type are every lease row, the release is one
    DELETE without a WHERE clause (SQLite's truncate optimization); else by owner."""
    with SQLiteIndexStore(tmp_path / "index.db") as store:
        store.acquire("s", "contacts", ["a", "b"], "o", until=T0 + MINUTE, now=T0)
        statements: list[str] = []
        store._connection().set_trace_callback(statements.append)
        store.release("s", "o", None, "contacts")
        assert "DELETE FROM leases" in statements
        store.acquire("s", "contacts", ["a", "b"], "o", until=T0 + MINUTE, now=T0)
        store.acquire("s", "deals", ["a"], "o", until=T0 + MINUTE, now=T0)
        statements.clear()
        store.release("s", "o", None, "contacts")
        store._connection().set_trace_callback(None)
        assert "DELETE FROM leases" not in statements
        assert {"a": "o"} == store.holders("s", "deals", ["a", "b"])
        assert {} == store.holders("s", "contacts", ["a", "b"])
