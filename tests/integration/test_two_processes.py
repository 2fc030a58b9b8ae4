"""Two processes, one SQLite index: leases keep them apart (SPEC S9).

The apps are SQLiteAdapters on disk and the index a SQLiteIndexStore file, so every process
opens its own connections, exactly as two deployments of a worker would.
"""

from __future__ import annotations

import subprocess
import sys
import time
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
    started = time.monotonic()
    assert [0, 0] == [w.wait(120) for w in workers]
    assert time.monotonic() - started < 120
    engine.incremental_sync()  # whatever was left queued
    hub_emails = [r.properties["email"] for r in hub.records("contacts")]
    app_emails = [r.properties["mail"] for r in app.records("people")]
    assert 300 == len(hub_emails) == len(set(hub_emails))
    assert 300 == len(app_emails) == len(set(app_emails))
    assert 300 == engine.status()["contacts"].synced
    assert engine.index.cursor("two-procs", Side.HUB, "contacts") is not None
