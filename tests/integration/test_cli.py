"""The ``syncengine`` command end to end, in a temporary folder (issue 6)."""

from __future__ import annotations

import csv
import io
import json
import os
import re
import shlex
import shutil
import subprocess
import sys
import textwrap
from pathlib import Path

import pytest
from click.testing import CliRunner
from rich.console import Console

from syncengine import SyncEngine
from syncengine.adapters import SQLiteAdapter
from syncengine.cli import ProgressDisplay, main
from syncengine.report import SyncEvent

COMMANDS = ("demo", "run", "status", "records", "export", "restore", "explain")


@pytest.fixture(scope="module")
def built_demo(tmp_path_factory):
    """One small demo, built by the command, and what it printed."""
    folder = tmp_path_factory.mktemp("demo") / "demo"
    result = CliRunner().invoke(main, ["demo", "--dir", str(folder), "--contacts", "300"])
    assert 0 == result.exit_code, result.output
    return folder, result.output


@pytest.fixture
def demo(built_demo, tmp_path):
    """A private copy of the demo folder; returns the path of its config file."""
    folder = tmp_path / "demo"
    shutil.copytree(built_demo[0], folder)
    return str(folder / "syncengine.toml")


def invoke(*args: str, input: str | None = None):
    """Run the command; return click's result (stdout and stderr apart)."""
    return CliRunner().invoke(main, list(args), input=input)


class TestDemo:
    """``syncengine demo``: two apps on disk, two passes, the status and what to try next."""

    def test_demo_prints_status_with_failures_and_exclusions_and_next_commands(self, built_demo):
        """The tour ends with the overview, failures by category, exclusions by reason."""
        folder, output = built_demo
        for expected in (
            "1. Initial sync",
            "3. Incremental sync",
            "Failures by category",
            "required_field_missing",
            "deleted",
            "Exclusions by reason",
            "duplicate",
            "no_identifier",
            "filtered",
            "unmapped_stage",
            f"syncengine status {folder / 'syncengine.toml'}",
        ):
            assert expected in output
        assert {"crm.db", "sales.db", "index.db", "syncengine.toml"} <= {
            p.name for p in folder.iterdir()
        }

    def test_demo_is_deterministic_for_a_seed(self, tmp_path):
        """Two runs with the same seed build the same apps and print the same counts."""
        outputs, apps = [], []
        for name in ("a", "b"):
            result = invoke("demo", "--dir", str(tmp_path / name), "--contacts", "120")
            assert 0 == result.exit_code, result.output
            outputs.append([line for line in result.output.splitlines() if "│" in line])
            with SQLiteAdapter(tmp_path / name / "sales.db") as sales:
                apps.append([(r.id, dict(r.properties)) for r in sales.records("people")])
        assert outputs[0] == outputs[1]
        assert apps[0] == apps[1]

    def test_demo_replaces_an_earlier_demo_but_keeps_other_files(self, tmp_path):
        """Running it again in the same folder works; files it does not own stay."""
        (tmp_path / "notes.txt").write_text("mine")
        for _ in range(2):
            result = invoke("demo", "--dir", str(tmp_path), "--contacts", "100")
            assert 0 == result.exit_code, result.output
        assert "mine" == (tmp_path / "notes.txt").read_text()

    def test_demo_without_dir_builds_outside_the_working_folder(self, tmp_path, monkeypatch):
        """From a clone, the default folder is the user's cache, never the working tree."""
        clone = tmp_path / "clone"
        clone.mkdir()
        (clone / "README.md").write_text("a clone")
        monkeypatch.chdir(clone)
        monkeypatch.setenv("XDG_CACHE_HOME", str(tmp_path / "cache"))
        result = invoke("demo", "--contacts", "80")
        assert 0 == result.exit_code, result.output
        assert ["README.md"] == [p.name for p in clone.iterdir()]  # git status stays clean
        folder = tmp_path / "cache" / "syncengine" / "demo"
        assert {"crm.db", "sales.db", "index.db", "syncengine.toml"} <= {
            p.name for p in folder.iterdir()
        }
        assert f"building two apps in {folder}" in result.output
        assert "--dir" in result.output  # how to choose another folder
        # What the demo tells the user to do next is true from where they are.
        assert f"sqlite3 {folder / 'crm.db'} " in result.output
        tried = 0
        for line in result.output.split("Try next", 1)[1].splitlines():
            words = shlex.split(line)
            command = next((w for w in words if w in ("status", "records", "explain")), None)
            if command is None:
                continue
            args = words[words.index(command) :]
            assert str(folder / "syncengine.toml") == args[1]
            again = invoke(*args)
            assert 0 == again.exit_code, (line, again.output)
            tried += 1
        assert 4 == tried  # status, records, explain of a conflict and of a failure

    def test_the_quick_start_script_prints_commands_that_run(self, tmp_path):
        """The installed script, run without an activated environment, suggests itself."""
        script = shutil.which("syncengine", path=str(Path(sys.executable).parent))
        if script is None:
            pytest.skip("the syncengine script is not installed next to this Python")
        env = {**os.environ, "PATH": "/usr/bin:/bin", "XDG_CACHE_HOME": str(tmp_path / "c")}
        env.pop("NO_COLOR", None)
        built = subprocess.run(
            [script, "demo", "--contacts", "60"],
            cwd=tmp_path,
            env=env,
            capture_output=True,
            text=True,
            timeout=120,
        )
        assert 0 == built.returncode, built.stderr
        line = next(x for x in built.stdout.splitlines() if " status " in x)
        words = shlex.split(line)
        assert script == words[0]
        ran = subprocess.run(
            words, cwd=tmp_path, env=env, capture_output=True, text=True, timeout=120
        )
        assert 0 == ran.returncode, ran.stderr
        assert "sync 'crm-sales'" in ran.stdout


