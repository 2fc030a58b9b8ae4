"""Mutation runs of the lean path's differential test: which planted bugs it catches.

    .venv/bin/python tests/stateful/lean_mutants.py                  # every mutant, 5 seeds
    .venv/bin/python tests/stateful/lean_mutants.py --seeds 3 policy filter
    .venv/bin/python tests/stateful/lean_mutants.py --list

Each mutant is one bug planted in ``src/syncengine/engine/lean_changes.py``: a text
substitution that must match the module's source exactly once (else the run stops: the
module changed and the mutant must be written again). For each mutant and seed a new
process loads the mutated source into the module (nothing on disk changes) and runs
the property tests of ``tests/stateful/test_lean_incremental.py`` with the ``ci``
Hypothesis profile (``--profile``), ``--hypothesis-seed`` and no shrinking (a failure
is all that is asked). A failing run has caught the mutant. The run with no mutant
(``none``) must pass with every seed, or the table means nothing.

It prints one JSON line per run and a last table: each mutant, caught/seeds and the
seconds its runs took. Not a test: ``test_lean_mutants.py`` checks that every mutant
still plants.
"""

from __future__ import annotations

import argparse
import json
import os
import subprocess
import sys
import time
from concurrent.futures import ThreadPoolExecutor
from pathlib import Path
from typing import Any

HERE = Path(__file__).resolve().parent
ROOT = HERE.parent.parent
MODULE = ROOT / "src" / "syncengine" / "engine" / "lean_changes.py"
#: The differential test's property tests (not its hand-written scenario).
TEST = ["tests/stateful/test_lean_incremental.py", "-k", "not takes_the_plain_pages"]

#: name -> (what the bug is, [(old text, new text), ...]); each old text occurs once.
#: Four are not caught, and say why: an equivalent mutant (the general path's own steps
#: give the same result) or a later check in lean_changes that backs the first one up.
MUTANTS: dict[str, tuple[str, list[tuple[str, str]]]] = {
    "none": ("no bug planted (the baseline: must never fail)", []),
    "one_way_field": (
        "a one-way field taken by the lean path",
        [("            and f.to_app\n            and f.to_hub\n", "")],
    ),
    "held_echo": (
        "a held record's echo counted (the record another live pass holds); equivalent:"
        " the general path decides an echo NO_CHANGE whether or not it holds the lease",
        [
            ('            or f"{mine}{record_id}" not in held\n', ""),
            (
                "        elif entry.keys.issuperset(",
                '        elif f"{mine}{record_id}" in held and entry.keys.issuperset(',
            ),
        ],
    ),
    "held": (
        "the lease check dropped (a record another live pass holds taken); equivalent:"
        " an echo as above, and a batch holding a queued record is the general path's",
        [('            or f"{mine}{record_id}" not in held\n', "")],
    ),
    "policy": (
        'the policy check dropped ("newest" or a callable policy taken)',
        [('            and f.mapping.policy in (None, "winner")\n', "")],
    ),
    "clears": (
        "the propagate_clears check dropped",
        [("            and not f.mapping.propagate_clears\n", "")],
    ),
    "filter": (
        "the filter check dropped (hub and app filters)",
        [("        and sync.hub_filter is None\n        and sync.app_filter is None\n", "")],
    ),
    "associations": (
        "the association check dropped; an entry holding links is never a PairView (a"
        " pair of a sync with links holds them, empty or not, once a pass met it), so it"
        " is caught by the pairs of a sync the association was added to after its"
        " initial sync (test_lean_incremental's linked_later)",
        [("        and not sync.associations\n", "")],
    ),
    "app_blank": (
        "an app blank overwrites the hub's value",
        [
            (
                "                source = _APP if a is not None else _HUB",
                "                source = _APP",
            )
        ],
    ),
    "hub_blank": (
        "a hub blank overwrites the app's value",
        [
            (
                "                source = _HUB if h is not None else _APP",
                "                source = _HUB",
            )
        ],
    ),
    "both_sides": (
        "both sides written in one merge (the app's update dropped)",
        [("        if to_app:\n            return False\n", "")],
    ),
    "conflict_hub": (
        "a conflict goes to the hub whatever the winner",
        [("            source = winner  # a conflict", "            source = _HUB  # a conflict")],
    ),
    "refused_taken": (
        "a refused item taken as written",
        [
            (
                "if isinstance(result, AdapterError) or not result.succeeded:",
                "if isinstance(result, AdapterError):",
            )
        ],
    ),
    "failed_call_taken": (
        "an update whose call failed taken as written",
        [
            (
                "if isinstance(result, AdapterError) or not result.succeeded:",
                "if not isinstance(result, AdapterError) and not result.succeeded:",
            )
        ],
    ),
    "direction": (
        "the sync's direction check dropped (a one-way sync taken); equivalent: a"
        " field's to_app/to_hub are narrowed to the sync's direction, which table() checks",
        [
            (
                "        sync.direction.flows_from(_HUB)\n"
                "        and sync.direction.flows_from(_APP)\n"
                "        and all(",
                "        all(",
            )
        ],
    ),
    "guard": (
        "the mass-change guard check dropped; not caught: the preflight (never lean)"
        " stops the same passes first, and the lean path calls guard() as the general does",
        [("        and (core.config.max_change_ratio is None or not ctx.guarded)\n", "")],
    ),
    "new_identifier": (
        "a record that took a new identifier taken as a pair; sync_pairs' _keeps_keys"
        " sends such a batch to the general path, but the page's matching (match_batch)"
        " ran before without the pair's entry (read as a view): caught",
        [
            (
                "        elif entry.keys.issuperset("
                "keys := identify(plan, side, record.properties)):",
                "        elif (keys := identify(plan, side, record.properties)) or True:",
            )
        ],
    ),
    "keeps_keys": (
        "a merge that changes the pair's identifiers taken",
        [
            (
                "        elif merged is False or not _keeps_keys(",
                "        elif merged is False or not (",
            )
        ],
    ),
    "counted": (
        "a pair met twice in a pass counted twice",
        [("            or (name, entry.entry_id) in counted\n", "")],
    ),
}


