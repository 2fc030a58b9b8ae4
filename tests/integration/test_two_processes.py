"""Two processes, one SQLite index: leases keep them apart (SPEC S9).

The apps are SQLiteAdapters on disk and the index a SQLiteIndexStore file, so every process
opens its own connections, exactly as two deployments of a worker would.
"""

from __future__ import annotations

import signal
import subprocess
import sys
from pathlib import Path

from syncengine import (
    FieldMapping,
    MatchRule,
    ObjectSchema,
    ObjectSync,
    PropertySpec,
    Side,
    SyncConfig,
    SyncEngine,
)
from syncengine.adapters import SQLiteAdapter
from syncengine.index import SQLiteIndexStore

HUB = ObjectSchema("contacts", [PropertySpec("email", "string"), PropertySpec("name", "string")])
APP = ObjectSchema("people", [PropertySpec("mail", "string"), PropertySpec("nm", "string")])
CONFIG = SyncConfig(
    "two-procs",
    [
        ObjectSync(
            "contacts",
            "people",
            [FieldMapping("email", "mail"), FieldMapping("name", "nm")],
            match=MatchRule.email("email", "mail"),
        )
    ],
)


def open_all(folder: Path, **engine_options) -> tuple[SQLiteAdapter, SQLiteAdapter, SyncEngine]:
    """Open the two apps and the index in this process."""
    hub = SQLiteAdapter(folder / "hub.db", [HUB], id_prefix="h")
    app = SQLiteAdapter(folder / "app.db", [APP], id_prefix="a", page_size=25)
    index = SQLiteIndexStore(folder / "index.db")
    return hub, app, SyncEngine(hub, app, index, CONFIG, **engine_options)


# Children run as `python -c`: a test module is not importable in a child process when
# pytest imports it in importlib mode.
OPEN = """
from pathlib import Path
from syncengine import *
from syncengine.adapters import SQLiteAdapter
from syncengine.index import SQLiteIndexStore
folder = Path({folder!r})
HUB = ObjectSchema("contacts", [PropertySpec("email", "string"), PropertySpec("name", "string")])
APP = ObjectSchema("people", [PropertySpec("mail", "string"), PropertySpec("nm", "string")])
CONFIG = SyncConfig("two-procs", [ObjectSync("contacts", "people",
    [FieldMapping("email", "mail"), FieldMapping("name", "nm")],
    match=MatchRule.email("email", "mail"))])
index = SQLiteIndexStore(folder / "index.db")
"""
RUN = (
    OPEN
    + """
hub = SQLiteAdapter(folder / "hub.db", [HUB], id_prefix="h")
app = SQLiteAdapter(folder / "app.db", [APP], id_prefix="a", page_size=25)
SyncEngine(hub, app, index, CONFIG).incremental_sync()
"""
)
HOLD = (
    OPEN
    + """
import sys
from datetime import UTC, datetime, timedelta
now = datetime.now(UTC)
granted = index.acquire("two-procs", "contacts", [{name!r}], "other-process",
                        until=now + timedelta(minutes=5), now=now)
print("held" if granted == {{{name!r}}} else "refused", flush=True)
sys.stdin.readline()
index.release("two-procs", "other-process")
"""
)


def child(code: str, **pipes) -> subprocess.Popen[str]:
    """Start a child Python process running ``code``."""
    return subprocess.Popen([sys.executable, "-c", code], text=True, **pipes)


def test_a_record_held_by_another_process_is_queued_then_synced(tmp_path):
    """S9: a lease taken in another process queues the record; released, it syncs."""
    hub, app, engine = open_all(tmp_path, queue_wait=0.0)
    ada = hub.put("contacts", email="ada@example.com", name="Ada")
    engine.initial_sync()
    hub.patch("contacts", ada.id, name="Ada L.")
    code = HOLD.format(folder=str(tmp_path), name=f"hub:{ada.id}")
    holder = child(code, stdin=subprocess.PIPE, stdout=subprocess.PIPE)
    try:
        assert "held" == holder.stdout.readline().strip()
        report = engine.incremental_sync()
        assert 1 == report.queued
        assert 1 == engine.status()["contacts"].queued
        assert "Ada" == app.records("people")[0].properties["nm"]
    finally:
        holder.communicate("go\n", timeout=60)
    assert 0 == holder.returncode
    engine.incremental_sync()
    assert 0 == engine.status()["contacts"].queued
    assert "Ada L." == app.records("people")[0].properties["nm"]


def test_two_processes_syncing_at_once_create_each_record_once(tmp_path):
    """S9, S8: two processes run the same pass concurrently; nothing is created twice."""
    hub, app, engine = open_all(tmp_path)
    engine.initial_sync()
    with hub.transaction():
        for i in range(150):
            hub.put("contacts", email=f"h{i}@example.com", name=f"H{i}")
    with app.transaction():
        for i in range(150):
            app.put("people", mail=f"a{i}@example.com", nm=f"A{i}")
    workers = [child(RUN.format(folder=str(tmp_path))) for _ in range(2)]
    assert [0, 0] == [w.wait(600) for w in workers]  # a hang guard
    engine.incremental_sync()  # whatever was left queued
    hub_emails = [r.properties["email"] for r in hub.records("contacts")]
    app_emails = [r.properties["mail"] for r in app.records("people")]
    assert 300 == len(hub_emails) == len(set(hub_emails))
    assert 300 == len(app_emails) == len(set(app_emails))
    assert 300 == engine.status()["contacts"].synced
    assert engine.index.cursor("two-procs", Side.HUB, "contacts") is not None