class TestRunAndInspect:
    """run, status, records, export and explain against the demo's config."""

    def test_run_once_after_the_demo_is_an_incremental_pass(self, demo):
        """The initial sync is done, so a pass processes only changes."""
        result = invoke("run", demo)
        assert 0 == result.exit_code, result.output
        assert "incremental:" in result.output

    def test_run_watch_runs_the_given_number_of_passes(self, demo):
        """--watch repeats passes; --passes stops it (one summary line per pass)."""
        result = invoke("run", demo, "--watch", "--interval", "0", "--passes", "2")
        assert 0 == result.exit_code, result.output
        assert 2 == result.output.count("incremental:")

    def test_run_dry_run_writes_nothing(self, demo):
        """--dry-run reports the plan and leaves both apps and the index as they were."""
        before = invoke("status", demo, "--passes", "0").output
        result = invoke("run", demo, "--dry-run", "--reconcile")
        assert 0 == result.exit_code, result.output
        assert "dry run: nothing was written" in result.output
        assert before == invoke("status", demo, "--passes", "0").output
        # Only its record in the pass history, flagged as a dry run (issue 20).
        newest = invoke("status", demo, "--passes", "1").output.splitlines()[-1]
        assert "reconcile (dry run)" in newest

    def test_status_shows_counts_per_object_type(self, demo):
        """A table per object type, and the initial sync is done."""
        result = invoke("status", demo)
        assert 0 == result.exit_code, result.output
        for expected in ("sync 'crm-sales'", "companies", "contacts", "deals", "synced", "done"):
            assert expected in result.output

    def test_records_lists_failed_entries_with_their_category(self, demo):
        """--state failed lists only failed entries, each with its category."""
        result = invoke("records", demo, "--state", "failed", "--limit", "0")
        assert 0 == result.exit_code, result.output
        assert "failed" in result.output
        assert " synced " not in result.output

    def test_records_rejects_a_time_that_is_not_iso(self, demo):
        """A bad --since is a usage error (exit 2) naming the option."""
        result = invoke("records", demo, "--since", "yesterday")
        assert 2 == result.exit_code
        assert "--since" in result.stderr

    def test_export_writes_csv_and_jsonl_with_the_same_rows(self, demo, tmp_path):
        """CSV by default, JSON lines by suffix; both hold the failed entries."""
        out_csv, out_jsonl = tmp_path / "failed.csv", tmp_path / "failed.jsonl"
        for out in (out_csv, out_jsonl):
            result = invoke("export", demo, str(out), "--state", "failed")
            assert 0 == result.exit_code, result.output
        rows = list(csv.DictReader(io.StringIO(out_csv.read_text())))
        lines = [json.loads(line) for line in out_jsonl.read_text().splitlines()]
        assert rows
        assert [r["entry_id"] for r in rows] == [line["entry_id"] for line in lines]
        assert {"failed"} == {r["state"] for r in rows}

    def test_export_into_a_missing_folder_is_one_error_line(self, demo, tmp_path):
        """A file that cannot be written: exit 1 and one line naming it, no traceback."""
        target = tmp_path / "no-such-folder" / "x.csv"
        result = invoke("export", demo, str(target))
        assert 1 == result.exit_code
        assert isinstance(result.exception, SystemExit)
        (line,) = result.stderr.strip().splitlines()
        assert line.startswith(f"error: {target}: ")

    def test_export_with_an_unknown_column_is_a_usage_error(self, demo, tmp_path):
        """--columns names only known columns."""
        result = invoke("export", demo, str(tmp_path / "x.csv"), "--columns", "colour")
        assert 2 == result.exit_code
        assert "colour" in result.stderr

    def test_explain_tells_how_a_record_matched(self, demo, built_demo):
        """The command the demo suggests explains the pairing, field by field."""
        line = next(line for line in built_demo[1].splitlines() if "syncengine explain" in line)
        side, object_type, record_id = line.split()[-3:]
        result = invoke("explain", demo, side, object_type, record_id)
        assert 0 == result.exit_code, result.output
        assert "matched by: email/mail" in result.output
        as_json = json.loads(invoke("explain", demo, side, object_type, record_id, "--json").output)
        assert record_id == as_json["entry"]["app_id"]

    def test_the_demo_suggests_explaining_a_failed_record(self, demo, built_demo):
        """A new user's next question is why a record failed: the demo's second explain
        command names a failed record, and explain says why and what to do."""
        lines = [line for line in built_demo[1].splitlines() if "syncengine explain" in line]
        assert 2 == len(lines)
        side, object_type, record_id = lines[1].split()[-3:]
        result = invoke("explain", demo, side, object_type, record_id)
        assert 0 == result.exit_code, result.output
        assert " — failed" in result.output.splitlines()[0]
        assert "hint: " in result.output

    def test_the_incremental_step_says_the_first_pass_writes_come_back(self, built_demo):
        """Step 3 counts thousands of records unchanged: the heading says why (the
        initial sync's own writes are read back once), not "only what changed"."""
        (heading,) = [x for x in built_demo[1].splitlines() if "3. Incremental sync" in x]
        assert "own writes" in heading
        assert "unchanged" in heading

    def test_explain_of_a_failed_pair_is_readable_and_true(self, demo, tmp_path):
        """A pair failing validation: paired and matched, ISO dates, no false "in sync"."""
        listing = tmp_path / "failed.jsonl"
        assert 0 == invoke("export", demo, str(listing), "--state", "failed").exit_code
        rows = [json.loads(x) for x in listing.read_text().splitlines()]
        (row, *_) = [r for r in rows if r["category"] == "validation" and r["app_id"]]
        result = invoke("explain", demo, "hub", "contacts", row["hub_id"])
        assert 0 == result.exit_code, result.output
        text = result.output
        assert "datetime.datetime(" not in text
        assert "tzinfo" not in text
        assert "(not matched)" not in text
        assert "matched by: email/mail" in text
        assert re.search(r"hub \d{4}-\d\d-\d\dT09:00:00\+00:00 · app ", text)
        for line in text.splitlines():
            if line.endswith(": in sync"):
                values = text.splitlines()[text.splitlines().index(line) + 1]
                hub_value, app_value = values.split("hub ", 1)[1].split(" · app ")
                assert hub_value.strip().casefold() == app_value.strip().casefold(), values

    def test_values_that_look_like_markup_are_printed_as_they_are(self, demo):
        """An app value such as "[/oops]" in a message is text, not a rich markup error."""
        with SQLiteAdapter(Path(demo).parent / "crm.db") as crm:
            hub_id = next(
                r.id
                for r in crm.records("contacts")
                if r.properties.get("email") and r.properties.get("lastname")
            )
            crm.patch("contacts", hub_id, lead_score="[/oops] [bold]")
        ran = invoke("run", demo)
        assert 0 == ran.exit_code, ran.output
        listed = invoke("records", demo, "--state", "failed", "--limit", "0")
        assert 0 == listed.exit_code, listed.output
        assert "[/oops] [bold]" in listed.output
        explained = invoke("explain", demo, "hub", "contacts", hub_id)
        assert 0 == explained.exit_code, explained.output
        assert '"[/oops] [bold]"' in explained.output

    def test_explain_of_an_unknown_record_is_one_error_line(self, demo):
        """No entry: exit 1 and one line on standard error."""
        result = invoke("explain", demo, "app", "people", "no-such-id")
        assert 1 == result.exit_code
        assert 1 == len(result.stderr.strip().splitlines())
        assert "no-such-id" in result.stderr


