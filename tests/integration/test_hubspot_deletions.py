"""Deletions without the whole archived listing on every pass (issue 19, item 4).

HubSpot's archived listing cannot be filtered: every incremental scan read it whole, so
5,000 archived contacts cost 50 requests per scan. Now the adapter sweeps it once every
``archived_sweep_every`` and deletions in between come from HubSpot's deletion webhooks,
kept in the index's inbox and drained by the next pass; a deletion whose webhook was lost
is reported by the next sweep (rules S5, S6). The default, ``"auto"``, sweeps on every
scan until deletion webhooks of the type have reached the engine, then once a day.
"""

from __future__ import annotations

import datetime as dt

import httpx
import pytest

from syncengine import (
    ChangeEvent,
    ConfigError,
    ErrorCategory,
    FieldMapping,
    MatchRule,
    ObjectSchema,
    ObjectSync,
    PropertySpec,
    RecordState,
    Side,
    SyncConfig,
    SyncEngine,
)
from syncengine.adapters import InMemoryAdapter
from syncengine.adapters.hubspot import HubSpotAdapter
from syncengine.index import MemoryIndexStore
from syncengine.plugins import hubspot_adapter_from_config
from syncengine.testing.hubspot import FakeHubSpot, ManualClock
from syncengine.webhooks import WebhookReceiver

from .conftest import MAIL_PEOPLE, email_first_config, hubspot_on

SECRET = "client-secret-for-tests"
URL = "https://sync.example.com/hubspot/webhook"
SYNC = "deletions"


class World:
    """A local HubSpot with live and archived contacts, an app, and a synced engine; every
    request the adapter sends is recorded."""

    def __init__(self, *, live: int, archived: int, **adapter_options: object) -> None:
        self.clock = ManualClock()
        self.fake = FakeHubSpot(clock=self.clock, sleep=self.clock.sleep)
        self.sent: list[httpx.Request] = []
        for n in range(archived):
            self.fake.archive("contacts", self.fake.put("contacts", email=f"gone{n}@example.com"))
        self.ids = [
            self.fake.put("contacts", email=f"p{n}@example.com", firstname=f"P{n}")
            for n in range(live)
        ]
        self.clock.advance(60)

        def record(request: httpx.Request) -> httpx.Response:
            self.sent.append(request)
            return self.fake.handle(request)

        self.transport = httpx.MockTransport(record)
        self.hub = hubspot_on(self.fake, self.clock, self.transport, **adapter_options)
        self.app = InMemoryAdapter([MAIL_PEOPLE], name="shop")
        self.index = MemoryIndexStore()
        config = email_first_config(SYNC)
        self.engine = SyncEngine(self.hub, self.app, self.index, config, clock=self.now)
        self.engine.initial_sync()
        self.receiver = WebhookReceiver(self.engine, SECRET, clock=self.now)

    def now(self) -> dt.datetime:
        return dt.datetime.fromtimestamp(self.clock(), dt.UTC)

    def archived_listings(self) -> int:
        """Requests for the archived listing so far."""
        return sum(1 for r in self.sent if r.url.params.get("archived") == "true")

    def deliver(self, *, lose: int | None = None) -> None:
        """Send HubSpot's pending webhooks to the receiver (all but request ``lose``)."""
        for n, request in enumerate(self.fake.webhook_requests(URL, SECRET)):
            if n != lose:
                status, _ = self.receiver.handle(
                    request.method, request.url, request.headers, request.body
                )
                assert 200 == status

    def deleted(self, record_id: str) -> bool:
        """Whether the engine took the hub record for deleted."""
        (entry,) = self.index.by_record_ids(SYNC, "contacts", Side.HUB, [record_id]).values()
        return entry.state is RecordState.FAILED and entry.category is ErrorCategory.DELETED