def mutated(name: str, source: str) -> str:
    """``source`` with mutant ``name`` planted; ValueError when a substitution does not
    match exactly once."""
    for old, new in MUTANTS[name][1]:
        found = source.count(old)
        if found != 1:
            raise ValueError(f"mutant {name}: {old!r} occurs {found} times in {MODULE.name}")
        source = source.replace(old, new)
    return source


class _Plant:
    """A pytest plugin: plants the mutant and loads a profile that does not shrink."""

    def __init__(self, name: str, profile: str) -> None:
        self.name = name
        self.profile = profile

    def pytest_configure(self, config: Any) -> None:
        from hypothesis import Phase, settings

        from syncengine.engine import lean_changes

        settings.register_profile(
            "mutants",
            settings.get_profile(self.profile),
            phases=[Phase.explicit, Phase.generate],
            database=None,
        )
        settings.load_profile("mutants")
        source = mutated(self.name, MODULE.read_text(encoding="utf-8"))
        exec(compile(source, str(MODULE), "exec"), lean_changes.__dict__)


def _child(name: str, profile: str, args: list[str]) -> int:
    import pytest

    return int(pytest.main(args, plugins=[_Plant(name, profile)]))


def _run(name: str, seed: int, profile: str) -> dict[str, Any]:
    command = [
        sys.executable,
        str(Path(__file__).resolve()),
        "--child",
        name,
        "--profile",
        profile,
        "--",
        "-q",
        "-x",
        "-p",
        "no:cacheprovider",
        f"--hypothesis-seed={seed}",
        *TEST,
    ]
    began = time.monotonic()
    done = subprocess.run(
        command, cwd=ROOT, env=dict(os.environ), capture_output=True, text=True, check=False
    )
    seconds = round(time.monotonic() - began, 1)
    if done.returncode not in (0, 1):  # not a pass or a failure: the run itself broke
        output = done.stdout + done.stderr
        raise RuntimeError(f"{name} seed {seed}: exit {done.returncode}\n{output}")
    return {"mutant": name, "seed": seed, "caught": done.returncode == 1, "seconds": seconds}


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("mutants", nargs="*", help="the mutants to run (default: all)")
    parser.add_argument("--seeds", type=int, default=5, help="seeds per mutant")
    parser.add_argument("--first-seed", type=int, default=1)
    parser.add_argument("--profile", default="ci", help="the Hypothesis profile")
    parser.add_argument("--jobs", type=int, default=1, help="runs at once")
    parser.add_argument("--list", action="store_true", help="list the mutants and stop")
    parser.add_argument("--child", default=None, help=argparse.SUPPRESS)
    parser.add_argument("pytest_args", nargs="*", help=argparse.SUPPRESS)
    args, rest = parser.parse_known_args(argv)
    if args.child is not None:
        return _child(args.child, args.profile, [*args.mutants, *args.pytest_args, *rest])
    if args.list:
        for name, (what, _) in MUTANTS.items():
            print(f"{name:20} {what}")
        return 0
    names = args.mutants or list(MUTANTS)
    source = MODULE.read_text(encoding="utf-8")
    for name in names:
        if name not in MUTANTS:
            parser.error(f"no mutant {name!r} (see --list)")
        mutated(name, source)  # plants, or stops here
    seeds = range(args.first_seed, args.first_seed + args.seeds)
    runs = [(name, seed) for name in names for seed in seeds]
    results: list[dict[str, Any]] = []
    with ThreadPoolExecutor(max_workers=args.jobs) as pool:
        for got in pool.map(lambda r: _run(r[0], r[1], args.profile), runs):
            print(json.dumps(got), flush=True)
            results.append(got)
    print(f"{'mutant':20} caught  seconds  what")
    for name in names:
        mine = [r for r in results if r["mutant"] == name]
        caught = sum(r["caught"] for r in mine)
        seconds = round(sum(r["seconds"] for r in mine))
        print(f"{name:20} {caught}/{len(mine):<5} {seconds:>7}  {MUTANTS[name][0]}")
    return 0


if __name__ == "__main__":
    sys.exit(main())
