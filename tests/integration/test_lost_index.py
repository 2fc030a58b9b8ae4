"""A lost index is not a fresh start (rules S2, X2; issue 17 §3).

Without its index, a run would start a new initial sync over two apps already in sync, and
the side that loses would have its edits overwritten. ``syncengine run`` refuses a missing
index file, an index that holds nothing of the sync (a mistyped path or ``sync_id``), and a
damaged one, naming the file and how to recover; ``--new`` starts a sync on purpose. The
new initial sync itself is guarded by ``max_change_ratio`` over an app holding records.
"""

from __future__ import annotations

import contextlib
import os
import shutil
import sqlite3
import subprocess
from collections.abc import Iterator
from pathlib import Path

import pytest
from click.testing import CliRunner

from syncengine.cli import main


@pytest.fixture(scope="module")
def built(tmp_path_factory) -> Path:
    """The demo, built once: two SQLite apps in sync, their index and config file."""
    folder = tmp_path_factory.mktemp("built") / "demo"
    result = CliRunner().invoke(main, ["demo", "--dir", str(folder), "--contacts", "120"])
    assert 0 == result.exit_code, result.output
    return folder


@pytest.fixture
def demo(built, tmp_path) -> Path:
    """A fresh copy of the built demo."""
    folder = tmp_path / "demo"
    shutil.copytree(built, folder)
    return folder


def run(*args: str):
    """``syncengine ARGS``: the result, with stderr apart."""
    return CliRunner().invoke(main, list(args))


def people(folder: Path) -> list[tuple[object, ...]]:
    """Every row of the sales app's people, in a stable order."""
    with sqlite3.connect(folder / "sales.db") as sales:
        return sales.execute("SELECT * FROM people ORDER BY __id").fetchall()


def lose_index(folder: Path) -> None:
    """Delete the index file (and its WAL files), as a careless user would."""
    for name in ("index.db", "index.db-wal", "index.db-shm"):
        (folder / name).unlink(missing_ok=True)


def edit_the_app(folder: Path) -> int:
    """The user edits most of the sales app's people (not synced yet); how many."""
    with sqlite3.connect(folder / "sales.db") as sales:
        return sales.execute(
            "UPDATE people SET title = 'Edited by hand' WHERE mail IS NOT NULL"
        ).rowcount


def test_a_deleted_index_file_is_an_error_naming_it_not_a_new_initial_sync(demo):
    """The file is gone: exit 2 naming the file and key; nothing written, nothing created."""
    edit_the_app(demo)
    before = people(demo)
    lose_index(demo)
    result = run("run", str(demo / "syncengine.toml"))
    assert 2 == result.exit_code, result.output
    flat = " ".join(result.output.split())
    assert f"{demo / 'syncengine.toml'}: index.path:" in flat
    assert str(demo / "index.db") in flat
    assert "--new" in flat
    assert "backup" in flat
    assert "Traceback" not in result.output
    assert not (demo / "index.db").exists()
    assert before == people(demo)


@pytest.mark.parametrize("command", ["status", "records", "export"])
def test_other_commands_refuse_a_missing_index_and_create_no_file(demo, command):
    """status, records, export on a lost index: the same error, no empty index left."""
    lose_index(demo)
    extra = [str(demo / "out.csv")] if command == "export" else []
    result = run(command, str(demo / "syncengine.toml"), *extra)
    assert 2 == result.exit_code, result.output
    assert "index.path" in result.output
    assert not (demo / "index.db").exists()


def test_a_mistyped_index_path_is_an_error(demo):
    """index.path points at a file that is not there: the same error, naming that path."""
    config = demo / "syncengine.toml"
    config.write_text(
        config.read_text(encoding="utf-8").replace('path = "index.db"', 'path = "indx.db"'),
        encoding="utf-8",
    )
    result = run("run", str(config))
    assert 2 == result.exit_code, result.output
    assert str(demo / "indx.db") in " ".join(result.output.split())
    assert not (demo / "indx.db").exists()


def test_an_index_that_holds_nothing_of_the_sync_is_an_error(demo):
    """A mistyped sync_id (or another sync's index): exit 2, nothing synced."""
    config = demo / "syncengine.toml"
    config.write_text(
        config.read_text(encoding="utf-8").replace('sync_id = "crm-sales"', 'sync_id = "crm-sale"'),
        encoding="utf-8",
    )
    edit_the_app(demo)
    before = people(demo)
    result = run("run", str(config))
    assert 2 == result.exit_code, result.output
    flat = " ".join(result.output.split())
    assert "holds no sync 'crm-sale'" in flat
    assert "--new" in flat
    assert before == people(demo)


def test_new_starts_a_sync_and_a_later_run_needs_no_flag(demo):
    """--new is how a first run is asked for; afterwards the index holds the sync."""
    lose_index(demo)
    first = run("run", str(demo / "syncengine.toml"), "--new")
    assert 0 == first.exit_code, first.output
    assert "initial:" in first.output
    again = run("run", str(demo / "syncengine.toml"))
    assert 0 == again.exit_code, again.output
    assert "incremental:" in again.output


