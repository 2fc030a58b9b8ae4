"""A peer to measure the engine against: vdirsyncer 0.21's both-sides initial sync.

Usage::

    python benchmarks/vdirsyncer_peer.py [--n N] [--repeat K] [--python PATH]
                                         [--no-install] [--no-floor] [--smoke] [--dir DIR]

vdirsyncer (https://github.com/pimutils/vdirsyncer) keeps two collections of contacts or
calendars in sync; its ``sync()`` is the closest open-source peer of an initial sync.
This script times it on the work of ``run.py``'s ``initial_matched``: two
``MemoryStorage`` collections holding the same N vCards (the synthetic people's eight
fields), so its sync lists both sides, reads every item, matches all of them by UID,
writes none, and records each pair in a ``SqliteStatus`` file on disk. In the same run,
alternating with it, the script times the engine's ``initial_matched`` (a ``run.py``
worker) and the floor's (a ``floor.py`` worker) at the same N, and prints one JSON line
per side with the median of K runs, then one line comparing them::

    {"side": "vdirsyncer", "version": "0.21.0", "n": …, "per_record_us": …,
     "cpu_per_record_us": …, "seconds_all": […], …}
    {"comparison": …, "engine_us": …, "vdirsyncer_us": …, "floor_us": …,
     "vdirsyncer_over_engine": …, "engine_over_floor": …}

vdirsyncer is not a dependency of syncengine. The script runs it with a Python that has
it: ``--python PATH``, or a virtual environment of its own under the user's cache
directory (``$XDG_CACHE_HOME`` or ``~/.cache``, then ``syncengine-bench/vdirsyncer-0.21``),
which it makes with ``pip install 'vdirsyncer==0.21.*'`` on first use (``--no-install``
forbids that). Each run is a fresh process. ``--smoke`` (CI: N = 2,000, one run) never
installs anything: when no vdirsyncer is at hand it says that the peer is skipped, and
why, and still runs the engine's side. Otherwise a vdirsyncer that cannot be found or
installed is an error (exit 1), as is any failure of a side that ran.
"""

from __future__ import annotations

import argparse
import json
import os
import resource
import statistics
import subprocess
import sys
import tempfile
import time
from pathlib import Path
from typing import Any, Final

__all__ = ["main"]

HERE: Final = Path(__file__).resolve().parent
VERSION: Final = "0.21"
SMOKE_N: Final = 2_000
SCENARIO: Final = "initial_matched"

_FIRST: Final = ("Ada", "Grace", "Alan", "Edsger", "Barbara", "Donald", "Frances", "Ken", "Joan")
_LAST: Final = ("Lovelace", "Hopper", "Turing", "Dijkstra", "Liskov", "Knuth", "Allen", "Clarke")
_CITY: Final = ("London", "Copenhagen", "Aarhus", "Berlin", "New York", "Zürich", "Oslo", "Paris")
_COUNTRY: Final = ("United Kingdom", "Denmark", "Germany", "United States", "Switzerland", "Norway")
_TITLE: Final = ("Engineer", "CTO", "Head of Sales", "Account Manager", "Founder", "Analyst")
_DOMAIN: Final = ("example.com", "mail.example.org", "acme.io", "globex.dk", "initech.co.uk")


class BenchmarkError(Exception):
    """A side failed or did not do the work it must: its figure means nothing."""


# ---- the peer's side: runs in the Python that has vdirsyncer (stdlib + vdirsyncer only) ----
def vcard(i: int) -> str:
    """Person ``i`` as a vCard 3.0: the synthetic apps' eight fields (``_synthetic.py``)."""
    first, last = _FIRST[i % 9], _LAST[i % 8]
    email = f"{first.lower()}.{last.lower()}.{i}@{_DOMAIN[i % 5]}"
    company = f"{_LAST[(i >> 3) % 72 // 9]} & {_FIRST[(i >> 3) % 72 % 9]} ApS"
    return "\r\n".join(
        (
            "BEGIN:VCARD",
            "VERSION:3.0",
            f"UID:person-{i}",
            f"FN:{first} {last}",
            f"N:{last};{first};;;",
            f"EMAIL;TYPE=INTERNET:{email}",
            f"TEL;TYPE=CELL:+45 {20000000 + i * 7 % 79999999}",
            f"ORG:{company}",
            f"TITLE:{_TITLE[i % 6]}",
            f"ADR;TYPE=WORK:;;;{_CITY[i & 7]};;;{_COUNTRY[i % 6]}",
            "END:VCARD",
            "",
        )
    )


