"""Benchmark of SQLiteIndexStore: upserts and key lookups of realistic entries.

Usage::

    python benchmarks/index_store.py [--n 1000000] [--batch 1000] [--path FILE]

Prints one JSON line per scenario::

    {"scenario", "n", "seconds", "per_record_us", "peak_rss_mb", "bytes_per_entry"}

Scenarios, in order, on one file:

* ``upsert``: N new contact entries written in batches (8 mapped string fields per side,
  app names differ from hub names, one e-mail key, one history item).
* ``update``: every tenth of them written again in batches, with a new state and a
  changed field (the incremental-sync path: existing rows, keys unchanged).
* ``replace_unchanged``: every tenth of them, as read, written again queued with the
  compare-and-set a pass uses for a record another pass holds (rule S9); only the
  store's call is timed, not the read before it.
* ``by_keys``: N lookups by e-mail key in batches, in a scattered order.

Entries are generated lazily, batch by batch; nothing holds all of them. Only the
store's calls are timed. Targets: upsert
≤ 15 µs per entry, by_keys ≤ 10 µs per key, peak RSS < 200 MB, ≤ 600 bytes per entry.
"""

from __future__ import annotations

import argparse
import json
import os
import resource
import sqlite3
import sys
import tempfile
import time
from collections.abc import Iterator
from datetime import UTC, datetime, timedelta

import attrs

from syncengine import RecordState
from syncengine.index import Entry, HistoryItem, SQLiteIndexStore

__all__ = ["main"]

SYNC = "acme-hubspot"
TYPE = "contacts"
FIRST = ("Ada", "Grace", "Alan", "Edsger", "Barbara", "Donald", "Frances", "Ken", "Margaret")
LAST = ("Lovelace", "Hopper", "Turing", "Dijkstra", "Liskov", "Knuth", "Allen", "Thompson")
CITY = ("London", "Copenhagen", "Aarhus", "Berlin", "New York", "Zürich", "Oslo", "Paris")
COUNTRY = ("United Kingdom", "Denmark", "Germany", "United States", "Switzerland", "Norway")
TITLE = ("Engineer", "CTO", "Head of Sales", "Account Manager", "Founder", "Analyst")
DOMAIN = ("example.com", "mail.example.org", "acme.io", "globex.dk", "initech.co.uk")
HUB_NAMES = ("email", "firstname", "lastname", "phone", "company", "jobtitle", "city", "country")
APP_NAMES = ("Email", "FirstName", "LastName", "Phone", "CompanyName", "Title", "City", "Country")
T0 = datetime(2024, 6, 1, tzinfo=UTC)


def email(i: int) -> str:
    """The e-mail address of contact ``i``."""
    return f"{FIRST[i % 9].lower()}.{LAST[i % 8].lower()}{i}@{DOMAIN[i % 5]}"  # unique per i


def entry(i: int, state: RecordState = RecordState.SYNCED, city: str | None = None) -> Entry:
    """A realistic synced contact entry, number ``i``."""
    address = email(i)
    values = (
        address,
        FIRST[i % 9],
        LAST[i % 8],
        f"+45 {20000000 + i * 7 % 79999999}",
        f"{LAST[(i // 8) % 8]} & {FIRST[(i // 72) % 9]} ApS",
        TITLE[i % 6],
        city or CITY[i % 8],
        COUNTRY[i % 6],
    )
    at = T0 + timedelta(seconds=i)
    return Entry(
        sync_id=SYNC,
        object_type=TYPE,
        entry_id=f"h{3000000000 + i}",
        updated_at=at,
        hub_id=str(3000000000 + i),
        app_id=f"C-{i:08d}",
        state=state,
        keys=frozenset({f"0:{address}"}),
        matched_by="0",
        hub_values=dict(zip(HUB_NAMES, values, strict=True)),
        app_values=dict(zip(APP_NAMES, values, strict=True)),
        mark="r1",
        history=(HistoryItem(at, "created", "app"),),
    )


def batches(n: int, size: int, start: int = 0, step: int = 1) -> Iterator[range]:
    """Index ranges of ``size`` items covering ``[start, n)`` by ``step``."""
    for first in range(start, n, size * step):
        yield range(first, min(n, first + size * step), step)


