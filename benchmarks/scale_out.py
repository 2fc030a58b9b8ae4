"""Benchmark of scale-out: one initial sync split between N worker processes.

Usage::

    python benchmarks/scale_out.py [--records 20000] [--workers 1 4] [--latency 0.05]
    python benchmarks/scale_out.py --smoke          # CI: 400 records, 1 and 2 workers

Two apps are SQLiteAdapter files on disk (the hub holds 60 % of the records, the app
40 %, and a tenth of all records exist in both with the same e-mail, so they pair); every
``fetch``, ``create`` and ``update`` call waits ``--latency`` seconds, as a remote API does
(scans are not slowed: every worker scans everything). The index is PostgreSQL:
``--dsn``, else ``SYNCENGINE_POSTGRES_DSN``, else a throwaway server this script starts
from the local PostgreSQL binaries (removed at the end); with none of them, a SQLite
index file (processes on one machine can share it too).

For each worker count, the apps are copied fresh, the index gets a fresh PostgreSQL
schema, and N processes (``scale_out.py --worker k/N …``) run
``SyncEngine(…, partition=(k, N)).initial_sync()`` at once. The time is from starting the
processes until the last one exits. Then it checks that every record was synced exactly
once: no e-mail twice on either side, both sides hold every e-mail, every entry synced.
Prints one JSON line per worker count::

    {"workers", "records", "latency", "seconds", "speedup", "index", "calls"}

and exits non-zero when a check fails.
"""

from __future__ import annotations

import argparse
import json
import os
import shutil
import subprocess
import sys
import tempfile
import time
import uuid
from pathlib import Path
from typing import Any

from syncengine import (
    FieldMapping,
    MatchRule,
    ObjectSchema,
    ObjectSync,
    PropertySpec,
    SyncConfig,
    SyncEngine,
)
from syncengine.adapters import SQLiteAdapter
from syncengine.index import IndexStore, SQLiteIndexStore
from syncengine.testing import FaultyAdapter

__all__ = ["main"]

SYNC = "scale-out"
HUB = ObjectSchema(
    "contacts",
    [
        PropertySpec("email", "string"),
        PropertySpec("firstname", "string"),
        PropertySpec("lastname", "string"),
        PropertySpec("city", "string"),
    ],
)
APP = ObjectSchema(
    "people",
    [
        PropertySpec("mail", "string"),
        PropertySpec("first_name", "string"),
        PropertySpec("last_name", "string"),
        PropertySpec("town", "string"),
    ],
)
CONFIG = SyncConfig(
    SYNC,
    [
        ObjectSync(
            "contacts",
            "people",
            [
                FieldMapping("email", "mail"),
                FieldMapping("firstname", "first_name"),
                FieldMapping("lastname", "last_name"),
                FieldMapping("city", "town"),
            ],
            match=MatchRule.email("email", "mail"),
        )
    ],
)


def make_apps(folder: Path, records: int) -> int:
    """Write hub.db and app.db; return how many distinct e-mails they hold together."""
    hub_count = records * 6 // 10
    app_count = records - hub_count
    shared = records // 10  # the app's first `shared` records have hub e-mails
    hub = SQLiteAdapter(folder / "hub.db", [HUB], id_prefix="h", page_size=100)
    app = SQLiteAdapter(folder / "app.db", [APP], id_prefix="a", page_size=100)
    with hub.transaction():
        for i in range(hub_count):
            hub.put("contacts", email=f"c{i}@example.com", firstname=f"F{i}", lastname="Hub")
    with app.transaction():
        for i in range(app_count):
            address = f"c{i}@example.com" if i < shared else f"p{i}@example.org"
            app.put("people", mail=address, first_name=f"F{i}", town="Aarhus")
    hub.close()
    app.close()
    return hub_count + app_count - shared


def open_index(spec: str) -> IndexStore:
    """``postgres:<schema>`` (DSN from the environment) or ``sqlite:<path>``."""
    kind, _, where = spec.partition(":")
    if kind == "postgres":
        from syncengine.index.postgres import PostgresIndexStore

        return PostgresIndexStore(os.environ["SYNCENGINE_POSTGRES_DSN"], schema=where)
    return SQLiteIndexStore(where)


def worker(partition: str, folder: Path, index_spec: str, latency: float) -> None:
    """One worker process: its partition of the initial sync."""
    part, parts = (int(n) for n in partition.split("/"))
    hub = FaultyAdapter(SQLiteAdapter(folder / "hub.db", page_size=100))
    app = FaultyAdapter(SQLiteAdapter(folder / "app.db", page_size=100))
    for adapter in (hub, app):
        adapter.latency(latency, ["fetch", "create", "update"])
    index = open_index(index_spec)
    try:
        engine = SyncEngine(hub, app, index, CONFIG, partition=(part, parts))
        engine.initial_sync()
    finally:
        index.close()
    calls = sum(hub.calls[m] + app.calls[m] for m in ("fetch", "create", "update"))
    print(json.dumps({"calls": calls}), flush=True)