def peer_worker(n: int, directory: str) -> dict[str, Any]:
    """Time vdirsyncer's ``sync()`` of two MemoryStorages holding the same ``n`` vCards."""
    import asyncio

    import vdirsyncer
    from vdirsyncer.storage.memory import MemoryStorage
    from vdirsyncer.sync import sync
    from vdirsyncer.sync.status import SqliteStatus
    from vdirsyncer.vobject import Item

    async def fill(storage: MemoryStorage) -> None:
        for i in range(n):
            await storage.upload(Item(vcard(i)))

    a, b = MemoryStorage(fileext=".vcf"), MemoryStorage(fileext=".vcf")
    asyncio.run(fill(a))
    asyncio.run(fill(b))
    before = (dict(a.items), dict(b.items))
    path = os.path.join(directory, f"vdirsyncer-status-{n}.sqlite")
    if os.path.exists(path):
        os.remove(path)
    status = SqliteStatus(path)
    started, cpu = time.perf_counter(), time.process_time()
    asyncio.run(sync(a, b, status))
    seconds = time.perf_counter() - started
    cpu_seconds = time.process_time() - cpu
    pairs = status._c.execute("SELECT count(*) FROM status").fetchone()[0]
    status.close()
    os.remove(path)
    if pairs != n:
        raise BenchmarkError(f"vdirsyncer recorded {pairs} pairs, expected {n}")
    if (a.items, b.items) != before:
        raise BenchmarkError("vdirsyncer wrote to a storage: the items were not all equal")
    return {
        "side": "vdirsyncer",
        "version": vdirsyncer.__version__,
        "n": n,
        "seconds": round(seconds, 3),
        "per_record_us": round(seconds / n * 1e6, 2),
        "cpu_seconds": round(cpu_seconds, 3),
        "cpu_per_record_us": round(cpu_seconds / n * 1e6, 2),
        "peak_rss_mb": round(resource.getrusage(resource.RUSAGE_SELF).ru_maxrss / 1024, 1),
    }


# ---- the driver: runs with syncengine's Python ------------------------------------------
def default_venv() -> Path:
    """Where the script keeps its own vdirsyncer: under the user's cache directory."""
    cache = os.environ.get("XDG_CACHE_HOME") or os.path.join(Path.home(), ".cache")
    return Path(cache) / "syncengine-bench" / f"vdirsyncer-{VERSION}"


def vdirsyncer_version(python: str) -> str:
    """The vdirsyncer version ``python`` imports; raises BenchmarkError if it cannot."""
    done = subprocess.run(
        [python, "-c", "import vdirsyncer; print(vdirsyncer.__version__)"],
        capture_output=True,
        text=True,
        check=False,
    )
    if done.returncode != 0:
        lines = done.stderr.strip().splitlines() or ["no output"]
        raise BenchmarkError(f"{python} cannot import vdirsyncer ({lines[-1]})")
    return done.stdout.strip()


def find_peer(args: argparse.Namespace) -> tuple[str | None, str]:
    """The Python to run vdirsyncer with, or None and the reason it is skipped."""
    if args.python:
        candidates = [args.python]
    else:
        venv = default_venv()
        python = venv / "bin" / "python"
        if not python.exists():
            if args.smoke or args.no_install:
                flag = "--smoke" if args.smoke else "--no-install"
                return None, (
                    f"vdirsyncer {VERSION} is not installed in {venv} and {flag} installs "
                    f"nothing (run without it to install, or pass --python)"
                )
            print(f"installing vdirsyncer {VERSION} into {venv} …", file=sys.stderr)
            steps = (
                [sys.executable, "-m", "venv", str(venv)],
                [str(python), "-m", "pip", "install", "-q", f"vdirsyncer=={VERSION}.*"],
            )
            for step in steps:
                done = subprocess.run(step, capture_output=True, text=True, check=False)
                if done.returncode != 0:
                    lines = done.stderr.strip().splitlines() or ["no output"]
                    return None, f"installing vdirsyncer failed: {lines[-1]}"
        candidates = [str(python)]
    try:
        version = vdirsyncer_version(candidates[0])
    except BenchmarkError as error:
        return None, str(error)
    if not version.startswith(f"{VERSION}."):
        return None, f"{candidates[0]} has vdirsyncer {version}, not {VERSION}"
    return candidates[0], version