class TestRestore:
    """restore shows the plan, asks, and re-creates deleted records (SPEC R6)."""

    def test_restore_shows_the_plan_and_stops_when_the_answer_is_no(self, demo):
        """The plan lists the two records deleted in the app; 'n' restores nothing."""
        result = invoke("restore", demo, "--object", "contacts", "--to", "app", input="n\n")
        assert 1 == result.exit_code
        assert "restore 2 contacts record(s) into the app" in result.output
        again = invoke("restore", demo, "--object", "contacts", "--to", "app", input="n\n")
        assert "restore 2 contacts" in again.output

    @pytest.mark.parametrize(("answer", "why"), [("n\n", "you answered no"), ("", "no answer")])
    def test_declining_a_restore_says_what_was_not_done(self, demo, answer, why):
        """No (or no answer at all): exit 1 and a line saying nothing was restored."""
        result = invoke("restore", demo, "--object", "contacts", "--to", "app", input=answer)
        assert 1 == result.exit_code
        assert "Aborted" not in result.output
        (line,) = [x for x in result.stderr.splitlines() if x.strip()]
        assert line.startswith(f"nothing restored ({why}): the 2 contacts record(s) listed")
        assert "were not re-created in the app" in line
        assert "--yes" in line
        assert (
            "restore 2 contacts"
            in invoke("restore", demo, "--object", "contacts", "--to", "app", input="n\n").output
        )

    def test_ctrl_c_during_a_restore_says_what_stays_restored(self, demo, monkeypatch):
        """Interrupted: exit 130 and one line, not click's bare "Aborted!"."""

        def interrupted(self, plan):
            raise KeyboardInterrupt

        monkeypatch.setattr(SyncEngine, "restore", interrupted)
        result = invoke("restore", demo, "--object", "contacts", "--to", "app", "--yes")
        assert 130 == result.exit_code
        assert "Aborted" not in result.output
        (line,) = result.stderr.strip().splitlines()
        assert line.startswith("interrupted: the records restored before the stop stay restored")

    def test_ctrl_c_in_any_command_is_one_line(self, demo, monkeypatch):
        """status, records, explain…: exit 130 and "interrupted", not "Aborted!"."""

        def interrupted(self):
            raise KeyboardInterrupt

        monkeypatch.setattr(SyncEngine, "status", interrupted)
        result = invoke("status", demo)
        assert 130 == result.exit_code
        assert "Aborted" not in result.output
        assert "interrupted" == result.stderr.strip()

    def test_restore_values_are_shown_as_users_read_them(self, demo):
        """The plan's values: name=value, text in quotes, times in ISO 8601."""
        result = invoke("restore", demo, "--object", "contacts", "--to", "app", input="n\n")
        assert 'mail="' in result.output
        assert "{" not in result.output
        assert re.search(r"last_touch=\d{4}-\d\d-\d\dT\d\d:\d\d", result.output)

    def test_restore_yes_recreates_the_records_and_clears_the_failures(self, demo):
        """With --yes the records are re-created; a second plan is empty."""
        result = invoke("restore", demo, "--object", "contacts", "--to", "app", "--yes")
        assert 0 == result.exit_code, result.output
        assert "restore: 2 created" in result.output
        empty = invoke("restore", demo, "--object", "contacts", "--to", "app")
        assert "nothing to restore" in empty.output


