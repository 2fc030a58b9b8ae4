"""Benchmark of SQLiteAdapter: bulk writes, outside writes, and an initial sync between two.

Usage::

    python benchmarks/sqlite_adapter.py [--n 10000] [--repeat 3] [--smoke] [--dir DIR]

Prints one JSON line per scenario (the run of median time when ``--repeat`` > 1)::

    {"scenario", "n", "seconds", "per_record_us", "cpu_seconds", "runs"}

Scenarios, each on fresh database files:

* ``create``: N contacts written through ``create`` in batches of 100, the way the engine
  writes to an app.
* ``put``: N contacts written with ``put`` in one transaction, the way a demo seeds an app.
* ``outside_insert``: N rows inserted by a plain ``sqlite3`` connection (raw ``INSERT``,
  one transaction), numbered by the database's triggers.
* ``outside_update``: N rows changed by one raw ``UPDATE`` statement.
* ``initial_sync``: the engine's initial sync of N contacts from one SQLite app into an
  empty one (index in a third file).

``--smoke`` runs every scenario once at N = 2,000 (CI); any error exits non-zero.
"""

from __future__ import annotations

import argparse
import json
import sqlite3
import sys
import tempfile
import time
from collections.abc import Callable
from pathlib import Path

from syncengine import (
    FieldMapping,
    MatchRule,
    ObjectSchema,
    ObjectSync,
    PropertySpec,
    PropertyType,
    SyncConfig,
    SyncEngine,
)
from syncengine.adapters import NewRecord, SQLiteAdapter
from syncengine.index import SQLiteIndexStore

__all__ = ["main"]

SMOKE_N = 2_000
CONTACTS = ObjectSchema(
    "contacts",
    [
        PropertySpec("email", PropertyType.STRING, unique=True),
        PropertySpec("firstname", PropertyType.STRING),
        PropertySpec("lastname", PropertyType.STRING),
        PropertySpec("city", PropertyType.STRING),
        PropertySpec("score", PropertyType.NUMBER),
    ],
)
PEOPLE = ObjectSchema(
    "people",
    [
        PropertySpec("mail", PropertyType.STRING, unique=True),
        PropertySpec("first", PropertyType.STRING),
        PropertySpec("last", PropertyType.STRING),
        PropertySpec("town", PropertyType.STRING),
        PropertySpec("score", PropertyType.NUMBER),
    ],
)
CONFIG = SyncConfig(
    "bench-sqlite",
    [
        ObjectSync(
            "contacts",
            "people",
            [
                FieldMapping("email", "mail"),
                FieldMapping("firstname", "first"),
                FieldMapping("lastname", "last"),
                FieldMapping("city", "town"),
                FieldMapping("score", "score"),
            ],
            match=MatchRule.email("email", "mail"),
        )
    ],
)


def values(i: int) -> dict[str, object]:
    """The properties of contact ``i``."""
    return {
        "email": f"person{i}@example.com",
        "firstname": f"First{i}",
        "lastname": f"Last{i}",
        "city": ("London", "Aarhus", "Oslo")[i % 3],
        "score": i % 100,
    }


def _hub(directory: Path, n: int) -> SQLiteAdapter:
    hub = SQLiteAdapter(directory / "hub.db", [CONTACTS], id_prefix="h", page_size=1000)
    with hub.transaction():
        for i in range(n):
            hub.put("contacts", values(i))
    return hub


def create(directory: Path, n: int) -> Callable[[], None]:
    """The timed part of ``create``."""
    hub = SQLiteAdapter(directory / "hub.db", [CONTACTS], id_prefix="h")

    def run() -> None:
        for start in range(0, n, 100):
            items = [NewRecord(values(i), "") for i in range(start, min(n, start + 100))]
            assert all(r.succeeded for r in hub.create("contacts", items))
        assert n == hub.count("contacts")
        hub.close()

    return run


def put(directory: Path, n: int) -> Callable[[], None]:
    """The timed part of ``put``."""
    hub = SQLiteAdapter(directory / "hub.db", [CONTACTS], id_prefix="h")

    def run() -> None:
        with hub.transaction():
            for i in range(n):
                hub.put("contacts", values(i))
        assert n == hub.count("contacts")
        hub.close()

    return run


