"""OAuth access tokens expire after 30 minutes; a sync outlives them (issue 19 §3, rule X4).

The local HubSpot issues expiring access tokens for an OAuth app (``POST
/oauth/v3/token``; the deprecated v1 path too) and answers an expired one with HubSpot's 401
``EXPIRED_AUTHENTICATION``. ``HubSpotAdapter(HubSpotOAuth(...))`` renews the token before
it expires and once after a 401; a private app's token is unchanged. The client secret,
the refresh token and every access token stay out of reprs, logs, errors and exports.
"""

from __future__ import annotations

import logging
import pickle
import threading
import traceback
from collections.abc import Iterator

import httpx
import pytest
from click.testing import CliRunner

from syncengine import (
    AdapterError,
    ConfigError,
    ErrorCategory,
    ObjectSchema,
    PropertySpec,
    SyncEngine,
)
from syncengine.adapters import InMemoryAdapter
from syncengine.adapters.hubspot import HubSpotAdapter, HubSpotOAuth
from syncengine.cli import main
from syncengine.configfile import load, read_config
from syncengine.index import MemoryIndexStore
from syncengine.testing.hubspot import FakeHubSpot, ManualClock

from .conftest import email_first_config

FAST = (100_000, 1.0)
CLIENT_ID = "4d6b1a2c-client-id"
CLIENT_SECRET = "cs-9f8e7d6c5b4a-CLIENT-SECRET"
REFRESH = "rt-na1-0a1b2c3d4e5f-REFRESH-TOKEN"
PEOPLE = ObjectSchema(
    "people", [PropertySpec("mail", "string", unique=True), PropertySpec("first", "string")]
)
CONFIG = email_first_config("oauth")


@pytest.fixture
def clock() -> ManualClock:
    """Time that moves as the local HubSpot's latency is waited for."""
    return ManualClock()


@pytest.fixture
def fake(clock) -> FakeHubSpot:
    """A local HubSpot where every request takes one second, with an OAuth app."""
    fake = FakeHubSpot(token="pat-private", clock=clock, sleep=clock.sleep, latency=1.0)
    fake.add_oauth_app(CLIENT_ID, CLIENT_SECRET, refresh_token=REFRESH, lifetime=60)
    return fake


def oauth_adapter(fake, clock, credentials=None, **kw) -> HubSpotAdapter:
    """A HubSpotAdapter with the OAuth app's credentials (or others)."""
    return HubSpotAdapter(
        credentials if credentials is not None else HubSpotOAuth(CLIENT_ID, CLIENT_SECRET, REFRESH),
        transport=httpx.MockTransport(fake.handle),
        rate_limit=FAST,
        search_rate=FAST,
        consistency_window=0.0,
        clock=clock,
        sleep=clock.sleep,
        **kw,
    )


def fill(fake: FakeHubSpot, n: int) -> None:
    """``n`` contacts."""
    for i in range(n):
        fake.put("contacts", email=f"c{i}@example.com", firstname=f"C{i}")


def secrets_in(text: str, *extra: str) -> list[str]:
    """The secrets (and ``extra`` ones) that appear in ``text``."""
    return [s for s in (CLIENT_SECRET, REFRESH, *extra) if s in text]


class TestTheLocalHubSpot:
    """The fake issues expiring tokens the way HubSpot does (sources in its module)."""

    def test_a_refresh_token_buys_an_access_token_that_expires(self, fake, clock):
        """POST /oauth/v1/token (form) → {access_token, refresh_token, expires_in, token_type}."""
        client = httpx.Client(transport=httpx.MockTransport(fake.handle), base_url="https://x")
        form = {
            "grant_type": "refresh_token",
            "client_id": CLIENT_ID,
            "client_secret": CLIENT_SECRET,
            "refresh_token": REFRESH,
        }
        answer = client.post("/oauth/v1/token", data=form).json()
        assert {"access_token", "refresh_token", "expires_in", "token_type"} == set(answer)
        assert 60 == answer["expires_in"]
        headers = {"Authorization": f"Bearer {answer['access_token']}"}
        assert 200 == client.get("/crm/v3/objects/contacts", headers=headers).status_code
        clock.advance(61)
        expired = client.get("/crm/v3/objects/contacts", headers=headers)
        assert 401 == expired.status_code
        body = expired.json()
        assert "EXPIRED_AUTHENTICATION" == body["category"]
        assert body["message"].startswith("The OAuth token used to make this call expired")
        assert "expire time" in body["context"]
        bad = client.post("/oauth/v1/token", data={**form, "refresh_token": "rt-unknown"})
        assert 400 == bad.status_code
        assert "BAD_REFRESH_TOKEN" == bad.json()["status"]