BAD_CONFIGS = [
    (
        """
        [objects.contacts]
        app_type = "people"
        match = { keys = [["email", "mail"]] }
        mappings = [{ hub = "email", app = 7 }]
        """,
        "objects.contacts.mappings[0].app: expected the app property's name",
    ),
    (
        """
        [[objects]]
        hub_type = "contacts"
        app_type = "people"
        match = { keys = [["email", "mail"]] }
        mappings = [["email", "mail"], ["name", "nom"]]
        """,
        "objects[0].mappings[1]",  # the app has no property 'nom': found by the engine
    ),
    (
        """
        [objects.contacts]
        app_type = "people"
        mappings = [["name", "mail"]]
        """,
        "objects.contacts.match: missing",  # no 'email' mapping: no default rule
    ),
]


class TestBadConfigFiles:
    """A bad config file is one clear line naming the key, and exit code 2."""

    @pytest.mark.parametrize(("body", "key"), BAD_CONFIGS)
    @pytest.mark.parametrize("command", ["run", "status"])
    def test_bad_config_is_one_line_naming_the_key_and_exit_code_2(
        self, tmp_path, command, body, key
    ):
        """Every command that reads the file reports it the same way."""
        schemas = (
            '[hub]\nkind = "memory"\n'
            'schemas.contacts.properties = [{ name = "email" }, { name = "name" }]\n'
            '[app]\nkind = "memory"\n'
            'schemas.people.properties = [{ name = "mail" }]\n'
            '[index]\nkind = "memory"\n'
        )
        path = tmp_path / "sync.toml"
        path.write_text('sync_id = "s"\n' + schemas + textwrap.dedent(body))
        result = invoke(command, str(path))
        assert 2 == result.exit_code, result.output
        lines = result.stderr.strip().splitlines()
        assert 1 == len(lines), result.stderr
        assert lines[0].startswith(f"error: {path}: ")
        assert key in lines[0]

    def test_missing_config_file_is_exit_code_2(self, tmp_path):
        """A config path that does not exist says so."""
        result = invoke("status", str(tmp_path / "nope.toml"))
        assert 2 == result.exit_code
        assert "no such file" in result.stderr

    def test_unknown_adapter_kind_lists_the_known_kinds(self, tmp_path):
        """An adapter kind nobody registered names hub.kind and the kinds there are."""
        path = tmp_path / "sync.toml"
        path.write_text(
            'sync_id = "s"\n[hub]\nkind = "hubspot-typo"\n[app]\nkind = "memory"\n'
            '[objects.c]\napp_type = "p"\nmatch = "none"\nmappings = [["a", "b"]]\n'
        )
        result = invoke("run", str(path))
        assert 2 == result.exit_code
        assert "hub.kind: unknown adapter kind 'hubspot-typo'" in result.stderr
        assert "memory, sqlite" in result.stderr


