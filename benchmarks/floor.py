"""The floor of a sync: the least work the SPEC asks per record, without the engine.

Usage::

    python benchmarks/floor.py [--n N] [--scenario NAME ...] [--smoke] [--dir DIR]

Runs ``yardstick``, issue 8's measure of the machine (see :func:`yardstick`), and
``run.py``'s scenarios ``initial_one_sided``, ``initial_matched``, ``incremental_1pct``
and ``conflict_1pct`` on the same synthetic apps, through the same Adapter calls, with
the same changes and the same checks of the counts, as one hand-written loop each, with
none of the engine: no plan, no entries as objects, no conversions or validation, no
events, no report, no retry queue, no associations. What it keeps is what the SPEC makes
every record cost:

* S3: the three phases, in order (the hub indexed, the app matched against it, the hub
  scanned again for what is not synced), or, with an empty app, one pass over the hub;
* M1, M6: each e-mail normalized (``normalize_email``), one key row per record;
* M3: a new hub record's key looked up before it is created (duplicates are excluded);
* S9: a lease per record processed (taken before, released after);
* S8: a created record's entry is committed as pending before the create, and synced
  after it; a page is one transaction;
* D2-D4, S6: a matched pair is merged field by field (a blank never overwrites, the hub
  wins a conflict), the app record updated with what differs, and the synced values kept
  as the index copy, with one history item;
* S5, S6, D6: an incremental pass reads each side's changes since its cursor, finds each
  changed record's entry by its id (two indexes), tells the echoes of its own writes by
  the index copy, fetches the counterpart of a real change and merges three-way.

It leaves out what these scenarios' data never needs: duplicates (M3 is looked up, never
found), conversions (all fields are text), blanks on the app side, failures and retries,
and the first step of the engine's incremental pass, which indexes the app's records
changed since its last poll before the hub's changes are processed (M1: a record added to
both apps between two passes pairs instead of being created twice; no record is new
here). So the floor is below what the engine could reach even with no overhead at all.

Its SQLite schema is the least that holds this, not ``SQLiteIndexStore``'s: one table of
entries (a JSON column of keys, one copy of the values and history), one of keys, one of
leases. Each scenario runs in a fresh process and prints one JSON line like ``run.py``'s,
with ``"floor": true`` (the incremental scenarios' ``setup`` line goes to stderr). The
figures are a lower bound for any engine built from per-record index entries in CPython,
not a target: see "The floor" in ``benchmarks/README.md``.
"""

from __future__ import annotations

import argparse
import itertools
import json
import os
import resource
import shutil
import sqlite3
import subprocess
import sys
import tempfile
import time
from collections.abc import Iterator, Sequence
from typing import Any, Final

sys.path.insert(0, os.path.dirname(os.path.abspath(__file__)))

from _synthetic import (
    APP,
    APP_NAMES,
    HUB,
    HUB_NAMES,
    TYPE,
    SyntheticAdapter,
    scenario_changes,
    values_of,
)

from syncengine.adapters import NewRecord, RecordUpdate, WriteResult
from syncengine.matching import normalize_email

__all__ = ["main"]

SCENARIOS: Final = (
    "yardstick",
    "initial_one_sided",
    "initial_matched",
    "incremental_1pct",
    "conflict_1pct",
)
INCREMENTAL: Final = frozenset(SCENARIOS[3:])
SMOKE_N: Final = 2_000
BATCH: Final = 100
PAGE: Final = 1_000
PENDING, SYNCED = 1, 2
FIELDS: Final = tuple(zip(HUB_NAMES, APP_NAMES, strict=True))

SCHEMA: Final = (
    "CREATE TABLE entries (id INTEGER PRIMARY KEY, entry_id TEXT NOT NULL UNIQUE, "
    "hub_id TEXT, app_id TEXT, state INTEGER NOT NULL, data TEXT NOT NULL)",
    "CREATE INDEX entries_by_hub_id ON entries (hub_id) WHERE hub_id IS NOT NULL",
    "CREATE INDEX entries_by_app_id ON entries (app_id) WHERE app_id IS NOT NULL",
    "CREATE TABLE keys (key TEXT PRIMARY KEY, entry INTEGER NOT NULL) WITHOUT ROWID",
    "CREATE TABLE leases (name TEXT PRIMARY KEY, expires REAL NOT NULL) WITHOUT ROWID",
    "CREATE TABLE pending (page INTEGER PRIMARY KEY, data TEXT NOT NULL)",
)
INDEXED: Final = 0  # phase 1: the hub record's id, key and values, not synced yet