# A pass in a child process that stops at its first create in the hub, the records of its
# batch leased: it prints "holding", then dies (SIGKILL) or waits for a line on stdin.
STOPPED = (
    OPEN
    + """
import os, signal, sys
from syncengine.testing import FaultyAdapter
hub = FaultyAdapter(SQLiteAdapter(folder / "hub.db", [HUB], id_prefix="h"))
app = SQLiteAdapter(folder / "app.db", [APP], id_prefix="a", page_size=100)
def stop(method, n):
    if method == "create" and n == 1:
        print("holding", flush=True)
        if {die!r}:
            os.kill(os.getpid(), signal.SIGKILL)
        sys.stdin.readline()
hub.on_call(stop)
engine = SyncEngine(hub, app, index, CONFIG)
engine.{method}()
"""
)


def fill(folder: Path) -> tuple[SQLiteAdapter, SQLiteAdapter]:
    """Hub: p0..p19; app: p10..p29, three people without e-mail and one duplicate."""
    hub = SQLiteAdapter(folder / "hub.db", [HUB], id_prefix="h")
    app = SQLiteAdapter(folder / "app.db", [APP], id_prefix="a", page_size=100)
    with hub.transaction():
        for i in range(20):
            hub.put("contacts", email=f"p{i}@example.com", name=f"Hub {i}")
    with app.transaction():
        for i in range(10, 30):
            app.put("people", mail=f"p{i}@example.com", nm=f"App {i}")
        for i in range(3):
            app.put("people", mail=None, nm=f"Nobody {i}")  # no identifier (M5)
        app.put("people", mail="P12@example.com", nm="App 12 again")  # a duplicate (M3)
    return hub, app


def assert_all_synced(hub: SQLiteAdapter, app: SQLiteAdapter, engine: SyncEngine) -> None:
    """p0..p29 once on each side; the app's four excluded people are excluded, none queued."""
    wanted = {f"p{i}@example.com" for i in range(30)}
    hub_mails = [r.properties["email"] for r in hub.records("contacts")]
    app_mails = [
        m.casefold() for r in app.records("people") if (m := r.properties.get("mail")) is not None
    ]
    assert wanted == set(hub_mails)
    assert 30 == len(hub_mails)
    assert wanted == set(app_mails)
    assert 31 == len(app_mails)  # with the duplicate
    status = engine.status()["contacts"]
    assert (30, 0, 4, 0, False) == (
        status.synced,
        status.failed,
        status.excluded,
        status.queued,
        status.initial_running,
    )


def test_a_killed_pass_is_taken_over_at_once_not_when_its_leases_expire(tmp_path):
    """S8, S9: a pass SIGKILLed with a batch leased (default lease_seconds, 300 s). The
    next pass takes its leases over at once: it never waits, queues nothing, and ends
    with every record synced or excluded, as an uninterrupted run does."""
    hub, app = fill(tmp_path)
    killed = child(
        STOPPED.format(folder=str(tmp_path), die=True, method="initial_sync"),
        stdout=subprocess.PIPE,
    )
    out, _ = killed.communicate(timeout=600)
    assert "holding" == out.strip()
    assert -signal.SIGKILL == killed.returncode
    index = SQLiteIndexStore(tmp_path / "index.db")
    waited: list[float] = []
    engine = SyncEngine(hub, app, index, CONFIG, sleep=waited.append)
    assert engine.initial_sync_running
    report = engine.initial_sync()
    assert (0, [], "") == (report.queued, waited, report.skipped or "")
    assert not engine.initial_sync_running
    assert_all_synced(hub, app, engine)
    assert 0 == engine.incremental_sync().writes


def test_a_live_pass_keeps_its_leases(tmp_path):
    """S9: a pass stopped mid-batch in a process that still runs keeps its records: the
    other pass queues them (it never takes a live pass's leases), and they sync once the
    stopped pass has finished."""
    hub, app = fill(tmp_path)
    index = SQLiteIndexStore(tmp_path / "index.db")
    engine = SyncEngine(hub, app, index, CONFIG, queue_wait=0.0)
    engine.initial_sync()
    app.put("people", mail="new@example.com", nm="New")
    stopped = child(
        STOPPED.format(folder=str(tmp_path), die=False, method="incremental_sync"),
        stdin=subprocess.PIPE,
        stdout=subprocess.PIPE,
    )
    try:
        assert "holding" == stopped.stdout.readline().strip()
        report = engine.incremental_sync()
        # Queued, not created a second time next to the stopped pass's create.
        assert 1 == report.queued
        assert "new@example.com" not in [r.properties["email"] for r in hub.records("contacts")]
    finally:
        stopped.communicate("go\n", timeout=600)
    assert 0 == stopped.returncode
    engine.incremental_sync()
    mails = [r.properties["email"] for r in hub.records("contacts")]
    assert 1 == mails.count("new@example.com")
    assert 0 == engine.status()["contacts"].queued
