"""tests/stateful/lean_mutants.py, the mutation runner of the lean path's differential
test: every mutant still plants in today's ``lean_changes.py`` (a substitution that no
longer matches would make its row of the table meaningless)."""

from __future__ import annotations

import subprocess
import sys
from pathlib import Path

import pytest

from syncengine.engine import lean_changes

SCRIPT = Path(__file__).with_name("lean_mutants.py")
sys.path.insert(0, str(SCRIPT.parent))
import lean_mutants  # noqa: E402


def test_the_mutants_module_is_the_engines() -> None:
    assert lean_mutants.MODULE.resolve() == Path(lean_changes.__file__).resolve()


@pytest.mark.parametrize("name", list(lean_mutants.MUTANTS))
def test_every_mutant_plants_once_and_compiles(name: str) -> None:
    source = lean_mutants.MODULE.read_text(encoding="utf-8")
    planted = lean_mutants.mutated(name, source)
    compile(planted, str(lean_mutants.MODULE), "exec")
    assert (planted == source) == (name == "none")


def test_a_substitution_that_does_not_match_stops_the_run() -> None:
    with pytest.raises(ValueError, match="occurs 0 times"):
        lean_mutants.mutated("policy", "nothing of the module")


def test_an_unknown_mutant_is_refused() -> None:
    done = subprocess.run(
        [sys.executable, str(SCRIPT), "no_such_mutant"],
        capture_output=True,
        text=True,
        check=False,
        timeout=60,
    )
    assert done.returncode == 2
    assert "no mutant 'no_such_mutant'" in done.stderr
