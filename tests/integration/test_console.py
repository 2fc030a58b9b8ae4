"""The console (`syncengine serve`) through plain HTTP: every page, its status codes, the
token, CSRF, escaping, secrets, and the actions (restore, on/off, retry)."""

from __future__ import annotations

import contextlib
import csv
import io
import json
import re
import shutil
import threading
from pathlib import Path

import pytest

pytest.importorskip("starlette", reason="the server extra (syncengine-hub[server]) is needed")

import httpx

from syncengine import RecordState, Side
from syncengine.configfile import load
from syncengine.server import PassRunner, app, app_from_config

demo = Path(__file__).with_name("console_demo.py")
_helpers = __import__("importlib.util").util
_spec = _helpers.spec_from_file_location("syncengine_tests_console_demo", demo)
console_demo = _helpers.module_from_spec(_spec)
_spec.loader.exec_module(console_demo)

TOKEN = "console-token-0123456789abcdef"
LOCAL = "http://127.0.0.1:8000"


@pytest.fixture(scope="module")
def demo_dir(tmp_path_factory):
    """The demo, built once for the module (tests that change it work on a copy)."""
    directory = tmp_path_factory.mktemp("demo")
    console_demo.build(directory)
    return directory


@pytest.fixture
def config(demo_dir, tmp_path):
    """A fresh copy of the demo's files; the config file's path."""
    copy = tmp_path / "demo"
    shutil.copytree(demo_dir, copy)
    return copy / "syncengine.toml"


@contextlib.contextmanager
def TestClient(application, base_url=LOCAL, headers=None):
    """An HTTP client of ``application`` served by uvicorn; requests name ``base_url``'s host."""
    with console_demo.serving(application) as url:
        host = httpx.URL(base_url).netloc.decode()
        with httpx.Client(
            base_url=url, headers={"Host": host, **(headers or {})}, follow_redirects=True
        ) as test_client:
            test_client.url = url
            test_client.host = host
            yield test_client


@pytest.fixture
def client(config):
    """A client of the console without a token (local requests only)."""
    application = app_from_config(config, interval=0)
    with TestClient(application) as test_client:
        yield test_client


@pytest.fixture
def token_client(config):
    """A client of the console with a token, not signed in."""
    application = app_from_config(config, token=TOKEN, interval=0)
    with TestClient(application, base_url="http://sync.example.com") as test_client:
        yield test_client


def csrf_of(page: str) -> str:
    found = re.search(r'name="csrf" value="([0-9a-f]+)"', page)
    assert found is not None, "no CSRF field on the page"
    return found.group(1)


def failing_record(client, category: str) -> str:
    """The href of the first failing record of ``category`` on the failures page."""
    page = client.get("/failures").text
    section = page.split(f">{category}</span>", 1)[1]
    return re.search(r'href="(/record\?[^"]+)"', section).group(1).replace("&amp;", "&")