def test_incremental_passes_read_the_archived_listing_once_a_day_not_every_pass():
    """5,000 archived contacts, twelve passes five minutes apart: one sweep (50
    requests), where every pass read all 50 pages before; the next day, one more."""
    world = World(live=20, archived=5_000, archived_sweep_every=dt.timedelta(hours=24))
    before = world.archived_listings()
    for n in range(12):
        world.clock.advance(300)
        world.fake.patch("contacts", world.ids[n], firstname=f"Changed {n}")
        world.engine.incremental_sync()
    assert world.archived_listings() - before <= 50  # before: 12 x 50 = 600
    firsts = {p.properties["mail"]: p.properties["first"] for p in world.app.records("people")}
    assert all(firsts[f"p{n}@example.com"] == f"Changed {n}" for n in range(12))
    world.clock.advance(24 * 3600)
    world.engine.incremental_sync()
    assert world.archived_listings() - before <= 100


def test_a_deletion_webhook_is_applied_on_the_next_pass_without_a_sweep():
    """HubSpot's contact.deletion webhook, kept in the inbox, is applied by the next
    pass, which does not read the archived listing."""
    world = World(live=3, archived=0, archived_sweep_every=dt.timedelta(hours=24))
    world.engine.incremental_sync()  # the first scan after the initial sync sweeps
    world.fake.subscribe("contact.deletion")
    world.clock.advance(300)
    world.fake.archive("contacts", world.ids[0])
    world.deliver()
    swept = world.archived_listings()
    world.clock.advance(60)

    world.engine.incremental_sync()

    assert world.archived_listings() == swept
    assert world.deleted(world.ids[0])
    assert not world.deleted(world.ids[1])
    assert 0 == world.index.inbox_count(SYNC)
    assert 3 == world.app.count("people")  # X3: nothing is deleted in the app


def test_a_generic_object_deletion_webhook_works_too():
    """object.deletion (objectTypeId 0-1) is a contact's deletion as well."""
    world = World(live=2, archived=0)
    world.engine.incremental_sync()
    world.fake.subscribe("object.deletion")
    world.fake.archive("contacts", world.ids[1])
    (request,) = world.fake.webhook_requests(URL, SECRET)
    assert [("object.deletion", "0-1")] == [
        (e["subscriptionType"], e["objectTypeId"]) for e in request.events
    ]
    world.deliver()  # nothing left to send: the request above was taken
    world.receiver.handle(request.method, request.url, request.headers, request.body)
    world.clock.advance(60)
    world.engine.incremental_sync()
    assert world.deleted(world.ids[1])


def test_a_lost_deletion_webhook_is_caught_by_the_next_sweep():
    """Two deletions, one webhook lost: the other is applied at once; the lost one by
    the next sweep, a day later."""
    world = World(live=4, archived=0, archived_sweep_every=dt.timedelta(hours=24))
    world.engine.incremental_sync()
    world.fake.subscribe("contact.deletion")
    world.clock.advance(300)
    world.fake.archive("contacts", world.ids[0])
    lost = world.fake.webhook_requests(URL, SECRET)  # never delivered
    assert 1 == len(lost)
    world.fake.archive("contacts", world.ids[1])
    world.deliver()
    for _ in range(5):
        world.clock.advance(600)
        world.engine.incremental_sync()
    assert world.deleted(world.ids[1])
    assert not world.deleted(world.ids[0])  # nothing told the engine yet
    world.clock.advance(24 * 3600)
    world.engine.incremental_sync()
    assert world.deleted(world.ids[0])
    assert world.deleted(world.ids[1])
    assert not world.deleted(world.ids[2])
    assert 4 == world.app.count("people")


@pytest.mark.parametrize("cadence", [0, "auto"])
def test_without_deletion_webhooks_every_pass_sweeps_and_sees_deletions(cadence):
    """archived_sweep_every=0, and "auto" (the default) while no deletion webhook came:
    every incremental scan reads the archived listing, so a deletion is seen by the next
    pass without webhooks (the fixed daily default saw it up to a day late)."""
    world = World(live=3, archived=150, archived_sweep_every=cadence)
    before = world.archived_listings()
    for _ in range(3):
        world.clock.advance(300)
        world.engine.incremental_sync()
    assert 3 * 2 == world.archived_listings() - before  # 150 archived: 2 pages a pass
    world.fake.archive("contacts", world.ids[0])
    world.clock.advance(300)
    world.engine.incremental_sync()
    assert world.deleted(world.ids[0])


