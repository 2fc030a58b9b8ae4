"""Benchmark of HubSpotAdapter against the local HubSpot, rate limited like HubSpot.

Usage::

    python benchmarks/hubspot.py [--n 100000] [--rate 50] [--smoke]

Prints one JSON line per scenario::

    {"scenario", "n", "seconds", "per_record_us", "peak_rss_mb", "records_per_second",
     "ceiling", "share", "requests", "requests_per_second", "throttled"}

The local HubSpot (:class:`syncengine.testing.hubspot.FakeHubSpot`) runs as a loopback
HTTP server in a child process (HubSpot is another machine: its work must not share this
process's interpreter lock), holding N contacts, with a rolling limit of ``--rate``
requests per second. The adapter paces itself at the same limit with pages and batches of
100 records, so one request carries at most 100 records and the ceiling is
``rate × 100`` records per second (5,000 at 50 requests per second). Each timed run starts
with the rate window used up (``rate`` schema requests just before), so it measures the
steady rate, not a first burst.

Scenarios, in order:

* ``full_scan``: one full scan of the N contacts through ``HubSpotAdapter.scan`` (one
  list request per 100 records; ceiling ``rate × 100``).
* ``initial_sync``: ``SyncEngine.initial_sync`` of the N contacts into an empty
  ``InMemoryAdapter`` with a ``MemoryIndexStore``. The initial sync scans the hub twice
  (SPEC S3: *index hub*, then *sync hub*), so it needs two list requests per 100
  records, and its ceiling is ``rate × 100 / 2`` records per second.

``share`` is records per second divided by the ceiling: how much of what the rate limit
allows the adapter achieves; ``throttled`` counts the requests the local HubSpot refused
with 429 (the adapter's pacing should make it 0). A sliding window admits a burst of
``rate`` requests and then one per freed slot, so a run of R requests takes about
``ceil(R / rate)`` windows: run at least ~1,000 requests (``--n 100000``) for a share
that is not dominated by the last window. ``--smoke`` runs a tiny N for CI.
"""

from __future__ import annotations

import argparse
import json
import multiprocessing
import multiprocessing.connection
import resource
import sys
import time
from typing import Any

__all__ = ["main"]

FIRST = ("Ada", "Grace", "Alan", "Edsger", "Barbara", "Donald", "Frances", "Ken", "Margaret")
LAST = ("Lovelace", "Hopper", "Turing", "Dijkstra", "Liskov", "Knuth", "Allen", "Thompson")
STAGES = ("lead", "customer", "subscriber", "opportunity")


def _serve(n: int, rate: int, conn: multiprocessing.connection.Connection) -> None:
    """The child process: fill a local HubSpot with ``n`` contacts and serve it."""
    from syncengine.testing.hubspot import FakeHubSpot

    fake = FakeHubSpot(rate_limit=(rate, 1.0))
    for i in range(n):
        fake.put(
            "contacts",
            email=f"{FIRST[i % 9].lower()}.{LAST[i % 8].lower()}{i}@example.com",
            firstname=FIRST[i % 9],
            lastname=LAST[i % 8],
            phone=f"+45 {20000000 + i}",
            company=f"{LAST[(i // 8) % 8]} ApS",
            jobtitle="Engineer",
            city="Copenhagen",
            lifecyclestage=STAGES[i % 4],
        )
    with fake.serve() as url:
        conn.send(url)
        while conn.recv() == "count":  # until the parent says "stop"
            conn.send(fake.statuses().count(429))


def _fill_window(hub: Any, rate: int) -> None:
    """Use up the rate window first, so a timed run starts at the steady rate, not a burst."""
    time.sleep(1.1)
    for _ in range(rate):
        hub.schema("contacts")


def _peak_rss_mb() -> float:
    peak = resource.getrusage(resource.RUSAGE_SELF).ru_maxrss
    return round(peak / (1024 * 1024) if sys.platform == "darwin" else peak / 1024, 1)


def _throttled(conn: multiprocessing.connection.Connection) -> int:
    """How many requests the local HubSpot has refused with 429 so far."""
    conn.send("count")
    return int(conn.recv())


