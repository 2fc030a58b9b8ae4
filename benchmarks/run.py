"""Benchmarks of the sync engine: initial and incremental syncs of N contacts.

Usage::

    python benchmarks/run.py [--n N] [--scenario NAME ...] [--smoke] [--dir DIR]
                             [--repeat K] [--page-size P] [--batch-size B] [--profile]

Scenarios (see ``benchmarks/README.md``): ``initial_one_sided``, ``initial_matched``,
``incremental_noop``, ``incremental_1pct``, ``conflict_1pct``. Both apps are
:class:`~_synthetic.SyntheticAdapter` instances (records generated from their index, so
memory measures the engine), the index is a :class:`~syncengine.index.SQLiteIndexStore`
on disk, and contacts have 8 mapped string fields matched by e-mail.

Each scenario runs in a fresh subprocess (so that one scenario's memory does not pollute
another's) and prints one JSON line::

    {"scenario", "n", "seconds", "per_record_us", "peak_rss_mb", ...}

``per_record_us`` is over N for the initial scenarios (which also print
``index_bytes_per_entry``) and over the changed records for the incremental ones. Only the
engine's pass is timed; building the starting state is not. The incremental scenarios
start from a state built once per run by a ``setup`` subprocess: ``initial_matched``
followed by one incremental pass that takes in the echoes of the engine's own writes.

``--smoke`` runs every scenario once at N = 2,000 (CI); any error exits non-zero.
"""

from __future__ import annotations

import argparse
import cProfile
import json
import os
import resource
import shutil
import sqlite3
import statistics
import subprocess
import sys
import tempfile
import time
from collections.abc import Callable
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
)

from syncengine import FieldMapping, MatchRule, ObjectSync, Side, SyncConfig, SyncEngine
from syncengine.adapters import AdapterStats
from syncengine.index import SQLiteIndexStore
from syncengine.report import SyncEvent

__all__ = ["main"]

SCENARIOS: Final = (
    "initial_one_sided",
    "initial_matched",
    "incremental_noop",
    "incremental_1pct",
    "conflict_1pct",
)
INCREMENTAL: Final = frozenset(SCENARIOS[2:])
SMOKE_N: Final = 2_000
SYNC_ID: Final = "bench"


class BenchmarkError(Exception):
    """A scenario did not do what it should (wrong counts): its figures mean nothing."""


def config() -> SyncConfig:
    """Contacts, 8 mapped string fields, matched by e-mail; the hub wins conflicts."""
    mappings = [FieldMapping(hub, app) for hub, app in zip(HUB_NAMES, APP_NAMES, strict=True)]
    contacts = ObjectSync(TYPE, TYPE, mappings, match=MatchRule([("email", "Email")]))
    return SyncConfig(SYNC_ID, [contacts])


def peak_rss_mb() -> float:
    """Peak resident set size of this process so far, in MB."""
    peak = resource.getrusage(resource.RUSAGE_SELF).ru_maxrss
    return round(peak / (1024 * 1024 if sys.platform == "darwin" else 1024), 1)


def index_bytes_per_entry(path: str) -> float:
    """The database file's size per entry (used pages only; the store must be closed)."""
    conn = sqlite3.connect(path)
    try:
        conn.execute("PRAGMA wal_checkpoint(TRUNCATE)")
        pages, free, size = (
            conn.execute(f"PRAGMA {name}").fetchone()[0]
            for name in ("page_count", "freelist_count", "page_size")
        )
        entries = conn.execute("SELECT count(*) FROM entries").fetchone()[0]
    finally:
        conn.close()
    return round((pages - free) * size / max(1, entries), 1)


def reads(used: AdapterStats, per: int, minimum: float) -> dict[str, int | float | None]:
    """One side's adapter use during a pass: ``calls`` (every method), ``read_requests``
    (scan pages and fetch calls), ``records_read`` (by scans and fetches), and
    ``per_record``, records read over ``per`` records, beside its ``minimum``."""
    read = used.records_read()
    return {
        "calls": used.count_calls(),
        "read_requests": used.reads(),
        "records_read": read,
        "per_record": round(read / per, 3) if per else None,
        "minimum": minimum if per else None,
    }