class TestRenewal:
    """HubSpotOAuth: renewed before expiry, and once after a 401."""

    def test_an_initial_sync_that_outlives_its_token_goes_on(self, fake, clock):
        """300 contacts, one second per request, 60-second tokens: the sync completes.

        An adapter that kept its first access token fails with 401 after a minute.
        """
        fill(fake, 300)
        hub = oauth_adapter(fake, clock, page_size=2)
        app = InMemoryAdapter([PEOPLE], name="app")
        engine = SyncEngine(hub, app, MemoryIndexStore(), CONFIG)
        start = clock()
        report = engine.initial_sync()
        assert 0 == report.failed, report.summary()
        assert 300 == app.count("people")
        assert clock() - start > 120  # the sync outlived two tokens at least
        assert fake.tokens_issued >= 3
        assert 401 not in fake.statuses()  # renewed before expiry, never refused
        app.put("people", mail="new@example.com", first="New")
        clock.advance(3600)  # an hour idle: the token expired meanwhile
        report = engine.incremental_sync()
        assert 0 == report.failed, report.summary()
        assert 401 not in fake.statuses()
        hub.close()

    def test_a_401_renews_once_and_resends(self, fake, clock):
        """A token HubSpot drops early (skew, revocation): one 401, one renewal, success."""
        fill(fake, 3)
        hub = oauth_adapter(fake, clock)
        assert 3 == len(hub.fetch("contacts", list(fake.records("contacts"))))
        issued = fake.tokens_issued
        fake.expire_tokens()
        assert 3 == len(hub.fetch("contacts", list(fake.records("contacts"))))
        assert issued + 1 == fake.tokens_issued
        assert 1 == fake.statuses().count(401)
        hub.close()

    def test_threads_that_meet_an_expired_token_renew_it_once(self, fake, clock):
        """Eight threads in flight when the token dies: one renewal, every read succeeds."""
        fill(fake, 8)
        ids = list(fake.records("contacts"))
        fake.latency = 0.0
        hub = oauth_adapter(fake, clock)
        hub.fetch("contacts", ids)
        issued = fake.tokens_issued
        fake.expire_tokens()
        barrier = threading.Barrier(8)
        found: list[int] = []

        def read(record_id: str) -> None:
            barrier.wait()
            found.append(len(hub.fetch("contacts", [record_id])))

        threads = [threading.Thread(target=read, args=(i,)) for i in ids]
        for thread in threads:
            thread.start()
        for thread in threads:
            thread.join()
        assert [1] * 8 == found
        assert issued + 1 == fake.tokens_issued
        hub.close()

    def test_a_creation_refused_with_401_is_sent_again_once(self, fake, clock):
        """A 401 means HubSpot did nothing: even a create is resent after the renewal."""
        from syncengine.adapters import NewRecord

        hub = oauth_adapter(fake, clock)
        hub.schema("contacts")
        fake.expire_tokens()
        (result,) = hub.create("contacts", [NewRecord({"email": "a@example.com"}, "key-1")])
        assert result.ok, result
        assert 1 == fake.count("contacts")
        hub.close()

    def test_a_401_after_renewal_is_a_permission_error_not_a_loop(self, fake, clock):
        """The provider's token is refused again: PERMISSION after exactly one renewal."""
        calls: list[int] = []

        def provider() -> str:
            calls.append(1)
            return "not-a-token-hubspot-knows"

        hub = oauth_adapter(fake, clock, credentials=provider)
        with pytest.raises(AdapterError) as caught:
            hub.fetch("contacts", ["1"])
        assert ErrorCategory.PERMISSION == caught.value.category
        assert 2 == len(calls)
        assert 2 == fake.statuses().count(401)
        hub.close()

    def test_a_token_provider_is_called_again_after_a_401(self, fake, clock):
        """A callable token: called for the first request, and after HubSpot refuses it."""
        tokens = iter(["pat-old-revoked", "pat-private"])
        hub = oauth_adapter(fake, clock, credentials=lambda: next(tokens))
        assert {} == dict(hub.fetch("contacts", ["1"]))
        assert [401, 200, 207] == fake.statuses()  # properties (refused, resent), read
        hub.close()

    def test_a_private_apps_token_is_sent_as_it_is(self, fake, clock):
        """No token endpoint for a private app; a 401 is a PERMISSION error at once."""
        hub = oauth_adapter(fake, clock, credentials="pat-private")
        hub.fetch("contacts", ["1"])
        assert 0 == fake.tokens_issued
        fake.token = "pat-rotated"
        with pytest.raises(AdapterError) as caught:
            hub.fetch("contacts", ["1"])
        assert ErrorCategory.PERMISSION == caught.value.category
        assert 1 == fake.statuses().count(401)
        hub.close()

    def test_an_expired_fixed_access_token_says_how_to_renew_it(self, fake, clock):
        """An OAuth access token given as a plain string: the 401 says what to do."""
        client = httpx.Client(transport=httpx.MockTransport(fake.handle), base_url="https://x")
        access = client.post(
            "/oauth/v1/token",
            data={
                "grant_type": "refresh_token",
                "client_id": CLIENT_ID,
                "client_secret": CLIENT_SECRET,
                "refresh_token": REFRESH,
            },
        ).json()["access_token"]
        hub = oauth_adapter(fake, clock, credentials=access)
        clock.advance(120)
        with pytest.raises(AdapterError, match="HubSpotOAuth") as caught:
            hub.fetch("contacts", ["1"])
        assert ErrorCategory.PERMISSION == caught.value.category
        assert access not in str(caught.value)
        hub.close()


