"""FaultyAdapter, the fault injector the stateful tests (and connector authors) rely on."""

from __future__ import annotations

import pytest

from syncengine import AdapterError, ChangeEvent, ErrorCategory, ObjectSchema, PropertySpec
from syncengine.adapters import InMemoryAdapter, NewRecord, RecordUpdate
from syncengine.testing import Crash, FaultyAdapter

SCHEMA = ObjectSchema("contacts", [PropertySpec("email", "string")])


@pytest.fixture
def inner():
    """An in-memory app with three contacts, two per page."""
    app = InMemoryAdapter([SCHEMA], page_size=2)
    for i in range(3):
        app.put("contacts", email=f"p{i}@x.io")
    return app


def new(*emails, key=""):
    """Create items for these e-mails."""
    return [NewRecord({"email": e}, key or e) for e in emails]


class TestScheduledFaults:
    """Faults scheduled for the next calls."""

    def test_fail_next_raises_without_calling_the_app(self, inner):
        """The call fails as a whole and nothing is created."""
        faulty = FaultyAdapter(inner)
        faulty.fail_next("create", times=2)
        for _ in range(2):
            with pytest.raises(AdapterError):
                faulty.create("contacts", new("a@x.io"))
        assert 3 == inner.count("contacts")
        assert 1 == len(faulty.create("contacts", new("a@x.io")))

    def test_rate_limit_carries_retry_after(self, inner):
        """A throttled call says when to come back."""
        faulty = FaultyAdapter(inner)
        faulty.rate_limit("fetch", retry_after=2.5)
        with pytest.raises(AdapterError) as caught:
            faulty.fetch("contacts", ["1"])
        assert (ErrorCategory.RATE_LIMITED, 2.5) == (
            caught.value.category,
            caught.value.retry_after,
        )

    def test_lose_confirmation_writes_then_raises(self, inner):
        """The create happens remotely; the caller sees the error (or dies with Crash)."""
        faulty = FaultyAdapter(inner)
        faulty.lose_confirmation("create", Crash())
        with pytest.raises(Crash):
            faulty.create("contacts", new("a@x.io"))
        assert 4 == inner.count("contacts")
        assert ["a@x.io"] == [props["email"] for _, _, props in faulty.created]

    def test_unknown_methods_are_refused(self, inner):
        """A typo in a method name is an error, not a fault that never fires."""
        with pytest.raises(ValueError, match="unknown"):
            FaultyAdapter(inner).fail_next("crate")


class TestItemFaults:
    """Single items of a write fail; the others are written, in order."""

    def test_matching_items_fail_with_their_category(self, inner):
        """One result per item, in order; only the others reach the app."""
        faulty = FaultyAdapter(inner)
        faulty.fail_items(
            "create", lambda item: "bad" in item.properties["email"], ErrorCategory.VALIDATION, "no"
        )
        results = faulty.create("contacts", new("a@x.io", "bad@x.io", "b@x.io"))
        assert [True, False, True] == [r.succeeded for r in results]
        assert ErrorCategory.VALIDATION is results[1].category
        assert 5 == inner.count("contacts")

    def test_times_limits_the_fault(self, inner):
        """After ``times`` failed items the fault is gone."""
        faulty = FaultyAdapter(inner)
        faulty.fail_items("update", lambda item: True, ErrorCategory.CONFLICT, "no", times=1)
        ids = [r.id for r in inner.records("contacts")][:2]
        results = faulty.update("contacts", [RecordUpdate(i, {"email": "z@x.io"}) for i in ids])
        assert [False, True] == [r.succeeded for r in results]

    def test_a_replayed_create_is_never_failed(self, inner):
        """An idempotent app answers a retry with the record it made, whatever the faults."""
        faulty = FaultyAdapter(inner)
        (first,) = faulty.create("contacts", new("a@x.io", key="k"))
        faulty.fail_items("create", lambda item: True, ErrorCategory.VALIDATION, "no")
        (again,) = faulty.create("contacts", new("a@x.io", key="k"))
        assert first == again