def run(command: list[str], what: str) -> dict[str, Any]:
    """Run one worker; return the JSON line it printed last."""
    done = subprocess.run(command, capture_output=True, text=True, check=False, cwd=HERE)
    if done.returncode != 0:
        raise BenchmarkError(f"{what} failed (exit {done.returncode}):\n{done.stderr[-2000:]}")
    lines = done.stdout.strip().splitlines()
    if not lines:
        raise BenchmarkError(f"{what} printed nothing")
    figures: dict[str, Any] = json.loads(lines[-1])
    return figures


def summary(side: str, runs: list[dict[str, Any]]) -> dict[str, Any]:
    """Medians of a side's runs (wall and CPU µs per record), with every run's figure."""
    n = runs[0]["n"]
    wall = [float(run["per_record_us"]) for run in runs]
    cpu = [float(run["cpu_seconds"]) / n * 1e6 for run in runs]
    out: dict[str, Any] = {
        "side": side,
        "n": n,
        "per_record_us": round(statistics.median(wall), 2),
        "cpu_per_record_us": round(statistics.median(cpu), 2),
        "runs": len(runs),
        "per_record_us_all": wall,
        "peak_rss_mb": statistics.median(float(run.get("peak_rss_mb", 0)) for run in runs),
    }
    if "version" in runs[0]:
        out["version"] = runs[0]["version"]
    if "reads" in runs[0]:
        out["reads"] = runs[0]["reads"]
    return out


def main(argv: list[str] | None = None) -> int:
    """Time the engine, vdirsyncer and the floor alternately; print their medians."""
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--n", type=int, default=100_000, help="records (default 100,000)")
    parser.add_argument("--repeat", type=int, default=3, help="runs per side (median; 3)")
    parser.add_argument("--python", help="a Python that imports vdirsyncer 0.21")
    parser.add_argument("--no-install", action="store_true", help="never make the venv")
    parser.add_argument("--no-floor", action="store_true", help="leave floor.py out")
    parser.add_argument("--smoke", action="store_true", help=f"one run, N={SMOKE_N} (CI)")
    parser.add_argument("--dir", help="where the index and status files go")
    parser.add_argument("--peer-worker", action="store_true", help=argparse.SUPPRESS)
    args = parser.parse_args(argv)
    if args.smoke:
        args.n, args.repeat = SMOKE_N, 1
    if args.n < 100:
        parser.error("--n must be at least 100")
    with tempfile.TemporaryDirectory(prefix="syncengine-peer-") as temporary:
        directory = args.dir or temporary
        os.makedirs(directory, exist_ok=True)
        if args.peer_worker:  # in the Python that has vdirsyncer
            try:
                print(json.dumps(peer_worker(args.n, directory)), flush=True)
            except BenchmarkError as error:
                print(error, file=sys.stderr)
                return 1
            return 0
        python, why = find_peer(args)
        if python is None:
            if not args.smoke:  # asked for the comparison: no figure without the peer
                print(f"vdirsyncer is not available: {why}", file=sys.stderr)
                return 1
            print(json.dumps({"side": "vdirsyncer", "skipped": why}), flush=True)
        sides: dict[str, list[str]] = {
            "engine": [sys.executable, str(HERE / "run.py"), "--worker", SCENARIO],
        }
        if python is not None:
            sides["vdirsyncer"] = [python, str(HERE / "vdirsyncer_peer.py"), "--peer-worker"]
        if not args.no_floor:
            sides["floor"] = [sys.executable, str(HERE / "floor.py"), "--worker", SCENARIO]
        runs: dict[str, list[dict[str, Any]]] = {side: [] for side in sides}
        try:
            for _ in range(max(1, args.repeat)):  # alternate: the machine's mood hits all
                for side, command in sides.items():
                    figures = run([*command, "--n", str(args.n), "--dir", directory], side)
                    print(json.dumps({"side": side, **figures}), file=sys.stderr, flush=True)
                    runs[side].append(figures)
        except BenchmarkError as error:
            print(error, file=sys.stderr)
            return 1
    medians = {side: summary(side, side_runs) for side, side_runs in runs.items()}
    for line in medians.values():
        print(json.dumps(line), flush=True)
    us = {side: line["per_record_us"] for side, line in medians.items()}
    comparison: dict[str, Any] = {"comparison": SCENARIO, "n": args.n, "runs": args.repeat}
    comparison.update({f"{side}_us": value for side, value in us.items()})
    if "vdirsyncer" in us:
        comparison["vdirsyncer_over_engine"] = round(us["vdirsyncer"] / us["engine"], 2)
    if "floor" in us:
        comparison["engine_over_floor"] = round(us["engine"] / us["floor"], 2)
    print(json.dumps(comparison), flush=True)
    return 0


if __name__ == "__main__":
    sys.exit(main())