class FloorError(AssertionError):
    """The floor did not do what the engine does (a write failed, a count is wrong): its
    figures would mean nothing."""


def connect(path: str, *, new: bool = True) -> sqlite3.Connection:
    """A connection with ``SQLiteIndexStore``'s settings (WAL, 64 MiB of page cache), to
    a new index (the schema is made) or, with ``new=False``, to an existing one."""
    conn = sqlite3.connect(path, isolation_level=None)
    conn.execute("PRAGMA journal_mode = WAL")
    conn.execute("PRAGMA synchronous = NORMAL")
    conn.execute("PRAGMA cache_size = -65536")
    for statement in SCHEMA if new else ():
        conn.execute(statement)
    return conn


def marks(n: int) -> str:
    return ",".join("?" * n)


def batches(items: Sequence[Any]) -> Iterator[Sequence[Any]]:
    for start in range(0, len(items), BATCH):
        yield items[start : start + BATCH]


def lease(conn: sqlite3.Connection, names: list[str]) -> str:
    """S9: take a batch's leases, one per record, in one statement; a name another pass
    holds fails the insert (nothing else runs here, so none may). Returns the names as
    the JSON list :func:`release` takes."""
    batch = json.dumps(names)
    try:
        conn.execute(
            "INSERT INTO leases SELECT value, ? FROM json_each(?)", (time.time() + 300, batch)
        )
    except sqlite3.IntegrityError:
        raise FloorError("a lease is held: nothing else runs here") from None
    return batch


def release(conn: sqlite3.Connection, batch: str) -> None:
    """S9: release the leases :func:`lease` took, in one statement."""
    conn.execute("DELETE FROM leases WHERE name IN (SELECT value FROM json_each(?))", (batch,))


def check_writes(what: str, results: Sequence[WriteResult], size: int) -> None:
    """Every item of a create or update succeeded (one result per item)."""
    if len(results) != size:
        raise FloorError(f"{what}: {len(results)} results for {size} items")
    failed = [result for result in results if not result.succeeded or not result.record_id]
    if failed:
        raise FloorError(f"{what}: {len(failed)} of {size} items failed: {failed[0]!r}")


def key_of(properties: Any, field: str) -> str | None:
    email = normalize_email(properties.get(field))
    return None if email is None else f"email:{email}"


def mapped(properties: Any, names: Sequence[str]) -> list[Any]:
    """A record's mapped values in field order, blanks as ``None`` (S6's comparison)."""
    values = []
    for name in names:
        value = properties.get(name)
        values.append(value if value is None or value.strip() else None)
    return values


def one_sided(hub: SyntheticAdapter, app: SyntheticAdapter, conn: sqlite3.Connection) -> int:
    """An empty app: one pass over the hub, each record created in the app (S3, M3).

    S8: one pending row per page, naming the page's creates by their idempotency keys,
    is committed before the creates; after them each entry is written once, synced, with
    its key row (M3: a later record with the same key is a duplicate), and the pending
    row goes."""
    if any(page.records for page in app.scan(TYPE)):
        raise FloorError("the app is not empty")
    next_id = 1
    created = 0
    for number, page in enumerate(hub.scan(TYPE)):
        records = [(r, key_of(r.properties, "email")) for r in page.records]
        keys = [k for _, k in records if k is not None]
        taken = {
            k
            for (k,) in conn.execute(
                f"SELECT key FROM keys WHERE key IN ({marks(len(keys))})", keys
            )
        }
        todo = []
        for record, key in records:
            if key is None or key in taken:
                continue  # M3: excluded (none in this data set)
            taken.add(key)
            todo.append((record, key))
        if len(todo) != len(records):
            raise FloorError("a hub record without a key or with a taken one (none here)")
        conn.execute("BEGIN")
        leased = lease(conn, [f"h:{r.id}" for r, _ in todo])
        conn.execute(
            "INSERT INTO pending VALUES (?, ?)", (number, json.dumps([r.id for r, _ in todo]))
        )
        conn.execute("COMMIT")  # S8: the intent is durable before the creates
        rows, key_rows = [], []
        for batch in batches(todo):
            news = [
                NewRecord({a: r.properties.get(h) for h, a in FIELDS}, idempotency_key=f"h:{r.id}")
                for r, _ in batch
            ]
            results = app.create(TYPE, news)
            check_writes("create", results, len(batch))
            for (record, key), result in zip(batch, results, strict=True):
                values = [record.properties.get(h) for h, _ in FIELDS]
                data = json.dumps([[key], values, 1, [[0, "created on app"]]])
                rows.append((next_id, f"h:{record.id}", record.id, result.record_id, SYNCED, data))
                key_rows.append((key, next_id))
                next_id += 1
        conn.execute("BEGIN")
        conn.executemany("INSERT INTO entries VALUES (?, ?, ?, ?, ?, ?)", rows)
        conn.executemany("INSERT INTO keys VALUES (?, ?)", key_rows)
        conn.execute("DELETE FROM pending WHERE page = ?", (number,))
        release(conn, leased)
        conn.execute("COMMIT")
        created += len(rows)
    return created