class TestTheV3Endpoint:
    """HubSpot deprecates ``/oauth/v1/token`` on February 16, 2027 (its v1 migration
    guide); ``/oauth/v3/token`` takes the same form, in the body only."""

    def test_the_adapter_renews_through_v3_with_the_form_in_the_body(self, fake, clock):
        """Today's main asked /oauth/v1/token."""
        seen: list[httpx.Request] = []

        def handle(request: httpx.Request) -> httpx.Response:
            seen.append(request)
            return fake.handle(request)

        hub = HubSpotAdapter(
            HubSpotOAuth(CLIENT_ID, CLIENT_SECRET, REFRESH),
            transport=httpx.MockTransport(handle),
            rate_limit=FAST,
            clock=clock,
            sleep=clock.sleep,
        )
        hub.fetch("contacts", ["1"])
        assert ["/oauth/v3/token"] == fake.token_paths
        (token_request,) = [r for r in seen if r.url.path.startswith("/oauth/")]
        assert not token_request.url.query  # no secret in the URL
        assert b"refresh_token=" in token_request.content
        hub.close()

    @pytest.mark.parametrize("path", ["/oauth/v1/token", "/oauth/2026-03/token"])
    def test_the_other_documented_paths_work_when_chosen(self, fake, clock, path):
        """token_path: the deprecated v1 (the fake still serves it) or the date-versioned."""
        oauth = HubSpotOAuth(CLIENT_ID, CLIENT_SECRET, REFRESH, token_path=path)
        hub = oauth_adapter(fake, clock, credentials=oauth)
        hub.fetch("contacts", ["1"])
        assert [path] == fake.token_paths
        hub.close()

    def test_v3_refusals_carry_rfc_6749_fields_and_refuse_query_parameters(self, fake):
        """invalid_grant next to BAD_REFRESH_TOKEN; parameters in the URL: refused."""
        client = httpx.Client(transport=httpx.MockTransport(fake.handle), base_url="https://x")
        form = {
            "grant_type": "refresh_token",
            "client_id": CLIENT_ID,
            "client_secret": CLIENT_SECRET,
            "refresh_token": "rt-unknown",
        }
        bad = client.post("/oauth/v3/token", data=form).json()
        assert ("invalid_grant", "BAD_REFRESH_TOKEN") == (bad["error"], bad["status"])
        assert bad["error_description"]
        in_url = client.post("/oauth/v3/token", params={**form, "refresh_token": REFRESH})
        assert (400, "invalid_request") == (in_url.status_code, in_url.json()["error"])


