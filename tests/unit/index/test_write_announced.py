"""IndexStore.write_announced and write_announced_created: the SQLite store's rows
written and completed from the creates' parts are, byte for byte, what the general way
(write_new of announced_entry's entries, then write_created of them) stores (issue 18).

The initial sync announces a page of creates (S8) with write_announced: per create the
record id, its keys, the two copies and the idempotency key. The SQLite store writes the
rows from these parts (no Entry, no whole encoding) and inserts them without looking for
stored rows; after the creates, write_announced_created completes the rows in place from
the same parts. An id stored already (by this store or another connection), a record
given twice, a row written again since its announcement, or an entry never announced
takes the general way. These tests make generated calls both ways into two fresh files
and compare every row of every table after each call.
"""

from __future__ import annotations

import sqlite3
from datetime import UTC, datetime, timedelta

import attrs
from hypothesis import given, settings
from hypothesis import strategies as st

from syncengine import ErrorCategory, IndexStoreError, RecordState, Side
from syncengine.index import (
    CursorUpdate,
    Entry,
    HistoryItem,
    IndexStore,
    MemoryIndexStore,
    SQLiteIndexStore,
)
from syncengine.index.base import Announced, announced_entry, created_entry, indexed_entry
from syncengine.testing._index_kit import values_strategy

T0 = datetime(2026, 1, 2, 3, 4, 5, 6789, tzinfo=UTC)
TABLES = ("entries", "keys", "counts", "cursors", "shapes", "items")
_text = st.text(max_size=4)  # lone surrogates included: the JSON fallback
_keys = st.frozensets(st.sampled_from(["0:a@x.io", "0:b@x.io", "1:c", "[x", "0:d"]), max_size=3)
_names = st.sampled_from(["email", "firstname", "lastname", "k"])
_plain = st.dictionaries(_names, _text, min_size=1, max_size=4)  # the engine's common case


@st.composite
def _copies(draw: st.DrawFn) -> tuple[dict[str, object] | None, dict[str, object] | None]:
    """A create's hub and app copies: mostly text under a few names (equal, renamed,
    some values changed), some empty, missing, or of other values."""
    hub = draw(st.none() | st.just({}) | _plain | _plain | values_strategy(light=True))
    kind = draw(st.sampled_from(["same", "renamed", "changed", "other", "none"]))
    if kind == "none" or hub is None:
        return hub, draw(st.none() | _plain)
    if kind == "same":
        return hub, dict(hub)
    if kind == "renamed":
        return hub, {name.upper(): value for name, value in hub.items()}
    if kind == "changed":
        return hub, {name: draw(st.just(v) | _text) for name, v in hub.items()}
    return hub, draw(_plain | values_strategy(light=True))