def test_a_new_initial_sync_over_edited_apps_is_stopped_by_the_ratio(demo):
    """Issue 17: with the hub winning, --new over an app full of edits would overwrite
    them; max_change_ratio stops it before writing, measured against the app's records."""
    config = demo / "syncengine.toml"
    config.write_text(
        config.read_text(encoding="utf-8").replace(
            'sync_id = "crm-sales"', 'sync_id = "crm-sales"\nmax_change_ratio = 0.5'
        ),
        encoding="utf-8",
    )
    edited = edit_the_app(demo)
    assert edited >= 20
    before = people(demo)
    lose_index(demo)
    result = run("run", str(config), "--new")
    assert 1 == result.exit_code, result.output
    flat = " ".join(result.output.split())
    assert "records in the app" in flat
    assert "--allow-mass-changes" in flat
    assert before == people(demo)


def test_a_damaged_index_names_the_file_and_how_to_recover(demo):
    """Not a database any more: exit 2 naming the file and key, with the way back."""
    lose_index(demo)
    (demo / "index.db").write_bytes(b"this is not an index\n" * 100)
    for command in ("run", "status"):
        result = run(command, str(demo / "syncengine.toml"))
        assert 2 == result.exit_code, result.output
        flat = " ".join(result.output.split())
        assert f"index.path: cannot open the index file '{demo / 'index.db'}'" in flat
        assert "restore the index from a backup" in flat
        assert "--new" in flat
        assert "Traceback" not in result.output


@contextlib.contextmanager
def read_only(path: Path) -> Iterator[None]:
    """``path`` read-only for this process: its mode, or for root (whom modes do not
    stop) the immutable attribute."""
    if os.geteuid() != 0:
        path.chmod(0o444)
        try:
            yield
        finally:
            path.chmod(0o644)
        return
    made = subprocess.run(["chattr", "+i", str(path)], capture_output=True, check=False)
    if made.returncode != 0:
        pytest.skip(f"running as root, and chattr +i failed: {made.stderr!r}")
    try:
        yield
    finally:
        subprocess.run(["chattr", "-i", str(path)], check=True)


def test_a_read_only_index_is_refused_before_a_pass_naming_the_file(demo):
    """It opened, and the pass's first write failed: exit 1, the file not named, and the
    advice for a damaged index (rebuild it with --new). Reading commands still work."""
    config = str(demo / "syncengine.toml")
    edit_the_app(demo)
    with read_only(demo / "index.db"):
        for args in (["run", config], ["restore", config, "--object", "contacts", "--to", "app"]):
            result = run(*args)
            assert 2 == result.exit_code, result.output
            flat = " ".join(result.output.split())
            assert f"index.path: the index file '{demo / 'index.db'}' cannot be written" in flat
            assert "write access" in flat
            assert "Traceback" not in result.output
        for args in (["status", config], ["run", config, "--dry-run"]):
            result = run(*args)
            assert 0 == result.exit_code, result.output
    result = run("run", config)
    assert 0 == result.exit_code, result.output


def test_serve_refuses_a_read_only_index_up_front_naming_the_file(demo):
    """``syncengine serve`` runs passes and keeps webhook events in the index: a read-only
    one is refused before it listens (exit 2, naming the file), as ``run`` refuses it."""
    pytest.importorskip("uvicorn")
    from syncengine.configfile import ConfigFileError
    from syncengine.server import _serve

    config = str(demo / "syncengine.toml")
    with read_only(demo / "index.db"):
        # The application factory (also what uvicorn --factory runs) refuses it first.
        with pytest.raises(
            ConfigFileError, match=r"index.path: the index file .* cannot be written"
        ):
            _serve.app_from_config(config, interval=0)
        result = run("serve", config, "--port", "0", "--interval", "0")
        assert 2 == result.exit_code, result.output
        flat = " ".join(result.output.split())
        assert f"index.path: the index file '{demo / 'index.db'}' cannot be written" in flat
        assert "console:" not in result.output
        assert "Traceback" not in result.output


def test_an_embedded_engine_on_a_read_only_index_names_the_file(demo):
    """An engine built in code over a read-only SQLite file: its first write fails with
    an IndexStoreError that names the file (it said only "cannot start a write")."""
    from syncengine import IndexStoreError
    from syncengine.configfile import read_config

    edit_the_app(demo)
    with read_only(demo / "index.db"):
        setup = read_config(demo / "syncengine.toml").open(create_index=False)
        try:
            with pytest.raises(IndexStoreError) as raised:
                setup.engine().incremental_sync()
        finally:
            setup.close()
    assert f"index '{demo / 'index.db'}'" in str(raised.value)
    assert "readonly" in str(raised.value) or "read-only" in str(raised.value)