def outside_insert(directory: Path, n: int) -> Callable[[], None]:
    """The timed part of ``outside_insert``."""
    SQLiteAdapter(directory / "hub.db", [CONTACTS], id_prefix="h").close()

    def run() -> None:
        conn = sqlite3.connect(directory / "hub.db")
        with conn:
            conn.executemany(
                "INSERT INTO contacts (email, firstname, lastname, city, score) "
                "VALUES (:email, :firstname, :lastname, :city, :score)",
                (values(i) for i in range(n)),
            )
        conn.close()
        with SQLiteAdapter(directory / "hub.db") as hub:
            changed = sum(len(p.records) for p in hub.scan("contacts", "c:0"))
            assert n == changed, changed

    return run


def outside_update(directory: Path, n: int) -> Callable[[], None]:
    """The timed part of ``outside_update``."""
    hub = _hub(directory, n)
    (page,) = list(hub.scan("contacts", "c:0"))[-1:]
    cursor = page.cursor
    hub.close()

    def run() -> None:
        conn = sqlite3.connect(directory / "hub.db")
        with conn:
            conn.execute("UPDATE contacts SET score = score + 1")
        conn.close()
        with SQLiteAdapter(directory / "hub.db") as reopened:
            changed = sum(len(p.records) for p in reopened.scan("contacts", cursor))
            assert n == changed, changed

    return run


def initial_sync(directory: Path, n: int) -> Callable[[], None]:
    """The timed part of ``initial_sync``."""
    hub = _hub(directory, n)
    app = SQLiteAdapter(directory / "app.db", [PEOPLE], id_prefix="a", page_size=1000)
    index = SQLiteIndexStore(directory / "index.db")
    engine = SyncEngine(hub, app, index, CONFIG)

    def run() -> None:
        report = engine.initial_sync()
        assert (n, 0) == (report.created, report.failed), report
        for closing in (hub, app, index):
            closing.close()

    return run


SCENARIOS: dict[str, Callable[[Path, int], Callable[[], None]]] = {
    "create": create,
    "put": put,
    "outside_insert": outside_insert,
    "outside_update": outside_update,
    "initial_sync": initial_sync,
}


def measure(name: str, n: int, repeat: int, base: Path | None) -> dict[str, object]:
    """Run scenario ``name`` ``repeat`` times on fresh files; the run of median time."""
    runs: list[tuple[float, float]] = []
    for _ in range(repeat):
        with tempfile.TemporaryDirectory(dir=base) as folder:
            timed = SCENARIOS[name](Path(folder), n)
            wall, cpu = time.perf_counter(), time.process_time()
            timed()
            runs.append((time.perf_counter() - wall, time.process_time() - cpu))
    seconds, cpu_seconds = sorted(runs)[len(runs) // 2]
    return {
        "scenario": name,
        "n": n,
        "seconds": round(seconds, 3),
        "per_record_us": round(seconds / n * 1e6, 2),
        "cpu_seconds": round(cpu_seconds, 3),
        "runs": repeat,
        "seconds_all": [round(s, 3) for s, _ in runs],
    }


def main(argv: list[str] | None = None) -> None:
    """Parse the arguments and print one JSON line per scenario."""
    parser = argparse.ArgumentParser(description=(__doc__ or "").splitlines()[0])
    parser.add_argument("--n", type=int, default=10_000, help="records per scenario")
    parser.add_argument("--repeat", type=int, default=1, help="runs per scenario (median)")
    parser.add_argument("--scenario", action="append", choices=sorted(SCENARIOS))
    parser.add_argument("--smoke", action="store_true", help=f"every scenario once, N={SMOKE_N}")
    parser.add_argument("--dir", type=Path, default=None, help="where the files go")
    args = parser.parse_args(argv)
    n, repeat = (SMOKE_N, 1) if args.smoke else (args.n, args.repeat)
    for name in args.scenario or SCENARIOS:
        print(json.dumps(measure(name, n, repeat, args.dir)), flush=True)


if __name__ == "__main__":
    sys.exit(main())