class TestTheAutoCadence:
    """archived_sweep_every="auto" (the default): every scan sweeps until a deletion
    webhook of the type has reached the engine, then once a day."""

    def test_once_deletion_webhooks_arrive_the_sweep_is_daily(self):
        """The first deletion webhook drained: the passes after it do not sweep, and
        the next deletions come from their webhooks; a day later, one sweep."""
        world = World(live=4, archived=150)
        world.fake.subscribe("contact.deletion")
        world.clock.advance(300)
        world.fake.archive("contacts", world.ids[0])
        world.deliver()
        world.engine.incremental_sync()  # sweeps: its scan runs before the inbox drains
        assert world.deleted(world.ids[0])
        before = world.archived_listings()
        for n in (1, 2):
            world.clock.advance(600)
            world.fake.archive("contacts", world.ids[n])
            world.deliver()
            world.engine.incremental_sync()
            assert world.deleted(world.ids[n])
        assert 0 == world.archived_listings() - before
        world.clock.advance(24 * 3600)
        world.engine.incremental_sync()
        assert 2 == world.archived_listings() - before

    def test_only_the_type_whose_webhooks_arrive_slows_down(self):
        """A contacts deletion webhook says nothing about companies' (the adapter keeps
        one cadence per type)."""
        world = World(live=2, archived=0)
        world.hub.note_events([ChangeEvent("contacts", world.ids[0], "deleted")])
        world.hub.note_events([ChangeEvent("companies", "1", "updated")])
        assert world.hub._has_hooks("contacts")  # type: ignore[attr-defined]
        assert not world.hub._has_hooks("companies")  # type: ignore[attr-defined]

    def test_a_restarted_process_keeps_the_daily_cadence(self):
        """The cursor in the index remembers that deletion webhooks arrive: a new
        adapter and engine (a restart) do not go back to sweeping every pass."""
        world = World(live=3, archived=150)
        world.fake.subscribe("contact.deletion")
        world.fake.archive("contacts", world.ids[0])
        world.deliver()
        world.engine.incremental_sync()
        world.clock.advance(300)
        world.engine.incremental_sync()  # its cursor carries what the drain taught
        hub = hubspot_on(world.fake, world.clock, world.transport)
        engine = SyncEngine(hub, world.app, world.index, world.engine.config, clock=world.now)
        before = world.archived_listings()
        for _ in range(3):
            world.clock.advance(300)
            engine.incremental_sync()
        assert 0 == world.archived_listings() - before


@pytest.mark.parametrize("bad", [-1, dt.timedelta(days=31)])
def test_a_sweep_cadence_out_of_range_is_refused(bad):
    """X2: negative, or longer than 30 days (HubSpot keeps archived records 90 days)."""
    with pytest.raises(ValueError, match="archived_sweep_every"):
        HubSpotAdapter("token", archived_sweep_every=bad)


@pytest.mark.parametrize(
    ("value", "seconds"), [("24h", 86400.0), ("30m", 1800.0), ("90s", 90.0), (0, 0.0)]
)
def test_config_files_set_the_sweep_cadence(value, seconds, monkeypatch, tmp_path):
    """A config file's archived_sweep_every is a duration; a bad one names the key."""
    monkeypatch.setenv("HUBSPOT_TOKEN", "pat-test")
    adapter = hubspot_adapter_from_config({"archived_sweep_every": value}, base_dir=tmp_path)
    assert round(seconds * 1000) == adapter._sweep_ms  # type: ignore[attr-defined]
    assert not adapter._sweep_auto  # type: ignore[attr-defined]
    for bad in ("daily", "31d", True, "Auto"):
        with pytest.raises(ConfigError, match="archived_sweep_every") as caught:
            hubspot_adapter_from_config({"archived_sweep_every": bad}, base_dir=tmp_path)
        if isinstance(bad, str) and not bad[0].isdigit():
            assert '"auto"' in str(caught.value)


@pytest.mark.parametrize("options", [{}, {"archived_sweep_every": "auto"}])
def test_the_sweep_cadence_is_auto_by_default_in_config_files_and_code(
    options, monkeypatch, tmp_path
):
    """Config files and HubSpotAdapter default to "auto"; it can be written out too."""
    monkeypatch.setenv("HUBSPOT_TOKEN", "pat-test")
    adapter = hubspot_adapter_from_config(options, base_dir=tmp_path)
    assert adapter._sweep_auto  # type: ignore[attr-defined]
    assert HubSpotAdapter("pat-test", **options)._sweep_auto  # type: ignore[attr-defined]
    with pytest.raises(ValueError, match="archived_sweep_every"):
        HubSpotAdapter("pat-test", archived_sweep_every="weekly")