class TestPages:
    def test_every_page_answers_and_sends_a_strict_content_security_policy(self, client):
        """Each page renders (200), without scripts allowed, and lists what it should."""
        for path in (
            "/",
            "/failures",
            "/records",
            "/records?object=contacts&state=failed",
            "/records?since=2000-01-01&until=2999-01-01T00:00Z",
            "/actions",
            "/actions/restore?object=contacts&to=app",
            "/actions/sync?turn=off",
            f"/actions/retry?side=hub&type=contacts&id={console_demo.HOSTILE_ID}",
            f"/record?side=hub&type=contacts&id={console_demo.HOSTILE_ID}",
        ):
            response = client.get(path)
            assert 200 == response.status_code, (path, response.text[:500])
            policy = response.headers["content-security-policy"]
            assert "default-src 'none'" in policy
            assert "script-src" not in policy  # so no script runs at all
            assert "no-store" == response.headers["cache-control"]
        assert 200 == client.get("/static/console.css").status_code

    def test_the_overview_shows_the_counts_and_the_initial_sync(self, client, config):
        """Counts by state per object type are the engine's; the initial sync is done."""
        page = client.get("/").text
        with load(config) as setup:
            status = setup.engine().status()
        rows = re.findall(r"<tr>\s*<td>(\w+)</td>(.*?)</tr>", page.split('id="counts"')[1], re.S)
        shown = {name: re.findall(r">([\d,]+)<", cells) for name, cells in rows}
        for name, counts in status.items():
            expected = [counts.synced, counts.failed, counts.excluded, counts.queued]
            assert [f"{n:,}" for n in expected] == shown[name][:4], name
        assert 'Initial sync:\n<b class="ok-text">done</b>' in page or "done</b>" in page

    def test_failures_are_grouped_by_category_with_the_hint(self, client):
        """Each category of failure has its heading, its hint and its records."""
        page = client.get("/failures").text
        assert 'contacts: <span class="failed">deleted</span> — 2' in page
        assert 'contacts: <span class="failed">validation</span> — 1' in page
        assert "restore it from the surviving copy" in page  # the hint of "deleted"
        assert "c28" in page
        assert "c61" in page

    def test_bad_requests_get_a_status_and_a_page_saying_why(self, client):
        """Unknown records are 404; bad filters, sides, times and cursors are 400."""
        cases = {
            "/record?side=hub&type=contacts&id=nope": 404,
            "/record?side=sideways&type=contacts&id=c1": 400,
            "/record?side=hub&type=&id=": 400,
            "/records?object=planets": 400,
            "/records?state=happy": 400,
            "/records?since=yesterday": 400,
            "/records?after=not-a-cursor": 400,
            "/records/export?format=xlsx": 400,
            "/actions/restore?object=contacts&to=moon": 400,
            "/actions/sync?turn=sideways": 400,
            "/no-such-page": 404,
        }
        for path, status in cases.items():
            response = client.get(path)
            assert status == response.status_code, (path, response.text[:300])
        assert "planets" in client.get("/records?object=planets").text

    def test_the_record_page_says_what_explain_says(self, client, config):
        """Pairing, match keys, the decision, each field and the history, as explain has them."""
        with load(config) as setup:
            explanation = setup.engine().explain(Side.HUB, "contacts", "c28")
        page = client.get("/record?side=hub&type=contacts&id=c28").text
        assert explanation.pairing in page
        assert explanation.decision in page
        for field in explanation.fields:
            assert f"<td>{field.hub}</td><td>{field.app}</td>" in page
        for item in explanation.history:
            assert item.action in page
        assert "Retry now" in page
        assert "Restore deleted contacts" in page


def test_the_overview_lists_the_passes_around_one_whose_row_cannot_be_read(config):
    """One pass history row that cannot be read made the overview fail (a 500): it
    lists the other passes and names that row."""
    import sqlite3

    conn = sqlite3.connect(config.parent / "index.db")
    with conn:
        conn.execute("UPDATE passes SET counts = 'not json' WHERE number = 1")
    conn.close()
    application = app_from_config(config, interval=0)
    with TestClient(application) as client:
        response = client.get("/")
    assert 200 == response.status_code, response.text[:500]
    table = response.text.split('id="passes"', 1)[1].split("</table>", 1)[0]
    rows = re.findall(r'<tr class="(\w+)">\s*<td class="n">(\d+)</td>', table)
    assert ("unreadable", "1") in rows
    assert ("completed", "2") in rows
    assert "is corrupt: pass 1 of sync " in table


