"""Benchmark: export N index entries to CSV and JSON lines, streaming (SPEC R5).

    python benchmarks/export.py [--n 1000000] [--smoke]

Fills a SQLiteIndexStore with N synced entries in batches (never all in memory), then
times ``engine.export`` to CSV and to JSON lines, and ``engine.status()``. Prints one JSON
line per scenario: scenario, n, seconds, per_record_us, peak_rss_mb. Peak RSS staying flat
as N grows is the point: the export streams.
"""

from __future__ import annotations

import argparse
import json
import os
import resource
import tempfile
import time
from datetime import UTC, datetime
from pathlib import Path

from syncengine import (
    ErrorCategory,
    FieldMapping,
    MatchRule,
    ObjectSchema,
    ObjectSync,
    PropertySpec,
    RecordState,
    SyncConfig,
    SyncEngine,
)
from syncengine.adapters import InMemoryAdapter
from syncengine.index import Entry, HistoryItem, SQLiteIndexStore

FIELDS = ("email", "first", "last", "phone", "city", "title", "company", "country")


def peak_rss_mb() -> float:
    """Peak resident memory of this process so far, in MB."""
    return resource.getrusage(resource.RUSAGE_SELF).ru_maxrss / 1024


def fill(store: SQLiteIndexStore, n: int, batch: int = 2000) -> None:
    """Write n synced entries (a few failed) in batches."""
    now = datetime(2024, 1, 1, tzinfo=UTC)
    for start in range(0, n, batch):
        entries = []
        for i in range(start, min(n, start + batch)):
            values = {f: f"{f}-{i}" for f in FIELDS}
            values["email"] = f"person{i}@example.com"
            failed = i % 97 == 0
            entries.append(
                Entry(
                    sync_id="bench",
                    object_type="contacts",
                    entry_id=f"h:{i}",
                    updated_at=now,
                    hub_id=str(i),
                    app_id=f"a{i}",
                    state=RecordState.FAILED if failed else RecordState.SYNCED,
                    keys=frozenset({f"0:person{i}@example.com"}),
                    matched_by="0:x",
                    hub_values=values,
                    app_values=values,
                    category=ErrorCategory.VALIDATION if failed else None,
                    message="=1+1 formula-looking message" if failed else "",
                    history=(HistoryItem(now, "synced", "created on app"),),
                )
            )
        store.write(entries)


def engine_for(store: SQLiteIndexStore) -> SyncEngine:
    """An engine over empty apps, to use its listing and export."""
    hub = InMemoryAdapter([ObjectSchema("contacts", [PropertySpec(f, "string") for f in FIELDS])])
    app = InMemoryAdapter([ObjectSchema("people", [PropertySpec(f, "string") for f in FIELDS])])
    config = SyncConfig(
        "bench",
        [
            ObjectSync(
                "contacts",
                "people",
                [FieldMapping(f, f) for f in FIELDS],
                match=MatchRule.email(),
            )
        ],
    )
    return SyncEngine(hub, app, store, config)


def emit(scenario: str, n: int, seconds: float, **extra: object) -> None:
    """Print one JSON line."""
    line = {
        "scenario": scenario,
        "n": n,
        "seconds": round(seconds, 3),
        "per_record_us": round(seconds / max(n, 1) * 1e6, 2),
        "peak_rss_mb": round(peak_rss_mb(), 1),
        **extra,
    }
    print(json.dumps(line), flush=True)


def main(argv: list[str] | None = None) -> None:
    """Run the export benchmark."""
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--n", type=int, default=1_000_000)
    parser.add_argument("--smoke", action="store_true", help="a tiny run for CI")
    args = parser.parse_args(argv)
    n = 2_000 if args.smoke else args.n
    with tempfile.TemporaryDirectory() as folder:
        store = SQLiteIndexStore(Path(folder) / "index.db")
        started = time.perf_counter()
        fill(store, n)
        emit("fill_index", n, time.perf_counter() - started)
        engine = engine_for(store)
        started = time.perf_counter()
        engine.status()
        emit("status", n, time.perf_counter() - started)
        for fmt in ("csv", "jsonl"):
            out = Path(folder) / f"export.{fmt}"
            started = time.perf_counter()
            rows = engine.export(out, fmt)  # type: ignore[arg-type]
            seconds = time.perf_counter() - started
            assert rows == n, (rows, n)
            emit(f"export_{fmt}", n, seconds, file_mb=round(os.path.getsize(out) / 1e6, 1))
        store.close()


if __name__ == "__main__":
    main()
