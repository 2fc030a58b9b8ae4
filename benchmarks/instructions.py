"""Instructions per record of a ``run.py`` scenario, counted by Valgrind: an A/B measure
that other processes on the machine cannot disturb.

Usage::

    python benchmarks/instructions.py                         # both initial scenarios
    python benchmarks/instructions.py --scenario initial_matched --n 3000
    PYTHONPATH=/path/to/other/checkout/src python benchmarks/instructions.py   # the B side
    python benchmarks/instructions.py --floor                 # floor.py's loops instead

Wall and CPU times on a shared 2-core machine vary by 10-30 % from run to run, which hides
any change smaller than that. The number of instructions a run executes does not vary:
this script runs one ``run.py`` worker under ``valgrind --tool=callgrind`` at ``N`` and at
``N // 3`` records (with a fixed hash seed) and prints, per scenario, one JSON line::

    {"scenario", "n", "instructions", "instructions_small", "per_record"}

``per_record`` is the difference of the two counts over the difference of the record
counts, so start-up and imports cancel out. Instructions are not time (a cache miss
costs more than an addition, and SQLite's file I/O is not counted at all), but for a
change of Python code they move with CPU time, and a difference of 1 % is real. Under
Valgrind a run is ~50x slower: N = 3,000 takes ~40 s per scenario.

Only the initial scenarios are supported: the incremental ones need a saved starting
state (``run.py --worker setup``) that would be counted too.
"""

from __future__ import annotations

import argparse
import json
import os
import re
import shutil
import subprocess
import sys
import tempfile
from concurrent.futures import ThreadPoolExecutor

__all__ = ["main"]

SCENARIOS = ("initial_one_sided", "initial_matched")
_COLLECTED = re.compile(r"Collected : (\d+)")


class BenchmarkError(Exception):
    """A worker failed or Valgrind printed no count."""


def count(scenario: str, n: int, *, floor: bool = False) -> int:
    """The instructions of one ``run.py`` worker of ``scenario`` at ``n`` records (of
    ``floor.py``'s loop for it, with ``floor``)."""
    here = os.path.dirname(os.path.abspath(__file__))
    with tempfile.TemporaryDirectory(prefix="syncengine-instr-") as workdir:
        command = ["valgrind", "--tool=callgrind", "--callgrind-out-file=/dev/null"]
        if floor:
            script = ["floor.py", "--worker", scenario, "--n", str(n), "--dir", workdir]
        else:
            script = ["run.py", "--worker", scenario, "--n", str(n), "--dir", workdir]
        command += [sys.executable, os.path.join(here, script[0]), *script[1:]]
        env = {**os.environ, "PYTHONHASHSEED": "0"}
        done = subprocess.run(
            command, capture_output=True, text=True, env=env, check=False, cwd=here
        )
    if done.returncode != 0:
        raise BenchmarkError(f"{scenario} at n={n} failed:\n{done.stderr[-2000:]}")
    found = _COLLECTED.search(done.stderr)
    if found is None:
        raise BenchmarkError(f"valgrind printed no instruction count for {scenario}")
    return int(found[1])


def measure(scenario: str, n: int, *, floor: bool = False) -> dict[str, object]:
    """Instructions per record of ``scenario``: the counts at ``n`` and ``n // 3``."""
    small = max(n // 3, 1)
    with ThreadPoolExecutor(max_workers=2) as pool:  # two processes, one per core
        large_count, small_count = pool.map(
            lambda size: count(scenario, size, floor=floor), (n, small)
        )
    return {
        "scenario": scenario,
        "n": n,
        **({"floor": True} if floor else {}),
        "instructions": large_count,
        "instructions_small": small_count,
        "per_record": round((large_count - small_count) / (n - small)),
    }


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--n", type=int, default=3000, help="records (default 3,000)")
    parser.add_argument(
        "--scenario", action="append", choices=SCENARIOS, help="a scenario (repeatable)"
    )
    parser.add_argument("--floor", action="store_true", help="count floor.py, not the engine")
    parser.add_argument("--smoke", action="store_true", help="a tiny run (CI)")
    args = parser.parse_args(argv)
    if args.n < 2:
        parser.error("--n must be at least 2")
    if shutil.which("valgrind") is None:
        print(json.dumps({"skipped": "valgrind is not installed"}))
        return 0 if args.smoke else 1
    scenarios = args.scenario or (["initial_one_sided"] if args.smoke else list(SCENARIOS))
    n = 30 if args.smoke else args.n
    try:
        for scenario in scenarios:
            print(json.dumps(measure(scenario, n, floor=args.floor)), flush=True)
    except BenchmarkError as error:
        print(error, file=sys.stderr)
        return 1
    return 0


if __name__ == "__main__":
    sys.exit(main())