class TestScansAndEvents:
    """Scans that end early, slow calls, webhooks duplicated and shuffled."""

    def test_truncated_scans_raise_where_the_next_page_would_come(self, inner):
        """The pages before the cut are delivered."""
        faulty = FaultyAdapter(inner)
        faulty.truncate_scans(1)
        pages = faulty.scan("contacts")
        assert 2 == len(next(iter(pages)).records)
        with pytest.raises(AdapterError):
            list(pages)

    def test_latency_waits_through_the_injected_sleep(self, inner):
        """Every call and every further page waits; the test never really sleeps."""
        waited = []
        faulty = FaultyAdapter(inner, sleep=waited.append)
        faulty.latency(0.5)
        list(faulty.scan("contacts"))
        faulty.fetch("contacts", ["1"])
        assert [0.5, 0.5, 0.5] == waited
        assert 1.5 == faulty.slept

    def test_scrambled_events_keep_every_event_and_are_reproducible(self):
        """Duplicated and shuffled, never lost; the same seed gives the same order."""
        events = [ChangeEvent("contacts", str(i)) for i in range(20)]
        first = FaultyAdapter(InMemoryAdapter([SCHEMA]), seed=3).scramble_events(events)
        second = FaultyAdapter(InMemoryAdapter([SCHEMA]), seed=3).scramble_events(events)
        assert first == second
        assert set(events) == set(first)
        assert len(first) > len(events)
        assert events != first[: len(events)]

    def test_hooks_see_every_call_and_page(self, inner):
        """on_call hooks run before (and after) calls and pages, with a count per method."""
        seen = []
        faulty = FaultyAdapter(inner)
        faulty.on_call(lambda method, n: seen.append((method, n)), after=True)
        list(faulty.scan("contacts"))
        faulty.fetch("contacts", ["1"])
        assert [("scan", 1), ("page", 1), ("page", 2), ("fetch", 1)] == seen


class TestRandomFaults:
    """Seeded random faults of every kind."""

    def test_random_faults_are_seeded_and_counted(self, inner):
        """The same seed and calls inject the same faults."""

        def run(seed):
            faulty = FaultyAdapter(InMemoryAdapter([SCHEMA]), seed=seed)
            faulty.random_faults(
                0.5, kinds=("unavailable", "rate_limited", "lost_confirmation", "items")
            )
            outcomes = []
            for i in range(30):
                try:
                    results = faulty.create("contacts", new(f"p{i}@x.io"))
                    outcomes.append(results[0].category)
                except AdapterError as exc:
                    outcomes.append(exc.category)
            return outcomes, faulty.injected

        assert run(5) == run(5)
        outcomes, injected = run(5)
        assert 5 < injected < 25
        assert {None, ErrorCategory.UNAVAILABLE, ErrorCategory.RATE_LIMITED} <= set(outcomes)

    def test_clear_stops_every_fault(self, inner):
        """After clear, calls behave."""
        faulty = FaultyAdapter(inner)
        faulty.random_faults(1.0)
        faulty.truncate_scans(0)
        faulty.fail_next("update")
        faulty.clear()
        assert not faulty.faulty
        assert 3 == sum(len(p.records) for p in faulty.scan("contacts"))
        assert 1 == len(faulty.fetch("contacts", [inner.records("contacts")[0].id]))


class TestHooks:
    """on_call: hooks around every call, with the object type when asked."""

    def test_a_typed_hook_gets_the_object_type_and_a_plain_hook_does_not(self, inner):
        """``with_type=True`` adds the call's object type; hooks without it keep the
        two-argument call, before and after alike."""
        plain: list[tuple[str, int]] = []
        typed: list[tuple[str, int, str | None]] = []
        faulty = FaultyAdapter(inner)
        faulty.on_call(lambda m, n: plain.append((m, n)))
        faulty.on_call(lambda m, n, t: typed.append((m, n, t)), after=True, with_type=True)
        faulty.fetch("contacts", ["1"])
        faulty.update("contacts", [RecordUpdate("1", {"email": "z@x.io"})])
        pages = list(faulty.scan("contacts"))
        faulty.associate([])
        assert len(pages) == 2
        assert plain == [
            ("fetch", 1),
            ("update", 1),
            ("scan", 1),
            ("page", 1),
            ("page", 2),
            ("associate", 1),
        ]
        assert typed == [
            ("fetch", 1, "contacts"),
            ("update", 1, "contacts"),
            ("scan", 1, "contacts"),
            ("page", 1, "contacts"),
            ("page", 2, "contacts"),
            ("associate", 1, None),
        ]