class TestHelp:
    """--help everywhere, and ``python -m syncengine``."""

    @pytest.mark.parametrize("command", [(), *((c,) for c in COMMANDS)])
    def test_every_command_has_help(self, command):
        """--help prints usage and exits 0."""
        result = invoke(*command, "--help")
        assert 0 == result.exit_code
        assert "Usage: " in result.output

    def test_python_dash_m_runs_the_same_command(self):
        """``python -m syncengine --help`` lists the subcommands."""
        done = subprocess.run(
            [sys.executable, "-m", "syncengine", "--help"],
            capture_output=True,
            text=True,
            check=True,
            timeout=60,
        )
        assert all(command in done.stdout for command in COMMANDS)
        assert done.stdout.startswith("Usage: syncengine")


def test_progress_bars_draw_only_on_a_terminal():
    """On a terminal the phases become live bars; elsewhere one line per finished phase."""
    events = [
        SyncEvent("phase_started", "s", "contacts", "index_hub", 0),
        SyncEvent("phase_progress", "s", "contacts", "index_hub", 100),
        SyncEvent("phase_finished", "s", "contacts", "index_hub", 250),
    ]
    for terminal in (True, False):
        out = io.StringIO()
        console = Console(file=out, force_terminal=terminal, width=100)
        with ProgressDisplay(console) as progress:
            for event in events:
                progress(event)
        text = out.getvalue()
        assert "contacts · indexing the hub" in text
        assert ("\x1b[" in text) is terminal
        assert ("250 records" in text) is not terminal