def peak_rss_mb() -> float:
    """Peak resident set size of this process so far, in MB."""
    peak = resource.getrusage(resource.RUSAGE_SELF).ru_maxrss
    return round(peak / (1024 * 1024 if sys.platform == "darwin" else 1024), 1)


def bytes_per_entry(path: str, n: int) -> float | None:
    """Size of the database file per entry, after folding the WAL into it."""
    if path == ":memory:":
        return None
    with sqlite3.connect(path) as conn:
        conn.execute("PRAGMA wal_checkpoint(TRUNCATE)")
        pages, free, size = (
            conn.execute(f"PRAGMA {name}").fetchone()[0]
            for name in ("page_count", "freelist_count", "page_size")
        )
    conn.close()
    return round((pages - free) * size / n, 1)


def report(scenario: str, n: int, seconds: float, path: str, entries: int) -> None:
    """Print one JSON line for a scenario."""
    print(
        json.dumps(
            {
                "scenario": scenario,
                "n": n,
                "seconds": round(seconds, 3),
                "per_record_us": round(seconds / n * 1e6, 2),
                "peak_rss_mb": peak_rss_mb(),
                "bytes_per_entry": bytes_per_entry(path, entries),
            }
        ),
        flush=True,
    )


def main(argv: list[str] | None = None) -> None:
    """Run the scenarios and print their figures."""
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--n", type=int, default=1_000_000, help="entries (default 1,000,000)")
    parser.add_argument("--batch", type=int, default=1000, help="batch size (default 1000)")
    parser.add_argument("--path", help="database file (default: a temporary file)")
    parser.add_argument(
        "--smoke", action="store_true", help="a tiny, fast run (CI keeps the script working)"
    )
    args = parser.parse_args(argv)
    if args.smoke:
        args.n = 2_000
    n, size = args.n, args.batch
    with tempfile.TemporaryDirectory() as tmp:
        path = args.path or os.path.join(tmp, "index.db")
        store = SQLiteIndexStore(path)
        try:
            # Only the store's calls are timed, not making up the entries and keys.
            seconds = 0.0
            for chunk in batches(n, size):
                batch = [entry(i) for i in chunk]
                started = time.perf_counter()
                store.write(batch)
                seconds += time.perf_counter() - started
            del batch
            report("upsert", n, seconds, path, n)

            updates = len(range(0, n, 10))
            seconds = 0.0
            for chunk in batches(n, size, step=10):
                batch = [entry(i, RecordState.FAILED, "Aalborg") for i in chunk]
                started = time.perf_counter()
                store.write(batch)
                seconds += time.perf_counter() - started
            del batch
            report("update", updates, seconds, path, n)

            # The queued marks of records another pass holds (S9): every tenth entry,
            # as read (get, not timed), written back queued only if unchanged.
            seconds = 0.0
            for chunk in batches(n, size, step=10):
                read = store.get(SYNC, TYPE, [f"h{3000000000 + i}" for i in chunk])
                marks = [(e, attrs.evolve(e, state=RecordState.QUEUED)) for e in read.values()]
                started = time.perf_counter()
                lost = store.replace_unchanged(SYNC, TYPE, marks)
                seconds += time.perf_counter() - started
                if lost or len(marks) != len(chunk):
                    raise SystemExit(f"replace_unchanged left {len(lost)} of {len(marks)} entries")
            report("replace_unchanged", updates, seconds, path, n)

            # A scattered order: i -> i * prime mod n visits every entry once.
            prime = 1_000_003 if n % 1_000_003 else 999_983
            seconds = 0.0
            found = 0
            for chunk in batches(n, size):
                keys = [f"0:{email(i * prime % n)}" for i in chunk]
                started = time.perf_counter()
                hits = store.by_keys(SYNC, TYPE, keys)
                seconds += time.perf_counter() - started
                found += sum(len(entries) for entries in hits.values())
            if found != n:
                raise SystemExit(f"by_keys found {found} entries, expected {n}")
            report("by_keys", n, seconds, path, n)
        finally:
            store.close()


if __name__ == "__main__":
    main()