def merge(mine: list[Any], theirs: list[Any]) -> tuple[list[Any], dict[int, Any]]:
    """D2-D4 for a pair met for the first time, ``mine`` the hub's values: a blank is
    filled from the other side, the hub wins a conflict. Returns the merged values and
    the fields (by position) the app must be given."""
    merged, to_app = [], {}
    for i, (hv, av) in enumerate(zip(mine, theirs, strict=True)):
        if hv is None:
            merged.append(av)  # (no hub value is blank in this data set)
        else:
            merged.append(hv)
            if hv != av:
                to_app[i] = hv
    return merged, to_app


def matched(
    hub: SyntheticAdapter, app: SyntheticAdapter, conn: sqlite3.Connection
) -> tuple[int, dict[str, str]]:
    """The three phases of S3, each side read once: the count of app updates and the
    poll cursors of the next pass (S5).

    Phase 1 keeps each hub record's id, key and mapped values in its entry; phase 2
    merges each app record with the hub values phase 1 kept (no fetch of the
    counterpart) and writes the entry once, synced; phase 3 takes the hub records not
    synced yet from the index (no rescan of the hub)."""
    next_id = 1
    cursors: dict[str, str] = {}
    for page in hub.scan(TYPE):  # phase 1: index the hub
        cursors["hub"] = page.cursor or ""
        rows, key_rows = [], []
        for record in page.records:
            key = key_of(record.properties, "email")
            values = mapped(record.properties, HUB_NAMES)
            rows.append((next_id, f"h:{record.id}", record.id, INDEXED, json.dumps([key, values])))
            if key is not None:
                key_rows.append((key, next_id))
            next_id += 1
        conn.execute("BEGIN")
        conn.executemany("INSERT INTO entries VALUES (?, ?, ?, NULL, ?, ?)", rows)
        conn.executemany("INSERT INTO keys VALUES (?, ?)", key_rows)
        conn.execute("COMMIT")
    updated = 0
    for page in app.scan(TYPE):  # phase 2: index the app and sync each pair
        cursors["app"] = page.cursor or ""
        keyed = [(r, key_of(r.properties, "Email")) for r in page.records]
        keys = [k for _, k in keyed if k is not None]
        found = {
            key: (entry, hub_id, data)
            for key, entry, hub_id, data in conn.execute(
                f"SELECT key, entry, hub_id, data FROM keys JOIN entries ON entries.id = "
                f"keys.entry WHERE key IN ({marks(len(keys))})",
                keys,
            )
        }
        pairs = [(r, k, *found[k]) for r, k in keyed if k in found]
        if len(pairs) != len(keyed):
            raise FloorError("an app record found no hub record (none here)")
        conn.execute("BEGIN")
        leased = lease(conn, [f"a:{r.id}" for r, *_ in pairs] + [f"h:{p[3]}" for p in pairs])
        conn.execute("COMMIT")
        writes = []
        for batch in batches(pairs):
            updates = []
            for record, key, entry, _hub_id, data in batch:
                values, to_app = merge(json.loads(data)[1], mapped(record.properties, APP_NAMES))
                if to_app:
                    changes = {APP_NAMES[i]: value for i, value in to_app.items()}
                    updates.append(RecordUpdate(record.id, changes))
                history = [[0, "updated app", ",".join(APP_NAMES[i] for i in to_app)]]
                data = json.dumps([[key], values, 1, history])
                writes.append((record.id, SYNCED, data, entry))
            if updates:
                check_writes("update", app.update(TYPE, updates), len(updates))
                updated += len(updates)
        conn.execute("BEGIN")
        conn.executemany("UPDATE entries SET app_id = ?, state = ?, data = ? WHERE id = ?", writes)
        release(conn, leased)
        conn.execute("COMMIT")
    # Phase 3: the hub records not synced yet, from the index (none in this data set).
    left = conn.execute("SELECT count(*) FROM entries WHERE state != ?", (SYNCED,)).fetchone()
    if left[0]:
        raise FloorError(f"{left[0]} hub records were not synced in phase 2 (none here)")
    return updated, cursors


