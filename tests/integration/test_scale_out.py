"""Worker processes split one initial sync over a PostgreSQL index (docs/scale-out.md).

The apps are SQLiteAdapter files that every process opens, with latency added to each
fetch, create and update call (as a remote API has); the index is a PostgresIndexStore
(a fresh schema per test). Workers run as ``python -c`` children: a test module is not
importable in a child process when pytest imports it in importlib mode.

Needs a PostgreSQL server, as ``tests/conformance/test_postgres_store.py`` does: skipped,
saying why, without one.
"""

from __future__ import annotations

import importlib.util
import json
import os
import signal
import subprocess
import sys
from pathlib import Path

import pytest

from syncengine import (
    FieldMapping,
    MatchRule,
    ObjectSchema,
    ObjectSync,
    PropertySpec,
    SyncConfig,
    SyncEngine,
)
from syncengine.adapters import SQLiteAdapter


def _load_server_helper():
    """tests/postgres_server.py (a plain file: tests are not a package)."""
    name = "syncengine_tests_postgres_server"
    if name not in sys.modules:
        path = Path(__file__).parents[1] / "postgres_server.py"
        spec = importlib.util.spec_from_file_location(name, path)
        module = importlib.util.module_from_spec(spec)
        sys.modules[name] = module
        spec.loader.exec_module(module)
    return sys.modules[name]


pg = _load_server_helper()
_DSN, _REASON = pg.dsn_or_skip_reason()
pytestmark = pytest.mark.skipif(
    _DSN is None and bool(_REASON), reason=_REASON or "no PostgreSQL server"
)

HUB = ObjectSchema("contacts", [PropertySpec("email", "string"), PropertySpec("name", "string")])
APP = ObjectSchema("people", [PropertySpec("mail", "string"), PropertySpec("nm", "string")])
CONFIG = SyncConfig(
    "scale-out",
    [
        ObjectSync(
            "contacts",
            "people",
            [FieldMapping("email", "mail"), FieldMapping("name", "nm")],
            match=MatchRule.email("email", "mail"),
        )
    ],
)

WORKER = """
import json, os, sys, time
from pathlib import Path
from syncengine import *
from syncengine.adapters import SQLiteAdapter
from syncengine.index.postgres import PostgresIndexStore
from syncengine.testing import FaultyAdapter
folder, schema = Path({folder!r}), {schema!r}
CONFIG = SyncConfig("scale-out", [ObjectSync("contacts", "people",
    [FieldMapping("email", "mail"), FieldMapping("name", "nm")],
    match=MatchRule.email("email", "mail"))])
hub = FaultyAdapter(SQLiteAdapter(folder / "hub.db", max_batch_size={batch}, page_size=100))
app = FaultyAdapter(SQLiteAdapter(folder / "app.db", max_batch_size={batch}, page_size=100))
for adapter in (hub, app):
    adapter.latency({latency}, ["fetch", "create", "update"])
if {stall_after}:
    def stall(method, n):
        # Mid-pass: the create happened in the hub, the index does not know it yet.
        if method == "create" and n == {stall_after}:
            print("mid-pass", flush=True)
            time.sleep(600)
    hub.on_call(stall, after=True)
if {meet}:
    def meet(method, n):
        # Before its first create in the hub, every worker waits for all the others to
        # reach theirs: each then holds a unit of its own, whatever the scheduling.
        if method == "create" and n == 1:
            (folder / f"at-create-{part}").touch()
            deadline = time.monotonic() + 120
            while len(list(folder.glob("at-create-*"))) < {parts}:
                if time.monotonic() > deadline:
                    sys.exit("the other workers never reached a create")
                time.sleep(0.01)
    hub.on_call(meet)
waits = []
def sleep(seconds):
    waits.append(seconds)
    time.sleep(seconds)
index = PostgresIndexStore(os.environ["SYNCENGINE_POSTGRES_DSN"], schema=schema)
engine = SyncEngine(hub, app, index, CONFIG, partition=({part}, {parts}),
                    lease_seconds={lease_seconds}, sleep=sleep)
report = engine.initial_sync()
print(json.dumps({{"created": report.created, "skipped": report.skipped, "waits": waits}}),
      flush=True)
index.close()
"""


@pytest.fixture(scope="module")
def dsn():
    """The server's DSN (started here when the environment names none)."""
    found = pg.server_dsn()
    if found is None:
        pytest.skip(_REASON or "no PostgreSQL server")
    return found


@pytest.fixture
def schema(dsn):
    """A fresh PostgreSQL schema for one test, dropped afterwards."""
    name = pg.fresh_schema()
    yield name
    pg.drop_schema(dsn, name)