def test_the_explain_example_in_docs_cli_md_is_what_the_demo_prints(tmp_path):
    """docs/cli.md shows explain's output for the default demo: it is the real output."""
    docs = (Path(__file__).resolve().parents[2] / "docs" / "cli.md").read_text(encoding="utf-8")
    section = docs.split("## Explain", 1)[1]
    command = re.search(r"`syncengine explain CONFIG (hub|app) (\w+) (\w+)`", section)
    assert command is not None
    example = re.search(r"```text\n(.*?)```", section, re.S)
    assert example is not None
    built = invoke("demo", "--dir", str(tmp_path))  # the defaults, as the docs say
    assert 0 == built.exit_code, built.output
    result = invoke("explain", str(tmp_path / "syncengine.toml"), *command.groups())
    assert 0 == result.exit_code, result.output
    stamp = re.compile(r"^(\s+)\d{4}-\d\d-\d\dT\d\d:\d\d:\d\d\+00:00 ")
    printed = [stamp.sub(r"\1TIME ", line) for line in result.output.splitlines()]
    shown = [stamp.sub(r"\1TIME ", line) for line in example.group(1).splitlines()]
    at = 0
    for line in shown:  # every documented line is printed, in the same order
        assert line in printed[at:], line
        at = printed.index(line, at) + 1


