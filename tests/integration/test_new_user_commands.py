"""A new user in the folder `syncengine demo` made types the commands without CONFIG.

Each usage error says what to type: the demo's config file, in the command as typed
(`syncengine status` → `syncengine status syncengine.toml`), and the command it suggests
works. A folder given for CONFIG names the file in it; a SQLite file given for CONFIG
says it is a database, not a config file.
"""

from __future__ import annotations

import re
import shlex
import shutil
from pathlib import Path

import pytest
from click.testing import CliRunner

from syncengine.cli import main


@pytest.fixture(scope="module")
def built(tmp_path_factory) -> Path:
    folder = tmp_path_factory.mktemp("newuser") / "demo"
    result = CliRunner().invoke(main, ["demo", "--dir", str(folder), "--contacts", "60"])
    assert 0 == result.exit_code, result.output
    return folder


@pytest.fixture
def demo(built, tmp_path, monkeypatch) -> Path:
    """A copy of the demo's folder, as the working directory."""
    folder = tmp_path / "demo"
    shutil.copytree(built, folder)
    monkeypatch.chdir(folder)
    return folder


def suggestion(stderr: str) -> list[str]:
    """The command an error suggests (between backticks after "try"), as arguments."""
    found = re.search(r"try `syncengine ([^`]*)`", " ".join(stderr.split()))
    assert found is not None, stderr
    return shlex.split(found.group(1))


@pytest.mark.parametrize(
    "typed",
    [
        ["status"],
        ["run"],
        ["records", "--state", "failed"],
        ["export", "failed.csv"],
        ["explain", "app", "people", "s1"],
        ["restore", "--object", "contacts", "--to", "app"],
    ],
)
def test_a_command_without_config_names_the_demos_config_file(demo, typed):
    """It said only "Missing argument 'CONFIG'" (or, for explain, that 'people' is not
    hub or app)."""
    result = CliRunner().invoke(main, typed)
    assert 2 == result.exit_code, result.output
    assert "Traceback" not in result.output
    assert [typed[0], "syncengine.toml", *typed[1:]] == suggestion(result.stderr)


@pytest.mark.parametrize("typed", [["status"], ["run"], ["records", "--state", "failed"]])
def test_the_suggested_command_works(demo, typed):
    first = CliRunner().invoke(main, typed)
    result = CliRunner().invoke(main, suggestion(first.stderr))
    assert 0 == result.exit_code, result.output


def test_a_folder_for_config_names_the_file_in_it(demo):
    result = CliRunner().invoke(main, ["status", str(demo)])
    assert 2 == result.exit_code, result.output
    assert ["status", str(demo / "syncengine.toml")] == suggestion(result.stderr)


def test_a_database_for_config_says_it_is_not_a_config_file(demo):
    """It said: cannot read it: 'utf-8' codec can't decode byte 0xc2 in position 31."""
    result = CliRunner().invoke(main, ["status", "index.db"])
    assert 2 == result.exit_code, result.output
    flat = " ".join(result.stderr.split())
    assert "index.db: this is a SQLite database (an app or an index), not a config file" in flat
    assert "utf-8" not in flat


def test_elsewhere_it_says_what_config_is(tmp_path, monkeypatch):
    monkeypatch.chdir(tmp_path)
    result = CliRunner().invoke(main, ["status"])
    assert 2 == result.exit_code, result.output
    flat = " ".join(result.stderr.split())
    assert "CONFIG is the sync's config file, such as the syncengine.toml" in flat
    assert "syncengine demo" in flat


def test_a_config_that_was_given_gets_no_hint(demo):
    result = CliRunner().invoke(main, ["records", "syncengine.toml", "--state", "gone"])
    assert 2 == result.exit_code, result.output
    assert "try `" not in result.stderr