@st.composite
def _calls(draw: st.DrawFn) -> dict[str, object]:
    """Entries stored before (by the same store and by another connection), one
    write_announced call, and one write_announced_created call after it (some creates
    landed, some failed, some rows written again since)."""
    side = draw(st.sampled_from([Side.APP, Side.APP, Side.HUB]))
    ot = draw(st.sampled_from(["contacts", "deals"]))
    at = T0 + timedelta(microseconds=draw(st.integers(0, 2)))
    ids = (
        st.sampled_from(["1", "2", "3", "4", "5", "6", "\ud800"])
        if draw(st.booleans())
        else st.text(min_size=1, max_size=3)
    )
    creates: list[Announced] = []
    for n in range(draw(st.integers(0, 6))):
        hub, app = draw(_copies())
        key = f"s:{ot}:{n}:n{draw(_text)}"
        creates.append((draw(ids), draw(_keys), hub, app, key))
    mine: list[Entry] = []
    theirs: list[Entry] = []
    for _ in range(draw(st.integers(0, 3))):
        record_id = draw(ids.filter(lambda i: i != "\ud800"))  # stored: a storable id
        stored = indexed_entry(
            "s", ot, draw(st.sampled_from([side, side.other])), record_id, draw(_keys), T0, ()
        )
        (mine if draw(st.booleans()) else theirs).append(stored)
    since: list[Entry] = []
    created: list[tuple[Announced, str]] = []
    failed: list[Entry] = []
    for n, create in enumerate(creates):
        fate = draw(st.sampled_from(["created"] * 4 + ["rewritten", "failed"]))
        entry = announced_entry("s", ot, side, *create, at)
        if fate == "rewritten":  # written again since: another key
            since.append(attrs.evolve(entry, pending_key=f"{create[4]}-2"))
        if fate == "failed":
            failed.append(
                attrs.evolve(
                    entry,
                    state=RecordState.FAILED,
                    category=ErrorCategory.VALIDATION,
                    message="refused",
                    history=(HistoryItem(T0, "failed", draw(st.sampled_from(["v", "w"]))),),
                )
            )
        else:
            created.append((create, f"new{n}"))
    if created and draw(st.booleans()):
        created.append(created[0])  # the same create twice: the last wins
    done_at = at + timedelta(seconds=draw(st.integers(0, 2)))
    history = tuple(
        draw(
            st.lists(
                st.builds(
                    HistoryItem,
                    st.sampled_from([done_at, T0]),
                    st.sampled_from(["synced", "other"]),
                    st.sampled_from(["created on app", "created on hub", ""]),
                ),
                max_size=2,
            )
        )
    )

    def cursors() -> list[CursorUpdate]:
        return [CursorUpdate("s", Side.HUB, ot, draw(_text), "page")] if draw(st.booleans()) else []

    return {
        "mine": mine,
        "theirs": theirs,
        "since": since,
        "announce": {
            "sync_id": "s",
            "object_type": ot,
            "side": side,
            "creates": creates,
            "at": at,
            "cursors": cursors(),
        },
        "complete": {
            "sync_id": "s",
            "object_type": ot,
            "side": side,
            "created": created,
            "at": done_at,
            "mark": draw(st.none() | st.sampled_from(["i1", "r2"])),
            "history": history,
            "entries": failed,
            "cursors": cursors(),
        },
    }


def _rows(path: str) -> dict[str, list[tuple[object, ...]]]:
    conn = sqlite3.connect(path)
    conn.text_factory = bytes  # byte for byte, lone surrogates too
    try:
        return {t: sorted(conn.execute(f"SELECT * FROM {t}").fetchall(), key=repr) for t in TABLES}
    finally:
        conn.close()


def _sqlite_rows(tmp: str, name: str, fast: bool, calls: dict) -> list[dict]:
    """The rows after the announcement and after the completion, the entries read back
    and whether a call was refused."""
    path = f"{tmp}/{name}-{'fast' if fast else 'general'}.db"
    store = SQLiteIndexStore(path)
    seen = []
    try:
        store.write_built(calls["mine"])
        if calls["theirs"]:
            other = SQLiteIndexStore(path)
            other.write_built(calls["theirs"])
            other.close()
        for step in ("announce", "complete"):
            call = calls[step]
            if step == "complete" and calls["since"]:
                store.write(calls["since"])
            try:
                if step == "announce":
                    way = store.write_announced if fast else IndexStore.write_announced
                else:
                    way = (
                        store.write_announced_created
                        if fast
                        else IndexStore.write_announced_created
                    )
                if fast:
                    way(**call)
                else:
                    way(store, **call)
            except IndexStoreError:  # refused both ways (a lone surrogate in an id)
                refused = True
            else:
                refused = False
            entries = [repr(e) for e in store.entries("s")]
            seen.append({"refused": refused, "rows": _rows(path), "entries": entries})
            if refused:
                break
    finally:
        store.close()
    return seen


_files = iter(range(10**9))


@settings(deadline=None)
@given(calls=_calls())
def test_sqlite_announces_and_completes_creates_as_the_general_way(calls, tmp_path_factory):
    """Every row of every table the same, byte for byte, after each call either way."""
    tmp = str(tmp_path_factory.getbasetemp())
    name = f"wa{next(_files)}"
    assert _sqlite_rows(tmp, name, True, calls) == _sqlite_rows(tmp, name, False, calls)


