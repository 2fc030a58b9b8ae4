"""Benchmark of HubSpotAdapter against the local HubSpot, rate limited like HubSpot.

Usage::

    python benchmarks/hubspot.py [--n 100000] [--rate 50] [--count-n 10000] [--smoke]

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

* ``requests_initial`` and ``requests_incremental``: how many HTTP requests HubSpot
  receives, per endpoint and per 1,000 records, against the minimum. Counted at the
  local HubSpot's HTTP layer (a transport in front of ``FakeHubSpot.handle``, in process,
  no rate limit, ``--count-n`` contacts). The initial sync starts from N contacts in
  HubSpot and N/2 people in the app, half of them with a contact's e-mail (paired), half
  new (created in HubSpot), and contacts have ``--count-wide`` (400) more custom
  properties with long names that the sync does not map (a wide portal); the
  incremental pass follows N/10 contacts changed in HubSpot
  and N/10 other people changed in the app. Records are counted on both sides (initial:
  N + N/2; incremental: the N/5 changed). The *minimum* reads each record once per side
  (HubSpot lists 100 records a request and searches 200) and writes in batches of 100:
  initial ``ceil(N/100)`` lists + ``ceil(N/4/100)`` creates; incremental ``ceil(N/10/200)``
  searches + ``ceil(N/10/100)`` updates. Each line has ``requests``, ``per_1000``,
  ``minimum``, ``minimum_per_1000``, ``ratio`` and ``endpoints`` (``"METHOD path"`` →
  requests; record ids in paths read ``{id}``; the archived listing reads
  ``?archived=true``). No deletion webhooks reach this sync, so with the default
  ``archived_sweep_every="auto"`` every incremental pass also reads the archived
  listing (one request per 100 archived records); with deletion webhooks it is read
  once a day.

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


def _endpoint(request: Any) -> str:
    """``"METHOD path"`` of a request, ids as ``{id}``, the archived listing marked."""
    parts = ["{id}" if part.isdigit() else part for part in request.url.path.split("/")]
    name = f"{request.method} {'/'.join(parts)}"
    if request.url.params.get("archived") == "true":
        name += "?archived=true"
    return name


def _counted(n: int, wide: int = 0) -> list[str]:
    """The request counts of an initial sync and an incremental pass (see the docstring).

    ``wide`` adds that many unmapped custom properties with long names to contacts (a
    wide portal); a pass HubSpot refuses is one line with its ``error``.
    """
    import math
    from collections import Counter

    import httpx

    from syncengine import (
        AdapterError,
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
    from syncengine.testing.hubspot import FakeHubSpot, ManualClock, property_definition

    clock = ManualClock()
    fake = FakeHubSpot(clock=clock, sleep=clock.sleep)
    for i in range(wide):
        fake.add_property(
            "contacts", property_definition(f"integration_custom_field_with_long_name_{i:05d}")
        )
    counts: Counter[str] = Counter()

    def handle(request: httpx.Request) -> httpx.Response:
        counts[_endpoint(request)] += 1
        return fake.handle(request)

    ids = []
    for i in range(n):
        # Records made over time, as in a real account (not all at one millisecond,
        # which would keep every one inside the consistency window of the first scans).
        clock.advance(1.0)
        ids.append(
            fake.put(
                "contacts",
                email=f"c{i}@example.com",
                firstname=FIRST[i % 9],
                lastname=LAST[i % 8],
                phone=f"+45 {20000000 + i}",
            )
        )
    people = ObjectSchema(
        "people",
        [
            PropertySpec("mail", "string", unique=True),
            PropertySpec("first_name", "string"),
            PropertySpec("last_name", "string"),
            PropertySpec("tel", "string"),
        ],
    )
    app = InMemoryAdapter([people], name="app")
    paired, new = n // 4, n // 4
    for i in range(paired):
        app.put(
            "people",
            mail=f"c{i}@example.com",
            first_name=FIRST[i % 9],
            last_name=LAST[i % 8],
            tel=f"+45 {20000000 + i}",
        )
    for i in range(new):
        app.put("people", mail=f"new{i}@example.com", first_name="New", last_name="Person")
    clock.advance(3600)
    hub = HubSpotAdapter(
        fake.token,
        transport=httpx.MockTransport(handle),
        rate_limit=(10**9, 1.0),
        search_rate=(10**9, 1.0),
        read_ahead=False,
        clock=clock,
        sleep=clock.sleep,
    )
    config = SyncConfig(
        "count",
        [
            ObjectSync(
                "contacts",
                "people",
                [
                    FieldMapping("email", "mail"),
                    FieldMapping("firstname", "first_name"),
                    FieldMapping("lastname", "last_name"),
                    FieldMapping("phone", "tel"),
                ],
                match=MatchRule.email("email", "mail"),
            )
        ],
    )
    engine = SyncEngine(hub, app, MemoryIndexStore(), config)
    lines = []
    counts.clear()
    try:
        report = engine.initial_sync()
    except AdapterError as exc:
        hub.close()
        return [
            json.dumps(
                {"scenario": "requests_initial", "n": n, "wide": wide, "error": str(exc)[:200]}
            )
        ]
    assert report.failed == 0, report.summary()
    assert fake.count("contacts") == n + new, fake.count("contacts")
    initial = {
        "GET /crm/v3/objects/contacts": math.ceil(n / 100),
        "POST /crm/v3/objects/contacts/batch/create": math.ceil(new / 100),
    }
    lines.append(_count_line("requests_initial", n, wide, n + paired + new, counts, initial))

    clock.advance(3600)  # past the consistency window: every change is visible to search
    changed = n // 10
    for record_id in ids[:changed]:
        clock.advance(0.5)
        fake.patch("contacts", record_id, firstname="Changed")
    # App-only people (created in HubSpot by the initial sync), none paired with a
    # contact changed above: app scans list the people put first, in order.
    people_ids = [r.id for page in app.scan("people") for r in page.records]
    others = people_ids[paired : paired + changed]
    for record_id in others:
        app.patch("people", record_id, last_name="Moved")
    clock.advance(3600)
    counts.clear()
    report = engine.incremental_sync()
    assert report.failed == 0, report.summary()
    incremental = {
        "POST /crm/v3/objects/contacts/search": math.ceil(changed / 200),
        "POST /crm/v3/objects/contacts/batch/update": math.ceil(len(others) / 100),
    }
    lines.append(
        _count_line("requests_incremental", n, wide, changed + len(others), counts, incremental)
    )
    hub.close()
    return lines


def _count_line(
    scenario: str, n: int, wide: int, records: int, counts: Any, minimum: dict[str, int]
) -> str:
    total = sum(counts.values())
    least = sum(minimum.values())
    per = 1000 / max(records, 1)
    return json.dumps(
        {
            "scenario": scenario,
            "n": n,
            "wide": wide,
            "records": records,
            "requests": total,
            "per_1000": round(total * per, 2),
            "minimum": least,
            "minimum_per_1000": round(least * per, 2),
            "ratio": round(total / least, 2) if least else None,
            "endpoints": dict(sorted(counts.items(), key=lambda kv: (-kv[1], kv[0]))),
            "minimum_endpoints": minimum,
        }
    )


def main(argv: list[str] | None = None) -> None:
    """Run the scenarios and print one JSON line each."""
    parser = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    parser.add_argument("--n", type=int, default=100_000, help="contacts in the local HubSpot")
    parser.add_argument("--rate", type=int, default=50, help="requests per second allowed")
    parser.add_argument(
        "--count-n", type=int, default=10_000, help="contacts of the request-count scenarios"
    )
    parser.add_argument(
        "--count-wide",
        type=int,
        default=400,
        help="unmapped custom properties (long names) of the contacts counted",
    )
    parser.add_argument("--smoke", action="store_true", help="a tiny, fast run for CI")
    parser.add_argument(
        "--counts-only", action="store_true", help="only the request-count scenarios"
    )
    args = parser.parse_args(argv)
    n = 600 if args.smoke else args.n
    rate = args.rate
    for line in _counted(400 if args.smoke else args.count_n, args.count_wide):
        print(line, flush=True)
    if args.counts_only:
        return

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
