"""A run counter or initial-sync phase in the index that is not a number (issue 18).

The engine keeps a few numbers in the index as text: the run counters (settings
``initial_run`` and ``reconcile_run``) and each object type's initial sync phase (the hub
cursor ``initial_phase``). Another program, or a damaged disk, may leave something else
there. A pass that needs the value stops with an ``IndexStoreError`` naming the index,
the sync, the setting or cursor (with its side and type) and how to repair it: it never
takes the value for "not set", which would start the initial sync (or a phase) over.
"""

from __future__ import annotations

import re
from pathlib import Path

import pytest
from hypothesis import given
from hypothesis import strategies as st

from syncengine import IndexStoreError, Side, SyncConfig, SyncEngine
from syncengine.adapters import InMemoryAdapter
from syncengine.entry import CursorUpdate
from syncengine.index import MemoryIndexStore, SQLiteIndexStore
from syncengine.index.base import IndexStore

from .conftest import CONTACTS_APP, CONTACTS_HUB, FakeClock, contacts_sync

#: Values the engine never writes where it keeps a number (it writes ASCII digits).
NOT_NUMBERS = ["x", "", "-1", "1e3", "1.0", " 2", "2 ", "\u0663", "+1", "0x10", "9" * 40]


def built(index: IndexStore, **engine: object) -> SyncEngine:
    clock = FakeClock()
    hub = InMemoryAdapter([CONTACTS_HUB], name="hub", clock=clock, id_prefix="h")
    app = InMemoryAdapter([CONTACTS_APP], name="app", clock=clock, id_prefix="a")
    for i in range(3):
        hub.put("contacts", {"email": f"p{i}@example.com", "firstname": f"P{i}"})
        app.put("people", {"mail": f"q{i}@example.com", "first_name": f"Q{i}"})
    return SyncEngine(
        hub,
        app,
        index,
        SyncConfig("s", [contacts_sync()]),
        clock=clock,
        sleep=clock.advance,
        **engine,  # type: ignore[arg-type]
    )


def one_line(error: pytest.ExceptionInfo[IndexStoreError]) -> str:
    return " ".join(str(error.value).split())


@pytest.mark.parametrize("value", NOT_NUMBERS)
def test_an_initial_run_that_is_not_a_number_stops_the_initial_sync_naming_it(value):
    """`int(run)` raised a bare ValueError ("invalid literal for int()"), or took
    " 2" and "٣" for numbers; now the setting is named, with the repair."""
    index = MemoryIndexStore()
    engine = built(index)
    index.set_meta("s", "initial_run", value)
    with pytest.raises(IndexStoreError) as raised:
        engine.initial_sync()
    message = one_line(raised)
    assert message.startswith(
        "the index (MemoryIndexStore) is corrupt: setting 'initial_run' of sync 's' "
        "cannot be read: its value "
    ), message
    assert "is not a whole number" in message
    assert "it is not taken for a missing value, which would start the work over" in message
    assert "restore the index from a backup" in message
    assert "syncengine run CONFIG --new" in message
    # Nothing was written: the next pass stops the same way.
    assert value == index.get_meta("s", "initial_run")
    assert [] == list(index.entries("s"))
    with pytest.raises(IndexStoreError, match="setting 'initial_run'"):
        engine.incremental_sync()


@pytest.mark.parametrize("value", [*NOT_NUMBERS, "0", "5", "17"])
@pytest.mark.parametrize("workers", [None, (0, 1)], ids=["alone", "worker"])
def test_a_phase_that_is_not_one_stops_the_initial_sync_naming_the_cursor(value, workers):
    """`int(phase)` raised a bare ValueError, and a number past the last phase (5, 17)
    skipped every phase of the type without a word; a lone engine and a worker of a
    scaled-out sync both name the cursor now."""
    index = MemoryIndexStore()
    engine = built(index, partition=workers)
    engine.initial_sync()  # a completed initial sync, then one that was interrupted:
    index.set_meta("s", "initial_done", None)
    index.write(cursors=[CursorUpdate("s", Side.HUB, "contacts", value, "initial_phase")])
    before = sorted(e.entry_id for e in index.entries("s"))
    with pytest.raises(IndexStoreError) as raised:
        engine.initial_sync()
    message = one_line(raised)
    assert (
        "the index (MemoryIndexStore) is corrupt: the hub cursor 'initial_phase' of sync "
        "'s', type 'contacts' cannot be read: its value "
    ) in message, message
    assert "is not a phase of the initial sync (1 to 4)" in message
    assert "restore the index from a backup" in message
    assert before == sorted(e.entry_id for e in index.entries("s"))
    assert index.get_meta("s", "initial_done") is None


@pytest.mark.parametrize("value", NOT_NUMBERS)
def test_a_reconcile_run_that_is_not_a_number_stops_the_reconcile_naming_it(value):
    index = MemoryIndexStore()
    engine = built(index)
    engine.initial_sync()
    index.set_meta("s", "reconcile_run", value)
    for dry_run in (True, False):
        with pytest.raises(IndexStoreError) as raised:
            engine.reconcile(dry_run=dry_run)
        assert "setting 'reconcile_run' of sync 's' cannot be read" in one_line(raised)
    assert value == index.get_meta("s", "reconcile_run")


