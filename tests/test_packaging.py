"""The distribution is installed under a name of our own, and the command reports it."""

from __future__ import annotations

import importlib.metadata
import tomllib
from pathlib import Path

from click.testing import CliRunner

from syncengine.cli import main

PYPROJECT = Path(__file__).resolve().parents[1] / "pyproject.toml"


def _project() -> dict:
    return tomllib.loads(PYPROJECT.read_text(encoding="utf-8"))["project"]


def test_the_distribution_name_is_not_the_unrelated_syncengine():
    """`syncengine` on the package index is someone else's project (issue 16)."""
    project = _project()
    assert "syncengine-hub" == project["name"]
    # Self-references of the extras name the same distribution.
    for requirement in project["optional-dependencies"]["dev"]:
        if requirement.startswith("syncengine"):
            assert requirement.startswith(project["name"] + "["), requirement


def test_the_installed_distribution_keeps_the_import_name_and_the_command():
    dist = importlib.metadata.distribution(_project()["name"])
    scripts = {ep.name: ep.value for ep in dist.entry_points if ep.group == "console_scripts"}
    assert "syncengine.cli:main" == scripts["syncengine"]
    kinds = {ep.name for ep in dist.entry_points if ep.group == "syncengine.adapters"}
    assert {"memory", "sqlite", "hubspot"} <= kinds


def test_syncengine_version_reads_the_installed_distribution():
    result = CliRunner().invoke(main, ["--version"])
    assert 0 == result.exit_code, result.output
    assert importlib.metadata.version(_project()["name"]) in result.output