def _line(
    scenario: str, n: int, seconds: float, requests: int, ceiling: float, throttled: int
) -> str:
    rps = n / seconds if seconds else 0.0
    return json.dumps(
        {
            "scenario": scenario,
            "n": n,
            "seconds": round(seconds, 3),
            "per_record_us": round(seconds / max(n, 1) * 1e6, 1),
            "peak_rss_mb": _peak_rss_mb(),
            "records_per_second": round(rps, 1),
            "ceiling": ceiling,
            "share": round(rps / ceiling, 3),
            "requests": requests,
            "requests_per_second": round(requests / seconds, 2) if seconds else 0.0,
            "throttled": throttled,
        }
    )


def main(argv: list[str] | None = None) -> None:
    """Run the scenarios and print one JSON line each."""
    parser = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    parser.add_argument("--n", type=int, default=100_000, help="contacts in the local HubSpot")
    parser.add_argument("--rate", type=int, default=50, help="requests per second allowed")
    parser.add_argument("--smoke", action="store_true", help="a tiny, fast run for CI")
    args = parser.parse_args(argv)
    n = 600 if args.smoke else args.n
    rate = args.rate

    from syncengine import (
        FieldMapping,
        MatchRule,
        ObjectSchema,
        ObjectSync,
        PropertySpec,
        SyncConfig,
        SyncEngine,
    )
    from syncengine.adapters import InMemoryAdapter
    from syncengine.adapters.hubspot import HubSpotAdapter
    from syncengine.index import MemoryIndexStore

    ctx = multiprocessing.get_context("spawn")
    parent, child = ctx.Pipe()
    server = ctx.Process(target=_serve, args=(n, rate, child), daemon=True)
    server.start()
    try:
        url = parent.recv()

        def adapter() -> HubSpotAdapter:
            return HubSpotAdapter(
                "fake-token",
                base_url=url,
                rate_limit=(rate, 1.0),
                search_rate=(5, 1.0),
                page_size=100,
            )

        hub = adapter()
        _fill_window(hub, rate)
        before, refused = hub.requests, _throttled(parent)
        start = time.perf_counter()
        count = sum(len(page.records) for page in hub.scan("contacts"))
        seconds = time.perf_counter() - start
        assert count == n, f"the full scan yielded {count} records, expected {n}"
        refused = _throttled(parent) - refused
        print(_line("full_scan", n, seconds, hub.requests - before, rate * 100.0, refused))
        hub.close()

        hub = adapter()
        people = ObjectSchema(
            "people",
            [
                PropertySpec("mail", "string", unique=True),
                PropertySpec("first_name", "string"),
                PropertySpec("last_name", "string"),
                PropertySpec("tel", "string"),
                PropertySpec("employer", "string"),
                PropertySpec("stage", "enum", options=("Lead", "Customer", "Other")),
            ],
        )
        app = InMemoryAdapter([people], name="app")
        config = SyncConfig(
            "bench",
            [
                ObjectSync(
                    "contacts",
                    "people",
                    [
                        FieldMapping("email", "mail"),
                        FieldMapping("firstname", "first_name"),
                        FieldMapping("lastname", "last_name"),
                        FieldMapping("phone", "tel"),
                        FieldMapping("company", "employer"),
                    ],
                    match=MatchRule.email("email", "mail"),
                )
            ],
        )
        engine = SyncEngine(hub, app, MemoryIndexStore(), config)
        _fill_window(hub, rate)
        before, refused = hub.requests, _throttled(parent)
        start = time.perf_counter()
        report = engine.initial_sync()
        seconds = time.perf_counter() - start
        assert app.count("people") == n, f"{app.count('people')} people, expected {n}"
        assert report.failed == 0, report
        refused = _throttled(parent) - refused
        ceiling = rate * 100.0 / 2
        print(_line("initial_sync", n, seconds, hub.requests - before, ceiling, refused))
        hub.close()
    finally:
        parent.send("stop")
        server.join(timeout=10)
        if server.is_alive():
            server.terminate()


if __name__ == "__main__":
    main()