@given(st.text(max_size=8).filter(lambda text: not (text.isascii() and text.isdigit())))
def test_any_text_that_is_not_digits_is_refused_never_read_as_not_set(text):
    """What `int()` accepts beyond ASCII digits (signs, spaces, underscores, other
    scripts' digits) and what it refuses are both refused, by name."""
    index = MemoryIndexStore()
    engine = built(index)
    index.set_meta("s", "initial_run", text)
    with pytest.raises(IndexStoreError, match="setting 'initial_run' of sync 's'"):
        engine.initial_sync()


def test_the_index_file_is_named_and_the_counters_it_wrote_still_read(tmp_path: Path):
    """A SQLite index names its file; the numbers the engine writes read back as before
    (a restarted initial sync counts on from the stored run)."""
    path = tmp_path / "sync.db"
    with SQLiteIndexStore(path) as index:
        engine = built(index)
        engine.initial_sync()
        engine.reconcile()
        engine.reconcile()
        assert ("1", "2") == (
            index.get_meta("s", "initial_run"),
            index.get_meta("s", "reconcile_run"),
        )
        engine.update_config(SyncConfig("s", [contacts_sync()]))
        engine.initial_sync()
        assert "2" == index.get_meta("s", "initial_run")
        index.set_meta("s", "reconcile_run", "two")
        with pytest.raises(IndexStoreError) as raised:
            engine.reconcile()
    assert re.match(
        rf"the index {re.escape(repr(str(path)))} is corrupt: setting 'reconcile_run' of "
        r"sync 's' cannot be read: its value 'two' is not a whole number",
        one_line(raised),
    )


#: What the engine never writes in setting ``enabled`` (it writes "0", or removes it).
NOT_ON_OR_OFF = ["no", "false", "", "2", "1", "yes", "on", " 0", "0 ", "00", "\u0660"]


@pytest.mark.parametrize("value", NOT_ON_OR_OFF)
def test_an_enabled_setting_that_is_neither_on_nor_off_stops_every_pass_naming_it(value):
    """Any value but "0" read as on: a sync someone turned off ran again when the
    setting was damaged. Now every pass stops, naming the setting, its value and the
    repair; turning the sync off or on writes it anew."""
    index = MemoryIndexStore()
    engine = built(index)
    engine.initial_sync()
    index.set_meta("s", "enabled", value)
    before = sorted(str(e) for e in index.entries("s"))
    for run in (engine.initial_sync, engine.incremental_sync, engine.reconcile):
        for dry_run in (True, False):
            with pytest.raises(IndexStoreError) as raised:
                run(dry_run=dry_run)
            message = one_line(raised)
            assert message.startswith(
                "the index (MemoryIndexStore) is corrupt: setting 'enabled' of sync 's' "
                f"cannot be read: its value {value!r} is neither '0' (off) nor unset (on)"
            ), message
            assert "SyncEngine.disable() or SyncEngine.enable()" in message
    with pytest.raises(IndexStoreError, match="setting 'enabled'"):
        _ = engine.enabled
    assert before == sorted(str(e) for e in index.entries("s"))
    assert value == index.get_meta("s", "enabled")
    # The repair: turning the sync off (or on) writes the setting anew.
    engine.disable()
    assert engine.enabled is False
    assert engine.incremental_sync().skipped
    engine.enable()
    assert engine.enabled is True
    assert not engine.incremental_sync().errors


def test_on_and_off_as_the_engine_writes_them_still_read():
    index = MemoryIndexStore()
    engine = built(index)
    assert engine.enabled is True
    engine.disable()
    assert ("0", False) == (index.get_meta("s", "enabled"), engine.enabled)
    engine.enable()
    assert (None, True) == (index.get_meta("s", "enabled"), engine.enabled)


@pytest.mark.parametrize("value", ["yes", "true", "", "0", "2", " 1", "1 "])
def test_a_restart_flag_that_is_neither_set_nor_unset_stops_the_passes_naming_it(value):
    """Setting ``initial_restart`` (written "1" by update_config, removed when the
    restarted initial sync starts) was taken for "no restart" for any other value: a
    restart a changed config asked for was skipped without a word. Now the passes stop,
    naming it; an initial sync called explicitly starts over, which removes it."""
    index = MemoryIndexStore()
    engine = built(index)
    engine.initial_sync()
    index.set_meta("s", "initial_restart", value)
    for run in (engine.incremental_sync, engine.reconcile):
        for dry_run in (True, False):
            with pytest.raises(IndexStoreError) as raised:
                run(dry_run=dry_run)
            message = one_line(raised)
            assert message.startswith(
                "the index (MemoryIndexStore) is corrupt: setting 'initial_restart' of sync "
                f"'s' cannot be read: its value {value!r} is neither '1'"
            ), message
            assert "start the initial sync over (SyncEngine.initial_sync()" in message
    for read in (engine.status, lambda: engine.initial_sync_running):
        with pytest.raises(IndexStoreError, match="setting 'initial_restart'"):
            read()
    assert value == index.get_meta("s", "initial_restart")
    report = engine.initial_sync()
    assert not report.errors
    assert not engine.initial_sync_running
    assert index.get_meta("s", "initial_restart") is None
    assert "2" == index.get_meta("s", "initial_run")


@given(st.text(max_size=8).filter(lambda text: text != "0"))
def test_any_enabled_value_but_off_is_refused_never_read_as_on(text):
    """Whatever text another program leaves in setting ``enabled`` but "0" is refused
    by name; only "0" (off) and no value (on) are read."""
    index = MemoryIndexStore()
    engine = built(index)
    index.set_meta("s", "enabled", text)
    with pytest.raises(IndexStoreError, match="setting 'enabled' of sync 's'"):
        engine.incremental_sync()