class TestRotatedRefreshTokens:
    """A refresh token HubSpot replaces must outlive the process: on_refresh_token."""

    def test_each_new_refresh_token_is_handed_to_the_callback_and_the_last_one_works(
        self, fake, clock
    ):
        """Rotation: every renewal answers a new refresh token and retires the old one.
        The callback gets each; a restarted process starting from the last one syncs,
        one starting from the first is refused."""
        fake.add_oauth_app(
            CLIENT_ID, CLIENT_SECRET, refresh_token=REFRESH, lifetime=60, rotate=True
        )
        fill(fake, 150)
        stored: list[str] = []
        oauth = HubSpotOAuth(CLIENT_ID, CLIENT_SECRET, REFRESH, on_refresh_token=stored.append)
        hub = oauth_adapter(fake, clock, credentials=oauth, page_size=2)
        engine = SyncEngine(hub, InMemoryAdapter([PEOPLE], name="app"), MemoryIndexStore(), CONFIG)
        assert 0 == engine.initial_sync().failed
        hub.close()
        assert fake.tokens_issued >= 2
        assert fake.tokens_issued == len(stored) == len(set(stored))
        assert REFRESH not in stored
        restarted = oauth_adapter(
            fake, clock, credentials=HubSpotOAuth(CLIENT_ID, CLIENT_SECRET, stored[-1])
        )
        assert {} == dict(restarted.fetch("contacts", ["999999"]))
        stale = oauth_adapter(
            fake, clock, credentials=HubSpotOAuth(CLIENT_ID, CLIENT_SECRET, REFRESH)
        )
        with pytest.raises(AdapterError, match="BAD_REFRESH_TOKEN"):
            stale.fetch("contacts", ["1"])

    def test_a_failing_callback_is_logged_without_the_token_and_the_sync_goes_on(
        self, fake, clock, caplog
    ):
        """The new token is used from memory; the log says to store it, never shows it."""
        fake.add_oauth_app(CLIENT_ID, CLIENT_SECRET, refresh_token=REFRESH, rotate=True)
        seen: list[str] = []

        def broken(token: str) -> None:
            seen.append(token)
            raise OSError(f"disk full while writing {token}")

        oauth = HubSpotOAuth(CLIENT_ID, CLIENT_SECRET, REFRESH, on_refresh_token=broken)
        hub = oauth_adapter(fake, clock, credentials=oauth)
        with caplog.at_level(logging.WARNING):
            hub.fetch("contacts", ["1"])
            fake.expire_tokens()
            hub.fetch("contacts", ["1"])  # renewed with the rotated token from memory
        assert 2 == len(seen)
        assert "on_refresh_token failed" in caplog.text
        assert [] == secrets_in(caplog.text, *seen)
        hub.close()

    def test_without_a_callback_the_log_says_the_token_is_kept_in_memory_only(
        self, fake, clock, caplog
    ):
        """No silent loss: the operator is told where to persist it."""
        fake.add_oauth_app(CLIENT_ID, CLIENT_SECRET, refresh_token=REFRESH, rotate=True)
        hub = oauth_adapter(fake, clock)
        with caplog.at_level(logging.WARNING):
            hub.fetch("contacts", ["1"])
        assert "on_refresh_token" in caplog.text
        assert "in memory only" in caplog.text
        hub.close()

    def test_a_config_files_refresh_token_file_gets_the_rotated_token(
        self, fake, tmp_path, monkeypatch
    ):
        """refresh_token_file: the rotated token replaces the file's, so the next run
        starts from the token HubSpot takes now."""
        fake.latency = 0.0
        fake.add_oauth_app(CLIENT_ID, CLIENT_SECRET, refresh_token=REFRESH, rotate=True)
        fill(fake, 3)
        (tmp_path / "refresh.txt").write_text(REFRESH + "\n")
        monkeypatch.setenv("HS_SECRET", CLIENT_SECRET)
        with fake.serve() as url:
            config = TestConfigFiles().write(
                tmp_path,
                url,
                f'client_id = "{CLIENT_ID}"\nclient_secret_env = "HS_SECRET"\n'
                'refresh_token_file = "refresh.txt"',
            )
            for args in (["run", config, "--new"], ["run", config]):
                result = CliRunner().invoke(main, args)
                assert 0 == result.exit_code, result.output
                kept = (tmp_path / "refresh.txt").read_text().strip()
                assert kept != REFRESH
                assert [] == secrets_in(result.output, kept)
        assert 2 == fake.tokens_issued
        assert [] == [p.name for p in tmp_path.iterdir() if p.name.startswith(".refresh")]


