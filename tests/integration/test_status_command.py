"""``syncengine status`` shows the last passes and the webhook events waiting (issue 20).

The passes come from the pass history the engine keeps in the index store: one row each,
newest first (when, kind, how long, created/updated/failed, outcome). The inbox line
counts the events a webhook receiver kept that no pass has processed yet.
"""

from __future__ import annotations

import re
import sqlite3
from datetime import UTC, datetime, timedelta

from click.testing import CliRunner

from syncengine import Side
from syncengine.cli import main
from syncengine.history import PassRecord
from syncengine.index import InboxItem, SQLiteIndexStore

CONFIG = """\
sync_id = "s"

[hub]
kind = "sqlite"
path = "crm.db"
schemas.contacts.properties = [{name = "email", unique = true}, {name = "firstname"}]

[app]
kind = "sqlite"
path = "sales.db"
schemas.people.properties = [{name = "mail", unique = true}, {name = "first_name"}]

[index]
kind = "sqlite"
path = "index.db"

[[objects]]
hub_type = "contacts"
app_type = "people"
mappings = [["email", "mail"], ["firstname", "first_name"]]
"""


def command(*args: str):
    return CliRunner().invoke(main, list(args))


def synced_folder(tmp_path):
    """A config whose sync ran three passes: initial (empty), a dry run planning two
    creates, the incremental pass making them; its path."""
    config = tmp_path / "sync.toml"
    config.write_text(CONFIG, encoding="utf-8")
    assert 0 == command("run", str(config), "--new").exit_code
    with sqlite3.connect(tmp_path / "crm.db") as conn:
        columns = [row[1] for row in conn.execute("PRAGMA table_info(contacts)")]
        assert {"email", "firstname"} <= set(columns), columns
        conn.executemany(
            "INSERT INTO contacts (email, firstname) VALUES (?, ?)",
            [("ada@example.com", "Ada"), ("alan@example.com", "Alan")],
        )
    conn.close()
    assert 0 == command("run", str(config), "--dry-run").exit_code
    result = command("run", str(config))
    assert 0 == result.exit_code, result.output
    return config


def pass_rows(output: str) -> list[str]:
    """The rows of the passes table (the lines after its header rule)."""
    lines = output.splitlines()
    start = next(i for i, line in enumerate(lines) if line.startswith("Last passes"))
    rows = []
    for line in lines[start + 3 :]:
        if "│" not in line:
            break
        rows.append(" ".join(line.replace("│", " ").split()))
    return rows


def test_status_shows_the_last_passes_newest_first(tmp_path):
    """One row per pass: number, start, kind (dry runs marked), duration, counts, outcome."""
    config = synced_folder(tmp_path)
    result = command("status", str(config))
    assert 0 == result.exit_code, result.output
    assert "Last passes (newest first, 3 shown)" in result.output
    rows = pass_rows(result.output)
    assert 3 == len(rows), result.output
    incremental, dry, initial = rows
    assert re.fullmatch(r"3 \S+ \S+ incremental \S+ 2 0 0 completed", incremental)
    assert re.fullmatch(r"2 \S+ \S+ incremental \(dry run\) \S+ 2 0 0 completed", dry)
    assert re.fullmatch(r"1 \S+ \S+ initial \S+ 0 0 0 completed", initial)
    assert "webhook inbox: 0 events waiting" in result.output


def test_status_counts_the_webhook_events_waiting_and_shows_why_a_pass_stopped(tmp_path):
    """Events kept in the inbox are counted; a stopped pass shows its reason, as text
    (markup in it is not interpreted)."""
    config = synced_folder(tmp_path)
    now = datetime(2026, 12, 7, 9, 0, tzinfo=UTC)
    with SQLiteIndexStore(tmp_path / "index.db") as store:
        store.inbox_add(
            [InboxItem("s", Side.HUB, f"e:{n}", '{"record_id":"1"}', now) for n in range(3)]
        )
        store.add_pass(
            PassRecord(
                "s",
                "reconcile",
                now,
                now + timedelta(minutes=2, seconds=5),
                "stopped",
                "SafetyStop: [bold]would update 40 of 50[/bold] <script>",
            )
        )
    result = command("status", str(config), "--passes", "2")
    assert 0 == result.exit_code, result.output
    assert "webhook inbox: 3 events waiting (the next pass processes them)" in result.output
    stopped, incremental = pass_rows(result.output)
    assert "4 2026-12-07 09:00:00 reconcile 2m05s 0 0 0 stopped" == stopped
    assert "  #4 stopped: SafetyStop: [bold]would update 40 of 50[/bold] <script>\n" in (
        result.output
    )
    assert incremental.startswith("3 ")


def test_status_passes_zero_hides_the_table(tmp_path):
    """--passes 0 leaves the passes out; the counts stay."""
    config = synced_folder(tmp_path)
    result = command("status", str(config), "--passes", "0")
    assert 0 == result.exit_code, result.output
    assert "Last passes" not in result.output
    assert "contacts" in result.output


def test_status_before_any_pass_says_so(tmp_path):
    """An index with no pass recorded yet (a sync set up with the API, say)."""
    config = tmp_path / "sync.toml"
    config.write_text(CONFIG, encoding="utf-8")
    assert 0 == command("run", str(config), "--new").exit_code
    with SQLiteIndexStore(tmp_path / "index.db") as store:
        store.delete_sync("s")
    result = command("status", str(config))
    assert 0 == result.exit_code, result.output
    assert "last passes: none yet" in result.output
