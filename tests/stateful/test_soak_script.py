"""tests/stateful/soak.py, the soak runner: it reports each round and stops at a failure."""

from __future__ import annotations

import json
import subprocess
import sys
from pathlib import Path

SOAK = Path(__file__).with_name("soak.py")


def _soak(tmp_path: Path, *args: str) -> tuple[int, list[dict[str, object]]]:
    done = subprocess.run(
        [sys.executable, str(SOAK), "--logs", str(tmp_path / "logs"), *args],
        capture_output=True,
        text=True,
        check=False,
        timeout=600,
    )
    return done.returncode, [json.loads(line) for line in done.stdout.splitlines()]


def test_a_soak_runs_rounds_with_successive_seeds_and_adds_up_their_counts(tmp_path):
    target = tmp_path / "test_seeded.py"
    target.write_text(
        "from hypothesis import given, strategies as st\n"
        "@given(st.integers())\n"
        "def test_any(n):\n"
        "    assert isinstance(n, int)\n"
        "def test_plain():\n"
        "    pass\n"
    )
    code, lines = _soak(tmp_path, "--rounds", "2", "--first-seed", "7", "--", str(target))
    assert 0 == code, lines
    assert [7, 8] == [line["seed"] for line in lines[:2]]
    assert all(line["ok"] and line["summary"] == {"passed": 2} for line in lines[:2])
    assert {"rounds": 2, "seeds": [7, 8], "totals": {"passed": 4}, "ok": True}.items() <= (
        lines[-1].items()
    )


def test_a_soak_stops_at_the_first_failing_round_and_keeps_its_output(tmp_path):
    target = tmp_path / "test_fails.py"
    target.write_text("def test_fails():\n    assert 1 == 2, 'the soak must stop here'\n")
    code, lines = _soak(tmp_path, "--rounds", "3", "--first-seed", "40", "--", str(target))
    assert 1 == code
    assert 2 == len(lines), "one round, then the totals"
    failed = lines[0]
    assert (40, False, {"failed": 1}) == (failed["seed"], failed["ok"], failed["summary"])
    assert "the soak must stop here" in Path(str(failed["log"])).read_text()
    assert {"rounds": 1, "ok": False}.items() <= lines[-1].items()