def test_a_custom_objects_generic_deletion_webhook_reaches_its_object_sync():
    """object.deletion names a custom object by its type id (2-…), the sync by its name
    (p_cars): the receiver translates, so the deletion is applied by the next pass, not
    a day later by the sweep (before: "hub type '2-…' is not synced")."""
    from syncengine.testing.hubspot import property_definition

    clock = ManualClock()
    fake = FakeHubSpot(clock=clock, sleep=clock.sleep)
    fake.add_object_type("p_cars", [property_definition("vin", unique=True)], required=["vin"])
    car = fake.put("p_cars", vin="VIN1")
    hub = hubspot_on(fake, clock)
    app = InMemoryAdapter([ObjectSchema("cars", [PropertySpec("vin", "string")])], name="app")
    index = MemoryIndexStore()
    config = SyncConfig(
        SYNC, [ObjectSync("p_cars", "cars", [FieldMapping("vin", "vin")], match=MatchRule.none())]
    )
    now = lambda: dt.datetime.fromtimestamp(clock(), dt.UTC)  # noqa: E731
    engine = SyncEngine(hub, app, index, config, clock=now)
    engine.initial_sync()
    engine.incremental_sync()
    receiver = WebhookReceiver(engine, SECRET, clock=now)
    fake.subscribe("object.deletion")
    fake.archive("p_cars", car)
    (request,) = fake.webhook_requests(URL, SECRET)
    assert request.events[0]["objectTypeId"].startswith("2-")
    assert (200, 1) == receiver.handle(request.method, request.url, request.headers, request.body)
    clock.advance(60)
    report = engine.incremental_sync()
    assert [] == report.errors
    (entry,) = index.by_record_ids(SYNC, "p_cars", Side.HUB, [car]).values()
    assert ErrorCategory.DELETED is entry.category


