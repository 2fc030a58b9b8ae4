"""HubSpotAdapter's HTTP: pacing, back-off, error categories and secrets (issue 9, SPEC X4)."""

from __future__ import annotations

import logging
import random
import traceback

import httpx
import pytest

from syncengine import AdapterError, ErrorCategory
from syncengine.adapters import NewRecord, RecordUpdate
from syncengine.adapters._hubspot_http import ErrorBody, RateWindow, Secret, category_of
from syncengine.testing.hubspot import ManualClock

TOKEN = "pat-na1-0123456789abcdef-SECRET"


def ADAPTER_DEFAULTS() -> dict[str, object]:
    """This module's adapters read no page ahead, and jitter from a seeded source."""
    return {"read_ahead": False, "rng": random.Random(7)}


def scan_all(adapter, object_type="contacts", since=None):
    """Every record of a scan."""
    return [r for page in adapter.scan(object_type, since) for r in page.records]


class TestRateWindow:
    """The client-side limit: never more than HubSpot's window admits."""

    def test_it_admits_the_limit_then_waits_for_the_oldest_response_plus_the_window(self):
        """A slot is taken from the request until a window after its response."""
        clock = ManualClock(100.0)
        window = RateWindow(3, 10.0, clock=clock, sleep=clock.sleep)
        for _ in range(3):
            window.acquire()
            clock.advance(0.5)  # the request's round trip
            window.release()
        window.acquire()
        assert [9.0] == clock.slept  # the first response came at 100.5; 100.5 + 10 - 101.5
        assert 110.5 == clock()

    def test_it_adopts_a_stricter_limit_from_hubspots_headers(self):
        """X-HubSpot-RateLimit-Max/Interval below the configured rate tighten the window."""
        clock = ManualClock()
        window = RateWindow(190, 10.0, clock=clock, sleep=clock.sleep)
        window.observe(
            httpx.Headers(
                {
                    "X-HubSpot-RateLimit-Max": "100",
                    "X-HubSpot-RateLimit-Interval-Milliseconds": "10000",
                }
            )
        )
        assert (100, 10.0) == (window.limit, window.seconds)

    def test_it_counts_requests_that_another_client_made_under_the_same_limit(self):
        """Fewer Remaining than the window thinks free marks the difference as used."""
        clock = ManualClock()
        window = RateWindow(10, 1.0, clock=clock, sleep=clock.sleep)
        window.acquire()
        window.release()
        window.observe(httpx.Headers({"X-HubSpot-RateLimit-Remaining": "2"}))
        window.acquire()
        window.release()
        window.acquire()
        window.release()
        assert [] == clock.slept
        window.acquire()
        assert 1 == len(clock.slept)