def expect(what: str, expected: int, actual: int) -> None:
    """Fail the scenario when a count is not what it must be."""
    if expected != actual:
        raise BenchmarkError(f"{what}: expected {expected}, got {actual}")


# ---- one scenario, in a worker process --------------------------------------------------
class PhaseTimer:
    """An ``on_event`` handler that adds up the seconds spent in each phase of a pass."""

    def __init__(self) -> None:
        self.seconds: dict[str, float] = {}
        self._phase: str | None = None
        self._since = time.perf_counter()

    def __call__(self, event: SyncEvent) -> None:
        now = time.perf_counter()
        if self._phase is not None:
            self.seconds[self._phase] = self.seconds.get(self._phase, 0.0) + now - self._since
        self._phase, self._since = event.phase, now

    def rounded(self) -> dict[str, float]:
        """Seconds per phase, rounded for printing."""
        return {phase: round(seconds, 3) for phase, seconds in self.seconds.items()}


class Worker:
    """Builds the apps, the index and the engine of one scenario, and times its pass."""

    def __init__(self, args: argparse.Namespace) -> None:
        self.n: int = args.n
        self.dir: str = args.dir
        self.page_size: int = args.page_size
        self.batch_size: int = args.batch_size
        self.profile: bool = args.profile
        self.no_pass: bool = args.no_pass
        self.scenario: str = args.worker
        self.cpu_seconds = 0.0

    def adapters(self, app_records: int) -> tuple[SyntheticAdapter, SyntheticAdapter]:
        """The hub with N contacts, the app with ``app_records`` of the same people."""
        hub = SyntheticAdapter(
            HUB,
            self.n,
            name="hub",
            id_prefix="h",
            page_size=self.page_size,
            max_batch_size=self.batch_size,
        )
        app = SyntheticAdapter(
            APP,
            app_records,
            name="app",
            id_prefix="a",
            page_size=self.page_size,
            max_batch_size=self.batch_size,
        )
        return hub, app

    def timed(self, step: Callable[[], Any]) -> tuple[float, Any]:
        """Run ``step``; return its seconds and result (profiled with ``--profile``)."""
        profiler = cProfile.Profile() if self.profile else None
        started, cpu = time.perf_counter(), time.process_time()
        result = profiler.runcall(step) if profiler is not None else step()
        seconds = time.perf_counter() - started
        self.cpu_seconds = time.process_time() - cpu
        if profiler is not None:
            out = os.path.join(self.dir, f"{self.scenario}-{self.n}.prof")
            profiler.dump_stats(out)
            print(f"profile written to {out}", file=sys.stderr)
        return seconds, result

    def path(self, name: str) -> str:
        """A file of this run in the benchmark directory."""
        return os.path.join(self.dir, f"{name}-{self.n}")

    def run(self) -> dict[str, Any]:
        """Run the scenario; return its figures."""
        if self.scenario in ("initial_one_sided", "initial_matched"):
            return self.initial(matched=self.scenario == "initial_matched")
        if self.scenario == "setup":
            return self.setup()
        return self.incremental()

    def initial(self, *, matched: bool) -> dict[str, Any]:
        """An initial sync of N hub contacts, with the app empty or holding the same N."""
        n = self.n
        hub, app = self.adapters(n if matched else 0)
        db = self.path(f"{self.scenario}.db")
        remove_db(db)
        store = SQLiteIndexStore(db)
        phases = PhaseTimer()
        engine = SyncEngine(hub, app, store, config(), on_event=phases)
        hub_before, app_before = hub.stats(), app.stats()
        seconds, report = self.timed(engine.initial_sync)
        store.close()
        # Each side's records read once; an empty app's scan reads nothing.
        used = {
            "hub": reads(hub.stats() - hub_before, n, 1.0),
            "app": reads(app.stats() - app_before, n, 1.0 if matched else 0.0),
        }
        expect("failed", 0, report.failed)
        expect("excluded", 0, report.excluded)
        if matched:
            # Every app e-mail is spelled differently (the hub's spelling wins), and half
            # of the app's titles differ: one update per app record, none in the hub.
            expect("app updates", n, report.side(TYPE, Side.APP).updated)
            expect("hub writes", 0, report.side(TYPE, Side.HUB).updated)
            expect("creates", 0, report.created)
        else:
            expect("app creates", n, report.side(TYPE, Side.APP).created)
            expect("app size", n, app.size)
        figures = {
            "scenario": self.scenario,
            "n": n,
            "seconds": round(seconds, 3),
            "per_record_us": round(seconds / n * 1e6, 2),
            "peak_rss_mb": peak_rss_mb(),
            "index_bytes_per_entry": index_bytes_per_entry(db),
            "cpu_seconds": round(self.cpu_seconds, 3),
            "phase_seconds": phases.rounded(),
            "reads": used,
            "page_size": self.page_size,
            "batch_size": self.batch_size,
        }
        remove_db(db)
        return figures

    def setup(self) -> dict[str, Any]:
        """The starting state of the incremental scenarios, saved for them to copy."""
        n = self.n
        hub, app = self.adapters(n)
        db = self.path("base.db")
        remove_db(db)
        store = SQLiteIndexStore(db)
        engine = SyncEngine(hub, app, store, config())
        started = time.perf_counter()
        report = engine.initial_sync()
        expect("failed", 0, report.failed)
        initial = time.perf_counter() - started
        # The app scan of the next pass returns the engine's own N updates: take them in
        # now, so that the scenarios start from a quiet state.
        started = time.perf_counter()
        echo = engine.incremental_sync()
        echo_seconds = time.perf_counter() - started
        expect("echo pass writes", 0, echo.writes)
        expect("echo pass failures", 0, echo.failed)
        store.close()
        hub.save(self.path("hub.state"))
        app.save(self.path("app.state"))
        return {
            "scenario": "setup",
            "n": n,
            "initial_seconds": round(initial, 3),
            "echo_pass_seconds": round(echo_seconds, 3),
            "echoes": app.changes,
            "peak_rss_mb": peak_rss_mb(),
        }

    def incremental(self) -> dict[str, Any]:
        """One incremental pass after the setup state, with the scenario's changes."""
        n = self.n
        hub, app = self.adapters(n)
        hub.load(self.path("hub.state"))
        app.load(self.path("app.state"))
        db = self.path(f"{self.scenario}.db")
        remove_db(db)
        shutil.copyfile(self.path("base.db"), db)
        store = SQLiteIndexStore(db)
        engine = SyncEngine(hub, app, store, config())
        hub_changes, app_changes = scenario_changes(self.scenario, hub, app, n)
        changed_hub, changed_app = len(hub_changes), len(app_changes)
        if self.no_pass:  # instructions.py: everything but the pass, to subtract
            store.close()
            remove_db(db)
            return {"scenario": self.scenario, "n": n, "changed": changed_hub + changed_app}
        hub_before, app_before = hub.stats(), app.stats()
        seconds, report = self.timed(engine.incremental_sync)
        store.close()
        remove_db(db)
        # Per record changed on that side; its minimum: each changed record read once.
        used = {
            "hub": reads(hub.stats() - hub_before, changed_hub, 1.0),
            "app": reads(app.stats() - app_before, changed_app, 1.0),
        }
        expect("failed", 0, report.failed)
        if self.scenario == "incremental_noop":
            expect("writes", 0, report.writes)
        elif self.scenario == "incremental_1pct":
            expect("app updates", changed_hub, report.side(TYPE, Side.APP).updated)
            expect("hub updates", changed_app, report.side(TYPE, Side.HUB).updated)
        else:  # conflict: the hub wins every field changed on both sides (D3)
            expect("app updates", changed_hub, report.side(TYPE, Side.APP).updated)
            expect("hub updates", 0, report.side(TYPE, Side.HUB).updated)
        changed = changed_hub + changed_app
        return {
            "scenario": self.scenario,
            "n": n,
            "changed": changed,
            "seconds": round(seconds, 4),
            "per_record_us": round(seconds / changed * 1e6, 2) if changed else None,
            "peak_rss_mb": peak_rss_mb(),
            "cpu_seconds": round(self.cpu_seconds, 4),
            "reads": used,
            "page_size": self.page_size,
            "batch_size": self.batch_size,
        }