def poll(
    side: str,
    adapters: dict[str, SyntheticAdapter],
    conn: sqlite3.Connection,
    cursor: str,
) -> tuple[dict[str, int], str]:
    """One side's changes since ``cursor`` (S5), each side read once: each changed record
    compared with its index copy (S6: an echo of the engine's own write, equal to it,
    costs no write); a field changed since the copy flows to the other side (D6).

    No counterpart is fetched: the hub's poll runs first and the hub wins conflicts
    (D3), so a field the hub changed is written to the app whatever the app holds; the
    app's poll then reads the app's own changes (a field the hub also changed now holds
    the hub's value, an echo) and the other side's values are its index copy."""
    other = "app" if side == "hub" else "hub"
    names = {"hub": HUB_NAMES, "app": APP_NAMES}
    counts = {"echoes": 0, "hub": 0, "app": 0}
    for page in adapters[side].scan(TYPE, since=cursor):
        cursor = page.cursor or cursor
        ids = [r.id for r in page.records]
        if not ids:
            continue
        found = {
            row[0]: row[1:]
            for row in conn.execute(
                f"SELECT {side}_id, id, {other}_id, data FROM entries "
                f"WHERE {side}_id IN ({marks(len(ids))})",
                ids,
            )
        }
        if len(found) != len(ids):
            raise FloorError(f"a changed {side} record is not indexed (none here)")
        todo = []
        for record in page.records:
            entry, other_id, data = found[record.id]
            stored = json.loads(data)
            values = mapped(record.properties, names[side])
            if values == stored[1]:
                counts["echoes"] += 1
                continue
            todo.append((record.id, values, entry, other_id, stored))
        if not todo:
            continue
        conn.execute("BEGIN")
        leased = lease(
            conn, [f"{side[0]}:{t[0]}" for t in todo] + [f"{other[0]}:{t[3]}" for t in todo]
        )
        conn.execute("COMMIT")
        rows = []
        for batch in batches(todo):
            writes: dict[str, list[RecordUpdate]] = {"hub": [], "app": []}
            for record_id, values, entry, other_id, stored in batch:
                copy = stored[1]
                merged = list(copy)
                to_side: dict[str, Any] = {}
                to_other: dict[str, Any] = {}
                for i, (mine, was) in enumerate(zip(values, copy, strict=True)):
                    if mine == was:
                        continue
                    winner = mine if mine is not None else was  # D4: a blank never wins
                    merged[i] = winner
                    if winner != mine:
                        to_side[names[side][i]] = winner
                    if winner != was:
                        to_other[names[other][i]] = winner
                if to_other:
                    writes[other].append(RecordUpdate(other_id, to_other))
                if to_side:
                    writes[side].append(RecordUpdate(record_id, to_side))
                history = [[0, f"updated {other}", ",".join(to_other)]]
                rows.append((json.dumps([stored[0], merged, 1, history]), entry))
            for target, updates in writes.items():
                if updates:
                    check_writes("update", adapters[target].update(TYPE, updates), len(updates))
                    counts[target] += len(updates)
        conn.execute("BEGIN")
        conn.executemany("UPDATE entries SET data = ? WHERE id = ?", rows)
        release(conn, leased)
        conn.execute("COMMIT")
    return counts, cursor


def incremental(
    hub: SyntheticAdapter,
    app: SyntheticAdapter,
    conn: sqlite3.Connection,
    cursors: dict[str, str],
) -> dict[str, int]:
    """One incremental pass (S5): the hub's changes, then the app's (which include the
    echoes of what the hub's changes wrote there); ``cursors`` move on."""
    adapters = {"hub": hub, "app": app}
    totals = {"echoes": 0, "hub": 0, "app": 0}
    for side in ("hub", "app"):
        counts, cursors[side] = poll(side, adapters, conn, cursors[side])
        for what, n in counts.items():
            totals[what] += n
    return totals


