"""A soak run of the stateful tests: one seed after another until the time is up.

    .venv/bin/python tests/stateful/soak.py --minutes 120
    .venv/bin/python tests/stateful/soak.py --minutes 60 --first-seed 5000 -- -k Convergence

Each round runs ``pytest tests/stateful`` (or the tests named after ``--``) in a new
process with the ``ci`` Hypothesis profile and its own seed (``--hypothesis-seed``), so
a soak of K rounds runs K times the examples of one CI run, each round from a different
seed, and a failure names the seed that replays it. Rounds start until ``--minutes``
have passed (a round that has started runs to its end) or ``--rounds`` are done.

It prints one JSON line per round (seed, seconds, the pytest summary, ok) and a last
line with the totals; it stops at the first failing round, keeps its output in
``--logs`` (default: a new temporary directory) and exits 1. Not a test: the suite
runs it once with ``--rounds 1`` on a small test file to keep it working.
"""

from __future__ import annotations

import argparse
import json
import os
import re
import subprocess
import sys
import tempfile
import time
from pathlib import Path

HERE = Path(__file__).resolve().parent
ROOT = HERE.parent.parent
SUMMARY = re.compile(r"(\d+) (passed|failed|skipped|error|errors|xfailed|xpassed)")


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--minutes", type=float, default=60.0, help="start rounds until then")
    parser.add_argument("--rounds", type=int, default=None, help="at most this many rounds")
    parser.add_argument("--first-seed", type=int, default=1, help="the first round's seed")
    parser.add_argument("--workers", default="0", help="pytest-xdist workers per round")
    parser.add_argument("--profile", default="ci", help="the Hypothesis profile of a round")
    parser.add_argument("--logs", type=Path, default=None, help="where rounds' output goes")
    parser.add_argument("pytest_args", nargs="*", help="tests and pytest options (after --)")
    args = parser.parse_args(argv)
    if not (args.minutes >= 0 and args.minutes < 10_000):
        parser.error("--minutes: give a number of minutes from 0 to 9999")
    logs = args.logs or Path(tempfile.mkdtemp(prefix="syncengine-soak-"))
    logs.mkdir(parents=True, exist_ok=True)
    targets = args.pytest_args or [str(HERE)]
    env = dict(os.environ, SYNCENGINE_HYPOTHESIS_PROFILE=args.profile)
    deadline = time.monotonic() + args.minutes * 60
    totals: dict[str, int] = {}
    rounds = 0
    seed = args.first_seed
    started = time.monotonic()
    ok = True
    while (args.rounds is None or rounds < args.rounds) and (
        rounds == 0 or time.monotonic() < deadline
    ):
        command = [
            sys.executable,
            "-m",
            "pytest",
            "-q",
            "-p",
            "no:cacheprovider",
            "-n",
            args.workers,
            f"--hypothesis-seed={seed}",
            *targets,
        ]
        began = time.monotonic()
        done = subprocess.run(
            command, cwd=ROOT, env=env, capture_output=True, text=True, check=False
        )
        seconds = time.monotonic() - began
        output = done.stdout + done.stderr
        lines = [line for line in output.splitlines() if line.strip()]
        summary = {kind: int(n) for n, kind in SUMMARY.findall(lines[-1] if lines else "")}
        for kind, n in summary.items():
            totals[kind] = totals.get(kind, 0) + n
        rounds += 1
        round_ok = done.returncode == 0
        line = {"seed": seed, "seconds": round(seconds, 1), "summary": summary, "ok": round_ok}
        if not round_ok:
            log = logs / f"seed-{seed}.log"
            log.write_text(output, encoding="utf-8")
            line["log"] = str(log)
        print(json.dumps(line), flush=True)
        if not round_ok:
            ok = False
            break
        seed += 1
    print(
        json.dumps(
            {
                "rounds": rounds,
                "seeds": [args.first_seed, seed if not ok else seed - 1],
                "profile": args.profile,
                "minutes": round((time.monotonic() - started) / 60, 1),
                "totals": totals,
                "ok": ok,
            }
        ),
        flush=True,
    )
    return 0 if ok else 1


if __name__ == "__main__":
    sys.exit(main())
