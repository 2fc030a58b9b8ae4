"""Logs an operator's pipeline can read (issue 20, item 6).

The engine reports through :mod:`logging` under ``syncengine``: each pass's start and end
at INFO on ``syncengine.engine`` (the end with its counts and duration; at WARNING when a
safety guard stopped the pass or it raised), each failed record at WARNING on
``syncengine.engine.records`` (object type, record ids, category, message), each batch at
DEBUG on ``syncengine.engine.batches``. No line holds a record's values or a credential.
"""

from __future__ import annotations

import logging
import re

import pytest

from syncengine import ErrorCategory, SafetyStop, SyncConfig, SyncEngine
from syncengine.records import WriteResult

from .conftest import contacts_sync

EMAILS = ("ada@example.com", "grace@example.com")
TOKEN = "tok_9f8e7d6c5b4a39281706f5e4d3c2b1a0"  # a secret someone typed into a record
PASSWORD = "hunter2-s3cret"


def every_line(caplog) -> list[str]:
    """Every record's formatted line, with its logger and level."""
    return [f"{r.name} {r.levelname} {r.getMessage()}" for r in caplog.records]


def assert_nothing_leaked(caplog) -> None:
    for line in every_line(caplog):
        for value in (*EMAILS, TOKEN, PASSWORD, "Grace"):
            assert value not in line, line


@pytest.fixture
def world(hub, app, index, clock):
    """Two contacts in the hub; the app refuses to create Grace, quoting her values."""
    hub.put("contacts", email=EMAILS[0], firstname="Ada", lastname="L", phone=TOKEN)
    hub.put("contacts", email=EMAILS[1], firstname="Grace", lastname="H", phone=TOKEN)
    create = app.create

    def picky_create(object_type, items):
        taken = [i for i in items if i.properties["mail"] == EMAILS[1]]
        made = iter(create(object_type, [i for i in items if i not in taken]))
        return [
            WriteResult.failed(
                ErrorCategory.VALIDATION,
                f"mail {i.properties['mail']} is taken (tel {i.properties['tel']}, "
                f"first_name {i.properties['first_name']})",
            )
            if i in taken
            else next(made)
            for i in items
        ]

    app.create = picky_create
    config = SyncConfig("sync-1", [contacts_sync()], max_change_ratio=0.9)
    return SyncEngine(hub, app, index, config, clock=clock, sleep=clock.advance)


def test_a_pass_logs_its_start_end_failures_and_batches_at_their_levels(world, caplog):
    """One INFO line at the start and one at the end (counts, duration); one WARNING per
    failed record, naming it without its values; DEBUG lines per batch."""
    caplog.set_level(logging.DEBUG, logger="syncengine")
    report = world.initial_sync()
    assert (1, 1) == (report.created, report.failed)
    lines = every_line(caplog)
    passes = [line for line in lines if line.startswith("syncengine.engine ")]
    assert [
        "syncengine.engine INFO pass started: sync=sync-1 kind=initial",
    ] == passes[:1]
    assert 2 == len(passes), passes  # the guard's planning dry pass logs nothing
    end = passes[1]
    assert end.startswith(
        "syncengine.engine INFO pass completed: sync=sync-1 kind=initial created=1 updated=0 "
        "failed=1 excluded=0 duration="
    ), end
    assert "contacts.app=+1/~0/!1/-0" in end
    failures = [line for line in lines if line.startswith("syncengine.engine.records ")]
    assert 1 == len(failures), failures  # once, not again for the planning dry pass
    assert re.fullmatch(
        r"syncengine\.engine\.records WARNING record failed: sync=sync-1 object=contacts "
        r"hub_id=h\d+ app_id=- category=validation message=mail \[value\] is taken "
        r"\(tel \[value\], first_name \[value\]\)",
        failures[0],
    ), failures[0]
    batches = [line for line in lines if line.startswith("syncengine.engine.batches ")]
    assert batches
    assert all(" DEBUG batch: sync=sync-1 kind=initial object=contacts side=" in b for b in batches)
    assert {r.levelno for r in caplog.records if r.name == "syncengine.engine.batches"} == {
        logging.DEBUG
    }
    assert_nothing_leaked(caplog)