class TestPacing:
    """Issue 9 §2: requests stay under HubSpot's limits without real sleeping."""

    def test_paced_requests_are_never_refused_by_a_50_per_second_limit(
        self, make_adapter, fake, clock
    ):
        """300 reads at 50 per second: no 429, and six seconds of injected time."""
        fake.rate_limit = (50, 1.0)
        for i in range(250):
            fake.put("contacts", email=f"c{i}@example.com")
        adapter = make_adapter(rate_limit=(50, 1.0), page_size=1)
        start = clock()

        assert 250 == len(scan_all(adapter))

        assert 0 == fake.statuses().count(429)
        assert 5.0 <= clock() - start < 6.0

    def test_an_account_with_a_lower_limit_is_paced_by_its_headers_and_never_refused(
        self, make_adapter, fake, clock
    ):
        """X-HubSpot-RateLimit-* below the configured limit tighten the pacing at once."""
        fake.rate_limit = (10, 10.0)
        for i in range(60):
            fake.put("contacts", email=f"c{i}@example.com")
        adapter = make_adapter(rate_limit=(100, 10.0), page_size=5)
        start = clock()

        assert 60 == len(scan_all(adapter))

        assert 0 == fake.statuses().count(429)
        assert 10.0 <= clock() - start < 20.0

    def test_a_429_waits_for_the_window_hubspot_names_and_then_succeeds(
        self, make_adapter, fake, clock
    ):
        """TEN_SECONDLY_ROLLING: wait the X-HubSpot-RateLimit-Interval, then retry."""
        fake.rate_limit = (100, 10.0)
        fake.fail(429, times=2, policy="TEN_SECONDLY_ROLLING")
        adapter = make_adapter()

        assert "email" in adapter.schema("contacts")

        assert [429, 429, 200] == fake.statuses()
        assert [10.0, 10.0] == clock.slept

    def test_search_has_its_own_limit(self, make_adapter, fake, clock):
        """Searches are paced by search_rate and are exempt from the burst limit."""
        fake.search_rate = (5, 1.0)
        fake.rate_limit = (1, 10.0)
        adapter = make_adapter(search_rate=(5, 1.0), search_page_size=1)
        for i in range(12):
            fake.put("contacts", email=f"c{i}@example.com")
        start = clock()
        searches = [
            adapter._search("contacts", [], ("hs_object_id", "ASCENDING"), [], 1) for _ in range(11)
        ]
        assert 11 == len(searches)
        assert 0 == fake.statuses().count(429)
        assert 2.0 <= clock() - start < 3.0

    def test_a_daily_limit_gives_up_at_once_as_rate_limited_with_retry_after(
        self, make_adapter, fake
    ):
        """429 DAILY is not retried: RATE_LIMITED, with a time to come back."""
        fake.daily_limit = 1
        adapter = make_adapter()
        adapter.schema("contacts")
        with pytest.raises(AdapterError) as caught:
            adapter.schema("contacts")
        assert ErrorCategory.RATE_LIMITED == caught.value.category
        assert 3600.0 == caught.value.retry_after
        assert "daily" in caught.value.message
        assert [200, 429] == fake.statuses()

    def test_429s_beyond_max_retries_raise_rate_limited(self, make_adapter, fake):
        """Giving up on a burst limit says RATE_LIMITED and how long the window is."""
        fake.fail(429, times=10, retry_after=None)
        adapter = make_adapter(max_retries=2)
        with pytest.raises(AdapterError) as caught:
            adapter.schema("contacts")
        assert ErrorCategory.RATE_LIMITED == caught.value.category
        assert 10.0 == caught.value.retry_after
        assert 3 == len(fake.log)


