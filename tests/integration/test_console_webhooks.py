"""`syncengine serve`'s webhook endpoint answers while a pass runs (issue 20, "done when").

A pass is held in progress (an app blocked on an Event); signed HubSpot requests sent to
the served endpoint meanwhile are answered and their events kept in the inbox, while the
pass is still blocked; once released, the same pass drains them. The test asserts the
order of things, never a wall-clock bound; it prints the latencies it measured.
"""

from __future__ import annotations

import importlib.util
import json
import statistics
import threading
import time
from pathlib import Path

import pytest

pytest.importorskip("starlette", reason="the server extra (syncengine-hub[server]) is needed")

import httpx

from syncengine import (
    ObjectSchema,
    PropertySpec,
    SyncEngine,
)
from syncengine.adapters import InMemoryAdapter
from syncengine.index import SQLiteIndexStore
from syncengine.server import PassRunner, app
from syncengine.webhooks import signature_v3

from .conftest import MAIL_PEOPLE, email_first_config

_spec = importlib.util.spec_from_file_location(
    "syncengine_tests_console_demo", Path(__file__).with_name("console_demo.py")
)
console_demo = importlib.util.module_from_spec(_spec)
_spec.loader.exec_module(console_demo)

SECRET = "webhook-client-secret-for-tests"
CONTACTS = ObjectSchema(
    "contacts", [PropertySpec("email", "string"), PropertySpec("firstname", "string")]
)
PEOPLE = MAIL_PEOPLE
CONFIG = email_first_config("served")


def signed(url: str, events: list[dict]) -> tuple[bytes, dict[str, str]]:
    body = json.dumps(events).encode()
    stamp = str(int(time.time() * 1000))
    return body, {
        "Content-Type": "application/json",
        "X-HubSpot-Request-Timestamp": stamp,
        "X-HubSpot-Signature-v3": signature_v3("POST", url, body, stamp, SECRET),
    }


def test_the_webhook_endpoint_answers_while_a_pass_is_blocked(tmp_path, capsys):
    """Signed requests are answered (200, events kept) while the pass is still blocked;
    the pass, once released, processes and removes them."""
    hub = InMemoryAdapter([CONTACTS], name="crm")
    people = InMemoryAdapter([PEOPLE], name="shop")
    ids = [hub.put("contacts", email=f"p{n}@example.com", firstname=f"P{n}").id for n in range(3)]
    index = SQLiteIndexStore(tmp_path / "index.db")
    engine = SyncEngine(hub, people, index, CONFIG)
    engine.initial_sync()
    runner = PassRunner(engine, 0)
    application = app(engine, webhook_secret=SECRET, runner=runner)

    inside, release = threading.Event(), threading.Event()
    scan = people.scan

    def blocked_scan(*args, **kwargs):
        inside.set()
        assert release.wait(120), "the test never released the pass"
        return scan(*args, **kwargs)

    people.scan = blocked_scan
    for n, record_id in enumerate(ids):
        hub.patch("contacts", record_id, firstname=f"Changed{n}")
    timings: list[float] = []
    try:
        with console_demo.serving(application) as base:
            url = f"{base}/webhooks/hubspot"
            passing = threading.Thread(target=runner.run_pass)
            passing.start()
            assert inside.wait(120)
            with httpx.Client() as client:
                for n in range(20):
                    record_id = ids[n % 3]
                    event = {
                        "eventId": n,
                        "subscriptionType": "contact.propertyChange",
                        "objectId": int(record_id) if record_id.isdigit() else record_id,
                        "propertyName": "firstname",
                        "occurredAt": int(time.time() * 1000) + n,
                    }
                    body, headers = signed(url, [event])
                    started = time.perf_counter()
                    response = client.post(url, content=body, headers=headers)
                    timings.append(time.perf_counter() - started)
                    assert 200 == response.status_code, response.text
                    # Answered while the pass is still blocked inside the app.
                    assert runner.busy
                    assert not release.is_set()
                    assert passing.is_alive()
                unsigned = client.post(url, content=b"[]")
                assert 401 == unsigned.status_code
            assert index.inbox_count("served") > 0  # kept durably before the answer
            release.set()
            passing.join(120)
            assert not passing.is_alive()
    finally:
        release.set()
        index.close()
    assert runner.last_error is None
    assert 0 == index_count_after(tmp_path)
    assert {f"Changed{n}" for n in range(3)} == {
        p.properties["first"] for p in people.records("people")
    }
    with capsys.disabled():
        print(
            f"\nwebhook while a pass runs: median {statistics.median(timings) * 1000:.1f} ms, "
            f"max {max(timings) * 1000:.1f} ms over {len(timings)} signed requests"
        )


def index_count_after(tmp_path: Path) -> int:
    """The inbox's size, read from the index file afresh."""
    with SQLiteIndexStore(tmp_path / "index.db") as store:
        return store.inbox_count("served")