def test_at_the_default_warning_level_only_failures_show(world, caplog):
    """An operator who keeps WARNING sees the failed record and nothing of the rest."""
    caplog.set_level(logging.WARNING, logger="syncengine")
    world.initial_sync()
    assert ["syncengine.engine.records"] == [r.name for r in caplog.records]
    assert_nothing_leaked(caplog)


def test_a_stopped_or_failed_pass_ends_with_a_warning(world, hub, app, clock, caplog):
    """A safety stop and an exception end the pass with a WARNING line that says why,
    credentials hidden."""
    for i in range(12):
        hub.put("contacts", email=f"p{i}@example.com", firstname=f"P{i}", lastname="L")
    world.initial_sync()
    for person in app.records("people"):
        app.patch("people", person.id, first_name="N/A")
    guarded = SyncEngine(
        hub,
        app,
        world.index,
        SyncConfig("sync-1", [contacts_sync()], max_change_ratio=0.2),
        clock=clock,
    )
    caplog.set_level(logging.INFO, logger="syncengine")
    with pytest.raises(SafetyStop):
        guarded.incremental_sync()

    def broken_scan(object_type, since=None):
        raise RuntimeError(f"cannot reach postgresql://sync:{PASSWORD}@db/app for {EMAILS[0]}")

    app.scan = broken_scan
    with pytest.raises(Exception, match="cannot reach"):
        world.incremental_sync(allow_mass_changes=True)
    ends = [
        (r.levelno, r.getMessage())
        for r in caplog.records
        if r.name == "syncengine.engine" and not r.getMessage().startswith("pass started")
    ]
    assert [logging.WARNING, logging.WARNING] == [level for level, _ in ends]
    stopped, failed = (message for _, message in ends)
    assert stopped.startswith("pass stopped: sync=sync-1 kind=incremental")
    assert "detail=SafetyStop: the incremental pass would update 13 of the 14 contacts" in stopped
    assert failed.startswith("pass failed: sync=sync-1 kind=incremental")
    assert "postgresql://sync:[redacted]@db/app for [value]" in failed
    assert_nothing_leaked(caplog)


def test_masking_hides_whole_values_and_leaves_words_that_merely_contain_them():
    """A value is masked where it stands as a word: the stage "lead" leaves the field name
    "lead_score" readable; values spanning lines are matched as the one-line message
    shows them; short values and numbers stay (they are too common to be a tell)."""
    from syncengine._passlog import masked

    values = {"stage": "lead", "note": "line one\nline two", "n": 7, "zip": 75001, "x": "ab"}
    message = (
        "hub property 'lead_score': expected a number, got str 'lead'; note 'line one\n"
        "line two' too long; n 7; zip 75001; ab; mail ada@example.com"
    )
    assert masked(message, shown=[values]) == (
        "hub property 'lead_score': expected a number, got str '[value]'; note '[value]' "
        "too long; n 7; zip [value]; ab; mail [value]"
    )


def test_without_logging_configured_nothing_reaches_standard_error(tmp_path):
    """A program that configures no logging prints nothing for failed records (the
    library's loggers end in a NullHandler, not in logging's last-resort handler that
    would write every WARNING to standard error in the middle of the command's output)."""
    import subprocess
    import sys
    import textwrap

    script = textwrap.dedent(
        """
        from syncengine import (ErrorCategory, FieldMapping, MatchRule, ObjectSchema,
            ObjectSync, PropertySpec, SyncConfig, SyncEngine)
        from syncengine.adapters import InMemoryAdapter
        from syncengine.index import MemoryIndexStore
        from syncengine.records import WriteResult

        hub = InMemoryAdapter([ObjectSchema("contacts", [PropertySpec("email", "string")])])
        app = InMemoryAdapter([ObjectSchema("people", [PropertySpec("mail", "string")])])
        hub.put("contacts", email="ada@example.com")
        refused = WriteResult.failed(ErrorCategory.VALIDATION, "no")
        app.create = lambda object_type, items: [refused] * len(items)
        config = SyncConfig("s", [ObjectSync("contacts", "people", [FieldMapping("email", "mail")],
                                             match=MatchRule.email("email", "mail"))])
        report = SyncEngine(hub, app, MemoryIndexStore(), config).initial_sync()
        print(report.failed)
        """
    )
    done = subprocess.run(
        [sys.executable, "-c", script], capture_output=True, text=True, timeout=120, check=True
    )
    assert ("1\n", "") == (done.stdout, done.stderr)