class TestDamagedIndexRows:
    """Rows of the index another program damaged: a pass history row, a cursor."""

    @staticmethod
    def _damage(demo: str, sql: str) -> None:
        import sqlite3

        conn = sqlite3.connect(Path(demo).parent / "index.db")
        with conn:
            conn.execute(sql)
        conn.close()

    def test_status_lists_the_readable_passes_and_names_an_unreadable_one(self, demo):
        """One pass history row that cannot be read made `status` fail as a whole
        (exit 1, no counts): it shows the counts and every other pass, and names the
        row; exit code 0, as `records` and `export` showing a damaged entry."""
        self._damage(demo, "UPDATE passes SET counts = CAST(X'7bff' AS TEXT) WHERE number = 1")
        result = invoke("status", demo)
        assert 0 == result.exit_code, result.output
        assert "contacts" in result.output
        lines = result.output.splitlines()
        (first,) = [line for line in lines if line.split()[:1] == ["1"]]
        assert ["1", "?", "unknown", "?", "0", "0", "0", "unreadable"] == [
            cell for cell in first.split() if cell != "│"
        ]
        (second,) = [line for line in lines if line.split()[:1] == ["2"]]
        assert "completed" in second
        text = " ".join(result.output.split())
        assert re.search(
            r"#1 unreadable: the index '.*index\.db' is corrupt: pass 1 of sync 'crm-sales' "
            r"cannot be read: a column of its row is not UTF-8 text",
            text,
        )

    def test_a_cursor_that_cannot_be_read_stops_the_pass_naming_it_and_the_way_out(self, demo):
        """A poll cursor whose value is not UTF-8 stopped `run` with SQLite's bare
        "Could not decode" error: the error names the sync, side, type, cursor and index
        and how to recover, the pass is never run from "now", and the repair it advises
        works."""
        self._damage(demo, "UPDATE cursors SET value = CAST(X'32ff' AS TEXT) WHERE name = 'poll'")
        result = invoke("run", demo)
        assert 1 == result.exit_code, result.output
        error = " ".join(result.stderr.split())
        assert re.search(
            r"the index '.*index\.db' is corrupt: the (hub|app) cursor 'poll' of sync "
            r"'crm-sales', type '\w+' cannot be read: its value is not UTF-8 text",
            error,
        ), error
        assert "DELETE FROM cursors WHERE name = 'poll'" in error
        assert 1 == invoke("run", demo).exit_code  # every pass, until it is repaired
        self._damage(demo, "DELETE FROM cursors WHERE name = 'poll'")  # as it advises
        for _ in range(2):  # the first reads every record again and writes new cursors
            after = invoke("run", demo)
            assert 0 == after.exit_code, after.output + after.stderr
        import sqlite3

        conn = sqlite3.connect(Path(demo).parent / "index.db")
        written = conn.execute("SELECT count(*) FROM cursors WHERE name = 'poll'").fetchone()
        conn.close()
        assert written[0] > 0

    @pytest.mark.parametrize(
        ("sql", "args", "named"),
        [
            (
                "UPDATE meta SET value = 'x' WHERE key = 'initial_run'",
                (),
                r"setting 'initial_run' of sync 'crm-sales' cannot be read: its value 'x' "
                r"is not a whole number",
            ),
            (
                "UPDATE meta SET value = '2' WHERE key = 'initial_done'; "
                "UPDATE cursors SET value = '9' WHERE name = 'initial_phase'",
                (),
                r"the hub cursor 'initial_phase' of sync 'crm-sales', type '\w+' cannot be "
                r"read: its value '9' is not a phase of the initial sync \(1 to 4\)",
            ),
            (
                "INSERT INTO meta (sync, key, value) SELECT sync, 'reconcile_run', '1O' "
                "FROM meta WHERE key = 'initial_run'",
                ("--reconcile",),
                r"setting 'reconcile_run' of sync 'crm-sales' cannot be read: its value "
                r"'1O' is not a whole number",
            ),
        ],
        ids=["initial_run", "initial_phase", "reconcile_run"],
    )
    def test_a_counter_or_phase_that_is_not_a_number_stops_run_naming_it(
        self, demo, sql, args, named
    ):
        """A run counter or phase that is not a number made `run` fail with Python's
        "invalid literal for int()" (exit 1, naming nothing), or skipped the phases of
        a type (a phase past the last): the error names the setting or cursor, the sync
        and the index file, and how to repair it, as for a cursor that is not UTF-8."""
        import sqlite3

        conn = sqlite3.connect(Path(demo).parent / "index.db")
        with conn:
            conn.executescript(sql)
        conn.close()
        result = invoke("run", demo, *args)
        assert 1 == result.exit_code, result.output
        error = " ".join(result.stderr.split())
        assert re.search(rf"the index '.*index\.db' is corrupt: {named}", error), error
        assert "restore the index from a backup" in error
        assert "syncengine run CONFIG --new" in error
        assert "invalid literal" not in error

    @pytest.mark.parametrize("table", ["syncs", "object_types"])
    def test_a_sync_or_type_name_that_is_not_utf8_stops_run_and_status_naming_it(self, demo, table):
        """A sync's or object type's name another program left not UTF-8 was never
        found again: `run` took the type for one with nothing stored (its records synced
        as new into a second copy), or the sync for a lost index; both commands name
        the row and the way to write the name back, and that repair works."""
        import sqlite3

        path = Path(demo).parent / "index.db"
        conn = sqlite3.connect(path)
        (row, name) = conn.execute(f"SELECT id, name FROM {table} ORDER BY id").fetchone()
        rows = conn.execute(f"SELECT count(*) FROM {table}").fetchone()[0]
        with conn:
            conn.execute(f"UPDATE {table} SET name = CAST(X'63ff' AS TEXT) WHERE id = ?", (row,))
        conn.close()
        for command in ("run", "status"):
            result = invoke(command, demo)
            assert 1 == result.exit_code, result.output
            error = " ".join(result.stderr.split())
            what = "sync" if table == "syncs" else "object type"
            assert re.search(
                rf"the index '.*index\.db' is corrupt: the name of {what} {row} \(row {row} "
                rf"of table '{table}'\) cannot be read: it is not UTF-8 text",
                error,
            ), error
        with sqlite3.connect(path) as conn:  # no second copy of the sync or type was made
            assert rows == conn.execute(f"SELECT count(*) FROM {table}").fetchone()[0]
        conn.close()
        self._damage(demo, f"UPDATE {table} SET name = '{name}' WHERE id = {row}")  # as advised
        after = invoke("run", demo)
        assert 0 == after.exit_code, after.output + after.stderr

    def test_status_counts_a_damaged_entry_as_failed_once_a_pass_met_it(self, demo):
        """`status` counted a damaged contact under its row's state (synced) while `run`
        counted it failed, and "Failures by category" left it out: all three agree."""
        import sqlite3

        def failed_contacts() -> int:
            result = invoke("status", demo)
            assert 0 == result.exit_code, result.output
            (row,) = [line for line in result.output.splitlines() if line.startswith(" contacts")]
            return int(row.split("│")[2].replace(",", ""))

        before = failed_contacts()
        conn = sqlite3.connect(Path(demo).parent / "index.db")
        with conn:
            conn.execute(
                "UPDATE entries SET data = 'not json' WHERE rowid = (SELECT min(e.rowid) FROM "
                "entries e JOIN object_types t ON t.id = e.ot WHERE t.name = 'contacts' "
                "AND e.state = 1)"
            )
        conn.close()
        run = invoke("run", demo, "--reconcile")
        assert 0 == run.exit_code, run.output + run.stderr
        assert "is corrupt: entry" in run.output
        assert before + 1 == failed_contacts()
        text = invoke("status", demo).output
        assert re.search(r"contacts\s+index\s+1\s", text), text

    def test_a_cursor_its_app_refuses_stops_run_naming_it_and_the_way_out(self, demo):
        """A poll cursor another program overwrote with text the app does not take
        stopped `run` with "unknown: ValueError: sales: malformed cursor" (an app
        failure, naming neither the index nor a repair): the error names the index, the
        sync, the side and type, and how to repair it, and that repair works."""
        self._damage(demo, "UPDATE cursors SET value = 'garbage' WHERE name = 'poll'")
        result = invoke("run", demo)
        assert 1 == result.exit_code, result.output
        error = " ".join(result.stderr.split())
        assert re.search(
            r"the index '.*index\.db' is corrupt: the (hub|app) cursor of sync 'crm-sales', "
            r"type '\w+' holds 'garbage', which the (hub|app)'s adapter refuses \(",
            error,
        ), error
        assert "unknown: ValueError" not in error
        assert "DELETE FROM cursors WHERE name = 'poll'" in error
        self._damage(demo, "DELETE FROM cursors WHERE name = 'poll'")  # as it advises
        after = invoke("run", demo)
        assert 0 == after.exit_code, after.output + after.stderr


def test_status_names_a_damaged_enabled_setting(demo):
    """`syncengine status` printed "(disabled)" or nothing for any value of the setting;
    a value the engine never writes stops the command, named, with the repair."""
    from syncengine.index import SQLiteIndexStore

    with SQLiteIndexStore(Path(demo).parent / "index.db") as index:
        index.set_meta("crm-sales", "enabled", "false")
    for args in (("status", demo), ("run", demo)):
        result = invoke(*args)
        assert 1 == result.exit_code, result.output
        error = " ".join(result.stderr.split())
        assert "setting 'enabled' of sync 'crm-sales' cannot be read: its value 'false'" in error
        assert "turn the sync off or on again" in error