def adapters(n: int, app_records: int) -> tuple[SyntheticAdapter, SyntheticAdapter]:
    hub = SyntheticAdapter(HUB, n, name="hub", id_prefix="h", page_size=PAGE)
    app = SyntheticAdapter(APP, app_records, name="app", id_prefix="a", page_size=PAGE)
    return hub, app


def remove_db(path: str) -> None:
    for suffix in ("", "-wal", "-shm"):
        if os.path.exists(path + suffix):
            os.remove(path + suffix)


def expect(what: str, expected: int, actual: int) -> None:
    if expected != actual:
        raise FloorError(f"{what}: expected {expected}, got {actual}")


def peak_rss_mb() -> float:
    return round(resource.getrusage(resource.RUSAGE_SELF).ru_maxrss / 1024, 1)


def initial(scenario: str, n: int, directory: str) -> dict[str, Any]:
    both = scenario == "initial_matched"
    hub, app = adapters(n, n if both else 0)
    path = os.path.join(directory, f"floor-{scenario}-{n}.db")
    remove_db(path)
    conn = connect(path)
    started, cpu = time.perf_counter(), time.process_time()
    done = matched(hub, app, conn)[0] if both else one_sided(hub, app, conn)
    seconds = time.perf_counter() - started
    cpu_seconds = time.process_time() - cpu
    conn.close()
    size = os.path.getsize(path)
    remove_db(path)
    expect(f"{scenario}: records written", n, done)
    return {
        "scenario": scenario,
        "n": n,
        "floor": True,
        "seconds": round(seconds, 3),
        "per_record_us": round(seconds / n * 1e6, 2),
        "peak_rss_mb": peak_rss_mb(),
        "index_bytes_per_entry": round(size / n, 1),
        "cpu_seconds": round(cpu_seconds, 3),
    }


def yardstick(n: int, directory: str) -> dict[str, Any]:
    """Issue 8's measure of the machine: "iterating two record streams, matching by key
    and inserting one row per pair into SQLite costs about 10 µs per record on this
    machine". Two streams of the people's values (each e-mail lower-cased as its key),
    matched a page of 1,000 at a time, one row per pair (both value lists as JSON), one
    transaction per page. Its time on the day gives the machine's speed that day: the
    targets are ~2.5-6 times it."""
    path = os.path.join(directory, f"floor-yardstick-{n}.db")
    remove_db(path)
    conn = connect(path)
    conn.execute("CREATE TABLE pairs (key TEXT PRIMARY KEY, hub TEXT, app TEXT, data TEXT)")

    def stream(variant: int) -> Iterator[tuple[str, list[str]]]:
        for i in range(n):
            values = values_of(i, variant)
            yield values[0].strip().lower(), values

    started, cpu = time.perf_counter(), time.process_time()
    hubs, apps = stream(HUB), stream(APP)
    pairs = 0
    while True:
        page = dict(itertools.islice(hubs, PAGE))
        if not page:
            break
        rows = []
        for key, values in itertools.islice(apps, len(page)):
            hub_values = page.get(key)
            if hub_values is not None:
                rows.append((key, hub_values[0], values[0], json.dumps([hub_values, values])))
        conn.execute("BEGIN")
        conn.executemany("INSERT INTO pairs VALUES (?, ?, ?, ?)", rows)
        conn.execute("COMMIT")
        pairs += len(rows)
    seconds = time.perf_counter() - started
    cpu_seconds = time.process_time() - cpu
    conn.close()
    remove_db(path)
    expect("yardstick: pairs", n, pairs)
    return {
        "scenario": "yardstick",
        "n": n,
        "floor": True,
        "seconds": round(seconds, 3),
        "per_record_us": round(seconds / n * 1e6, 2),
        "cpu_seconds": round(cpu_seconds, 3),
    }


def setup(n: int, directory: str) -> dict[str, Any]:
    """The incremental scenarios' starting state, as ``run.py`` builds it: the initial
    matched sync, then one pass that takes in the echoes of its N app updates."""
    hub, app = adapters(n, n)
    path = os.path.join(directory, f"floor-base-{n}.db")
    remove_db(path)
    conn = connect(path)
    started = time.perf_counter()
    done, cursors = matched(hub, app, conn)
    initial_seconds = time.perf_counter() - started
    started = time.perf_counter()
    echo = incremental(hub, app, conn, cursors)
    echo_seconds = time.perf_counter() - started
    conn.close()
    expect("setup: app updates", n, done)
    expect("echo pass: echoes", n, echo["echoes"])
    expect("echo pass: writes", 0, echo["hub"] + echo["app"])
    hub.save(os.path.join(directory, f"floor-hub-{n}"))
    app.save(os.path.join(directory, f"floor-app-{n}"))
    with open(os.path.join(directory, f"floor-cursors-{n}.json"), "w") as out:
        json.dump(cursors, out)
    return {
        "scenario": "setup",
        "n": n,
        "floor": True,
        "initial_seconds": round(initial_seconds, 3),
        "echo_pass_seconds": round(echo_seconds, 3),
    }


