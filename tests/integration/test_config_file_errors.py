"""Every config-file mistake is one line naming the file and the key path, exit code 2 (X2).

Issue 16: an unknown ``app_type``, a text property mapped two-way to a boolean one and an
option the target lacks got through (or ended with exit 1 and a message naming neither
file nor key); so did an unset ``index.dsn_env``, an index file in a folder that does not
exist, non-boolean flags and non-list options in ``schemas``, and an adapter factory that
raised something else than ``ConfigError`` (a traceback).
"""

from __future__ import annotations

import textwrap

import pytest
from click.testing import CliRunner

from syncengine.cli import main

HUB = """\
[hub]
kind = "memory"
schemas.contacts.properties = [
  { name = "email" },
  { name = "vip" },
  { name = "stage", type = "enum", options = ["lead", "customer"] },
]
"""
APP = """\
[app]
kind = "memory"
schemas.people.properties = [
  { name = "mail" },
  { name = "vip", type = "bool" },
  { name = "status", type = "enum", options = ["Lead", "Customer"] },
]
"""
INDEX = '[index]\nkind = "memory"\n'
OBJECTS = """\
[objects.contacts]
app_type = "people"
match = { keys = [["email", "mail"]] }
mappings = [["email", "mail"]]
"""

CASES = [
    pytest.param(
        HUB + APP + INDEX + OBJECTS.replace('"people"', '"peeple"'),
        "objects.contacts.app_type: the app ('memory') has no object type 'peeple'",
        id="unknown app_type",
    ),
    pytest.param(
        HUB + APP + INDEX + "[[objects]]\nhub_type = 'contatcs'\n" + OBJECTS.split("\n", 1)[1],
        "objects[0].hub_type: the hub ('memory') has no object type 'contatcs'",
        id="unknown hub_type",
    ),
    pytest.param(
        HUB
        + APP
        + INDEX
        + OBJECTS.replace('["email", "mail"]]\n', '["email", "mail"], ["vip", "vip"]]\n'),
        "objects.contacts.mappings[1]: hub property 'vip' (string) cannot convert into app "
        "property 'vip' (bool)",
        id="text mapped two-way to bool",
    ),
    pytest.param(
        HUB
        + APP
        + INDEX
        + OBJECTS.replace(
            "mappings = [",
            "mappings = [{ hub = 'stage', app = 'status', "
            "options = { lead = 'Lead', customer = 'Custmer' } }, ",
        ),
        "objects.contacts.mappings[0].options['customer']: 'Custmer' is not an option of app "
        "property 'status'",
        id="option the target lacks",
    ),
    pytest.param(
        HUB + APP + INDEX + OBJECTS + "hub_filter = { where = [{ property = 'vip', op = 'gt', "
        "value = 3 }] }\n",
        "objects.contacts.hub_filter.where[0]: 'vip' is a string property, so int 3 can never "
        "be compared with its values",
        id="filter value of the wrong type",
    ),
    pytest.param(
        HUB + APP + INDEX + OBJECTS + "app_filter = { groups = [[{ property = 'status', "
        "op = 'neq', value = 'Churned' }], [{ property = 'vip', op = 'eq', value = true }]] }\n",
        "objects.contacts.app_filter.groups[0][0]: 'Churned' is not an option of 'status'",
        id="filter option the property lacks",
    ),
    pytest.param(
        HUB
        + APP
        + INDEX
        + OBJECTS.replace(
            "mappings = [",
            "mappings = [{ hub = 'stage', app = 'status', app_default = 'Prospect' }, ",
        ),
        "objects.contacts.mappings[0].app_default: app property 'status' (enum) cannot hold "
        "this default",
        id="default the property cannot hold",
    ),
    pytest.param(
        HUB + APP + '[index]\nkind = "postgres"\ndsn_env = "SYNCENGINE_NO_SUCH_DSN"\n' + OBJECTS,
        "index.dsn_env: the environment variable SYNCENGINE_NO_SUCH_DSN is not set",
        id="unset dsn_env",
    ),
    pytest.param(
        HUB + APP + '[index]\npath = "no-such-folder/index.db"\n' + OBJECTS,
        "index.path: the folder",
        id="index folder missing",
    ),
    pytest.param(
        HUB.replace('{ name = "vip" }', '{ name = "vip", unique = "yes" }') + APP + INDEX + OBJECTS,
        "hub.schemas.contacts.properties[1].unique: expected true or false, got a string",
        id="schema flag not a boolean",
    ),
    pytest.param(
        HUB
        + APP.replace('options = ["Lead", "Customer"]', 'options = "LeadCustomer"')
        + INDEX
        + OBJECTS,
        "app.schemas.people.properties[2].options: expected an array of option values",
        id="schema options not an array",
    ),
    pytest.param(
        HUB + '[app]\nkind = "os.path:join"\n' + INDEX + OBJECTS,
        "app.kind: 'os.path:join' is a function, not an adapter class",
        id="module path naming a function, not an adapter class",
    ),
]


@pytest.mark.parametrize(("body", "expected"), CASES)
@pytest.mark.parametrize("command", ["run", "status", "records"])
def test_the_command_names_the_file_and_the_key_and_exits_2(
    tmp_path, monkeypatch, command, body, expected
):
    """One line on standard error: ``error: <file>: <key path>: <problem>``; exit code 2."""
    monkeypatch.delenv("SYNCENGINE_NO_SUCH_DSN", raising=False)
    path = tmp_path / "sync.toml"
    path.write_text('sync_id = "s"\n' + textwrap.dedent(body))
    result = CliRunner().invoke(main, [command, str(path)])
    assert 2 == result.exit_code, (result.output, result.exception)
    lines = result.stderr.strip().splitlines()
    assert 1 == len(lines), result.stderr
    assert lines[0].startswith(f"error: {path}: {expected}"), lines[0]


def test_the_fixed_configs_run(tmp_path):
    """The same file with each mistake put right runs (so the cases test only the mistake)."""
    body = (
        HUB
        + APP
        + INDEX
        + OBJECTS.replace(
            "mappings = [",
            "mappings = [{ hub = 'vip', app = 'vip', direction = 'to_hub' }, "
            "{ hub = 'stage', app = 'status', "
            "options = { lead = 'Lead', customer = 'Customer' }, app_default = 'Lead' }, ",
        )
        + "hub_filter = { where = [{ property = 'vip', op = 'eq', value = 'yes' }] }\n"
        + "app_filter = { groups = [[{ property = 'status', op = 'neq', value = 'customer' }], "
        "[{ property = 'vip', op = 'eq', value = true }]] }\n"
    )
    path = tmp_path / "sync.toml"
    path.write_text('sync_id = "s"\n' + body)
    result = CliRunner().invoke(main, ["run", str(path)])
    assert 0 == result.exit_code, (result.output, result.stderr)