class TestRetries:
    """Issue 9 §2: jittered exponential back-off for what may succeed on a retry."""

    def test_5xx_is_retried_with_jittered_exponential_backoff(self, make_adapter, fake, clock):
        """Two 503s, then success: waits grow and stay within [half, all] of 0.5·2ⁿ."""
        fake.fail(503, times=2)
        adapter = make_adapter(backoff=(0.5, 30.0))
        adapter.schema("contacts")
        assert [503, 503, 200] == fake.statuses()
        first, second = clock.slept
        assert 0.25 <= first <= 0.5
        assert 0.5 <= second <= 1.0

    def test_5xx_beyond_max_retries_raises_unavailable_with_hubspots_correlation_id(
        self, make_adapter, fake
    ):
        """Giving up says UNAVAILABLE, with HubSpot's message and correlation id."""
        fake.fail(502, times=10)
        adapter = make_adapter(max_retries=3)
        with pytest.raises(AdapterError) as caught:
            adapter.schema("contacts")
        assert ErrorCategory.UNAVAILABLE == caught.value.category
        assert "correlationId" in caught.value.message
        assert 4 == len(fake.log)

    def test_a_locked_account_waits_at_least_two_seconds(self, make_adapter, fake, clock):
        """423: HubSpot's bulk-write lock is held about 2 s (reference §2)."""
        fake.fail(423)
        adapter = make_adapter(backoff=(0.1, 1.0))
        adapter.schema("contacts")
        assert [2.0] == clock.slept

    def test_retry_after_is_honoured_and_a_long_one_gives_up(self, make_adapter, fake, clock):
        """477 with Retry-After: wait when short; a migration of hours raises UNAVAILABLE."""
        fake.fail(477, retry_after=5)
        adapter = make_adapter()
        adapter.schema("contacts")
        assert [5.0] == clock.slept
        fake.fail(477, retry_after=3600)
        with pytest.raises(AdapterError) as caught:
            adapter.schema("contacts")
        assert ErrorCategory.UNAVAILABLE == caught.value.category
        assert 3600.0 == caught.value.retry_after

    def test_timeouts_are_retried(self, make_adapter, fake):
        """A read timeout is retried like a 5xx."""
        calls = []

        def flaky(request: httpx.Request) -> httpx.Response:
            calls.append(request.url.path)
            if len(calls) == 1:
                raise httpx.ReadTimeout("timed out", request=request)
            return fake.handle(request)

        adapter = make_adapter(transport=httpx.MockTransport(flaky))
        assert "email" in adapter.schema("contacts")
        assert 2 == len(calls)

    def test_a_create_is_not_retried_after_a_5xx_that_may_have_created_it(self, make_adapter, fake):
        """HubSpot has no idempotency keys: a 500 on create raises instead of duplicating."""
        adapter = make_adapter()
        adapter.schema("contacts")
        fake.fail(500, path="/batch/create")
        with pytest.raises(AdapterError) as caught:
            adapter.create("contacts", [NewRecord({"email": "a@example.com"}, "k1")])
        assert ErrorCategory.UNAVAILABLE == caught.value.category
        assert 0 == fake.count("contacts")
        assert 1 == fake.statuses("/batch/create").count(500)

    def test_a_create_is_retried_after_a_503_that_created_nothing(self, make_adapter, fake):
        """503 means HubSpot did not process it: retrying cannot duplicate."""
        adapter = make_adapter()
        adapter.schema("contacts")
        fake.fail(503, path="/batch/create")
        (result,) = adapter.create("contacts", [NewRecord({"email": "a@example.com"}, "k1")])
        assert result.succeeded
        assert 1 == fake.count("contacts")

    def test_an_update_is_retried_after_a_500(self, make_adapter, fake):
        """Updates set values: repeating one is harmless."""
        adapter = make_adapter()
        record_id = fake.put("contacts", email="a@example.com")
        fake.fail(500, path="/batch/update")
        (result,) = adapter.update("contacts", [RecordUpdate(record_id, {"firstname": "Ada"})])
        assert result.succeeded
        assert "Ada" == fake.get("contacts", record_id)["firstname"]