def changed(scenario: str, n: int, directory: str, *, no_pass: bool = False) -> dict[str, Any]:
    """One incremental pass after the setup state, with ``run.py``'s changes."""
    hub, app = adapters(n, n)
    hub.load(os.path.join(directory, f"floor-hub-{n}"))
    app.load(os.path.join(directory, f"floor-app-{n}"))
    with open(os.path.join(directory, f"floor-cursors-{n}.json")) as source:
        cursors = json.load(source)
    path = os.path.join(directory, f"floor-{scenario}-{n}.db")
    remove_db(path)
    shutil.copyfile(os.path.join(directory, f"floor-base-{n}.db"), path)
    conn = connect(path, new=False)
    hub_changes, app_changes = scenario_changes(scenario, hub, app, n)
    total = len(hub_changes) + len(app_changes)
    if no_pass:  # instructions.py: everything but the pass, to subtract
        conn.close()
        remove_db(path)
        return {"scenario": scenario, "n": n, "floor": True, "changed": total}
    started, cpu = time.perf_counter(), time.process_time()
    counts = incremental(hub, app, conn, cursors)
    seconds = time.perf_counter() - started
    cpu_seconds = time.process_time() - cpu
    conn.close()
    remove_db(path)
    expect("app updates", len(hub_changes), counts["app"])
    conflict = scenario == "conflict_1pct"
    expect("hub updates", 0 if conflict else len(app_changes), counts["hub"])
    return {
        "scenario": scenario,
        "n": n,
        "floor": True,
        "changed": total,
        "seconds": round(seconds, 4),
        "per_record_us": round(seconds / total * 1e6, 2),
        "peak_rss_mb": peak_rss_mb(),
        "cpu_seconds": round(cpu_seconds, 4),
    }


def worker(scenario: str, n: int, directory: str, *, no_pass: bool = False) -> dict[str, Any]:
    if scenario == "setup":
        return setup(n, directory)
    if scenario in INCREMENTAL:
        return changed(scenario, n, directory, no_pass=no_pass)
    if scenario == "yardstick":
        return yardstick(n, directory)
    return initial(scenario, n, directory)


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--n", type=int, default=100_000, help="records (default 100,000)")
    parser.add_argument("--scenario", action="append", choices=SCENARIOS, help="repeatable")
    parser.add_argument("--smoke", action="store_true", help=f"every scenario once, N={SMOKE_N}")
    parser.add_argument("--dir", help="where the index files go (default: a temporary dir)")
    parser.add_argument("--worker", choices=(*SCENARIOS, "setup"), help=argparse.SUPPRESS)
    parser.add_argument("--no-pass", action="store_true", help=argparse.SUPPRESS)
    args = parser.parse_args(argv)
    n = SMOKE_N if args.smoke else args.n
    if args.worker:  # one scenario, in this process
        print(json.dumps(worker(args.worker, n, args.dir, no_pass=args.no_pass)), flush=True)
        return 0
    scenarios = args.scenario or list(SCENARIOS)
    with tempfile.TemporaryDirectory(prefix="syncengine-floor-") as temporary:
        directory = args.dir or temporary
        if INCREMENTAL.intersection(scenarios):
            scenarios.insert(0, "setup")  # reported on stderr, as in run.py
        for scenario in scenarios:  # each in a fresh process, as in run.py
            command = [sys.executable, os.path.abspath(__file__), "--worker", scenario]
            command += ["--n", str(n), "--dir", directory]
            done = subprocess.run(command, check=False, capture_output=True, text=True)
            sys.stderr.write(done.stderr)
            if done.returncode != 0:
                return 1
            out = sys.stderr if scenario == "setup" else sys.stdout
            print(done.stdout.strip(), file=out, flush=True)
    return 0


if __name__ == "__main__":
    sys.exit(main())