class TestSecrets:
    """Rule X4: no secret in a repr, a log line, an error or an export."""

    def test_reprs_hide_the_secrets(self, fake, clock):
        """The adapter, its credentials and its HTTP client show none of them."""
        oauth = HubSpotOAuth(CLIENT_ID, CLIENT_SECRET, REFRESH, access_token="at-given-SECRET")
        hub = oauth_adapter(fake, clock, credentials=oauth)
        shown = " ".join([repr(oauth), str(oauth), repr(hub), str(hub), repr(hub._http)])
        assert [] == secrets_in(shown, "at-given-SECRET")
        assert CLIENT_ID in repr(oauth)
        with pytest.raises(TypeError):
            pickle.dumps(oauth)
        hub.close()

    def test_a_refused_refresh_names_hubspots_reason_but_no_secret(self, fake, clock, caplog):
        """A refresh token HubSpot does not know: PERMISSION, BAD_REFRESH_TOKEN, no secret."""
        hub = oauth_adapter(
            fake, clock, credentials=HubSpotOAuth(CLIENT_ID, CLIENT_SECRET, "rt-SECRET-unknown")
        )
        with caplog.at_level(logging.DEBUG), pytest.raises(AdapterError) as caught:
            hub.fetch("contacts", ["1"])
        assert ErrorCategory.PERMISSION == caught.value.category
        assert "BAD_REFRESH_TOKEN" in str(caught.value)
        text = "".join(traceback.format_exception(caught.value)) + caplog.text
        assert [] == secrets_in(text, "rt-SECRET-unknown")
        hub.close()

    def test_logs_and_errors_of_a_long_sync_hold_no_secret(self, fake, clock, caplog):
        """Every log record (httpx's too) and every failure of a sync with renewals."""
        fill(fake, 120)
        hub = oauth_adapter(fake, clock, page_size=10)
        app = InMemoryAdapter([PEOPLE], name="app")
        engine = SyncEngine(hub, app, MemoryIndexStore(), CONFIG)
        fake.fail(503, times=3)
        with caplog.at_level(logging.DEBUG):
            engine.initial_sync()
            fake.expire_tokens()
            engine.incremental_sync()
        issued = list(fake._access_tokens)
        assert len(issued) >= 2
        assert "renewed the HubSpot access token" in caplog.text
        assert [] == secrets_in(caplog.text, *issued)
        hub.close()

    def test_error_bodies_that_echo_a_secret_are_scrubbed(self, fake, clock):
        """A HubSpot answer that quotes the token or the client secret: redacted."""
        hub = oauth_adapter(fake, clock)
        hub.schema("contacts")
        (current,) = list(fake._access_tokens)
        fake.fail(
            400,
            path="/batch/read",
            body={"status": "error", "message": f"bad {current} {CLIENT_SECRET} {REFRESH}"},
        )
        with pytest.raises(AdapterError) as caught:
            hub.fetch("contacts", ["1"])
        assert [] == secrets_in(str(caught.value), current)
        assert "[redacted]" in str(caught.value)
        hub.close()