def check(folder: Path, index_spec: str, distinct: int) -> list[str]:
    """What is wrong with the synced apps and index (nothing: ``[]``)."""
    problems = []
    hub = SQLiteAdapter(folder / "hub.db")
    app = SQLiteAdapter(folder / "app.db")
    hub_mails = [r.properties["email"] for r in hub.records("contacts")]
    app_mails = [r.properties["mail"] for r in app.records("people")]
    for side, mails in (("hub", hub_mails), ("app", app_mails)):
        if len(mails) != len(set(mails)):
            problems.append(f"{side}: {len(mails) - len(set(mails))} e-mails twice")
        if len(set(mails)) != distinct:
            problems.append(f"{side}: {len(set(mails))} e-mails, expected {distinct}")
    index = open_index(index_spec)
    try:
        status = SyncEngine(hub, app, index, CONFIG).status()["contacts"]
    finally:
        index.close()
    if status.synced != distinct or status.initial_running:
        problems.append(f"index: {status}, expected {distinct} synced")
    hub.close()
    app.close()
    return problems


def run(workers: int, template: Path, index_spec: str, latency: float) -> dict[str, Any]:
    """Run one initial sync with ``workers`` processes on fresh copies of the apps."""
    folder = Path(tempfile.mkdtemp(prefix="scale-out-"))
    try:
        for name in ("hub.db", "app.db"):
            shutil.copy(template / name, folder / name)
        started = time.perf_counter()
        children = [
            subprocess.Popen(
                [
                    sys.executable,
                    __file__,
                    "--worker",
                    f"{k}/{workers}",
                    "--folder",
                    str(folder),
                    "--index",
                    index_spec,
                    "--latency",
                    str(latency),
                ],
                stdout=subprocess.PIPE,
                text=True,
            )
            for k in range(workers)
        ]
        outputs = [child.communicate()[0] for child in children]
        seconds = time.perf_counter() - started
        if any(child.returncode for child in children):
            raise SystemExit(f"a worker failed: {[c.returncode for c in children]}")
        calls = sum(json.loads(out.strip().splitlines()[-1])["calls"] for out in outputs)
        distinct = int((template / "distinct").read_text())
        problems = check(folder, index_spec, distinct)
        if problems:
            raise SystemExit(f"{workers} workers: " + "; ".join(problems))
        return {"workers": workers, "seconds": round(seconds, 2), "calls": calls}
    finally:
        shutil.rmtree(folder, ignore_errors=True)


def _server() -> tuple[str | None, Any]:
    """A DSN (and a server to stop, or None): the environment's, or one started here."""
    dsn = os.environ.get("SYNCENGINE_POSTGRES_DSN")
    if dsn:
        return dsn, None
    try:
        import psycopg  # noqa: F401
    except ImportError:
        return None, None
    helper = Path(__file__).resolve().parents[1] / "tests" / "postgres_server.py"
    if not helper.exists():
        return None, None
    import importlib.util

    spec = importlib.util.spec_from_file_location("postgres_server", helper)
    assert spec is not None
    assert spec.loader is not None
    module = importlib.util.module_from_spec(spec)
    spec.loader.exec_module(module)
    if module.binaries() is None:
        return None, None
    server = module.start()
    return server.dsn, (module, server)


def main(argv: list[str] | None = None) -> None:
    """Run the benchmark (or, with ``--worker``, one worker of it)."""
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--records", type=int, default=20_000)
    parser.add_argument("--workers", type=int, nargs="+", default=[1, 4])
    parser.add_argument("--latency", type=float, default=0.05, help="seconds per call")
    parser.add_argument("--dsn", help="PostgreSQL to use (default: SYNCENGINE_POSTGRES_DSN)")
    parser.add_argument("--smoke", action="store_true", help="CI: tiny, just keep it working")
    parser.add_argument("--worker", help=argparse.SUPPRESS)
    parser.add_argument("--folder", help=argparse.SUPPRESS)
    parser.add_argument("--index", help=argparse.SUPPRESS)
    args = parser.parse_args(argv)
    if args.worker:
        worker(args.worker, Path(args.folder), args.index, args.latency)
        return
    if args.smoke:
        args.records, args.workers, args.latency = 400, [1, 2], 0.005
    if args.dsn:
        os.environ["SYNCENGINE_POSTGRES_DSN"] = args.dsn
    dsn, started = _server()
    template = Path(tempfile.mkdtemp(prefix="scale-out-template-"))
    schemas: list[str] = []
    try:
        distinct = make_apps(template, args.records)
        (template / "distinct").write_text(str(distinct))
        base: float | None = None
        for workers in args.workers:
            if dsn is not None:
                os.environ["SYNCENGINE_POSTGRES_DSN"] = dsn
                schemas.append(f"bench_{uuid.uuid4().hex[:10]}")
                index_spec = f"postgres:{schemas[-1]}"
            else:
                index_spec = f"sqlite:{template / f'index-{workers}.db'}"
            result = run(workers, template, index_spec, args.latency)
            base = base or result["seconds"] * workers if workers == 1 else base
            result.update(
                records=args.records,
                latency=args.latency,
                index=index_spec.partition(":")[0],
                speedup=round(base / result["seconds"], 2) if base else None,
            )
            print(json.dumps(result), flush=True)
    finally:
        if dsn is not None and schemas:
            import psycopg

            with psycopg.connect(dsn, autocommit=True) as conn:
                for schema in schemas:
                    conn.execute(f'DROP SCHEMA IF EXISTS "{schema}" CASCADE')
        if started is not None:
            started[0].stop(started[1])
        shutil.rmtree(template, ignore_errors=True)


if __name__ == "__main__":
    main()