class TestRecordsListing:
    def test_pages_walk_the_whole_listing_once_in_order(self, client, config):
        """Following "Next page" shows every entry once, in the engine's order."""
        with load(config) as setup:
            expected = [(r.hub_id, r.app_id) for r in setup.engine().records("contacts")]
        assert len(expected) > 50  # more than one page
        seen: list[tuple[str | None, str | None]] = []
        path: str | None = "/records?object=contacts"
        pages = 0
        while path is not None:
            page = client.get(path).text
            pages += 1
            body = page.split('id="records"')[1].split("</table>")[0]
            for hub, app_id in re.findall(
                r"<td>contacts</td>\s*<td>(?:<a [^>]*>)?([^<]*)(?:</a>)?</td>\s*"
                r"<td>(?:<a [^>]*>)?([^<]*)(?:</a>)?</td>",
                body,
            ):
                seen.append((None if hub == "-" else hub, None if app_id == "-" else app_id))
            found = re.search(r'id="next-page" rel="next" href="([^"]+)"', page)
            path = found.group(1).replace("&amp;", "&") if found else None
        assert expected == seen
        assert pages == -(-len(expected) // 50)

    def test_the_downloads_are_the_export(self, client, config, tmp_path):
        """CSV and JSON lines downloads hold what engine.export writes for the same filters."""
        with load(config) as setup:
            engine = setup.engine()
            engine.export(tmp_path / "x.csv", "csv", state="failed")
            engine.export(tmp_path / "x.jsonl", "jsonl", state="failed")
        response = client.get("/records/export?state=failed&format=csv")
        assert 200 == response.status_code
        assert "attachment" in response.headers["content-disposition"]
        expected = list(csv.reader(io.StringIO((tmp_path / "x.csv").read_text())))
        assert expected == list(csv.reader(io.StringIO(response.text)))
        lines = client.get("/records/export?state=failed&format=jsonl").text.splitlines()
        expected_lines = (tmp_path / "x.jsonl").read_text().splitlines()
        assert [json.loads(x) for x in expected_lines] == [json.loads(x) for x in lines]
        assert 3 == len(lines)


class TestHostileValues:
    def test_record_values_show_as_text_on_every_page(self, client):
        """A contact named <script>… and a score <img onerror…> are escaped wherever shown."""
        pages = [
            client.get(f"/record?side=hub&type=contacts&id={console_demo.HOSTILE_ID}").text,
            client.get("/failures").text,
            client.get("/records?state=failed").text,
        ]
        record = pages[0]
        assert "&lt;script&gt;alert(1)&lt;/script&gt;" in record
        for page in pages:
            assert "<script" not in page
            assert "<img" not in page
            assert "&lt;img src=x onerror=alert(2)&gt;" in page

    def test_a_hostile_record_id_in_the_url_is_escaped(self, client):
        """Even an id typed into the address shows as text on the 404 page."""
        response = client.get("/record", params={"side": "hub", "type": "contacts", "id": "<b>x"})
        assert 404 == response.status_code
        assert "<b>x" not in response.text
        assert "&lt;b&gt;x" in response.text


class TestCSRF:
    def test_an_action_without_the_csrf_token_is_refused(self, client, config):
        """POST without, or with a wrong or another session's CSRF token: 403, nothing done
        (a form on another site also lacks the cookie: see the browser tests)."""
        page = client.get("/actions/sync?turn=off").text
        token = csrf_of(page)
        assert 403 == client.post("/actions/sync", data={"turn": "off"}).status_code
        assert (
            403 == client.post("/actions/sync", data={"turn": "off", "csrf": "0" * 64}).status_code
        )
        with httpx.Client(base_url=client.url, headers={"Host": client.host}) as other:
            other.get("/")  # another session
            refused = other.post("/actions/sync", data={"turn": "off", "csrf": token})
        assert 403 == refused.status_code
        with load(config) as setup:
            assert setup.engine().enabled
        done = client.post("/actions/sync", data={"turn": "off", "csrf": token})
        assert 200 == done.status_code, done.text
        with load(config) as setup:
            assert not setup.engine().enabled

    def test_actions_are_post_only(self, client):
        """GET on an action's URL shows the confirmation page; it never acts."""
        client.get("/actions/sync?turn=off")
        assert "badge on" in client.get("/").text
        assert 405 == client.put("/actions/sync").status_code


class TestToken:
    def test_every_page_and_action_needs_the_token(self, token_client):
        """Not signed in: pages redirect to sign-in; actions and the export are refused."""
        for path in (
            "/",
            "/failures",
            "/records",
            "/record?side=hub&type=contacts&id=c1",
            "/actions",
            "/records/export?format=csv",
            "/actions/restore?object=contacts&to=app",
        ):
            response = token_client.get(path, follow_redirects=False)
            assert 303 == response.status_code, path
            assert response.headers["location"].startswith("/login?next=")
        for path in ("/actions/sync", "/actions/restore", "/actions/retry", "/logout"):
            assert 401 == token_client.post(path, data={"turn": "off"}).status_code, path

    def test_signing_in_sets_a_strict_http_only_cookie(self, token_client):
        """A wrong token is refused (401); the right one sets the session cookie."""
        wrong = token_client.post("/login", data={"token": "x" * 30, "next": "/failures"})
        assert 401 == wrong.status_code
        assert "syncengine_session" not in token_client.cookies
        right = token_client.post(
            "/login", data={"token": TOKEN, "next": "/failures"}, follow_redirects=False
        )
        assert 303 == right.status_code
        assert "/failures" == right.headers["location"]
        cookie = right.headers["set-cookie"]
        assert "HttpOnly" in cookie
        assert "SameSite=strict" in cookie
        assert TOKEN not in cookie
        assert 200 == token_client.get("/failures").status_code
        page = token_client.get("/actions/sync?turn=off").text
        done = token_client.post("/actions/sync", data={"turn": "off", "csrf": csrf_of(page)})
        assert 200 == done.status_code

    def test_sign_in_never_sends_you_to_another_site(self, token_client):
        """The ``next`` of the sign-in form is a path of the console, or the overview."""
        for target in ("https://evil.example/", "//evil.example/", "/\\evil.example"):
            response = token_client.post(
                "/login", data={"token": TOKEN, "next": target}, follow_redirects=False
            )
            assert "/" == response.headers["location"], target

    def test_an_api_client_may_send_the_token_as_a_bearer_header(self, token_client):
        """``Authorization: Bearer`` reads pages and acts without a cookie or CSRF token."""
        headers = {"Authorization": f"Bearer {TOKEN}"}
        assert 200 == token_client.get("/", headers=headers).status_code
        bad = {"Authorization": "Bearer " + "y" * 30}
        assert 303 == token_client.get("/", headers=bad, follow_redirects=False).status_code
        done = token_client.post("/actions/sync", data={"turn": "off"}, headers=headers)
        assert 200 == done.status_code

    def test_without_a_token_only_local_names_are_answered(self, config):
        """No token: a request naming another host (DNS rebinding) is refused."""
        application = app_from_config(config, interval=0)
        with TestClient(application) as local:
            remote = local.get("/", headers={"Host": "rebound.example.com"})
            assert 403 == remote.status_code
            assert "--token" in remote.text
            for host in ("localhost:8000", "[::1]:8000", "127.0.0.1"):
                assert 200 == local.get("/", headers={"Host": host}).status_code, host

    def test_a_short_token_is_refused(self, config):
        """A console token shorter than 16 characters is refused when the app is built."""
        with pytest.raises(ValueError, match="at least 16 characters") as caught:
            app_from_config(config, token="short-token", interval=0)
        assert "short-token" not in str(caught.value)


class TestActions:
    def test_restore_shows_the_plan_then_restores_it(self, client, config):
        """The review lists the deleted records; confirming re-creates them in the app."""
        page = client.get("/actions/restore?object=contacts&to=app").text
        assert "Restore 2 contacts record(s) into the app?" in page
        plan = re.search(r'name="plan" value="([0-9a-f]+)"', page).group(1)
        done = client.post(
            "/actions/restore",
            data={"object": "contacts", "to": "app", "plan": plan, "csrf": csrf_of(page)},
        )
        assert 200 == done.status_code, done.text
        assert "Restored 2 of 2 contacts record(s) into the app." in done.text
        with load(config) as setup:
            engine = setup.engine()
            assert 0 == len(engine.plan_restore("contacts", Side.APP))
            failed = {r.hub_id for r in engine.records("contacts", RecordState.FAILED)}
        assert {console_demo.HOSTILE_ID} == failed

    def test_a_plan_that_changed_since_the_review_is_not_restored(self, client, config):
        """Confirming a list that is no longer the current one restores nothing (409)."""
        page = client.get("/actions/restore?object=contacts&to=app").text
        stale = client.post(
            "/actions/restore",
            data={"object": "contacts", "to": "app", "plan": "0" * 32, "csrf": csrf_of(page)},
        )
        assert 409 == stale.status_code
        assert "changed since you reviewed it" in stale.text
        with load(config) as setup:
            assert 2 == len(setup.engine().plan_restore("contacts", Side.APP))

    def test_retry_reads_the_record_again_now(self, client, config):
        """Retrying a failed record once its value is fixed syncs it."""
        import sqlite3

        with sqlite3.connect(config.parent / "crm.db") as db:
            db.execute(
                'UPDATE contacts SET lead_score = 42 WHERE "__id" = ?', (console_demo.HOSTILE_ID,)
            )
        db.close()
        query = f"side=hub&type=contacts&id={console_demo.HOSTILE_ID}"
        page = client.get(f"/actions/retry?{query}").text
        done = client.post(
            "/actions/retry",
            data={
                "side": "hub",
                "type": "contacts",
                "id": console_demo.HOSTILE_ID,
                "csrf": csrf_of(page),
            },
        )
        assert 200 == done.status_code, done.text
        with load(config) as setup:
            row = setup.engine().explain(Side.HUB, "contacts", console_demo.HOSTILE_ID).entry
        assert RecordState.SYNCED == row.state

    def test_an_action_while_a_pass_runs_is_refused_not_queued(self, config):
        """A restore confirmed while this process runs a pass: 409, nothing restored."""
        application = app_from_config(config, interval=0)
        runner: PassRunner = application.state.runner
        with TestClient(application, base_url=LOCAL) as client:
            page = client.get("/actions/restore?object=contacts&to=app").text
            plan = re.search(r'name="plan" value="([0-9a-f]+)"', page).group(1)
            with runner.exclusive("incremental", wait=False):
                busy = client.post(
                    "/actions/restore",
                    data={"object": "contacts", "to": "app", "plan": plan, "csrf": csrf_of(page)},
                )
                assert "Running now: incremental" in client.get("/").text
        assert 409 == busy.status_code
        assert "incremental pass is running" in busy.text
        with load(config) as setup:
            assert 2 == len(setup.engine().plan_restore("contacts", Side.APP))


class TestSecrets:
    def test_no_secret_reaches_a_page(self, config, monkeypatch):
        """The console token, the webhook secret, a token in an adapter's environment
        variable and a connection string's password appear on no page, even in errors."""
        secret = "whsec-5f3c9a-never-shown"
        adapter_token = "pat-na1-0f0f0f0f-never-shown"
        monkeypatch.setenv("CONSOLE_TEST_WEBHOOK_SECRET", secret)
        monkeypatch.setenv("CONSOLE_TEST_ADAPTER_TOKEN", adapter_token)
        config.write_text(
            config.read_text() + '\n[serve]\nwebhook_secret_env = "CONSOLE_TEST_WEBHOOK_SECRET"\n'
        )
        application = app_from_config(config, token=TOKEN, interval=0)
        runner: PassRunner = application.state.runner
        runner.add_secrets([adapter_token])
        engine = runner.engine

        def failing_scan(*args, **kwargs):
            raise RuntimeError(
                f"cannot reach postgresql://sync:pg-pass-never-shown@db/index with "
                f"Bearer {adapter_token} (secret {secret}, token {TOKEN})"
            )

        monkeypatch.setattr(engine.hub, "scan", failing_scan)
        assert runner.run_pass() is None
        headers = {"Authorization": f"Bearer {TOKEN}"}
        with TestClient(application, base_url="http://sync.example.com", headers=headers) as c:
            overview = c.get("/").text
            assert "incremental pass failed" in overview
            assert "[redacted]" in overview
            bodies = [overview]
            for path in (
                "/failures",
                "/records",
                "/actions",
                "/actions/sync?turn=off",
                "/actions/restore?object=contacts&to=app",
                f"/record?side=hub&type=contacts&id={console_demo.HOSTILE_ID}",
                "/records/export?format=jsonl",
                "/login",
            ):
                bodies.append(c.get(path).text)
        for body in bodies:
            for hidden in (secret, adapter_token, TOKEN, "pg-pass-never-shown"):
                assert hidden not in body


class TestScheduling:
    def test_passes_never_overlap_in_one_process(self, config):
        """While one pass runs, another (or an action) waits or is refused."""
        with load(config) as setup:
            engine = setup.engine()
            runner = PassRunner(engine, 0)
            inside = threading.Event()
            release = threading.Event()
            original = engine.hub.scan

            def slow_scan(*args, **kwargs):
                inside.set()
                assert release.wait(30)
                return original(*args, **kwargs)

            engine.hub.scan = slow_scan
            first = threading.Thread(target=runner.run_pass)
            first.start()
            assert inside.wait(30)
            assert runner.busy
            from syncengine.server import RunnerBusy

            with pytest.raises(RunnerBusy, match="incremental pass is running"):
                runner.run_pass(wait=False)
            with pytest.raises(RunnerBusy):
                runner.call("restore", lambda: None)
            release.set()
            first.join(30)
            assert not runner.busy
            assert runner.last_report is not None
            assert runner.last_error is None

    def test_the_schedule_runs_a_pass_at_once_then_stops(self, config):
        """start() runs the first pass now; stop() ends the loop."""
        with load(config) as setup:
            finished = threading.Event()

            def on_event(event):
                if event.kind == "pass_finished":
                    finished.set()

            engine = setup.engine(on_event=on_event)
            runner = PassRunner(engine, 3600)
            runner.start()
            try:
                assert finished.wait(60)
            finally:
                runner.stop(60)
            assert not runner.busy

    def test_the_console_of_an_engine_needs_no_config_file(self, config):
        """syncengine.server.app(engine) serves an engine built in Python."""
        with load(config) as setup:
            application = app(setup.engine())
            with TestClient(application, base_url=LOCAL) as c:
                assert 200 == c.get("/").status_code
                assert 404 == c.post("/webhooks/hubspot").status_code  # no secret: no endpoint


class TestInitialSyncProgress:
    def test_the_overview_shows_an_initial_sync_while_it_runs(self, tmp_path):
        """While the initial sync is held half-way, the overview says it is not finished,
        how far it got, and which phase runs now; after it, that it is done."""
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
        from syncengine.index import SQLiteIndexStore

        hub = InMemoryAdapter([ObjectSchema("contacts", [PropertySpec("email", "string")])])
        shop = InMemoryAdapter([ObjectSchema("people", [PropertySpec("mail", "string")])])
        for n in range(30):
            hub.put("contacts", email=f"p{n}@example.com")
        config = SyncConfig(
            "progress",
            [
                ObjectSync(
                    "contacts",
                    "people",
                    [FieldMapping("email", "mail")],
                    match=MatchRule.email("email", "mail"),
                )
            ],
        )
        runner = PassRunner()
        index = SQLiteIndexStore(tmp_path / "index.db")
        engine = SyncEngine(hub, shop, index, config, on_event=runner.on_event)
        inside, release = threading.Event(), threading.Event()
        create = shop.create

        def held_create(*args, **kwargs):
            # The pass creates the hub's contacts in the app (its dry run creates nothing).
            inside.set()
            assert release.wait(120)
            return create(*args, **kwargs)

        shop.create = held_create
        try:
            with TestClient(app(engine, runner=runner)) as client:
                passing = threading.Thread(target=runner.run_pass)
                passing.start()
                assert inside.wait(120)
                page = client.get("/").text
                assert "not finished" in page
                found = re.search(r"(\d+) records done, (\d+) waiting", page)
                assert (0, 30) == tuple(map(int, found.groups())), page
                assert "Running now: initial" in page
                assert re.search(r"contacts \w+: \d+ records\)", page), page
                release.set()
                passing.join(120)
                page = client.get("/").text
                assert "done</b>" in page
                assert "No pass running." in page
                assert "<td>initial</td>" in page  # the pass history
        finally:
            release.set()
            index.close()


def test_a_damaged_enabled_setting_shows_as_off_and_turning_it_on_repairs_it(config):
    """The console read the setting for every page: a value the engine never writes
    (which passes refuse, naming it) made every page fail. It shows as off, and the
    Actions page turns the sync on, which writes the setting anew."""
    with load(config) as setup:
        engine = setup.engine()
        engine.index.set_meta(engine.sync_id, "enabled", "no")
    application = app_from_config(config, interval=0)
    with TestClient(application) as client:
        overview = client.get("/")
        assert 200 == overview.status_code
        assert "badge off" in overview.text
        page = client.get("/actions/sync?turn=on").text
        done = client.post("/actions/sync", data={"turn": "on", "csrf": csrf_of(page)})
        assert 200 == done.status_code, done.text
        assert "badge on" in client.get("/").text
    with load(config) as setup:
        assert setup.engine().enabled
