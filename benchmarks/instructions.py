"""Instructions per record of a ``run.py`` scenario, counted by Valgrind: an A/B measure
that other processes on the machine cannot disturb.

Usage::

    python benchmarks/instructions.py                         # both initial scenarios
    python benchmarks/instructions.py --scenario initial_matched --n 3000
    python benchmarks/instructions.py --scenario incremental_1pct --n 20000
    PYTHONPATH=/path/to/other/checkout/src python benchmarks/instructions.py   # the B side
    python benchmarks/instructions.py --floor                 # floor.py's loops instead

Wall and CPU times on a shared 2-core machine vary by 10-30 % from run to run, which hides
any change smaller than that. The number of instructions a run executes does not vary:
this script runs ``run.py`` workers under ``valgrind --tool=callgrind`` (with a fixed
hash seed) and prints, per scenario, one JSON line::

    {"scenario", "n", "instructions", "instructions_small", "per_record"}

For an initial scenario it counts a worker at ``N`` and at ``N // 3`` records:
``per_record`` is the difference of the two counts over the difference of the record
counts, so start-up and imports cancel out. For an incremental scenario it builds the
starting state once (``run.py --worker setup``, not counted), then counts the worker
with its pass and without it (``--no-pass``: the same loading and changes):
``per_record`` is the difference over the changed records (2 % of ``N``; give an ``N``
of 20,000 or so, for a few hundred). Instructions are not time (a cache miss costs more
than an addition, and SQLite's file I/O is not counted at all), but for a change of
Python code they move with CPU time, and a difference of 1 % is real. Under Valgrind a
run is ~50x slower: N = 3,000 takes ~40 s per initial scenario.
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
INCREMENTAL = ("incremental_1pct", "conflict_1pct")
_COLLECTED = re.compile(r"Collected : (\d+)")
HERE = os.path.dirname(os.path.abspath(__file__))


class BenchmarkError(Exception):
    """A worker failed or Valgrind printed no count."""


def count(script: list[str]) -> tuple[int, str]:
    """The instructions of one run of ``script`` (a benchmarks script and its arguments),
    and what it printed."""
    command = ["valgrind", "--tool=callgrind", "--callgrind-out-file=/dev/null"]
    command += [sys.executable, os.path.join(HERE, script[0]), *script[1:]]
    env = {**os.environ, "PYTHONHASHSEED": "0"}
    done = subprocess.run(command, capture_output=True, text=True, env=env, check=False, cwd=HERE)
    if done.returncode != 0:
        raise BenchmarkError(f"{' '.join(script)} failed:\n{done.stderr[-2000:]}")
    found = _COLLECTED.search(done.stderr)
    if found is None:
        raise BenchmarkError(f"valgrind printed no instruction count for {' '.join(script)}")
    return int(found[1]), done.stdout


def worker(scenario: str, n: int, workdir: str, *, floor: bool = False) -> list[str]:
    """The command line of one worker of ``scenario`` (of ``floor.py``'s, with ``floor``)."""
    return [
        "floor.py" if floor else "run.py",
        "--worker",
        scenario,
        "--n",
        str(n),
        "--dir",
        workdir,
    ]


def measure(scenario: str, n: int, *, floor: bool = False) -> dict[str, object]:
    """Instructions per record of ``scenario`` (see the module's docstring)."""
    with tempfile.TemporaryDirectory(prefix="syncengine-instr-") as workdir:
        if scenario in INCREMENTAL:
            setup = [sys.executable, os.path.join(HERE, "floor.py" if floor else "run.py")]
            setup += worker("setup", n, workdir)[1:]
            done = subprocess.run(setup, capture_output=True, text=True, check=False, cwd=HERE)
            if done.returncode != 0:
                raise BenchmarkError(f"setup at n={n} failed:\n{done.stderr[-2000:]}")
            command = worker(scenario, n, workdir, floor=floor)
            large, printed = count(command)
            small, _ = count([*command, "--no-pass"])
            per = json.loads(printed.strip().splitlines()[-1])["changed"]
        else:
            small_n = max(n // 3, 1)
            with ThreadPoolExecutor(max_workers=2) as pool:  # two processes, one per core
                (large, _), (small, _) = pool.map(
                    lambda size: count(worker(scenario, size, workdir, floor=floor)),
                    (n, small_n),
                )
            per = n - small_n
    return {
        "scenario": scenario,
        "n": n,
        **({"floor": True} if floor else {}),
        "instructions": large,
        "instructions_small": small,
        "per_record": round((large - small) / per),
    }


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--n", type=int, default=3000, help="records (default 3,000)")
    parser.add_argument(
        "--scenario",
        action="append",
        choices=SCENARIOS + INCREMENTAL,
        help="a scenario (repeatable)",
    )
    parser.add_argument("--floor", action="store_true", help="count floor.py, not the engine")
    parser.add_argument("--smoke", action="store_true", help="a tiny run (CI)")
    args = parser.parse_args(argv)
    if args.n < 2:
        parser.error("--n must be at least 2")
    if shutil.which("valgrind") is None:
        print(json.dumps({"skipped": "valgrind is not installed"}))
        return 0 if args.smoke else 1
    smoke = ["initial_one_sided", "incremental_1pct"]
    scenarios = args.scenario or (smoke if args.smoke else list(SCENARIOS))
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