@pytest.fixture
def served(fake) -> Iterator[str]:
    """The local HubSpot on a loopback port."""
    fake.latency = 0.0
    with fake.serve() as url:
        yield url


class TestConfigFiles:
    """OAuth from a config file: secrets from env vars or files, never inline."""

    def write(self, tmp_path, url: str, hub: str) -> str:
        path = tmp_path / "sync.toml"
        path.write_text(
            f"""
sync_id = "oauth"
[hub]
kind = "hubspot"
base_url = "{url}"
{hub}
[app]
kind = "sqlite"
path = "app.db"
schemas = {{people = {{properties = [{{name = "mail", unique = true}}, {{name = "first"}}]}}}}
[index]
path = "index.db"
[objects.contacts]
app_type = "people"
mappings = [["email", "mail"], ["firstname", "first"]]
"""
        )
        return str(path)

    def test_a_sync_runs_from_secrets_in_env_vars_and_files(
        self, fake, served, tmp_path, monkeypatch
    ):
        """client_secret_file and refresh_token_env: the command syncs; nothing leaks."""
        fill(fake, 5)
        (tmp_path / "secret.txt").write_text(CLIENT_SECRET + "\n")
        monkeypatch.setenv("HS_REFRESH", REFRESH)
        config = self.write(
            tmp_path,
            served,
            f'client_id = "{CLIENT_ID}"\nclient_secret_file = "secret.txt"\n'
            'refresh_token_env = "HS_REFRESH"',
        )
        shown = repr(read_config(config))
        assert [] == secrets_in(shown)
        result = CliRunner().invoke(main, ["run", config, "--new"])
        assert 0 == result.exit_code, result.output
        assert fake.tokens_issued >= 1
        exported = tmp_path / "out.csv"
        result = CliRunner().invoke(main, ["export", config, str(exported)])
        assert 0 == result.exit_code, result.output
        assert [] == secrets_in(exported.read_text() + result.output)
        with load(config) as setup:
            assert [] == secrets_in(repr(setup.hub) + repr(setup.file))

    @pytest.mark.parametrize("key", ["client_secret", "refresh_token", "token", "access_token"])
    def test_an_inline_secret_is_refused_without_echoing_it(self, served, tmp_path, key):
        """``client_secret = "…"`` in the file: a ConfigError naming the key, not the value."""
        config = self.write(tmp_path, served, f'{key} = "inline-SECRET-value"')
        with pytest.raises(ConfigError) as caught:
            load(config)
        text = str(caught.value)
        assert f"hub.{key}" in text
        assert "inline-SECRET-value" not in text

    @pytest.mark.parametrize(
        ("hub", "where"),
        [
            ('client_id = "x"\nrefresh_token_env = "HS_REFRESH"', "hub.client_secret_env"),
            (
                'client_id = "x"\nclient_secret_file = "no.txt"\nrefresh_token_env = "HS_REFRESH"',
                "hub.client_secret_file",
            ),
            (
                'client_id = "x"\nclient_secret_env = "HS_UNSET"\nrefresh_token_env = "HS_REFRESH"',
                "hub.client_secret_env",
            ),
            (
                'token_env = "HS_REFRESH"\nclient_id = "x"\nclient_secret_env = "HS_REFRESH"',
                "hub.token_env",
            ),
        ],
    )
    def test_missing_or_mixed_credentials_name_the_key(
        self, served, tmp_path, monkeypatch, hub, where
    ):
        """A missing secret, an unreadable file, an unset variable, two kinds at once."""
        monkeypatch.setenv("HS_REFRESH", REFRESH)
        monkeypatch.delenv("HS_UNSET", raising=False)
        config = self.write(tmp_path, served, hub)
        with pytest.raises(ConfigError) as caught:
            load(config)
        assert f"{config}: {where}: " in str(caught.value)
        assert [] == secrets_in(str(caught.value))
