"""What the command shows and what it takes use the same names; docs/cli.md lists them all."""

from __future__ import annotations

import csv
import re
import textwrap
from pathlib import Path

import click
import pytest
from click.testing import CliRunner

from syncengine.cli import main
from syncengine.configfile import load

CLI_DOC = Path(__file__).resolve().parents[2] / "docs" / "cli.md"

CONFIG = """\
sync_id = "names"

[hub]
kind = "sqlite"
path = "crm.db"
schemas.contacts.properties = [{ name = "email" }, { name = "firstname" }]

[app]
kind = "sqlite"
path = "shop.db"
schemas.people.properties = [{ name = "mail" }, { name = "first", required = true }]

[objects.contacts]
app_type = "people"
match = { keys = [["email", "mail"]] }
mappings = [["email", "mail"], ["firstname", "first"]]
"""


@pytest.fixture
def config(tmp_path):
    """A synced config: one pair, one hub contact the shop refuses, one excluded person."""
    path = tmp_path / "sync.toml"
    path.write_text(CONFIG)
    with load(path) as setup:
        setup.hub.put("contacts", email="ada@example.com", firstname="Ada")
        setup.hub.put("contacts", email="bob@example.com")  # the shop requires `first`
        setup.app.put("people", mail="not an address", first="Cy")
    result = CliRunner().invoke(main, ["run", str(path), "--new"])
    assert 0 == result.exit_code, result.output
    return path


def _headings(output: str) -> list[str]:
    first = next(line for line in output.splitlines() if "object_type" in line)
    return re.findall(r"[a-z_]+", first)


def test_records_headings_are_the_names_export_columns_takes(config, tmp_path):
    """Every heading of `syncengine records` is a column `export --columns` accepts."""
    listing = CliRunner().invoke(main, ["records", str(config)])
    assert 0 == listing.exit_code, listing.output
    headings = _headings(listing.output)
    assert ["object_type", "hub_id", "app_id", "state", "why", "message", "updated_at"] == headings
    out = tmp_path / "out.csv"
    result = CliRunner().invoke(
        main, ["export", str(config), str(out), "--columns", ",".join(headings)]
    )
    assert 0 == result.exit_code, result.output
    with out.open(newline="") as f:
        rows = list(csv.reader(f))
    assert headings == rows[0]
    whys = sorted(row[headings.index("why")] for row in rows[1:])
    assert ["", "no_identifier", "required_field_missing"] == whys


def test_export_still_takes_the_old_headings(config, tmp_path):
    """`object` and `updated` (the listing's earlier headings) keep working."""
    out = tmp_path / "out.jsonl"
    result = CliRunner().invoke(
        main, ["export", str(config), str(out), "--columns", "object, updated,hub id"]
    )
    assert 0 == result.exit_code, result.output
    first = out.read_text().splitlines()[0]
    assert first.startswith('{"object_type": "contacts", "updated_at": "')
    assert '"hub_id": ' in first


def test_an_unknown_export_column_is_refused_before_the_file_is_created(config, tmp_path):
    out = tmp_path / "never.csv"
    result = CliRunner().invoke(main, ["export", str(config), str(out), "--columns", "objekt"])
    assert 2 == result.exit_code
    assert "objekt" in result.output
    assert "object_type" in result.output
    assert not out.exists()
    with load(config) as setup, pytest.raises(ValueError, match="objekt"):
        setup.engine().export(out, columns=["objekt"])
    assert not out.exists()


def _sections() -> dict[str, str]:
    """docs/cli.md's text per command: from its `## syncengine NAME` heading to the next."""
    text = CLI_DOC.read_text(encoding="utf-8")
    found = {}
    for section in re.split(r"(?m)^(?=##+ )", text):
        command = re.match(r"##+ `syncengine (\w+)", section)
        if command is not None:
            found[command.group(1)] = section
    return found


def _flags(command: click.Command) -> set[str]:
    found = set()
    for param in command.params:
        if isinstance(param, click.Option):
            found |= {o for o in [*param.opts, *param.secondary_opts] if o.startswith("--")}
    return found - {"--help"}


@pytest.mark.parametrize("name", sorted(main.commands))
def test_docs_cli_md_documents_every_option_of_every_command(name):
    """docs/cli.md has a section per command listing exactly the options it takes."""
    sections = _sections()
    assert name in sections, f"docs/cli.md has no '## `syncengine {name} …`' section"
    documented = set(re.findall(r"(?<![\w-])--[a-z][a-z-]*", sections[name]))
    command = main.commands[name]
    assert _flags(command) == documented, (
        f"docs/cli.md, section `syncengine {name}`: missing {_flags(command) - documented}, "
        f"not options of the command {documented - _flags(command)}"
    )
    for param in command.params:
        if isinstance(param, click.Argument):
            if isinstance(param.type, click.Choice):
                metavar = "|".join(str(c) for c in param.type.choices)
            else:
                metavar = (param.metavar or param.name or "").upper()
            assert metavar in sections[name], f"docs/cli.md: {name} argument {metavar}"


def test_docs_cli_md_has_no_section_for_a_command_that_does_not_exist():
    assert set(_sections()) == set(main.commands)


def test_docs_cli_md_documents_the_global_options():
    head = CLI_DOC.read_text(encoding="utf-8").split("## `syncengine")[0]
    for flag in ("--help", "--version"):
        assert flag in head, textwrap.shorten(head, 200)