class TestErrorCategories:
    """Issue 9 §3: HubSpot's error categories map to ErrorCategory."""

    @pytest.mark.parametrize(
        ("status", "body", "expected"),
        [
            (
                400,
                {"category": "VALIDATION_ERROR", "message": "Property values were not valid"},
                ErrorCategory.VALIDATION,
            ),
            (
                400,
                {
                    "category": "VALIDATION_ERROR",
                    "message": "Property values were not valid",
                    "errors": [{"code": "REQUIRED_PROPERTY", "message": "name is missing"}],
                },
                ErrorCategory.REQUIRED_FIELD_MISSING,
            ),
            (403, {"category": "MISSING_SCOPES", "message": "scopes"}, ErrorCategory.PERMISSION),
            (401, {"category": "INVALID_AUTHENTICATION"}, ErrorCategory.PERMISSION),
            (401, {"category": "EXPIRED_AUTHENTICATION"}, ErrorCategory.PERMISSION),
            (
                409,
                {"category": "CONFLICT", "message": "Contact already exists. Existing ID: 5"},
                ErrorCategory.DUPLICATE,
            ),
            (409, {"category": "CONFLICT", "message": "version mismatch"}, ErrorCategory.CONFLICT),
            (404, {"category": "OBJECT_NOT_FOUND"}, ErrorCategory.NOT_FOUND),
            (429, {"errorType": "RATE_LIMIT"}, ErrorCategory.RATE_LIMITED),
            (423, {}, ErrorCategory.RATE_LIMITED),
            (503, {}, ErrorCategory.UNAVAILABLE),
            (477, {}, ErrorCategory.UNAVAILABLE),
        ],
    )
    def test_hubspot_error_maps_to_its_category(self, status, body, expected):
        """Each documented error is the category reference §2 gives it."""
        assert expected == category_of(ErrorBody.parse(status, body))

    def test_a_revoked_token_stops_the_call_with_permission(self, make_adapter):
        """401: PERMISSION is raised (it stops the pass), with HubSpot's category."""
        adapter = make_adapter(token="pat-na1-revoked")
        with pytest.raises(AdapterError) as caught:
            adapter.schema("contacts")
        assert ErrorCategory.PERMISSION == caught.value.category
        assert "INVALID_AUTHENTICATION" in caught.value.message

    def test_missing_scopes_name_the_scope(self, make_adapter, fake):
        """403 MISSING_SCOPES: PERMISSION, naming the scope to grant."""
        fake.revoke("crm.objects.contacts.read")
        adapter = make_adapter()
        adapter.schema("contacts")
        with pytest.raises(AdapterError) as caught:
            scan_all(adapter)
        assert ErrorCategory.PERMISSION == caught.value.category
        assert "crm.objects.contacts.read" in caught.value.message


class TestSecrets:
    """SPEC X4: the token never appears in reprs, logs, exceptions or messages."""

    def test_the_token_is_not_in_the_adapters_repr_or_str(self, make_adapter):
        """repr() and str() of the adapter, its HTTP client and the Secret hide the token."""
        adapter = make_adapter()
        shown = [repr(adapter), str(adapter), repr(adapter._http), repr(adapter._http._credentials)]
        shown.append(repr(vars(adapter)))
        assert [s for s in shown if TOKEN in s] == []

    def test_the_token_is_not_in_errors_even_when_hubspot_echoes_it(self, make_adapter):
        """An error body quoting the Authorization header is scrubbed before it is raised."""

        def echo(request: httpx.Request) -> httpx.Response:
            return httpx.Response(
                400,
                json={
                    "status": "error",
                    "category": "VALIDATION_ERROR",
                    "message": f"bad header {request.headers['authorization']}",
                },
            )

        adapter = make_adapter(transport=httpx.MockTransport(echo))
        with pytest.raises(AdapterError) as caught:
            adapter.schema("contacts")
        text = "".join(traceback.format_exception(caught.value))
        assert TOKEN not in text
        assert "[redacted]" in caught.value.message

    def test_the_token_is_not_in_logs_or_tracebacks_of_connection_errors(
        self, make_adapter, caplog
    ):
        """Retries log and give up without the token, whatever the transport error says."""

        def refuse(request: httpx.Request) -> httpx.Response:
            raise httpx.ConnectError(
                f"refused ({request.headers['authorization']})", request=request
            )

        adapter = make_adapter(transport=httpx.MockTransport(refuse), max_retries=2)
        with caplog.at_level(logging.DEBUG), pytest.raises(AdapterError) as caught:
            adapter.schema("contacts")
        assert ErrorCategory.UNAVAILABLE == caught.value.category
        assert 2 == len([r for r in caplog.records if "retrying" in r.getMessage()])
        assert TOKEN not in caplog.text
        assert TOKEN not in str(caught.value)
        assert TOKEN not in repr(caught.value)

    def test_a_secret_cannot_be_pickled_or_printed(self):
        """Secret hides its value from repr, str and pickle."""
        import pickle

        secret = Secret(TOKEN)
        assert TOKEN not in repr(secret) + str(secret) + f"{secret}"
        with pytest.raises(TypeError):
            pickle.dumps(secret)
        assert TOKEN == secret.reveal()