@settings(deadline=None)
@given(calls=_calls())
def test_memory_store_announces_the_entries_write_new_writes(calls):
    """The default (the Memory store's) writes announced_entry's entries with
    write_new, then completes them with write_created."""
    announce, complete = calls["announce"], calls["complete"]
    stores = [MemoryIndexStore(), MemoryIndexStore()]
    for store in stores:
        store.write_built([*calls["mine"], *calls["theirs"]])
    stores[0].write_announced(**announce)
    sid, ot, side, at = "s", announce["object_type"], announce["side"], announce["at"]
    entries = [announced_entry(sid, ot, side, *c, at) for c in announce["creates"]]
    stores[1].write_new(entries, cursors=announce["cursors"])
    for store in stores:
        if calls["since"]:
            store.write(calls["since"])
    stores[0].write_announced_created(**complete)
    created = [
        (announced_entry(sid, ot, side, *c, complete["at"]), record_id)
        for c, record_id in complete["created"]
    ]
    stores[1].write_created(
        created,
        at=complete["at"],
        mark=complete["mark"],
        history=complete["history"],
        entries=complete["entries"],
        cursors=complete["cursors"],
    )
    assert [repr(e) for e in stores[0].entries("s")] == [repr(e) for e in stores[1].entries("s")]
    assert stores[0].counts("s") == stores[1].counts("s")


def test_the_engines_creates_are_announced_and_completed_without_entries(tmp_path, monkeypatch):
    """The engine's common case takes the fast way: no entry encoded, no stored row
    looked up by entry id; the rows read back as announced_entry's, then
    created_entry's; a stored id is found by the insert and written the general way."""
    path = str(tmp_path / "one.db")
    store = SQLiteIndexStore(path)
    looked: list[list[str]] = []
    original = store._existing
    monkeypatch.setattr(
        store,
        "_existing",
        lambda conn, scope, ids: looked.append(list(ids)) or original(conn, scope, ids),
    )
    encoded: list[str] = []
    encode = store._codec.encode
    monkeypatch.setattr(
        store._codec,
        "encode",
        lambda entry, *a: encoded.append(entry.entry_id) or encode(entry, *a),
    )
    creates: list[Announced] = [
        (
            str(n),
            frozenset({f"0:{n}@x.io"}),
            {"email": f"{n}@x.io", "firstname": "Ada"},
            {"Email": f"{n}@x.io", "FirstName": "Ada"},
            f"s:contacts:h:{n}:n{n}",
        )
        for n in range(3)
    ]
    store.write_announced("s", "contacts", Side.APP, creates[:2], at=T0)
    assert looked == []
    assert encoded == []
    want = {f"h:{n}": announced_entry("s", "contacts", Side.APP, *creates[n], T0) for n in range(3)}
    assert store.get("s", "contacts", ["h:0", "h:1"]) == {k: want[k] for k in ("h:0", "h:1")}
    history = (HistoryItem(T0, "synced", "created on app"),)
    store.write_announced_created(
        "s",
        "contacts",
        Side.APP,
        [(creates[0], "a0"), (creates[1], "a1")],
        at=T0,
        mark="i1",
        history=history,
    )
    assert encoded == []
    got = store.get("s", "contacts", ["h:0", "h:1"])
    for n in range(2):
        assert got[f"h:{n}"] == created_entry(want[f"h:{n}"], f"a{n}", T0, "i1", history)
    assert store.counts("s") == {"contacts": {RecordState.SYNCED: 2}}
    other = SQLiteIndexStore(path)
    other.write_built([indexed_entry("s", "contacts", Side.HUB, "2", frozenset({"0:o"}), T0, ())])
    other.close()
    store.write_announced("s", "contacts", Side.APP, creates[2:], at=T0)
    assert looked == [["h:2"]]  # refused by the unique index, then written by write_built
    assert store.get("s", "contacts", ["h:2"]) == {"h:2": want["h:2"]}
    assert store.by_keys("s", "contacts", ["0:o"]) == {}
    store.close()
