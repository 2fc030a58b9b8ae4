"""Killed processes: a real sync in a child process, SIGKILLed at random points (S8, X3).

The child (``kill_child.py``) syncs two :class:`~syncengine.adapters.SQLiteAdapter` apps
through a :class:`~syncengine.index.SQLiteIndexStore`: the initial sync, then users'
changes on both sides, an incremental pass, and passes until nothing is left to do. Each
trial kills it with SIGKILL at one adapter call of the initial or incremental pass (before
or after the call; after a ``create`` is the moment between the remote create and the
index commit), runs it again to the end, and compares the end state with an uninterrupted
run: the same records in both apps (so no duplicate and no record lost), the same values
(no lost update), the same entry states, and no create left in flight. The state after
the step the kill interrupted, run again, is compared too (before any reconcile): no
entry is left queued, every excluded entry is there (S8, S9). The child uses the
default ``lease_seconds`` (300 s): the run after the kill takes the killed process's
leases over at once.

``SYNCENGINE_KILL_TRIALS`` sets the number of trials (20 by default, 200 with the ``long``
Hypothesis profile).
"""

from __future__ import annotations

import json
import os
import random
import shutil
import signal
import subprocess
import sys
from collections import Counter
from pathlib import Path
from typing import Any

import pytest

CHILD = Path(__file__).with_name("kill_child.py")
LONG = os.environ.get("SYNCENGINE_HYPOTHESIS_PROFILE") == "long"
TRIALS = int(os.environ.get("SYNCENGINE_KILL_TRIALS", "200" if LONG else "20"))


def child(*args: str) -> subprocess.CompletedProcess[str]:
    """Run the child script with ``args``; it inherits this interpreter and environment."""
    return subprocess.run(
        [sys.executable, str(CHILD), *args], capture_output=True, text=True, timeout=120
    )


def finished(result: subprocess.CompletedProcess[str]) -> dict[str, Any]:
    """The child's report, once it ran to the end."""
    assert 0 == result.returncode, result.stderr[-2000:]
    report: dict[str, Any] = json.loads(result.stdout.strip().splitlines()[-1])
    return report


@pytest.fixture(scope="module")
def template(tmp_path_factory):
    """The seeded apps every run starts from."""
    folder = tmp_path_factory.mktemp("template")
    assert 0 == child("--seed", str(folder)).returncode
    return folder


def fresh(template: Path, folder: Path) -> Path:
    """A copy of the seeded apps, with no index and no progress."""
    folder.mkdir()
    for path in template.iterdir():
        shutil.copy(path, folder / path.name)
    return folder


@pytest.fixture(scope="module")
def reference(template, tmp_path_factory):
    """The uninterrupted run: its end state, and how many calls each step made."""
    folder = fresh(template, tmp_path_factory.mktemp("reference") / "run")
    return finished(child(str(folder)))


def kill_point(trial: int, calls: dict[str, dict[str, int]]) -> str:
    """Where trial ``trial`` dies: before or after some call of the initial or incremental
    pass; every third trial right after a create (before its index commit)."""
    rng = random.Random(trial)
    total = {
        method: calls["initial"].get(method, 0) + calls["incremental"].get(method, 0)
        for method in ("any", "create")
    }
    if trial % 3 == 2 and total["create"]:
        return f"after:create:{rng.randint(1, total['create'])}"
    return f"{'after' if trial % 3 == 0 else 'before'}:any:{rng.randint(1, total['any'])}"


def test_the_uninterrupted_run_syncs_everything_once(reference):
    """S3, S5, M3: the reference itself is sound (matched once, duplicates excluded)."""
    state = reference["state"]
    for side, seeded_duplicate in (("hub", "p3@x.io"), ("app", "p20@x.io")):
        emails = Counter(row[0].strip().casefold() for row in state[side])
        # Only the duplicate the users made themselves is there twice; nothing more.
        assert {seeded_duplicate: 2} == {e: n for e, n in emails.items() if n > 1}
        assert {"both@x.io", "new-app@x.io", "new-hub@x.io", "p0@x.io", "p35@x.io"} <= set(emails)
    assert 0 == state["pending"]
    assert {"synced", "failed", "excluded"} == set(state["states"])
    for step, after in reference["steps"].items():
        assert "queued" not in after["states"], f"queued after {step}: {after['states']}"


@pytest.mark.parametrize("trial", range(TRIALS))
def test_a_killed_sync_run_again_ends_as_an_uninterrupted_one(trial, template, reference, tmp_path):
    """S8, X3: SIGKILL anywhere, run again: same records, no duplicate, no lost update."""
    folder = fresh(template, tmp_path / "run")
    point = kill_point(trial, reference["calls"])
    killed = child(str(folder), point)
    assert -signal.SIGKILL == killed.returncode, f"not killed at {point}: {killed.stderr[-500:]}"
    again = finished(child(str(folder)))
    # The steps the second run ran, the interrupted one first: the same states as the
    # uninterrupted run's after each (no entry queued, no excluded entry missing).
    assert again["steps"], f"killed at {point}: the second run ran no step"
    for step, after in again["steps"].items():
        assert reference["steps"][step] == after, f"killed at {point}: after {step}"
    assert reference["state"] == again["state"], f"killed at {point}"