def make_apps(folder: Path, hub_count: int, app_count: int, shared: int) -> int:
    """Fill hub.db and app.db; the app's first ``shared`` people have hub e-mails.

    Returns how many distinct e-mails the two apps hold together.
    """
    hub = SQLiteAdapter(folder / "hub.db", [HUB], id_prefix="h")
    app = SQLiteAdapter(folder / "app.db", [APP], id_prefix="a")
    with hub.transaction():
        for i in range(hub_count):
            hub.put("contacts", email=f"c{i}@example.com", name=f"Hub {i}")
    with app.transaction():
        for i in range(app_count):
            mail = f"c{i}@example.com" if i < shared else f"p{i}@example.org"
            app.put("people", mail=mail, nm=f"App {i}")
    hub.close()
    app.close()
    return hub_count + app_count - shared


def start_worker(dsn, folder, schema, part, parts, **options) -> subprocess.Popen[str]:
    """Start one worker process of the initial sync."""
    code = WORKER.format(
        folder=str(folder),
        schema=schema,
        part=part,
        parts=parts,
        batch=options.get("batch", 20),
        latency=options.get("latency", 0.0),
        lease_seconds=options.get("lease_seconds", 300.0),
        stall_after=options.get("stall_after", 0),
        meet=options.get("meet", False),
    )
    env = {**os.environ, "SYNCENGINE_POSTGRES_DSN": dsn}
    return subprocess.Popen(
        [sys.executable, "-c", code], stdout=subprocess.PIPE, text=True, env=env
    )


def run_workers(dsn, folder, schema, parts, **options) -> list[int]:
    """Run ``parts`` workers at once; return the records each one created."""
    workers = [start_worker(dsn, folder, schema, k, parts, **options) for k in range(parts)]
    # Hang guards, not timings: generous, for a loaded machine.
    outputs = [worker.communicate(timeout=600)[0] for worker in workers]
    assert [0] * parts == [worker.returncode for worker in workers]
    return [json.loads(out.strip().splitlines()[-1])["created"] for out in outputs]


def assert_synced_exactly_once(folder: Path, dsn: str, schema: str, distinct: int) -> None:
    """No e-mail twice on either side, both sides hold all, every entry synced."""
    from syncengine.index.postgres import PostgresIndexStore

    hub = SQLiteAdapter(folder / "hub.db")
    app = SQLiteAdapter(folder / "app.db")
    hub_mails = [r.properties["email"] for r in hub.records("contacts")]
    app_mails = [r.properties["mail"] for r in app.records("people")]
    assert distinct == len(hub_mails) == len(set(hub_mails))
    assert distinct == len(app_mails) == len(set(app_mails))
    with PostgresIndexStore(dsn, schema=schema) as index:
        status = SyncEngine(hub, app, index, CONFIG).status()["contacts"]
    assert (distinct, 0, 0, 0, False) == (
        status.synced,
        status.queued,
        status.failed,
        status.initial,
        status.initial_running,
    )
    hub.close()
    app.close()


def test_four_workers_share_the_initial_sync_and_create_every_record_once(tmp_path, dsn):
    """2,000 records: each of 4 workers does part of the work; each missing record is
    created once. (How much faster 4 workers are is measured by
    ``benchmarks/scale_out.py``, not asserted here: timings are not tests.)"""
    folder = tmp_path / "workers"
    folder.mkdir()
    distinct = make_apps(folder, hub_count=1200, app_count=800, shared=200)
    schema = pg.fresh_schema()
    try:
        # The workers meet before their first create, so each holds a unit of its own
        # (without it, a worker the machine started late found its unit taken).
        created = run_workers(dsn, folder, schema, 4, latency=0.01, meet=True)
        # Each record missing on a side was created there once, by one worker.
        assert (1200 - 200) + (800 - 200) == sum(created)
        assert all(count > 0 for count in created), created  # the work was split
        assert_synced_exactly_once(folder, dsn, schema, distinct)
    finally:
        pg.drop_schema(dsn, schema)


def test_a_worker_killed_mid_pass_has_its_partition_taken_over(tmp_path, dsn, schema):
    """SIGKILL between a create and its index commit: the survivor finishes, no duplicate."""
    distinct = make_apps(tmp_path, hub_count=300, app_count=200, shared=40)
    options = {"lease_seconds": 2.0}
    victim = start_worker(dsn, tmp_path, schema, 1, 2, stall_after=2, **options)
    try:
        # The victim holds its partition of phase 2, one create made and not yet recorded.
        assert "mid-pass" == victim.stdout.readline().strip()
        survivor = start_worker(dsn, tmp_path, schema, 0, 2, **options)
    finally:
        victim.send_signal(signal.SIGKILL)
        victim.communicate(timeout=60)
    output = survivor.communicate(timeout=600)[0]
    assert 0 == survivor.returncode
    assert -signal.SIGKILL == victim.returncode
    assert json.loads(output.strip().splitlines()[-1])["skipped"] is None
    assert_synced_exactly_once(tmp_path, dsn, schema, distinct)