def remove_db(path: str) -> None:
    """Remove a database file and its WAL side files, if present."""
    for suffix in ("", "-wal", "-shm"):
        if os.path.exists(path + suffix):
            os.remove(path + suffix)


# ---- the driver ---------------------------------------------------------------------
def spawn(args: argparse.Namespace, scenario: str) -> dict[str, Any]:
    """Run one scenario in a fresh subprocess; return its JSON figures."""
    command = [
        sys.executable,
        os.path.abspath(__file__),
        "--worker",
        scenario,
        "--n",
        str(args.n),
        "--dir",
        args.dir,
        "--page-size",
        str(args.page_size),
        "--batch-size",
        str(args.batch_size),
    ]
    if args.profile:
        command.append("--profile")
    done = subprocess.run(command, stdout=subprocess.PIPE, text=True, check=False)
    if done.returncode != 0:
        raise BenchmarkError(f"{scenario} failed (exit status {done.returncode})")
    lines = done.stdout.strip().splitlines()
    if not lines:
        raise BenchmarkError(f"{scenario} printed nothing")
    figures: dict[str, Any] = json.loads(lines[-1])
    return figures


def summarize(runs: list[dict[str, Any]]) -> dict[str, Any]:
    """One line for several runs of a scenario: medians, and every run's seconds."""
    if len(runs) == 1:
        return runs[0]
    # The run of median time gives the line (its phases and per-record figures); the
    # peak RSS is the median of all runs.
    out = dict(sorted(runs, key=lambda run: float(run["seconds"]))[(len(runs) - 1) // 2])
    out["peak_rss_mb"] = statistics.median(float(run["peak_rss_mb"]) for run in runs)
    out["runs"] = len(runs)
    out["seconds_all"] = [run["seconds"] for run in runs]
    return out


def main(argv: list[str] | None = None) -> int:
    """Run the chosen scenarios, each in its own process, and print their figures."""
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--n", type=int, default=100_000, help="records (default 100,000)")
    parser.add_argument(
        "--scenario",
        action="append",
        choices=SCENARIOS,
        help="a scenario to run (repeatable; default: all)",
    )
    parser.add_argument("--smoke", action="store_true", help=f"every scenario once, N={SMOKE_N}")
    parser.add_argument("--dir", help="where the index files go (default: a temporary dir)")
    parser.add_argument("--repeat", type=int, default=1, help="runs per scenario (median)")
    parser.add_argument("--page-size", type=int, default=1000, help="records per scan page")
    parser.add_argument("--batch-size", type=int, default=100, help="adapters' max_batch_size")
    parser.add_argument("--profile", action="store_true", help="cProfile the timed pass")
    parser.add_argument("--worker", help=argparse.SUPPRESS)
    parser.add_argument("--no-pass", action="store_true", help=argparse.SUPPRESS)
    args = parser.parse_args(argv)
    if args.worker:
        try:
            figures = Worker(args).run()
        except BenchmarkError as error:
            print(f"{args.worker}: {error}", file=sys.stderr)
            return 1
        print(json.dumps(figures), flush=True)
        return 0
    if args.smoke:
        args.n, args.scenario, args.repeat = SMOKE_N, list(SCENARIOS), 1
    if args.n < 100:
        parser.error("--n must be at least 100")
    scenarios = args.scenario or list(SCENARIOS)
    with tempfile.TemporaryDirectory(prefix="syncengine-bench-") as tmp:
        if args.dir is None:
            args.dir = tmp
        os.makedirs(args.dir, exist_ok=True)
        failed = 0
        if INCREMENTAL.intersection(scenarios):
            try:
                print(json.dumps(spawn(args, "setup")), file=sys.stderr, flush=True)
            except BenchmarkError as error:
                print(error, file=sys.stderr)
                return 1
        for scenario in scenarios:
            runs = []
            for _ in range(max(1, args.repeat)):
                try:
                    runs.append(spawn(args, scenario))
                except BenchmarkError as error:
                    print(error, file=sys.stderr)
                    failed += 1
                    break
            if runs:
                print(json.dumps(summarize(runs)), flush=True)
    return 1 if failed else 0


if __name__ == "__main__":
    sys.exit(main())