class TestADeletionReportedTwice:
    """A deletion the index knows already is a no-op: counted and logged once, the entry
    untouched, nothing written (rules S5, S6, R6). Between sweeps, deletions come by
    webhook; the next sweep of the archived listing reports them again (it cannot tell
    which ones a webhook brought), and with the "auto" cadence one pass may see a
    deletion in its scan and in the inbox it drains."""

    @staticmethod
    def failed_lines(caplog: pytest.LogCaptureFixture) -> list[str]:
        return [r.getMessage() for r in caplog.records if r.name == "syncengine.engine.records"]

    @staticmethod
    def writes(world: World) -> dict[tuple[str, str], int]:
        """The app's write calls so far."""
        calls = world.app.stats().calls
        return {k: n for k, n in calls.items() if k[0] in ("create", "update", "associate")}

    def entry(self, world: World, record_id: str) -> object:
        (entry,) = world.index.by_record_ids(SYNC, "contacts", Side.HUB, [record_id]).values()
        return entry

    def test_the_sweep_after_a_webhook_deletion_reports_nothing_new(self, caplog):
        """Before: the sweep a day later counted the deletion failed a second time,
        logged it again and rewrote the entry (attempts 1 -> 2)."""
        caplog.set_level("WARNING", logger="syncengine")
        world = World(live=4, archived=0, archived_sweep_every=dt.timedelta(hours=24))
        world.engine.incremental_sync()
        world.fake.subscribe("contact.deletion")
        world.clock.advance(300)
        world.fake.archive("contacts", world.ids[0])
        world.deliver()
        world.clock.advance(60)
        applied = world.engine.incremental_sync()
        assert (1, 1) == (applied.failed, len(self.failed_lines(caplog)))
        assert world.deleted(world.ids[0])
        before = self.entry(world, world.ids[0])
        app_writes = self.writes(world)

        world.clock.advance(24 * 3600)
        swept = world.archived_listings()
        report = world.engine.incremental_sync()

        assert world.archived_listings() > swept  # the sweep ran and listed it again
        assert 0 == report.failed
        assert report.writes == 0
        assert 1 == len(self.failed_lines(caplog))
        assert before == self.entry(world, world.ids[0])
        assert app_writes == self.writes(world)
        assert 1 == world.engine.status()["contacts"].failed

    def test_a_deletion_seen_by_the_scan_and_the_webhook_in_one_pass_counts_once(self, caplog):
        """ "auto" sweeps on every scan until webhooks come: the pass that drains the
        first deletion webhook has seen the deletion in its sweep already. Before: the
        entry was failed three times over (attempts 3) and logged three times."""
        caplog.set_level("WARNING", logger="syncengine")
        world = World(live=4, archived=0)
        world.fake.subscribe("contact.deletion")
        world.clock.advance(300)
        world.fake.archive("contacts", world.ids[0])
        world.deliver()

        report = world.engine.incremental_sync()

        assert 1 == report.failed
        assert 1 == len(self.failed_lines(caplog))
        entry = self.entry(world, world.ids[0])
        assert 1 == entry.attempts  # type: ignore[attr-defined]
        assert 1 == sum(h.action == "failed" for h in entry.history)  # type: ignore[attr-defined]

    def test_a_webhook_redelivered_after_the_pass_that_applied_it_is_a_no_op(self):
        """HubSpot retries a delivery it thinks failed: the second copy, drained by a
        later pass, changes nothing."""
        world = World(live=3, archived=0, archived_sweep_every=dt.timedelta(hours=24))
        world.engine.incremental_sync()
        world.fake.archive("contacts", world.ids[1])
        first = world.engine.handle_events(
            Side.HUB, [ChangeEvent("contacts", world.ids[1], "deleted")]
        )
        assert 1 == first.failed
        before = self.entry(world, world.ids[1])
        world.clock.advance(60)
        again = world.engine.handle_events(
            Side.HUB, [ChangeEvent("contacts", world.ids[1], "deleted")]
        )
        assert (0, 0) == (again.failed, again.writes)
        assert before == self.entry(world, world.ids[1])

    def test_reconcile_still_counts_every_deleted_record(self):
        """Reconcile compares everything: a deleted record is counted failed in its
        report, as status() counts it."""
        world = World(live=3, archived=0, archived_sweep_every=0)
        world.fake.archive("contacts", world.ids[2])
        world.clock.advance(300)
        assert 1 == world.engine.incremental_sync().failed
        assert 1 == world.engine.reconcile().failed
        assert 1 == world.engine.status()["contacts"].failed

    def test_a_change_to_the_surviving_record_is_still_decided(self):
        """The app record of a deleted hub record changes its e-mail: that is news (the
        entry's identifiers follow it), so the record is decided again, not skipped."""
        world = World(live=3, archived=0, archived_sweep_every=0)
        world.fake.archive("contacts", world.ids[0])
        world.clock.advance(300)
        world.engine.incremental_sync()
        (app_id,) = [
            p.id for p in world.app.records("people") if p.properties["mail"] == "p0@example.com"
        ]
        world.app.patch("people", app_id, mail="new0@example.com")
        world.clock.advance(300)
        assert 1 == world.engine.incremental_sync().failed
        entry = self.entry(world, world.ids[0])
        assert any("new0@example.com" in key for key in entry.keys)  # type: ignore[attr-defined]

    def test_a_merge_the_sweep_reports_again_changes_nothing(self):
        """A merge applied from its webhook: the next day's sweep lists both archived ids
        and reads them as merged again; the index stays as it was (sibling, pinned)."""
        world = World(live=4, archived=0, archived_sweep_every=dt.timedelta(hours=24))
        world.engine.incremental_sync()
        world.fake.subscribe("contact.merge", "contact.deletion")
        world.clock.advance(300)
        world.fake.merge("contacts", world.ids[0], world.ids[1])
        world.deliver()
        world.clock.advance(60)
        assert 0 == world.engine.incremental_sync().failed
        before = {e.entry_id: e for e in world.index.entries(SYNC, "contacts")}
        world.clock.advance(24 * 3600)
        swept = world.archived_listings()
        report = world.engine.incremental_sync()
        assert world.archived_listings() > swept
        assert (0, 0, 0) == (report.failed, report.writes, report.excluded)
        assert before == {e.entry_id: e for e in world.index.entries(SYNC, "contacts")}