def test_a_worker_killed_on_this_machine_is_taken_over_at_once(tmp_path, dsn, schema):
    """S8, S9: with the default leases (300 s), a worker SIGKILLed mid-pass on the same
    machine is taken over at once: the survivor finishes long before the leases expire,
    nothing twice, nothing left queued."""
    distinct = make_apps(tmp_path, hub_count=300, app_count=200, shared=40)
    victim = start_worker(dsn, tmp_path, schema, 1, 2, stall_after=2)
    try:
        assert "mid-pass" == victim.stdout.readline().strip()
    finally:
        victim.send_signal(signal.SIGKILL)
        victim.communicate(timeout=60)
    assert -signal.SIGKILL == victim.returncode
    survivor = start_worker(dsn, tmp_path, schema, 0, 2)
    output = survivor.communicate(timeout=600)[0]
    assert 0 == survivor.returncode
    result = json.loads(output.strip().splitlines()[-1])
    # It never waited (the engine's sleep is counted, not the wall clock): the dead
    # worker's leases were taken over at once, not when they expire.
    assert [] == result["waits"], "the survivor waited for the leases to expire"
    assert result["skipped"] is None
    assert_synced_exactly_once(tmp_path, dsn, schema, distinct)


def test_a_late_worker_does_not_start_a_finished_initial_sync_again(tmp_path, dsn, schema):
    """A worker that arrives after the others finished skips: it never restarts it alone."""
    distinct = make_apps(tmp_path, hub_count=30, app_count=20, shared=5)
    run_workers(dsn, tmp_path, schema, 2)
    late = start_worker(dsn, tmp_path, schema, 1, 2)
    output = late.communicate(timeout=60)[0]
    result = json.loads(output.strip().splitlines()[-1])
    assert {"created": 0, "skipped": "the initial sync has completed"} == {
        k: result[k] for k in ("created", "skipped")
    }
    assert_synced_exactly_once(tmp_path, dsn, schema, distinct)


CONFIG_FILE = """
sync_id = "scale-out"

[hub]
kind = "sqlite"
path = "hub.db"

[app]
kind = "sqlite"
path = "app.db"

[index]
kind = "postgres"
dsn_env = "SYNCENGINE_TEST_INDEX_DSN"
schema = "{schema}"

[objects.contacts]
app_type = "people"
match = {{ keys = [["email", "mail"]] }}
mappings = [["email", "mail"], ["name", "nm"]]
"""


def syncengine(*arguments: str, env: dict[str, str]) -> subprocess.CompletedProcess[str]:
    """Run the ``syncengine`` command in a child process."""
    return subprocess.run(
        [sys.executable, "-m", "syncengine", *arguments],
        capture_output=True,
        text=True,
        timeout=120,
        env={**os.environ, **env},
    )


def test_run_with_workers_splits_the_initial_sync_between_processes(tmp_path, dsn, schema):
    """`syncengine run CONFIG --workers 3`: three partitions, every record synced once."""
    distinct = make_apps(tmp_path, hub_count=150, app_count=100, shared=30)
    config = tmp_path / "sync.toml"
    config.write_text(CONFIG_FILE.format(schema=schema), encoding="utf-8")
    env = {"SYNCENGINE_TEST_INDEX_DSN": dsn}
    result = syncengine("run", str(config), "--workers", "3", "--new", env=env)
    assert 0 == result.returncode, result.stdout + result.stderr
    assert {"[0/3]", "[1/3]", "[2/3]"} == {line[:5] for line in result.stdout.splitlines()}
    assert_synced_exactly_once(tmp_path, dsn, schema, distinct)
    again = syncengine("run", str(config), "--partition", "1/3", env=env)
    assert "worker 1/3: passes after the initial sync run in worker 0" in again.stdout
    after = syncengine("run", str(config), "--partition", "0/3", env=env)
    assert "incremental: 0 created, 0 updated" in after.stdout


@pytest.mark.parametrize("value", ["3/3", "1", "a/b", "-1/2"])
def test_a_bad_partition_is_a_usage_error(tmp_path, value):
    """--partition takes K/N with 0 <= K < N; anything else exits with code 2."""
    result = syncengine("run", str(tmp_path / "sync.toml"), "--partition", value, env={})
    assert 2 == result.returncode
    assert "K/N" in result.stderr


@pytest.mark.parametrize(
    ("index", "problem"),
    [
        ('kind = "postgres"', "needs one of dsn or dsn_env"),
        ('kind = "postgres"\ndsn = "host=/tmp"\ndsn_env = "X"', "needs one of dsn or dsn_env"),
        ('kind = "sqlite"\nschema = "s"', "only a postgres index store has schema"),
    ],
)
def test_a_postgres_index_in_a_config_file_names_its_dsn_once(index, problem):
    """[index] kind = "postgres" takes dsn or dsn_env (a secret stays in the environment)."""
    from syncengine.configfile import ConfigFileError, parse_config

    text = (
        'sync_id = "s"\n[hub]\nkind = "memory"\n[app]\nkind = "memory"\n'
        f"[index]\n{index}\n"
        '[objects.contacts]\napp_type = "people"\nmappings = [["email", "mail"]]\n'
    )
    with pytest.raises(ConfigFileError, match=problem):
        parse_config(text)
